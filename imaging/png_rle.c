/* Literals-and-runs deflate for filtered PNG rows (png_rle.h).
 *
 * Per block: one pass finds the runs (a byte repeated at least three more
 * times is a match at distance 1, greedy, up to 258 bytes, as zlib's Z_RLE
 * finds them) and counts the symbols (a sample of the most common bytes in
 * blocks of 16 KiB and more: count_block_bytes); code lengths follow from
 * the counts (Huffman, limited to 14 bits); the block is written as a dynamic Huffman
 * block, or with the fixed code or stored when either is smaller (tiny
 * images; noise), so the output is never much larger than the input.
 * RFC 1951, sections 3.2.3 to 3.2.7. On x86 with AVX2 the run search and
 * the literal writer have SIMD versions that give the same bits (the AVX2
 * paths section). */
#include "png_rle.h"

#include "imaging_private.h" /* img__populate */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LITLEN_SYMBOLS 286 /* 0-255 literals, 256 end of block, 257-285 lengths */
#define END_OF_BLOCK 256
#define CODELEN_SYMBOLS 19
#define MAX_BITS 15
/* Literal/length codes are limited to 14 bits, one less than deflate
 * allows, so that four literals (56 bits) fit between two flushes of the
 * bit writer. On the Sobel maps of the samples this is 0.02% smaller than
 * the 15-bit limit (the headers' code lengths code better). */
#define MAX_LITLEN_BITS 14
#define MAX_CODELEN_BITS 7
#define MIN_RUN 3
#define MAX_RUN 258
#define STORED_MAX 65535
/* A dynamic block's header is at most 5 + 5 + 4 + 19 * 3 bits plus 286 + 2
 * code lengths at 7 + 7 bits each: well under this. */
#define HEADER_BOUND_BYTES 600
/* Room always kept after `used`: the bit writer stores 8 bytes at a time. */
#define WRITE_SLACK 16

static const uint16_t length_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                         15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                         67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
/* The order the code length code lengths are sent in (3.2.7). */
static const uint8_t codelen_order[CODELEN_SYMBOLS] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                       11, 4,  12, 3, 13, 2, 14, 1, 15};

/* The length code (0-28, symbol 257 + index) of a match length 3-258:
 * lengths 3-10 have a code each; above, each power of two of `length - 3`
 * spans four codes with one more extra bit (3.2.5). */
static inline int length_index(unsigned length)
{
    if (length == MAX_RUN)
        return 28;
    unsigned v = length - 3;
    if (v < 8)
        return (int)v;
    int extra = 29 - __builtin_clz(v); /* floor(log2(v)) - 2 */
    return 4 * extra + 4 + (int)((v >> extra) & 3);
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t value;
    memcpy(&value, p, sizeof(value));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    value = __builtin_bswap64(value);
#endif
    return value;
}

static inline void store_le64(uint8_t *p, uint64_t value)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    value = __builtin_bswap64(value);
#endif
    memcpy(p, &value, sizeof(value));
}

/* ---- the bit writer ------------------------------------------------------ */

/* Kept in a local while a block is written, so the compiler keeps it in
 * registers (stores through `out` may alias anything in the stream). */
struct bit_writer {
    uint8_t *out;  /* the next byte */
    uint64_t bits; /* pending bits, LSB first */
    unsigned count;
};

static inline struct bit_writer writer_begin(const struct img__rle_stream *s)
{
    return (struct bit_writer){s->out + s->used, s->bits, s->bit_count};
}

static inline void writer_end(struct img__rle_stream *s, const struct bit_writer *w)
{
    s->used = (size_t)(w->out - s->out);
    s->bits = w->bits;
    s->bit_count = w->count;
}

/* Appends `count` bits (LSB first). Between two flushes at most 56 bits may
 * be added. */
static inline void put_bits(struct bit_writer *w, uint64_t value, unsigned count)
{
    w->bits |= value << w->count;
    w->count += count;
}

/* Moves whole bytes out; leaves at most 7 bits pending. Needs 8 bytes of
 * room at `out` (WRITE_SLACK). Fewer than 64 bits are ever pending, so the
 * shift is defined. */
static inline void flush_bits(struct bit_writer *w)
{
    store_le64(w->out, w->bits);
    w->out += w->count >> 3;
    w->bits >>= w->count & ~7u;
    w->count &= 7;
}

/* Appends `count` (at most 112) bits, low then high, and flushes: two
 * 8-byte stores (WRITE_SLACK covers the second). Expects at most 7 bits
 * pending, as every flush leaves (so the shifts stay under 64; low's top
 * bits go to the high word by two shifts, which give 0 for no pending bits);
 * the ones left pending are those of the last byte not yet whole, from the
 * low or the high word. */
static inline void put_bits_wide(struct bit_writer *w, uint64_t low, uint64_t high, unsigned count)
{
    unsigned pending = w->count;
    uint64_t value_low = low << pending | w->bits;
    uint64_t value_high = high << pending | (low >> 1) >> (63 - pending);
    store_le64(w->out, value_low);
    store_le64(w->out + 8, value_high);
    unsigned total = pending + count;
    w->out += total >> 3;
    w->bits = ((total & 64) != 0 ? value_high : value_low) >> (total & 56);
    w->count = total & 7;
}

/* Flushes and pads the pending bits to a whole byte. */
static void align_to_byte(struct bit_writer *w)
{
    flush_bits(w);
    if (w->count > 0) {
        *w->out++ = (uint8_t)w->bits;
        w->bits = 0;
        w->count = 0;
    }
}

/* The caller's buffer (encode.c's file) is fresh pages: they are asked for
 * this far ahead of the writer at a time, a syscall per 256 KiB instead of
 * a page fault per 4 KiB. At most that much is asked for and not written
 * (with transparent huge pages, the 2 MiB pages it falls in; img__huge_pages). */
#define POPULATE_AHEAD ((size_t)256 << 10)

/* Room for `more` bytes after `used`; of the caller's pages, those for
 * `likely` (at most `more`) are asked for ahead. */
static int reserve_likely(struct img__rle_stream *s, size_t more, size_t likely)
{
    if (more > SIZE_MAX / 2 - WRITE_SLACK - s->used)
        return -ENOMEM;
    size_t need = s->used + more + WRITE_SLACK;
    size_t touch = s->used + likely + WRITE_SLACK;
    if (s->borrowed && touch <= s->capacity && touch > s->populated) {
        size_t end = s->populated + POPULATE_AHEAD > touch ? s->populated + POPULATE_AHEAD : touch;
        end = end < s->capacity ? end : s->capacity;
        img__populate(s->out + s->populated, end - s->populated);
        s->populated = end;
    }
    if (need <= s->capacity)
        return 0;
    size_t grown = s->capacity * 2 > need ? s->capacity * 2 : need;
    uint8_t *bigger;
    if (s->borrowed) {
        /* The caller's buffer is full: go on in one of our own. */
        bigger = malloc(grown);
        if (bigger == NULL)
            return -ENOMEM;
        memcpy(bigger, s->out, s->used);
        s->borrowed = false;
    } else {
        bigger = realloc(s->out, grown);
        if (bigger == NULL)
            return -ENOMEM;
    }
    s->out = bigger;
    s->capacity = grown;
    return 0;
}

