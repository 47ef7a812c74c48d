/* libFuzzer harness for the whole in-memory imaging path: probe, decode (to
 * one and to three channels; JPEG through libjpeg-turbo, PNG through libpng,
 * WebP through libwebp, GIF through giflib, AVIF through libavif and dav1d,
 * BMP through stb_image behind our header checks, TIFF through libtiff; the
 * seeds in corpus/decode have files of each made by its encoder,
 * make_seeds.py's make_formats),
 * every operator (Canny with options taken from the input), PNG encode, and a
 * round trip of that PNG through our own decoder; every operator also in row
 * bands (img_bands_*), and the 3x3 ones fused with the encode
 * (img_png_bands_create_fused, bands run last first: the bytes of the two
 * apart); and a one-scan JPEG decoded as rows the fused pass reads
 * (img_decode_rows_create: the bytes of the whole image's pass, or the same
 * failure, code, kind and message, as the whole image's decode).
 *
 * Beyond "no crash, no sanitizer report" it checks the contracts callers rely
 * on: a decoded image has the probed size and never more pixels than the
 * limit; every error message is one line of printable text (it reaches the
 * user's terminal, so a hostile body must not put escape sequences there);
 * and the PNG we write decodes back to exactly the pixels we encoded; and the
 * portable kernels (img__*_generic) give the same bytes as the ones the CPU
 * dispatch picks (AVX2 on most x86-64 machines), which would otherwise go
 * unfuzzed on the machine that runs the fuzzer; likewise png_rle's portable
 * code against its AVX2 paths, on the edge maps' PNGs and on the input's own
 * bytes as a deflate stream.
 *
 * Built two ways (tests/fuzz/meson.build): with clang and -fsanitize=fuzzer
 * for real fuzzing, and with any compiler plus replay_main.c to replay the
 * committed corpus as a regression test. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"
#include "png_rle.h"

/* Small enough that one input costs at most a few tens of milliseconds, large
 * enough that the pixel limit is reached by inputs the fuzzer can find. */
#define FUZZ_MAX_PIXELS (4u * 1000u * 1000u)
/* Up to this many pixels Canny's blur may take any sigma up to
 * IMG_CANNY_SIGMA_MAX (a kernel far wider than the image, the border case);
 * above it at most 4, so that a large image stays within the time budget. */
#define FUZZ_WIDE_BLUR_PIXELS (256u * 256u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_decode: %s%s%s\n", what, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    abort();
}

/* An error message is a single line of printable ASCII, NUL-terminated
 * inside its buffer. */
static void check_message(const char *err, size_t err_size)
{
    const char *end = memchr(err, '\0', err_size);
    if (end == NULL)
        fail("error message not terminated", NULL);
    for (const char *p = err; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f)
            fail("error message has a control or non-ASCII byte", err);
    }
}

/* The PNG of `edges` with png_rle's portable code only (not its AVX2
 * paths): it must be the same bytes as img_encode_png's. */
static void check_portable_png(const struct img_buf *edges, int level, const uint8_t *png,
                               size_t png_size)
{
    struct img_png_bands *bands = NULL;
    uint8_t *portable = NULL;
    size_t portable_size = 0;
    if (img_png_bands_create(edges, level, &bands) < 0)
        return; /* out of memory */
    img__png_bands_set_portable(bands, true);
    for (int i = 0; i < img_png_bands_count(bands); i++)
        if (img_png_bands_run(bands, i) < 0)
            goto out;
    if (img_png_bands_finish(bands, &portable, &portable_size) < 0)
        goto out;
    if (portable_size != png_size || memcmp(portable, png, png_size) != 0)
        fail("png_rle's portable code and its AVX2 paths give other PNGs", NULL);
out:
    free(portable);
    img_png_bands_destroy(bands);
}

/* The 3x3 operators fused with the encode (img_png_bands_create_fused):
 * the same bytes as the operator's map encoded apart. */
