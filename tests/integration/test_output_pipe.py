#!/usr/bin/env python3
"""--json into a reader that stops reading (issue 10, items 14 and 16).

closed_reader: the reader takes one line and closes its end (`| head -1`):
the run stops as on SIGTERM with exit 141, the report on stderr, no
temporary file left, and the process is not killed by SIGPIPE.
slow_reader: the reader pauses 12 s (`| less`): no transfer times out
(--timeout 5) because the loop never waits for stdout, and while the output
buffer is full no new transfer starts.
up_front_lines: lines made with no transfer running wait for a paused reader
at a cap instead of piling up in memory.

Run one case: test_output_pipe.py NAME.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, Failure, Fixture, Workspace, check, check_clean_exit,  # noqa: E402
                     main_for, read, tree)
from pngutil import read_gray_png, small_png  # noqa: E402


def items(ws, server, count, pad=0):
    ws.write("img.png", small_png())
    names = [f"s{i:05d}.png" for i in range(count)]
    tail = "?file=img.png" + (f"&pad={'p' * pad}" if pad else "")
    return names, [server.url(f"s/{name}{tail}") for name in names]


def test_closed_reader():
    """300 items at 30 ms each, -j 4; the reader reads one line and closes."""
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www, latency=30) as server:
        names, urls = items(ws, server, 300)
        reference = os.path.join(ws.tmp, "reference")
        one = subprocess.run([EDGEFETCH, "-q", "-o", reference, urls[0]], capture_output=True)
        check_clean_exit(one.stderr, "edgefetch")
        check(one.returncode == 0, f"reference: {one.stderr}")
        expected = read(os.path.join(reference, names[0]))
        server.reset()

        proc = subprocess.Popen([EDGEFETCH, "--json", "-j", "4", "-i", ws.list_file(urls), "-o",
                                 ws.out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(timeout=120)
        check(json.loads(first)["type"] == "item", f"first line {first!r}")
        check(proc.returncode != -13, "killed by SIGPIPE")
        check(proc.returncode == 141, f"exit {proc.returncode} (want 141): {err[-2000:]}")
        check("stopped by Broken pipe" in err and "edge maps in" in err,
              f"no report on stderr: {err[-2000:]}")
        check("writing the --json output: Broken pipe" in err, f"no reason: {err[-2000:]}")
        left = tree(ws.out)
        check(all(not n.startswith(".") and n.endswith(".png") for n in left),
              f"temporary files left: {[n for n in left if n.startswith('.')]}")
        for name in left:
            # Each output carries its own URL (tEXt Source): compare pixels.
            check(read_gray_png(read(os.path.join(ws.out, name))) == read_gray_png(expected),
                  f"{name} is not complete")
        requests = server.stats()["requests"]
        check(requests < len(urls), f"the run went on to all {requests} items")
        print(f"exit 141 after {requests} requests, {len(left)} outputs kept")


def test_slow_reader():
    """600 items with ~3 KB JSON lines, --timeout 5, -j 8; the reader reads
    one line, sleeps 12 s, then reads the rest: every item ok, and by the end
    of the pause the server had not seen every request (the gate held new
    transfers while the output buffer was full)."""
    count = 600
    with Workspace([]) as ws, Fixture(FIXTURE, ws.www, latency=20) as server, \
            tempfile.TemporaryFile() as err_file:
        names, urls = items(ws, server, count, pad=1500)
        proc = subprocess.Popen([EDGEFETCH, "--json", "-q", "-j", "8", "--timeout", "5",
                                 "--retries", "0", "-i", ws.list_file(urls), "-o", ws.out],
                                stdout=subprocess.PIPE, stderr=err_file)
        # The reader's own reads: readline's buffer holds more than the line,
        # so the rest is read through the same object (not communicate()).
        first = proc.stdout.readline()
        time.sleep(11)
        during = server.stats()["requests"]
        time.sleep(1)
        rest = proc.stdout.read()
        proc.wait(timeout=180)
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
        lines = []
        for number, line in enumerate((first + rest).decode().splitlines(), 1):
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise Failure(f"stdout line {number} is not JSON: {line[:300]!r}; "
                              f"exit {proc.returncode}; stderr {err[-1500:]}")
        failed = [obj for obj in lines[:-1] if obj["status"] != "ok"]
        check(not failed, f"{len(failed)} items failed behind a slow reader, e.g. "
                          f"{[(o['url'][-40:], o['error']) for o in failed[:3]]}")
        check(proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}")
        check(len(lines) == count + 1 and lines[-1]["ok"] == count, f"summary {lines[-1]}")
        check(tree(ws.out) == names, "outputs differ from the list")
        check(during < count,
              f"all {during} transfers started while the reader slept: nothing held them")
        print(f"{during} of {count} requests made during the 12 s pause; all ok")


def _refused_run(lst, pause_s):
    """Runs a list of refused URLs (all reported before any transfer) into a
    reader that pauses `pause_s` after the first line; returns the peak RSS
    in KiB seen at the end of the pause and the lines."""
    env = dict(os.environ)
    # ASan's quarantine would hold every freed line back: off, as test_load.
    quarantine_off = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), quarantine_off]))
    with tempfile.TemporaryDirectory(prefix="edgefetch-pipe-") as out:
        proc = subprocess.Popen([EDGEFETCH, "--json", "-q", "-i", lst, "-o", out],
                                stdout=subprocess.PIPE, env=env)
        first = proc.stdout.readline()
        time.sleep(pause_s)
        with open(f"/proc/{proc.pid}/status") as f:
            peak = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")][0]
        rest = proc.stdout.read()
        proc.wait(timeout=120)
    return proc.returncode, peak, (first + rest).splitlines()


def test_up_front_lines():
    """100,000 refused URLs are all reported before any transfer (~70 MiB of
    JSON) into a reader that pauses 4 s: what waits in memory is capped
    (OUTPUT_HARD_CAP, 16 MiB), so peak RSS stays within 32 MiB of the same
    run into a reader that keeps up, and every line arrives."""
    count = 100000
    with tempfile.TemporaryDirectory(prefix="edgefetch-pipe-") as tmp:
        lst = os.path.join(tmp, "refused.txt")
        with open(lst, "w") as f:
            for i in range(count):
                f.write(f"ftp://127.0.0.1/{i:07d}/{'q' * 300}.jpg\n")
        code, fast_kib, fast_lines = _refused_run(lst, 0)
        check(code == 1 and len(fast_lines) == count + 1, f"fast reader: exit {code}")
        code, slow_kib, slow_lines = _refused_run(lst, 4)
        urls = [json.loads(line).get("url") for line in slow_lines]
        check(code == 1 and len(slow_lines) == count + 1 and len(set(urls[:-1])) == count,
              f"slow reader: exit {code}, {len(slow_lines)} lines")
        check(slow_kib < fast_kib + 32 * 1024,
              f"peak RSS {slow_kib} KiB behind a paused reader, {fast_kib} KiB otherwise")
        print(f"peak RSS {fast_kib} KiB (reader keeps up), {slow_kib} KiB (reader paused)")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
