/* The adaptive download cap on the loop (adapt.h has the policy): a timer
 * samples the run every PL_ADAPT_SAMPLE_MS, and at the end of each window
 * of PL_ADAPT_WINDOW samples asks pl_adapt_next_cap and applies its answer.
 * set_cap is the one place the cap changes after setup: the slots, the room
 * for bodies that goes with them, and the report's peaks. */
#include "adapt.h"
#include "admit.h"
#include "run_private.h"

/* A transfer's body is not known before it ends: until one has, the memory
 * bound assumes this much per body (a photo of a few megapixels). */
#define ASSUMED_BODY_BYTES ((uint64_t)1 << 20)

static void set_cap(struct run *run, unsigned cap)
{
    if (cap > run->slots.capacity)
        run->cap_rises++;
    pl_sem_set_capacity(&run->slots, cap);
    run->pipeline_cap = (size_t)cap + 3 * (size_t)run->cap_workers;
    if (cap > run->report->peak_cap) {
        run->report->peak_cap = cap;
        run->report->rises_to_peak = run->cap_rises;
    }
    if (run->pipeline_cap > run->report->held_limit)
        run->report->held_limit = run->pipeline_cap;
}

/* The most the cap may be by memory: the room it brings (cap + 3 ×
 * workers) times the mean body so far within --max-memory, never under the
 * start (a fixed -j of that size was never bound by memory either). */
static unsigned memory_ceiling(const struct run *run)
{
    uint64_t body =
        run->bodies_received > 0 ? run->bytes_received / run->bodies_received : ASSUMED_BODY_BYTES;
    if (body == 0)
        body = 1;
    uint64_t bodies = (uint64_t)run->opts->max_memory / body;
    uint64_t workers_room = 3 * (uint64_t)run->cap_workers;
    uint64_t fit = bodies > workers_room ? bodies - workers_room : 0;
    if (fit < run->cap_limits.start)
        return run->cap_limits.start;
    return fit < run->cap_limits.ceiling ? (unsigned)fit : run->cap_limits.ceiling;
}

/* Is any job able to start if a slot were free? Read-only (list_left
 * would take rows and report them): lines or queued rows left count,
 * whatever their host, and a host full of them cannot take a slot, so the
 * cap stops rising there by itself (no slot stays busy for it). */
static bool runnable_waiting(const struct run *run)
{
    if (!io_list_empty(&run->ready))
        return true;
    if (run->hosts != NULL && pl_hosts_any_runnable(run->hosts))
        return true;
    if (run->in_state[JOB_WAIT_HOST] >= PL_PARKED_MAX)
        return false;
    if (run->rows != NULL)
        return run->held_valid || pl_row_queue_length(run->rows) > 0;
    return run->urls != NULL && run->next_entry < run->urls->count;
}

static void take_sample(struct run *run)
{
    /* Until a first body came, idle workers say nothing about the list
     * (every run starts that way): no sample. */
    if (run->bodies_received == 0)
        return;
    size_t queued = pl_queue_length(run->todo);
    size_t cpu = run->in_state[JOB_CPU];
    size_t busy = cpu > queued ? cpu - queued : 0; /* on a worker, or on their way back */
    bool starved = queued == 0 && busy < run->cap_workers;
    bool waiting = runnable_waiting(run);
    bool saturated = pl_sem_free(&run->slots) == 0 && waiting;
    run->cap_window.samples++;
    if (waiting)
        run->cap_window.waiting++;
    if (starved && saturated)
        run->cap_window.starved_saturated++;
    if (queued >= 3 * (size_t)run->cap_workers)
        run->cap_window.backlog++;
}

/* What came since the last window, into this one's sums (halved at each
 * window's end: on_sample). */
static void fold_times(struct run *run)
{
    struct pl_adapt_window *window = &run->cap_window;
    window->bodies += (double)(run->bodies_received - run->cap_seen.bodies);
    window->transfer_s += run->transfer_s_received - run->cap_seen.transfer_s;
    window->items += (double)(run->cpu_items - run->cap_seen.items);
    window->cpu_s += run->cpu_stage_s - run->cap_seen.cpu_s;
    window->workers = run->cap_workers;
    run->cap_seen.bodies = run->bodies_received;
    run->cap_seen.transfer_s = run->transfer_s_received;
    run->cap_seen.items = run->cpu_items;
    run->cap_seen.cpu_s = run->cpu_stage_s;
}

static void on_sample(uv_timer_t *timer)
{
    struct run *run = timer->data;
    if (run->closing || run->stop_signal != 0)
        return;
    take_sample(run);
    if (run->cap_window.samples < PL_ADAPT_WINDOW)
        return;
    fold_times(run);
    struct pl_adapt_limits limits = run->cap_limits;
    limits.ceiling = memory_ceiling(run);
    unsigned cap = run->slots.capacity;
    struct pl_adapt_window *window = &run->cap_window;
    unsigned next = pl_adapt_next_cap(run->cap_mode, cap, &limits, window);
    unsigned behind = pl_adapt_behind(window) ? window->behind_before + 1 : 0;
    /* The times carry over at half weight: the last windows count most. */
    run->cap_window = (struct pl_adapt_window){.behind_before = behind,
                                               .bodies = window->bodies / 2,
                                               .transfer_s = window->transfer_s / 2,
                                               .items = window->items / 2,
                                               .cpu_s = window->cpu_s / 2};
    if (next == cap)
        return;
    set_cap(run, next);
    if (next > cap)
        pump(run);
}

void sampler_start(struct run *run, enum pl_cap_mode mode, unsigned start, unsigned ceiling)
{
    run->cap_mode = mode;
    run->cap_workers = run->thread_count;
    run->cap_limits.start = ceiling < start ? ceiling : start;
    run->cap_limits.ceiling = mode == PL_CAP_FIXED ? run->cap_limits.start : ceiling;
    pl_sem_init(&run->slots, run->cap_limits.start);
    set_cap(run, run->cap_limits.start);
    run->report->cap_mode = mode;
    run->report->cap_start = run->cap_limits.start;
    run->report->cap_ceiling = run->cap_limits.ceiling;
    /* Fixed: nothing to sample. Without its timer the cap stays where it
     * started, as a fixed one would. */
    if (mode == PL_CAP_FIXED || uv_timer_init(&run->loop, &run->sample_timer) != 0)
        return;
    run->sample_timer.data = run;
    run->sample_on = true;
    uv_timer_start(&run->sample_timer, on_sample, PL_ADAPT_SAMPLE_MS, PL_ADAPT_SAMPLE_MS);
    /* The transfers and workers keep the loop alive, not the sampling. */
    uv_unref((uv_handle_t *)&run->sample_timer);
}

void sampler_close(struct run *run)
{
    if (!run->sample_on)
        return;
    uv_close((uv_handle_t *)&run->sample_timer, NULL);
    run->sample_on = false;
}

void sampler_finish(struct run *run)
{
    run->report->peak_in_flight = run->slots.peak;
    run->report->final_cap = run->slots.capacity;
    if (run->cap_mode == PL_CAP_ADAPTIVE)
        run->report->cap_ceiling = memory_ceiling(run);
}
