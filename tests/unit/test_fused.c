/* Unit tests for the fused pass (imaging/fused.c, img_png_bands_create_fused):
 * a 3x3 operator computed block by block inside the PNG encoder gives the
 * bytes of img_apply then img_encode_png on the whole map, for every width
 * and height 1..70, large images of several bands and blocks, every operator
 * it takes and the levels of the tests in PNG_SETTINGS.md (0, 1, 2, 6), maps
 * that are two-level (coded unfiltered) or only in their first rows, bands
 * run in any order, a tEXt source, a cancel flag; it refuses Canny and
 * tutorial with -ENOTSUP; and pipeline's pl_bands_fused_png_cancel gives
 * the same bytes as the operator and the encode apart, and declines
 * (-ENOTSUP) when idle workers would share the operator. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "band_pool.h"
#include "bands.h"
#include "check.h"
#include "imaging.h"
#include "test_image.h"
#include "test_random.h"

enum pattern {
    NOISE,    /* every map value */
    SMOOTH,   /* small gradients: long runs of small values */
    FLAT,     /* a constant image: the map is all 0, two-level */
    FLAT_TOP, /* constant in its top rows, noise below: two-level at first */
    STEPS,    /* 0/255 steps far apart: a map of 0 and large values */
    PATTERN_COUNT,
};

static const char *pattern_names[PATTERN_COUNT] = {"noise", "smooth", "flat", "flat_top", "steps"};

static uint8_t pattern_pixel(const struct img_buf *image, size_t x, int y, uint8_t noise,
                             int pattern)
{
    int flat_rows = image->height / 2 + 1;
    switch ((enum pattern)pattern) {
    case NOISE:
        return noise;
    case SMOOTH:
        return (uint8_t)(x / 3 + (size_t)y / 2 + (noise & 1));
    case FLAT:
        return 77;
    case FLAT_TOP:
        return y < flat_rows ? 200 : noise;
    default:
        return ((x / 9 + (size_t)y / 11) & 1) ? 255 : 0;
    }
}

/* A width×height luma image with random stride padding. */
static void make_image(struct img_buf *image, int width, int height, enum pattern pattern,
                       uint64_t *rng)
{
    make_padded_image(image, width, height, 5, pattern_pixel, (int)pattern, rng);
}

/* img_apply then img_encode_png: the bytes the fused pass must give. */
static void encode_apart(enum img_operator op, const struct img_buf *image, int level,
                         uint8_t **png, size_t *png_size)
{
    struct img_buf edges;
    char err[256] = "";
    CHECK_EQ(img_apply(op, image, &edges), 0);
    CHECK_EQ(img_encode_png(&edges, level, png, png_size, err, sizeof(err)), 0);
    img_buf_finish(&edges);
}

static uint64_t fake_ticks;

/* A clock that moves by one tick each time it is read. */
static uint64_t tick(void)
{
    return ++fake_ticks;
}

enum order { IN_ORDER, REVERSED };

static void encode_fused(enum img_operator op, const struct img_buf *image, int level,
                         enum order order, const char *source, uint8_t **png, size_t *png_size)
{
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create_fused(op, image, level, tick, &bands), 0);
    if (source != NULL)
        img_png_bands_set_source(bands, source);
    int count = img_png_bands_count(bands);
    for (int i = 0; i < count; i++)
        CHECK_EQ(img_png_bands_run(bands, order == IN_ORDER ? i : count - 1 - i), 0);
    CHECK_EQ(img_png_bands_finish(bands, png, png_size), 0);
    /* The operator's rows were timed: at least one interval of the clock. */
    CHECK_GT(img_png_bands_operator_time(bands), 0);
    img_png_bands_destroy(bands);
}

static void check_same(enum img_operator op, int width, int height, enum pattern pattern, int level,
                       enum order order, uint64_t *rng)
{
    struct img_buf image;
    make_image(&image, width, height, pattern, rng);
    uint8_t *want, *got;
    size_t want_size, got_size;
    encode_apart(op, &image, level, &want, &want_size);
    encode_fused(op, &image, level, order, NULL, &got, &got_size);
    if (got_size != want_size || memcmp(got, want, want_size) != 0) {
        size_t at = 0;
        while (at < got_size && at < want_size && got[at] == want[at])
            at++;
        fprintf(stderr,
                "%s %dx%d %s level %d %s: fused %zu bytes, apart %zu, first difference "
                "at %zu\n",
                img_operator_name(op), width, height, pattern_names[pattern], level,
                order == IN_ORDER ? "in order" : "reversed", got_size, want_size, at);
        CHECK(0);
    }
    free(want);
    free(got);
    free(image.data);
}

static const enum img_operator fusable[] = {IMG_OP_SOBEL, IMG_OP_SCHARR, IMG_OP_PREWITT};
static const int levels[] = {0, 1, 2, 6};

/* Every width and height 1..70: the rows' borders (mirrored at the top and
 * bottom rows, the row above a chunk), the SIMD widths (32 pixels a step
 * in the operator and the Paeth filter). Sobel at the default level on
 * every size, every pattern in turn; the other operators and levels on
 * every size with one pattern each, rotating. */
