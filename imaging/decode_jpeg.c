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
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdatomic.h>
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
 * blocks of its components: a few kilobytes of hostile scans cost minutes of
 * CPU (issue 10 item 4: 500 AC-only scans, 31 s). Two limits, checked from
 * libjpeg's progress monitor as each scan starts: the scan count (libjpeg-
 * turbo's tools have one: djpeg -maxscans, TJPARAM_SCANLIMIT), and the
 * blocks all scans visit, per block of the image (a scan over one
 * component of a 4:2:0 file visits 2/3 of the blocks), which bounds the
 * decode's CPU to a constant times that of a one-scan decode whatever the
 * scans look like. Defaults IMG_JPEG_MAX_SCANS and IMG_JPEG_MAX_SCAN_WORK. */

/* libjpeg's allocations that do not scale with the image: the decompress
 * object's pools, quantisation and Huffman tables, the range-limit and
 * colour tables (measured: under 100 KiB; see test_decode_memory.c). */
#define JPEG_FIXED_BYTES ((size_t)192 << 10)

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
    enum img_error_kind kind; /* set with the message for our own jumps */
    char message[JMSG_LENGTH_MAX + 64];

    /* The decode's inputs and what it allocates (freed by the caller). */
    const uint8_t *data;
    size_t size;
    int channels;
    int orientation;
    const struct img_decode_limits *limits;
    struct img_buf *out;
    size_t out_bytes; /* `out` and our rows: the part of the budget not libjpeg's */
    /* Progress: the scan last seen and the blocks the scans so far visit. */
    int scan_seen;
    uint64_t blocks;
    uint64_t scan_work;
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

/* Called by libjpeg for every iMCU row it reads (also while
 * jpeg_start_decompress swallows all scans of a progressive file) and every
 * call that returns rows: often enough for the cancel flag to end a decode
 * within milliseconds. */
