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

struct name_slot {
    const char *name;
    size_t index;
};

static int compare_slots(const void *a, const void *b)
{
    const struct name_slot *sa = a;
    const struct name_slot *sb = b;
    int by_name = strcmp(sa->name, sb->name);
    if (by_name != 0)
        return by_name;
    return (sa->index > sb->index) - (sa->index < sb->index);
}

/* Sorts slots for names[0..count) and returns how many names are shared. */
static size_t sort_and_count_shared(char **names, size_t count, struct name_slot *slots)
{
    size_t shared = 0;
    for (size_t i = 0; i < count; i++) {
        slots[i].name = names[i];
        slots[i].index = i;
    }
    qsort(slots, count, sizeof(*slots), compare_slots);
    for (size_t i = 0; i + 1 < count; i++)
        if (strcmp(slots[i].name, slots[i + 1].name) == 0)
            shared++;
    return shared;
}

int io_assign_output_names(const char *const *urls, size_t count, char **names)
{
    char buf[MAX_STEM_BYTES + 32];
    struct name_slot *slots = NULL;
    bool *collides = NULL;
    int rc = 0;

    for (size_t i = 0; i < count; i++)
        names[i] = NULL;
    slots = malloc((count ? count : 1) * sizeof(*slots));
    collides = calloc(count ? count : 1, sizeof(*collides));
    if (slots == NULL || collides == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        rc = io_output_name(urls[i], buf, sizeof(buf));
        if (rc < 0)
            goto fail;
        names[i] = strdup(buf);
        if (names[i] == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
    }

    if (sort_and_count_shared(names, count, slots) == 0)
        goto done;
    for (size_t i = 0; i + 1 < count; i++) {
        if (strcmp(slots[i].name, slots[i + 1].name) == 0) {
            collides[slots[i].index] = true;
            collides[slots[i + 1].index] = true;
        }
    }
    /* Every member of a colliding group is renamed, not just the later ones,
     * so a name depends on the URL set only, never on the list's order (a
     * shard of the list sees the same names). */
    for (size_t i = 0; i < count; i++) {
        if (!collides[i])
            continue;
        size_t stem_len = strlen(names[i]) - strlen(".png");
        snprintf(buf, sizeof(buf), "%.*s-%08x.png", (int)stem_len, names[i], io_url_hash(urls[i]));
        char *renamed = strdup(buf);
        if (renamed == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        free(names[i]);
        names[i] = renamed;
    }
    /* A renamed name could in principle meet a natural one ("a-1234abcd.png")
     * or two URLs could share a 32-bit hash: refuse rather than overwrite. */
    if (sort_and_count_shared(names, count, slots) != 0) {
        rc = -EEXIST;
        goto fail;
    }
    goto done;

fail:
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
        names[i] = NULL;
    }
done:
    free(collides);
    free(slots);
    return rc;
}
