/* Helpers shared by the imaging sources; not part of the public contract. */
#ifndef EDGEFETCH_IMAGING_PRIVATE_H
#define EDGEFETCH_IMAGING_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imaging.h"

/* printf into the caller's `err` buffer (which may be NULL or zero-sized),
 * truncating as snprintf does. */
void img__set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* img__set_err that also records why in `*kind` (which may be NULL). */
void img__fail(enum img_error_kind *kind, enum img_error_kind why, char *err, size_t err_size,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* img_encode_png with the row filter mask (PNG_FILTER_*) and zlib strategy
 * (Z_*) given instead of chosen from `level`: for measuring the choice (see
 * PNG_SETTINGS.md) and for tests. Same contract otherwise. */
int img__encode_png_with(const struct img_buf *gray, int level, int filters, int strategy,
                         uint8_t **png, size_t *png_size, char *err, size_t err_size);

/* Asks the kernel for the pages of data[0, size) that are whole pages
 * (MADV_POPULATE_WRITE where there is one; a hint, nothing otherwise), for
 * memory about to be written whole: one call instead of a page fault per
 * page (buf.c). */
void img__populate(uint8_t *data, size_t size);
void img__huge_pages(uint8_t *data, size_t size);

/* ---- SIMD dispatch ----------------------------------------------------
 *
 * The kernels are portable C the compiler vectorises (SSE2 on x86-64). On
 * x86 each hot kernel is also compiled a second time for AVX2 (the same
 * source, inlined into a function with target("avx2")), and the public entry
 * point picks a variant per call from the CPU's features. Integer math and
 * correctly rounded sqrtf make both variants give the same bytes; the unit
 * tests check the portable ones (img__*_generic below) against the
 * references too, on whatever CPU runs them. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define IMG_HAVE_AVX2_VARIANTS 1
#define IMG_TARGET_AVX2 __attribute__((target("avx2")))
/* libgcc fills the CPU model in a constructor, before main. */
static inline int img__cpu_has_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}
#else
#define IMG_HAVE_AVX2_VARIANTS 0
#endif

/* The portable variants of the public kernels, for the tests. */
void img__sobel_generic(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                        int width, int height);
void img__scharr_generic(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                         int width, int height);
void img__prewitt_generic(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                          int width, int height);
int img__gaussian_blur_generic(const uint8_t *src, size_t src_stride, uint8_t *dst,
                               size_t dst_stride, int width, int height, double sigma);
struct img_canny_options;
int img__canny_generic(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                       int width, int height, const struct img_canny_options *opts);

/* The PNG Paeth filter of one row (encode.c; `prev` the row above, zeros
 * above row 0): `out[x] = row[x] - paeth(left, up, up_left)`. `simd` false
 * takes the portable code only, for the tests' bit-for-bit comparison with
 * the SSE2/AVX2 paths. */
void img__png_filter_paeth(const uint8_t *row, const uint8_t *prev, uint8_t *out, int width,
                           bool simd);

/* For tests: png_rle bands get `room` bytes of data each in the file
 * (chunk frame apart) instead of their bound, so that they outgrow it and
 * take the path of a band in a buffer of its own. Before any band runs. */
struct img_png_bands;
void img__png_bands_set_room(struct img_png_bands *bands, size_t room);
/* img_png_bands_create_fused's bands once fused.c has probed the map:
 * `two_level` whether it holds only 0 and 255, `probe_time` the clock's
 * ticks that took (encode.c). The rows come from `rows` (borrowed) when it
 * is not NULL, `src` then being only the shape. */
struct img_rows;
int img__png_bands_create_fused(enum img_operator op, const struct img_buf *src,
                                struct img_rows *rows, int level, bool two_level,
                                uint64_t (*now)(void), uint64_t probe_time,
                                struct img_png_bands **out);
/* For tests: png_rle bands take the portable code only (`portable` true),
 * not the AVX2 paths the CPU check picks; the bytes must be the same. */
void img__png_bands_set_portable(struct img_png_bands *bands, bool portable);

/* ---- row bands (bands.c) -----------------------------------------------
 *
 * Output rows [y0, y1) of the whole-image kernel: `src` and `dst` point at
 * row 0 of the whole image, and a band reads the rows around it from `src`.
 * Disjoint bands write disjoint rows of `dst`, so they may run at once. */
void img__sobel_rows(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                     int width, int height, int y0, int y1);
void img__scharr_rows(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                      int width, int height, int y0, int y1);
void img__prewitt_rows(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                       int width, int height, int y0, int y1);
void img__tutorial_rows(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                        int width, int height, int y0, int y1);

