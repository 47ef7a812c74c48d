/* One operator run split into row bands (imaging.h: img_bands_*).
 *
 * The 3×3 operators and the tutorial's kernel read only the rows around an
 * output row, straight from the source, so a band is the whole-image kernel
 * on fewer rows (img__NAME_rows). Canny shares an edge map between its bands
 * and finishes with one hysteresis walk (canny.c). No threads here: the
 * caller decides who runs which band. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"
#include "imaging_private.h"

struct img_bands {
    enum img_operator op;
    const struct img_buf *src;
    struct img_buf *dst;
    struct img__canny *canny; /* IMG_OP_CANNY only */
    const atomic_int *cancel; /* borrowed; NULL: never cancelled */
};

/* The 3x3 kernels read the cancel flag before each block of this many rows
 * (a few hundred microseconds of work on a 4000-pixel row; Canny polls in
 * its own passes, canny.c). */
#define CANCEL_POLL_ROWS 64

int img_bands_create(enum img_operator op, const struct img_canny_options *canny,
                     const struct img_buf *src, struct img_buf *dst, struct img_bands **out)
{
    *out = NULL;
    memset(dst, 0, sizeof(*dst));
    int channels = img_operator_channels(op);
    if (channels < 0 || src == NULL || src->data == NULL || src->channels != channels ||
        src->width <= 0 || src->height <= 0 ||
        src->stride < (size_t)src->width * (size_t)src->channels)
        return -EINVAL;
    struct img_canny_options canny_defaults;
    if (canny == NULL) {
        img_canny_options_init(&canny_defaults);
        canny = &canny_defaults;
    }

    struct img_bands *bands = calloc(1, sizeof(*bands));
    if (bands == NULL)
        return -ENOMEM;
    int ret = img_buf_init(dst, src->width, src->height, 1);
    if (ret < 0)
        goto fail_bands;
    if (op == IMG_OP_CANNY) {
        ret = img__canny_create(src->width, src->height, canny, &bands->canny);
        if (ret < 0)
            goto fail_dst;
    }
    bands->op = op;
    bands->src = src;
    bands->dst = dst;
    *out = bands;
    return 0;

fail_dst:
    img_buf_finish(dst);
fail_bands:
    free(bands);
    return ret;
}

void img_bands_set_cancel(struct img_bands *bands, const atomic_int *cancel)
{
    bands->cancel = cancel;
    if (bands->canny != NULL)
        img__canny_set_cancel(bands->canny, cancel);
}

static bool cancelled(const struct img_bands *bands)
{
    return bands->cancel != NULL && atomic_load_explicit(bands->cancel, memory_order_relaxed) != 0;
}

/* Rows [y0, y1) of the operator, in one piece. */
static int run_rows(struct img_bands *bands, int y0, int y1)
{
    const struct img_buf *src = bands->src;
    struct img_buf *dst = bands->dst;
    switch (bands->op) {
    case IMG_OP_SOBEL:
        img__sobel_rows(src->data, src->stride, dst->data, dst->stride, src->width, src->height, y0,
                        y1);
        break;
    case IMG_OP_TUTORIAL:
        img__tutorial_rows(src->data, src->stride, dst->data, dst->stride, src->width, src->height,
                           y0, y1);
        break;
    case IMG_OP_SCHARR:
        img__scharr_rows(src->data, src->stride, dst->data, dst->stride, src->width, src->height,
                         y0, y1);
        break;
    case IMG_OP_PREWITT:
        img__prewitt_rows(src->data, src->stride, dst->data, dst->stride, src->width, src->height,
                          y0, y1);
        break;
    case IMG_OP_CANNY:
        return img__canny_rows(bands->canny, src->data, src->stride, dst->data, dst->stride, y0,
                               y1);
    }
    return 0;
}

int img_bands_run(struct img_bands *bands, int y0, int y1)
{
    if (y0 < 0 || y0 >= y1 || y1 > bands->src->height)
        return -EINVAL;
    /* Canny in one call (a band has a blur halo to recompute; it polls the
     * flag itself); the others in blocks of rows, the flag read before
     * each. Any split gives the same bytes. */
    if (bands->op == IMG_OP_CANNY || bands->cancel == NULL)
        return run_rows(bands, y0, y1);
    for (int y = y0; y < y1; y += CANCEL_POLL_ROWS) {
        if (cancelled(bands))
            return -ECANCELED;
        int rc = run_rows(bands, y, y1 - y < CANCEL_POLL_ROWS ? y1 : y + CANCEL_POLL_ROWS);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int img_bands_finish(struct img_bands *bands)
{
    if (bands->op != IMG_OP_CANNY)
        return 0;
    return img__canny_edges(bands->canny, bands->dst->data, bands->dst->stride);
}

void img_bands_destroy(struct img_bands *bands)
{
    if (bands == NULL)
        return;
    img__canny_destroy(bands->canny);
    free(bands);
}
