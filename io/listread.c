/* The streaming list reader: one row at a time from a plain, CSV, TSV or
 * JSON Lines list, gzip-compressed or not, in bounded memory whatever the
 * list's length (io.h, "URL list").
 *
 * Three layers, each with a fixed buffer:
 *   source  raw bytes (read(2) as they arrive, or fread for a memory stream),
 *           inflated through zlib when the list is gzip: 64 KiB in, 64 KiB out;
 *   lines   one line at a time, at most MAX_LINE_BYTES of it kept (the rest of
 *           an over-long line is read and dropped); a NUL byte ends the list;
 *   rows    a format's parser over the lines: its fields decoded into buffers
 *           of MAX_LINE_BYTES + 1, which any field fits (escapes only shrink).
 * A row is valid until the next call. The CSV/TSV parser is in
 * listread_csv.c, the JSON Lines one in listread_json.c. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "io.h"
#include "listread_private.h"

/* Raw and inflated bytes are moved in pieces this large. */
#define CHUNK_BYTES (64 * 1024)

void io_list_options_init(struct io_list_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->format = IO_LIST_PLAIN;
    opts->compression = IO_LIST_COMPRESSION_AUTO;
    opts->url_column = "url";
    opts->name_column = NULL;
    opts->wake_fd = -1;
}

static bool ends_with(const char *text, size_t len, const char *suffix)
{
    size_t suffix_len = strlen(suffix);
    return len >= suffix_len && strncmp(text + len - suffix_len, suffix, suffix_len) == 0;
}

enum io_list_format io_list_format_from_path(const char *path, bool *gzip)
{
    size_t len = path != NULL ? strlen(path) : 0;
    *gzip = len > 0 && ends_with(path, len, ".gz");
    if (*gzip)
        len -= 3;
    if (len > 0 && ends_with(path, len, ".csv"))
        return IO_LIST_CSV;
    if (len > 0 && (ends_with(path, len, ".tsv") || ends_with(path, len, ".tab")))
        return IO_LIST_TSV;
    if (len > 0 && (ends_with(path, len, ".jsonl") || ends_with(path, len, ".ndjson")))
        return IO_LIST_JSONL;
    return IO_LIST_PLAIN;
}

/* ---- source: raw bytes, inflated when gzip ------------------------------ */

/* Up to `size` bytes as soon as some are there (a pipe gives what its writer
 * has written: a list is consumed while its producer still runs). 0 at the
 * end, or a negative code. */
static ssize_t read_raw(struct io_list_reader *reader, uint8_t *into, size_t size)
{
    if (reader->raw_eof)
        return 0;
    if (reader->fd < 0) {
        size_t got = fread(into, 1, size, reader->in);
        if (got == 0 && ferror(reader->in))
            return -EIO;
        if (got == 0)
            reader->raw_eof = true;
        return (ssize_t)got;
    }
    for (;;) {
        if (reader->wake_fd >= 0) {
            /* A pipe may stay silent for ever: wait for it and for the
             * wake-up together, so that a stopped run is not held here. */
            struct pollfd fds[2] = {{.fd = reader->fd, .events = POLLIN},
                                    {.fd = reader->wake_fd, .events = POLLIN}};
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            if (fds[1].revents != 0)
                return -ECANCELED;
        }
        ssize_t got = read(reader->fd, into, size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            reader->raw_eof = true;
        return got;
    }
}

/* Refills reader->buf: 1 with bytes, 0 at the end of the list, or a negative
 * code with the reason in reader->message. */
static int source_fill(struct io_list_reader *reader)
{
    reader->pos = 0;
    reader->len = 0;
    if (!reader->gzip) {
        ssize_t got = read_raw(reader, reader->raw, CHUNK_BYTES);
        if (got < 0) {
            snprintf(reader->message, sizeof(reader->message), "reading the URL list: %s",
                     strerror((int)-got));
            return (int)got;
        }
        reader->buf = reader->raw;
        reader->len = (size_t)got;
        return got > 0;
    }
    z_stream *zs = &reader->zs;
    for (;;) {
        if (zs->avail_in == 0) {
            ssize_t got = read_raw(reader, reader->raw, CHUNK_BYTES);
            if (got < 0) {
                snprintf(reader->message, sizeof(reader->message), "reading the URL list: %s",
                         strerror((int)-got));
                return (int)got;
            }
            if (got == 0) {
                if (reader->gzip_member_done)
                    return 0;
                snprintf(reader->message, sizeof(reader->message),
                         "the gzip list is cut short (no end of stream)");
                return -EIO;
            }
            zs->next_in = reader->raw;
            zs->avail_in = (uInt)got;
        }
        if (reader->gzip_member_done) {
            /* Concatenated members (`cat a.gz b.gz`) are one list, as for gzip -d. */
            if (inflateReset(zs) != Z_OK)
                return -EIO;
            reader->gzip_member_done = false;
        }
        zs->next_out = reader->out;
        zs->avail_out = CHUNK_BYTES;
        int zrc = inflate(zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            reader->gzip_member_done = true;
        } else if (zrc == Z_MEM_ERROR) {
            snprintf(reader->message, sizeof(reader->message), "out of memory inflating the list");
            return -ENOMEM;
        } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            snprintf(reader->message, sizeof(reader->message), "the gzip list is corrupt: %s",
                     zs->msg != NULL ? zs->msg : "inflate failed");
            return -EINVAL;
        }
        size_t produced = CHUNK_BYTES - zs->avail_out;
        if (produced > 0) {
            reader->buf = reader->out;
            reader->len = produced;
            return 1;
        }
    }
}

