/* Output names that need no pass over the whole list (io.h, "layouts"): a
 * row's name comes from its line alone, so it is the same in every shard and
 * in a list read as it streams, and two rows never share one. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"

int io_positional_key(uint64_t line, char *key, size_t key_size)
{
    int len = snprintf(key, key_size, "%09" PRIu64, line);
    return len < 0 || (size_t)len >= key_size ? -ENOSPC : 0;
}

int io_positional_path(uint64_t line, char *folder, size_t folder_size, char *file,
                       size_t file_size)
{
    int folder_len = snprintf(folder, folder_size, "%05" PRIu64, line / IO_POSITIONAL_PER_FOLDER);
    if (folder_len < 0 || (size_t)folder_len >= folder_size)
        return -ENOSPC;
    int file_len = snprintf(file, file_size, "%09" PRIu64 ".png", line);
    return file_len < 0 || (size_t)file_len >= file_size ? -ENOSPC : 0;
}

int io_tar_shard_name(unsigned shard_index, unsigned shard_count, uint64_t tar_index, char *name,
                      size_t name_size)
{
    int len = shard_count > 1
                  ? snprintf(name, name_size, "%05u-%05" PRIu64 ".tar", shard_index, tar_index)
                  : snprintf(name, name_size, "%05" PRIu64 ".tar", tar_index);
    return len < 0 || (size_t)len >= name_size ? -ENOSPC : 0;
}

int io_layout_name(enum io_layout layout, const char *url, unsigned level, uint64_t line,
                   char *name, size_t name_size)
{
    return io_layout_named(layout, url, NULL, level, line, name, name_size);
}

int io_layout_named(enum io_layout layout, const char *url, const char *given, unsigned level,
                    uint64_t line, char *name, size_t name_size)
{
    if (layout != IO_LAYOUT_POSITIONAL)
        return io_named_output_name(url, given, level, name, name_size);
    char folder[IO_POSITIONAL_NAME_SIZE];
    char file[IO_POSITIONAL_NAME_SIZE];
    int rc = io_positional_path(line, folder, sizeof(folder), file, sizeof(file));
    if (rc < 0)
        return rc;
    int len = snprintf(name, name_size, "%s/%s", folder, file);
    return len < 0 || (size_t)len >= name_size ? -ENOSPC : 0;
}

/* DIR and NAME ("FILE" or "FOLDER/FILE") as the folder the file is in and
 * the file's own name (pointing into `name`). */
static int split_output(const char *dir, const char *name, char *folder, size_t folder_size,
                        const char **file)
{
    const char *slash = strchr(name, '/');
    int len = slash == NULL
                  ? snprintf(folder, folder_size, "%s", dir)
                  : snprintf(folder, folder_size, "%s/%.*s", dir, (int)(slash - name), name);
    *file = slash == NULL ? name : slash + 1;
    return len < 0 || (size_t)len >= folder_size ? -ENAMETOOLONG : 0;
}

int io_output_owner_at(const char *dir, const char *name, const char *url)
{
    char folder[PATH_MAX];
    const char *file;
    int rc = split_output(dir, name, folder, sizeof(folder), &file);
    return rc < 0 ? rc : io_output_owner(folder, file, url);
}

/* ---- batched durability over the output folder and its subfolders ------ */

/* Subfolders whose io_dir_sync is kept open at most while idle: the run
 * writes into one or two at a time (lines in order, 10,000 a folder). */
#define MAX_IDLE_FOLDERS 8

struct folder_sync {
    char *path;
    struct io_dir_sync *sync;
    unsigned users;    /* writers between get and put */
    uint64_t last_use; /* for eviction: a counter, not a time */
};

struct io_output_sync {
    struct io_dir_sync *top; /* the output folder: its subfolders' entries */
    uv_mutex_t lock;
    struct folder_sync *folders;
    size_t count;
    size_t capacity;
    uint64_t uses;
    int error; /* the first failed flush of an evicted folder, sticky */
};

int io_output_sync_create(const char *dir, struct io_output_sync **out)
{
    struct io_output_sync *sync = calloc(1, sizeof(*sync));
    if (sync == NULL)
        return -ENOMEM;
    int rc = io_dir_sync_create(dir, &sync->top);
    if (rc < 0) {
        free(sync);
        return rc;
    }
    rc = uv_mutex_init(&sync->lock);
    if (rc < 0) {
        io_dir_sync_destroy(sync->top);
        free(sync);
        return rc;
    }
    *out = sync;
    return 0;
}