static int reserve(struct img__rle_stream *s, size_t more)
{
    return reserve_likely(s, more, more);
}

/* ---- AVX2 paths ----------------------------------------------------------
 *
 * Chosen per call by the CPU check (s->portable forces the portable code);
 * both give the same bits, which tests/unit/test_png_rle_simd.c checks. */
#if IMG_HAVE_AVX2_VARIANTS
#include <immintrin.h>

/* The writer's variable shifts take BMI2's shlx/shrx (no shift count in
 * CL, fewer moves); every CPU with AVX2 has it, but it is asked for too. */
#define RLE_TARGET_AVX2_BMI2 __attribute__((target("avx2,bmi2")))
static inline bool rle_has_avx2(void)
{
    return img__cpu_has_avx2() && __builtin_cpu_supports("bmi2");
}

/* next_run_start_avx2 reads data[i - 1, i + RUN_SCAN_AVX2_REACH). */
#define RUN_SCAN_AVX2_REACH 34

/* The first run start at or after i (data[j - 1] equal to data[j, j + 3)),
 * 32 candidates a step; or, when there is none before it, the first j it
 * could not check (j + RUN_SCAN_AVX2_REACH > size). Needs i >= 1. */
IMG_TARGET_AVX2 static size_t next_run_start_avx2(const uint8_t *data, size_t i, size_t size)
{
    for (; i + RUN_SCAN_AVX2_REACH <= size; i += 32) {
        __m256i before = _mm256_loadu_si256((const __m256i *)(data + i - 1));
        __m256i same0 = _mm256_cmpeq_epi8(before, _mm256_loadu_si256((const __m256i *)(data + i)));
        __m256i same1 =
            _mm256_cmpeq_epi8(before, _mm256_loadu_si256((const __m256i *)(data + i + 1)));
        __m256i same2 =
            _mm256_cmpeq_epi8(before, _mm256_loadu_si256((const __m256i *)(data + i + 2)));
        unsigned starts =
            (unsigned)_mm256_movemask_epi8(_mm256_and_si256(same0, _mm256_and_si256(same1, same2)));
        if (starts != 0)
            return i + (size_t)__builtin_ctz(starts);
    }
    return i;
}

/* In each 64-bit lane, two table entries (code | length << 16, the first in
 * the low half) joined: the first code, then the second after it. */
RLE_TARGET_AVX2_BMI2 static inline __attribute__((always_inline)) void
join_pairs(__m256i entries, __m256i *codes, __m256i *lengths)
{
    const __m256i low16 = _mm256_set1_epi64x(0xffff);
    const __m256i low8 = _mm256_set1_epi64x(0xff);
    __m256i first_length = _mm256_and_si256(_mm256_srli_epi64(entries, 16), low8);
    __m256i second_code = _mm256_and_si256(_mm256_srli_epi64(entries, 32), low16);
    *codes = _mm256_or_si256(_mm256_and_si256(entries, low16),
                             _mm256_sllv_epi64(second_code, first_length));
    *lengths = _mm256_add_epi64(first_length, _mm256_srli_epi64(entries, 48));
}

/* The codes of the literals 240-255 and 0-15 (the Paeth-filtered bytes of
 * an edge map are mostly near 0: 97% of the 12 MP photo's), by byte + 16:
 * low bytes, high bytes and lengths, for put_window_avx2's byte shuffles. */
struct window_codes {
    uint8_t low[32];
    uint8_t high[32];
    uint8_t lengths[32];
};

static void window_codes_init(struct window_codes *window, const uint16_t *codes,
                              const uint8_t *lengths)
{
    for (int t = 0; t < 32; t++) {
        int sym = (t + 240) & 0xff;
        window->low[t] = (uint8_t)codes[sym];
        window->high[t] = (uint8_t)(codes[sym] >> 8);
        window->lengths[t] = lengths[sym];
    }
}

/* One of the window's tables for 16 bytes of `t` (each under 32): the
 * first half's entry where bit 4 is clear, the second's where it is set
 * (moved to bit 7, what the blend looks at). */
RLE_TARGET_AVX2_BMI2 static inline __attribute__((always_inline)) __m128i
window_lookup(const uint8_t *table, __m128i t, __m128i second)
{
    __m128i first_half = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)table), t);
    __m128i second_half = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(table + 16)), t);
    return _mm_blendv_epi8(first_half, second_half, second);
}

/* Two pieces (low and high words, bit counts) of at most 112 bits in qword
 * 0 of each 128-bit lane, from four of at most 56 in order, put. */
RLE_TARGET_AVX2_BMI2 static inline __attribute__((always_inline)) void
put_quads_in_order(struct bit_writer *w, __m256i quads, __m256i quad_bits)
{
    __m256i next = _mm256_unpackhi_epi64(quads, quads);
    __m256i next_bits = _mm256_unpackhi_epi64(quad_bits, quad_bits);
    __m256i low = _mm256_or_si256(quads, _mm256_sllv_epi64(next, quad_bits));
    __m256i high = _mm256_srlv_epi64(next, _mm256_sub_epi64(_mm256_set1_epi64x(64), quad_bits));
    __m256i bits = _mm256_add_epi64(quad_bits, next_bits);
    put_bits_wide(w, (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(low)),
                  (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(high)),
                  (unsigned)_mm_cvtsi128_si64(_mm256_castsi256_si128(bits)));
    put_bits_wide(w, (uint64_t)_mm_cvtsi128_si64(_mm256_extracti128_si256(low, 1)),
                  (uint64_t)_mm_cvtsi128_si64(_mm256_extracti128_si256(high, 1)),
                  (unsigned)_mm_cvtsi128_si64(_mm256_extracti128_si256(bits, 1)));
}

/* put_literals_avx2 without gathers when all 16 bytes at `data` are in the
 * window (240-255, 0-15): their codes by byte shuffles from `window`, then
 * joined in 16-, 32- and 64-bit lanes. Returns false, having put nothing,
 * when one is not. */
