/* Unit tests for the pipeline's core without curl or sockets: the admission
 * policy (pipeline/admit.c, a pure function), the intrusive list (io/list.h),
 * and every job state transition with its accounting (pipeline/job.c) on a
 * run that has a loop and a timer but no HTTP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "admit.h"
#include "check.h"
#include "list.h"
#include "run_private.h"

/* ---- admission ---------------------------------------------------------- */

static struct pl_admit_state open_state(void)
{
    struct pl_admit_state state = {
        .gate = PL_GATE_OPEN,
        .slots_free = 1,
        .room_free = 1,
        .retry_ready = true,
        .host_ready = true,
        .list_left = true,
    };
    return state;
}

static void test_admit_order(void)
{
    /* Retries first, then a host that has room again, then the list. */
    struct pl_admit_state state = open_state();
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_RETRY);
    state.retry_ready = false;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_HOST);
    state.host_ready = false;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NEW);
    state.list_left = false;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
    /* Parking full: no new line, but parked and retried jobs still start. */
    state.list_left = true;
    state.parking_full = true;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
    state.host_ready = true;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_HOST);
}

static void test_admit_capacity(void)
{
    /* Every start needs a download slot and pipeline room; nothing else
     * (jobs asleep are not an input: they hold neither). */
    struct pl_admit_state state = open_state();
    state.slots_free = 0;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
    state.slots_free = 3;
    state.room_free = 0;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
    state.room_free = 1000;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_RETRY);
    state.stopping = true;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
}

static void test_admit_gate(void)
{
    struct pl_admit_state state = open_state();
    state.gate = PL_GATE_HOLD;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_HOLD);
    /* A hold matters only when something could start now. */
    state.slots_free = 0;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
    state.slots_free = 1;
    /* STOP is heard even with nothing to start or no capacity. */
    state.gate = PL_GATE_STOP;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_STOP);
    state.slots_free = 0;
    state.retry_ready = state.host_ready = state.list_left = false;
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_STOP);
    state.stopping = true; /* once stopped, nothing more */
    CHECK_EQ(pl_admit_next(&state), PL_ADMIT_NONE);
}

/* Every combination of the inputs against the rules written out longhand. */
static void test_admit_exhaustive(void)
{
    for (unsigned bits = 0; bits < 1u << 9; bits++) {
        struct pl_admit_state state = {
            .gate = ((bits >> 6) & 3) == 3 ? PL_GATE_OPEN : (enum pl_gate)((bits >> 6) & 3),
            .parking_full = (bits & 256) != 0,
            .stopping = (bits & 1) != 0,
            .slots_free = (bits & 2) != 0 ? 2 : 0,
            .room_free = (bits & 4) != 0 ? 5 : 0,
            .retry_ready = (bits & 8) != 0,
            .host_ready = (bits & 16) != 0,
            .list_left = (bits & 32) != 0,
        };
        enum pl_admit want;
        bool work =
            state.retry_ready || state.host_ready || (state.list_left && !state.parking_full);
        if (state.stopping)
            want = PL_ADMIT_NONE;
        else if (state.gate == PL_GATE_STOP)
            want = PL_ADMIT_STOP;
        else if (!work || state.slots_free == 0 || state.room_free == 0)
            want = PL_ADMIT_NONE;
        else if (state.gate == PL_GATE_HOLD)
            want = PL_ADMIT_HOLD;
        else if (state.retry_ready)
            want = PL_ADMIT_RETRY;
        else if (state.host_ready)
            want = PL_ADMIT_HOST;
        else
            want = PL_ADMIT_NEW;
        CHECK_EQ(pl_admit_next(&state), want);
    }
}

/* ---- io/list.h ---------------------------------------------------------- */

struct element {
    int value;
    struct io_list link;
};

