#!/usr/bin/env python3
"""Names and resume in batch jobs (issue 10, items 5-8), on real runs:

  names_never_refuse   a clash of names (the crafted three, a real FNV-1a-32
                       collision) never refuses the run; names follow the set
  resume_checks_source resume skips a name only when it holds this URL's
                       output (the PNG's tEXt "Source")
  overlapping_runs     a second run into the same folder leaves the first's
                       temporary alone and still sweeps an abandoned one
  fsync_batched        every output is synced before its rename, the folder
                       once per batch and at the end (strace counts)

Run one case: test_names.py NAME. Same environment as test_cli.py.
"""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check, main_for,  # noqa: E402
                     read, run, tree)
from pngutil import _chunk, png_source, tagged_png  # noqa: E402


def fnv1a32(data, h=2166136261):
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def items_of(out):
    objs = [json.loads(line) for line in out.splitlines()]
    return {o["url"]: o for o in objs if o["type"] == "item"}, objs[-1]


def check_written(ws, items, urls):
    """Every URL ok, under distinct names, each file carrying its URL."""
    names = [os.path.basename(items[u]["output"]) for u in urls]
    check(all(items[u]["status"] == "ok" for u in urls),
          f"not all ok: {[(u, items[u]['status']) for u in urls]}")
    check(len(set(names)) == len(urls), f"names not distinct: {names}")
    for url, name in zip(urls, names):
        check(png_source(read(os.path.join(ws.out, name))) == url, f"{name}: Source is not {url}")
    return dict(zip(urls, names))


def collision_pair(prefix, suffix):
    """Two URLs PREFIX<16 hex>SUFFIX with one FNV-1a-32 hash (a birthday
    search from the prefix's state: ~80,000 tries)."""
    start = fnv1a32(prefix.encode())
    tail = suffix.encode()
    seen = {}
    rng = random.Random(10)
    while True:
        hex_id = "%016x" % rng.getrandbits(64)
        h = fnv1a32(tail, fnv1a32(hex_id.encode(), start))
        if h in seen and seen[h] != hex_id:
            return prefix + seen[h] + suffix, prefix + hex_id + suffix
        seen[h] = hex_id