/* Flushes and closes the least recently used idle folder beyond
 * MAX_IDLE_FOLDERS. Under the lock. */
static void evict_idle(struct io_output_sync *sync)
{
    while (sync->count > MAX_IDLE_FOLDERS) {
        size_t oldest = SIZE_MAX;
        for (size_t i = 0; i < sync->count; i++)
            if (sync->folders[i].users == 0 &&
                (oldest == SIZE_MAX || sync->folders[i].last_use < sync->folders[oldest].last_use))
                oldest = i;
        if (oldest == SIZE_MAX)
            return;
        int rc = io_dir_sync_flush(sync->folders[oldest].sync);
        if (rc < 0 && sync->error == 0)
            sync->error = rc;
        io_dir_sync_destroy(sync->folders[oldest].sync);
        free(sync->folders[oldest].path);
        sync->folders[oldest] = sync->folders[--sync->count];
    }
}

/* The io_dir_sync of `folder`, opened on first use; the caller puts it back. */
static int folder_get(struct io_output_sync *sync, const char *folder, struct folder_sync **out)
{
    int rc = 0;
    uv_mutex_lock(&sync->lock);
    for (size_t i = 0; i < sync->count; i++) {
        if (strcmp(sync->folders[i].path, folder) == 0) {
            *out = &sync->folders[i];
            goto found;
        }
    }
    if (sync->count == sync->capacity) {
        size_t capacity = sync->capacity ? sync->capacity * 2 : MAX_IDLE_FOLDERS + 2;
        struct folder_sync *folders = realloc(sync->folders, capacity * sizeof(*folders));
        if (folders == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        sync->folders = folders;
        sync->capacity = capacity;
    }
    struct folder_sync *entry = &sync->folders[sync->count];
    memset(entry, 0, sizeof(*entry));
    entry->path = strdup(folder);
    if (entry->path == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = io_dir_sync_create(folder, &entry->sync);
    if (rc < 0) {
        free(entry->path);
        goto out;
    }
    sync->count++;
    *out = entry;
found:
    (*out)->users++;
    (*out)->last_use = ++sync->uses;
out:
    uv_mutex_unlock(&sync->lock);
    return rc;
}

static void folder_put(struct io_output_sync *sync, const char *folder)
{
    uv_mutex_lock(&sync->lock);
    for (size_t i = 0; i < sync->count; i++) {
        if (strcmp(sync->folders[i].path, folder) == 0) {
            sync->folders[i].users--;
            break;
        }
    }
    evict_idle(sync);
    uv_mutex_unlock(&sync->lock);
}

int io_write_output(const char *dir, const char *name, const void *data, size_t size, mode_t mode,
                    struct io_output_sync *sync, char *err, size_t err_size)
{
    char folder[PATH_MAX];
    const char *file;
    if (split_output(dir, name, folder, sizeof(folder), &file) < 0) {
        snprintf(err, err_size, "output path too long");
        return -ENAMETOOLONG;
    }
    if (file == name)
        return io_write_atomic(dir, name, data, size, mode, sync != NULL ? sync->top : NULL, err,
                               err_size);
    if (strchr(file, '/') != NULL) {
        snprintf(err, err_size, "refusing output name \"%s\"", name);
        return -EINVAL;
    }
    /* The subfolder, made on first use; its own entry in DIR is made durable
     * at once (once per 10,000 files). */
    if (mkdir(folder, 0777) == 0) {
        if (sync != NULL) {
            int rc = io_dir_sync_flush(sync->top);
            if (rc < 0) {
                snprintf(err, err_size, "syncing the folder %s: %s", dir, strerror(-rc));
                return rc;
            }
        }
    } else if (errno != EEXIST) {
        int rc = -errno;
        snprintf(err, err_size, "creating the folder %s: %s", folder, strerror(errno));
        return rc;
    }
    if (sync == NULL)
        return io_write_atomic(folder, file, data, size, mode, NULL, err, err_size);
    struct folder_sync *entry;
    int rc = folder_get(sync, folder, &entry);
    if (rc < 0) {
        snprintf(err, err_size, "opening the folder %s: %s", folder, strerror(-rc));
        return rc;
    }
    rc = io_write_atomic(folder, file, data, size, mode, entry->sync, err, err_size);
    folder_put(sync, folder);
    return rc;
}

int io_output_sync_flush(struct io_output_sync *sync)
{
    if (sync == NULL)
        return 0;
    uv_mutex_lock(&sync->lock);
    int rc = sync->error;
    for (size_t i = 0; i < sync->count; i++) {
        int flushed = io_dir_sync_flush(sync->folders[i].sync);
        if (flushed < 0 && rc == 0)
            rc = flushed;
    }
    uv_mutex_unlock(&sync->lock);
    int top = io_dir_sync_flush(sync->top);
    return rc < 0 ? rc : top;
}

void io_output_sync_destroy(struct io_output_sync *sync)
{
    if (sync == NULL)
        return;
    for (size_t i = 0; i < sync->count; i++) {
        io_dir_sync_destroy(sync->folders[i].sync);
        free(sync->folders[i].path);
    }
    free(sync->folders);
    uv_mutex_destroy(&sync->lock);
    io_dir_sync_destroy(sync->top);
    free(sync);
}

/* io_remove_stale_temps over the layout's folders: the names a run yields
 * in list order change folder rarely (10,000 lines a folder), so each run
 * of names in one folder is one sweep of that folder. */
struct nested_walk {
    io_next_name_fn next_name;
    void *user;
    const char *pending; /* the first name of the next folder, read ahead */
    char pending_copy[IO_OUTPUT_NAME_SIZE];
    char prefix[IO_OUTPUT_NAME_SIZE]; /* "FOLDER/" of the folder swept now */
    size_t prefix_len;
    bool done;
};

/* Keeps `name` (which lasts only until the next call) as the pending one. */
static void hold(struct nested_walk *walk, const char *name)
{
    if (name != NULL && name != walk->pending_copy)
        snprintf(walk->pending_copy, sizeof(walk->pending_copy), "%s", name);
    walk->pending = name != NULL ? walk->pending_copy : NULL;
}

static const char *next_in_folder(void *user)
{
    struct nested_walk *walk = user;
    const char *name;
    if (walk->pending != NULL) {
        /* The first of this folder's names: pending_copy stays valid until
         * the next call, which is all a name needs to last. */
        name = walk->pending;
        walk->pending = NULL;
    } else {
        name = walk->next_name(walk->user);
    }
    if (name == NULL) {
        walk->done = true;
        return NULL;
    }
    if (strncmp(name, walk->prefix, walk->prefix_len) != 0 ||
        strchr(name + walk->prefix_len, '/') != NULL) {
        /* Another folder: kept for the next sweep. */
        hold(walk, name);
        return NULL;
    }
    return name + walk->prefix_len;
}

int io_remove_stale_temps_nested(const char *dir, io_next_name_fn next_name, void *user,
                                 size_t *removed)
{
    struct nested_walk walk = {.next_name = next_name, .user = user};
    *removed = 0;
    hold(&walk, next_name(user));
    while (walk.pending != NULL) {
        const char *slash = strchr(walk.pending, '/');
        walk.prefix_len = slash != NULL ? (size_t)(slash - walk.pending) + 1 : 0;
        memcpy(walk.prefix, walk.pending, walk.prefix_len);
        walk.prefix[walk.prefix_len] = '\0';
        char folder[PATH_MAX];
        int len = walk.prefix_len > 0 ? snprintf(folder, sizeof(folder), "%s/%.*s", dir,
                                                 (int)walk.prefix_len - 1, walk.prefix)
                                      : snprintf(folder, sizeof(folder), "%s", dir);
        if (len < 0 || (size_t)len >= sizeof(folder))
            return -ENAMETOOLONG;
        size_t swept = 0;
        int rc = io_remove_stale_temps(folder, next_in_folder, &walk, &swept);
        *removed += swept;
        if (rc < 0)
            return rc;
        /* A folder without temporaries asked for none of its names: skip them. */
        while (walk.pending != NULL && !walk.done &&
               strncmp(walk.pending, walk.prefix, walk.prefix_len) == 0 &&
               strchr(walk.pending + walk.prefix_len, '/') == NULL) {
            hold(&walk, next_name(user));
        }
        if (walk.done)
            break;
    }
    return 0;
}

int io_layout_resume(const char *dir, const char *url, bool force, const char *name)
{
    int owner = io_output_owner_at(dir, name, url);
    if (owner == IO_OUTPUT_OTHERS)
        return -EEXIST;
    if ((owner == IO_OUTPUT_OURS || owner == IO_OUTPUT_UNMARKED) && !force)
        return IO_RESUME_DONE;
    /* Absent, cut short, or unreadable (the write will say why). */
    return IO_RESUME_FETCH;
}
