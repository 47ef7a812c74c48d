/* stb_image 2.27 (Debian's libstb-dev) compiled for BMP only, its functions
 * static to this file (the PNG decoder comparison in tests/bench compiles
 * its own PNG-only stb_image_impl.c, and the two must not collide); third-
 * party code kept as shipped, so meson builds this file with warnings off.
 * decode_bmp.c checks the header, the pixel limit, the budget and the file's
 * length before it calls img__stb_bmp_load, and hands it a full palette
 * (DECODE.md: why). */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 16)
#include <stb_image.h>

#include "stb_bmp.h"

#ifndef STBI_THREAD_LOCAL
#error "stb_image without thread-local storage: stbi_failure_reason() would race"
#endif

unsigned char *img__stb_bmp_load(const unsigned char *data, int size, int *width, int *height,
                                 const char **reason)
{
    int stored_channels;
    unsigned char *rgb = stbi_load_from_memory(data, size, width, height, &stored_channels, 3);
    *reason = rgb == NULL ? stbi_failure_reason() : NULL;
    return rgb;
}

void img__stb_free(void *pixels)
{
    stbi_image_free(pixels);
}

/* The same from stb's callback reader (a band of rows behind a header the
 * caller rewrote: decode_bmp.c). */
unsigned char *img__stb_bmp_load_io(const struct img__stb_io *io, void *user, int *width,
                                    int *height, const char **reason)
{
    stbi_io_callbacks callbacks = {io->read, io->skip, io->eof};
    int stored_channels;
    unsigned char *rgb = stbi_load_from_callbacks(&callbacks, user, width, height,
                                                  &stored_channels, 3);
    *reason = rgb == NULL ? stbi_failure_reason() : NULL;
    return rgb;
}
