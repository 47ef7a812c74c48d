/* Lossless WebP's Huffman groups in the memory estimate: libwebp allocates
 * Huffman tables for every group of the meta-prefix image (12 to 20 KiB
 * each, by the colour cache), and has no allocator hook, so the estimate
 * reads the group count from the bitstream (imaging/webp_groups.c). Files
 * of 1 to 65536 groups (make_vp8l.h) and libwebp's own encoder's files at
 * every method: each decodes within its estimate, counted over every
 * allocation (alloc_peak.h), the estimate follows the groups (not wildly
 * above what is used), and a budget under what the groups need refuses the
 * file before libwebp allocates them. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc_peak.h"
#include "check.h"
#include "imaging.h"
#include "imaging_private.h"
#include "make_formats.h"
#include "make_vp8l.h"

/* As tests/unit/test_decode_memory.c. */
#define SLACK_FACTOR 2.0
#define SLACK_BYTES ((size_t)768 << 10)

static void check_estimate(const char *name, const struct mem_image *file)
{
    struct img_item_options item = {IMG_OP_SOBEL, NULL, 1};
    struct img_probe_info probe;
    char err[256] = "";
    enum img_error_kind kind;
    CHECK_EQ(img_probe_item(file->data, file->size, &item, &probe, &kind, err, sizeof(err)), 0);
    size_t base = alloc_peak_reset();
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_bytes = probe.decode_bytes;
    struct img_buf out;
    int ret = img_decode_limited(file->data, file->size, 1, &limits, &out, &kind, err, sizeof(err));
    size_t peak = alloc_peak_since(base);
    printf("%-34s %5dx%-5d %7zu bytes: decode peak %10zu, estimate %10zu\n", name, probe.info.width,
           probe.info.height, file->size, peak, probe.decode_bytes);
    if (ret != 0)
        fprintf(stderr, "%s: %s\n", name, err);
    CHECK_EQ(ret, 0);
    img_buf_finish(&out);
    CHECK_LE(peak, probe.decode_bytes);
    CHECK((double)probe.decode_bytes <= SLACK_FACTOR * (double)peak + SLACK_BYTES);
}

/* The crafted files: the scan counts each group, and the decode fits (up
 * to 20000 groups, 400 MB at cache 11: the memory a test may take; 65536
 * is scanned, and refused under a budget below). */
static void test_crafted(void)
{
    static const unsigned counts[] = {1, 2, 100, 1000, 1001, 5000, 20000, 65536};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        for (unsigned cache = 0; cache <= 11; cache += 11) {
            struct mem_image file = make_vp8l_groups(counts[i], cache);
            struct img__vp8l_scan scan;
            CHECK_EQ(img__vp8l_scan(file.data + 20, file.size - 20, 0, 0, true, &scan), 0);
            CHECK_EQ(scan.groups, counts[i]);
            CHECK_EQ(scan.cache_bits, cache);
            char name[64];
            snprintf(name, sizeof(name), "crafted %u groups, cache %u", counts[i], cache);
            if (counts[i] <= 20000)
                check_estimate(name, &file);
            mem_image_free(&file);
        }
    }
}

/* Under a budget below the groups' tables: refused from the estimate
 * (over_budget) before libwebp allocates them. */
static void test_budget(void)
{
    struct mem_image file = make_vp8l_groups(65536, 11);
    size_t base = alloc_peak_reset();
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.max_bytes = (size_t)512 << 20;
    struct img_buf out;
    char err[256] = "";
    enum img_error_kind kind;
    CHECK_EQ(img_decode_limited(file.data, file.size, 1, &limits, &out, &kind, err, sizeof(err)),
             -ENOMEM);
    CHECK_EQ(kind, IMG_ERROR_OVER_BUDGET);
    CHECK_LE(alloc_peak_since(base), (size_t)8 << 20); /* the scan's ring and little else */
    mem_image_free(&file);
}

