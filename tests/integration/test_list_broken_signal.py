#!/usr/bin/env python3
"""A streamed list that broke off, then a signal: the process exits with the
status its --json summary gives (docs/json.md `exit_code`).

  broke_then_sigterm  one row whose transfer stalls, then a NUL byte (the
                      list breaks off while the row downloads), then SIGTERM:
                      exit 143, the summary's exit_code 143 and signal
                      SIGTERM, the item cancelled, nothing written (the
                      process exited 2 while its summary said 143)

Run one case: test_list_broken_signal.py NAME. Same environment as test_cli.py.
"""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, check_stopped, main_for, reaped, signal_and_finish,
                     validate_run, wait_hanging)


def test_broke_then_sigterm():
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        a = server.url(PHOTOS[0]) + "?stall=0"
        path = ws.list_file(None, name="urls.txt", raw=f"{a}\n\0x\n".encode())
        proc = subprocess.Popen([EDGEFETCH, "--json", "--layout", "positional", "-i", path,
                                 "-o", ws.out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with reaped(proc):
            wait_hanging(server, proc)
            out, err, _ = signal_and_finish(proc)
        err = err.decode(errors="replace")
        check_clean_exit(err, "broke_then_sigterm")
        check("NUL" in err, f"the list's break not said: {err}")
        items, summary = validate_run(out.decode())
        check(summary["signal"] == "SIGTERM" and summary["exit_code"] == 143,
              f"summary signal {summary['signal']}, exit_code {summary['exit_code']}")
        check([i["status"] for i in items] == ["cancelled"], f"items {items}")
        check_stopped(proc.returncode, err, signal.SIGTERM, "broke_then_sigterm", report=True,
                      out=ws.out)


if __name__ == "__main__":
    sys.exit(main_for(globals()))
