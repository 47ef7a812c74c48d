#!/usr/bin/env python3
"""Integration tests for batch use (issue 5): --json, -q/-v, --shard, headers,
proxies, meson install. (Resume: test_resume.py; progress: test_progress.py;
per-host cap and rate limit: test_limits.py.)

Run one case: test_batch.py NAME. Same environment as test_cli.py.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, SAMPLES, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, fnv1a32, main_for, read, run, tree, validate_run)
from harness import JpegHandler  # noqa: E402


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
        check_clean_exit(proc.stderr, "edgefetch")
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
                check(fnv1a32(item["url"].encode()) % count == k, f"{item['url']} ran in shard {k}")
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


class _Recorder(JpegHandler):
    """Serves one photo for any path; records request lines and headers.
    Doubles as an HTTP proxy: a proxied request arrives in absolute form."""
    seen = []

    def recorded(self):
        return (self.path, dict(self.headers))


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
            check_clean_exit(proc.stderr, "edgefetch")
            check(proc.returncode == 0, f"via proxy: exit {proc.returncode}: {proc.stderr}")
            check(_Recorder.seen[-1][0] == "http://images.invalid/p/b.jpg",
                  f"proxy saw {_Recorder.seen[-1][0]}")
            check(os.path.exists(os.path.join(ws.out, "b.png")), "no output via proxy")
            # no_proxy for that host: straight to it, which fails to resolve.
            env["no_proxy"] = "images.invalid"
            proc = subprocess.run([EDGEFETCH, "-q", "--json", "-o", ws.out, "--force",
                                   "--retries", "0", "http://images.invalid/p/c.jpg"], env=env,
                                  capture_output=True, timeout=60)
            check_clean_exit(proc.stderr, "edgefetch")
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
