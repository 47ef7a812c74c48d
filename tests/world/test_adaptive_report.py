#!/usr/bin/env python3
"""The report's "downloads in flight / workers" figure says what the cap did
(cmd/report.c:report_format_cap), on test_adaptive.py's latency-bound world
of 100 hosts, where the adaptive cap rises:

- report_adaptive: the defaults: the figure is START-PEAK / W with the
  summary's start and peak cap (it said the starting 32 however high the cap
  went), and the one "download cap adapted" line says the same;
- report_fixed: -j 32: the figure is 32 / W, no "adapted" line.

Run one case as root: test_adaptive_report.py NAME (without root, 77: SKIP).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from world import ADAPTIVE_START as START  # noqa: E402
from world import checked_downloads as _checked, latency_world as _latency_world  # noqa: E402
from world import check  # noqa: E402

FIGURE = re.compile(r"^  downloads in flight / workers +(\S+) / (\d+)$", re.M)
ADAPTED = re.compile(r"^  download cap adapted: from (\d+) up to (\d+) \(ceiling (\d+)\), "
                     r"(\d+) in flight at most$", re.M)


def _report(run):
    figures = FIGURE.findall(run.stderr)
    check(len(figures) == 1, f"one cap figure wanted: {figures}\n{run.stderr[-1500:]}")
    cap, workers = figures[0]
    check(int(workers) == run.summary["settings"]["workers"], f"{figures}, {run.summary}")
    return cap, ADAPTED.findall(run.stderr)


def test_report_adaptive():
    with world.World() as w:
        _, urls = _latency_world(w)
        run = w.run_edgefetch(urls, [])
        downloads = _checked(run)
        cap, adapted = _report(run)
        print(f"{run.describe()}; figure {cap}, adapted {adapted}; summary {downloads}")
        check(downloads["start"] == START and downloads["peak_cap"] > START, f"{downloads}")
        check(cap == f"{START}-{downloads['peak_cap']}",
              f"figure {cap}, want {START}-{downloads['peak_cap']}")
        check(adapted == [(str(START), str(downloads["peak_cap"]), str(downloads["ceiling"]),
                           str(downloads["peak_in_flight"]))], f"adapted lines {adapted}")


def test_report_fixed():
    with world.World() as w:
        _, urls = _latency_world(w)
        run = w.run_edgefetch(urls, ["-j", str(START)])
        downloads = _checked(run)
        cap, adapted = _report(run)
        print(f"{run.describe()}; figure {cap}; summary {downloads}")
        check(cap == str(START), f"figure {cap}, want {START}")
        check(adapted == [], f"adapted lines with a fixed -j: {adapted}")


if __name__ == "__main__":
    sys.exit(world.run_case(globals()))
