#!/usr/bin/env python3
"""docs/json.md's `content_type`: "as sent (non-printable bytes as `?`, at
most 127 bytes; `""` when the server sent none)", each part read from the
page and held to a server that sends such headers (a control byte and UTF-8
in the value, a value of 200 bytes, no Content-Type at all).

    test_readme_json.py CASE   (meson: readme_json_CASE)
"""
import os
import re
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import PHOTOS, SAMPLES, Workspace, check, doc_text, items_of, main_for, read, read_head, run  # noqa: E402


class RawServer:
    """Answers each GET with a JPEG and the Content-Type line its path
    names, sent as raw bytes (none for /none)."""

    def __init__(self, types):
        self.types = types
        self.body = read(os.path.join(SAMPLES, PHOTOS[0]))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = read_head(conn)
                path = head.split(b" ")[1].decode() if head.count(b" ") >= 2 else "/"
                value = self.types.get(path.lstrip("/"))
                conn.sendall(b"HTTP/1.1 200 OK\r\n" +
                             (b"Content-Type: " + value + b"\r\n" if value is not None else b"") +
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(self.body) +
                             self.body)

    def close(self):
        self.sock.close()


def test_content_type():
    doc = " ".join(doc_text().split())
    m = re.search(r"\| `content_type` \| string or null \| the `Content-Type` of the response the "
                  r"body came from, as sent \(non-printable bytes as `(.)`, at most (\d+) bytes; "
                  r"`\"\"` when the server sent none\)", doc)
    check(m is not None, "docs/json.md: content_type's rule is not the one this test checks")
    stand_in, most = m.group(1), int(m.group(2))
    long_value = b"image/jpeg; x=" + b"a" * 200
    server = RawServer({"odd": b"image/jpeg; a=\x01\xc3\xa9", "long": long_value, "none": None})
    try:
        with Workspace() as ws:
            urls = {k: f"http://127.0.0.1:{server.port}/{k}" for k in ("odd", "long", "none")}
            rc, out, err = run(["--json", "-q", "-o", ws.out] + list(urls.values()))
            check(rc == 0, f"exit {rc}: {err}")
            items, _ = items_of(out)
            got = {k: items[u]["content_type"] for k, u in urls.items()}
    finally:
        server.close()
    check(got["odd"] == "image/jpeg; a=" + stand_in * 3, f"control and UTF-8 bytes: {got['odd']!r}")
    check(got["long"] == long_value[:most].decode(), f"{len(long_value)} bytes: {got['long']!r}")
    check(got["none"] == "", f"no Content-Type: {got['none']!r}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
