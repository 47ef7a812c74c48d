#!/usr/bin/env python3
"""The signal handling's setup fails (no descriptor left for its eventfd).

main went to its exit path from there before the row filter was
initialised, and freed the filter's fingerprint set: an indeterminate
pointer (valgrind: "Conditional jump or move depends on uninitialised
value(s)" in io_fp_set_destroy). Release and ASan builds happened not to
crash, so the case runs under memcheck (suite 'valgrind').

  eventfd_unavailable  RLIMIT_NOFILE swept upward until edgefetch gets past
                       libcurl's and libuv's own descriptors and fails at
                       the eventfd: exit 2 with the reason, no memcheck error

Run one case: test_signals_setup.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import EDGEFETCH, Workspace, check, main_for  # noqa: E402

MEMCHECK_ERROR = 99


def test_eventfd_unavailable():
    valgrind = shutil.which("valgrind")
    check(valgrind is not None and shutil.which("prlimit") is not None,
          "needs valgrind and prlimit (Makefile TEST_DEPS)")
    with Workspace() as ws:
        seen = []
        # Valgrind keeps descriptors of its own below the limit: where the
        # eventfd is the first open to fail is found, not assumed.
        for limit in range(8, 48):
            proc = subprocess.run(
                ["prlimit", f"--nofile={limit}:{limit}", valgrind, "-q", "--tool=memcheck",
                 f"--error-exitcode={MEMCHECK_ERROR}", EDGEFETCH, "-o", ws.out,
                 "http://127.0.0.1:9/a.png"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            err = proc.stderr.decode(errors="replace")
            seen.append((limit, proc.returncode))
            if "setting up signal handling" not in err:
                continue
            check(proc.returncode == 2,
                  f"limit {limit}: returncode {proc.returncode}, want 2 "
                  f"({MEMCHECK_ERROR}: a memcheck error): {err}")
            check("uninitialised" not in err and "Invalid" not in err, err)
            return
        check(False, f"the eventfd never was the open that failed: {seen}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
