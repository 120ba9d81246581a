/* peak_avx2.c - 12 independent 8-wide FMA chains: enough to cover a 4-cycle latency on
 * two FMA ports. */
#include "peak.h"
#include <immintrin.h>

double peak_fma_avx2(long iters, float *sink) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    *sink = _mm256_cvtss_f32(s);
    return (double)iters * 12 * 8 * 2;
}
