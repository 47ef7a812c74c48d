/* The CSV and TSV rows of the list reader (io/listread.c): RFC 4180
 * quoting over the reader's bounded lines, a header naming the columns, only
 * the URL and name fields kept. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "io.h"
#include "listread_private.h"

/* Header columns kept for the message of a missing column. */
#define MAX_COLUMNS_LISTED 16
enum csv_state {
    CSV_FIELD_START = 0,
    CSV_UNQUOTED,
    CSV_QUOTED,
    CSV_QUOTE_IN_QUOTED, /* a '"' inside quotes: the end of the field, or the first of "" */
};

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
        int rc = io__list_next_line(reader, &text, &len, &line_too_long);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (!started)
                return 0;
            rec->malformed = "a quoted field is not closed at the end of the list";
            return 1;
        }
        io__list_skip_bom(reader, &text, &len);
        if (!started) {
            size_t blank = len;
            char *probe = text;
            io__list_trim(&probe, &blank);
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

int io__list_csv_header(struct io_list_reader *reader, char *err, size_t err_size)
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
        io__list_trim(&name, &name_len);
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

int io__list_next_csv(struct io_list_reader *reader, struct io_list_row *row)
{
    struct csv_record rec = {0};
    bool too_long;
    int rc = csv_read_record(reader, &rec, &too_long);
    if (rc <= 0)
        return rc;
    if (too_long)
        return io__list_too_long_row(reader, row, rec.first_line);
    if (rec.malformed != NULL)
        return io__list_row_error(reader, row, rec.first_line, -EINVAL, "malformed row: %s",
                                  rec.malformed);
    if (!reader->has_url) {
        char detail[96];
        snprintf(detail, sizeof(detail), "%zu field%s, no column %zu (the header has %zu)",
                 rec.field, rec.field == 1 ? "" : "s", reader->url_column + 1,
                 reader->header_columns);
        return io__list_row_error(reader, row, rec.first_line, -EINVAL, "malformed row: %s",
                                  detail);
    }
    char *url = reader->url;
    size_t url_len = reader->url_len;
    io__list_trim(&url, &url_len);
    if (url_len == 0)
        return io__list_row_error(reader, row, rec.first_line, -EINVAL, "the %s field is empty",
                                  reader->opts.url_column);
    row->url = url;
    row->url_len = url_len;
    reader->url[url - reader->url + (ptrdiff_t)url_len] = '\0';
    if (reader->has_name) {
        char *name = reader->name;
        size_t name_len = reader->name_len;
        io__list_trim(&name, &name_len);
        reader->name[name - reader->name + (ptrdiff_t)name_len] = '\0';
        if (name_len > 0) {
            row->name = name;
            row->name_len = name_len;
        }
    }
    row->line = rec.first_line;
    return 1;
}
