/* Unit tests for the streaming list reader (io/listread.c, issue 13): the
 * plain rules, CSV and TSV with RFC 4180 quoting and a header, JSON Lines
 * with a strict parser, gzip by its magic bytes, rows that fail alone with
 * their line numbers, setup errors for a missing column, and rows read from
 * a pipe before its writer is done. Lists are real streams (fmemopen, a
 * pipe), gzip made here with zlib. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "io.h"

#define MAX_LINE (64 * 1024)

/* What a list reads as: "L:URL[|NAME]" per row, "L!message" per failed row,
 * joined by '\n', then "END" or "FATAL:message". */
struct transcript {
    char text[64 * 1024];
    size_t used;
};

static void add(struct transcript *out, const char *fmt, const char *a, const char *b,
                unsigned long long line)
{
    char piece[2048];
    snprintf(piece, sizeof(piece), fmt, line, a, b);
    size_t len = strlen(piece);
    CHECK(out->used + len + 2 < sizeof(out->text));
    memcpy(out->text + out->used, piece, len);
    out->used += len;
    out->text[out->used++] = '\n';
    out->text[out->used] = '\0';
}

static void read_all(struct io_list_reader *reader, struct transcript *out)
{
    char err[256];
    for (;;) {
        struct io_list_row row;
        int rc = io_list_reader_next(reader, &row, err, sizeof(err));
        if (rc == 0) {
            add(out, "END%.0llu%s%s", "", "", 0);
            return;
        }
        if (rc < 0) {
            add(out, "FATAL%.0llu:%s%s", err, "", 0);
            return;
        }
        if (row.error != 0) {
            CHECK(row.url == NULL);
            add(out, "%llu!%s%s", row.message, "", row.line);
        } else {
            CHECK_EQ(strlen(row.url), row.url_len);
            if (row.name != NULL)
                add(out, "%llu:%s|%s", row.url, row.name, row.line);
            else
                add(out, "%llu:%s%s", row.url, "", row.line);
        }
    }
}

/* Reads `text` (`size` bytes) as `format`; returns the create code. */
static int read_text(const void *text, size_t size, const struct io_list_options *opts,
                     struct transcript *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    FILE *in = fmemopen((void *)text, size, "r");
    CHECK(in != NULL);
    struct io_list_reader *reader = NULL;
    int rc = io_list_reader_create(in, opts, &reader, err, err_size);
    if (rc == 0)
        read_all(reader, out);
    io_list_reader_destroy(reader);
    fclose(in);
    return rc;
}

static void expect(const char *text, enum io_list_format format, const char *name_column,
                   const char *want)
{
    struct io_list_options opts;
    struct transcript got;
    char err[256] = "";
    io_list_options_init(&opts);
    opts.format = format;
    opts.name_column = name_column;
    int rc = read_text(text, strlen(text), &opts, &got, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "create: %s\n", err);
    CHECK_EQ(rc, 0);
    CHECK_STR_EQ(got.text, want);
}

static void test_plain(void)
{
    expect("\xEF\xBB\xBFhttp://h/a.jpg\r\n"
           "\n"
           "  # a comment\n"
           "\t http://h/b.jpg  \r\n"
           "http://h/c.jpg",
           IO_LIST_PLAIN, NULL, "1:http://h/a.jpg\n4:http://h/b.jpg\n5:http://h/c.jpg\nEND\n");

    /* An over-long line fails alone, with its line; the next is read. */
    size_t size = MAX_LINE * 3;
    char *text = malloc(size + 64);
    CHECK(text != NULL);
    size_t used = (size_t)sprintf(text, "http://h/a\n");
    memset(text + used, 'x', MAX_LINE + 1);
    used += MAX_LINE + 1;
    used += (size_t)sprintf(text + used, "\nhttp://h/b\n");
    struct io_list_options opts;
    struct transcript got;
    char err[256];
    io_list_options_init(&opts);
    CHECK_EQ(read_text(text, used, &opts, &got, err, sizeof(err)), 0);
    CHECK_STR_EQ(got.text,
                 "1:http://h/a\n2!line 2: longer than 65536 bytes, not read\n3:http://h/b\nEND\n");

    /* A NUL ends the list (a binary file), with the line it is on. */
    memcpy(text, "http://h/a\nhttp://h/b\0c\nhttp://h/d\n", 35);
    CHECK_EQ(read_text(text, 35, &opts, &got, err, sizeof(err)), 0);
    CHECK_STR_EQ(got.text, "1:http://h/a\nFATAL:line 2: contains a NUL byte (not a text file?)\n");
    free(text);
}

