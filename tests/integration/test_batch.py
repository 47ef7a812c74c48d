#!/usr/bin/env python3
"""Integration tests for batch use (issue 5): --json, -q/-v, resume, --shard,
progress on a terminal, per-host cap, rate limit, headers, proxies.

Run one case: test_batch.py NAME. Same environment as test_cli.py.
"""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, SAMPLES, Failure, Fixture, Workspace, check,  # noqa: E402
                     main_for, read, run, screen, tree, validate_run)


def fnv1a32(text):
    h = 2166136261
    for b in text.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


# ---- the cases -------------------------------------------------------------

def test_json():
    """Every line of a real run (ok, 404, refused scheme, not an image,
    redirect) is valid JSON of the documented schema; stdout is only JSON."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("notes.jpg", b"<!DOCTYPE html><html>\xff\xfe not a photo</html>\n")
        hop = server.url("hop.jpg?redirect=/" + PHOTOS[2])
        urls = [server.url(PHOTOS[0]), server.url("missing.jpg"), "ftp://127.0.0.1/x.jpg",
                server.url(PHOTOS[1]), server.url("notes.jpg"), hop, server.url(PHOTOS[0])]
        lst = ws.list_file(urls)
        rc, out, err = run(["--json", "-s", "-i", lst, "-o", ws.out])
        check(rc == 1, f"exit {rc}: {err}")
        check(err == "", f"-s: stderr not empty: {err!r}")
        items, summary = validate_run(out)
        check(len(items) == 6, f"{len(items)} items for 6 unique URLs")
        by_url = {i["url"]: i for i in items}
        check(len(by_url) == 6, "an item reported twice")
        check(by_url[urls[1]]["error"]["kind"] == "http_status" and
              by_url[urls[1]]["http_code"] == 404 and by_url[urls[1]]["line"] == 2, by_url[urls[1]])
        check(by_url[urls[2]]["error"]["kind"] == "unsupported_scheme", by_url[urls[2]])
        check(by_url[urls[4]]["error"]["kind"] == "not_an_image", by_url[urls[4]])
        check(by_url[hop]["status"] == "ok" and by_url[hop]["final_url"] == server.url(PHOTOS[2]),
              f"redirect: {by_url[hop]}")
        check(by_url[urls[0]]["output"] == os.path.join(ws.out, PHOTOS[0][:-4] + ".png"),
              by_url[urls[0]]["output"])
        check((summary["items"], summary["ok"], summary["failed"], summary["duplicates"]) ==
              (6, 3, 3, 1), f"summary {summary}")
        check(summary["exit_code"] == 1, "summary exit code")
        check(summary["bytes"] == sum(i["bytes"] for i in items), "summary bytes")
        # jq (from Debian) agrees that every line is JSON, when it is installed.
        if shutil.which("jq"):
            proc = subprocess.run(["jq", "-e", "-c", ".schema_version"], input=out.encode(),
                                  capture_output=True)
            check(proc.returncode == 0, f"jq: {proc.stderr}")


def test_json_escaping():
    """URLs from the list are echoed into --json as they were read, whatever
    bytes they hold: control bytes (ESC, DEL, CR) are escaped, quotes and
    backslashes too, an invalid UTF-8 byte becomes U+FFFD; every line is
    strict UTF-8 JSON with no raw control byte."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        base = f"http://127.0.0.1:{server.port}/"
        raw_urls = [base.encode() + b"esc\x1b[2J\x1b]0;t\x07x.jpg",
                    base.encode() + b"del\x7fx.jpg",
                    base.encode() + b"cr\rx.jpg",
                    base.encode() + b'q"uo\\te.jpg',
                    base.encode() + b"bad\xff\xfex.jpg"]
        lst = ws.list_file([], raw=b"\n".join(raw_urls) + b"\n")
        proc = subprocess.run([EDGEFETCH, "--json", "-q", "-i", lst, "-o", ws.out],
                              capture_output=True, timeout=120)
        check(proc.returncode == 1, f"exit {proc.returncode}: {proc.stderr!r}")
        out = proc.stdout
        check(all(b >= 0x20 and b != 0x7f for b in out.replace(b"\n", b"")),
              f"a raw control byte in the JSON output: {out!r}")
        try:
            text = out.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise Failure(f"--json output is not UTF-8: {e}: {out!r}")
        items, _ = validate_run(text)
        urls = sorted(i["url"] for i in items)
        want = sorted(u.decode("utf-8", errors="replace") for u in raw_urls)
        check(urls == want, f"urls in JSON {urls!r}, want {want!r}")


