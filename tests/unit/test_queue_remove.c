/* pl_queue_remove, which a stopped run uses to take back the jobs no worker
 * has popped yet (pipeline/cancel.c): it must answer "still in this queue",
 * also for a node its taker has since linked into another list with the same
 * link, as a worker does with a finished job (the run's done list). It once
 * read "linked" as "queued": a finished job on its way back, its output
 * already renamed into place, was then reported cancelled (test_stop_race.py
 * is the run that showed it). */
#include <uv.h>

#include "check.h"
#include "list.h"
#include "pipeline.h"

struct item {
    struct pl_queue_node node;
    int value;
};

static void test_remove_queued(void)
{
    struct pl_queue *queue;
    struct item items[3];
    CHECK_EQ(pl_queue_create(&queue), 0);
    for (int i = 0; i < 3; i++) {
        items[i].value = i;
        pl_queue_push(queue, &items[i].node);
    }
    /* The middle one is taken back; the others come out in order. */
    CHECK(pl_queue_remove(queue, &items[1].node));
    CHECK_EQ(pl_queue_length(queue), 2);
    CHECK(!pl_queue_remove(queue, &items[1].node));
    CHECK(pl_queue_try_pop(queue) == &items[0].node);
    CHECK(pl_queue_try_pop(queue) == &items[2].node);
    CHECK(pl_queue_try_pop(queue) == NULL);
    CHECK_EQ(pl_queue_length(queue), 0);
    pl_queue_destroy(queue);
}

static void test_remove_popped_and_relinked(void)
{
    struct pl_queue *queue;
    struct item items[2];
    struct io_list done;
    io_list_init(&done);
    CHECK_EQ(pl_queue_create(&queue), 0);
    pl_queue_push(queue, &items[0].node);
    pl_queue_push(queue, &items[1].node);
    /* A worker pops the first, finishes it and links it into its done list
     * through the same link. */
    CHECK(pl_queue_pop(queue) == &items[0].node);
    io_list_insert_tail(&done, &items[0].node.link);
    CHECK(io_list_linked(&items[0].node.link));
    /* Not queued: left where it is, and the queue's count is untouched. */
    CHECK(!pl_queue_remove(queue, &items[0].node));
    CHECK(io_list_first(&done) == &items[0].node.link);
    CHECK_EQ(pl_queue_length(queue), 1);
    /* The one still queued is taken back. */
    CHECK(pl_queue_remove(queue, &items[1].node));
    CHECK_EQ(pl_queue_length(queue), 0);
    CHECK(pl_queue_try_pop(queue) == NULL);
    pl_queue_destroy(queue);
}

int main(void)
{
    test_remove_queued();
    test_remove_popped_and_relinked();
    puts("queue_remove: ok");
    return 0;
}
