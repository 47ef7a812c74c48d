/* Format sniffing, header probing and the RGB to luma conversion; the
 * decoders are decode_png.c (libpng), decode_jpeg.c (libjpeg-turbo),
 * decode_webp.c, decode_gif.c, decode_avif.c, decode_bmp.c and
 * decode_tiff.c (whose probes this file calls by magic bytes), dispatched
 * with the limits by decode_limits.c.
 *
 * The decoders decide what they can decode; the sniffing and header walks
 * here exist to tell the user *why* a body is refused ("not an image: starts
 * with "<!DOCTYPE html>"", "truncated PNG") where a decoder would only say
 * "not a PNG". They run before the decoder (cheap, header only) or only after
 * it has failed, never on the successful decode path. The header walks also
 * find the EXIF orientation (JPEG APP1, PNG eXIf), parsed here for both;
 * both decoders turn rows into place as they decode. */
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

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t jpeg_soi[3] = {0xff, 0xd8, 0xff};

/* Signature (8) + IHDR length and type (8) + IHDR data (13) + CRC (4). */
#define PNG_HEADER_SIZE 33

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

/* "2500.0 MP" for photo-sized counts, exact pixels for tiny ones (a limit of
 * 99 pixels should not read "0.0 MP"); a round limit reads "100 MP". */
void img__format_pixels(uint64_t pixels, bool is_limit, char *out, size_t out_size)
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

static bool is_gif(const uint8_t *data, size_t size)
{
    return has_prefix(data, size, "GIF87a", 6) || has_prefix(data, size, "GIF89a", 6);
}

static bool is_webp(const uint8_t *data, size_t size)
{
    return size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0;
}

static bool is_tiff(const uint8_t *data, size_t size)
{
    return has_prefix(data, size, tiff_le, sizeof(tiff_le)) ||
           has_prefix(data, size, tiff_be, sizeof(tiff_be));
}

/* The ftyp box's major brand or a compatible one is AVIF's: "avif" (still)
 * or "avis" (sequence). A HEIF with an AVIF brand among others is AVIF. */
static bool is_avif(const uint8_t *data, size_t size)
{
    if (size < 16 || memcmp(data + 4, "ftyp", 4) != 0)
        return false;
    uint32_t box = read_be32(data);
    if (box < 16 || box > size)
        box = (uint32_t)(size < 64 ? size : 64);
    for (size_t brand = 8; brand + 4 <= box; brand += 4) {
        if (brand == 12)
            continue; /* minor_version */
        if (memcmp(data + brand, "avif", 4) == 0 || memcmp(data + brand, "avis", 4) == 0)
            return true;
    }
    return false;
}

/* "BM" alone is too weak (text can start with it); the DIB header size
 * that follows the 14-byte file header takes one of a few values. */
static bool is_bmp(const uint8_t *data, size_t size)
{
    if (size < 18 || data[0] != 'B' || data[1] != 'M')
        return false;
    uint32_t dib_size = read_le32(data + 14);
    return dib_size == 12 || dib_size == 40 || dib_size == 52 || dib_size == 56 || dib_size == 64 ||
           dib_size == 108 || dib_size == 124;
}

/* Names image formats we recognise but do not decode, so the message says
 * "unsupported format (JPEG XL)" rather than "not an image"; UNKNOWN for
 * anything else. */
