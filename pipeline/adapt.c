#include "adapt.h"

enum pl_adapt_step pl_adapt_decide(enum pl_cap_mode mode, const struct pl_adapt_window *window)
{
    if (mode == PL_CAP_FIXED || window->samples == 0)
        return PL_ADAPT_HOLD;
    if (2 * window->backlog > window->samples)
        return PL_ADAPT_FALL;
    /* All but one: a single sample taken between two transfers' ends is
     * noise, two in five are not. */
    if (window->starved_saturated + 1 >= window->samples && window->starved_saturated > 0)
        return PL_ADAPT_RISE;
    return PL_ADAPT_HOLD;
}

unsigned pl_adapt_next_cap(enum pl_cap_mode mode, unsigned cap,
                           const struct pl_adapt_limits *limits,
                           const struct pl_adapt_window *window)
{
    if (mode == PL_CAP_FIXED)
        return cap;
    unsigned step = cap / 4 > 0 ? cap / 4 : 1;
    unsigned next = cap;
    switch (pl_adapt_decide(mode, window)) {
    case PL_ADAPT_RISE:
        next = cap + step;
        break;
    case PL_ADAPT_FALL:
        next = cap > step ? cap - step : 0;
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
