/* winograd_avx512.c - the Winograd transforms and driver built for AVX-512 (see winograd_impl.h);
 * called only when cpuid reports it. */
#define WINO_SUFFIX avx512
#include "winograd_impl.h"
