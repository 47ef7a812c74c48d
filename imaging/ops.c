/* The 3×3 gradient operators (Sobel, Scharr, Prewitt), the tutorial's kernel
 * and the operator table (Canny is in canny.c).
 *
 * Each kernel is split the same way: the caller picks three row pointers per
 * output row (mirroring at the top and bottom), the first and last columns
 * are done one pixel at a time with mirrored indices, and the interior loop
 * has no branches and only integer math up to the square root, so the
 * compiler vectorises it. tests/unit/test_ops.c holds the obvious
 * per-pixel versions and checks these against them bit for bit. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

/* The gradient magnitude saturates at 255. 255.5² = 65280.25, so 65280 is the
 * largest energy (gx² + gy²) whose rounded root is 255 and every larger
 * energy also gives 255: capping the energy there is the saturation, and
 * keeps the root exact in float (see gradient_magnitude). The largest energy
 * before the cap is Scharr's 2 * (16 * 255)², well inside int. */
#define GRADIENT_ENERGY_CAP 65280

/* round(sqrt(energy)) capped at 255, without double math or a branch.
 *
 * Exact: for an integer e the root is never a half-integer ((k + 0.5)² =
 * k² + k + 0.25 is not an integer), and for e <= 65280 it is at least
 * 0.25 / (2 * 255.5) > 4.8e-4 away from one. sqrtf is correctly rounded and
 * e is exact in float; below 256 floats are 2^-16 apart, so sqrtf and the
 * + 0.5f each move the value by at most 2^-17, far less than that margin, and
 * truncation then yields the correctly rounded root. */
static inline __attribute__((always_inline)) uint8_t gradient_magnitude(int gx, int gy)
{
    int energy = gx * gx + gy * gy;
    energy = energy < GRADIENT_ENERGY_CAP ? energy : GRADIENT_ENERGY_CAP;
    return (uint8_t)(sqrtf((float)energy) + 0.5f);
}

/* The three 3×3 gradient operators differ only in their smoothing weights
 * across the derivative: [side centre side] = [1 2 1] (Sobel), [3 10 3]
 * (Scharr), [1 1 1] (Prewitt). gx = Σ weight * (right - left) over the three
 * rows, gy = Σ weight * (below - above) over the three columns, as OpenCV's
 * Sobel/Scharr (dx or dy = 1, ksize 3) and the textbook Prewitt define them.
 * The weights are compile-time constants at every call (always_inline), so
 * each operator gets its own interior loop with constant multipliers. */
static inline __attribute__((always_inline)) uint8_t
gradient_at(const uint8_t *above, const uint8_t *row, const uint8_t *below, int left, int centre,
            int right, int side_weight, int centre_weight)
{
    int gx = side_weight * (above[right] - above[left]) + centre_weight * (row[right] - row[left]) +
             side_weight * (below[right] - below[left]);
    int gy = side_weight * (below[left] - above[left]) +
             centre_weight * (below[centre] - above[centre]) +
             side_weight * (below[right] - above[right]);
    return gradient_magnitude(gx, gy);
}

/* `above`, `row` and `below` may be the same row (mirrored borders); they are
 * only read, so restrict still holds. `out` is never one of them. */
static inline __attribute__((always_inline)) void gradient_row(const uint8_t *restrict above,
                                                               const uint8_t *restrict row,
                                                               const uint8_t *restrict below,
                                                               uint8_t *restrict out, int width,
                                                               int side_weight, int centre_weight)
{
    if (width == 1) {
        out[0] = gradient_at(above, row, below, 0, 0, 0, side_weight, centre_weight);
        return;
    }
    /* BORDER_REFLECT_101: column -1 reads column 1, column width reads
     * width - 2 (for width 2 both are the other column). */
    out[0] = gradient_at(above, row, below, 1, 0, 1, side_weight, centre_weight);
    for (int x = 1; x < width - 1; x++) {
        int gx = side_weight * (above[x + 1] - above[x - 1]) +
                 centre_weight * (row[x + 1] - row[x - 1]) +
                 side_weight * (below[x + 1] - below[x - 1]);
        int gy = side_weight * (below[x - 1] - above[x - 1]) +
                 centre_weight * (below[x] - above[x]) +
                 side_weight * (below[x + 1] - above[x + 1]);
        out[x] = gradient_magnitude(gx, gy);
    }
    out[width - 1] =
        gradient_at(above, row, below, width - 2, width - 1, width - 2, side_weight, centre_weight);
}

/* Rows -1 and height mirror to 1 and height - 2; a one-row image mirrors
 * onto itself. */
static inline __attribute__((always_inline)) int mirror_above(int y, int height)
{
    return y > 0 ? y - 1 : (height > 1 ? 1 : 0);
}

