/* BMP with stb_image 2.27's loader (stb_bmp_impl.c): uncompressed 1, 4, 8,
 * 24 and 32 bits per pixel and BI_BITFIELDS 16 and 32, bottom-up and
 * top-down, with the 12 (OS/2), 40, 56, 108 and 124-byte info headers.
 * RLE and embedded JPEG/PNG (compressions 1, 2, 4, 5) are refused as
 * unsupported: stb does not read them, and the web does not serve them.
 * Chosen over a decoder of our own by measurement (DECODE.md): stb's loop
 * is a plain copy per row, so the decoder to choose is the one we must
 * guard least; stb needs three guards, all here, before it runs:
 *
 * - the header is read here first: sizes against our bounds, the pixel
 *   limit and the budget before stb allocates its 3 B/px;
 * - the file must hold every row the header promises: stb reads past the
 *   end of a buffer as zeros (stbi__get8), so a truncated BMP would decode
 *   "successfully" with black rows;
 * - a palette shorter than 2^bpp entries is given to stb as a palette of
 *   all 256, the rest black: stb keeps its palette in an uninitialised
 *   stack array (pal[256][4] in stbi__bmp_load) and fills only the file's
 *   entries, so an index past them would put stack bytes into the pixels
 *   (nothings/stb#1929, open, present in 2.27). Black is what libpng gives
 *   a short PNG palette.
 *
 * stb decodes a whole image per call, so it is called once per band of
 * rows (about 1 MiB of RGB), each behind the file's header rewritten to
 * the band's height: the cancel flag is polled between bands, and stb's
 * raster is one band. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"
#include "stb_bmp.h"

#define FILE_HEADER 14
#define OS2_HEADER 12

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

struct bmp_header {
    uint32_t offset; /* of the pixels */
    uint32_t info_size;
    uint64_t width;
    uint64_t height;
    unsigned bpp;
    uint32_t compression;
    uint64_t row_bytes;
};

/* Where stb looks for the palette, and the file size with a full one. */
static size_t palette_start(const struct bmp_header *bmp)
{
    return FILE_HEADER + bmp->info_size;
}

/* stb 2.27 reads psize = (offset - 14 - info_size) / 4 entries of 4 bytes,
 * or for OS/2 headers (offset - 14 - 24) / 3 entries of 3 bytes: a full
 * palette's offset for each. */
static size_t full_palette_offset(const struct bmp_header *bmp)
{
    if (bmp->info_size == OS2_HEADER)
        return FILE_HEADER + 24 + 3 * 256;
    return palette_start(bmp) + 4 * 256;
}

static int read_header(const uint8_t *data, size_t size, struct bmp_header *bmp,
                       enum img_error_kind *kind, char *err, size_t err_size)
{
    if (size < FILE_HEADER + 4 + 12) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated BMP header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    memset(bmp, 0, sizeof(*bmp));
    bmp->offset = le32(data + 10);
    bmp->info_size = le32(data + 14);
    uint32_t hsz = bmp->info_size;
    if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124) {
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported BMP (%u-byte info header)", hsz);
        return -EINVAL;
    }
    bool top_down = false;
    if (hsz == OS2_HEADER) {
        bmp->width = le16(data + 18);
        bmp->height = le16(data + 20);
        bmp->bpp = le16(data + 24);
    } else {
        if (size < FILE_HEADER + 40) {
            img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated BMP header (%zu bytes)",
                      size);
            return -EINVAL;
        }
        int32_t width = (int32_t)le32(data + 18);
        int32_t height = (int32_t)le32(data + 22);
        if (width <= 0 || height == 0 || height == INT32_MIN) {
            img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                      "corrupt BMP header (%" PRId32 "x%" PRId32 " pixels)", width, height);
            return -EINVAL;
        }
        top_down = height < 0;
        bmp->width = (uint64_t)width;
        bmp->height = (uint64_t)(top_down ? -(int64_t)height : height);
        bmp->bpp = le16(data + 28);
        bmp->compression = le32(data + 30);
    }
    (void)top_down; /* stb flips bottom-up files itself */
    unsigned bpp = bmp->bpp;
    if (bmp->compression == 1 || bmp->compression == 2 || bmp->compression == 4 ||
        bmp->compression == 5) {
        static const char *const names[] = {"", "RLE8", "RLE4", "", "JPEG", "PNG"};
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported BMP (%s compression)", names[bmp->compression]);
        return -EINVAL;
    }
    bool bitfields = bmp->compression == 3;
    bool valid = bmp->compression == 0 || (bitfields && (bpp == 16 || bpp == 32));
    if (!valid || (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt BMP header (%u bits per pixel, compression %u)", bpp, bmp->compression);
        return -EINVAL;
    }
    if (bmp->offset < palette_start(bmp) || bmp->offset > size) {
        img__fail(kind, bmp->offset > size ? IMG_ERROR_TRUNCATED : IMG_ERROR_CORRUPT, err, err_size,
                  "%s BMP (pixels at offset %u of %zu bytes)",
                  bmp->offset > size ? "truncated" : "corrupt", bmp->offset, size);
        return -EINVAL;
    }
    if (bpp <= 8 && bmp->offset - palette_start(bmp) < (hsz == OS2_HEADER ? 3u : 4u)) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt BMP (%u bits per pixel without a palette)", bpp);
        return -EINVAL;
    }
    /* Rows are padded to 4 bytes. Sizes are checked by the caller after
     * this, so the product fits (2^16 * 32 bits per row). */
    bmp->row_bytes = (bmp->width * bpp + 31) / 32 * 4;
    return 0;
}

