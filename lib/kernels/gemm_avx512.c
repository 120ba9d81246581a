/* gemm_avx512.c - the AVX-512 micro-kernel of sgemm (8 x 48 register tile) and its
 * copy-packing routine. Built with -mavx512f/bw/dq/vl; called only when cpuid says so.
 *
 * Why 8 x 48: conv layers have M = output channels (16, 32, 64, ...), so a row count
 * dividing 8 leaves no ragged row panel; 3 zmm columns x 8 rows = 24 accumulators hide the
 * 4-cycle FMA latency even on CPUs with two 512-bit FMA units, and each k step does 24 FMAs
 * for 3 vector loads and 8 broadcasts. Column tails use masks, so a strip narrower than 48
 * costs only the 16-wide vectors it touches. */
#include <immintrin.h>

#include "gemm_kern.h"

/* One register tile: MR_ rows (1..8) and NV zmm columns (1..3) are compile-time constants
 * after inlining, so the accumulator array lives in registers. */
static inline __attribute__((always_inline)) void
tile(const int MR_, const int NV, int kc, const float *A, const float *B, ptrdiff_t ldb,
     float *C, ptrdiff_t ldc, __mmask16 mlast, float alpha, float beta) {
    __m512 acc[8][3];
#pragma GCC unroll 8
    for (int r = 0; r < MR_; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();

    /* The C tile is needed only at the end, but fetching it now overlaps the misses
     * with the k loop. */
#pragma GCC unroll 8
    for (int r = 0; r < MR_; r++) {
        _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + r * ldc + 16 * NV - 1), _MM_HINT_T0);
    }

    for (int k = 0; k < kc; k++) {
        __m512 b[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) b[v] = _mm512_loadu_ps(B + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR_; r++) {
            __m512 a = _mm512_set1_ps(A[r]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
        A += 8;
        B += ldb;
    }

    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR_; r++) {
        float *c = C + r * ldc;
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? mlast : (__mmask16)0xffff;
            __m512 x;
            if (beta == 0.0f) x = _mm512_mul_ps(acc[r][v], va); /* C may hold NaN: not read */
            else if (beta == 1.0f)
                x = _mm512_fmadd_ps(acc[r][v], va, _mm512_maskz_loadu_ps(m, c + 16 * v));
            else
                x = _mm512_fmadd_ps(acc[r][v], va,
                                    _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, c + 16 * v)));
            _mm512_mask_storeu_ps(c + 16 * v, m, x);
        }
    }
}

#define TILE_NV(MRV)                                                                   \
    switch (nv) {                                                                      \
    case 1: tile(MRV, 1, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;           \
    case 2: tile(MRV, 2, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;           \
    default: tile(MRV, 3, kc, Ap, Bp, ldbp, C, ldc, m, alpha, beta); break;          \
    }

void gemm_kern_avx512(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                      float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    int nv = (nr + 15) / 16;
    int tail = nr - 16 * (nv - 1);
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