static void check_fused(enum img_operator op, const struct img_buf *pixels,
                        const struct img_buf *edges, int level)
{
    struct img_png_bands *bands = NULL;
    uint8_t *apart = NULL, *fused = NULL;
    size_t apart_size = 0, fused_size = 0;
    char err[256] = "";
    int rc = img_png_bands_create_fused(op, pixels, level, NULL, &bands);
    if (rc == -ENOTSUP)
        return; /* Canny, tutorial */
    if (rc < 0)
        return; /* out of memory */
    for (int i = img_png_bands_count(bands) - 1; i >= 0; i--)
        if (img_png_bands_run(bands, i) < 0)
            goto out;
    if (img_png_bands_finish(bands, &fused, &fused_size) < 0)
        goto out;
    if (img_encode_png(edges, level, &apart, &apart_size, err, sizeof(err)) < 0)
        goto out;
    if (fused_size != apart_size || memcmp(fused, apart, apart_size) != 0)
        fail("the operator fused with the encode gives another PNG", img_operator_name(op));
out:
    free(apart);
    free(fused);
    img_png_bands_destroy(bands);
}

/* png_rle on the input's own bytes (as if they were filtered rows), in calls
 * cut where `cut` says and with a symbol limit from it: the portable code
 * and the AVX2 paths give the same stream. What the stream decodes to is
 * checked through the PNG round trips. */
static void check_rle_variants(const uint8_t *data, size_t size, uint8_t cut)
{
    uint8_t *streams[2] = {NULL, NULL};
    size_t sizes[2] = {0, 0};
    size_t piece = 1 + (size_t)cut * 97;
    size_t symbol_limit = cut % 3 == 0 ? 1 + cut : 0;
    for (int portable = 0; portable < 2; portable++) {
        struct img__rle_stream s;
        if (img__rle_init(&s, 0, 64, symbol_limit) < 0)
            goto out;
        s.portable = portable == 1;
        int rc = 0;
        for (size_t at = 0; rc == 0 && at < size; at += piece) {
            size_t take = size - at < piece ? size - at : piece;
            rc = img__rle_block(&s, data + at, take, at + take == size);
        }
        if (rc == 0)
            rc = img__rle_end(&s, true);
        if (rc < 0) {
            img__rle_finish(&s);
            goto out;
        }
        streams[portable] = s.out;
        sizes[portable] = s.used;
        s.out = NULL;
        img__rle_finish(&s);
    }
    if (sizes[0] != sizes[1] || memcmp(streams[0], streams[1], sizes[0]) != 0)
        fail("png_rle's portable code and its AVX2 paths give other streams", NULL);
out:
    free(streams[0]);
    free(streams[1]);
}

static void check_round_trip(const struct img_buf *edges, int level)
{
    uint8_t *png = NULL;
    size_t png_size = 0;
    char err[256] = "";
    struct img_buf back = {0};

    if (img_encode_png(edges, level, &png, &png_size, err, sizeof(err)) < 0) {
        check_message(err, sizeof(err));
        return; /* only out of memory is a legitimate reason */
    }
    check_portable_png(edges, level, png, png_size);
    if (img_decode(png, png_size, 1, (uint64_t)edges->width * (uint64_t)edges->height, &back, err,
                   sizeof(err)) < 0)
        fail("our own PNG does not decode", err);
    if (back.width != edges->width || back.height != edges->height || back.channels != 1)
        fail("our own PNG decodes to another size", NULL);
    for (int y = 0; y < edges->height; y++) {
        if (memcmp(back.data + (size_t)y * back.stride, edges->data + (size_t)y * edges->stride,
                   (size_t)edges->width) != 0)
            fail("our own PNG decodes to other pixels", NULL);
    }
    img_buf_finish(&back);
    free(png);
}

/* Canny's options from three input bytes (the ones before the level byte;
 * the one before them splits the image into bands):
 * sigma in steps of 0.5 including 0 (no blur), thresholds over the whole
 * range with fractions (they are floored), always valid. */
