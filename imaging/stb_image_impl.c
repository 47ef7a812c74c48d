/* The one translation unit that compiles stb_image, configured by
 * imaging_stbi.h. It is third-party code kept as shipped, so meson builds it in
 * its own library with warnings off; everything else in imaging keeps werror. */
#define STB_IMAGE_IMPLEMENTATION
#include "imaging_stbi.h"

/* stbi_failure_reason() returns a pointer the decoder stored in a file-scope
 * variable. Workers decode at the same time, so that variable must be
 * thread-local or one worker reports (and races on) another's reason. v2.27
 * uses _Thread_local (C11 without __STDC_NO_THREADS__) or GCC's __thread and
 * defines STBI_THREAD_LOCAL when it did; refuse to build when it could not.
 * The other file-scope state (flip, unpremultiply, iPhone flags) is only
 * written by setters we never call. */
#ifndef STBI_THREAD_LOCAL
#error "stb_image without thread-local storage: stbi_failure_reason() would race"
#endif