static void test_list(void)
{
    struct io_list head;
    io_list_init(&head);
    CHECK(io_list_empty(&head));
    CHECK(io_list_first(&head) == NULL);
    CHECK(io_list_last(&head) == NULL);
    CHECK(io_list_pop_first(&head) == NULL);

    struct element e[5];
    for (int i = 0; i < 5; i++) {
        e[i].value = i;
        io_list_init(&e[i].link);
        CHECK(!io_list_linked(&e[i].link));
    }
    io_list_insert_tail(&head, &e[1].link);
    io_list_insert_tail(&head, &e[2].link);
    io_list_insert_head(&head, &e[0].link);
    io_list_insert_before(&e[2].link, &e[3].link); /* 0 1 3 2 */
    CHECK(io_list_linked(&e[3].link));
    CHECK(IO_LIST_ENTRY(io_list_first(&head), struct element, link) == &e[0]);
    CHECK(IO_LIST_ENTRY(io_list_last(&head), struct element, link) == &e[2]);

    /* Removing the current element while walking is allowed. */
    int seen[4];
    int count = 0;
    struct io_list *node;
    struct io_list *next;
    IO_LIST_FOREACH_SAFE(node, next, &head) {
        struct element *el = IO_LIST_ENTRY(node, struct element, link);
        seen[count++] = el->value;
        if (el->value == 1)
            io_list_remove(node);
    }
    CHECK_EQ(count, 4);
    CHECK(seen[0] == 0 && seen[1] == 1 && seen[2] == 3 && seen[3] == 2);
    CHECK(!io_list_linked(&e[1].link)); /* removal leaves it unlinked */

    /* Moving a whole list: order kept, appended, the source left empty. */
    struct io_list other;
    io_list_init(&other);
    io_list_insert_tail(&other, &e[4].link);
    io_list_move_all(&head, &other); /* 4 0 3 2 */
    CHECK(io_list_empty(&head));
    io_list_move_all(&head, &other); /* moving nothing changes nothing */
    CHECK(io_list_pop_first(&other) == &e[4].link);
    CHECK(io_list_pop_first(&other) == &e[0].link);
    CHECK(io_list_pop_first(&other) == &e[3].link);
    CHECK(io_list_pop_first(&other) == &e[2].link);
    CHECK(io_list_empty(&other));
}

/* ---- job states --------------------------------------------------------- */

struct fixture {
    struct pl_options opts;
    struct io_url_list urls;
    struct pl_report report;
    struct pl_item last;
    char last_name[IO_OUTPUT_NAME_SIZE];
    struct run run;
};

static void on_item(const struct pl_item *item, void *user)
{
    struct fixture *f = user;
    f->last = *item;
    /* Strings live only while the callback runs. */
    snprintf(f->last_name, sizeof(f->last_name), "%s",
             item->output_name != NULL ? item->output_name : "");
    f->last.output_name = f->last_name;
    f->last.message = NULL;
    f->last.url = NULL;
}

static void fixture_init(struct fixture *f, unsigned slots, size_t room, unsigned max_per_host)
{
    memset(f, 0, sizeof(*f));
    f->opts.max_per_host = max_per_host;
    io_url_list_init(&f->urls);
    CHECK_EQ(io_url_list_add(&f->urls, "http://a.example/1.jpg", 1), 0);
    CHECK_EQ(io_url_list_add(&f->urls, "http://a.example/2.jpg", 2), 0);
    CHECK_EQ(io_url_list_add(&f->urls, "http://b.example/3.jpg", 3), 0);
    struct run *run = &f->run;
    run->opts = &f->opts;
    run->urls = &f->urls;
    run->item_flags = calloc(f->urls.count, 1);
    CHECK(run->item_flags != NULL);
    run->job_count = f->urls.count;
    run->report = &f->report;
    run->on_item = on_item;
    run->user = f;
    run->pipeline_cap = room;
    pl_sem_init(&run->slots, slots);
    io_list_init(&run->jobs);
    io_list_init(&run->ready);
    CHECK_EQ(uv_loop_init(&run->loop), 0);
    CHECK_EQ(retry_init(run), 0);
    CHECK_EQ(pl_hosts_create(&run->hosts), 0);
}