static void test_small_sizes(void)
{
    uint64_t rng = 0x5eed0016;
    int turn = 0;
    for (int height = 1; height <= 70; height++) {
        for (int width = 1; width <= 70; width++, turn++) {
            check_same(IMG_OP_SOBEL, width, height, (enum pattern)(turn % PATTERN_COUNT), 1,
                       IN_ORDER, &rng);
            enum img_operator op = fusable[turn % 3];
            int level = levels[(turn / 3) % 4];
            check_same(op, width, height, (enum pattern)((turn / 12) % PATTERN_COUNT), level,
                       IN_ORDER, &rng);
        }
    }
}

/* Images of several bands (at least 256 rows and 1 MiB each) and many
 * blocks per band (about 64 KiB of rows each): each band computes the row
 * above it, each block takes the previous block's last row. Bands run in
 * order and reversed (in-place regions and moves). */
static void test_large(void)
{
    static const int sizes[][2] = {
        {4000, 600},  /* 2 bands of 262 and 338 rows, 16 rows a block */
        {1100, 2000}, /* 2 bands, 59 rows a block */
        {1025, 3000}, /* 2 bands, a block not dividing the band */
        {70001, 300}, /* a row wider than a block: one row a block */
        {3, 400000},  /* 21845 rows a block, a narrow SIMD-free row */
    };
    uint64_t rng = 0xb16b00b5;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t o = 0; o < 3; o++) {
            int level = levels[(i + o) % 4];
            enum pattern pattern = (enum pattern)((i + o) % PATTERN_COUNT);
            enum order order = o % 2 == 0 ? IN_ORDER : REVERSED;
            check_same(fusable[o], sizes[i][0], sizes[i][1], pattern, level, order, &rng);
        }
    }
    /* Every level and pattern once on a 2-band image. */
    for (int level = 0; level <= 9; level++)
        for (int p = 0; p < PATTERN_COUNT; p++)
            check_same(IMG_OP_SOBEL, 1500, 1500, (enum pattern)p, level, REVERSED, &rng);
}

/* With a source: the tEXt chunk in front, as img_png_bands_set_source puts
 * it in the encoder's bands. */
static void test_source(void)
{
    uint64_t rng = 42;
    struct img_buf image;
    make_image(&image, 2000, 1200, NOISE, &rng);
    struct img_buf edges;
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &image, &edges), 0);
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(&edges, 1, &bands), 0);
    img_png_bands_set_source(bands, "http://127.0.0.1/a.jpg");
    for (int i = 0; i < img_png_bands_count(bands); i++)
        CHECK_EQ(img_png_bands_run(bands, i), 0);
    uint8_t *want, *got;
    size_t want_size, got_size;
    CHECK_EQ(img_png_bands_finish(bands, &want, &want_size), 0);
    img_png_bands_destroy(bands);
    encode_fused(IMG_OP_SOBEL, &image, 1, IN_ORDER, "http://127.0.0.1/a.jpg", &got, &got_size);
    CHECK_EQ(got_size, want_size);
    CHECK_MEM_EQ(got, want, want_size);
    free(want);
    free(got);
    img_buf_finish(&edges);
    free(image.data);
}

/* Canny (hysteresis over the whole map) and tutorial (RGB, two-level) are
 * not fused; bad buffers and levels are refused as img_png_bands_create
 * refuses them; a set cancel flag stops a band. */
static void test_refusals(void)
{
    uint64_t rng = 7;
    struct img_buf image;
    make_image(&image, 50, 40, NOISE, &rng);
    struct img_png_bands *bands = (struct img_png_bands *)&rng;
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_CANNY, &image, 1, NULL, &bands), -ENOTSUP);
    CHECK(bands == NULL);
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_TUTORIAL, &image, 1, NULL, &bands), -ENOTSUP);
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_SOBEL, &image, 10, NULL, &bands), -EINVAL);
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_SOBEL, &image, -1, NULL, &bands), -EINVAL);
    struct img_buf rgb = image;
    rgb.channels = 3;
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_SOBEL, &rgb, 1, NULL, &bands), -EINVAL);
    struct img_buf narrow = image;
    narrow.stride = (size_t)image.width - 1;
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_SOBEL, &narrow, 1, NULL, &bands), -EINVAL);
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_SOBEL, NULL, 1, NULL, &bands), -EINVAL);

    /* Without a clock: nothing timed. */
    CHECK_EQ(img_png_bands_create_fused(IMG_OP_PREWITT, &image, 1, NULL, &bands), 0);
    atomic_int cancel = 1;
    img_png_bands_set_cancel(bands, &cancel);
    CHECK_EQ(img_png_bands_run(bands, 0), -ECANCELED);
    uint8_t *png;
    size_t png_size;
    CHECK_EQ(img_png_bands_finish(bands, &png, &png_size), -ECANCELED);
    CHECK_EQ(img_png_bands_operator_time(bands), 0);
    img_png_bands_destroy(bands);
    free(image.data);
}

