/* Row bands across idle workers (bands.h).
 *
 * A split lives on the stack of the worker that made it (its owner) and is
 * listed on the board while it has bands nobody has claimed. Anyone holding
 * the board's lock claims the next band; the owner claims bands until none
 * is left, then waits until the bands others claimed are finished, then runs
 * the operator's serial tail (img_bands_finish). The owner only ever waits
 * for bands that are running, never for a thread to turn up, so a split
 * cannot deadlock whatever the other workers are doing.
 *
 * Idle workers block in pl_queue_pop on the job queue, the one thing the
 * loop thread signals. To wake them the owner pushes wake tokens into that
 * queue: nodes owned by the board, each in the queue at most once. A token
 * names no split: whoever pops it looks at the board, helps with what is
 * open (maybe nothing, when the owner was quicker) and goes back to the
 * queue, so a token popped late (behind a job) is harmless and a split
 * never waits for its tokens. A worker that finishes its job looks at the
 * board before it blocks, so it joins splits made while it was busy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "bands.h"

/* More bands than threads, so a thread that starts late or runs slower
 * (sharing its core) still gets a fair share: the bands are claimed one at a
 * time. */
#define BANDS_PER_THREAD 4
/* Below this a Canny band's extra rows (four blurred halo rows and the
 * blur's warm-up) would be a noticeable part of its work. */
#define MIN_BAND_ROWS 64

struct wake_token {
    struct pl_queue_node node;
    bool queued; /* in `todo` now; under the board's lock */
};

struct split {
    uint64_t id; /* tells a helper it moved on to another split */
    /* Runs band `band` of `work`; called without the lock, for distinct
     * bands at once. */
    int (*run)(const struct split *split, int band);
    void *work; /* struct img_bands or struct img_png_bands */
    int height;
    int band_rows;
    int band_count;
    int next_band;  /* the first band nobody has claimed */
    int unfinished; /* bands not finished, claimed or not */
    int error;      /* the first band's failure */
    unsigned threads;
    struct io_list open; /* on the board's open list while bands are unclaimed */
};

struct pl_bands {
    uv_mutex_t lock;
    uv_cond_t band_done; /* some split's last band finished */
    struct pl_queue *todo;
    uint64_t min_pixels;
    unsigned idle;       /* workers blocked (or about to block) in pl_queue_pop */
    struct io_list open; /* splits with unclaimed bands, oldest first */
    uint64_t last_split_id;
    struct wake_token *tokens;
    unsigned token_count;
};

int pl_bands_create(struct pl_queue *todo, unsigned worker_count, uint64_t min_pixels,
                    struct pl_bands **out)
{
    int rc;
    *out = NULL;
    struct pl_bands *bands = calloc(1, sizeof(*bands));
    if (bands == NULL)
        return -ENOMEM;
    io_list_init(&bands->open);
    bands->todo = todo;
    bands->min_pixels = min_pixels;
    bands->token_count = worker_count;
    bands->tokens = calloc(worker_count ? worker_count : 1, sizeof(*bands->tokens));
    if (bands->tokens == NULL) {
        rc = -ENOMEM;
        goto fail_bands;
    }
    rc = uv_mutex_init(&bands->lock);
    if (rc < 0)
        goto fail_tokens;
    rc = uv_cond_init(&bands->band_done);
    if (rc < 0)
        goto fail_mutex;
    *out = bands;
    return 0;

fail_mutex:
    uv_mutex_destroy(&bands->lock);
fail_tokens:
    free(bands->tokens);
fail_bands:
    free(bands);
    return rc;
}

void pl_bands_destroy(struct pl_bands *bands)
{
    if (bands == NULL)
        return;
    uv_cond_destroy(&bands->band_done);
    uv_mutex_destroy(&bands->lock);
    free(bands->tokens);
    free(bands);
}

/* Claims the next band of `split` (lock held), taking the split off the open
 * list when that was its last one. Returns the band's index. */
static int claim_band(struct pl_bands *bands, struct split *split)
{
    int band = split->next_band++;
    (void)bands; /* the list's head is not needed to unlink */
    if (split->next_band == split->band_count)
        io_list_remove(&split->open);
    return band;
}

