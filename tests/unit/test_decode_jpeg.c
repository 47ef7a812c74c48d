/* Unit tests of imaging/: The JPEG decoder: the same pixels as libjpeg, EXIF orientations (APP1),
 * colour spaces (gray, YCbCr, RGB, CMYK, YCCK), failures. */
#include "imaging_cases.h"

static const uint8_t gray_jpeg[335] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03,
    0x03, 0x03, 0x03, 0x04, 0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07,
    0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d, 0x0e, 0x12, 0x10, 0x0d,
    0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x15, 0x15, 0x0c, 0x0f,
    0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08,
    0x00, 0x10, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03,
    0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00,
    0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32,
    0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
    0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35,
    0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55,
    0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
    0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2,
    0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9,
    0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6,
    0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda,
    0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0xf8, 0xbe, 0xbf, 0x64, 0x2b, 0xff, 0xd9,
};

/* ---- JPEG ------------------------------------------------------------- */

static void check_near(int got, int want, int tolerance)
{
    if (abs(got - want) > tolerance) {
        fprintf(stderr, "%d is not within %d of %d\n", got, tolerance, want);
        CHECK_LE(abs(got - want), tolerance);
    }
}

/* ---- JPEGs made here with libjpeg ------------------------------------- */

struct mem_jpeg {
    unsigned char *data;
    unsigned long size;
};

struct jpeg_spec {
    int width, height;
    J_COLOR_SPACE input;  /* JCS_GRAYSCALE, JCS_RGB or JCS_CMYK */
    J_COLOR_SPACE stored; /* as written: JCS_GRAYSCALE, JCS_YCbCr, JCS_RGB, JCS_CMYK, JCS_YCCK */
    int quality;
    bool progressive;
    bool full_chroma; /* 4:4:4 instead of libjpeg's default 4:2:0 */
    const uint8_t *app1;
    size_t app1_size;
};

/* Compresses `samples` (rows of width * components, tight). libjpeg's default
 * error handler exits the process, which fails the test. */
static struct mem_jpeg make_jpeg(const struct jpeg_spec *spec, const uint8_t *samples)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    struct mem_jpeg out = {NULL, 0};
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out.data, &out.size);
    cinfo.image_width = (JDIMENSION)spec->width;
    cinfo.image_height = (JDIMENSION)spec->height;
    cinfo.in_color_space = spec->input;
    cinfo.input_components = spec->input == JCS_GRAYSCALE ? 1 : spec->input == JCS_RGB ? 3 : 4;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, spec->stored);
    jpeg_set_quality(&cinfo, spec->quality, TRUE);
    if (spec->full_chroma)
        for (int c = 0; c < cinfo.num_components; c++)
            cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
    if (spec->progressive)
        jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    if (spec->app1 != NULL)
        jpeg_write_marker(&cinfo, JPEG_APP0 + 1, spec->app1, (unsigned)spec->app1_size);
    size_t row_bytes = (size_t)spec->width * (size_t)cinfo.input_components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(samples + cinfo.next_scanline * row_bytes);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return out;
}

/* `buf` must equal what libjpeg itself decodes from the file with the same
 * output colour space (grayscale for one channel, RGB for three). */
static void check_same_as_libjpeg(const uint8_t *data, size_t size, const struct img_buf *buf)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr errors;
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = buf->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    CHECK_EQ(cinfo.output_width, buf->width);
    CHECK_EQ(cinfo.output_height, buf->height);
    uint8_t *row = malloc((size_t)buf->width * (size_t)buf->channels);
    CHECK(row != NULL);
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
        CHECK_MEM_EQ(buf->data + y * buf->stride, row, (size_t)buf->width * (size_t)buf->channels);
    }
    free(row);
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
}

/* Inserts an APP1 segment with `payload` right after SOI. */
static uint8_t *splice_app1(const uint8_t *jpeg, size_t size, const uint8_t *payload,
                            size_t payload_size, size_t *out_size)
{
    uint8_t *out = malloc(size + 4 + payload_size);
    CHECK(out != NULL);
    memcpy(out, jpeg, 2);
    out[2] = 0xff;
    out[3] = 0xe1;
    out[4] = (uint8_t)((payload_size + 2) >> 8);
    out[5] = (uint8_t)(payload_size + 2);
    memcpy(out + 6, payload, payload_size);
    memcpy(out + 6 + payload_size, jpeg + 2, size - 2);
    *out_size = size + 4 + payload_size;
    return out;
}

