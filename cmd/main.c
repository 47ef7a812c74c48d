/* edgefetch: download a list of images concurrently and edge-detect each one
 * on every core. This file is the CLI: options, the per-item lines, the
 * report and the exit status. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "cli.h"
#include "config.h"
#include "json.h"
#include "listsource.h"
#include "outcome.h"
#include "output.h"
#include "pipeline.h"
#include "printable.h"
#include "process.h"
#include "progress.h"
#include "report.h"

/* Exit statuses, documented in --help. */
enum {
    EXIT_ALL_OK = 0,
    EXIT_SOME_FAILED = 1,
    EXIT_USAGE = 2,
};

/* --compare: the outputs of both runs, by item index. One name per item
 * serves both: names depend on the URL list alone, which both runs share. */
struct produced {
    char **names;  /* of the items either run produced */
    uint8_t *runs; /* PRODUCED_* of the runs that produced it */
    size_t count;
};

enum {
    PRODUCED_SEQUENTIAL = 1,
    PRODUCED_CONCURRENT = 2,
};

/* What the per-item callback needs. */
struct item_log {
    const struct cli *cli;
    const char *mode_name;
    struct produced *produced; /* --compare only */
    uint8_t produced_by;       /* this run's PRODUCED_* bit */
    struct progress *progress; /* NULL when not shown */
};

/* Other threads write to stderr too (a decoder library's own messages,
 * such as dav1d's): an item's line is composed in memory and written in one
 * call, so that theirs cannot land inside ours (stderr is unbuffered: each
 * piece of a line would be a write of its own). Without memory for it, the
 * pieces go straight to stderr. */
struct line {
    char *text;
    size_t size;
    FILE *mem;
};

static FILE *line_begin(struct line *line)
{
    line->text = NULL;
    line->size = 0;
    line->mem = open_memstream(&line->text, &line->size);
    return line->mem != NULL ? line->mem : stderr;
}

static void line_end(struct line *line)
{
    if (line->mem == NULL)
        return;
    if (fclose(line->mem) == 0 && line->text != NULL)
        fwrite(line->text, 1, line->size, stderr);
    free(line->text);
}

static void print_item_line(const char *where, const char *what, const struct pl_item *item,
                            const char *stage)
{
    struct line line;
    FILE *out = line_begin(&line);
    fprintf(out, "edgefetch: %s%s ", where, what);
    printable_write(out, item->url);
    if (stage != NULL) {
        fputs(": ", out);
        fputs(stage, out);
    }
    fputs(": ", out);
    printable_write(out, item->message);
    fputc('\n', out);
    line_end(&line);
}

/* Hands one NDJSON line (or the summary) to the buffered writer: formatted in
 * memory, so the loop thread never waits for the reader of stdout. */
static void json_append(struct output *out, const struct pl_item *item, const char *output_dir,
                        const char *mode, const struct pl_report *report,
                        const struct json_run_info *info)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (mem == NULL) {
        fprintf(stderr, "edgefetch: out of memory for a --json line\n");
        return;
    }
    if (item != NULL)
        json_write_item(mem, item, output_dir, mode);
    else
        json_write_summary(mem, report, info);
    if (fclose(mem) != 0 || output_append(out, text, size) < 0)
        fprintf(stderr, "edgefetch: out of memory for a --json line\n");
    free(text);
}

/* Tar shards: the item's record goes into its tar beside its PNG, and its
 * output is named "TAR/KEY.png". */
