/* Format sniffing, header probing, decoding (PNG through stb_image, JPEG
 * through libjpeg-turbo in decode_jpeg.c), and the RGB to luma conversion.
 *
 * The decoders decide what they can decode; the sniffing and header walks
 * here exist to tell the user *why* a body is refused ("not an image: starts
 * with "<!DOCTYPE html>"", "truncated PNG") where stb would only say "unknown
 * image type". They run before the decoder (cheap, header only) or only after
 * it has failed, never on the successful decode path. The header walks also
 * find the EXIF orientation (JPEG APP1, PNG eXIf), parsed here for both; a
 * JPEG is turned while libjpeg decodes it, a PNG after stb has. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"
#include "imaging_stbi.h"

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t jpeg_soi[3] = {0xff, 0xd8, 0xff};

/* Signature (8) + IHDR length and type (8) + IHDR data (13) + CRC (4). */
#define PNG_HEADER_SIZE 33

/* Pixels per step of the in-place RGB to luma conversion (decoded PNGs). */
#define LUMA_BLOCK 4096

/* How much of a non-image body the error message quotes. */
#define QUOTE_MAX_CHARS 24
#define QUOTE_MAX_BYTES 8

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static unsigned read_be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static bool has_prefix(const uint8_t *data, size_t size, const void *magic, size_t magic_size)
{
    return size >= magic_size && memcmp(data, magic, magic_size) == 0;
}

/* A body shorter than a signature that matches as far as it goes: a download
 * cut before the header ended, not some other kind of file. */
static bool is_cut_signature(const uint8_t *data, size_t size, const void *magic, size_t magic_size)
{
    return size < magic_size && memcmp(data, magic, size) == 0;
}

/* After stbi_load_from_memory (which, unlike stbi_info, keeps the PNG or
 * JPEG reader's own reason): "too large" is what stb says when an image is
 * beyond its own size arithmetic (STBI_MAX_DIMENSIONS per side, or about 2^30
 * bytes decoded). */
static bool stbi_failed_too_large(void)
{
    const char *reason = stbi_failure_reason();
    return reason != NULL && strcmp(reason, "too large") == 0;
}

/* stb's reason, copied into `buf` and made safe to print. v2.27 builds
 * "XXXX PNG chunk not known" from the file's own chunk type, so those four
 * bytes are whatever a hostile file says (escape sequences included), and in
 * a static buffer that is not thread-local; anything outside printable ASCII
 * becomes '?'. (Found by tests/fuzz/fuzz_decode.) */
static const char *stbi_reason(char *buf, size_t buf_size)
{
    const char *reason = stbi_failure_reason();
    size_t len = 0;

    if (reason == NULL)
        return "unknown error";
    for (; len + 1 < buf_size && reason[len] != '\0'; len++)
        buf[len] = reason[len] >= 0x20 && reason[len] < 0x7f ? reason[len] : '?';
    buf[len] = '\0';
    return buf;
}

/* "2500.0 MP" for photo-sized counts, exact pixels for tiny ones (a limit of
 * 99 pixels should not read "0.0 MP"); a round limit reads "100 MP". */
static void format_pixels(uint64_t pixels, bool is_limit, char *out, size_t out_size)
{
    if (is_limit && pixels >= 1000000 && pixels % 1000000 == 0)
        snprintf(out, out_size, "%" PRIu64 " MP", pixels / 1000000);
    else if (pixels >= 100000)
        snprintf(out, out_size, "%.1f MP", (double)pixels / 1e6);
    else
        snprintf(out, out_size, "%" PRIu64 " pixels", pixels);
}

/* ---- sniffing what a refused body is --------------------------------- */

static const uint8_t jxl_container[12] = {0, 0, 0, 12, 'J', 'X', 'L', ' ', '\r', '\n', 0x87, '\n'};
static const uint8_t jp2_container[12] = {0, 0, 0, 12, 'j', 'P', ' ', ' ', '\r', '\n', 0x87, '\n'};
static const uint8_t jp2_codestream[4] = {0xff, 0x4f, 0xff, 0x51};
static const uint8_t jxl_codestream[2] = {0xff, 0x0a};
static const uint8_t tiff_le[4] = {'I', 'I', '*', 0};
static const uint8_t tiff_be[4] = {'M', 'M', 0, '*'};

static bool is_svg(const uint8_t *data, size_t size)
{
    size_t start = 0;
    if (has_prefix(data, size, "\xef\xbb\xbf", 3))
        start = 3;
    while (start < size && (data[start] == ' ' || data[start] == '\t' || data[start] == '\r' ||
                            data[start] == '\n'))
        start++;
    const uint8_t *text = data + start;
    size_t text_size = size - start;
    if (has_prefix(text, text_size, "<svg", 4))
        return true;
    /* An XML prolog or comment first: look for the root element a little
     * further on rather than parse XML. */
    if (has_prefix(text, text_size, "<?xml", 5) || has_prefix(text, text_size, "<!--", 4)) {
        size_t window = text_size < 1024 ? text_size : 1024;
        return memmem(text, window, "<svg", 4) != NULL;
    }
    return false;
}

