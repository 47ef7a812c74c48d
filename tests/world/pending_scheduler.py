#!/usr/bin/env python3
"""World tests that need issue 12's scheduler (waits that hold no capacity,
host health). dead_host_cost, rate_limited_host, refused_and_good and
rate_limited_world are registered (tests/world/meson.build) since the
scheduler landed; dead_hosts_world since issue 11's defaults (-j 32
--max-per-host 4; at the old -j 4 its dead hosts added 3.8 connect timeouts).
reuse_many_hosts moved to test_world.py with the connection-cache change
(io/http.c).

Run one by hand, as root, against any binary:

    EDGEFETCH=build/cmd/edgefetch python3 tests/world/pending_scheduler.py CASE

CASE: dead_host_cost, rate_limited_host, refused_and_good (issue 12's
acceptance), dead_hosts_world, rate_limited_world (issue 11's goals on a
world). Each prints what it measured (one line) before its verdict. SAMPLES defaults to
samples/photos.

These assert on times, which the registered suites avoid; each bound is a
multiple of the quantity the issue names (a connect timeout, a Retry-After),
far from the noise of a loaded machine.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from world import check  # noqa: E402


def test_dead_host_cost():
    """A dead host (SYNs dropped) costs about one connect timeout whatever its
    number of URLs: 20 good hosts (3 URLs each) plus one dead host with 40
    URLs, at the defaults but --connect-timeout 2, take at most 2 connect
    timeouts longer than the same good URLs alone, and the dead host sees a
    handful of SYNs, not one per URL and try. Every dead item fails."""
    timeout_s = 2.0
    with world.World() as w:
        good = w.add("http", 20, latency_ms=(20, 80), bandwidth=2_000_000)
        dead = w.add("dead", 1)
        w.start()
        good_urls = w.urls(good, 3)
        dead_urls = w.urls(dead, 40)
        args = ["--connect-timeout", str(timeout_s)]
        base = w.run_edgefetch(good_urls, args, timeout=600)
        check(base.rc == 0, f"baseline: {base.describe()}\n{base.stderr[-1500:]}")
        # Dead URLs first in the list, as a list sorted by host would have them.
        run = w.run_edgefetch(dead_urls + good_urls, args, timeout=600)
        run.check_each_item_once()
        syns = w.syn_counters().get(dead[0].name, 0)
        extra = run.wall - base.wall
        failed = sum(1 for i in run.items if i["url"] in set(dead_urls) and i["status"] == "failed")
        print(f"dead_host_cost: good alone {base.wall:.2f} s, with 40 dead URLs {run.wall:.2f} s "
              f"(+{extra:.2f} s = {extra / timeout_s:.1f} connect timeouts), SYNs to the dead host "
              f"{syns}, dead items failed {failed}/40, exit {run.rc}")
        check(failed == 40, f"{failed} of 40 dead items failed")
        check(extra <= 2 * timeout_s, f"the dead host added {extra:.2f} s, more than 2 connect "
              f"timeouts of {timeout_s:g} s")
        check(syns <= 10, f"{syns} SYNs to the dead host: it was tried per URL")


def test_rate_limited_host():
    """A rate-limited host delays no other host: host A's 12 URLs answer
    429 Retry-After: 5, then host B's 12 URLs (listed after A's), at -j 4 -w 2
    (the issue's measurement): B's first request reaches B within 0.3 s of
    the start; A's retries still wait >= 5 s."""
    with world.World() as w:
        host_a = w.add("http", 1, label="ratelimited", status=429, retry_after=5, fail_times=1)
        host_b = w.add("http", 1, label="friendly", latency_ms=(10, 30))
        w.start()
        urls = w.urls(host_a, 12) + w.urls(host_b, 12)
        run = w.run_edgefetch(urls, ["-j", "4", "-w", "2"], timeout=300)
        run.check_each_item_once()
        traffic = w.traffic()
        first_b = traffic.host(host_b[0]).first_request()
        b_done = max(t for t, *_ in traffic.host(host_b[0]).responses)
        a = traffic.host(host_a[0])
        gaps = [a.request_times(p)[1] - a.request_times(p)[0] for p in a.paths()
                if len(a.request_times(p)) >= 2]
        print(f"rate_limited_host: B's first request {first_b - run.start:.2f} s after the start, "
              f"B's last response {b_done - run.start:.2f} s; A's retry gaps "
              f"{min(gaps, default=0):.2f}-{max(gaps, default=0):.2f} s; run {run.wall:.2f} s, "
              f"exit {run.rc}")
        check(run.rc == 0, run.describe())
        check(first_b - run.start <= 0.3, f"B's first request came {first_b - run.start:.2f} s "
              "after the start")
        check(gaps and min(gaps) >= 5 - 0.01, f"A retried before its Retry-After: {gaps}")


def test_refused_and_good():
    """400 URLs to a refusing host (RST) plus 20 good ones finish in a few
    seconds at the defaults (<= 5 s); every refused item fails with kind
    connect, every good one is ok."""
    with world.World() as w:
        refuse = w.add("refuse", 1)
        good = w.add("http", 4, latency_ms=(20, 60))
        w.start()
        urls = w.urls(refuse, 400) + w.urls(good, 5)
        run = w.run_edgefetch(urls, [], timeout=600)
        run.check_each_item_once()
        refused = [i for i in run.items if refuse[0].name in i["url"]]
        kinds = sorted({(i["error"] or {}).get("kind", "") for i in refused})
        ok = sum(1 for i in run.items if i["status"] == "ok")
        syns = w.syn_counters().get(refuse[0].name, 0)
        print(f"refused_and_good: {run.wall:.2f} s at the defaults; ok {ok}/20; refused items "
              f"{len(refused)} kinds {kinds}; SYNs refused {syns}; exit {run.rc}")
        check(ok == 20, f"{ok} of 20 good items ok")
        check(all(i["status"] == "failed" for i in refused) and kinds == ["connect"],
              f"refused items: kinds {kinds}")
        check(run.wall <= 5.0, f"{run.wall:.2f} s for 400 refused + 20 good at the defaults")


def test_dead_hosts_world():
    """The issue's goal on a world: 45 good hosts (4 URLs each) plus 5 dead
    hosts (6 URLs each), at the defaults but --connect-timeout 2: the dead
    hosts add at most two connect timeouts to the whole run (against the good
    URLs alone), every good item is ok, and each dead host sees a handful of
    SYNs."""
    timeout_s = 2.0
    with world.World() as w:
        good = w.add("http", 45, latency_ms=(20, 120), bandwidth=2_000_000)
        dead = w.add("dead", 5)
        w.start()
        good_urls = w.urls(good, 4)
        args = ["--connect-timeout", str(timeout_s)]
        base = w.run_edgefetch(good_urls, args, timeout=900)
        check(base.rc == 0, f"baseline: {base.describe()}")
        run = w.run_edgefetch(w.urls(dead, 6) + good_urls, args, timeout=900)
        run.check_each_item_once()
        ok = sum(1 for i in run.items if i["status"] == "ok")
        syns = w.syn_counters()
        extra = run.wall - base.wall
        print(f"dead_hosts_world: good alone {base.wall:.2f} s, with 5 dead hosts {run.wall:.2f} s "
              f"(+{extra:.2f} s = {extra / timeout_s:.1f} connect timeouts); ok {ok}/180; SYNs per "
              f"dead host {sorted(syns.get(h.name, 0) for h in dead)}; exit {run.rc}")
        check(ok == 180, f"{ok} of 180 good items ok")
        check(extra <= 2 * timeout_s, f"5 dead hosts added {extra:.2f} s")
        check(all(syns.get(h.name, 0) <= 10 for h in dead), f"SYNs {syns}: tried per URL")


def test_rate_limited_world():
    """5 hosts answering 429 Retry-After: 5 to the first request of each path
    (12 URLs each, listed first) among 40 good hosts (3 URLs each), at the
    defaults: every good host's first request comes within 1 s of the start
    and every good item is done before the first Retry-After expires; the
    rate-limited hosts' retries still wait >= 5 s."""
    with world.World() as w:
        limited = w.add("http", 5, label="ratelimited", status=429, retry_after=5, fail_times=1)
        good = w.add("http", 40, latency_ms=(20, 80), bandwidth=2_000_000)
        w.start()
        run = w.run_edgefetch(w.urls(limited, 12) + w.urls(good, 3), [], timeout=600)
        run.check_each_item_once()
        traffic = w.traffic()
        firsts = [traffic.host(h).first_request() for h in good]
        late_first = max((t - run.start) if t is not None else float("inf") for t in firsts)
        good_done = max(r[0] for h in good for r in traffic.host(h).responses) - run.start
        gaps = []
        for h in limited:
            t = traffic.host(h)
            gaps += [t.request_times(p)[1] - t.request_times(p)[0] for p in t.paths()
                     if len(t.request_times(p)) >= 2]
        print(f"rate_limited_world: last good host's first request {late_first:.2f} s after the "
              f"start, last good response {good_done:.2f} s; retry gaps "
              f"{min(gaps, default=0):.2f}-{max(gaps, default=0):.2f} s; run {run.wall:.2f} s, "
              f"exit {run.rc}")
        check(run.rc == 0, run.describe())
        check(late_first <= 1.0, f"a good host's first request came {late_first:.2f} s in")
        check(good_done < 5.0, f"good items still going at {good_done:.2f} s")
        check(gaps and min(gaps) >= 5 - 0.01, f"retried before Retry-After: {gaps}")


if __name__ == "__main__":
    sys.exit(world.run_case(globals()))
