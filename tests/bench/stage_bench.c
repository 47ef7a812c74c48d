/* edgefetch-stage-bench: the CPU cost of each stage of the pipeline on local
 * files, with no network and no threads, for tests/bench/bench.py.
 *
 * For each file: read it into memory once (not timed), then K times decode,
 * run the operator and encode the PNG exactly as a worker does (same imaging
 * calls, same channels, same zlib level), timing each stage with this
 * thread's CPU clock. The file is not written: the worker's atomic write is
 * I/O, not CPU work of ours. Prints CSV on stdout: a header, one row per file
 * (median of the K repeats of each stage) and a TOTAL row (sums of the
 * medians), with milliseconds and milliseconds per megapixel.
 *
 * Sobel, Scharr and Prewitt run fused with the encode, as the worker runs
 * them on one thread (img_png_bands_create_fused): the pass's CPU time is
 * then split in the proportion of the monotonic clock's time in the
 * operator's rows inside it (the imaging clock hook) to the whole pass's:
 * that share is the operator column, the rest the encode column. (This
 * thread's CPU clock read per block was biased here: 43 ms of a 9 ms
 * operator at level 2 on the 2-vCPU VM.) --fused 0 runs them apart
 * (img_apply, then img_encode_png), as before.
 *
 * A one-scan JPEG that the fused pass takes is decoded as rows while the
 * pass reads them (img_decode_rows_create), as the worker does: the decode
 * column is then the setup before the first row plus the pass's CPU time in
 * the share the monotonic clock spent decoding rows, the operator and
 * encode columns the pass's other shares. --rows 0 decodes the whole image
 * first, as before.
 *
 * --dump-ppm OUT decodes the first file to RGB and writes it as a binary PPM
 * instead; bench.py uses it to build a large test image without any image
 * library of its own. */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "imaging.h"

/* Files bigger than this are not images we benchmark; it also bounds the read. */
/* The bench's 12 MP image must pass; the tool's own default is 100M. */
#define MAX_PIXELS UINT64_C(1000000000)
#define MAX_REPEAT 1000
/* edgefetch fixes glibc's mmap threshold here (cmd/process.h's
 * PROCESS_MMAP_THRESHOLD), so every image buffer is fresh pages from mmap
 * and freed back: the bench does the same, or glibc's dynamic threshold
 * would keep some buffers' pages between repeats (depending on the order of
 * the sizes) and the stages would be timed without the page faults the
 * tool pays. */
#define TOOL_MMAP_THRESHOLD (256 << 10)

enum stage {
    STAGE_DECODE = 0,
    STAGE_OPERATOR,
    STAGE_ENCODE,
    STAGE_TOTAL,
    STAGE_COUNT,
};

struct bench_options {
    enum img_operator op;
    int png_level;
    int repeat;
    int fused;
    int rows;
    const char *dump_ppm;
};

/* One file's result: medians over the repeats, in milliseconds. */
struct file_result {
    int width;
    int height;
    size_t png_bytes;
    double cpu_ms[STAGE_COUNT];
    double wall_total_ms;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: edgefetch-stage-bench [--operator sobel|tutorial] [--png-level N]\n"
            "                             [--repeat K] FILE...\n"
            "       edgefetch-stage-bench --dump-ppm OUT FILE\n"
            "Times decode / operator / PNG encode of local image files on one thread\n"
            "(CPU time, median of K repeats) and prints CSV on stdout.\n"
            "  --operator NAME   sobel (default) or tutorial\n"
            "  --png-level N     PNG level 0-9 (default 1, as edgefetch)\n"
            "  --repeat K        repeats per file, 1-%d (default 5)\n"
            "  --fused 0|1       3x3 operators fused with the encode (default 1, as the\n"
            "                    worker on one thread)\n"
            "  --rows 0|1        one-scan JPEGs decoded as rows the fused pass reads\n"
            "                    (default 1, as the worker)\n"
            "  --dump-ppm OUT    decode FILE to RGB and write it as a binary PPM\n",
            MAX_REPEAT);
}

