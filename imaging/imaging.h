/* imaging: pure pixel work — decode, edge operators, PNG encode.
 *
 * Everything here works on memory buffers only: no file or network I/O, no
 * threads, no globals. Every function is safe to call from any worker thread
 * at the same time as any other.
 *
 * Errors: functions return 0 or a negative errno-style code
 *   -EINVAL  input is not an image we accept (unknown format, corrupt, truncated)
 *   -EFBIG   image is larger than the caller's pixel limit
 *   -ENOMEM  out of memory
 *   -EIO     the encoder failed
 * and, where they take `err`/`err_size`, write a one-line human reason there.
 */
#ifndef EDGEFETCH_IMAGING_H
#define EDGEFETCH_IMAGING_H

#include <stddef.h>
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
};

struct img_info {
    enum img_format format;
    int width;
    int height;
    int channels; /* as stored in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
};

/* Reads the header only: format and dimensions, no pixel buffer allocated.
 * On -EINVAL, `err` says what the bytes look like (e.g. "not an image: starts
 * with \"<!DOCTYPE html\"" or "truncated PNG header"). */
int img_probe(const uint8_t *data, size_t size, struct img_info *info, char *err,
              size_t err_size);

/* Decodes JPEG or PNG into `out` (initialised here, caller finishes it) with
 * `channels` = 1 (BT.601 luma, see img_rgb_to_luma) or 3 (RGB; alpha is
 * dropped, 16-bit samples are reduced to 8). Probes first and refuses, before
 * any pixel buffer is allocated, an image whose width*height exceeds
 * `max_pixels` (-EFBIG). */
int img_decode(const uint8_t *data, size_t size, int channels, uint64_t max_pixels,
               struct img_buf *out, char *err, size_t err_size);

/* BT.601 luma with OpenCV's fixed-point weights, so results match cv2's
 * COLOR_RGB2GRAY exactly: Y = (4899 R + 9617 G + 1868 B + 8192) >> 14. */
void img_rgb_to_luma(const uint8_t *rgb, size_t rgb_stride, uint8_t *luma, size_t luma_stride,
                     int width, int height);

/* 3×3 Sobel on luma; out = min(255, round(sqrt(gx² + gy²))). Borders mirror
 * without repeating the edge pixel (OpenCV's BORDER_REFLECT_101; a 1-pixel
 * wide or tall image mirrors onto itself). `src` and `dst` must not overlap. */
void img_sobel(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride, int width,
               int height);

/* The asyncio lesson's kernel, on RGB (`src` has 3 channels): for each pixel,
 * d = |ΔR|+|ΔG|+|ΔB| to the right neighbour and to the lower neighbour (only
 * those that exist); the integer mean (floor) of those d over the neighbours
 * that exist; 255 if it is > 30, else 0. The bottom-right pixel has no
 * neighbour and is 0. `dst` is one channel. */
void img_tutorial(const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                  int width, int height);

enum img_operator {
    IMG_OP_SOBEL = 0,
    IMG_OP_TUTORIAL,
};

/* "sobel" → IMG_OP_SOBEL …; returns -EINVAL for an unknown name. */
int img_operator_from_name(const char *name, enum img_operator *op);
const char *img_operator_name(enum img_operator op);
/* Channels the operator wants from img_decode: 1 for sobel, 3 for tutorial. */
int img_operator_channels(enum img_operator op);
/* Runs `op` on `src` into `dst` (one channel, same size; initialised here). */
int img_apply(enum img_operator op, const struct img_buf *src, struct img_buf *dst);

/* Encodes a one-channel image as an 8-bit grayscale PNG in memory with zlib
 * `level` (0–9). Deterministic: the same pixels and level give the same
 * bytes. On success `*png` (malloc'd, caller frees) holds `*png_size` bytes. */
int img_encode_png(const struct img_buf *gray, int level, uint8_t **png, size_t *png_size,
                   char *err, size_t err_size);

/* "libpng/1.6.39 stb_image/2.27": the decoders and encoder behind this
 * module, for --version. */
const char *img_library_versions(void);

#endif
