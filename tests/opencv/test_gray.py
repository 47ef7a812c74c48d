"""RGB to gray against OpenCV 4.6 on every colour (issue 10 item 22).

imaging.h names the formula: exactly cv2.cvtColor(COLOR_RGB2GRAY) on 8-bit
data, Y = (9798 R + 19235 G + 3735 B + 16384) >> 15. A 4096x4096 PNG holding
each of the 2^24 colours once (written by cv2.imwrite, lossless) goes through
the real decode path (edgefetch-op-dump: img_decode to one channel, libpng
then img_rgb_to_luma); its luma must equal cvtColor of the same pixels at
every colour, and equal the formula computed here in numpy.

JPEG luma is libjpeg's own grayscale decode, not that formula (see
imaging/DECODE.md): the same colours as a YCbCr JPEG (its Y channel) and as
an RGB-coded one (libjpeg's 16-bit BT.601) must equal
cv2.imread(IMREAD_GRAYSCALE), which makes the same libjpeg call.

Prints how far the other formulas are: the 14-bit weights imaging used
before, and cv2.imread(IMREAD_GRAYSCALE) of the colour PNG (libpng's
png_set_rgb_to_gray with OpenCV's 0.299/0.587, whose integer weights differ).
Exit 0 pass, 1 fail, 77 skip (no Python with cv2).
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cv2env import reexec_with_cv2  # noqa: E402

reexec_with_cv2()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

OP_DUMP = os.environ["OP_DUMP"]
JPEG_MAKE = os.environ["JPEG_MAKE"]
SIDE = 4096

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(b"\n", 3)
    width, height = (int(v) for v in parts[1].split())
    return np.frombuffer(parts[3], np.uint8).reshape(height, width)


def our_luma(path, workdir):
    out = os.path.join(workdir, os.path.basename(path) + ".d")
    os.makedirs(out, exist_ok=True)
    subprocess.run([OP_DUMP, path, out], check=True)
    return read_pgm(os.path.join(out, "luma.pgm"))


def main():
    print(f"OpenCV {cv2.__version__}")
    values = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255],
                   axis=1).astype(np.uint8).reshape(SIDE, SIDE, 3)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    formula = ((9798 * r + 19235 * g + 3735 * b + 16384) >> 15).astype(np.uint8)
    old_formula = ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)
    cv_gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    check(bool(np.all(formula == cv_gray)),
          f"the documented formula differs from cv2.cvtColor at "
          f"{int(np.count_nonzero(formula != cv_gray))} colours")
    print(f"14-bit weights (4899, 9617, 1868) vs cvtColor: "
          f"{int(np.count_nonzero(old_formula != cv_gray))} of 16777216 colours differ")

    workdir = tempfile.mkdtemp(prefix="edgefetch-gray-")
    try:
        png = os.path.join(workdir, "all-colours.png")
        check(cv2.imwrite(png, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                          [cv2.IMWRITE_PNG_COMPRESSION, 1]), "cv2.imwrite failed")
        ours = our_luma(png, workdir)
        differ = int(np.count_nonzero(ours != cv_gray))
        check(ours.shape == cv_gray.shape and differ == 0,
              f"PNG luma (img_decode, one channel) differs from cv2.cvtColor(COLOR_RGB2GRAY) "
              f"at {differ} of 16777216 colours")
        print(f"PNG luma vs cvtColor: {differ} of 16777216 colours differ")
        imread_png = cv2.imread(png, cv2.IMREAD_GRAYSCALE)
        print(f"cv2.imread(IMREAD_GRAYSCALE) of the PNG vs cvtColor: "
              f"{int(np.count_nonzero(imread_png != cv_gray))} colours differ "
              f"(libpng's own rgb_to_gray)")

        raw = os.path.join(workdir, "all-colours.rgb")
        rgb.tofile(raw)
        for coding in ("ycc", "rgb"):
            jpeg = os.path.join(workdir, f"all-colours-{coding}.jpg")
            subprocess.run([JPEG_MAKE, coding, str(SIDE), str(SIDE), raw, jpeg], check=True)
            ours = our_luma(jpeg, workdir)
            theirs = cv2.imread(jpeg, cv2.IMREAD_GRAYSCALE)
            differ = int(np.count_nonzero(ours != theirs))
            check(theirs is not None and ours.shape == theirs.shape and differ == 0,
                  f"{coding}-coded JPEG luma differs from cv2.imread(IMREAD_GRAYSCALE) "
                  f"at {differ} pixels")
            # What cvtColor of the decoded colours would give instead: the
            # JPEG path is libjpeg's luma, not img_rgb_to_luma.
            decoded = cv2.cvtColor(cv2.imread(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
            print(f"{coding}-coded JPEG: luma = imread(IMREAD_GRAYSCALE) at all pixels: "
                  f"{differ == 0}; vs cvtColor of its RGB decode: "
                  f"{int(np.count_nonzero(ours != decoded))} pixels differ")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("gray: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