/* Names image formats we recognise but do not decode, so the message says
 * "unsupported format (GIF)" rather than "not an image". */
static const char *unsupported_format(const uint8_t *data, size_t size)
{
    if (has_prefix(data, size, "GIF87a", 6) || has_prefix(data, size, "GIF89a", 6))
        return "GIF";
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return "WebP";
    if (size >= 12 && memcmp(data + 4, "ftyp", 4) == 0) {
        const uint8_t *brand = data + 8;
        if (memcmp(brand, "avif", 4) == 0 || memcmp(brand, "avis", 4) == 0)
            return "AVIF";
        if (memcmp(brand, "heic", 4) == 0 || memcmp(brand, "heix", 4) == 0 ||
            memcmp(brand, "hevc", 4) == 0 || memcmp(brand, "hevx", 4) == 0 ||
            memcmp(brand, "mif1", 4) == 0 || memcmp(brand, "msf1", 4) == 0)
            return "HEIF";
    }
    if (has_prefix(data, size, jxl_codestream, sizeof(jxl_codestream)) ||
        has_prefix(data, size, jxl_container, sizeof(jxl_container)))
        return "JPEG XL";
    if (has_prefix(data, size, jp2_codestream, sizeof(jp2_codestream)) ||
        has_prefix(data, size, jp2_container, sizeof(jp2_container)))
        return "JPEG 2000";
    if (has_prefix(data, size, tiff_le, sizeof(tiff_le)) ||
        has_prefix(data, size, tiff_be, sizeof(tiff_be)))
        return "TIFF";
    /* "BM" alone is too weak (text can start with it); the DIB header size
     * that follows the 14-byte file header takes one of a few values. */
    if (size >= 18 && data[0] == 'B' && data[1] == 'M') {
        uint32_t dib_size = read_le32(data + 14);
        if (dib_size == 12 || dib_size == 40 || dib_size == 52 || dib_size == 56 ||
            dib_size == 64 || dib_size == 108 || dib_size == 124)
            return "BMP";
    }
    if (has_prefix(data, size, "8BPS", 4))
        return "PSD";
    if (has_prefix(data, size, "qoif", 4))
        return "QOI";
    /* ICO: reserved 0, type 1, then a non-zero image count. */
    if (size >= 6 && data[0] == 0 && data[1] == 0 && data[2] == 1 && data[3] == 0 &&
        (data[4] | data[5]) != 0)
        return "ICO";
    if (is_svg(data, size))
        return "SVG";
    return NULL;
}

/* Text is what `file` calls text: no C0 controls other than the usual white
 * space and ESC. UTF-8 bytes count as text; they are escaped when quoted. */
static bool looks_like_text(const uint8_t *data, size_t size)
{
    size_t window = size < 64 ? size : 64;
    for (size_t i = 0; i < window; i++) {
        uint8_t c = data[i];
        bool control =
            c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b;
        if (control || c == 0x7f)
            return false;
    }
    return true;
}

/* Writes `not an image: starts with "<!DOCTYPE html>"` (the first line, at
 * most QUOTE_MAX_CHARS of it, escaped C-style) or, for binary data, `not an
 * image: starts with bytes 1f 8b 08 00`. An error page or a JSON error is the
 * usual culprit and the first line names it. */
static void describe_non_image(const uint8_t *data, size_t size, char *err, size_t err_size)
{
    char quoted[QUOTE_MAX_CHARS * 4 + 8];
    size_t out = 0;

    if (!looks_like_text(data, size)) {
        size_t count = size < QUOTE_MAX_BYTES ? size : QUOTE_MAX_BYTES;
        for (size_t i = 0; i < count; i++)
            out +=
                (size_t)snprintf(quoted + out, sizeof(quoted) - out, i ? " %02x" : "%02x", data[i]);
        img__set_err(err, err_size, "not an image: starts with bytes %s%s", quoted,
                     size > count ? " ..." : "");
        return;
    }

    size_t start = 0;
    while (start < size && (data[start] == ' ' || data[start] == '\t' || data[start] == '\r' ||
                            data[start] == '\n'))
        start++;
    if (start == size) {
        img__set_err(err, err_size, "not an image: %zu bytes of white space", size);
        return;
    }
    size_t end = start;
    while (end < size && end - start < QUOTE_MAX_CHARS && data[end] != '\r' && data[end] != '\n')
        end++;
    bool cut = end < size && data[end] != '\r' && data[end] != '\n';

    for (size_t i = start; i < end; i++) {
        uint8_t c = data[i];
        if (c == '"' || c == '\\') {
            quoted[out++] = '\\';
            quoted[out++] = (char)c;
        } else if (c == '\t') {
            quoted[out++] = '\\';
            quoted[out++] = 't';
        } else if (c < 0x20 || c >= 0x7f) {
            out += (size_t)snprintf(quoted + out, sizeof(quoted) - out, "\\x%02x", c);
        } else {
            quoted[out++] = (char)c;
        }
    }
    quoted[out] = '\0';
    img__set_err(err, err_size, "not an image: starts with \"%s\"%s", quoted, cut ? "..." : "");
}

