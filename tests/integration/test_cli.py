#!/usr/bin/env python3
"""Integration tests: the built edgefetch binary against the fixture server
on 127.0.0.1, asserting on files, exit codes and the server's counters.

Run one case: test_cli.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixture"))
from fixture_server import FixtureServer  # noqa: E402
from pngutil import png_size, read_gray_png, write_png  # noqa: E402

EDGEFETCH = os.environ.get("EDGEFETCH", "")
FIXTURE = os.environ.get("FIXTURE", "")
SAMPLES = os.environ.get("SAMPLES", "")
PHOTOS = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".jpg")) if SAMPLES else []


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def run(args, stdin=None, timeout=120):
    proc = subprocess.run([EDGEFETCH] + args, input=stdin, capture_output=True, timeout=timeout)
    err = proc.stderr.decode(errors="replace")
    # Whatever else a case checks: every run closes its event loop cleanly
    # (pl_run reports a handle left open as an internal error, exit 2).
    check("event loop not closed cleanly" not in err, f"{' '.join(args)}: {err}")
    return proc.returncode, proc.stdout.decode(errors="replace"), err


def tree(path):
    """Every file below `path`, relative, sorted (hidden ones included)."""
    found = []
    for dirpath, _, files in os.walk(path):
        for name in files:
            found.append(os.path.relpath(os.path.join(dirpath, name), path))
    return sorted(found)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workspace:
    """A served folder with some photos and a scratch output folder."""

    def __init__(self, photos=PHOTOS):
        self.tmp = tempfile.mkdtemp(prefix="edgefetch-it-")
        self.www = os.path.join(self.tmp, "www")
        self.out = os.path.join(self.tmp, "out")
        os.makedirs(self.www)
        for name in photos:
            shutil.copy(os.path.join(SAMPLES, name), self.www)

    def write(self, name, data):
        path = os.path.join(self.www, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def list_file(self, lines, name="urls.txt", raw=None):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(raw if raw is not None else ("\n".join(lines) + "\n").encode())
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- reference operators (the same definitions as imaging.h) -------------

def luma(r, g, b):
    return (9798 * r + 19235 * g + 3735 * b + 16384) >> 15


def reflect101(i, n):
    if n == 1:
        return 0
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


def sobel_ref(gray, w, h):
    out = []
    for y in range(h):
        row = bytearray(w)
        for x in range(w):
            def p(dx, dy):
                return gray[reflect101(y + dy, h)][reflect101(x + dx, w)]
            gx = (p(1, -1) + 2 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2 * p(-1, 0) + p(-1, 1))
            gy = (p(-1, 1) + 2 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2 * p(0, -1) + p(1, -1))
            row[x] = min(255, int(math.floor(math.sqrt(gx * gx + gy * gy) + 0.5)))
        out.append(bytes(row))
    return out


def tutorial_ref(rgb, w, h):
    out = []
    for y in range(h):
        row = bytearray(w)
        for x in range(w):
            diffs = []
            for nx, ny in ((x + 1, y), (x, y + 1)):
                if nx < w and ny < h:
                    diffs.append(sum(abs(rgb[y][3 * x + c] - rgb[ny][3 * nx + c]) for c in range(3)))
            row[x] = 255 if diffs and sum(diffs) // len(diffs) > 30 else 0
        out.append(bytes(row))
    return out


# ---- the cases -------------------------------------------------------------

def test_modes_identical():
    """Sequential and concurrent produce the same files, byte for byte."""
    with Workspace() as ws, FixtureServer(FIXTURE, ws.www) as server:
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
    with Workspace() as ws, FixtureServer(FIXTURE, ws.www, latency="300") as server:
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
    with Workspace(PHOTOS[:3]) as ws, FixtureServer(FIXTURE, ws.www) as server:
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


def test_output_dir_not_writable():
    """An output path that cannot be a folder stops the run before any download."""
    with Workspace(PHOTOS[:1]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        blocker = os.path.join(ws.tmp, "file")
        with open(blocker, "w") as f:
            f.write("x")
        rc, _, err = run(["-o", blocker, server.url(PHOTOS[0])])
        check(rc == 2, f"exit {rc}: {err}")
        check(server.stats()["requests"] == 0, "downloaded although the output is unusable")


def test_stdin_and_list_format():
    """'-i -', a BOM, CRLF, comments, blanks and padding are all tolerated."""
    with Workspace(PHOTOS[:3]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        text = ("\ufeff# photos\r\n\r\n  " + server.url(PHOTOS[0]) + "  \r\n"
                "\t# " + server.url(PHOTOS[1]) + "\r\n"
                + server.url(PHOTOS[2]) + "\r\n")
        rc, _, err = run(["-i", "-", "-o", ws.out], stdin=text.encode("utf-8"))
        check(rc == 0, f"exit {rc}: {err}")
        check(tree(ws.out) == sorted(n[:-4] + ".png" for n in (PHOTOS[0], PHOTOS[2])),
              f"tree {tree(ws.out)}")
        check(server.stats()["requests"] == 2, "a commented URL was fetched")


def test_url_arguments():
    with Workspace(PHOTOS[:2]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        rc, _, err = run(["-o", ws.out, server.url(PHOTOS[0]), server.url(PHOTOS[1])])
        check(rc == 0, f"exit {rc}: {err}")
        check(len(tree(ws.out)) == 2, f"tree {tree(ws.out)}")


def test_compare():
    with Workspace(PHOTOS[:4]) as ws, FixtureServer(FIXTURE, ws.www, latency="50") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS[:4]])
        rc, _, err = run(["--compare", "-i", urls, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        names = sorted(n[:-4] + ".png" for n in PHOTOS[:4])
        check(tree(ws.out) == sorted(["concurrent/" + n for n in names] +
                                     ["sequential/" + n for n in names]), f"tree {tree(ws.out)}")
        check("sequential" in err and "concurrent" in err and "speedup" in err, err)
        check("byte-identical: 4 of 4" in err, f"comparison line missing: {err}")
        check(server.stats()["requests"] == 8, "each mode must fetch every URL")


def test_duplicates_and_collisions():
    """The same URL twice is fetched once; same basenames get distinct names."""
    with Workspace([]) as ws, FixtureServer(FIXTURE, ws.www) as server:
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


def test_hostile_names():
    """Whatever the URL's path says, outputs land inside the output folder."""
    with Workspace([]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        ws.write("p.jpg", read(os.path.join(SAMPLES, PHOTOS[0])))
        base = server.url("p.jpg")
        urls = [base + "?x=../../evil", server.url("%2e%2e%2fp.jpg"), server.url(".") ]
        lst = ws.list_file(urls)
        rc, _, err = run(["-i", lst, "-o", ws.out])
        outside = [n for n in os.listdir(ws.tmp) if n not in ("www", "out", "urls.txt")]
        check(outside == [], f"files outside the output folder: {outside}")
        for name in tree(ws.out):
            check("/" not in name and not name.startswith("."), f"unsafe name {name!r}")


def test_limits():
    """--max-pixels (before decoding) and --max-size fail items with a reason."""
    with Workspace(PHOTOS[:2]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS[:2]])
        rc, _, err = run(["-i", urls, "-o", ws.out, "--max-pixels", "1000000"])
        check(rc == 1 and err.count("FAILED") == 2 and "limit" in err, f"max-pixels: {rc} {err}")
        check(tree(ws.out) == [], f"tree {tree(ws.out)}")
        rc, _, err = run(["-i", urls, "-o", ws.out, "--max-size", "10k"])
        check(rc == 1 and err.count("FAILED") == 2 and "limit" in err, f"max-size: {rc} {err}")
        check(tree(ws.out) == [], f"tree {tree(ws.out)}")


