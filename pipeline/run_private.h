/* Private to pipeline/: the run and its jobs, shared by the files pl_run is
 * split into. The loop thread owns everything here except what a worker is
 * given: the one job it popped, until it hands it back.
 *
 *   list ─▶ [admit: slots, room, hosts] ─▶ curl multi ─▶ hand-off queue ─▶ workers
 *                     ▲                                                     │
 *                     └────────────── uv_async (done list) ◀────────────────┘
 *
 * Files: run.c (pl_run, setup and teardown, progress), job.c (the job, its
 * states and the one transition function), admit.c (the admission policy),
 * download.c (applying it: starting transfers and their end), triage.c (the
 * list: repeats, refused URLs, shards, names, resume), retry.c (backoff
 * timers), workers.c (the CPU stage, the pool and the way back), cancel.c
 * (a signal: one walk over the jobs by state), hosts.c (per-host caps and
 * health), budget.c (--max-memory, shared by the workers), feed.c (a
 * streamed list, pl_run_stream: the reader thread and the rows it queues in
 * rowqueue.c's bounded queue, triaged as they are taken), adapt.c (the
 * adaptive download cap's policy) and sampler.c (its timer and the one
 * place the cap changes). */
#ifndef EDGEFETCH_PIPELINE_RUN_PRIVATE_H
#define EDGEFETCH_PIPELINE_RUN_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "adapt.h"
#include "bands.h"
#include "budget.h"
#include "hosts.h"
#include "list.h"
#include "pipeline.h"

/* What the run keeps of every line of the list, for its whole length: one
 * byte. An item gets a struct job only once it leaves the list, and loses it
 * when reported; what else it needs is made again from its URL (its output
 * name, a refused URL's reason). */
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

static inline unsigned item_level(uint8_t flags)
{
    return (flags & ITEM_NAME_LEVEL_MASK) >> ITEM_NAME_LEVEL_SHIFT;
}

static inline void set_item_level(uint8_t *flags, unsigned level)
{
    *flags = (uint8_t)((*flags & ~ITEM_NAME_LEVEL_MASK) | (level << ITEM_NAME_LEVEL_SHIFT));
}

/* A job's state: the one field that says where it is and what it holds.
 * Changed only by job_set_state, which does the accounting that goes with
 * each change, so every counter below has one writer.
 *
 *   NEW ──▶ DOWNLOADING ──▶ CPU ──▶ DONE          (the usual path)
 *    │  ╲        │  ▲  ╲───────────▶ DONE          (failed download)
 *    │   ▶ WAIT_HOST ◀── READY ◀── BACKOFF ◀──┘    (busy host; retry)
 *    └───────────────────────────▶ DONE          (host down, no memory)
 *
 * Holds:       download slot   pipeline room   host in_flight   list
 *  NEW              -               -               -          none
 *  WAIT_HOST        -               -               -          host->waiting
 *  READY            -               -               -          run->ready
 *  BACKOFF          -               -               -          run->backoff (by due time)
 *  DOWNLOADING      1               1               1          none (curl has it)
 *  CPU              -               1               -          the worker queue, then
 *                                                              run->done (the way back)
 *  DONE: reported and freed in the same call.
 * Waits hold nothing: the room bounds bodies in memory (download start to
 * written), not jobs asleep, and a job asleep is a small record. */
enum job_state {
    JOB_NEW = 0,
    JOB_WAIT_HOST,
    JOB_READY,
    JOB_BACKOFF,
    JOB_DOWNLOADING,
    JOB_CPU,
    JOB_DONE,
    JOB_STATE_COUNT,
};

/* What a downloaded body was, for the report: allocated only once a body
 * came, so that a job asleep stays small. */
struct job_provenance {
    char content_type[128]; /* "" when the server sent none */
    uint8_t sha256[32];
    size_t output_bytes; /* of the PNG written; 0 when none */
    uint8_t *png;        /* png_to_caller: the PNG for on_item, owned */
    enum img_format format; /* imaging's probe of the body; UNKNOWN before */
};

