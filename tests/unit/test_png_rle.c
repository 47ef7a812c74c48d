/* Unit tests for the level-1 PNG encoder (imaging/png_rle.c and its use in
 * imaging/encode.c):
 *   - png_rle's raw deflate streams inflate (zlib) to their input, for runs
 *     at every length boundary, noise, tiny inputs and any cut into calls;
 *     two streams joined decode as one; noise costs no more than stored
 *     blocks, tiny inputs take the fixed code;
 *   - level-1 PNGs of random and real edge maps (Sobel, Canny, tutorial of
 *     the sample photos) of odd sizes and strides decode with libpng to the
 *     exact pixels, and `pngcheck` accepts them;
 *   - the bytes do not depend on the order the bands run in;
 *   - on the samples, levels 1, 2 and 6 are no larger than they were before
 *     png_rle (zlib Z_RLE: img__encode_png_with), per image;
 *   - blocks whose code comes from estimated counts (16 KiB and more): a
 *     middle byte missing from the sample still decodes, and a sample that
 *     misleads the code ends no larger than stored blocks, as streams and
 *     as PNGs, with the portable and the AVX2 counts.
 * SAMPLES is the folder of sample photos, PNGCHECK the pngcheck binary
 * (tests/unit/meson.build sets both). */
#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "test_random.h"
#include "inflate_check.h"
#include "imaging.h"
#include "imaging_private.h" /* img__encode_png_with: the old level 1 */
#include "png_rle.h"

/* ---- png_rle streams --------------------------------------------------- */

/* Codes data[0, size) in calls of random sizes; returns the stream's size
 * (the stream itself in *out, malloc'd) and in *blocks the stored blocks
 * the calls would take (no symbol limit here: a block per call). */
static size_t encode_cut_blocks(const uint8_t *data, size_t size, bool final,
                                size_t symbols_per_block, uint64_t *rng, uint8_t **out,
                                size_t *blocks)
{
    *blocks = 0;
    struct img__rle_stream s;
    CHECK_EQ(img__rle_init(&s, 3, 16, symbols_per_block), 0); /* a small first size: it must grow */
    size_t at = 0;
    while (at < size) {
        size_t left = size - at;
        size_t take = 1 + next_random(rng) % (left < 100000 ? left : 100000);
        if (next_random(rng) % 3 == 0)
            take = left;
        CHECK_EQ(img__rle_block(&s, data + at, take, final && at + take == size), 0);
        *blocks += (take + 65534) / 65535; /* a stored block holds 65535 bytes */
        at += take;
    }
    CHECK_EQ(img__rle_end(&s, final), 0);
    size_t bytes = s.used - s.head;
    *out = malloc(bytes + 1);
    CHECK(*out != NULL);
    memcpy(*out, s.out + s.head, bytes);
    img__rle_finish(&s);
    return bytes;
}

static size_t encode_cut(const uint8_t *data, size_t size, bool final, uint64_t *rng, uint8_t **out)
{
    size_t blocks;
    return encode_cut_blocks(data, size, final, 0, rng, out, &blocks);
}

enum pattern { NOISE, RUNS, SPARSE, STEPS, PATTERN_COUNT };

static void fill(uint8_t *data, size_t size, enum pattern pattern, uint64_t *rng)
{
    size_t i = 0;
    while (i < size) {
        switch (pattern) {
        case NOISE:
            data[i++] = (uint8_t)next_random(rng);
            break;
        case RUNS: {
            /* Runs of every length around the code boundaries, 258 and
             * beyond included. */
            static const size_t lengths[] = {1,   2,   3,   4,   10,  11,  12,  13,  18,
                                             19,  34,  35,  66,  67,  130, 131, 226, 227,
                                             256, 257, 258, 259, 260, 517, 1000};
            size_t run = lengths[next_random(rng) % (sizeof(lengths) / sizeof(lengths[0]))];
            uint8_t value = (uint8_t)(next_random(rng) % 4);
            for (size_t k = 0; k < run && i < size; k++)
                data[i++] = value;
            break;
        }
        case SPARSE:
            data[i++] = next_random(rng) % 11 == 0 ? (uint8_t)next_random(rng) : 0;
            break;
        default:
            data[i] = (uint8_t)(i / 97 + (next_random(rng) & 1));
            i++;
            break;
        }
    }
}

