#!/usr/bin/env python3
"""A signal while --dry-run prints its plan to a reader that does not read.

--dry-run has no run: nothing takes the signal the early handler keeps.
With its stdout a full pipe (`| less` left on its first page), the plan's
write blocks and is restarted after the handler (SA_RESTART): one SIGTERM
was swallowed, the process stayed in the write, and only a second one
ended it. With no run to come, the first signal now exits at once,
128 + its number, as a second one does.

  sigterm_blocked_print  the plan's stdout a full pipe: one SIGTERM ends the
                         process within 30 s, exit 143; no request, nothing
                         written

Run one case: test_dry_run_signal.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, Workspace, check_stopped, full_pipe, main_for,  # noqa: E402
                     quiescent, read, reaped, signal_and_finish)


def test_sigterm_blocked_print():
    with Workspace() as ws:
        # More than stdout's buffer: the plan is written while it is made.
        urls = [f"http://127.0.0.1:9/{i}.png" for i in range(400)]
        list_path = ws.list_file(urls)
        read_fd, write_fd = full_pipe()
        err_path = os.path.join(ws.tmp, "stderr")
        with open(err_path, "wb") as err_file:
            proc = subprocess.Popen([EDGEFETCH, "--dry-run", "-o", ws.out, "-i", list_path],
                                    stdout=write_fd, stderr=err_file)
        os.close(write_fd)
        with reaped(proc):
            quiescent(proc.pid)  # in the write of its plan, on the full pipe
            signal_and_finish(proc, timeout=30,
                              still="still in --dry-run's write 30 s after one SIGTERM")
        os.close(read_fd)
        err = read(err_path).decode(errors="replace")
        check_stopped(proc.returncode, err, signal.SIGTERM, "--dry-run", said=False, out=ws.out)


if __name__ == "__main__":
    sys.exit(main_for(globals()))
