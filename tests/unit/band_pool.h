/* Worker threads around a pl_queue and a pl_bands board, for the unit tests of
 * row bands (test_bands.c: operators, test_png_bands.c: the PNG encoder). Each
 * worker takes jobs with pl_bands_next_job (so idle workers join a split) and
 * runs `run` on each; `mark_done` is called under the pool's lock, then the
 * finished count the test waits on goes up. Static inline: each test
 * executable includes it once. Failures abort (check.h). */
#ifndef EDGEFETCH_BAND_POOL_H
#define EDGEFETCH_BAND_POOL_H

#include <uv.h>

#include "bands.h"
#include "check.h"
#include "pipeline.h"

#define BAND_POOL_WORKERS 3

struct band_pool {
    struct pl_queue *todo;
    struct pl_bands *bands;
    uv_mutex_t lock;
    uv_cond_t finished;
    int finished_count;
    void (*run)(struct pl_bands *bands, struct pl_queue_node *job);
    void (*mark_done)(struct pl_queue_node *job);
    uv_thread_t threads[BAND_POOL_WORKERS];
};

static inline void band_pool_worker(void *arg)
{
    struct band_pool *pool = arg;
    struct pl_queue_node *node;
    while ((node = pl_bands_next_job(pool->bands)) != NULL) {
        pool->run(pool->bands, node);
        uv_mutex_lock(&pool->lock);
        pool->mark_done(node);
        pool->finished_count++;
        uv_cond_signal(&pool->finished);
        uv_mutex_unlock(&pool->lock);
    }
}

/* `min_pixels`: the board's size bar, low in the tests so their images split. */
static inline void band_pool_start(struct band_pool *pool, size_t min_pixels,
                                   void (*run)(struct pl_bands *, struct pl_queue_node *),
                                   void (*mark_done)(struct pl_queue_node *))
{
    *pool = (struct band_pool){.run = run, .mark_done = mark_done};
    CHECK_EQ(pl_queue_create(&pool->todo), 0);
    CHECK_EQ(pl_bands_create(pool->todo, BAND_POOL_WORKERS, min_pixels, &pool->bands), 0);
    CHECK_EQ(uv_mutex_init(&pool->lock), 0);
    CHECK_EQ(uv_cond_init(&pool->finished), 0);
    for (int i = 0; i < BAND_POOL_WORKERS; i++)
        CHECK_EQ(uv_thread_create(&pool->threads[i], band_pool_worker, pool), 0);
}

/* Until `count` jobs in all have finished. */
static inline void band_pool_wait(struct band_pool *pool, int count)
{
    uv_mutex_lock(&pool->lock);
    while (pool->finished_count < count)
        uv_cond_wait(&pool->finished, &pool->lock);
    uv_mutex_unlock(&pool->lock);
}

/* Closes the queue, joins the workers (the queue must then be empty: no wake
 * token is left behind), frees the board. */
static inline void band_pool_stop(struct band_pool *pool)
{
    pl_queue_close(pool->todo);
    for (int i = 0; i < BAND_POOL_WORKERS; i++)
        CHECK_EQ(uv_thread_join(&pool->threads[i]), 0);
    CHECK_EQ(pl_queue_length(pool->todo), 0);
    pl_bands_destroy(pool->bands);
    pl_queue_destroy(pool->todo);
    uv_cond_destroy(&pool->finished);
    uv_mutex_destroy(&pool->lock);
}

#endif