RLE_TARGET_AVX2_BMI2 static inline __attribute__((always_inline)) bool
put_window_avx2(struct bit_writer *w, const struct window_codes *window, const uint8_t *data,
                size_t count)
{
    __m128i t = _mm_add_epi8(_mm_loadu_si128((const __m128i *)data), _mm_set1_epi8(16));
    if (!_mm_testz_si128(t, _mm_set1_epi8((char)0xe0)))
        return false;
    __m128i second = _mm_slli_epi16(t, 3);
    __m128i keep =
        _mm_cmpgt_epi8(_mm_set1_epi8((char)count),
                       _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    __m128i low = _mm_and_si128(window_lookup(window->low, t, second), keep);
    __m128i high = _mm_and_si128(window_lookup(window->high, t, second), keep);
    __m128i lengths = _mm_and_si128(window_lookup(window->lengths, t, second), keep);
    __m256i codes16 = _mm256_or_si256(_mm256_cvtepu8_epi16(low),
                                      _mm256_slli_epi16(_mm256_cvtepu8_epi16(high), 8));
    __m256i lengths16 = _mm256_cvtepu8_epi16(lengths);
    /* Pairs in 32-bit lanes (at most 28 bits). */
    const __m256i low16 = _mm256_set1_epi32(0xffff);
    __m256i pairs = _mm256_or_si256(
        _mm256_and_si256(codes16, low16),
        _mm256_sllv_epi32(_mm256_srli_epi32(codes16, 16), _mm256_and_si256(lengths16, low16)));
    __m256i pair_bits = _mm256_madd_epi16(lengths16, _mm256_set1_epi16(1));
    /* Quads in 64-bit lanes (at most 56 bits), in order. */
    const __m256i low32 = _mm256_set1_epi64x(0xffffffff);
    __m256i first_bits = _mm256_and_si256(pair_bits, low32);
    __m256i quads = _mm256_or_si256(_mm256_and_si256(pairs, low32),
                                    _mm256_sllv_epi64(_mm256_srli_epi64(pairs, 32), first_bits));
    __m256i quad_bits = _mm256_add_epi64(first_bits, _mm256_srli_epi64(pair_bits, 32));
    put_quads_in_order(w, quads, quad_bits);
    return true;
}

/* Puts the literals data[0, count), count 1-16, as their codes in `table`
 * (code | length << 16, by byte) say: the 16 entries gathered (those past
 * `count` cleared: data[count, 16) is read, not written), joined in SIMD
 * lanes to four pieces of four codes (at most 56 bits), then to two of
 * eight (at most 112), each put with put_bits_wide. */
RLE_TARGET_AVX2_BMI2 static inline __attribute__((always_inline)) void
put_literals_avx2(struct bit_writer *w, const int *table, const uint8_t *data, size_t count)
{
    const __m256i lanes_low = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lanes_high = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    __m256i wanted = _mm256_set1_epi32((int)count);
    __m128i bytes = _mm_loadu_si128((const __m128i *)data);
    __m256i first = _mm256_and_si256(_mm256_i32gather_epi32(table, _mm256_cvtepu8_epi32(bytes), 4),
                                     _mm256_cmpgt_epi32(wanted, lanes_low));
    __m256i second = _mm256_and_si256(
        _mm256_i32gather_epi32(table, _mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)), 4),
        _mm256_cmpgt_epi32(wanted, lanes_high));
    __m256i first_codes, first_lengths, second_codes, second_lengths;
    join_pairs(first, &first_codes, &first_lengths);
    join_pairs(second, &second_codes, &second_lengths);
    /* Pairs (0, 1) and (2, 3) of each half: lanes of literals 0-3, 8-11,
     * 4-7, 12-15. */
    __m256i low_lengths = _mm256_unpacklo_epi64(first_lengths, second_lengths);
    __m256i codes = _mm256_or_si256(
        _mm256_unpacklo_epi64(first_codes, second_codes),
        _mm256_sllv_epi64(_mm256_unpackhi_epi64(first_codes, second_codes), low_lengths));
    __m256i lengths =
        _mm256_add_epi64(low_lengths, _mm256_unpackhi_epi64(first_lengths, second_lengths));
    /* Then literals 0-3 with 4-7 and 8-11 with 12-15, each a low and a high
     * word (a shift right by 64, for a first half of no bits, gives 0). */
    __m128i first_half = _mm256_castsi256_si128(codes);
    __m128i second_half = _mm256_extracti128_si256(codes, 1);
    __m128i first_bits = _mm256_castsi256_si128(lengths);
    __m128i second_bits = _mm256_extracti128_si256(lengths, 1);
    __m128i low = _mm_or_si128(first_half, _mm_sllv_epi64(second_half, first_bits));
    __m128i high = _mm_srlv_epi64(second_half, _mm_sub_epi64(_mm_set1_epi64x(64), first_bits));
    __m128i bits = _mm_add_epi64(first_bits, second_bits);
    put_bits_wide(w, (uint64_t)_mm_cvtsi128_si64(low), (uint64_t)_mm_cvtsi128_si64(high),
                  (unsigned)_mm_cvtsi128_si64(bits));
    put_bits_wide(w, (uint64_t)_mm_extract_epi64(low, 1), (uint64_t)_mm_extract_epi64(high, 1),
                  (unsigned)_mm_extract_epi64(bits, 1));
}
#endif

/* ---- Huffman code lengths ------------------------------------------------ */

/* Moffat and Katajainen's in-place computation of minimum-redundancy code
 * lengths ("In-place calculation of minimum-redundancy codes", 1995): on
 * entry `a` holds n >= 2 weights in increasing order, on return each one's
 * code length (the longest first). */
static void minimum_redundancy(uint32_t *a, int n)
{
    int root = 0, leaf = 2;
    a[0] += a[1];
    for (int next = 1; next < n - 1; next++) {
        if (leaf >= n || a[root] < a[leaf]) {
            a[next] = a[root];
            a[root++] = (uint32_t)next;
        } else {
            a[next] = a[leaf++];
        }
        if (leaf >= n || (root < next && a[root] < a[leaf])) {
            a[next] += a[root];
            a[root++] = (uint32_t)next;
        } else {
            a[next] += a[leaf++];
        }
    }
    a[n - 2] = 0;
    for (int next = n - 3; next >= 0; next--)
        a[next] = a[a[next]] + 1;
    int available = 1, used = 0, depth = 0;
    int root_index = n - 2, next = n - 1;
    while (available > 0) {
        while (root_index >= 0 && (int)a[root_index] == depth) {
            used++;
            root_index--;
        }
        while (available > used) {
            a[next--] = (uint32_t)depth;
            available--;
        }
        available = 2 * used;
        depth++;
        used = 0;
    }
}

/* Sorts `keys` in increasing order: LSD radix, a byte per pass, as many
 * passes as the largest key needs; the result is in the returned array
 * (`keys` or `scratch`). */
