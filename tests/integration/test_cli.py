#!/usr/bin/env python3
"""The command line end to end: the built edgefetch binary against the
fixture server on 127.0.0.1 (modes, the download cap, bad items, usage errors,
list formats, URL arguments, --compare, back-pressure, connection reuse),
asserting on files, exit codes and the server's counters. The other
features have a file each (test_signals.py, test_names.py, test_limits.py,
test_retries.py, test_redirects.py, ...).

Run one case: test_cli.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, PHOTOS, SAMPLES, Fixture, Workspace, check, free_port, main_for,  # noqa: E402
                     read, run, tree)
from pngutil import png_size  # noqa: E402


# ---- the cases -------------------------------------------------------------

def test_modes_identical():
    """Sequential and concurrent produce the same files, byte for byte."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS])
        seq_dir, con_dir = os.path.join(ws.out, "s"), os.path.join(ws.out, "c")
        rc, _, err = run(["--sequential", "-i", urls, "-o", seq_dir])
        check(rc == 0, f"sequential exit {rc}: {err}")
        rc, _, err = run(["-i", urls, "-o", con_dir])
        check(rc == 0, f"concurrent exit {rc}: {err}")
        expected = sorted(n[:-4] + ".png" for n in PHOTOS)
        check(tree(seq_dir) == expected, f"sequential tree {tree(seq_dir)}")
        check(tree(con_dir) == expected, f"concurrent tree {tree(con_dir)}")
        for name in expected:
            a, b = read(os.path.join(seq_dir, name)), read(os.path.join(con_dir, name))
            check(a == b, f"{name} differs between modes")
            check(png_size(a) == (1620, 1080), f"{name}: size {png_size(a)}")
        # Outputs get what open(O_CREAT, 0666) would, under the caller's
        # umask, in both modes (workers never touch the process's umask).
        mask = os.umask(0)
        os.umask(mask)
        for d in (seq_dir, con_dir):
            for name in expected:
                mode = os.stat(os.path.join(d, name)).st_mode & 0o777
                check(mode == 0o666 & ~mask, f"{d}/{name}: mode {mode:o}, umask {mask:o}")
        check("images ok" in err and "wall time" in err, "no timing report on stderr")


def _max_inflight(cap, count):
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="300") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS[:count]])
        args = ["-i", urls, "-o", ws.out]
        if cap is not None:
            # One host: its per-host cap (4 by default) would hide -j.
            args += ["-j", str(cap), "--max-per-host", str(cap)]
        rc, _, err = run(args)
        check(rc == 0, f"exit {rc}: {err}")
        stats = server.stats()
        return stats["max_inflight"], stats["requests"]


def test_download_cap():
    """The semaphore is never exceeded and is reached: max in flight == N.
    At the defaults a one-host list gets its per-host cap, 4."""
    for cap, count in ((1, 4), (3, 12), (None, 12), (6, 12)):
        seen, requests = _max_inflight(cap, count)
        want = 4 if cap is None else cap
        check(requests == count, f"-j {cap}: {requests} requests for {count} URLs")
        check(seen == want, f"-j {cap}: server saw {seen} requests in flight, want exactly {want}")


