/* PNG decoding with libpng (already linked for encoding), row by row, turned
 * to the EXIF orientation as rows arrive. Chosen over stb_image 2.27 and
 * libspng by measurement (imaging/DECODE.md); what it gives that stb did not:
 *
 * - Inflate stops at the size IHDR implies. libpng inflates into one row at
 *   a time; after the last row any further image data is "Extra compressed
 *   data" / "Too much image data", benign errors that png_set_benign_errors
 *   (0) turns into errors: a 1x1 IHDR with a 1.5 GB IDAT is refused after
 *   inflating a few bytes (issue 10 item 2; stb doubled its buffer to 1.5 GB).
 * - Chunk CRCs: a bad CRC on a critical chunk (IHDR, PLTE, IDAT, IEND) is an
 *   error, libpng's default; an ancillary chunk with a bad CRC is dropped.
 *   The zlib Adler-32 is checked (libpng's default; a mismatch found while
 *   checking the end of the stream is a benign error, so an error here)
 *   (item 21).
 * - Palette indices past the palette decode as black: libpng keeps a
 *   256-entry palette, zeroed past the file's entries (libpng 1.6
 *   png_set_PLTE), and its check for such indices is off, so they are not
 *   refused (item 20; libpng's and OpenCV's behaviour).
 * - Memory: libpng's own allocations go through a counting allocator held
 *   to the budget; the row buffers are a few rows; only an interlaced file
 *   needs a whole stored image (Adam7 passes fill rows in seven visits).
 *
 * Ancillary chunks are not needed for the pixels and are skipped unparsed
 * (their CRCs are still read): text, ICC profiles (zlib streams of their
 * own), eXIf (decode.c parses the orientation itself), gAMA and the rest;
 * alpha is dropped, as img_decode's contract says, so tRNS too. Gamma is
 * not applied (stb did not either; OpenCV neither, by default).
 *
 * libpng reports errors by longjmp to png_jmpbuf; as in encode.c the setjmp
 * is in a function of its own and everything that outlives the jump lives
 * in struct png_session. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "imaging.h"
#include "imaging_private.h"

/* Each side at most 2^16 and at most 2^30 pixels: the bounds this decoder
 * has always had (stb's STBI_MAX_DIMENSIONS, and its 2^30-byte arithmetic)
 * and --max-pixels' range in practice. */
#define PNG_MAX_SIDE (1 << 16)
#define PNG_MAX_PIXELS ((uint64_t)1 << 30)

/* Ancillary chunks above: no decoder work, no allocation for them. */
static const png_byte skipped_chunks[] = "bKGD\0cHRM\0cICP\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0"
                                         "oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0sPLT\0sRGB\0sTER\0"
                                         "tEXt\0tIME\0tRNS\0zTXt\0";
#define SKIPPED_CHUNK_COUNT 20

/* Each allocation carries its size in front, so the free can count it. */
#define ALLOC_HEADER 16

struct png_session {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size;
    size_t offset;
    bool cut;           /* libpng asked for bytes past the end */
    bool over_budget;   /* the counting allocator refused */
    bool out_of_memory; /* malloc failed */
    bool cancelled;
    bool rows_done;        /* every row decoded: only png_read_end was left */
    size_t allocated;      /* libpng's live bytes */
    size_t allocation_cap; /* 0 = none */
    char message[200];

    const struct img__header *header;
    const struct img_decode_limits *limits;
    int channels;         /* asked for: 1 or 3 */
    int decoded_channels; /* what libpng's rows hold after the transforms: 1 or 3 */
    struct img_buf *out;
    uint8_t *row;      /* one decoded row, when it cannot go straight to `out` */
    uint8_t *luma_row; /* that row's luma (colour file, one channel asked) */
    uint8_t *image;    /* interlaced: the whole stored image */
    png_bytep *rows;   /* interlaced: its row pointers */
};

static void on_png_error(png_structp png, png_const_charp message)
{
    struct png_session *session = png_get_error_ptr(png);
    snprintf(session->message, sizeof(session->message), "%s", message);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message; /* dropped ancillary chunks and the like; nothing printed on workers */
}

