/* The WebP, GIF, AVIF, BMP and TIFF decoders (issue 14), on files made by
 * each format's own library encoder (make_formats.h): the pixels (exact for
 * the lossless ones), luma as img_rgb_to_luma of the RGB, the first frame of
 * animations, each format's orientation, and the guards: --max-pixels from
 * the header before any pixel buffer (the allocator's peak says so), the
 * memory budget on the estimate, the cancel flag, cut and broken files
 * refused with their kind, BMP's short palettes and short files (stb_image's
 * two holes), and the formats recognised but not decoded. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_peak.h"
#include "check.h"
#include "imaging.h"
#include "imaging_private.h"
#include "make_formats.h"

static int decode(const struct mem_image *image, int channels,
                  const struct img_decode_limits *limits, struct img_buf *out,
                  enum img_error_kind *kind, char *err, size_t err_size)
{
    return img_decode_limited(image->data, image->size, channels, limits, out, kind, err, err_size);
}

static struct img_buf decode_ok(const struct mem_image *image, int channels, const char *what)
{
    struct img_buf out;
    char err[256] = "";
    enum img_error_kind kind;
    int ret = decode(image, channels, NULL, &out, &kind, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "%s: %s\n", what, err);
    CHECK_EQ(ret, 0);
    CHECK_EQ(kind, IMG_ERROR_NONE);
    CHECK_EQ(out.channels, channels);
    return out;
}

/* Luma is img_rgb_to_luma of the RGB decode, for every format. */
static void check_luma_of_rgb(const struct mem_image *image, const char *what)
{
    struct img_buf rgb = decode_ok(image, 3, what);
    struct img_buf luma = decode_ok(image, 1, what);
    CHECK_EQ(rgb.width, luma.width);
    CHECK_EQ(rgb.height, luma.height);
    uint8_t *want = malloc((size_t)rgb.width * (size_t)rgb.height);
    CHECK(want != NULL);
    img_rgb_to_luma(rgb.data, rgb.stride, want, (size_t)rgb.width, rgb.width, rgb.height);
    for (int y = 0; y < luma.height; y++)
        CHECK_MEM_EQ(luma.data + (size_t)y * luma.stride, want + (size_t)y * rgb.width,
                     (size_t)rgb.width);
    free(want);
    img_buf_finish(&rgb);
    img_buf_finish(&luma);
}

/* Where stored pixel (x, y) of a W x H image is shown under `orientation`
 * (the Exif table; decode.c's img__orient_row_start). */
static void displayed_at(int orientation, int w, int h, int x, int y, int *dx, int *dy)
{
    switch (orientation) {
    case 2:
        *dx = w - 1 - x;
        *dy = y;
        break;
    case 3:
        *dx = w - 1 - x;
        *dy = h - 1 - y;
        break;
    case 4:
        *dx = x;
        *dy = h - 1 - y;
        break;
    case 5:
        *dx = y;
        *dy = x;
        break;
    case 6:
        *dx = h - 1 - y;
        *dy = x;
        break;
    case 7:
        *dx = h - 1 - y;
        *dy = w - 1 - x;
        break;
    case 8:
        *dx = y;
        *dy = w - 1 - x;
        break;
    default:
        *dx = x;
        *dy = y;
        break;
    }
}

/* `turned` is `upright` shown under `orientation`. */
static void check_oriented(const struct img_buf *upright, const struct img_buf *turned,
                           int orientation)
{
    bool swap = orientation >= 5;
    CHECK_EQ(turned->width, swap ? upright->height : upright->width);
    CHECK_EQ(turned->height, swap ? upright->width : upright->height);
    int c = upright->channels;
    for (int y = 0; y < upright->height; y++)
        for (int x = 0; x < upright->width; x++) {
            int dx, dy;
            displayed_at(orientation, upright->width, upright->height, x, y, &dx, &dy);
            CHECK_MEM_EQ(upright->data + (size_t)y * upright->stride + (size_t)x * c,
                         turned->data + (size_t)dy * turned->stride + (size_t)dx * c, (size_t)c);
        }
}

