/* frand.h - the kernel tests' fixed pseudo-random data: a 64-bit LCG giving floats uniform
 * in [-1, 1), and arrays of them. A test may define FRAND_SEED before including this to
 * draw its own sequence. */
#ifndef CNN_FRAND_H
#define CNN_FRAND_H
#include <stdint.h>
#include <stdlib.h>

#ifndef FRAND_SEED
#define FRAND_SEED 0x9e3779b97f4a7c15ull
#endif

static uint64_t rng_state = FRAND_SEED;

static inline float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

/* n values of frand (a valid allocation even for n == 0); the caller frees it. */
static inline float *randv(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}
#endif