static void tar_item(struct item_log *log, const struct pl_item *item)
{
    char name[IO_OUTPUT_NAME_SIZE];
    char err[256];
    struct pl_item shown = *item;
    if (item->status == PL_ITEM_OK) {
        tar_out_item_name(log->cli->tar, item, name, sizeof(name));
        shown.output_name = name;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (mem != NULL) {
        json_write_item(mem, &shown, log->cli->output_dir, log->mode_name);
        if (fclose(mem) != 0) {
            free(text);
            text = NULL;
        }
    }
    if (text == NULL) {
        fprintf(stderr, "edgefetch: out of memory for an item's record\n");
        return;
    }
    if (tar_out_item(log->cli->tar, &shown, text, size, err, sizeof(err)) < 0 &&
        log->cli->verbose >= CLI_QUIET)
        fprintf(stderr, "edgefetch: %s (its rows are redone by a rerun)\n", err);
    if (log->cli->json && output_append(log->cli->json_out, text, size) < 0)
        fprintf(stderr, "edgefetch: out of memory for a --json line\n");
    free(text);
}

static void on_item(const struct pl_item *item, void *user)
{
    struct item_log *log = user;
    char where[32] = "";

    if (log->cli->tar != NULL)
        tar_item(log, item);
    else if (log->cli->json)
        json_append(log->cli->json_out, item, log->cli->output_dir, log->mode_name, NULL, NULL);
    if (log->cli->verbose > CLI_NORMAL ||
        (log->cli->verbose >= CLI_QUIET && item->status == PL_ITEM_FAILED))
        progress_clear(log->progress);
    if (item->line > 0)
        snprintf(where, sizeof(where), "line %u: ", item->line);
    if (item->status == PL_ITEM_CANCELLED) {
        if (log->cli->verbose > CLI_NORMAL)
            print_item_line(where, "cancelled", item, NULL);
        return;
    }
    if (item->status == PL_ITEM_FAILED) {
        /* Also under -q: a cron job's mail then says which and why. */
        if (log->cli->verbose >= CLI_QUIET)
            print_item_line(where, "FAILED", item, outcome_stage_name(item->stage));
        return;
    }
    if (item->status == PL_ITEM_SKIPPED) {
        if (log->cli->verbose > CLI_NORMAL) {
            struct line line;
            FILE *out = line_begin(&line);
            fprintf(out, "edgefetch: %sskipped ", where);
            printable_write(out, item->url);
            fprintf(out, ": %s/%s exists (--force redoes it)\n", log->cli->output_dir,
                    item->output_name);
            line_end(&line);
        }
        return;
    }
    struct produced *produced = log->produced;
    if (produced != NULL && item->index < produced->count) {
        if (produced->names[item->index] == NULL)
            produced->names[item->index] = strdup(item->output_name);
        /* Without its name (out of memory) an item is not compared. */
        if (produced->names[item->index] != NULL)
            produced->runs[item->index] |= log->produced_by;
    }
    if (log->cli->verbose > CLI_NORMAL) {
        /* A tar shard's item is an entry of its tar, as --json names it:
         * its positional name is never written. */
        char in_tar[IO_OUTPUT_NAME_SIZE];
        const char *name = item->output_name;
        if (log->cli->tar != NULL) {
            tar_out_item_name(log->cli->tar, item, in_tar, sizeof(in_tar));
            name = in_tar;
        }
        struct line line;
        FILE *out = line_begin(&line);
        fprintf(out, "edgefetch: %sok ", where);
        printable_write(out, item->url);
        fprintf(out,
                " -> %s/%s (%dx%d, %zu bytes; download %.3f s, decode %.3f s, edge %.3f s, "
                "encode+write %.3f s)\n",
                log->cli->output_dir, name, item->width, item->height, item->bytes,
                item->download_s, item->decode_s, item->edge_s, item->encode_s);
        line_end(&line);
    }
}

/* The descriptors this process has open, or -1 without /proc. A run must
 * give back all it opens (sockets, the loop's epoll and eventfd, output
 * files): the count after each run is checked against the one at start and
 * a difference reported as an internal error, in --json as `fds_leaked`. */
static long count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    long count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own */
}

/* An upper bound on how long glibc's getaddrinfo waits for DNS answers,
 * from resolv.conf: res_send asks each nameserver in turn, `attempts`
 * times, waiting `timeout` shifted left by the server's index (at least
 * 1 s); `single-request` asks A and AAAA one after the other, so twice
 * over; plus a second. 30 s when resolv.conf cannot be read. */
