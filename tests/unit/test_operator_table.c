/* Unit tests of imaging/: img_buf and the operator table: names, parameters, img_apply_with on
 * every operator. */
#include "imaging_cases.h"

/* ---- img_buf and the operator table ----------------------------------- */

static void test_buf(void)
{
    struct img_buf buf;
    CHECK_EQ(img_buf_init(&buf, 7, 5, 3), 0);
    CHECK(buf.data != NULL);
    CHECK_EQ(buf.stride, 21);
    CHECK_EQ(buf.width, 7);
    CHECK_EQ(buf.height, 5);
    CHECK_EQ(buf.channels, 3);
    memset(buf.data, 1, buf.stride * 5);
    img_buf_finish(&buf);
    CHECK(buf.data == NULL);
    img_buf_finish(&buf); /* twice is fine */
    img_buf_finish(NULL);

    CHECK_EQ(img_buf_init(&buf, 0, 5, 1), -EINVAL);
    CHECK(buf.data == NULL);
    CHECK_EQ(img_buf_init(&buf, 5, 0, 1), -EINVAL);
    CHECK_EQ(img_buf_init(&buf, 5, -1, 1), -EINVAL);
    CHECK_EQ(img_buf_init(&buf, 5, 5, 0), -EINVAL);
    CHECK_EQ(img_buf_init(&buf, 5, 5, 5), -EINVAL);
}

static void test_operators(void)
{
    enum img_operator op;
    static const struct {
        const char *name;
        enum img_operator op;
        int channels;
    } table[] = {
        {"sobel", IMG_OP_SOBEL, 1},   {"tutorial", IMG_OP_TUTORIAL, 3},
        {"scharr", IMG_OP_SCHARR, 1}, {"prewitt", IMG_OP_PREWITT, 1},
        {"canny", IMG_OP_CANNY, 1},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        CHECK_EQ(img_operator_from_name(table[i].name, &op), 0);
        CHECK_EQ(op, table[i].op);
        CHECK_STR_EQ(img_operator_name(table[i].op), table[i].name);
        CHECK_EQ(img_operator_channels(table[i].op), table[i].channels);
    }
    /* Contiguous from 0: the first invalid value ends an enumeration. */
    CHECK_LT(img_operator_channels((enum img_operator)5), 0);
    op = IMG_OP_TUTORIAL;
    CHECK_EQ(img_operator_from_name("Canny", &op), -EINVAL);
    CHECK_EQ(img_operator_from_name("", &op), -EINVAL);
    CHECK_EQ(img_operator_from_name("sobelx", &op), -EINVAL);
    CHECK_EQ(img_operator_from_name(NULL, &op), -EINVAL);
    CHECK_EQ(op, IMG_OP_TUTORIAL); /* untouched on failure */
    CHECK_STR_EQ(img_operator_name(IMG_OP_SOBEL), "sobel");
    CHECK_STR_EQ(img_operator_name(IMG_OP_TUTORIAL), "tutorial");
    CHECK(img_operator_name((enum img_operator)42) != NULL);
    CHECK_EQ(img_operator_channels(IMG_OP_SOBEL), 1);
    CHECK_EQ(img_operator_channels(IMG_OP_TUTORIAL), 3);
    CHECK_LT(img_operator_channels((enum img_operator)42), 0);

    /* img_apply runs the same kernels, honouring the source stride. */
    struct test_image gray = image_new(19, 11, 1, 4);
    struct test_image rgb = image_new(19, 11, 3, 4);
    uint8_t want[19 * 11];
    struct img_buf src = {gray.data, gray.stride, 19, 11, 1};
    struct img_buf dst;
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &src, &dst), 0);
    CHECK_EQ(dst.width, 19);
    CHECK_EQ(dst.height, 11);
    CHECK_EQ(dst.channels, 1);
    reference_sobel(gray.data, gray.stride, want, 19, 19, 11);
    for (int y = 0; y < 11; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 19 * y, 19);
    img_buf_finish(&dst);

    struct img_buf src_rgb = {rgb.data, rgb.stride, 19, 11, 3};
    CHECK_EQ(img_apply(IMG_OP_TUTORIAL, &src_rgb, &dst), 0);
    reference_tutorial(rgb.data, rgb.stride, want, 19, 19, 11);
    for (int y = 0; y < 11; y++)
        CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 19 * y, 19);
    img_buf_finish(&dst);

    kernel_fn luma_references[] = {reference_scharr, reference_prewitt};
    enum img_operator luma_ops[] = {IMG_OP_SCHARR, IMG_OP_PREWITT};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(img_apply(luma_ops[i], &src, &dst), 0);
        luma_references[i](gray.data, gray.stride, want, 19, 19, 11);
        for (int y = 0; y < 11; y++)
            CHECK_MEM_EQ(dst.data + (size_t)y * dst.stride, want + 19 * y, 19);
        img_buf_finish(&dst);
        CHECK_EQ(img_apply(luma_ops[i], &src_rgb, &dst), -EINVAL);
    }
    CHECK_EQ(img_apply(IMG_OP_CANNY, &src_rgb, &dst), -EINVAL);

    /* Wrong channel count for the operator. */
    CHECK_EQ(img_apply(IMG_OP_SOBEL, &src_rgb, &dst), -EINVAL);
    CHECK(dst.data == NULL);
    CHECK_EQ(img_apply(IMG_OP_TUTORIAL, &src, &dst), -EINVAL);
    CHECK_EQ(img_apply((enum img_operator)42, &src, &dst), -EINVAL);
    image_free(&gray);
    image_free(&rgb);
}

int main(void)
{
    test_buf();
    test_operators();
    printf("imaging operator_table: all tests passed\n");
    return 0;
}
