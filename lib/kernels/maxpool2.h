/* maxpool2.h - the 2x2 stride 2 max pool without padding, over `rows` output rows: output row r
 * reads input rows 2r and 2r+1 of x (W floats each, so row pairs follow each other at a
 * stride of 2W, across planes too when H is even) and writes OW = W / 2 values at y + r*OW.
 * y[ow] is the max of the taps x0[2ow], x0[2ow+1], x1[2ow], x1[2ow+1], and the winner is
 * kept as the tap index 0..3 in that order. The first maximum wins ties; a NaN wins only as
 * tap 0 (every comparison with it is false), as in the general pooling loop. Every SIMD
 * path gives the same bits: there is no arithmetic, only selects. */
#ifndef CNN_MAXPOOL2_H
#define CNN_MAXPOOL2_H
#include <stdint.h>

/* y = the maxima; a = the winning taps unless a is NULL, or with none set 4 (no winner,
 * so backward sends nothing) for a window whose maximum is not positive. */
void maxpool2_fwd(int simd, const float *x, int W, float *y, uint8_t *a, int OW, int64_t rows, int none);
/* dy (rows x OW) sent to the winning taps in dx (row pairs as x above): store != 0 writes
 * all 4 taps (0 for the losers), else adds to all 4 (0 to the losers, so a -0 there
 * becomes +0, on every path alike). Input columns past 2*OW are not touched. */
void maxpool2_bwd(int simd, const float *dy, const uint8_t *a, float *dx, int W, int OW, int64_t rows, int store);

void maxpool2_fwd_avx2(const float *x, int W, float *y, uint8_t *a, int OW, int64_t rows, int none);
void maxpool2_bwd_avx2(const float *dy, const uint8_t *a, float *dx, int W, int OW, int64_t rows, int store);
#endif