static long lookup_bound_ms(void)
{
    struct __res_state state;
    memset(&state, 0, sizeof(state));
    if (res_ninit(&state) != 0)
        return 30000;
    long servers = state.nscount > 0 && state.nscount <= MAXNS ? state.nscount : MAXNS;
    long attempts = state.retry > 0 && state.retry <= RES_MAXRETRY ? state.retry : RES_MAXRETRY;
    long timeout_s = state.retrans > 0 ? state.retrans : 1;
    res_nclose(&state);
    long bound_s = 2 * attempts * timeout_s * ((1L << servers) - 1) + 1;
    return bound_s * 1000;
}

/* The run is over, but lookups it gave up on (report->lookups_left: libcurl
 * left their threads to finish, so that a silent name never held the loop)
 * may still hold their descriptors until glibc gives up. Waits, up to
 * glibc's own bound, for the count to fall to `want`; returns the count. */
static long wait_for_lookups(long fds_now, long want, const struct pl_report *report)
{
    if (fds_now <= want || report->lookups_left == 0)
        return fds_now;
    long left_ms = lookup_bound_ms();
    const struct timespec step = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    while (fds_now > want && left_ms > 0) {
        nanosleep(&step, NULL);
        left_ms -= 20;
        fds_now = count_open_fds();
    }
    return fds_now;
}

/* What a run takes its items from: the whole list, or a streamed one. */
struct run_input {
    const struct io_url_list *urls;
    const struct pl_source *source; /* used when not NULL */
    struct list_source *list;
    const struct row_filter *filter;
};

/* One run of the pipeline into `dir`; returns 0 or a negative setup error. */
static int run_once(struct cli *cli, enum pl_mode mode, const char *dir,
                    const struct run_input *input, struct item_log *log, struct pl_report *report)
{
    char err[512];
    struct pl_options opts = cli->pl;
    opts.mode = mode;
    opts.output_dir = dir;
    /* A failure before the run leaves a report the caller may read (no
     * list_broke): an empty one. */
    memset(report, 0, sizeof(*report));

    int rc = io_prepare_dir(dir, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        return rc;
    }
    struct progress progress;
    if (cli->progress == 1 || (cli->progress == -1 && cli->verbose >= CLI_NORMAL && isatty(STDERR_FILENO))) {
        progress_init(&progress, stderr);
        opts.on_progress = progress_update;
        opts.progress_user = &progress;
        opts.progress_interval_ms = 200;
        log->progress = &progress;
    }
    log->mode_name = mode == PL_SEQUENTIAL ? "sequential" : "concurrent";
    /* Tar shards: outputs come back with their items; a stopped run's
     * temporary tars are swept as their first rows are read again. */
    if (cli->tar != NULL)
        opts.png_to_caller = true;
    struct cli shown = *cli;
    shown.output_dir = dir;
    log->cli = &shown;
    struct timespec started;
    struct timespec ended;
    clock_gettime(CLOCK_REALTIME, &started);
    rc = input->source != NULL
             ? pl_run_stream(&opts, input->source, on_item, log, report, err, sizeof(err))
             : pl_run(&opts, input->urls, on_item, log, report, err, sizeof(err));
    clock_gettime(CLOCK_REALTIME, &ended);
    log->progress = NULL;
    if (rc == 0 && cli->tar != NULL && list_source_complete(input->list) &&
        tar_out_finish(cli->tar, err, sizeof(err)) < 0 && cli->verbose >= CLI_QUIET)
        fprintf(stderr, "edgefetch: %s (its rows are redone by a rerun)\n", err);
    log->cli = cli;
    if (rc < 0)
        fprintf(stderr, "edgefetch: %s\n", err);
    /* A list that broke off still ran what was read before: its report and
     * summary are the run's, as any run's (exit 2). */
    if (rc < 0 && !report->list_broke)
        return rc;
    if (input->source != NULL)
        report->duplicates += input->filter->repeats; /* dropped while read */
    if (cli->tar != NULL) {
        /* Rows the list reader dropped: in complete tars. */
        report->items += tar_out_skipped(cli->tar);
        report->skipped += tar_out_skipped(cli->tar);
        report->stale_temps_removed += tar_out_temps_removed(cli->tar);
    }
    long fds_now = count_open_fds();
    if (fds_now >= 0 && cli->fds_at_start >= 0)
        fds_now = wait_for_lookups(fds_now, cli->fds_at_start, report);
    bool fds_counted = cli->fds_at_start >= 0 && fds_now >= 0;
    long fds_leaked = fds_counted ? fds_now - cli->fds_at_start : 0;
    if (fds_leaked != 0 && cli->verbose >= CLI_QUIET)
        fprintf(stderr,
                "edgefetch: internal error: %ld file descriptor(s) open before the run, %ld "
                "after it\n",
                cli->fds_at_start, fds_now);
    if (report->stale_temps_removed > 0 && cli->verbose > CLI_NORMAL)
        fprintf(stderr, "edgefetch: removed %zu temporary file(s) an interrupted run left in %s\n",
                report->stale_temps_removed, dir);
    if (cli->json) {
        struct json_run_info info = {
            .mode = log->mode_name,
            .settings = &opts,
            .started = started,
            .ended = ended,
            .output_dir = dir,
            .shard_index = cli->pl.shard_index,
            .shard_count = cli->pl.shard_count,
            .fds_counted = fds_counted,
            .fds_leaked = fds_leaked,
            .exit_code = report->signal != 0 ? 128 + report->signal
                         : report->list_broke ? EXIT_USAGE
                         : report->failed > 0 ? EXIT_SOME_FAILED
                                              : EXIT_ALL_OK,
        };
        json_append(cli->json_out, NULL, NULL, NULL, report, &info);
    }
    return rc;
}