static void test_stream_round_trip(void)
{
    uint64_t rng = 2024;
    static const size_t sizes[] = {1,   2,    3,     4,     5,     9,     10,    11,    17,
                                   100, 1000, 32767, 32768, 32769, 65535, 65536, 70001, 200003};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int pattern = 0; pattern < PATTERN_COUNT; pattern++) {
            size_t size = sizes[s];
            uint8_t *data = malloc(size);
            CHECK(data != NULL);
            fill(data, size, (enum pattern)pattern, &rng);
            uint8_t *deflated;
            size_t blocks;
            size_t bytes = encode_cut_blocks(data, size, true, 0, &rng, &deflated, &blocks);
            check_inflates(deflated, bytes, data, size);
            free(deflated);
            /* Cut by symbol counts too (runs at block starts refer to the
             * previous block's bytes). */
            size_t symbol_blocks;
            size_t symbol_bytes = encode_cut_blocks(data, size, true, 1 + next_random(&rng) % 5000,
                                                    &rng, &deflated, &symbol_blocks);
            check_inflates(deflated, symbol_bytes, data, size);
            /* Noise: never more than stored blocks cost (5 bytes a block,
             * 2 of padding at most). */
            if (pattern == NOISE)
                CHECK_LE(bytes, size + 5 * blocks + 2);
            free(deflated);
            free(data);
        }
    }

    /* Two streams, the first not final, joined: one stream of both. */
    uint8_t *both = malloc(150000);
    CHECK(both != NULL);
    fill(both, 80000, RUNS, &rng);
    fill(both + 80000, 70000, SPARSE, &rng);
    uint8_t *first, *second;
    size_t first_size = encode_cut(both, 80000, false, &rng, &first);
    size_t second_size = encode_cut(both + 80000, 70000, true, &rng, &second);
    /* A sync marker ends the first: an empty stored block. */
    CHECK_MEM_EQ(first + first_size - 4, "\x00\x00\xff\xff", 4);
    uint8_t *joined = malloc(first_size + second_size);
    CHECK(joined != NULL);
    memcpy(joined, first, first_size);
    memcpy(joined + first_size, second, second_size);
    check_inflates(joined, first_size + second_size, both, 150000);
    free(joined);
    free(first);
    free(second);
    free(both);

    /* Ten distinct bytes: the fixed code (3 + 10 * 8 + 7 bits = 12 bytes)
     * beats a dynamic header (over 20 bytes) and stored (15 bytes). */
    static const uint8_t ten[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct img__rle_stream tiny;
    CHECK_EQ(img__rle_init(&tiny, 0, 1, 0), 0);
    CHECK_EQ(img__rle_block(&tiny, ten, sizeof(ten), true), 0);
    CHECK_EQ(img__rle_end(&tiny, true), 0);
    check_inflates(tiny.out, tiny.used, ten, sizeof(ten));
    CHECK_EQ(tiny.used, 12);
    CHECK_EQ(tiny.out[0] & 7, 3); /* BFINAL 1, BTYPE 01: fixed */
    img__rle_finish(&tiny);
}

/* ---- PNG files ---------------------------------------------------------- */

/* libpng's decode of `png` must be exactly `want`. */
static void check_libpng(const uint8_t *png, size_t size, const struct img_buf *want)
{
    png_image image;
    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_memory(&image, png, size) != 0);
    CHECK_EQ(image.width, (png_uint_32)want->width);
    CHECK_EQ(image.height, (png_uint_32)want->height);
    image.format = PNG_FORMAT_GRAY;
    uint8_t *pixels = malloc((size_t)want->width * (size_t)want->height);
    CHECK(pixels != NULL);
    CHECK(png_image_finish_read(&image, NULL, pixels, want->width, NULL) != 0);
    CHECK_EQ(image.warning_or_error, 0);
    for (int y = 0; y < want->height; y++)
        CHECK_MEM_EQ(pixels + (size_t)y * (size_t)want->width,
                     want->data + (size_t)y * want->stride, (size_t)want->width);
    free(pixels);
}

