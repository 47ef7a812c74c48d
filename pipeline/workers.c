/* The CPU stage and the worker pool: workers pop a job from the hand-off
 * queue, run decode → operator → encode → write on it, and hand it back to
 * the loop thread through the done list and a uv_async_t. A worker touches
 * only the job it holds; every state change happens on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_private.h"

/* The item's kind for imaging's: the one mapping point. An image over the
 * pixel limit keeps the name docs/json.md gave it ("too_many_pixels": the
 * body's "too_large" is a download kind). */
static enum pl_kind decode_kind(enum img_error_kind kind)
{
    switch (kind) {
    case IMG_ERROR_NONE:
        return PL_KIND_NONE;
    case IMG_ERROR_NOT_AN_IMAGE:
        return PL_KIND_NOT_AN_IMAGE;
    case IMG_ERROR_UNSUPPORTED_FORMAT:
        return PL_KIND_UNSUPPORTED_FORMAT;
    case IMG_ERROR_CORRUPT:
        return PL_KIND_CORRUPT;
    case IMG_ERROR_TRUNCATED:
        return PL_KIND_TRUNCATED;
    case IMG_ERROR_TOO_LARGE:
        return PL_KIND_TOO_MANY_PIXELS;
    case IMG_ERROR_TOO_MUCH_WORK:
        return PL_KIND_TOO_MUCH_WORK;
    case IMG_ERROR_CANCELLED:
        return PL_KIND_CANCELLED;
    case IMG_ERROR_OVER_BUDGET:
        return PL_KIND_OVER_BUDGET;
    case IMG_ERROR_OUT_OF_MEMORY:
        return PL_KIND_OUT_OF_MEMORY;
    case IMG_ERROR_INVALID_ARGUMENT:
        return PL_KIND_OTHER;
    }
    return PL_KIND_OTHER;
}

#define MIB ((size_t)1 << 20)

/* Reserves from the run's budget what the CPU stage of `job` will hold at
 * its peak (imaging's estimate from the header, for the operator and the
 * threads that may share it in bands), waiting while it does not fit.
 * Returns 0 with `*reserved` set (0 when the header is not one the estimate
 * reads: img_decode_limited then says what is wrong, before allocating),
 * or fails the job: over_budget when the item can never fit, cancelled when
 * the run stops while it waits. */
static int reserve_memory(struct job *job, struct run *run, const struct pl_bands *bands,
                          size_t *reserved)
{
    const struct pl_options *opts = run->opts;
    struct img_item_options item = {.op = opts->op, .canny = &opts->canny, .threads = 1};
    struct img_probe_info probe;
    char err[256] = "";
    *reserved = 0;
    int probed = img_probe_item(job->body, job->body_size, &item, &probe, NULL, err, sizeof(err));
    /* The item's format: the value the decoder's probe decided, also for a
     * body it then refuses (the decode below probes the same bytes). */
    if (job->provenance != NULL)
        job->provenance->format = probe.info.format;
    if (probed < 0)
        return 0;
    uint64_t pixels = (uint64_t)probe.info.width * (uint64_t)probe.info.height;
    if (opts->max_pixels != 0 && pixels > opts->max_pixels)
        return 0; /* too_many_pixels: the decode refuses it before allocating */
    /* A split may run on every worker at once (pl_bands_apply), each band
     * with its own scratch: reserve for all of them. (opts->workers, not
     * thread_count, which the loop thread writes while workers start.) */
    if (bands != NULL && pixels >= PL_BANDS_MIN_PIXELS && opts->workers > 1) {
        item.threads = opts->workers;
        if (img_probe_item(job->body, job->body_size, &item, &probe, NULL, err, sizeof(err)) < 0)
            return 0;
    }
    size_t need = probe.peak_bytes;
    int rc = pl_budget_reserve(&run->budget, need);
    if (rc == -E2BIG) {
        snprintf(err, sizeof(err), "needs %zu MiB, budget %zu MiB", (need + MIB - 1) / MIB,
                 run->budget.capacity / MIB);
        job_fail(job, -ENOMEM, PL_STAGE_DECODE, PL_KIND_OVER_BUDGET, err);
        return rc;
    }
    if (rc < 0) {
        job_fail(job, -ECANCELED, PL_STAGE_DECODE, PL_KIND_CANCELLED,
                 "cancelled by signal while waiting for memory");
        return rc;
    }
    *reserved = need;
    return 0;
}

