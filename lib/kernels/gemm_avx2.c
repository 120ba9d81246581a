/* gemm_avx2.c - the AVX2+FMA micro-kernels of sgemm (4 x 24 register tile, and 16 x 6 for
 * op(B) = B^T), the packing routines (transpose and copy) and the transposed C update.
 * Built with -mavx2 -mfma; called only when cpuid says so. The AVX-512 path reuses the
 * transpose packer and gemm_store_t_avx2, which is why that level implies AVX2.
 *
 * Why 4 x 24: 16 ymm registers hold 12 accumulators, 3 B vectors and 1 broadcast; a row
 * count of 4 divides every conv layer's output-channel count, and 12 accumulators cover
 * the FMA latency (4 cycles x 2 units = 8 in flight). */
#include <immintrin.h>

#include "gemm_kern.h"

/* Lane masks for maskload/maskstore: the first n of 8 lanes. */
static __m256i lane_mask(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* One register tile: MR_ rows (1..4) and NV ymm columns (1..3) are compile-time constants
 * after inlining, so the accumulators live in registers. */
static inline __attribute__((always_inline)) void
tile(const int MR_, const int NV, int kc, const float *A, const float *B, ptrdiff_t ldb,
     float *C, ptrdiff_t ldc, int whole, __m256i mlast, float alpha, float beta) {
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int r = 0; r < MR_; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();

#pragma GCC unroll 4
    for (int r = 0; r < MR_; r++) {
        _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + r * ldc + 8 * NV - 1), _MM_HINT_T0);
    }

    int k = 0;
    if (NV == 1) {
        /* A one-vector strip has only MR_ accumulators, too few to cover the FMA latency:
         * odd k steps go to a second set, added at the end. */
#pragma GCC unroll 4
        for (int r = 0; r < MR_; r++) acc[r][1] = _mm256_setzero_ps();
        for (; k + 2 <= kc; k += 2) {
            __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + ldb);
#pragma GCC unroll 4
            for (int r = 0; r < MR_; r++) {
                acc[r][0] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + r), b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 4 + r), b1, acc[r][1]);
            }
            A += 8;
            B += 2 * ldb;
        }
    }
    for (; k < kc; k++) {
        __m256 b[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) b[v] = _mm256_loadu_ps(B + 8 * v);
#pragma GCC unroll 4
        for (int r = 0; r < MR_; r++) {
            __m256 a = _mm256_broadcast_ss(A + r);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
        }
        A += 4;
        B += ldb;
    }
    if (NV == 1)
#pragma GCC unroll 4
        for (int r = 0; r < MR_; r++) acc[r][0] = _mm256_add_ps(acc[r][0], acc[r][1]);

    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    /* vmaskmovps stores are slow on AMD: plain stores wherever the vector is whole. */
#pragma GCC unroll 4
    for (int r = 0; r < MR_; r++) {
        float *c = C + r * ldc;
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            __m256 x = _mm256_mul_ps(acc[r][v], va);
            if (v < NV - 1 || whole) {
                if (beta == 1.0f) x = _mm256_add_ps(x, _mm256_loadu_ps(c + 8 * v));
                else if (beta != 0.0f) /* beta == 0: C may hold NaN, not read */
                    x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * v), x);
                _mm256_storeu_ps(c + 8 * v, x);
            } else {
                if (beta == 1.0f) x = _mm256_add_ps(x, _mm256_maskload_ps(c + 8 * v, mlast));
                else if (beta != 0.0f)
                    x = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8 * v, mlast), x);
                _mm256_maskstore_ps(c + 8 * v, mlast, x);
            }
        }
    }
}

#define TILE_NV(MRV)                                                                  \
    switch (nv) {                                                                     \
    case 1: tile(MRV, 1, kc, Ap, Bp, ldbp, C, ldc, whole, m, alpha, beta); break;   \
    case 2: tile(MRV, 2, kc, Ap, Bp, ldbp, C, ldc, whole, m, alpha, beta); break;   \
    default: tile(MRV, 3, kc, Ap, Bp, ldbp, C, ldc, whole, m, alpha, beta); break;  \
    }