static enum img_format unsupported_format(const uint8_t *data, size_t size)
{
    /* Formats this build was configured without (meson options). */
    if (!IMG_HAVE_GIF && is_gif(data, size))
        return IMG_FORMAT_GIF;
    if (!IMG_HAVE_WEBP && is_webp(data, size))
        return IMG_FORMAT_WEBP;
    if (!IMG_HAVE_AVIF && is_avif(data, size))
        return IMG_FORMAT_AVIF;
    if (!IMG_HAVE_TIFF && is_tiff(data, size))
        return IMG_FORMAT_TIFF;
    if (!IMG_HAVE_BMP && is_bmp(data, size))
        return IMG_FORMAT_BMP;
    if (size >= 12 && memcmp(data + 4, "ftyp", 4) == 0) {
        const uint8_t *brand = data + 8;
        if (memcmp(brand, "heic", 4) == 0 || memcmp(brand, "heix", 4) == 0 ||
            memcmp(brand, "hevc", 4) == 0 || memcmp(brand, "hevx", 4) == 0 ||
            memcmp(brand, "mif1", 4) == 0 || memcmp(brand, "msf1", 4) == 0)
            return IMG_FORMAT_HEIF;
    }
    if (has_prefix(data, size, jxl_codestream, sizeof(jxl_codestream)) ||
        has_prefix(data, size, jxl_container, sizeof(jxl_container)))
        return IMG_FORMAT_JPEG_XL;
    if (has_prefix(data, size, jp2_codestream, sizeof(jp2_codestream)) ||
        has_prefix(data, size, jp2_container, sizeof(jp2_container)))
        return IMG_FORMAT_JPEG_2000;
    if (has_prefix(data, size, "8BPS", 4))
        return IMG_FORMAT_PSD;
    if (has_prefix(data, size, "qoif", 4))
        return IMG_FORMAT_QOI;
    /* ICO: reserved 0, type 1, then a non-zero image count. */
    if (size >= 6 && data[0] == 0 && data[1] == 0 && data[2] == 1 && data[3] == 0 &&
        (data[4] | data[5]) != 0)
        return IMG_FORMAT_ICO;
    if (is_svg(data, size))
        return IMG_FORMAT_SVG;
    return IMG_FORMAT_UNKNOWN;
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
static void describe_non_image(const uint8_t *data, size_t size, enum img_error_kind *kind,
                               char *err, size_t err_size)
{
    char quoted[QUOTE_MAX_CHARS * 4 + 8];
    size_t out = 0;

    if (!looks_like_text(data, size)) {
        size_t count = size < QUOTE_MAX_BYTES ? size : QUOTE_MAX_BYTES;
        for (size_t i = 0; i < count; i++)
            out +=
                (size_t)snprintf(quoted + out, sizeof(quoted) - out, i ? " %02x" : "%02x", data[i]);
        img__fail(kind, IMG_ERROR_NOT_AN_IMAGE, err, err_size,
                  "not an image: starts with bytes %s%s", quoted, size > count ? " ..." : "");
        return;
    }

    size_t start = 0;
    while (start < size && (data[start] == ' ' || data[start] == '\t' || data[start] == '\r' ||
                            data[start] == '\n'))
        start++;
    if (start == size) {
        img__fail(kind, IMG_ERROR_NOT_AN_IMAGE, err, err_size,
                  "not an image: %zu bytes of white space", size);
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
    img__fail(kind, IMG_ERROR_NOT_AN_IMAGE, err, err_size, "not an image: starts with \"%s\"%s",
              quoted, cut ? "..." : "");
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
 * checked here: libpng checks every chunk's CRC as it decodes, and drops an
 * ancillary chunk with a bad one (a critical one is an error). */
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

bool img__png_explain_cut(const uint8_t *data, size_t size, enum img_error_kind *kind, char *err,
                          size_t err_size)
{
    struct png_walk walk;
    switch (walk_png_chunks(data, size, false, &walk)) {
    case CHUNKS_CUT:
        if (walk.cut_chunk[0] != '\0')
            img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                      "truncated PNG (%s chunk cut short after %zu bytes)", walk.cut_chunk, size);
        else
            img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                      "truncated PNG (chunk header cut short after %zu bytes)", size);
        return true;
    case CHUNKS_NO_IEND:
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                  "truncated PNG (no IEND chunk after %zu bytes)", size);
        return true;
    case CHUNKS_CORRUPT:
    case CHUNKS_COMPLETE:
        break;
    }
    return false;
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

static int probe_png(const uint8_t *data, size_t size, struct img__header *header,
                     enum img_error_kind *kind, char *err, size_t err_size)
{
    if (size < PNG_HEADER_SIZE) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated PNG header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    const uint8_t *ihdr = data + 16;
    if (read_be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt PNG header (first chunk is not IHDR)");
        return -EINVAL;
    }
    uint32_t width = read_be32(ihdr);
    uint32_t height = read_be32(ihdr + 4);
    unsigned depth = ihdr[8];
    unsigned color_type = ihdr[9];
    if (width == 0 || height == 0 || width > INT32_MAX || height > INT32_MAX) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt PNG header (%" PRIu32 "x%" PRIu32 " pixels)", width, height);
        return -EINVAL;
    }
    if (!png_depth_valid(color_type, depth)) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt PNG header (bit depth %u with colour type %u)", depth, color_type);
        return -EINVAL;
    }
    if (ihdr[10] != 0 || ihdr[11] != 0 || ihdr[12] > 1) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
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
     * the pixels (libpng reads it the same way). The same walk finds
     * eXIf; for other colour types a cut or corrupt chunk here is left for
     * the decode to report, as before. */
    struct png_walk walk;
    enum chunk_walk walked = walk_png_chunks(data, size, true, &walk);
    if (color_type == 3) {
        if (walked == CHUNKS_CUT || walked == CHUNKS_NO_IEND) {
            if (walked == CHUNKS_CUT && walk.cut_chunk[0] != '\0')
                img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                          "truncated PNG header (%s chunk cut short)", walk.cut_chunk);
            else
                img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                          "truncated PNG header (ends before the pixels)");
            return -EINVAL;
        }
        if (walk.has_trns)
            channels = 4;
    }

    int orientation =
        walk.has_exif ? img__exif_orientation(data + walk.exif_offset, walk.exif_size) : 1;
    bool turned = orientation >= 5;
    struct img_info *info = &header->info;
    header->stored_width = (int)width;
    header->stored_height = (int)height;
    header->bit_depth = (int)depth;
    header->png_color_type = (int)color_type;
    header->interlaced = ihdr[12];
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

