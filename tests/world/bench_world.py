#!/usr/bin/env python3
"""The web-at-scale benchmark (issue 11 deliverable 3), first version: edgefetch
and the download tools people use, on a many-host world (world.py) in a
network namespace of its own. Run as root:

    python3 tests/world/bench_world.py --quick [--binary build/cmd/edgefetch]

The world (seeded, so every run is the same): HOSTS hosts, URLS URLs spread
evenly over them and shuffled; per host a profile drawn once:
    87 %  good:   latency to first byte uniform in [lo, lo + 40 ms], lo in
                  20-300 ms; bandwidth per connection 0.25-4 MB/s (log-uniform)
     5 %  https:  nginx, HTTP/2, bandwidth 1-4 MB/s (nginx limit_rate), no latency
     3 %  dead:   SYNs dropped
     2 %  429:    the first request of each path answers 429 Retry-After: 1
     2 %  404:    every path answers 404
     1 %  trickle: 16 kB/s per connection
Bodies: the sample photos at 1/8 and 1/4 size, JPEG and PNG (4-90 kB).
Full: 2,000 hosts, 100,000 URLs, each contender cut off at 1,200 s; --quick:
200 hosts, 2,000 URLs, cut off at 60 s.

Contenders, each run once, one after the other on the same world, each cut
off after --cutoff seconds (DNF, with how far it got):
    edgefetch at its defaults (-j 32 adaptive up to 256, --max-per-host 4);
    edgefetch -j 4 (the old default, the lesson's);
    curl --parallel (default --parallel-max 50; and 32, 256), aria2c (default
    -j 5; and -j 32, 256), wget2 (default 5 threads; and 32, 256): at their
    defaults and at edgefetch's start and ceiling (32 rising to 256 without
    -j); these only download (no
    decode, no edge map), so they do less work than edgefetch; and the
    lesson's asyncio script (tests/bench/lesson_asyncio.py: 4 downloads in
    flight, hard-wired, edge maps in a process pool; it trusts only the
    system's CAs, so its HTTPS URLs fail). aria2c runs
    with --async-dns=false: its c-ares resolver returns no address on a
    machine whose only interface is loopback (it skips address families with
    no non-loopback address), so in the world it would resolve nothing.
Figures per run: wall time, items/s (servable URLs fetched / wall), time to
90 % and 99 % of the servable URLs (those that can succeed: good, https, 429, trickle)
answered 200 in full, from the servers' logs (same clock for every tool),
peak RSS (GNU time; for a run cut off, the sum of VmHWM over its process
tree just before), connections per host (mean) and the most open at once
to one host (politeness), requests sent.

Lower bound: the makespan no scheduler can beat under the same global cap J
and per-host cap P, from the profiles: each URL occupies a slot for its
latency + size / bandwidth (a 429 URL twice its latency plus its body, its
Retry-After spent holding nothing; a 404 its latency; a dead host one connect
timeout for all its URLs), so the bound is the largest of: total occupancy /
J, the busiest host's makespan on P slots (its occupancy / P, or more
where its URLs do not split evenly: host_makespan), the longest single chain (a 429 URL:
latency + Retry-After + latency + body), and the CPU work / cores (the mean
decode + operator + encode time of edgefetch's ok items, times the servable
URLs). Printed for J/P = 4/4 and 32/4 (edgefetch's defaults), or --bound J/P.

Measuring a choice: --variant ARGS (repeatable) adds a row "edgefetch ARGS",
--repeat N runs every row N times in rotated order and adds the medians,
--only PREFIXES keeps the rows whose names start so, --mix good|issue11|web
picks the hosts' mix (issue11: 95 good, 5 dead per 100, the issue's first
list), --others-cutoff S cuts the other tools off sooner than edgefetch.

Each edgefetch row also gives its process CPU time (user + system, from its
--json summary) and the CPU floor it sets (that over the cores), and how far
its download cap went (summary.downloads: peak cap, peak in flight).

Results: a Markdown table on stdout, also written to --out (default
tests/bench/results/world-quick.md, or world.md for the full size), with a
CSV beside it (same name, .csv) and its chart (.png, bench_world_chart.py;
needs python3-matplotlib). The edgefetch measured is labelled with --label
(default: the commit of this tree, "-dirty" when it has changes).
`make bench` runs the full size, `make bench-world-quick` the quick one.
"""
import argparse
import csv
import datetime
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONNECT_TIMEOUT_DEFAULT = 5.0  # edgefetch's (pipeline/options.c)
RETRY_AFTER = 1


