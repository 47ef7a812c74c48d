/* The job: one item from the moment it leaves the list to its report, its
 * states and the one function that changes them (curl's multistate() is
 * the model): slots, pipeline room, per-host counts and the report's
 * counters are written here and nowhere else. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_private.h"

double seconds_since(uint64_t start_ns)
{
    return (double)(uv_hrtime() - start_ns) / 1e9;
}

int item_name(const struct run *run, size_t entry, char *name)
{
    const struct io_url_entry *row = &run->urls->entries[entry];
    return io_layout_named(run->opts->layout, row->url, row->name,
                           item_level(run->item_flags[entry]), row->line, name,
                           IO_OUTPUT_NAME_SIZE);
}

int job_name(const struct run *run, const struct job *job, char *name)
{
    return io_layout_named(run->opts->layout, job->url, job->given, job->level, job->line, name,
                           IO_OUTPUT_NAME_SIZE);
}

static void job_init(struct run *run, struct job *job, size_t index)
{
    memset(job, 0, sizeof(*job));
    io_list_init(&job->node.link);
    io_list_init(&job->all);
    job->run = run;
    job->index = index;
}

void job_init_unstarted(struct run *run, struct job *job, size_t entry, size_t index)
{
    job_init(run, job, index);
    uint8_t flags = run->item_flags[entry];
    job->url = run->urls->entries[entry].url;
    job->line = run->urls->entries[entry].line;
    job->given = run->urls->entries[entry].name;
    job->level = item_level(flags);
    job->named = (flags & (ITEM_REFUSED | ITEM_NAME_HELD)) == 0;
}

void job_init_row(struct run *run, struct job *job, struct pl_row *row, size_t index)
{
    job_init(run, job, index);
    job->url = row->url;
    job->owns_url = true;
    row->url = NULL;
    job->line = row->line;
    job->tag = row->tag;
    job->named = true;
}

void job_finish_unstarted(struct job *job)
{
    free(job->message);
    if (job->owns_url)
        free((char *)job->url);
}

/* Links a job made by one of the inits into the run, in JOB_NEW. */
static void job_add(struct run *run, struct job *job, bool url_ok)
{
    if (url_ok && run->hosts != NULL)
        job->host = pl_hosts_get(run->hosts, job->url);
    io_list_insert_tail(&run->jobs, &job->all);
    run->in_state[JOB_NEW]++;
}

int job_create(struct run *run, size_t entry, size_t index, struct job **out)
{
    struct job *job = malloc(sizeof(*job));
    if (job == NULL)
        return -ENOMEM;
    job_init_unstarted(run, job, entry, index);
    job_add(run, job, (run->item_flags[entry] & ITEM_REFUSED) == 0);
    *out = job;
    return 0;
}

int job_create_row(struct run *run, struct pl_row *row, size_t index, struct job **out)
{
    struct job *job = malloc(sizeof(*job));
    if (job == NULL)
        return -ENOMEM;
    job_init_row(run, job, row, index);
    job_add(run, job, true); /* feed_left checked its URL */
    *out = job;
    return 0;
}

void job_fail(struct job *job, int error, enum pl_stage stage, enum pl_kind kind,
              const char *message)
{
    job->error = error < 0 ? error : -EIO;
    job->stage = stage;
    job->kind = kind;
    free(job->message);
    /* NULL when out of memory: the report says so rather than nothing. */
    job->message = strdup(message != NULL ? message : "");
}

void job_clear_failure(struct job *job)
{
    job->error = 0;
    job->stage = PL_STAGE_NONE;
    job->kind = PL_KIND_NONE;
    free(job->message);
    job->message = NULL;
}

void report_item(struct run *run, const struct job *job)
{
    struct pl_report *report = run->report;
    char name[IO_OUTPUT_NAME_SIZE] = "";
    if (job->named)
        job_name(run, job, name);
    struct pl_item item = {
        .index = job->index,
        .line = (unsigned)job->line,
        .tag = job->tag,
        .url = job->url,
        .final_url = job->final_url,
        .output_name = name[0] != '\0' ? name : NULL,
        .status = job->skipped               ? PL_ITEM_SKIPPED
                  : job->error == -ECANCELED ? PL_ITEM_CANCELLED
                  : job->error < 0           ? PL_ITEM_FAILED
                                             : PL_ITEM_OK,
        .error = job->error,
        .stage = job->stage,
        .kind = job->kind,
        .message = job->message != NULL ? job->message
                   : job->error < 0     ? "out of memory keeping the reason"
                                        : "",
        .http_status = job->http_status,
        .attempts = job->attempts,
        .bytes = job->body_size,
        .width = job->width,
        .height = job->height,
        .format = job->provenance != NULL ? job->provenance->format : IMG_FORMAT_UNKNOWN,
        .queued_s = job->started_ns ? (double)(job->started_ns - run->created_ns) / 1e9 : 0,
        .download_s = job->download_s,
        .decode_s = job->decode_s,
        .edge_s = job->edge_s,
        .edge_threads = job->edge_threads,
        .encode_s = job->encode_s,
        .content_type = job->provenance != NULL ? job->provenance->content_type : NULL,
        .sha256 = job->provenance != NULL ? job->provenance->sha256 : NULL,
        .output_bytes = job->provenance != NULL ? job->provenance->output_bytes : 0,
        .png = job->provenance != NULL ? job->provenance->png : NULL,
        .png_size = job->provenance != NULL && job->provenance->png != NULL
                        ? job->provenance->output_bytes
                        : 0,
    };
    if (item.status == PL_ITEM_OK)
        report->ok++;
    else if (item.status == PL_ITEM_CANCELLED)
        report->cancelled++;
    else if (item.status == PL_ITEM_SKIPPED)
        report->skipped++;
    else
        report->failed++;
    report->bytes += job->body_size;
    report->download_s += job->download_s;
    report->decode_s += job->decode_s;
    report->edge_s += job->edge_s;
    report->encode_s += job->encode_s;
    run->finished++;
    if (run->on_item != NULL)
        run->on_item(&item, run->user);
}

