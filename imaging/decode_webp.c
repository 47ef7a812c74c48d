/* WebP with libwebp (Debian's libwebp-dev): lossy (VP8), lossless (VP8L),
 * with alpha (ALPH, dropped as img_decode's contract says: the RGB under it
 * as libwebp gives it, not blended), and animated files (libwebpdemux: the
 * first frame, placed at its offset on a black canvas, which is the
 * transparent canvas of the WebP spec with the alpha dropped).
 *
 * Luma is img_rgb_to_luma of libwebp's RGB (its default "fancy" chroma
 * upsampling, as dwebp's), not the VP8 Y plane: the same bytes as dwebp's
 * PNG through our PNG path.
 *
 * Guards: the size from the header (WebPGetFeatures: VP8/VP8L/VP8X frame
 * header, no pixels) before anything is allocated; the EXIF orientation
 * from the EXIF chunk; libwebp decodes into our buffer (external memory)
 * through its incremental decoder, fed the body in growing steps (64 KiB
 * doubling up to 4 MiB) with the cancel flag polled between steps; it has no allocator hook, so the
 * budget is checked on the estimate only (decode_limits.c has what it
 * counts). An animation's frame count costs nothing: only frame 1 is
 * touched. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "imaging.h"
#include "imaging_private.h"

/* The first step, doubled at each step up to the last. libwebp starts a
 * lossless header over at every step that ends inside it (its Huffman
 * groups' tables allocated and built again): growing steps make that work
 * redone at most about twice one parse, where 64 KiB steps made it grow
 * with the header's length squared (test_webp_groups: 11.8x the decode's
 * peak allocated in all for a 1 MB header). The cap keeps the cancel poll
 * within 4 MiB of data. */
#define FEED_STEP ((size_t)64 << 10)
#define FEED_STEP_MAX ((size_t)4 << 20)

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The EXIF chunk's orientation: the chunk holds TIFF data (some writers
 * put JPEG's "Exif\0\0" in front: skipped). Chunks after VP8X in RIFF
 * order, each padded to an even size; a cut chunk ends the walk. */
static int webp_orientation(const uint8_t *data, size_t size)
{
    size_t offset = 12;
    while (size - offset >= 8) {
        uint32_t length = le32(data + offset + 4);
        if (length > size - offset - 8)
            return 1;
        if (memcmp(data + offset, "EXIF", 4) == 0) {
            const uint8_t *tiff = data + offset + 8;
            size_t tiff_size = length;
            if (tiff_size >= 6 && memcmp(tiff, "Exif\0\0", 6) == 0) {
                tiff += 6;
                tiff_size -= 6;
            }
            return img__exif_orientation(tiff, tiff_size);
        }
        offset += 8 + (size_t)length + (length & 1);
        if (offset > size)
            return 1;
    }
    return 1;
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

/* One lossless stream's Huffman groups and sub-images (webp_groups.c), or
 * their bound when it cannot be read that far (libwebp may allocate the
 * groups' tables before it finds what is wrong later on). */
static size_t stream_bytes(const uint8_t *data, size_t size, uint32_t width, uint32_t height,
                           bool header)
{
    struct img__vp8l_scan scan;
    if (img__vp8l_scan(data, size, width, height, header, &scan) == 0)
        return img__vp8l_bytes(&scan);
    return img__vp8l_bound_bytes(width, height);
}

/* What libwebp's lossless decoder holds besides the pixels, for the still
 * image or an animation's first frame: its VP8L chunk, and the stream of a
 * lossless ALPH chunk (the alpha of a lossy image). Chunks in RIFF order,
 * a frame's inside its ANMF (16 bytes of frame header first); a cut chunk
 * is scanned as far as it goes. */
static size_t lossless_bytes(const uint8_t *data, size_t size, uint32_t width, uint32_t height)
{
    size_t total = 0;
    size_t offset = 12, end = size;
    bool in_frame = false;
    while (offset <= end && end - offset >= 8) {
        uint32_t length = le32(data + offset + 4);
        const uint8_t *payload = data + offset + 8;
        size_t have = end - offset - 8 < length ? end - offset - 8 : length;
        if (!in_frame && memcmp(data + offset, "ANMF", 4) == 0) {
            if (have < 16)
                break;
            width = 1 + le24(payload + 6);
            height = 1 + le24(payload + 9);
            end = offset + 8 + have; /* frame 1's chunks only */
            offset += 8 + 16;
            in_frame = true;
            continue;
        }
        if (memcmp(data + offset, "VP8L", 4) == 0)
            total += stream_bytes(payload, have, width, height, true);
        if (memcmp(data + offset, "ALPH", 4) == 0 && have >= 1 && (payload[0] & 3) == 1)
            total += stream_bytes(payload + 1, have - 1, width, height, false);
        offset += 8 + (size_t)length + (length & 1);
    }
    return total;
}

/* The RIFF header says how long the file is: a failure in a body shorter
 * than that is a cut download, whatever libwebp called it. */
static bool body_cut(const uint8_t *data, size_t size)
{
    return size >= 8 && (uint64_t)le32(data + 4) + 8 > size;
}

static void status_fail(VP8StatusCode status, const char *what, bool cut, enum img_error_kind *kind,
                        char *err, size_t err_size)
{
    if (cut && status != VP8_STATUS_OUT_OF_MEMORY)
        status = VP8_STATUS_NOT_ENOUGH_DATA;
    switch (status) {
    case VP8_STATUS_NOT_ENOUGH_DATA:
    case VP8_STATUS_SUSPENDED:
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated WebP (%s)", what);
        break;
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported WebP (%s: libwebp: unsupported feature)", what);
        break;
    case VP8_STATUS_OUT_OF_MEMORY:
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (libwebp, %s)",
                  what);
        break;
    default:
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt WebP (%s: libwebp status %d)",
                  what, (int)status);
        break;
    }
}

