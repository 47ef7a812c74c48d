#include <errno.h>
#include <stdlib.h>

#include <uv.h>

#include "pipeline.h"

struct pl_queue {
    uv_mutex_t lock;
    uv_cond_t nonempty;
    struct io_list nodes; /* struct pl_queue_node, oldest first */
    size_t length;
    bool closed;
};

int pl_queue_create(struct pl_queue **out)
{
    int rc;
    struct pl_queue *queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return -ENOMEM;
    io_list_init(&queue->nodes);
    rc = uv_mutex_init(&queue->lock);
    if (rc < 0)
        goto fail_free;
    rc = uv_cond_init(&queue->nonempty);
    if (rc < 0)
        goto fail_mutex;
    *out = queue;
    return 0;

fail_mutex:
    uv_mutex_destroy(&queue->lock);
fail_free:
    free(queue);
    return rc;
}

void pl_queue_destroy(struct pl_queue *queue)
{
    if (queue == NULL)
        return;
    uv_cond_destroy(&queue->nonempty);
    uv_mutex_destroy(&queue->lock);
    free(queue);
}

void pl_queue_push(struct pl_queue *queue, struct pl_queue_node *node)
{
    uv_mutex_lock(&queue->lock);
    io_list_insert_tail(&queue->nodes, &node->link);
    queue->length++;
    uv_cond_signal(&queue->nonempty);
    uv_mutex_unlock(&queue->lock);
}

static struct pl_queue_node *take_head(struct pl_queue *queue)
{
    struct io_list *link = io_list_pop_first(&queue->nodes);
    if (link == NULL)
        return NULL;
    queue->length--;
    return IO_LIST_ENTRY(link, struct pl_queue_node, link);
}

struct pl_queue_node *pl_queue_pop(struct pl_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    while (io_list_empty(&queue->nodes) && !queue->closed)
        uv_cond_wait(&queue->nonempty, &queue->lock);
    struct pl_queue_node *node = take_head(queue);
    uv_mutex_unlock(&queue->lock);
    return node;
}

struct pl_queue_node *pl_queue_try_pop(struct pl_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    struct pl_queue_node *node = take_head(queue);
    uv_mutex_unlock(&queue->lock);
    return node;
}

bool pl_queue_remove(struct pl_queue *queue, struct pl_queue_node *node)
{
    /* Membership is looked up, not read off the node: a popped node's link
     * is its taker's to reuse (a worker links a finished job into the run's
     * done list with it), so "linked" does not mean "queued here", and the
     * link may be changing under another lock. The queue is short (at most
     * the run's room) and this runs only when a run stops. */
    bool queued = false;
    uv_mutex_lock(&queue->lock);
    struct io_list *link;
    IO_LIST_FOREACH(link, &queue->nodes) {
        if (link == &node->link) {
            queued = true;
            break;
        }
    }
    if (queued) {
        io_list_remove(&node->link);
        queue->length--;
    }
    uv_mutex_unlock(&queue->lock);
    return queued;
}

void pl_queue_close(struct pl_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    queue->closed = true;
    uv_cond_broadcast(&queue->nonempty);
    uv_mutex_unlock(&queue->lock);
}

size_t pl_queue_length(struct pl_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    size_t length = queue->length;
    uv_mutex_unlock(&queue->lock);
    return length;
}