struct job {
    /* First: the worker queue hands back &job->node. Links the job into the
     * one list its state names (see enum job_state), or none. Fields are
     * ordered by size so that a job asleep stays small (test_job_is_small). */
    struct pl_queue_node node;
    struct io_list all; /* run->jobs: every job allocated, for a signal's walk */
    struct run *run;
    size_t index; /* its number among the list's unique items */
    /* Its row: from the URL list (pl_run: the list owns it) or the streamed
     * row (pl_run_stream: the job owns it, owns_url). */
    const char *url;
    uint64_t line;
    uint64_t tag;
    const char *given;    /* --name-column: its name's stem (the list owns it), or NULL */
    struct pl_host *host; /* NULL when its URL has no usable host key */
    uint8_t *body;        /* owned from download end until decoded */
    size_t body_size;
    char *final_url;                   /* owned; the last response's URL after redirects */
    char *message;                     /* owned; the failure's reason, NULL when none */
    struct job_provenance *provenance; /* owned; NULL until a body was downloaded */
    uint64_t started_ns; /* first download */
    uint64_t due_ns;     /* BACKOFF: when it may start again */
    /* Seconds per stage: float is ample for a report in milliseconds. */
    float download_s;
    float decode_s;
    float edge_s;
    float encode_s;
    enum job_state state;
    int http_status;
    unsigned attempts;   /* downloads started */
    int error;           /* 0, or negative errno-style */
    enum pl_stage stage; /* of the failure */
    enum pl_kind kind;
    int width;
    int height;
    unsigned edge_threads; /* threads that ran part of the operator */
    uint8_t level;      /* of its readable name, at most IO_NAME_LEVEL_MAX */
    uint8_t host_downs; /* its host's down_count when its transfer started */
    /* One byte for the three (the record stays within test_job_is_small). */
    bool owns_url : 1; /* url is the streamed row's, freed with the job */
    bool named : 1;    /* has an output name: its URL passed its check, the name is not held */
    bool skipped : 1;  /* its output exists already (resume): never a live job */
};

struct run {
    const struct pl_options *opts;
    mode_t file_mode; /* of outputs: read once, before any worker exists */
    uv_loop_t loop;
    struct io_http *http;
    struct pl_sem slots;
    size_t pipeline_cap; /* bodies held at most (the back-pressure bound) */
    size_t in_pipeline;  /* jobs in DOWNLOADING or CPU */
    size_t in_state[JOB_STATE_COUNT];
    /* The download cap's mode and bounds, set once at setup; its samples
     * (sampler.c: the timer, the window, set_cap the one writer of
     * slots.capacity and pipeline_cap after setup). */
    enum pl_cap_mode cap_mode;
    struct pl_adapt_limits cap_limits;
    struct pl_adapt_window cap_window;
    uv_timer_t sample_timer;
    bool sample_on;
    unsigned cap_rises; /* rises so far: the report's rises_to_peak */
    /* Workers started (thread_count drops to 0 when they are joined at the
     * end, before the report's ceiling is taken). */
    unsigned cap_workers;
    size_t bodies_received; /* downloads that brought a body: the mean for the memory bound */
    /* For the cap's target (adapt.h, pl_adapt_target): the seconds those
     * bodies' transfers took, and the items through the CPU stage and its
     * seconds; totals, the sampler folds what came since its last window
     * into the window (cap_seen: the totals then). */
    double transfer_s_received;
    size_t cpu_items;
    double cpu_stage_s;
    struct {
        size_t bodies;
        double transfer_s;
        size_t items;
        double cpu_s;
    } cap_seen;

    /* the list (triage.c) */
    const struct io_url_list *urls;
    uint8_t *item_flags;          /* ITEM_*, one per line of the list */
    struct io_name_table *names;  /* the set's names, until resume has checked the folder */
    struct io_output_sync *dir_sync; /* batched fsync of the output folder and its subfolders */
    size_t job_count;             /* items this run is about (this shard's) */
    size_t next_entry;            /* the next line of the list to start */
    size_t next_index;            /* its number among the list's unique items */
    uint64_t created_ns;          /* items known: "queued" counts from here */
    size_t finished;              /* items reported */