int img__webp_probe(const uint8_t *data, size_t size, struct img__header *header,
                    enum img_error_kind *kind, char *err, size_t err_size)
{
    WebPBitstreamFeatures features;
    VP8StatusCode status = WebPGetFeatures(data, size, &features);
    if (status != VP8_STATUS_OK) {
        status_fail(status, "header", body_cut(data, size), kind, err, err_size);
        return -EINVAL;
    }
    int ret =
        img__set_size(header, IMG_FORMAT_WEBP, (uint64_t)features.width, (uint64_t)features.height,
                      webp_orientation(data, size), kind, err, err_size);
    if (ret < 0)
        return ret;
    header->bit_depth = 8;
    header->animated = features.has_animation;
    header->info.channels = features.has_alpha ? 4 : 3;
    /* Lossless is 2; an animation (format 0, "mixed") may hold either. */
    header->png_color_type = features.format;
    size_t width = (size_t)features.width;
    size_t pixels = width * (size_t)features.height;
    /* Our RGB raster (3 B/px), and libwebp's own: VP8L decodes the whole
     * image as ARGB (4 B/px, alpha included) plus 17 cache rows; VP8 holds
     * about 68 bytes per column of macroblock-row caches and filter state,
     * and a lossy image's alpha (ALPH) is a plane of a byte per pixel,
     * itself decoded by VP8L when compressed (ARGB again: 5 B/px). For an
     * animation, what frame 1 is (the demuxer's frame index is a few dozen
     * bytes per frame, bounded by the body). Each gets a fixed
     * 256 KiB for contexts and the Huffman tables of sub-images; a
     * lossless stream's groups (12 to 20 KiB each, up to 65536 of them)
     * and the sub-images libwebp keeps are read from the bitstream
     * (lossless_bytes). */
    if (features.has_animation) {
        WebPData whole = {data, size};
        WebPDemuxer *demux = WebPDemux(&whole);
        WebPIterator frame;
        memset(&frame, 0, sizeof(frame));
        WebPBitstreamFeatures first;
        if (demux != NULL && WebPDemuxGetFrame(demux, 1, &frame) &&
            WebPGetFeatures(frame.fragment.bytes, frame.fragment.size, &first) == VP8_STATUS_OK) {
            features.format = first.format;
            features.has_alpha = first.has_alpha;
        }
        WebPDemuxReleaseIterator(&frame);
        WebPDemuxDelete(demux);
    }
    bool lossy = features.format != 2, lossless = features.format != 1;
    size_t library = 68 * width + ((size_t)256 << 10);
    if (lossless)
        library += 4 * pixels + 17 * 4 * width;
    if (lossy && features.has_alpha)
        library += 5 * pixels;
    library += lossless_bytes(data, size, (uint32_t)features.width, (uint32_t)features.height);
    header->raster_work_bytes = 3 * pixels + library;
    return 0;
}

/* Decodes one VP8/VP8L bitstream (a still file, or a frame's fragment) into
 * `rgb` (3 channels, `stride`), feeding libwebp's incremental decoder. */
