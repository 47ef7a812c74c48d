/* edgefetch-format-decoders: the decoder decisions of issue 14
 * (imaging/DECODE.md), measured. Decodes each file with imaging's decoder
 * for its format (img_decode_limited to RGB, the real path: probe, limits,
 * library, delivery) and, for GIF, with stb_image 2.27's GIF loader on the
 * same bytes (the alternative the design brief names; BMP's stb loader is
 * imaging's own), and prints the median CPU time per megapixel and the
 * peak heap bytes per pixel (every allocation, tests/unit/alloc_peak.h).
 *
 *   edgefetch-format-decoders REPEATS FILE...
 *
 * Not a test: timings are not pass/fail. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "../unit/alloc_peak.h"
#include "imaging.h"

unsigned char *bench_stb_gif_load(const unsigned char *data, int size, int *width, int *height);
void bench_stb_free(void *pixels);

/* One decode with `stb` or imaging; 0 and the pixel count, or -1. */
static int decode_once(bool stb, const uint8_t *data, size_t size, uint64_t *pixels, char *why,
                       size_t why_size)
{
    if (stb) {
        int width, height;
        uint8_t *rgb = bench_stb_gif_load(data, (int)size, &width, &height);
        if (rgb == NULL) {
            snprintf(why, why_size, "stb refused");
            return -1;
        }
        bench_stb_free(rgb);
        *pixels = (uint64_t)width * (uint64_t)height;
        return 0;
    }
    struct img_buf out;
    enum img_error_kind kind;
    if (img_decode_limited(data, size, 3, NULL, &out, &kind, why, why_size) < 0)
        return -1;
    *pixels = (uint64_t)out.width * (uint64_t)out.height;
    img_buf_finish(&out);
    return 0;
}

static void run(const char *name, bool stb, const uint8_t *data, size_t size, int repeats)
{
    double *times = calloc((size_t)repeats, sizeof(*times));
    uint64_t pixels = 0;
    char why[256] = "";
    size_t base = alloc_peak_reset();
    if (times == NULL || decode_once(stb, data, size, &pixels, why, sizeof(why)) < 0) {
        printf("  %-10s refused: %s\n", name, why);
        free(times);
        return;
    }
    size_t peak = alloc_peak_since(base);
    for (int r = 0; r < repeats; r++) {
        double start = bench_cpu_seconds();
        decode_once(stb, data, size, &pixels, why, sizeof(why));
        times[r] = bench_cpu_seconds() - start;
    }
    qsort(times, (size_t)repeats, sizeof(*times), bench_compare_doubles);
    printf("  %-10s %8.2f ms/MP  peak %6.2f B/px\n", name,
           times[repeats / 2] * 1e3 / ((double)pixels / 1e6), (double)peak / (double)pixels);
    free(times);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: edgefetch-format-decoders REPEATS FILE...\n");
        return 2;
    }
    int repeats = atoi(argv[1]);
    if (repeats < 1)
        repeats = 1;
    for (int i = 2; i < argc; i++) {
        uint8_t *data = NULL;
        size_t size = 0;
        if (bench_read_file(argv[i], &data, &size) < 0) {
            fprintf(stderr, "%s: cannot read\n", argv[i]);
            return 1;
        }
        struct img_info info;
        char err[256];
        int probed = img_probe(data, size, &info, err, sizeof(err));
        printf("%s: %s %dx%d, %zu bytes\n", argv[i],
               probed == 0 ? img_format_name(info.format) : "?", info.width, info.height, size);
        run("imaging", false, data, size, repeats);
        if (probed == 0 && info.format == IMG_FORMAT_GIF)
            run("stb_image", true, data, size, repeats);
        free(data);
    }
    return 0;
}
