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

int img_png_bands_create_fused(enum img_operator op, const struct img_buf *src, int level,
                               uint64_t (*now)(void), struct img_png_bands **out)
{
    *out = NULL;
    if (!img__is_gradient_operator(op))
        return -ENOTSUP;
    if (src == NULL || src->data == NULL || src->channels != 1 || src->width <= 0 ||
        src->height <= 0 || src->stride < (size_t)src->width || level < 0 || level > 9)
        return -EINVAL;
    bool two_level = false;
    uint64_t probe_time = 0;
    if (level > 0) {
        /* One row on a photo's map (its first row has other values); the
         * whole map only when it is two-level, where the encode is cheap. */
        uint8_t *row = malloc((size_t)src->width);
        if (row == NULL)
            return -ENOMEM;
        uint64_t start = now != NULL ? now() : 0;
        two_level = true;
        for (int y = 0; y < src->height && two_level; y++) {
            img__gradient_rows(op, src->data, src->stride, row, (size_t)src->width, src->width,
                               src->height, y, y + 1);
            two_level = row_is_two_level(row, src->width);
        }
        if (now != NULL)
            probe_time = now() - start;
        free(row);
    }
    return img__png_bands_create_fused(op, src, level, two_level, now, probe_time, out);
}
