/* Unit tests for the names that need no whole-list pass and the tar shards
 * (io/layout.c, io/tar.c; issue 13): positional paths and their folders of
 * 10,000, tar shard names per --shard, a tar read back with libarchive's
 * reader (webdataset order: KEY.png then KEY.json), a final name only after
 * the commit, an aborted tar leaving nothing, and the temporary of a killed
 * writer swept by io_remove_stale_temps once nobody holds it. */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "check.h"
#include "io.h"

static void test_positional(void)
{
    char folder[IO_POSITIONAL_NAME_SIZE];
    char file[IO_POSITIONAL_NAME_SIZE];
    CHECK_EQ(io_positional_path(123456, folder, sizeof(folder), file, sizeof(file)), 0);
    CHECK_STR_EQ(folder, "00012");
    CHECK_STR_EQ(file, "000123456.png");
    CHECK_EQ(io_positional_path(1, folder, sizeof(folder), file, sizeof(file)), 0);
    CHECK_STR_EQ(folder, "00000");
    CHECK_STR_EQ(file, "000000001.png");
    /* 10,000 lines a folder, and a folder changes exactly at a multiple. */
    CHECK_EQ(io_positional_path(9999, folder, sizeof(folder), file, sizeof(file)), 0);
    CHECK_STR_EQ(folder, "00000");
    CHECK_EQ(io_positional_path(10000, folder, sizeof(folder), file, sizeof(file)), 0);
    CHECK_STR_EQ(folder, "00001");
    /* Past 10^9 lines the numbers grow; names stay unique. */
    CHECK_EQ(io_positional_path(12345678901ull, folder, sizeof(folder), file, sizeof(file)), 0);
    CHECK_STR_EQ(folder, "1234567");
    CHECK_STR_EQ(file, "12345678901.png");
    CHECK_EQ(io_positional_path(1, folder, 5, file, sizeof(file)), -ENOSPC);

    char key[IO_POSITIONAL_NAME_SIZE];
    CHECK_EQ(io_positional_key(42, key, sizeof(key)), 0);
    CHECK_STR_EQ(key, "000000042");

    char name[64];
    CHECK_EQ(io_tar_shard_name(0, 1, 3, name, sizeof(name)), 0);
    CHECK_STR_EQ(name, "00003.tar");
    CHECK_EQ(io_tar_shard_name(7, 100, 3, name, sizeof(name)), 0);
    CHECK_STR_EQ(name, "00007-00003.tar");
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            count++;
    closedir(d);
    return count;
}

static void test_tar_round_trip(void)
{
    char dir[] = "/tmp/edgefetch-test-tar-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[256] = "";
    struct io_tar *tar = NULL;
    CHECK_EQ(io_tar_create(dir, "00000.tar", 0644, &tar, err, sizeof(err)), 0);
    /* Nothing under the final name until the commit. */
    char path[512];
    snprintf(path, sizeof(path), "%s/00000.tar", dir);
    struct stat st;
    CHECK_EQ(stat(path, &st), -1);
    static uint8_t png[70000];
    for (size_t i = 0; i < sizeof(png); i++)
        png[i] = (uint8_t)(i * 7);
    const char *json = "{\"url\":\"http://h/a.jpg\"}";
    CHECK_EQ(io_tar_add(tar, "000000002.png", png, sizeof(png), err, sizeof(err)), 0);
    CHECK_EQ(io_tar_add(tar, "000000002.json", json, strlen(json), err, sizeof(err)), 0);
    CHECK_EQ(io_tar_add(tar, "000000005.png", png, 10, err, sizeof(err)), 0);
    CHECK_EQ(io_tar_add(tar, "000000005.json", "", 0, err, sizeof(err)), 0);
    CHECK_EQ(io_tar_entries(tar), 4);
    CHECK_EQ(io_tar_commit(tar, true, err, sizeof(err)), 0);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0644);
    CHECK_EQ(count_entries(dir), 1); /* no temporary left */

    struct archive *reader = archive_read_new();
    CHECK(reader != NULL);
    archive_read_support_format_tar(reader);
    CHECK_EQ(archive_read_open_filename(reader, path, 10240), ARCHIVE_OK);
    const char *want[4] = {"000000002.png", "000000002.json", "000000005.png", "000000005.json"};
    size_t want_size[4] = {sizeof(png), strlen(json), 10, 0};
    struct archive_entry *entry;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(archive_read_next_header(reader, &entry), ARCHIVE_OK);
        CHECK_STR_EQ(archive_entry_pathname(entry), want[i]);
        CHECK_EQ(archive_entry_size(entry), want_size[i]);
        CHECK_EQ(archive_entry_filetype(entry), AE_IFREG);
        static uint8_t back[70000];
        CHECK_EQ(archive_read_data(reader, back, sizeof(back)), want_size[i]);
        if (i == 0)
            CHECK_MEM_EQ(back, png, sizeof(png));
        if (i == 1)
            CHECK_MEM_EQ(back, json, strlen(json));
    }
    CHECK_EQ(archive_read_next_header(reader, &entry), ARCHIVE_EOF);
    archive_read_free(reader);

    /* An aborted tar leaves nothing. */
    CHECK_EQ(io_tar_create(dir, "00001.tar", 0644, &tar, err, sizeof(err)), 0);
    CHECK_EQ(io_tar_add(tar, "000010001.png", png, 100, err, sizeof(err)), 0);
    CHECK_EQ(count_entries(dir), 2);
    io_tar_abort(tar);
    io_tar_abort(NULL);
    CHECK_EQ(count_entries(dir), 1);
    CHECK_EQ(io_tar_create(dir, "../x.tar", 0644, &tar, err, sizeof(err)), -EINVAL);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(rmdir(dir), 0);
}

