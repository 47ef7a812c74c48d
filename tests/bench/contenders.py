#!/usr/bin/env python3
"""make bench, part 2: edgefetch against the tools users would pick instead
(issue 6), on three workloads served by the fixture server on 127.0.0.1.

Workloads (inputs made at bench time by workloads.py, cached in BUILD/bench-cache):
  1. lesson  the 12 samples, --latency 100-300 ms to first byte (fixed per
             image), --bandwidth 3 MB/s per connection. Every contender runs
             for real, every round.
  2. photos  200 JPEG photos of 2-12 MP, no injected latency. Round r fetches
             a fifth of them (slices balanced by megapixels), so over 5 rounds
             each contender processes all 200 once.
  3. small   20,000 images of 64×64 (PNG and JPEG), no injected latency.
             Round r fetches its own 2,000 (10,000 over 5 rounds); and
             edgefetch alone runs 2,000 vs all 20,000, to show whether per-item
             cost and peak RSS stay flat.

Contenders: edgefetch (defaults = sobel, 4 per host, -w online CPUs; the best -j of
a small sweep on workload 1; --sequential; --operator tutorial); the lesson's
two scripts (lesson_sequential.py, lesson_asyncio.py: requests / httpx +
numpy + Pillow, the lesson's kernel = edgefetch --operator tutorial, checked
pixel for pixel); and the shell pipelines "download all, then `vips sobel`
each file with xargs -P $(nproc)" with aria2c -j 4, curl --parallel-max 4,
wget2 --max-threads 4. Pipelines are compared with edgefetch's sobel, the
scripts with its tutorial operator.

In workloads 2 and 3 the vips stage of the three pipelines is the same command
on the same files (checked: every downloader writes the exact bytes served),
so it runs once per round, on the files of one downloader (rotating), and each
pipeline's time is its own download stage + that vips stage. It runs on a
spread sample of the round's files (photo_vips_sample / small_vips_sample in
MODES) and is scaled by their share of the round's megapixels (workload 2) or
files (workload 3): vips' cost is per pixel (PNG writing) plus one process
start per file, and a full pass over 200 photos or 20,000 files would take
~5 and ~15 minutes per pipeline on 2 cores.

Measurement: contenders run interleaved, one after the other within a round
and the order rotated every round; wall clock per run (process start to exit);
peak RSS as the largest sum of RSS over the process tree, sampled every 50 ms,
and never below the largest single process's maximum RSS (GNU time's %M,
the "Maximum resident set size" of /usr/bin/time -v); ratios contender / edgefetch per round, then their
median. Every run must write every output (checked); contenders run with no
proxy variables and a scratch HOME, and once under strace to check that no
connect() goes anywhere but 127.0.0.1.

Environment: BENCH_QUICK=1 for fewer rounds and fewer items; BENCH_ROUNDS
overrides the rounds. Standard library only (the scripts, the generator and
the chart use Debian's python3-* packages through /usr/bin/python3).
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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (helpers: stage_bench, fetch_alone, greedy_schedule, …)
import workloads  # noqa: E402
from bench import ROOT, FixtureServer, log, rel  # noqa: E402

# Workload 1: the lesson. The fixture has one rate for every connection; the
# lesson's connections ran at 2-5 MB/s, we take 3 MB/s.
LESSON_LATENCY = "100-300"
LESSON_BANDWIDTH = 3_000_000
SLOTS = 4                  # edgefetch's default --max-per-host (one host here), the lesson's Semaphore(4), the pipelines' N
SWEEP_SLOTS = (2, 4, 6, 8, 12)
LOWER_BOUND_TARGET = 1.15  # issue 6: concurrent within 1.15× of the lower bound
SAMPLE_INTERVAL = 0.05     # seconds between process-tree RSS samples
TIME = "/usr/bin/time"      # GNU time (Debian package time)
PROXY_VARS = re.compile(r"(?i)^(.*_proxy|proxy_.*)$")

MODES = {
    # Full: what `make bench` runs, ~11 minutes on 2 cores. Quick (BENCH_QUICK=1),
    # ~2 minutes: fewer rounds and items, and the lesson's pipelines composed
    # from their two stages as in workloads 2 and 3.
    False: dict(rounds=5, sweep_rounds=2, photos_per_round=40, photo_vips_sample=12,
                small_per_round=2000, small_vips_sample=200, scale_counts=(2000, 20000),
                scale_rounds=3, cpu_repeats=3, compose_lesson=False),
    True: dict(rounds=2, sweep_rounds=1, photos_per_round=4, photo_vips_sample=2,
               small_per_round=300, small_vips_sample=40, scale_counts=(200, 2000),
               scale_rounds=1, cpu_repeats=1, compose_lesson=True),
}


def median(values):
    return statistics.median(values) if values else float("nan")


# ---- running a contender ----------------------------------------------------

def read_tree_rss_kb(root_pid):
    """Sum of RSS (KiB) over the descendants of root_pid (not itself), from /proc."""
    parent_of, rss_of = {}, {}
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()  # fields[0] is field 3 (state)
        parent_of[int(entry)] = int(fields[1])
        rss_of[int(entry)] = int(fields[21]) * page_kb
    total, todo, seen = 0, [root_pid], set()
    children = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid != root_pid:
            total += rss_of.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


class RunFailed(RuntimeError):
    pass


def measure(argv, env, cwd=None, label=""):
    """Runs argv under /usr/bin/time; returns dict(wall, rss_kb, maxrss_kb,
    cpu_s). Raises RunFailed.

    Why GNU time and not our own wait4: a child's ru_maxrss starts from the
    memory of the process that forked it (Linux carries the old mm's high-water
    mark over exec), so every contender forked from this Python would report at
    least this Python's ~25 MB. time is a small C program; its %M is the child
    tree's largest process. The tree sampler skips the time process itself."""
    err = tempfile.TemporaryFile()
    with tempfile.NamedTemporaryFile(prefix="edgefetch-time-", delete=False) as f:
        time_file = f.name
    start = time.perf_counter()
    proc = subprocess.Popen([TIME, "-f", "%M", "-o", time_file] + list(argv), env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], read_tree_rss_kb(proc.pid))
            except (OSError, ValueError):
                pass
            done.wait(SAMPLE_INTERVAL)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        with open(time_file) as f:
            maxrss_kb = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        maxrss_kb = 0
    os.unlink(time_file)
    if proc.returncode != 0:
        err.seek(0)
        tail = err.read().decode(errors="replace")[-1500:]
        raise RunFailed(f"{label or argv[0]} exited {proc.returncode}:\n{tail}")
    err.close()
    return {"wall": wall, "maxrss_kb": maxrss_kb, "rss_kb": max(peak[0], maxrss_kb),
            "cpu_s": usage.ru_utime + usage.ru_stime}