static void test_jpeg_orientation(void)
{
    uint8_t pixels[16 * 32];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++)
            pixels[y * 32 + x] = block_levels[(y / 8) * 4 + x / 8];

    for (int orientation = 1; orientation <= 8; orientation++) {
        for (int big_endian = 0; big_endian <= 1; big_endian++) {
            uint8_t exif[64];
            size_t exif_size = make_exif(exif, big_endian, 3, (unsigned)orientation);
            struct jpeg_spec spec = {32,    16,    JCS_GRAYSCALE, JCS_GRAYSCALE, 100,
                                     false, false, exif,          exif_size};
            /* Progressive too: the decode path is the same, the file not. */
            spec.progressive = big_endian;
            struct mem_jpeg jpeg = make_jpeg(&spec, pixels);
            check_probe(jpeg.data, jpeg.size, IMG_FORMAT_JPEG, orientation >= 5 ? 16 : 32,
                        orientation >= 5 ? 32 : 16, 1);
            struct img_info info;
            CHECK_EQ(img_probe(jpeg.data, jpeg.size, &info, NULL, 0), 0);
            CHECK_EQ(info.orientation, orientation);
            for (int channels = 1; channels <= 3; channels += 2) {
                struct img_buf buf;
                char err[256] = "";
                CHECK_EQ(img_decode(jpeg.data, jpeg.size, channels, 512, &buf, err, sizeof(err)),
                         0);
                CHECK_EQ(buf.channels, channels);
                check_oriented(&buf, orientation);
                img_buf_finish(&buf);
            }
            /* The edge map faces the same way: Sobel of the upright image. */
            struct img_buf luma, edges;
            CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, 512, &luma, NULL, 0), 0);
            CHECK_EQ(img_apply(IMG_OP_SOBEL, &luma, &edges), 0);
            uint8_t want[512];
            reference_sobel(luma.data, luma.stride, want, (size_t)luma.width, luma.width,
                            luma.height);
            for (int y = 0; y < luma.height; y++)
                CHECK_MEM_EQ(edges.data + (size_t)y * edges.stride, want + y * luma.width,
                             (size_t)luma.width);
            img_buf_finish(&edges);
            img_buf_finish(&luma);
            free(jpeg.data);
        }
    }

    /* Spliced into a file made elsewhere (OpenCV's color_jpeg, 32x16): 6
     * turns it to 16x32, left half (200, 40, 40) on top. */
    uint8_t exif[64];
    size_t exif_size = make_exif(exif, true, 3, 6), spliced_size;
    uint8_t *spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, exif_size, &spliced_size);
    check_probe(spliced, spliced_size, IMG_FORMAT_JPEG, 16, 32, 3);
    struct img_buf rgb;
    CHECK_EQ(img_decode(spliced, spliced_size, 3, 512, &rgb, NULL, 0), 0);
    CHECK_EQ(rgb.width, 16);
    CHECK_EQ(rgb.height, 32);
    check_near(rgb.data[4 * rgb.stride + 8 * 3], 200, 6);
    check_near(rgb.data[27 * rgb.stride + 8 * 3 + 1], 180, 6);
    img_buf_finish(&rgb);
    free(spliced);

    /* Not an orientation: ignored (1). Out of range, wrong type, a LONG,
     * a cut IFD, a bad byte order mark. */
    struct img_info info;
    struct {
        unsigned type, value;
    } ignored[] = {{3, 0}, {3, 9}, {3, 0xffff}, {4, 6}, {1, 6}};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        exif_size = make_exif(exif, false, ignored[i].type, ignored[i].value);
        spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, exif_size, &spliced_size);
        CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
        CHECK_EQ(info.orientation, 1);
        CHECK_EQ(info.width, 32);
        free(spliced);
    }
    /* Cut anywhere before the end of the Orientation entry (6 + 8 header
     * + 2 count + 12 Make + 12 Orientation = 40 bytes): 1. Cutting only the
     * next-IFD offset after it leaves a complete entry. */
    exif_size = make_exif(exif, false, 3, 6);
    CHECK_EQ(exif_size, 44);
    for (size_t cut = 6; cut < 40; cut++) {
        spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, cut, &spliced_size);
        CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
        CHECK_EQ(info.orientation, 1);
        free(spliced);
    }
    spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, 40, &spliced_size);
    CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
    CHECK_EQ(info.orientation, 6);
    free(spliced);
    exif[6] = 'X';
    spliced = splice_app1(color_jpeg, sizeof(color_jpeg), exif, exif_size, &spliced_size);
    CHECK_EQ(img_probe(spliced, spliced_size, &info, NULL, 0), 0);
    CHECK_EQ(info.orientation, 1);
    free(spliced);
    /* A PNG without an eXIf chunk: 1 (PNG orientation: test_png_orientation). */
    uint8_t header_only[57];
    size_t header_size = make_png_header_only(header_only, 3, 2);
    CHECK_EQ(img_probe(header_only, header_size, &info, NULL, 0), 0);
    CHECK_EQ(info.orientation, 1);
}

