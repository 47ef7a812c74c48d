/* Resume support: what a rerun may skip, and what a killed run left behind.
 *
 * io_write_atomic writes DIR/.NAME.XXXXXX.tmp and renames it to DIR/NAME, so
 * a regular file under a final name is complete, and a ".NAME.XXXXXX.tmp"
 * is the remains of a write that never reached its rename (kill -9, power
 * loss). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

/* ".tmp" plus the six characters mkstemps fills in and the dot before them. */
#define TEMP_SUFFIX_LEN 11

int io_output_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    if (stat(path, &st) < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    /* Ours are never empty (a PNG has a signature): an empty file or a
     * folder under that name is not a finished output. */
    return S_ISREG(st.st_mode) && st.st_size > 0 ? 1 : 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* If `entry` is ".NAME.XXXXXX.tmp" with NAME ending in ".png", copies NAME
 * into `name` and returns true. */
static bool temp_of(const char *entry, char *name, size_t name_size)
{
    size_t len = strlen(entry);
    if (entry[0] != '.' || len < 1 + 5 + TEMP_SUFFIX_LEN)
        return false;
    const char *suffix = entry + len - TEMP_SUFFIX_LEN;
    if (suffix[0] != '.' || strcmp(suffix + 7, ".tmp") != 0)
        return false;
    size_t name_len = len - 1 - TEMP_SUFFIX_LEN;
    if (name_len + 1 > name_size || name_len < 5 || memcmp(entry + 1 + name_len - 4, ".png", 4) != 0)
        return false;
    memcpy(name, entry + 1, name_len);
    name[name_len] = '\0';
    return true;
}

int io_remove_stale_temps(const char *dir, const char *const *names, size_t count,
                          size_t *removed)
{
    char name[4096];
    char path[4096];
    int rc = 0;

    *removed = 0;
    if (count == 0)
        return 0;
    const char **sorted = malloc(count * sizeof(*sorted));
    if (sorted == NULL)
        return -ENOMEM;
    memcpy(sorted, names, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), compare_names);

    DIR *d = opendir(dir);
    if (d == NULL) {
        rc = errno == ENOENT ? 0 : -errno;
        goto out;
    }
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!temp_of(entry->d_name, name, sizeof(name)))
            continue;
        const char *key = name;
        if (bsearch(&key, sorted, count, sizeof(*sorted), compare_names) == NULL)
            continue; /* not one of this run's items: another shard's, or not ours */
        if (snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name) >= (int)sizeof(path))
            continue;
        if (unlink(path) == 0)
            (*removed)++;
    }
    closedir(d);
out:
    free(sorted);
    return rc;
}