/* The fused pass's row source (fused.c): rows [y0, y1) of the 3x3 gradient
 * operator `op` (sobel, scharr, prewitt) of the whole width×height image at
 * `src`, the bytes img_apply writes there, written with row y0 at `dst`
 * (rows dst_stride apart). Other operators write nothing. */
bool img__is_gradient_operator(enum img_operator op);
void img__gradient_rows(enum img_operator op, const uint8_t *src, size_t src_stride, uint8_t *dst,
                        size_t dst_stride, int width, int height, int y0, int y1);

/* Canny in bands (canny.c): img__canny_create checks the options and
 * allocates the shared edge map (a byte per pixel); img__canny_rows fills
 * map rows [y0, y1) and uses dst rows [y0, y1) as scratch (-ENOMEM is
 * possible: a band has its own row buffers); once every row has been done,
 * img__canny_edges runs the hysteresis over the whole map and writes all of
 * dst. */
struct img__canny;
int img__canny_create(int width, int height, const struct img_canny_options *opts,
                      struct img__canny **out);
void img__canny_destroy(struct img__canny *canny);
int img__canny_rows(struct img__canny *canny, const uint8_t *src, size_t src_stride, uint8_t *dst,
                    size_t dst_stride, int y0, int y1);
int img__canny_edges(struct img__canny *canny, uint8_t *dst, size_t dst_stride);
/* For tests: the hysteresis stack's entries (0: the default, a sixteenth of
 * the pixels), so that a small image exercises the overflow path. */
void img__canny_set_stack_limit(struct img__canny *canny, size_t limit);
/* Polls `cancel` (NULL: never) every few dozen rows of each pass, the
 * hysteresis included: -ECANCELED from img__canny_rows and
 * img__canny_edges once it reads non-zero. */
void img__canny_set_cancel(struct img__canny *canny, const atomic_int *cancel);

/* ---- what the probe learns (decode.c), for the decoders and the estimate */

struct img__header {
    struct img_info info;
    int stored_width; /* as stored, before the EXIF orientation */
    int stored_height;
    int bit_depth;
    int png_color_type;
    int interlaced;
    /* JPEG, from libjpeg's own reading of the header (through the first
     * SOS): whether the decode needs the whole-image coefficient buffer
     * (progressive, or a first scan without every component), its size,
     * a bound on libjpeg's other buffers, and the image's block count. */
    int components;
    int multi_scan;
    size_t jpeg_coef_bytes;
    size_t jpeg_work_bytes;
    uint64_t jpeg_blocks;
    /* WebP, GIF, AVIF, BMP, TIFF: the bytes the library and the stored
     * raster hold besides `out` and the delivery rows (img__raster_deliver),
     * from the header alone (each probe says how). */
    size_t raster_work_bytes;
    int animated; /* GIF/WebP with more than one frame (the first is decoded) */
};

/* img_probe with the header's details and a failure kind. */
int img__probe(const uint8_t *data, size_t size, struct img__header *header,
               enum img_error_kind *kind, char *err, size_t err_size);

/* "2500.0 MP" / "4095 pixels" / "100 MP" (is_limit: round limits). */
void img__format_pixels(uint64_t pixels, bool is_limit, char *out, size_t out_size);

/* After a PNG decode failed: when the body is cut short (a chunk runs past
 * its end, or there is no IEND), says so in `err` (truncated) and returns
 * true. */
bool img__png_explain_cut(const uint8_t *data, size_t size, enum img_error_kind *kind, char *err,
                          size_t err_size);

/* Bytes the decode of `header` to `channels` holds at its peak (output and
 * decoder internals), an upper bound (decode_limits.c). */
size_t img__decode_bytes(const struct img__header *header, int channels);

/* The most the Canny hysteresis stack holds for a width x height image
 * (canny.c). */
size_t img__canny_stack_bytes(size_t width, size_t height);

/* libpng's own allocations for `header` (decode_limits.c). */
size_t img__png_library_bytes(const struct img__header *header);

/* ---- JPEG (decode_jpeg.c, libjpeg-turbo) ---------------------------- */

/* Runs libjpeg's jpeg_read_header on `data` and fills header's jpeg_* and
 * multi_scan fields: 0, or -EINVAL with "corrupt JPEG header (libjpeg: <its
 * message>)". Allocates nothing image-sized. */
int img__jpeg_check_header(const uint8_t *data, size_t size, struct img__header *header,
                           enum img_error_kind *kind, char *err, size_t err_size);

