/* edgefetch-png-bench: deflate methods for the PNG bands of real edge maps,
 * the measurement behind level 1's encoder (imaging/PNG_SETTINGS.md, issue
 * 16).
 *
 * For each file: decode to luma and run Sobel (not timed), then for each
 * row filter (NONE, SUB, UP, AVG, PAETH, each fixed for the whole map)
 * filter the map once (not timed) and cut it into encode.c's bands (1 MiB
 * of pixels and 256 rows at least). Each method then compresses every band
 * of every file; the CPU time of this thread for all of them is one sample,
 * the median of --repeat samples is printed, with the compressed bytes:
 *   zlib      deflateInit2(level 1, raw, Z_RLE) + Z_FINISH: the old level 1
 *   ldN       libdeflate_deflate_compress at level N (a compressor made per
 *             band, as a worker would), N from --libdeflate-levels
 *   png_rle   imaging/png_rle.c on 64 KiB pieces of rows, as encode.c does
 * Compression only: the filter, the adler32 and libpng's chunks are the same
 * for all (edgefetch-stage-bench times the whole encoder). libdeflate's
 * streams end with a final block of their own, so they would not join into
 * one PNG without more work; their size and speed are what is compared.
 * Prints CSV: filter,method,ms_per_mp,bytes,percent_of_filtered. */
#include <errno.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "bench_util.h"
#include "imaging.h"
#include "png_rle.h"

#define MAX_FILES 64
#define MAX_REPEAT 101
#define MAX_LEVELS 12
#define BAND_MIN_PIXELS ((size_t)1 << 20)
#define BAND_MIN_ROWS 256
#define RLE_BLOCK_BYTES ((size_t)64 << 10)

enum { FILTER_NONE, FILTER_SUB, FILTER_UP, FILTER_AVG, FILTER_PAETH, FILTER_COUNT };
static const char *const filter_names[FILTER_COUNT] = {"NONE", "SUB", "UP", "AVG", "PAETH"};

struct map {
    struct img_buf edges;
    uint8_t *filtered; /* a filter byte, then the row, for each row */
    size_t filtered_size;
    size_t band_bytes; /* whole rows */
};

static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return -errno;
    int rc = -EIO;
    if (fseek(in, 0, SEEK_END) != 0)
        goto out;
    long length = ftell(in);
    if (length <= 0 || fseek(in, 0, SEEK_SET) != 0)
        goto out;
    *data = malloc((size_t)length);
    if (*data == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (fread(*data, 1, (size_t)length, in) != (size_t)length) {
        free(*data);
        goto out;
    }
    *size = (size_t)length;
    rc = 0;
out:
    fclose(in);
    return rc;
}

/* The PNG spec's filters (section 9), the plain way: this is a bench. */
static uint8_t predict(int filter, int left, int up, int up_left)
{
    switch (filter) {
    case FILTER_SUB:
        return (uint8_t)left;
    case FILTER_UP:
        return (uint8_t)up;
    case FILTER_AVG:
        return (uint8_t)((left + up) >> 1);
    case FILTER_PAETH: {
        int estimate = left + up - up_left;
        int to_left = abs(estimate - left), to_up = abs(estimate - up);
        int to_up_left = abs(estimate - up_left);
        if (to_left <= to_up && to_left <= to_up_left)
            return (uint8_t)left;
        return (uint8_t)(to_up <= to_up_left ? up : up_left);
    }
    default:
        return 0;
    }
}

static void filter_map(struct map *m, int filter)
{
    const struct img_buf *g = &m->edges;
    size_t row_bytes = (size_t)g->width + 1;
    for (int y = 0; y < g->height; y++) {
        const uint8_t *row = g->data + (size_t)y * g->stride;
        const uint8_t *prev = y > 0 ? row - g->stride : NULL;
        uint8_t *out = m->filtered + (size_t)y * row_bytes;
        out[0] = (uint8_t)filter;
        for (int x = 0; x < g->width; x++) {
            int left = x > 0 ? row[x - 1] : 0, up = prev != NULL ? prev[x] : 0;
            int up_left = x > 0 && prev != NULL ? prev[x - 1] : 0;
            out[1 + x] = (uint8_t)(row[x] - predict(filter, left, up, up_left));
        }
    }
}

/* Compresses one band with `method` (-1 zlib, 0 png_rle, N libdeflate level
 * N); returns the compressed size, 0 on failure. */
static size_t compress_band(int method, const uint8_t *band, size_t size, size_t row_bytes,
                            uint8_t *out, size_t out_capacity)
{
    if (method < 0) {
        z_stream strm = {0};
        if (deflateInit2(&strm, 1, Z_DEFLATED, -15, 8, Z_RLE) != Z_OK)
            return 0;
        strm.next_in = (Bytef *)band;
        strm.avail_in = (uInt)size;
        strm.next_out = out;
        strm.avail_out = (uInt)out_capacity;
        int ret = deflate(&strm, Z_FINISH);
        size_t bytes = ret == Z_STREAM_END ? (size_t)strm.total_out : 0;
        deflateEnd(&strm);
        return bytes;
    }
    if (method > 0) {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(method);
        if (c == NULL)
            return 0;
        size_t bytes = libdeflate_deflate_compress(c, band, size, out, out_capacity);
        libdeflate_free_compressor(c);
        return bytes;
    }
    struct img__rle_stream s;
    if (img__rle_init(&s, 0, size / 2, 0) < 0)
        return 0;
    size_t piece = RLE_BLOCK_BYTES / row_bytes * row_bytes;
    if (piece == 0)
        piece = row_bytes;
    int rc = 0;
    for (size_t at = 0; at < size && rc == 0; at += piece) {
        size_t take = size - at < piece ? size - at : piece;
        rc = img__rle_block(&s, band + at, take, at + take == size);
    }
    if (rc == 0)
        rc = img__rle_end(&s, true);
    size_t bytes = rc == 0 ? s.used : 0;
    img__rle_finish(&s);
    return bytes;
}

