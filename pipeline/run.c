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

#include "bands.h"
#include "hosts.h"
#include "pipeline.h"

/* What the run keeps of every line of the list, for its whole length: one
 * byte. An item gets a struct job only from its first download to its
 * report, so memory follows the pipeline capacity, not the list; what else
 * it needs is made again from its URL (its output name, a refused URL's
 * reason). */
enum {
    ITEM_DUPLICATE = 1 << 0,   /* repeats an earlier line: not an item */
    ITEM_OTHER_SHARD = 1 << 1, /* --shard: another machine's item */
    ITEM_REFUSED = 1 << 2,     /* io_url_check failed: reported up front */
    ITEM_SKIPPED = 1 << 3,     /* its output is already there: reported up front */
    /* bits 4-5: its name's level (io_name_level), set over the whole list */
    ITEM_NAME_HELD = 1 << 6, /* every name of its holds other URLs' outputs: reported up front */
};
#define ITEM_NAME_LEVEL_SHIFT 4
#define ITEM_NAME_LEVEL_MASK (3u << ITEM_NAME_LEVEL_SHIFT)

static unsigned item_level(uint8_t flags)
{
    return (flags & ITEM_NAME_LEVEL_MASK) >> ITEM_NAME_LEVEL_SHIFT;
}

static void set_item_level(uint8_t *flags, unsigned level)
{
    *flags = (uint8_t)((*flags & ~ITEM_NAME_LEVEL_MASK) | (level << ITEM_NAME_LEVEL_SHIFT));
}

struct job;

/* An item waiting for a slot of its host (max_per_host), in the host's FIFO.
 * A new item waits as this record alone, not as a job; a retry waits with
 * its job (the record is embedded in it). */
struct host_wait {
    struct pl_queue_node node; /* first: the host FIFO hands back &wait->node */
    struct host_wait *prev;    /* in run->host_waits, for a signal to cancel */
    struct host_wait *next;
    struct pl_host *host;
    struct job *job; /* the retry's job; NULL for an item not started yet */
    size_t entry;    /* a new item's line in the URL list, and its index */
    size_t index;
};

struct job {
    struct pl_queue_node node; /* first: the queue hands back &job->node */
    struct run *run;
    size_t index;
    unsigned line;
    const char *url;   /* borrowed from the URL list */
    /* "" when the URL was refused */
    char output_name[IO_OUTPUT_NAME_SIZE];
    uint8_t *body;     /* owned until the decode is done */
    size_t body_size;
    long http_status;
    enum io_http_kind http_kind; /* of the last download */
    uint64_t created_ns;
    uint64_t started_ns;
    unsigned attempts;      /* downloads started */
    char *final_url;        /* owned; the last response's URL after redirects */
    bool skipped;           /* its output exists already (resume) */
    struct pl_host *host;   /* with max_per_host: its host's record */
    /* a retry waiting for its host */
    struct host_wait host_wait;
    struct job *next_ready; /* in run->ready: backoff over, waiting for a slot */
    struct retry_wait *waiting; /* backoff timer while one runs */
    struct job *live_prev;  /* in run->live: every job allocated */
    struct job *live_next;
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
    unsigned edge_threads; /* threads that ran part of the operator */
    /* provenance of the body (io_http_result), when one was downloaded */
    bool downloaded;
    char content_type[128];
    uint8_t sha256[32];
    size_t output_bytes; /* of the PNG written; 0 when none */
    uint8_t *png;        /* png_to_caller: the PNG for on_item, owned */
};

/* A backoff between two attempts; its own allocation so the timer can be
 * closed and freed whenever it ends, independent of the job. */
struct retry_wait {
    uv_timer_t timer;
    struct job *job;
};

struct run {
    const struct pl_options *opts;
    mode_t file_mode; /* of outputs: read once, before any worker exists */
    uv_loop_t loop;
    struct io_http *http;
    struct pl_sem slots;
    size_t pipeline_cap;
    size_t in_pipeline;