/* ---- EXIF orientation (JPEG APP1, PNG eXIf) ---------------------------- */

static unsigned exif_u16(const uint8_t *p, bool big_endian)
{
    return big_endian ? read_be16(p) : (unsigned)p[1] << 8 | p[0];
}

static uint32_t exif_u32(const uint8_t *p, bool big_endian)
{
    return big_endian ? read_be32(p) : read_le32(p);
}

#define EXIF_TAG_ORIENTATION 0x0112
#define EXIF_TYPE_SHORT 3

int img__exif_orientation(const uint8_t *tiff, size_t size)
{
    /* TIFF header: byte order, 42, offset of IFD0 (Exif 2.32 section 4.5.2);
     * IFD0 holds the Orientation tag (0x0112, one SHORT, 1-8). */
    if (size < 8)
        return 1;
    bool big_endian;
    if (tiff[0] == 'M' && tiff[1] == 'M')
        big_endian = true;
    else if (tiff[0] == 'I' && tiff[1] == 'I')
        big_endian = false;
    else
        return 1;
    if (exif_u16(tiff + 2, big_endian) != 42)
        return 1;
    uint32_t ifd = exif_u32(tiff + 4, big_endian);
    if (ifd > size - 2)
        return 1;
    unsigned entries = exif_u16(tiff + ifd, big_endian);
    for (unsigned i = 0; i < entries; i++) {
        size_t entry = (size_t)ifd + 2 + 12 * (size_t)i;
        if (entry > size - 12)
            return 1;
        if (exif_u16(tiff + entry, big_endian) != EXIF_TAG_ORIENTATION)
            continue;
        if (exif_u16(tiff + entry + 2, big_endian) != EXIF_TYPE_SHORT ||
            exif_u32(tiff + entry + 4, big_endian) != 1)
            return 1;
        unsigned value = exif_u16(tiff + entry + 8, big_endian);
        return value >= 1 && value <= 8 ? (int)value : 1;
    }
    return 1;
}

/* Stored width W, height H; orientations 5-8 swap the output's sides (Exif
 * 2.32 table 4: 6 is "0th row = visual right side, 0th column = visual top",
 * i.e. turn 90° clockwise to view). */
uint8_t *img__orient_row_start(const struct img_buf *out, int orientation, int stored_width,
                               int stored_height, int y, ptrdiff_t *step)
{
    size_t pixel = (size_t)out->channels;
    size_t stride = out->stride;
    size_t last_x = (size_t)stored_width - 1;
    size_t flipped_y = (size_t)(stored_height - 1 - y);
    switch (orientation) {
    case 2: /* mirrored left-right */
        *step = -(ptrdiff_t)pixel;
        return out->data + (size_t)y * stride + last_x * pixel;
    case 3: /* turned 180° */
        *step = -(ptrdiff_t)pixel;
        return out->data + flipped_y * stride + last_x * pixel;
    case 4: /* mirrored top-bottom */
        *step = (ptrdiff_t)pixel;
        return out->data + flipped_y * stride;
    case 5: /* transposed: (x, y) -> (y, x) */
        *step = (ptrdiff_t)stride;
        return out->data + (size_t)y * pixel;
    case 6: /* (x, y) -> (H-1-y, x) */
        *step = (ptrdiff_t)stride;
        return out->data + flipped_y * pixel;
    case 7: /* transversed: (x, y) -> (H-1-y, W-1-x) */
        *step = -(ptrdiff_t)stride;
        return out->data + last_x * stride + flipped_y * pixel;
    case 8: /* (x, y) -> (y, W-1-x) */
        *step = -(ptrdiff_t)stride;
        return out->data + last_x * stride + (size_t)y * pixel;
    default:
        *step = (ptrdiff_t)pixel;
        return out->data + (size_t)y * stride;
    }
}

/* ---- PNG ------------------------------------------------------------- */

enum chunk_walk {
    CHUNKS_COMPLETE = 0, /* reached IEND (or IDAT when asked to stop there) */
    CHUNKS_CUT,          /* a chunk runs past the end of the body */
    CHUNKS_NO_IEND,      /* the body ends between chunks, before IEND */
    CHUNKS_CORRUPT,      /* a chunk length over 2^31 - 1 (PNG spec 5.3) */
};

struct png_walk {
    char cut_chunk[5];
    bool has_trns;
    /* The first complete eXIf chunk walked over (its data: a TIFF header
     * and IFDs, no "Exif\0\0"). */
    bool has_exif;
    size_t exif_offset;
    size_t exif_size;
};

/* Steps from chunk to chunk (headers only, no CRC or zlib work) to tell a cut
 * download from a corrupt file, and notes tRNS and eXIf on the way.
 *
 * An eXIf chunk counts only before the first IDAT, where the probe's walk
 * stops: the PNG 3rd edition (2025) orders it "before IDAT" (the PNG
 * extensions 1.5.0 of 2017 allowed it anywhere), Safari and Chromium (since
 * 2024) read it only there, CSS image-orientation lets browsers ignore EXIF
 * after the image data (csswg-drafts#4929), and Firefox reads no eXIf at
 * all. Only the first counts (libpng drops duplicates). Its CRC is not
 * checked, as stb checks none. */
