#!/usr/bin/env python3
"""make demo: the lesson, offline.

Serves the 12 sample photos from the fixture server on 127.0.0.1 with an
internet-like wait (100-300 ms to first byte, varied per image, and a
per-connection bandwidth cap), then runs `edgefetch --compare` over them:
sequential, then concurrent, with the timing table side by side.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
from fixture_server import FixtureServer  # noqa: E402

LATENCY = "100-300"          # ms to first byte, per image
BANDWIDTH = 1_000_000        # bytes/s per connection


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--output", default="demo-out")
    args = parser.parse_args()

    build = os.path.join(ROOT, args.build)
    edgefetch = os.path.join(build, "cmd", "edgefetch")
    fixture = os.path.join(build, "tests", "fixture", "edgefetch-fixture")
    photos = os.path.join(HERE, "photos")
    names = sorted(n for n in os.listdir(photos) if n.endswith(".jpg"))
    output = os.path.join(ROOT, args.output)
    os.makedirs(output, exist_ok=True)

    with FixtureServer(fixture, photos, latency=LATENCY, bandwidth=BANDWIDTH) as server:
        url_list = os.path.join(output, "urls.txt")
        with open(url_list, "w") as f:
            f.write("# the 12 sample photos, served by the fixture server\n")
            for name in names:
                f.write(server.url(name) + "\n")
        print(f"fixture server on 127.0.0.1:{server.port}: {len(names)} photos, "
              f"{LATENCY} ms to first byte, {BANDWIDTH / 1e6:.1f} MB/s per connection")
        # -j 4: the lesson's 4 in flight (also --compare's default; plain runs default to 32).
        cmd = [edgefetch, "--compare", "-j", "4", "-i", url_list, "-o", output]
        print("$ " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                              for c in cmd), flush=True)
        rc = subprocess.call(cmd)
    print(f"edge maps: {os.path.relpath(output, ROOT)}/sequential/ and "
          f"{os.path.relpath(output, ROOT)}/concurrent/ (URL list: "
          f"{os.path.relpath(url_list, ROOT)})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