/* The worker's entry: with no board (sequential mode, one worker) it runs
 * fused and gives the bytes of pl_bands_apply + pl_bands_encode_png; for
 * Canny it does nothing (-ENOTSUP, no reason written). */
static void test_pipeline_entry(void)
{
    uint64_t rng = 99;
    struct img_buf image;
    make_image(&image, 1800, 1300, SMOOTH, &rng);
    for (size_t o = 0; o < 3; o++) {
        struct img_buf edges;
        unsigned threads = 0;
        CHECK_EQ(pl_bands_apply(NULL, fusable[o], NULL, &image, &edges, &threads), 0);
        uint8_t *want, *got;
        size_t want_size, got_size;
        char err[256] = "";
        CHECK_EQ(
            pl_bands_encode_png(NULL, &edges, 1, "src", &want, &want_size, NULL, err, sizeof(err)),
            0);
        uint64_t operator_time = 0;
        fake_ticks = 0;
        CHECK_EQ(pl_bands_fused_png_cancel(NULL, fusable[o], &image, 1, "src", NULL, tick, &got,
                                           &got_size, &operator_time, err, sizeof(err)),
                 0);
        CHECK_GT(operator_time, 0);
        CHECK_LT(operator_time, fake_ticks);
        CHECK_EQ(got_size, want_size);
        CHECK_MEM_EQ(got, want, want_size);
        free(want);
        free(got);
        img_buf_finish(&edges);
    }
    uint8_t *png = (uint8_t *)&rng;
    size_t png_size = 1;
    uint64_t operator_time = 1;
    char err[64] = "";
    CHECK_EQ(pl_bands_fused_png_cancel(NULL, IMG_OP_CANNY, &image, 1, NULL, NULL, tick, &png,
                                       &png_size, &operator_time, err, sizeof(err)),
             -ENOTSUP);
    CHECK(png == NULL && png_size == 0 && operator_time == 0 && err[0] == '\0');
    free(image.data);
}

/* A worker's job: the fused entry, and when it declines the two apart as
 * the worker runs them (pipeline/workers.c). */
struct fused_job {
    struct pl_queue_node node; /* first: the queue hands back this pointer */
    struct img_buf image;
    int fused_rc;
    unsigned threads;
    uint8_t *png;
    size_t png_size;
    int done;
};

static void run_fused_job(struct pl_bands *bands, struct pl_queue_node *node)
{
    struct fused_job *job = (struct fused_job *)node;
    char err[256] = "";
    uint64_t operator_time;
    job->fused_rc =
        pl_bands_fused_png_cancel(bands, IMG_OP_SOBEL, &job->image, 1, NULL, NULL, NULL, &job->png,
                                  &job->png_size, &operator_time, err, sizeof(err));
    if (job->fused_rc != -ENOTSUP)
        return;
    struct img_buf edges;
    CHECK_EQ(pl_bands_apply(bands, IMG_OP_SOBEL, NULL, &job->image, &edges, &job->threads), 0);
    CHECK_EQ(pl_bands_encode_png(bands, &edges, 1, NULL, &job->png, &job->png_size, NULL, err,
                                 sizeof(err)),
             0);
    img_buf_finish(&edges);
}

static void mark_fused_done(struct pl_queue_node *node)
{
    ((struct fused_job *)node)->done++;
}

/* On a pool of three workers, a job's image over the board's size bar
 * finds the other two idle (sooner or later: they must have reached the
 * queue): the fused entry declines, the operator is split, and the bytes
 * are those of the fused pass on one thread. */
static void test_declines_for_a_split(void)
{
    struct band_pool pool;
    uint64_t rng = 5;
    band_pool_start(&pool, 100000, run_fused_job, mark_fused_done);
    int pushed = 0;
    unsigned most_threads = 0;
    for (int attempt = 0; attempt < 20 && most_threads < 2; attempt++) {
        uv_sleep(20);
        struct fused_job job = {0};
        make_image(&job.image, 1200, 900, NOISE, &rng);
        pl_queue_push(pool.todo, &job.node);
        band_pool_wait(&pool, ++pushed);
        CHECK_EQ(job.done, 1);
        if (job.fused_rc == -ENOTSUP && job.threads > most_threads)
            most_threads = job.threads;
        uint8_t *want;
        size_t want_size;
        encode_fused(IMG_OP_SOBEL, &job.image, 1, IN_ORDER, NULL, &want, &want_size);
        CHECK_EQ(job.png_size, want_size);
        CHECK_MEM_EQ(job.png, want, want_size);
        free(want);
        free(job.png);
        free(job.image.data);
    }
    CHECK_GE(most_threads, 2);
    band_pool_stop(&pool);
}

int main(void)
{
    test_refusals();
    test_source();
    test_pipeline_entry();
    test_declines_for_a_split();
    test_large();
    test_small_sizes();
    printf("fused: ok\n");
    return 0;
}