/* Sorts `values` in place; the mean of the two middle ones when `count` is even. */
static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof(*values), bench_compare_doubles);
    if (count % 2 == 1)
        return values[count / 2];
    return (values[count / 2 - 1] + values[count / 2]) / 2.0;
}

/* Reads the whole file into a malloc'd buffer (the caller frees `*data`). */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
    uint8_t *buffer = NULL;
    size_t capacity = 0;
    size_t length = 0;
    int rc = 0;

    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return -errno;
    for (;;) {
        if (length == capacity) {
            if (capacity >= BENCH_MAX_FILE_BYTES) {
                rc = -EFBIG;
                goto fail;
            }
            size_t grown = capacity == 0 ? 1024 * 1024 : capacity * 2;
            uint8_t *bigger = realloc(buffer, grown);
            if (bigger == NULL) {
                rc = -ENOMEM;
                goto fail;
            }
            buffer = bigger;
            capacity = grown;
        }
        size_t got = fread(buffer + length, 1, capacity - length, in);
        length += got;
        if (got == 0)
            break;
    }
    if (ferror(in)) {
        rc = -EIO;
        goto fail;
    }
    fclose(in);
    *data = buffer;
    *size = length;
    return 0;

fail:
    free(buffer);
    fclose(in);
    return rc;
}

/* The monotonic clock in nanoseconds: the fused pass's clock. */
static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * UINT64_C(1000000000) + (uint64_t)now.tv_nsec;
}

/* The operator and the encode in one pass (every band on this thread, in
 * order, as a worker alone runs them); `*operator_share` is the operator's
 * part of the pass's time. -ENOTSUP: the operator is not one of the 3x3
 * ones. */
static int run_fused(const struct bench_options *opts, const struct img_buf *pixels, uint8_t **png,
                     size_t *png_size, double *operator_share, char *err, size_t err_size)
{
    struct img_png_bands *bands;
    uint64_t start = monotonic_ns();
    int rc = img_png_bands_create_fused(opts->op, pixels, opts->png_level, monotonic_ns, &bands);
    if (rc < 0) {
        if (rc != -ENOTSUP)
            snprintf(err, err_size, "fused: %s", strerror(-rc));
        return rc;
    }
    for (int band = 0; band < img_png_bands_count(bands) && rc == 0; band++)
        rc = img_png_bands_run(bands, band);
    if (rc == 0)
        rc = img_png_bands_finish(bands, png, png_size);
    if (rc < 0)
        snprintf(err, err_size, "fused: %s", strerror(-rc));
    uint64_t pass = monotonic_ns() - start;
    *operator_share = pass > 0 ? (double)img_png_bands_operator_time(bands) / (double)pass : 0;
    img_png_bands_destroy(bands);
    return rc;
}

/* The decode as rows read by the fused pass (img_decode_rows_create), as
 * the worker runs a one-scan JPEG: -ENOTSUP (nothing done) for another
 * file. The CPU times are split by the monotonic clock's shares. */
