/* List triage: what each line of the list is before anything is fetched:
 * a repeat, a refused URL, another shard's item, a name that collides, an
 * output already there (resume). What it keeps is one byte a line
 * (run->item_flags); the list cursor (run->next_entry) walks it lazily as
 * the admission policy takes new items. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_private.h"

static int compare_url_refs(const void *a, const void *b)
{
    const struct io_url_entry *const *ea = a;
    const struct io_url_entry *const *eb = b;
    int by_url = strcmp((*ea)->url, (*eb)->url);
    if (by_url != 0)
        return by_url;
    /* Same URL: the earlier entry first, so it is the one kept. */
    return (*ea > *eb) - (*ea < *eb);
}

long find_duplicates(const struct io_url_list *urls, uint8_t *item_flags)
{
    const struct io_url_entry **sorted = malloc((urls->count ? urls->count : 1) * sizeof(*sorted));
    if (sorted == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < urls->count; i++)
        sorted[i] = &urls->entries[i];
    qsort(sorted, urls->count, sizeof(*sorted), compare_url_refs);
    long duplicates = 0;
    for (size_t i = 1; i < urls->count; i++) {
        if (strcmp(sorted[i]->url, sorted[i - 1]->url) == 0) {
            item_flags[sorted[i] - urls->entries] |= ITEM_DUPLICATE;
            duplicates++;
        }
    }
    free(sorted);
    return duplicates;
}

/* Sorts out the lines of the list: repeats, refused URLs, other shards'
 * items, and whose names collide, naming over the whole set of valid URLs so
 * that names depend neither on the order nor on the shard. What it keeps is
 * run->item_flags, one byte a line; the rest is freed before it returns. */
int build_items(struct run *run, const struct io_url_list *urls, char *err, size_t err_size)
{
    const struct pl_options *opts = run->opts;
    size_t count = urls->count;
    const char **valid_urls = NULL;
    const char **valid_givens = NULL;
    uint8_t *levels = NULL;
    int rc;

    run->urls = urls;
    run->item_flags = calloc(count ? count : 1, sizeof(*run->item_flags));
    if (run->item_flags == NULL)
        goto fail_memory;
    long duplicates = find_duplicates(urls, run->item_flags);
    if (duplicates < 0)
        goto fail_memory;
    run->report->duplicates = (size_t)duplicates;

    valid_urls = malloc((count ? count : 1) * sizeof(*valid_urls));
    valid_givens = malloc((count ? count : 1) * sizeof(*valid_givens));
    if (valid_urls == NULL || valid_givens == NULL)
        goto fail_memory;
    size_t valid_count = 0;
    run->created_ns = uv_hrtime();
    for (size_t i = 0; i < count; i++) {
        uint8_t *flags = &run->item_flags[i];
        const char *url = urls->entries[i].url;
        if (*flags & ITEM_DUPLICATE)
            continue;
        char why[256];
        if (io_url_check(url, why, sizeof(why)) < 0) {
            *flags |= ITEM_REFUSED;
        } else {
            valid_givens[valid_count] = urls->entries[i].name;
            valid_urls[valid_count++] = url;
        }
        if (opts->shard_count > 1 && pl_shard_of(url, opts->shard_count) != opts->shard_index)
            *flags |= ITEM_OTHER_SHARD;
        else
            run->job_count++;
    }
    /* Positional names need no pass over the list: levels stay 0. */
    if (opts->layout == IO_LAYOUT_POSITIONAL) {
        rc = 0;
        goto out;
    }
    levels = malloc((valid_count ? valid_count : 1) * sizeof(*levels));
    if (levels == NULL)
        goto fail_memory;
    rc = io_name_table_create_named(valid_urls, valid_givens, valid_count, levels, &run->names);
    if (rc < 0) {
        snprintf(err, err_size, "naming the outputs: %s", strerror(-rc));
        goto out;
    }
    for (size_t i = 0, valid = 0; i < count; i++) {
        if ((run->item_flags[i] & (ITEM_DUPLICATE | ITEM_REFUSED)) != 0)
            continue;
        set_item_level(&run->item_flags[i], levels[valid++]);
    }
    rc = 0;
    goto out;

fail_memory:
    rc = -ENOMEM;
    snprintf(err, err_size, "out of memory for %zu URLs", count);
out:
    free(levels);
    free(valid_urls);
    free(valid_givens);
    return rc;
}

/* The output names of this run's items (this shard's, URL accepted), made
 * one at a time for io_remove_stale_temps. */
