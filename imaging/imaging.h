/* imaging: pure pixel work — decode, edge operators, PNG encode.
 *
 * Everything here works on memory buffers only: no file or network I/O, no
 * threads, no globals. Every function is safe to call from any worker thread
 * at the same time as any other.
 *
 * Errors: functions return 0 or a negative errno-style code
 *   -EINVAL     input is not an image we accept (unknown format, corrupt,
 *               truncated, too many progressive scans)
 *   -EFBIG      image is larger than the caller's pixel limit
 *   -ENOMEM     out of memory, or over the caller's memory budget
 *   -ECANCELED  the caller's cancel flag was set (img_decode_limited)
 *   -EIO        the encoder failed
 *   -ENOTSUP    the fused pass does not take this operator
 *               (img_png_bands_create_fused)
 * and, where they take `err`/`err_size`, write a one-line human reason there.
 * The decode and probe functions that take an `enum img_error_kind *` also
 * say which kind of failure it was (img_error_kind_name prints it).
 */
#ifndef EDGEFETCH_IMAGING_H
#define EDGEFETCH_IMAGING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* An 8-bit image, `channels` interleaved samples per pixel (1 = luma, 3 = RGB),
 * rows `stride` bytes apart. */
struct img_buf {
    uint8_t *data;
    size_t stride;
    int width;
    int height;
    int channels;
};

/* Allocates a width×height×channels buffer (stride = width*channels).
 * Returns -ENOMEM, or -EFBIG when the size overflows. */
int img_buf_init(struct img_buf *buf, int width, int height, int channels);
/* Frees the pixels and zeroes `buf`; safe on a zeroed or already-finished buf. */
void img_buf_finish(struct img_buf *buf);

enum img_format {
    IMG_FORMAT_UNKNOWN = 0,
    IMG_FORMAT_JPEG,
    IMG_FORMAT_PNG,
    IMG_FORMAT_WEBP,
    IMG_FORMAT_GIF,
    IMG_FORMAT_AVIF,
    IMG_FORMAT_BMP,
    IMG_FORMAT_TIFF,
    /* Recognised by their magic bytes, not decoded (unsupported_format). */
    IMG_FORMAT_JPEG_XL,
    IMG_FORMAT_HEIF,
    IMG_FORMAT_JPEG_2000,
    IMG_FORMAT_PSD,
    IMG_FORMAT_QOI,
    IMG_FORMAT_ICO,
    IMG_FORMAT_SVG,
};

/* "JPEG", "PNG", "WebP", "GIF", "AVIF", "BMP", "TIFF", "JPEG XL", "HEIF",
 * "JPEG 2000", "PSD", "QOI", "ICO", "SVG"; "unknown" otherwise. */
const char *img_format_name(enum img_format format);

/* The media types this build decodes, as an HTTP Accept value with
 * q-values (imaging/DECODE.md says why this order), e.g. "image/avif,
 * image/webp, image/jpeg, image/png;q=0.9, ...". A static string. */
const char *img_accept_header(void);

struct img_info {
    enum img_format format;
    int width; /* as displayed: EXIF orientations 5-8 swap the stored sides */
    int height;
    int channels; /* as stored in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    /* EXIF orientation 1-8 (JPEG APP1, PNG eXIf before IDAT, WebP EXIF chunk,
     * TIFF Orientation tag, AVIF irot/imir mapped to it; 1 when absent) */
    int orientation;
};

/* Reads the header only: format and dimensions, no pixel buffer allocated.
 * On -EINVAL, `err` says what the bytes look like (e.g. "not an image: starts
 * with \"<!DOCTYPE html\"" or "truncated PNG header"). */
int img_probe(const uint8_t *data, size_t size, struct img_info *info, char *err, size_t err_size);

/* Decodes JPEG, PNG, WebP, GIF, AVIF, BMP or TIFF (imaging/DECODE.md has
 * what of each is read) into `out` (initialised here, caller finishes it) with
 * `channels` = 1 (luma) or 3 (RGB; alpha is dropped, 16-bit samples are
 * reduced to 8). Luma of a JPEG is libjpeg-turbo's grayscale decode: the
 * file's own Y channel for YCbCr files (as cv2.imread(IMREAD_GRAYSCALE)),
 * libjpeg's BT.601 for RGB-coded ones, img_rgb_to_luma of the RGB for
 * CMYK/YCCK (Adobe's inverted CMYK); luma of a colour PNG is
 * img_rgb_to_luma; luma of every other format is img_rgb_to_luma of the
 * library's RGB (WebP lossy and AVIF too: not their Y plane, so that they give
 * what their reference decoders' PNG gives). Animated GIF and WebP give their
 * first frame. Images are turned upright by their orientation (above).
 * Probes first and refuses, before any pixel buffer is allocated, an image
 * whose width*height exceeds `max_pixels` (-EFBIG). */
