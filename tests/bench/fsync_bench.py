#!/usr/bin/env python3
"""What fsync costs (issue 10, item 8): edgefetch over the many-small-images
workload (workloads.py, workload 3: 64×64 PNG/JPEG) with the default (every
output fdatasync'ed before its rename, the folder synced in batches) against
--no-fsync, A/B interleaved, medians of the wall time.

  python3 tests/bench/fsync_bench.py EDGEFETCH FIXTURE OUT_PARENT [COUNT] [ROUNDS]

OUT_PARENT must be on the real disk (not a tmpfs, where fsync costs nothing):
each run writes into a fresh folder below it. The inputs are generated into
build/bench-cache (python3-opencv) and cached. Prints one line per run, the
medians, and a Markdown table for tests/bench/results/fsync.md.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
import workloads  # noqa: E402
from fixture_server import FixtureServer  # noqa: E402


def file_system(path):
    out = subprocess.run(["df", "-T", path], capture_output=True, text=True).stdout.splitlines()
    return out[-1].split()[1] if len(out) > 1 else "?"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    edgefetch, fixture, parent = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    cache = os.path.join(ROOT, "build", "bench-cache")
    paths = workloads.ensure_small(sys.executable, cache, os.path.join(ROOT, "samples", "photos"),
                                   count)
    fs = file_system(parent)
    if fs == "tmpfs":
        sys.exit(f"{parent} is a tmpfs: fsync costs nothing there")
    variants = {"default (fsync)": [], "--no-fsync": []}
    with FixtureServer(fixture, os.path.dirname(paths[0])) as server:
        lst = os.path.join(parent, "fsync-bench-urls.txt")
        with open(lst, "w") as f:
            f.write("".join(server.url(os.path.basename(p)) + "\n" for p in paths))
        for r in range(rounds):
            # A/B interleaved, the order alternating per round, so drift in
            # the machine's load falls on both alike.
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                out = os.path.join(parent, "fsync-bench-out")
                shutil.rmtree(out, ignore_errors=True)
                args = [edgefetch, "-q", "-j", "16", "-i", lst, "-o", out]
                if name == "--no-fsync":
                    args.append("--no-fsync")
                subprocess.run(["sync"])
                start = time.monotonic()
                proc = subprocess.run(args, capture_output=True)
                wall = time.monotonic() - start
                if proc.returncode != 0 or len(os.listdir(out)) != count:
                    sys.exit(f"{name}: exit {proc.returncode}: {proc.stderr.decode()[-500:]}")
                variants[name].append(wall)
                print(f"round {r + 1} {name:16s} {wall:6.2f} s", flush=True)
        shutil.rmtree(os.path.join(parent, "fsync-bench-out"), ignore_errors=True)
        os.unlink(lst)
    medians = {name: statistics.median(walls) for name, walls in variants.items()}
    base = medians["--no-fsync"]
    print(f"\n{count} images of 64×64, -j 16, {rounds} rounds each, output on {fs} ({parent})")
    print("| variant | median wall | per image | runs |\n|---|---|---|---|")
    for name, walls in variants.items():
        print(f"| {name} | {medians[name]:.2f} s ({medians[name] / base:.2f}×) | "
              f"{medians[name] / count * 1000:.2f} ms | "
              f"{', '.join(f'{w:.2f}' for w in walls)} |")


if __name__ == "__main__":
    main()
