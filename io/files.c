#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files_private.h"
#include "io.h"

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t wrote = write(fd, data, size);
        if (wrote < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += wrote;
        size -= (size_t)wrote;
    }
    return 0;
}

mode_t io_file_mode(void)
{
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

/* The folder is synced after at most this many renames into it, or this
 * long after the first one not yet synced (checked at the next rename), and
 * always by io_dir_sync_flush at the end of a run: one fsync of the folder
 * per file would double the cost of a run of small images, one per batch
 * is noise (README, "Power loss"; tests/bench/results/fsync.md). */
#define DIR_SYNC_EVERY 256
#define DIR_SYNC_INTERVAL_NS (1000u * 1000u * 1000u)

struct io_dir_sync {
    int dir_fd;
    uv_mutex_t lock;
    unsigned pending;          /* renames since the last sync started */
    uint64_t first_pending_ns; /* when the oldest of them was done */
    int error;                 /* the first failed sync, sticky */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int io_dir_sync_create(const char *dir, struct io_dir_sync **out)
{
    *out = NULL;
    struct io_dir_sync *sync = calloc(1, sizeof(*sync));
    if (sync == NULL)
        return -ENOMEM;
    sync->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sync->dir_fd < 0) {
        int rc = -errno;
        free(sync);
        return rc;
    }
    int rc = uv_mutex_init(&sync->lock);
    if (rc < 0) {
        close(sync->dir_fd);
        free(sync);
        return rc;
    }
    *out = sync;
    return 0;
}

/* Syncs the folder when `force` or a batch is due. The renames counted
 * before the fsync starts are durable when it returns; the count is taken
 * under the lock and the fsync runs outside it, so writers never wait for
 * another thread's sync. */
static int dir_sync(struct io_dir_sync *sync, bool noted, bool force)
{
    uv_mutex_lock(&sync->lock);
    if (noted && sync->pending++ == 0)
        sync->first_pending_ns = now_ns();
    bool due = sync->pending > 0 && (force || sync->pending >= DIR_SYNC_EVERY ||
                                     now_ns() - sync->first_pending_ns >= DIR_SYNC_INTERVAL_NS);
    if (due)
        sync->pending = 0;
    uv_mutex_unlock(&sync->lock);
    if (!due)
        return 0;
    int rc = fsync(sync->dir_fd) < 0 ? -errno : 0;
    if (rc < 0) {
        uv_mutex_lock(&sync->lock);
        if (sync->error == 0)
            sync->error = rc;
        uv_mutex_unlock(&sync->lock);
    }
    return rc;
}

int io_dir_sync_flush(struct io_dir_sync *sync)
{
    if (sync == NULL)
        return 0;
    dir_sync(sync, false, true);
    uv_mutex_lock(&sync->lock);
    int rc = sync->error;
    uv_mutex_unlock(&sync->lock);
    return rc;
}

void io_dir_sync_destroy(struct io_dir_sync *sync)
{
    if (sync == NULL)
        return;
    close(sync->dir_fd);
    uv_mutex_destroy(&sync->lock);
    free(sync);
}

/* A new temporary file, locked: created with mkstemps, then flock'ed. A
 * sweep by an overlapping run (io_remove_stale_temps) may lock and remove it
 * in the moment between the two; then the path no longer names the file we
 * hold, and we start again with a new one. */
int io__create_locked_temp(const char *pattern, char *tmp_path, size_t tmp_size)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        snprintf(tmp_path, tmp_size, "%s", pattern);
        int fd = mkstemps(tmp_path, 4);
        if (fd < 0)
            return -errno;
        struct stat held;
        struct stat named;
        int rc = 0;
        while (flock(fd, LOCK_EX) < 0) {
            if (errno != EINTR) {
                rc = -errno;
                break;
            }
        }
        if (rc == 0 && fstat(fd, &held) == 0 && lstat(tmp_path, &named) == 0 &&
            held.st_dev == named.st_dev && held.st_ino == named.st_ino)
            return fd;
        close(fd);
        if (rc < 0) {
            unlink(tmp_path);
            return rc;
        }
    }
    return -EAGAIN;
}

int io_write_atomic(const char *dir, const char *name, const void *data, size_t size, mode_t mode,
                    struct io_dir_sync *sync, char *err, size_t err_size)
{
    char pattern[PATH_MAX];
    char tmp_path[PATH_MAX];
    char final_path[PATH_MAX];
    int fd = -1;
    int lock_fd = -1;
    int rc;