static const char *one_name(void *user)
{
    const char **name = user;
    const char *next = *name;
    *name = NULL;
    return next;
}

/* A writer killed mid-tar leaves its temporary; while it runs, a sweep keeps
 * it (it is locked), once it is dead a sweep removes it. */
static void test_killed_writer_swept(void)
{
    char dir[] = "/tmp/edgefetch-test-tar-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int ready[2];
    CHECK_EQ(pipe(ready), 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        char err[256];
        struct io_tar *tar;
        if (io_tar_create(dir, "00000.tar", 0644, &tar, err, sizeof(err)) != 0 ||
            io_tar_add(tar, "000000001.png", "x", 1, err, sizeof(err)) != 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        pause();
        _exit(3);
    }
    close(ready[1]);
    char byte;
    CHECK_EQ(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    size_t removed = 99;
    const char *name = "00000.tar";
    CHECK_EQ(io_remove_stale_temps(dir, one_name, &name, &removed), 0);
    CHECK_EQ(removed, 0);
    CHECK_EQ(count_entries(dir), 1);
    CHECK_EQ(kill(child, SIGKILL), 0);
    int status;
    CHECK_EQ(waitpid(child, &status, 0), child);
    name = "00000.tar";
    CHECK_EQ(io_remove_stale_temps(dir, one_name, &name, &removed), 0);
    CHECK_EQ(removed, 1);
    CHECK_EQ(count_entries(dir), 0);
    CHECK_EQ(rmdir(dir), 0);
}

struct name_list {
    const char *const *names;
    size_t next;
};

static const char *next_listed(void *user)
{
    struct name_list *list = user;
    return list->names[list->next] != NULL ? list->names[list->next++] : NULL;
}

static void touch(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK_EQ(fclose(f), 0);
}

static bool exists(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Positional outputs: a name with its folder, the folder made on first use,
 * written synced or not; owners looked up through the folder; the sweep of
 * killed writes per folder, only of the names the run yields. */
static void test_positional_outputs(void)
{
    char dir[] = "/tmp/edgefetch-test-layout-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char name[IO_OUTPUT_NAME_SIZE];
    CHECK_EQ(io_layout_name(IO_LAYOUT_POSITIONAL, "http://h/cat.jpg", 0, 10001, name, sizeof(name)),
             0);
    CHECK_STR_EQ(name, "00001/000010001.png");
    CHECK_EQ(io_layout_name(IO_LAYOUT_READABLE, "http://h/cat.jpg", 0, 10001, name, sizeof(name)),
             0);
    CHECK_STR_EQ(name, "cat.png");

    struct io_output_sync *sync = NULL;
    CHECK_EQ(io_output_sync_create(dir, &sync), 0);
    char err[256] = "";
    /* More folders than stay open: each is flushed and closed on the way. */
    for (uint64_t folder = 0; folder < 12; folder++) {
        CHECK_EQ(
            io_layout_name(IO_LAYOUT_POSITIONAL, "u", 0, folder * 10000 + 5, name, sizeof(name)),
            0);
        CHECK_EQ(io_write_output(dir, name, "data", 4, 0644, sync, err, sizeof(err)), 0);
        CHECK(exists(dir, name));
    }
    CHECK_EQ(io_write_output(dir, "plain.png", "data", 4, 0644, sync, err, sizeof(err)), 0);
    CHECK_EQ(io_write_output(dir, "00000/000000007.png", "x", 1, 0644, NULL, err, sizeof(err)), 0);
    CHECK_EQ(io_write_output(dir, "a/b/c.png", "x", 1, 0644, sync, err, sizeof(err)), -EINVAL);
    CHECK_EQ(io_output_sync_flush(sync), 0);
    io_output_sync_destroy(sync);
    io_output_sync_destroy(NULL);
    CHECK(exists(dir, "00011/000110005.png"));
    CHECK(exists(dir, "plain.png"));
    CHECK_EQ(io_output_owner_at(dir, "00000/000000005.png", "u"), IO_OUTPUT_UNMARKED);
    CHECK_EQ(io_output_owner_at(dir, "00000/000000006.png", "u"), IO_OUTPUT_ABSENT);
    CHECK_EQ(io_output_owner_at(dir, "00099/000990006.png", "u"), IO_OUTPUT_ABSENT);

    /* Killed writes (nobody holds them) in two folders; one is not ours. */
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/00001", dir);
    touch(dir, "00000/.000000001.png.abcdef.tmp");
    touch(dir, "00001/.000010001.png.abcdef.tmp");
    touch(dir, "00001/.000010002.png.abcdef.tmp");
    touch(dir, "00002/.000020001.png.abcdef.tmp");
    static const char *const ours[] = {"00000/000000001.png", "00000/000000002.png",
                                       "00001/000010001.png", "00002/000020001.png",
                                       "00003/000030001.png", NULL};
    struct name_list list = {ours, 0};
    size_t removed = 0;
    CHECK_EQ(io_remove_stale_temps_nested(dir, next_listed, &list, &removed), 0);
    CHECK_EQ(removed, 3);
    CHECK(!exists(dir, "00000/.000000001.png.abcdef.tmp"));
    CHECK(!exists(dir, "00001/.000010001.png.abcdef.tmp"));
    CHECK(exists(dir, "00001/.000010002.png.abcdef.tmp"));
    CHECK(!exists(dir, "00002/.000020001.png.abcdef.tmp"));
    CHECK_EQ(list.next, 5); /* every name asked for, none twice */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    test_positional_outputs();
    test_positional();
    test_tar_round_trip();
    test_killed_writer_swept();
    return 0;
}