/* The RGB decode is exactly sample_pixels(seed), where `skip_x0` skips
 * column 0 (transparent there: a lossless encoder may change its RGB). */
static void check_sample(const struct img_buf *rgb, int seed, bool skip_x0)
{
    for (int y = 0; y < rgb->height; y++)
        for (int x = skip_x0 ? 1 : 0; x < rgb->width; x++)
            for (int c = 0; c < 3; c++)
                if (rgb->data[(size_t)y * rgb->stride + 3 * (size_t)x + c] !=
                    test_sample(x, y, c, seed)) {
                    fprintf(stderr, "pixel %d,%d channel %d: %d, want %d\n", x, y, c,
                            rgb->data[(size_t)y * rgb->stride + 3 * (size_t)x + c],
                            test_sample(x, y, c, seed));
                    CHECK(false);
                }
}

/* Mean absolute difference to the sample, for the lossy formats. */
static double sample_distance(const struct img_buf *rgb)
{
    double sum = 0;
    for (int y = 0; y < rgb->height; y++)
        for (int x = 0; x < rgb->width; x++)
            for (int c = 0; c < 3; c++) {
                int d = rgb->data[(size_t)y * rgb->stride + 3 * (size_t)x + c] -
                        test_sample(x, y, c, 0);
                sum += d < 0 ? -d : d;
            }
    return sum / (3.0 * rgb->width * rgb->height);
}

static void check_refused(const struct mem_image *image, enum img_error_kind want,
                          const char *words, const char *what)
{
    struct img_buf out;
    char err[256] = "";
    enum img_error_kind kind;
    int ret = decode(image, 1, NULL, &out, &kind, err, sizeof(err));
    if (ret == 0 || kind != want || strstr(err, words) == NULL)
        fprintf(stderr, "%s: ret %d kind %s: %s (want %s, \"%s\")\n", what, ret,
                img_error_kind_name(kind), err, img_error_kind_name(want), words);
    CHECK_LT(ret, 0);
    CHECK_EQ(kind, want);
    CHECK(strstr(err, words) != NULL);
    CHECK(out.data == NULL);
}

static struct mem_image cut(const struct mem_image *image, size_t size)
{
    struct mem_image part = {malloc(size), size};
    CHECK(part.data != NULL);
    memcpy(part.data, image->data, size);
    return part;
}

/* ---- per format ---------------------------------------------------------- */

static void test_webp(void)
{
    struct mem_image lossless = make_webp(97, 61, true, false, 0);
    struct img_buf rgb = decode_ok(&lossless, 3, "webp lossless");
    CHECK_EQ(rgb.width, 97);
    CHECK_EQ(rgb.height, 61);
    check_sample(&rgb, 0, false);
    check_luma_of_rgb(&lossless, "webp lossless");

    for (int orientation = 2; orientation <= 8; orientation++) {
        struct mem_image turned = webp_with_exif(cut(&lossless, lossless.size), orientation);
        struct img_buf got = decode_ok(&turned, 3, "webp exif");
        check_oriented(&rgb, &got, orientation);
        img_buf_finish(&got);
        mem_image_free(&turned);
    }
    img_buf_finish(&rgb);
    mem_image_free(&lossless);

    struct mem_image alpha = make_webp(64, 40, true, true, 0);
    rgb = decode_ok(&alpha, 3, "webp lossless alpha");
    check_sample(&rgb, 0, true);
    img_buf_finish(&rgb);
    mem_image_free(&alpha);

    /* Lossy, with and without alpha: close to the sample; luma from RGB
     * (the VP8 Y plane would not be img_rgb_to_luma of it). */
    for (int with_alpha = 0; with_alpha < 2; with_alpha++) {
        struct mem_image lossy = make_webp(80, 48, false, with_alpha, 0);
        rgb = decode_ok(&lossy, 3, "webp lossy");
        printf("webp lossy%s: %.2f mean difference to the sample\n", with_alpha ? " alpha" : "",
               sample_distance(&rgb));
        CHECK(sample_distance(&rgb) < 16.0);
        check_luma_of_rgb(&lossy, "webp lossy");
        img_buf_finish(&rgb);
        mem_image_free(&lossy);
    }

    /* An animation: frame 1 only (frames 2 and 3 are other samples). */
    struct mem_image animation = make_webp_animation(50, 30, 3);
    rgb = decode_ok(&animation, 3, "webp animation");
    check_sample(&rgb, 0, false);
    img_buf_finish(&rgb);
    mem_image_free(&animation);
}

