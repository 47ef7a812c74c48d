/* --json: one JSON object per line on stdout (NDJSON), one per item as it
 * finishes, then one summary per run. The schema is docs/json.md; bump
 * JSON_SCHEMA_VERSION on any change a consumer could notice (a field removed,
 * renamed or changing type; new fields are additions and keep it). */
#ifndef EDGEFETCH_CMD_JSON_H
#define EDGEFETCH_CMD_JSON_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "pipeline.h"

#define JSON_SCHEMA_VERSION 1

/* The settings a summary repeats, so merged summaries stay readable. */
struct json_run_info {
    const char *mode; /* "concurrent" or "sequential" */
    const char *output_dir;
    unsigned shard_index;
    unsigned shard_count; /* 0 or 1: not sharded */
    /* What the run was told: -j, -w, the per-host cap, the operator and
     * its parameters, retries (mode above). */
    const struct pl_options *settings;
    struct timespec started; /* CLOCK_REALTIME around pl_run */
    struct timespec ended;
    bool fds_counted; /* false without /proc: fds_leaked unknown */
    long fds_leaked;  /* descriptors open after the run minus before it */
    int exit_code;
};

/* Writes and flushes one line; call from the loop thread only (on_item), so
 * lines never interleave. */
void json_write_item(FILE *out, const struct pl_item *item, const char *output_dir,
                     const char *mode);
void json_write_summary(FILE *out, const struct pl_report *report,
                        const struct json_run_info *info);

#endif
