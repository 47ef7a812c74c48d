/* The stb_image configuration, shared by the one translation unit that compiles
 * it (stb_image_impl.c) and the files that call it, so both sides agree.
 * edgefetch itself no longer decodes with stb (PNG is libpng's, DECODE.md):
 * only tests/bench/png_decoders.c and png_fuzz_ab.c build it, to measure the
 * decoder it replaced exactly as it was configured. */
#ifndef EDGEFETCH_IMAGING_STBI_H
#define EDGEFETCH_IMAGING_STBI_H

/* PNG only: every other decoder is attack surface we would ship without a
 * reason (GIF, BMP, PSD, PIC, PNM, TGA, HDR are all compiled by default), and
 * JPEG goes to libjpeg-turbo (decode_jpeg.c): Debian 12's stb_image 2.27
 * JPEG decoder has CVE-2022-28041 and CVE-2022-28042. */
#define STBI_ONLY_PNG
/* imaging does no file I/O: decoding is from memory only. */
#define STBI_NO_STDIO
/* No float paths: we never ask for linear or HDR data. */
#define STBI_NO_LINEAR
#define STBI_NO_HDR
/* A JPEG side is a 16-bit field, so 65535 is its maximum anyway; holding PNG to
 * the same bound makes stb refuse a hostile or corrupt header before any of
 * its size arithmetic runs (its default, 1 << 24 per side, lets a header claim
 * 2^48 pixels). Our own per-call pixel limit (img_decode's max_pixels) is
 * checked before stb is asked to decode anything. */
#define STBI_MAX_DIMENSIONS (1 << 16)
/* STBI_NO_FAILURE_STRINGS stays undefined: stbi_failure_reason() is how we
 * tell the user why a decode failed. It is thread-local (checked in
 * stb_image_impl.c). */

#include <stb_image.h>

#endif
