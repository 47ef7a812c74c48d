#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "io.h"

/* Room for the stem, "-XXXXXXXX" and ".png" well inside NAME_MAX (255). */
#define MAX_STEM_BYTES 120

uint32_t io_url_hash(const char *url)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        hash ^= *p;
        hash *= 16777619u;
    }
    return hash;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* The last path segment of the URL: after the authority, before '?' or '#'. */
static void last_segment(const char *url, const char **start, size_t *len)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t path_end = strcspn(p, "?#");
    const char *path = memchr(p, '/', path_end);
    if (path == NULL) {
        *start = p + path_end;
        *len = 0;
        return;
    }
    const char *end = p + path_end;
    const char *seg = end;
    while (seg > path && seg[-1] != '/')
        seg--;
    *start = seg;
    *len = (size_t)(end - seg);
}

int io_output_name(const char *url, char *name, size_t name_size)
{
    char stem[MAX_STEM_BYTES + 1];
    size_t stem_len = 0;
    const char *seg;
    size_t seg_len;

    if (name_size < MAX_STEM_BYTES + sizeof(".png"))
        return -ENOSPC;
    last_segment(url, &seg, &seg_len);

    /* Percent-decode, then keep only a portable file-name alphabet: whatever
     * the bytes decode to ('/', '\\', NUL, control characters, "..") they
     * cannot leave the output folder or confuse a shell. */
    for (size_t i = 0; i < seg_len && stem_len < MAX_STEM_BYTES; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (c == '%' && i + 2 < seg_len) {
            int hi = hex_value(seg[i + 1]);
            int lo = hex_value(seg[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi * 16 + lo);
                i += 2;
            }
        }
        stem[stem_len++] = is_safe_char(c) ? (char)c : '_';
    }
    stem[stem_len] = '\0';

    /* Drop the extension (1 to 5 letters or digits after the last dot): the
     * output is always PNG. */
    char *dot = strrchr(stem, '.');
    if (dot != NULL && dot != stem) {
        size_t ext_len = strlen(dot + 1);
        bool is_ext = ext_len >= 1 && ext_len <= 5;
        for (size_t i = 1; i <= ext_len && is_ext; i++)
            is_ext = (dot[i] >= 'a' && dot[i] <= 'z') || (dot[i] >= 'A' && dot[i] <= 'Z') ||
                     (dot[i] >= '0' && dot[i] <= '9');
        if (is_ext)
            *dot = '\0';
    }
    /* No hidden files, and never "." or "..". */
    char *visible = stem;
    while (*visible == '.')
        visible++;
    if (*visible == '\0')
        visible = "image";
    snprintf(name, name_size, "%s.png", visible);
    return 0;
}

_Static_assert(IO_OUTPUT_NAME_SIZE >= MAX_STEM_BYTES + sizeof("-XXXXXXXX.png"),
               "IO_OUTPUT_NAME_SIZE too small for a renamed name");

int io_assigned_output_name(const char *url, bool hashed, char *name, size_t name_size)
{
    char derived[IO_OUTPUT_NAME_SIZE];

    if (name_size < IO_OUTPUT_NAME_SIZE)
        return -ENOSPC;
    int rc = io_output_name(url, derived, sizeof(derived));
    if (rc < 0)
        return rc;
    if (!hashed) {
        memcpy(name, derived, strlen(derived) + 1);
        return 0;
    }
    size_t stem_len = strlen(derived) - strlen(".png");
    snprintf(name, name_size, "%.*s-%08x.png", (int)stem_len, derived, io_url_hash(url));
    return 0;
}

/* While sorting, a name stands for itself by a 64-bit hash: 16 bytes per URL
 * instead of every name. Equal hashes are then checked on the names. */
struct name_key {
    uint64_t hash;
    size_t index;
};

