/* Unit tests for PNG encoding in row bands: imaging's img_png_bands_* decode
 * back to the exact pixels (with libpng and with our img_decode) for many
 * sizes, strides and every level; bands run in any order on several threads
 * give img_encode_png's bytes; and pipeline's pl_bands_encode_png shares one
 * image's bands with idle workers for the same bytes. */
#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "band_pool.h"
#include "bands.h"
#include "check.h"
#include "test_image.h"
#include "test_random.h"
#include "imaging.h"
#include "pipeline.h"

enum pattern { NOISE, BLOCKS, TWO_LEVEL, SMOOTH, PATTERN_COUNT };

static uint8_t pattern_pixel(const struct img_buf *image, size_t x, int y, uint8_t noise,
                             int pattern)
{
    (void)image;
    switch ((enum pattern)pattern) {
    case NOISE:
        return noise;
    case BLOCKS:
        return (uint8_t)((((int)x / 7 + y / 5) % 3) * 100 + (noise & 15));
    case TWO_LEVEL:
        return noise % 7 == 0 ? 255 : 0;
    default:
        return (uint8_t)(x + (size_t)y * 3 + (noise & 3));
    }
}

/* A width×height gray image with random stride padding. */
static void make_image(struct img_buf *image, int width, int height, enum pattern pattern,
                       uint64_t *rng)
{
    make_padded_image(image, width, height, 9, pattern_pixel, (int)pattern, rng);
}

static void check_pixels(const struct img_buf *want, const uint8_t *got, size_t got_stride,
                         const char *what)
{
    for (int y = 0; y < want->height; y++)
        if (memcmp(got + (size_t)y * got_stride, want->data + (size_t)y * want->stride,
                   (size_t)want->width) != 0) {
            fprintf(stderr, "%s %dx%d: row %d differs\n", what, want->width, want->height, y);
            CHECK(!"decoded pixels differ");
        }
}

/* The PNG decodes to `want` with libpng (simplified API) and with
 * img_decode (stb_image). */
static void check_decodes(const uint8_t *png, size_t size, const struct img_buf *want)
{
    png_image image;
    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_memory(&image, png, size) != 0);
    CHECK_EQ(image.width, (png_uint_32)want->width);
    CHECK_EQ(image.height, (png_uint_32)want->height);
    image.format = PNG_FORMAT_GRAY;
    uint8_t *pixels = malloc((size_t)want->width * (size_t)want->height);
    CHECK(pixels != NULL);
    CHECK(png_image_finish_read(&image, NULL, pixels, want->width, NULL) != 0);
    CHECK(image.warning_or_error == 0);
    check_pixels(want, pixels, (size_t)want->width, "libpng");
    free(pixels);

    struct img_buf decoded;
    char err[256] = "";
    CHECK_EQ(img_decode(png, size, 1, UINT64_MAX, &decoded, err, sizeof(err)), 0);
    check_pixels(want, decoded.data, decoded.stride, "img_decode");
    img_buf_finish(&decoded);
}

/* ---- bands on several threads ----------------------------------------- */

struct shared_run {
    struct img_png_bands *bands;
    const int *order;
    int count;
    uv_mutex_t lock;
    int next;
};

static void band_thread(void *arg)
{
    struct shared_run *run = arg;
    for (;;) {
        uv_mutex_lock(&run->lock);
        int i = run->next++;
        uv_mutex_unlock(&run->lock);
        if (i >= run->count)
            return;
        CHECK_EQ(img_png_bands_run(run->bands, run->order[i]), 0);
    }
}

/* Runs the bands in a random order on `thread_count` threads. */
static void encode_threaded(const struct img_buf *gray, int level, int thread_count, uint64_t *rng,
                            uint8_t **png, size_t *size)
{
    struct shared_run run = {0};
    CHECK_EQ(img_png_bands_create(gray, level, &run.bands), 0);
    run.count = img_png_bands_count(run.bands);
    CHECK_GE(run.count, 1);
    int *order = malloc((size_t)run.count * sizeof(*order));
    CHECK(order != NULL);
    for (int i = 0; i < run.count; i++)
        order[i] = i;
    for (int i = run.count - 1; i > 0; i--) {
        int j = (int)(next_random(rng) % (uint32_t)(i + 1));
        int swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
    run.order = order;
    CHECK_EQ(uv_mutex_init(&run.lock), 0);
    uv_thread_t threads[4];
    for (int i = 0; i < thread_count; i++)
        CHECK_EQ(uv_thread_create(&threads[i], band_thread, &run), 0);
    for (int i = 0; i < thread_count; i++)
        CHECK_EQ(uv_thread_join(&threads[i]), 0);
    uv_mutex_destroy(&run.lock);
    CHECK_EQ(img_png_bands_finish(run.bands, png, size), 0);
    img_png_bands_destroy(run.bands);
    free(order);
}

static void check_image(const struct img_buf *gray, int level, uint64_t *rng)
{
    uint8_t *png = NULL, *threaded = NULL;
    size_t size = 0, threaded_size = 0;
    char err[256] = "";
    CHECK_EQ(img_encode_png(gray, level, &png, &size, err, sizeof(err)), 0);
    check_decodes(png, size, gray);
    encode_threaded(gray, level, 1 + (int)(next_random(rng) % 4), rng, &threaded, &threaded_size);
    CHECK_EQ(threaded_size, size);
    CHECK_MEM_EQ(threaded, png, size);
    free(threaded);
    free(png);
}

/* 1x1 up to images of several bands, odd widths, every level. */
static void test_round_trip(void)
{
    static const int sizes[][2] = {
        {1, 1},     {1, 7},       {7, 1},       {2, 3},       {37, 23},    {3, 700},
        {255, 513}, {1023, 1025}, {4101, 1030}, {2049, 1100}, {300, 7000}, {5000, 300},
    };
    uint64_t rng = 12345;
    int multi_band = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct img_buf gray;
        enum pattern pattern = (enum pattern)(s % PATTERN_COUNT);
        make_image(&gray, sizes[s][0], sizes[s][1], pattern, &rng);
        struct img_png_bands *bands;
        CHECK_EQ(img_png_bands_create(&gray, 1, &bands), 0);
        if (img_png_bands_count(bands) > 1)
            multi_band++;
        img_png_bands_destroy(bands);
        for (int level = 0; level <= 9; level++)
            check_image(&gray, level, &rng);
        free(gray.data);
    }
    CHECK_GE(multi_band, 3);

    /* Every pattern on a multi-band image at the levels that differ. */
    for (int pattern = 0; pattern < PATTERN_COUNT; pattern++) {
        struct img_buf gray;
        make_image(&gray, 1501, 1800, (enum pattern)pattern, &rng);
        for (int level = 0; level <= 4; level++)
            check_image(&gray, level, &rng);
        free(gray.data);
    }
}

