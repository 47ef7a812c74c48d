/* WebP, GIF, AVIF, BMP and TIFF files made in memory by each format's own
 * library encoder (libwebp and libwebpmux, giflib, libavif with its AV1
 * encoder, libtiff; BMP by hand, it is a header and rows), for the decoder
 * unit tests and the memory test. Pixels are test_sample's
 * (make_images.h). Header-only, test use only. */
#ifndef EDGEFETCH_MAKE_FORMATS_H
#define EDGEFETCH_MAKE_FORMATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <avif/avif.h>
#include <gif_lib.h>
#include <tiffio.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "check.h"
#include "make_images.h"

/* width x height x channels of test_sample (seed) with an alpha ramp as the
 * fourth channel. */
static inline uint8_t *sample_pixels(int width, int height, int channels, int seed)
{
    uint8_t *pixels = malloc((size_t)width * (size_t)height * (size_t)channels);
    CHECK(pixels != NULL);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < channels; c++)
                pixels[((size_t)y * width + x) * channels + c] =
                    c == 3 ? (uint8_t)(x * 255 / (width > 1 ? width - 1 : 1))
                           : test_sample(x, y, c, seed);
    return pixels;
}

/* ---- WebP ---------------------------------------------------------------- */

static inline struct mem_image make_webp(int width, int height, bool lossless, bool alpha, int seed)
{
    int channels = alpha ? 4 : 3;
    uint8_t *pixels = sample_pixels(width, height, channels, seed);
    uint8_t *out = NULL;
    size_t size;
    int stride = width * channels;
    if (lossless)
        size = alpha ? WebPEncodeLosslessRGBA(pixels, width, height, stride, &out)
                     : WebPEncodeLosslessRGB(pixels, width, height, stride, &out);
    else
        size = alpha ? WebPEncodeRGBA(pixels, width, height, stride, 80, &out)
                     : WebPEncodeRGB(pixels, width, height, stride, 80, &out);
    free(pixels);
    CHECK(size > 0);
    struct mem_image image = {malloc(size), size};
    CHECK(image.data != NULL);
    memcpy(image.data, out, size);
    WebPFree(out);
    return image;
}

/* A still WebP with an EXIF chunk (big-endian TIFF, Orientation =
 * `orientation`), through libwebpmux. */
static inline struct mem_image webp_with_exif(struct mem_image still, int orientation)
{
    uint8_t tiff[26] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0};
    tiff[19] = (uint8_t)orientation;
    WebPData in = {still.data, still.size}, exif = {tiff, sizeof(tiff)}, out = {NULL, 0};
    WebPMux *mux = WebPMuxCreate(&in, 1);
    CHECK(mux != NULL);
    CHECK_EQ(WebPMuxSetChunk(mux, "EXIF", &exif, 1), WEBP_MUX_OK);
    CHECK_EQ(WebPMuxAssemble(mux, &out), WEBP_MUX_OK);
    WebPMuxDelete(mux);
    struct mem_image image = {malloc(out.size), out.size};
    CHECK(image.data != NULL);
    memcpy(image.data, out.bytes, out.size);
    WebPDataClear(&out);
    mem_image_free(&still);
    return image;
}

/* An animation of `frames` lossless full-canvas frames (seeds 0, 1, ...). */
static inline struct mem_image make_webp_animation(int width, int height, int frames)
{
    WebPAnimEncoderOptions options;
    CHECK(WebPAnimEncoderOptionsInit(&options));
    options.allow_mixed = 0;
    WebPAnimEncoder *encoder = WebPAnimEncoderNew(width, height, &options);
    CHECK(encoder != NULL);
    WebPConfig config;
    CHECK(WebPConfigInit(&config));
    config.lossless = 1;
    for (int f = 0; f < frames; f++) {
        WebPPicture picture;
        CHECK(WebPPictureInit(&picture));
        picture.use_argb = 1;
        picture.width = width;
        picture.height = height;
        uint8_t *pixels = sample_pixels(width, height, 3, f);
        CHECK(WebPPictureImportRGB(&picture, pixels, width * 3));
        free(pixels);
        CHECK(WebPAnimEncoderAdd(encoder, &picture, f * 100, &config));
        WebPPictureFree(&picture);
    }
    CHECK(WebPAnimEncoderAdd(encoder, NULL, frames * 100, NULL));
    WebPData out = {NULL, 0};
    CHECK(WebPAnimEncoderAssemble(encoder, &out));
    WebPAnimEncoderDelete(encoder);
    struct mem_image image = {malloc(out.size), out.size};
    CHECK(image.data != NULL);
    memcpy(image.data, out.bytes, out.size);
    WebPDataClear(&out);
    return image;
}

