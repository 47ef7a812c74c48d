#!/usr/bin/env python3
"""Hostile input and faults (issue 4 section 2): the built edgefetch binary
against a fault-injecting fixture server, hostile images and names, a hostile
machine (read-only and full disks, signals), and a real nginx over HTTPS.

Every case asserts on exit codes, the per-item FAILED lines (reason and list
line number), the whole output tree (nothing outside the output folder, no
temporary files) and the server's counters (requests per path, arrival times,
in-flight maxima, aborted responses), not on log text alone.

Run one case: test_hostile.py NAME (meson registers each as its own test).
A case that cannot run here (no root, no nginx) prints why and exits 77,
which meson reports as SKIP: never a silent pass.
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import random
import select
import shutil
import socket
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (DATA, EDGEFETCH, FAST_RETRY, FIXTURE, PHOTOS, SAMPLES, Fixture,  # noqa: E402
                     Nginx, Skip, Workspace, check, expect_failed, failed_line, failed_lines,
                     free_port, in_netns, main_for, per_path, read, run_measured, run_timed,
                     times, tree)
from pngutil import (jpeg_claiming, luma, make_png, png_header_only,  # noqa: E402
                     read_gray_png, sobel_ref)


# ---- Network / HTTP ----------------------------------------------------------------

def test_status_no_retry():
    """404, 410 and 403 fail at once: one request each, line numbers in the reason."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("ok.jpg")
        urls = [server.url("missing.jpg"), server.url("gone.jpg?status=410"),
                server.url("forbidden.jpg?status=403"), server.url("ok.jpg")]
        lst = ws.list_file(["# hostile statuses", ""] + urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}, want 1: {err}")
        expect_failed(err, urls[0], 3, "404")
        expect_failed(err, urls[1], 4, "410")
        expect_failed(err, urls[2], 5, "403")
        counts = per_path(server)
        for path in ("/missing.jpg", "/gone.jpg", "/forbidden.jpg"):
            check(counts.get(path) == 1, f"{path} requested {counts.get(path)} times, want 1 (no retry)")
        ws.check_tree(["ok.png"])


def test_error_body_not_buffered():
    """An error status is refused on its first body bytes, not after its body:
    an endless 404 page fails as "HTTP status 404" (not as over --max-size),
    once, and the client hangs up on it."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url("page.jpg?status=404&endless=1"),
                server.url("deny.jpg?status=403&endless=1&chunked=1")]
        lst = ws.list_file(urls)
        rc, _, err, seconds = run_timed(["-i", lst, "-o", ws.out, "--max-size", "50k", "--timeout", "20"]
                                  + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        for i, code in enumerate(("404", "403")):
            line = expect_failed(err, urls[i], i + 1, f"HTTP status {code}")
            check("limit" not in line, f"the error page was buffered up to the cap: {line!r}")
        for path in ("/page.jpg", "/deny.jpg"):
            check(per_path(server).get(path) == 1, f"{path} was retried")
        check(seconds < 10, f"endless error pages took {seconds:.1f} s")
        check(server.stats()["client_aborts"] >= 2, "the error pages were not hung up on")
        ws.check_tree([])


def _check_backoff(gaps_ms, base_ms, label):
    """Jittered exponential backoff: try k waits base*2^(k-1) * [0.5, 1]."""
    for k, gap in enumerate(gaps_ms, start=1):
        full = base_ms * 2 ** (k - 1)
        check(gap >= 0.5 * full - 20, f"{label}: wait {k} was {gap} ms, under half of {full} ms")
        check(gap <= full + 400, f"{label}: wait {k} was {gap} ms, far over {full} ms")


def test_5xx_retried():
    """500/502/503 are retried --retries times with exponential backoff, then
    fail; a 503 that clears is fetched; --retries 0 and the default (2)."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("flaky.jpg")
        urls = [server.url(f"e{code}.jpg?status={code}") for code in (500, 502, 503)]
        urls.append(server.url("flaky.jpg?fail_times=2"))
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--retries", "2", "--retry-delay", "0.2"])
        check(rc == 1, f"exit {rc}, want 1: {err}")
        for line_no, code in enumerate((500, 502, 503), start=1):
            expect_failed(err, urls[line_no - 1], line_no, str(code), "3 attempts")
            path = f"/e{code}.jpg"
            check(per_path(server).get(path) == 3, f"{path}: {per_path(server).get(path)} requests, want 3")
            arrivals = times(server, path)
            _check_backoff([b - a for a, b in zip(arrivals, arrivals[1:])], 200, path)
        check(per_path(server).get("/flaky.jpg") == 3, f"flaky: {per_path(server)}")
        ws.check_tree(["flaky.png"])

        server.reset()
        rc, _, err, _ = run_timed(["-o", ws.out, "--retries", "0", server.url("zero.jpg?status=503")])
        check(rc == 1 and per_path(server).get("/zero.jpg") == 1,
              f"--retries 0: exit {rc}, {per_path(server)}: {err}")
        server.reset()
        rc, _, err, _ = run_timed(["-o", ws.out, server.url("default.jpg?status=502")])
        check(rc == 1 and per_path(server).get("/default.jpg") == 3,
              f"default --retries 2: exit {rc}, {per_path(server)}: {err}")


