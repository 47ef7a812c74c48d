#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "output.h"

/* Two buffers: the loop thread appends to `pending` while the writer thread
 * writes `writing` without the lock, then they swap. */
struct output {
    int fd;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;    /* to the writer: data, or closing */
    uv_cond_t drained; /* from the writer: a write is done */
    char *pending;
    size_t pending_size;
    size_t pending_cap;
    size_t writing_size; /* bytes the writer holds, still unwritten */
    bool holding;        /* the gate said HOLD and has not opened since */
    bool closing;
    int error; /* first write error, negative */
};

/* Writes all of `data`, waiting out a descriptor that was left non-blocking
 * (a terminal shared with another program) or a signal. */
static int write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t written = write(fd, data, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd wait = {.fd = fd, .events = POLLOUT};
            if (poll(&wait, 1, -1) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        if (written < 0)
            return -errno;
        data += written;
        size -= (size_t)written;
    }
    return 0;
}

static void writer_main(void *arg)
{
    struct output *output = arg;
    char *writing = NULL;
    size_t writing_cap = 0;

    uv_mutex_lock(&output->lock);
    for (;;) {
        while (output->pending_size == 0 && !output->closing)
            uv_cond_wait(&output->wake, &output->lock);
        if (output->pending_size == 0)
            break; /* closing, and everything written */
        /* Swap: the loop thread appends into the buffer this one drained. */
        char *full = output->pending;
        size_t full_cap = output->pending_cap;
        size_t size = output->pending_size;
        output->pending = writing;
        output->pending_cap = writing_cap;
        output->pending_size = 0;
        writing = full;
        writing_cap = full_cap;
        output->writing_size = size;
        bool failed = output->error != 0;
        uv_mutex_unlock(&output->lock);

        int rc = failed ? 0 : write_all(output->fd, writing, size);

        uv_mutex_lock(&output->lock);
        output->writing_size = 0;
        if (rc < 0 && output->error == 0)
            output->error = rc;
        uv_cond_broadcast(&output->drained);
    }
    uv_mutex_unlock(&output->lock);
    free(writing);
}

int output_create(int fd, struct output **out)
{
    struct output *output = calloc(1, sizeof(*output));
    int rc;
    if (output == NULL)
        return -ENOMEM;
    output->fd = fd;
    rc = uv_mutex_init(&output->lock);
    if (rc < 0)
        goto fail;
    rc = uv_cond_init(&output->wake);
    if (rc < 0)
        goto fail_mutex;
    rc = uv_cond_init(&output->drained);
    if (rc < 0)
        goto fail_wake;
    rc = uv_thread_create(&output->thread, writer_main, output);
    if (rc < 0)
        goto fail_drained;
    *out = output;
    return 0;

fail_drained:
    uv_cond_destroy(&output->drained);
fail_wake:
    uv_cond_destroy(&output->wake);
fail_mutex:
    uv_mutex_destroy(&output->lock);
fail:
    free(output);
    return rc;
}

int output_destroy(struct output *output)
{
    if (output == NULL)
        return 0;
    uv_mutex_lock(&output->lock);
    output->closing = true;
    uv_cond_signal(&output->wake);
    uv_mutex_unlock(&output->lock);
    uv_thread_join(&output->thread);
    uv_cond_destroy(&output->drained);
    uv_cond_destroy(&output->wake);
    uv_mutex_destroy(&output->lock);
    int error = output->error;
    free(output->pending);
    free(output);
    return error;
}

int output_append(struct output *output, const char *data, size_t size)
{
    int rc = 0;
    uv_mutex_lock(&output->lock);
    while (output->error == 0 && output->pending_size + output->writing_size >= OUTPUT_HARD_CAP)
        uv_cond_wait(&output->drained, &output->lock);
    if (output->error != 0)
        goto out;
    if (output->pending_cap - output->pending_size < size) {
        size_t cap = output->pending_cap ? output->pending_cap : 4096;
        while (cap - output->pending_size < size)
            cap *= 2;
        char *grown = realloc(output->pending, cap);
        if (grown == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        output->pending = grown;
        output->pending_cap = cap;
    }
    memcpy(output->pending + output->pending_size, data, size);
    output->pending_size += size;
    uv_cond_signal(&output->wake);
out:
    uv_mutex_unlock(&output->lock);
    return rc;
}

enum pl_gate output_gate(void *user)
{
    struct output *output = user;
    enum pl_gate gate;
    uv_mutex_lock(&output->lock);
    size_t unwritten = output->pending_size + output->writing_size;
    if (output->error != 0) {
        gate = PL_GATE_STOP;
    } else {
        /* Hysteresis: once held, the run waits until the reader has taken
         * most of it, rather than starting one transfer per line read. */
        if (unwritten >= OUTPUT_HIGH_WATER)
            output->holding = true;
        else if (unwritten <= OUTPUT_LOW_WATER)
            output->holding = false;
        gate = output->holding ? PL_GATE_HOLD : PL_GATE_OPEN;
    }
    uv_mutex_unlock(&output->lock);
    return gate;
}

int output_error(struct output *output)
{
    uv_mutex_lock(&output->lock);
    int error = output->error;
    uv_mutex_unlock(&output->lock);
    return error;
}