int img_decode(const uint8_t *data, size_t size, int channels, uint64_t max_pixels,
               struct img_buf *out, char *err, size_t err_size);

/* BT.601 luma in OpenCV 4's fixed point, exactly cv2.cvtColor(COLOR_RGB2GRAY)
 * of OpenCV 4.6 on 8-bit data (its RGB2Gray<uchar>: 15-bit weights, rounded
 * once): Y = (9798 R + 19235 G + 3735 B + 16384) >> 15. (Not what
 * cv2.imread(IMREAD_GRAYSCALE) does to a colour PNG: that is libpng's
 * png_set_rgb_to_gray, which differs at half the colours.) tests/opencv
 * (test_gray.py) checks all 2^24 colours. */
void img_rgb_to_luma(const uint8_t *rgb, size_t rgb_stride, uint8_t *luma, size_t luma_stride,
                     int width, int height);

/* 3×3 Sobel on luma; out = min(255, round(sqrt(gx² + gy²))). Borders mirror
 * without repeating the edge pixel (OpenCV's BORDER_REFLECT_101; a 1-pixel
 * wide or tall image mirrors onto itself). `src` and `dst` must not overlap. */
void img_sobel(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
               int height);

/* 3×3 Scharr (weights [3 10 3] across the derivative, as cv2.Scharr) and 3×3
 * Prewitt (weights [1 1 1]): otherwise exactly as img_sobel (magnitude,
 * rounding, saturation, borders). */
void img_scharr(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
                int height);
void img_prewitt(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
                 int height);

/* Gaussian blur of 8-bit luma, bit-exact with OpenCV 4's
 * cv2.GaussianBlur(src, (0, 0), sigma) (BORDER_REFLECT_101): a separable
 * kernel of 2 * round(3 * sigma) + 1 taps (OpenCV's size rule for 8-bit
 * images), quantised to 8 fractional bits summing exactly to 256 (OpenCV's
 * error-diffusion rounding); the horizontal pass is exact in 16 bits, the
 * vertical pass rounds once: out = (Σ Σ k_i k_j p + 2^15) >> 16.
 * `sigma` in (0, IMG_CANNY_SIGMA_MAX]. Returns 0, -EINVAL (sigma out of
 * range) or -ENOMEM. `src` and `dst` must not overlap. */
int img_gaussian_blur(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                      int width, int height, double sigma);

/* Canny's parameters. The thresholds apply to the L1 gradient magnitude
 * |gx| + |gy| of the 3×3 Sobel of the blurred image (0 to 2040), as
 * cv2.Canny's default (L2gradient=false) does: a pixel that survives
 * non-maximum suppression is a strong edge when its magnitude is
 * > floor(high), a weak one when > floor(low); weak pixels are kept only when
 * 8-connected through weak pixels to a strong one (hysteresis). */
struct img_canny_options {
    double sigma; /* Gaussian blur first; 0 = none; at most IMG_CANNY_SIGMA_MAX */
    double low;   /* 0 <= low <= high <= IMG_CANNY_THRESHOLD_MAX */
    double high;
};

/* The defaults: OpenCV's usual σ = 1.4, and thresholds that keep the
 * outlines of objects and drop texture on photos (see imaging/OPERATORS.md):
 * a blurred step edge of about 20 (low) and 40 (high) grey levels. */
#define IMG_CANNY_SIGMA_DEFAULT 1.4
#define IMG_CANNY_LOW_DEFAULT 40.0
#define IMG_CANNY_HIGH_DEFAULT 80.0
#define IMG_CANNY_SIGMA_MAX 20.0
/* 2 * 4 * 255: the largest |gx| + |gy| a 3×3 Sobel of 8-bit data reaches. */
#define IMG_CANNY_THRESHOLD_MAX 2040.0

