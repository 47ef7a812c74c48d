/* Unit tests for the politeness limits: the --rate-limit token bucket
 * (io/bucket.c), host keys (io/url_host.c) and the --max-per-host table
 * with its FIFOs (pipeline/hosts.c). The integration tests see these from
 * the server's side; here the arithmetic and the queue order are pinned. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bucket.h"
#include "check.h"
#include "hosts.h"
#include "io.h"

#define MS 1000000ull

static void test_bucket_debt(void)
{
    struct io_bucket bucket;
    io_bucket_init(&bucket, 1000, 0);

    /* Starts empty but not in debt: a first chunk passes whole, then the
     * bucket owes it and refuses until it is paid off at 1000 B/s. */
    CHECK(io_bucket_take(&bucket, 500, 0));
    CHECK(!io_bucket_take(&bucket, 1, 0));
    CHECK_EQ(io_bucket_wait_ms(&bucket, 0), 501);
    CHECK_EQ(io_bucket_wait_ms(&bucket, 250 * MS), 251);
    CHECK(!io_bucket_take(&bucket, 1, 499 * MS));
    CHECK(io_bucket_take(&bucket, 100, 500 * MS));
    CHECK_EQ(io_bucket_wait_ms(&bucket, 500 * MS), 101);
    /* Out of debt: at least a millisecond, never 0 (a timer of 0 would spin). */
    CHECK_EQ(io_bucket_wait_ms(&bucket, 700 * MS), 1);
}

static void test_bucket_burst(void)
{
    /* Idle time saves up at most the burst: a tenth of a second's worth, at
     * least 16 KiB. */
    struct io_bucket slow, fast;
    io_bucket_init(&slow, 1000, 0);
    io_bucket_init(&fast, 10 * 1000 * 1000, 0);
    CHECK(io_bucket_take(&slow, 1, 3600 * 1000 * MS));
    CHECK(slow.tokens <= 16384.0 && slow.tokens >= 16382.0);
    CHECK(io_bucket_take(&fast, 1, 3600 * 1000 * MS));
    CHECK(fast.tokens <= 1000000.0 && fast.tokens >= 999998.0);
}

/* Transfers take 16 KiB chunks whenever the bucket lets them, for 10
 * simulated seconds, waking when io_bucket_wait_ms says: the bytes moved
 * stay within one burst and one chunk of rate × time. */
static void test_bucket_rate(void)
{
    const uint64_t rates[] = {4096, 65536, 1000000, 50000000};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        struct io_bucket bucket;
        io_bucket_init(&bucket, rates[r], 0);
        uint64_t now = 0, moved = 0;
        const uint64_t end = 10000 * MS;
        while (now < end) {
            if (io_bucket_take(&bucket, 16384, now))
                moved += 16384;
            else
                now += io_bucket_wait_ms(&bucket, now) * MS;
        }
        double expected = (double)rates[r] * 10.0;
        double slack = bucket.burst + 2 * 16384.0;
        if ((double)moved > expected + slack || (double)moved < expected - slack) {
            fprintf(stderr, "rate %llu: moved %llu in 10 s, expected %.0f +- %.0f\n",
                    (unsigned long long)rates[r], (unsigned long long)moved, expected, slack);
            abort();
        }
    }
}

static void test_url_host(void)
{
    char key[128];
    CHECK_EQ(io_url_host("http://127.0.0.1/a.jpg", key, sizeof(key)), 0);
    CHECK_STR_EQ(key, "127.0.0.1:80");
    CHECK_EQ(io_url_host("https://Example.ORG/a.jpg", key, sizeof(key)), 0);
    CHECK_STR_EQ(key, "example.org:443");
    CHECK_EQ(io_url_host("http://example.org:8080/x?y", key, sizeof(key)), 0);
    CHECK_STR_EQ(key, "example.org:8080");
    CHECK_EQ(io_url_host("http://[::1]:81/", key, sizeof(key)), 0);
    CHECK_STR_EQ(key, "[::1]:81");
    CHECK_EQ(io_url_host("http://example.org/", key, 8), -ENAMETOOLONG);
    CHECK(io_url_host("not a url", key, sizeof(key)) < 0);
}

