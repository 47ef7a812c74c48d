#!/usr/bin/env python3
"""When a new host's other transfers start (pipeline/hosts.c PL_HOST_NEW, io's
connected callback): a host never connected to runs one transfer until that
one connects, and "connects" is its TCP connect, told by io before TLS is
done, so the host's others start during the first's handshake, not a round
trip or two after it (on an HTTP/2 host, in time to open connections of their
own: tests/bench/results/world_h2path.md).

- others_start_at_tcp_connect: an HTTPS server of the test's own on
  127.0.0.1 (Python's ssl, a certificate made now) that waits HANDSHAKE_DELAY
  after each accept before its TLS handshake; 4 URLs at the default
  --max-per-host 4. Its log: the other 3 connections accepted before the
  first's handshake was done (with the connect told at the first's prereq,
  after the handshake, they came HANDSHAKE_DELAY after the first); every
  item ok.

Run one case: test_host_connect.py NAME.
"""
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "world"))
from harness import Skip, check, items_of, main_for, read_head, run  # noqa: E402
from pngutil import small_png  # noqa: E402

HANDSHAKE_DELAY = 0.8


class SlowTlsServer:
    """HTTPS/1.1 on 127.0.0.1: each connection waits HANDSHAKE_DELAY after
    its accept, then does the TLS handshake and answers one GET with a PNG
    (Connection: close). .log: per connection (accept time, handshake done
    time), monotonic. Stops by itself after `lifetime` seconds."""

    def __init__(self, tmp, lifetime=60):
        from certs import CertError, make_certs
        try:
            make_certs(tmp)
        except (CertError, FileNotFoundError) as e:
            raise Skip(f"needs openssl: {e}")
        self.cacert = os.path.join(tmp, "ca.pem")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(tmp, "server.pem"), os.path.join(tmp, "server.key"))
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.body = small_png()
        self.log = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(1.0)
        self.port = self.sock.getsockname()[1]
        self.deadline = time.monotonic() + lifetime
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            entry = [time.monotonic(), None]
            with self.lock:
                self.log.append(entry)
            threading.Thread(target=self._serve, args=(conn, entry), daemon=True).start()

    def _serve(self, conn, entry):
        try:
            time.sleep(HANDSHAKE_DELAY)
            conn.settimeout(10)
            tls = self.ctx.wrap_socket(conn, server_side=True)
            entry[1] = time.monotonic()
            if b"\r\n\r\n" not in read_head(tls):
                return
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n"
                        + f"Content-Length: {len(self.body)}\r\n\r\n".encode() + self.body)
            tls.close()
        except (OSError, ssl.SSLError):
            conn.close()

    def stop(self):
        self.deadline = 0
        self.sock.close()
        self.thread.join()


def test_others_start_at_tcp_connect():
    """See the module's docstring."""
    tmp = tempfile.mkdtemp(prefix="edgefetch-tlsdelay-")
    server = SlowTlsServer(tmp)
    try:
        urls = [f"https://127.0.0.1:{server.port}/p{k}.png" for k in range(4)]
        rc, out, err = run(["--json", "--cacert", server.cacert, "-o", os.path.join(tmp, "out")]
                           + urls, timeout=60)
    finally:
        server.stop()
    items = list(items_of(out)[0].values())
    check(rc == 0 and len(items) == 4 and all(i["status"] == "ok" for i in items),
          f"exit {rc}: {[(i['url'], i['status'], i.get('error')) for i in items]}\n{err[-1000:]}")
    log = sorted(server.log)
    check(len(log) == 4, f"{len(log)} connections for 4 URLs")
    first_accept, first_done = log[0]
    later = [accept - first_accept for accept, _ in log[1:]]
    print(f"others accepted {min(later):.3f}-{max(later):.3f} s after the first; its handshake "
          f"took {first_done - first_accept:.3f} s (the server waits {HANDSHAKE_DELAY} s)")
    check(first_done is not None, "the first connection never finished its handshake")
    for accept, _ in log[1:]:
        check(accept < first_done, f"a connection accepted {accept - first_accept:.3f} s after "
              f"the first, which finished its handshake at {first_done - first_accept:.3f} s: "
              "the others waited for the first's TLS, not its TCP connect")


if __name__ == "__main__":
    sys.exit(main_for(globals(), required=("EDGEFETCH", "SAMPLES")))
