#!/usr/bin/env python3
"""The plain-HTTP hosts of the test world: one asyncio process that listens on
every host's own address (port 80 inside the world's network namespace) and
answers each with that host's profile.

    hosts_server.py CONFIG.json

CONFIG: {"images": DIR, "log": FILE, "lifetime": SECS, "hosts": [HOST, ...]},
HOST: {"name", "addr", "port", "latency_ms": [MIN, MAX], "bandwidth" (bytes/s
per connection, 0 = unlimited), "max_conns" (0 = unlimited; over it: 503 and
close), "keepalive", "status" (null, or 429/503/404/... answered instead of
the file), "retry_after" (seconds, with status), "fail_times" (the status for
the first N requests of each path, then the file; null = always),
"reset_mid_body" (half the body, then a TCP RST)}.

GET /__reset on any host (not logged) restarts every host's per-path counts
(fail_times). A path is /ANYTHING_IMAGE where IMAGE is a file name in DIR (the harness
makes the names unique per URL, so output names never collide); a path whose
IMAGE is not in DIR is a 404.

Every event goes to the log as one JSON line with a CLOCK_MONOTONIC time (the
same clock as the tests' time.monotonic()): "open" and "close" of each
connection, "req" when a request head is read, "resp" when its response is
written (or cut). The harness reads it to count, per host, connections open
at once, requests, first-request times and gaps.

The process stops on SIGTERM, on SIGINT, and by itself after "lifetime" s.
"""
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time

# Idle keep-alive connections are closed after this long, like a real server.
KEEPALIVE_IDLE_S = 10.0
# Pacing granularity of the bandwidth cap.
TICK_S = 0.02
HEAD_MAX = 16 * 1024


class Log:
    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def event(self, host, conn, ev, **fields):
        record = {"t": round(time.monotonic(), 6), "host": host, "conn": conn, "ev": ev}
        record.update(fields)
        self.file.write(json.dumps(record, separators=(",", ":")) + "\n")


class Host:
    def __init__(self, spec, images, log, registry):
        self.spec = spec
        self.name = spec["name"]
        self.images = images
        self.log = log
        self.open_conns = 0
        self.conn_serial = 0
        self.path_counts = {}
        self.registry = registry  # every host, for /__reset
        registry.append(self)

    async def handle(self, reader, writer):
        self.conn_serial += 1
        conn = self.conn_serial
        self.open_conns += 1
        over_limit = self.spec.get("max_conns", 0) and self.open_conns > self.spec["max_conns"]
        self.log.event(self.name, conn, "open", open=self.open_conns)
        why = "eof"
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), KEEPALIVE_IDLE_S)
                except asyncio.TimeoutError:
                    why = "idle"
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                except asyncio.LimitOverrunError:
                    why = "head too large"
                    break
                keep = await self.respond(conn, head, writer, over_limit)
                if not keep:
                    why = "server close"
                    break
        except (ConnectionError, OSError):
            why = "peer reset"
        finally:
            self.open_conns -= 1
            self.log.event(self.name, conn, "close", why=why)
            try:
                writer.close()
            except Exception:
                pass

    async def respond(self, conn, head, writer, over_limit):
        """Answers one request; returns whether the connection stays open."""
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("?", "/")
        path = target.split("?", 1)[0]
        if path == "/__reset":
            # Control path (not logged): every host's per-path counts start
            # again, so the next run meets the same faults as the first.
            for host in self.registry:
                host.path_counts.clear()
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return False
        self.log.event(self.name, conn, "req", path=path, method=method)
        spec = self.spec
        keep = bool(spec.get("keepalive", True))
        lo, hi = spec.get("latency_ms", [0, 0])
        if hi > 0:
            await asyncio.sleep(random.uniform(lo, hi) / 1000.0)

        count = self.path_counts.get(path, 0) + 1
        self.path_counts[path] = count
        status, extra, body = 200, [], None
        fail_times = spec.get("fail_times")
        if over_limit:
            status, extra, keep = 503, ["Retry-After: 1"], False
        elif spec.get("status") and (fail_times is None or count <= fail_times):
            status = spec["status"]
            if spec.get("retry_after") is not None:
                extra.append(f"Retry-After: {spec['retry_after']}")
        else:
            name = path.rsplit("_", 1)[-1]
            body = self.images.get(name)
            if body is None:
                status = 404
        if body is None:
            body = f"{status} from {self.name}\n".encode()
            ctype = "text/plain"
        else:
            ctype = "image/png" if path.endswith(".png") else "image/jpeg"
        reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests",
                  503: "Service Unavailable"}.get(status, "Status")
        headers = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}",
                   f"Content-Length: {len(body)}",
                   "Connection: keep-alive" if keep else "Connection: close"] + extra
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        if method == "HEAD":
            body = b""
        if spec.get("reset_mid_body") and status == 200:
            await self.paced(writer, body[:len(body) // 2])
            self.log.event(self.name, conn, "resp", path=path, status=status,
                           bytes=len(body) // 2, cut=True)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        await self.paced(writer, body)
        self.log.event(self.name, conn, "resp", path=path, status=status, bytes=len(body))
        return keep

    async def paced(self, writer, body):
        rate = self.spec.get("bandwidth", 0)
        if not rate:
            writer.write(body)
            await writer.drain()
            return
        slice_len = max(1, int(rate * TICK_S))
        start = time.monotonic()
        sent = 0
        while sent < len(body):
            writer.write(body[sent:sent + slice_len])
            sent += slice_len
            await writer.drain()
            if sent >= len(body):
                break  # the client has it all: no wait after the last slice
            # Sleep to where `sent` bytes are due at `rate`, so drift does not add up.
            delay = start + min(sent, len(body)) / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


async def serve(config):
    log = Log(config["log"])
    images = {}
    for name in os.listdir(config["images"]):
        with open(os.path.join(config["images"], name), "rb") as f:
            images[name] = f.read()
    servers = []
    registry = []
    for spec in config["hosts"]:
        host = Host(spec, images, log, registry)
        servers.append(await asyncio.start_server(host.handle, spec["addr"], spec.get("port", 80),
                                                  reuse_address=True, backlog=512,
                                                  limit=HEAD_MAX))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(config.get("lifetime", 300), stop.set)
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