/* An operator band: rows [band * band_rows, ...) of img_bands. */
static int run_operator_band(const struct split *split, int band)
{
    int y0 = band * split->band_rows;
    int y1 = y0 + split->band_rows < split->height ? y0 + split->band_rows : split->height;
    return img_bands_run(split->work, y0, y1);
}

/* A PNG band: imaging chose the layout, a band is its index. */
static int run_png_band(const struct split *split, int band)
{
    return img_png_bands_run(split->work, band);
}

/* Runs a claimed band (lock not held) and counts it finished (lock held on
 * return). The split is alive while this band is unfinished; after a
 * split's last band is counted, its owner may return and the split is gone:
 * nothing here touches it after that. */
static void run_band(struct pl_bands *bands, struct split *split, bool skip, int band)
{
    int rc = skip ? 0 : split->run(split, band);
    uv_mutex_lock(&bands->lock);
    if (rc < 0 && split->error == 0)
        split->error = rc;
    if (--split->unfinished == 0)
        uv_cond_broadcast(&bands->band_done);
}

/* Runs bands of open splits until none is left; returns whether it ran any. */
static bool help(struct pl_bands *bands)
{
    bool helped = false;
    uint64_t last_id = 0;
    uv_mutex_lock(&bands->lock);
    while (!io_list_empty(&bands->open)) {
        struct split *split = IO_LIST_ENTRY(io_list_first(&bands->open), struct split, open);
        if (split->id != last_id) {
            split->threads++;
            last_id = split->id;
        }
        int band = claim_band(bands, split);
        bool skip = split->error != 0;
        uv_mutex_unlock(&bands->lock);
        run_band(bands, split, skip, band);
        helped = true;
    }
    uv_mutex_unlock(&bands->lock);
    return helped;
}

bool pl_bands_drop_token(struct pl_bands *bands, struct pl_queue_node *node)
{
    for (unsigned i = 0; i < bands->token_count; i++) {
        if (node == &bands->tokens[i].node) {
            uv_mutex_lock(&bands->lock);
            bands->tokens[i].queued = false;
            uv_mutex_unlock(&bands->lock);
            return true;
        }
    }
    return false;
}

struct pl_queue_node *pl_bands_next_job(struct pl_bands *bands)
{
    for (;;) {
        struct pl_queue_node *node = pl_queue_try_pop(bands->todo);
        if (node == NULL) {
            if (help(bands))
                continue;
            /* Counted idle before blocking: a split made from now on wakes
             * us with a token, one made before is on the board and was
             * just seen empty, or help() would have run it. */
            uv_mutex_lock(&bands->lock);
            bands->idle++;
            uv_mutex_unlock(&bands->lock);
            node = pl_queue_pop(bands->todo);
            uv_mutex_lock(&bands->lock);
            bands->idle--;
            uv_mutex_unlock(&bands->lock);
            if (node == NULL)
                return NULL;
        }
        if (!pl_bands_drop_token(bands, node))
            return node;
    }
}

/* How many threads to plan for: this one plus the idle workers, 1 when the
 * image should not be split. */
static unsigned threads_for(struct pl_bands *bands, const struct img_buf *src)
{
    if (bands == NULL || (uint64_t)src->width * (uint64_t)src->height < bands->min_pixels)
        return 1;
    /* A queued job will go to an idle worker: it is not idle for long. */
    if (pl_queue_length(bands->todo) > 0)
        return 1;
    uv_mutex_lock(&bands->lock);
    unsigned idle = bands->idle;
    uv_mutex_unlock(&bands->lock);
    return 1 + idle;
}

/* Wakes up to `wanted` idle workers with tokens not already queued (lock not
 * held: pushing takes the queue's lock, and the worker that pops a token
 * takes the board's, never the other way round). */
static void wake_helpers(struct pl_bands *bands, unsigned wanted)
{
    struct wake_token *chosen[64];
    unsigned count = 0;
    uv_mutex_lock(&bands->lock);
    for (unsigned i = 0;
         i < bands->token_count && count < wanted && count < sizeof(chosen) / sizeof(chosen[0]);
         i++) {
        if (!bands->tokens[i].queued) {
            bands->tokens[i].queued = true;
            chosen[count++] = &bands->tokens[i];
        }
    }
    uv_mutex_unlock(&bands->lock);
    for (unsigned i = 0; i < count; i++)
        pl_queue_push(bands->todo, &chosen[i]->node);
}

