#include <png.h>

#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */
#include <string.h>

#include <jpeglib.h>
#if IMG_HAVE_AVIF
#include <avif/avif.h>
#endif
#if IMG_HAVE_GIF
#include <gif_lib.h>
#endif
#if IMG_HAVE_TIFF
#include <tiffio.h>
#endif
#if IMG_HAVE_WEBP
#include <webp/decode.h>
#endif

#include "imaging.h"

/* jconfig.h (from jpeglib.h) has the version as bare tokens: 2.1.5. */
#define VERSION_STRING_(x) #x
#define VERSION_STRING(x) VERSION_STRING_(x)

/* The decoders this build has (meson options). libwebp's and libavif's
 * versions are the ones linked (run-time calls); libtiff's TIFFGetVersion
 * is a banner ("LIBTIFF, Version 4.5.0\n..."), so its compile-time macros;
 * giflib has only macros. stb_image (BMP) is the copy compiled into this
 * binary. */
const char *img_library_versions(void)
{
    static _Thread_local char text[400];
    size_t used =
        (size_t)snprintf(text, sizeof(text),
                         "libpng/" PNG_LIBPNG_VER_STRING
                         " (PNG) libjpeg-turbo/" VERSION_STRING(LIBJPEG_TURBO_VERSION) " (JPEG)");
#if IMG_HAVE_WEBP
    int webp = WebPGetDecoderVersion();
    used += (size_t)snprintf(text + used, sizeof(text) - used, " libwebp/%d.%d.%d (WebP)",
                             (webp >> 16) & 0xff, (webp >> 8) & 0xff, webp & 0xff);
#endif
#if IMG_HAVE_GIF
    used += (size_t)snprintf(text + used, sizeof(text) - used, " giflib/%d.%d.%d (GIF)",
                             GIFLIB_MAJOR, GIFLIB_MINOR, GIFLIB_RELEASE);
#endif
#if IMG_HAVE_AVIF
    const char *codec = avifCodecName(AVIF_CODEC_CHOICE_AUTO, AVIF_CODEC_FLAG_CAN_DECODE);
    used += (size_t)snprintf(text + used, sizeof(text) - used, " libavif/%s+%s (AVIF)",
                             avifVersion(), codec != NULL ? codec : "no AV1 decoder");
#endif
#if IMG_HAVE_TIFF
    used += (size_t)snprintf(text + used, sizeof(text) - used, " libtiff/%d.%d.%d (TIFF)",
                             TIFFLIB_MAJOR_VERSION, TIFFLIB_MINOR_VERSION, TIFFLIB_MICRO_VERSION);
#endif
#if IMG_HAVE_BMP
    used += (size_t)snprintf(text + used, sizeof(text) - used, " stb_image/2.27 (BMP)");
#endif
    (void)used;
    return text;
}