/* ---- GIF ------------------------------------------------------------------ */

struct gif_make {
    int width, height; /* the logical screen */
    int frames;        /* each the whole screen unless frame_* below */
    bool interlaced;
    int transparent; /* index, or -1 */
    int colours;     /* table entries (a power of two, 2-256) */
    int frame_left, frame_top, frame_width, frame_height; /* frame 1; 0 = screen */
};

struct gif_sink {
    uint8_t *data;
    size_t size;
};

static inline int gif_sink_write(GifFileType *gif, const GifByteType *bytes, int length)
{
    struct gif_sink *sink = gif->UserData;
    uint8_t *grown = realloc(sink->data, sink->size + (size_t)length);
    CHECK(grown != NULL);
    memcpy(grown + sink->size, bytes, (size_t)length);
    sink->data = grown;
    sink->size += (size_t)length;
    return length;
}

/* Colour index of pixel (x, y) of frame f: the sample's first channel,
 * reduced to the table. */
static inline int gif_index(const struct gif_make *spec, int x, int y, int f)
{
    return test_sample(x, y, 0, f) % spec->colours;
}

/* The colour table: entry i is (i, 255 - i, i * 7) reduced to bytes. */
static inline GifColorType gif_colour(int i)
{
    GifColorType c = {(GifByteType)i, (GifByteType)(255 - i), (GifByteType)(i * 7)};
    return c;
}

static inline struct mem_image make_gif(const struct gif_make *spec)
{
    struct gif_sink sink = {NULL, 0};
    int error = 0;
    GifFileType *gif = EGifOpen(&sink, gif_sink_write, &error);
    CHECK(gif != NULL);
    EGifSetGifVersion(gif, true);
    GifColorType colours[256];
    for (int i = 0; i < spec->colours; i++)
        colours[i] = gif_colour(i);
    ColorMapObject *map = GifMakeMapObject(spec->colours, colours);
    CHECK(map != NULL);
    CHECK_EQ(EGifPutScreenDesc(gif, spec->width, spec->height, 8, 0, map), GIF_OK);
    for (int f = 0; f < spec->frames; f++) {
        GraphicsControlBlock gcb = {0, false, 10, spec->transparent >= 0 ? spec->transparent : -1};
        GifByteType ext[4];
        EGifGCBToExtension(&gcb, ext);
        CHECK_EQ(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext), GIF_OK);
        int left = f == 0 ? spec->frame_left : 0, top = f == 0 ? spec->frame_top : 0;
        int fw = f == 0 && spec->frame_width > 0 ? spec->frame_width : spec->width;
        int fh = f == 0 && spec->frame_height > 0 ? spec->frame_height : spec->height;
        CHECK_EQ(EGifPutImageDesc(gif, left, top, fw, fh, spec->interlaced, NULL), GIF_OK);
        GifPixelType *line = malloc((size_t)fw);
        CHECK(line != NULL);
        /* An interlaced frame is written in its pass order. */
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        for (int pass = 0; pass < (spec->interlaced ? 4 : 1); pass++) {
            for (int y = spec->interlaced ? start[pass] : 0; y < fh;
                 y += spec->interlaced ? step[pass] : 1) {
                for (int x = 0; x < fw; x++)
                    line[x] = (GifPixelType)gif_index(spec, x, y, f);
                CHECK_EQ(EGifPutLine(gif, line, fw), GIF_OK);
            }
        }
        free(line);
    }
    CHECK_EQ(EGifCloseFile(gif, &error), GIF_OK);
    GifFreeMapObject(map);
    struct mem_image image = {sink.data, sink.size};
    return image;
}

