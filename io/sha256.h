/* SHA-256 (FIPS 180-4), private to io/: the hash of a level-3 output name.
 * Small and self-contained rather than a libcrypto dependency for one
 * digest of a few hundred bytes per clashing URL. */
#ifndef EDGEFETCH_IO_SHA256_H
#define EDGEFETCH_IO_SHA256_H

#include <stddef.h>
#include <stdint.h>

void io__sha256(const void *data, size_t size, uint8_t digest[32]);

#endif