static uint32_t *radix_sort(uint32_t *keys, uint32_t *scratch, int count)
{
    uint32_t *from = keys, *to = scratch;
    uint32_t largest = 0;
    for (int i = 0; i < count; i++)
        largest = keys[i] > largest ? keys[i] : largest;
    for (int shift = 0; shift < 32 && (largest >> shift) != 0; shift += 8) {
        int offsets[257] = {0};
        for (int i = 0; i < count; i++)
            offsets[((from[i] >> shift) & 0xff) + 1]++;
        for (int b = 0; b < 256; b++)
            offsets[b + 1] += offsets[b];
        for (int i = 0; i < count; i++)
            to[offsets[(from[i] >> shift) & 0xff]++] = from[i];
        uint32_t *swap = from;
        from = to;
        to = swap;
    }
    return from;
}

/* Code lengths (at most `limit` bits) for `count` symbols of frequencies
 * `freq`: zero for unused symbols, a complete prefix code over the others.
 * With a single used symbol a second one (0 or 1) gets a length too, as
 * decoders want a complete code. Frequencies must stay under 2^23
 * (a call of IMG__RLE_CALL_MAX bytes has fewer symbols). */
static void build_lengths(const uint32_t *freq, int count, int limit, uint8_t *lengths)
{
    uint32_t unsorted[LITLEN_SYMBOLS], scratch[LITLEN_SYMBOLS];
    uint32_t *keys = unsorted;
    int used = 0;
    memset(lengths, 0, (size_t)count);
    for (int sym = 0; sym < count; sym++)
        if (freq[sym] != 0)
            keys[used++] = freq[sym] << 9 | (uint32_t)sym;
    if (used == 0)
        return;
    if (used == 1) {
        int sym = (int)(keys[0] & 0x1ff);
        lengths[sym] = 1;
        lengths[sym == 0 ? 1 : 0] = 1;
        return;
    }
    keys = radix_sort(keys, scratch, used);
    uint32_t weights[LITLEN_SYMBOLS];
    for (int i = 0; i < used; i++)
        weights[i] = keys[i] >> 9;
    minimum_redundancy(weights, used);

    /* Lengths over the limit: fold them in at the limit, then lengthen the
     * deepest shorter codes until the code is complete again (Kraft sum 1). */
    int per_length[MAX_BITS + 2] = {0};
    bool over = false;
    for (int i = 0; i < used; i++) {
        int bits = (int)weights[i];
        if (bits > limit) {
            bits = limit;
            over = true;
        }
        per_length[bits]++;
    }
    if (over) {
        uint32_t kraft = 0;
        for (int bits = 1; bits <= limit; bits++)
            kraft += (uint32_t)per_length[bits] << (limit - bits);
        while (kraft > (1u << limit)) {
            per_length[limit]--;
            for (int bits = limit - 1; bits > 0; bits--)
                if (per_length[bits] != 0) {
                    per_length[bits]--;
                    per_length[bits + 1] += 2;
                    break;
                }
            kraft--;
        }
    }
    /* The rarest symbols (first in `keys`) get the longest codes. */
    int i = 0;
    for (int bits = limit; bits >= 1; bits--)
        for (int k = 0; k < per_length[bits]; k++)
            lengths[keys[i++] & 0x1ff] = (uint8_t)bits;
}

/* Canonical codes from the lengths (3.2.2), bit-reversed for LSB-first
 * writing. */
static void build_codes(const uint8_t *lengths, int count, uint16_t *codes)
{
    unsigned per_length[MAX_BITS + 1] = {0}, next[MAX_BITS + 1];
    for (int sym = 0; sym < count; sym++)
        per_length[lengths[sym]]++;
    per_length[0] = 0;
    unsigned code = 0;
    for (int bits = 1; bits <= MAX_BITS; bits++) {
        code = (code + per_length[bits - 1]) << 1;
        next[bits] = code;
    }
    for (int sym = 0; sym < count; sym++) {
        int bits = lengths[sym];
        if (bits == 0) {
            codes[sym] = 0;
            continue;
        }
        /* Reversed: the code's first bit is the stream's next bit. */
        unsigned value = next[bits]++;
        value = (value & 0x5555u) << 1 | (value >> 1 & 0x5555u);
        value = (value & 0x3333u) << 2 | (value >> 2 & 0x3333u);
        value = (value & 0x0f0fu) << 4 | (value >> 4 & 0x0f0fu);
        value = (value & 0x00ffu) << 8 | (value >> 8 & 0x00ffu);
        codes[sym] = (uint16_t)(value >> (16 - bits));
    }
}

/* ---- one block ----------------------------------------------------------- */

struct block_stats {
    uint32_t freq[LITLEN_SYMBOLS];
    bool estimated;      /* the counts of the middle bytes (count_block_bytes) */
    uint64_t extra_bits; /* of the lengths */
    size_t run_count;
};

/* Counts the whole 8-byte steps of data[0, size) into eight tables, one
 * per byte of a step, so that a byte repeated (zero, mostly, in
 * filtered edge maps) waits on its own count (a store, then a load of the
 * same place) once per step, not twice (four tables were 2x slower on the
 * Sobel maps). Each byte is loaded on its own and indexes its table
 * directly: a load and an add per byte (shifting the bytes out of one 64-bit
 * load took four instructions a byte). */
static inline void count_into(uint32_t (*tables)[256], const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 8 <= size; i += 8) {
        tables[0][data[i]]++;
        tables[1][data[i + 1]]++;
        tables[2][data[i + 2]]++;
        tables[3][data[i + 3]]++;
        tables[4][data[i + 4]]++;
        tables[5][data[i + 5]]++;
        tables[6][data[i + 6]]++;
        tables[7][data[i + 7]]++;
    }
}

static inline uint32_t sum_tables(uint32_t (*tables)[256], unsigned b)
{
    return tables[0][b] + tables[1][b] + tables[2][b] + tables[3][b] + tables[4][b] + tables[5][b] +
           tables[6][b] + tables[7][b];
}

/* Every byte of data[0, size) into freq[0, 256). */
static void count_bytes(const uint8_t *data, size_t size, uint32_t *freq)
{
    uint32_t tables[8][256];
    memset(tables, 0, sizeof(tables));
    size_t whole = size & ~(size_t)7;
    count_into(tables, data, whole);
    for (size_t i = whole; i < size; i++)
        tables[0][data[i]]++;
    for (unsigned b = 0; b < 256; b++)
        freq[b] += sum_tables(tables, b);
}

/* Blocks from this size on have the counts of their middle bytes (below)
 * estimated from a sample; smaller ones are counted whole. */
#define SAMPLE_MIN_BYTES ((size_t)16 << 10)
/* The sample: the first of every SAMPLE_EVERY groups of SAMPLE_GROUP bytes. */
#define SAMPLE_GROUP 64
#define SAMPLE_EVERY 4
/* The middle bytes: 224-255 and 0-31, where (uint8_t)(byte + MIDDLE_HALF)
 * is under 2 * MIDDLE_HALF (99% of the 12 MP photo's filtered bytes). */
