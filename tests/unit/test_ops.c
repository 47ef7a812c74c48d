/* Unit tests of imaging/: Sobel, Scharr, Prewitt and the tutorial operator pinned on
 * hand-computed grids (one table), the fast kernels bit for bit against the obvious per-pixel
 * versions, exact rounding, luma. */
#include "imaging_cases.h"

static void run_tight(kernel_fn kernel, const uint8_t *src, int channels, int width, int height,
                      uint8_t *out)
{
    kernel(src, (size_t)width * (size_t)channels, out, (size_t)width, width, height);
}

static void check_pinned(kernel_fn kernel, const uint8_t *src, int channels, int width, int height,
                         const uint8_t *expected)
{
    uint8_t out[65];
    CHECK_LE(width * height, 64);
    memset(out, 0xab, sizeof(out));
    run_tight(kernel, src, channels, width, height, out);
    CHECK_MEM_EQ(out, expected, (size_t)width * (size_t)height);
    /* Nothing written past the image. */
    CHECK_EQ(out[width * height], 0xab);
}

/* One grid computed by hand (the comments beside the data say how): `kernel`
 * on `src` (width x height, `channels` bytes a pixel, tight) gives `expected`.
 * The cases are tables: a new grid is a row. */
struct pinned_case {
    const char *what;
    kernel_fn kernel;
    const uint8_t *src;
    int channels, width, height;
    const uint8_t *expected;
};

static void check_pinned_cases(const struct pinned_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct pinned_case *c = &cases[i];
        uint8_t out[64];
        CHECK_LE(c->width * c->height, 64);
        run_tight(c->kernel, c->src, c->channels, c->width, c->height, out);
        /* Name the case that fails; check_pinned says where and how. */
        if (memcmp(out, c->expected, (size_t)(c->width * c->height)) != 0)
            fprintf(stderr, "pinned grid \"%s\" differs\n", c->what);
        check_pinned(c->kernel, c->src, c->channels, c->width, c->height, c->expected);
    }
}

/* ---- kernels pinned by hand ------------------------------------------- */

static void test_sobel_pinned(void)
{
    /* Grids: one image row per line. */
    // clang-format off
    /* 4x3 with an L-shaped step. Corner (0,0): rows -1,0,1 read 1,0,1 and
     * columns -1,0,1 read 1,0,1, all zero, so 0. (1,1): gx = 0 + 2*50 + 50 =
     * 150, gy = (0 + 100 + 50) - 0 = 150, sqrt(45000) = 212.1. (1,2): gx = 100,
     * gy = 200, sqrt(50000) = 223.6, rounds up to 224. (1,3): column 4 reads 2,
     * so gx = 0, gy = 200. Bottom row: row 3 reads row 1, so gy = 0. */
    static const uint8_t step[12] = {
          0,   0,   0,   0,
          0,   0,  50,  50,
          0,  50,  50,  50,
    };
    static const uint8_t step_sobel[12] = {
          0, 100, 100,   0,
        100, 212, 224, 200,
          0, 200, 100,   0,
    };

    /* One bright pixel (10) at (1,1) of 4x3. With reflect-101 row 1 is also
     * read as rows -1 and 3, and column 1 as column -1, so the windows of
     * columns 0 and 1 see it symmetrically on both sides (0), column 3 does
     * not see it (column 4 reads 2), and column 2 sees it only on its left:
     * row 1 gives gx = -2 * 10, rows 0 and 2 get it from above and below,
     * gx = -(10 + 10). Edge-repeating borders (BORDER_REPLICATE) would light
     * up columns 0-1 and differ in rows 0 and 2. */
    static const uint8_t dot[12] = {
          0,   0,   0,   0,
          0,  10,   0,   0,
          0,   0,   0,   0,
    };
    static const uint8_t dot_sobel[12] = {
          0,   0,  20,   0,
          0,   0,  20,   0,
          0,   0,  20,   0,
    };

    /* One bright pixel in the middle of 5x5: diagonals gx = gy = 10
     * (sqrt(200) = 14.1), straight neighbours 2*10 on one axis. */
    static const uint8_t centre[25] = {
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,  10,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
    };
    static const uint8_t centre_sobel[25] = {
          0,   0,   0,   0,   0,
          0,  14,  20,  14,   0,
          0,  20,   0,  20,   0,
          0,  14,  20,  14,   0,
          0,   0,   0,   0,   0,
    };

    /* One row: the row mirrors onto itself, gy = 0 and gx = 4 * (right -
     * left). x=2: 4 * (30 - 60) = -120; x=3: 4 * 200 = 800, saturates; the
     * ends mirror symmetric, 0. A column is the transpose. */
    static const uint8_t line[5] = {0, 60, 0, 30, 200};
    static const uint8_t line_sobel[5] = {0, 0, 120, 255, 0};

    /* 2x2: every window is symmetric under reflect-101. */
    static const uint8_t square[4] = {10, 50, 90, 130};
    static const uint8_t zeros[4] = {0, 0, 0, 0};

    static const uint8_t single[1] = {77};
    const struct pinned_case cases[] = {
        {"sobel step 4x3", img_sobel, step, 1, 4, 3, step_sobel},
        {"sobel dot 4x3", img_sobel, dot, 1, 4, 3, dot_sobel},
        {"sobel centre 5x5", img_sobel, centre, 1, 5, 5, centre_sobel},
        {"sobel line 5x1", img_sobel, line, 1, 5, 1, line_sobel},
        {"sobel line 1x5", img_sobel, line, 1, 1, 5, line_sobel},
        {"sobel square 2x2", img_sobel, square, 1, 2, 2, zeros},
        {"sobel single 1x1", img_sobel, single, 1, 1, 1, zeros},
    };
    check_pinned_cases(cases, sizeof(cases) / sizeof(cases[0]));
    // clang-format on
}

