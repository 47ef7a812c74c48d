/* Retries: when a failed download is tried again, and the timer that brings
 * it back. One uv_timer_t for the whole run, armed for the earliest due job,
 * so that thousands of jobs asleep in backoff cost their small records and
 * nothing else (no handle, no slot, no room). */
#include <stdlib.h>

#include "run_private.h"

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

double retry_delay(struct run *run, const struct job *job, const struct io_http_result *result)
{
    if (!result->transient || job->attempts > run->opts->retries || run->stop_signal != 0)
        return -1;
    /* A connect timeout is not tried again: the kernel already resent the
     * SYN within it (at 1 s and 3 s), and its host's health (hosts.c) decides
     * whether the host gets another connect, from its next URL. A retry made
     * a dead host with one URL cost 3 timeouts where it needs one
     * (tests/bench/results/world_defaults.md). */
    if (result->kind == IO_HTTP_CONNECT_TIMEOUT)
        return -1;
    double delay_s = -1;
    if ((result->http_status == 429 || result->http_status == 503) && result->retry_after_s >= 0) {
        delay_s = (double)result->retry_after_s;
        if (delay_s > run->opts->retry_after_max_s)
            delay_s = run->opts->retry_after_max_s;
    }
    if (delay_s < 0) {
        /* Exponential backoff with jitter, so that many clients (or many
         * items from one server) do not come back in lockstep. */
        double full = run->opts->retry_base_s * (double)(1u << (job->attempts - 1));
        delay_s = full / 2 + next_random(run) * full / 2;
    }
    return delay_s;
}

static void on_backoff_timer(uv_timer_t *timer);

static void arm(struct run *run)
{
    struct io_list *first = io_list_first(&run->backoff);
    if (first == NULL) {
        uv_timer_stop(&run->backoff_timer);
        return;
    }
    uint64_t due_ns = IO_LIST_ENTRY(first, struct job, node.link)->due_ns;
    uint64_t now_ns = uv_hrtime();
    /* Rounded up: a timer that fires a little early would find nothing due. */
    uint64_t wait_ms = due_ns > now_ns ? (due_ns - now_ns + 999999) / 1000000 : 0;
    uv_timer_start(&run->backoff_timer, on_backoff_timer, wait_ms, 0);
}

static void on_backoff_timer(uv_timer_t *timer)
{
    struct run *run = timer->data;
    uint64_t now_ns = uv_hrtime();
    struct io_list *node;
    while ((node = io_list_first(&run->backoff)) != NULL) {
        struct job *job = IO_LIST_ENTRY(node, struct job, node.link);
        if (job->due_ns > now_ns)
            break;
        job_set_state(run, job, JOB_READY);
    }
    arm(run);
    pump(run);
}

void retry_enqueue(struct run *run, struct job *job)
{
    /* Walk from the latest: backoffs mostly grow, so a new one usually goes
     * at (or near) the tail. */
    struct io_list *at = run->backoff.prev;
    while (at != &run->backoff && IO_LIST_ENTRY(at, struct job, node.link)->due_ns > job->due_ns)
        at = at->prev;
    io_list_insert_before(at->next, &job->node.link);
    if (run->backoff.next == &job->node.link)
        arm(run);
}

int retry_init(struct run *run)
{
    io_list_init(&run->backoff);
    int rc = uv_timer_init(&run->loop, &run->backoff_timer);
    if (rc < 0)
        return rc;
    run->backoff_timer.data = run;
    run->backoff_timer_open = true;
    return 0;
}

void retry_close(struct run *run)
{
    if (!run->backoff_timer_open)
        return;
    run->backoff_timer_open = false;
    uv_close((uv_handle_t *)&run->backoff_timer, NULL);
}