#define MIDDLE_HALF 32

static inline bool is_middle(unsigned byte)
{
    return (uint8_t)(byte + MIDDLE_HALF) < 2 * MIDDLE_HALF;
}

/* The outside (not middle) bytes of one group, one by one. */
static inline void count_outside(const uint8_t *group, uint32_t *outside)
{
    for (int k = 0; k < SAMPLE_GROUP; k++)
        if (!is_middle(group[k]))
            outside[group[k]]++;
}

#if IMG_HAVE_AVX2_VARIANTS
/* count_outside over `groups` groups from a mask of each group's outside
 * bytes (most groups have none); the loop is here, in the AVX2 target, so
 * that no call is made per group. */
IMG_TARGET_AVX2 static void count_outside_avx2(const uint8_t *data, size_t groups,
                                               uint32_t *outside)
{
    const __m256i half = _mm256_set1_epi8(MIDDLE_HALF);
    const __m256i last = _mm256_set1_epi8(2 * MIDDLE_HALF - 1);
    for (size_t g = 0; g < groups; g++) {
        const uint8_t *group = data + g * SAMPLE_GROUP;
        __m256i a = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)group), half);
        __m256i b = _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(group + 32)), half);
        uint64_t middle =
            (uint64_t)(uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(_mm256_min_epu8(a, last), a)) |
            (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(b, last), b))
                << 32;
        for (uint64_t out = ~middle; out != 0; out &= out - 1)
            outside[group[__builtin_ctzll(out)]]++;
    }
}
#endif

/* The byte counts the Huffman code is made from, for a block of `size`
 * bytes: the outside bytes and the bytes after the last whole group exactly;
 * a middle byte SAMPLE_EVERY times its count in the sample, and at least 1
 * (it may be in the block and not in the sample; every byte that is must
 * have a code). Sets *estimated when it estimated (small blocks are counted
 * whole). Counting a quarter of the bytes takes the store per byte that
 * bounds count_bytes off three quarters of them, for PNGs 0.07% (12 MP
 * photo) and 0.09% (the 12 samples) larger at level 1 (PNG_SETTINGS.md).
 * The AVX2 path finds the outside bytes 64 at a time and gives the same
 * counts. */
static void count_block_bytes(const uint8_t *data, size_t size, bool portable, uint32_t *freq,
                              bool *estimated)
{
    *estimated = size >= SAMPLE_MIN_BYTES;
    if (!*estimated) {
        count_bytes(data, size, freq);
        return;
    }
    uint32_t sample[8][256];
    uint32_t outside[256];
    memset(sample, 0, sizeof(sample));
    memset(outside, 0, sizeof(outside));
    size_t groups = size / SAMPLE_GROUP;
#if IMG_HAVE_AVX2_VARIANTS
    bool avx2 = !portable && img__cpu_has_avx2();
#else
    (void)portable;
#endif
    for (size_t g = 0; g < groups; g += SAMPLE_EVERY)
        count_into(sample, data + g * SAMPLE_GROUP, SAMPLE_GROUP);
#if IMG_HAVE_AVX2_VARIANTS
    if (avx2)
        count_outside_avx2(data, groups, outside);
    else
#endif
        for (size_t g = 0; g < groups; g++)
            count_outside(data + g * SAMPLE_GROUP, outside);
    for (size_t i = groups * SAMPLE_GROUP; i < size; i++)
        freq[data[i]]++;
    for (unsigned b = 0; b < 256; b++) {
        if (is_middle(b)) {
            freq[b] += SAMPLE_EVERY * sum_tables(sample, b);
        } else {
            freq[b] += outside[b];
        }
    }
}

/* Finds the runs of data[0, size) into s->runs (start, length pairs),
 * growing it as needed. data[0] is always a literal: calls never refer to
 * the bytes before them. 0 or -ENOMEM. */
static int find_runs(struct img__rle_stream *s, const uint8_t *data, size_t size)
{
    size_t i = 1, count = 0;
#if IMG_HAVE_AVX2_VARIANTS
    bool avx2 = !s->portable && rle_has_avx2();
#endif
    while (i < size) {
#if IMG_HAVE_AVX2_VARIANTS
        if (avx2 && i + RUN_SCAN_AVX2_REACH <= size) {
            i = next_run_start_avx2(data, i, size);
            /* Where the scan stopped short of the end, the code below checks
             * the rest. (A start it found is one: the step is only there so
             * that no mistake of the scan could loop.) */
            if (i + MIN_RUN > size || data[i] != data[i - 1] || data[i + 1] != data[i - 1] ||
                data[i + 2] != data[i - 1]) {
                i += i + RUN_SCAN_AVX2_REACH <= size ? 1 : 0;
                continue;
            }
            goto start;
        }
#endif
        if (i + 10 <= size) {
            /* Byte k of `differ` is zero when data[i+k-1] equals the three
             * bytes after it: a run starts at i+k. */
            uint64_t before = load_le64(data + i - 1);
            uint64_t differ = (before ^ load_le64(data + i)) | (before ^ load_le64(data + i + 1)) |
                              (before ^ load_le64(data + i + 2));
            /* The lowest flagged byte is the first zero one (flags above it
             * may be false). */
            uint64_t zero = (differ - 0x0101010101010101u) & ~differ & 0x8080808080808080u;
            if (zero == 0) {
                i += 8;
                continue;
            }
            i += (size_t)__builtin_ctzll(zero) >> 3;
        } else if (i + MIN_RUN > size || data[i] != data[i - 1] || data[i + 1] != data[i - 1] ||
                   data[i + 2] != data[i - 1]) {
            i++;
            continue;
        }
#if IMG_HAVE_AVX2_VARIANTS
    start:;
#endif
        /* A run of data[i - 1] starts at i, at least MIN_RUN long. */
        size_t limit = size - i < MAX_RUN ? size - i : MAX_RUN;
        size_t length = MIN_RUN;
        uint64_t pattern = 0x0101010101010101u * data[i - 1];
        while (length + 8 <= limit) {
            uint64_t differ = load_le64(data + i + length) ^ pattern;
            if (differ != 0) {
                length += (size_t)__builtin_ctzll(differ) >> 3;
                goto counted;
            }
            length += 8;
        }
        while (length < limit && data[i + length] == data[i - 1])
            length++;
    counted:
        if (count == s->run_capacity) {
            size_t grown_capacity = s->run_capacity < 1024 ? 1024 : 2 * s->run_capacity;
            uint32_t *grown = realloc(s->runs, 2 * grown_capacity * sizeof(*s->runs));
            if (grown == NULL)
                return -ENOMEM;
            s->runs = grown;
            s->run_capacity = grown_capacity;
        }
        s->runs[2 * count] = (uint32_t)i;
        s->runs[2 * count + 1] = (uint32_t)length;
        count++;
        i += length;
    }
    s->run_count = count;
    return 0;
}

