"""WebP, GIF, AVIF, BMP and TIFF through the real binary and the fixture on
127.0.0.1 (issue 14). Every file is made here by the format's own encoder
(cwebp/img2webp/webpmux, ImageMagick for GIF/BMP/TIFF, gifsicle, avifenc,
tiffcp/tiffset); each must give the edge map, byte for byte, that edgefetch
gives for the same pixels decoded by the format's reference decoder (dwebp,
avifdec, ImageMagick) and served as PNG. Also: the first frame of
animations, the orientation each format carries, corrupt and truncated files
refused with a reason, formats it does not decode refused as
unsupported_format with their name, and the Accept header.

    test_formats.py CASE   (meson runs each case as formats_CASE)
"""
import http.server
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (EDGEFETCH, FIXTURE, SAMPLES, Fixture, Workspace, check, check_clean_exit,  # noqa: E402
                     expect_failed, fetch, main_for, read, run_timed, source_png, tool)
from pngutil import read_gray_png  # noqa: E402


def exif_orientation(value):
    """Big-endian TIFF data with IFD0 holding Orientation = value."""
    return (b"MM\0\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x112, 3, 1, value, 0) + b"\0\0\0\0")


def stem(name):
    return name.rsplit(".", 1)[0]


def compare_pairs(ws, server, pairs, extra=()):
    """Each (file, reference PNG) pair gives the same edge map."""
    names = [n for pair in pairs for n in pair]
    rc, err, items = fetch(ws, server, names, extra)
    check(rc == 0, f"exit {rc}: {err}")
    for name, ref in pairs:
        # The pixels: the files differ in their Source text (the URL).
        got = read_gray_png(read(os.path.join(ws.out, stem(name) + ".png")))
        want = read_gray_png(read(os.path.join(ws.out, stem(ref) + ".png")))
        check(got == want, f"{name}: edge map differs from that of {ref} "
                           f"({items[name]['width']}x{items[name]['height']} vs "
                           f"{items[ref]['width']}x{items[ref]['height']})")


def make_webp(ws):
    w = ws.www
    tool("cwebp", "-quiet", "-q", "80", "src.png", "-o", "lossy.webp", cwd=w)
    tool("cwebp", "-quiet", "-lossless", "src.png", "-o", "lossless.webp", cwd=w)
    tool("cwebp", "-quiet", "-q", "80", "alpha.png", "-o", "alpha.webp", cwd=w)
    tool("img2webp", "-q", "80", "src.png", "-lossless", "neg.png", "-o", "anim.webp", cwd=w)
    tool("webpmux", "-get", "frame", "1", "anim.webp", "-o", "anim-frame1.webp", cwd=w)
    # Frame 1 at an offset on a larger canvas (frame 2 at 0,0 makes it so):
    # the rest of the canvas is black (transparent, alpha dropped).
    tool("convert", "src.png", "-resize", "16x16!", "small.png", cwd=w)
    tool("cwebp", "-quiet", "-lossless", "small.png", "-o", "small.webp", cwd=w)
    tool("webpmux", "-frame", "lossless.webp", "+100+10+20", "-frame", "small.webp", "+100+0+0",
         "-loop", "0", "-o", "offset.webp", cwd=w)
    tool("dwebp", "-quiet", "lossless.webp", "-o", "offset-frame1.png", cwd=w)
    tool("convert", "-size", "170x140", "xc:black", "offset-frame1.png", "-geometry", "+10+20",
         "-composite", "ref-offset-webp.png", cwd=w)
    pairs = [("offset.webp", "ref-offset-webp.png")]
    for name, ref_of in (("lossy.webp", "lossy.webp"), ("lossless.webp", "lossless.webp"),
                         ("alpha.webp", "alpha.webp"), ("anim.webp", "anim-frame1.webp")):
        ref = "ref-" + stem(name) + "-webp.png"
        tool("dwebp", "-quiet", ref_of, "-o", ref, cwd=w)
        pairs.append((name, ref))
    return pairs


def make_gif(ws):
    w = ws.www
    tool("convert", "src.png", "-colors", "64", "plain.gif", cwd=w)
    tool("convert", "src.png", "-colors", "64", "-interlace", "GIF", "interlaced.gif", cwd=w)
    tool("convert", "src.png", "-colors", "32", "-fuzz", "12%", "-transparent",
         "rgb(128,128,128)", "transparent.gif", cwd=w)
    tool("convert", "src.png", "-colors", "32", "(", "src.png", "-negate", "-colors", "32", ")",
         "-loop", "0", "anim-gif.gif", cwd=w)
    tool("gifsicle", "-O2", "--colors", "16", "plain.gif", "-o", "gifsicle.gif", cwd=w)
    pairs = []
    for name in ("plain.gif", "interlaced.gif", "transparent.gif", "anim-gif.gif", "gifsicle.gif"):
        ref = "ref-" + stem(name) + "-gif.png"
        # ImageMagick's first frame, composed on its transparent canvas;
        # flattened on black as edgefetch drops alpha over its black canvas.
        tool("convert", name + "[0]", "-background", "black", "-flatten", ref, cwd=w)
        pairs.append((name, ref))
    return pairs


def make_avif(ws):
    w = ws.www
    tool("avifenc", "-s", "8", "src.png", "yuv420.avif", cwd=w)
    tool("avifenc", "-s", "8", "-y", "444", "src.png", "yuv444.avif", cwd=w)
    tool("avifenc", "-s", "8", "-d", "10", "src.png", "deep.avif", cwd=w)
    tool("avifenc", "-s", "8", "alpha.png", "alpha-avif.avif", cwd=w)
    pairs = []
    for name in ("yuv420.avif", "yuv444.avif", "deep.avif", "alpha-avif.avif"):
        ref = "ref-" + stem(name) + "-avif.png"
        tool("avifdec", "-d", "8", name, ref, cwd=w)
        pairs.append((name, ref))
    return pairs


def make_bmp(ws):
    w = ws.www
    tool("convert", "src.png", "BMP3:rgb24.bmp", cwd=w)
    tool("convert", "src.png", "-colors", "16", "BMP3:palette8.bmp", cwd=w)
    tool("convert", "src.png", "-colors", "2", "-type", "Palette", "BMP3:bilevel.bmp", cwd=w)
    tool("convert", "alpha.png", "BMP:rgba32.bmp", cwd=w)
    pairs = []
    for name in ("rgb24.bmp", "palette8.bmp", "bilevel.bmp", "rgba32.bmp"):
        ref = "ref-" + stem(name) + "-bmp.png"
        tool("convert", name, ref, cwd=w)
        pairs.append((name, ref))
    return pairs


def make_tiff(ws):
    w = ws.www
    tool("convert", "src.png", "-depth", "8", "-compress", "lzw", "strips8.tif", cwd=w)
    tool("convert", "src.png", "-depth", "16", "-compress", "zip", "strips16.tif", cwd=w)
    tool("tiffcp", "-t", "-w", "64", "-l", "64", "strips8.tif", "tiles8.tif", cwd=w)
    tool("tiffcp", "-t", "-w", "32", "-l", "32", "strips16.tif", "tiles16.tif", cwd=w)
    tool("tiffcp", "-p", "separate", "strips8.tif", "planes.tif", cwd=w)
    tool("convert", "src.png", "-colorspace", "gray", "-depth", "8", "gray.tif", cwd=w)
    # Two pages: the first is read.
    tool("convert", "src.png", "neg.png", "-depth", "8", "pages.tif", cwd=w)
    pairs = []
    for name in ("strips8.tif", "strips16.tif", "tiles8.tif", "tiles16.tif", "planes.tif",
                 "gray.tif", "pages.tif"):
        ref = "ref-" + stem(name) + "-tif.png"
        tool("convert", name + "[0]", "-depth", "8", ref, cwd=w)
        pairs.append((name, ref))
    return pairs


def reference_case(make):
    """One format's encoder files against its reference decoder's PNG, for
    the luma operators and for the tutorial's RGB."""
    if shutil.which("cwebp") is None:
        print("SKIP: needs the webp, gifsicle, libavif-bin, libtiff-tools and imagemagick "
              "packages (make test-deps)")
        sys.exit(77)
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws)
        tool("convert", "src.png", "-alpha", "set", "-channel", "A", "-fx", "i/w",
             "PNG32:alpha.png", cwd=ws.www)
        tool("convert", "src.png", "-negate", "neg.png", cwd=ws.www)
        pairs = make(ws)
        compare_pairs(ws, server, pairs)
        compare_pairs(ws, server, pairs, ["--operator", "tutorial"])