    const struct io_url_list *urls;
    uint8_t *item_flags;  /* ITEM_*, one per line of the list */
    struct io_name_table *names; /* the set's names, until resume has checked the folder */
    struct io_output_sync *dir_sync; /* batched fsync of the output folder and its subfolders */
    size_t job_count;     /* items this run is about (this shard's) */
    size_t next_entry;    /* the next line of the list to start */
    size_t next_index;    /* its number among the list's unique items */
    uint64_t created_ns;  /* items known: "queued" counts from here */
    struct job *live;     /* jobs allocated now: in flight */
    /* items waiting for their host */
    struct host_wait *host_waits;
    size_t finished;
    struct job *ready_head; /* retries whose backoff is over, first in first out */
    struct job *ready_tail;
    size_t backing_off;     /* retry timers running */
    uint64_t rng_state;     /* jitter; per run, no global */

    /* concurrent mode: workers and the way back */
    struct pl_queue *todo;
    struct pl_bands *bands; /* splits one image's operator across idle workers */
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
    /* opts->gate said HOLD: re-asks it every GATE_POLL_MS (gate_on: inited) */
    uv_timer_t gate_timer;
    bool gate_on;
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
 * (sequential) — the same code either way, so the comparison is honest;
 * only a worker may split the operator with idle workers (`bands`; NULL on
 * the loop thread). */
static void process_job(struct job *job, const struct run *run, struct pl_bands *bands)
{
    const struct pl_options *opts = run->opts;
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
    rc = pl_bands_apply(bands, opts->op, &opts->canny, &pixels, &edges, &job->edge_threads);
    img_buf_finish(&pixels);
    job->edge_s = seconds_since(t1);
    if (rc < 0) {
        set_failure(job, rc, "edge", "out of memory running the operator");
        goto out;
    }

    uint64_t t2 = uv_hrtime();
    /* Shared with idle workers like the operator; the same bytes either way. */
    rc = pl_bands_encode_png(bands, &edges, opts->png_level, job->url, &png, &png_size, NULL, err,
                             sizeof(err));
    if (rc < 0) {
        job->encode_s = seconds_since(t2);
        set_failure(job, rc, "encode", err);
        goto out;
    }
    if (opts->png_to_caller) {
        /* The caller stores it (a tar shard): handed over with the item. */
        job->png = png;
        png = NULL;
        rc = 0;
    } else {
        rc = io_write_output(opts->output_dir, job->output_name, png, png_size, run->file_mode,
                             run->dir_sync, err, sizeof(err));
    }
    job->encode_s = seconds_since(t2);
    if (rc < 0)
        set_failure(job, rc, "write", err);
    else
        job->output_bytes = png_size;

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
        .output_name = job->output_name[0] != '\0' ? job->output_name : NULL,
        .status = job->skipped                ? PL_ITEM_SKIPPED
                  : job->error == -ECANCELED ? PL_ITEM_CANCELLED
                  : job->error < 0         ? PL_ITEM_FAILED
                                           : PL_ITEM_OK,
        .error = job->error,
        .stage = job->stage,
        .message = job->message,
        .http_status = job->http_status,
        .http_kind = job->http_kind,
        .attempts = job->attempts,
        .bytes = job->body_size,
        .width = job->width,
        .height = job->height,
        .queued_s = job->started_ns ? (double)(job->started_ns - job->created_ns) / 1e9 : 0,
        .download_s = job->download_s,
        .decode_s = job->decode_s,
        .edge_s = job->edge_s,
        .edge_threads = job->edge_threads,
        .encode_s = job->encode_s,
        .content_type = job->downloaded ? job->content_type : NULL,
        .sha256 = job->downloaded ? job->sha256 : NULL,
        .output_bytes = job->output_bytes,
        .png = job->png,
        .png_size = job->png != NULL ? job->output_bytes : 0,
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

static int item_name(const struct run *run, size_t entry, char *name)
{
    return io_layout_name(run->opts->layout, run->urls->entries[entry].url,
                          item_level(run->item_flags[entry]), run->urls->entries[entry].line, name,
                          IO_OUTPUT_NAME_SIZE);
}

/* Fills `job` for line `entry` of the list, the unique item number `index`. */
static void init_job(struct run *run, struct job *job, size_t entry, size_t index)
{
    memset(job, 0, sizeof(*job));
    job->run = run;
    job->index = index;
    job->line = run->urls->entries[entry].line;
    job->url = run->urls->entries[entry].url;
    job->created_ns = run->created_ns;
    /* Cannot fail: the buffer is IO_OUTPUT_NAME_SIZE. */
    if ((run->item_flags[entry] & ITEM_REFUSED) == 0)
        item_name(run, entry, job->output_name);
}

/* The job of an item about to start its first download. */
static int create_job(struct run *run, size_t entry, size_t index, struct job **out)
{
    struct job *job = malloc(sizeof(*job));
    if (job == NULL)
        return -ENOMEM;
    init_job(run, job, entry, index);
    job->live_next = run->live;
    if (run->live != NULL)
        run->live->live_prev = job;
    run->live = job;
    *out = job;
    return 0;
}

static void destroy_job(struct run *run, struct job *job)
{
    if (job->live_prev != NULL)
        job->live_prev->live_next = job->live_next;
    else
        run->live = job->live_next;
    if (job->live_next != NULL)
        job->live_next->live_prev = job->live_prev;
    free(job->body);
    free(job->final_url);
    free(job->png);
    free(job);
}

/* Reports a job's item as finished and frees the job. */
static void retire_job(struct run *run, struct job *job)
{
    report_job(run, job);
    destroy_job(run, job);
}

/* Reports an item that never got a job: refused before any I/O, cancelled
 * before it started, or no memory to start it. */
static void report_unstarted(struct run *run, size_t entry, size_t index, int error,
                             const char *stage, const char *message)
{
    struct job job;
    init_job(run, &job, entry, index);
    set_failure(&job, error, stage, message);
    report_job(run, &job);
}

static void pump(struct run *run);
static void maybe_close(struct run *run);
static void release_host_slot(struct run *run, struct job *job);
static void emit_progress(struct run *run, bool finished);
static void stop_workers(struct run *run);
static void stop_run(struct run *run, int signum);

/* How often a held gate is asked again: short next to any transfer, long
 * next to a timer tick. */
#define GATE_POLL_MS 5

static void on_gate_poll(uv_timer_t *timer)
{
    pump(timer->data);
}

/* Asks opts->gate whether new transfers may start. HOLD arms a one-shot
 * timer that pumps again; STOP stops the run as a signal would, with
 * SIGPIPE as its reason (the caller's output is gone). */
static bool gate_open(struct run *run)
{
    if (run->opts->gate == NULL || !run->gate_on)
        return true;
    enum pl_gate gate = run->opts->gate(run->opts->gate_user);
    if (gate == PL_GATE_OPEN)
        return true;
    if (gate == PL_GATE_STOP)
        stop_run(run, SIGPIPE);
    else if (!uv_is_active((uv_handle_t *)&run->gate_timer))
        uv_timer_start(&run->gate_timer, on_gate_poll, GATE_POLL_MS, 0);
    return false;
}

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
    job->http_kind = result->kind;
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
        job->downloaded = true;
        memcpy(job->content_type, result->content_type, sizeof(job->content_type));
        memcpy(job->sha256, result->sha256, sizeof(job->sha256));
    }