static int run_rows(const struct bench_options *opts, const uint8_t *data, size_t size,
                    struct file_result *result, double cpu_ms[STAGE_COUNT], char *err,
                    size_t err_size)
{
    struct img_rows *rows = NULL;
    struct img_png_bands *bands = NULL;
    uint8_t *png = NULL;
    size_t png_size = 0;
    double t0 = bench_thread_cpu_ms();
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = MAX_PIXELS;
    int rc = img_decode_rows_create(data, size, &limits, &rows, NULL, err, err_size);
    if (rc < 0)
        return rc;
    double t1 = bench_thread_cpu_ms();
    img_rows_set_clock(rows, monotonic_ns);
    uint64_t start = monotonic_ns();
    rc = img_png_bands_create_fused_rows(opts->op, rows, opts->png_level, monotonic_ns, &bands);
    for (int band = 0; rc == 0 && band < img_png_bands_count(bands); band++)
        rc = img_png_bands_run(bands, band);
    if (rc == 0)
        rc = img_png_bands_finish(bands, &png, &png_size);
    uint64_t pass = monotonic_ns() - start;
    double t2 = bench_thread_cpu_ms();
    if (rc < 0) {
        if (img_rows_error(rows, NULL, err, err_size) == 0)
            snprintf(err, err_size, "fused rows: %s", strerror(-rc));
        goto out;
    }
    double decode_share = pass > 0 ? (double)img_rows_decode_time(rows) / (double)pass : 0;
    double operator_share =
        pass > 0 ? (double)img_png_bands_operator_time(bands) / (double)pass : 0;
    cpu_ms[STAGE_DECODE] = (t1 - t0) + (t2 - t1) * decode_share;
    cpu_ms[STAGE_OPERATOR] = (t2 - t1) * operator_share;
    cpu_ms[STAGE_ENCODE] = (t2 - t1) * (1 - decode_share - operator_share);
    cpu_ms[STAGE_TOTAL] = t2 - t0;
    result->width = img_rows_width(rows);
    result->height = img_rows_height(rows);
    result->png_bytes = png_size;
out:
    free(png);
    img_png_bands_destroy(bands);
    img_rows_destroy(rows);
    return rc;
}

/* One decode → operator → encode pass, as process_job in pipeline/workers.c does it. */
static int run_once(const struct bench_options *opts, const uint8_t *data, size_t size,
                    struct file_result *result, double cpu_ms[STAGE_COUNT], double *wall_total,
                    char *err, size_t err_size)
{
    struct img_buf pixels = {0};
    struct img_buf edges = {0};
    uint8_t *png = NULL;
    size_t png_size = 0;

    double wall_start = bench_wall_ms();
    if (opts->fused && opts->rows && img_operator_fuses(opts->op)) {
        int ret = run_rows(opts, data, size, result, cpu_ms, err, err_size);
        if (ret != -ENOTSUP) {
            *wall_total = bench_wall_ms() - wall_start;
            return ret;
        }
    }
    double t0 = bench_thread_cpu_ms();
    int rc =
        img_decode(data, size, img_operator_channels(opts->op), MAX_PIXELS, &pixels, err, err_size);
    double t1 = bench_thread_cpu_ms();
    if (rc < 0)
        goto out;
    double t2, t3;
    double operator_share = 0;
    rc = opts->fused ? run_fused(opts, &pixels, &png, &png_size, &operator_share, err, err_size)
                     : -ENOTSUP;
    if (rc == 0) {
        t3 = bench_thread_cpu_ms();
        t2 = t1 + (t3 - t1) * operator_share;
    } else if (rc != -ENOTSUP) {
        goto out;
    } else {
        rc = img_apply(opts->op, &pixels, &edges);
        t2 = bench_thread_cpu_ms();
        if (rc < 0) {
            snprintf(err, err_size, "operator: %s", strerror(-rc));
            goto out;
        }
        rc = img_encode_png(&edges, opts->png_level, &png, &png_size, err, err_size);
        t3 = bench_thread_cpu_ms();
        if (rc < 0)
            goto out;
    }
    *wall_total = bench_wall_ms() - wall_start;

    cpu_ms[STAGE_DECODE] = t1 - t0;
    cpu_ms[STAGE_OPERATOR] = t2 - t1;
    cpu_ms[STAGE_ENCODE] = t3 - t2;
    cpu_ms[STAGE_TOTAL] = t3 - t0;
    result->width = pixels.width;
    result->height = pixels.height;
    result->png_bytes = png_size;

out:
    free(png);
    img_buf_finish(&edges);
    img_buf_finish(&pixels);
    return rc;
}

static int bench_file(const struct bench_options *opts, const char *path,
                      struct file_result *result)
{
    uint8_t *data = NULL;
    size_t size = 0;
    double *samples = NULL;
    char err[256] = "";