/* One item's CPU stage as it goes: what it holds (freed once, at
 * process_job's exit) and the step it is in, which says how a failure is
 * reported (fail_cpu_stage). */
struct cpu_item {
    enum pl_stage stage;              /* decode, edge, encode, write */
    enum img_error_kind decode_error; /* imaging's kind for a failed decode */
    char err[256];                    /* the library's reason for the failure */
    struct img_buf pixels;            /* the whole image; empty on the rows path */
    struct img_buf edges;             /* the edge map; only when not fused */
    uint8_t *png;
    size_t png_size;
    /* times_ms's encode_write runs from here to the end of the write. */
    uint64_t encode_start;
};

/* Records on `job` the failure `rc` of the step `item` is in: the one place
 * the CPU stage's failures get their stage, kind and message. */
static void fail_cpu_stage(struct job *job, int rc, const struct cpu_item *item)
{
    switch (item->stage) {
    case PL_STAGE_DECODE:
        if (item->decode_error == IMG_ERROR_CANCELLED)
            job_fail(job, -ECANCELED, PL_STAGE_DECODE, PL_KIND_CANCELLED,
                     "cancelled by signal while decoding");
        else
            job_fail(job, rc, PL_STAGE_DECODE, decode_kind(item->decode_error), item->err);
        return;
    case PL_STAGE_EDGE:
        if (rc == -ECANCELED)
            job_fail(job, -ECANCELED, PL_STAGE_EDGE, PL_KIND_CANCELLED,
                     "cancelled by signal while running the operator");
        else
            job_fail(job, rc, PL_STAGE_EDGE, PL_KIND_OPERATOR,
                     "out of memory running the operator");
        return;
    case PL_STAGE_ENCODE:
        /* A fused pass's stop is the encode's, also mid-operator. */
        if (rc == -ECANCELED)
            job_fail(job, -ECANCELED, PL_STAGE_ENCODE, PL_KIND_CANCELLED,
                     "cancelled by signal while encoding");
        else
            job_fail(job, rc, PL_STAGE_ENCODE, PL_KIND_ENCODE, item->err);
        return;
    case PL_STAGE_WRITE:
    default: /* the CPU stage has no other step */
        job_fail(job, rc, PL_STAGE_WRITE, PL_KIND_WRITE, item->err);
        return;
    }
}

/* The decode, from `start` (decode_s). A one-scan JPEG that the fused pass
 * takes is only opened as rows (`*rows`; they borrow the body, and the
 * decode runs inside run_rows_fused); anything else is decoded whole into
 * item->pixels. The body is then freed before the operator allocates, to
 * keep the per-image peak down, also when the decode failed. */
static int decode_rows_or_pixels(struct job *job, struct run *run, struct pl_bands *bands,
                                 const struct img_decode_limits *limits, uint64_t start,
                                 struct img_rows **rows, struct cpu_item *item)
{
    const struct pl_options *opts = run->opts;
    int rc = -ENOTSUP;
    if (img_operator_fuses(opts->op))
        rc = img_decode_rows_create(job->body, job->body_size, limits, rows, &item->decode_error,
                                    item->err, sizeof(item->err));
    if (rc == 0 && pl_bands_fuses(bands, opts->op, img_rows_width(*rows), img_rows_height(*rows)))
        return 0;
    if (rc == 0) {
        img_rows_destroy(*rows);
        *rows = NULL;
        rc = -ENOTSUP;
    }
    if (rc == -ENOTSUP)
        rc = img_decode_limited(job->body, job->body_size, img_operator_channels(opts->op), limits,
                                &item->pixels, &item->decode_error, item->err, sizeof(item->err));
    free(job->body);
    job->body = NULL;
    job->decode_s = seconds_since(start);
    if (rc == 0) {
        job->width = item->pixels.width;
        job->height = item->pixels.height;
    }
    return rc;
}

