/* peak.c - the portable FMA chain (what the portable kernels can at best reach). */
#include "peak.h"

double peak_fma_portable(long iters, float *sink) {
    float a[32];
    for (int i = 0; i < 32; i++) a[i] = (float)i;
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < 32; i++) a[i] = a[i] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < 32; i++) s += a[i];
    *sink = s;
    return (double)iters * 32 * 2;
}
