/* Grayscale PNG encoding with libpng into a growable memory buffer.
 *
 * libpng reports errors by calling our error function, which must not return:
 * it records the message and longjmps back to the setjmp in write_png(). The
 * setjmp lives in its own function so the caller's locals are never
 * "modified between setjmp and longjmp" (C17 7.13.2.1), and everything that
 * outlives the jump is owned by struct png_sink. */
#include <errno.h>
#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

struct png_sink {
    uint8_t *data;
    size_t size;
    size_t capacity;
    /* Output beyond this means the encoder misbehaves: zlib's worst case is a
     * few bytes per 16 KiB over the raw size (deflateBound) and libpng adds
     * 12 bytes per IDAT chunk, both far below the slack given. */
    size_t limit;
    bool out_of_memory;
    char message[128];
};

/* Chosen by measurement on Sobel and tutorial maps of twelve photos
 * (imaging/PNG_SETTINGS.md has the table). Sobel maps of photos are dense
 * texture, not sparse lines: LZ matches are rare and short, so zlib's match
 * search is time spent for little. Z_RLE (matches at distance 1 only, then
 * Huffman) was both faster and smaller than the default and Z_FILTERED
 * strategies at every level measured, level 9 included; with it zlib's level
 * changes nothing, so the level picks the row filter instead:
 *   0    stored, no filter (filtering would only cost time)
 *   1    UP + RLE     fastest: 7.9 ms/MP, 48.3% of raw on Sobel maps
 *   2-3  PAETH + RLE  11.5 ms/MP, 44.4%
 *   4-9  ALL + RLE    15 ms/MP, 44.0% (libpng's per-row heuristic); smaller
 *        than ALL + Z_FILTERED at level 9 (44.4%, 190 ms/MP)
 * libpng's own default (ALL + Z_FILTERED) at level 1 took 18 ms/MP for
 * 51.5%. */
static int png_filters_for_level(int level)
{
    if (level == 0)
        return PNG_FILTER_NONE;
    if (level == 1)
        return PNG_FILTER_UP;
    if (level <= 3)
        return PNG_FILTER_PAETH;
    return PNG_ALL_FILTERS;
}

/* True when every pixel is 0 or 255 (Canny and tutorial maps). For those,
 * no filter at all beats every other choice, in time and in size, at every
 * level above 0 (PNG_SETTINGS.md, "Two-level maps"): filtering turns a
 * 0/255 run into a scatter of 0, 1 and 255 the RLE cannot fold. Stops at
 * the first other value, so a Sobel map costs about one row. */
static bool is_two_level(const struct img_buf *gray)
{
    for (int y = 0; y < gray->height; y++) {
        const uint8_t *row = gray->data + (size_t)y * gray->stride;
        unsigned other = 0;
        for (int x = 0; x < gray->width; x++)
            other |= (unsigned)(row[x] != 0 && row[x] != 255);
        if (other != 0)
            return false;
    }
    return true;
}

static int png_strategy_for_level(int level)
{
    return level == 0 ? Z_DEFAULT_STRATEGY : Z_RLE;
}

static void on_png_error(png_structp png, png_const_charp message)
{
    struct png_sink *sink = png_get_error_ptr(png);
    size_t length = strlen(message);
    if (length >= sizeof(sink->message))
        length = sizeof(sink->message) - 1;
    memcpy(sink->message, message, length);
    sink->message[length] = '\0';
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    /* We set every field ourselves; a warning would be about our use of
     * libpng, not about the user's image, and must not reach stderr from a
     * worker. */
    (void)png;
    (void)message;
}

static void on_png_write(png_structp png, png_bytep bytes, size_t length)
{
    struct png_sink *sink = png_get_io_ptr(png);
    if (length > sink->capacity - sink->size) {
        if (length > sink->limit - sink->size)
            png_error(png, "output larger than the encoder's worst case");
        size_t wanted = sink->size + length;
        size_t capacity = sink->capacity > sink->limit / 2 ? sink->limit : sink->capacity * 2;
        if (capacity < wanted)
            capacity = wanted;
        uint8_t *grown = realloc(sink->data, capacity);
        if (grown == NULL) {
            sink->out_of_memory = true;
            png_error(png, "out of memory");
        }
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, length);
    sink->size += length;
}

static void on_png_flush(png_structp png)
{
    (void)png;
}

/* Returns 0, or -1 after libpng reported an error (its message is in the
 * sink). Nothing here may own memory: a longjmp skips straight to the
 * setjmp. */
