/* img_decode and img_decode_limited: probe, the limits, then the decoder
 * (decode_png.c, decode_jpeg.c); and img_probe_item, the memory one item's
 * CPU stage will hold, from the header alone.
 *
 * The estimate is a sum of the buffers each stage allocates, written from
 * the code that allocates them (the comments name it); it is an upper bound
 * checked against a counting allocator by tests/unit/test_decode_memory.c,
 * which also keeps it within a small factor of what is really used. The
 * numbers per case are in imaging/DECODE.md. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "imaging.h"
#include "imaging_private.h"

/* ---- decode ------------------------------------------------------------ */

/* libpng's allocations, from pngread.c/pngrutil.c: the read and info
 * structs, palette and transparency tables, the inflate state and its 32 KiB
 * window, the IDAT read buffer (PNG_IDAT_READ_SIZE), and two rows (the row
 * and the previous row for the filters) of the widest pixel the transforms
 * pass through (8 bytes: 16-bit RGBA), with libpng's 48 bytes of slack. */
#define PNG_FIXED_BYTES ((size_t)96 << 10)

size_t img__png_library_bytes(const struct img__header *header)
{
    return PNG_FIXED_BYTES + 2 * (8 * (size_t)header->stored_width + 64);
}

size_t img__decode_bytes(const struct img__header *header, int channels)
{
    size_t width = (size_t)header->stored_width;
    size_t pixels = width * (size_t)header->stored_height;
    size_t out = pixels * (size_t)channels;
    if (header->info.format == IMG_FORMAT_JPEG)
        /* `out`, our row and CMYK rows (decode_jpeg.c), libjpeg's buffers. */
        return out + 7 * width + header->jpeg_coef_bytes + header->jpeg_work_bytes;
    if (header->info.format != IMG_FORMAT_PNG)
        /* `out`, the delivery row (img__raster_deliver), and what the
         * format's probe counted: its raster and the library's buffers. */
        return out + 4 * width + header->raster_work_bytes;

    size_t library = img__png_library_bytes(header);
    bool gray = (header->png_color_type & 2) == 0;
    size_t decoded = gray && channels == 1 ? 1 : 3;
    if (header->interlaced) {
        /* The stored image (decoded channels) and its row pointers; luma is
         * made inside it; a turned image needs `out` besides, and so may
         * the shrink of colour to luma (a realloc that moves, as ASan's
         * always does, holds both for a moment). */
        size_t image = pixels * decoded + (size_t)header->stored_height * sizeof(void *);
        bool second = header->info.orientation != 1 || decoded != (size_t)channels;
        return image + (second ? out : 0) + library;
    }
    /* `out` and, when rows cannot go straight there, a row and its luma. */
    return out + 4 * width + library;
}

static int fail_over_budget(size_t needed, size_t budget, enum img_error_kind *kind, char *err,
                            size_t err_size)
{
    /* MiB rounded up, so "needs 1 MiB" is never printed for 1.5. */
    img__fail(kind, IMG_ERROR_OVER_BUDGET, err, err_size, "needs %zu MiB to decode, budget %zu MiB",
              (needed + ((size_t)1 << 20) - 1) >> 20, budget >> 20);
    return -ENOMEM;
}

/* What every decode does before its decoder: the limits with every field
 * meaningful, the probe, and the limits on the header's claim. */
static int decode_prelude(const uint8_t *data, size_t size, int channels,
                          const struct img_decode_limits *limits,
                          struct img_decode_limits *effective_out, struct img__header *header_out,
                          enum img_error_kind *kind, char *err, size_t err_size)
{
    if (kind != NULL)
        *kind = IMG_ERROR_NONE;
    if (channels != 1 && channels != 3) {
        img__fail(kind, IMG_ERROR_INVALID_ARGUMENT, err, err_size,
                  "cannot decode to %d channels (1 or 3)", channels);
        return -EINVAL;
    }
    /* The limits with every field meaningful, for the decoders. */
    struct img_decode_limits effective;
    img_decode_limits_init(&effective);
    if (limits != NULL) {
        effective = *limits;
        if (effective.max_scans == 0)
            effective.max_scans = IMG_JPEG_MAX_SCANS;
        if (effective.max_scan_work == 0)
            effective.max_scan_work = IMG_JPEG_MAX_SCAN_WORK;
    }
    if (effective.max_pixels == 0)
        effective.max_pixels = UINT64_MAX;

