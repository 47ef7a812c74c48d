/* The run: one libuv loop thread owns the curl multi handle, the download
 * semaphore and every job's state transitions; worker threads only run the
 * CPU stage of the job they popped and hand it back through a uv_async_t.
 *
 *   list ─▶ [sem: max_downloads] ─▶ curl multi ─▶ hand-off queue ─▶ workers
 *                     ▲                                               │
 *                     └──────────── uv_async (done list) ◀────────────┘
 *
 * Back-pressure: a download starts only while fewer than `pipeline_cap`
 * items are between "download started" and "CPU stage finished", so bodies
 * held in memory stay bounded however long the list is. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "hosts.h"
#include "pipeline.h"

struct job {
    struct pl_queue_node node; /* first: the queue hands back &job->node */
    struct run *run;
    size_t index;
    unsigned line;
    const char *url;   /* borrowed from the URL list */
    char *output_name; /* owned */
    uint8_t *body;     /* owned until the decode is done */
    size_t body_size;
    long http_status;
    uint64_t created_ns;
    uint64_t started_ns;
    unsigned attempts;      /* downloads started */
    char *final_url;        /* owned; the last response's URL after redirects */
    bool skipped;           /* its output exists already (resume) */
    bool blocked;           /* waiting on its host's FIFO (max_per_host) */
    struct pl_host *host;   /* with max_per_host: its host's record */
    struct job *next_ready; /* in run->ready: backoff over, waiting for a slot */
    struct retry_wait *waiting; /* backoff timer while one runs */
    /* outcome */
    int error;
    const char *stage;
    char message[256];
    int width;
    int height;
    double download_s;
    double decode_s;
    double edge_s;
    double encode_s;
};

/* A backoff between two attempts; its own allocation so the timer can be
 * closed and freed whenever it ends, independent of the job array. */
struct retry_wait {
    uv_timer_t timer;
    struct job *job;
};

struct run {
    const struct pl_options *opts;
    uv_loop_t loop;
    struct io_http *http;
    struct pl_sem slots;
    size_t pipeline_cap;
    size_t in_pipeline;

    struct job *jobs;
    size_t job_count;
    size_t next_job;
    size_t finished;
    struct job *ready_head; /* retries whose backoff is over, first in first out */
    struct job *ready_tail;
    size_t backing_off;     /* retry timers running */
    uint64_t rng_state;     /* jitter; per run, no global */

    /* concurrent mode: workers and the way back */
    struct pl_queue *todo;
    uv_thread_t *threads;
    unsigned thread_count;
    uv_async_t wakeup;
    uv_mutex_t done_lock;
    struct pl_queue_node *done_head; /* LIFO is fine: order is restored by index */

    struct pl_hosts *hosts; /* max_per_host, or NULL */
    size_t cpu_stage;       /* handed to the workers, not back yet */
    uint64_t bytes_received;
    uint64_t started_ns;
    uv_timer_t progress_timer;
    bool progress_on;

    uv_signal_t sigint;
    uv_signal_t sigterm;
    int stop_signal;
    bool closing;

    pl_item_cb on_item;
    void *user;
    struct pl_report *report;
};

static double seconds_since(uint64_t start_ns)
{
    return (double)(uv_hrtime() - start_ns) / 1e9;
}

static void set_failure(struct job *job, int error, const char *stage, const char *message)
{
    job->error = error < 0 ? error : -EIO;
    job->stage = stage;
    snprintf(job->message, sizeof(job->message), "%s", message);
}

/* The CPU stage. Runs on a worker (concurrent) or on the loop thread
 * (sequential) — the same code either way, so the comparison is honest. */
