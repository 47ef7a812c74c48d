/* Gaussian blur and the Canny edge detector, both made to agree with OpenCV 4
 * (cv2.GaussianBlur bit for bit, cv2.Canny pixel for pixel) so that their
 * results can be checked against it (tests/opencv/).
 *
 * Memory: the blur keeps 2 * radius + 1 horizontally filtered rows (16-bit)
 * and one 32-bit accumulator row; Canny blurs into its own output buffer,
 * keeps three rows of gradients and magnitudes, and one byte per pixel of
 * edge map (with a one-pixel frame) plus the hysteresis stack. Every loop
 * over a row's pixels is branch-free integer math the compiler vectorises;
 * only the borders and the hysteresis walk are scalar. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

/* ---- the Gaussian kernel (OpenCV's bit-exact construction) ------------- */

/* OpenCV's 8-bit filters keep the taps as unsigned 8.8 fixed point. */
#define GAUSS_FRACTION_BITS 8
#define GAUSS_ONE (1 << GAUSS_FRACTION_BITS)
/* cv2's size rule for 8-bit images, 2 * round(3 sigma) + 1, at the largest sigma. */
#define GAUSS_MAX_TAPS 121
/* Radii the vertical pass has an unrolled one-sweep version for. */
#define GAUSS_SMALL_RADIUS 4

struct gauss_kernel {
    int radius;
    uint16_t taps[GAUSS_MAX_TAPS];
};

/* getGaussianKernelBitExact + getGaussianKernelFixedPoint_ED from OpenCV
 * 4.x's smooth.dispatch.cpp, in plain doubles: OpenCV computes in software
 * IEEE doubles, which give the same results as the hardware's for the + * /
 * used here; only exp() may differ in the last bit, which could change a tap
 * only if a scaled tap fell within an ulp of a rounding tie (none does for
 * the sigmas the tests check against cv2). The taps are rounded one after
 * the other carrying the rounding error forward, and the centre tap takes
 * what is left, so they sum to exactly 256. */
static void gauss_kernel_init(struct gauss_kernel *kernel, double sigma)
{
    /* cvRound(sigma * 3 * 2 + 1) | 1; cvRound rounds half to even, as lrint
     * does in the default rounding mode. */
    int size = (int)lrint(sigma * 6.0 + 1.0) | 1;
    if (size > GAUSS_MAX_TAPS)
        size = GAUSS_MAX_TAPS;
    int half = size / 2;
    double scale = -0.125 / (sigma * sigma);
    double values[GAUSS_MAX_TAPS / 2];
    double sum = 0.0;
    for (int i = 0, x = 1 - size; i < half; i++, x += 2) {
        values[i] = exp((double)(x * x) * scale);
        sum += values[i];
    }
    sum = sum * 2.0 + 1.0;
    double normalise = 1.0 / sum;

    double carried = 0.0;
    int fixed_sum = 0;
    for (int i = 0; i < half; i++) {
        double wanted = values[i] * normalise * GAUSS_ONE + carried;
        int tap = (int)lrint(wanted);
        carried = wanted - tap;
        kernel->taps[i] = kernel->taps[size - 1 - i] = (uint16_t)tap;
        fixed_sum += tap;
    }
    kernel->taps[half] = (uint16_t)(GAUSS_ONE - 2 * fixed_sum);
    kernel->radius = half;
}

/* OpenCV's borderInterpolate for BORDER_REFLECT_101, also for indices more
 * than one image away (a 9-tap kernel on a 3-pixel image). */
static int reflect101(int index, int size)
{
    if (size == 1)
        return 0;
    while ((unsigned)index >= (unsigned)size)
        index = index < 0 ? -index : 2 * size - 2 - index;
    return index;
}

struct blur_state {
    const struct row_kernels *kernels;
    struct gauss_kernel kernel;
    int width;
    int height;
    int ring_rows;     /* 2 * radius + 1 */
    uint8_t *extended; /* one source row with `radius` mirrored pixels each side */
    uint16_t *ring;    /* ring_rows horizontally filtered rows */
    int *ring_source;  /* which source row each ring slot holds, or -1 */
    uint32_t *accumulator;
    int *column_index; /* the mirrored source column of each extended pixel */
};

static void blur_state_finish(struct blur_state *state)
{
    free(state->extended);
    free(state->ring);
    free(state->ring_source);
    free(state->accumulator);
    free(state->column_index);
    memset(state, 0, sizeof(*state));
}

