/* Unit tests of imaging/: The Gaussian blur and Canny: taps, blur against the obvious version,
 * Canny pinned on grids cv2.Canny gives (one table), against the reference on random images and
 * blocks, its options. */
#include "imaging_cases.h"

/* ---- Gaussian blur and Canny, the obvious way ------------------------- */

/* OpenCV's reflect-101 for any index (a 9-tap kernel on a 2-pixel image
 * reflects more than once), written as the definition: the image repeats
 * with period 2 * (size - 1), mirrored. */
static int reflect101_any(int index, int size)
{
    if (size == 1)
        return 0;
    int period = 2 * (size - 1);
    int folded = ((index % period) + period) % period;
    return folded < size ? folded : period - folded;
}

/* The 8.8 fixed-point taps as OpenCV builds them: normalised Gaussian
 * samples, rounded one by one from the outside in with the rounding error
 * carried along, the centre taking the rest of 256. Returns the tap count. */
static int reference_gauss_taps(double sigma, int taps[128])
{
    int size = (int)nearbyint(sigma * 6 + 1) | 1;
    int half = size / 2;
    double weights[128], total = 0;
    for (int i = 0; i < size; i++) {
        double offset = i - half;
        weights[i] = exp(-offset * offset / (2 * sigma * sigma));
        total += weights[i];
    }
    double carried = 0;
    int fixed_total = 0;
    for (int i = 0; i < half; i++) {
        double wanted = weights[i] / total * 256 + carried;
        taps[i] = taps[size - 1 - i] = (int)nearbyint(wanted);
        carried = wanted - taps[i];
        fixed_total += 2 * taps[i];
    }
    taps[half] = 256 - fixed_total;
    return size;
}

/* The blur as one 2-D sum per pixel (the separable passes in canny.c must
 * give this exact integer). */
static void reference_blur(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                           int width, int height, double sigma)
{
    int taps[128];
    int size = reference_gauss_taps(sigma, taps);
    int half = size / 2;
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            uint64_t sum = 0;
            for (int i = 0; i < size; i++)
                for (int j = 0; j < size; j++)
                    sum += (uint64_t)taps[i] * (uint64_t)taps[j] *
                           src[(size_t)reflect101_any(y + i - half, height) * src_stride +
                               (size_t)reflect101_any(x + j - half, width)];
            dst[(size_t)y * dst_stride + (size_t)x] = (uint8_t)((sum + 32768) >> 16);
        }
    }
}

static int clamp_index(int index, int size)
{
    return index < 0 ? 0 : index >= size ? size - 1 : index;
}

/* Canny as cv2.Canny (OpenCV 4, aperture 3, L1) states it: Sobel with
 * replicated borders, L1 magnitude, the sector test with cv2's constants
 * (in 64-bit), the tie rule, zero magnitude outside, then hysteresis by
 * sweeping the image until nothing changes (no stack). */
static void reference_canny(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                            int width, int height, const struct img_canny_options *opts)
{
    size_t count = (size_t)width * (size_t)height;
    uint8_t *smooth = malloc(count);
    int *gx = malloc(count * sizeof(int));
    int *gy = malloc(count * sizeof(int));
    int *mag = malloc(count * sizeof(int));
    uint8_t *state = malloc(count); /* 0 not edge, 1 weak, 2 edge */
    CHECK(smooth != NULL && gx != NULL && gy != NULL && mag != NULL && state != NULL);

    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            smooth[(size_t)y * width + x] = src[(size_t)y * src_stride + x];
    if (opts->sigma > 0) {
        uint8_t *copy = malloc(count);
        CHECK(copy != NULL);
        memcpy(copy, smooth, count);
        reference_blur(copy, (size_t)width, smooth, (size_t)width, width, height, opts->sigma);
        free(copy);
    }
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int sx = 0, sy = 0;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int sample = smooth[(size_t)clamp_index(y + dy, height) * width +
                                        clamp_index(x + dx, width)];
                    sx += dx * (dy == 0 ? 2 : 1) * sample;
                    sy += dy * (dx == 0 ? 2 : 1) * sample;
                }
            }
            size_t i = (size_t)y * width + x;
            gx[i] = sx;
            gy[i] = sy;
            mag[i] = abs(sx) + abs(sy);
        }
    }
