/* gemm_avx512.c - the AVX-512 micro-kernels of sgemm (8 x 48 register tile, and 32 x 12
 * or 16 x 16 for op(B) = B^T) and a copy-packing routine. Built with -mavx512f/bw/dq/vl;
 * called only when cpuid says so.
 *
 * Why 8 x 48: conv layers have M = output channels (16, 32, 64, ...), so a row count
 * dividing 8 leaves no ragged row panel; 3 zmm columns x 8 rows = 24 accumulators hide the
 * 4-cycle FMA latency even on CPUs with two 512-bit FMA units, and each k step does 24 FMAs
 * for 3 vector loads and 8 broadcasts. Column tails use masks, so a strip narrower than 48
 * costs only the vectors it touches. */
#include <immintrin.h>

#include "gemm_kern.h"

/* y = alpha * acc + beta * y under mask m; beta == 0 does not read y (it may hold NaN).
 * alpha == 1 skips the multiply (x * 1 is x, NaN included): with Winograd's K = 16
 * products a tile's 24 multiplies were 6 % of its floating-point work. */
static inline __attribute__((always_inline)) void
upd16(float *y, __m512 acc, __mmask16 m, __m512 va, __m512 vb, float alpha, float beta) {
    __m512 x = alpha == 1.0f ? acc : _mm512_mul_ps(acc, va);
    if (beta == 1.0f) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, y));
    else if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, y), x);
    _mm512_mask_storeu_ps(y, m, x);
}
static inline __attribute__((always_inline)) void
upd8(float *y, __m256 acc, __mmask8 m, __m256 va, __m256 vb, float alpha, float beta) {
    __m256 x = alpha == 1.0f ? acc : _mm256_mul_ps(acc, va);
    if (beta == 1.0f) x = _mm256_add_ps(x, _mm256_maskz_loadu_ps(m, y));
    else if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_maskz_loadu_ps(m, y), x);
    _mm256_mask_storeu_ps(y, m, x);
}

/* One register tile: MR_ rows (1..8), NZ zmm columns (0..3) and H (0 or 1) extra ymm
 * column are compile-time constants after inlining, so the accumulators live in
 * registers. A ragged strip ends in a ymm when at most 8 columns are left: a ymm FMA costs
 * half a zmm one, which matters for N = 196 (4 strips of 48 and 4 columns). */
static inline __attribute__((always_inline)) void
tile(const int MR_, const int NZ, const int H, int kc, const float *A, const float *B,
     ptrdiff_t ldb, float *C, ptrdiff_t ldc, __mmask16 mlast, float alpha, float beta) {
    __m512 acc[8][3];
    __m256 acch[8];
#pragma GCC unroll 8
    for (int r = 0; r < MR_; r++) {
#pragma GCC unroll 3
        for (int v = 0; v < NZ; v++) acc[r][v] = _mm512_setzero_ps();
        if (H) acch[r] = _mm256_setzero_ps();
    }

    /* The C tile is needed only at the end, but fetching it now overlaps the misses
     * with the k loop. */
#pragma GCC unroll 8
    for (int r = 0; r < MR_; r++) {
        _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + r * ldc + 16 * NZ + 8 * H - 1), _MM_HINT_T0);
    }

    for (int k = 0; k < kc; k++) {
        __m512 b[3];
        __m256 bh = _mm256_setzero_ps();
#pragma GCC unroll 3
        for (int v = 0; v < NZ; v++) b[v] = _mm512_loadu_ps(B + 16 * v);
        if (H) bh = _mm256_loadu_ps(B + 16 * NZ);
#pragma GCC unroll 8
        for (int r = 0; r < MR_; r++) {
            if (NZ == 0) { /* a zmm broadcast issues at 1 a cycle on Zen 4, a ymm one at 3 */
                acch[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + r), bh, acch[r]);
                continue;
            }
            __m512 a = _mm512_set1_ps(A[r]);
#pragma GCC unroll 3
            for (int v = 0; v < NZ; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
            if (H) acch[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(a), bh, acch[r]);
        }
        A += 8;
        B += ldb;
    }

    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR_; r++) {
        float *c = C + r * ldc;
#pragma GCC unroll 3
        for (int v = 0; v < NZ; v++)
            upd16(c + 16 * v, acc[r][v], !H && v == NZ - 1 ? mlast : (__mmask16)0xffff, va, vb,
                  alpha, beta);
        if (H)
            upd8(c + 16 * NZ, acch[r], (__mmask8)mlast, _mm512_castps512_ps256(va),
                 _mm512_castps512_ps256(vb), alpha, beta);
    }
}

