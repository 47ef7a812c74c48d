/* Private to io/ and its tests: the fingerprint set's high-water mark, so a
 * test can hold the set to issue 13's 16 bytes a URL at every moment,
 * including inside a growth, when the old table and the new one both exist
 * and io_fp_set_bytes cannot be asked. */
#ifndef EDGEFETCH_IO_FINGERPRINT_PRIVATE_H
#define EDGEFETCH_IO_FINGERPRINT_PRIVATE_H

#include <stddef.h>

struct io_fp_set;

/* The most bytes the set has held at once since its creation: its header
 * and every table allocated, counted from the allocation of a new table to
 * the free of the old one. */
size_t io__fp_set_peak_bytes(const struct io_fp_set *set);

#endif