def test_reference_webp():
    reference_case(make_webp)


def test_reference_gif():
    reference_case(make_gif)


def test_reference_avif():
    reference_case(make_avif)


def test_reference_bmp():
    reference_case(make_bmp)


def test_reference_tiff():
    reference_case(make_tiff)


def test_orientation():
    """WebP's EXIF chunk, AVIF's irot/imir and TIFF's Orientation tag turn
    the image as the JPEG/PNG EXIF orientation does."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws)
        w = ws.www
        with open(os.path.join(w, "exif6.bin"), "wb") as f:
            f.write(exif_orientation(6))
        tool("cwebp", "-quiet", "-lossless", "src.png", "-o", "plain.webp", cwd=w)
        tool("webpmux", "-set", "exif", "exif6.bin", "plain.webp", "-o", "exif6.webp", cwd=w)
        tool("convert", "src.png", "-rotate", "90", "ref-exif6-webp.png", cwd=w)
        pairs = [("exif6.webp", "ref-exif6-webp.png")]
        tool("avifenc", "-s", "8", "src.png", "plain.avif", cwd=w)
        tool("avifdec", "-d", "8", "plain.avif", "avif-upright.png", cwd=w)
        # irot is anti-clockwise; imir 0 exchanges top and bottom, 1 left and right.
        for name, args, turn in (("irot1.avif", ["--irot", "1"], ["-rotate", "270"]),
                                 ("irot3.avif", ["--irot", "3"], ["-rotate", "90"]),
                                 ("imir0.avif", ["--imir", "0"], ["-flip"]),
                                 ("imir1.avif", ["--imir", "1"], ["-flop"]),
                                 ("both.avif", ["--irot", "1", "--imir", "0"],
                                  ["-rotate", "270", "-flip"])):
            tool("avifenc", "-s", "8", *args, "src.png", name, cwd=w)
            ref = "ref-" + stem(name) + "-avif.png"
            tool("convert", "avif-upright.png", *turn, ref, cwd=w)
            pairs.append((name, ref))
        tool("convert", "src.png", "-depth", "8", "upright.tif", cwd=w)
        for value, turn in ((3, ["-rotate", "180"]), (5, ["-transpose"]), (6, ["-rotate", "90"]),
                            (8, ["-rotate", "270"])):
            name = f"orient{value}.tif"
            shutil.copy(os.path.join(w, "upright.tif"), os.path.join(w, name))
            tool("tiffset", "-s", "274", str(value), name, cwd=w)
            ref = f"ref-orient{value}-tif.png"
            tool("convert", "src.png", *turn, ref, cwd=w)
            pairs.append((name, ref))
        compare_pairs(ws, server, pairs)


def cut(data):
    return data[:len(data) * 2 // 3]


def broken(data, fmt):
    """The file with one structure its decoder must check made wrong."""
    body = bytearray(data)
    if fmt == "WebP":
        # The VP8 key frame's start code 9d 01 2a, or VP8L's signature 2f.
        chunk = bytes(body[12:16])
        if chunk == b"VP8 ":
            body[23:26] = b"\x9d\x01\x2b"
        else:
            body[20] = 0x2e
    elif fmt == "GIF":
        # The first record after the colour table and extensions must be an
        # image (','): make it an unknown record type.
        flags = body[10]
        pos = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
        while body[pos] == 0x21:
            pos += 2
            while body[pos] != 0:
                pos += body[pos] + 1
            pos += 1
        check(body[pos] == 0x2C, f"GIF walk found {body[pos]:#x}")
        body[pos] = 0x99
    elif fmt == "AVIF":
        # The AV1 data itself: its sequence and frame headers start mdat.
        start = data.index(b"mdat") + 4
        for i in range(start, min(start + 48, len(body))):
            body[i] ^= 0xA5
    elif fmt == "TIFF":
        ifd = struct.unpack("<I", body[4:8])[0]
        body[ifd:ifd + 2] = b"\0\0"  # a directory of no entries: no size, no strips
    elif fmt == "BMP":
        body[28] = 7  # bits per pixel
    return bytes(body)


def test_refused():
    """Cut and scrambled files of each format are refused with a reason that
    names the format; formats edgefetch does not decode are refused as
    unsupported_format with their name in the item's `format`."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws)
        w = ws.www
        tool("cwebp", "-quiet", "-q", "80", "src.png", "-o", "good.webp", cwd=w)
        tool("cwebp", "-quiet", "-lossless", "src.png", "-o", "good-lossless.webp", cwd=w)
        tool("convert", "src.png", "good.gif", cwd=w)
        tool("avifenc", "-s", "8", "src.png", "good.avif", cwd=w)
        tool("convert", "src.png", "BMP3:good.bmp", cwd=w)
        tool("convert", "src.png", "-compress", "lzw", "good.tif", cwd=w)
        expect = {}
        for name, fmt in (("good.webp", "WebP"), ("good-lossless.webp", "WebP"),
                          ("good.gif", "GIF"), ("good.avif", "AVIF"), ("good.bmp", "BMP"),
                          ("good.tif", "TIFF")):
            data = read(os.path.join(w, name))
            ws.write("cut-" + name, cut(data))
            expect["cut-" + name] = ("truncated " + fmt,)
            ws.write("bad-" + name, broken(data, fmt))
            expect["bad-" + name] = ("corrupt " + fmt,)
        unsupported = {
            "x.jxl": (b"\xff\x0a" + bytes(64), "JPEG XL"),
            "x.heic": (struct.pack(">I", 24) + b"ftypheic\0\0\0\0mif1heic" + bytes(32), "HEIF"),
            "x.svg": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
                      "SVG"),
            "x.jp2": (b"\0\0\0\x0cjP  \r\n\x87\n" + bytes(32), "JPEG 2000"),
        }
        for name, (data, _) in unsupported.items():
            ws.write(name, data)
        tool("convert", "src.png", "-colors", "16", "-compress", "RLE", "BMP3:rle.bmp", cwd=w)
        unsupported["rle.bmp"] = (None, "BMP")
        tool("convert", "src.png", "-define", "quantum:format=floating-point", "-depth", "32",
             "float.tif", cwd=w)
        unsupported["float.tif"] = (None, "TIFF")
        names = sorted(expect) + sorted(unsupported)
        rc, err, items = fetch(ws, server, names)
        check(rc == 1, f"exit {rc}: {err}")
        for name in sorted(expect):
            item = items[name]
            check(item["status"] == "failed", f"{name}: {item['status']}")
            want_kind = "truncated" if name.startswith("cut-") else "corrupt"
            check(item["error"]["kind"] == want_kind, f"{name}: kind {item['error']}, want {want_kind}")
            for word in expect[name]:
                check(word.lower() in item["error"]["message"].lower(),
                      f"{name}: reason lacks {word!r}: {item['error']['message']!r}")
            expect_failed(err, server.url(name), names.index(name) + 1, *expect[name])
        for name, (_, fmt) in unsupported.items():
            item = items[name]
            check(item["status"] == "failed" and item["error"]["kind"] == "unsupported_format",
                  f"{name}: {item['error']}")
            check(item["format"] == fmt, f"{name}: format {item['format']!r}, want {fmt!r}")


