/* The list side of a shard process, alone (issue 13 goals): reads a list
 * with io's streaming reader, hashes every row for --shard as pipeline does
 * (FNV-1a-32 % N, io_url_hash), drops other shards' rows and puts this
 * shard's into the fingerprint set. No request, no output. Prints one CSV
 * line: rows, kept, repeats, failed rows, set bytes, seconds.
 *
 * Usage: edgefetch-list-bench [--format plain|csv|tsv|jsonl] [--shard K/N] [--read-only]
 *                             [FILE|-]
 * --read-only: rows are read and counted, nothing else (the reader's share). 
 * (tests/bench/list_bench.py runs it under /usr/bin/time -v). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct io_list_options opts;
    unsigned shard_index = 0;
    unsigned shard_count = 1;
    const char *path = "-";
    int read_only = 0;
    io_list_options_init(&opts);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shard") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%u/%u", &shard_index, &shard_count) != 2 || shard_count == 0 ||
                shard_index >= shard_count) {
                fprintf(stderr, "bad --shard\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--read-only") == 0) {
            read_only = 1;
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            opts.format = strcmp(name, "csv") == 0     ? IO_LIST_CSV
                          : strcmp(name, "tsv") == 0   ? IO_LIST_TSV
                          : strcmp(name, "jsonl") == 0 ? IO_LIST_JSONL
                                                       : IO_LIST_PLAIN;
        } else {
            path = argv[i];
        }
    }
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (in == NULL) {
        perror(path);
        return 2;
    }
    char err[256];
    struct io_list_reader *reader = NULL;
    struct io_fp_set *set = NULL;
    double start = now_s();
    if (io_list_reader_create(in, &opts, &reader, err, sizeof(err)) < 0 ||
        io_fp_set_create(&set) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    unsigned long long rows = 0, kept = 0, repeats = 0, failed = 0;
    for (;;) {
        struct io_list_row row;
        int rc = io_list_reader_next(reader, &row, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (rc == 0)
            break;
        rows++;
        if (row.error != 0) {
            failed++;
            continue;
        }
        if (read_only)
            continue;
        if (shard_count > 1 && io_url_hash(row.url) % shard_count != shard_index)
            continue;
        int added = io_fp_set_insert(set, io_fingerprint64(row.url, row.url_len));
        if (added < 0) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        kept += (unsigned long long)added;
        repeats += (unsigned long long)(added == 0);
    }
    double seconds = now_s() - start;
    printf("rows,kept,repeats,failed,set_bytes,seconds\n%llu,%llu,%llu,%llu,%zu,%.3f\n", rows, kept,
           repeats, failed, io_fp_set_bytes(set), seconds);
    io_fp_set_destroy(set);
    io_list_reader_destroy(reader);
    if (in != stdin)
        fclose(in);
    return 0;
}