/* `pngcheck -q` (quiet: prints only errors) accepts the file. */
static void check_pngcheck(const uint8_t *png, size_t size)
{
    const char *pngcheck = getenv("PNGCHECK");
    if (pngcheck == NULL || pngcheck[0] == '\0') {
        fprintf(stderr, "PNGCHECK is not set: pngcheck missing (make test-deps)\n");
        CHECK(!"pngcheck");
    }
    char path[] = "/tmp/test_png_rle_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, png, size), (ssize_t)size);
    CHECK_EQ(close(fd), 0);
    char command[512];
    snprintf(command, sizeof(command), "'%s' -q '%s'", pngcheck, path);
    int status = system(command);
    unlink(path);
    CHECK_EQ(status, 0);
}

static void check_png(const struct img_buf *gray, bool run_pngcheck)
{
    uint8_t *png = NULL;
    size_t size = 0;
    char err[256] = "";
    CHECK_EQ(img_encode_png(gray, 1, &png, &size, err, sizeof(err)), 0);
    check_libpng(png, size, gray);
    if (run_pngcheck)
        check_pngcheck(png, size);
    free(png);
}

/* A width x height copy of `src` at (x0, y0) with `pad` bytes of stride
 * padding (filled with noise, which must not leak into the file). */
static struct img_buf crop(const struct img_buf *src, int x0, int y0, int width, int height,
                           size_t pad, uint64_t *rng)
{
    struct img_buf out = {0};
    out.width = width;
    out.height = height;
    out.channels = 1;
    out.stride = (size_t)width + pad;
    out.data = malloc(out.stride * (size_t)height);
    CHECK(out.data != NULL);
    for (int y = 0; y < height; y++) {
        uint8_t *row = out.data + (size_t)y * out.stride;
        memcpy(row, src->data + (size_t)(y0 + y) * src->stride + (size_t)x0, (size_t)width);
        for (size_t k = (size_t)width; k < out.stride; k++)
            row[k] = (uint8_t)next_random(rng);
    }
    return out;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        CHECK(!"sample missing");
    }
    CHECK_EQ(fseek(in, 0, SEEK_END), 0);
    long length = ftell(in);
    CHECK_GT(length, 0);
    rewind(in);
    uint8_t *data = malloc((size_t)length);
    CHECK(data != NULL);
    CHECK_EQ(fread(data, 1, (size_t)length, in), (size_t)length);
    fclose(in);
    *size = (size_t)length;
    return data;
}

static const char *const sample_names[] = {
    "aqua.jpg",   "blinds.jpg",      "dune.jpg",     "freshflower.jpg",
    "garden.jpg", "greenmeadow.jpg", "ladybird.jpg", "raindrops.jpg",
    "storm.jpg",  "twowings.jpg",    "wood.jpg",     "yellowflower.jpg",
};
#define SAMPLE_COUNT (sizeof(sample_names) / sizeof(sample_names[0]))

/* The edge map of sample `index` by `op`. */
static struct img_buf sample_map(size_t index, enum img_operator op)
{
    const char *folder = getenv("SAMPLES");
    CHECK(folder != NULL);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", folder, sample_names[index]);
    size_t size;
    uint8_t *jpeg = read_file(path, &size);
    struct img_buf pixels, edges;
    char err[256] = "";
    CHECK_EQ(
        img_decode(jpeg, size, img_operator_channels(op), UINT64_MAX, &pixels, err, sizeof(err)),
        0);
    CHECK_EQ(img_apply(op, &pixels, &edges), 0);
    img_buf_finish(&pixels);
    free(jpeg);
    return edges;
}