def count_files(folder, suffix=""):
    try:
        return sum(1 for n in os.listdir(folder) if n.endswith(suffix) and not n.startswith("."))
    except FileNotFoundError:
        return 0


class Tools:
    """Paths and the command lines of every contender."""

    def __init__(self, build, python, workdir):
        self.edgefetch = os.path.join(build, "cmd", "edgefetch")
        self.fixture = os.path.join(build, "tests", "fixture", "edgefetch-fixture")
        self.stage_bin = os.path.join(build, "tests", "bench", "edgefetch-stage-bench")
        self.python = python
        self.home = os.path.join(workdir, "home")
        os.makedirs(self.home, exist_ok=True)
        # No proxies (every tool here honours *_proxy), no user configuration.
        self.env = {k: v for k, v in os.environ.items() if not PROXY_VARS.match(k)}
        self.env.update(HOME=self.home, LC_ALL="C")
        self.env.pop("PYTHONPATH", None)
        self.nproc = bench.online_cpus()

    def edgefetch_cmd(self, url_list, out, slots=None, operator="sobel", sequential=False):
        # slots None: edgefetch's own defaults, which on these one-host
        # workloads put --max-per-host (4) in flight. A sweep's -j N also
        # lifts the per-host cap, or every N above 4 would measure 4.
        cmd = [self.edgefetch, "-q", "-i", url_list, "-o", out, "--operator", operator]
        if slots is not None:
            cmd += ["-j", str(slots), "--max-per-host", str(slots)]
        if sequential:
            cmd.insert(1, "--sequential")
        return cmd

    def lesson_cmd(self, script, url_list, out):
        return [self.python, os.path.join(HERE, script), url_list, out]

    def download_cmd(self, tool, url_list, dl_dir, slots=SLOTS):
        if tool == "aria2c":
            return ["aria2c", "--no-conf", "-q", "-j", str(slots), "-i", url_list, "-d", dl_dir]
        if tool == "curl":
            # -q first: no .curlrc. The list as a config file: one `url = …`
            # per line (written by write_lists), all saved by remote name.
            return ["curl", "-q", "--silent", "--show-error", "--fail", "--noproxy", "*",
                    "--parallel", "--parallel-max", str(slots), "--remote-name-all",
                    "--output-dir", dl_dir, "--config", url_list + ".curl"]
        if tool == "wget2":
            return ["wget2", "--no-config", "-q", "--no-proxy", "--max-threads", str(slots),
                    "-i", url_list, "-P", dl_dir]
        raise ValueError(tool)

    def vips_stage_script(self, dl_dir, out, names_file=None):
        """`vips sobel` on every downloaded file, $(nproc) at a time."""
        source = (f"xargs -0 -a {sh_quote(names_file)}" if names_file else
                  "find . -maxdepth 1 -type f -print0 | xargs -0")
        return (f"cd {sh_quote(dl_dir)} && {source} -P \"$(nproc)\" -I{{}} "
                f"vips sobel {{}} {sh_quote(out)}/{{}}.png")

    def pipeline_cmd(self, tool, url_list, dl_dir, out):
        download = " ".join(sh_quote(a) for a in self.download_cmd(tool, url_list, dl_dir))
        return ["sh", "-ec", f"mkdir -p {sh_quote(out)} {sh_quote(dl_dir)} && {download} && "
                + self.vips_stage_script(dl_dir, out)]


def sh_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def write_lists(path, urls):
    """URL list for edgefetch, the scripts, aria2c and wget2; curl's config beside it."""
    with open(path, "w") as f:
        f.write("\n".join(urls) + "\n")
    with open(path + ".curl", "w") as f:
        f.write("".join(f'url = "{u}"\n' for u in urls))
    return path


# ---- contenders --------------------------------------------------------------

class Contender:
    """One row of a table. kind: 'process' (one command, run for real) or
    'pipeline' (download stage + the round's vips stage, in workloads 2/3)."""

    def __init__(self, key, label, family, baseline, kind, make=None, tool=None, slots=SLOTS):
        self.key, self.label, self.family, self.baseline = key, label, family, baseline
        self.kind, self.make, self.tool, self.slots = kind, make, tool, slots


def lesson_contenders(tools, best_slots):
    rows = [
        Contender("ef", f"edgefetch (defaults: sobel, {SLOTS} per host, -w {tools.nproc})", "sobel", None,
                  "process", lambda l, o: tools.edgefetch_cmd(l, o)),
    ]
    if best_slots != SLOTS:
        rows.append(Contender("ef_best", f"edgefetch -j {best_slots} (best of the sweep)", "sobel",
                              "ef", "process", lambda l, o: tools.edgefetch_cmd(l, o, best_slots),
                              slots=best_slots))
    rows += [
        Contender("ef_seq", "edgefetch --sequential", "sobel", "ef", "process",
                  lambda l, o: tools.edgefetch_cmd(l, o, sequential=True), slots=1),
        Contender("ef_tut", f"edgefetch --operator tutorial ({SLOTS} per host)", "tutorial", None,
                  "process", lambda l, o: tools.edgefetch_cmd(l, o, operator="tutorial")),
        Contender("py_seq", "lesson sequential (requests + Pillow)", "tutorial", "ef_tut",
                  "process", lambda l, o: tools.lesson_cmd("lesson_sequential.py", l, o), slots=1),
    ]
    return rows + common_contenders(tools)


