/* BMP decoded in bands of rows (imaging/decode_bmp.c: stb_image is called
 * once per band, behind the file's header rewritten to the band's height,
 * so that the cancel flag is polled between bands): images of several bands
 * in every layout give exactly the pixels make_bmp stored, and a cancel
 * flag set while the first band decodes stops the decode before the next.
 * The flag is set from the allocator (the first allocation of a band's
 * size, stb's raster), so the test does not depend on timing. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imaging.h"
#include "imaging_private.h"
#include "make_formats.h"

static atomic_int cancel_flag;
static atomic_size_t cancel_on_size; /* 0: disarmed */

static void on_allocation(size_t size)
{
    size_t want = atomic_load(&cancel_on_size);
    if (want != 0 && size == want)
        atomic_store(&cancel_flag, 1);
}

#if defined(__SANITIZE_ADDRESS__)
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void malloc_hook(const volatile void *ptr, size_t size)
{
    (void)ptr;
    on_allocation(size);
}
static void free_hook(const volatile void *ptr)
{
    (void)ptr;
}
__attribute__((constructor)) static void install_hooks(void)
{
    __sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook);
}
#else
extern void *__libc_malloc(size_t size);
void *malloc(size_t size)
{
    on_allocation(size);
    return __libc_malloc(size);
}
#endif

static void check_layouts(void)
{
    /* 1500 wide: 233 rows of stb's RGB a band, so 700 rows are 4 bands. */
    enum { W = 1500, H = 700 };
    CHECK_LT(img__bmp_band_bytes(W), (size_t)3 * W * H / 2);
    const struct bmp_make specs[] = {
        {W, H, 24, 0, 1, false},    {W, H, 24, 0, 1, true},   {W, H, 32, 0, 1, false},
        {W, H, 8, 256, 256, false}, {W, H, 8, 10, 256, true}, {W, H, 4, 16, 16, false},
        {W, H, 1, 2, 2, true},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct mem_image file = make_bmp(&specs[i]);
        for (int channels = 1; channels <= 3; channels += 2) {
            struct img_buf out;
            char err[256] = "";
            enum img_error_kind kind;
            CHECK_EQ(img_decode_limited(file.data, file.size, channels, NULL, &out, &kind, err,
                                        sizeof(err)),
                     0);
            CHECK_EQ(out.width, W);
            CHECK_EQ(out.height, H);
            for (int y = 0; y < H; y++) {
                uint8_t want[3 * W];
                for (int x = 0; x < W; x++)
                    bmp_expected(&specs[i], x, y, want + 3 * x);
                const uint8_t *row = out.data + (size_t)y * out.stride;
                if (channels == 3) {
                    CHECK_MEM_EQ(row, want, sizeof(want));
                } else {
                    uint8_t luma[W];
                    img_rgb_to_luma(want, sizeof(want), luma, W, W, 1);
                    CHECK_MEM_EQ(row, luma, sizeof(luma));
                }
            }
            img_buf_finish(&out);
        }
        mem_image_free(&file);
    }
}

static void check_cancel_mid_decode(void)
{
    enum { W = 1500, H = 700 };
    const struct bmp_make spec = {W, H, 24, 0, 1, false};
    struct mem_image file = make_bmp(&spec);
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.cancel = &cancel_flag;
    struct img_buf out;
    char err[256] = "";
    enum img_error_kind kind;
    atomic_store(&cancel_flag, 0);
    atomic_store(&cancel_on_size, img__bmp_band_bytes(W));
    int ret = img_decode_limited(file.data, file.size, 1, &limits, &out, &kind, err, sizeof(err));
    atomic_store(&cancel_on_size, 0);
    CHECK_EQ(atomic_load(&cancel_flag), 1); /* the first band did start */
    CHECK_EQ(ret, -ECANCELED);
    CHECK_EQ(kind, IMG_ERROR_CANCELLED);
    CHECK(out.data == NULL);
    mem_image_free(&file);
}

int main(void)
{
    check_layouts();
    check_cancel_mid_decode();
    printf("bmp_bands: all tests passed\n");
    return 0;
}
