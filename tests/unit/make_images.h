/* Test images made in memory, for the decode tests: JPEGs with libjpeg
 * (any scan script), PNGs with libpng (any depth, colour type, interlace)
 * and by hand, chunk by chunk, for the hostile ones. Static functions: each
 * test executable includes it once. Failures abort (check.h). */
#ifndef EDGEFETCH_MAKE_IMAGES_H
#define EDGEFETCH_MAKE_IMAGES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "check.h"

struct mem_image {
    uint8_t *data;
    size_t size;
};

static inline void mem_image_free(struct mem_image *image)
{
    free(image->data);
    image->data = NULL;
    image->size = 0;
}

/* Deterministic noise with some structure (so JPEG and zlib have work). */
static inline uint8_t test_sample(int x, int y, int c, int seed)
{
    uint32_t h =
        (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)(c + seed) * 83492791u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (uint8_t)(((x + y) * 2 + c * 40 + (int)(h & 31)) & 0xff);
}

/* ---- JPEG ------------------------------------------------------------- */

struct jpeg_make {
    int width, height;
    int components; /* 1 gray, 3 YCbCr (from RGB) */
    bool progressive;
    bool full_chroma;            /* 4:4:4 instead of 4:2:0 */
    const jpeg_scan_info *scans; /* a script of our own, or NULL */
    int scan_count;
    int quality;
};

/* A pixel of the image make_jpeg_sampled writes; `context` is the caller's. */
typedef uint8_t (*jpeg_sample_fn)(int x, int y, int c, const void *context);

/* make_jpeg_image with luma sampled luma_h×luma_v (a 3-component file;
 * 0: spec->full_chroma's choice) and pixels from `sample` (NULL:
 * test_sample with seed 1). */
static inline struct mem_image make_jpeg_sampled(const struct jpeg_make *spec, int luma_h,
                                                 int luma_v, jpeg_sample_fn sample,
                                                 const void *context)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    unsigned char *data = NULL;
    unsigned long size = 0;
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &data, &size);
    cinfo.image_width = (JDIMENSION)spec->width;
    cinfo.image_height = (JDIMENSION)spec->height;
    cinfo.input_components = spec->components;
    cinfo.in_color_space = spec->components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, spec->quality > 0 ? spec->quality : 90, TRUE);
    if (spec->components == 3 && luma_h > 0) {
        cinfo.comp_info[0].h_samp_factor = luma_h;
        cinfo.comp_info[0].v_samp_factor = luma_v;
    } else if (spec->components == 3 && spec->full_chroma) {
        cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;
    }
    if (spec->scans != NULL) {
        cinfo.scan_info = spec->scans;
        cinfo.num_scans = spec->scan_count;
    } else if (spec->progressive) {
        jpeg_simple_progression(&cinfo);
    }
    jpeg_start_compress(&cinfo, TRUE);
    size_t row_bytes = (size_t)spec->width * (size_t)spec->components;
    uint8_t *row = malloc(row_bytes);
    CHECK(row != NULL);
    while (cinfo.next_scanline < cinfo.image_height) {
        int y = (int)cinfo.next_scanline;
        for (int x = 0; x < spec->width; x++)
            for (int c = 0; c < spec->components; c++)
                row[(size_t)x * (size_t)spec->components + (size_t)c] =
                    sample != NULL ? sample(x, y, c, context) : test_sample(x, y, c, 1);
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(row);
    return (struct mem_image){data, size};
}

static inline struct mem_image make_jpeg_image(const struct jpeg_make *spec)
{
    return make_jpeg_sampled(spec, 0, 0, NULL, NULL);
}

/* ---- PNG with libpng ---------------------------------------------------- */

struct png_make {
    int width, height;
    int color_type; /* PNG_COLOR_TYPE_* */
    int bit_depth;
    bool interlaced;
    int palette_size; /* palette files: entries written (indices go up to 2^depth - 1) */
};

static inline void png_make_write(png_structp png, png_bytep data, size_t length)
{
    struct mem_image *out = png_get_io_ptr(png);
    uint8_t *grown = realloc(out->data, out->size + length);
    CHECK(grown != NULL);
    memcpy(grown + out->size, data, length);
    out->data = grown;
    out->size += length;
}

