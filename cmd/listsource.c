/* The URL list as the run takes it (listsource.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listsource.h"

static const char *list_format_name(enum io_list_format format)
{
    switch (format) {
    case IO_LIST_CSV:
        return "csv";
    case IO_LIST_TSV:
        return "tsv";
    case IO_LIST_JSONL:
        return "jsonl";
    case IO_LIST_PLAIN:
        break;
    }
    return "plain";
}

static bool keep_row(const char *url, void *user)
{
    struct row_filter *filter = user;
    if (filter->own_shard_only &&
        pl_shard_of(url, filter->pl->shard_count) != filter->pl->shard_index)
        return false;
    if (filter->seen != NULL) {
        int added = io_fp_set_insert(filter->seen, io_fingerprint64(url, strlen(url)));
        if (added == 0) {
            filter->repeats++;
            return false;
        }
    }
    return filter->tar == NULL || tar_out_keep_row(filter->tar, &filter->tag);
}

static bool filtering(const struct row_filter *filter)
{
    return filter->own_shard_only || filter->seen != NULL || filter->tar != NULL;
}

/* The list's file. With a wake-up to poll, opened without waiting: the
 * open of a FIFO waits for its writer, and the signal handler restarts it
 * (SA_RESTART), so a SIGTERM would not end that wait. Without O_NONBLOCK
 * again at once: the reader polls the FIFO beside `wake_fd` before each
 * read (a FIFO that never had a writer is not readable, not at its end, on
 * Linux), and reads block as they did. NULL with errno set. */
static FILE *open_file(const char *path, int wake_fd)
{
    if (wake_fd < 0)
        return fopen(path, "r");
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    int flags = fcntl(fd, F_GETFL);
    FILE *in = NULL;
    if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
        in = fdopen(fd, "r");
    if (in == NULL) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return in;
}

/* Opens the list and says how it is read; errors printed. */
static int open_list(const struct cli *cli, int wake_fd, FILE **in_out,
                     struct io_list_options *list)
{
    FILE *in = strcmp(cli->input, "-") == 0 ? stdin : open_file(cli->input, wake_fd);
    if (in == NULL) {
        int rc = -errno;
        fprintf(stderr, "edgefetch: cannot open URL list %s: %s\n", cli->input, strerror(-rc));
        return rc;
    }
    *list = cli->list;
    if (cli->list_format_auto) {
        bool gzip;
        list->format = io_list_format_from_path(cli->input, &gzip);
        list->compression = gzip ? IO_LIST_GZIP : IO_LIST_COMPRESSION_AUTO;
    }
    bool tabular = list->format == IO_LIST_CSV || list->format == IO_LIST_TSV;
    const char *misplaced = cli->url_column != NULL && !tabular         ? "--url-column"
                            : cli->list.name_column != NULL && !tabular ? "--name-column"
                            : cli->url_field != NULL && list->format != IO_LIST_JSONL
                                ? "--url-field"
                                : NULL;
    if (misplaced != NULL) {
        fprintf(stderr, "edgefetch: %s: %s is for %s lists, this one is read as %s\n", cli->input,
                misplaced, strcmp(misplaced, "--url-field") != 0 ? "csv and tsv" : "jsonl",
                list_format_name(list->format));
        if (in != stdin)
            fclose(in);
        return -EINVAL;
    }
    list->url_column = tabular ? cli->url_column : cli->url_field;
    *in_out = in;
    return 0;
}

int list_read_whole(const struct cli *cli, struct io_url_list *urls, struct row_filter *filter,
                    int wake_fd)
{
    char err[256];
    unsigned lines_read = 0;
    int rc;

    if (cli->input != NULL) {
        FILE *in;
        struct io_list_options list;
        rc = open_list(cli, wake_fd, &in, &list);
        if (rc < 0)
            return rc;
        list.wake_fd = wake_fd;
        rc = io_url_list_read_rows(urls, in, &list, filtering(filter) ? keep_row : NULL, filter,
                                   err, sizeof(err));
        lines_read = urls->lines_read;
        if (in != stdin)
            fclose(in);
        if (rc == -ECANCELED)
            return rc; /* a signal: the run that follows says so */
        if (rc < 0) {
            fprintf(stderr, "edgefetch: %s: %s\n", cli->input, err);
            return rc;
        }
    }
    for (size_t i = 0; i < cli->url_count; i++) {
        /* Positional names come from the line: URL arguments are numbered on
         * after the list's last row. */
        unsigned line = cli->pl.layout == IO_LAYOUT_POSITIONAL ? lines_read + (unsigned)i + 1 : 0;
        if (filtering(filter) && !keep_row(cli->urls[i], filter))
            continue;
        rc = io_url_list_add(urls, cli->urls[i], line);
        if (rc < 0) {
            fprintf(stderr, "edgefetch: out of memory\n");
            return rc;
        }
    }
    return 0;
}