/* Path (a): the rows decoded while the fused operator+PNG pass reads them,
 * so the luma image is never written whole (the same bytes). Takes `rows`
 * and frees the body they borrow. The rows' failures are the decode's, the
 * pass's others the encode's. Its time is split as measured inside it: the
 * opening of the rows (from `start`) and their decode, the operator's rows,
 * the rest encode (docs/json.md, times_ms). */
static int run_rows_fused(struct job *job, struct run *run, struct img_rows *rows, uint64_t start,
                          struct cpu_item *item)
{
    const struct pl_options *opts = run->opts;
    uint64_t pass_start = uv_hrtime();
    img_rows_set_clock(rows, uv_hrtime);
    uint64_t operator_ns = 0;
    char pass_err[256] = "";
    int rc = pl_bands_fused_png_rows(opts->op, rows, opts->png_level, job->url, &run->decode_cancel,
                                     uv_hrtime, &item->png, &item->png_size, &operator_ns, pass_err,
                                     sizeof(pass_err));
    uint64_t decode_ns = img_rows_decode_time(rows);
    int decode_rc = img_rows_error(rows, &item->decode_error, item->err, sizeof(item->err));
    /* A signal before the last row was decoded stops the decode, as it
     * does the whole-image decode (whichever poll saw it first). */
    if (rc == -ECANCELED && decode_rc == 0 && !img_rows_all_decoded(rows)) {
        decode_rc = -ECANCELED;
        item->decode_error = IMG_ERROR_CANCELLED;
    }
    int width = img_rows_width(rows), height = img_rows_height(rows);
    img_rows_destroy(rows);
    free(job->body);
    job->body = NULL;
    job->decode_s = (double)(pass_start - start + decode_ns) / 1e9;
    if (decode_rc < 0) {
        free(item->png);
        item->png = NULL;
        return decode_rc;
    }
    item->stage = PL_STAGE_ENCODE;
    snprintf(item->err, sizeof(item->err), "%s", pass_err);
    job->width = width;
    job->height = height;
    job->edge_threads = 1;
    job->edge_s = (double)operator_ns / 1e9;
    item->encode_start = pass_start + decode_ns + operator_ns;
    return rc;
}

/* Path (b): Sobel, Scharr and Prewitt on one thread over the whole image:
 * the operator and the encode in one pass that never writes the edge map
 * whole (the same bytes). Its time is split as measured inside it: the
 * operator's rows (from `operator_start`) are `operator`, the rest is
 * encode (docs/json.md, times_ms). -ENOTSUP, nothing done, when the pass
 * does not take the image: run_operator_then_encode then does. */
static int run_pixels_fused(struct job *job, struct run *run, struct pl_bands *bands,
                            uint64_t operator_start, struct cpu_item *item)
{
    const struct pl_options *opts = run->opts;
    uint64_t operator_ns = 0;
    int rc = pl_bands_fused_png_cancel(bands, opts->op, &item->pixels, opts->png_level, job->url,
                                       &run->decode_cancel, uv_hrtime, &item->png, &item->png_size,
                                       &operator_ns, item->err, sizeof(item->err));
    if (rc == -ENOTSUP)
        return rc;
    img_buf_finish(&item->pixels);
    item->stage = PL_STAGE_ENCODE;
    job->edge_threads = 1;
    job->edge_s = (double)operator_ns / 1e9;
    item->encode_start = operator_start + operator_ns;
    return rc;
}

/* Path (c): the operator into item->edges, then the encode, each shared
 * with idle workers (the same bytes either way). Both poll the signal's
 * flag (every few dozen rows), so a large Canny or encode does not hold
 * the exit up. The pixels are freed once the operator is done with them. */