static int probe_jpeg(const uint8_t *data, size_t size, struct img__header *header,
                      enum img_error_kind *kind, char *err, size_t err_size)
{
    struct jpeg_frame frame;
    switch (walk_jpeg_header(data, size, &frame)) {
    case JPEG_CUT:
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated JPEG header (%zu bytes)",
                  size);
        return -EINVAL;
    case JPEG_CORRUPT:
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt JPEG header (no frame header)");
        return -EINVAL;
    case JPEG_FOUND_FRAME:
        break;
    }
    /* Baseline, extended and progressive Huffman (SOF0-2), 8-bit: what
     * cameras and the web produce. libjpeg-turbo could also decode
     * arithmetic coding, but that is decoder surface nobody needs. */
    if (frame.marker > 0xc2) {
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size, "unsupported JPEG (%s, SOF%u)",
                  jpeg_coding_name(frame.marker), frame.marker - 0xc0);
        return -EINVAL;
    }
    if (frame.precision != 8) {
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported JPEG (%u-bit samples)", frame.precision);
        return -EINVAL;
    }
    if (frame.components != 1 && frame.components != 3 && frame.components != 4) {
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported JPEG (%u components)", frame.components);
        return -EINVAL;
    }
    if (frame.height == 0 || frame.width == 0) {
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported JPEG (%s given after the first scan)",
                  frame.height == 0 ? "height" : "width");
        return -EINVAL;
    }

    /* libjpeg reads the rest of the header (tables, sampling factors,
     * component ids) exactly as the decode will. */
    int ret = img__jpeg_check_header(data, size, header, kind, err, err_size);
    if (ret < 0)
        return ret;

    int orientation =
        frame.exif_size > 0 ? img__exif_orientation(data + frame.exif_offset, frame.exif_size) : 1;
    bool turned = orientation >= 5;
    struct img_info *info = &header->info;
    header->stored_width = (int)frame.width;
    header->stored_height = (int)frame.height;
    header->bit_depth = 8;
    info->format = IMG_FORMAT_JPEG;
    info->width = (int)(turned ? frame.height : frame.width);
    info->height = (int)(turned ? frame.width : frame.height);
    info->orientation = orientation;
    /* Stored components: 1 is gray; 3 (YCbCr/RGB) and 4 (CMYK/YCCK) both
     * decode to RGB. */
    info->channels = frame.components == 1 ? 1 : 3;
    return 0;
}