#define TILE_NV(MRV)                                                                   \
    switch (shape) {                                                                   \
    case 0: tile(MRV, 0, 1, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;        \
    case 1: tile(MRV, 1, 0, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;        \
    case 2: tile(MRV, 1, 1, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;        \
    case 3: tile(MRV, 2, 0, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;        \
    case 4: tile(MRV, 2, 1, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;        \
    default: tile(MRV, 3, 0, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;       \
    }

void gemm_kern_avx512(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                      float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    /* shape = the number of 8-column halves, minus one: an even count ends in a zmm, an
     * odd one in a ymm. The last vector starts at 16 * (shape / 2) either way, and its
     * mask keeps the columns past nr untouched. */
    int shape = (nr + 7) / 8 - 1;
    int tail = nr - 16 * (shape / 2);
    __mmask16 m = (__mmask16)(tail >= 16 ? 0xffff : (1u << tail) - 1);
    switch (mr) {
    case 1: TILE_NV(1) break;
    case 2: TILE_NV(2) break;
    case 3: TILE_NV(3) break;
    case 4: TILE_NV(4) break;
    case 5: TILE_NV(5) break;
    case 6: TILE_NV(6) break;
    case 7: TILE_NV(7) break;
    default: TILE_NV(8) break;
    }
}

/* Copy-pack (no transpose): masked loads read exactly w floats of each source row and
 * give the zero padding for free. */
void gemm_pack_n_avx512(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst) {
    if (w == 48 && wp == 48) { /* the common full strip */
        for (int k = 0; k < kc; k++, src += ld, dst += 48) {
            __m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16),
                   x2 = _mm512_loadu_ps(src + 32);
            _mm512_storeu_ps(dst, x0);
            _mm512_storeu_ps(dst + 16, x1);
            _mm512_storeu_ps(dst + 32, x2);
        }
        return;
    }
    for (int k = 0; k < kc; k++, src += ld, dst += wp) {
        for (int c = 0; c < wp; c += 16) {
            int nl = w - c, ns = wp - c;
            __mmask16 ml = (__mmask16)(nl >= 16 ? 0xffff : nl <= 0 ? 0 : (1u << nl) - 1);
            __mmask16 ms = (__mmask16)(ns >= 16 ? 0xffff : (1u << ns) - 1);
            _mm512_mask_storeu_ps(dst + c, ms, _mm512_maskz_loadu_ps(ml, src + c));
        }
    }
}

/* The tile for op(B) = B^T (B stored N x K): NV zmm of C rows (16 each) per column, NC
 * columns, each broadcast straight from its row of B, so the large operand is never packed
 * or transposed; A comes packed as k-slices 16 * NV wide (a transpose of the small
 * operand). The tile is transposed into C once at the end. Two shapes: 32 x 12 (24
 * accumulators), and for at most 16 live rows 16 x 16, which the driver picks for M <= 16
 * (the Winograd weight-gradient products of 16-channel layers are 16 x 16 over hundreds of
 * tiles: a 32 x 12 tile computed a third of its FMAs for them). */
static inline __attribute__((always_inline)) void
tilet(const int NV, const int NC, int kc, const float *Ap, const float *B, ptrdiff_t ldb,
      float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    __m512 acc[16][2];
#pragma GCC unroll 16
    for (int j = 0; j < NC; j++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[j][v] = _mm512_setzero_ps();
    const int S = NC / 4; /* rows of B from 4 pointers plus s * ldb, so no pointer is spilled */
    const float *p[4] = {B, B + S * ldb, B + 2 * S * ldb, B + 3 * S * ldb};
    for (int k = 0; k < kc; k++) {
        __m512 a[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) a[v] = _mm512_loadu_ps(Ap + 16 * v);
        Ap += 16 * NV;
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                __m512 b = _mm512_set1_ps(p[q][s * ldb]);
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++)
                    acc[S * q + s][v] = _mm512_fmadd_ps(a[v], b, acc[S * q + s][v]);
            }
            p[q]++;
        }
    }
    /* store_t reads whole 8-column blocks of T: columns past NC are set too, so no
     * uninitialized value is loaded */
    float T[16 * 32] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) _mm512_store_ps(T + 32 * j + 16 * v, j < NC ? acc[j][v] : _mm512_setzero_ps());
    gemm_store_t_avx2(T, 32, mr, nr, C, ldc, alpha, beta);
}

void gemm_kernt_avx512(int kc, const float *Ap, const float *B, ptrdiff_t ldb,
                       float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    if (mr > 16) tilet(2, 12, kc, Ap, B, ldb, C, ldc, mr, nr, alpha, beta);
    else if (nr > 12) tilet(1, 16, kc, Ap, B, ldb, C, ldc, mr, nr, alpha, beta);
    else tilet(1, 12, kc, Ap, B, ldb, C, ldc, mr, nr, alpha, beta);
}
