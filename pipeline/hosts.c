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
    if (host->down)
        return 0;
    if (host->connect_failures > 0)
        return 1;
    return max_per_host > 0 ? max_per_host : UINT_MAX;
}

bool pl_host_record(struct pl_host *host, enum pl_host_outcome outcome)
{
    if (host->down || outcome == PL_HOST_NO_VERDICT)
        return false;
    if (outcome == PL_HOST_CONNECTED) {
        host->connect_failures = 0;
        host->refused = 0;
        host->timed_out = 0;
        return false;
    }
    host->connect_failures++;
    if (outcome == PL_HOST_REFUSED)
        host->refused++;
    else
        host->timed_out++;
    if (host->connect_failures < PL_HOST_DOWN_AFTER)
        return false;
    host->down = true;
    return true;
}

void pl_host_down_reason(const struct pl_host *host, char *buf, size_t size)
{
    if (host->timed_out == 0)
        snprintf(buf, size, "host unreachable: %u connections refused", host->refused);
    else if (host->refused == 0)
        snprintf(buf, size, "host unreachable: %u connects timed out", host->timed_out);
    else
        snprintf(buf, size, "host unreachable: %u connects failed (%u refused, %u timed out)",
                 host->connect_failures, host->refused, host->timed_out);
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