#define MAG_AT(yy, xx)                                                                             \
    (((yy) < 0 || (yy) >= height || (xx) < 0 || (xx) >= width) ? 0 : mag[(size_t)(yy)*width + (xx)])
    int low = (int)floor(opts->low), high = (int)floor(opts->high);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            size_t i = (size_t)y * width + x;
            int m = mag[i];
            state[i] = 0;
            if (m <= low)
                continue;
            /* cv2: |gy| * 2^15 against |gx| * 13573 (tan 22.5° * 2^15,
             * rounded) and against that + |gx| * 2^16 (tan 67.5° = tan 22.5°
             * + 2). In 64-bit to keep the reference obviously exact. */
            int64_t ay = (int64_t)abs(gy[i]) * 32768, tg22 = (int64_t)abs(gx[i]) * 13573;
            int64_t tg67 = tg22 + (int64_t)abs(gx[i]) * 65536;
            bool keep;
            if (ay < tg22) {
                keep = m > MAG_AT(y, x - 1) && m >= MAG_AT(y, x + 1);
            } else if (ay > tg67) {
                keep = m > MAG_AT(y - 1, x) && m >= MAG_AT(y + 1, x);
            } else {
                int s = (gx[i] < 0) != (gy[i] < 0) ? -1 : 1;
                keep = m > MAG_AT(y - 1, x - s) && m > MAG_AT(y + 1, x + s);
            }
            if (keep)
                state[i] = m > high ? 2 : 1;
        }
    }
#undef MAG_AT
    for (bool changed = true; changed;) {
        changed = false;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                size_t i = (size_t)y * width + x;
                if (state[i] != 1)
                    continue;
                for (int dy = -1; dy <= 1 && state[i] == 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int ny = y + dy, nx = x + dx;
                        if (ny >= 0 && ny < height && nx >= 0 && nx < width &&
                            state[(size_t)ny * width + nx] == 2) {
                            state[i] = 2;
                            changed = true;
                            break;
                        }
                    }
            }
        }
    }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            dst[(size_t)y * dst_stride + x] = state[(size_t)y * width + x] == 2 ? 255 : 0;
    free(smooth);
    free(gx);
    free(gy);
    free(mag);
    free(state);
}

/* ---- Gaussian blur ----------------------------------------------------- */

static void check_taps(double sigma, const int *expected, int count)
{
    int taps[128];
    CHECK_EQ(reference_gauss_taps(sigma, taps), count);
    for (int i = 0; i < count; i++)
        CHECK_EQ(taps[i], expected[i]);
}

static void compare_blur(int width, int height, double sigma, size_t src_padding,
                         size_t dst_padding)
{
    struct test_image src = image_new(width, height, 1, src_padding);
    struct test_image got = image_new(width, height, 1, dst_padding);
    struct test_image want = image_new(width, height, 1, dst_padding);
    memcpy(want.data, got.data, got.stride * (size_t)height);
    reference_blur(src.data, src.stride, want.data, want.stride, width, height, sigma);
    for (int variant = 0; variant < 2; variant++) {
        int (*blur)(const uint8_t *, size_t, uint8_t *, size_t, int, int, double) =
            variant == 0 ? img_gaussian_blur : img__gaussian_blur_generic;
        CHECK_EQ(blur(src.data, src.stride, got.data, got.stride, width, height, sigma), 0);
        if (memcmp(got.data, want.data, got.stride * (size_t)height) != 0) {
            fprintf(stderr, "blur %dx%d sigma %g differs (%s)\n", width, height, sigma,
                    variant == 0 ? "dispatched" : "portable");
            CHECK_MEM_EQ(got.data, want.data, got.stride * (size_t)height);
        }
    }
    image_free(&src);
    image_free(&got);
    image_free(&want);
}