static void check_gif_frame(const struct gif_make *spec, const struct img_buf *rgb)
{
    CHECK_EQ(rgb->width, spec->width);
    CHECK_EQ(rgb->height, spec->height);
    int fw = spec->frame_width > 0 ? spec->frame_width : spec->width;
    int fh = spec->frame_height > 0 ? spec->frame_height : spec->height;
    for (int y = 0; y < spec->height; y++)
        for (int x = 0; x < spec->width; x++) {
            int fx = x - spec->frame_left, fy = y - spec->frame_top;
            uint8_t want[3] = {0, 0, 0};
            if (fx >= 0 && fy >= 0 && fx < fw && fy < fh) {
                int index = gif_index(spec, fx, fy, 0);
                if (index != spec->transparent) {
                    GifColorType c = gif_colour(index);
                    want[0] = c.Red;
                    want[1] = c.Green;
                    want[2] = c.Blue;
                }
            }
            CHECK_MEM_EQ(rgb->data + (size_t)y * rgb->stride + 3 * (size_t)x, want, 3);
        }
}

static void test_gif(void)
{
    struct gif_make specs[] = {
        {70, 45, 1, false, -1, 256, 0, 0, 0, 0},
        {70, 45, 1, true, -1, 64, 0, 0, 0, 0},   /* interlaced */
        {70, 45, 1, false, 3, 8, 0, 0, 0, 0},    /* transparent index 3: black */
        {70, 45, 3, false, -1, 16, 0, 0, 0, 0},  /* animation: frame 1 */
        {70, 45, 1, true, -1, 16, 9, 5, 33, 21}, /* a frame inside the screen */
        {13, 9, 1, true, -1, 4, 0, 0, 0, 0},     /* fewer rows than a pass step */
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct mem_image gif = make_gif(&specs[i]);
        struct img_buf rgb = decode_ok(&gif, 3, "gif");
        check_gif_frame(&specs[i], &rgb);
        img_buf_finish(&rgb);
        check_luma_of_rgb(&gif, "gif");
        mem_image_free(&gif);
    }
    /* Indices past the colour table are black: a 2-entry table with LZW
     * codes of 2 bits (indices 0-3), written by hand (giflib's encoder
     * masks indices to the table). */
    {
        enum { GW = 8, GH = 2 };
        uint8_t file[256];
        size_t n = 0;
        static const uint8_t head[] = {
            'G', 'I', 'F', '8', '9', 'a', GW, 0,  GH, 0, 0x80,
            0,   0,   10,  20,  30,  40,  50, 60, /* 2 colours */
            ',', 0,   0,   0,   0,   GW,  0,  GH, 0,  0, 2 /* LZW size */};
        memcpy(file, head, sizeof(head));
        n = sizeof(head);
        /* Codes of 3 bits: a clear (4) before every two indices keeps the
         * table from growing past 3-bit codes; end (5). */
        unsigned codes[64], count = 0;
        for (int i = 0; i < GW * GH; i++) {
            if (i % 2 == 0)
                codes[count++] = 4;
            codes[count++] = (unsigned)(i % 4);
        }
        codes[count++] = 5;
        uint8_t packed[64] = {0};
        unsigned bits = 0;
        for (unsigned c = 0; c < count; c++, bits += 3)
            for (unsigned b = 0; b < 3; b++)
                if (codes[c] >> b & 1)
                    packed[(bits + b) / 8] |= (uint8_t)(1u << ((bits + b) % 8));
        size_t bytes = (bits + 7) / 8;
        file[n++] = (uint8_t)bytes;
        memcpy(file + n, packed, bytes);
        n += bytes;
        file[n++] = 0;
        file[n++] = ';';
        struct mem_image short_table = {file, n};
        struct img_buf rgb = decode_ok(&short_table, 3, "gif short table");
        for (int i = 0; i < GW * GH; i++) {
            static const uint8_t want[4][3] = {{10, 20, 30}, {40, 50, 60}, {0, 0, 0}, {0, 0, 0}};
            CHECK_MEM_EQ(rgb.data + (size_t)(i / GW) * rgb.stride + 3 * (size_t)(i % GW),
                         want[i % 4], 3);
        }
        img_buf_finish(&rgb);
    }
    /* Decoding work is bounded by frame 1's area against the screen's: a
     * frame of 2000x1000 on a 10x10 screen is refused before its data. */
    struct gif_make huge = {10, 10, 1, false, -1, 2, 0, 0, 2000, 1000};
    struct mem_image gif = make_gif(&huge);
    check_refused(&gif, IMG_ERROR_CORRUPT, "frame 1 is 2000x1000", "gif frame over screen");
    mem_image_free(&gif);
}

