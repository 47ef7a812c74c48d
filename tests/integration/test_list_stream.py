#!/usr/bin/env python3
"""A list streamed into the run (issue 13): with --layout positional (and
tar shards) the list is read as the run takes its rows, never whole.

  endless_producer   -i - from a producer that writes slowly and never
                     closes: items are written and reported (--json) while it
                     still writes; SIGTERM then ends the run (exit 143), no
                     temporary file left, each item reported once
  reader_gone        the --json reader closes its end while the producer is
                     silent, its pipe open: the run stops (exit 141)
  producer_closes    a producer writes N lines and closes: all N done, each
                     once, one request each
  memory             a 2,000,000-line list, --shard 0/4 (~500,000 rows kept,
                     nearly all refused before I/O, a few 404s): peak RSS
                     within 32 bytes a kept row of a 4,000-line run's, where
                     holding the rows would cost ~117 bytes each
  back_pressure      downloads held by the server: the producer's writes
                     block after about the row queue's 1,024 rows (plus the
                     pipe's and the reader's buffers), not the whole list
  name_column        --name-column: a CSV column names readable outputs
                     (sanitised, clashes leveled), an empty or unusable value
                     falls back to the URL's name; not with positional

Run one case: test_list_stream.py NAME. Same environment as test_cli.py.
"""
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, env_for_rss, fnv1a32, items_of, main_for, run, tree)


class Lines:
    """Collects a child's stdout lines on a thread."""

    def __init__(self, stream):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            with self.lock:
                self.lines.append(line.decode(errors="replace"))

    def items(self):
        with self.lock:
            objs = [json.loads(line) for line in self.lines]
        return [o for o in objs if o["type"] == "item"]

    def wait_items(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.items()) >= count:
                return True
            time.sleep(0.05)
        return False


