/* im2col.c - receptive fields to columns (im2col) and back (col2im_add), for one image.
 *
 * Both walk the column matrix row by row: a row is one tap (c, kh, kw) over all output
 * pixels. For each output row oh the input row is fixed, and the output columns whose
 * input column falls inside the image form one interval [lo, hi), computed in closed form.
 * So the inner loops never test bounds: outside the interval im2col writes zeros (and
 * col2im_add skips), inside it is a plain copy or add, contiguous when SW == 1. Any
 * stride, padding (even larger than the kernel) and dilation take this path.
 *
 * The "same" convolution (strides 1, OW == W: 3x3 with padding 1 and the like) has a
 * faster path: a whole tap row is then one shifted run of the input plane, moved in one
 * piece instead of OH pieces of a few dozen floats (2.6x faster for N2's layers).
 *
 * Column stride 2 (undilated) has paths of their own: im2col on AVX2 (im2col_avx2.c) and
 * both on AVX-512 (im2col_avx512.c); the dispatch is at the end. */
#include "im2col.h"
#include "cpu.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The output columns ow in [0, OW) with 0 <= ow*SW + off < W, as [*lo, *hi). */
static void valid_range(int off, int SW, int W, int OW, int *lo, int *hi) {
    /* ow >= ceil(-off / SW) when off < 0 */
    int l = off >= 0 ? 0 : (-off + SW - 1) / SW;
    /* ow*SW + off <= W - 1  <=>  ow <= floor((W - 1 - off) / SW) when W - 1 - off >= 0 */
    int h = W - 1 - off < 0 ? 0 : (W - 1 - off) / SW + 1;
    if (l > OW) l = OW;
    if (h > OW) h = OW;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* d[i] += s[i] and d[i] = s[i] for a conv row (7-56 floats), inline: a memcpy call costs
 * more than such a copy. Fixed blocks of 8 let gcc -O2 (whose default cost model does not
 * vectorize loops that need a scalar epilogue) emit vector code; the copy ends with an
 * overlapping block instead of a scalar tail, which gcc would turn back into a call. */
static inline void add_row(float *restrict d, const float *restrict s, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) d[i + j] += s[i + j];
    for (; i < n; i++) d[i] += s[i];
}
static inline void copy_row(float *restrict d, const float *restrict s, int n) {
    if (n < 8) {
        for (int j = 0; j < 8; j++)
            if (j < n) d[j] = s[j];
        return;
    }
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) d[i + j] = s[i + j];
    if (i < n)
        for (int j = 0; j < 8; j++) d[n - 8 + j] = s[n - 8 + j];
}

/* Zeroes a few floats of a row inline; a memset call costs more than such a store. */
static inline void zero_run(float *d, int n) {
    if (n > 32) memset(d, 0, (size_t)n * sizeof *d);
    else
        for (int i = 0; i < n; i++) d[i] = 0.0f;
}

/* The common "same" case (strides 1, output as wide as the input): a column row is then
 * the input plane shifted by (dh, off), so its valid rows are one contiguous run of x.
 * One memcpy moves them all; the few columns that wrapped around a row edge are zeroed
 * after. */
static void im2col_row_s1(const float *xc, int H, int W, int dh, int off, int lo, int hi,
                          int OH, float *col) {
    int oh_lo = dh < 0 ? -dh : 0, oh_hi = H - dh < OH ? H - dh : OH;
    if (oh_lo > OH) oh_lo = OH;
    if (oh_hi < oh_lo) oh_hi = oh_lo;
    if (oh_hi == oh_lo || lo == hi) {
        memset(col, 0, (size_t)OH * W * sizeof *col);
        return;
    }
    if (oh_lo) memset(col, 0, (size_t)oh_lo * W * sizeof *col);
    /* from (oh_lo, lo) to (oh_hi - 1, hi - 1): inside x at both ends */
    size_t first = (size_t)oh_lo * W + lo, last = (size_t)(oh_hi - 1) * W + hi;
    memcpy(col + first, xc + (ptrdiff_t)first + (ptrdiff_t)dh * W + off,
           (last - first) * sizeof *col);
    /* column by column (usually one on a side): a loop along each row would become a
     * memset call per row */
    for (int ow = 0; ow < lo; ow++)
        for (int oh = oh_lo; oh < oh_hi; oh++) col[(size_t)oh * W + ow] = 0.0f;
    for (int ow = hi; ow < W; ow++)
        for (int oh = oh_lo; oh < oh_hi; oh++) col[(size_t)oh * W + ow] = 0.0f;
    if (oh_hi < OH) memset(col + (size_t)oh_hi * W, 0, (size_t)(OH - oh_hi) * W * sizeof *col);
}

static void im2col_any(const float *x, int C, int H, int W, int KH, int KW, int SH, int SW,
                       int PH, int PW, int DH, int DW, int OH, int OW, float *col) {
    int same = SH == 1 && SW == 1 && OW == W;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                int off = kw * DW - PW, lo, hi;
                valid_range(off, SW, W, OW, &lo, &hi);
                if (same) {
                    im2col_row_s1(xc, H, W, kh * DH - PH, off, lo, hi, OH, col);
                    col += (size_t)OH * OW;
                    continue;
                }
                for (int oh = 0; oh < OH; oh++, col += OW) {
                    int ih = oh * SH - PH + kh * DH;
                    if (ih < 0 || ih >= H || lo == hi) {
                        zero_run(col, OW);
                        continue;
                    }
                    /* the first valid tap; off alone may point before the row */
                    const float *xr = xc + (size_t)ih * W + (lo * SW + off);
                    zero_run(col, lo);
                    if (SW == 1) copy_row(col + lo, xr, hi - lo);
                    else if (SW == 2) /* a form gcc vectorises (even lanes of pairs) */
                        for (int ow = 0; ow < hi - lo; ow++) col[lo + ow] = xr[2 * ow];
                    else
                        for (int ow = lo; ow < hi; ow++) col[ow] = xr[(ptrdiff_t)(ow - lo) * SW];
                    zero_run(col + hi, OW - hi);
                }
            }
        }
    }
}