static png_voidp on_png_malloc(png_structp png, png_alloc_size_t size)
{
    struct png_session *session = png_get_mem_ptr(png);
    if (size > SIZE_MAX - ALLOC_HEADER)
        return NULL;
    if (session->allocation_cap > 0 &&
        (size + ALLOC_HEADER > session->allocation_cap ||
         session->allocated > session->allocation_cap - size - ALLOC_HEADER)) {
        session->over_budget = true;
        return NULL;
    }
    uint8_t *block = malloc(size + ALLOC_HEADER);
    if (block == NULL) {
        session->out_of_memory = true;
        return NULL;
    }
    memcpy(block, &size, sizeof(size));
    session->allocated += size + ALLOC_HEADER;
    return block + ALLOC_HEADER;
}

static void on_png_free(png_structp png, png_voidp ptr)
{
    if (ptr == NULL)
        return;
    struct png_session *session = png_get_mem_ptr(png);
    uint8_t *block = (uint8_t *)ptr - ALLOC_HEADER;
    size_t size;
    memcpy(&size, block, sizeof(size));
    session->allocated -= size + ALLOC_HEADER;
    free(block);
}

static void on_png_read(png_structp png, png_bytep out, size_t length)
{
    struct png_session *session = png_get_io_ptr(png);
    if (length > session->size - session->offset) {
        session->cut = true;
        png_error(png, "read past the end of the body");
    }
    memcpy(out, session->data + session->offset, length);
    session->offset += length;
}

static void check_cancel(struct png_session *session)
{
    const atomic_int *cancel = session->limits->cancel;
    if (cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed)) {
        session->cancelled = true;
        png_error(session->png, "cancelled");
    }
}

/* ---- orientation and luma of a whole stored image (interlaced files) --- */

/* Side of the square tiles the turning copy works in: the tile's 32 source
 * rows and the 32 destination rows it writes (32 pixels of each) stay in L1. */
#define ORIENT_TILE 32

/* Pixels per step of the in-place RGB to luma conversion. */
#define LUMA_BLOCK 4096

/* Copies one stored row into the oriented output. */
static void place_row(const uint8_t *row, int width, int channels, uint8_t *start, ptrdiff_t step)
{
    if (channels == 1) {
        for (int x = 0; x < width; x++)
            start[(ptrdiff_t)x * step] = row[x];
    } else {
        for (int x = 0; x < width; x++)
            memcpy(start + (ptrdiff_t)x * step, row + 3 * (size_t)x, 3);
    }
}

/* The packed stored image (width x height, `out->channels` per pixel) into
 * `out`, oriented, tile by tile (for 5-8 the tiles keep both sides' rows in
 * cache). */
static void orient_into(const uint8_t *pixels, int width, int height, int orientation,
                        const struct img_buf *out)
{
    size_t stride = (size_t)width * (size_t)out->channels;
    for (int tile_y = 0; tile_y < height; tile_y += ORIENT_TILE) {
        int end_y = height - tile_y < ORIENT_TILE ? height : tile_y + ORIENT_TILE;
        for (int tile_x = 0; tile_x < width; tile_x += ORIENT_TILE) {
            int end_x = width - tile_x < ORIENT_TILE ? width : tile_x + ORIENT_TILE;
            for (int y = tile_y; y < end_y; y++) {
                ptrdiff_t step;
                uint8_t *start = img__orient_row_start(out, orientation, width, height, y, &step);
                const uint8_t *row = pixels + (size_t)y * stride + (size_t)tile_x * out->channels;
                place_row(row, end_x - tile_x, out->channels, start + (ptrdiff_t)tile_x * step,
                          step);
            }
        }
    }
}

/* The interlaced image is complete in session->image: luma in place (a
 * block's luma is written at pixel s only after its RGB at 3s and beyond
 * has been read), then into `out` through the orientation. For a colour
 * file asked for luma with orientation 1, the image buffer itself becomes
 * `out` (shrunk to a third), so no second buffer. */