/* Fills `opts` with the defaults above. */
void img_canny_options_init(struct img_canny_options *opts);
/* Returns 0, or -EINVAL with a one-line reason in `err` (e.g. "--low 90 is
 * above --high 80"; the option names are the CLI's). */
int img_canny_options_check(const struct img_canny_options *opts, char *err, size_t err_size);

/* Canny edge detector on luma, out = 255 on edges and 0 elsewhere; agrees
 * pixel for pixel with cv2.Canny(cv2.GaussianBlur(src, (0, 0), sigma), low,
 * high) (aperture 3, L1 gradient). As there: the Sobel gradients of the blurred
 * image replicate the edge pixel at the borders (BORDER_REPLICATE, unlike
 * img_sobel), non-maximum suppression compares along the gradient direction
 * quantised to 0°/45°/90°/135°, with cv2's tie rule (strictly greater than
 * the neighbour before, at least the one after, strictly greater than both on
 * diagonals), and pixels outside the image have magnitude 0. Returns 0,
 * -EINVAL (bad options) or -ENOMEM (it needs about one byte per pixel of
 * working memory). `src` and `dst` must not overlap. */
int img_canny(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
              int height, const struct img_canny_options *opts);

/* The asyncio lesson's kernel, on RGB (`src` has 3 channels): for each pixel,
 * d = |ΔR|+|ΔG|+|ΔB| to the right neighbour and to the lower neighbour (only
 * those that exist); the integer mean (floor) of those d over the neighbours
 * that exist; 255 if it is > 30, else 0. The bottom-right pixel has no
 * neighbour and is 0. `dst` is one channel. */
void img_tutorial(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
                  int height);

/* Values are contiguous from 0 (callers may enumerate them until
 * img_operator_channels fails). */
enum img_operator {
    IMG_OP_SOBEL = 0,
    IMG_OP_TUTORIAL,
    IMG_OP_SCHARR,
    IMG_OP_PREWITT,
    IMG_OP_CANNY,
};

/* "sobel" → IMG_OP_SOBEL …; returns -EINVAL for an unknown name. */
int img_operator_from_name(const char *name, enum img_operator *op);
const char *img_operator_name(enum img_operator op);
/* Channels the operator wants from img_decode: 3 for tutorial, 1 (luma) for
 * the others. */
int img_operator_channels(enum img_operator op);
/* Runs `op` on `src` into `dst` (one channel, same size; initialised here).
 * Canny runs with the defaults (img_canny_options_init). Returns 0, -EINVAL
 * (wrong channel count, bad buffer) or -ENOMEM. */
int img_apply(enum img_operator op, const struct img_buf *src, struct img_buf *dst);
/* img_apply with Canny's options (ignored by the other operators; NULL means
 * the defaults). */
int img_apply_with(enum img_operator op, const struct img_canny_options *canny,
                   const struct img_buf *src, struct img_buf *dst);

/* ---- typed failures, limits, the memory estimate --------------------
 *
 * Why an item failed, decided here where the failure happens; callers print
 * it with img_error_kind_name (the code travels, the text is derived). */
enum img_error_kind {
    IMG_ERROR_NONE = 0,
    IMG_ERROR_NOT_AN_IMAGE,       /* HTML, JSON, empty body, unknown bytes */
    IMG_ERROR_UNSUPPORTED_FORMAT, /* JPEG XL, HEIF, SVG…, arithmetic JPEG, RLE BMP… */
    IMG_ERROR_CORRUPT,            /* bad header, bad CRC or Adler-32, bad data */
    IMG_ERROR_TRUNCATED,          /* the body ends before the image does */
    IMG_ERROR_TOO_LARGE,          /* over max_pixels, or beyond the decoder */
    IMG_ERROR_OVER_BUDGET,        /* would need more than max_bytes of memory */
    IMG_ERROR_TOO_MUCH_WORK,      /* too many progressive scans, too much scan work */
    IMG_ERROR_CANCELLED,          /* the caller's cancel flag was set */
    IMG_ERROR_OUT_OF_MEMORY,      /* an allocation failed */
    IMG_ERROR_INVALID_ARGUMENT,   /* a caller's mistake (channels, NULL) */
};

/* "not_an_image", "unsupported_format", "corrupt", "truncated", "too_large",
 * "over_budget", "too_much_work", "cancelled", "out_of_memory",
 * "invalid_argument", "none"; "unknown" for a value outside the enum. */
