#!/usr/bin/env python3
"""A signal during the operator (issue 16 item 3), through the real binary
against the fixture on 127.0.0.1. Every image is made here.

    test_cancel_cpu.py CASE   (meson runs each case as cancel_cpu_CASE)

The image is a 16 MP textured gray PNG (test_memory_budget's
large_gray_png): it decodes in a fraction of a second, and Canny with a wide
blur (--sigma 8) then runs for a few seconds. First a run without a signal
gives the item's decode and operator times (--json times_ms); then the same
run gets SIGTERM once the body is sent, the decode's time and a fifth of the
operator's later. The item must be reported cancelled at the edge stage
("cancelled by signal while running the operator"), the exit must be 143,
no output may be left, and the time from the signal to the exit must be
under half the operator's time in the run without it: the operator polls
the flag every few dozen rows, so it stops within milliseconds, where
before it ran to its end (and encoded) first. No absolute time limit: both
runs see the same machine. Should the machine be so slow that the signal
still finds the item decoding, the run is repeated with a later signal
(three tries).

operator_w1: -w 1 (the operator on the worker alone).
operator_w2: -w 2 (the operator's bands shared by both workers).
operator_sequential: --sequential.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (EDGEFETCH, FIXTURE, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, main_for, signal_and_finish, wait_body_sent)
from pngutil import large_gray_png  # noqa: E402

SIDE = 4000
ARGS = ["--operator", "canny", "--sigma", "8"]
TRIES = 3


def items_of(out):
    records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return [r for r in records if r.get("type") == "item"]


def reference(ws, server, url, mode_args):
    """decode and operator milliseconds of the item, run to its end."""
    proc = subprocess.run([EDGEFETCH, "--json", "-i", ws.list_file([url], name="ref.txt"),
                           "-o", ws.out]
                          + ARGS + mode_args, capture_output=True, timeout=300)
    check(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]!r}")
    check_clean_exit(proc.stderr, "edgefetch")
    items = items_of(proc.stdout)
    check(len(items) == 1 and items[0]["status"] == "ok", f"{items}")
    times = items[0]["times_ms"]
    for name in os.listdir(ws.out):
        os.unlink(os.path.join(ws.out, name))
    return times["decode"], times["operator"]


def signalled(ws, server, url, mode_args, delay, attempt):
    """Runs the item, sends SIGTERM `delay` s after the body was sent;
    returns (exit code, items, seconds from the signal to the exit)."""
    sent_before = server.stats()["bytes_sent"]
    urls = ws.list_file([url], name=f"try{attempt}.txt")
    proc = subprocess.Popen([EDGEFETCH, "--json", "-i", urls, "-o", ws.out]
                            + ARGS + mode_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_body_sent(server, proc, sent_before)
        time.sleep(delay)
        check(proc.poll() is None, f"ended (exit {proc.returncode}) before the signal")
        out, err, took = signal_and_finish(proc, timeout=120, still="no exit 120 s after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check_clean_exit(err, "edgefetch")
    return proc.returncode, items_of(out), took, err.decode(errors="replace")


def sigterm_mid_operator(mode_args):
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("big.png", large_gray_png(SIDE, SIDE))
        url = server.url("big.png")
        decode_ms, operator_ms = reference(ws, server, url, mode_args)
        print(f"without a signal: decode {decode_ms} ms, operator {operator_ms} ms")
        check(operator_ms > 4 * decode_ms, "the operator is not the long stage here")
        for attempt in range(TRIES):
            delay = (decode_ms + (0.2 + 0.1 * attempt) * operator_ms) / 1000
            code, items, took, err = signalled(ws, server, url, mode_args, delay, attempt)
            print(f"try {attempt + 1}: signal {delay:.3f} s after the body, exit {code} "
                  f"{took:.3f} s later")
            check(code == 143, f"exit {code}: {err}")
            check(len(items) == 1 and items[0]["status"] == "cancelled", f"{items}")
            if items[0]["error"]["stage"] == "decode":
                continue  # the signal came early on a slow machine: later
            check(items[0]["error"] == {"kind": "cancelled", "stage": "edge",
                                        "message": "cancelled by signal while running the "
                                                   "operator"}, f"{items[0]}")
            check(took * 1000 < 0.5 * operator_ms,
                  f"SIGTERM to exit took {took * 1000:.0f} ms, the operator "
                  f"{operator_ms} ms: it did not stop")
            ws.check_tree([])
            return
        raise Failure(f"the signal never came during the operator in {TRIES} tries")


def test_operator_w1():
    sigterm_mid_operator(["-w", "1"])


def test_operator_w2():
    sigterm_mid_operator(["-w", "2"])


def test_operator_sequential():
    sigterm_mid_operator(["--sequential"])


if __name__ == "__main__":
    sys.exit(main_for(globals()))