static void on_progress(j_common_ptr common)
{
    struct jpeg_session *session = common->client_data;
    struct jpeg_decompress_struct *cinfo = &session->cinfo;
    const struct img_decode_limits *limits = session->limits;
    if (limits == NULL)
        return; /* header only */
    if (limits->cancel != NULL && atomic_load_explicit(limits->cancel, memory_order_relaxed)) {
        session->kind = IMG_ERROR_CANCELLED;
        snprintf(session->message, sizeof(session->message), "cancelled");
        longjmp(session->jump, 1);
    }
    if (cinfo->input_scan_number == session->scan_seen)
        return;
    /* A new scan has started: its header is read, cur_comp_info names its
     * components. */
    session->scan_seen = cinfo->input_scan_number;
    if ((unsigned)cinfo->input_scan_number > limits->max_scans) {
        session->kind = IMG_ERROR_TOO_MUCH_WORK;
        snprintf(session->message, sizeof(session->message),
                 "too many progressive scans: %d (limit %u)", cinfo->input_scan_number,
                 limits->max_scans);
        longjmp(session->jump, 1);
    }
    for (int i = 0; i < cinfo->comps_in_scan; i++) {
        const jpeg_component_info *component = cinfo->cur_comp_info[i];
        session->scan_work += (uint64_t)component->width_in_blocks * component->height_in_blocks;
    }
    if (session->scan_work > (uint64_t)limits->max_scan_work * session->blocks) {
        session->kind = IMG_ERROR_TOO_MUCH_WORK;
        snprintf(session->message, sizeof(session->message),
                 "too much progressive scan work: %d scans visit %" PRIu64 " blocks of %" PRIu64
                 " (limit %u passes)",
                 cinfo->input_scan_number, session->scan_work, session->blocks,
                 limits->max_scan_work);
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

/* The header, the limits on it and jpeg_start_decompress: everything
 * before the first row, the same for the whole-image decode and the row
 * source. Must be called after setjmp. Returns 0 or -EFBIG (message in the
 * session). */
static int begin_decode(struct jpeg_session *session)
{
    session_start(session);
    struct jpeg_decompress_struct *cinfo = &session->cinfo;
    jpeg_read_header(cinfo, TRUE);

    /* The limit again, on libjpeg's own reading of the header and before
     * jpeg_start_decompress allocates anything image-sized. */
    uint64_t pixels = (uint64_t)cinfo->image_width * cinfo->image_height;
    if (pixels > session->limits->max_pixels) {
        session->kind = IMG_ERROR_TOO_LARGE;
        snprintf(session->message, sizeof(session->message), "image is %ux%u, over the limit",
                 cinfo->image_width, cinfo->image_height);
        return -EFBIG;
    }
    for (int i = 0; i < cinfo->num_components; i++)
        session->blocks +=
            (uint64_t)cinfo->comp_info[i].width_in_blocks * cinfo->comp_info[i].height_in_blocks;
    /* What libjpeg may hold: the budget less our output and rows. Only
     * its virtual arrays (the whole-image coefficient buffer) are checked
     * against it, when jpeg_start_decompress realises them; over it,
     * libjpeg asks for a backing store, which this build has none of
     * (JERR_NO_BACKING_STORE): the decode fails before allocating it. */
    if (session->limits->max_bytes > 0) {
        size_t ours = session->out_bytes;
        size_t left = session->limits->max_bytes > ours ? session->limits->max_bytes - ours : 1;
        cinfo->mem->max_memory_to_use = left > LONG_MAX ? LONG_MAX : (long)left;
    }

    bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    if (cmyk)
        cinfo->out_color_space = JCS_CMYK; /* libjpeg turns YCCK into CMYK */
    else
        cinfo->out_color_space = session->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    cinfo->dct_method = JDCT_ISLOW; /* the exact one (also libjpeg's default) */
    jpeg_start_decompress(cinfo);
    return 0;
}

/* Returns 0, -1 after a libjpeg error (message in the session), -EFBIG or
 * -ENOMEM (message in the session too). */
static int run_decode(struct jpeg_session *session)
{
    if (setjmp(session->jump))
        return -1;
    int begun = begin_decode(session);
    if (begun < 0)
        return begun;
    struct jpeg_decompress_struct *cinfo = &session->cinfo;
    bool cmyk = cinfo->out_color_space == JCS_CMYK;

    int width = (int)cinfo->output_width;
    int height = (int)cinfo->output_height;
    bool turned = session->orientation >= 5;
    int ret = img_buf_init(session->out, turned ? height : width, turned ? width : height,
                           session->channels);
    if (ret < 0) {
        session->kind = IMG_ERROR_OUT_OF_MEMORY;
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
            session->kind = IMG_ERROR_OUT_OF_MEMORY;
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

/* The item's failure from a decode that returned `ret` (0, -1 after a
 * jump, or a code with the message in the session): the kind and message,
 * the same for the whole-image decode and the row source. */
static int report_failure(struct jpeg_session *session, int ret, int width, int height,
                          enum img_error_kind *kind, char *err, size_t err_size)
{
    const struct img_decode_limits *limits = session->limits;
    size_t size = session->size;
    if (ret == -1) {
        ret = -EINVAL;
        if (session->kind == IMG_ERROR_CANCELLED) {
            img__fail(kind, session->kind, err, err_size, "cancelled");
            ret = -ECANCELED;
        } else if (session->kind == IMG_ERROR_TOO_MUCH_WORK) {
            img__fail(kind, session->kind, err, err_size, "%s", session->message);
        } else if (session->errors.msg_code == JERR_NO_BACKING_STORE) {
            img__fail(kind, IMG_ERROR_OVER_BUDGET, err, err_size,
                      "needs more than the %zu MiB memory budget (libjpeg's coefficient buffer)",
                      limits->max_bytes >> 20);
            ret = -ENOMEM;
        } else if (session->errors.msg_code == JERR_OUT_OF_MEMORY) {
            img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size,
                      "out of memory decoding a %dx%d image", width, height);
            ret = -ENOMEM;
        } else if (session->truncated) {
            img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size,
                      "truncated JPEG (no end-of-image marker after %zu bytes)", size);
        } else {
            img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt JPEG (libjpeg: %s)",
                      session->message);
        }
    } else if (ret < 0) {
        img__fail(kind, session->kind, err, err_size, "%s", session->message);
    }
    return ret;
}

int img__jpeg_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size)
{
    struct jpeg_session session;
    session_init(&session, data, size);
    session.channels = channels;
    session.orientation = header->info.orientation;
    session.limits = limits;
    session.out = out;
    session.out_bytes =
        (size_t)header->info.width * (size_t)header->info.height * (size_t)channels +
        7 * (size_t)header->stored_width;
    memset(out, 0, sizeof(*out));

    int ret = run_decode(&session);
    ret =
        report_failure(&session, ret, header->info.width, header->info.height, kind, err, err_size);
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

/* From libjpeg's reading of the header (jdinput.c's initial_setup has
 * sized every component in blocks by the first SOS): the whole-image
 * coefficient buffer jdcoefct.c requests when the file has more than one
 * scan (one JBLOCK, 128 bytes, per block, each component's blocks rounded
 * up to whole MCUs), and a bound on the rest (jdmainct.c's row groups with
 * their context rows, the upsampler's rows, tables and pools), measured in
 * tests/unit/test_decode_memory.c. */
static void note_header(const struct jpeg_decompress_struct *cinfo, struct img__header *header)
{
    header->components = cinfo->num_components;
    header->multi_scan = cinfo->progressive_mode || cinfo->comps_in_scan < cinfo->num_components;
    size_t coef = 0;
    uint64_t blocks = 0;
    size_t padded_width = 0;
    for (int i = 0; i < cinfo->num_components; i++) {
        const jpeg_component_info *c = &cinfo->comp_info[i];
        size_t w = ((size_t)c->width_in_blocks + (size_t)c->h_samp_factor - 1) /
                   (size_t)c->h_samp_factor * (size_t)c->h_samp_factor;
        size_t h = ((size_t)c->height_in_blocks + (size_t)c->v_samp_factor - 1) /
                   (size_t)c->v_samp_factor * (size_t)c->v_samp_factor;
        coef += w * h * sizeof(JBLOCK);
        blocks += (uint64_t)c->width_in_blocks * c->height_in_blocks;
        padded_width += (size_t)c->width_in_blocks * DCTSIZE * (size_t)c->v_samp_factor;
    }
    header->jpeg_coef_bytes = header->multi_scan ? coef : 0;
    header->jpeg_blocks = blocks;
    size_t max_v = (size_t)cinfo->max_v_samp_factor;
    size_t width = (size_t)cinfo->image_width + 64;
    header->jpeg_work_bytes = JPEG_FIXED_BYTES + padded_width * 12 +
                              width * (size_t)cinfo->num_components * (2 * max_v + 2);
}

int img__jpeg_check_header(const uint8_t *data, size_t size, struct img__header *header,
                           enum img_error_kind *kind, char *err, size_t err_size)
{
    struct jpeg_session session;
    session_init(&session, data, size);
    int ret = run_read_header(&session);
    if (ret < 0) {
        if (session.truncated)
            img__fail(kind, IMG_ERROR_TRUNCATED, err, err_size, "truncated JPEG header (%zu bytes)",
                      size);
        else
            img__fail(kind, IMG_ERROR_CORRUPT, err, err_size, "corrupt JPEG header (libjpeg: %s)",
                      session.message);
        ret = -EINVAL;
    } else {
        note_header(&session.cinfo, header);
    }
    session_finish(&session);
    return ret;
}

/* ---- rows on demand (rows.c) ------------------------------------------- */

/* The session of a decode that hands out its rows as the caller asks for
 * them, and the limits it holds itself to (a copy: the caller's are gone
 * once img_decode_rows_create returns). Every jump lands in a function of
 * this file that has its own setjmp, while libjpeg's frames are still
 * live: run_rows_begin, then run_rows_read for each batch of rows. */
struct img__jpeg_rows {
    struct jpeg_session session;
    struct img_decode_limits limits;
    int width;
    int height;
    uint8_t *read_dst;
    size_t read_stride;
    int read_count;
};

static int run_rows_begin(struct img__jpeg_rows *rows)
{
    if (setjmp(rows->session.jump))
        return -1;
    return begin_decode(&rows->session);
}

/* The next `count` rows into `dst` (rows `stride` apart). After the last
 * row it reads on to the end of the file (jpeg_finish_decompress), so a
 * file cut or corrupt after its last row fails here, as in run_decode.
 * Called from run_rows_read only (libjpeg's errors jump there). */
static int read_rows(struct img__jpeg_rows *rows, uint8_t *dst, size_t stride, int count)
{
    struct jpeg_decompress_struct *cinfo = &rows->session.cinfo;
    while (count > 0) {
        JSAMPROW batch[JPEG_BATCH_ROWS];
        int wanted = count < JPEG_BATCH_ROWS ? count : JPEG_BATCH_ROWS;
        for (int i = 0; i < wanted; i++)
            batch[i] = dst + (size_t)i * stride;
        JDIMENSION got = jpeg_read_scanlines(cinfo, batch, (JDIMENSION)wanted);
        if (got == 0) {
            /* Only past the last row, which rows.c never asks for. */
            snprintf(rows->session.message, sizeof(rows->session.message), "no rows left");
            return -1;
        }
        dst += (size_t)got * stride;
        count -= (int)got;
    }
    if (cinfo->output_scanline == cinfo->output_height)
        jpeg_finish_decompress(cinfo);
    return 0;
}

/* The request rides in the struct, not in this frame's arguments, which a
 * longjmp may leave indeterminate. */
static int run_rows_read(struct img__jpeg_rows *rows)
{
    if (setjmp(rows->session.jump))
        return -1;
    return read_rows(rows, rows->read_dst, rows->read_stride, rows->read_count);
}

int img__jpeg_rows_create(const uint8_t *data, size_t size, const struct img__header *header,
                          const struct img_decode_limits *limits, struct img__jpeg_rows **out,
                          enum img_error_kind *kind, char *err, size_t err_size)
{
    *out = NULL;
    struct img__jpeg_rows *rows = malloc(sizeof(*rows));
    if (rows == NULL) {
        img__fail(kind, IMG_ERROR_OUT_OF_MEMORY, err, err_size, "out of memory");
        return -ENOMEM;
    }
    session_init(&rows->session, data, size);
    rows->limits = *limits;
    rows->session.channels = 1;
    rows->session.orientation = 1;
    rows->session.limits = &rows->limits;
    /* libjpeg's share of the budget as for the whole-image decode (which
     * this row source never exceeds), so its limit fails the same files. */
    rows->session.out_bytes =
        (size_t)header->info.width * (size_t)header->info.height + 7 * (size_t)header->stored_width;
    rows->width = header->info.width;
    rows->height = header->info.height;
    int ret = run_rows_begin(rows);
    if (ret == 0 && rows->session.cinfo.out_color_space != JCS_GRAYSCALE) {
        img__jpeg_rows_destroy(rows);
        return -ENOTSUP; /* CMYK: the caller decodes the whole image */
    }
    ret = report_failure(&rows->session, ret, rows->width, rows->height, kind, err, err_size);
    if (ret < 0) {
        img__jpeg_rows_destroy(rows);
        return ret;
    }
    rows->width = (int)rows->session.cinfo.output_width;
    rows->height = (int)rows->session.cinfo.output_height;
    *out = rows;
    return 0;
}

int img__jpeg_rows_read(struct img__jpeg_rows *rows, uint8_t *dst, size_t stride, int count,
                        enum img_error_kind *kind, char *err, size_t err_size)
{
    rows->read_dst = dst;
    rows->read_stride = stride;
    rows->read_count = count;
    int ret = run_rows_read(rows);
    return report_failure(&rows->session, ret, rows->width, rows->height, kind, err, err_size);
}

void img__jpeg_rows_destroy(struct img__jpeg_rows *rows)
{
    if (rows == NULL)
        return;
    session_finish(&rows->session);
    free(rows);
}

void img__jpeg_rows_size(const struct img__jpeg_rows *rows, int *width, int *height)
{
    *width = rows->width;
    *height = rows->height;
}
