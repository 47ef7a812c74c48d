#!/usr/bin/env python3
"""-i FIFO: the URL list is a named pipe.

open(2) of a FIFO waits for a writer, and the tool's early signal handler
restarts it (SA_RESTART): one SIGTERM used to leave the process in that
open, and only a second one ended it (exit 143 without report or summary).
The list is now opened without waiting and awaited in the reader's poll,
beside the signal's wake-up, like a silent pipe on -i -.

  sigterm_no_writer    a FIFO nobody opens for writing: one SIGTERM is the
                       graceful stop (exit 143, the report, the --json
                       summary, nothing written), for a streamed list
                       (--layout positional) and a list read whole
  writer_later         a writer that comes after edgefetch is waiting: the
                       whole list is read and fetched (not taken for an
                       empty one)

Run one case: test_list_fifo.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
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


def start_on_fifo(ws, args):
    fifo = os.path.join(ws.tmp, "urls.fifo")
    os.mkfifo(fifo)
    proc = subprocess.Popen([EDGEFETCH, "--json", "-i", fifo, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return fifo, proc


def finish(proc, timeout=30):
    """(returncode, --json objects, stderr); a process still there after
    `timeout` (its list written whole) is killed and fails the case."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        check(False, f"still running {timeout} s after its list was written")
    err = err.decode(errors="replace")
    objs = [json.loads(line) for line in out.decode(errors="replace").splitlines()]
    return proc.returncode, objs, err


def test_sigterm_no_writer():
    for name, extra in (("positional", ["--layout", "positional"]), ("readable", [])):
        with Workspace() as ws:
            _, proc = start_on_fifo(ws, ["-o", ws.out, *extra])
            # Blocked on the FIFO (every thread asleep): the old code in open(2).
            quiescent(proc.pid)
            out, err, _ = signal_and_finish(proc, timeout=30,
                                            still="still running 30 s after one SIGTERM "
                                                  "(waits for a second)")
            err = err.decode(errors="replace")
            objs = [json.loads(line) for line in out.decode(errors="replace").splitlines()]
            check_clean_exit(err, name)
            check_stopped(proc.returncode, err, signal.SIGTERM, name, report=True, out=ws.out)
            check(objs and objs[-1]["type"] == "summary", f"{name}: no --json summary: {objs}")
            summary = objs[-1]
            check(summary["signal"] == "SIGTERM" and summary["exit_code"] == 143
                  and summary["items"] == 0, f"{name}: {summary}")


def test_writer_later():
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url(n) for n in PHOTOS[:2]]
        for name, extra in (("positional", ["--layout", "positional"]), ("readable", [])):
            out = os.path.join(ws.tmp, f"out-{name}")
            fifo, proc = start_on_fifo(ws, ["-o", out, *extra])
            try:
                quiescent(proc.pid)
                with open(fifo, "w") as writer:
                    writer.write("".join(u + "\n" for u in urls))
                rc, objs, err = finish(proc)
            finally:
                os.unlink(fifo)
            check_clean_exit(err, name)
            check(rc == 0, f"{name}: returncode {rc}: {err}")
            items = [o for o in objs if o["type"] == "item"]
            check(sorted(o["url"] for o in items) == sorted(urls)
                  and all(o["status"] == "ok" for o in items), f"{name}: {items}")
            check(len(tree(out)) == len(urls), f"{name}: {tree(out)}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
