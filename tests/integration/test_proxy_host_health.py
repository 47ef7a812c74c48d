#!/usr/bin/env python3
"""A host's health behind a proxy (-x; io/http_outcome.c http_classify,
pipeline/hosts.c): an https URL goes through a CONNECT tunnel, and when the
proxy cannot reach the URL's host it says so in the CONNECT's answer (502 or
503: it could not connect; 504: its connect timed out). That is the host's
connect failing, as a refusal or a connect timeout is without a proxy, and
takes the host down the same way. Before, libcurl's "CONNECT tunnel failed"
(CURLE_RECV_ERROR) was a `network` failure of a connected host: every URL of
a dead host was tried, and retried, each costing the proxy's own connect
timeout.

- proxy_says_unreachable: a proxy of the test's own on 127.0.0.1 that
  answers every CONNECT with STATUS and closes; 8 https URLs of one host
  through it, at the defaults. 502: 3 CONNECTs in all (the third refusal
  in a row takes the host down), every item `connect`, the others failed as
  host unreachable. 504: 1 CONNECT, every item `timeout`, 7 unreachable.
  (Before: 24 CONNECTs, 3 per URL, every item `network`.)

Run one case: test_proxy_host_health.py NAME.
"""
import os
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (Workspace, check, free_port, items_of, main_for,  # noqa: E402
                     run_timed, serve_heads)


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers each request (a CONNECT) with
    `status` and closes; .requests: the request lines received."""

    def __init__(self, status):
        self.status = status
        self.requests = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        serve_heads(self.sock, self._respond)

    def _respond(self, conn, data):
        with self.lock:
            self.requests.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
        reason = {502: "Bad Gateway", 503: "Service Unavailable",
                  504: "Gateway Timeout"}[self.status]
        conn.sendall(f"HTTP/1.1 {self.status} {reason}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()


def fetch_through(status, want_connects, want_kind):
    dead = free_port()
    with RefusingProxy(status) as proxy, Workspace() as ws:
        urls = [f"https://127.0.0.1:{dead}/p{i}.jpg" for i in range(8)]
        lst = ws.list_file(urls)
        # The suite's no_proxy (127.0.0.1) would send these past -x.
        env = dict(os.environ, no_proxy="", NO_PROXY="")
        rc, out, err, _ = run_timed(["--json", "-q", "-x", f"http://127.0.0.1:{proxy.port}",
                                     "--retry-delay", "0.05", "-i", lst, "-o", ws.out],
                                    timeout=120, env=env)
        items, _ = items_of(out)
        check(rc == 1 and len(items) == 8, f"{status}: exit {rc}, {len(items)} items: {err[-600:]}")
        kinds = sorted({o["error"]["kind"] for o in items.values() if o["status"] == "failed"})
        failed = sum(o["status"] == "failed" for o in items.values())
        unreachable = sum("host unreachable: " in o["error"]["message"] for o in items.values())
        print(f"proxy {status}: {len(proxy.requests)} CONNECTs for 8 URLs, kinds {kinds}, "
              f"{unreachable} host unreachable")
        check(all(r.startswith("CONNECT ") for r in proxy.requests), f"{proxy.requests}")
        check(failed == 8 and kinds == [want_kind], f"{status}: {failed} failed, kinds {kinds}")
        check(len(proxy.requests) == want_connects,
              f"{status}: {len(proxy.requests)} CONNECTs for 8 URLs of an unreachable host, "
              f"want {want_connects}")
        check(unreachable >= 8 - want_connects, f"{status}: {unreachable} host unreachable")


def test_proxy_says_unreachable():
    fetch_through(502, 3, "connect")
    fetch_through(504, 1, "timeout")


if __name__ == "__main__":
    sys.exit(main_for(globals(), required=("EDGEFETCH",)))
