/* gemm.c - the blocked sgemm driver (Goto/BLIS scheme), the portable micro-kernel and the
 * portable packing routines.
 *
 * Loop nest, outermost first: jc over N in NC columns, pc over K in KC steps (C is
 * finished with beta on the first step, then accumulated), ic over M in MC rows with the
 * A block packed into MR-row panels, jr over NR-column strips of B, ir over the A panels
 * calling the micro-kernel. The A block (MC x KC) stays in L2 and one B strip (KC x NR)
 * close by while every A panel passes over it.
 *
 * The conv layers call this per image with M = output channels (small) and N = pixels, so
 * M usually fits one MC block. Then each B strip is packed right before it is used and
 * the workspace holds a single strip; only when M spans several MC blocks are all strips
 * of a KC x NC block kept, packed during the first ic block and reused by the others.
 *
 * B is the large operand, and packing it is a pass over memory that the FMAs cannot
 * hide (it cost 7-13% on the N2 shapes), so B is read in place whenever its layout
 * allows: when op(B) = B (tb == 0) whole strips are read straight from B's rows; when
 * op(B) = B^T (tb == 1) and K is long enough, a second kind of tile (kernt) broadcasts
 * from B's rows and takes A, the small operand, transposed into k-slices instead. */
#include "gemm.h"

#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "gemm_kern.h"

/* The portable register tile: 8 rows x 4 columns, one SSE register of accumulators per
 * row. Plain C that gcc -O2 vectorizes once the loops are fully unrolled; of the shapes
 * tried (4x8, 3x8, 4x4, 8x4, 2x12, ...) this one leaves the accumulators in registers on
 * the x86-64 baseline (16 xmm) and runs fastest, about 1.5x 4x8. */
enum { PMR = 8, PNR = 4 };

