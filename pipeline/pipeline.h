/* pipeline: the run — the URL queue, the download-slot semaphore, the worker
 * pool and the hand-off between them, shutdown and signals. It owns the order
 * of events; the work itself is io's and imaging's. */
#ifndef EDGEFETCH_PIPELINE_H
#define EDGEFETCH_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imaging.h"
#include "io.h"

enum pl_mode {
    PL_CONCURRENT = 0, /* downloads overlap each other and the CPU stage */
    PL_SEQUENTIAL,     /* one item at a time: download, process, next */
};

struct pl_options {
    enum pl_mode mode;
    unsigned max_downloads; /* transfers in flight at most (concurrent mode) */
    unsigned workers;       /* CPU-stage threads (concurrent mode) */
    enum img_operator op;
    int png_level;
    uint64_t max_pixels;
    const char *output_dir;
    struct io_http_options http;
    /* Transient download failures (see io_http_result.transient) are tried
     * again up to `retries` times, after base * 2^(try-1) seconds with
     * jitter (half to all of it), or after the server's Retry-After clamped
     * to retry_after_max_s. */
    unsigned retries;
    double retry_base_s;
    double retry_after_max_s;
};

enum pl_status {
    PL_ITEM_OK = 0,
    PL_ITEM_FAILED,
    PL_ITEM_CANCELLED, /* stopped or never started because of a signal */
};

/* One finished item, as handed to pl_item_cb. Strings live as long as the
 * callback runs. Times are seconds. */
struct pl_item {
    size_t index; /* position among the run's unique items, 0-based */
    unsigned line;
    const char *url;
    const char *output_name; /* NULL when the URL was refused before I/O */
    enum pl_status status;
    int error;          /* negative errno-style code when failed */
    const char *stage;  /* "url", "download", "decode", "edge", "encode", "write" */
    const char *message;
    long http_status;
    size_t bytes;
    int width;
    int height;
    double queued_s; /* waiting for a download slot */
    double download_s;
    double decode_s;
    double edge_s;
    double encode_s; /* encode + atomic write */
};

typedef void (*pl_item_cb)(const struct pl_item *item, void *user);

struct pl_report {
    size_t items;      /* unique URLs */
    size_t ok;
    size_t failed;
    size_t cancelled;
    size_t duplicates; /* repeated URLs, fetched once */
    size_t retries;    /* download attempts beyond each item's first */
    uint64_t bytes;    /* body bytes downloaded */
    double wall_s;
    double download_s; /* sums over items */
    double decode_s;
    double edge_s;
    double encode_s;
    size_t peak_held;   /* most items between download start and CPU-stage end */
    size_t held_limit;  /* the back-pressure bound on that */
    int signal; /* the signal that stopped the run, or 0 */
};

/* Runs the whole list: checks URLs, dedups, names outputs, downloads and
 * processes every item, calling `on_item` (on the calling thread) as each
 * finishes. Returns 0 when the run itself worked — items may still have
 * failed, see `report` — or a negative code when it could not run. */
int pl_run(const struct pl_options *opts, const struct io_url_list *urls, pl_item_cb on_item,
           void *user, struct pl_report *report, char *err, size_t err_size);

/* ---- building blocks, public for their unit tests ---------------------- */

/* The download cap: a counter owned by the loop thread. try_acquire never
 * blocks; it fails when all slots are taken. */
struct pl_sem {
    unsigned capacity;
    unsigned in_use;
    unsigned peak;
};

void pl_sem_init(struct pl_sem *sem, unsigned capacity);
bool pl_sem_try_acquire(struct pl_sem *sem);
void pl_sem_release(struct pl_sem *sem);

/* A FIFO between threads: push never blocks (the producer bounds what it
 * pushes), pop blocks until an entry or close. Entries embed pl_queue_node. */
struct pl_queue_node {
    struct pl_queue_node *next;
};

struct pl_queue;

int pl_queue_create(struct pl_queue **out);
void pl_queue_destroy(struct pl_queue *queue);
void pl_queue_push(struct pl_queue *queue, struct pl_queue_node *node);
/* Blocks until a node is there (returns it) or the queue is closed and empty
 * (returns NULL). */
struct pl_queue_node *pl_queue_pop(struct pl_queue *queue);
/* Returns a node without waiting, or NULL. */
struct pl_queue_node *pl_queue_try_pop(struct pl_queue *queue);
/* Wakes every waiting pop; later pops return NULL once the queue is empty. */
void pl_queue_close(struct pl_queue *queue);
size_t pl_queue_length(struct pl_queue *queue);

#endif
