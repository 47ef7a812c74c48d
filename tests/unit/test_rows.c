/* Unit tests of imaging/rows.c: a JPEG decoded as rows the fused pass reads
 * (img_decode_rows_create, img_png_bands_create_fused_rows) gives the bytes
 * of the whole image's fused pass, every width 1..70 and heights that are
 * and are not multiples of 8 and 16, 4:2:0, 4:2:2, 4:4:4 and gray, at every
 * level the tests name, with maps the two-level probe reads one row of,
 * many rows of and all of; a file cut or corrupt mid-image, or without its
 * end-of-image marker, fails with img_decode_limited's kind and message;
 * the cancel flag stops it; files that cannot give rows early (progressive,
 * turned, not JPEG) are refused with -ENOTSUP. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imaging.h"
#include "make_images.h"

enum pattern {
    PATTERN_NOISE = 0, /* a photo's map: the probe reads one row */
    PATTERN_FLAT,      /* one grey: a map of zeros, probed whole */
    PATTERN_FLAT_TOP,  /* grey, then noise: the probe reads many rows */
};

struct pattern_rows {
    enum pattern pattern;
    int flat_rows;
};

static uint8_t pattern_sample(int x, int y, int c, const void *context)
{
    const struct pattern_rows *rows = context;
    bool flat =
        rows->pattern == PATTERN_FLAT || (rows->pattern == PATTERN_FLAT_TOP && y < rows->flat_rows);
    return flat ? (uint8_t)(90 + 20 * c) : test_sample(x, y, c, 7);
}

/* A JPEG of `components` 1 or 3 with luma sampled h×v (2×2 4:2:0, 2×1
 * 4:2:2, 1×1 4:4:4), baseline unless `progressive`. */
static struct mem_image make_sampled_jpeg(int width, int height, int components, int h, int v,
                                          enum pattern pattern, int flat_rows, bool progressive)
{
    struct jpeg_make spec = {width, height, components, progressive, false, NULL, 0, 90};
    struct pattern_rows rows = {pattern, flat_rows};
    return make_jpeg_sampled(&spec, h, v, pattern_sample, &rows);
}

static void run_bands(struct img_png_bands *bands, uint8_t **png, size_t *png_size)
{
    int rc = 0;
    for (int band = 0; band < img_png_bands_count(bands) && rc == 0; band++)
        rc = img_png_bands_run(bands, band);
    CHECK_EQ(rc, 0);
    CHECK_EQ(img_png_bands_finish(bands, png, png_size), 0);
    img_png_bands_destroy(bands);
}

/* The fused pass over the whole decoded image: today's path. */
static void whole_image_png(const struct mem_image *jpeg, enum img_operator op, int level,
                            uint8_t **png, size_t *png_size)
{
    struct img_buf luma;
    char err[256] = "";
    CHECK_EQ(img_decode_limited(jpeg->data, jpeg->size, 1, NULL, &luma, NULL, err, sizeof(err)), 0);
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create_fused(op, &luma, level, NULL, &bands), 0);
    img_png_bands_set_source(bands, "http://example.test/a.jpg");
    run_bands(bands, png, png_size);
    img_buf_finish(&luma);
}

static void rows_png(const struct mem_image *jpeg, enum img_operator op, int level, uint8_t **png,
                     size_t *png_size)
{
    struct img_rows *rows;
    char err[256] = "";
    int rc = img_decode_rows_create(jpeg->data, jpeg->size, NULL, &rows, NULL, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "img_decode_rows_create: %d %s\n", rc, err);
    CHECK_EQ(rc, 0);
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create_fused_rows(op, rows, level, NULL, &bands), 0);
    img_png_bands_set_source(bands, "http://example.test/a.jpg");
    run_bands(bands, png, png_size);
    CHECK(img_rows_all_decoded(rows));
    CHECK_EQ(img_rows_error(rows, NULL, NULL, 0), 0);
    img_rows_destroy(rows);
}

