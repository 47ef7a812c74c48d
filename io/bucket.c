#include "bucket.h"

void io_bucket_init(struct io_bucket *bucket, uint64_t rate, uint64_t now_ns)
{
    bucket->rate = (double)rate;
    /* A tenth of a second's worth, at least one curl buffer (16 KiB): enough
     * to keep transfers moving, small enough that any second stays close
     * to the limit. */
    bucket->burst = bucket->rate / 10 > 16384 ? bucket->rate / 10 : 16384;
    bucket->tokens = 0;
    bucket->last_ns = now_ns;
}

static void refill(struct io_bucket *bucket, uint64_t now_ns)
{
    double elapsed = (double)(now_ns - bucket->last_ns) / 1e9;
    bucket->last_ns = now_ns;
    bucket->tokens += elapsed * bucket->rate;
    if (bucket->tokens > bucket->burst)
        bucket->tokens = bucket->burst;
}

bool io_bucket_take(struct io_bucket *bucket, size_t bytes, uint64_t now_ns)
{
    refill(bucket, now_ns);
    if (bucket->tokens < 0)
        return false;
    bucket->tokens -= (double)bytes;
    return true;
}

uint64_t io_bucket_wait_ms(const struct io_bucket *bucket, uint64_t now_ns)
{
    double tokens = bucket->tokens + (double)(now_ns - bucket->last_ns) / 1e9 * bucket->rate;
    if (tokens >= 0)
        return 1;
    return (uint64_t)(-tokens / bucket->rate * 1000.0) + 1;
}
