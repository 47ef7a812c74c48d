#!/usr/bin/env python3
"""The run's memory budget and a signal mid-decode (issue 10 items 3, 4),
through the real binary against the fixture on 127.0.0.1. Every image is
made here.

    test_memory_budget.py CASE   (meson runs each case as memory_budget_CASE)

budget_bounds_rss: four 41 MP PNGs and small photos with -w 4 and
--max-memory set so that one large item fits at a time: all ok, and the
peak RSS (the --json summary's, VmHWM) stays under the budget plus
BASE_MIB plus the bodies the run held (peak items held x the largest
body). Measured: 114 MiB under a bound of 170; without the reservation the
four decode at once (400 MiB); without cmd/process.c's fixed mmap
threshold each worker's arena keeps its last item's buffers (185-211 MiB).

budget_never_fits: a budget below one large item's need: that item fails
at once, over_budget "needs N MiB, budget M MiB"; the others are ok.

sigterm_mid_decode: a 100 MP progressive JPEG of noise with Canny (about
2-3 s of decode, then about 1.5 s of operator and encode on this machine);
SIGTERM once the fixture has sent the body: exit 143 within 2 s of the
signal, the item cancelled at decode, no temporary left. With -w 2 a second
copy waits for memory meanwhile (the budget holds one) and the signal wakes
it; with --sequential the second was not fetched yet.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, check_stopped, env_for_rss, main_for, per_path,
                     signal_and_finish)
from pngutil import large_gray_png  # noqa: E402


MIB = 1 << 20
# What the budget does not count, besides the bodies: the binary, its
# libraries, libcurl and libuv, the list, the threads' stacks and allocator
# slack. The README's constant (Safety, "memory"): measured 15 MiB for a run
# of small photos with -w 4, about twice that documented.
BASE_MIB = 32


def run_json(args, timeout=300):
    proc = subprocess.run([EDGEFETCH, "--json"] + args, capture_output=True, timeout=timeout,
                          env=env_for_rss())
    check_clean_exit(proc.stderr, "edgefetch")
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    items = {rec["url"]: rec for rec in lines if rec.get("type") == "item"}
    summary = [rec for rec in lines if rec.get("type") == "summary"]
    check(len(summary) == 1, f"no summary: {proc.stdout[-500:]!r} {proc.stderr[-2000:]!r}")
    return proc.returncode, items, summary[0], proc.stderr.decode(errors="replace")


def serve_set(ws, server, large_count, side):
    big = large_gray_png(side, side)
    ws.write("big.png", big)
    urls = [server.url(f"big{i}.png?file=big.png") for i in range(large_count)]
    for i, photo in enumerate(PHOTOS[:3]):
        ws.photo(f"small{i}.jpg", photo)
        urls.append(server.url(f"small{i}.jpg"))
    return urls, len(big)


def test_budget_bounds_rss():
    side = 6400  # 41 MP: 41 MiB gray, 129 MiB reserved with sobel and 4 threads
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        urls, body = serve_set(ws, server, 4, side)
        budget_mib = 136  # one large item (129 MiB reserved) fits, two do not
        rc, items, summary, err = run_json(["-i", ws.list_file(urls), "-o", ws.out, "-w", "4",
                                            "-j", "4", "--max-memory", f"{budget_mib}M"])
        check(rc == 0, f"exit {rc}: {err}")
        for url in urls:
            check(items[url]["status"] == "ok", f"{url}: {items[url]}")
        bodies_mib = summary["peak_items_held"] * body / MIB
        bound = budget_mib + BASE_MIB + bodies_mib
        peak = summary["peak_rss_bytes"] / MIB
        print(f"peak RSS {peak:.0f} MiB; budget {budget_mib} MiB + base {BASE_MIB} MiB + bodies "
              f"{bodies_mib:.1f} MiB ({summary['peak_items_held']} held x {body} bytes) = "
              f"{bound:.0f} MiB")
        check(peak < bound, f"peak RSS {peak:.0f} MiB over {bound:.0f} MiB")


def test_budget_never_fits():
    side = 6400
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        urls, _ = serve_set(ws, server, 1, side)
        rc, items, _, err = run_json(["-i", ws.list_file(urls), "-o", ws.out, "-w", "2",
                                      "--max-memory", "64M"])
        check(rc == 1, f"exit {rc}: {err}")
        big = items[urls[0]]
        check(big["status"] == "failed" and big["error"]["stage"] == "decode"
              and big["error"]["kind"] == "over_budget", f"{big}")
        message = big["error"]["message"]
        check(message.startswith("needs ") and message.endswith(" MiB, budget 64 MiB"), message)
        need = int(message.split()[1])
        check(64 < need < 400, message)
        for url in urls[1:]:
            check(items[url]["status"] == "ok", f"{url}: {items[url]}")
        check(per_path(server).get("/big0.png") == 1, "the over-budget item was fetched again")


def noise_progressive_jpeg(ws, side):
    """A progressive gray JPEG of side x side pixels of noise: a couple of
    seconds of decode (libjpeg's progressive Huffman decode over a
    whole-image coefficient buffer), made with cjpeg."""
    pool = os.urandom(side + 4096)
    pgm = os.path.join(ws.tmp, "noise.pgm")
    with open(pgm, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (side, side))
        for y in range(side):
            f.write(pool[(y * 37) % 4096:(y * 37) % 4096 + side])
    data = subprocess.run(["cjpeg", "-quality", "60", "-progressive", pgm], check=True,
                          capture_output=True).stdout
    os.unlink(pgm)
    return data


def sigterm_mid_decode(mode_args, copies):
    """Returns the items of the run, by URL."""
    if shutil.which("cjpeg") is None:
        check(False, "cjpeg missing (Debian libjpeg-turbo-progs, in the Makefile's TEST_DEPS)")
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        huge = noise_progressive_jpeg(ws, 10000)  # 100 MP, about 43 MB
        ws.write("huge.jpg", huge)
        urls = [server.url(f"huge{i}.jpg?file=huge.jpg") for i in range(copies)]
        # 335 MiB each with canny: one fits at a time.
        proc = subprocess.Popen([EDGEFETCH, "--json", "-i", ws.list_file(urls), "-o", ws.out,
                                 "--operator", "canny", "--max-size", "128M",
                                 "--max-memory", "600M"] + mode_args,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # Every body sent and the responses over: a moment later one
            # item decodes (for seconds) and, with -w 2, the other waits for
            # memory. (--sequential fetches the second only after the first.)
            deadline = time.monotonic() + 120
            want_sent = len(huge) * (copies if "--sequential" not in mode_args else 1)
            while True:
                stats = server.stats()
                if stats["bytes_sent"] >= want_sent and stats["inflight"] == 0:
                    break
                check(proc.poll() is None, f"ended (exit {proc.returncode}) before the signal")
                check(time.monotonic() < deadline, f"the download did not end: {stats}")
                time.sleep(0.01)
            time.sleep(0.3)
            out, err, took = signal_and_finish(proc, timeout=60, still="no exit 60 s after SIGTERM")
            check_clean_exit(err, "edgefetch")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        print(f"SIGTERM to exit: {took:.3f} s")
        err = err.decode(errors="replace")
        check_stopped(proc.returncode, err, signal.SIGTERM, "memory budget", said=False)
        check(took < 2.0, f"SIGTERM to exit took {took:.2f} s (the limit is 2 s)")
        records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        items = {r["url"]: r for r in records if r.get("type") == "item"}
        check(set(items) == set(urls), f"{items}")
        check(all(i["status"] == "cancelled" for i in items.values()), f"{items}")
        for path, count in per_path(server).items():
            check(count == 1, f"{path} fetched {count} times")
        ws.check_tree([])
        return [items[u] for u in urls]


def test_sigterm_mid_decode():
    """-w 2, two huge items under a budget for one: the signal stops the
    decode of one and wakes the other from its wait for memory."""
    items = sigterm_mid_decode(["-w", "2"], 2)
    reasons = sorted(i["error"]["message"] for i in items)
    check(reasons == ["cancelled by signal while decoding",
                      "cancelled by signal while waiting for memory"], f"{reasons}")
    check(all(i["error"]["stage"] == "decode" for i in items), f"{items}")


def test_sigterm_mid_decode_sequential():
    """The same in --sequential mode, whose CPU stage runs off the loop
    thread so that the signal is taken while it decodes."""
    items = sigterm_mid_decode(["--sequential"], 2)
    check(items[0]["error"] == {"kind": "cancelled", "stage": "decode",
                                "message": "cancelled by signal while decoding"}, f"{items[0]}")
    check(items[1]["error"]["stage"] == "download", f"{items[1]}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