static void test_hosts_table(void)
{
    struct pl_hosts *hosts = NULL;
    CHECK_EQ(pl_hosts_create(&hosts), 0);

    /* One record per host:port, whatever the path, case or default port. */
    struct pl_host *a = pl_hosts_get(hosts, "http://a.example/1.jpg");
    CHECK(a != NULL);
    CHECK(pl_hosts_get(hosts, "http://A.example:80/2.jpg") == a);
    struct pl_host *a8080 = pl_hosts_get(hosts, "http://a.example:8080/1.jpg");
    CHECK(a8080 != NULL && a8080 != a);
    CHECK(pl_hosts_get(hosts, "https://a.example/1.jpg") != a);
    CHECK(pl_hosts_get(hosts, "::") == NULL);

    /* Past the initial 64 slots the table grows and keeps every record. */
    struct pl_host *many[300];
    for (int i = 0; i < 300; i++) {
        char url[64];
        snprintf(url, sizeof(url), "http://h%d.example/x.jpg", i);
        many[i] = pl_hosts_get(hosts, url);
        CHECK(many[i] != NULL);
    }
    for (int i = 0; i < 300; i++) {
        char url[64];
        snprintf(url, sizeof(url), "http://H%d.example:80/y.png", i);
        CHECK(pl_hosts_get(hosts, url) == many[i]);
    }
    CHECK(pl_hosts_get(hosts, "http://a.example/3.jpg") == a);

    /* A host's waiting jobs are an io_list FIFO (pipeline/job.c links them). */
    struct io_list nodes[4];
    for (int i = 0; i < 4; i++)
        io_list_insert_tail(&a->waiting, &nodes[i]);
    CHECK(io_list_pop_first(&a->waiting) == &nodes[0]);
    CHECK(io_list_pop_first(&a->waiting) == &nodes[1]);
    CHECK(io_list_pop_first(&a->waiting) == &nodes[2]);

    /* Runnable hosts: FIFO, each once however often it is marked, and only
     * while it has someone waiting. */
    CHECK(pl_hosts_next_runnable(hosts) == NULL);
    CHECK(!pl_hosts_any_runnable(hosts));
    pl_hosts_mark_runnable(hosts, a8080); /* nobody waiting: not listed */
    CHECK(pl_hosts_next_runnable(hosts) == NULL);
    struct io_list other;
    io_list_insert_tail(&many[7]->waiting, &other);
    pl_hosts_mark_runnable(hosts, a);
    pl_hosts_mark_runnable(hosts, many[7]);
    pl_hosts_mark_runnable(hosts, a);
    CHECK(pl_hosts_any_runnable(hosts));
    CHECK(pl_hosts_next_runnable(hosts) == a);
    pl_hosts_mark_runnable(hosts, a); /* back at the tail: round robin */
    CHECK(pl_hosts_next_runnable(hosts) == many[7]);
    CHECK(pl_hosts_next_runnable(hosts) == a);
    CHECK(pl_hosts_next_runnable(hosts) == NULL);
    CHECK(io_list_pop_first(&a->waiting) == &nodes[3]);
    CHECK(io_list_pop_first(&a->waiting) == NULL);
    CHECK(io_list_pop_first(&many[7]->waiting) == &other);

    pl_hosts_destroy(hosts);
    pl_hosts_destroy(NULL);
}

/* Host health (pipeline/hosts.c): one probe at a time after a refusal,
 * healthy again after a transfer connects; down at the FIRST connect
 * timeout, or at the PL_HOST_DOWN_AFTER-th refusal in a row; down for a
 * cool-down (doubled after each failed probe, capped), after which one job
 * probes it and its outcome decides. Times are the loop's, in ms. */