def common_contenders(tools):
    return [
        Contender("py_async", f"lesson asyncio (httpx, Semaphore({SLOTS}), "
                  f"ProcessPool({tools.nproc}))", "tutorial", "ef_tut", "process",
                  lambda l, o: tools.lesson_cmd("lesson_asyncio.py", l, o)),
    ] + [
        Contender(f"pipe_{tool}", f"{label} + vips sobel (xargs -P {tools.nproc})", "sobel", "ef",
                  "pipeline", tool=tool)
        for tool, label in (("aria2c", f"aria2c -j {SLOTS}"),
                            ("curl", f"curl --parallel-max {SLOTS}"),
                            ("wget2", f"wget2 --max-threads {SLOTS}"))
    ]


def bulk_contenders(tools):
    return [
        Contender("ef", f"edgefetch (defaults: sobel, {SLOTS} per host, -w {tools.nproc})", "sobel", None,
                  "process", lambda l, o: tools.edgefetch_cmd(l, o)),
        Contender("ef_tut", f"edgefetch --operator tutorial ({SLOTS} per host)", "tutorial", None,
                  "process", lambda l, o: tools.edgefetch_cmd(l, o, operator="tutorial")),
    ] + common_contenders(tools)


# ---- checks before timing ----------------------------------------------------

CONNECT = re.compile(r"connect\(\d+, \{sa_family=(AF_\w+)(.*?)\}")


def audit_network(tools, rows, urls, workdir):
    """Runs each contender once under strace on a couple of URLs; every
    connect() must be to 127.0.0.1 (AF_UNIX and AF_NETLINK are local).
    Returns a list of (label, verdict)."""
    if shutil.which("strace") is None:
        return [("all", "not checked: strace missing")]
    url_list = write_lists(os.path.join(workdir, "audit-urls.txt"), urls)
    verdicts = []
    for row in rows:
        out = os.path.join(workdir, f"audit-{row.key}")
        dl = out + "-dl"
        if row.kind == "process":
            argv = row.make(url_list, out)
        else:
            argv = tools.pipeline_cmd(row.tool, url_list, dl, out)
        trace = out + ".strace"
        measure(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", trace] + argv,
                tools.env, label=f"{row.label} under strace")
        elsewhere = set()
        with open(trace, errors="replace") as f:
            for line in f:
                match = CONNECT.search(line)
                if match is None:
                    continue
                family, rest = match.groups()
                if family in ("AF_UNIX", "AF_NETLINK", "AF_UNSPEC"):
                    continue
                if family == "AF_INET" and 'inet_addr("127.0.0.1")' in rest:
                    continue
                elsewhere.add(line.split(None, 1)[1].strip()[:120])
        verdicts.append((row.label, "only 127.0.0.1" if not elsewhere else
                         "ELSEWHERE: " + "; ".join(sorted(elsewhere))))
        for path in (out, dl):
            shutil.rmtree(path, ignore_errors=True)
    return verdicts


def verify_kernel(tools, workdir, cache_dir):
    """edgefetch --operator tutorial against the two lesson scripts, pixel for
    pixel: two lossless PNGs (a sample, and an odd-sized crop with its
    borders) must match exactly; on two JPEG samples both sides decode with
    libjpeg-turbo (ours directly, Pillow's through its own build), so any
    difference is shown as a share of pixels rather than a failure."""
    src = os.path.join(cache_dir, "verify")
    os.makedirs(src, exist_ok=True)
    photos = os.path.join(ROOT, "samples", "photos")
    script = ("import sys, cv2; im = cv2.imread(sys.argv[1]); "
              "cv2.imwrite(sys.argv[2] + '/dune.png', im); "
              "cv2.imwrite(sys.argv[2] + '/odd.png', im[101:238, 333:590])")
    subprocess.run([tools.python, "-c", script, os.path.join(photos, "dune.jpg"), src], check=True)
    for name in ("aqua.jpg", "storm.jpg"):
        shutil.copyfile(os.path.join(photos, name), os.path.join(src, name))
    names = ["dune.png", "odd.png", "aqua.jpg", "storm.jpg"]
    results = []
    with FixtureServer(tools.fixture, src) as server:
        url_list = write_lists(os.path.join(workdir, "verify-urls.txt"), [server.url(n) for n in names])
        outs = {}
        for key, argv in (("ef", tools.edgefetch_cmd(url_list, os.path.join(workdir, "v-ef"),
                                                     operator="tutorial")),
                          ("seq", tools.lesson_cmd("lesson_sequential.py", url_list,
                                                   os.path.join(workdir, "v-seq"))),
                          ("async", tools.lesson_cmd("lesson_asyncio.py", url_list,
                                                     os.path.join(workdir, "v-async")))):
            measure(argv, tools.env, label=f"kernel check {key}")
            outs[key] = argv[-1] if key != "ef" else os.path.join(workdir, "v-ef")
    for name in names:
        png = os.path.splitext(name)[0] + ".png"
        for key in ("seq", "async"):
            proc = subprocess.run([tools.python, os.path.join(HERE, "lesson_kernel.py"), "compare",
                                   os.path.join(outs["ef"], png), os.path.join(outs[key], png)],
                                  capture_output=True, text=True)
            results.append((name, key, proc.stdout.strip() or proc.stderr.strip()))
    for key in outs:
        shutil.rmtree(outs[key], ignore_errors=True)
    return results


# ---- the rounds ----------------------------------------------------------------

