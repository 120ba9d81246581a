/* transpose.h - in-register transposes of square blocks of floats, for kernels that turn
 * rows into lanes (the direct weight gradient's dy, the Winograd passes with images in the
 * lanes). Include from a file built with AVX2 (and AVX-512 for transpose16). Every loop is
 * unrolled by pragma: at -O2 gcc kept a partly unrolled loop's arrays on the stack. */
#ifndef CNN_TRANSPOSE_H
#define CNN_TRANSPOSE_H
#include <immintrin.h>

#ifdef __AVX2__
/* r[i] = row i of an 8 x 8 block -> r[j] = column j. */
static inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2)
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44), u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44), u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20), r[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
}
#endif

#ifdef __AVX512F__
/* r[i] = row i of a 16 x 16 block -> r[j] = column j. */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2)
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]), c = _mm512_castps_pd(t[i + 2]),
                e = _mm512_castps_pd(t[i + 3]);
        u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c)), u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e)), u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
    }
    /* u[4q + j] holds rows 4q..4q+3 at columns j, j + 4, j + 8, j + 12 (one per 128-bit lane). */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
        r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88), r[j + 4] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[j + 8] = _mm512_shuffle_f32x4(v1, v3, 0x88), r[j + 12] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}
#endif
#endif