void gemm_kern_avx2(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                    float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    int nv = (nr + 7) / 8;
    int whole = nr == 8 * nv;
    __m256i m = lane_mask(nr - 8 * (nv - 1));
    switch (mr) {
    case 1: TILE_NV(1) break;
    case 2: TILE_NV(2) break;
    case 3: TILE_NV(3) break;
    default: TILE_NV(4) break;
    }
}

/* Transposes an 8 x 8 block: out[h][r] = s[r*ld + h]. Each ymm is loaded as two 4-float
 * halves (row i in the low lane, row i+4 in the high lane), so an in-lane 4x4 transpose
 * finishes the job without cross-lane shuffles. */
static inline __attribute__((always_inline)) void
tr8x8(const float *s, ptrdiff_t ld, __m256 out[8]) {
    __m256 x[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        x[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + i * ld)),
                                    _mm_loadu_ps(s + (i + 4) * ld), 1);
        x[i + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + i * ld + 4)),
                                        _mm_loadu_ps(s + (i + 4) * ld + 4), 1);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 8; h += 4) {
        __m256 t0 = _mm256_unpacklo_ps(x[h], x[h + 1]);
        __m256 t1 = _mm256_unpackhi_ps(x[h], x[h + 1]);
        __m256 t2 = _mm256_unpacklo_ps(x[h + 2], x[h + 3]);
        __m256 t3 = _mm256_unpackhi_ps(x[h + 2], x[h + 3]);
        out[h] = _mm256_shuffle_ps(t0, t2, 0x44);
        out[h + 1] = _mm256_shuffle_ps(t0, t2, 0xee);
        out[h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
        out[h + 3] = _mm256_shuffle_ps(t1, t3, 0xee);
    }
}

/* Transpose-pack, in 8 x 8 register blocks. k is the outer loop so the destination is
 * written as whole consecutive rows while the w source rows are read as w short streams. */
void gemm_pack_t_avx2(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst) {
    int w8 = w & ~7, w4 = w & ~3, k8 = kc & ~7, k4 = kc & ~3;
    for (int k = 0; k < k8; k += 8)
        for (int r = 0; r < w8; r += 8) {
            __m256 t[8];
            tr8x8(src + r * ld + k, ld, t);
            float *d = dst + (ptrdiff_t)k * wp + r;
#pragma GCC unroll 8
            for (int h = 0; h < 8; h++) _mm256_storeu_ps(d + h * wp, t[h]);
        }
    if (w8 < w4) { /* one group of 4 rows (the AVX2 A panel is 4 rows) */
        const float *s = src + w8 * ld;
        for (int k = 0; k < k4; k += 4) {
            __m128 x0 = _mm_loadu_ps(s + k), x1 = _mm_loadu_ps(s + ld + k);
            __m128 x2 = _mm_loadu_ps(s + 2 * ld + k), x3 = _mm_loadu_ps(s + 3 * ld + k);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            float *d = dst + (ptrdiff_t)k * wp + w8;
            _mm_storeu_ps(d, x0);
            _mm_storeu_ps(d + wp, x1);
            _mm_storeu_ps(d + 2 * wp, x2);
            _mm_storeu_ps(d + 3 * wp, x3);
        }
        for (int k = k4; k < kc; k++)
            for (int i = w8; i < w4; i++) dst[(ptrdiff_t)k * wp + i] = src[i * ld + k];
    }
    for (int k = k8; k < kc; k++) /* k tail of the 8-row groups */
        for (int i = 0; i < w8; i++) dst[(ptrdiff_t)k * wp + i] = src[i * ld + k];
    for (int i = w4; i < w; i++) /* leftover rows */
        for (int k = 0; k < kc; k++) dst[(ptrdiff_t)k * wp + i] = src[i * ld + k];
    if (w < wp)
        for (int k = 0; k < kc; k++)
            for (int i = w; i < wp; i++) dst[(ptrdiff_t)k * wp + i] = 0.0f;
}

