#!/usr/bin/env python3
"""Retries and statuses (README, Safety): 404/410/403 fail at once, an error page
is refused on its first bytes, 5xx and connection errors are retried with
backoff and jitter, 429/503 Retry-After is waited for; each asserted on the
server's counters and arrival times.

Run one case: test_retries.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, PHOTOS, Fixture, Workspace, check, expect_failed,  # noqa: E402
                     free_port, main_for, per_path, run, run_timed, times, tree)


def test_retries():
    """5xx is retried --retries times with backoff, 404 never; others go on meanwhile."""
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = ws.list_file([server.url("busy.jpg?status=503"), server.url("gone.jpg"),
                             server.url(PHOTOS[0]), server.url("oops.jpg?status=500"),
                             server.url(PHOTOS[1])])
        rc, _, err = run(["-i", urls, "-o", ws.out, "--retries", "2", "--retry-delay", "0.1"])
        check(rc == 1, f"exit {rc}: {err}")
        per_path = server.stats()["per_path"]
        check(per_path.get("/busy.jpg") == 3, f"503: {per_path.get('/busy.jpg')} requests, want 3")
        check(per_path.get("/oops.jpg") == 3, f"500: {per_path.get('/oops.jpg')} requests, want 3")
        check(per_path.get("/gone.jpg") == 1, f"404 retried: {per_path.get('/gone.jpg')}")
        check("after 3 attempts" in err, f"no attempt count in: {err}")
        check(len(tree(ws.out)) == 2, f"tree {tree(ws.out)}")
        server.reset()
        rc, _, err = run(["-o", ws.out, "--retries", "0", server.url("busy.jpg?status=503")])
        check(rc == 1 and server.stats()["per_path"].get("/busy.jpg") == 1,
              f"--retries 0: {server.stats()['per_path']}")


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


if __name__ == "__main__":
    sys.exit(main_for(globals()))