struct name_walk {
    const struct run *run;
    size_t entry;
    char name[IO_OUTPUT_NAME_SIZE];
};

static const char *next_item_name(void *user)
{
    struct name_walk *walk = user;
    const uint8_t not_ours = ITEM_DUPLICATE | ITEM_OTHER_SHARD | ITEM_REFUSED;
    while (walk->entry < walk->run->urls->count) {
        size_t entry = walk->entry++;
        if ((walk->run->item_flags[entry] & not_ours) == 0 &&
            item_name(walk->run, entry, walk->name) == 0)
            return walk->name;
    }
    return NULL;
}

/* Resume, part one: removes the temporary files a killed run left for this
 * run's items, once names are assigned over the whole list (so they do not
 * depend on the shard); other shards' are theirs. */
int remove_stale_temps(struct run *run, char *err, size_t err_size)
{
    struct name_walk walk = {.run = run};
    int rc = io_remove_stale_temps_nested(run->opts->output_dir, next_item_name, &walk,
                                          &run->report->stale_temps_removed);
    if (rc == -ENOMEM) {
        snprintf(err, err_size, "out of memory for %zu URLs", run->job_count);
        return rc;
    }
    return 0;
}

/* Reports, in list order and before any download, the URLs refused before
 * any I/O and (resume, part two) the items whose output is already there. */
void report_up_front(struct run *run)
{
    const struct pl_options *opts = run->opts;
    size_t index = 0;
    for (size_t entry = 0; entry < run->urls->count; entry++) {
        uint8_t *flags = &run->item_flags[entry];
        if (*flags & ITEM_DUPLICATE)
            continue;
        size_t item_index = index++;
        if (*flags & ITEM_OTHER_SHARD)
            continue;
        if (*flags & ITEM_REFUSED) {
            /* The reason is not kept per line: checking again gives it back. */
            char why[256] = "";
            int refused = io_url_check(run->urls->entries[entry].url, why, sizeof(why));
            enum pl_kind kind =
                refused == -EPROTONOSUPPORT ? PL_KIND_UNSUPPORTED_SCHEME : PL_KIND_BAD_URL;
            report_unstarted(run, entry, item_index, refused, PL_STAGE_URL, kind, why);
            continue;
        }
        /* Done only when the name holds this URL's output; a name held by
         * another URL's moves the item up a level (io_resume_name). */
        char name[IO_OUTPUT_NAME_SIZE];
        uint8_t level = (uint8_t)item_level(*flags);
        /* A positional name is its line's: no level to move to. */
        bool positional = opts->layout == IO_LAYOUT_POSITIONAL;
        const char *url = run->urls->entries[entry].url;
        if (positional)
            item_name(run, entry, name);
        int resume = positional
                         ? io_layout_resume(opts->output_dir, url, opts->force, name)
                         : io_resume_named(opts->output_dir, url, run->urls->entries[entry].name,
                                           opts->force, run->names, &level, name, sizeof(name));
        if (resume < 0) {
            *flags |= ITEM_NAME_HELD;
            report_unstarted(run, entry, item_index, resume, PL_STAGE_WRITE,
                             resume == -EEXIST ? PL_KIND_WRITE : PL_KIND_OUT_OF_MEMORY,
                             resume == -EEXIST && positional
                                 ? "its positional name holds another URL's output (a run of "
                                   "another list in this folder?)"
                             : resume == -EEXIST ? "every output name of this URL holds another "
                                                   "URL's output"
                                                 : "out of memory checking its output name");
            continue;
        }
        set_item_level(flags, level);
        if (resume == IO_RESUME_DONE) {
            struct job job;
            job_init_unstarted(run, &job, entry, item_index);
            *flags |= ITEM_SKIPPED;
            job.skipped = true;
            report_item(run, &job);
        }
    }
    io_name_table_destroy(run->names);
    run->names = NULL;
}

bool list_left(struct run *run)
{
    if (run->rows != NULL)
        return feed_left(run);
    /* Past the lines that never start: repeats, other shards' items, and
     * the items reported up front (refused, skipped). */
    const uint8_t unstartable =
        ITEM_DUPLICATE | ITEM_OTHER_SHARD | ITEM_REFUSED | ITEM_SKIPPED | ITEM_NAME_HELD;
    while (run->next_entry < run->urls->count &&
           (run->item_flags[run->next_entry] & unstartable) != 0) {
        if ((run->item_flags[run->next_entry] & ITEM_DUPLICATE) == 0)
            run->next_index++;
        run->next_entry++;
    }
    return run->next_entry < run->urls->count;
}