/* The symbols of data[from, to) holding runs[0, run_count): every byte as
 * a literal first, then each run takes its bytes back from its byte's
 * count. */
static void count_symbols(const uint8_t *data, size_t from, size_t to, const uint32_t *runs,
                          size_t run_count, bool portable, struct block_stats *st)
{
    memset(st, 0, sizeof(*st));
    count_block_bytes(data + from, to - from, portable, st->freq, &st->estimated);
    for (size_t r = 0; r < run_count; r++) {
        size_t start = runs[2 * r], length = runs[2 * r + 1];
        int index = length_index((unsigned)length);
        st->freq[257 + index]++;
        /* An estimate may be under the run (an exact count never is). */
        uint32_t *count = &st->freq[data[start - 1]];
        *count = *count > length ? *count - (uint32_t)length : 0;
        st->extra_bits += length_extra[index];
    }
    if (st->estimated)
        for (unsigned b = 0; b < 256; b++)
            if (is_middle(b) && st->freq[b] == 0)
                st->freq[b] = 1;
    st->run_count = run_count;
    st->freq[END_OF_BLOCK] = 1;
}

/* The code lengths of the header, run-length coded with symbols 16-18
 * (3.2.7): `symbols` gets the symbols, `extras` their extra bits' values. */
static int code_lengths_rle(const uint8_t *lengths, int total, uint8_t *symbols, uint8_t *extras)
{
    int count = 0;
    for (int i = 0; i < total;) {
        uint8_t value = lengths[i];
        int run = 1;
        while (i + run < total && lengths[i + run] == value)
            run++;
        i += run;
        if (value == 0) {
            while (run >= 11) {
                int take = run < 138 ? run : 138;
                symbols[count] = 18;
                extras[count++] = (uint8_t)(take - 11);
                run -= take;
            }
            if (run >= 3) {
                symbols[count] = 17;
                extras[count++] = (uint8_t)(run - 3);
                run = 0;
            }
        } else {
            symbols[count] = value;
            extras[count++] = 0;
            run--;
            while (run >= 3) {
                int take = run < 6 ? run : 6;
                symbols[count] = 16;
                extras[count++] = (uint8_t)(take - 3);
                run -= take;
            }
        }
        while (run-- > 0) {
            symbols[count] = value;
            extras[count++] = 0;
        }
    }
    return count;
}

static const uint8_t codelen_extra_bits[CODELEN_SYMBOLS] = {
    [16] = 2,
    [17] = 3,
    [18] = 7,
};

struct block_code {
    /* Literal/length codes; 286 and 287 only for the fixed code, which
     * counts them when it assigns its codes. */
    uint8_t lengths[LITLEN_SYMBOLS + 2];
    uint16_t codes[LITLEN_SYMBOLS + 2];
    int hlit;
    uint8_t rle_symbols[LITLEN_SYMBOLS + 2];
    uint8_t rle_extras[LITLEN_SYMBOLS + 2];
    int rle_count;
    uint8_t codelen_lengths[CODELEN_SYMBOLS];
    uint16_t codelen_codes[CODELEN_SYMBOLS];
    int hclen;
    uint64_t bits; /* the whole block, header included */
};

/* Builds the block's codes and its exact size in bits. The distance code
 * is two codes of one bit (only distance 1, code 0, is used), complete as
 * zlib makes it. */
static void plan_block(const struct block_stats *st, struct block_code *bc)
{
    build_lengths(st->freq, LITLEN_SYMBOLS, MAX_LITLEN_BITS, bc->lengths);
    build_codes(bc->lengths, LITLEN_SYMBOLS, bc->codes);
    bc->hlit = LITLEN_SYMBOLS;
    while (bc->hlit > 257 && bc->lengths[bc->hlit - 1] == 0)
        bc->hlit--;
    uint8_t all[LITLEN_SYMBOLS + 2];
    memcpy(all, bc->lengths, (size_t)bc->hlit);
    all[bc->hlit] = 1;
    all[bc->hlit + 1] = 1;
    bc->rle_count = code_lengths_rle(all, bc->hlit + 2, bc->rle_symbols, bc->rle_extras);

    uint32_t codelen_freq[CODELEN_SYMBOLS] = {0};
    for (int i = 0; i < bc->rle_count; i++)
        codelen_freq[bc->rle_symbols[i]]++;
    build_lengths(codelen_freq, CODELEN_SYMBOLS, MAX_CODELEN_BITS, bc->codelen_lengths);
    build_codes(bc->codelen_lengths, CODELEN_SYMBOLS, bc->codelen_codes);
    bc->hclen = CODELEN_SYMBOLS;
    while (bc->hclen > 4 && bc->codelen_lengths[codelen_order[bc->hclen - 1]] == 0)
        bc->hclen--;

    uint64_t bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)bc->hclen;
    for (int i = 0; i < bc->rle_count; i++)
        bits += bc->codelen_lengths[bc->rle_symbols[i]] + codelen_extra_bits[bc->rle_symbols[i]];
    for (int sym = 0; sym < LITLEN_SYMBOLS; sym++)
        bits += (uint64_t)st->freq[sym] * bc->lengths[sym];
    bits += st->extra_bits + st->run_count; /* one bit of distance code per run */
    bc->bits = bits;
}

static void write_header(struct bit_writer *w, const struct block_code *bc, bool final)
{
    put_bits(w, final ? 1 : 0, 1);
    put_bits(w, 2, 2); /* dynamic Huffman */
    put_bits(w, (uint64_t)(bc->hlit - 257), 5);
    put_bits(w, 2 - 1, 5);
    put_bits(w, (uint64_t)(bc->hclen - 4), 4);
    flush_bits(w);
    for (int i = 0; i < bc->hclen; i++) {
        put_bits(w, bc->codelen_lengths[codelen_order[i]], 3);
        flush_bits(w);
    }
    for (int i = 0; i < bc->rle_count; i++) {
        int sym = bc->rle_symbols[i];
        put_bits(w, bc->codelen_codes[sym], bc->codelen_lengths[sym]);
        put_bits(w, bc->rle_extras[i], codelen_extra_bits[sym]);
        flush_bits(w);
    }
}