static void process_job(struct job *job, const struct pl_options *opts)
{
    struct img_buf pixels = {0};
    struct img_buf edges = {0};
    uint8_t *png = NULL;
    size_t png_size = 0;
    char err[256] = "";
    int rc;

    uint64_t t0 = uv_hrtime();
    rc = img_decode(job->body, job->body_size, img_operator_channels(opts->op), opts->max_pixels,
                    &pixels, err, sizeof(err));
    /* The compressed body is not needed past this point: free it before the
     * operator allocates, to keep the per-image peak down. */
    free(job->body);
    job->body = NULL;
    job->decode_s = seconds_since(t0);
    if (rc < 0) {
        set_failure(job, rc, "decode", err);
        goto out;
    }
    job->width = pixels.width;
    job->height = pixels.height;

    uint64_t t1 = uv_hrtime();
    rc = img_apply_with(opts->op, &opts->canny, &pixels, &edges);
    img_buf_finish(&pixels);
    job->edge_s = seconds_since(t1);
    if (rc < 0) {
        set_failure(job, rc, "edge", "out of memory running the operator");
        goto out;
    }

    uint64_t t2 = uv_hrtime();
    rc = img_encode_png(&edges, opts->png_level, &png, &png_size, err, sizeof(err));
    if (rc < 0) {
        job->encode_s = seconds_since(t2);
        set_failure(job, rc, "encode", err);
        goto out;
    }
    rc = io_write_atomic(opts->output_dir, job->output_name, png, png_size, err, sizeof(err));
    job->encode_s = seconds_since(t2);
    if (rc < 0)
        set_failure(job, rc, "write", err);

out:
    free(png);
    img_buf_finish(&edges);
    img_buf_finish(&pixels);
}

static void report_job(struct run *run, struct job *job)
{
    struct pl_report *report = run->report;
    struct pl_item item = {
        .index = job->index,
        .line = job->line,
        .url = job->url,
        .final_url = job->final_url,
        .output_name = job->output_name,
        .status = job->skipped                ? PL_ITEM_SKIPPED
                  : job->error == -ECANCELED ? PL_ITEM_CANCELLED
                  : job->error < 0         ? PL_ITEM_FAILED
                                           : PL_ITEM_OK,
        .error = job->error,
        .stage = job->stage,
        .message = job->message,
        .http_status = job->http_status,
        .attempts = job->attempts,
        .bytes = job->body_size,
        .width = job->width,
        .height = job->height,
        .queued_s = job->started_ns ? (double)(job->started_ns - job->created_ns) / 1e9 : 0,
        .download_s = job->download_s,
        .decode_s = job->decode_s,
        .edge_s = job->edge_s,
        .encode_s = job->encode_s,
    };
    if (item.status == PL_ITEM_OK)
        report->ok++;
    else if (item.status == PL_ITEM_CANCELLED)
        report->cancelled++;
    else if (item.status == PL_ITEM_SKIPPED)
        report->skipped++;
    else
        report->failed++;
    report->bytes += job->body_size;
    report->download_s += job->download_s;
    report->decode_s += job->decode_s;
    report->edge_s += job->edge_s;
    report->encode_s += job->encode_s;
    run->finished++;
    if (run->on_item != NULL)
        run->on_item(&item, run->user);
}

static void pump(struct run *run);
static void maybe_close(struct run *run);
static void release_host_slot(struct run *run, struct job *job);
static void emit_progress(struct run *run, bool finished);
static void stop_workers(struct run *run);