static enum chunk_walk walk_png_chunks(const uint8_t *data, size_t size, bool stop_at_idat,
                                       struct png_walk *walk)
{
    memset(walk, 0, sizeof(*walk));
    size_t offset = sizeof(png_signature);
    for (;;) {
        if (offset == size)
            return CHUNKS_NO_IEND;
        if (size - offset < 8)
            return CHUNKS_CUT; /* cut_chunk stays "": inside a chunk header */
        uint32_t length = read_be32(data + offset);
        const uint8_t *type = data + offset + 4;
        if (length > INT32_MAX)
            return CHUNKS_CORRUPT;
        if (stop_at_idat && memcmp(type, "IDAT", 4) == 0)
            return CHUNKS_COMPLETE;
        if ((size_t)length + 12 > size - offset) {
            for (int i = 0; i < 4; i++)
                walk->cut_chunk[i] = (type[i] >= 0x20 && type[i] < 0x7f) ? (char)type[i] : '?';
            return CHUNKS_CUT;
        }
        if (memcmp(type, "tRNS", 4) == 0)
            walk->has_trns = true;
        if (memcmp(type, "eXIf", 4) == 0 && !walk->has_exif) {
            walk->has_exif = true;
            walk->exif_offset = offset + 8;
            walk->exif_size = length;
        }
        if (memcmp(type, "IEND", 4) == 0)
            return CHUNKS_COMPLETE;
        offset += (size_t)length + 12;
    }
}

/* stb_image 2.27 copies an IDAT chunk's bytes into its buffer before that
 * buffer exists when the first IDAT is empty: memcpy(NULL, p, 0), undefined
 * behaviour (found by tests/fuzz, crashes/stb-png-empty-first-idat.png). An
 * empty IDAT carries nothing, so such a file is handed to stb without its
 * empty IDATs. Returns 1 and a malloc'd copy when one was made, 0 when the
 * file needs none, -ENOMEM. */
static int png_without_empty_idat(const uint8_t *data, size_t size, uint8_t **copy,
                                  size_t *copy_size)
{
    size_t offset = sizeof(png_signature);
    bool leading_empty = false;
    while (size - offset >= 12) {
        uint32_t length = read_be32(data + offset);
        if (length > INT32_MAX || (size_t)length + 12 > size - offset)
            break;
        if (memcmp(data + offset + 4, "IDAT", 4) == 0) {
            leading_empty = length == 0;
            break;
        }
        offset += (size_t)length + 12;
    }
    if (!leading_empty)
        return 0;

    uint8_t *out = malloc(size);
    if (out == NULL)
        return -ENOMEM;
    memcpy(out, data, sizeof(png_signature));
    size_t in = sizeof(png_signature), used = sizeof(png_signature);
    while (size - in >= 12) {
        uint32_t length = read_be32(data + in);
        if (length > INT32_MAX || (size_t)length + 12 > size - in)
            break;
        if (!(length == 0 && memcmp(data + in + 4, "IDAT", 4) == 0)) {
            memcpy(out + used, data + in, (size_t)length + 12);
            used += (size_t)length + 12;
        }
        in += (size_t)length + 12;
    }
    /* A cut last chunk goes along as it is, so stb reports it the same. */
    memcpy(out + used, data + in, size - in);
    used += size - in;
    *copy = out;
    *copy_size = used;
    return 1;
}

static bool png_depth_valid(unsigned color_type, unsigned depth)
{
    switch (color_type) {
    case 0: /* gray */
        return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: /* palette */
        return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: /* RGB */
    case 4: /* gray + alpha */
    case 6: /* RGBA */
        return depth == 8 || depth == 16;
    default:
        return false;
    }
}

/* stb's own bounds for PNG (stbi__parse_png_file): sides up to
 * STBI_MAX_DIMENSIONS and under 2^30 samples, a palette pixel counting 4. */
static bool png_within_stb_limits(uint32_t width, uint32_t height, unsigned color_type)
{
    if (width > STBI_MAX_DIMENSIONS || height > STBI_MAX_DIMENSIONS)
        return false;
    uint32_t samples = color_type == 3 ? 4 : (color_type & 2 ? 3 : 1) + (color_type & 4 ? 1 : 0);
    return (UINT32_C(1) << 30) / width / samples >= height;
}

