/* The run's memory budget (pipeline/budget.c, issue 10 item 3): reserve and
 * release, an item that can never fit, a wait that ends on a release, turns
 * kept in order (a large item is not overtaken by a later small one), and
 * cancel waking every waiter. Threads are real; a wait is observed through
 * the tickets taken, never through timing. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include <unistd.h>

#include <uv.h>

#include "budget.h"
#include "check.h"
#include "pipeline.h"

struct waiter {
    struct pl_budget *budget;
    size_t bytes;
    int rc;
    atomic_int done;
    uv_thread_t thread;
};

static void wait_reserve(void *arg)
{
    struct waiter *w = arg;
    w->rc = pl_budget_reserve(w->budget, w->bytes);
    atomic_store(&w->done, 1);
}

static uint64_t tickets_taken(struct pl_budget *budget)
{
    uv_mutex_lock(&budget->lock);
    uint64_t taken = budget->next_ticket;
    uv_mutex_unlock(&budget->lock);
    return taken;
}

/* Starts a thread that reserves `bytes` and returns once it has taken its
 * turn (it is then either waiting or done). */
static void start_waiter(struct waiter *w, struct pl_budget *budget, size_t bytes)
{
    uint64_t before = tickets_taken(budget);
    w->budget = budget;
    w->bytes = bytes;
    w->rc = 1;
    atomic_init(&w->done, 0);
    CHECK_EQ(uv_thread_create(&w->thread, wait_reserve, w), 0);
    while (tickets_taken(budget) == before)
        uv_sleep(1);
}

/* Still waiting a while after taking its turn: a bug would have let it
 * through by then (this can miss a bug, never invent one). */
static void check_still_waiting(struct waiter *w)
{
    uv_sleep(50);
    CHECK_EQ(atomic_load(&w->done), 0);
}

static void join_waiter(struct waiter *w, int want_rc)
{
    CHECK_EQ(uv_thread_join(&w->thread), 0);
    CHECK_EQ(atomic_load(&w->done), 1);
    CHECK_EQ(w->rc, want_rc);
}

static void test_reserve_release(void)
{
    struct pl_budget budget;
    size_t peak = 0;
    CHECK_EQ(pl_budget_init(&budget, 100), 0);
    CHECK_EQ(pl_budget_reserve(&budget, 40), 0);
    CHECK_EQ(pl_budget_reserve(&budget, 60), 0); /* exactly full */
    CHECK_EQ(pl_budget_reserved(&budget, &peak), 100);
    pl_budget_release(&budget, 60);
    pl_budget_release(&budget, 0);
    CHECK_EQ(pl_budget_reserved(&budget, &peak), 40);
    CHECK_EQ(peak, 100);
    CHECK_EQ(pl_budget_reserve(&budget, 0), 0);
    pl_budget_release(&budget, 40);
    CHECK_EQ(pl_budget_reserved(&budget, NULL), 0);
    pl_budget_finish(&budget);
}

static void test_never_fits(void)
{
    /* Refused at once, even while the budget is busy, and without taking a
     * turn: it delays nobody. The whole budget is the largest that works. */
    struct pl_budget budget;
    CHECK_EQ(pl_budget_init(&budget, 100), 0);
    CHECK_EQ(pl_budget_reserve(&budget, 30), 0);
    uint64_t tickets = tickets_taken(&budget);
    CHECK_EQ(pl_budget_reserve(&budget, 101), -E2BIG);
    CHECK_EQ(tickets_taken(&budget), tickets);
    pl_budget_release(&budget, 30);
    CHECK_EQ(pl_budget_reserve(&budget, 100), 0);
    pl_budget_release(&budget, 100);
    pl_budget_finish(&budget);
}

static void test_wait_for_release(void)
{
    struct pl_budget budget;
    CHECK_EQ(pl_budget_init(&budget, 100), 0);
    CHECK_EQ(pl_budget_reserve(&budget, 70), 0);
    struct waiter w;
    start_waiter(&w, &budget, 50); /* 30 free: waits */
    check_still_waiting(&w);
    pl_budget_release(&budget, 70);
    join_waiter(&w, 0);
    CHECK_EQ(pl_budget_reserved(&budget, NULL), 50);
    pl_budget_release(&budget, 50);
    pl_budget_finish(&budget);
}

static void test_turns_in_order(void)
{
    /* A large item waits for the whole budget; a small one asked after it
     * would fit in what is free, but waits its turn; both get through. */
    struct pl_budget budget;
    CHECK_EQ(pl_budget_init(&budget, 100), 0);
    CHECK_EQ(pl_budget_reserve(&budget, 100), 0);
    struct waiter large;
    struct waiter small;
    start_waiter(&large, &budget, 100);
    start_waiter(&small, &budget, 10);
    pl_budget_release(&budget, 90); /* 90 free: enough for small only */
    check_still_waiting(&small);
    check_still_waiting(&large);
    pl_budget_release(&budget, 10);
    join_waiter(&large, 0);
    check_still_waiting(&small);
    pl_budget_release(&budget, 100);
    join_waiter(&small, 0);
    pl_budget_release(&budget, 10);
    CHECK_EQ(pl_budget_reserved(&budget, NULL), 0);
    pl_budget_finish(&budget);
}

static void test_cancel_wakes_waiters(void)
{
    struct pl_budget budget;
    CHECK_EQ(pl_budget_init(&budget, 100), 0);
    CHECK_EQ(pl_budget_reserve(&budget, 100), 0);
    struct waiter a;
    struct waiter b;
    start_waiter(&a, &budget, 60);
    start_waiter(&b, &budget, 1);
    check_still_waiting(&a);
    pl_budget_cancel(&budget);
    join_waiter(&a, -ECANCELED);
    join_waiter(&b, -ECANCELED);
    /* Later reserves fail too, even ones that would fit; release still works. */
    pl_budget_release(&budget, 100);
    CHECK_EQ(pl_budget_reserve(&budget, 1), -ECANCELED);
    CHECK_EQ(pl_budget_reserved(&budget, NULL), 0);
    pl_budget_finish(&budget);
}

static void test_default(void)
{
    /* Half the RAM (or the cgroup limit), at most 4 GiB (pipeline/options.c). */
    struct pl_options opts;
    pl_options_init(&opts);
    unsigned long long ram =
        (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)sysconf(_SC_PAGESIZE);
    CHECK_GT(opts.max_memory, 0);
    CHECK_LE(opts.max_memory, (size_t)4 << 30);
    CHECK_LE(opts.max_memory, ram / 2);
    printf("default --max-memory: %zu MiB (RAM %llu MiB)\n", opts.max_memory >> 20, ram >> 20);
}

int main(void)
{
    test_default();
    test_reserve_release();
    test_never_fits();
    test_wait_for_release();
    test_turns_in_order();
    test_cancel_wakes_waiters();
    printf("budget: all passed\n");
    return 0;
}