/* --compare: every item both runs produced must be byte-identical. Returns
 * how many differ (or could not be read), and counts the pairs checked. */
static size_t compare_outputs(const char *dir_a, const char *dir_b, const struct produced *produced,
                              size_t *checked)
{
    char path_a[PATH_MAX];
    char path_b[PATH_MAX];
    size_t differ = 0;
    const uint8_t both = PRODUCED_SEQUENTIAL | PRODUCED_CONCURRENT;

    *checked = 0;
    for (size_t i = 0; i < produced->count; i++) {
        if (produced->runs[i] != both)
            continue;
        (*checked)++;
        const char *name = produced->names[i];
        int same = -ENAMETOOLONG;
        if (snprintf(path_a, sizeof(path_a), "%s/%s", dir_a, name) < (int)sizeof(path_a) &&
            snprintf(path_b, sizeof(path_b), "%s/%s", dir_b, name) < (int)sizeof(path_b))
            same = io_files_identical(path_a, path_b);
        if (same != 1) {
            differ++;
            fprintf(stderr, "edgefetch: --compare: %s and %s %s\n", path_a, path_b,
                    same == 0 ? "differ" : "could not be read");
        }
    }
    return differ;
}

static void free_names(char **names, size_t count)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

static void say_stopped(const struct cli *cli, const struct pl_report *report)
{
    if (report->signal != 0 && cli->verbose >= CLI_QUIET)
        fprintf(stderr,
                "edgefetch: stopped by %s: %zu item(s) cancelled, finished outputs kept\n",
                strsignal(report->signal), report->cancelled);
}

/* As run_once's --json `exit_code`: a signal first (its items were
 * cancelled, a rerun redoes them), then a list that broke off. */
static int exit_status(const struct pl_report *report)
{
    if (report->signal != 0)
        return 128 + report->signal;
    if (report->list_broke)
        return EXIT_USAGE;
    return report->failed > 0 ? EXIT_SOME_FAILED : EXIT_ALL_OK;
}