static int blur_state_init(struct blur_state *state, int width, int height, double sigma)
{
    memset(state, 0, sizeof(*state));
    gauss_kernel_init(&state->kernel, sigma);
    int radius = state->kernel.radius;
    size_t extended_width = (size_t)width + 2 * (size_t)radius;
    state->width = width;
    state->height = height;
    state->ring_rows = 2 * radius + 1;
    state->extended = malloc(extended_width);
    state->ring = malloc((size_t)state->ring_rows * (size_t)width * sizeof(*state->ring));
    state->ring_source = malloc((size_t)state->ring_rows * sizeof(*state->ring_source));
    state->accumulator = malloc((size_t)width * sizeof(*state->accumulator));
    state->column_index = malloc(extended_width * sizeof(*state->column_index));
    if (state->extended == NULL || state->ring == NULL || state->ring_source == NULL ||
        state->accumulator == NULL || state->column_index == NULL) {
        blur_state_finish(state);
        return -ENOMEM;
    }
    for (int slot = 0; slot < state->ring_rows; slot++)
        state->ring_source[slot] = -1;
    for (size_t i = 0; i < extended_width; i++)
        state->column_index[i] = reflect101((int)i - radius, width);
    return 0;
}

/* The row kernels of one target (generic or AVX2), chosen once per call. */
struct row_kernels {
    void (*blur_horizontal)(const uint16_t *taps, int radius, const uint8_t *ext, uint16_t *out,
                            int width);
    void (*blur_vertical)(const uint16_t *taps, int radius, const uint16_t *const *top,
                          const uint16_t *const *bottom, const uint16_t *middle, uint32_t *acc,
                          uint8_t *out, int width);
    void (*gradient_row)(const uint8_t *above, const uint8_t *row, const uint8_t *below,
                         int16_t *gx, int16_t *gy, int32_t *magnitude, int width);
    void (*suppress_row)(const int32_t *above, const int32_t *magnitude, const int32_t *below,
                         const int16_t *gx, const int16_t *gy, uint8_t *map, int width, int32_t low,
                         int32_t high);
    void (*output_row)(const uint8_t *map_row, uint8_t *out, int width);
};

/* ---- row kernels --------------------------------------------------------
 *
 * Always inlined into both a portable and (on x86) an AVX2 function, see
 * KERNEL_VARIANTS below. */
#define KERNEL static inline __attribute__((always_inline))

/* Horizontal pass of one row (`ext` has `radius` mirrored pixels on each
 * side) into `out`: exact in 16 bits, since the taps sum to 256 and every
 * partial sum of non-negative terms stays <= 255 * 256. One pass per tap pair
 * over the whole row: each inner loop is a plain widening multiply-add the
 * compiler vectorises whatever the radius. */
KERNEL void blur_horizontal_body(const uint16_t *taps, int radius, const uint8_t *restrict ext,
                                 uint16_t *restrict out, int width)
{
    uint16_t centre = taps[radius];
    for (int x = 0; x < width; x++)
        out[x] = (uint16_t)(centre * ext[x + radius]);
    for (int k = 0; k < radius; k++) {
        uint16_t tap = taps[k];
        const uint8_t *restrict left = ext + k;
        const uint8_t *restrict right = ext + 2 * radius - k;
        for (int x = 0; x < width; x++)
            out[x] = (uint16_t)(out[x] + tap * (left[x] + right[x]));
    }
}

/* The vertical pass in one sweep, for a radius known at compile time: the
 * tap loop unrolls and the row loop vectorises, with no accumulator row. Same
 * integer sum as blur_vertical_body, so the same bytes. */
KERNEL void blur_vertical_fixed(const uint16_t *taps, int radius, const uint16_t *const *top,
                                const uint16_t *const *bottom, const uint16_t *restrict middle,
                                uint8_t *restrict out, int width)
{
    const uint16_t *restrict above[GAUSS_SMALL_RADIUS], *restrict below[GAUSS_SMALL_RADIUS];
    uint32_t tap[GAUSS_SMALL_RADIUS];
    for (int k = 0; k < radius; k++) {
        above[k] = top[k];
        below[k] = bottom[k];
        tap[k] = taps[k];
    }
    uint32_t centre = taps[radius];
    for (int x = 0; x < width; x++) {
        uint32_t sum = centre * middle[x] + (1u << 15);
        for (int k = 0; k < radius; k++)
            sum += tap[k] * ((uint32_t)above[k][x] + below[k][x]);
        out[x] = (uint8_t)(sum >> 16);
    }
}

/* Vertical pass: `top[k]` and `bottom[k]` are the filtered rows k - radius
 * and radius - k away (mirrored), `middle` the row itself. 2^15 rounds half
 * up; the total is at most 255 * 2^16. Radii up to GAUSS_SMALL_RADIUS (sigma
 * up to 1.5, the default 1.4 included) take the one-sweep version. */
