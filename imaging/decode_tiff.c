/* TIFF with libtiff (Debian's libtiff-dev 4.5): the first page (the first
 * IFD; later directories are never read), strips or tiles, contiguous or
 * separate planes, 1 to 16 bits per sample, gray, palette, RGB, YCbCr
 * (JPEG-in-TIFF too) and CMYK: whatever libtiff's TIFFRGBAImage reads,
 * which is what TIFFRGBAImageOK accepts; the rest (floating point, 32-bit
 * samples, LogLuv) is refused as unsupported with libtiff's reason. 16-bit
 * samples become 8 as libtiff rounds them, (v * 255 + 32767) / 65535.
 *
 * Guards: libtiff reads only the first IFD's tags for the probe (no strip
 * data); the size and the budget are checked on them; the strip or tile
 * buffer libtiff will allocate is in the estimate and every single
 * allocation of libtiff is capped (TIFFOpenOptionsSetMaxSingleMemAlloc) at
 * the budget; errors go to a handler of this decode (the ExtR handlers, not
 * libtiff's global ones: workers decode at once); the Orientation tag
 * turns the image (rows are read in stored order, then turned as EXIF
 * orientations are); the cancel flag is polled between bands of strips or
 * tiles. */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "imaging.h"
#include "imaging_private.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "decode_tiff.c reads TIFFRGBAImage's ABGR words as R, G, B, A bytes"
#endif

/* libtiff's own state besides the strip or tile buffer: the directory, its
 * tag arrays (strip offsets and counts: 16 bytes per strip), codec state,
 * TIFFRGBAImage's tables (the 16 to 8-bit map, YCbCr tables). */
#define TIFF_LIBRARY_BYTES ((size_t)512 << 10)

struct tiff_session {
    const uint8_t *data;
    size_t size;
    uint64_t offset;
    char message[200];
};

static tmsize_t on_tiff_read(thandle_t handle, void *buffer, tmsize_t length)
{
    struct tiff_session *session = handle;
    if (length < 0 || session->offset >= session->size)
        return 0;
    size_t left = session->size - (size_t)session->offset;
    size_t want = (size_t)length < left ? (size_t)length : left;
    memcpy(buffer, session->data + session->offset, want);
    session->offset += want;
    return (tmsize_t)want;
}

static tmsize_t on_tiff_write(thandle_t handle, void *buffer, tmsize_t length)
{
    (void)handle;
    (void)buffer;
    (void)length;
    return -1;
}

static toff_t on_tiff_seek(thandle_t handle, toff_t offset, int whence)
{
    struct tiff_session *session = handle;
    uint64_t base = whence == SEEK_CUR ? session->offset : whence == SEEK_END ? session->size : 0;
    session->offset = base + offset;
    return session->offset;
}

static int on_tiff_close(thandle_t handle)
{
    (void)handle;
    return 0;
}

static toff_t on_tiff_size(thandle_t handle)
{
    struct tiff_session *session = handle;
    return session->size;
}

/* The body itself as libtiff's "mapped file": strips are read in place. */
static int on_tiff_map(thandle_t handle, void **base, toff_t *size)
{
    struct tiff_session *session = handle;
    *base = (void *)session->data;
    *size = session->size;
    return 1;
}

static void on_tiff_unmap(thandle_t handle, void *base, toff_t size)
{
    (void)handle;
    (void)base;
    (void)size;
}

/* The first error is kept (later ones are consequences), printable only:
 * libtiff quotes tag names and values from the file. */
static int on_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)module;
    struct tiff_session *session = user;
    if (session->message[0] != '\0')
        return 1;
    vsnprintf(session->message, sizeof(session->message), fmt, ap);
    for (char *p = session->message; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    }
    return 1;
}

static int on_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1; /* unknown tags and the like: nothing printed on workers */
}

