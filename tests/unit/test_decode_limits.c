/* Decode limits and hostile files (issue 10 items 2, 3, 4, 20, 21): the PNG
 * inflate bomb, palette indices past the palette, bad CRCs and Adler-32,
 * progressive JPEG scan limits, the cancel flag, the memory budget, and the
 * failure kinds. Every hostile file is made here, byte by byte. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
#include "make_images.h"

#define CHECK_CONTAINS(haystack, needle)                                                           \
    do {                                                                                           \
        if (strstr((haystack), (needle)) == NULL) {                                                \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    (haystack), (needle));                                                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int decode_with(const struct mem_image *image, int channels,
                       const struct img_decode_limits *limits, struct img_buf *out,
                       enum img_error_kind *kind, char *err, size_t err_size)
{
    err[0] = '\0';
    return img_decode_limited(image->data, image->size, channels, limits, out, kind, err, err_size);
}

/* ---- PNG: the inflate bomb (item 2) ------------------------------------- */

/* IHDR 1x1 gray, one IDAT whose zlib stream holds the one row (filter byte
 * and sample) and then `extra` more bytes of zeros: compressed about 1000:1,
 * so 128 MiB of output fit in 128 KiB of file (stb_image 2.27 inflated all
 * of it, doubling its buffer as it went). */
static struct mem_image make_inflate_bomb(size_t extra)
{
    struct mem_image png = png_start(1, 1, 8, 0);
    z_stream strm = {0};
    CHECK_EQ(deflateInit(&strm, 9), Z_OK);
    size_t capacity = extra / 512 + 4096;
    uint8_t *compressed = malloc(capacity);
    static const uint8_t zeros[1 << 16];
    static const uint8_t row[2] = {0, 0x80};
    CHECK(compressed != NULL);
    strm.next_out = compressed;
    strm.avail_out = (uInt)capacity;
    strm.next_in = (Bytef *)row;
    strm.avail_in = sizeof(row);
    CHECK_EQ(deflate(&strm, Z_NO_FLUSH), Z_OK);
    for (size_t done = 0; done < extra; done += sizeof(zeros)) {
        strm.next_in = (Bytef *)zeros;
        strm.avail_in = sizeof(zeros);
        CHECK_EQ(deflate(&strm, Z_NO_FLUSH), Z_OK);
        CHECK_GT(strm.avail_out, 0);
    }
    CHECK_EQ(deflate(&strm, Z_FINISH), Z_STREAM_END);
    png_append_chunk(&png, "IDAT", compressed, strm.total_out);
    png_append_chunk(&png, "IEND", NULL, 0);
    deflateEnd(&strm);
    free(compressed);
    return png;
}

