/* cpu.h - which SIMD path the kernels use, decided once from cpuid at run time. */
#ifndef CNN_CPU_H
#define CNN_CPU_H

enum { SIMD_PORTABLE = 0, SIMD_AVX2 = 1, SIMD_AVX512 = 2, SIMD_COUNT };

/* Highest level this CPU supports (AVX2 needs AVX2+FMA; AVX-512 needs F, BW, DQ, VL),
 * capped by the environment variable CNN_SIMD=portable|avx2|avx512 when it is set.
 * Levels not compiled in (NO_SIMD=1 builds) are never returned. */
int simd_detect(void);
/* 1 if `level` is compiled in and the CPU runs it. */
int simd_supported(int level);
const char *simd_name(int level);
/* The level named s ("portable", "avx2", "avx512"), or -1 if s is NULL or no level's name. */
int simd_from_name(const char *s);
/* The CPU's model name from cpuid (brand string), into buf. */
void cpu_model_name(char *buf, int n);
#endif
