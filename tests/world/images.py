"""The world's bodies: the sample photos re-encoded small, as JPEG and PNG, so
that edgefetch does real decode and edge work on every URL (tests/world)."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from pngutil import parse_ppm, write_png  # noqa: E402

IMAGE_SCALES = ("1/8", "1/4")
IMAGE_CACHE_VERSION = "v1"
FULL_SIZE_PREFIX = "full-"


class ImageError(Exception):
    pass


def full_size_cache(cache):
    """A world image cache at `cache` that holds the sample photos themselves
    too, as FULL_SIZE_PREFIX + NAME (copied once; make_images adds the small
    ones beside them). Not the shared cache: its images are every world's
    bodies. Returns the full-size names."""
    folder = os.path.join(cache, f"world-images-{IMAGE_CACHE_VERSION}")
    os.makedirs(folder, exist_ok=True)
    samples = os.environ["SAMPLES"]
    names = []
    for photo in sorted(n for n in os.listdir(samples) if n.endswith(".jpg")):
        name = FULL_SIZE_PREFIX + photo
        if not os.path.exists(os.path.join(folder, name)):
            shutil.copy(os.path.join(samples, photo), os.path.join(folder, name))
        names.append(name)
    return names


def make_images(cache=None):
    """The world's bodies: each sample photo at IMAGE_SCALES, as JPEG and as PNG,
    in a folder of `cache` (made once, atomically, shared by tests running at
    the same time). Returns (folder, sorted file names)."""
    samples = os.environ.get("SAMPLES", "")
    photos = sorted(n for n in os.listdir(samples) if n.endswith(".jpg"))
    folder = os.path.join(cache, f"world-images-{IMAGE_CACHE_VERSION}")
    os.makedirs(folder, exist_ok=True)
    for photo in photos:
        for scale in IMAGE_SCALES:
            stem = f"{photo[:-4]}-s{scale.split('/')[1]}"
            jpg, png = os.path.join(folder, stem + ".jpg"), os.path.join(folder, stem + ".png")
            if os.path.exists(jpg) and os.path.exists(png):
                continue
            ppm = subprocess.run(["djpeg", "-scale", scale, "-ppm", os.path.join(samples, photo)],
                                 capture_output=True, check=True).stdout
            jpeg = subprocess.run(["cjpeg", "-quality", "85"], input=ppm,
                                  capture_output=True, check=True).stdout
            try:
                width, height, rgb = parse_ppm(ppm)
            except ValueError as e:
                raise ImageError(f"djpeg: {e}")
            rows = [rgb[y * width * 3:(y + 1) * width * 3] for y in range(height)]
            for path, data in ((jpg, jpeg), (png, write_png(width, height, rows, channels=3))):
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
    return folder, sorted(n for n in os.listdir(folder) if not n.endswith(".tmp"))