def test_quiet_verbose():
    """-q: a line per failed item and nothing else; -s (--silent): nothing at
    all; default: failures and the report; -v: a line per item."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www) as server:
        urls = [server.url(n) for n in PHOTOS[:3]] + [server.url("missing.jpg")]
        lst = ws.list_file(urls)
        rc, out, err = run(["-q", "-i", lst, "-o", ws.out])
        lines = err.splitlines()
        check(rc == 1 and out == "" and len(lines) == 1, f"-q: exit {rc}, stderr {err!r}")
        check(lines[0].startswith("edgefetch: line 4: FAILED ") and "missing.jpg" in lines[0] and
              "404" in lines[0], f"-q: the failure line: {err!r}")
        shutil.rmtree(ws.out)
        for silent in ("-s", "--silent"):
            rc, out, err = run([silent, "-i", lst, "-o", ws.out])
            check(rc == 1 and err == "" and out == "", f"{silent}: exit {rc}, stderr {err!r}")
            shutil.rmtree(ws.out)
        rc, out, err = run(["-i", lst, "-o", ws.out])
        check(rc == 1 and out == "", f"default: exit {rc}, stdout {out!r}")
        check(err.count("FAILED") == 1 and "wall time" in err, err)
        check(not any(line.startswith("edgefetch: line ") and " ok " in line
                      for line in err.splitlines()), f"ok lines without -v: {err}")
        shutil.rmtree(ws.out)
        rc, out, err = run(["-v", "-i", lst, "-o", ws.out])
        lines = [line for line in err.splitlines() if line.startswith("edgefetch: line ")]
        check(len(lines) == 4 and sum(" ok " in line for line in lines) == 3, f"-v: {err}")
        rc, out, err = run(["-v", "-i", lst, "-o", ws.out])
        check(sum(line.startswith("edgefetch: line ") and ": skipped " in line
                  for line in err.splitlines()) == 3, f"-v rerun: {err}")


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


def test_shards():
    """N shards as separate processes = one run: each item exactly once, the
    same files, names independent of the shard, the documented hash."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www) as server:
        photo = read(os.path.join(SAMPLES, PHOTOS[0]))
        ws.write("a/cat.jpg", photo)
        ws.write("b/cat.jpg", photo)
        urls = [server.url(n) for n in PHOTOS] + [server.url("a/cat.jpg"),
                                                   server.url("b/cat.jpg"), server.url("nope.jpg")]
        lst = ws.list_file(urls)
        single = os.path.join(ws.tmp, "single")
        rc, out, err = run(["--json", "-q", "-i", lst, "-o", single])
        check(rc == 1, f"single: {rc} {err}")
        single_items, _ = validate_run(out)
        server.reset()
        count = 3
        sharded = os.path.join(ws.tmp, "sharded")
        procs = [subprocess.Popen([EDGEFETCH, "--json", "-q", "--shard", f"{k}/{count}", "-i", lst,
                                   "-o", sharded], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for k in range(count)]
        seen = []
        for k, proc in enumerate(procs):
            out, err = proc.communicate(timeout=120)
            items, summary = validate_run(out.decode())
            check(summary["shard"] == {"index": k, "count": count}, f"shard {k}: {summary}")
            for item in items:
                check(fnv1a32(item["url"]) % count == k, f"{item['url']} ran in shard {k}")
            seen += items
        check(sorted(i["url"] for i in seen) == sorted(urls), "shards do not cover the list once")
        check(sorted(i["url"] for i in seen) == sorted(i["url"] for i in single_items), "union")
        strip = lambda i: (i["url"], i["status"], i["output"] and os.path.basename(i["output"]))  # noqa
        check(sorted(map(strip, seen)) == sorted(map(strip, single_items)), "shard results differ")
        check(tree(sharded) == tree(single), f"trees {tree(sharded)} != {tree(single)}")
        for name in tree(single):
            check(read(os.path.join(single, name)) == read(os.path.join(sharded, name)), name)
        check(server.stats()["requests"] == len(urls), "an item was fetched twice")
        rc, _, err = run(["--shard", "3/3", server.url(PHOTOS[0])])
        check(rc == 2 and "--shard" in err, f"--shard 3/3: {rc} {err}")


def test_progress_tty():
    """Under a pseudo-terminal the progress line updates in place and ends
    with the final counts; off when stderr is not a terminal."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="300") as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS] + [server.url("missing.jpg")])
        typescript = os.path.join(ws.tmp, "typescript")
        cmd = f"stty cols 200; exec {EDGEFETCH} -i {lst} -o {ws.out} -j 3"
        proc = subprocess.run(["script", "-q", "-e", "-c", cmd, typescript],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        check(proc.returncode == 1, f"script: exit {proc.returncode} {proc.stderr}")
        raw = read(typescript)
        updates = raw.count(b"\r") - raw.count(b"\r\n")
        check(updates >= 3, f"only {updates} progress updates in {raw[:400]!r}")
        lines = screen(raw)
        final = [line for line in lines if " done | " in line]
        n = len(PHOTOS) + 1
        check(len(final) == 1, f"want one progress line on the final screen, got {final}")
        check(final[0].startswith(f"{n}/{n} done | 1 failed | ") and
              final[0].endswith(" | 0 skipped | dl 0, 0 waiting | cpu 0 queued, 0 busy"),
              f"final line: {final[0]!r}")
        check("took" in final[0], final[0])
        check(any("FAILED" in line and "missing.jpg" in line for line in lines), "FAILED line lost")
        check(any("images ok" in line for line in lines), "no report")
        # Not a terminal: no progress; --no-progress on one: none either.
        shutil.rmtree(ws.out)
        rc, _, err = run(["-i", lst, "-o", ws.out])
        check("\r" not in err and " done | " not in err, "progress written to a pipe")
        rc, _, err = run(["--progress", "-i", lst, "-o", ws.out, "--force"])
        check("\r" in err and f"{n}/{n} done" in err, "--progress not honoured on a pipe")


def test_max_per_host():
    """--max-per-host caps what the server sees in flight, and the wait for a
    host slot does not count in --timeout."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="300") as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS])
        rc, _, err = run(["-q", "-i", lst, "-o", ws.out, "-j", "6", "--max-per-host", "2"])
        check(rc == 0, f"exit {rc}: {err}")
        stats = server.stats()
        check(stats["max_inflight"] == 2, f"server saw {stats['max_inflight']} in flight, want 2")
        check(stats["requests"] == len(PHOTOS), f"{stats['requests']} requests")
        # 12 items one at a time at 300 ms: 3.6 s, far over a 1 s timeout,
        # but each transfer alone takes 0.3 s.
        shutil.rmtree(ws.out)
        server.reset()
        rc, _, err = run(["-q", "-i", lst, "-o", ws.out, "-j", "6", "--max-per-host", "1",
                          "--timeout", "1", "--retries", "0"])
        check(rc == 0, f"queueing counted in the timeout: exit {rc}: {err}")
        check(server.stats()["max_inflight"] == 1, f"max in flight {server.stats()}")
        # A host is host:port: another port is another host.
        with Fixture(FIXTURE, ws.www, latency="300") as other:
            urls = [server.url(n) for n in PHOTOS[:4]] + [other.url(n) for n in PHOTOS[4:8]]
            lst2 = ws.list_file(urls, name="two.txt")
            server.reset()
            shutil.rmtree(ws.out)
            rc, _, err = run(["-q", "-i", lst2, "-o", ws.out, "-j", "4", "--max-per-host", "2"])
            check(rc == 0, f"two hosts: {rc} {err}")
            both = (server.stats()["max_inflight"], other.stats()["max_inflight"])
            check(both == (2, 2), f"two hosts in flight: {both}")


def test_rate_limit():
    """--rate-limit bounds the whole run's download rate."""
    with Workspace(PHOTOS[:4]) as ws, Fixture(FIXTURE, ws.www) as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS[:4]])
        total = sum(os.path.getsize(os.path.join(ws.www, n)) for n in PHOTOS[:4])
        rate = 256 * 1024
        start = time.monotonic()
        rc, out, err = run(["--json", "-q", "-i", lst, "-o", ws.out, "-j", "4",
                            "--rate-limit", "256k"])
        wall = time.monotonic() - start
        check(rc == 0, f"exit {rc}: {err}")
        floor = total / rate
        check(wall >= 0.8 * floor, f"{total} bytes in {wall:.2f} s: faster than {rate} B/s")
        check(wall <= 3 * floor + 2, f"{wall:.2f} s for a {floor:.2f} s budget")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Serves one photo for any path; records request lines and headers.
    Doubles as an HTTP proxy: a proxied request arrives in absolute form."""
    seen = []
    body = b""

    def do_GET(self):  # noqa: N802
        _Recorder.seen.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_headers_and_proxy():
    """-H headers and --user-agent reach the server; http_proxy from the
    environment is used as curl does, and no_proxy is honoured."""
    _Recorder.body = read(os.path.join(SAMPLES, PHOTOS[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    try:
        with Workspace([]) as ws:
            url = f"http://127.0.0.1:{port}/x/a.jpg"
            rc, _, err = run(["-q", "-o", ws.out, "-H", "X-Batch: 42", "-H", "Referer: http://r/",
                              "--user-agent", "probe/1", url])
            check(rc == 0, f"exit {rc}: {err}")
            path, headers = _Recorder.seen[-1]
            check(headers.get("X-Batch") == "42" and headers.get("Referer") == "http://r/" and
                  headers.get("User-Agent") == "probe/1", f"headers {headers}")
            rc, _, err = run(["-q", "-o", ws.out, "-H", "no colon", url])
            check(rc == 2, f"bad -H: exit {rc}")
            # A proxy: the recorder on 127.0.0.1 for a host that does not
            # exist; only a proxy can answer it.
            env = dict(os.environ, http_proxy=f"http://127.0.0.1:{port}", NO_PROXY="", no_proxy="")
            proc = subprocess.run([EDGEFETCH, "-q", "-o", ws.out, "--force",
                                   "http://images.invalid/p/b.jpg"], env=env, capture_output=True,
                                  timeout=60)
            check(proc.returncode == 0, f"via proxy: exit {proc.returncode}: {proc.stderr}")
            check(_Recorder.seen[-1][0] == "http://images.invalid/p/b.jpg",
                  f"proxy saw {_Recorder.seen[-1][0]}")
            check(os.path.exists(os.path.join(ws.out, "b.png")), "no output via proxy")
            # no_proxy for that host: straight to it, which fails to resolve.
            env["no_proxy"] = "images.invalid"
            proc = subprocess.run([EDGEFETCH, "-q", "--json", "-o", ws.out, "--force",
                                   "--retries", "0", "http://images.invalid/p/c.jpg"], env=env,
                                  capture_output=True, timeout=60)
            check(proc.returncode == 1, f"no_proxy: exit {proc.returncode}")
            check(_Recorder.seen[-1][0] != "http://images.invalid/p/c.jpg", "no_proxy ignored")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_install():
    """meson install --destdir puts the binary, the man page and the bash
    completion in place; the man page renders; exit codes are in it."""
    import tempfile
    build = os.environ["BUILD_ROOT"]
    with tempfile.TemporaryDirectory(prefix="edgefetch-install-") as dest:
        proc = subprocess.run(["meson", "install", "--no-rebuild", "--quiet", "-C", build,
                               "--destdir", dest], capture_output=True, timeout=100)
        check(proc.returncode == 0, f"meson install: {proc.stdout} {proc.stderr}")
        opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                         capture_output=True, check=True).stdout)
        opt = {o["name"]: o["value"] for o in opts}
        root = dest + opt["prefix"]
        binary = os.path.join(root, opt["bindir"], "edgefetch")
        man = os.path.join(root, opt["mandir"], "man1", "edgefetch.1")
        completion = os.path.join(root, opt["datadir"], "bash-completion", "completions",
                                  "edgefetch")
        for path in (binary, man, completion):
            check(os.path.isfile(path), f"not installed: {path} (tree: {tree(dest)})")
        check(os.access(binary, os.X_OK), "binary not executable")
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        check("edgefetch" in out and "libcurl" in out, f"installed --version: {out}")
        if shutil.which("man"):
            render = subprocess.run(["man", "-l", man], capture_output=True, text=True,
                                    env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                             MANWIDTH="100"))
        else:
            render = subprocess.run(["groff", "-man", "-Tutf8", man], capture_output=True,
                                    text=True)
        text = re.sub(".\b", "", render.stdout)
        check(render.returncode == 0 and "EXIT STATUS" in text, f"man page: {render.stderr}")
        for needle in ("--shard", "--json", "--max-per-host", "130", "SLURM_ARRAY_TASK_ID",
                       "JOB_COMPLETION_INDEX"):
            check(needle in text.replace("\u2010", "-"), f"man page lacks {needle}")
        lint = subprocess.run(["groff", "-man", "-ww", "-z", man], capture_output=True, text=True)
        check(lint.stderr == "", f"groff warnings: {lint.stderr}")
        proc = subprocess.run(["bash", "-c", f"source {completion}; complete -p edgefetch"],
                              capture_output=True, text=True)
        check(proc.returncode == 0 and "_edgefetch" in proc.stdout, f"completion: {proc.stderr}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
