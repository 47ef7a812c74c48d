/* Unit tests for row bands: imaging's img_bands_* against img_apply_with,
 * bit for bit, for every operator, odd sizes and many splits; and
 * pipeline's pl_bands with real worker threads, checking that one image is
 * shared by several of them and still gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "band_pool.h"
#include "bands.h"
#include "check.h"
#include "test_random.h"
#include "imaging.h"
#include "pipeline.h"

/* A width×height image with `channels` and a stride wider than the row
 * (random padding, so a kernel reading past a row would show). Half noise,
 * half blocks with noise: the blocks give long edges that cross every band
 * boundary, which Canny's hysteresis must follow from band to band. */
static void make_image(struct img_buf *image, int width, int height, int channels, uint64_t *rng)
{
    size_t stride = (size_t)width * (size_t)channels + 7;
    image->data = malloc(stride * (size_t)height);
    CHECK(image->data != NULL);
    image->stride = stride;
    image->width = width;
    image->height = height;
    image->channels = channels;
    bool blocks = next_random(rng) % 2 == 0;
    int block = 3 + (int)(next_random(rng) % 9);
    for (int y = 0; y < height; y++) {
        uint8_t *row = image->data + (size_t)y * stride;
        for (size_t i = 0; i < stride; i++) {
            int x = (int)(i / (size_t)channels);
            uint8_t noise = (uint8_t)next_random(rng);
            if (blocks) {
                int level = ((x / block + y / (block + 2)) % 3) * 100;
                row[i] = (uint8_t)(level + (noise & 15));
            } else {
                row[i] = noise;
            }
        }
    }
}

/* Runs `bands` over the rows cut at cuts[0] = 0 < cuts[1] < ... <
 * cuts[count] = height, in the order given by `order` (a permutation of
 * 0..count-1: bands need not run top to bottom). */
static void run_split(enum img_operator op, const struct img_canny_options *canny,
                      const struct img_buf *src, const int *cuts, const int *order, int count,
                      const struct img_buf *want, const char *what)
{
    struct img_bands *bands;
    struct img_buf dst;
    CHECK_EQ(img_bands_create(op, canny, src, &dst, &bands), 0);
    for (int i = 0; i < count; i++) {
        int band = order[i];
        CHECK_EQ(img_bands_run(bands, cuts[band], cuts[band + 1]), 0);
    }
    CHECK_EQ(img_bands_finish(bands), 0);
    img_bands_destroy(bands);
    CHECK_EQ(dst.width, want->width);
    CHECK_EQ(dst.height, want->height);
    for (int y = 0; y < want->height; y++) {
        const uint8_t *a = dst.data + (size_t)y * dst.stride;
        const uint8_t *b = want->data + (size_t)y * want->stride;
        if (memcmp(a, b, (size_t)want->width) != 0) {
            fprintf(stderr, "%s %dx%d (%d bands): row %d differs from img_apply_with\n", what,
                    want->width, want->height, count, y);
            abort();
        }
    }
    img_buf_finish(&dst);
}