static int run_compare(struct cli *cli, const struct run_input *input)
{
    const struct io_url_list *urls = input->urls;
    char dir_seq[PATH_MAX];
    char dir_con[PATH_MAX];
    struct pl_report seq_report;
    struct pl_report con_report;
    struct produced produced = {.count = urls->count};
    struct item_log seq_log = {
        .cli = cli, .produced = &produced, .produced_by = PRODUCED_SEQUENTIAL};
    struct item_log con_log = {
        .cli = cli, .produced = &produced, .produced_by = PRODUCED_CONCURRENT};
    int status = EXIT_USAGE;

    if (snprintf(dir_seq, sizeof(dir_seq), "%s/sequential", cli->output_dir) >=
            (int)sizeof(dir_seq) ||
        snprintf(dir_con, sizeof(dir_con), "%s/concurrent", cli->output_dir) >=
            (int)sizeof(dir_con)) {
        fprintf(stderr, "edgefetch: output path too long\n");
        return EXIT_USAGE;
    }
    produced.names = calloc(urls->count, sizeof(*produced.names));
    produced.runs = calloc(urls->count, sizeof(*produced.runs));
    if (produced.names == NULL || produced.runs == NULL) {
        fprintf(stderr, "edgefetch: out of memory\n");
        goto out;
    }
    /* Both output folders are checked before the first download. */
    char err[512];
    if (io_prepare_dir(dir_seq, err, sizeof(err)) < 0 ||
        io_prepare_dir(dir_con, err, sizeof(err)) < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        goto out;
    }
    if (cli->verbose >= CLI_NORMAL)
        fprintf(stderr, "edgefetch: --compare: sequential run into %s\n", dir_seq);
    if (run_once(cli, PL_SEQUENTIAL, dir_seq, input, &seq_log, &seq_report) < 0)
        goto out;
    if (seq_report.signal != 0) {
        /* Its report, as any stopped run's; no second run to compare. */
        if (cli->verbose >= CLI_NORMAL) {
            struct report_column column = {"sequential", &seq_report, 1};
            report_print(stderr, &column, 1);
        }
        say_stopped(cli, &seq_report);
        status = exit_status(&seq_report);
        goto out;
    }
    if (cli->verbose >= CLI_NORMAL)
        fprintf(stderr, "edgefetch: --compare: concurrent run into %s\n", dir_con);
    if (run_once(cli, PL_CONCURRENT, dir_con, input, &con_log, &con_report) < 0)
        goto out;

    size_t checked = 0;
    size_t differ = compare_outputs(dir_seq, dir_con, &produced, &checked);
    if (cli->verbose >= CLI_NORMAL) {
        struct report_column columns[2] = {
            {"sequential", &seq_report, 1},
            {"concurrent", &con_report, cli->pl.workers},
        };
        report_print(stderr, columns, 2);
        fprintf(stderr, "  outputs byte-identical: %zu of %zu%s%s\n", checked - differ, checked,
                con_report.signal != 0 ? " (the concurrent run was stopped: of the items both made)"
                                       : "",
                differ ? "  <-- MISMATCH" : "");
        fprintf(stderr, "  edge maps in %s and %s\n\n", dir_seq, dir_con);
    }
    say_stopped(cli, &con_report);
    status = exit_status(&con_report);
    if (status == EXIT_ALL_OK && (differ > 0 || seq_report.failed > 0))
        status = EXIT_SOME_FAILED;
out:
    free_names(produced.names, urls->count);
    free(produced.runs);
    return status;
}

static int run_single(struct cli *cli, const struct run_input *input)
{
    struct pl_report report;
    struct item_log log = {.cli = cli};
    enum pl_mode mode = cli->mode == CLI_MODE_SEQUENTIAL ? PL_SEQUENTIAL : PL_CONCURRENT;

    int rc = run_once(cli, mode, cli->output_dir, input, &log, &report);
    if (rc < 0 && !report.list_broke)
        return EXIT_USAGE;
    if (cli->verbose >= CLI_NORMAL) {
        struct report_column column = {
            mode == PL_SEQUENTIAL ? "sequential" : "concurrent",
            &report,
            mode == PL_SEQUENTIAL ? 1 : cli->pl.workers,
        };
        report_print(stderr, &column, 1);
        if (report.cap_mode == PL_CAP_ADAPTIVE && report.peak_cap > report.cap_start)
            fprintf(stderr,
                    "  download cap adapted: from %u up to %u (ceiling %u), %u in flight at most\n",
                    report.cap_start, report.peak_cap, report.cap_ceiling, report.peak_in_flight);
        if (report.duplicates > 0)
            fprintf(stderr, "  %zu repeated URL(s) fetched once\n", report.duplicates);
        if (report.skipped > 0)
            fprintf(stderr, "  %zu output(s) already there, skipped (--force redoes them)\n",
                    report.skipped);
        if (cli->pl.shard_count > 1)
            fprintf(stderr, "  shard %u of %u (0-based): %zu item(s) of the list\n",
                    cli->pl.shard_index, cli->pl.shard_count, report.items);
        fprintf(stderr, "  edge maps in %s\n\n", cli->output_dir);
    }
    say_stopped(cli, &report);
    return exit_status(&report);
}