static void canny_options_from(const uint8_t *data, size_t size, const struct img_buf *pixels,
                               struct img_canny_options *opts)
{
    uint8_t sigma_byte = size > 1 ? data[size - 2] : 0;
    uint8_t low_byte = size > 2 ? data[size - 3] : 0;
    uint8_t span_byte = size > 3 ? data[size - 4] : 0;
    bool small = (uint64_t)pixels->width * (uint64_t)pixels->height <= FUZZ_WIDE_BLUR_PIXELS;

    img_canny_options_init(opts);
    opts->sigma = (small ? sigma_byte % 41 : sigma_byte % 9) * 0.5;
    opts->low = low_byte * (IMG_CANNY_THRESHOLD_MAX / 255.0) - 0.25;
    if (opts->low < 0)
        opts->low = 0;
    opts->high = opts->low + span_byte * 4.0 + 0.5;
    if (opts->high > IMG_CANNY_THRESHOLD_MAX)
        opts->high = IMG_CANNY_THRESHOLD_MAX;
    char err[256] = "";
    if (img_canny_options_check(opts, err, sizeof(err)) < 0)
        fail("options built to be valid are refused", err);
}

static void check_same_pixels(const struct img_buf *dispatched, const uint8_t *generic,
                              const char *what)
{
    size_t width = (size_t)dispatched->width;
    for (int y = 0; y < dispatched->height; y++) {
        if (memcmp(dispatched->data + (size_t)y * dispatched->stride, generic + (size_t)y * width,
                   width) != 0)
            fail("the portable kernel differs from the dispatched one", what);
    }
}

/* Runs the portable variant of `op` on `pixels` (luma) and compares it with
 * `out`, what img_apply_with gave. */
static void check_generic_variant(enum img_operator op, const struct img_canny_options *canny,
                                  const struct img_buf *pixels, const struct img_buf *out)
{
    size_t width = (size_t)pixels->width;
    uint8_t *generic = malloc(width * (size_t)pixels->height);
    if (generic == NULL)
        return;
    int ret = 0;
    switch (op) {
    case IMG_OP_SOBEL:
        img__sobel_generic(pixels->data, pixels->stride, generic, width, pixels->width,
                           pixels->height);
        break;
    case IMG_OP_SCHARR:
        img__scharr_generic(pixels->data, pixels->stride, generic, width, pixels->width,
                            pixels->height);
        break;
    case IMG_OP_PREWITT:
        img__prewitt_generic(pixels->data, pixels->stride, generic, width, pixels->width,
                             pixels->height);
        break;
    case IMG_OP_CANNY:
        ret = img__canny_generic(pixels->data, pixels->stride, generic, width, pixels->width,
                                 pixels->height, canny);
        break;
    case IMG_OP_TUTORIAL: /* one variant only */
        free(generic);
        return;
    }
    if (ret == 0)
        check_same_pixels(out, generic, img_operator_name(op));
    free(generic);
}

/* The same operator in row bands (img_bands_*, how the pipeline shares one
 * large image between workers) gives the same bytes: 1 to 8 bands, cut where
 * an input byte says, run last band first so that no band can rely on
 * another having run before it. */
static void check_bands(enum img_operator op, const struct img_canny_options *canny,
                        const struct img_buf *pixels, const struct img_buf *whole, uint8_t split)
{
    struct img_buf banded = {0};
    struct img_bands *bands = NULL;
    int band_count = 1 + split % 8;

    if (band_count > pixels->height)
        band_count = pixels->height;
    if (img_bands_create(op, canny, pixels, &banded, &bands) < 0)
        goto out; /* only out of memory: the arguments are those img_apply_with took */
    for (int band = band_count - 1; band >= 0; band--) {
        int y0 = (int)((int64_t)pixels->height * band / band_count);
        int y1 = (int)((int64_t)pixels->height * (band + 1) / band_count);
        if (img_bands_run(bands, y0, y1) < 0)
            goto out;
    }
    if (img_bands_finish(bands) < 0)
        goto out;
    for (int y = 0; y < whole->height; y++) {
        if (memcmp(banded.data + (size_t)y * banded.stride, whole->data + (size_t)y * whole->stride,
                   (size_t)whole->width) != 0)
            fail("banded output differs from the whole-image one", img_operator_name(op));
    }
out:
    img_bands_destroy(bands);
    img_buf_finish(&banded);
}