static void test_blur(void)
{
    /* The taps cv2 4.6 uses (cv2.GaussianBlur(img, (0, 0), sigma) of an
     * impulse shows them; they are not the plainly rounded Gaussian, which
     * for 1.4 would sum to 255). */
    static const int taps_14[9] = {1, 8, 26, 56, 74, 56, 26, 8, 1};
    static const int taps_05[5] = {0, 27, 202, 27, 0};
    static const int taps_20[13] = {1, 2, 7, 16, 31, 45, 52, 45, 31, 16, 7, 2, 1};
    check_taps(1.4, taps_14, 9);
    check_taps(0.5, taps_05, 5);
    check_taps(2.0, taps_20, 13);

    /* An impulse: out = (255 * t_i * t_j + 2^15) >> 16 around it, so the fast
     * blur is pinned to cv2's taps directly. Centre: 255*74*74 = 1396380,
     * 21.3 -> 21. */
    uint8_t impulse[11 * 11] = {0}, out[11 * 11];
    impulse[5 * 11 + 5] = 255;
    CHECK_EQ(img_gaussian_blur(impulse, 11, out, 11, 11, 11, 1.4), 0);
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 11; x++) {
            int dy = y - 5, dx = x - 5;
            int expected = 0;
            if (abs(dy) <= 4 && abs(dx) <= 4)
                expected = (255 * taps_14[dy + 4] * taps_14[dx + 4] + 32768) >> 16;
            CHECK_EQ(out[y * 11 + x], expected);
        }
    CHECK_EQ(out[5 * 11 + 5], 21);

    /* A flat image stays flat (the taps sum to exactly 256), also when the
     * kernel is far wider than the image. */
    uint8_t flat[6] = {77, 77, 77, 77, 77, 77}, flat_out[6];
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, 7.0), 0);
    CHECK_MEM_EQ(flat_out, flat, 6);

    static const int sizes[][2] = {
        {1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 3}, {17, 13}, {64, 1}, {1, 64}, {2, 5}, {5, 2}, {33, 2},
    };
    /* Radii 1, 2, 3, 4 (the unrolled vertical passes), 8, 18 and 60. */
    static const double sigmas[] = {0.3, 0.5, 0.8, 1.4, 2.5, 6.0, 20.0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (size_t j = 0; j < sizeof(sigmas) / sizeof(sigmas[0]); j++)
            for (int round_index = 0; round_index < 2; round_index++)
                compare_blur(sizes[i][0], sizes[i][1], sigmas[j],
                             round_index ? 1 + rng_next() % 37 : 0,
                             round_index ? 1 + rng_next() % 37 : 0);
    compare_blur(301, 199, 1.4, 3, 5);
    compare_blur(301, 199, 2.5, 0, 0);

    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, 0.0), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, -1.0), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, NAN), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, 20.5), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 0, 2, 1.0), -EINVAL);
}

/* ---- Canny ------------------------------------------------------------ */

/* Grids as strings, one row per line: '#' is an edge (255), '.' is not. One
 * case: img_canny with these thresholds on `src` gives `expected` (cv2.Canny's
 * grid on the same bytes where the comment beside the data says so). The cases
 * are a table: a new grid is a row. */
struct canny_case {
    const char *what;
    const uint8_t *src;
    int width, height;
    double sigma, low, high;
    const char *expected;
};

static void check_canny_grid(const struct canny_case *c)
{
    int width = c->width, height = c->height;
    struct img_canny_options opts = {c->sigma, c->low, c->high};
    const char *expected = c->expected;
    uint8_t out[256], want[256];
    CHECK_LE(width * height, 255);
    memset(out, 0xab, sizeof(out));
    CHECK_EQ(img_canny(c->src, (size_t)width, out, (size_t)width, width, height, &opts), 0);
    for (int i = 0; i < width * height; i++) {
        while (*expected == '\n')
            expected++;
        want[i] = *expected++ == '#' ? 255 : 0;
    }
    if (memcmp(out, want, (size_t)(width * height)) != 0) {
        fprintf(stderr, "canny \"%s\" (sigma %g, low %g, high %g):\n", c->what, c->sigma, c->low,
                c->high);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++)
                fputc(out[y * width + x] ? '#' : '.', stderr);
            fputc('\n', stderr);
        }
        CHECK_MEM_EQ(out, want, (size_t)(width * height));
    }
    CHECK_EQ(out[width * height], 0xab);
}

static void check_canny_cases(const struct canny_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        check_canny_grid(&cases[i]);
}

