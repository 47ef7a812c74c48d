/* Unit tests for io/: URL list parsing, URL checks, output names, atomic
 * writes. Real files in a temporary folder, no mocks. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io.h"

static void read_list(const char *text, size_t size, struct io_url_list *list)
{
    char err[256] = "";
    FILE *in = fmemopen((void *)text, size, "r");
    CHECK(in != NULL);
    io_url_list_init(list);
    int rc = io_url_list_read(list, in, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "io_url_list_read: %s\n", err);
    CHECK_EQ(rc, 0);
    fclose(in);
}

static void test_url_list(void)
{
    static const char text[] = "\xEF\xBB\xBFhttp://127.0.0.1/a.jpg\r\n"
                               "\r\n"
                               "# a comment\n"
                               "   # an indented comment\n"
                               "  http://127.0.0.1/b.png  \t\r\n"
                               "\n"
                               "http://127.0.0.1/c.jpg"; /* no final newline */
    struct io_url_list list;
    read_list(text, sizeof(text) - 1, &list);
    CHECK_EQ(list.count, 3);
    CHECK_STR_EQ(list.entries[0].url, "http://127.0.0.1/a.jpg");
    CHECK_EQ(list.entries[0].line, 1);
    CHECK_STR_EQ(list.entries[1].url, "http://127.0.0.1/b.png");
    CHECK_EQ(list.entries[1].line, 5);
    CHECK_STR_EQ(list.entries[2].url, "http://127.0.0.1/c.jpg");
    CHECK_EQ(list.entries[2].line, 7);
    io_url_list_finish(&list);

    /* Empty and comment-only lists are valid and empty. */
    read_list("", 0, &list);
    CHECK_EQ(list.count, 0);
    io_url_list_finish(&list);
    read_list("# only\n\n", 8, &list);
    CHECK_EQ(list.count, 0);
    io_url_list_finish(&list);

    /* A BOM is only a BOM at the very start. */
    static const char late_bom[] = "http://127.0.0.1/a\n\xEF\xBB\xBFhttp://127.0.0.1/b\n";
    read_list(late_bom, sizeof(late_bom) - 1, &list);
    CHECK_EQ(list.count, 2);
    CHECK_STR_EQ(list.entries[1].url, "\xEF\xBB\xBFhttp://127.0.0.1/b");
    io_url_list_finish(&list);

    /* NUL bytes mean a binary file, not a list. */
    static const char binary[] = "http://127.0.0.1/a\n\0\0\n";
    char err[256];
    FILE *in = fmemopen((void *)binary, sizeof(binary) - 1, "r");
    io_url_list_init(&list);
    CHECK_EQ(io_url_list_read(&list, in, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "line 2") != NULL);
    fclose(in);
    io_url_list_finish(&list);

    /* A line over 64 KiB is no URL anyone meant: it fails alone (its
     * stand-in is refused by io_url_check), the rest of the list is read;
     * tests/unit/test_urllist.c has the details. */
    size_t long_len = 70 * 1024;
    char *long_list = malloc(long_len + 64);
    CHECK(long_list != NULL);
    int head = snprintf(long_list, 64, "http://127.0.0.1/a\nhttp://127.0.0.1/");
    memset(long_list + head, 'x', long_len);
    long_list[head + long_len] = '\n';
    in = fmemopen(long_list, (size_t)head + long_len + 1, "r");
    io_url_list_init(&list);
    err[0] = '\0';
    CHECK_EQ(io_url_list_read(&list, in, err, sizeof(err)), 0);
    CHECK_EQ(list.count, 2);
    CHECK_EQ(list.entries[1].line, 2);
    CHECK_EQ(io_url_check(list.entries[1].url, err, sizeof(err)), -E2BIG);
    fclose(in);
    io_url_list_finish(&list);
    free(long_list);
}