const char *img_error_kind_name(enum img_error_kind kind);

/* What one decode may use. Zero means "no limit" for max_pixels and
 * max_bytes; NULL cancel means never cancelled. */
struct img_decode_limits {
    uint64_t max_pixels; /* width * height from the header (-EFBIG, too_large) */
    /* Bytes the decode may hold at its peak: output buffer plus the
     * decoder's own (libjpeg's coefficient buffer, libpng's rows, the
     * other libraries' rasters). Checked on the estimate before anything
     * image-sized is allocated, and enforced inside libjpeg
     * (max_memory_to_use), libpng (its allocator) and libtiff (its
     * per-allocation cap) (-ENOMEM, over_budget). */
    size_t max_bytes;
    /* Polled while decoding (each JPEG iMCU row, each PNG and GIF row,
     * every step fed to libwebp (64 KiB doubling to 4 MiB), between TIFF strip or tile bands and
     * BMP row bands; AVIF only before and after libavif's one call): once it
     * reads non-zero the decode stops with -ECANCELED, kind cancelled. May
     * be set from any thread. */
    const atomic_int *cancel;
    /* Progressive JPEG work: at most max_scans scans (0 = IMG_JPEG_MAX_SCANS)
     * and at most max_scan_work block-visits per block of the image, summed
     * over scans (0 = IMG_JPEG_MAX_SCAN_WORK). Over either: -EINVAL,
     * too_much_work. */
    unsigned max_scans;
    unsigned max_scan_work;
};

/* Real encoders write at most about 12 scans (libjpeg's default script 10,
 * mozjpeg's optimised ones fewer) and visit each block 3 to 6 times in all;
 * see imaging/DECODE.md. */
#define IMG_JPEG_MAX_SCANS 100
#define IMG_JPEG_MAX_SCAN_WORK 32

/* All limits off except the scan defaults; cancel NULL. */
void img_decode_limits_init(struct img_decode_limits *limits);

/* What the CPU stage of one item runs: the operator (with Canny's options;
 * NULL means the defaults) and how many threads may share it in bands
 * (>= 1; scratch buffers are per band). */
struct img_item_options {
    enum img_operator op;
    const struct img_canny_options *canny;
    unsigned threads;
};

/* A probe plus the bytes one item's CPU stage will hold, from the header
 * alone. The compressed body is not included (the caller holds it, and
 * frees it after decode). Stages run one after another and each frees its
 * input (pipeline/run.c), so
 *   peak_bytes = max(decode_bytes, operator_bytes, encode_bytes).
 * Each is an upper bound for the buffers of that stage, checked against the
 * allocator by tests/unit/test_decode_memory.c. */
struct img_probe_info {
    struct img_info info;
    int bit_depth;         /* per sample as stored (PNG 1-16, JPEG 8, TIFF 1-16, AVIF 8-12,
                              BMP bits per pixel, WebP and GIF 8) */
    int multi_scan;        /* progressive or multi-scan JPEG (whole-image coefficients) */
    int interlaced;        /* Adam7 PNG */
    int channels_out;      /* what the operator asks img_decode for (1 or 3) */
    size_t decode_bytes;   /* output image + decoder internals */
    size_t operator_bytes; /* decoded image + edge map + operator scratch */
    size_t encode_bytes;   /* edge map + compressed PNG + encoder scratch */
    size_t peak_bytes;
};

/* img_probe plus the estimate for `item`. Returns 0, or -EINVAL/-EFBIG with
 * `*kind` (may be NULL) and the reason in `err`. Allocates nothing
 * image-sized. probe->info.format is the format the bytes were recognised
 * as, also on failure (an unsupported variant, a corrupt, truncated or too
 * large image of that format, or a format not decoded: JPEG XL...), and
 * IMG_FORMAT_UNKNOWN only when they are no image format we know. */
int img_probe_item(const uint8_t *data, size_t size, const struct img_item_options *item,
                   struct img_probe_info *probe, enum img_error_kind *kind, char *err,
                   size_t err_size);