    /* pl_run_stream (feed.c): rows from the source's reader thread, through
     * a bounded queue; run->urls and item_flags are NULL then. */
    const struct pl_source *source;
    struct pl_row_queue *rows;
    uv_thread_t feed_thread;
    bool feed_thread_on;
    uv_async_t feed_wakeup; /* the reader queued a row into an empty queue, or ended */
    bool feed_wakeup_on;
    bool list_open;     /* the source may give more rows */
    int feed_status;    /* the source's end: 0 or its error */
    char feed_err[256]; /* its reason, written by the reader thread before it ends */
    struct pl_row held; /* taken from the queue and startable, not a job yet */
    size_t held_index;
    bool held_valid;
    uint64_t swept_folder; /* the last positional folder swept of stale temps, + 1 */

    struct io_list jobs;  /* struct job, through job->all */
    struct io_list ready; /* JOB_READY, first in first out */
    struct pl_hosts *hosts;

    /* retries (retry.c): one timer for all backoffs, armed for the earliest */
    struct io_list backoff; /* JOB_BACKOFF, by due_ns */
    uv_timer_t backoff_timer;
    bool backoff_timer_open;
    uint64_t rng_state; /* jitter; per run, no global */

    /* concurrent mode: workers and the way back (workers.c) */
    struct pl_queue *todo;
    struct pl_bands *bands; /* splits one image's operator across idle workers */
    uv_thread_t *threads;
    unsigned thread_count;
    uv_async_t wakeup;
    uv_mutex_t done_lock;
    struct io_list done; /* jobs the workers finished, under done_lock */
    /* sequential mode: its one job's CPU stage on libuv's thread pool */
    uv_work_t sequential_work;

    /* --max-memory: the CPU stages' bytes, shared by the workers (and used
     * the same way by the sequential mode); budget_on once initialised. */
    struct pl_budget budget;
    bool budget_on;
    /* Set by stop_run (a signal, the gate's STOP): every decode, operator
     * and encode running polls it and stops (imaging's
     * img_decode_limits.cancel, img_bands_set_cancel,
     * img_png_bands_set_cancel). */
    atomic_int decode_cancel;

    uint64_t bytes_received;
    uint64_t started_ns;
    uv_timer_t progress_timer;
    bool progress_on;

    uv_signal_t sigint;
    uv_signal_t sigterm;
    /* opts->gate said HOLD: asks again after GATE_POLL_MS (gate_on: inited) */
    uv_timer_t gate_timer;
    bool gate_on;
    int stop_signal;
    bool closing;

    pl_item_cb on_item;
    void *user;
    struct pl_report *report;
};

double seconds_since(uint64_t start_ns);

/* ---- job.c -------------------------------------------------------------- */

/* A new job for line `entry`, unique item `index`, in JOB_NEW; -ENOMEM. */
int job_create(struct run *run, size_t entry, size_t index, struct job **out);
/* The same for a streamed row: takes row->url on success. */
int job_create_row(struct run *run, struct pl_row *row, size_t index, struct job **out);
/* A stack job for a streamed row (takes row->url; job_finish_unstarted frees it). */
void job_init_row(struct run *run, struct job *job, struct pl_row *row, size_t index);
void job_finish_unstarted(struct job *job);
/* Reports a job with no live state (on the stack) as failed. */
void fail_unstarted(struct run *run, struct job *job, int error, enum pl_stage stage,
                    enum pl_kind kind, const char *message);
/* Moves `job` to `to`, doing what the change holds or releases (see enum
 * job_state). JOB_DONE reports the item and frees the job. Only allowed
 * changes are made (job_transition_allowed); the caller checked that a slot
 * is free before DOWNLOADING. */
void job_set_state(struct run *run, struct job *job, enum job_state to);
bool job_transition_allowed(enum job_state from, enum job_state to);
/* Records a failure on `job`: its code, where and what kind, and the human
 * reason (copied). A later call replaces it. */
void job_fail(struct job *job, int error, enum pl_stage stage, enum pl_kind kind,
              const char *message);
/* Reports an item that has no live job (refused, skipped, cancelled before
 * it left the list): the single writer of the report's item counters, with
 * job_set_state(DONE). */
void report_item(struct run *run, const struct job *job);
/* Frees a job and what it owns (not unlinking it). */
void job_destroy(struct job *job);
/* Forgets a recorded failure (a retry succeeded). */
void job_clear_failure(struct job *job);
/* A stack job describing line `entry` for report_item. */
void job_init_unstarted(struct run *run, struct job *job, size_t entry, size_t index);
void report_unstarted(struct run *run, size_t entry, size_t index, int error, enum pl_stage stage,
                      enum pl_kind kind, const char *message);
