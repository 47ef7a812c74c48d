/* AVIF with libavif (Debian 12's libavif-dev 0.11.1, whose libavif15 links
 * dav1d, libgav1 and libaom for decoding; libavif picks dav1d first, and
 * --version names the codec it picked). Still images and the first frame
 * of a sequence ("avis"); alpha is dropped.
 *
 * Luma is img_rgb_to_luma of libavif's RGB (avifImageYUVToRGB with its
 * defaults, as avifdec's PNG), not the AV1 Y plane: a limited-range or
 * non-BT.601 file's Y is not BT.601 luma of its RGB, and the tests compare
 * against avifdec's PNG through our PNG path.
 *
 * Guards: the size from the parsed boxes (ispe, before any AV1 data is
 * decoded), held to ours and to the caller's pixel limit again inside
 * libavif (imageSizeLimit, imageDimensionLimit); one decoder thread (the
 * workers are the parallelism); the orientation from irot/imir (the EXIF
 * in an AVIF is ignored, as the spec says the boxes rule). libavif has no
 * allocator hook and no progress callback: the budget is checked on the
 * estimate, and the cancel flag is seen before and after the AV1 decode
 * (how long that can be is measured in DECODE.md: about 1 s for a 100 MP
 * photo, 5 s for a 64 MiB near-lossless body). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <avif/avif.h>

#include "imaging.h"
#include "imaging_private.h"

/* irot (quarter turns anti-clockwise) and imir (0: top and bottom
 * exchanged, 1: left and right; applied after irot, ISO/IEC 23008-12
 * 6.5.12) as the EXIF orientation that shows the same picture. A
 * left-right mirror is a top-bottom one after a half turn more. */
static int avif_orientation(const avifImage *image)
{
    int angle = (image->transformFlags & AVIF_TRANSFORM_IROT) ? image->irot.angle & 3 : 0;
    int mirror = (image->transformFlags & AVIF_TRANSFORM_IMIR) ? image->imir.mode & 1 : -1;
    static const int plain[4] = {1, 8, 3, 6};
    static const int mirrored[4] = {4, 5, 2, 7};
    if (mirror < 0)
        return plain[angle];
    if (mirror == 1)
        angle = (angle + 2) & 3;
    return mirrored[angle];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether a top-level box (ISO/IEC 14496-12 4.2: 32-bit size, or 1 and a
 * 64-bit size, or 0 for "to the end") runs past the body: a cut download,
 * whatever libavif's parse called it. */
static bool body_cut(const uint8_t *data, size_t size)
{
    size_t offset = 0;
    while (size - offset >= 8) {
        uint64_t box = be32(data + offset);
        if (box == 1) {
            if (size - offset < 16)
                return true;
            box = (uint64_t)be32(data + offset + 8) << 32 | be32(data + offset + 12);
        } else if (box == 0) {
            return false;
        }
        if (box < 8)
            return false; /* corrupt, not cut */
        if (box > size - offset)
            return true;
        offset += (size_t)box;
    }
    return offset != size;
}

static void result_fail(avifResult result, const avifDecoder *decoder, bool cut,
                        enum img_error_kind *kind, char *err, size_t err_size)
{
    if (cut && result != AVIF_RESULT_OUT_OF_MEMORY)
        result = AVIF_RESULT_TRUNCATED_DATA;
    const char *what = avifResultToString(result);
    const char *detail = decoder != NULL ? decoder->diag.error : "";
    /* libavif's diagnostics may quote box types from the file: keep only
     * printable ASCII. */
    char clean[128];
    size_t n = 0;
    for (; detail[n] != '\0' && n < sizeof(clean) - 1; n++)
        clean[n] = detail[n] >= 0x20 && detail[n] < 0x7f ? detail[n] : '?';
    clean[n] = '\0';
    switch (result) {
    case AVIF_RESULT_TRUNCATED_DATA:
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated AVIF (libavif: %s%s%s)",
                  what, n ? ": " : "", clean);
        break;
    case AVIF_RESULT_OUT_OF_MEMORY:
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (libavif)");
        break;
    case AVIF_RESULT_NOT_IMPLEMENTED:
    case AVIF_RESULT_NO_CODEC_AVAILABLE:
    case AVIF_RESULT_UNSUPPORTED_DEPTH:
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported AVIF (libavif: %s%s%s)", what, n ? ": " : "", clean);
        break;
    default:
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt AVIF (libavif: %s%s%s)", what,
                  n ? ": " : "", clean);
        break;
    }
}

static avifDecoder *create_decoder(uint64_t max_pixels)
{
    avifDecoder *decoder = avifDecoderCreate();
    if (decoder == NULL)
        return NULL;
    decoder->maxThreads = 1;
    /* libavif 0.11 refuses (NOT_IMPLEMENTED) limits above its defaults,
     * 16384 x 16384 pixels and 32768 per side: AVIF's own ceiling here. */
    uint64_t limit =
        max_pixels < AVIF_DEFAULT_IMAGE_SIZE_LIMIT ? max_pixels : AVIF_DEFAULT_IMAGE_SIZE_LIMIT;
    decoder->imageSizeLimit = (uint32_t)limit;
    decoder->imageDimensionLimit = AVIF_DEFAULT_IMAGE_DIMENSION_LIMIT;
    decoder->ignoreXMP = AVIF_TRUE;
    decoder->ignoreExif = AVIF_TRUE;
    return decoder;
}

