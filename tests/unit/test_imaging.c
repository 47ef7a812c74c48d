/* Unit tests for imaging/: kernels pinned on hand-computed images and
 * checked bit for bit against the obvious per-pixel versions kept here, luma,
 * PNG round trips, decoding of every PNG colour type and of JPEG (colour
 * spaces, made here with libjpeg), EXIF orientations (JPEG APP1, PNG eXIf),
 * and the refusals (with their messages) for bodies that are not images we
 * accept. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h> /* before jpeglib.h */
#include <zlib.h>

#include <jpeglib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imaging.h"
#include "imaging_private.h" /* the portable variants of the SIMD-dispatched kernels */
#include "png_rle.h"         /* IMG__STRATEGY_FAST_RLE */

#define CHECK_CONTAINS(haystack, needle)                                                           \
    do {                                                                                           \
        const char *check_h_ = (haystack);                                                         \
        if (strstr(check_h_, (needle)) == NULL) {                                                  \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    check_h_, (needle));                                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Two tiny JPEGs made with OpenCV 4.6 (libjpeg-turbo), quality 90:
 *   color_jpeg: 32x16 RGB, 4:2:0; columns 0-15 are (200, 40, 40), 16-31 are
 *               (30, 180, 90).
 *   gray_jpeg:  16x8 one-component; columns 0-7 are 50, 8-15 are 200.
 * cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 90]) */
static const uint8_t color_jpeg[642] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03,
    0x03, 0x03, 0x03, 0x04, 0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07,
    0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d, 0x0e, 0x12, 0x10, 0x0d,
    0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x15, 0x15, 0x0c, 0x0f,
    0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0xff, 0xdb, 0x00, 0x43, 0x01, 0x03, 0x04,
    0x04, 0x05, 0x04, 0x05, 0x09, 0x05, 0x05, 0x09, 0x14, 0x0d, 0x0b, 0x0d, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0xff, 0xc0,
    0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x20, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11,
    0x01, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
    0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05,
    0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21,
    0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23,
    0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a,
    0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
    0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5,
    0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1,
    0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xc4, 0x00, 0x1f, 0x01, 0x00, 0x03,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0x00,
    0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00,
    0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13,
    0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15,
    0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27,
    0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
    0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4,
    0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
    0xfa, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xf1,
    0x4a, 0x28, 0xa2, 0xbf, 0x37, 0x3f, 0xb5, 0x4f, 0x63, 0xa2, 0x8a, 0x2b, 0xd3, 0x3f, 0xc7, 0x53,
    0xff, 0xd9,
};

static const uint8_t gray_jpeg[335] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03,
    0x03, 0x03, 0x03, 0x04, 0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07,
    0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d, 0x0e, 0x12, 0x10, 0x0d,
    0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x15, 0x15, 0x0c, 0x0f,
    0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08,
    0x00, 0x10, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03,
    0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00,
    0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32,
    0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
    0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35,
    0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55,
    0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
    0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2,
    0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9,
    0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6,
    0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda,
    0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0xf8, 0xbe, 0xbf, 0x64, 0x2b, 0xff, 0xd9,
};

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng_next(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1du) >> 32);
}

static void fill_random(uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t)rng_next();
}

/* A heap image with `padding` extra bytes per row, all random (so a kernel
 * that reads or writes past width*channels shows up as a mismatch, and under
 * ASan the last row's padding is the end of the block). */
struct test_image {
    uint8_t *data;
    size_t stride;
    int width, height, channels;
};

static struct test_image image_new(int width, int height, int channels, size_t padding)
{
    struct test_image image = {
        .stride = (size_t)width * (size_t)channels + padding,
        .width = width,
        .height = height,
        .channels = channels,
    };
    image.data = malloc(image.stride * (size_t)height);
    CHECK(image.data != NULL);
    fill_random(image.data, image.stride * (size_t)height);
    return image;
}

static void image_free(struct test_image *image)
{
    free(image->data);
    image->data = NULL;
}

static int reflect101(int index, int size)
{
    if (size == 1)
        return 0;
    if (index < 0)
        return -index;
    if (index >= size)
        return 2 * size - 2 - index;
    return index;
}

/* The obvious 3×3 gradient operator: every tap through reflect101, double
 * sqrt, round. `side` and `centre` are the weights across the derivative:
 * Sobel [1 2 1], Scharr [3 10 3], Prewitt [1 1 1]. */
static void reference_gradient(const uint8_t *src, size_t src_stride, uint8_t *dst,
                               size_t dst_stride, int width, int height, int side, int centre)
{
    const int weights[3] = {side, centre, side};
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int gx = 0, gy = 0;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int sample = src[(size_t)reflect101(y + dy, height) * src_stride +
                                     (size_t)reflect101(x + dx, width)];
                    gx += dx * weights[dy + 1] * sample;
                    gy += dy * weights[dx + 1] * sample;
                }
            }
            double magnitude = round(sqrt((double)gx * gx + (double)gy * gy));
            dst[(size_t)y * dst_stride + (size_t)x] = magnitude > 255 ? 255 : (uint8_t)magnitude;
        }
    }
}

static void reference_sobel(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                            int width, int height)
{
    reference_gradient(src, src_stride, dst, dst_stride, width, height, 1, 2);
}

static void reference_scharr(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                             int width, int height)
{
    reference_gradient(src, src_stride, dst, dst_stride, width, height, 3, 10);
}

static void reference_prewitt(const uint8_t *src, size_t src_stride, uint8_t *dst,
                              size_t dst_stride, int width, int height)
{
    reference_gradient(src, src_stride, dst, dst_stride, width, height, 1, 1);
}

/* ---- Gaussian blur and Canny, the obvious way ------------------------- */

/* OpenCV's reflect-101 for any index (a 9-tap kernel on a 2-pixel image
 * reflects more than once), written as the definition: the image repeats
 * with period 2 * (size - 1), mirrored. */
static int reflect101_any(int index, int size)
{
    if (size == 1)
        return 0;
    int period = 2 * (size - 1);
    int folded = ((index % period) + period) % period;
    return folded < size ? folded : period - folded;
}

/* The 8.8 fixed-point taps as OpenCV builds them: normalised Gaussian
 * samples, rounded one by one from the outside in with the rounding error
 * carried along, the centre taking the rest of 256. Returns the tap count. */
static int reference_gauss_taps(double sigma, int taps[128])
{
    int size = (int)nearbyint(sigma * 6 + 1) | 1;
    int half = size / 2;
    double weights[128], total = 0;
    for (int i = 0; i < size; i++) {
        double offset = i - half;
        weights[i] = exp(-offset * offset / (2 * sigma * sigma));
        total += weights[i];
    }
    double carried = 0;
    int fixed_total = 0;
    for (int i = 0; i < half; i++) {
        double wanted = weights[i] / total * 256 + carried;
        taps[i] = taps[size - 1 - i] = (int)nearbyint(wanted);
        carried = wanted - taps[i];
        fixed_total += 2 * taps[i];
    }
    taps[half] = 256 - fixed_total;
    return size;
}

/* The blur as one 2-D sum per pixel (the separable passes in canny.c must
 * give this exact integer). */
static void reference_blur(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                           int width, int height, double sigma)
{
    int taps[128];
    int size = reference_gauss_taps(sigma, taps);
    int half = size / 2;
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            uint64_t sum = 0;
            for (int i = 0; i < size; i++)
                for (int j = 0; j < size; j++)
                    sum += (uint64_t)taps[i] * (uint64_t)taps[j] *
                           src[(size_t)reflect101_any(y + i - half, height) * src_stride +
                               (size_t)reflect101_any(x + j - half, width)];
            dst[(size_t)y * dst_stride + (size_t)x] = (uint8_t)((sum + 32768) >> 16);
        }
    }
}

static int clamp_index(int index, int size)
{
    return index < 0 ? 0 : index >= size ? size - 1 : index;
}

/* Canny as cv2.Canny (OpenCV 4, aperture 3, L1) states it: Sobel with
 * replicated borders, L1 magnitude, the sector test with cv2's constants
 * (in 64-bit), the tie rule, zero magnitude outside, then hysteresis by
 * sweeping the image until nothing changes (no stack). */
static void reference_canny(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                            int width, int height, const struct img_canny_options *opts)
{
    size_t count = (size_t)width * (size_t)height;
    uint8_t *smooth = malloc(count);
    int *gx = malloc(count * sizeof(int));
    int *gy = malloc(count * sizeof(int));
    int *mag = malloc(count * sizeof(int));
    uint8_t *state = malloc(count); /* 0 not edge, 1 weak, 2 edge */
    CHECK(smooth != NULL && gx != NULL && gy != NULL && mag != NULL && state != NULL);

    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            smooth[(size_t)y * width + x] = src[(size_t)y * src_stride + x];
    if (opts->sigma > 0) {
        uint8_t *copy = malloc(count);
        CHECK(copy != NULL);
        memcpy(copy, smooth, count);
        reference_blur(copy, (size_t)width, smooth, (size_t)width, width, height, opts->sigma);
        free(copy);
    }
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int sx = 0, sy = 0;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int sample = smooth[(size_t)clamp_index(y + dy, height) * width +
                                        clamp_index(x + dx, width)];
                    sx += dx * (dy == 0 ? 2 : 1) * sample;
                    sy += dy * (dx == 0 ? 2 : 1) * sample;
                }
            }
            size_t i = (size_t)y * width + x;
            gx[i] = sx;
            gy[i] = sy;
            mag[i] = abs(sx) + abs(sy);
        }
    }
#define MAG_AT(yy, xx)                                                                             \
    (((yy) < 0 || (yy) >= height || (xx) < 0 || (xx) >= width) ? 0 : mag[(size_t)(yy)*width + (xx)])
    int low = (int)floor(opts->low), high = (int)floor(opts->high);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            size_t i = (size_t)y * width + x;
            int m = mag[i];
            state[i] = 0;
            if (m <= low)
                continue;
            /* cv2: |gy| * 2^15 against |gx| * 13573 (tan 22.5° * 2^15,
             * rounded) and against that + |gx| * 2^16 (tan 67.5° = tan 22.5°
             * + 2). In 64-bit to keep the reference obviously exact. */
            int64_t ay = (int64_t)abs(gy[i]) * 32768, tg22 = (int64_t)abs(gx[i]) * 13573;
            int64_t tg67 = tg22 + (int64_t)abs(gx[i]) * 65536;
            bool keep;
            if (ay < tg22) {
                keep = m > MAG_AT(y, x - 1) && m >= MAG_AT(y, x + 1);
            } else if (ay > tg67) {
                keep = m > MAG_AT(y - 1, x) && m >= MAG_AT(y + 1, x);
            } else {
                int s = (gx[i] < 0) != (gy[i] < 0) ? -1 : 1;
                keep = m > MAG_AT(y - 1, x - s) && m > MAG_AT(y + 1, x + s);
            }
            if (keep)
                state[i] = m > high ? 2 : 1;
        }
    }
#undef MAG_AT
    for (bool changed = true; changed;) {
        changed = false;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                size_t i = (size_t)y * width + x;
                if (state[i] != 1)
                    continue;
                for (int dy = -1; dy <= 1 && state[i] == 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int ny = y + dy, nx = x + dx;
                        if (ny >= 0 && ny < height && nx >= 0 && nx < width &&
                            state[(size_t)ny * width + nx] == 2) {
                            state[i] = 2;
                            changed = true;
                            break;
                        }
                    }
            }
        }
    }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            dst[(size_t)y * dst_stride + x] = state[(size_t)y * width + x] == 2 ? 255 : 0;
    free(smooth);
    free(gx);
    free(gy);
    free(mag);
    free(state);
}

static int reference_distance(const uint8_t *a, const uint8_t *b)
{
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]);
}

/* The lesson's kernel as the lesson states it: mean over existing
 * neighbours, with a division. */
static void reference_tutorial(const uint8_t *src, size_t src_stride, uint8_t *dst,
                               size_t dst_stride, int width, int height)
{
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            const uint8_t *pixel = src + (size_t)y * src_stride + 3 * (size_t)x;
            int sum = 0, neighbours = 0;
            if (x + 1 < width) {
                sum += reference_distance(pixel, pixel + 3);
                neighbours++;
            }
            if (y + 1 < height) {
                sum += reference_distance(pixel, pixel + src_stride);
                neighbours++;
            }
            int mean = neighbours ? sum / neighbours : 0;
            dst[(size_t)y * dst_stride + (size_t)x] = mean > 30 ? 255 : 0;
        }
    }
}

static uint8_t reference_luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((9798 * r + 19235 * g + 3735 * b + 16384) >> 15);
}

/* Runs `kernel` on a tight (stride = width) input and returns the output,
 * tight too. */
typedef void (*kernel_fn)(const uint8_t *, size_t, uint8_t *, size_t, int, int);

static void run_tight(kernel_fn kernel, const uint8_t *src, int channels, int width, int height,
                      uint8_t *out)
{
    kernel(src, (size_t)width * (size_t)channels, out, (size_t)width, width, height);
}

static void check_pinned(kernel_fn kernel, const uint8_t *src, int channels, int width, int height,
                         const uint8_t *expected)
{
    uint8_t out[65];
    CHECK_LE(width * height, 64);
    memset(out, 0xab, sizeof(out));
    run_tight(kernel, src, channels, width, height, out);
    CHECK_MEM_EQ(out, expected, (size_t)width * (size_t)height);
    /* Nothing written past the image. */
    CHECK_EQ(out[width * height], 0xab);
}

/* ---- kernels pinned by hand ------------------------------------------- */

