/* Cancellation on SIGINT/SIGTERM: stop starting, abort the transfers (their
 * callbacks report them), stop the decodes running and the waits for
 * memory, then one walk over the jobs by state; workers past their decode
 * finish the job they hold. A second signal exits at once. */
#include <errno.h>
#include <unistd.h>

#include "run_private.h"

static const char *cancel_reason(enum job_state state)
{
    switch (state) {
    case JOB_BACKOFF:
    case JOB_READY:
        return "cancelled by signal while waiting to retry";
    case JOB_CPU:
        return "cancelled by signal";
    case JOB_NEW:
    case JOB_WAIT_HOST:
    case JOB_DOWNLOADING:
    case JOB_DONE:
    case JOB_STATE_COUNT:
        break;
    }
    return "not started: cancelled by signal";
}

/* The one walk: every job that is waiting ends now, cancelled; a job whose
 * body waits for a worker is taken back from the queue; transfers were
 * aborted before (DOWNLOADING is gone) and a job on a worker comes back by
 * itself. */
static void cancel_jobs(struct run *run)
{
    struct io_list *node;
    struct io_list *next;
    IO_LIST_FOREACH_SAFE(node, next, &run->jobs) {
        struct job *job = IO_LIST_ENTRY(node, struct job, all);
        switch (job->state) {
        case JOB_NEW:
        case JOB_WAIT_HOST:
        case JOB_READY:
        case JOB_BACKOFF:
            break;
        case JOB_CPU:
            /* Not in the queue: on a worker, or finished and on the way
             * back (run->done): its own outcome is reported when it comes
             * back, an output it wrote is ok. */
            if (run->todo == NULL || !pl_queue_remove(run->todo, &job->node))
                continue;
            break;
        case JOB_DOWNLOADING:
        case JOB_DONE:
        case JOB_STATE_COUNT:
            continue;
        }
        enum pl_stage stage = job->state == JOB_CPU ? PL_STAGE_DECODE : PL_STAGE_DOWNLOAD;
        job_fail(job, -ECANCELED, stage, PL_KIND_CANCELLED, cancel_reason(job->state));
        job_set_state(run, job, JOB_DONE);
    }
}

void on_signal(uv_signal_t *handle, int signum)
{
    struct run *run = handle->data;
    if (run->stop_signal != 0) {
        /* Second signal: the user means it. Temporary files are dot-files
         * that a rerun ignores; finished outputs are already in place. */
        _exit(128 + signum);
    }
    stop_run(run, signum);
}

void stop_run(struct run *run, int signum)
{
    run->stop_signal = signum;
    run->report->signal = signum;
    io_http_abort_all(run->http);
    /* The jobs on a worker: a decode stops at its next poll (each JPEG
     * iMCU row, each PNG row), so SIGTERM ends even a long decode within
     * moments, and a worker waiting for memory wakes up. Either is reported
     * cancelled; nothing of it was written. */
    atomic_store(&run->decode_cancel, 1);
    if (run->budget_on)
        pl_budget_cancel(&run->budget);
    cancel_jobs(run);
    /* The lines never taken from the list: no job, a report each. A
     * streamed list's reader is stopped; what it queued is reported. */
    if (run->rows != NULL)
        feed_stop(run);
    while (run->rows == NULL && list_left(run)) {
        size_t entry = run->next_entry++;
        size_t index = run->next_index++;
        report_unstarted(run, entry, index, -ECANCELED, PL_STAGE_DOWNLOAD, PL_KIND_CANCELLED,
                         "not started: cancelled by signal");
    }
    maybe_close(run);
}