static inline __attribute__((always_inline)) int mirror_below(int y, int height)
{
    return y < height - 1 ? y + 1 : (height > 1 ? height - 2 : 0);
}

/* Output rows [y0, y1) of a width×height image: `src` and `dst` point at row
 * 0 of the whole image, so a band reads the rows around it as they are. */
static inline __attribute__((always_inline)) void
gradient_rows(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
              int height, int y0, int y1, int side_weight, int centre_weight)
{
    if (width <= 0 || height <= 0)
        return;
    for (int y = y0; y < y1; y++)
        gradient_row(src + (size_t)mirror_above(y, height) * src_stride,
                     src + (size_t)y * src_stride,
                     src + (size_t)mirror_below(y, height) * src_stride,
                     dst + (size_t)(y - y0) * dst_stride, width, side_weight, centre_weight);
}

#if IMG_HAVE_AVX2_VARIANTS
#include <immintrin.h>

/* weight * v for a compile-time weight; GCC does not turn a multiply by 1
 * or 2 of a vector intrinsic into nothing or an add. */
IMG_TARGET_AVX2 static inline __attribute__((always_inline)) __m256i times_weight(__m256i v,
                                                                                  int weight)
{
    if (weight == 1)
        return v;
    if (weight == 2)
        return _mm256_add_epi16(v, v);
    return _mm256_mullo_epi16(v, _mm256_set1_epi16((short)weight));
}

/* Sixteen magnitudes from sixteen gx and gy (16-bit lanes; |g| <= 16 * 255
 * for Scharr) as 16-bit lanes in pixel order: gx² + gy² by pmaddwd on
 * (gx, gy) pairs, then the scalar gradient_magnitude's float steps on each
 * lane (the same correctly rounded sqrt, the same + 0.5f and truncation),
 * so the bytes are the same. unpack and pack both work within 128-bit
 * lanes, so packing undoes the unpacking's order. */
IMG_TARGET_AVX2 static inline __attribute__((always_inline)) __m256i magnitude_x16(__m256i gx,
                                                                                   __m256i gy)
{
    const __m256i cap = _mm256_set1_epi32(GRADIENT_ENERGY_CAP);
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256i low = _mm256_unpacklo_epi16(gx, gy);
    __m256i high = _mm256_unpackhi_epi16(gx, gy);
    __m256i energy_low = _mm256_min_epi32(_mm256_madd_epi16(low, low), cap);
    __m256i energy_high = _mm256_min_epi32(_mm256_madd_epi16(high, high), cap);
    __m256i root_low =
        _mm256_cvttps_epi32(_mm256_add_ps(_mm256_sqrt_ps(_mm256_cvtepi32_ps(energy_low)), half));
    __m256i root_high =
        _mm256_cvttps_epi32(_mm256_add_ps(_mm256_sqrt_ps(_mm256_cvtepi32_ps(energy_high)), half));
    return _mm256_packus_epi32(root_low, root_high);
}

/* gx and gy of the sixteen pixels at `x` (x >= 1, x + 17 <= width). */
IMG_TARGET_AVX2 static inline __attribute__((always_inline)) __m256i
gradient_x16(const uint8_t *above, const uint8_t *row, const uint8_t *below, int x, int side_weight,
             int centre_weight)
{
#define WIDEN(p) _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p)))
    __m256i above_left = WIDEN(above + x - 1), above_centre = WIDEN(above + x),
            above_right = WIDEN(above + x + 1);
    __m256i row_left = WIDEN(row + x - 1), row_right = WIDEN(row + x + 1);
    __m256i below_left = WIDEN(below + x - 1), below_centre = WIDEN(below + x),
            below_right = WIDEN(below + x + 1);
#undef WIDEN
    __m256i gx =
        _mm256_add_epi16(times_weight(_mm256_add_epi16(_mm256_sub_epi16(above_right, above_left),
                                                       _mm256_sub_epi16(below_right, below_left)),
                                      side_weight),
                         times_weight(_mm256_sub_epi16(row_right, row_left), centre_weight));
    __m256i gy =
        _mm256_add_epi16(times_weight(_mm256_add_epi16(_mm256_sub_epi16(below_left, above_left),
                                                       _mm256_sub_epi16(below_right, above_right)),
                                      side_weight),
                         times_weight(_mm256_sub_epi16(below_centre, above_centre), centre_weight));
    return magnitude_x16(gx, gy);
}

/* gradient_row with the interior written with AVX2 intrinsics, 32 pixels a
 * step (GCC 12's own vectorisation of the scalar loop widens to 32-bit
 * lanes early and ran at half this speed); the borders and the last
 * pixels are the scalar code. Same bytes as gradient_row (the tests compare
 * img_NAME, which takes this path on AVX2 machines, with img__NAME_generic
 * and with the per-pixel references). */