static void test_png_inflate_bomb(void)
{
    /* The file itself (128 KiB) is allocated before the measurement. */
    struct mem_image bomb = make_inflate_bomb((size_t)128 << 20);
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    size_t base = alloc_peak_reset();
    CHECK_EQ(decode_with(&bomb, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    size_t peak = alloc_peak_since(base);
    CHECK_EQ(kind, IMG_ERROR_CORRUPT);
    CHECK_STR_EQ(err, "corrupt PNG (libpng: IDAT: Too much image data)");
    CHECK(out.data == NULL);
    /* Inflate stopped at the one row IHDR implies: libpng's fixed state
     * (its 32 KiB window, an 8 KiB read buffer), nothing near 128 MiB. */
    CHECK_LT(peak, (size_t)1 << 20);
    fprintf(stderr, "inflate bomb (128 MiB of zeros behind a 1x1 IHDR): refused, peak %zu bytes\n",
            peak);

    /* The same row with a correct stream decodes: the refusal is about the
     * excess, not the shape. */
    struct mem_image good = png_start(1, 1, 8, 0);
    static const uint8_t row[2] = {0, 0x80};
    size_t z_size;
    uint8_t *z = zlib_of(row, sizeof(row), &z_size);
    png_append_chunk(&good, "IDAT", z, z_size);
    png_append_chunk(&good, "IEND", NULL, 0);
    CHECK_EQ(decode_with(&good, 1, NULL, &out, &kind, err, sizeof(err)), 0);
    CHECK_EQ(kind, IMG_ERROR_NONE);
    CHECK_EQ(out.data[0], 0x80);
    img_buf_finish(&out);
    free(z);
    mem_image_free(&good);
    mem_image_free(&bomb);
}

/* ---- PNG: palette indices past the palette (item 20) -------------------- */

/* A palette PNG of `depth` bits whose indices run through every value, with
 * only `entries` colours in its PLTE. */
static struct mem_image make_short_palette_png(int width, int height, int depth, int entries,
                                               png_color *palette)
{
    struct mem_image png = png_start((uint32_t)width, (uint32_t)height, depth, 3);
    uint8_t plte[3 * 256];
    for (int i = 0; i < entries; i++) {
        palette[i] = (png_color){(png_byte)(40 + i), (png_byte)(200 - i), (png_byte)(90 + 3 * i)};
        plte[3 * i] = palette[i].red;
        plte[3 * i + 1] = palette[i].green;
        plte[3 * i + 2] = palette[i].blue;
    }
    png_append_chunk(&png, "PLTE", plte, 3 * (size_t)entries);
    size_t row_bytes = ((size_t)width * (size_t)depth + 7) / 8;
    size_t raw_size = (row_bytes + 1) * (size_t)height;
    uint8_t *raw = calloc(1, raw_size);
    CHECK(raw != NULL);
    int per_byte = 8 / depth;
    for (int y = 0; y < height; y++) {
        uint8_t *row = raw + (size_t)y * (row_bytes + 1) + 1;
        for (int x = 0; x < width; x++) {
            unsigned index = (unsigned)(x + 3 * y) & ((1u << depth) - 1);
            row[x / per_byte] |= (uint8_t)(index << (8 - depth * (x % per_byte + 1)));
        }
    }
    size_t z_size;
    uint8_t *z = zlib_of(raw, raw_size, &z_size);
    png_append_chunk(&png, "IDAT", z, z_size);
    png_append_chunk(&png, "IEND", NULL, 0);
    free(z);
    free(raw);
    return png;
}

/* Leaves the heap full of non-zero bytes where the decoder's next buffers
 * will come from, so that an uninitialised palette would show. */
static void dirty_heap(int round)
{
    for (size_t size = 16; size <= 65536; size *= 2) {
        uint8_t *junk = malloc(size);
        CHECK(junk != NULL);
        memset(junk, 0x55 + round * 17, size);
        free(junk);
    }
}

/* And the stack: stb 2.27 kept its palette in an uninitialised local, so
 * what a previous call left there showed through (issue 10 item 20). */
__attribute__((noinline)) static void dirty_stack(int round)
{
    volatile uint8_t junk[1 << 16];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(0x55 + round * 17 + (int)i);
}

static void test_png_palette_out_of_range(void)
{
    static const int depths[] = {1, 2, 4, 8};
    for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
        int depth = depths[d];
        int entries = depth == 1 ? 1 : (1 << depth) / 2 - 1; /* 1, 1, 7, 127 */
        enum { W = 37, H = 11 };
        png_color palette[256];
        struct mem_image png = make_short_palette_png(W, H, depth, entries, palette);
        uint8_t *first_rgb = NULL;
        for (int round = 0; round < 5; round++) {
            dirty_heap(round);
            dirty_stack(round);
            struct img_buf rgb, luma;
            char err[256];
            enum img_error_kind kind;
            CHECK_EQ(decode_with(&png, 3, NULL, &rgb, &kind, err, sizeof(err)), 0);
            dirty_heap(round + 1);
            dirty_stack(round + 1);
            CHECK_EQ(decode_with(&png, 1, NULL, &luma, &kind, err, sizeof(err)), 0);
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int index = (x + 3 * y) & ((1 << depth) - 1);
                    const uint8_t *p = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
                    uint8_t l = luma.data[(size_t)y * luma.stride + (size_t)x];
                    if (index < entries) {
                        CHECK_EQ(p[0], palette[index].red);
                        CHECK_EQ(p[1], palette[index].green);
                        CHECK_EQ(p[2], palette[index].blue);
                    } else {
                        /* Past the palette: black, in RGB and in luma. */
                        CHECK_EQ(p[0] | p[1] | p[2], 0);
                        CHECK_EQ(l, 0);
                    }
                }
            if (first_rgb == NULL) {
                first_rgb = malloc((size_t)W * H * 3);
                CHECK(first_rgb != NULL);
                memcpy(first_rgb, rgb.data, (size_t)W * H * 3);
            } else {
                CHECK_MEM_EQ(rgb.data, first_rgb, (size_t)W * H * 3);
            }
            img_buf_finish(&rgb);
            img_buf_finish(&luma);
        }
        free(first_rgb);
        mem_image_free(&png);
    }
}

