/* How many Huffman groups a lossless WebP (VP8L) stream makes libwebp
 * allocate, read from the bitstream before decoding, for the memory
 * estimate (decode_webp.c).
 *
 * libwebp has no allocator hook, and its lossless decoder allocates a set of
 * Huffman tables for every group of the meta-prefix ("entropy") image: about
 * 12 KiB each, 20 KiB with an 11-bit colour cache. The group count is not in
 * any header; it is the number of distinct values in the entropy image
 * (VP8L's ReadHuffmanCodes: the largest index + 1 when that is at most 1000
 * and at most the pixel count, else the distinct indices). An encoder may use
 * up to 65536 groups (a ceil(w/4) x ceil(h/4) entropy image at huffman_bits
 * 2), so a 600 KB file of 1 MP can make libwebp hold 1.3 GB
 * (tests/unit/test_webp_groups.c measures it).
 *
 * So this walks the stream as the WebP lossless specification (RFC 9649)
 * says, as far as the entropy image: the transforms (their sub-images are
 * decoded for their length only), the colour cache, then the entropy image
 * itself, whose values are needed: LZ77 copies reach at most 2^20 pixels
 * back, so a ring of that many (4 MiB at most) holds what a copy can read.
 * The group codes after it are not read: their count is what is asked.
 * Bounded: every loop reads bits or stops at the end of the data, each
 * sub-image has at most the pixels its header says, and the work is a few
 * symbols per sub-image pixel (at most 3/16 of the image's pixels). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imaging_private.h"

#define NUM_LITERALS 256
#define NUM_LENGTH_CODES 24
#define NUM_DISTANCE_CODES 40
#define MAX_CACHE_BITS 11
#define MAX_ALPHABET (NUM_LITERALS + NUM_LENGTH_CODES + (1 << MAX_CACHE_BITS))
#define MAX_CODE_LENGTH 15
#define RING_MAX_BITS 20 /* the farthest an LZ77 distance reaches: 2^20 - 120 */

struct bits {
    const uint8_t *data;
    size_t size;
    uint64_t pos; /* in bits */
    bool overrun;
};

static uint32_t read_bits(struct bits *br, unsigned count)
{
    uint32_t value = 0;
    for (unsigned i = 0; i < count; i++) {
        uint64_t byte = br->pos >> 3;
        if (byte >= br->size) {
            br->overrun = true;
            return 0;
        }
        value |= (uint32_t)((br->data[byte] >> (br->pos & 7)) & 1) << i;
        br->pos++;
    }
    return value;
}

/* A canonical prefix code: symbols sorted by (length, symbol). A code with
 * one used symbol takes no bits (single). */
struct code {
    uint16_t count[MAX_CODE_LENGTH + 1];
    uint16_t symbols[MAX_ALPHABET];
    int single; /* the symbol when there is only one, else -1 */
};

/* 0, or -EINVAL for no symbol or an incomplete or over-subscribed code
 * (libwebp's BuildHuffmanTable refuses those too). */
static int code_build(struct code *code, const uint8_t *lengths, unsigned alphabet)
{
    memset(code->count, 0, sizeof(code->count));
    unsigned used = 0;
    int last = -1;
    for (unsigned s = 0; s < alphabet; s++) {
        code->count[lengths[s]]++;
        if (lengths[s] != 0) {
            used++;
            last = (int)s;
        }
    }
    code->single = -1;
    if (used == 0)
        return -EINVAL;
    if (used == 1) {
        code->single = last;
        return 0;
    }
    int32_t left = 1;
    for (int len = 1; len <= MAX_CODE_LENGTH; len++) {
        left = 2 * left - code->count[len];
        if (left < 0)
            return -EINVAL;
    }
    if (left != 0)
        return -EINVAL;
    uint16_t offset[MAX_CODE_LENGTH + 2];
    offset[1] = 0;
    for (int len = 1; len <= MAX_CODE_LENGTH; len++)
        offset[len + 1] = (uint16_t)(offset[len] + code->count[len]);
    for (unsigned s = 0; s < alphabet; s++)
        if (lengths[s] != 0)
            code->symbols[offset[lengths[s]]++] = (uint16_t)s;
    code->count[0] = 0;
    return 0;
}