IMG_TARGET_AVX2 static inline __attribute__((always_inline)) void
gradient_row_avx2(const uint8_t *restrict above, const uint8_t *restrict row,
                  const uint8_t *restrict below, uint8_t *restrict out, int width, int side_weight,
                  int centre_weight)
{
    if (width < 34) {
        gradient_row(above, row, below, out, width, side_weight, centre_weight);
        return;
    }
    out[0] = gradient_at(above, row, below, 1, 0, 1, side_weight, centre_weight);
    int x = 1;
    for (; x + 33 <= width; x += 32) {
        __m256i first = gradient_x16(above, row, below, x, side_weight, centre_weight);
        __m256i second = gradient_x16(above, row, below, x + 16, side_weight, centre_weight);
        /* packus interleaves the two by 128-bit lane; the permute puts
         * the four quarters back in order. */
        __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(first, second), 0xd8);
        _mm256_storeu_si256((__m256i *)(out + x), bytes);
    }
    /* The last pixels of the row, fewer than a vector. */
    for (; x < width - 1; x++)
        out[x] = gradient_at(above, row, below, x - 1, x, x + 1, side_weight, centre_weight);
    out[width - 1] =
        gradient_at(above, row, below, width - 2, width - 1, width - 2, side_weight, centre_weight);
}

IMG_TARGET_AVX2 static inline __attribute__((always_inline)) void
gradient_rows_avx2(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                   int width, int height, int y0, int y1, int side_weight, int centre_weight)
{
    if (width <= 0 || height <= 0)
        return;
    for (int y = y0; y < y1; y++)
        gradient_row_avx2(src + (size_t)mirror_above(y, height) * src_stride,
                          src + (size_t)y * src_stride,
                          src + (size_t)mirror_below(y, height) * src_stride,
                          dst + (size_t)(y - y0) * dst_stride, width, side_weight, centre_weight);
}
#endif

/* img_NAME, its portable variant img__NAME_generic, the row-band entry
 * img__NAME_rows, NAME_rows_at (rows [y0, y1) with `dst` at row y0, for
 * img__gradient_rows) and, on x86, an AVX2 variant (intrinsics for the
 * interior, see gradient_row_avx2; imaging_private.h has the dispatch). */
/* The entries both variants share, over NAME_rows_at: the row-band entry
 * img__NAME_rows and the whole-image img_NAME. */
#define DEFINE_GRADIENT_ENTRIES(name)                                                              \
    void img__##name##_rows(const uint8_t *src, size_t src_stride, uint8_t *dst,                   \
                            size_t dst_stride, int width, int height, int y0, int y1)              \
    {                                                                                              \
        name##_rows_at(src, src_stride, dst + (size_t)y0 * dst_stride, dst_stride, width, height,  \
                       y0, y1);                                                                    \
    }                                                                                              \
    void img_##name(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,        \
                    int width, int height)                                                         \
    {                                                                                              \
        img__##name##_rows(src, src_stride, dst, dst_stride, width, height, 0, height);            \
    }

#if IMG_HAVE_AVX2_VARIANTS
#define DEFINE_GRADIENT_OPERATOR(name, side_weight, centre_weight)                                 \
    static void name##_generic_rows(const uint8_t *src, size_t src_stride, uint8_t *dst,           \
                                    size_t dst_stride, int width, int height, int y0, int y1)      \
    {                                                                                              \
        gradient_rows(src, src_stride, dst, dst_stride, width, height, y0, y1, side_weight,        \
                      centre_weight);                                                              \
    }                                                                                              \
    IMG_TARGET_AVX2 static void name##_avx2_rows(const uint8_t *src, size_t src_stride,            \
                                                 uint8_t *dst, size_t dst_stride, int width,       \
                                                 int height, int y0, int y1)                       \
    {                                                                                              \
        gradient_rows_avx2(src, src_stride, dst, dst_stride, width, height, y0, y1, side_weight,   \
                           centre_weight);                                                         \
    }                                                                                              \
    static void name##_rows_at(const uint8_t *src, size_t src_stride, uint8_t *dst,                \
                               size_t dst_stride, int width, int height, int y0, int y1)           \
    {                                                                                              \
        if (img__cpu_has_avx2())                                                                   \
            name##_avx2_rows(src, src_stride, dst, dst_stride, width, height, y0, y1);             \
        else                                                                                       \
            name##_generic_rows(src, src_stride, dst, dst_stride, width, height, y0, y1);          \
    }                                                                                              \
    void img__##name##_generic(const uint8_t *src, size_t src_stride, uint8_t *dst,                \
                               size_t dst_stride, int width, int height)                           \
    {                                                                                              \
        name##_generic_rows(src, src_stride, dst, dst_stride, width, height, 0, height);           \
    }                                                                                              \
    DEFINE_GRADIENT_ENTRIES(name)