static int run_operator_then_encode(struct job *job, struct run *run, struct pl_bands *bands,
                                    uint64_t operator_start, struct cpu_item *item)
{
    const struct pl_options *opts = run->opts;
    item->stage = PL_STAGE_EDGE;
    int rc = pl_bands_apply_cancel(bands, opts->op, &opts->canny, &run->decode_cancel,
                                   &item->pixels, &item->edges, &job->edge_threads);
    img_buf_finish(&item->pixels);
    job->edge_s = seconds_since(operator_start);
    if (rc < 0)
        return rc;
    item->stage = PL_STAGE_ENCODE;
    item->encode_start = uv_hrtime();
    return pl_bands_encode_png_cancel(bands, &item->edges, opts->png_level, job->url,
                                      &run->decode_cancel, &item->png, &item->png_size, NULL,
                                      item->err, sizeof(item->err));
}

/* The PNG to its output file, or handed over with the item when the caller
 * stores it (a tar shard). */
static int write_png(struct job *job, struct run *run, struct cpu_item *item)
{
    const struct pl_options *opts = run->opts;
    item->stage = PL_STAGE_WRITE;
    if (opts->png_to_caller && job->provenance != NULL) {
        job->provenance->png = item->png;
        item->png = NULL;
        return 0;
    }
    char name[IO_OUTPUT_NAME_SIZE];
    job_name(run, job, name);
    return io_write_output(opts->output_dir, name, item->png, item->png_size, run->file_mode,
                           run->dir_sync, item->err, sizeof(item->err));
}

/* The CPU stage. Runs on a worker (concurrent) or on libuv's thread pool,
 * one at a time (sequential) — the same code either way, so the comparison
 * is honest; only a worker may split the operator with idle workers
 * (`bands`; NULL in sequential mode). The decode, one of the three paths,
 * the write; a failure is recorded once, at `out`, for the step it
 * happened in. */
void process_job(struct job *job, struct run *run, struct pl_bands *bands)
{
    const struct pl_options *opts = run->opts;
    struct cpu_item item = {.stage = PL_STAGE_DECODE, .decode_error = IMG_ERROR_NONE};
    size_t reserved = 0;

    /* Before anything image-sized exists: the job holds only its body,
     * which the room (pipeline_cap) bounds, not the budget. */
    int rc = reserve_memory(job, run, bands, &reserved);
    if (rc < 0) {
        free(job->body);
        job->body = NULL;
        return;
    }
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = opts->max_pixels;
    /* The decode holds itself to the reservation (libjpeg's
     * max_memory_to_use included) rather than trusting the estimate. */
    limits.max_bytes = reserved;
    limits.cancel = &run->decode_cancel;
    uint64_t start = uv_hrtime();
    struct img_rows *rows = NULL;
    rc = decode_rows_or_pixels(job, run, bands, &limits, start, &rows, &item);
    if (rc < 0)
        goto out;
    if (rows != NULL) {
        rc = run_rows_fused(job, run, rows, start, &item);
    } else {
        uint64_t operator_start = uv_hrtime();
        rc = run_pixels_fused(job, run, bands, operator_start, &item);
        if (rc == -ENOTSUP)
            rc = run_operator_then_encode(job, run, bands, operator_start, &item);
    }
    if (rc < 0)
        goto out;
    rc = write_png(job, run, &item);

out:
    /* encode_write: up to the end of the encode or the write, failed or not. */
    if (item.stage == PL_STAGE_ENCODE || item.stage == PL_STAGE_WRITE)
        job->encode_s = seconds_since(item.encode_start);
    if (rc < 0)
        fail_cpu_stage(job, rc, &item);
    else if (job->provenance != NULL)
        job->provenance->output_bytes = item.png_size;
    free(item.png);
    img_buf_finish(&item.edges);
    img_buf_finish(&item.pixels);
    /* Only once every buffer of the item is freed. */
    pl_budget_release(&run->budget, reserved);
}

static void on_sequential_work(uv_work_t *req)
{
    struct job *job = req->data;
    process_job(job, job->run, NULL);
}

static void on_sequential_done(uv_work_t *req, int status)
{
    struct job *job = req->data;
    struct run *run = job->run;
    (void)status; /* never cancelled: uv_cancel is not called on it */
    job_set_state(run, job, JOB_DONE);
    pump(run);
    maybe_close(run);
}

