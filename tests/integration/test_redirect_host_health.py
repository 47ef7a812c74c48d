#!/usr/bin/env python3
"""A host's health and redirects (pipeline/hosts.c, download.c host_outcome):
the listed URL's host is the record a transfer's outcome goes to, and a
redirect is its answer. A transfer that got a 3xx from it and then failed to
connect to the redirect's target says nothing against the listed host.

- redirect_target_refused: 4 URLs of a served host, each answering (after
  0.5 s, so that all 4 are connected first) a 302 to a port on 127.0.0.1 with
  nothing listening, then 12 plain photos of the same host, at -j 4
  --max-per-host 4. The 4 fail as `connect` (their target refused them);
  the 12 are all fetched. Before, the 4 refusals were counted against the
  listed host: the third in a row took it down and its photos failed as
  "host unreachable: 3 connections refused" without being tried.

Run one case: test_redirect_host_health.py NAME.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, PHOTOS, Fixture, Workspace, check, free_port,  # noqa: E402
                     items_of, main_for, per_path, run_timed)


def test_redirect_target_refused():
    dead = free_port()
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        photos = [f"p{i}.jpg" for i in range(12)]
        for name in photos:
            ws.photo(name, PHOTOS[0])
        away = [server.url(f"away{i}.jpg?delay=500&redirect=http%3A%2F%2F127.0.0.1%3A{dead}%2Fx.jpg")
                for i in range(4)]
        good = [server.url(name) for name in photos]
        lst = ws.list_file(away + good)
        rc, out, err, _ = run_timed(["--json", "-q", "-j", "4", "--max-per-host", "4",
                                     "--retries", "0", "-i", lst, "-o", ws.out], timeout=120)
        items, _ = items_of(out)
        for url in away:
            item = items[url]
            check(item["status"] == "failed" and item["error"]["kind"] == "connect",
                  f"{url}: {item['status']} {item.get('error')}")
        bad = [(u, items[u]["status"], items[u].get("error")) for u in good
               if items[u]["status"] != "ok"]
        check(not bad, f"{len(bad)} of the host's 12 photos not fetched: {bad[:3]}\n{err[-800:]}")
        counts = per_path(server)
        check(all(counts.get("/" + name) == 1 for name in photos), f"requests {counts}")
        check(rc == 1, f"exit {rc}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