static int decode_into(const uint8_t *data, size_t size, bool cut, uint8_t *rgb, size_t stride,
                       size_t rgb_size, const struct img_decode_limits *limits,
                       enum img_error_kind *kind, char *err, size_t err_size)
{
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        img__fail(kind, IMG_ERROR_INVALID_ARGUMENT, err, err_size, "libwebp version mismatch");
        return -EINVAL;
    }
    config.options.use_threads = 0;
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = rgb;
    config.output.u.RGBA.stride = (int)stride;
    config.output.u.RGBA.size = rgb_size;
    WebPIDecoder *decoder = WebPIDecode(NULL, 0, &config);
    if (decoder == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (libwebp)");
        return -ENOMEM;
    }
    int ret = 0;
    size_t fed = 0;
    size_t step = FEED_STEP;
    VP8StatusCode status = VP8_STATUS_SUSPENDED;
    while (status == VP8_STATUS_SUSPENDED && fed < size) {
        if (img__cancelled(limits)) {
            img__fail(kind, IMG_ERROR_CANCELLED, err, err_size, "cancelled");
            ret = -ECANCELED;
            goto done;
        }
        fed = size - fed > step ? fed + step : size;
        if (step < FEED_STEP_MAX)
            step *= 2;
        /* The same buffer, grown: libwebp reads it in place, no copy. */
        status = WebPIUpdate(decoder, data, fed);
    }
    if (status != VP8_STATUS_OK) {
        status_fail(status, "image data", cut, kind, err, err_size);
        ret = status == VP8_STATUS_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    }
done:
    WebPIDelete(decoder);
    WebPFreeDecBuffer(&config.output);
    return ret;
}

int img__webp_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    int width = header->stored_width;
    int height = header->stored_height;
    size_t stride = 3 * (size_t)width;
    size_t rgb_size = stride * (size_t)height;
    /* calloc: the canvas of an animation is black where frame 1 is not. */
    uint8_t *rgb = calloc(rgb_size, 1);
    if (rgb == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  header->info.width, header->info.height);
        return -ENOMEM;
    }
    int ret;
    if (!header->animated) {
        ret = decode_into(data, size, body_cut(data, size), rgb, stride, rgb_size, limits, kind,
                          err, err_size);
    } else {
        WebPData whole = {data, size};
        WebPDemuxer *demux = WebPDemux(&whole);
        WebPIterator frame;
        memset(&frame, 0, sizeof(frame));
        if (demux == NULL || !WebPDemuxGetFrame(demux, 1, &frame)) {
            if (body_cut(data, size))
                img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                          "truncated WebP animation (%zu bytes, the RIFF header says %llu)", size,
                          (unsigned long long)le32(data + 4) + 8);
            else
                img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                          "corrupt WebP animation (libwebpdemux: no first frame)");
            ret = -EINVAL;
        } else if (frame.x_offset < 0 || frame.y_offset < 0 || frame.width <= 0 ||
                   frame.height <= 0 || frame.x_offset + frame.width > width ||
                   frame.y_offset + frame.height > height) {
            img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                      "corrupt WebP animation (frame 1 outside the canvas)");
            ret = -EINVAL;
        } else {
            /* The frame's header must agree with ANMF's size, or libwebp
             * would write a frame of another size into the canvas. */
            WebPBitstreamFeatures features;
            if (WebPGetFeatures(frame.fragment.bytes, frame.fragment.size, &features) !=
                    VP8_STATUS_OK ||
                features.width != frame.width || features.height != frame.height) {
                img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                          "corrupt WebP animation (frame 1's size disagrees with its header)");
                ret = -EINVAL;
            } else {
                uint8_t *origin =
                    rgb + (size_t)frame.y_offset * stride + 3 * (size_t)frame.x_offset;
                ret = decode_into(frame.fragment.bytes, frame.fragment.size, body_cut(data, size),
                                  origin, stride, rgb_size - (size_t)(origin - rgb), limits, kind,
                                  err, err_size);
            }
        }
        if (demux != NULL) {
            WebPDemuxReleaseIterator(&frame);
            WebPDemuxDelete(demux);
        }
    }
    if (ret == 0) {
        ret = img__raster_deliver(rgb, stride, 3, width, height, header->info.orientation, channels,
                                  out);
        if (ret < 0)
            img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size,
                      "out of memory for a %dx%d image", header->info.width, header->info.height);
    }
    free(rgb);
    return ret;
}