static void test_sobel_pinned(void)
{
    /* Grids: one image row per line. */
    // clang-format off
    /* 4x3 with an L-shaped step. Corner (0,0): rows -1,0,1 read 1,0,1 and
     * columns -1,0,1 read 1,0,1, all zero, so 0. (1,1): gx = 0 + 2*50 + 50 =
     * 150, gy = (0 + 100 + 50) - 0 = 150, sqrt(45000) = 212.1. (1,2): gx = 100,
     * gy = 200, sqrt(50000) = 223.6, rounds up to 224. (1,3): column 4 reads 2,
     * so gx = 0, gy = 200. Bottom row: row 3 reads row 1, so gy = 0. */
    static const uint8_t step[12] = {
          0,   0,   0,   0,
          0,   0,  50,  50,
          0,  50,  50,  50,
    };
    static const uint8_t step_sobel[12] = {
          0, 100, 100,   0,
        100, 212, 224, 200,
          0, 200, 100,   0,
    };
    check_pinned(img_sobel, step, 1, 4, 3, step_sobel);

    /* One bright pixel (10) at (1,1) of 4x3. With reflect-101 row 1 is also
     * read as rows -1 and 3, and column 1 as column -1, so the windows of
     * columns 0 and 1 see it symmetrically on both sides (0), column 3 does
     * not see it (column 4 reads 2), and column 2 sees it only on its left:
     * row 1 gives gx = -2 * 10, rows 0 and 2 get it from above and below,
     * gx = -(10 + 10). Edge-repeating borders (BORDER_REPLICATE) would light
     * up columns 0-1 and differ in rows 0 and 2. */
    static const uint8_t dot[12] = {
          0,   0,   0,   0,
          0,  10,   0,   0,
          0,   0,   0,   0,
    };
    static const uint8_t dot_sobel[12] = {
          0,   0,  20,   0,
          0,   0,  20,   0,
          0,   0,  20,   0,
    };
    check_pinned(img_sobel, dot, 1, 4, 3, dot_sobel);

    /* One bright pixel in the middle of 5x5: diagonals gx = gy = 10
     * (sqrt(200) = 14.1), straight neighbours 2*10 on one axis. */
    static const uint8_t centre[25] = {
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,  10,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
    };
    static const uint8_t centre_sobel[25] = {
          0,   0,   0,   0,   0,
          0,  14,  20,  14,   0,
          0,  20,   0,  20,   0,
          0,  14,  20,  14,   0,
          0,   0,   0,   0,   0,
    };
    check_pinned(img_sobel, centre, 1, 5, 5, centre_sobel);

    /* One row: the row mirrors onto itself, gy = 0 and gx = 4 * (right -
     * left). x=2: 4 * (30 - 60) = -120; x=3: 4 * 200 = 800, saturates; the
     * ends mirror symmetric, 0. A column is the transpose. */
    static const uint8_t line[5] = {0, 60, 0, 30, 200};
    static const uint8_t line_sobel[5] = {0, 0, 120, 255, 0};
    check_pinned(img_sobel, line, 1, 5, 1, line_sobel);
    check_pinned(img_sobel, line, 1, 1, 5, line_sobel);

    /* 2x2: every window is symmetric under reflect-101. */
    static const uint8_t square[4] = {10, 50, 90, 130};
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    check_pinned(img_sobel, square, 1, 2, 2, zeros);

    static const uint8_t single[1] = {77};
    check_pinned(img_sobel, single, 1, 1, 1, zeros);
    // clang-format on
}

static void test_scharr_prewitt_pinned(void)
{
    // clang-format off
    /* The 4x3 L-shaped step of test_sobel_pinned, (row, column). Scharr at
     * (1,1): gx = 3*0 + 10*50 + 3*50 = 650 = gy, saturates; (0,1): rows -1
     * and 1 both read row 1, so gy = 0 and gx = 3*50 + 10*0 + 3*50 = 300:
     * 255 where Sobel has 100. Prewitt at (1,1): gx = 0 + 50 + 50 = 100 =
     * gy, sqrt(20000) = 141.4; (1,2): gx = 0 + 50 + 0 = 50, gy = 150,
     * sqrt(25000) = 158.1; (2,1): row 3 reads row 1, gy = 0, gx = 50 + 50 +
     * 50 = 150. */
    static const uint8_t step[12] = {
          0,   0,   0,   0,
          0,   0,  50,  50,
          0,  50,  50,  50,
    };
    static const uint8_t step_scharr[12] = {
          0, 255, 255,   0,
        255, 255, 255, 255,
          0, 255, 255,   0,
    };
    static const uint8_t step_prewitt[12] = {
          0, 100, 100,   0,
        100, 141, 158, 150,
          0, 150, 100,   0,
    };
    check_pinned(img_scharr, step, 1, 4, 3, step_scharr);
    check_pinned(img_prewitt, step, 1, 4, 3, step_prewitt);

    /* One bright pixel (4) in the middle of 5x5: Scharr's diagonal taps are
     * 3 (gx = gy = 12, sqrt(288) = 17.0), its straight ones 10 (40);
     * Prewitt's are all 1 (diagonals sqrt(32) = 5.66 -> 6, straight 4). */
    static const uint8_t centre[25] = {
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,   4,   0,   0,
          0,   0,   0,   0,   0,
          0,   0,   0,   0,   0,
    };
    static const uint8_t centre_scharr[25] = {
          0,   0,   0,   0,   0,
          0,  17,  40,  17,   0,
          0,  40,   0,  40,   0,
          0,  17,  40,  17,   0,
          0,   0,   0,   0,   0,
    };
    static const uint8_t centre_prewitt[25] = {
          0,   0,   0,   0,   0,
          0,   6,   4,   6,   0,
          0,   4,   0,   4,   0,
          0,   6,   4,   6,   0,
          0,   0,   0,   0,   0,
    };
    check_pinned(img_scharr, centre, 1, 5, 5, centre_scharr);
    check_pinned(img_prewitt, centre, 1, 5, 5, centre_prewitt);
    // clang-format on
}

static void test_tutorial_pinned(void)
{
    /* Grids: one image row per line. */
    // clang-format off
    /* 3x2 RGB:
     *   A(0,0,0)   B(10,10,10)  C(40,0,0)
     *   D(0,0,32)  E(10,10,10)  F(9,0,0)
     * A: right 30, down 32, floor(62/2) = 31 > 30: 255 (just over).
     * B: right 30+10+10 = 50, down 0, mean 25: 0.
     * C: last column, down only: 31+0+0 = 31 > 30: 255.
     * D: last row, right only: 10+10+22 = 42: 255.
     * E: right 1+10+10 = 21: 0.  F: no neighbour: 0. */
    static const uint8_t rgb[18] = {
          0,   0,   0,  10,  10,  10,  40,   0,   0,
          0,   0,  32,  10,  10,  10,   9,   0,   0,
    };
    static const uint8_t expected[6] = {
        255,   0, 255,
        255,   0,   0,
    };
    check_pinned(img_tutorial, rgb, 3, 3, 2, expected);

    /* 2x2 on the other side of the thresholds:
     *   A(0,0,0)   B(30,0,0)
     *   C(0,31,0)  D(30,0,31)
     * A: 30 + 31 = 61, floor(61/2) = 30, not > 30: 0.
     * B: down only, 31: 255.  C: right only, 30+31+31 = 92: 255.  D: 0.
     * A single neighbour at exactly 30 is 0: see the 1x3 case below. */
    static const uint8_t rgb2[12] = {
          0,   0,   0,  30,   0,   0,
          0,  31,   0,  30,   0,  31,
    };
    static const uint8_t expected2[4] = {
          0, 255,
        255,   0,
    };
    check_pinned(img_tutorial, rgb2, 3, 2, 2, expected2);

    /* One row (right only) and one column (down only): 30 is not > 30. */
    static const uint8_t row3[9] = {0, 0, 0, 10, 10, 10, 20, 20, 21};
    static const uint8_t row3_expected[3] = {0, 255, 0};
    check_pinned(img_tutorial, row3, 3, 3, 1, row3_expected);
    check_pinned(img_tutorial, row3, 3, 1, 3, row3_expected);

    static const uint8_t single[3] = {255, 255, 255};
    static const uint8_t zero[1] = {0};
    check_pinned(img_tutorial, single, 3, 1, 1, zero);
    // clang-format on
}

/* ---- fast kernels against the references ------------------------------ */

static void compare_with_reference(kernel_fn fast, kernel_fn reference, int channels, int width,
                                   int height, size_t src_padding, size_t dst_padding)
{
    struct test_image src = image_new(width, height, channels, src_padding);
    struct test_image got = image_new(width, height, 1, dst_padding);
    struct test_image want = image_new(width, height, 1, dst_padding);
    /* Same padding bytes in both outputs, so the whole blocks must match:
     * the padding proves nothing was written beyond each row. */
    memcpy(want.data, got.data, got.stride * (size_t)height);

    fast(src.data, src.stride, got.data, got.stride, width, height);
    reference(src.data, src.stride, want.data, want.stride, width, height);
    for (int y = 0; y < height; y++) {
        const uint8_t *got_row = got.data + (size_t)y * got.stride;
        const uint8_t *want_row = want.data + (size_t)y * want.stride;
        if (memcmp(got_row, want_row, got.stride) != 0) {
            fprintf(stderr, "%dx%d (channels %d, padding %zu/%zu): row %d differs\n", width, height,
                    channels, src_padding, dst_padding, y);
            CHECK_MEM_EQ(got_row, want_row, got.stride);
        }
    }
    image_free(&src);
    image_free(&got);
    image_free(&want);
}

static void test_kernels_match_reference(void)
{
    static const int sizes[][2] = {
        {1, 1},  {1, 7},  {7, 1},     {2, 2}, {3, 3}, {17, 13},
        {64, 1}, {1, 64}, {301, 199}, {2, 5}, {5, 2}, {33, 2},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int width = sizes[i][0], height = sizes[i][1];
        for (int round_index = 0; round_index < 3; round_index++) {
            /* First round tight, then random strides wider than a row. */
            size_t src_padding = round_index == 0 ? 0 : 1 + rng_next() % 37;
            size_t dst_padding = round_index == 0 ? 0 : 1 + rng_next() % 37;
            compare_with_reference(img_sobel, reference_sobel, 1, width, height, src_padding,
                                   dst_padding);
            compare_with_reference(img_scharr, reference_scharr, 1, width, height, src_padding,
                                   dst_padding);
            compare_with_reference(img_prewitt, reference_prewitt, 1, width, height, src_padding,
                                   dst_padding);
            /* The portable variants too, whatever this CPU dispatches to. */
            compare_with_reference(img__sobel_generic, reference_sobel, 1, width, height,
                                   src_padding, dst_padding);
            compare_with_reference(img__scharr_generic, reference_scharr, 1, width, height,
                                   src_padding, dst_padding);
            compare_with_reference(img__prewitt_generic, reference_prewitt, 1, width, height,
                                   src_padding, dst_padding);
            compare_with_reference(img_tutorial, reference_tutorial, 3, width, height, src_padding,
                                   dst_padding);
        }
    }

    /* Random bytes rarely sit near the tutorial's threshold; an image of
     * small steps does, so both sides of "> 30" are exercised. */
    struct test_image src = image_new(97, 61, 3, 5);
    for (size_t i = 0; i < src.stride * (size_t)src.height; i++)
        src.data[i] = (uint8_t)(100 + rng_next() % 24);
    struct test_image got = image_new(97, 61, 1, 3);
    struct test_image want = image_new(97, 61, 1, 3);
    memcpy(want.data, got.data, got.stride * (size_t)got.height);
    img_tutorial(src.data, src.stride, got.data, got.stride, 97, 61);
    reference_tutorial(src.data, src.stride, want.data, want.stride, 97, 61);
    CHECK_MEM_EQ(got.data, want.data, got.stride * (size_t)got.height);
    int lit = 0;
    for (int i = 0; i < 97 * 61; i++)
        lit += got.data[(size_t)(i / 97) * got.stride + (size_t)(i % 97)] == 255;
    CHECK_GT(lit, 0);
    CHECK_LT(lit, 97 * 61);
    image_free(&src);
    image_free(&got);
    image_free(&want);

    /* Many small random 3x3 images: every pixel is a border pixel, and the
     * centre sees a fresh (gx, gy) each time. */
    uint8_t window[9] = {0}, out[9], want9[9];
    for (int t = 0; t < 2000; t++) {
        fill_random(window, sizeof(window));
        img_sobel(window, 3, out, 3, 3, 3);
        reference_sobel(window, 3, want9, 3, 3, 3);
        CHECK_MEM_EQ(out, want9, sizeof(out));
        img_scharr(window, 3, out, 3, 3, 3);
        reference_scharr(window, 3, want9, 3, 3, 3);
        CHECK_MEM_EQ(out, want9, sizeof(out));
        img_prewitt(window, 3, out, 3, 3, 3);
        reference_prewitt(window, 3, want9, 3, 3, 3);
        CHECK_MEM_EQ(out, want9, sizeof(out));
    }
}

/* ---- Gaussian blur ----------------------------------------------------- */

static void check_taps(double sigma, const int *expected, int count)
{
    int taps[128];
    CHECK_EQ(reference_gauss_taps(sigma, taps), count);
    for (int i = 0; i < count; i++)
        CHECK_EQ(taps[i], expected[i]);
}

static void compare_blur(int width, int height, double sigma, size_t src_padding,
                         size_t dst_padding)
{
    struct test_image src = image_new(width, height, 1, src_padding);
    struct test_image got = image_new(width, height, 1, dst_padding);
    struct test_image want = image_new(width, height, 1, dst_padding);
    memcpy(want.data, got.data, got.stride * (size_t)height);
    reference_blur(src.data, src.stride, want.data, want.stride, width, height, sigma);
    for (int variant = 0; variant < 2; variant++) {
        int (*blur)(const uint8_t *, size_t, uint8_t *, size_t, int, int, double) =
            variant == 0 ? img_gaussian_blur : img__gaussian_blur_generic;
        CHECK_EQ(blur(src.data, src.stride, got.data, got.stride, width, height, sigma), 0);
        if (memcmp(got.data, want.data, got.stride * (size_t)height) != 0) {
            fprintf(stderr, "blur %dx%d sigma %g differs (%s)\n", width, height, sigma,
                    variant == 0 ? "dispatched" : "portable");
            CHECK_MEM_EQ(got.data, want.data, got.stride * (size_t)height);
        }
    }
    image_free(&src);
    image_free(&got);
    image_free(&want);
}

static void test_blur(void)
{
    /* The taps cv2 4.6 uses (cv2.GaussianBlur(img, (0, 0), sigma) of an
     * impulse shows them; they are not the plainly rounded Gaussian, which
     * for 1.4 would sum to 255). */
    static const int taps_14[9] = {1, 8, 26, 56, 74, 56, 26, 8, 1};
    static const int taps_05[5] = {0, 27, 202, 27, 0};
    static const int taps_20[13] = {1, 2, 7, 16, 31, 45, 52, 45, 31, 16, 7, 2, 1};
    check_taps(1.4, taps_14, 9);
    check_taps(0.5, taps_05, 5);
    check_taps(2.0, taps_20, 13);

    /* An impulse: out = (255 * t_i * t_j + 2^15) >> 16 around it, so the fast
     * blur is pinned to cv2's taps directly. Centre: 255*74*74 = 1396380,
     * 21.3 -> 21. */
    uint8_t impulse[11 * 11] = {0}, out[11 * 11];
    impulse[5 * 11 + 5] = 255;
    CHECK_EQ(img_gaussian_blur(impulse, 11, out, 11, 11, 11, 1.4), 0);
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 11; x++) {
            int dy = y - 5, dx = x - 5;
            int expected = 0;
            if (abs(dy) <= 4 && abs(dx) <= 4)
                expected = (255 * taps_14[dy + 4] * taps_14[dx + 4] + 32768) >> 16;
            CHECK_EQ(out[y * 11 + x], expected);
        }
    CHECK_EQ(out[5 * 11 + 5], 21);

    /* A flat image stays flat (the taps sum to exactly 256), also when the
     * kernel is far wider than the image. */
    uint8_t flat[6] = {77, 77, 77, 77, 77, 77}, flat_out[6];
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, 7.0), 0);
    CHECK_MEM_EQ(flat_out, flat, 6);

    static const int sizes[][2] = {
        {1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 3}, {17, 13}, {64, 1}, {1, 64}, {2, 5}, {5, 2}, {33, 2},
    };
    /* Radii 1, 2, 3, 4 (the unrolled vertical passes), 8, 18 and 60. */
    static const double sigmas[] = {0.3, 0.5, 0.8, 1.4, 2.5, 6.0, 20.0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (size_t j = 0; j < sizeof(sigmas) / sizeof(sigmas[0]); j++)
            for (int round_index = 0; round_index < 2; round_index++)
                compare_blur(sizes[i][0], sizes[i][1], sigmas[j],
                             round_index ? 1 + rng_next() % 37 : 0,
                             round_index ? 1 + rng_next() % 37 : 0);
    compare_blur(301, 199, 1.4, 3, 5);
    compare_blur(301, 199, 2.5, 0, 0);

    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, 0.0), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, -1.0), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, NAN), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 3, 2, 20.5), -EINVAL);
    CHECK_EQ(img_gaussian_blur(flat, 3, flat_out, 3, 0, 2, 1.0), -EINVAL);
}

