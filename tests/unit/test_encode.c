/* Unit tests of imaging/: The PNG encoder: round trips through libpng at every level, filter and
 * strategy. */
#include "imaging_cases.h"

/* ---- encode ----------------------------------------------------------- */

/* img_encode_png at `level` gives the bytes of these explicit settings, and
 * they decode back to the pixels. */
static void check_encoded_with(const struct img_buf *gray, int level, int filters, int strategy)
{
    uint8_t *chosen = NULL, *explicit = NULL;
    size_t chosen_size = 0, explicit_size = 0;
    CHECK_EQ(img_encode_png(gray, level, &chosen, &chosen_size, NULL, 0), 0);
    CHECK_EQ(
        img__encode_png_with(gray, level, filters, strategy, &explicit, &explicit_size, NULL, 0),
        0);
    CHECK_EQ(chosen_size, explicit_size);
    CHECK_MEM_EQ(chosen, explicit, chosen_size);
    struct img_buf decoded;
    CHECK_EQ(img_decode(chosen, chosen_size, 1, UINT64_MAX, &decoded, NULL, 0), 0);
    for (int y = 0; y < gray->height; y++)
        CHECK_MEM_EQ(decoded.data + (size_t)y * decoded.stride,
                     gray->data + (size_t)y * gray->stride, (size_t)gray->width);
    img_buf_finish(&decoded);
    free(chosen);
    free(explicit);
}

static void test_encode_round_trip(void)
{
    /* A random image and a Sobel edge map of it (the real workload), with a
     * stride wider than the row. */
    struct test_image noise = image_new(37, 23, 1, 9);
    struct test_image edges = image_new(37, 23, 1, 3);
    img_sobel(noise.data, noise.stride, edges.data, edges.stride, 37, 23);
    struct test_image *images[2] = {&noise, &edges};

    for (int which = 0; which < 2; which++) {
        struct img_buf gray = {images[which]->data, images[which]->stride, 37, 23, 1};
        for (int level = 0; level <= 9; level++) {
            uint8_t *png = NULL, *again = NULL;
            size_t size = 0, again_size = 0;
            char err[256] = "";
            CHECK_EQ(img_encode_png(&gray, level, &png, &size, err, sizeof(err)), 0);
            CHECK(png != NULL);
            CHECK_GT(size, 8);

            /* Deterministic: same bytes twice. */
            CHECK_EQ(img_encode_png(&gray, level, &again, &again_size, err, sizeof(err)), 0);
            CHECK_EQ(again_size, size);
            CHECK_MEM_EQ(again, png, size);

            check_probe(png, size, IMG_FORMAT_PNG, 37, 23, 1);
            struct img_buf decoded;
            CHECK_EQ(img_decode(png, size, 1, 37 * 23, &decoded, err, sizeof(err)), 0);
            for (int y = 0; y < 23; y++)
                CHECK_MEM_EQ(decoded.data + (size_t)y * decoded.stride,
                             gray.data + (size_t)y * gray.stride, 37);
            img_buf_finish(&decoded);
            free(png);
            free(again);
        }
    }

    /* Levels compress: 9 is no bigger than 0 on an edge map. */
    struct img_buf gray = {edges.data, edges.stride, 37, 23, 1};
    uint8_t *stored = NULL, *packed = NULL;
    size_t stored_size = 0, packed_size = 0;
    CHECK_EQ(img_encode_png(&gray, 0, &stored, &stored_size, NULL, 0), 0);
    CHECK_EQ(img_encode_png(&gray, 9, &packed, &packed_size, NULL, 0), 0);
    CHECK_LT(packed_size, stored_size);
    /* Level 0 is stored: at least the raw rows (one filter byte each). */
    CHECK_GE(stored_size, 23 * (37 + 1));
    free(stored);
    free(packed);

    /* The filter choice: a Sobel map gets png_rle.c's encoder with PAETH at
     * level 1, with every filter (libpng's rule) at 2-9; a map of only 0 and
     * 255 (Canny, tutorial) no filter and zlib's Z_RLE at every level above
     * 0, and one pixel of 254 makes it an ordinary map again. */
    check_encoded_with(&gray, 1, PNG_FILTER_PAETH, IMG__STRATEGY_FAST_RLE);
    struct test_image binary = image_new(61, 29, 1, 5);
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 61; x++)
            binary.data[(size_t)y * binary.stride + (size_t)x] = (rng_next() % 7 == 0) ? 255 : 0;
    struct img_buf two_level = {binary.data, binary.stride, 61, 29, 1};
    for (int level = 1; level <= 9; level++)
        check_encoded_with(&two_level, level, PNG_FILTER_NONE, Z_RLE);
    check_encoded_with(&two_level, 0, PNG_FILTER_NONE, Z_DEFAULT_STRATEGY);
    binary.data[28 * binary.stride + 60] = 254;
    check_encoded_with(&two_level, 1, PNG_FILTER_PAETH, IMG__STRATEGY_FAST_RLE);
    check_encoded_with(&two_level, 2, PNG_ALL_FILTERS, IMG__STRATEGY_FAST_RLE);
    check_encoded_with(&two_level, 9, PNG_ALL_FILTERS, IMG__STRATEGY_FAST_RLE);
    image_free(&binary);

    /* Refusals. */
    uint8_t *png = (uint8_t *)1;
    size_t size = 1;
    char err[256] = "";
    CHECK_EQ(img_encode_png(&gray, 10, &png, &size, err, sizeof(err)), -EINVAL);
    CHECK(png == NULL);
    CHECK_EQ(size, 0);
    CHECK_EQ(img_encode_png(&gray, -1, &png, &size, err, sizeof(err)), -EINVAL);
    struct img_buf rgb = {noise.data, noise.stride, 12, 23, 3};
    CHECK_EQ(img_encode_png(&rgb, 1, &png, &size, err, sizeof(err)), -EINVAL);
    CHECK(png == NULL);
    image_free(&noise);
    image_free(&edges);
}

int main(void)
{
    test_encode_round_trip();
    printf("imaging encode: all tests passed\n");
    return 0;
}