/* One symbol, the code's first bit first (its most significant). */
static int code_read(const struct code *code, struct bits *br)
{
    if (code->single >= 0)
        return code->single;
    int value = 0, first = 0, index = 0;
    for (int len = 1; len <= MAX_CODE_LENGTH; len++) {
        value |= (int)read_bits(br, 1);
        int count = code->count[len];
        if (value - first < count)
            return code->symbols[index + value - first];
        index += count;
        first = (first + count) << 1;
        value <<= 1;
    }
    return -1; /* unreachable for a complete code */
}

/* Reads one prefix code of `alphabet` symbols (simple or normal). */
static int read_code(struct bits *br, unsigned alphabet, struct code *code, uint8_t *lengths)
{
    memset(lengths, 0, alphabet);
    if (read_bits(br, 1)) { /* simple: one or two symbols, each of length 1 */
        unsigned symbols = read_bits(br, 1) + 1;
        unsigned first = read_bits(br, read_bits(br, 1) ? 8 : 1);
        if (first >= alphabet)
            return -EINVAL;
        lengths[first] = 1;
        if (symbols == 2) {
            unsigned second = read_bits(br, 8);
            if (second >= alphabet)
                return -EINVAL;
            lengths[second] = 1;
        }
        return br->overrun ? -EINVAL : code_build(code, lengths, alphabet);
    }
    /* The code-length code's lengths, in the specification's order. */
    static const uint8_t order[19] = {17, 18, 0, 1,  2,  3,  4,  5,  16, 6,
                                      7,  8,  9, 10, 11, 12, 13, 14, 15};
    uint8_t length_lengths[19] = {0};
    unsigned listed = read_bits(br, 4) + 4;
    for (unsigned i = 0; i < listed; i++)
        length_lengths[order[i]] = (uint8_t)read_bits(br, 3);
    struct code length_code;
    if (br->overrun || code_build(&length_code, length_lengths, 19) < 0)
        return -EINVAL;
    unsigned max_symbol = alphabet;
    if (read_bits(br, 1)) {
        unsigned width = 2 + 2 * read_bits(br, 3);
        max_symbol = 2 + read_bits(br, width);
        if (max_symbol > alphabet)
            return -EINVAL;
    }
    unsigned symbol = 0;
    uint8_t previous = 8;
    while (symbol < alphabet && max_symbol-- > 0) {
        int length = code_read(&length_code, br);
        if (br->overrun || length < 0)
            return -EINVAL;
        if (length < 16) {
            lengths[symbol++] = (uint8_t)length;
            if (length != 0)
                previous = (uint8_t)length;
            continue;
        }
        unsigned repeat = length == 16   ? 3 + read_bits(br, 2)
                          : length == 17 ? 3 + read_bits(br, 3)
                                         : 11 + read_bits(br, 7);
        if (symbol + repeat > alphabet)
            return -EINVAL;
        uint8_t value = length == 16 ? previous : 0;
        memset(lengths + symbol, value, repeat);
        symbol += repeat;
    }
    return br->overrun ? -EINVAL : code_build(code, lengths, alphabet);
}

/* Prefix-coded LZ77 lengths and distances (RFC 9649 section 5.2.2). */
static uint32_t read_prefixed(struct bits *br, unsigned prefix)
{
    if (prefix < 4)
        return prefix + 1;
    unsigned extra = (prefix - 2) >> 1;
    uint32_t offset = (uint32_t)(2 + (prefix & 1)) << extra;
    return offset + read_bits(br, extra) + 1;
}

