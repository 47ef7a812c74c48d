/* The values options take: sizes with k/M/G, bounded integers, decimals,
 * seconds, shards. Each returns 0, or -EINVAL (-ERANGE) for text that is not
 * one, so the caller can say which option wanted what. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

/* Parses a non-negative integer with an optional k/M/G suffix (powers of 1024
 * when `binary`, of 1000 otherwise). */
int values_parse_size(const char *text, bool binary, uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] == '-' || text[0] == '\0')
        return -EINVAL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return -EINVAL;
    uint64_t unit = 1;
    uint64_t base = binary ? 1024 : 1000;
    if (*end == 'k' || *end == 'K')
        unit = base;
    else if (*end == 'm' || *end == 'M')
        unit = base * base;
    else if (*end == 'g' || *end == 'G')
        unit = base * base * base;
    else if (*end != '\0')
        return -EINVAL;
    if (*end != '\0' && end[1] != '\0')
        return -EINVAL;
    if (value > UINT64_MAX / unit)
        return -ERANGE;
    *out = value * unit;
    return 0;
}

int values_parse_uint(const char *text, unsigned min, unsigned max, unsigned *out)
{
    uint64_t value;
    if (values_parse_size(text, false, &value) < 0 || strpbrk(text, "kKmMgG") != NULL ||
        value < min || value > max)
        return -EINVAL;
    *out = (unsigned)value;
    return 0;
}

/* A finite decimal number (Canny's --sigma, --low, --high; ranges are
 * imaging's to check). */
int values_parse_real(const char *text, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value))
        return -EINVAL;
    *out = value;
    return 0;
}

int values_parse_seconds(const char *text, long *out_ms)
{
    char *end;
    errno = 0;
    double seconds = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(seconds >= 0) || seconds > 86400.0 * 365)
        return -EINVAL;
    *out_ms = (long)(seconds * 1000.0 + 0.5);
    return 0;
}

/* "K/N", 0 <= K < N. 0-based, like SLURM_ARRAY_TASK_ID with --array=0-(N-1)
 * and Kubernetes' JOB_COMPLETION_INDEX. */
int values_parse_shard(const char *text, unsigned *index, unsigned *count)
{
    char buf[32];
    const char *slash = strchr(text, '/');
    if (slash == NULL || (size_t)(slash - text) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, text, (size_t)(slash - text));
    buf[slash - text] = '\0';
    if (values_parse_uint(buf, 0, 1000000, index) < 0 ||
        values_parse_uint(slash + 1, 1, 1000000, count) < 0 || *index >= *count)
        return -EINVAL;
    return 0;
}
