"""The --json summary's memory budget: `memory_budget_bytes` is the run's
--max-memory, `peak_reserved_bytes` the most of it the items in their CPU
stage reserved at once (docs/json.md).

    test_json_memory.py CASE   (meson runs each case as json_memory_CASE)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import FIXTURE, Fixture, Workspace, check, main_for, run_timed as run, source_png  # noqa: E402

MIB = 1 << 20


def summary_of(out):
    objs = [json.loads(line) for line in out.splitlines()]
    check(objs and objs[-1]["type"] == "summary", f"no summary in {out!r}")
    return objs[-1]


def test_budget_fields():
    """The budget given, what one 400x300 item reserves, and 0 with no decode."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws, "a.png", "400x300")
        rc, out, err, _ = run(["--json", "-w", "1", "--max-memory", "48M", "-o", ws.out,
                               "--force", server.url("a.png")])
        check(rc == 0, f"exit {rc}: {err}")
        s = summary_of(out)
        check(s["memory_budget_bytes"] == 48 * MIB, f"memory_budget_bytes {s['memory_budget_bytes']}")
        # One item at a time: at least its decoded luma and its edge map,
        # and within the budget.
        peak = s["peak_reserved_bytes"]
        check(2 * 400 * 300 <= peak <= 48 * MIB, f"peak_reserved_bytes {peak}")
        source_png(ws, "big.png", "1200x900")
        # A larger one can never fit 1 MiB: refused before reserving anything.
        rc, out, err, _ = run(["--json", "--max-memory", "1M", "-o", ws.out, "--force",
                               server.url("big.png"), server.url("gone.png?status=404")])
        check(rc == 1, f"exit {rc}: {err}")
        s = summary_of(out)
        check(s["memory_budget_bytes"] == MIB and s["peak_reserved_bytes"] == 0,
              f"1 MiB run: {s['memory_budget_bytes']} {s['peak_reserved_bytes']}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
