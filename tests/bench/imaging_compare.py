#!/usr/bin/env python3
"""edgefetch's imaging stage against libvips and OpenCV, same images, same run.

1. CPU time per image, one thread, decode + operator + PNG encode, for Sobel
   and Canny (sigma 1.4, thresholds 40/80):
     edgefetch  edgefetch-stage-bench (img_decode, img_apply, img_encode_png in
                memory; median of 3 in-process repeats), the tool's defaults
     OpenCV     python3-opencv, cv2.setNumThreads(1): cv2.imread(GRAYSCALE),
                Sobel: cv2.Sobel dx, dy (CV_32F) + cv2.magnitude, rounded and
                capped (edgefetch's exact output); Canny: cv2.GaussianBlur +
                cv2.Canny (edgefetch's exact output); cv2.imwrite PNG with its
                defaults (level 1, Z_RLE); median of 3 in-process repeats
     vips       `vips sobel|canny IN OUT.png` (libvips-tools, VIPS_CONCURRENCY=1),
                CPU of the process (user + sys) minus the CPU of a `vips copy`
                of a 1x1 PNG (startup); it works on the 3 RGB bands as given.
                Also "vips b-w": `vips colourspace IN x.v b-w` then
                `vips sobel x.v OUT.png` (1 band, like the others; 2 startups
                subtracted)
   on the 12 sample photos (1620x1080) and a 12 MP photo (4000x3000 mosaic of
   the samples, JPEG q90). Rounds are interleaved (contender order rotates per
   round); per image the median over rounds, then summed per set.
2. Throughput with all cores over a folder of local files (the samples 4
   times; the 12 MP image 6 times): images per second, wall clock:
     edgefetch  the real binary fetching from the fixture server on 127.0.0.1
                (no latency), default -w (online CPUs)
     OpenCV     a multiprocessing pool of one process per CPU, setNumThreads(1)
     vips       one `vips` process per CPU at a time, VIPS_CONCURRENCY=1
   interleaved rounds, median.

With --base BUILD, "edgefetch (base)" runs too in both parts: another build's
edgefetch-stage-bench and edgefetch on the same files in the same rounds (an
A/B, e.g. of main: `git archive main | tar -x -C /tmp/base`, build there).
--operators picks the operators (default sobel,canny).

Writes tests/bench/results/imaging.md, imaging.csv and imaging.png (chart,
python3-matplotlib) and prints the Markdown. Needs a Python with cv2, numpy
and matplotlib (Debian's python3-opencv, python3-matplotlib; re-executes
itself with /usr/bin/python3 if needed), and `vips` (libvips-tools). Never
talks to anything but 127.0.0.1.

Environment: IMAGING_ROUNDS (default 5). BENCH_QUICK=1: one round, the
samples once and the 12 MP image twice in the throughput folder, results in
BUILD/bench-quick-results.
"""
import argparse
import csv
import datetime
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor


def reexec_with_cv2():
    try:
        import cv2  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError as exc:
        reason = str(exc)
    if os.environ.get("EDGEFETCH_IMAGING_REEXEC") != "1" and os.path.exists("/usr/bin/python3") \
            and os.path.realpath("/usr/bin/python3") != os.path.realpath(sys.executable):
        env = dict(os.environ, EDGEFETCH_IMAGING_REEXEC="1")
        os.execve("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv, env)
    sys.exit(f"imaging_compare: needs cv2, numpy and matplotlib ({reason}); "
             "install python3-opencv python3-matplotlib (make bench-deps)")


if __name__ == "__main__":
    reexec_with_cv2()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import LARGE_SIZE, ROOT, cpu_model, git_revision  # noqa: E402

SIGMA, LOW, HIGH = 1.4, 40.0, 80.0  # edgefetch's Canny defaults
CPU_REPEATS = 3
OPERATORS = ("sobel", "canny")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---- OpenCV, in process ------------------------------------------------------

def cv2_pipeline(path, operator, out_path):
    """Decode, operator, PNG encode: the same output as edgefetch's."""
    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if operator == "sobel":
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)
        # floor(m + 0.5) capped: ties cannot occur for integer energies.
        edges = np.minimum(cv2.magnitude(gx, gy) + 0.5, 255.0).astype(np.uint8)
    else:
        edges = cv2.Canny(cv2.GaussianBlur(gray, (0, 0), SIGMA), LOW, HIGH)
    if not cv2.imwrite(out_path, edges):
        raise RuntimeError(f"cv2.imwrite {out_path} failed")


