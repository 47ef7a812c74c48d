#!/usr/bin/env python3
"""Limits: --max-pixels, --max-size counted as bytes arrive, --timeout per
attempt, --connect-timeout, the low-speed abort, a stalled server, --max-per-
host and --rate-limit.

Run one case: test_limits.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import shutil
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, PHOTOS, Fixture, Workspace, check, expect_failed,  # noqa: E402
                     failed_line, main_for, per_path, run, run_timed, tree)


def test_limits():
    """--max-pixels (before decoding) and --max-size fail items with a reason."""
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS[:2]])
        rc, _, err = run(["-i", urls, "-o", ws.out, "--max-pixels", "1000000"])
        check(rc == 1 and err.count("FAILED") == 2 and "limit" in err, f"max-pixels: {rc} {err}")
        check(tree(ws.out) == [], f"tree {tree(ws.out)}")
        rc, _, err = run(["-i", urls, "-o", ws.out, "--max-size", "10k"])
        check(rc == 1 and err.count("FAILED") == 2 and "limit" in err, f"max-size: {rc} {err}")
        check(tree(ws.out) == [], f"tree {tree(ws.out)}")


def test_timeout():
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www, latency="3000") as server:
        rc, _, err = run(["-o", ws.out, "--timeout", "0.5", server.url(PHOTOS[0])])
        check(rc == 1 and "FAILED" in err and "imed out" in err, f"timeout: {rc} {err}")


def test_stall_timeout():
    """A body that stalls mid-way fails on --timeout; the client hangs up."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("stall.jpg")
        ws.photo("fine.jpg")
        urls = [server.url("stall.jpg?stall=20000"), server.url("fine.jpg")]
        lst = ws.list_file(urls)
        rc, _, err, seconds = run_timed(["-i", lst, "-o", ws.out, "--timeout", "1", "--retries", "0"])
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[0], 1, "timed out")
        check(seconds < 6, f"a 1 s timeout took {seconds:.1f} s")
        stats = server.stats()
        check(stats["client_aborts"] >= 1 and stats["hanging"] == 0,
              f"the stalled connection was not closed by the client: {stats}")
        ws.check_tree(["fine.png"])


def test_low_speed_abort():
    """A slow drip (10 B/s) is aborted by --low-speed-limit/--low-speed-time long
    before --timeout."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("drip.jpg")
        url = server.url("drip.jpg?drip=100")
        rc, _, err, seconds = run_timed(["-o", ws.out, "--low-speed-limit", "1000", "--low-speed-time", "1",
                                   "--timeout", "60", "--retries", "0", url])
        check(rc == 1, f"exit {rc}: {err}")
        line = failed_line(err, url)
        check("slow" in line.lower() or "speed" in line.lower(), f"reason: {line}")
        check(seconds < 8, f"low-speed abort took {seconds:.1f} s")
        check(server.stats()["client_aborts"] >= 1, "the client did not hang up on the drip")
        ws.check_tree([])


def test_total_timeout():
    """--timeout is for the whole transfer: a late first byte and a drip that
    would take minutes both fail in about that time."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("late.jpg")
        ws.photo("drip.jpg")
        urls = [server.url("late.jpg?delay=5000"), server.url("drip.jpg?drip=5")]
        lst = ws.list_file(urls)
        rc, _, err, seconds = run_timed(["-i", lst, "-o", ws.out, "--timeout", "1", "--retries", "0"])
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[0], 1, "timed out")
        expect_failed(err, urls[1], 2, "timed out")
        check(seconds < 5, f"two 1 s timeouts in parallel took {seconds:.1f} s")
        ws.check_tree([])