static void kern_portable(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                          float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    float acc[PMR][PNR] = {{0}};
    for (int k = 0; k < kc; k++) {
        const float *a = Ap + k * PMR, *b = Bp + k * ldbp;
#pragma GCC unroll 8
        for (int i = 0; i < PMR; i++)
#pragma GCC unroll 4
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

/* One micro-kernel with its packers and cache blocking (upper bounds; the driver balances
 * the steps). kernt, when present, is the tile for op(B) = B^T that broadcasts from B in
 * place (see gemm_kern.h), with its own MRT x NRT tile and blocking.
 *
 * The numbers were measured on Zen 4 (L1d 32 KB, L2 1 MB) on the N2 shapes:
 * - AVX2 wants its B strip (KC x 24 floats) in L1: KC = 128 beat 288 by 5-8%. The AVX-512
 *   kernel does half the FMAs per byte of B and is happy streaming the strip from L2, so it
 *   takes KC = 384, which leaves K <= 384 in one step (fewer passes over C).
 * - The B^T tiles pay a transpose of the C tile per call, so they want long k runs: KCT =
 *   1024 (K = 784 in one step) ran 5-8% faster than 256; MCT x KCT floats of packed A is
 *   512 KB, in L2. Below K = 160 that transpose costs more than packing B^T, so the usual
 *   kernel is used (measured crossover between 128 and 192).
 * - MC = 192 keeps the conv layers' M (16..128 output channels) in one block, so B strips
 *   are packed right before use and the workspace holds one strip. */
typedef struct gemm_impl {
    int mr, nr, vl;     /* register tile; vector width that B strips are padded to */
    int mc, kc, nc;
    gemm_kern_fn kern;
    gemm_pack_fn pack_t, pack_n;
    int inplace;        /* read whole B strips in place when tb == 0: see b_inplace */
    int mrt, nrt, mct, kct;
    gemm_kern_fn kernt;
    int mrt1, nrt1;     /* kernt's narrower tile, if any: k-slices mrt1 wide, nrt1 columns */
} gemm_impl;

enum { KT_MIN = 160 }; /* smallest K for which the B^T tiles are used */

#define PORTABLE_IMPL                                                                     \
    {.mr = PMR, .nr = PNR, .vl = PNR, .mc = 192, .kc = 256, .nc = 2048,                 \
     .kern = kern_portable, .pack_t = pack_t_portable, .pack_n = pack_n_portable,         \
     .inplace = 1}
static const gemm_impl impls[SIMD_COUNT] = {
    [SIMD_PORTABLE] = PORTABLE_IMPL,
#ifndef CNN_NO_SIMD
    [SIMD_AVX2] = {.mr = 4, .nr = 24, .vl = 8, .mc = 192, .kc = 128, .nc = 2016,
                   .kern = gemm_kern_avx2, .pack_t = gemm_pack_t_avx2,
                   .pack_n = gemm_pack_n_avx2, .inplace = 2,
                   .mrt = 16, .nrt = 6, .mct = 128, .kct = 1024, .kernt = gemm_kernt_avx2},
    [SIMD_AVX512] = {.mr = 8, .nr = 48, .vl = 16, .mc = 192, .kc = 384, .nc = 2016,
                     .kern = gemm_kern_avx512, .pack_t = gemm_pack_t_avx2,
                     .pack_n = gemm_pack_n_avx512, .inplace = 1,
                     .mrt = 32, .nrt = 12, .mct = 128, .kct = 1024,
                     .kernt = gemm_kernt_avx512, .mrt1 = 16, .nrt1 = 16},
#else
    /* Levels that are not built fall back to the portable path. */
    [SIMD_AVX2] = PORTABLE_IMPL,
    [SIMD_AVX512] = PORTABLE_IMPL,
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

static int use_kernt(const gemm_impl *im, int tb, int K) {
    return tb && im->kernt && K >= KT_MIN;
}

static gemm_plan plan_for(const gemm_impl *im, int tb, int M, int N, int K) {
    gemm_plan p;
    int T = use_kernt(im, tb, K);
    int mr = T ? im->mrt : im->mr, mc = T ? im->mct : im->mc, kc = T ? im->kct : im->kc;
    /* Equal steps instead of full blocks plus a ragged last one: K = 576 with KC = 384
     * runs as 2 x 288, not 384 + 192. */
    p.kstep = cdiv(K, cdiv(K, kc));
    p.mstep = rup(cdiv(M, cdiv(M, mc)), mr);
    p.a_floats = (size_t)p.mstep * p.kstep;
    if (T) { /* B is read in place; only a ragged last column strip is copied */
        p.nstep = N;
        p.keep_b = 0;
        p.b_floats = (size_t)(im->nrt1 > im->nrt ? im->nrt1 : im->nrt) * p.kstep;
    } else {
        p.nstep = N < im->nc ? N : im->nc;
        /* when every whole strip is read in place, only the last one is ever packed */
        p.keep_b = M > p.mstep && (tb || im->inplace != 1);
        p.b_floats = (size_t)p.kstep * (p.keep_b ? rup(p.nstep, im->nr) : im->nr);
    }
    return p;
}

/* Offsets in the workspace are rounded to 16 floats so packed panels start on a cache
 * line whenever ws itself does. */
enum { WS_ALIGN = 16 };

size_t sgemm_ws_floats(int M, int N, int K) {
    if (M <= 0 || N <= 0 || K <= 0) return WS_ALIGN;
    size_t most = 0;
    for (int l = 0; l < SIMD_COUNT; l++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_plan p = plan_for(&impls[l], tb, M, N, K);
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

/* Whether the micro-kernel reads a whole B strip (tb == 0) straight from B instead of a
 * packed copy. In place saves the copy, but the strip's rows then sit ldb apart: when that
 * is a multiple of 256 bytes they map onto a quarter of L1's sets and evict each other.
 * The AVX2 kernel (two ymm FMAs a cycle) needs its strip in L1, so it packs then; the
 * AVX-512 kernel streams its 48-wide strip from L2 at no loss, so it always reads in place. */
static int b_inplace(const gemm_impl *im, int ldb) {
    return im->inplace == 1 || (im->inplace == 2 && ldb % 64 != 0);
}

/* op(B) = B^T with a kernt: A is packed as MRT-row k-slices and B is broadcast in place. */
static void sgemm_t(const gemm_impl *im, const gemm_plan *p, int ta, int M, int N, int K,
                    float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                    float *C, int ldc, float *Ab, float *Bt) {
    const int MR = im->mrt, NR = M <= im->mrt1 ? im->nrt1 : im->nrt;
    for (int pc = 0; pc < K; pc += p->kstep) {
        int kc = K - pc < p->kstep ? K - pc : p->kstep;
        float beta_k = pc == 0 ? beta : 1.0f;
        for (int ic = 0; ic < M; ic += p->mstep) {
            int mc = M - ic < p->mstep ? M - ic : p->mstep;
            for (int ir = 0; ir < mc; ir += MR) {
                int mr = mc - ir < MR ? mc - ir : MR, wp = mr <= im->mrt1 ? im->mrt1 : MR;
                float *dst = Ab + (size_t)ir * kc;
                if (ta) im->pack_n(A + (size_t)pc * lda + ic + ir, lda, mr, kc, wp, dst);
                else im->pack_t(A + (size_t)(ic + ir) * lda + pc, lda, mr, kc, wp, dst);
            }
            for (int jr = 0; jr < N; jr += NR) {
                int nr = N - jr < NR ? N - jr : NR;
                const float *bs = B + (size_t)jr * ldb + pc;
                ptrdiff_t ldbs = ldb;
                if (nr < NR) { /* the kernel reads up to NR rows: pad the last strip with zero rows */
                    for (int j = 0; j < NR; j++)
                        if (j < nr)
                            memcpy(Bt + (size_t)j * kc, bs + (size_t)j * ldb, kc * sizeof *Bt);
                        else
                            memset(Bt + (size_t)j * kc, 0, kc * sizeof *Bt);
                    bs = Bt;
                    ldbs = kc;
                }
                float *c = C + (size_t)ic * ldc + jr;
                for (int ir = 0; ir < mc; ir += MR)
                    im->kernt(kc, Ab + (size_t)ir * kc, bs, ldbs, c + (size_t)ir * ldc, ldc,
                              mc - ir < MR ? mc - ir : MR, nr, alpha, beta_k);
            }
        }
    }
}

/* The panels of op(A) for the (pc, ic) block: a prepacked A holds, for each k step in
 * turn, all ceil(M / MR) panels of that step (kc x MR each), so the block of rows ic..
 * starts ic * kc floats into its step. */
static size_t packed_a_offset(const gemm_impl *im, int M, int pc, int ic, int kc) {
    return (size_t)pc * (size_t)rup(M, im->mr) + (size_t)ic * (size_t)kc;
}

static void pack_a_block(const gemm_impl *im, int ta, const float *A, int lda, int pc, int ic, int mc, int kc,
                         float *dst) {
    const int MR = im->mr;
    for (int ir = 0; ir < mc; ir += MR) {
        int mr = mc - ir < MR ? mc - ir : MR;
        if (ta) im->pack_n(A + (size_t)pc * lda + ic + ir, lda, mr, kc, MR, dst + (size_t)ir * kc);
        else im->pack_t(A + (size_t)(ic + ir) * lda + pc, lda, mr, kc, MR, dst + (size_t)ir * kc);
    }
}

static const gemm_impl *impl_of(int simd) { return &impls[simd > SIMD_PORTABLE && simd < SIMD_COUNT ? simd : 0]; }

/* The op(B) = B loop nest (see the top of the file). A's panels are packed into Ab per
 * block, or read from Ap when the caller packed all of A beforehand: the same kernel calls
 * in the same order either way, so the same bits. */
static void sgemm_n(const gemm_impl *im, const gemm_plan *p, int ta, int tb, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *Ap, const float *B, int ldb, float beta, float *C,
                    int ldc, float *Ab, float *Bb) {
    const int MR = im->mr, NR = im->nr;
    for (int jc = 0; jc < N; jc += p->nstep) {
        int nc = N - jc < p->nstep ? N - jc : p->nstep;
        for (int pc = 0; pc < K; pc += p->kstep) {
            int kc = K - pc < p->kstep ? K - pc : p->kstep;
            float beta_k = pc == 0 ? beta : 1.0f;
            for (int ic = 0; ic < M; ic += p->mstep) {
                int mc = M - ic < p->mstep ? M - ic : p->mstep;
                const float *Ablk = Ab;
                if (Ap) Ablk = Ap + packed_a_offset(im, M, pc, ic, kc);
                else pack_a_block(im, ta, A, lda, pc, ic, mc, kc, Ab);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    int wp = rup(nr, im->vl);
                    const float *bs;
                    ptrdiff_t ldbs = wp;
                    /* a strip of whole vectors is read in place too (the kernel reads
                     * no further), such as Winograd's 32 or 16 tiles on small maps */
                    if (!tb && (nr == NR || nr % im->vl == 0) && b_inplace(im, ldb)) {
                        bs = B + (size_t)pc * ldb + jc + jr;
                        ldbs = ldb;
                    } else {
                        float *strip = Bb + (p->keep_b ? (size_t)(jr / NR) * NR * kc : 0);
                        if (ic == 0 || !p->keep_b) {
                            const float *src = tb ? B + (size_t)(jc + jr) * ldb + pc
                                                  : B + (size_t)pc * ldb + jc + jr;
                            (tb ? im->pack_t : im->pack_n)(src, ldb, nr, kc, wp, strip);
                        }
                        bs = strip;
                    }
                    float *c = C + (size_t)ic * ldc + jc + jr;
                    for (int ir = 0; ir < mc; ir += MR)
                        im->kern(kc, Ablk + (size_t)ir * kc, bs, ldbs, c + (size_t)ir * ldc, ldc,
                                 mc - ir < MR ? mc - ir : MR, nr, alpha, beta_k);
                }
            }
        }
    }
}

/* The packing area (Ab) and the B strip area (Bb) in ws, on cache lines. */
static void split_gemm_ws(const gemm_plan *p, float *ws, float **Ab, float **Bb) {
    size_t mis = (uintptr_t)ws / sizeof *ws % WS_ALIGN;
    *Ab = ws + (mis ? WS_ALIGN - mis : 0);
    *Bb = *Ab + (p->a_floats + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
}

void sgemm(int simd, int ta, int tb, int M, int N, int K, float alpha,
           const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
           float *ws) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const gemm_impl *im = impl_of(simd);
    gemm_plan p = plan_for(im, tb, M, N, K);
    float *Ab, *Bb;
    split_gemm_ws(&p, ws, &Ab, &Bb);
    if (use_kernt(im, tb, K)) {
        sgemm_t(im, &p, ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, Ab, Bb);
        return;
    }
    sgemm_n(im, &p, ta, tb, M, N, K, alpha, A, lda, NULL, B, ldb, beta, C, ldc, Ab, Bb);
}

size_t sgemm_pack_a_floats(int M, int K) {
    if (M <= 0 || K <= 0) return WS_ALIGN;
    size_t most = 0;
    for (int l = 0; l < SIMD_COUNT; l++) {
        size_t need = (size_t)rup(M, impls[l].mr) * (size_t)K;
        if (need > most) most = need;
    }
    return (most + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
}

void sgemm_pack_a(int simd, int ta, int M, int K, const float *A, int lda, float *Ap) {
    if (M <= 0 || K <= 0) return;
    const gemm_impl *im = impl_of(simd);
    gemm_plan p = plan_for(im, 0, M, 1, K); /* the k and m steps do not depend on N */
    for (int pc = 0; pc < K; pc += p.kstep) {
        int kc = K - pc < p.kstep ? K - pc : p.kstep;
        for (int ic = 0; ic < M; ic += p.mstep) {
            int mc = M - ic < p.mstep ? M - ic : p.mstep;
            pack_a_block(im, ta, A, lda, pc, ic, mc, kc, Ap + packed_a_offset(im, M, pc, ic, kc));
        }
    }
}

void sgemm_packed(int simd, int M, int N, int K, float alpha, const float *Ap, const float *B, int ldb, float beta,
                  float *C, int ldc, float *ws) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const gemm_impl *im = impl_of(simd);
    gemm_plan p = plan_for(im, 0, M, N, K);
    float *Ab, *Bb;
    split_gemm_ws(&p, ws, &Ab, &Bb);
    sgemm_n(im, &p, 0, 0, M, N, K, alpha, NULL, 0, Ap, B, ldb, beta, C, ldc, Ab, Bb);
}

/* The portable dot: eight partial sums (k mod 8) added in a fixed order, then the tail. */
static float dot_portable(int K, const float *a, const float *b) {
    float acc[8] = {0};
    int k = 0;
    for (; k + 8 <= K; k += 8)
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) acc[l] += a[k + l] * b[k + l];
    float t = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < K; k++) t += a[k] * b[k];
    return t;
}

void sgemm_dot(int simd, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX2 || simd == SIMD_AVX512) {
        gemm_dot_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    for (int j = 0; j < N; j++)
        for (int i = 0; i < M; i++) {
            float d = K > 0 ? dot_portable(K, A + (size_t)i * lda, B + (size_t)j * ldb) : 0.0f;
            float *c = C + (size_t)i * ldc + j;
            *c = beta == 0.0f ? alpha * d : alpha * d + beta * *c;
        }
}
