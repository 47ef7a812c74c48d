/* Lossless WebP (VP8L) files written bit by bit, for the tests of the
 * Huffman-group part of the memory estimate: libwebp allocates Huffman
 * tables per group of the meta-prefix (entropy) image, and an encoder may
 * use up to 65536 groups where cwebp uses a few dozen. The file here uses
 * one group per entropy pixel: a `groups` x 1 strip of 4x4 blocks at
 * huffman_bits 2 (the image is 4*groups x 4 pixels, or taller and folded
 * into rows when groups > 4096), each group's five codes a single symbol
 * (no bits per pixel), optionally with a colour cache. Everything per the
 * WebP lossless bitstream specification (RFC 9649). Include in one test. */
#ifndef EDGEFETCH_MAKE_VP8L_H
#define EDGEFETCH_MAKE_VP8L_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "make_images.h"

struct vp8l_bits {
    uint8_t *data;
    size_t capacity;
    size_t bits;
};

static void vp8l_put(struct vp8l_bits *w, uint32_t value, int count)
{
    for (int i = 0; i < count; i++) {
        size_t byte = w->bits >> 3;
        if (byte >= w->capacity) {
            w->capacity = w->capacity ? 2 * w->capacity : 4096;
            w->data = realloc(w->data, w->capacity);
            CHECK(w->data != NULL);
            memset(w->data + byte, 0, w->capacity - byte);
        }
        if ((value >> i) & 1)
            w->data[byte] |= (uint8_t)(1u << (w->bits & 7));
        w->bits++;
    }
}

/* A Huffman code word, most significant bit first (the format's order). */
static void vp8l_put_code(struct vp8l_bits *w, uint32_t code, int length)
{
    for (int i = length - 1; i >= 0; i--)
        vp8l_put(w, (code >> i) & 1, 1);
}

/* A simple code of one symbol (< 256): no bits per use. */
static void vp8l_simple1(struct vp8l_bits *w, unsigned symbol)
{
    vp8l_put(w, 1, 1); /* simple */
    vp8l_put(w, 0, 1); /* one symbol */
    vp8l_put(w, 1, 1); /* 8-bit symbol */
    vp8l_put(w, symbol, 8);
}

/* A normal code giving symbols 0..255 of an `alphabet`-sized alphabet the
 * length 8 (symbol s is code s) and the rest 0. The code-length code has
 * two symbols of length 1: 0 (code 0) and 8 (code 1); kCodeLengthCodeOrder
 * is 17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8: twelve lengths written. */
static void vp8l_flat256(struct vp8l_bits *w, unsigned alphabet)
{
    vp8l_put(w, 0, 1);      /* normal */
    vp8l_put(w, 12 - 4, 4); /* twelve code-length code lengths */
    for (int i = 0; i < 12; i++)
        vp8l_put(w, i == 2 || i == 11 ? 1 : 0, 3); /* symbol 0 at 2, symbol 8 at 11 */
    vp8l_put(w, 0, 1);                             /* no max_symbol: every length follows */
    for (unsigned s = 0; s < alphabet; s++)
        vp8l_put_code(w, s < 256 ? 1 : 0, 1);
}

/* The RIFF/WEBP/VP8L file of `groups` groups (1..65536) with a colour
 * cache of `cache_bits` (0 = none, 1..11) in the main image. With `wide`,
 * each group's green, red, blue and alpha codes are normal codes of 256
 * symbols of 8 bits (about 190 bytes a group, pixels 32 bits each): a long
 * header for the memory its tables take. */
static struct mem_image make_vp8l_file(unsigned groups, unsigned cache_bits, bool wide)
{
    struct vp8l_bits w = {NULL, 0, 0};
    unsigned strip = groups < 4096 ? groups : 4096; /* entropy pixels per row */
    unsigned rows = (groups + strip - 1) / strip;
    unsigned width = 4 * strip, height = 4 * rows;
    vp8l_put(&w, 0x2f, 8);
    vp8l_put(&w, width - 1, 14);
    vp8l_put(&w, height - 1, 14);
    vp8l_put(&w, 0, 1); /* alpha_is_used */
    vp8l_put(&w, 0, 3); /* version */
    vp8l_put(&w, 0, 1); /* no transform */
    vp8l_put(&w, cache_bits > 0, 1);
    if (cache_bits > 0)
        vp8l_put(&w, cache_bits, 4);
    vp8l_put(&w, 1, 1); /* meta prefix codes */
    vp8l_put(&w, 0, 3); /* huffman_bits 2 */
    /* The entropy image (strip x rows): no cache, one group; green and red
     * literal 8-bit codes, blue, alpha and distance one symbol. Entropy
     * pixel i holds group i (red = high byte, green = low byte), the
     * pixels past `groups` group 0. */
    vp8l_put(&w, 0, 1);
    vp8l_flat256(&w, 256 + 24);
    vp8l_flat256(&w, 256);
    vp8l_simple1(&w, 0);
    vp8l_simple1(&w, 0);
    vp8l_simple1(&w, 0);
    for (unsigned i = 0; i < strip * rows; i++) {
        unsigned group = i < groups ? i : 0;
        vp8l_put_code(&w, group & 0xff, 8);
        vp8l_put_code(&w, group >> 8, 8);
    }
    /* Each group: five one-symbol codes (green 0, red, blue, alpha 0,
     * distance 0), or with `wide` four 8-bit codes and the distance's. */
    for (unsigned g = 0; g < groups; g++) {
        for (int c = 0; c < 5; c++) {
            if (wide && c < 4)
                vp8l_flat256(&w, c == 0 ? 256 + 24 + (cache_bits ? 1u << cache_bits : 0) : 256);
            else
                vp8l_simple1(&w, c == 1 ? g & 0xff : 0);
        }
    }
    /* The pixels cost nothing (every code has one symbol), or with `wide`
     * four 8-bit words of zeros (symbol 0 of each flat code is code 0). */
    if (wide)
        for (size_t i = 0; i < (size_t)width * height; i++)
            vp8l_put(&w, 0, 32);
    size_t vp8l_size = (w.bits + 7) / 8;
    size_t padded = vp8l_size + (vp8l_size & 1);
    struct mem_image out = {calloc(1, 20 + padded), 20 + padded};
    CHECK(out.data != NULL);
    memcpy(out.data, "RIFF", 4);
    uint32_t riff = (uint32_t)(12 + padded);
    uint32_t chunk = (uint32_t)vp8l_size;
    for (int i = 0; i < 4; i++) {
        out.data[4 + i] = (uint8_t)(riff >> (8 * i));
        out.data[16 + i] = (uint8_t)(chunk >> (8 * i));
    }
    memcpy(out.data + 8, "WEBPVP8L", 8);
    memcpy(out.data + 20, w.data, vp8l_size);
    free(w.data);
    return out;
}

static struct mem_image make_vp8l_groups(unsigned groups, unsigned cache_bits)
{
    return make_vp8l_file(groups, cache_bits, false);
}

#endif
