"""Generated inputs for the contenders benchmark (contenders.py), made at bench
time from the 12 sample photos and cached, never committed.

  photos/   workload 2: up to 200 JPEG photos of 2-12 MP (q90). Each is a
            2×2 mosaic of four samples, scaled (INTER_AREA down, INTER_CUBIC
            up) to cover the target size and cropped at a random offset, so the
            pixels keep photographic detail. Sizes are spread evenly over
            2-12 MP (mean 7 MP) in a fixed shuffled order; aspect ratios 3:2,
            4:3, 16:9 and 2:3.
  small/    workload 3: up to 20,000 images of 64×64, even numbers PNG, odd
            numbers JPEG q90: crops of the samples at random scales.

Everything is a pure function of the item's number (seeded per item), so a
quick run can make the first few and a full run adds the rest; files already
there are kept. The cache folder holds a VERSION file: change GENERATOR_VERSION
when the recipe changes and old files are thrown away.

The driver side (plan_*, ensure_*) is standard library only; the generation
itself runs as `python3 workloads.py photos|small FOLDER SAMPLES_DIR NUMBER...`
under a Python with Debian's python3-opencv and python3-numpy.
"""
import os
import random
import shutil
import subprocess
import sys

GENERATOR_VERSION = "1"
PHOTO_COUNT = 200
PHOTO_MP_MIN, PHOTO_MP_MAX = 2.0, 12.0
SMALL_COUNT = 20_000
SMALL_SIZE = 64
ASPECTS = ((3, 2), (4, 3), (16, 9), (2, 3))


def photo_name(index):
    return f"photo{index:03d}.jpg"


def small_name(index):
    return f"s{index:05d}.{'png' if index % 2 == 0 else 'jpg'}"


def photo_megapixels(index):
    """Target size of photo `index`: the PHOTO_COUNT sizes evenly spread over
    2-12 MP, in a fixed shuffled order (so any prefix has a spread too)."""
    order = list(range(PHOTO_COUNT))
    random.Random(6).shuffle(order)
    step = (PHOTO_MP_MAX - PHOTO_MP_MIN) / (PHOTO_COUNT - 1)
    return PHOTO_MP_MIN + step * order[index]


def photo_size(index):
    rng = random.Random(1000 + index)
    aw, ah = ASPECTS[rng.randrange(len(ASPECTS))]
    pixels = photo_megapixels(index) * 1e6
    height = int(round((pixels * ah / aw) ** 0.5))
    width = int(round(pixels / height))
    return width, height


# ---- driver side (standard library) ----------------------------------------

def _prepare(cache_dir):
    version_file = os.path.join(cache_dir, "VERSION")
    try:
        with open(version_file) as f:
            current = f.read().strip()
    except OSError:
        current = None
    if current != GENERATOR_VERSION:
        for sub in ("photos", "small"):
            shutil.rmtree(os.path.join(cache_dir, sub), ignore_errors=True)
        os.makedirs(cache_dir, exist_ok=True)
        with open(version_file, "w") as f:
            f.write(GENERATOR_VERSION + "\n")


def _ensure(kind, names, python, cache_dir, samples_dir, count, log):
    _prepare(cache_dir)
    folder = os.path.join(cache_dir, kind)
    os.makedirs(folder, exist_ok=True)
    present = set(os.listdir(folder))
    missing = [i for i in range(count) if names(i) not in present]
    if missing:
        if python is None:
            raise RuntimeError("generating the inputs needs python3-opencv (cv2 + numpy)")
        log(f"  generating {len(missing)} {kind} into {folder} (cached for later runs)")
        # Two processes (every other missing number each): generation is CPU-bound.
        chunks = [missing[i::2] for i in range(2)]
        procs = [subprocess.Popen([python, os.path.abspath(__file__), kind, folder, samples_dir]
                                  + [str(i) for i in chunk], stdin=subprocess.DEVNULL)
                 for chunk in chunks if chunk]
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"generating {kind} failed ({proc.returncode})")
    return [os.path.join(folder, names(i)) for i in range(count)]