static void fixture_finish(struct fixture *f)
{
    CHECK(io_list_empty(&f->run.jobs));
    for (int s = 0; s < JOB_STATE_COUNT; s++)
        CHECK_EQ(f->run.in_state[s], 0);
    retry_close(&f->run);
    uv_run(&f->run.loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&f->run.loop), 0);
    pl_hosts_destroy(f->run.hosts);
    free(f->run.item_flags);
    io_url_list_finish(&f->urls);
}

static void test_job_is_small(void)
{
    /* A job asleep (backoff, Retry-After, busy host) is this record and
     * nothing else: the README promises about 200 bytes, so thousands
     * asleep cost a few hundred KiB. Strings are allocated only when set. */
    CHECK_LE(sizeof(struct job), 200);
}

static void test_transition_table(void)
{
    /* The allowed changes, all of them; everything else is refused. */
    static const struct {
        enum job_state from, to;
    } allowed[] = {
        {JOB_NEW, JOB_WAIT_HOST},
        {JOB_NEW, JOB_DOWNLOADING},
        {JOB_NEW, JOB_DONE},
        {JOB_WAIT_HOST, JOB_DOWNLOADING},
        {JOB_WAIT_HOST, JOB_DONE},
        {JOB_READY, JOB_WAIT_HOST},
        {JOB_READY, JOB_DOWNLOADING},
        {JOB_READY, JOB_DONE},
        {JOB_BACKOFF, JOB_READY},
        {JOB_BACKOFF, JOB_DONE},
        {JOB_DOWNLOADING, JOB_BACKOFF},
        {JOB_DOWNLOADING, JOB_CPU},
        {JOB_DOWNLOADING, JOB_DONE},
        {JOB_CPU, JOB_DONE},
    };
    for (int from = 0; from < JOB_STATE_COUNT; from++) {
        for (int to = 0; to < JOB_STATE_COUNT; to++) {
            bool want = false;
            for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                want |=
                    allowed[i].from == (enum job_state)from && allowed[i].to == (enum job_state)to;
            CHECK_EQ(job_transition_allowed((enum job_state)from, (enum job_state)to), want);
        }
    }
}

/* Walks jobs through every transition, checking after each what it holds:
 * download slots, pipeline room, the host's in_flight, which list has it,
 * and the counters (per state, retries, peak, items reported). */
