#!/usr/bin/env python3
"""A run stopped while a finished item is on its way back from its worker:
the files on disk and the report agree (an item whose output was renamed
into place is reported ok, once; an item reported cancelled has no output).

A stop (a signal, or the --json reader gone) takes back the items no worker
has popped yet. It used to ask the worker queue whether the item's link was
linked, and a finished item's link is linked: into the run's done list,
where the worker puts it before waking the loop. Such an item, its output
already renamed into place, was reported cancelled (seen under Valgrind:
3 outputs on disk, ok=2). tests/unit/test_queue_remove.c holds the queue to
its contract; these cases provoke the moment in a real run, without relying
on timing:

  gate_readable  the loop thread is held on stderr (a pipe the case filled;
                 -v writes a line per item) while the one worker finishes
                 the items queued behind the first: their outputs appear on
                 disk while the loop cannot take them back. The --json reader
                 is gone, so the loop's next admission stops the run (exit
                 141) while those items sit in the done list. Every output
                 on disk must be an item reported ok, and the report's "images
                 ok" their count.
  gate_tar       the same with --output-format tar: the first tar's rows are
                 the held items and refused rows; a held item reported
                 cancelled would make that tar incomplete (not written) while
                 its other items were reported ok. The tar must be there,
                 holding exactly the items reported ok, and the second tar
                 (its rows cancelled) must not. (In tar output the worker
                 writes nothing: its end is seen as every thread of the
                 process asleep, harness.quiescent.)
  signal_held    SIGINT while the loop is held that way, --json read: the
                 plain and the --json report and the disk agree. (libuv runs
                 a signal's callback after the wake-ups of the same poll,
                 so this path is only exposed in the moment between a
                 worker linking its item and its wake-up; it is checked, not
                 provoked, and runs under Valgrind, which widens that moment.)

Run one case: test_stop_race.py NAME. Needs EDGEFETCH, FIXTURE and SAMPLES.
"""
import fcntl
import json
import os
import random
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Failure, Fixture, Workspace, check,  # noqa: E402
                     check_clean_exit, main_for, quiescent, tree)
from harness import Drain, fill, full_pipe  # noqa: E402
from pngutil import write_png  # noqa: E402

# big.png's CPU stage must outlast the two photos' downloads (a few ms on
# loopback): Canny on its noise takes about 0.2 s here, Sobel 0.08 s.
SLOW_CPU = ["--operator", "canny"]


def noise_png(width=2400, height=1800, seed=11):
    """An RGB noise PNG: its decode, operator and encode (of noise edges)
    take the one worker far longer than the small photos' downloads."""
    noise = random.Random(seed).randbytes(width * height * 3)
    rows = [noise[y * width * 3:(y + 1) * width * 3] for y in range(height)]
    return write_png(width, height, rows, channels=3)


