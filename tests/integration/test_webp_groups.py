"""A lossless WebP whose 65536 Huffman groups make libwebp allocate 830 MB
(a 580 KB file of 16384x64 pixels, vp8lutil.py) is held to the run's memory
budget by its estimate (imaging/webp_groups.c reads the group count from
the bitstream): under a budget below that it fails as over_budget before
any decode, and two of them under a budget that holds one decode at a time
wait for each other instead of both decoding at once.
(Without the groups in the estimate it was 11 MB: both decoded at once.)

    test_webp_groups.py CASE   (meson runs each case as webp_groups_CASE)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import FIXTURE, Fixture, Workspace, check, main_for, run_timed as run  # noqa: E402
from vp8lutil import vp8l_groups  # noqa: E402

MIB = 1 << 20
# libwebp 1.2.4's tables for 65536 groups without a colour cache: 65536 x
# 2954 entries of 4 bytes, plus its group structs (test_webp_groups.c
# measures 820 MB in all).
TABLES = 65536 * 2954 * 4


def objects(out):
    objs = [json.loads(line) for line in out.splitlines()]
    return [o for o in objs if o["type"] == "item"], objs[-1]


def test_over_budget():
    """Under 512 MiB: refused from the estimate, naming what it needs."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("groups.webp", vp8l_groups(65536))
        rc, out, err, _ = run(["--json", "--max-memory", "512M", "-o", ws.out, "--force",
                               server.url("groups.webp")])
        check(rc == 1, f"exit {rc}: {err}")
        items, summary = objects(out)
        error = items[0]["error"]
        check(error is not None and error["kind"] == "over_budget", f"item {items[0]}")
        need = int(error["message"].split("needs ")[1].split(" MiB")[0])
        check(need * MIB >= TABLES, f"needs {need} MiB, the tables alone are {TABLES // MIB}")
        check(summary["peak_reserved_bytes"] == 0, f"reserved {summary['peak_reserved_bytes']}")
        check(summary["peak_rss_bytes"] < 256 * MIB, f"peak RSS {summary['peak_rss_bytes']}")


def test_wait_for_budget():
    """Two of 20000 groups (250 MB each), two workers, 400 MiB: one decode
    at a time, both ok."""
    tables = 20000 * 2954 * 4
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.webp", vp8l_groups(20000))
        ws.write("b.webp", vp8l_groups(20000))
        rc, out, err, _ = run(["--json", "-w", "2", "--max-memory", "400M", "-o", ws.out,
                               "--force", server.url("a.webp"), server.url("b.webp")],
                              timeout=300)
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = objects(out)
        check(all(i["status"] == "ok" for i in items), f"items {items}")
        reserved = summary["peak_reserved_bytes"]
        check(tables <= reserved <= 400 * MIB,
              f"peak reserved {reserved}: one item's tables are {tables}, the budget 400 MiB")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
