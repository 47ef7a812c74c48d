/* The run's memory budget (--max-memory): bytes the CPU stages of all
 * workers may hold at once. A worker reserves an item's estimate
 * (imaging's img_probe_item peak_bytes) before decoding and releases it
 * when the item's buffers are freed. Private to pipeline/ (workers.c and
 * the unit tests). */
#ifndef EDGEFETCH_PIPELINE_BUDGET_H
#define EDGEFETCH_PIPELINE_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Reservations are served in the order they were asked for: a large item
 * that waits for room is not overtaken forever by small ones (which would
 * starve it on a long list). A waiter holds nothing of the budget, so a
 * wait always ends: the holders release without needing anything more. */
struct pl_budget {
    uv_mutex_t lock;
    uv_cond_t changed; /* a release, a turn passed on, or cancel */
    size_t capacity;
    size_t reserved;      /* under lock */
    size_t peak;          /* most reserved at once, under lock */
    uint64_t next_ticket; /* the next reservation's turn */
    uint64_t serving;     /* the turn that may reserve now */
    bool cancelled;
};

/* `capacity` > 0 bytes. Returns 0 or libuv's error creating the lock. */
int pl_budget_init(struct pl_budget *budget, size_t capacity);
/* No thread may be inside pl_budget_reserve. */
void pl_budget_finish(struct pl_budget *budget);
/* Takes `bytes`, waiting (in turn) until they fit. Returns 0; -E2BIG at
 * once when bytes > capacity (it can never fit; nothing waits); -ECANCELED
 * once pl_budget_cancel was called (waiters wake up; nothing is reserved). */
int pl_budget_reserve(struct pl_budget *budget, size_t bytes);
/* Gives back `bytes` of an earlier reservation; accepts 0. */
void pl_budget_release(struct pl_budget *budget, size_t bytes);
/* The run stops: every waiter returns -ECANCELED, and so does every later
 * reserve. Safe from any thread. */
void pl_budget_cancel(struct pl_budget *budget);
/* Snapshot of the bytes reserved now, and the peak (for tests and reports). */
size_t pl_budget_reserved(struct pl_budget *budget, size_t *peak);

#endif
