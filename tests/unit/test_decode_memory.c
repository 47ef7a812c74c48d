/* The per-item memory estimate (img_probe_item) against the allocator
 * (issue 10 item 3): each image goes through the CPU stage as
 * pipeline/run.c runs it (decode, operator, then the input freed, PNG
 * encode), and the peak bytes really held in each stage, counted by
 * alloc_peak.h over every allocation (ours, libjpeg's, libpng's, zlib's,
 * libwebp's, giflib's, libavif's and dav1d's, libtiff's, stb_image's),
 * must be at most the stage's estimate and not far under it. Prints a table
 * of bytes per pixel (imaging/DECODE.md quotes it). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_peak.h"
#include "check.h"
#include "imaging.h"
#include "imaging_private.h"
#if TEST_ALL_FORMATS
#include "make_formats.h"
#endif
#include "make_images.h"

/* "Not wildly above": the estimate may exceed the measured peak by this
 * factor plus a constant (its per-library fixed parts are bounds, not
 * averages; the encoder's compressed-size bound assumes incompressible
 * output). */
#define SLACK_FACTOR 2.0
#define SLACK_BYTES ((size_t)768 << 10)

struct case_image {
    const char *name;
    struct mem_image image;
};

/* An eXIf chunk (big-endian TIFF, IFD0 with Orientation = `orientation`)
 * spliced in after IHDR. */
static struct mem_image with_exif(struct mem_image png, int orientation)
{
    static const uint8_t tiff[26] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0,
                                     3,   0,   0, 0,  1, 0, 0, 0, 0, 0, 0,    0,    0};
    uint8_t exif[26];
    memcpy(exif, tiff, sizeof(exif));
    exif[19] = (uint8_t)orientation;
    struct mem_image chunk = {NULL, 0};
    png_append_chunk(&chunk, "eXIf", exif, sizeof(exif));
    struct mem_image out = {malloc(png.size + chunk.size), png.size + chunk.size};
    CHECK(out.data != NULL);
    memcpy(out.data, png.data, 33);
    memcpy(out.data + 33, chunk.data, chunk.size);
    memcpy(out.data + 33 + chunk.size, png.data + 33, png.size - 33);
    mem_image_free(&chunk);
    mem_image_free(&png);
    return out;
}

static void check_stage(const char *image, const char *op, const char *stage, size_t measured,
                        size_t estimate, size_t pixels)
{
    printf("%-28s %-8s %-8s measured %6.2f B/px  estimate %6.2f B/px\n", image, op, stage,
           (double)measured / (double)pixels, (double)estimate / (double)pixels);
    if (measured > estimate || (double)estimate > SLACK_FACTOR * (double)measured + SLACK_BYTES) {
        fprintf(stderr, "%s %s %s: measured %zu bytes, estimate %zu\n", image, op, stage, measured,
                estimate);
        CHECK(measured <= estimate);
        CHECK((double)estimate <= SLACK_FACTOR * (double)measured + SLACK_BYTES);
    }
}

/* One item through the three stages; returns the measured peak. */
static size_t run_item(const struct case_image *c, enum img_operator op)
{
    struct img_item_options item = {op, NULL, 1};
    struct img_probe_info probe;
    char err[256] = "";
    enum img_error_kind kind;
    CHECK_EQ(img_probe_item(c->image.data, c->image.size, &item, &probe, &kind, err, sizeof(err)),
             0);
    size_t pixels = (size_t)probe.info.width * (size_t)probe.info.height;

    size_t base = alloc_peak_reset();
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    /* The budget exactly at the estimate: the decode must fit in it. */
    limits.max_bytes = probe.decode_bytes;
    struct img_buf pixels_buf, edges = {0};
    int ret = img_decode_limited(c->image.data, c->image.size, probe.channels_out, &limits,
                                 &pixels_buf, &kind, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "%s: %s\n", c->name, err);
    CHECK_EQ(ret, 0);
    size_t decode_peak = alloc_peak_since(base);

    alloc_peak_reset();
    CHECK_EQ(img_apply(op, &pixels_buf, &edges), 0);
    size_t operator_peak = alloc_peak_since(base);
    img_buf_finish(&pixels_buf);

    alloc_peak_reset();
    uint8_t *png = NULL;
    size_t png_size = 0;
    CHECK_EQ(img_encode_png(&edges, 1, &png, &png_size, err, sizeof(err)), 0);
    size_t encode_peak = alloc_peak_since(base);
    free(png);
    img_buf_finish(&edges);

    const char *op_name = img_operator_name(op);
    check_stage(c->name, op_name, "decode", decode_peak, probe.decode_bytes, pixels);
    check_stage(c->name, op_name, "operator", operator_peak, probe.operator_bytes, pixels);
    check_stage(c->name, op_name, "encode", encode_peak, probe.encode_bytes, pixels);
    size_t peak = decode_peak;
    if (operator_peak > peak)
        peak = operator_peak;
    if (encode_peak > peak)
        peak = encode_peak;
    CHECK_LE(peak, probe.peak_bytes);
    return peak;
}

