/* Unit tests of imaging/: Refusals: bodies that are not images we accept, with their messages and
 * kinds, and stb_image's failure reason kept per thread. */
#include "imaging_cases.h"

/* ---- refusals --------------------------------------------------------- */

static int decode_error(const uint8_t *data, size_t size, uint64_t max_pixels, char *err,
                        size_t err_size)
{
    struct img_buf buf;
    memset(err, 0, err_size);
    int ret = img_decode(data, size, 1, max_pixels, &buf, err, err_size);
    if (ret == 0) {
        img_buf_finish(&buf);
        return 0;
    }
    CHECK(buf.data == NULL);
    CHECK(err[0] != '\0');
    return ret;
}

static int probe_error(const uint8_t *data, size_t size, char *err, size_t err_size)
{
    struct img_info info;
    memset(err, 0, err_size);
    int ret = img_probe(data, size, &info, err, err_size);
    if (ret != 0)
        CHECK(err[0] != '\0');
    return ret;
}

static void test_refusals(void)
{
    char err[256];

    /* Empty. */
    CHECK_EQ(probe_error((const uint8_t *)"", 0, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "empty body");
    CHECK_EQ(decode_error(NULL, 0, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "empty body");

    /* An error page: the message quotes its first line. */
    static const char html[] = "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n";
    CHECK_EQ(decode_error((const uint8_t *)html, strlen(html), 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: starts with \"<!DOCTYPE html>\"");
    /* Leading blank lines skipped, quotes escaped, long lines cut at 24. */
    static const char json[] = "\r\n  {\"error\": \"rate limited\", \"retry\": 30}";
    CHECK_EQ(decode_error((const uint8_t *)json, strlen(json), 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: starts with \"{\\\"error\\\": \\\"rate limited\\\"\"...");
    CHECK_EQ(decode_error((const uint8_t *)"\r\n \n", 4, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: 4 bytes of white space");
    /* Short text is quoted whole. */
    CHECK_EQ(decode_error((const uint8_t *)"OK", 2, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "not an image: starts with \"OK\"");

    /* Random bytes: described as bytes. */
    uint8_t noise[256];
    fill_random(noise, sizeof(noise));
    noise[0] = 0x00;
    noise[1] = 0x13;
    CHECK_EQ(decode_error(noise, sizeof(noise), 100, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "not an image: starts with bytes 00 13 ");

    /* GIF and WebP are decoded now (issue 14; tests/unit/test_formats.c):
     * these headers without their pixels are cut files. */
    /* (A build without them, meson's -Dgif=disabled / -Dwebp=disabled,
     * names them as unsupported formats.) */
    static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00";
    CHECK_EQ(decode_error(gif, sizeof(gif) - 1, 100, err, sizeof(err)), -EINVAL);
    if (strstr(img_accept_header(), "image/gif") != NULL)
        CHECK_STR_EQ(err, "truncated GIF (body ends after 19 bytes)");
    else
        CHECK_STR_EQ(err, "unsupported format (GIF)");
    static const uint8_t webp[] = "RIFF\x24\x00\x00\x00WEBPVP8 ";
    CHECK_EQ(decode_error(webp, sizeof(webp) - 1, 100, err, sizeof(err)), -EINVAL);
    if (strstr(img_accept_header(), "image/webp") != NULL)
        CHECK_CONTAINS(err, "truncated WebP");
    else
        CHECK_STR_EQ(err, "unsupported format (WebP)");
    /* Formats we recognise but do not decode. */
    static const uint8_t jxl[] = "\xff\x0a\xfa\x3f\x00\x00\x00\x00";
    CHECK_EQ(decode_error(jxl, sizeof(jxl) - 1, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported format (JPEG XL)");
    static const uint8_t svg[] =
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    CHECK_EQ(decode_error(svg, sizeof(svg) - 1, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported format (SVG)");

    /* A valid PNG (noise, so the IDAT is big) cut at various places. */
    struct test_image picture = image_new(64, 64, 1, 0);
    struct img_buf gray = {picture.data, picture.stride, 64, 64, 1};
    uint8_t *png = NULL;
    size_t png_size = 0;
    CHECK_EQ(img_encode_png(&gray, 1, &png, &png_size, err, sizeof(err)), 0);
    CHECK_GT(png_size, 4096);
    CHECK_EQ(decode_error(png, png_size, 4096, err, sizeof(err)), 0);
    CHECK_EQ(probe_error(png, 5, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated PNG header (5 bytes)");
    CHECK_EQ(probe_error(png, 20, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated PNG header (20 bytes)");
    /* Header intact, pixels cut: probe is fine, decode is not. */
    CHECK_EQ(probe_error(png, png_size / 2, err, sizeof(err)), 0);
    CHECK_EQ(decode_error(png, png_size / 2, 4096, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG (IDAT chunk cut short");
    CHECK_EQ(decode_error(png, png_size - 12, 4096, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG (no IEND chunk");
    CHECK_EQ(decode_error(png, png_size - 8, 4096, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated PNG (chunk header cut short");
    /* Only IEND's CRC missing: every pixel is there, every CRC before it
     * checked: decoded (as stb, which read no CRC, did). */
    CHECK_EQ(decode_error(png, png_size - 4, 4096, err, sizeof(err)), 0);

    /* Corrupt zlib stream in a complete file: the decoder's reason is kept. */
    uint8_t *corrupt = malloc(png_size);
    CHECK(corrupt != NULL);
    memcpy(corrupt, png, png_size);
    uint8_t *idat = memmem(corrupt, png_size, "IDAT", 4);
    CHECK(idat != NULL);
    idat[4] = 0x00; /* zlib CMF byte */
    CHECK_EQ(decode_error(corrupt, png_size, 4096, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "corrupt PNG (libpng: IDAT: incorrect header check)");
    free(corrupt);

    /* The pixel limit: exactly at it passes, one below it refuses. */
    CHECK_EQ(decode_error(png, png_size, 64 * 64, err, sizeof(err)), 0);
    CHECK_EQ(decode_error(png, png_size, 64 * 64 - 1, err, sizeof(err)), -EFBIG);
    CHECK_STR_EQ(err, "image is 64x64 (4096 pixels), over the 4095 pixels limit");
    free(png);
    image_free(&picture);

    /* A header claiming 50000x50000 is refused on the claim, before any
     * pixel memory: the file has no pixel data, so a decoder that tried
     * would fail with -EINVAL instead. */
    uint8_t huge[57];
    size_t huge_size = make_png_header_only(huge, 50000, 50000);
    check_probe(huge, huge_size, IMG_FORMAT_PNG, 50000, 50000, 1);
    CHECK_EQ(decode_error(huge, huge_size, 100000000, err, sizeof(err)), -EFBIG);
    CHECK_STR_EQ(err, "image is 50000x50000 (2500.0 MP), over the 100 MP limit");
    /* Without a limit of ours, the decoder's own bound (sides up to 65536,
     * 2^30 pixels) still refuses it early. */
    CHECK_EQ(decode_error(huge, huge_size, UINT64_MAX, err, sizeof(err)), -EFBIG);
    CHECK_CONTAINS(err, "too large for the decoder");
    /* Sides past 65536 likewise. */
    huge_size = make_png_header_only(huge, 70000, 1);
    check_probe(huge, huge_size, IMG_FORMAT_PNG, 70000, 1, 1);
    CHECK_EQ(decode_error(huge, huge_size, UINT64_MAX, err, sizeof(err)), -EFBIG);
    /* A zero width is corrupt. */
    huge_size = make_png_header_only(huge, 0, 10);
    CHECK_EQ(probe_error(huge, huge_size, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "corrupt PNG header");

    /* JPEG cut inside the headers, inside the scan, and just before EOI. */
    CHECK_EQ(probe_error(color_jpeg, 2, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated JPEG header (2 bytes)");
    CHECK_EQ(probe_error(color_jpeg, 100, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "truncated JPEG header (100 bytes)");
    const uint8_t *scan = memmem(color_jpeg, sizeof(color_jpeg), "\xff\xda", 2);
    CHECK(scan != NULL);
    size_t scan_start = (size_t)(scan - color_jpeg) + 2 + ((size_t)scan[2] << 8 | scan[3]);
    size_t mid_scan = scan_start + (sizeof(color_jpeg) - 2 - scan_start) / 2;
    CHECK_LT(scan_start, mid_scan);
    CHECK_EQ(probe_error(color_jpeg, mid_scan, err, sizeof(err)), 0);
    CHECK_EQ(decode_error(color_jpeg, mid_scan, 512, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated JPEG (no end-of-image marker");
    CHECK_EQ(decode_error(color_jpeg, sizeof(color_jpeg) - 2, 512, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "truncated JPEG (no end-of-image marker");
    /* Trailing bytes after EOI are accepted (cameras append data). */
    uint8_t *trailing = malloc(sizeof(color_jpeg) + 16);
    CHECK(trailing != NULL);
    memcpy(trailing, color_jpeg, sizeof(color_jpeg));
    memset(trailing + sizeof(color_jpeg), 0, 16);
    CHECK_EQ(decode_error(trailing, sizeof(color_jpeg) + 16, 512, err, sizeof(err)), 0);
    free(trailing);
    /* The pixel limit applies to JPEG too: 32x16 = 512. */
    CHECK_EQ(decode_error(color_jpeg, sizeof(color_jpeg), 511, err, sizeof(err)), -EFBIG);

    /* JPEG after SOI, then garbage: no frame header. */
    uint8_t jpeg_noise[128];
    fill_random(jpeg_noise, sizeof(jpeg_noise));
    jpeg_noise[0] = 0xff;
    jpeg_noise[1] = 0xd8;
    jpeg_noise[2] = 0xff;
    CHECK_EQ(decode_error(jpeg_noise, sizeof(jpeg_noise), 1u << 30, err, sizeof(err)), -EINVAL);
    CHECK_CONTAINS(err, "JPEG");

    /* A 12-bit JPEG frame header is named as unsupported. */
    uint8_t twelve[sizeof(color_jpeg)];
    memcpy(twelve, color_jpeg, sizeof(twelve));
    uint8_t *sof = memmem(twelve, sizeof(twelve), "\xff\xc0", 2);
    CHECK(sof != NULL);
    sof[4] = 12;
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported JPEG (12-bit samples)");
    sof[4] = 8;
    sof[9] = 2; /* component count */
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported JPEG (2 components)");
    sof[9] = 3;
    sof[11] = 0x00; /* first component's sampling factors: stb's own check */
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "corrupt JPEG header (libjpeg: Bogus sampling factors)");
    /* Arithmetic coding (SOF9) is named. */
    memcpy(twelve, color_jpeg, sizeof(twelve));
    sof[1] = 0xc9;
    CHECK_EQ(probe_error(twelve, sizeof(twelve), err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, "unsupported JPEG (arithmetic-coded, SOF9)");

    /* Bad arguments. */
    struct img_buf buf;
    CHECK_EQ(img_decode(color_jpeg, sizeof(color_jpeg), 2, 512, &buf, err, sizeof(err)), -EINVAL);
    CHECK(buf.data == NULL);
    /* A NULL or empty error buffer is allowed. */
    CHECK_EQ(img_decode(NULL, 0, 1, 512, &buf, NULL, 0), -EINVAL);
    char tiny[4];
    CHECK_EQ(img_decode((const uint8_t *)html, strlen(html), 1, 512, &buf, tiny, sizeof(tiny)),
             -EINVAL);
    CHECK_STR_EQ(tiny, "not");
}

/* ---- stb's failure reason is per thread ------------------------------- */

struct reason_worker {
    const uint8_t *data;
    size_t size;
    const char *expected;
    int iterations;
};

static void *reason_worker_run(void *arg)
{
    const struct reason_worker *worker = arg;
    char err[256];
    for (int i = 0; i < worker->iterations; i++) {
        struct img_buf buf;
        int ret = img_decode(worker->data, worker->size, 3, 1u << 20, &buf, err, sizeof(err));
        CHECK_EQ(ret, -EINVAL);
        CHECK_STR_EQ(err, worker->expected);
    }
    return NULL;
}

static void test_failure_reason_per_thread(void)
{
    /* Two workers fail for different reasons at the same time, one in
     * libjpeg (its message lives in the decode's own error manager) and one
     * in stb (stbi_failure_reason must be thread-local); each must see its
     * own. */
    uint8_t bad_jpeg[sizeof(color_jpeg)];
    memcpy(bad_jpeg, color_jpeg, sizeof(bad_jpeg));
    uint8_t *sos = memmem(bad_jpeg, sizeof(bad_jpeg), "\xff\xda", 2);
    CHECK(sos != NULL);
    sos[4] = 5; /* component count in the scan header */

    struct test_image picture = image_new(16, 16, 1, 0);
    struct img_buf gray = {picture.data, picture.stride, 16, 16, 1};
    uint8_t *bad_png = NULL;
    size_t bad_png_size = 0;
    CHECK_EQ(img_encode_png(&gray, 6, &bad_png, &bad_png_size, NULL, 0), 0);
    uint8_t *idat = memmem(bad_png, bad_png_size, "IDAT", 4);
    CHECK(idat != NULL);
    idat[4] = 0x00;

    struct reason_worker workers[2] = {
        {bad_jpeg, sizeof(bad_jpeg), "corrupt JPEG header (libjpeg: Bogus marker length)", 3000},
        {bad_png, bad_png_size, "corrupt PNG (libpng: IDAT: incorrect header check)", 3000},
    };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&threads[i], NULL, reason_worker_run, &workers[i]), 0);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_join(threads[i], NULL), 0);
    free(bad_png);
    image_free(&picture);
}

int main(void)
{
    test_refusals();
    test_failure_reason_per_thread();
    printf("imaging refusals: all tests passed\n");
    return 0;
}