int img__avif_probe(const uint8_t *data, size_t size, struct img__header *header,
                    enum img_error_kind *kind, char *err, size_t err_size)
{
    avifDecoder *decoder = create_decoder(IMG_MAX_PIXELS);
    if (decoder == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (libavif)");
        return -ENOMEM;
    }
    int ret = -EINVAL;
    avifResult result = avifDecoderSetIOMemory(decoder, data, size);
    if (result == AVIF_RESULT_OK)
        result = avifDecoderParse(decoder);
    if (result != AVIF_RESULT_OK) {
        result_fail(result, decoder, body_cut(data, size), kind, err, err_size);
        goto done;
    }
    const avifImage *image = decoder->image;
    ret = img__set_size(header, IMG_FORMAT_AVIF, image->width, image->height,
                        avif_orientation(image), kind, err, err_size);
    if (ret < 0)
        goto done;
    header->bit_depth = (int)image->depth;
    header->animated = decoder->imageCount > 1;
    header->info.channels = image->yuvFormat == AVIF_PIXEL_FORMAT_YUV400 ? 1 : 3;
    if (decoder->alphaPresent)
        header->info.channels++;
    size_t pixels = (size_t)image->width * (size_t)image->height;
    size_t sample = image->depth > 8 ? 2 : 1;
    /* Planes per pixel, in quarters: 4:2:0 is 6 (Y and two quarter-size
     * chroma planes), 4:2:2 8, 4:4:4 12, 4:0:0 4; alpha adds 4. */
    size_t quarters = 12;
    if (image->yuvFormat == AVIF_PIXEL_FORMAT_YUV420)
        quarters = 6;
    else if (image->yuvFormat == AVIF_PIXEL_FORMAT_YUV422)
        quarters = 8;
    else if (image->yuvFormat == AVIF_PIXEL_FORMAT_YUV400)
        quarters = 4;
    if (decoder->alphaPresent)
        quarters += 4;
    size_t yuv = pixels * sample * quarters / 4;
    /* Our RGB (3 B/px; RGBA with alpha, below), and dav1d's and
     * libavif's: the decoded picture (planes padded and aligned), dav1d's
     * per-frame state (block info, CDEF and loop-restoration lines,
     * coefficients: about half a byte per pixel) and a fixed part for its
     * context and libavif's parse. Measured by test_decode_memory (DECODE.md
     * has the table): the picture and state came to 1.15 times the planes'
     * bytes at 4:2:0; the estimate allows 1.5 times plus half a byte per
     * pixel. */
    size_t raster = (decoder->alphaPresent ? 4 : 3) * pixels;
    header->raster_work_bytes = raster + yuv + yuv / 2 + pixels / 2 + ((size_t)1 << 20);
    ret = 0;
done:
    avifDecoderDestroy(decoder);
    return ret;
}

int img__avif_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    int width = header->stored_width;
    int height = header->stored_height;
    /* An image with alpha is converted to RGBA, as avifdec does for its
     * PNG: libavif converts RGBA and RGB by different code (libyuv's for
     * RGBA), which round differently; the alpha is then dropped. */
    int raster_channels = header->info.channels == 2 || header->info.channels == 4 ? 4 : 3;
    size_t stride = (size_t)raster_channels * (size_t)width;
    uint8_t *rgb_pixels = NULL;
    int ret = -EINVAL;
    avifDecoder *decoder = create_decoder(limits->max_pixels);
    if (decoder == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (libavif)");
        return -ENOMEM;
    }
    avifResult result = avifDecoderSetIOMemory(decoder, data, size);
    if (result == AVIF_RESULT_OK)
        result = avifDecoderParse(decoder);
    if (result == AVIF_RESULT_OK && img__cancelled(limits))
        goto cancelled;
    if (result == AVIF_RESULT_OK)
        result = avifDecoderNextImage(decoder);
    if (result != AVIF_RESULT_OK) {
        result_fail(result, decoder, body_cut(data, size), kind, err, err_size);
        ret = result == AVIF_RESULT_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
        goto done;
    }
    if (img__cancelled(limits))
        goto cancelled;
    const avifImage *image = decoder->image;
    if ((int)image->width != width || (int)image->height != height) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt AVIF (decoded %ux%u, the header says %dx%d)", image->width,
                  image->height, width, height);
        goto done;
    }
    rgb_pixels = malloc(stride * (size_t)height);
    if (rgb_pixels == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  width, height);
        ret = -ENOMEM;
        goto done;
    }
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, image);
    rgb.format = raster_channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = 8;
    rgb.pixels = rgb_pixels;
    rgb.rowBytes = (uint32_t)stride;
    result = avifImageYUVToRGB(image, &rgb);
    if (result != AVIF_RESULT_OK) {
        result_fail(result, decoder, body_cut(data, size), kind, err, err_size);
        goto done;
    }
    /* The decoder's planes go before our output is allocated. */
    avifDecoderDestroy(decoder);
    decoder = NULL;
    ret = img__raster_deliver(rgb_pixels, stride, raster_channels, width, height,
                              header->info.orientation, channels, out);
    if (ret < 0)
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  header->info.width, header->info.height);
    goto done;

cancelled:
    img__fail(kind, IMG_ERROR_CANCELLED, err, err_size, "cancelled");
    ret = -ECANCELED;
done:
    if (decoder != NULL) /* avifDecoderDestroy does not take NULL */
        avifDecoderDestroy(decoder);
    free(rgb_pixels);
    return ret;
}