static void test_csv(void)
{
    /* Quoted fields: a comma, a "" quote, a line break inside quotes (the
     * row keeps its first line), CRLF ends, columns in any order. */
    expect("id,url,caption\r\n"
           "1,http://h/a.jpg,plain\r\n"
           "2,\"http://h/b,c.jpg\",\"say \"\"hi\"\"\"\r\n"
           "3,http://h/d.jpg,\"two\r\nlines\"\r\n"
           "\r\n"
           "4, http://h/e.jpg ,x\r\n",
           IO_LIST_CSV, NULL,
           "2:http://h/a.jpg\n3:http://h/b,c.jpg\n4:http://h/d.jpg\n7:http://h/e.jpg\nEND\n");

    /* The name column; a row without it (too few fields) keeps its URL. */
    expect("url,key\nhttp://h/a,cat\n\"http://h/b\",\"dog \"\"2\"\"\"\nhttp://h/c\n", IO_LIST_CSV,
           "key", "2:http://h/a|cat\n3:http://h/b|dog \"2\"\n4:http://h/c\nEND\n");

    /* Malformed rows fail alone, each with its line. */
    expect("url,n\n"
           "http://h/a\"b,1\n"   /* a quote in an unquoted field */
           "\"http://h/c\"x,2\n" /* text after the closing quote */
           "http://h/ok,3\n"
           ",4\n" /* an empty URL */
           "\n"
           "\"http://h/open,5\n", /* a quote never closed */
           IO_LIST_CSV, NULL,
           "2!line 2: malformed row: a quote inside an unquoted field\n"
           "3!line 3: malformed row: text after a closing quote\n"
           "4:http://h/ok\n"
           "5!line 5: the url field is empty\n"
           "7!line 7: malformed row: a quoted field is not closed at the end of the list\n"
           "END\n");

    /* Too few fields for the URL column. */
    expect(
        "a,b,url\n1,2\n1,2,http://h/x\n", IO_LIST_CSV, NULL,
        "2!line 2: malformed row: 2 fields, no column 3 (the header has 3)\n3:http://h/x\nEND\n");

    /* A quote never closed, in a column not kept: the record is bounded as a
     * line is, it fails, and reading goes on at the next line. */
    {
        size_t size = 3 * MAX_LINE;
        char *text = malloc(size);
        CHECK(text != NULL);
        size_t used = (size_t)sprintf(text, "url,caption\nhttp://h/a,\"open\n");
        while (used < 2 * MAX_LINE)
            used += (size_t)sprintf(text + used, "more caption text, still inside quotes\n");
        used += (size_t)sprintf(text + used, "http://h/b,x\n");
        struct io_list_options opts;
        struct transcript got;
        char err[256];
        io_list_options_init(&opts);
        opts.format = IO_LIST_CSV;
        CHECK_EQ(read_text(text, used, &opts, &got, err, sizeof(err)), 0);
        CHECK(strncmp(got.text, "2!line 2: longer than 65536 bytes, not read\n", 44) == 0);
        CHECK(strstr(got.text, ":http://h/b\nEND\n") != NULL);
        free(text);
    }

    /* TSV: tabs, and quotes as pandas writes them. */
    expect("url\tcaption\nhttp://h/a\ta, b\n\"http://h/b\"\t\"x\ty\"\n", IO_LIST_TSV, NULL,
           "2:http://h/a\n3:http://h/b\nEND\n");
}

static void test_csv_setup_errors(void)
{
    struct io_list_options opts;
    struct transcript got;
    char err[256] = "";
    io_list_options_init(&opts);
    opts.format = IO_LIST_CSV;
    const char *text = "id,link,caption\n1,http://h/a,x\n";
    CHECK_EQ(read_text(text, strlen(text), &opts, &got, err, sizeof(err)), -ENOENT);
    CHECK_STR_EQ(err, "line 1: no column \"url\" in the header (its columns: \"id\", \"link\", "
                      "\"caption\")");
    opts.url_column = "link";
    CHECK_EQ(read_text(text, strlen(text), &opts, &got, err, sizeof(err)), 0);
    CHECK_STR_EQ(got.text, "2:http://h/a\nEND\n");
    opts.name_column = "title";
    CHECK_EQ(read_text(text, strlen(text), &opts, &got, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "no column \"title\"") != NULL);
    CHECK_EQ(read_text("", 0, &opts, &got, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "the list is empty") != NULL);
}

