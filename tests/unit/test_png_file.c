/* The PNG file the banded encoder assembles itself (imaging/encode.c, issue
 * 16): png_rle bands write into the file, each where the previous one ended
 * when it ran first, else at its own region, and the finish moves them into
 * place and frames the chunks (CRC-32 by libdeflate). Checked here, on
 * images of several bands, that every way of getting there gives the same
 * bytes as img_encode_png, which libpng decodes back to the pixels, with
 * its tEXt "Source" where a reader looks for it:
 *   - bands in order, in reverse, and in an interleaved order on one thread;
 *   - the source set before any band ran (the regions move up), after some
 *     ran (the bands move up in the finish), short and longer than a page;
 *   - bands that outgrow their room in the file (img__png_bands_set_room)
 *     and are copied in from a buffer of their own, mixed with bands in
 *     place;
 *   - a cancel flag stops a band with -ECANCELED and the finish then fails. */
#include <errno.h>
#include <png.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "test_random.h"
#include "imaging.h"
#include "imaging_private.h"

/* Edge-map-like (mostly small values, some texture) or noise. */
static void make_image(struct img_buf *image, int width, int height, bool noise, uint64_t *rng)
{
    CHECK_EQ(img_buf_init(image, width, height, 1), 0);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint32_t r = next_random(rng);
            image->data[(size_t)y * image->stride + (size_t)x] =
                noise ? (uint8_t)r : (uint8_t)((r & 0xff) < 180 ? (r >> 8) & 3 : (x + y) & 0xff);
        }
}

/* Reads the PNG with libpng: the pixels must be `want`'s, the text chunk
 * "Source" must be `source` (NULL: no text chunk). */
static void check_png(const uint8_t *png, size_t size, const struct img_buf *want,
                      const char *source)
{
    png_image image;
    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_memory(&image, png, size) != 0);
    image.format = PNG_FORMAT_GRAY;
    uint8_t *pixels = malloc((size_t)want->width * (size_t)want->height);
    CHECK(pixels != NULL);
    CHECK(png_image_finish_read(&image, NULL, pixels, want->width, NULL) != 0);
    CHECK(image.warning_or_error == 0);
    for (int y = 0; y < want->height; y++)
        CHECK_MEM_EQ(pixels + (size_t)y * (size_t)want->width,
                     want->data + (size_t)y * want->stride, (size_t)want->width);
    free(pixels);
    /* The first chunk after IHDR (at 33) is the tEXt, when there is one. */
    if (source == NULL) {
        CHECK(memcmp(png + 37, "IDAT", 4) == 0);
        return;
    }
    CHECK(memcmp(png + 37, "tEXt", 4) == 0);
    size_t length = (size_t)png[33] << 24 | (size_t)png[34] << 16 | (size_t)png[35] << 8 | png[36];
    CHECK_EQ(length, sizeof("Source") + strlen(source));
    CHECK(memcmp(png + 41, "Source", sizeof("Source")) == 0);
    CHECK(memcmp(png + 41 + sizeof("Source"), source, strlen(source)) == 0);
}

enum source_when { SOURCE_NONE, SOURCE_BEFORE, SOURCE_AFTER_FIRST };

/* Encodes `gray` at level 1 running the bands in `order` (count entries),
 * with `source` set as `when` says, each band given `room` bytes in the file
 * (0: its bound). */
static void encode_ordered(const struct img_buf *gray, const int *order, int count,
                           const char *source, enum source_when when, size_t room, uint8_t **png,
                           size_t *size)
{
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(gray, 1, &bands), 0);
    CHECK_EQ(img_png_bands_count(bands), count);
    if (room > 0)
        img__png_bands_set_room(bands, room);
    if (when == SOURCE_BEFORE)
        img_png_bands_set_source(bands, source);
    for (int i = 0; i < count; i++) {
        CHECK_EQ(img_png_bands_run(bands, order[i]), 0);
        if (i == 0 && when == SOURCE_AFTER_FIRST)
            img_png_bands_set_source(bands, source);
    }
    CHECK_EQ(img_png_bands_finish(bands, png, size), 0);
    img_png_bands_destroy(bands);
}

/* What img_encode_png gives with the source set first (the pipeline's way). */
static void encode_reference(const struct img_buf *gray, const char *source, uint8_t **png,
                             size_t *size)
{
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(gray, 1, &bands), 0);
    if (source != NULL)
        img_png_bands_set_source(bands, source);
    for (int i = 0; i < img_png_bands_count(bands); i++)
        CHECK_EQ(img_png_bands_run(bands, i), 0);
    CHECK_EQ(img_png_bands_finish(bands, png, size), 0);
    img_png_bands_destroy(bands);
}

