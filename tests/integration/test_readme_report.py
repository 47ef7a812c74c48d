#!/usr/bin/env python3
"""What the README shows of a run, held to a real one:

- report_rows: the demo's report (README, "The demo") has the rows, in that
  order, that `--compare` prints; its figures of the caps are the run's:
  "downloads in flight / workers" 1 / 1 and -j / -w, "peak images held /
  limit" against 1 and `-j + 3 × -w` (the back-pressure bound the README
  states);
- accept_header: the Accept line the README quotes is the one every request
  carries, byte for byte (less the formats this build leaves out, as the
  README says it does).

    test_readme_report.py CASE   (meson: readme_report_CASE)
"""
import http.server
import os
import re
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, PHOTOS, SAMPLES, Fixture, Workspace, check, main_for, read, run  # noqa: E402
from harness import JpegHandler  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))


def readme():
    with open(os.path.join(SOURCE_ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def report_rows(lines):
    """[(label, [values])] of a report: the lines after its column titles
    up to its first blank line (cells are two spaces or more apart)."""
    start = next(i for i, line in enumerate(lines)
                 if re.fullmatch(r"\s*(?:(?:sequential|concurrent)\s*)+", line))
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows.append((cells[0], cells[1:]))
    return rows


def test_report_rows():
    """The README demo's rows are the report's; the cap rows say 1 / 1 and
    4 / 2 for --compare -w 2, the held limits 1 and 4 + 3 × 2."""
    text = readme()
    demo = text[text.index("### The demo (`make demo`)"):]
    block = demo[demo.index("```\n") + 4:]
    block = block[:block.index("```")]
    want = report_rows(block.splitlines())
    check(len(want) > 10, f"README demo: rows {want}")
    check("-j + 3 × -w" in text, "README: the back-pressure bound's formula is gone")
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        rc, _, err = run(["--compare", "-w", "2", "-o", ws.out] + [server.url(n) for n in PHOTOS[:2]])
        check(rc == 0, f"exit {rc}: {err}")
        got = report_rows(err.splitlines())
        check([r[0] for r in got] == [r[0] for r in want],
              f"report rows:\n  run    {[r[0] for r in got]}\n  README {[r[0] for r in want]}")
        rows = dict(got)
        check(rows["downloads in flight / workers"] == ["1 / 1", "4 / 2"], f"caps: {rows}")
        held = [cell.split(" / ") for cell in rows["peak images held / limit"]]
        check([limit for _, limit in held] == ["1", str(4 + 3 * 2)], f"held: {held}")
        check(rows["images ok"] == ["2", "2"] and rows["images failed"] == ["0", "0"], f"{rows}")
        # The README's own demo figures obey the same bound.
        demo_rows = dict(want)
        check(demo_rows["downloads in flight / workers"] == ["1 / 1", "4 / 2"] and
              [c.split(" / ")[1] for c in demo_rows["peak images held / limit"]] == ["1", "10"],
              f"README demo: {demo_rows}")


class Recorder(JpegHandler):
    """Records each request's Accept lines and serves one JPEG."""
    seen = []

    def recorded(self):
        return self.headers.get_all("Accept") or []


FORMAT_NAMES = {"image/webp": "WebP", "image/avif": "AVIF", "image/jpeg": "JPEG",
                "image/png": "PNG", "image/gif": "GIF", "image/bmp": "BMP", "image/tiff": "TIFF"}


def test_accept_header():
    """The README's `Accept: …` is sent as it is quoted (its media types
    whose decoder --version does not name left out)."""
    text = readme()
    m = re.search(r"`Accept: ([^`]*)`", text)
    check(m is not None, "README quotes no Accept line")
    quoted = "".join(m.group(1).split())
    rc, version, _ = run(["--version"])
    check(rc == 0, "--version")
    built = [part for part in quoted.split(",")
             if f"({FORMAT_NAMES[part.split(';')[0]]})" in version]
    check(built and built[0].startswith("image/"), f"Accept {quoted!r}, --version {version!r}")
    Recorder.body = read(os.path.join(SAMPLES, PHOTOS[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with Workspace() as ws:
            rc, _, err = run(["-q", "-o", ws.out, f"http://127.0.0.1:{httpd.server_address[1]}/a.jpg"])
            check(rc == 0, f"exit {rc}: {err}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    check(Recorder.seen == [[",".join(built)]],
          f"Accept sent {Recorder.seen}, README says {','.join(built)!r}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
