"""Image bytes for the tests, with the standard library only: just enough PNG
(write 8-bit gray/RGB images and any depth or colour type, read back 8-bit gray
ones with all five row filters, the tEXt Source edgefetch writes), a JPEG's
claimed size rewritten, and the reference operators (imaging.h's definitions)
that the tests compare edgefetch's outputs with."""
import math
import struct
import zlib


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png(width, height, rows, channels=1):
    """rows: list of bytes, each width*channels long. Returns the file bytes."""
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def read_gray_png(data):
    """Returns (width, height, rows) for an 8-bit grayscale PNG."""
    width, height = png_size(data)
    bit_depth, color_type, _, _, interlace = data[24:29]
    if bit_depth != 8 or color_type != 0 or interlace != 0:
        raise ValueError(f"not 8-bit gray non-interlaced: depth {bit_depth} type {color_type}")
    pos = 8
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    rows = []
    prev = bytearray(width)
    stride = width + 1
    for y in range(height):
        ftype = raw[y * stride]
        line = bytearray(raw[y * stride + 1:(y + 1) * stride])
        for x in range(width):
            a = line[x - 1] if x > 0 else 0
            b = prev[x]
            c = prev[x - 1] if x > 0 else 0
            if ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = 0
            line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


# ---- images built at test time ---------------------------------------------------

def parse_ppm(data):
    """(width, height, RGB bytes) of an 8-bit binary PPM (P6, as djpeg writes)."""
    fields = []
    pos = 0
    while len(fields) < 4:  # magic, width, height, maxval
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"not an 8-bit binary PPM: header {fields}")
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[pos + 1:pos + 1 + width * height * 3]


def is_complete_png(data):
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[-12:-8] == b"\x00\x00\x00\x00" \
        and data[-8:-4] == b"IEND"


def small_png():
    """A 64x64 gray PNG with edges everywhere (well under --max-size 100k)."""
    rows = [bytes(((x * 7 + y * 13) ^ (x * y)) & 255 for x in range(64)) for y in range(64)]
    return write_png(64, 64, rows)


def make_png(width, height, depth, color_type, samples, palette=None, trns=None, interlace=False):
    """samples[y][x] is a tuple of channel values at `depth` bits."""
    def pack_row(values):
        if depth == 16:
            return b"".join(struct.pack(">H", v) for px in values for v in px)
        if depth == 8:
            return bytes(v for px in values for v in px)
        bits = "".join(format(v, f"0{depth}b") for px in values for v in px)
        bits += "0" * (-len(bits) % 8)
        return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                               (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            xs = range(x0, width, dx)
            if not xs:
                continue
            for y in range(y0, height, dy):
                raw += b"\x00" + pack_row([samples[y][x] for x in xs])
    else:
        raw = b"".join(b"\x00" + pack_row(samples[y]) for y in range(height))
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                                               color_type, 0, 0, int(interlace)))
    if palette is not None:
        data += _chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    if trns is not None:
        data += _chunk(b"tRNS", trns)
    return data + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def png_header_only(width, height):
    """A valid-looking PNG that claims width x height over a tiny body."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 256)) + _chunk(b"IEND", b""))


def jpeg_claiming(data, width, height):
    """The JPEG `data` with its frame header rewritten to claim width x height."""
    sof = data.find(b"\xff\xc0")
    if sof < 0:
        sof = data.find(b"\xff\xc2")
    out = bytearray(data)
    out[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def tagged_png(source):
    """A 1×1 gray PNG carrying tEXt Source = `source`, as edgefetch writes."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + _chunk(b"tEXt", b"Source\0" + source.encode())
            + _chunk(b"IDAT", zlib.compress(b"\0\0")) + _chunk(b"IEND", b""))


def png_source(data):
    """The text of the tEXt "Source" before the first IDAT, or None."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            return None
        if kind == b"tEXt" and data[pos + 8:pos + 15] == b"Source\0":
            return data[pos + 15:pos + 8 + length].decode("latin-1")
        pos += 12 + length
    return None


# ---- reference operators (the same definitions as imaging.h) -------------

def luma(r, g, b):
    return (9798 * r + 19235 * g + 3735 * b + 16384) >> 15


def reflect101(i, n):
    if n == 1:
        return 0
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


def sobel_ref(gray, w, h):
    out = []
    for y in range(h):
        row = bytearray(w)
        for x in range(w):
            def p(dx, dy):
                return gray[reflect101(y + dy, h)][reflect101(x + dx, w)]
            gx = (p(1, -1) + 2 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2 * p(-1, 0) + p(-1, 1))
            gy = (p(-1, 1) + 2 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2 * p(0, -1) + p(1, -1))
            row[x] = min(255, int(math.floor(math.sqrt(gx * gx + gy * gy) + 0.5)))
        out.append(bytes(row))
    return out


def tutorial_ref(rgb, w, h):
    out = []
    for y in range(h):
        row = bytearray(w)
        for x in range(w):
            diffs = []
            for nx, ny in ((x + 1, y), (x, y + 1)):
                if nx < w and ny < h:
                    diffs.append(sum(abs(rgb[y][3 * x + c] - rgb[ny][3 * nx + c]) for c in range(3)))
            row[x] = 255 if diffs and sum(diffs) // len(diffs) > 30 else 0
        out.append(bytes(row))
    return out


def large_gray_png(width, height, seed=0):
    """A textured gray PNG; quick to make (rows are slices of one pattern)
    and small to send (a few hundred KiB for 41 MP)."""
    pattern = bytes(((x * 7 + seed) ^ (x >> 3)) & 255 for x in range(width + 512))
    raw = b"".join(b"\0" + pattern[(y * 3) % 512:(y * 3) % 512 + width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))
