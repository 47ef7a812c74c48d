/* SHA-256 (FIPS 180-4), private to io/: the hash of a level-3 output name
 * and of every downloaded body (io_http_result.sha256).
 * Small and self-contained rather than a libcrypto dependency for one
 * digest of a few hundred bytes per clashing URL. */
#ifndef EDGEFETCH_IO_SHA256_H
#define EDGEFETCH_IO_SHA256_H

#include <stddef.h>
#include <stdint.h>

void io__sha256(const void *data, size_t size, uint8_t digest[32]);

/* The same digest over data that arrives in pieces (a body as curl hands
 * it over): init, update as often as needed, final once. */
struct io__sha256_ctx {
    uint32_t state[8];
    uint8_t block[64];
    size_t used;    /* bytes in `block` */
    uint64_t total; /* bytes so far */
};
void io__sha256_init(struct io__sha256_ctx *ctx);
void io__sha256_update(struct io__sha256_ctx *ctx, const void *data, size_t size);
void io__sha256_final(struct io__sha256_ctx *ctx, uint8_t digest[32]);

#endif