static void test_avif(void)
{
    struct avif_make plain = {64, 48, AVIF_PIXEL_FORMAT_YUV420, 8, false, -1, -1};
    struct mem_image avif = make_avif(&plain);
    struct img_buf upright = decode_ok(&avif, 3, "avif");
    CHECK_EQ(upright.width, 64);
    CHECK_EQ(upright.height, 48);
    printf("avif: %.2f mean difference to the sample\n", sample_distance(&upright));
    CHECK(sample_distance(&upright) < 16.0);
    check_luma_of_rgb(&avif, "avif");
    mem_image_free(&avif);

    struct avif_make others[] = {
        {64, 48, AVIF_PIXEL_FORMAT_YUV444, 8, false, -1, -1},
        {64, 48, AVIF_PIXEL_FORMAT_YUV420, 10, false, -1, -1},
        {64, 48, AVIF_PIXEL_FORMAT_YUV420, 8, true, -1, -1},
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        avif = make_avif(&others[i]);
        struct img_buf rgb = decode_ok(&avif, 3, "avif variant");
        CHECK(sample_distance(&rgb) < 16.0);
        img_buf_finish(&rgb);
        check_luma_of_rgb(&avif, "avif variant");
        mem_image_free(&avif);
    }

    /* irot (anti-clockwise) and imir (0 top-bottom, 1 left-right, after
     * irot) as the EXIF orientation that shows the same picture. */
    static const struct {
        int irot, imir, orientation;
    } turns[] = {{1, -1, 8}, {2, -1, 3}, {3, -1, 6}, {-1, 0, 4}, {-1, 1, 2},
                 {1, 0, 5},  {3, 0, 7},  {1, 1, 7},  {2, 0, 2}};
    for (size_t i = 0; i < sizeof(turns) / sizeof(turns[0]); i++) {
        struct avif_make spec = plain;
        spec.irot = turns[i].irot;
        spec.imir = turns[i].imir;
        avif = make_avif(&spec);
        struct img_buf got = decode_ok(&avif, 3, "avif irot/imir");
        check_oriented(&upright, &got, turns[i].orientation);
        img_buf_finish(&got);
        mem_image_free(&avif);
    }
    img_buf_finish(&upright);
}

/* Fills a large stack area with a pattern, so that an uninitialised stack
 * array of the next call (stb's BMP palette) holds it rather than zeros. */
static __attribute__((noinline)) void poison_stack(uint8_t value)
{
    volatile uint8_t area[64 << 10];
    for (size_t i = 0; i < sizeof(area); i++)
        area[i] = value;
}