    if (job->error < 0) {
        run->in_pipeline--;
        retire_job(run, job);
    } else if (run->opts->mode == PL_SEQUENTIAL) {
        process_job(job, run, NULL);
        run->in_pipeline--;
        retire_job(run, job);
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
        retire_job(run, job);
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

/* Queues `wait` on its host's FIFO; a signal finds it in run->host_waits. */
static void wait_for_host(struct run *run, struct pl_host *host, struct host_wait *wait)
{
    wait->host = host;
    wait->prev = NULL;
    wait->next = run->host_waits;
    if (run->host_waits != NULL)
        run->host_waits->prev = wait;
    run->host_waits = wait;
    pl_host_block(host, &wait->node);
}

/* Unlinks `wait` from run->host_waits (its host's FIFO is the caller's). */
static void stop_waiting(struct run *run, struct host_wait *wait)
{
    if (wait->prev != NULL)
        wait->prev->next = wait->next;
    else
        run->host_waits = wait->next;
    if (wait->next != NULL)
        wait->next->prev = wait->prev;
}

/* A new item whose host is full waits as a small record, not a job: with
 * one host and a long list, most of the list may wait at once. */
static void wait_new_item(struct run *run, struct pl_host *host, size_t entry, size_t index)
{
    struct host_wait *wait = malloc(sizeof(*wait));
    if (wait == NULL) {
        report_unstarted(run, entry, index, -ENOMEM, "download",
                         "out of memory waiting for a slot of its host");
        return;
    }
    wait->job = NULL;
    wait->entry = entry;
    wait->index = index;
    wait_for_host(run, host, wait);
}

/* Starts the first download of a new item, which holds a download slot and
 * a slot of its `host` (NULL: no per-host cap applies). */
static void start_item(struct run *run, size_t entry, size_t index, struct pl_host *host)
{
    struct job *job;
    if (create_job(run, entry, index, &job) < 0) {
        pl_sem_release(&run->slots);
        report_unstarted(run, entry, index, -ENOMEM, "download",
                         "out of memory starting the download");
        return;
    }
    job->host = host;
    if (host != NULL)
        host->in_flight++;
    enter_pipeline(run);
    start_download(run, job);
}

/* Moves the list cursor past the lines that never start: repeats, other
 * shards' items, and the items reported up front (refused, skipped). */
static void skip_unstartable(struct run *run)
{
    const uint8_t unstartable =
        ITEM_DUPLICATE | ITEM_OTHER_SHARD | ITEM_REFUSED | ITEM_SKIPPED | ITEM_NAME_HELD;
    while (run->next_entry < run->urls->count &&
           (run->item_flags[run->next_entry] & unstartable) != 0) {
        if ((run->item_flags[run->next_entry] & ITEM_DUPLICATE) == 0)
            run->next_index++;
        run->next_entry++;
    }
}

/* Starts downloads while a slot and room in the pipeline are free: first
 * the retries whose backoff is over (they already hold pipeline room), then
 * the items waiting for a host that has a slot again, then new items. An
 * item holds pipeline room from its first download on (attempts > 0). */
static void pump(struct run *run)
{
    if (run->closing || run->stop_signal != 0 || !gate_open(run))
        return;
    while (!run->closing && run->stop_signal == 0 && run->ready_head != NULL &&
           pl_sem_try_acquire(&run->slots)) {
        struct job *job = run->ready_head;
        run->ready_head = job->next_ready;
        if (run->ready_head == NULL)
            run->ready_tail = NULL;
        if (!take_host_slot(run, job)) {
            pl_sem_release(&run->slots);
            job->host_wait.job = job;
            wait_for_host(run, job->host, &job->host_wait);
            continue;
        }
        start_download(run, job);
    }
    struct pl_host *host;
    while (run->hosts != NULL && !run->closing && run->stop_signal == 0 &&
           (host = pl_hosts_next_runnable(run->hosts)) != NULL) {
        bool stalled = false;
        while (host->in_flight < run->opts->max_per_host && host->blocked_head != NULL) {
            struct host_wait *wait = (struct host_wait *)host->blocked_head;
            struct job *job = wait->job;
            if ((job == NULL && run->in_pipeline >= run->pipeline_cap) ||
                !pl_sem_try_acquire(&run->slots)) {
                stalled = true;
                break;
            }
            pl_host_unblock(host);
            stop_waiting(run, wait);
            if (job == NULL) {
                size_t entry = wait->entry;
                size_t index = wait->index;
                free(wait);
                start_item(run, entry, index, host);
                continue;
            }
            host->in_flight++;
            start_download(run, job);
        }
        if (stalled) {
            /* Out of global slots or room: nothing else can start either. */
            pl_hosts_runnable_undo(run->hosts, host);
            break;
        }
    }
    for (;;) {
        skip_unstartable(run);
        if (run->closing || run->stop_signal != 0 || run->next_entry >= run->urls->count ||
            run->in_pipeline >= run->pipeline_cap || !pl_sem_try_acquire(&run->slots))
            break;
        size_t entry = run->next_entry++;
        size_t index = run->next_index++;
        /* NULL: no per-host cap, or no usable host key (the global cap
         * alone applies then). */
        struct pl_host *item_host =
            run->hosts != NULL ? pl_hosts_get(run->hosts, run->urls->entries[entry].url) : NULL;
        if (item_host != NULL && item_host->in_flight >= run->opts->max_per_host) {
            pl_sem_release(&run->slots);
            wait_new_item(run, item_host, entry, index);
            continue;
        }
        start_item(run, entry, index, item_host);
    }
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
        retire_job(run, job);
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
    stop_run(run, signum);
}

/* A signal, or the gate's STOP (signum SIGPIPE): ends the run early. */
static void stop_run(struct run *run, int signum)
{
    run->stop_signal = signum;
    run->report->signal = signum;
    /* Stop starting, abort transfers (their callbacks report them), drop
     * what waits for a worker; workers finish the job they hold. */
    io_http_abort_all(run->http);
    while (run->host_waits != NULL) {
        struct host_wait *wait = run->host_waits;
        /* The host FIFOs are never read again: empty this one at once (its
         * records are all in host_waits, freed as the loop reaches them). */
        while (pl_host_unblock(wait->host) != NULL)
            ;
        stop_waiting(run, wait);
        if (wait->job == NULL) {
            report_unstarted(run, wait->entry, wait->index, -ECANCELED, "cancelled",
                             "not started: cancelled by signal");
            free(wait);
            continue;
        }
        /* A retry: it holds pipeline room since its first download. */
        set_failure(wait->job, -ECANCELED, "cancelled", "not started: cancelled by signal");
        run->in_pipeline--;
        retire_job(run, wait->job);
    }
    struct job *next;
    for (struct job *job = run->live; job != NULL; job = next) {
        next = job->live_next;
        if (job->waiting == NULL)
            continue;
        uv_close((uv_handle_t *)&job->waiting->timer, on_retry_closed);
        job->waiting = NULL;
        run->backing_off--;
        set_failure(job, -ECANCELED, "cancelled", "cancelled by signal while waiting to retry");
        run->in_pipeline--;
        retire_job(run, job);
    }
    while (run->ready_head != NULL) {
        struct job *job = run->ready_head;
        run->ready_head = job->next_ready;
        set_failure(job, -ECANCELED, "cancelled", "cancelled by signal while waiting to retry");
        run->in_pipeline--;
        retire_job(run, job);
    }
    run->ready_tail = NULL;
    if (run->todo != NULL) {
        struct pl_queue_node *node;
        while ((node = pl_queue_try_pop(run->todo)) != NULL) {
            if (pl_bands_drop_token(run->bands, node))
                continue; /* a wake-up for idle workers, not a job */
            struct job *job = (struct job *)node;
            set_failure(job, -ECANCELED, "cancelled", "cancelled by signal");
            run->in_pipeline--;
            run->cpu_stage--;
            retire_job(run, job);
        }
    }
    for (;;) {
        skip_unstartable(run);
        if (run->next_entry >= run->urls->count)
            break;
        size_t entry = run->next_entry++;
        size_t index = run->next_index++;
        report_unstarted(run, entry, index, -ECANCELED, "cancelled",
                         "not started: cancelled by signal");
    }
    maybe_close(run);
}

static void emit_progress(struct run *run, bool finished)
{
    const struct pl_report *report = run->report;
    size_t queued = run->todo != NULL ? pl_queue_length(run->todo) : 0;
    size_t busy = run->finished + run->slots.in_use + run->cpu_stage;
    size_t size_unknown = 0;
    uint64_t remaining = run->http != NULL ? io_http_bytes_remaining(run->http, &size_unknown) : 0;
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
static long find_duplicates(const struct io_url_list *urls, uint8_t *item_flags)
{
    const struct io_url_entry **sorted = malloc((urls->count ? urls->count : 1) * sizeof(*sorted));
    if (sorted == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < urls->count; i++)
        sorted[i] = &urls->entries[i];
    qsort(sorted, urls->count, sizeof(*sorted), compare_url_refs);
    long duplicates = 0;
    for (size_t i = 1; i < urls->count; i++) {
        if (strcmp(sorted[i]->url, sorted[i - 1]->url) == 0) {
            item_flags[sorted[i] - urls->entries] |= ITEM_DUPLICATE;
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
    rc = pl_bands_create(run->todo, workers, PL_BANDS_MIN_PIXELS, &run->bands);
    if (rc < 0)
        goto fail_queue;
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

/* Sorts out the lines of the list: repeats, refused URLs, other shards'
 * items, and whose names collide, naming over the whole set of valid URLs so
 * that names depend neither on the order nor on the shard. What it keeps is
 * run->item_flags, one byte a line; the rest is freed before it returns. */
static int build_items(struct run *run, const struct io_url_list *urls, char *err, size_t err_size)
{
    const struct pl_options *opts = run->opts;
    size_t count = urls->count;
    const char **valid_urls = NULL;
    uint8_t *levels = NULL;
    int rc;

    run->urls = urls;
    run->item_flags = calloc(count ? count : 1, sizeof(*run->item_flags));
    if (run->item_flags == NULL)
        goto fail_memory;
    long duplicates = find_duplicates(urls, run->item_flags);
    if (duplicates < 0)
        goto fail_memory;
    run->report->duplicates = (size_t)duplicates;

    valid_urls = malloc((count ? count : 1) * sizeof(*valid_urls));
    if (valid_urls == NULL)
        goto fail_memory;
    size_t valid_count = 0;
    run->created_ns = uv_hrtime();
    for (size_t i = 0; i < count; i++) {
        uint8_t *flags = &run->item_flags[i];
        const char *url = urls->entries[i].url;
        if (*flags & ITEM_DUPLICATE)
            continue;
        char why[256];
        if (io_url_check(url, why, sizeof(why)) < 0)
            *flags |= ITEM_REFUSED;
        else
            valid_urls[valid_count++] = url;
        if (opts->shard_count > 1 && pl_shard_of(url, opts->shard_count) != opts->shard_index)
            *flags |= ITEM_OTHER_SHARD;
        else
            run->job_count++;
    }
    /* Positional names need no pass over the list: levels stay 0. */
    if (opts->layout == IO_LAYOUT_POSITIONAL) {
        rc = 0;
        goto out;
    }
    levels = malloc((valid_count ? valid_count : 1) * sizeof(*levels));
    if (levels == NULL)
        goto fail_memory;
    rc = io_name_table_create(valid_urls, valid_count, levels, &run->names);
    if (rc < 0) {
        snprintf(err, err_size, "naming the outputs: %s", strerror(-rc));
        goto out;
    }
    for (size_t i = 0, valid = 0; i < count; i++) {
        if ((run->item_flags[i] & (ITEM_DUPLICATE | ITEM_REFUSED)) != 0)
            continue;
        set_item_level(&run->item_flags[i], levels[valid++]);
    }
    rc = 0;
    goto out;

fail_memory:
    rc = -ENOMEM;
    snprintf(err, err_size, "out of memory for %zu URLs", count);
out:
    free(levels);
    free(valid_urls);
    return rc;
}

/* The output names of this run's items (this shard's, URL accepted), made
 * one at a time for io_remove_stale_temps. */
struct name_walk {
    const struct run *run;
    size_t entry;
    char name[IO_OUTPUT_NAME_SIZE];
};

static const char *next_item_name(void *user)
{
    struct name_walk *walk = user;
    const uint8_t not_ours = ITEM_DUPLICATE | ITEM_OTHER_SHARD | ITEM_REFUSED;
    while (walk->entry < walk->run->urls->count) {
        size_t entry = walk->entry++;
        if ((walk->run->item_flags[entry] & not_ours) == 0 &&
            item_name(walk->run, entry, walk->name) == 0)
            return walk->name;
    }
    return NULL;
}

/* Resume, part one: removes the temporary files a killed run left for this
 * run's items, once names are assigned over the whole list (so they do not
 * depend on the shard); other shards' are theirs. */
static int remove_stale_temps(struct run *run, char *err, size_t err_size)
{
    struct name_walk walk = {.run = run};
    int rc = io_remove_stale_temps_nested(run->opts->output_dir, next_item_name, &walk,
                                          &run->report->stale_temps_removed);
    if (rc == -ENOMEM) {
        snprintf(err, err_size, "out of memory for %zu URLs", run->job_count);
        return rc;
    }
    return 0;
}

/* Reports, in list order and before any download, the URLs refused before
 * any I/O and (resume, part two) the items whose output is already there. */
static void report_up_front(struct run *run)
{
    const struct pl_options *opts = run->opts;
    size_t index = 0;
    for (size_t entry = 0; entry < run->urls->count; entry++) {
        uint8_t *flags = &run->item_flags[entry];
        if (*flags & ITEM_DUPLICATE)
            continue;
        size_t item_index = index++;
        if (*flags & ITEM_OTHER_SHARD)
            continue;
        if (*flags & ITEM_REFUSED) {
            /* The reason is not kept per line: checking again gives it back. */
            char why[256] = "";
            int refused = io_url_check(run->urls->entries[entry].url, why, sizeof(why));
            report_unstarted(run, entry, item_index, refused, "url", why);
            continue;
        }
        /* Done only when the name holds this URL's output; a name held by
         * another URL's moves the item up a level (io_resume_name). */
        struct job job;
        init_job(run, &job, entry, item_index);
        uint8_t level = (uint8_t)item_level(*flags);
        bool positional = opts->layout == IO_LAYOUT_POSITIONAL;
        int resume = positional ? io_layout_resume(opts->output_dir, job.url, opts->force,
                                                   job.output_name)
                                : io_resume_name(opts->output_dir, job.url, opts->force,
                                                 run->names, &level, job.output_name,
                                                 sizeof(job.output_name));
        if (resume < 0) {
            *flags |= ITEM_NAME_HELD;
            set_failure(&job, resume, "write",
                        resume == -EEXIST && positional
                            ? "its positional name holds another URL's output (a run of "
                              "another list in this folder?)"
                        : resume == -EEXIST ? "every output name of this URL holds another "
                                              "URL's output"
                                            : "out of memory checking its output name");
            job.output_name[0] = '\0';
            report_job(run, &job);
            continue;
        }
        set_item_level(flags, level);
        if (resume == IO_RESUME_DONE) {
            *flags |= ITEM_SKIPPED;
            job.skipped = true;
            report_job(run, &job);
        }
    }
    io_name_table_destroy(run->names);
    run->names = NULL;
}

/* Frees what a run stopped before its end may still hold; after a complete
 * run every job and wait record is gone already. */
static void free_items(struct run *run)
{
    while (run->host_waits != NULL) {
        struct host_wait *wait = run->host_waits;
        stop_waiting(run, wait);
        if (wait->job == NULL)
            free(wait);
    }
    while (run->live != NULL)
        destroy_job(run, run->live);
    free(run->item_flags);
    run->item_flags = NULL;
    io_name_table_destroy(run->names);
    run->names = NULL;
    io_output_sync_destroy(run->dir_sync);
    run->dir_sync = NULL;
}

int pl_run(const struct pl_options *opts, const struct io_url_list *urls, pl_item_cb on_item,
           void *user, struct pl_report *report, char *err, size_t err_size)
{
    struct run run;
    int rc;

    memset(&run, 0, sizeof(run));
    memset(report, 0, sizeof(*report));
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
    rc = build_items(&run, urls, err, err_size);
    if (rc < 0)
        goto fail_loop;
    rc = remove_stale_temps(&run, err, err_size);
    if (rc < 0)
        goto fail_jobs;
    report->items = run.job_count;
    rc = opts->no_fsync ? 0 : io_output_sync_create(opts->output_dir, &run.dir_sync);
    if (rc < 0) {
        snprintf(err, err_size, "opening the output folder %s: %s", opts->output_dir,
                 strerror(-rc));
        goto fail_jobs;
    }

    bool sequential = opts->mode == PL_SEQUENTIAL;
    unsigned max_downloads = sequential ? 1 : opts->max_downloads;
    unsigned workers = sequential ? 0 : opts->workers;
    pl_sem_init(&run.slots, max_downloads);
    /* Downloads in flight, plus two waiting bodies per worker, plus the ones
     * being processed: enough to keep every worker fed, no more. */
    run.pipeline_cap = sequential ? 1 : (size_t)max_downloads + 3 * (size_t)workers;
    report->held_limit = run.pipeline_cap;

    if (!sequential && opts->max_per_host > 0 && opts->max_per_host < max_downloads) {
        rc = pl_hosts_create(&run.hosts);
        if (rc < 0) {
            snprintf(err, err_size, "out of memory");
            goto fail_jobs;
        }
    }
    rc = io_http_create(&run.loop, &opts->http, &run.http);
    if (rc < 0) {
        snprintf(err, err_size, "setting up HTTP: %s", strerror(-rc));
        /* fail_http runs the loop: a handle io_http_create closed on its
         * way out still has its close callback pending. */
        goto fail_http;
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

    report_up_front(&run);
    pump(&run);
    maybe_close(&run);
    uv_run(&run.loop, UV_RUN_DEFAULT);

    stop_workers(&run);
    if (run.todo != NULL) {
        uv_mutex_destroy(&run.done_lock);
        pl_bands_destroy(run.bands);
        pl_queue_destroy(run.todo);
        free(run.threads);
    }
    /* Every rename of the run durable before its report says so. */
    int synced = io_output_sync_flush(run.dir_sync);
    report->wall_s = seconds_since(started);
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
    return 0;

fail_http:
    io_http_destroy(run.http);
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
