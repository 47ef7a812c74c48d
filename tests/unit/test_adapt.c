/* The adaptive download cap's policy (pipeline/adapt.c) as a pure function:
 * windows of samples in, the next cap out. */
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

static void test_fixed_never_moves(void)
{
    struct pl_adapt_window windows[] = {starved(), backlogged(), {0}};
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
    test_fixed_never_moves();
    puts("adapt: ok");
    return 0;
}
