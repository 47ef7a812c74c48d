#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "io.h"
#include "sha256.h"

/* Room for the stem, "-" and 64 hex digits (level 3) and ".png", and for the
 * temporary ".NAME.XXXXXX.tmp" around it, inside NAME_MAX (255). */
#define MAX_STEM_BYTES 120

/* 64-bit FNV-1a: the level-2 name's hash of the URL, and the fingerprint
 * that stands for a name while names are compared. */
static uint64_t fnv1a_64(const char *text)
{
    uint64_t hash = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        hash ^= *p;
        hash *= 1099511628211ull;
    }
    return hash;
}

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

/* A name from `seg` (seg_len bytes), percent-decoded when `decode`; false
 * when nothing is left but dots (the caller picks "image" or another). */
static bool name_from(const char *seg, size_t seg_len, bool decode, char *name, size_t name_size);

int io_output_name(const char *url, char *name, size_t name_size)
{
    const char *seg;
    size_t seg_len;

    if (name_size < MAX_STEM_BYTES + sizeof(".png"))
        return -ENOSPC;
    last_segment(url, &seg, &seg_len);
    if (!name_from(seg, seg_len, true, name, name_size))
        snprintf(name, name_size, "image.png");
    return 0;
}

static bool name_from(const char *seg, size_t seg_len, bool decode, char *name, size_t name_size)
{
    char stem[MAX_STEM_BYTES + 1];
    size_t stem_len = 0;

    /* Percent-decode, then keep only a portable file-name alphabet: whatever
     * the bytes decode to ('/', '\\', NUL, control characters, "..") they
     * cannot leave the output folder or confuse a shell. */
    for (size_t i = 0; i < seg_len && stem_len < MAX_STEM_BYTES; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (decode && c == '%' && i + 2 < seg_len) {
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
        return false;
    snprintf(name, name_size, "%s.png", visible);
    return true;
}

_Static_assert(IO_OUTPUT_NAME_SIZE >= MAX_STEM_BYTES + sizeof("-") + 64 + sizeof(".png"),
               "IO_OUTPUT_NAME_SIZE too small for a level-3 name");

int io_leveled_output_name(const char *url, unsigned level, char *name, size_t name_size)
{
    return io_named_output_name(url, NULL, level, name, name_size);
}

int io_named_output_name(const char *url, const char *given, unsigned level, char *name,
                         size_t name_size)
{
    char derived[IO_OUTPUT_NAME_SIZE];
    char digest_hex[65];

    if (name_size < IO_OUTPUT_NAME_SIZE)
        return -ENOSPC;
    if (level > IO_NAME_LEVEL_MAX)
        return -EINVAL;
    if (given == NULL || !name_from(given, strlen(given), false, derived, sizeof(derived))) {
        int rc = io_output_name(url, derived, sizeof(derived));
        if (rc < 0)
            return rc;
    }
    size_t stem_len = strlen(derived) - strlen(".png");
    switch (level) {
    case IO_NAME_DERIVED:
        memcpy(name, derived, strlen(derived) + 1);
        break;
    case IO_NAME_HASH32:
        snprintf(name, name_size, "%.*s-%08x.png", (int)stem_len, derived, io_url_hash(url));
        break;
    case IO_NAME_HASH64:
        snprintf(name, name_size, "%.*s-%016llx.png", (int)stem_len, derived,
                 (unsigned long long)fnv1a_64(url));
        break;
    default: {
        uint8_t digest[32];
        if (io__sha256(url, strlen(url), digest) < 0)
            return -ENOMEM;
        for (int i = 0; i < 32; i++)
            snprintf(digest_hex + 2 * i, 3, "%02x", digest[i]);
        snprintf(name, name_size, "%.*s-%s.png", (int)stem_len, derived, digest_hex);
        break;
    }
    }
    return 0;
}

/* While sorting, a name stands for itself by its 64-bit fingerprint: 16
 * bytes per URL instead of every name. Equal fingerprints are then checked
 * on the names themselves. */
struct name_key {
    uint64_t hash;
    size_t index;
};

static int compare_keys(const void *a, const void *b)
{
    const struct name_key *ka = a;
    const struct name_key *kb = b;
    if (ka->hash != kb->hash)
        return (ka->hash > kb->hash) - (ka->hash < kb->hash);
    return (ka->index > kb->index) - (ka->index < kb->index);
}

struct name_slot {
    char *name;
    size_t index;
    bool shared;
};

static int compare_slots(const void *a, const void *b)
{
    const struct name_slot *sa = a;
    const struct name_slot *sb = b;
    return strcmp(sa->name, sb->name);
}

/* Moves urls[index] up one level; false when it is at the top already. */
static bool raise_level(uint8_t *levels, size_t index)
{
    if (levels[index] >= IO_NAME_LEVEL_MAX)
        return false;
    levels[index]++;
    return true;
}

/* keys[0..count) share one fingerprint. Every URL among them whose current
 * name equals another's moves up a level (after all their names are made,
 * so the group is judged on one state). Returns how many moved, or a
 * negative code; sets *stuck when a shared name is already at the top
 * level (only a SHA-256 collision can do that).
 * The names are nearly always all equal (a true clash) and are compared one
 * by one with the first; only different names under one fingerprint pay for
 * holding the group's names and sorting them. */
/* URL i's name at its level: from givens[i] when there is one. */
static int name_of(const char *const *urls, const char *const *givens, const uint8_t *levels,
                   size_t i, char *name, size_t name_size)
{
    return io_named_output_name(urls[i], givens != NULL ? givens[i] : NULL, levels[i], name,
                                name_size);
}

static long raise_shared(const char *const *urls, const char *const *givens, uint8_t *levels,
                         const struct name_key *keys, size_t count, bool *stuck)
{
    char first[IO_OUTPUT_NAME_SIZE];
    char name[IO_OUTPUT_NAME_SIZE];
    int rc = name_of(urls, givens, levels, keys[0].index, first, sizeof(first));
    if (rc < 0)
        return rc;
    size_t same = 1;
    for (; same < count; same++) {
        size_t index = keys[same].index;
        rc = name_of(urls, givens, levels, index, name, sizeof(name));
        if (rc < 0)
            return rc;
        if (strcmp(name, first) != 0)
            break;
    }
    long moved = 0;
    if (same == count) {
        for (size_t i = 0; i < count; i++) {
            if (raise_level(levels, keys[i].index))
                moved++;
            else
                *stuck = true;
        }
        return moved;
    }

    struct name_slot *slots = calloc(count, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        size_t index = keys[i].index;
        rc = name_of(urls, givens, levels, index, name, sizeof(name));
        slots[i].name = rc < 0 ? NULL : strdup(name);
        slots[i].index = index;
        if (slots[i].name == NULL) {
            moved = rc < 0 ? rc : -ENOMEM;
            goto out;
        }
    }
    qsort(slots, count, sizeof(*slots), compare_slots);
    for (size_t i = 0; i + 1 < count; i++) {
        if (strcmp(slots[i].name, slots[i + 1].name) == 0) {
            slots[i].shared = true;
            slots[i + 1].shared = true;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (!slots[i].shared)
            continue;
        if (raise_level(levels, slots[i].index))
            moved++;
        else
            *stuck = true;
    }
out:
    for (size_t i = 0; i < count; i++)
        free(slots[i].name);
    free(slots);
    return moved;
}

/* Fingerprints of names claimed after the fixed point (resume moves), in an
 * open-addressing set; 0 marks a free cell, so a fingerprint of 0 is kept as
 * 1 (a false "taken" only ever moves a name once more). */
struct claimed_set {
    uint64_t *cells;
    size_t capacity; /* a power of two, or 0 */
    size_t used;
};

struct io_name_table {
    struct name_key *keys; /* the final names' fingerprints, sorted */
    size_t count;
    struct claimed_set claimed;
};

static uint64_t claim_key(uint64_t hash)
{
    return hash != 0 ? hash : 1;
}

static bool claimed_has(const struct claimed_set *set, uint64_t hash)
{
    if (set->capacity == 0)
        return false;
    uint64_t key = claim_key(hash);
    for (size_t i = (size_t)key & (set->capacity - 1);; i = (i + 1) & (set->capacity - 1)) {
        if (set->cells[i] == 0)
            return false;
        if (set->cells[i] == key)
            return true;
    }
}

static void claimed_put(uint64_t *cells, size_t capacity, uint64_t key)
{
    size_t i = (size_t)key & (capacity - 1);
    while (cells[i] != 0 && cells[i] != key)
        i = (i + 1) & (capacity - 1);
    cells[i] = key;
}

static int claimed_add(struct claimed_set *set, uint64_t hash)
{
    uint64_t key = claim_key(hash);
    if (claimed_has(set, key))
        return 0;
    /* At most half full, so probes stay short. */
    if (2 * (set->used + 1) > set->capacity) {
        size_t grown = set->capacity ? set->capacity * 2 : 64;
        uint64_t *cells = calloc(grown, sizeof(*cells));
        if (cells == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < set->capacity; i++)
            if (set->cells[i] != 0)
                claimed_put(cells, grown, set->cells[i]);
        free(set->cells);
        set->cells = cells;
        set->capacity = grown;
    }
    claimed_put(set->cells, set->capacity, key);
    set->used++;
    return 0;
}

int io_name_table_create(const char *const *urls, size_t count, uint8_t *levels,
                         struct io_name_table **out)
{
    return io_name_table_create_named(urls, NULL, count, levels, out);
}

int io_name_table_create_named(const char *const *urls, const char *const *givens, size_t count,
                               uint8_t *levels, struct io_name_table **out)
{
    char name[IO_OUTPUT_NAME_SIZE];
    int rc = 0;

    *out = NULL;
    struct io_name_table *table = calloc(1, sizeof(*table));
    if (table == NULL)
        return -ENOMEM;
    table->keys = malloc((count ? count : 1) * sizeof(*table->keys));
    if (table->keys == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    table->count = count;
    for (size_t i = 0; i < count; i++)
        levels[i] = IO_NAME_DERIVED;
    /* The fixed point: every URL whose current name some other URL's
     * current name equals moves up one level, all of them at once, until no
     * name is shared. A rule over the set of (URL, level) pairs alone, so
     * the names depend on the URLs, never on their order or the shard.
     * Levels only rise, so it ends: each round moves a URL or is the last,
     * and two level-3 names are equal only for a SHA-256 collision. */
    for (;;) {
        for (size_t i = 0; i < count; i++) {
            rc = name_of(urls, givens, levels, i, name, sizeof(name));
            if (rc < 0)
                goto fail;
            table->keys[i].hash = fnv1a_64(name);
            table->keys[i].index = i;
        }
        qsort(table->keys, count, sizeof(*table->keys), compare_keys);
        long moved = 0;
        bool stuck = false;
        size_t end;
        for (size_t start = 0; start < count; start = end) {
            for (end = start + 1; end < count && table->keys[end].hash == table->keys[start].hash;
                 end++)
                ;
            if (end - start < 2)
                continue;
            long group_moved =
                raise_shared(urls, givens, levels, &table->keys[start], end - start, &stuck);
            if (group_moved < 0) {
                rc = (int)group_moved;
                goto fail;
            }
            moved += group_moved;
        }
        if (moved == 0 && stuck) {
            rc = -EEXIST;
            goto fail;
        }
        if (moved == 0)
            break;
    }
    *out = table;
    return 0;

fail:
    io_name_table_destroy(table);
    return rc;
}

bool io_name_table_taken(const struct io_name_table *table, const char *name)
{
    uint64_t hash = fnv1a_64(name);
    size_t low = 0;
    size_t high = table->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (table->keys[mid].hash < hash)
            low = mid + 1;
        else
            high = mid;
    }
    if (low < table->count && table->keys[low].hash == hash)
        return true;
    return claimed_has(&table->claimed, hash);
}

int io_name_table_claim(struct io_name_table *table, const char *name)
{
    return claimed_add(&table->claimed, fnv1a_64(name));
}

void io_name_table_destroy(struct io_name_table *table)
{
    if (table == NULL)
        return;
    free(table->keys);
    free(table->claimed.cells);
    free(table);
}

int io_assign_name_levels(const char *const *urls, size_t count, uint8_t *levels)
{
    struct io_name_table *table;
    int rc = io_name_table_create(urls, count, levels, &table);
    io_name_table_destroy(table);
    return rc;
}

int io_assign_output_names(const char *const *urls, size_t count, char **names)
{
    char name[IO_OUTPUT_NAME_SIZE];

    for (size_t i = 0; i < count; i++)
        names[i] = NULL;
    uint8_t *levels = calloc(count ? count : 1, sizeof(*levels));
    if (levels == NULL)
        return -ENOMEM;
    int rc = io_assign_name_levels(urls, count, levels);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < count; i++) {
        rc = io_leveled_output_name(urls[i], levels[i], name, sizeof(name));
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
    free(levels);
    return rc;
}
