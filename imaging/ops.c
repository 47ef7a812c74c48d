/* Edge operators (Sobel, the tutorial's kernel) and the operator table.
 *
 * Each kernel is split the same way: the caller picks three row pointers per
 * output row (mirroring at the top and bottom), the first and last columns
 * are done one pixel at a time with mirrored indices, and the interior loop
 * has no branches and only integer math up to the square root, so the
 * compiler vectorises it. tests/unit/test_imaging.c holds the obvious
 * per-pixel versions and checks these against them bit for bit. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "imaging.h"

/* Sobel's output saturates at 255. 255.5² = 65280.25, so 65280 is the largest
 * energy (gx² + gy²) whose rounded root is 255 and every larger energy also
 * gives 255: capping the energy there is the saturation, and keeps the root
 * exact in float (see sobel_magnitude). */
#define SOBEL_ENERGY_CAP 65280

/* round(sqrt(energy)) capped at 255, without double math or a branch.
 *
 * Exact: for an integer e the root is never a half-integer ((k + 0.5)² =
 * k² + k + 0.25 is not an integer), and for e <= 65280 it is at least
 * 0.25 / (2 * 255.5) > 4.8e-4 away from one. sqrtf is correctly rounded and
 * e is exact in float; below 256 floats are 2^-16 apart, so sqrtf and the
 * + 0.5f each move the value by at most 2^-17, far less than that margin, and
 * truncation then yields the correctly rounded root. */
static inline uint8_t sobel_magnitude(int gx, int gy)
{
    int energy = gx * gx + gy * gy;
    energy = energy < SOBEL_ENERGY_CAP ? energy : SOBEL_ENERGY_CAP;
    return (uint8_t)(sqrtf((float)energy) + 0.5f);
}

/* One Sobel output from explicit neighbour columns (used at the borders). */
static inline uint8_t sobel_at(const uint8_t *above, const uint8_t *row, const uint8_t *below,
                               int left, int centre, int right)
{
    int gx =
        (above[right] - above[left]) + 2 * (row[right] - row[left]) + (below[right] - below[left]);
    int gy = (below[left] + 2 * below[centre] + below[right]) -
             (above[left] + 2 * above[centre] + above[right]);
    return sobel_magnitude(gx, gy);
}

/* `above`, `row` and `below` may be the same row (mirrored borders); they are
 * only read, so restrict still holds. `out` is never one of them. */
static void sobel_row(const uint8_t *restrict above, const uint8_t *restrict row,
                      const uint8_t *restrict below, uint8_t *restrict out, int width)
{
    if (width == 1) {
        out[0] = sobel_at(above, row, below, 0, 0, 0);
        return;
    }
    /* BORDER_REFLECT_101: column -1 reads column 1, column width reads
     * width - 2 (for width 2 both are the other column). */
    out[0] = sobel_at(above, row, below, 1, 0, 1);
    for (int x = 1; x < width - 1; x++) {
        int gx = (above[x + 1] - above[x - 1]) + 2 * (row[x + 1] - row[x - 1]) +
                 (below[x + 1] - below[x - 1]);
        int gy = (below[x - 1] + 2 * below[x] + below[x + 1]) -
                 (above[x - 1] + 2 * above[x] + above[x + 1]);
        out[x] = sobel_magnitude(gx, gy);
    }
    out[width - 1] = sobel_at(above, row, below, width - 2, width - 1, width - 2);
}

void img_sobel(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
               int height)
{
    if (width <= 0 || height <= 0)
        return;
    for (int y = 0; y < height; y++) {
        /* Rows -1 and height mirror to 1 and height - 2; a one-row image
         * mirrors onto itself. */
        int y_above = y > 0 ? y - 1 : (height > 1 ? 1 : 0);
        int y_below = y < height - 1 ? y + 1 : (height > 1 ? height - 2 : 0);
        sobel_row(src + (size_t)y_above * src_stride, src + (size_t)y * src_stride,
                  src + (size_t)y_below * src_stride, dst + (size_t)y * dst_stride, width);
    }
}

