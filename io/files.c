#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int io_write_atomic(const char *dir, const char *name, const void *data, size_t size, mode_t mode,
                    char *err, size_t err_size)
{
    char tmp_path[PATH_MAX];
    char final_path[PATH_MAX];
    int fd = -1;
    int rc;

    if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(err, err_size, "refusing output name \"%s\"", name);
        return -EINVAL;
    }
    /* The temporary name starts with '.' and ends in ".tmp" so a glob for
     * "*.png" never picks it up, and it lives in the same directory so the
     * rename is atomic (same file system). */
    if (snprintf(final_path, sizeof(final_path), "%s/%s", dir, name) >= (int)sizeof(final_path) ||
        snprintf(tmp_path, sizeof(tmp_path), "%s/.%s.XXXXXX.tmp", dir, name) >=
            (int)sizeof(tmp_path)) {
        snprintf(err, err_size, "output path too long");
        return -ENAMETOOLONG;
    }
    fd = mkstemps(tmp_path, 4);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_size, "creating a temporary file in %s: %s", dir, strerror(errno));
        return rc;
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
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp_path);
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
