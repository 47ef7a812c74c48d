/* The SIMD paths of the CPU stage against their portable versions, bit for
 * bit (issue 16):
 *   - the gradient operators (Sobel, Scharr, Prewitt): img_NAME, which takes
 *     the AVX2 intrinsics on machines that have AVX2, against
 *     img__NAME_generic, on random images, edge-map-like images (flat areas,
 *     steps, saturating edges) and every width around the 32-pixel steps;
 *   - the PNG Paeth filter: the AVX2 and SSE2 paths against the scalar
 *     predictor, on random rows, edge-map-like rows and odd widths.
 * On a machine without AVX2 the dispatch takes the portable code and the
 * comparisons still run (they then compare the portable code with itself);
 * the test says which it ran. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "test_random.h"
#include "imaging.h"
#include "imaging_private.h"

enum pattern { PATTERN_NOISE, PATTERN_EDGES, PATTERN_EXTREMES, PATTERN_COUNT };

/* NOISE: every byte random. EDGES: what a Sobel map of a photo looks like
 * to the filter (mostly flat with small values, some steps and lines).
 * EXTREMES: only 0 and 255, so gradients saturate and Paeth's distances
 * tie. */
static void fill(uint8_t *bytes, size_t size, enum pattern pattern, uint64_t *state)
{
    for (size_t i = 0; i < size; i++) {
        uint32_t r = next_random(state);
        switch (pattern) {
        case PATTERN_NOISE:
            bytes[i] = (uint8_t)r;
            break;
        case PATTERN_EDGES:
            bytes[i] = (r & 0xff) < 200   ? (uint8_t)((r >> 8) & 7)
                       : (r & 0xff) < 240 ? (uint8_t)(r >> 16)
                                          : 0;
            break;
        default:
            bytes[i] = (r & 1) ? 255 : 0;
            break;
        }
    }
}

typedef void (*kernel_fn)(const uint8_t *, size_t, uint8_t *, size_t, int, int);

static void compare_gradient(const char *name, kernel_fn fast, kernel_fn portable, int width,
                             int height, enum pattern pattern, uint64_t *state)
{
    /* Odd strides with padding, so a kernel reading past a row would read
     * the padding and differ. */
    size_t src_stride = (size_t)width + 3;
    size_t dst_stride = (size_t)width + 5;
    uint8_t *src = malloc(src_stride * (size_t)height);
    uint8_t *want = malloc(dst_stride * (size_t)height);
    uint8_t *got = malloc(dst_stride * (size_t)height);
    CHECK(src != NULL && want != NULL && got != NULL);
    fill(src, src_stride * (size_t)height, pattern, state);
    memset(want, 0x5a, dst_stride * (size_t)height);
    memset(got, 0x5a, dst_stride * (size_t)height);
    portable(src, src_stride, want, dst_stride, width, height);
    fast(src, src_stride, got, dst_stride, width, height);
    for (int y = 0; y < height; y++) {
        if (memcmp(want + (size_t)y * dst_stride, got + (size_t)y * dst_stride, dst_stride) != 0) {
            fprintf(stderr, "%s %dx%d pattern %d: row %d differs\n", name, width, height,
                    (int)pattern, y);
            CHECK_MEM_EQ(want + (size_t)y * dst_stride, got + (size_t)y * dst_stride, dst_stride);
        }
    }
    free(src);
    free(want);
    free(got);
}

static void test_gradients(void)
{
    static const struct {
        const char *name;
        kernel_fn fast;
        kernel_fn portable;
    } kernels[] = {
        {"sobel", img_sobel, img__sobel_generic},
        {"scharr", img_scharr, img__scharr_generic},
        {"prewitt", img_prewitt, img__prewitt_generic},
    };
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (size_t k = 0; k < sizeof(kernels) / sizeof(kernels[0]); k++) {
        for (int pattern = 0; pattern < PATTERN_COUNT; pattern++) {
            /* Every width up to 3 steps of 32 and past, plus a photo's. */
            for (int width = 1; width <= 131; width++)
                compare_gradient(kernels[k].name, kernels[k].fast, kernels[k].portable, width,
                                 1 + width % 5, (enum pattern)pattern, &state);
            compare_gradient(kernels[k].name, kernels[k].fast, kernels[k].portable, 4001, 7,
                             (enum pattern)pattern, &state);
        }
    }
}

static void test_paeth(void)
{
    uint64_t state = 0x243f6a8885a308d3u;
    for (int pattern = 0; pattern < PATTERN_COUNT; pattern++) {
        for (int width = 1; width <= 4001; width += width < 200 ? 1 : 193) {
            uint8_t *row = malloc((size_t)width);
            uint8_t *prev = malloc((size_t)width);
            uint8_t *want = malloc((size_t)width);
            uint8_t *got = malloc((size_t)width);
            CHECK(row != NULL && prev != NULL && want != NULL && got != NULL);
            fill(row, (size_t)width, (enum pattern)pattern, &state);
            fill(prev, (size_t)width, (enum pattern)pattern, &state);
            img__png_filter_paeth(row, prev, want, width, false);
            img__png_filter_paeth(row, prev, got, width, true);
            if (memcmp(want, got, (size_t)width) != 0) {
                fprintf(stderr, "paeth width %d pattern %d differs\n", width, pattern);
                CHECK_MEM_EQ(want, got, (size_t)width);
            }
            free(row);
            free(prev);
            free(want);
            free(got);
        }
    }
}

int main(void)
{
#if IMG_HAVE_AVX2_VARIANTS
    printf("AVX2 %s\n",
           img__cpu_has_avx2() ? "present: SIMD paths compared" : "absent: portable paths only");
#endif
    test_gradients();
    test_paeth();
    printf("ok\n");
    return 0;
}
