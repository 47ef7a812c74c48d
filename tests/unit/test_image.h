/* Gray test images with random stride padding, for the unit tests of row
 * bands and the fused pass (test_png_bands.c, test_fused.c): the same seed
 * gives the same bytes. Static inline: each test executable includes it
 * once. Failures abort (check.h). */
#ifndef EDGEFETCH_TEST_IMAGE_H
#define EDGEFETCH_TEST_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "imaging.h"
#include "test_random.h"

/* A byte of the image at (x, y) (x up to the stride: padding too), given
 * `noise`, a fresh random byte, and the caller's `pattern`. */
typedef uint8_t (*test_pixel_fn)(const struct img_buf *image, size_t x, int y, uint8_t noise,
                                 int pattern);

/* A width×height one-channel image whose stride is width plus 0 to
 * padding_choices - 1 random bytes; every byte from `pixel`. */
static inline void make_padded_image(struct img_buf *image, int width, int height,
                                     uint32_t padding_choices, test_pixel_fn pixel, int pattern,
                                     uint64_t *rng)
{
    size_t stride = (size_t)width + next_random(rng) % padding_choices;
    image->data = malloc(stride * (size_t)height);
    CHECK(image->data != NULL);
    image->stride = stride;
    image->width = width;
    image->height = height;
    image->channels = 1;
    for (int y = 0; y < height; y++) {
        uint8_t *row = image->data + (size_t)y * stride;
        for (size_t x = 0; x < stride; x++)
            row[x] = pixel(image, x, y, (uint8_t)next_random(rng), pattern);
    }
}

#endif
