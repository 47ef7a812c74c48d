/* Unit tests for imaging/: kernels pinned on hand-computed images and
 * checked bit for bit against the obvious per-pixel versions kept here, luma,
 * PNG round trips, decoding of every PNG colour type and of JPEG, and the
 * refusals (with their messages) for bodies that are not images we accept. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imaging.h"

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

/* The obvious Sobel: every tap through reflect101, double sqrt, round. */
static void reference_sobel(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                            int width, int height)
{
    static const int kx[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};
    static const int ky[3][3] = {{-1, -2, -1}, {0, 0, 0}, {1, 2, 1}};
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int gx = 0, gy = 0;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int sample = src[(size_t)reflect101(y + dy, height) * src_stride +
                                     (size_t)reflect101(x + dx, width)];
                    gx += kx[dy + 1][dx + 1] * sample;
                    gy += ky[dy + 1][dx + 1] * sample;
                }
            }
            double magnitude = round(sqrt((double)gx * gx + (double)gy * gy));
            dst[(size_t)y * dst_stride + (size_t)x] = magnitude > 255 ? 255 : (uint8_t)magnitude;
        }
    }
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
    return (uint8_t)((4899 * r + 9617 * g + 1868 * b + 8192) >> 14);
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
    }
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
    enum img_operator op = IMG_OP_TUTORIAL;
    CHECK_EQ(img_operator_from_name("sobel", &op), 0);
    CHECK_EQ(op, IMG_OP_SOBEL);
    CHECK_EQ(img_operator_from_name("tutorial", &op), 0);
    CHECK_EQ(op, IMG_OP_TUTORIAL);
    CHECK_EQ(img_operator_from_name("canny", &op), -EINVAL);
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
    /* One channel is exactly our luma of the RGB decode, not stb's own. */
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 1, 512, &luma, err, sizeof(err)), 0);
    CHECK_EQ(luma.channels, 1);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++) {
            const uint8_t *p = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
            CHECK_EQ(luma.data[(size_t)y * luma.stride + (size_t)x],
                     reference_luma(p[0], p[1], p[2]));
        }
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

    /* Formats we recognise but do not decode. */
    static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00";
    CHECK_EQ(decode_error(gif, sizeof(gif) - 1, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported format (GIF)");
    static const uint8_t webp[] = "RIFF\x24\x00\x00\x00WEBPVP8 ";
    CHECK_EQ(decode_error(webp, sizeof(webp) - 1, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported format (WebP)");
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
    /* Only IEND's CRC missing: every pixel is there and stb, which does not
     * read that CRC, decodes it; so do we. */
    CHECK_EQ(decode_error(png, png_size - 4, 4096, err, sizeof(err)), 0);

    /* Corrupt zlib stream in a complete file: stb's reason is kept. */
    uint8_t *corrupt = malloc(png_size);
    CHECK(corrupt != NULL);
    memcpy(corrupt, png, png_size);
    uint8_t *idat = memmem(corrupt, png_size, "IDAT", 4);
    CHECK(idat != NULL);
    idat[4] = 0x00; /* zlib CMF byte */
    CHECK_EQ(decode_error(corrupt, png_size, 4096, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "corrupt PNG (stb_image: bad zlib header)");
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
    /* Without a limit of ours, stb's own bound still refuses it early. */
    CHECK_EQ(decode_error(huge, huge_size, UINT64_MAX, err, sizeof(err)), -EFBIG);
    CHECK_CONTAINS(err, "too large for the decoder");
    /* Sides past STBI_MAX_DIMENSIONS likewise. */
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
    CHECK_STR_EQ(err, "corrupt JPEG header (refused by stb_image)");
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
    /* Two workers fail in stb for different reasons at the same time; each
     * must see its own (stbi_failure_reason is thread-local). */
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
        {bad_jpeg, sizeof(bad_jpeg), "corrupt JPEG (stb_image: bad SOS component count)", 3000},
        {bad_png, bad_png_size, "corrupt PNG (stb_image: bad zlib header)", 3000},
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
    test_tutorial_pinned();
    test_kernels_match_reference();
    test_sobel_rounding_is_exact();
    test_luma();
    test_buf();
    test_operators();
    test_decode_png_types();
    test_decode_jpeg();
    test_encode_round_trip();
    test_refusals();
    test_failure_reason_per_thread();
    printf("imaging: all tests passed\n");
    return 0;
}
