/* SHA-256, private to io/: the hash of a level-3 output name and of every
 * downloaded body (io_http_result.sha256). libcrypto's: every body of a run
 * is hashed on the loop thread as it arrives, and OpenSSL's (SHA-NI or AVX2
 * where the CPU has them) is about 6x faster than the portable C this replaced
 * (tests/bench/results/sha256.md). */
#ifndef EDGEFETCH_IO_SHA256_H
#define EDGEFETCH_IO_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 0, or -ENOMEM (libcrypto could not make its context). */
int io__sha256(const void *data, size_t size, uint8_t digest[32]);

/* The same digest over data that arrives in pieces (a body as curl hands
 * it over): init (again for a new digest), update as often as needed,
 * final once; finish frees the context whether final came or not. A ctx
 * starts zeroed ({0} or calloc). */
struct io__sha256_ctx {
    void *md;    /* libcrypto's EVP_MD_CTX, kept across inits */
    bool failed; /* a step failed: final says -ENOMEM */
};
int io__sha256_init(struct io__sha256_ctx *ctx);
void io__sha256_update(struct io__sha256_ctx *ctx, const void *data, size_t size);
int io__sha256_final(struct io__sha256_ctx *ctx, uint8_t digest[32]);
void io__sha256_finish(struct io__sha256_ctx *ctx);

#endif