static void test_png_round_trip(void)
{
    uint64_t rng = 77;
    /* Random maps: noise, sparse, runs; odd sizes, 1 pixel up to several
     * bands; stride padding. */
    static const int sizes[][2] = {{1, 1},   {1, 9},     {9, 1},     {3, 3},      {17, 5},
                                   {31, 33}, {255, 257}, {1023, 17}, {4097, 300}, {1501, 1800}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int width = sizes[s][0], height = sizes[s][1];
        struct img_buf gray = {0};
        gray.width = width;
        gray.height = height;
        gray.channels = 1;
        gray.stride = (size_t)width + next_random(&rng) % 5;
        gray.data = malloc(gray.stride * (size_t)height);
        CHECK(gray.data != NULL);
        fill(gray.data, gray.stride * (size_t)height, (enum pattern)(s % PATTERN_COUNT), &rng);
        check_png(&gray, true);
        free(gray.data);
    }

    /* Real maps: every sample's Sobel map whole, Canny and tutorial maps of
     * a few; odd crops of them. */
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        struct img_buf sobel = sample_map(i, IMG_OP_SOBEL);
        check_png(&sobel, i % 4 == 0);
        int width = 1 + 2 * (int)(next_random(&rng) % (uint32_t)(sobel.width / 2 - 1));
        int height = 1 + 2 * (int)(next_random(&rng) % (uint32_t)(sobel.height / 2 - 1));
        struct img_buf part = crop(&sobel, sobel.width - width, sobel.height - height, width,
                                   height, next_random(&rng) % 7, &rng);
        check_png(&part, i % 4 == 1);
        free(part.data);
        img_buf_finish(&sobel);
    }
    for (size_t i = 0; i < SAMPLE_COUNT; i += 5) {
        struct img_buf canny = sample_map(i, IMG_OP_CANNY);
        check_png(&canny, true);
        img_buf_finish(&canny);
        struct img_buf tutorial = sample_map(i, IMG_OP_TUTORIAL);
        check_png(&tutorial, true);
        img_buf_finish(&tutorial);
    }
}

/* A real map of several bands (2x2 copies of a Sobel map, 3240x2160) gives
 * img_encode_png's bytes whatever order its bands run in. */
static void test_band_order(void)
{
    struct img_buf sobel = sample_map(2, IMG_OP_SOBEL);
    struct img_buf big;
    CHECK_EQ(img_buf_init(&big, 2 * sobel.width, 2 * sobel.height, 1), 0);
    for (int y = 0; y < big.height; y++)
        for (int half = 0; half < 2; half++)
            memcpy(big.data + (size_t)y * big.stride + (size_t)half * (size_t)sobel.width,
                   sobel.data + (size_t)(y % sobel.height) * sobel.stride, (size_t)sobel.width);
    uint8_t *want = NULL;
    size_t want_size = 0;
    CHECK_EQ(img_encode_png(&big, 1, &want, &want_size, NULL, 0), 0);

    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(&big, 1, &bands), 0);
    int count = img_png_bands_count(bands);
    CHECK_GE(count, 4);
    for (int i = count - 1; i >= 0; i -= 2)
        CHECK_EQ(img_png_bands_run(bands, i), 0);
    for (int i = count - 2; i >= 0; i -= 2)
        CHECK_EQ(img_png_bands_run(bands, i), 0);
    uint8_t *png = NULL;
    size_t size = 0;
    CHECK_EQ(img_png_bands_finish(bands, &png, &size), 0);
    img_png_bands_destroy(bands);
    CHECK_EQ(size, want_size);
    CHECK_MEM_EQ(png, want, size);
    check_libpng(png, size, &big);
    check_pngcheck(png, size);
    free(png);
    free(want);
    img_buf_finish(&big);
    img_buf_finish(&sobel);
}

/* Each level's bytes against the old ones' (zlib Z_RLE with UP at 1, PAETH
 * at 2-3, every filter at 4-9; NONE for maps of only 0 and 255), each
 * sample and operator. */