KERNEL void blur_vertical_body(const uint16_t *taps, int radius, const uint16_t *const *top,
                               const uint16_t *const *bottom, const uint16_t *restrict middle,
                               uint32_t *restrict acc, uint8_t *restrict out, int width)
{
    switch (radius) {
    case 1:
        blur_vertical_fixed(taps, 1, top, bottom, middle, out, width);
        return;
    case 2:
        blur_vertical_fixed(taps, 2, top, bottom, middle, out, width);
        return;
    case 3:
        blur_vertical_fixed(taps, 3, top, bottom, middle, out, width);
        return;
    case 4:
        blur_vertical_fixed(taps, 4, top, bottom, middle, out, width);
        return;
    default:
        break;
    }
    uint32_t centre = taps[radius];
    for (int x = 0; x < width; x++)
        acc[x] = centre * middle[x];
    for (int k = 0; k < radius; k++) {
        uint32_t tap = taps[k];
        const uint16_t *restrict above = top[k];
        const uint16_t *restrict below = bottom[k];
        for (int x = 0; x < width; x++)
            acc[x] += tap * ((uint32_t)above[x] + below[x]);
    }
    for (int x = 0; x < width; x++)
        out[x] = (uint8_t)((acc[x] + (1u << 15)) >> 16);
}

/* The ring slot holding source row `source`, filtering it first if needed.
 * The rows one output row needs are distinct and lie within 2 * radius + 1
 * consecutive source rows, so `source % ring_rows` never collides among
 * them. */
static const uint16_t *blur_ring_row(struct blur_state *state, const uint8_t *src,
                                     size_t src_stride, int source)
{
    int slot = source % state->ring_rows;
    uint16_t *row = state->ring + (size_t)slot * (size_t)state->width;
    if (state->ring_source[slot] != source) {
        const uint8_t *pixels = src + (size_t)source * src_stride;
        int radius = state->kernel.radius;
        int width = state->width;
        uint8_t *ext = state->extended;
        for (int i = 0; i < radius; i++) {
            ext[i] = pixels[state->column_index[i]];
            ext[radius + width + i] = pixels[state->column_index[radius + width + i]];
        }
        memcpy(ext + radius, pixels, (size_t)width);
        state->kernels->blur_horizontal(state->kernel.taps, radius, ext, row, width);
        state->ring_source[slot] = source;
    }
    return row;
}

static void blur_output_row(struct blur_state *state, const uint8_t *src, size_t src_stride, int y,
                            uint8_t *out)
{
    int radius = state->kernel.radius;
    const uint16_t *top[GAUSS_MAX_TAPS / 2], *bottom[GAUSS_MAX_TAPS / 2];
    for (int k = 0; k < radius; k++) {
        top[k] = blur_ring_row(state, src, src_stride, reflect101(y + k - radius, state->height));
        bottom[k] =
            blur_ring_row(state, src, src_stride, reflect101(y + radius - k, state->height));
    }
    const uint16_t *middle = blur_ring_row(state, src, src_stride, y);
    state->kernels->blur_vertical(state->kernel.taps, radius, top, bottom, middle,
                                  state->accumulator, out, state->width);
}

static int blur_run(const struct row_kernels *kernels, const uint8_t *src, size_t src_stride,
                    uint8_t *dst, size_t dst_stride, int width, int height, double sigma)
{
    if (!(sigma > 0.0 && sigma <= IMG_CANNY_SIGMA_MAX) || width <= 0 || height <= 0)
        return -EINVAL;
    struct blur_state state;
    int ret = blur_state_init(&state, width, height, sigma);
    if (ret < 0)
        return ret;
    state.kernels = kernels;
    for (int y = 0; y < height; y++)
        blur_output_row(&state, src, src_stride, y, dst + (size_t)y * dst_stride);
    blur_state_finish(&state);
    return 0;
}

/* ---- Canny ------------------------------------------------------------- */

void img_canny_options_init(struct img_canny_options *opts)
{
    opts->sigma = IMG_CANNY_SIGMA_DEFAULT;
    opts->low = IMG_CANNY_LOW_DEFAULT;
    opts->high = IMG_CANNY_HIGH_DEFAULT;
}

int img_canny_options_check(const struct img_canny_options *opts, char *err, size_t err_size)
{
    /* Written so that NaN fails every test. */
    if (!(opts->sigma >= 0.0 && opts->sigma <= IMG_CANNY_SIGMA_MAX)) {
        img__set_err(err, err_size, "--sigma %g is not between 0 and %g", opts->sigma,
                     IMG_CANNY_SIGMA_MAX);
        return -EINVAL;
    }
    if (!(opts->low >= 0.0 && opts->low <= IMG_CANNY_THRESHOLD_MAX)) {
        img__set_err(err, err_size, "--low %g is not between 0 and %g", opts->low,
                     IMG_CANNY_THRESHOLD_MAX);
        return -EINVAL;
    }
    if (!(opts->high >= 0.0 && opts->high <= IMG_CANNY_THRESHOLD_MAX)) {
        img__set_err(err, err_size, "--high %g is not between 0 and %g", opts->high,
                     IMG_CANNY_THRESHOLD_MAX);
        return -EINVAL;
    }
    if (opts->low > opts->high) {
        img__set_err(err, err_size, "--low %g is above --high %g", opts->low, opts->high);
        return -EINVAL;
    }
    return 0;
}

