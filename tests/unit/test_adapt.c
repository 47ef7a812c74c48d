/* The adaptive download cap's policy (pipeline/adapt.c) as a pure function:
 * windows of samples in, the next cap out. */
#include <limits.h>
#include <stdio.h>

#include "adapt.h"
#include "check.h"

static const struct pl_adapt_limits limits = {.start = 32, .ceiling = 256};

static struct pl_adapt_window starved(void)
{
    return (struct pl_adapt_window){
        .samples = PL_ADAPT_WINDOW, .starved_saturated = PL_ADAPT_WINDOW, .backlog = 0};
}

static struct pl_adapt_window backlogged(void)
{
    return (struct pl_adapt_window){.samples = PL_ADAPT_WINDOW,
                                    .starved_saturated = 0,
                                    .backlog = PL_ADAPT_WINDOW,
                                    .behind_before = 1};
}

static void test_rises_when_starved_and_saturated(void)
{
    struct pl_adapt_window w = starved();
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &w), PL_ADAPT_RISE);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 48u);
    /* More than half the samples is enough (3 of 5); 2 of 5 is not, nor a
     * single sample of backlog beside them. */
    w.starved_saturated = PL_ADAPT_WINDOW / 2 + 1;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 48u);
    w.starved_saturated = PL_ADAPT_WINDOW / 2;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 32u);
    w = starved();
    w.backlog = 1;
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &w), PL_ADAPT_HOLD);
    /* Windows in a row: 32 → 48 → 72 → ... */
    w = starved();
    unsigned cap = 32;
    unsigned expected[] = {48, 72, 108, 162, 243, 256, 256};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        cap = pl_adapt_next_cap(PL_CAP_ADAPTIVE, cap, &limits, &w);
        CHECK_EQ(cap, expected[i]);
    }
}

static void test_holds_at_the_ceiling(void)
{
    struct pl_adapt_window w = starved();
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 256, &limits, &w), 256u);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 250, &limits, &w), 256u);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 1, &(struct pl_adapt_limits){1, 256}, &w), 2u);
    /* A ceiling lowered under the cap (the memory bound) brings it down,
     * whatever the window says, but never under the start. */
    struct pl_adapt_limits low = {.start = 32, .ceiling = 48};
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 100, &low, &w), 48u);
    struct pl_adapt_window quiet = {.samples = PL_ADAPT_WINDOW};
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 100, &low, &quiet), 48u);
    struct pl_adapt_limits flat = {.start = 32, .ceiling = 32};
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &flat, &w), 32u);
}

static void test_falls_with_a_backlog(void)
{
    struct pl_adapt_window w = backlogged();
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &w), PL_ADAPT_FALL);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 256, &limits, &w), 192u);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 40, &limits, &w), 32u);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 32u); /* not under the start */
    /* All but one sample: 4 of 5 falls, 3 of 5 holds. */
    w.backlog = PL_ADAPT_WINDOW - 1;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 100, &limits, &w), 75u);
    w.backlog = PL_ADAPT_WINDOW - 2;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 100, &limits, &w), 100u);
    /* The first window behind holds (a burst); the second in a row falls. */
    w = backlogged();
    w.behind_before = 0;
    CHECK(pl_adapt_behind(&w));
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &w), PL_ADAPT_HOLD);
    w.behind_before = 3;
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &w), PL_ADAPT_FALL);
    /* A backlog wins over starvation in the same window. */
    struct pl_adapt_window both = {.samples = PL_ADAPT_WINDOW,
                                   .starved_saturated = PL_ADAPT_WINDOW,
                                   .backlog = PL_ADAPT_WINDOW,
                                   .behind_before = 1};
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &both), PL_ADAPT_FALL);
    /* From the ceiling back to the start in windows of backlog. */
    w = backlogged();
    unsigned cap = 256;
    for (int i = 0; i < 20; i++)
        cap = pl_adapt_next_cap(PL_CAP_ADAPTIVE, cap, &limits, &w);
    CHECK_EQ(cap, 32u);
}

static void test_holds_otherwise(void)
{
    struct pl_adapt_window empty = {0};
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &empty), PL_ADAPT_HOLD);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 64, &limits, &empty), 64u);
    struct pl_adapt_window quiet = {.samples = PL_ADAPT_WINDOW};
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 64, &limits, &quiet), 64u);
}

/* A window's times: bodies that took `transfer_ms` each, items `cpu_ms`
 * each on 2 workers. */
static struct pl_adapt_window timed(struct pl_adapt_window w, double transfer_ms, double cpu_ms)
{
    w.bodies = 10;
    w.transfer_s = 10 * transfer_ms / 1000;
    w.items = 8;
    w.cpu_s = 8 * cpu_ms / 1000;
    w.workers = 2;
    return w;
}