static void check_bmp(const struct bmp_make *spec)
{
    struct mem_image bmp = make_bmp(spec);
    poison_stack(0xa5);
    struct img_buf rgb = decode_ok(&bmp, 3, "bmp");
    CHECK_EQ(rgb.width, spec->width);
    CHECK_EQ(rgb.height, spec->height);
    for (int y = 0; y < spec->height; y++)
        for (int x = 0; x < spec->width; x++) {
            uint8_t want[3];
            bmp_expected(spec, x, y, want);
            if (memcmp(rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x, want, 3) != 0) {
                const uint8_t *got = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
                fprintf(stderr, "bmp %d bpp, %d entries: pixel %d,%d is %d,%d,%d, want %d,%d,%d\n",
                        spec->bpp, spec->palette, x, y, got[0], got[1], got[2], want[0], want[1],
                        want[2]);
                CHECK(false);
            }
        }
    img_buf_finish(&rgb);
    check_luma_of_rgb(&bmp, "bmp");
    mem_image_free(&bmp);
}

static void test_bmp(void)
{
    struct bmp_make specs[] = {
        {37, 23, 24, 0, 1, false},
        {37, 23, 24, 0, 1, true},
        {37, 23, 32, 0, 1, false},
        {37, 23, 8, 256, 256, false},
        {37, 23, 4, 16, 16, false},
        {37, 23, 1, 2, 2, true},
        /* Short palettes: indices past them are black, whatever the stack
         * held (stb's palette is an uninitialised stack array). */
        {37, 23, 8, 3, 256, false},
        {37, 23, 4, 5, 16, false},
        {37, 23, 1, 1, 2, false},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
        check_bmp(&specs[i]);

    /* One byte short: stb would read zeros for it and succeed. */
    struct bmp_make rgb24 = {37, 23, 24, 0, 1, false};
    struct mem_image bmp = make_bmp(&rgb24);
    struct mem_image part = cut(&bmp, bmp.size - 1);
    check_refused(&part, IMG_ERROR_TRUNCATED, "truncated BMP", "bmp one byte short");
    mem_image_free(&part);
    /* RLE8: recognised, not decoded. */
    bmp.data[30] = 1;
    check_refused(&bmp, IMG_ERROR_UNSUPPORTED_FORMAT, "RLE8", "bmp rle8");
    bmp.data[30] = 0;
    bmp.data[28] = 7;
    check_refused(&bmp, IMG_ERROR_CORRUPT, "corrupt BMP header", "bmp 7 bpp");
    mem_image_free(&bmp);
}

static void test_tiff(void)
{
    struct tiff_make specs[] = {
        {45, 29, 8, 3, false, false, 1, 1, 0, 0},
        {45, 29, 16, 3, false, false, 1, 1, 0, 0},
        {45, 29, 8, 3, true, false, 1, 1, 0, 0},
        {45, 29, 16, 3, true, true, 1, 1, 0, 0},
        {45, 29, 8, 3, false, true, 1, 1, COMPRESSION_LZW, 0},
        {45, 29, 8, 3, false, false, 1, 3, COMPRESSION_NONE, 0}, /* three pages: the first */
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct mem_image tiff = make_tiff(&specs[i]);
        struct img_buf rgb = decode_ok(&tiff, 3, "tiff");
        CHECK_EQ(rgb.width, 45);
        CHECK_EQ(rgb.height, 29);
        check_sample(&rgb, 0, false);
        img_buf_finish(&rgb);
        check_luma_of_rgb(&tiff, "tiff");
        mem_image_free(&tiff);
    }
    /* Gray: each channel is the gray sample. */
    struct tiff_make gray = {45, 29, 8, 1, false, false, 1, 1, 0, 0};
    struct mem_image tiff = make_tiff(&gray);
    struct img_buf luma = decode_ok(&tiff, 1, "tiff gray");
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 45; x++)
            CHECK_EQ(luma.data[(size_t)y * luma.stride + x], test_sample(x, y, 0, 0));
    img_buf_finish(&luma);
    mem_image_free(&tiff);

    struct img_buf upright;
    {
        struct mem_image plain = make_tiff(&specs[0]);
        upright = decode_ok(&plain, 3, "tiff upright");
        mem_image_free(&plain);
    }
    for (int orientation = 2; orientation <= 8; orientation++) {
        struct tiff_make spec = specs[0];
        spec.orientation = orientation;
        tiff = make_tiff(&spec);
        struct img_buf got = decode_ok(&tiff, 3, "tiff orientation");
        check_oriented(&upright, &got, orientation);
        img_buf_finish(&got);
        mem_image_free(&tiff);
    }
    img_buf_finish(&upright);
}

