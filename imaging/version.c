#include <png.h>

#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */

#include <avif/avif.h>
#include <gif_lib.h>
#include <jpeglib.h>
#include <tiffio.h>
#include <webp/decode.h>

#include "imaging.h"

/* jconfig.h (from jpeglib.h) has the version as bare tokens: 2.1.5. */
#define VERSION_STRING_(x) #x
#define VERSION_STRING(x) VERSION_STRING_(x)

/* libwebp's and libavif's versions are the ones linked (run-time calls);
 * libtiff's TIFFGetVersion is a banner ("LIBTIFF, Version 4.5.0\n..."), so
 * its compile-time macro; giflib has only macros. stb_image (BMP) is the
 * copy compiled into this binary. */
const char *img_library_versions(void)
{
    static _Thread_local char text[400];
    int webp = WebPGetDecoderVersion();
    snprintf(text, sizeof(text),
             "libpng/" PNG_LIBPNG_VER_STRING
             " (PNG) libjpeg-turbo/" VERSION_STRING(LIBJPEG_TURBO_VERSION)
             " (JPEG) libwebp/%d.%d.%d (WebP) giflib/%d.%d.%d (GIF) libavif/%s+%s (AVIF)"
             " libtiff/%d.%d.%d (TIFF) stb_image/2.27 (BMP)",
             (webp >> 16) & 0xff, (webp >> 8) & 0xff, webp & 0xff, GIFLIB_MAJOR, GIFLIB_MINOR,
             GIFLIB_RELEASE, avifVersion(), avifCodecName(AVIF_CODEC_CHOICE_AUTO, AVIF_CODEC_FLAG_CAN_DECODE),
             TIFFLIB_MAJOR_VERSION, TIFFLIB_MINOR_VERSION, TIFFLIB_MICRO_VERSION);
    return text;
}
