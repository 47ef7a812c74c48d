/* Option values from text (cmd/values.c). */
#ifndef EDGEFETCH_CMD_VALUES_H
#define EDGEFETCH_CMD_VALUES_H

#include <stdbool.h>
#include <stdint.h>

/* A non-negative integer with an optional k/M/G suffix: powers of 1024 when
 * `binary`, of 1000 otherwise. */
int values_parse_size(const char *text, bool binary, uint64_t *out);
/* A plain integer (no suffix) in [min, max]. */
int values_parse_uint(const char *text, unsigned min, unsigned max, unsigned *out);
/* A finite decimal number. */
int values_parse_real(const char *text, double *out);
/* Seconds (a decimal, 0 to a year) as milliseconds, rounded. */
int values_parse_seconds(const char *text, long *out_ms);
/* "K/N" with 0 <= K < N <= 1000000. */
int values_parse_shard(const char *text, unsigned *index, unsigned *count);

#endif
