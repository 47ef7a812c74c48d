/* The per-host download cap: one record per "host:port", owned by the loop
 * thread like the global semaphore. Items that find their host full wait on
 * the host's FIFO (intrusive, through their pl_queue_node) rather than in
 * curl's pending queue, so a transfer's timeout starts when it really
 * starts. */
#ifndef EDGEFETCH_PIPELINE_HOSTS_H
#define EDGEFETCH_PIPELINE_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"

struct pl_host {
    char *key;
    unsigned in_flight;
    struct pl_queue_node *blocked_head; /* waiting for a slot of this host */
    struct pl_queue_node *blocked_tail;
    struct pl_host *next_runnable; /* in pl_hosts' runnable list */
    bool runnable;
};

struct pl_hosts;

int pl_hosts_create(struct pl_hosts **out);
/* Accepts NULL. */
void pl_hosts_destroy(struct pl_hosts *hosts);
/* The record of `url`'s host, created on first use; NULL when the URL has no
 * usable host or memory ran out (the caller then applies the global cap only). */
struct pl_host *pl_hosts_get(struct pl_hosts *hosts, const char *url);

void pl_host_block(struct pl_host *host, struct pl_queue_node *node);
struct pl_queue_node *pl_host_unblock(struct pl_host *host);
/* Pushes back at the head what pl_host_unblock just took. */
void pl_host_unblock_undo(struct pl_host *host, struct pl_queue_node *node);

/* Hosts that have blocked items and just got a free slot, FIFO. */
void pl_hosts_mark_runnable(struct pl_hosts *hosts, struct pl_host *host);
struct pl_host *pl_hosts_next_runnable(struct pl_hosts *hosts);
void pl_hosts_runnable_undo(struct pl_hosts *hosts, struct pl_host *host);

#endif
