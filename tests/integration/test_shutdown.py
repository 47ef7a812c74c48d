#!/usr/bin/env python3
"""Shutdown without fixed sleeps, so that it holds however slow the binary
runs (it runs under Valgrind in suite 'valgrind', 20-50 times slower).

Run one case: test_shutdown.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.

test_cli.py signals sends its signal after a fixed second, which under
Valgrind comes before the first item is done; here the signal follows the
first finished output. What is checked is what the loop must do on a
signal: stop starting downloads, cancel what waits, finish or drop what is
in flight, close every handle (uv_loop_close returns 0, or edgefetch says
"internal error" and exits 2) and exit 128 + the signal.
"""
import os
import signal
import subprocess
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check, main_for,  # noqa: E402
                     read, run, tree)


def _wait_for_first_output(proc, out, deadline_s=120):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"the run ended (exit {proc.returncode}) before the signal")
        if any(not n.startswith(".") for n in (tree(out) if os.path.isdir(out) else [])):
            return
        time.sleep(0.02)
    raise Failure(f"no output within {deadline_s} s")


def test_signals():
    """SIGINT and SIGTERM after the first output: exit 130/143, the outputs
    there are whole, no temporary file is left, the rest is cancelled."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="400") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS])
        reference = os.path.join(ws.tmp, "reference")
        rc, _, err = run(["-i", urls, "-o", reference, "-j", "4"])
        check(rc == 0, f"reference run: {rc} {err}")
        for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            out = os.path.join(ws.tmp, f"out-{want}")
            proc = subprocess.Popen([EDGEFETCH, "-i", urls, "-o", out, "-j", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                _wait_for_first_output(proc, out)
                proc.send_signal(sig)
                _, err = proc.communicate(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            err = err.decode(errors="replace")
            check(proc.returncode == want, f"{sig.name}: exit {proc.returncode}, want {want}: {err}")
            check("internal error" not in err, f"{sig.name}: {err}")
            check("cancelled" in err, f"{sig.name}: no word of cancelled items: {err}")
            produced = tree(out)
            check(0 < len(produced) < len(PHOTOS), f"{sig.name}: produced {produced}")
            for name in produced:
                check(not name.startswith(".") and name.endswith(".png"), f"{sig.name}: left {name}")
                check(read(os.path.join(out, name)) == read(os.path.join(reference, name)),
                      f"{sig.name}: {name} is not the complete output")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
