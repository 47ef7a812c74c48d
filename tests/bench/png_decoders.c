/* edgefetch-png-decoders: the PNG decoder decision (imaging/DECODE.md),
 * measured. Decodes each file with stb_image 2.27 (as imaging compiled it
 * until this change), with imaging's libpng decoder (img_decode_limited,
 * the real path: probe, limits, libpng row by row) and with libspng 0.7, to
 * 8-bit RGB (libspng: RGBA8 for 16-bit files and palettes with alpha, its
 * only 8-bit format for them), and prints per decoder the median CPU time
 * per megapixel, the peak heap bytes per pixel (every allocation, counted
 * by tests/unit/alloc_peak.h), and whether the file was refused.
 *
 *   edgefetch-png-decoders REPEATS FILE...
 *
 * Not a test: timings are not pass/fail. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spng.h>

#include "bench_util.h"
#include "../unit/alloc_peak.h"
#include "imaging.h"
#include "imaging_stbi.h"

enum decoder { DECODER_STB = 0, DECODER_LIBPNG, DECODER_SPNG, DECODER_COUNT };
static const char *const decoder_names[DECODER_COUNT] = {"stb_image", "libpng", "libspng"};

/* One decode; returns 0 and the pixel count, or -1 (refused) with `why`. */
static int decode_once(enum decoder decoder, const uint8_t *data, size_t size, uint64_t *pixels,
                       char *why, size_t why_size)
{
    why[0] = '\0';
    if (decoder == DECODER_STB) {
        int width, height, channels;
        uint8_t *rgb = stbi_load_from_memory(data, (int)size, &width, &height, &channels, 3);
        if (rgb == NULL) {
            snprintf(why, why_size, "%s", stbi_failure_reason());
            return -1;
        }
        *pixels = (uint64_t)width * (uint64_t)height;
        stbi_image_free(rgb);
        return 0;
    }
    if (decoder == DECODER_LIBPNG) {
        struct img_buf out;
        enum img_error_kind kind;
        if (img_decode_limited(data, size, 3, NULL, &out, &kind, why, why_size) < 0)
            return -1;
        *pixels = (uint64_t)out.width * (uint64_t)out.height;
        img_buf_finish(&out);
        return 0;
    }
    spng_ctx *ctx = spng_ctx_new(0);
    if (ctx == NULL)
        return -1;
    int ret = spng_set_png_buffer(ctx, data, size);
    struct spng_ihdr ihdr;
    if (ret == 0)
        ret = spng_get_ihdr(ctx, &ihdr);
    int format = SPNG_FMT_RGB8;
    size_t out_size = 0;
    if (ret == 0 && spng_decoded_image_size(ctx, format, &out_size) != 0) {
        format = SPNG_FMT_RGBA8;
        ret = spng_decoded_image_size(ctx, format, &out_size);
    }
    uint8_t *out = NULL;
    if (ret == 0) {
        out = malloc(out_size);
        ret = out == NULL ? SPNG_EMEM : spng_decode_image(ctx, out, out_size, format, 0);
    }
    if (ret == 0)
        *pixels = (uint64_t)ihdr.width * ihdr.height;
    else
        snprintf(why, why_size, "%s", spng_strerror(ret));
    free(out);
    spng_ctx_free(ctx);
    return ret == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "Usage: edgefetch-png-decoders REPEATS FILE...\n");
        return 2;
    }
    int repeats = atoi(argv[1]);
    if (repeats < 1 || repeats > 100)
        return 2;
    printf("%-28s %-10s %10s %10s  %s\n", "file", "decoder", "ms/MP", "peak B/px", "result");
    for (int f = 2; f < argc; f++) {
        uint8_t *data = NULL;
        size_t size = 0;
        if (bench_read_file(argv[f], &data, &size) < 0) {
            fprintf(stderr, "cannot read %s\n", argv[f]);
            return 1;
        }
        const char *name = strrchr(argv[f], '/') != NULL ? strrchr(argv[f], '/') + 1 : argv[f];
        for (int d = 0; d < DECODER_COUNT; d++) {
            double times[100];
            uint64_t pixels = 0;
            char why[256];
            size_t base = alloc_peak_reset();
            int ret = decode_once((enum decoder)d, data, size, &pixels, why, sizeof(why));
            size_t peak = alloc_peak_since(base);
            if (ret < 0) {
                printf("%-28s %-10s %10s %10s  refused: %s (peak %zu KiB)\n", name,
                       decoder_names[d], "-", "-", why, peak >> 10);
                continue;
            }
            for (int r = 0; r < repeats; r++) {
                double start = bench_cpu_seconds();
                decode_once((enum decoder)d, data, size, &pixels, why, sizeof(why));
                times[r] = bench_cpu_seconds() - start;
            }
            qsort(times, (size_t)repeats, sizeof(times[0]), bench_compare_doubles);
            double mp = (double)pixels / 1e6;
            printf("%-28s %-10s %10.2f %10.2f  ok\n", name, decoder_names[d],
                   1000.0 * times[repeats / 2] / mp, (double)peak / (double)pixels);
        }
        free(data);
    }
    return 0;
}
