#!/usr/bin/env python3
"""make bench: how fast edgefetch is, and how far from the best it could be.

1. The lesson workload: the 12 sample photos served by the fixture server on
   127.0.0.1 with the demo's settings (100-300 ms to first byte, 1 MB/s per
   connection). `edgefetch --sequential` and `edgefetch` (concurrent, default
   -j/-w) run interleaved for several rounds, each into a fresh output folder;
   wall clock per run.
2. The lower bound for the concurrent run:
       max(network makespan on N slots, total CPU / workers) + CPU of the last image
   where each image's download time is measured alone (urllib, one at a time,
   median of 3) and scheduled greedily onto N = 4 slots in list order, as the
   download semaphore does, and the CPU time per image (decode + sobel + PNG
   encode at level 1) comes from edgefetch-stage-bench.
3. Local CPU cost per megapixel of each stage (edgefetch-stage-bench, one
   thread) on the 12 samples and on a 12 MP image made here at run time.

Writes tests/bench/results/latest.csv and latest.md and prints the Markdown.
Standard library only. Never talks to anything but 127.0.0.1.

Environment: BENCH_ROUNDS (default 5) rounds of the lesson workload;
BENCH_QUICK=1 for 3 rounds and 3 repeats in the CPU benchmark.
"""
import argparse
import csv
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from fixture_server import FixtureServer  # noqa: E402
from pngutil import parse_ppm, write_png  # noqa: E402

# The demo's settings (samples/demo.py): keep them identical so the README's
# numbers describe what `make demo` shows.
LATENCY = "100-300"     # ms to first byte, per image (fixed per path)
BANDWIDTH = 1_000_000   # bytes/s per connection
MAX_DOWNLOADS = 4       # edgefetch's default -j
PNG_LEVEL = 1           # edgefetch's default --png-level
DOWNLOAD_REPEATS = 3    # each image fetched alone this many times, median
TARGET_RATIO = 1.25     # the target: concurrent within 1.25x of the bound
LARGE_SIZE = (4000, 3000)

# One line per item with -v (cmd/main.c on_item); parsed for diagnostics
# only: the benchmark still works if the format changes.
ITEM_LINE = re.compile(
    r"ok (?P<url>\S+) -> \S+ \((?P<w>\d+)x(?P<h>\d+), (?P<bytes>\d+) bytes; "
    r"download (?P<download>[\d.]+) s, decode (?P<decode>[\d.]+) s, "
    r"edge (?P<edge>[\d.]+) s, encode\+write (?P<encode>[\d.]+) s\)")
TOOL_WALL = re.compile(r"wall time\s+([\d.]+) s")


def log(text=""):
    print(text, flush=True)


def rel(path):
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def online_cpus():
    try:
        return max(1, os.sysconf("SC_NPROCESSORS_ONLN"))
    except (ValueError, OSError):
        return os.cpu_count() or 1


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+changes" if dirty else "") if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fmt_s(seconds):
    return f"{seconds:.2f} s"


def fmt_range(values):
    return f"{min(values):.2f}–{max(values):.2f} s"


# ---- CPU cost: edgefetch-stage-bench ----------------------------------------

def stage_bench(binary, files, operator, repeats):
    """Runs edgefetch-stage-bench; returns ({path: row}, total_row), numbers as floats."""
    cmd = [binary, "--operator", operator, "--png-level", str(PNG_LEVEL),
           "--repeat", str(repeats), "--"] + list(files)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    rows = {}
    total = None
    for row in csv.DictReader(proc.stdout.splitlines()):
        for key, value in row.items():
            if key not in ("file", "operator"):
                row[key] = float(value)
        if row["file"] == "TOTAL":
            total = row
        else:
            rows[row["file"]] = row
    if total is None or len(rows) != len(files):
        raise RuntimeError(f"edgefetch-stage-bench printed {len(rows)} rows for {len(files)} files")
    return rows, total