static void test_url_check(void)
{
    char err[256];
    CHECK_EQ(io_url_check("http://127.0.0.1/a.jpg", err, sizeof(err)), 0);
    CHECK_EQ(io_url_check("https://127.0.0.1:8443/x/y.png?q=1", err, sizeof(err)), 0);
    CHECK_EQ(io_url_check("HTTP://127.0.0.1/a.jpg", err, sizeof(err)), 0);

    CHECK_EQ(io_url_check("file:///etc/passwd", err, sizeof(err)), -EPROTONOSUPPORT);
    CHECK(strstr(err, "file") != NULL);
    CHECK_EQ(io_url_check("ftp://127.0.0.1/a.jpg", err, sizeof(err)), -EPROTONOSUPPORT);
    CHECK_EQ(io_url_check("gopher://127.0.0.1/a", err, sizeof(err)), -EPROTONOSUPPORT);
    CHECK_EQ(io_url_check("dict://127.0.0.1/a", err, sizeof(err)), -EPROTONOSUPPORT);
    CHECK(io_url_check("not a url", err, sizeof(err)) < 0);
    CHECK(io_url_check("http://", err, sizeof(err)) < 0);
    CHECK(io_url_check("http://127.0.0.1/a b.jpg", err, sizeof(err)) < 0);
    CHECK(io_url_check("http://127.0.0.1/a\x01.jpg", err, sizeof(err)) < 0);
    /* Spaces and control bytes are refused by io_url_check's own scan, with
     * its own reason, not left to whatever this libcurl's parser accepts. */
    static const char *const raw_bytes[] = {
        "http://127.0.0.1/a b.jpg", "http://127.0.0.1/a\x1b[2Jb.jpg", "http://127.0.0.1/a\rb.jpg",
        "http://127.0.0.1/a\tb.jpg", "http://127.0.0.1/a\x7f.jpg",
    };
    for (size_t i = 0; i < sizeof(raw_bytes) / sizeof(raw_bytes[0]); i++) {
        err[0] = '\0';
        CHECK_EQ(io_url_check(raw_bytes[i], err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "space or control character") != NULL);
    }
    CHECK(io_url_check("127.0.0.1/a.jpg", err, sizeof(err)) < 0);
    CHECK(io_url_check("", err, sizeof(err)) < 0);
}

static void check_name(const char *url, const char *expected)
{
    char name[256];
    CHECK_EQ(io_output_name(url, name, sizeof(name)), 0);
    CHECK_STR_EQ(name, expected);
}

static void test_output_name(void)
{
    check_name("http://127.0.0.1/photos/cat.jpg", "cat.png");
    check_name("http://127.0.0.1/photos/cat.jpeg?size=large#top", "cat.png");
    check_name("http://127.0.0.1/archive.tar.gz", "archive.tar.png");
    check_name("http://127.0.0.1/noext", "noext.png");
    check_name("http://127.0.0.1/", "image.png");
    check_name("http://127.0.0.1", "image.png");
    check_name("http://127.0.0.1/?id=3", "image.png");
    check_name("http://127.0.0.1/dir/", "image.png");
    check_name("http://127.0.0.1/a%20b.jpg", "a_b.png");
    /* Whatever they decode to, names never climb out or hide. */
    check_name("http://127.0.0.1/..", "image.png");
    check_name("http://127.0.0.1/%2e%2e%2fetc%2fpasswd", "_etc_passwd.png");
    check_name("http://127.0.0.1/..%5c..%5cx.jpg", "_.._x.png");
    check_name("http://127.0.0.1/%00evil.jpg", "_evil.png");
    check_name("http://127.0.0.1/.hidden.jpg", "hidden.png");
    check_name("http://127.0.0.1/caf%C3%A9.jpg", "caf__.png");
    check_name("http://127.0.0.1/bad%zz.jpg", "bad_zz.png");
    check_name("http://127.0.0.1/trail%2", "trail_2.png");

    /* Long names are cut, leaving room within NAME_MAX. */
    char url[600] = "http://127.0.0.1/";
    memset(url + strlen(url), 'a', 300);
    strcat(url, ".jpg");
    char name[256];
    CHECK_EQ(io_output_name(url, name, sizeof(name)), 0);
    CHECK_LE(strlen(name), 124);
    CHECK(strchr(name, '/') == NULL);
}

static void test_assign_names(void)
{
    const char *urls[] = {
        "http://127.0.0.1/a/cat.jpg",
        "http://127.0.0.1/b/cat.jpg",
        "http://127.0.0.1/dog.jpg",
        "http://127.0.0.1/c/cat.png",
    };
    char *names[4];
    CHECK_EQ(io_assign_output_names(urls, 4, names), 0);
    CHECK_STR_EQ(names[2], "dog.png");
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            CHECK(strcmp(names[i], names[j]) != 0);
    char expected[64];
    snprintf(expected, sizeof(expected), "cat-%08x.png", io_url_hash(urls[1]));
    CHECK_STR_EQ(names[1], expected);

    /* Independent of order: the same URLs reversed get the same names. */
    const char *reversed[] = {urls[3], urls[2], urls[1], urls[0]};
    char *names_rev[4];
    CHECK_EQ(io_assign_output_names(reversed, 4, names_rev), 0);
    for (int i = 0; i < 4; i++)
        CHECK_STR_EQ(names_rev[3 - i], names[i]);
    /* And a subset (a shard) keeps a non-colliding name as it is. */
    char *one[1];
    CHECK_EQ(io_assign_output_names(&urls[2], 1, one), 0);
    CHECK_STR_EQ(one[0], "dog.png");
    free(one[0]);
    for (int i = 0; i < 4; i++) {
        free(names[i]);
        free(names_rev[i]);
    }
    /* Known FNV-1a vectors. */
    CHECK_EQ(io_url_hash(""), 0x811c9dc5u);
    CHECK_EQ(io_url_hash("a"), 0xe40c292cu);
}