/* Edge-map values, as in cv2.Canny: the map has a one-pixel frame of
 * MAP_NOT_EDGE so the hysteresis walk needs no bounds checks. MAP_SEED marks
 * strong pixels not yet walked from. */
enum {
    MAP_MAYBE = 0, /* weak: an edge if connected to a strong pixel */
    MAP_NOT_EDGE = 1,
    MAP_EDGE = 2,
    MAP_SEED = 3,
};

/* tan(22.5°) in 17.15 fixed point, as cv2.Canny's TG22. */
#define CANNY_SHIFT 15
#define CANNY_TG22 13573

struct canny_rows {
    /* Three rows each, indexed by y % 3; the magnitude rows have one zero
     * pixel on each side (index -1 and width) so neighbours need no checks. */
    int16_t *gx[3];
    int16_t *gy[3];
    int32_t *magnitude[3];
    int32_t *zero; /* a magnitude row of zeros for rows -1 and height */
    void *block;
};

static int canny_rows_init(struct canny_rows *rows, int width)
{
    size_t magnitude_row = (size_t)width + 2;
    size_t bytes = 3 * 2 * (size_t)width * sizeof(int16_t) + 4 * magnitude_row * sizeof(int32_t);
    /* The int32 rows come first, so every row is suitably aligned. */
    char *block = calloc(1, bytes);
    if (block == NULL)
        return -ENOMEM;
    rows->block = block;
    int32_t *magnitudes = (int32_t *)block;
    for (int i = 0; i < 3; i++)
        rows->magnitude[i] = magnitudes + (size_t)i * magnitude_row + 1;
    rows->zero = magnitudes + 3 * magnitude_row + 1;
    int16_t *gradients = (int16_t *)(magnitudes + 4 * magnitude_row);
    for (int i = 0; i < 3; i++) {
        rows->gx[i] = gradients + (size_t)(2 * i) * (size_t)width;
        rows->gy[i] = gradients + (size_t)(2 * i + 1) * (size_t)width;
    }
    return 0;
}

/* One Sobel gradient at column x, neighbours given explicitly (borders). */
KERNEL void canny_gradient_at(const uint8_t *above, const uint8_t *row, const uint8_t *below,
                              int left, int x, int right, int16_t *gx_out, int16_t *gy_out,
                              int32_t *magnitude)
{
    int gx =
        (above[right] - above[left]) + 2 * (row[right] - row[left]) + (below[right] - below[left]);
    int gy =
        (below[left] + 2 * below[x] + below[right]) - (above[left] + 2 * above[x] + above[right]);
    gx_out[x] = (int16_t)gx;
    gy_out[x] = (int16_t)gy;
    magnitude[x] = abs(gx) + abs(gy);
}

/* One row of 3×3 Sobel gradients and their L1 magnitude, edge pixels
 * replicated (cv2.Canny's BORDER_REPLICATE): column -1 reads column 0.
 * |gx|, |gy| <= 4 * 255 fit int16, as cv2's CV_16S gradients. */
KERNEL void canny_gradient_row_body(const uint8_t *restrict above, const uint8_t *restrict row,
                                    const uint8_t *restrict below, int16_t *restrict gx_out,
                                    int16_t *restrict gy_out, int32_t *restrict magnitude,
                                    int width)
{
    canny_gradient_at(above, row, below, 0, 0, width > 1 ? 1 : 0, gx_out, gy_out, magnitude);
    for (int x = 1; x < width - 1; x++) {
        int gx = (above[x + 1] - above[x - 1]) + 2 * (row[x + 1] - row[x - 1]) +
                 (below[x + 1] - below[x - 1]);
        int gy = (below[x - 1] + 2 * below[x] + below[x + 1]) -
                 (above[x - 1] + 2 * above[x] + above[x + 1]);
        gx_out[x] = (int16_t)gx;
        gy_out[x] = (int16_t)gy;
        magnitude[x] = (gx < 0 ? -gx : gx) + (gy < 0 ? -gy : gy);
    }
    if (width > 1)
        canny_gradient_at(above, row, below, width - 2, width - 1, width - 1, gx_out, gy_out,
                          magnitude);
}

/* Non-maximum suppression and the double threshold for one row, written as
 * selects so the loop vectorises. The sector test is cv2's, in integers:
 * with ax = |gx| and ay = |gy| << 15, the gradient is horizontal when
 * ay < ax * tan(22.5°), vertical when ay > ax * tan(67.5°) (= tan 22.5° + 2),
 * diagonal otherwise, towards (-1, -1)/(+1, +1) when gx and gy have the same
 * sign. A maximum must beat the neighbour before it strictly and the one
 * after it at least equally (strictly both on diagonals). */
