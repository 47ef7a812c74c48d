#!/usr/bin/env python3
"""DNS (issue 12): a host's name is resolved once for all its URLs, not once
per URL: the easy handles of one curl multi share its DNS cache, and edgefetch
keeps entries for 300 s (libcurl's default is 60 s).

Inside a network and mount namespace of the test's own, /etc/resolv.conf
points at a small DNS server of this file on 127.0.0.1:53 that answers A
records for *.test with 127.0.0.1 and counts the queries: no query can leave
the machine, and no real name is ever asked.

Run one case: test_dns.py NAME.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import FIXTURE, Fixture, Workspace, check, in_netns, main_for, run_timed  # noqa: E402

TYPE_A = 1


class CountingDns:
    """Answers A for *.test with 127.0.0.1, nothing for other types (NODATA),
    NXDOMAIN for other names; counts queries by (name, type)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.counts = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stopping:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            reply = self._answer(query)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _answer(self, query):
        if len(query) < 12:
            return None
        qid, _, qdcount = struct.unpack(">HHH", query[:6])
        if qdcount != 1:
            return None
        labels, pos = [], 12
        while pos < len(query) and query[pos] != 0:
            length = query[pos]
            labels.append(query[pos + 1:pos + 1 + length].decode(errors="replace").lower())
            pos += 1 + length
        pos += 1
        qtype, _ = struct.unpack(">HH", query[pos:pos + 4])
        question = query[12:pos + 4]
        name = ".".join(labels)
        with self.lock:
            self.counts[(name, qtype)] = self.counts.get((name, qtype), 0) + 1
        known = name.endswith(".test")
        answers = 1 if known and qtype == TYPE_A else 0
        flags = 0x8180 | (0 if known else 3)  # response, RD, RA; NXDOMAIN for others
        reply = struct.pack(">HHHHHH", qid, flags, 1, answers, 0, 0) + question
        if answers:
            reply += struct.pack(">HHHIH", 0xC00C, TYPE_A, 1, 3600, 4) + socket.inet_aton("127.0.0.1")
        return reply

    def queries(self, name, qtype=TYPE_A):
        with self.lock:
            return self.counts.get((name, qtype), 0)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join()
        self.sock.close()


def test_name_resolved_once():
    """40 URLs on one name and 10 on another at -j 4, one request per
    connection: each name is looked up by at most the transfers that started
    before its first answer came (4), not once per URL."""
    if not in_netns(__file__, "name_resolved_once", tools=("unshare", "ip", "mount"),
                    unshare=("-n", "-m")):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".resolv.conf", delete=False) as conf:
        conf.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
    try:
        subprocess.run(["mount", "--bind", conf.name, "/etc/resolv.conf"], check=True)
        # One request per connection: each transfer opens a new connection,
        # so a reused connection cannot hide a lookup per URL.
        with CountingDns() as dns, Workspace() as ws, \
                Fixture(FIXTURE, ws.www, extra_args=["--max-requests-per-conn", "1"]) as server:
            names = [f"p{i}.jpg" for i in range(40)]
            others = [f"q{i}.jpg" for i in range(10)]
            for name in names + others:
                ws.photo(name)
            urls = [f"http://img.test:{server.port}/{n}" for n in names]
            urls += [f"http://other.test:{server.port}/{n}" for n in others]
            lst = ws.list_file(urls)
            rc, _, err, _ = run_timed(["-q", "-j", "4", "-i", lst, "-o", ws.out], timeout=120)
            check(rc == 0, f"exit {rc}: {err}")
            img, other = dns.queries("img.test"), dns.queries("other.test")
            print(f"A queries: img.test {img} for 40 URLs, other.test {other} for 10 URLs")
            check(1 <= img <= 4, f"img.test looked up {img} times for 40 URLs")
            check(1 <= other <= 4, f"other.test looked up {other} times for 10 URLs")
            ws.check_tree(sorted(n[:-4] + ".png" for n in names + others))
    finally:
        subprocess.run(["umount", "/etc/resolv.conf"], check=False)
        os.unlink(conf.name)


if __name__ == "__main__":
    sys.exit(main_for(globals()))
