/* im2col.c - receptive fields to columns (im2col) and back (col2im_add), for one image.
 *
 * Both walk the column matrix row by row: a row is one tap (c, kh, kw) over all output
 * pixels. For each output row oh the input row is fixed, and the output columns whose
 * input column falls inside the image form one interval [lo, hi), computed in closed form.
 * So the inner loops never test bounds: outside the interval im2col writes zeros (and
 * col2im_add skips), inside it is a plain copy or add - contiguous when SW == 1, which is
 * the common case and becomes memcpy / a vectorizable add. Any stride, padding (even larger
 * than the kernel) and dilation take the same path. */
#include "im2col.h"

#include <stddef.h>
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

/* d[i] += s[i]. In fixed blocks of 8 so that gcc -O2 (whose default cost model does not
 * vectorize loops needing a scalar epilogue) still emits vector adds. */
static void add_row(float *restrict d, const float *restrict s, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) d[i + j] += s[i + j];
    for (; i < n; i++) d[i] += s[i];
}

void im2col(const float *x, int C, int H, int W, int KH, int KW, int SH, int SW,
            int PH, int PW, int DH, int DW, int OH, int OW, float *col) {
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                int off = kw * DW - PW, lo, hi;
                valid_range(off, SW, W, OW, &lo, &hi);
                for (int oh = 0; oh < OH; oh++, col += OW) {
                    int ih = oh * SH - PH + kh * DH;
                    if (ih < 0 || ih >= H || lo == hi) {
                        memset(col, 0, (size_t)OW * sizeof *col);
                        continue;
                    }
                    /* the first valid tap; off alone may point before the row */
                    const float *xr = xc + (size_t)ih * W + (lo * SW + off);
                    if (lo) memset(col, 0, (size_t)lo * sizeof *col);
                    if (SW == 1) memcpy(col + lo, xr, (size_t)(hi - lo) * sizeof *col);
                    else
                        for (int ow = lo; ow < hi; ow++) col[ow] = xr[(ptrdiff_t)(ow - lo) * SW];
                    if (hi < OW) memset(col + hi, 0, (size_t)(OW - hi) * sizeof *col);
                }
            }
        }
    }
}

void col2im_add(const float *dcol, int C, int H, int W, int KH, int KW, int SH, int SW,
                int PH, int PW, int DH, int DW, int OH, int OW, float *dx) {
    for (int c = 0; c < C; c++) {
        float *xc = dx + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                int off = kw * DW - PW, lo, hi;
                valid_range(off, SW, W, OW, &lo, &hi);
                for (int oh = 0; oh < OH; oh++, dcol += OW) {
                    int ih = oh * SH - PH + kh * DH;
                    if (ih < 0 || ih >= H || lo == hi) continue;
                    float *xr = xc + (size_t)ih * W + (lo * SW + off);
                    if (SW == 1) add_row(xr, dcol + lo, hi - lo);
                    else
                        for (int ow = lo; ow < hi; ow++) xr[(ptrdiff_t)(ow - lo) * SW] += dcol[ow];
                }
            }
        }
    }
}