# The mixes per 100 hosts. "web": the benchmark's; "issue11": the list of
# the first measurement (good hosts and 5 % dead, nothing else);
# "good": the same without the dead hosts, its baseline.
MIXES = {
    "good": ["good"] * 100,
    "web": ["good"] * 87 + ["https"] * 5 + ["dead"] * 3 + ["r429"] * 2 + ["404"] * 2
           + ["trickle"] * 1,
    "issue11": ["good"] * 95 + ["dead"] * 5,
}


def build_world(w, hosts, seed, mix="web"):
    rng = random.Random(seed)
    plan = []
    kinds = MIXES[mix]
    for i in range(hosts):
        # 37 is prime to 100: any 100 hosts in a row hold the whole mix, and
        # a smaller world (--hosts 60) a sample of every kind, not 60 good.
        kind = kinds[(i * 37) % len(kinds)]
        if kind == "good":
            lo = rng.uniform(20, 300)
            bw = int(math.exp(rng.uniform(math.log(250_000), math.log(4_000_000))))
            plan.append(w.add("http", 1, label="good", latency_ms=(lo, lo + 40), bandwidth=bw)[0])
        elif kind == "https":
            plan.append(w.add("https", 1, bandwidth=int(rng.uniform(1e6, 4e6)))[0])
        elif kind == "dead":
            plan.append(w.add("dead", 1)[0])
        elif kind == "r429":
            plan.append(w.add("http", 1, label="r429", latency_ms=(20, 60), bandwidth=2_000_000,
                              status=429, retry_after=RETRY_AFTER, fail_times=1)[0])
        elif kind == "404":
            plan.append(w.add("http", 1, label="notfound", latency_ms=(20, 60), status=404)[0])
        else:
            plan.append(w.add("http", 1, label="trickle", bandwidth=16_000)[0])
    return plan


def servable(host):
    return host.kind == "https" or (host.kind == "http" and host.profile.get("status") in (None, 429))


def occupancy(host, size):
    """(slot seconds, chain seconds) of one URL of `host` with a body of `size`."""
    p = host.profile
    lat = sum(p.get("latency_ms", (0, 0))) / 2000.0
    bw = p.get("bandwidth") or 1e9
    body = size / bw
    if host.kind == "https":
        return body, body
    if p.get("status") == 404:
        return lat, lat
    if p.get("status") == 429:
        return 2 * lat + body, 2 * lat + RETRY_AFTER + body
    return lat + body, lat + body


def host_makespan(occs, per_host):
    """The least time one host's URLs (slot seconds each) can take on
    per_host slots: the work over the slots, the longest URL, and for every
    k, of the k x per_host + 1 longest URLs some slot runs k + 1: at least
    the k + 1 shortest of them in a row (6 equal URLs on 4 slots: 2 rounds,
    not 1.5)."""
    occs = sorted(occs, reverse=True)
    best = max(sum(occs) / per_host, occs[0] if occs else 0.0)
    k = 1
    while k * per_host < len(occs):
        best = max(best, sum(occs[k * per_host - k:k * per_host + 1]))
        k += 1
    return best


def lower_bound(hosts_urls, sizes, slots, per_host, connect_timeout, cpu_s, cores):
    total = 0.0
    busiest = 0.0
    chain = 0.0
    for host, urls in hosts_urls.items():
        if host.kind == "dead":
            work = connect_timeout  # one probe learns the host is dead
            chain = max(chain, connect_timeout)
        elif host.kind in ("nxdomain", "refuse"):
            work = 0.0
        else:
            occs = []
            for url in urls:
                occ, ch = occupancy(host, sizes[url.rsplit("_", 1)[-1]])
                occs.append(occ)
                chain = max(chain, ch)
            work = sum(occs)
            busiest = max(busiest, host_makespan(occs, per_host))
            total += work
            continue
        total += work
        busiest = max(busiest, work / per_host)
    parts = {"global cap": total / slots, "busiest host": busiest,
             "longest chain": chain, "CPU": cpu_s / cores}
    return max(parts.values()), parts