static int finish_interlaced(struct png_session *session)
{
    int width = session->header->stored_width;
    int height = session->header->stored_height;
    int orientation = session->header->info.orientation;
    size_t count = (size_t)width * (size_t)height;
    uint8_t *pixels = session->image;
    if (session->decoded_channels != session->channels) {
        for (size_t start = 0; start < count; start += LUMA_BLOCK) {
            uint8_t block[LUMA_BLOCK];
            size_t length = count - start < LUMA_BLOCK ? count - start : LUMA_BLOCK;
            img_rgb_to_luma(pixels + 3 * start, 3 * length, block, length, (int)length, 1);
            memcpy(pixels + start, block, length);
        }
    }
    struct img_buf *out = session->out;
    if (orientation == 1) {
        /* Takes the image buffer (malloc'd, as img_buf_finish expects). */
        size_t bytes = count * (size_t)session->channels;
        uint8_t *shrunk =
            bytes < count * (size_t)session->decoded_channels ? realloc(pixels, bytes) : pixels;
        out->data = shrunk != NULL ? shrunk : pixels;
        out->stride = (size_t)width * (size_t)session->channels;
        out->width = width;
        out->height = height;
        out->channels = session->channels;
        session->image = NULL;
        return 0;
    }
    bool turned = orientation >= 5;
    int ret =
        img_buf_init(out, turned ? height : width, turned ? width : height, session->channels);
    if (ret < 0)
        return ret;
    orient_into(pixels, width, height, orientation, out);
    return 0;
}

/* ---- the decode -------------------------------------------------------- */

/* Transforms to 8-bit gray or RGB without alpha; returns the channels the
 * rows will hold. */
static int set_transforms(struct png_session *session)
{
    png_structp png = session->png;
    int color_type = png_get_color_type(png, session->info);
    int depth = png_get_bit_depth(png, session->info);
    /* 16 to 8 by the high byte, as stb did (and OpenCV's IMREAD_COLOR
     * does): the pinned outputs of 16-bit files stay what they were. */
    if (depth == 16)
        png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (color_type & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    bool gray = (color_type & PNG_COLOR_MASK_COLOR) == 0;
    if (gray && session->channels == 3)
        png_set_gray_to_rgb(png);
    return gray && session->channels == 1 ? 1 : 3;
}

/* Returns 0, or -1 after a libpng error (message in the session), or a
 * negative errno of ours (-ENOMEM for our buffers). */
static int run_decode(struct png_session *session)
{
    if (setjmp(png_jmpbuf(session->png)))
        return -1;
    png_structp png = session->png;
    png_infop info = session->info;

    png_set_read_fn(png, session, on_png_read);
    png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    /* Ancillary chunks we skip are never allocated; this bounds any other
     * (an unknown chunk is dropped without a copy anyway). */
    png_set_chunk_malloc_max(png, (png_alloc_size_t)1 << 20);
    png_set_chunk_cache_max(png, 1000);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped_chunks, SKIPPED_CHUNK_COUNT);
    png_set_benign_errors(png, 0);
    png_set_check_for_invalid_index(png, -1);
    /* The Adler-32 is checked by libpng's default. Not by setting
     * png_set_option(PNG_IGNORE_ADLER32, PNG_OPTION_OFF): with libpng
     * 1.6.39 that call turns the check off (test_decode_limits caught it). */
    png_read_info(png, info);

    session->decoded_channels = set_transforms(session);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int width = (int)png_get_image_width(png, info);
    int height = (int)png_get_image_height(png, info);
    size_t row_bytes = (size_t)width * (size_t)session->decoded_channels;
    if (width != session->header->stored_width || height != session->header->stored_height ||
        png_get_rowbytes(png, info) != row_bytes) {
        snprintf(session->message, sizeof(session->message), "header changed between reads");
        return -1;
    }

    struct img_buf *out = session->out;
    int orientation = session->header->info.orientation;
    if (passes > 1) {
        /* Adam7: every pass writes into rows of the whole stored image. */
        session->image = malloc(row_bytes * (size_t)height);
        session->rows = malloc((size_t)height * sizeof(*session->rows));
        if (session->image == NULL || session->rows == NULL)
            return -ENOMEM;
        for (int y = 0; y < height; y++)
            session->rows[y] = session->image + (size_t)y * row_bytes;
        for (int pass = 0; pass < passes; pass++) {
            for (int y = 0; y < height; y++) {
                png_read_row(png, session->rows[y], NULL);
                check_cancel(session);
            }
        }
        session->rows_done = true;
        png_read_end(png, NULL);
        return 0;
    }

    bool turned = orientation >= 5;
    int ret =
        img_buf_init(out, turned ? height : width, turned ? width : height, session->channels);
    if (ret < 0)
        return ret;
    bool direct = orientation == 1 && session->decoded_channels == session->channels;
    if (!direct) {
        session->row = malloc(row_bytes);
        session->luma_row =
            session->decoded_channels != session->channels ? malloc((size_t)width) : NULL;
        if (session->row == NULL ||
            (session->decoded_channels != session->channels && session->luma_row == NULL))
            return -ENOMEM;
    }
    for (int y = 0; y < height; y++) {
        if (direct) {
            png_read_row(png, out->data + (size_t)y * out->stride, NULL);
        } else {
            png_read_row(png, session->row, NULL);
            const uint8_t *pixels_row = session->row;
            if (session->luma_row != NULL) {
                img_rgb_to_luma(session->row, row_bytes, session->luma_row, (size_t)width, width,
                                1);
                pixels_row = session->luma_row;
            }
            ptrdiff_t step;
            uint8_t *start = img__orient_row_start(out, orientation, width, height, y, &step);
            place_row(pixels_row, width, session->channels, start, step);
        }
        check_cancel(session);
    }
    /* The rest: the chunks after the image data up to IEND, with their
     * CRCs (zlib's end, the Adler-32 and data past the image were checked
     * as the last row finished). */
    session->rows_done = true;
    png_read_end(png, NULL);
    return 0;
}

