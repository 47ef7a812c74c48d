/* The download stage: applying the admission policy (admit.c) to the run,
 * starting transfers, and what happens when one ends (the host's health,
 * a retry, or the hand-off to the CPU stage). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "run_private.h"

/* How often a held gate is asked again: short next to any transfer, long
 * next to a timer tick. */
#define GATE_POLL_MS 5

static void on_gate_poll(uv_timer_t *timer)
{
    pump(timer->data);
}

/* The admission gate's answer (opts->gate; open without one, or without its
 * timer, since a held gate would never be asked again). */
static enum pl_gate ask_gate(struct run *run)
{
    if (run->opts->gate == NULL || !run->gate_on)
        return PL_GATE_OPEN;
    return run->opts->gate(run->opts->gate_user);
}

static void on_downloaded(struct io_http_result *result, void *user);
static void on_connected(void *user);

/* The item's kind for io's: the one mapping point. The JSON names stay
 * those docs/json.md gave before io had kinds: a refused connection is
 * "connect", a connect timeout "timeout", a body cut short "network". */
static enum pl_kind download_kind(enum io_http_kind kind)
{
    switch (kind) {
    case IO_HTTP_OK:
        return PL_KIND_NONE;
    case IO_HTTP_CANCELLED:
        return PL_KIND_CANCELLED;
    case IO_HTTP_RESOLVE:
    case IO_HTTP_RESOLVE_PROXY:
        return PL_KIND_RESOLVE;
    case IO_HTTP_CONNECT_REFUSED:
        return PL_KIND_CONNECT;
    case IO_HTTP_CONNECT_TIMEOUT:
    case IO_HTTP_TIMEOUT:
        return PL_KIND_TIMEOUT;
    case IO_HTTP_TLS:
        return PL_KIND_TLS;
    case IO_HTTP_STATUS:
        return PL_KIND_HTTP_STATUS;
    case IO_HTTP_TOO_LARGE:
        return PL_KIND_TOO_LARGE;
    case IO_HTTP_HEADERS_TOO_LARGE:
        return PL_KIND_HEADERS_TOO_LARGE;
    case IO_HTTP_MALFORMED:
        return PL_KIND_MALFORMED_RESPONSE;
    case IO_HTTP_TOO_MANY_REDIRECTS:
        return PL_KIND_TOO_MANY_REDIRECTS;
    case IO_HTTP_REDIRECT_REFUSED:
        return PL_KIND_REDIRECT_REFUSED;
    case IO_HTTP_CUT_SHORT:
    case IO_HTTP_NETWORK:
        return PL_KIND_NETWORK;
    case IO_HTTP_OUT_OF_MEMORY:
        return PL_KIND_OUT_OF_MEMORY;
    }
    return PL_KIND_OTHER;
}

/* What a transfer says about its (listed URL's) host's health. A redirect
 * is that host's answer: a later hop's connect failure is the target's, and
 * must not count against it (a 302 to a dead host, listed on many URLs,
 * would take down the host that sent it). */
static enum pl_host_outcome host_outcome(const struct io_http_result *result)
{
    if (result->redirects > 0)
        return PL_HOST_CONNECTED;
    switch (result->kind) {
    case IO_HTTP_CONNECT_REFUSED:
        return PL_HOST_REFUSED;
    case IO_HTTP_CONNECT_TIMEOUT:
        return PL_HOST_TIMED_OUT;
    case IO_HTTP_RESOLVE:
        return PL_HOST_UNRESOLVED;
    case IO_HTTP_CANCELLED:
    case IO_HTTP_RESOLVE_PROXY: /* the proxy's name: nothing of the host's */
    case IO_HTTP_OUT_OF_MEMORY:
        return PL_HOST_NO_VERDICT;
    case IO_HTTP_OK:
    case IO_HTTP_TLS:
    case IO_HTTP_STATUS:
    case IO_HTTP_TIMEOUT:
    case IO_HTTP_TOO_LARGE:
    case IO_HTTP_HEADERS_TOO_LARGE:
    case IO_HTTP_MALFORMED:
    case IO_HTTP_TOO_MANY_REDIRECTS:
    case IO_HTTP_REDIRECT_REFUSED:
    case IO_HTTP_CUT_SHORT:
    case IO_HTTP_NETWORK:
        return PL_HOST_CONNECTED; /* it accepted a connection */
    }
    return PL_HOST_NO_VERDICT;
}

static void start_transfer(struct run *run, struct job *job)
{
    job_set_state(run, job, JOB_DOWNLOADING);
    if (job->host != NULL)
        job->host_downs = job->host->down_count; /* what its outcome is judged by */
    unsigned flags = 0;
    if (job->host != NULL && pl_host_new_connection(job->host, run->opts->max_per_host))
        flags |= IO_HTTP_NEW_CONNECTION;
    int rc = io_http_start(run->http, job->url, flags, on_downloaded, on_connected, job);
    if (rc < 0) {
        /* The transfer never started: no io kind. */
        job_fail(job, rc, PL_STAGE_DOWNLOAD,
                 rc == -ENOMEM ? PL_KIND_OUT_OF_MEMORY : PL_KIND_NETWORK, strerror(-rc));
        job_set_state(run, job, JOB_DONE);
    }
}

