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
 * A row is valid until the next call. */
#include <errno.h>
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

/* JSON values nested deeper than this (inside a line's object) fail the row:
 * skipping them recurses, so the depth is bounded. */
#define MAX_JSON_DEPTH 64

/* Header columns kept for the message of a missing column. */
#define MAX_COLUMNS_LISTED 16

enum csv_state {
    CSV_FIELD_START = 0,
    CSV_UNQUOTED,
    CSV_QUOTED,
    CSV_QUOTE_IN_QUOTED, /* a '"' inside quotes: the end of the field, or the first of "" */
};

struct io_list_reader {
    struct io_list_options opts;
    FILE *in;
    int fd; /* fileno(in), or -1 for a stream with no descriptor (fmemopen) */
    bool raw_eof;
    bool gzip;
    bool gzip_member_done; /* a member ended: more input is another member, none is the end */
    z_stream zs;
    bool zs_open;
    uint8_t *raw; /* CHUNK_BYTES read from `in` */
    uint8_t *out; /* CHUNK_BYTES inflated (gzip only) */
    uint8_t *buf; /* what the lines are cut from: raw or out (ours: rows are cut in place) */
    size_t pos;
    size_t len;

    char *line; /* MAX_LINE_BYTES + 1: a line spread over chunks, or over-long */
    uint64_t line_no;

    /* CSV/TSV: the columns wanted, from the header */
    char separator;
    size_t url_column;
    size_t name_column; /* SIZE_MAX: none */
    size_t header_columns;

    char *url;  /* MAX_LINE_BYTES + 1: the decoded URL field */
    char *name; /* MAX_LINE_BYTES + 1: the decoded name field */
    char *key;  /* MAX_LINE_BYTES + 1: JSON keys, and the CSV header */
    size_t url_len;
    size_t name_len;
    bool has_url;
    bool has_name;
    char message[256]; /* the reason of the row that failed */
};

