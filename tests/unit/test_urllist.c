/* Unit tests for the bounded URL list reader (io/urllist.c, issue 10 item
 * 17): an over-long line fails alone with its line number, the rest of the
 * list is kept, NUL bytes refuse the list, and a line exactly at the limit
 * is a URL like any other. Lists are real streams (fmemopen, a pipe). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io.h"

#define MAX_LINE (64 * 1024)

/* "http://127.0.0.1/" padded with 'x' to `length` bytes, then "\n". */
static size_t put_url(char *out, size_t length)
{
    memcpy(out, "http://127.0.0.1/", 17);
    memset(out + 17, 'x', length - 17);
    out[length] = '\n';
    return length + 1;
}

static void test_long_line_fails_alone(void)
{
    size_t size = 4 * MAX_LINE + 256;
    char *text = malloc(size);
    CHECK(text != NULL);
    size_t used = 0;
    used += (size_t)sprintf(text + used, "http://127.0.0.1/a.jpg\n");
    used += put_url(text + used, MAX_LINE + 1); /* line 2: one byte too long */
    used += put_url(text + used, MAX_LINE);     /* line 3: exactly the limit */
    used += put_url(text + used, MAX_LINE + 1); /* line 4: same text as line 2 */
    memset(text + used, '#', MAX_LINE + 10);    /* line 5: a long comment */
    used += MAX_LINE + 10;
    used += (size_t)sprintf(text + used, "\nhttp://127.0.0.1/b.jpg"); /* line 6 */

    struct io_url_list list;
    char err[256] = "";
    FILE *in = fmemopen(text, used, "r");
    CHECK(in != NULL);
    io_url_list_init(&list);
    CHECK_EQ(io_url_list_read(&list, in, err, sizeof(err)), 0);
    fclose(in);

    CHECK_EQ(list.count, 5);
    CHECK_STR_EQ(list.entries[0].url, "http://127.0.0.1/a.jpg");
    CHECK_EQ(list.entries[1].line, 2);
    CHECK_STR_EQ(list.entries[1].url, "(line 2: longer than 65536 bytes, not read)");
    CHECK_EQ(io_url_check(list.entries[1].url, err, sizeof(err)), -E2BIG);
    CHECK(strstr(err, "longer than 65536 bytes") != NULL);
    CHECK_EQ(list.entries[2].line, 3);
    CHECK_EQ(strlen(list.entries[2].url), MAX_LINE);
    CHECK_EQ(io_url_check(list.entries[2].url, err, sizeof(err)), 0);
    /* Two over-long lines are two items, not a URL and its repeat. */
    CHECK_EQ(list.entries[3].line, 4);
    CHECK(strcmp(list.entries[1].url, list.entries[3].url) != 0);
    CHECK_EQ(list.entries[4].line, 6);
    CHECK_STR_EQ(list.entries[4].url, "http://127.0.0.1/b.jpg");
    io_url_list_finish(&list);
    free(text);

    /* Only the exact stand-in is refused that way: a URL that merely starts
     * alike is checked as any URL is. */
    CHECK_EQ(io_url_check("(line 2: longer than 65536 bytes, not read)x", err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(io_url_check("(line 2: longer than 1 bytes, not read)", err, sizeof(err)), -EINVAL);

    /* A list line shaped like a failed row's stand-in, "(line N: why)", is
     * refused with its reason; one with a control byte in it is not ours and
     * must not have that byte echoed into the message (found by fuzz_urls). */
    CHECK_EQ(io_url_check("(line 3: bad row)", err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "bad row");
    CHECK_EQ(io_url_check("(line 712: no\xff\x05\x1b[2Jad)", err, sizeof(err)), -EINVAL);
    for (const char *p = err; *p != '\0'; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
    CHECK(strstr(err, "control character") != NULL);
}

/* A 64 MiB line through a pipe with no newline at its end: one entry, read
 * in bounded pieces (ASan would report nothing, but the point is the entry:
 * an endless line is a single item, not a refused list). */
static void test_endless_line_from_pipe(void)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(fds[0]);
        static char chunk[1 << 16];
        memset(chunk, 'y', sizeof(chunk));
        for (int i = 0; i < 1024; i++)
            if (write(fds[1], chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
                _exit(1);
        _exit(0);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    CHECK(in != NULL);
    struct io_url_list list;
    char err[256] = "";
    io_url_list_init(&list);
    CHECK_EQ(io_url_list_read(&list, in, err, sizeof(err)), 0);
    fclose(in);
    CHECK_EQ(list.count, 1);
    CHECK_EQ(list.entries[0].line, 1);
    CHECK_EQ(io_url_check(list.entries[0].url, err, sizeof(err)), -E2BIG);
    io_url_list_finish(&list);
}

static void test_nul_refuses(void)
{
    /* A NUL inside an over-long line still means a binary file. */
    size_t size = MAX_LINE + 64;
    char *text = calloc(1, size);
    CHECK(text != NULL);
    memset(text, 'z', MAX_LINE + 16);
    struct io_url_list list;
    char err[256] = "";
    FILE *in = fmemopen(text, size, "r");
    io_url_list_init(&list);
    CHECK_EQ(io_url_list_read(&list, in, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "line 1: contains a NUL byte") != NULL);
    fclose(in);
    io_url_list_finish(&list);
    free(text);
}

int main(void)
{
    test_long_line_fails_alone();
    test_endless_line_from_pipe();
    test_nul_refuses();
    return 0;
}
