/* --output-format tar (tarout.h). The rows of this process are numbered in
 * list order as they are read (this shard's, repeats dropped): row R goes
 * into tar R / 10,000 (IO_TAR_ITEMS), its number riding with the row
 * (pl_row.tag, pl_item.tag). A tar is complete when all 10,000 of its rows
 * have been reported, or, for the last one, its rows reported once the list
 * has ended (tar_out_finish). A tar is written into a temporary and renamed
 * when complete (io_tar_*), so on a rerun a tar that exists is done (its
 * rows are not read into the run at all: skipped), and the temporary of a
 * stopped run is swept when its first row is read again, and its rows
 * redone. Rows are numbered on the run's list reader thread, items come
 * back on the loop thread: one lock over both. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "tarout.h"

struct shard_tar {
    size_t expected; /* rows of it read so far */
    size_t reported;
    struct io_tar *tar; /* open while it has items not yet reported */
    bool lost;          /* a write failed: not renamed, redone by a rerun */
};

struct tar_out {
    uv_mutex_t lock;
    const char *dir;
    unsigned shard_index;
    unsigned shard_count;
    mode_t mode;
    bool sync;
    bool force;             /* --force: complete tars are written again */
    uint64_t rows;          /* rows numbered so far */
    struct shard_tar *tars; /* by tar index */
    size_t tar_count;
    uint64_t checked_tar; /* the last tar whose completeness was looked up, +1 */
    bool checked_done;
    size_t skipped;
    size_t written;
    size_t temps_removed;
};

int tar_out_create(const char *dir, const struct pl_options *opts, struct tar_out **out)
{
    struct tar_out *tar = calloc(1, sizeof(*tar));
    if (tar == NULL)
        return -ENOMEM;
    tar->dir = dir;
    tar->shard_index = opts->shard_count > 1 ? opts->shard_index : 0;
    tar->shard_count = opts->shard_count > 1 ? opts->shard_count : 1;
    tar->mode = io_file_mode();
    tar->sync = !opts->no_fsync;
    tar->force = opts->force;
    if (uv_mutex_init(&tar->lock) < 0) {
        free(tar);
        return -ENOMEM;
    }
    *out = tar;
    return 0;
}