static void test_size_against_old_levels(void)
{
    static const enum img_operator ops[] = {IMG_OP_SOBEL, IMG_OP_CANNY, IMG_OP_TUTORIAL};
    static const int levels[] = {1, 2, 6};
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
            int level = levels[l];
            if (level > 1 && ops[o] != IMG_OP_SOBEL)
                continue; /* two-level maps: zlib at every level, as before */
            size_t new_total = 0, old_total = 0;
            for (size_t i = 0; i < SAMPLE_COUNT; i++) {
                struct img_buf map = sample_map(i, ops[o]);
                uint8_t *png = NULL, *old = NULL;
                size_t size = 0, old_size = 0;
                CHECK_EQ(img_encode_png(&map, level, &png, &size, NULL, 0), 0);
                int old_filter = ops[o] != IMG_OP_SOBEL ? PNG_FILTER_NONE
                                 : level == 1           ? PNG_FILTER_UP
                                 : level <= 3           ? PNG_FILTER_PAETH
                                                        : PNG_ALL_FILTERS;
                CHECK_EQ(
                    img__encode_png_with(&map, level, old_filter, Z_RLE, &old, &old_size, NULL, 0),
                    0);
                if (size > old_size)
                    fprintf(stderr, "%s %s level %d: %zu bytes, before %zu\n", sample_names[i],
                            img_operator_name(ops[o]), level, size, old_size);
                CHECK_LE(size, old_size);
                new_total += size;
                old_total += old_size;
                free(png);
                free(old);
                img_buf_finish(&map);
            }
            printf("%s maps of the samples, level %d: %zu bytes, before %zu (%.1f%%)\n",
                   img_operator_name(ops[o]), level, new_total, old_total,
                   100.0 * (double)new_total / (double)old_total);
        }
    }
}

/* ---- estimated counts -------------------------------------------------- */

/* A middle byte (224-255, 0-31) of the 64, by index. */
static uint8_t middle_byte(unsigned index)
{
    return (uint8_t)(index % 64 + 224);
}

/* One call of `size` bytes into a fresh stream; the stream in *out. */
static size_t encode_one_call(const uint8_t *data, size_t size, bool portable, uint8_t **out)
{
    struct img__rle_stream s;
    CHECK_EQ(img__rle_init(&s, 0, 16, 0), 0);
    s.portable = portable;
    CHECK_EQ(img__rle_block(&s, data, size, true), 0);
    CHECK_EQ(img__rle_end(&s, true), 0);
    size_t bytes = s.used;
    *out = malloc(bytes + 1);
    CHECK(*out != NULL);
    memcpy(*out, s.out, bytes);
    img__rle_finish(&s);
    return bytes;
}

/* The stored form of `size` bytes: 5 bytes per 65535 and the padding. */
static size_t stored_size(size_t size)
{
    return size + 5 * ((size + 65534) / 65535) + 1;
}

/* Both counts (portable, AVX2) give the same stream, which inflates to the
 * input; its size in *bytes. */
static void check_both_counts(const uint8_t *data, size_t size, size_t *bytes)
{
    uint8_t *simd, *portable;
    size_t simd_bytes = encode_one_call(data, size, false, &simd);
    size_t portable_bytes = encode_one_call(data, size, true, &portable);
    CHECK_EQ(simd_bytes, portable_bytes);
    CHECK_MEM_EQ(simd, portable, simd_bytes);
    check_inflates(simd, simd_bytes, data, size);
    free(simd);
    free(portable);
    *bytes = simd_bytes;
}

/* Only the first of every four 64-byte groups is counted: bytes that occur
 * only in the other groups must still get a code. Group 1 holds one of each
 * middle byte, the rest 1 and 2 in turn (no runs), with outside bytes
 * (counted exactly) here and there, one of them at the end of a group and
 * some in the bytes after the last whole group. */
static void test_middle_bytes_outside_sample(void)
{
    size_t size = 65536 + 37;
    uint8_t *data = malloc(size);
    CHECK(data != NULL);
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t)(1 + (i & 1));
    for (unsigned k = 0; k < 64; k++)
        data[64 + k] = middle_byte(k);
    static const size_t outside_at[] = {0, 63, 64 * 5 + 7, 64 * 9, 64 * 9 + 1, 40000, 65535, 65540};
    for (size_t k = 0; k < sizeof(outside_at) / sizeof(outside_at[0]); k++)
        data[outside_at[k]] = (uint8_t)(100 + k);
    size_t bytes;
    check_both_counts(data, size, &bytes);
    CHECK(bytes < size / 4); /* a Huffman block, not stored */
    free(data);
}

