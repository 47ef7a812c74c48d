/* img_buf lifetime and the module's error-message helper. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "imaging.h"
#include "imaging_private.h"

/* Buffers from this size on are populated in one call (below). */
#define POPULATE_MIN_BYTES ((size_t)1 << 20)

#ifdef __linux__
/* madvise on the `align`-aligned part of data[0, size) (align a power of
 * two), if it has one; advice is only a hint, so its result is not read. */
static void advise_inside(uint8_t *data, size_t size, uintptr_t align, int advice)
{
    uintptr_t first = ((uintptr_t)data + align - 1) & ~(align - 1);
    uintptr_t end = ((uintptr_t)data + size) & ~(align - 1);
    if (end > first)
        (void)madvise((void *)first, end - first, advice);
}
#endif

/* The 2 MiB-aligned part of a big buffer as transparent huge pages
 * (MADV_HUGEPAGE), asked for before its pages are populated: one 2 MiB page
 * instead of 512 pages' bookkeeping in the kernel (its share of the stage
 * bench's profile went from 8.7% to 4.9-6.0%, imaging/PNG_SETTINGS.md). A page
 * written then backs its whole 2 MiB, so up to 2 MiB per buffer more than
 * was written may be resident (never more than the buffer). Only a hint:
 * with THP off it does nothing. */
void img__huge_pages(uint8_t *data, size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    advise_inside(data, size, (uintptr_t)2 << 20, MADV_HUGEPAGE);
#else
    (void)data;
    (void)size;
#endif
}

/* An image buffer is written whole right after it is allocated (a decode
 * fills every row, an operator every pixel), and a large one is fresh pages
 * from mmap (cmd/process.c fixes glibc's mmap threshold at 256 KiB): one
 * page fault per 4 KiB, about a third of the cost of writing them. Asking
 * the kernel for the pages in one call (MADV_POPULATE_WRITE, Linux 5.14)
 * does the same work without the faults: 2-3 ms less per 12 MB buffer here.
 * Only a hint: on older kernels, or elsewhere, the pages fault in as
 * before. */
void img__populate(uint8_t *data, size_t size)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0)
        advise_inside(data, size, (uintptr_t)page, MADV_POPULATE_WRITE);
#else
    (void)data;
    (void)size;
#endif
}

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
    if (stride * height_u >= POPULATE_MIN_BYTES) {
        img__huge_pages(data, stride * height_u);
        img__populate(data, stride * height_u);
    }

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