def test_bad_items():
    """Bad items fail one by one with a reason; the good ones are produced."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("notes.jpg", b"<!DOCTYPE html><html><body>not a photo</body></html>\n")
        ws.write("empty.png", b"")
        ws.write("truncated.jpg", read(os.path.join(SAMPLES, PHOTOS[0]))[:5000])
        dead = free_port()
        bad = {
            "missing": server.url("missing.jpg"),
            "server error": server.url("err.jpg?status=500"),
            "html": server.url("notes.jpg"),
            "empty": server.url("empty.png"),
            "truncated": server.url("truncated.jpg"),
            "refused": f"http://127.0.0.1:{dead}/a.jpg",
            "file scheme": "file:///etc/passwd",
            "ftp scheme": "ftp://127.0.0.1/a.jpg",
            "garbage": "http//nonsense",
        }
        good = [server.url(n) for n in PHOTOS[:3]]
        urls = ws.list_file(good[:1] + list(bad.values()) + good[1:])
        rc, _, err = run(["-i", urls, "-o", ws.out, "--retry-delay", "0.1"])
        check(rc == 1, f"exit {rc}, want 1: {err}")
        check(tree(ws.out) == sorted(n[:-4] + ".png" for n in PHOTOS[:3]),
              f"output tree {tree(ws.out)} (temporary or partial files left?)")
        failed_lines = [line for line in err.splitlines() if "FAILED" in line]
        check(len(failed_lines) == len(bad), f"{len(failed_lines)} FAILED lines for {len(bad)}:\n{err}")
        expect = {
            "missing": "404", "server error": "500", "html": "DOCTYPE", "empty": "empty",
            "truncated": "", "refused": "onnect", "file scheme": "scheme",
            "ftp scheme": "scheme", "garbage": "",
        }
        for kind, url in bad.items():
            lines = [line for line in failed_lines if url in line]
            check(len(lines) == 1, f"{kind}: want one line naming {url}:\n{err}")
            check(expect[kind] in lines[0], f"{kind}: reason lacks '{expect[kind]}': {lines[0]}")
        # Refused schemes never reached the server; the others did once each,
        # but for the 500, tried 1 + 2 retries times.
        per_path = server.stats()["per_path"]
        check(per_path.get("/err.jpg") == 3, f"500 requests: {per_path}")
        check(sum(per_path.values()) == 3 + 5 + 2, f"server requests {per_path}")
        # List line numbers: the 404 was on line 2.
        check(any("line 2:" in line and "missing.jpg" in line for line in failed_lines),
              "error does not carry the list's line number")


def test_usage_errors():
    rc, out, err = run(["--no-such-flag"])
    check(rc == 2, f"unknown flag: exit {rc}")
    check("--no-such-flag" in err and "--help" in err, f"unknown flag message: {err}")
    rc, _, err = run([])
    check(rc == 2 and "no URLs" in err, f"no URLs: exit {rc}: {err}")
    rc, _, err = run(["-j", "0", "http://127.0.0.1/a.jpg"])
    check(rc == 2, f"-j 0: exit {rc}")
    rc, _, err = run(["--operator", "nope", "http://127.0.0.1/a.jpg"])
    check(rc == 2 and "nope" in err, f"bad operator: exit {rc}: {err}")
    rc, _, err = run(["-i", "/nonexistent/list.txt"])
    check(rc == 2 and "/nonexistent/list.txt" in err, f"missing list: exit {rc}: {err}")
    rc, out, _ = run(["--help"])
    check(rc == 0 and "--sequential" in out and "Exit status" in out, "--help")
    rc, out, _ = run(["--version"])
    check(rc == 0 and "libcurl" in out and "libuv" in out and "libpng" in out, f"--version: {out}")


def test_stdin_and_list_format():
    """'-i -', a BOM, CRLF, comments, blanks and padding are all tolerated."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        text = ("\ufeff# photos\r\n\r\n  " + server.url(PHOTOS[0]) + "  \r\n"
                "\t# " + server.url(PHOTOS[1]) + "\r\n"
                + server.url(PHOTOS[2]) + "\r\n")
        rc, _, err = run(["-i", "-", "-o", ws.out], stdin=text.encode("utf-8"))
        check(rc == 0, f"exit {rc}: {err}")
        check(tree(ws.out) == sorted(n[:-4] + ".png" for n in (PHOTOS[0], PHOTOS[2])),
              f"tree {tree(ws.out)}")
        check(server.stats()["requests"] == 2, "a commented URL was fetched")


def test_url_arguments():
    with Workspace(PHOTOS[:2]) as ws, Fixture(FIXTURE, ws.www) as server:
        rc, _, err = run(["-o", ws.out, server.url(PHOTOS[0]), server.url(PHOTOS[1])])
        check(rc == 0, f"exit {rc}: {err}")
        check(len(tree(ws.out)) == 2, f"tree {tree(ws.out)}")


def test_compare():
    with Workspace(PHOTOS[:4]) as ws, Fixture(FIXTURE, ws.www, latency="50") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS[:4]])
        rc, _, err = run(["--compare", "-i", urls, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        names = sorted(n[:-4] + ".png" for n in PHOTOS[:4])
        check(tree(ws.out) == sorted(["concurrent/" + n for n in names] +
                                     ["sequential/" + n for n in names]), f"tree {tree(ws.out)}")
        check("sequential" in err and "concurrent" in err and "speedup" in err, err)
        check("byte-identical: 4 of 4" in err, f"comparison line missing: {err}")
        check(server.stats()["requests"] == 8, "each mode must fetch every URL")


def test_back_pressure():
    """Slow workers make downloads wait: items held stay within -j + 3*-w."""
    import re
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www) as server:
        photo = read(os.path.join(SAMPLES, PHOTOS[0]))
        names = [f"p{i:02d}.jpg" for i in range(24)]
        for name in names:
            ws.write(name, photo)
        urls = ws.list_file([server.url(n) for n in names])
        # Downloads are instant on loopback; one worker at level 9 is slow.
        rc, _, err = run(["-i", urls, "-o", ws.out, "-j", "4", "-w", "1", "--png-level", "6"])
        check(rc == 0, f"exit {rc}: {err}")
        m = re.search(r"peak images held / limit\s+(\d+) / (\d+)", err)
        check(m is not None, f"no peak line: {err}")
        peak, limit = int(m.group(1)), int(m.group(2))
        check(limit == 4 + 3 * 1, f"limit {limit}")
        check(peak <= limit, f"held {peak} items, over the limit {limit}")
        check(len(tree(ws.out)) == 24, "not every item produced")


def test_connection_reuse():
    """Keep-alive: one connection for a whole sequential run, at most -j concurrently."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS])
        rc, _, err = run(["--sequential", "-i", urls, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        stats = server.stats()
        check(stats["connections"] == 1, f"sequential opened {stats['connections']} connections")
        server.reset()
        shutil.rmtree(ws.out)
        rc, _, err = run(["-i", urls, "-o", ws.out, "-j", "3"])
        check(rc == 0, f"exit {rc}: {err}")
        conns = server.stats()["connections"]
        check(1 <= conns <= 3, f"concurrent -j 3 opened {conns} connections")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