def ensure_photos(python, cache_dir, samples_dir, count, log=print):
    """Paths of photos 0..count-1, generating the missing ones."""
    return _ensure("photos", photo_name, python, cache_dir, samples_dir, count, log)


def ensure_small(python, cache_dir, samples_dir, count, log=print):
    """Paths of small images 0..count-1, generating the missing ones. The
    argument list for 20,000 numbers is ~120 KB, well within ARG_MAX."""
    return _ensure("small", small_name, python, cache_dir, samples_dir, count, log)


# ---- generation (python3-opencv) -------------------------------------------

def _load_samples(samples_dir):
    import cv2
    names = sorted(n for n in os.listdir(samples_dir) if n.endswith(".jpg"))
    images = [cv2.imread(os.path.join(samples_dir, n), cv2.IMREAD_COLOR) for n in names]
    if not images or any(im is None for im in images):
        raise SystemExit(f"cannot read the samples in {samples_dir}")
    return images


def _make_photo(cv2, np, samples, index, out_path):
    rng = random.Random(index)
    width, height = photo_size(index)
    tiles = [samples[rng.randrange(len(samples))] for _ in range(4)]
    th, tw = tiles[0].shape[:2]
    tiles = [t if t.shape[:2] == (th, tw) else cv2.resize(t, (tw, th)) for t in tiles]
    mosaic = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    mh, mw = mosaic.shape[:2]
    scale = max(width / mw, height / mh) * rng.uniform(1.0, 1.15)
    sw, sh = max(width, int(round(mw * scale))), max(height, int(round(mh * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(mosaic, (sw, sh), interpolation=interp)
    x, y = rng.randrange(sw - width + 1), rng.randrange(sh - height + 1)
    crop = np.ascontiguousarray(scaled[y:y + height, x:x + width])
    if not cv2.imwrite(out_path + ".tmp.jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise SystemExit(f"cannot write {out_path}")
    os.replace(out_path + ".tmp.jpg", out_path)


def _make_small(cv2, np, pyramids, index, out_path):
    rng = random.Random(100_000 + index)
    levels = pyramids[rng.randrange(len(pyramids))]
    level = levels[rng.randrange(len(levels))]
    h, w = level.shape[:2]
    x, y = rng.randrange(w - SMALL_SIZE + 1), rng.randrange(h - SMALL_SIZE + 1)
    crop = np.ascontiguousarray(level[y:y + SMALL_SIZE, x:x + SMALL_SIZE])
    ext = os.path.splitext(out_path)[1]
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else []
    tmp = out_path + ".tmp" + ext
    if not cv2.imwrite(tmp, crop, params):
        raise SystemExit(f"cannot write {out_path}")
    os.replace(tmp, out_path)


def _generate(kind, folder, samples_dir, numbers):
    import cv2
    import numpy as np
    samples = _load_samples(samples_dir)
    if kind == "photos":
        for index in numbers:
            _make_photo(cv2, np, samples, index, os.path.join(folder, photo_name(index)))
    else:
        # Each sample at 1, 1/2, 1/4, 1/8, 1/16: crops range from fine texture
        # to whole scenes.
        pyramids = []
        for sample in samples:
            levels = [sample]
            for _ in range(4):
                levels.append(cv2.resize(levels[-1], None, fx=0.5, fy=0.5,
                                         interpolation=cv2.INTER_AREA))
            pyramids.append(levels)
        for index in numbers:
            _make_small(cv2, np, pyramids, index, os.path.join(folder, small_name(index)))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("photos", "small"):
        sys.exit("usage: workloads.py photos|small FOLDER SAMPLES_DIR NUMBER...")
    _generate(sys.argv[1], sys.argv[2], sys.argv[3], [int(a) for a in sys.argv[4:]])
