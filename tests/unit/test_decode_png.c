/* Unit tests of imaging/: The PNG decoder: every colour type and depth both ways (RGB and luma),
 * luma in place, eXIf orientations, an empty IDAT. */
#include "imaging_cases.h"

static void check_decoded(const uint8_t *png, size_t size, int channels, int width, int height,
                          const uint8_t *expected)
{
    struct img_buf buf;
    char err[256] = "";
    int ret = img_decode(png, size, channels, UINT64_MAX, &buf, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "decode failed: %s\n", err);
    CHECK_EQ(ret, 0);
    CHECK_EQ(buf.width, width);
    CHECK_EQ(buf.height, height);
    CHECK_EQ(buf.channels, channels);
    for (int y = 0; y < height; y++)
        CHECK_MEM_EQ(buf.data + (size_t)y * buf.stride,
                     expected + (size_t)y * (size_t)width * (size_t)channels,
                     (size_t)width * (size_t)channels);
    img_buf_finish(&buf);
}

/* ---- decoding every PNG colour type ----------------------------------- */

#define PW 3

#define PH 2

/* The RGB truth for the 3x2 test pictures. */
static const uint8_t truth_rgb[PH][PW][3] = {
    {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}},
    {{12, 34, 56}, {200, 100, 50}, {255, 255, 255}},
};

static const uint8_t truth_gray[PH][PW] = {{0, 17, 128}, {200, 254, 255}};

static void expected_from_rgb(uint8_t rgb_out[PH * PW * 3], uint8_t luma_out[PH * PW])
{
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            const uint8_t *p = truth_rgb[y][x];
            memcpy(rgb_out + 3 * (y * PW + x), p, 3);
            luma_out[y * PW + x] = reference_luma(p[0], p[1], p[2]);
        }
    }
}

static void expected_from_gray(uint8_t rgb_out[PH * PW * 3], uint8_t gray_out[PH * PW])
{
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            uint8_t g = truth_gray[y][x];
            gray_out[y * PW + x] = g;
            rgb_out[3 * (y * PW + x)] = rgb_out[3 * (y * PW + x) + 1] =
                rgb_out[3 * (y * PW + x) + 2] = g;
        }
    }
}

static void check_png_both_ways(struct mem_png png, int stored_channels, const uint8_t *rgb,
                                const uint8_t *gray)
{
    check_probe(png.data, png.size, IMG_FORMAT_PNG, PW, PH, stored_channels);
    check_decoded(png.data, png.size, 3, PW, PH, rgb);
    check_decoded(png.data, png.size, 1, PW, PH, gray);
    free(png.data);
}

/* A colour PNG bigger than the in-place luma conversion's 4096-pixel step
 * (and not a multiple of it): every pixel is our luma of its RGB. */
static void test_decode_png_luma_in_place(void)
{
    enum { W = 101, H = 67 };
    struct test_image rgb = image_new(W, H, 3, 0);
    struct mem_png png =
        make_png(W, H, PNG_COLOR_TYPE_RGB, 8, rgb.data, rgb.stride, NULL, 0, NULL, 0, 0);
    struct img_buf luma;
    CHECK_EQ(img_decode(png.data, png.size, 1, W * H, &luma, NULL, 0), 0);
    CHECK_EQ(luma.stride, W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = rgb.data + (size_t)y * rgb.stride + 3 * (size_t)x;
            CHECK_EQ(luma.data[(size_t)y * luma.stride + (size_t)x],
                     reference_luma(p[0], p[1], p[2]));
        }
    img_buf_finish(&luma);
    free(png.data);
    image_free(&rgb);
}

