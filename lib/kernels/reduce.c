/* reduce.c - see reduce.h. */
#include "reduce.h"

#define CHAINS 8

float reduce_sum(const float *x, int64_t n) {
    float a[CHAINS] = {0};
    int64_t i = 0;
    for (; i + CHAINS <= n; i += CHAINS)
        for (int k = 0; k < CHAINS; k++) a[k] += x[i + k];
    for (; i < n; i++) a[0] += x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* The wide sums keep 32 chains (or 2 x 16) as blocks of eight, which GCC keeps in vector
 * registers as long as every index is a constant (an array of 32, or a tail loop indexing a
 * block, puts them in memory, where every add waits on a store). Blocks of 32 (16) values go
 * to the four (two) blocks, the remaining whole eights to the first block, the last few to
 * one scalar chain; then a fixed tree. Batchnorm calls these once per plane (14 x 14 in N2),
 * so the fixed cost matters as much as the loop. */
static inline float join8(const float *a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

float reduce_sum_wide(const float *x, int64_t n) {
    float a[8] = {0}, b[8] = {0}, c[8] = {0}, d[8] = {0}, t = 0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 8; k++) a[k] += x[i + k];
        for (int k = 0; k < 8; k++) b[k] += x[i + 8 + k];
        for (int k = 0; k < 8; k++) c[k] += x[i + 16 + k];
        for (int k = 0; k < 8; k++) d[k] += x[i + 24 + k];
    }
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += x[i + k];
    for (; i < n; i++) t += x[i];
    for (int k = 0; k < 8; k++) a[k] = (a[k] + c[k]) + (b[k] + d[k]);
    return join8(a) + t;
}

float reduce_sq_dev_wide(const float *x, int64_t n, float m) {
    float a[8] = {0}, b[8] = {0}, c[8] = {0}, d[8] = {0}, t = 0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 8; k++) a[k] += (x[i + k] - m) * (x[i + k] - m);
        for (int k = 0; k < 8; k++) b[k] += (x[i + 8 + k] - m) * (x[i + 8 + k] - m);
        for (int k = 0; k < 8; k++) c[k] += (x[i + 16 + k] - m) * (x[i + 16 + k] - m);
        for (int k = 0; k < 8; k++) d[k] += (x[i + 24 + k] - m) * (x[i + 24 + k] - m);
    }
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += (x[i + k] - m) * (x[i + k] - m);
    for (; i < n; i++) t += (x[i] - m) * (x[i] - m);
    for (int k = 0; k < 8; k++) a[k] = (a[k] + c[k]) + (b[k] + d[k]);
    return join8(a) + t;
}

/* Two sums of 16 chains each: three input streams already fill the load ports, more chains
 * would not help. dy is loaded unconditionally so that the relu select vectorises. */
#define DY_DYX_STEP(A, B, OFF)                                       \
    for (int k = 0; k < 8; k++) {                                    \
        float dv = dy[i + OFF + k], xv = x[i + OFF + k];             \
        float g = relu ? (xv * ra + rb > 0.0f ? dv : 0.0f) : dv;     \
        A[k] += g;                                                   \
        B[k] += g * (xv - m);                                        \
    }

/* always inlined into its two callers: with relu a constant the select goes away */
__attribute__((always_inline)) static inline void dy_dyx(const float *dy, const float *x, int64_t n, float m,
                                                         int relu, float ra, float rb, float *sdy, float *sdyx) {
    float a0[8] = {0}, a1[8] = {0}, b0[8] = {0}, b1[8] = {0}, ta = 0, tb = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        DY_DYX_STEP(a0, b0, 0)
        DY_DYX_STEP(a1, b1, 8)
    }
    for (; i + 8 <= n; i += 8) DY_DYX_STEP(a0, b0, 0)
    for (; i < n; i++) {
        float g = relu ? (x[i] * ra + rb > 0.0f ? dy[i] : 0.0f) : dy[i];
        ta += g;
        tb += g * (x[i] - m);
    }
    for (int k = 0; k < 8; k++) a0[k] += a1[k], b0[k] += b1[k];
    *sdy = join8(a0) + ta;
    *sdyx = join8(b0) + tb;
}

void reduce_dy_dyx_wide(const float *dy, const float *x, int64_t n, float m, int relu, float ra, float rb,
                        float *sdy, float *sdyx) {
    if (relu) dy_dyx(dy, x, n, m, 1, ra, rb, sdy, sdyx);
    else dy_dyx(dy, x, n, m, 0, 0.0f, 0.0f, sdy, sdyx);
}