void report_unstarted(struct run *run, size_t entry, size_t index, int error, enum pl_stage stage,
                      enum pl_kind kind, const char *message)
{
    struct job job;
    job_init_unstarted(run, &job, entry, index);
    fail_unstarted(run, &job, error, stage, kind, message);
    job_finish_unstarted(&job);
}

void fail_unstarted(struct run *run, struct job *job, int error, enum pl_stage stage,
                    enum pl_kind kind, const char *message)
{
    job_fail(job, error, stage, kind, message);
    report_item(run, job);
}

bool job_transition_allowed(enum job_state from, enum job_state to)
{
    /* Rows: from; a bit per allowed `to`. */
    static const unsigned allowed[JOB_STATE_COUNT] = {
        [JOB_NEW] = 1u << JOB_WAIT_HOST | 1u << JOB_DOWNLOADING | 1u << JOB_DONE,
        [JOB_WAIT_HOST] = 1u << JOB_DOWNLOADING | 1u << JOB_DONE,
        [JOB_READY] = 1u << JOB_WAIT_HOST | 1u << JOB_DOWNLOADING | 1u << JOB_DONE,
        [JOB_BACKOFF] = 1u << JOB_READY | 1u << JOB_DONE,
        [JOB_DOWNLOADING] = 1u << JOB_BACKOFF | 1u << JOB_CPU | 1u << JOB_DONE,
        [JOB_CPU] = 1u << JOB_DONE,
        [JOB_DONE] = 0,
    };
    return from < JOB_STATE_COUNT && to < JOB_STATE_COUNT && (allowed[from] & (1u << to)) != 0;
}

static bool holds_room(enum job_state state)
{
    return state == JOB_DOWNLOADING || state == JOB_CPU;
}

void job_destroy(struct job *job)
{
    if (job->provenance != NULL)
        free(job->provenance->png);
    free(job->provenance);
    free(job->body);
    free(job->final_url);
    free(job->message);
    if (job->owns_url)
        free((char *)job->url);
    free(job);
}

void job_set_state(struct run *run, struct job *job, enum job_state to)
{
    enum job_state from = job->state;
    assert(job_transition_allowed(from, to));

    /* Leave `from`: give back what it held, unlink from its list. */
    switch (from) {
    case JOB_WAIT_HOST:
    case JOB_READY:
    case JOB_BACKOFF:
        io_list_remove(&job->node.link);
        break;
    case JOB_DOWNLOADING:
        pl_sem_release(&run->slots);
        if (job->host != NULL) {
            job->host->in_flight--;
            pl_hosts_mark_runnable(run->hosts, job->host);
        }
        break;
    case JOB_CPU:
        /* The worker queue or the way back unlinked it when handing it over. */
        assert(!io_list_linked(&job->node.link));
        /* The adaptive cap's measure of the workers (sampler.c). */
        run->cpu_items++;
        run->cpu_stage_s += job->decode_s + job->edge_s + job->encode_s;
        break;
    case JOB_NEW:
    case JOB_DONE:
    case JOB_STATE_COUNT:
        break;
    }
    if (holds_room(from) && !holds_room(to)) {
        run->in_pipeline--;
    } else if (!holds_room(from) && holds_room(to)) {
        run->in_pipeline++;
        if (run->in_pipeline > run->report->peak_held)
            run->report->peak_held = run->in_pipeline;
    }
    run->in_state[from]--;
    run->in_state[to]++;
    job->state = to;

    /* Enter `to`: take what it holds, link into its list. */
    switch (to) {
    case JOB_WAIT_HOST:
        io_list_insert_tail(&job->host->waiting, &job->node.link);
        break;
    case JOB_READY:
        io_list_insert_tail(&run->ready, &job->node.link);
        break;
    case JOB_BACKOFF:
        run->report->retries++;
        retry_enqueue(run, job);
        break;
    case JOB_DOWNLOADING: {
        bool acquired = pl_sem_try_acquire(&run->slots);
        assert(acquired);
        (void)acquired;
        if (job->host != NULL)
            job->host->in_flight++;
        if (job->attempts++ == 0)
            job->started_ns = uv_hrtime();
        break;
    }
    case JOB_CPU:
        if (run->todo != NULL)
            pl_queue_push(run->todo, &job->node);
        break;
    case JOB_DONE:
        report_item(run, job);
        io_list_remove(&job->all);
        run->in_state[JOB_DONE]--;
        job_destroy(job);
        break;
    case JOB_NEW:
    case JOB_STATE_COUNT:
        break;
    }
}
