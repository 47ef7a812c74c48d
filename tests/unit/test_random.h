/* A small seeded generator for the unit tests' random inputs: the same seed
 * gives the same bytes on every machine, so a failure can be replayed. */
#ifndef EDGEFETCH_TEST_RANDOM_H
#define EDGEFETCH_TEST_RANDOM_H

#include <stdint.h>

/* xorshift64*, state passed explicitly (nonzero). */
static inline uint32_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

#endif