class Results:
    def __init__(self):
        self.runs = {}   # (workload, key) -> list of dicts (one per round)
        self.csv = []    # (workload, contender, round, metric, value, unit)
        self.labels = {}

    def add(self, workload, row, round_no, result, items):
        self.runs.setdefault((workload, row.key), []).append(result)
        self.labels[(workload, row.key)] = row.label
        self.csv += [
            (workload, row.key, round_no, "wall_s", f"{result['wall']:.4f}", "s"),
            (workload, row.key, round_no, "cpu_s", f"{result['cpu_s']:.4f}", "s"),
            (workload, row.key, round_no, "peak_rss_tree_kib", str(result["rss_kb"]), "KiB"),
            (workload, row.key, round_no, "maxrss_kib", str(result["maxrss_kb"]), "KiB"),
            (workload, row.key, round_no, "items", str(items), ""),
        ]

    def summarize(self, workload, rows, bounds=None):
        """Median rows for the chart and for readers of the CSV."""
        for row in rows:
            walls = self.walls(workload, row.key)
            if not walls:
                continue
            rss = self.rss(workload, row.key)
            out = [("label", row.label, ""), ("family", row.family, ""),
                   ("wall_median_s", f"{median(walls):.4f}", "s"),
                   ("wall_min_s", f"{min(walls):.4f}", "s"),
                   ("wall_max_s", f"{max(walls):.4f}", "s"),
                   ("peak_rss_median_kib", f"{median(rss):.0f}", "KiB")]
            if row.baseline is not None:
                ratios = self.ratios(workload, row.key, row.baseline)
                out += [("baseline", row.baseline, ""),
                        ("ratio_median", f"{median(ratios):.4f}", "x"),
                        ("ratio_min", f"{min(ratios):.4f}", "x"),
                        ("ratio_max", f"{max(ratios):.4f}", "x")]
            if bounds and row.key in bounds:
                out.append(("lower_bound_s", f"{bounds[row.key][0]:.4f}", "s"))
                out.append(("over_lower_bound", f"{median(walls) / bounds[row.key][0]:.4f}", "x"))
            self.csv += [(workload, row.key, "median", m, v, u) for m, v, u in out]

    def walls(self, workload, key):
        return [r["wall"] for r in self.runs.get((workload, key), [])]

    def rss(self, workload, key):
        return [r["rss_kb"] for r in self.runs.get((workload, key), [])]

    def ratios(self, workload, key, baseline):
        return [a / b for a, b in zip(self.walls(workload, key), self.walls(workload, baseline))]


def run_process_row(tools, row, url_list, out, expected):
    result = measure(row.make(url_list, out), tools.env, label=row.label)
    written = count_files(out, ".png")
    if written != expected:
        raise RunFailed(f"{row.label} wrote {written} PNGs, expected {expected}")
    return result


def check_downloads(tool, dl_dir, expected_sizes):
    for name, size in expected_sizes.items():
        try:
            got = os.path.getsize(os.path.join(dl_dir, name))
        except OSError:
            raise RunFailed(f"{tool} did not write {name}") from None
        if got != size:
            raise RunFailed(f"{tool} wrote {name} with {got} bytes, expected {size}")
    extra = count_files(dl_dir) - len(expected_sizes)
    if extra:
        raise RunFailed(f"{tool} left {extra} extra files in {dl_dir}")


def run_rounds(tools, results, workload, rows, slices, server, workdir, compose=True,
               vips_sample=None, weights=None):
    """Interleaved rounds. slices[r] = names fetched in round r. Process rows
    run for real. Pipeline rows run for real unless `compose`; then each is its
    own download stage + the round's shared vips stage, run on `vips_sample`
    of the round's files (an even spread by `weights`, e.g. megapixels) and
    scaled by their share of the round's total weight (file count without
    `weights`)."""
    root = server.root
    for r, names in enumerate(slices):
        urls = [server.url(n) for n in names]
        url_list = write_lists(os.path.join(workdir, f"{workload}-round{r + 1}.txt"), urls)
        sizes = {n: os.path.getsize(os.path.join(root, n)) for n in names}
        order = rows[r % len(rows):] + rows[:r % len(rows)]
        this_round = {}
        dl_dirs = {}
        for row in order:
            out = os.path.join(workdir, f"{workload}-{row.key}-out")
            if row.kind == "process" or not compose:
                if row.kind == "process":
                    result = run_process_row(tools, row, url_list, out, len(names))
                else:
                    dl = out + "-dl"
                    result = measure(tools.pipeline_cmd(row.tool, url_list, dl, out), tools.env,
                                     label=row.label)
                    check_downloads(row.tool, dl, sizes)
                    written = count_files(out, ".png")
                    if written != len(names):
                        raise RunFailed(f"{row.label} wrote {written} PNGs, expected {len(names)}")
                    shutil.rmtree(dl)
                shutil.rmtree(out)
                this_round[row.key] = result
            else:
                dl = out + "-dl"
                os.makedirs(dl)
                result = measure(tools.download_cmd(row.tool, url_list, dl), tools.env,
                                 label=f"{row.tool} download")
                check_downloads(row.tool, dl, sizes)
                this_round[row.key] = {"download": result}
                dl_dirs[row.key] = dl
        if dl_dirs:
            # The shared vips stage, on the files of one downloader (rotating).
            keys = sorted(dl_dirs)
            source = dl_dirs[keys[r % len(keys)]]
            out = os.path.join(workdir, f"{workload}-vips-out")
            os.makedirs(out)
            weight = (lambda n: weights[n]) if weights else (lambda n: 1.0)
            stage_names = sorted(names)
            names_file = None
            if vips_sample and vips_sample < len(names):
                # An even spread over the round's files by weight (and, as the
                # names alternate, PNG and JPEG alike in workload 3).
                by_weight = sorted(names, key=lambda n: (weight(n), n))
                step = len(names) / vips_sample
                stage_names = [by_weight[int(i * step + step / 2)] for i in range(vips_sample)]
                names_file = os.path.join(workdir, f"{workload}-vips-names")
                with open(names_file, "wb") as f:
                    f.write(b"".join(n.encode() + b"\0" for n in stage_names))
            vips = measure(["sh", "-ec", tools.vips_stage_script(source, out, names_file)],
                           tools.env, label="vips stage")
            written = count_files(out, ".png")
            if written != len(stage_names):
                raise RunFailed(f"vips stage wrote {written} PNGs, expected {len(stage_names)}")
            scale = sum(weight(n) for n in names) / sum(weight(n) for n in stage_names)
            shutil.rmtree(out)
            for key, dl in dl_dirs.items():
                download = this_round[key]["download"]
                this_round[key] = {
                    "wall": download["wall"] + vips["wall"] * scale,
                    "rss_kb": max(download["rss_kb"], vips["rss_kb"]),
                    "maxrss_kb": max(download["maxrss_kb"], vips["maxrss_kb"]),
                    "cpu_s": download["cpu_s"] + vips["cpu_s"] * scale,
                    "download_wall": download["wall"], "vips_wall": vips["wall"] * scale,
                }
                shutil.rmtree(dl)
            results.csv.append((workload, "vips_stage", r + 1, "vips_files_measured",
                                str(len(stage_names)), ""))
        for row in rows:
            result = this_round[row.key]
            results.add(workload, row, r + 1, result, len(names))
            if "download_wall" in result:
                results.csv.append((workload, row.key, r + 1, "download_wall_s",
                                    f"{result['download_wall']:.4f}", "s"))
                results.csv.append((workload, row.key, r + 1, "vips_wall_s",
                                    f"{result['vips_wall']:.4f}", "s"))
        base = this_round["ef"]["wall"]
        log(f"  round {r + 1}: " + ", ".join(
            f"{row.key} {this_round[row.key]['wall']:.2f}s" for row in rows)
            + f"  (edgefetch {base:.2f}s)")


