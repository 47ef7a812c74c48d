#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "io.h"

/* A URL list line longer than this is not a URL someone meant: it fails as
 * an item of its own, and only this much of it is ever held. */
#define MAX_LINE_BYTES (64 * 1024)

/* URL text is packed into blocks this large (a longer URL gets a block of its
 * own size): a malloc per URL would add its header and rounding, ~15 bytes a
 * line, for the whole run. */
#define BLOCK_BYTES (64 * 1024)

struct io_url_block {
    struct io_url_block *next;
    size_t size; /* bytes of text */
    size_t used;
    char text[];
};

void io_url_list_init(struct io_url_list *list)
{
    memset(list, 0, sizeof(*list));
}

void io_url_list_finish(struct io_url_list *list)
{
    if (list == NULL)
        return;
    while (list->blocks != NULL) {
        struct io_url_block *next = list->blocks->next;
        free(list->blocks);
        list->blocks = next;
    }
    free(list->entries);
    memset(list, 0, sizeof(*list));
}

/* A NUL-terminated copy of `len` bytes, in the newest block when it fits. A
 * block left with less room than a URL needs wastes at most that URL's size. */
static char *store_text(struct io_url_list *list, const char *text, size_t len)
{
    struct io_url_block *block = list->blocks;
    if (block == NULL || block->size - block->used < len + 1) {
        size_t size = len + 1 > BLOCK_BYTES ? len + 1 : BLOCK_BYTES;
        block = malloc(sizeof(*block) + size);
        if (block == NULL)
            return NULL;
        block->next = list->blocks;
        block->size = size;
        block->used = 0;
        list->blocks = block;
    }
    char *copy = block->text + block->used;
    memcpy(copy, text, len);
    copy[len] = '\0';
    block->used += len + 1;
    return copy;
}

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int io_url_list_add(struct io_url_list *list, const char *url, unsigned line)
{
    const char *start = url;
    while (*start != '\0' && is_blank((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len > 0 && is_blank((unsigned char)start[len - 1]))
        len--;

    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        struct io_url_entry *entries = realloc(list->entries, capacity * sizeof(*entries));
        if (entries == NULL)
            return -ENOMEM;
        list->entries = entries;
        list->capacity = capacity;
    }
    char *copy = store_text(list, start, len);
    if (copy == NULL)
        return -ENOMEM;
    list->entries[list->count].url = copy;
    list->entries[list->count].line = line;
    list->count++;
    return 0;
}

/* What an over-long line is kept as: not its text (which was never held),
 * but a stand-in that io_url_check refuses with the reason, numbered so that
 * two such lines are two items, not one URL and its repeat. */
#define TOO_LONG_FORMAT "(line %u: longer than %d bytes, not read)"

/* 1 when `url` is the stand-in of an over-long line (TOO_LONG_FORMAT). */
static int is_too_long_stand_in(const char *url)
{
    char expected[sizeof(TOO_LONG_FORMAT) + 32];
    unsigned line_no;
    if (strncmp(url, "(line ", 6) != 0 || sscanf(url, "(line %u:", &line_no) != 1)
        return 0;
    snprintf(expected, sizeof(expected), TOO_LONG_FORMAT, line_no, MAX_LINE_BYTES);
    return strcmp(url, expected) == 0;
}

/* Reads one line into `line` (room for MAX_LINE_BYTES + 1), keeping at most
 * MAX_LINE_BYTES of it: memory stays bounded whatever the input, an endless
 * line included. Returns 1 with a line (*too_long when bytes were dropped),
 * 0 at the end of the input, -EINVAL at a NUL byte (left unread past it), or
 * a read error. */
static int read_line(FILE *in, char *line, size_t *len, bool *too_long)
{
    int c;
    *len = 0;
    *too_long = false;
    while ((c = getc_unlocked(in)) != EOF && c != '\n') {
        if (c == '\0')
            return -EINVAL;
        if (*len < MAX_LINE_BYTES)
            line[(*len)++] = (char)c;
        else
            *too_long = true;
    }
    line[*len] = '\0';
    if (c == EOF && ferror(in))
        return errno != 0 ? -errno : -EIO;
    return c == EOF && *len == 0 && !*too_long ? 0 : 1;
}

int io_url_list_read(struct io_url_list *list, FILE *in, char *err, size_t err_size)
{
    char *line = malloc(MAX_LINE_BYTES + 1);
    unsigned line_no = 0;
    int rc = 0;

    if (line == NULL) {
        snprintf(err, err_size, "out of memory reading the URL list");
        return -ENOMEM;
    }
    for (;;) {
        size_t len;
        bool too_long;
        errno = 0;
        int got = read_line(in, line, &len, &too_long);
        if (got == 0)
            break;
        line_no++;
        if (got == -EINVAL) {
            /* A binary file (or /dev/zero): refused at its first NUL rather
             * than read as one endless line. */
            rc = -EINVAL;
            snprintf(err, err_size, "line %u: contains a NUL byte (not a text file?)", line_no);
            break;
        }
        if (got < 0) {
            rc = got;
            snprintf(err, err_size, "reading the URL list: %s", strerror(-got));
            break;
        }
        char *text = line;
        /* UTF-8 byte order mark, as Windows editors write it. */
        if (line_no == 1 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
            text += 3;
        while (*text != '\0' && is_blank((unsigned char)*text))
            text++;
        if (*text == '#' || (*text == '\0' && !too_long))
            continue;
        if (too_long) {
            /* Fails alone, as its own item, with its line number. */
            char stand_in[sizeof(TOO_LONG_FORMAT) + 32];
            snprintf(stand_in, sizeof(stand_in), TOO_LONG_FORMAT, line_no, MAX_LINE_BYTES);
            rc = io_url_list_add(list, stand_in, line_no);
        } else {
            rc = io_url_list_add(list, text, line_no);
        }
        if (rc < 0) {
            snprintf(err, err_size, "out of memory reading the URL list");
            break;
        }
    }
    free(line);
    return rc;
}

int io_url_check(const char *url, char *err, size_t err_size)
{
    int rc = 0;
    char *scheme = NULL;
    char *host = NULL;

    if (is_too_long_stand_in(url)) {
        snprintf(err, err_size, "line longer than %d bytes: not read (no URL is that long)",
                 MAX_LINE_BYTES);
        return -E2BIG;
    }
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == ' ') {
            snprintf(err, err_size, "malformed URL: contains a space or control character");
            return -EINVAL;
        }
    }
    CURLU *parsed = curl_url();
    if (parsed == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    /* Accept any scheme at parse time so the error below can name it. */
    CURLUcode uc = curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK && strstr(url, "://") == NULL) {
        rc = -EINVAL;
        snprintf(err, err_size, "malformed URL: no scheme (want http:// or https://)");
        goto out;
    }
    if (uc != CURLUE_OK) {
        rc = -EINVAL;
        snprintf(err, err_size, "malformed URL: %s", curl_url_strerror(uc));
        goto out;
    }
    uc = curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0);
    if (uc != CURLUE_OK) {
        rc = -EINVAL;
        snprintf(err, err_size, "malformed URL: no scheme");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = -EPROTONOSUPPORT;
        snprintf(err, err_size, "unsupported scheme \"%s\" (only http and https)", scheme);
        goto out;
    }
    uc = curl_url_get(parsed, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || host[0] == '\0') {
        rc = -EINVAL;
        snprintf(err, err_size, "malformed URL: no host");
        goto out;
    }
out:
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(parsed);
    return rc;
}
