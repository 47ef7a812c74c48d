/* The streamed list's rows between the reader thread and the loop thread
 * (pipeline.h): a ring of a fixed number of rows under one lock. Its bound
 * is the back-pressure on the list's producer: when the loop does not take
 * rows (every download slot busy, the gate held), the reader blocks in push,
 * stops reading, and a pipe's writer blocks in turn. */
#include <errno.h>
#include <stdlib.h>

#include <uv.h>

#include "pipeline.h"

struct pl_row_queue {
    uv_mutex_t lock;
    uv_cond_t not_full;
    struct pl_row *rows; /* a ring of `capacity` */
    size_t capacity;
    size_t first;  /* the oldest row's slot */
    size_t length; /* rows queued */
    bool finished; /* the producer said it has no more */
    int status;    /* its status then */
    bool closed;   /* the consumer takes no more: push fails */
};

int pl_row_queue_create(size_t capacity, struct pl_row_queue **out)
{
    int rc = -ENOMEM;
    struct pl_row_queue *queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return -ENOMEM;
    queue->capacity = capacity > 0 ? capacity : 1;
    queue->rows = calloc(queue->capacity, sizeof(*queue->rows));
    if (queue->rows == NULL)
        goto fail_free;
    rc = uv_mutex_init(&queue->lock);
    if (rc < 0)
        goto fail_rows;
    rc = uv_cond_init(&queue->not_full);
    if (rc < 0)
        goto fail_mutex;
    *out = queue;
    return 0;

fail_mutex:
    uv_mutex_destroy(&queue->lock);
fail_rows:
    free(queue->rows);
fail_free:
    free(queue);
    return rc;
}

void pl_row_queue_destroy(struct pl_row_queue *queue)
{
    if (queue == NULL)
        return;
    for (size_t i = 0; i < queue->length; i++)
        free(queue->rows[(queue->first + i) % queue->capacity].url);
    uv_cond_destroy(&queue->not_full);
    uv_mutex_destroy(&queue->lock);
    free(queue->rows);
    free(queue);
}

int pl_row_queue_push(struct pl_row_queue *queue, const struct pl_row *row)
{
    uv_mutex_lock(&queue->lock);
    while (queue->length == queue->capacity && !queue->closed)
        uv_cond_wait(&queue->not_full, &queue->lock);
    if (queue->closed) {
        uv_mutex_unlock(&queue->lock);
        return -ECANCELED;
    }
    bool was_empty = queue->length == 0;
    queue->rows[(queue->first + queue->length) % queue->capacity] = *row;
    queue->length++;
    uv_mutex_unlock(&queue->lock);
    return was_empty ? 1 : 0;
}

void pl_row_queue_finish(struct pl_row_queue *queue, int status)
{
    uv_mutex_lock(&queue->lock);
    queue->finished = true;
    queue->status = status;
    uv_mutex_unlock(&queue->lock);
}

bool pl_row_queue_pop(struct pl_row_queue *queue, struct pl_row *row)
{
    uv_mutex_lock(&queue->lock);
    bool got = queue->length > 0;
    if (got) {
        *row = queue->rows[queue->first];
        queue->first = (queue->first + 1) % queue->capacity;
        queue->length--;
        uv_cond_signal(&queue->not_full);
    }
    uv_mutex_unlock(&queue->lock);
    return got;
}

bool pl_row_queue_ended(struct pl_row_queue *queue, int *status)
{
    uv_mutex_lock(&queue->lock);
    bool ended = queue->finished && queue->length == 0;
    if (ended)
        *status = queue->status;
    uv_mutex_unlock(&queue->lock);
    return ended;
}

void pl_row_queue_close(struct pl_row_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    queue->closed = true;
    uv_cond_broadcast(&queue->not_full);
    uv_mutex_unlock(&queue->lock);
}

size_t pl_row_queue_length(struct pl_row_queue *queue)
{
    uv_mutex_lock(&queue->lock);
    size_t length = queue->length;
    uv_mutex_unlock(&queue->lock);
    return length;
}
