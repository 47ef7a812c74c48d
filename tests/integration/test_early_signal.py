#!/usr/bin/env python3
"""SIGTERM before the run: while the URL list is awaited on a pipe.

The run's own signal handlers come with the run; the list is read before
it (its header and first row for a streamed list, the whole list for the
readable layout), and a pipe may stay silent for ever. The tool's handler
is in place before anything reads the list, so a SIGTERM at that moment is
the same graceful stop as during the run: exit 143, the report on stderr
and the --json summary, the rows read so far reported cancelled, no output
and no request. (It used to end the process by the signal's default
action: returncode -15, nothing said.)

  silent_pipe          -i - from a producer that writes nothing and keeps
                       its end open: --layout positional with tar output,
                       --layout positional, and the readable layout
  rows_then_silence    the readable layout (which reads its list whole
                       first): two rows, then silence; both reported
                       cancelled, none fetched

Run one case: test_early_signal.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, check_stopped, main_for, quiescent, signal_and_finish,
                     tree)


def sigterm_while_reading(args, lines=()):
    """Starts edgefetch with -i - on a pipe that gets `lines` and then stays
    open and silent; sends SIGTERM once the process is blocked on it.
    Returns (returncode, the --json objects, stderr)."""
    proc = subprocess.Popen([EDGEFETCH, "--json", "-i", "-", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in lines:
            proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()
        # Blocked reading the list (every thread asleep, no CPU spent): the
        # moment the old code left to the signal's default action.
        quiescent(proc.pid)
        # The producer's end stays open until the process is gone: the run
        # must end by the signal, not by the end of its list.
        out, err, _ = signal_and_finish(proc, timeout=30)
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
    check_clean_exit(err, " ".join(args))
    objs = [json.loads(line) for line in out.splitlines()]
    return proc.returncode, objs, err


def check_run_stopped(rc, objs, err, items, what):
    check_stopped(rc, err, signal.SIGTERM, what, report=True)
    check(objs and objs[-1]["type"] == "summary", f"{what}: no --json summary: {objs}")
    summary = objs[-1]
    check(summary["signal"] == "SIGTERM" and summary["exit_code"] == 143, f"{what}: {summary}")
    check(summary["items"] == summary["cancelled"] == len(items) == len(objs) - 1
          and summary["ok"] == 0, f"{what}: {summary}, items {objs[:-1]}")
    check(all(o["type"] == "item" and o["status"] == "cancelled" for o in objs[:-1]),
          f"{what}: {objs[:-1]}")
    check(sorted(o["url"] for o in objs[:-1]) == sorted(items), f"{what}: {objs[:-1]}")


def test_silent_pipe():
    with Workspace() as ws:
        for name, extra in (("tar", ["--layout", "positional", "--output-format", "tar"]),
                            ("positional", ["--layout", "positional"]),
                            ("readable", [])):
            out = os.path.join(ws.tmp, f"out-{name}")
            rc, objs, err = sigterm_while_reading(["-o", out, *extra])
            check_run_stopped(rc, objs, err, [], name)
            check(tree(out) == [], f"{name}: left {tree(out)}")


def test_rows_then_silence():
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url(n) for n in PHOTOS[:2]]
        rc, objs, err = sigterm_while_reading(["-o", ws.out], urls)
        check_run_stopped(rc, objs, err, urls, "readable")
        check(tree(ws.out) == [], f"left {tree(ws.out)}")
        check(server.stats()["requests"] == 0, f"fetched: {server.stats()}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
