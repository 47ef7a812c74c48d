#!/usr/bin/env python3
"""Output names (issue 10, items 5-8), on real runs (resume: test_resume.py):

  names_never_refuse   a clash of names (the crafted three, a real FNV-1a-32
                       collision) never refuses the run; names follow the set
  overlapping_runs     a second run into the same folder leaves the first's
                       temporary alone and still sweeps an abandoned one
  fsync_batched        every output is synced before its rename, the folder
                       once per batch and at the end (strace counts)
  names_in_paths,      hostile names ("../../x", "%2e%2e%2f", NUL, escapes,
  hostile_names        300 bytes, no path): every output lands inside -o
  duplicates_and_collisions  two URLs, one name: names move up a level

Run one case: test_names.py NAME. Same environment as test_cli.py.
"""
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
from harness import (EDGEFETCH, FAST_RETRY, FIXTURE, PHOTOS, SAMPLES, Failure, Fixture,  # noqa: E402
                     Workspace, check, failed_lines, fnv1a32, items_of, main_for, read, run,
                     run_timed, tree)
from pngutil import _chunk, png_source  # noqa: E402


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


# ---- names in paths and collisions ---------------------------------------------------

def test_duplicates_and_collisions():
    """The same URL twice is fetched once; same basenames get distinct names."""
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        photo = read(os.path.join(SAMPLES, PHOTOS[0]))
        ws.write("a/cat.jpg", photo)
        ws.write("b/cat.jpg", photo)
        urls = [server.url("a/cat.jpg"), server.url("b/cat.jpg"), server.url("a/cat.jpg")]
        lst = ws.list_file(urls)
        rc, _, err = run(["-i", lst, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        first = tree(ws.out)
        check(len(first) == 2 and all(n.startswith("cat-") for n in first), f"names {first}")
        check(server.stats()["per_path"].get("/a/cat.jpg") == 1, "duplicate fetched twice")
        # Deterministic: a second run (other order) gives the same names.
        shutil.rmtree(ws.out)
        lst = ws.list_file(list(reversed(urls)))
        rc, _, err = run(["--sequential", "-i", lst, "-o", ws.out])
        check(rc == 0 and tree(ws.out) == first, f"names changed: {tree(ws.out)} vs {first}")


def test_names_in_paths():
    """Whatever the URL's path says, outputs land inside the output folder."""
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("p.jpg", read(os.path.join(SAMPLES, PHOTOS[0])))
        base = server.url("p.jpg")
        # The fixture refuses the first two tricks itself (400, 404); the
        # others it serves (file=), so their names are edgefetch's to make.
        urls = [base + "?x=../../evil", server.url("%2e%2e%2fp.jpg"), server.url("."),
                server.url("q/%2e%2e%2f%2e%2e%2fevil.jpg?file=p.jpg"),
                server.url("q/..%5c..%5cwin.jpg?file=p.jpg"),
                server.url("q/.hidden.jpg?file=p.jpg"), server.url("q/a%00b.jpg?file=p.jpg")]
        lst = ws.list_file(urls)
        rc, _, err = run(["-i", lst, "-o", ws.out])
        outside = [n for n in os.listdir(ws.tmp) if n not in ("www", "out", "urls.txt")]
        check(outside == [], f"files outside the output folder: {outside}")
        for name in tree(ws.out):
            check("/" not in name and not name.startswith("."), f"unsafe name {name!r}")
        check(rc == 1 and len(failed_lines(err)) == 2, f"exit {rc}, want 1 (two refused): {err}")
        want = ["_.._evil.png", "_.._win.png", "a_b.png", "hidden.png", "p.png"]
        check(tree(ws.out) == want, f"outputs {tree(ws.out)}, want {want}: {err}")


# ---- hostile names -------------------------------------------------------------------

def _check_safe_name(name):
    check("/" not in name and "\\" not in name and not name.startswith("."), f"unsafe name {name!r}")
    check(all(c.isascii() and (c.isalnum() or c in "._-") for c in name), f"unsafe name {name!r}")
    check(name.endswith(".png") and len(name.encode()) <= 255, f"bad name {name!r}")


def test_hostile_names():
    """Whatever a URL's path says, outputs land inside the output folder with
    safe, distinct, order-independent names (the whole tree is listed)."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        base = f"http://127.0.0.1:{server.port}"
        q = "?file=p.jpg"
        urls = [
            base + "/a/../../x.jpg" + q,
            base + "/%2e%2e%2f%2e%2e%2fevil.jpg" + q,
            base + "/..%5c..%5cwin.jpg" + q,
            base + "/a%00b.jpg" + q,
            base + "/%0d%0aSet-Cookie:%20x.jpg" + q,
            base + "/%1b%5b2J%1b%5d0%3bt%07.jpg" + q,
            base + "/" + "n" * 300 + ".jpg" + q,
            base + "/%2e%2e" + q,
            base + "/.hidden.jpg" + q,
            base + q,
            base + "/?id=3&file=p.jpg",
            base + "/" + q,
            base + "/caf%C3%A9.jpg" + q,
            base + "/dir/" + q,
        ]
        # The output folder is deep inside the workspace, so a name that
        # escaped it (../../x) would show up in the tree.
        ws.out = os.path.join(ws.tmp, "a", "b", "out")
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 0, f"exit {rc}: {err}")
        first = tree(ws.out)
        check(len(first) == len(urls), f"{len(first)} outputs for {len(urls)} URLs: {first}")
        for name in first:
            _check_safe_name(name)
        ws.check_tree(first)
        # Same set, other order: the same names.
        shutil.rmtree(ws.out)
        lst = ws.list_file(list(reversed(urls)))
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--sequential"] + FAST_RETRY)
        check(rc == 0 and tree(ws.out) == first, f"names depend on order: {tree(ws.out)} vs {first}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