def test_connection_errors_retried():
    """A connection closed or reset before any response is retried; a refused
    connection is retried and then fails with its reason."""
    # One request per connection: libcurl re-sends a request by itself when a
    # reused keep-alive connection turns out closed, which would blur the count.
    with Workspace() as ws, Fixture(FIXTURE, ws.www,
                                          extra_args=["--max-requests-per-conn", "1"]) as server:
        ws.photo("drop.jpg")
        ws.photo("rst.jpg")
        dead = free_port()
        urls = [server.url("drop.jpg?fail_times=1&fail=close"),
                server.url("rst.jpg?fail_times=1&fail=reset"),
                server.url("always.jpg?fail_times=100&fail=close"),
                f"http://127.0.0.1:{dead}/refused.jpg"]
        lst = ws.list_file(urls)
        rc, _, err, seconds = run_timed(["-i", lst, "-o", ws.out, "--retries", "2", "--retry-delay", "0.2"])
        check(rc == 1, f"exit {rc}, want 1: {err}")
        counts = per_path(server)
        check(counts.get("/drop.jpg") == 2, f"closed once: {counts.get('/drop.jpg')} requests, want 2")
        check(counts.get("/rst.jpg") == 2, f"reset once: {counts.get('/rst.jpg')} requests, want 2")
        check(counts.get("/always.jpg") == 3, f"always closed: {counts.get('/always.jpg')}, want 3")
        expect_failed(err, urls[2], 3, "3 attempts")
        expect_failed(err, urls[3], 4, "onnect", "3 attempts")
        # Two waits of at least 0.1 and 0.2 s: the refused URL was retried.
        check(seconds >= 0.3, f"refused connection not retried with backoff ({seconds:.2f} s)")
        ws.check_tree(["drop.png", "rst.png"])