int img__bmp_probe(const uint8_t *data, size_t size, struct img__header *header,
                   enum img_error_kind *kind, char *err, size_t err_size)
{
    struct bmp_header bmp;
    int ret = read_header(data, size, &bmp, kind, err, err_size);
    if (ret < 0)
        return ret;
    ret = img__set_size(header, IMG_FORMAT_BMP, bmp.width, bmp.height, 1, kind, err, err_size);
    if (ret < 0)
        return ret;
    uint64_t pixel_bytes = bmp.row_bytes * bmp.height;
    if (pixel_bytes > size - bmp.offset) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                  "truncated BMP (%zu bytes of pixels, the header says %llu)", size - bmp.offset,
                  (unsigned long long)pixel_bytes);
        return -EINVAL;
    }
    header->bit_depth = bmp.bpp;
    header->info.channels = bmp.bpp == 32 ? 4 : 3;
    size_t pixels = (size_t)bmp.width * (size_t)bmp.height;
    /* stb's RGB of one band (img__bmp_decode), its 4 KiB, and our copy of
     * the headers (with the full palette for a palette file). */
    (void)pixels;
    header->raster_work_bytes = img__bmp_band_bytes((int)bmp.width) + ((size_t)8 << 10) +
                                (bmp.bpp <= 8 ? full_palette_offset(&bmp) : bmp.offset);
    return 0;
}

/* What stb reads of one band: `prefix` (the file's headers and palette,
 * its height rewritten to the band's) then the band's rows, straight from
 * the body. */
struct band_stream {
    const uint8_t *prefix;
    size_t prefix_size;
    const uint8_t *rows;
    size_t rows_size;
    size_t pos;
};

static int stream_read(void *user, char *data, int size)
{
    struct band_stream *s = user;
    size_t total = s->prefix_size + s->rows_size;
    size_t want = (size_t)size < total - s->pos ? (size_t)size : total - s->pos;
    size_t done = 0;
    if (s->pos < s->prefix_size) {
        size_t part = s->prefix_size - s->pos < want ? s->prefix_size - s->pos : want;
        memcpy(data, s->prefix + s->pos, part);
        done = part;
    }
    if (done < want)
        memcpy(data + done, s->rows + (s->pos + done - s->prefix_size), want - done);
    s->pos += want;
    return (int)want;
}

static void stream_skip(void *user, int n)
{
    struct band_stream *s = user;
    size_t total = s->prefix_size + s->rows_size;
    if (n < 0)
        s->pos = total; /* stb's own convention for a backwards skip: the end */
    else
        s->pos = (size_t)n < total - s->pos ? s->pos + (size_t)n : total;
}

static int stream_eof(void *user)
{
    const struct band_stream *s = user;
    return s->pos >= s->prefix_size + s->rows_size;
}

/* The headers up to the pixels, for the bands; for a palette file with a
 * 256-entry palette: the file's entries, then black. */
static uint8_t *make_prefix(const uint8_t *data, const struct bmp_header *bmp, size_t *prefix_size)
{
    size_t start = palette_start(bmp);
    size_t offset = bmp->bpp <= 8 ? full_palette_offset(bmp) : bmp->offset;
    uint8_t *prefix = calloc(offset, 1);
    if (prefix == NULL)
        return NULL;
    if (bmp->bpp > 8) {
        memcpy(prefix, data, offset);
    } else {
        size_t palette = bmp->offset - start;
        if (palette > offset - start)
            palette = offset - start;
        memcpy(prefix, data, start);
        memcpy(prefix + start, data + start, palette);
        uint32_t new_offset = (uint32_t)offset;
        for (int i = 0; i < 4; i++)
            prefix[10 + i] = (uint8_t)(new_offset >> (8 * i));
    }
    *prefix_size = offset;
    return prefix;
}

