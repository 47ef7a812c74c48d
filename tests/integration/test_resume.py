#!/usr/bin/env python3
"""Resume: existing outputs kept and reported skipped (--force redoes them), a
name holding another URL's output is not taken (the Source in each PNG), a run
killed or interrupted and run again.

Run one case: test_resume.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import hashlib
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Fixture, Workspace, check, fnv1a32, fnv1a64,  # noqa: E402
                     items_of, main_for, read, run, run_timed, tree, validate_run)
from pngutil import _chunk, png_source, tagged_png  # noqa: E402


def test_resume():
    """A rerun skips what exists (no request at all), --force redoes it."""
    with Workspace(PHOTOS[:4]) as ws, Fixture(FIXTURE, ws.www) as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS[:4]])
        rc, out, err = run(["--json", "-i", lst, "-o", ws.out])
        check(rc == 0, f"first run: {rc} {err}")
        first = {n: read(os.path.join(ws.out, n)) for n in tree(ws.out)}
        mtimes = {n: os.stat(os.path.join(ws.out, n)).st_mtime_ns for n in first}
        server.reset()
        rc, out, err = run(["--json", "-i", lst, "-o", ws.out])
        check(rc == 0, f"rerun: exit {rc}: {err}")
        items, summary = validate_run(out)
        check(all(i["status"] == "skipped" for i in items) and summary["skipped"] == 4 and
              summary["failed"] == 0, f"rerun: {items} {summary}")
        check(server.stats()["requests"] == 0, f"rerun made {server.stats()['requests']} requests")
        check({n: os.stat(os.path.join(ws.out, n)).st_mtime_ns for n in first} == mtimes,
              "rerun rewrote outputs")
        rc, out, err = run(["--json", "--force", "-i", lst, "-o", ws.out])
        items, summary = validate_run(out)
        check(rc == 0 and summary["ok"] == 4 and summary["skipped"] == 0, f"--force: {summary}")
        check(server.stats()["requests"] == 4, "--force did not refetch")
        check({n: read(os.path.join(ws.out, n)) for n in tree(ws.out)} == first, "--force output")
        # A failed item does not spoil the skips: exit 1 for it alone.
        lst = ws.list_file([server.url(n) for n in PHOTOS[:4]] + [server.url("gone.jpg")])
        rc, out, err = run(["--json", "-i", lst, "-o", ws.out])
        items, summary = validate_run(out)
        check(rc == 1 and summary["skipped"] == 4 and summary["failed"] == 1, f"{rc} {summary}")


def test_resume_not_fooled():
    """Resume skips only a finished output: an empty file under the output's
    name is not one, so that item is fetched and the empty file replaced by
    the real output; a non-empty one is skipped."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS[:3]])
        os.makedirs(ws.out)
        empty = PHOTOS[0][:-4] + ".png"
        open(os.path.join(ws.out, empty), "wb").close()
        done = PHOTOS[1][:-4] + ".png"
        with open(os.path.join(ws.out, done), "wb") as f:
            f.write(b"finished earlier")
        rc, out, err = run(["--json", "-i", lst, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        items, summary = validate_run(out)
        by_url = {i["url"]: i for i in items}
        check(by_url[server.url(PHOTOS[0])]["status"] == "ok",
              f"an empty {empty} was taken for a finished output: {by_url[server.url(PHOTOS[0])]}")
        check(by_url[server.url(PHOTOS[1])]["status"] == "skipped", f"{done} was not skipped")
        check(summary["ok"] == 2 and summary["skipped"] == 1, f"summary {summary}")
        data = read(os.path.join(ws.out, empty))
        check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{empty} is still not a PNG ({len(data)} bytes)")
        check(sorted(server.stats()["per_path"]) == sorted("/" + n for n in (PHOTOS[0], PHOTOS[2])),
              f"requests {server.stats()['per_path']}")


def _interrupted(ws, server, lst, reference, how):
    out = os.path.join(ws.tmp, "out-" + how)
    proc = subprocess.Popen([EDGEFETCH, "-q", "-i", lst, "-o", out, "-j", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
    proc.communicate(timeout=30)
    check(proc.returncode == (130 if how == "sigint" else -9), f"{how}: exit {proc.returncode}")
    done = [n for n in tree(out) if not n.startswith(".")]
    check(0 < len(done) < len(PHOTOS), f"{how}: interrupted run produced {done}")
    if how == "kill":
        # What kill -9 between write and rename leaves: a temp file of ours.
        missing = sorted(set(tree(reference)) - set(done))[0]
        with open(os.path.join(out, "." + missing + ".Ab12Cd.tmp"), "wb") as f:
            f.write(read(os.path.join(reference, missing))[:1000])
    server.reset()
    rc, _, err = run(["-i", lst, "-o", out, "-j", "2"])
    check(rc == 0, f"{how}: rerun exit {rc}: {err}")
    check(tree(out) == tree(reference), f"{how}: tree {tree(out)} != {tree(reference)}")
    for name in tree(reference):
        check(read(os.path.join(out, name)) == read(os.path.join(reference, name)),
              f"{how}: {name} differs from the uninterrupted run")
    per_path = server.stats()["per_path"]
    check(len(per_path) == len(PHOTOS) - len(done) and all(c == 1 for c in per_path.values()),
          f"{how}: rerun fetched {per_path}, finished ones were {done}")


def test_interrupted_rerun():
    """SIGINT or kill -9 mid-run, then a rerun: exactly the uninterrupted tree,
    byte for byte, no temporary file left, finished items not fetched again."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="400") as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS])
        reference = os.path.join(ws.tmp, "reference")
        rc, _, err = run(["-q", "-i", lst, "-o", reference, "-j", "12"])
        check(rc == 0, f"reference: {rc} {err}")
        _interrupted(ws, server, lst, reference, "sigint")
        _interrupted(ws, server, lst, reference, "kill")
        # Temp files that are not of this run's items are left alone (another
        # shard may be writing them right now).
        out = os.path.join(ws.tmp, "out-kill")
        foreign = os.path.join(out, ".not-in-list.png.Zz9Yy8.tmp")
        open(foreign, "wb").close()
        rc, _, err = run(["-q", "-i", lst, "-o", out])
        check(rc == 0 and os.path.exists(foreign), f"foreign temp file removed ({rc} {err})")


def test_existing_output_kept():
    """An existing output is not overwritten unless --force."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("p.jpg")
        os.makedirs(ws.out)
        with open(os.path.join(ws.out, "p.png"), "wb") as f:
            f.write(b"mine, not edgefetch's")
        rc, _, err, _ = run_timed(["-o", ws.out, server.url("p.jpg")])
        check(rc == 0, f"exit {rc}: {err}")
        check(read(os.path.join(ws.out, "p.png")) == b"mine, not edgefetch's", "overwritten without --force")
        rc, _, err, _ = run_timed(["-o", ws.out, "--force", server.url("p.jpg")])
        check(rc == 0, f"--force: exit {rc}: {err}")
        ws.check_tree(["p.png"])


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


if __name__ == "__main__":
    sys.exit(main_for(globals()))