def start(args):
    return subprocess.Popen([EDGEFETCH] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_endless_producer():
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        proc = start(["--json", "-q", "--layout", "positional", "-i", "-", "-o", ws.out])
        out = Lines(proc.stdout)
        stop = threading.Event()
        written = []

        def produce():
            # Never closes: a line every 0.2 s until told to stop writing.
            n = 0
            while not stop.is_set():
                url = server.url(PHOTOS[n % 3]) + f"?n={n}"
                try:
                    proc.stdin.write((url + "\n").encode())
                    proc.stdin.flush()
                except (BrokenPipeError, ValueError):
                    return
                written.append(url)
                n += 1
                time.sleep(0.2)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        got = out.wait_items(3)
        stop.set()
        producer.join()
        check(got, f"no 3 items while the producer writes: {out.items()}")
        items = out.items()
        check(all(i["status"] == "ok" for i in items), f"{items}")
        # The producer is silent and its pipe open: a read waits on it.
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            check(False, "SIGTERM did not end a run waiting for its list")
        out.thread.join(timeout=10)
        err = proc.stderr.read().decode(errors="replace")
        proc.stdin.close()
        check_clean_exit(err, "edgefetch")
        check(proc.returncode == 143, f"exit {proc.returncode}: {err}")
        items = out.items()
        urls = [i["url"] for i in items]
        check(len(urls) == len(set(urls)), f"an item reported twice: {urls}")
        check(set(urls) <= set(written), f"{urls}")
        summary = json.loads(out.lines[-1])
        check(summary["type"] == "summary", f"no summary: {out.lines[-1]}")
        files = tree(ws.out)
        check(not any(os.path.basename(f).startswith(".") for f in files), f"left {files}")
        ok = [i for i in items if i["status"] == "ok"]
        check(len(files) == len(ok) and len(ok) >= 3, f"{files} for {len(ok)} ok items")


def test_reader_gone():
    """The --json reader closes its end while the list's producer is silent
    with its pipe open: the gate's STOP ends the run (exit 141) and stops the
    list reader too, which a blocked read must not keep alive."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        proc = start(["--json", "-q", "--layout", "positional", "-i", "-", "-o", ws.out])
        for n in range(3):
            proc.stdin.write((server.url(PHOTOS[0]) + f"?n={n}\n").encode())
        proc.stdin.flush()
        first = proc.stdout.readline()
        check(json.loads(first)["type"] == "item", f"first line {first!r}")
        proc.stdout.close()
        # More rows, so that a line is written to the closed pipe (EPIPE).
        for n in range(3, 6):
            proc.stdin.write((server.url(PHOTOS[0]) + f"?n={n}\n").encode())
        proc.stdin.flush()
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            check(False, "a gone reader did not end a run waiting for its list")
        err = proc.stderr.read().decode(errors="replace")
        check_clean_exit(err, "edgefetch")
        proc.stdin.close()
        check(rc == 141, f"exit {rc}: {err}")
        files = tree(ws.out)
        check(not any(os.path.basename(f).startswith(".") for f in files), f"left {files}")


def test_producer_closes():
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        count = 40
        urls = [server.url(PHOTOS[n % 3]) + f"?n={n}" for n in range(count)]
        proc = start(["--json", "-q", "--layout", "positional", "-i", "-", "-o", ws.out])
        out = Lines(proc.stdout)
        for n, url in enumerate(urls):
            proc.stdin.write((url + "\n").encode())
            if n % 10 == 9:
                proc.stdin.flush()
                time.sleep(0.05)
        proc.stdin.close()
        rc = proc.wait(timeout=60)
        out.thread.join(timeout=10)
        err = proc.stderr.read().decode(errors="replace")
        check_clean_exit(err, "edgefetch")
        check(rc == 0, f"exit {rc}: {err}")
        items = out.items()
        check(sorted(i["url"] for i in items) == sorted(urls), f"{len(items)} items")
        check(all(i["status"] == "ok" for i in items), f"{items}")
        lines = sorted(i["line"] for i in items)
        check(lines == list(range(1, count + 1)), f"lines {lines}")
        check(server.stats()["requests"] == count, f"requests {server.stats()}")
        summary = json.loads(out.lines[-1])
        check(summary["items"] == count and summary["ok"] == count, f"{summary}")
        check(len(tree(ws.out)) == count, f"{tree(ws.out)}")


def list_lines(count, server):
    """Mostly rows refused before any I/O (ftp://: an item each, reported
    failed, never a job), every 500th a real request (a 404)."""
    for first in range(0, count, 10000):
        yield "".join(
            (server.url(f"missing/{i}.jpg") if i % 500 == 0 else
             f"ftp://127.0.0.1/p/{i:09d}/photo-{i * 7919 % 1000003}.jpg") + "\n"
            for i in range(first, min(first + 10000, count))).encode()


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise Failure("no VmHWM")


def streamed_peak_kib(args, count, server):
    """Peak RSS of edgefetch reading `count` lines from a pipe, read from
    /proc (its own, not the parent's it was started from) once every line
    has been taken and before the end of the list, when a run that holds
    the list holds all of it; then the pipe is closed and the run ends."""
    proc = subprocess.Popen([EDGEFETCH] + args, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env_for_rss())
    try:
        for piece in list_lines(count, server):
            proc.stdin.write(piece)
        proc.stdin.flush()
        time.sleep(1.0)  # the last rows through the reader
        peak = vm_hwm_kib(proc.pid)
    finally:
        proc.stdin.close()
        rc = proc.wait(timeout=60)
    return rc, peak


def test_memory():
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        args = ["-s", "--layout", "positional", "--shard", "0/4", "--no-fsync", "-i", "-",
                "-o", ws.out]
        small_lines, big_lines = 4000, 2000000
        rss = {}
        for name, count in (("small", small_lines), ("big", big_lines)):
            rc, rss[name] = streamed_peak_kib(args, count, server)
            check(rc == 1, f"{name}: exit {rc}")
        kept = big_lines // 4
        # 16 bytes a kept URL of fingerprints (up to 25 while the set grows)
        # and a constant; holding the rows would cost ~117 bytes each.
        bound = rss["small"] + (32 * kept) // 1024 + 4096
        print(f"peak RSS KiB: {rss}, bound {bound} KiB for ~{kept} kept rows")
        check(rss["big"] <= bound, f"peak RSS {rss['big']} KiB > {bound} KiB: {rss}")
        requests = server.stats()["requests"]
        check(0 < requests < big_lines // 500, f"requests {requests}")


def test_back_pressure():
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        proc = start(["-q", "-j", "2", "-w", "1", "--layout", "positional", "-i", "-",
                      "-o", ws.out])
        pad = "x" * 500
        fd = proc.stdin.fileno()
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        offered = 20000
        accepted = 0
        pending = b""
        quiet_since = time.monotonic()
        n = 0
        # Every download is held by the server for a minute: the run takes
        # two rows and the queue the next; the reader then stops reading.
        while time.monotonic() - quiet_since < 3 and accepted < offered:
            if not pending:
                pending = (server.url(PHOTOS[0]) + f"?delay=60000&n={n}&pad={pad}\n").encode()
                n += 1
            try:
                sent = os.write(fd, pending)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            pending = pending[sent:]
            if not pending:
                accepted += 1
                quiet_since = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        check_clean_exit(err, "edgefetch")
        print(f"the producer's writes blocked after {accepted} of {offered} lines")
        check(rc == 143, f"exit {rc}: {err[-500:]}")
        # 1,024 queued + 3 taken + 64 KiB of pipe + 64 KiB read ahead (~240 lines).
        check(1000 <= accepted < 2000, f"{accepted} lines taken with every download held")


def test_name_column():
    with Workspace(PHOTOS[:5]) as ws, Fixture(FIXTURE, ws.www) as server:
        a, b, c, d, e = (server.url(n) for n in PHOTOS[:5])
        rows = [("url", "title"), (a, "My Cat.jpg"), (b, "My Cat"), (c, ""), (d, "..."),
                (e, "../../evil/x"), (a, "another name")]
        path = ws.list_file([",".join(r) for r in rows], name="named.csv")
        args = ["--json", "-q", "--name-column", "title", "-i", path, "-o", ws.out]
        rc, out, err = run(args)
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = items_of(out)
        got = {url: os.path.relpath(i["output"], ws.out) for url, i in items.items()}
        stem = lambda n: n.rsplit(".", 1)[0]  # noqa: E731
        # Two items given one name clash as two URLs of one last segment
        # would: both move up a level, their URLs' hashes appended.
        want = {a: f"My_Cat-{fnv1a32(a.encode()):08x}.png", b: f"My_Cat-{fnv1a32(b.encode()):08x}.png",
                c: stem(PHOTOS[2]) + ".png", d: stem(PHOTOS[3]) + ".png",
                e: "_.._evil_x.png"}
        check(got == want, f"outputs {got}, want {want}")
        check(summary["duplicates"] == 1, f"{summary}")
        check(tree(ws.out) == sorted(want.values()), f"tree {tree(ws.out)}")
        # A rerun finds them under the same names: all skipped.
        rc, out, err = run(args)
        items, summary = items_of(out)
        check(rc == 0 and summary["skipped"] == 5, f"rerun: exit {rc}, {summary}")
        # Not for other formats, a header without it, or positional names.
        plain = ws.list_file([a], name="plain.txt")
        for bad, why in ((["-i", plain], "--name-column is for csv and tsv"),
                         (["--name-column", "caption", "-i", path], "caption"),
                         (["--layout", "positional", "-i", path], "--layout positional")):
            extra = ["--name-column", "title"] if "--name-column" not in bad else []
            rc, _, err = run(extra + bad + ["-o", os.path.join(ws.tmp, "x")])
            check(rc == 2 and why in err, f"{bad}: exit {rc}: {err}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