/* libwebp's encoder's lossless files at each method (the higher ones use
 * more groups, the colour cache, every transform), with alpha, as a lossy
 * image's lossless alpha, and an animation's first frame. */
static struct mem_image encode(int width, int height, bool alpha, bool lossless, int method)
{
    WebPConfig config;
    CHECK(WebPConfigInit(&config));
    config.lossless = lossless;
    config.method = method;
    config.quality = 75;
    config.exact = 1;
    WebPPicture picture;
    CHECK(WebPPictureInit(&picture));
    picture.use_argb = 1;
    picture.width = width;
    picture.height = height;
    uint8_t *pixels = sample_pixels(width, height, alpha ? 4 : 3, method);
    /* Noise in the low bits: many different histograms, many groups. */
    for (size_t i = 0; i < (size_t)width * height * (alpha ? 4 : 3); i++)
        pixels[i] ^= (uint8_t)((i * 2654435761u) >> 29);
    CHECK(alpha ? WebPPictureImportRGBA(&picture, pixels, width * 4)
                : WebPPictureImportRGB(&picture, pixels, width * 3));
    free(pixels);
    WebPMemoryWriter writer;
    WebPMemoryWriterInit(&writer);
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    CHECK(WebPEncode(&config, &picture));
    WebPPictureFree(&picture);
    struct mem_image image = {writer.mem, writer.size};
    return image;
}

static void test_encoder_files(void)
{
    for (int method = 0; method <= 6; method += 2) {
        char name[64];
        struct mem_image file = encode(400, 300, false, true, method);
        snprintf(name, sizeof(name), "cwebp lossless -m %d", method);
        check_estimate(name, &file);
        WebPMemoryWriter writer = {file.data, file.size, file.size, {0}};
        WebPMemoryWriterClear(&writer);
        file = encode(400, 300, true, true, method);
        snprintf(name, sizeof(name), "cwebp lossless alpha -m %d", method);
        check_estimate(name, &file);
        writer.mem = file.data;
        WebPMemoryWriterClear(&writer);
        file = encode(400, 300, true, false, method);
        snprintf(name, sizeof(name), "cwebp lossy, lossless alpha -m %d", method);
        check_estimate(name, &file);
        writer.mem = file.data;
        WebPMemoryWriterClear(&writer);
    }
    struct mem_image animation = make_webp_animation(300, 200, 2);
    check_estimate("animation, lossless frames", &animation);
    mem_image_free(&animation);
}

/* A long lossless header (5000 groups of 8-bit codes, about 1 MB) fed in
 * steps: libwebp starts its header over at every step that ends inside it,
 * allocating the groups' tables again each time. The steps grow, so the
 * work redone stays a small multiple of one parse: allocated in all against
 * the decode's peak (64 KiB steps gave about 14 times). */
static void test_feed_steps(void)
{
    struct mem_image file = make_vp8l_file(5000, 0, true);
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    struct img_buf out;
    char err[256] = "";
    enum img_error_kind kind;
    size_t base = alloc_peak_reset();
    size_t total_before = atomic_load(&alloc_total);
    int ret = img_decode_limited(file.data, file.size, 1, &limits, &out, &kind, err, sizeof(err));
    size_t total = atomic_load(&alloc_total) - total_before;
    size_t peak = alloc_peak_since(base);
    if (ret != 0)
        fprintf(stderr, "wide groups: %s\n", err);
    CHECK_EQ(ret, 0);
    img_buf_finish(&out);
    printf("wide groups: %zu bytes, decode peak %zu, allocated in all %zu (%.1fx)\n", file.size,
           peak, total, (double)total / (double)peak);
    CHECK_LE(total, 6 * peak);
    mem_image_free(&file);
}

int main(void)
{
    test_feed_steps();
    setvbuf(stdout, NULL, _IONBF, 0);
    test_budget();
    test_crafted();
    test_encoder_files();
    printf("webp_groups: all tests passed\n");
    return 0;
}