/* The Gaussian blur alone (public, and the first stage of Canny): dispatched
 * and portable variants agree. */
static void check_blur(const struct img_buf *pixels, double sigma)
{
    struct img_buf blurred = {0};
    uint8_t *generic = NULL;
    size_t width = (size_t)pixels->width;

    if (sigma <= 0 || img_buf_init(&blurred, pixels->width, pixels->height, 1) < 0)
        return;
    generic = malloc(width * (size_t)pixels->height);
    if (generic == NULL)
        goto out;
    int ret = img_gaussian_blur(pixels->data, pixels->stride, blurred.data, blurred.stride,
                                pixels->width, pixels->height, sigma);
    int ret_generic = img__gaussian_blur_generic(pixels->data, pixels->stride, generic, width,
                                                 pixels->width, pixels->height, sigma);
    if (ret != ret_generic)
        fail("blur variants disagree on success", NULL);
    if (ret == 0)
        check_same_pixels(&blurred, generic, "gaussian blur");
out:
    free(generic);
    img_buf_finish(&blurred);
}

static void decode_and_process(const uint8_t *data, size_t size, const struct img_info *probed,
                               int channels, int level)
{
    struct img_buf pixels = {0};
    char err[256] = "";

    int rc = img_decode(data, size, channels, FUZZ_MAX_PIXELS, &pixels, err, sizeof(err));
    if (rc < 0) {
        check_message(err, sizeof(err));
        if (pixels.data != NULL)
            fail("failed decode left a buffer", NULL);
        return;
    }
    if (probed == NULL)
        fail("decode succeeded where probe failed", NULL);
    if (pixels.width != probed->width || pixels.height != probed->height)
        fail("decoded size differs from the probed size", NULL);
    if ((uint64_t)pixels.width * (uint64_t)pixels.height > FUZZ_MAX_PIXELS)
        fail("decoded an image over the pixel limit", NULL);
    if (pixels.channels != channels || pixels.stride < (size_t)pixels.width * (size_t)channels)
        fail("decoded buffer has the wrong shape", NULL);

    struct img_canny_options canny;
    canny_options_from(data, size, &pixels, &canny);
    if (channels == 1)
        check_blur(&pixels, canny.sigma);

    /* Every operator that takes this many channels. */
    for (int op = 0;; op++) {
        int wants = img_operator_channels((enum img_operator)op);
        if (wants < 0)
            break;
        if (wants != channels)
            continue;
        struct img_buf edges = {0};
        if (img_apply_with((enum img_operator)op, &canny, &pixels, &edges) == 0) {
            if (edges.width != pixels.width || edges.height != pixels.height || edges.channels != 1)
                fail("operator output has the wrong shape",
                     img_operator_name((enum img_operator)op));
            check_generic_variant((enum img_operator)op, &canny, &pixels, &edges);
            check_bands((enum img_operator)op, &canny, &pixels, &edges,
                        size > 4 ? data[size - 5] : 0);
            check_round_trip(&edges, level);
            check_fused((enum img_operator)op, &pixels, &edges, level);
        }
        img_buf_finish(&edges);
    }
    img_buf_finish(&pixels);
}

/* The whole image's fused pass on `data`'s luma: 0 with the PNG, or the
 * decode's failure. */
static int whole_fused_png(const uint8_t *data, size_t size, enum img_operator op, int level,
                           enum img_error_kind *kind, char *err, size_t err_size, uint8_t **png,
                           size_t *png_size)
{
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = FUZZ_MAX_PIXELS;
    struct img_buf luma;
    int rc = img_decode_limited(data, size, 1, &limits, &luma, kind, err, err_size);
    if (rc < 0)
        return rc;
    struct img_png_bands *bands;
    if (img_png_bands_create_fused(op, &luma, level, NULL, &bands) < 0)
        fail("fused bands refused a decoded image", NULL);
    for (int band = 0; band < img_png_bands_count(bands); band++)
        if (img_png_bands_run(bands, band) < 0)
            fail("a fused band failed", NULL);
    if (img_png_bands_finish(bands, png, png_size) < 0)
        fail("the fused finish failed", NULL);
    img_png_bands_destroy(bands);
    img_buf_finish(&luma);
    return 0;
}