def test_connect_timeout():
    """--connect-timeout: a listener whose accept queue is full drops our SYN
    (loopback only), so the connection never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        # Fill the accept queue (never accepted) so later SYNs are dropped.
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        with Workspace() as ws:
            url = f"http://127.0.0.1:{port}/a.jpg"
            rc, _, err, seconds = run_timed(["-o", ws.out, "--connect-timeout", "0.5", "--timeout", "30",
                                       "--retries", "0", url])
            check(rc == 1, f"exit {rc}: {err}")
            line = failed_line(err, url)
            check("timed out" in line.lower() or "timeout" in line.lower(), f"reason: {line}")
            check(seconds < 4, f"a 0.5 s connect timeout took {seconds:.1f} s")
            ws.check_tree([])
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_max_size_streaming():
    """--max-size holds without a Content-Length (close-delimited, chunked,
    endless) and against a lying one; framing alone is no reason to fail."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name in ("nolen.jpg", "chunk.jpg", "huge.jpg", "small.jpg"):
            ws.photo(name)
        urls = [server.url("nolen.jpg?no_length=1"), server.url("chunk.jpg?chunked=1"),
                server.url("endless.jpg?endless=1"), server.url("endless2.jpg?endless=1&chunked=1"),
                server.url("huge.jpg?fake_length=100000000000"),
                server.url("lie.jpg?endless=1&fake_length=1000")]
        lst = ws.list_file(urls)
        rc, _, err, seconds = run_timed(["-i", lst, "-o", ws.out, "--max-size", "50k", "--timeout", "20"]
                                  + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        for i in (0, 1, 2, 3, 4):
            expect_failed(err, urls[i], i + 1, "limit")
        for path in ("/nolen.jpg", "/chunk.jpg", "/endless.jpg", "/endless2.jpg", "/huge.jpg"):
            check(per_path(server).get(path) == 1, f"{path} over the size cap was retried")
        # The liar says 1000 bytes and sends more: the first 1000 are no image.
        expect_failed(err, urls[5], 6)
        check(seconds < 15, f"endless bodies took {seconds:.1f} s: not cut at the cap")
        check(server.stats()["client_aborts"] >= 2, "the endless bodies were not hung up on")
        ws.check_tree([])

        # The same framings under a cap they fit: processed.
        rc, _, err, _ = run_timed(["-i", ws.list_file(urls[:2], name="fits.txt"), "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        ws.check_tree(["chunk.png", "nolen.png"])


# ---- politeness ----------------------------------------------------------------------

def test_max_per_host():
    """--max-per-host caps what the server sees in flight, and the wait for a
    host slot does not count in --timeout."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="300") as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS])
        rc, _, err = run(["-q", "-i", lst, "-o", ws.out, "-j", "6", "--max-per-host", "2"])
        check(rc == 0, f"exit {rc}: {err}")
        stats = server.stats()
        check(stats["max_inflight"] == 2, f"server saw {stats['max_inflight']} in flight, want 2")
        check(stats["requests"] == len(PHOTOS), f"{stats['requests']} requests")
        # 12 items one at a time at 300 ms: 3.6 s, far over a 1 s timeout,
        # but each transfer alone takes 0.3 s.
        shutil.rmtree(ws.out)
        server.reset()
        rc, _, err = run(["-q", "-i", lst, "-o", ws.out, "-j", "6", "--max-per-host", "1",
                          "--timeout", "1", "--retries", "0"])
        check(rc == 0, f"queueing counted in the timeout: exit {rc}: {err}")
        check(server.stats()["max_inflight"] == 1, f"max in flight {server.stats()}")
        # A host is host:port: another port is another host.
        with Fixture(FIXTURE, ws.www, latency="300") as other:
            urls = [server.url(n) for n in PHOTOS[:4]] + [other.url(n) for n in PHOTOS[4:8]]
            lst2 = ws.list_file(urls, name="two.txt")
            server.reset()
            shutil.rmtree(ws.out)
            rc, _, err = run(["-q", "-i", lst2, "-o", ws.out, "-j", "4", "--max-per-host", "2"])
            check(rc == 0, f"two hosts: {rc} {err}")
            both = (server.stats()["max_inflight"], other.stats()["max_inflight"])
            check(both == (2, 2), f"two hosts in flight: {both}")


def test_rate_limit():
    """--rate-limit bounds the whole run's download rate."""
    with Workspace(PHOTOS[:4]) as ws, Fixture(FIXTURE, ws.www) as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS[:4]])
        total = sum(os.path.getsize(os.path.join(ws.www, n)) for n in PHOTOS[:4])
        rate = 256 * 1024
        start = time.monotonic()
        rc, out, err = run(["--json", "-q", "-i", lst, "-o", ws.out, "-j", "4",
                            "--rate-limit", "256k"])
        wall = time.monotonic() - start
        check(rc == 0, f"exit {rc}: {err}")
        floor = total / rate
        check(wall >= 0.8 * floor, f"{total} bytes in {wall:.2f} s: faster than {rate} B/s")
        check(wall <= 3 * floor + 2, f"{wall:.2f} s for a {floor:.2f} s budget")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
