/* png_rle's AVX2 paths (the run scan, the gathered literal writer) against
 * its portable code, bit for bit (issue 16):
 *   - raw deflate streams of all-zero, all-255, random, long-run, edge-map
 *     and two-value bytes, every size 1-300 and larger ones around the
 *     32-byte scan and 16-literal steps, cut into calls at random, with and
 *     without a symbol limit: the same bytes both ways, and zlib inflates
 *     them to the input;
 *   - whole PNGs (img_png_bands_*) of widths 1-70 and a photo-sized one,
 *     levels 1 and 2: the same bytes both ways, and img_decode (libpng)
 *     gives back the exact pixels.
 * On a machine without AVX2 both sides take the portable code (the test says
 * which it ran). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "test_random.h"
#include "inflate_check.h"
#include "imaging.h"
#include "imaging_private.h"
#include "png_rle.h"

enum pattern { ZEROS, ONES, NOISE, LONG_RUNS, EDGES, SHORT_RUNS, PATTERN_COUNT };
static const char *const names[PATTERN_COUNT] = {"zeros",     "255s",  "noise",
                                                 "long runs", "edges", "short runs"};

/* ONES: all 255. LONG_RUNS: runs of 1-1000 of a few values (258 and the
 * code boundaries crossed). EDGES: a Paeth-filtered Sobel map's bytes,
 * mostly near 0 with some large values. SHORT_RUNS: runs of 1-5, so run
 * starts fall at every offset of a scan step. */
static void fill(uint8_t *data, size_t size, enum pattern pattern, uint64_t *rng)
{
    size_t i = 0;
    while (i < size) {
        uint32_t r = next_random(rng);
        switch (pattern) {
        case ZEROS:
            data[i++] = 0;
            break;
        case ONES:
            data[i++] = 255;
            break;
        case NOISE:
            data[i++] = (uint8_t)r;
            break;
        case LONG_RUNS:
        case SHORT_RUNS: {
            size_t run = pattern == LONG_RUNS ? 1 + (r >> 8) % 1000 : 1 + (r >> 8) % 5;
            for (size_t k = 0; k < run && i < size; k++)
                data[i++] = (uint8_t)(r % 3 == 0 ? 255 : r % 3);
            break;
        }
        default:
            data[i++] = (r & 0xff) < 180   ? (uint8_t)(((r >> 8) & 7) - 3)
                        : (r & 0xff) < 235 ? (uint8_t)(r >> 16)
                                           : 0;
            break;
        }
    }
}

/* Codes data[0, size) in the calls `cuts` gives (sizes, summing to size)
 * with the portable code or not; returns the stream (malloc'd). */
static uint8_t *encode(const uint8_t *data, size_t size, const size_t *cuts, size_t symbol_limit,
                       bool portable, size_t *out_size)
{
    struct img__rle_stream s;
    CHECK_EQ(img__rle_init(&s, 0, 16, symbol_limit), 0);
    s.portable = portable;
    size_t at = 0;
    for (size_t c = 0; at < size; c++) {
        CHECK_EQ(img__rle_block(&s, data + at, cuts[c], at + cuts[c] == size), 0);
        at += cuts[c];
    }
    CHECK_EQ(img__rle_end(&s, true), 0);
    uint8_t *out = s.out;
    *out_size = s.used;
    s.out = NULL;
    img__rle_finish(&s);
    return out;
}

static void compare_stream(const uint8_t *data, size_t size, uint64_t *rng, const char *what)
{
    /* One call, or random cuts (each call's first byte is a literal). */
    size_t *cuts = malloc((size + 1) * sizeof(*cuts));
    CHECK(cuts != NULL);
    for (int variant = 0; variant < 3; variant++) {
        size_t count = 0, at = 0;
        while (at < size) {
            size_t left = size - at;
            size_t take = variant == 0 ? left : 1 + next_random(rng) % (left < 5000 ? left : 5000);
            cuts[count++] = take;
            at += take;
        }
        size_t symbol_limit = variant == 2 ? 1 + next_random(rng) % 300 : 0;
        size_t portable_size, simd_size;
        uint8_t *portable = encode(data, size, cuts, symbol_limit, true, &portable_size);
        uint8_t *simd = encode(data, size, cuts, symbol_limit, false, &simd_size);
        if (portable_size != simd_size || memcmp(portable, simd, portable_size) != 0) {
            fprintf(stderr, "%s, %zu bytes, variant %d: streams differ\n", what, size, variant);
            CHECK_EQ(portable_size, simd_size);
            CHECK_MEM_EQ(portable, simd, portable_size);
        }
        check_inflates(simd, simd_size, data, size);
        free(portable);
        free(simd);
    }
    free(cuts);
}

