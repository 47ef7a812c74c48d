#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts.h"

struct pl_hosts {
    struct pl_host **slots; /* open addressing, size a power of two */
    size_t slot_count;
    size_t host_count;
    struct io_list runnable; /* struct pl_host, through host->runnable */
};

int pl_hosts_create(struct pl_hosts **out)
{
    struct pl_hosts *hosts = calloc(1, sizeof(*hosts));
    if (hosts == NULL)
        return -ENOMEM;
    io_list_init(&hosts->runnable);
    hosts->slot_count = 64;
    hosts->slots = calloc(hosts->slot_count, sizeof(*hosts->slots));
    if (hosts->slots == NULL) {
        free(hosts);
        return -ENOMEM;
    }
    *out = hosts;
    return 0;
}

void pl_hosts_destroy(struct pl_hosts *hosts)
{
    if (hosts == NULL)
        return;
    for (size_t i = 0; i < hosts->slot_count; i++) {
        if (hosts->slots[i] != NULL) {
            free(hosts->slots[i]->key);
            free(hosts->slots[i]);
        }
    }
    free(hosts->slots);
    free(hosts);
}

static size_t find_slot(struct pl_host **slots, size_t slot_count, const char *key)
{
    size_t i = io_url_hash(key) & (slot_count - 1);
    while (slots[i] != NULL && strcmp(slots[i]->key, key) != 0)
        i = (i + 1) & (slot_count - 1);
    return i;
}

static int grow(struct pl_hosts *hosts)
{
    size_t slot_count = hosts->slot_count * 2;
    struct pl_host **slots = calloc(slot_count, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < hosts->slot_count; i++)
        if (hosts->slots[i] != NULL)
            slots[find_slot(slots, slot_count, hosts->slots[i]->key)] = hosts->slots[i];
    free(hosts->slots);
    hosts->slots = slots;
    hosts->slot_count = slot_count;
    return 0;
}

struct pl_host *pl_hosts_get(struct pl_hosts *hosts, const char *url)
{
    char key[512];
    if (io_url_host(url, key, sizeof(key)) < 0)
        return NULL;
    size_t i = find_slot(hosts->slots, hosts->slot_count, key);
    if (hosts->slots[i] != NULL)
        return hosts->slots[i];
    /* Keep the table at most half full. */
    if (2 * (hosts->host_count + 1) > hosts->slot_count) {
        if (grow(hosts) < 0)
            return NULL;
        i = find_slot(hosts->slots, hosts->slot_count, key);
    }
    struct pl_host *host = calloc(1, sizeof(*host));
    if (host == NULL)
        return NULL;
    host->key = strdup(key);
    if (host->key == NULL) {
        free(host);
        return NULL;
    }
    io_list_init(&host->waiting);
    io_list_init(&host->runnable);
    hosts->slots[i] = host;
    hosts->host_count++;
    return host;
}

unsigned pl_host_capacity(const struct pl_host *host, unsigned max_per_host)
{
    switch (host->health) {
    case PL_HOST_DOWN:
        return 0;
    case PL_HOST_NEW:
    case PL_HOST_PROBING:
        return 1;
    case PL_HOST_UP:
        break;
    }
    return max_per_host > 0 ? max_per_host : UINT_MAX;
}

/* The one place a host's health changes. */
static enum pl_host_change set_health(struct pl_host *host, enum pl_host_health to)
{
    enum pl_host_health from = host->health;
    host->health = to;
    if (from == to)
        return PL_HOST_SAME;
    if (to == PL_HOST_DOWN)
        return PL_HOST_WENT_DOWN;
    if (to == PL_HOST_UP)
        return PL_HOST_CAME_UP;
    return PL_HOST_SAME; /* new → probing, down → probing: still one at a time */
}

enum pl_host_health pl_host_check(struct pl_host *host, uint64_t now_ms)
{
    if (host->health == PL_HOST_DOWN && host->cooldown_ms > 0 && now_ms >= host->down_until_ms)
        set_health(host, PL_HOST_PROBING);
    return host->health;
}

static enum pl_host_change take_down(struct pl_host *host, enum pl_host_outcome outcome,
                                     uint64_t now_ms, uint64_t cooldown_ms)
{
    unsigned doublings = host->times_down < PL_HOST_COOLDOWN_DOUBLINGS ? host->times_down
                                                                       : PL_HOST_COOLDOWN_DOUBLINGS;
    host->down_kind = outcome;
    host->times_down++;
    host->down_count++;
    host->cooldown_ms = cooldown_ms << doublings;
    host->down_until_ms = now_ms + host->cooldown_ms;
    return set_health(host, PL_HOST_DOWN);
}