static size_t count_entries(const char *dir)
{
    size_t count = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            count++;
    closedir(d);
    return count;
}

/* URLs are packed into shared blocks: many lines, one longer than a block,
 * and lines given one at a time all read back intact. */
static void test_url_list_blocks(void)
{
    struct io_url_list list;
    char url[200];
    io_url_list_init(&list);
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(url, sizeof(url), "  http://127.0.0.1:8080/images/%06u.jpg?size=%u \n", i, i * 7);
        CHECK_EQ(io_url_list_add(&list, url, i + 1), 0);
        if (i == 2500) {
            /* Longer than a block (64 KiB): a block of its own. */
            size_t long_len = 100 * 1024;
            char *long_url = malloc(long_len + 1);
            CHECK(long_url != NULL);
            memcpy(long_url, "http://127.0.0.1/", 17);
            memset(long_url + 17, 'x', long_len - 17);
            long_url[long_len] = '\0';
            CHECK_EQ(io_url_list_add(&list, long_url, 0), 0);
            CHECK_STR_EQ(list.entries[list.count - 1].url, long_url);
            free(long_url);
        }
    }
    CHECK_EQ(list.count, 5001);
    for (unsigned i = 0, entry = 0; i < 5000; i++, entry++) {
        if (i == 2501)
            CHECK_EQ(strlen(list.entries[entry++].url), 100 * 1024);
        snprintf(url, sizeof(url), "http://127.0.0.1:8080/images/%06u.jpg?size=%u", i, i * 7);
        CHECK_STR_EQ(list.entries[entry].url, url);
        CHECK_EQ(list.entries[entry].line, i + 1);
    }
    io_url_list_finish(&list);
    CHECK_EQ(list.count, 0);
    io_url_list_finish(&list); /* twice is fine */
}

/* io_assign_name_levels against a plain reference: a URL is renamed
 * exactly when another URL of the set derives the same name, and the names
 * io_leveled_output_name gives back are those of io_assign_output_names.
 * (Clashes past level 1: tests/unit/test_names.c.) */
static void test_mark_collisions(void)
{
    enum { COUNT = 3000 };
    static char urls_text[COUNT][80];
    static const char *urls[COUNT];
    static char derived[COUNT][IO_OUTPUT_NAME_SIZE];
    static uint8_t levels[COUNT];
    static char *names[COUNT];
    char name[IO_OUTPUT_NAME_SIZE];

    /* Every 7th URL shares its derived name with others ("same.png"), some
     * pairs share one across folders, the rest are unique; a large group
     * (the common case: many URLs ending in "/" become "image.png"). */
    for (int i = 0; i < COUNT; i++) {
        if (i % 7 == 0)
            snprintf(urls_text[i], sizeof(urls_text[i]), "http://127.0.0.1/%d/same.jpg", i);
        else if (i % 5 == 0)
            snprintf(urls_text[i], sizeof(urls_text[i]), "http://127.0.0.1/d%d/p%d.png", i, i / 10);
        else if (i % 11 == 0)
            snprintf(urls_text[i], sizeof(urls_text[i]), "http://127.0.0.1/%d/", i);
        else
            snprintf(urls_text[i], sizeof(urls_text[i]), "http://127.0.0.1/u%d.jpg", i);
        urls[i] = urls_text[i];
        CHECK_EQ(io_output_name(urls[i], derived[i], sizeof(derived[i])), 0);
    }
    CHECK_EQ(io_assign_name_levels(urls, COUNT, levels), 0);
    CHECK_EQ(io_assign_output_names(urls, COUNT, names), 0);
    size_t renamed = 0;
    for (int i = 0; i < COUNT; i++) {
        bool shared = false;
        for (int j = 0; j < COUNT && !shared; j++)
            shared = j != i && strcmp(derived[i], derived[j]) == 0;
        CHECK_EQ(levels[i], shared ? IO_NAME_HASH32 : IO_NAME_DERIVED);
        renamed += levels[i] != 0;
        CHECK_EQ(io_leveled_output_name(urls[i], levels[i], name, sizeof(name)), 0);
        CHECK_STR_EQ(name, names[i]);
        free(names[i]);
    }
    CHECK_GT(renamed, COUNT / 7);
    CHECK_LT(renamed, COUNT);

    CHECK_EQ(io_assign_name_levels(urls, 0, levels), 0);
    CHECK_EQ(io_leveled_output_name(urls[1], IO_NAME_DERIVED, name, 16), -ENOSPC);
}