int img__png_decode(const uint8_t *data, size_t size, const struct img__header *header,
                    int channels, const struct img_decode_limits *limits, struct img_buf *out,
                    enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    uint64_t pixels = (uint64_t)header->stored_width * (uint64_t)header->stored_height;
    if (header->stored_width > PNG_MAX_SIDE || header->stored_height > PNG_MAX_SIDE ||
        pixels > PNG_MAX_PIXELS) {
        char have[32];
        img__format_pixels(pixels, false, have, sizeof(have));
        img__fail(kind, IMG_ERROR_TOO_LARGE, err, err_size,
                  "image is %dx%d (%s), too large for the decoder", header->info.width,
                  header->info.height, have);
        return -EFBIG;
    }

    struct png_session session = {
        .data = data,
        .size = size,
        .header = header,
        .limits = limits,
        .channels = channels,
        .out = out,
    };
    if (limits->max_bytes > 0) {
        /* What libpng may hold besides our buffers: the budget less them. */
        size_t ours = img__decode_bytes(header, channels) - img__png_library_bytes(header);
        session.allocation_cap = limits->max_bytes > ours ? limits->max_bytes - ours : 1;
    }
    session.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &session, on_png_error,
                                           on_png_warning, &session, on_png_malloc, on_png_free);
    if (session.png != NULL)
        session.info = png_create_info_struct(session.png);
    int ret;
    if (session.png == NULL || session.info == NULL) {
        session.out_of_memory = true;
        ret = -1;
    } else {
        ret = run_decode(&session);
    }

    /* A body cut inside IEND's CRC, after every chunk before it was read and
     * checked, has all its pixels: decoded, as before (stb read no CRC at
     * all), rather than refused for four missing bytes. */
    static const uint8_t iend_header[8] = {0, 0, 0, 0, 'I', 'E', 'N', 'D'};
    if (ret == -1 && session.cut && session.rows_done && size >= 8 &&
        memcmp(data + size - 8, iend_header, 8) == 0)
        ret = 0;
    if (ret == 0 && session.image != NULL && finish_interlaced(&session) < 0)
        ret = -ENOMEM;

    if (ret == -1) {
        if (session.cancelled) {
            img__fail(kind, IMG_ERROR_CANCELLED, err, err_size, "cancelled");
            ret = -ECANCELED;
        } else if (session.over_budget) {
            img__fail(kind, IMG_ERROR_OVER_BUDGET, err, err_size,
                      "needs more than the %zu MiB memory budget (libpng)",
                      limits->max_bytes >> 20);
            ret = -ENOMEM;
        } else if (session.out_of_memory) {
            img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size,
                      "out of memory decoding a %dx%d image", header->info.width,
                      header->info.height);
            ret = -ENOMEM;
        } else if (!img__png_explain_cut(data, size, kind, err, err_size)) {
            /* libpng's messages are its own constants (chunk names are
             * escaped by libpng before they reach a message). */
            img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt PNG (libpng: %s)",
                      session.message);
            ret = -EINVAL;
        } else {
            ret = -EINVAL;
        }
    } else if (ret < 0) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  header->info.width, header->info.height);
    }
    if (session.png != NULL)
        png_destroy_read_struct(&session.png, session.info != NULL ? &session.info : NULL, NULL);
    free(session.row);
    free(session.luma_row);
    free(session.image);
    free(session.rows);
    if (ret < 0)
        img_buf_finish(out);
    return ret;
}
