#!/usr/bin/env python3
"""No per-host cap and HTTP/2 (pipeline/hosts.c:pl_host_new_connection).

The per-host cap is 0 (none of its own) when the descriptor limit fits -j
below --max-per-host (cmd/main.c:fit_downloads): the global cap alone
bounds a host then. A transfer that finds its host's connections busy asks
for a connection of its own only up to --max-per-host; with no cap it used
to ask every time, so an HTTP/2 host got a connection per transfer in
flight where libcurl multiplexes streams on the one it has.

- unlimited_multiplexes: under `ulimit -n 50`, -j 32 -w 1 --max-per-host 16
  runs -j 8 with no per-host cap; one HTTPS host (nginx, HTTP/2, 200 kB/s
  per connection) has its 12 URLs listed one after every 2 of 8 plain hosts
  (150-250 ms to first byte), so each starts after the host's first
  connection is up, while earlier ones are still being received. All its
  requests are HTTP/2.0 and go over at most 2 connections (nginx's
  connection serials); before, one per transfer in flight (6 and more).

Run one case as root: test_h2_unlimited.py NAME (without root it exits 77).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from world import FAST_RETRY, checked_run, good_hosts, no_leftovers  # noqa: E402
from world import check  # noqa: E402


def test_unlimited_multiplexes():
    with world.World() as w:
        plain = good_hosts(w, 8, latency_ms=(150, 250))
        h2 = w.add("https", 1, bandwidth=200_000)[0]
        w.start()
        h2_urls = w.urls([h2], 12, ext="png")
        plain_urls = w.urls(plain, 3)
        urls = []
        for i, url in enumerate(h2_urls):
            urls += [url] + plain_urls[i * 2:(i + 1) * 2]
        # The descriptor limit is set in a shell around the binary, so that
        # only edgefetch runs under it.
        wrapper = os.path.join(w.tmp, "ulimit50.sh")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nulimit -n 50 || exit 99\nexec "{os.environ["EDGEFETCH"]}" "$@"\n')
        os.chmod(wrapper, 0o755)
        run = w.run_edgefetch(urls, ["-j", "32", "-w", "1", "--max-per-host", "16"] + FAST_RETRY,
                              binary=wrapper)
        checked_run(run)
        check("running -j 8" in run.stderr, f"the descriptor limit did not fit -j to 8 (below "
              f"--max-per-host 16, so no per-host cap): {run.stderr[-500:]}")
        t = w.traffic().host(h2)
        print(f"{run.describe()}; h2 host: {len(t.requests)} requests on {t.connections} "
              f"connection(s), {t.max_requests_in_flight()} requests in flight at most")
        check(len(t.requests) == 12, f"{len(t.requests)} requests in nginx's log, want 12")
        check(getattr(t, "protocols", set()) == {"HTTP/2.0"}, f"protocols {t.protocols}")
        check(t.connections <= 2, f"{t.connections} connections for 12 requests to one HTTP/2 "
              "host with no per-host cap: a connection per transfer, not streams on one")
        no_leftovers(w)


if __name__ == "__main__":
    sys.exit(world.run_case(globals()))