def test_max_pixels():
    """--max-pixels refuses every format from its header."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws)
        w = ws.www
        tool("cwebp", "-quiet", "-q", "80", "src.png", "-o", "a.webp", cwd=w)
        tool("convert", "src.png", "a.gif", cwd=w)
        tool("avifenc", "-s", "8", "src.png", "a.avif", cwd=w)
        tool("convert", "src.png", "BMP3:a.bmp", cwd=w)
        tool("convert", "src.png", "a.tif", cwd=w)
        names = ["a.webp", "a.gif", "a.avif", "a.bmp", "a.tif"]
        rc, err, items = fetch(ws, server, names, ["--max-pixels", "19199"])
        check(rc == 1, f"exit {rc}: {err}")
        for name in names:
            check(items[name]["error"]["kind"] == "too_many_pixels", f"{name}: {items[name]}")
        rc, err, items = fetch(ws, server, names, ["--max-pixels", "19200"])
        check(rc == 0, f"exit {rc} at exactly 160x120: {err}")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request's Accept lines (all of them, to catch a
    duplicate) and serves a tiny WebP."""
    seen = []
    body = b""

    def do_GET(self):  # noqa: N802
        _Recorder.seen.append(self.headers.get_all("Accept") or [])
        self.send_response(200)
        self.send_header("Content-Type", "image/webp")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def version_decoders():
    proc = subprocess.run([EDGEFETCH, "--version"], capture_output=True, timeout=30)
    check_clean_exit(proc.stderr, "edgefetch")
    return proc.stdout.decode()