/* ---- PNG: CRCs and Adler-32 (item 21) ----------------------------------- */

/* 8x8 gray: signature, IHDR at 8, an ancillary tEXt, IDAT, IEND. Offsets of
 * each chunk's start are returned for corrupting. */
struct small_png {
    struct mem_image png;
    size_t ihdr, text, idat, iend; /* chunk starts (length field) */
    size_t idat_length;
};

static struct small_png make_small_png(void)
{
    struct small_png s;
    s.png = png_start(8, 8, 8, 0);
    s.ihdr = 8;
    s.text = s.png.size;
    png_append_chunk(&s.png, "tEXt", (const uint8_t *)"Comment\0hello", 13);
    uint8_t raw[8 * 9];
    for (int i = 0; i < 8 * 9; i++)
        raw[i] = i % 9 == 0 ? 0 : (uint8_t)(i * 5);
    size_t z_size;
    uint8_t *z = zlib_of(raw, sizeof(raw), &z_size);
    s.idat = s.png.size;
    s.idat_length = z_size;
    png_append_chunk(&s.png, "IDAT", z, z_size);
    s.iend = s.png.size;
    png_append_chunk(&s.png, "IEND", NULL, 0);
    free(z);
    return s;
}

static void refix_crc(uint8_t *chunk, size_t length)
{
    put_be32(chunk + 8 + length, (uint32_t)crc32(0, chunk + 4, (uInt)(length + 4)));
}

/* Refused as corrupt, with `message` (or, when `exact` is false, a message
 * starting with it). */