/* ---- Canny ------------------------------------------------------------ */

/* Grids as strings, one row per line: '#' is an edge (255), '.' is not. */
static void check_canny_grid(const uint8_t *src, int width, int height, double sigma, double low,
                             double high, const char *expected)
{
    struct img_canny_options opts = {sigma, low, high};
    uint8_t out[256], want[256];
    CHECK_LE(width * height, 255);
    memset(out, 0xab, sizeof(out));
    CHECK_EQ(img_canny(src, (size_t)width, out, (size_t)width, width, height, &opts), 0);
    for (int i = 0; i < width * height; i++) {
        while (*expected == '\n')
            expected++;
        want[i] = *expected++ == '#' ? 255 : 0;
    }
    if (memcmp(out, want, (size_t)(width * height)) != 0) {
        fprintf(stderr, "canny (sigma %g, low %g, high %g):\n", sigma, low, high);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++)
                fputc(out[y * width + x] ? '#' : '.', stderr);
            fputc('\n', stderr);
        }
        CHECK_MEM_EQ(out, want, (size_t)(width * height));
    }
    CHECK_EQ(out[width * height], 0xab);
}

static void test_canny_pinned(void)
{
    // clang-format off
    /* A vertical step 0 -> 100 between columns 3 and 4, no blur: columns 3
     * and 4 both have gx = 4 * 100 = 400 (gy = 0, so the horizontal sector).
     * cv2's tie rule keeps a maximum that beats its left neighbour strictly
     * and its right one at least equally: column 3 (0 < 400, 400 >= 400) but
     * not column 4 (400 is not > 400). */
    static const uint8_t step[4 * 8] = {
        0, 0, 0, 0, 100, 100, 100, 100,
        0, 0, 0, 0, 100, 100, 100, 100,
        0, 0, 0, 0, 100, 100, 100, 100,
        0, 0, 0, 0, 100, 100, 100, 100,
    };
    check_canny_grid(step, 8, 4, 0, 100, 300,
                     "...#....\n"
                     "...#....\n"
                     "...#....\n"
                     "...#....\n");
    /* Magnitude 400 is not > 400: no strong pixel, nothing. */
    check_canny_grid(step, 8, 4, 0, 100, 400, "................................");

    /* Hysteresis. A bar (columns 3-5) whose top two rows step by 100 (L1
     * magnitude 400, strong for high 300) and the rest by 50 (200, weak),
     * and far right an isolated step of 50 (weak). The bar's weak sides are
     * kept through their strong top; the isolated one is not. Expected grids
     * are cv2.Canny's (OpenCV 4.6) on the same bytes. */
    static const uint8_t bar[8 * 14] = {
        0, 0, 0, 100, 100, 100, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0, 100, 100, 100, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
        0, 0, 0,  50,  50,  50, 0, 0, 0, 0, 50, 50, 50, 50,
    };
    check_canny_grid(bar, 14, 8, 0, 100, 300,
                     "..#..#........\n"
                     "...###........\n"
                     "...#.#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n");
    /* 200 > 199: the isolated step is strong now. */
    check_canny_grid(bar, 14, 8, 0, 100, 199,
                     "..#..#...#....\n"
                     "...###...#....\n"
                     "...#.#...#....\n"
                     "..#..#...#....\n"
                     "..#..#...#....\n"
                     "..#..#...#....\n"
                     "..#..#...#....\n"
                     "..#..#...#....\n");
    /* 200 is not > 200: weak again (the high threshold is strict too). */
    check_canny_grid(bar, 14, 8, 0, 100, 200,
                     "..#..#........\n"
                     "...###........\n"
                     "...#.#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n");
    /* 200 is not > low 200: the weak sides are gone, only the strong top
     * and what exceeds 200 near it remain. Thresholds are floored as cv2
     * does, so 200.9 and 300.5 give the same. */
    static const char *top_only = "..#..#........\n"
                                  "...#.#........\n"
                                  "...#.#........\n"
                                  "..............\n"
                                  "..............\n"
                                  "..............\n"
                                  "..............\n"
                                  "..............\n";
    check_canny_grid(bar, 14, 8, 0, 200, 300, top_only);
    check_canny_grid(bar, 14, 8, 0, 200.9, 300.5, top_only);

    /* Floored, not rounded: 199.6 is 199, and 200 > 199 keeps the weak
     * sides as low 100 did. */
    check_canny_grid(bar, 14, 8, 0, 199.6, 300,
                     "..#..#........\n"
                     "...###........\n"
                     "...#.#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n"
                     "..#..#........\n");

    /* The sector boundary at 22.5°, to cv2's constant: at the centre, gx =
     * 2 * 169 = 338 and gy = 2 * 70 = 140, so |gy| * 2^15 = 4587520 lies
     * between 338 * 13572 and 338 * 13573: diagonal by cv2's tan(22.5°) =
     * 13573 / 2^15, where it beats its diagonal neighbours; horizontal by
     * 13572 / 2^15, where it does not beat its right one. The grid is
     * cv2.Canny(img, 0, 0)'s. */
    static const uint8_t boundary[25] = {
        171, 206,   5, 206, 120,
        131,   0,   0,   0,  13,
         71,   0, 146, 169,  33,
         11,   0,  70,   0, 255,
         48, 167, 192,  60,  72,
    };
    check_canny_grid(boundary, 5, 5, 0, 0, 0,
                     ".####\n"
                     "##...\n"
                     "..###\n"
                     "....#\n"
                     "###.#\n");

    /* Flat images and single pixels have no gradient at all. */
    static const uint8_t flat[9] = {9, 9, 9, 9, 9, 9, 9, 9, 9};
    check_canny_grid(flat, 3, 3, 1.4, 0, 0, ".........");
    check_canny_grid(flat, 1, 1, 0, 0, 0, ".");
    // clang-format on
}

/* Random bytes give edges everywhere and no long chains; blocks give real
 * outlines, long weak chains and ties. */
static void fill_blocks(struct test_image *image)
{
    uint8_t background = (uint8_t)rng_next();
    for (int y = 0; y < image->height; y++)
        memset(image->data + (size_t)y * image->stride, background, (size_t)image->width);
    int blocks = 1 + (image->width * image->height) / 400;
    for (int b = 0; b < blocks; b++) {
        int x0 = (int)(rng_next() % (unsigned)image->width);
        int y0 = (int)(rng_next() % (unsigned)image->height);
        int x1 = x0 + 1 + (int)(rng_next() % (unsigned)(image->width - x0));
        int y1 = y0 + 1 + (int)(rng_next() % (unsigned)(image->height - y0));
        uint8_t level = (uint8_t)rng_next();
        for (int y = y0; y < y1; y++)
            memset(image->data + (size_t)y * image->stride + x0, level, (size_t)(x1 - x0));
    }
    for (int y = 0; y < image->height; y++)
        for (int x = 0; x < image->width; x++) {
            uint8_t *pixel = image->data + (size_t)y * image->stride + x;
            int noisy = *pixel + (int)(rng_next() % 7) - 3;
            *pixel = (uint8_t)(noisy < 0 ? 0 : noisy > 255 ? 255 : noisy);
        }
}

static void compare_canny(int width, int height, const struct img_canny_options *opts, bool blocks,
                          size_t src_padding, size_t dst_padding)
{
    struct test_image src = image_new(width, height, 1, src_padding);
    if (blocks)
        fill_blocks(&src);
    struct test_image got = image_new(width, height, 1, dst_padding);
    struct test_image want = image_new(width, height, 1, dst_padding);
    memcpy(want.data, got.data, got.stride * (size_t)height);
    reference_canny(src.data, src.stride, want.data, want.stride, width, height, opts);
    for (int variant = 0; variant < 2; variant++) {
        int (*canny)(const uint8_t *, size_t, uint8_t *, size_t, int, int,
                     const struct img_canny_options *) =
            variant == 0 ? img_canny : img__canny_generic;
        CHECK_EQ(canny(src.data, src.stride, got.data, got.stride, width, height, opts), 0);
        if (memcmp(got.data, want.data, got.stride * (size_t)height) != 0) {
            fprintf(stderr, "canny %dx%d (%s, sigma %g, low %g, high %g) differs (%s)\n", width,
                    height, blocks ? "blocks" : "noise", opts->sigma, opts->low, opts->high,
                    variant == 0 ? "dispatched" : "portable");
            CHECK_MEM_EQ(got.data, want.data, got.stride * (size_t)height);
        }
    }
    image_free(&src);
    image_free(&got);
    image_free(&want);
}

static void test_canny_matches_reference(void)
{
    static const int sizes[][2] = {
        {1, 1},  {1, 7},  {7, 1},     {2, 2}, {3, 3}, {17, 13},
        {64, 1}, {1, 64}, {301, 199}, {2, 5}, {5, 2}, {33, 2},
    };
    static const struct img_canny_options options[] = {
        {IMG_CANNY_SIGMA_DEFAULT, IMG_CANNY_LOW_DEFAULT, IMG_CANNY_HIGH_DEFAULT},
        {0, 100, 300},     /* no blur: random bytes give big gradients */
        {0.6, 0, 0},       /* every local maximum is an edge */
        {2.5, 20.5, 20.9}, /* floored to 20 and 20 */
        {7.0, 10, 50},     /* 43 taps: wider than most of these images */
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizeof(options) / sizeof(options[0]); j++) {
            int width = sizes[i][0], height = sizes[i][1];
            if (width * height > 10000 && options[j].sigma > 3)
                continue; /* the 2-D reference blur is slow; covered by test_blur */
            for (int kind = 0; kind < 2; kind++)
                compare_canny(width, height, &options[j], kind == 1, kind ? 1 + rng_next() % 37 : 0,
                              kind ? 1 + rng_next() % 37 : 0);
        }
    }

    /* The blocks image at the defaults has real, but not ubiquitous, edges:
     * the comparison above was not between two blank maps. */
    struct test_image src = image_new(301, 199, 1, 0);
    fill_blocks(&src);
    struct img_buf in = {src.data, src.stride, 301, 199, 1}, out;
    CHECK_EQ(img_apply(IMG_OP_CANNY, &in, &out), 0);
    size_t edges = 0;
    for (size_t k = 0; k < 301 * 199; k++)
        edges += out.data[k] == 255;
    CHECK_GT(edges, 500);
    CHECK_LT(edges, 301 * 199 / 4);
    img_buf_finish(&out);
    image_free(&src);
}

static void test_canny_options(void)
{
    struct img_canny_options opts;
    img_canny_options_init(&opts);
    CHECK(opts.sigma == IMG_CANNY_SIGMA_DEFAULT);
    CHECK(opts.low == IMG_CANNY_LOW_DEFAULT);
    CHECK(opts.high == IMG_CANNY_HIGH_DEFAULT);
    char err[128];
    CHECK_EQ(img_canny_options_check(&opts, err, sizeof(err)), 0);

    struct {
        struct img_canny_options opts;
        const char *message;
    } bad[] = {
        {{-0.5, 40, 80}, "--sigma -0.5 is not between 0 and 20"},
        {{20.5, 40, 80}, "--sigma 20.5 is not between 0 and 20"},
        {{NAN, 40, 80}, "--sigma nan is not between 0 and 20"},
        {{1.4, -1, 80}, "--low -1 is not between 0 and 2040"},
        {{1.4, 40, 3000}, "--high 3000 is not between 0 and 2040"},
        {{1.4, 90, 80}, "--low 90 is above --high 80"},
    };
    uint8_t pixel = 0, edge;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(img_canny_options_check(&bad[i].opts, err, sizeof(err)), -EINVAL);
        CHECK_STR_EQ(err, bad[i].message);
        CHECK_EQ(img_canny(&pixel, 1, &edge, 1, 1, 1, &bad[i].opts), -EINVAL);
    }
    CHECK_EQ(img_canny_options_check(&bad[0].opts, NULL, 0), -EINVAL);

    /* img_apply_with: NULL is the defaults, options are passed through, bad
     * ones refused with no buffer left. */
    struct test_image gray = image_new(40, 30, 1, 3);
    fill_blocks(&gray);
    struct img_buf src = {gray.data, gray.stride, 40, 30, 1}, dst;
    uint8_t want[40 * 30];
    img_canny_options_init(&opts);
    reference_canny(gray.data, gray.stride, want, 40, 40, 30, &opts);
    CHECK_EQ(img_apply_with(IMG_OP_CANNY, NULL, &src, &dst), 0);
    for (int y = 0; y < 30; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 40 * y, 40);
    img_buf_finish(&dst);
    opts = (struct img_canny_options){0, 5, 10};
    reference_canny(gray.data, gray.stride, want, 40, 40, 30, &opts);
    CHECK_EQ(img_apply_with(IMG_OP_CANNY, &opts, &src, &dst), 0);
    for (int y = 0; y < 30; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 40 * y, 40);
    img_buf_finish(&dst);
    opts.low = 20;
    CHECK_EQ(img_apply_with(IMG_OP_CANNY, &opts, &src, &dst), -EINVAL);
    CHECK(dst.data == NULL);
    /* The other operators ignore Canny's options, even bad ones. */
    CHECK_EQ(img_apply_with(IMG_OP_SOBEL, &opts, &src, &dst), 0);
    img_buf_finish(&dst);
    image_free(&gray);
}

/* The rounding argument in ops.c, checked for every capped energy. */
static void test_sobel_rounding_is_exact(void)
{
    for (int energy = 0; energy <= 65280; energy++) {
        int fast = (int)(sqrtf((float)energy) + 0.5f);
        int exact = (int)round(sqrt((double)energy));
        if (fast != exact)
            CHECK_EQ(fast, exact);
    }
    CHECK_EQ((int)round(sqrt(65280.0)), 255);
    CHECK_EQ((int)round(sqrt(65281.0)), 256);
}

/* ---- luma ------------------------------------------------------------- */