static void test_jsonl(void)
{
    expect("{\"url\": \"http://h/a\"}\n"
           "{\"id\": 12, \"meta\": {\"w\": [1, 2.5e3, -0.5, true, null, {\"u\": \"x\"}]}, "
           "\"url\": \"http:\\/\\/h\\/b\\u00e9\\ud83d\\ude00\", \"n\": false}\r\n"
           "\n"
           "{\"url\":\"http://h/c\",\"url\":\"http://h/d\"}\n",
           IO_LIST_JSONL, NULL,
           "1:http://h/a\n2:http://h/b\xC3\xA9\xF0\x9F\x98\x80\n4:http://h/d\nEND\n");

    expect("{\"url\": \"http://h/a\", \"name\": \"cat\"}\n", IO_LIST_JSONL, "name",
           "1:http://h/a|cat\nEND\n");

    /* Every malformed line fails alone. */
    expect("[\"http://h/a\"]\n"
           "{\"url\": 5}\n"
           "{\"link\": \"http://h/a\"}\n"
           "{\"url\": \"http://h/a\"} x\n"
           "{\"url\": \"http://h/\\ud800\"}\n"
           "{\"url\": \"http://h/\\udc00\"}\n"
           "{\"url\": \"http://h/\\u0000\"}\n"
           "{\"url\": \"a\tb\"}\n"
           "{\"url\": \"http://h/a\", \"n\": 01}\n"
           "{\"url\": \"http://h/a\", \"n\": tru}\n"
           "{\"url\": \"http://h/a\",}\n"
           "{\"url\" \"http://h/a\"}\n"
           "{\"url\": \"http://h/ok\"}\n",
           IO_LIST_JSONL, NULL,
           "1!line 1: not valid JSON: not a JSON object at byte 1\n"
           "2!line 2: the \"url\" field is not a string\n"
           "3!line 3: no \"url\" field\n"
           "4!line 4: not valid JSON: text after the object at byte 23\n"
           "5!line 5: not valid JSON: a high surrogate without its low surrogate at byte 19\n"
           "6!line 6: not valid JSON: a lone low surrogate at byte 19\n"
           "7!line 7: not valid JSON: \\u0000 in a string at byte 19\n"
           "8!line 8: not valid JSON: a control character inside a string at byte 11\n"
           "9!line 9: not valid JSON: expected ',' or '}' at byte 29\n"
           "10!line 10: not valid JSON: not a value at byte 28\n"
           "11!line 11: not valid JSON: expected a key string at byte 22\n"
           "12!line 12: not valid JSON: expected ':' at byte 8\n"
           "13:http://h/ok\n"
           "END\n");

    /* Nesting is bounded: 64 levels skip, 65 fail (and never recurse further). */
    char deep[512];
    size_t used = (size_t)sprintf(deep, "{\"url\": \"http://h/a\", \"x\": ");
    for (int i = 0; i < 70; i++)
        deep[used++] = '[';
    for (int i = 0; i < 70; i++)
        deep[used++] = ']';
    used += (size_t)sprintf(deep + used, "}\n");
    struct io_list_options opts;
    struct transcript got;
    char err[256];
    io_list_options_init(&opts);
    opts.format = IO_LIST_JSONL;
    CHECK_EQ(read_text(deep, used, &opts, &got, err, sizeof(err)), 0);
    CHECK(strstr(got.text, "1!line 1: not valid JSON: nested deeper than 64 levels") != NULL);
}