static void check_same(const struct mem_image *jpeg, enum img_operator op, int level,
                       const char *what)
{
    uint8_t *expected, *got;
    size_t expected_size, got_size;
    whole_image_png(jpeg, op, level, &expected, &expected_size);
    rows_png(jpeg, op, level, &got, &got_size);
    if (expected_size != got_size || memcmp(expected, got, got_size) != 0) {
        fprintf(stderr, "different bytes: %s, %s level %d (%zu vs %zu bytes)\n", what,
                img_operator_name(op), level, expected_size, got_size);
        CHECK(false);
    }
    free(expected);
    free(got);
}

struct sampling {
    const char *name;
    int components, h, v;
};

static const struct sampling samplings[] = {
    {"4:2:0", 3, 2, 2},
    {"4:2:2", 3, 2, 1},
    {"4:4:4", 3, 1, 1},
    {"gray", 1, 1, 1},
};
#define SAMPLING_COUNT (sizeof(samplings) / sizeof(samplings[0]))

static const enum img_operator operators[] = {IMG_OP_SOBEL, IMG_OP_SCHARR, IMG_OP_PREWITT};
static const int levels[] = {0, 1, 2, 6};

/* Every width 1..70 at heights around the iMCU rows (8 and 16) and the
 * window's sizes, each sampling; the operators and levels in turn. */
static void test_sizes(void)
{
    static const int heights[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 70};
    int turn = 0;
    for (size_t s = 0; s < SAMPLING_COUNT; s++)
        for (int width = 1; width <= 70; width++)
            for (size_t i = 0; i < sizeof(heights) / sizeof(heights[0]); i++, turn++) {
                const struct sampling *sampling = &samplings[s];
                struct mem_image jpeg =
                    make_sampled_jpeg(width, heights[i], sampling->components, sampling->h,
                                      sampling->v, PATTERN_NOISE, 0, false);
                char what[96];
                snprintf(what, sizeof(what), "%dx%d %s", width, heights[i], sampling->name);
                check_same(&jpeg, operators[turn % 3], levels[turn % 4], what);
                if (width % 23 == 1)
                    check_same(&jpeg, IMG_OP_SOBEL, 1, what);
                mem_image_free(&jpeg);
            }
}

/* Large images, where the window slides over many blocks and bands (a band
 * is at most a few MiB of rows), and the two-level probe reading one row,
 * 150 rows (past the window's first size, which then grows) and the whole
 * map. */
