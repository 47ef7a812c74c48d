/* Exact duplicate detection for lists of any length: 64-bit fingerprints in
 * an open-addressing set (io.h, "duplicates").
 *
 * Why 64 bits and no check behind them: the set must cost at most 16 bytes
 * a URL (issue 13), so it cannot keep the URLs to verify a match against,
 * and a 128-bit fingerprint alone is 16 bytes before any slack. A false
 * match makes a URL a repeat it is not: it is reported as a duplicate and
 * not fetched. Two fingerprints match only when all 64 bits are equal (the
 * segment and the slot are chosen from them, the comparison is of the whole
 * word), so among n distinct URLs the chance of any is n(n-1)/2^65:
 * negligible at the sizes a shard holds (3e-6 for 10 M URLs), 3% only for
 * 10^9 URLs in one process.
 *
 * Why not doubling: a table of 8-byte slots that doubles when full to a load
 * L is L/2 full just after, 16/L bytes a member: more than 16 for any L < 1.
 * Growing 1.5x at 0.8 keeps the load between 0.53 and 0.8 (10 to 15 bytes).
 *
 * Why segments: while a table grows, the old one and the new one (1.5x) both
 * exist, 25 bytes a member at that moment for a single table. The set is 32
 * independent tables chosen by the fingerprint's top 5 bits, each growing on
 * its own, so only one segment's old table is held beside the rest: 1/32 of
 * the set, and the peak stays under 16 bytes a member (about 15.5). The slot
 * within a segment is from the next bits, scaled to its capacity
 * ((bits * capacity) >> 64), which any capacity allows, not only powers of
 * 2. A segment's table is allocated at its first member.
 *
 * Why mmap for the large tables: a freed table must go back to the system,
 * or the old generations stay resident and the set costs their sum (about
 * 3x). A malloc that keeps freed blocks in per-size lists (ASan's, jemalloc)
 * or glibc's raised mmap threshold would keep them; munmap does not. Only
 * 32 segments, so that tables pass 64 KiB while the set is small (about
 * 160k members); below that calloc, whose waste is then a few MiB at most. A
 * mapped table is a whole number of pages, rounded down from 1.5x. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fingerprint_private.h"
#include "io.h"

__extension__ typedef unsigned __int128 u128;

/* Odd constants with well-spread bits (the fractional parts of sqrt(2),
 * sqrt(3), e, pi). */
#define K0 0x6a09e667f3bcc909ull
#define K1 0xbb67ae8584caa73bull
#define K2 0xb7e151628aed2a6bull
#define K3 0x243f6a8885a308d3ull

/* 64x64 -> 128-bit product, folded: every output bit depends on every input
 * bit of both words. */
static uint64_t fold_multiply(uint64_t a, uint64_t b)
{
    u128 product = (u128)a * b;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t value;
    memcpy(&value, p, sizeof(value));
    return value;
}

uint64_t io_fingerprint64(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t hash = fold_multiply((uint64_t)len ^ K0, K1);
    size_t left = len;
    while (left >= 16) {
        hash = fold_multiply(load64(p) ^ K2 ^ hash, load64(p + 8) ^ K3);
        p += 16;
        left -= 16;
    }
    /* The tail, zero-padded; the length mixed in first tells "a" from "a\0". */
    uint8_t tail[16] = {0};
    memcpy(tail, p, left);
    hash = fold_multiply(load64(tail) ^ K2 ^ hash, load64(tail + 8) ^ K3);
    return fold_multiply(hash ^ K0, K3);
}

/* 0 marks an empty slot; a fingerprint of 0 is stored as 1 (one more pair of
 * fingerprints in 2^64 is taken as one). */
#define EMPTY_SLOT 0

#define SEGMENT_BITS 5
#define SEGMENT_COUNT (1u << SEGMENT_BITS)
/* A segment's first table: small, as 32 of them are made for a set of a few
 * hundred members. */
#define FIRST_CAPACITY 32
/* Tables of at least this many bytes are mapped (a multiple of any page
 * size in use, so the rounding down to pages keeps them at least this). */
#define MAPPED_TABLE_BYTES (64u * 1024)
/* Grow at 4/5 full, to 3/2 the slots. */
#define LOAD_NUMERATOR 4
#define LOAD_DENOMINATOR 5

struct segment {
    uint64_t *slots; /* NULL until the segment's first member */
    size_t capacity;
    size_t count;
};

struct io_fp_set {
    struct segment segments[SEGMENT_COUNT];
    size_t count;
    /* The header and every table held now, and the most ever held at once
     * (a growth holds the segment's old table and its new one). */
    size_t bytes;
    size_t peak_bytes;
    size_t page_size;
};