/* Posts `split` (its work, run and band fields set) on the board, wakes up
 * to `helpers` idle workers, runs bands until none is unclaimed and waits
 * for the ones others claimed. Returns the first band's failure or 0; sets
 * `*threads`. */
static int share(struct pl_bands *bands, struct split *split, unsigned helpers, unsigned *threads)
{
    split->next_band = 0;
    split->unfinished = split->band_count;
    split->error = 0;
    split->threads = 1;
    uv_mutex_lock(&bands->lock);
    split->id = ++bands->last_split_id;
    io_list_insert_tail(&bands->open, &split->open);
    uv_mutex_unlock(&bands->lock);
    wake_helpers(bands, helpers);

    uv_mutex_lock(&bands->lock);
    while (split->next_band < split->band_count) {
        int band = claim_band(bands, split);
        bool skip = split->error != 0;
        uv_mutex_unlock(&bands->lock);
        run_band(bands, split, skip, band);
    }
    while (split->unfinished > 0)
        uv_cond_wait(&bands->band_done, &bands->lock);
    int rc = split->error;
    *threads = split->threads;
    uv_mutex_unlock(&bands->lock);
    return rc;
}

int pl_bands_apply(struct pl_bands *bands, enum img_operator op,
                   const struct img_canny_options *canny, const struct img_buf *src,
                   struct img_buf *dst, unsigned *threads)
{
    return pl_bands_apply_cancel(bands, op, canny, NULL, src, dst, threads);
}

int pl_bands_apply_cancel(struct pl_bands *bands, enum img_operator op,
                          const struct img_canny_options *canny, const atomic_int *cancel,
                          const struct img_buf *src, struct img_buf *dst, unsigned *threads)
{
    *threads = 1;
    unsigned planned = src != NULL && src->width > 0 ? threads_for(bands, src) : 1;
    int band_rows = 0, band_count = 1;
    if (planned > 1) {
        int wanted = (int)(planned * BANDS_PER_THREAD);
        band_rows = (src->height + wanted - 1) / wanted;
        if (band_rows < MIN_BAND_ROWS)
            band_rows = MIN_BAND_ROWS;
        band_count = (src->height + band_rows - 1) / band_rows;
    }
    if (band_count < 2 && cancel == NULL)
        return img_apply_with(op, canny, src, dst);

    struct img_bands *work;
    int rc = img_bands_create(op, canny, src, dst, &work);
    if (rc < 0)
        return rc;
    img_bands_set_cancel(work, cancel);
    if (band_count < 2) {
        /* On this thread alone, as img_apply_with, but stoppable. */
        rc = img_bands_run(work, 0, src->height);
        if (rc == 0)
            rc = img_bands_finish(work);
        img_bands_destroy(work);
        if (rc < 0)
            img_buf_finish(dst);
        return rc;
    }
    struct split split = {
        .run = run_operator_band,
        .work = work,
        .height = src->height,
        .band_rows = band_rows,
        .band_count = band_count,
    };
    rc = share(bands, &split, planned - 1, threads);
    if (rc == 0)
        rc = img_bands_finish(work);
    img_bands_destroy(work);
    if (rc < 0)
        img_buf_finish(dst);
    return rc;
}

/* The encoder's failure, as a one-line reason in `err` (may be NULL). */
static void encode_error(int rc, char *err, size_t err_size)
{
    if (rc < 0 && err != NULL && err_size > 0)
        snprintf(err, err_size, "PNG encoder: %s",
                 rc == -ENOMEM      ? "out of memory"
                 : rc == -EFBIG     ? "image too large"
                 : rc == -EINVAL    ? "invalid image or level"
                 : rc == -ECANCELED ? "cancelled"
                                    : "zlib failed");
}

int pl_bands_encode_png(struct pl_bands *bands, const struct img_buf *gray, int level,
                        const char *source, uint8_t **png, size_t *png_size, unsigned *threads,
                        char *err, size_t err_size)
{
    return pl_bands_encode_png_cancel(bands, gray, level, source, NULL, png, png_size, threads, err,
                                      err_size);
}