# ---- workload 1: lower bound and sweep ------------------------------------------

def lesson_bound(alone, cpu, slots, workers):
    """bench.py's bound: max(makespan on `slots`, total CPU / workers) + CPU of
    the image whose download ends last."""
    spans = bench.greedy_schedule(alone, slots)
    makespan = max(end for _, end in spans)
    last = max(range(len(alone)), key=lambda i: spans[i][1])
    return max(makespan, sum(cpu) / workers) + cpu[last], makespan, last


def best_slots_sweep(tools, server, names, workdir, rounds):
    url_list = write_lists(os.path.join(workdir, "sweep.txt"), [server.url(n) for n in names])
    walls = {j: [] for j in SWEEP_SLOTS}
    for r in range(rounds):
        order = list(SWEEP_SLOTS) if r % 2 == 0 else list(reversed(SWEEP_SLOTS))
        for j in order:
            out = os.path.join(workdir, f"sweep-{j}")
            walls[j].append(measure(tools.edgefetch_cmd(url_list, out, j), tools.env)["wall"])
            shutil.rmtree(out)
    medians = {j: median(w) for j, w in walls.items()}
    best = min(medians, key=medians.get)
    # Prefer the default when it is within 2 % of the best: not a real gain.
    if medians[SLOTS] <= medians[best] * 1.02:
        best = SLOTS
    return best, medians


# ---- output ---------------------------------------------------------------------

def fmt_mib(kb):
    return f"{kb / 1024:.0f} MiB"


