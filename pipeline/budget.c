/* The memory budget (budget.h): a byte counter under a mutex, with a
 * condition variable that wakes the waiters on every release. Turns are
 * tickets (a fair lock's idea): only the oldest waiter may reserve, and
 * when it has, it passes the turn on, so a reservation is never overtaken
 * by one asked for after it. */
#include <errno.h>

#include "budget.h"

int pl_budget_init(struct pl_budget *budget, size_t capacity)
{
    budget->capacity = capacity;
    budget->reserved = 0;
    budget->peak = 0;
    budget->next_ticket = 0;
    budget->serving = 0;
    budget->cancelled = false;
    int rc = uv_mutex_init(&budget->lock);
    if (rc < 0)
        return rc;
    rc = uv_cond_init(&budget->changed);
    if (rc < 0) {
        uv_mutex_destroy(&budget->lock);
        return rc;
    }
    return 0;
}

void pl_budget_finish(struct pl_budget *budget)
{
    uv_cond_destroy(&budget->changed);
    uv_mutex_destroy(&budget->lock);
}

int pl_budget_reserve(struct pl_budget *budget, size_t bytes)
{
    /* Never fits: refused without taking a turn, so it delays nobody. */
    if (bytes > budget->capacity)
        return -E2BIG;
    uv_mutex_lock(&budget->lock);
    uint64_t ticket = budget->next_ticket++;
    while (!budget->cancelled &&
           (ticket != budget->serving || budget->capacity - budget->reserved < bytes))
        uv_cond_wait(&budget->changed, &budget->lock);
    int rc = 0;
    if (budget->cancelled) {
        /* Turns no longer matter: every reserve from now on fails. */
        rc = -ECANCELED;
    } else {
        budget->reserved += bytes;
        if (budget->reserved > budget->peak)
            budget->peak = budget->reserved;
        budget->serving++;
        /* The next turn may fit in what is left. */
        uv_cond_broadcast(&budget->changed);
    }
    uv_mutex_unlock(&budget->lock);
    return rc;
}

void pl_budget_release(struct pl_budget *budget, size_t bytes)
{
    if (bytes == 0)
        return;
    uv_mutex_lock(&budget->lock);
    budget->reserved -= bytes <= budget->reserved ? bytes : budget->reserved;
    uv_cond_broadcast(&budget->changed);
    uv_mutex_unlock(&budget->lock);
}

void pl_budget_cancel(struct pl_budget *budget)
{
    uv_mutex_lock(&budget->lock);
    budget->cancelled = true;
    uv_cond_broadcast(&budget->changed);
    uv_mutex_unlock(&budget->lock);
}

size_t pl_budget_reserved(struct pl_budget *budget, size_t *peak)
{
    uv_mutex_lock(&budget->lock);
    size_t reserved = budget->reserved;
    if (peak != NULL)
        *peak = budget->peak;
    uv_mutex_unlock(&budget->lock);
    return reserved;
}
