#include "pipeline.h"

unsigned pl_shard_of(const char *url, unsigned shard_count)
{
    /* The hash is part of the interface (documented in docs/, relied on by
     * users splitting a list across machines): never change it. */
    return shard_count > 1 ? io_url_hash(url) % shard_count : 0;
}
