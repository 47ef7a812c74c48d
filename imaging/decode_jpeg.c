/* JPEG decoding with libjpeg-turbo (SIMD, maintained with security fixes;
 * stb_image's JPEG decoder in Debian 12 is v2.27, which still has
 * CVE-2022-28041 and CVE-2022-28042, fixed in 2.28), turned to the EXIF
 * orientation row by row as it decodes (the EXIF parser is in decode.c).
 *
 * libjpeg reports errors by calling error_exit, which must not return: it
 * formats the message into the session and longjmps back to the setjmp in
 * run_decode(). As in encode.c, the setjmp lives in a function of its own and
 * everything that outlives the jump is in struct jpeg_session, so no local
 * "modified between setjmp and longjmp" is read afterwards (C17 7.13.2.1).
 *
 * Luma: when the operator needs one channel, libjpeg decodes straight to
 * grayscale (JCS_GRAYSCALE). For the usual YCbCr file that is the file's own
 * Y channel, with no chroma decoding, upsampling or colour conversion at all
 * (what cv2.imread(path, IMREAD_GRAYSCALE) returns too); for an RGB-coded
 * file it is libjpeg's BT.601 conversion. It is not img_rgb_to_luma of the
 * RGB decode (that differs by a level or two where chroma changes). CMYK and
 * YCCK files go through RGB (Adobe's inverted CMYK, as Photoshop writes it
 * and as stb_image and OpenCV read it) and img_rgb_to_luma. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "imaging.h"
#include "imaging_private.h"

/* A progressive JPEG may have any number of scans, each a pass over the
 * whole coefficient buffer: a few kilobytes of hostile scans cost minutes of
 * CPU. libjpeg-turbo's own tools offer a scan limit for this (djpeg
 * -maxscans, TurboJPEG's TJPARAM_SCANLIMIT, 500 in its fuzzers); real
 * encoders write 10 or fewer. */
#define JPEG_MAX_SCANS 500

/* Rows per jpeg_read_scanlines call when decoding straight into the output. */
#define JPEG_BATCH_ROWS 16

struct jpeg_session {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr errors;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    bool created;
    /* Why the jump happened. */
    bool truncated;
    bool too_many_scans;
    char message[JMSG_LENGTH_MAX];

    /* The decode's inputs and what it allocates (freed by the caller). */
    const uint8_t *data;
    size_t size;
    int channels;
    int orientation;
    uint64_t max_pixels;
    struct img_buf *out;
    uint8_t *row;       /* one decoded row, when it cannot go straight to `out` */
    uint8_t *converted; /* that row as `channels` samples (CMYK files) */
};

static void on_error_exit(j_common_ptr common)
{
    struct jpeg_session *session = common->client_data;
    (*common->err->format_message)(common, session->message);
    longjmp(session->jump, 1);
}

/* Warnings (level -1) about the data itself end the decode, as TurboJPEG's
 * "stop on warning" does: a truncated or corrupt file decodes to garbage (or
 * to grey after a fake end of image) that we would otherwise write out as a
 * plausible edge map. Warnings that leave the pixels intact are ignored:
 * stray bytes between markers (common in camera files), an unknown JFIF
 * version or Adobe transform, a bad ICC profile, an odd progression. Nothing
 * is printed: this runs on workers. */
static void on_emit_message(j_common_ptr common, int level)
{
    if (level >= 0)
        return; /* trace messages */
    struct jpeg_session *session = common->client_data;
    switch (common->err->msg_code) {
    case JWRN_JPEG_EOF:
        session->truncated = true;
        /* fall through */
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
        (*common->err->format_message)(common, session->message);
        longjmp(session->jump, 1);
    default:
        break;
    }
}

static void on_output_message(j_common_ptr common)
{
    (void)common;
}

