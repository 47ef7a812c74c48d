#!/usr/bin/env python3
"""The CPU stage, this build against a base build (issue 16), interleaved.

  1. ms per image per stage on one core: edgefetch-stage-bench (decode,
     operator, PNG encode; CPU time of the thread, median of --repeat in the
     process) of the base build and of this one, alternating, on the 12 MP
     photo (tests/bench/imaging_compare.py's 4000x3000 mosaic of the samples,
     JPEG q90) and on the 12 samples; per stage the median over rounds, and
     the base/this ratio.
  2. the 200-photo workload (tests/bench/workloads.py: JPEGs of 2-12 MP made
     from the samples, cached in BUILD/bench-cache/photos): each round runs
     the base binary and this one (order alternating) on the same photos
     served by the fixture server on 127.0.0.1, default -w (all online
     CPUs), writing the PNGs; images/s and MP/s from the wall clock.
  3. outputs: this build's PNGs of a slice of the photos are byte-identical
     between --sequential and --concurrent and between -w 1 and -w 2.

A base build is made from another revision without touching this worktree:
    git archive main | tar -x -C /tmp/encoder-base
    (cd /tmp/encoder-base && meson setup build --buildtype=release && meson compile -C build)
    /usr/bin/python3 tests/bench/encoder_ab.py --base /tmp/encoder-base/build
Writes tests/bench/results/encoder_ab.md and .csv (or --results DIR). Needs
python3-opencv for generating the photos the first time. Never talks to
anything but 127.0.0.1.
"""
import argparse
import csv
import datetime
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixture"))
from bench import ROOT, cpu_model, git_revision  # noqa: E402
from fixture_server import FixtureServer  # noqa: E402
import workloads  # noqa: E402

STAGES = ("decode_ms", "operator_ms", "encode_ms", "total_ms")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def stage_bench(build, files, repeat):
    """The TOTAL row of edgefetch-stage-bench over `files`: {stage: ms}, png_bytes, MP."""
    binary = os.path.join(build, "tests", "bench", "edgefetch-stage-bench")
    out = subprocess.run([binary, "--repeat", str(repeat), "--"] + files,
                         capture_output=True, text=True, check=True).stdout
    for row in csv.DictReader(out.splitlines()):
        if row["file"] == "TOTAL":
            return ({k: float(row[k]) for k in STAGES}, int(row["png_bytes"]),
                    float(row["megapixels"]))
    raise RuntimeError("stage bench printed no TOTAL row")


