#!/usr/bin/env python3
"""Signals: SIGINT and SIGTERM mid-run, and a second signal.

What a signal must do: stop starting downloads, cancel what waits, finish or
drop what is in flight, close every handle (uv_loop_close returns 0, else
edgefetch says "event loop not closed cleanly" and exits 2: harness.finish
checks it), keep finished outputs whole, remove temporary files, and exit
128 + the signal; a second signal exits at once. No fixed sleeps: each
signal follows the first finished output, so the cases hold however slow the
binary runs (valgrind_shutdown_signals runs `signals` under Valgrind, 20-50
times slower). A signal during a long decode: test_memory_budget.py.

Run one case: test_signals.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import os
import json
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, finish, main_for, tool, ndjson, per_path, read, run, start, tree)
from pngutil import is_complete_png, write_png  # noqa: E402


def wait_for_first_output(proc, out, deadline_s=120):
    """Returns once `out` holds a finished output (not a dot-file temporary)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"the run ended (exit {proc.returncode}) before the signal")
        if any(not n.startswith(".") for n in (tree(out) if os.path.isdir(out) else [])):
            return
        time.sleep(0.02)
    raise Failure(f"no output within {deadline_s} s")


def signal_mid_run(ws, urls, reference, sig, want, extra=()):
    """Runs the list at -j 2, sends `sig` after the first output; checks the
    exit, the cancelled items and that every output left is whole and the
    reference run's; returns (stdout, stderr, the outputs written)."""
    out = os.path.join(ws.tmp, f"out-{want}")
    proc = start(["-i", urls, "-o", out, "-j", "2", *extra])
    try:
        wait_for_first_output(proc, out)
        proc.send_signal(sig)
        rc, stdout, err = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(rc == want, f"{sig.name}: exit {rc}, want {want}: {err}")
    check("internal error" not in err, f"{sig.name}: {err}")
    check("cancelled" in err, f"{sig.name}: no word of cancelled items: {err}")
    produced = tree(out)
    check(0 < len(produced) < len(PHOTOS), f"{sig.name}: produced {produced}")
    for name in produced:
        check(not name.startswith(".") and name.endswith(".png"), f"{sig.name}: left {name}")
        check(read(os.path.join(out, name)) == read(os.path.join(reference, name)),
              f"{sig.name}: {name} is not the complete output")
    return stdout, err, produced


def test_signals():
    """SIGINT/SIGTERM mid-run with --json: exit 130/143, finished outputs
    kept and whole, no temporary files left, the rest cancelled, and the
    summary names the signal and the exit code."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="400") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS])
        reference = os.path.join(ws.tmp, "reference")
        rc, _, err = run(["-i", urls, "-o", reference, "-j", "12"])
        check(rc == 0, f"reference run: {rc} {err}")
        for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            stdout, _, produced = signal_mid_run(ws, urls, reference, sig, want, ["--json"])
            objs = ndjson(stdout)
            summary = objs[-1]
            check(all(o["type"] == "item" for o in objs[:-1]), f"{sig.name}: {objs[:-1]}")
            check(summary["items"] == len(objs) - 1 == len(PHOTOS),
                  f"{sig.name}: {len(objs) - 1} item lines for {len(PHOTOS)} URLs: {summary}")
            # The outputs there are the items reported ok, no more, no
            # fewer (a finished item on its way back from its worker was
            # once reported cancelled, its output there: seen under
            # Valgrind; test_stop_race.py provokes that moment).
            ok_outputs = sorted(os.path.basename(o["output"]) for o in objs[:-1]
                                if o["status"] == "ok")
            check(summary["ok"] == len(produced) and ok_outputs == sorted(produced),
                  f"{sig.name}: ok {summary['ok']} {ok_outputs}, outputs {produced}")
            check(summary["type"] == "summary" and summary["signal"] == sig.name
                  and summary["exit_code"] == want, f"{sig.name}: summary {summary}")
            cancelled = [o for o in objs[:-1] if o["status"] == "cancelled"]
            check(summary["cancelled"] == len(cancelled) > 0, f"{sig.name}: {summary}")


def test_after_first_output():
    """SIGINT and SIGTERM after the first output: exit 130/143, the outputs
    there are whole, no temporary file is left, the rest is cancelled."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="400") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS])
        reference = os.path.join(ws.tmp, "reference")
        rc, _, err = run(["-i", urls, "-o", reference, "-j", "4"])
        check(rc == 0, f"reference run: {rc} {err}")
        for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            signal_mid_run(ws, urls, reference, sig, want)


