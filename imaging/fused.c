/* The 3x3 gradient operators and the PNG encoder in one pass (imaging.h,
 * img_png_bands_create_fused).
 *
 * Apart, the operator writes the whole edge map (a byte per pixel, 12 MB
 * for a 12 MP photo, far past the caches) and the encoder's filter reads it
 * back from memory. Fused, each PNG band computes the operator's rows
 * itself, one block of rows (about 64 KiB, png_rle's block) at a time, into
 * a buffer that stays in cache while the block is filtered and coded
 * (encode.c, filter_fused_rows): the map is never written. The bands, the
 * blocks and the filters are those of the map's own encode, so the bytes
 * are too (tests/unit/test_fused.c). What must be known before the first
 * band, whether the map holds only 0 and 255 (coded unfiltered, encode.c's
 * is_two_level), is found here by computing rows from the top until one
 * holds another value. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "imaging.h"
#include "imaging_private.h"

static bool row_is_two_level(const uint8_t *row, int width)
{
    unsigned other = 0;
    for (int x = 0; x < width; x++)
        other |= (unsigned)(row[x] != 0 && row[x] != 255);
    return other == 0;
}

int img__fused_gradient_rows(enum img_operator op, const struct img_buf *src, struct img_rows *rows,
                             int keep_from, uint8_t *dst, size_t dst_stride, int y0, int y1)
{
    if (rows == NULL) {
        img__gradient_rows(op, src->data, src->stride, dst, dst_stride, src->width, src->height, y0,
                           y1);
        return 0;
    }
    /* The rows the kernels read, [y0 - 1, y1 + 1) within the image, as an
     * image of their own: its first and last rows are only read, except
     * where they are the image's own first and last, where the kernels
     * mirror as they do on the whole image (row 1 above row 0, row h - 2
     * below row h - 1). */
    int lo = keep_from < y0 - 1 ? keep_from : y0 - 1;
    if (lo < 0)
        lo = 0;
    int height = img_rows_height(rows);
    int hi = y1 + 1 < height ? y1 + 1 : height;
    const uint8_t *window = img__rows_window(rows, lo, hi);
    if (window == NULL) {
        int ret = img_rows_error(rows, NULL, NULL, 0);
        return ret < 0 ? ret : -EINVAL;
    }
    int width = img_rows_width(rows);
    img__gradient_rows(op, window, (size_t)width, dst, dst_stride, width, hi - lo, y0 - lo,
                       y1 - lo);
    return 0;
}

/* Whether the map holds only 0 and 255: rows from the top until one holds
 * another value (one row on a photo's map; the whole map only when it is
 * two-level, where the encode is cheap). The row source keeps every row
 * from the top meanwhile, for the first band. */
static int probe_two_level(enum img_operator op, const struct img_buf *src, struct img_rows *rows,
                           int width, int height, bool *two_level)
{
    uint8_t *row = malloc((size_t)width);
    if (row == NULL)
        return -ENOMEM;
    int ret = 0;
    *two_level = true;
    for (int y = 0; y < height && *two_level; y++) {
        ret = img__fused_gradient_rows(op, src, rows, 0, row, (size_t)width, y, y + 1);
        if (ret < 0)
            break;
        *two_level = row_is_two_level(row, width);
    }
    free(row);
    return ret;
}

static int create_fused(enum img_operator op, const struct img_buf *src, struct img_rows *rows,
                        int level, uint64_t (*now)(void), struct img_png_bands **out)
{
    bool two_level = false;
    uint64_t probe_time = 0;
    if (level > 0) {
        uint64_t start = now != NULL ? now() : 0;
        uint64_t decoding = rows != NULL ? img__rows_decode_time(rows) : 0;
        int ret = probe_two_level(op, src, rows, src->width, src->height, &two_level);
        if (ret < 0)
            return ret;
        if (now != NULL)
            probe_time = now() - start;
        if (rows != NULL)
            probe_time -= img__rows_decode_time(rows) - decoding;
    }
    return img__png_bands_create_fused(op, src, rows, level, two_level, now, probe_time, out);
}

int img_png_bands_create_fused(enum img_operator op, const struct img_buf *src, int level,
                               uint64_t (*now)(void), struct img_png_bands **out)
{
    *out = NULL;
    if (!img__is_gradient_operator(op))
        return -ENOTSUP;
    if (src == NULL || src->data == NULL || src->channels != 1 || src->width <= 0 ||
        src->height <= 0 || src->stride < (size_t)src->width || level < 0 || level > 9)
        return -EINVAL;
    return create_fused(op, src, NULL, level, now, out);
}

int img_png_bands_create_fused_rows(enum img_operator op, struct img_rows *rows, int level,
                                    uint64_t (*now)(void), struct img_png_bands **out)
{
    *out = NULL;
    if (!img__is_gradient_operator(op))
        return -ENOTSUP;
    if (rows == NULL || level < 0 || level > 9)
        return -EINVAL;
    /* The shape only: no pixels (the rows come from `rows`). */
    struct img_buf shape = {
        .data = NULL,
        .stride = (size_t)img_rows_width(rows),
        .width = img_rows_width(rows),
        .height = img_rows_height(rows),
        .channels = 1,
    };
    return create_fused(op, &shape, rows, level, now, out);
}

bool img_operator_fuses(enum img_operator op)
{
    return img__is_gradient_operator(op);
}