static void test_transitions_accounting(void)
{
    struct fixture f;
    fixture_init(&f, 2, 3, 1);
    struct run *run = &f.run;
    struct job *a1;
    struct job *a2;
    struct job *b3;
    CHECK_EQ(job_create(run, 0, 0, &a1), 0);
    CHECK_EQ(job_create(run, 1, 1, &a2), 0);
    CHECK_EQ(job_create(run, 2, 2, &b3), 0);
    CHECK(a1->host != NULL && a1->host == a2->host && b3->host != a1->host);
    CHECK_EQ(run->in_state[JOB_NEW], 3);
    struct pl_host *host_a = a1->host;

    /* NEW → DOWNLOADING: a slot, room, the host's in_flight. */
    job_set_state(run, a1, JOB_DOWNLOADING);
    CHECK_EQ(run->slots.in_use, 1);
    CHECK_EQ(run->in_pipeline, 1);
    CHECK_EQ(host_a->in_flight, 1);
    CHECK_EQ(a1->attempts, 1);
    CHECK(a1->started_ns != 0);

    /* NEW → WAIT_HOST: nothing held, on the host's FIFO. */
    job_set_state(run, a2, JOB_WAIT_HOST);
    CHECK_EQ(run->slots.in_use, 1);
    CHECK_EQ(run->in_pipeline, 1);
    CHECK(io_list_first(&host_a->waiting) == &a2->node.link);
    CHECK(!pl_hosts_any_runnable(run->hosts));

    /* DOWNLOADING → BACKOFF: gives back slot, room and the host's count; the
     * host becomes runnable for its waiting job; a retry is counted. */
    a1->due_ns = uv_hrtime() + 3600ull * 1000000000ull;
    job_set_state(run, a1, JOB_BACKOFF);
    CHECK_EQ(run->slots.in_use, 0);
    CHECK_EQ(run->in_pipeline, 0);
    CHECK_EQ(host_a->in_flight, 0);
    CHECK_EQ(f.report.retries, 1);
    CHECK(io_list_first(&run->backoff) == &a1->node.link);
    CHECK(uv_is_active((uv_handle_t *)&run->backoff_timer));
    CHECK(pl_hosts_next_runnable(run->hosts) == host_a);

    /* WAIT_HOST → DOWNLOADING: off the FIFO, holds again. */
    job_set_state(run, a2, JOB_DOWNLOADING);
    CHECK(io_list_empty(&host_a->waiting));
    CHECK_EQ(run->slots.in_use, 1);
    CHECK_EQ(host_a->in_flight, 1);

    /* BACKOFF → READY: off the timer's list, on the ready FIFO, still
     * holding nothing. */
    job_set_state(run, a1, JOB_READY);
    CHECK(io_list_empty(&run->backoff));
    CHECK(io_list_first(&run->ready) == &a1->node.link);
    CHECK_EQ(run->in_pipeline, 1);
    /* READY → WAIT_HOST (its host is full). */
    job_set_state(run, a1, JOB_WAIT_HOST);
    CHECK(io_list_empty(&run->ready));
    CHECK(io_list_first(&host_a->waiting) == &a1->node.link);

    /* DOWNLOADING → CPU: the slot and host count go, the room stays (the
     * body is in memory until written). Sequential-style: no worker queue. */
    job_set_state(run, a2, JOB_CPU);
    CHECK_EQ(run->slots.in_use, 0);
    CHECK_EQ(host_a->in_flight, 0);
    CHECK_EQ(run->in_pipeline, 1);
    CHECK_EQ(run->in_state[JOB_CPU], 1);

    /* NEW → DOWNLOADING for b, then the peak of room held is 2. */
    job_set_state(run, b3, JOB_DOWNLOADING);
    CHECK_EQ(run->in_pipeline, 2);
    CHECK_EQ(f.report.peak_held, 2);

    /* CPU → DONE: reported ok, room given back. */
    job_set_state(run, a2, JOB_DONE);
    CHECK_EQ(run->in_pipeline, 1);
    CHECK_EQ(f.report.ok, 1);
    CHECK_EQ(f.last.index, 1);
    CHECK_EQ(f.last.status, PL_ITEM_OK);
    CHECK_STR_EQ(f.last.output_name, "2.png");

    /* DOWNLOADING → DONE (failed): reported failed with its stage. */
    job_fail(b3, -ECONNREFUSED, PL_STAGE_DOWNLOAD, PL_KIND_CONNECT, "refused");
    job_set_state(run, b3, JOB_DONE);
    CHECK_EQ(f.report.failed, 1);
    CHECK_EQ(f.last.status, PL_ITEM_FAILED);
    CHECK_EQ(f.last.error, -ECONNREFUSED);
    CHECK_EQ(f.last.stage, PL_STAGE_DOWNLOAD);
    CHECK_EQ(f.last.kind, PL_KIND_CONNECT);
    CHECK_EQ(run->in_pipeline, 0);
    CHECK_EQ(run->slots.in_use, 0);

    /* WAIT_HOST → DONE (cancelled). */
    job_fail(a1, -ECANCELED, PL_STAGE_DOWNLOAD, PL_KIND_CANCELLED, "cancelled by signal");
    job_set_state(run, a1, JOB_DONE);
    CHECK_EQ(f.report.cancelled, 1);
    CHECK(io_list_empty(&host_a->waiting));
    CHECK_EQ(run->finished, 3);

    /* The rest of the table: NEW → DONE, READY → DOWNLOADING, READY → DONE,
     * BACKOFF → DONE. */
    struct job *j;
    CHECK_EQ(job_create(run, 0, 0, &j), 0);
    job_fail(j, -ENOMEM, PL_STAGE_DOWNLOAD, PL_KIND_OUT_OF_MEMORY, "no memory");
    job_set_state(run, j, JOB_DONE);
    CHECK_EQ(f.report.failed, 2);
    CHECK_EQ(job_create(run, 0, 0, &j), 0);
    job_set_state(run, j, JOB_DOWNLOADING);
    j->due_ns = uv_hrtime();
    job_set_state(run, j, JOB_BACKOFF);
    job_set_state(run, j, JOB_READY);
    job_set_state(run, j, JOB_DOWNLOADING);
    CHECK_EQ(j->attempts, 2);
    CHECK_EQ(run->in_pipeline, 1);
    j->due_ns = uv_hrtime();
    job_set_state(run, j, JOB_BACKOFF);
    CHECK_EQ(f.report.retries, 3);
    job_fail(j, -ECONNREFUSED, PL_STAGE_DOWNLOAD, PL_KIND_CONNECT, "host unreachable");
    job_set_state(run, j, JOB_DONE);
    CHECK(io_list_empty(&run->backoff));
    CHECK_EQ(job_create(run, 2, 2, &j), 0);
    job_set_state(run, j, JOB_DOWNLOADING);
    j->due_ns = uv_hrtime();
    job_set_state(run, j, JOB_BACKOFF);
    job_set_state(run, j, JOB_READY);
    job_fail(j, -ECANCELED, PL_STAGE_DOWNLOAD, PL_KIND_CANCELLED, "cancelled");
    job_set_state(run, j, JOB_DONE);
    CHECK(io_list_empty(&run->ready));
    CHECK_EQ(run->in_pipeline, 0);
    CHECK_EQ(run->slots.in_use, 0);
    fixture_finish(&f);
}

