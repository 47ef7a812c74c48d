#!/usr/bin/env python3
"""Typed outcomes (issue 12): the failure kinds are one enum (enum pl_kind in
pipeline/pipeline.h), named in one place (cmd/outcome.c), and docs/json.md
lists every one of them, no more. Also: each kind a real run produces here
is printed with the stage where it happened.

Run one case: test_outcomes.py NAME.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, Fixture, Workspace, check, free_port, main_for, run_timed  # noqa: E402
from pngutil import write_png  # noqa: E402
ROOT = os.path.dirname(os.path.dirname(HERE))


def source(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def test_kinds_documented():
    """Every enum pl_kind value has a name, and docs/json.md's list of
    error.kind values is exactly those names."""
    header = source("pipeline/pipeline.h")
    enum = re.search(r"enum pl_kind \{(.*?)\};", header, re.S).group(1)
    members = re.findall(r"^\s*(PL_KIND_\w+)", enum, re.M)
    names_c = source("cmd/outcome.c")
    body = re.search(r"outcome_kind_name\(enum pl_kind kind\)\n\{(.*?)\n\}", names_c, re.S).group(1)
    cases = dict(re.findall(r"case (PL_KIND_\w+):\s*return \"?([a-z_]+|NULL)\"?;", body))
    check(set(cases) == set(members), f"enum vs names: {set(members) ^ set(cases)}")
    named = {v for k, v in cases.items() if k != "PL_KIND_NONE"}
    doc = source("docs/json.md")
    paragraph = re.search(r"`error\.kind` is one of:(.*?)`error\.message`", doc, re.S).group(1)
    # Remarks in parentheses name fields and flags, not kinds.
    documented = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", paragraph)))
    check(named == documented, f"named but not documented: {sorted(named - documented)}; "
          f"documented but not named: {sorted(documented - named)}")


def test_kinds_and_stages_on_real_runs():
    """Kinds and stages as io and imaging decided them, carried to --json."""
    png = write_png(64, 64, [bytes(range(64))] * 64)
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("page.html", b"<html>no</html>")
        ws.write("cut.png", png[:len(png) // 2])
        ws.write("bad.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
        ws.write("x.jxl", b"\xff\x0a" + bytes(64))
        urls = ["ftp://127.0.0.1/a.jpg", server.url("missing.jpg"),
                server.url("p.jpg?file=page.html&type=image%2Fjpeg"),
                f"http://127.0.0.1:{free_port()}/refused.jpg", server.url("cut.png"),
                server.url("bad.gif"), server.url("x.jxl")]
        lst = ws.list_file(urls)
        rc, out, err, _ = run_timed(["--json", "-q", "--retries", "0", "-i", lst, "-o", ws.out])
        check(rc == 1, f"exit {rc}: {err}")
        got = {o["url"]: (o["error"]["stage"], o["error"]["kind"])
               for o in map(json.loads, out.splitlines()) if o["type"] == "item"}
        want = {urls[0]: ("url", "unsupported_scheme"), urls[1]: ("download", "http_status"),
                urls[2]: ("decode", "not_an_image"), urls[3]: ("download", "connect"),
                urls[4]: ("decode", "truncated"), urls[5]: ("decode", "corrupt"),
                urls[6]: ("decode", "unsupported_format")}
        check(got == want, f"got {got}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
