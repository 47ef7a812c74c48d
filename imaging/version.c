#include <png.h>

#include "imaging.h"

const char *img_library_versions(void)
{
    /* stb_image.h states its version only in its opening comment; this is
     * the one Debian 12's libstb-dev ships and the build is pinned to. */
    return "libpng/" PNG_LIBPNG_VER_STRING " stb_image/2.27 (JPEG, PNG)";
}
