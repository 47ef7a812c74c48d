#include <errno.h>
#include <stdlib.h>

#include <uv.h>

#include "pipeline.h"

struct pl_queue {
    uv_mutex_t lock;
    uv_cond_t nonempty;
    struct pl_queue_node *head;
    struct pl_queue_node *tail;
    size_t length;
    bool closed;
};

int pl_queue_create(struct pl_queue **out)
{
    int rc;
    struct pl_queue *queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return -ENOMEM;
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
    node->next = NULL;
    uv_mutex_lock(&queue->lock);
    if (queue->tail != NULL)
        queue->tail->next = node;
    else
        queue->head = node;
    queue->tail = node;
    queue->length++;
    uv_cond_signal(&queue->nonempty);
    uv_mutex_unlock(&queue->lock);
}

static struct pl_queue_node *take_head(struct pl_queue *queue)
{
    struct pl_queue_node *node = queue->head;
    if (node == NULL)
        return NULL;
    queue->head = node->next;
    if (queue->head == NULL)
        queue->tail = NULL;
    queue->length--;
    node->next = NULL;
    return node;
}

struct pl_queue_node *pl_queue_pop(struct pl_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    while (queue->head == NULL && !queue->closed)
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