static void test_orders_sources_and_room(void)
{
    uint64_t rng = 0x5eed5eed12345678u;
    char long_source[5001];
    for (size_t i = 0; i < sizeof(long_source) - 1; i++)
        long_source[i] = (char)('a' + i % 26);
    long_source[sizeof(long_source) - 1] = '\0';
    const char *sources[] = {NULL, "http://127.0.0.1:1/a.jpg", long_source};
    /* 4096 wide: 256 rows a band, so 5 bands (the remainder joins the last). */
    static const int sizes[][2] = {{4096, 1300}, {4099, 1024}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int noise = 0; noise <= 1; noise++) {
            struct img_buf gray;
            make_image(&gray, sizes[s][0], sizes[s][1], noise, &rng);
            struct img_png_bands *probe;
            CHECK_EQ(img_png_bands_create(&gray, 1, &probe), 0);
            int count = img_png_bands_count(probe);
            img_png_bands_destroy(probe);
            CHECK_GE(count, 4);

            uint8_t *plain = NULL;
            size_t plain_size = 0;
            char err[256] = "";
            CHECK_EQ(img_encode_png(&gray, 1, &plain, &plain_size, err, sizeof(err)), 0);
            check_png(plain, plain_size, &gray, NULL);

            int in_order[16], reverse[16], interleaved[16];
            for (int i = 0; i < count; i++) {
                in_order[i] = i;
                reverse[i] = count - 1 - i;
                /* 1, 0, 3, 2, ...: every other band starts before its
                 * predecessor is done. */
                interleaved[i] = (i ^ 1) < count ? i ^ 1 : i;
            }
            const int *orders[] = {in_order, reverse, interleaved};
            /* Room for everything, for about half a band (some bands spill,
             * noise ones all do), for almost nothing (all spill). */
            size_t rooms[] = {0, (size_t)gray.width * 256 / 2, 64};
            for (size_t src = 0; src < sizeof(sources) / sizeof(sources[0]); src++) {
                uint8_t *want = NULL;
                size_t want_size = 0;
                encode_reference(&gray, sources[src], &want, &want_size);
                check_png(want, want_size, &gray, sources[src]);
                if (sources[src] == NULL) {
                    CHECK_EQ(want_size, plain_size);
                    CHECK_MEM_EQ(want, plain, plain_size);
                }
                for (size_t o = 0; o < 3; o++)
                    for (size_t r = 0; r < 3; r++)
                        for (int when = SOURCE_BEFORE; when <= SOURCE_AFTER_FIRST; when++) {
                            if (sources[src] == NULL && when != SOURCE_BEFORE)
                                continue;
                            uint8_t *got = NULL;
                            size_t got_size = 0;
                            encode_ordered(&gray, orders[o], count, sources[src],
                                           sources[src] == NULL ? SOURCE_NONE
                                                                : (enum source_when)when,
                                           rooms[r], &got, &got_size);
                            if (got_size != want_size || memcmp(got, want, want_size) != 0)
                                fprintf(stderr,
                                        "%dx%d noise %d source %zu order %zu room %zu when %d\n",
                                        gray.width, gray.height, noise, src, o, r, when);
                            CHECK_EQ(got_size, want_size);
                            CHECK_MEM_EQ(got, want, want_size);
                            free(got);
                        }
                free(want);
            }
            free(plain);
            img_buf_finish(&gray);
        }
    }
}

static void test_cancel(void)
{
    uint64_t rng = 42;
    struct img_buf gray;
    make_image(&gray, 4096, 1024, false, &rng);
    atomic_int cancel;
    atomic_init(&cancel, 0);
    struct img_png_bands *bands;
    CHECK_EQ(img_png_bands_create(&gray, 1, &bands), 0);
    img_png_bands_set_cancel(bands, &cancel);
    CHECK_EQ(img_png_bands_run(bands, 0), 0);
    atomic_store(&cancel, 1);
    CHECK_EQ(img_png_bands_run(bands, 1), -ECANCELED);
    uint8_t *png = NULL;
    size_t size = 0;
    CHECK_EQ(img_png_bands_finish(bands, &png, &size), -ECANCELED);
    CHECK(png == NULL);
    img_png_bands_destroy(bands);

    /* zlib's bands (a two-level map) poll it too. */
    for (size_t i = 0; i < (size_t)gray.height * gray.stride; i++)
        gray.data[i] = gray.data[i] > 1 ? 255 : 0;
    CHECK_EQ(img_png_bands_create(&gray, 1, &bands), 0);
    img_png_bands_set_cancel(bands, &cancel);
    CHECK_EQ(img_png_bands_run(bands, 0), -ECANCELED);
    img_png_bands_destroy(bands);
    img_buf_finish(&gray);
}

int main(void)
{
    test_orders_sources_and_room();
    test_cancel();
    printf("ok\n");
    return 0;
}
