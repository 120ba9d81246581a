/* maxpool2.c - see maxpool2.h: the portable path and the run-time dispatch. */
#include "maxpool2.h"
#include "cpu.h"
#include <stddef.h>

static void fwd_portable(const float *x, int W, float *y, uint8_t *a, int OW, int64_t rows, int none) {
    for (int64_t r = 0; r < rows; r++, x += 2 * W, y += OW, a = a ? a + OW : NULL) {
        const float *r0 = x, *r1 = x + W;
        for (int ow = 0; ow < OW; ow++) {
            float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
            /* selects, not branches: which tap wins is random, so branches would mispredict */
            int b1 = v1 > v0;
            float m = b1 ? v1 : v0;
            int k = b1;
            int b2 = v2 > m;
            m = b2 ? v2 : m;
            k = b2 ? 2 : k;
            int b3 = v3 > m;
            m = b3 ? v3 : m;
            k = b3 ? 3 : k;
            y[ow] = m;
            if (a) a[ow] = (uint8_t)(none && !(m > 0.0f) ? 4 : k);
        }
    }
}

static void bwd_portable(const float *dy, const uint8_t *a, float *dx, int W, int OW, int64_t rows, int store) {
    for (int64_t r = 0; r < rows; r++, dy += OW, a += OW, dx += 2 * W) {
        float *d0 = dx, *d1 = dx + W;
        for (int ow = 0; ow < OW; ow++) {
            float g = dy[ow];
            int k = a[ow];
            float e0 = k == 0 ? g : 0.0f, e1 = k == 1 ? g : 0.0f, e2 = k == 2 ? g : 0.0f, e3 = k == 3 ? g : 0.0f;
            if (store) d0[2 * ow] = e0, d0[2 * ow + 1] = e1, d1[2 * ow] = e2, d1[2 * ow + 1] = e3;
            else d0[2 * ow] += e0, d0[2 * ow + 1] += e1, d1[2 * ow] += e2, d1[2 * ow + 1] += e3;
        }
    }
}

void maxpool2_fwd(int simd, const float *x, int W, float *y, uint8_t *a, int OW, int64_t rows, int none) {
#ifndef CNN_NO_SIMD
    if (simd >= SIMD_AVX2) { maxpool2_fwd_avx2(x, W, y, a, OW, rows, none); return; }
#endif
    (void)simd;
    fwd_portable(x, W, y, a, OW, rows, none);
}

void maxpool2_bwd(int simd, const float *dy, const uint8_t *a, float *dx, int W, int OW, int64_t rows, int store) {
#ifndef CNN_NO_SIMD
    if (simd >= SIMD_AVX2) { maxpool2_bwd_avx2(dy, a, dx, W, OW, rows, store); return; }
#endif
    (void)simd;
    bwd_portable(dy, a, dx, W, OW, rows, store);
}