static void test_host_health(void)
{
    const uint64_t cool = 30 * 1000;
    struct pl_hosts *hosts = NULL;
    CHECK_EQ(pl_hosts_create(&hosts), 0);
    struct pl_host *h = pl_hosts_get(hosts, "http://dead.example/1.jpg");
    CHECK(h != NULL);
    char reason[160];

    /* Never connected: one transfer at a time (its URLs that come together
     * would all be in flight before the first connect timed out), whatever
     * the cap; a transfer without a verdict leaves it so; the first that
     * connects brings it up at its full cap. */
    CHECK_EQ(h->health, PL_HOST_NEW);
    CHECK_EQ(pl_host_capacity(h, 4), 1);
    CHECK_EQ(pl_host_capacity(h, 0), 1);
    CHECK_EQ(pl_host_check(h, 0), PL_HOST_NEW);
    CHECK_EQ(pl_host_record(h, PL_HOST_NO_VERDICT, h->down_count, 0, cool), PL_HOST_SAME);
    CHECK_EQ(h->health, PL_HOST_NEW);
    CHECK_EQ(pl_host_record(h, PL_HOST_CONNECTED, h->down_count, 0, cool), PL_HOST_CAME_UP);
    CHECK_EQ(h->health, PL_HOST_UP);
    CHECK_EQ(pl_host_capacity(h, 4), 4);
    CHECK_EQ(pl_host_capacity(h, 0), UINT_MAX);
    /* Its end, connected too, changes nothing. */
    CHECK_EQ(pl_host_record(h, PL_HOST_CONNECTED, h->down_count, 5, cool), PL_HOST_SAME);
    CHECK_EQ(pl_host_record(h, PL_HOST_REFUSED, h->down_count, 0, cool), PL_HOST_SAME);
    CHECK_EQ(h->health, PL_HOST_PROBING);
    CHECK_EQ(pl_host_capacity(h, 4), 1); /* probing */
    CHECK_EQ(pl_host_capacity(h, 0), 1);
    /* It answered. */
    CHECK_EQ(pl_host_record(h, PL_HOST_CONNECTED, h->down_count, 10, cool), PL_HOST_CAME_UP);
    CHECK_EQ(pl_host_capacity(h, 4), 4);
    CHECK_EQ(h->connect_failures, 0);
    CHECK_EQ(pl_host_record(h, PL_HOST_CONNECTED, h->down_count, 20, cool), PL_HOST_SAME);

    /* Neither connected nor a connect failure (cancelled, no name): nothing. */
    CHECK_EQ(pl_host_record(h, PL_HOST_NO_VERDICT, h->down_count, 30, cool), PL_HOST_SAME);
    CHECK_EQ(pl_host_capacity(h, 4), 4);

    /* One connect timeout takes it down: a second would cost another whole
     * --connect-timeout of a slot. */
    CHECK_EQ(pl_host_record(h, PL_HOST_TIMED_OUT, h->down_count, 1000, cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(h->health, PL_HOST_DOWN);
    CHECK_EQ(pl_host_capacity(h, 4), 0);
    pl_host_down_reason(h, reason, sizeof(reason));
    CHECK_STR_EQ(reason, "host unreachable: 1 connect timed out (tried again after a 30 s "
                         "cool-down)");
    /* A transfer started before the down that times out after it: counted
     * for the reason, but it does not stretch the cool-down. */
    CHECK_EQ(pl_host_record(h, PL_HOST_TIMED_OUT, h->down_count, 2000, cool), PL_HOST_SAME);
    CHECK_EQ(h->timed_out, 2);
    CHECK_EQ(h->down_until_ms, 1000 + cool);
    CHECK_EQ(h->cooldown_ms, cool);

    /* Down until the cool-down ends; then one probe. */
    CHECK_EQ(pl_host_check(h, 1000 + cool - 1), PL_HOST_DOWN);
    CHECK_EQ(pl_host_capacity(h, 4), 0);
    CHECK_EQ(pl_host_check(h, 1000 + cool), PL_HOST_PROBING);
    CHECK_EQ(pl_host_capacity(h, 4), 1);
    CHECK_EQ(pl_host_check(h, 1000 + cool + 1), PL_HOST_PROBING); /* stays so until it ends */

    /* The probe times out: down again for twice as long, then 4 and 8
     * times, and no longer. */
    uint64_t now = 36 * 1000;
    const uint64_t want[] = {2 * cool, 4 * cool, 8 * cool, 8 * cool, 8 * cool};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CHECK_EQ(pl_host_record(h, PL_HOST_TIMED_OUT, h->down_count, now, cool), PL_HOST_WENT_DOWN);
        CHECK_EQ(h->cooldown_ms, want[i]);
        CHECK_EQ(pl_host_check(h, now + want[i] - 1), PL_HOST_DOWN);
        now += want[i];
        CHECK_EQ(pl_host_check(h, now), PL_HOST_PROBING);
    }
    pl_host_down_reason(h, reason, sizeof(reason));
    CHECK_STR_EQ(reason, "host unreachable: 7 connects timed out (tried again after a 240 s "
                         "cool-down)");

    /* The probe connects: up at its full cap, the counts and the cool-down
     * back to the start. */
    CHECK_EQ(pl_host_record(h, PL_HOST_CONNECTED, h->down_count, now + 50, cool), PL_HOST_CAME_UP);
    CHECK_EQ(pl_host_capacity(h, 4), 4);
    CHECK_EQ(h->timed_out, 0);
    CHECK_EQ(pl_host_record(h, PL_HOST_TIMED_OUT, h->down_count, now + 100, cool),
             PL_HOST_WENT_DOWN);
    CHECK_EQ(h->cooldown_ms, cool);
    /* A transfer that connected, started before the down, ends it at once
     * (it is what a probe would learn). */
    CHECK_EQ(pl_host_record(h, PL_HOST_CONNECTED, h->down_count, now + 200, cool), PL_HOST_CAME_UP);
    CHECK_EQ(pl_host_capacity(h, 4), 4);

    /* Refusals cost a round trip each: down at the third in a row, probing
     * one at a time before; after the cool-down one more refusal (the
     * probe's) takes it down again at once. */
    struct pl_host *r = pl_hosts_get(hosts, "http://refusing.example/1.jpg");
    for (unsigned i = 1; i < PL_HOST_DOWN_AFTER; i++) {
        CHECK_EQ(pl_host_record(r, PL_HOST_REFUSED, r->down_count, i, cool), PL_HOST_SAME);
        CHECK_EQ(pl_host_capacity(r, 4), 1);
    }
    CHECK_EQ(pl_host_record(r, PL_HOST_REFUSED, r->down_count, 10, cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(r->down_kind, PL_HOST_REFUSED);
    pl_host_down_reason(r, reason, sizeof(reason));
    CHECK_STR_EQ(reason, "host unreachable: 3 connections refused (tried again after a 30 s "
                         "cool-down)");
    CHECK_EQ(pl_host_check(r, 10 + cool), PL_HOST_PROBING);
    CHECK_EQ(pl_host_record(r, PL_HOST_REFUSED, r->down_count, 20 + cool, cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(r->cooldown_ms, 2 * cool);

    /* Mixed: a timeout after a refusal takes it down, and is its kind. */
    struct pl_host *m = pl_hosts_get(hosts, "http://mixed.example/1.jpg");
    CHECK_EQ(pl_host_record(m, PL_HOST_REFUSED, m->down_count, 0, cool), PL_HOST_SAME);
    CHECK_EQ(pl_host_record(m, PL_HOST_TIMED_OUT, m->down_count, 5, cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(m->down_kind, PL_HOST_TIMED_OUT);
    pl_host_down_reason(m, reason, sizeof(reason));
    CHECK_STR_EQ(reason, "host unreachable: 2 connects failed, 1 refused and 1 timed out "
                         "(tried again after a 30 s cool-down)");

    /* A new host refused: probing, still one at a time. */
    struct pl_host *n = pl_hosts_get(hosts, "http://new-refusing.example/1.jpg");
    CHECK_EQ(pl_host_record(n, PL_HOST_REFUSED, n->down_count, 0, cool), PL_HOST_SAME);
    CHECK_EQ(n->health, PL_HOST_PROBING);
    CHECK_EQ(pl_host_capacity(n, 4), 1);

    /* --host-cooldown 0: down for the run, never probed. A new host's first
     * connect timeout takes it down (its other URLs never started). */
    struct pl_host *z = pl_hosts_get(hosts, "http://never.example/1.jpg");
    CHECK_EQ(z->health, PL_HOST_NEW);
    CHECK_EQ(pl_host_record(z, PL_HOST_TIMED_OUT, z->down_count, 0, 0), PL_HOST_WENT_DOWN);
    CHECK_EQ(pl_host_check(z, UINT64_MAX), PL_HOST_DOWN);
    pl_host_down_reason(z, reason, sizeof(reason));
    CHECK_STR_EQ(reason, "host unreachable: 1 connect timed out (not tried again in this run)");

    /* A name that does not resolve (or whose lookup timed out): down at the
     * first failed lookup, from any state, as a dead host; its reason names
     * it; probed after the cool-down, down twice as long when the probe's
     * lookup fails too, up when a probe connects. */
    struct pl_host *x = pl_hosts_get(hosts, "https://NX.example:8443/1.jpg");
    CHECK_EQ(pl_host_record(x, PL_HOST_UNRESOLVED, x->down_count, 100, cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(x->down_kind, PL_HOST_UNRESOLVED);
    CHECK_EQ(pl_host_capacity(x, 4), 0);
    pl_host_down_reason(x, reason, sizeof(reason));
    CHECK_STR_EQ(reason, "name does not resolve: nx.example (tried again after a 30 s cool-down)");
    /* While down: counted only. */
    CHECK_EQ(pl_host_record(x, PL_HOST_UNRESOLVED, x->down_count, 200, cool), PL_HOST_SAME);
    CHECK_EQ(x->unresolved, 2);
    CHECK_EQ(pl_host_check(x, 100 + cool), PL_HOST_PROBING);
    CHECK_EQ(pl_host_record(x, PL_HOST_UNRESOLVED, x->down_count, 200 + cool, cool),
             PL_HOST_WENT_DOWN);
    CHECK_EQ(x->cooldown_ms, 2 * cool);
    CHECK_EQ(pl_host_check(x, 200 + 3 * cool), PL_HOST_PROBING);
    CHECK_EQ(pl_host_record(x, PL_HOST_CONNECTED, x->down_count, 300 + 3 * cool, cool),
             PL_HOST_CAME_UP);
    CHECK_EQ(x->unresolved, 0);
    CHECK_EQ(x->times_down, 0);
    /* Up, and a later lookup fails (its cache entry expired): down too. */
    CHECK_EQ(pl_host_record(x, PL_HOST_UNRESOLVED, x->down_count, 400 + 3 * cool, cool),
             PL_HOST_WENT_DOWN);
    CHECK_EQ(x->cooldown_ms, cool);
    /* Only the probe decides (a cool-down shorter than --connect-timeout):
     * an up host's transfers all start at down_count 0; the first to time
     * out takes it down; after the cool-down a probe starts (at 1); the
     * others' connects time out later, stale: neither while probing nor
     * once the probe connected do they take the host down again, and
     * while down they are only counted. The probe's own timeout does. */
    struct pl_host *s = pl_hosts_get(hosts, "http://stale.example/1.jpg");
    const uint64_t short_cool = 500;
    CHECK_EQ(pl_host_record(s, PL_HOST_CONNECTED, 0, 0, short_cool), PL_HOST_CAME_UP);
    uint8_t before = s->down_count;
    CHECK_EQ(pl_host_record(s, PL_HOST_TIMED_OUT, before, 5000, short_cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(s->down_count, before + 1);
    CHECK_EQ(pl_host_record(s, PL_HOST_TIMED_OUT, before, 5200, short_cool), PL_HOST_SAME);
    CHECK_EQ(s->timed_out, 2); /* counted while down */
    CHECK_EQ(pl_host_check(s, 5500), PL_HOST_PROBING);
    uint8_t probe = s->down_count;
    CHECK_EQ(pl_host_record(s, PL_HOST_TIMED_OUT, before, 5600, short_cool), PL_HOST_SAME);
    CHECK_EQ(s->health, PL_HOST_PROBING);
    CHECK_EQ(pl_host_record(s, PL_HOST_REFUSED, before, 5650, short_cool), PL_HOST_SAME);
    CHECK_EQ(s->health, PL_HOST_PROBING);
    CHECK_EQ(pl_host_record(s, PL_HOST_CONNECTED, probe, 5700, short_cool), PL_HOST_CAME_UP);
    CHECK_EQ(pl_host_record(s, PL_HOST_TIMED_OUT, before, 5800, short_cool), PL_HOST_SAME);
    CHECK_EQ(s->health, PL_HOST_UP);
    CHECK_EQ(s->timed_out, 0);
    /* A transfer started while up again, and the probe's own: they decide. */
    CHECK_EQ(pl_host_record(s, PL_HOST_TIMED_OUT, probe, 9000, short_cool), PL_HOST_WENT_DOWN);
    CHECK_EQ(pl_host_check(s, 9500), PL_HOST_PROBING);
    CHECK_EQ(pl_host_record(s, PL_HOST_TIMED_OUT, s->down_count, 9600, short_cool),
             PL_HOST_WENT_DOWN);
    CHECK_EQ(s->cooldown_ms, 2 * short_cool);

    /* A probing host (after a refusal) whose lookup fails: down, as a name. */
    struct pl_host *p = pl_hosts_get(hosts, "http://refused-then-nx.example/1.jpg");
    CHECK_EQ(pl_host_record(p, PL_HOST_REFUSED, p->down_count, 0, cool), PL_HOST_SAME);
    CHECK_EQ(pl_host_record(p, PL_HOST_UNRESOLVED, p->down_count, 1, 0), PL_HOST_WENT_DOWN);
    pl_host_down_reason(p, reason, sizeof(reason));
    CHECK_STR_EQ(reason,
                 "name does not resolve: refused-then-nx.example (not tried again in this run)");
    pl_hosts_destroy(hosts);
}

/* Which transfers ask for a connection of their own (pl_host_new_connection,
 * called with the transfer counted in in_flight): not the host's first;
 * each that starts while every counted connection carries a transfer, up to
 * the cap; none that could take an idle one. */
static void test_host_connections(void)
{
    struct pl_hosts *hosts = NULL;
    CHECK_EQ(pl_hosts_create(&hosts), 0);
    struct pl_host *h = pl_hosts_get(hosts, "https://h2.example/1.jpg");
    CHECK(h != NULL);
    h->in_flight = 1;
    CHECK(!pl_host_new_connection(h, 4)); /* the first opens one anyway */
    CHECK_EQ(h->connections, 1);
    for (unsigned k = 2; k <= 4; k++) {
        h->in_flight = k; /* started while the first ones run */
        CHECK(pl_host_new_connection(h, 4));
        CHECK_EQ(h->connections, k);
    }
    h->in_flight = 5;
    CHECK(!pl_host_new_connection(h, 4)); /* the cap: a stream on one of the 4 */
    CHECK_EQ(h->connections, 4);
    h->in_flight = 3; /* one ended: its connection is there to take */
    CHECK(!pl_host_new_connection(h, 4));

    /* No cap of its own (max_per_host 0: -j fitted below --max-per-host by
     * the descriptor limit): never asks, libcurl reuses and multiplexes. */
    struct pl_host *u = pl_hosts_get(hosts, "https://uncapped.example/1.jpg");
    for (unsigned k = 1; k <= 8; k++) {
        u->in_flight = k;
        CHECK(!pl_host_new_connection(u, 0));
    }
    pl_hosts_destroy(hosts);
}

int main(void)
{
    test_bucket_debt();
    test_bucket_burst();
    test_bucket_rate();
    test_url_host();
    test_hosts_table();
    test_host_health();
    test_host_connections();
    printf("limits: ok\n");
    return 0;
}
