/* The run: one libuv loop thread owns the curl multi handle, the download
 * semaphore and every job's state; worker threads only run the CPU stage of
 * the job they popped and hand it back through a uv_async_t (the picture
 * and the file map are in run_private.h). This file is pl_run itself: setup
 * in order, the loop, teardown in reverse, and the progress callback.
 *
 * Back-pressure: a download starts only while fewer than `pipeline_cap`
 * jobs are between "download started" and "CPU stage finished", so bodies
 * held in memory stay bounded however long the list is; jobs that wait
 * (backoff, Retry-After, a busy or failing host) do not count. The cap
 * moves with it when it adapts (sampler.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_private.h"
#include "signals_private.h"

static void emit_progress(struct run *run, bool finished)
{
    const struct pl_report *report = run->report;
    size_t queued = run->todo != NULL ? pl_queue_length(run->todo) : 0;
    size_t downloading = run->in_state[JOB_DOWNLOADING];
    size_t cpu = run->in_state[JOB_CPU];
    size_t busy = run->finished + downloading + cpu;
    size_t size_unknown = 0;
    uint64_t remaining = run->http != NULL ? io_http_bytes_remaining(run->http, &size_unknown) : 0;
    struct pl_progress progress = {
        .total = run->job_count,
        .ok = report->ok,
        .failed = report->failed,
        .skipped = report->skipped,
        .cancelled = report->cancelled,
        .downloading = downloading,
        .waiting = run->job_count > busy ? run->job_count - busy : 0,
        .worker_queue = queued,
        .processing = cpu > queued ? cpu - queued : 0,
        .bytes = run->bytes_received + (run->http != NULL ? io_http_bytes_in_flight(run->http) : 0),
        .bytes_remaining = remaining,
        .size_unknown = size_unknown,
        .elapsed_s = seconds_since(run->started_ns),
        .finished = finished,
    };
    run->opts->on_progress(&progress, run->opts->progress_user);
}

static void on_progress_tick(uv_timer_t *timer)
{
    emit_progress(timer->data, false);
}

void maybe_close(struct run *run)
{
    if (run->closing || run->finished < run->job_count || !io_list_empty(&run->jobs))
        return;
    if (run->rows != NULL && !feed_ended(run))
        return; /* more rows may come: the reader's wake-up asks again */
    run->closing = true;
    if (run->rows != NULL)
        feed_close(run);
    if (run->progress_on) {
        emit_progress(run, true);
        uv_close((uv_handle_t *)&run->progress_timer, NULL);
        run->progress_on = false;
    }
    run->report->lookups_left = io_http_lookups_left(run->http);
    io_http_destroy(run->http);
    run->http = NULL;
    retry_close(run);
    sampler_close(run);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
    /* libuv put the default actions back: ours again at once, for the
     * rest of this run and whatever the process still does after it. */
    signals_rearm(run->stop_signal);
    if (run->gate_on) {
        uv_close((uv_handle_t *)&run->gate_timer, NULL);
        run->gate_on = false;
    }
    if (run->todo != NULL) {
        /* A worker may still be between handing back its last job and its
         * uv_async_send: join them all (they are idle, it is quick) before
         * the async handle may close. */
        stop_workers(run);
        uv_close((uv_handle_t *)&run->wakeup, NULL);
    }
}

/* Frees what a run stopped before its end may still hold; after a complete
 * run every job is gone already. */
static void free_items(struct run *run)
{
    struct io_list *node;
    while ((node = io_list_pop_first(&run->jobs)) != NULL) {
        job_destroy(IO_LIST_ENTRY(node, struct job, all));
    }
    free(run->item_flags);
    run->item_flags = NULL;
    io_name_table_destroy(run->names);
    run->names = NULL;
    io_output_sync_destroy(run->dir_sync);
    run->dir_sync = NULL;
    feed_finish(run);
}