int main(int argc, char **argv)
{
    int repeat = 5;
    int levels[MAX_LEVELS] = {1, 2, 4, 6};
    int level_count = 4;
    int first = 1;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--repeat") == 0) {
            repeat = atoi(argv[first + 1]);
        } else if (strcmp(argv[first], "--libdeflate-levels") == 0) {
            level_count = 0;
            for (char *p = argv[first + 1]; *p != '\0' && level_count < MAX_LEVELS;) {
                char *end;
                long level = strtol(p, &end, 10);
                if (end == p || level < 1 || level > 12)
                    break;
                levels[level_count++] = (int)level;
                p = *end == ',' ? end + 1 : end;
            }
        } else {
            break;
        }
        first += 2;
    }
    int files = argc - first;
    if (files < 1 || files > MAX_FILES || repeat < 1 || repeat > MAX_REPEAT) {
        fprintf(stderr, "usage: edgefetch-png-bench [--repeat K] [--libdeflate-levels 1,2,...] "
                        "FILE...\n");
        return 2;
    }

    static struct map maps[MAX_FILES];
    double megapixels = 0;
    size_t largest_band = 0;
    for (int i = 0; i < files; i++) {
        uint8_t *data = NULL;
        size_t size = 0;
        char err[256] = "";
        struct img_buf luma;
        if (read_file(argv[first + i], &data, &size) < 0 ||
            img_decode(data, size, 1, UINT64_MAX, &luma, err, sizeof(err)) < 0) {
            fprintf(stderr, "edgefetch-png-bench: %s: cannot decode %s\n", argv[first + i], err);
            return 1;
        }
        free(data);
        if (img_apply(IMG_OP_SOBEL, &luma, &maps[i].edges) < 0)
            return 1;
        img_buf_finish(&luma);
        struct map *m = &maps[i];
        size_t row_bytes = (size_t)m->edges.width + 1;
        size_t rows = BAND_MIN_PIXELS / (size_t)m->edges.width;
        rows = rows < BAND_MIN_ROWS ? BAND_MIN_ROWS : rows;
        m->filtered_size = row_bytes * (size_t)m->edges.height;
        m->band_bytes = rows * row_bytes;
        m->filtered = malloc(m->filtered_size);
        if (m->filtered == NULL)
            return 1;
        /* The last band takes the rest (up to two bands' worth). */
        size_t last = m->filtered_size % m->band_bytes + m->band_bytes;
        largest_band = last > largest_band ? last : largest_band;
        megapixels += (double)m->edges.width * (double)m->edges.height / 1e6;
    }
    size_t out_capacity = largest_band + largest_band / 8 + 4096;
    uint8_t *out = malloc(out_capacity);
    if (out == NULL)
        return 1;

    printf("filter,method,ms_per_mp,bytes,percent_of_filtered\n");
    for (int filter = 0; filter < FILTER_COUNT; filter++) {
        size_t raw = 0;
        for (int i = 0; i < files; i++) {
            filter_map(&maps[i], filter);
            raw += maps[i].filtered_size;
        }
        int methods[2 + MAX_LEVELS] = {-1, 0};
        for (int l = 0; l < level_count; l++)
            methods[2 + l] = levels[l];
        for (int k = 0; k < 2 + level_count; k++) {
            double samples[MAX_REPEAT];
            size_t bytes = 0;
            for (int r = 0; r < repeat; r++) {
                bytes = 0;
                double start = bench_thread_cpu_ms();
                for (int i = 0; i < files; i++) {
                    const struct map *m = &maps[i];
                    size_t bands = m->filtered_size / m->band_bytes;
                    bands = bands < 1 ? 1 : bands;
                    for (size_t b = 0; b < bands; b++) {
                        size_t at = b * m->band_bytes;
                        size_t size = b + 1 == bands ? m->filtered_size - at : m->band_bytes;
                        size_t got = compress_band(methods[k], m->filtered + at, size,
                                                   (size_t)m->edges.width + 1, out, out_capacity);
                        if (got == 0) {
                            fprintf(stderr, "edgefetch-png-bench: compression failed\n");
                            return 1;
                        }
                        bytes += got;
                    }
                }
                samples[r] = bench_thread_cpu_ms() - start;
            }
            qsort(samples, (size_t)repeat, sizeof(samples[0]), bench_compare_doubles);
            char name[16];
            if (methods[k] < 0)
                snprintf(name, sizeof(name), "zlib");
            else if (methods[k] == 0)
                snprintf(name, sizeof(name), "png_rle");
            else
                snprintf(name, sizeof(name), "ld%d", methods[k]);
            printf("%s,%s,%.3f,%zu,%.2f\n", filter_names[filter], name,
                   samples[repeat / 2] / megapixels, bytes, 100.0 * (double)bytes / (double)raw);
            fflush(stdout);
        }
    }
    for (int i = 0; i < files; i++) {
        free(maps[i].filtered);
        img_buf_finish(&maps[i].edges);
    }
    free(out);
    return 0;
}
