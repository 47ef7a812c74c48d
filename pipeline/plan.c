/* --dry-run: what pl_run would do with each item, decided by the same rules
 * (repeats fetched once, URLs checked before I/O, names over the whole set
 * of valid URLs, this shard's items, resume by the Source of what is there),
 * with no request, no worker and no write. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "run_private.h"

int pl_plan(const struct pl_options *opts, const struct io_url_list *urls, pl_plan_cb on_item,
            void *user, char *err, size_t err_size)
{
    size_t count = urls->count;
    /* Repeats are found as pl_run finds them (triage.c): one byte a line. */
    uint8_t *repeat = calloc(count ? count : 1, sizeof(*repeat));
    const char **valid = malloc((count ? count : 1) * sizeof(*valid));
    const char **givens = malloc((count ? count : 1) * sizeof(*givens));
    uint8_t *levels = malloc((count ? count : 1) * sizeof(*levels));
    struct io_name_table *names = NULL;
    size_t valid_count = 0;
    int rc = -ENOMEM;

    if (repeat == NULL || valid == NULL || givens == NULL || levels == NULL ||
        find_duplicates(urls, repeat) < 0)
        goto out;
    for (size_t i = 0; i < count; i++) {
        char why[256];
        if ((repeat[i] & ITEM_DUPLICATE) == 0 &&
            io_url_check(urls->entries[i].url, why, sizeof(why)) == 0) {
            givens[valid_count] = urls->entries[i].name;
            valid[valid_count++] = urls->entries[i].url;
        }
    }
    /* Positional names need no pass over the set: levels stay 0. */
    bool positional = opts->layout == IO_LAYOUT_POSITIONAL;
    if (positional)
        memset(levels, 0, count ? count : 1);
    else
        rc = io_name_table_create_named(valid, givens, valid_count, levels, &names);
    if (!positional && rc < 0)
        goto out;
    size_t index = 0;
    size_t valid_index = 0;
    for (size_t i = 0; i < count; i++) {
        if (repeat[i] & ITEM_DUPLICATE)
            continue;
        char why[256] = "";
        char name[IO_OUTPUT_NAME_SIZE] = "";
        const char *url = urls->entries[i].url;
        const char *given = urls->entries[i].name;
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
            io_layout_named(opts->layout, url, given, level, item.line, name, sizeof(name));
            item.action = PL_PLAN_OTHER_SHARD;
            on_item(&item, user);
            continue;
        }
        int resume;
        if (positional) {
            io_layout_name(opts->layout, url, level, item.line, name, sizeof(name));
            resume = io_layout_resume(opts->output_dir, url, opts->force, name);
        } else {
            resume = io_resume_named(opts->output_dir, url, given, opts->force, names, &level, name,
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
    free(givens);
    free(repeat);
    return rc;
}