/* The rows (img_decode_rows_create) against the whole image: the same PNG,
 * or the same failure. */
static void check_rows(const uint8_t *data, size_t size, enum img_operator op, int level)
{
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = FUZZ_MAX_PIXELS;
    struct img_rows *rows;
    enum img_error_kind kind = IMG_ERROR_NONE;
    char err[256] = "";
    int rc = img_decode_rows_create(data, size, &limits, &rows, &kind, err, sizeof(err));
    if (rc == -ENOTSUP)
        return;
    uint8_t *png = NULL;
    size_t png_size = 0;
    if (rc == 0) {
        struct img_png_bands *bands;
        int ran = img_png_bands_create_fused_rows(op, rows, level, NULL, &bands);
        for (int band = 0; ran == 0 && band < img_png_bands_count(bands); band++)
            ran = img_png_bands_run(bands, band);
        if (ran == 0)
            ran = img_png_bands_finish(bands, &png, &png_size);
        img_png_bands_destroy(bands);
        if (ran < 0) {
            rc = img_rows_error(rows, &kind, err, sizeof(err));
            if (rc != ran)
                fail("a pass over the rows failed other than its rows", NULL);
        } else if (!img_rows_all_decoded(rows)) {
            fail("a pass over the rows ended before the last row", NULL);
        }
        img_rows_destroy(rows);
    }
    enum img_error_kind whole_kind = IMG_ERROR_NONE;
    char whole_err[256] = "";
    uint8_t *whole_png = NULL;
    size_t whole_size = 0;
    int whole_rc = whole_fused_png(data, size, op, level, &whole_kind, whole_err, sizeof(whole_err),
                                   &whole_png, &whole_size);
    if (rc != whole_rc || kind != whole_kind || strcmp(err, whole_err) != 0)
        fail("the rows fail other than the whole image's decode", err);
    if (rc == 0 && (png_size != whole_size || memcmp(png, whole_png, png_size) != 0))
        fail("the rows give another PNG than the whole image", img_operator_name(op));
    free(png);
    free(whole_png);
}

/* The limited decode: under a budget of exactly img_probe_item's estimate it
 * must decode whatever img_decode decodes (the estimate is an upper bound),
 * to the same pixels; the failure kind is set exactly when it fails; with
 * the cancel flag already set it never succeeds; with scan limits taken
 * from the input (down to 1 scan, 1 pass) it fails only as too_much_work
 * where the unlimited decode succeeds. */
