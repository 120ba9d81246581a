/* maxpool2_avx2.c - the 2x2 max pool of maxpool2.h, eight outputs per step, then four, then
 * the last few again through the four-wide step (AVX2 only; the caller checks the CPU). */
#include "maxpool2.h"
#include <immintrin.h>

/* The taps of 8 outputs from 16 floats, in the output order 0 1 4 5 2 3 6 7 (the shuffle
 * stays within 128-bit lanes); vectors keep that order until they are stored. */
static inline __m256 evens8(const float *x) {
    return _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), 0x88);
}
static inline __m256 odds8(const float *x) {
    return _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), 0xDD);
}
static inline __m128 evens4(const float *x) { return _mm_shuffle_ps(_mm_loadu_ps(x), _mm_loadu_ps(x + 4), 0x88); }
static inline __m128 odds4(const float *x) { return _mm_shuffle_ps(_mm_loadu_ps(x), _mm_loadu_ps(x + 4), 0xDD); }

/* Four outputs from 8 floats of each row (128-bit shuffles keep them in order). */
static inline void fwd4(const float *r0, const float *r1, float *y, uint8_t *a, int none) {
    __m128 v0 = evens4(r0), v1 = odds4(r0), v2 = evens4(r1), v3 = odds4(r1);
    __m128 b1 = _mm_cmpgt_ps(v1, v0);
    __m128 m = _mm_blendv_ps(v0, v1, b1);
    __m128 b2 = _mm_cmpgt_ps(v2, m);
    m = _mm_blendv_ps(m, v2, b2);
    __m128 b3 = _mm_cmpgt_ps(v3, m);
    m = _mm_blendv_ps(m, v3, b3);
    _mm_storeu_ps(y, m);
    if (a) {
        __m128 k = _mm_and_ps(b1, _mm_castsi128_ps(_mm_set1_epi32(1)));
        k = _mm_blendv_ps(k, _mm_castsi128_ps(_mm_set1_epi32(2)), b2);
        k = _mm_blendv_ps(k, _mm_castsi128_ps(_mm_set1_epi32(3)), b3);
        if (none) k = _mm_blendv_ps(k, _mm_castsi128_ps(_mm_set1_epi32(4)), _mm_cmpngt_ps(m, _mm_setzero_ps()));
        __m128i ki = _mm_castps_si128(k);
        int32_t w = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(ki, ki), ki));
        __builtin_memcpy(a, &w, 4);
    }
}

static void row_fwd(const float *r0, const float *r1, float *y, uint8_t *a, int OW, int none) {
    int ow = 0;
    for (; ow + 8 <= OW; ow += 8) {
        __m256 v0 = evens8(r0 + 2 * ow), v1 = odds8(r0 + 2 * ow), v2 = evens8(r1 + 2 * ow), v3 = odds8(r1 + 2 * ow);
        __m256 b1 = _mm256_cmp_ps(v1, v0, _CMP_GT_OQ);
        __m256 m = _mm256_blendv_ps(v0, v1, b1);
        __m256 b2 = _mm256_cmp_ps(v2, m, _CMP_GT_OQ);
        m = _mm256_blendv_ps(m, v2, b2);
        __m256 b3 = _mm256_cmp_ps(v3, m, _CMP_GT_OQ);
        m = _mm256_blendv_ps(m, v3, b3);
        /* 64-bit blocks 0 2 1 3 put the outputs back in order */
        _mm256_storeu_ps(y + ow, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8)));
        if (a) {
            __m256 k = _mm256_and_ps(b1, _mm256_castsi256_ps(_mm256_set1_epi32(1)));
            k = _mm256_blendv_ps(k, _mm256_castsi256_ps(_mm256_set1_epi32(2)), b2);
            k = _mm256_blendv_ps(k, _mm256_castsi256_ps(_mm256_set1_epi32(3)), b3);
            if (none)
                k = _mm256_blendv_ps(k, _mm256_castsi256_ps(_mm256_set1_epi32(4)),
                                     _mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_NGT_UQ));
            __m256i ki = _mm256_castps_si256(k);
            /* bytes per lane: outputs 0 1 4 5 in the low lane, 2 3 6 7 in the high one */
            __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(ki, ki), _mm256_setzero_si256());
            __m128i lo = _mm256_castsi256_si128(p), hi = _mm256_extracti128_si256(p, 1);
            _mm_storel_epi64((__m128i *)(a + ow), _mm_unpacklo_epi16(lo, hi));
        }
    }
    for (; ow + 4 <= OW; ow += 4) fwd4(r0 + 2 * ow, r1 + 2 * ow, y + ow, a ? a + ow : NULL, none);
    if (ow == OW) return;
    /* The last 1-3 outputs: again through the selects (a scalar loop branches on which tap
     * wins and mispredicts; N2's 14- and 7-wide rows spent most of their time there), by
     * redoing the last four when the row has four (same values stored twice), else on a
     * padded copy. Fixed-size copies: a memcpy call per row cost as much as the row. */
    if (OW >= 4) {
        fwd4(r0 + 2 * (OW - 4), r1 + 2 * (OW - 4), y + OW - 4, a ? a + OW - 4 : NULL, none);
        return;
    }
    float t0[8] = {0}, t1[8] = {0}, ty[4];
    uint8_t ta[4];
    for (int i = 0; i < 2 * OW; i++) t0[i] = r0[i], t1[i] = r1[i];
    fwd4(t0, t1, ty, ta, none);
    for (int i = 0; i < OW; i++) {
        y[i] = ty[i];
        if (a) a[i] = ta[i];
    }
}