static void check_splits(enum img_operator op, const struct img_canny_options *canny, int width,
                         int height, uint64_t *rng)
{
    const char *what = img_operator_name(op);
    struct img_buf src;
    make_image(&src, width, height, img_operator_channels(op), rng);
    struct img_buf want;
    CHECK_EQ(img_apply_with(op, canny, &src, &want), 0);

    int *cuts = malloc(((size_t)height + 1) * sizeof(*cuts));
    int *order = malloc((size_t)height * sizeof(*order));
    CHECK(cuts != NULL && order != NULL);

    /* One band of everything. */
    cuts[0] = 0;
    cuts[1] = height;
    order[0] = 0;
    run_split(op, canny, &src, cuts, order, 1, &want, what);

    /* One row per band, top to bottom and bottom to top. */
    for (int y = 0; y <= height; y++)
        cuts[y] = y;
    for (int i = 0; i < height; i++)
        order[i] = i;
    run_split(op, canny, &src, cuts, order, height, &want, what);
    for (int i = 0; i < height; i++)
        order[i] = height - 1 - i;
    run_split(op, canny, &src, cuts, order, height, &want, what);

    /* Two bands at every cut, then random uneven splits in random order. */
    for (int cut = 1; cut < height && cut < 12; cut++) {
        int at = cut * height / 12 > 0 ? cut * height / 12 : cut;
        int two[3] = {0, at, height}, two_order[2] = {1, 0};
        run_split(op, canny, &src, two, two_order, 2, &want, what);
    }
    for (int round = 0; round < 6; round++) {
        int count = 0;
        cuts[0] = 0;
        while (cuts[count] < height) {
            int step = 1 + (int)(next_random(rng) % (uint32_t)(height / 3 + 2));
            cuts[count + 1] = cuts[count] + step < height ? cuts[count] + step : height;
            count++;
        }
        for (int i = 0; i < count; i++)
            order[i] = i;
        for (int i = count - 1; i > 0; i--) {
            int j = (int)(next_random(rng) % (uint32_t)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        run_split(op, canny, &src, cuts, order, count, &want, what);
    }

    free(order);
    free(cuts);
    img_buf_finish(&want);
    free(src.data);
}

static const int sizes[][2] = {
    {1, 1},  {1, 9},   {9, 1},  {2, 2},  {3, 3},    {1, 40},   {40, 1},
    {2, 31}, {17, 13}, {5, 64}, {64, 5}, {101, 67}, {33, 200}, {257, 129},
};

static void test_every_operator(void)
{
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (int op = 0; img_operator_channels((enum img_operator)op) > 0; op++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
            check_splits((enum img_operator)op, NULL, sizes[i][0], sizes[i][1], &rng);
}

/* Canny's options change what a band needs around it: no blur reads the
 * source directly, a wide blur (radius 9) takes the generic vertical pass
 * and mirrors more than a whole small image; low thresholds make hysteresis
 * chains that cross many bands. */
static void test_canny_options(void)
{
    const struct img_canny_options options[] = {
        {0.0, 100.0, 300.0}, {0.5, 20.0, 60.0}, {3.0, 10.0, 30.0},
        {1.4, 0.0, 2040.0},  {1.4, 1.0, 1.0},
    };
    uint64_t rng = 12345;
    for (size_t o = 0; o < sizeof(options) / sizeof(options[0]); o++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
            check_splits(IMG_OP_CANNY, &options[o], sizes[i][0], sizes[i][1], &rng);
}

static void test_refusals(void)
{
    uint64_t rng = 7;
    struct img_buf src, dst;
    struct img_bands *bands;
    make_image(&src, 10, 10, 1, &rng);
    /* The tutorial wants RGB. */
    CHECK_EQ(img_bands_create(IMG_OP_TUTORIAL, NULL, &src, &dst, &bands), -EINVAL);
    CHECK(bands == NULL && dst.data == NULL);
    struct img_canny_options bad = {1.4, 90.0, 80.0};
    CHECK_EQ(img_bands_create(IMG_OP_CANNY, &bad, &src, &dst, &bands), -EINVAL);
    CHECK(dst.data == NULL);

    CHECK_EQ(img_bands_create(IMG_OP_SOBEL, NULL, &src, &dst, &bands), 0);
    CHECK_EQ(img_bands_run(bands, 0, 0), -EINVAL);
    CHECK_EQ(img_bands_run(bands, -1, 3), -EINVAL);
    CHECK_EQ(img_bands_run(bands, 5, 11), -EINVAL);
    CHECK_EQ(img_bands_run(bands, 4, 3), -EINVAL);
    img_bands_destroy(bands);
    img_bands_destroy(NULL);
    img_buf_finish(&dst);
    free(src.data);
}

/* ---- pl_bands with real workers ---------------------------------------- */

struct test_job {
    struct pl_queue_node node;
    struct img_buf src;
    struct img_buf dst;
    enum img_operator op;
    unsigned threads;
    int rc;
    int done; /* times a worker returned it: must be 1 */
};

static void run_job(struct pl_bands *bands, struct pl_queue_node *node)
{
    struct test_job *job = (struct test_job *)node;
    job->rc = pl_bands_apply(bands, job->op, NULL, &job->src, &job->dst, &job->threads);
}

static void mark_done(struct pl_queue_node *node)
{
    ((struct test_job *)node)->done++;
}

static void check_job(struct test_job *job)
{
    CHECK_EQ(job->rc, 0);
    CHECK_EQ(job->done, 1);
    struct img_buf want;
    CHECK_EQ(img_apply_with(job->op, NULL, &job->src, &want), 0);
    for (int y = 0; y < want.height; y++)
        CHECK(memcmp(job->dst.data + (size_t)y * job->dst.stride,
                     want.data + (size_t)y * want.stride, (size_t)want.width) == 0);
    img_buf_finish(&want);
}

/* One large image alone on a pool of idle workers is run by more than one
 * of them; many images of mixed sizes, pushed while splits are under way,
 * each come back exactly once (wake tokens are never handed out as jobs)
 * with the same bytes as on one thread. */
static void test_pool(void)
{
    struct band_pool pool;
    uint64_t rng = 99;
    /* A low bar, so that the test images are split. */
    band_pool_start(&pool, 100000, run_job, mark_done);

    /* Alone: the other workers are idle (blocked in the queue) by the time
     * the job comes; retried a few times in case the machine stalls them. */
    unsigned most_threads = 0;
    int pushed = 0;
    for (int attempt = 0; attempt < 20 && most_threads < 2; attempt++) {
        uv_sleep(20);
        struct test_job job = {.op = attempt % 2 ? IMG_OP_CANNY : IMG_OP_SOBEL};
        make_image(&job.src, 1200, 800, 1, &rng);
        pl_queue_push(pool.todo, &job.node);
        band_pool_wait(&pool, ++pushed);
        check_job(&job);
        if (job.threads > most_threads)
            most_threads = job.threads;
        CHECK_LE(job.threads, BAND_POOL_WORKERS);
        img_buf_finish(&job.dst);
        free(job.src.data);
    }
    CHECK_GE(most_threads, 2);

    /* A burst of mixed jobs. */
    enum { BURST = 24 };
    struct test_job *jobs = calloc(BURST, sizeof(*jobs));
    CHECK(jobs != NULL);
    for (int i = 0; i < BURST; i++) {
        jobs[i].op = (enum img_operator)(i % 5);
        int width = i % 3 == 0 ? 900 : 40 + i;
        int height = i % 3 == 0 ? 700 : 30 + i;
        make_image(&jobs[i].src, width, height, img_operator_channels(jobs[i].op), &rng);
    }
    for (int i = 0; i < BURST; i++) {
        pl_queue_push(pool.todo, &jobs[i].node);
        if (i % 4 == 0)
            uv_sleep(1);
    }
    band_pool_wait(&pool, pushed + BURST);
    for (int i = 0; i < BURST; i++) {
        check_job(&jobs[i]);
        CHECK_GE(jobs[i].threads, 1);
        img_buf_finish(&jobs[i].dst);
        free(jobs[i].src.data);
    }
    free(jobs);

    band_pool_stop(&pool);
}

/* Without a board (sequential mode) and below the size bar, nothing is
 * split. */
static void test_unsplit(void)
{
    uint64_t rng = 5;
    struct img_buf src, dst, want;
    make_image(&src, 300, 200, 1, &rng);
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &src, &want), 0);
    unsigned threads = 0;
    CHECK_EQ(pl_bands_apply(NULL, IMG_OP_SOBEL, NULL, &src, &dst, &threads), 0);
    CHECK_EQ(threads, 1);
    CHECK(memcmp(dst.data, want.data, want.stride * (size_t)want.height) == 0);
    img_buf_finish(&dst);

    struct pl_queue *todo;
    struct pl_bands *bands;
    CHECK_EQ(pl_queue_create(&todo), 0);
    CHECK_EQ(pl_bands_create(todo, 2, PL_BANDS_MIN_PIXELS, &bands), 0);
    CHECK_EQ(pl_bands_apply(bands, IMG_OP_SOBEL, NULL, &src, &dst, &threads), 0);
    CHECK_EQ(threads, 1);
    CHECK(memcmp(dst.data, want.data, want.stride * (size_t)want.height) == 0);
    struct pl_queue_node other;
    CHECK(!pl_bands_drop_token(bands, &other));
    img_buf_finish(&dst);
    pl_bands_destroy(bands);
    pl_bands_destroy(NULL);
    pl_queue_destroy(todo);
    img_buf_finish(&want);
    free(src.data);
}

int main(void)
{
    test_every_operator();
    test_canny_options();
    test_refusals();
    test_unsplit();
    test_pool();
    printf("bands: all tests passed\n");
    return 0;
}
