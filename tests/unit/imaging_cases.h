/* Helpers shared by the unit tests of imaging/ (tests/unit/test_ops.c,
 * test_canny.c, test_operator_table.c, test_decode_png.c, test_decode_jpeg.c,
 * test_encode.c, test_refusals.c): random images, the obvious per-pixel
 * operators kept as references, PNGs made with libpng in memory, orientation
 * helpers. Static inline: each test executable includes it once and uses
 * what it needs. Failures abort (check.h). */
#ifndef EDGEFETCH_IMAGING_CASES_H
#define EDGEFETCH_IMAGING_CASES_H

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
        CHECK_COUNTED_();                                                                          \
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

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static inline uint32_t rng_next(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1du) >> 32);
}

/* Odd sizes for the fast kernels against the obvious ones: one pixel, one
 * row, one column, smaller than the 3x3 window, and the SIMD widths' tails. */
static const int odd_sizes[][2] = {
    {1, 1},  {1, 7},  {7, 1},     {2, 2}, {3, 3}, {17, 13},
    {64, 1}, {1, 64}, {301, 199}, {2, 5}, {5, 2}, {33, 2},
};
#define ODD_SIZES_COUNT (sizeof(odd_sizes) / sizeof(odd_sizes[0]))

static inline void fill_random(uint8_t *data, size_t size)
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

static inline struct test_image image_new(int width, int height, int channels, size_t padding)
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

static inline void image_free(struct test_image *image)
{
    free(image->data);
    image->data = NULL;
}

static inline int reflect101(int index, int size)
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
static inline void reference_gradient(const uint8_t *src, size_t src_stride, uint8_t *dst,
                                      size_t dst_stride, int width, int height, int side,
                                      int centre)
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

static inline void reference_sobel(const uint8_t *src, size_t src_stride, uint8_t *dst,
                                   size_t dst_stride, int width, int height)
{
    reference_gradient(src, src_stride, dst, dst_stride, width, height, 1, 2);
}

static inline void reference_scharr(const uint8_t *src, size_t src_stride, uint8_t *dst,
                                    size_t dst_stride, int width, int height)
{
    reference_gradient(src, src_stride, dst, dst_stride, width, height, 3, 10);
}

static inline void reference_prewitt(const uint8_t *src, size_t src_stride, uint8_t *dst,
                                     size_t dst_stride, int width, int height)
{
    reference_gradient(src, src_stride, dst, dst_stride, width, height, 1, 1);
}

static inline int reference_distance(const uint8_t *a, const uint8_t *b)
{
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]);
}

/* The lesson's kernel as the lesson states it: mean over existing
 * neighbours, with a division. */
static inline void reference_tutorial(const uint8_t *src, size_t src_stride, uint8_t *dst,
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

static inline uint8_t reference_luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((9798 * r + 19235 * g + 3735 * b + 16384) >> 15);
}

/* Runs `kernel` on a tight (stride = width) input and returns the output,
 * tight too. */
typedef void (*kernel_fn)(const uint8_t *, size_t, uint8_t *, size_t, int, int);

/* ---- PNG writing for the tests (libpng, in memory) -------------------- */

struct mem_png {
    uint8_t *data;
    size_t size, capacity;
};

static inline void mem_png_write(png_structp png, png_bytep bytes, size_t length)
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

static inline void mem_png_flush(png_structp png)
{
    (void)png;
}

/* Writes a PNG of any colour type from rows already in PNG sample layout
 * (16-bit samples big-endian). `palette`/`trns` only for colour type 3. */
static inline struct mem_png make_png(int width, int height, int color_type, int bit_depth,
                                      const uint8_t *samples, size_t row_bytes,
                                      const png_color *palette, int palette_size,
                                      const uint8_t *trns, int trns_size, int interlace)
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

static inline uint32_t crc32_png(const uint8_t *data, size_t size)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A 57-byte PNG whose header claims width x height (8-bit gray): signature,
 * IHDR, an empty IDAT, IEND. Decoding it would fail; only the header is
 * real. */
static inline size_t make_png_header_only(uint8_t out[57], uint32_t width, uint32_t height)
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

static inline void check_probe(const uint8_t *data, size_t size, enum img_format format, int width,
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

/* An APP1 payload: "Exif\0\0", a TIFF header in the given byte order and an
 * IFD0 with `entries` tags: first 0x010f (Make, ASCII, to be skipped), then
 * Orientation with `type` and `value`. Returns the size. */
static inline size_t make_exif(uint8_t out[64], bool big_endian, unsigned type, unsigned value)
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

static inline void check_oriented(const struct img_buf *buf, int orientation)
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

/* ---- PNG eXIf orientation --------------------------------------------- */

/* A copy of `png` with a chunk (`type`, `data`, its CRC) inserted at byte
 * `at` (33: right after IHDR; size - 12: just before IEND). `length` is
 * what the chunk header claims (normally data_size). */
static inline uint8_t *png_insert_chunk(const uint8_t *png, size_t size, size_t at,
                                        const char *type, const uint8_t *data, size_t data_size,
                                        uint32_t length, size_t *out_size)
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
static inline uint8_t *png_with_orientation(struct mem_png png, bool big_endian, unsigned type,
                                            unsigned value, size_t *out_size)
{
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, big_endian, type, value);
    return png_insert_chunk(png.data, png.size, 33, "eXIf", exif + 6, exif_size - 6,
                            (uint32_t)(exif_size - 6), out_size);
}

static inline int png_probe_orientation(const uint8_t *png, size_t size)
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
static inline void displayed_at(int orientation, int width, int height, int x, int y, int *shown_x,
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
static inline void check_png_turned(const uint8_t *png, size_t size, int orientation, int width,
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

#endif
