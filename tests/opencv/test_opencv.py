#!/usr/bin/env python3
"""edgefetch's imaging against OpenCV (Debian python3-opencv) on the sample photos.

For each photo, edgefetch-op-dump (tests/opencv/op_dump.c) decodes it to luma
exactly as edgefetch does and writes that luma and every operator's output.
The luma must equal cv2.imread(IMREAD_GRAYSCALE) (both are libjpeg-turbo's
grayscale decode), and on the same luma OpenCV must give:
  sobel, scharr  identical: cv2.Sobel / cv2.Scharr (dx and dy, CV_16S and CV_32F,
                 BORDER_REFLECT_101), magnitude rounded to nearest, capped at 255
  prewitt        identical: cv2.filter2D with the Prewitt kernels, same rounding
  blur           identical: cv2.GaussianBlur(luma, (0, 0), sigma)
  canny          >= 99% of pixels equal to cv2.Canny(blur, low, high) (L1
                 gradient, aperture 3), both from our blur and from cv2's own
Then the real edgefetch binary, fetching photos from the fixture server on
127.0.0.1, must write the same edge maps for --operator scharr and canny with
non-default --sigma/--low/--high (the CLI wiring).

Prints the agreement figures. Exit 0 pass, 1 fail, 77 skip (no Python with cv2).
Needs OP_DUMP, EDGEFETCH, FIXTURE and SAMPLES in the environment (meson sets them).
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cv2env import reexec_with_cv2  # noqa: E402

reexec_with_cv2()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

OP_DUMP = os.environ["OP_DUMP"]
EDGEFETCH = os.environ.get("EDGEFETCH", "")
FIXTURE = os.environ.get("FIXTURE", "")
SAMPLES = os.environ["SAMPLES"]
PHOTOS = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".jpg"))
CANNY_MIN_AGREEMENT = 0.99
# Edges are 1-6% of a photo, so 99% of all pixels could still miss most of
# them; the edge sets themselves must overlap as much (a tie rule the wrong
# way round keeps > 99% of pixels but drops the overlap to 0.40-0.67).
CANNY_MIN_JACCARD = 0.99
# (sigma, low, high): edgefetch's defaults, a wider blur with a wide ratio,
# and no blur with cv2's tutorial thresholds.
CANNY_SETTINGS = [(1.4, 40.0, 80.0), (2.0, 20.0, 60.0), (0.0, 100.0, 200.0)]
BORDER = cv2.BORDER_REFLECT_101
PREWITT_X = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], np.float32)

failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
        print("FAIL: " + message)


def magnitude(gx, gy):
    """Our rule: round(sqrt(gx² + gy²)) capped at 255. The root of an integer
    is never a half-integer, so the rounding direction of ties cannot matter."""
    energy = gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2
    return np.minimum(255, np.floor(np.sqrt(energy) + 0.5)).astype(np.uint8)


def magnitude_f32(gx, gy):
    """The same from float32 gradients through cv2.magnitude (float32 sqrt)."""
    return np.minimum(255, np.rint(cv2.magnitude(gx, gy))).astype(np.uint8)


def opencv_gradients(luma):
    out = {}
    for name, op in (("sobel", lambda d, dx, dy: cv2.Sobel(luma, d, dx, dy, ksize=3,
                                                           borderType=BORDER)),
                     ("scharr", lambda d, dx, dy: cv2.Scharr(luma, d, dx, dy, borderType=BORDER))):
        via_16s = magnitude(op(cv2.CV_16S, 1, 0), op(cv2.CV_16S, 0, 1))
        via_32f = magnitude_f32(op(cv2.CV_32F, 1, 0), op(cv2.CV_32F, 0, 1))
        out[name] = (via_16s, via_32f)
    gx = cv2.filter2D(luma, cv2.CV_32F, PREWITT_X, borderType=BORDER)
    gy = cv2.filter2D(luma, cv2.CV_32F, np.ascontiguousarray(PREWITT_X.T), borderType=BORDER)
    out["prewitt"] = (magnitude(gx, gy), magnitude_f32(gx, gy))
    return out


def read_pgm(path):
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RuntimeError(f"cannot read {path}")
    return image


def op_dump(photo, outdir, sigma, low, high):
    os.makedirs(outdir, exist_ok=True)
    subprocess.run([OP_DUMP, "--sigma", str(sigma), "--low", str(low), "--high", str(high),
                    os.path.join(SAMPLES, photo), outdir], check=True)
    names = ["luma", "sobel", "scharr", "prewitt", "canny"] + (["blur"] if sigma > 0 else [])
    return {n: read_pgm(os.path.join(outdir, n + ".pgm")) for n in names}


def agreement(ours, theirs):
    """(fraction of equal pixels, edge pixels ours, theirs, Jaccard of the edge sets)."""
    same = float(np.mean(ours == theirs))
    a, b = ours > 0, theirs > 0
    union = int(np.count_nonzero(a | b))
    jaccard = int(np.count_nonzero(a & b)) / union if union else 1.0
    return same, int(np.count_nonzero(a)), int(np.count_nonzero(b)), jaccard


def compare_photo(photo, workdir, rows):
    sigma, low, high = CANNY_SETTINGS[0]
    ours = op_dump(photo, os.path.join(workdir, photo, "default"), sigma, low, high)
    luma = ours["luma"]
    h, w = luma.shape
    theirs = opencv_gradients(luma)
    row = {"photo": photo, "size": f"{w}x{h}"}
    for name in ("sobel", "scharr", "prewitt"):
        via_16s, via_32f = theirs[name]
        diff_16s = int(np.count_nonzero(ours[name] != via_16s))
        diff_32f = int(np.count_nonzero(ours[name] != via_32f))
        row[name] = diff_16s + diff_32f
        check(diff_16s == 0, f"{photo}: {name} differs from OpenCV (16S) at {diff_16s} pixels")
        check(diff_32f == 0, f"{photo}: {name} differs from OpenCV (32F) at {diff_32f} pixels")

    # The luma itself: for a YCbCr JPEG both edgefetch and
    # cv2.imread(IMREAD_GRAYSCALE) take libjpeg-turbo's grayscale decode (the
    # file's Y channel), so from the file on everything equals OpenCV.
    cv_gray = cv2.imread(os.path.join(SAMPLES, photo), cv2.IMREAD_GRAYSCALE)
    row["luma_vs_imread"] = float(np.mean(cv_gray == luma))
    check(cv_gray.shape == luma.shape and bool(np.all(cv_gray == luma)),
          f"{photo}: luma differs from cv2.imread(IMREAD_GRAYSCALE) at "
          f"{100 * (1 - row['luma_vs_imread']):.3f}% of pixels")

    row["canny"] = []
    for index, (sigma, low, high) in enumerate(CANNY_SETTINGS):
        if index > 0:
            ours = op_dump(photo, os.path.join(workdir, photo, f"set{index}"), sigma, low, high)
        if sigma > 0:
            cv_blur = cv2.GaussianBlur(luma, (0, 0), sigma, borderType=BORDER)
            blur_diff = int(np.count_nonzero(ours["blur"] != cv_blur))
            check(blur_diff == 0, f"{photo}: blur sigma {sigma} differs from cv2.GaussianBlur "
                                  f"at {blur_diff} pixels")
            from_our_blur = cv2.Canny(ours["blur"], low, high)
            from_cv_blur = cv2.Canny(cv_blur, low, high)
        else:
            blur_diff = 0
            from_our_blur = from_cv_blur = cv2.Canny(luma, low, high)
        a = agreement(ours["canny"], from_our_blur)
        b = agreement(ours["canny"], from_cv_blur)
        for label, result in (("our blur", a), ("cv2 blur", b)):
            check(result[0] >= CANNY_MIN_AGREEMENT,
                  f"{photo}: canny sigma {sigma} {low}/{high} ({label}) agrees on only "
                  f"{100 * result[0]:.3f}% of pixels")
            check(result[3] >= CANNY_MIN_JACCARD,
                  f"{photo}: canny sigma {sigma} {low}/{high} ({label}): edge sets overlap "
                  f"only {result[3]:.4f} (Jaccard)")
        row["canny"].append((sigma, low, high, blur_diff, a, b))
    rows.append(row)


def end_to_end(workdir):
    """The CLI's --operator/--sigma/--low/--high reach imaging: the real binary,
    photos served on 127.0.0.1, outputs against OpenCV on the same luma."""
    if not (EDGEFETCH and FIXTURE and os.access(EDGEFETCH, os.X_OK) and os.access(FIXTURE, os.X_OK)):
        check(False, "EDGEFETCH/FIXTURE not set or not executable")
        return
    from harness import Fixture, check_clean_exit
    photos = PHOTOS[:3]
    sigma, low, high = 2.0, 20.0, 60.0
    with Fixture(FIXTURE, SAMPLES) as server:
        urls = [server.url(p) for p in photos]
        for op, extra in (("scharr", []),
                          ("canny", ["--sigma", str(sigma), "--low", str(low), "--high", str(high)])):
            out = os.path.join(workdir, "e2e-" + op)
            proc = subprocess.run([EDGEFETCH, "-q", "--operator", op, *extra, "-o", out, *urls],
                                  capture_output=True, text=True, timeout=300)
            check_clean_exit(proc.stderr, f"edgefetch --operator {op}")
            check(proc.returncode == 0, f"edgefetch --operator {op}: exit {proc.returncode}: "
                                        f"{proc.stderr.strip()}")
            if proc.returncode != 0:
                continue
            for photo in photos:
                luma = read_pgm(os.path.join(workdir, photo, "default", "luma.pgm"))
                got = cv2.imread(os.path.join(out, photo[:-4] + ".png"), cv2.IMREAD_UNCHANGED)
                if op == "scharr":
                    want = opencv_gradients(luma)["scharr"][0]
                else:
                    want = cv2.Canny(cv2.GaussianBlur(luma, (0, 0), sigma, borderType=BORDER),
                                     low, high)
                same = got is not None and got.shape == want.shape and bool(np.all(got == want))
                check(same, f"edgefetch --operator {op} {' '.join(extra)}: {photo} differs from "
                            "OpenCV")
                print(f"  end to end: edgefetch --operator {op} {' '.join(extra)} {photo}: "
                      f"{'identical to OpenCV' if same else 'DIFFERENT'}")


def main():
    print(f"OpenCV {cv2.__version__} (python {sys.version.split()[0]}, {sys.executable}); "
          f"{len(PHOTOS)} photos from {SAMPLES}")
    if len(PHOTOS) == 0:
        print("FAIL: no sample photos")
        return 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgefetch-opencv-") as workdir:
        for photo in PHOTOS:
            compare_photo(photo, workdir, rows)
        print("\nSobel / Scharr / Prewitt: pixels differing from OpenCV (16S + 32F paths), "
              "and our luma vs cv2.imread(IMREAD_GRAYSCALE):")
        print(f"  {'photo':<18} {'size':>10} {'sobel':>6} {'scharr':>7} {'prewitt':>8} "
              f"{'luma = imread':>14}")
        for row in rows:
            print(f"  {row['photo']:<18} {row['size']:>10} {row['sobel']:>6} {row['scharr']:>7} "
                  f"{row['prewitt']:>8} {100 * row['luma_vs_imread']:>13.3f}%")
        print("\nCanny: pixels equal to cv2.Canny (from our blur / from cv2.GaussianBlur), "
              "edge pixels (ours / cv2's), Jaccard of the edge sets; blur = pixels where our "
              "blur differs from cv2.GaussianBlur:")
        for index, (sigma, low, high) in enumerate(CANNY_SETTINGS):
            print(f"  sigma {sigma}, low {low:g}, high {high:g}:")
            worst = 1.0
            for row in rows:
                _, _, _, blur_diff, a, b = row["canny"][index]
                worst = min(worst, a[0], b[0])
                print(f"    {row['photo']:<18} {100 * a[0]:8.4f}% / {100 * b[0]:8.4f}%  "
                      f"edges {a[1]:>6} / {a[2]:>6}  Jaccard {a[3]:.4f} / {b[3]:.4f}  "
                      f"blur {blur_diff}")
            total_edges = sum(r["canny"][index][4][1] for r in rows)
            total_pixels = sum(int(r["size"].split("x")[0]) * int(r["size"].split("x")[1])
                               for r in rows)
            worst_jaccard = min(min(r["canny"][index][4][3], r["canny"][index][5][3]) for r in rows)
            print(f"    worst agreement {100 * worst:.4f}% (needs >= {100 * CANNY_MIN_AGREEMENT:g}%), "
                  f"worst Jaccard {worst_jaccard:.4f} (needs >= {CANNY_MIN_JACCARD:g}), "
                  f"{100 * total_edges / total_pixels:.2f}% of pixels are edges")
        print()
        end_to_end(workdir)
    if failures:
        print(f"\n{len(failures)} failure(s)")
        return 1
    print("\nopencv: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
