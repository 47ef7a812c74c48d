#!/usr/bin/env python3
"""Why the lesson's asyncio script stops at 182 in the quick world benchmark:
an offline replay (no network, no namespace) of bench_world.py --quick's list
(the same seeds and mix) through the script's 4 download slots, each URL
holding its slot for its latency + body / bandwidth, a dead host's for the
connect wait (httpx.AsyncClient(timeout=60) bounds a connect by 60 s), an
HTTPS, 404 or 429 URL for its latency (the script fails those at once).
Prints how many good URLs are done by the 60 s cutoff.

    python3 tests/world/lesson_replay.py [CONNECT_WAIT_S]   # from the root, after a world run

The images' sizes come from the world's cache (build/tests/world).
Keep the mix and seeds in step with bench_world.py's build_world."""
import math, os, random, heapq, sys
sys.path.insert(0, "tests/world")
folder = "build/tests/world/world-images-v1"
names = sorted(n for n in os.listdir(folder) if not n.endswith(".tmp"))
sizes = {n: os.path.getsize(os.path.join(folder, n)) for n in names}
kinds = (["good"] * 87 + ["https"] * 5 + ["dead"] * 3 + ["r429"] * 2 + ["404"] * 2 + ["trickle"])
rng = random.Random(11)
hosts = []
for i in range(200):
    kind = kinds[(i * 37) % len(kinds)]
    if kind == "good":
        lo = rng.uniform(20, 300)
        bw = int(math.exp(rng.uniform(math.log(250_000), math.log(4_000_000))))
        hosts.append(("good", lo + 20, bw))
    elif kind == "https":
        rng.uniform(1e6, 4e6); hosts.append(("https", 0, 0))
    elif kind == "trickle":
        hosts.append(("trickle", 0, 16_000))
    else:
        hosts.append((kind, 40, 2_000_000))
urls, serial = [], 0
for k in range(10):
    for h in range(200):
        serial += 1
        urls.append((h, names[serial % len(names)]))
random.Random(12).shuffle(urls)
TIMEOUT = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
slots = [0.0] * 4
fetched = 0
held_dead = 0.0
for h, name in urls:
    kind, lat, bw = hosts[h]
    t = heapq.heappop(slots)
    if kind == "dead":
        d = TIMEOUT; held_dead += d
    elif kind in ("https", "404", "r429"):
        d = lat / 1000
    else:
        d = lat / 1000 + sizes[name] / bw
    end = t + d
    if kind in ("good", "trickle") and end <= 60:
        fetched += 1
    heapq.heappush(slots, end)
print(f"connect timeout {TIMEOUT:g} s: good fetched by 60 s: {fetched}; slot time on dead URLs {held_dead:.0f} s of {sum(slots):.0f}; first dead at list position {next(i for i,(h,_) in enumerate(urls) if hosts[h][0]=='dead')}")