def test_accept():
    """Every request carries one Accept line listing exactly the formats
    --version names, WebP first; a user's -H Accept replaces it. A redirect
    to another origin (the fixture sending to the recorder) gets that line
    too, alone: ours, or the user's."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws)
        tool("cwebp", "-quiet", "-q", "80", "src.png", "-o", "a.webp", cwd=ws.www)
        _Recorder.body = read(os.path.join(ws.www, "a.webp"))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/a.webp"
        try:
            rc, _, err, _ = run_timed(["-q", "-o", ws.out, url])
            check(rc == 0, f"exit {rc}: {err}")
            lines = _Recorder.seen[-1]
            check(len(lines) == 1, f"Accept lines: {lines}")
            types = [part.split(";")[0].strip() for part in lines[0].split(",")]
            check(types[0] == "image/webp", f"Accept {lines[0]!r}")
            check("*/*" not in types, f"a wildcard in {lines[0]!r}")
            names = {"image/webp": "WebP", "image/avif": "AVIF", "image/jpeg": "JPEG",
                     "image/png": "PNG", "image/gif": "GIF", "image/bmp": "BMP",
                     "image/tiff": "TIFF"}
            version = version_decoders()
            check(sorted(types) == sorted(names), f"Accept {types}")
            for media, fmt in names.items():
                check(f"({fmt})" in version, f"{media} accepted, no {fmt} decoder in {version}")
            rc, _, err, _ = run_timed(["-q", "-o", ws.out, "--force", "-H", "accept: image/png", url])
            check(rc == 0, f"exit {rc}: {err}")
            check(_Recorder.seen[-1] == ["image/png"], f"with -H: {_Recorder.seen[-1]}")
            ours = lines[0]
            hop = server.url("b.webp?redirect=" + urllib.parse.quote(url, safe=""))
            for extra, want in (([], [ours]), (["-H", "Accept: image/gif", "-H", "X-Key: 1"],
                                                ["image/gif"])):
                rc, _, err, _ = run_timed(["-q", "-o", ws.out, "--force"] + extra + [hop])
                check(rc == 0, f"redirect: exit {rc}: {err}")
                check(_Recorder.seen[-1] == want,
                      f"redirect to another origin with {extra}: {_Recorder.seen[-1]}")
        finally:
            httpd.shutdown()
            httpd.server_close()


if __name__ == "__main__":
    sys.exit(main_for(globals()))