def python_with_cv2():
    """A Python that can import cv2 and numpy (Debian's python3-opencv lives
    in /usr/bin/python3, often not the python3 first on PATH), or None."""
    seen = []
    for candidate in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if not candidate or candidate in seen or not os.path.exists(candidate):
            continue
        seen.append(candidate)
        try:
            ok = subprocess.run([candidate, "-c", "import cv2, numpy"], capture_output=True,
                                timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return candidate
    return None


# Tiles the samples into a mosaic and crops it: the pixels keep the samples'
# level of detail, so its ms/MP compare with theirs and show only what size does.
CV2_MOSAIC = r"""
import sys, cv2, numpy as np
out, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tiles = [cv2.imread(p, cv2.IMREAD_COLOR) for p in sys.argv[4:]]
th, tw = tiles[0].shape[:2]
tiles = [t if t.shape[:2] == (th, tw) else cv2.resize(t, (tw, th)) for t in tiles]
cols, rows = -(-width // tw), -(-height // th)
grid = [np.hstack([tiles[(r * cols + c) % len(tiles)] for c in range(cols)]) for r in range(rows)]
image = np.ascontiguousarray(np.vstack(grid)[:height, :width])
sys.exit(0 if cv2.imwrite(out, image, [cv2.IMWRITE_JPEG_QUALITY, 90]) else 1)
"""


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return parse_ppm(data)
    except ValueError as e:
        raise RuntimeError(f"{path}: {e}")


def make_large_image(stage_bin, photos, workdir):
    """Makes a 4000x3000 mosaic of the samples; returns (path, description)."""
    width, height = LARGE_SIZE
    tiles = photos[:9]
    python = python_with_cv2()
    if python is not None:
        out = os.path.join(workdir, "mosaic-12mp.jpg")
        proc = subprocess.run([python, "-c", CV2_MOSAIC, out, str(width), str(height)] + tiles,
                              capture_output=True, text=True)
        if proc.returncode == 0:
            return out, f"{width}×{height} JPEG q90, mosaic of {len(tiles)} samples (cv2)"
        log(f"  cv2 mosaic failed ({proc.stderr.strip()[-200:]}); falling back to PNG")
    else:
        log("  no Python with cv2+numpy (python3-opencv); making the 12 MP image as PNG instead")
    # Fallback: decode with our own imaging code (stage bench --dump-ppm),
    # tile in Python, write an RGB PNG with zlib. Slower to decode than JPEG,
    # and labelled as such.
    decoded = []
    for i, tile in enumerate(tiles):
        ppm = os.path.join(workdir, f"tile{i}.ppm")
        subprocess.run([stage_bin, "--dump-ppm", ppm, tile], check=True)
        decoded.append(read_ppm(ppm))
        os.unlink(ppm)
    tw, th = decoded[0][0], decoded[0][1]
    if any((w, h) != (tw, th) for w, h, _ in decoded):
        raise RuntimeError("samples differ in size; cannot tile them without cv2")
    cols = -(-width // tw)
    rows = []
    for y in range(height):
        tile_row, y_in = divmod(y, th)
        line = b"".join(decoded[(tile_row * cols + c) % len(decoded)][2][y_in * tw * 3:(y_in + 1) * tw * 3]
                        for c in range(cols))
        rows.append(line[:width * 3])
    out = os.path.join(workdir, "mosaic-12mp.png")
    with open(out, "wb") as f:
        f.write(write_png(width, height, rows, channels=3))
    return out, f"{width}×{height} RGB PNG (zlib 6), mosaic of {len(tiles)} samples (no cv2)"


# ---- the lesson workload ----------------------------------------------------

def fetch_alone(url):
    """Seconds to fetch `url` completely, nothing else in flight. No proxy may
    get in between: the fixture is on loopback."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.perf_counter()
    with opener.open(url, timeout=60) as resp:
        body = resp.read()
    return time.perf_counter() - start, len(body)


def greedy_schedule(durations, slots):
    """Starts each download, in list order, on the slot that frees first (as
    the semaphore hands out slots). Returns the (start, end) of each."""
    free_at = [0.0] * slots
    spans = []
    for duration in durations:
        slot = min(range(slots), key=lambda s: free_at[s])
        start = free_at[slot]
        free_at[slot] = start + duration
        spans.append((start, start + duration))
    return spans


def run_edgefetch(edgefetch, mode, url_list, out_dir, expected, server):
    cmd = [edgefetch, "-v", "-i", url_list, "-o", out_dir]
    if mode == "sequential":
        cmd.insert(1, "--sequential")
    server.reset()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    stats = server.stats()
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed ({proc.returncode}):\n{proc.stderr}")
    written = [n for n in os.listdir(out_dir) if n.endswith(".png")]
    if len(written) != expected:
        raise RuntimeError(f"{mode} run wrote {len(written)} PNGs, expected {expected}")
    items = {}
    for match in ITEM_LINE.finditer(proc.stderr):
        items[match["url"]] = {k: float(match[k]) for k in ("download", "decode", "edge", "encode")}
    tool_wall = TOOL_WALL.search(proc.stderr)
    return {
        "mode": mode,
        "wall": wall,
        "tool_wall": float(tool_wall.group(1)) if tool_wall else None,
        "items": items,
        "requests": stats.get("requests"),
        "max_inflight": stats.get("max_inflight"),
    }


# ---- output -----------------------------------------------------------------

def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="Meson build folder (default: build)")
    parser.add_argument("--results", default=None,
                        help="where latest.csv and latest.md go (default tests/bench/results, "
                             "or BUILD/bench-quick-results with BENCH_QUICK=1, so a quick run "
                             "never replaces the committed full results)")
    args = parser.parse_args()

    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    rounds = int(os.environ.get("BENCH_ROUNDS", "3" if quick else "5"))
    if rounds < 1:
        parser.error("BENCH_ROUNDS must be at least 1")
    cpu_repeats = 3 if quick else 5

    build = os.path.join(ROOT, args.build)
    if args.results is None:
        args.results = (os.path.join(build, "bench-quick-results") if quick
                        else os.path.join(HERE, "results"))
    edgefetch = os.path.join(build, "cmd", "edgefetch")
    fixture = os.path.join(build, "tests", "fixture", "edgefetch-fixture")
    stage_bin = os.path.join(build, "tests", "bench", "edgefetch-stage-bench")
    for binary in (edgefetch, fixture, stage_bin):
        if not os.access(binary, os.X_OK):
            sys.exit(f"bench: {rel(binary)} missing; build first (meson compile -C {args.build})")
    photos_dir = os.path.join(ROOT, "samples", "photos")
    names = sorted(n for n in os.listdir(photos_dir) if n.endswith(".jpg"))
    photos = [os.path.join(photos_dir, n) for n in names]
    workers = online_cpus()  # edgefetch's default -w
    started = time.monotonic()
    when = datetime.datetime.now().astimezone()
    command = "python3 " + " ".join([rel(os.path.abspath(sys.argv[0]))] + sys.argv[1:])
    env_note = " ".join(f"{k}={os.environ[k]}" for k in ("BENCH_ROUNDS", "BENCH_QUICK")
                        if k in os.environ)
    if env_note:
        command = env_note + " " + command
    version = subprocess.run([edgefetch, "--version"], capture_output=True,
                             text=True).stdout.splitlines()
    csv_rows = []  # (section, item, metric, value, unit)

    def record(section, item, metric, value, unit=""):
        csv_rows.append((section, item, metric, value, unit))

    log(f"edgefetch benchmark — {when:%Y-%m-%d %H:%M %Z}, {workers} online CPUs, "
        f"{rounds} rounds{' (quick)' if quick else ''}")

    with tempfile.TemporaryDirectory(prefix="edgefetch-bench-") as workdir:
        # -- 3. CPU cost first, while nothing else of ours runs --------------
        log(f"\n[1/3] CPU per stage, one thread, median of {cpu_repeats} (edgefetch-stage-bench)")
        sobel_rows, sobel_total = stage_bench(stage_bin, photos, "sobel", cpu_repeats)
        tut_rows, tut_total = stage_bench(stage_bin, photos, "tutorial", cpu_repeats)
        cpu_table = [("12 samples (1620×1080 JPEG)", sobel_total, tut_total)]
        large_note = None
        try:
            large, large_desc = make_large_image(stage_bin, photos, workdir)
            _, large_sobel = stage_bench(stage_bin, [large], "sobel", cpu_repeats)
            _, large_tut = stage_bench(stage_bin, [large], "tutorial", cpu_repeats)
            cpu_table.append((f"12 MP: {large_desc}", large_sobel, large_tut))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            large_note = f"12 MP row skipped: {exc}"
            log("  " + large_note)
        for label, sob, tut in cpu_table:
            log(f"  {label}: {sob['megapixels']:.1f} MP, ms/MP decode {sob['decode_ms_per_mp']:.2f}"
                f", sobel {sob['operator_ms_per_mp']:.2f}, encode {sob['encode_ms_per_mp']:.2f}"
                f", total {sob['total_ms_per_mp']:.2f}; tutorial {tut['operator_ms_per_mp']:.2f}"
                f" (its path total {tut['total_ms_per_mp']:.2f})")
            for metric in ("decode", "operator", "encode", "total"):
                record("cpu_sobel", label, f"{metric}_ms_per_mp", f"{sob[metric + '_ms_per_mp']:.4f}",
                       "ms/MP")
                record("cpu_tutorial", label, f"{metric}_ms_per_mp",
                       f"{tut[metric + '_ms_per_mp']:.4f}", "ms/MP")
            record("cpu_sobel", label, "megapixels", f"{sob['megapixels']:.4f}", "MP")
        cpu_ms = {p: sobel_rows[p]["total_ms"] / 1e3 for p in photos}  # seconds per image

        # -- 1 and 2: the lesson workload --------------------------------
        with FixtureServer(fixture, photos_dir, latency=LATENCY, bandwidth=BANDWIDTH) as server:
            urls = [server.url(n) for n in names]
            url_list = os.path.join(workdir, "urls.txt")
            with open(url_list, "w") as f:
                f.write("\n".join(urls) + "\n")
            log(f"\n[2/3] each download alone through the fixture (127.0.0.1:{server.port}, "
                f"{LATENCY} ms to first byte, {BANDWIDTH / 1e6:g} MB/s per connection), "
                f"median of {DOWNLOAD_REPEATS}")
            samples = {u: [] for u in urls}
            sizes = {}
            for _ in range(DOWNLOAD_REPEATS):
                for url in urls:
                    seconds, size = fetch_alone(url)
                    samples[url].append(seconds)
                    sizes[url] = size
            alone = [statistics.median(samples[u]) for u in urls]

            log(f"\n[3/3] lesson workload: {rounds} rounds, sequential and concurrent interleaved "
                f"(order alternates per round)")
            runs = {"sequential": [], "concurrent": []}
            ratios = []
            for r in range(rounds):
                order = ["sequential", "concurrent"] if r % 2 == 0 else ["concurrent", "sequential"]
                this_round = {}
                for mode in order:
                    out_dir = os.path.join(workdir, f"round{r + 1}-{mode}")
                    result = run_edgefetch(edgefetch, mode, url_list, out_dir, len(urls), server)
                    shutil.rmtree(out_dir)
                    runs[mode].append(result)
                    this_round[mode] = result["wall"]
                    record("lesson_run", f"round {r + 1}", f"{mode}_wall_s", f"{result['wall']:.4f}", "s")
                    if result["max_inflight"] is not None:
                        record("lesson_run", f"round {r + 1}", f"{mode}_max_inflight",
                               result["max_inflight"], "requests")
                ratio = this_round["sequential"] / this_round["concurrent"]
                ratios.append(ratio)
                log(f"  round {r + 1}: sequential {this_round['sequential']:.2f} s, concurrent "
                    f"{this_round['concurrent']:.2f} s (max in flight "
                    f"{runs['concurrent'][-1]['max_inflight']}), ratio {ratio:.2f}×")

    # -- the lower bound ---------------------------------------------------
    spans = greedy_schedule(alone, MAX_DOWNLOADS)
    network_makespan = max(end for _, end in spans)
    last = max(range(len(urls)), key=lambda i: spans[i][1])  # the download that ends last
    total_cpu = sum(cpu_ms[p] for p in photos)
    cpu_per_worker = total_cpu / workers
    last_cpu = cpu_ms[photos[last]]
    lower_bound = max(network_makespan, cpu_per_worker) + last_cpu
    # A second, also valid bound, for reference: no image can be done before
    # its download ends (on the ideal schedule) plus its own CPU time.
    critical_path = max(spans[i][1] + cpu_ms[photos[i]] for i in range(len(urls)))
    seq_model = sum(alone) + total_cpu

    seq_walls = [r["wall"] for r in runs["sequential"]]
    con_walls = [r["wall"] for r in runs["concurrent"]]
    seq_median = statistics.median(seq_walls)
    con_median = statistics.median(con_walls)
    ratio_median = statistics.median(ratios)
    vs_bound = con_median / lower_bound
    max_inflight = max((r["max_inflight"] or 0) for r in runs["concurrent"])

    # Where the concurrent run's time goes, from its own -v lines (medians per
    # image over the rounds), against the same image alone.
    def tool_median(mode, url, key):
        values = [r["items"][url][key] for r in runs[mode] if url in r["items"]]
        return statistics.median(values) if values else None

    in_tool_download = [tool_median("concurrent", u, "download") for u in urls]
    in_tool_cpu = [sum(tool_median("concurrent", u, k) or 0 for k in ("decode", "edge", "encode"))
                   if tool_median("concurrent", u, "decode") is not None else None for u in urls]
    have_items = all(v is not None for v in in_tool_download)

    for i, url in enumerate(urls):
        name = names[i]
        record("image", name, "bytes", sizes[url], "B")
        record("image", name, "download_alone_s", f"{alone[i]:.4f}", "s")
        record("image", name, "schedule_start_s", f"{spans[i][0]:.4f}", "s")
        record("image", name, "schedule_end_s", f"{spans[i][1]:.4f}", "s")
        record("image", name, "cpu_s", f"{cpu_ms[photos[i]]:.4f}", "s")
        if in_tool_download[i] is not None:
            record("image", name, "concurrent_download_s", f"{in_tool_download[i]:.4f}", "s")
        if in_tool_cpu[i] is not None:
            record("image", name, "concurrent_cpu_s", f"{in_tool_cpu[i]:.4f}", "s")
    summary = [
        ("sequential_wall_median_s", seq_median, "s"),
        ("sequential_wall_min_s", min(seq_walls), "s"),
        ("sequential_wall_max_s", max(seq_walls), "s"),
        ("concurrent_wall_median_s", con_median, "s"),
        ("concurrent_wall_min_s", min(con_walls), "s"),
        ("concurrent_wall_max_s", max(con_walls), "s"),
        ("ratio_seq_over_conc_median", ratio_median, "x"),
        ("network_makespan_s", network_makespan, "s"),
        ("total_cpu_s", total_cpu, "s"),
        ("cpu_per_worker_s", cpu_per_worker, "s"),
        ("last_image_cpu_s", last_cpu, "s"),
        ("lower_bound_s", lower_bound, "s"),
        ("critical_path_bound_s", critical_path, "s"),
        ("concurrent_over_lower_bound", vs_bound, "x"),
        ("sequential_model_s", seq_model, "s"),
    ]
    for metric, value, unit in summary:
        record("lesson", "summary", metric, f"{value:.4f}", unit)
    settings = [("latency_ms", LATENCY), ("bandwidth_bytes_per_s", BANDWIDTH),
                ("max_downloads", MAX_DOWNLOADS), ("workers", workers), ("rounds", rounds),
                ("cpu_repeats", cpu_repeats), ("download_repeats", DOWNLOAD_REPEATS),
                ("png_level", PNG_LEVEL), ("nproc", online_cpus()), ("date", when.isoformat(timespec="seconds")),
                ("command", command)]
    for metric, value in settings:
        record("settings", "", metric, value)

    # -- Markdown ------------------------------------------------------------
    total_bytes = sum(sizes.values())
    md = []
    is_make_bench = not env_note and sys.argv[1:] in ([], ["--build", "build"])
    md.append(f"Benchmark: `{command}`{' (`make bench`)' if is_make_bench else ''}, "
              f"{when:%Y-%m-%d %H:%M %Z}, "
              f"edgefetch {version[0].split()[-1] if version else '?'} ({git_revision()}), "
              f"`nproc` = {online_cpus()} ({cpu_model()}), {platform.system()} {platform.release()}.")
    md.append("")
    md.append(f"Lesson workload: the 12 sample photos ({total_bytes / 1e6:.2f} MB, 1620×1080 JPEG) from "
              f"the fixture server on 127.0.0.1, `--latency {LATENCY}` ms to first byte (fixed per "
              f"image), `--bandwidth {BANDWIDTH}` bytes/s per connection; {rounds} rounds, sequential "
              f"and concurrent interleaved, wall clock per process, each into a fresh folder.")
    md.append("")
    md.append("| lesson workload | median | min–max |")
    md.append("|---|---:|---:|")
    md.append(f"| `edgefetch --sequential` | {fmt_s(seq_median)} | {fmt_range(seq_walls)} |")
    md.append(f"| `edgefetch` (concurrent: -j {MAX_DOWNLOADS}, -w {workers}) | {fmt_s(con_median)} | "
              f"{fmt_range(con_walls)} |")
    md.append(f"| speed-up, sequential / concurrent (median of per-round ratios) | "
              f"{ratio_median:.2f}× | {min(ratios):.2f}–{max(ratios):.2f}× |")
    md.append(f"| lower bound for concurrent¹ | {fmt_s(lower_bound)} | |")
    md.append(f"| concurrent median / lower bound (target ≤ {TARGET_RATIO:.2f}×) | "
              f"**{vs_bound:.2f}×** | {min(con_walls) / lower_bound:.2f}–"
              f"{max(con_walls) / lower_bound:.2f}× |")
    md.append("")
    md.append(f"¹ max(network makespan {network_makespan:.2f} s, CPU {total_cpu:.2f} s / {workers} "
              f"workers = {cpu_per_worker:.2f} s) + CPU of the last image to arrive "
              f"({names[last]}, {last_cpu * 1e3:.0f} ms). Makespan: each image fetched alone "
              f"(urllib, median of {DOWNLOAD_REPEATS}; {min(alone):.2f}–{max(alone):.2f} s, "
              f"sum {sum(alone):.2f} s), scheduled greedily on {MAX_DOWNLOADS} slots in list order. "
              f"CPU: decode + sobel + PNG level {PNG_LEVEL} per image, one thread "
              f"(edgefetch-stage-bench). The sequential model, sum of downloads + CPU, is "
              f"{seq_model:.2f} s.")
    md.append("")
    md.append(f"CPU per stage, one thread, milliseconds per megapixel (median of {cpu_repeats}; "
              f"sobel path decodes to luma, tutorial path to RGB; PNG level {PNG_LEVEL}):")
    md.append("")
    md.append("| input | MP | decode | sobel | encode | total (sobel) | tutorial | total (tutorial) |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, sob, tut in cpu_table:
        md.append(f"| {label} | {sob['megapixels']:.1f} | {sob['decode_ms_per_mp']:.2f} | "
                  f"{sob['operator_ms_per_mp']:.2f} | {sob['encode_ms_per_mp']:.2f} | "
                  f"{sob['total_ms_per_mp']:.2f} | {tut['operator_ms_per_mp']:.2f} | "
                  f"{tut['total_ms_per_mp']:.2f} |")
    if large_note:
        md.append("")
        md.append(large_note)
    markdown = "\n".join(md) + "\n"

    os.makedirs(args.results, exist_ok=True)
    csv_path = os.path.join(args.results, "latest.csv")
    md_path = os.path.join(args.results, "latest.md")
    lines = []

    class Sink:
        def write(self, text):
            lines.append(text)
    writer = csv.writer(Sink(), lineterminator="\n")
    writer.writerow(("section", "item", "metric", "value", "unit"))
    writer.writerows(csv_rows)
    write_atomic(csv_path, "".join(lines))
    write_atomic(md_path, markdown)

    # -- diagnostics: not in the table, for whoever reads the log -----------
    log("\nwhere the concurrent run's time goes (medians over rounds):")
    log(f"  downloads alone: sum {sum(alone):.2f} s; greedy {MAX_DOWNLOADS}-slot makespan "
        f"{network_makespan:.2f} s; critical path (arrival + own CPU) {critical_path:.2f} s")
    if have_items:
        log(f"  downloads inside the concurrent runs: sum {sum(in_tool_download):.2f} s "
            f"({sum(in_tool_download) / sum(alone):.2f}× alone); greedy makespan of those "
            f"{max(e for _, e in greedy_schedule(in_tool_download, MAX_DOWNLOADS)):.2f} s")
        log(f"  CPU inside the concurrent runs (decode+edge+encode+write): sum "
            f"{sum(in_tool_cpu):.2f} s vs {total_cpu:.2f} s alone on one thread")
    tool_walls = [r["tool_wall"] for r in runs["concurrent"] if r["tool_wall"] is not None]
    if tool_walls:
        log(f"  edgefetch's own wall time (inside the process): median "
            f"{statistics.median(tool_walls):.2f} s; process start/exit overhead "
            f"≈ {con_median - statistics.median(tool_walls):.3f} s")
    log(f"  peak requests in flight at the server (concurrent): {max_inflight}")
    if max_inflight and max_inflight > MAX_DOWNLOADS:
        log(f"  WARNING: more than {MAX_DOWNLOADS} requests in flight")
    if seq_median <= con_median:
        log("  WARNING: concurrent is not faster than sequential")
    log(f"\nwrote {rel(csv_path)} and {rel(md_path)} in {time.monotonic() - started:.0f} s\n")
    log(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
