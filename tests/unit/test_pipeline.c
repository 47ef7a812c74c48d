/* Unit tests for pipeline/'s building blocks: the download semaphore and the
 * hand-off queue (with real threads). */
#include <stdlib.h>

#include <uv.h>

#include "check.h"
#include "pipeline.h"

static void test_sem(void)
{
    struct pl_sem sem;
    pl_sem_init(&sem, 3);
    CHECK(pl_sem_try_acquire(&sem));
    CHECK(pl_sem_try_acquire(&sem));
    CHECK(pl_sem_try_acquire(&sem));
    /* Full: never lets a fourth start. */
    CHECK(!pl_sem_try_acquire(&sem));
    CHECK(!pl_sem_try_acquire(&sem));
    CHECK_EQ(sem.in_use, 3);
    pl_sem_release(&sem);
    CHECK(pl_sem_try_acquire(&sem));
    CHECK(!pl_sem_try_acquire(&sem));

    /* A random acquire/release walk never exceeds the capacity and the peak
     * reaches it. */
    pl_sem_init(&sem, 4);
    unsigned held = 0;
    srand(7);
    for (int i = 0; i < 100000; i++) {
        if (rand() % 2) {
            bool got = pl_sem_try_acquire(&sem);
            CHECK_EQ(got, held < 4);
            held += got;
        } else if (held > 0) {
            pl_sem_release(&sem);
            held--;
        }
        CHECK_LE(sem.in_use, 4);
        CHECK_EQ(sem.in_use, held);
    }
    CHECK_EQ(sem.peak, 4);

    pl_sem_init(&sem, 0);
    CHECK(!pl_sem_try_acquire(&sem));
}

struct item {
    struct pl_queue_node node;
    int value;
};

static void test_queue_fifo(void)
{
    struct pl_queue *queue;
    struct item items[5];
    CHECK_EQ(pl_queue_create(&queue), 0);
    CHECK(pl_queue_try_pop(queue) == NULL);
    for (int i = 0; i < 5; i++) {
        items[i].value = i;
        pl_queue_push(queue, &items[i].node);
    }
    CHECK_EQ(pl_queue_length(queue), 5);
    for (int i = 0; i < 5; i++) {
        struct item *got = (struct item *)pl_queue_pop(queue);
        CHECK(got != NULL);
        CHECK_EQ(got->value, i);
    }
    CHECK_EQ(pl_queue_length(queue), 0);
    /* Closed and drained: pop returns at once instead of blocking. */
    pl_queue_push(queue, &items[0].node);
    pl_queue_close(queue);
    CHECK(pl_queue_pop(queue) == &items[0].node);
    CHECK(pl_queue_pop(queue) == NULL);
    pl_queue_destroy(queue);
}

#define CONSUMERS 4
#define ITEMS 20000

struct consumer {
    struct pl_queue *queue;
    long sum;
    int count;
};

static void consume(void *arg)
{
    struct consumer *c = arg;
    struct pl_queue_node *node;
    while ((node = pl_queue_pop(c->queue)) != NULL) {
        c->sum += ((struct item *)node)->value;
        c->count++;
    }
}

static void test_queue_threads(void)
{
    struct pl_queue *queue;
    struct consumer consumers[CONSUMERS];
    uv_thread_t threads[CONSUMERS];
    struct item *items = calloc(ITEMS, sizeof(*items));
    CHECK(items != NULL);
    CHECK_EQ(pl_queue_create(&queue), 0);
    for (int i = 0; i < CONSUMERS; i++) {
        consumers[i] = (struct consumer){.queue = queue};
        CHECK_EQ(uv_thread_create(&threads[i], consume, &consumers[i]), 0);
    }
    long expected = 0;
    for (int i = 0; i < ITEMS; i++) {
        items[i].value = i;
        expected += i;
        pl_queue_push(queue, &items[i].node);
    }
    pl_queue_close(queue);
    long sum = 0;
    int count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        CHECK_EQ(uv_thread_join(&threads[i]), 0);
        sum += consumers[i].sum;
        count += consumers[i].count;
    }
    /* Every item consumed exactly once. */
    CHECK_EQ(count, ITEMS);
    CHECK_EQ(sum, expected);
    pl_queue_destroy(queue);
    free(items);
}

int main(void)
{
    test_sem();
    test_queue_fifo();
    test_queue_threads();
    printf("pipeline: all tests passed\n");
    return 0;
}
