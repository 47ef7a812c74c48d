"""A JPEG decoded as rows that the fused pass reads (imaging/rows.c, issue
16) fails as the whole image's decode does: a photo cut mid-scan, one with a
cut segment where its end-of-image marker was (every row decodes; only
reading on to the end of the file sees it), one with a marker mid-scan. Each
through the real binary with sobel (the rows, on one worker and in
--sequential mode) and with canny (which decodes the whole image first, as
every decode did before): the same status and error (kind, stage, message),
and no file at all in the output folder, neither under the final name nor a
temporary one, though the encode had begun. And a signal while the rows
are decoded: a 9 MP 4:4:4 JPEG of noise (made by tests/opencv's
edgefetch-jpeg-make), whose decode is most of the pass, gets SIGTERM a third
of the way into the decode a run without the signal measured: the item is
cancelled at the decode stage as a whole-image decode is ("cancelled by
signal while decoding"), exit 143, nothing written. The server is the
fixture on 127.0.0.1.

    test_rows_decode.py CASE   (meson runs each case as rows_decode_CASE)
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FAST_RETRY, FIXTURE, PHOTOS, SAMPLES, Failure, Fixture,  # noqa: E402
                     Workspace, check, check_clean_exit, items_of, main_for, read, run,
                     wait_body_sent)

# Beside the binary under test: build/cmd/edgefetch, build/tests/opencv/.
JPEG_MAKE = os.path.join(os.path.dirname(os.path.dirname(EDGEFETCH or ".")), "tests", "opencv",
                         "edgefetch-jpeg-make")
NOISE_SIDE = 3000
TRIES = 6


def broken_photos():
    photo = read(os.path.join(SAMPLES, PHOTOS[0]))
    check(photo[-2:] == b"\xff\xd9", "the sample does not end with its EOI")
    scan = photo.find(b"\xff\xda")
    mid = (scan + len(photo)) // 2
    marker = bytearray(photo)
    marker[mid:mid + 2] = b"\xff\xd9"
    return {
        "cut.jpg": photo[:mid],
        "end.jpg": photo[:-2] + b"\xff\xfe\x00\x10",
        "marker.jpg": bytes(marker),
    }


def test_failures_as_whole():
    files = broken_photos()
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name, data in files.items():
            ws.write(name, data)
        urls = [server.url(n) for n in files]
        lst = ws.list_file(urls)
        results = {}
        for label, args in (("canny", ["--operator", "canny", "-w", "1"]),
                            ("sobel -w 1", ["--operator", "sobel", "-w", "1"]),
                            ("sobel --sequential", ["--operator", "sobel", "--sequential"]),
                            ("scharr level 0", ["--operator", "scharr", "--png-level", "0",
                                                "-w", "1"])):
            rc, out, err = run(["--json", "-i", lst, "-o", ws.out] + args + FAST_RETRY)
            check(rc == 1, f"{label}: exit {rc}: {err}")
            items, _ = items_of(out)
            results[label] = {u: (items[u]["status"], items[u].get("error")) for u in urls}
            ws.check_tree([])
        whole = results["canny"]
        for url, (status, error) in whole.items():
            check(status == "failed" and error["stage"] == "decode", f"canny {url}: {error}")
        check(whole[urls[0]][1]["kind"] == "truncated", f"{whole}")
        check(whole[urls[1]][1]["kind"] == "truncated", f"{whole}")
        check(whole[urls[2]][1]["kind"] == "corrupt", f"{whole}")
        for label, got in results.items():
            check(got == whole, f"{label}:\n  got   {got}\n  canny {whole}")


def test_good_photo_written():
    """The control: the same photo whole is written, under its name."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.photo("good.jpg")
        rc, out, err = run(["--json", "-o", ws.out, "-w", "1", server.url("good.jpg")]
                           + FAST_RETRY)
        check(rc == 0, f"exit {rc}: {err}")
        items, _ = items_of(out)
        check(list(items.values())[0]["status"] == "ok", f"{items}")
        check(len(os.listdir(ws.out)) == 1, f"{os.listdir(ws.out)}")


def noise_jpeg(ws):
    raw = os.path.join(ws.tmp, "noise.rgb")
    with open(raw, "wb") as f:
        f.write(random_bytes(NOISE_SIDE * NOISE_SIDE * 3))
    out = os.path.join(ws.www, "noise.jpg")
    subprocess.run([JPEG_MAKE, "ycc", str(NOISE_SIDE), str(NOISE_SIDE), raw, out], check=True,
                   timeout=120)
    os.unlink(raw)


def random_bytes(count):
    """Noise that JPEG cannot compress much (deterministic)."""
    import random
    return random.Random(16).randbytes(count)


def signalled(ws, server, url, delay, attempt):
    sent_before = server.stats()["bytes_sent"]
    urls = ws.list_file([url], name=f"try{attempt}.txt")
    proc = subprocess.Popen([EDGEFETCH, "--json", "-i", urls, "-o", ws.out, "-w", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_body_sent(server, proc, sent_before, interval_s=0.002)
        time.sleep(delay)
        if proc.poll() is not None:
            out, err = proc.communicate()
            return None, [], err.decode(errors="replace")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check_clean_exit(err, "edgefetch")
    items = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return proc.returncode, [i for i in items if i.get("type") == "item"], err.decode(
        errors="replace")


def test_sigterm_mid_rows():
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        noise_jpeg(ws)
        url = server.url("noise.jpg")
        rc, out, err = run(["--json", "-o", ws.out, "-w", "1", url])
        check(rc == 0, f"exit {rc}: {err}")
        items, _ = items_of(out)
        times = items[url]["times_ms"]
        print(f"without a signal: {times}")
        check(times["decode"] > times["operator"] + times["encode_write"],
              f"the decode is not most of the pass here: {times}")
        for name in os.listdir(ws.out):
            os.unlink(os.path.join(ws.out, name))
        # The signal's moment, as a share of the decode's time after the
        # server sent the body: earlier when the item ended before it, later
        # when it came before the decode began (a slow build: the body still
        # on its way to the worker). Either miss is a stop still done right.
        share = 0.3
        for attempt in range(TRIES):
            delay = times["decode"] * share / 1000
            code, items, err = signalled(ws, server, url, delay, attempt)
            print(f"try {attempt + 1}: signal {delay:.3f} s after the body, exit {code}")
            if code is None:
                share *= 0.6  # the item ended before the signal: earlier
                continue
            check(code == 143, f"exit {code}: {err}")
            ws.check_tree([])
            check(len(items) == 1 and items[0]["status"] == "cancelled", f"{items}")
            if items[0]["times_ms"]["decode"] == 0:
                # Stopped before its decode (waiting for a worker or for
                # memory): said so, not "while decoding".
                message = items[0]["error"]["message"]
                check(message.startswith("cancelled by signal") and "decoding" not in message,
                      f"{items}")
                share *= 1.8  # before the decode began: later
                continue
            check(items[0]["error"] == {
                "kind": "cancelled", "stage": "decode",
                "message": "cancelled by signal while decoding"}, f"{items}")
            return
        raise Failure(f"the signal never came during the decode in {TRIES} tries")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