KERNEL void canny_suppress_row_body(const int32_t *restrict above,
                                    const int32_t *restrict magnitude,
                                    const int32_t *restrict below, const int16_t *restrict gx_row,
                                    const int16_t *restrict gy_row, uint8_t *restrict map,
                                    int width, int32_t low, int32_t high)
{
    for (int x = 0; x < width; x++) {
        int32_t m = magnitude[x];
        int32_t gx = gx_row[x], gy = gy_row[x];
        /* Every neighbour is loaded, whichever is needed: selects between
         * values, unlike selects between loads, need no branch. */
        int32_t left = magnitude[x - 1], right = magnitude[x + 1];
        int32_t up = above[x], down = below[x];
        int32_t up_left = above[x - 1], up_right = above[x + 1];
        int32_t down_left = below[x - 1], down_right = below[x + 1];

        int32_t ax = gx < 0 ? -gx : gx;
        int32_t ay = (gy < 0 ? -gy : gy) << CANNY_SHIFT;
        int32_t tg22x = ax * CANNY_TG22;
        int32_t tg67x = tg22x + (ax << (CANNY_SHIFT + 1));
        int32_t horizontal = ay < tg22x;
        int32_t vertical = ay > tg67x;
        int32_t same_sign = (gx ^ gy) >= 0;
        int32_t diagonal_before = same_sign ? up_left : up_right;
        int32_t diagonal_after = same_sign ? down_right : down_left;
        int32_t before = horizontal ? left : vertical ? up : diagonal_before;
        int32_t after = horizontal ? right : vertical ? down : diagonal_after;
        /* m >= after on the axes, m > after on the diagonals. */
        int32_t after_ok = m > after - (horizontal | vertical);
        int32_t is_maximum = (m > low) & (m > before) & after_ok;
        int32_t strong = m > high;
        /* NOT_EDGE (1) unless a maximum: then MAYBE (0), or SEED (3). */
        map[x] = (uint8_t)(is_maximum ? strong * MAP_SEED : MAP_NOT_EDGE);
    }
}

/* The final pass: edges 255, everything else 0. */
KERNEL void canny_output_row_body(const uint8_t *restrict map_row, uint8_t *restrict out, int width)
{
    for (int x = 0; x < width; x++)
        out[x] = map_row[x] == MAP_EDGE ? 255 : 0;
}

/* One set of functions per target, each the kernel bodies above inlined. */
#define KERNEL_VARIANTS(suffix, attributes)                                                        \
    attributes static void blur_horizontal_##suffix(const uint16_t *taps, int radius,              \
                                                    const uint8_t *ext, uint16_t *out, int width)  \
    {                                                                                              \
        blur_horizontal_body(taps, radius, ext, out, width);                                       \
    }                                                                                              \
    attributes static void blur_vertical_##suffix(                                                 \
        const uint16_t *taps, int radius, const uint16_t *const *top,                              \
        const uint16_t *const *bottom, const uint16_t *middle, uint32_t *acc, uint8_t *out,        \
        int width)                                                                                 \
    {                                                                                              \
        blur_vertical_body(taps, radius, top, bottom, middle, acc, out, width);                    \
    }                                                                                              \
    attributes static void gradient_row_##suffix(const uint8_t *above, const uint8_t *row,         \
                                                 const uint8_t *below, int16_t *gx, int16_t *gy,   \
                                                 int32_t *magnitude, int width)                    \
    {                                                                                              \
        canny_gradient_row_body(above, row, below, gx, gy, magnitude, width);                      \
    }                                                                                              \
    attributes static void suppress_row_##suffix(                                                  \
        const int32_t *above, const int32_t *magnitude, const int32_t *below, const int16_t *gx,   \
        const int16_t *gy, uint8_t *map, int width, int32_t low, int32_t high)                     \
    {                                                                                              \
        canny_suppress_row_body(above, magnitude, below, gx, gy, map, width, low, high);           \
    }                                                                                              \
    attributes static void output_row_##suffix(const uint8_t *map_row, uint8_t *out, int width)    \
    {                                                                                              \
        canny_output_row_body(map_row, out, width);                                                \
    }                                                                                              \
    static const struct row_kernels kernels_##suffix = {                                           \
        blur_horizontal_##suffix, blur_vertical_##suffix, gradient_row_##suffix,                   \
        suppress_row_##suffix,    output_row_##suffix,                                             \
    };

KERNEL_VARIANTS(generic, )
#if IMG_HAVE_AVX2_VARIANTS
KERNEL_VARIANTS(avx2, IMG_TARGET_AVX2)
#endif

static const struct row_kernels *row_kernels_for_this_cpu(void)
{
#if IMG_HAVE_AVX2_VARIANTS
    if (img__cpu_has_avx2())
        return &kernels_avx2;
#endif
    return &kernels_generic;
}

int img_gaussian_blur(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                      int width, int height, double sigma)
{
    return blur_run(row_kernels_for_this_cpu(), src, src_stride, dst, dst_stride, width, height,
                    sigma);
}