/* The "same" case of col2im_add, the mirror of im2col_row_s1: the valid part of a column
 * row is added to x as one long run, which also adds the wrapped-around edge columns to
 * the pixels between the row ends; those few pixels are saved before and put back after,
 * so every pixel receives exactly the additions the row-by-row loop would make, in the
 * same order. Returns 0 (and does nothing) when there are too many of them to save. */
static int col2im_row_s1(const float *dcol, int H, int W, int dh, int off, int lo, int hi,
                         int OH, float *xc) {
    int oh_lo = dh < 0 ? -dh : 0, oh_hi = H - dh < OH ? H - dh : OH;
    if (oh_hi <= oh_lo || lo == hi) return 1;
    enum { MAX_SAVED = 512 };
    int gap = W - hi + lo; /* wrapped columns between two consecutive rows */
    if ((oh_hi - oh_lo - 1) * gap > MAX_SAVED) return 0;
    float saved[MAX_SAVED];
    /* x[t] pairs with dcol[t], t counted from the first valid tap so that no pointer
     * before the plane is formed */
    int first = oh_lo * W + lo, last = (oh_hi - 1) * W + hi;
    float *x = xc + ((ptrdiff_t)first + (ptrdiff_t)dh * W + off);
    dcol += first;
    /* gap is usually 1: loop over the rows inside, the gap outside */
    int rows = oh_hi - oh_lo - 1, n = 0;
    for (int g = 0; g < gap; g++) {
        const float *xg = x + (hi - lo + g);
        for (int r = 0; r < rows; r++) saved[n++] = xg[(ptrdiff_t)r * W];
    }
    add_row(x, dcol, last - first);
    n = 0;
    for (int g = 0; g < gap; g++) {
        float *xg = x + (hi - lo + g);
        for (int r = 0; r < rows; r++) xg[(ptrdiff_t)r * W] = saved[n++];
    }
    return 1;
}

static void col2im_any(const float *dcol, int C, int H, int W, int KH, int KW, int SH, int SW,
                       int PH, int PW, int DH, int DW, int OH, int OW, float *dx) {
    int same = SH == 1 && SW == 1 && OW == W;
    for (int c = 0; c < C; c++) {
        float *xc = dx + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                int off = kw * DW - PW, lo, hi;
                valid_range(off, SW, W, OW, &lo, &hi);
                if (same && col2im_row_s1(dcol, H, W, kh * DH - PH, off, lo, hi, OH, xc)) {
                    dcol += (size_t)OH * OW;
                    continue;
                }
                for (int oh = 0; oh < OH; oh++, dcol += OW) {
                    int ih = oh * SH - PH + kh * DH;
                    if (ih < 0 || ih >= H || lo == hi) continue;
                    float *xr = xc + (size_t)ih * W + (lo * SW + off);
                    if (SW == 1) add_row(xr, dcol + lo, hi - lo);
                    else if (SW == 2)
                        for (int ow = 0; ow < hi - lo; ow++) xr[2 * ow] += dcol[lo + ow];
                    else
                        for (int ow = lo; ow < hi; ow++) xr[(ptrdiff_t)(ow - lo) * SW] += dcol[ow];
                }
            }
        }
    }
}

#ifndef CNN_NO_SIMD
void im2col_s2_avx2(const float *x, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH, int OH,
                    int OW, float *col);
void im2col_s2_avx512(const float *x, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH, int OH,
                      int OW, float *col);
void col2im_add_s2_avx512(const float *dcol, int C, int H, int W, int KH, int KW, int SH, int PH, int PW, int DH,
                          int OH, int OW, float *dx);

/* The stride-2 paths: undilated column stride 2, taps within IM2COL_S2_SPAN columns, on
 * AVX2 (im2col only) or AVX-512 (both). */
static int s2_fits(int simd, int SW, int DW, int KW, int OW) {
    return simd >= SIMD_AVX2 && SW == 2 && DW == 1 && 2 * ((int64_t)OW - 1) + KW <= IM2COL_S2_SPAN;
}
#endif

void im2col(int simd, const float *x, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int DH,
            int DW, int OH, int OW, float *col) {
#ifndef CNN_NO_SIMD
    if (s2_fits(simd, SW, DW, KW, OW)) {
        if (simd == SIMD_AVX512) im2col_s2_avx512(x, C, H, W, KH, KW, SH, PH, PW, DH, OH, OW, col);
        else im2col_s2_avx2(x, C, H, W, KH, KW, SH, PH, PW, DH, OH, OW, col);
        return;
    }
#endif
    (void)simd;
    im2col_any(x, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, col);
}

void col2im_add(int simd, const float *dcol, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                int DH, int DW, int OH, int OW, float *dx) {
#ifndef CNN_NO_SIMD
    if (simd == SIMD_AVX512 && s2_fits(simd, SW, DW, KW, OW)) {
        col2im_add_s2_avx512(dcol, C, H, W, KH, KW, SH, PH, PW, DH, OH, OW, dx);
        return;
    }
#endif
    (void)simd;
    col2im_any(dcol, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, dx);
}
