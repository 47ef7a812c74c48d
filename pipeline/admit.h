/* The admission policy: what the loop starts next. A pure function of a
 * few numbers and flags (curl's add_parallel_transfers is the model), so it
 * is tested without curl, sockets or a loop (tests/unit/test_admit.c); the
 * loop fills the state from the run and applies the answer (download.c). */
#ifndef EDGEFETCH_PIPELINE_ADMIT_H
#define EDGEFETCH_PIPELINE_ADMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"

struct pl_admit_state {
    enum pl_gate gate;   /* the admission gate's answer (OPEN without one) */
    bool stopping;       /* a signal came or the run is closing: start nothing */
    unsigned slots_free; /* download slots (-j) not taken */
    size_t room_free;    /* pipeline room: bodies that may still be held */
    bool retry_ready;    /* a job's backoff is over (JOB_READY) */
    bool host_ready;     /* a host with waiting jobs has room for one more */
    bool list_left;      /* lines of the list not started yet */
    /* PL_PARKED_MAX jobs already wait for busy or failing hosts: take no new
     * line until some start (they would only be parked too). */
    bool parking_full;
};

/* Jobs parked on their hosts (JOB_WAIT_HOST) at most: about 12 MiB of
 * records. It bounds memory when one host of a long list is capped
 * (--max-per-host) or being probed; the list waits meanwhile, at worst one
 * connect timeout for a failing host. */
#define PL_PARKED_MAX 65536

enum pl_admit {
    PL_ADMIT_NONE = 0, /* nothing to start now: a release, a timer or a host calls again */
    PL_ADMIT_RETRY,    /* start the oldest job whose backoff is over */
    PL_ADMIT_HOST,     /* start the oldest waiting job of the next runnable host */
    PL_ADMIT_NEW,      /* take the next line of the list */
    PL_ADMIT_HOLD,     /* the gate holds: ask again after a while */
    PL_ADMIT_STOP,     /* the gate says stop: stop as on SIGTERM */
};

/* The rules, in order:
 * 1. stopping already: NONE;
 * 2. the gate says STOP: STOP, whatever else (the caller's output is gone);
 * 3. nothing left to start, no free download slot or no pipeline room: NONE.
 *    Every start takes one of each, and a job that waits (backoff,
 *    Retry-After, busy host) holds neither, so capacity is only ever held by
 *    transfers and bodies. A HOLD is not polled then: a release calls again;
 * 4. the gate says HOLD: HOLD;
 * 5. retries whose wait is over first (they have waited already), then jobs
 *    waiting for a host that has room again, then new lines of the list
 *    unless parking is full.
 * A new line whose host turns out full or down takes nothing either: it is
 * parked or failed and the caller asks again. */
enum pl_admit pl_admit_next(const struct pl_admit_state *state);

#endif
