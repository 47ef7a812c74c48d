/* GIF with giflib (Debian's libgif-dev), record by record, so that only the
 * first image is ever decoded: an animation's later frames are not read
 * (the work is bounded by the first frame, not the frame count).
 *
 * Chosen over stb_image 2.27's GIF loader, which decodes every frame of an
 * animation into a whole canvas each (its memory grows with the frame
 * count) and is the part of stb_image with the open CVEs of 2023
 * (imaging/DECODE.md).
 *
 * The image is the logical screen: frame 1 at its offset, pixels it does
 * not cover and its transparent pixels (the Graphic Control Extension's
 * index) black, that is the transparent black canvas with the alpha
 * dropped, as for WebP. Interlaced frames (rows in four passes) are placed
 * row by row. An index past the colour table is black (as libpng does for
 * short palettes). The cancel flag is polled per row. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "imaging.h"
#include "imaging_private.h"

/* giflib's state besides our buffers: the GifFileType, its private LZW
 * tables (4096-entry prefix, suffix and stack), colour maps and the saved
 * image record of frame 1 (gif_lib.h, dgif_lib.c). */
#define GIF_LIBRARY_BYTES ((size_t)64 << 10)

struct gif_reader {
    const uint8_t *data;
    size_t size;
    size_t offset;
    bool cut;
};

static int on_gif_read(GifFileType *gif, GifByteType *out, int length)
{
    struct gif_reader *reader = gif->UserData;
    size_t want = length > 0 ? (size_t)length : 0;
    size_t left = reader->size - reader->offset;
    if (want > left) {
        reader->cut = true;
        want = left;
    }
    memcpy(out, reader->data + reader->offset, want);
    reader->offset += want;
    return (int)want;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int img__gif_probe(const uint8_t *data, size_t size, struct img__header *header,
                   enum img_error_kind *kind, char *err, size_t err_size)
{
    /* Signature (6) and the logical screen descriptor (7). */
    if (size < 13) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated GIF header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    int ret = img__set_size(header, IMG_FORMAT_GIF, le16(data + 6), le16(data + 8), 1, kind, err,
                            err_size);
    if (ret < 0)
        return ret;
    header->bit_depth = 8;
    header->info.channels = 3;
    size_t pixels = (size_t)header->stored_width * (size_t)header->stored_height;
    /* The canvas (RGB), one frame row (at most 65535 indices), giflib. */
    header->raster_work_bytes = 3 * pixels + 65536 + GIF_LIBRARY_BYTES;
    return 0;
}

struct gif_frame {
    int transparent; /* index, or -1 */
    bool found;
};

/* Reads records up to frame 1's descriptor; remembers the last Graphic
 * Control Extension's transparent index. Returns GIF_OK or GIF_ERROR. */
static int find_first_frame(GifFileType *gif, struct gif_frame *frame)
{
    frame->transparent = -1;
    for (;;) {
        GifRecordType record;
        if (DGifGetRecordType(gif, &record) == GIF_ERROR)
            return GIF_ERROR;
        if (record == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(gif) == GIF_ERROR)
                return GIF_ERROR;
            frame->found = true;
            return GIF_OK;
        }
        if (record == TERMINATE_RECORD_TYPE)
            return GIF_OK;
        if (record != EXTENSION_RECORD_TYPE)
            continue;
        int code;
        GifByteType *block;
        if (DGifGetExtension(gif, &code, &block) == GIF_ERROR)
            return GIF_ERROR;
        /* GCE: size 4, flags (bit 0: transparency), delay (2), index. */
        if (code == GRAPHICS_EXT_FUNC_CODE && block != NULL && block[0] >= 4)
            frame->transparent = (block[1] & 1) ? block[4] : -1;
        while (block != NULL) {
            if (DGifGetExtensionNext(gif, &block) == GIF_ERROR)
                return GIF_ERROR;
        }
    }
}