/* A smooth colourful picture, so luma and colour conversions are exercised
 * everywhere (not only at flat blocks). */
static void fill_gradient_rgb(uint8_t *rgb, int width, int height)
{
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *p = rgb + 3 * ((size_t)y * width + x);
            p[0] = (uint8_t)(x * 255 / (width - 1));
            p[1] = (uint8_t)(y * 255 / (height - 1));
            p[2] = (uint8_t)((x + y) * 127 / (width + height) + 64 * ((x / 5 + y / 7) % 2));
        }
}

static void test_jpeg_color_spaces(void)
{
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3], gray[W * H];
    fill_gradient_rgb(rgb, W, H);
    for (int i = 0; i < W * H; i++)
        gray[i] = rgb[3 * i + 1];

    /* YCbCr 4:2:0 and 4:4:4, baseline and progressive; RGB-coded (Adobe
     * transform 0); gray. Luma and RGB are exactly libjpeg's own decodes. */
    struct jpeg_spec specs[] = {
        {W, H, JCS_RGB, JCS_YCbCr, 90, false, false, NULL, 0},
        {W, H, JCS_RGB, JCS_YCbCr, 90, true, false, NULL, 0},
        {W, H, JCS_RGB, JCS_YCbCr, 75, false, true, NULL, 0},
        {W, H, JCS_RGB, JCS_RGB, 90, false, true, NULL, 0},
        {W, H, JCS_GRAYSCALE, JCS_GRAYSCALE, 90, true, false, NULL, 0},
    };
    bool luma_differs_from_ours = false;
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct mem_jpeg jpeg = make_jpeg(&specs[i], specs[i].input == JCS_RGB ? rgb : gray);
        struct img_buf luma, color;
        char err[256] = "";
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, W * H, &luma, err, sizeof(err)), 0);
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 3, W * H, &color, err, sizeof(err)), 0);
        check_same_as_libjpeg(jpeg.data, jpeg.size, &luma);
        check_same_as_libjpeg(jpeg.data, jpeg.size, &color);
        /* Close to the picture, and for YCbCr files not img_rgb_to_luma of
         * the RGB decode: the Y channel skips chroma entirely. */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *p = color.data + (size_t)y * color.stride + 3 * (size_t)x;
                uint8_t l = luma.data[(size_t)y * luma.stride + (size_t)x];
                const uint8_t *truth = rgb + 3 * ((size_t)y * W + x);
                uint8_t truth_luma = specs[i].input == JCS_RGB
                                         ? reference_luma(truth[0], truth[1], truth[2])
                                         : gray[y * W + x];
                check_near(l, truth_luma, 12);
                if (specs[i].stored == JCS_YCbCr && l != reference_luma(p[0], p[1], p[2]))
                    luma_differs_from_ours = true;
            }
        img_buf_finish(&luma);
        img_buf_finish(&color);
        free(jpeg.data);
    }
    CHECK(luma_differs_from_ours);

    /* CMYK and YCCK, Adobe's inverted convention: with K = 255 the ink
     * values are the RGB; K = 128 halves them. Luma is our weights on the
     * RGB decode. */
    uint8_t cmyk[16 * 8 * 4];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) {
            static const uint8_t left[4] = {200, 40, 40, 255}, right[4] = {30, 180, 90, 128};
            memcpy(cmyk + 4 * (y * 16 + x), x < 8 ? left : right, 4);
        }
    J_COLOR_SPACE stored[2] = {JCS_CMYK, JCS_YCCK};
    for (int i = 0; i < 2; i++) {
        struct jpeg_spec spec = {16, 8, JCS_CMYK, stored[i], 95, false, true, NULL, 0};
        struct mem_jpeg jpeg = make_jpeg(&spec, cmyk);
        check_probe(jpeg.data, jpeg.size, IMG_FORMAT_JPEG, 16, 8, 3);
        struct img_buf color, luma;
        char err[256] = "";
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 3, 128, &color, err, sizeof(err)), 0);
        CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, 128, &luma, err, sizeof(err)), 0);
        static const int want_left[3] = {200, 40, 40}, want_right[3] = {15, 90, 45};
        for (int c = 0; c < 3; c++) {
            check_near(color.data[4 * color.stride + 3 * 3 + (size_t)c], want_left[c], 4);
            check_near(color.data[4 * color.stride + 12 * 3 + (size_t)c], want_right[c], 4);
        }
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 16; x++) {
                const uint8_t *p = color.data + (size_t)y * color.stride + 3 * (size_t)x;
                CHECK_EQ(luma.data[(size_t)y * luma.stride + (size_t)x],
                         reference_luma(p[0], p[1], p[2]));
            }
        img_buf_finish(&color);
        img_buf_finish(&luma);
        free(jpeg.data);
    }
}