    int rc = read_file(path, &data, &size);
    if (rc < 0) {
        fprintf(stderr, "edgefetch-stage-bench: %s: %s\n", path, strerror(-rc));
        return rc;
    }
    /* STAGE_COUNT cpu series plus the wall series, `repeat` samples each. */
    samples = calloc((size_t)opts->repeat * (STAGE_COUNT + 1), sizeof(*samples));
    if (samples == NULL) {
        rc = -ENOMEM;
        fprintf(stderr, "edgefetch-stage-bench: out of memory\n");
        goto out;
    }
    for (int i = 0; i < opts->repeat; i++) {
        double cpu_ms[STAGE_COUNT] = {0};
        double wall_total = 0;
        rc = run_once(opts, data, size, result, cpu_ms, &wall_total, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "edgefetch-stage-bench: %s: %s\n", path, err);
            goto out;
        }
        for (int stage = 0; stage < STAGE_COUNT; stage++)
            samples[stage * opts->repeat + i] = cpu_ms[stage];
        samples[STAGE_COUNT * opts->repeat + i] = wall_total;
    }
    for (int stage = 0; stage < STAGE_COUNT; stage++)
        result->cpu_ms[stage] = median(samples + stage * opts->repeat, opts->repeat);
    result->wall_total_ms = median(samples + STAGE_COUNT * opts->repeat, opts->repeat);

out:
    free(samples);
    free(data);
    return rc;
}

/* Writes `text` as one CSV field, quoted when it holds a comma, quote or newline. */
static void print_csv_field(const char *text)
{
    if (strpbrk(text, ",\"\r\n") == NULL) {
        fputs(text, stdout);
        return;
    }
    putchar('"');
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '"')
            putchar('"');
        putchar(*c);
    }
    putchar('"');
}

static void print_row(const char *name, const struct bench_options *opts, double megapixels,
                      int width, int height, size_t png_bytes, const double cpu_ms[STAGE_COUNT],
                      double wall_total_ms)
{
    print_csv_field(name);
    printf(",%d,%d,%.6f,%s,%d,%d", width, height, megapixels, img_operator_name(opts->op),
           opts->png_level, opts->repeat);
    for (int stage = 0; stage < STAGE_COUNT; stage++)
        printf(",%.4f", cpu_ms[stage]);
    for (int stage = 0; stage < STAGE_COUNT; stage++)
        printf(",%.4f", megapixels > 0 ? cpu_ms[stage] / megapixels : 0.0);
    printf(",%zu,%.4f\n", png_bytes, wall_total_ms);
}

static int dump_ppm(const char *input, const char *output)
{
    struct img_buf rgb = {0};
    uint8_t *data = NULL;
    size_t size = 0;
    char err[256] = "";
    FILE *out = NULL;

    int rc = read_file(input, &data, &size);
    if (rc < 0) {
        snprintf(err, sizeof(err), "%s", strerror(-rc));
        goto fail;
    }
    rc = img_decode(data, size, 3, MAX_PIXELS, &rgb, err, sizeof(err));
    if (rc < 0)
        goto fail;
    out = fopen(output, "wb");
    if (out == NULL) {
        rc = -errno;
        snprintf(err, sizeof(err), "%s: %s", output, strerror(errno));
        goto fail;
    }
    fprintf(out, "P6\n%d %d\n255\n", rgb.width, rgb.height);
    for (int y = 0; y < rgb.height; y++) {
        if (fwrite(rgb.data + (size_t)y * rgb.stride, 3, (size_t)rgb.width, out) !=
            (size_t)rgb.width) {
            rc = -EIO;
            snprintf(err, sizeof(err), "%s: write failed", output);
            goto fail;
        }
    }
    rc = fclose(out);
    out = NULL;
    if (rc != 0) {
        rc = -EIO;
        snprintf(err, sizeof(err), "%s: write failed", output);
        goto fail;
    }
    img_buf_finish(&rgb);
    free(data);
    return 0;

fail:
    fprintf(stderr, "edgefetch-stage-bench: %s: %s\n", input, err);
    if (out != NULL)
        fclose(out);
    img_buf_finish(&rgb);
    free(data);
    return rc;
}