def ratio_cell(ratios):
    if not ratios:
        return ""
    return f"{median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def table(results, workload, rows, extra_header, extra_cells):
    lines = [f"| contender | median wall | min–max | {extra_header} | ÷ edgefetch, per round¹ "
             f"| peak RSS² |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        walls = results.walls(workload, row.key)
        if not walls:
            continue
        ratio = "baseline" if row.baseline is None else ratio_cell(
            results.ratios(workload, row.key, row.baseline))
        label = f"**{row.label}**" if row.key in ("ef", "ef_tut") else row.label
        lines.append(f"| {label} | {median(walls):.2f} s | {min(walls):.2f}–{max(walls):.2f} s | "
                     f"{extra_cells(row, walls)} | {ratio} | {fmt_mib(median(results.rss(workload, row.key)))} |")
    return lines


def update_readme(markdown):
    """Replaces the block between the contenders markers in README.md (adds
    it at the end of the Performance section the first time)."""
    path = os.path.join(ROOT, "README.md")
    begin, end = "<!-- contenders:begin -->", "<!-- contenders:end -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        match = re.search(r"^## Performance\n.*?(?=^## )", text, re.S | re.M)
        if match is None:
            raise RuntimeError("README.md has no '## Performance' section")
        section = match.group(0).rstrip("\n")
        text = text[:match.start()] + section + "\n\n" + block + "\n\n" + text[match.end():]
    bench.write_atomic(path, text)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="Meson build folder (default: build)")
    parser.add_argument("--results", help="where contenders.{csv,md,png} go (default: "
                        "tests/bench/results, or BUILD/bench-quick-results with BENCH_QUICK=1)")
    parser.add_argument("--no-readme", action="store_true",
                        help="do not refresh the table block in README.md (a full run does)")
    parser.add_argument("--only", default="1,2,3", help="workloads to run, e.g. 1,3")
    args = parser.parse_args()

    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    mode = dict(MODES[quick])
    if "BENCH_ROUNDS" in os.environ:
        mode["rounds"] = int(os.environ["BENCH_ROUNDS"])
        if mode["rounds"] < 1:
            parser.error("BENCH_ROUNDS must be at least 1")
    only = {int(w) for w in args.only.split(",")}
    build = os.path.join(ROOT, args.build)
    results_dir = args.results or (os.path.join(build, "bench-quick-results") if quick
                                   else os.path.join(HERE, "results"))
    cache_dir = os.path.join(build, "bench-cache")
    started = time.monotonic()
    when = datetime.datetime.now().astimezone()

    python = python_with(("numpy", "PIL", "httpx", "requests", "cv2"))
    missing = [t for t in ("aria2c", "curl", "wget2", "vips", TIME) if shutil.which(t) is None]
    if python is None or missing:
        sys.exit("contenders: missing " + ", ".join(missing + (
            ["a python3 with numpy, PIL, httpx, requests, cv2"] if python is None else []))
            + " (make bench installs them: aria2 curl wget2 libvips-tools time python3-httpx "
              "python3-requests python3-pil python3-numpy python3-opencv)")
    results = Results()
    notes = []
    with tempfile.TemporaryDirectory(prefix="edgefetch-contenders-") as workdir:
        tools = Tools(build, python, workdir)
        for binary in (tools.edgefetch, tools.fixture, tools.stage_bin):
            if not os.access(binary, os.X_OK):
                sys.exit(f"contenders: {rel(binary)} missing; build first")
        photos_dir = os.path.join(ROOT, "samples", "photos")
        sample_names = sorted(n for n in os.listdir(photos_dir) if n.endswith(".jpg"))
        sample_paths = [os.path.join(photos_dir, n) for n in sample_names]
        log(f"edgefetch vs the alternatives — {when:%Y-%m-%d %H:%M %Z}, {tools.nproc} online CPUs, "
            f"{mode['rounds']} rounds{' (quick)' if quick else ''}")
        versions = tool_versions(tools)
        for line in versions:
            log("  " + line)

        # Inputs first (cached), so generating them is never timed.
        n_photos = mode["rounds"] * mode["photos_per_round"] if 2 in only else 0
        n_small = max(mode["rounds"] * mode["small_per_round"], max(mode["scale_counts"])) \
            if 3 in only else 0
        photo_paths = workloads.ensure_photos(python, cache_dir, photos_dir, n_photos, log) \
            if n_photos else []
        small_paths = workloads.ensure_small(python, cache_dir, photos_dir, n_small, log) \
            if n_small else []

        log("\nchecks: the lesson scripts' kernel against edgefetch --operator tutorial")
        kernel_checks = verify_kernel(tools, workdir, cache_dir)
        for name, key, verdict in kernel_checks:
            log(f"  {name}: edgefetch vs {key}: {verdict}")
        for name, key, verdict in kernel_checks:
            if name.endswith(".png") and verdict != "same":
                sys.exit(f"contenders: the lesson kernel differs from edgefetch on {name}: {verdict}")

        settings = []
        lesson = None
        phase = time.monotonic()
        if 1 in only:
            lesson = run_lesson(tools, results, mode, sample_names, sample_paths, workdir, settings)
            log(f"  workload 1 took {time.monotonic() - phase:.0f} s")
            phase = time.monotonic()
        if 2 in only:
            run_photos(tools, results, mode, photo_paths, workdir, settings)
            log(f"  workload 2 took {time.monotonic() - phase:.0f} s")
            phase = time.monotonic()
        if 3 in only:
            run_small(tools, results, mode, small_paths, workdir, settings, notes)
            log(f"  workload 3 took {time.monotonic() - phase:.0f} s")

    elapsed = time.monotonic() - started
    markdown = render(results, mode, quick, lesson, settings, versions, kernel_checks, notes, when,
                      tools, only, elapsed)
    os.makedirs(results_dir, exist_ok=True)
    csv_path = os.path.join(results_dir, "contenders.csv")
    md_path = os.path.join(results_dir, "contenders.md")
    png_path = os.path.join(results_dir, "contenders.png")
    write_csv(csv_path, results, settings)
    bench.write_atomic(md_path, markdown)
    chart = subprocess.run([python, os.path.join(HERE, "contenders_chart.py"), csv_path, png_path],
                           capture_output=True, text=True)
    if chart.returncode != 0:
        log(f"chart not drawn (python3-matplotlib?): {chart.stderr.strip()[-300:]}")
    if not quick and not args.no_readme and only == {1, 2, 3} and "BENCH_ROUNDS" not in os.environ:
        update_readme(markdown)
        log("README.md: contenders block refreshed")
    log(f"\nwrote {rel(csv_path)}, {rel(md_path)}, {rel(png_path)} in {elapsed:.0f} s\n")
    log(markdown)
    return 0


