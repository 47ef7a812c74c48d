#!/usr/bin/env python3
"""Redirects: followed up to --max-redirs, to http/https only (file:, ftp:
refused, not fetched), -H headers only to the listed URL's origin.

Run one case: test_redirects.py NAME (meson registers each as its own test).
Needs EDGEFETCH, FIXTURE and SAMPLES in the environment.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, PHOTOS, Fixture, Tripwire, Workspace, check,  # noqa: E402
                     expect_failed, items_by_url, main_for, per_path, quoted, run, run_timed,
                     tree)
from pngutil import small_png  # noqa: E402


def test_redirects():
    """Redirects are followed, to http(s) only, and no more than --max-redirs."""
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
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


def test_redirect_limits():
    """--max-redirs (default 5) counts hops; a loop ends; no retry after it."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("five.jpg")
        ws.photo("six.jpg")
        ws.photo("two.jpg")
        urls = [server.url("five.jpg?hops=5"), server.url("six.jpg?hops=6"),
                server.url("loop.jpg?loop=1")]
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[1], 2, "redirect")
        expect_failed(err, urls[2], 3, "redirect")
        counts = per_path(server)
        check(counts.get("/five.jpg") == 6, f"5 hops: {counts.get('/five.jpg')} requests, want 6")
        check(counts.get("/six.jpg") == 6, f"6 hops: {counts.get('/six.jpg')} requests, want 6")
        check(counts.get("/loop.jpg") == 6, f"loop: {counts.get('/loop.jpg')} requests, want 6")
        ws.check_tree(["five.png"])

        server.reset()
        rc, _, err, _ = run_timed(["-o", ws.out, "--max-redirs", "1", server.url("two.jpg?hops=2")])
        check(rc == 1 and per_path(server).get("/two.jpg") == 2,
              f"--max-redirs 1: exit {rc}, {per_path(server)}: {err}")


def test_redirect_schemes():
    """A redirect off http(s) is refused, whatever the scheme, and nothing
    connects to the target."""
    with Tripwire() as wire:
        port = wire.port
        with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
            targets = ["file:///etc/passwd", f"ftp://127.0.0.1:{port}/a.jpg",
                       f"gopher://127.0.0.1:{port}/1", f"dict://127.0.0.1:{port}/d",
                       f"scp://127.0.0.1:{port}/x"]
            urls = [server.url(f"r{i}.jpg?redirect=" + t.replace(":", "%3A").replace("/", "%2F"))
                    for i, t in enumerate(targets)]
            lst = ws.list_file(urls)
            rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
            check(rc == 1, f"exit {rc}: {err}")
            for i, url in enumerate(urls):
                expect_failed(err, url, i + 1, "redirect")
                check(per_path(server).get(f"/r{i}.jpg") == 1, f"redirect {i} retried")
            ws.check_tree([])
        check(not wire.touched(), "a refused redirect still connected to its target")


def test_redirect_drops_headers():
    """-H headers go to the listed URL's origin only: a redirect to another
    port (another origin) does not carry them, also when the chain comes
    back to the first origin afterwards (the first server gets them again);
    a same-origin redirect keeps them. --user-agent goes everywhere."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as first, \
            Fixture(FIXTURE, ws.www) as second:
        ws.write("a.png", small_png())
        ws.write("b.png", small_png())
        ws.write("c.png", small_png())
        cross = first.url("x.png?redirect=" + quoted(second.url("b.png")))
        same = first.url("s.png?redirect=/a.png")
        back = first.url("y.png?redirect=" + quoted(
            second.url("hop.png?redirect=" + quoted(first.url("c.png")))))
        lst = ws.list_file([cross, same, back])
        rc, out, err, _ = run_timed(["--json", "-q", "-i", lst, "-o", ws.out,
                               "-H", "X-Api-Key: s3cret", "-H", "X-Other: 1",
                               "--user-agent", "probe/2"])
        check(rc == 0, f"exit {rc}: {err}")
        items = items_by_url(out)
        check(items[cross]["final_url"] == second.url("b.png"), f"cross: {items[cross]}")
        check(items[back]["final_url"] == first.url("c.png"), f"back: {items[back]}")
        one, two = first.stats(), second.stats()
        check(two["requests"] == 2, f"second server: {two['requests']} requests")
        check("x-api-key" not in two["request_headers"] and
              "x-other" not in two["request_headers"],
              f"-H headers reached another origin: {two['request_headers']}")
        check(two["request_headers"].get("user-agent") == 2, f"{two['request_headers']}")
        # x.png, s.png, a.png, y.png, c.png: every request to the first
        # origin, the same-origin hop and the return included, had them.
        check(one["requests"] == 5, f"first server: {one['per_path']}")
        check(one["request_headers"].get("x-api-key") == 5 and
              one["request_headers"].get("x-other") == 5,
              f"-H headers lost on the first origin: {one['request_headers']}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
