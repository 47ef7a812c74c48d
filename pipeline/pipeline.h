/* pipeline: the run — the URL queue, the download-slot semaphore, the worker
 * pool and the hand-off between them, shutdown and signals. It owns the order
 * of events; the work itself is io's and imaging's. */
#ifndef EDGEFETCH_PIPELINE_H
#define EDGEFETCH_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imaging.h"
#include "io.h"
#include "list.h"

enum pl_mode {
    PL_CONCURRENT = 0, /* downloads overlap each other and the CPU stage */
    PL_SEQUENTIAL,     /* one item at a time: download, process, next */
};

struct pl_progress;
typedef void (*pl_progress_cb)(const struct pl_progress *progress, void *user);

/* The admission gate: what the caller says about starting new work. */
enum pl_gate {
    PL_GATE_OPEN = 0, /* start transfers as the caps allow */
    PL_GATE_HOLD,     /* start nothing new for now; running transfers go on */
    PL_GATE_STOP,     /* stop the run as SIGTERM would */
};

/* Asked on the loop thread before a new transfer starts (a retry included).
 * HOLD: start nothing new for now (asked again every few ms by a timer of
 * the run); STOP: stop the run as SIGTERM would (no new work, transfers
 * aborted, workers finish what they hold), report->signal = SIGPIPE. A
 * caller whose output cannot keep up says HOLD rather than block on_item. */
typedef enum pl_gate (*pl_gate_cb)(void *user);

/* How the download cap (max_downloads) behaves over a run. */
enum pl_cap_mode {
    /* Starts at max_downloads and moves between it and
     * max_downloads_ceiling (pipeline/adapt.h says when); the default. */
    PL_CAP_ADAPTIVE = 0,
    PL_CAP_FIXED, /* max_downloads throughout: an explicit -j, --compare */
};

/* The highest the adaptive cap rises to by default (8 × the default start):
 * the room for bodies grows with the cap (cap + 3 × workers), so this also
 * bounds the bodies held; measured in tests/bench/results/world_adaptive.md. */
#define PL_ADAPT_CEILING 256

struct pl_options {
    enum pl_mode mode;
    unsigned max_downloads; /* transfers in flight at most (concurrent mode) */
    /* ADAPTIVE: max_downloads is where the cap starts, and the least it
     * falls to; it rises to max_downloads_ceiling at most (lowered by the
     * caller to fit the descriptor limit), and only while the bodies the
     * room would hold at the raised cap, at the mean body size seen so
     * far, fit in max_memory. Sequential mode is always fixed at 1. */
    enum pl_cap_mode cap_mode;
    unsigned max_downloads_ceiling;
    unsigned workers;       /* CPU-stage threads (concurrent mode) */
    enum img_operator op;
    struct img_canny_options canny; /* used when op is IMG_OP_CANNY */
    int png_level;
    uint64_t max_pixels; /* width × height at most, from the header; 0 = no limit */
    /* The memory budget: bytes the CPU stages of all workers hold at once
     * (decode, operator and encode buffers, by imaging's img_probe_item
     * estimate), reserved before each decode. Not the bodies (at most
     * max_body each, see pl_report.held_limit). > 0. */
    size_t max_memory;
    const char *output_dir;
    struct io_http_options http;
    /* Transient download failures (see io_http_result.transient) are tried
     * again up to `retries` times, after base * 2^(try-1) seconds with
     * jitter (half to all of it), or after the server's Retry-After clamped
     * to retry_after_max_s. */
    unsigned retries;
    double retry_base_s;
    double retry_after_max_s;
    /* A host taken for down (pipeline/hosts.h: its first connect timeout,
     * 3 refusals in a row, or its name's first failed lookup) has its jobs
     * failed at once for this long, doubled after each failed probe (at
     * most 8 times this); then one job probes it. 0 = down for the rest of
     * the run. */
    uint64_t host_cooldown_ms;
    /* Resume: an item whose output already exists is reported as skipped
     * and not fetched, unless `force`. */
    bool force;
    /* Outputs are fdatasync'ed before their rename and the folder synced
     * in batches (io_write_atomic, io_dir_sync), unless `no_fsync`. */
    bool no_fsync;
    /* Scale-out: with shard_count > 1, only the items whose URL has
     * pl_shard_of(url, shard_count) == shard_index are run. Names are still
     * assigned over the whole list, so they do not depend on the shard. */
    unsigned shard_index;
    unsigned shard_count;
    /* Output names: readable (from the URL, levels over the whole list) or
     * positional (from the list line: FOLDER/LINE.png, io_layout_name). */
    enum io_layout layout;
    /* The PNG is not written: pl_item.png hands it to on_item, which stores
     * it (cmd's tar shards, on the loop thread). */
    bool png_to_caller;
    /* Transfers in flight per host ("host:port" of the listed URL) at most;
     * 0 = only max_downloads. Items wait in our queue, not curl's, so the
     * transfer timeout never counts the wait. */
    unsigned max_per_host;
    /* Called on the loop thread every progress_interval_ms, and once more
     * when the run ends. NULL = no progress. */
    pl_progress_cb on_progress;
    void *progress_user;
    unsigned progress_interval_ms;
    /* NULL = always open. */
    pl_gate_cb gate;
    void *gate_user;
};