static void on_progress(j_common_ptr common)
{
    struct jpeg_session *session = common->client_data;
    if (session->cinfo.input_scan_number > JPEG_MAX_SCANS) {
        session->too_many_scans = true;
        snprintf(session->message, sizeof(session->message), "more than %d scans", JPEG_MAX_SCANS);
        longjmp(session->jump, 1);
    }
}

/* Scatters one stored row into the oriented output. For 5-8 every pixel
 * lands in another output row, but consecutive stored rows write adjacent
 * bytes of the same output rows, so those lines are still cached. */
static void place_row(const uint8_t *row, int width, int channels, uint8_t *start, ptrdiff_t step)
{
    if (channels == 1) {
        for (int x = 0; x < width; x++)
            start[(ptrdiff_t)x * step] = row[x];
    } else {
        for (int x = 0; x < width; x++)
            memcpy(start + (ptrdiff_t)x * step, row + 3 * (size_t)x, 3);
    }
}

/* Adobe's CMYK as Photoshop writes it is inverted (0 = full ink), so the
 * RGB is simply C·K/255 etc.; stb_image's exact rounding of x·y/255. */
static inline uint8_t mul_255(unsigned x, unsigned y)
{
    unsigned t = x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

static void cmyk_to_rgb(const uint8_t *restrict cmyk, uint8_t *restrict rgb, int width)
{
    for (int x = 0; x < width; x++) {
        unsigned k = cmyk[4 * x + 3];
        rgb[3 * x] = mul_255(cmyk[4 * x], k);
        rgb[3 * x + 1] = mul_255(cmyk[4 * x + 1], k);
        rgb[3 * x + 2] = mul_255(cmyk[4 * x + 2], k);
    }
}

/* ---- the decode -------------------------------------------------------- */

static void session_init(struct jpeg_session *session, const uint8_t *data, size_t size)
{
    memset(session, 0, sizeof(*session));
    session->data = data;
    session->size = size;
}

/* jpeg_create_decompress and the source, error and progress hooks. Must be
 * called after setjmp (creation can fail with error_exit). */
static void session_start(struct jpeg_session *session)
{
    session->cinfo.err = jpeg_std_error(&session->errors);
    session->errors.error_exit = on_error_exit;
    session->errors.emit_message = on_emit_message;
    session->errors.output_message = on_output_message;
    session->cinfo.client_data = session;
    jpeg_create_decompress(&session->cinfo);
    session->created = true;
    session->progress.progress_monitor = on_progress;
    session->cinfo.progress = &session->progress;
    jpeg_mem_src(&session->cinfo, session->data, (unsigned long)session->size);
}

static void session_finish(struct jpeg_session *session)
{
    if (session->created)
        jpeg_destroy_decompress(&session->cinfo);
    free(session->row);
    free(session->converted);
    session->created = false;
    session->row = session->converted = NULL;
}

/* Returns 0, -1 after a libjpeg error (message in the session), -EFBIG or
 * -ENOMEM (message in the session too). */
static int run_decode(struct jpeg_session *session)
{
    if (setjmp(session->jump))
        return -1;

    session_start(session);
    struct jpeg_decompress_struct *cinfo = &session->cinfo;
    jpeg_read_header(cinfo, TRUE);

    /* The limit again, on libjpeg's own reading of the header and before
     * jpeg_start_decompress allocates anything image-sized. */
    uint64_t pixels = (uint64_t)cinfo->image_width * cinfo->image_height;
    if (pixels > session->max_pixels) {
        snprintf(session->message, sizeof(session->message), "image is %ux%u, over the limit",
                 cinfo->image_width, cinfo->image_height);
        return -EFBIG;
    }

    bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    if (cmyk)
        cinfo->out_color_space = JCS_CMYK; /* libjpeg turns YCCK into CMYK */
    else
        cinfo->out_color_space = session->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    cinfo->dct_method = JDCT_ISLOW; /* the exact one (also libjpeg's default) */
    jpeg_start_decompress(cinfo);

    int width = (int)cinfo->output_width;
    int height = (int)cinfo->output_height;
    bool turned = session->orientation >= 5;
    int ret = img_buf_init(session->out, turned ? height : width, turned ? width : height,
                           session->channels);
    if (ret < 0) {
        snprintf(session->message, sizeof(session->message), "out of memory for a %dx%d image",
                 width, height);
        return ret;
    }

    if (!cmyk && session->orientation == 1) {
        /* Straight into the output rows. */
        while (cinfo->output_scanline < cinfo->output_height) {
            JSAMPROW rows[JPEG_BATCH_ROWS];
            int first = (int)cinfo->output_scanline;
            int count = height - first < JPEG_BATCH_ROWS ? height - first : JPEG_BATCH_ROWS;
            for (int i = 0; i < count; i++)
                rows[i] = session->out->data + (size_t)(first + i) * session->out->stride;
            jpeg_read_scanlines(cinfo, rows, (JDIMENSION)count);
        }
    } else {
        size_t components = (size_t)cinfo->output_components;
        session->row = malloc((size_t)width * components);
        session->converted = cmyk ? malloc((size_t)width * 3) : NULL;
        if (session->row == NULL || (cmyk && session->converted == NULL)) {
            snprintf(session->message, sizeof(session->message), "out of memory");
            return -ENOMEM;
        }
        while (cinfo->output_scanline < cinfo->output_height) {
            int y = (int)cinfo->output_scanline;
            JSAMPROW row = session->row;
            jpeg_read_scanlines(cinfo, &row, 1);
            const uint8_t *pixels_row = session->row;
            if (cmyk) {
                cmyk_to_rgb(session->row, session->converted, width);
                pixels_row = session->converted;
                if (session->channels == 1) {
                    /* The CMYK row is consumed: its buffer takes the luma. */
                    img_rgb_to_luma(session->converted, (size_t)width * 3, session->row,
                                    (size_t)width, width, 1);
                    pixels_row = session->row;
                }
            }
            ptrdiff_t step;
            uint8_t *start =
                img__orient_row_start(session->out, session->orientation, width, height, y, &step);
            place_row(pixels_row, width, session->channels, start, step);
        }
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

int img__jpeg_decode(const uint8_t *data, size_t size, int channels, int orientation,
                     uint64_t max_pixels, struct img_buf *out, char *err, size_t err_size)
{
    struct jpeg_session session;
    session_init(&session, data, size);
    session.channels = channels;
    session.orientation = orientation;
    session.max_pixels = max_pixels;
    session.out = out;
    memset(out, 0, sizeof(*out));

    int ret = run_decode(&session);
    if (ret == -1) {
        if (session.truncated)
            img__set_err(err, err_size, "truncated JPEG (no end-of-image marker after %zu bytes)",
                         size);
        else if (session.too_many_scans)
            img__set_err(err, err_size, "unsupported JPEG (%s)", session.message);
        else
            img__set_err(err, err_size, "corrupt JPEG (libjpeg: %s)", session.message);
        ret = -EINVAL;
    } else if (ret < 0) {
        img__set_err(err, err_size, "%s", session.message);
    }
    if (ret < 0)
        img_buf_finish(out);
    session_finish(&session);
    return ret;
}

static int run_read_header(struct jpeg_session *session)
{
    if (setjmp(session->jump))
        return -1;
    session_start(session);
    jpeg_read_header(&session->cinfo, TRUE);
    return 0;
}

int img__jpeg_check_header(const uint8_t *data, size_t size, char *err, size_t err_size)
{
    struct jpeg_session session;
    session_init(&session, data, size);
    int ret = run_read_header(&session);
    if (ret < 0) {
        if (session.truncated)
            img__set_err(err, err_size, "truncated JPEG header (%zu bytes)", size);
        else
            img__set_err(err, err_size, "corrupt JPEG header (libjpeg: %s)", session.message);
        ret = -EINVAL;
    }
    session_finish(&session);
    return ret;
}