static void test_decode_png_types(void)
{
    uint8_t want_rgb[PH * PW * 3], want_luma[PH * PW], want_gray_rgb[PH * PW * 3],
        want_gray[PH * PW];
    expected_from_rgb(want_rgb, want_luma);
    expected_from_gray(want_gray_rgb, want_gray);

    for (int interlace = 0; interlace <= 1; interlace++) {
        /* 8-bit gray: exact in one channel, replicated in three. */
        uint8_t gray8[PH][PW];
        memcpy(gray8, truth_gray, sizeof(gray8));
        check_png_both_ways(
            make_png(PW, PH, PNG_COLOR_TYPE_GRAY, 8, &gray8[0][0], PW, NULL, 0, NULL, 0, interlace),
            1, want_gray_rgb, want_gray);

        /* Gray + alpha: alpha dropped, not applied (alpha 0 on one pixel). */
        uint8_t gray_alpha[PH][PW * 2];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                gray_alpha[y][2 * x] = truth_gray[y][x];
                gray_alpha[y][2 * x + 1] = (uint8_t)(x * 100);
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_GRAY_ALPHA, 8, &gray_alpha[0][0],
                                     PW * 2, NULL, 0, NULL, 0, interlace),
                            2, want_gray_rgb, want_gray);

        /* RGB: exact in three channels; our luma in one. */
        uint8_t rgb8[PH][PW * 3];
        memcpy(rgb8, truth_rgb, sizeof(rgb8));
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_RGB, 8, &rgb8[0][0], PW * 3, NULL, 0,
                                     NULL, 0, interlace),
                            3, want_rgb, want_luma);

        /* RGBA: alpha dropped. */
        uint8_t rgba[PH][PW * 4];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                memcpy(&rgba[y][4 * x], truth_rgb[y][x], 3);
                rgba[y][4 * x + 3] = (uint8_t)(y * 3 + x) * 40;
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_RGB_ALPHA, 8, &rgba[0][0], PW * 4, NULL,
                                     0, NULL, 0, interlace),
                            4, want_rgb, want_luma);

        /* Palette (indices in reverse order), without and with tRNS. */
        png_color palette[PH * PW];
        uint8_t indices[PH][PW];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                int index = PH * PW - 1 - (y * PW + x);
                palette[index].red = truth_rgb[y][x][0];
                palette[index].green = truth_rgb[y][x][1];
                palette[index].blue = truth_rgb[y][x][2];
                indices[y][x] = (uint8_t)index;
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_PALETTE, 8, &indices[0][0], PW, palette,
                                     PH * PW, NULL, 0, interlace),
                            3, want_rgb, want_luma);
        static const uint8_t trns[2] = {0, 128};
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_PALETTE, 8, &indices[0][0], PW, palette,
                                     PH * PW, trns, 2, interlace),
                            4, want_rgb, want_luma);

        /* 16-bit RGB: the high byte is kept (low bytes vary so rounding
         * instead of truncation would show). */
        uint8_t rgb16[PH][PW * 6];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++)
                for (int c = 0; c < 3; c++) {
                    rgb16[y][6 * x + 2 * c] = truth_rgb[y][x][c];
                    rgb16[y][6 * x + 2 * c + 1] = (uint8_t)(0x80 + 0x3f * c + x);
                }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_RGB, 16, &rgb16[0][0], PW * 6, NULL, 0,
                                     NULL, 0, interlace),
                            3, want_rgb, want_luma);

        /* 16-bit gray: one channel stays exact (high byte). */
        uint8_t gray16[PH][PW * 2];
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                gray16[y][2 * x] = truth_gray[y][x];
                gray16[y][2 * x + 1] = 0xff;
            }
        check_png_both_ways(make_png(PW, PH, PNG_COLOR_TYPE_GRAY, 16, &gray16[0][0], PW * 2, NULL,
                                     0, NULL, 0, interlace),
                            1, want_gray_rgb, want_gray);
    }

    /* 4-bit gray: samples scale by 17 (0xF -> 255). */
    uint8_t gray4[2][2] = {{0x0f, 0x8a}, {0x31, 0xc5}}; /* 4 pixels per row, 2 rows */
    struct mem_png png4 =
        make_png(4, 2, PNG_COLOR_TYPE_GRAY, 4, &gray4[0][0], 2, NULL, 0, NULL, 0, 0);
    static const uint8_t want4[8] = {0, 255, 136, 170, 51, 17, 204, 85};
    check_probe(png4.data, png4.size, IMG_FORMAT_PNG, 4, 2, 1);
    check_decoded(png4.data, png4.size, 1, 4, 2, want4);
    free(png4.data);
}