static int write_png(png_structp png, png_infop info, const struct img_buf *gray, int level,
                     int filters, int strategy)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;

    png_set_IHDR(png, info, (png_uint_32)gray->width, (png_uint_32)gray->height, 8,
                 PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, level);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
    png_set_compression_strategy(png, strategy);
    png_write_info(png, info);
    for (int y = 0; y < gray->height; y++)
        png_write_row(png, gray->data + (size_t)y * gray->stride);
    png_write_end(png, NULL);
    return 0;
}

int img__encode_png_with(const struct img_buf *gray, int level, int filters, int strategy,
                         uint8_t **png_out, size_t *png_size, char *err, size_t err_size)
{
    *png_out = NULL;
    *png_size = 0;
    if (gray == NULL || gray->data == NULL || gray->channels != 1 || gray->width <= 0 ||
        gray->height <= 0 || gray->stride < (size_t)gray->width || level < 0 || level > 9) {
        img__set_err(err, err_size, "PNG encoder: invalid image or level");
        return -EINVAL;
    }

    /* Raw data is one filter byte plus the row, per row. img_buf_init could
     * not have allocated the image if these overflowed on 64-bit; on 32-bit
     * the checks matter. */
    size_t row_bytes = (size_t)gray->width + 1;
    if (row_bytes > SIZE_MAX / (size_t)gray->height) {
        img__set_err(err, err_size, "PNG encoder: image too large");
        return -EFBIG;
    }
    size_t raw_size = row_bytes * (size_t)gray->height;
    size_t slack = raw_size / 8 + 65536;
    if (raw_size > SIZE_MAX - slack) {
        img__set_err(err, err_size, "PNG encoder: image too large");
        return -EFBIG;
    }

    struct png_sink sink = {0};
    sink.limit = raw_size + slack;
    /* Edge maps compress to roughly a tenth of the raw size at fast levels;
     * start near there and double, so a typical image reallocs a few times. */
    sink.capacity = raw_size / 8 + 4096;
    if (sink.capacity > sink.limit)
        sink.capacity = sink.limit;

    int ret;
    png_structp png = NULL;
    png_infop info = NULL;

    sink.data = malloc(sink.capacity);
    if (sink.data == NULL) {
        ret = -ENOMEM;
        img__set_err(err, err_size, "PNG encoder: out of memory");
        goto fail;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
    if (png == NULL) {
        ret = -ENOMEM;
        img__set_err(err, err_size, "PNG encoder: out of memory");
        goto fail;
    }
    info = png_create_info_struct(png);
    if (info == NULL) {
        ret = -ENOMEM;
        img__set_err(err, err_size, "PNG encoder: out of memory");
        goto fail;
    }
    png_set_write_fn(png, &sink, on_png_write, on_png_flush);

    if (write_png(png, info, gray, level, filters, strategy) != 0) {
        ret = sink.out_of_memory ? -ENOMEM : -EIO;
        img__set_err(err, err_size, "PNG encoder: %s", sink.message);
        goto fail;
    }
    png_destroy_write_struct(&png, &info);

    /* Give back the doubling slack; keeping the larger block is fine if the
     * shrink fails. */
    uint8_t *shrunk = realloc(sink.data, sink.size);
    if (shrunk != NULL)
        sink.data = shrunk;
    *png_out = sink.data;
    *png_size = sink.size;
    return 0;

fail:
    /* Accepts NULL for either struct. */
    png_destroy_write_struct(&png, &info);
    free(sink.data);
    return ret;
}

int img_encode_png(const struct img_buf *gray, int level, uint8_t **png, size_t *png_size,
                   char *err, size_t err_size)
{
    /* Range-check before the table lookups; img__encode_png_with repeats it
     * for its other callers. */
    if (level < 0 || level > 9) {
        *png = NULL;
        *png_size = 0;
        img__set_err(err, err_size, "PNG encoder: level %d is not 0-9", level);
        return -EINVAL;
    }
    if (gray == NULL || gray->data == NULL || gray->channels != 1 || gray->width <= 0 ||
        gray->height <= 0 || gray->stride < (size_t)gray->width)
        return img__encode_png_with(gray, level, PNG_FILTER_NONE, Z_DEFAULT_STRATEGY, png, png_size,
                                    err, err_size); /* refuses it, with the message */
    int filters = level > 0 && is_two_level(gray) ? PNG_FILTER_NONE : png_filters_for_level(level);
    return img__encode_png_with(gray, level, filters, png_strategy_for_level(level), png, png_size,
                                err, err_size);
}