/* The defaults of every field: concurrent, -j 32 adaptive up to
 * PL_ADAPT_CEILING with 4 per host, a worker per online CPU,
 * sobel, PNG level 1, 100 M pixels, a memory budget of half the physical
 * RAM at most 4 GiB and at most the cgroup's memory.max, into "edges", 60 s for a whole transfer
 * (redirects included), 5 s to connect, 64 MiB bodies, 5 redirects, 2
 * retries from 0.5 s, Retry-After capped at 60 s, a down host probed again
 * after 30 s; everything else off. */
void pl_options_init(struct pl_options *opts);
/* --compare's transfers in flight unless -j is given: the asyncio lesson's 4,
 * which the comparison reproduces (make demo). */
#define PL_LESSON_DOWNLOADS 4

enum pl_status {
    PL_ITEM_OK = 0,
    PL_ITEM_FAILED,
    PL_ITEM_CANCELLED, /* stopped or never started because of a signal */
    PL_ITEM_SKIPPED,   /* its output already exists (resume); not fetched */
};

/* Where an item failed: decided once, where the failure happens, and only
 * named by cmd/. A cancelled item keeps the stage it was in (DOWNLOAD when
 * it had not started); cancellation itself is its status and its kind. */
enum pl_stage {
    PL_STAGE_NONE = 0, /* did not fail */
    PL_STAGE_URL,      /* refused before any I/O */
    PL_STAGE_DOWNLOAD,
    PL_STAGE_DECODE,
    PL_STAGE_EDGE,
    PL_STAGE_ENCODE,
    PL_STAGE_WRITE,
};

/* Why an item failed, as a code (docs/json.md lists the names cmd/ gives
 * them). A download's kind is io's (enum io_http_kind, decided in io/http.c
 * where libcurl's code is known), mapped in download_kind()
 * (pipeline/download.c); a decode's is imaging's (enum img_error_kind,
 * decided by the decoder), mapped in decode_kind() (pipeline/workers.c). */
enum pl_kind {
    PL_KIND_NONE = 0,
    PL_KIND_BAD_URL,
    PL_KIND_UNSUPPORTED_SCHEME,
    PL_KIND_TIMEOUT,
    PL_KIND_CONNECT,
    PL_KIND_RESOLVE,
    PL_KIND_HTTP_STATUS,
    PL_KIND_TOO_LARGE,
    PL_KIND_HEADERS_TOO_LARGE,
    PL_KIND_MALFORMED_RESPONSE,
    PL_KIND_TOO_MANY_REDIRECTS,
    PL_KIND_REDIRECT_REFUSED,
    PL_KIND_TLS,
    PL_KIND_NETWORK,
    PL_KIND_NOT_AN_IMAGE,       /* HTML, JSON, an empty body, unknown bytes */
    PL_KIND_UNSUPPORTED_FORMAT, /* an image, in a format or variant not decoded */
    PL_KIND_CORRUPT,            /* bad header, CRC, checksum or data */
    PL_KIND_TRUNCATED,          /* the body ends before the image does */
    PL_KIND_TOO_MUCH_WORK,      /* a progressive JPEG over the scan limits */
    PL_KIND_TOO_MANY_PIXELS,    /* over max_pixels */
    PL_KIND_OVER_BUDGET,        /* needs more than the whole max_memory */
    PL_KIND_OPERATOR,
    PL_KIND_ENCODE,
    PL_KIND_WRITE,
    PL_KIND_OUT_OF_MEMORY,
    PL_KIND_CANCELLED,
    PL_KIND_OTHER,
};

/* One finished item, as handed to pl_item_cb. Strings live as long as the
 * callback runs. Times are seconds. */
