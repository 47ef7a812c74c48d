#!/usr/bin/env python3
"""Integration tests on a small many-host world (issue 11 deliverable 2): about
50 hosts and a few hundred URLs each, built by the test inside its own network
namespace (world.py), asserting on what the servers saw (connections and
requests per host with times, DNS queries, SYNs dropped) and on edgefetch's
--json items, exit codes and output folder.

Run one case as root: test_world.py NAME (meson registers each as its own
test; without root it exits 77, SKIP). Needs EDGEFETCH and SAMPLES; WORLD_CACHE
(optional) is where the world's images are kept between runs.

Only what the current scheduler does is asserted here; the assertions that
need issue 12's scheduler are in pending_scheduler.py.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from world import Failure, check  # noqa: E402
from world import FAST_RETRY, all_ok as _all_ok, good_hosts as _good  # noqa: E402
from world import items_of_hosts as _items_of, no_leftovers as _no_leftovers  # noqa: E402

def _get(host, path, timeout=5.0, conn=None):
    """One GET with the standard library; returns (status, headers, body, seconds)."""
    import http.client
    start = time.monotonic()
    own = conn is None
    conn = conn or http.client.HTTPConnection(host.name, 80, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, dict(resp.getheaders()), body, time.monotonic() - start
    finally:
        if own:
            conn.close()


def test_profiles():
    """The world does what its profiles say, seen by a plain Python client
    (no edgefetch): latency to first byte, paced bandwidth, 404 for unknown
    images, 429 with Retry-After then the file, a reset mid-body, no
    keep-alive, the connection limit, dead (connect times out, SYNs counted),
    refusing (RST, counted), NXDOMAIN; and the log counts the connections
    open at once."""
    import http.client
    import socket
    import threading
    with world.World() as w:
        slow = w.add("http", 1, label="slow", latency_ms=(300, 300))[0]
        paced = w.add("http", 1, label="paced", bandwidth=100_000)[0]
        limited = w.add("http", 1, label="limited", max_conns=1, latency_ms=(400, 400))[0]
        r429 = w.add("http", 1, label="r429", status=429, retry_after=3, fail_times=1)[0]
        reset = w.add("http", 1, label="reset", reset_mid_body=True)[0]
        close = w.add("http", 1, label="close", keepalive=False)[0]
        dead = w.add("dead", 1)[0]
        refuse = w.add("refuse", 1)[0]
        nx = w.add("nxdomain", 1)[0]
        w.start()
        big = max(w.image_names, key=lambda n: os.path.getsize(os.path.join(w.image_dir, n)))
        size = os.path.getsize(os.path.join(w.image_dir, big))

        status, _, body, took = _get(slow, f"/a_{big}")
        check(status == 200 and len(body) == size and took >= 0.3, f"slow: {status} {took:.3f} s")
        status, _, body, took = _get(paced, f"/a_{big}")
        check(status == 200 and took >= 0.9 * size / 100_000,
              f"paced: {size} bytes in {took:.3f} s at 100 kB/s")
        status, _, _, _ = _get(slow, "/a_no-such-image.jpg")
        check(status == 404, f"unknown image: {status}")
        status, headers, _, _ = _get(r429, f"/b_{big}")
        check(status == 429 and headers.get("Retry-After") == "3", f"429: {status} {headers}")
        status, _, body, _ = _get(r429, f"/b_{big}")
        check(status == 200 and len(body) == size, f"429 host, second request: {status}")
        try:
            _get(reset, f"/c_{big}")
            raise Failure("reset: the whole body came")
        except (ConnectionResetError, http.client.IncompleteRead) as e:
            print(f"reset mid-body: {type(e).__name__}")
        conn = http.client.HTTPConnection(close.name, 80, timeout=5)
        status, headers, _, _ = _get(close, f"/d_{big}", conn=conn)
        check(status == 200 and headers.get("Connection") == "close", f"close: {headers}")
        conn.close()

        # Two at once to the limited host: one file, one 503 Retry-After.
        results = []
        threads = [threading.Thread(target=lambda: results.append(_get(limited, f"/e_{big}")[:2]))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(s for s, _ in results)
        check(statuses == [200, 503], f"limited host, two at once: {statuses}")

        start = time.monotonic()
        try:
            socket.create_connection((dead.name, 80), timeout=1.0)
            raise Failure("dead host accepted")
        except (socket.timeout, TimeoutError):
            check(time.monotonic() - start >= 0.95, "dead host: timed out early")
        try:
            socket.create_connection((refuse.name, 80), timeout=1.0)
            raise Failure("refusing host accepted")
        except ConnectionRefusedError:
            pass
        try:
            socket.getaddrinfo(nx.name, 80)
            raise Failure(f"{nx.name} resolved")
        except socket.gaierror:
            pass
        syns = w.syn_counters()
        check(syns.get(dead.name, 0) >= 1 and syns.get(refuse.name, 0) == 1, f"nft counters {syns}")

        traffic = w.traffic()
        t = traffic.host(limited)
        check(t.connections == 2 and t.max_open_connections() == 2, f"limited: {t.connections} "
              f"connections, {t.max_open_connections()} at once")
        t = traffic.host(r429)
        check(len(t.request_times(f"/b_{big}")) == 2, f"r429 log: {t.requests}")
        print(f"profiles ok; largest image {big} {size} bytes; nft {syns}")
        _no_leftovers(w)


def test_politeness():
    """40 plain hosts (6 URLs each) and 10 HTTP/2 hosts at -j 32 --max-per-host 2:
    no host ever has more than 2 connections open or 2 requests in flight
    (server logs), the whole run never more than 32 requests in flight, and
    the caps are reached (so the test can see a breach)."""
    with world.World() as w:
        plain = _good(w, 40, latency_ms=(30, 120), bandwidth=1_000_000)
        h2 = w.add("https", 10)
        w.start()
        urls = w.urls(plain, 6) + w.urls(h2, 6)
        run = w.run_edgefetch(urls, ["-j", "32", "--max-per-host", "2"] + FAST_RETRY)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 0, f"{run.describe()}\n{run.stderr[-2000:]}")
        traffic = w.traffic()
        worst_conns = max(traffic.host(h).max_open_connections() for h in plain)
        worst_inflight = max(traffic.host(h).max_requests_in_flight() for h in plain)
        for h in plain:
            t = traffic.host(h)
            check(len(t.requests) == 6, f"{h.name}: {len(t.requests)} requests for 6 URLs")
            check(t.max_open_connections() <= 2,
                  f"{h.name}: {t.max_open_connections()} connections open at once, --max-per-host 2")
            check(t.max_requests_in_flight() <= 2,
                  f"{h.name}: {t.max_requests_in_flight()} requests in flight, --max-per-host 2")
        for h in h2:
            t = traffic.host(h)
            check(t.max_open_connections() <= 2,
                  f"{h.name}: {t.max_open_connections()} HTTP/2 connections in use at once, cap 2")
        intervals = []
        for h in plain:
            t = traffic.host(h)
            starts = sorted(t.request_times())
            ends = sorted(r[0] for r in t.responses)
            intervals += list(zip(starts, ends))
        overall = world.max_overlap(intervals)
        check(overall <= 32, f"{overall} requests in flight over all hosts, -j 32")
        check(worst_inflight == 2, f"no host reached 2 requests in flight (max {worst_inflight}): "
              "the test cannot see a breach")
        print(f"{run.describe()}; per host max connections {worst_conns}, max in flight "
              f"{worst_inflight}; all hosts {overall} in flight at most")
        _no_leftovers(w)


def test_dead_hosts():
    """5 dead hosts (SYNs dropped) among 45 good ones, 3 URLs each, at
    --max-per-host 2: a dead URL that was tried fails with a connect timeout
    after one attempt (a connect timeout is not retried), having waited the
    full --connect-timeout; the first connect timeout takes its host down
    (pipeline/hosts.c), and a host never connected to runs one transfer
    until it connects, so each dead host costs ONE attempt, not 3 URLs x
    (1 + --retries), and its other 2 URLs fail as host unreachable with no
    attempt of their own (before: the attempts that started together, its
    2 slots; before that, 3 timeouts took a host down, and the third was
    tried); the nft rules saw the SYNs; every other item is ok."""
    with world.World() as w:
        good = _good(w, 45)
        dead = w.add("dead", 5)
        w.start()
        urls = w.urls(good, 4) + w.urls(dead, 3)
        run = w.run_edgefetch(urls, ["-j", "32", "--max-per-host", "2", "--connect-timeout", "1",
                                     "--retries", "1"] + FAST_RETRY)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 1, f"{run.describe()}")
        _all_ok(run, good)
        dead_items = _items_of(run, dead)
        check(len(dead_items) == 15, f"{len(dead_items)} dead items")
        for item in dead_items:
            err = item["error"] or {}
            check(item["status"] == "failed" and err.get("kind") == "timeout"
                  and err.get("stage") == "download", f"{item['url']}: {item['status']} {err}")
            check(item["http_code"] is None, f"{item}")
            if item["attempts"] == 0:
                check(err.get("message", "").startswith("host unreachable: "),
                      f"{item['url']}: failed untried, not as host unreachable: {err}")
                continue
            check("Failed to connect" in err.get("message", "")
                  and "Timeout" in err.get("message", ""),
                  f"{item['url']}: not a connect timeout: {item['status']} {err}")
            check(item["attempts"] == 1, f"{item['url']}: {item['attempts']} attempts, a connect "
                  "timeout is not retried")
            check(item["times_ms"]["download"] >= item["attempts"] * 1000 * 0.95,
                  f"{item['url']}: {item['times_ms']['download']} ms for {item['attempts']} "
                  "connect timeouts of 1 s")
        syns = w.syn_counters()
        for h in dead:
            attempts = sum(i["attempts"] for i in _items_of(run, [h]))
            untried = sum(i["attempts"] == 0 for i in _items_of(run, [h]))
            # One transfer until the host connects; its connect timeout
            # takes the host down: the other 2 URLs are never tried.
            check(attempts == 1 and untried == 2, f"{h.name}: {attempts} attempts for 3 "
                  f"URLs ({untried} untried), want 1")
            check(syns.get(h.name, 0) >= attempts,
                  f"{h.name}: nft dropped {syns.get(h.name)} SYNs for {attempts} attempts")
        traffic = w.traffic()
        for h in good:
            check(len(traffic.host(h).requests) == 4, f"{h.name}: {len(traffic.host(h).requests)} requests")
        cost = max(i["times_ms"]["download"] for i in dead_items) / 1000
        print(f"{run.describe()}; dead items {len(dead_items)}, each {cost:.2f} s of download time; "
              f"SYNs dropped {sorted(syns.values())}")
        _no_leftovers(w)


def test_retry_after():
    """Across 50 hosts: 4 hosts answer 429 Retry-After: 1 and 3 answer 503
    Retry-After: 2 to the first request of each path, 1 host answers 429
    Retry-After: 1 forever. The retried ones succeed on their second request,
    which comes at least Retry-After after the first (server log, per path);
    the forever-429 one fails with http_status 429 after 1 + --retries requests,
    each gap >= 1 s; the good hosts see one request per URL."""
    with world.World() as w:
        good = _good(w, 42)
        r429 = w.add("http", 4, label="r429", status=429, retry_after=1, fail_times=1,
                     latency_ms=(5, 20))
        r503 = w.add("http", 3, label="r503", status=503, retry_after=2, fail_times=1,
                     latency_ms=(5, 20))
        always = w.add("http", 1, label="always429", status=429, retry_after=1, latency_ms=(5, 20))
        w.start()
        urls = w.urls(good, 4) + w.urls(r429 + r503, 3) + w.urls(always, 2)
        run = w.run_edgefetch(urls, ["-j", "32", "--retries", "2"] + FAST_RETRY, timeout=150)
        run.check_each_item_once()
        run.check_outputs()
        _all_ok(run, good + r429 + r503)
        traffic = w.traffic()
        gaps = []
        for hosts, wait in ((r429, 1.0), (r503, 2.0)):
            for h in hosts:
                t = traffic.host(h)
                check(len(t.paths()) == 3, f"{h.name}: paths {t.paths()}")
                for path in t.paths():
                    times = t.request_times(path)
                    check(len(times) == 2, f"{h.name}{path}: {len(times)} requests, want 2")
                    gaps.append(times[1] - times[0])
                    check(times[1] - times[0] >= wait - 0.01,
                          f"{h.name}{path}: retried {times[1] - times[0]:.3f} s after a "
                          f"Retry-After: {wait:g}")
        for item in _items_of(run, r429 + r503):
            check(item["attempts"] == 2, f"{item['url']}: {item['attempts']} attempts")
        for item in _items_of(run, always):
            err = item["error"] or {}
            check(item["status"] == "failed" and err.get("kind") == "http_status"
                  and item["http_code"] == 429 and item["attempts"] == 3, f"{item}")
        t = traffic.host(always[0])
        for path in t.paths():
            times = t.request_times(path)
            check(len(times) == 3, f"{always[0].name}{path}: {len(times)} requests, want 3")
            for a, b in zip(times, times[1:]):
                check(b - a >= 1.0 - 0.01, f"{always[0].name}{path}: gap {b - a:.3f} s < Retry-After 1")
        for h in good:
            check(len(traffic.host(h).requests) == 4, f"{h.name}: {len(traffic.host(h).requests)} requests")
        check(run.rc == 1, run.describe())
        print(f"{run.describe()}; Retry-After gaps {min(gaps):.2f}-{max(gaps):.2f} s")
        _no_leftovers(w)


def test_nxdomain():
    """5 names with no DNS record among 45 good hosts, 4 URLs each: every
    item of theirs fails once as resolve; one per name was tried (never
    retried), its failed lookup took the host down and the 3 others failed
    at once, untried, with a reason naming the host; dnsmasq logged one A
    and one AAAA query per name (edgefetch's libcurl really asks the world's
    DNS server, once per name, not per URL); every good host's name was
    queried too and its items are ok."""
    with world.World() as w:
        good = _good(w, 45)
        missing = w.add("nxdomain", 5)
        w.start()
        before = w.dns_queries()
        urls = w.urls(good, 4) + w.urls(missing, 4)
        run = w.run_edgefetch(urls, ["-j", "32", "--retries", "2"] + FAST_RETRY)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 1, run.describe())
        _all_ok(run, good)
        for h in missing:
            items = _items_of(run, [h])
            for item in items:
                err = item["error"] or {}
                check(item["status"] == "failed" and err.get("kind") == "resolve"
                      and item["attempts"] <= 1, f"{item['url']}: {item['attempts']} attempts, {err}")
            tried = [i for i in items if i["attempts"] == 1]
            check(len(tried) == 1, f"{h.name}: {len(tried)} of its 4 URLs tried, want 1")
            for item in items:
                if item["attempts"] == 0:
                    check(item["error"]["message"] == f"name does not resolve: {h.name} "
                          "(tried again after a 30 s cool-down)", f"{item['error']}")
        queries = w.dns_queries()
        for h in good + missing:
            asked = queries.get(h.name, 0) - before.get(h.name, 0)
            check(asked >= 1, f"dnsmasq saw no query for {h.name}")
        # README: a name that does not resolve costs one lookup however many
        # URLs it has (its first failed lookup takes the host down): one A and
        # one AAAA query.
        for h in missing:
            asked = queries.get(h.name, 0) - before.get(h.name, 0)
            check(asked == 2, f"{h.name}: {asked} queries for its 4 URLs, want 2 (one A, one AAAA)")
        print(f"{run.describe()}; queries per name (A+AAAA) "
              f"good {sorted({queries.get(h.name, 0) for h in good})}, "
              f"missing {sorted({queries.get(h.name, 0) for h in missing})}; "
              f"names in the DNS table {len(open(os.path.join(w.tmp, 'dns-hosts')).readlines())}")
        _no_leftovers(w)


def test_names():
    """The DNS server holds >= 1,000 .test names: every one resolves, through
    glibc, to its own loopback address, and an unknown .test name is NXDOMAIN."""
    import socket
    with world.World() as w:
        _good(w, 50)
        w.start()
        with open(os.path.join(w.tmp, "dns-hosts")) as f:
            table = [line.split() for line in f]
        check(len(table) >= 1000, f"{len(table)} names")
        for addr, name in table:
            got = {a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET)}
            check(got == {addr}, f"{name}: {got}, want {addr}")
        for name in ("absent.test", "http-9999.test"):
            try:
                socket.getaddrinfo(name, 80)
                raise Failure(f"{name} resolved")
            except socket.gaierror as e:
                check(e.errno == socket.EAI_NONAME, f"{name}: {e}")
        print(f"{len(table)} names resolved")
        _no_leftovers(w)


def test_h2_reuse():
    """10 HTTPS hosts (nginx, HTTP/2) with 12 URLs each among 40 plain ones, at
    -j 16 --max-per-host 4: every h2 request is HTTP/2.0, each h2 host sees
    all 12 requests, never on more than 4 connections at once (a connection
    counts from its first to its last request in nginx's log), and on far
    fewer connections than requests over all (reuse)."""
    with world.World() as w:
        plain = _good(w, 40)
        h2 = w.add("https", 10, bandwidth=4_000_000)
        w.start()
        urls = w.urls(h2, 12) + w.urls(plain, 3)
        run = w.run_edgefetch(urls, ["-j", "16", "--max-per-host", "4"] + FAST_RETRY)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 0, f"{run.describe()}\n{run.stderr[-2000:]}")
        traffic = w.traffic()
        conns = []
        for h in h2:
            t = traffic.host(h)
            check(len(t.requests) == 12, f"{h.name}: {len(t.requests)} requests in nginx's log")
            check(getattr(t, "protocols", set()) == {"HTTP/2.0"}, f"{h.name}: {t.protocols}")
            check(t.max_open_connections() <= 4, f"{h.name}: {t.max_open_connections()} "
                  "connections in use at once, --max-per-host 4")
            conns.append(t.connections)
        check(sum(conns) < len(h2) * 12 / 2, f"little reuse: connections per h2 host {conns}")
        print(f"{run.describe()}; connections per h2 host {sorted(conns)} for 12 requests each")
        _no_leftovers(w)


def test_every_fault_once():
    """A world with every profile at once (slow, trickling, no keep-alive,
    connection-limited, 404, reset mid-body, 429, dead, refusing, NXDOMAIN,
    HTTP/2): each URL reported exactly once in --json, the summary adds up,
    each fault fails with its own kind and attempt count, the output folder
    holds exactly the ok items' PNGs (no temporary files), exit code 1; a
    second run skips every ok item and fetches none of them again."""
    with world.World() as w:
        good = _good(w, 25)
        slow = w.add("http", 4, label="slow", latency_ms=(300, 600), bandwidth=300_000)
        trickle = w.add("http", 2, label="trickle", bandwidth=8_000)
        close = _good(w, 3, label="close", keepalive=False)
        limited = _good(w, 2, label="limit1", max_conns=1)
        missing = _good(w, 2, label="notfound", status=404)
        reset = _good(w, 2, label="reset", reset_mid_body=True)
        r429 = _good(w, 2, label="r429", status=429, retry_after=1, fail_times=1)
        dead = w.add("dead", 2)
        refuse = w.add("refuse", 2)
        nx = w.add("nxdomain", 2)
        h2 = w.add("https", 4)
        w.start()
        ok_hosts = good + slow + close + r429 + h2
        urls = (w.urls(good + close + limited + h2, 4) + w.urls(slow + r429, 3)
                + w.urls(trickle, 1, ext="jpg") + w.urls(missing + reset + dead + refuse + nx, 2))
        args = ["-j", "24", "--max-per-host", "3", "--connect-timeout", "1", "--retries", "2"] + FAST_RETRY
        run = w.run_edgefetch(urls, args, timeout=150)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 1, run.describe())
        _all_ok(run, ok_hosts + trickle)
        # Refusing hosts: a refusal costs a round trip, so the host is down
        # only after 3 in a row (pipeline/hosts.c), and its 2 URLs make 3
        # attempts between them. Dead ones: a host never connected to runs
        # one transfer until it connects, a connect timeout is not retried
        # and takes the host down, so its 2 URLs make 1 attempt (before, both
        # were in flight together at --max-per-host 3: 1 each) and the other
        # fails untried as host unreachable.
        expect = [(missing, "http_status", 1), (reset, "network", 3), (dead, "timeout", None),
                  (refuse, "connect", None), (nx, "resolve", None)]
        for hosts, kind, attempts in expect:
            for item in _items_of(run, hosts):
                err = item["error"] or {}
                check(item["status"] == "failed" and err.get("kind") == kind
                      and (item["attempts"] == attempts or attempts is None),
                      f"{item['url']}: want {kind} after {attempts} attempts, got "
                      f"{item['status']} {err} after {item['attempts']}")
        for item in _items_of(run, dead):
            check(item["attempts"] == 1 or item["error"]["message"].startswith(
                "host unreachable: 1 connect timed out"), f"{item['url']}: {item['attempts']} "
                f"attempts, {item['error']}")
        # A name that does not resolve: its first failed lookup takes the host
        # down, so its other URL fails untried.
        for hosts, want in ((dead, 1), (refuse, 3), (nx, 1)):
            for h in hosts:
                attempts = sum(i["attempts"] for i in _items_of(run, [h]))
                check(attempts == want, f"{h.name}: {attempts} attempts for its 2 URLs, want {want}")
        limited_items = _items_of(run, limited)
        traffic = w.traffic()
        for h in close:
            t = traffic.host(h)
            check(t.connections == len(t.requests) == 4, f"{h.name}: {t.connections} connections "
                  f"for {len(t.requests)} requests without keep-alive")
        syns = w.syn_counters()
        for h in refuse:
            check(syns.get(h.name, 0) >= 3, f"{h.name}: {syns.get(h.name)} SYNs refused, want >= 3")
        s = run.summary
        print(f"{run.describe()}; ok {s['ok']} failed {s['failed']} retries {s['retries']}; "
              f"limit1 hosts: {[i['status'] + '/' + str(i['attempts']) for i in limited_items]}")

        # The rerun into the same folder: every ok item skipped (no request to
        # its host), the failed ones tried again, the folder unchanged.
        requests_before = {h.name: len(traffic.host(h).requests) for h in ok_hosts}
        out_first = sorted(os.listdir(run.out))
        rerun = w.run_edgefetch(urls, args, timeout=150, out=run.out)
        rerun.check_each_item_once()
        skipped = {i["url"] for i in rerun.items if i["status"] == "skipped"}
        ok_urls = {i["url"] for i in run.items if i["status"] == "ok"}
        check(ok_urls <= skipped, f"{len(ok_urls - skipped)} ok items not skipped on the rerun")
        check(sorted(os.listdir(run.out)) == out_first, "the rerun changed the output folder")
        check(rerun.rc == 1, rerun.describe())
        traffic = w.traffic()
        again = {n: len(traffic.host(n).requests) - c for n, c in requests_before.items()
                 if len(traffic.host(n).requests) != c}
        check(not again, f"the rerun fetched skipped items again: {again}")
        _no_leftovers(w)


def test_h2_connections():
    """Transfers that start together on an HTTP/2 host each get a connection,
    up to --max-per-host, rather than all waiting for the first handshake to
    multiplex on one (io/http.c, CURLOPT_PIPEWAIT off: one TCP connection's
    slow start carried every stream, tests/bench/results/world_h2path.md).
    A host never connected to runs its first transfer alone until its TCP
    connect (pipeline/hosts.c); io tells it then, not after TLS, so the
    others start during that handshake and open their own connections: had
    they waited for TLS, libcurl would have made them streams on the first
    (1 connection). 4 HTTPS hosts with 8 URLs each at -j 32 --max-per-host
    4: every host saw more than one connection (nginx's connection serials)
    and never more than 4 in use at once, and every request was HTTP/2."""
    with world.World() as w:
        h2 = w.add("https", 4, bandwidth=1_000_000)
        w.start()
        urls = w.urls(h2, 8)
        run = w.run_edgefetch(urls, ["-j", "32", "--max-per-host", "4"] + FAST_RETRY)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 0, f"{run.describe()}\n{run.stderr[-2000:]}")
        traffic = w.traffic()
        conns = []
        for h in h2:
            t = traffic.host(h)
            check(len(t.requests) == 8, f"{h.name}: {len(t.requests)} requests in nginx's log")
            check(getattr(t, "protocols", set()) == {"HTTP/2.0"}, f"{h.name}: {t.protocols}")
            check(t.max_open_connections() <= 4, f"{h.name}: {t.max_open_connections()} "
                  "connections in use at once, --max-per-host 4")
            conns.append(t.connections)
        check(min(conns) >= 2, f"connections per h2 host {conns}: the transfers of a burst "
              "waited to multiplex on one connection")
        print(f"{run.describe()}; connections per h2 host {sorted(conns)} for 8 requests each")
        _no_leftovers(w)


def test_reuse_many_hosts():
    """Keep-alive reuse on a many-host list: 100 hosts x 10 URLs, shuffled,
    -j 32 --max-per-host 4, hosts that keep connections open (10 s idle): no
    host sees more connections over the run than --max-per-host, besides
    those replacing one the server closed idle (a slow machine). Each other
    connection past 4 is one the client dropped and opened again: libcurl's
    default connection cache (4 per transfer in flight) is smaller than the
    400 connections such a list comes back to; io/http.c sizes it from the
    descriptor limit."""
    import random
    with world.World() as w:
        hosts = w.add("http", 100, latency_ms=(20, 200), bandwidth=1_000_000)
        w.start()
        urls = w.urls(hosts, 10)
        random.Random(1).shuffle(urls)
        run = w.run_edgefetch(urls, ["-j", "32", "--max-per-host", "4"] + FAST_RETRY, timeout=300)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 0, run.describe())
        traffic = w.traffic()
        conns = [traffic.host(h).connections for h in hosts]
        requests = [len(traffic.host(h).requests) for h in hosts]
        idle = [list(traffic.host(h).close_why.values()).count("idle") for h in hosts]
        excess = [c - 4 - i for c, i in zip(conns, idle)]
        print(f"{run.describe()}; connections per host mean {sum(conns) / len(conns):.2f}, "
              f"max {max(conns)}, for 10 URLs at 4 per host; closed idle by the servers "
              f"{sum(idle)}")
        check(requests == [10] * len(hosts), f"requests per host {sorted(set(requests))}")
        check(max(excess) <= 0, f"a host saw {max(conns)} connections for 10 URLs at 4 per host "
              f"({max(excess)} more than 4 and the ones its server closed idle)")
        _no_leftovers(w)


if __name__ == "__main__":
    sys.exit(world.run_case(globals()))
