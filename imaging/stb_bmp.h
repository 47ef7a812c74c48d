/* stb_image's BMP loader (stb_bmp_impl.c), for decode_bmp.c only. */
#ifndef EDGEFETCH_STB_BMP_H
#define EDGEFETCH_STB_BMP_H

/* stbi_load_from_memory(..., 3): RGB, malloc'd (free with img__stb_free),
 * or NULL with stb's reason (a static string) in *reason. */
unsigned char *img__stb_bmp_load(const unsigned char *data, int size, int *width, int *height,
                                 const char **reason);
void img__stb_free(void *pixels);

/* stb's stbi_io_callbacks, so that its header stays in stb_bmp_impl.c. */
struct img__stb_io {
    int (*read)(void *user, char *data, int size);
    void (*skip)(void *user, int n);
    int (*eof)(void *user);
};

/* stbi_load_from_callbacks(..., 3), as img__stb_bmp_load. */
unsigned char *img__stb_bmp_load_io(const struct img__stb_io *io, void *user, int *width,
                                    int *height, const char **reason);

#endif
