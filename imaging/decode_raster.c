/* What the decoders of WebP, GIF, AVIF, BMP and TIFF share: the size
 * checks from the header, the delivery of a library's whole stored raster
 * into the caller's buffer (channels, luma, orientation), the format names
 * and the Accept header built from the decoders compiled in. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

const char *img_format_name(enum img_format format)
{
    switch (format) {
    case IMG_FORMAT_JPEG:
        return "JPEG";
    case IMG_FORMAT_PNG:
        return "PNG";
    case IMG_FORMAT_WEBP:
        return "WebP";
    case IMG_FORMAT_GIF:
        return "GIF";
    case IMG_FORMAT_AVIF:
        return "AVIF";
    case IMG_FORMAT_BMP:
        return "BMP";
    case IMG_FORMAT_TIFF:
        return "TIFF";
    case IMG_FORMAT_JPEG_XL:
        return "JPEG XL";
    case IMG_FORMAT_HEIF:
        return "HEIF";
    case IMG_FORMAT_JPEG_2000:
        return "JPEG 2000";
    case IMG_FORMAT_PSD:
        return "PSD";
    case IMG_FORMAT_QOI:
        return "QOI";
    case IMG_FORMAT_ICO:
        return "ICO";
    case IMG_FORMAT_SVG:
        return "SVG";
    case IMG_FORMAT_UNKNOWN:
        break;
    }
    return "unknown";
}

/* Every format this module decodes, in the order of preference (see
 * imaging/DECODE.md, "Accept"): WebP first (a third smaller than JPEG at the
 * same quality, and decoded at JPEG's speed), AVIF next (smaller still, but
 * its decode costs several times JPEG's per pixel: on a fast link it is
 * the CPU stage that waits), then JPEG, then PNG (lossless: the largest
 * download of the four for a photo), then the formats a server would only
 * have in that form anyway. No wildcard: a server that negotiates must send
 * one of these or say 406, never a format we would download and refuse.
 * Only the decoders this build has (meson options) are listed. */
#if IMG_HAVE_WEBP
#define ACCEPT_WEBP "image/webp,"
#else
#define ACCEPT_WEBP ""
#endif
#if IMG_HAVE_AVIF
#define ACCEPT_AVIF "image/avif;q=0.9,"
#else
#define ACCEPT_AVIF ""
#endif
#if IMG_HAVE_GIF
#define ACCEPT_GIF ",image/gif;q=0.5"
#else
#define ACCEPT_GIF ""
#endif
#if IMG_HAVE_BMP
#define ACCEPT_BMP ",image/bmp;q=0.3"
#else
#define ACCEPT_BMP ""
#endif
#if IMG_HAVE_TIFF
#define ACCEPT_TIFF ",image/tiff;q=0.3"
#else
#define ACCEPT_TIFF ""
#endif
static const char accept_header[] =
    ACCEPT_WEBP ACCEPT_AVIF "image/jpeg;q=0.9,image/png;q=0.8" ACCEPT_GIF ACCEPT_BMP ACCEPT_TIFF;

const char *img_accept_header(void)
{
    return accept_header;
}

bool img__cancelled(const struct img_decode_limits *limits)
{
    return limits->cancel != NULL && atomic_load_explicit(limits->cancel, memory_order_relaxed);
}

int img__set_size(struct img__header *header, enum img_format format, uint64_t width,
                  uint64_t height, int orientation, enum img_error_kind *kind, char *err,
                  size_t err_size)
{
    const char *name = img_format_name(format);
    if (width == 0 || height == 0) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt %s header (%" PRIu64 "x%" PRIu64 " pixels)", name, width, height);
        return -EINVAL;
    }
    if (width > IMG_MAX_SIDE || height > IMG_MAX_SIDE || width * height > IMG_MAX_PIXELS) {
        char have[32];
        img__format_pixels(width * height, false, have, sizeof(have));
        img__fail(kind, IMG_ERROR_TOO_LARGE, err, err_size,
                  "image is %" PRIu64 "x%" PRIu64 " (%s), too large for the %s decoder", width,
                  height, have, name);
        return -EFBIG;
    }
    bool turned = orientation >= 5;
    header->info.format = format;
    header->info.orientation = orientation;
    header->stored_width = (int)width;
    header->stored_height = (int)height;
    header->info.width = (int)(turned ? height : width);
    header->info.height = (int)(turned ? width : height);
    return 0;
}

int img__raster_deliver(const uint8_t *pixels, size_t stride, int raster_channels, int width,
                        int height, int orientation, int channels, struct img_buf *out)
{
    bool turned = orientation >= 5;
    int ret = img_buf_init(out, turned ? height : width, turned ? width : height, channels);
    if (ret < 0)
        return ret;
    /* One converted row: RGB (3 * width) then, for luma, its luma (width). */
    uint8_t *row = malloc(4 * (size_t)width);
    if (row == NULL) {
        img_buf_finish(out);
        return -ENOMEM;
    }
    uint8_t *rgb = row;
    uint8_t *luma = row + 3 * (size_t)width;
    for (int y = 0; y < height; y++) {
        const uint8_t *in = pixels + (size_t)y * stride;
        const uint8_t *ready;
        if (raster_channels == channels) {
            ready = in;
        } else if (raster_channels == 1) {
            /* Gray to RGB. */
            for (int x = 0; x < width; x++)
                memset(rgb + 3 * (size_t)x, in[x], 3);
            ready = rgb;
        } else {
            const uint8_t *colour = in;
            if (raster_channels == 4) {
                for (int x = 0; x < width; x++)
                    memcpy(rgb + 3 * (size_t)x, in + 4 * (size_t)x, 3);
                colour = rgb;
            }
            if (channels == 1) {
                img_rgb_to_luma(colour, 3 * (size_t)width, luma, (size_t)width, width, 1);
                ready = luma;
            } else {
                ready = colour;
            }
        }
        ptrdiff_t step;
        uint8_t *start = img__orient_row_start(out, orientation, width, height, y, &step);
        if (orientation == 1) {
            memcpy(start, ready, (size_t)width * (size_t)channels);
        } else if (channels == 1) {
            for (int x = 0; x < width; x++)
                start[(ptrdiff_t)x * step] = ready[x];
        } else {
            for (int x = 0; x < width; x++)
                memcpy(start + (ptrdiff_t)x * step, ready + 3 * (size_t)x, 3);
        }
    }
    free(row);
    return 0;
}
