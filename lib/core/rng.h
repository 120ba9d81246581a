/* rng.h - counter-based random streams. A stream is keyed by (seed, purpose, a, b), so
 * what a sample sees never depends on thread timing or on how many draws came before in
 * other streams; the whole RNG state of a run is its seed and its step counters. */
#ifndef CNN_RNG_H
#define CNN_RNG_H
#include <stdint.h>
#include <math.h>

typedef struct rng { uint64_t key, ctr; } rng;

static inline uint64_t rng_mix(uint64_t z) { /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Purposes, so streams for different uses never collide. */
enum { RNG_INIT = 1, RNG_SHUFFLE, RNG_AUGMENT, RNG_DROPOUT, RNG_SPLIT };

static inline rng rng_stream(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b) {
    rng r;
    r.key = rng_mix(rng_mix(rng_mix(seed ^ 0x6a09e667f3bcc909ull) + purpose) + a * 0x9e3779b97f4a7c15ull) ^
            rng_mix(b + 0x3c6ef372fe94f82bull);
    r.ctr = 0;
    return r;
}
static inline uint64_t rng_u64(rng *r) { return rng_mix(r->key + 0x9e3779b97f4a7c15ull * ++r->ctr); }
/* Uniform in [0, 1) with 24 bits. */
static inline float rng_uniform(rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
/* Uniform integer in [0, n), n > 0 (multiply-shift, bias below 2^-32). */
static inline uint32_t rng_below(rng *r, uint32_t n) { return (uint32_t)(((rng_u64(r) >> 32) * (uint64_t)n) >> 32); }
/* Standard normal by Box-Muller in double, so init is the same on every SIMD path. */
static inline float rng_normal(rng *r) {
    double u1 = ((rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
#endif
