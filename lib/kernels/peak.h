/* peak.h - measuring the single-core FP32 FMA rate on the spot, so benchmarks quote a
 * fraction of what this CPU does now rather than of a remembered figure. */
#ifndef CNN_PEAK_H
#define CNN_PEAK_H
/* Runs `iters` rounds of independent FMA chains; returns the FLOPs done. The result is
 * written to *sink so the work cannot be optimised away. */
double peak_fma_portable(long iters, float *sink);
double peak_fma_avx2(long iters, float *sink);
double peak_fma_avx512(long iters, float *sink);
#endif