/* ---- AVIF ----------------------------------------------------------------- */

struct avif_make {
    int width, height;
    avifPixelFormat yuv;
    int depth;
    bool alpha;
    int irot; /* -1 none, else quarter turns anti-clockwise */
    int imir; /* -1 none, else 0 (top-bottom) or 1 (left-right) */
};

static inline struct mem_image make_avif(const struct avif_make *spec)
{
    avifImage *image = avifImageCreate(spec->width, spec->height, spec->depth, spec->yuv);
    CHECK(image != NULL);
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, image);
    rgb.format = spec->alpha ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = 8;
    uint8_t *pixels = sample_pixels(spec->width, spec->height, spec->alpha ? 4 : 3, 0);
    rgb.pixels = pixels;
    rgb.rowBytes = (uint32_t)(spec->width * (spec->alpha ? 4 : 3));
    CHECK_EQ(avifImageRGBToYUV(image, &rgb), AVIF_RESULT_OK);
    free(pixels);
    if (spec->irot >= 0) {
        image->transformFlags |= AVIF_TRANSFORM_IROT;
        image->irot.angle = (uint8_t)spec->irot;
    }
    if (spec->imir >= 0) {
        image->transformFlags |= AVIF_TRANSFORM_IMIR;
        image->imir.mode = (uint8_t)spec->imir;
    }
    avifEncoder *encoder = avifEncoderCreate();
    CHECK(encoder != NULL);
    encoder->speed = AVIF_SPEED_FASTEST;
    encoder->maxThreads = 1;
    avifRWData out = AVIF_DATA_EMPTY;
    CHECK_EQ(avifEncoderWrite(encoder, image, &out), AVIF_RESULT_OK);
    avifEncoderDestroy(encoder);
    avifImageDestroy(image);
    struct mem_image file = {malloc(out.size), out.size};
    CHECK(file.data != NULL);
    memcpy(file.data, out.data, out.size);
    avifRWDataFree(&out);
    return file;
}

/* ---- BMP ------------------------------------------------------------------ */

struct bmp_make {
    int width, height;
    int bpp;          /* 1, 4, 8 (palette), 24, 32 */
    int palette;      /* entries written, for bpp <= 8 */
    int index_modulo; /* indices are sample % this (may exceed the palette) */
    bool top_down;
};