def test_second_signal():
    """SIGINT stops gracefully; a second SIGINT while that stop waits exits
    at once with 130, printing nothing more and leaving no half-written
    final name."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        # What a first signal must wait for: an AVIF decode, the one stage
        # with no cancel point inside it (libavif has no hook: README,
        # Safety). A noisy 4:4:4 AVIF at quantizer 0 decodes for about 1.5 s
        # on one core here (every other stage stops within tens of
        # milliseconds: test_cancel_cpu.py, test_memory_budget.py).
        width, height = 2400, 1800
        noise = random.Random(7).randbytes(width * height * 3)
        ws.write("noise.png", write_png(width, height,
                                        [noise[y * width * 3:(y + 1) * width * 3]
                                         for y in range(height)], channels=3))
        del noise
        tool("avifenc", "-s", "10", "--min", "0", "--max", "0", "-y", "444", "noise.png",
             "big.avif", cwd=ws.www)
        os.unlink(os.path.join(ws.www, "noise.png"))
        names = [f"s{i}.jpg" for i in range(6)]
        for name in names:
            ws.photo(name)
        lst = ws.list_file([server.url("big.avif")] + [server.url(n + "?delay=5000") for n in names])
        args = [EDGEFETCH, "--json", "-i", lst, "-o", ws.out, "-w", "1", "-j", "2",
                "--max-size", "100M"]

        # The graceful path prints the --json summary; the second signal's
        # exit does not. An attempt where the decode was over before the
        # second signal came (a summary printed) says nothing about the
        # second signal and is made again, with less waiting.
        missed = []
        for decode_wait_s in (0.3, 0.15, 0.05):
            server.reset()
            shutil.rmtree(ws.out, ignore_errors=True)
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # big.avif's freed download slot starts s1 (-j 2, the other slot
            # waits 5 s on s0): big.avif is on the worker.
            deadline = time.monotonic() + 60
            while "/s1.jpg" not in per_path(server):
                check(time.monotonic() < deadline and proc.poll() is None,
                      "big.avif was not downloaded")
                time.sleep(0.01)
            time.sleep(decode_wait_s)
            check(proc.poll() is None, f"ended (exit {proc.returncode}) before the signals")
            proc.send_signal(signal.SIGINT)
            time.sleep(0.1)
            second = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
            took = time.monotonic() - second
            err = err.decode(errors="replace")
            records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
            if not any(r.get("type") == "summary" for r in records):
                break
            missed.append(f"after {decode_wait_s} s: exit {proc.returncode}, "
                          + ", ".join(f"{r.get('url', '')[-12:]} {r.get('status')}" for r in records))
        else:
            raise Failure("every attempt ended gracefully (a summary printed) although a second"
                          " SIGINT came during the decode: was it ignored? " + " | ".join(missed))
        if missed:
            print(f"attempts where the decode was over before the second signal: {missed}")
        check_clean_exit(err, "edgefetch")
        check(proc.returncode == 130, f"exit {proc.returncode}, want 130: {err}")
        check("big.png" not in tree(ws.out), f"big.png written after two signals: {tree(ws.out)}")
        check(took < 5, f"the second SIGINT took {took:.2f} s to end the run")
        for name in tree(ws.out):
            if not name.startswith("."):
                check(is_complete_png(read(os.path.join(ws.out, name))), f"half-written {name}")
        leftovers = [n for n in tree(ws.out) if n.startswith(".")]
        print(f"after the second signal: outputs {tree(ws.out)}, temporary files {leftovers}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
