/* Output names that never refuse a run (issue 10, items 5 and 6): the name
 * levels and their fixed point, its independence from order, a real
 * FNV-1a-32 collision, the SHA-256 behind level 3, and resume's check of the
 * Source an existing output carries; and the sweep that leaves a locked
 * temporary alone (item 7). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io.h"

/* Two CDN-style URLs with one FNV-1a-32 hash (a birthday search over
 * /media/<16 hex>/original.jpg, 80,549 tries): equal level-1 names. */
static const char *const fnv_pair[2] = {
    "http://127.0.0.1/media/8405b2d7111fa98d/original.jpg",
    "http://127.0.0.1/media/66d780f6e7e93f74/original.jpg",
};

static void name_at(const char *url, unsigned level, char *name)
{
    CHECK_EQ(io_leveled_output_name(url, level, name, IO_OUTPUT_NAME_SIZE), 0);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of `urls` (levels into `levels`), checked to be all different
 * and to be io_leveled_output_name's at those levels. */
static char **names_of(const char *const *urls, size_t count, uint8_t *levels)
{
    char name[IO_OUTPUT_NAME_SIZE];
    char **names = calloc(count, sizeof(*names));
    char **sorted = malloc(count * sizeof(*sorted));
    CHECK(names != NULL && sorted != NULL);
    CHECK_EQ(io_assign_name_levels(urls, count, levels), 0);
    CHECK_EQ(io_assign_output_names(urls, count, names), 0);
    for (size_t i = 0; i < count; i++) {
        name_at(urls[i], levels[i], name);
        CHECK_STR_EQ(name, names[i]);
    }
    memcpy(sorted, names, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), compare_strings);
    for (size_t i = 1; i < count; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            fprintf(stderr, "two URLs named %s\n", sorted[i]);
            abort();
        }
    free(sorted);
    return names;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* FIPS 180-4's examples, through the level-3 name of a URL without a path
 * ("image" stem): one block, the empty message, two blocks of padding. */
static void test_sha256_vectors(void)
{
    char name[IO_OUTPUT_NAME_SIZE];
    name_at("abc", IO_NAME_SHA256, name);
    CHECK_STR_EQ(name,
                 "image-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.png");
    name_at("", IO_NAME_SHA256, name);
    CHECK_STR_EQ(name,
                 "image-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.png");
    name_at("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", IO_NAME_SHA256, name);
    CHECK_STR_EQ(name,
                 "image-248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1.png");
    /* 64 bytes exactly: the padding takes a block of its own. */
    name_at("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", IO_NAME_SHA256,
            name);
    CHECK_STR_EQ(name,
                 "image-ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb.png");
    name_at("http://127.0.0.1/a/cat.jpg", IO_NAME_HASH32, name);
    char want[64];
    snprintf(want, sizeof(want), "cat-%08x.png", io_url_hash("http://127.0.0.1/a/cat.jpg"));
    CHECK_STR_EQ(name, want);
    name_at("http://127.0.0.1/a/cat.jpg", IO_NAME_HASH64, name);
    CHECK_EQ(strlen(name), strlen("cat-") + 16 + strlen(".png"));
    CHECK_EQ(io_leveled_output_name("http://127.0.0.1/a/cat.jpg", 4, name, sizeof(name)), -EINVAL);
}

/* The three URLs: /x and /y share cat.png, so both become
 * cat-HASH32.png, and x's is /z's natural name. Once this refused the run;
 * now x moves on to level 2 and z to level 1. */
static void test_crafted_three(void)
{
    char z[128];
    const char *urls[3] = {"http://127.0.0.1/x/cat.jpg", "http://127.0.0.1/y/cat.jpg", z};
    snprintf(z, sizeof(z), "http://127.0.0.1/z/cat-%08x.png", io_url_hash(urls[0]));
    uint8_t levels[3];
    char **names = names_of(urls, 3, levels);
    CHECK_EQ(levels[0], IO_NAME_HASH64);
    CHECK_EQ(levels[1], IO_NAME_HASH32);
    CHECK_EQ(levels[2], IO_NAME_HASH32);
    free_names(names, 3);
}

/* A real FNV-1a-32 collision: both URLs go to level 2 (16 hex digits). And
 * names crafted to meet each level's names in turn climb to level 3. */
static void test_hash_collisions(void)
{
    CHECK_EQ(io_url_hash(fnv_pair[0]), io_url_hash(fnv_pair[1]));
    uint8_t levels[8];
    char **names = names_of(fnv_pair, 2, levels);
    CHECK_EQ(levels[0], IO_NAME_HASH64);
    CHECK_EQ(levels[1], IO_NAME_HASH64);
    CHECK(strcmp(names[0], names[1]) != 0);
    free_names(names, 2);

    /* x meets z at level 1, w at level 2, v at level 3; v moves instead. */
    const char *x = "http://127.0.0.1/x/cat.jpg";
    char level1[IO_OUTPUT_NAME_SIZE], level2[IO_OUTPUT_NAME_SIZE], level3[IO_OUTPUT_NAME_SIZE];
    name_at(x, IO_NAME_HASH32, level1);
    name_at(x, IO_NAME_HASH64, level2);
    name_at(x, IO_NAME_SHA256, level3);
    char z[256], w[256], v[256];
    snprintf(z, sizeof(z), "http://127.0.0.1/z/%s", level1);
    snprintf(w, sizeof(w), "http://127.0.0.1/w/%s", level2);
    snprintf(v, sizeof(v), "http://127.0.0.1/v/%s", level3);
    const char *urls[5] = {x, "http://127.0.0.1/y/cat.jpg", z, w, v};
    names = names_of(urls, 5, levels);
    CHECK_EQ(levels[0], IO_NAME_SHA256);
    CHECK_STR_EQ(names[0], level3);
    CHECK_EQ(levels[1], IO_NAME_HASH32);
    CHECK_EQ(levels[2], IO_NAME_HASH32);
    CHECK_EQ(levels[3], IO_NAME_HASH32);
    CHECK_EQ(levels[4], IO_NAME_HASH32);
    free_names(names, 5);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}

/* The same set in any order gets the same names: 2,000 URLs with groups of
 * shared names, the crafted three and the collision pair, shuffled. */
static void test_order_independent(void)
{
    enum { COUNT = 2000 };
    static char text[COUNT][256];
    static const char *urls[COUNT];
    static const char *shuffled[COUNT];
    static uint8_t levels[COUNT];
    static uint8_t shuffled_levels[COUNT];
    for (int i = 0; i < COUNT; i++) {
        if (i % 3 == 0)
            snprintf(text[i], sizeof(text[i]), "http://127.0.0.1/%d/same.jpg", i);
        else if (i % 5 == 0)
            snprintf(text[i], sizeof(text[i]), "http://127.0.0.1/%d/", i);
        else
            snprintf(text[i], sizeof(text[i]), "http://127.0.0.1/u/%d.jpg", i);
        urls[i] = text[i];
    }
    snprintf(text[0], sizeof(text[0]), "%s", "http://127.0.0.1/x/cat.jpg");
    snprintf(text[1], sizeof(text[1]), "%s", "http://127.0.0.1/y/cat.jpg");
    snprintf(text[2], sizeof(text[2]), "http://127.0.0.1/z/cat-%08x.png", io_url_hash(text[0]));
    snprintf(text[3], sizeof(text[3]), "%s", fnv_pair[0]);
    snprintf(text[4], sizeof(text[4]), "%s", fnv_pair[1]);
    /* 3/same.jpg's level-1 name as a natural one. */
    char level1[IO_OUTPUT_NAME_SIZE];
    name_at(text[3 * 7], IO_NAME_HASH32, level1);
    snprintf(text[5], sizeof(text[5]), "http://127.0.0.1/n/%s", level1);
    char **names = names_of(urls, COUNT, levels);
    CHECK_EQ(levels[3 * 7], IO_NAME_HASH64);

    uint64_t rng = 0x5eed;
    for (int round = 0; round < 3; round++) {
        size_t order[COUNT];
        for (size_t i = 0; i < COUNT; i++)
            order[i] = i;
        for (size_t i = COUNT - 1; i > 0; i--) {
            size_t j = (size_t)(next_random(&rng) % (i + 1));
            size_t keep = order[i];
            order[i] = order[j];
            order[j] = keep;
        }
        for (size_t i = 0; i < COUNT; i++)
            shuffled[i] = urls[order[i]];
        char **again = names_of(shuffled, COUNT, shuffled_levels);
        for (size_t i = 0; i < COUNT; i++)
            CHECK_STR_EQ(again[i], names[order[i]]);
        free_names(again, COUNT);
    }
    free_names(names, COUNT);
}

/* The table answers for every name of the set and every name claimed. */
static void test_name_table(void)
{
    const char *urls[3] = {"http://127.0.0.1/a/cat.jpg", "http://127.0.0.1/b/cat.jpg",
                           "http://127.0.0.1/dog.jpg"};
    uint8_t levels[3];
    struct io_name_table *table;
    CHECK_EQ(io_name_table_create(urls, 3, levels, &table), 0);
    char name[IO_OUTPUT_NAME_SIZE];
    name_at(urls[0], levels[0], name);
    CHECK(io_name_table_taken(table, name));
    CHECK(io_name_table_taken(table, "dog.png"));
    CHECK(!io_name_table_taken(table, "cat.png"));
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "claimed-%d.png", i);
        CHECK(!io_name_table_taken(table, name));
        CHECK_EQ(io_name_table_claim(table, name), 0);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "claimed-%d.png", i);
        CHECK(io_name_table_taken(table, name));
    }
    io_name_table_destroy(table);
    io_name_table_destroy(NULL);
}