static void test_luma(void)
{
    /* Gray stays gray, for every value: the weights sum to 2^14. */
    uint8_t gray_rgb[256 * 3], luma[256];
    for (int v = 0; v < 256; v++)
        gray_rgb[3 * v] = gray_rgb[3 * v + 1] = gray_rgb[3 * v + 2] = (uint8_t)v;
    img_rgb_to_luma(gray_rgb, sizeof(gray_rgb), luma, sizeof(luma), 256, 1);
    for (int v = 0; v < 256; v++)
        CHECK_EQ(luma[v], v);

    /* What cv2.cvtColor(COLOR_RGB2GRAY) gives for the primaries. */
    static const uint8_t primaries[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    uint8_t primaries_luma[3];
    img_rgb_to_luma(primaries, 9, primaries_luma, 3, 3, 1);
    CHECK_EQ(primaries_luma[0], 76);
    CHECK_EQ(primaries_luma[1], 150);
    CHECK_EQ(primaries_luma[2], 29);

    /* The formula on random pixels, with strides wider than the rows. */
    struct test_image rgb = image_new(53, 17, 3, 7);
    struct test_image out = image_new(53, 17, 1, 5);
    uint8_t *before = malloc(out.stride * 17);
    CHECK(before != NULL);
    memcpy(before, out.data, out.stride * 17);
    img_rgb_to_luma(rgb.data, rgb.stride, out.data, out.stride, 53, 17);
    for (int y = 0; y < 17; y++) {
        for (int x = 0; x < 53; x++) {
            const uint8_t *p = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
            CHECK_EQ(out.data[(size_t)y * out.stride + (size_t)x],
                     reference_luma(p[0], p[1], p[2]));
        }
        /* Padding untouched. */
        CHECK_MEM_EQ(out.data + (size_t)y * out.stride + 53, before + (size_t)y * out.stride + 53,
                     out.stride - 53);
    }
    free(before);
    image_free(&rgb);
    image_free(&out);
}

/* ---- img_buf and the operator table ----------------------------------- */

static void test_buf(void)
{
    struct img_buf buf;
    CHECK_EQ(img_buf_init(&buf, 7, 5, 3), 0);
    CHECK(buf.data != NULL);
    CHECK_EQ(buf.stride, 21);
    CHECK_EQ(buf.width, 7);
    CHECK_EQ(buf.height, 5);
    CHECK_EQ(buf.channels, 3);
    memset(buf.data, 1, buf.stride * 5);
    img_buf_finish(&buf);
    CHECK(buf.data == NULL);
    img_buf_finish(&buf); /* twice is fine */
    img_buf_finish(NULL);

    CHECK_EQ(img_buf_init(&buf, 0, 5, 1), -EINVAL);
    CHECK(buf.data == NULL);
    CHECK_EQ(img_buf_init(&buf, 5, 0, 1), -EINVAL);
    CHECK_EQ(img_buf_init(&buf, 5, -1, 1), -EINVAL);
    CHECK_EQ(img_buf_init(&buf, 5, 5, 0), -EINVAL);
    CHECK_EQ(img_buf_init(&buf, 5, 5, 5), -EINVAL);
}

static void test_operators(void)
{
    enum img_operator op;
    static const struct {
        const char *name;
        enum img_operator op;
        int channels;
    } table[] = {
        {"sobel", IMG_OP_SOBEL, 1},   {"tutorial", IMG_OP_TUTORIAL, 3},
        {"scharr", IMG_OP_SCHARR, 1}, {"prewitt", IMG_OP_PREWITT, 1},
        {"canny", IMG_OP_CANNY, 1},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        CHECK_EQ(img_operator_from_name(table[i].name, &op), 0);
        CHECK_EQ(op, table[i].op);
        CHECK_STR_EQ(img_operator_name(table[i].op), table[i].name);
        CHECK_EQ(img_operator_channels(table[i].op), table[i].channels);
    }
    /* Contiguous from 0: the first invalid value ends an enumeration. */
    CHECK_LT(img_operator_channels((enum img_operator)5), 0);
    op = IMG_OP_TUTORIAL;
    CHECK_EQ(img_operator_from_name("Canny", &op), -EINVAL);
    CHECK_EQ(img_operator_from_name("", &op), -EINVAL);
    CHECK_EQ(img_operator_from_name("sobelx", &op), -EINVAL);
    CHECK_EQ(img_operator_from_name(NULL, &op), -EINVAL);
    CHECK_EQ(op, IMG_OP_TUTORIAL); /* untouched on failure */
    CHECK_STR_EQ(img_operator_name(IMG_OP_SOBEL), "sobel");
    CHECK_STR_EQ(img_operator_name(IMG_OP_TUTORIAL), "tutorial");
    CHECK(img_operator_name((enum img_operator)42) != NULL);
    CHECK_EQ(img_operator_channels(IMG_OP_SOBEL), 1);
    CHECK_EQ(img_operator_channels(IMG_OP_TUTORIAL), 3);
    CHECK_LT(img_operator_channels((enum img_operator)42), 0);

    /* img_apply runs the same kernels, honouring the source stride. */
    struct test_image gray = image_new(19, 11, 1, 4);
    struct test_image rgb = image_new(19, 11, 3, 4);
    uint8_t want[19 * 11];
    struct img_buf src = {gray.data, gray.stride, 19, 11, 1};
    struct img_buf dst;
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &src, &dst), 0);
    CHECK_EQ(dst.width, 19);
    CHECK_EQ(dst.height, 11);
    CHECK_EQ(dst.channels, 1);
    reference_sobel(gray.data, gray.stride, want, 19, 19, 11);
    for (int y = 0; y < 11; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 19 * y, 19);
    img_buf_finish(&dst);

    struct img_buf src_rgb = {rgb.data, rgb.stride, 19, 11, 3};
    CHECK_EQ(img_apply(IMG_OP_TUTORIAL, &src_rgb, &dst), 0);
    reference_tutorial(rgb.data, rgb.stride, want, 19, 19, 11);
    for (int y = 0; y < 11; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 19 * y, 19);
    img_buf_finish(&dst);

    kernel_fn luma_references[] = {reference_scharr, reference_prewitt};
    enum img_operator luma_ops[] = {IMG_OP_SCHARR, IMG_OP_PREWITT};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(img_apply(luma_ops[i], &src, &dst), 0);
        luma_references[i](gray.data, gray.stride, want, 19, 19, 11);
        for (int y = 0; y < 11; y++)
            CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 19 * y, 19);
        img_buf_finish(&dst);
        CHECK_EQ(img_apply(luma_ops[i], &src_rgb, &dst), -EINVAL);
    }
    CHECK_EQ(img_apply(IMG_OP_CANNY, &src_rgb, &dst), -EINVAL);

    /* Wrong channel count for the operator. */
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &src_rgb, &dst), -EINVAL);
    CHECK(dst.data == NULL);
    CHECK_EQ(img_apply(IMG_OP_TUTORIAL, &src, &dst), -EINVAL);
    CHECK_EQ(img_apply((enum img_operator)42, &src, &dst), -EINVAL);
    image_free(&gray);
    image_free(&rgb);
}

/* ---- PNG writing for the tests (libpng, in memory) -------------------- */

struct mem_png {
    uint8_t *data;
    size_t size, capacity;
};

static void mem_png_write(png_structp png, png_bytep bytes, size_t length)
{
    struct mem_png *out = png_get_io_ptr(png);
    if (out->size + length > out->capacity) {
        out->capacity = (out->size + length) * 2;
        out->data = realloc(out->data, out->capacity);
        CHECK(out->data != NULL);
    }
    memcpy(out->data + out->size, bytes, length);
    out->size += length;
}

static void mem_png_flush(png_structp png)
{
    (void)png;
}

/* Writes a PNG of any colour type from rows already in PNG sample layout
 * (16-bit samples big-endian). `palette`/`trns` only for colour type 3. */
static struct mem_png make_png(int width, int height, int color_type, int bit_depth,
                               const uint8_t *samples, size_t row_bytes, const png_color *palette,
                               int palette_size, const uint8_t *trns, int trns_size, int interlace)
{
    struct mem_png out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    CHECK(png != NULL);
    png_infop info = png_create_info_struct(png);
    CHECK(info != NULL);
    /* The test aborts on any libpng error instead of longjmp-ing. */
    if (setjmp(png_jmpbuf(png)))
        CHECK(!"libpng error while writing a test PNG");
    png_set_write_fn(png, &out, mem_png_write, mem_png_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette != NULL)
        png_set_PLTE(png, info, palette, palette_size);
    if (trns != NULL)
        png_set_tRNS(png, info, trns, trns_size, NULL);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < height; y++)
            png_write_row(png, samples + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return out;
}

static uint32_t crc32_png(const uint8_t *data, size_t size)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A 57-byte PNG whose header claims width x height (8-bit gray): signature,
 * IHDR, an empty IDAT, IEND. Decoding it would fail; only the header is
 * real. */
static size_t make_png_header_only(uint8_t out[57], uint32_t width, uint32_t height)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, signature, 8);
    put_be32(out + 8, 13);
    memcpy(out + 12, "IHDR", 4);
    put_be32(out + 16, width);
    put_be32(out + 20, height);
    out[24] = 8;
    out[25] = 0;
    out[26] = out[27] = out[28] = 0;
    put_be32(out + 29, crc32_png(out + 12, 17));
    put_be32(out + 33, 0);
    memcpy(out + 37, "IDAT", 4);
    put_be32(out + 41, crc32_png(out + 37, 4));
    put_be32(out + 45, 0);
    memcpy(out + 49, "IEND", 4);
    put_be32(out + 53, crc32_png(out + 49, 4));
    return 57;
}

static void check_decoded(const uint8_t *png, size_t size, int channels, int width, int height,
                          const uint8_t *expected)
{
    struct img_buf buf;
    char err[256] = "";
    int ret = img_decode(png, size, channels, UINT64_MAX, &buf, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "decode failed: %s\n", err);
    CHECK_EQ(ret, 0);
    CHECK_EQ(buf.width, width);
    CHECK_EQ(buf.height, height);
    CHECK_EQ(buf.channels, channels);
    for (int y = 0; y < height; y++)
        CHECK_MEM_EQ(buf.data + (size_t)y * buf.stride,
                     expected + (size_t)y * (size_t)width * (size_t)channels,
                     (size_t)width * (size_t)channels);
    img_buf_finish(&buf);
}

static void check_probe(const uint8_t *data, size_t size, enum img_format format, int width,
                        int height, int channels)
{
    struct img_info info;
    char err[256] = "";
    int ret = img_probe(data, size, &info, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "probe failed: %s\n", err);
    CHECK_EQ(ret, 0);
    CHECK_EQ(info.format, format);
    CHECK_EQ(info.width, width);
    CHECK_EQ(info.height, height);
    CHECK_EQ(info.channels, channels);
}

/* ---- decoding every PNG colour type ----------------------------------- */

#define PW 3
#define PH 2

/* The RGB truth for the 3x2 test pictures. */
static const uint8_t truth_rgb[PH][PW][3] = {
    {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}},
    {{12, 34, 56}, {200, 100, 50}, {255, 255, 255}},
};
static const uint8_t truth_gray[PH][PW] = {{0, 17, 128}, {200, 254, 255}};

static void expected_from_rgb(uint8_t rgb_out[PH * PW * 3], uint8_t luma_out[PH * PW])
{
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            const uint8_t *p = truth_rgb[y][x];
            memcpy(rgb_out + 3 * (y * PW + x), p, 3);
            luma_out[y * PW + x] = reference_luma(p[0], p[1], p[2]);
        }
    }
}

static void expected_from_gray(uint8_t rgb_out[PH * PW * 3], uint8_t gray_out[PH * PW])
{
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            uint8_t g = truth_gray[y][x];
            gray_out[y * PW + x] = g;
            rgb_out[3 * (y * PW + x)] = rgb_out[3 * (y * PW + x) + 1] =
                rgb_out[3 * (y * PW + x) + 2] = g;
        }
    }
}

static void check_png_both_ways(struct mem_png png, int stored_channels, const uint8_t *rgb,
                                const uint8_t *gray)
{
    check_probe(png.data, png.size, IMG_FORMAT_PNG, PW, PH, stored_channels);
    check_decoded(png.data, png.size, 3, PW, PH, rgb);
    check_decoded(png.data, png.size, 1, PW, PH, gray);
    free(png.data);
}

/* A colour PNG bigger than the in-place luma conversion's 4096-pixel step
 * (and not a multiple of it): every pixel is our luma of its RGB. */
static void test_decode_png_luma_in_place(void)
{
    enum { W = 101, H = 67 };
    struct test_image rgb = image_new(W, H, 3, 0);
    struct mem_png png =
        make_png(W, H, PNG_COLOR_TYPE_RGB, 8, rgb.data, rgb.stride, NULL, 0, NULL, 0, 0);
    struct img_buf luma;
    CHECK_EQ(img_decode(png.data, png.size, 1, W * H, &luma, NULL, 0), 0);
    CHECK_EQ(luma.stride, W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
            CHECK_EQ(luma.data[(size_t)y * luma.stride + (size_t)x],
                     reference_luma(p[0], p[1], p[2]));
        }
    img_buf_finish(&luma);
    free(png.data);
    image_free(&rgb);
}

static void test_decode_png_types(void)
{
    uint8_t want_rgb[PH * PW * 3], want_luma[PH * PW], want_gray_rgb[PH * PW * 3],
        want_gray[PH * PW];
    expected_from_rgb(want_rgb, want_luma);
    expected_from_gray(want_gray_rgb, want_gray);

    for (int interlace = 0; interlace <= 1; interlace++) {
        /* 8-bit gray: exact in one channel, replicated in three. */
        uint8_t gray8[PH][PW];
        memcpy(gray8, truth_gray, sizeof(gray8));
        check_png_both_ways(
            make_png(PW, PH, PNG_COLOR_TYPE_GRAY, 8, &gray8[0][0], PW, NULL, 0, NULL, 0, interlace),
            1, want_gray_rgb, want_gray);

        /* Gray + alpha: alpha dropped, not applied (alpha 0 on one pixel). */
        uint8_t gray_alpha[PH][PW * 2];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                gray_alpha[y][2 * x] = truth_gray[y][x];
                gray_alpha[y][2 * x + 1] = (uint8_t)(x * 100);
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_GRAY_ALPHA, 8, &gray_alpha[0][0],
                                     PW * 2, NULL, 0, NULL, 0, interlace),
                            2, want_gray_rgb, want_gray);

        /* RGB: exact in three channels; our luma in one. */
        uint8_t rgb8[PH][PW * 3];
        memcpy(rgb8, truth_rgb, sizeof(rgb8));
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_RGB, 8, &rgb8[0][0], PW * 3, NULL, 0,
                                     NULL, 0, interlace),
                            3, want_rgb, want_luma);

        /* RGBA: alpha dropped. */
        uint8_t rgba[PH][PW * 4];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                memcpy(&rgba[y][4 * x], truth_rgb[y][x], 3);
                rgba[y][4 * x + 3] = (uint8_t)(y * 3 + x) * 40;
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_RGB_ALPHA, 8, &rgba[0][0], PW * 4, NULL,
                                     0, NULL, 0, interlace),
                            4, want_rgb, want_luma);

        /* Palette (indices in reverse order), without and with tRNS. */
        png_color palette[PH * PW];
        uint8_t indices[PH][PW];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                int index = PH * PW - 1 - (y * PW + x);
                palette[index].red = truth_rgb[y][x][0];
                palette[index].green = truth_rgb[y][x][1];
                palette[index].blue = truth_rgb[y][x][2];
                indices[y][x] = (uint8_t)index;
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_PALETTE, 8, &indices[0][0], PW, palette,
                                     PH * PW, NULL, 0, interlace),
                            3, want_rgb, want_luma);
        static const uint8_t trns[2] = {0, 128};
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_PALETTE, 8, &indices[0][0], PW, palette,
                                     PH * PW, trns, 2, interlace),
                            4, want_rgb, want_luma);

        /* 16-bit RGB: the high byte is kept (low bytes vary so rounding
         * instead of truncation would show). */
        uint8_t rgb16[PH][PW * 6];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++)
                for (int c = 0; c < 3; c++) {
                    rgb16[y][6 * x + 2 * c] = truth_rgb[y][x][c];
                    rgb16[y][6 * x + 2 * c + 1] = (uint8_t)(0x80 + 0x3f * c + x);
                }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_RGB, 16, &rgb16[0][0], PW * 6, NULL, 0,
                                     NULL, 0, interlace),
                            3, want_rgb, want_luma);

        /* 16-bit gray: one channel stays exact (high byte). */
        uint8_t gray16[PH][PW * 2];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                gray16[y][2 * x] = truth_gray[y][x];
                gray16[y][2 * x + 1] = 0xff;
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_GRAY, 16, &gray16[0][0], PW * 2, NULL,
                                     0, NULL, 0, interlace),
                            1, want_gray_rgb, want_gray);
    }

    /* 4-bit gray: samples scale by 17 (0xF -> 255). */
    uint8_t gray4[2][2] = {{0x0f, 0x8a}, {0x31, 0xc5}}; /* 4 pixels per row, 2 rows */
    struct mem_png png4 =
        make_png(4, 2, PNG_COLOR_TYPE_GRAY, 4, &gray4[0][0], 2, NULL, 0, NULL, 0, 0);
    static const uint8_t want4[8] = {0, 255, 136, 170, 51, 17, 204, 85};
    check_probe(png4.data, png4.size, IMG_FORMAT_PNG, 4, 2, 1);
    check_decoded(png4.data, png4.size, 1, 4, 2, want4);
    free(png4.data);
}

