#!/usr/bin/env python3
"""Credentials and the proxy (issue 15): -u/--user goes only to the origin
of the listed URL, never across a redirect to another origin (as -H
headers, test_http_hostile.py redirect_drops_headers); --netrc and
--netrc-file give each hop the entry of its own host; -x/--proxy.

Two fixture servers on two ports are two origins; a recorder on 127.0.0.2
is another host for netrc, which knows hosts, not ports.

Run one case: test_auth.py NAME. Needs EDGEFETCH, FIXTURE, SAMPLES.
"""
import base64
import http.server
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, Fixture, Workspace, check, check_clean_exit,  # noqa: E402
                     items_by_url, main_for, quoted, run_timed)
from pngutil import small_png  # noqa: E402


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Recorder(http.server.BaseHTTPRequestHandler):
    """Serves a small PNG for any path and records each request's path and
    Authorization (or None); doubles as a proxy (absolute-form paths)."""
    seen = []
    body = b""

    def do_GET(self):  # noqa: N802
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class Recording:
    """A Recorder on `host`, port chosen by the kernel."""

    def __init__(self, host):
        Recorder.seen = []
        Recorder.body = small_png()
        self.httpd = http.server.ThreadingHTTPServer((host, 0), Recorder)
        self.host = host
        self.port = self.httpd.server_address[1]

    def url(self, path):
        return f"http://{self.host}:{self.port}/{path}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_user_origin_only():
    """-u alice:s3cret: every request to the listed origin carries it (a
    same-origin redirect and a chain that comes back included), a redirect
    to another origin (another port) never does; the value is right."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as first, \
            Fixture(FIXTURE, ws.www) as second:
        for name in ("a.png", "b.png", "c.png"):
            ws.write(name, small_png())
        cross = first.url("x.png?redirect=" + quoted(second.url("b.png")))
        same = first.url("s.png?redirect=/a.png")
        back = first.url("y.png?redirect=" + quoted(
            second.url("hop.png?redirect=" + quoted(first.url("c.png")))))
        lst = ws.list_file([cross, same, back])
        rc, out, err, _ = run_timed(["--json", "-q", "-i", lst, "-o", ws.out, "-u", "alice:s3cret"])
        check(rc == 0, f"exit {rc}: {err}")
        items = items_by_url(out)
        check(items[cross]["final_url"] == second.url("b.png"), f"cross: {items[cross]}")
        one, two = first.stats(), second.stats()
        check(two["requests"] == 2, f"second server: {two['per_path']}")
        check("authorization" not in two["request_headers"],
              f"credentials reached another origin: {two['request_headers']}")
        check(one["requests"] == 5 and one["request_headers"].get("authorization") == 5,
              f"credentials lost on the listed origin: {one['request_headers']}")
        check("s3cret" not in err, "the password on stderr")
    with Workspace() as ws, Recording("127.0.0.1") as rec:
        rc, _, err, _ = run_timed(["-q", "-o", ws.out, "--user", "alice:s3cret", rec.url("p.png")])
        check(rc == 0, f"exit {rc}: {err}")
        check(Recorder.seen == [("/p.png", basic("alice", "s3cret"))], f"{Recorder.seen}")


def write_netrc(path, entries):
    with open(path, "w") as f:
        for host, user, password in entries:
            f.write(f"machine {host}\nlogin {user}\npassword {password}\n")
    os.chmod(path, 0o600)


def test_netrc_per_host():
    """--netrc-file: the listed host's entry goes to it, and a redirect to
    another host (127.0.0.2) gets that host's own entry, or none, never the
    listed host's; --netrc reads ~/.netrc; -u wins on the listed origin."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as first, Recording("127.0.0.2") as other:
        ws.write("a.png", small_png())
        netrc = os.path.join(ws.tmp, "netrc")
        ws.lists.append("netrc")
        write_netrc(netrc, [("127.0.0.1", "bob", "one")])
        away = first.url("r.png?redirect=" + quoted(other.url("b.png")))
        rc, out, err, _ = run_timed(["--json", "-q", "-o", ws.out, "--netrc-file", netrc, away,
                               first.url("a.png")])
        check(rc == 0, f"exit {rc}: {err}")
        check(first.stats()["request_headers"].get("authorization") == 2,
              f"netrc entry not sent to its host: {first.stats()['request_headers']}")
        check(Recorder.seen == [("/b.png", None)], f"another host got 127.0.0.1's entry: {Recorder.seen}")

        # That host's own entry, when the file has one; ~/.netrc with --netrc.
        home = os.path.join(ws.tmp, "home")
        os.makedirs(home)
        write_netrc(os.path.join(home, ".netrc"), [("127.0.0.1", "bob", "one"),
                                                   ("127.0.0.2", "carol", "two")])
        Recorder.seen.clear()
        env = dict(os.environ, HOME=home)
        proc = subprocess.run([EDGEFETCH, "-q", "--force", "-o", ws.out, "--netrc", "--no-config", away],
                              env=env, capture_output=True, timeout=60)
        check_clean_exit(proc.stderr, "edgefetch")
        check(proc.returncode == 0, f"--netrc: {proc.stderr}")
        check(Recorder.seen == [("/b.png", basic("carol", "two"))], f"{Recorder.seen}")
        # Without --netrc nothing is read.
        Recorder.seen.clear()
        proc = subprocess.run([EDGEFETCH, "-q", "--force", "-o", ws.out, "--no-config", other.url("c.png")],
                              env=env, capture_output=True, timeout=60)
        check_clean_exit(proc.stderr, "edgefetch")
        check(proc.returncode == 0 and Recorder.seen == [("/c.png", None)], f"{Recorder.seen}")
        # -u wins over the file on the listed origin.
        Recorder.seen.clear()
        proc = subprocess.run([EDGEFETCH, "-q", "--force", "-o", ws.out, "--netrc", "-u", "dave:x",
                               "--no-config", other.url("d.png")], env=env, capture_output=True,
                              timeout=60)
        check_clean_exit(proc.stderr, "edgefetch")
        check(proc.returncode == 0 and Recorder.seen == [("/d.png", basic("dave", "x"))],
              f"{Recorder.seen}")


def test_proxy_option():
    """-x/--proxy: every transfer through that proxy, whatever the
    environment says (here: no proxy at all)."""
    with Workspace() as ws, Recording("127.0.0.1") as proxy:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        for flag in ("-x", "--proxy"):
            Recorder.seen.clear()
            proc = subprocess.run([EDGEFETCH, "-q", "--force", "-o", ws.out, flag,
                                   f"http://127.0.0.1:{proxy.port}",
                                   "http://images.invalid/p/b.png"], env=env,
                                  capture_output=True, timeout=60)
            check_clean_exit(proc.stderr, "edgefetch")
            check(proc.returncode == 0, f"{flag}: exit {proc.returncode}: {proc.stderr}")
            check(Recorder.seen == [("http://images.invalid/p/b.png", None)], f"{Recorder.seen}")
        check(os.path.exists(os.path.join(ws.out, "b.png")), "no output through the proxy")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
