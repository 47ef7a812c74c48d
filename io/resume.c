/* Resume support: what a rerun may skip, and what a killed run left behind.
 *
 * io_write_atomic writes DIR/.NAME.XXXXXX.tmp and renames it to DIR/NAME, so
 * a regular file under a final name is complete, and a ".NAME.XXXXXX.tmp"
 * that no process holds locked is the remains of a write that never reached
 * its rename (kill -9, power loss). Every output carries its URL in a tEXt
 * chunk "Source" before its first IDAT (imaging/encode.c writes it), so a
 * rerun skips a name only when it holds this URL's output. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

/* ".tmp" plus the six characters mkstemps fills in and the dot before them. */
#define TEMP_SUFFIX_LEN 11

static int read_exact(int fd, void *buf, size_t size)
{
    uint8_t *bytes = buf;
    while (size > 0) {
        ssize_t got = read(fd, bytes, size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            return -ENODATA;
        bytes += got;
        size -= (size_t)got;
    }
    return 0;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Chunks looked at before giving up on finding "Source": ours is the second. */
#define MAX_CHUNKS_BEFORE_IDAT 64

/* Walks the PNG chunks of `fd` up to the first IDAT looking for a tEXt
 * "Source". IO_OUTPUT_OURS when its text is `url`, IO_OUTPUT_OTHERS when it
 * is another, IO_OUTPUT_UNMARKED when there is none (or not a PNG). Only a
 * text as long as the URL is read, so a hostile file costs no memory. CRCs
 * are not checked: a final name only ever holds a complete file. */
static int source_of(int fd, const char *url)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const char keyword[] = "Source"; /* and its NUL separator */
    uint8_t head[8];
    size_t url_len = strlen(url);

    if (read_exact(fd, head, 8) < 0 || memcmp(head, signature, 8) != 0)
        return IO_OUTPUT_UNMARKED;
    for (int chunk = 0; chunk < MAX_CHUNKS_BEFORE_IDAT; chunk++) {
        if (read_exact(fd, head, 8) < 0)
            return IO_OUTPUT_UNMARKED;
        uint32_t length = get_be32(head);
        if (memcmp(head + 4, "IDAT", 4) == 0 || memcmp(head + 4, "IEND", 4) == 0 ||
            length > 0x7fffffffu)
            return IO_OUTPUT_UNMARKED;
        if (memcmp(head + 4, "tEXt", 4) == 0 && length >= sizeof(keyword)) {
            char found[sizeof(keyword)];
            if (read_exact(fd, found, sizeof(keyword)) < 0)
                return IO_OUTPUT_UNMARKED;
            if (memcmp(found, keyword, sizeof(keyword)) == 0) {
                if (length - sizeof(keyword) != url_len)
                    return IO_OUTPUT_OTHERS;
                char *text = malloc(url_len ? url_len : 1);
                if (text == NULL)
                    return -ENOMEM;
                int rc = read_exact(fd, text, url_len);
                bool same = rc == 0 && memcmp(text, url, url_len) == 0;
                free(text);
                if (rc < 0)
                    return IO_OUTPUT_UNMARKED;
                return same ? IO_OUTPUT_OURS : IO_OUTPUT_OTHERS;
            }
            length -= sizeof(keyword);
        }
        if (lseek(fd, (off_t)length + 4, SEEK_CUR) < 0)
            return IO_OUTPUT_UNMARKED;
    }
    return IO_OUTPUT_UNMARKED;
}

static bool ends_with_iend(int fd, off_t size)
{
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    uint8_t tail[12];
    if (size < 8 + 12 || pread(fd, tail, sizeof(tail), size - 12) != (ssize_t)sizeof(tail))
        return false;
    return memcmp(tail, iend, sizeof(iend)) == 0;
}

int io_output_owner(const char *dir, const char *name, const char *url)
{
    char path[4096];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? IO_OUTPUT_ABSENT : -errno;
    int rc;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    /* Ours are never empty (a PNG has a signature): an empty file or a
     * folder under that name is not a finished output. */
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        rc = IO_OUTPUT_ABSENT;
        goto out;
    }
    rc = source_of(fd, url);
    /* Our own output, cut short (a power loss under --no-fsync can leave
     * that): not done. Every output ends with IEND, whose CRC is fixed. */
    if (rc == IO_OUTPUT_OURS && !ends_with_iend(fd, st.st_size))
        rc = IO_OUTPUT_ABSENT;
out:
    close(fd);
    return rc;
}

int io_resume_name(const char *dir, const char *url, bool force, struct io_name_table *table,
                   uint8_t *level, char *name, size_t name_size)
{
    return io_resume_named(dir, url, NULL, force, table, level, name, name_size);
}

int io_resume_named(const char *dir, const char *url, const char *given, bool force,
                    struct io_name_table *table, uint8_t *level, char *name, size_t name_size)
{
    unsigned start = *level;
    for (unsigned at = start; at <= IO_NAME_LEVEL_MAX; at++) {
        int rc = io_named_output_name(url, given, at, name, name_size);
        if (rc < 0)
            return rc;
        /* A name moved to must be no other item's: not one of the set's
         * (whatever this folder holds for it), not one another move took. */
        if (at > start && io_name_table_taken(table, name))
            continue;
        int owner = io_output_owner(dir, name, url);
        /* Not readable here: this name is as good as any (writing it will
         * say what is wrong). */
        if (owner < 0 && owner != -ENOMEM)
            owner = IO_OUTPUT_ABSENT;
        if (owner < 0)
            return owner;
        if (owner == IO_OUTPUT_OTHERS)
            continue;
        if (at > start) {
            rc = io_name_table_claim(table, name);
            if (rc < 0)
                return rc;
        }
        *level = (uint8_t)at;
        if (owner == IO_OUTPUT_ABSENT || force)
            return IO_RESUME_FETCH;
        return IO_RESUME_DONE;
    }
    return -EEXIST;
}

