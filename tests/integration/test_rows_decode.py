"""A JPEG decoded as rows that the fused pass reads (imaging/rows.c, issue
16) fails as the whole image's decode does: a photo cut mid-scan, one with a
cut segment where its end-of-image marker was (every row decodes; only
reading on to the end of the file sees it), one with a marker mid-scan. Each
through the real binary with sobel (the rows, on one worker and in
--sequential mode) and with canny (which decodes the whole image first, as
every decode did before): the same status and error (kind, stage, message),
and no file at all in the output folder, neither under the final name nor a
temporary one, though the encode had begun. The server is the fixture on
127.0.0.1.

    test_rows_decode.py CASE   (meson runs each case as rows_decode_CASE)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, PHOTOS, SAMPLES, Fixture, Workspace, check,  # noqa: E402
                     items_of, main_for, read, run)


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


if __name__ == "__main__":
    sys.exit(main_for(globals()))