/* Bytes whose sampled groups hold 0-31 at random and the other groups
 * 224-255: the code made from the sample gives 224-255 (counted 1 each)
 * 12-bit codes, so the block would come out about 1.2 times its stored
 * form; it must be taken back and stored. */
static uint8_t misleading_byte(size_t offset, uint64_t *rng)
{
    unsigned r = (unsigned)next_random(rng) % 32;
    return (offset / 64) % 4 == 0 ? middle_byte(32 + r) : middle_byte(r);
}

static void test_misleading_sample(void)
{
    uint64_t rng = 4242;
    size_t size = 3 * 65536 + 1000;
    uint8_t *data = malloc(size);
    CHECK(data != NULL);
    for (size_t i = 0; i < size; i++)
        data[i] = misleading_byte(i, &rng);
    size_t bytes;
    check_both_counts(data, size, &bytes);
    if (bytes > stored_size(size))
        fprintf(stderr, "misleading sample: %zu bytes for %zu (stored %zu)\n", bytes, size,
                stored_size(size));
    CHECK(bytes <= stored_size(size));
    free(data);

    /* Into a buffer of the caller's with room for little more than the
     * stored form: the block written before it is taken back must not run
     * past it (ASan sees it; the stream moves to a buffer of its own). */
    size_t one = 65536;
    data = malloc(one);
    CHECK(data != NULL);
    for (size_t i = 0; i < one; i++)
        data[i] = misleading_byte(i, &rng);
    for (int portable = 0; portable <= 1; portable++) {
        size_t capacity = stored_size(one) + 700;
        uint8_t *buffer = malloc(capacity);
        CHECK(buffer != NULL);
        struct img__rle_stream st;
        CHECK_EQ(img__rle_init_in(&st, buffer, capacity, 0, 0), 0);
        st.portable = portable != 0;
        CHECK_EQ(img__rle_block(&st, data, one, true), 0);
        CHECK_EQ(img__rle_end(&st, true), 0);
        check_inflates(st.out, st.used, data, one);
        CHECK(st.used <= stored_size(one));
        if (st.out != buffer)
            free(st.out);
        st.out = NULL;
        img__rle_finish(&st);
        free(buffer);
    }
    free(data);

    /* The same through the PNG encoder, whose bands write into regions of
     * the file sized for stored blocks: rows whose Paeth-filtered bytes are
     * the misleading ones (4095 pixels: a row and its filter byte are 4096
     * bytes, so groups start where rows do). */
    struct img_buf gray;
    CHECK_EQ(img_buf_init(&gray, 4095, 300, 1), 0);
    for (int y = 0; y < gray.height; y++) {
        uint8_t *row = gray.data + (size_t)y * gray.stride;
        const uint8_t *up = y > 0 ? row - gray.stride : NULL;
        for (int x = 0; x < gray.width; x++) {
            size_t offset = (size_t)y * 4096 + 1 + (size_t)x;
            int a = x > 0 ? row[x - 1] : 0, b = up != NULL ? up[x] : 0;
            int c = x > 0 && up != NULL ? up[x - 1] : 0;
            int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
            int predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            row[x] = (uint8_t)(misleading_byte(offset, &rng) + predictor);
        }
    }
    uint8_t *png = NULL;
    size_t png_size = 0;
    char err[256] = "";
    CHECK_EQ(img_encode_png(&gray, 1, &png, &png_size, err, sizeof(err)), 0);
    check_libpng(png, png_size, &gray);
    size_t raw = (size_t)gray.height * 4096;
    if (png_size > stored_size(raw) + 4096)
        fprintf(stderr, "misleading sample: PNG of %zu bytes for %zu raw\n", png_size, raw);
    CHECK(png_size <= stored_size(raw) + 4096);
    free(png);
    img_buf_finish(&gray);
}

int main(void)
{
    test_stream_round_trip();
    test_png_round_trip();
    test_band_order();
    test_size_against_old_levels();
    test_middle_bytes_outside_sample();
    test_misleading_sample();
    printf("test_png_rle: all passed\n");
    return 0;
}