/* Decodes a JPEG (already probed into `header`) into `out` with `channels`
 * 1 (libjpeg's grayscale: the Y channel of YCbCr files) or 3 (RGB), turned
 * to the EXIF orientation. Applies `limits` (all fields meaningful: the
 * caller filled the defaults): the pixel limit on libjpeg's reading before
 * allocating `out`, max_bytes inside libjpeg (max_memory_to_use), the scan
 * and scan-work limits and the cancel flag from the progress monitor.
 * Returns 0 or -EINVAL/-EFBIG/-ENOMEM/-ECANCELED with `*kind` and the reason
 * in `err`; `out` is zeroed on failure. */
int img__jpeg_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size);

/* A JPEG's luma rows on demand, for rows.c: img__jpeg_rows_create runs
 * what img__jpeg_decode runs before the first row (the header, the pixel
 * limit on libjpeg's reading, libjpeg's share of max_bytes,
 * jpeg_start_decompress) and fails as it does; -ENOTSUP for a file that
 * does not decode to luma directly (CMYK), which the caller decodes whole.
 * The caller chose a one-scan file with orientation 1 (decode_limits.c).
 * `data` is borrowed until destroy. img__jpeg_rows_read decodes the next
 * `count` rows (after the last, it reads to the end of the file) with
 * img__jpeg_decode's failures: the same kind and message for the same
 * file. */
struct img__jpeg_rows;
int img__jpeg_rows_create(const uint8_t *data, size_t size, const struct img__header *header,
                          const struct img_decode_limits *limits, struct img__jpeg_rows **out,
                          enum img_error_kind *kind, char *err, size_t err_size);
int img__jpeg_rows_read(struct img__jpeg_rows *rows, uint8_t *dst, size_t stride, int count,
                        enum img_error_kind *kind, char *err, size_t err_size);
void img__jpeg_rows_destroy(struct img__jpeg_rows *rows);
void img__jpeg_rows_size(const struct img__jpeg_rows *rows, int *width, int *height);

/* rows.c: the window of rows [lo, hi) of the row source, rows `width`
 * apart, decoding what is missing; rows before lo are dropped, so lo never
 * goes down (bands in order on one thread). NULL once the source failed
 * (img_rows_error says why). */
const uint8_t *img__rows_window(struct img_rows *rows, int lo, int hi);
/* Takes `jpeg` on success (destroyed with the rows); -ENOMEM. */
int img__rows_create(struct img__jpeg_rows *jpeg, struct img_rows **out);
uint64_t img__rows_decode_time(const struct img_rows *rows);

/* fused.c: rows [y0, y1) of the gradient operator `op` into dst (row y0 at
 * dst), from `src` or, when `rows` is not NULL, from the row source
 * (keeping rows from keep_from <= y0 on). 0, or the source's failure. */
int img__fused_gradient_rows(enum img_operator op, const struct img_buf *src, struct img_rows *rows,
                             int keep_from, uint8_t *dst, size_t dst_stride, int y0, int y1);

/* ---- PNG (decode_png.c, libpng) ---------------------------------------- */

/* As img__jpeg_decode, for a probed PNG: max_bytes bounds libpng's own
 * allocations (its allocator counts them) besides the output; the cancel
 * flag is polled per row. */
int img__png_decode(const uint8_t *data, size_t size, const struct img__header *header,
                    int channels, const struct img_decode_limits *limits, struct img_buf *out,
                    enum img_error_kind *kind, char *err, size_t err_size);

/* ---- WebP, GIF, AVIF, BMP, TIFF (decode_webp.c ... decode_tiff.c) -----
 *
 * Each probe reads the header with the format's own library (or walks it,
 * for BMP) and fills `header` (stored size, displayed size and orientation,
 * raster_work_bytes) without allocating anything image-sized; each decode
 * has img__png_decode's contract. */
int img__webp_probe(const uint8_t *data, size_t size, struct img__header *header,
                    enum img_error_kind *kind, char *err, size_t err_size);
int img__webp_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size);
int img__gif_probe(const uint8_t *data, size_t size, struct img__header *header,
                   enum img_error_kind *kind, char *err, size_t err_size);
int img__gif_decode(const uint8_t *data, size_t size, const struct img__header *header,
                    int channels, const struct img_decode_limits *limits, struct img_buf *out,
                    enum img_error_kind *kind, char *err, size_t err_size);
