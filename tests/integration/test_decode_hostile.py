"""Hostile images through the real binary (issue 10 items 2, 4, 20, 21): the
PNG inflate bomb, bad CRCs and Adler-32, palettes shorter than their indices,
progressive JPEGs with too many scans. Every file is made here; the server is
the fixture on 127.0.0.1.

    test_decode_hostile.py CASE   (meson runs each case as decode_hostile_CASE)
"""
import os
import shutil
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (FAST_RETRY, FIXTURE, SAMPLES, Fixture, Workspace, check, expect_failed,  # noqa: E402
                     main_for, per_path, read, run_measured, run_timed)
from pngutil import read_gray_png  # noqa: E402


SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data, crc_flip=0):
    crc = zlib.crc32(kind + data) ^ crc_flip
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def ihdr(width, height, depth, color_type):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))


def inflate_bomb(extra):
    """IHDR 1x1 gray; one IDAT whose stream holds the row and then `extra`
    bytes of zeros (about 1000:1)."""
    stream = zlib.compressobj(9)
    data = stream.compress(b"\0\x80")
    block = b"\0" * (1 << 20)
    for _ in range(extra // len(block)):
        data += stream.compress(block)
    data += stream.flush()
    return SIGNATURE + ihdr(1, 1, 8, 0) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def gray_png(width, height, **damage):
    raw = b"".join(b"\0" + bytes((x * 9 + y * 5) & 255 for x in range(width))
                   for y in range(height))
    stream = zlib.compress(raw)
    if damage.get("adler"):
        stream = stream[:-1] + bytes([stream[-1] ^ 1])
    return (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0),
                              damage.get("ihdr_crc", 0))
            + chunk(b"IDAT", stream, damage.get("idat_crc", 0)) + chunk(b"IEND", b""))


def palette_png(width, height, depth, palette):
    per = 8 // depth
    raw = b""
    for y in range(height):
        row = bytearray((width * depth + 7) // 8)
        for x in range(width):
            index = (x // 3 + y // 2) % (1 << depth)
            row[x // per] |= index << (8 - depth * (x % per + 1))
        raw += b"\0" + bytes(row)
    return (SIGNATURE + ihdr(width, height, depth, 3) + chunk(b"PLTE", bytes(palette))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_png_bombs():
    """Two inflate bombs at once (-w 2) are refused with bounded memory; bad
    IHDR and IDAT CRCs and a bad Adler-32 are refused as corrupt."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        bomb = inflate_bomb(256 << 20)
        check(len(bomb) < 512 << 10, f"the bomb is {len(bomb)} bytes")
        files = {
            "bomb1.png": (bomb, "Too much image data"),
            "bomb2.png": (bomb, "Too much image data"),
            "ihdr.png": (gray_png(16, 16, ihdr_crc=1), "IHDR: CRC error"),
            "idat.png": (gray_png(16, 16, idat_crc=0x100), "IDAT: CRC error"),
            "adler.png": (gray_png(16, 16, adler=True), "incorrect data check"),
        }
        names = list(files)
        for name in names:
            ws.write(name, files[name][0])
        ws.write("good.png", gray_png(16, 16))
        urls = [server.url(n) for n in names] + [server.url("good.png")]
        rc, _, err, _, peak_mib = run_measured(["-i", ws.list_file(urls), "-o", ws.out, "-w", "2"]
                                               + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        for i, name in enumerate(names):
            expect_failed(err, urls[i], i + 1, "corrupt PNG", files[name][1])
            check(per_path(server).get("/" + name) == 1, f"{name} was downloaded again")
        # stb_image 2.27 held 768 MiB per bomb here.
        check(peak_mib < 128, f"peak RSS {peak_mib:.0f} MiB with two inflate bombs")
        ws.check_tree(["good.png"])


def test_palette_deterministic():
    """Indices past a short palette decode as black, the same every time:
    copies of the file, decoded between photos by the same workers (whose
    stacks and heaps hold what the photos left), all give the edge map of
    the same file with its palette padded with black."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        urls, copies = [], {}
        photos = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".jpg"))
        for depth, entries in ((1, 1), (2, 1), (4, 5), (8, 100)):
            colours = [(40 + 9 * i) % 256 for i in range(3 * entries)]
            ws.write(f"short{depth}.png", palette_png(96, 64, depth, colours))
            padded = colours + [0] * (3 * ((1 << depth) - entries))
            ws.write(f"padded{depth}.png", palette_png(96, 64, depth, padded))
            urls.append(server.url(f"padded{depth}.png"))
            for copy in range(4):
                ws.photo(f"p{depth}-{copy}.jpg", os.path.join(SAMPLES, photos[copy % len(photos)]))
                urls.append(server.url(f"p{depth}-{copy}.jpg"))
                name = f"s{depth}-{copy}.png"
                urls.append(server.url(f"{name}?file=short{depth}.png"))
                copies.setdefault(depth, []).append(name)
        rc, _, err, _ = run_timed(["-i", ws.list_file(urls), "-o", ws.out, "-w", "2"])
        check(rc == 0, f"exit {rc}: {err}")
        for depth, names in copies.items():
            # Compare pixels: every output carries its own URL (tEXt Source).
            want = read_gray_png(read(os.path.join(ws.out, f"padded{depth}.png")))
            for name in names:
                check(read_gray_png(read(os.path.join(ws.out, name))) == want,
                      f"{name}: not the black-padded palette's edge map (depth {depth})")


def test_progressive_scans():
    """A progressive JPEG of 64 scans over every block is refused for its
    scan work; libjpeg's usual progressive file of the same image decodes."""
    if shutil.which("jpegtran") is None:
        check(False, "jpegtran missing (Debian libjpeg-turbo-progs, in the Makefile's TEST_DEPS)")
    photo = os.path.join(SAMPLES, sorted(n for n in os.listdir(SAMPLES) if n.endswith(".jpg"))[0])
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        script = os.path.join(ws.www, "scans.txt")
        with open(script, "w") as f:
            f.write("0: 0 0 0 0;\n" + "".join(f"0: {k} {k} 0 0;\n" for k in range(1, 64)))
        gray = subprocess.run(["jpegtran", "-grayscale", photo], check=True,
                              capture_output=True).stdout
        ws.write("gray.jpg", gray)
        many = subprocess.run(["jpegtran", "-scans", script, os.path.join(ws.www, "gray.jpg")],
                              check=True, capture_output=True).stdout
        normal = subprocess.run(["jpegtran", "-progressive", os.path.join(ws.www, "gray.jpg")],
                                check=True, capture_output=True).stdout
        ws.write("many.jpg", many)
        ws.write("normal.jpg", normal)
        urls = [server.url("many.jpg"), server.url("normal.jpg")]
        rc, _, err, _ = run_timed(["-i", ws.list_file(urls), "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[0], 1, "too much progressive scan work: 33 scans")
        ws.check_tree(["normal.png"])


if __name__ == "__main__":
    sys.exit(main_for(globals()))
