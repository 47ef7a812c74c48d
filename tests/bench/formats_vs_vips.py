#!/usr/bin/python3
"""The decoder decisions of issue 14 (imaging/DECODE.md), measured against
vips on the same files: two sample photos side by side (3240x1080, 3.5 MP)
encoded by each format's encoder (cwebp lossy and lossless, ImageMagick for
GIF/BMP/TIFF, avifenc, tiffcp for tiles), decoded by

- edgefetch-format-decoders (imaging's decoder to RGB: median CPU ms/MP
  over REPEATS, peak heap bytes per pixel), stb_image's GIF loader beside it;
- `vips avg FILE` with --vips-concurrency=1 (libvips 8.14: its own loaders
  over libwebp, libnsgif, libheif, libtiff...), best wall time of REPEATS,
  less the time of `vips avg` on a 1x1 PNG (its start-up), and its peak RSS
  (GNU time) less that of the 1x1 run.

    formats_vs_vips.py BUILD_DIR [REPEATS]     (needs make bench-deps plus
                                                the TEST_DEPS encoders)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.join(HERE, "..", "..", "samples", "photos")


def sh(*args, cwd):
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True)


def vips_run(path, repeats):
    best, rss = None, 0
    for _ in range(repeats):
        start = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "vips", "--vips-concurrency=1",
                               "avg", path], capture_output=True, check=True)
        seconds = time.monotonic() - start
        best = seconds if best is None else min(best, seconds)
        rss = max(rss, int(proc.stderr.decode().strip().splitlines()[-1]))
    return best, rss


def main():
    build = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    bench = os.path.join(build, "tests", "bench", "edgefetch-format-decoders")
    photos = sorted(n for n in os.listdir(PHOTOS) if n.endswith(".jpg"))[:2]
    tmp = tempfile.mkdtemp(prefix="edgefetch-formats-")
    try:
        sh("convert", *[os.path.join(PHOTOS, p) for p in photos], "-resize", "1620x1080!",
           "+append", "src.png", cwd=tmp)
        sh("convert", "-size", "1x1", "xc:gray", "one.png", cwd=tmp)
        files = {
            "photo.jpg": ["convert", "src.png", "-quality", "90", "photo.jpg"],
            "photo.png": ["convert", "src.png", "photo.png"],
            "lossy.webp": ["cwebp", "-quiet", "-q", "80", "src.png", "-o", "lossy.webp"],
            "lossless.webp": ["cwebp", "-quiet", "-lossless", "src.png", "-o", "lossless.webp"],
            "photo.gif": ["convert", "src.png", "-colors", "256", "photo.gif"],
            "photo.avif": ["avifenc", "-s", "6", "-j", "1", "src.png", "photo.avif"],
            "photo.bmp": ["convert", "src.png", "BMP3:photo.bmp"],
            "strips.tif": ["convert", "src.png", "-compress", "lzw", "strips.tif"],
            "deep.tif": ["convert", "src.png", "-depth", "16", "-compress", "zip", "deep.tif"],
        }
        for args in files.values():
            sh(*args, cwd=tmp)
        sh("tiffcp", "-t", "-w", "256", "-l", "256", "strips.tif", "tiles.tif", cwd=tmp)
        names = list(files) + ["tiles.tif"]
        ours = subprocess.run([bench, str(repeats)] + [os.path.join(tmp, n) for n in names],
                              capture_output=True, check=True).stdout.decode()
        print(ours)
        base, base_rss = vips_run(os.path.join(tmp, "one.png"), repeats)
        pixels = 3240 * 1080
        print(f"vips start-up {base * 1e3:.1f} ms, {base_rss} KiB (subtracted)")
        for name in names:
            path = os.path.join(tmp, name)
            seconds, rss = vips_run(path, repeats)
            print(f"{name:14s} {os.path.getsize(path):9d} bytes  vips {(seconds - base) * 1e3 / (pixels / 1e6):7.2f} ms/MP"
                  f"  peak {(rss - base_rss) * 1024 / pixels:6.2f} B/px")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