static inline void put_le(uint8_t *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Palette entry i of make_bmp: (b, g, r) = (i * 3, 255 - i, i). */
static inline struct mem_image make_bmp(const struct bmp_make *spec)
{
    size_t row = ((size_t)spec->width * (size_t)spec->bpp + 31) / 32 * 4;
    size_t palette = spec->bpp <= 8 ? 4 * (size_t)spec->palette : 0;
    size_t offset = 14 + 40 + palette;
    size_t size = offset + row * (size_t)spec->height;
    uint8_t *data = calloc(size, 1);
    CHECK(data != NULL);
    data[0] = 'B';
    data[1] = 'M';
    put_le(data + 2, (uint32_t)size, 4);
    put_le(data + 10, (uint32_t)offset, 4);
    put_le(data + 14, 40, 4);
    put_le(data + 18, (uint32_t)spec->width, 4);
    put_le(data + 22, (uint32_t)(spec->top_down ? -spec->height : spec->height), 4);
    put_le(data + 26, 1, 2);
    put_le(data + 28, (uint32_t)spec->bpp, 2);
    put_le(data + 46, spec->bpp <= 8 ? (uint32_t)spec->palette : 0, 4);
    for (int i = 0; i < (spec->bpp <= 8 ? spec->palette : 0); i++) {
        uint8_t *entry = data + 54 + 4 * i;
        entry[0] = (uint8_t)(i * 3);
        entry[1] = (uint8_t)(255 - i);
        entry[2] = (uint8_t)i;
    }
    for (int y = 0; y < spec->height; y++) {
        int stored = spec->top_down ? y : spec->height - 1 - y;
        uint8_t *out = data + offset + (size_t)stored * row;
        for (int x = 0; x < spec->width; x++) {
            if (spec->bpp <= 8) {
                int index = test_sample(x, y, 0, 0) % spec->index_modulo;
                int per = 8 / spec->bpp;
                out[x / per] |= (uint8_t)(index << (8 - spec->bpp * (x % per + 1)));
            } else {
                int bytes = spec->bpp / 8;
                uint8_t *px = out + (size_t)x * bytes;
                px[0] = test_sample(x, y, 2, 0); /* stored B, G, R (, A) */
                px[1] = test_sample(x, y, 1, 0);
                px[2] = test_sample(x, y, 0, 0);
                if (bytes == 4)
                    px[3] = 255;
            }
        }
    }
    struct mem_image image = {data, size};
    return image;
}

/* The RGB make_bmp stores at (x, y). */
static inline void bmp_expected(const struct bmp_make *spec, int x, int y, uint8_t rgb[3])
{
    if (spec->bpp > 8) {
        for (int c = 0; c < 3; c++)
            rgb[c] = test_sample(x, y, c, 0);
        return;
    }
    int index = test_sample(x, y, 0, 0) % spec->index_modulo;
    if (index >= spec->palette) {
        rgb[0] = rgb[1] = rgb[2] = 0; /* past the palette: black */
        return;
    }
    rgb[0] = (uint8_t)index;
    rgb[1] = (uint8_t)(255 - index);
    rgb[2] = (uint8_t)(index * 3);
}

/* ---- TIFF ----------------------------------------------------------------- */

struct tiff_make {
    int width, height;
    int bps;         /* 8 or 16 */
    int spp;         /* 1 gray, 3 RGB */
    bool tiled;      /* 16x16 tiles, else strips of 8 rows */
    bool separate;   /* planar configuration 2 */
    int orientation; /* tag 274 */
    int pages;
    uint16_t compression;
    uint32_t rows_per_strip; /* 0: 8 */
};

struct tiff_sink {
    uint8_t *data;
    size_t size;
    size_t capacity;
    size_t offset;
};

static inline tmsize_t tiff_sink_read(thandle_t h, void *buf, tmsize_t n)
{
    struct tiff_sink *s = h;
    size_t left = s->offset < s->size ? s->size - s->offset : 0;
    size_t want = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, s->data + s->offset, want);
    s->offset += want;
    return (tmsize_t)want;
}

static inline tmsize_t tiff_sink_write(thandle_t h, void *buf, tmsize_t n)
{
    struct tiff_sink *s = h;
    size_t end = s->offset + (size_t)n;
    if (end > s->capacity) {
        size_t capacity = end * 2;
        uint8_t *grown = realloc(s->data, capacity);
        CHECK(grown != NULL);
        memset(grown + s->capacity, 0, capacity - s->capacity);
        s->data = grown;
        s->capacity = capacity;
    }
    memcpy(s->data + s->offset, buf, (size_t)n);
    s->offset = end;
    if (end > s->size)
        s->size = end;
    return n;
}

static inline toff_t tiff_sink_seek(thandle_t h, toff_t off, int whence)
{
    struct tiff_sink *s = h;
    s->offset = (size_t)(whence == SEEK_SET   ? off
                         : whence == SEEK_CUR ? s->offset + off
                                              : s->size + off);
    return s->offset;
}

static inline int tiff_sink_close(thandle_t h)
{
    (void)h;
    return 0;
}

static inline toff_t tiff_sink_size(thandle_t h)
{
    return ((struct tiff_sink *)h)->size;
}

static inline int tiff_sink_map(thandle_t h, void **base, toff_t *size)
{
    (void)h;
    (void)base;
    (void)size;
    return 0;
}

static inline void tiff_sink_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