static void test_canny_pinned(void)
{
    // clang-format off
    /* A vertical step 0 -> 100 between columns 3 and 4, no blur: columns 3
     * and 4 both have gx = 4 * 100 = 400 (gy = 0, so the horizontal sector).
     * cv2's tie rule keeps a maximum that beats its left neighbour strictly
     * and its right one at least equally: column 3 (0 < 400, 400 >= 400) but
     * not column 4 (400 is not > 400). */
    static const uint8_t step[4 * 8] = {
        0, 0, 0, 0, 100, 100, 100, 100,
        0, 0, 0, 0, 100, 100, 100, 100,
        0, 0, 0, 0, 100, 100, 100, 100,
        0, 0, 0, 0, 100, 100, 100, 100,
    };

    /* Hysteresis. A bar (columns 3-5) whose top two rows step by 100 (L1
     * magnitude 400, strong for high 300) and the rest by 50 (200, weak),
     * and far right an isolated step of 50 (weak). The bar's weak sides are
     * kept through their strong top; the isolated one is not. Expected grids
     * are cv2.Canny's (OpenCV 4.6) on the same bytes. */
    static const uint8_t bar[8 * 14] = {
        0, 0, 0, 100, 100, 100, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0, 100, 100, 100, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
    };
    /* 200 is not > low 200: the weak sides are gone, only the strong top
     * and what exceeds 200 near it remain. Thresholds are floored as cv2
     * does, so 200.9 and 300.5 give the same. */
    static const char *top_only = "..#..#........\n"
                                  "...#.#........\n"
                                  "...#.#........\n"
                                  "..............\n"
                                  "..............\n"
                                  "..............\n"
                                  "..............\n"
                                  "..............\n";

    /* The sector boundary at 22.5°, to cv2's constant: at the centre, gx =
     * 2 * 169 = 338 and gy = 2 * 70 = 140, so |gy| * 2^15 = 4587520 lies
     * between 338 * 13572 and 338 * 13573: diagonal by cv2's tan(22.5°) =
     * 13573 / 2^15, where it beats its diagonal neighbours; horizontal by
     * 13572 / 2^15, where it does not beat its right one. The grid is
     * cv2.Canny(img, 0, 0)'s. */
    static const uint8_t boundary[25] = {
        171, 206,   5, 206, 120,
        131,   0,   0,   0,  13,
         71,   0, 146, 169,  33,
         11,   0,  70,   0, 255,
         48, 167, 192,  60,  72,
    };

    /* Flat images and single pixels have no gradient at all. */
    static const uint8_t flat[9] = {9, 9, 9, 9, 9, 9, 9, 9, 9};
    const struct canny_case cases[] = {
        {"step 8x4, sigma 0, thresholds 100/300", step, 8, 4, 0, 100, 300,
         "...#....\n"
         "...#....\n"
         "...#....\n"
         "...#....\n"},
        /* Magnitude 400 is not > 400: no strong pixel, nothing. */
        {"step 8x4, sigma 0, thresholds 100/400", step, 8, 4, 0, 100, 400,
         "................................"},
        {"bar 14x8, sigma 0, thresholds 100/300", bar, 14, 8, 0, 100, 300,
         "..#..#........\n"
         "...###........\n"
         "...#.#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"},
        /* 200 > 199: the isolated step is strong now. */
        {"bar 14x8, sigma 0, thresholds 100/199", bar, 14, 8, 0, 100, 199,
         "..#..#...#....\n"
         "...###...#....\n"
         "...#.#...#....\n"
         "..#..#...#....\n"
         "..#..#...#....\n"
         "..#..#...#....\n"
         "..#..#...#....\n"
         "..#..#...#....\n"},
        /* 200 is not > 200: weak again (the high threshold is strict too). */
        {"bar 14x8, sigma 0, thresholds 100/200", bar, 14, 8, 0, 100, 200,
         "..#..#........\n"
         "...###........\n"
         "...#.#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"},
        {"bar 14x8, sigma 0, thresholds 200/300", bar, 14, 8, 0, 200, 300,
         top_only},
        {"bar 14x8, sigma 0, thresholds 200.9/300.5", bar, 14, 8, 0, 200.9, 300.5,
         top_only},
        /* Floored, not rounded: 199.6 is 199, and 200 > 199 keeps the weak
         * sides as low 100 did. */
        {"bar 14x8, sigma 0, thresholds 199.6/300", bar, 14, 8, 0, 199.6, 300,
         "..#..#........\n"
         "...###........\n"
         "...#.#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"
         "..#..#........\n"},
        {"boundary 5x5, sigma 0, thresholds 0/0", boundary, 5, 5, 0, 0, 0,
         ".####\n"
         "##...\n"
         "..###\n"
         "....#\n"
         "###.#\n"},
        {"flat 3x3, sigma 1.4, thresholds 0/0", flat, 3, 3, 1.4, 0, 0,
         "........."},
        {"flat 1x1, sigma 0, thresholds 0/0", flat, 1, 1, 0, 0, 0,
         "."},
    };
    check_canny_cases(cases, sizeof(cases) / sizeof(cases[0]));
    // clang-format on
}