static void test_streams(void)
{
    uint64_t rng = 0x6a09e667f3bcc908u;
    static const size_t large[] = {1000, 4095, 4096, 4097, 65535, 65536, 65537, 200003};
    for (int pattern = 0; pattern < PATTERN_COUNT; pattern++) {
        uint8_t *data = malloc(200003);
        CHECK(data != NULL);
        for (size_t size = 1; size <= 300; size++) {
            fill(data, size, (enum pattern)pattern, &rng);
            compare_stream(data, size, &rng, names[pattern]);
        }
        for (size_t k = 0; k < sizeof(large) / sizeof(large[0]); k++) {
            fill(data, large[k], (enum pattern)pattern, &rng);
            compare_stream(data, large[k], &rng, names[pattern]);
        }
        free(data);
    }
    /* A run at each offset of a 32-byte scan step and its ends, in noise. */
    uint8_t data[200];
    for (int start = 1; start < 100; start++) {
        for (int length = 3; length <= 40; length += 37) {
            fill(data, sizeof(data), NOISE, &rng);
            memset(data + start - 1, 7, (size_t)length + 1);
            compare_stream(data, sizeof(data), &rng, "one run");
        }
    }
}

static uint8_t *encode_png(const struct img_buf *gray, int level, bool portable, size_t *size)
{
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(gray, level, &bands), 0);
    img__png_bands_set_portable(bands, portable);
    for (int i = 0; i < img_png_bands_count(bands); i++)
        CHECK_EQ(img_png_bands_run(bands, i), 0);
    uint8_t *png;
    CHECK_EQ(img_png_bands_finish(bands, &png, size), 0);
    img_png_bands_destroy(bands);
    return png;
}

static void compare_png(const struct img_buf *gray, int level, const char *what)
{
    size_t portable_size, simd_size;
    uint8_t *portable = encode_png(gray, level, true, &portable_size);
    uint8_t *simd = encode_png(gray, level, false, &simd_size);
    if (portable_size != simd_size || memcmp(portable, simd, portable_size) != 0) {
        fprintf(stderr, "%s %dx%d level %d: PNGs differ\n", what, gray->width, gray->height, level);
        CHECK_EQ(portable_size, simd_size);
        CHECK_MEM_EQ(portable, simd, portable_size);
    }
    struct img_buf back;
    char err[256];
    CHECK_EQ(img_decode(simd, simd_size, 1, (uint64_t)gray->width * (uint64_t)gray->height, &back,
                        err, sizeof(err)),
             0);
    CHECK_EQ(back.width, gray->width);
    CHECK_EQ(back.height, gray->height);
    for (int y = 0; y < gray->height; y++)
        CHECK_MEM_EQ(back.data + (size_t)y * back.stride, gray->data + (size_t)y * gray->stride,
                     (size_t)gray->width);
    img_buf_finish(&back);
    free(portable);
    free(simd);
}

static void test_pngs(void)
{
    uint64_t rng = 0xbb67ae8584caa73bu;
    for (int pattern = 0; pattern < PATTERN_COUNT; pattern++) {
        for (int width = 1; width <= 70; width++) {
            struct img_buf gray;
            int height = 1 + (width * 7) % 23;
            CHECK_EQ(img_buf_init(&gray, width, height, 1), 0);
            for (int y = 0; y < height; y++)
                fill(gray.data + (size_t)y * gray.stride, (size_t)width, (enum pattern)pattern,
                     &rng);
            compare_png(&gray, 1, names[pattern]);
            if (width % 10 == 0)
                compare_png(&gray, 2, names[pattern]);
            img_buf_finish(&gray);
        }
        /* Several bands and 64 KiB blocks. */
        struct img_buf gray;
        CHECK_EQ(img_buf_init(&gray, 1603, 1400, 1), 0);
        for (int y = 0; y < gray.height; y++)
            fill(gray.data + (size_t)y * gray.stride, (size_t)gray.width, (enum pattern)pattern,
                 &rng);
        compare_png(&gray, 1, names[pattern]);
        img_buf_finish(&gray);
    }
}

int main(void)
{
#if IMG_HAVE_AVX2_VARIANTS
    printf("AVX2 %s\n",
           img__cpu_has_avx2() ? "present: SIMD paths compared" : "absent: portable paths only");
#endif
    test_streams();
    test_pngs();
    printf("ok\n");
    return 0;
}