static int probe_png(const uint8_t *data, size_t size, struct img_info *info, char *err,
                     size_t err_size)
{
    if (size < PNG_HEADER_SIZE) {
        img__set_err(err, err_size, "truncated PNG header (%zu bytes)", size);
        return -EINVAL;
    }
    const uint8_t *ihdr = data + 16;
    if (read_be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0) {
        img__set_err(err, err_size, "corrupt PNG header (first chunk is not IHDR)");
        return -EINVAL;
    }
    uint32_t width = read_be32(ihdr);
    uint32_t height = read_be32(ihdr + 4);
    unsigned depth = ihdr[8];
    unsigned color_type = ihdr[9];
    if (width == 0 || height == 0 || width > INT32_MAX || height > INT32_MAX) {
        img__set_err(err, err_size, "corrupt PNG header (%" PRIu32 "x%" PRIu32 " pixels)", width,
                     height);
        return -EINVAL;
    }
    if (!png_depth_valid(color_type, depth)) {
        img__set_err(err, err_size, "corrupt PNG header (bit depth %u with colour type %u)", depth,
                     color_type);
        return -EINVAL;
    }
    if (ihdr[10] != 0 || ihdr[11] != 0 || ihdr[12] > 1) {
        img__set_err(err, err_size,
                     "corrupt PNG header (unknown compression, filter or "
                     "interlace method)");
        return -EINVAL;
    }

    int channels;
    switch (color_type) {
    case 0:
        channels = 1;
        break;
    case 4:
        channels = 2;
        break;
    case 6:
        channels = 4;
        break;
    default:
        channels = 3;
        break;
    }
    /* Whether a palette carries alpha is only known from a tRNS chunk before
     * the pixels; stb's info scans for it the same way. The same walk finds
     * eXIf; for other colour types a cut or corrupt chunk here is left for
     * the decode to report, as before. */
    struct png_walk walk;
    enum chunk_walk walked = walk_png_chunks(data, size, true, &walk);
    if (color_type == 3) {
        if (walked == CHUNKS_CUT || walked == CHUNKS_NO_IEND) {
            if (walked == CHUNKS_CUT && walk.cut_chunk[0] != '\0')
                img__set_err(err, err_size, "truncated PNG header (%s chunk cut short)",
                             walk.cut_chunk);
            else
                img__set_err(err, err_size, "truncated PNG header (ends before the pixels)");
            return -EINVAL;
        }
        if (walk.has_trns)
            channels = 4;
    }

    /* stb is the decoder, so it has the last word on the header too, except
     * for sizes: an image beyond stb's limits is reported with its true size
     * here and refused as too big (-EFBIG) by img_decode. (stbi_info cannot
     * say which: after the PNG reader refuses, it tries the JPEG reader and
     * leaves "unknown image type" as the reason, which is also why the
     * message below cannot quote stb.) */
    if (png_within_stb_limits(width, height, color_type)) {
        int stb_width, stb_height, stb_channels;
        int stb_size = size > INT_MAX ? INT_MAX : (int)size;
        if (!stbi_info_from_memory(data, stb_size, &stb_width, &stb_height, &stb_channels)) {
            img__set_err(err, err_size, "corrupt PNG header (refused by stb_image)");
            return -EINVAL;
        }
    }

    int orientation =
        walk.has_exif ? img__exif_orientation(data + walk.exif_offset, walk.exif_size) : 1;
    bool turned = orientation >= 5;
    info->format = IMG_FORMAT_PNG;
    info->width = (int)(turned ? height : width);
    info->height = (int)(turned ? width : height);
    info->channels = channels;
    info->orientation = orientation;
    return 0;
}

/* ---- JPEG ------------------------------------------------------------ */

enum jpeg_walk {
    JPEG_FOUND_FRAME = 0,
    JPEG_CUT,
    JPEG_CORRUPT,
};

struct jpeg_frame {
    unsigned marker; /* SOF0..SOF15 */
    unsigned precision;
    unsigned width;
    unsigned height;
    unsigned components;
    size_t end; /* offset just past the frame header */
    /* The TIFF data of the first APP1 "Exif" segment before the frame, or
     * exif_size 0. */
    size_t exif_offset;
    size_t exif_size;
};

static const uint8_t exif_signature[6] = {'E', 'x', 'i', 'f', 0, 0};

static bool is_sof(unsigned marker)
{
    /* C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames. */
    return marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
}

/* Walks marker segments from SOI to the frame header (SOFn), tolerating the
 * fill bytes and stray garbage between segments that stb tolerates too. */
static enum jpeg_walk walk_jpeg_header(const uint8_t *data, size_t size, struct jpeg_frame *frame)
{
    size_t offset = 2;
    frame->exif_offset = frame->exif_size = 0;
    for (;;) {
        while (offset < size && data[offset] != 0xff)
            offset++;
        while (offset < size && data[offset] == 0xff)
            offset++;
        if (offset >= size)
            return JPEG_CUT;
        unsigned marker = data[offset++];
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8))
            continue; /* TEM, RSTn, SOI: no length */
        if (marker == 0xd9 || marker == 0xda)
            return JPEG_CORRUPT; /* EOI or SOS before any frame */
        if (size - offset < 2)
            return JPEG_CUT;
        unsigned length = read_be16(data + offset);
        if (length < 2)
            return JPEG_CORRUPT;
        if (length > size - offset)
            return JPEG_CUT;
        if (is_sof(marker)) {
            if (length < 8)
                return JPEG_CORRUPT;
            frame->marker = marker;
            frame->precision = data[offset + 2];
            frame->height = read_be16(data + offset + 3);
            frame->width = read_be16(data + offset + 5);
            frame->components = data[offset + 7];
            frame->end = offset + length;
            return JPEG_FOUND_FRAME;
        }
        if (marker == 0xe1 && frame->exif_size == 0 && length >= 2 + sizeof(exif_signature) &&
            memcmp(data + offset + 2, exif_signature, sizeof(exif_signature)) == 0) {
            frame->exif_offset = offset + 2 + sizeof(exif_signature);
            frame->exif_size = length - 2 - sizeof(exif_signature);
        }
        offset += length;
    }
}

