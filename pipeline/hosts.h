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
#include <stdint.h>

#include "list.h"
#include "pipeline.h"

/* A host's health. A host never connected to runs one transfer until it
 * connects: its URLs that come together would otherwise all be in flight
 * before the first connect times out, each holding a slot for a whole
 * --connect-timeout. Its other transfers start as soon as io's connected
 * callback says the first connection is up (its TCP connect, before TLS),
 * not when the first transfer ends: a good host pays one TCP handshake, not
 * a body. (A host that accepts TCP and then stalls TLS is up by then: its
 * others start and time out too, as all did before this rule.) A connect
 * that times out costs a whole --connect-timeout
 * of one slot, so one is enough to take the host down; a refusal costs a
 * round trip and a restarting server refuses for a moment, so refusals
 * take it down only after PL_HOST_DOWN_AFTER in a row (one probe at a time
 * in between). A name that does not resolve (or whose lookup timed out)
 * has no address to connect to: its first failed lookup takes the host
 * down too, so its other URLs fail at once instead of each asking the
 * resolver again, one at a time, for the same answer (or the same
 * timeout). Down is not for good: after a cool-down (--host-cooldown,
 * doubled after each failed probe up to PL_HOST_COOLDOWN_DOUBLINGS times)
 * the next job of the host goes through alone, as a probe, and decides;
 * only the probe's outcome does: a transfer that started before the last
 * down (with a cool-down shorter than --connect-timeout, its connect can
 * time out after the probe started, or connected) is counted in the
 * reason while the host is down and decides nothing. */
#define PL_HOST_DOWN_AFTER 3
#define PL_HOST_COOLDOWN_DOUBLINGS 3

enum pl_host_health {
    PL_HOST_NEW = 0, /* nothing connected nor failed yet: one transfer at a time */
    PL_HOST_UP,      /* no connect failure since the last that connected */
    PL_HOST_PROBING, /* after a refusal, or a cool-down: one transfer at a time */
    PL_HOST_DOWN,    /* cooling down until down_until_ms: its jobs fail at once (down_kind
                      * says why: a connect timeout, refusals, its name) */
};

/* What a finished transfer says about its host. */
enum pl_host_outcome {
    PL_HOST_NO_VERDICT = 0, /* cancelled, the proxy's name not resolved, out of memory */
    PL_HOST_CONNECTED,      /* a connection was up: the host answers */
    PL_HOST_REFUSED,        /* no connection: refused (or no route) */
    PL_HOST_TIMED_OUT,      /* no connection within the connect timeout */
    PL_HOST_UNRESOLVED,     /* its name did not resolve, or the lookup timed out */
};

struct pl_host {
    char *key;
    unsigned in_flight;
    struct io_list waiting;  /* jobs in JOB_WAIT_HOST, oldest first */
    struct io_list runnable; /* linked while in pl_hosts' runnable FIFO */
    /* Health, changed only by set_health in hosts.c (through pl_host_record
     * and pl_host_check). The counts are of connect failures since the
     * last transfer that connected (for the reason given to the items);
     * down_kind is the outcome that took the host down last; times_down
     * counts the downs since it connected (each doubles the cool-down).
     * Times are the loop's (uv_now, ms). */
    enum pl_host_health health;
    unsigned connect_failures;
    unsigned refused;
    unsigned timed_out;
    unsigned unresolved; /* failed lookups since it last connected */
    enum pl_host_outcome down_kind;
    unsigned times_down;
    /* Downs in the whole run, never reset: a transfer notes it as it
     * starts (pl_host_record's `downs_at_start`), so that the failure of
     * one that started before the last down is known for a stale one.
     * Only equality matters, so it may wrap: no transfer lives through 256
     * downs of its host (each one after a cool-down and a probe). */
    uint8_t down_count;
    uint64_t cooldown_ms;   /* of the current down; 0 = down for the rest of the run */
    uint64_t down_until_ms; /* when the current cool-down ends */
    /* Connections its transfers opened or asked for (pl_host_new_connection):
     * an estimate, as closes are not seen; it only decides whether a
     * transfer asks for a connection of its own. */
    unsigned connections;
};