/* One job at a time (the room is 1), so one request suffices. Not on the
 * loop thread, so that a signal is taken mid-decode (the decode's cancel
 * flag); the loop only waits meanwhile, as the mode means. */
void run_sequential_job(struct run *run, struct job *job)
{
    run->sequential_work.data = job;
    if (uv_queue_work(&run->loop, &run->sequential_work, on_sequential_work, on_sequential_done) ==
        0)
        return;
    /* Only fails on bad arguments: run it here rather than lose it. */
    process_job(job, run, NULL);
    job_set_state(run, job, JOB_DONE);
}

static void worker_main(void *arg)
{
    struct run *run = arg;
    struct pl_queue_node *node;
    /* Between jobs, a worker runs bands of images other workers split. */
    while ((node = pl_bands_next_job(run->bands)) != NULL) {
        struct job *job = (struct job *)node;
        process_job(job, run, run->bands);
        uv_mutex_lock(&run->done_lock);
        io_list_insert_tail(&run->done, &job->node.link);
        uv_mutex_unlock(&run->done_lock);
        uv_async_send(&run->wakeup);
    }
}

static void on_wakeup(uv_async_t *async)
{
    struct run *run = async->data;
    struct io_list done;
    io_list_init(&done);
    /* Take the whole list under the lock, report outside it. */
    uv_mutex_lock(&run->done_lock);
    io_list_move_all(&run->done, &done);
    uv_mutex_unlock(&run->done_lock);

    struct io_list *node;
    while ((node = io_list_pop_first(&done)) != NULL)
        job_set_state(run, IO_LIST_ENTRY(node, struct job, node.link), JOB_DONE);
    pump(run);
    maybe_close(run);
}

void stop_workers(struct run *run)
{
    if (run->todo == NULL)
        return;
    pl_queue_close(run->todo);
    for (unsigned i = 0; i < run->thread_count; i++)
        uv_thread_join(&run->threads[i]);
    run->thread_count = 0;
}

int start_workers(struct run *run, unsigned workers, char *err, size_t err_size)
{
    int rc = pl_queue_create(&run->todo);
    if (rc < 0)
        goto fail;
    rc = pl_bands_create(run->todo, workers, PL_BANDS_MIN_PIXELS, &run->bands);
    if (rc < 0)
        goto fail_queue;
    io_list_init(&run->done);
    rc = uv_mutex_init(&run->done_lock);
    if (rc < 0)
        goto fail_bands;
    rc = uv_async_init(&run->loop, &run->wakeup, on_wakeup);
    if (rc < 0)
        goto fail_mutex;
    run->wakeup.data = run;
    run->threads = calloc(workers, sizeof(*run->threads));
    if (run->threads == NULL) {
        rc = -ENOMEM;
        goto fail_async;
    }
    for (unsigned i = 0; i < workers; i++) {
        rc = uv_thread_create(&run->threads[i], worker_main, run);
        if (rc < 0)
            goto fail_threads;
        run->thread_count++;
    }
    return 0;

fail_threads:
    stop_workers(run);
    free(run->threads);
    run->threads = NULL;
fail_async:
    uv_close((uv_handle_t *)&run->wakeup, NULL);
    uv_run(&run->loop, UV_RUN_DEFAULT);
fail_mutex:
    uv_mutex_destroy(&run->done_lock);
fail_bands:
    pl_bands_destroy(run->bands);
    run->bands = NULL;
fail_queue:
    pl_queue_destroy(run->todo);
    run->todo = NULL;
fail:
    snprintf(err, err_size, "starting %u workers: %s", workers, uv_strerror(rc));
    return rc;
}

void finish_workers(struct run *run)
{
    stop_workers(run);
    if (run->todo == NULL)
        return;
    uv_mutex_destroy(&run->done_lock);
    pl_bands_destroy(run->bands);
    pl_queue_destroy(run->todo);
    free(run->threads);
    run->todo = NULL;
    run->bands = NULL;
    run->threads = NULL;
}
