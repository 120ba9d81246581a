/* winograd.h - 3x3, stride-1 convolution by Winograd F(4x4, 3x3) (Lavin and Gray's
 * transforms): forward, input gradient and weight gradient of one group of images, for a
 * caller that splits the batch over threads. Single-threaded; arrays are NCHW, weights
 * OC x C x 3 x 3 (one channel group, no dilation). Any padding is accepted.
 *
 * Each image's output is cut into 4x4 tiles (6x6 input tiles overlapping by 2). Tiles of
 * up to `ipb` images form a block; per block the input tiles are transformed into
 * V[36][C][tiles], the 36 products M_k = U_k V_k (U = transformed weights [36][OC][C]) run
 * through sgemm, and M is transformed back. Backward transforms dy into Z[36][OC][tiles]
 * (the adjoint of the output transform) and from it forms dU_k += Z_k V_k^T and
 * dV_k = U_k^T Z_k, whose adjoint input transform is added into dx.
 *
 * Rounding differs from a direct convolution: relative errors of about 1e-5 of the
 * output's magnitude (the transforms have entries up to 8 and 1/24). */
#ifndef CNN_WINOGRAD_H
#define CNN_WINOGRAD_H
#include <stddef.h>

/* Convolution algorithm, from CNN_CONV=gemm|winograd|direct|auto (auto when unset or unknown).
 * Read on every call so a test can set it before building a graph. */
enum { CONV_AUTO = 0, CONV_GEMM = 1, CONV_WINOGRAD = 2, CONV_DIRECT = 3 /* kernels/direct.h */ };
int conv_algo_from_env(void);

typedef struct wino_shape {
    int C, H, W, OC, PH, PW; /* input, filters, padding */
    int OH, OW;              /* output: H + 2 PH - 2, W + 2 PW - 2 (both >= 1) */
    int TH, TW, tpi;         /* tiles per column, per row, per image */
    int ipb, tb;             /* images per block; tiles per block (ipb * tpi) */
} wino_shape;

/* Fills s for these sizes; the block size is chosen from the tile count. */
void wino_shape_init(wino_shape *s, int C, int H, int W, int OC, int PH, int PW);
/* Floats of U (and of dU): 36 * OC * C, rounded up to 16, or more: enough for the packed
 * forms of wino_pack_u and wino_pack_ut too. */
size_t wino_u_floats(const wino_shape *s);
/* Floats of scratch wino_fwd and wino_bwd need (besides U and dU), a multiple of 16. */
size_t wino_ws_floats(const wino_shape *s);

/* U[36][OC][C] = G w G^T for each filter of w (OC x C x 3 x 3). */
void wino_weights(const float *w, int OC, int C, float *U);
/* Up (wino_u_floats) = U laid out for the products of wino_fwd on the `simd` level (each
 * U_k packed for sgemm_packed): packed once, used for any number of wino_fwd calls. */
void wino_pack_u(int simd, const wino_shape *s, const float *U, float *Up);
/* Ut (wino_u_floats) = each U_k^T packed for the input-gradient products of wino_bwd. */
void wino_pack_ut(int simd, const wino_shape *s, const float *U, float *Ut);
/* dw (OC x C x 3 x 3) += G^T dU G, the adjoint of wino_weights. */
void wino_dweights(const float *dU, int OC, int C, float *dw);

/* x made while it is read, from the input z of a per-channel affine layer right before the
 * convolution (a batch normalisation, with or without a relu): per input channel c,
 * x = z a[c] + b[c] (the product rounded, then the sum), then max(0, x) with relu. z is
 * laid out like x. That layer's output then never goes to memory. */
typedef struct wino_x_affine {
    const float *z;
    const float *a, *b;
    int relu;
} wino_x_affine;

/* y (n x OC x OH x OW) = conv(x (n x C x H x W)) + bias (NULL: none), images taken ipb at
 * a time; x is read, or made from xa when that is not NULL. Up from wino_pack_u for the
 * same simd; ws holds wino_ws_floats, 64-byte aligned ideally. */
void wino_fwd(int simd, const wino_shape *s, const float *Up, const float *x, const wino_x_affine *xa, int n,
              const float *bias, float *y, float *ws);
/* dy made while it is read, from the gradient g and input z of a per-channel affine layer
 * right after the convolution (a batch normalisation, with or without a relu): per output
 * channel o, dy = k[o] g' - kx[o] z + k0[o], where g' = g if z a[o] + b[o] > 0 (relu) or
 * g, rounded as written (products, then the difference, then the sum). g and z are laid
 * out like dy. The layer's input gradient then never goes to memory. */
typedef struct wino_dy_affine {
    const float *g, *z;
    const float *k, *kx, *k0, *a, *b;
    int relu;
} wino_dy_affine;

/* For n images: dU ([36][OC][C]) = the transformed weight gradient (stored: dU is not
 * read, so it needs no clearing), in a fixed order of blocks; dx (n x C x H x W, NULL: not
 * wanted) += the input gradient, or = it if dx_store is set (dx is then only written),
 * which needs Ut from wino_pack_ut for the same simd (NULL when dx is). x is read, or made
 * from xa as in wino_fwd; dy is read, or made from aff when that is not NULL (dy is then
 * not read). */
void wino_bwd(int simd, const wino_shape *s, const float *Ut, const float *x, const wino_x_affine *xa,
              const float *dy, int n, float *dU, float *dx, int dx_store, const wino_dy_affine *aff, float *ws);
#endif