def fmt_s(seconds):
    return "-" if seconds is None else f"{seconds:.1f}"


def fmt_rss(mib):
    return "-" if math.isnan(mib) else f"{mib:.0f}"


def run_tool(name, argv, cutoff, cwd, stdout_path):
    """Runs argv under GNU time; returns (wall, rc or None when cut off, peak RSS MiB)."""
    rss_file = os.path.join(cwd, f"{name}.rss")
    full = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = cwd
    start = time.monotonic()
    with open(stdout_path, "wb") as out, open(os.path.join(cwd, f"{name}.stderr"), "wb") as err:
        proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=cutoff)
            cut_rss = None
        except subprocess.TimeoutExpired:
            cut_rss = tree_hwm_kib(proc.pid)  # GNU time dies with it and reports nothing
            os.killpg(proc.pid, 9)
            proc.wait()
            rc = None
    wall = time.monotonic() - start
    try:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        rss = float("nan")
    if cut_rss is not None:
        rss = cut_rss / 1024
    return start, wall, rc, rss


def tree_hwm_kib(root):
    """Sum of VmHWM over `root` and its descendants (the peak RSS so far of a
    run about to be cut off)."""
    children = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(pid))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def contenders(binary, lst, work, urls, ca, variants=()):
    aria_list = os.path.join(work, "aria.txt")
    curl_cfg = os.path.join(work, "curl.cfg")
    with open(aria_list, "w") as a, open(curl_cfg, "w") as c:
        for url in urls:
            name = url.rsplit("/", 1)[-1]
            a.write(f"{url}\n  out={name}\n")
            c.write(f'url = "{url}"\noutput = "{name}"\n')
    # A world too small to have an HTTPS host has no CA: every tool trusts the system's.
    ca_ef = ["--cacert", ca] if ca else []
    ca_other = [f"--ca-certificate={ca}"] if ca else []
    ef = [binary, "-q", "--json"] + ca_ef + ["-i", lst]
    # The defaults are -j 32 --max-per-host 4 --connect-timeout 5 (chosen on
    # this world); -j 4 is the old default, the lesson's.
    rows = [("edgefetch defaults", lambda d: ef + ["-o", d]),
            ("edgefetch -j 4", lambda d: ef + ["-j", "4", "-o", d])]
    # --variant ARGS: edgefetch with those arguments, a row each ("edgefetch ARGS").
    rows += [(f"edgefetch {v}", lambda d, v=v: ef + v.split() + ["-o", d]) for v in variants]
    if shutil.which("curl"):
        curl = ["curl", "-s"] + ca_ef + ["--parallel", "-K", curl_cfg, "--output-dir"]
        rows += [("curl --parallel (max 50)", lambda d: curl + [d, "--create-dirs"]),
                 ("curl --parallel-max 32", lambda d: curl + [d, "--create-dirs", "--parallel-max", "32"]),
                 ("curl --parallel-max 256", lambda d: curl + [d, "--create-dirs", "--parallel-max", "256"])]
    if shutil.which("aria2c"):
        aria = ["aria2c", "-q", "--async-dns=false", "--allow-overwrite=true", "--auto-file-renaming=false",
                ] + ca_other + ["-i", aria_list]
        rows += [("aria2c (-j 5)", lambda d: aria + ["-d", d]),
                 ("aria2c -j 32", lambda d: aria + ["-j", "32", "-d", d]),
                 ("aria2c -j 256", lambda d: aria + ["-j", "256", "-d", d])]
    if shutil.which("wget2"):
        wget2 = ["wget2", "--no-config", "-q"] + ca_other + ["-i", lst]
        rows += [("wget2 (5 threads)", lambda d: wget2 + ["-P", d]),
                 ("wget2 --max-threads 32", lambda d: wget2 + ["--max-threads", "32", "-P", d]),
                 ("wget2 --max-threads 256", lambda d: wget2 + ["--max-threads", "256", "-P", d])]
    lesson = os.path.join(ROOT, "tests", "bench", "lesson_asyncio.py")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import httpx, numpy, PIL"], capture_output=True)
    if os.path.exists(lesson) and probe.returncode == 0:
        rows.append(("lesson asyncio (4)", lambda d: ["/usr/bin/python3", lesson, lst, d]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--binary", default=os.environ.get("EDGEFETCH")
                    or os.path.join(ROOT, "build", "cmd", "edgefetch"))
    ap.add_argument("--hosts", type=int)
    ap.add_argument("--urls", type=int)
    ap.add_argument("--cutoff", type=float)
    ap.add_argument("--others-cutoff", type=float,
                    help="cut the contenders other than edgefetch off after this many seconds "
                         "(default: --cutoff)")
    ap.add_argument("--only", default="", help="comma-separated name prefixes of contenders")
    ap.add_argument("--variant", action="append", default=[],
                    help="also run edgefetch with these arguments (repeatable), row 'edgefetch ARGS'")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the contenders this many rounds, the order rotated each round "
                         "(interleaved A/B); the table gives each run and the medians")
    ap.add_argument("--bound", action="append", default=[], metavar="J/P",
                    help="print the lower bound at -j J with P per host (repeatable; "
                         "default 4/4 and 32/4)")
    ap.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_DEFAULT,
                    help="the connect timeout the lower bound charges a dead host")
    ap.add_argument("--mix", choices=sorted(MIXES), default="web", help="the hosts' mix per 100")
    ap.add_argument("--bodies", choices=("small", "photos"), default="small",
                    help="small: the sample photos at 1/8 and 1/4 size, JPEG and PNG (4-90 kB); "
                         "photos: the sample photos themselves (1620x1080 JPEG, 100-330 kB), "
                         "the lesson's and issue 11's first list")
    ap.add_argument("--out", help="the Markdown results; .csv and .png beside it")
    ap.add_argument("--label", help="what the edgefetch binary is (default: this tree's commit)")
    args = ap.parse_args()
    if not world.in_namespace():
        if os.geteuid() != 0:
            print("bench_world.py needs root (its network namespace)", file=sys.stderr)
            return 2
        return world.reenter(timeout=7200)
    hosts = args.hosts or (200 if args.quick else 2000)
    url_count = args.urls or (2000 if args.quick else 100_000)
    cutoff = args.cutoff or (60 if args.quick else 1200)
    out_md = args.out or os.path.join(ROOT, "tests", "bench", "results",
                                      "world-quick.md" if args.quick else "world.md")
    binary = os.path.abspath(args.binary)
    label = args.label or tree_commit()
    bench_start = time.monotonic()
    cache = os.environ.get("WORLD_CACHE") or os.path.join(ROOT, "build", "tests", "world")
    prefix = ""
    if args.bodies == "photos":
        cache, prefix = os.path.join(cache, "photos"), world.FULL_SIZE_PREFIX
        os.environ.setdefault("SAMPLES", os.path.join(ROOT, "samples", "photos"))
        world.full_size_cache(cache)
    os.makedirs(cache, exist_ok=True)
    with world.World(lifetime=int(cutoff * 12 + 600), cache=cache) as w:
        plan = build_world(w, hosts, seed=11, mix=args.mix)
        w.start()
        rng = random.Random(12)
        per_host = url_count // hosts
        urls = w.urls(plan, per_host, ext=None, prefix=prefix)
        rng.shuffle(urls)
        sizes = {n: os.path.getsize(os.path.join(w.image_dir, n)) for n in w.image_names}
        by_host = {h: [] for h in plan}
        name_to_host = {h.name: h for h in plan}
        for url in urls:
            by_host[name_to_host[url.split("/")[2]]].append(url)
        good_urls = [u for u in urls if servable(name_to_host[u.split("/")[2]])]
        good_paths = {"/" + u.split("/", 3)[3] for u in good_urls}
        path_host = {"/" + u.split("/", 3)[3]: name_to_host[u.split("/")[2]] for u in urls}
        work = tempfile.mkdtemp(prefix="bench-", dir=w.tmp)
        lst = os.path.join(work, "urls.txt")
        with open(lst, "w") as f:
            f.write("\n".join(urls) + "\n")
        print(f"world: {hosts} hosts, {len(urls)} URLs ({len(good_urls)} servable), "
              f"binary {binary}", flush=True)
        results = []
        cpu_s = None
        only = [p for p in args.only.split(",") if p]
        chosen = [(name, make) for name, make in contenders(binary, lst, work, urls, w.cacert,
                                                            args.variant)
                  if not only or any(name.startswith(p) for p in only)]
        order = []
        for round_no in range(args.repeat):
            shift = round_no % len(chosen) if chosen else 0
            order += chosen[shift:] + chosen[:shift]
        for name, make in order:
            w.reset_faults()
            out_dir = os.path.join(work, "out-" + str(len(results)))
            os.makedirs(out_dir)
            stdout_path = os.path.join(work, f"stdout-{len(results)}")
            limit = cutoff
            if args.others_cutoff and not name.startswith("edgefetch"):
                limit = args.others_cutoff
            world_cpu0, busy0 = w.cpu_seconds(), machine_busy()
            start, wall, rc, rss = run_tool(f"run{len(results)}", make(out_dir), limit, work,
                                            stdout_path)
            world_cpu = w.cpu_seconds() - world_cpu0
            busy = machine_busy() - busy0
            traffic = w.traffic(settle=3.0, since=start)
            first_ok = {}  # servable path -> when its first full 200 was written
            conns, worst, requests = [], 0, 0
            for h in plan:
                t = traffic.host(h)
                requests += len(t.requests)
                if t.connections:
                    conns.append(t.connections)
                    worst = max(worst, t.max_open_connections())
                for when, path, status, _ in t.responses:
                    if status == 200 and path in good_paths:
                        first_ok[path] = min(first_ok.get(path, when), when)
            done = sorted(v - start for v in first_ok.values())
            fetched = len(done)
            if fetched < len(good_paths):
                # Which kinds of host the servable URLs not fetched were on.
                kinds = {}
                for path in good_paths - set(first_ok):
                    kind = path_host[path].name.split("-")[0]
                    kinds[kind] = kinds.get(kind, 0) + 1
                print(f"  {name}: not fetched, by host: {dict(sorted(kinds.items()))}", flush=True)
            need = math.ceil(0.99 * len(good_paths))
            t99 = done[need - 1] if fetched >= need else None
            need90 = math.ceil(0.90 * len(good_paths))
            t90 = done[need90 - 1] if fetched >= need90 else None
            if name.startswith("edgefetch") and cpu_s is None:
                # CPU per image from the items written (a run cut off has some
                # too), scaled to every servable URL: the lower bound's CPU term.
                per_item = []
                with open(stdout_path, errors="replace") as f:
                    for line in f:
                        try:
                            obj = json.loads(line)
                        except ValueError:
                            continue
                        if obj.get("type") == "item" and obj["status"] == "ok":
                            t = obj["times_ms"]
                            per_item.append((t["decode"] + t["operator"] + t["encode_write"]) / 1000)
                if per_item:
                    cpu_s = sum(per_item) / len(per_item) * len(good_paths)
            # edgefetch's own summary: its process CPU time (the CPU floor of
            # this run is that over the cores) and how far its download cap went.
            summary = {}
            if name.startswith("edgefetch"):
                with open(stdout_path, errors="replace") as f:
                    for line in f:
                        if line.startswith('{"type":"summary"'):
                            summary = json.loads(line)
            cpu_ms = summary.get("process_cpu_ms", {})
            cpu_run = (cpu_ms["user"] + cpu_ms["system"]) / 1000 if cpu_ms else None
            downloads = summary.get("downloads", {})
            row = {"name": name, "wall": wall, "rc": rc, "cutoff": limit, "rss": rss,
                   "cpu_run": cpu_run, "world_cpu": world_cpu, "busy": busy,
                   "peak_cap": downloads.get("peak_cap"),
                   "peak_in_flight": downloads.get("peak_in_flight"),
                   "fetched": fetched,
                   "items_s": fetched / wall, "t99": t99, "t90": t90, "requests": requests,
                   "conns_per_host": sum(conns) / len(conns) if conns else 0, "worst": worst}
            results.append(row)
            print(f"  {name}: {'DNF at ' if rc is None else ''}{wall:.1f} s, {fetched}/"
                  f"{len(good_paths)} servable fetched, 90 % at {fmt_s(t90)}, 99 % at {fmt_s(t99)}, "
                  f"{row['items_s']:.0f} items/s, "
                  f"peak RSS {fmt_rss(rss)} MiB, {row['conns_per_host']:.1f} connections/host, "
                  f"max {worst} open to one host"
                  + (f", CPU {cpu_run:.2f} s (floor {cpu_run / (os.cpu_count() or 1):.2f} s), "
                     f"peak cap {row['peak_cap']}, peak in flight {row['peak_in_flight']}"
                     if cpu_run is not None else "")
                  + f"; the world's servers used {world_cpu:.1f} s of CPU, the machine was "
                    f"busy {busy / (wall * (os.cpu_count() or 1)):.0%}"
                  + (f" (machine floor: (CPU + world's) / cores = "
                     f"{(cpu_run + world_cpu) / (os.cpu_count() or 1):.1f} s)"
                     if cpu_run is not None else ""), flush=True)
            if os.environ.get("BENCH_KEEP"):
                print(open(os.path.join(work, f"run{len(results) - 1}.stderr")).read()[-800:],
                      open(stdout_path, errors="replace").read()[-800:])
            shutil.rmtree(out_dir, ignore_errors=True)
        cores = os.cpu_count() or 1
        bounds = {}
        caps = [tuple(int(x) for x in b.split("/")) for b in args.bound] or [(4, 4), (32, 4)]
        for slots, cap in caps:
            bounds[(slots, cap)] = lower_bound(by_host, sizes, slots, cap, args.connect_timeout,
                                               cpu_s or 0.0, cores)
        elapsed = time.monotonic() - bench_start
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        world_line = (f"World: {hosts} hosts, {len(urls)} URLs, {len(good_urls)} servable "
                      f"(mix {args.mix} in tests/world/bench_world.py, bodies {args.bodies}); {cores} CPUs; cutoff {cutoff:g} s"
                      + (f", {args.others_cutoff:g} s for the contenders other than edgefetch"
                         if args.others_cutoff else "") + ".")
        shown = os.path.relpath(binary, ROOT) if binary.startswith(ROOT + os.sep) else binary
        lines = [f"edgefetch measured: {label} (`{shown}`); {when}; the "
                 f"whole benchmark took {elapsed:.0f} s.", "", world_line, "",
                 "| contender | wall s | servable fetched | items/s | 90 % done s | 99 % done s "
                 "| peak RSS MiB | connections/host | max open to one host | requests "
                 "| CPU s | world's CPU s | machine busy |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            wall = f"DNF {r['wall']:.0f}" if r["rc"] is None else f"{r['wall']:.1f}"
            lines.append(f"| {r['name']} | {wall} | {r['fetched']}/{len(good_paths)} | "
                         f"{r['items_s']:.0f} | {fmt_s(r['t90'])} | {fmt_s(r['t99'])} | "
                         f"{fmt_rss(r['rss'])} | {r['conns_per_host']:.1f} | "
                         f"{r['worst']} | {r['requests']} | "
                         f"{'' if r['cpu_run'] is None else format(r['cpu_run'], '.1f')} | "
                         f"{r['world_cpu']:.1f} | {r['busy'] / (r['wall'] * cores):.0%} |")
        lines.append("")
        if args.repeat > 1:
            lines.append(f"Medians over {args.repeat} interleaved rounds:")
            lines.append("")
            for name, _ in chosen:
                mine = [r for r in results if r["name"] == name]
                med = {k: median([r[k] for r in mine if r[k] is not None])
                       for k in ("wall", "items_s", "t90", "t99")}
                dnf = sum(1 for r in mine if r["rc"] is None)
                cpu_runs = [r["cpu_run"] for r in mine if r.get("cpu_run") is not None]
                floor = ""
                if cpu_runs:
                    # The CPU floor of the run: its measured CPU time over the cores.
                    floor_s = median(cpu_runs) / cores
                    # With the world's servers on the same cores: the machine's floor.
                    machine_s = median([r["cpu_run"] + r["world_cpu"] for r in mine
                                        if r.get("cpu_run") is not None]) / cores
                    floor = (f", CPU {median(cpu_runs):.2f} s, floor {floor_s:.2f} s, wall/floor "
                             f"{med['wall'] / floor_s:.2f}x, with the world's servers' CPU "
                             f"{machine_s:.2f} s (wall/that {med['wall'] / machine_s:.2f}x), peak cap "
                             f"{median([r['peak_cap'] for r in mine])}, peak in flight "
                             f"{median([r['peak_in_flight'] for r in mine])}")
                lines.append(f"- {name}: wall {fmt_s(med['wall'])} s"
                             f"{f' ({dnf} DNF)' if dnf else ''}, {med['items_s']:.0f} items/s, "
                             f"90 % at {fmt_s(med['t90'])} s, 99 % at {fmt_s(med['t99'])} s{floor}")
            lines.append("")
        for (slots, cap), (bound, parts) in bounds.items():
            detail = ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
            rate = f", {len(good_paths) / bound:.0f} items/s" if bound > 0 else ""
            lines.append(f"Lower bound at -j {slots}, {cap} per host: {bound:.1f} s{rate} ({detail}).")
        lines.append("")
        lines.append("items/s: servable URLs fetched in full per second of wall time; 90 %/99 % "
                     "done: from the start until that share of the servable URLs had a full 200 "
                     "(the servers' logs); peak RSS of the process tree (GNU time); connections/host: "
                     "connections opened per host over the run, mean over hosts that saw any; max "
                     "open to one host: the politeness figure; CPU: the contender's own (edgefetch's "
                     "--json summary); world's CPU: the world's servers' over the run (they share "
                     "the cores); machine busy: all CPU time spent on the machine over the run "
                     "over wall x cores (other load included).")
        text = "\n".join(lines) + "\n"
        print("\n" + text)
        os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
        with open(out_md, "w") as f:
            f.write(text)
        stem = os.path.splitext(out_md)[0]
        write_csv(stem + ".csv", results, bounds, len(good_paths),
                  f"{world_line} edgefetch: {label}")
        # Debian's python3 has Debian's matplotlib; this one may be another.
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        chart = subprocess.run([python, os.path.join(HERE, "bench_world_chart.py"),
                                stem + ".csv", stem + ".png"], capture_output=True)
        if chart.returncode != 0:
            print(f"no chart: {chart.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
        print(f"wrote {out_md}, {stem}.csv{'' if chart.returncode else ', ' + stem + '.png'}")
    return 0


def machine_busy():
    """CPU seconds every core of the machine has spent not idle since boot
    (/proc/stat's first line: all but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def median(values):
    """The median of `values`, None when there are none."""
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def tree_commit():
    """This tree's commit, "-dirty" with uncommitted changes, for the label."""
    try:
        return subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty", "--abbrev=7"],
                              capture_output=True, check=True).stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"


def write_csv(path, results, bounds, servable_count, title):
    fields = ["kind", "name", "wall_s", "rc", "fetched", "servable", "items_s", "t90_s", "t99_s",
              "rss_mib", "conns_per_host", "max_open_to_one_host", "requests", "bound_s"]
    with open(path, "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=fields)
        out.writeheader()
        out.writerow({"kind": "world", "name": title})
        for r in results:
            out.writerow({"kind": "run", "name": r["name"], "wall_s": f"{r['wall']:.2f}",
                          "rc": "DNF" if r["rc"] is None else r["rc"], "fetched": r["fetched"],
                          "servable": servable_count, "items_s": f"{r['items_s']:.1f}",
                          "t90_s": "" if r["t90"] is None else f"{r['t90']:.2f}",
                          "t99_s": "" if r["t99"] is None else f"{r['t99']:.2f}",
                          "rss_mib": "" if math.isnan(r["rss"]) else f"{r['rss']:.1f}",
                          "conns_per_host": f"{r['conns_per_host']:.2f}",
                          "max_open_to_one_host": r["worst"], "requests": r["requests"]})
        for (slots, cap), (bound, _) in bounds.items():
            out.writerow({"kind": "bound", "name": f"-j {slots}/{cap} per host",
                          "bound_s": f"{bound:.2f}",
                          "items_s": f"{servable_count / bound:.1f}" if bound > 0 else "0"})


if __name__ == "__main__":
    sys.exit(main())