/* Fails a job of a host that is down. Its kind is that of the failure that
 * took the host down (resolve, connect or timeout, as if it had been
 * tried); a job that was tried keeps its own last reason and adds the
 * host's. */
static void fail_host_down(struct run *run, struct job *job)
{
    const struct pl_host *host = job->host;
    char reason[160];
    char message[416];
    pl_host_down_reason(host, reason, sizeof(reason));
    int error = -ECONNREFUSED;
    enum pl_kind kind = PL_KIND_CONNECT;
    if (host->down_kind == PL_HOST_TIMED_OUT) {
        error = -ETIMEDOUT;
        kind = PL_KIND_TIMEOUT;
    } else if (host->down_kind == PL_HOST_UNRESOLVED) {
        error = -EHOSTUNREACH;
        kind = PL_KIND_RESOLVE;
    }
    if (job->attempts > 0 && job->message != NULL) {
        /* Its last try's failure, recorded when it went to backoff. */
        error = job->error;
        kind = job->kind;
        snprintf(message, sizeof(message), "%.200s (after %u attempt%s; %s)", job->message,
                 job->attempts, job->attempts == 1 ? "" : "s", reason);
    } else {
        snprintf(message, sizeof(message), "%s", reason);
    }
    job_fail(job, error, PL_STAGE_DOWNLOAD, kind, message);
    job_set_state(run, job, JOB_DONE);
}

/* A job that may start (NEW or READY, a download slot and room free):
 * starts it, or parks it on its busy host, or fails it when the host is down.
 * A job of a host in its cool-down fails at once rather than waiting for the
 * probe: parked, it would hold parking room (and the list behind it) and keep
 * the run open for up to the whole cool-down after the list is done, for a
 * host that most likely stays dead; the cost is that the items of a host
 * that blinked, listed inside its cool-down, fail (a rerun fetches them). The
 * first job after the cool-down is the probe; those behind it wait for it,
 * as behind any probe (at most one connect timeout). No timer: the check is
 * made when a job of the host comes, on the loop's clock. */
static void admit_job(struct run *run, struct job *job)
{
    struct pl_host *host = job->host;
    if (host != NULL && pl_host_check(host, uv_now(&run->loop)) == PL_HOST_DOWN) {
        fail_host_down(run, job);
        return;
    }
    if (host != NULL && host->in_flight >= pl_host_capacity(host, run->opts->max_per_host)) {
        job_set_state(run, job, JOB_WAIT_HOST);
        return;
    }
    start_transfer(run, job);
}

void fail_host_jobs(struct run *run, struct pl_host *host)
{
    /* One walk over the run's jobs: those of the host that wait, whatever
     * for (the host, a backoff, a slot), end now; transfers in flight end
     * by themselves. */
    struct io_list *node;
    struct io_list *next;
    IO_LIST_FOREACH_SAFE(node, next, &run->jobs) {
        struct job *job = IO_LIST_ENTRY(node, struct job, all);
        if (job->host != host)
            continue;
        if (job->state == JOB_WAIT_HOST || job->state == JOB_READY || job->state == JOB_BACKOFF)
            fail_host_down(run, job);
    }
}

static void start_from_host(struct run *run)
{
    struct pl_host *host = pl_hosts_next_runnable(run->hosts);
    if (host == NULL || io_list_empty(&host->waiting) ||
        host->in_flight >= pl_host_capacity(host, run->opts->max_per_host))
        return; /* a stale entry: the host filled up again or went down */
    struct job *job = IO_LIST_ENTRY(io_list_first(&host->waiting), struct job, node.link);
    start_transfer(run, job);
    /* Round robin: back at the tail while it has room and waiting jobs. */
    if (host->in_flight < pl_host_capacity(host, run->opts->max_per_host))
        pl_hosts_mark_runnable(run->hosts, host);
}

static void start_from_list(struct run *run)
{
    if (run->rows != NULL) {
        /* feed_left held a startable row. */
        size_t index = run->held_index;
        struct job *job;
        run->held_valid = false;
        if (job_create_row(run, &run->held, index, &job) < 0) {
            struct job unstarted;
            job_init_row(run, &unstarted, &run->held, index);
            fail_unstarted(run, &unstarted, -ENOMEM, PL_STAGE_DOWNLOAD, PL_KIND_OUT_OF_MEMORY,
                           "out of memory starting the download");
            job_finish_unstarted(&unstarted);
            return;
        }
        admit_job(run, job);
        return;
    }
    size_t entry = run->next_entry++;
    size_t index = run->next_index++;
    struct job *job;
    if (job_create(run, entry, index, &job) < 0) {
        report_unstarted(run, entry, index, -ENOMEM, PL_STAGE_DOWNLOAD, PL_KIND_OUT_OF_MEMORY,
                         "out of memory starting the download");
        return;
    }
    admit_job(run, job);
}