/* ---- the guards, every format ------------------------------------------- */

struct format_case {
    const char *name;
    struct mem_image image;
    bool cancel_hook; /* sees the cancel flag (BMP and AVIF: only before and after the library) */
};

static void test_guards(void)
{
    enum { W = 400, H = 300 };
    struct gif_make gif = {W, H, 2, false, -1, 256, 0, 0, 0, 0};
    struct avif_make avif = {W, H, AVIF_PIXEL_FORMAT_YUV420, 8, false, -1, -1};
    struct bmp_make bmp = {W, H, 24, 0, 1, false};
    struct tiff_make tiff = {W, H, 8, 3, false, false, 1, 1, 0, 0};
    struct format_case cases[] = {
        {"webp lossy", make_webp(W, H, false, false, 0), true},
        {"webp lossless", make_webp(W, H, true, true, 0), true},
        {"webp animation", make_webp_animation(W, H, 2), true},
        {"gif", make_gif(&gif), true},
        {"avif", make_avif(&avif), true},
        {"bmp", make_bmp(&bmp), true},
        {"tiff", make_tiff(&tiff), true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct format_case *c = &cases[i];
        struct img_decode_limits limits;
        struct img_buf out;
        enum img_error_kind kind;
        char err[256] = "";

        /* --max-pixels: refused from the header, before any pixel buffer
         * (W x H x 3 would be 360 KB; the probe holds a few KiB; libavif's
         * parse a few tens). */
        img_decode_limits_init(&limits);
        limits.max_pixels = (uint64_t)W * H - 1;
        size_t base = alloc_peak_reset();
        CHECK_EQ(decode(&c->image, 1, &limits, &out, &kind, err, sizeof(err)), -EFBIG);
        size_t peak = alloc_peak_since(base);
        printf("%-16s refused over --max-pixels holding at most %zu bytes\n", c->name, peak);
        CHECK_EQ(kind, IMG_ERROR_TOO_LARGE);
        CHECK(strstr(err, "over the") != NULL);
        CHECK_LT(peak, (size_t)W * H);
        limits.max_pixels = (uint64_t)W * H;
        CHECK_EQ(decode(&c->image, 1, &limits, &out, &kind, err, sizeof(err)), 0);
        img_buf_finish(&out);

        /* The budget: one byte under the estimate is refused before decoding. */
        struct img_item_options item = {IMG_OP_SOBEL, NULL, 1};
        struct img_probe_info probe;
        CHECK_EQ(
            img_probe_item(c->image.data, c->image.size, &item, &probe, &kind, err, sizeof(err)),
            0);
        CHECK_EQ(probe.info.width, W);
        CHECK_EQ(probe.info.height, H);
        img_decode_limits_init(&limits);
        limits.max_bytes = probe.decode_bytes - 1;
        CHECK_EQ(decode(&c->image, 1, &limits, &out, &kind, err, sizeof(err)), -ENOMEM);
        CHECK_EQ(kind, IMG_ERROR_OVER_BUDGET);
        limits.max_bytes = probe.decode_bytes;
        CHECK_EQ(decode(&c->image, 1, &limits, &out, &kind, err, sizeof(err)), 0);
        img_buf_finish(&out);

        /* The cancel flag, where the library lets us poll it. */
        atomic_int cancel = 1;
        img_decode_limits_init(&limits);
        limits.cancel = &cancel;
        int ret = decode(&c->image, 1, &limits, &out, &kind, err, sizeof(err));
        if (c->cancel_hook) {
            CHECK_EQ(ret, -ECANCELED);
            CHECK_EQ(kind, IMG_ERROR_CANCELLED);
        } else {
            CHECK_EQ(ret, 0);
            img_buf_finish(&out);
        }

        /* Cut short: refused as truncated, naming the format. */
        struct mem_image part = cut(&c->image, c->image.size / 2);
        char words[32];
        const char *format = img_format_name(probe.info.format);
        snprintf(words, sizeof(words), "truncated %s", format);
        check_refused(&part, IMG_ERROR_TRUNCATED, words, c->name);
        mem_image_free(&part);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        mem_image_free(&cases[i].image);
}

/* Recognised by their magic bytes, not decoded: unsupported_format, with
 * the format's name in the reason (cmd/json.c puts it in the item). */
static void test_unsupported(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t size;
    } cases[] = {
        {"JPEG XL", "\xff\x0a\xfa\x3f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16},
        {"JPEG XL", "\0\0\0\x0cJXL \r\n\x87\n\0\0\0\0", 16},
        {"HEIF",
         "\0\0\0\x18"
         "ftypheic\0\0\0\0mif1heic",
         24},
        {"JPEG 2000", "\0\0\0\x0cjP  \r\n\x87\n\0\0\0\0", 16},
        {"SVG", "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 61},
        {"PSD", "8BPS\0\1\0\0\0\0\0\0\0\3", 14},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mem_image image = {(uint8_t *)cases[i].bytes, cases[i].size};
        char words[64];
        snprintf(words, sizeof(words), "unsupported format (%s)", cases[i].name);
        check_refused(&image, IMG_ERROR_UNSUPPORTED_FORMAT, words, cases[i].name);
    }
    /* AVIF among a HEIF's compatible brands is AVIF. */
    struct avif_make spec = {16, 16, AVIF_PIXEL_FORMAT_YUV420, 8, false, -1, -1};
    struct mem_image avif = make_avif(&spec);
    struct img_info info;
    char err[256];
    CHECK_EQ(img_probe(avif.data, avif.size, &info, err, sizeof(err)), 0);
    CHECK_EQ(info.format, IMG_FORMAT_AVIF);
    memcpy(avif.data + 8, "mif1", 4); /* major brand mif1, avif compatible */
    CHECK_EQ(img_probe(avif.data, avif.size, &info, err, sizeof(err)), 0);
    CHECK_EQ(info.format, IMG_FORMAT_AVIF);
    mem_image_free(&avif);
}

/* Accept lists exactly the decoders: each format's media type once. */
static void test_accept(void)
{
    static const char *const types[] = {"image/jpeg", "image/png", "image/webp", "image/gif",
                                        "image/avif", "image/bmp", "image/tiff"};
    const char *accept = img_accept_header();
    size_t listed = 1;
    for (const char *p = accept; *p != '\0'; p++)
        listed += *p == ',';
    CHECK_EQ(listed, sizeof(types) / sizeof(types[0]));
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *at = strstr(accept, types[i]);
        CHECK(at != NULL);
        CHECK(strstr(at + 1, types[i]) == NULL);
    }
    CHECK_EQ(strncmp(accept, "image/webp,", 11), 0);
    for (int f = IMG_FORMAT_JPEG; f <= IMG_FORMAT_TIFF; f++) {
        const char *name = img_format_name((enum img_format)f);
        char named[32];
        snprintf(named, sizeof(named), "(%s)", name);
        CHECK(strstr(img_library_versions(), named) != NULL);
    }
}

int main(void)
{
    test_webp();
    test_gif();
    test_avif();
    test_bmp();
    test_tiff();
    test_guards();
    test_unsupported();
    test_accept();
    printf("formats: all tests passed\n");
    return 0;
}
