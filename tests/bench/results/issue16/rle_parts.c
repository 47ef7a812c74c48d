/* png_rle's parts timed on one file of filtered PNG rows (issue 16, 2026-12-02):
 * the whole coder (img__rle_block in 64 KiB calls, as encode.c calls it), the
 * run search, the exact byte count (count_bytes) and the estimated one
 * (count_block_bytes); CPU time of the thread, median of 7 rounds. A scratch
 * harness kept with its results, not part of the build: it includes
 * png_rle.c itself to reach its static functions.
 *
 *   gcc -O3 -std=c17 -D_GNU_SOURCE -Wno-unused-function -Iimaging -Ibuild/imaging \
 *       tests/bench/results/issue16/rle_parts.c -o /tmp/rle_parts -lz
 *   /tmp/rle_parts FILTERED.bin
 *
 * FILTERED.bin: the inflated IDAT of a level-1 PNG (the filter byte and the
 * Paeth-filtered bytes of each row), e.g. of edgefetch's output for the 12 MP
 * photo (estimated_counts.md says how it was made). */
#include "png_rle.c"

#include <stdio.h>
#include <time.h>

void img__populate(uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define ROUNDS 7
#define BLOCK ((size_t)64 << 10)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rle_parts FILTERED.bin\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL)
        return 1;
    fseek(in, 0, SEEK_END);
    size_t n = (size_t)ftell(in);
    fseek(in, 0, SEEK_SET);
    uint8_t *data = malloc(n);
    if (data == NULL || fread(data, 1, n, in) != n)
        return 1;
    fclose(in);
    double t[4][ROUNDS];
    size_t out = 0, runs = 0;
    for (int r = 0; r < ROUNDS; r++) {
        struct img__rle_stream s;
        img__rle_init(&s, 0, n, 0);
        double t0 = now_ms();
        for (size_t i = 0; i < n; i += BLOCK)
            img__rle_block(&s, data + i, n - i < BLOCK ? n - i : BLOCK, i + BLOCK >= n);
        img__rle_end(&s, true);
        double t1 = now_ms();
        out = s.used;
        runs = 0;
        for (size_t i = 0; i < n; i += BLOCK) {
            find_runs(&s, data + i, n - i < BLOCK ? n - i : BLOCK);
            runs += s.run_count;
        }
        double t2 = now_ms();
        uint32_t freq[256] = {0};
        for (size_t i = 0; i < n; i += BLOCK)
            count_bytes(data + i, n - i < BLOCK ? n - i : BLOCK, freq);
        double t3 = now_ms();
        bool estimated;
        for (size_t i = 0; i < n; i += BLOCK)
            count_block_bytes(data + i, n - i < BLOCK ? n - i : BLOCK, false, freq, &estimated);
        double t4 = now_ms();
        img__rle_finish(&s);
        t[0][r] = t1 - t0;
        t[1][r] = t2 - t1;
        t[2][r] = t3 - t2;
        t[3][r] = t4 - t3;
    }
    static const char *const names[4] = {"whole coder", "run search", "exact count",
                                         "estimated count"};
    printf("%zu bytes in, %zu out, %zu runs; ms, median of %d:\n", n, out, runs, ROUNDS);
    for (int k = 0; k < 4; k++) {
        qsort(t[k], ROUNDS, sizeof(double), by_value);
        printf("  %-16s %.2f\n", names[k], t[k][ROUNDS / 2]);
    }
    return 0;
}
