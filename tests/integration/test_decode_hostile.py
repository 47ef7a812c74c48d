"""Hostile images through the real binary (issue 10 items 2, 4, 20, 21): the
PNG inflate bomb, bad CRCs and Adler-32, palettes shorter than their indices,
progressive JPEGs with too many scans. Every file is made here; the server is
the fixture on 127.0.0.1.

    test_decode_hostile.py CASE   (meson runs each case as decode_hostile_CASE)
"""
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (DATA, FAST_RETRY, FIXTURE, PHOTOS, SAMPLES, Fixture, Workspace, check,  # noqa: E402
                     expect_failed, failed_line, main_for, per_path, read, run_measured,
                     run_timed)
from pngutil import jpeg_claiming, luma, make_png, png_header_only, read_gray_png, sobel_ref  # noqa: E402


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


# ---- bodies that are or are not images (issue 4) -------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))


def test_bodies_not_images():
    """HTML served as image/jpeg, a JSON error, an empty 200: refused once each,
    saying what the body starts with."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        ws.write("page.html", b"<!DOCTYPE html>\n<html><body>Access denied</body></html>\n")
        ws.write("err.json", b'{"error": "quota exceeded"}\n')
        ws.write("empty.jpg", b"")
        ws.write("escape.txt", b"\x1b]0;pwned\x07\x1b[2J<html>\n")
        urls = [server.url("photo.jpg?file=page.html&type=image%2Fjpeg"),
                server.url("err.png?file=err.json&type=image%2Fpng"), server.url("empty.jpg"),
                server.url("esc.jpg?file=escape.txt&type=image%2Fjpeg")]
        lst = ws.list_file(urls)
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        expect_failed(err, urls[0], 1, 'not an image: starts with "<!DOCTYPE html>"')
        expect_failed(err, urls[1], 2, 'starts with "{\\"error\\"')
        expect_failed(err, urls[2], 3, "empty")
        expect_failed(err, urls[3], 4, "not an image")
        check("\x1b" not in err, "an escape sequence from a body reached the terminal")
        for path in ("/photo.jpg", "/err.png", "/empty.jpg", "/esc.jpg"):
            check(per_path(server).get(path) == 1, f"{path} was retried")
        ws.check_tree([])


def test_images_refused():
    """Truncated and corrupt JPEG/PNG, huge header claims (refused before any
    pixel buffer: peak RSS stays small), over --max-pixels, a format not
    decoded (JPEG XL; GIF, decoded since issue 14, is tests/integration/test_formats.py's)."""
    photo = read(os.path.join(SAMPLES, PHOTOS[0]))
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        good = make_png(8, 8, 8, 2, [[(x * 30, y * 30, 99) for x in range(8)] for y in range(8)])
        bad_zlib = bytearray(good)
        idat = bad_zlib.find(b"IDAT")
        bad_zlib[idat + 6:idat + 14] = b"\xde\xad\xbe\xef" * 2
        files = {
            "cut.jpg": (photo[:len(photo) // 3], "truncated JPEG"),
            "headcut.jpg": (photo[:300], "truncated JPEG"),
            "cut.png": (good[:len(good) - 30], "truncated PNG"),
            "zlib.png": (bytes(bad_zlib), "corrupt PNG"),
            "huge.png": (png_header_only(50000, 50000), "50000x50000"),
            "hugejpeg.jpg": (jpeg_claiming(photo, 65000, 65000), "65000x65000"),
            "x.jxl": (b"\xff\x0a\xfa\x3f" + bytes(60), "unsupported format (JPEG XL)"),
        }
        names = list(files)
        for name in names:
            ws.write(name, files[name][0])
        urls = [server.url(n) for n in names]
        lst = ws.list_file(urls)
        rc, _, err, _, peak_mib = run_measured(["-i", lst, "-o", ws.out, "-w", "2"] + FAST_RETRY)
        check(rc == 1, f"exit {rc}: {err}")
        for i, name in enumerate(names):
            expect_failed(err, urls[i], i + 1, files[name][1])
            check(per_path(server).get("/" + name) == 1, f"{name} was downloaded again")
        for name in ("huge.png", "hugejpeg.jpg"):
            expect_failed(err, server.url(name), names.index(name) + 1, "limit")
        check(peak_mib < 400, f"peak RSS {peak_mib:.0f} MiB: a huge claim got a pixel buffer")
        ws.check_tree([])

        # A real photo over --max-pixels (1620x1080 = 1.75 MP).
        ws.photo("big.jpg")
        rc, _, err, _ = run_timed(["-o", ws.out, "--max-pixels", "1M", server.url("big.jpg")])
        check(rc == 1, f"--max-pixels: exit {rc}: {err}")
        line = failed_line(err, server.url("big.jpg"))
        check("1620x1080" in line and "limit" in line, f"--max-pixels reason: {line}")


def test_jpeg_bad_huffman():
    """A JPEG whose Huffman table counts add up to far more than 256 codes is
    refused as corrupt, with no memory error (stb_image 2.27 wrote past its
    table here, found by fuzzing: tests/fuzz/crashes/README.md)."""
    photo = read(os.path.join(SAMPLES, PHOTOS[0]))
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        bad = bytearray(photo)
        dht = bad.find(b"\xff\xc4")
        bad[dht + 5:dht + 21] = b"\xff" * 16  # 16 code-length counts of 255
        ws.write("badhuff.jpg", bytes(bad))
        shutil.copy(os.path.join(HERE, "..", "fuzz", "crashes", "stb-build-huffman-dht-overflow.jpg"),
                    os.path.join(ws.www, "fuzzed.jpg"))
        urls = [server.url("badhuff.jpg"), server.url("fuzzed.jpg")]
        rc, _, err, _ = run_timed(["-i", ws.list_file(urls), "-o", ws.out] + FAST_RETRY)
        check(rc == 1, f"exit {rc}, want 1 (a sanitizer report or crash?): {err[-3000:]}")
        expect_failed(err, urls[0], 1, "JPEG")
        expect_failed(err, urls[1], 2, "JPEG")
        ws.check_tree([])


def _random_samples(rng, w, h, channels, maxv):
    return [[tuple(rng.randrange(maxv + 1) for _ in range(channels)) for _ in range(w)]
            for _ in range(h)]


def test_images_accepted():
    """16-bit, grayscale, gray+alpha, RGBA, palette (+tRNS), 1-bit and Adam7 PNGs
    and a CMYK JPEG are processed correctly: the edge map equals the reference
    Sobel of the expected luma (alpha dropped, 16 bits reduced to 8)."""
    rng = random.Random(4)
    w, h = 11, 7
    cases = {}
    rgb8 = _random_samples(rng, w, h, 3, 255)
    gray8 = _random_samples(rng, w, h, 1, 255)
    alpha = _random_samples(rng, w, h, 1, 255)
    rgb_luma = [bytes(luma(*px) for px in row) for row in rgb8]
    gray_luma = [bytes(px[0] for px in row) for row in gray8]
    cases["gray8.png"] = (make_png(w, h, 8, 0, gray8), gray_luma)
    cases["gray16.png"] = (make_png(w, h, 16, 0, [[(v * 257,) for (v,) in r] for r in gray8]), gray_luma)
    cases["graya8.png"] = (make_png(w, h, 8, 4, [[(g[0], a[0]) for g, a in zip(rg, ra)]
                                                 for rg, ra in zip(gray8, alpha)]), gray_luma)
    cases["graya16.png"] = (make_png(w, h, 16, 4, [[(g[0] * 257, a[0] * 257) for g, a in zip(rg, ra)]
                                                   for rg, ra in zip(gray8, alpha)]), gray_luma)
    cases["rgb16.png"] = (make_png(w, h, 16, 2, [[tuple(v * 257 for v in px) for px in r]
                                                 for r in rgb8]), rgb_luma)
    cases["rgba8.png"] = (make_png(w, h, 8, 6, [[px + a for px, a in zip(r, ra)]
                                                for r, ra in zip(rgb8, alpha)]), rgb_luma)
    cases["adam7.png"] = (make_png(w, h, 8, 2, rgb8, interlace=True), rgb_luma)
    palette = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(16)]
    index = _random_samples(rng, w, h, 1, 15)
    pal_luma = [bytes(luma(*palette[i]) for (i,) in row) for row in index]
    cases["palette.png"] = (make_png(w, h, 8, 3, index, palette=palette), pal_luma)
    cases["palette-trns.png"] = (make_png(w, h, 4, 3, index, palette=palette,
                                          trns=bytes(range(0, 256, 16))), pal_luma)
    bits = _random_samples(rng, w, h, 1, 1)
    cases["gray1.png"] = (make_png(w, h, 1, 0, bits), [bytes(255 * b for (b,) in r) for r in bits])

    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        for name, (data, _) in cases.items():
            ws.write(name, data)
        shutil.copy(os.path.join(DATA, "cmyk-halves.jpg"), ws.www)
        names = sorted(cases) + ["cmyk-halves.jpg"]
        lst = ws.list_file([server.url(n) for n in names])
        rc, _, err, _ = run_timed(["-i", lst, "-o", ws.out])
        check(rc == 0, f"exit {rc}: {err}")
        for name, (_, expected_luma) in sorted(cases.items()):
            ow, oh, rows = read_gray_png(read(os.path.join(ws.out, name[:-4] + ".png")))
            check((ow, oh) == (w, h), f"{name}: size {(ow, oh)}")
            check(rows == sobel_ref(expected_luma, w, h), f"{name}: edges differ from the reference")

        # CMYK (Adobe, inverted as Photoshop and Pillow write it): left half
        # RGB (30, 60, 90), right half (70, 80, 100), flat 16x16 blocks that
        # JPEG keeps almost exactly (tests/integration/data/README).
        ow, oh, rows = read_gray_png(read(os.path.join(ws.out, "cmyk-halves.png")))
        check((ow, oh) == (64, 32), f"cmyk: size {(ow, oh)}")
        step = 4 * (luma(70, 80, 100) - luma(30, 60, 90))  # |gx| at the seam
        for y, row in enumerate(rows):
            for x, value in enumerate(row):
                want = step if x in (31, 32) else 0
                check(abs(value - want) <= 12,
                      f"cmyk: edge {value} at ({x},{y}), want about {want} (colour conversion wrong?)")
        ws.check_tree(sorted(n.rsplit(".", 1)[0] + ".png" for n in names))


if __name__ == "__main__":
    sys.exit(main_for(globals()))
