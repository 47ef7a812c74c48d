/* io's SHA-256 fed in pieces (as a body arrives) equals the one-shot
 * digest, whatever the cut: across block boundaries, single bytes, empty
 * pieces. The one-shot digest is held to FIPS 180-4's vectors in
 * test_names.c. */
#include <string.h>

#include "check.h"
#include "sha256.h"

int main(void)
{
    uint8_t data[1000];
    uint8_t whole[32];
    uint8_t pieces[32];
    uint32_t state = 12345;
    for (size_t i = 0; i < sizeof(data); i++) {
        state = state * 1103515245u + 12345u;
        data[i] = (uint8_t)(state >> 16);
    }
    for (size_t size = 0; size <= sizeof(data); size += 37) {
        CHECK(io__sha256(data, size, whole) == 0);
        for (size_t step = 1; step <= 130; step += 7) {
            struct io__sha256_ctx ctx = {0};
            CHECK(io__sha256_init(&ctx) == 0);
            for (size_t at = 0; at < size; at += step) {
                io__sha256_update(&ctx, data + at, at + step <= size ? step : size - at);
                io__sha256_update(&ctx, data, 0);
            }
            CHECK(io__sha256_final(&ctx, pieces) == 0);
            CHECK(memcmp(whole, pieces, sizeof(whole)) == 0);
            /* Again on the same context, as a transfer's next hop does. */
            CHECK(io__sha256_init(&ctx) == 0);
            io__sha256_update(&ctx, data, size);
            CHECK(io__sha256_final(&ctx, pieces) == 0);
            CHECK(memcmp(whole, pieces, sizeof(whole)) == 0);
            io__sha256_finish(&ctx);
        }
    }
    printf("sha256: all passed\n");
    return 0;
}