def test_timeout():
    with Workspace(PHOTOS[:1]) as ws, FixtureServer(FIXTURE, ws.www, latency="3000") as server:
        rc, _, err = run(["-o", ws.out, "--timeout", "0.5", server.url(PHOTOS[0])])
        check(rc == 1 and "FAILED" in err and "imed out" in err, f"timeout: {rc} {err}")


def _serve_and_fetch(ws, server, name, data, operator):
    ws.write(name, data)
    rc, _, err = run(["-o", ws.out, "--operator", operator, server.url(name)])
    check(rc == 0, f"{operator}: exit {rc}: {err}")
    return read_gray_png(read(os.path.join(ws.out, name[:-4] + ".png")))


def test_operators_end_to_end():
    """Served PNGs come back as the reference operators' output, pixel for pixel."""
    rng = random.Random(1234)
    with Workspace([]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        for w, h in ((1, 1), (5, 1), (1, 6), (7, 5), (23, 17)):
            rgb = [bytes(rng.choice((0, 10, 60, 200, 255)) for _ in range(3 * w)) for _ in range(h)]
            gray = [bytes(luma(*r[3 * x:3 * x + 3]) for x in range(w)) for r in rgb]
            png = write_png(w, h, rgb, channels=3)
            ow, oh, rows = _serve_and_fetch(ws, server, f"s{w}x{h}.png", png, "sobel")
            check((ow, oh) == (w, h), f"sobel size {(ow, oh)}")
            check(rows == sobel_ref(gray, w, h), f"sobel {w}x{h} differs from the reference")
            ow, oh, rows = _serve_and_fetch(ws, server, f"t{w}x{h}.png", png, "tutorial")
            check(rows == tutorial_ref(rgb, w, h), f"tutorial {w}x{h} differs from the reference")


def test_back_pressure():
    """Slow workers make downloads wait: items held stay within -j + 3*-w."""
    import re
    with Workspace([]) as ws, FixtureServer(FIXTURE, ws.www) as server:
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
    with Workspace() as ws, FixtureServer(FIXTURE, ws.www) as server:
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


def test_retries():
    """5xx is retried --retries times with backoff, 404 never; others go on meanwhile."""
    with Workspace(PHOTOS[:2]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        urls = ws.list_file([server.url("busy.jpg?status=503"), server.url("gone.jpg"),
                             server.url(PHOTOS[0]), server.url("oops.jpg?status=500"),
                             server.url(PHOTOS[1])])
        rc, _, err = run(["-i", urls, "-o", ws.out, "--retries", "2", "--retry-delay", "0.1"])
        check(rc == 1, f"exit {rc}: {err}")
        per_path = server.stats()["per_path"]
        check(per_path.get("/busy.jpg") == 3, f"503: {per_path.get('/busy.jpg')} requests, want 3")
        check(per_path.get("/oops.jpg") == 3, f"500: {per_path.get('/oops.jpg')} requests, want 3")
        check(per_path.get("/gone.jpg") == 1, f"404 retried: {per_path.get('/gone.jpg')}")
        check("after 3 attempts" in err, f"no attempt count in: {err}")
        check(len(tree(ws.out)) == 2, f"tree {tree(ws.out)}")
        server.reset()
        rc, _, err = run(["-o", ws.out, "--retries", "0", server.url("busy.jpg?status=503")])
        check(rc == 1 and server.stats()["per_path"].get("/busy.jpg") == 1,
              f"--retries 0: {server.stats()['per_path']}")


def test_redirects():
    """Redirects are followed, to http(s) only, and no more than --max-redirs."""
    with Workspace(PHOTOS[:1]) as ws, FixtureServer(FIXTURE, ws.www) as server:
        target = "/" + PHOTOS[0]
        hop = server.url("hop.jpg?redirect=" + target)
        rc, _, err = run(["-o", ws.out, hop])
        check(rc == 0, f"one redirect: exit {rc}: {err}")
        check(tree(ws.out) == ["hop.png"], f"tree {tree(ws.out)}")
        # Two hops against a limit of one.
        two = server.url("two.jpg?redirect=" + "/hop.jpg%3Fredirect%3D" + target)
        rc, _, err = run(["-o", ws.out, "--max-redirs", "1", two])
        check(rc == 1 and "FAILED" in err and "edirect" in err, f"limit: exit {rc}: {err}")
        # Off http(s): never followed, whatever the scheme.
        for scheme_url in ("file:///etc/passwd", "ftp://127.0.0.1/a.jpg", "dict://127.0.0.1/x"):
            bad = server.url("bad.jpg?redirect=" + scheme_url.replace(":", "%3A"))
            rc, _, err = run(["-o", ws.out, bad])
            check(rc == 1 and "refused redirect" in err, f"redirect to {scheme_url}: exit {rc}: {err}")
        check(sorted(tree(ws.out)) == ["hop.png"], f"tree {tree(ws.out)}")


def test_signals():
    """SIGINT/SIGTERM mid-run: exit 130/143, finished outputs kept and whole,
    no temporary files left, the rest cancelled."""
    import signal
    import time
    with Workspace() as ws, FixtureServer(FIXTURE, ws.www, latency="400") as server:
        urls = ws.list_file([server.url(n) for n in PHOTOS])
        reference = os.path.join(ws.tmp, "reference")
        rc, _, err = run(["-i", urls, "-o", reference, "-j", "12"])
        check(rc == 0, f"reference run: {rc} {err}")
        for sig, want in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            out = os.path.join(ws.tmp, f"out-{want}")
            proc = subprocess.Popen([EDGEFETCH, "-i", urls, "-o", out, "-j", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Two slots, 400 ms each: after ~1 s some items are done and most are not.
            time.sleep(1.0)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
            err = err.decode(errors="replace")
            check(proc.returncode == want, f"{sig.name}: exit {proc.returncode}, want {want}: {err}")
            check("cancelled" in err, f"{sig.name}: no word of cancelled items: {err}")
            produced = tree(out)
            check(0 < len(produced) < len(PHOTOS), f"{sig.name}: produced {produced}")
            for name in produced:
                check(not name.startswith(".") and name.endswith(".png"), f"left {name}")
                check(read(os.path.join(out, name)) == read(os.path.join(reference, name)),
                      f"{sig.name}: {name} is not the complete output")


class Skip(Exception):
    """A case that cannot run on this machine: exit 77, meson's SKIP."""


def env_for_rss():
    """The environment for a run whose peak RSS is measured: ASan's
    quarantine holds freed memory back (up to 256 MiB) and would grow with
    the work done whatever edgefetch keeps, so it is off (the release build
    ignores it), as in test_load.py."""
    env = dict(os.environ)
    quarantine_off = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), quarantine_off]))
    return env


