"""What the world's servers saw, per host: connections and requests with
their times, from hosts_server.py's log and nginx's access log (tests/world)."""
import json
import os
import time


def max_overlap(intervals):
    """Most intervals (start, end) open at one instant; an end at t closes before a start at t."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda p: (p[0], p[1]))
    peak = now = 0
    for _, delta in points:
        now += delta
        peak = max(peak, now)
    return peak


class HostTraffic:
    def __init__(self, name):
        self.name = name
        self.conn_open = {}   # conn -> t
        self.conn_close = {}  # conn -> t
        self.requests = []    # (t, path, conn)
        self.responses = []   # (t, path, status, conn)

    @property
    def connections(self):
        return len(self.conn_open)

    def max_open_connections(self, end=None):
        end = end if end is not None else float("inf")
        return max_overlap([(t, self.conn_close.get(c, end)) for c, t in self.conn_open.items()])

    def max_requests_in_flight(self):
        """Most requests between their head read and their response's last byte."""
        intervals = []
        pending = {}
        for t, path, conn in self.requests:
            pending.setdefault(conn, []).append(t)
        for t, path, status, conn in self.responses:
            if pending.get(conn):
                intervals.append((pending[conn].pop(0), t))
        for conn, left in pending.items():
            for t in left:
                intervals.append((t, self.conn_close.get(conn, float("inf"))))
        return max_overlap(intervals)

    def first_request(self):
        return min((t for t, _, _ in self.requests), default=None)

    def request_times(self, path=None):
        return sorted(t for t, p, _ in self.requests if path is None or p == path)

    def paths(self):
        return sorted({p for _, p, _ in self.requests})


class Traffic:
    def __init__(self, world, since=None):
        self.world = world
        self.since = since if since is not None else float("-inf")
        self.hosts = {}
        try:
            with open(world.http_log) as f:
                lines = f.readlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            if not line.endswith("\n"):
                break  # being written
            e = json.loads(line)
            if e["t"] < self.since:
                continue
            h = self.hosts.setdefault(e["host"], HostTraffic(e["host"]))
            if e["ev"] == "open":
                h.conn_open[e["conn"]] = e["t"]
            elif e["ev"] == "close":
                h.conn_close[e["conn"]] = e["t"]
            elif e["ev"] == "req":
                h.requests.append((e["t"], e["path"], e["conn"]))
            elif e["ev"] == "resp":
                h.responses.append((e["t"], e["path"], e["status"], e["conn"]))
        self.h2 = self._nginx()

    def _nginx(self):
        """{server name: HostTraffic} from nginx's access log; nginx writes
        wall-clock times, turned to CLOCK_MONOTONIC here."""
        path = getattr(self.world, "nginx_log", None)
        hosts = {}
        if not path or not os.path.exists(path):
            return hosts
        offset = time.monotonic() - time.time()
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 8:
                    continue
                msec, name, conn, _, proto, status, _, uri = parts
                h = hosts.setdefault(name, HostTraffic(name))
                t = float(msec) + offset
                if t < self.since:
                    continue
                # nginx logs requests only: a connection spans at least its
                # first to its last request, so overlaps found are real.
                h.conn_open.setdefault(int(conn), t)
                h.conn_close[int(conn)] = t
                h.requests.append((t, uri, int(conn)))
                h.responses.append((t, uri, int(status), int(conn)))
                h.protocols = getattr(h, "protocols", set()) | {proto}
        return hosts

    def all_closed(self):
        return all(len(h.conn_close) == len(h.conn_open) for h in self.hosts.values())

    def host(self, host):
        name = getattr(host, "name", host)
        return self.hosts.get(name) or self.h2.get(name) or HostTraffic(name)