/* Random bytes give edges everywhere and no long chains; blocks give real
 * outlines, long weak chains and ties. */
static void fill_blocks(struct test_image *image)
{
    uint8_t background = (uint8_t)rng_next();
    for (int y = 0; y < image->height; y++)
        memset(image->data + (size_t)y * image->stride, background, (size_t)image->width);
    int blocks = 1 + (image->width * image->height) / 400;
    for (int b = 0; b < blocks; b++) {
        int x0 = (int)(rng_next() % (unsigned)image->width);
        int y0 = (int)(rng_next() % (unsigned)image->height);
        int x1 = x0 + 1 + (int)(rng_next() % (unsigned)(image->width - x0));
        int y1 = y0 + 1 + (int)(rng_next() % (unsigned)(image->height - y0));
        uint8_t level = (uint8_t)rng_next();
        for (int y = y0; y < y1; y++)
            memset(image->data + (size_t)y * image->stride + x0, level, (size_t)(x1 - x0));
    }
    for (int y = 0; y < image->height; y++)
        for (int x = 0; x < image->width; x++) {
            uint8_t *pixel = image->data + (size_t)y * image->stride + x;
            int noisy = *pixel + (int)(rng_next() % 7) - 3;
            *pixel = (uint8_t)(noisy < 0 ? 0 : noisy > 255 ? 255 : noisy);
        }
}

static void compare_canny(int width, int height, const struct img_canny_options *opts, bool blocks,
                          size_t src_padding, size_t dst_padding)
{
    struct test_image src = image_new(width, height, 1, src_padding);
    if (blocks)
        fill_blocks(&src);
    struct test_image got = image_new(width, height, 1, dst_padding);
    struct test_image want = image_new(width, height, 1, dst_padding);
    memcpy(want.data, got.data, got.stride * (size_t)height);
    reference_canny(src.data, src.stride, want.data, want.stride, width, height, opts);
    for (int variant = 0; variant < 2; variant++) {
        int (*canny)(const uint8_t *, size_t, uint8_t *, size_t, int, int,
                     const struct img_canny_options *) =
            variant == 0 ? img_canny : img__canny_generic;
        CHECK_EQ(canny(src.data, src.stride, got.data, got.stride, width, height, opts), 0);
        if (memcmp(got.data, want.data, got.stride * (size_t)height) != 0) {
            fprintf(stderr, "canny %dx%d (%s, sigma %g, low %g, high %g) differs (%s)\n", width,
                    height, blocks ? "blocks" : "noise", opts->sigma, opts->low, opts->high,
                    variant == 0 ? "dispatched" : "portable");
            CHECK_MEM_EQ(got.data, want.data, got.stride * (size_t)height);
        }
    }
    image_free(&src);
    image_free(&got);
    image_free(&want);
}