def test_names_never_refuse():
    """The issue's three URLs (/x/cat.jpg, /y/cat.jpg, /z/cat-<hash of x>.png)
    and two CDN URLs with one FNV-1a-32 hash: exit 0, every item written
    under its own name; the same set in another order, the same names."""
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        x = server.url("x/cat.jpg?file=" + PHOTOS[0])
        y = server.url("y/cat.jpg?file=" + PHOTOS[1])
        z = server.url("z/cat-%08x.png?file=%s" % (fnv1a32(x.encode()), PHOTOS[0]))
        a, b = collision_pair(server.url("media/"), "/original.jpg?file=" + PHOTOS[1])
        check(fnv1a32(a.encode()) == fnv1a32(b.encode()), "not a collision")
        urls = [x, y, z, a, b]
        rc, out, err = run(["--json", "-q", "-i", ws.list_file(urls), "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = items_of(out)
        names = check_written(ws, items, urls)
        check(summary["ok"] == 5, f"summary {summary}")
        check(len(names[x]) == len("cat-") + 16 + 4, f"x: {names[x]} is not at level 2")
        check(len(names[a]) == len("original-") + 16 + 4, f"a: {names[a]} is not at level 2")
        first = tree(ws.out)
        shutil.rmtree(ws.out)
        rc, out, err = run(["--json", "-q", "-i", ws.list_file(urls[::-1]), "-o", ws.out,
                            "--sequential"])
        check(rc == 0 and tree(ws.out) == first, f"order changed names: {tree(ws.out)} {first}")


def test_resume_checks_source():
    """Day 1 fetches /a/cat.jpg into cat.png; day 2's list holds only
    /b/cat.jpg, another image: it is fetched (not `skipped` with a's map)
    into cat-HASH.png, a's file untouched; rerunning either list skips with
    zero requests. An output of an older edgefetch (no Source) is kept."""
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        a = server.url("a/cat.jpg?file=" + PHOTOS[0])
        b = server.url("b/cat.jpg?file=" + PHOTOS[1])
        day1, day2 = ws.list_file([a], "day1.txt"), ws.list_file([b], "day2.txt")
        rc, out, err = run(["--json", "-q", "-i", day1, "-o", ws.out])
        check(rc == 0 and tree(ws.out) == ["cat.png"], f"day 1: {rc} {tree(ws.out)} {err}")
        a_map = read(os.path.join(ws.out, "cat.png"))
        check(png_source(a_map) == a, f"cat.png Source {png_source(a_map)!r}")

        server.reset()
        rc, out, err = run(["--json", "-q", "-i", day2, "-o", ws.out])
        check(rc == 0, f"day 2: exit {rc}: {err}")
        items, _ = items_of(out)
        check(items[b]["status"] == "ok", f"day 2 reported {items[b]['status']}: {items[b]}")
        b_name = "cat-%08x.png" % fnv1a32(b.encode())
        check(os.path.basename(items[b]["output"]) == b_name, f"day 2 output {items[b]['output']}")
        check(server.stats()["requests"] == 1, f"day 2 requests {server.stats()}")
        check(read(os.path.join(ws.out, "cat.png")) == a_map, "a's output was changed")
        check(png_source(read(os.path.join(ws.out, b_name))) == b, f"{b_name} Source")

        # Same URLs again: skipped, not one request, the same names.
        for lst, url, name in ((day2, b, b_name), (day1, a, "cat.png")):
            server.reset()
            rc, out, err = run(["--json", "-q", "-i", lst, "-o", ws.out])
            items, summary = items_of(out)
            check(rc == 0 and items[url]["status"] == "skipped" and
                  os.path.basename(items[url]["output"]) == name, f"rerun {url}: {items[url]}")
            check(server.stats()["requests"] == 0, f"rerun {url}: {server.stats()['requests']} requests")
        check(tree(ws.out) == sorted(["cat.png", b_name]), f"tree {tree(ws.out)}")

        # Both days' outputs byte-identical between the modes (Source included).
        seq = os.path.join(ws.tmp, "seq")
        rc, _, err = run(["-q", "--sequential", "-i", day2, "-o", seq])
        check(rc == 0 and read(os.path.join(seq, "cat.png")) == read(os.path.join(ws.out, b_name)),
              f"--sequential output differs: {rc} {err}")

        # Every level of c's name held by other URLs' outputs: c alone fails,
        # those files untouched, the others of the list go on.
        c = server.url("c/dog.jpg?file=" + PHOTOS[0])
        c_names = ["dog.png", "dog-%08x.png" % fnv1a32(c.encode()),
                   "dog-%016x.png" % fnv1a64(c.encode()),
                   "dog-%s.png" % hashlib.sha256(c.encode()).hexdigest()]
        held = tagged_png(server.url("someone/else.jpg"))
        for name in c_names:
            with open(os.path.join(ws.out, name), "wb") as f:
                f.write(held)
        server.reset()
        rc, out, err = run(["--json", "-q", "-i", ws.list_file([c, a], "day3.txt"), "-o", ws.out])
        items, summary = items_of(out)
        check(rc == 1 and items[c]["status"] == "failed" and items[a]["status"] == "skipped",
              f"all levels held: exit {rc}, {items[c]}")
        check("another URL's output" in items[c]["error"]["message"] and
              items[c]["error"]["kind"] == "write", f"{items[c]['error']}")
        check(all(read(os.path.join(ws.out, n)) == held for n in c_names), "a held file changed")
        check(server.stats()["requests"] == 0, f"requests {server.stats()['requests']}")

        # An output without Source (an older edgefetch's): kept, counted done.
        old = os.path.join(ws.tmp, "old")
        os.makedirs(old)
        untagged = b"\x89PNG\r\n\x1a\n" + _chunk(
            b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + _chunk(
            b"IDAT", zlib.compress(b"\0\0")) + _chunk(b"IEND", b"")
        with open(os.path.join(old, "cat.png"), "wb") as f:
            f.write(untagged)
        server.reset()
        rc, out, err = run(["--json", "-q", "-i", day2, "-o", old])
        items, _ = items_of(out)
        check(rc == 0 and items[b]["status"] == "skipped", f"untagged: {items[b]}")
        check(read(os.path.join(old, "cat.png")) == untagged and server.stats()["requests"] == 0,
              "an untagged output was replaced")


def _noise_png(width, height, seed):
    """A gray PNG of noise: its Sobel map does not compress, so writing it
    takes a while (the window the test stops the first run in)."""
    noise = random.Random(seed).randbytes(width * 64)
    packer = zlib.compressobj(1)
    rows = [packer.compress(b"\x00" + noise[(y % 64) * width:(y % 64 + 1) * width])
            for y in range(height)]
    rows.append(packer.flush())
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", b"".join(rows)) + _chunk(b"IEND", b""))


def _flock_held(pid, path):
    """True when process `pid` holds an flock on the file at `path`
    (/proc/locks: "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF")."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return False
    for line in lines:
        parts = line.split()
        if "FLOCK" not in parts or "->" in parts:
            continue
        i = parts.index("FLOCK")
        if parts[i + 3] == str(pid) and parts[i + 4].endswith(f":{inode}"):
            return True
    return False


def _stop_while_writing(args, out):
    """Starts edgefetch and stops it (SIGSTOP) while one of its temporary
    files exists; returns (process, temporary's name). The temporary exists
    only while the output is written and synced, so a few tries may be
    needed before the stop lands inside that window."""
    for _ in range(20):
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.Popen([EDGEFETCH] + args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        temp = None
        while proc.poll() is None and temp is None:
            try:
                temps = [n for n in os.listdir(out) if n.endswith(".tmp")]
            except FileNotFoundError:
                temps = []
            if temps:
                proc.send_signal(signal.SIGSTOP)
                # Stopped with the file locked, not in the instant between
                # its creation and its flock (a sweep may take it then, and
                # the writer starts over: that is not the case under test).
                if _flock_held(proc.pid, os.path.join(out, temps[0])):
                    temp = temps[0]
                else:
                    proc.send_signal(signal.SIGCONT)
        if temp is not None:
            return proc, temp
        proc.communicate(timeout=60)
    raise Failure("never caught the first run with a temporary file")


def test_overlapping_runs():
    """Run 1 is stopped while its temporary exists; run 2 starts into the
    same folder (a cron run that outlasts its interval): run 2's sweep leaves
    run 1's temporary alone but removes an abandoned one (created and left
    unlocked); run 1, continued, still renames its output and exits 0."""
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("big.png", _noise_png(3000, 2500, 7))
        url = server.url("big.png")
        lst = ws.list_file([url])
        first, temp = _stop_while_writing(["-q", "-w", "1", "-i", lst, "-o", ws.out], ws.out)
        try:
            abandoned = os.path.join(ws.out, ".big.png.Ab12Cd.tmp")
            with open(abandoned, "wb") as f:
                f.write(b"left by a run killed long ago")
            rc, out, err = run(["--json", "-q", "-w", "1", "-i", lst, "-o", ws.out])
            check(rc == 0, f"second run: exit {rc}: {err}")
            summary = json.loads(out.splitlines()[-1])
            check(os.path.exists(os.path.join(ws.out, temp)),
                  f"the second run removed the first run's temporary {temp}")
            check(not os.path.exists(abandoned) and summary["stale_temps_removed"] == 1,
                  f"the abandoned temporary was not swept: {summary['stale_temps_removed']}")
        finally:
            first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=120)
        check(first.returncode == 0, f"first run: exit {first.returncode}: {err.decode()}")
        check(tree(ws.out) == ["big.png"], f"tree {tree(ws.out)}")


def _strace_counts(args):
    """Runs edgefetch under strace -f; returns (exit code, fdatasync calls,
    fsync calls, renames, whether an fsync came after the last rename)."""
    log = os.path.join(os.path.dirname(args[args.index("-o") + 1]), "strace.log")
    # LeakSanitizer stops itself under a tracer (it needs ptrace of its own);
    # leaks are the other cases' business.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fdatasync,fsync,rename",
                           "-o", log, EDGEFETCH] + args, capture_output=True, timeout=300,
                          env=env)
    if proc.returncode != 0:
        print(proc.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    with open(log) as f:
        lines = f.read().splitlines()
    # "PID call(args) = 0", or "PID <... call resumed>...) = 0" when another
    # thread's call came in between: the calls that succeeded, in the order
    # they returned.
    done = (re.match(r"\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()", line)
            for line in lines if line.endswith("= 0"))
    calls = [m.group(1) or m.group(2) for m in done if m]
    last_rename = max((i for i, c in enumerate(calls) if c == "rename"), default=-1)
    synced_after = any(c == "fsync" for c in calls[last_rename + 1:])
    return (proc.returncode, calls.count("fdatasync"), calls.count("fsync"), calls.count("rename"),
            synced_after)


def test_fsync_batched():
    """Every output's data is synced before its rename (one fdatasync per
    output), the folder is synced in batches (at least once, at most once
    per 256 renames plus once a second plus the end), and --no-fsync syncs
    nothing."""
    if shutil.which("strace") is None:
        raise Failure("strace is missing (TEST_DEPS in the Makefile)")
    count = 600
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        tiny = _noise_png(16, 16, 3)
        ws.write("t.png", tiny)
        urls = [server.url(f"i/{i}.png?file=t.png") for i in range(count)]
        lst = ws.list_file(urls)
        start = time.monotonic()
        rc, datasyncs, syncs, renames, synced_after = _strace_counts(
            ["-q", "-i", lst, "-o", ws.out])
        seconds = time.monotonic() - start
        check(rc == 0 and len(tree(ws.out)) == count, f"exit {rc}, {len(tree(ws.out))} files")
        check(renames == count and datasyncs == count, f"{datasyncs} fdatasync for {renames} renames")
        check(1 <= syncs <= count // 256 + int(seconds) + 2, f"{syncs} folder syncs in {seconds:.1f} s")
        check(synced_after, "the folder was not synced after the last rename")
        out2 = os.path.join(ws.tmp, "nosync")
        rc, datasyncs, syncs, renames, _ = _strace_counts(
            ["-q", "--no-fsync", "-i", lst, "-o", out2])
        check(rc == 0 and renames == count and datasyncs == 0 and syncs == 0,
              f"--no-fsync: exit {rc}, {datasyncs} fdatasync, {syncs} fsync")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
