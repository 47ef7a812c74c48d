/* edgefetch-bands-bench: wall time of one operator run on one large image,
 * on one thread (img_apply_with, what a lone worker did before) against
 * split into row bands with pipeline's pl_bands and N - 1 idle helper
 * workers (what a worker does when the others are idle).
 *
 * Decodes FILE once (not timed), then K rounds, each timing both ways one
 * after the other (interleaved, so a machine busy with something else hurts
 * both alike), checking that both give the same bytes. Also times Canny's
 * serial tail (img_bands_finish: the hysteresis, which cannot be split).
 * Prints CSV on stdout: operator, megapixels, threads, medians in ms of the
 * one-thread run, the split run and the serial tail, the speedup, and the
 * split run's parallelism (process CPU time / wall time: near 1 means the
 * helpers found no free core, e.g. on a machine busy with other work).
 *
 * Usage: edgefetch-bands-bench [--threads N] [--repeat K] [--operator NAME]
 *                              [--min-pixels P] FILE */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "bench_util.h"
#include "bands.h"
#include "imaging.h"
#include "pipeline.h"

#define MAX_PIXELS UINT64_C(1000000000)
#define MAX_REPEAT 101
#define MAX_THREADS 64

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof(*values), bench_compare_doubles);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* An idle worker of the pipeline: waits for jobs (none come) and runs the
 * bands of the splits it is woken for. */
static void helper_main(void *arg)
{
    struct pl_bands *bands = arg;
    while (pl_bands_next_job(bands) != NULL) {
    }
}

static int same_pixels(const struct img_buf *a, const struct img_buf *b)
{
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width) != 0)
            return 0;
    return 1;
}

/* One thread runs every band and the serial tail, timing the tail. */
static double serial_tail_ms(enum img_operator op, const struct img_buf *src)
{
    struct img_bands *work;
    struct img_buf dst;
    if (img_bands_create(op, NULL, src, &dst, &work) < 0)
        return -1;
    img_bands_run(work, 0, src->height);
    double t0 = bench_wall_ms();
    img_bands_finish(work);
    double tail = bench_wall_ms() - t0;
    img_bands_destroy(work);
    img_buf_finish(&dst);
    return tail;
}

int main(int argc, char **argv)
{
    unsigned threads = 2;
    int repeat = 9;
    uint64_t min_pixels = PL_BANDS_MIN_PIXELS;
    enum img_operator op = IMG_OP_SOBEL;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0 && value != NULL) {
            threads = (unsigned)atoi(value);
            i++;
        } else if (strcmp(argv[i], "--repeat") == 0 && value != NULL) {
            repeat = atoi(value);
            i++;
        } else if (strcmp(argv[i], "--min-pixels") == 0 && value != NULL) {
            min_pixels = strtoull(value, NULL, 10);
            i++;
        } else if (strcmp(argv[i], "--operator") == 0 && value != NULL) {
            if (img_operator_from_name(value, &op) < 0) {
                fprintf(stderr, "edgefetch-bands-bench: unknown operator %s\n", value);
                return 2;
            }
            i++;
        } else if (argv[i][0] != '-' && path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "Usage: edgefetch-bands-bench [--threads N] [--repeat K] "
                            "[--operator NAME] [--min-pixels P] FILE\n");
            return 2;
        }
    }
    if (path == NULL || threads < 1 || threads > MAX_THREADS || repeat < 1 || repeat > MAX_REPEAT) {
        fprintf(stderr, "edgefetch-bands-bench: need FILE, --threads 1-%d, --repeat 1-%d\n",
                MAX_THREADS, MAX_REPEAT);
        return 2;
    }

    uint8_t *file = NULL;
    size_t file_size = 0;
    struct img_buf src = {0};
    char err[256] = "";
    if (bench_read_file(path, &file, &file_size) < 0 ||
        img_decode(file, file_size, img_operator_channels(op), MAX_PIXELS, &src, err, sizeof(err)) <
            0) {
        fprintf(stderr, "edgefetch-bands-bench: %s: cannot read or decode %s\n", path, err);
        free(file);
        return 1;
    }
    free(file);

    struct pl_queue *todo;
    struct pl_bands *bands;
    uv_thread_t helpers[MAX_THREADS];
    if (pl_queue_create(&todo) < 0 || pl_bands_create(todo, threads, min_pixels, &bands) < 0)
        return 1;
    for (unsigned i = 0; i + 1 < threads; i++)
        uv_thread_create(&helpers[i], helper_main, bands);
    uv_sleep(50); /* let the helpers block: they count as idle only then */

    double one[MAX_REPEAT], split[MAX_REPEAT], tail[MAX_REPEAT], parallel[MAX_REPEAT];
    unsigned most_threads = 0;
    int ret = 0;
    for (int r = 0; r < repeat; r++) {
        struct img_buf a, b;
        unsigned used;
        double t0 = bench_wall_ms();
        img_apply_with(op, NULL, &src, &a);
        double t1 = bench_wall_ms(), cpu1 = bench_process_cpu_ms();
        pl_bands_apply(bands, op, NULL, &src, &b, &used);
        double t2 = bench_wall_ms(), cpu2 = bench_process_cpu_ms();
        parallel[r] = (cpu2 - cpu1) / (t2 - t1);
        one[r] = t1 - t0;
        split[r] = t2 - t1;
        tail[r] = serial_tail_ms(op, &src);
        most_threads = used > most_threads ? used : most_threads;
        if (!same_pixels(&a, &b)) {
            fprintf(stderr, "edgefetch-bands-bench: split output differs!\n");
            ret = 1;
        }
        img_buf_finish(&a);
        img_buf_finish(&b);
    }

    pl_queue_close(todo);
    for (unsigned i = 0; i + 1 < threads; i++)
        uv_thread_join(&helpers[i]);
    pl_bands_destroy(bands);
    pl_queue_destroy(todo);

    double one_ms = median(one, repeat), split_ms = median(split, repeat);
    printf("operator,megapixels,threads,one_thread_ms,split_ms,serial_tail_ms,speedup,"
           "split_parallelism\n");
    printf("%s,%.1f,%u,%.1f,%.1f,%.1f,%.2f,%.2f\n", img_operator_name(op),
           (double)src.width * src.height / 1e6, most_threads, one_ms, split_ms,
           median(tail, repeat), one_ms / split_ms, median(parallel, repeat));
    img_buf_finish(&src);
    return ret;
}
