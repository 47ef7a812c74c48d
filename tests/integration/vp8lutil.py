"""Lossless WebP (VP8L) files written bit by bit (RFC 9649), as
tests/unit/make_vp8l.h writes them: one Huffman group per pixel of a
huffman_bits 2 entropy image, each group's five codes a single symbol, so
that a file of a few hundred KB makes libwebp allocate a set of Huffman
tables (12-20 KiB) for each of up to 65536 groups."""
import struct


class _Bits:
    """Least significant bit first, into a bytearray (not one big int: that
    would copy the whole stream on every bit)."""

    def __init__(self):
        self.data = bytearray()
        self.count = 0

    def put(self, value, nbits):
        for i in range(nbits):
            if self.count % 8 == 0:
                self.data.append(0)
            if (value >> i) & 1:
                self.data[-1] |= 1 << (self.count % 8)
            self.count += 1

    def put_code(self, code, length):
        """A Huffman code word, its most significant bit first."""
        for i in range(length - 1, -1, -1):
            self.put((code >> i) & 1, 1)

    def bytes(self):
        return bytes(self.data)


def _simple1(w, symbol):
    w.put(1, 1)  # simple
    w.put(0, 1)  # one symbol
    w.put(1, 1)  # 8-bit symbol
    w.put(symbol, 8)


def _flat256(w, alphabet):
    """Symbols 0..255 of length 8, the others 0; a code-length code of two
    symbols (0 and 8) of length 1."""
    w.put(0, 1)
    w.put(12 - 4, 4)
    for i in range(12):
        w.put(1 if i in (2, 11) else 0, 3)
    w.put(0, 1)
    for s in range(alphabet):
        w.put_code(1 if s < 256 else 0, 1)


def vp8l_groups(groups, cache_bits=0):
    """The RIFF/WEBP/VP8L file with `groups` (1..65536) Huffman groups."""
    strip = min(groups, 4096)
    rows = (groups + strip - 1) // strip
    width, height = 4 * strip, 4 * rows
    w = _Bits()
    w.put(0x2f, 8)
    w.put(width - 1, 14)
    w.put(height - 1, 14)
    w.put(0, 1)
    w.put(0, 3)
    w.put(0, 1)  # no transform
    w.put(1 if cache_bits else 0, 1)
    if cache_bits:
        w.put(cache_bits, 4)
    w.put(1, 1)  # meta prefix codes
    w.put(0, 3)  # huffman_bits 2
    w.put(0, 1)  # the entropy image: no cache
    _flat256(w, 256 + 24)
    _flat256(w, 256)
    for _ in range(3):
        _simple1(w, 0)
    for i in range(strip * rows):
        group = i if i < groups else 0
        w.put_code(group & 0xff, 8)
        w.put_code(group >> 8, 8)
    for g in range(groups):
        for c in range(5):
            _simple1(w, g & 0xff if c == 1 else 0)
    stream = w.bytes()
    padded = stream + b"\0" * (len(stream) & 1)
    return (b"RIFF" + struct.pack("<I", 12 + len(padded)) + b"WEBPVP8L"
            + struct.pack("<I", len(stream)) + padded)
