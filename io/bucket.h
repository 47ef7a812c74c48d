/* A token bucket: the --rate-limit of a whole run, shared by all its
 * transfers. libcurl's CURLOPT_MAX_RECV_SPEED_LARGE is per transfer and, in
 * the 7.88 we build against, lets a small transfer through at full speed
 * (measured: --limit-rate 64k moved 140 kB in 0.2 s), so we meter the bytes
 * ourselves and pause transfers (CURL_WRITEFUNC_PAUSE) while in debt. */
#ifndef EDGEFETCH_IO_BUCKET_H
#define EDGEFETCH_IO_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_bucket {
    double rate;   /* bytes per second */
    double burst;  /* most tokens saved up while idle */
    double tokens; /* may go negative: a chunk is taken whole, then paid off */
    uint64_t last_ns;
};

void io_bucket_init(struct io_bucket *bucket, uint64_t rate, uint64_t now_ns);
/* True when `bytes` may pass now (they are charged); false when in debt. */
bool io_bucket_take(struct io_bucket *bucket, size_t bytes, uint64_t now_ns);
/* Milliseconds until the bucket is out of debt (at least 1). */
uint64_t io_bucket_wait_ms(const struct io_bucket *bucket, uint64_t now_ns);

#endif