def test_429_retry_after():
    """429 waits Retry-After (seconds, or an HTTP-date) while other transfers
    go on, clamped by --retry-max-wait; a garbage value falls back to backoff."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("limited.jpg")
        others = [f"other{i}.jpg" for i in range(4)]
        for name in others:
            ws.photo(name)
        urls = [server.url("limited.jpg?status=429&retry_after=2&fail_times=1")]
        urls += [server.url(name + "?delay=150") for name in others]
        lst = ws.list_file(urls)
        # One download slot: the others can only go on if the waiting item
        # does not hold it.
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "-j", "1"] + FAST_RETRY)
        check(rc == 0, f"exit {rc}: {err}")
        t = times(server, "/limited.jpg")
        check(len(t) == 2, f"429 item requested {len(t)} times, want 2")
        check(t[1] - t[0] >= 1950, f"Retry-After: 2 not honoured: waited {t[1] - t[0]} ms")
        check(t[1] - t[0] <= 3500, f"Retry-After: 2 waited {t[1] - t[0]} ms")
        starts = {n: times(server, "/" + n)[0] for n in others}
        during = [n for n in others if t[0] <= starts[n] <= t[1]]
        check(len(during) == len(others),
              f"429 at {t[0]} ms, retried at {t[1]} ms; the others started at {starts}: "
              "some waited for the 429 item")
        check(server.stats()["max_inflight"] == 1, "more than -j 1 in flight")
        ws.check_tree(sorted(["limited.png"] + [n[:-4] + ".png" for n in others]))

        # HTTP-date two seconds ahead: at least one whole second, at most three.
        ws.photo("dated.jpg")
        ws.photo("clamped.jpg")
        ws.photo("garbage.jpg")
        server.reset()
        urls = [server.url("dated.jpg?status=429&retry_after=2&retry_after_date=1&fail_times=1"),
                server.url("clamped.jpg?status=429&retry_after=86400&fail_times=1"),
                server.url("garbage.jpg?status=429&retry_after_raw=soon%21&fail_times=1")]
        lst = ws.list_file(urls)
        rc, _, err, seconds = run_timed(["-i", lst, "-o", ws.out, "--retry-max-wait", "1"] + FAST_RETRY,
                                  timeout=60)
        check(rc == 0, f"exit {rc}: {err}")
        for name, low, high in (("dated", 900, 2600), ("clamped", 900, 2000), ("garbage", 0, 1500)):
            t = times(server, f"/{name}.jpg")
            check(len(t) == 2, f"{name}: {len(t)} requests, want 2")
            gap = t[1] - t[0]
            check(low <= gap <= high, f"{name}: waited {gap} ms, want {low}..{high}")
        check(seconds < 10, f"a clamped Retry-After still took {seconds:.1f} s")


def test_redirect_limits():
    """--max-redirs (default 5) counts hops; a loop ends; no retry after it."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("five.jpg")
        ws.photo("six.jpg")
        ws.photo("two.jpg")
        urls = [server.url("five.jpg?hops=5"), server.url("six.jpg?hops=6"),
                server.url("loop.jpg?loop=1")]
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[1], 2, "redirect")
        expect_failed(err, urls[2], 3, "redirect")
        counts = per_path(server)
        check(counts.get("/five.jpg") == 6, f"5 hops: {counts.get('/five.jpg')} requests, want 6")
        check(counts.get("/six.jpg") == 6, f"6 hops: {counts.get('/six.jpg')} requests, want 6")
        check(counts.get("/loop.jpg") == 6, f"loop: {counts.get('/loop.jpg')} requests, want 6")
        ws.check_tree(["five.png"])

        server.reset()
        rc, _, err, _ = run_timed(["-o", ws.out, "--max-redirs", "1", server.url("two.jpg?hops=2")])
        check(rc == 1 and per_path(server).get("/two.jpg") == 2,
              f"--max-redirs 1: exit {rc}, {per_path(server)}: {err}")


def test_redirect_schemes():
    """A redirect off http(s) is refused, whatever the scheme, and nothing
    connects to the target."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
            targets = ["file:///etc/passwd", f"ftp://127.0.0.1:{port}/a.jpg",
                       f"gopher://127.0.0.1:{port}/1", f"dict://127.0.0.1:{port}/d",
                       f"scp://127.0.0.1:{port}/x"]
            urls = [server.url(f"r{i}.jpg?redirect=" + t.replace(":", "%3A").replace("/", "%2F"))
                    for i, t in enumerate(targets)]
            lst = ws.list_file(urls)
            rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            for i, url in enumerate(urls):
                expect_failed(err, url, i + 1, "redirect")
                check(per_path(server).get(f"/r{i}.jpg") == 1, f"redirect {i} retried")
            ws.check_tree([])
        readable, _, _ = select.select([listener], [], [], 0)
        check(not readable, "a refused redirect still connected to its target")
    finally:
        listener.close()


def test_cut_bodies():
    """A body shorter than its Content-Length, a chunked body cut off, and a
    Content-Length the server does not keep: retried (cut-off is transient),
    then failed; no partial output."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name in ("short.jpg", "cut.jpg", "liar.jpg", "healed.jpg"):
            ws.photo(name)
        size = os.path.getsize(os.path.join(ws.www, "short.jpg"))
        urls = [server.url("short.jpg?short=5000"), server.url("cut.jpg?chunked_cut=5000"),
                server.url(f"liar.jpg?fake_length={size + 100000}"),
                server.url("healed.jpg?fail_times=1&short=100")]
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--retries", "2"] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        for i, name in enumerate(("short", "cut", "liar")):
            expect_failed(err, urls[i], i + 1, "download")
            check(per_path(server).get(f"/{name}.jpg") == 3,
                  f"{name}: {per_path(server).get(f'/{name}.jpg')} requests, want 3")
        ws.check_tree(["healed.png"])


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