struct pl_hosts;

int pl_hosts_create(struct pl_hosts **out);
/* Accepts NULL. */
void pl_hosts_destroy(struct pl_hosts *hosts);
/* The record of `url`'s host, created on first use; NULL when the URL has no
 * usable host or memory ran out (the caller then applies the global cap only). */
struct pl_host *pl_hosts_get(struct pl_hosts *hosts, const char *url);

/* Transfers `host` may have in flight now: `max_per_host` (0 = no cap of its
 * own) while up, 1 while new or probing (one at a time), 0 while down.
 * Reads the state only: call pl_host_check first to end a cool-down. */
unsigned pl_host_capacity(const struct pl_host *host, unsigned max_per_host);

/* Ends `host`'s cool-down when it is over at `now_ms` (down → probing, so
 * the next job is the probe), unless the host is down for the run. Returns
 * the health after that. */
enum pl_host_health pl_host_check(struct pl_host *host, uint64_t now_ms);

/* What pl_host_record did to the host. */
enum pl_host_change {
    PL_HOST_SAME = 0,
    PL_HOST_WENT_DOWN, /* its waiting jobs are to fail now */
    PL_HOST_CAME_UP,   /* from new, probing or down: its full cap again */
};

/* Records what a transfer to `host` learnt at `now_ms`: that it connected
 * (as soon as it did, and again when it ends), or how it failed to;
 * `downs_at_start` is host->down_count as the transfer started. A
 * transfer that connected brings the host up, whatever its state; a
 * connect timeout, a failed lookup, or the PL_HOST_DOWN_AFTER-th connect
 * failure in a row, takes it down for a cool-down of `cooldown_ms` doubled
 * once per earlier down since it last connected (at most
 * PL_HOST_COOLDOWN_DOUBLINGS times; `cooldown_ms` 0 = down for the rest of
 * the run). A failure of a transfer that started before the last down
 * changes nothing: while the host is down it is counted for the reason;
 * while it is probing or up again it is ignored (the probe decides). No
 * verdict changes nothing. */
enum pl_host_change pl_host_record(struct pl_host *host, enum pl_host_outcome outcome,
                                   uint8_t downs_at_start, uint64_t now_ms, uint64_t cooldown_ms);

/* The reason given to the items of a host that is down, e.g. "host
 * unreachable: 1 connect timed out (tried again after a 30 s cool-down)",
 * or "name does not resolve: cdn.example (tried again after a 30 s
 * cool-down)". */
void pl_host_down_reason(const struct pl_host *host, char *buf, size_t size);

/* Called as a transfer of `host` starts (already counted in in_flight):
 * true when it is to ask for a connection of its own (io's
 * IO_HTTP_NEW_CONNECTION) rather than take one the host has: while every
 * connection counted carries a transfer and fewer than `max_per_host` are
 * counted; never when `max_per_host` is 0 (no cap of its own: libcurl's
 * reuse and HTTP/2 multiplexing decide, or each transfer in flight would
 * get a connection). The host's first transfer opens one without asking.
 * Over HTTP/1.1 a busy connection cannot be shared, so this changes
 * nothing; on an HTTP/2 host it keeps a burst on a connection per transfer
 * (tests/bench/results/world_h2path.md) when the others start after the
 * first's TLS is done (io tells the first's connect at its TCP connect, so
 * they usually start during it; a loaded machine on a fast path can lose
 * that race), rather than all becoming streams on the first. */
bool pl_host_new_connection(struct pl_host *host, unsigned max_per_host);

/* Hosts that have waiting jobs and just got room, FIFO (round robin). */
void pl_hosts_mark_runnable(struct pl_hosts *hosts, struct pl_host *host);
struct pl_host *pl_hosts_next_runnable(struct pl_hosts *hosts);
bool pl_hosts_any_runnable(const struct pl_hosts *hosts);

#endif
