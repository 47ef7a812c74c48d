/* The operators' cancel flag (img_bands_set_cancel, issue 16 item 3): with
 * the flag clear every operator gives img_apply's bytes, split or not; set,
 * img_bands_run stops with -ECANCELED (every operator, the 3x3 ones between
 * blocks of rows, Canny in its blur and gradient passes), and Canny's
 * hysteresis in img_bands_finish stops too. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imaging.h"

static void make_image(struct img_buf *image, int width, int height, int channels)
{
    CHECK_EQ(img_buf_init(image, width, height, channels), 0);
    uint64_t state = 0x1234567887654321u;
    for (size_t i = 0; i < image->stride * (size_t)height; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image->data[i] = (uint8_t)(((i % image->stride) / 9 % 2) * 200 + (state & 31));
    }
}

static void test_operator(enum img_operator op)
{
    struct img_buf src, want, got;
    make_image(&src, 301, 700, img_operator_channels(op));
    CHECK_EQ(img_apply(op, &src, &want), 0);

    atomic_int cancel;
    atomic_init(&cancel, 0);
    struct img_bands *bands;
    /* Clear: the same bytes, in one band and in three. */
    for (int split = 1; split <= 3; split += 2) {
        CHECK_EQ(img_bands_create(op, NULL, &src, &got, &bands), 0);
        img_bands_set_cancel(bands, &cancel);
        for (int b = 0; b < split; b++)
            CHECK_EQ(img_bands_run(bands, src.height * b / split, src.height * (b + 1) / split), 0);
        CHECK_EQ(img_bands_finish(bands), 0);
        img_bands_destroy(bands);
        CHECK_MEM_EQ(got.data, want.data, want.stride * (size_t)want.height);
        img_buf_finish(&got);
    }

    /* Set: the run stops. */
    atomic_store(&cancel, 1);
    CHECK_EQ(img_bands_create(op, NULL, &src, &got, &bands), 0);
    img_bands_set_cancel(bands, &cancel);
    CHECK_EQ(img_bands_run(bands, 0, src.height), -ECANCELED);
    img_bands_destroy(bands);
    img_buf_finish(&got);

    if (op == IMG_OP_CANNY) {
        /* Set after the rows: the hysteresis stops. */
        atomic_store(&cancel, 0);
        CHECK_EQ(img_bands_create(op, NULL, &src, &got, &bands), 0);
        img_bands_set_cancel(bands, &cancel);
        CHECK_EQ(img_bands_run(bands, 0, src.height), 0);
        atomic_store(&cancel, 1);
        CHECK_EQ(img_bands_finish(bands), -ECANCELED);
        img_bands_destroy(bands);
        img_buf_finish(&got);
    }
    img_buf_finish(&want);
    img_buf_finish(&src);
}

int main(void)
{
    for (int op = IMG_OP_SOBEL; img_operator_channels((enum img_operator)op) > 0; op++)
        test_operator((enum img_operator)op);
    printf("ok\n");
    return 0;
}