int img__avif_probe(const uint8_t *data, size_t size, struct img__header *header,
                    enum img_error_kind *kind, char *err, size_t err_size);
int img__avif_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size);
int img__bmp_probe(const uint8_t *data, size_t size, struct img__header *header,
                   enum img_error_kind *kind, char *err, size_t err_size);
int img__bmp_decode(const uint8_t *data, size_t size, const struct img__header *header,
                    int channels, const struct img_decode_limits *limits, struct img_buf *out,
                    enum img_error_kind *kind, char *err, size_t err_size);
/* stb's raster of one band of a BMP `width` wide (decode_bmp.c). */
size_t img__bmp_band_bytes(int width);
int img__tiff_probe(const uint8_t *data, size_t size, struct img__header *header,
                    enum img_error_kind *kind, char *err, size_t err_size);
int img__tiff_decode(const uint8_t *data, size_t size, const struct img__header *header,
                     int channels, const struct img_decode_limits *limits, struct img_buf *out,
                     enum img_error_kind *kind, char *err, size_t err_size);

/* What a lossless WebP stream (VP8L) makes libwebp allocate besides its
 * pixels (webp_groups.c): the Huffman groups of its meta-prefix image, the
 * main image's colour cache bits, the largest group index + 1, and the
 * pixels of its transform and entropy sub-images. */
struct img__vp8l_scan {
    uint32_t groups;
    uint32_t largest_index;
    unsigned cache_bits;
    uint64_t aux_pixels;
};

/* Walks a VP8L stream (with its 5-byte header when `header`, which then
 * gives the size; without, as in a lossless ALPH chunk, of width x height)
 * up to its entropy image, decoding that. 0, -EINVAL when the stream is not
 * one libwebp would read that far, -ENOMEM. Holds at most 4 MiB. */
int img__vp8l_scan(const uint8_t *data, size_t size, uint32_t width, uint32_t height, bool header,
                   struct img__vp8l_scan *scan);
/* libwebp's Huffman tables of one group with that colour cache. */
size_t img__vp8l_group_bytes(unsigned cache_bits);
/* The bytes of a scanned stream's groups, sub-images and index mapping. */
size_t img__vp8l_bytes(const struct img__vp8l_scan *scan);
/* The most those can be for a width x height stream, unread. */
size_t img__vp8l_bound_bytes(uint32_t width, uint32_t height);

/* Each side at most 2^16 and at most 2^30 pixels for every decoder (the
 * PNG decoder's bounds): refused from the header as too_large. */
#define IMG_MAX_SIDE (1 << 16)
#define IMG_MAX_PIXELS ((uint64_t)1 << 30)

/* Checks the stored size against IMG_MAX_SIDE/IMG_MAX_PIXELS and fills
 * header's sizes for `orientation`: 0, or -EINVAL (a zero side, corrupt)
 * or -EFBIG (too_large) with the reason naming `format_name`. */
int img__set_size(struct img__header *header, enum img_format format, uint64_t width,
                  uint64_t height, int orientation, enum img_error_kind *kind, char *err,
                  size_t err_size);

/* A whole stored raster, `raster_channels` bytes per pixel (1 gray, 3 RGB,
 * 4 RGBA with the alpha ignored), rows `stride` apart, into `out`
 * (initialised here) with `channels` 1 (img_rgb_to_luma) or 3, turned to
 * `orientation`. Holds `out` and at most 4 * width bytes besides. Returns 0
 * or -ENOMEM. */
int img__raster_deliver(const uint8_t *pixels, size_t stride, int raster_channels, int width,
                        int height, int orientation, int channels, struct img_buf *out);

/* Whether the caller's cancel flag is set. */
bool img__cancelled(const struct img_decode_limits *limits);

/* ---- EXIF orientation (decode.c), for JPEG APP1 and PNG eXIf ---------- */

/* The Orientation (1-8) of EXIF data starting at its TIFF header (after
 * "Exif\0\0" in a JPEG; the whole of a PNG eXIf chunk), or 1 when absent,
 * malformed or out of range. */
int img__exif_orientation(const uint8_t *tiff, size_t size);

/* Where stored pixel (0, y) of a stored_width x stored_height image goes in
 * `out`, already sized for `orientation` (sides swapped for 5-8), and in
 * *step the distance in bytes between where consecutive stored pixels of
 * that row go (negative when mirrored). Pixel x of row y goes to
 * start + x * step. */
uint8_t *img__orient_row_start(const struct img_buf *out, int orientation, int stored_width,
                               int stored_height, int y, ptrdiff_t *step);

#endif