def cv2_cpu_ms(path, operator, out_path):
    samples = []
    for _ in range(CPU_REPEATS):
        start = time.process_time()
        cv2_pipeline(path, operator, out_path)
        samples.append((time.process_time() - start) * 1e3)
    return statistics.median(samples)


def _pool_init():
    cv2.setNumThreads(1)


def _pool_job(job):
    path, operator, out_path = job
    cv2_pipeline(path, operator, out_path)
    return 1


# ---- edgefetch and vips, as processes ----------------------------------------

def stage_bench(binary, files, operator):
    """{path: (total CPU ms, decode, operator, encode, megapixels)}."""
    cmd = [binary, "--operator", operator, "--png-level", "1", "--repeat", str(CPU_REPEATS),
           "--"] + files
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.DictReader(out.splitlines()):
        if row["file"] != "TOTAL":
            rows[row["file"]] = tuple(float(row[k]) for k in (
                "total_ms", "decode_ms", "operator_ms", "encode_ms", "megapixels"))
    return rows


def child_cpu_ms(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e3


def vips_env():
    return dict(os.environ, VIPS_CONCURRENCY="1")


def vips_startup_ms(workdir):
    tiny = os.path.join(workdir, "tiny.png")
    cv2.imwrite(tiny, np.zeros((1, 1), np.uint8))
    out = os.path.join(workdir, "tiny-out.png")
    return statistics.median(child_cpu_ms(["vips", "copy", tiny, out], vips_env())
                             for _ in range(7))


def vips_cpu_ms(path, operator, out_path, workdir, bw):
    env = vips_env()
    if not bw:
        return child_cpu_ms(["vips", operator, path, out_path], env)
    luma = os.path.join(workdir, "bw.v")
    ms = child_cpu_ms(["vips", "colourspace", path, luma, "b-w"], env)
    ms += child_cpu_ms(["vips", operator, luma, out_path], env)
    os.unlink(luma)
    return ms


# ---- inputs ------------------------------------------------------------------

def make_large(photos, out):
    width, height = LARGE_SIZE
    tiles = [cv2.imread(p, cv2.IMREAD_COLOR) for p in photos[:9]]
    th, tw = tiles[0].shape[:2]
    cols, rows = -(-width // tw), -(-height // th)
    grid = [np.hstack([tiles[(r * cols + c) % len(tiles)] for c in range(cols)])
            for r in range(rows)]
    image = np.ascontiguousarray(np.vstack(grid)[:height, :width])
    if not cv2.imwrite(out, image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise RuntimeError("cannot write the 12 MP image")


def megapixels(path):
    h, w = cv2.imread(path, cv2.IMREAD_GRAYSCALE).shape
    return w * h / 1e6


# ---- throughput --------------------------------------------------------------

def throughput_edgefetch(edgefetch, fixture, folder, names, out_dir, operator):
    from fixture_server import FixtureServer
    with FixtureServer(fixture, folder) as server:
        urls = [server.url(n) for n in names]
        start = time.perf_counter()
        proc = subprocess.run([edgefetch, "-q", "--operator", operator, "-o", out_dir] + urls,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"edgefetch failed ({proc.returncode}): {proc.stderr.strip()}")
    return len(names) / wall


def throughput_cv2(pool, folder, names, out_dir, operator):
    jobs = [(os.path.join(folder, n), operator, os.path.join(out_dir, n[:-4] + ".png"))
            for n in names]
    start = time.perf_counter()
    done = sum(pool.map(_pool_job, jobs, chunksize=1))
    return done / (time.perf_counter() - start)


def throughput_vips(folder, names, out_dir, operator, workers):
    env = vips_env()

    def one(name):
        subprocess.run(["vips", operator, os.path.join(folder, name),
                        os.path.join(out_dir, name[:-4] + ".png")],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as executor:
        list(executor.map(one, names))
    return len(names) / (time.perf_counter() - start)


# ---- report ------------------------------------------------------------------

def chart(path, csv_rows):
    """Grouped bars from the CSV rows: CPU ms/MP per set and operator, one
    thread; then images/s with all cores."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = {"edgefetch": "#1f77b4", "edgefetch (base)": "#9ecae1", "OpenCV": "#2ca02c", "vips b-w": "#ff7f0e", "vips": "#d62728"}
    cpu, tput = {}, {}
    for section, images, op, contender, metric, value in csv_rows:
        if section == "cpu_one_thread" and metric == "ms_per_mp":
            cpu[(images, op, contender)] = float(value)
        elif section == "throughput_all_cores":
            tput[(images, op, contender)] = float(value)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, data, title, unit in (
            (axes[0], cpu, "one thread: CPU ms per megapixel (lower is better)", "ms/MP"),
            (axes[1], tput, "all cores: images per second (higher is better)", "images/s")):
        groups = []
        for key in data:
            if key[:2] not in groups:
                groups.append(key[:2])
        contenders = [c for c in colours if any((g + (c,)) in data for g in groups)]
        width = 0.8 / len(contenders)
        for i, contender in enumerate(contenders):
            xs = [g + i * width for g in range(len(groups))]
            ys = [data.get(group + (contender,), 0.0) for group in groups]
            bars = ax.bar(xs, ys, width, label=contender, color=colours[contender])
            ax.bar_label(bars, fmt="%.1f", fontsize=6, rotation=90, padding=2)
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))],
                      [f"{op}\n{images}" for images, op in groups], fontsize=8)
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 1.8)  # room for the labels
        ax.set_ylabel(unit + " (log scale)", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("edgefetch imaging vs OpenCV and libvips: decode + operator + PNG encode "
                 "(same images, same run)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_csv_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [tuple(r) for r in rows[1:]]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--results", default=None,
                        help="default tests/bench/results, or BUILD/bench-quick-results with "
                             "BENCH_QUICK=1 (a quick run never replaces the full results)")
    parser.add_argument("--base", default=None,
                        help="another build folder to run as the contender 'edgefetch (base)'")
    parser.add_argument("--operators", default=",".join(OPERATORS),
                        help="comma-separated, from sobel,canny (default both)")
    parser.add_argument("--chart-only", action="store_true",
                        help="redraw imaging.png from imaging.csv and exit")
    args = parser.parse_args()
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    if args.results is None:
        args.results = (os.path.join(ROOT, args.build, "bench-quick-results") if quick
                        else os.path.join(HERE, "results"))
    if args.chart_only:
        chart(os.path.join(args.results, "imaging.png"),
              read_csv_rows(os.path.join(args.results, "imaging.csv")))
        return
    # Quick (BENCH_QUICK=1, a smoke of the whole bench in under 3 minutes):
    # one round and smaller throughput folders.
    rounds = int(os.environ.get("IMAGING_ROUNDS", "1" if quick else "5"))

    build = os.path.join(ROOT, args.build)
    stage_bin = os.path.join(build, "tests", "bench", "edgefetch-stage-bench")
    edgefetch = os.path.join(build, "cmd", "edgefetch")
    operators = tuple(o for o in args.operators.split(",") if o)
    if not operators or any(o not in OPERATORS for o in operators):
        parser.error("--operators wants names from " + ",".join(OPERATORS))
    stage_bins = {"edgefetch": stage_bin}
    edgefetch_bins = {"edgefetch": edgefetch}
    if args.base is not None:
        base_build = os.path.abspath(args.base)
        stage_bins["edgefetch (base)"] = os.path.join(base_build, "tests", "bench",
                                                      "edgefetch-stage-bench")
        edgefetch_bins["edgefetch (base)"] = os.path.join(base_build, "cmd", "edgefetch")
        for binary in (stage_bins["edgefetch (base)"], edgefetch_bins["edgefetch (base)"]):
            if not os.access(binary, os.X_OK):
                sys.exit(f"imaging_compare: {binary} missing; build the base first")
    fixture = os.path.join(build, "tests", "fixture", "edgefetch-fixture")
    for binary in (stage_bin, edgefetch, fixture):
        if not os.access(binary, os.X_OK):
            sys.exit(f"imaging_compare: {binary} missing; build first")
    if shutil.which("vips") is None:
        sys.exit("imaging_compare: vips missing; install libvips-tools (make bench-deps)")
    cv2.setNumThreads(1)
    cpus = os.cpu_count() or 1
    photos_dir = os.path.join(ROOT, "samples", "photos")
    photos = sorted(os.path.join(photos_dir, n) for n in os.listdir(photos_dir) if n.endswith(".jpg"))
    vips_version = subprocess.run(["vips", "--version"], capture_output=True, text=True).stdout.strip()
    when = datetime.datetime.now().astimezone()
    csv_rows = []

    with tempfile.TemporaryDirectory(prefix="edgefetch-imaging-") as workdir:
        large = os.path.join(workdir, "photo-12mp.jpg")
        make_large(photos, large)
        sets = {"12 samples": photos, "12 MP": [large]}
        mp = {p: megapixels(p) for p in photos + [large]}
        startup = vips_startup_ms(workdir)
        log(f"imaging_compare: {rounds} rounds; vips startup {startup:.1f} ms CPU per process")
        out_png = os.path.join(workdir, "out.png")

        # -- 1. CPU per image, one thread ------------------------------------
        per_image = {}  # (set, op, contender, path) -> [ms per round]
        stages = {}     # (set, op, path) -> [(decode, operator, encode)]
        contenders = list(stage_bins) + ["OpenCV", "vips", "vips b-w"]
        for r in range(rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            log(f"  round {r + 1}/{rounds}: {', '.join(order)}")
            for set_name, files in sets.items():
                for op in operators:
                    for contender in order:
                        if contender in stage_bins:
                            rows = stage_bench(stage_bins[contender], files, op)
                            for path in files:
                                per_image.setdefault((set_name, op, contender, path), []).append(
                                    rows[path][0])
                                stages.setdefault((set_name, op, contender, path), []).append(
                                    rows[path][1:4])
                            continue
                        for path in files:
                            if contender == "OpenCV":
                                ms = cv2_cpu_ms(path, op, out_png)
                            else:
                                bw = contender == "vips b-w"
                                ms = vips_cpu_ms(path, op, out_png, workdir, bw) - \
                                    startup * (2 if bw else 1)
                            per_image.setdefault((set_name, op, contender, path), []).append(ms)

        per_set = {}
        for (set_name, op, contender, path), values in per_image.items():
            entry = per_set.setdefault((set_name, op, contender), {"ms": 0.0, "mp": 0.0})
            entry["ms"] += statistics.median(values)
            entry["mp"] += mp[path]
        for key, entry in per_set.items():
            entry["ms_per_image"] = entry["ms"] / len(sets[key[0]])
            entry["ms_per_mp"] = entry["ms"] / entry["mp"]
        stage_split = {}
        for (set_name, op, contender, path), values in stages.items():
            split = stage_split.setdefault((set_name, op, contender), [0.0, 0.0, 0.0, 0.0])
            for i in range(3):
                split[i] += statistics.median(v[i] for v in values)
            split[3] += mp[path]

        # -- 2. throughput, all cores ------------------------------------------
        folder = os.path.join(workdir, "folder")
        os.makedirs(folder)
        folders = {"12 samples": [], "12 MP": []}
        for copy in range(1 if quick else 4):
            for p in photos:
                name = f"c{copy}-{os.path.basename(p)}"
                shutil.copy(p, os.path.join(folder, name))
                folders["12 samples"].append(name)
        for copy in range(2 if quick else 6):
            name = f"large{copy}.jpg"
            shutil.copy(large, os.path.join(folder, name))
            folders["12 MP"].append(name)
        throughput_runs = {}
        tp_contenders = list(edgefetch_bins) + ["OpenCV", "vips"]
        with multiprocessing.get_context("fork").Pool(cpus, initializer=_pool_init) as pool:
            for r in range(rounds):
                turn = r % len(tp_contenders)
                order = tp_contenders[turn:] + tp_contenders[:turn]
                log(f"  throughput round {r + 1}/{rounds}: {', '.join(order)}")
                for set_name, names in folders.items():
                    for op in operators:
                        for contender in order:
                            out_dir = tempfile.mkdtemp(dir=workdir)
                            if contender in edgefetch_bins:
                                ips = throughput_edgefetch(edgefetch_bins[contender], fixture,
                                                           folder, names, out_dir, op)
                            elif contender == "OpenCV":
                                ips = throughput_cv2(pool, folder, names, out_dir, op)
                            else:
                                ips = throughput_vips(folder, names, out_dir, op, cpus)
                            shutil.rmtree(out_dir)
                            throughput_runs.setdefault((set_name, op, contender), []).append(ips)
        throughput = {k: statistics.median(v) for k, v in throughput_runs.items()}

    # -- report ------------------------------------------------------------------
    lines = []
    lines.append("# Imaging stage: edgefetch vs OpenCV and libvips")
    lines.append("")
    lines.append(f"{when:%Y-%m-%d %H:%M %Z}, edgefetch {git_revision()}, {cpu_model()}, {cpus} "
                 f"online CPUs, {rounds} interleaved rounds; OpenCV {cv2.__version__}, "
                 f"{vips_version}. Command: `make bench` (or `/usr/bin/python3 "
                 f"tests/bench/imaging_compare.py --build {args.build}`). What each contender "
                 "runs is in the script's docstring; edgefetch and OpenCV produce identical "
                 "edge maps (tests/opencv), vips its own.")
    lines.append("")
    lines.append("## CPU per image, one thread: decode + operator + PNG encode")
    lines.append("")
    lines.append(f"Median over rounds per image, summed per set. vips: process CPU minus "
                 f"{startup:.1f} ms of startup per process (`vips copy` of a 1x1 PNG). "
                 "Ratio = contender's time / edgefetch's (above 1: edgefetch is faster).")
    lines.append("")
    lines.append("| images | operator | contender | ms per image | ms/MP | ratio to edgefetch |")
    lines.append("|---|---|---|---:|---:|---:|")
    for set_name in sets:
        for op in operators:
            base = per_set[(set_name, op, "edgefetch")]["ms"]
            for contender in contenders:
                entry = per_set[(set_name, op, contender)]
                ratio = entry["ms"] / base
                lines.append(f"| {set_name} | {op} | {contender} | {entry['ms_per_image']:.1f} | "
                             f"{entry['ms_per_mp']:.2f} | {ratio:.2f} |")
                csv_rows.append(("cpu_one_thread", set_name, op, contender, "ms_per_image",
                                 f"{entry['ms_per_image']:.3f}"))
                csv_rows.append(("cpu_one_thread", set_name, op, contender, "ms_per_mp",
                                 f"{entry['ms_per_mp']:.3f}"))
                csv_rows.append(("cpu_one_thread", set_name, op, contender, "ratio_to_edgefetch",
                                 f"{ratio:.3f}"))
    lines.append("")
    lines.append("edgefetch's split (ms/MP):")
    lines.append("")
    lines.append("| images | operator | build | decode | operator | PNG encode |")
    lines.append("|---|---|---|---:|---:|---:|")
    for (set_name, op, contender), (dec, oper, enc, total_mp) in stage_split.items():
        lines.append(f"| {set_name} | {op} | {contender} | {dec / total_mp:.2f} | "
                     f"{oper / total_mp:.2f} | {enc / total_mp:.2f} |")
        for name, value in (("decode", dec), ("operator", oper), ("encode", enc)):
            csv_rows.append(("edgefetch_stages", set_name, op, contender, f"{name}_ms_per_mp",
                             f"{value / total_mp:.3f}"))
    lines.append("")
    lines.append("## Throughput, all cores, a folder of local files")
    lines.append("")
    lines.append(f"{len(folders['12 samples'])} files of 1620x1080 (the samples "
                 f"{len(folders['12 samples']) // len(photos)} times) and "
                 f"{len(folders['12 MP'])} of 12 MP; wall clock, median over rounds. edgefetch "
                 "includes fetching them from the fixture server on 127.0.0.1 and writing the "
                 "files atomically; OpenCV is a pool of one process per CPU; vips one process "
                 "per CPU at a time.")
    lines.append("")
    lines.append("| images | operator | contender | images/s | edgefetch's speed-up |")
    lines.append("|---|---|---|---:|---:|")
    for set_name in folders:
        for op in operators:
            base = throughput[(set_name, op, "edgefetch")]
            for contender in tp_contenders:
                ips = throughput[(set_name, op, contender)]
                lines.append(f"| {set_name} | {op} | {contender} | {ips:.2f} | "
                             f"{base / ips:.2f} |")
                csv_rows.append(("throughput_all_cores", set_name, op, contender, "images_per_s",
                                 f"{ips:.3f}"))
    lines.append("")
    lines.append("![chart](imaging.png)")
    lines.append("")
    text = "\n".join(lines)

    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "imaging.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.results, "imaging.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("section", "images", "operator", "contender", "metric", "value"))
        writer.writerows(csv_rows)
    chart(os.path.join(args.results, "imaging.png"), csv_rows)
    print(text)


if __name__ == "__main__":
    main()
