#!/usr/bin/env python3
"""The cost of a long list in a shard process (issue 13 goals).

Generates lists of N lines on the fly into a temporary file under /tmp
(deleted after), URLs of about 60 bytes over 977 hosts, all distinct, and
measures with /usr/bin/time -v (peak RSS, user+system CPU, wall):

  reader     edgefetch-list-bench --read-only: io's streaming reader alone;
  shard      edgefetch-list-bench --shard 0/100000: read, FNV-1a-32 of every
             row, other shards' rows dropped, this shard's fingerprinted
             (the goal: <= 1 s per 10 M lines, flat RSS);
  all kept   edgefetch-list-bench with no shard: every row in the
             fingerprint set (bytes per URL of the set);
  edgefetch  edgefetch --dry-run --shard 0/100000 -i LIST -o DIR: the whole
             program's list side (no request is sent by --dry-run), with the
             readable layout (the whole list held) and --layout positional
             (other shards' rows dropped as they are read);
  stream     a real run, no --dry-run: edgefetch -s --layout positional
             --shard 0/100000 --no-fsync -i LIST over a list of
             http://127.0.0.1:PORT/... URLs, PORT a 404 server of this
             script's: the list streamed into the run, the ~100 kept rows
             fetched (404s);
  kept       bytes per kept row: the same list with --shard 0/10 (10% kept)
             against --shard 0/100000; every 1000th row is an http URL, the
             rest ftp:// rows refused before any I/O, each still an item
             (fingerprinted, queued, checked, reported), so that a million
             kept rows take seconds, not a million requests.

Usage: list_bench.py [--build DIR] [--sizes 1000000,2000000] [--skip-edgefetch]
                     [--only reader,shard,all,readable,positional,stream,kept]
Timings are noisy on a shared machine; RSS is not. Not a test: no pass/fail.
"""
import argparse
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write_list(path, lines):
    # Written in blocks: the generator must not be what is measured.
    with open(path, "w") as f:
        block = []
        for i in range(lines):
            block.append(f"https://img{i % 977}.example.org/p/{i:09d}/photo-{(i * 7919) % 1000003}.jpg\n")
            if len(block) == 65536:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))


def write_local_list(path, lines, port, http_every):
    """Rows for real runs: every `http_every`th an http URL on 127.0.0.1 (the
    404 server), the rest ftp:// (refused before any I/O). No DNS, no other
    host."""
    with open(path, "w") as f:
        block = []
        for i in range(lines):
            if i % http_every == 0:
                block.append(f"http://127.0.0.1:{port}/p/{i:09d}/photo.jpg\n")
            else:
                block.append(f"ftp://127.0.0.1/p/{i:09d}/photo-{(i * 7919) % 1000003}.jpg\n")
            if len(block) == 65536:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))


class NotFound(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def measured(argv):
    proc = subprocess.run(["/usr/bin/time", "-v"] + argv, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {"rss_mib": rss / 1024, "cpu_s": user + system, "wall_s": seconds, "stdout": proc.stdout}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--sizes", default="1000000,2000000")
    parser.add_argument("--skip-edgefetch", action="store_true")
    parser.add_argument("--only", default="reader,shard,all,readable,positional")
    args = parser.parse_args()
    bench = os.path.join(args.build, "tests", "bench", "edgefetch-list-bench")
    edgefetch = os.path.join(args.build, "cmd", "edgefetch")
    sizes = [int(s) for s in args.sizes.split(",")]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    print("| lines | what | peak RSS MiB | CPU s | wall s | CPU s per 10 M lines | note |")
    print("|---:|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="edgefetch-list-bench-") as tmp:
        for lines in sizes:
            path = os.path.join(tmp, "list.txt")
            write_list(path, lines)
            dry = [edgefetch, "--dry-run", "-q", "--no-progress", "--shard", "0/100000", "-i", path,
                   "-o", os.path.join(tmp, "out")]
            runs = [
                ("reader", "reader", [bench, "--read-only", path]),
                ("shard", "shard 0/100000", [bench, "--shard", "0/100000", path]),
                ("all", "all kept", [bench, path]),
                ("readable", "edgefetch --dry-run --shard 0/100000", dry),
                ("positional", "edgefetch --dry-run --shard 0/100000 --layout positional",
                 dry + ["--layout", "positional"]),
            ]
            wanted = set(args.only.split(","))
            if args.skip_edgefetch:
                wanted -= {"readable", "positional"}
            for key, what, argv in runs:
                if key not in wanted:
                    continue
                m = measured(argv)
                note = ""
                if argv[0] == bench:
                    head, row = m["stdout"].strip().splitlines()
                    fields = dict(zip(head.split(","), row.split(",")))
                    if int(fields["kept"]) > 0 and what == "all kept":
                        note = f"set {int(fields['set_bytes']) / int(fields['kept']):.1f} B/URL"
                per10m = m["cpu_s"] * 10_000_000 / lines
                print(f"| {lines:,} | {what} | {m['rss_mib']:.1f} | {m['cpu_s']:.2f} | "
                      f"{m['wall_s']:.2f} | {per10m:.2f} | {note} |", flush=True)
            os.unlink(path)
            if not wanted & {"stream", "kept"}:
                continue
            real = [edgefetch, "-s", "--no-fsync", "--layout", "positional", "-i", path,
                    "-o", os.path.join(tmp, "out")]
            base = None
            for key, what, shard, every in (
                    ("stream", "edgefetch --shard 0/100000, real run (all http, 404s)",
                     "0/100000", 1),
                    ("kept", "edgefetch --shard 0/10, real run (1 in 1000 http)", "0/10", 1000)):
                if key not in wanted and not (key == "stream" and "kept" in wanted):
                    continue
                write_local_list(path, lines, port, every)
                m = measured(real + ["--shard", shard])
                os.unlink(path)
                note = "streamed"
                if key == "stream":
                    base = m
                elif base is not None:
                    kept = lines // 10
                    extra = (m["rss_mib"] - base["rss_mib"]) * 1024 * 1024
                    note = f"~{kept:,} kept: {extra / kept:.1f} B per kept row over 0/100000"
                per10m = m["cpu_s"] * 10_000_000 / lines
                print(f"| {lines:,} | {what} | {m['rss_mib']:.1f} | {m['cpu_s']:.2f} | "
                      f"{m['wall_s']:.2f} | {per10m:.2f} | {note} |", flush=True)


if __name__ == "__main__":
    main()