/* Canny's bounded hysteresis stack: with a stack of 1, 2, 7 or 100 entries
 * (every walk overflows, leaving seeds for another scan of the map) the
 * edges are exactly those of the default stack, on images with long, many
 * and branching weak edges (low thresholds on smooth noise). */
static void test_canny_stack_bound(void)
{
    enum { W = 211, H = 157 };
    uint8_t *gray = malloc((size_t)W * H);
    CHECK(gray != NULL);
    for (int seed = 0; seed < 3; seed++) {
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                gray[(size_t)y * W + (size_t)x] = (uint8_t)((test_sample(x / 3, y / 3, 0, seed) +
                                                             test_sample(x / 7, y / 5, 1, seed)) /
                                                            2);
        struct img_buf src = {gray, W, W, H, 1};
        struct img_canny_options opts;
        img_canny_options_init(&opts);
        opts.low = 2 + 4 * seed;
        opts.high = 25;
        opts.sigma = 0.8;
        struct img_buf want = {0};
        CHECK_EQ(img_apply_with(IMG_OP_CANNY, &opts, &src, &want), 0);
        size_t edges = 0;
        for (size_t i = 0; i < (size_t)W * H; i++)
            edges += want.data[i] != 0;
        CHECK_GT(edges, (size_t)W * H / 20); /* the walks are long */
        static const size_t limits[] = {1, 2, 7, 100};
        for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
            struct img__canny *canny;
            struct img_buf got;
            CHECK_EQ(img_buf_init(&got, W, H, 1), 0);
            CHECK_EQ(img__canny_create(W, H, &opts, &canny), 0);
            CHECK_EQ(img__canny_rows(canny, gray, W, got.data, got.stride, 0, H), 0);
            img__canny_set_stack_limit(canny, limits[l]);
            CHECK_EQ(img__canny_edges(canny, got.data, got.stride), 0);
            CHECK_MEM_EQ(got.data, want.data, (size_t)W * H);
            img__canny_destroy(canny);
            img_buf_finish(&got);
        }
        img_buf_finish(&want);
    }
    free(gray);
}

