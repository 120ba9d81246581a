/* gemm.c - the blocked sgemm driver (Goto/BLIS scheme), the portable micro-kernel and the
 * portable packing routines.
 *
 * Loop nest, outermost first: jc over N in NC columns, pc over K in KC steps (C is
 * finished with beta on the first step, then accumulated), ic over M in MC rows with the
 * A block packed into MR-row panels, jr over NR-column strips of B, ir over the A panels
 * calling the micro-kernel. The A block (MC x KC) stays in L2 and one B strip (KC x NR)
 * in L1 while every A panel passes over it.
 *
 * The conv layers call this per image with M = output channels (small) and N = pixels, so
 * M usually fits one MC block. Then each B strip is packed right before it is used and
 * the workspace holds a single strip; only when M spans several MC blocks are all strips
 * of a KC x NC block kept, packed during the first ic block and reused by the others.
 * When op(B) is B itself (tb == 0) its rows are already contiguous along N, so full
 * strips are read in place instead of packed. */
#include "gemm.h"

#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "gemm_kern.h"

/* The portable register tile. 4 x 8 floats are 8 SSE registers of accumulators, and
 * constant trip counts let gcc -O2 vectorize the inner loops without run-time checks. */
enum { PMR = 4, PNR = 8 };

static void kern_portable(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                          float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    float acc[PMR][PNR] = {{0}};
    for (int k = 0; k < kc; k++) {
        const float *a = Ap + k * PMR, *b = Bp + k * ldbp;
        for (int i = 0; i < PMR; i++)
            for (int j = 0; j < PNR; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) /* C may hold NaN: not read */
            for (int j = 0; j < nr; j++) c[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < nr; j++) c[j] = alpha * acc[i][j] + beta * c[j];
    }
}

static void pack_t_portable(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst) {
    for (int r = 0; r < w; r++)
        for (int k = 0; k < kc; k++) dst[(ptrdiff_t)k * wp + r] = src[r * ld + k];
    for (int k = 0; k < kc; k++)
        for (int r = w; r < wp; r++) dst[(ptrdiff_t)k * wp + r] = 0.0f;
}

static void pack_n_portable(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst) {
    for (int k = 0; k < kc; k++, src += ld, dst += wp) {
        memcpy(dst, src, (size_t)w * sizeof *dst);
        for (int c = w; c < wp; c++) dst[c] = 0.0f;
    }
}

/* One micro-kernel with its packers and cache blocking. MC is a multiple of MR and NC of
 * NR; KC bounds a B strip (KC x NR floats) to about L1 size, MC x KC sits in L2 (1-2 MB). */
typedef struct gemm_impl {
    int mr, nr, vl;     /* register tile; vector width that B strips are padded to */
    int mc, kc, nc;     /* cache blocking (upper bounds; the driver balances the steps) */
    gemm_kern_fn kern;
    gemm_pack_fn pack_t, pack_n;
} gemm_impl;

static const gemm_impl impls[SIMD_COUNT] = {
    [SIMD_PORTABLE] = {PMR, PNR, PNR, 192, 256, 2048, kern_portable, pack_t_portable,
                       pack_n_portable},
#ifndef CNN_NO_SIMD
    [SIMD_AVX2] = {4, 24, 8, 192, 384, 2016, gemm_kern_avx2, gemm_pack_t_avx2,
                   gemm_pack_n_avx2},
    [SIMD_AVX512] = {8, 48, 16, 192, 384, 2016, gemm_kern_avx512, gemm_pack_t_avx2,
                     gemm_pack_n_avx512},
#else
    /* Levels that are not built fall back to the portable path. */
    [SIMD_AVX2] = {PMR, PNR, PNR, 192, 256, 2048, kern_portable, pack_t_portable,
                   pack_n_portable},
    [SIMD_AVX512] = {PMR, PNR, PNR, 192, 256, 2048, kern_portable, pack_t_portable,
                     pack_n_portable},
#endif
};

static int cdiv(int a, int b) { return (a + b - 1) / b; }
static int rup(int a, int b) { return cdiv(a, b) * b; }

