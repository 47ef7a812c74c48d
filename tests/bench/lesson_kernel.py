"""The asyncio lesson's edge kernel and output step, shared by lesson_sequential.py
and lesson_asyncio.py (the lesson's two scripts, reproduced for the contenders
benchmark with Debian's python3-numpy and python3-pil).

The kernel is the one edgefetch runs as `--operator tutorial` (imaging/ops.c,
img_tutorial): for each pixel, d = |ΔR|+|ΔG|+|ΔB| to the right neighbour and to
the lower neighbour (only those that exist), the integer mean (floor) of those d
over the neighbours that exist, 255 if it is > 30, else 0; the bottom-right
pixel has no neighbour and is 0. Vectorised with numpy, as the lesson did, so
the script's CPU goes where the lesson's went: decoding and writing PNG with
Pillow's defaults (zlib level 6).

Also a command-line check used by the benchmark:
    python3 lesson_kernel.py compare A.png B.png
prints "same" or "differ N of M pixels" and exits 0 / 1.
"""
import io
import os
import sys
import urllib.parse

import numpy as np
from PIL import Image

THRESHOLD = 30


def edge_map(rgb):
    """rgb: H×W×3 uint8 array. Returns the H×W uint8 edge map."""
    pixels = rgb.astype(np.int16)
    height, width = pixels.shape[:2]
    # |ΔR|+|ΔG|+|ΔB| is at most 765: int16 holds it, and the sum of two.
    right = np.abs(pixels[:, 1:] - pixels[:, :-1]).sum(axis=2, dtype=np.int16)  # H × (W-1)
    below = np.abs(pixels[1:] - pixels[:-1]).sum(axis=2, dtype=np.int16)  # (H-1) × W
    out = np.zeros((height, width), np.uint8)
    # Two neighbours: everything but the last row and the last column.
    out[:-1, :-1] = np.where((right[:-1] + below[:, :-1]) // 2 > THRESHOLD, 255, 0)
    # One neighbour: the last column has only the one below, the last row only
    # the one to the right. The bottom-right pixel has none and stays 0.
    out[:-1, -1] = np.where(below[:, -1] > THRESHOLD, 255, 0)
    out[-1, :-1] = np.where(right[-1] > THRESHOLD, 255, 0)
    return out


def output_name(url):
    """The URL's last path segment with its extension replaced by .png (as
    edgefetch names its outputs, for the plain names the benchmark uses)."""
    segment = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or "image"
    return os.path.splitext(urllib.parse.unquote(segment))[0] + ".png"


def process(body, out_path):
    """Decode `body` (JPEG/PNG bytes), run the kernel, write a grayscale PNG
    with Pillow's default settings. Runs in the worker processes too."""
    rgb = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    Image.fromarray(edge_map(rgb), "L").save(out_path)
    return out_path


def read_urls(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def compare(path_a, path_b):
    a = np.asarray(Image.open(path_a).convert("L"))
    b = np.asarray(Image.open(path_b).convert("L"))
    if a.shape != b.shape:
        print(f"differ: sizes {a.shape} and {b.shape}")
        return 1
    differing = int(np.count_nonzero(a != b))
    if differing == 0:
        print("same")
        return 0
    print(f"differ {differing} of {a.size} pixels")
    return 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    sys.exit("usage: lesson_kernel.py compare A.png B.png")