static TIFF *open_tiff(struct tiff_session *session, size_t max_alloc)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (opts == NULL)
        return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_tiff_error, session);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, session);
    if (max_alloc > 0)
        TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)max_alloc);
    /* "r": read; "M" would forbid the map; "h" would skip the first IFD. */
    TIFF *tif = TIFFClientOpenExt("body", "r", session, on_tiff_read, on_tiff_write, on_tiff_seek,
                                  on_tiff_close, on_tiff_size, on_tiff_map, on_tiff_unmap, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

/* The first IFD's offset (classic TIFF: 32 bits at 4), past the body's
 * end in a download cut before the directory (writers often put it last). */
static bool ifd_past_end(const struct tiff_session *session)
{
    const uint8_t *p = session->data;
    if (session->size < 8)
        return true;
    uint32_t offset =
        p[0] == 'I'
            ? (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24
            : (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | (uint32_t)p[7];
    return (uint64_t)offset + 2 > session->size;
}

static void tiff_fail(const struct tiff_session *session, enum img_error_kind *kind, char *err,
                      size_t err_size)
{
    const char *message = session->message[0] != '\0' ? session->message : "unreadable";
    /* libtiff reads past the end as a short read ("Read error", "Cannot
     * read"): the body is cut. */
    if (ifd_past_end(session) || strstr(message, "Read error") != NULL ||
        strstr(message, "Cannot read") != NULL || strstr(message, "past end") != NULL)
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated TIFF (libtiff: %s)",
                  message);
    else
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt TIFF (libtiff: %s)", message);
}

int img__tiff_probe(const uint8_t *data, size_t size, struct img__header *header,
                    enum img_error_kind *kind, char *err, size_t err_size)
{
    if (size < 8) {
        img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated TIFF header (%zu bytes)",
                  size);
        return -EINVAL;
    }
    struct tiff_session session = {data, size, 0, ""};
    TIFF *tif = open_tiff(&session, (size_t)64 << 20);
    if (tif == NULL) {
        tiff_fail(&session, kind, err, err_size);
        return -EINVAL;
    }
    int ret = -EINVAL;
    char reason[1024] = "";
    if (!TIFFRGBAImageOK(tif, reason)) {
        for (char *p = reason; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        }
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported TIFF (libtiff: %.160s)", reason);
        goto done;
    }
    uint32_t width = 0, height = 0;
    uint16_t orientation = 1, bps = 8, spp = 1, planar = PLANARCONFIG_CONTIG;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height);
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    if (orientation < 1 || orientation > 8)
        orientation = 1;
    ret = img__set_size(header, IMG_FORMAT_TIFF, width, height, orientation, kind, err, err_size);
    if (ret < 0)
        goto done;
    header->bit_depth = bps;
    header->info.channels = spp > 4 ? 4 : spp;
    /* The strip or tile buffer TIFFRGBAImageGet allocates (one per plane
     * when separate), from the tags. */
    uint64_t chunk = TIFFIsTiled(tif) ? (uint64_t)TIFFTileSize64(tif) : TIFFStripSize64(tif);
    if (planar == PLANARCONFIG_SEPARATE)
        chunk *= spp < 4 ? spp : 4;
    size_t pixels = (size_t)width * (size_t)height;
    if (chunk > IMG_MAX_PIXELS * 8) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size,
                  "corrupt TIFF (a strip or tile of %llu bytes)", (unsigned long long)chunk);
        ret = -EINVAL;
        goto done;
    }
    /* The RGBA raster (4 B/px), the strip or tile buffer, libtiff. */
    header->raster_work_bytes = 4 * pixels + (size_t)chunk + TIFF_LIBRARY_BYTES;
    ret = 0;
done:
    TIFFClose(tif);
    return ret;
}

int img__tiff_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    int width = header->stored_width;
    int height = header->stored_height;
    struct tiff_session session = {data, size, 0, ""};
    TIFF *tif = open_tiff(&session, limits->max_bytes);
    if (tif == NULL) {
        tiff_fail(&session, kind, err, err_size);
        return -EINVAL;
    }
    int ret = -EINVAL;
    uint32_t *raster = NULL;
    TIFFRGBAImage image;
    char reason[1024] = "";
    if (!TIFFRGBAImageBegin(&image, tif, 0, reason)) {
        for (char *p = reason; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        }
        img__fail(kind, IMG_ERROR_UNSUPPORTED_FORMAT, err, err_size,
                  "unsupported TIFF (libtiff: %.160s)", reason);
        goto done;
    }
    if ((int)image.width != width || (int)image.height != height) {
        img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt TIFF (size changed)");
        goto end;
    }
    /* Rows in stored order (no flip by libtiff): turned below. */
    image.req_orientation = image.orientation;
    raster = malloc((size_t)width * (size_t)height * sizeof(*raster));
    if (raster == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  width, height);
        ret = -ENOMEM;
        goto end;
    }
    /* Bands of whole strips or tiles, so that no strip is decoded twice and
     * the cancel flag is seen between them. */
    uint32_t band = 0;
    if (TIFFIsTiled(tif))
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &band);
    else
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &band);
    if (band > 0 && band < 16)
        band = (16 + band - 1) / band * band;
    if (band == 0 || band > (uint32_t)height)
        band = (uint32_t)height;
    for (uint32_t row = 0; row < (uint32_t)height; row += band) {
        if (img__cancelled(limits)) {
            img__fail(kind, IMG_ERROR_CANCELLED, err, err_size, "cancelled");
            ret = -ECANCELED;
            goto end;
        }
        uint32_t rows = (uint32_t)height - row < band ? (uint32_t)height - row : band;
        image.row_offset = (int)row;
        image.col_offset = 0;
        if (!TIFFRGBAImageGet(&image, raster + (size_t)row * (size_t)width, (uint32_t)width,
                              rows)) {
            tiff_fail(&session, kind, err, err_size);
            goto end;
        }
    }
    ret = img__raster_deliver((const uint8_t *)raster, 4 * (size_t)width, 4, width, height,
                              header->info.orientation, channels, out);
    if (ret < 0)
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory for a %dx%d image",
                  header->info.width, header->info.height);
end:
    TIFFRGBAImageEnd(&image);
done:
    TIFFClose(tif);
    free(raster);
    return ret;
}
