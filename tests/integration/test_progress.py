#!/usr/bin/env python3
"""The progress line on a terminal (issue 15), driven under script(1) as
test_batch.py progress_tty does: at 70 columns the important fields come
first and none is cut; bytes never go back after a retry and the rate stays
sane; after SIGINT the items are counted as cancelled, not done; the ETA is
by bytes when every transfer in flight has a Content-Length, by items
otherwise, and says which.

Run one case: test_progress.py NAME. Needs EDGEFETCH, FIXTURE, SAMPLES.
"""
import os
import random
import re
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, PHOTOS, Fixture, Workspace, check, main_for, read,  # noqa: E402
                     run, screen)

UNIT = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
FIELDS = [
    ("done", r"\d+/\d+ done"),
    ("failed", r"\d+ failed"),
    ("cancelled", r"\d+ cancelled"),
    ("rate", r"[\d.]+ (?:B|kB|MB|GB)/s"),
    ("eta", r"ETA (?:--|\d+:\d\d(?::\d\d)? by (?:bytes|items))|took \d+:\d\d(?::\d\d)?"),
    ("bytes", r"[\d.]+ (?:B|kB|MB|GB)"),
    ("skipped", r"\d+ skipped"),
    ("dl", r"dl \d+, \d+ waiting"),
    ("cpu", r"cpu \d+ queued, \d+ busy"),
]


def fields_of(line):
    """The fields of one drawn line, by name, checking that each is whole
    and that they come in the order of importance."""
    names = []
    values = {}
    for text in line.split(" | "):
        for name, pattern in FIELDS:
            if re.fullmatch(pattern, text):
                names.append(name)
                values[name] = text
                break
        else:
            raise AssertionError(f"a cut or unknown field {text!r} in {line!r}")
    order = [name for name, _ in FIELDS]
    check(names == sorted(names, key=order.index), f"fields out of order: {line!r}")
    check(names[:2] == ["done", "failed"], f"done/total and failures first: {line!r}")
    return values


def drawn(raw):
    """Every progress line drawn: the text between a \\r and the ESC[K."""
    text = raw.decode(errors="replace")
    return [m.group(1) for m in re.finditer(r"\r([^\r\n\033]*?\bdone\b[^\r\n\033]*)\033\[K", text)]


