/* The per-host records: one per "host:port", owned by the loop thread like
 * the global semaphore. Two things live here: the per-host download cap
 * (jobs that find their host full wait on its FIFO in our queue, not in
 * curl's, so a transfer's timeout starts when it really starts), and the
 * host's health, so that a host that refuses or drops connections costs
 * about one connect timeout, not one per URL. */
#ifndef EDGEFETCH_PIPELINE_HOSTS_H
#define EDGEFETCH_PIPELINE_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "list.h"
#include "pipeline.h"

/* Consecutive connect failures (refused, or connect timed out) after which a
 * host is taken for unreachable for the rest of the run: its waiting and
 * later items fail at once. Three: one is a blip, two in a row can be a
 * restart; the probe rule below makes each of them cost one transfer. */
#define PL_HOST_DOWN_AFTER 3

struct pl_host {
    char *key;
    unsigned in_flight;
    struct io_list waiting;  /* jobs in JOB_WAIT_HOST, oldest first */
    struct io_list runnable; /* linked while in pl_hosts' runnable FIFO */
    /* Health: connect failures since the last transfer that connected, and
     * which kind they were (for the reason given to the items). */
    unsigned connect_failures;
    unsigned refused;
    unsigned timed_out;
    bool down;
};

struct pl_hosts;

int pl_hosts_create(struct pl_hosts **out);
/* Accepts NULL. */
void pl_hosts_destroy(struct pl_hosts *hosts);
/* The record of `url`'s host, created on first use; NULL when the URL has no
 * usable host or memory ran out (the caller then applies the global cap only). */
struct pl_host *pl_hosts_get(struct pl_hosts *hosts, const char *url);

/* Transfers `host` may have in flight now: `max_per_host` (0 = no cap of its
 * own) while healthy, 1 (one probe at a time) after a connect failure until
 * a transfer connects again, 0 once down. */
unsigned pl_host_capacity(const struct pl_host *host, unsigned max_per_host);

/* What a finished transfer says about its host. */
enum pl_host_outcome {
    PL_HOST_NO_VERDICT = 0, /* cancelled, name not resolved, out of memory: nothing */
    PL_HOST_CONNECTED,      /* a connection was up: the host answers */
    PL_HOST_REFUSED,        /* no connection: refused (or no route) */
    PL_HOST_TIMED_OUT,      /* no connection within the connect timeout */
};

/* Records how a transfer to `host` ended: a connect failure counts towards
 * PL_HOST_DOWN_AFTER, a transfer that connected resets the count, no
 * verdict changes nothing. Returns true when this call took the host down.
 * A host that is down stays down for the rest of the run. */
bool pl_host_record(struct pl_host *host, enum pl_host_outcome outcome);

/* The reason given to the items of a host that is down, e.g. "host
 * unreachable: 3 connects timed out". */
void pl_host_down_reason(const struct pl_host *host, char *buf, size_t size);

/* Hosts that have waiting jobs and just got room, FIFO (round robin). */
void pl_hosts_mark_runnable(struct pl_hosts *hosts, struct pl_host *host);
struct pl_host *pl_hosts_next_runnable(struct pl_hosts *hosts);
bool pl_hosts_any_runnable(const struct pl_hosts *hosts);

#endif