static void test_scharr_prewitt_pinned(void)
{
    // clang-format off
    /* The 4x3 L-shaped step of test_sobel_pinned, (row, column). Scharr at
     * (1,1): gx = 3*0 + 10*50 + 3*50 = 650 = gy, saturates; (0,1): rows -1
     * and 1 both read row 1, so gy = 0 and gx = 3*50 + 10*0 + 3*50 = 300:
     * 255 where Sobel has 100. Prewitt at (1,1): gx = 0 + 50 + 50 = 100 =
     * gy, sqrt(20000) = 141.4; (1,2): gx = 0 + 50 + 0 = 50, gy = 150,
     * sqrt(25000) = 158.1; (2,1): row 3 reads row 1, gy = 0, gx = 50 + 50 +
     * 50 = 150. */
    static const uint8_t step[12] = {
          0,   0,   0,   0,
          0,   0,  50,  50,
          0,  50,  50,  50,
    };
    static const uint8_t step_scharr[12] = {
          0, 255, 255,   0,
        255, 255, 255, 255,
          0, 255, 255,   0,
    };
    static const uint8_t step_prewitt[12] = {
          0, 100, 100,   0,
        100, 141, 158, 150,
          0, 150, 100,   0,
    };

    /* One bright pixel (4) in the middle of 5x5: Scharr's diagonal taps are
     * 3 (gx = gy = 12, sqrt(288) = 17.0), its straight ones 10 (40);
     * Prewitt's are all 1 (diagonals sqrt(32) = 5.66 -> 6, straight 4). */
    static const uint8_t centre[25] = {
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,   4,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
    };
    static const uint8_t centre_scharr[25] = {
          0,   0,   0,   0,   0,
          0,  17,  40,  17,   0,
          0,  40,   0,  40,   0,
          0,  17,  40,  17,   0,
          0,   0,   0,   0,   0,
    };
    static const uint8_t centre_prewitt[25] = {
          0,   0,   0,   0,   0,
          0,   6,   4,   6,   0,
          0,   4,   0,   4,   0,
          0,   6,   4,   6,   0,
          0,   0,   0,   0,   0,
    };
    const struct pinned_case cases[] = {
        {"scharr step 4x3", img_scharr, step, 1, 4, 3, step_scharr},
        {"prewitt step 4x3", img_prewitt, step, 1, 4, 3, step_prewitt},
        {"scharr centre 5x5", img_scharr, centre, 1, 5, 5, centre_scharr},
        {"prewitt centre 5x5", img_prewitt, centre, 1, 5, 5, centre_prewitt},
    };
    check_pinned_cases(cases, sizeof(cases) / sizeof(cases[0]));
    // clang-format on
}