/* Sample (x, y, c) of page p as stored: 8-bit test_sample, or for 16 bits
 * that times 257 (so that libtiff's rounding to 8 bits gives it back). */
static inline unsigned tiff_sample(const struct tiff_make *spec, int x, int y, int c, int page)
{
    unsigned v = test_sample(x, y, c, page);
    return spec->bps == 16 ? v * 257 : v;
}

static inline struct mem_image make_tiff(const struct tiff_make *spec)
{
    struct tiff_sink sink = {NULL, 0, 0, 0};
    TIFF *tif = TIFFClientOpen("mem", "w", &sink, tiff_sink_read, tiff_sink_write, tiff_sink_seek,
                               tiff_sink_close, tiff_sink_size, tiff_sink_map, tiff_sink_unmap);
    CHECK(tif != NULL);
    int bytes = spec->bps / 8;
    for (int page = 0; page < (spec->pages > 0 ? spec->pages : 1); page++) {
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)spec->width);
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)spec->height);
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)spec->bps);
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spec->spp);
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                     spec->spp == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG,
                     spec->separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
        TIFFSetField(tif, TIFFTAG_COMPRESSION,
                     spec->compression ? spec->compression : COMPRESSION_ADOBE_DEFLATE);
        TIFFSetField(tif, TIFFTAG_ORIENTATION,
                     (uint16_t)(spec->orientation ? spec->orientation : 1));
        int planes = spec->separate ? spec->spp : 1;
        int per_pixel = spec->separate ? 1 : spec->spp;
        if (spec->tiled) {
            TIFFSetField(tif, TIFFTAG_TILEWIDTH, 16u);
            TIFFSetField(tif, TIFFTAG_TILELENGTH, 16u);
            size_t tile_bytes = 16 * 16 * (size_t)per_pixel * bytes;
            uint8_t *tile = malloc(tile_bytes);
            CHECK(tile != NULL);
            for (int plane = 0; plane < planes; plane++)
                for (int ty = 0; ty < spec->height; ty += 16)
                    for (int tx = 0; tx < spec->width; tx += 16) {
                        memset(tile, 0, tile_bytes);
                        for (int y = 0; y < 16 && ty + y < spec->height; y++)
                            for (int x = 0; x < 16 && tx + x < spec->width; x++)
                                for (int c = 0; c < per_pixel; c++) {
                                    unsigned v = tiff_sample(spec, tx + x, ty + y,
                                                             spec->separate ? plane : c, page);
                                    size_t at = ((size_t)y * 16 + x) * per_pixel + c;
                                    if (bytes == 2)
                                        ((uint16_t *)tile)[at] = (uint16_t)v;
                                    else
                                        tile[at] = (uint8_t)v;
                                }
                        CHECK(TIFFWriteTile(tif, tile, (uint32_t)tx, (uint32_t)ty, 0,
                                            (uint16_t)plane) >= 0);
                    }
            free(tile);
        } else {
            TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP,
                         spec->rows_per_strip ? spec->rows_per_strip : 8u);
            size_t row_bytes = (size_t)spec->width * per_pixel * bytes;
            uint8_t *row = malloc(row_bytes);
            CHECK(row != NULL);
            for (int plane = 0; plane < planes; plane++)
                for (int y = 0; y < spec->height; y++) {
                    for (int x = 0; x < spec->width; x++)
                        for (int c = 0; c < per_pixel; c++) {
                            unsigned v = tiff_sample(spec, x, y, spec->separate ? plane : c, page);
                            size_t at = (size_t)x * per_pixel + c;
                            if (bytes == 2)
                                ((uint16_t *)row)[at] = (uint16_t)v;
                            else
                                row[at] = (uint8_t)v;
                        }
                    CHECK(TIFFWriteScanline(tif, row, (uint32_t)y, (uint16_t)plane) >= 0);
                }
            free(row);
        }
        CHECK(TIFFWriteDirectory(tif));
    }
    TIFFClose(tif);
    struct mem_image image = {sink.data, sink.size};
    return image;
}

#endif