def under_script(ws, shell_cmd, timeout=180):
    typescript = os.path.join(ws.tmp, "typescript")
    proc = subprocess.run(["script", "-q", "-e", "-c", shell_cmd, typescript],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return proc.returncode, read(typescript)


def amount(text):
    number, unit = text.split()[:2]
    return float(number) * UNIT[unit.replace("/s", "")]


def test_narrow_terminal():
    """At 70 columns every drawn line fits in 69, holds only whole fields,
    and keeps done/total, failures, rate and ETA (they fit in 70)."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="200") as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS] + [server.url("missing.jpg")])
        rc, raw = under_script(ws, f"stty cols 70; exec {EDGEFETCH} -i {lst} -o {ws.out} -j 2")
        check(rc == 1, f"exit {rc}")
        lines = drawn(raw)
        check(len(lines) >= 3, f"{len(lines)} lines drawn: {raw[:300]!r}")
        for line in lines:
            check(len(line) <= 69, f"{len(line)} columns: {line!r}")
            values = fields_of(line)
            for name in ("done", "failed", "rate", "eta"):
                check(name in values, f"{name} missing at 70 columns: {line!r}")
        n = len(PHOTOS) + 1
        check(lines[-1].startswith(f"{n}/{n} done | 1 failed | ") and "took" in lines[-1], lines[-1])
        # Wide: everything.
        rc, raw = under_script(ws, f"stty cols 200; exec {EDGEFETCH} -i {lst} -o {ws.out} --force")
        check(set(fields_of(drawn(raw)[-1])) == {n for n, _ in FIELDS} - {"cancelled"},
              f"at 200 columns: {drawn(raw)[-1]!r}")


def test_retry_bytes():
    """A body cut off half way and fetched again: the bytes shown never go
    down, and no rate is absurd (the old unsigned difference gave 27 EB/s)."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, bandwidth=1000000) as server:
        rng = random.Random(7)
        with open(os.path.join(ws.www, "big.bin"), "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(1500000)))
        url = server.url("big.bin?fail_times=1&short=900000")
        rc, raw = under_script(ws, f"stty cols 200; exec {EDGEFETCH} -o {ws.out} "
                                   f"--retry-delay 0.1 {shlex.quote(url)}")
        check(rc == 1, f"exit {rc} (the body is not an image)")
        check(server.stats()["per_path"].get("/big.bin") == 2, f"{server.stats()['per_path']}")
        lines = drawn(raw)
        shown = [amount(fields_of(line)["bytes"]) for line in lines]
        check(max(shown) >= 900000, f"the cut attempt never showed: {shown}")
        check(all(b >= a for a, b in zip(shown, shown[1:])), f"bytes went back: {shown}")
        rates = [amount(fields_of(line)["rate"]) for line in lines]
        check(max(rates) < 50e6, f"a rate of {max(rates):.0f} B/s over a 1 MB/s link: {lines}")


def test_interrupted():
    """SIGINT half way: the last line counts the cancelled items apart and
    does not call them done."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="1000") as server:
        urls = [server.url(f"p{i}.jpg?file={PHOTOS[i % len(PHOTOS)]}") for i in range(20)]
        lst = ws.list_file(urls)
        cmd = (f"stty cols 200; {EDGEFETCH} -i {lst} -o {ws.out} -j 2 & pid=$!; "
               f"sleep 2.5; kill -INT $pid; wait $pid")
        rc, raw = under_script(ws, cmd)
        check(rc == 130, f"exit {rc}")
        last = fields_of(drawn(raw)[-1])
        done, total = map(int, last["done"].split()[0].split("/"))
        cancelled = int(last["cancelled"].split()[0])
        check(total == 20 and cancelled > 0 and done + cancelled == 20 and done < 20,
              f"after SIGINT: {drawn(raw)[-1]!r}")


def test_eta_by_bytes():
    """One large file with a Content-Length: the ETA is by bytes and counts
    the seconds its bytes still need (not the near zero the items done so
    far suggest); chunked (no size): by items, never by bytes."""
    with Workspace(PHOTOS[:3]) as ws, Fixture(FIXTURE, ws.www, bandwidth=500000) as server:
        rng = random.Random(3)
        with open(os.path.join(ws.www, "big.bin"), "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(2500000)))
        small = [server.url(n) for n in PHOTOS[:3]]
        lst = ws.list_file(small + [server.url("big.bin")])
        rc, raw = under_script(ws, f"stty cols 200; exec {EDGEFETCH} -i {lst} -o {ws.out} -j 4")
        check(rc == 1, f"exit {rc}")
        lines = [fields_of(line) for line in drawn(raw)]
        by_bytes = [v for v in lines if v["eta"].endswith("by bytes") and v["done"].startswith("3/4")]
        check(by_bytes, f"no ETA by bytes with only big.bin left: {[v['eta'] for v in lines]}")
        seconds = [int(v["eta"].split()[1].split(":")[0]) * 60 + int(v["eta"].split()[1].split(":")[1])
                   for v in by_bytes]
        check(max(seconds) >= 2, f"ETA by bytes for 2.5 MB at 0.5 MB/s: {seconds}")
        lst = ws.list_file(small + [server.url("big.bin?chunked=1")], name="chunked.txt")
        rc, raw = under_script(ws, f"stty cols 200; exec {EDGEFETCH} -i {lst} -o {ws.out} -j 4 "
                                   f"--force")
        etas = [fields_of(line)["eta"] for line in drawn(raw)]
        check(not any(e.endswith("by bytes") for e in etas), f"by bytes without sizes: {etas}")
        check(any(e.endswith("by items") for e in etas), f"no ETA by items: {etas}")


def test_progress_tty():
    """Under a pseudo-terminal the progress line updates in place and ends
    with the final counts; off when stderr is not a terminal."""
    with Workspace(PHOTOS) as ws, Fixture(FIXTURE, ws.www, latency="300") as server:
        lst = ws.list_file([server.url(n) for n in PHOTOS] + [server.url("missing.jpg")])
        typescript = os.path.join(ws.tmp, "typescript")
        cmd = f"stty cols 200; exec {EDGEFETCH} -i {lst} -o {ws.out} -j 3"
        proc = subprocess.run(["script", "-q", "-e", "-c", cmd, typescript],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        check(proc.returncode == 1, f"script: exit {proc.returncode} {proc.stderr}")
        raw = read(typescript)
        updates = raw.count(b"\r") - raw.count(b"\r\n")
        check(updates >= 3, f"only {updates} progress updates in {raw[:400]!r}")
        lines = screen(raw)
        final = [line for line in lines if " done | " in line]
        n = len(PHOTOS) + 1
        check(len(final) == 1, f"want one progress line on the final screen, got {final}")
        check(final[0].startswith(f"{n}/{n} done | 1 failed | ") and
              final[0].endswith(" | 0 skipped | dl 0, 0 waiting | cpu 0 queued, 0 busy"),
              f"final line: {final[0]!r}")
        check("took" in final[0], final[0])
        check(any("FAILED" in line and "missing.jpg" in line for line in lines), "FAILED line lost")
        check(any("images ok" in line for line in lines), "no report")
        # Not a terminal: no progress; --no-progress on one: none either.
        shutil.rmtree(ws.out)
        rc, _, err = run(["-i", lst, "-o", ws.out])
        check("\r" not in err and " done | " not in err, "progress written to a pipe")
        rc, _, err = run(["--progress", "-i", lst, "-o", ws.out, "--force"])
        check("\r" in err and f"{n}/{n} done" in err, "--progress not honoured on a pipe")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