/* --dry-run: a line per unique item on stdout, tab-separated: what the run
 * would do, the output it would write, the item's shard, the URL, and the
 * reason of a refusal. */
static void on_plan_item(const struct pl_plan_item *item, void *user)
{
    static const char *const actions[] = {
        [PL_PLAN_FETCH] = "fetch",
        [PL_PLAN_SKIP] = "skip",
        [PL_PLAN_REFUSED] = "refused",
        [PL_PLAN_OTHER_SHARD] = "other-shard",
        [PL_PLAN_NAME_HELD] = "name-held",
    };
    const struct cli *cli = user;
    unsigned shards = cli->pl.shard_count > 1 ? cli->pl.shard_count : 1;
    printf("%s\t", actions[item->action]);
    if (item->output_name != NULL)
        printf("%s/%s", cli->output_dir, item->output_name);
    else
        fputs("-", stdout);
    printf("\t%u/%u\t", item->shard, shards);
    printable_write(stdout, item->url);
    if (item->reason[0] != '\0') {
        fputc('\t', stdout);
        printable_write(stdout, item->reason);
    }
    fputc('\n', stdout);
}

static int run_dry(struct cli *cli, const struct io_url_list *urls)
{
    char err[256];
    if (pl_plan(&cli->pl, urls, on_plan_item, cli, err, sizeof(err)) < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        return EXIT_USAGE;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "edgefetch: writing the --dry-run list: %s\n", strerror(errno));
        return EXIT_SOME_FAILED;
    }
    return EXIT_ALL_OK;
}

/* -j as asked, or fewer when the descriptor limit cannot hold that many
 * transfers besides the workers' files: an item must never fail after its
 * download for want of a descriptor to write it with. */
static void fit_downloads(struct cli *cli, long fd_limit)
{
    if (fd_limit < 0 || cli->fds_at_start < 0 || cli->mode == CLI_MODE_SEQUENTIAL)
        return;
    unsigned workers = process_fit_workers(fd_limit, cli->fds_at_start, cli->pl.workers);
    if (workers < cli->pl.workers) {
        if (cli->verbose >= CLI_QUIET)
            fprintf(stderr,
                    "edgefetch: warning: -w %u does not fit in %ld file descriptors (ulimit -n): "
                    "running -w %u\n",
                    cli->pl.workers, fd_limit, workers);
        cli->pl.workers = workers;
    }
    if (cli->pl.cap_mode == PL_CAP_ADAPTIVE) {
        /* The ceiling fits quietly (nobody asked for it); the start, below
         * it, then fits too unless the limit is tiny (the warning below). */
        cli->pl.max_downloads_ceiling = process_fit_downloads(
            fd_limit, cli->fds_at_start, cli->pl.workers, cli->pl.max_downloads_ceiling);
    }
    unsigned wanted = cli->pl.max_downloads;
    unsigned fit = process_fit_downloads(fd_limit, cli->fds_at_start, cli->pl.workers, wanted);
    if (fit >= wanted)
        return;
    cli->pl.max_downloads = fit;
    if (cli->pl.max_per_host > fit)
        cli->pl.max_per_host = 0; /* the global cap alone is the smaller one now */
    if (cli->verbose >= CLI_QUIET)
        fprintf(stderr,
                "edgefetch: warning: -j %u needs about %u file descriptors, the limit is %ld "
                "(ulimit -n): running -j %u\n",
                wanted,
                (unsigned)(cli->fds_at_start + PROCESS_FIXED_FDS +
                           (long)cli->pl.workers * PROCESS_FDS_PER_WORKER +
                           (long)wanted * PROCESS_FDS_PER_TRANSFER),
                fd_limit, fit);
}

