/* winograd.c - Winograd F(4x4, 3x3) convolution (see winograd.h): the choice of
 * algorithm from the environment, block sizes, the weight transforms, and the dispatch
 * to the tile transforms and driver of winograd_impl.h built for each instruction set.
 *
 * Every transform is separable: a 1-D transform along the image rows, then one down the
 * columns that runs over all tiles of an image at once with tiles innermost, a plain
 * element-wise loop the compiler vectorizes. The row pass reads a zero-padded copy of the
 * channel plane, which keeps borders and padding out of the arithmetic. The 1-D
 * transforms are written out with the common subexpressions of Lavin's matrices instead
 * of as 6x6 products: multiplying by the matrices' zeros would triple the work (the
 * compiler may not drop x * 0, it is NaN for infinite x). */
#include "winograd.h"

#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gemm.h"

#define WINO_SUFFIX portable
#include "winograd_impl.h"

void wino_fwd_avx2(int simd, const wino_shape *s, const float *U, const float *x, const wino_x_affine *xa, int n,
                   const float *bias, float *y, float *ws);
void wino_bwd_avx2(int simd, const wino_shape *s, const float *U, const float *x, const wino_x_affine *xa,
                   const float *dy, int n, float *dU, float *dx, int dx_store, const wino_dy_affine *aff, float *ws);
void wino_fwd_avx512(int simd, const wino_shape *s, const float *U, const float *x, const wino_x_affine *xa, int n,
                     const float *bias, float *y, float *ws);
void wino_bwd_avx512(int simd, const wino_shape *s, const float *U, const float *x, const wino_x_affine *xa,
                     const float *dy, int n, float *dU, float *dx, int dx_store, const wino_dy_affine *aff, float *ws);

int conv_algo_from_env(void) {
    const char *s = getenv("CNN_CONV");
    if (!s) return CONV_AUTO;
    if (strcmp(s, "gemm") == 0) return CONV_GEMM;
    if (strcmp(s, "winograd") == 0) return CONV_WINOGRAD;
    if (strcmp(s, "direct") == 0) return CONV_DIRECT;
    return CONV_AUTO;
}

/* Images per block. The products M_k = U_k V_k have the block's tiles as their N
 * dimension: sgemm's AVX-512 tile is 48 columns wide, and a ragged last strip (49 tiles of
 * a 28x28 image: 48 + 1) cost N2's conv2 about 20 % of its product time, while 196 tiles
 * (4 images) run near full speed. Up to 4 images and about 200 tiles; measured on N2's
 * layers, 2-4 images per block were within noise of each other and 1 or 8 were slower.
 * Small maps take more images, for at least 32 tiles: at 7x7 (4 tiles an image, N3's third
 * stage) 8 images ran the backward pass 12 % faster than 4 (fewer, longer k runs in the
 * dU products). Maps up to 32 pixels wide take eight whatever their tile count, one in
 * each lane of a vector (winograd_lanes.h, where the measurements are). The cap on V and M
 * (36 x channels x tiles each) keeps wide layers' scratch from growing past a few MB per
 * thread; a block it shrinks below eight takes the tile-row passes. */
enum { BLOCK_TILES = 200, BLOCK_IMAGES = 4, BLOCK_MIN_TILES = 32, BLOCK_FLOATS = 1 << 20 };

void wino_shape_init(wino_shape *s, int C, int H, int W, int OC, int PH, int PW) {
    s->C = C; s->H = H; s->W = W; s->OC = OC; s->PH = PH; s->PW = PW;
    s->OH = H + 2 * PH - 2;
    s->OW = W + 2 * PW - 2;
    s->TH = (s->OH + 3) / 4;
    s->TW = (s->OW + 3) / 4;
    s->tpi = s->TH * s->TW;
    s->ipb = BLOCK_TILES / s->tpi;
    if (s->ipb > BLOCK_IMAGES) s->ipb = BLOCK_IMAGES;
    if (s->ipb * s->tpi < BLOCK_MIN_TILES) s->ipb = (BLOCK_MIN_TILES + s->tpi - 1) / s->tpi;
    if (lanes_map(s)) s->ipb = LANES; /* a vector of images each (winograd_lanes.h) */
    while (s->ipb > 1 && (size_t)36 * (C + OC) * s->ipb * s->tpi > BLOCK_FLOATS) s->ipb--;
    if (s->ipb < 1) s->ipb = 1;
    s->tb = s->ipb * s->tpi;
}

size_t wino_ws_floats(const wino_shape *s) {
    size_t g = sgemm_ws_floats(s->OC, s->tb, s->C), g2 = sgemm_ws_floats(s->OC, s->C, s->tb),
           g3 = sgemm_ws_floats(s->C, s->tb, s->OC);
    if (g2 > g) g = g2;
    if (g3 > g) g = g3;
    return wino_r16((size_t)36 * s->C * s->tb) + wino_r16((size_t)36 * s->OC * s->tb) + 3 * plane_floats(s) +
           2 * stage_floats(s) + wino_r16(g);
}

size_t wino_u_floats(const wino_shape *s) {
    size_t u = wino_r16((size_t)36 * s->OC * s->C), up = 36 * upk_floats(s), ut = 36 * upk_t_floats(s);
    if (up > u) u = up;
    return ut > u ? ut : u;
}