/* ---- lines -------------------------------------------------------------- */

/* The next line, without its '\n', at most MAX_LINE_BYTES of it (*too_long
 * when more was dropped): 1 with a line, 0 at the end, -EINVAL at a NUL byte
 * (a binary file, /dev/zero: refused at once rather than read as one endless
 * line), or a read error. A line inside one chunk is not copied. */
int io__list_next_line(struct io_list_reader *reader, char **text, size_t *len, bool *too_long)
{
    size_t held = 0;
    *too_long = false;
    for (;;) {
        if (reader->pos == reader->len) {
            int rc = source_fill(reader);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                if (held == 0 && !*too_long)
                    return 0;
                break;
            }
        }
        uint8_t *start = reader->buf + reader->pos;
        size_t avail = reader->len - reader->pos;
        uint8_t *newline = memchr(start, '\n', avail);
        size_t take = newline != NULL ? (size_t)(newline - start) : avail;
        if (memchr(start, '\0', take) != NULL) {
            reader->line_no++;
            snprintf(reader->message, sizeof(reader->message),
                     "line %llu: contains a NUL byte (not a text file?)",
                     (unsigned long long)reader->line_no);
            return -EINVAL;
        }
        reader->pos += take + (newline != NULL);
        if (newline != NULL && held == 0 && !*too_long && take <= MAX_LINE_BYTES) {
            reader->line_no++;
            *text = (char *)start;
            *len = take;
            return 1;
        }
        size_t room = MAX_LINE_BYTES - held;
        if (take > room)
            *too_long = true;
        memcpy(reader->line + held, start, take > room ? room : take);
        held += take > room ? room : take;
        if (newline != NULL)
            break;
    }
    reader->line_no++;
    reader->line[held] = '\0';
    *text = reader->line;
    *len = held;
    return 1;
}

bool io__list_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void io__list_trim(char **text, size_t *len)
{
    while (*len > 0 && io__list_is_blank((unsigned char)**text)) {
        (*text)++;
        (*len)--;
    }
    while (*len > 0 && io__list_is_blank((unsigned char)(*text)[*len - 1]))
        (*len)--;
}

/* Skips a UTF-8 byte order mark at the start of the list. */
void io__list_skip_bom(const struct io_list_reader *reader, char **text, size_t *len)
{
    if (reader->line_no == 1 && *len >= 3 && memcmp(*text, "\xEF\xBB\xBF", 3) == 0) {
        *text += 3;
        *len -= 3;
    }
}

int io__list_row_error(struct io_list_reader *reader, struct io_list_row *row, uint64_t line,
                       int error, const char *fmt, const char *detail)
{
    int used =
        snprintf(reader->message, sizeof(reader->message), "line %llu: ", (unsigned long long)line);
    snprintf(reader->message + used, sizeof(reader->message) - (size_t)used, fmt, detail);
    row->line = line;
    row->error = error;
    row->message = reader->message;
    return 1;
}

int io__list_too_long_row(struct io_list_reader *reader, struct io_list_row *row, uint64_t line)
{
    return io__list_row_error(reader, row, line, -E2BIG,
                              "longer than " IO_LIST_MAX_LINE_TEXT " bytes, not read%s", "");
}

/* ---- plain: one URL a line ---------------------------------------------- */

static int next_plain(struct io_list_reader *reader, struct io_list_row *row)
{
    for (;;) {
        char *text;
        size_t len;
        bool too_long;
        int rc = io__list_next_line(reader, &text, &len, &too_long);
        if (rc <= 0)
            return rc;
        io__list_skip_bom(reader, &text, &len);
        io__list_trim(&text, &len);
        if ((len > 0 && text[0] == '#') || (len == 0 && !too_long))
            continue;
        if (too_long)
            return io__list_too_long_row(reader, row, reader->line_no);
        /* In place: at most the line's own '\n' (or a trailing blank) is overwritten. */
        text[len] = '\0';
        row->url = text;
        row->url_len = len;
        row->line = reader->line_no;
        return 1;
    }
}
/* ---- the reader --------------------------------------------------------- */