void maxpool2_fwd_avx2(const float *x, int W, float *y, uint8_t *a, int OW, int64_t rows, int none) {
    for (int64_t r = 0; r < rows; r++)
        row_fwd(x + 2 * W * r, x + 2 * W * r + W, y + OW * r, a ? a + OW * r : NULL, OW, none);
}

/* Stores (or adds) e0 e1 interleaved: 2n floats from n outputs' even and odd taps. */
static inline void put8(float *d, __m256 e, __m256 o, int store) {
    __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o); /* outputs 0 1 4 5, 2 3 6 7 */
    __m256 p0 = _mm256_permute2f128_ps(lo, hi, 0x20), p1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    if (!store) {
        p0 = _mm256_add_ps(p0, _mm256_loadu_ps(d));
        p1 = _mm256_add_ps(p1, _mm256_loadu_ps(d + 8));
    }
    _mm256_storeu_ps(d, p0);
    _mm256_storeu_ps(d + 8, p1);
}

static inline void put4(float *d, __m128 e, __m128 o, int store) {
    __m128 p0 = _mm_unpacklo_ps(e, o), p1 = _mm_unpackhi_ps(e, o);
    if (!store) {
        p0 = _mm_add_ps(p0, _mm_loadu_ps(d));
        p1 = _mm_add_ps(p1, _mm_loadu_ps(d + 4));
    }
    _mm_storeu_ps(d, p0);
    _mm_storeu_ps(d + 4, p1);
}

static inline void bwd4(const float *dy, const uint8_t *a, float *d0, float *d1, int store) {
    __m128 g = _mm_loadu_ps(dy);
    int32_t w;
    __builtin_memcpy(&w, a, 4);
    __m128i k = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(w));
    __m128 e0 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_setzero_si128())));
    __m128 e1 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(1))));
    __m128 e2 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(2))));
    __m128 e3 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(3))));
    put4(d0, e0, e1, store);
    put4(d1, e2, e3, store);
}

static void row_bwd(const float *dy, const uint8_t *a, float *d0, float *d1, int OW, int store) {
    int ow = 0;
    for (; ow + 8 <= OW; ow += 8) {
        __m256 g = _mm256_loadu_ps(dy + ow);
        __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(a + ow)));
        __m256 e0 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256())));
        __m256 e1 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(1))));
        __m256 e2 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(2))));
        __m256 e3 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(3))));
        put8(d0 + 2 * ow, e0, e1, store);
        put8(d1 + 2 * ow, e2, e3, store);
    }
    for (; ow + 4 <= OW; ow += 4) bwd4(dy + ow, a + ow, d0 + 2 * ow, d1 + 2 * ow, store);
    if (ow == OW) return;
    if (store && OW >= 4) { /* as in row_fwd; adding twice would not be idempotent */
        bwd4(dy + OW - 4, a + OW - 4, d0 + 2 * (OW - 4), d1 + 2 * (OW - 4), 1);
        return;
    }
    float tg[4] = {0}, t0[8] = {0}, t1[8] = {0};
    uint8_t ta[4] = {0};
    int r = OW - ow;
    for (int i = 0; i < r; i++) tg[i] = dy[ow + i], ta[i] = a[ow + i];
    for (int i = 0; i < 2 * r; i++) t0[i] = d0[2 * ow + i], t1[i] = d1[2 * ow + i];
    bwd4(tg, ta, t0, t1, store);
    for (int i = 0; i < 2 * r; i++) d0[2 * ow + i] = t0[i], d1[2 * ow + i] = t1[i];
}

void maxpool2_bwd_avx2(const float *dy, const uint8_t *a, float *dx, int W, int OW, int64_t rows, int store) {
    for (int64_t r = 0; r < rows; r++) row_bwd(dy + OW * r, a + OW * r, dx + 2 * W * r, dx + 2 * W * r + W, OW, store);
}