/* The specification's 120 short distances as (dx, dy) neighbours. */
static uint32_t plane_distance(uint32_t code, uint32_t xsize)
{
    static const int8_t neighbours[120][2] = {
        {0, 1},  {1, 0},  {1, 1},  {-1, 1}, {0, 2},  {2, 0},  {1, 2},  {-1, 2}, {2, 1},  {-2, 1},
        {2, 2},  {-2, 2}, {0, 3},  {3, 0},  {1, 3},  {-1, 3}, {3, 1},  {-3, 1}, {2, 3},  {-2, 3},
        {3, 2},  {-3, 2}, {0, 4},  {4, 0},  {1, 4},  {-1, 4}, {4, 1},  {-4, 1}, {3, 3},  {-3, 3},
        {2, 4},  {-2, 4}, {4, 2},  {-4, 2}, {0, 5},  {3, 4},  {-3, 4}, {4, 3},  {-4, 3}, {5, 0},
        {1, 5},  {-1, 5}, {5, 1},  {-5, 1}, {2, 5},  {-2, 5}, {5, 2},  {-5, 2}, {4, 4},  {-4, 4},
        {3, 5},  {-3, 5}, {5, 3},  {-5, 3}, {0, 6},  {6, 0},  {1, 6},  {-1, 6}, {6, 1},  {-6, 1},
        {2, 6},  {-2, 6}, {6, 2},  {-6, 2}, {4, 5},  {-4, 5}, {5, 4},  {-5, 4}, {3, 6},  {-3, 6},
        {6, 3},  {-6, 3}, {0, 7},  {7, 0},  {1, 7},  {-1, 7}, {5, 5},  {-5, 5}, {7, 1},  {-7, 1},
        {4, 6},  {-4, 6}, {6, 4},  {-6, 4}, {2, 7},  {-2, 7}, {7, 2},  {-7, 2}, {3, 7},  {-3, 7},
        {7, 3},  {-7, 3}, {5, 6},  {-5, 6}, {6, 5},  {-6, 5}, {8, 0},  {4, 7},  {-4, 7}, {7, 4},
        {-7, 4}, {8, 1},  {8, 2},  {6, 6},  {-6, 6}, {8, 3},  {5, 7},  {-5, 7}, {7, 5},  {-7, 5},
        {8, 4},  {6, 7},  {-6, 7}, {7, 6},  {-7, 6}, {8, 5},  {7, 7},  {-7, 7}, {8, 6},  {8, 7},
    };
    if (code > 120)
        return code - 120;
    int64_t distance = (int64_t)neighbours[code - 1][0] + (int64_t)neighbours[code - 1][1] * xsize;
    return distance < 1 ? 1 : (uint32_t)distance;
}

/* The five codes of one group, and the scratch to read them. */
struct group {
    struct code green, red, blue, alpha, distance;
    uint8_t lengths[MAX_ALPHABET];
};

/* The entropy image's values, for the groups: a ring the copies read. */
struct values {
    uint32_t *ring;
    uint32_t mask;
    uint32_t largest;   /* the largest group index seen */
    uint32_t distinct;  /* how many different ones */
    uint8_t seen[8192]; /* a bit per index */
};

static void note_value(struct values *v, uint64_t pos, uint32_t argb)
{
    v->ring[pos & v->mask] = argb;
    uint32_t group = (argb >> 8) & 0xffff;
    if (group > v->largest)
        v->largest = group;
    if (!(v->seen[group >> 3] & (1u << (group & 7)))) {
        v->seen[group >> 3] |= (uint8_t)(1u << (group & 7));
        v->distinct++;
    }
}

/* A sub-image of xsize x ysize (a transform's or the entropy image): its
 * colour cache, one group of codes, the pixels. `values` NULL: only the
 * length matters. */
