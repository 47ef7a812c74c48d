/* The adaptive download cap (the default when -j is not given): a pure
 * function from what the loop saw over a window of samples to the next cap,
 * tested without sockets or a loop (tests/unit/test_adapt.c); the loop's
 * timer fills the window and applies the answer (sampler.c).
 *
 * The idea: a list spread over many slow hosts is bound by latency, and
 * the CPU stage sits idle while every transfer waits for a first byte; more
 * transfers in flight fix that and nothing else does. A list whose CPU
 * stage is the bottleneck gains nothing from more transfers but more bodies
 * held, and a list on few hosts cannot use them (--max-per-host). So the
 * cap rises only while the CPU stage is starved and every slot is busy with
 * more runnable work waiting, and falls back while workers have a backlog.
 *
 * How far it moves comes from Little's law: the workers take an item every
 * cpu_s / workers seconds and a body takes transfer_s to come, so that many
 * transfers in flight keep them fed (times PL_ADAPT_MARGIN, for the bursts
 * and the bodies queued, which hold room). A rise goes at least that far; a
 * fall stops there while more work waits to start, so that a burst of
 * bodies does not bring the cap under what the list needs (measured:
 * tests/bench/results/world_ramp.md). */
#ifndef EDGEFETCH_PIPELINE_ADAPT_H
#define EDGEFETCH_PIPELINE_ADAPT_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"

/* One window of samples, counted by what each sample saw. */
struct pl_adapt_window {
    unsigned samples;
    /* Workers idle with no body waiting for one, every download slot taken
     * and a job that could start (a ready retry, a host with per-host room
     * and waiting jobs, lines of the list left). */
    unsigned starved_saturated;
    /* As many bodies waiting as the room keeps for the workers (3 each):
     * the CPU stage is the bound, its queue is eating the room for
     * downloads. */
    unsigned backlog;
    /* A job could start if a slot were free (starved_saturated's second
     * half, the slots aside). */
    unsigned waiting;
    /* Windows just before this one that were behind (a backlog in all
     * samples but one), in a row: the loop carries it over. */
    unsigned behind_before;
    /* The times of the last windows (the loop halves these sums at each
     * window's end, so the recent ones weigh most and a list that changes
     * is followed): bodies that came and the seconds their transfers took,
     * items the workers finished and the seconds of their CPU stage. */
    double bodies;
    double transfer_s;
    double items;
    double cpu_s;
    unsigned workers; /* the CPU stage's threads */
};

/* The bounds of the cap, the run's for its whole length except `ceiling`,
 * which the memory bound may lower as bodies are seen (sampler.c). */
struct pl_adapt_limits {
    unsigned start;   /* the cap the run starts at, and the lowest it falls to */
    unsigned ceiling; /* the highest it rises to; >= start */
};

/* The window's verdict. */
enum pl_adapt_step {
    PL_ADAPT_HOLD = 0,
    PL_ADAPT_RISE,
    PL_ADAPT_FALL,
};

/* Samples per window, and the share of them a verdict needs. A window is
 * PL_ADAPT_WINDOW × PL_ADAPT_SAMPLE_MS = 100 ms: short next to a run of
 * seconds, long next to one transfer's first byte on a fast host. */
#define PL_ADAPT_SAMPLE_MS 20
#define PL_ADAPT_WINDOW 5

/* The cap Little's law asks for, times this. 1 would keep the workers
 * busy only if bodies came evenly and none were queued (their room is taken
 * from the transfers'); measured on the 600-URL / 100-host world
 * (tests/bench/results/world_ramp.md): 3 as fast as -j 256 with small
 * bodies, 2 between that and the old rise by half; with the photos as
 * bodies 3 stopped at a cap of 68-124 where -j 256 was 20 % faster, and 8
 * as fast as -j 256 in both (world_margin.md). The first bodies are the
 * fast hosts' and a loaded CPU stage looks slower: the target from them
 * is low, and a higher margin costs only bodies held, which --max-memory
 * bounds. */
#define PL_ADAPT_MARGIN 8

/* The rules, in order:
 * 1. FIXED (an explicit -j, --compare, --sequential): HOLD, always;
 * 2. all samples but one saw a backlog, and so did the window before: FALL
 *    (a burst of bodies from a latency-bound list puts the workers behind
 *    for one window, a CPU-bound list for all of them);
 * 3. most samples (more than half) were starved and saturated, none saw a
 *    backlog: RISE;
 * 4. HOLD.
 * A backlog wins over starvation: a stage that is behind must not be fed
 * faster. */
enum pl_adapt_step pl_adapt_decide(enum pl_cap_mode mode, const struct pl_adapt_window *window);

/* True when the window was behind: a backlog in all samples but one. */
bool pl_adapt_behind(const struct pl_adapt_window *window);

/* The transfers in flight that keep the workers fed, from the window's
 * times: PL_ADAPT_MARGIN × workers × (transfer_s / bodies) / (cpu_s /
 * items), to the nearest; 0 while a body or an item is missing (nothing is
 * known yet); at most UINT_MAX. Pure. */
unsigned pl_adapt_target(const struct pl_adapt_window *window);

/* The cap after the window's step: a rise adds a half (at least 1), or goes
 * to the target when that is higher; a fall takes a quarter away (at least
 * 1), but not under the target while work waited to start in most samples
 * (a fall then holds where the target is above the cap; with nothing left
 * to start the slots feed nothing and the bodies they hold are the only
 * cost); within [start, ceiling]. Fast up: a latency-bound list goes to
 * its target in one window; slower down, so that it does not swing. A cap
 * found above the ceiling (it was lowered) comes down to it whatever the
 * step. FIXED returns `cap` unchanged. Pure. */
unsigned pl_adapt_next_cap(enum pl_cap_mode mode, unsigned cap,
                           const struct pl_adapt_limits *limits,
                           const struct pl_adapt_window *window);

#endif