    struct img__header header;
    int ret = img__probe(data, size, &header, kind, err, err_size);
    *header_out = header;
    *effective_out = effective;
    if (ret < 0)
        return ret;

    /* The limits are applied to the header's claim, before a decoder
     * allocates anything: a 100-byte PNG can claim 50000x50000 pixels. */
    uint64_t pixels = (uint64_t)header.info.width * (uint64_t)header.info.height;
    if (pixels > effective.max_pixels) {
        char have[32], limit[32];
        img__format_pixels(pixels, false, have, sizeof(have));
        img__format_pixels(effective.max_pixels, true, limit, sizeof(limit));
        img__fail(kind, IMG_ERROR_TOO_LARGE, err, err_size,
                  "image is %dx%d (%s), over the %s limit", header.info.width, header.info.height,
                  have, limit);
        return -EFBIG;
    }
    size_t needed = img__decode_bytes(&header, channels);
    if (effective.max_bytes > 0 && needed > effective.max_bytes)
        return fail_over_budget(needed, effective.max_bytes, kind, err, err_size);
    return 0;
}

int img_decode_limited(const uint8_t *data, size_t size, int channels,
                       const struct img_decode_limits *limits, struct img_buf *out,
                       enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    struct img_decode_limits effective;
    struct img__header header;
    int ret =
        decode_prelude(data, size, channels, limits, &effective, &header, kind, err, err_size);
    if (ret < 0)
        return ret;

    switch (header.info.format) {
    case IMG_FORMAT_JPEG:
        return img__jpeg_decode(data, size, &header, channels, &effective, out, kind, err,
                                err_size);
#if IMG_HAVE_WEBP
    case IMG_FORMAT_WEBP:
        return img__webp_decode(data, size, &header, channels, &effective, out, kind, err,
                                err_size);
#endif
#if IMG_HAVE_GIF
    case IMG_FORMAT_GIF:
        return img__gif_decode(data, size, &header, channels, &effective, out, kind, err, err_size);
#endif
#if IMG_HAVE_AVIF
    case IMG_FORMAT_AVIF:
        return img__avif_decode(data, size, &header, channels, &effective, out, kind, err,
                                err_size);
#endif
#if IMG_HAVE_BMP
    case IMG_FORMAT_BMP:
        return img__bmp_decode(data, size, &header, channels, &effective, out, kind, err, err_size);
#endif
#if IMG_HAVE_TIFF
    case IMG_FORMAT_TIFF:
        return img__tiff_decode(data, size, &header, channels, &effective, out, kind, err,
                                err_size);
#endif
    default: /* PNG (the probe yields no format this build lacks) */
        break;
    }
    return img__png_decode(data, size, &header, channels, &effective, out, kind, err, err_size);
}

int img_decode(const uint8_t *data, size_t size, int channels, uint64_t max_pixels,
               struct img_buf *out, char *err, size_t err_size)
{
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    /* 0 here has always meant "no pixel at all", not "no limit". */
    limits.max_pixels = max_pixels == 0 ? 0 : max_pixels;
    if (max_pixels == 0) {
        struct img_info info;
        int ret = img_probe(data, size, &info, err, err_size);
        memset(out, 0, sizeof(*out));
        if (ret < 0)
            return ret;
        img__fail(NULL, IMG_ERROR_TOO_LARGE, err, err_size,
                  "image is %dx%d, over the 0 pixels limit", info.width, info.height);
        return -EFBIG;
    }
    return img_decode_limited(data, size, channels, &limits, out, NULL, err, err_size);
}

/* ---- the whole item ---------------------------------------------------- */

/* Canny's working memory (canny.c): the edge map with its one-pixel frame,
 * and per band the blur's ring of 2r+1 filtered rows (uint16) with its
 * mirrored row, column index and accumulator, the gradient and magnitude
 * rows, the halo (4 rows); the hysteresis stack is bounded in canny.c. */
static size_t canny_bytes(size_t width, size_t height, double sigma, unsigned threads)
{
    size_t radius = sigma > 0.0 ? (size_t)(3.0 * sigma + 0.5) : 0;
    size_t map = (width + 2) * (height + 2);
    size_t blur = sigma > 0.0 ? (2 * radius + 1) * (width * 2 + 4) + (width + 2 * radius) * 5 +
                                    4 * width + 4 * width
                              : 0;
    size_t rows = 3 * 2 * width * 2 + 4 * (width + 2) * 4;
    size_t band = blur + rows + (size_t)4096;
    return map + (size_t)threads * band + img__canny_stack_bytes(width, height);
}