/* The output name of `job` (cannot fail for a URL that passed
 * io_url_check: the buffer is IO_OUTPUT_NAME_SIZE). */
int job_name(const struct run *run, const struct job *job, char *name);
/* The same for line `entry` of the URL list (pl_run). */
int item_name(const struct run *run, size_t entry, char *name);

/* ---- download.c --------------------------------------------------------- */

/* Starts whatever the admission policy lets start now. */
void pump(struct run *run);
/* Fails now every job of `host` (down) that waits for it. */
void fail_host_jobs(struct run *run, struct pl_host *host);

/* ---- triage.c ----------------------------------------------------------- */

/* Sets ITEM_DUPLICATE on each line that repeats an earlier one (sorting, so
 * a million-line list stays cheap; pl_plan shares it); returns how many
 * there were, or -ENOMEM. */
long find_duplicates(const struct io_url_list *urls, uint8_t *item_flags);
int build_items(struct run *run, const struct io_url_list *urls, char *err, size_t err_size);
int remove_stale_temps(struct run *run, char *err, size_t err_size);
void report_up_front(struct run *run);
/* Moves the list cursor past lines that never start; true when a line is left. */
bool list_left(struct run *run);

/* ---- feed.c ------------------------------------------------------------- */

/* Starts the reader thread on run->source (run->rows made) and its wake-up;
 * when it cannot, the list ends at once with that error. */
void feed_start(struct run *run);
/* list_left for a streamed list: takes rows from the queue, reporting those
 * that never start (refused URL, output already there, name held) until one
 * can start (run->held) or none is queued. */
bool feed_left(struct run *run);
/* Stops the source: it is woken and ends at its next wait for the list;
 * the held and queued rows, and those the reader still hands over (read
 * before it saw the stop), are reported cancelled. */
void feed_stop(struct run *run);
/* True once the source ended and every row of it was taken. */
bool feed_ended(struct run *run);
/* maybe_close's part: joins the (ended) reader thread, closes the wake-up. */
void feed_close(struct run *run);
/* After the loop: frees the queue. */
void feed_finish(struct run *run);

/* ---- retry.c ------------------------------------------------------------ */

int retry_init(struct run *run);
void retry_close(struct run *run);
/* The delay before the next attempt of `job` after `result`, in seconds, or
 * a negative value when it is not tried again. */
double retry_delay(struct run *run, const struct job *job, const struct io_http_result *result);
/* For job_set_state: links a job entering BACKOFF (due_ns set) in due order
 * and arms the timer. */
void retry_enqueue(struct run *run, struct job *job);

/* ---- workers.c ---------------------------------------------------------- */

int start_workers(struct run *run, unsigned workers, char *err, size_t err_size);
void stop_workers(struct run *run);
void finish_workers(struct run *run);
/* The CPU stage of one job; `bands` NULL outside the pool. */
void process_job(struct job *job, struct run *run, struct pl_bands *bands);
/* Sequential mode: the CPU stage of `job` (in JOB_CPU) off the loop thread,
 * then JOB_DONE on it. */
void run_sequential_job(struct run *run, struct job *job);

/* ---- cancel.c ----------------------------------------------------------- */

void on_signal(uv_signal_t *handle, int signum);
/* A signal, or the gate's STOP (signum SIGPIPE): ends the run early. */
void stop_run(struct run *run, int signum);

/* ---- sampler.c ---------------------------------------------------------- */

/* Sets the download cap and its room for bodies (after the workers
 * started: the room counts them) and, when `mode` is ADAPTIVE, starts the
 * sampling timer; a timer that cannot be made leaves the cap fixed. */
void sampler_start(struct run *run, enum pl_cap_mode mode, unsigned start, unsigned ceiling);
/* maybe_close's part: closes the timer. */
void sampler_close(struct run *run);
/* After the loop: the report's peaks and the final ceiling. */
void sampler_finish(struct run *run);

/* ---- run.c -------------------------------------------------------------- */

/* Once every item is reported, closes the loop's handles so uv_run returns. */
void maybe_close(struct run *run);

#endif