def test_keepalive_closed():
    """A server that says keep-alive and closes after each response."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        names = [f"k{i}.jpg" for i in range(4)]
        for name in names:
            ws.photo(name)
        lst = ws.list_file([server.url(n + "?close=1") for n in names])
        rc, _, err, _ = run_timed(["--sequential", "-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 0, f"exit {rc}: {err}")
        stats = server.stats()
        check(stats["requests"] == 4, f"{stats['requests']} requests for 4 items")
        check(stats["connections"] == 4, f"{stats['connections']} connections, want 4 (one per close)")
        ws.check_tree(sorted(n[:-4] + ".png" for n in names))


def test_unresolvable_host():
    """A .invalid host fails with a resolver error, inside a network namespace
    with only loopback up, so no query can leave the machine."""
    if not in_netns(__file__, "unresolvable_host"):
        return
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("ok.jpg")
        urls = ["http://no-such-host.invalid/a.jpg", server.url("ok.jpg")]
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[0], 1, "resolve")
        ws.check_tree(["ok.png"])


# ---- Images -------------------------------------------------------------------------

def test_bodies_not_images():
    """HTML served as image/jpeg, a JSON error, an empty 200: refused once each,
    saying what the body starts with."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("page.html", b"<!DOCTYPE html>\n<html><body>Access denied</body></html>\n")
        ws.write("err.json", b'{"error": "quota exceeded"}\n')
        ws.write("empty.jpg", b"")
        ws.write("escape.txt", b"\x1b]0;pwned\x07\x1b[2J<html>\n")
        urls = [server.url("photo.jpg?file=page.html&type=image%2Fjpeg"),
                server.url("err.png?file=err.json&type=image%2Fpng"), server.url("empty.jpg"),
                server.url("esc.jpg?file=escape.txt&type=image%2Fjpeg")]
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[0], 1, 'not an image: starts with "<!DOCTYPE html>"')
        expect_failed(err, urls[1], 2, 'starts with "{\\"error\\"')
        expect_failed(err, urls[2], 3, "empty")
        expect_failed(err, urls[3], 4, "not an image")
        check("\x1b" not in err, "an escape sequence from a body reached the terminal")
        for path in ("/photo.jpg", "/err.png", "/empty.jpg", "/esc.jpg"):
            check(per_path(server).get(path) == 1, f"{path} was retried")
        ws.check_tree([])


