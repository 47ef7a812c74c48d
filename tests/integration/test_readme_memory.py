#!/usr/bin/env python3
"""The constant of the README's memory bound ("the peak RSS is at most
--max-memory ... plus the bodies held plus about 32 MiB ...; N MiB measured
for a run of small images with -w 4"), read from the README: a run of 200
PNGs of 64×64 with -w 4 peaks (the --json summary's VmHWM) under what the
CPU stage reserved, the bodies held and that constant; the peak is printed,
the number the README quotes.

    test_readme_memory.py CASE   (meson: readme_memory_CASE)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, Fixture, Workspace, check, env_for_rss, items_of, main_for, run  # noqa: E402
from pngutil import write_png  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
MIB = 1 << 20


def test_base():
    with open(os.path.join(SOURCE_ROOT, "README.md"), encoding="utf-8") as f:
        readme = " ".join(f.read().split())
    m = re.search(r"plus the bodies held plus about (\d+) MiB \(the binary and its libraries", readme)
    check(m is not None, "README: no 'plus the bodies held plus about N MiB'")
    base_mib = int(m.group(1))
    check(re.search(r"; \d+ MiB measured for 200 PNGs of 64×64 with `-w 4`", readme),
          "README: the measured figure and what it was measured on")
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        body = write_png(64, 64, [bytes(range(64))] * 64)
        ws.write("t.png", body)
        lst = ws.list_file([server.url(f"t{i}.png?file=t.png") for i in range(200)])
        rc, out, err = run(["--json", "-q", "-w", "4", "-i", lst, "-o", ws.out], env=env_for_rss())
        check(rc == 0, f"exit {rc}: {err}")
        _, s = items_of(out)
        check(s["ok"] == 200, f"{s['ok']} ok")
        peak = s["peak_rss_bytes"]
        bound = s["peak_reserved_bytes"] + s["peak_items_held"] * len(body) + base_mib * MIB
        print(f"peak RSS {peak / MIB:.1f} MiB (200 PNGs of 64x64, -w 4); bound {bound / MIB:.1f} MiB")
        check(peak <= bound, f"peak RSS {peak / MIB:.1f} MiB over the README's bound {bound / MIB:.1f}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
