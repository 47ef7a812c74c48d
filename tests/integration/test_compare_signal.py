#!/usr/bin/env python3
"""--compare and a signal between its two runs (README, Exit status:
"between --compare's runs the second starts stopped by it; a second signal
exits at once").

The moment is made, not waited for: the first (sequential) run's last
download is held by the case's server while the case fills the stderr
pipe behind the "sequential run into" line; released, the run ends, its
--json summary comes out, and the "concurrent run into" line then waits on
the full pipe, before the second run exists. The signal is sent there.

  one_signal   SIGTERM there: exit 143; the first run's two items ok and
               its summary exit_code 0; the second run's two items
               cancelled, its summary SIGTERM/143; its report column and
               the stop said on stderr, no speedup (of a run that did no
               work), the comparison said to be of a stopped run; no request after the first run's
               two; outputs only in DIR/sequential, no temporary file
  first_run    SIGTERM while the first run's last download is held: exit
               143, its report (one column) and the stop on stderr, one
               --json summary, no second run (no request, no line of it)
  two_signals  two SIGTERMs there (the first delivered before the second):
               the second exits at once (its stderr still full), 143; no
               request of a second run, nothing in DIR/concurrent

Run one case: test_compare_signal.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import fcntl
import http.server
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, Drain, Workspace, check, check_clean_exit,  # noqa: E402
                     check_stopped, fill, main_for, quiescent, reaped, signal_and_finish,
                     signals_pending, tree)
from pngutil import small_png  # noqa: E402


class HeldServer:
    """One PNG at every path on 127.0.0.1; the first request for `held`
    waits until release(). .paths: every request's path, in order."""

    def __init__(self, body, held):
        self.paths = []
        self.arrived = threading.Event()
        self.released = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.paths.append(self.path)
                if self.path == held and not owner.arrived.is_set():
                    owner.arrived.set()
                    owner.released.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up on a held request

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def signalled_between_runs(ws, server, signals):
    """Runs --compare --json on a.png and b.png, sends `signals` SIGTERMs
    between its runs; (returncode, the --json objects, stderr)."""
    urls = [server.url("a.png"), server.url("b.png")]
    err_r, err_w = os.pipe()
    fcntl.fcntl(err_w, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen([EDGEFETCH, "--compare", "--json", "-i", ws.list_file(urls),
                             "-o", ws.out], stdout=subprocess.PIPE, stderr=err_w)
    stdout = []
    reader = threading.Thread(target=lambda: stdout.extend(proc.stdout), daemon=True)
    reader.start()
    drain = Drain(err_r)
    head = b""
    try:
        check(server.arrived.wait(120), "the first run's last download never came")
        # Written before the first run began: read now, so that the filler
        # stands between it and what follows.
        while b"sequential run into" not in head:
            check(proc.poll() is None, f"ended (exit {proc.returncode}): {head}")
            if select.select([err_r], [], [], 0.1)[0]:
                head += os.read(err_r, 4096)
        fill(err_w)
        server.released.set()
        deadline = time.monotonic() + 120
        while not any(b'"summary"' in line for line in list(stdout)):
            check(proc.poll() is None, f"ended before its first summary: {proc.returncode}")
            check(time.monotonic() < deadline, "no summary of the first run in 120 s")
            time.sleep(0.02)
        quiescent(proc.pid)  # on the "concurrent run into" line, the pipe full
        for n in range(signals):
            proc.send_signal(signal.SIGTERM)
            while n + 1 < signals and proc.poll() is None and signals_pending(proc.pid):
                time.sleep(0.01)
        if signals == 1:
            drain.start()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            check(False, f"still running 60 s after {signals} SIGTERM(s) between the runs")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(err_w)
        if signals != 1:
            drain.start()
        reader.join(60)
    err = head.decode(errors="replace") + drain.text()
    os.close(err_r)
    check_clean_exit(err, "--compare")
    return proc.returncode, [json.loads(line) for line in stdout], err


def outputs(folder):
    return tree(folder) if os.path.isdir(folder) else []


def test_one_signal():
    with Workspace() as ws, HeldServer(small_png(), "/b.png") as server:
        rc, objs, err = signalled_between_runs(ws, server, 1)
        check(rc == 143, f"returncode {rc}, want 143: {err}")
        check([o["type"] for o in objs] == ["item", "item", "summary"] * 2, f"--json: {objs}")
        first, second = objs[:3], objs[3:]
        check(all(o["mode"] == "sequential" for o in first)
              and all(o["mode"] == "concurrent" for o in second), f"modes: {objs}")
        check(all(o["status"] == "ok" for o in first[:2]), f"first run: {first}")
        check(first[2]["ok"] == 2 and first[2]["signal"] is None and first[2]["exit_code"] == 0,
              f"first summary: {first[2]}")
        check(all(o["status"] == "cancelled" for o in second[:2]), f"second run: {second}")
        check(second[2]["cancelled"] == second[2]["items"] == 2 and second[2]["ok"] == 0
              and second[2]["signal"] == "SIGTERM" and second[2]["exit_code"] == 143,
              f"second summary: {second[2]}")
        check("concurrent run into" in err and "stopped by Terminated: 2 item(s) cancelled" in err,
              f"stderr: {err}")
        check("speedup" not in err and "outputs byte-identical: 0 of 0 (the concurrent run was "
              "stopped" in err, f"stderr: {err}")
        check(sorted(server.paths) == ["/a.png", "/b.png"], f"requests: {server.paths}")
        check(sorted(outputs(os.path.join(ws.out, "sequential"))) == ["a.png", "b.png"]
              and outputs(os.path.join(ws.out, "concurrent")) == [], f"outputs: {tree(ws.out)}")


def test_first_run():
    with Workspace() as ws, HeldServer(small_png(), "/b.png") as server:
        urls = [server.url("a.png"), server.url("b.png")]
        proc = subprocess.Popen([EDGEFETCH, "--compare", "--json", "-i", ws.list_file(urls),
                                 "-o", ws.out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with reaped(proc):
            check(server.arrived.wait(120), "the first run's last download never came")
            out, err, _ = signal_and_finish(proc)
        err = err.decode(errors="replace")
        check_clean_exit(err, "--compare")
        check_stopped(proc.returncode, err, signal.SIGTERM, "first run", report=True)
        objs = [json.loads(line) for line in out.decode().splitlines()]
        check([o["type"] for o in objs] == ["item", "item", "summary"]
              and all(o["mode"] == "sequential" for o in objs), f"--json: {objs}")
        summary = objs[-1]
        check(summary["ok"] == 1 and summary["cancelled"] == 1 and summary["signal"] == "SIGTERM"
              and summary["exit_code"] == 143, f"summary: {summary}")
        check("images cancelled (signal)" in err and "sequential" in err
              and "concurrent" not in err and "stopped by Terminated: 1 item(s) cancelled" in err,
              f"stderr: {err}")
        check(sorted(server.paths) == ["/a.png", "/b.png"], f"requests: {server.paths}")
        check(outputs(os.path.join(ws.out, "sequential")) == ["a.png"]
              and outputs(os.path.join(ws.out, "concurrent")) == [], f"outputs: {tree(ws.out)}")


def test_two_signals():
    with Workspace() as ws, HeldServer(small_png(), "/b.png") as server:
        rc, objs, err = signalled_between_runs(ws, server, 2)
        check(rc == 143, f"returncode {rc}, want 143: {err}")
        check(sorted(server.paths) == ["/a.png", "/b.png"], f"requests: {server.paths}")
        check(outputs(os.path.join(ws.out, "concurrent")) == [], f"outputs: {tree(ws.out)}")
        check("stopped by" not in err, f"said a stop it never made: {err}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