int main(int argc, char **argv)
{
    struct cli cli;
    struct io_url_list urls;
    struct list_source *input_list = NULL;
    int status = EXIT_USAGE;
    int rc_read;

    /* Before anything opens a descriptor: see process.h. Nothing can be
     * said when this fails: stderr may be the closed one. */
    if (process_open_std_fds() < 0)
        return EXIT_USAGE;
    process_ignore_sigpipe();
    process_return_freed_memory();
    long fd_limit = process_raise_fd_limit();

    int parsed = cli_parse(argc, argv, &cli);
    if (parsed != 0) {
        cli_finish(&cli);
        return parsed > 0 ? EXIT_ALL_OK : EXIT_USAGE;
    }
    /* What imaging decodes, so a server that negotiates sends one of those. */
    cli.pl.http.accept = img_accept_header();

    io_url_list_init(&urls);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "edgefetch: cannot initialise libcurl\n");
        cli_finish(&cli);
        return EXIT_USAGE;
    }
    /* libuv keeps a process-wide pipe from its first loop on (until
     * uv_library_shutdown): not a leak of a run. One loop opened and closed
     * first puts it in the baseline. */
    uv_loop_t first_loop;
    if (uv_loop_init(&first_loop) == 0)
        uv_loop_close(&first_loop);
    /* Before the first goto out: that path frees its fingerprint set. */
    struct row_filter filter = {
        .pl = &cli.pl,
        .own_shard_only = cli.pl.layout == IO_LAYOUT_POSITIONAL && cli.pl.shard_count > 1,
    };
    /* Before anything can wait on the list (a pipe may stay silent): from
     * here on SIGINT and SIGTERM stop gracefully, the run that follows
     * reporting what was read as cancelled. Its eventfd is in the baseline. */
    int caught = pl_signals_catch();
    if (caught < 0) {
        fprintf(stderr, "edgefetch: setting up signal handling: %s\n", strerror(-caught));
        goto out;
    }
    cli.fds_at_start = count_open_fds();
    if (cli.list.name_column != NULL && cli.pl.layout == IO_LAYOUT_POSITIONAL) {
        fprintf(stderr, "edgefetch: --name-column names readable outputs; --layout positional "
                        "names them by their line\n"
                        "Try 'edgefetch --help' for more information.\n");
        goto out;
    }
    if (cli.dry_run && cli.json) {
        /* Its plan is text, one line per URL: a script asking for JSON must
         * not take that for a run's (no summary would come). */
        fprintf(stderr, "edgefetch: --dry-run prints its plan as text; --json reports a run\n"
                        "Try 'edgefetch --help' for more information.\n");
        goto out;
    }
    if (cli.tar_output) {
        const char *wrong = cli.pl.layout != IO_LAYOUT_POSITIONAL ? "needs --layout positional"
                            : cli.mode == CLI_MODE_COMPARE        ? "does not go with --compare"
                            : cli.dry_run                         ? "does not go with --dry-run"
                                                                  : NULL;
        if (wrong != NULL) {
            fprintf(stderr,
                    "edgefetch: --output-format tar %s\n"
                    "Try 'edgefetch --help' for more information.\n",
                    wrong);
            goto out;
        }
        if (io_fp_set_create(&filter.seen) < 0 ||
            tar_out_create(cli.output_dir, &cli.pl, &cli.tar) < 0) {
            fprintf(stderr, "edgefetch: out of memory\n");
            goto out;
        }
        filter.tar = cli.tar;
    }
    /* Positional names need no other row: the list is streamed, read as
     * the run takes its rows, never whole (but for --dry-run and
     * --compare, which go over it more than once). Readable names are
     * resolved over the whole list, which is read first. */
    bool streamed =
        cli.pl.layout == IO_LAYOUT_POSITIONAL && !cli.dry_run && cli.mode != CLI_MODE_COMPARE;
    if (streamed && filter.seen == NULL && io_fp_set_create(&filter.seen) < 0) {
        fprintf(stderr, "edgefetch: out of memory\n");
        goto out;
    }
    struct run_input input = {.urls = &urls, .filter = &filter};
    struct pl_source source;
    if (streamed) {
        if (cli.input == NULL && cli.url_count == 0)
            goto no_urls;
        if (list_source_create(&cli, &filter, pl_signal_wake_fd(), &input_list, &source) < 0)
            goto out;
        input.list = input_list;
        input.source = &source;
        /* As for a whole list, an empty one is said before any run. A
         * signal while it waits: the run starts stopped and reports it. */
        int first = list_source_first(input_list);
        if (first < 0 && first != -ECANCELED)
            goto out;
        if (first == 0 && list_source_rows(input_list) == 0 && pl_signal_pending() == 0)
            goto no_urls;
        /* The list and its wake-up stay open through the run: not a leak. */
        cli.fds_at_start = count_open_fds();
    } else {
        rc_read = list_read_whole(&cli, &urls, &filter, pl_signal_wake_fd());
        /* The fingerprints are needed only while the list is read. */
        io_fp_set_destroy(filter.seen);
        filter.seen = NULL;
        /* -ECANCELED: a signal while it waited; the run starts stopped. */
        if (rc_read < 0 && rc_read != -ECANCELED)
            goto out;
        if (urls.count == 0 && pl_signal_pending() == 0)
            goto no_urls;
    }
    /* No run takes a signal kept while the plan is printed (its write
     * may wait on a reader for ever): one exits at once from here on. */
    if (cli.dry_run)
        pl_signals_no_run();
    if (cli.dry_run && pl_signal_pending() != 0) {
        /* No plan for a list cut short: stopped before it was printed. */
        if (cli.verbose >= CLI_QUIET)
            fprintf(stderr, "edgefetch: stopped by %s\n", strsignal(pl_signal_pending()));
        status = 128 + pl_signal_pending();
        goto out;
    }
    if (cli.dry_run) {
        status = run_dry(&cli, &urls);
        goto out;
    }
    /* Even under -q: turning verification off is never silent. */
    if (cli.pl.http.insecure)
        fprintf(stderr, "edgefetch: warning: --insecure: https certificates are NOT verified\n");
    fit_downloads(&cli, fd_limit);
    if (cli.json) {
        if (output_create(STDOUT_FILENO, &cli.json_out) < 0) {
            fprintf(stderr, "edgefetch: cannot start the --json writer\n");
            goto out;
        }
        cli.pl.gate = output_gate;
        cli.pl.gate_user = cli.json_out;
    }
    status = cli.mode == CLI_MODE_COMPARE ? run_compare(&cli, &input) : run_single(&cli, &input);
    /* Blocks until the reader has it all (or is gone): the run is over. */
    int written = output_destroy(cli.json_out);
    if (written < 0) {
        fprintf(stderr, "edgefetch: writing the --json output: %s%s\n", strerror(-written),
                written == -EPIPE ? " (its reader closed it)" : "");
        /* Lines are missing even when the run itself got to its end. */
        if (status < 128)
            status = 128 + SIGPIPE;
    }

    goto out;
no_urls:
    fprintf(stderr, "edgefetch: no URLs given (use -i FILE, -i - or URL arguments)\n"
                    "Try 'edgefetch --help' for more information.\n");
out:
    list_source_destroy(input_list);
    pl_signals_finish();
    io_fp_set_destroy(filter.seen);
    tar_out_destroy(cli.tar);
    io_url_list_finish(&urls);
    curl_global_cleanup();
    cli_finish(&cli);
    return status;
}