int img__gaussian_blur_generic(const uint8_t *src, size_t src_stride, uint8_t *dst,
                               size_t dst_stride, int width, int height, double sigma)
{
    return blur_run(&kernels_generic, src, src_stride, dst, dst_stride, width, height, sigma);
}

/* A growable stack of map positions for the hysteresis walk, bounded: a
 * walk's frontier can hold every weak pixel of the image (8 bytes each), so
 * past `limit` entries a pixel that joins an edge is marked MAP_SEED instead
 * (an edge not yet walked from), and canny_edges scans the map again for such
 * seeds. The set of edges is the same; the memory is at most
 * img__canny_stack_bytes, which the item estimate counts. */
struct canny_stack {
    uint8_t **items;
    size_t count;
    size_t capacity;
    size_t limit;
    bool overflowed;
};

#define CANNY_STACK_MIN_ITEMS ((size_t)4096)

/* A sixteenth of the pixels, so at most half a byte per pixel; each
 * overflow costs one more scan of the map, and a scan can only overflow
 * after walking `limit` pixels, so there are at most 16 + 1 scans. */
static size_t canny_stack_limit(size_t width, size_t height)
{
    size_t limit = width * height / 16;
    return limit < CANNY_STACK_MIN_ITEMS ? CANNY_STACK_MIN_ITEMS : limit;
}

size_t img__canny_stack_bytes(size_t width, size_t height)
{
    return canny_stack_limit(width, height) * sizeof(uint8_t *);
}

