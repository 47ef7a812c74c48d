#include "adapt.h"

#include <limits.h>
#include <math.h>

bool pl_adapt_behind(const struct pl_adapt_window *window)
{
    /* All samples but one: the workers were behind for the whole window,
     * not in one burst. */
    return window->backlog > 0 && window->backlog + 1 >= window->samples;
}

enum pl_adapt_step pl_adapt_decide(enum pl_cap_mode mode, const struct pl_adapt_window *window)
{
    if (mode == PL_CAP_FIXED || window->samples == 0)
        return PL_ADAPT_HOLD;
    if (pl_adapt_behind(window) && window->behind_before > 0)
        return PL_ADAPT_FALL;
    /* Starved in most samples and behind in none: more bodies would be
     * taken at once. */
    if (2 * window->starved_saturated > window->samples && window->backlog == 0)
        return PL_ADAPT_RISE;
    return PL_ADAPT_HOLD;
}

unsigned pl_adapt_target(const struct pl_adapt_window *window)
{
    if (window->bodies <= 0 || window->items <= 0 || window->transfer_s <= 0 || window->cpu_s <= 0)
        return 0;
    double per_body_s = window->transfer_s / window->bodies;
    double per_item_s = window->cpu_s / window->items;
    double target = round(PL_ADAPT_MARGIN * window->workers * per_body_s / per_item_s);
    return target < (double)UINT_MAX ? (unsigned)target : UINT_MAX;
}

unsigned pl_adapt_next_cap(enum pl_cap_mode mode, unsigned cap,
                           const struct pl_adapt_limits *limits,
                           const struct pl_adapt_window *window)
{
    if (mode == PL_CAP_FIXED)
        return cap;
    unsigned next = cap;
    unsigned target = pl_adapt_target(window);
    switch (pl_adapt_decide(mode, window)) {
    case PL_ADAPT_RISE:
        next = cap + (cap / 2 > 0 ? cap / 2 : 1);
        if (target > next)
            next = target;
        break;
    case PL_ADAPT_FALL:
        next = cap - (cap / 4 > 0 ? cap / 4 : 1);
        /* Not under what keeps the workers fed while work waits: the
         * backlog is a burst, and the slots are what refills the queue. */
        if (target > next && 2 * window->waiting > window->samples)
            next = target < cap ? target : cap;
        break;
    case PL_ADAPT_HOLD:
        break;
    }
    if (next > limits->ceiling)
        next = limits->ceiling;
    if (next < limits->start)
        next = limits->start;
    return next;
}
