/* im2col_avx512.c - im2col and col2im_add for column stride 2 without dilation, built for
 * AVX-512; called only when cpuid reports it (see im2col.h for the layout).
 *
 * Why a path of its own: at stride 2 a column row holds only OW (8-16) taps of an input
 * row, so the general loop pays its per-row setup (valid range, zero runs) and a strided
 * gather for each of C*KH*KW*OH short rows. Here a row of 16 taps is two masked loads of
 * 32 input floats and one permute that keeps the even lanes; the masks also supply the
 * zeros of the padding, so no row needs a bounds case.
 *
 * col2im_add holds one dx row in registers, split into its even and odd columns, adds the
 * KW taps into them in kw order under masks and interleaves it back. Every pixel receives
 * the same additions in the same order as the general loop (which walks c, kh, kw, oh: for
 * one pixel kh fixes oh, so both orders are by (kh, kw)), so the bits match it; pixels no
 * tap reaches are stored back as they were loaded.
 *
 * Every mask depends only on the block and the tap, not the row, so they are computed once
 * per call: a row runs no mask arithmetic and no data-dependent branch (with both,
 * col2im_add was no faster than the general loop). On N3's strided layers (Zen 4, one
 * image): im2col 2.4x faster than the general loop for 16x32x32 3x3, col2im_add 1.8x; 1.7x
 * and 1.1x for the 1x1 projection. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

void im2col_s2_avx512(const float *x, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH, int OH,
                      int OW, float *col);
void col2im_add_s2_avx512(const float *dcol, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH,
                          int OH, int OW, float *dx);

/* The lanes [lo, hi) of n (16 or 32), as a mask. */
static inline uint32_t lanes(int lo, int hi, int n) {
    if (lo < 0) lo = 0;
    if (hi > n) hi = n;
    if (hi <= lo) return 0;
    return (uint32_t)((((uint64_t)1 << hi) - 1) & ~(((uint64_t)1 << lo) - 1));
}

/* p + i where i may point outside p's row (or before the whole buffer): the masked loads
 * and stores below read only lanes inside it, but forming such a pointer with + would be
 * undefined, so it is computed on the address. */
static inline const float *at(const float *p, ptrdiff_t i) {
    return (const float *)((uintptr_t)p + i * (ptrdiff_t)sizeof *p);
}

/* Masked loads and stores, plain ones when every lane is in (most of a wide row): */
static inline __m512 load_m(__mmask16 m, const float *p) {
    return m == 0xffff ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
static inline void store_m(float *p, __mmask16 m, __m512 v) {
    if (m == 0xffff) _mm512_storeu_ps(p, v);
    else if (m) _mm512_mask_storeu_ps(p, m, v);
}

/* The lane masks of im2col's rows, the same for every row: xm[kw][j] the columns inside x
 * of the 32 from 2*16j + kw - PW (output columns 16j to 16j + 15), om[j] the output
 * columns of block j. Computed once, so a row runs no mask arithmetic. */
typedef struct i2c_masks {
    uint32_t xm[IM2COL_S2_SPAN][4];
    __mmask16 om[4];
} i2c_masks;

void im2col_s2_avx512(const float *x, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH, int OH,
                      int OW, float *col) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    size_t plane = (size_t)OH * OW;
    int nob = (OW + 15) / 16; /* at most 4: IM2COL_S2_SPAN */
    i2c_masks mk;
    for (int j = 0; j < nob; j++) {
        mk.om[j] = (__mmask16)lanes(0, OW - 16 * j, 16);
        for (int kw = 0; kw < KW; kw++) {
            int base = 32 * j + kw - PW;
            mk.xm[kw][j] = lanes(-base, W - base, 32);
        }
    }
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            float *cr = col + ((size_t)c * KH + kh) * KW * plane;
            for (int oh = 0; oh < OH; oh++) {
                int ih = oh * SH - PH + kh * DH;
                if (ih < 0 || ih >= H) { /* a row of padding */
                    for (int kw = 0; kw < KW; kw++)
                        for (int j = 0; j < nob; j++)
                            store_m(cr + kw * plane + (size_t)oh * OW + 16 * j, mk.om[j], _mm512_setzero_ps());
                    continue;
                }
                const float *xr = xc + (size_t)ih * W;
                for (int kw = 0; kw < KW; kw++) {
                    float *d = cr + kw * plane + (size_t)oh * OW;
                    for (int j = 0; j < nob; j++) {
                        /* 32 input columns; the even ones are the taps */
                        uint32_t m = mk.xm[kw][j];
                        __m512 lo = _mm512_maskz_loadu_ps((__mmask16)m, at(xr, 32 * j + kw - PW));
                        __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), at(xr, 32 * j + kw - PW + 16));
                        store_m(d + 16 * j, mk.om[j], _mm512_permutex2var_ps(lo, even, hi));
                    }
                }
            }
        }
    }
}

