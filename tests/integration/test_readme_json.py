#!/usr/bin/env python3
"""docs/json.md held to real runs:

- content_type: "as sent (non-printable bytes as `?`, at most 127 bytes;
  `""` when the server sent none)", each part read from the page and held
  to a server that sends such headers (a control byte and UTF-8 in the
  value, a value of 200 bytes, no Content-Type at all);
- example: the page's example lines (an ok, a failed and a skipped item and
  their summary) have the fields, in the order and nesting, of the lines a
  real run of the same three prints; the summary's defaults are a default
  run's; and the example obeys the page's own sums (`items` the sum of the
  counts, `bytes` the items', `cpu_ms` the CPU stages', `network_ms` the
  downloads', `exit_code` 1 with a failed item).

    test_readme_json.py CASE   (meson: readme_json_CASE)
"""
import json
import os
import re
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FIXTURE, PHOTOS, SAMPLES, Fixture, Workspace, check, doc_text, items_of,  # noqa: E402
                     main_for, ndjson, read, run, serve_heads)


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
        serve_heads(self.sock, self._respond)

    def _respond(self, conn, head):
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


def shape(obj):
    """The field names of `obj`, in order, nested objects' too."""
    if isinstance(obj, dict):
        return [(k, shape(v)) for k, v in obj.items()]
    return None


def test_example():
    text = doc_text()
    block = text[text.index("## Example"):]
    block = block[block.index("```json\n") + 8:]
    example = [json.loads(line) for line in block[:block.index("```")].splitlines()]
    by_status = {o["status"]: o for o in example if o["type"] == "item"}
    summary = example[-1]
    check(sorted(by_status) == ["failed", "ok", "skipped"] and summary["type"] == "summary",
          f"the example's lines: {[o['type'] + ' ' + o.get('status', '') for o in example]}")
    items = [o for o in example if o["type"] == "item"]
    # The page's own rules, on its example.
    check(summary["items"] == len(items) == sum(summary[k] for k in ("ok", "failed", "skipped",
                                                                       "cancelled")),
          f"example: items {summary['items']}")
    check(summary["bytes"] == sum(i["bytes"] for i in items), "example: bytes")
    stage = summary["stage_ms"]
    check(abs(summary["cpu_ms"] - (stage["decode"] + stage["operator"] + stage["encode_write"])) < 0.01
          and summary["network_ms"] == stage["download"], f"example: sums {summary}")
    check(summary["exit_code"] == 1 and by_status["failed"]["error"] is not None, "example: exit")
    with Workspace(PHOTOS[:1]) as ws, Fixture(FIXTURE, ws.www) as server:
        skipped = server.url("skip.jpg?file=" + PHOTOS[0])
        rc, _, err = run(["-q", "-o", ws.out, skipped])
        check(rc == 0, f"first run: {err}")
        rc, out, err = run(["--json", "-q", "-o", ws.out, server.url(PHOTOS[0]),
                            server.url("missing.jpg?status=404"), skipped])
        check(rc == 1, f"exit {rc}: {err}")
        real = ndjson(out)
    real_by_status = {o["status"]: o for o in real if o["type"] == "item"}
    for status, obj in by_status.items():
        check(shape(obj) == shape(real_by_status[status]),
              f"the example's {status} item:\n  page {shape(obj)}\n  run  {shape(real_by_status[status])}")
    check(shape(summary) == shape(real[-1]),
          f"the example's summary:\n  page {shape(summary)}\n  run  {shape(real[-1])}")
    for key in ("max_downloads", "max_per_host", "operator", "operator_params", "retries",
                "png_level"):
        check(summary["settings"][key] == real[-1]["settings"][key],
              f"example settings {key}: {summary['settings'][key]}, a default run's "
              f"{real[-1]['settings'][key]}")
    for key in ("adaptive", "start", "ceiling"):
        check(summary["downloads"][key] == real[-1]["downloads"][key],
              f"example downloads {key}: {summary['downloads'][key]}, a default run's "
              f"{real[-1]['downloads'][key]}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
