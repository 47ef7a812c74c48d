#!/usr/bin/env python3
"""The defaults chosen on the world (issue 11 item 4), held by what the
servers saw: edgefetch run with no concurrency or timeout flag at all.

- one_host: a list on one host stays polite: never more than 4 connections
  open or 4 requests in flight at that host, and 4 are reached;
- many_hosts: a list over 40 hosts keeps far more than 4 in flight (at least
  16 at once over all hosts), never more than the cap the summary says it
  reached (32, more when it adapted: test_adaptive.py), and each host at most 4;
- dead_host: a connect timeout is not retried: a dead host's only URL fails
  after one attempt, of about one --connect-timeout (5 s), its kind timeout;
  a dead host with 12 URLs costs its first burst of 4 attempts and no more
  (the first timeout takes it down, for the default 30 s --host-cooldown);
- compare_lesson: --compare still runs the lesson's 4 in flight without -j.

The numbers (32, 4, 5 s) are the defaults of pipeline/options.c, measured in
tests/bench/results/world_defaults.md. Run one case as root:
test_defaults.py NAME (without root it exits 77, SKIP).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from world import check  # noqa: E402

DEFAULT_JOBS = 32
DEFAULT_PER_HOST = 4
DEFAULT_CONNECT_TIMEOUT_S = 5.0


def _overall_in_flight(traffic, hosts):
    """Most requests in flight at once over `hosts` (head read to last byte)."""
    intervals = []
    for h in hosts:
        t = traffic.host(h)
        pending = {}
        for when, _, conn in t.requests:
            pending.setdefault(conn, []).append(when)
        for when, _, _, conn in t.responses:
            if pending.get(conn):
                intervals.append((pending[conn].pop(0), when))
    return world.max_overlap(intervals)


def test_one_host():
    """24 URLs on one host (100-200 ms to first byte, keep-alive) at the
    defaults: at most 4 connections open and 4 requests in flight at once,
    and 4 reached (so a breach would show)."""
    with world.World() as w:
        host = w.add("http", 1, latency_ms=(100, 200), bandwidth=1_000_000)
        w.start()
        run = w.run_edgefetch(w.urls(host, 24), [])
        world.checked_run(run)
        t = w.traffic().host(host[0])
        conns, in_flight = t.max_open_connections(), t.max_requests_in_flight()
        print(f"{run.describe()}; one host: {t.connections} connections, at most {conns} open "
              f"and {in_flight} requests in flight at once")
        check(len(t.requests) == 24, f"{len(t.requests)} requests for 24 URLs")
        check(conns <= DEFAULT_PER_HOST, f"{conns} connections open at once to one host")
        check(in_flight == DEFAULT_PER_HOST, f"{in_flight} requests in flight to one host, "
              f"want {DEFAULT_PER_HOST}")


def test_many_hosts():
    """40 hosts x 3 URLs (100-200 ms to first byte) at the defaults: at
    least 16 requests in flight at once over all hosts (4 times the old -j 4),
    never more than the peak cap (32 or, adapted, more), and never more than
    4 at one host."""
    with world.World() as w:
        hosts = w.add("http", 40, latency_ms=(100, 200), bandwidth=1_000_000)
        w.start()
        run = w.run_edgefetch(w.urls(hosts, 3), [])
        world.checked_run(run)
        traffic = w.traffic()
        overall = _overall_in_flight(traffic, hosts)
        worst = max(traffic.host(h).max_requests_in_flight() for h in hosts)
        print(f"{run.describe()}; {overall} requests in flight at once over 40 hosts, at most "
              f"{worst} at one host")
        check(overall >= 16, f"only {overall} requests in flight at once over 40 hosts")
        peak_cap = run.summary["downloads"]["peak_cap"]
        check(peak_cap >= DEFAULT_JOBS, f"peak cap {peak_cap}, the start is {DEFAULT_JOBS}")
        check(overall <= peak_cap, f"{overall} requests in flight, over the peak cap {peak_cap}")
        check(worst <= DEFAULT_PER_HOST, f"{worst} requests in flight at one host")


def test_dead_host():
    """At the defaults, a dead host (SYNs dropped) with one URL among 10 good
    hosts: its item fails as a timeout after 1 attempt that waited about one
    default --connect-timeout (not 3 tries); a dead host with 12 URLs sees
    one attempt (a host never connected to runs one transfer until it
    connects; its timeout takes the host down; before, its first burst at
    the per-host cap, 4), all its items fail, the other 11 as host
    unreachable within the default 30 s cool-down; the good items are ok."""
    with world.World() as w:
        good = w.add("http", 10, latency_ms=(20, 60), bandwidth=2_000_000)
        lone = w.add("dead", 1)
        many = w.add("dead", 1)
        w.start()
        urls = w.urls(lone, 1) + w.urls(many, 12) + w.urls(good, 3)
        run = w.run_edgefetch(urls, [], timeout=120)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 1, run.describe())
        by_host = {}
        for item in run.items:
            by_host.setdefault(item["url"].split("/")[2], []).append(item)
        ok = sum(1 for h in good for i in by_host.get(h.name, []) if i["status"] == "ok")
        (item,) = by_host[lone[0].name]
        err = item["error"] or {}
        many_items = by_host[many[0].name]
        many_attempts = sum(i["attempts"] for i in many_items)
        syns = w.syn_counters()
        print(f"{run.describe()}; lone dead URL: {item['attempts']} attempt(s), "
              f"{item['times_ms']['download']:.0f} ms, {err.get('kind')}; 12-URL dead host: "
              f"{many_attempts} attempts, SYNs {syns.get(many[0].name, 0)}; good ok {ok}/30")
        check(ok == 30, f"{ok} of 30 good items ok")
        check(item["status"] == "failed" and err.get("kind") == "timeout", f"{item}")
        check(item["attempts"] == 1, f"the lone dead URL was tried {item['attempts']} times")
        download_s = item["times_ms"]["download"] / 1000
        check(0.95 * DEFAULT_CONNECT_TIMEOUT_S <= download_s < 2 * DEFAULT_CONNECT_TIMEOUT_S,
              f"the lone dead URL took {download_s:.2f} s, the default connect timeout is "
              f"{DEFAULT_CONNECT_TIMEOUT_S:g} s")
        check(all(i["status"] == "failed" for i in many_items), "a dead host's item not failed")
        check(many_attempts == 1, f"{many_attempts} attempts on a dead host with 12 URLs, "
              "want 1")
        untried = [i for i in many_items if i["attempts"] == 0]
        check(len(untried) == 11 and all(
            i["error"]["kind"] == "timeout" and i["error"]["message"].startswith(
                "host unreachable: ") and i["error"]["message"].endswith(
                "timed out (tried again after a 30 s cool-down)") for i in untried),
            f"untried items of the dead host: {[i['error'] for i in untried][:3]}")


def test_compare_lesson():
    """--compare keeps the lesson's 4 in flight without -j, even on a
    many-host list where the default would run 32: 12 URLs over 12 hosts,
    at most 4 requests in flight over all hosts in its concurrent run (and
    4 reached), and its report says 4; with -j 6 it runs 6."""
    with world.World() as w:
        hosts = w.add("http", 12, latency_ms=(150, 250), bandwidth=1_000_000)
        w.start()
        urls = w.urls(hosts, 1)
        for args, want in (([], 4), (["-j", "6"], 6)):
            w.reset_faults()
            since = time.monotonic()
            run = w.run_edgefetch(urls, ["--compare"] + args)
            check(run.rc == 0, f"{run.describe()}\n{run.stderr[-1500:]}")
            overall = _overall_in_flight(w.traffic(since=since), hosts)
            line = [ln for ln in run.stderr.splitlines() if "downloads in flight" in ln]
            print(f"{run.describe()}; {overall} requests in flight at once; {line}")
            check(overall == want, f"--compare {args}: {overall} requests in flight, want {want}")
            check(line and line[0].split()[-3:] == [str(want), "/", line[0].split()[-1]],
                  f"--compare {args}: report {line}")


if __name__ == "__main__":
    sys.exit(world.run_case(globals()))