/* ---- JPEG ------------------------------------------------------------- */

static void check_near(int got, int want, int tolerance)
{
    if (abs(got - want) > tolerance) {
        fprintf(stderr, "%d is not within %d of %d\n", got, tolerance, want);
        CHECK_LE(abs(got - want), tolerance);
    }
}

/* ---- JPEGs made here with libjpeg ------------------------------------- */

struct mem_jpeg {
    unsigned char *data;
    unsigned long size;
};

struct jpeg_spec {
    int width, height;
    J_COLOR_SPACE input;  /* JCS_GRAYSCALE, JCS_RGB or JCS_CMYK */
    J_COLOR_SPACE stored; /* as written: JCS_GRAYSCALE, JCS_YCbCr, JCS_RGB, JCS_CMYK, JCS_YCCK */
    int quality;
    bool progressive;
    bool full_chroma; /* 4:4:4 instead of libjpeg's default 4:2:0 */
    const uint8_t *app1;
    size_t app1_size;
};

/* Compresses `samples` (rows of width * components, tight). libjpeg's default
 * error handler exits the process, which fails the test. */
static struct mem_jpeg make_jpeg(const struct jpeg_spec *spec, const uint8_t *samples)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    struct mem_jpeg out = {NULL, 0};
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out.data, &out.size);
    cinfo.image_width = (JDIMENSION)spec->width;
    cinfo.image_height = (JDIMENSION)spec->height;
    cinfo.in_color_space = spec->input;
    cinfo.input_components = spec->input == JCS_GRAYSCALE ? 1 : spec->input == JCS_RGB ? 3 : 4;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, spec->stored);
    jpeg_set_quality(&cinfo, spec->quality, TRUE);
    if (spec->full_chroma)
        for (int c = 0; c < cinfo.num_components; c++)
            cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
    if (spec->progressive)
        jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    if (spec->app1 != NULL)
        jpeg_write_marker(&cinfo, JPEG_APP0 + 1, spec->app1, (unsigned)spec->app1_size);
    size_t row_bytes = (size_t)spec->width * (size_t)cinfo.input_components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(samples + cinfo.next_scanline * row_bytes);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return out;
}

/* `buf` must equal what libjpeg itself decodes from the file with the same
 * output colour space (grayscale for one channel, RGB for three). */
static void check_same_as_libjpeg(const uint8_t *data, size_t size, const struct img_buf *buf)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr errors;
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = buf->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    CHECK_EQ(cinfo.output_width, buf->width);
    CHECK_EQ(cinfo.output_height, buf->height);
    uint8_t *row = malloc((size_t)buf->width * (size_t)buf->channels);
    CHECK(row != NULL);
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
        CHECK_MEM_EQ(buf->data + y * buf->stride, row, (size_t)buf->width * (size_t)buf->channels);
    }
    free(row);
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
}

/* An APP1 payload: "Exif\0\0", a TIFF header in the given byte order and an
 * IFD0 with `entries` tags: first 0x010f (Make, ASCII, to be skipped), then
 * Orientation with `type` and `value`. Returns the size. */
static size_t make_exif(uint8_t out[64], bool big_endian, unsigned type, unsigned value)
{
    uint8_t *p = out;
    memcpy(p, "Exif\0\0", 6);
    p += 6;
    uint8_t *tiff = p;
#define PUT16(v)                                                                                   \
    do {                                                                                           \
        unsigned v_ = (v);                                                                         \
        *p++ = (uint8_t)(big_endian ? v_ >> 8 : v_);                                               \
        *p++ = (uint8_t)(big_endian ? v_ : v_ >> 8);                                               \
    } while (0)
#define PUT32(v)                                                                                   \
    do {                                                                                           \
        uint32_t w_ = (v);                                                                         \
        PUT16(big_endian ? w_ >> 16 : w_ & 0xffff);                                                \
        PUT16(big_endian ? w_ & 0xffff : w_ >> 16);                                                \
    } while (0)
    *p++ = big_endian ? 'M' : 'I';
    *p++ = big_endian ? 'M' : 'I';
    PUT16(42);
    PUT32(8);      /* IFD0 right after the header */
    PUT16(2);      /* two entries */
    PUT16(0x010f); /* Make: ASCII, 4 bytes "Cam" inline */
    PUT16(2);
    PUT32(4);
    memcpy(p, "Cam", 4);
    p += 4;
    PUT16(0x0112); /* Orientation */
    PUT16(type);
    PUT32(1);
    PUT16(value);
    PUT16(0);
    PUT32(0); /* no next IFD */
#undef PUT16
#undef PUT32
    (void)tiff;
    return (size_t)(p - out);
}

/* Inserts an APP1 segment with `payload` right after SOI. */
static uint8_t *splice_app1(const uint8_t *jpeg, size_t size, const uint8_t *payload,
                            size_t payload_size, size_t *out_size)
{
    uint8_t *out = malloc(size + 4 + payload_size);
    CHECK(out != NULL);
    memcpy(out, jpeg, 2);
    out[2] = 0xff;
    out[3] = 0xe1;
    out[4] = (uint8_t)((payload_size + 2) >> 8);
    out[5] = (uint8_t)(payload_size + 2);
    memcpy(out + 6, payload, payload_size);
    memcpy(out + 6 + payload_size, jpeg + 2, size - 2);
    *out_size = size + 4 + payload_size;
    return out;
}

/* 32x16 stored as eight flat 8x8 blocks, grey levels A..H:
 *   A B C D
 *   E F G H
 * Gray, quality 100: flat blocks are DC only and decode exactly. */
static const uint8_t block_levels[8] = {10, 40, 70, 100, 130, 160, 190, 220};

/* What a viewer shows for each EXIF orientation, as block letters, one row
 * per string (Exif 2.32, table 4; e.g. 6: "0th row is the visual right
 * side": turn 90° clockwise; 8: turn 90° counter-clockwise). */
static const char *const oriented_blocks[9][4] = {
    [1] = {"ABCD", "EFGH"},         [2] = {"DCBA", "HGFE"},         [3] = {"HGFE", "DCBA"},
    [4] = {"EFGH", "ABCD"},         [5] = {"AE", "BF", "CG", "DH"}, [6] = {"EA", "FB", "GC", "HD"},
    [7] = {"HD", "GC", "FB", "EA"}, [8] = {"DH", "CG", "BF", "AE"},
};

static void check_oriented(const struct img_buf *buf, int orientation)
{
    bool turned = orientation >= 5;
    CHECK_EQ(buf->width, turned ? 16 : 32);
    CHECK_EQ(buf->height, turned ? 32 : 16);
    for (int y = 0; y < buf->height; y++)
        for (int x = 0; x < buf->width; x++) {
            char block = oriented_blocks[orientation][y / 8][x / 8];
            uint8_t want = block_levels[block - 'A'];
            for (int c = 0; c < buf->channels; c++) {
                uint8_t got = buf->data[(size_t)y * buf->stride + (size_t)x * buf->channels + c];
                if (got != want) {
                    fprintf(stderr, "orientation %d, %d channel(s): (%d,%d) is %u, want %u (%c)\n",
                            orientation, buf->channels, x, y, got, want, block);
                    CHECK_EQ(got, want);
                }
            }
        }
}

static void test_jpeg_orientation(void)
{
    uint8_t pixels[16 * 32];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++)
            pixels[y * 32 + x] = block_levels[(y / 8) * 4 + x / 8];

    for (int orientation = 1; orientation <= 8; orientation++) {
        for (int big_endian = 0; big_endian <= 1; big_endian++) {
            uint8_t exif[64];
            size_t exif_size = make_exif(exif, big_endian, 3, (unsigned)orientation);
            struct jpeg_spec spec = {32,    16,    JCS_GRAYSCALE, JCS_GRAYSCALE, 100,
                                     false, false, exif,          exif_size};
            /* Progressive too: the decode path is the same, the file not. */
            spec.progressive = big_endian;
            struct mem_jpeg jpeg = make_jpeg(&spec, pixels);
            check_probe(jpeg.data, jpeg.size, IMG_FORMAT_JPEG, orientation >= 5 ? 16 : 32,
                        orientation >= 5 ? 32 : 16, 1);
            struct img_info info;
            CHECK_EQ(img_probe(jpeg.data, jpeg.size, &info, NULL, 0), 0);
            CHECK_EQ(info.orientation, orientation);
            for (int channels = 1; channels <= 3; channels += 2) {
                struct img_buf buf;
                char err[256] = "";
                CHECK_EQ(img_decode(jpeg.data, jpeg.size, channels, 512, &buf, err, sizeof(err)),
                         0);
                CHECK_EQ(buf.channels, channels);
                check_oriented(&buf, orientation);
                img_buf_finish(&buf);
            }
            /* The edge map faces the same way: Sobel of the upright image. */
            struct img_buf luma, edges;
            CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, 512, &luma, NULL, 0), 0);
            CHECK_EQ(img_apply(IMG_OP_SOBEL, &luma, &edges), 0);
            uint8_t want[512];
            reference_sobel(luma.data, luma.stride, want, (size_t)luma.width, luma.width,
                            luma.height);
            for (int y = 0; y < luma.height; y++)
                CHECK_MEM_EQ(edges.data + (size_t)y * edges.stride, want + y * luma.width,
                             (size_t)luma.width);
            img_buf_finish(&edges);
            img_buf_finish(&luma);
            free(jpeg.data);
        }
    }

    /* Spliced into a file made elsewhere (OpenCV's color_jpeg, 32x16): 6
     * turns it to 16x32, left half (200, 40, 40) on top. */
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, true, 3, 6), spliced_size;
    uint8_t *spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, exif_size, &spliced_size);
    check_probe(spliced, spliced_size, IMG_FORMAT_JPEG, 16, 32, 3);
    struct img_buf rgb;
    CHECK_EQ(img_decode(spliced, spliced_size, 3, 512, &rgb, NULL, 0), 0);
    CHECK_EQ(rgb.width, 16);
    CHECK_EQ(rgb.height, 32);
    check_near(rgb.data[4 * rgb.stride + 8 * 3], 200, 6);
    check_near(rgb.data[27 * rgb.stride + 8 * 3 + 1], 180, 6);
    img_buf_finish(&rgb);
    free(spliced);

    /* Not an orientation: ignored (1). Out of range, wrong type, a LONG,
     * a cut IFD, a bad byte order mark. */
    struct img_info info;
    struct {
        unsigned type, value;
    } ignored[] = {{3, 0}, {3, 9}, {3, 0xffff}, {4, 6}, {1, 6}};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        exif_size = make_exif(exif, false, ignored[i].type, ignored[i].value);
        spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, exif_size, &spliced_size);
        CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
        CHECK_EQ(info.orientation, 1);
        CHECK_EQ(info.width, 32);
        free(spliced);
    }
    /* Cut anywhere before the end of the Orientation entry (6 + 8 header
     * + 2 count + 12 Make + 12 Orientation = 40 bytes): 1. Cutting only the
     * next-IFD offset after it leaves a complete entry. */
    exif_size = make_exif(exif, false, 3, 6);
    CHECK_EQ(exif_size, 44);
    for (size_t cut = 6; cut < 40; cut++) {
        spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, cut, &spliced_size);
        CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
        CHECK_EQ(info.orientation, 1);
        free(spliced);
    }
    spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, 40, &spliced_size);
    CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
    CHECK_EQ(info.orientation, 6);
    free(spliced);
    exif[6] = 'X';
    spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, exif_size, &spliced_size);
    CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
    CHECK_EQ(info.orientation, 1);
    free(spliced);
    /* A PNG without an eXIf chunk: 1 (PNG orientation: test_png_orientation). */
    uint8_t header_only[57];
    size_t header_size = make_png_header_only(header_only, 3, 2);
    CHECK_EQ(img_probe(header_only, header_size, &info, NULL, 0), 0);
    CHECK_EQ(info.orientation, 1);
}

/* ---- PNG eXIf orientation --------------------------------------------- */

/* A copy of `png` with a chunk (`type`, `data`, its CRC) inserted at byte
 * `at` (33: right after IHDR; size - 12: just before IEND). `length` is
 * what the chunk header claims (normally data_size). */
static uint8_t *png_insert_chunk(const uint8_t *png, size_t size, size_t at, const char *type,
                                 const uint8_t *data, size_t data_size, uint32_t length,
                                 size_t *out_size)
{
    uint8_t *out = malloc(size + 12 + data_size);
    CHECK(out != NULL);
    memcpy(out, png, at);
    uint8_t *chunk = out + at;
    put_be32(chunk, length);
    memcpy(chunk + 4, type, 4);
    if (data_size > 0)
        memcpy(chunk + 8, data, data_size);
    put_be32(chunk + 8 + data_size, crc32_png(chunk + 4, 4 + data_size));
    memcpy(chunk + 12 + data_size, png + at, size - at);
    *out_size = size + 12 + data_size;
    return out;
}

/* A PNG made from `png` with an eXIf chunk holding the TIFF part (no
 * "Exif\0\0") of make_exif's data, right after IHDR. */