static void check_limited(const uint8_t *data, size_t size, int channels, const uint8_t *knobs)
{
    struct img_item_options item = {knobs[0] % 2 ? IMG_OP_CANNY : IMG_OP_SOBEL, NULL, 1};
    if (channels == 3)
        item.op = IMG_OP_TUTORIAL;
    struct img_probe_info probe;
    enum img_error_kind kind = IMG_ERROR_NONE;
    char err[256] = "";
    int probed = img_probe_item(data, size, &item, &probe, &kind, err, sizeof(err));
    if (probed < 0) {
        check_message(err, sizeof(err));
        if (kind == IMG_ERROR_NONE)
            fail("probe_item failed without a kind", err);
        return;
    }
    if (probe.peak_bytes < probe.decode_bytes || probe.peak_bytes < probe.operator_bytes ||
        probe.peak_bytes < probe.encode_bytes)
        fail("peak_bytes is not the largest stage", NULL);

    struct img_buf reference = {0};
    int ref = img_decode(data, size, channels, FUZZ_MAX_PIXELS, &reference, err, sizeof(err));

    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = FUZZ_MAX_PIXELS;
    limits.max_bytes = probe.decode_bytes;
    struct img_buf out = {0};
    int rc = img_decode_limited(data, size, channels, &limits, &out, &kind, err, sizeof(err));
    if ((rc == 0) != (kind == IMG_ERROR_NONE))
        fail("failure kind does not match the result", img_error_kind_name(kind));
    if (rc < 0)
        check_message(err, sizeof(err));
    if (ref == 0 && rc != 0)
        fail("decode does not fit in its own estimate", err);
    if (ref == 0) {
        for (int y = 0; y < out.height; y++)
            if (memcmp(out.data + (size_t)y * out.stride,
                       reference.data + (size_t)y * reference.stride,
                       (size_t)out.width * (size_t)channels) != 0)
                fail("limited decode gives other pixels", NULL);
    }
    img_buf_finish(&out);

    atomic_int cancel = 1;
    img_decode_limits_init(&limits);
    limits.max_pixels = FUZZ_MAX_PIXELS;
    limits.cancel = &cancel;
    if (img_decode_limited(data, size, channels, &limits, &out, &kind, err, sizeof(err)) == 0)
        fail("decoded although cancelled", NULL);
    if (out.data != NULL)
        fail("failed decode left a buffer", NULL);

    img_decode_limits_init(&limits);
    limits.max_pixels = FUZZ_MAX_PIXELS;
    limits.max_scans = 1u + knobs[1] % 16;
    limits.max_scan_work = 1u + knobs[2] % 8;
    rc = img_decode_limited(data, size, channels, &limits, &out, &kind, err, sizeof(err));
    if (ref == 0 && rc != 0 && kind != IMG_ERROR_TOO_MUCH_WORK)
        fail("scan limits failed a decode for another reason", err);
    img_buf_finish(&out);
    img_buf_finish(&reference);
}

/* The VP8L walk of the WebP estimate (webp_groups.c, pure C: in every
 * build) on the input itself as a stream, with its header and headerless
 * (a lossless ALPH chunk's, of a size from the first bytes); the probe of
 * a WebP input runs it again on the file's chunks. */
static void check_vp8l_scan(const uint8_t *data, size_t size)
{
    struct img__vp8l_scan scan;
    if (img__vp8l_scan(data, size, 0, 0, true, &scan) == 0 &&
        (scan.groups < 1 || scan.groups > 65536 || scan.cache_bits > 11))
        fail("vp8l scan: impossible group count or cache", NULL);
    if (size < 4)
        return;
    uint32_t width = 1 + ((uint32_t)data[0] | (uint32_t)(data[1] & 0x3f) << 8);
    uint32_t height = 1 + ((uint32_t)data[2] | (uint32_t)(data[3] & 0x3f) << 8);
    if (img__vp8l_scan(data + 4, size - 4, width, height, false, &scan) == 0 &&
        (scan.groups < 1 || scan.groups > 65536 || scan.cache_bits > 11))
        fail("vp8l scan: impossible group count or cache", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct img_info info;
    char err[256] = "";

    check_vp8l_scan(data, size);
    if (size > 0)
        check_rle_variants(data, size, data[0]);

    int probed = img_probe(data, size, &info, err, sizeof(err));
    if (probed < 0)
        check_message(err, sizeof(err));
    else if (info.width <= 0 || info.height <= 0 || info.channels < 1 || info.channels > 4)
        fail("probe returned an impossible header", NULL);
    /* The PNG level comes from the input so the fuzzer reaches every
     * encoder setting; the last byte changes little in an image. */
    int level = size > 0 ? data[size - 1] % 10 : 1;
    decode_and_process(data, size, probed == 0 ? &info : NULL, 1, level);
    decode_and_process(data, size, probed == 0 ? &info : NULL, 3, level);
    /* Limits from bytes near the end, which change little in an image. */
    uint8_t knobs[3] = {0, 0, 0};
    for (size_t i = 0; i < 3 && i + 2 < size; i++)
        knobs[i] = data[size - 2 - i];
    check_limited(data, size, 1, knobs);
    check_limited(data, size, 3, knobs);
    static const enum img_operator gradient[] = {IMG_OP_SOBEL, IMG_OP_SCHARR, IMG_OP_PREWITT};
    check_rows(data, size, gradient[knobs[0] % 3], level);
    return 0;
}