/* |ΔR| + |ΔG| + |ΔB| between two RGB pixels, 0..765. */
static inline int rgb_distance(const uint8_t *a, const uint8_t *b)
{
    int dr = a[0] - b[0], dg = a[1] - b[1], db = a[2] - b[2];
    return (dr < 0 ? -dr : dr) + (dg < 0 ? -dg : dg) + (db < 0 ? -db : db);
}

/* The lesson thresholds the floor of the mean distance at > 30. With one
 * neighbour that is d > 30; with two, floor((d1 + d2) / 2) > 30 exactly when
 * d1 + d2 >= 62, which needs no division. */
#define TUTORIAL_ONE_NEIGHBOUR_MIN 31
#define TUTORIAL_TWO_NEIGHBOURS_MIN 62

static void tutorial_row(const uint8_t *restrict row, const uint8_t *restrict below,
                         uint8_t *restrict out, int width)
{
    for (int x = 0; x < width - 1; x++) {
        int sum =
            rgb_distance(row + 3 * x, row + 3 * x + 3) + rgb_distance(row + 3 * x, below + 3 * x);
        out[x] = sum >= TUTORIAL_TWO_NEIGHBOURS_MIN ? 255 : 0;
    }
    int last = width - 1;
    out[last] =
        rgb_distance(row + 3 * last, below + 3 * last) >= TUTORIAL_ONE_NEIGHBOUR_MIN ? 255 : 0;
}

static void tutorial_last_row(const uint8_t *restrict row, uint8_t *restrict out, int width)
{
    for (int x = 0; x < width - 1; x++)
        out[x] = rgb_distance(row + 3 * x, row + 3 * x + 3) >= TUTORIAL_ONE_NEIGHBOUR_MIN ? 255 : 0;
    out[width - 1] = 0; /* no neighbour at all */
}

void img_tutorial(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
                  int height)
{
    if (width <= 0 || height <= 0)
        return;
    for (int y = 0; y < height - 1; y++)
        tutorial_row(src + (size_t)y * src_stride, src + (size_t)(y + 1) * src_stride,
                     dst + (size_t)y * dst_stride, width);
    tutorial_last_row(src + (size_t)(height - 1) * src_stride,
                      dst + (size_t)(height - 1) * dst_stride, width);
}

static const struct {
    const char *name;
    int channels;
} operators[] = {
    [IMG_OP_SOBEL] = {"sobel", 1},
    [IMG_OP_TUTORIAL] = {"tutorial", 3},
};

#define OPERATOR_COUNT (sizeof(operators) / sizeof(operators[0]))

static int operator_valid(enum img_operator op)
{
    return (unsigned)op < OPERATOR_COUNT;
}

int img_operator_from_name(const char *name, enum img_operator *op)
{
    if (name == NULL)
        return -EINVAL;
    for (size_t i = 0; i < OPERATOR_COUNT; i++) {
        if (strcmp(name, operators[i].name) == 0) {
            *op = (enum img_operator)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *img_operator_name(enum img_operator op)
{
    /* Never NULL, so a caller can print it unchecked. */
    return operator_valid(op) ? operators[op].name : "unknown";
}

int img_operator_channels(enum img_operator op)
{
    return operator_valid(op) ? operators[op].channels : -EINVAL;
}

int img_apply(enum img_operator op, const struct img_buf *src, struct img_buf *dst)
{
    memset(dst, 0, sizeof(*dst));
    if (!operator_valid(op) || src == NULL || src->data == NULL ||
        src->channels != operators[op].channels || src->width <= 0 || src->height <= 0 ||
        src->stride < (size_t)src->width * (size_t)src->channels)
        return -EINVAL;

    int ret = img_buf_init(dst, src->width, src->height, 1);
    if (ret < 0)
        return ret;
    switch (op) {
    case IMG_OP_SOBEL:
        img_sobel(src->data, src->stride, dst->data, dst->stride, src->width, src->height);
        break;
    case IMG_OP_TUTORIAL:
        img_tutorial(src->data, src->stride, dst->data, dst->stride, src->width, src->height);
        break;
    }
    return 0;
}
