/* Small helpers of the C benchmarks (the .c files of tests/bench): clocks, reading a whole
 * file, a comparison for qsort. Static inline: each benchmark includes it once
 * and uses what it needs. */
#ifndef EDGEFETCH_BENCH_UTIL_H
#define EDGEFETCH_BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The largest input a benchmark reads (it is read whole, in one buffer). */
#define BENCH_MAX_FILE_BYTES ((size_t)512 << 20)

static inline double bench_clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

static inline double bench_wall_ms(void)
{
    return bench_clock_ms(CLOCK_MONOTONIC);
}

static inline double bench_process_cpu_ms(void)
{
    return bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static inline double bench_thread_cpu_ms(void)
{
    return bench_clock_ms(CLOCK_THREAD_CPUTIME_ID);
}

static inline double bench_cpu_seconds(void)
{
    return bench_process_cpu_ms() / 1e3;
}

static inline int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The file at `path`, up to BENCH_MAX_FILE_BYTES, in a malloc'd buffer the
 * caller frees; 0 or -errno. */
static inline int bench_read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return -errno;
    uint8_t *buffer = malloc(BENCH_MAX_FILE_BYTES);
    size_t length = buffer != NULL ? fread(buffer, 1, BENCH_MAX_FILE_BYTES, in) : 0;
    fclose(in);
    if (buffer == NULL)
        return -ENOMEM;
    *data = buffer;
    *size = length;
    return 0;
}

#endif