/* gzip of `text` (one member), malloc'd. */
static uint8_t *gzip(const char *text, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    CHECK_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, len);
    uint8_t *out = malloc(cap);
    CHECK(out != NULL);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    CHECK_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static void test_gzip(void)
{
    struct io_list_options opts;
    struct transcript got;
    char err[256] = "";
    io_list_options_init(&opts);

    /* Many lines, so rows cross the inflated 64 KiB pieces. */
    size_t text_cap = 200000 * 24;
    char *text = malloc(text_cap);
    CHECK(text != NULL);
    size_t len = 0;
    for (int i = 1; i <= 200000; i++)
        len += (size_t)sprintf(text + len, "http://h/%d.jpg\n", i);
    size_t gz_len;
    uint8_t *gz = gzip(text, len, &gz_len);
    FILE *in = fmemopen(gz, gz_len, "r");
    struct io_list_reader *reader = NULL;
    CHECK_EQ(io_list_reader_create(in, &opts, &reader, err, sizeof(err)), 0);
    struct io_list_row row;
    int count = 0;
    while (io_list_reader_next(reader, &row, err, sizeof(err)) == 1) {
        char want[32];
        count++;
        snprintf(want, sizeof(want), "http://h/%d.jpg", count);
        CHECK_STR_EQ(row.url, want);
        CHECK_EQ(row.line, count);
    }
    CHECK_EQ(count, 200000);
    io_list_reader_destroy(reader);
    fclose(in);

    /* Read as it is when asked to, gzip or not. */
    opts.compression = IO_LIST_UNCOMPRESSED;
    CHECK_EQ(read_text(gz, gz_len, &opts, &got, err, sizeof(err)), 0);
    CHECK_STR_EQ(got.text, "FATAL:line 1: contains a NUL byte (not a text file?)\n");

    free(gz);

    /* Cut short: the rows read so far, then a clear end. */
    opts.compression = IO_LIST_COMPRESSION_AUTO;
    gz = gzip(text, 300 * 16, &gz_len);
    CHECK_EQ(read_text(gz, gz_len / 2, &opts, &got, err, sizeof(err)), 0);
    CHECK(strncmp(got.text, "1:http://h/1.jpg\n", 17) == 0);
    CHECK(strstr(got.text, "\nFATAL:the gzip list is cut short (no end of stream)\n") != NULL);
    free(gz);

    /* Two members (cat a.gz b.gz) are one list; CSV inside gzip. */
    size_t a_len;
    size_t b_len;
    uint8_t *a = gzip("url\nhttp://h/1\n", 15, &a_len);
    uint8_t *b = gzip("http://h/2\n", 11, &b_len);
    uint8_t *both = malloc(a_len + b_len);
    memcpy(both, a, a_len);
    memcpy(both + a_len, b, b_len);
    opts.format = IO_LIST_CSV;
    CHECK_EQ(read_text(both, a_len + b_len, &opts, &got, err, sizeof(err)), 0);
    CHECK_STR_EQ(got.text, "2:http://h/1\n3:http://h/2\nEND\n");

    /* Corrupt data after a good member. */
    memset(both + a_len, 0x1f, b_len);
    CHECK_EQ(read_text(both, a_len + b_len, &opts, &got, err, sizeof(err)), 0);
    CHECK(strstr(got.text, "2:http://h/1\nFATAL:the gzip list is corrupt") != NULL);

    /* Named .gz, not gzip: a setup error. */
    opts.compression = IO_LIST_GZIP;
    CHECK_EQ(read_text("url\nhttp://h/1\n", 15, &opts, &got, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "the list is named .gz but is not gzip data");
    free(a);
    free(b);
    free(both);
    free(text);
}

static void test_format_from_path(void)
{
    bool gz;
    CHECK_EQ(io_list_format_from_path("urls.txt", &gz), IO_LIST_PLAIN);
    CHECK(!gz);
    CHECK_EQ(io_list_format_from_path("a/urls.csv.gz", &gz), IO_LIST_CSV);
    CHECK(gz);
    CHECK_EQ(io_list_format_from_path("urls.tsv", &gz), IO_LIST_TSV);
    CHECK_EQ(io_list_format_from_path("urls.ndjson", &gz), IO_LIST_JSONL);
    CHECK_EQ(io_list_format_from_path("urls.jsonl.gz", &gz), IO_LIST_JSONL);
    CHECK(gz);
    CHECK_EQ(io_list_format_from_path("-", &gz), IO_LIST_PLAIN);
}

/* Rows come out of a pipe while its writer still holds it open: the writer
 * sends two lines, then waits (on a second pipe) until the reader has read
 * both before it writes the rest. A reader that waited for the end of the
 * list would hang here (the alarm ends the test). */
static void test_pipe_streams(enum io_list_format format, const char *head, const char *rest)
{
    int data[2];
    int ack[2];
    CHECK_EQ(pipe(data), 0);
    CHECK_EQ(pipe(ack), 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(data[0]);
        close(ack[1]);
        char byte;
        if (write(data[1], head, strlen(head)) != (ssize_t)strlen(head))
            _exit(1);
        if (read(ack[0], &byte, 1) != 1)
            _exit(2);
        if (write(data[1], rest, strlen(rest)) != (ssize_t)strlen(rest))
            _exit(3);
        _exit(0);
    }
    close(data[1]);
    close(ack[0]);
    alarm(10);
    FILE *in = fdopen(data[0], "r");
    CHECK(in != NULL);
    struct io_list_options opts;
    io_list_options_init(&opts);
    opts.format = format;
    struct io_list_reader *reader = NULL;
    char err[256];
    CHECK_EQ(io_list_reader_create(in, &opts, &reader, err, sizeof(err)), 0);
    struct io_list_row row;
    CHECK_EQ(io_list_reader_next(reader, &row, err, sizeof(err)), 1);
    CHECK_STR_EQ(row.url, "http://h/1");
    CHECK_EQ(io_list_reader_next(reader, &row, err, sizeof(err)), 1);
    CHECK_STR_EQ(row.url, "http://h/2");
    CHECK_EQ(write(ack[1], "k", 1), 1);
    CHECK_EQ(io_list_reader_next(reader, &row, err, sizeof(err)), 1);
    CHECK_STR_EQ(row.url, "http://h/3");
    CHECK_EQ(io_list_reader_next(reader, &row, err, sizeof(err)), 0);
    alarm(0);
    io_list_reader_destroy(reader);
    fclose(in);
    close(ack[1]);
    int status;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The whole-list reader over any format: a malformed row becomes an entry
 * that io_url_check refuses with the row's reason, in its place. */
static void test_url_list_rows(void)
{
    const char *text = "url,caption\nhttp://h/a,x\n\"http://h/b\"c,y\nhttp://h/c,z\n";
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    CHECK(in != NULL);
    struct io_list_options opts;
    io_list_options_init(&opts);
    opts.format = IO_LIST_CSV;
    struct io_url_list list;
    io_url_list_init(&list);
    char err[256] = "";
    CHECK_EQ(io_url_list_read_rows(&list, in, &opts, NULL, NULL, err, sizeof(err)), 0);
    fclose(in);
    CHECK_EQ(list.count, 3);
    CHECK_STR_EQ(list.entries[0].url, "http://h/a");
    CHECK_EQ(list.entries[1].line, 3);
    CHECK_STR_EQ(list.entries[1].url, "(line 3: malformed row: text after a closing quote)");
    CHECK_EQ(io_url_check(list.entries[1].url, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "malformed row: text after a closing quote");
    CHECK_STR_EQ(list.entries[2].url, "http://h/c");
    CHECK_EQ(io_url_check(list.entries[2].url, err, sizeof(err)), 0);
    io_url_list_finish(&list);

    /* A missing column is the reader's setup error. */
    in = fmemopen((void *)text, strlen(text), "r");
    opts.url_column = "link";
    io_url_list_init(&list);
    CHECK_EQ(io_url_list_read_rows(&list, in, &opts, NULL, NULL, err, sizeof(err)), -ENOENT);
    CHECK_EQ(list.count, 0);
    fclose(in);
    io_url_list_finish(&list);
    /* Anything else in parentheses is checked as a URL (and refused as one). */
    CHECK_EQ(io_url_check("(line 3)", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "malformed URL") != NULL);
}

int main(void)
{
    test_url_list_rows();
    test_plain();
    test_csv();
    test_csv_setup_errors();
    test_jsonl();
    test_gzip();
    test_format_from_path();
    test_pipe_streams(IO_LIST_PLAIN, "http://h/1\nhttp://h/2\n", "http://h/3\n");
    test_pipe_streams(IO_LIST_CSV, "url\nhttp://h/1\nhttp://h/2\n", "http://h/3\n");
    test_pipe_streams(IO_LIST_JSONL, "{\"url\":\"http://h/1\"}\n{\"url\":\"http://h/2\"}\n",
                      "{\"url\":\"http://h/3\"}\n");
    return 0;
}