/* pl_run (`urls`) and pl_run_stream (`source`): one of them is NULL. */
static int run_items(const struct pl_options *opts, const struct io_url_list *urls,
                     const struct pl_source *source, pl_item_cb on_item, void *user,
                     struct pl_report *report, char *err, size_t err_size)
{
    struct run run;
    int rc;

    memset(&run, 0, sizeof(run));
    memset(report, 0, sizeof(*report));
    io_list_init(&run.jobs);
    io_list_init(&run.ready);
    io_list_init(&run.backoff);
    run.opts = opts;
    run.file_mode = io_file_mode();
    run.rng_state = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    run.on_item = on_item;
    run.user = user;
    run.report = report;
    uint64_t started = uv_hrtime();
    run.started_ns = started;

    rc = uv_loop_init(&run.loop);
    if (rc < 0) {
        snprintf(err, err_size, "creating the event loop: %s", uv_strerror(rc));
        return rc;
    }
    if (source != NULL) {
        /* Items are known as they are read: swept, triaged and counted row
         * by row (feed.c). */
        run.source = source;
        run.created_ns = started;
        /* Rows enough to refill every slot and worker twice over. */
        size_t wanted = 2 * ((size_t)opts->max_downloads + opts->workers);
        rc = pl_row_queue_create(wanted > PL_ROW_QUEUE_MIN ? wanted : PL_ROW_QUEUE_MIN, &run.rows);
        if (rc < 0) {
            snprintf(err, err_size, "out of memory for the list's queue");
            goto fail_loop;
        }
    } else {
        rc = build_items(&run, urls, err, err_size);
        if (rc < 0)
            goto fail_loop;
        rc = remove_stale_temps(&run, err, err_size);
        if (rc < 0)
            goto fail_jobs;
    }
    report->items = run.job_count;
    rc = opts->no_fsync ? 0 : io_output_sync_create(opts->output_dir, &run.dir_sync);
    if (rc < 0) {
        snprintf(err, err_size, "opening the output folder %s: %s", opts->output_dir,
                 strerror(-rc));
        goto fail_jobs;
    }

    bool sequential = opts->mode == PL_SEQUENTIAL;
    unsigned workers = sequential ? 0 : opts->workers;

    /* Always: besides --max-per-host, the hosts carry their health. */
    rc = pl_hosts_create(&run.hosts);
    if (rc < 0) {
        snprintf(err, err_size, "out of memory");
        goto fail_jobs;
    }
    rc = retry_init(&run);
    if (rc < 0) {
        snprintf(err, err_size, "creating a timer: %s", uv_strerror(rc));
        goto fail_http;
    }
    rc = io_http_create(&run.loop, &opts->http, &run.http);
    if (rc < 0) {
        snprintf(err, err_size, "setting up HTTP: %s", strerror(-rc));
        /* fail_http runs the loop: a handle io_http_create closed on its
         * way out still has its close callback pending. */
        goto fail_http;
    }
    atomic_init(&run.decode_cancel, 0);
    report->memory_budget = opts->max_memory;
    rc = pl_budget_init(&run.budget, opts->max_memory);
    if (rc < 0) {
        snprintf(err, err_size, "creating the memory budget's lock: %s", uv_strerror(rc));
        goto fail_http;
    }
    run.budget_on = true;
    if (!sequential) {
        rc = start_workers(&run, workers, err, err_size);
        if (rc < 0)
            goto fail_http;
    }
    uv_signal_init(&run.loop, &run.sigint);
    uv_signal_init(&run.loop, &run.sigterm);
    run.sigint.data = &run;
    run.sigterm.data = &run;
    uv_signal_start(&run.sigint, on_signal, SIGINT);
    uv_signal_start(&run.sigterm, on_signal, SIGTERM);
    /* Signal handles must not keep the loop alive on their own. */
    uv_unref((uv_handle_t *)&run.sigint);
    uv_unref((uv_handle_t *)&run.sigterm);
    /* A signal that came before the handles above (the list being read,
     * this setup): the run starts stopped by it. Taken after them, so that
     * none falls between. */
    int early_signal = pl_signal_take();
    /* Without its timer a held gate would never be asked again: run open. */
    if (opts->gate != NULL && uv_timer_init(&run.loop, &run.gate_timer) == 0) {
        run.gate_timer.data = &run;
        run.gate_on = true;
    }