static void expect_refused(const struct mem_image *png, const char *message, bool exact)
{
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    for (int channels = 1; channels <= 3; channels += 2) {
        CHECK_EQ(decode_with(png, channels, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
        CHECK_EQ(kind, IMG_ERROR_CORRUPT);
        if (exact)
            CHECK_STR_EQ(err, message);
        else
            CHECK_EQ(strncmp(err, message, strlen(message)), 0);
        CHECK(out.data == NULL);
    }
}

static void test_png_checksums(void)
{
    struct small_png s = make_small_png();
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    CHECK_EQ(decode_with(&s.png, 1, NULL, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);

    /* A bad CRC on IHDR (PngSuite xhdn0g08's defect). */
    struct mem_image bad = {malloc(s.png.size), s.png.size};
    CHECK(bad.data != NULL);
    memcpy(bad.data, s.png.data, s.png.size);
    bad.data[s.ihdr + 8 + 13] ^= 0x01;
    expect_refused(&bad, "corrupt PNG (libpng: IHDR: CRC error)", true);

    /* A bad CRC on IDAT (xcsn0g01's). */
    memcpy(bad.data, s.png.data, s.png.size);
    bad.data[s.idat + 8 + s.idat_length + 3] ^= 0x80;
    expect_refused(&bad, "corrupt PNG (libpng: IDAT: CRC error)", true);

    /* A flipped bit inside IDAT's data, CRC left alone: libpng inflates a
     * chunk's data before it reaches the CRC, so zlib may see the damage
     * first; refused either way. */
    memcpy(bad.data, s.png.data, s.png.size);
    bad.data[s.idat + 8 + 3] ^= 0x04;
    expect_refused(&bad, "corrupt PNG (libpng: IDAT: ", false);

    /* A bad Adler-32 (the last 4 bytes of the zlib stream) with a chunk CRC
     * recomputed to match: only the zlib check can tell. */
    memcpy(bad.data, s.png.data, s.png.size);
    bad.data[s.idat + 8 + s.idat_length - 1] ^= 0x01;
    refix_crc(bad.data + s.idat, s.idat_length);
    expect_refused(&bad, "corrupt PNG (libpng: IDAT: incorrect data check)", true);

    /* IEND is critical too. */
    memcpy(bad.data, s.png.data, s.png.size);
    bad.data[s.iend + 8] ^= 0x01;
    expect_refused(&bad, "corrupt PNG (libpng: IEND: CRC error)", true);

    /* An ancillary chunk with a bad CRC is dropped, as libpng does by
     * default; the pixels are intact. */
    memcpy(bad.data, s.png.data, s.png.size);
    bad.data[s.text + 8 + 13] ^= 0x01;
    CHECK_EQ(decode_with(&bad, 1, NULL, &out, &kind, err, sizeof(err)), 0);
    CHECK_EQ(kind, IMG_ERROR_NONE);
    img_buf_finish(&out);

    mem_image_free(&bad);
    mem_image_free(&s.png);
}

/* ---- JPEG: progressive scan limits (item 4) ----------------------------- */

/* Progressive YCbCr 4:2:0: DC of all components, then Y's AC whole, then
 * each AC coefficient of Cb and of Cr in a scan of its own: 2 + 2 * 63 = 128
 * scans, but the chroma scans each visit only a sixth of the blocks (work
 * about 22.7 passes over the image). */
static struct mem_image make_chroma_scans_jpeg(int width, int height)
{
    static jpeg_scan_info scans[128];
    int count = 0;
    scans[count++] = (jpeg_scan_info){3, {0, 1, 2, 0}, 0, 0, 0, 0};
    scans[count++] = (jpeg_scan_info){1, {0, 0, 0, 0}, 1, 63, 0, 0};
    for (int component = 1; component <= 2; component++)
        for (int k = 1; k <= 63; k++)
            scans[count++] = (jpeg_scan_info){1, {component, 0, 0, 0}, k, k, 0, 0};
    struct jpeg_make spec = {width, height, 3, true, false, scans, count, 90};
    return make_jpeg_image(&spec);
}

/* Gray, the DC and then every AC coefficient in its own scan: 64 scans,
 * each over every block. */
static struct mem_image make_gray_64_scans_jpeg(int width, int height)
{
    static jpeg_scan_info scans[64];
    scans[0] = (jpeg_scan_info){1, {0, 0, 0, 0}, 0, 0, 0, 0};
    for (int k = 1; k <= 63; k++)
        scans[k] = (jpeg_scan_info){1, {0, 0, 0, 0}, k, k, 0, 0};
    struct jpeg_make spec = {width, height, 1, true, false, scans, 64, 90};
    return make_jpeg_image(&spec);
}

static void test_jpeg_scan_limits(void)
{
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    struct img_decode_limits limits;

    /* A normal progressive file (libjpeg's 10-scan script) decodes. */
    struct jpeg_make normal = {96, 64, 3, true, false, NULL, 0, 90};
    struct mem_image jpeg = make_jpeg_image(&normal);
    CHECK_EQ(decode_with(&jpeg, 1, NULL, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);
    CHECK_EQ(decode_with(&jpeg, 3, NULL, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);
    mem_image_free(&jpeg);

    /* 128 cheap scans: refused by the count, at scan 101. */
    jpeg = make_chroma_scans_jpeg(96, 64);
    CHECK_EQ(decode_with(&jpeg, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_TOO_MUCH_WORK);
    CHECK_STR_EQ(err, "too many progressive scans: 101 (limit 100)");
    CHECK(out.data == NULL);
    /* With the caller's higher count they decode: the work is in bounds. */
    img_decode_limits_init(&limits);
    limits.max_scans = 128;
    CHECK_EQ(decode_with(&jpeg, 3, &limits, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);
    mem_image_free(&jpeg);

    /* 64 scans over every block: refused by the work, at the 33rd pass. */
    jpeg = make_gray_64_scans_jpeg(96, 64);
    CHECK_EQ(decode_with(&jpeg, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_TOO_MUCH_WORK);
    CHECK_STR_EQ(err, "too much progressive scan work: 33 scans visit 3168 blocks of 96 "
                      "(limit 32 passes)");
    img_decode_limits_init(&limits);
    limits.max_scan_work = 64;
    CHECK_EQ(decode_with(&jpeg, 1, &limits, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);
    mem_image_free(&jpeg);
}

/* ---- the cancel flag (item 4) ------------------------------------------- */

struct canceller {
    atomic_int *flag;
    size_t base;
    size_t started_at; /* live bytes that mean the decode is under way */
    atomic_int done;   /* the decode returned: stop waiting */
};

/* Sets the flag once the decode has allocated its big buffer (the JPEG
 * coefficient buffer, the PNG output), i.e. mid-decode, whatever the
 * machine's speed. */
static void *cancel_when_started(void *arg)
{
    struct canceller *c = arg;
    while (atomic_load(&alloc_live) < c->base + c->started_at && !atomic_load(&c->done))
        sched_yield();
    atomic_store(c->flag, 1);
    return NULL;
}

static void expect_cancelled_mid_decode(const struct mem_image *image, int channels,
                                        size_t started_at)
{
    atomic_int flag = 0;
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.cancel = &flag;
    struct canceller c = {&flag, atomic_load(&alloc_live), started_at, 0};
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, cancel_when_started, &c), 0);
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    int ret = decode_with(image, channels, &limits, &out, &kind, err, sizeof(err));
    atomic_store(&c.done, 1);
    CHECK_EQ(ret, -ECANCELED);
    CHECK_EQ(kind, IMG_ERROR_CANCELLED);
    CHECK_STR_EQ(err, "cancelled");
    CHECK(out.data == NULL);
    CHECK_EQ(pthread_join(thread, NULL), 0);
}

static void test_cancel(void)
{
    /* 3000x3000 gray, progressive: its 18 MB coefficient buffer first
     * (jpeg_start_decompress), then its scans are read into it. */
    struct jpeg_make big = {3000, 3000, 1, true, false, NULL, 0, 90};
    struct mem_image jpeg = make_jpeg_image(&big);
    expect_cancelled_mid_decode(&jpeg, 1, (size_t)17 << 20);

    /* Set before the decode starts: refused at once. */
    atomic_int flag = 1;
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);
    limits.cancel = &flag;
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    CHECK_EQ(decode_with(&jpeg, 1, &limits, &out, &kind, err, sizeof(err)), -ECANCELED);
    CHECK_EQ(kind, IMG_ERROR_CANCELLED);
    /* Not set: the same file decodes. */
    flag = 0;
    CHECK_EQ(decode_with(&jpeg, 1, &limits, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);
    mem_image_free(&jpeg);

    /* A PNG, cancelled between rows after its output exists. */
    struct png_make spec = {2000, 2000, PNG_COLOR_TYPE_RGB, 8, false, 0};
    struct mem_image png = make_png_image(&spec);
    expect_cancelled_mid_decode(&png, 3, (size_t)2000 * 2000 * 3);
    flag = 1;
    CHECK_EQ(decode_with(&png, 3, &limits, &out, &kind, err, sizeof(err)), -ECANCELED);
    mem_image_free(&png);
}

/* ---- the memory budget (item 3) ----------------------------------------- */

static void test_budget(void)
{
    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    struct img_decode_limits limits;
    img_decode_limits_init(&limits);

    /* A progressive 1000x1000 4:4:4 JPEG needs its coefficient buffer (6
     * MB) besides the 1 MB of luma: over a 4 MiB budget it is refused before
     * any pixel buffer, with what it needs. */
    struct jpeg_make spec = {1000, 1000, 3, true, true, NULL, 0, 90};
    struct mem_image jpeg = make_jpeg_image(&spec);
    limits.max_bytes = (size_t)4 << 20;
    size_t base = alloc_peak_reset();
    CHECK_EQ(decode_with(&jpeg, 1, &limits, &out, &kind, err, sizeof(err)), -ENOMEM);
    CHECK_LT(alloc_peak_since(base), (size_t)256 << 10);
    CHECK_EQ(kind, IMG_ERROR_OVER_BUDGET);
    CHECK_STR_EQ(err, "needs 7 MiB to decode, budget 4 MiB");
    limits.max_bytes = (size_t)8 << 20;
    CHECK_EQ(decode_with(&jpeg, 1, &limits, &out, &kind, err, sizeof(err)), 0);
    img_buf_finish(&out);

    /* Inside the decoder, libjpeg itself is held to the budget: given less
     * than its coefficient buffer it stops before allocating it. */
    struct img__header header;
    CHECK_EQ(img__probe(jpeg.data, jpeg.size, &header, &kind, err, sizeof(err)), 0);
    CHECK(header.multi_scan);
    CHECK_EQ(header.jpeg_coef_bytes, (size_t)125 * 125 * 3 * 128);
    limits.max_bytes = (size_t)3 << 20;
    base = alloc_peak_reset();
    CHECK_EQ(img__jpeg_decode(jpeg.data, jpeg.size, &header, 1,
                              &(struct img_decode_limits){.max_pixels = UINT64_MAX,
                                                          .max_bytes = (size_t)3 << 20,
                                                          .max_scans = 100,
                                                          .max_scan_work = 32},
                              &out, &kind, err, sizeof(err)),
             -ENOMEM);
    CHECK_LT(alloc_peak_since(base), (size_t)3 << 20);
    CHECK_EQ(kind, IMG_ERROR_OVER_BUDGET);
    CHECK_CONTAINS(err, "memory budget (libjpeg's coefficient buffer)");
    mem_image_free(&jpeg);

    /* libpng likewise, through its counting allocator. */
    struct png_make png_spec = {1000, 1000, PNG_COLOR_TYPE_RGB, 16, false, 0};
    struct mem_image png = make_png_image(&png_spec);
    CHECK_EQ(img__probe(png.data, png.size, &header, &kind, err, sizeof(err)), 0);
    size_t ours = img__decode_bytes(&header, 1) - img__png_library_bytes(&header);
    CHECK_EQ(img__png_decode(png.data, png.size, &header, 1,
                             &(struct img_decode_limits){.max_pixels = UINT64_MAX,
                                                         .max_bytes = ours + 4096,
                                                         .max_scans = 100,
                                                         .max_scan_work = 32},
                             &out, &kind, err, sizeof(err)),
             -ENOMEM);
    CHECK_EQ(kind, IMG_ERROR_OVER_BUDGET);
    CHECK_CONTAINS(err, "memory budget (libpng)");
    mem_image_free(&png);

    /* The pixel limit is a kind of its own. */
    struct jpeg_make small = {64, 64, 1, false, false, NULL, 0, 90};
    jpeg = make_jpeg_image(&small);
    img_decode_limits_init(&limits);
    limits.max_pixels = 64 * 64 - 1;
    CHECK_EQ(decode_with(&jpeg, 1, &limits, &out, &kind, err, sizeof(err)), -EFBIG);
    CHECK_EQ(kind, IMG_ERROR_TOO_LARGE);
    mem_image_free(&jpeg);
}

/* ---- failure kinds -------------------------------------------------------- */

static void test_error_kinds(void)
{
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_NONE), "none");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_NOT_AN_IMAGE), "not_an_image");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_UNSUPPORTED_FORMAT), "unsupported_format");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_CORRUPT), "corrupt");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_TRUNCATED), "truncated");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_TOO_LARGE), "too_large");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_OVER_BUDGET), "over_budget");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_TOO_MUCH_WORK), "too_much_work");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_CANCELLED), "cancelled");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_OUT_OF_MEMORY), "out_of_memory");
    CHECK_STR_EQ(img_error_kind_name(IMG_ERROR_INVALID_ARGUMENT), "invalid_argument");
    CHECK_STR_EQ(img_error_kind_name((enum img_error_kind)99), "unknown");

    struct img_buf out;
    char err[256];
    enum img_error_kind kind;
    struct mem_image html = {(uint8_t *)"<!DOCTYPE html><p>gone</p>", 26};
    CHECK_EQ(decode_with(&html, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_NOT_AN_IMAGE);
    struct mem_image jxl = {(uint8_t *)"\xff\x0a\xfa\x3f\x00\x00\x00\x00", 8};
    CHECK_EQ(decode_with(&jxl, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_UNSUPPORTED_FORMAT);
    struct mem_image gif = {(uint8_t *)"GIF89a\x01\x00\x01\x00", 10};
    CHECK_EQ(decode_with(&gif, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    /* Truncated where GIF is decoded (the default build), else unsupported. */
    CHECK_EQ(kind, strstr(img_accept_header(), "image/gif") != NULL ? IMG_ERROR_TRUNCATED
                                                                    : IMG_ERROR_UNSUPPORTED_FORMAT);
    struct small_png s = make_small_png();
    struct mem_image cut = {s.png.data, s.idat + 20};
    CHECK_EQ(decode_with(&cut, 1, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_TRUNCATED);
    CHECK_CONTAINS(err, "truncated PNG (IDAT chunk cut short");
    struct jpeg_make spec = {64, 64, 3, false, false, NULL, 0, 90};
    struct mem_image jpeg = make_jpeg_image(&spec);
    struct mem_image jpeg_cut = {jpeg.data, jpeg.size / 2};
    CHECK_EQ(decode_with(&jpeg_cut, 3, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_TRUNCATED);
    CHECK_EQ(decode_with(&jpeg, 2, NULL, &out, &kind, err, sizeof(err)), -EINVAL);
    CHECK_EQ(kind, IMG_ERROR_INVALID_ARGUMENT);
    CHECK_EQ(decode_with(&jpeg, 3, NULL, &out, &kind, err, sizeof(err)), 0);
    CHECK_EQ(kind, IMG_ERROR_NONE);
    img_buf_finish(&out);
    mem_image_free(&jpeg);
    mem_image_free(&s.png);
}

int main(void)
{
    test_error_kinds();
    test_png_inflate_bomb();
    test_png_palette_out_of_range();
    test_png_checksums();
    test_jpeg_scan_limits();
    test_budget();
    test_cancel();
    printf("decode_limits: all tests passed\n");
    return 0;
}