/* A legal but absurd progressive gray JPEG: every one of the 64 coefficients
 * in a scan of its own, each sent in `passes` successive-approximation steps
 * (first at Al = passes - 1, then one refinement per bit): 64 * passes scans,
 * every one a pass over the whole image when decoding. */
static struct mem_jpeg make_many_scans_jpeg(const uint8_t *gray, int width, int height, int passes)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    struct mem_jpeg out = {NULL, 0};
    jpeg_scan_info *scans = calloc((size_t)(64 * passes), sizeof(*scans));
    CHECK(scans != NULL);
    int count = 0;
    for (int coefficient = 0; coefficient < 64; coefficient++)
        for (int pass = 0; pass < passes; pass++) {
            jpeg_scan_info *scan = &scans[count++];
            scan->comps_in_scan = 1;
            scan->component_index[0] = 0;
            scan->Ss = scan->Se = coefficient;
            scan->Al = passes - 1 - pass;
            scan->Ah = pass == 0 ? 0 : scan->Al + 1;
        }
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out.data, &out.size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.in_color_space = JCS_GRAYSCALE;
    cinfo.input_components = 1;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 95, TRUE);
    cinfo.scan_info = scans;
    cinfo.num_scans = count;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(gray + cinfo.next_scanline * (size_t)width);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(scans);
    return out;
}

