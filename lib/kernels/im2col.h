/* im2col.h - lay out the receptive fields of one image as columns, so a convolution is a
 * GEMM; and the reverse scatter-add for the input gradient.
 * x is C x H x W; col is (C*KH*KW) x (OH*OW), row index (c*KH + kh)*KW + kw.
 * Padding PH/PW is applied at the top/left; output size OH/OW is given by the caller
 * (OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1), so taps outside the image read as zero. */
#ifndef CNN_IM2COL_H
#define CNN_IM2COL_H

void im2col(const float *x, int C, int H, int W, int KH, int KW, int SH, int SW,
            int PH, int PW, int DH, int DW, int OH, int OW, float *col);
/* dx += the columns of dcol scattered back to their pixels. */
void col2im_add(const float *dcol, int C, int H, int W, int KH, int KW, int SH, int SW,
                int PH, int PW, int DH, int DW, int OH, int OW, float *dx);
#endif