    if (opts->on_progress != NULL && uv_timer_init(&run.loop, &run.progress_timer) == 0) {
        unsigned interval = opts->progress_interval_ms > 0 ? opts->progress_interval_ms : 250;
        run.progress_timer.data = &run;
        run.progress_on = true;
        uv_timer_start(&run.progress_timer, on_progress_tick, interval, interval);
        uv_unref((uv_handle_t *)&run.progress_timer);
    }

    /* The cap and its room: downloads in flight, plus two waiting bodies
     * per worker, plus the ones being processed: enough to keep every
     * worker fed, no more (sequential: one item at a time). */
    if (sequential)
        sampler_start(&run, PL_CAP_FIXED, 1, 1);
    else
        sampler_start(&run, opts->cap_mode, opts->max_downloads,
                      opts->cap_mode == PL_CAP_FIXED ? opts->max_downloads
                                                     : opts->max_downloads_ceiling);

    if (source != NULL)
        feed_start(&run);
    else
        report_up_front(&run);
    if (early_signal != 0)
        stop_run(&run, early_signal);
    pump(&run);
    maybe_close(&run);
    uv_run(&run.loop, UV_RUN_DEFAULT);

    sampler_finish(&run);
    finish_workers(&run);
    pl_budget_reserved(&run.budget, &report->peak_reserved);
    pl_budget_finish(&run.budget);
    run.budget_on = false;
    /* Every rename of the run durable before its report says so. */
    int synced = io_output_sync_flush(run.dir_sync);
    report->wall_s = seconds_since(started);
    if (source != NULL)
        report->items = run.job_count;
    free_items(&run);
    pl_hosts_destroy(run.hosts);
    rc = uv_loop_close(&run.loop);
    if (rc < 0) {
        /* A handle left open is a bug of ours; say so rather than hide it. */
        snprintf(err, err_size, "internal error: event loop not closed cleanly (%s)",
                 uv_strerror(rc));
        return rc;
    }
    if (synced < 0) {
        snprintf(err, err_size, "syncing the output folder %s: %s", opts->output_dir,
                 strerror(-synced));
        return synced;
    }
    if (run.feed_status < 0) {
        /* The list broke off (a NUL byte, a corrupt gzip stream): what was
         * read before ran, the reason is the run's. */
        snprintf(err, err_size, "%s", run.feed_err);
        report->list_broke = true;
        return run.feed_status;
    }
    return 0;

fail_http:
    if (run.budget_on)
        pl_budget_finish(&run.budget);
    io_http_destroy(run.http);
    retry_close(&run);
    uv_run(&run.loop, UV_RUN_DEFAULT);
fail_jobs:
    free_items(&run);
    pl_hosts_destroy(run.hosts);
fail_loop:
    if (uv_loop_close(&run.loop) < 0) {
        /* The setup error stays the reason; a handle left open is a bug too. */
        size_t used = strnlen(err, err_size);
        snprintf(err + used, err_size - used, " (internal error: event loop not closed cleanly)");
    }
    return rc;
}

int pl_run(const struct pl_options *opts, const struct io_url_list *urls, pl_item_cb on_item,
           void *user, struct pl_report *report, char *err, size_t err_size)
{
    return run_items(opts, urls, NULL, on_item, user, report, err, err_size);
}

int pl_run_stream(const struct pl_options *opts, const struct pl_source *source, pl_item_cb on_item,
                  void *user, struct pl_report *report, char *err, size_t err_size)
{
    if (opts->layout != IO_LAYOUT_POSITIONAL) {
        memset(report, 0, sizeof(*report));
        snprintf(err, err_size, "readable names need the whole list: use pl_run");
        return -EINVAL;
    }
    return run_items(opts, NULL, source, on_item, user, report, err, err_size);
}
