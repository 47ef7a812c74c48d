#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "io.h"
#include "listread_private.h"

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

/* `text` without the blanks around it: its start, and its length. */
static const char *trimmed(const char *text, size_t *len)
{
    while (*text != '\0' && is_blank((unsigned char)*text))
        text++;
    *len = strlen(text);
    while (*len > 0 && is_blank((unsigned char)text[*len - 1]))
        (*len)--;
    return text;
}

int io_url_list_add(struct io_url_list *list, const char *url, unsigned line)
{
    return io_url_list_add_named(list, url, NULL, line);
}

int io_url_list_add_named(struct io_url_list *list, const char *url, const char *name,
                          unsigned line)
{
    size_t len;
    const char *start = trimmed(url, &len);
    size_t name_len = 0;
    const char *name_start = name != NULL ? trimmed(name, &name_len) : NULL;

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
    char *name_copy = NULL;
    if (name_len > 0) {
        name_copy = store_text(list, name_start, name_len);
        if (name_copy == NULL)
            return -ENOMEM;
    }
    list->entries[list->count].url = copy;
    list->entries[list->count].line = line;
    list->entries[list->count].name = name_copy;
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

/* What a row that could not be read is kept as: "(line N: why)", refused
 * by io_url_check with its reason. Nothing of that shape is a URL (no
 * scheme), so a list line that happens to look like one loses nothing. */
const char *io_list_row_text(const struct io_list_row *row, char *stand_in)
{
    if (row->error == 0)
        return row->url;
    if (row->error == -E2BIG) /* fails alone, as its own item, with its line number */
        snprintf(stand_in, IO_ROW_STAND_IN_SIZE, TOO_LONG_FORMAT, (unsigned)row->line,
                 MAX_LINE_BYTES);
    else
        snprintf(stand_in, IO_ROW_STAND_IN_SIZE, "(%s)", row->message);
    return stand_in;
}

static int add_failed_row(struct io_url_list *list, const struct io_list_row *row,
                          io_url_keep_fn keep, void *keep_user)
{
    char stand_in[IO_ROW_STAND_IN_SIZE];
    io_list_row_text(row, stand_in);
    if (keep != NULL && !keep(stand_in, keep_user))
        return 0;
    return io_url_list_add(list, stand_in, (unsigned)row->line);
}

int io_url_list_read_rows(struct io_url_list *list, FILE *in, const struct io_list_options *opts,
                          io_url_keep_fn keep, void *keep_user, char *err, size_t err_size)
{
    struct io_list_reader *reader = NULL;
    int rc = io_list_reader_create(in, opts, &reader, err, err_size);
    if (rc < 0)
        return rc;
    for (;;) {
        struct io_list_row row;
        int got = io_list_reader_next(reader, &row, err, err_size);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (row.error == 0 && keep != NULL && !keep(row.url, keep_user))
            continue;
        rc = row.error != 0 ? add_failed_row(list, &row, keep, keep_user)
                            : io_url_list_add_named(list, row.url, row.name, (unsigned)row.line);
        if (rc < 0) {
            snprintf(err, err_size, "out of memory reading the URL list");
            break;
        }
    }
    list->lines_read = (unsigned)io_list_reader_line(reader);
    io_list_reader_destroy(reader);
    return rc;
}

/* The plain format of the streaming reader (io/listread.c), every row kept:
 * one reader of list lines for both. */
int io_url_list_read(struct io_url_list *list, FILE *in, char *err, size_t err_size)
{
    struct io_list_options opts;
    io_list_options_init(&opts);
    /* Plain lists read as they always were: gzip only when asked for. */
    opts.compression = IO_LIST_UNCOMPRESSED;
    return io_url_list_read_rows(list, in, &opts, NULL, NULL, err, err_size);
}

/* 1 when `url` is the stand-in of a row that could not be read:
 * "(line N: why)"; *why points at "why" (up to the closing parenthesis). */
static int is_failed_row_stand_in(const char *url, const char **why, int *why_len)
{
    unsigned line_no;
    int consumed = 0;
    size_t len = strlen(url);
    if (strncmp(url, "(line ", 6) != 0 || url[len - 1] != ')' ||
        sscanf(url, "(line %u: %n", &line_no, &consumed) != 1 || consumed == 0)
        return 0;
    /* The reason is echoed into the item's message: a line of this shape
     * typed into the list with a control byte in it is no stand-in of ours
     * (the reader's reasons are plain text), and is refused as any URL with
     * one is, so no byte of the list reaches a terminal raw. */
    for (size_t i = (size_t)consumed; i + 1 < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    *why = url + consumed;
    *why_len = (int)(len - 1 - (size_t)consumed);
    return 1;
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
    const char *why;
    int why_len;
    if (is_failed_row_stand_in(url, &why, &why_len)) {
        snprintf(err, err_size, "%.*s", why_len, why);
        return -EINVAL;
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