def python_with(modules):
    seen = []
    for candidate in ("/usr/bin/python3", sys.executable, shutil.which("python3")):
        if not candidate or candidate in seen or not os.path.exists(candidate):
            continue
        seen.append(candidate)
        probe = subprocess.run([candidate, "-c", "import " + ", ".join(modules)],
                               capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def tool_versions(tools):
    def first_line(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    py = subprocess.run([tools.python, "-c", "import sys, httpx, requests, PIL, numpy; "
                         "print(f'Python {sys.version.split()[0]}, httpx {httpx.__version__}, "
                         "requests {requests.__version__}, Pillow {PIL.__version__}, "
                         "numpy {numpy.__version__}')"], capture_output=True, text=True).stdout.strip()
    return [first_line([tools.edgefetch, "--version"]) + f" ({bench.git_revision()})",
            first_line(["aria2c", "--version"]), first_line(["curl", "--version"]),
            first_line(["wget2", "--version"]), first_line(["vips", "--version"]), py]


def run_lesson(tools, results, mode, names, paths, workdir, settings):
    rounds = mode["rounds"]
    log(f"\n[1/3] lesson: the 12 samples, --latency {LESSON_LATENCY} ms, --bandwidth "
        f"{LESSON_BANDWIDTH} B/s per connection")
    settings.append(("lesson", f"fixture --latency {LESSON_LATENCY} --bandwidth {LESSON_BANDWIDTH}; "
                     f"{len(names)} items; {rounds} rounds"))
    with FixtureServer(tools.fixture, os.path.dirname(paths[0]), latency=LESSON_LATENCY,
                       bandwidth=LESSON_BANDWIDTH) as server:
        server.root = os.path.dirname(paths[0])
        urls = [server.url(n) for n in names]
        # What each contender connects to, traced once on two images.
        audit_rows = lesson_contenders(tools, SLOTS)
        audit_started = time.monotonic()
        verdicts = audit_network(tools, audit_rows, urls[:2], workdir)
        log(f"  (network check under strace: {time.monotonic() - audit_started:.0f} s)")
        for label, verdict in verdicts:
            log(f"  network: {label}: {verdict}")
            if verdict.startswith("ELSEWHERE"):
                sys.exit(f"contenders: {label} connected outside 127.0.0.1: {verdict}")
        log(f"  each download alone (urllib), median of {bench.DOWNLOAD_REPEATS}")
        samples = {u: [] for u in urls}
        for _ in range(bench.DOWNLOAD_REPEATS):
            for url in urls:
                samples[url].append(bench.fetch_alone(url)[0])
        alone = [median(samples[u]) for u in urls]
        sobel_rows, _ = bench.stage_bench(tools.stage_bin, paths, "sobel", mode["cpu_repeats"])
        tut_rows, _ = bench.stage_bench(tools.stage_bin, paths, "tutorial", mode["cpu_repeats"])
        cpu = {"sobel": [sobel_rows[p]["total_ms"] / 1e3 for p in paths],
               "tutorial": [tut_rows[p]["total_ms"] / 1e3 for p in paths]}
        best, sweep = best_slots_sweep(tools, server, names, workdir, mode["sweep_rounds"])
        log("  -j sweep (median wall): " + ", ".join(f"-j {j}: {w:.2f} s" for j, w in sweep.items())
            + f" → best -j {best}")
        rows = lesson_contenders(tools, best)
        log(f"  {rounds} interleaved rounds")
        run_rounds(tools, results, "lesson", rows, [names] * rounds, server, workdir,
                   compose=mode["compose_lesson"])
    bounds = {}
    for row in rows:
        slots = max(row.slots, SLOTS) if row.key != "ef_best" else row.slots
        bound, makespan, last = lesson_bound(alone, cpu[row.family], slots, tools.nproc)
        bounds[row.key] = (bound, makespan, slots, names[last], cpu[row.family][last])
    results.summarize("lesson", rows, bounds)
    for j, wall in sweep.items():
        results.csv.append(("lesson", f"sweep_j{j}", "", "wall_median_s", f"{wall:.4f}", "s"))
    for i, name in enumerate(names):
        results.csv.append(("lesson", "download_alone", name, "wall_s", f"{alone[i]:.4f}", "s"))
    return {"rows": rows, "bounds": bounds, "alone": alone, "cpu": cpu, "best": best,
            "sweep": sweep}


def balanced_slices(names, weights, count):
    """Deals names, heaviest first, in snake order into `count` slices of equal
    length with nearly equal total weight."""
    order = sorted(range(len(names)), key=lambda i: -weights[i])
    slices = [[] for _ in range(count)]
    for position, i in enumerate(order):
        lap, offset = divmod(position, count)
        slices[offset if lap % 2 == 0 else count - 1 - offset].append(names[i])
    return slices


def run_photos(tools, results, mode, photo_paths, workdir, settings):
    rounds, per_round = mode["rounds"], mode["photos_per_round"]
    folder = os.path.dirname(photo_paths[0])
    names = [os.path.basename(p) for p in photo_paths]
    mp = [workloads.photo_size(i)[0] * workloads.photo_size(i)[1] / 1e6 for i in range(len(names))]
    slices = balanced_slices(names, mp, rounds)
    log(f"\n[2/3] photos: {len(names)} JPEGs of {min(mp):.1f}–{max(mp):.1f} MP "
        f"({sum(mp):.0f} MP, {sum(os.path.getsize(p) for p in photo_paths) / 1e6:.0f} MB), "
        f"{per_round} per round, no injected latency")
    settings.append(("photos", f"fixture, no latency, no bandwidth cap; {len(names)} photos, "
                     f"{per_round} per round; {rounds} rounds"))
    rows = bulk_contenders(tools)
    with FixtureServer(tools.fixture, folder) as server:
        server.root = folder
        run_rounds(tools, results, "photos", rows, slices, server, workdir,
                   vips_sample=mode["photo_vips_sample"], weights=dict(zip(names, mp)))
    mp_of = dict(zip(names, mp))
    for r, names_r in enumerate(slices):
        results.csv.append(("photos", "slice", r + 1, "megapixels",
                            f"{sum(mp_of[n] for n in names_r):.3f}", "MP"))
    results.summarize("photos", rows)
    results.photos = {"rows": rows, "per_round": per_round,
                      "mp_per_round": median([sum(mp_of[n] for n in s) for s in slices]),
                      "total": len(names), "mp_total": sum(mp)}


def run_small(tools, results, mode, small_paths, workdir, settings, notes):
    rounds, per_round = mode["rounds"], mode["small_per_round"]
    folder = os.path.dirname(small_paths[0])
    names = [os.path.basename(p) for p in small_paths]
    slices = [names[r * per_round:(r + 1) * per_round] for r in range(rounds)]
    log(f"\n[3/3] small: {len(names)} images of 64×64 (PNG and JPEG), {per_round} per round, "
        f"vips stage on {mode['small_vips_sample']} per round scaled; no injected latency")
    settings.append(("small", f"fixture, no latency, no bandwidth cap; {per_round} items per round "
                     f"from {len(names)}; {rounds} rounds; vips stage measured on "
                     f"{mode['small_vips_sample']} files per round and scaled"))
    rows = bulk_contenders(tools)
    with FixtureServer(tools.fixture, folder) as server:
        server.root = folder
        run_rounds(tools, results, "small", rows, slices, server, workdir,
                   vips_sample=mode["small_vips_sample"])
        # Scaling: edgefetch alone, few vs many items, interleaved.
        small_n, large_n = mode["scale_counts"]
        log(f"  scaling: edgefetch on {small_n} vs {large_n} items, {mode['scale_rounds']} rounds")
        lists = {n: write_lists(os.path.join(workdir, f"scale-{n}.txt"),
                                [server.url(x) for x in names[:n]]) for n in (small_n, large_n)}
        scale_rows = {n: Contender(f"ef_{n}", f"edgefetch, {n} items", "sobel", None, "process",
                                   lambda l, o: tools.edgefetch_cmd(l, o)) for n in (small_n, large_n)}
        for r in range(mode["scale_rounds"]):
            for n in ((small_n, large_n) if r % 2 == 0 else (large_n, small_n)):
                out = os.path.join(workdir, f"scale-{n}-out")
                result = run_process_row(tools, scale_rows[n], lists[n], out, n)
                shutil.rmtree(out)
                results.add("small_scaling", scale_rows[n], r + 1, result, n)
                log(f"    round {r + 1}: {n} items {result['wall']:.2f} s, "
                    f"peak RSS {fmt_mib(result['rss_kb'])}")
    results.summarize("small", rows)
    results.summarize("small_scaling", list(scale_rows.values()))
    results.small = {"rows": rows, "per_round": per_round, "total": len(names),
                     "scale": (small_n, large_n), "vips_sample": mode["small_vips_sample"]}


def render(results, mode, quick, lesson, settings, versions, kernel_checks, notes, when, tools, only,
           elapsed):
    md = []
    command = ("BENCH_QUICK=1 " if quick else "") + "python3 tests/bench/contenders.py"
    md.append(f"Run: `{command}` ({'quick' if quick else '`make bench`'}), {when:%Y-%m-%d %H:%M %Z}, "
              f"{elapsed / 60:.1f} min; `nproc` = {tools.nproc} ({bench.cpu_model()}), "
              f"{platform.system()} {platform.release()}. {mode['rounds']} interleaved rounds "
              f"(order rotated each round); medians. Versions: " + "; ".join(versions) + ".")
    md.append("")
    if lesson:
        rows, bounds = lesson["rows"], lesson["bounds"]
        ef_bound = bounds["ef"][0]
        md.append(f"**Workload 1, the lesson**: the 12 samples (1620×1080 JPEG, 2.3 MB), fixture "
                  f"`--latency {LESSON_LATENCY}` (ms to first byte, fixed per image) "
                  f"`--bandwidth {LESSON_BANDWIDTH}` (B/s per connection). Lower bound with "
                  f"{SLOTS} slots: **{ef_bound:.2f} s** (network makespan {bounds['ef'][1]:.2f} s "
                  f"+ CPU of the last image to arrive, {bounds['ef'][3]}, "
                  f"{bounds['ef'][4] * 1e3:.0f} ms; the method of `bench.py`). -j sweep: "
                  + ", ".join(f"-j {j} {w:.2f} s" for j, w in lesson["sweep"].items()) + ".")
        md.append("")

        def lesson_cells(row, walls):
            b = bounds[row.key]
            return f"{median(walls) / b[0]:.2f}× of {b[0]:.2f} s ({b[2]} slots)"
        md += table(results, "lesson", rows, "÷ lower bound", lesson_cells)
        md.append("")
        if mode["compose_lesson"]:
            md.append("(Quick mode: the pipelines here are composed from their download stage and "
                      "one shared vips stage per round, as in workloads 2 and 3.)")
            md.append("")
    if 2 in only and hasattr(results, "photos"):
        p = results.photos
        md.append(f"**Workload 2, photos**: {p['total']} JPEG photos of 2–12 MP made from the samples "
                  f"({p['mp_total']:.0f} MP in all), fixture with no latency and no bandwidth cap. "
                  f"Each round fetches {p['per_round']} of them (~{p['mp_per_round']:.0f} MP; "
                  f"over the {mode['rounds']} rounds every contender does all {p['total']}). "
                  f"Pipelines: own download stage + the round's shared `vips sobel` stage, run "
                  f"on {mode['photo_vips_sample']} of the round's photos (spread over the sizes) "
                  f"and scaled by their share of the round's megapixels.")
        md.append("")

        def photo_cells(row, walls):
            return (f"{p['per_round'] / median(walls):.1f} img/s, "
                    f"{p['mp_per_round'] / median(walls):.0f} MP/s")
        md += table(results, "photos", p["rows"], "throughput", photo_cells)
        md.append("")
    if 3 in only and hasattr(results, "small"):
        s = results.small
        md.append(f"**Workload 3, many small**: {s['total']} images of 64×64 (half PNG, half JPEG q90), "
                  f"fixture with no latency. Each round fetches its own {s['per_round']}. The vips "
                  f"stage (one process per file) runs on {s['vips_sample']} of them per round and is "
                  f"scaled to {s['per_round']}.")
        md.append("")

        def small_cells(row, walls):
            return f"{s['per_round'] / median(walls):.0f} items/s, {median(walls) / s['per_round'] * 1e3:.2f} ms/item"
        md += table(results, "small", s["rows"], "throughput", small_cells)
        md.append("")
        md.append("| edgefetch alone | median wall | ms/item | peak RSS median (min–max) |")
        md.append("|---|---:|---:|---:|")
        for n in s["scale"]:
            walls = results.walls("small_scaling", f"ef_{n}")
            rss = results.rss("small_scaling", f"ef_{n}")
            md.append(f"| {n} items | {median(walls):.2f} s | {median(walls) / n * 1e3:.3f} | "
                      f"{fmt_mib(median(rss))} ({fmt_mib(min(rss))}–{fmt_mib(max(rss))}) |")
        md.append("")
    md.append("¹ Contender wall / edgefetch wall in the same round (sobel for the pipelines, "
              "`--operator tutorial` for the lesson's scripts), median and range over rounds: "
              "above 1 means edgefetch was faster. "
              "² Peak of the summed RSS of the whole process tree (sampled every 50 ms, at least "
              "the largest process's maximum RSS from `/usr/bin/time`), median over rounds; for "
              "a pipeline the larger of "
              "its two stages.")
    checks = "; ".join(f"{name} vs {key}: {verdict}" for name, key, verdict in kernel_checks)
    md.append("")
    differ = any(verdict != "same" for _, _, verdict in kernel_checks)
    md.append(f"Kernel check (edgefetch `--operator tutorial` vs the scripts' output): {checks}."
              + (" A JPEG that differs was decoded differently (Pillow's libjpeg build vs ours)."
                 if differ else " Identical outputs on every input."))
    for note in notes:
        md.append("")
        md.append(note)
    return "\n".join(md) + "\n"


def write_csv(path, results, settings):
    lines = []

    class Sink:
        def write(self, text):
            lines.append(text)
    writer = csv.writer(Sink(), lineterminator="\n")
    writer.writerow(("workload", "contender", "round", "metric", "value", "unit"))
    for workload, text in settings:
        writer.writerow((workload, "", "", "settings", text, ""))
    writer.writerows(results.csv)
    bench.write_atomic(path, "".join(lines))


if __name__ == "__main__":
    sys.exit(main())