int img__probe(const uint8_t *data, size_t size, struct img__header *header,
               enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(header, 0, sizeof(*header));
    header->info.orientation = 1;
    if (kind != NULL)
        *kind = IMG_ERROR_NONE;
    if (data == NULL || size == 0) {
        img__fail(kind, IMG_ERROR_NOT_AN_IMAGE, err, err_size, "empty body");
        return -EINVAL;
    }
    /* The format is known from here on, also when its probe fails (the
     * item's `format`, whatever went wrong with it). */
    struct img_info *info = &header->info;
    if (has_prefix(data, size, png_signature, sizeof(png_signature))) {
        info->format = IMG_FORMAT_PNG;
        return probe_png(data, size, header, kind, err, err_size);
    }
    if (has_prefix(data, size, jpeg_soi, sizeof(jpeg_soi))) {
        info->format = IMG_FORMAT_JPEG;
        return probe_jpeg(data, size, header, kind, err, err_size);
    }
    if (is_cut_signature(data, size, png_signature, sizeof(png_signature))) {
        info->format = IMG_FORMAT_PNG;
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated PNG header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    if (is_cut_signature(data, size, jpeg_soi, sizeof(jpeg_soi))) {
        info->format = IMG_FORMAT_JPEG;
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated JPEG header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    /* The other decoders, those this build has (meson options). */
#if IMG_HAVE_GIF
    if (is_gif(data, size)) {
        info->format = IMG_FORMAT_GIF;
        return img__gif_probe(data, size, header, kind, err, err_size);
    }
#endif
#if IMG_HAVE_WEBP
    if (is_webp(data, size)) {
        info->format = IMG_FORMAT_WEBP;
        return img__webp_probe(data, size, header, kind, err, err_size);
    }
#endif
#if IMG_HAVE_AVIF
    if (is_avif(data, size)) {
        info->format = IMG_FORMAT_AVIF;
        return img__avif_probe(data, size, header, kind, err, err_size);
    }
#endif
#if IMG_HAVE_TIFF
    if (is_tiff(data, size)) {
        info->format = IMG_FORMAT_TIFF;
        return img__tiff_probe(data, size, header, kind, err, err_size);
    }
#endif
#if IMG_HAVE_BMP
    if (is_bmp(data, size)) {
        info->format = IMG_FORMAT_BMP;
        return img__bmp_probe(data, size, header, kind, err, err_size);
    }
#endif
    if (is_cut_signature(data, size, "RIFF", 4) ||
        (size < 12 && has_prefix(data, size, "RIFF", 4))) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated WebP header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    if (size < 16 && size >= 8 && memcmp(data + 4, "ftyp", 4) == 0) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                  "truncated ISO-BMFF (AVIF/HEIF) header (%zu bytes)", size);
        return -EINVAL;
    }
    info->format = unsupported_format(data, size);
    if (info->format != IMG_FORMAT_UNKNOWN)
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size, "unsupported format (%s)",
                  img_format_name(info->format));
    else
        describe_non_image(data, size, kind, err, err_size);
    return -EINVAL;
}

int img_probe(const uint8_t *data, size_t size, struct img_info *info, char *err, size_t err_size)
{
    struct img__header header;
    int ret = img__probe(data, size, &header, NULL, err, err_size);
    *info = header.info;
    if (ret < 0) {
        memset(info, 0, sizeof(*info));
        info->orientation = 1;
    }
    return ret;
}

void img_rgb_to_luma(const uint8_t *rgb, size_t rgb_stride, uint8_t *luma, size_t luma_stride,
                     int width, int height)
{
    for (int y = 0; y < height; y++) {
        const uint8_t *restrict in = rgb + (size_t)y * rgb_stride;
        uint8_t *restrict row = luma + (size_t)y * luma_stride;
        for (int x = 0; x < width; x++) {
            unsigned r = in[3 * x], g = in[3 * x + 1], b = in[3 * x + 2];
            row[x] = (uint8_t)((9798 * r + 19235 * g + 3735 * b + 16384) >> 15);
        }
    }
}