static void test_large(void)
{
    struct {
        int width, height;
        enum pattern pattern;
        int flat_rows;
    } cases[] = {
        {4000, 600, PATTERN_NOISE, 0}, {1999, 1203, PATTERN_NOISE, 0},
        {3, 20001, PATTERN_NOISE, 0},  {1000, 300, PATTERN_FLAT_TOP, 150},
        {1000, 200, PATTERN_FLAT, 0},  {4000, 97, PATTERN_FLAT_TOP, 60},
        {65000, 20, PATTERN_NOISE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t s = 0; s < SAMPLING_COUNT; s++) {
            const struct sampling *sampling = &samplings[s];
            struct mem_image jpeg = make_sampled_jpeg(
                cases[i].width, cases[i].height, sampling->components, sampling->h, sampling->v,
                cases[i].pattern, cases[i].flat_rows, false);
            char what[96];
            snprintf(what, sizeof(what), "%dx%d %s pattern %d", cases[i].width, cases[i].height,
                     sampling->name, (int)cases[i].pattern);
            for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
                check_same(&jpeg, operators[(i + l) % 3], levels[l], what);
            mem_image_free(&jpeg);
        }
}

/* What img_decode_limited says about `data`, and what the rows say once the
 * pass over them fails: the same code, kind and message. */
static void check_same_failure(const uint8_t *data, size_t size, const atomic_int *cancel,
                               enum img_error_kind want_kind, const char *what)
{
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.cancel = cancel;
    struct img_buf luma;
    enum img_error_kind expected_kind = IMG_ERROR_NONE;
    char expected[256] = "";
    int expected_rc = img_decode_limited(data, size, 1, &limits, &luma, &expected_kind, expected,
                                         sizeof(expected));
    CHECK_LT(expected_rc, 0);
    CHECK_EQ(expected_kind, want_kind);

    struct img_rows *rows;
    enum img_error_kind kind = IMG_ERROR_NONE;
    char err[256] = "";
    int rc = img_decode_rows_create(data, size, &limits, &rows, &kind, err, sizeof(err));
    if (rc == 0) {
        /* The two-level probe in the create reads rows too: it may fail. */
        struct img_png_bands *bands;
        int ran = img_png_bands_create_fused_rows(IMG_OP_SOBEL, rows, 1, NULL, &bands);
        for (int band = 0; ran == 0 && band < img_png_bands_count(bands); band++)
            ran = img_png_bands_run(bands, band);
        if (ran == 0) {
            uint8_t *png = NULL;
            size_t png_size = 0;
            ran = img_png_bands_finish(bands, &png, &png_size);
            free(png);
        }
        if (bands != NULL)
            img_png_bands_destroy(bands);
        CHECK_LT(ran, 0);
        rc = img_rows_error(rows, &kind, err, sizeof(err));
        CHECK_EQ(rc, ran);
        img_rows_destroy(rows);
    }
    if (rc != expected_rc || kind != expected_kind || strcmp(err, expected) != 0) {
        fprintf(stderr, "%s: rows %d %d \"%s\", whole image %d %d \"%s\"\n", what, rc, (int)kind,
                err, expected_rc, (int)expected_kind, expected);
        CHECK(false);
    }
}

static void test_failures(void)
{
    struct mem_image jpeg = make_sampled_jpeg(1500, 900, 3, 2, 2, PATTERN_NOISE, 0, false);
    /* Cut mid-image, and just before the end-of-image marker (every row
     * decodes; reading to the end of the file fails). */
    check_same_failure(jpeg.data, jpeg.size / 2, NULL, IMG_ERROR_TRUNCATED, "cut in half");
    check_same_failure(jpeg.data, jpeg.size - 2, NULL, IMG_ERROR_TRUNCATED, "no EOI");
    /* Every row decodes, then a marker segment cut short where the
     * end-of-image marker was: only reading on to the end of the file
     * (jpeg_finish_decompress after the last row) sees it. */
    uint8_t *tail = malloc(jpeg.size + 2);
    CHECK(tail != NULL);
    memcpy(tail, jpeg.data, jpeg.size);
    CHECK_EQ(tail[jpeg.size - 2], 0xff);
    CHECK_EQ(tail[jpeg.size - 1], 0xd9);
    static const uint8_t cut_comment[] = {0xff, 0xfe, 0x00, 0x10};
    memcpy(tail + jpeg.size - 2, cut_comment, sizeof(cut_comment));
    check_same_failure(tail, jpeg.size + 2, NULL, IMG_ERROR_TRUNCATED, "a cut comment at the end");
    free(tail);
    /* Corrupt mid-image: a marker where entropy-coded data should be. */
    uint8_t *bad = malloc(jpeg.size);
    CHECK(bad != NULL);
    memcpy(bad, jpeg.data, jpeg.size);
    bad[jpeg.size * 2 / 3] = 0xff;
    bad[jpeg.size * 2 / 3 + 1] = 0xd9;
    check_same_failure(bad, jpeg.size, NULL, IMG_ERROR_CORRUPT, "a marker mid-scan");
    free(bad);
    /* The signal's flag: the rows stop at the next iMCU row. */
    atomic_int cancel = 1;
    check_same_failure(jpeg.data, jpeg.size, &cancel, IMG_ERROR_CANCELLED, "cancelled");
    mem_image_free(&jpeg);
}

/* Cancelled once some rows are out: the pass fails with the rows' code. */
static void test_cancel_mid_image(void)
{
    struct mem_image jpeg = make_sampled_jpeg(4000, 600, 3, 2, 2, PATTERN_NOISE, 0, false);
    atomic_int cancel = 0;
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.cancel = &cancel;
    struct img_rows *rows;
    enum img_error_kind kind;
    char err[256] = "";
    CHECK_EQ(img_decode_rows_create(jpeg.data, jpeg.size, &limits, &rows, &kind, err, sizeof(err)),
             0);
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create_fused_rows(IMG_OP_SOBEL, rows, 1, NULL, &bands), 0);
    CHECK_GT(img_png_bands_count(bands), 0);
    atomic_store(&cancel, 1);
    CHECK_EQ(img_png_bands_run(bands, 0), -ECANCELED);
    CHECK_EQ(img_rows_error(rows, &kind, err, sizeof(err)), -ECANCELED);
    CHECK_EQ(kind, IMG_ERROR_CANCELLED);
    CHECK_STR_EQ(err, "cancelled");
    img_png_bands_destroy(bands);
    img_rows_destroy(rows);
    mem_image_free(&jpeg);
}