static const char *jpeg_coding_name(unsigned sof)
{
    switch (sof) {
    case 0xc3:
        return "lossless";
    case 0xc5:
    case 0xc6:
    case 0xc7:
        return "hierarchical";
    case 0xc9:
    case 0xca:
    case 0xcb:
        return "arithmetic-coded";
    default:
        return "hierarchical arithmetic-coded";
    }
}

static int probe_jpeg(const uint8_t *data, size_t size, struct img_info *info, char *err,
                      size_t err_size)
{
    struct jpeg_frame frame;
    switch (walk_jpeg_header(data, size, &frame)) {
    case JPEG_CUT:
        img__set_err(err, err_size, "truncated JPEG header (%zu bytes)", size);
        return -EINVAL;
    case JPEG_CORRUPT:
        img__set_err(err, err_size, "corrupt JPEG header (no frame header)");
        return -EINVAL;
    case JPEG_FOUND_FRAME:
        break;
    }
    /* Baseline, extended and progressive Huffman (SOF0-2), 8-bit: what
     * cameras and the web produce. libjpeg-turbo could also decode
     * arithmetic coding, but that is decoder surface nobody needs. */
    if (frame.marker > 0xc2) {
        img__set_err(err, err_size, "unsupported JPEG (%s, SOF%u)", jpeg_coding_name(frame.marker),
                     frame.marker - 0xc0);
        return -EINVAL;
    }
    if (frame.precision != 8) {
        img__set_err(err, err_size, "unsupported JPEG (%u-bit samples)", frame.precision);
        return -EINVAL;
    }
    if (frame.components != 1 && frame.components != 3 && frame.components != 4) {
        img__set_err(err, err_size, "unsupported JPEG (%u components)", frame.components);
        return -EINVAL;
    }
    if (frame.height == 0 || frame.width == 0) {
        img__set_err(err, err_size, "unsupported JPEG (%s given after the first scan)",
                     frame.height == 0 ? "height" : "width");
        return -EINVAL;
    }

    /* libjpeg reads the rest of the header (tables, sampling factors,
     * component ids) exactly as the decode will. */
    int ret = img__jpeg_check_header(data, size, err, err_size);
    if (ret < 0)
        return ret;

    int orientation =
        frame.exif_size > 0 ? img__exif_orientation(data + frame.exif_offset, frame.exif_size) : 1;
    bool turned = orientation >= 5;
    info->format = IMG_FORMAT_JPEG;
    info->width = (int)(turned ? frame.height : frame.width);
    info->height = (int)(turned ? frame.width : frame.height);
    info->orientation = orientation;
    /* Stored components: 1 is gray; 3 (YCbCr/RGB) and 4 (CMYK/YCCK) both
     * decode to RGB. */
    info->channels = frame.components == 1 ? 1 : 3;
    return 0;
}

int img_probe(const uint8_t *data, size_t size, struct img_info *info, char *err, size_t err_size)
{
    memset(info, 0, sizeof(*info));
    info->orientation = 1;
    if (data == NULL || size == 0) {
        img__set_err(err, err_size, "empty body");
        return -EINVAL;
    }
    if (has_prefix(data, size, png_signature, sizeof(png_signature)))
        return probe_png(data, size, info, err, err_size);
    if (has_prefix(data, size, jpeg_soi, sizeof(jpeg_soi)))
        return probe_jpeg(data, size, info, err, err_size);
    if (is_cut_signature(data, size, png_signature, sizeof(png_signature))) {
        img__set_err(err, err_size, "truncated PNG header (%zu bytes)", size);
        return -EINVAL;
    }
    if (is_cut_signature(data, size, jpeg_soi, sizeof(jpeg_soi))) {
        img__set_err(err, err_size, "truncated JPEG header (%zu bytes)", size);
        return -EINVAL;
    }
    const char *other = unsupported_format(data, size);
    if (other != NULL)
        img__set_err(err, err_size, "unsupported format (%s)", other);
    else
        describe_non_image(data, size, err, err_size);
    return -EINVAL;
}

/* ---- turning a decoded PNG ------------------------------------------- */

/* Side of the square tiles the turning copy works in: the tile's 32 source
 * rows and the 32 destination rows it writes (32 pixels of each) stay in L1. */
#define ORIENT_TILE 32

/* Orientations 2-4 of a packed image (rows width * channels bytes apart), in
 * place: 2 mirrors each row, 4 the row order, 3 (turned 180°) both. */