void io_list_options_init(struct io_list_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->format = IO_LIST_PLAIN;
    opts->compression = IO_LIST_COMPRESSION_AUTO;
    opts->url_column = "url";
    opts->name_column = NULL;
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
static int next_line(struct io_list_reader *reader, char **text, size_t *len, bool *too_long)
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

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void trim(char **text, size_t *len)
{
    while (*len > 0 && is_blank((unsigned char)**text)) {
        (*text)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((unsigned char)(*text)[*len - 1]))
        (*len)--;
}

/* Skips a UTF-8 byte order mark at the start of the list. */
static void skip_bom(const struct io_list_reader *reader, char **text, size_t *len)
{
    if (reader->line_no == 1 && *len >= 3 && memcmp(*text, "\xEF\xBB\xBF", 3) == 0) {
        *text += 3;
        *len -= 3;
    }
}

static int row_error(struct io_list_reader *reader, struct io_list_row *row, uint64_t line,
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

static int too_long_row(struct io_list_reader *reader, struct io_list_row *row, uint64_t line)
{
    return row_error(reader, row, line, -E2BIG,
                     "longer than " IO_LIST_MAX_LINE_TEXT " bytes, not read%s", "");
}

/* ---- plain: one URL a line ---------------------------------------------- */

static int next_plain(struct io_list_reader *reader, struct io_list_row *row)
{
    for (;;) {
        char *text;
        size_t len;
        bool too_long;
        int rc = next_line(reader, &text, &len, &too_long);
        if (rc <= 0)
            return rc;
        skip_bom(reader, &text, &len);
        trim(&text, &len);
        if ((len > 0 && text[0] == '#') || (len == 0 && !too_long))
            continue;
        if (too_long)
            return too_long_row(reader, row, reader->line_no);
        /* In place: at most the line's own '\n' (or a trailing blank) is overwritten. */
        text[len] = '\0';
        row->url = text;
        row->url_len = len;
        row->line = reader->line_no;
        return 1;
    }
}

/* ---- CSV and TSV (RFC 4180 quoting) ------------------------------------- */

struct csv_record {
    uint64_t first_line;
    size_t field;     /* index of the field being read */
    size_t field_len; /* its bytes so far */
    enum csv_state state;
    bool capture_all; /* the header: every field into reader->key, NUL-separated */
    size_t all_len;
    bool overflow;         /* a kept field (or the header) passed MAX_LINE_BYTES */
    size_t record_bytes;   /* of the lines read into it so far */
    const char *malformed; /* the reason, once the record is known bad */
};

/* Appends `c` to the field being read, when it is one that is kept. */
static void csv_put(struct io_list_reader *reader, struct csv_record *rec, char c)
{
    char *into = NULL;
    size_t *used = NULL;
    if (rec->capture_all) {
        into = reader->key;
        used = &rec->all_len;
    } else if (rec->field == reader->url_column) {
        into = reader->url;
        used = &reader->url_len;
    } else if (rec->field == reader->name_column) {
        into = reader->name;
        used = &reader->name_len;
    }
    if (into != NULL && *used < MAX_LINE_BYTES)
        into[(*used)++] = c;
    else if (into != NULL)
        rec->overflow = true;
    rec->field_len++;
}

static void csv_end_field(struct io_list_reader *reader, struct csv_record *rec)
{
    if (rec->capture_all && rec->all_len < MAX_LINE_BYTES)
        reader->key[rec->all_len++] = '\0';
    else if (rec->capture_all)
        rec->overflow = true;
    if (rec->field == reader->url_column)
        reader->has_url = true;
    if (rec->field == reader->name_column)
        reader->has_name = true;
    rec->field++;
    rec->field_len = 0;
    rec->state = CSV_FIELD_START;
}

/* Runs the quoting state machine over one line. Returns true when the record
 * goes on past the line's end (inside quotes). */
static bool csv_scan_line(struct io_list_reader *reader, struct csv_record *rec, const char *text,
                          size_t len)
{
    const char sep = reader->separator;
    for (size_t i = 0; i < len && rec->malformed == NULL; i++) {
        char c = text[i];
        /* A CR ending the line is the CRLF's, not data (inside quotes it is). */
        bool line_end_cr = c == '\r' && i + 1 == len;
        switch (rec->state) {
        case CSV_FIELD_START:
            if (c == '"')
                rec->state = CSV_QUOTED;
            else if (c == sep)
                csv_end_field(reader, rec);
            else if (!line_end_cr) {
                rec->state = CSV_UNQUOTED;
                csv_put(reader, rec, c);
            }
            break;
        case CSV_UNQUOTED:
            if (c == sep)
                csv_end_field(reader, rec);
            else if (c == '"')
                rec->malformed = "a quote inside an unquoted field";
            else if (!line_end_cr)
                csv_put(reader, rec, c);
            break;
        case CSV_QUOTED:
            if (c == '"')
                rec->state = CSV_QUOTE_IN_QUOTED;
            else
                csv_put(reader, rec, c);
            break;
        case CSV_QUOTE_IN_QUOTED:
            if (c == '"') {
                csv_put(reader, rec, '"');
                rec->state = CSV_QUOTED;
            } else if (c == sep) {
                csv_end_field(reader, rec);
            } else if (!line_end_cr) {
                rec->malformed = "text after a closing quote";
            }
            break;
        }
    }
    if (rec->malformed != NULL)
        return false;
    if (rec->state == CSV_QUOTED) {
        csv_put(reader, rec, '\n'); /* a line break inside quotes is data */
        return true;
    }
    return false;
}

/* Reads one record (skipping blank lines): 1 with a record (rec->malformed
 * when it is bad, *too_long when one of its lines was), 0 at the end, or a
 * negative code. */
static int csv_read_record(struct io_list_reader *reader, struct csv_record *rec, bool *too_long)
{
    bool started = false;
    *too_long = false;
    reader->url_len = 0;
    reader->name_len = 0;
    reader->has_url = false;
    reader->has_name = false;
    for (;;) {
        char *text;
        size_t len;
        bool line_too_long;
        int rc = next_line(reader, &text, &len, &line_too_long);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (!started)
                return 0;
            rec->malformed = "a quoted field is not closed at the end of the list";
            return 1;
        }
        skip_bom(reader, &text, &len);
        if (!started) {
            size_t blank = len;
            char *probe = text;
            trim(&probe, &blank);
            if (blank == 0 && !line_too_long)
                continue;
            started = true;
            rec->first_line = reader->line_no;
        }
        if (line_too_long) {
            /* What follows in the record cannot be known: reading resumes at
             * the next line, outside any quotes. */
            *too_long = true;
            return 1;
        }
        if (!csv_scan_line(reader, rec, text, len))
            break;
        /* A record is bounded as a line is, whichever of its fields is kept:
         * a quote never closed costs at most this much of the list. */
        rec->record_bytes += len + 1;
        if (rec->overflow || rec->record_bytes > MAX_LINE_BYTES) {
            *too_long = true;
            return 1;
        }
    }
    if (rec->malformed == NULL)
        csv_end_field(reader, rec);
    return 1;
}

static int csv_read_header(struct io_list_reader *reader, char *err, size_t err_size)
{
    struct csv_record rec = {.capture_all = true};
    bool too_long;
    const char *want_url = reader->opts.url_column;
    const char *want_name = reader->opts.name_column;
    /* Nothing is captured by index while the header is read. */
    reader->url_column = SIZE_MAX;
    reader->name_column = SIZE_MAX;
    int rc = csv_read_record(reader, &rec, &too_long);
    if (rc < 0) {
        snprintf(err, err_size, "%s", reader->message);
        return rc;
    }
    if (rc == 0) {
        snprintf(err, err_size, "the list is empty: no header line with a column \"%s\"", want_url);
        return -ENOENT;
    }
    if (too_long || rec.malformed != NULL) {
        snprintf(err, err_size, "line %llu: the header is %s", (unsigned long long)rec.first_line,
                 too_long ? "longer than " IO_LIST_MAX_LINE_TEXT " bytes" : rec.malformed);
        return -EINVAL;
    }
    reader->header_columns = rec.field;
    char listed[160] = "";
    size_t listed_len = 0;
    char *column = reader->key;
    for (size_t i = 0; i < rec.field; i++) {
        size_t column_len = strlen(column);
        char *name = column;
        size_t name_len = column_len;
        trim(&name, &name_len);
        if (reader->url_column == SIZE_MAX && name_len == strlen(want_url) &&
            memcmp(name, want_url, name_len) == 0)
            reader->url_column = i;
        if (want_name != NULL && reader->name_column == SIZE_MAX && name_len == strlen(want_name) &&
            memcmp(name, want_name, name_len) == 0)
            reader->name_column = i;
        if (i < MAX_COLUMNS_LISTED && listed_len < sizeof(listed))
            listed_len += (size_t)snprintf(listed + listed_len, sizeof(listed) - listed_len,
                                           "%s\"%.*s\"", i > 0 ? ", " : "", (int)name_len, name);
        column += column_len + 1;
    }
    const char *missing = reader->url_column == SIZE_MAX                         ? want_url
                          : want_name != NULL && reader->name_column == SIZE_MAX ? want_name
                                                                                 : NULL;
    if (missing != NULL) {
        snprintf(err, err_size, "line %llu: no column \"%s\" in the header (its columns: %s%s)",
                 (unsigned long long)rec.first_line, missing, listed,
                 rec.field > MAX_COLUMNS_LISTED ? ", ..." : "");
        return -ENOENT;
    }
    return 0;
}

static int next_csv(struct io_list_reader *reader, struct io_list_row *row)
{
    struct csv_record rec = {0};
    bool too_long;
    int rc = csv_read_record(reader, &rec, &too_long);
    if (rc <= 0)
        return rc;
    if (too_long)
        return too_long_row(reader, row, rec.first_line);
    if (rec.malformed != NULL)
        return row_error(reader, row, rec.first_line, -EINVAL, "malformed row: %s", rec.malformed);
    if (!reader->has_url) {
        char detail[96];
        snprintf(detail, sizeof(detail), "%zu field%s, no column %zu (the header has %zu)",
                 rec.field, rec.field == 1 ? "" : "s", reader->url_column + 1,
                 reader->header_columns);
        return row_error(reader, row, rec.first_line, -EINVAL, "malformed row: %s", detail);
    }
    char *url = reader->url;
    size_t url_len = reader->url_len;
    trim(&url, &url_len);
    if (url_len == 0)
        return row_error(reader, row, rec.first_line, -EINVAL, "the %s field is empty",
                         reader->opts.url_column);
    row->url = url;
    row->url_len = url_len;
    reader->url[url - reader->url + (ptrdiff_t)url_len] = '\0';
    if (reader->has_name) {
        char *name = reader->name;
        size_t name_len = reader->name_len;
        trim(&name, &name_len);
        reader->name[name - reader->name + (ptrdiff_t)name_len] = '\0';
        if (name_len > 0) {
            row->name = name;
            row->name_len = name_len;
        }
    }
    row->line = rec.first_line;
    return 1;
}

/* ---- JSON Lines --------------------------------------------------------- */

struct json_cursor {
    const char *p;
    const char *end;
    const char *start;
    const char *error; /* the first reason it failed */
    const char *error_at;
};

static bool json_fail(struct json_cursor *cur, const char *why)
{
    if (cur->error == NULL) {
        cur->error = why;
        cur->error_at = cur->p;
    }
    return false;
}

static void json_ws(struct json_cursor *cur)
{
    while (cur->p < cur->end &&
           (*cur->p == ' ' || *cur->p == '\t' || *cur->p == '\r' || *cur->p == '\n'))
        cur->p++;
}

static int json_hex4(const char *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static size_t put_utf8(char *out, unsigned code)
{
    if (code < 0x80) {
        out[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (char)(0xC0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (char)(0xE0 | (code >> 12));
        out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (code >> 18));
    out[1] = (char)(0x80 | ((code >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((code >> 6) & 0x3F));
    out[3] = (char)(0x80 | (code & 0x3F));
    return 4;
}

/* A string at cur->p (its opening quote), decoded into `out` (room for the
 * line: a decoded string is never longer than its text) unless NULL. A
 * decoded NUL is refused: no URL or name holds one. */
static bool json_string(struct json_cursor *cur, char *out, size_t *out_len)
{
    size_t used = 0;
    cur->p++; /* the opening quote */
    while (cur->p < cur->end) {
        unsigned char c = (unsigned char)*cur->p;
        if (c == '"') {
            cur->p++;
            if (out != NULL) {
                out[used] = '\0';
                *out_len = used;
            }
            return true;
        }
        if (c < 0x20)
            return json_fail(cur, "a control character inside a string");
        if (c != '\\') {
            if (out != NULL)
                out[used++] = (char)c;
            cur->p++;
            continue;
        }
        if (cur->end - cur->p < 2)
            return json_fail(cur, "a string is not closed");
        char escape = cur->p[1];
        const char *simple = strchr("\"\\/bfnrt", escape);
        if (escape != '\0' && simple != NULL && escape != 'u') {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            if (out != NULL)
                out[used++] = decoded[simple - "\"\\/bfnrt"];
            cur->p += 2;
            continue;
        }
        if (escape != 'u')
            return json_fail(cur, "an unknown escape in a string");
        if (cur->end - cur->p < 6 || json_hex4(cur->p + 2) < 0)
            return json_fail(cur, "a \\u escape without 4 hex digits");
        /* Errors point at the escape, not past it. */
        unsigned code = (unsigned)json_hex4(cur->p + 2);
        if (code >= 0xDC00 && code <= 0xDFFF)
            return json_fail(cur, "a lone low surrogate");
        if (code >= 0xD800 && code <= 0xDBFF) {
            /* RFC 8259 section 7: a character outside the BMP is a surrogate pair. */
            const char *low_at = cur->p + 6;
            if (cur->end - low_at < 6 || low_at[0] != '\\' || low_at[1] != 'u' ||
                json_hex4(low_at + 2) < 0xDC00 || json_hex4(low_at + 2) > 0xDFFF)
                return json_fail(cur, "a high surrogate without its low surrogate");
            unsigned low = (unsigned)json_hex4(low_at + 2);
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            cur->p += 6;
        }
        if (code == 0 && out != NULL)
            return json_fail(cur, "\\u0000 in a string");
        cur->p += 6;
        if (out != NULL)
            used += put_utf8(out + used, code);
    }
    return json_fail(cur, "a string is not closed");
}

static bool json_digits(struct json_cursor *cur)
{
    const char *first = cur->p;
    while (cur->p < cur->end && *cur->p >= '0' && *cur->p <= '9')
        cur->p++;
    return cur->p > first;
}

/* RFC 8259 section 6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(struct json_cursor *cur)
{
    if (cur->p < cur->end && *cur->p == '-')
        cur->p++;
    if (cur->p < cur->end && *cur->p == '0')
        cur->p++;
    else if (cur->p >= cur->end || *cur->p < '1' || *cur->p > '9' || !json_digits(cur))
        return json_fail(cur, "not a value");
    if (cur->p < cur->end && *cur->p == '.') {
        cur->p++;
        if (!json_digits(cur))
            return json_fail(cur, "a number with no digits after its '.'");
    }
    if (cur->p < cur->end && (*cur->p == 'e' || *cur->p == 'E')) {
        cur->p++;
        if (cur->p < cur->end && (*cur->p == '+' || *cur->p == '-'))
            cur->p++;
        if (!json_digits(cur))
            return json_fail(cur, "a number with no digits in its exponent");
    }
    return true;
}

static bool json_literal(struct json_cursor *cur, const char *word)
{
    size_t len = strlen(word);
    if ((size_t)(cur->end - cur->p) < len || memcmp(cur->p, word, len) != 0)
        return json_fail(cur, "not a value");
    cur->p += len;
    return true;
}

static bool json_skip_value(struct json_cursor *cur, int depth);

/* An object or array at cur->p, skipped: `close` is '}' or ']'. */
static bool json_skip_container(struct json_cursor *cur, int depth, char close)
{
    if (depth >= MAX_JSON_DEPTH)
        return json_fail(cur, "nested deeper than 64 levels");
    cur->p++;
    json_ws(cur);
    if (cur->p < cur->end && *cur->p == close) {
        cur->p++;
        return true;
    }
    for (;;) {
        json_ws(cur);
        if (close == '}') {
            if (cur->p >= cur->end || *cur->p != '"')
                return json_fail(cur, "expected a key string");
            if (!json_string(cur, NULL, NULL))
                return false;
            json_ws(cur);
            if (cur->p >= cur->end || *cur->p != ':')
                return json_fail(cur, "expected ':'");
            cur->p++;
            json_ws(cur);
        }
        if (!json_skip_value(cur, depth + 1))
            return false;
        json_ws(cur);
        if (cur->p < cur->end && *cur->p == ',') {
            cur->p++;
            continue;
        }
        if (cur->p < cur->end && *cur->p == close) {
            cur->p++;
            return true;
        }
        return json_fail(cur, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool json_skip_value(struct json_cursor *cur, int depth)
{
    if (cur->p >= cur->end)
        return json_fail(cur, "a value is missing");
    switch (*cur->p) {
    case '"':
        return json_string(cur, NULL, NULL);
    case '{':
        return json_skip_container(cur, depth, '}');
    case '[':
        return json_skip_container(cur, depth, ']');
    case 't':
        return json_literal(cur, "true");
    case 'f':
        return json_literal(cur, "false");
    case 'n':
        return json_literal(cur, "null");
    default:
        return json_number(cur);
    }
}

/* One line's object: the url field (and the name field) decoded, the rest
 * checked and skipped. A key given twice: the last one counts (as Python's
 * json and jq read it). */
static bool json_parse_object(struct io_list_reader *reader, struct json_cursor *cur,
                              const char **not_string)
{
    const char *url_key = reader->opts.url_column;
    const char *name_key = reader->opts.name_column;
    json_ws(cur);
    if (cur->p >= cur->end || *cur->p != '{')
        return json_fail(cur, "not a JSON object");
    cur->p++;
    json_ws(cur);
    if (cur->p < cur->end && *cur->p == '}') {
        cur->p++;
    } else {
        for (;;) {
            json_ws(cur);
            size_t key_len = 0;
            if (cur->p >= cur->end || *cur->p != '"')
                return json_fail(cur, "expected a key string");
            /* A key may decode to a NUL; it is then no key of ours. */
            const char *key_start = cur->p;
            if (!json_string(cur, reader->key, &key_len)) {
                cur->error = NULL;
                cur->p = key_start;
                if (!json_string(cur, NULL, NULL))
                    return false;
                key_len = SIZE_MAX;
            }
            json_ws(cur);
            if (cur->p >= cur->end || *cur->p != ':')
                return json_fail(cur, "expected ':'");
            cur->p++;
            json_ws(cur);
            bool is_url = key_len == strlen(url_key) && memcmp(reader->key, url_key, key_len) == 0;
            bool is_name = name_key != NULL && key_len == strlen(name_key) &&
                           memcmp(reader->key, name_key, key_len) == 0;
            if ((is_url || is_name) && cur->p < cur->end && *cur->p == '"') {
                bool ok = is_url ? json_string(cur, reader->url, &reader->url_len)
                                 : json_string(cur, reader->name, &reader->name_len);
                if (!ok)
                    return false;
                if (is_url) {
                    reader->has_url = true;
                    *not_string = NULL;
                } else {
                    reader->has_name = true;
                }
            } else {
                if (is_url) {
                    reader->has_url = false;
                    *not_string = url_key;
                }
                if (is_name)
                    reader->has_name = false;
                if (!json_skip_value(cur, 1))
                    return false;
            }
            json_ws(cur);
            if (cur->p < cur->end && *cur->p == ',') {
                cur->p++;
                continue;
            }
            if (cur->p < cur->end && *cur->p == '}') {
                cur->p++;
                break;
            }
            return json_fail(cur, "expected ',' or '}'");
        }
    }
    json_ws(cur);
    if (cur->p != cur->end)
        return json_fail(cur, "text after the object");
    return true;
}

static int next_jsonl(struct io_list_reader *reader, struct io_list_row *row)
{
    for (;;) {
        char *text;
        size_t len;
        bool too_long;
        int rc = next_line(reader, &text, &len, &too_long);
        if (rc <= 0)
            return rc;
        skip_bom(reader, &text, &len);
        char *probe = text;
        size_t probe_len = len;
        trim(&probe, &probe_len);
        if (probe_len == 0 && !too_long)
            continue;
        if (too_long)
            return too_long_row(reader, row, reader->line_no);
        reader->has_url = false;
        reader->has_name = false;
        const char *not_string = NULL;
        struct json_cursor cur = {.p = text, .end = text + len, .start = text};
        if (!json_parse_object(reader, &cur, &not_string)) {
            char detail[128];
            snprintf(detail, sizeof(detail), "%s at byte %zu", cur.error,
                     (size_t)(cur.error_at - cur.start) + 1);
            return row_error(reader, row, reader->line_no, -EINVAL, "not valid JSON: %s", detail);
        }
        if (not_string != NULL)
            return row_error(reader, row, reader->line_no, -EINVAL,
                             "the \"%s\" field is not a string", not_string);
        if (!reader->has_url)
            return row_error(reader, row, reader->line_no, -EINVAL, "no \"%s\" field",
                             reader->opts.url_column);
        char *url = reader->url;
        size_t url_len = reader->url_len;
        trim(&url, &url_len);
        if (url_len == 0)
            return row_error(reader, row, reader->line_no, -EINVAL, "the \"%s\" field is empty",
                             reader->opts.url_column);
        reader->url[url - reader->url + (ptrdiff_t)url_len] = '\0';
        row->url = url;
        row->url_len = url_len;
        if (reader->has_name && reader->name_len > 0) {
            row->name = reader->name;
            row->name_len = reader->name_len;
        }
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
        rc = csv_read_header(reader, err, err_size);
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
        rc = next_csv(reader, row);
        break;
    case IO_LIST_JSONL:
        rc = next_jsonl(reader, row);
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