int img__gif_decode(const uint8_t *data, size_t size, const struct img__header *header,
                    int channels, const struct img_decode_limits *limits, struct img_buf *out,
                    enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    int width = header->stored_width;
    int height = header->stored_height;
    size_t stride = 3 * (size_t)width;
    struct gif_reader reader = {data, size, 0, false};
    uint8_t *canvas = NULL;
    GifPixelType *line = NULL;
    int error = 0;
    int ret = -EINVAL;
    GifFileType *gif = DGifOpen(&reader, on_gif_read, &error);
    if (gif == NULL)
        goto fail_library;
    struct gif_frame frame = {-1, false};
    if (find_first_frame(gif, &frame) == GIF_ERROR) {
        error = gif->Error;
        goto fail_library;
    }
    if (!frame.found) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt GIF (no image in it)");
        goto fail;
    }
    const GifImageDesc *desc = &gif->Image;
    const ColorMapObject *colours = desc->ColorMap != NULL ? desc->ColorMap : gif->SColorMap;
    if (colours == NULL) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt GIF (no colour table)");
        goto fail;
    }
    /* Decoding work is frame 1's area: a 65535x65535 frame on a 10x10
     * screen would be 4 G LZW codes for 100 pixels. */
    uint64_t frame_pixels = (uint64_t)desc->Width * (uint64_t)desc->Height;
    if (desc->Left < 0 || desc->Top < 0 || desc->Width <= 0 || desc->Height <= 0 ||
        frame_pixels > 4 * (uint64_t)width * (uint64_t)height + 65536) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt GIF (frame 1 is %dx%d at %d,%d on a %dx%d screen)", desc->Width,
                  desc->Height, desc->Left, desc->Top, width, height);
        goto fail;
    }
    canvas = calloc(stride * (size_t)height, 1);
    line = malloc((size_t)desc->Width);
    if (canvas == NULL || line == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  width, height);
        ret = -ENOMEM;
        goto fail;
    }
    /* Interlaced rows come in four passes: every 8th from 0, every 8th
     * from 4, every 4th from 2, every 2nd from 1 (GIF89a appendix E). */
    static const int pass_start[4] = {0, 4, 2, 1};
    static const int pass_step[4] = {8, 8, 4, 2};
    int passes = desc->Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int start = desc->Interlace ? pass_start[pass] : 0;
        int step = desc->Interlace ? pass_step[pass] : 1;
        for (int row = start; row < desc->Height; row += step) {
            if (img__cancelled(limits)) {
                img__fail(kind, IMG_ERROR_CANCELLED, err, err_size, "cancelled");
                ret = -ECANCELED;
                goto fail;
            }
            if (DGifGetLine(gif, line, desc->Width) == GIF_ERROR) {
                error = gif->Error;
                goto fail_library;
            }
            int y = desc->Top + row;
            if (y >= height)
                continue;
            uint8_t *dst = canvas + (size_t)y * stride;
            for (int x = 0; x < desc->Width && desc->Left + x < width; x++) {
                int index = line[x];
                if (index == frame.transparent || index >= colours->ColorCount)
                    continue;
                const GifColorType *c = &colours->Colors[index];
                uint8_t *px = dst + 3 * (size_t)(desc->Left + x);
                px[0] = c->Red;
                px[1] = c->Green;
                px[2] = c->Blue;
            }
        }
    }
    DGifCloseFile(gif, &error);
    gif = NULL;
    free(line);
    line = NULL;
    ret = img__raster_deliver(canvas, stride, 3, width, height, 1, channels, out);
    if (ret < 0)
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  width, height);
    free(canvas);
    return ret;

fail_library:
    /* giflib's EOF_TOO_SOON is the LZW end code before the last pixel: a
     * corrupt stream, unless the body ran out first. */
    if (reader.cut || error == D_GIF_ERR_READ_FAILED) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                  "truncated GIF (body ends after %zu bytes)", size);
    } else if (error == D_GIF_ERR_NOT_ENOUGH_MEM) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory (giflib)");
        ret = -ENOMEM;
    } else {
        const char *message = GifErrorString(error);
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt GIF (giflib: %s)",
                  message != NULL ? message : "unknown error");
    }
fail:
    if (gif != NULL)
        DGifCloseFile(gif, &error);
    free(line);
    free(canvas);
    return ret;
}