static int read_subimage(struct bits *br, uint32_t xsize, uint32_t ysize, struct group *g,
                         struct values *values)
{
    unsigned cache_bits = 0;
    if (read_bits(br, 1)) {
        cache_bits = read_bits(br, 4);
        if (cache_bits < 1 || cache_bits > MAX_CACHE_BITS)
            return -EINVAL;
    }
    uint32_t cache[1 << MAX_CACHE_BITS];
    unsigned cache_size = cache_bits ? 1u << cache_bits : 0;
    if (read_code(br, NUM_LITERALS + NUM_LENGTH_CODES + cache_size, &g->green, g->lengths) < 0 ||
        read_code(br, NUM_LITERALS, &g->red, g->lengths) < 0 ||
        read_code(br, NUM_LITERALS, &g->blue, g->lengths) < 0 ||
        read_code(br, NUM_LITERALS, &g->alpha, g->lengths) < 0 ||
        read_code(br, NUM_DISTANCE_CODES, &g->distance, g->lengths) < 0)
        return -EINVAL;
    uint64_t total = (uint64_t)xsize * ysize;
    /* Codes of one symbol take no bits: every pixel is the same one (a
     * literal, or from the cache, which then only ever held 0), however
     * many the header claims; skipped at no cost, not pixel by pixel. A
     * lone length code cannot start an image (nothing to copy from). */
    int lone = g->green.single;
    if (lone >= NUM_LITERALS + NUM_LENGTH_CODES ||
        (lone >= 0 && lone < NUM_LITERALS && g->red.single >= 0 && g->blue.single >= 0 &&
         g->alpha.single >= 0)) {
        uint32_t argb = lone >= NUM_LITERALS
                            ? 0
                            : (uint32_t)g->alpha.single << 24 | (uint32_t)g->red.single << 16 |
                                  (uint32_t)lone << 8 | (uint32_t)g->blue.single;
        if (values != NULL)
            note_value(values, 0, argb);
        return 0;
    }
    if (lone >= NUM_LITERALS)
        return -EINVAL;
    if (values != NULL && cache_bits)
        memset(cache, 0, sizeof(uint32_t) * cache_size);
    uint64_t pos = 0;
    while (pos < total) {
        if (br->overrun)
            return -EINVAL;
        int green = code_read(&g->green, br);
        if (green < 0)
            return -EINVAL;
        if (green < NUM_LITERALS) {
            int red = code_read(&g->red, br);
            int blue = code_read(&g->blue, br);
            int alpha = code_read(&g->alpha, br);
            if (values != NULL) {
                uint32_t argb = (uint32_t)alpha << 24 | (uint32_t)red << 16 | (uint32_t)green << 8 |
                                (uint32_t)blue;
                note_value(values, pos, argb);
                if (cache_bits)
                    cache[(0x1e35a7bdu * argb) >> (32 - cache_bits)] = argb;
            }
            pos++;
        } else if (green < NUM_LITERALS + NUM_LENGTH_CODES) {
            uint32_t length = read_prefixed(br, (unsigned)green - NUM_LITERALS);
            int symbol = code_read(&g->distance, br);
            uint32_t distance = plane_distance(read_prefixed(br, (unsigned)symbol), xsize);
            if (br->overrun || distance > pos || length > total - pos)
                return -EINVAL;
            for (uint32_t i = 0; values != NULL && i < length; i++) {
                uint32_t argb = values->ring[(pos + i - distance) & values->mask];
                note_value(values, pos + i, argb);
                if (cache_bits)
                    cache[(0x1e35a7bdu * argb) >> (32 - cache_bits)] = argb;
            }
            pos += length;
        } else {
            unsigned key = (unsigned)green - NUM_LITERALS - NUM_LENGTH_CODES;
            if (values != NULL) {
                uint32_t argb = cache[key];
                note_value(values, pos, argb);
                cache[(0x1e35a7bdu * argb) >> (32 - cache_bits)] = argb;
            }
            pos++;
        }
    }
    return br->overrun ? -EINVAL : 0;
}

static uint32_t subsample(uint32_t size, unsigned bits)
{
    return (size + (1u << bits) - 1) >> bits;
}

/* The main image stream of xsize x ysize: transforms, colour cache, and the
 * entropy image when there is one. */