/* Progressive, turned (EXIF orientation 6), PNG and garbage: -ENOTSUP for
 * the first three (decoded whole by the caller), the probe's failure for
 * the last; over --max-pixels fails as img_decode_limited does, before any
 * row. */
static void test_refused(void)
{
    struct img_rows *rows = NULL;
    char err[256] = "";
    enum img_error_kind kind;
    struct mem_image progressive = make_sampled_jpeg(64, 48, 3, 2, 2, PATTERN_NOISE, 0, true);
    CHECK_EQ(img_decode_rows_create(progressive.data, progressive.size, NULL, &rows, &kind, err,
                                    sizeof(err)),
             -ENOTSUP);
    CHECK(rows == NULL);
    mem_image_free(&progressive);

    struct mem_image baseline = make_sampled_jpeg(64, 48, 3, 2, 2, PATTERN_NOISE, 0, false);
    /* APP1 "Exif", TIFF header (II), one IFD entry: orientation (0x0112), SHORT, 6. */
    static const uint8_t exif[] = {'E',  'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                   0x12, 1,   3,   0,   1, 0, 0,   0,   6,  0, 0, 0, 0, 0, 0, 0};
    size_t turned_size = baseline.size + 4 + sizeof(exif);
    uint8_t *turned = malloc(turned_size);
    CHECK(turned != NULL);
    memcpy(turned, baseline.data, 2);
    turned[2] = 0xff;
    turned[3] = 0xe1;
    turned[4] = 0;
    turned[5] = (uint8_t)(sizeof(exif) + 2);
    memcpy(turned + 6, exif, sizeof(exif));
    memcpy(turned + 6 + sizeof(exif), baseline.data + 2, baseline.size - 2);
    struct img_info info;
    CHECK_EQ(img_probe(turned, turned_size, &info, err, sizeof(err)), 0);
    CHECK_EQ(info.orientation, 6);
    CHECK_EQ(img_decode_rows_create(turned, turned_size, NULL, &rows, &kind, err, sizeof(err)),
             -ENOTSUP);
    free(turned);

    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = 1000;
    struct img_buf luma;
    enum img_error_kind expected_kind;
    char expected[256] = "";
    int expected_rc = img_decode_limited(baseline.data, baseline.size, 1, &limits, &luma,
                                         &expected_kind, expected, sizeof(expected));
    CHECK_EQ(expected_rc, -EFBIG);
    CHECK_EQ(img_decode_rows_create(baseline.data, baseline.size, &limits, &rows, &kind, err,
                                    sizeof(err)),
             -EFBIG);
    CHECK_EQ(kind, expected_kind);
    CHECK_STR_EQ(err, expected);
    mem_image_free(&baseline);

    struct png_make spec = {
        .width = 16, .height = 16, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8};
    struct mem_image png = make_png_image(&spec);
    CHECK_EQ(img_decode_rows_create(png.data, png.size, NULL, &rows, &kind, err, sizeof(err)),
             -ENOTSUP);
    mem_image_free(&png);

    static const uint8_t garbage[] = "<!DOCTYPE html><html></html>";
    CHECK_EQ(img_decode_rows_create(garbage, sizeof(garbage), NULL, &rows, &kind, err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_NOT_AN_IMAGE);
    CHECK(rows == NULL);
}

int main(void)
{
    test_refused();
    test_failures();
    test_cancel_mid_image();
    test_sizes();
    test_large();
    printf("rows: ok\n");
    return 0;
}