struct list_source {
    const struct cli *cli;
    struct row_filter *filter;
    FILE *in;                      /* NULL: URL arguments only */
    struct io_list_reader *reader; /* NULL: URL arguments only, or stopped (cancelled) */
    int wake_fd;         /* not ours: written by cancel (and a signal), polled by the reader */
    bool cancelled;      /* stopped before the reader existed: no row */
    uint64_t lines_read; /* of the list, once it ended */
    bool list_done;
    size_t next_arg;
    uint64_t rows; /* read, kept or not */
    bool complete;
    struct pl_row first; /* list_source_first's, handed out first */
    bool has_first;
    bool ended_first; /* list_source_first found none */
};

/* pl_source.next, on the run's reader thread (list_source_first's call
 * before it exists). */
static int next_row(void *user, struct pl_row *row, char *err, size_t err_size)
{
    struct list_source *list = user;
    char stand_in[IO_ROW_STAND_IN_SIZE];
    if (list->has_first) {
        *row = list->first;
        list->has_first = false;
        return 1;
    }
    if (list->ended_first)
        return 0;
    if (list->cancelled) {
        snprintf(err, err_size, "reading the URL list: %s", strerror(ECANCELED));
        return -ECANCELED;
    }
    while (!list->list_done) {
        struct io_list_row read;
        int got = io_list_reader_next(list->reader, &read, err, err_size);
        if (got < 0) {
            if (got != -ECANCELED) {
                /* The run says it as it is: with the list's name. */
                char reason[320];
                snprintf(reason, sizeof(reason), "%.300s", err);
                snprintf(err, err_size, "%.100s: %.300s", list->cli->input, reason);
            }
            return got;
        }
        if (got == 0) {
            list->list_done = true;
            list->lines_read = io_list_reader_line(list->reader);
            break;
        }
        list->rows++;
        const char *url = io_list_row_text(&read, stand_in);
        if (!keep_row(url, list->filter))
            continue;
        row->url = strdup(url);
        if (row->url == NULL) {
            snprintf(err, err_size, "out of memory reading the URL list");
            return -ENOMEM;
        }
        row->line = read.line;
        row->tag = list->filter->tag;
        return 1;
    }
    while (list->next_arg < list->cli->url_count) {
        size_t i = list->next_arg++;
        const char *url = list->cli->urls[i];
        list->rows++;
        if (!keep_row(url, list->filter))
            continue;
        row->url = strdup(url);
        if (row->url == NULL) {
            snprintf(err, err_size, "out of memory");
            return -ENOMEM;
        }
        row->line = list->lines_read + i + 1;
        row->tag = list->filter->tag;
        return 1;
    }
    list->complete = true;
    return 0;
}

/* pl_source.cancel, on the loop thread: wakes a read that waits for a pipe. */
static void cancel_rows(void *user)
{
    struct list_source *list = user;
    uint64_t one = 1;
    if (list->wake_fd >= 0 && write(list->wake_fd, &one, sizeof(one)) < 0) {
        /* An eventfd's counter does not overflow at 1: nothing to do. */
    }
}

int list_source_create(const struct cli *cli, struct row_filter *filter, int wake_fd,
                       struct list_source **out, struct pl_source *source)
{
    char err[256];
    int rc;
    struct list_source *list = calloc(1, sizeof(*list));
    if (list == NULL) {
        fprintf(stderr, "edgefetch: out of memory\n");
        return -ENOMEM;
    }
    list->cli = cli;
    list->filter = filter;
    list->wake_fd = wake_fd;
    list->list_done = cli->input == NULL;
    if (cli->input != NULL) {
        struct io_list_options opts;
        rc = open_list(cli, wake_fd, &list->in, &opts);
        if (rc < 0)
            goto fail;
        opts.wake_fd = wake_fd;
        rc = io_list_reader_create(list->in, &opts, &list->reader, err, sizeof(err));
        if (rc == -ECANCELED) {
            /* A signal while the header was awaited: no row, the run says so. */
            list->cancelled = true;
        } else if (rc < 0) {
            fprintf(stderr, "edgefetch: %s: %s\n", cli->input, err);
            goto fail;
        }
    }
    *source = (struct pl_source){.next = next_row, .cancel = cancel_rows, .user = list};
    *out = list;
    return 0;

fail:
    list_source_destroy(list);
    return rc;
}

int list_source_first(struct list_source *list)
{
    char err[512];
    int got = next_row(list, &list->first, err, sizeof(err));
    if (got == -ECANCELED)
        return got; /* a signal: the run that follows says so */
    if (got < 0) {
        fprintf(stderr, "edgefetch: %s\n", err);
        return got;
    }
    list->has_first = got == 1;
    list->ended_first = got == 0;
    return got;
}

uint64_t list_source_rows(const struct list_source *list)
{
    return list->rows;
}

bool list_source_complete(const struct list_source *list)
{
    return list->complete;
}

void list_source_destroy(struct list_source *list)
{
    if (list == NULL)
        return;
    if (list->has_first)
        free(list->first.url);
    io_list_reader_destroy(list->reader);
    if (list->in != NULL && list->in != stdin)
        fclose(list->in);
    free(list);
}