static void test_target(void)
{
    /* Little's law times the margin: 2 workers at 4 ms an item take 500
     * bodies a second; at 250 ms a transfer that is 125 in flight, ×8. The
     * figures below assume that margin. */
    CHECK_EQ(PL_ADAPT_MARGIN, 8);
    struct pl_adapt_window w = timed(starved(), 250, 4);
    CHECK_EQ(pl_adapt_target(&w), 1000u);
    w = timed(starved(), 100, 7);
    CHECK_EQ(pl_adapt_target(&w), 229u); /* 228.6, to the nearest */
    w = timed(starved(), 100, 9);
    CHECK_EQ(pl_adapt_target(&w), 178u); /* 177.8 */
    /* Unknown until a body and an item came; no workers, no target. */
    struct pl_adapt_window none = starved();
    CHECK_EQ(pl_adapt_target(&none), 0u);
    none = timed(starved(), 250, 4);
    none.items = 0;
    CHECK_EQ(pl_adapt_target(&none), 0u);
    none = timed(starved(), 250, 4);
    none.bodies = 0;
    CHECK_EQ(pl_adapt_target(&none), 0u);
    none = timed(starved(), 250, 4);
    none.workers = 0;
    CHECK_EQ(pl_adapt_target(&none), 0u);
    /* Past any cap: held at UINT_MAX, the ceiling then bounds it. */
    struct pl_adapt_window huge = timed(starved(), 1e9, 1e-9);
    CHECK_EQ(pl_adapt_target(&huge), UINT_MAX);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &huge), 256u);
}

static void test_rises_to_the_target(void)
{
    /* Starved at 32 with a target of 250: one window to 250, not 48. */
    struct pl_adapt_window w = timed(starved(), 250, 16);
    CHECK_EQ(pl_adapt_target(&w), 250u);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 250u);
    /* A target under the half: the half. */
    w = timed(starved(), 15, 8); /* 30 */
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 48u);
    /* Past the ceiling: the ceiling; a lowered one (memory) too. */
    w = timed(starved(), 375, 4); /* 1500 */
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 256u);
    struct pl_adapt_limits low = {.start = 32, .ceiling = 94};
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &low, &w), 94u);
    /* No rise without the verdict: a target alone moves nothing (a quiet
     * window, or one with a backlog sample). */
    struct pl_adapt_window quiet =
        timed((struct pl_adapt_window){.samples = PL_ADAPT_WINDOW}, 250, 4);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &quiet), 32u);
    w = timed(starved(), 250, 4);
    w.backlog = 1;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 32, &limits, &w), 32u);
}

static void test_falls_no_lower_than_the_target(void)
{
    unsigned cap;
    /* Behind at 250 with a target of 220, work waiting: down to 220, not
     * 188. */
    struct pl_adapt_window w = timed(backlogged(), 82.5, 6);
    w.waiting = PL_ADAPT_WINDOW;
    CHECK_EQ(pl_adapt_target(&w), 220u);
    CHECK_EQ(pl_adapt_decide(PL_CAP_ADAPTIVE, &w), PL_ADAPT_FALL);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 250, &limits, &w), 220u);
    /* A target at or over the cap: the fall holds (never a rise). */
    w = timed(backlogged(), 150, 4); /* 600 */
    w.waiting = PL_ADAPT_WINDOW / 2 + 1;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 250, &limits, &w), 250u);
    /* Nothing waited to start in most samples (the list is all in): the
     * target does not hold the slots, the quarter goes. */
    w.waiting = PL_ADAPT_WINDOW / 2;
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 250, &limits, &w), 188u);
    w.waiting = 0;
    cap = 256;
    for (int i = 0; i < 20; i++)
        cap = pl_adapt_next_cap(PL_CAP_ADAPTIVE, cap, &limits, &w);
    CHECK_EQ(cap, 32u);
    /* A target under the quarter: the quarter, down to the start. */
    w = timed(backlogged(), 10, 160); /* 1: a CPU-bound list */
    w.waiting = PL_ADAPT_WINDOW;
    CHECK_EQ(pl_adapt_target(&w), 1u);
    CHECK_EQ(pl_adapt_next_cap(PL_CAP_ADAPTIVE, 256, &limits, &w), 192u);
    cap = 256;
    for (int i = 0; i < 20; i++)
        cap = pl_adapt_next_cap(PL_CAP_ADAPTIVE, cap, &limits, &w);
    CHECK_EQ(cap, 32u);
}

static void test_fixed_never_moves(void)
{
    struct pl_adapt_window windows[] = {
        starved(), backlogged(), {0}, timed(starved(), 250, 4), timed(backlogged(), 250, 4)};
    unsigned caps[] = {1, 4, 32, 64, 300, 1024};
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        CHECK_EQ(pl_adapt_decide(PL_CAP_FIXED, &windows[i]), PL_ADAPT_HOLD);
        for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
            CHECK_EQ(pl_adapt_next_cap(PL_CAP_FIXED, caps[c], &limits, &windows[i]), caps[c]);
    }
}

int main(void)
{
    test_rises_when_starved_and_saturated();
    test_holds_at_the_ceiling();
    test_falls_with_a_backlog();
    test_holds_otherwise();
    test_target();
    test_rises_to_the_target();
    test_falls_no_lower_than_the_target();
    test_fixed_never_moves();
    puts("adapt: ok");
    return 0;
}
