#!/usr/bin/env python3
"""Run one libFuzzer harness for a while, starting from the committed corpus.

New inputs go to a working corpus (a temporary folder unless --work-corpus is
given, as `make fuzz` does so that runs build on each other); the committed
seeds under tests/fuzz/corpus/ are only read. Crash reproducers land in
--artifacts (default: the current folder) and are named in the output. Any
crash, leak, sanitizer report, timeout or out-of-memory exits 1, so the test
fails (libFuzzer's own status for those is 77, 70 or 71, and 77 is SKIP to
meson). One summary line gives the executions, for the CI log.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzzer", required=True)
    ap.add_argument("--corpus", required=True, help="committed seeds (read only)")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--work-corpus", help="persistent folder for new inputs")
    ap.add_argument("--artifacts", default=os.getcwd())
    ap.add_argument("--keep-going", action="store_true",
                    help="fork mode: record crashes and go on (for long runs)")
    args = ap.parse_args()

    seconds = int(os.environ.get("FUZZ_SECONDS", args.seconds))
    tmp = None
    work = args.work_corpus
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgefetch-fuzz-")
        work = tmp.name
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.artifacts, exist_ok=True)
    env = dict(os.environ)
    # Any UBSan report is a failure, with a stack to find it.
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    cmd = [args.fuzzer,
           f"-max_total_time={seconds}",
           "-timeout=20",           # one input taking longer is a finding
           "-rss_limit_mb=2560",    # the harness caps images at 4 MP
           "-max_len=1048576",
           "-print_final_stats=1",
           f"-artifact_prefix={os.path.join(args.artifacts, '')}",
           work, args.corpus]
    if args.keep_going:
        cmd[1:1] = ["-fork=1", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"]
    print(" ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    log = proc.stderr
    with open(os.path.join(args.artifacts, os.path.basename(args.fuzzer) + ".log"), "w") as f:
        f.write(log)
    sys.stderr.write(log[-20000:] if proc.returncode != 0 else "")
    # A one-line summary for the test log: executions and coverage.
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    execs += re.findall(r"#(\d+): cov: \d+", log)  # fork mode
    cov = re.findall(r"#\d+:?\s+(?:\w+\s+)?cov: (\d+) ft: (\d+)", log)
    crashes = re.findall(r"oom/timeout/crash: \d+/\d+/(\d+)", log)  # fork mode
    crashes = crashes or (["1"] if "Test unit written to" in log else [])
    units = len(os.listdir(work))
    summary = f"{os.path.basename(args.fuzzer)}: {seconds} s"
    if execs:
        summary += f", {int(execs[-1])} executions"
    if cov:
        summary += f", cov {cov[-1][0]} ft {cov[-1][1]}"
    if crashes:
        summary += f", {crashes[-1]} crashes"
    summary += f", {units} corpus units, exit {proc.returncode}"
    print(summary)
    reproducers = re.findall(r"Test unit written to (\S+)", log)
    for path in reproducers:
        print(f"finding: {path}\n  reproduce: {args.fuzzer} {path}")
    if tmp is not None:
        tmp.cleanup()
    # In fork mode libFuzzer goes on past crashes and may still exit 0.
    if args.keep_going and crashes and int(crashes[-1]) > 0:
        return 1
    return 1 if proc.returncode != 0 or reproducers else 0


if __name__ == "__main__":
    sys.exit(main())
