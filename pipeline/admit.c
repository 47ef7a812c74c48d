#include "admit.h"

enum pl_admit pl_admit_next(const struct pl_admit_state *state)
{
    if (state->stopping)
        return PL_ADMIT_NONE;
    if (state->gate == PL_GATE_STOP)
        return PL_ADMIT_STOP;
    bool list_open = state->list_left && !state->parking_full;
    bool anything = state->retry_ready || state->host_ready || list_open;
    if (!anything || state->slots_free == 0 || state->room_free == 0)
        return PL_ADMIT_NONE;
    if (state->gate == PL_GATE_HOLD)
        return PL_ADMIT_HOLD;
    if (state->retry_ready)
        return PL_ADMIT_RETRY;
    if (state->host_ready)
        return PL_ADMIT_HOST;
    return PL_ADMIT_NEW;
}