static int scan_stream(struct bits *br, uint32_t xsize, uint32_t ysize, struct img__vp8l_scan *scan)
{
    struct group *g = malloc(sizeof(*g));
    if (g == NULL)
        return -ENOMEM;
    int ret = -EINVAL;
    struct values *values = NULL;
    unsigned seen = 0;
    while (read_bits(br, 1)) {
        unsigned type = read_bits(br, 2);
        if (br->overrun || seen & (1u << type))
            goto done;
        seen |= 1u << type;
        if (type == 0 || type == 1) { /* predictor, cross-colour */
            unsigned bits = read_bits(br, 3) + 2;
            uint32_t w = subsample(xsize, bits), h = subsample(ysize, bits);
            scan->aux_pixels += (uint64_t)w * h;
            if (read_subimage(br, w, h, g, NULL) < 0)
                goto done;
        } else if (type == 3) { /* colour indexing: the palette, then pixels bundled */
            uint32_t colors = read_bits(br, 8) + 1;
            unsigned bits = colors > 16 ? 0 : colors > 4 ? 1 : colors > 2 ? 2 : 3;
            scan->aux_pixels += 256;
            if (read_subimage(br, colors, 1, g, NULL) < 0)
                goto done;
            xsize = subsample(xsize, bits);
        }
    }
    if (read_bits(br, 1)) {
        scan->cache_bits = read_bits(br, 4);
        if (scan->cache_bits < 1 || scan->cache_bits > MAX_CACHE_BITS)
            goto done;
    }
    scan->groups = 1;
    if (!read_bits(br, 1)) {
        ret = br->overrun ? -EINVAL : 0;
        goto done;
    }
    unsigned bits = read_bits(br, 3) + 2;
    uint32_t w = subsample(xsize, bits), h = subsample(ysize, bits);
    uint64_t pixels = (uint64_t)w * h;
    scan->aux_pixels += pixels;
    unsigned ring_bits = 0;
    while (ring_bits < RING_MAX_BITS && ((uint64_t)1 << ring_bits) < pixels)
        ring_bits++;
    values = calloc(1, sizeof(*values));
    if (values == NULL || (values->ring = malloc(sizeof(uint32_t) << ring_bits)) == NULL) {
        ret = -ENOMEM;
        goto done;
    }
    values->mask = (1u << ring_bits) - 1;
    if (read_subimage(br, w, h, g, values) < 0)
        goto done;
    uint32_t largest = values->largest + 1;
    /* libwebp keeps every index up to the largest when that is small, and
     * maps the used ones to 0..distinct-1 otherwise. */
    bool mapped = largest > 1000 || (uint64_t)largest > (uint64_t)xsize * ysize;
    scan->groups = mapped ? values->distinct : largest;
    scan->largest_index = largest;
    ret = 0;
done:
    if (values != NULL)
        free(values->ring);
    free(values);
    free(g);
    return ret;
}

int img__vp8l_scan(const uint8_t *data, size_t size, uint32_t width, uint32_t height, bool header,
                   struct img__vp8l_scan *scan)
{
    memset(scan, 0, sizeof(*scan));
    struct bits br = {data, size, 0, false};
    if (header) {
        if (read_bits(&br, 8) != 0x2f)
            return -EINVAL;
        width = read_bits(&br, 14) + 1;
        height = read_bits(&br, 14) + 1;
        read_bits(&br, 1); /* alpha is used */
        if (read_bits(&br, 3) != 0 || br.overrun)
            return -EINVAL;
    }
    if (width == 0 || height == 0)
        return -EINVAL;
    return scan_stream(&br, width, height, scan);
}

/* libwebp's Huffman table entries per group (4 bytes each): its kTableSize
 * is 2954 for the five codes plus 2 to 2050 more as the colour cache widens
 * the green alphabet; 2960 + 2^cache_bits is at least that for every cache
 * size. Its HTreeGroup beside them is under 640 bytes. */
size_t img__vp8l_group_bytes(unsigned cache_bits)
{
    return 4 * (2960 + ((size_t)1 << cache_bits)) + 640;
}

size_t img__vp8l_bytes(const struct img__vp8l_scan *scan)
{
    /* The groups' tables, the sub-images libwebp keeps for the whole decode
     * (4 bytes a pixel) and its index mapping (4 bytes an index). */
    return (size_t)scan->groups * img__vp8l_group_bytes(scan->cache_bits) +
           4 * (size_t)scan->aux_pixels + 4 * (size_t)scan->largest_index;
}

size_t img__vp8l_bound_bytes(uint32_t width, uint32_t height)
{
    /* Without the entropy image: as many groups as libwebp could allocate
     * (a 2-bit entropy image of distinct indices, at most 65536; or up to
     * 1000 unmapped), at the widest cache, and three sub-images at 2 bits. */
    uint64_t entropy = (uint64_t)subsample(width, 2) * subsample(height, 2);
    uint64_t pixels = (uint64_t)width * height;
    uint64_t groups = entropy < 65536 ? entropy : 65536;
    uint64_t unmapped = pixels < 1000 ? pixels : 1000;
    if (unmapped > groups)
        groups = unmapped;
    return (size_t)groups * img__vp8l_group_bytes(MAX_CACHE_BITS) + 3 * 4 * (size_t)entropy +
           4 * 65536;
}