/* The layout depends on the size only: two bands at most 2 MP apart in
 * rows, and refusals. */
static void test_layout_and_refusals(void)
{
    uint64_t rng = 7;
    struct img_buf gray;
    make_image(&gray, 4096, 1024, NOISE, &rng);
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(&gray, 1, &bands), 0);
    CHECK_EQ(img_png_bands_count(bands), 4);
    /* Finishing before every band ran is refused. */
    uint8_t *png = (uint8_t *)1;
    size_t size = 1;
    CHECK_EQ(img_png_bands_run(bands, 0), 0);
    CHECK_EQ(img_png_bands_finish(bands, &png, &size), -EINVAL);
    CHECK(png == NULL);
    CHECK_EQ(img_png_bands_run(bands, 4), -EINVAL);
    img_png_bands_destroy(bands);
    img_png_bands_destroy(NULL);
    CHECK_EQ(img_png_bands_create(&gray, 10, &bands), -EINVAL);
    CHECK(bands == NULL);
    gray.channels = 3;
    CHECK_EQ(img_png_bands_create(&gray, 1, &bands), -EINVAL);
    free(gray.data);
}

/* ---- pl_bands_encode_png with real workers ------------------------------ */

struct test_job {
    struct pl_queue_node node;
    struct img_buf gray;
    int level;
    uint8_t *png;
    size_t png_size;
    unsigned threads;
    int rc;
    int done;
};

static void run_job(struct pl_bands *bands, struct pl_queue_node *node)
{
    struct test_job *job = (struct test_job *)node;
    char err[256] = "";
    job->rc = pl_bands_encode_png(bands, &job->gray, job->level, NULL, &job->png, &job->png_size,
                                  &job->threads, err, sizeof(err));
}

static void mark_done(struct pl_queue_node *node)
{
    ((struct test_job *)node)->done++;
}

static void check_job(struct test_job *job)
{
    CHECK_EQ(job->rc, 0);
    CHECK_EQ(job->done, 1);
    uint8_t *want = NULL;
    size_t want_size = 0;
    CHECK_EQ(img_encode_png(&job->gray, job->level, &want, &want_size, NULL, 0), 0);
    CHECK_EQ(job->png_size, want_size);
    CHECK_MEM_EQ(job->png, want, want_size);
    free(want);
    free(job->png);
    free(job->gray.data);
}

static void test_pool(void)
{
    struct band_pool pool;
    uint64_t rng = 99;
    band_pool_start(&pool, 100000, run_job, mark_done);

    unsigned most_threads = 0;
    int pushed = 0;
    for (int attempt = 0; attempt < 20 && most_threads < 2; attempt++) {
        uv_sleep(20);
        struct test_job job = {.level = attempt % 3};
        make_image(&job.gray, 2500, 2000, (enum pattern)(attempt % PATTERN_COUNT), &rng);
        pl_queue_push(pool.todo, &job.node);
        band_pool_wait(&pool, ++pushed);
        if (job.threads > most_threads)
            most_threads = job.threads;
        CHECK_LE(job.threads, BAND_POOL_WORKERS);
        check_job(&job);
    }
    CHECK_GE(most_threads, 2);

    band_pool_stop(&pool);

    /* Without a board (sequential mode): on this thread, same bytes. */
    struct test_job alone = {.level = 1, .done = 1};
    make_image(&alone.gray, 2500, 2000, BLOCKS, &rng);
    alone.rc = pl_bands_encode_png(NULL, &alone.gray, 1, NULL, &alone.png, &alone.png_size,
                                   &alone.threads, NULL, 0);
    CHECK_EQ(alone.threads, 1);
    check_job(&alone);
}

int main(void)
{
    test_round_trip();
    test_layout_and_refusals();
    test_pool();
    printf("test_png_bands: all passed\n");
    return 0;
}
