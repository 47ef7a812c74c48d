#!/usr/bin/env python3
"""What dead hosts cost on a shuffled many-host list (issue 11's goal "about one
connect timeout per host"): bench_world.py's "issue11" mix (95 good hosts,
5 dead per 100, seeded), its URLs spread evenly and shuffled, so a dead host's
URLs come one at a time through the run. Run as root:

    python3 tests/world/bench_dead_hosts.py [--hosts 200] [--urls 2000] \
        --binary build/cmd/edgefetch [--binary OTHER ...] [-- EDGEFETCH ARGS]

For each binary: a run on the whole list and one on its good URLs alone
(same order), both at edgefetch's defaults plus the ARGS. Printed per
binary: connect attempts per dead host (from --json: every attempt of a
dead host's items is a connect timeout), SYNs its nft rule dropped, and the
wall time the dead hosts added (whole list - good URLs alone) in connect
timeouts. A benchmark (timings are noisy on a shared machine), not a test.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from bench_world import build_world  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--urls", type=int, default=2000)
    ap.add_argument("--binary", action="append", required=True)
    ap.add_argument("--connect-timeout", type=float, default=5.0, help="edgefetch's default")
    ap.add_argument("args", nargs="*", help="more edgefetch arguments (after --)")
    args = ap.parse_args()
    if not world.in_namespace():
        if os.geteuid() != 0:
            print("bench_dead_hosts.py needs root (its network namespace)", file=sys.stderr)
            return 2
        return world.reenter(timeout=1800)
    cache = os.environ.get("WORLD_CACHE") or tempfile.mkdtemp(prefix="bench-dead-")
    with world.World(lifetime=1500, cache=cache) as w:
        plan = build_world(w, args.hosts, seed=11, mix="issue11")
        w.start()
        urls = w.urls(plan, args.urls // args.hosts)
        random.Random(12).shuffle(urls)
        dead = {h.name for h in plan if h.kind == "dead"}
        good_urls = [u for u in urls if u.split("/")[2] not in dead]
        extra = ["--connect-timeout", f"{args.connect_timeout:g}"] + args.args
        print(f"world: {args.hosts} hosts ({len(dead)} dead), {len(urls)} URLs shuffled, "
              f"edgefetch defaults {' '.join(extra)}", flush=True)
        for binary in args.binary:
            binary = os.path.abspath(binary)
            syns_before = w.syn_counters()
            run = w.run_edgefetch(urls, extra, timeout=900, binary=binary)
            syns = w.syn_counters()
            base = w.run_edgefetch(good_urls, extra, timeout=900, binary=binary)
            attempts = {}
            for item in run.items:
                name = item["url"].split("/")[2]
                if name in dead:
                    attempts[name] = attempts.get(name, 0) + item["attempts"]
            per_host = sorted(attempts.values())
            dropped = sorted(syns.get(n, 0) - syns_before.get(n, 0) for n in dead)
            added = run.wall - base.wall
            ok = sum(i["status"] == "ok" for i in run.items)
            print(f"{binary}: whole list {run.wall:.2f} s (ok {ok}), good URLs alone "
                  f"{base.wall:.2f} s: dead hosts added {added:+.2f} s = "
                  f"{added / args.connect_timeout:+.2f} connect timeouts; connect attempts per "
                  f"dead host {per_host} (mean {statistics.mean(per_host):.2f}); SYNs dropped "
                  f"per dead host {dropped}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
