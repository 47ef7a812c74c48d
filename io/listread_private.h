/* Private to io/: the list reader's state and helpers, shared by its files
 * (listread.c: source, lines, plain rows; listread_csv.c; listread_json.c),
 * and the line bound io/urllist.c's whole-list reader uses too. */
#ifndef EDGEFETCH_IO_LISTREAD_PRIVATE_H
#define EDGEFETCH_IO_LISTREAD_PRIVATE_H

/* A list line longer than this is not a URL someone meant: it fails as a row
 * of its own, and only this much of it is ever held. */
#define MAX_LINE_BYTES (64 * 1024)
#define IO_LIST_MAX_LINE_TEXT "65536"

_Static_assert(MAX_LINE_BYTES == 65536, "IO_LIST_MAX_LINE_TEXT spells MAX_LINE_BYTES");

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zlib.h>

#include "io.h"

struct io_list_reader {
    struct io_list_options opts;
    FILE *in;
    int fd; /* fileno(in), or -1 for a stream with no descriptor (fmemopen) */
    int wake_fd; /* opts.wake_fd */
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

/* The next line, without its '\n', at most MAX_LINE_BYTES of it (*too_long
 * when more was dropped): 1 with a line (in place: it may be written up to
 * its end), 0 at the end of the list, or a negative code that ends it (a NUL
 * byte: -EINVAL), with the reason in reader->message. */
int io__list_next_line(struct io_list_reader *reader, char **text, size_t *len, bool *too_long);
bool io__list_is_blank(unsigned char c);
/* Drops blanks at both ends of text[0..len). */
void io__list_trim(char **text, size_t *len);
/* Drops a UTF-8 byte order mark at the start of the list. */
void io__list_skip_bom(const struct io_list_reader *reader, char **text, size_t *len);
/* Fills `row` as failed on `line`: "line N: " and `fmt` with `detail`; 1. */
int io__list_row_error(struct io_list_reader *reader, struct io_list_row *row, uint64_t line,
                       int error, const char *fmt, const char *detail);
/* A row that failed for a line over MAX_LINE_BYTES (-E2BIG); 1. */
int io__list_too_long_row(struct io_list_reader *reader, struct io_list_row *row, uint64_t line);

/* listread_csv.c: the header (the columns wanted found, or -ENOENT with the
 * ones there are), then a row: 1, 0 at the end, or a negative code. */
int io__list_csv_header(struct io_list_reader *reader, char *err, size_t err_size);
int io__list_next_csv(struct io_list_reader *reader, struct io_list_row *row);
/* listread_json.c: a row of JSON Lines: 1, 0 at the end, or a negative code. */
int io__list_next_jsonl(struct io_list_reader *reader, struct io_list_row *row);

#endif
