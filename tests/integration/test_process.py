#!/usr/bin/env python3
"""The process around a run (issue 10, items 13, 15, 17, 18): closed standard
descriptors at start, the descriptor limit, URL lists with over-long lines or
no lines at all, C1 controls on stderr.

The --json output into slow or closed readers (items 14, 16) is
test_output_pipe.py. Run one case: test_process.py NAME.
"""
import http.server
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, main_for, read, tree)
from pngutil import small_png  # noqa: E402

# A list line longer than this fails alone (io/urllist.c).
MAX_LINE = 64 * 1024


def spawn(args, preexec=None, stdin=subprocess.DEVNULL, **kw):
    return subprocess.Popen([EDGEFETCH] + args, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=preexec, **kw)


def peak_rss_watch(proc, ceiling_kib):
    """Polls the child's VmHWM until it exits, killing it past `ceiling_kib`
    (so a regression cannot take the machine's memory with it). Returns the
    highest VmHWM seen, in KiB."""
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        if peak > ceiling_kib:
            proc.kill()
            break
        time.sleep(0.02)
    return peak


def small_items(ws, server, count, prefix="p"):
    ws.write("img.png", small_png())
    names = [f"{prefix}{i:05d}.png" for i in range(count)]
    return names, [server.url(f"{prefix}/{name}?file=img.png") for name in names]


# ---- item 13: closed stdin, stdout or stderr ---------------------------------

