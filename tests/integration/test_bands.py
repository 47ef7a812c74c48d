#!/usr/bin/env python3
"""Integration test for row bands (issue 3): one large image alone on several
workers is processed by more than one thread ("operator_threads" in --json),
and gives the same bytes as --sequential, which never splits.

Run one case: test_bands.py NAME. Same environment as test_cli.py.
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, Fixture, Workspace, check, main_for, ndjson, read, run,  # noqa: E402
                     validate_item)
from pngutil import write_png  # noqa: E402

# 4.3 MP: above the 1 MP bar for splitting (pipeline/bands.h).
WIDTH, HEIGHT = 2400, 1800


def big_png():
    """Gray blocks with noise: edges everywhere, across every band boundary."""
    rng = random.Random(3)
    noise = bytes(rng.randrange(16) for _ in range(WIDTH + 64))
    rows = []
    for y in range(HEIGHT):
        row = bytes(((x // 37 + y // 23) % 3) * 100 for x in range(WIDTH))
        shift = (y * 7) % 64
        rows.append(bytes(a + b for a, b in zip(row, noise[shift:shift + WIDTH])))
    return write_png(WIDTH, HEIGHT, rows)


def test_one_big_image():
    """Alone on 2 workers, the operator of one image runs on 2 threads; on
    1 worker or --sequential on 1; the PNGs are the same bytes every way."""
    with Workspace(photos=[]) as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("big.png", big_png())
        url = server.url("big.png")
        for operator in ("sobel", "canny", "tutorial"):
            outputs = {}
            # Several tries: the idle worker must be scheduled while bands
            # are left, which a machine busy with other work can delay.
            most = 0
            for attempt in range(8):
                out = os.path.join(ws.out, f"{operator}-w2-{attempt}")
                rc, stdout, err = run(["-q", "--json", "--workers", "2", "--operator", operator,
                                       "-o", out, url])
                check(rc == 0, f"{operator}: exit {rc}: {err}")
                item = ndjson(stdout)[0]
                validate_item(item)
                most = max(most, item["operator_threads"])
                outputs["w2"] = read(item["output"])
                if most >= 2:
                    break
            check(most == 2, f"{operator}: the operator ran on {most} thread(s), want 2")
            for name, args in (("w1", ["--workers", "1"]), ("seq", ["--sequential"])):
                out = os.path.join(ws.out, f"{operator}-{name}")
                rc, stdout, err = run(["-q", "--json", *args, "--operator", operator, "-o", out,
                                       url])
                check(rc == 0, f"{operator} {name}: exit {rc}: {err}")
                item = ndjson(stdout)[0]
                check(item["operator_threads"] == 1,
                      f"{operator} {name}: operator_threads {item['operator_threads']}, want 1")
                outputs[name] = read(item["output"])
            check(outputs["w2"] == outputs["w1"] == outputs["seq"],
                  f"{operator}: split and unsplit outputs differ")


if __name__ == "__main__":
    sys.exit(main_for(globals(), required=("EDGEFETCH", "FIXTURE")))
