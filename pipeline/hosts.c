#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hosts.h"

struct pl_hosts {
    struct pl_host **slots; /* open addressing, size a power of two */
    size_t slot_count;
    size_t host_count;
    struct pl_host *runnable_head;
    struct pl_host *runnable_tail;
};

int pl_hosts_create(struct pl_hosts **out)
{
    struct pl_hosts *hosts = calloc(1, sizeof(*hosts));
    if (hosts == NULL)
        return -ENOMEM;
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
    hosts->slots[i] = host;
    hosts->host_count++;
    return host;
}

void pl_host_block(struct pl_host *host, struct pl_queue_node *node)
{
    node->next = NULL;
    if (host->blocked_tail != NULL)
        host->blocked_tail->next = node;
    else
        host->blocked_head = node;
    host->blocked_tail = node;
}

struct pl_queue_node *pl_host_unblock(struct pl_host *host)
{
    struct pl_queue_node *node = host->blocked_head;
    if (node == NULL)
        return NULL;
    host->blocked_head = node->next;
    if (host->blocked_head == NULL)
        host->blocked_tail = NULL;
    node->next = NULL;
    return node;
}

void pl_host_unblock_undo(struct pl_host *host, struct pl_queue_node *node)
{
    node->next = host->blocked_head;
    host->blocked_head = node;
    if (host->blocked_tail == NULL)
        host->blocked_tail = node;
}

void pl_hosts_mark_runnable(struct pl_hosts *hosts, struct pl_host *host)
{
    if (host->runnable || host->blocked_head == NULL)
        return;
    host->runnable = true;
    host->next_runnable = NULL;
    if (hosts->runnable_tail != NULL)
        hosts->runnable_tail->next_runnable = host;
    else
        hosts->runnable_head = host;
    hosts->runnable_tail = host;
}

struct pl_host *pl_hosts_next_runnable(struct pl_hosts *hosts)
{
    struct pl_host *host = hosts->runnable_head;
    if (host == NULL)
        return NULL;
    hosts->runnable_head = host->next_runnable;
    if (hosts->runnable_head == NULL)
        hosts->runnable_tail = NULL;
    host->runnable = false;
    return host;
}

void pl_hosts_runnable_undo(struct pl_hosts *hosts, struct pl_host *host)
{
    host->runnable = true;
    host->next_runnable = hosts->runnable_head;
    hosts->runnable_head = host;
    if (hosts->runnable_tail == NULL)
        hosts->runnable_tail = host;
}