int io_list_reader_create(FILE *in, const struct io_list_options *opts, struct io_list_reader **out,
                          char *err, size_t err_size)
{
    int rc = -ENOMEM;
    struct io_list_reader *reader = calloc(1, sizeof(*reader));
    if (reader == NULL)
        goto fail_memory;
    reader->opts = *opts;
    if (reader->opts.url_column == NULL)
        reader->opts.url_column = "url";
    reader->in = in;
    reader->fd = fileno(in);
    /* Before the header's first bytes are read: that read may wait too. */
    reader->wake_fd = opts->wake_fd;
    reader->name_column = SIZE_MAX;
    reader->raw = malloc(CHUNK_BYTES);
    reader->line = malloc(MAX_LINE_BYTES + 1);
    if (reader->raw == NULL || reader->line == NULL)
        goto fail_memory;
    if (opts->format != IO_LIST_PLAIN) {
        reader->url = malloc(MAX_LINE_BYTES + 1);
        reader->name = malloc(MAX_LINE_BYTES + 1);
        reader->key = malloc(MAX_LINE_BYTES + 1);
        if (reader->url == NULL || reader->name == NULL || reader->key == NULL)
            goto fail_memory;
    }

    /* The first bytes say whether the list is gzip (RFC 1952: 1f 8b). */
    size_t peeked = 0;
    while (peeked < 2) {
        ssize_t got = read_raw(reader, reader->raw + peeked, CHUNK_BYTES - peeked);
        if (got < 0) {
            rc = (int)got;
            snprintf(err, err_size, "reading the URL list: %s", strerror(-rc));
            goto fail;
        }
        if (got == 0)
            break;
        peeked += (size_t)got;
    }
    bool magic = peeked >= 2 && reader->raw[0] == 0x1f && reader->raw[1] == 0x8b;
    if (opts->compression == IO_LIST_GZIP && !magic) {
        rc = -EINVAL;
        snprintf(err, err_size, "the list is named .gz but is not gzip data");
        goto fail;
    }
    reader->gzip = magic && opts->compression != IO_LIST_UNCOMPRESSED;
    if (reader->gzip) {
        reader->out = malloc(CHUNK_BYTES);
        if (reader->out == NULL)
            goto fail_memory;
        /* 16 + MAX_WBITS: a gzip wrapper, not zlib's. The window is 32 KiB. */
        if (inflateInit2(&reader->zs, 16 + MAX_WBITS) != Z_OK)
            goto fail_memory;
        reader->zs_open = true;
        reader->zs.next_in = reader->raw;
        reader->zs.avail_in = (uInt)peeked;
        reader->buf = reader->out;
    } else {
        reader->buf = reader->raw;
        reader->len = peeked;
    }

    if (opts->format == IO_LIST_CSV || opts->format == IO_LIST_TSV) {
        reader->separator = opts->format == IO_LIST_CSV ? ',' : '\t';
        rc = io__list_csv_header(reader, err, err_size);
        if (rc < 0)
            goto fail;
    }
    *out = reader;
    return 0;

fail_memory:
    rc = -ENOMEM;
    snprintf(err, err_size, "out of memory for the list reader");
fail:
    io_list_reader_destroy(reader);
    return rc;
}

int io_list_reader_next(struct io_list_reader *reader, struct io_list_row *row, char *err,
                        size_t err_size)
{
    memset(row, 0, sizeof(*row));
    int rc;
    switch (reader->opts.format) {
    case IO_LIST_CSV:
    case IO_LIST_TSV:
        rc = io__list_next_csv(reader, row);
        break;
    case IO_LIST_JSONL:
        rc = io__list_next_jsonl(reader, row);
        break;
    default:
        rc = next_plain(reader, row);
        break;
    }
    if (rc < 0)
        snprintf(err, err_size, "%s", reader->message);
    return rc;
}

uint64_t io_list_reader_line(const struct io_list_reader *reader)
{
    return reader->line_no;
}

void io_list_reader_destroy(struct io_list_reader *reader)
{
    if (reader == NULL)
        return;
    if (reader->zs_open)
        inflateEnd(&reader->zs);
    free(reader->raw);
    free(reader->out);
    free(reader->line);
    free(reader->url);
    free(reader->name);
    free(reader->key);
    free(reader);
}
