/* im2col.h - lay out the receptive fields of one image as columns, so a convolution is a
 * GEMM; and the reverse scatter-add for the input gradient.
 * x is C x H x W; col is (C*KH*KW) x (OH*OW), row index (c*KH + kh)*KW + kw.
 * Padding PH/PW is applied at the top/left; output size OH/OW is given by the caller
 * (OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1), so taps outside the image read as zero. */
#ifndef CNN_IM2COL_H
#define CNN_IM2COL_H

/* Column stride 2 without dilation takes paths of its own (im2col on AVX2 and AVX-512,
 * col2im_add on AVX-512: im2col_avx2.c, im2col_avx512.c) when the taps of an output row
 * span at most this many padded input columns, 2*(OW-1) + KW. They give the same bits as
 * the general loop. */
#define IM2COL_S2_SPAN 128

/* simd: the level of kernels/cpu.h to run. */
void im2col(int simd, const float *x, int C, int H, int W, int KH, int KW, int SH, int SW,
            int PH, int PW, int DH, int DW, int OH, int OW, float *col);
/* dx += the columns of dcol scattered back to their pixels. */
void col2im_add(int simd, const float *dcol, int C, int H, int W, int KH, int KW, int SH, int SW,
                int PH, int PW, int DH, int DW, int OH, int OW, float *dx);
#endif