def test_std_fds_closed():
    """With fd 0, 1 or 2 closed at exec (each alone and all three), the run
    behaves as with them open: exit 0, every output complete, the report on
    stderr when stderr is there. Before: libuv's assert (its epoll fd landed
    on 0-2), SIGABRT."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        lst = ws.list_file([server.url(p) for p in PHOTOS[:3]])
        want = sorted(p[:-4] + ".png" for p in PHOTOS[:3])
        reference = os.path.join(ws.tmp, "reference")
        proc = subprocess.run([EDGEFETCH, "-i", lst, "-o", reference], capture_output=True)
        check_clean_exit(proc.stderr, "edgefetch")
        check(proc.returncode == 0, f"reference run: {proc.stderr.decode()}")
        for closed in ((0,), (1,), (2,), (0, 1, 2)):
            out = os.path.join(ws.tmp, "out-" + "".join(map(str, closed)))

            def close_them(fds=closed):
                for fd in fds:
                    os.close(fd)

            proc = spawn(["--json", "-i", lst, "-o", out], preexec=close_them)
            stdout, stderr = proc.communicate(timeout=120)
            what = f"fds {closed} closed"
            check(proc.returncode == 0, f"{what}: exit {proc.returncode}: {stderr[-2000:]!r}")
            check(tree(out) == want, f"{what}: outputs {tree(out)}")
            for name in want:
                check(read(os.path.join(out, name)) == read(os.path.join(reference, name)),
                      f"{what}: {name} differs from the reference run")
            if 1 not in closed:
                lines = [json.loads(line) for line in stdout.decode().splitlines()]
                check(len(lines) == 4 and lines[-1]["ok"] == 3, f"{what}: stdout {lines}")
            else:
                check(stdout == b"", f"{what}: output reached the closed stdout's pipe")
            if 2 not in closed:
                check(b"edge maps in" in stderr, f"{what}: no report on stderr: {stderr!r}")
            else:
                check(stderr == b"", f"{what}: stderr's pipe got {stderr!r}")


# ---- item 15: the descriptor limit -------------------------------------------

def _limited_run(soft, hard, jobs, count, workers=2):
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www, latency=50) as server:
        names, urls = small_items(ws, server, count)
        # One host: --max-per-host as -j, or its default of 4 would hide -j.
        proc = spawn(["-i", ws.list_file(urls), "-o", ws.out, "-j", str(jobs), "-w", str(workers),
                      "--max-per-host", str(jobs), "--json"],
                     preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))
        stdout, stderr = proc.communicate(timeout=300)
        err = stderr.decode(errors="replace")
        lines = [json.loads(line) for line in stdout.decode().splitlines()]
        failed = [obj for obj in lines[:-1] if obj["status"] != "ok"]
        check(not failed, f"limit {soft}/{hard}, -j {jobs}: {len(failed)} failed, "
                          f"e.g. {failed[:2]}; stderr {err[-1500:]}")
        check(proc.returncode == 0, f"exit {proc.returncode}: {err[-1500:]}")
        check(lines[-1]["ok"] == count and tree(ws.out) == names, f"summary {lines[-1]}")
        check(lines[-1]["fds_leaked"] == 0, f"fds_leaked {lines[-1]['fds_leaked']}")
        return err, server.stats()


def test_fd_limit_clamp():
    """Soft and hard limit 64, -j 1024, 300 items: -j is clamped with a
    warning and every item is ok. Before: items failed, most after their
    download ("creating a temporary file ... Too many open files")."""
    err, stats = _limited_run(64, 64, 1024, 300)
    check("warning: -j 1024 needs" in err and "limit is 64" in err, f"no clamp warning: {err}")
    # Workers hold descriptors too (their temporary files): 64 of them do
    # not fit beside the transfers either.
    err_w, _ = _limited_run(64, 64, 64, 100, workers=64)
    check("warning: -w 64 does not fit in 64 file descriptors" in err_w,
          f"no worker clamp warning: {err_w}")
    print(f"clamped: {err.strip().splitlines()[0]}; server saw at most "
          f"{stats['max_connections']} connections")


def test_fd_limit_raised():
    """Soft 64 under a hard limit of 4096: the soft limit is raised, -j 200
    needs no clamp (no warning) and runs more transfers at once than 64
    descriptors could hold; every item ok."""
    err, stats = _limited_run(64, 4096, 200, 300)
    check("warning" not in err, f"clamped although the hard limit allows: {err}")
    check(stats["max_inflight"] > 20,
          f"at most {stats['max_inflight']} requests in flight: -j 200 did not run")
    print(f"raised: {stats['max_inflight']} requests in flight at most")


# ---- item 17: bounded reading of the URL list ------------------------------

def _feed(proc, chunks):
    def write():
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_list_long_line():
    """A 256 MiB line between two good ones on stdin: it fails alone with its
    line number, the two others are fetched, peak RSS stays far below the
    line's size. Before: the line was read whole (its size in RSS) and the
    whole list refused."""
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        long_size = 256 << 20
        piece = b"a" * (1 << 20)
        chunks = ([server.url(PHOTOS[0]).encode() + b"\n", b"http://127.0.0.1/"] +
                  [piece] * (long_size >> 20) +
                  [b"\n\n", server.url(PHOTOS[1]).encode() + b"\n", b"x" * (MAX_LINE + 1)])
        proc = spawn(["-i", "-", "-o", ws.out, "--json"], stdin=subprocess.PIPE)
        feeder = _feed(proc, chunks)
        peak_kib = peak_rss_watch(proc, ceiling_kib=200 * 1024)
        feeder.join(5)
        stdout, stderr = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=60)
        err = stderr.decode(errors="replace")
        check(peak_kib < 128 * 1024, f"peak RSS {peak_kib} KiB for a {long_size >> 20} MiB line")
        check(proc.returncode == 1, f"exit {proc.returncode}: {err[-2000:]}")
        check(tree(ws.out) == sorted(p[:-4] + ".png" for p in PHOTOS[:2]), tree(ws.out))
        failed = [line for line in err.splitlines() if "FAILED" in line]
        check(len(failed) == 2 and "line 2:" in failed[0] and "line 5:" in failed[1] and
              all("longer than 65536 bytes" in line for line in failed), f"FAILED lines {failed}")
        items = [json.loads(line) for line in stdout.decode().splitlines()][:-1]
        long_items = sorted((i["line"], i["error"]["kind"]) for i in items if i["status"] != "ok")
        check(long_items == [(2, "bad_url"), (5, "bad_url")], f"items {long_items}")
        check(all(len(i["url"]) < 200 for i in items), "an over-long line was kept as its URL")
        print(f"{long_size >> 20} MiB line: peak RSS {peak_kib} KiB")


def test_list_dev_zero():
    """-i /dev/zero ends at once with a clear error (a NUL byte: not a text
    file), exit 2, at bounded RSS. Before: it read until out of memory."""
    with Workspace([]) as ws:
        proc = spawn(["-i", "/dev/zero", "-o", ws.out])
        peak_kib = peak_rss_watch(proc, ceiling_kib=200 * 1024)
        stdout, stderr = proc.communicate(timeout=60)
        err = stderr.decode(errors="replace")
        check(peak_kib < 128 * 1024, f"peak RSS {peak_kib} KiB reading /dev/zero")
        check(proc.returncode == 2, f"exit {proc.returncode}: {err}")
        check("line 1: contains a NUL byte" in err, f"no clear reason: {err}")
        print(f"/dev/zero: peak RSS {peak_kib} KiB: {err.strip()}")


# ---- item 18: C1 controls on stderr ----------------------------------------

class _AnyPath(http.server.BaseHTTPRequestHandler):
    """Serves one PNG for any path, 404 for paths with "missing": raw bytes
    in a path are fine here (the fixture answers them 400)."""
    png = b""

    def do_GET(self):
        found = "missing" not in self.path
        body = self.png if found else b"no"
        self.send_response(200 if found else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_c1_controls():
    """URLs with U+009B (CSI) and U+009D (OSC) in UTF-8 and a raw 0x9B byte
    reach stderr escaped (\\xc2\\x9b, \\x9b) in FAILED lines and -v ok
    lines, never raw; valid UTF-8 (U+00E9) is left alone. Before: only C0
    and DEL were escaped, and -v lines printed URLs raw."""
    _AnyPath.png = small_png()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AnyPath)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/".encode()
        lines = [base + "missing/x\u009b31m.jpg".encode(), base + "missing/y\u009d0;t.jpg".encode(),
                 base + b"missing/z\x9b[31m.jpg", base + "missing/caf\u00e9.jpg".encode(),
                 base + "ok/w\u009b2J.png".encode(), base + b"ok/v\x9d.png"]
        with Workspace([]) as ws:
            lst = ws.list_file([], raw=b"\n".join(lines) + b"\n")
            proc = spawn(["-v", "-i", lst, "-o", ws.out])
            _, stderr = proc.communicate(timeout=120)
        check(proc.returncode == 1, f"exit {proc.returncode}: {stderr!r}")
        failed = sorted(line for line in stderr.split(b"\n") if b"FAILED" in line)
        ok = sorted(line for line in stderr.split(b"\n") if b": ok " in line)
        check(len(failed) == 4 and len(ok) == 2, f"stderr {stderr!r}")
        for raw in (b"\xc2\x9b", b"\xc2\x9d", b"\x9b", b"\x9d"):
            check(raw not in stderr, f"raw {raw!r} on stderr: {stderr!r}")
        check(b"x\\xc2\\x9b31m.jpg" in failed[0] and b"y\\xc2\\x9d0;t.jpg" in failed[1] and
              b"z\\x9b[31m.jpg" in failed[2], f"escapes: {failed}")
        check("caf\u00e9.jpg".encode() in failed[3], f"UTF-8 mangled: {failed[3]!r}")
        check(b"ok/w\\xc2\\x9b2J.png" in ok[0] and b"ok/v\\x9d.png" in ok[1], f"-v ok lines: {ok}")
    finally:
        server.shutdown()
        server.server_close()


def test_item_lines_one_write():
    """Every item line on stderr (FAILED, -v ok and skipped) is one write(2)
    of the whole line: other threads write to stderr too (dav1d prints its
    own messages from a worker), and a line written piece by piece (stderr
    is unbuffered) had one of theirs land in the middle of a URL."""
    if shutil.which("strace") is None:
        raise Failure("strace is missing (TEST_DEPS in the Makefile)")
    _AnyPath.png = small_png()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AnyPath)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        urls = [base + f"missing/m{i}\u009b.jpg" for i in range(4)] + \
               [base + f"ok/o{i}.png" for i in range(4)]
        with Workspace([]) as ws:
            lst = ws.list_file(urls)
            # LeakSanitizer stops itself under a tracer (it needs ptrace of
            # its own); leaks are the other cases' business.
            env = dict(os.environ)
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
            for rerun in (False, True):  # the rerun's ok items are skipped lines
                log = os.path.join(ws.tmp, f"strace-{rerun}.log")
                proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=write", "-e",
                                       "signal=none", "-xx", "-s", "65536", "-o", log, EDGEFETCH,
                                       "-v", "--no-progress", "-i", lst, "-o", ws.out],
                                      capture_output=True, timeout=120, env=env)
                check_clean_exit(proc.stderr, "edgefetch")
                check(proc.returncode == 1, f"exit {proc.returncode}: {proc.stderr!r}")
                item_lines = [line for line in proc.stderr.split(b"\n")
                              if re.match(rb"edgefetch: line \d+: (FAILED|ok|skipped) ", line)]
                check(len(item_lines) == 8, f"{len(item_lines)} item lines: {proc.stderr!r}")
                writes = []
                for entry in read(log).split(b"\n"):
                    m = re.search(rb'write\(2, "((?:\\x[0-9a-f]{2})*)"', entry)
                    if m:
                        writes.append(bytes.fromhex(m.group(1).replace(b"\\x", b"").decode()))
                for line in item_lines:
                    check(line + b"\n" in writes,
                          f"not written in one call: {line!r}; writes {writes[:12]!r}")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main_for(globals()))