static uint8_t *png_with_orientation(struct mem_png png, bool big_endian, unsigned type,
                                     unsigned value, size_t *out_size)
{
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, big_endian, type, value);
    return png_insert_chunk(png.data, png.size, 33, "eXIf", exif + 6, exif_size - 6,
                            (uint32_t)(exif_size - 6), out_size);
}

static int png_probe_orientation(const uint8_t *png, size_t size)
{
    struct img_info info;
    char err[256] = "";
    int ret = img_probe(png, size, &info, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "probe failed: %s\n", err);
    CHECK_EQ(ret, 0);
    return info.orientation;
}

/* Where stored pixel (x, y) of a width x height image appears upright (the
 * mapping oriented_blocks shows by example). */
static void displayed_at(int orientation, int width, int height, int x, int y, int *shown_x,
                         int *shown_y)
{
    static const struct {
        bool transposed, mirror_x, mirror_y;
    } how[9] = {
        [1] = {false, false, false}, [2] = {false, true, false}, [3] = {false, true, true},
        [4] = {false, false, true},  [5] = {true, false, false}, [6] = {true, true, false},
        [7] = {true, true, true},    [8] = {true, false, true},
    };
    int sx = how[orientation].transposed ? y : x, sy = how[orientation].transposed ? x : y;
    int sw = how[orientation].transposed ? height : width;
    int sh = how[orientation].transposed ? width : height;
    *shown_x = how[orientation].mirror_x ? sw - 1 - sx : sx;
    *shown_y = how[orientation].mirror_y ? sh - 1 - sy : sy;
}

/* Every pixel of the decode of `png` (stored width x height, with the
 * orientation's eXIf) in 1 and 3 channels, against the stored picture's
 * `rgb` and `luma` (packed) moved where a viewer shows them. */
static void check_png_turned(const uint8_t *png, size_t size, int orientation, int width,
                             int height, const uint8_t *rgb, const uint8_t *luma)
{
    bool turned = orientation >= 5;
    for (int channels = 1; channels <= 3; channels += 2) {
        struct img_buf buf;
        char err[256] = "";
        int ret = img_decode(png, size, channels, (uint64_t)width * (uint64_t)height, &buf, err,
                             sizeof(err));
        if (ret != 0)
            fprintf(stderr, "decode failed: %s\n", err);
        CHECK_EQ(ret, 0);
        CHECK_EQ(buf.width, turned ? height : width);
        CHECK_EQ(buf.height, turned ? width : height);
        CHECK_EQ(buf.channels, channels);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) {
                int shown_x, shown_y;
                displayed_at(orientation, width, height, x, y, &shown_x, &shown_y);
                const uint8_t *got =
                    buf.data + (size_t)shown_y * buf.stride + (size_t)shown_x * (size_t)channels;
                size_t stored = (size_t)y * (size_t)width + (size_t)x;
                const uint8_t *want = channels == 1 ? luma + stored : rgb + 3 * stored;
                if (memcmp(got, want, (size_t)channels) != 0) {
                    fprintf(stderr, "orientation %d, %d channel(s): stored (%d,%d) at (%d,%d)\n",
                            orientation, channels, x, y, shown_x, shown_y);
                    CHECK_MEM_EQ(got, want, (size_t)channels);
                }
            }
        img_buf_finish(&buf);
    }
}

static void test_png_orientation(void)
{
    /* What a viewer shows: the 32x16 blocks of the JPEG test, as an 8-bit
     * gray PNG and as an RGB one (R = G = B, whose luma is exact), in both
     * byte orders. The RGB file decoded to luma turns inside stb's buffer,
     * the others through a second one. */
    uint8_t blocks[16 * 32], blocks_rgb[16 * 32 * 3];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++) {
            uint8_t level = block_levels[(y / 8) * 4 + x / 8];
            blocks[y * 32 + x] = level;
            memset(blocks_rgb + 3 * (y * 32 + x), level, 3);
        }
    struct mem_png block_pngs[2] = {
        make_png(32, 16, PNG_COLOR_TYPE_GRAY, 8, blocks, 32, NULL, 0, NULL, 0, 0),
        make_png(32, 16, PNG_COLOR_TYPE_RGB, 8, blocks_rgb, 32 * 3, NULL, 0, NULL, 0, 1),
    };
    for (int orientation = 1; orientation <= 8; orientation++)
        for (int kind = 0; kind < 2; kind++)
            for (int big_endian = 0; big_endian <= 1; big_endian++) {
                size_t size;
                uint8_t *png = png_with_orientation(block_pngs[kind], big_endian, 3,
                                                    (unsigned)orientation, &size);
                check_probe(png, size, IMG_FORMAT_PNG, orientation >= 5 ? 16 : 32,
                            orientation >= 5 ? 32 : 16, kind == 0 ? 1 : 3);
                CHECK_EQ(png_probe_orientation(png, size), orientation);
                for (int channels = 1; channels <= 3; channels += 2) {
                    struct img_buf buf;
                    char err[256] = "";
                    CHECK_EQ(img_decode(png, size, channels, 512, &buf, err, sizeof(err)), 0);
                    CHECK_EQ(buf.channels, channels);
                    check_oriented(&buf, orientation);
                    img_buf_finish(&buf);
                }
                free(png);
            }

    /* Pixel for pixel, channel order included, on a picture with odd sides
     * larger than the 32-pixel tiles of the turning copy: 8-bit gray, RGB,
     * 16-bit RGBA (high bytes kept, alpha dropped) and 2-bit palette. */
    enum { W = 37, H = 70 };
    static uint8_t gray[H][W], gray_rgb[H][W][3], rgb[H][W][3], luma[H][W], rgba16[H][W * 8];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            gray[y][x] = (uint8_t)(x * 7 + y * 3);
            memset(gray_rgb[y][x], gray[y][x], 3);
            rgb[y][x][0] = (uint8_t)(x * 6);
            rgb[y][x][1] = (uint8_t)(y * 3);
            rgb[y][x][2] = (uint8_t)(x * y);
            luma[y][x] = reference_luma(rgb[y][x][0], rgb[y][x][1], rgb[y][x][2]);
            for (int c = 0; c < 4; c++) {
                rgba16[y][8 * x + 2 * c] = c < 3 ? rgb[y][x][c] : (uint8_t)(x + y);
                rgba16[y][8 * x + 2 * c + 1] = (uint8_t)(0x9c + c);
            }
        }
    /* Palette: colour (x + 2y) % 4 at 2 bits per index. */
    static const png_color palette[4] = {{255, 0, 0}, {0, 200, 0}, {0, 0, 150}, {90, 90, 90}};
    static uint8_t indices[H][(W + 3) / 4], palette_rgb[H][W][3], palette_luma[H][W];
    memset(indices, 0, sizeof(indices));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int index = (x + 2 * y + x / 5) % 4;
            indices[y][x / 4] |= (uint8_t)(index << (6 - 2 * (x % 4)));
            const png_color *colour = &palette[index];
            palette_rgb[y][x][0] = colour->red;
            palette_rgb[y][x][1] = colour->green;
            palette_rgb[y][x][2] = colour->blue;
            palette_luma[y][x] = reference_luma(colour->red, colour->green, colour->blue);
        }
    struct {
        struct mem_png png;
        const uint8_t *rgb, *luma;
    } pictures[] = {
        {make_png(W, H, PNG_COLOR_TYPE_GRAY, 8, &gray[0][0], W, NULL, 0, NULL, 0, 0),
         &gray_rgb[0][0][0], &gray[0][0]},
        {make_png(W, H, PNG_COLOR_TYPE_RGB, 8, &rgb[0][0][0], W * 3, NULL, 0, NULL, 0, 0),
         &rgb[0][0][0], &luma[0][0]},
        {make_png(W, H, PNG_COLOR_TYPE_RGB_ALPHA, 16, &rgba16[0][0], W * 8, NULL, 0, NULL, 0, 1),
         &rgb[0][0][0], &luma[0][0]},
        {make_png(W, H, PNG_COLOR_TYPE_PALETTE, 2, &indices[0][0], (W + 3) / 4, palette, 4, NULL, 0,
                  0),
         &palette_rgb[0][0][0], &palette_luma[0][0]},
    };
    enum { PICTURES = sizeof(pictures) / sizeof(pictures[0]) };
    for (int orientation = 1; orientation <= 8; orientation++)
        for (int i = 0; i < PICTURES; i++) {
            size_t size;
            uint8_t *png = png_with_orientation(pictures[i].png, (orientation + i) % 2, 3,
                                                (unsigned)orientation, &size);
            check_png_turned(png, size, orientation, W, H, pictures[i].rgb, pictures[i].luma);
            free(png);
        }

    /* The edge map faces the same way: Sobel of the upright luma. */
    size_t size;
    uint8_t *png = png_with_orientation(pictures[1].png, false, 3, 6, &size);
    struct img_buf upright, edges;
    CHECK_EQ(img_decode(png, size, 1, W * H, &upright, NULL, 0), 0);
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &upright, &edges), 0);
    static uint8_t want_edges[W * H];
    reference_sobel(upright.data, upright.stride, want_edges, (size_t)upright.width, upright.width,
                    upright.height);
    for (int y = 0; y < upright.height; y++)
        CHECK_MEM_EQ(edges.data + (size_t)y * edges.stride, want_edges + y * upright.width,
                     (size_t)upright.width);
    img_buf_finish(&edges);
    img_buf_finish(&upright);
    free(png);

    /* Where the chunk is: after the image data it is ignored (as browsers
     * do); the first of two counts; "Exif\0\0" before the TIFF header (an
     * APP1 payload pasted whole, not what the chunk holds) is not EXIF. */
    const struct mem_png base = block_pngs[0];
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, false, 3, 6);
    png = png_insert_chunk(base.data, base.size, base.size - 12, "eXIf", exif + 6, exif_size - 6,
                           (uint32_t)(exif_size - 6), &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    check_probe(png, size, IMG_FORMAT_PNG, 32, 16, 1);
    free(png);
    uint8_t *first = png_with_orientation(base, true, 3, 8, &size);
    size_t twice_size;
    uint8_t *twice = png_insert_chunk(first, size, 33 + 12 + exif_size - 6, "eXIf", exif + 6,
                                      exif_size - 6, (uint32_t)(exif_size - 6), &twice_size);
    CHECK_EQ(png_probe_orientation(twice, twice_size), 8);
    free(twice);
    free(first);
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", exif, exif_size, (uint32_t)exif_size,
                           &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    free(png);

    /* Malformed EXIF is ignored: orientation 1, the image decodes as
     * stored. Values out of range or of the wrong type; every cut of the
     * TIFF data before the end of the Orientation entry (8 header + 2 count
     * + 12 Make + 12 Orientation = 34 bytes); an empty chunk. */
    struct {
        unsigned type, value;
    } ignored[] = {{3, 0}, {3, 9}, {3, 0xffff}, {4, 6}, {1, 6}};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        png = png_with_orientation(base, i % 2, ignored[i].type, ignored[i].value, &size);
        CHECK_EQ(png_probe_orientation(png, size), 1);
        check_png_turned(png, size, 1, 32, 16, blocks_rgb, blocks);
        free(png);
    }
    for (size_t cut = 0; cut <= 34; cut++) {
        png =
            png_insert_chunk(base.data, base.size, 33, "eXIf", exif + 6, cut, (uint32_t)cut, &size);
        CHECK_EQ(png_probe_orientation(png, size), cut == 34 ? 6 : 1);
        free(png);
    }
    /* IFD0 offsets past the end, and an entry count far beyond the data. */
    uint8_t tiff[64];
    static const uint32_t bad_offsets[] = {0xffffffffu, 0x80000000u, 1000, 37, 36, 33};
    for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]); i++) {
        memcpy(tiff, exif + 6, exif_size - 6);
        tiff[4] = (uint8_t)bad_offsets[i];
        tiff[5] = (uint8_t)(bad_offsets[i] >> 8);
        tiff[6] = (uint8_t)(bad_offsets[i] >> 16);
        tiff[7] = (uint8_t)(bad_offsets[i] >> 24);
        png = png_insert_chunk(base.data, base.size, 33, "eXIf", tiff, exif_size - 6,
                               (uint32_t)(exif_size - 6), &size);
        CHECK_EQ(png_probe_orientation(png, size), 1);
        free(png);
    }
    /* 65535 entries in 38 bytes: an Orientation entry is still found where
     * it is; without one the search stops at the end of the data. */
    memcpy(tiff, exif + 6, exif_size - 6);
    tiff[8] = tiff[9] = 0xff;
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", tiff, exif_size - 6,
                           (uint32_t)(exif_size - 6), &size);
    CHECK_EQ(png_probe_orientation(png, size), 6);
    free(png);
    tiff[22] = 0x13; /* tag 0x0113, not Orientation */
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", tiff, exif_size - 6,
                           (uint32_t)(exif_size - 6), &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    free(png);
    /* A chunk claiming more bytes than the file has: ignored by the probe;
     * the decode refuses the file as cut, as it would without the eXIf. */
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", exif + 6, exif_size - 6, 0x7fffffffu,
                           &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    struct img_buf refused;
    char err[256] = "";
    CHECK_EQ(img_decode(png, size, 1, 512, &refused, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG");
    free(png);

    for (int i = 0; i < PICTURES; i++)
        free(pictures[i].png.data);
    free(block_pngs[0].data);
    free(block_pngs[1].data);
}

/* A smooth colourful picture, so luma and colour conversions are exercised
 * everywhere (not only at flat blocks). */
static void fill_gradient_rgb(uint8_t *rgb, int width, int height)
{
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *p = rgb + 3 * ((size_t)y * width + x);
            p[0] = (uint8_t)(x * 255 / (width - 1));
            p[1] = (uint8_t)(y * 255 / (height - 1));
            p[2] = (uint8_t)((x + y) * 127 / (width + height) + 64 * ((x / 5 + y / 7) % 2));
        }
}

