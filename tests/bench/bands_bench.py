#!/usr/bin/env python3
"""One large image on 1 worker against 2 (issue 3: row bands).

Makes a ~50 MP JPEG from a sample photo with OpenCV (Debian python3-opencv,
so run this with the python3 that has it; the image is not committed), then:

  operator only  edgefetch-bands-bench: img_apply_with on one thread against
                 the operator split into bands by pl_bands with idle helpers,
                 interleaved rounds, medians (see bands_bench.c);
  whole item     edgefetch --workers 1 against --workers 2 on that one URL
                 from the fixture server on 127.0.0.1, interleaved, medians
                 of the run's wall time and of the item's operator time.

Usage: bands_bench.py [--build DIR] [--repeat K] [--operators sobel,canny]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
from fixture_server import FixtureServer  # noqa: E402

SIZE = (8660, 5774)  # 50.0 MP


def make_image(path):
    import cv2
    photo = cv2.imread(os.path.join(ROOT, "samples", "photos", "dune.jpg"))
    big = cv2.resize(photo, SIZE, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(path, big, [cv2.IMWRITE_JPEG_QUALITY, 90])


def operator_only(build, image, op, repeat):
    bench = os.path.join(build, "tests", "bench", "edgefetch-bands-bench")
    out = subprocess.run([bench, "--threads", "2", "--repeat", str(repeat), "--operator", op,
                          image], check=True, capture_output=True, text=True).stdout
    header, row = out.strip().splitlines()
    return dict(zip(header.split(","), row.split(",")))


def whole_item(build, www, op, repeat):
    edgefetch = os.path.join(build, "cmd", "edgefetch")
    fixture = os.path.join(build, "tests", "fixture", "edgefetch-fixture")
    times = {1: [], 2: []}
    operator_ms = {1: [], 2: []}
    threads = {1: set(), 2: set()}
    with FixtureServer(fixture, www) as server, tempfile.TemporaryDirectory() as out:
        url = server.url("big.jpg")
        for _ in range(repeat):
            for workers in (1, 2):
                target = os.path.join(out, str(workers))
                shutil.rmtree(target, ignore_errors=True)
                proc = subprocess.run([edgefetch, "-q", "--json", "--force", "--workers",
                                       str(workers), "--operator", op, "-o", target, url],
                                      check=True, capture_output=True, text=True)
                lines = [json.loads(line) for line in proc.stdout.splitlines()]
                item, summary = lines[0], lines[-1]
                times[workers].append(summary["wall_ms"])
                operator_ms[workers].append(item["times_ms"]["operator"])
                threads[workers].add(item["operator_threads"])
    return {w: (statistics.median(times[w]), statistics.median(operator_ms[w]),
                sorted(threads[w])) for w in (1, 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--operators", default="sobel,canny")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as www:
        image = os.path.join(www, "big.jpg")
        make_image(image)
        print(f"image {SIZE[0]}x{SIZE[1]} JPEG, {os.path.getsize(image)} bytes; "
              f"{os.cpu_count()} CPUs; medians of {args.repeat} interleaved rounds")
        for op in args.operators.split(","):
            row = operator_only(args.build, image, op, args.repeat)
            print(f"{op:8} operator only: 1 thread {row['one_thread_ms']} ms, "
                  f"{row['threads']} threads {row['split_ms']} ms "
                  f"(serial tail {row['serial_tail_ms']} ms): x{row['speedup']}, "
                  f"parallelism {row['split_parallelism']}")
            item = whole_item(args.build, www, op, args.repeat)
            (wall1, op1, t1), (wall2, op2, t2) = item[1], item[2]
            print(f"{op:8} whole item:    --workers 1 {wall1:.0f} ms (operator {op1:.0f} ms, "
                  f"threads {t1}), --workers 2 {wall2:.0f} ms (operator {op2:.0f} ms, "
                  f"threads {t2}): x{wall1 / wall2:.2f}")


if __name__ == "__main__":
    sys.exit(main())