struct name_list {
    const char *const *names;
    size_t next;
    size_t asked;
};

static const char *next_listed_name(void *user)
{
    struct name_list *list = user;
    list->asked++;
    return list->names[list->next] != NULL ? list->names[list->next++] : NULL;
}

static void touch(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("x", f);
    fclose(f);
}

/* Only the temporary files of the names given go, all of them; without
 * temporary files the names are never asked for. */
static void test_stale_temps(void)
{
    char dir[] = "/tmp/edgefetch-test-io-XXXXXX";
    size_t removed = 99;
    CHECK(mkdtemp(dir) != NULL);

    static const char *const ours[] = {"a.png", "c.png", "zz.png", NULL};
    struct name_list walk = {.names = ours};
    touch(dir, "a.png");
    CHECK_EQ(io_remove_stale_temps(dir, next_listed_name, &walk, &removed), 0);
    CHECK_EQ(removed, 0);
    CHECK_EQ(walk.asked, 0);

    touch(dir, ".a.png.Ab12Cd.tmp");
    touch(dir, ".a.png.Zz99Yy.tmp");
    touch(dir, ".b.png.Ab12Cd.tmp"); /* another shard's */
    touch(dir, ".c.png.Qq00Qq.tmp");
    touch(dir, ".a.pngx.Ab12Cd.tmp"); /* not a temporary file of ours */
    touch(dir, ".cc.png.Ab12Cd.tmp"); /* "cc.png", not "c.png" */
    CHECK_EQ(io_remove_stale_temps(dir, next_listed_name, &walk, &removed), 0);
    CHECK_EQ(removed, 3);
    CHECK_EQ(walk.asked, 4); /* three names and the end */
    CHECK_EQ(count_entries(dir), 4);
    char path[600];
    snprintf(path, sizeof(path), "%s/.b.png.Ab12Cd.tmp", dir);
    CHECK_EQ(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/.cc.png.Ab12Cd.tmp", dir);
    CHECK_EQ(access(path, F_OK), 0);

    char missing[600];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    CHECK_EQ(io_remove_stale_temps(missing, next_listed_name, &walk, &removed), 0);

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

static void test_write_atomic(void)
{
    char dir[] = "/tmp/edgefetch-test-io-XXXXXX";
    char err[512];
    char path[600];
    CHECK(mkdtemp(dir) != NULL);

    CHECK_EQ(io_write_atomic(dir, "out.png", "hello", 5, 0644, NULL, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/out.png", dir);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, 5);
    /* The mode asked for, not mkstemp's 0600. */
    CHECK_EQ(st.st_mode & 0777, 0644);

    /* io_file_mode is what open(O_CREAT, 0666) gives, and leaves the umask
     * as it was. */
    mode_t saved = umask(027);
    CHECK_EQ(io_file_mode(), 0640);
    CHECK_EQ(umask(saved), 027);
    CHECK_EQ(count_entries(dir), 1); /* no temporary left behind */

    /* Replacing an existing file is atomic too. */
    CHECK_EQ(io_write_atomic(dir, "out.png", "bye", 3, 0644, NULL, err, sizeof(err)), 0);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, 3);
    CHECK_EQ(io_files_identical(path, path), 1);

    /* Names that would leave the folder are refused. */
    CHECK_EQ(io_write_atomic(dir, "../x.png", "x", 1, 0644, NULL, err, sizeof(err)), -EINVAL);
    CHECK_EQ(io_write_atomic(dir, "..", "x", 1, 0644, NULL, err, sizeof(err)), -EINVAL);

    /* A missing folder fails cleanly with the reason. */
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    CHECK_EQ(io_write_atomic(missing, "a.png", "x", 1, 0644, NULL, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "No such file") != NULL);

    /* io_prepare_dir creates parents and refuses a file. */
    char nested[600];
    snprintf(nested, sizeof(nested), "%s/a/b/c", dir);
    CHECK_EQ(io_prepare_dir(nested, err, sizeof(err)), 0);
    CHECK_EQ(stat(nested, &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_EQ(io_prepare_dir(path, err, sizeof(err)), -ENOTDIR);

    char other[600];
    snprintf(other, sizeof(other), "%s/other.png", dir);
    CHECK_EQ(io_write_atomic(dir, "other.png", "bxe", 3, 0644, NULL, err, sizeof(err)), 0);
    CHECK_EQ(io_files_identical(path, other), 0);

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    test_url_list();
    test_url_check();
    test_output_name();
    test_assign_names();
    test_url_list_blocks();
    test_mark_collisions();
    test_stale_temps();
    test_write_atomic();
    printf("io: all tests passed\n");
    return 0;
}
