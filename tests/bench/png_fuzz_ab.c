/* libFuzzer harness for the PNG decoder decision (imaging/DECODE.md): the
 * same input to one decoder, chosen at compile time, to compare executions
 * per second of a short run. Not part of the build; compiled by hand:
 *
 *   clang -O1 -g -fsanitize=fuzzer,address -DPNG_AB_DECODER=1 -Iimaging \
 *       -I/usr/include/libpng16 tests/bench/png_fuzz_ab.c imaging/[a-z]*.c \
 *       -lpng -ljpeg -lz -lm -o /tmp/png-ab-libpng
 *   (PNG_AB_DECODER 0: stb_image: only this file, imaging/stb_image_impl.c,
 *    $(pkg-config --cflags stb) and -w;
 *    2: libspng, add -lspng)
 *   /tmp/png-ab-libpng -max_total_time=20 -max_len=65536 CORPUS_COPY/
 *
 * Only code compiled here is instrumented: stb_image is (it is a header),
 * the system libpng and libspng are not, so their runs explore our wrapper
 * and their exec/s is the speed of the library, not coverage inside it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if PNG_AB_DECODER == 0
#include "imaging_stbi.h"
#elif PNG_AB_DECODER == 1
#include "imaging.h"
#else
#include <spng.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#if PNG_AB_DECODER == 0
    /* The old imaging's pixel limit, checked on stb's reading of the header
     * (without it stb allocates whatever the header claims). */
    int width, height, channels;
    if (size > (size_t)INT32_MAX ||
        !stbi_info_from_memory(data, (int)size, &width, &height, &channels) ||
        (uint64_t)width * (uint64_t)height > (1 << 22))
        return 0;
    uint8_t *rgb = stbi_load_from_memory(data, (int)size, &width, &height, &channels, 3);
    stbi_image_free(rgb);
#elif PNG_AB_DECODER == 1
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_pixels = 1 << 22;
    struct img_buf out;
    if (img_decode_limited(data, size, 3, &limits, &out, NULL, NULL, 0) == 0)
        img_buf_finish(&out);
#else
    spng_ctx *ctx = spng_ctx_new(0);
    size_t out_size;
    struct spng_ihdr ihdr;
    spng_set_image_limits(ctx, 1 << 16, 1 << 16);
    if (spng_set_png_buffer(ctx, data, size) == 0 && spng_get_ihdr(ctx, &ihdr) == 0 &&
        (uint64_t)ihdr.width * ihdr.height <= (1 << 22) &&
        spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &out_size) == 0) {
        uint8_t *out = malloc(out_size);
        if (out != NULL)
            spng_decode_image(ctx, out, out_size, SPNG_FMT_RGBA8, 0);
        free(out);
    }
    spng_ctx_free(ctx);
#endif
    return 0;
}
