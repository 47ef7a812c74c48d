/* A streamed list (pl_run_stream): the source's rows come from a reader
 * thread through a bounded queue (rowqueue.c) and become items as the
 * admission policy takes them, so the run holds only the rows queued and
 * the jobs alive, whatever the list's length. What triage.c decides up front
 * for a whole list is decided here row by row, when a row is taken: a
 * refused URL, an output already there (resume), a positional name that
 * holds another URL's output; a positional folder's abandoned temporaries
 * are swept when its first row is taken (rows come in line order). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run_private.h"

static void report_queued_cancelled(struct run *run);

static void on_feed_wakeup(uv_async_t *handle)
{
    struct run *run = handle->data;
    if (run->stop_signal != 0 && run->source->cancel != NULL)
        report_queued_cancelled(run); /* rows read before the reader saw the stop */
    pump(run);
    maybe_close(run);
}

/* The reader thread: rows into the queue until the source ends, fails, or
 * the run stops (the queue closed, the source cancelled). */
static void feed_main(void *arg)
{
    struct run *run = arg;
    const struct pl_source *source = run->source;
    char err[sizeof(run->feed_err)] = "";
    int status = 0;
    for (;;) {
        struct pl_row row = {0};
        int got = source->next(source->user, &row, err, sizeof(err));
        if (got <= 0) {
            /* -ECANCELED: the run stopped it (feed_stop), not a list error. */
            status = got == -ECANCELED ? 0 : got;
            break;
        }
        int pushed = pl_row_queue_push(run->rows, &row);
        if (pushed < 0) {
            free(row.url); /* the run stopped: a row it will not take */
            break;
        }
        if (pushed == 1)
            uv_async_send(&run->feed_wakeup);
    }
    /* Written before the queue's lock publishes the end: the loop reads it
     * only after pl_row_queue_ended said so. */
    snprintf(run->feed_err, sizeof(run->feed_err), "%s", status < 0 ? err : "");
    pl_row_queue_finish(run->rows, status);
    uv_async_send(&run->feed_wakeup);
}

void feed_start(struct run *run)
{
    run->list_open = true;
    int rc = uv_async_init(&run->loop, &run->feed_wakeup, on_feed_wakeup);
    if (rc == 0) {
        run->feed_wakeup.data = run;
        run->feed_wakeup_on = true;
        rc = uv_thread_create(&run->feed_thread, feed_main, run);
    }
    if (rc < 0) {
        /* No reader: the list ends here, its reason the run's. */
        snprintf(run->feed_err, sizeof(run->feed_err), "starting the list reader: %s",
                 uv_strerror(rc));
        pl_row_queue_finish(run->rows, rc);
        return;
    }
    run->feed_thread_on = true;
}

/* Yields the positional names of one folder, for io_remove_stale_temps_nested. */
struct folder_walk {
    uint64_t line;
    uint64_t end;
    char name[IO_OUTPUT_NAME_SIZE];
};

static const char *next_folder_name(void *user)
{
    struct folder_walk *walk = user;
    while (walk->line < walk->end) {
        if (io_layout_name(IO_LAYOUT_POSITIONAL, "", 0, walk->line++, walk->name,
                           sizeof(walk->name)) == 0)
            return walk->name;
    }
    return NULL;
}

/* Resume, part one, for a streamed list: the abandoned temporaries of the
 * folder of `line` (all of its names: only files no live process holds
 * locked are removed, so another shard's running writes are safe, and its
 * abandoned ones were garbage anyway). */
static void sweep_folder(struct run *run, uint64_t line)
{
    uint64_t folder = line / IO_POSITIONAL_PER_FOLDER;
    if (run->swept_folder == folder + 1)
        return;
    run->swept_folder = folder + 1;
    struct folder_walk walk = {
        .line = folder * IO_POSITIONAL_PER_FOLDER,
        .end = (folder + 1) * IO_POSITIONAL_PER_FOLDER,
    };
    /* A folder that is not there holds no temporaries: its 10,000 names
     * are not worth making (a shard's rows are spread over many folders:
     * 10% of a 10 M-line shard's CPU went there). */
    char first[IO_OUTPUT_NAME_SIZE];
    if (io_layout_name(IO_LAYOUT_POSITIONAL, "", 0, walk.line, first, sizeof(first)) == 0) {
        const char *slash = strchr(first, '/');
        char path[PATH_MAX];
        int len = slash != NULL ? snprintf(path, sizeof(path), "%s/%.*s", run->opts->output_dir,
                                           (int)(slash - first), first)
                                : -1;
        struct stat st;
        if (len > 0 && (size_t)len < sizeof(path) && stat(path, &st) != 0 && errno == ENOENT)
            return;
    }
    size_t removed = 0;
    /* Out of memory listing them: they stay for a later run. */
    io_remove_stale_temps_nested(run->opts->output_dir, next_folder_name, &walk, &removed);
    run->report->stale_temps_removed += removed;
}