/* The PNG encoder (encode.c): per band a compressed buffer of deflateBound
 * bytes (plus the IDAT framing), while running a raw-rows scratch, the trial
 * rows of the filter search and a zlib deflate state (~268 KiB at memLevel
 * 8); img_png_bands_finish then copies the bands into the PNG while they are
 * still held: at most twice the compressed bound, plus the map itself (or,
 * fused with a 3x3 operator, the luma it reads instead: the same size, and
 * a block of operator rows, about 64 KiB + a row, inside the thread bytes). */
#define ENCODE_THREAD_BYTES ((size_t)400 << 10)
#define ENCODE_FIXED_BYTES ((size_t)64 << 10)

static size_t encode_bytes(size_t width, size_t height, unsigned threads)
{
    size_t raw = (width + 1) * height;
    /* A band is at least 256 rows (PNG_BAND_MIN_ROWS in encode.c). */
    size_t bands = height / 256 + 1;
    size_t compressed = (size_t)deflateBound(NULL, (uLong)raw) + bands * 128;
    return width * height + 2 * compressed + (size_t)threads * (ENCODE_THREAD_BYTES + 6 * width) +
           ENCODE_FIXED_BYTES;
}

int img_probe_item(const uint8_t *data, size_t size, const struct img_item_options *item,
                   struct img_probe_info *probe, enum img_error_kind *kind, char *err,
                   size_t err_size)
{
    memset(probe, 0, sizeof(*probe));
    int channels = img_operator_channels(item->op);
    if (channels < 0) {
        img__fail(kind, IMG_ERROR_INVALID_ARGUMENT, err, err_size, "unknown operator %d",
                  (int)item->op);
        return -EINVAL;
    }
    struct img__header header;
    int ret = img__probe(data, size, &header, kind, err, err_size);
    probe->info = header.info;
    if (ret < 0)
        return ret;
    unsigned threads = item->threads > 0 ? item->threads : 1;
    size_t width = (size_t)header.info.width;
    size_t height = (size_t)header.info.height;
    size_t pixels = width * height;

    probe->bit_depth = header.bit_depth;
    probe->multi_scan = header.multi_scan;
    probe->interlaced = header.interlaced;
    probe->channels_out = channels;
    probe->decode_bytes = img__decode_bytes(&header, channels);
    size_t scratch = 0;
    if (item->op == IMG_OP_CANNY) {
        struct img_canny_options defaults;
        img_canny_options_init(&defaults);
        const struct img_canny_options *canny = item->canny != NULL ? item->canny : &defaults;
        scratch = canny_bytes(width, height, canny->sigma, threads);
    }
    /* The decoded image, the edge map, the operator's scratch, and the row
     * bands' bookkeeping (a few hundred bytes per band). */
    probe->operator_bytes = pixels * (size_t)channels + pixels + scratch + ((size_t)16 << 10);
    probe->encode_bytes = encode_bytes(width, height, threads);
    size_t peak = probe->decode_bytes;
    if (probe->operator_bytes > peak)
        peak = probe->operator_bytes;
    if (probe->encode_bytes > peak)
        peak = probe->encode_bytes;
    probe->peak_bytes = peak;
    return 0;
}

/* ---- rows on demand ------------------------------------------------------ */

int img_decode_rows_create(const uint8_t *data, size_t size, const struct img_decode_limits *limits,
                           struct img_rows **out, enum img_error_kind *kind, char *err,
                           size_t err_size)
{
    *out = NULL;
    struct img_decode_limits effective;
    struct img__header header;
    int ret = decode_prelude(data, size, 1, limits, &effective, &header, kind, err, err_size);
    if (ret < 0)
        return ret;
    /* The one place that says which files give rows before the whole
     * image is decoded: a one-scan JPEG (a progressive file, or one whose
     * first scan lacks a component, decodes all its scans before the first
     * row), not turned by its EXIF orientation (a turned image's first row
     * needs the whole file), not CMYK (luma from RGB after the decode). */
    if (header.info.format != IMG_FORMAT_JPEG || header.multi_scan ||
        header.info.orientation != 1 || header.components == 4)
        return -ENOTSUP;
    struct img__jpeg_rows *jpeg;
    ret = img__jpeg_rows_create(data, size, &header, &effective, &jpeg, kind, err, err_size);
    if (ret < 0)
        return ret;
    ret = img__rows_create(jpeg, out);
    if (ret < 0) {
        img__jpeg_rows_destroy(jpeg);
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory");
    }
    return ret;
}