static inline void write_literals(struct bit_writer *w, const struct block_code *bc,
                                  const uint8_t *data, size_t from, size_t to)
{
    const uint16_t *codes = bc->codes;
    const uint8_t *lengths = bc->lengths;
    size_t i = from;
    /* Four literals (at most 56 bits) between flushes, joined in pairs
     * first so that fewer steps wait on the writer's bit count. */
    for (; i + 4 <= to; i += 4) {
        unsigned l0 = lengths[data[i]], l2 = lengths[data[i + 2]];
        uint64_t pair0 = codes[data[i]] | (uint64_t)codes[data[i + 1]] << l0;
        uint64_t pair1 = codes[data[i + 2]] | (uint64_t)codes[data[i + 3]] << l2;
        put_bits(w, pair0, l0 + lengths[data[i + 1]]);
        put_bits(w, pair1, l2 + lengths[data[i + 3]]);
        flush_bits(w);
    }
    for (; i < to; i++) {
        put_bits(w, codes[data[i]], lengths[data[i]]);
        flush_bits(w);
    }
}

/* A run: its length code and extra bits, then distance 1 (code 0, of
 * `distance_bits` bits). */
static inline void put_run(struct bit_writer *w, const struct block_code *bc, size_t length,
                           unsigned distance_bits)
{
    int index = length_index((unsigned)length);
    int sym = 257 + index;
    put_bits(w, bc->codes[sym], bc->lengths[sym]);
    put_bits(w, length - length_base[index], length_extra[index]);
    put_bits(w, 0, distance_bits);
    flush_bits(w);
}

/* The portable symbol writer: literals between the runs, then each run. */
static void write_symbols(struct bit_writer *w, const struct block_code *bc, const uint8_t *data,
                          size_t from, size_t to, const uint32_t *runs, size_t run_count,
                          unsigned distance_bits)
{
    size_t at = from;
    for (size_t r = 0; r < run_count; r++) {
        size_t start = runs[2 * r], length = runs[2 * r + 1];
        write_literals(w, bc, data, at, start);
        put_run(w, bc, length, distance_bits);
        at = start + length;
    }
    write_literals(w, bc, data, at, to);
}

#if IMG_HAVE_AVX2_VARIANTS
/* Each run length's bits as put_run puts them (length code, extra bits,
 * distance code), by length: one load and one append per run instead of
 * the length code's branches and three appends. */
struct run_codes {
    uint32_t bits[MAX_RUN + 1];
    uint8_t count[MAX_RUN + 1];
};

static void run_codes_init(struct run_codes *runs, const struct block_code *bc,
                           unsigned distance_bits)
{
    for (int index = 0; index < 29; index++) {
        int sym = 257 + index;
        unsigned first = length_base[index];
        unsigned last = index == 28 ? MAX_RUN : length_base[index + 1] - 1u;
        for (unsigned length = first; length <= last; length++) {
            runs->bits[length] = bc->codes[sym] | (length - first) << bc->lengths[sym];
            runs->count[length] = (uint8_t)(bc->lengths[sym] + length_extra[index] + distance_bits);
        }
    }
}

/* write_symbols with the literals 16 a step (put_literals_avx2), the last
 * step before a run or the end cut short; only the literals within 16 bytes
 * of the block's end, which the steps may not read past, go one by one. */
RLE_TARGET_AVX2_BMI2 static void
write_symbols_avx2(struct bit_writer *writer, const struct block_code *bc, const uint32_t *table,
                   const struct window_codes *window, const struct run_codes *run_codes,
                   const uint8_t *data, size_t from, size_t to, const uint32_t *runs,
                   size_t run_count)
{
    struct bit_writer w = *writer;
    const int *entries = (const int *)table;
    size_t at = from;
    for (size_t r = 0;; r++) {
        size_t stop = r < run_count ? runs[2 * r] : to;
        while (at < stop) {
            if (at + 16 > to) {
                write_literals(&w, bc, data, at, stop);
                break;
            }
            size_t count = stop - at < 16 ? stop - at : 16;
            if (!put_window_avx2(&w, window, data + at, count))
                put_literals_avx2(&w, entries, data + at, count);
            at += count;
        }
        if (r == run_count)
            break;
        size_t length = runs[2 * r + 1];
        /* At most 14 + 5 + 5 bits, the distance's zeros included. */
        put_bits(&w, run_codes->bits[length], run_codes->count[length]);
        flush_bits(&w);
        at = runs[2 * r] + length;
    }
    *writer = w;
}
#endif

/* A Huffman block, dynamic (with its header) or fixed. */
static void write_huffman(struct img__rle_stream *s, const struct block_code *bc, bool fixed,
                          const uint8_t *data, size_t from, size_t to, const uint32_t *runs,
                          size_t run_count, bool final)
{
    struct bit_writer w = writer_begin(s);
    if (fixed) {
        put_bits(&w, final ? 1 : 0, 1);
        put_bits(&w, 1, 2);
    } else {
        write_header(&w, bc, final);
    }
    /* Distance 1 is code 0: one 0 bit in our dynamic blocks, five in a
     * fixed one. */
    unsigned distance_bits = fixed ? 5 : 1;
    bool portable = true;
#if IMG_HAVE_AVX2_VARIANTS
    if (!s->portable && rle_has_avx2()) {
        /* The literals' codes and lengths in one entry each, for the
         * gathers. */
        uint32_t entries[256];
        for (int b = 0; b < 256; b++)
            entries[b] = (uint32_t)bc->codes[b] | (uint32_t)bc->lengths[b] << 16;
        struct window_codes window;
        window_codes_init(&window, bc->codes, bc->lengths);
        struct run_codes run_codes;
        run_codes_init(&run_codes, bc, distance_bits);
        write_symbols_avx2(&w, bc, entries, &window, &run_codes, data, from, to, runs, run_count);
        portable = false;
    }
#endif
    if (portable)
        write_symbols(&w, bc, data, from, to, runs, run_count, distance_bits);
    put_bits(&w, bc->codes[END_OF_BLOCK], bc->lengths[END_OF_BLOCK]);
    flush_bits(&w);
    writer_end(s, &w);
}

static void write_stored(struct img__rle_stream *s, const uint8_t *data, size_t size, bool final)
{
    struct bit_writer w = writer_begin(s);
    do {
        size_t take = size < STORED_MAX ? size : STORED_MAX;
        put_bits(&w, final && take == size ? 1 : 0, 1);
        put_bits(&w, 0, 2);
        align_to_byte(&w);
        w.out[0] = (uint8_t)take;
        w.out[1] = (uint8_t)(take >> 8);
        w.out[2] = (uint8_t)~take;
        w.out[3] = (uint8_t)(~take >> 8);
        memcpy(w.out + 4, data, take);
        w.out += 4 + take;
        data += take;
        size -= take;
    } while (size > 0);
    writer_end(s, &w);
}

/* The fixed Huffman code's lengths (3.2.6): literals 0-143 8 bits, 144-255
 * 9, 256-279 7, 280-287 8; distances 5 bits. */
static int fixed_length(int sym)
{
    return sym < 144 ? 8 : sym < 256 ? 9 : sym < 280 ? 7 : 8;
}

