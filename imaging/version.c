#include <png.h>

#include <stddef.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */

#include <jpeglib.h>

#include "imaging.h"

/* jconfig.h (from jpeglib.h) has the version as bare tokens: 2.1.5. */
#define VERSION_STRING_(x) #x
#define VERSION_STRING(x) VERSION_STRING_(x)

const char *img_library_versions(void)
{
    return "libpng/" PNG_LIBPNG_VER_STRING
           " (PNG) libjpeg-turbo/" VERSION_STRING(LIBJPEG_TURBO_VERSION) " (JPEG)";
}