static void test_png_orientation(void)
{
    /* What a viewer shows: the 32x16 blocks of the JPEG test, as an 8-bit
     * gray PNG and as an RGB one (R = G = B, whose luma is exact), in both
     * byte orders. The RGB file decoded to luma turns inside stb's buffer,
     * the others through a second one. */
    uint8_t blocks[16 * 32], blocks_rgb[16 * 32 * 3];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++) {
            uint8_t level = block_levels[(y / 8) * 4 + x / 8];
            blocks[y * 32 + x] = level;
            memset(blocks_rgb + 3 * (y * 32 + x), level, 3);
        }
    struct mem_png block_pngs[2] = {
        make_png(32, 16, PNG_COLOR_TYPE_GRAY, 8, blocks, 32, NULL, 0, NULL, 0, 0),
        make_png(32, 16, PNG_COLOR_TYPE_RGB, 8, blocks_rgb, 32 * 3, NULL, 0, NULL, 0, 1),
    };
    for (int orientation = 1; orientation <= 8; orientation++)
        for (int kind = 0; kind < 2; kind++)
            for (int big_endian = 0; big_endian <= 1; big_endian++) {
                size_t size;
                uint8_t *png = png_with_orientation(block_pngs[kind], big_endian, 3,
                                                    (unsigned)orientation, &size);
                check_probe(png, size, IMG_FORMAT_PNG, orientation >= 5 ? 16 : 32,
                            orientation >= 5 ? 32 : 16, kind == 0 ? 1 : 3);
                CHECK_EQ(png_probe_orientation(png, size), orientation);
                for (int channels = 1; channels <= 3; channels += 2) {
                    struct img_buf buf;
                    char err[256] = "";
                    CHECK_EQ(img_decode(png, size, channels, 512, &buf, err, sizeof(err)), 0);
                    CHECK_EQ(buf.channels, channels);
                    check_oriented(&buf, orientation);
                    img_buf_finish(&buf);
                }
                free(png);
            }

    /* Pixel for pixel, channel order included, on a picture with odd sides
     * larger than the 32-pixel tiles of the turning copy: 8-bit gray, RGB,
     * 16-bit RGBA (high bytes kept, alpha dropped) and 2-bit palette. */
    enum { W = 37, H = 70 };
    static uint8_t gray[H][W], gray_rgb[H][W][3], rgb[H][W][3], luma[H][W], rgba16[H][W * 8];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            gray[y][x] = (uint8_t)(x * 7 + y * 3);
            memset(gray_rgb[y][x], gray[y][x], 3);
            rgb[y][x][0] = (uint8_t)(x * 6);
            rgb[y][x][1] = (uint8_t)(y * 3);
            rgb[y][x][2] = (uint8_t)(x * y);
            luma[y][x] = reference_luma(rgb[y][x][0], rgb[y][x][1], rgb[y][x][2]);
            for (int c = 0; c < 4; c++) {
                rgba16[y][8 * x + 2 * c] = c < 3 ? rgb[y][x][c] : (uint8_t)(x + y);
                rgba16[y][8 * x + 2 * c + 1] = (uint8_t)(0x9c + c);
            }
        }
    /* Palette: colour (x + 2y) % 4 at 2 bits per index. */
    static const png_color palette[4] = {{255, 0, 0}, {0, 200, 0}, {0, 0, 150}, {90, 90, 90}};
    static uint8_t indices[H][(W + 3) / 4], palette_rgb[H][W][3], palette_luma[H][W];
    memset(indices, 0, sizeof(indices));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int index = (x + 2 * y + x / 5) % 4;
            indices[y][x / 4] |= (uint8_t)(index << (6 - 2 * (x % 4)));
            const png_color *colour = &palette[index];
            palette_rgb[y][x][0] = colour->red;
            palette_rgb[y][x][1] = colour->green;
            palette_rgb[y][x][2] = colour->blue;
            palette_luma[y][x] = reference_luma(colour->red, colour->green, colour->blue);
        }
    struct {
        struct mem_png png;
        const uint8_t *rgb, *luma;
    } pictures[] = {
        {make_png(W, H, PNG_COLOR_TYPE_GRAY, 8, &gray[0][0], W, NULL, 0, NULL, 0, 0),
         &gray_rgb[0][0][0], &gray[0][0]},
        {make_png(W, H, PNG_COLOR_TYPE_RGB, 8, &rgb[0][0][0], W * 3, NULL, 0, NULL, 0, 0),
         &rgb[0][0][0], &luma[0][0]},
        {make_png(W, H, PNG_COLOR_TYPE_RGB_ALPHA, 16, &rgba16[0][0], W * 8, NULL, 0, NULL, 0, 1),
         &rgb[0][0][0], &luma[0][0]},
        {make_png(W, H, PNG_COLOR_TYPE_PALETTE, 2, &indices[0][0], (W + 3) / 4, palette, 4, NULL, 0,
                  0),
         &palette_rgb[0][0][0], &palette_luma[0][0]},
    };
    enum { PICTURES = sizeof(pictures) / sizeof(pictures[0]) };
    for (int orientation = 1; orientation <= 8; orientation++)
        for (int i = 0; i < PICTURES; i++) {
            size_t size;
            uint8_t *png = png_with_orientation(pictures[i].png, (orientation + i) % 2, 3,
                                                (unsigned)orientation, &size);
            check_png_turned(png, size, orientation, W, H, pictures[i].rgb, pictures[i].luma);
            free(png);
        }

    /* The edge map faces the same way: Sobel of the upright luma. */
    size_t size;
    uint8_t *png = png_with_orientation(pictures[1].png, false, 3, 6, &size);
    struct img_buf upright, edges;
    CHECK_EQ(img_decode(png, size, 1, W * H, &upright, NULL, 0), 0);
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &upright, &edges), 0);
    static uint8_t want_edges[W * H];
    reference_sobel(upright.data, upright.stride, want_edges, (size_t)upright.width, upright.width,
                    upright.height);
    for (int y = 0; y < upright.height; y++)
        CHECK_MEM_EQ(edges.data + (size_t)y * edges.stride, want_edges + y * upright.width,
                     (size_t)upright.width);
    img_buf_finish(&edges);
    img_buf_finish(&upright);
    free(png);

    /* Where the chunk is: after the image data it is ignored (as browsers
     * do); the first of two counts; "Exif\0\0" before the TIFF header (an
     * APP1 payload pasted whole, not what the chunk holds) is not EXIF. */
    const struct mem_png base = block_pngs[0];
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, false, 3, 6);
    png = png_insert_chunk(base.data, base.size, base.size - 12, "eXIf", exif + 6, exif_size - 6,
                           (uint32_t)(exif_size - 6), &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    check_probe(png, size, IMG_FORMAT_PNG, 32, 16, 1);
    free(png);
    uint8_t *first = png_with_orientation(base, true, 3, 8, &size);
    size_t twice_size;
    uint8_t *twice = png_insert_chunk(first, size, 33 + 12 + exif_size - 6, "eXIf", exif + 6,
                                      exif_size - 6, (uint32_t)(exif_size - 6), &twice_size);
    CHECK_EQ(png_probe_orientation(twice, twice_size), 8);
    free(twice);
    free(first);
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", exif, exif_size, (uint32_t)exif_size,
                           &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    free(png);

    /* Malformed EXIF is ignored: orientation 1, the image decodes as
     * stored. Values out of range or of the wrong type; every cut of the
     * TIFF data before the end of the Orientation entry (8 header + 2 count
     * + 12 Make + 12 Orientation = 34 bytes); an empty chunk. */
    struct {
        unsigned type, value;
    } ignored[] = {{3, 0}, {3, 9}, {3, 0xffff}, {4, 6}, {1, 6}};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        png = png_with_orientation(base, i % 2, ignored[i].type, ignored[i].value, &size);
        CHECK_EQ(png_probe_orientation(png, size), 1);
        check_png_turned(png, size, 1, 32, 16, blocks_rgb, blocks);
        free(png);
    }
    for (size_t cut = 0; cut <= 34; cut++) {
        png =
            png_insert_chunk(base.data, base.size, 33, "eXIf", exif + 6, cut, (uint32_t)cut, &size);
        CHECK_EQ(png_probe_orientation(png, size), cut == 34 ? 6 : 1);
        free(png);
    }
    /* IFD0 offsets past the end, and an entry count far beyond the data. */
    uint8_t tiff[64];
    static const uint32_t bad_offsets[] = {0xffffffffu, 0x80000000u, 1000, 37, 36, 33};
    for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]); i++) {
        memcpy(tiff, exif + 6, exif_size - 6);
        tiff[4] = (uint8_t)bad_offsets[i];
        tiff[5] = (uint8_t)(bad_offsets[i] >> 8);
        tiff[6] = (uint8_t)(bad_offsets[i] >> 16);
        tiff[7] = (uint8_t)(bad_offsets[i] >> 24);
        png = png_insert_chunk(base.data, base.size, 33, "eXIf", tiff, exif_size - 6,
                               (uint32_t)(exif_size - 6), &size);
        CHECK_EQ(png_probe_orientation(png, size), 1);
        free(png);
    }
    /* 65535 entries in 38 bytes: an Orientation entry is still found where
     * it is; without one the search stops at the end of the data. */
    memcpy(tiff, exif + 6, exif_size - 6);
    tiff[8] = tiff[9] = 0xff;
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", tiff, exif_size - 6,
                           (uint32_t)(exif_size - 6), &size);
    CHECK_EQ(png_probe_orientation(png, size), 6);
    free(png);
    tiff[22] = 0x13; /* tag 0x0113, not Orientation */
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", tiff, exif_size - 6,
                           (uint32_t)(exif_size - 6), &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    free(png);
    /* A chunk claiming more bytes than the file has: ignored by the probe;
     * the decode refuses the file as cut, as it would without the eXIf. */
    png = png_insert_chunk(base.data, base.size, 33, "eXIf", exif + 6, exif_size - 6, 0x7fffffffu,
                           &size);
    CHECK_EQ(png_probe_orientation(png, size), 1);
    struct img_buf refused;
    char err[256] = "";
    CHECK_EQ(img_decode(png, size, 1, 512, &refused, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG");
    free(png);

    for (int i = 0; i < PICTURES; i++)
        free(pictures[i].png.data);
    free(block_pngs[0].data);
    free(block_pngs[1].data);
}

/* A valid PNG whose first IDAT is empty (legal, and what tripped stb 2.27
 * into memcpy(NULL, ..., 0)): decodes to the same pixels as without it. */
static void test_decode_png_empty_idat(void)
{
    struct test_image noise = image_new(19, 7, 1, 5);
    struct img_buf gray = {noise.data, noise.stride, 19, 7, 1};
    uint8_t *png = NULL;
    size_t size = 0;
    CHECK_EQ(img_encode_png(&gray, 6, &png, &size, NULL, 0), 0);

    /* Signature (8) + IHDR (25): the first IDAT of ours follows, so two
     * empty IDATs go in front of it (CRC of "IDAT" alone: 0x35af061e; this
     * test had IEND's, 0xae426082, which only a decoder that checks no CRC
     * accepts). */
    static const uint8_t empty_idat[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e};
    CHECK_MEM_EQ(png + 33 + 4, "IDAT", 4);
    uint8_t *padded = malloc(size + 24);
    CHECK(padded != NULL);
    memcpy(padded, png, 33);
    memcpy(padded + 33, empty_idat, 12);
    memcpy(padded + 45, empty_idat, 12);
    memcpy(padded + 57, png + 33, size - 33);

    for (int channels = 1; channels <= 3; channels += 2) {
        struct img_buf decoded;
        char err[256] = "";
        CHECK_EQ(img_decode(padded, size + 24, channels, 19 * 7, &decoded, err, sizeof(err)), 0);
        CHECK_EQ(decoded.width, 19);
        CHECK_EQ(decoded.height, 7);
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 19; x++)
                CHECK_EQ(decoded.data[(size_t)y * decoded.stride + (size_t)x * (size_t)channels],
                         gray.data[(size_t)y * gray.stride + (size_t)x]);
        img_buf_finish(&decoded);
    }
    free(padded);
    free(png);
    image_free(&noise);
}

int main(void)
{
    test_decode_png_types();
    test_decode_png_luma_in_place();
    test_png_orientation();
    test_decode_png_empty_idat();
    printf("imaging decode_png: all tests passed\n");
    return 0;
}