struct pl_item {
    size_t index; /* position among the run's unique items, 0-based */
    unsigned line;
    uint64_t tag; /* pl_run_stream: the row's pl_row.tag; 0 otherwise */
    const char *url;
    const char *final_url;   /* after redirects; NULL when no response came */
    const char *output_name; /* NULL when the URL was refused before I/O */
    /* With png_to_caller, the PNG of an ok item (valid during the callback). */
    const uint8_t *png;
    size_t png_size;
    enum pl_status status;
    int error;          /* negative errno-style code when failed */
    enum pl_stage stage; /* of the failure; PL_STAGE_NONE when ok or skipped */
    enum pl_kind kind;   /* of the failure; PL_KIND_NONE when ok or skipped */
    const char *message;
    long http_status;
    unsigned attempts; /* downloads started (1 + retries) */
    size_t bytes;
    int width;
    int height;
    /* What imaging recognised the body as (its probe, also when the decode
     * then failed: unsupported variant, corrupt, too large...); UNKNOWN when
     * no body reached the decoder or it is no image format. */
    enum img_format format;
    double queued_s; /* waiting for a download slot */
    double download_s;
    double decode_s;
    double edge_s;
    double encode_s; /* encode + atomic write */
    /* Threads that ran part of the operator: 1, more when the image was
     * split across idle workers, 0 when the operator did not run. */
    unsigned edge_threads;
    /* Of the body downloaded (NULL when none was): its Content-Type ("" when
     * the server sent none) and its SHA-256 (32 bytes). */
    const char *content_type;
    const uint8_t *sha256;
    size_t output_bytes; /* of the PNG this run wrote; 0 when it wrote none */
};

typedef void (*pl_item_cb)(const struct pl_item *item, void *user);

struct pl_report {
    size_t items;      /* unique URLs */
    size_t ok;
    size_t failed;
    size_t cancelled;
    size_t skipped;    /* outputs already there (resume) */
    size_t stale_temps_removed; /* temporary files a killed run left */
    size_t duplicates; /* repeated URLs, fetched once */
    size_t retries;    /* download attempts beyond each item's first */
    uint64_t bytes;    /* body bytes downloaded */
    double wall_s;
    double download_s; /* sums over items */
    double decode_s;
    double edge_s;
    double encode_s;
    size_t peak_held;  /* most items between download start and CPU-stage end */
    size_t held_limit; /* the back-pressure bound on that (its highest, as the cap moved) */
    enum pl_cap_mode cap_mode;     /* the run's (FIXED in sequential mode) */
    unsigned cap_start;            /* the download cap it started at */
    unsigned cap_ceiling;          /* the most it could rise to (fds; memory at the end) */
    unsigned peak_cap;             /* the highest the cap was */
    unsigned rises_to_peak;        /* how many rises the cap took to get there */
    unsigned final_cap;            /* where it was when the run ended */
    unsigned peak_in_flight;       /* most transfers in flight at once */
    /* Lookups the run gave up on (io_http_lookups_left): their threads may
     * still hold descriptors when the run returns, until glibc gives up. */
    size_t lookups_left;
    size_t memory_budget; /* max_memory */
    size_t peak_reserved; /* most bytes of it reserved at once */
    int signal;        /* the signal that stopped the run, or 0; SIGPIPE: the gate said STOP */
    /* pl_run_stream's list broke off (its source's error is the return
     * code): the run still ran the rows read before, and this report is
     * theirs, complete. */
    bool list_broke;
};

/* A snapshot of a running run, counted in items (not transfers or
 * connections: a retried or redirected item is one item). */
struct pl_progress {
    size_t total; /* items this run (this shard) is about */
    size_t ok;
    size_t failed;
    size_t skipped;
    size_t cancelled;
    size_t downloading;     /* transfers in flight */
    size_t waiting;         /* not started yet, or waiting to retry */
    size_t worker_queue;    /* downloaded, waiting for a worker */
    size_t processing;      /* on a worker now */
    uint64_t bytes;         /* body bytes received, including transfers in flight */
    /* Of the transfers in flight: the bytes still to come by their
     * Content-Length, and how many have no known size (io_http_bytes_remaining). */
    uint64_t bytes_remaining;
    size_t size_unknown;
    double elapsed_s;
    bool finished;          /* the last call of the run */
};

/* The shard (0 .. shard_count-1) of a URL: io_url_hash(url) % shard_count,
 * i.e. 32-bit FNV-1a of the URL bytes as listed (after trimming). Stable
 * across machines, versions and list orders. */
