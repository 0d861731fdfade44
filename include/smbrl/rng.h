/* rng.h: a seeded pseudo-random generator (xoshiro256**, seeded by splitmix64).
 * Every random choice in smbrl takes one of these from its caller: no global
 * state and no rand(), so runs are reproducible from their seeds and a generator's
 * state can be checkpointed as its four words. */
#ifndef SMBRL_RNG_H
#define SMBRL_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
uint32_t rng_u32(rng *r);
/* Uniform in [0, n), without modulo bias. n must be > 0. */
uint32_t rng_below(rng *r, uint32_t n);
/* Uniform in [0, 1). */
double rng_uniform(rng *r);
float rng_uniform_f(rng *r);
/* Standard normal (Box-Muller, no cached second value so the state stays 4 words). */
double rng_normal(rng *r);

#endif
