#!/usr/bin/env python3
"""A streamed list that breaks off (--layout positional): the rows read before
the break still run, and the run ends with its report and --json summary like
any run's, exit 2, the reason said (docs/json.md: one summary per run).

  nul_byte      two good rows, then a line with a NUL byte, then a row never
                read: the two are fetched and written, the summary says 2
                items and exit_code 2, the report is printed, exit 2
  corrupt_gzip  a .gz list whose stream is corrupt after its first rows: the
                rows decompressed before the damage run, the summary comes,
                exit 2

Run one case: test_list_broken.py NAME. Same environment as test_cli.py.
"""
import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, PHOTOS, Fixture, Workspace, check, items_of, main_for,  # noqa: E402
                     run, tree, validate_run)


def check_broken_run(rc, out, err, ws, want_urls, reason):
    check(rc == 2, f"exit {rc}: {err}")
    check(reason in err, f"the reason ({reason!r}) not said: {err}")
    # The report of what ran, as any run's.
    check("edge maps in" in err, f"no report: {err}")
    items, summary = validate_run(out)
    check(summary["exit_code"] == 2, f"summary exit_code {summary['exit_code']}")
    check(summary["items"] == len(want_urls) and summary["ok"] == len(want_urls),
          f"summary {summary['items']} items, {summary['ok']} ok, want {len(want_urls)}")
    check(sorted(i["url"] for i in items) == sorted(want_urls), f"items {items}")
    check(all(i["status"] == "ok" for i in items), f"items {items}")
    files = tree(ws.out)
    check(len(files) == len(want_urls), f"outputs {files} for {len(want_urls)} rows")
    check(not any(os.path.basename(f).startswith(".") for f in files), f"left {files}")


def test_nul_byte():
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        a, b, c = (server.url(n) for n in PHOTOS[:3])
        path = ws.list_file(None, name="urls.txt", raw=f"{a}\n{b}\n\0x\n{c}\n".encode())
        rc, out, err = run(["--json", "--layout", "positional", "-i", path, "-o", ws.out])
        check_broken_run(rc, out, err, ws, [a, b], "NUL")
        check(server.stats()["requests"] == 2, f"requests {server.stats()}")


def test_corrupt_gzip():
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        a = server.url(PHOTOS[0])
        rows = [f"{a}?n={n}" for n in range(3)]
        good = gzip.compress(("\n".join(rows) + "\n").encode())
        # A second gzip member whose body is zeros: the first member's rows
        # are read, then the stream is corrupt.
        member = bytearray(gzip.compress(("".join(f"{a}?m={n}\n" for n in range(5000))).encode()))
        member[12:] = b"\x00" * (len(member) - 12)
        path = ws.list_file(None, name="urls.txt.gz", raw=good + bytes(member))
        rc, out, err = run(["--json", "--layout", "positional", "-i", path, "-o", ws.out])
        check_broken_run(rc, out, err, ws, rows, "gzip")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