/* ---- resume: whose output a name holds --------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t put_chunk(uint8_t *out, const char *type, const void *data, size_t size)
{
    put_be32(out, (uint32_t)size);
    memcpy(out + 4, type, 4);
    memcpy(out + 8, data, size);
    memset(out + 8 + size, 0, 4); /* CRC: not read */
    return 12 + size;
}

/* A PNG-shaped file: IHDR, an optional tEXt "Source" (after another tEXt,
 * so the walker must step over chunks), IDAT, IEND. */
static void write_output(const char *dir, const char *name, const char *source)
{
    static uint8_t file[4096];
    size_t size = 0;
    memcpy(file, "\x89PNG\r\n\x1a\n", 8);
    size += 8;
    uint8_t ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0};
    size += put_chunk(file + size, "IHDR", ihdr, sizeof(ihdr));
    size += put_chunk(file + size, "tEXt", "Comment\0hello", 13);
    if (source != NULL) {
        char text[1024];
        size_t len = strlen(source);
        memcpy(text, "Source", 7);
        memcpy(text + 7, source, len);
        size += put_chunk(file + size, "tEXt", text, 7 + len);
    }
    size += put_chunk(file + size, "IDAT", "\x78\x01", 2);
    size += put_chunk(file + size, "IEND", "", 0);
    memcpy(file + size - 4, "\xae\x42\x60\x82", 4); /* IEND's CRC: the reader checks it */
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fwrite(file, 1, size, f), size);
    CHECK_EQ(fclose(f), 0);
}

