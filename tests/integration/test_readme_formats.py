#!/usr/bin/env python3
"""The formats the texts say edgefetch recognises and refuses, by name:
docs/json.md's `format` list for `unsupported_format` ("JPEG XL", "HEIF",
"SVG", "JPEG 2000", "PSD", "QOI", "ICO") and the man page's ("JPEG XL,
HEIF/HEIC, JPEG 2000, SVG, PSD, QOI and ICO"), each served as the start of
such a file: every one fails alone as `unsupported_format`, its `format`
that name, its FAILED line "unsupported format (NAME)".

    test_readme_formats.py CASE   (meson: readme_formats_CASE)
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, Fixture, Workspace, check, doc_text, failed_line,  # noqa: E402
                     items_of, main_for, run)

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))

# The first bytes of a file of each format, as its specification opens one.
SAMPLES = {
    "JPEG XL": b"\xff\x0a" + bytes(62),  # a bare codestream
    "HEIF": struct.pack(">I", 24) + b"ftypheic\0\0\0\0mif1heic" + bytes(32),
    "SVG": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "JPEG 2000": b"\0\0\0\x0cjP  \r\n\x87\n" + bytes(32),
    "PSD": b"8BPS\0\x01" + bytes(6) + b"\0\x03" + struct.pack(">II", 4, 4) + b"\0\x08\0\x03",
    "QOI": b"qoif" + struct.pack(">II", 4, 4) + b"\x03\x00" + bytes(8) + b"\0\0\0\0\0\0\0\x01",
    "ICO": b"\0\0\x01\0\x01\0" + bytes([16, 16, 0, 0, 1, 0, 32, 0]) + struct.pack("<II", 40, 22),
}


def json_doc_names():
    text = " ".join(doc_text().split())
    m = re.search(r"for an item refused as `unsupported_format`, the format it is in \(([^)]*)\)",
                  text)
    check(m is not None, "docs/json.md: no list of unsupported formats")
    return re.findall(r'`"([^"`]+)"`', m.group(1).split(";")[0])


def man_names():
    with open(os.path.join(SOURCE_ROOT, "docs", "edgefetch.1"), encoding="utf-8") as f:
        page = " ".join(f.read().split())
    m = re.search(r"\.SS Formats .*? ((?:[A-Z][\w/ ]*?, )+[A-Z][\w/ ]*? and [A-Z]+) are recognised "
                  r"and refused", page)
    check(m is not None, "man page: no 'X, Y and Z are recognised and refused'")
    return [n.split("/")[0] for n in re.split(r", | and ", m.group(1))]


def test_refused_named():
    names = json_doc_names()
    check(sorted(names) == sorted(man_names()), f"docs/json.md names {names}, the man page {man_names()}")
    check(set(names) == set(SAMPLES), f"named {names}; this test has samples of {sorted(SAMPLES)}")
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        urls = {}
        for i, name in enumerate(names):
            ws.write(f"f{i}.img", SAMPLES[name])
            urls[name] = server.url(f"f{i}.img")
        ws.write("ok.png", b"\x89PNG\r\n\x1a\n")  # a PNG cut short: truncated, not refused
        rc, out, err = run(["--json", "-o", ws.out] + list(urls.values()) + [server.url("ok.png")])
        check(rc == 1, f"exit {rc}: {err}")
        items, summary = items_of(out)
        for name, url in urls.items():
            item = items[url]
            check(item["status"] == "failed" and item["error"]["kind"] == "unsupported_format" and
                  item["format"] == name, f"{name}: {item['error']}, format {item['format']!r}")
            check(f"unsupported format ({name})" in failed_line(err, url), f"{name}: {err}")
        check(items[server.url("ok.png")]["error"]["kind"] != "unsupported_format",
              f"a cut PNG refused as unsupported: {items[server.url('ok.png')]['error']}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
