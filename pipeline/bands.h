/* Row bands across idle workers: when a worker holds an image and other
 * workers have nothing to do, it splits the operator into row bands
 * (imaging's img_bands_*), runs some itself, lets the idle workers run the
 * rest, and waits for them, so that one large image alone still uses every
 * worker. The PNG encode of that image is shared the same way (imaging's
 * img_png_bands_*). Private to pipeline/ (run.c and the unit tests). */
#ifndef EDGEFETCH_PIPELINE_BANDS_H
#define EDGEFETCH_PIPELINE_BANDS_H

#include <stdbool.h>
#include <stdint.h>

#include "imaging.h"
#include "pipeline.h"

/* Smaller images are not split. A judgement, not a measured crossover: a
 * megapixel is about 1 ms of Sobel and 2-3 ms of Canny on one core, against
 * tens of microseconds to wake a worker and a few extra rows per band (see
 * imaging/OPERATORS.md, "One large image on several workers"). */
#define PL_BANDS_MIN_PIXELS (UINT64_C(1) << 20)

struct pl_bands;

/* A board for the workers that pop jobs from `todo` (borrowed; it must
 * outlive the board). `worker_count` bounds how many workers can help at
 * once. Images of fewer than `min_pixels` pixels are never split. Returns 0
 * or -ENOMEM (or libuv's error creating the lock). */
int pl_bands_create(struct pl_queue *todo, unsigned worker_count, uint64_t min_pixels,
                    struct pl_bands **out);
/* Accepts NULL. Every worker must have left pl_bands_next_job and
 * pl_bands_apply (joined), and `todo` be empty. */
void pl_bands_destroy(struct pl_bands *bands);

/* A worker's wait for its next job, in place of pl_queue_pop(todo): takes a
 * queued job first; with none, runs bands of images other workers have
 * split; with none of those either, blocks in pl_queue_pop. Returns the
 * job's node, or NULL once `todo` is closed and empty. */
struct pl_queue_node *pl_bands_next_job(struct pl_bands *bands);

/* For anyone draining `todo` other than pl_bands_next_job: true when `node`
 * is one of the board's wake-ups (it is dropped, and is not a job). */
bool pl_bands_drop_token(struct pl_bands *bands, struct pl_queue_node *node);

/* img_apply_with, split into bands when the image has at least min_pixels
 * pixels, some worker is waiting for work and no job is queued; otherwise
 * (and always when `bands` is NULL) on this thread alone. Blocks until the
 * whole of `dst` is done. `*threads` is how many threads ran part of the
 * operator (1 when not split). Same contract and bytes as img_apply_with. */
int pl_bands_apply(struct pl_bands *bands, enum img_operator op,
                   const struct img_canny_options *canny, const struct img_buf *src,
                   struct img_buf *dst, unsigned *threads);
/* pl_bands_apply that polls `cancel` (NULL: never) every few dozen rows of
 * every band (img_bands_set_cancel) and returns -ECANCELED, `dst` finished,
 * once it reads non-zero. */
int pl_bands_apply_cancel(struct pl_bands *bands, enum img_operator op,
                          const struct img_canny_options *canny, const atomic_int *cancel,
                          const struct img_buf *src, struct img_buf *dst, unsigned *threads);

/* img_encode_png's bytes for `gray` at `level`, its bands (imaging's
 * img_png_bands_*) shared with idle workers as pl_bands_apply shares an
 * operator's; on this thread alone when `bands` is NULL, the image is one
 * band or under min_pixels, or no worker is idle. `source` (NULL: none)
 * becomes the PNG's tEXt "Source" (img_png_bands_set_source). On success `*png`
 * (malloc'd, caller frees) holds `*png_size` bytes. `*threads` (when not
 * NULL) is how many threads ran bands. Returns 0 or img_png_bands_*'s
 * codes (-EINVAL, -EFBIG, -ENOMEM, -EIO) with a one-line reason in `err`. */
int pl_bands_encode_png(struct pl_bands *bands, const struct img_buf *gray, int level,
                        const char *source, uint8_t **png, size_t *png_size, unsigned *threads,
                        char *err, size_t err_size);
/* pl_bands_encode_png that polls `cancel` (NULL: never) per block of rows
 * of every band (img_png_bands_set_cancel): -ECANCELED, nothing returned. */
int pl_bands_encode_png_cancel(struct pl_bands *bands, const struct img_buf *gray, int level,
                               const char *source, const atomic_int *cancel, uint8_t **png,
                               size_t *png_size, unsigned *threads, char *err, size_t err_size);

/* The operator and the PNG encode in one pass (img_png_bands_create_fused:
 * the edge map is never written whole), on this thread, for sobel, scharr
 * and prewitt when pl_bands_apply would not split the image: the bytes of
 * pl_bands_apply then pl_bands_encode_png. -ENOTSUP (nothing done, no
 * reason in `err`) for another operator or when idle workers would share
 * the operator; then the caller runs those two. `now` is the clock for
 * `*operator_time`, the ticks spent computing the operator's rows inside
 * the pass (see img_png_bands_operator_time). Otherwise as
 * pl_bands_encode_png_cancel. */
int pl_bands_fused_png_cancel(struct pl_bands *bands, enum img_operator op,
                              const struct img_buf *src, int level, const char *source,
                              const atomic_int *cancel, uint64_t (*now)(void), uint8_t **png,
                              size_t *png_size, uint64_t *operator_time, char *err,
                              size_t err_size);

/* Whether pl_bands_fused_png_cancel would take an image of this size now
 * (the operator is one of the three and idle workers would not share it):
 * the worker's choice of decoding it as rows (img_decode_rows_create). */
bool pl_bands_fuses(struct pl_bands *bands, enum img_operator op, int width, int height);

/* pl_bands_fused_png_cancel reading the luma from `rows` as it goes
 * (img_png_bands_create_fused_rows), on this thread, whatever the idle
 * workers (the caller asked pl_bands_fuses). When the rows fail (their
 * decode), returns their code and img_rows_error says why; `err` then
 * holds only the encoder's wording. */
int pl_bands_fused_png_rows(enum img_operator op, struct img_rows *rows, int level,
                            const char *source, const atomic_int *cancel, uint64_t (*now)(void),
                            uint8_t **png, size_t *png_size, uint64_t *operator_time, char *err,
                            size_t err_size);
#endif