static inline void png_make_flush(png_structp png)
{
    (void)png;
}

static inline struct mem_image make_png_image(const struct png_make *spec)
{
    struct mem_image out = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    CHECK(png != NULL);
    png_infop info = png_create_info_struct(png);
    CHECK(info != NULL);
    png_set_write_fn(png, &out, png_make_write, png_make_flush);
    png_set_IHDR(png, info, (png_uint_32)spec->width, (png_uint_32)spec->height, spec->bit_depth,
                 spec->color_type, spec->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    if (spec->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[256];
        for (int i = 0; i < 256; i++)
            palette[i] =
                (png_color){(png_byte)(i * 7 + 20), (png_byte)(255 - i), (png_byte)(i * 3)};
        png_set_PLTE(png, info, palette, spec->palette_size);
    }
    png_write_info(png, info);
    int samples = spec->color_type == PNG_COLOR_TYPE_PALETTE ? 1 : png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    uint8_t *image = malloc(row_bytes * (size_t)spec->height);
    png_bytep *rows = malloc(sizeof(*rows) * (size_t)spec->height);
    CHECK(image != NULL && rows != NULL);
    for (int y = 0; y < spec->height; y++) {
        uint8_t *row = image + (size_t)y * row_bytes;
        rows[y] = row;
        if (spec->bit_depth < 8 || spec->color_type == PNG_COLOR_TYPE_PALETTE) {
            /* Indices (or gray levels) packed as the depth says, every value
             * 0 .. 2^depth - 1 appearing. */
            memset(row, 0, row_bytes);
            int per_byte = 8 / spec->bit_depth;
            for (int x = 0; x < spec->width; x++) {
                unsigned value = (unsigned)(x + y) & ((1u << spec->bit_depth) - 1);
                int shift = 8 - spec->bit_depth * (x % per_byte + 1);
                row[x / per_byte] |= (uint8_t)(value << shift);
            }
        } else {
            int bytes = spec->bit_depth / 8;
            for (int x = 0; x < spec->width; x++)
                for (int c = 0; c < samples; c++)
                    for (int b = 0; b < bytes; b++)
                        row[((size_t)x * (size_t)samples + (size_t)c) * (size_t)bytes + (size_t)b] =
                            test_sample(x, y, c + b, 2);
        }
    }
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(image);
    return out;
}

/* ---- PNG by hand, for hostile files ----------------------------------- */

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk with its correct CRC; returns the offset of its data. */
static inline size_t png_append_chunk(struct mem_image *png, const char *type, const uint8_t *data,
                                      size_t length)
{
    uint8_t *grown = realloc(png->data, png->size + length + 12);
    CHECK(grown != NULL);
    png->data = grown;
    uint8_t *chunk = grown + png->size;
    put_be32(chunk, (uint32_t)length);
    memcpy(chunk + 4, type, 4);
    if (length > 0)
        memcpy(chunk + 8, data, length);
    uLong crc = crc32(0, chunk + 4, (uInt)(length + 4));
    put_be32(chunk + 8 + length, (uint32_t)crc);
    png->size += length + 12;
    return (size_t)(chunk + 8 - grown);
}

static inline struct mem_image png_start(uint32_t width, uint32_t height, int depth, int color_type)
{
    struct mem_image png = {malloc(8), 8};
    CHECK(png.data != NULL);
    memcpy(png.data, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13];
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)color_type;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    png_append_chunk(&png, "IHDR", ihdr, sizeof(ihdr));
    return png;
}

/* zlib stream (default level) of `raw`, malloc'd. */
static inline uint8_t *zlib_of(const uint8_t *raw, size_t raw_size, size_t *out_size)
{
    uLong bound = compressBound((uLong)raw_size);
    uint8_t *out = malloc(bound);
    CHECK(out != NULL);
    uLongf size = bound;
    CHECK_EQ(compress(out, &size, raw, (uLong)raw_size), Z_OK);
    *out_size = size;
    return out;
}

#endif