/* img_decode under `limits` (NULL: img_decode_limits_init's). Refuses,
 * before any pixel buffer is allocated, an image over max_pixels (-EFBIG,
 * too_large) or whose decode estimate is over max_bytes (-ENOMEM,
 * over_budget, "needs N MiB to decode, budget M MiB"); stops when the cancel
 * flag is set (-ECANCELED, cancelled) or a progressive JPEG exceeds the work
 * limits (-EINVAL, too_much_work). `*kind` (may be NULL) is set on every
 * return (IMG_ERROR_NONE on success). */
int img_decode_limited(const uint8_t *data, size_t size, int channels,
                       const struct img_decode_limits *limits, struct img_buf *out,
                       enum img_error_kind *kind, char *err, size_t err_size);

/* ---- one operator run in row bands, for several threads -------------
 *
 * img_apply_with split by output rows, so that several threads can share
 * one large image. img_bands_create checks its arguments as img_apply_with
 * does, initialises `dst` (one channel, src's size; the caller finishes it,
 * also on failure) and whatever the bands share; `src` and `dst` must
 * outlive the img_bands. img_bands_run computes rows [y0, y1), 0 <= y0 < y1
 * <= height, and may run on several threads at once for disjoint ranges.
 * When every row has been run exactly once, img_bands_finish (one thread)
 * completes `dst`: Canny's hysteresis follows edges across the whole image,
 * the other operators have nothing left to do. Any split into bands gives
 * the bytes img_apply_with gives. Each call returns 0, -EINVAL or -ENOMEM
 * (or -ECANCELED, img_bands_set_cancel). */
struct img_bands;
int img_bands_create(enum img_operator op, const struct img_canny_options *canny,
                     const struct img_buf *src, struct img_buf *dst, struct img_bands **out);
int img_bands_run(struct img_bands *bands, int y0, int y1);
/* Polls `cancel` (borrowed; NULL: never) every few dozen rows of the
 * operator (Canny: of each of its passes, the hysteresis in
 * img_bands_finish included): once it reads non-zero, img_bands_run and
 * img_bands_finish stop with -ECANCELED (dst is then incomplete). May be set
 * from any thread. */
void img_bands_set_cancel(struct img_bands *bands, const atomic_int *cancel);
int img_bands_finish(struct img_bands *bands);
/* Accepts NULL. Does not finish `dst`. */
void img_bands_destroy(struct img_bands *bands);

/* Encodes a one-channel image as an 8-bit grayscale PNG in memory at
 * `level` (0–9; row filter and deflate coder per level, and no filter for
 * maps of only 0 and 255, see PNG_SETTINGS.md). Deterministic: the same pixels and level give the
 * same bytes. On success `*png` (malloc'd, caller frees) holds `*png_size` bytes. */
int img_encode_png(const struct img_buf *gray, int level, uint8_t **png, size_t *png_size,
                   char *err, size_t err_size);

/* ---- PNG encoding in row bands, for several threads ----------------
 *
 * img_encode_png split into bands of rows whose layout depends only on the
 * image's size (never on the threads), so any split gives img_encode_png's
 * bytes. img_png_bands_create checks its arguments as img_encode_png does
 * (0, -EINVAL, -EFBIG for a row over 256 MiB, -ENOMEM); `gray` must outlive
 * the img_png_bands. img_png_bands_run(b, i), 0 <= i < img_png_bands_count(b),
 * filters and compresses band i, and may run on several threads at once for
 * distinct bands (0, -ENOMEM or -EIO). When every band has been run once,
 * img_png_bands_finish (one thread) assembles the PNG: `*png` (malloc'd,
 * caller frees) holds `*png_size` bytes; it returns the first band's failure,
 * -EINVAL if a band was not run, or -ENOMEM. Images under about 2 MP are one
 * band. */
struct img_png_bands;
int img_png_bands_create(const struct img_buf *gray, int level, struct img_png_bands **out);
/* Adds a tEXt chunk "Source" with `source` (borrowed until finish; no NUL
 * inside, by PNG's rule Latin-1: the bytes are written as given) before the
 * first IDAT; without it the PNG has no text chunk. */
void img_png_bands_set_source(struct img_png_bands *bands, const char *source);
/* Polls `cancel` (borrowed until finish; NULL: never) before each block of
 * rows (about 64 KiB of them): once it reads non-zero, img_png_bands_run
 * stops with -ECANCELED. May be set from any thread. */
