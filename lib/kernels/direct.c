/* direct.c - direct convolution for few input channels (see direct.h): shapes, workspace
 * size, and the dispatch to the kernels of direct_impl.h built for each instruction set. */
#include "direct.h"

#include "cpu.h"

#include <stdint.h>

#define DIRECT_SUFFIX portable
#include "direct_impl.h"

void direct_fwd_prep_avx2(const direct_shape *s, const float *w, float *ws);
void direct_fwd_avx2(const direct_shape *s, const float *x, int n, const float *bias, int relu, float *y, float *ws);
void direct_bwd_avx2(const direct_shape *s, const float *w, const float *x, const float *dy, int n, float *dw,
                     float *db, float *dx, float *ws);
int direct_dx_way_avx2(const direct_shape *s, int n);
int direct_dx_way_avx512(const direct_shape *s, int n);
void direct_fwd_prep_avx512(const direct_shape *s, const float *w, float *ws);
void direct_fwd_avx512(const direct_shape *s, const float *x, int n, const float *bias, int relu, float *y,
                       float *ws);
void direct_bwd_avx512(const direct_shape *s, const float *w, const float *x, const float *dy, int n, float *dw,
                       float *db, float *dx, float *ws);

int direct_shape_init(direct_shape *s, int C, int H, int W, int OC, int KH, int KW, int PT, int PB, int PL, int PR) {
    memset(s, 0, sizeof *s);
    if (C < 1 || H < 1 || W < 1 || OC < 1 || KH < 1 || KW < 1) return -1;
    s->C = C; s->H = H; s->W = W; s->OC = OC; s->KH = KH; s->KW = KW; s->PT = PT; s->PL = PL;
    s->OH = H + PT + PB - KH + 1;
    s->OW = W + PL + PR - KW + 1;
    if (s->OH < 1 || s->OW < 1) return -1;
    /* Offsets into the planes are ints: keep every plane set well inside their range. */
    int64_t rows = (int64_t)(s->OH > H ? s->OH : H) + KH, cols = (int64_t)(s->OW > W ? s->OW : W) + 16;
    if ((int64_t)(C > OC ? C : OC) * KW * rows * cols > DIRECT_MAX_PLANES) return -1;
    return 0;
}

size_t direct_ws_floats(const direct_shape *s) { return ws_layout(s, NULL, NULL); }

void direct_fwd_prep(int simd, const direct_shape *s, const float *w, float *ws) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512) direct_fwd_prep_avx512(s, w, ws);
    else if (simd == SIMD_AVX2) direct_fwd_prep_avx2(s, w, ws);
    else
#endif
        direct_fwd_prep_portable(s, w, ws);
}

void direct_fwd(int simd, const direct_shape *s, const float *x, int n, const float *bias, int relu, float *y,
                float *ws) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512) direct_fwd_avx512(s, x, n, bias, relu, y, ws);
    else if (simd == SIMD_AVX2) direct_fwd_avx2(s, x, n, bias, relu, y, ws);
    else
#endif
        direct_fwd_portable(s, x, n, bias, relu, y, ws);
}

void direct_bwd(int simd, const direct_shape *s, const float *w, const float *x, const float *dy, int n, float *dw,
                float *db, float *dx, float *ws) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512) direct_bwd_avx512(s, w, x, dy, n, dw, db, dx, ws);
    else if (simd == SIMD_AVX2) direct_bwd_avx2(s, w, x, dy, n, dw, db, dx, ws);
    else
#endif
        direct_bwd_portable(s, w, x, dy, n, dw, db, dx, ws);
}

int direct_dx_way(int simd, const direct_shape *s, int n) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512) return direct_dx_way_avx512(s, n);
    if (simd == SIMD_AVX2) return direct_dx_way_avx2(s, n);
#endif
    return direct_dx_way_portable(s, n);
}