/* The steps the driver takes for this problem, and the workspace they need. */
typedef struct gemm_plan {
    int mstep, kstep, nstep;
    int keep_b;          /* several ic blocks: keep every strip of the B block */
    size_t a_floats, b_floats;
} gemm_plan;

static gemm_plan plan_for(const gemm_impl *im, int M, int N, int K) {
    gemm_plan p;
    /* Equal steps instead of full blocks plus a ragged last one: K = 576 with KC = 384
     * runs as 2 x 288, not 384 + 192. */
    p.kstep = cdiv(K, cdiv(K, im->kc));
    p.mstep = rup(cdiv(M, cdiv(M, im->mc)), im->mr);
    p.nstep = N < im->nc ? N : im->nc;
    p.keep_b = M > p.mstep;
    p.a_floats = (size_t)p.mstep * p.kstep;
    p.b_floats = (size_t)p.kstep * (p.keep_b ? rup(p.nstep, im->nr) : im->nr);
    return p;
}

/* Offsets in the workspace are rounded to 16 floats so packed panels start on a cache
 * line whenever ws itself does. */
enum { WS_ALIGN = 16 };

size_t sgemm_ws_floats(int M, int N, int K) {
    if (M <= 0 || N <= 0 || K <= 0) return WS_ALIGN;
    size_t most = 0;
    for (int l = 0; l < SIMD_COUNT; l++) {
        gemm_plan p = plan_for(&impls[l], M, N, K);
        size_t need = p.a_floats + p.b_floats + 2 * WS_ALIGN;
        if (need > most) most = need;
    }
    return most;
}

/* C = beta * C, for the cases with no product to add. */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof *c);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

void sgemm(int simd, int ta, int tb, int M, int N, int K, float alpha,
           const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
           float *ws) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const gemm_impl *im = &impls[simd > SIMD_PORTABLE && simd < SIMD_COUNT ? simd : 0];
    const int MR = im->mr, NR = im->nr;
    gemm_plan p = plan_for(im, M, N, K);
    size_t mis = (uintptr_t)ws / sizeof *ws % WS_ALIGN;
    float *Ab = ws + (mis ? WS_ALIGN - mis : 0);
    float *Bb = Ab + (p.a_floats + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;

    for (int jc = 0; jc < N; jc += p.nstep) {
        int nc = N - jc < p.nstep ? N - jc : p.nstep;
        for (int pc = 0; pc < K; pc += p.kstep) {
            int kc = K - pc < p.kstep ? K - pc : p.kstep;
            float beta_k = pc == 0 ? beta : 1.0f;
            for (int ic = 0; ic < M; ic += p.mstep) {
                int mc = M - ic < p.mstep ? M - ic : p.mstep;
                for (int ir = 0; ir < mc; ir += MR) {
                    int mr = mc - ir < MR ? mc - ir : MR;
                    float *dst = Ab + (size_t)ir * kc;
                    if (ta) im->pack_n(A + (size_t)pc * lda + ic + ir, lda, mr, kc, MR, dst);
                    else im->pack_t(A + (size_t)(ic + ir) * lda + pc, lda, mr, kc, MR, dst);
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    int wp = rup(nr, im->vl);
                    const float *bs;
                    ptrdiff_t ldbs = wp;
                    if (!tb && nr == NR) { /* read B in place: rows are contiguous */
                        bs = B + (size_t)pc * ldb + jc + jr;
                        ldbs = ldb;
                    } else {
                        float *strip = Bb + (p.keep_b ? (size_t)(jr / NR) * NR * kc : 0);
                        if (ic == 0 || !p.keep_b) {
                            if (tb) im->pack_t(B + (size_t)(jc + jr) * ldb + pc, ldb, nr, kc, wp, strip);
                            else im->pack_n(B + (size_t)pc * ldb + jc + jr, ldb, nr, kc, wp, strip);
                        }
                        bs = strip;
                    }
                    float *c = C + (size_t)ic * ldc + jc + jr;
                    for (int ir = 0; ir < mc; ir += MR)
                        im->kern(kc, Ab + (size_t)ir * kc, bs, ldbs, c + (size_t)ir * ldc, ldc,
                                 mc - ir < MR ? mc - ir : MR, nr, alpha, beta_k);
                }
            }
        }
    }
}
