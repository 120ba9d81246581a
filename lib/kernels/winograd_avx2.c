/* winograd_avx2.c - the Winograd transforms and driver built for AVX2 + FMA (see winograd_impl.h);
 * called only when cpuid reports it. */
#define WINO_SUFFIX avx2
#include "winograd_impl.h"
