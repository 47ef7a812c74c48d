/* Helpers shared by the imaging sources; not part of the public contract. */
#ifndef EDGEFETCH_IMAGING_PRIVATE_H
#define EDGEFETCH_IMAGING_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

struct img_buf;

/* printf into the caller's `err` buffer (which may be NULL or zero-sized),
 * truncating as snprintf does. */
void img__set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* img_encode_png with the row filter mask (PNG_FILTER_*) and zlib strategy
 * (Z_*) given instead of chosen from `level`: for measuring the choice (see
 * PNG_SETTINGS.md) and for tests. Same contract otherwise. */
int img__encode_png_with(const struct img_buf *gray, int level, int filters, int strategy,
                         uint8_t **png, size_t *png_size, char *err, size_t err_size);

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

/* ---- JPEG (decode_jpeg.c, libjpeg-turbo) ---------------------------- */

/* Runs libjpeg's jpeg_read_header on `data`: 0, or -EINVAL with "corrupt
 * JPEG header (libjpeg: <its message>)". Allocates nothing image-sized. */
int img__jpeg_check_header(const uint8_t *data, size_t size, char *err, size_t err_size);

/* Decodes a JPEG (already probed) into `out` with `channels` 1 (libjpeg's
 * grayscale: the Y channel of YCbCr files) or 3 (RGB), turned to EXIF
 * `orientation` (1-8). Checks the size libjpeg reads against `max_pixels`
 * before allocating `out`. Returns 0 or -EINVAL/-EFBIG/-ENOMEM with the
 * reason in `err` (truncated, corrupt with libjpeg's message, too many
 * scans); `out` is zeroed on failure. */
int img__jpeg_decode(const uint8_t *data, size_t size, int channels, int orientation,
                     uint64_t max_pixels, struct img_buf *out, char *err, size_t err_size);

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