static double next_random(struct run *run)
{
    /* xorshift64*: plenty for jitter. */
    uint64_t x = run->rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    run->rng_state = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void on_retry_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void on_backoff_over(uv_timer_t *timer)
{
    struct retry_wait *wait = timer->data;
    struct job *job = wait->job;
    struct run *run = job->run;

    job->waiting = NULL;
    run->backing_off--;
    uv_close((uv_handle_t *)timer, on_retry_closed);
    job->next_ready = NULL;
    if (run->ready_tail != NULL)
        run->ready_tail->next_ready = job;
    else
        run->ready_head = job;
    run->ready_tail = job;
    pump(run);
}

/* Decides whether a failed download is tried again, and if so arms its
 * backoff. The job keeps its place in the pipeline (and so in the memory
 * bound) but not its download slot: others use the slot meanwhile. */
static bool schedule_retry(struct run *run, struct job *job, const struct io_http_result *result)
{
    if (!result->transient || job->attempts > run->opts->retries || run->stop_signal != 0)
        return false;
    double delay_s;
    if (result->http_status == 429 || result->http_status == 503) {
        delay_s = result->retry_after_s >= 0 ? (double)result->retry_after_s : -1;
        if (delay_s > run->opts->retry_after_max_s)
            delay_s = run->opts->retry_after_max_s;
    } else {
        delay_s = -1;
    }
    if (delay_s < 0) {
        /* Exponential backoff with jitter, so that many clients (or many
         * items from one server) do not come back in lockstep. */
        double full = run->opts->retry_base_s * (double)(1u << (job->attempts - 1));
        delay_s = full / 2 + next_random(run) * full / 2;
    }
    struct retry_wait *wait = malloc(sizeof(*wait));
    if (wait == NULL)
        return false;
    if (uv_timer_init(&run->loop, &wait->timer) < 0) {
        free(wait);
        return false;
    }
    wait->job = job;
    wait->timer.data = wait;
    job->waiting = wait;
    run->backing_off++;
    run->report->retries++;
    uv_timer_start(&wait->timer, on_backoff_over, (uint64_t)(delay_s * 1000.0 + 0.5), 0);
    return true;
}

static void on_downloaded(struct io_http_result *result, void *user)
{
    struct job *job = user;
    struct run *run = job->run;

    pl_sem_release(&run->slots);
    release_host_slot(run, job);
    job->download_s += result->seconds;
    job->http_status = result->http_status;
    if (result->final_url != NULL) {
        free(job->final_url);
        job->final_url = result->final_url; /* taken */
        result->final_url = NULL;
    }
    run->bytes_received += result->body_size;
    if (result->error < 0 && schedule_retry(run, job, result)) {
        pump(run);
        return;
    }
    if (result->error < 0) {
        job->body_size = 0;
        if (job->attempts > 1) {
            char message[256];
            snprintf(message, sizeof(message), "%.200s (after %u attempts)", result->message,
                     job->attempts);
            set_failure(job, result->error, "download", message);
        } else {
            set_failure(job, result->error, "download", result->message);
        }
    } else {
        job->body = result->body; /* taken: the result must not free it */
        job->body_size = result->body_size;
        result->body = NULL;
    }

    if (job->error < 0) {
        run->in_pipeline--;
        report_job(run, job);
    } else if (run->opts->mode == PL_SEQUENTIAL) {
        process_job(job, run->opts);
        run->in_pipeline--;
        report_job(run, job);
    } else {
        run->cpu_stage++;
        pl_queue_push(run->todo, &job->node);
    }
    pump(run);
    maybe_close(run);
}

static void start_download(struct run *run, struct job *job)
{
    if (job->attempts++ == 0)
        job->started_ns = uv_hrtime();
    int rc = io_http_start(run->http, job->url, on_downloaded, job);
    if (rc < 0) {
        pl_sem_release(&run->slots);
        release_host_slot(run, job);
        run->in_pipeline--;
        set_failure(job, rc, "download", strerror(-rc));
        report_job(run, job);
    }
}

static void enter_pipeline(struct run *run)
{
    run->in_pipeline++;
    if (run->in_pipeline > run->report->peak_held)
        run->report->peak_held = run->in_pipeline;
}

/* Takes a slot of the job's host when there is a per-host cap; false when
 * the host is full. */
static bool take_host_slot(struct run *run, struct job *job)
{
    if (run->hosts == NULL)
        return true;
    if (job->host == NULL)
        job->host = pl_hosts_get(run->hosts, job->url);
    if (job->host == NULL)
        return true; /* no usable host key: the global cap alone applies */
    if (job->host->in_flight >= run->opts->max_per_host)
        return false;
    job->host->in_flight++;
    return true;
}

static void release_host_slot(struct run *run, struct job *job)
{
    if (run->hosts == NULL || job->host == NULL)
        return;
    job->host->in_flight--;
    pl_hosts_mark_runnable(run->hosts, job->host);
}

static void block_on_host(struct job *job)
{
    job->blocked = true;
    pl_host_block(job->host, &job->node);
}

/* Starts downloads while a slot and room in the pipeline are free: first
 * the retries whose backoff is over (they already hold pipeline room), then
 * the items waiting for a host that has a slot again, then new items. An
 * item holds pipeline room from its first download on (attempts > 0). */
static void pump(struct run *run)
{
    while (!run->closing && run->stop_signal == 0 && run->ready_head != NULL &&
           pl_sem_try_acquire(&run->slots)) {
        struct job *job = run->ready_head;
        run->ready_head = job->next_ready;
        if (run->ready_head == NULL)
            run->ready_tail = NULL;
        if (!take_host_slot(run, job)) {
            pl_sem_release(&run->slots);
            block_on_host(job);
            continue;
        }
        start_download(run, job);
    }
    struct pl_host *host;
    while (run->hosts != NULL && !run->closing && run->stop_signal == 0 &&
           (host = pl_hosts_next_runnable(run->hosts)) != NULL) {
        bool stalled = false;
        while (host->in_flight < run->opts->max_per_host && host->blocked_head != NULL) {
            struct job *job = (struct job *)host->blocked_head;
            bool new_item = job->attempts == 0;
            if ((new_item && run->in_pipeline >= run->pipeline_cap) ||
                !pl_sem_try_acquire(&run->slots)) {
                stalled = true;
                break;
            }
            pl_host_unblock(host);
            job->blocked = false;
            host->in_flight++;
            if (new_item)
                enter_pipeline(run);
            start_download(run, job);
        }
        if (stalled) {
            /* Out of global slots or room: nothing else can start either. */
            pl_hosts_runnable_undo(run->hosts, host);
            break;
        }
    }
    while (!run->closing && run->stop_signal == 0 && run->next_job < run->job_count &&
           run->in_pipeline < run->pipeline_cap && pl_sem_try_acquire(&run->slots)) {
        struct job *job = &run->jobs[run->next_job++];
        if (job->error < 0 || job->skipped) {
            /* refused before I/O or already done, reported up front */
            pl_sem_release(&run->slots);
            continue;
        }
        if (!take_host_slot(run, job)) {
            pl_sem_release(&run->slots);
            block_on_host(job);
            continue;
        }
        enter_pipeline(run);
        start_download(run, job);
    }
}

static void worker_main(void *arg)
{
    struct run *run = arg;
    struct pl_queue_node *node;
    while ((node = pl_queue_pop(run->todo)) != NULL) {
        struct job *job = (struct job *)node;
        process_job(job, run->opts);
        uv_mutex_lock(&run->done_lock);
        job->node.next = run->done_head;
        run->done_head = &job->node;
        uv_mutex_unlock(&run->done_lock);
        uv_async_send(&run->wakeup);
    }
}

static void on_wakeup(uv_async_t *async)
{
    struct run *run = async->data;
    uv_mutex_lock(&run->done_lock);
    struct pl_queue_node *node = run->done_head;
    run->done_head = NULL;
    uv_mutex_unlock(&run->done_lock);

    while (node != NULL) {
        struct job *job = (struct job *)node;
        node = node->next;
        run->in_pipeline--;
        run->cpu_stage--;
        report_job(run, job);
    }
    pump(run);
    maybe_close(run);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct run *run = handle->data;
    if (run->stop_signal != 0) {
        /* Second signal: the user means it. Temporary files are dot-files
         * that a rerun ignores; finished outputs are already in place. */
        _exit(128 + signum);
    }
    run->stop_signal = signum;
    run->report->signal = signum;
    /* Stop starting, abort transfers (their callbacks report them), drop
     * what waits for a worker; workers finish the job they hold. */
    io_http_abort_all(run->http);
    for (size_t i = 0; i < run->job_count; i++) {
        struct job *job = &run->jobs[i];
        if (job->blocked) {
            /* Waiting for its host; the host queues are never read again. */
            job->blocked = false;
            set_failure(job, -ECANCELED, "cancelled", "not started: cancelled by signal");
            if (job->attempts > 0)
                run->in_pipeline--;
            report_job(run, job);
            continue;
        }
        if (job->waiting == NULL)
            continue;
        uv_close((uv_handle_t *)&job->waiting->timer, on_retry_closed);
        job->waiting = NULL;
        run->backing_off--;
        set_failure(job, -ECANCELED, "cancelled", "cancelled by signal while waiting to retry");
        run->in_pipeline--;
        report_job(run, job);
    }
    while (run->ready_head != NULL) {
        struct job *job = run->ready_head;
        run->ready_head = job->next_ready;
        set_failure(job, -ECANCELED, "cancelled", "cancelled by signal while waiting to retry");
        run->in_pipeline--;
        report_job(run, job);
    }
    run->ready_tail = NULL;
    if (run->todo != NULL) {
        struct pl_queue_node *node;
        while ((node = pl_queue_try_pop(run->todo)) != NULL) {
            struct job *job = (struct job *)node;
            free(job->body);
            job->body = NULL;
            set_failure(job, -ECANCELED, "cancelled", "cancelled by signal");
            run->in_pipeline--;
            run->cpu_stage--;
            report_job(run, job);
        }
    }
    for (size_t i = run->next_job; i < run->job_count; i++) {
        struct job *job = &run->jobs[i];
        if (job->error < 0 || job->skipped)
            continue;
        set_failure(job, -ECANCELED, "cancelled", "not started: cancelled by signal");
        report_job(run, job);
    }
    run->next_job = run->job_count;
    maybe_close(run);
}

static void emit_progress(struct run *run, bool finished)
{
    const struct pl_report *report = run->report;
    size_t queued = run->todo != NULL ? pl_queue_length(run->todo) : 0;
    size_t busy = run->finished + run->slots.in_use + run->cpu_stage;
    struct pl_progress progress = {
        .total = run->job_count,
        .ok = report->ok,
        .failed = report->failed,
        .skipped = report->skipped,
        .cancelled = report->cancelled,
        .downloading = run->slots.in_use,
        .waiting = run->job_count > busy ? run->job_count - busy : 0,
        .worker_queue = queued,
        .processing = run->cpu_stage > queued ? run->cpu_stage - queued : 0,
        .bytes = run->bytes_received + (run->http != NULL ? io_http_bytes_in_flight(run->http) : 0),
        .elapsed_s = seconds_since(run->started_ns),
        .finished = finished,
    };
    run->opts->on_progress(&progress, run->opts->progress_user);
}

static void on_progress_tick(uv_timer_t *timer)
{
    emit_progress(timer->data, false);
}

/* Once every job is reported, close the loop's handles so uv_run returns. */
static void maybe_close(struct run *run)
{
    if (run->closing || run->finished < run->job_count || run->in_pipeline > 0)
        return;
    run->closing = true;
    if (run->progress_on) {
        emit_progress(run, true);
        uv_close((uv_handle_t *)&run->progress_timer, NULL);
        run->progress_on = false;
    }
    io_http_destroy(run->http);
    run->http = NULL;
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
    if (run->todo != NULL) {
        /* A worker may still be between handing back its last job and its
         * uv_async_send: join them all (they are idle, it is quick) before
         * the async handle may close. */
        stop_workers(run);
        uv_close((uv_handle_t *)&run->wakeup, NULL);
    }
}

static int compare_url_refs(const void *a, const void *b)
{
    const struct io_url_entry *const *ea = a;
    const struct io_url_entry *const *eb = b;
    int by_url = strcmp((*ea)->url, (*eb)->url);
    if (by_url != 0)
        return by_url;
    /* Same URL: the earlier entry first, so it is the one kept. */
    return (*ea > *eb) - (*ea < *eb);
}

/* Marks repeats of an earlier URL (sorting, so a million-line list stays
 * cheap); returns how many there were, or -ENOMEM. */
static long find_duplicates(const struct io_url_list *urls, bool *is_duplicate)
{
    const struct io_url_entry **sorted = malloc((urls->count ? urls->count : 1) * sizeof(*sorted));
    if (sorted == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < urls->count; i++) {
        sorted[i] = &urls->entries[i];
        is_duplicate[i] = false;
    }
    qsort(sorted, urls->count, sizeof(*sorted), compare_url_refs);
    long duplicates = 0;
    for (size_t i = 1; i < urls->count; i++) {
        if (strcmp(sorted[i]->url, sorted[i - 1]->url) == 0) {
            is_duplicate[sorted[i] - urls->entries] = true;
            duplicates++;
        }
    }
    free(sorted);
    return duplicates;
}

static void stop_workers(struct run *run)
{
    if (run->todo == NULL)
        return;
    pl_queue_close(run->todo);
    for (unsigned i = 0; i < run->thread_count; i++)
        uv_thread_join(&run->threads[i]);
    run->thread_count = 0;
}

static int start_workers(struct run *run, unsigned workers, char *err, size_t err_size)
{
    int rc = pl_queue_create(&run->todo);
    if (rc < 0)
        goto fail;
    rc = uv_mutex_init(&run->done_lock);
    if (rc < 0)
        goto fail_queue;
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
fail_queue:
    pl_queue_destroy(run->todo);
    run->todo = NULL;
fail:
    snprintf(err, err_size, "starting %u workers: %s", workers, uv_strerror(rc));
    return rc;
}

/* Builds the jobs: one per unique URL, named over the whole set of valid
 * URLs so names do not depend on order. Bad URLs become failed jobs. */
static int build_jobs(struct run *run, const struct io_url_list *urls, char *err, size_t err_size)
{
    bool *is_duplicate = calloc(urls->count ? urls->count : 1, sizeof(*is_duplicate));
    const char **valid_urls = calloc(urls->count ? urls->count : 1, sizeof(*valid_urls));
    char **names = calloc(urls->count ? urls->count : 1, sizeof(*names));
    run->jobs = calloc(urls->count ? urls->count : 1, sizeof(*run->jobs));
    int rc = -ENOMEM;
    if (is_duplicate == NULL || valid_urls == NULL || names == NULL || run->jobs == NULL) {
        snprintf(err, err_size, "out of memory for %zu URLs", urls->count);
        goto out;
    }
    long duplicates = find_duplicates(urls, is_duplicate);
    if (duplicates < 0) {
        snprintf(err, err_size, "out of memory for %zu URLs", urls->count);
        goto out;
    }
    run->report->duplicates = (size_t)duplicates;

    size_t valid_count = 0;
    uint64_t now = uv_hrtime();
    for (size_t i = 0; i < urls->count; i++) {
        if (is_duplicate[i])
            continue;
        struct job *job = &run->jobs[run->job_count];
        job->run = run;
        job->index = run->job_count++;
        job->line = urls->entries[i].line;
        job->url = urls->entries[i].url;
        job->created_ns = now;
        char why[256];
        int refused = io_url_check(job->url, why, sizeof(why));
        if (refused < 0)
            set_failure(job, refused, "url", why);
        else
            valid_urls[valid_count++] = job->url;
    }
    rc = io_assign_output_names(valid_urls, valid_count, names);
    if (rc < 0) {
        snprintf(err, err_size, "naming the outputs: %s", strerror(-rc));
        goto out;
    }
    for (size_t i = 0, next_name = 0; i < run->job_count; i++)
        if (run->jobs[i].error == 0)
            run->jobs[i].output_name = names[next_name++];
    rc = 0;
out:
    free(names); /* the strings now belong to the jobs */
    free(valid_urls);
    free(is_duplicate);
    return rc;
}

/* --shard and resume, once names are assigned over the whole list (so they
 * do not depend on the shard): drops the jobs of other shards, removes the
 * temporary files a killed run left for ours, and marks as skipped those
 * whose output is already there. */
static int select_jobs(struct run *run, char *err, size_t err_size)
{
    const struct pl_options *opts = run->opts;
    size_t kept = 0;
    for (size_t i = 0; i < run->job_count; i++) {
        struct job *job = &run->jobs[i];
        if (opts->shard_count > 1 &&
            pl_shard_of(job->url, opts->shard_count) != opts->shard_index) {
            free(job->output_name);
            continue;
        }
        if (kept != i)
            run->jobs[kept] = *job;
        kept++;
    }
    run->job_count = kept;

    const char **names = malloc((kept ? kept : 1) * sizeof(*names));
    if (names == NULL) {
        snprintf(err, err_size, "out of memory for %zu URLs", kept);
        return -ENOMEM;
    }
    size_t name_count = 0;
    for (size_t i = 0; i < kept; i++)
        if (run->jobs[i].output_name != NULL)
            names[name_count++] = run->jobs[i].output_name;
    int rc = io_remove_stale_temps(opts->output_dir, names, name_count,
                                   &run->report->stale_temps_removed);
    free(names);
    if (rc == -ENOMEM) {
        snprintf(err, err_size, "out of memory for %zu URLs", kept);
        return rc;
    }
    if (opts->force)
        return 0;
    for (size_t i = 0; i < kept; i++) {
        struct job *job = &run->jobs[i];
        if (job->output_name != NULL && io_output_exists(opts->output_dir, job->output_name) == 1)
            job->skipped = true;
    }
    return 0;
}

static void free_jobs(struct run *run)
{
    for (size_t i = 0; i < run->job_count; i++) {
        free(run->jobs[i].output_name);
        free(run->jobs[i].final_url);
        free(run->jobs[i].body);
    }
    free(run->jobs);
    run->jobs = NULL;
}

int pl_run(const struct pl_options *opts, const struct io_url_list *urls, pl_item_cb on_item,
           void *user, struct pl_report *report, char *err, size_t err_size)
{
    struct run run;
    int rc;

    memset(&run, 0, sizeof(run));
    memset(report, 0, sizeof(*report));
    run.opts = opts;
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
    rc = build_jobs(&run, urls, err, err_size);
    if (rc < 0)
        goto fail_loop;
    rc = select_jobs(&run, err, err_size);
    if (rc < 0)
        goto fail_jobs;
    report->items = run.job_count;

    bool sequential = opts->mode == PL_SEQUENTIAL;
    unsigned max_downloads = sequential ? 1 : opts->max_downloads;
    unsigned workers = sequential ? 0 : opts->workers;
    pl_sem_init(&run.slots, max_downloads);
    /* Downloads in flight, plus two waiting bodies per worker, plus the ones
     * being processed: enough to keep every worker fed, no more. */
    run.pipeline_cap = sequential ? 1 : (size_t)max_downloads + 3 * (size_t)workers;
    report->held_limit = run.pipeline_cap;

    struct io_http_options http_opts = opts->http;
    http_opts.rate_limit = opts->rate_limit;
    if (!sequential && opts->max_per_host > 0 && opts->max_per_host < max_downloads) {
        rc = pl_hosts_create(&run.hosts);
        if (rc < 0) {
            snprintf(err, err_size, "out of memory");
            goto fail_jobs;
        }
    }
    rc = io_http_create(&run.loop, &http_opts, &run.http);
    if (rc < 0) {
        snprintf(err, err_size, "setting up HTTP: %s", strerror(-rc));
        goto fail_jobs;
    }
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

    if (opts->on_progress != NULL && uv_timer_init(&run.loop, &run.progress_timer) == 0) {
        unsigned interval = opts->progress_interval_ms > 0 ? opts->progress_interval_ms : 250;
        run.progress_timer.data = &run;
        run.progress_on = true;
        uv_timer_start(&run.progress_timer, on_progress_tick, interval, interval);
        uv_unref((uv_handle_t *)&run.progress_timer);
    }

    /* URLs refused before any I/O, and outputs already there, are reported
     * first, in list order. */
    for (size_t i = 0; i < run.job_count; i++)
        if (run.jobs[i].error < 0 || run.jobs[i].skipped)
            report_job(&run, &run.jobs[i]);
    pump(&run);
    maybe_close(&run);
    uv_run(&run.loop, UV_RUN_DEFAULT);

    stop_workers(&run);
    if (run.todo != NULL) {
        uv_mutex_destroy(&run.done_lock);
        pl_queue_destroy(run.todo);
        free(run.threads);
    }
    report->wall_s = seconds_since(started);
    free_jobs(&run);
    pl_hosts_destroy(run.hosts);
    rc = uv_loop_close(&run.loop);
    if (rc < 0) {
        /* A handle left open is a bug of ours; say so rather than hide it. */
        snprintf(err, err_size, "internal error: event loop not closed cleanly (%s)",
                 uv_strerror(rc));
        return rc;
    }
    return 0;

fail_http:
    io_http_destroy(run.http);
    uv_run(&run.loop, UV_RUN_DEFAULT);
fail_jobs:
    free_jobs(&run);
    pl_hosts_destroy(run.hosts);
fail_loop:
    uv_loop_close(&run.loop);
    return rc;
}