static void mirror_in_place(uint8_t *pixels, int width, int height, int channels, int orientation)
{
    size_t pixel = (size_t)channels;
    size_t stride = (size_t)width * pixel;
    if (orientation == 2 || orientation == 3) {
        for (int y = 0; y < height; y++) {
            uint8_t *row = pixels + (size_t)y * stride;
            for (size_t left = 0, right = stride - pixel; left < right;
                 left += pixel, right -= pixel) {
                for (size_t c = 0; c < pixel; c++) {
                    uint8_t sample = row[left + c];
                    row[left + c] = row[right + c];
                    row[right + c] = sample;
                }
            }
        }
    }
    if (orientation == 3 || orientation == 4) {
        for (int y = 0; y < height / 2; y++) {
            uint8_t *top = pixels + (size_t)y * stride;
            uint8_t *bottom = pixels + (size_t)(height - 1 - y) * stride;
            for (size_t i = 0; i < stride; i++) {
                uint8_t sample = top[i];
                top[i] = bottom[i];
                bottom[i] = sample;
            }
        }
    }
}

/* Orientations 5-8: copies the packed stored image (width x height) into
 * `out` (height x width), tile by tile. */
static void turn_into(const uint8_t *pixels, int width, int height, int orientation,
                      const struct img_buf *out)
{
    size_t pixel = (size_t)out->channels;
    size_t stride = (size_t)width * pixel;
    for (int tile_y = 0; tile_y < height; tile_y += ORIENT_TILE) {
        int end_y = height - tile_y < ORIENT_TILE ? height : tile_y + ORIENT_TILE;
        for (int tile_x = 0; tile_x < width; tile_x += ORIENT_TILE) {
            int end_x = width - tile_x < ORIENT_TILE ? width : tile_x + ORIENT_TILE;
            for (int y = tile_y; y < end_y; y++) {
                ptrdiff_t step;
                uint8_t *start = img__orient_row_start(out, orientation, width, height, y, &step);
                const uint8_t *row = pixels + (size_t)y * stride;
                if (pixel == 1) {
                    for (int x = tile_x; x < end_x; x++)
                        start[(ptrdiff_t)x * step] = row[x];
                } else { /* RGB: img_decode gives 1 or 3 channels */
                    for (int x = tile_x; x < end_x; x++)
                        memcpy(start + (ptrdiff_t)x * step, row + (size_t)x * 3, 3);
                }
            }
        }
    }
}

/* Turns stb's packed decode (*pixels, *width x *height as stored, `channels`
 * per pixel) upright. `spare`, when not NULL, is room for the whole image
 * inside the same allocation (after a colour PNG's luma, in what held its
 * RGB): 5-8 then need no second buffer; otherwise they allocate one the size
 * of the image and free the first. Returns 0 or -ENOMEM (*pixels untouched). */
static int orient_png(uint8_t **pixels, int *width, int *height, int channels, int orientation,
                      uint8_t *spare)
{
    if (orientation >= 2 && orientation <= 4) {
        mirror_in_place(*pixels, *width, *height, channels, orientation);
        return 0;
    }
    if (orientation < 5 || orientation > 8)
        return 0;
    size_t size = (size_t)*width * (size_t)*height * (size_t)channels;
    struct img_buf turned = {
        .data = spare != NULL ? spare : malloc(size),
        .stride = (size_t)*height * (size_t)channels,
        .width = *height,
        .height = *width,
        .channels = channels,
    };
    if (turned.data == NULL)
        return -ENOMEM;
    turn_into(*pixels, *width, *height, orientation, &turned);
    if (spare != NULL) {
        memcpy(*pixels, spare, size);
    } else {
        free(*pixels);
        *pixels = turned.data;
    }
    *width = turned.width;
    *height = turned.height;
    return 0;
}

/* ---- decoding -------------------------------------------------------- */

/* stb refused a PNG whose header was fine: say whether it was cut short (a
 * download problem) or is corrupt. */
static int explain_decode_failure(const uint8_t *data, size_t size, const struct img_info *info,
                                  char *err, size_t err_size)
{
    char reason_buf[64];
    const char *reason = stbi_reason(reason_buf, sizeof(reason_buf));
    if (strcmp(reason, "outofmem") == 0) {
        img__set_err(err, err_size, "out of memory decoding a %dx%d image", info->width,
                     info->height);
        return -ENOMEM;
    }
    if (stbi_failed_too_large()) {
        char pixels[32];
        format_pixels((uint64_t)info->width * (uint64_t)info->height, false, pixels,
                      sizeof(pixels));
        img__set_err(err, err_size, "image is %dx%d (%s), too large for the decoder", info->width,
                     info->height, pixels);
        return -EFBIG;
    }

    struct png_walk walk;
    switch (walk_png_chunks(data, size, false, &walk)) {
    case CHUNKS_CUT:
        if (walk.cut_chunk[0] != '\0')
            img__set_err(err, err_size, "truncated PNG (%s chunk cut short after %zu bytes)",
                         walk.cut_chunk, size);
        else
            img__set_err(err, err_size, "truncated PNG (chunk header cut short after %zu bytes)",
                         size);
        return -EINVAL;
    case CHUNKS_NO_IEND:
        img__set_err(err, err_size, "truncated PNG (no IEND chunk after %zu bytes)", size);
        return -EINVAL;
    case CHUNKS_CORRUPT:
    case CHUNKS_COMPLETE:
        break;
    }
    img__set_err(err, err_size, "corrupt PNG (stb_image: %s)", reason);
    return -EINVAL;
}