static int canny_stack_push(struct canny_stack *stack, uint8_t *item)
{
    if (stack->count == stack->capacity) {
        size_t capacity = stack->capacity ? stack->capacity * 2 : CANNY_STACK_MIN_ITEMS;
        if (capacity > stack->limit)
            capacity = stack->limit;
        uint8_t **grown = realloc(stack->items, capacity * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        stack->items = grown;
        stack->capacity = capacity;
    }
    stack->items[stack->count++] = item;
    return 0;
}

/* Marks as edges every weak pixel 8-connected to `seed` through weak pixels,
 * depth first; the stack holds at most one component's frontier (up to its
 * limit; beyond it, pixels are left as seeds for a later scan). */
static int canny_walk(struct canny_stack *stack, uint8_t *seed, ptrdiff_t map_stride)
{
    const ptrdiff_t neighbours[8] = {
        -map_stride - 1, -map_stride, -map_stride + 1, -1, 1,
        map_stride - 1,  map_stride,  map_stride + 1,
    };
    *seed = MAP_EDGE;
    stack->count = 0;
    if (canny_stack_push(stack, seed) < 0)
        return -ENOMEM;
    while (stack->count > 0) {
        uint8_t *pixel = stack->items[--stack->count];
        for (int i = 0; i < 8; i++) {
            uint8_t *next = pixel + neighbours[i];
            /* MAYBE joins this edge; a SEED met here is walked now rather
             * than later, which gives the same set. */
            if (*next == MAP_MAYBE || *next == MAP_SEED) {
                if (stack->count == stack->limit) {
                    *next = MAP_SEED;
                    stack->overflowed = true;
                    continue;
                }
                *next = MAP_EDGE;
                if (canny_stack_push(stack, next) < 0)
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

/* ---- Canny, split into row bands ---------------------------------------
 *
 * Everything up to the edge map is local to a few rows: map rows [y0, y1)
 * need the gradients of rows y0 - 1 .. y1 (suppression looks one row up and
 * down), which need the blurred rows y0 - 2 .. y1 + 1. A band blurs its own
 * rows into `dst`, where the whole-image run keeps them too, and the up to
 * four rows around it into a private halo, so bands never read each other's
 * rows and can run at the same time on different threads. The hysteresis
 * walk follows edges across the whole map, so it runs once, after every
 * band. A single band of every row is exactly the whole-image run, with no
 * halo and no extra work. */

struct img__canny {
    const struct row_kernels *kernels;
    int width;
    int height;
    double sigma;
    int32_t low; /* cv2.Canny compares int magnitudes with cvFloor(threshold) */
    int32_t high;
    uint8_t *map; /* (width + 2) × (height + 2), with a MAP_NOT_EDGE frame */
    size_t map_stride;
    size_t stack_limit;       /* hysteresis stack entries; 0 = canny_stack_limit's */
    const atomic_int *cancel; /* borrowed; NULL: never cancelled */
};

/* The cancel flag is read once per this many rows of each pass: an atomic
 * load per block, nothing per pixel, and a 100 MP image still stops within
 * a few milliseconds of work. */
#define CANCEL_POLL_ROWS 64

static bool cancelled_at(const struct img__canny *canny, int y)
{
    return y % CANCEL_POLL_ROWS == 0 && canny->cancel != NULL &&
           atomic_load_explicit(canny->cancel, memory_order_relaxed) != 0;
}

static void canny_map_finish(struct img__canny *canny)
{
    free(canny->map);
    memset(canny, 0, sizeof(*canny));
}

static int canny_map_init(struct img__canny *canny, const struct row_kernels *kernels, int width,
                          int height, const struct img_canny_options *opts)
{
    memset(canny, 0, sizeof(*canny));
    if (width <= 0 || height <= 0 || img_canny_options_check(opts, NULL, 0) < 0)
        return -EINVAL;
    canny->kernels = kernels;
    canny->width = width;
    canny->height = height;
    canny->sigma = opts->sigma;
    canny->low = (int32_t)floor(opts->low);
    canny->high = (int32_t)floor(opts->high);
    canny->map_stride = (size_t)width + 2;
    canny->map = malloc(canny->map_stride * ((size_t)height + 2));
    if (canny->map == NULL)
        return -ENOMEM;
    /* The frame's rows; each band writes the frame columns of its rows. */
    memset(canny->map, MAP_NOT_EDGE, canny->map_stride);
    memset(canny->map + canny->map_stride * ((size_t)height + 1), MAP_NOT_EDGE, canny->map_stride);
    return 0;
}

/* Where a band reads the smoothed image: rows [own_first, own_end) from
 * `own` (the source, or the band's blurred rows in dst), the two rows just
 * above and the two just below from `halo` (4 × width bytes). */
struct smooth_rows {
    const uint8_t *own;
    size_t own_stride;
    int own_first;
    int own_end;
    uint8_t *halo;
    int width;
};

static uint8_t *smooth_halo_row(const struct smooth_rows *smooth, int y)
{
    int slot = y < smooth->own_first ? y - smooth->own_first + 2 : y - smooth->own_end + 2;
    return smooth->halo + (size_t)slot * (size_t)smooth->width;
}

static const uint8_t *smooth_row(const struct smooth_rows *smooth, int y)
{
    if (y < smooth->own_first || y >= smooth->own_end)
        return smooth_halo_row(smooth, y);
    return smooth->own + (size_t)y * smooth->own_stride;
}

/* Blurs the rows [y0 - 2, y1 + 2) that exist: those of the band into dst,
 * the others into the halo. */
static int canny_blur_band(const struct img__canny *canny, const uint8_t *src, size_t src_stride,
                           uint8_t *dst, size_t dst_stride, const struct smooth_rows *smooth)
{
    int first = smooth->own_first >= 2 ? smooth->own_first - 2 : 0;
    int end = smooth->own_end + 2 <= canny->height ? smooth->own_end + 2 : canny->height;
    struct blur_state state;
    int ret = blur_state_init(&state, canny->width, canny->height, canny->sigma);
    if (ret < 0)
        return ret;
    state.kernels = canny->kernels;
    for (int y = first; y < end; y++) {
        if (cancelled_at(canny, y - first)) {
            blur_state_finish(&state);
            return -ECANCELED;
        }
        uint8_t *out = y < smooth->own_first || y >= smooth->own_end ? smooth_halo_row(smooth, y)
                                                                     : dst + (size_t)y * dst_stride;
        blur_output_row(&state, src, src_stride, y, out);
    }
    blur_state_finish(&state);
    return 0;
}

/* Edge-map rows [y0, y1): blur, gradients, non-maximum suppression and the
 * double threshold. Writes only those map rows and dst rows [y0, y1). */
static int canny_band(const struct img__canny *canny, const uint8_t *src, size_t src_stride,
                      uint8_t *dst, size_t dst_stride, int y0, int y1)
{
    int width = canny->width, height = canny->height;
    struct canny_rows rows = {0};
    uint8_t *halo = NULL;
    int ret;

    struct smooth_rows smooth = {
        .own = src,
        .own_stride = src_stride,
        .own_first = 0,
        .own_end = height,
        .width = width,
    };
    if (canny->sigma > 0.0) {
        if (y0 > 0 || y1 < height) {
            halo = malloc(4 * (size_t)width);
            if (halo == NULL)
                return -ENOMEM;
        }
        smooth = (struct smooth_rows){
            .own = dst,
            .own_stride = dst_stride,
            .own_first = y0,
            .own_end = y1,
            .halo = halo,
            .width = width,
        };
        ret = canny_blur_band(canny, src, src_stride, dst, dst_stride, &smooth);
        if (ret < 0)
            goto out;
    }

    ret = canny_rows_init(&rows, width);
    if (ret < 0)
        goto out;

    /* Gradients run one row ahead of the suppression, which needs the
     * magnitudes of the rows above and below; a band starts one row early
     * for the row above its first. */
    for (int y = y0 > 0 ? y0 - 1 : 0; y <= y1; y++) {
        if (cancelled_at(canny, y - y0)) {
            ret = -ECANCELED;
            goto out;
        }
        if (y < height) {
            int slot = y % 3;
            int y_above = y > 0 ? y - 1 : 0;
            int y_below = y < height - 1 ? y + 1 : height - 1;
            canny->kernels->gradient_row(smooth_row(&smooth, y_above), smooth_row(&smooth, y),
                                         smooth_row(&smooth, y_below), rows.gx[slot], rows.gy[slot],
                                         rows.magnitude[slot], width);
        }
        int row = y - 1;
        if (row < y0)
            continue;
        int slot = row % 3;
        const int32_t *above = row > 0 ? rows.magnitude[(row + 2) % 3] : rows.zero;
        const int32_t *below = row < height - 1 ? rows.magnitude[(row + 1) % 3] : rows.zero;
        uint8_t *map_row = canny->map + canny->map_stride * ((size_t)row + 1);
        map_row[0] = map_row[width + 1] = MAP_NOT_EDGE;
        canny->kernels->suppress_row(above, rows.magnitude[slot], below, rows.gx[slot],
                                     rows.gy[slot], map_row + 1, width, canny->low, canny->high);
    }
    ret = 0;

out:
    free(rows.block);
    free(halo);
    return ret;
}

/* Hysteresis over the whole map, then edges 255 and the rest 0 into dst. */
static int canny_edges(struct img__canny *canny, uint8_t *dst, size_t dst_stride)
{
    int width = canny->width, height = canny->height;
    size_t map_stride = canny->map_stride;
    struct canny_stack stack = {
        .limit = canny->stack_limit > 0 ? canny->stack_limit
                                        : canny_stack_limit((size_t)width, (size_t)height),
        .overflowed = true,
    };
    int ret = 0;

    /* Again while a walk left seeds behind (possibly in rows already
     * scanned). */
    while (stack.overflowed) {
        stack.overflowed = false;
        for (int y = 0; y < height; y++) {
            if (cancelled_at(canny, y)) {
                ret = -ECANCELED;
                goto out;
            }
            uint8_t *map_row = canny->map + map_stride * ((size_t)y + 1) + 1;
            uint8_t *end = map_row + width;
            uint8_t *seed = memchr(map_row, MAP_SEED, (size_t)width);
            while (seed != NULL) {
                ret = canny_walk(&stack, seed, (ptrdiff_t)map_stride);
                if (ret < 0)
                    goto out;
                seed = memchr(seed + 1, MAP_SEED, (size_t)(end - seed - 1));
            }
        }
    }

    for (int y = 0; y < height; y++)
        canny->kernels->output_row(canny->map + map_stride * ((size_t)y + 1) + 1,
                                   dst + (size_t)y * dst_stride, width);

out:
    free(stack.items);
    return ret;
}

static int canny_run(const struct row_kernels *kernels, const uint8_t *src, size_t src_stride,
                     uint8_t *dst, size_t dst_stride, int width, int height,
                     const struct img_canny_options *opts)
{
    struct img__canny canny;
    int ret = canny_map_init(&canny, kernels, width, height, opts);
    if (ret < 0)
        goto out;
    ret = canny_band(&canny, src, src_stride, dst, dst_stride, 0, height);
    if (ret < 0)
        goto out;
    ret = canny_edges(&canny, dst, dst_stride);
out:
    canny_map_finish(&canny);
    return ret;
}

int img__canny_create(int width, int height, const struct img_canny_options *opts,
                      struct img__canny **out)
{
    *out = NULL;
    struct img__canny *canny = malloc(sizeof(*canny));
    if (canny == NULL)
        return -ENOMEM;
    int ret = canny_map_init(canny, row_kernels_for_this_cpu(), width, height, opts);
    if (ret < 0) {
        canny_map_finish(canny);
        free(canny);
        return ret;
    }
    *out = canny;
    return 0;
}

void img__canny_destroy(struct img__canny *canny)
{
    if (canny == NULL)
        return;
    canny_map_finish(canny);
    free(canny);
}

int img__canny_rows(struct img__canny *canny, const uint8_t *src, size_t src_stride, uint8_t *dst,
                    size_t dst_stride, int y0, int y1)
{
    return canny_band(canny, src, src_stride, dst, dst_stride, y0, y1);
}

void img__canny_set_cancel(struct img__canny *canny, const atomic_int *cancel)
{
    canny->cancel = cancel;
}

void img__canny_set_stack_limit(struct img__canny *canny, size_t limit)
{
    canny->stack_limit = limit;
}

int img__canny_edges(struct img__canny *canny, uint8_t *dst, size_t dst_stride)
{
    return canny_edges(canny, dst, dst_stride);
}

int img_canny(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
              int height, const struct img_canny_options *opts)
{
    return canny_run(row_kernels_for_this_cpu(), src, src_stride, dst, dst_stride, width, height,
                     opts);
}

int img__canny_generic(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                       int width, int height, const struct img_canny_options *opts)
{
    return canny_run(&kernels_generic, src, src_stride, dst, dst_stride, width, height, opts);
}
