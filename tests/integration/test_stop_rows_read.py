#!/usr/bin/env python3
"""A streamed list (--layout positional) stopped by a signal: every row the
process has read from the list is reported, cancelled; none is lost.

A pipe gives each row once: a row read and then dropped unreported is one
a rerun cannot know to redo. The list's reader thread used to be cut off
at the stop (its queue closed): the row it was pushing and the rest of what
its last read brought were freed unreported, and so was the list's first
row when the signal came before the run had its own handlers (that row is
read before the run, and the reader hands it over only once started).
The reader is now woken instead, and what it still holds comes through
the queue and is reported; its next wait for the list ends it.

  first_row      the list's first row in a pipe that stays open, the
                 --insecure warning blocked on a full stderr (between the
                 first row and the run: deterministic), then SIGTERM or
                 SIGINT, then one more row: exit 143/130, the first row
                 reported cancelled (--json and the report), the later one
                 not read, no request, nothing written; also with tar output
  buffered_rows  1,500 rows in the pipe before the start, all taken by the
                 reader's first read; the first download held by the
                 server (-j 1), the row queue full, the reader blocked
                 pushing; SIGTERM: 1,500 items, each once, all cancelled
                 (was: the queue's 1,024 and the two taken)

Run one case: test_stop_rows_read.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import array
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, Drain, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, check_stopped, full_pipe, main_for, quiescent, reaped,
                     tree)
from pngutil import small_png  # noqa: E402

STREAMED = ["--json", "--layout", "positional", "-i", "-"]


def unread_bytes(fd):
    """Bytes in the pipe of `fd` that its reader has not read."""
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def run_on_pipe(args, rows, at_stop, stderr=subprocess.PIPE):
    """Starts edgefetch on a list pipe holding `rows`, its write end kept
    open (the run can only end by the signal); `at_stop(proc, list_fd)`
    signals it. Returns (returncode, the --json objects, stderr)."""
    list_r, list_w = os.pipe()
    os.write(list_w, "".join(row + "\n" for row in rows).encode())
    proc = subprocess.Popen([EDGEFETCH, *STREAMED, *args], stdin=list_r, stdout=subprocess.PIPE,
                            stderr=stderr)
    os.close(list_r)
    try:
        with reaped(proc):
            drain = at_stop(proc, list_w)
            out, err = proc.communicate(timeout=120)
            err = drain.text() if drain is not None else err.decode(errors="replace")
    finally:
        os.close(list_w)
    check_clean_exit(err, " ".join(args))
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()], err


def check_all_cancelled(rc, objs, err, sig, urls, what):
    check_stopped(rc, err[-2000:], sig, what, report=True)
    check(objs and objs[-1]["type"] == "summary", f"{what}: no --json summary")
    items, summary = objs[:-1], objs[-1]
    check(summary["signal"] == sig.name and summary["exit_code"] == 128 + sig, f"{what}: {summary}")
    got = [i["url"] for i in items]
    check(len(got) == len(set(got)), f"{what}: an item reported twice")
    check(sorted(got) == sorted(urls),
          f"{what}: {len(got)} items reported for the {len(urls)} rows read; "
          f"missing {sorted(set(urls) - set(got))[:5]}")
    check(all(i["type"] == "item" and i["status"] == "cancelled" for i in items),
          f"{what}: {[i for i in items if i['status'] != 'cancelled'][:3]}")
    check(summary["items"] == summary["cancelled"] == len(urls) and summary["ok"] == 0,
          f"{what}: {summary}")
    check(f"stopped by {signal.strsignal(sig)}: {len(urls)} item(s) cancelled" in err,
          f"{what}: {err[-2000:]}")


def test_first_row():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.png", small_png())
        first, later = server.url("a.png"), server.url("a.png?later=1")
        for name, extra in (("positional", []), ("tar", ["--output-format", "tar"])):
            for sig in (signal.SIGTERM, signal.SIGINT):
                what = f"{name} {sig.name}"
                out = os.path.join(ws.tmp, f"out-{name}-{sig.name}")
                err_r, err_w = full_pipe()

                def at_stop(proc, list_w):
                    os.close(err_w)
                    drain = Drain(err_r)
                    try:
                        # The first row read, the warning's write waits on
                        # the full stderr: the run has no handlers yet.
                        quiescent(proc.pid)
                        proc.send_signal(sig)
                        # After the stop: a row the reader must not read.
                        os.write(list_w, (later + "\n").encode())
                    finally:
                        drain.start()
                    return drain

                try:
                    rc, objs, err = run_on_pipe(["--insecure", "-o", out, *extra], [first],
                                                at_stop, stderr=err_w)
                finally:
                    os.close(err_r)
                check("--insecure" in err, f"{what}: no warning: {err}")
                check_all_cancelled(rc, objs, err, sig, [first], what)
                check(tree(out) == [], f"{what}: left {tree(out)}")
        check(server.stats()["requests"] == 0, f"fetched: {server.stats()}")


def test_buffered_rows():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.png", small_png())
        # 1,500 short rows: one pipe's worth, one read's (64 KiB) worth.
        rows = [server.url("a.png?stall=0")] + [server.url(f"a.png?n={n}") for n in range(1, 1500)]
        check(len("".join(r + "\n" for r in rows)) < 60000, "the rows outgrow one read")

        def at_stop(proc, list_w):
            deadline = time.monotonic() + 120
            while server.stats()["hanging"] != 1:
                check(proc.poll() is None, f"ended before its download stalled: {proc.returncode}")
                check(time.monotonic() < deadline, "the first download never stalled")
                time.sleep(0.05)
            # The queue full, the reader blocked pushing the row after it.
            quiescent(proc.pid)
            check(unread_bytes(list_w) == 0, f"{unread_bytes(list_w)} bytes of the list unread")
            proc.send_signal(signal.SIGTERM)
            return None

        rc, objs, err = run_on_pipe(["-j", "1", "-w", "1", "-o", ws.out], rows, at_stop)
        check_all_cancelled(rc, objs, err, signal.SIGTERM, rows, "buffered")
        check(server.stats()["requests"] == 1, f"{server.stats()['requests']} requests")
        check(tree(ws.out) == [], f"left {tree(ws.out)}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