static void test_jpeg_color_spaces(void)
{
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3], gray[W * H];
    fill_gradient_rgb(rgb, W, H);
    for (int i = 0; i < W * H; i++)
        gray[i] = rgb[3 * i + 1];

    /* YCbCr 4:2:0 and 4:4:4, baseline and progressive; RGB-coded (Adobe
     * transform 0); gray. Luma and RGB are exactly libjpeg's own decodes. */
    struct jpeg_spec specs[] = {
        {W, H, JCS_RGB, JCS_YCbCr, 90, false, false, NULL, 0},
        {W, H, JCS_RGB, JCS_YCbCr, 90, true, false, NULL, 0},
        {W, H, JCS_RGB, JCS_YCbCr, 75, false, true, NULL, 0},
        {W, H, JCS_RGB, JCS_RGB, 90, false, true, NULL, 0},
        {W, H, JCS_GRAYSCALE, JCS_GRAYSCALE, 90, true, false, NULL, 0},
    };
    bool luma_differs_from_ours = false;
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct mem_jpeg jpeg = make_jpeg(&specs[i], specs[i].input == JCS_RGB ? rgb : gray);
        struct img_buf luma, color;
        char err[256] = "";
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, W * H, &luma, err, sizeof(err)), 0);
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 3, W * H, &color, err, sizeof(err)), 0);
        check_same_as_libjpeg(jpeg.data, jpeg.size, &luma);
        check_same_as_libjpeg(jpeg.data, jpeg.size, &color);
        /* Close to the picture, and for YCbCr files not img_rgb_to_luma of
         * the RGB decode: the Y channel skips chroma entirely. */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *p = color.data + (size_t)y * color.stride + 3 * (size_t)x;
                uint8_t l = luma.data[(size_t)y * luma.stride + (size_t)x];
                const uint8_t *truth = rgb + 3 * ((size_t)y * W + x);
                uint8_t truth_luma = specs[i].input == JCS_RGB
                                         ? reference_luma(truth[0], truth[1], truth[2])
                                         : gray[y * W + x];
                check_near(l, truth_luma, 12);
                if (specs[i].stored == JCS_YCbCr && l != reference_luma(p[0], p[1], p[2]))
                    luma_differs_from_ours = true;
            }
        img_buf_finish(&luma);
        img_buf_finish(&color);
        free(jpeg.data);
    }
    CHECK(luma_differs_from_ours);

    /* CMYK and YCCK, Adobe's inverted convention: with K = 255 the ink
     * values are the RGB; K = 128 halves them. Luma is our weights on the
     * RGB decode. */
    uint8_t cmyk[16 * 8 * 4];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) {
            static const uint8_t left[4] = {200, 40, 40, 255}, right[4] = {30, 180, 90, 128};
            memcpy(cmyk + 4 * (y * 16 + x), x < 8 ? left : right, 4);
        }
    J_COLOR_SPACE stored[2] = {JCS_CMYK, JCS_YCCK};
    for (int i = 0; i < 2; i++) {
        struct jpeg_spec spec = {16, 8, JCS_CMYK, stored[i], 95, false, true, NULL, 0};
        struct mem_jpeg jpeg = make_jpeg(&spec, cmyk);
        check_probe(jpeg.data, jpeg.size, IMG_FORMAT_JPEG, 16, 8, 3);
        struct img_buf color, luma;
        char err[256] = "";
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 3, 128, &color, err, sizeof(err)), 0);
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, 128, &luma, err, sizeof(err)), 0);
        static const int want_left[3] = {200, 40, 40}, want_right[3] = {15, 90, 45};
        for (int c = 0; c < 3; c++) {
            check_near(color.data[4 * color.stride + 3 * 3 + (size_t)c], want_left[c], 4);
            check_near(color.data[4 * color.stride + 12 * 3 + (size_t)c], want_right[c], 4);
        }
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 16; x++) {
                const uint8_t *p = color.data + (size_t)y * color.stride + 3 * (size_t)x;
                CHECK_EQ(luma.data[(size_t)y * luma.stride + (size_t)x],
                         reference_luma(p[0], p[1], p[2]));
            }
        img_buf_finish(&color);
        img_buf_finish(&luma);
        free(jpeg.data);
    }
}

/* A legal but absurd progressive gray JPEG: every one of the 64 coefficients
 * in a scan of its own, each sent in `passes` successive-approximation steps
 * (first at Al = passes - 1, then one refinement per bit): 64 * passes scans,
 * every one a pass over the whole image when decoding. */
static struct mem_jpeg make_many_scans_jpeg(const uint8_t *gray, int width, int height, int passes)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    struct mem_jpeg out = {NULL, 0};
    jpeg_scan_info *scans = calloc((size_t)(64 * passes), sizeof(*scans));
    CHECK(scans != NULL);
    int count = 0;
    for (int coefficient = 0; coefficient < 64; coefficient++)
        for (int pass = 0; pass < passes; pass++) {
            jpeg_scan_info *scan = &scans[count++];
            scan->comps_in_scan = 1;
            scan->component_index[0] = 0;
            scan->Ss = scan->Se = coefficient;
            scan->Al = passes - 1 - pass;
            scan->Ah = pass == 0 ? 0 : scan->Al + 1;
        }
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out.data, &out.size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.in_color_space = JCS_GRAYSCALE;
    cinfo.input_components = 1;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 95, TRUE);
    cinfo.scan_info = scans;
    cinfo.num_scans = count;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(gray + cinfo.next_scanline * (size_t)width);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(scans);
    return out;
}

static void test_jpeg_failures(void)
{
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3];
    fill_gradient_rgb(rgb, W, H);
    struct jpeg_spec spec = {W, H, JCS_RGB, JCS_YCbCr, 90, true, false, NULL, 0};
    struct mem_jpeg jpeg = make_jpeg(&spec, rgb);
    char err[256];
    struct img_buf buf;

    /* Progressive files: 64 scans over every block (a gray file) decode
     * only up to the scan-work limit (each scan is a pass over the whole
     * image: that is the CPU a hostile file could make us spend); the
     * limits themselves are tested in tests/unit/test_decode_limits.c. */
    uint8_t gray[W * H];
    for (int i = 0; i < W * H; i++)
        gray[i] = rgb[3 * i];
    struct mem_jpeg many = make_many_scans_jpeg(gray, W, H, 1);
    CHECK_EQ(img_probe(many.data, many.size, &(struct img_info){0}, NULL, 0), 0);
    CHECK_EQ(img_decode(many.data, many.size, 1, W * H, &buf, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "too much progressive scan work: 33 scans");
    CHECK(buf.data == NULL);
    free(many.data);

    /* A marker in the middle of the entropy-coded data: corrupt, with
     * libjpeg's words, not decoded into garbage. */
    uint8_t *corrupt = malloc(jpeg.size);
    CHECK(corrupt != NULL);
    memcpy(corrupt, jpeg.data, jpeg.size);
    const uint8_t *first_sos = memmem(corrupt, jpeg.size, "\xff\xda", 2);
    CHECK(first_sos != NULL);
    size_t data_start =
        (size_t)(first_sos - corrupt) + 2 + ((size_t)first_sos[2] << 8 | first_sos[3]);
    corrupt[data_start + 4] = 0xff;
    corrupt[data_start + 5] = 0xd9;
    CHECK_EQ(img_decode(corrupt, jpeg.size, 3, W * H, &buf, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "corrupt JPEG (libjpeg: Corrupt JPEG data");
    CHECK(buf.data == NULL);
    free(corrupt);

    /* The size libjpeg reads is checked against the limit too (here the
     * probe has already refused it: one pixel short). */
    CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, W * H - 1, &buf, err, sizeof(err)), -EFBIG);
    CHECK(buf.data == NULL);
    free(jpeg.data);
}

static void test_decode_jpeg(void)
{
    check_probe(color_jpeg, sizeof(color_jpeg), IMG_FORMAT_JPEG, 32, 16, 3);
    check_probe(gray_jpeg, sizeof(gray_jpeg), IMG_FORMAT_JPEG, 16, 8, 1);

    struct img_buf rgb, luma;
    char err[256] = "";
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 3, 512, &rgb, err, sizeof(err)), 0);
    CHECK_EQ(rgb.width, 32);
    CHECK_EQ(rgb.height, 16);
    CHECK_EQ(rgb.channels, 3);
    /* Block centres, away from the chroma blur at the colour boundary. */
    static const int left[3] = {200, 40, 40}, right[3] = {30, 180, 90};
    for (int c = 0; c < 3; c++) {
        check_near(rgb.data[8 * rgb.stride + 4 * 3 + (size_t)c], left[c], 6);
        check_near(rgb.data[8 * rgb.stride + 27 * 3 + (size_t)c], right[c], 6);
        check_near(rgb.data[0 * rgb.stride + 0 * 3 + (size_t)c], left[c], 8);
        check_near(rgb.data[15 * rgb.stride + 31 * 3 + (size_t)c], right[c], 8);
    }
    /* One channel is libjpeg's grayscale decode (the file's Y channel). */
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 1, 512, &luma, err, sizeof(err)), 0);
    CHECK_EQ(luma.channels, 1);
    check_same_as_libjpeg(color_jpeg, sizeof(color_jpeg), &luma);
    check_same_as_libjpeg(color_jpeg, sizeof(color_jpeg), &rgb);
    img_buf_finish(&rgb);
    img_buf_finish(&luma);

    /* A gray JPEG decodes straight to one channel; three are copies. */
    CHECK_EQ(img_decode(gray_jpeg, sizeof(gray_jpeg), 1, 128, &luma, err, sizeof(err)), 0);
    CHECK_EQ(img_decode(gray_jpeg, sizeof(gray_jpeg), 3, 128, &rgb, err, sizeof(err)), 0);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) {
            uint8_t g = luma.data[(size_t)y * luma.stride + (size_t)x];
            check_near(g, x < 8 ? 50 : 200, 3);
            for (int c = 0; c < 3; c++)
                CHECK_EQ(rgb.data[(size_t)y * rgb.stride + 3 * (size_t)x + (size_t)c], g);
        }
    img_buf_finish(&rgb);
    img_buf_finish(&luma);
}

/* ---- encode ----------------------------------------------------------- */

/* img_encode_png at `level` gives the bytes of these explicit settings, and
 * they decode back to the pixels. */
static void check_encoded_with(const struct img_buf *gray, int level, int filters, int strategy)
{
    uint8_t *chosen = NULL, *explicit = NULL;
    size_t chosen_size = 0, explicit_size = 0;
    CHECK_EQ(img_encode_png(gray, level, &chosen, &chosen_size, NULL, 0), 0);
    CHECK_EQ(
        img__encode_png_with(gray, level, filters, strategy, &explicit, &explicit_size, NULL, 0),
        0);
    CHECK_EQ(chosen_size, explicit_size);
    CHECK_MEM_EQ(chosen, explicit, chosen_size);
    struct img_buf decoded;
    CHECK_EQ(img_decode(chosen, chosen_size, 1, UINT64_MAX, &decoded, NULL, 0), 0);
    for (int y = 0; y < gray->height; y++)
        CHECK_MEM_EQ(decoded.data + (size_t)y * decoded.stride,
                     gray->data + (size_t)y * gray->stride, (size_t)gray->width);
    img_buf_finish(&decoded);
    free(chosen);
    free(explicit);
}

/* A valid PNG whose first IDAT is empty (legal, and what tripped stb 2.27
 * into memcpy(NULL, ..., 0)): decodes to the same pixels as without it. */
static void test_decode_png_empty_idat(void)
{
    struct test_image noise = image_new(19, 7, 1, 5);
    struct img_buf gray = {noise.data, noise.stride, 19, 7, 1};
    uint8_t *png = NULL;
    size_t size = 0;
    CHECK_EQ(img_encode_png(&gray, 6, &png, &size, NULL, 0), 0);

    /* Signature (8) + IHDR (25): the first IDAT of ours follows, so two
     * empty IDATs go in front of it (CRC of "IDAT" alone: 0x35af061e; this
     * test had IEND's, 0xae426082, which only a decoder that checks no CRC
     * accepts). */
    static const uint8_t empty_idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e};
    CHECK_MEM_EQ(png + 33 + 4, "IDAT", 4);
    uint8_t *padded = malloc(size + 24);
    CHECK(padded != NULL);
    memcpy(padded, png, 33);
    memcpy(padded + 33, empty_idat, 12);
    memcpy(padded + 45, empty_idat, 12);
    memcpy(padded + 57, png + 33, size - 33);

    for (int channels = 1; channels <= 3; channels += 2) {
        struct img_buf decoded;
        char err[256] = "";
        CHECK_EQ(img_decode(padded, size + 24, channels, 19 * 7, &decoded, err, sizeof(err)), 0);
        CHECK_EQ(decoded.width, 19);
        CHECK_EQ(decoded.height, 7);
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 19; x++)
                CHECK_EQ(decoded.data[(size_t)y * decoded.stride + (size_t)x * (size_t)channels],
                         gray.data[(size_t)y * gray.stride + (size_t)x]);
        img_buf_finish(&decoded);
    }
    free(padded);
    free(png);
    image_free(&noise);
}

static void test_encode_round_trip(void)
{
    /* A random image and a Sobel edge map of it (the real workload), with a
     * stride wider than the row. */
    struct test_image noise = image_new(37, 23, 1, 9);
    struct test_image edges = image_new(37, 23, 1, 3);
    img_sobel(noise.data, noise.stride, edges.data, edges.stride, 37, 23);
    struct test_image *images[2] = {&noise, &edges};

    for (int which = 0; which < 2; which++) {
        struct img_buf gray = {images[which]->data, images[which]->stride, 37, 23, 1};
        for (int level = 0; level <= 9; level++) {
            uint8_t *png = NULL, *again = NULL;
            size_t size = 0, again_size = 0;
            char err[256] = "";
            CHECK_EQ(img_encode_png(&gray, level, &png, &size, err, sizeof(err)), 0);
            CHECK(png != NULL);
            CHECK_GT(size, 8);

            /* Deterministic: same bytes twice. */
            CHECK_EQ(img_encode_png(&gray, level, &again, &again_size, err, sizeof(err)), 0);
            CHECK_EQ(again_size, size);
            CHECK_MEM_EQ(again, png, size);

            check_probe(png, size, IMG_FORMAT_PNG, 37, 23, 1);
            struct img_buf decoded;
            CHECK_EQ(img_decode(png, size, 1, 37 * 23, &decoded, err, sizeof(err)), 0);
            for (int y = 0; y < 23; y++)
                CHECK_MEM_EQ(decoded.data + (size_t)y * decoded.stride,
                             gray.data + (size_t)y * gray.stride, 37);
            img_buf_finish(&decoded);
            free(png);
            free(again);
        }
    }

    /* Levels compress: 9 is no bigger than 0 on an edge map. */
    struct img_buf gray = {edges.data, edges.stride, 37, 23, 1};
    uint8_t *stored = NULL, *packed = NULL;
    size_t stored_size = 0, packed_size = 0;
    CHECK_EQ(img_encode_png(&gray, 0, &stored, &stored_size, NULL, 0), 0);
    CHECK_EQ(img_encode_png(&gray, 9, &packed, &packed_size, NULL, 0), 0);
    CHECK_LT(packed_size, stored_size);
    /* Level 0 is stored: at least the raw rows (one filter byte each). */
    CHECK_GE(stored_size, 23 * (37 + 1));
    free(stored);
    free(packed);

    /* The filter choice: a Sobel map gets png_rle.c's encoder with PAETH at
     * level 1, with every filter (libpng's rule) at 2-9; a map of only 0 and
     * 255 (Canny, tutorial) no filter and zlib's Z_RLE at every level above
     * 0, and one pixel of 254 makes it an ordinary map again. */
    check_encoded_with(&gray, 1, PNG_FILTER_PAETH, IMG__STRATEGY_FAST_RLE);
    struct test_image binary = image_new(61, 29, 1, 5);
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 61; x++)
            binary.data[(size_t)y * binary.stride + (size_t)x] = (rng_next() % 7 == 0) ? 255 : 0;
    struct img_buf two_level = {binary.data, binary.stride, 61, 29, 1};
    for (int level = 1; level <= 9; level++)
        check_encoded_with(&two_level, level, PNG_FILTER_NONE, Z_RLE);
    check_encoded_with(&two_level, 0, PNG_FILTER_NONE, Z_DEFAULT_STRATEGY);
    binary.data[28 * binary.stride + 60] = 254;
    check_encoded_with(&two_level, 1, PNG_FILTER_PAETH, IMG__STRATEGY_FAST_RLE);
    check_encoded_with(&two_level, 2, PNG_ALL_FILTERS, IMG__STRATEGY_FAST_RLE);
    check_encoded_with(&two_level, 9, PNG_ALL_FILTERS, IMG__STRATEGY_FAST_RLE);
    image_free(&binary);

    /* Refusals. */
    uint8_t *png = (uint8_t *)1;
    size_t size = 1;
    char err[256] = "";
    CHECK_EQ(img_encode_png(&gray, 10, &png, &size, err, sizeof(err)), -EINVAL);
    CHECK(png == NULL);
    CHECK_EQ(size, 0);
    CHECK_EQ(img_encode_png(&gray, -1, &png, &size, err, sizeof(err)), -EINVAL);
    struct img_buf rgb = {noise.data, noise.stride, 12, 23, 3};
    CHECK_EQ(img_encode_png(&rgb, 1, &png, &size, err, sizeof(err)), -EINVAL);
    CHECK(png == NULL);
    image_free(&noise);
    image_free(&edges);
}

