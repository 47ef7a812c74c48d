/* --output-format tar (tarout.h). The rows of this process are numbered in
 * list order (this shard's, repeats dropped): row R goes into tar R / 10,000
 * (IO_TAR_ITEMS), so a tar's rows are known before the run and a tar is
 * complete when every one of them has been reported. A tar is written into a
 * temporary and renamed when complete (io_tar_*), so on a rerun a tar that
 * exists is done (its rows are not read into the run at all: skipped) and a
 * temporary left by a stopped run is swept and its rows redone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tarout.h"

struct shard_tar {
    size_t expected; /* rows of it in this run */
    size_t reported;
    struct io_tar *tar; /* open while it has items not yet reported */
    bool lost;          /* a write failed: not renamed, redone by a rerun */
};

struct tar_out {
    const char *dir;
    unsigned shard_index;
    unsigned shard_count;
    mode_t mode;
    bool sync;
    bool force;       /* --force: complete tars are written again */
    uint64_t rows;    /* rows numbered so far */
    uint64_t *tar_of; /* per entry of the list: its tar */
    size_t entries;
    size_t capacity;
    struct shard_tar *tars; /* by tar index */
    size_t tar_count;
    uint64_t checked_tar; /* the last tar whose completeness was looked up, +1 */
    bool checked_done;
    size_t skipped;
    size_t written;
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

bool tar_out_keep_row(struct tar_out *tar)
{
    uint64_t index = tar->rows++ / IO_TAR_ITEMS;
    if (tar->checked_tar != index + 1) {
        tar->checked_tar = index + 1;
        tar->checked_done = !tar->force && tar_exists(tar, index);
    }
    if (tar->checked_done) {
        tar->skipped++;
        return false;
    }
    if (tar->entries == tar->capacity) {
        size_t capacity = tar->capacity ? tar->capacity * 2 : 1024;
        uint64_t *tar_of = realloc(tar->tar_of, capacity * sizeof(*tar_of));
        if (tar_of == NULL)
            return false; /* not kept: a rerun does it */
        tar->tar_of = tar_of;
        tar->capacity = capacity;
    }
    if (index >= tar->tar_count) {
        struct shard_tar *tars = realloc(tar->tars, (index + 1) * sizeof(*tars));
        if (tars == NULL)
            return false;
        memset(tars + tar->tar_count, 0, (index + 1 - tar->tar_count) * sizeof(*tars));
        tar->tars = tars;
        tar->tar_count = index + 1;
    }
    tar->tars[index].expected++;
    tar->tar_of[tar->entries++] = index;
    return true;
}

size_t tar_out_entries(const struct tar_out *tar)
{
    return tar->entries;
}

size_t tar_out_skipped(const struct tar_out *tar)
{
    return tar->skipped;
}

int tar_out_name(const struct tar_out *tar, size_t nth, char *name, size_t size)
{
    for (size_t i = 0; i < tar->tar_count; i++) {
        if (tar->tars[i].expected == 0)
            continue;
        if (nth-- == 0)
            return io_tar_shard_name(tar->shard_index, tar->shard_count, i, name, size);
    }
    return -ENOENT;
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
    uint64_t index = item->index < tar->entries ? tar->tar_of[item->index] : 0;
    io_tar_shard_name(tar->shard_index, tar->shard_count, index, tar_name, sizeof(tar_name));
    io_positional_key(item->line, key, sizeof(key));
    snprintf(name, size, "%s/%s.png", tar_name, key);
}

int tar_out_item(struct tar_out *tar, const struct pl_item *item, const char *json,
                 size_t json_size, char *err, size_t err_size)
{
    /* Every entry of the list is one item of the run: no repeats are left
     * in it, and every row is this shard's. */
    if (item->index >= tar->entries)
        return 0;
    struct shard_tar *shard = &tar->tars[tar->tar_of[item->index]];
    uint64_t index = tar->tar_of[item->index];
    char name[64];
    int rc = 0;
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
    if (++shard->reported < shard->expected || shard->lost)
        return rc;
    /* Complete. A tar of failed items only is written too: it says they
     * were done (resume skips them, as it skips a PNG that is there). */
    if (shard->tar == NULL) {
        rc = io_tar_create(tar->dir, name, tar->mode, &shard->tar, err, err_size);
        if (rc < 0)
            return rc;
    }
    rc = io_tar_commit(shard->tar, tar->sync, err, err_size);
    shard->tar = NULL;
    if (rc == 0)
        tar->written++;
    return rc;
}

void tar_out_destroy(struct tar_out *tar)
{
    if (tar == NULL)
        return;
    for (size_t i = 0; i < tar->tar_count; i++)
        io_tar_abort(tar->tars[i].tar);
    free(tar->tars);
    free(tar->tar_of);
    free(tar);
}
