/* img_buf lifetime and the module's error-message helper. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

int img_buf_init(struct img_buf *buf, int width, int height, int channels)
{
    memset(buf, 0, sizeof(*buf));
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4)
        return -EINVAL;

    /* Checked in size_t so that a 32-bit build refuses what a 64-bit build
     * would merely find large; on 64-bit these never trigger for int sides. */
    size_t width_u = (size_t)width;
    size_t height_u = (size_t)height;
    size_t channels_u = (size_t)channels;
    if (width_u > SIZE_MAX / channels_u)
        return -EFBIG;
    size_t stride = width_u * channels_u;
    if (stride > SIZE_MAX / height_u)
        return -EFBIG;

    uint8_t *data = malloc(stride * height_u);
    if (data == NULL)
        return -ENOMEM;

    buf->data = data;
    buf->stride = stride;
    buf->width = width;
    buf->height = height;
    buf->channels = channels;
    return 0;
}

void img_buf_finish(struct img_buf *buf)
{
    if (buf == NULL)
        return;
    /* Pixels always come from malloc (img_buf_init or the decoders' own
     * malloc'd buffers). */
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

void img__set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (err == NULL || err_size == 0)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
}

void img__fail(enum img_error_kind *kind, enum img_error_kind why, char *err, size_t err_size,
               const char *fmt, ...)
{
    if (kind != NULL)
        *kind = why;
    if (err == NULL || err_size == 0)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
}

const char *img_error_kind_name(enum img_error_kind kind)
{
    switch (kind) {
    case IMG_ERROR_NONE:
        return "none";
    case IMG_ERROR_NOT_AN_IMAGE:
        return "not_an_image";
    case IMG_ERROR_UNSUPPORTED_FORMAT:
        return "unsupported_format";
    case IMG_ERROR_CORRUPT:
        return "corrupt";
    case IMG_ERROR_TRUNCATED:
        return "truncated";
    case IMG_ERROR_TOO_LARGE:
        return "too_large";
    case IMG_ERROR_OVER_BUDGET:
        return "over_budget";
    case IMG_ERROR_TOO_MUCH_WORK:
        return "too_much_work";
    case IMG_ERROR_CANCELLED:
        return "cancelled";
    case IMG_ERROR_OUT_OF_MEMORY:
        return "out_of_memory";
    case IMG_ERROR_INVALID_ARGUMENT:
        return "invalid_argument";
    }
    return "unknown";
}

void img_decode_limits_init(struct img_decode_limits *limits)
{
    memset(limits, 0, sizeof(*limits));
    limits->max_scans = IMG_JPEG_MAX_SCANS;
    limits->max_scan_work = IMG_JPEG_MAX_SCAN_WORK;
}
