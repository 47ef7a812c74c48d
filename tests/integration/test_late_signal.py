#!/usr/bin/env python3
"""A signal after the run has ended, while the --json output is still being
written to a reader that does not read.

The run's libuv signal handles put the signals' default action back when
they close, and the process then still waits for its --json reader: a
SIGTERM at that moment killed it (returncode -15, the summary lost). The
early handler is now back as soon as the run's handles close, and stays
until the process exits.

  flush_once    one SIGTERM once the report is printed and the --json
                writer is blocked on a full pipe: nothing changes, the
                output is whole once read, exit 0 as the summary says
  flush_twice   two SIGTERMs there: the second exits at once, 143
  stopped_then_late  a run a SIGTERM stopped (its one transfer stalled),
                the --json writer then blocked: one more SIGTERM is the
                second and exits at once, 143 (it used to be killed by it;
                taken as a first, it would wait for the reader)

The --json pipe is filled by the case before the run (test_stop_race's
full_pipe), so the writer blocks on its first write, whatever the timing;
the report on stderr (a file) says the run is over.

Run one case: test_late_signal.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, main_for, quiescent, tree)
from pngutil import small_png  # noqa: E402
from harness import (Drain, check_stopped, full_pipe, read, reaped,  # noqa: E402
                     signal_and_finish, signals_pending, wait_hanging)


def run_blocked_after_end(ws, server, signals):
    """Runs edgefetch --json on one URL with stdout a full pipe; once its
    report is out and it waits for the pipe, sends `signals` SIGTERMs, each
    delivered before the next; then reads the pipe. (returncode, the --json
    text, stderr)."""
    read_fd, write_fd = full_pipe()
    err_path = os.path.join(ws.tmp, "stderr")
    with open(err_path, "wb") as err_file:
        proc = subprocess.Popen([EDGEFETCH, "--json", "-o", ws.out, server.url("a.png")],
                                stdout=write_fd, stderr=err_file)
    os.close(write_fd)
    drain = Drain(read_fd)
    try:
        deadline = time.monotonic() + 120
        while b"edge maps in" not in open(err_path, "rb").read():
            check(proc.poll() is None, f"ended before its report: {proc.returncode}")
            check(time.monotonic() < deadline, "no report in 120 s")
            time.sleep(0.05)
        quiescent(proc.pid)  # the --json writer on the full pipe, main joining it
        for _ in range(signals):
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGTERM)
            while proc.poll() is None and signals_pending(proc.pid):
                time.sleep(0.01)
            if proc.poll() is None:
                quiescent(proc.pid)
        drain.start()
        proc.wait(timeout=60)
        out = drain.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read_fd)
    return proc.returncode, out, open(err_path, "rb").read().decode(errors="replace")


def test_stopped_then_late():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.png", small_png())
        read_fd, write_fd = full_pipe()
        err_path = os.path.join(ws.tmp, "stderr")
        with open(err_path, "wb") as err_file:
            proc = subprocess.Popen([EDGEFETCH, "--json", "-o", ws.out,
                                     server.url("a.png") + "?stall=0"],
                                    stdout=write_fd, stderr=err_file)
        os.close(write_fd)
        with reaped(proc):
            deadline = time.monotonic() + 120
            wait_hanging(server, proc)
            proc.send_signal(signal.SIGTERM)  # the run's: it stops, reports, then flushes
            while b"edge maps in" not in open(err_path, "rb").read():
                check(proc.poll() is None, f"ended before its report: {proc.returncode}")
                check(time.monotonic() < deadline, "no report in 120 s")
                time.sleep(0.05)
            quiescent(proc.pid)
            # Not read: only the signal can end it.
            signal_and_finish(proc, timeout=30,
                              still="a second SIGTERM after a stopped run did not exit")
        os.close(read_fd)
        err = read(err_path).decode(errors="replace")
        check_stopped(proc.returncode, err, signal.SIGTERM, "stopped_then_late", out=ws.out)


def test_flush_once():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.png", small_png())
        rc, out, err = run_blocked_after_end(ws, server, 1)
        check(rc == 0, f"returncode {rc}, want 0 (-15: killed by the late signal): {err}")
        check_clean_exit(err, "flush_once")
        objs = [json.loads(line) for line in out.splitlines()]
        check([o["type"] for o in objs] == ["item", "summary"], f"--json: {out!r}")
        check(objs[0]["status"] == "ok" and objs[1]["exit_code"] == 0
              and objs[1]["ok"] == 1, f"--json: {objs}")
        check(tree(ws.out) == ["a.png"], f"outputs {tree(ws.out)}")


def test_flush_twice():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.png", small_png())
        rc, out, err = run_blocked_after_end(ws, server, 2)
        check(rc == 143, f"returncode {rc}, want 143 (-15: killed by the signal): {err}")
        check(tree(ws.out) == ["a.png"], f"outputs {tree(ws.out)}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
