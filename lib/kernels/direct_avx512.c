/* direct_avx512.c - the direct convolution kernels built for AVX-512 (see direct_impl.h);
 * called only when cpuid reports it. */
#define DIRECT_SUFFIX avx512
#include "direct_impl.h"