int main(void)
{
    test_canny_stack_bound();
    enum { W = 1200, H = 900 };
    struct jpeg_make baseline = {W, H, 3, false, false, NULL, 0, 90};
    struct jpeg_make progressive = {W, H, 3, true, false, NULL, 0, 90};
    struct jpeg_make progressive_444 = {W, H, 3, true, true, NULL, 0, 90};
    struct jpeg_make gray_progressive = {W, H, 1, true, false, NULL, 0, 90};
    struct png_make rgb8 = {W, H, PNG_COLOR_TYPE_RGB, 8, false, 0};
    struct png_make rgba16 = {W, H, PNG_COLOR_TYPE_RGB_ALPHA, 16, false, 0};
    struct png_make rgb8_interlaced = {W, H, PNG_COLOR_TYPE_RGB, 8, true, 0};
    struct png_make rgba16_interlaced = {W, H, PNG_COLOR_TYPE_RGB_ALPHA, 16, true, 0};
    struct png_make gray8 = {W, H, PNG_COLOR_TYPE_GRAY, 8, false, 0};
    struct png_make gray16_interlaced = {W, H, PNG_COLOR_TYPE_GRAY, 16, true, 0};
    struct png_make palette8 = {W, H, PNG_COLOR_TYPE_PALETTE, 8, false, 256};
#if TEST_ALL_FORMATS
    struct gif_make gif = {W, H, 1, false, -1, 256, 0, 0, 0, 0};
    struct gif_make gif_animation = {W, H, 3, true, 5, 64, 0, 0, 0, 0};
    struct avif_make avif420 = {W, H, AVIF_PIXEL_FORMAT_YUV420, 8, false, -1, -1};
    struct avif_make avif444 = {W, H, AVIF_PIXEL_FORMAT_YUV444, 10, true, -1, -1};
    struct avif_make avif_turned = {W, H, AVIF_PIXEL_FORMAT_YUV420, 8, false, 1, -1};
    struct bmp_make bmp24 = {W, H, 24, 0, 1, false};
    struct bmp_make bmp8 = {W, H, 8, 10, 256, true};
    struct tiff_make tiff8 = {W, H, 8, 3, false, false, 1, 1, 0, 0};
    struct tiff_make tiff16 = {W, H, 16, 3, true, false, 1, 1, 0, 0};
    struct tiff_make tiff_one_strip = {W, H, 8, 3, false, false, 1, 1, 0, H};
    struct tiff_make tiff_gray = {W, H, 8, 1, false, false, 6, 1, 0, 0};
#endif

    struct case_image cases[] = {
        {"jpeg baseline 4:2:0", make_jpeg_image(&baseline)},
        {"jpeg progressive 4:2:0", make_jpeg_image(&progressive)},
        {"jpeg progressive 4:4:4", make_jpeg_image(&progressive_444)},
        {"jpeg progressive gray", make_jpeg_image(&gray_progressive)},
        {"png rgb8", make_png_image(&rgb8)},
        {"png rgba16", make_png_image(&rgba16)},
        {"png rgb8 interlaced", make_png_image(&rgb8_interlaced)},
        {"png rgba16 interlaced", make_png_image(&rgba16_interlaced)},
        {"png gray8", make_png_image(&gray8)},
        {"png gray16 interlaced", make_png_image(&gray16_interlaced)},
        {"png palette8", make_png_image(&palette8)},
        {"png rgb8 eXIf 6", with_exif(make_png_image(&rgb8), 6)},
        {"png rgb8 interlaced eXIf 6", with_exif(make_png_image(&rgb8_interlaced), 6)},
#if TEST_ALL_FORMATS
        {"webp lossy", make_webp(W, H, false, false, 0)},
        {"webp lossy alpha", make_webp(W, H, false, true, 0)},
        {"webp lossless", make_webp(W, H, true, false, 0)},
        {"webp lossless alpha", make_webp(W, H, true, true, 0)},
        {"webp lossless eXIf 6", webp_with_exif(make_webp(W, H, true, false, 0), 6)},
        {"webp animation", make_webp_animation(W, H, 2)},
        {"gif", make_gif(&gif)},
        {"gif interlaced animation", make_gif(&gif_animation)},
        {"avif 4:2:0", make_avif(&avif420)},
        {"avif 4:4:4 10-bit alpha", make_avif(&avif444)},
        {"avif irot 1", make_avif(&avif_turned)},
        {"bmp 24", make_bmp(&bmp24)},
        {"bmp 8 short palette", make_bmp(&bmp8)},
        {"tiff rgb8 strips", make_tiff(&tiff8)},
        {"tiff rgb16 tiles", make_tiff(&tiff16)},
        {"tiff rgb8 one strip", make_tiff(&tiff_one_strip)},
        {"tiff gray8 orientation 6", make_tiff(&tiff_gray)},
#endif
    };
    static const enum img_operator ops[] = {IMG_OP_SOBEL, IMG_OP_CANNY, IMG_OP_TUTORIAL};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
            run_item(&cases[i], ops[o]);
        mem_image_free(&cases[i].image);
    }
    printf("decode_memory: all tests passed\n");
    return 0;
}