/* Copy-pack: maskload reads exactly the w valid floats and zero-fills the rest. */
void gemm_pack_n_avx2(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst) {
    if (w == 24 && wp == 24) { /* the common full strip */
        for (int k = 0; k < kc; k++, src += ld, dst += 24) {
            __m256 x0 = _mm256_loadu_ps(src), x1 = _mm256_loadu_ps(src + 8),
                   x2 = _mm256_loadu_ps(src + 16);
            _mm256_storeu_ps(dst, x0);
            _mm256_storeu_ps(dst + 8, x1);
            _mm256_storeu_ps(dst + 16, x2);
        }
        return;
    }
    if (w == 4 && wp == 4) { /* a full A panel */
        for (int k = 0; k < kc; k++, src += ld, dst += 4) _mm_storeu_ps(dst, _mm_loadu_ps(src));
        return;
    }
    for (int k = 0; k < kc; k++, src += ld, dst += wp) {
        int c = 0;
        for (; c + 8 <= wp; c += 8)
            _mm256_storeu_ps(dst + c, _mm256_maskload_ps(src + c, lane_mask(w - c)));
        for (; c < wp; c++) dst[c] = c < w ? src[c] : 0.0f;
    }
}

/* y = alpha * t + beta * y on n = 8 or 4 floats; beta == 0 does not read y (it may be NaN). */
static inline __attribute__((always_inline)) void upd8(float *y, __m256 t, __m256 va, __m256 vb,
                                                        float beta) {
    __m256 x = _mm256_mul_ps(t, va);
    if (beta == 1.0f) x = _mm256_add_ps(x, _mm256_loadu_ps(y));
    else if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(y), x);
    _mm256_storeu_ps(y, x);
}
static inline __attribute__((always_inline)) void upd4(float *y, __m128 t, __m128 va, __m128 vb,
                                                        float beta) {
    __m128 x = _mm_mul_ps(t, va);
    if (beta == 1.0f) x = _mm_add_ps(x, _mm_loadu_ps(y));
    else if (beta != 0.0f) x = _mm_fmadd_ps(vb, _mm_loadu_ps(y), x);
    _mm_storeu_ps(y, x);
}
/* The first w (1..8) floats of y = alpha * t + beta * y, from a register: whole 4-float
 * halves, then a pair, then one, so no slow vmaskmovps is needed. */
static inline __attribute__((always_inline)) void updw(float *y, __m256 t, int w, __m256 va,
                                                        __m256 vb, float beta) {
    if (w == 8) {
        upd8(y, t, va, vb, beta);
        return;
    }
    __m128 x = _mm256_castps256_ps128(t), a4 = _mm256_castps256_ps128(va),
           b4 = _mm256_castps256_ps128(vb);
    if (w >= 4) {
        upd4(y, x, a4, b4, beta);
        x = _mm256_extractf128_ps(t, 1);
        y += 4;
        w -= 4;
    }
    if (w >= 2) {
        __m128 r = _mm_mul_ps(x, a4);
        if (beta != 0.0f)
            r = _mm_fmadd_ps(b4, _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)y), r);
        /* loadl/storel_pi move 8 bytes with no alignment requirement (unlike _sd) */
        _mm_storel_pi((__m64 *)y, r);
        x = _mm_movehl_ps(x, x);
        y += 2;
        w -= 2;
    }
    if (w) {
        __m128 r = _mm_mul_ss(x, a4);
        if (beta != 0.0f) r = _mm_fmadd_ss(b4, _mm_load_ss(y), r);
        _mm_store_ss(y, r);
    }
}

void gemm_store_t_avx2(const float *T, ptrdiff_t ldt, int mr, int nr, float *C, ptrdiff_t ldc,
                       float alpha, float beta) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int i8 = mr & ~7;
    for (int i = 0; i < i8; i += 8)
        for (int j = 0; j < nr; j += 8) {
            __m256 t[8];
            int w = nr - j < 8 ? nr - j : 8;
            tr8x8(T + j * ldt + i, ldt, t); /* rows j+w..j+7 are read but not used */
#pragma GCC unroll 8
            for (int h = 0; h < 8; h++) updw(C + (i + h) * ldc + j, t[h], w, va, vb, beta);
        }
    for (int i = i8; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float *y = C + i * ldc + j, x = alpha * T[j * ldt + i];
            *y = beta == 0.0f ? x : x + beta * *y;
        }
}

/* The tile for op(B) = B^T (B stored N x K): 16 rows of C held as two ymm per column,
 * 6 columns, each broadcast straight from its row of B, so the large operand is never
 * packed or transposed; A comes packed as 16-wide k-slices (gemm_pack_t of the small
 * operand). The tile is transposed once at the end, which costs little next to kc steps.
 * Rows of B are reached from 2 pointers plus ldb and 2*ldb. */