def run_edgefetch(build, server, names, out_dir, extra=()):
    binary = os.path.join(build, "cmd", "edgefetch")
    urls = [server.url(n) for n in names]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([binary, "-q", "-o", out_dir, *extra] + urls,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} failed ({proc.returncode}): {proc.stderr.strip()[:400]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def same_tree(a, b):
    names_a, names_b = sorted(os.listdir(a)), sorted(os.listdir(b))
    if names_a != names_b or not names_a:
        return False
    match, mismatch, errors = filecmp.cmpfiles(a, b, names_a, shallow=False)
    return not mismatch and not errors


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="this build (default: build)")
    parser.add_argument("--base", required=True, help="the base build folder")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="stage-bench repeats per round")
    parser.add_argument("--photos", type=int, default=200, help="photos in workload 2")
    parser.add_argument("--workload-rounds", type=int, default=3)
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--note", default="", help="a line for the report (e.g. the load)")
    args = parser.parse_args()
    build = os.path.join(ROOT, args.build)
    base = os.path.abspath(args.base)
    fixture = os.path.join(build, "tests", "fixture", "edgefetch-fixture")
    when = datetime.datetime.now().astimezone()
    samples_dir = os.path.join(ROOT, "samples", "photos")
    samples = sorted(os.path.join(samples_dir, n) for n in os.listdir(samples_dir)
                     if n.endswith(".jpg"))
    python = "/usr/bin/python3"
    csv_rows = []
    lines = []

    with tempfile.TemporaryDirectory(prefix="edgefetch-encoder-ab-") as workdir:
        large = os.path.join(workdir, "photo-12mp.jpg")
        subprocess.run([python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                        "from imaging_compare import make_large; "
                        "make_large(sys.argv[3:], sys.argv[2])", HERE, large] + samples,
                       check=True)
        sets = {"12 MP photo": [large], "12 samples": samples}

        # -- 1. stages, one core ----------------------------------------------
        stage_runs = {}  # (set, build) -> [ {stage: ms} ]
        png_bytes = {}
        megapixels = {}
        builds = {"base": base, "this": build}
        for r in range(args.rounds):
            order = ["base", "this"] if r % 2 == 0 else ["this", "base"]
            log(f"stages round {r + 1}/{args.rounds}: {', '.join(order)}")
            for set_name, files in sets.items():
                for which in order:
                    ms, size, mp = stage_bench(builds[which], files, args.repeat)
                    stage_runs.setdefault((set_name, which), []).append(ms)
                    png_bytes[(set_name, which)] = size
                    megapixels[set_name] = mp

        # -- 2. the photo workload, all cores -----------------------------------
        cache_dir = os.path.join(build, "bench-cache")
        photos = workloads.ensure_photos(python, cache_dir, samples_dir, args.photos, log)
        folder = os.path.dirname(photos[0])
        names = [os.path.basename(p) for p in photos]
        photo_mp = sum(workloads.photo_size(i)[0] * workloads.photo_size(i)[1]
                       for i in range(len(names))) / 1e6
        walls = {"base": [], "this": []}
        cpus_used = {"base": [], "this": []}
        with FixtureServer(fixture, folder) as server:
            for r in range(args.workload_rounds):
                order = ["base", "this"] if r % 2 == 0 else ["this", "base"]
                log(f"workload round {r + 1}/{args.workload_rounds}: {', '.join(order)}")
                for which in order:
                    out_dir = tempfile.mkdtemp(dir=workdir)
                    wall, cpu = run_edgefetch(builds[which], server, names, out_dir)
                    walls[which].append(wall)
                    cpus_used[which].append(cpu)
                    shutil.rmtree(out_dir)

            # -- 3. byte-identical outputs across modes and worker counts -------
            slice_names = names[:24]
            outs = {}
            for label, extra in (("sequential", ["--sequential"]), ("concurrent", ["--concurrent"]),
                                 ("w1", ["-w", "1"]), ("w2", ["-w", "2"])):
                outs[label] = os.path.join(workdir, "same-" + label)
                os.makedirs(outs[label])
                run_edgefetch(build, server, slice_names, outs[label], extra)
            identical = {
                "--sequential vs --concurrent": same_tree(outs["sequential"], outs["concurrent"]),
                "-w 1 vs -w 2": same_tree(outs["w1"], outs["w2"]),
                "-w 1 vs --sequential": same_tree(outs["w1"], outs["sequential"]),
            }

    # -- report --------------------------------------------------------------------
    cpus = os.cpu_count() or 1
    lines.append("# The CPU stage: this build against a base build (issue 16)")
    lines.append("")
    lines.append(f"{when:%Y-%m-%d %H:%M %Z}, edgefetch {git_revision()} against {base}, "
                 f"{cpu_model()}, {cpus} online CPUs. {args.note}")
    lines.append("")
    lines.append("Command: `/usr/bin/python3 tests/bench/encoder_ab.py --base BASE/build` "
                 "(the docstring says how to build BASE from main without touching the "
                 "worktree).")
    lines.append("")
    lines.append(f"## One core: ms per image per stage ({args.rounds} interleaved rounds, "
                 f"medians; stage-bench CPU time, median of {args.repeat} in each)")
    lines.append("")
    lines.append("| images | build | decode | operator | PNG encode | total | PNG bytes |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    medians = {}
    for set_name, files in sets.items():
        for which in ("base", "this"):
            runs = stage_runs[(set_name, which)]
            med = {k: statistics.median(run[k] for run in runs) / len(files) for k in STAGES}
            medians[(set_name, which)] = med
            lines.append(f"| {set_name} | {which} | {med['decode_ms']:.1f} | "
                         f"{med['operator_ms']:.1f} | {med['encode_ms']:.1f} | "
                         f"{med['total_ms']:.1f} | {png_bytes[(set_name, which)]} |")
            for k in STAGES:
                csv_rows.append(("stage_ms_per_image", set_name, which, k, f"{med[k]:.3f}"))
        ratio = {k: medians[(set_name, "base")][k] / medians[(set_name, "this")][k]
                 for k in STAGES}
        lines.append(f"| {set_name} | base / this | {ratio['decode_ms']:.2f} | "
                     f"{ratio['operator_ms']:.2f} | {ratio['encode_ms']:.2f} | "
                     f"{ratio['total_ms']:.2f} | "
                     f"{png_bytes[(set_name, 'this')] / png_bytes[(set_name, 'base')]:.3f} |")
    lines.append("")
    lines.append(f"## All cores: the {len(names)}-photo workload ({photo_mp:.0f} MP, "
                 f"{args.workload_rounds} interleaved rounds, medians)")
    lines.append("")
    lines.append("Fixture server on 127.0.0.1, no latency; default -w; wall clock of the "
                 "whole run, PNGs written; CPU = user + sys of the edgefetch process (on a "
                 "shared machine the CPU figures are the steadier ones).")
    lines.append("")
    lines.append("| build | images/s | MP/s | seconds | CPU seconds | ms CPU per image |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for which in ("base", "this"):
        wall = statistics.median(walls[which])
        cpu = statistics.median(cpus_used[which])
        lines.append(f"| {which} | {len(names) / wall:.1f} | {photo_mp / wall:.0f} | {wall:.2f} | "
                     f"{cpu:.2f} | {1e3 * cpu / len(names):.1f} |")
        csv_rows.append(("workload_images_per_s", "photos", which, "images_per_s",
                         f"{len(names) / wall:.3f}"))
        csv_rows.append(("workload_cpu_s", "photos", which, "cpu_s", f"{cpu:.3f}"))
    speedup = statistics.median(walls["base"]) / statistics.median(walls["this"])
    cpu_ratio = statistics.median(cpus_used["base"]) / statistics.median(cpus_used["this"])
    lines.append(f"| this / base | {speedup:.2f}x | | | {cpu_ratio:.2f}x less | |")
    lines.append("")
    lines.append(f"## Outputs ({len(slice_names)} photos, this build)")
    lines.append("")
    for what, same in identical.items():
        lines.append(f"- {what}: {'byte-identical' if same else 'DIFFERENT'}")
        csv_rows.append(("identical", "photos", "this", what, str(same)))
    markdown = "\n".join(lines) + "\n"
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "encoder_ab.md"), "w") as f:
        f.write(markdown)
    with open(os.path.join(args.results, "encoder_ab.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("section", "images", "build", "metric", "value"))
        writer.writerows(csv_rows)
    print(markdown)
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