unsigned pl_shard_of(const char *url, unsigned shard_count);

/* Runs the whole list: checks URLs, dedups, names outputs, downloads and
 * processes every item, calling `on_item` (on the calling thread) as each
 * finishes. Returns 0 when the run itself worked — items may still have
 * failed, see `report` — or a negative code when it could not run. */
int pl_run(const struct pl_options *opts, const struct io_url_list *urls, pl_item_cb on_item,
           void *user, struct pl_report *report, char *err, size_t err_size);

/* ---- streaming lists ----------------------------------------------------- */

/* One row of a streamed list, as the source hands it over. */
struct pl_row {
    char *url;     /* malloc'ed; the run takes it */
    uint64_t line; /* its first line in the list: its positional name */
    uint64_t tag;  /* the source's own number for it, handed back in pl_item.tag */
};

/* Where pl_run_stream takes its rows from. `next` runs on the run's reader
 * thread: 1 with a row (repeats and other shards' rows already dropped: each
 * row is one item), 0 at the end of the list, or a negative code with the
 * reason in `err`, which ends the list there (the rows read before still
 * run; pl_run_stream then returns that code). `cancel` runs on the loop
 * thread when the run stops early: it must make a `next` blocked in a read
 * (a pipe whose producer never ends) return soon, e.g. by writing an
 * eventfd its reader polls (io_list_options.wake_fd), and make `next` end
 * the list before it waits again: the rows it still hands over (read
 * already) are each reported cancelled. NULL when `next` never blocks:
 * then nothing it yields after the stop is taken. */
struct pl_source {
    int (*next)(void *user, struct pl_row *row, char *err, size_t err_size);
    void (*cancel)(void *user);
    void *user;
};

/* pl_run for a list read as the run goes, never whole: rows wait in a
 * bounded queue (PL_ROW_QUEUE_MIN rows at least, twice -j + workers when that
 * is more) which `next` blocks on when full, so memory does not grow with the
 * list, and the run's first items start while the list is still read.
 * Positional layout only (readable names need the whole list: -EINVAL).
 * Items are reported as they come: a refused URL or a resumed output when
 * its row is taken, not before the first download. The run ends once the
 * source said end and every item is reported; a signal or the gate's STOP
 * ends it early: the rows read are reported cancelled, rows not yet read
 * are not (the source is cancelled). pl_progress.total counts the items
 * taken so far. */
int pl_run_stream(const struct pl_options *opts, const struct pl_source *source, pl_item_cb on_item,
                  void *user, struct pl_report *report, char *err, size_t err_size);

/* SIGINT and SIGTERM before a run (signals.c). From this call on, a signal
 * that comes while no run has its own handlers (the list is being read, the
 * run is being set up) is kept rather than fatal: it makes
 * pl_signal_wake_fd() readable, so a read of the URL list that waits on a
 * pipe ends (-ECANCELED: give that descriptor to the list reader), and the
 * next pl_run or pl_run_stream takes it as soon as its own handlers are in
 * place: it starts stopped, its items cancelled, report->signal set. A
 * second signal exits at once with 128 + its number, as during a run. Once
 * a run has started, its handlers replace this one, and this one is back as
 * the run closes them: a signal after a run (its --json output still being
 * written, between --compare's runs) is kept for the next run or, with none,
 * changes nothing; after a run a signal stopped, it is the second. Call
 * once, before anything can block;
 * -errno when the eventfd or a handler cannot be set up. */
int pl_signals_catch(void);
/* No run follows (--dry-run): from this call on a signal exits at once with
 * 128 + its number, as a second one does; one caught before stays pending
 * (pl_signal_pending), for the caller to say. */
void pl_signals_no_run(void);
/* The eventfd a caught signal makes readable; -1 before pl_signals_catch. */
int pl_signal_wake_fd(void);
/* The signal caught and not yet taken by a run, or 0. */
int pl_signal_pending(void);
/* For a run, once its own handlers are in place: the pending signal (then
 * no longer pending), or 0. */
int pl_signal_take(void);
/* At the end: the eventfd closed; the handler stays until the process
 * exits (a signal then changes nothing, a second one exits at once). */
void pl_signals_finish(void);

/* --dry-run: what pl_run would do with an item. */
enum pl_plan_action {
    PL_PLAN_FETCH = 0,   /* download and write output_name */
    PL_PLAN_SKIP,        /* output_name holds this URL's output: resume skips it */
    PL_PLAN_REFUSED,     /* the URL fails its check before any I/O (see reason) */
    PL_PLAN_OTHER_SHARD, /* --shard: another process's item */
    PL_PLAN_NAME_HELD,   /* every name of it holds other URLs' outputs: it would fail */
};