void pump(struct run *run)
{
    for (;;) {
        struct pl_admit_state state = {
            .gate = ask_gate(run),
            .stopping = run->closing || run->stop_signal != 0,
            .slots_free = pl_sem_free(&run->slots),
            .room_free =
                run->pipeline_cap > run->in_pipeline ? run->pipeline_cap - run->in_pipeline : 0,
            .retry_ready = !io_list_empty(&run->ready),
            .host_ready = run->hosts != NULL && pl_hosts_any_runnable(run->hosts),
            .list_left = list_left(run),
            .parking_full = run->in_state[JOB_WAIT_HOST] >= PL_PARKED_MAX,
        };
        switch (pl_admit_next(&state)) {
        case PL_ADMIT_RETRY:
            admit_job(run, IO_LIST_ENTRY(io_list_first(&run->ready), struct job, node.link));
            break;
        case PL_ADMIT_HOST:
            start_from_host(run);
            break;
        case PL_ADMIT_NEW:
            start_from_list(run);
            break;
        case PL_ADMIT_HOLD:
            if (!uv_is_active((uv_handle_t *)&run->gate_timer))
                uv_timer_start(&run->gate_timer, on_gate_poll, GATE_POLL_MS, 0);
            return;
        case PL_ADMIT_STOP:
            /* The caller's output is gone: stop as a signal would. */
            stop_run(run, SIGPIPE);
            return;
        case PL_ADMIT_NONE:
            return;
        }
    }
}

/* Updates the host's health from `result`; a host that just went down takes
 * its waiting jobs with it. True when the host is down (now or before). */
static bool note_host_health(struct run *run, struct job *job, const struct io_http_result *result)
{
    struct pl_host *host = job->host;
    if (host == NULL)
        return false;
    enum pl_host_change change = pl_host_record(host, host_outcome(result), job->host_downs,
                                                uv_now(&run->loop), run->opts->host_cooldown_ms);
    if (change == PL_HOST_WENT_DOWN)
        fail_host_jobs(run, host);
    else if (change == PL_HOST_CAME_UP)
        pl_hosts_mark_runnable(run->hosts, host); /* healthy again: its full cap */
    return host->health == PL_HOST_DOWN;
}

/* A transfer's connection to its host is up: a host that was new (or
 * probing, or down) is up now, and its waiting jobs may start at its full
 * cap without waiting for this transfer's body. */
static void on_connected(void *user)
{
    struct job *job = user;
    struct run *run = job->run;
    struct pl_host *host = job->host;
    if (host == NULL)
        return;
    if (pl_host_record(host, PL_HOST_CONNECTED, job->host_downs, uv_now(&run->loop),
                       run->opts->host_cooldown_ms) == PL_HOST_CAME_UP) {
        pl_hosts_mark_runnable(run->hosts, host);
        pump(run);
    }
}

static void on_downloaded(struct io_http_result *result, void *user)
{
    struct job *job = user;
    struct run *run = job->run;

    job->download_s += result->seconds;
    job->http_status = (int)result->http_status;
    if (result->final_url != NULL) {
        free(job->final_url);
        job->final_url = result->final_url; /* taken */
        result->final_url = NULL;
    }
    run->bytes_received += result->body_size;
    bool host_down = note_host_health(run, job, result);

    if (result->error < 0) {
        double delay_s = host_down ? -1 : retry_delay(run, job, result);
        if (delay_s >= 0) {
            /* Kept while it sleeps: its reason if its host goes down meanwhile
             * (a later success clears it). */
            job_fail(job, result->error, PL_STAGE_DOWNLOAD, download_kind(result->kind),
                     result->message);
            job->due_ns = uv_hrtime() + (uint64_t)(delay_s * 1e9);
            job_set_state(run, job, JOB_BACKOFF);
        } else {
            job->body_size = 0;
            enum pl_kind kind = download_kind(result->kind);
            if (job->attempts > 1) {
                char message[256];
                snprintf(message, sizeof(message), "%.200s (after %u attempts)", result->message,
                         job->attempts);
                job_fail(job, result->error, PL_STAGE_DOWNLOAD, kind, message);
            } else {
                job_fail(job, result->error, PL_STAGE_DOWNLOAD, kind, result->message);
            }
            job_set_state(run, job, JOB_DONE);
        }
    } else {
        job_clear_failure(job);   /* an earlier try's, kept while it slept */
        job->body = result->body; /* taken: the result must not free it */
        job->body_size = result->body_size;
        result->body = NULL;
        run->bodies_received++;
        run->transfer_s_received += result->seconds;
        /* NULL when out of memory: the report then lacks the body's type,
         * digest and format, nothing else. */
        job->provenance = malloc(sizeof(*job->provenance));
        if (job->provenance != NULL) {
            memcpy(job->provenance->content_type, result->content_type,
                   sizeof(job->provenance->content_type));
            memcpy(job->provenance->sha256, result->sha256, sizeof(job->provenance->sha256));
            job->provenance->output_bytes = 0;
            job->provenance->png = NULL;
            job->provenance->format = IMG_FORMAT_UNKNOWN;
        }
        job_set_state(run, job, JOB_CPU);
        if (run->todo == NULL)
            run_sequential_job(run, job);
    }
    pump(run);
    maybe_close(run);
}