/* Rows per band: about 1 MiB of stb's RGB, the cancel flag polled between. */
static uint64_t band_rows(uint64_t width)
{
    uint64_t rows = ((uint64_t)1 << 20) / (3 * width);
    return rows > 0 ? rows : 1;
}

size_t img__bmp_band_bytes(int width)
{
    return 3 * (size_t)width * (size_t)band_rows((uint64_t)width);
}

int img__bmp_decode(const uint8_t *data, size_t size, const struct img__header *header,
                    int channels, const struct img_decode_limits *limits, struct img_buf *out,
                    enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    struct bmp_header bmp;
    int ret = read_header(data, size, &bmp, kind, err, err_size);
    if (ret < 0)
        return ret;
    bool top_down = bmp.info_size != OS2_HEADER && (int32_t)le32(data + 22) < 0;
    size_t prefix_size = 0;
    uint8_t *prefix = make_prefix(data, &bmp, &prefix_size);
    if (prefix == NULL || img_buf_init(out, (int)bmp.width, (int)bmp.height, channels) < 0) {
        free(prefix);
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (BMP)");
        return -ENOMEM;
    }
    /* stb decodes a whole image in one call: it is given one band of rows
     * at a time, each behind the file's header with the band's height, so
     * that the cancel flag is seen between bands (about 1 MiB of RGB each),
     * and stb's raster is a band, not the image. File rows [first, end)
     * are image rows [first, end) top-down, [height - end, height - first)
     * bottom-up (stb flips each band). */
    int width = header->stored_width; /* the probe's reading of the same header */
    uint64_t rows_per_band = band_rows(bmp.width);
    struct img__stb_io io = {stream_read, stream_skip, stream_eof};
    for (uint64_t first = 0; first < bmp.height; first += rows_per_band) {
        if (img__cancelled(limits)) {
            img__fail(kind, IMG_ERROR_CANCELLED, err, err_size, "cancelled");
            ret = -ECANCELED;
            goto fail;
        }
        uint64_t end = first + rows_per_band < bmp.height ? first + rows_per_band : bmp.height;
        uint32_t band = (uint32_t)(end - first);
        if (bmp.info_size == OS2_HEADER) {
            prefix[20] = (uint8_t)band;
            prefix[21] = (uint8_t)(band >> 8);
        } else {
            uint32_t field = top_down ? (uint32_t) - (int32_t)band : band;
            for (int i = 0; i < 4; i++)
                prefix[22 + i] = (uint8_t)(field >> (8 * i));
        }
        struct band_stream stream = {prefix, prefix_size, data + bmp.offset + first * bmp.row_bytes,
                                     (size_t)(band * bmp.row_bytes), 0};
        int got_width = 0, got_height = 0;
        const char *reason = NULL;
        uint8_t *rgb = img__stb_bmp_load_io(&io, &stream, &got_width, &got_height, &reason);
        if (rgb == NULL) {
            bool oom = reason != NULL && strcmp(reason, "outofmem") == 0;
            img__fail(kind, oom ? IMG_ERROR_OUT_OF_MEMORY : IMG_ERROR_CORRUPT, err, err_size,
                      "%s BMP (stb_image: %s)", oom ? "out of memory for a" : "corrupt",
                      reason != NULL ? reason : "unknown");
            ret = oom ? -ENOMEM : -EINVAL;
            goto fail;
        }
        if (got_width != width || (uint32_t)got_height != band) {
            img__stb_free(rgb);
            img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                      "corrupt BMP (stb_image read %dx%d, the header says %dx%u)", got_width,
                      got_height, width, band);
            ret = -EINVAL;
            goto fail;
        }
        uint64_t top = top_down ? first : bmp.height - end;
        uint8_t *dst = out->data + (size_t)top * out->stride;
        if (channels == 3) {
            for (uint32_t y = 0; y < band; y++)
                memcpy(dst + (size_t)y * out->stride, rgb + (size_t)y * 3 * (size_t)width,
                       3 * (size_t)width);
        } else {
            img_rgb_to_luma(rgb, 3 * (size_t)width, dst, out->stride, width, (int)band);
        }
        img__stb_free(rgb);
    }
    free(prefix);
    return 0;
fail:
    free(prefix);
    img_buf_finish(out);
    return ret;
}