int img_decode(const uint8_t *data, size_t size, int channels, uint64_t max_pixels,
               struct img_buf *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    if (channels != 1 && channels != 3) {
        img__set_err(err, err_size, "cannot decode to %d channels (1 or 3)", channels);
        return -EINVAL;
    }

    struct img_info info;
    int ret = img_probe(data, size, &info, err, err_size);
    if (ret < 0)
        return ret;

    /* The limit is applied to the header's claim, before a decoder
     * allocates anything: a 100-byte PNG can claim 50000x50000 pixels. */
    uint64_t pixels = (uint64_t)info.width * (uint64_t)info.height;
    if (pixels > max_pixels) {
        char have[32], limit[32];
        format_pixels(pixels, false, have, sizeof(have));
        format_pixels(max_pixels, true, limit, sizeof(limit));
        img__set_err(err, err_size, "image is %dx%d (%s), over the %s limit", info.width,
                     info.height, have, limit);
        return -EFBIG;
    }
    if (info.format == IMG_FORMAT_JPEG)
        return img__jpeg_decode(data, size, channels, info.orientation, max_pixels, out, err,
                                err_size);

    if (size > INT_MAX) {
        img__set_err(err, err_size, "body is %zu bytes, over the decoder's %d-byte limit", size,
                     INT_MAX);
        return -EFBIG;
    }

    /* Gray files decode straight to one channel so their values stay exact;
     * colour files go through RGB and our luma, so the weights are ours
     * (img_rgb_to_luma) and not stb's own approximation. */
    int stb_channels = (channels == 1 && info.channels <= 2) ? 1 : 3;
    int width, height, file_channels;
    uint8_t *cleaned = NULL;
    size_t cleaned_size = 0;
    ret = png_without_empty_idat(data, size, &cleaned, &cleaned_size);
    if (ret < 0) {
        img__set_err(err, err_size, "out of memory");
        return ret;
    }
    uint8_t *pixels_rgb =
        stbi_load_from_memory(cleaned != NULL ? cleaned : data,
                              (int)(cleaned != NULL ? cleaned_size : size), &width, &height,
                              &file_channels, stb_channels);
    free(cleaned);
    if (pixels_rgb == NULL)
        return explain_decode_failure(data, size, &info, err, err_size);

    if (stb_channels == channels) {
        ret = orient_png(&pixels_rgb, &width, &height, channels, info.orientation, NULL);
        if (ret < 0) {
            free(pixels_rgb);
            img__set_err(err, err_size, "out of memory for a %dx%d image", info.width, info.height);
            return ret;
        }
        /* Takes stb's buffer (or ours): allocated with malloc (stb's default
         * STBI_MALLOC), which img_buf_finish frees. */
        out->data = pixels_rgb;
        out->stride = (size_t)width * (size_t)channels;
        out->width = width;
        out->height = height;
        out->channels = channels;
        return 0;
    }

    /* Luma of a colour PNG: converted inside stb's RGB buffer, which then
     * shrinks to a third, so no second image-sized buffer exists. Block by
     * block through a small buffer: a block's luma is written (at pixel s)
     * only after all its RGB (at 3s and beyond) has been read, and never
     * over RGB not yet read. */
    size_t count = (size_t)width * (size_t)height;
    for (size_t start = 0; start < count; start += LUMA_BLOCK) {
        uint8_t block[LUMA_BLOCK];
        size_t length = count - start < LUMA_BLOCK ? count - start : LUMA_BLOCK;
        img_rgb_to_luma(pixels_rgb + 3 * start, 3 * length, block, length, (int)length, 1);
        memcpy(pixels_rgb + start, block, length);
    }
    /* Past the luma, two thirds of the RGB buffer are free now: room to turn
     * it in without a second buffer (so this cannot fail). */
    (void)orient_png(&pixels_rgb, &width, &height, 1, info.orientation, pixels_rgb + count);
    /* Keeping the larger block is fine if the shrink fails. */
    uint8_t *shrunk = realloc(pixels_rgb, count);
    out->data = shrunk != NULL ? shrunk : pixels_rgb;
    out->stride = (size_t)width;
    out->width = width;
    out->height = height;
    out->channels = 1;
    return 0;
}

void img_rgb_to_luma(const uint8_t *rgb, size_t rgb_stride, uint8_t *luma, size_t luma_stride,
                     int width, int height)
{
    for (int y = 0; y < height; y++) {
        const uint8_t *restrict in = rgb + (size_t)y * rgb_stride;
        uint8_t *restrict row = luma + (size_t)y * luma_stride;
        for (int x = 0; x < width; x++) {
            unsigned r = in[3 * x], g = in[3 * x + 1], b = in[3 * x + 2];
            row[x] = (uint8_t)((4899 * r + 9617 * g + 1868 * b + 8192) >> 14);
        }
    }
}
