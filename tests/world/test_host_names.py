#!/usr/bin/env python3
"""Names that do not resolve, on the test world (pipeline/hosts.c: a failed
lookup takes its host down, like a connect timeout):

- silent_dns: a name whose DNS server does not answer (dnsmasq forwards it
  to an address whose queries nft drops), 6 URLs at --connect-timeout 5:
  glibc gives up after its own timeouts (about 2 s) and libcurl reports the
  name unresolved; that one lookup takes the host down and its other 5 items
  fail at once, untried, as resolve. dnsmasq logged at most one lookup's
  queries (A and AAAA, each sent twice at most); before, each URL asked
  again in turn, 3 s each, 4 queries each;
- silent_dns_timeout: the same at --connect-timeout 1, under glibc's time:
  libcurl's "Resolving timed out" is a lookup's failure (kind resolve, the
  host down), not a connect timeout (kind timeout, "1 connect timed out");
- silent_dns_no_stall: 4 silent names among 10 good hosts at
  --connect-timeout 1: the good hosts' requests keep coming while the
  lookups go on in glibc (no gap over 1 s; libcurl 7.88 joined a timed-out
  lookup's thread on the loop, a gap of about 2 s per name);
- name_reprobe: a served host whose name is NXDOMAIN at first (its record
  taken out of dnsmasq's table) and back as soon as its first item fails:
  the items listed in its cool-down (--host-cooldown 2) fail at once as
  resolve, with no lookup; the first after it probes, resolves, connects,
  and every later one is served; dnsmasq saw two lookups of the name in all
  (the failed one, the probe's);
- proxy_name: through a proxy whose own name does not resolve, every item
  fails as resolve after its own attempt: the proxy's failure is not its
  host's, which is not taken down.

Run one case as root: test_host_names.py NAME (without root it exits 77).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from world import FAST_RETRY, good_hosts, items_of_hosts, no_leftovers  # noqa: E402
from world import check, check_reprobed, checked_partial_run, item_states  # noqa: E402

DOWN = "name does not resolve: {} (tried again after a {} s cool-down)"


def _silent_case(connect_timeout, first_words):
    """10 good hosts (3 URLs each) and one silent_dns name (6 URLs) at -j 32
    --connect-timeout `connect_timeout`; the tried item's message has
    `first_words` (libcurl's)."""
    with world.World() as w:
        good = good_hosts(w, 10)
        silent = w.add("silent_dns", 1)[0]
        w.start()
        urls = w.urls(good, 3) + w.urls([silent], 6)
        run = w.run_edgefetch(urls, ["-j", "32", "--connect-timeout", str(connect_timeout)]
                              + FAST_RETRY, timeout=100)
        checked_partial_run(run, good)
        items = items_of_hosts(run, [silent])
        queries = w.dns_queries().get(silent.name, 0)
        dropped = w.syn_counters().get("silent-dns", 0)
        print(f"{run.describe()}; silent name: {sum(i['attempts'] for i in items)} attempt(s) "
              f"for 6 URLs, {queries} queries logged by dnsmasq, {dropped} forwarded and dropped")
        for item in items:
            err = item["error"] or {}
            check(item["status"] == "failed" and err.get("kind") == "resolve"
                  and err.get("stage") == "download", f"{item['url']}: {item['status']} {err}")
        tried = [i for i in items if i["attempts"] > 0]
        check(len(tried) == 1 and tried[0]["attempts"] == 1,
              f"{[i['attempts'] for i in items]} attempts for the silent name's 6 URLs, want one")
        check(first_words in tried[0]["error"]["message"], f"{tried[0]['error']}")
        for item in items:
            if item["attempts"] == 0:
                check(item["error"]["message"] == DOWN.format(silent.name, 30),
                      f"{item['url']}: {item['error']['message']!r}")
        # One getaddrinfo: an A and an AAAA query, each sent again once
        # (resolv.conf's attempts:2); the thread goes on after libcurl gives up.
        check(1 <= queries <= 4, f"dnsmasq logged {queries} queries for {silent.name}, want "
              "one lookup's (at most 4)")
        no_leftovers(w)


def test_silent_dns():
    _silent_case(5, "Could not resolve host")


def test_silent_dns_timeout():
    _silent_case(1, "Resolving timed out")


def test_silent_dns_no_stall():
    """4 silent_dns names (one URL each, so each is looked up once) among
    10 good hosts (12 URLs each, 100-150 ms to first byte) at -j 4
    --connect-timeout 1: the good hosts' requests keep coming while the
    silent names' lookups go on in glibc (about 2 s each): no gap between two
    consecutive requests to the good hosts is over 1 s (normal ones are
    tens of ms; a lookup that held the loop until glibc gave up made a
    gap of about 2 s per silent name). The silent names' URLs are spread
    over the list so each lookup times out while good URLs are still
    unrequested."""
    with world.World() as w:
        good = good_hosts(w, 10, latency_ms=(100, 150))
        silent = w.add("silent_dns", 4)
        w.start()
        good_urls = w.urls(good, 12)
        silent_urls = w.urls(silent, 1)
        urls = list(good_urls)
        for k, url in enumerate(silent_urls):
            urls.insert(8 + k * 20, url)
        run = w.run_edgefetch(urls, ["-j", "4", "--connect-timeout", "1"] + FAST_RETRY,
                              timeout=100)
        checked_partial_run(run, good)
        traffic = w.traffic()
        times = sorted(t for h in good for t, _, _ in traffic.host(h).requests)
        gaps = [b - a for a, b in zip(times, times[1:])]
        long_gaps = [round(g, 2) for g in gaps if g > 1.0]
        silent_items = items_of_hosts(run, silent)
        print(f"{run.describe()}; {len(times)} requests to the good hosts over "
              f"{times[-1] - times[0]:.2f} s, longest gap {max(gaps):.3f} s, "
              f"gaps over 1 s: {long_gaps}; silent names' items: "
              f"{[(i['error'] or {}).get('kind') for i in silent_items]}")
        check(len(times) >= len(good_urls), f"{len(times)} requests for {len(good_urls)} URLs")
        for item in silent_items:
            err = item["error"] or {}
            check(item["status"] == "failed" and err.get("kind") == "resolve"
                  and "Resolving timed out" in err.get("message", ""),
                  f"{item['url']}: {item['status']} {err}")
        check(not long_gaps, f"the good hosts waited {long_gaps} s between two requests: "
              "a silent name's lookup held the loop")
        no_leftovers(w)


def test_name_reprobe():
    """A served host whose record is out of the DNS table at first, put back
    as soon as its first item is reported failed, with a URL after every 4
    good ones (-j 2, 400-450 ms to first byte, so its URLs come about 0.9 s
    apart; --host-cooldown 2): its first item fails as resolve after one
    attempt; those listed in the 2 s after fail at once as resolve, having
    made none (and no lookup); the first after it is the probe, resolves,
    connects and is served, and so is every later one (the server's log
    has their requests); dnsmasq logged 4 queries of edgefetch's for the
    name: the failed lookup's A and AAAA, the probe's (its answer is then
    cached)."""
    with world.World() as w:
        good = good_hosts(w, 6, latency_ms=(400, 450))
        late = w.add("http", 1, label="late", latency_ms=(10, 20))[0]
        w.start()
        ours = w.set_dns(late, False)
        good_urls = w.urls(good, 11)
        late_urls = w.urls([late], 16)
        urls = []
        for i, url in enumerate(late_urls):
            urls += [url] + good_urls[i * 4:(i + 1) * 4]
        before = w.dns_queries().get(late.name, 0)
        run, ours_after = _run_restoring_name(w, late, urls, late_urls[0],
                                              ["-j", "2", "--host-cooldown", "2"] + FAST_RETRY)
        checked_partial_run(run, good)
        check(ours_after is not None, "the first item of the late name was never reported")
        asked = w.dns_queries().get(late.name, 0) - before - ours_after
        items = run.by_url()
        late_items = [items[u] for u in late_urls]
        states = item_states(late_items)
        served = {"/" + u.split("/", 3)[3] for u in late_urls} & \
            {p for _, p, _ in w.traffic().host(late).requests}
        print(f"{run.describe()}; late name's items in list order: {' '.join(states)}; "
              f"{asked} queries of edgefetch's for it; {len(served)} requests served")
        check_reprobed(late_items, "resolve", DOWN.format(late.name, 2), served, "the late name")
        check(asked == 4, f"{asked} queries of edgefetch's for {late.name}, want 4 (A and AAAA "
              "of the failed lookup and of the probe's)")
        no_leftovers(w)


def test_proxy_name():
    """Through a proxy whose own name does not resolve (-x, an NXDOMAIN name),
    4 URLs of one good host at -j 4: each item fails as resolve with
    libcurl's "Could not resolve proxy", each after its own attempt: the
    proxy's lookup says nothing of the host, which is not taken down (none
    fails untried as "name does not resolve")."""
    with world.World() as w:
        good = good_hosts(w, 1)
        proxy = w.add("nxdomain", 1, label="proxy")[0]
        w.start()
        urls = w.urls(good, 4)
        run = w.run_edgefetch(urls, ["-j", "4", "-x", f"http://{proxy.name}:3128"] + FAST_RETRY)
        run.check_each_item_once()
        run.check_outputs()
        check(run.rc == 1, run.describe())
        print(f"{run.describe()}; attempts {[i['attempts'] for i in run.items]}")
        for item in run.items:
            err = item["error"] or {}
            check(item["status"] == "failed" and err.get("kind") == "resolve"
                  and item["attempts"] == 1 and "Could not resolve proxy" in err["message"],
                  f"{item['url']}: {item['attempts']} attempts, {err}")
        no_leftovers(w)


def _run_restoring_name(w, host, urls, first_url, args):
    """w.run_edgefetch, reading the --json lines as they come: when the item
    of `first_url` is reported, `host`'s DNS record is put back. Returns
    (Run, queries the test itself made for the name from then on)."""
    ours = []

    def on_line(line):
        if not ours and first_url.encode() in line:
            ours.append(w.set_dns(host, True))

    run = w.run_edgefetch_streaming(urls, args, on_line, timeout=120)
    return run, ours[0] if ours else None


if __name__ == "__main__":
    sys.exit(world.run_case(globals()))
