#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "io.h"

/* A URL list line longer than this is not a URL someone meant: refuse the list
 * rather than buffer without bound. */
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

int io_url_list_read(struct io_url_list *list, FILE *in, char *err, size_t err_size)
{
    char *line = NULL;
    size_t line_cap = 0;
    unsigned line_no = 0;
    int rc = 0;

    for (;;) {
        errno = 0;
        ssize_t got = getline(&line, &line_cap, in);
        if (got < 0) {
            if (errno != 0 && ferror(in)) {
                rc = -errno;
                snprintf(err, err_size, "reading the URL list: %s", strerror(errno));
            }
            break;
        }
        line_no++;
        if ((size_t)got > MAX_LINE_BYTES) {
            rc = -E2BIG;
            snprintf(err, err_size, "line %u: longer than %d bytes", line_no, MAX_LINE_BYTES);
            break;
        }
        if (memchr(line, '\0', (size_t)got) != NULL) {
            rc = -EINVAL;
            snprintf(err, err_size, "line %u: contains a NUL byte (not a text file?)", line_no);
            break;
        }
        char *text = line;
        /* UTF-8 byte order mark, as Windows editors write it. */
        if (line_no == 1 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
            text += 3;
        while (*text != '\0' && is_blank((unsigned char)*text))
            text++;
        if (*text == '\0' || *text == '#')
            continue;
        rc = io_url_list_add(list, text, line_no);
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
