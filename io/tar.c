/* Tar shards through libarchive (io.h, "tar shards"): webdataset's layout,
 * KEY.png and KEY.json per item, in a temporary renamed when complete. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "files_private.h"
#include "io.h"

struct io_tar {
    struct archive *archive;
    int fd; /* holds the temporary's lock until it is renamed or removed */
    mode_t mode;
    size_t entries;
    time_t mtime; /* of every entry: when the tar was started */
    char dir[PATH_MAX];
    char tmp_path[PATH_MAX];
    char final_path[PATH_MAX];
};

static void destroy(struct io_tar *tar, bool remove_temp)
{
    if (tar->archive != NULL)
        archive_write_free(tar->archive);
    if (remove_temp)
        unlink(tar->tmp_path);
    if (tar->fd >= 0)
        close(tar->fd);
    free(tar);
}

int io_tar_create(const char *dir, const char *name, mode_t mode, struct io_tar **out, char *err,
                  size_t err_size)
{
    char pattern[PATH_MAX];
    int rc;

    if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0') {
        snprintf(err, err_size, "refusing tar name \"%s\"", name);
        return -EINVAL;
    }
    struct io_tar *tar = calloc(1, sizeof(*tar));
    if (tar == NULL) {
        snprintf(err, err_size, "out of memory for a tar");
        return -ENOMEM;
    }
    tar->fd = -1;
    tar->mode = mode;
    tar->mtime = time(NULL);
    if (snprintf(tar->dir, sizeof(tar->dir), "%s", dir) >= (int)sizeof(tar->dir) ||
        snprintf(tar->final_path, sizeof(tar->final_path), "%s/%s", dir, name) >=
            (int)sizeof(tar->final_path) ||
        snprintf(pattern, sizeof(pattern), "%s/.%s.XXXXXX.tmp", dir, name) >=
            (int)sizeof(pattern)) {
        free(tar);
        snprintf(err, err_size, "tar path too long");
        return -ENAMETOOLONG;
    }
    tar->fd = io__create_locked_temp(pattern, tar->tmp_path, sizeof(tar->tmp_path));
    if (tar->fd < 0) {
        rc = tar->fd;
        tar->fd = -1;
        free(tar);
        snprintf(err, err_size, "creating a temporary tar in %s: %s", dir, strerror(-rc));
        return rc;
    }
    tar->archive = archive_write_new();
    if (tar->archive == NULL) {
        rc = -ENOMEM;
        snprintf(err, err_size, "out of memory for a tar");
        goto fail;
    }
    /* pax_restricted: plain ustar headers unless a name needs more; the last
     * block is not padded to 10 KiB (tar readers need no padding). */
    if (archive_write_set_format_pax_restricted(tar->archive) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(tar->archive, 1) != ARCHIVE_OK ||
        archive_write_open_fd(tar->archive, tar->fd) != ARCHIVE_OK) {
        rc = -EIO;
        snprintf(err, err_size, "starting a tar: %s", archive_error_string(tar->archive));
        goto fail;
    }
    *out = tar;
    return 0;

fail:
    destroy(tar, true);
    return rc;
}

int io_tar_add(struct io_tar *tar, const char *entry_name, const void *data, size_t size, char *err,
               size_t err_size)
{
    int rc = 0;
    struct archive_entry *entry = archive_entry_new();
    if (entry == NULL) {
        snprintf(err, err_size, "out of memory for a tar entry");
        return -ENOMEM;
    }
    archive_entry_set_pathname(entry, entry_name);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, tar->mode & 0777);
    archive_entry_set_size(entry, (la_int64_t)size);
    archive_entry_set_mtime(entry, tar->mtime, 0);
    if (archive_write_header(tar->archive, entry) != ARCHIVE_OK) {
        rc = -EIO;
        snprintf(err, err_size, "writing %s: %s", tar->final_path,
                 archive_error_string(tar->archive));
        goto out;
    }
    if (size > 0 && archive_write_data(tar->archive, data, size) != (la_ssize_t)size) {
        rc = -EIO;
        snprintf(err, err_size, "writing %s: %s", tar->final_path,
                 archive_error_string(tar->archive));
        goto out;
    }
    tar->entries++;
out:
    archive_entry_free(entry);
    return rc;
}

size_t io_tar_entries(const struct io_tar *tar)
{
    return tar->entries;
}

int io_tar_commit(struct io_tar *tar, bool sync, char *err, size_t err_size)
{
    int rc = 0;
    /* archive_write_close writes the two end blocks; the descriptor stays ours. */
    if (archive_write_close(tar->archive) != ARCHIVE_OK) {
        rc = -EIO;
        snprintf(err, err_size, "writing %s: %s", tar->final_path,
                 archive_error_string(tar->archive));
        goto fail;
    }
    if (fchmod(tar->fd, tar->mode) < 0 || (sync && fdatasync(tar->fd) < 0)) {
        rc = -errno;
        snprintf(err, err_size, "writing %s: %s", tar->final_path, strerror(errno));
        goto fail;
    }
    if (rename(tar->tmp_path, tar->final_path) < 0) {
        rc = -errno;
        snprintf(err, err_size, "renaming into %s: %s", tar->final_path, strerror(errno));
        goto fail;
    }
    if (sync) {
        /* One tar is thousands of items: a folder sync per tar is cheap. */
        int dir_fd = open(tar->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0 || fsync(dir_fd) < 0) {
            rc = -errno;
            snprintf(err, err_size, "syncing the folder %s: %s", tar->dir, strerror(errno));
        }
        if (dir_fd >= 0)
            close(dir_fd);
    }
    destroy(tar, false);
    return rc;

fail:
    destroy(tar, true);
    return rc;
}

void io_tar_abort(struct io_tar *tar)
{
    if (tar == NULL)
        return;
    destroy(tar, true);
}