static uint64_t name_hash(const char *name)
{
    uint64_t hash = 14695981039346656037ull; /* 64-bit FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        hash ^= *p;
        hash *= 1099511628211ull;
    }
    return hash;
}

static int compare_keys(const void *a, const void *b)
{
    const struct name_key *ka = a;
    const struct name_key *kb = b;
    if (ka->hash != kb->hash)
        return (ka->hash > kb->hash) - (ka->hash < kb->hash);
    return (ka->index > kb->index) - (ka->index < kb->index);
}

/* The name of urls[index] in a pass: the derived one while `hashed` is NULL,
 * the final one after. */
static int pass_name(const char *const *urls, const bool *hashed, size_t index, char *name)
{
    if (hashed == NULL)
        return io_output_name(urls[index], name, IO_OUTPUT_NAME_SIZE);
    return io_assigned_output_name(urls[index], hashed[index], name, IO_OUTPUT_NAME_SIZE);
}

struct name_slot {
    char *name;
    size_t index;
};

static int compare_slots(const void *a, const void *b)
{
    const struct name_slot *sa = a;
    const struct name_slot *sb = b;
    return strcmp(sa->name, sb->name);
}

/* keys[0..count) share one hash. Returns more than 0 when some of their names
 * are equal (marking those URLs in `mark` unless NULL), 0 when they are all
 * different, or a negative code.
 * The names are nearly always all equal (a true collision group) and are
 * compared one by one with the first; only different names under one 64-bit
 * hash pay for holding the group's names and sorting them. */
static long shared_in_group(const char *const *urls, const bool *hashed,
                            const struct name_key *keys, size_t count, bool *mark)
{
    char first[IO_OUTPUT_NAME_SIZE];
    char name[IO_OUTPUT_NAME_SIZE];
    int rc = pass_name(urls, hashed, keys[0].index, first);
    if (rc < 0)
        return rc;
    size_t same = 1;
    for (; same < count; same++) {
        rc = pass_name(urls, hashed, keys[same].index, name);
        if (rc < 0)
            return rc;
        if (strcmp(name, first) != 0)
            break;
    }
    if (same == count) {
        for (size_t i = 0; mark != NULL && i < count; i++)
            mark[keys[i].index] = true;
        return (long)count;
    }

    long shared = 0;
    struct name_slot *slots = calloc(count, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        rc = pass_name(urls, hashed, keys[i].index, name);
        slots[i].name = rc < 0 ? NULL : strdup(name);
        slots[i].index = keys[i].index;
        if (slots[i].name == NULL) {
            shared = rc < 0 ? rc : -ENOMEM;
            goto out;
        }
    }
    qsort(slots, count, sizeof(*slots), compare_slots);
    for (size_t i = 0; i + 1 < count; i++) {
        if (strcmp(slots[i].name, slots[i + 1].name) != 0)
            continue;
        shared++;
        if (mark != NULL) {
            mark[slots[i].index] = true;
            mark[slots[i + 1].index] = true;
        }
    }
out:
    for (size_t i = 0; i < count; i++)
        free(slots[i].name);
    free(slots);
    return shared;
}

int io_mark_name_collisions(const char *const *urls, size_t count, bool *hashed)
{
    char name[IO_OUTPUT_NAME_SIZE];
    int rc = 0;

    for (size_t i = 0; i < count; i++)
        hashed[i] = false;
    struct name_key *keys = malloc((count ? count : 1) * sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    /* Pass 1 renames every member of a group sharing a derived name, not
     * just the later ones, so a name depends on the URL set only, never on
     * the list's order (a shard of the list sees the same names). Pass 2:
     * a renamed name could in principle meet a natural one
     * ("a-1234abcd.png"), or two URLs share a 32-bit hash: refuse rather
     * than overwrite. */
    for (int pass = 1; pass <= 2; pass++) {
        const bool *known = pass == 1 ? NULL : hashed;
        for (size_t i = 0; i < count; i++) {
            rc = pass_name(urls, known, i, name);
            if (rc < 0)
                goto out;
            keys[i].hash = name_hash(name);
            keys[i].index = i;
        }
        qsort(keys, count, sizeof(*keys), compare_keys);
        size_t end;
        for (size_t start = 0; start < count; start = end) {
            for (end = start + 1; end < count && keys[end].hash == keys[start].hash; end++)
                ;
            if (end - start < 2)
                continue;
            long shared =
                shared_in_group(urls, known, &keys[start], end - start, pass == 1 ? hashed : NULL);
            if (shared < 0) {
                rc = (int)shared;
                goto out;
            }
            if (pass == 2 && shared > 0) {
                rc = -EEXIST;
                goto out;
            }
        }
    }
out:
    free(keys);
    return rc;
}

int io_assign_output_names(const char *const *urls, size_t count, char **names)
{
    char name[IO_OUTPUT_NAME_SIZE];

    for (size_t i = 0; i < count; i++)
        names[i] = NULL;
    bool *hashed = calloc(count ? count : 1, sizeof(*hashed));
    if (hashed == NULL)
        return -ENOMEM;
    int rc = io_mark_name_collisions(urls, count, hashed);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < count; i++) {
        rc = io_assigned_output_name(urls[i], hashed[i], name, sizeof(name));
        if (rc < 0)
            goto fail;
        names[i] = strdup(name);
        if (names[i] == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    goto out;

fail:
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
        names[i] = NULL;
    }
out:
    free(hashed);
    return rc;
}
