/* reduce.h - sums over float arrays with eight independent accumulators: a single running
 * sum is one dependent add per value (4 cycles each), eight chains run at the adders' full
 * rate without vector code. The order of additions is fixed, so results are the same on
 * every SIMD path and for every thread count. */
#ifndef CNN_REDUCE_H
#define CNN_REDUCE_H
#include <stdint.h>

/* sum of x[i] */
float reduce_sum(const float *x, int64_t n);
/* sum of (x[i] - m)^2 */
float reduce_sq_dev(const float *x, int64_t n, float m);
/* *sdy = sum of dy[i]; *sdyx = sum of dy[i] * (x[i] - m) */
void reduce_dy_dyx(const float *dy, const float *x, int64_t n, float m, float *sdy, float *sdyx);
#endif