enum pl_host_change pl_host_record(struct pl_host *host, enum pl_host_outcome outcome,
                                   uint8_t downs_at_start, uint64_t now_ms, uint64_t cooldown_ms)
{
    if (outcome == PL_HOST_NO_VERDICT)
        return PL_HOST_SAME;
    /* A failure of a transfer older than the last down: while probing or
     * up again, it is not the probe's (a connect that times out after the
     * cool-down, started before it), and must not take the host down. */
    bool stale = outcome != PL_HOST_CONNECTED && downs_at_start != host->down_count;
    if (stale && host->health != PL_HOST_DOWN)
        return PL_HOST_SAME;
    if (outcome == PL_HOST_CONNECTED) {
        /* Even from a transfer that started before the host went down: it
         * answers now, and that is all a probe would have learnt. */
        host->connect_failures = 0;
        host->refused = 0;
        host->timed_out = 0;
        host->unresolved = 0;
        host->times_down = 0;
        return set_health(host, PL_HOST_UP);
    }
    if (outcome == PL_HOST_UNRESOLVED) {
        /* Every URL of the host would ask the resolver the same question:
         * one answer is enough (libcurl keeps no failed lookup). */
        host->unresolved++;
        if (host->health == PL_HOST_DOWN)
            return PL_HOST_SAME;
        return take_down(host, outcome, now_ms, cooldown_ms);
    }
    host->connect_failures++;
    if (outcome == PL_HOST_REFUSED)
        host->refused++;
    else
        host->timed_out++;
    /* One that started before the down (at the same time as the one that
     * took it down) is counted in the reason but does not stretch the
     * cool-down. */
    if (host->health == PL_HOST_DOWN)
        return PL_HOST_SAME;
    if (outcome == PL_HOST_TIMED_OUT || host->connect_failures >= PL_HOST_DOWN_AFTER)
        return take_down(host, outcome, now_ms, cooldown_ms);
    return set_health(host, PL_HOST_PROBING);
}

bool pl_host_new_connection(struct pl_host *host, unsigned max_per_host)
{
    /* No cap of its own: nothing bounds a burst's spread but the global
     * cap, and every transfer that found the host's connections busy would
     * open one more, even once one is known to multiplex (an HTTP/2 host
     * then got a connection per transfer in flight). libcurl's own reuse
     * and multiplexing decide instead. */
    if (max_per_host == 0)
        return false;
    if (host->connections == 0) {
        host->connections = 1; /* the first: nothing to reuse */
        return false;
    }
    if (host->in_flight <= host->connections || host->connections >= max_per_host)
        return false;
    host->connections++;
    return true;
}

void pl_host_down_reason(const struct pl_host *host, char *buf, size_t size)
{
    char what[96];
    char when[64];
    if (host->cooldown_ms == 0)
        snprintf(when, sizeof(when), "not tried again in this run");
    else
        snprintf(when, sizeof(when), "tried again after a %g s cool-down",
                 (double)host->cooldown_ms / 1000.0);
    if (host->down_kind == PL_HOST_UNRESOLVED) {
        /* The key is "name:port": the name alone is what did not resolve. */
        const char *port = strrchr(host->key, ':');
        int name_length = port != NULL ? (int)(port - host->key) : (int)strlen(host->key);
        snprintf(buf, size, "name does not resolve: %.*s (%s)", name_length, host->key, when);
        return;
    }
    if (host->timed_out == 0)
        snprintf(what, sizeof(what), "%u connection%s refused", host->refused,
                 host->refused == 1 ? "" : "s");
    else if (host->refused == 0)
        snprintf(what, sizeof(what), "%u connect%s timed out", host->timed_out,
                 host->timed_out == 1 ? "" : "s");
    else
        snprintf(what, sizeof(what), "%u connects failed, %u refused and %u timed out",
                 host->connect_failures, host->refused, host->timed_out);
    snprintf(buf, size, "host unreachable: %s (%s)", what, when);
}

void pl_hosts_mark_runnable(struct pl_hosts *hosts, struct pl_host *host)
{
    if (io_list_linked(&host->runnable) || io_list_empty(&host->waiting))
        return;
    io_list_insert_tail(&hosts->runnable, &host->runnable);
}

struct pl_host *pl_hosts_next_runnable(struct pl_hosts *hosts)
{
    struct io_list *node = io_list_pop_first(&hosts->runnable);
    return node != NULL ? IO_LIST_ENTRY(node, struct pl_host, runnable) : NULL;
}

bool pl_hosts_any_runnable(const struct pl_hosts *hosts)
{
    return !io_list_empty(&hosts->runnable);
}