def in_netns(script, case, tools=("unshare", "ip"), probe=("true",), unshare=("-n",)):
    """Runs `case` of `script` again inside a new network namespace with only
    loopback up, so no packet can leave the machine: returns False in the
    parent (after checking the child's result) and True in the namespace,
    where the case goes on. Skips without the tools or the right to unshare."""
    if os.environ.get("EDGEFETCH_IN_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        check(all(name == "lo" for _, name in socket.if_nameindex()),
              f"namespace has other interfaces: {socket.if_nameindex()}")
        return True
    for tool in tools:
        if shutil.which(tool) is None:
            raise Skip(f"needs {' and '.join(tools)}")
    trial = subprocess.run(["unshare", *unshare, *probe], capture_output=True)
    if trial.returncode != 0:
        raise Skip(f"cannot create a network namespace: {trial.stderr.decode().strip()}")
    env = dict(os.environ, EDGEFETCH_IN_NETNS="1")
    proc = subprocess.run(["unshare", *unshare, sys.executable, os.path.abspath(script), case],
                          env=env, capture_output=True, timeout=300)
    sys.stdout.write(proc.stdout.decode(errors="replace"))
    if proc.returncode != 0:
        raise Failure(f"in the namespace: exit {proc.returncode}\n"
                      + proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace"))
    return False


def main_for(namespace, required=("EDGEFETCH", "FIXTURE", "SAMPLES")):
    """Runs the case named on the command line among the test_* functions
    of `namespace` (a module's globals()): exit 0 ok, 1 failed, 2 usage,
    77 skipped with its reason."""
    cases = {name[5:]: fn for name, fn in namespace.items() if name.startswith("test_")}
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        print(f"usage: {sys.argv[0]} CASE\ncases: {' '.join(cases)}", file=sys.stderr)
        return 2
    for var in required:
        if not os.environ.get(var):
            print(f"{var} is not set", file=sys.stderr)
            return 2
    try:
        cases[sys.argv[1]]()
    except Skip as e:
        print(f"SKIP {sys.argv[1]}: {e}")
        return 77
    except Failure as e:
        print(f"FAIL {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    print(f"ok {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main_for(globals()))