static void test_canny_matches_reference(void)
{
    static const struct img_canny_options options[] = {
        {IMG_CANNY_SIGMA_DEFAULT, IMG_CANNY_LOW_DEFAULT, IMG_CANNY_HIGH_DEFAULT},
        {0, 100, 300},     /* no blur: random bytes give big gradients */
        {0.6, 0, 0},       /* every local maximum is an edge */
        {2.5, 20.5, 20.9}, /* floored to 20 and 20 */
        {7.0, 10, 50},     /* 43 taps: wider than most of these images */
    };
    for (size_t i = 0; i < ODD_SIZES_COUNT; i++) {
        for (size_t j = 0; j < sizeof(options) / sizeof(options[0]); j++) {
            int width = odd_sizes[i][0], height = odd_sizes[i][1];
            if (width * height > 10000 && options[j].sigma > 3)
                continue; /* the 2-D reference blur is slow; covered by test_blur */
            for (int kind = 0; kind < 2; kind++)
                compare_canny(width, height, &options[j], kind == 1, kind ? 1 + rng_next() % 37 : 0,
                              kind ? 1 + rng_next() % 37 : 0);
        }
    }

    /* The blocks image at the defaults has real, but not ubiquitous, edges:
     * the comparison above was not between two blank maps. */
    struct test_image src = image_new(301, 199, 1, 0);
    fill_blocks(&src);
    struct img_buf in = {src.data, src.stride, 301, 199, 1}, out;
    CHECK_EQ(img_apply(IMG_OP_CANNY, &in, &out), 0);
    size_t edges = 0;
    for (size_t k = 0; k < 301 * 199; k++)
        edges += out.data[k] == 255;
    CHECK_GT(edges, 500);
    CHECK_LT(edges, 301 * 199 / 4);
    img_buf_finish(&out);
    image_free(&src);
}

static void test_canny_options(void)
{
    struct img_canny_options opts;
    img_canny_options_init(&opts);
    CHECK(opts.sigma == IMG_CANNY_SIGMA_DEFAULT);
    CHECK(opts.low == IMG_CANNY_LOW_DEFAULT);
    CHECK(opts.high == IMG_CANNY_HIGH_DEFAULT);
    char err[128];
    CHECK_EQ(img_canny_options_check(&opts, err, sizeof(err)), 0);

    struct {
        struct img_canny_options opts;
        const char *message;
    } bad[] = {
        {{-0.5, 40, 80}, "--sigma -0.5 is not between 0 and 20"},
        {{20.5, 40, 80}, "--sigma 20.5 is not between 0 and 20"},
        {{NAN, 40, 80}, "--sigma nan is not between 0 and 20"},
        {{1.4, -1, 80}, "--low -1 is not between 0 and 2040"},
        {{1.4, 40, 3000}, "--high 3000 is not between 0 and 2040"},
        {{1.4, 90, 80}, "--low 90 is above --high 80"},
    };
    uint8_t pixel = 0, edge;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(img_canny_options_check(&bad[i].opts, err, sizeof(err)), -EINVAL);
        CHECK_STR_EQ(err, bad[i].message);
        CHECK_EQ(img_canny(&pixel, 1, &edge, 1, 1, 1, &bad[i].opts), -EINVAL);
    }
    CHECK_EQ(img_canny_options_check(&bad[0].opts, NULL, 0), -EINVAL);

    /* img_apply_with: NULL is the defaults, options are passed through, bad
     * ones refused with no buffer left. */
    struct test_image gray = image_new(40, 30, 1, 3);
    fill_blocks(&gray);
    struct img_buf src = {gray.data, gray.stride, 40, 30, 1}, dst;
    uint8_t want[40 * 30];
    img_canny_options_init(&opts);
    reference_canny(gray.data, gray.stride, want, 40, 40, 30, &opts);
    CHECK_EQ(img_apply_with(IMG_OP_CANNY, NULL, &src, &dst), 0);
    for (int y = 0; y < 30; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 40 * y, 40);
    img_buf_finish(&dst);
    opts = (struct img_canny_options){0, 5, 10};
    reference_canny(gray.data, gray.stride, want, 40, 40, 30, &opts);
    CHECK_EQ(img_apply_with(IMG_OP_CANNY, &opts, &src, &dst), 0);
    for (int y = 0; y < 30; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 40 * y, 40);
    img_buf_finish(&dst);
    opts.low = 20;
    CHECK_EQ(img_apply_with(IMG_OP_CANNY, &opts, &src, &dst), -EINVAL);
    CHECK(dst.data == NULL);
    /* The other operators ignore Canny's options, even bad ones. */
    CHECK_EQ(img_apply_with(IMG_OP_SOBEL, &opts, &src, &dst), 0);
    img_buf_finish(&dst);
    image_free(&gray);
}

int main(void)
{
    test_blur();
    test_canny_pinned();
    test_canny_matches_reference();
    test_canny_options();
    printf("imaging canny: all tests passed\n");
    return 0;
}