/* Decides a row just taken: reported now (refused, skipped, name held) or
 * held to start. True when held. */
static bool triage_row(struct run *run, struct pl_row *row, size_t index)
{
    const struct pl_options *opts = run->opts;
    struct job job;
    char why[256] = "";
    int refused = io_url_check(row->url, why, sizeof(why));
    if (refused < 0) {
        job_init_row(run, &job, row, index);
        job.named = false;
        fail_unstarted(run, &job, refused, PL_STAGE_URL,
                       refused == -EPROTONOSUPPORT ? PL_KIND_UNSUPPORTED_SCHEME : PL_KIND_BAD_URL,
                       why);
        job_finish_unstarted(&job);
        return false;
    }
    sweep_folder(run, row->line);
    char name[IO_OUTPUT_NAME_SIZE];
    int resume = io_layout_name(IO_LAYOUT_POSITIONAL, row->url, 0, row->line, name, sizeof(name));
    if (resume == 0)
        resume = io_layout_resume(opts->output_dir, row->url, opts->force, name);
    if (resume < 0) {
        job_init_row(run, &job, row, index);
        job.named = false;
        fail_unstarted(run, &job, resume, PL_STAGE_WRITE,
                       resume == -EEXIST ? PL_KIND_WRITE : PL_KIND_OTHER,
                       resume == -EEXIST ? "its positional name holds another URL's output (a "
                                           "run of another list in this folder?)"
                                         : strerror(-resume));
        job_finish_unstarted(&job);
        return false;
    }
    if (resume == IO_RESUME_DONE) {
        job_init_row(run, &job, row, index);
        job.skipped = true;
        report_item(run, &job);
        job_finish_unstarted(&job);
        return false;
    }
    run->held = *row;
    run->held_index = index;
    run->held_valid = true;
    return true;
}

bool feed_left(struct run *run)
{
    if (run->held_valid)
        return true;
    if (run->stop_signal != 0)
        return false; /* feed_stop reported what was queued */
    struct pl_row row;
    while (pl_row_queue_pop(run->rows, &row)) {
        size_t index = run->next_index++;
        run->job_count++;
        if (triage_row(run, &row, index))
            return true;
    }
    return false;
}

static void report_cancelled(struct run *run, struct pl_row *row, size_t index)
{
    struct job job;
    job_init_row(run, &job, row, index);
    fail_unstarted(run, &job, -ECANCELED, PL_STAGE_DOWNLOAD, PL_KIND_CANCELLED,
                   "not started: cancelled by signal");
    job_finish_unstarted(&job);
}

static void report_queued_cancelled(struct run *run)
{
    struct pl_row row;
    while (pl_row_queue_pop(run->rows, &row)) {
        run->job_count++;
        report_cancelled(run, &row, run->next_index++);
    }
}

void feed_stop(struct run *run)
{
    /* A row the reader has taken from the list is gone from it (a pipe
     * gives it once): it must be reported, or a rerun cannot know to redo
     * it. So the reader is woken, not cut off: what it holds (the row it
     * pushes, the rest of what its last read brought, the first row read
     * before the run) still comes through the queue and is reported
     * cancelled as it comes (on_feed_wakeup); its next wait for the list
     * ends it. A source that cannot be woken is cut off instead: the rows
     * it yields from now on are not taken, or an endless one would hold
     * the run for ever. */
    if (run->source->cancel != NULL)
        run->source->cancel(run->source->user);
    else
        pl_row_queue_close(run->rows);
    if (run->held_valid) {
        run->held_valid = false;
        report_cancelled(run, &run->held, run->held_index);
    }
    report_queued_cancelled(run);
}

bool feed_ended(struct run *run)
{
    int status;
    if (run->held_valid || !pl_row_queue_ended(run->rows, &status))
        return false;
    run->feed_status = status;
    run->list_open = false;
    return true;
}

void feed_close(struct run *run)
{
    /* It ended (feed_ended): at most its last uv_async_send is left to do. */
    if (run->feed_thread_on) {
        uv_thread_join(&run->feed_thread);
        run->feed_thread_on = false;
    }
    if (run->feed_wakeup_on) {
        uv_close((uv_handle_t *)&run->feed_wakeup, NULL);
        run->feed_wakeup_on = false;
    }
}

void feed_finish(struct run *run)
{
    if (run->held_valid)
        free(run->held.url);
    run->held_valid = false;
    pl_row_queue_destroy(run->rows);
    run->rows = NULL;
}