/* If `entry` is ".NAME.XXXXXX.tmp" with NAME ending in ".png" (an output)
 * or ".tar" (a tar shard, io/tar.c), copies NAME into `name` and returns
 * true. */
static bool temp_of(const char *entry, char *name, size_t name_size)
{
    size_t len = strlen(entry);
    if (entry[0] != '.' || len < 1 + 5 + TEMP_SUFFIX_LEN)
        return false;
    const char *suffix = entry + len - TEMP_SUFFIX_LEN;
    if (suffix[0] != '.' || strcmp(suffix + 7, ".tmp") != 0)
        return false;
    size_t name_len = len - 1 - TEMP_SUFFIX_LEN;
    if (name_len + 1 > name_size || name_len < 5 ||
        (memcmp(entry + 1 + name_len - 4, ".png", 4) != 0 &&
         memcmp(entry + 1 + name_len - 4, ".tar", 4) != 0))
        return false;
    memcpy(name, entry + 1, name_len);
    name[name_len] = '\0';
    return true;
}

/* A temporary file found in the folder, and the output name it was for. */
struct stale_temp {
    char *file; /* ".NAME.XXXXXX.tmp" */
    size_t name_len;
};

static int compare_temps(const void *a, const void *b)
{
    const struct stale_temp *ta = a;
    const struct stale_temp *tb = b;
    size_t common = ta->name_len < tb->name_len ? ta->name_len : tb->name_len;
    int by_name = memcmp(ta->file + 1, tb->file + 1, common);
    if (by_name != 0)
        return by_name;
    return (ta->name_len > tb->name_len) - (ta->name_len < tb->name_len);
}

/* Collects the temporary files of DIR, sorted by output name. */
static int find_temps(const char *dir, struct stale_temp **out, size_t *out_count)
{
    char name[4096];
    struct stale_temp *temps = NULL;
    size_t count = 0;
    size_t capacity = 0;
    int rc = 0;

    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!temp_of(entry->d_name, name, sizeof(name)))
            continue;
        if (count == capacity) {
            size_t grown = capacity ? capacity * 2 : 16;
            struct stale_temp *bigger = realloc(temps, grown * sizeof(*temps));
            if (bigger == NULL) {
                rc = -ENOMEM;
                break;
            }
            temps = bigger;
            capacity = grown;
        }
        temps[count].file = strdup(entry->d_name);
        if (temps[count].file == NULL) {
            rc = -ENOMEM;
            break;
        }
        temps[count++].name_len = strlen(name);
    }
    closedir(d);
    if (count > 0)
        qsort(temps, count, sizeof(*temps), compare_temps);
    *out = temps;
    *out_count = count;
    return rc;
}

/* A writer holds its temporary locked (flock LOCK_EX) from just after
 * creating it until after its rename, so one that can be locked without
 * waiting belongs to no live process: remove it. The writer's side of the
 * window before it locks: it checks, once locked, that its path still names
 * its file, and starts over with a new temporary if not (io_write_atomic). */
static bool remove_if_abandoned(const char *path)
{
    struct stat held;
    struct stat named;
    bool removed = false;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        goto out; /* EWOULDBLOCK: a live writer's */
    /* Still the file this path names (a writer may have renamed it into
     * place and a new temporary may have taken the name since). */
    if (fstat(fd, &held) == 0 && lstat(path, &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino)
        removed = unlink(path) == 0;
out:
    close(fd);
    return removed;
}

int io_remove_stale_temps(const char *dir, io_next_name_fn next_name, void *user, size_t *removed)
{
    char path[4096];
    struct stale_temp *temps = NULL;
    size_t count = 0;

    *removed = 0;
    /* The folder is read first: it nearly always holds no temporary file,
     * and then the run's names are never made at all. */
    int rc = find_temps(dir, &temps, &count);
    if (rc < 0 || count == 0)
        goto out;
    const char *name;
    while ((name = next_name(user)) != NULL) {
        /* Every temporary file of `name`: the first at or after it in the
         * sorted array, and those after it with the same name. */
        size_t name_len = strlen(name);
        size_t low = 0;
        size_t high = count;
        while (low < high) {
            size_t mid = low + (high - low) / 2;
            size_t common = temps[mid].name_len < name_len ? temps[mid].name_len : name_len;
            int by_name = memcmp(temps[mid].file + 1, name, common);
            if (by_name < 0 || (by_name == 0 && temps[mid].name_len < name_len))
                low = mid + 1;
            else
                high = mid;
        }
        for (size_t i = low; i < count && temps[i].name_len == name_len &&
                             memcmp(temps[i].file + 1, name, name_len) == 0;
             i++) {
            if (snprintf(path, sizeof(path), "%s/%s", dir, temps[i].file) >= (int)sizeof(path))
                continue;
            if (remove_if_abandoned(path))
                (*removed)++;
        }
    }
out:
    for (size_t i = 0; i < count; i++)
        free(temps[i].file);
    free(temps);
    return rc;
}
