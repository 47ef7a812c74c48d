#!/usr/bin/env python3
"""One HTTP/2 connection per host, or more? (issue 11 item 5.) edgefetch over
an emulated long fat path, measured. Run as root:

    python3 tests/world/h2path.py --variant NAME=BINARY[,ENV=VALUE...] ... [--rounds 7]

The path (pathemu.c, a TUN forwarder in user space; this kernel has no
netem): the client is this script's own network namespace (unshare -n -m,
world.reenter; `lo` stays down), the server a second namespace pathemu
creates; each holds one TUN device, 127.20.0.1 (client) and 127.20.0.2
(server), point to point, with route_localnet so loopback-range addresses
travel over a device: no private or public address is used and no packet
can leave. Each direction: a 50 ms one-way delay (100 ms RTT), a 100 Mbit/s
rate cap, a 1,500,000-byte FIFO before it that drops at its tail (1,000
full packets, netem's default limit). The server: nginx (HTTPS, HTTP/2,
TLS 1.3) in the server namespace, `limit_rate 2m` per request (2 MiB/s),
the 12 sample photos. The client: edgefetch -j 12 on the 12 photos.

Each round runs every variant once, in an order rotated per round
(interleaved, so load on the machine spreads over all); figures are medians
over the rounds: the run's wall time, the download span (run start to
nginx's log of the last response sent), the connections nginx saw, the
packets the path dropped at its tail (server to client) during the run.
Results: a Markdown table on stdout and in --out.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from certs import make_certs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_ADDR = "127.20.0.1"
SERVER_ADDR = "127.20.0.2"


def _sysctl_localnet(dev):
    """Loopback-range addresses on a device (route_localnet), and no reverse
    path filter to second-guess them."""
    return ["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1",
            f"net.ipv4.conf.{dev}.route_localnet=1", "net.ipv4.conf.all.rp_filter=0",
            f"net.ipv4.conf.{dev}.rp_filter=0"]


class Path:
    """pathemu between this namespace and a server namespace of its own."""

    def __init__(self, pathemu, delay_ms=50, rate_bps=100_000_000, queue_bytes=1_500_000,
                 lifetime=1800):
        self.args = [pathemu, "efc0", "efs0", str(int(delay_ms * 1000)), str(int(rate_bps)),
                     str(int(queue_bytes))]
        self.lifetime = lifetime
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["timeout", "-k", "5", str(self.lifetime)] + self.args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     preexec_fn=world._die_with_parent())
        line = self.proc.stdout.readline().decode().split()
        world.check(line[:1] == ["ready"], f"pathemu did not start: {line}")
        self.pid = int(line[1])
        self.netns = f"/proc/{self.pid}/ns/net"
        for side, dev, addr, peer in ((False, "efc0", CLIENT_ADDR, SERVER_ADDR),
                                      (True, "efs0", SERVER_ADDR, CLIENT_ADDR)):
            for cmd in (["ip", "link", "set", dev, "up"],
                        ["ip", "addr", "add", f"{addr}/32", "peer", f"{peer}/32", "dev", dev],
                        _sysctl_localnet(dev)):
                subprocess.run(self.in_server(cmd) if side else cmd, check=True)
        return self

    def in_server(self, argv):
        return ["nsenter", f"--net={self.netns}"] + list(argv)

    def counters(self):
        """{direction: {counter: value}}, totals since the start."""
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        out = {}
        while True:
            words = self.proc.stdout.readline().decode().split()
            if not words or words == ["end"]:
                return out
            out[words[0]] = {words[i]: int(words[i + 1]) for i in range(1, len(words) - 1, 2)}

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_nginx(path, tmp, photos, rate="2m", lifetime=1800):
    """nginx in the server namespace, HTTPS + HTTP/2 on SERVER_ADDR:443,
    `limit_rate` per request; returns (proc, ca.pem, access log)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    make_certs(tmp, dns_names=(), ips=(SERVER_ADDR,), common_name=SERVER_ADDR)
    log = os.path.join(tmp, "access.log")
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(world.nginx_conf(tmp, f"""    log_format path '$msec $connection $connection_requests $server_protocol $status $body_bytes_sent $request_uri';
    access_log {log} path;
    types {{ image/jpeg jpg; }}
    keepalive_timeout 30s;
    server {{
        listen {SERVER_ADDR}:443 ssl http2;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        root {photos};
        location / {{ limit_rate {rate}; }}
    }}""", error_level="warn", worker_connections=1024))
    proc = subprocess.Popen(["timeout", "-k", "5", str(lifetime)]
                            + path.in_server([nginx, "-e", f"{tmp}/error.log", "-p", tmp, "-c", conf]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            preexec_fn=world._die_with_parent())
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((SERVER_ADDR, 443), timeout=1).close()
            break
        except OSError:
            world.check(proc.poll() is None and time.monotonic() < deadline,
                        "nginx did not start: " + open(f"{tmp}/error.log").read())
            time.sleep(0.1)
    return proc, os.path.join(tmp, "ca.pem"), log


def read_log(log, offset):
    """nginx's lines from byte `offset` on: [(msec, connection, protocol, status)]."""
    out = []
    with open(log) as f:
        f.seek(offset)
        for line in f:
            p = line.split()
            if len(p) == 7:
                out.append((float(p[0]), int(p[1]), p[3], int(p[4])))
    return out


def parse_variant(text):
    """NAME=BINARY[,ENV=VALUE...] -> (name, binary, {env})."""
    name, rest = text.split("=", 1)
    parts = rest.split(",")
    env = dict(p.split("=", 1) for p in parts[1:])
    return name, os.path.abspath(parts[0]), env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=BINARY[,ENV=VALUE...]; repeat")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--pathemu", default=os.path.join(ROOT, "build", "tests", "world",
                                                       "edgefetch-pathemu"))
    ap.add_argument("--queue-bytes", type=int, default=1_500_000,
                    help="the tail-drop queue of each direction")
    ap.add_argument("--extra", default="", help="more edgefetch arguments, space-separated")
    ap.add_argument("--out")
    args = ap.parse_args()
    if not world.in_namespace():
        if os.geteuid() != 0:
            print("h2path.py needs root (its network namespaces)", file=sys.stderr)
            return 2
        return world.reenter(timeout=3600)
    variants = [parse_variant(v) for v in args.variant]
    photos = os.path.join(ROOT, "samples", "photos")
    names = sorted(n for n in os.listdir(photos) if n.endswith(".jpg"))
    urls = [f"https://{SERVER_ADDR}/{n}" for n in names]
    tmp = tempfile.mkdtemp(prefix="edgefetch-h2path-")
    rows = {name: [] for name, _, _ in variants}
    try:
        with Path(os.path.abspath(args.pathemu), queue_bytes=args.queue_bytes) as path:
            nginx, ca, log = start_nginx(path, tmp, photos)
            try:
                for rnd in range(args.rounds):
                    k = rnd % len(variants)
                    for name, binary, env_extra in variants[k:] + variants[:k]:
                        out = tempfile.mkdtemp(prefix="out-", dir=tmp)
                        offset = os.path.getsize(log)
                        before = path.counters()
                        env = dict(os.environ)
                        env.update(env_extra)
                        cmd = ([binary, "-q", "-j", str(args.jobs), "--cacert", ca, "-o", out]
                               + args.extra.split() + urls)
                        wall_start = time.time()
                        start = time.monotonic()
                        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
                        wall = time.monotonic() - start
                        time.sleep(0.2)  # nginx's log line of the last response
                        after = path.counters()
                        lines = read_log(log, offset)
                        ok = proc.returncode == 0 and len(os.listdir(out)) == len(urls)
                        span = max((t for t, *_ in lines), default=wall_start) - wall_start
                        conns = len({c for _, c, _, _ in lines})
                        protos = sorted({p for _, _, p, _ in lines})
                        drops = (after["server_to_client"]["tail_drops"]
                                 - before["server_to_client"]["tail_drops"])
                        rows[name].append((wall, span, conns, drops, ok))
                        print(f"round {rnd + 1} {name}: {wall:.2f} s, downloads done at {span:.2f} s, "
                              f"{conns} connections {protos}, {drops} tail drops, "
                              f"{'ok' if ok else 'FAILED: ' + proc.stderr.decode()[-300:]}",
                              flush=True)
                        shutil.rmtree(out, ignore_errors=True)
            finally:
                nginx.terminate()
                nginx.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [f"Path: 100 ms RTT, 100 Mbit/s, {args.queue_bytes:,}-byte tail-drop queue each way (pathemu); "
             f"nginx HTTPS + HTTP/2, limit_rate 2m; the 12 sample photos at -j {args.jobs}"
             f"{' ' + args.extra if args.extra else ''}; {args.rounds} interleaved rounds, medians.",
             "", "| variant | wall s | downloads done s | connections | tail drops | runs ok |",
             "|---|---|---|---|---|---|"]
    for name, runs in rows.items():
        med = [statistics.median(r[i] for r in runs) for i in range(4)]
        lines.append(f"| {name} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:g} | {med[3]:g} | "
                     f"{sum(r[4] for r in runs)}/{len(runs)} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0 if all(r[4] for runs in rows.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
