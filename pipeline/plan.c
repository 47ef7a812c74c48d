/* --dry-run: what pl_run would do with each item, decided by the same rules
 * (repeats fetched once, URLs checked before I/O, names over the whole set
 * of valid URLs, this shard's items, resume by the Source of what is there),
 * with no request, no worker and no write. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static int compare_entries(const void *a, const void *b)
{
    const struct io_url_entry *const *ea = a;
    const struct io_url_entry *const *eb = b;
    int by_url = strcmp((*ea)->url, (*eb)->url);
    if (by_url != 0)
        return by_url;
    return (*ea > *eb) - (*ea < *eb); /* the earlier line is the one kept */
}

/* Marks each line that repeats an earlier one. */
static int mark_repeats(const struct io_url_list *urls, bool *repeat)
{
    const struct io_url_entry **sorted = malloc((urls->count ? urls->count : 1) * sizeof(*sorted));
    if (sorted == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < urls->count; i++)
        sorted[i] = &urls->entries[i];
    qsort(sorted, urls->count, sizeof(*sorted), compare_entries);
    for (size_t i = 1; i < urls->count; i++)
        if (strcmp(sorted[i]->url, sorted[i - 1]->url) == 0)
            repeat[sorted[i] - urls->entries] = true;
    free(sorted);
    return 0;
}

int pl_plan(const struct pl_options *opts, const struct io_url_list *urls, pl_plan_cb on_item,
            void *user, char *err, size_t err_size)
{
    size_t count = urls->count;
    bool *repeat = calloc(count ? count : 1, sizeof(*repeat));
    const char **valid = malloc((count ? count : 1) * sizeof(*valid));
    uint8_t *levels = malloc((count ? count : 1) * sizeof(*levels));
    struct io_name_table *names = NULL;
    size_t valid_count = 0;
    int rc = -ENOMEM;

    if (repeat == NULL || valid == NULL || levels == NULL || mark_repeats(urls, repeat) < 0)
        goto out;
    for (size_t i = 0; i < count; i++) {
        char why[256];
        if (!repeat[i] && io_url_check(urls->entries[i].url, why, sizeof(why)) == 0)
            valid[valid_count++] = urls->entries[i].url;
    }
    /* Positional names need no pass over the set: levels stay 0. */
    bool positional = opts->layout == IO_LAYOUT_POSITIONAL;
    if (positional)
        memset(levels, 0, count ? count : 1);
    else
        rc = io_name_table_create(valid, valid_count, levels, &names);
    if (!positional && rc < 0)
        goto out;
    size_t index = 0;
    size_t valid_index = 0;
    for (size_t i = 0; i < count; i++) {
        if (repeat[i])
            continue;
        char why[256] = "";
        char name[IO_OUTPUT_NAME_SIZE] = "";
        const char *url = urls->entries[i].url;
        struct pl_plan_item item = {
            .index = index++,
            .line = urls->entries[i].line,
            .url = url,
            .shard = pl_shard_of(url, opts->shard_count > 1 ? opts->shard_count : 1),
            .reason = why,
        };
        if (io_url_check(url, why, sizeof(why)) < 0) {
            item.action = PL_PLAN_REFUSED;
            on_item(&item, user);
            continue;
        }
        uint8_t level = levels[valid_index++];
        item.output_name = name;
        if (opts->shard_count > 1 && item.shard != opts->shard_index) {
            io_layout_name(opts->layout, url, level, item.line, name, sizeof(name));
            item.action = PL_PLAN_OTHER_SHARD;
            on_item(&item, user);
            continue;
        }
        int resume;
        if (positional) {
            io_layout_name(opts->layout, url, level, item.line, name, sizeof(name));
            resume = io_layout_resume(opts->output_dir, url, opts->force, name);
        } else {
            resume = io_resume_name(opts->output_dir, url, opts->force, names, &level, name,
                                    sizeof(name));
        }
        if (resume == -ENOMEM) {
            rc = resume;
            goto out;
        }
        if (resume < 0) {
            item.action = PL_PLAN_NAME_HELD;
            item.output_name = NULL;
            snprintf(why, sizeof(why), "%s",
                     positional ? "its positional name holds another URL's output"
                                : "every output name of this URL holds another URL's output");
        } else {
            item.action = resume == IO_RESUME_DONE ? PL_PLAN_SKIP : PL_PLAN_FETCH;
        }
        on_item(&item, user);
    }
    rc = 0;
out:
    if (rc == -ENOMEM)
        snprintf(err, err_size, "out of memory for %zu URLs", count);
    else if (rc < 0)
        snprintf(err, err_size, "naming the outputs: %s", strerror(-rc));
    io_name_table_destroy(names);
    free(levels);
    free(valid);
    free(repeat);
    return rc;
}