#else
#define DEFINE_GRADIENT_OPERATOR(name, side_weight, centre_weight)                                 \
    static void name##_rows_at(const uint8_t *src, size_t src_stride, uint8_t *dst,                \
                               size_t dst_stride, int width, int height, int y0, int y1)           \
    {                                                                                              \
        gradient_rows(src, src_stride, dst, dst_stride, width, height, y0, y1, side_weight,        \
                      centre_weight);                                                              \
    }                                                                                              \
    DEFINE_GRADIENT_ENTRIES(name)                                                                  \
    void img__##name##_generic(const uint8_t *src, size_t src_stride, uint8_t *dst,                \
                               size_t dst_stride, int width, int height)                           \
    {                                                                                              \
        img__##name##_rows(src, src_stride, dst, dst_stride, width, height, 0, height);            \
    }
#endif

DEFINE_GRADIENT_OPERATOR(sobel, 1, 2)
DEFINE_GRADIENT_OPERATOR(scharr, 3, 10)
DEFINE_GRADIENT_OPERATOR(prewitt, 1, 1)

bool img__is_gradient_operator(enum img_operator op)
{
    return op == IMG_OP_SOBEL || op == IMG_OP_SCHARR || op == IMG_OP_PREWITT;
}

void img__gradient_rows(enum img_operator op, const uint8_t *src, size_t src_stride, uint8_t *dst,
                        size_t dst_stride, int width, int height, int y0, int y1)
{
    switch (op) {
    case IMG_OP_SOBEL:
        sobel_rows_at(src, src_stride, dst, dst_stride, width, height, y0, y1);
        break;
    case IMG_OP_SCHARR:
        scharr_rows_at(src, src_stride, dst, dst_stride, width, height, y0, y1);
        break;
    case IMG_OP_PREWITT:
        prewitt_rows_at(src, src_stride, dst, dst_stride, width, height, y0, y1);
        break;
    default:
        break; /* not a 3x3 gradient operator (img__is_gradient_operator) */
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

void img__tutorial_rows(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                        int width, int height, int y0, int y1)
{
    if (width <= 0 || height <= 0)
        return;
    int last = height - 1;
    for (int y = y0; y < y1 && y < last; y++)
        tutorial_row(src + (size_t)y * src_stride, src + (size_t)(y + 1) * src_stride,
                     dst + (size_t)y * dst_stride, width);
    if (y0 < y1 && y1 == height)
        tutorial_last_row(src + (size_t)last * src_stride, dst + (size_t)last * dst_stride, width);
}

void img_tutorial(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
                  int height)
{
    img__tutorial_rows(src, src_stride, dst, dst_stride, width, height, 0, height);
}

static const struct {
    const char *name;
    int channels;
} operators[] = {
    // clang-format off
    [IMG_OP_SOBEL] = {"sobel", 1},
    [IMG_OP_TUTORIAL] = {"tutorial", 3},
    [IMG_OP_SCHARR] = {"scharr", 1},
    [IMG_OP_PREWITT] = {"prewitt", 1},
    [IMG_OP_CANNY] = {"canny", 1},
    // clang-format on
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

int img_apply_with(enum img_operator op, const struct img_canny_options *canny,
                   const struct img_buf *src, struct img_buf *dst)
{
    memset(dst, 0, sizeof(*dst));
    if (!operator_valid(op) || src == NULL || src->data == NULL ||
        src->channels != operators[op].channels || src->width <= 0 || src->height <= 0 ||
        src->stride < (size_t)src->width * (size_t)src->channels)
        return -EINVAL;
    struct img_canny_options canny_defaults;
    if (canny == NULL) {
        img_canny_options_init(&canny_defaults);
        canny = &canny_defaults;
    }

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
    case IMG_OP_SCHARR:
        img_scharr(src->data, src->stride, dst->data, dst->stride, src->width, src->height);
        break;
    case IMG_OP_PREWITT:
        img_prewitt(src->data, src->stride, dst->data, dst->stride, src->width, src->height);
        break;
    case IMG_OP_CANNY:
        ret = img_canny(src->data, src->stride, dst->data, dst->stride, src->width, src->height,
                        canny);
        break;
    }
    if (ret < 0)
        img_buf_finish(dst);
    return ret;
}

int img_apply(enum img_operator op, const struct img_buf *src, struct img_buf *dst)
{
    return img_apply_with(op, NULL, src, dst);
}
