/* Unit tests for exact duplicate detection in 64-bit fingerprints
 * (io/fingerprint.c, issue 13): repeats found and new members kept across
 * growths, the table's bytes per member, and no collision among a million
 * URLs that differ in one character (the case a weak mixing would fail). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io.h"

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_fingerprint_spread(void)
{
    enum { COUNT = 1000000 };
    uint64_t *fps = malloc(COUNT * sizeof(*fps));
    CHECK(fps != NULL);
    char url[64];
    for (int i = 0; i < COUNT; i++) {
        int len = snprintf(url, sizeof(url), "https://img.example.org/photos/%07d.jpg", i);
        fps[i] = io_fingerprint64(url, (size_t)len);
    }
    qsort(fps, COUNT, sizeof(*fps), compare_u64);
    for (int i = 1; i < COUNT; i++)
        CHECK(fps[i] != fps[i - 1]);
    /* Every bit set in about half of them (the low and the high bits pick
     * the slot, so both must be spread). */
    for (int bit = 0; bit < 64; bit++) {
        int ones = 0;
        for (int i = 0; i < COUNT; i++)
            ones += (int)((fps[i] >> bit) & 1);
        CHECK_GT(ones, COUNT / 2 - 5000);
        CHECK_LT(ones, COUNT / 2 + 5000);
    }
    free(fps);

    /* Length counts: "a" and "a\0", and a tail vs a full block. */
    CHECK(io_fingerprint64("a", 1) != io_fingerprint64("a\0", 2));
    CHECK(io_fingerprint64("", 0) != io_fingerprint64("\0", 1));
    CHECK(io_fingerprint64("0123456789abcdef", 16) != io_fingerprint64("0123456789abcdef\0", 17));
}

static void test_set(void)
{
    struct io_fp_set *set = NULL;
    CHECK_EQ(io_fp_set_create(&set), 0);
    enum { COUNT = 3000000 };
    size_t peak_per_member_x100 = 0;
    for (uint64_t i = 0; i < COUNT; i++) {
        uint64_t fp = io_fingerprint64(&i, sizeof(i));
        CHECK_EQ(io_fp_set_insert(set, fp), 1);
        /* Every 7th one is offered again at once: a repeat. */
        if (i % 7 == 0)
            CHECK_EQ(io_fp_set_insert(set, fp), 0);
        if (i >= 100000) {
            size_t per = io_fp_set_bytes(set) * 100 / io_fp_set_count(set);
            if (per > peak_per_member_x100)
                peak_per_member_x100 = per;
        }
    }
    CHECK_EQ(io_fp_set_count(set), COUNT);
    /* Past its first table, at most 16 bytes a member (15 just after a
     * growth), at least 10. */
    CHECK_LE(peak_per_member_x100, 1600);
    CHECK_GE(io_fp_set_bytes(set) * 100 / COUNT, 1000);
    /* All still there after the growths. */
    for (uint64_t i = 0; i < COUNT; i += 13)
        CHECK_EQ(io_fp_set_insert(set, io_fingerprint64(&i, sizeof(i))), 0);
    /* 0 is a fingerprint like any other. */
    CHECK_EQ(io_fp_set_insert(set, 0), 1);
    CHECK_EQ(io_fp_set_insert(set, 0), 0);
    io_fp_set_destroy(set);
    io_fp_set_destroy(NULL);
}

int main(void)
{
    test_fingerprint_spread();
    test_set();
    return 0;
}