/* One unique item of the list. Strings live as long as the callback runs. */
struct pl_plan_item {
    size_t index; /* among the list's unique items, 0-based */
    unsigned line;
    const char *url;
    const char *output_name; /* NULL when refused or every name is held */
    unsigned shard;          /* pl_shard_of(url, shard_count), 0 without --shard */
    enum pl_plan_action action;
    const char *reason; /* "" unless REFUSED or NAME_HELD */
};

typedef void (*pl_plan_cb)(const struct pl_plan_item *item, void *user);

/* Decides every unique item as pl_run would (repeats, URL checks, names over
 * the whole list, the shard, resume against opts->output_dir, which need not
 * exist), calling `on_item` in list order. Sends no request, writes nothing.
 * 0, or a negative code with `err` when it could not (out of memory). */
int pl_plan(const struct pl_options *opts, const struct io_url_list *urls, pl_plan_cb on_item,
            void *user, char *err, size_t err_size);

/* ---- building blocks, public for their unit tests ---------------------- */

/* The download cap: a counter owned by the loop thread. try_acquire never
 * blocks; it fails when all slots are taken. */
struct pl_sem {
    unsigned capacity;
    unsigned in_use;
    unsigned peak;
};

void pl_sem_init(struct pl_sem *sem, unsigned capacity);
bool pl_sem_try_acquire(struct pl_sem *sem);
void pl_sem_release(struct pl_sem *sem);
/* Slots free now: 0 while more are taken than a lowered capacity allows. */
unsigned pl_sem_free(const struct pl_sem *sem);
/* A new capacity; slots taken beyond it are kept until released. */
void pl_sem_set_capacity(struct pl_sem *sem, unsigned capacity);

/* The streamed list's rows between the reader thread and the loop: push
 * blocks while `capacity` rows wait (back-pressure on the list's producer),
 * pop never blocks (the loop thread must not). */
#define PL_ROW_QUEUE_MIN 1024
struct pl_row_queue;

int pl_row_queue_create(size_t capacity, struct pl_row_queue **out);
/* Frees the rows still queued. Accepts NULL. */
void pl_row_queue_destroy(struct pl_row_queue *queue);
/* Takes `row` (its url) when it returns >= 0: 1 when the queue was empty
 * before (the consumer may be waiting for it: wake it), 0 otherwise.
 * Blocks while full; -ECANCELED once closed (the row is not taken). */
int pl_row_queue_push(struct pl_row_queue *queue, const struct pl_row *row);
/* The producer is done: `status` 0 (the end of the list) or its error. */
void pl_row_queue_finish(struct pl_row_queue *queue, int status);
/* True with the oldest row (the caller owns its url now); false when none
 * is queued. */
bool pl_row_queue_pop(struct pl_row_queue *queue, struct pl_row *row);
/* True once the producer finished and every row was popped, with its status. */
bool pl_row_queue_ended(struct pl_row_queue *queue, int *status);
/* Wakes a blocked push (it returns -ECANCELED), as will every later one. */
void pl_row_queue_close(struct pl_row_queue *queue);
size_t pl_row_queue_length(struct pl_row_queue *queue);

/* A FIFO between threads: push never blocks (the producer bounds what it
 * pushes), pop blocks until an entry or close. Entries embed pl_queue_node
 * (first, so that a node casts back to its entry). */
struct pl_queue_node {
    struct io_list link;
};

struct pl_queue;

int pl_queue_create(struct pl_queue **out);
void pl_queue_destroy(struct pl_queue *queue);
void pl_queue_push(struct pl_queue *queue, struct pl_queue_node *node);
/* Blocks until a node is there (returns it) or the queue is closed and empty
 * (returns NULL). */
struct pl_queue_node *pl_queue_pop(struct pl_queue *queue);
/* Returns a node without waiting, or NULL. */
struct pl_queue_node *pl_queue_try_pop(struct pl_queue *queue);
/* Takes `node` out if it is still in this queue (no worker popped it yet):
 * true then, false when it was popped already, whatever list the taker has
 * linked it into since. O(length). */
bool pl_queue_remove(struct pl_queue *queue, struct pl_queue_node *node);
/* Wakes every waiting pop; later pops return NULL once the queue is empty. */
void pl_queue_close(struct pl_queue *queue);
size_t pl_queue_length(struct pl_queue *queue);

#endif
