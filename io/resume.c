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
            if (unlink(path) == 0)
                (*removed)++;
        }
    }
out:
    for (size_t i = 0; i < count; i++)
        free(temps[i].file);
    free(temps);
    return rc;
}
