/* Unit tests for the streamed list's row queue (pipeline/rowqueue.c, issue
 * 13): order and wrap-around, push's 1 into an empty queue (the consumer's
 * wake-up), back-pressure (a push blocks while the queue is full and goes
 * on once a row is popped), close waking a blocked push, the producer's end
 * and status seen only once every row was popped, rows left freed. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "check.h"
#include "pipeline.h"

static struct pl_row make_row(uint64_t line)
{
    char text[32];
    snprintf(text, sizeof(text), "http://h/%llu", (unsigned long long)line);
    struct pl_row row = {.url = strdup(text), .line = line, .tag = line * 10};
    CHECK(row.url != NULL);
    return row;
}

static void test_order_and_end(void)
{
    struct pl_row_queue *queue;
    CHECK_EQ(pl_row_queue_create(3, &queue), 0);
    struct pl_row row;
    int status = 1;
    CHECK(!pl_row_queue_pop(queue, &row));
    CHECK(!pl_row_queue_ended(queue, &status));
    /* Wraps around the ring several times, in order. */
    uint64_t next_in = 1;
    uint64_t next_out = 1;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 2; i++) {
            struct pl_row in = make_row(next_in++);
            CHECK_EQ(pl_row_queue_push(queue, &in), i == 0 ? 1 : 0);
        }
        CHECK_EQ(pl_row_queue_length(queue), 2);
        for (int i = 0; i < 2; i++) {
            CHECK(pl_row_queue_pop(queue, &row));
            CHECK_EQ(row.line, next_out);
            CHECK_EQ(row.tag, next_out * 10);
            next_out++;
            free(row.url);
        }
    }
    struct pl_row last = make_row(99);
    CHECK_EQ(pl_row_queue_push(queue, &last), 1);
    pl_row_queue_finish(queue, -EINVAL);
    /* The end counts once the rows before it are taken. */
    CHECK(!pl_row_queue_ended(queue, &status));
    CHECK(pl_row_queue_pop(queue, &row));
    free(row.url);
    CHECK(pl_row_queue_ended(queue, &status));
    CHECK_EQ(status, -EINVAL);
    pl_row_queue_destroy(queue);
    pl_row_queue_destroy(NULL);
}

struct producer {
    struct pl_row_queue *queue;
    int rows;
    atomic_int pushed;
    int last_rc;
};

static void produce(void *arg)
{
    struct producer *producer = arg;
    for (int i = 0; i < producer->rows; i++) {
        struct pl_row row = make_row((uint64_t)i + 1);
        int rc = pl_row_queue_push(producer->queue, &row);
        producer->last_rc = rc;
        if (rc < 0) {
            free(row.url);
            return;
        }
        atomic_fetch_add(&producer->pushed, 1);
    }
    pl_row_queue_finish(producer->queue, 0);
}

/* Waits up to ~1 s for `pushed` to reach `want`, then a little more to see
 * it does not go past. */
static int settle(struct producer *producer, int want)
{
    for (int i = 0; i < 1000 && atomic_load(&producer->pushed) < want; i++)
        uv_sleep(1);
    uv_sleep(50);
    return atomic_load(&producer->pushed);
}

static void test_back_pressure(void)
{
    struct producer producer = {.rows = 100};
    CHECK_EQ(pl_row_queue_create(4, &producer.queue), 0);
    uv_thread_t thread;
    CHECK_EQ(uv_thread_create(&thread, produce, &producer), 0);
    /* Full at 4: the producer blocks in its fifth push. */
    CHECK_EQ(settle(&producer, 4), 4);
    struct pl_row row;
    CHECK(pl_row_queue_pop(producer.queue, &row));
    CHECK_EQ(row.line, 1);
    free(row.url);
    CHECK_EQ(settle(&producer, 5), 5);
    /* Everything comes through in order once the consumer keeps up. */
    uint64_t next = 2;
    int status = 1;
    while (!pl_row_queue_ended(producer.queue, &status)) {
        if (pl_row_queue_pop(producer.queue, &row)) {
            CHECK_EQ(row.line, next);
            next++;
            free(row.url);
        } else {
            uv_sleep(1);
        }
    }
    CHECK_EQ(next, 101);
    CHECK_EQ(status, 0);
    uv_thread_join(&thread);
    pl_row_queue_destroy(producer.queue);
}

static void test_close_wakes_push(void)
{
    struct producer producer = {.rows = 100};
    CHECK_EQ(pl_row_queue_create(2, &producer.queue), 0);
    uv_thread_t thread;
    CHECK_EQ(uv_thread_create(&thread, produce, &producer), 0);
    CHECK_EQ(settle(&producer, 2), 2);
    pl_row_queue_close(producer.queue);
    uv_thread_join(&thread); /* returns: the blocked push gave up */
    CHECK_EQ(producer.last_rc, -ECANCELED);
    struct pl_row row = make_row(7);
    CHECK_EQ(pl_row_queue_push(producer.queue, &row), -ECANCELED);
    free(row.url);
    /* The two rows queued are still there to drain; destroy frees them
     * otherwise (the leak check of the sanitizer build says so). */
    CHECK(pl_row_queue_pop(producer.queue, &row));
    free(row.url);
    pl_row_queue_destroy(producer.queue);
}

int main(void)
{
    test_order_and_end();
    test_back_pressure();
    test_close_wakes_push();
    return 0;
}
