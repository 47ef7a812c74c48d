/* Unit tests for exact duplicate detection in 64-bit fingerprints
 * (io/fingerprint.c, issue 13): repeats found and new members kept across
 * growths, the set's bytes per member at rest and at its peak (inside a
 * growth), members that all fall in one segment, and no collision among a
 * million URLs that differ in one character (the case a weak mixing would
 * fail). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fingerprint_private.h"
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

/* Issue 13: at most 16 bytes a member at every moment once the set is past
 * a small size, the moment of a growth included (old and new tables both
 * held). The peak is a high-water mark that only an insert can raise, so
 * checking it after every insert checks every moment; the member count it
 * is divided by is the one after the insert, one more than during it. */
static void test_set(void)
{
    struct io_fp_set *set = NULL;
    CHECK_EQ(io_fp_set_create(&set), 0);
    enum { COUNT = 3000000, PAST_SMALL = 100000 };
    size_t peak_per_member_x100 = 0;
    size_t rest_per_member_x100 = 0;
    for (uint64_t i = 0; i < COUNT; i++) {
        uint64_t fp = io_fingerprint64(&i, sizeof(i));
        CHECK_EQ(io_fp_set_insert(set, fp), 1);
        /* Every 7th one is offered again at once: a repeat. */
        if (i % 7 == 0)
            CHECK_EQ(io_fp_set_insert(set, fp), 0);
        if (i + 1 >= PAST_SMALL) {
            size_t count = io_fp_set_count(set);
            size_t peak = io__fp_set_peak_bytes(set) * 100 / count;
            size_t rest = io_fp_set_bytes(set) * 100 / count;
            if (peak > peak_per_member_x100)
                peak_per_member_x100 = peak;
            if (rest > rest_per_member_x100)
                rest_per_member_x100 = rest;
        }
    }
    CHECK_EQ(io_fp_set_count(set), COUNT);
    printf("fingerprint set: at most %zu.%02zu B/member at rest, %zu.%02zu at its peak "
           "(members >= %d, up to %d)\n",
           rest_per_member_x100 / 100, rest_per_member_x100 % 100, peak_per_member_x100 / 100,
           peak_per_member_x100 % 100, PAST_SMALL, COUNT);
    fflush(stdout);
    CHECK_LE(rest_per_member_x100, 1600);
    CHECK_LE(peak_per_member_x100, 1600);
    /* Never fuller than 4/5: at least 10 bytes a member. */
    CHECK_GE(io_fp_set_bytes(set) * 100 / COUNT, 1000);
    CHECK_GE(io__fp_set_peak_bytes(set), io_fp_set_bytes(set));
    /* All still there after the growths. */
    for (uint64_t i = 0; i < COUNT; i += 13)
        CHECK_EQ(io_fp_set_insert(set, io_fingerprint64(&i, sizeof(i))), 0);
    /* 0 is a fingerprint like any other. */
    CHECK_EQ(io_fp_set_insert(set, 0), 1);
    CHECK_EQ(io_fp_set_insert(set, 0), 0);
    io_fp_set_destroy(set);
    io_fp_set_destroy(NULL);
}

/* Members whose top bits are all equal (one segment takes them all, grows
 * alone and many times, past the size of a mapped table) and members that
 * differ only in their top 5 bits (one in each segment, same slot bits):
 * all kept, none taken for another. */
static void test_set_skewed(void)
{
    struct io_fp_set *set = NULL;
    CHECK_EQ(io_fp_set_create(&set), 0);
    enum { ONE_SEGMENT = 200000 };
    for (uint64_t i = 0; i < ONE_SEGMENT; i++) {
        uint64_t fp = io_fingerprint64(&i, sizeof(i)) >> 5;
        CHECK_EQ(io_fp_set_insert(set, fp), 1);
    }
    for (uint64_t i = 0; i < ONE_SEGMENT; i += 3)
        CHECK_EQ(io_fp_set_insert(set, io_fingerprint64(&i, sizeof(i)) >> 5), 0);
    for (uint64_t top = 1; top < 32; top++)
        CHECK_EQ(io_fp_set_insert(set, top << 59 | 12345), 1);
    for (uint64_t top = 1; top < 32; top++)
        CHECK_EQ(io_fp_set_insert(set, top << 59 | 12345), 0);
    CHECK_EQ(io_fp_set_count(set), ONE_SEGMENT + 31);
    io_fp_set_destroy(set);
}

int main(void)
{
    test_fingerprint_spread();
    test_set();
    test_set_skewed();
    return 0;
}