void img_png_bands_set_cancel(struct img_png_bands *bands, const atomic_int *cancel);
int img_png_bands_count(const struct img_png_bands *bands);
int img_png_bands_run(struct img_png_bands *bands, int band);
int img_png_bands_finish(struct img_png_bands *bands, uint8_t **png, size_t *png_size);
/* Accepts NULL. */
void img_png_bands_destroy(struct img_png_bands *bands);

/* ---- a 3x3 operator and the PNG encode in one pass ------------------
 *
 * img_apply (sobel, scharr, prewitt) and then img_png_bands_create on the
 * edge map, without the map: each band computes the operator's rows a
 * block at a time (about 64 KiB), with the row above the band that the
 * filter reads, into a buffer of its own that stays in cache, and filters
 * and compresses them from there. The same bands, blocks and filters as the
 * map's encode, so the same bytes; img_png_bands_run, _finish, _set_source,
 * _set_cancel and _destroy as for those bands (bands may run on several
 * threads). `src` (luma) is borrowed until finish. Whether the map holds
 * only 0 and 255 (coded unfiltered) is found first, by computing rows from
 * the top until one holds another value (one row on a photo). `now` (NULL:
 * not timed) is any clock; img_png_bands_operator_time is the sum of its
 * ticks spent computing the operator's rows (that check included) in the
 * bands run so far, for the caller's split of the pass into operator and
 * encode time. Returns -ENOTSUP for another operator (Canny's hysteresis
 * needs the whole map; tutorial's map is two-level), else as
 * img_png_bands_create. */
int img_png_bands_create_fused(enum img_operator op, const struct img_buf *src, int level,
                               uint64_t (*now)(void), struct img_png_bands **out);
uint64_t img_png_bands_operator_time(const struct img_png_bands *bands);

/* ---- luma rows on demand, for the fused pass ----------------------------
 *
 * img_decode_limited with one channel, but the rows come as the fused pass
 * asks for them (a window of a few dozen rows), so the luma image is never
 * written whole. Runs everything img_decode_limited runs before the first
 * row (the probe, the pixel and memory limits on the header and on
 * libjpeg's reading, jpeg_start_decompress) and fails as it does; returns
 * -ENOTSUP, having decoded nothing, for a file that cannot give rows before
 * its whole image is decoded (anything but a one-scan JPEG with EXIF
 * orientation 1 in YCbCr or gray): the caller decodes it whole. `data` and
 * limits->cancel are borrowed until destroy. A decode failure after that
 * (truncated, corrupt, cancelled: polled per iMCU row) ends the pass that
 * reads the rows; img_rows_error then gives the failure img_decode_limited
 * would have given (its code, kind and message), or 0.
 * img_rows_decode_time is the ticks of the clock set with
 * img_rows_set_clock spent decoding rows. */
struct img_rows;
int img_decode_rows_create(const uint8_t *data, size_t size, const struct img_decode_limits *limits,
                           struct img_rows **out, enum img_error_kind *kind, char *err,
                           size_t err_size);
void img_rows_destroy(struct img_rows *rows);
int img_rows_width(const struct img_rows *rows);
int img_rows_height(const struct img_rows *rows);
void img_rows_set_clock(struct img_rows *rows, uint64_t (*now)(void));
uint64_t img_rows_decode_time(const struct img_rows *rows);
/* Every row decoded and the file read to its end, without a failure. */
bool img_rows_all_decoded(const struct img_rows *rows);
int img_rows_error(const struct img_rows *rows, enum img_error_kind *kind, char *err,
                   size_t err_size);

/* img_png_bands_create_fused reading its luma from `rows` (borrowed until
 * finish; read once, from the top): the same bytes as the whole image's
 * fused pass. The bands must run in order on one thread. A band that finds
 * the rows failed returns their code (img_rows_error says why).
 * img_png_bands_operator_time leaves out the decoding. */
int img_png_bands_create_fused_rows(enum img_operator op, struct img_rows *rows, int level,
                                    uint64_t (*now)(void), struct img_png_bands **out);
/* Whether img_png_bands_create_fused takes `op` (sobel, scharr, prewitt). */
bool img_operator_fuses(enum img_operator op);

/* "libpng/1.6.39 (PNG) libjpeg-turbo/2.1.5 (JPEG) libwebp/1.2.4 (WebP) ...":
 * the decoders and encoder behind this module, for --version. */
const char *img_library_versions(void);

#endif