/* The lane masks of col2im_add's row, the same for every row: xm[b] the columns of block b
 * inside x, dm[kw][b] the lanes of half block b that tap kw reaches. Computed once, so a
 * row runs no mask arithmetic and no data-dependent branch. */
typedef struct c2i_masks {
    uint32_t xm[4];
    __mmask16 dm[IM2COL_S2_SPAN][4];
} c2i_masks;

/* One dx row (see the file comment) whose taps reach nb blocks of 32 padded columns; inlined
 * with nb constant (1-4), so that the halves live in registers. */
static inline __attribute__((always_inline)) void c2i_row(const float *d0, size_t plane, int KW, int PW,
                                                          const c2i_masks *mk, float *xr, const int nb) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /* interleave e (indices 0-15) and o (16-31) back: the low and the high 16 columns */
    const __m512i lo16 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi16 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 e[4], o[4];
    _Pragma("GCC unroll 4") for (int b = 0; b < nb; b++) {
        uint32_t m = mk->xm[b];
        __m512 lo = load_m((__mmask16)m, at(xr, 32 * b - PW));
        __m512 hi = load_m((__mmask16)(m >> 16), at(xr, 32 * b - PW + 16));
        e[b] = _mm512_permutex2var_ps(lo, even, hi);
        o[b] = _mm512_permutex2var_ps(lo, odd, hi);
    }
    for (int kw = 0; kw < KW; kw++) {
        /* tap ow lands on half column ow + kw/2 of the even (kw even) or odd half; the
         * halves are chosen by branches, not a pointer, so that they can stay in registers
         * (a 64-byte load right after a 64-byte store to the same place stalls on Zen 4) */
        const float *d = at(d0 + kw * plane, -(kw >> 1));
        _Pragma("GCC unroll 4") for (int b = 0; b < nb; b++) {
            __mmask16 m = mk->dm[kw][b];
            __m512 v = _mm512_maskz_loadu_ps(m, d + 16 * b);
            if (kw & 1) o[b] = _mm512_mask_add_ps(o[b], m, o[b], v);
            else e[b] = _mm512_mask_add_ps(e[b], m, e[b], v);
        }
    }
    _Pragma("GCC unroll 4") for (int b = 0; b < nb; b++) {
        uint32_t m = mk->xm[b];
        store_m((float *)at(xr, 32 * b - PW), (__mmask16)m, _mm512_permutex2var_ps(e[b], lo16, o[b]));
        store_m((float *)at(xr, 32 * b - PW + 16), (__mmask16)(m >> 16), _mm512_permutex2var_ps(e[b], hi16, o[b]));
    }
}

void col2im_add_s2_avx512(const float *dcol, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH,
                          int OH, int OW, float *dx) {
    /* the padded row's columns [0, 2*(OW-1) + KW) that the taps reach, in blocks of 32 */
    int nb = (2 * (OW - 1) + KW + 31) / 32;
    size_t plane = (size_t)OH * OW;
    c2i_masks mk;
    for (int b = 0; b < nb; b++) {
        mk.xm[b] = lanes(PW - 32 * b, PW + W - 32 * b, 32);
        for (int kw = 0; kw < KW; kw++)
            mk.dm[kw][b] = (__mmask16)lanes((kw >> 1) - 16 * b, OW + (kw >> 1) - 16 * b, 16);
    }
    for (int c = 0; c < C; c++) {
        float *xc = dx + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            const float *cr = dcol + ((size_t)c * KH + kh) * KW * plane;
            for (int oh = 0; oh < OH; oh++) {
                int ih = oh * SH - PH + kh * DH;
                if (ih < 0 || ih >= H) continue;
                float *xr = xc + (size_t)ih * W;
                const float *d0 = cr + (size_t)oh * OW;
                switch (nb) { /* at most 4: IM2COL_S2_SPAN */
                case 1: c2i_row(d0, plane, KW, PW, &mk, xr, 1); break;
                case 2: c2i_row(d0, plane, KW, PW, &mk, xr, 2); break;
                case 3: c2i_row(d0, plane, KW, PW, &mk, xr, 3); break;
                default: c2i_row(d0, plane, KW, PW, &mk, xr, 4); break;
                }
            }
        }
    }
}
