/* libFuzzer harness for the whole in-memory imaging path: probe, decode (to
 * one and to three channels), every operator, PNG encode, and a round trip of
 * that PNG through our own decoder.
 *
 * Beyond "no crash, no sanitizer report" it checks the contracts callers rely
 * on: a decoded image has the probed size and never more pixels than the
 * limit; every error message is one line of printable text (it reaches the
 * user's terminal, so a hostile body must not put escape sequences there);
 * and the PNG we write decodes back to exactly the pixels we encoded.
 *
 * Built two ways (tests/fuzz/meson.build): with clang and -fsanitize=fuzzer
 * for real fuzzing, and with any compiler plus replay_main.c to replay the
 * committed corpus as a regression test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"

/* Small enough that one input costs at most a few tens of milliseconds, large
 * enough that the pixel limit is reached by inputs the fuzzer can find. */
#define FUZZ_MAX_PIXELS (4u * 1000u * 1000u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_decode: %s%s%s\n", what, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    abort();
}

/* An error message is a single line of printable ASCII, NUL-terminated
 * inside its buffer. */
static void check_message(const char *err, size_t err_size)
{
    const char *end = memchr(err, '\0', err_size);
    if (end == NULL)
        fail("error message not terminated", NULL);
    for (const char *p = err; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f)
            fail("error message has a control or non-ASCII byte", err);
    }
}

static void check_round_trip(const struct img_buf *edges, int level)
{
    uint8_t *png = NULL;
    size_t png_size = 0;
    char err[256] = "";
    struct img_buf back = {0};

    if (img_encode_png(edges, level, &png, &png_size, err, sizeof(err)) < 0) {
        check_message(err, sizeof(err));
        return; /* only out of memory is a legitimate reason */
    }
    if (img_decode(png, png_size, 1, (uint64_t)edges->width * (uint64_t)edges->height, &back, err,
                   sizeof(err)) < 0)
        fail("our own PNG does not decode", err);
    if (back.width != edges->width || back.height != edges->height || back.channels != 1)
        fail("our own PNG decodes to another size", NULL);
    for (int y = 0; y < edges->height; y++) {
        if (memcmp(back.data + (size_t)y * back.stride, edges->data + (size_t)y * edges->stride,
                   (size_t)edges->width) != 0)
            fail("our own PNG decodes to other pixels", NULL);
    }
    img_buf_finish(&back);
    free(png);
}

static void decode_and_process(const uint8_t *data, size_t size, const struct img_info *probed,
                               int channels, int level)
{
    struct img_buf pixels = {0};
    char err[256] = "";

    int rc = img_decode(data, size, channels, FUZZ_MAX_PIXELS, &pixels, err, sizeof(err));
    if (rc < 0) {
        check_message(err, sizeof(err));
        if (pixels.data != NULL)
            fail("failed decode left a buffer", NULL);
        return;
    }
    if (probed == NULL)
        fail("decode succeeded where probe failed", NULL);
    if (pixels.width != probed->width || pixels.height != probed->height)
        fail("decoded size differs from the probed size", NULL);
    if ((uint64_t)pixels.width * (uint64_t)pixels.height > FUZZ_MAX_PIXELS)
        fail("decoded an image over the pixel limit", NULL);
    if (pixels.channels != channels || pixels.stride < (size_t)pixels.width * (size_t)channels)
        fail("decoded buffer has the wrong shape", NULL);

    /* Every operator that takes this many channels. */
    for (int op = 0;; op++) {
        int wants = img_operator_channels((enum img_operator)op);
        if (wants < 0)
            break;
        if (wants != channels)
            continue;
        struct img_buf edges = {0};
        if (img_apply((enum img_operator)op, &pixels, &edges) == 0) {
            if (edges.width != pixels.width || edges.height != pixels.height || edges.channels != 1)
                fail("operator output has the wrong shape",
                     img_operator_name((enum img_operator)op));
            check_round_trip(&edges, level);
        }
        img_buf_finish(&edges);
    }
    img_buf_finish(&pixels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct img_info info;
    char err[256] = "";

    int probed = img_probe(data, size, &info, err, sizeof(err));
    if (probed < 0)
        check_message(err, sizeof(err));
    else if (info.width <= 0 || info.height <= 0 || info.channels < 1 || info.channels > 4)
        fail("probe returned an impossible header", NULL);
    /* The PNG level comes from the input so the fuzzer reaches every
     * encoder setting; the last byte changes little in an image. */
    int level = size > 0 ? data[size - 1] % 10 : 1;
    decode_and_process(data, size, probed == 0 ? &info : NULL, 1, level);
    decode_and_process(data, size, probed == 0 ? &info : NULL, 3, level);
    return 0;
}