def test_images_refused():
    """Truncated and corrupt JPEG/PNG, huge header claims (refused before any
    pixel buffer: peak RSS stays small), over --max-pixels, a format not
    decoded (JPEG XL; GIF, decoded since issue 14, is tests/integration/test_formats.py's)."""
    photo = read(os.path.join(SAMPLES, PHOTOS[0]))
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        good = make_png(8, 8, 8, 2, [[(x * 30, y * 30, 99) for x in range(8)] for y in range(8)])
        bad_zlib = bytearray(good)
        idat = bad_zlib.find(b"IDAT")
        bad_zlib[idat + 6:idat + 14] = b"\xde\xad\xbe\xef" * 2
        files = {
            "cut.jpg": (photo[:len(photo) // 3], "truncated JPEG"),
            "headcut.jpg": (photo[:300], "truncated JPEG"),
            "cut.png": (good[:len(good) - 30], "truncated PNG"),
            "zlib.png": (bytes(bad_zlib), "corrupt PNG"),
            "huge.png": (png_header_only(50000, 50000), "50000x50000"),
            "hugejpeg.jpg": (jpeg_claiming(photo, 65000, 65000), "65000x65000"),
            "x.jxl": (b"\xff\x0a\xfa\x3f" + bytes(60), "unsupported format (JPEG XL)"),
        }
        names = list(files)
        for name in names:
            ws.write(name, files[name][0])
        urls = [server.url(n) for n in names]
        lst = ws.list_file(urls)
        rc, _, err, _, peak_mib = run_measured(["-i", lst, "-o", ws.out, "-w", "2"] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        for i, name in enumerate(names):
            expect_failed(err, urls[i], i + 1, files[name][1])
            check(per_path(server).get("/" + name) == 1, f"{name} was downloaded again")
        for name in ("huge.png", "hugejpeg.jpg"):
            expect_failed(err, server.url(name), names.index(name) + 1, "limit")
        check(peak_mib < 400, f"peak RSS {peak_mib:.0f} MiB: a huge claim got a pixel buffer")
        ws.check_tree([])

        # A real photo over --max-pixels (1620x1080 = 1.75 MP).
        ws.photo("big.jpg")
        rc, _, err, _ = run_timed(["-o", ws.out, "--max-pixels", "1M", server.url("big.jpg")])
        check(rc == 1, f"--max-pixels: exit {rc}: {err}")
        line = failed_line(err, server.url("big.jpg"))
        check("1620x1080" in line and "limit" in line, f"--max-pixels reason: {line}")


def test_jpeg_bad_huffman():
    """A JPEG whose Huffman table counts add up to far more than 256 codes is
    refused as corrupt, with no memory error (stb_image 2.27 wrote past its
    table here, found by fuzzing: tests/fuzz/crashes/README.md)."""
    photo = read(os.path.join(SAMPLES, PHOTOS[0]))
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        bad = bytearray(photo)
        dht = bad.find(b"\xff\xc4")
        bad[dht + 5:dht + 21] = b"\xff" * 16  # 16 code-length counts of 255
        ws.write("badhuff.jpg", bytes(bad))
        shutil.copy(os.path.join(HERE, "..", "fuzz", "crashes", "stb-build-huffman-dht-overflow.jpg"),
                    os.path.join(ws.www, "fuzzed.jpg"))
        urls = [server.url("badhuff.jpg"), server.url("fuzzed.jpg")]
        rc, _, err, _ = run_timed(["-i", ws.list_file(urls), "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}, want 1 (a sanitizer report or crash?): {err[-3000:]}")
        expect_failed(err, urls[0], 1, "JPEG")
        expect_failed(err, urls[1], 2, "JPEG")
        ws.check_tree([])


def _random_samples(rng, w, h, channels, maxv):
    return [[tuple(rng.randrange(maxv + 1) for _ in range(channels)) for _ in range(w)]
            for _ in range(h)]


def test_images_accepted():
    """16-bit, grayscale, gray+alpha, RGBA, palette (+tRNS), 1-bit and Adam7 PNGs
    and a CMYK JPEG are processed correctly: the edge map equals the reference
    Sobel of the expected luma (alpha dropped, 16 bits reduced to 8)."""
    rng = random.Random(4)
    w, h = 11, 7
    cases = {}
    rgb8 = _random_samples(rng, w, h, 3, 255)
    gray8 = _random_samples(rng, w, h, 1, 255)
    alpha = _random_samples(rng, w, h, 1, 255)
    rgb_luma = [bytes(luma(*px) for px in row) for row in rgb8]
    gray_luma = [bytes(px[0] for px in row) for row in gray8]
    cases["gray8.png"] = (make_png(w, h, 8, 0, gray8), gray_luma)
    cases["gray16.png"] = (make_png(w, h, 16, 0, [[(v * 257,) for (v,) in r] for r in gray8]), gray_luma)
    cases["graya8.png"] = (make_png(w, h, 8, 4, [[(g[0], a[0]) for g, a in zip(rg, ra)]
                                                 for rg, ra in zip(gray8, alpha)]), gray_luma)
    cases["graya16.png"] = (make_png(w, h, 16, 4, [[(g[0] * 257, a[0] * 257) for g, a in zip(rg, ra)]
                                                   for rg, ra in zip(gray8, alpha)]), gray_luma)
    cases["rgb16.png"] = (make_png(w, h, 16, 2, [[tuple(v * 257 for v in px) for px in r]
                                                 for r in rgb8]), rgb_luma)
    cases["rgba8.png"] = (make_png(w, h, 8, 6, [[px + a for px, a in zip(r, ra)]
                                                for r, ra in zip(rgb8, alpha)]), rgb_luma)
    cases["adam7.png"] = (make_png(w, h, 8, 2, rgb8, interlace=True), rgb_luma)
    palette = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(16)]
    index = _random_samples(rng, w, h, 1, 15)
    pal_luma = [bytes(luma(*palette[i]) for (i,) in row) for row in index]
    cases["palette.png"] = (make_png(w, h, 8, 3, index, palette=palette), pal_luma)
    cases["palette-trns.png"] = (make_png(w, h, 4, 3, index, palette=palette,
                                          trns=bytes(range(0, 256, 16))), pal_luma)
    bits = _random_samples(rng, w, h, 1, 1)
    cases["gray1.png"] = (make_png(w, h, 1, 0, bits), [bytes(255 * b for (b,) in r) for r in bits])

    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name, (data, _) in cases.items():
            ws.write(name, data)
        shutil.copy(os.path.join(DATA, "cmyk-halves.jpg"), ws.www)
        names = sorted(cases) + ["cmyk-halves.jpg"]
        lst = ws.list_file([server.url(n) for n in names])
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        for name, (_, expected_luma) in sorted(cases.items()):
            ow, oh, rows = read_gray_png(read(os.path.join(ws.out, name[:-4] + ".png")))
            check((ow, oh) == (w, h), f"{name}: size {(ow, oh)}")
            check(rows == sobel_ref(expected_luma, w, h), f"{name}: edges differ from the reference")

        # CMYK (Adobe, inverted as Photoshop and Pillow write it): left half
        # RGB (30, 60, 90), right half (70, 80, 100), flat 16x16 blocks that
        # JPEG keeps almost exactly (tests/integration/data/README).
        ow, oh, rows = read_gray_png(read(os.path.join(ws.out, "cmyk-halves.png")))
        check((ow, oh) == (64, 32), f"cmyk: size {(ow, oh)}")
        step = 4 * (luma(70, 80, 100) - luma(30, 60, 90))  # |gx| at the seam
        for y, row in enumerate(rows):
            for x, value in enumerate(row):
                want = step if x in (31, 32) else 0
                check(abs(value - want) <= 12,
                      f"cmyk: edge {value} at ({x},{y}), want about {want} (colour conversion wrong?)")
        ws.check_tree(sorted(n.rsplit(".", 1)[0] + ".png" for n in names))


# ---- URL list and names -------------------------------------------------------------------

def test_list_refusals():
    """Malformed URLs and file/ftp/gopher/dict/... are refused before any I/O,
    with the list's line number; CRLF, a BOM, blanks, comments and padding are
    tolerated; the same URL twice is fetched once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
            ws.photo("good.jpg")
            good = server.url("good.jpg")
            bad = {
                3: ("file:///etc/passwd", "scheme"),
                4: (f"ftp://127.0.0.1:{port}/a.jpg", "scheme"),
                5: (f"gopher://127.0.0.1:{port}/1", "scheme"),
                6: (f"dict://127.0.0.1:{port}/d", "scheme"),
                8: ("http//no-scheme.jpg", "malformed"),
                9: ("http://", "malformed"),
                10: (f"http://127.0.0.1:{port}/a b.jpg", "malformed"),
                11: (f"ldap://127.0.0.1:{port}/x", "scheme"),
            }
            lines = ["\ufeff# BOM, then a comment", "   " + good + "  \t"]
            for no in range(3, 12):
                lines.append(bad[no][0] if no in bad else "")
            lines += ["# dup:", good, "\t" + good]
            raw = "\r\n".join(lines).encode("utf-8") + b"\r\n"
            lst = ws.list_file([], raw=raw)
            rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            check(len(failed_lines(err)) == len(bad), f"{len(failed_lines(err))} FAILED lines:\n{err}")
            for no, (url, word) in bad.items():
                expect_failed(err, url, no, word)
            check(server.stats()["requests"] == 1, f"server requests {per_path(server)}")
            ws.check_tree(["good.png"])
        readable, _, _ = select.select([listener], [], [], 0)
        check(not readable, "a refused scheme connected anyway")
    finally:
        listener.close()


def test_list_binary():
    """A list with a NUL byte is refused as a whole (exit 2) before any
    download, naming the line."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("a.jpg")
        raw = (server.url("a.jpg") + "\n" + "http://127.0.0.1/b\x00.jpg\n").encode()
        rc, _, err, _ = run_timed(["-i", ws.list_file([], raw=raw), "-o", ws.out])
        check(rc == 2, f"exit {rc}, want 2: {err}")
        check("line 2" in err and "NUL" in err, f"message: {err}")
        check(server.stats()["requests"] == 0, "downloaded from a list that was refused")


def test_list_control_chars():
    """URLs with raw control characters (ESC sequences, BEL, a lone CR) are
    refused with their line number, and never echoed raw to the terminal."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("ok.jpg")
        hostile = [server.url("x\x1b[31mred\x1b]0;title\x07.jpg"), server.url("a\rb.jpg"),
                   server.url("tab\there.jpg")]
        lst = ws.list_file([server.url("ok.jpg")] + hostile)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err!r}")
        fails = failed_lines(err)
        check(len(fails) == 3, f"{len(fails)} FAILED lines: {err!r}")
        for no in (2, 3, 4):
            check(any(f"line {no}: " in line and "malformed" in line for line in fails),
                  f"no 'line {no}: ... malformed' in {fails!r}")
        for bad in ("\x1b", "\x07", "\r"):
            check(bad not in err, f"a raw {bad!r} from the URL list reached stderr: {fails!r}")
        check(per_path(server) == {"/ok.jpg": 1}, f"requests {per_path(server)}")
        ws.check_tree(["ok.png"])


def _check_safe_name(name):
    check("/" not in name and "\\" not in name and not name.startswith("."), f"unsafe name {name!r}")
    check(all(c.isascii() and (c.isalnum() or c in "._-") for c in name), f"unsafe name {name!r}")
    check(name.endswith(".png") and len(name.encode()) <= 255, f"bad name {name!r}")


def test_hostile_names():
    """Whatever a URL's path says, outputs land inside the output folder with
    safe, distinct, order-independent names (the whole tree is listed)."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        base = f"http://127.0.0.1:{server.port}"
        q = "?file=p.jpg"
        urls = [
            base + "/a/../../x.jpg" + q,
            base + "/%2e%2e%2f%2e%2e%2fevil.jpg" + q,
            base + "/..%5c..%5cwin.jpg" + q,
            base + "/a%00b.jpg" + q,
            base + "/%0d%0aSet-Cookie:%20x.jpg" + q,
            base + "/%1b%5b2J%1b%5d0%3bt%07.jpg" + q,
            base + "/" + "n" * 300 + ".jpg" + q,
            base + "/%2e%2e" + q,
            base + "/.hidden.jpg" + q,
            base + q,
            base + "/?id=3&file=p.jpg",
            base + "/" + q,
            base + "/caf%C3%A9.jpg" + q,
            base + "/dir/" + q,
        ]
        # The output folder is deep inside the workspace, so a name that
        # escaped it (../../x) would show up in the tree.
        ws.out = os.path.join(ws.tmp, "a", "b", "out")
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 0, f"exit {rc}: {err}")
        first = tree(ws.out)
        check(len(first) == len(urls), f"{len(first)} outputs for {len(urls)} URLs: {first}")
        for name in first:
            _check_safe_name(name)
        ws.check_tree(first)
        # Same set, other order: the same names.
        shutil.rmtree(ws.out)
        lst = ws.list_file(list(reversed(urls)))
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--sequential"] + FAST_RETRY)
        check(rc == 0 and tree(ws.out) == first, f"names depend on order: {tree(ws.out)} vs {first}")


def test_existing_output_kept():
    """An existing output is not overwritten unless --force."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        os.makedirs(ws.out)
        with open(os.path.join(ws.out, "p.png"), "wb") as f:
            f.write(b"mine, not edgefetch's")
        rc, _, err, _ = run_timed(["-o", ws.out, server.url("p.jpg")])
        check(rc == 0, f"exit {rc}: {err}")
        check(read(os.path.join(ws.out, "p.png")) == b"mine, not edgefetch's", "overwritten without --force")
        rc, _, err, _ = run_timed(["-o", ws.out, "--force", server.url("p.jpg")])
        check(rc == 0, f"--force: exit {rc}: {err}")
        ws.check_tree(["p.png"])


# ---- Machine ---------------------------------------------------------------------------------

def _mount(args):
    proc = subprocess.run(["mount"] + args, capture_output=True)
    if proc.returncode != 0:
        raise Skip(f"mount {' '.join(args)} failed (needs root): {proc.stderr.decode().strip()}")


def _umount(path):
    subprocess.run(["umount", path], capture_output=True)


def test_output_dir_missing():
    """A missing output folder (and its parents) is created."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        out = os.path.join(ws.tmp, "out", "deep", "er")
        rc, _, err, _ = run_timed(["-o", out, server.url("p.jpg")])
        check(rc == 0, f"exit {rc}: {err}")
        ws.check_tree(["deep/er/p.png"])


def test_output_dir_readonly():
    """A read-only output folder (a read-only bind mount: root ignores modes)
    stops the run with exit 2 before any download."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        os.makedirs(ws.out)
        _mount(["--bind", ws.out, ws.out])
        try:
            _mount(["-o", "remount,ro,bind", ws.out])
            rc, _, err, _ = run_timed(["-o", ws.out, server.url("p.jpg")])
            check(rc == 2, f"exit {rc}, want 2: {err}")
            check(ws.out in err and "read-only" in err.lower(), f"message: {err}")
            check(server.stats()["requests"] == 0, "downloaded although the output is read-only")
        finally:
            _umount(ws.out)
        ws.check_tree([])


def test_disk_full():
    """A full disk fails the item that does not fit, removes its temporary file,
    and the others go on."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name in PHOTOS[:2]:
            ws.photo(name, name)
        tiny = [f"t{i}.png" for i in range(3)]
        for name in tiny:
            ws.write(name, make_png(8, 8, 8, 0, [[(x * 16 + y,) for x in range(8)] for y in range(8)]))
        os.makedirs(ws.out)
        _mount(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", ws.out])
        try:
            names = PHOTOS[:2] + tiny
            lst = ws.list_file([server.url(n) for n in names])
            rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "-w", "2"] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            for i, name in enumerate(PHOTOS[:2]):
                expect_failed(err, server.url(name), i + 1, "write", "No space left")
            ws.check_tree(tiny)
        finally:
            _umount(ws.out)


def test_disk_full_keeps_old_output():
    """--force over an existing output on a full disk: the new output does not
    fit, the item fails, and the old file is still there byte for byte (the
    write goes to a temporary file and only a complete one is renamed over)."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        name = PHOTOS[0]
        ws.photo(name, name)
        os.makedirs(ws.out)
        _mount(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", ws.out])
        try:
            old = make_png(8, 8, 8, 0, [[(x * 16 + y,) for x in range(8)] for y in range(8)])
            final = name[:-4] + ".png"
            with open(os.path.join(ws.out, final), "wb") as f:
                f.write(old)
            url = server.url(name)
            rc, _, err, _ = run_timed(["-i", ws.list_file([url]), "-o", ws.out, "--force"] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            expect_failed(err, url, 1, "write", "No space left")
            check(os.path.exists(os.path.join(ws.out, final)),
                  f"the old {final} is gone after a failed rewrite")
            check(read(os.path.join(ws.out, final)) == old,
                  f"the old {final} was changed by a failed rewrite")
            ws.check_tree([final])
        finally:
            _umount(ws.out)


# ---- HTTPS with a real nginx ----------------------------------------------------------------

def test_https_nginx():
    """Debian's nginx on 127.0.0.1 with a certificate made now: --cacert works
    over HTTP/2, no --cacert is a certificate error, --insecure works and says so."""
    with Workspace() as ws, Nginx(ws.www) as nginx:
        for name in PHOTOS[:3]:
            ws.photo(name, name)
        urls = [nginx.url(n) for n in PHOTOS[:3]]
        lst = ws.list_file(urls)
        expected = sorted(n[:-4] + ".png" for n in PHOTOS[:3])

        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--cacert", nginx.cacert])
        check(rc == 0, f"--cacert: exit {rc}: {err}")
        ws.check_tree(expected)
        log = read(nginx.access_log).decode().splitlines()
        check(len(log) == 3 and all(" HTTP/2.0 200 " in line for line in log),
              f"nginx access log does not show 3 HTTP/2.0 requests: {log}")

        shutil.rmtree(ws.out)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--retries", "0"])
        check(rc == 1, f"no --cacert: exit {rc}: {err}")
        for url in urls:
            line = failed_line(err, url)
            check("certificate" in line.lower(), f"no certificate error: {line}")
        ws.check_tree([])

        shutil.rmtree(ws.out)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--insecure"])
        check(rc == 0, f"--insecure: exit {rc}: {err}")
        check("--insecure" in err and "NOT verified" in err, f"--insecure is silent: {err}")
        rc, _, err, _ = run_timed(["-q", "-i", lst, "-o", ws.out, "--force", "--insecure"])
        check(rc == 0 and "NOT verified" in err, f"-q --insecure is silent: {rc} {err}")
        ws.check_tree(expected)


if __name__ == "__main__":
    sys.exit(main_for(globals()))