def wait_for(what, predicate, proc, deadline_s=120):
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if proc.poll() is not None:
            raise Failure(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise Failure(f"no {what} within {deadline_s} s")
        time.sleep(0.02)


def outputs(out):
    return [n for n in tree(out) if not os.path.basename(n).startswith(".")] \
        if os.path.isdir(out) else []


def plain_lines(err, paths=None):
    """{url: status} from -v's item lines, and the report's "images ok";
    fills `paths` with {url: the output an ok line names}."""
    status = {}
    for line in err.splitlines():
        m = re.match(r"edgefetch: (?:line \d+: )?(ok|cancelled|FAILED|skipped) (\S+)"
                     r"(?: -> (\S+) \()?", line)
        if m:
            url = m.group(2).rstrip(":")
            check(url not in status, f"{url} reported twice: {err}")
            status[url] = m.group(1)
            if paths is not None and m.group(3):
                paths[url] = m.group(3)
    m = re.search(r"^  images ok +(\d+)$", err, re.M)
    check(m is not None, f"no report: {err}")
    return status, int(m.group(1))


def held_run(ws, server, extra, stdout):
    """Starts the run of the list big, small, small, stalled, stalled at
    -j 1 -w 1 with its stderr a full pipe; returns once the two small items'
    outputs exist while the loop thread is held on its first item line.
    (proc, the stderr drain, the list's URLs)."""
    ws.write("big.png", noise_png())
    held = PHOTOS[:2]
    for name in held:
        ws.photo(name, name)
    urls = [server.url("big.png")] + [server.url(n) for n in held] + \
        [server.url(f"{n}?delay=60000") for n in PHOTOS[2:4]]
    lst = ws.list_file(urls)
    read_fd, write_fd = full_pipe()
    args = [EDGEFETCH, "-v", "-j", "1", "-w", "1", *SLOW_CPU, "-i", lst, "-o", ws.out, *extra]
    proc = subprocess.Popen(args, stdout=stdout, stderr=write_fd)
    os.close(write_fd)
    drain = Drain(read_fd)
    # big.png is downloaded first and keeps the worker while the two photos
    # are downloaded and queued behind it (-j 1: one transfer at a time, the
    # stalled ones last). Its line (-v) then holds the loop thread, which can
    # take nothing back while the worker finishes the photos.
    wait_for("the held items' outputs (downloaded while big.png was on the worker?)",
             lambda: {os.path.splitext(n)[0] for n in outputs(ws.out)} >=
             {os.path.splitext(n)[0] for n in held}, proc)
    return proc, drain, urls


def finish_held(proc, drain):
    drain.start()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise Failure("the run did not end once its stderr was read")
    err = drain.text()
    check_clean_exit(err, "edgefetch")
    return proc.returncode, err


def test_gate_readable():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        # The --json reader is gone before the first line: the first item's
        # line fails to be written, and the loop's next admission stops the
        # run as on SIGTERM.
        gone_r, gone_w = os.pipe()
        os.close(gone_r)
        try:
            proc, drain, urls = held_run(ws, server, ["--json"], gone_w)
        finally:
            os.close(gone_w)
        rc, err = finish_held(proc, drain)
        check(rc == 141, f"exit {rc}, want 141: {err}")
        status, ok_count = plain_lines(err)
        files = outputs(ws.out)
        check(len(status) == len(urls), f"{len(status)} item lines for {len(urls)} URLs: {err}")
        named = {os.path.splitext(os.path.basename(u))[0]: s for u, s in status.items()}
        on_disk = {os.path.splitext(n)[0] for n in files}
        reported_ok = {n for n, s in named.items() if s == "ok"}
        check(on_disk == reported_ok,
              f"outputs {sorted(on_disk)}, items reported ok {sorted(reported_ok)}: {err}")
        check(ok_count == len(files) == 3, f"images ok {ok_count}, outputs {files}")
        check(all(s == "cancelled" for n, s in named.items() if n not in reported_ok), f"{named}")
        check(not any(os.path.basename(n).startswith(".") for n in tree(ws.out)),
              f"left {tree(ws.out)}")


def test_gate_tar():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("big.png", noise_png())
        held = PHOTOS[:2]
        for name in held:
            ws.photo(name, name)
        # Tar 00000 is rows 0-9,999: refused rows (reported as they are
        # taken, before any download), then big.png and the two photos on
        # its last rows; the stalled rows open 00001.
        refused = [f"ftp://127.0.0.1/{n}" for n in range(9997)]
        kept = [server.url("big.png")] + [server.url(n) for n in held]
        stalled = [server.url(f"{n}?delay=60000") for n in PHOTOS[2:4]]
        lst = ws.list_file(refused + kept + stalled)
        read_fd, write_fd = os.pipe()
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
        args = [EDGEFETCH, "-v", "--json", "-j", "1", "-w", "1", *SLOW_CPU, "--layout",
                "positional", "--output-format", "tar", "-i", lst, "-o", ws.out]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=write_fd)
        try:
            # The refused rows' lines, read as they come, both streams.
            failed_lines = 0
            tail = b""
            records = []
            reader = threading.Thread(
                target=lambda: records.extend(proc.stdout.readline() for _ in refused),
                daemon=True)
            reader.start()
            while failed_lines < len(refused):
                chunk = os.read(read_fd, 65536)
                check(chunk, f"stderr ended (exit {proc.poll()})")
                # Counted across the chunks' edges.
                failed_lines += (tail + chunk).count(b" FAILED ")
                tail = chunk[-7:]
            reader.join(60)
            check(len(records) == len(refused) and all(b'"failed"' in r for r in records),
                  f"{len(records)} records of {len(refused)} refused rows")
            # Then the --json reader goes and the stderr pipe is filled:
            # big.png's line (its download and CPU stage are still to come,
            # held rows) holds the loop thread, and the loop's next
            # admission stops the run, while the photos queued behind it
            # are finished by the worker (which then sleeps).
            proc.stdout.close()
            fill(write_fd)
            os.close(write_fd)
            quiescent(proc.pid)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        drain = Drain(read_fd)
        rc, err = finish_held(proc, drain)
        check(rc == 141, f"exit {rc}, want 141: {err}")
        paths = {}
        status, ok_count = plain_lines(err, paths)
        files = tree(ws.out)
        check(files == ["00000.tar"], f"the tree {files}: {err}")
        with tarfile.open(os.path.join(ws.out, "00000.tar")) as t:
            entries = {m.name: t.extractfile(m).read() for m in t.getmembers()}
        in_tar = sorted(json.loads(v)["url"] for k, v in entries.items() if k.endswith(".json"))
        check(len(entries) == 2 * len(in_tar), f"entries {sorted(entries)}")
        reported_ok = sorted(u for u, s in status.items() if s == "ok")
        check(in_tar == reported_ok == sorted(kept), f"in the tar {in_tar}, ok {reported_ok}")
        check(ok_count == len(kept), f"images ok {ok_count}")
        # -v names the entry in its tar, as --json does (not the positional
        # name, which a tar shard never writes).
        for url, path in paths.items():
            key = os.path.basename(path)
            check(os.path.dirname(path) == os.path.join(ws.out, "00000.tar") and key in entries,
                  f"{url}: -v says {path}")
        check(all(status.get(u) == "cancelled" for u in stalled), f"{status}")


def test_signal_held():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        proc, drain, urls = held_run(ws, server, ["--json"], subprocess.PIPE)
        proc.send_signal(signal.SIGINT)
        stdout = []
        reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)
        reader.start()
        rc, err = finish_held(proc, drain)
        reader.join(60)
        check(rc == 130, f"exit {rc}, want 130: {err}")
        objs = [json.loads(line) for line in stdout[0].decode().splitlines()]
        items, summary = objs[:-1], objs[-1]
        check(summary["type"] == "summary" and summary["signal"] == "SIGINT", f"{summary}")
        check(sorted(i["url"] for i in items) == sorted(urls), f"items {items}")
        status, ok_count = plain_lines(err)
        files = outputs(ws.out)
        json_ok = sorted(os.path.relpath(i["output"], ws.out) for i in items if i["status"] == "ok")
        plain_ok = sorted(u for u, s in status.items() if s == "ok")
        check(json_ok == sorted(files), f"--json ok {json_ok}, outputs {files}")
        check(plain_ok == sorted(i["url"] for i in items if i["status"] == "ok"),
              f"plain ok {plain_ok}, --json {items}")
        check(summary["ok"] == ok_count == len(files) >= 3, f"{summary}, images ok {ok_count}")
        check(summary["cancelled"] == len(urls) - len(files), f"{summary}")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
