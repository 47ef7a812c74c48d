#!/usr/bin/env python3
"""Load (issue 4 section 5, issue 6 workload 3): lists of 2,000 and 20,000
small images (64x64 PNG, no latency) at -j 64 against the fixture server.

For each list: every URL is reported exactly once (--json lines), all ok,
the server saw each path once, the output folder holds exactly the expected
files, and the run left no file descriptor open (the summary's
`fds_leaked`, counted in /proc/self/fd before and after the run). Across the
two: edgefetch's peak RSS stays flat, 20k/2k at most RSS_RATIO_MAX.

Run one case: test_load.py NAME (meson registers it in the `load` suite).
Needs EDGEFETCH and FIXTURE in the environment.
"""
import collections
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, Fixture, Workspace, check, main_for, run_rss, tree  # noqa: E402
from pngutil import small_png  # noqa: E402


SMALL, LARGE = 2000, 20000
# Peak RSS of the 20k run over the 2k run. Measured on the release build
# (-j 64, 2 CPUs): 13.1-13.4 MiB at 2k and 14.7 MiB at 20k, 1.10-1.12 (~85
# bytes per item: the URL text, its list entry and one byte of state); ASan
# (quarantine off, below) 22.8 and 24.0 MiB, 1.05. The code that kept a
# whole job per URL for the run measured 13.6-13.8 and 24.9-25.5 MiB,
# 1.80-1.86 (~660 bytes per item); ASan 23.1 and 36.6 MiB, 1.59. 1.25 leaves
# room for noise and for ~200 bytes per item, under a third of the old cost.
RSS_RATIO_MAX = 1.25


def run_list(ws, server, count):
    """Fetches `count` distinct URLs of one small image and checks the run;
    returns its peak RSS in KiB and where the number comes from."""
    names = [f"{i:06d}.png" for i in range(count)]
    urls = [server.url(f"load{count}/{name}?file=img.png") for name in names]
    out_dir = os.path.join(ws.tmp, f"out{count}")
    server.reset()
    started = time.monotonic()
    code, out, err, rss_kib, source = run_rss(
        ["-i", ws.list_file(urls, name=f"urls{count}.txt"), "-o", out_dir, "-j", "64",
         "--max-per-host", "64", "--json", "-q"], timeout=480)
    took = time.monotonic() - started
    check(code == 0, f"{count} items: exit {code}: {err[-2000:]}")
    check(err == "", f"{count} items: stderr under -q: {err[-2000:]}")

    lines = [json.loads(line) for line in out.splitlines()]
    check(lines and lines[-1]["type"] == "summary", f"{count} items: no summary last")
    items, summary = lines[:-1], lines[-1]
    check(all(obj["type"] == "item" for obj in items), f"{count} items: stray lines")
    seen = collections.Counter(obj["url"] for obj in items)
    check(len(items) == count and set(seen) == set(urls),
          f"{count} items: {len(items)} item lines for {len(set(seen))} of the URLs")
    repeated = [url for url, times in seen.items() if times > 1]
    check(not repeated, f"{count} items: reported more than once: {repeated[:5]}")
    not_ok = [obj for obj in items if obj["status"] != "ok"]
    check(not not_ok, f"{count} items: {len(not_ok)} not ok, e.g. {not_ok[:2]}")
    check(summary["items"] == count and summary["ok"] == count, f"summary {summary}")
    check(summary.get("fds_leaked") == 0,
          f"{count} items: fds_leaked {summary.get('fds_leaked')} (want 0)")

    # Exactly the expected files: no temporary file, nothing else.
    check(tree(out_dir) == names, f"{count} items: output tree differs from the {count} names")
    stats = server.stats()
    check(stats["requests"] == count, f"{count} items: server saw {stats['requests']} requests")
    check(stats["max_connections"] <= 64, f"max connections {stats['max_connections']} > 64")
    print(f"{count} items: {took:.1f} s, peak RSS {rss_kib} KiB ({source}), "
          f"peak items held {summary['peak_items_held']}")
    return rss_kib, source


def test_small_images():
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("img.png", small_png())
        small_kib, source = run_list(ws, server, SMALL)
        large_kib, _ = run_list(ws, server, LARGE)
        check(small_kib and large_kib, f"no peak RSS measured ({source})")
        ratio = large_kib / small_kib
        per_item = (large_kib - small_kib) * 1024 / (LARGE - SMALL)
        print(f"peak RSS {SMALL} items {small_kib} KiB, {LARGE} items {large_kib} KiB: "
              f"ratio {ratio:.3f}, {per_item:.0f} bytes per extra item")
        check(ratio <= RSS_RATIO_MAX,
              f"peak RSS grows with the list: {small_kib} KiB for {SMALL} items, {large_kib} KiB"
              f" for {LARGE} (ratio {ratio:.2f} > {RSS_RATIO_MAX}, {per_item:.0f} B per item)")


if __name__ == "__main__":
    sys.exit(main_for(globals(), required=("EDGEFETCH", "FIXTURE")))
