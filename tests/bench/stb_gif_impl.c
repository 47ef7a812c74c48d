/* stb_image 2.27's GIF loader, compiled for the format decoder comparison
 * only (tests/bench/format_decoders.c, imaging/DECODE.md): edgefetch reads
 * GIF with giflib. Static, so that it cannot collide with the other stb
 * copies; warnings off (third-party code as shipped). */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 16)
#include <stb_image.h>

unsigned char *bench_stb_gif_load(const unsigned char *data, int size, int *width, int *height);
void bench_stb_free(void *pixels);

unsigned char *bench_stb_gif_load(const unsigned char *data, int size, int *width, int *height)
{
    int channels;
    return stbi_load_from_memory(data, size, width, height, &channels, 3);
}

void bench_stb_free(void *pixels)
{
    stbi_image_free(pixels);
}
