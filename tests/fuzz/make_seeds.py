#!/usr/bin/python3
"""Regenerates the committed seed corpora in tests/fuzz/corpus/ (a developer
tool, not run by the tests). Needs Debian's python3-opencv and python3-pil
for the JPEG variants, and the encoders of make_formats for the other formats; PNGs are written by hand so every colour type, bit
depth and Adam7 interlacing is covered. Every seed is tiny (< 4 KB): the
fuzzer mutates small inputs much faster, and sizes come from headers anyway.

    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import io
import os
import struct
import sys
import zlib

import cv2
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DECODE = os.path.join(HERE, "corpus", "decode")
URLS = os.path.join(HERE, "corpus", "urls")
SAMPLE = os.path.join(HERE, "..", "..", "samples", "photos", "ladybird.jpg")


def put(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, depth, color_type, rows, palette=None, trns=None, interlace=False):
    """rows: list of bytes, already packed at `depth` bits per sample."""
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bits_pp = samples * depth

    def pack(y0, x0, dy, dx):
        out = b""
        ys = range(y0, height, dy)
        xs = list(range(x0, width, dx))
        if not xs or not ys:
            return out
        for y in ys:
            # unpack to per-pixel bit strings, pick the pass's pixels, repack
            bits = "".join(f"{b:08b}" for b in rows[y])
            picked = "".join(bits[x * bits_pp:(x + 1) * bits_pp] for x in xs)
            picked += "0" * (-len(picked) % 8)
            out += b"\x00" + bytes(int(picked[i:i + 8], 2) for i in range(0, len(picked), 8))
        return out

    if interlace:
        passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2),
                  (0, 1, 2, 2), (1, 0, 2, 1)]
        raw = b"".join(pack(*p) for p in passes)
    else:
        raw = b"".join(b"\x00" + bytes(r) for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                                              color_type, 0, 0, int(interlace)))
    if palette is not None:
        data += chunk(b"PLTE", palette)
    if trns is not None:
        data += chunk(b"tRNS", trns)
    return data + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def gradient_rows(width, height, depth, samples):
    rows = []
    maxv = (1 << depth) - 1
    for y in range(height):
        vals = []
        for x in range(width):
            for s in range(samples):
                vals.append(((x * 37 + y * 11 + s * 50) * maxv // 255) % (maxv + 1))
        if depth == 16:
            rows.append(b"".join(struct.pack(">H", v) for v in vals))
        elif depth == 8:
            rows.append(bytes(vals))
        else:
            bits = "".join(format(v, f"0{depth}b") for v in vals)
            bits += "0" * (-len(bits) % 8)
            rows.append(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)))
    return rows


def make_pngs():
    w, h = 13, 9
    for color_type, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (4, (8, 16)), (6, (8, 16))):
        samples = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
        for depth in depths:
            rows = gradient_rows(w, h, depth, samples)
            put(DECODE, f"png-c{color_type}-d{depth}.png", png(w, h, depth, color_type, rows))
            put(DECODE, f"png-c{color_type}-d{depth}-adam7.png",
                png(w, h, depth, color_type, rows, interlace=True))
    palette = bytes(v for i in range(16) for v in (i * 16, 255 - i * 16, (i * 80) % 256))
    for depth in (1, 2, 4, 8):
        rows = gradient_rows(w, h, depth, 1)
        put(DECODE, f"png-palette-d{depth}.png", png(w, h, depth, 3, rows, palette=palette[:3 << depth if depth < 4 else 48]))
    rows = gradient_rows(w, h, 8, 1)
    rows = [bytes(v % 16 for v in r) for r in rows]
    put(DECODE, "png-palette-trns.png", png(w, h, 8, 3, rows, palette=palette, trns=bytes(range(0, 256, 32))))
    put(DECODE, "png-gray-trns.png", png(w, h, 8, 0, gradient_rows(w, h, 8, 1), trns=b"\x00\x10"))
    put(DECODE, "png-1x1.png", png(1, 1, 8, 0, [b"\x80"]))
    # Hostile headers: a huge claim with a tiny body, cut and corrupt files.
    huge = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
    put(DECODE, "png-claims-50000x50000.png", huge + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    good = png(w, h, 8, 2, gradient_rows(w, h, 8, 3))
    put(DECODE, "png-cut.png", good[:len(good) // 2])
    bad_crc = bytearray(good)
    bad_crc[40] ^= 0xFF
    put(DECODE, "png-corrupt.png", bytes(bad_crc))


def make_jpegs():
    img = cv2.imread(SAMPLE)
    small = cv2.resize(img, (48, 32), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)

    def enc(image, *params):
        ok, buf = cv2.imencode(".jpg", image, list(params))
        assert ok
        return buf.tobytes()

    base = enc(small, cv2.IMWRITE_JPEG_QUALITY, 75)
    put(DECODE, "jpeg-baseline-420.jpg", base)
    put(DECODE, "jpeg-gray.jpg", enc(gray, cv2.IMWRITE_JPEG_QUALITY, 75))
    put(DECODE, "jpeg-progressive.jpg", enc(small, cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    put(DECODE, "jpeg-progressive-gray.jpg", enc(gray, cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    put(DECODE, "jpeg-restart.jpg", enc(small, cv2.IMWRITE_JPEG_RST_INTERVAL, 1))
    put(DECODE, "jpeg-odd-size.jpg", enc(cv2.resize(img, (17, 13)), cv2.IMWRITE_JPEG_QUALITY, 60))
    pil = Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    for name, kwargs in (("444", {"subsampling": 0}), ("422", {"subsampling": 1}),
                         ("optimized", {"optimize": True}),
                         ("progressive-444", {"progressive": True, "subsampling": 0})):
        out = io.BytesIO()
        pil.save(out, "JPEG", quality=70, **kwargs)
        put(DECODE, f"jpeg-{name}.jpg", out.getvalue())
    out = io.BytesIO()
    pil.convert("CMYK").save(out, "JPEG", quality=70)
    put(DECODE, "jpeg-cmyk.jpg", out.getvalue())
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    pil.save(out, "JPEG", quality=70, exif=exif.tobytes())
    put(DECODE, "jpeg-exif-orientation6.jpg", out.getvalue())
    put(DECODE, "jpeg-cut.jpg", base[:len(base) // 2])
    corrupt = bytearray(base)
    for i in range(len(corrupt) // 2, len(corrupt) - 2, 97):
        corrupt[i] ^= 0x5A
    put(DECODE, "jpeg-corrupt-scan.jpg", bytes(corrupt))
    # Decoded as rows by the fused pass (imaging/rows.c): a baseline file of
    # two blocks of rows, cut mid-scan, and with a cut segment where its
    # end-of-image marker was (only reading on after the last row sees it).
    # (The committed ones: djpeg -scale 1/4 of the sample, cropped, cjpeg -quality 75.)
    two_blocks = enc(cv2.resize(img, (400, 270), interpolation=cv2.INTER_AREA),
                     cv2.IMWRITE_JPEG_QUALITY, 75)
    put(DECODE, "jpeg-baseline-400x270.jpg", two_blocks)
    scan = two_blocks.find(b"\xff\xda")
    put(DECODE, "jpeg-cut-mid-scan.jpg", two_blocks[:(scan + len(two_blocks)) // 2])
    put(DECODE, "jpeg-cut-segment-at-end.jpg", two_blocks[:-2] + b"\xff\xfe\x00\x10")
    # A frame header claiming 65535x65535 over a tiny scan.
    sof = base.find(b"\xff\xc0")
    claim = bytearray(base)
    claim[sof + 5:sof + 9] = b"\xff\xff\xff\xff"
    put(DECODE, "jpeg-claims-65535x65535.jpg", bytes(claim))


def make_others():
    put(DECODE, "gif-animated.gif",
        b"GIF89a\x02\x00\x02\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
        b"!\xf9\x04\x00\x0a\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x02\x00\x00\x02\x02D\x01\x00"
        b"!\xf9\x04\x00\x0a\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x02\x00\x00\x02\x02\x0c\x10\x00;")
    put(DECODE, "html.txt", b"<!DOCTYPE html>\n<html><body>Not Found</body></html>\n")
    put(DECODE, "json-error.txt", b'{"error": "rate limited", "retry": 30}\n')
    put(DECODE, "escape-sequences.txt", b"\x1b[2J\x1b]0;owned\x07 hello\r\nworld\n")


def make_formats():
    """WebP, GIF, AVIF, BMP and TIFF seeds (issue 14), each made by the
    format's own encoder from a 24x16 crop of the sample: cwebp, img2webp
    and webpmux (package webp), ImageMagick, gifsicle, avifenc (libavif-bin),
    tiffcp and tiffset (libtiff-tools). Plus a cut and a header claiming a
    huge size of each, and the formats recognised but not decoded."""
    import subprocess
    import tempfile

    def run(*args, cwd):
        subprocess.run(list(args), cwd=cwd, check=True, capture_output=True)

    with tempfile.TemporaryDirectory() as tmp:
        run("convert", SAMPLE, "-resize", "24x16!", "src.png", cwd=tmp)
        run("convert", "src.png", "-negate", "neg.png", cwd=tmp)
        run("convert", "src.png", "-alpha", "set", "-channel", "A", "-fx", "i/w",
            "PNG32:alpha.png", cwd=tmp)
        exif6 = (b"MM\0\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
                 + struct.pack(">HHIHH", 0x112, 3, 1, 6, 0) + b"\0\0\0\0")
        with open(os.path.join(tmp, "exif6.bin"), "wb") as f:
            f.write(exif6)
        made = {
            "webp-lossy.webp": ["cwebp", "-quiet", "-q", "70", "src.png", "-o", "OUT"],
            "webp-lossless.webp": ["cwebp", "-quiet", "-lossless", "src.png", "-o", "OUT"],
            "webp-lossy-alpha.webp": ["cwebp", "-quiet", "-q", "70", "alpha.png", "-o", "OUT"],
            "webp-animated.webp": ["img2webp", "-q", "70", "src.png", "-lossless", "neg.png",
                                   "-o", "OUT"],
            "gif-plain.gif": ["convert", "src.png", "-colors", "32", "OUT"],
            "gif-interlaced.gif": ["convert", "src.png", "-colors", "16", "-interlace", "GIF",
                                   "OUT"],
            "gif-transparent.gif": ["convert", "src.png", "-colors", "16", "-fuzz", "20%",
                                    "-transparent", "rgb(128,128,128)", "OUT"],
            "gif-animated-magick.gif": ["convert", "src.png", "-colors", "8", "neg.png",
                                        "-colors", "8", "-loop", "0", "OUT"],
            "avif-420.avif": ["avifenc", "-s", "10", "src.png", "OUT"],
            "avif-444-10bit-alpha.avif": ["avifenc", "-s", "10", "-y", "444", "-d", "10",
                                          "alpha.png", "OUT"],
            "avif-irot1-imir0.avif": ["avifenc", "-s", "10", "--irot", "1", "--imir", "0",
                                      "src.png", "OUT"],
            "bmp-24.bmp": ["convert", "src.png", "BMP3:OUT"],
            "bmp-8-palette.bmp": ["convert", "src.png", "-colors", "6", "BMP3:OUT"],
            "bmp-1-bit.bmp": ["convert", "src.png", "-monochrome", "BMP3:OUT"],
            "bmp-32-alpha.bmp": ["convert", "alpha.png", "BMP:OUT"],
            "bmp-rle8.bmp": ["convert", "src.png", "-colors", "16", "-compress", "RLE",
                             "BMP3:OUT"],
            "tiff-rgb8-lzw.tif": ["convert", "src.png", "-depth", "8", "-compress", "lzw", "OUT"],
            "tiff-rgb16-zip.tif": ["convert", "src.png", "-depth", "16", "-compress", "zip",
                                   "OUT"],
            "tiff-gray-2-pages.tif": ["convert", "src.png", "neg.png", "-colorspace", "gray",
                                      "OUT"],
            "tiff-palette.tif": ["convert", "src.png", "-colors", "16", "-type", "Palette",
                                 "OUT"],
        }
        for name, args in made.items():
            run(*[a.replace("OUT", name) for a in args], cwd=tmp)
        run("gifsicle", "-O2", "gif-plain.gif", "-o", "gif-gifsicle.gif", cwd=tmp)
        run("webpmux", "-set", "exif", "exif6.bin", "webp-lossless.webp", "-o",
            "webp-exif-orientation6.webp", cwd=tmp)
        run("tiffcp", "-t", "-w", "16", "-l", "16", "tiff-rgb8-lzw.tif", "tiff-tiles.tif", cwd=tmp)
        run("tiffcp", "-p", "separate", "tiff-rgb8-lzw.tif", "tiff-separate.tif", cwd=tmp)
        run("tiffcp", "-c", "jpeg", "tiff-rgb8-lzw.tif", "tiff-jpeg.tif", cwd=tmp)
        run("cp", "tiff-rgb8-lzw.tif", "tiff-orientation6.tif", cwd=tmp)
        run("tiffset", "-s", "274", "6", "tiff-orientation6.tif", cwd=tmp)
        names = list(made) + ["gif-gifsicle.gif", "webp-exif-orientation6.webp",
                              "tiff-tiles.tif", "tiff-separate.tif", "tiff-jpeg.tif",
                              "tiff-orientation6.tif"]
        for name in names:
            with open(os.path.join(tmp, name), "rb") as f:
                data = f.read()
            put(DECODE, name, data)
        for name in ("webp-lossless.webp", "gif-plain.gif", "avif-420.avif", "tiff-tiles.tif"):
            with open(os.path.join(tmp, name), "rb") as f:
                data = f.read()
            base, ext = name.rsplit(".", 1)
            put(DECODE, f"{base}-cut.{ext}", data[:len(data) * 2 // 3])
    # Headers claiming 60000x60000 over tiny bodies.
    gif = bytearray(open(os.path.join(DECODE, "gif-plain.gif"), "rb").read())
    gif[6:10] = struct.pack("<HH", 60000, 60000)
    put(DECODE, "gif-claims-60000x60000.gif", bytes(gif))
    bmp = bytearray(open(os.path.join(DECODE, "bmp-24.bmp"), "rb").read())
    bmp[18:26] = struct.pack("<ii", 60000, -60000)
    put(DECODE, "bmp-claims-60000x60000.bmp", bytes(bmp))
    put(DECODE, "jxl-codestream.jxl", b"\xff\x0a\xfa\x3f" + bytes(28))
    put(DECODE, "heic-ftyp.heic", struct.pack(">I", 24) + b"ftypheic\0\0\0\0mif1heic" + bytes(16))


def make_vp8l_groups():
    """Lossless WebPs of many Huffman groups (tests/integration/vp8lutil.py),
    for the group walk of the estimate (imaging/webp_groups.c): whole, with
    a colour cache, cut in the entropy image, and the bare VP8L stream
    (fuzz_decode.c also walks the input itself as one)."""
    sys.path.insert(0, os.path.join(HERE, "..", "integration"))
    from vp8lutil import vp8l_groups
    many = vp8l_groups(100)
    put(DECODE, "webp-vp8l-100-groups.webp", many)
    put(DECODE, "webp-vp8l-300-groups-cache5.webp", vp8l_groups(300, 5))
    put(DECODE, "webp-vp8l-groups-cut.webp", many[:300])
    put(DECODE, "vp8l-stream-100-groups.bin", many[20:])


def make_urls():
    seeds = {
        "list-basic.txt": "\ufeff# photos\r\n\r\n  http://127.0.0.1:8080/a/cat.jpg  \r\n"
                          "\t# http://127.0.0.1/commented.jpg\r\nhttp://127.0.0.1/b/cat.jpg?s=1\r\n"
                          "http://127.0.0.1/a/cat.jpg\n",
        "names-traversal.txt": "http://h/../../x\nhttp://h/%2e%2e%2f%2e%2e%2fetc%2fpasswd\n"
                               "http://h/..%5c..%5cwin.ini\nhttp://h/a%00b.jpg\nhttp://h/%0d%0a.png\n"
                               "http://h/\nhttp://h?id=3\nhttp://h/?id=3\nhttp://h/.hidden.jpg\n"
                               "http://h/...\nhttp://h/a.b.c.d.jpeg#frag\n",
        "names-long.txt": "http://h/" + "x" * 300 + ".jpg\nhttp://h/" + "%41" * 150 + ".png\n",
        "schemes.txt": "file:///etc/passwd\nftp://127.0.0.1/a.jpg\ngopher://127.0.0.1/x\n"
                       "dict://127.0.0.1/d\nHTTP://127.0.0.1/upper.JPG\nhttps://[::1]:8443/v6.png\n"
                       "http://user:pw@127.0.0.1/u.jpg\nhttp//nonsense\nhttp://\n://x\n",
        "collisions.txt": "http://a/cat.jpg\nhttp://b/cat.jpg\nhttp://c/cat.png\n"
                          "http://a/cat-00000000.png\nhttp://a/%63at.jpg\n",
        "unicode.txt": "http://127.0.0.1/caf%C3%A9.jpg\nhttp://127.0.0.1/café.jpg\n"
                       "http://xn--caf-dma.example/\u00e9t\u00e9.png\n",
    }
    for name, text in seeds.items():
        put(URLS, name, text.encode("utf-8"))


def make_hostile():
    """Issue 10's decoding defects, small: the inflate bomb (1x1 IHDR, a
    stream that goes on), bad CRCs, a bad Adler-32, palettes shorter than
    the indices, data after the stream, and a progressive JPEG past the
    scan-work limit (jpegtran with a scan script, from libjpeg-turbo-progs)."""
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr_1x1 = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    stream = zlib.compressobj(9)
    bomb = stream.compress(b"\0\x80") + stream.compress(b"\0" * (1 << 20)) + stream.flush()
    iend = chunk(b"IEND", b"")
    put(DECODE, "png-inflate-bomb.png", sig + ihdr_1x1 + chunk(b"IDAT", bomb) + iend)
    row = zlib.compress(b"\0\x80")
    put(DECODE, "png-extra-idat.png",
        sig + ihdr_1x1 + chunk(b"IDAT", row) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + iend)

    def bad_crc(data):
        return data[:-4] + bytes([data[-4] ^ 1]) + data[-3:]

    put(DECODE, "png-bad-ihdr-crc.png", sig + bad_crc(ihdr_1x1) + chunk(b"IDAT", row) + iend)
    put(DECODE, "png-bad-idat-crc.png", sig + ihdr_1x1 + bad_crc(chunk(b"IDAT", row)) + iend)
    bad_adler = row[:-1] + bytes([row[-1] ^ 1])
    put(DECODE, "png-bad-adler.png", sig + ihdr_1x1 + chunk(b"IDAT", bad_adler) + iend)
    for depth, entries in ((2, 1), (8, 5)):
        width, height = 13, 5
        per = 8 // depth
        rows = []
        for y in range(height):
            packed = bytearray((width * depth + 7) // 8)
            for x in range(width):
                packed[x // per] |= ((x + 3 * y) % (1 << depth)) << (8 - depth * (x % per + 1))
            rows.append(bytes(packed))
        palette = bytes(v for i in range(entries) for v in (40 + i, 200 - i, 90 + 3 * i))
        put(DECODE, f"png-short-palette-d{depth}.png",
            png(width, height, depth, 3, rows, palette=palette))

    import subprocess
    import tempfile
    gray = np.array([[(x * 7 + y * 3) % 256 for x in range(48)] for y in range(32)], np.uint8)
    ok, base = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 90])
    scripts = {
        # 64 scans over every block: over the scan-work limit (32 passes).
        "jpeg-scan-work-64.jpg": "0: 0 0 0 0;\n" + "".join(f"0: {k} {k} 0 0;\n" for k in range(1, 64)),
    }
    # (A file past the scan-count limit cannot come from jpegtran, whose
    # scripts stop at 100 scans; the harness lowers the limit instead, and
    # tests/unit/test_decode_limits.c writes a 128-scan file with libjpeg.)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "base.jpg")
        with open(source, "wb") as f:
            f.write(base.tobytes())
        for name, script in scripts.items():
            script_path = os.path.join(tmp, "scans.txt")
            with open(script_path, "w") as f:
                f.write(script)
            out = subprocess.run(["jpegtran", "-scans", script_path, source],
                                 check=True, capture_output=True).stdout
            put(DECODE, name, out)


if __name__ == "__main__":
    make_pngs()
    make_jpegs()
    make_others()
    make_formats()
    make_urls()
    make_hostile()
    make_vp8l_groups()