/* The size of the block with the fixed code, in bits. */
static uint64_t fixed_bits(const struct block_stats *st)
{
    uint64_t bits = 3;
    for (int sym = 0; sym < LITLEN_SYMBOLS; sym++)
        bits += (uint64_t)st->freq[sym] * (unsigned)fixed_length(sym);
    return bits + st->extra_bits + 5 * (uint64_t)st->run_count;
}

static void plan_fixed(struct block_code *bc)
{
    for (int sym = 0; sym < LITLEN_SYMBOLS + 2; sym++)
        bc->lengths[sym] = (uint8_t)fixed_length(sym);
    build_codes(bc->lengths, LITLEN_SYMBOLS + 2, bc->codes);
}

/* Stored blocks of `size` bytes from the current bit position, in bits. */
static uint64_t stored_bits(const struct img__rle_stream *s, size_t size)
{
    uint64_t pieces = (size + STORED_MAX - 1) / STORED_MAX;
    uint64_t first_pad = (8 - (s->bit_count + 3) % 8) % 8;
    return pieces * (3 + 32) + first_pad + (pieces - 1) * 5 + 8 * (uint64_t)size;
}

/* Where the block starting at byte `from`, run `first_run` ends: after
 * s->symbols_per_block symbols, or at `size`. Sets *end and *end_run. */
static void cut_block(const struct img__rle_stream *s, size_t size, size_t from, size_t first_run,
                      size_t *end, size_t *end_run)
{
    size_t r = first_run;
    if (s->symbols_per_block == 0) {
        *end = size;
        *end_run = s->run_count;
        return;
    }
    size_t symbols = 0, at = from;
    while (at < size) {
        size_t next_run = r < s->run_count ? s->runs[2 * r] : size;
        size_t literals = next_run - at;
        if (symbols + literals >= s->symbols_per_block) {
            at += s->symbols_per_block - symbols;
            break;
        }
        symbols += literals;
        at = next_run;
        if (r < s->run_count) {
            at += s->runs[2 * r + 1];
            r++;
            if (++symbols == s->symbols_per_block)
                break;
        }
    }
    *end = at;
    *end_run = r;
}

static int code_block(struct img__rle_stream *s, const uint8_t *data, size_t from, size_t to,
                      size_t first_run, size_t end_run, bool final)
{
    size_t run_count = end_run - first_run;
    /* No runs found yet means no run table at all (s->runs NULL): offsetting
     * a null pointer, even by zero, is undefined. */
    const uint32_t *runs = run_count > 0 ? s->runs + 2 * first_run : NULL;
    struct block_stats st;
    count_symbols(data, from, to, runs, run_count, s->portable, &st);
    struct block_code bc;
    plan_block(&st, &bc);
    uint64_t fixed = fixed_bits(&st);
    uint64_t stored = stored_bits(s, to - from);
    size_t stored_bytes = (size_t)((stored + 7) / 8) + HEADER_BOUND_BYTES;
    /* With estimated counts a Huffman block may come out larger than its
     * plan, up to its longest codes (14 bits a literal; a run of 3 or more
     * bytes takes at most 20): room for that, though the pages asked for
     * ahead are the stored form's, which the block ends no larger than. */
    size_t huffman_bytes = (to - from) * MAX_LITLEN_BITS / 8 + HEADER_BOUND_BYTES;
    /* The smallest of the three by the plan; on a tie the earlier one. */
    bool dynamic = bc.bits <= fixed && bc.bits < stored;
    bool huffman = dynamic || fixed < stored;
    int rc = reserve_likely(
        s, st.estimated && huffman && huffman_bytes > stored_bytes ? huffman_bytes : stored_bytes,
        stored_bytes);
    if (rc < 0)
        return rc;
    if (huffman) {
        size_t used = s->used;
        uint64_t bits = s->bits;
        unsigned bit_count = s->bit_count;
        if (!dynamic)
            plan_fixed(&bc);
        write_huffman(s, &bc, !dynamic, data, from, to, runs, run_count, final);
        /* A Huffman block larger than stored (an estimate gone wrong) is
         * taken back: every block is at most its stored form, which
         * encode.c's regions count on. */
        if ((s->used - used) * 8 + s->bit_count - bit_count > stored) {
            s->used = used;
            s->bits = bits;
            s->bit_count = bit_count;
            huffman = false;
        }
    }
    if (!huffman)
        write_stored(s, data + from, to - from, final);
    return 0;
}

/* ---- the stream ------------------------------------------------------------ */

int img__rle_init(struct img__rle_stream *s, size_t head, size_t expected, size_t symbols_per_block)
{
    memset(s, 0, sizeof(*s));
    s->symbols_per_block = symbols_per_block;
    s->capacity = head + expected + WRITE_SLACK;
    s->out = malloc(s->capacity);
    if (s->out == NULL) {
        img__rle_finish(s);
        return -ENOMEM;
    }
    s->head = head;
    s->used = head;
    return 0;
}

int img__rle_init_in(struct img__rle_stream *s, uint8_t *buffer, size_t capacity, size_t head,
                     size_t symbols_per_block)
{
    memset(s, 0, sizeof(*s));
    if (capacity < head + WRITE_SLACK)
        return -EINVAL;
    s->symbols_per_block = symbols_per_block;
    s->out = buffer;
    s->borrowed = true;
    s->capacity = capacity;
    s->head = head;
    s->used = head;
    return 0;
}

int img__rle_block(struct img__rle_stream *s, const uint8_t *data, size_t size, bool final)
{
    while (size > 0) {
        size_t take = size < IMG__RLE_CALL_MAX ? size : IMG__RLE_CALL_MAX;
        bool last = final && take == size;
        int rc = find_runs(s, data, take);
        size_t from = 0, run = 0;
        while (rc == 0 && from < take) {
            size_t to, end_run;
            cut_block(s, take, from, run, &to, &end_run);
            rc = code_block(s, data, from, to, run, end_run, last && to == take);
            from = to;
            run = end_run;
        }
        if (rc < 0)
            return rc;
        data += take;
        size -= take;
    }
    return 0;
}

int img__rle_end(struct img__rle_stream *s, bool final)
{
    int rc = reserve(s, 8);
    if (rc < 0)
        return rc;
    struct bit_writer w = writer_begin(s);
    if (!final) {
        /* An empty stored block: 3 header bits, padding, 00 00 ff ff. */
        put_bits(&w, 0, 3);
        align_to_byte(&w);
        memcpy(w.out, "\x00\x00\xff\xff", 4);
        w.out += 4;
    } else {
        align_to_byte(&w);
    }
    writer_end(s, &w);
    return 0;
}

void img__rle_finish(struct img__rle_stream *s)
{
    if (!s->borrowed)
        free(s->out);
    free(s->runs);
    s->out = NULL;
    s->runs = NULL;
}