/* Backoffs are kept in due order whatever order they come in, and the one
 * timer is armed while any waits. */
static void test_backoff_order(void)
{
    struct fixture f;
    fixture_init(&f, 8, 8, 0);
    struct run *run = &f.run;
    uint64_t now = uv_hrtime();
    const uint64_t offsets_s[] = {30, 10, 20, 10, 40};
    struct job *jobs[5];
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(job_create(run, (size_t)i % 3, (size_t)i, &jobs[i]), 0);
        job_set_state(run, jobs[i], JOB_DOWNLOADING);
        jobs[i]->due_ns = now + offsets_s[i] * 1000000000ull;
        job_set_state(run, jobs[i], JOB_BACKOFF);
    }
    CHECK_EQ(run->in_pipeline, 0);
    CHECK_EQ(run->slots.in_use, 0);
    uint64_t last = 0;
    int count = 0;
    struct io_list *node;
    IO_LIST_FOREACH(node, &run->backoff) {
        uint64_t due = IO_LIST_ENTRY(node, struct job, node.link)->due_ns;
        CHECK(due >= last);
        last = due;
        count++;
    }
    CHECK_EQ(count, 5);
    /* Equal due times keep their arrival order (FIFO among equals). */
    CHECK(io_list_first(&run->backoff) == &jobs[1]->node.link);
    CHECK(run->backoff.next->next == &jobs[3]->node.link);
    CHECK(uv_is_active((uv_handle_t *)&run->backoff_timer));
    for (int i = 0; i < 5; i++) {
        job_fail(jobs[i], -ECANCELED, PL_STAGE_DOWNLOAD, PL_KIND_CANCELLED, "cancelled");
        job_set_state(run, jobs[i], JOB_DONE);
    }
    fixture_finish(&f);
}

int main(void)
{
    test_admit_order();
    test_admit_capacity();
    test_admit_gate();
    test_admit_exhaustive();
    test_list();
    test_job_is_small();
    test_transition_table();
    test_transitions_accounting();
    test_backoff_order();
    puts("admit: ok");
    return 0;
}