    if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(err, err_size, "refusing output name \"%s\"", name);
        return -EINVAL;
    }
    /* The temporary name starts with '.' and ends in ".tmp" so a glob for
     * "*.png" never picks it up, and it lives in the same directory so the
     * rename is atomic (same file system). */
    if (snprintf(final_path, sizeof(final_path), "%s/%s", dir, name) >= (int)sizeof(final_path) ||
        snprintf(pattern, sizeof(pattern), "%s/.%s.XXXXXX.tmp", dir, name) >=
            (int)sizeof(pattern)) {
        snprintf(err, err_size, "output path too long");
        return -ENAMETOOLONG;
    }
    fd = io__create_locked_temp(pattern, tmp_path, sizeof(tmp_path));
    if (fd < 0) {
        rc = fd;
        fd = -1;
        snprintf(err, err_size, "creating a temporary file in %s: %s", dir, strerror(-rc));
        return rc;
    }
    /* The lock lives as long as one descriptor of the open file does: this
     * second one keeps it past the checked close() below, until after the
     * rename, so no sweep can take the file before it has its final name. */
    lock_fd = dup(fd);
    if (lock_fd < 0) {
        rc = -errno;
        snprintf(err, err_size, "creating a temporary file in %s: %s", dir, strerror(errno));
        goto fail;
    }
    rc = write_all(fd, data, size);
    if (rc < 0) {
        snprintf(err, err_size, "writing %s: %s", final_path, strerror(-rc));
        goto fail;
    }
    /* mkstemp creates 0600; outputs are ordinary files. */
    if (fchmod(fd, mode) < 0) {
        rc = -errno;
        snprintf(err, err_size, "chmod %s: %s", tmp_path, strerror(errno));
        goto fail;
    }
    /* The data reaches the disk before the name does: after a power loss a
     * final name holds the complete file or the old one, never a file of
     * zeros or a prefix (ext4 data=ordered does not promise that for a
     * rename over nothing; XFS and btrfs promise less). */
    if (sync != NULL && fdatasync(fd) < 0) {
        rc = -errno;
        snprintf(err, err_size, "writing %s: %s", final_path, strerror(errno));
        goto fail;
    }
    /* close() can report a delayed write error (NFS, full disk): check it. */
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        snprintf(err, err_size, "writing %s: %s", final_path, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp_path, final_path) < 0) {
        rc = -errno;
        snprintf(err, err_size, "renaming into %s: %s", final_path, strerror(errno));
        goto fail;
    }
    close(lock_fd);
    if (sync != NULL) {
        rc = dir_sync(sync, true, false);
        if (rc < 0) {
            snprintf(err, err_size, "syncing the folder %s: %s", dir, strerror(-rc));
            return rc;
        }
    }
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp_path);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

int io_prepare_dir(const char *dir, char *err, size_t err_size)
{
    char path[PATH_MAX];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        snprintf(err, err_size, "output folder path too long");
        return -ENAMETOOLONG;
    }
    /* mkdir -p: create each missing parent in turn. */
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) < 0 && errno != EEXIST) {
            int rc = -errno;
            snprintf(err, err_size, "creating %s: %s", path, strerror(errno));
            return rc;
        }
        *p = '/';
    }
    if (mkdir(path, 0777) < 0 && errno != EEXIST) {
        int rc = -errno;
        snprintf(err, err_size, "creating %s: %s", path, strerror(errno));
        return rc;
    }
    if (stat(path, &st) < 0) {
        int rc = -errno;
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, err_size, "%s is not a directory", path);
        return -ENOTDIR;
    }
    /* access() says yes to root on a read-only mount or a 0555 folder it
     * could chmod; creating a file is the only honest test. */
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof(probe), "%s/.edgefetch-probe.XXXXXX", path) >= (int)sizeof(probe)) {
        snprintf(err, err_size, "output folder path too long");
        return -ENAMETOOLONG;
    }
    int fd = mkstemp(probe);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, err_size, "output folder %s is not writable: %s", path, strerror(errno));
        return rc;
    }
    close(fd);
    unlink(probe);
    return 0;
}

int io_files_identical(const char *path_a, const char *path_b)
{
    uint8_t buf_a[64 * 1024];
    uint8_t buf_b[64 * 1024];
    int rc;
    FILE *a = fopen(path_a, "rb");
    if (a == NULL)
        return -errno;
    FILE *b = fopen(path_b, "rb");
    if (b == NULL) {
        rc = -errno;
        goto out_a;
    }
    for (;;) {
        size_t got_a = fread(buf_a, 1, sizeof(buf_a), a);
        size_t got_b = fread(buf_b, 1, sizeof(buf_b), b);
        if (ferror(a) || ferror(b)) {
            rc = -EIO;
            break;
        }
        if (got_a != got_b || memcmp(buf_a, buf_b, got_a) != 0) {
            rc = 0;
            break;
        }
        if (got_a == 0) {
            rc = 1;
            break;
        }
    }
    fclose(b);
out_a:
    fclose(a);
    return rc;
}
