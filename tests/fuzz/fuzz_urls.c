/* libFuzzer harness for what the URL list goes through before any I/O: the
 * list reader, the URL check, output naming and the collision renaming.
 *
 * The contracts checked are the ones that keep outputs inside the output
 * folder: every name is a plain, visible file name from a small alphabet,
 * ending in ".png", short enough for any file system; a set of URLs gets
 * distinct names (or a refusal, never a silent overwrite); and a URL that
 * passes io_url_check is http(s) with no blank or control byte. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_urls: %s%s%s\n", what, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    abort();
}

static void check_printable(const char *text, size_t text_size)
{
    const char *end = memchr(text, '\0', text_size);
    if (end == NULL)
        fail("message not terminated", NULL);
    for (const char *p = text; p < end; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fail("message has a control byte", text);
    }
}

static void check_name(const char *name)
{
    size_t len = strlen(name);
    if (len <= strlen(".png") || len > 200)
        fail("output name empty or too long", name);
    if (strcmp(name + len - 4, ".png") != 0)
        fail("output name does not end in .png", name);
    if (name[0] == '.')
        fail("output name is hidden or a dot name", name);
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            fail("output name has an unsafe character", name);
    }
}

static void check_url(const char *url)
{
    char err[256] = "";
    char name[256];

    int rc = io_url_check(url, err, sizeof(err));
    if (rc < 0) {
        check_printable(err, sizeof(err));
    } else {
        /* libcurl's parser is lenient about the slashes ("http:/host/"),
         * but the scheme must be http or https. */
        if (strncasecmp(url, "http:", 5) != 0 && strncasecmp(url, "https:", 6) != 0)
            fail("accepted a URL that is not http(s)", url);
        for (const char *p = url; *p != '\0'; p++) {
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                fail("accepted a URL with a blank or control byte", url);
        }
    }
    /* Naming never depends on the check: any string gets a safe name. */
    if (io_output_name(url, name, sizeof(name)) < 0)
        fail("io_output_name failed with a large buffer", url);
    check_name(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct io_url_list list;
    char err[256] = "";

    /* The whole input as one URL (what a command-line argument can be). */
    char *whole = malloc(size + 1);
    if (whole == NULL)
        return 0;
    memcpy(whole, data, size);
    whole[size] = '\0';
    check_url(whole);
    free(whole);

    /* The whole input as a URL list. fmemopen wants a non-empty buffer. */
    if (size == 0)
        return 0;
    FILE *in = fmemopen((void *)data, size, "r");
    if (in == NULL)
        return 0;
    io_url_list_init(&list);
    int rc = io_url_list_read(&list, in, err, sizeof(err));
    fclose(in);
    if (rc < 0)
        check_printable(err, sizeof(err));

    const char **valid = calloc(list.count + 1, sizeof(*valid));
    char **names = calloc(list.count + 1, sizeof(*names));
    size_t valid_count = 0;
    if (valid == NULL || names == NULL)
        goto out;
    for (size_t i = 0; i < list.count; i++) {
        const char *url = list.entries[i].url;
        if (list.entries[i].line == 0)
            fail("list entry without a line number", url);
        if (url[0] == '\0' || url[0] == '#' || url[0] == ' ' || url[0] == '\t')
            fail("list kept a blank, comment or untrimmed line", url);
        check_url(url);
        if (io_url_check(url, err, sizeof(err)) < 0)
            continue;
        /* io_assign_output_names wants distinct URLs, as the pipeline
         * guarantees by removing repeats first. */
        bool repeated = false;
        for (size_t j = 0; j < valid_count && !repeated; j++)
            repeated = strcmp(valid[j], url) == 0;
        if (!repeated)
            valid[valid_count++] = url;
    }
    rc = io_assign_output_names(valid, valid_count, names);
    if (rc == 0) {
        for (size_t i = 0; i < valid_count; i++) {
            check_name(names[i]);
            for (size_t j = 0; j < i; j++) {
                if (strcmp(names[i], names[j]) == 0)
                    fail("two URLs got the same output name", names[i]);
            }
        }
        for (size_t i = 0; i < valid_count; i++)
            free(names[i]);
    } else if (rc != -ENOMEM) {
        /* Never -EEXIST: a clash moves names up a level, it does not refuse. */
        fail("io_assign_output_names failed unexpectedly", NULL);
    }
out:
    free(names);
    free(valid);
    io_url_list_finish(&list);
    return 0;
}