/* Whether a table of `capacity` slots was mapped (table_alloc's rule). */
static int table_is_mapped(size_t capacity)
{
    return capacity * sizeof(uint64_t) >= MAPPED_TABLE_BYTES;
}

/* A zeroed table of about `*capacity` slots, the capacity it got in
 * `*capacity`; NULL when there is no memory. */
static uint64_t *table_alloc(size_t *capacity, size_t page_size)
{
    if (!table_is_mapped(*capacity))
        return calloc(*capacity, sizeof(uint64_t));
    size_t bytes = *capacity * sizeof(uint64_t) / page_size * page_size;
    void *table = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED)
        return NULL;
    *capacity = bytes / sizeof(uint64_t);
    return table;
}

static void table_free(uint64_t *slots, size_t capacity)
{
    if (slots == NULL)
        return;
    if (table_is_mapped(capacity))
        munmap(slots, capacity * sizeof(uint64_t));
    else
        free(slots);
}

static size_t home_slot(uint64_t fingerprint, size_t capacity)
{
    /* The bits below the segment's, as the high bits of a 64-bit fraction. */
    return (size_t)(((u128)(fingerprint << SEGMENT_BITS) * capacity) >> 64);
}

/* Inserts into `slots` (never full): 1 new, 0 already there. */
static int place(uint64_t *slots, size_t capacity, uint64_t fingerprint)
{
    size_t slot = home_slot(fingerprint, capacity);
    for (;;) {
        if (slots[slot] == fingerprint)
            return 0;
        if (slots[slot] == EMPTY_SLOT) {
            slots[slot] = fingerprint;
            return 1;
        }
        slot = slot + 1 == capacity ? 0 : slot + 1;
    }
}

int io_fp_set_create(struct io_fp_set **out)
{
    struct io_fp_set *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return -ENOMEM;
    set->bytes = sizeof(*set);
    set->peak_bytes = set->bytes;
    long page_size = sysconf(_SC_PAGESIZE);
    /* Pages larger than the mapped minimum would round a table to nothing. */
    set->page_size = page_size > 0 && (size_t)page_size <= MAPPED_TABLE_BYTES ? (size_t)page_size
                                                                              : MAPPED_TABLE_BYTES;
    *out = set;
    return 0;
}

/* The segment's table to 3/2 its slots, or its first table when it has none
 * (table_alloc may round the capacity down to whole pages). */
static int grow(struct io_fp_set *set, struct segment *segment)
{
    size_t capacity =
        segment->capacity == 0 ? FIRST_CAPACITY : segment->capacity + segment->capacity / 2;
    uint64_t *slots = table_alloc(&capacity, set->page_size);
    if (slots == NULL)
        return -ENOMEM;
    size_t old_bytes = segment->capacity * sizeof(*slots);
    size_t new_bytes = capacity * sizeof(*slots);
    if (set->bytes + new_bytes > set->peak_bytes)
        set->peak_bytes = set->bytes + new_bytes;
    for (size_t i = 0; i < segment->capacity; i++)
        if (segment->slots[i] != EMPTY_SLOT)
            place(slots, capacity, segment->slots[i]);
    table_free(segment->slots, segment->capacity);
    segment->slots = slots;
    segment->capacity = capacity;
    set->bytes = set->bytes - old_bytes + new_bytes;
    return 0;
}

int io_fp_set_insert(struct io_fp_set *set, uint64_t fingerprint)
{
    if (fingerprint == EMPTY_SLOT)
        fingerprint = 1;
    struct segment *segment = &set->segments[fingerprint >> (64 - SEGMENT_BITS)];
    if ((segment->count + 1) * LOAD_DENOMINATOR > segment->capacity * LOAD_NUMERATOR) {
        int rc = grow(set, segment);
        if (rc < 0)
            return rc;
    }
    int added = place(segment->slots, segment->capacity, fingerprint);
    segment->count += (size_t)added;
    set->count += (size_t)added;
    return added;
}

size_t io_fp_set_count(const struct io_fp_set *set)
{
    return set->count;
}

size_t io_fp_set_bytes(const struct io_fp_set *set)
{
    return set->bytes;
}

size_t io__fp_set_peak_bytes(const struct io_fp_set *set)
{
    return set->peak_bytes;
}

void io_fp_set_destroy(struct io_fp_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < SEGMENT_COUNT; i++)
        table_free(set->segments[i].slots, set->segments[i].capacity);
    free(set);
}
