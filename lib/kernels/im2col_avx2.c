/* im2col_avx2.c - im2col for column stride 2 without dilation, built for AVX2; called only
 * when cpuid reports it. The method of im2col_avx512.c (see its comment) in vectors of 8:
 * a row of 8 taps is two loads of 16 input floats and a shuffle that keeps the even lanes
 * (1.5-1.8x faster than the general loop on N3's strided layers, Zen 4). Loads are masked
 * only where a block crosses the input row's ends; the full blocks take plain ones.
 *
 * col2im_add has no AVX2 twin of the AVX-512 one: written the same way (the row split in
 * registers, the taps added, the row interleaved back) it ran 1.5x slower than the general
 * loop on Zen 4, whose AVX2 masked stores are microcoded, and a store of the partial edge
 * blocks through a buffer did not help. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

void im2col_s2_avx2(const float *x, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH, int OH,
                    int OW, float *col);

/* The lanes [lo, hi) of 8, as a mask vector. */
static inline __m256i vmask(int lo, int hi) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), iota));
}

/* p + i where i may point outside p's row (see im2col_avx512.c). */
static inline const float *at(const float *p, ptrdiff_t i) {
    return (const float *)((uintptr_t)p + i * (ptrdiff_t)sizeof *p);
}

/* The 8 floats from p whose index i (0-7 from p) has lo <= i < hi; the others read as 0. */
static inline __m256 load_in(const float *p, int lo, int hi) {
    if (lo <= 0 && hi >= 8) return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, vmask(lo, hi));
}

/* The even lanes of a:b (16 floats), in order. */
static inline __m256 evens(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}

/* d[0, n) = v's first n lanes. When more is fine, the block is stored whole: a masked store
 * is microcoded on AMD (with OW = 7, masking every block made this path slower than the
 * general loop). */
static inline void store_n(float *d, int n, int more, __m256 v) {
    if (n >= 8 || more) _mm256_storeu_ps(d, v);
    else _mm256_maskstore_ps(d, vmask(0, n), v);
}

void im2col_s2_avx2(const float *x, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH, int OH,
                    int OW, float *col) {
    size_t plane = (size_t)OH * OW;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            float *cr = col + ((size_t)c * KH + kh) * KW * plane;
            for (int oh = 0; oh < OH; oh++) {
                /* up to 7 lanes past the end of output row oh fall on the next rows of the
                 * same tap, which are written after, if there are enough of them */
                int more = (size_t)(OH - 1 - oh) * OW >= 8;
                int ih = oh * SH - PH + kh * DH;
                if (ih < 0 || ih >= H) { /* a row of padding */
                    for (int kw = 0; kw < KW; kw++)
                        for (int j = 0; j < OW; j += 8)
                            store_n(cr + kw * plane + (size_t)oh * OW + j, OW - j, more, _mm256_setzero_ps());
                    continue;
                }
                const float *xr = xc + (size_t)ih * W;
                for (int kw = 0; kw < KW; kw++) {
                    float *d = cr + kw * plane + (size_t)oh * OW;
                    for (int j = 0; j < OW; j += 8) {
                        /* 16 input columns from 2*j + kw - PW; the even ones are the taps */
                        int base = 2 * j + kw - PW;
                        __m256 lo = load_in(at(xr, base), -base, W - base);
                        __m256 hi = load_in(at(xr, base + 8), -base - 8, W - base - 8);
                        store_n(d + j, OW - j, more, evens(lo, hi));
                    }
                }
            }
        }
    }
}
