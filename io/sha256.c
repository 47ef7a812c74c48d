/* SHA-256 through libcrypto's EVP interface (sha256.h says why). */
#include <errno.h>

#include <openssl/evp.h>

#include "sha256.h"

int io__sha256_init(struct io__sha256_ctx *ctx)
{
    if (ctx->md == NULL)
        ctx->md = EVP_MD_CTX_new();
    ctx->failed = ctx->md == NULL || EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1;
    return ctx->failed ? -ENOMEM : 0;
}

void io__sha256_update(struct io__sha256_ctx *ctx, const void *data, size_t size)
{
    if (ctx->failed || size == 0)
        return;
    if (EVP_DigestUpdate(ctx->md, data, size) != 1)
        ctx->failed = true;
}

int io__sha256_final(struct io__sha256_ctx *ctx, uint8_t digest[32])
{
    unsigned size = 0;
    if (ctx->failed || EVP_DigestFinal_ex(ctx->md, digest, &size) != 1 || size != 32) {
        ctx->failed = true;
        return -ENOMEM;
    }
    return 0;
}

void io__sha256_finish(struct io__sha256_ctx *ctx)
{
    EVP_MD_CTX_free(ctx->md);
    ctx->md = NULL;
}

int io__sha256(const void *data, size_t size, uint8_t digest[32])
{
    unsigned out = 0;
    return EVP_Digest(data, size, digest, &out, EVP_sha256(), NULL) == 1 && out == 32 ? 0
                                                                                      : -ENOMEM;
}