static bool tar_exists(const struct tar_out *tar, uint64_t index)
{
    char name[64];
    char path[4096];
    struct stat st;
    if (io_tar_shard_name(tar->shard_index, tar->shard_count, index, name, sizeof(name)) < 0 ||
        snprintf(path, sizeof(path), "%s/%s", tar->dir, name) >= (int)sizeof(path))
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The one name a sweep of tar `index`'s temporaries asks for. */
struct one_name {
    const char *name;
};

static const char *next_one_name(void *user)
{
    struct one_name *one = user;
    const char *name = one->name;
    one->name = NULL;
    return name;
}

bool tar_out_keep_row(struct tar_out *tar, uint64_t *tar_index)
{
    uv_mutex_lock(&tar->lock);
    bool kept = false;
    uint64_t index = tar->rows++ / IO_TAR_ITEMS;
    if (tar->checked_tar != index + 1) {
        /* The first row of a tar: done already (resume), or its stopped
         * run's temporary is swept now, before any item of it is written. */
        tar->checked_tar = index + 1;
        tar->checked_done = !tar->force && tar_exists(tar, index);
        char name[64];
        struct one_name one = {.name = name};
        size_t removed = 0;
        if (!tar->checked_done &&
            io_tar_shard_name(tar->shard_index, tar->shard_count, index, name, sizeof(name)) == 0 &&
            io_remove_stale_temps(tar->dir, next_one_name, &one, &removed) == 0)
            tar->temps_removed += removed;
    }
    if (tar->checked_done) {
        tar->skipped++;
        goto out;
    }
    if (index >= tar->tar_count) {
        struct shard_tar *tars = realloc(tar->tars, (index + 1) * sizeof(*tars));
        if (tars == NULL)
            goto out; /* not kept: a rerun does it */
        memset(tars + tar->tar_count, 0, (index + 1 - tar->tar_count) * sizeof(*tars));
        tar->tars = tars;
        tar->tar_count = index + 1;
    }
    tar->tars[index].expected++;
    *tar_index = index;
    kept = true;
out:
    uv_mutex_unlock(&tar->lock);
    return kept;
}

size_t tar_out_skipped(const struct tar_out *tar)
{
    return tar->skipped;
}

size_t tar_out_temps_removed(const struct tar_out *tar)
{
    return tar->temps_removed;
}

size_t tar_out_written(const struct tar_out *tar)
{
    return tar->written;
}

void tar_out_item_name(const struct tar_out *tar, const struct pl_item *item, char *name,
                       size_t size)
{
    char tar_name[64] = "";
    char key[IO_POSITIONAL_NAME_SIZE] = "";
    io_tar_shard_name(tar->shard_index, tar->shard_count, item->tag, tar_name, sizeof(tar_name));
    io_positional_key(item->line, key, sizeof(key));
    snprintf(name, size, "%s/%s.png", tar_name, key);
}

/* Tar `index` has all its rows reported: renamed into place unless lost.
 * A tar of failed items only is written too: it says they were done
 * (resume skips them, as it skips a PNG that is there). */
static int commit(struct tar_out *tar, uint64_t index, char *err, size_t err_size)
{
    struct shard_tar *shard = &tar->tars[index];
    char scratch[8];
    char name[64];
    if (err == NULL) {
        err = scratch;
        err_size = sizeof(scratch);
    }
    if (shard->lost)
        return 0;
    io_tar_shard_name(tar->shard_index, tar->shard_count, index, name, sizeof(name));
    int rc = 0;
    if (shard->tar == NULL) {
        rc = io_tar_create(tar->dir, name, tar->mode, &shard->tar, err, err_size);
        if (rc < 0)
            return rc;
    }
    rc = io_tar_commit(shard->tar, tar->sync, err, err_size);
    shard->tar = NULL;
    shard->lost = true; /* done: never committed twice */
    if (rc == 0)
        tar->written++;
    return rc;
}

int tar_out_item(struct tar_out *tar, const struct pl_item *item, const char *json,
                 size_t json_size, char *err, size_t err_size)
{
    /* Every row read is one item of the run: no repeats are left, and
     * every row is this shard's. */
    uv_mutex_lock(&tar->lock);
    int rc = 0;
    uint64_t index = item->tag;
    if (index >= tar->tar_count) {
        uv_mutex_unlock(&tar->lock);
        return 0;
    }
    struct shard_tar *shard = &tar->tars[index];
    char name[64];
    io_tar_shard_name(tar->shard_index, tar->shard_count, index, name, sizeof(name));
    if (item->status == PL_ITEM_CANCELLED)
        shard->lost = true; /* never complete: redone by a rerun */
    if (item->status == PL_ITEM_OK && item->png != NULL && !shard->lost) {
        char key[IO_POSITIONAL_NAME_SIZE];
        char entry[IO_POSITIONAL_NAME_SIZE + 8];
        io_positional_key(item->line, key, sizeof(key));
        if (shard->tar == NULL)
            rc = io_tar_create(tar->dir, name, tar->mode, &shard->tar, err, err_size);
        snprintf(entry, sizeof(entry), "%s.png", key);
        if (rc == 0)
            rc = io_tar_add(shard->tar, entry, item->png, item->png_size, err, err_size);
        snprintf(entry, sizeof(entry), "%s.json", key);
        if (rc == 0)
            rc = io_tar_add(shard->tar, entry, json, json_size, err, err_size);
        if (rc < 0) {
            shard->lost = true;
            io_tar_abort(shard->tar);
            shard->tar = NULL;
        }
    }
    /* A tar short of IO_TAR_ITEMS may still get rows: tar_out_finish. */
    if (++shard->reported == IO_TAR_ITEMS && rc == 0)
        rc = commit(tar, index, err, err_size);
    uv_mutex_unlock(&tar->lock);
    return rc;
}

int tar_out_finish(struct tar_out *tar, char *err, size_t err_size)
{
    int first = 0;
    for (size_t i = 0; i < tar->tar_count; i++) {
        struct shard_tar *shard = &tar->tars[i];
        if (shard->expected == 0 || shard->expected == IO_TAR_ITEMS ||
            shard->reported < shard->expected)
            continue;
        int rc = commit(tar, i, first == 0 ? err : NULL, first == 0 ? err_size : 0);
        if (rc < 0 && first == 0)
            first = rc;
    }
    return first;
}

void tar_out_destroy(struct tar_out *tar)
{
    if (tar == NULL)
        return;
    for (size_t i = 0; i < tar->tar_count; i++)
        io_tar_abort(tar->tars[i].tar);
    free(tar->tars);
    uv_mutex_destroy(&tar->lock);
    free(tar);
}
