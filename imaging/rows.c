/* A decode that hands out its luma rows as the fused pass asks for them
 * (imaging.h, img_decode_rows_create), so the luma image is never written
 * whole: a 12 MP photo's 12 MB of fresh pages and their write misses, and
 * the operator's reads of them, become a window of a few dozen rows that
 * stays in cache.
 *
 * The window holds rows [base, base + count) contiguously, `width` bytes
 * apart, so that the operator's kernels read it as a small image
 * (fused.c). Asked for [lo, hi), it drops the rows before lo by moving the
 * rest to the front (the two or three rows a block shares with the next),
 * then decodes into it up to hi, growing it when [lo, hi) does not fit (the
 * two-level probe keeps every row from the top until it decides, which on a
 * map of only 0 and 255 is the whole image: at most the image's own size,
 * which the caller's budget already counts). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

/* Rows the window starts with, besides a block (encode.c's chunk of about
 * 64 KiB of rows): the row above a band's first block, the row below a
 * block, and a batch of libjpeg's. */
#define ROWS_WINDOW_BLOCK_BYTES ((size_t)64 << 10)
#define ROWS_WINDOW_SLACK 20

struct img_rows {
    struct img__jpeg_rows *jpeg;
    int width;
    int height;
    uint8_t *window;
    int capacity; /* rows */
    int base;
    int count;
    uint64_t (*now)(void);
    uint64_t decode_time;
    /* The first failure, as the decode reported it; every later call
     * fails the same way. */
    int error;
    enum img_error_kind kind;
    char message[256];
};

int img__rows_create(struct img__jpeg_rows *jpeg, struct img_rows **out)
{
    *out = NULL;
    struct img_rows *rows = calloc(1, sizeof(*rows));
    if (rows == NULL)
        return -ENOMEM;
    img__jpeg_rows_size(jpeg, &rows->width, &rows->height);
    size_t block_rows = ROWS_WINDOW_BLOCK_BYTES / ((size_t)rows->width + 1);
    size_t capacity = block_rows + ROWS_WINDOW_SLACK;
    rows->capacity = capacity < (size_t)rows->height ? (int)capacity : rows->height;
    rows->window = malloc((size_t)rows->capacity * (size_t)rows->width);
    if (rows->window == NULL) {
        free(rows);
        return -ENOMEM;
    }
    rows->jpeg = jpeg;
    *out = rows;
    return 0;
}

void img_rows_destroy(struct img_rows *rows)
{
    if (rows == NULL)
        return;
    img__jpeg_rows_destroy(rows->jpeg);
    free(rows->window);
    free(rows);
}

int img_rows_width(const struct img_rows *rows)
{
    return rows->width;
}

int img_rows_height(const struct img_rows *rows)
{
    return rows->height;
}

void img_rows_set_clock(struct img_rows *rows, uint64_t (*now)(void))
{
    rows->now = now;
}

uint64_t img__rows_decode_time(const struct img_rows *rows)
{
    return rows->decode_time;
}

uint64_t img_rows_decode_time(const struct img_rows *rows)
{
    return rows->decode_time;
}

int img_rows_error(const struct img_rows *rows, enum img_error_kind *kind, char *err,
                   size_t err_size)
{
    if (rows->error == 0)
        return 0;
    img__fail(kind, rows->kind, err, err_size, "%s", rows->message);
    return rows->error;
}

static const uint8_t *fail(struct img_rows *rows, int error, enum img_error_kind kind,
                           const char *message)
{
    rows->error = error;
    rows->kind = kind;
    snprintf(rows->message, sizeof(rows->message), "%s", message);
    return NULL;
}

/* Decodes `count` rows at the window's row `at`. */
static int decode_into(struct img_rows *rows, int at, int count)
{
    uint64_t start = rows->now != NULL ? rows->now() : 0;
    int ret = img__jpeg_rows_read(rows->jpeg, rows->window + (size_t)at * (size_t)rows->width,
                                  (size_t)rows->width, count, &rows->kind, rows->message,
                                  sizeof(rows->message));
    if (rows->now != NULL)
        rows->decode_time += rows->now() - start;
    if (ret < 0)
        rows->error = ret;
    return ret;
}

const uint8_t *img__rows_window(struct img_rows *rows, int lo, int hi)
{
    if (rows->error < 0)
        return NULL;
    if (lo < rows->base || lo >= hi || hi > rows->height)
        return fail(rows, -EINVAL, IMG_ERROR_INVALID_ARGUMENT,
                    "rows asked for out of order (bands run in order on one thread)");
    size_t width = (size_t)rows->width;
    /* Rows before lo are not needed again. */
    int drop = lo - rows->base;
    if (drop >= rows->count) {
        /* Skipped rows are decoded and dropped (no caller skips any). */
        int skipped = drop - rows->count;
        while (skipped > 0) {
            int batch = skipped < rows->capacity ? skipped : rows->capacity;
            if (decode_into(rows, 0, batch) < 0)
                return NULL;
            skipped -= batch;
        }
        rows->count = 0;
    } else if (drop > 0) {
        memmove(rows->window, rows->window + (size_t)drop * width,
                (size_t)(rows->count - drop) * width);
        rows->count -= drop;
    }
    rows->base = lo;
    int wanted = hi - lo;
    if (wanted > rows->capacity) {
        int capacity = rows->capacity * 2 > wanted ? rows->capacity * 2 : wanted;
        if (capacity > rows->height)
            capacity = rows->height;
        uint8_t *grown = realloc(rows->window, (size_t)capacity * width);
        if (grown == NULL)
            return fail(rows, -ENOMEM, IMG_ERROR_OUT_OF_MEMORY, "out of memory for the rows");
        rows->window = grown;
        rows->capacity = capacity;
    }
    if (rows->count < wanted) {
        if (decode_into(rows, rows->count, wanted - rows->count) < 0)
            return NULL;
        rows->count = wanted;
    }
    return rows->window;
}

bool img_rows_all_decoded(const struct img_rows *rows)
{
    return rows->error == 0 && rows->base + rows->count == rows->height;
}