/* ---- refusals --------------------------------------------------------- */

static int decode_error(const uint8_t *data, size_t size, uint64_t max_pixels, char *err,
                        size_t err_size)
{
    struct img_buf buf;
    memset(err, 0, err_size);
    int ret = img_decode(data, size, 1, max_pixels, &buf, err, err_size);
    if (ret == 0) {
        img_buf_finish(&buf);
        return 0;
    }
    CHECK(buf.data == NULL);
    CHECK(err[0] != '\0');
    return ret;
}

static int probe_error(const uint8_t *data, size_t size, char *err, size_t err_size)
{
    struct img_info info;
    memset(err, 0, err_size);
    int ret = img_probe(data, size, &info, err, err_size);
    if (ret != 0)
        CHECK(err[0] != '\0');
    return ret;
}

static void test_refusals(void)
{
    char err[256];

    /* Empty. */
    CHECK_EQ(probe_error((const uint8_t *)"", 0, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "empty body");
    CHECK_EQ(decode_error(NULL, 0, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "empty body");

    /* An error page: the message quotes its first line. */
    static const char html[] = "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n";
    CHECK_EQ(decode_error((const uint8_t *)html, strlen(html), 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: starts with \"<!DOCTYPE html>\"");
    /* Leading blank lines skipped, quotes escaped, long lines cut at 24. */
    static const char json[] = "\r\n  {\"error\": \"rate limited\", \"retry\": 30}";
    CHECK_EQ(decode_error((const uint8_t *)json, strlen(json), 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: starts with \"{\\\"error\\\": \\\"rate limited\\\"\"...");
    CHECK_EQ(decode_error((const uint8_t *)"\r\n \n", 4, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: 4 bytes of white space");
    /* Short text is quoted whole. */
    CHECK_EQ(decode_error((const uint8_t *)"OK", 2, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: starts with \"OK\"");

    /* Random bytes: described as bytes. */
    uint8_t noise[256];
    fill_random(noise, sizeof(noise));
    noise[0] = 0x00;
    noise[1] = 0x13;
    CHECK_EQ(decode_error(noise, sizeof(noise), 100, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "not an image: starts with bytes 00 13 ");

    /* GIF and WebP are decoded now (issue 14; tests/unit/test_formats.c):
     * these headers without their pixels are cut files. */
    /* (A build without them, meson's -Dgif=disabled / -Dwebp=disabled,
     * names them as unsupported formats.) */
    static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00";
    CHECK_EQ(decode_error(gif, sizeof(gif) - 1, 100, err, sizeof(err)), -EINVAL);
    if (strstr(img_accept_header(), "image/gif") != NULL)
        CHECK_STR_EQ(err, "truncated GIF (body ends after 19 bytes)");
    else
        CHECK_STR_EQ(err, "unsupported format (GIF)");
    static const uint8_t webp[] = "RIFF\x24\x00\x00\x00WEBPVP8 ";
    CHECK_EQ(decode_error(webp, sizeof(webp) - 1, 100, err, sizeof(err)), -EINVAL);
    if (strstr(img_accept_header(), "image/webp") != NULL)
        CHECK_CONTAINS(err, "truncated WebP");
    else
        CHECK_STR_EQ(err, "unsupported format (WebP)");
    /* Formats we recognise but do not decode. */
    static const uint8_t jxl[] = "\xff\x0a\xfa\x3f\x00\x00\x00\x00";
    CHECK_EQ(decode_error(jxl, sizeof(jxl) - 1, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported format (JPEG XL)");
    static const uint8_t svg[] =
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    CHECK_EQ(decode_error(svg, sizeof(svg) - 1, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported format (SVG)");

    /* A valid PNG (noise, so the IDAT is big) cut at various places. */
    struct test_image picture = image_new(64, 64, 1, 0);
    struct img_buf gray = {picture.data, picture.stride, 64, 64, 1};
    uint8_t *png = NULL;
    size_t png_size = 0;
    CHECK_EQ(img_encode_png(&gray, 1, &png, &png_size, err, sizeof(err)), 0);
    CHECK_GT(png_size, 4096);
    CHECK_EQ(decode_error(png, png_size, 4096, err, sizeof(err)), 0);
    CHECK_EQ(probe_error(png, 5, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated PNG header (5 bytes)");
    CHECK_EQ(probe_error(png, 20, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated PNG header (20 bytes)");
    /* Header intact, pixels cut: probe is fine, decode is not. */
    CHECK_EQ(probe_error(png, png_size / 2, err, sizeof(err)), 0);
    CHECK_EQ(decode_error(png, png_size / 2, 4096, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG (IDAT chunk cut short");
    CHECK_EQ(decode_error(png, png_size - 12, 4096, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG (no IEND chunk");
    CHECK_EQ(decode_error(png, png_size - 8, 4096, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG (chunk header cut short");
    /* Only IEND's CRC missing: every pixel is there, every CRC before it
     * checked: decoded (as stb, which read no CRC, did). */
    CHECK_EQ(decode_error(png, png_size - 4, 4096, err, sizeof(err)), 0);

    /* Corrupt zlib stream in a complete file: the decoder's reason is kept. */
    uint8_t *corrupt = malloc(png_size);
    CHECK(corrupt != NULL);
    memcpy(corrupt, png, png_size);
    uint8_t *idat = memmem(corrupt, png_size, "IDAT", 4);
    CHECK(idat != NULL);
    idat[4] = 0x00; /* zlib CMF byte */
    CHECK_EQ(decode_error(corrupt, png_size, 4096, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "corrupt PNG (libpng: IDAT: incorrect header check)");
    free(corrupt);

    /* The pixel limit: exactly at it passes, one below it refuses. */
    CHECK_EQ(decode_error(png, png_size, 64 * 64, err, sizeof(err)), 0);
    CHECK_EQ(decode_error(png, png_size, 64 * 64 - 1, err, sizeof(err)), -EFBIG);
    CHECK_STR_EQ(err, "image is 64x64 (4096 pixels), over the 4095 pixels limit");
    free(png);
    image_free(&picture);

    /* A header claiming 50000x50000 is refused on the claim, before any
     * pixel memory: the file has no pixel data, so a decoder that tried
     * would fail with -EINVAL instead. */
    uint8_t huge[57];
    size_t huge_size = make_png_header_only(huge, 50000, 50000);
    check_probe(huge, huge_size, IMG_FORMAT_PNG, 50000, 50000, 1);
    CHECK_EQ(decode_error(huge, huge_size, 100000000, err, sizeof(err)), -EFBIG);
    CHECK_STR_EQ(err, "image is 50000x50000 (2500.0 MP), over the 100 MP limit");
    /* Without a limit of ours, the decoder's own bound (sides up to 65536,
     * 2^30 pixels) still refuses it early. */
    CHECK_EQ(decode_error(huge, huge_size, UINT64_MAX, err, sizeof(err)), -EFBIG);
    CHECK_CONTAINS(err, "too large for the decoder");
    /* Sides past 65536 likewise. */
    huge_size = make_png_header_only(huge, 70000, 1);
    check_probe(huge, huge_size, IMG_FORMAT_PNG, 70000, 1, 1);
    CHECK_EQ(decode_error(huge, huge_size, UINT64_MAX, err, sizeof(err)), -EFBIG);
    /* A zero width is corrupt. */
    huge_size = make_png_header_only(huge, 0, 10);
    CHECK_EQ(probe_error(huge, huge_size, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "corrupt PNG header");

    /* JPEG cut inside the headers, inside the scan, and just before EOI. */
    CHECK_EQ(probe_error(color_jpeg, 2, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated JPEG header (2 bytes)");
    CHECK_EQ(probe_error(color_jpeg, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated JPEG header (100 bytes)");
    const uint8_t *scan = memmem(color_jpeg, sizeof(color_jpeg), "\xff\xda", 2);
    CHECK(scan != NULL);
    size_t scan_start = (size_t)(scan - color_jpeg) + 2 + ((size_t)scan[2] << 8 | scan[3]);
    size_t mid_scan = scan_start + (sizeof(color_jpeg) - 2 - scan_start) / 2;
    CHECK_LT(scan_start, mid_scan);
    CHECK_EQ(probe_error(color_jpeg, mid_scan, err, sizeof(err)), 0);
    CHECK_EQ(decode_error(color_jpeg, mid_scan, 512, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated JPEG (no end-of-image marker");
    CHECK_EQ(decode_error(color_jpeg, sizeof(color_jpeg) - 2, 512, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated JPEG (no end-of-image marker");
    /* Trailing bytes after EOI are accepted (cameras append data). */
    uint8_t *trailing = malloc(sizeof(color_jpeg) + 16);
    CHECK(trailing != NULL);
    memcpy(trailing, color_jpeg, sizeof(color_jpeg));
    memset(trailing + sizeof(color_jpeg), 0, 16);
    CHECK_EQ(decode_error(trailing, sizeof(color_jpeg) + 16, 512, err, sizeof(err)), 0);
    free(trailing);
    /* The pixel limit applies to JPEG too: 32x16 = 512. */
    CHECK_EQ(decode_error(color_jpeg, sizeof(color_jpeg), 511, err, sizeof(err)), -EFBIG);

    /* JPEG after SOI, then garbage: no frame header. */
    uint8_t jpeg_noise[128];
    fill_random(jpeg_noise, sizeof(jpeg_noise));
    jpeg_noise[0] = 0xff;
    jpeg_noise[1] = 0xd8;
    jpeg_noise[2] = 0xff;
    CHECK_EQ(decode_error(jpeg_noise, sizeof(jpeg_noise), 1u << 30, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "JPEG");

    /* A 12-bit JPEG frame header is named as unsupported. */
    uint8_t twelve[sizeof(color_jpeg)];
    memcpy(twelve, color_jpeg, sizeof(twelve));
    uint8_t *sof = memmem(twelve, sizeof(twelve), "\xff\xc0", 2);
    CHECK(sof != NULL);
    sof[4] = 12;
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported JPEG (12-bit samples)");
    sof[4] = 8;
    sof[9] = 2; /* component count */
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported JPEG (2 components)");
    sof[9] = 3;
    sof[11] = 0x00; /* first component's sampling factors: stb's own check */
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "corrupt JPEG header (libjpeg: Bogus sampling factors)");
    /* Arithmetic coding (SOF9) is named. */
    memcpy(twelve, color_jpeg, sizeof(twelve));
    sof[1] = 0xc9;
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported JPEG (arithmetic-coded, SOF9)");

    /* Bad arguments. */
    struct img_buf buf;
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 2, 512, &buf, err, sizeof(err)), -EINVAL);
    CHECK(buf.data == NULL);
    /* A NULL or empty error buffer is allowed. */
    CHECK_EQ(img_decode(NULL, 0, 1, 512, &buf, NULL, 0), -EINVAL);
    char tiny[4];
    CHECK_EQ(img_decode((const uint8_t *)html, strlen(html), 1, 512, &buf, tiny, sizeof(tiny)),
             -EINVAL);
    CHECK_STR_EQ(tiny, "not");
}

/* ---- stb's failure reason is per thread ------------------------------- */

struct reason_worker {
    const uint8_t *data;
    size_t size;
    const char *expected;
    int iterations;
};

static void *reason_worker_run(void *arg)
{
    const struct reason_worker *worker = arg;
    char err[256];
    for (int i = 0; i < worker->iterations; i++) {
        struct img_buf buf;
        int ret = img_decode(worker->data, worker->size, 3, 1u << 20, &buf, err, sizeof(err));
        CHECK_EQ(ret, -EINVAL);
        CHECK_STR_EQ(err, worker->expected);
    }
    return NULL;
}

static void test_failure_reason_per_thread(void)
{
    /* Two workers fail for different reasons at the same time, one in
     * libjpeg (its message lives in the decode's own error manager) and one
     * in stb (stbi_failure_reason must be thread-local); each must see its
     * own. */
    uint8_t bad_jpeg[sizeof(color_jpeg)];
    memcpy(bad_jpeg, color_jpeg, sizeof(bad_jpeg));
    uint8_t *sos = memmem(bad_jpeg, sizeof(bad_jpeg), "\xff\xda", 2);
    CHECK(sos != NULL);
    sos[4] = 5; /* component count in the scan header */

    struct test_image picture = image_new(16, 16, 1, 0);
    struct img_buf gray = {picture.data, picture.stride, 16, 16, 1};
    uint8_t *bad_png = NULL;
    size_t bad_png_size = 0;
    CHECK_EQ(img_encode_png(&gray, 6, &bad_png, &bad_png_size, NULL, 0), 0);
    uint8_t *idat = memmem(bad_png, bad_png_size, "IDAT", 4);
    CHECK(idat != NULL);
    idat[4] = 0x00;

    struct reason_worker workers[2] = {
        {bad_jpeg, sizeof(bad_jpeg), "corrupt JPEG header (libjpeg: Bogus marker length)", 3000},
        {bad_png, bad_png_size, "corrupt PNG (libpng: IDAT: incorrect header check)", 3000},
    };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&threads[i], NULL, reason_worker_run, &workers[i]), 0);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_join(threads[i], NULL), 0);
    free(bad_png);
    image_free(&picture);
}

int main(void)
{
    test_sobel_pinned();
    test_scharr_prewitt_pinned();
    test_tutorial_pinned();
    test_kernels_match_reference();
    test_blur();
    test_canny_pinned();
    test_canny_matches_reference();
    test_canny_options();
    test_sobel_rounding_is_exact();
    test_luma();
    test_buf();
    test_operators();
    test_decode_png_types();
    test_decode_png_luma_in_place();
    test_decode_jpeg();
    test_jpeg_orientation();
    test_png_orientation();
    test_jpeg_color_spaces();
    test_jpeg_failures();
    test_encode_round_trip();
    test_decode_png_empty_idat();
    test_refusals();
    test_failure_reason_per_thread();
    printf("imaging: all tests passed\n");
    return 0;
}