void gemm_kernt_avx2(int kc, const float *Ap, const float *B, ptrdiff_t ldb,
                     float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta) {
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    const float *p[2] = {B, B + 3 * ldb};
    for (int k = 0; k < kc; k++) {
        __m256 a0 = _mm256_loadu_ps(Ap), a1 = _mm256_loadu_ps(Ap + 8);
        Ap += 16;
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {
#pragma GCC unroll 3
            for (int s = 0; s < 3; s++) {
                __m256 b = _mm256_broadcast_ss(p[q] + s * ldb);
                acc[3 * q + s][0] = _mm256_fmadd_ps(a0, b, acc[3 * q + s][0]);
                acc[3 * q + s][1] = _mm256_fmadd_ps(a1, b, acc[3 * q + s][1]);
            }
            p[q]++;
        }
    }
    /* 8 rows: store_t reads whole 8-row blocks of T */
    float T[8 * 16] __attribute__((aligned(32)));
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++) {
        _mm256_store_ps(T + 16 * j, acc[j][0]);
        _mm256_store_ps(T + 16 * j + 8, acc[j][1]);
    }
    _mm256_store_ps(T + 96, _mm256_setzero_ps());
    _mm256_store_ps(T + 104, _mm256_setzero_ps());
    _mm256_store_ps(T + 112, _mm256_setzero_ps());
    _mm256_store_ps(T + 120, _mm256_setzero_ps());
    gemm_store_t_avx2(T, 16, mr, nr, C, ldc, alpha, beta);
}

/* NB (1..4) dot products of the K floats at a with the rows of b (ldb apart). Vectors
 * of 8 at even and odd positions go to two accumulators (8 in flight over 4 rows covers
 * the FMA latency), which are added, summed across lanes in a fixed tree, and the last
 * K % 8 products added in order: each dot's rounding depends on K alone. */
static inline __attribute__((always_inline)) void
dots(const int NB, int K, const float *a, const float *b, ptrdiff_t ldb, float out[4]) {
    __m256 e[4], o[4];
#pragma GCC unroll 4
    for (int r = 0; r < NB; r++) e[r] = o[r] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m256 a0 = _mm256_loadu_ps(a + k), a1 = _mm256_loadu_ps(a + k + 8);
#pragma GCC unroll 4
        for (int r = 0; r < NB; r++) {
            e[r] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + r * ldb + k), e[r]);
            o[r] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + r * ldb + k + 8), o[r]);
        }
    }
    if (k + 8 <= K) {
        __m256 a0 = _mm256_loadu_ps(a + k);
#pragma GCC unroll 4
        for (int r = 0; r < NB; r++) e[r] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + r * ldb + k), e[r]);
        k += 8;
    }
#pragma GCC unroll 4
    for (int r = 0; r < NB; r++) {
        __m256 s = _mm256_add_ps(e[r], o[r]);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        float t = _mm_cvtss_f32(h);
        for (int j = k; j < K; j++) t += a[j] * b[r * ldb + j];
        out[r] = t;
    }
}

void gemm_dot_avx2(int M, int N, int K, float alpha, const float *A, ptrdiff_t lda, const float *B,
                   ptrdiff_t ldb, float beta, float *C, ptrdiff_t ldc) {
    /* B rows 4 at a time against every row of A: a block of B is read from memory once and
     * from cache for the other rows of A (M is small here). */
    for (int j = 0; j < N; j += 4) {
        int nb = N - j < 4 ? N - j : 4;
        for (int i = 0; i < M; i++) {
            float d[4];
            const float *a = A + i * lda, *b = B + j * ldb;
            switch (nb) {
            case 1: dots(1, K, a, b, ldb, d); break;
            case 2: dots(2, K, a, b, ldb, d); break;
            case 3: dots(3, K, a, b, ldb, d); break;
            default: dots(4, K, a, b, ldb, d); break;
            }
            float *c = C + i * ldc + j;
            for (int r = 0; r < nb; r++) c[r] = beta == 0.0f ? alpha * d[r] : alpha * d[r] + beta * c[r];
        }
    }
}
