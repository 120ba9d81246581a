/* reduce.h - sums over float arrays with independent accumulators: a single running sum is
 * one dependent add per value (4 cycles each), several chains run at the adders' full rate.
 * The order of additions is fixed, so results are the same on every SIMD path and for every
 * thread count. */
#ifndef CNN_REDUCE_H
#define CNN_REDUCE_H
#include <stdint.h>

/* sum of x[i], eight chains */
float reduce_sum(const float *x, int64_t n);

/* With more chains (32 for one input, 16 each for two), for long arrays where eight leave
 * the adders waiting:
 * reduce_sum_wide: sum of x[i]; reduce_sq_dev_wide: sum of (x[i] - m)^2;
 * reduce_dy_dyx_wide: *sdy = sum of dy[i], *sdyx = sum of dy[i] * (x[i] - m). With relu set
 * it counts dy[i] as 0 where x[i] * ra + rb is not positive (or is NaN): the gradient through
 * a relu applied to that affine map of x, recomputed with the forward's roundings instead of
 * reading its output. */
float reduce_sum_wide(const float *x, int64_t n);
float reduce_sq_dev_wide(const float *x, int64_t n, float m);
void reduce_dy_dyx_wide(const float *dy, const float *x, int64_t n, float m, int relu, float ra, float rb,
                        float *sdy, float *sdyx);
#endif
