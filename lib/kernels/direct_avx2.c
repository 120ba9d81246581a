/* direct_avx2.c - the direct convolution kernels built for AVX2 + FMA (see direct_impl.h);
 * called only when cpuid reports it. */
#define DIRECT_SUFFIX avx2
#include "direct_impl.h"