static void test_jpeg_failures(void)
{
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3];
    fill_gradient_rgb(rgb, W, H);
    struct jpeg_spec spec = {W, H, JCS_RGB, JCS_YCbCr, 90, true, false, NULL, 0};
    struct mem_jpeg jpeg = make_jpeg(&spec, rgb);
    char err[256];
    struct img_buf buf;

    /* Progressive files: 64 scans over every block (a gray file) decode
     * only up to the scan-work limit (each scan is a pass over the whole
     * image: that is the CPU a hostile file could make us spend); the
     * limits themselves are tested in tests/unit/test_decode_limits.c. */
    uint8_t gray[W * H];
    for (int i = 0; i < W * H; i++)
        gray[i] = rgb[3 * i];
    struct mem_jpeg many = make_many_scans_jpeg(gray, W, H, 1);
    CHECK_EQ(img_probe(many.data, many.size, &(struct img_info){0}, NULL, 0), 0);
    CHECK_EQ(img_decode(many.data, many.size, 1, W * H, &buf, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "too much progressive scan work: 33 scans");
    CHECK(buf.data == NULL);
    free(many.data);

    /* A marker in the middle of the entropy-coded data: corrupt, with
     * libjpeg's words, not decoded into garbage. */
    uint8_t *corrupt = malloc(jpeg.size);
    CHECK(corrupt != NULL);
    memcpy(corrupt, jpeg.data, jpeg.size);
    const uint8_t *first_sos = memmem(corrupt, jpeg.size, "\xff\xda", 2);
    CHECK(first_sos != NULL);
    size_t data_start =
        (size_t)(first_sos - corrupt) + 2 + ((size_t)first_sos[2] << 8 | first_sos[3]);
    corrupt[data_start + 4] = 0xff;
    corrupt[data_start + 5] = 0xd9;
    CHECK_EQ(img_decode(corrupt, jpeg.size, 3, W * H, &buf, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "corrupt JPEG (libjpeg: Corrupt JPEG data");
    CHECK(buf.data == NULL);
    free(corrupt);

    /* The size libjpeg reads is checked against the limit too (here the
     * probe has already refused it: one pixel short). */
    CHECK_EQ(img_decode(jpeg.data, jpeg.size, 1, W * H - 1, &buf, err, sizeof(err)), -EFBIG);
    CHECK(buf.data == NULL);
    free(jpeg.data);
}

static void test_decode_jpeg(void)
{
    check_probe(color_jpeg, sizeof(color_jpeg), IMG_FORMAT_JPEG, 32, 16, 3);
    check_probe(gray_jpeg, sizeof(gray_jpeg), IMG_FORMAT_JPEG, 16, 8, 1);

    struct img_buf rgb, luma;
    char err[256] = "";
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 3, 512, &rgb, err, sizeof(err)), 0);
    CHECK_EQ(rgb.width, 32);
    CHECK_EQ(rgb.height, 16);
    CHECK_EQ(rgb.channels, 3);
    /* Block centres, away from the chroma blur at the colour boundary. */
    static const int left[3] = {200, 40, 40}, right[3] = {30, 180, 90};
    for (int c = 0; c < 3; c++) {
        check_near(rgb.data[8 * rgb.stride + 4 * 3 + (size_t)c], left[c], 6);
        check_near(rgb.data[8 * rgb.stride + 27 * 3 + (size_t)c], right[c], 6);
        check_near(rgb.data[0 * rgb.stride + 0 * 3 + (size_t)c], left[c], 8);
        check_near(rgb.data[15 * rgb.stride + 31 * 3 + (size_t)c], right[c], 8);
    }
    /* One channel is libjpeg's grayscale decode (the file's Y channel). */
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 1, 512, &luma, err, sizeof(err)), 0);
    CHECK_EQ(luma.channels, 1);
    check_same_as_libjpeg(color_jpeg, sizeof(color_jpeg), &luma);
    check_same_as_libjpeg(color_jpeg, sizeof(color_jpeg), &rgb);
    img_buf_finish(&rgb);
    img_buf_finish(&luma);

    /* A gray JPEG decodes straight to one channel; three are copies. */
    CHECK_EQ(img_decode(gray_jpeg, sizeof(gray_jpeg), 1, 128, &luma, err, sizeof(err)), 0);
    CHECK_EQ(img_decode(gray_jpeg, sizeof(gray_jpeg), 3, 128, &rgb, err, sizeof(err)), 0);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++) {
            uint8_t g = luma.data[(size_t)y * luma.stride + (size_t)x];
            check_near(g, x < 8 ? 50 : 200, 3);
            for (int c = 0; c < 3; c++)
                CHECK_EQ(rgb.data[(size_t)y * rgb.stride + 3 * (size_t)x + (size_t)c], g);
        }
    img_buf_finish(&rgb);
    img_buf_finish(&luma);
}

int main(void)
{
    test_decode_jpeg();
    test_jpeg_orientation();
    test_jpeg_color_spaces();
    test_jpeg_failures();
    printf("imaging decode_jpeg: all tests passed\n");
    return 0;
}