static void test_tutorial_pinned(void)
{
    /* Grids: one image row per line. */
    // clang-format off
    /* 3x2 RGB:
     *   A(0,0,0)   B(10,10,10)  C(40,0,0)
     *   D(0,0,32)  E(10,10,10)  F(9,0,0)
     * A: right 30, down 32, floor(62/2) = 31 > 30: 255 (just over).
     * B: right 30+10+10 = 50, down 0, mean 25: 0.
     * C: last column, down only: 31+0+0 = 31 > 30: 255.
     * D: last row, right only: 10+10+22 = 42: 255.
     * E: right 1+10+10 = 21: 0.  F: no neighbour: 0. */
    static const uint8_t rgb[18] = {
          0,   0,   0,  10,  10,  10,  40,   0,   0,
          0,   0,  32,  10,  10,  10,   9,   0,   0,
    };
    static const uint8_t expected[6] = {
        255,   0, 255,
        255,   0,   0,
    };

    /* 2x2 on the other side of the thresholds:
     *   A(0,0,0)   B(30,0,0)
     *   C(0,31,0)  D(30,0,31)
     * A: 30 + 31 = 61, floor(61/2) = 30, not > 30: 0.
     * B: down only, 31: 255.  C: right only, 30+31+31 = 92: 255.  D: 0.
     * A single neighbour at exactly 30 is 0: see the 1x3 case below. */
    static const uint8_t rgb2[12] = {
          0,   0,   0,  30,   0,   0,
          0,  31,   0,  30,   0,  31,
    };
    static const uint8_t expected2[4] = {
          0, 255,
        255,   0,
    };

    /* One row (right only) and one column (down only): 30 is not > 30. */
    static const uint8_t row3[9] = {0, 0, 0, 10, 10, 10, 20, 20, 21};
    static const uint8_t row3_expected[3] = {0, 255, 0};

    static const uint8_t single[3] = {255, 255, 255};
    static const uint8_t zero[1] = {0};
    const struct pinned_case cases[] = {
        {"tutorial rgb 3x2", img_tutorial, rgb, 3, 3, 2, expected},
        {"tutorial rgb2 2x2", img_tutorial, rgb2, 3, 2, 2, expected2},
        {"tutorial row3 3x1", img_tutorial, row3, 3, 3, 1, row3_expected},
        {"tutorial row3 1x3", img_tutorial, row3, 3, 1, 3, row3_expected},
        {"tutorial single 1x1", img_tutorial, single, 3, 1, 1, zero},
    };
    check_pinned_cases(cases, sizeof(cases) / sizeof(cases[0]));
    // clang-format on
}

/* ---- fast kernels against the references ------------------------------ */

static void compare_with_reference(kernel_fn fast, kernel_fn reference, int channels, int width,
                                   int height, size_t src_padding, size_t dst_padding)
{
    struct test_image src = image_new(width, height, channels, src_padding);
    struct test_image got = image_new(width, height, 1, dst_padding);
    struct test_image want = image_new(width, height, 1, dst_padding);
    /* Same padding bytes in both outputs, so the whole blocks must match:
     * the padding proves nothing was written beyond each row. */
    memcpy(want.data, got.data, got.stride * (size_t)height);

    fast(src.data, src.stride, got.data, got.stride, width, height);
    reference(src.data, src.stride, want.data, want.stride, width, height);
    for (int y = 0; y < height; y++) {
        const uint8_t *got_row = got.data + (size_t)y * got.stride;
        const uint8_t *want_row = want.data + (size_t)y * want.stride;
        if (memcmp(got_row, want_row, got.stride) != 0) {
            fprintf(stderr, "%dx%d (channels %d, padding %zu/%zu): row %d differs\n", width, height,
                    channels, src_padding, dst_padding, y);
            CHECK_MEM_EQ(got_row, want_row, got.stride);
        }
    }
    image_free(&src);
    image_free(&got);
    image_free(&want);
}