int pl_bands_encode_png_cancel(struct pl_bands *bands, const struct img_buf *gray, int level,
                               const char *source, const atomic_int *cancel, uint8_t **png,
                               size_t *png_size, unsigned *threads, char *err, size_t err_size)
{
    unsigned used = 1;
    *png = NULL;
    *png_size = 0;
    struct img_png_bands *work;
    int rc = img_png_bands_create(gray, level, &work);
    if (rc < 0)
        goto out;
    if (source != NULL)
        img_png_bands_set_source(work, source);
    img_png_bands_set_cancel(work, cancel);
    int band_count = img_png_bands_count(work);
    unsigned planned = band_count > 1 ? threads_for(bands, gray) : 1;
    if (planned > 1) {
        struct split split = {
            .run = run_png_band,
            .work = work,
            .height = gray->height,
            .band_count = band_count,
        };
        rc = share(bands, &split, planned - 1, &used);
    } else {
        for (int band = 0; band < band_count && rc == 0; band++)
            rc = img_png_bands_run(work, band);
    }
    if (rc == 0)
        rc = img_png_bands_finish(work, png, png_size);
    img_png_bands_destroy(work);
out:
    if (threads != NULL)
        *threads = used;
    encode_error(rc, err, err_size);
    return rc;
}

/* Runs a fused pass's bands in order on this thread and encodes the PNG
 * into *png; takes `work` and destroys it. */
static int run_fused(struct img_png_bands *work, const char *source, const atomic_int *cancel,
                     uint8_t **png, size_t *png_size, uint64_t *operator_time)
{
    if (source != NULL)
        img_png_bands_set_source(work, source);
    img_png_bands_set_cancel(work, cancel);
    int rc = 0;
    for (int band = 0; band < img_png_bands_count(work) && rc == 0; band++)
        rc = img_png_bands_run(work, band);
    if (rc == 0)
        rc = img_png_bands_finish(work, png, png_size);
    *operator_time = img_png_bands_operator_time(work);
    img_png_bands_destroy(work);
    return rc;
}

int pl_bands_fused_png_cancel(struct pl_bands *bands, enum img_operator op,
                              const struct img_buf *src, int level, const char *source,
                              const atomic_int *cancel, uint64_t (*now)(void), uint8_t **png,
                              size_t *png_size, uint64_t *operator_time, char *err, size_t err_size)
{
    *png = NULL;
    *png_size = 0;
    *operator_time = 0;
    /* Where idle workers would share the operator, it runs apart
     * (pl_bands_apply_cancel): one thread's fused pass would take longer
     * than the split. */
    if (src == NULL || src->width <= 0 || threads_for(bands, src) > 1)
        return -ENOTSUP;
    struct img_png_bands *work;
    int rc = img_png_bands_create_fused(op, src, level, now, &work);
    if (rc == -ENOTSUP)
        return rc;
    if (rc == 0)
        rc = run_fused(work, source, cancel, png, png_size, operator_time);
    encode_error(rc, err, err_size);
    return rc;
}

bool pl_bands_fuses(struct pl_bands *bands, enum img_operator op, int width, int height)
{
    struct img_buf shape = {.width = width, .height = height, .channels = 1};
    return img_operator_fuses(op) && width > 0 && height > 0 && threads_for(bands, &shape) == 1;
}

int pl_bands_fused_png_rows(enum img_operator op, struct img_rows *rows, int level,
                            const char *source, const atomic_int *cancel, uint64_t (*now)(void),
                            uint8_t **png, size_t *png_size, uint64_t *operator_time, char *err,
                            size_t err_size)
{
    *png = NULL;
    *png_size = 0;
    *operator_time = 0;
    struct img_png_bands *work;
    /* run_fused runs the bands in order on this thread: the rows are
     * decoded once, from the top. */
    int rc = img_png_bands_create_fused_rows(op, rows, level, now, &work);
    if (rc == 0)
        rc = run_fused(work, source, cancel, png, png_size, operator_time);
    encode_error(rc, err, err_size);
    return rc;
}
