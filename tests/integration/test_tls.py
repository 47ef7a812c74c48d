#!/usr/bin/env python3
"""HTTPS: Debian's nginx with a certificate made now (--cacert, no --cacert,
--insecure), and --cacert checked at start.

Run one case: test_tls.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, PHOTOS, Fixture, Nginx, Workspace, check, failed_line, main_for,  # noqa: E402
                     per_path, read, run_timed)
from pngutil import small_png  # noqa: E402


def test_https_nginx():
    """Debian's nginx on 127.0.0.1 with a certificate made now: --cacert works
    over HTTP/2, no --cacert is a certificate error, --insecure works and says so."""
    with Workspace() as ws, Nginx(ws.www) as nginx:
        for name in PHOTOS[:3]:
            ws.photo(name, name)
        urls = [nginx.url(n) for n in PHOTOS[:3]]
        lst = ws.list_file(urls)
        expected = sorted(n[:-4] + ".png" for n in PHOTOS[:3])

        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--cacert", nginx.cacert])
        check(rc == 0, f"--cacert: exit {rc}: {err}")
        ws.check_tree(expected)
        log = read(nginx.access_log).decode().splitlines()
        check(len(log) == 3 and all(" HTTP/2.0 200 " in line for line in log),
              f"nginx access log does not show 3 HTTP/2.0 requests: {log}")

        shutil.rmtree(ws.out)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--retries", "0"])
        check(rc == 1, f"no --cacert: exit {rc}: {err}")
        for url in urls:
            line = failed_line(err, url)
            check("certificate" in line.lower(), f"no certificate error: {line}")
        ws.check_tree([])

        shutil.rmtree(ws.out)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out, "--insecure"])
        check(rc == 0, f"--insecure: exit {rc}: {err}")
        check("--insecure" in err and "NOT verified" in err, f"--insecure is silent: {err}")
        rc, _, err, _ = run_timed(["-q", "-i", lst, "-o", ws.out, "--force", "--insecure"])
        check(rc == 0 and "NOT verified" in err, f"-q --insecure is silent: {rc} {err}")
        ws.check_tree(expected)


def test_cacert_checked_at_start():
    """--cacert naming a missing file, a folder or an empty file is a usage
    error (exit 2) found at start, before any download, not per https item."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("a.png", small_png())
        empty = os.path.join(ws.tmp, "empty.pem")
        open(empty, "wb").close()
        ws.lists.append("empty.pem")
        for cacert, reason in ((os.path.join(ws.tmp, "missing.pem"), "No such file"),
                               (ws.www, "directory"), (empty, "empty")):
            rc, _, err, _ = run_timed(["-o", ws.out, "--cacert", cacert, server.url("a.png")])
            check(rc == 2, f"--cacert {cacert}: exit {rc}: {err}")
            check("--cacert" in err and reason in err, f"--cacert {cacert}: {err}")
        check(server.stats()["requests"] == 0, f"downloads before the check: {per_path(server)}")
        ws.check_tree([])


if __name__ == "__main__":
    sys.exit(main_for(globals()))
