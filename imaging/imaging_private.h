/* Helpers shared by the imaging sources; not part of the public contract. */
#ifndef EDGEFETCH_IMAGING_PRIVATE_H
#define EDGEFETCH_IMAGING_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

struct img_buf;

/* printf into the caller's `err` buffer (which may be NULL or zero-sized),
 * truncating as snprintf does. */
void img__set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* img_encode_png with the row filter mask (PNG_FILTER_*) and zlib strategy
 * (Z_*) given instead of chosen from `level`: for measuring the choice (see
 * PNG_SETTINGS.md) and for tests. Same contract otherwise. */
int img__encode_png_with(const struct img_buf *gray, int level, int filters, int strategy,
                         uint8_t **png, size_t *png_size, char *err, size_t err_size);

#endif