static void test_resume_source(void)
{
    char dir[] = "/tmp/edgefetch-test-names-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *a = "http://127.0.0.1/a/cat.jpg";
    const char *b = "http://127.0.0.1/b/cat.jpg";
    const char *b_list[1] = {b};
    uint8_t level;
    char name[IO_OUTPUT_NAME_SIZE];
    char want[IO_OUTPUT_NAME_SIZE];
    struct io_name_table *table;

    CHECK_EQ(io_output_owner(dir, "cat.png", b), IO_OUTPUT_ABSENT);
    write_output(dir, "cat.png", a);
    CHECK_EQ(io_output_owner(dir, "cat.png", a), IO_OUTPUT_OURS);
    CHECK_EQ(io_output_owner(dir, "cat.png", b), IO_OUTPUT_OTHERS);
    /* Ours, but cut short (no IEND at the end): not done. */
    char path[512];
    snprintf(path, sizeof(path), "%s/cat.png", dir);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(truncate(path, st.st_size - 1), 0);
    CHECK_EQ(io_output_owner(dir, "cat.png", a), IO_OUTPUT_ABSENT);
    write_output(dir, "cat.png", a);
    /* A prefix of the URL is another URL. */
    CHECK_EQ(io_output_owner(dir, "cat.png", "http://127.0.0.1/a/cat.jp"), IO_OUTPUT_OTHERS);

    /* Day 2 lists only /b/cat.jpg: its set name cat.png holds a's output,
     * so it moves to level 1, a free name: fetch there. */
    CHECK_EQ(io_name_table_create(b_list, 1, &level, &table), 0);
    CHECK_EQ(level, IO_NAME_DERIVED);
    CHECK_EQ(io_resume_name(dir, b, false, table, &level, name, sizeof(name)), IO_RESUME_FETCH);
    CHECK_EQ(level, IO_NAME_HASH32);
    name_at(b, IO_NAME_HASH32, want);
    CHECK_STR_EQ(name, want);
    io_name_table_destroy(table);

    /* Day 3, same list, b's output written there: done, at the same name. */
    write_output(dir, want, b);
    CHECK_EQ(io_name_table_create(b_list, 1, &level, &table), 0);
    CHECK_EQ(io_resume_name(dir, b, false, table, &level, name, sizeof(name)), IO_RESUME_DONE);
    CHECK_EQ(level, IO_NAME_HASH32);
    CHECK_STR_EQ(name, want);
    /* --force redoes it there, never over a's. */
    io_name_table_destroy(table);
    CHECK_EQ(io_name_table_create(b_list, 1, &level, &table), 0);
    CHECK_EQ(io_resume_name(dir, b, true, table, &level, name, sizeof(name)), IO_RESUME_FETCH);
    CHECK_STR_EQ(name, want);
    io_name_table_destroy(table);

    /* a itself is done at cat.png. */
    const char *a_list[1] = {a};
    CHECK_EQ(io_name_table_create(a_list, 1, &level, &table), 0);
    CHECK_EQ(io_resume_name(dir, a, false, table, &level, name, sizeof(name)), IO_RESUME_DONE);
    CHECK_STR_EQ(name, "cat.png");
    io_name_table_destroy(table);

    /* Unmarked (an older edgefetch's output, or the user's): kept, done. */
    const char *d = "http://127.0.0.1/dog.jpg";
    const char *d_list[1] = {d};
    write_output(dir, "dog.png", NULL);
    CHECK_EQ(io_output_owner(dir, "dog.png", d), IO_OUTPUT_UNMARKED);
    CHECK_EQ(io_name_table_create(d_list, 1, &level, &table), 0);
    CHECK_EQ(io_resume_name(dir, d, false, table, &level, name, sizeof(name)), IO_RESUME_DONE);
    CHECK_EQ(level, IO_NAME_DERIVED);
    /* Every level held by others: that item fails alone. */
    for (unsigned at = 0; at <= IO_NAME_LEVEL_MAX; at++) {
        name_at(d, at, want);
        write_output(dir, want, "http://127.0.0.1/someone/else.jpg");
    }
    level = IO_NAME_DERIVED;
    CHECK_EQ(io_resume_name(dir, d, false, table, &level, name, sizeof(name)), -EEXIST);
    io_name_table_destroy(table);

    /* A move never lands on a name of the set: /c/cat.jpg's level-1 name
     * is also the natural name of another URL of the list. */
    const char *c = "http://127.0.0.1/c/cat.jpg";
    char c_level1[IO_OUTPUT_NAME_SIZE];
    name_at(c, IO_NAME_HASH32, c_level1);
    char natural[256];
    snprintf(natural, sizeof(natural), "http://127.0.0.1/n/%s", c_level1);
    const char *c_list[2] = {c, natural};
    uint8_t levels[2];
    CHECK_EQ(io_name_table_create(c_list, 2, levels, &table), 0);
    CHECK_EQ(levels[0], IO_NAME_DERIVED); /* cat.png: held by a's output */
    CHECK_EQ(io_resume_name(dir, c, false, table, &levels[0], name, sizeof(name)), IO_RESUME_FETCH);
    CHECK_EQ(levels[0], IO_NAME_HASH64);
    io_name_table_destroy(table);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

/* The run's names for the sweep: "a.png" alone. */
static const char *next_a_name(void *user)
{
    size_t *next = user;
    return (*next)++ == 0 ? "a.png" : NULL;
}

/* The sweep removes an abandoned temporary and leaves one a writer holds
 * locked (flock locks belong to the open file, so a second open() in this
 * process meets the lock as another process would). */
static void test_sweep_locked(void)
{
    char dir[] = "/tmp/edgefetch-test-names-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char held_path[512], stale_path[512];
    snprintf(held_path, sizeof(held_path), "%s/.a.png.Held00.tmp", dir);
    snprintf(stale_path, sizeof(stale_path), "%s/.a.png.Stale0.tmp", dir);
    int held = open(held_path, O_CREAT | O_WRONLY | O_EXCL, 0600);
    CHECK(held >= 0);
    CHECK_EQ(flock(held, LOCK_EX), 0);
    int stale = open(stale_path, O_CREAT | O_WRONLY | O_EXCL, 0600);
    CHECK(stale >= 0);
    CHECK_EQ(close(stale), 0);

    size_t next = 0;
    size_t removed = 0;
    CHECK_EQ(io_remove_stale_temps(dir, next_a_name, &next, &removed), 0);
    CHECK_EQ(removed, 1);
    CHECK_EQ(access(held_path, F_OK), 0);
    CHECK(access(stale_path, F_OK) < 0);
    CHECK_EQ(close(held), 0);
    /* Its writer gone (the lock with it), it is abandoned too. */
    next = 0;
    CHECK_EQ(io_remove_stale_temps(dir, next_a_name, &next, &removed), 0);
    CHECK_EQ(removed, 1);
    CHECK(access(held_path, F_OK) < 0);

    /* io_write_atomic with a folder sync: the file is there, whole, and
     * no temporary is left. */
    struct io_dir_sync *sync;
    char err[256];
    CHECK_EQ(io_dir_sync_create(dir, &sync), 0);
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d.png", i);
        CHECK_EQ(io_write_atomic(dir, name, "data", 4, 0644, sync, err, sizeof(err)), 0);
    }
    CHECK_EQ(io_dir_sync_flush(sync), 0);
    io_dir_sync_destroy(sync);
    io_dir_sync_destroy(NULL);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 300 && rm -rf '%s'", dir, dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    test_sha256_vectors();
    test_crafted_three();
    test_hash_collisions();
    test_order_independent();
    test_name_table();
    test_resume_source();
    test_sweep_locked();
    printf("names: ok\n");
    return 0;
}