static int parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        return -EINVAL;
    *out = (int)value;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_options opts = {
        .op = IMG_OP_SOBEL, .png_level = 1, .repeat = 5, .fused = 1, .rows = 1};
    int first_file = argc;
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, TOOL_MMAP_THRESHOLD);
#endif

    /* Options come in pairs: each step takes a name and its value. */
    for (int i = 1; i < argc; i += 2) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--") == 0) {
            first_file = i + 1;
            break;
        } else if (strncmp(arg, "--", 2) != 0) {
            first_file = i;
            break;
        } else if (value == NULL) {
            fprintf(stderr, "edgefetch-stage-bench: %s needs a value\n", arg);
            return 2;
        } else if (strcmp(arg, "--operator") == 0) {
            if (img_operator_from_name(value, &opts.op) < 0) {
                fprintf(stderr, "edgefetch-stage-bench: unknown operator '%s'\n", value);
                return 2;
            }
        } else if (strcmp(arg, "--png-level") == 0) {
            if (parse_int(value, 0, 9, &opts.png_level) < 0) {
                fprintf(stderr, "edgefetch-stage-bench: --png-level wants 0-9\n");
                return 2;
            }
        } else if (strcmp(arg, "--repeat") == 0) {
            if (parse_int(value, 1, MAX_REPEAT, &opts.repeat) < 0) {
                fprintf(stderr, "edgefetch-stage-bench: --repeat wants 1-%d\n", MAX_REPEAT);
                return 2;
            }
        } else if (strcmp(arg, "--fused") == 0) {
            if (parse_int(value, 0, 1, &opts.fused) < 0) {
                fprintf(stderr, "edgefetch-stage-bench: --fused wants 0 or 1\n");
                return 2;
            }
        } else if (strcmp(arg, "--rows") == 0) {
            if (parse_int(value, 0, 1, &opts.rows) < 0) {
                fprintf(stderr, "edgefetch-stage-bench: --rows wants 0 or 1\n");
                return 2;
            }
        } else if (strcmp(arg, "--dump-ppm") == 0) {
            opts.dump_ppm = value;
        } else {
            fprintf(stderr, "edgefetch-stage-bench: unknown option '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    if (first_file >= argc) {
        usage(stderr);
        return 2;
    }
    if (opts.dump_ppm != NULL) {
        if (argc - first_file != 1) {
            fprintf(stderr, "edgefetch-stage-bench: --dump-ppm takes exactly one FILE\n");
            return 2;
        }
        return dump_ppm(argv[first_file], opts.dump_ppm) < 0 ? 1 : 0;
    }

    printf("file,width,height,megapixels,operator,png_level,repeats,"
           "decode_ms,operator_ms,encode_ms,total_ms,"
           "decode_ms_per_mp,operator_ms_per_mp,encode_ms_per_mp,total_ms_per_mp,"
           "png_bytes,wall_total_ms\n");
    double sum_ms[STAGE_COUNT] = {0};
    double sum_megapixels = 0;
    double sum_wall_ms = 0;
    size_t sum_png_bytes = 0;
    int failures = 0;
    for (int i = first_file; i < argc; i++) {
        struct file_result result = {0};
        if (bench_file(&opts, argv[i], &result) < 0) {
            failures++;
            continue;
        }
        double megapixels = (double)result.width * (double)result.height / 1e6;
        print_row(argv[i], &opts, megapixels, result.width, result.height, result.png_bytes,
                  result.cpu_ms, result.wall_total_ms);
        fflush(stdout);
        for (int stage = 0; stage < STAGE_COUNT; stage++)
            sum_ms[stage] += result.cpu_ms[stage];
        sum_megapixels += megapixels;
        sum_wall_ms += result.wall_total_ms;
        sum_png_bytes += result.png_bytes;
    }
    print_row("TOTAL", &opts, sum_megapixels, 0, 0, sum_png_bytes, sum_ms, sum_wall_ms);
    return failures > 0 ? 1 : 0;
}