static void test_kernels_match_reference(void)
{
    for (size_t i = 0; i < ODD_SIZES_COUNT; i++) {
        int width = odd_sizes[i][0], height = odd_sizes[i][1];
        for (int round_index = 0; round_index < 3; round_index++) {
            /* First round tight, then random strides wider than a row. */
            size_t src_padding = round_index == 0 ? 0 : 1 + rng_next() % 37;
            size_t dst_padding = round_index == 0 ? 0 : 1 + rng_next() % 37;
            compare_with_reference(img_sobel, reference_sobel, 1, width, height, src_padding,
                                   dst_padding);
            compare_with_reference(img_scharr, reference_scharr, 1, width, height, src_padding,
                                   dst_padding);
            compare_with_reference(img_prewitt, reference_prewitt, 1, width, height, src_padding,
                                   dst_padding);
            /* The portable variants too, whatever this CPU dispatches to. */
            compare_with_reference(img__sobel_generic, reference_sobel, 1, width, height,
                                   src_padding, dst_padding);
            compare_with_reference(img__scharr_generic, reference_scharr, 1, width, height,
                                   src_padding, dst_padding);
            compare_with_reference(img__prewitt_generic, reference_prewitt, 1, width, height,
                                   src_padding, dst_padding);
            compare_with_reference(img_tutorial, reference_tutorial, 3, width, height, src_padding,
                                   dst_padding);
        }
    }

    /* Random bytes rarely sit near the tutorial's threshold; an image of
     * small steps does, so both sides of "> 30" are exercised. */
    struct test_image src = image_new(97, 61, 3, 5);
    for (size_t i = 0; i < src.stride * (size_t)src.height; i++)
        src.data[i] = (uint8_t)(100 + rng_next() % 24);
    struct test_image got = image_new(97, 61, 1, 3);
    struct test_image want = image_new(97, 61, 1, 3);
    memcpy(want.data, got.data, got.stride * (size_t)got.height);
    img_tutorial(src.data, src.stride, got.data, got.stride, 97, 61);
    reference_tutorial(src.data, src.stride, want.data, want.stride, 97, 61);
    CHECK_MEM_EQ(got.data, want.data, got.stride * (size_t)got.height);
    int lit = 0;
    for (int i = 0; i < 97 * 61; i++)
        lit += got.data[(size_t)(i / 97) * got.stride + (size_t)(i % 97)] == 255;
    CHECK_GT(lit, 0);
    CHECK_LT(lit, 97 * 61);
    image_free(&src);
    image_free(&got);
    image_free(&want);

    /* Many small random 3x3 images: every pixel is a border pixel, and the
     * centre sees a fresh (gx, gy) each time. */
    uint8_t window[9] = {0}, out[9], want9[9];
    for (int t = 0; t < 2000; t++) {
        fill_random(window, sizeof(window));
        img_sobel(window, 3, out, 3, 3, 3);
        reference_sobel(window, 3, want9, 3, 3, 3);
        CHECK_MEM_EQ(out, want9, sizeof(out));
        img_scharr(window, 3, out, 3, 3, 3);
        reference_scharr(window, 3, want9, 3, 3, 3);
        CHECK_MEM_EQ(out, want9, sizeof(out));
        img_prewitt(window, 3, out, 3, 3, 3);
        reference_prewitt(window, 3, want9, 3, 3, 3);
        CHECK_MEM_EQ(out, want9, sizeof(out));
    }
}

/* The rounding argument in ops.c, checked for every capped energy. */
static void test_sobel_rounding_is_exact(void)
{
    for (int energy = 0; energy <= 65280; energy++) {
        int fast = (int)(sqrtf((float)energy) + 0.5f);
        int exact = (int)round(sqrt((double)energy));
        if (fast != exact)
            CHECK_EQ(fast, exact);
    }
    CHECK_EQ((int)round(sqrt(65280.0)), 255);
    CHECK_EQ((int)round(sqrt(65281.0)), 256);
}

/* ---- luma ------------------------------------------------------------- */

static void test_luma(void)
{
    /* Gray stays gray, for every value: the weights sum to 2^14. */
    uint8_t gray_rgb[256 * 3], luma[256];
    for (int v = 0; v < 256; v++)
        gray_rgb[3 * v] = gray_rgb[3 * v + 1] = gray_rgb[3 * v + 2] = (uint8_t)v;
    img_rgb_to_luma(gray_rgb, sizeof(gray_rgb), luma, sizeof(luma), 256, 1);
    for (int v = 0; v < 256; v++)
        CHECK_EQ(luma[v], v);

    /* What cv2.cvtColor(COLOR_RGB2GRAY) gives for the primaries. */
    static const uint8_t primaries[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    uint8_t primaries_luma[3];
    img_rgb_to_luma(primaries, 9, primaries_luma, 3, 3, 1);
    CHECK_EQ(primaries_luma[0], 76);
    CHECK_EQ(primaries_luma[1], 150);
    CHECK_EQ(primaries_luma[2], 29);

    /* The formula on random pixels, with strides wider than the rows. */
    struct test_image rgb = image_new(53, 17, 3, 7);
    struct test_image out = image_new(53, 17, 1, 5);
    uint8_t *before = malloc(out.stride * 17);
    CHECK(before != NULL);
    memcpy(before, out.data, out.stride * 17);
    img_rgb_to_luma(rgb.data, rgb.stride, out.data, out.stride, 53, 17);
    for (int y = 0; y < 17; y++) {
        for (int x = 0; x < 53; x++) {
            const uint8_t *p = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
            CHECK_EQ(out.data[(size_t)y * out.stride + (size_t)x],
                     reference_luma(p[0], p[1], p[2]));
        }
        /* Padding untouched. */
        CHECK_MEM_EQ(out.data + (size_t)y * out.stride + 53, before + (size_t)y * out.stride + 53,
                     out.stride - 53);
    }
    free(before);
    image_free(&rgb);
    image_free(&out);
}

int main(void)
{
    test_sobel_pinned();
    test_scharr_prewitt_pinned();
    test_tutorial_pinned();
    test_kernels_match_reference();
    test_sobel_rounding_is_exact();
    test_luma();
    printf("imaging ops: all tests passed\n");
    return 0;
}