void wino_pack_u(int simd, const wino_shape *s, const float *U, float *Up) {
    for (int k = 0; k < 36; k++)
        sgemm_pack_a(simd, 0, s->OC, s->C, U + (size_t)k * s->OC * s->C, s->C, Up + k * upk_floats(s));
}

void wino_pack_ut(int simd, const wino_shape *s, const float *U, float *Ut) {
    for (int k = 0; k < 36; k++)
        sgemm_pack_a(simd, 1, s->C, s->OC, U + (size_t)k * s->OC * s->C, s->C, Ut + k * upk_t_floats(s));
}

/* G g: the weight transform (3 -> 6). */
static void tf_g(const float *restrict in, ptrdiff_t is, float *restrict out, ptrdiff_t os, int n) {
    const float s6 = 1.0f / 6, s12 = 1.0f / 12, s24 = 1.0f / 24;
WINO_IVDEP
    for (int t = 0; t < n; t++) {
        float g0 = in[t], g1 = in[is + t], g2 = in[2 * is + t];
        out[t] = 0.25f * g0;
        out[os + t] = -s6 * (g0 + g1 + g2);
        out[2 * os + t] = -s6 * (g0 - g1 + g2);
        out[3 * os + t] = s24 * g0 + s12 * g1 + s6 * g2;
        out[4 * os + t] = s24 * g0 - s12 * g1 + s6 * g2;
        out[5 * os + t] = g2;
    }
}

/* G^T u: the adjoint of the weight transform (6 -> 3). */
static void tf_gt(const float *restrict in, ptrdiff_t is, float *restrict out, ptrdiff_t os, int n) {
    const float s6 = 1.0f / 6, s12 = 1.0f / 12, s24 = 1.0f / 24;
WINO_IVDEP
    for (int t = 0; t < n; t++) {
        float u0 = in[t], u1 = in[is + t], u2 = in[2 * is + t], u3 = in[3 * is + t], u4 = in[4 * is + t],
              u5 = in[5 * is + t];
        out[t] = 0.25f * u0 - s6 * (u1 + u2) + s24 * (u3 + u4);
        out[os + t] = s6 * (u2 - u1) + s12 * (u3 - u4);
        out[2 * os + t] = s6 * (u3 + u4 - u1 - u2) + u5;
    }
}

/* Filters are transformed FB at a time through stack arrays, so both passes run over
 * contiguous filter indices. */
enum { FB = 64 };

void wino_weights(const float *w, int OC, int C, float *U) {
    size_t F = (size_t)OC * C;
    float g[9 * FB], T[18 * FB];
    for (size_t f0 = 0; f0 < F; f0 += FB) {
        int nf = F - f0 < FB ? (int)(F - f0) : FB;
        for (int f = 0; f < nf; f++)
            for (int ab = 0; ab < 9; ab++) g[ab * FB + f] = w[(f0 + f) * 9 + ab];
        for (int a = 0; a < 3; a++) tf_g(g + a * 3 * FB, FB, T + a * 6 * FB, FB, nf); /* T[a][k2] */
        for (int k2 = 0; k2 < 6; k2++) tf_g(T + k2 * FB, 6 * FB, U + k2 * F + f0, 6 * (ptrdiff_t)F, nf);
    }
}

void wino_dweights(const float *dU, int OC, int C, float *dw) {
    size_t F = (size_t)OC * C;
    float T[18 * FB], g[9 * FB];
    for (size_t f0 = 0; f0 < F; f0 += FB) {
        int nf = F - f0 < FB ? (int)(F - f0) : FB;
        for (int k1 = 0; k1 < 6; k1++) tf_gt(dU + k1 * 6 * F + f0, (ptrdiff_t)F, T + k1 * 3 * FB, FB, nf);
        for (int b = 0; b < 3; b++) tf_gt(T + b * FB, 3 * FB, g + b * FB, 3 * FB, nf); /* g[a][b] */
        for (int f = 0; f < nf; f++)
            for (int ab = 0; ab < 9; ab++) dw[(f0 + f) * 9 + ab] += g[ab * FB + f];
    }
}


void wino_fwd(int simd, const wino_shape *s, const float *Up, const float *x, const wino_x_affine *xa, int n,
              const float *bias, float *y, float *ws) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512) wino_fwd_avx512(simd, s, Up, x, xa, n, bias, y, ws);
    else if (simd == SIMD_AVX2) wino_fwd_avx2(simd, s, Up, x, xa, n, bias, y, ws);
    else
#endif
        wino_fwd_portable(simd, s, Up, x, xa, n, bias, y, ws);
}

void wino_bwd(int simd, const wino_shape *s, const float *Ut, const float *x, const wino_x_affine *xa,
              const float *dy, int n, float *dU, float *dx, int dx_store, const wino_dy_affine *aff, float *ws) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512) wino_bwd_avx512(simd, s, Ut, x, xa, dy, n, dU, dx, dx_store, aff, ws);
    else if (simd == SIMD_AVX2) wino_bwd_avx2(simd, s, Ut, x, xa, dy, n, dU, dx, dx_store, aff, ws);
    else
#endif
        wino_bwd_portable(simd, s, Ut, x, xa, dy, n, dU, dx, dx_store, aff, ws);
}
