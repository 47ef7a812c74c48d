#!/usr/bin/env python3
"""Operators end to end: served PNGs come back as the reference operators'
output, pixel for pixel.

Run one case: test_operators.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, Fixture, Workspace, check, main_for, read, run  # noqa: E402
from pngutil import luma, read_gray_png, sobel_ref, tutorial_ref, write_png  # noqa: E402


def _serve_and_fetch(ws, server, name, data, operator):
    ws.write(name, data)
    rc, _, err = run(["-o", ws.out, "--operator", operator, server.url(name)])
    check(rc == 0, f"{operator}: exit {rc}: {err}")
    return read_gray_png(read(os.path.join(ws.out, name[:-4] + ".png")))


def test_operators_end_to_end():
    """Served PNGs come back as the reference operators' output, pixel for pixel."""
    rng = random.Random(1234)
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        for w, h in ((1, 1), (5, 1), (1, 6), (7, 5), (23, 17)):
            rgb = [bytes(rng.choice((0, 10, 60, 200, 255)) for _ in range(3 * w)) for _ in range(h)]
            gray = [bytes(luma(*r[3 * x:3 * x + 3]) for x in range(w)) for r in rgb]
            png = write_png(w, h, rgb, channels=3)
            ow, oh, rows = _serve_and_fetch(ws, server, f"s{w}x{h}.png", png, "sobel")
            check((ow, oh) == (w, h), f"sobel size {(ow, oh)}")
            check(rows == sobel_ref(gray, w, h), f"sobel {w}x{h} differs from the reference")
            ow, oh, rows = _serve_and_fetch(ws, server, f"t{w}x{h}.png", png, "tutorial")
            check(rows == tutorial_ref(rgb, w, h), f"tutorial {w}x{h} differs from the reference")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
