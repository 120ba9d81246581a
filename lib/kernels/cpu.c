/* cpu.c - run-time choice of the SIMD path: cpuid for what the processor has, xgetbv for
 * what the operating system saves on a context switch, CNN_SIMD for a cap.
 *
 * The only process-wide state is the hardware level, computed once under pthread_once
 * (cpuid cannot change while we run). The CNN_SIMD cap is read on every simd_detect()
 * call so a test can set it before choosing a path. */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if !defined(CNN_NO_SIMD)
#define CNN_X86 1
#endif
#endif

static int hw_level = SIMD_PORTABLE;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;

#ifdef CNN_X86
/* XCR0 via inline asm: the _xgetbv intrinsic needs -mxsave, and this file is built
 * for the baseline instruction set. */
static unsigned long long read_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static void detect_hw(void) {
#ifdef CNN_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    /* A CPU may have AVX while the OS does not save ymm/zmm state (XCR0 bits 1-2 for
     * xmm/ymm, 5-7 for the opmask and zmm registers); then using them corrupts state. */
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) /* F */ && ((b >> 17) & 1) /* DQ */ &&
                 ((b >> 30) & 1) /* BW */ && ((b >> 31) & 1) /* VL */;
    if (!avx2 || !fma) return;
    hw_level = SIMD_AVX2;
    /* The AVX-512 path also uses AVX2 code (its packing routines), so it implies it. */
    if (avx512 && (xcr0 & 0xe6) == 0xe6) hw_level = SIMD_AVX512;
#endif
}

static int hw(void) {
    pthread_once(&hw_once, detect_hw);
    return hw_level;
}

int simd_from_name(const char *s) {
    if (!s) return -1;
    for (int l = 0; l < SIMD_COUNT; l++)
        if (strcmp(s, simd_name(l)) == 0) return l;
    return -1;
}

int simd_detect(void) {
    int level = hw();
    /* An unknown CNN_SIMD value caps nothing; the CLI validates it with simd_from_name
     * (the library has no channel to report it from here). */
    int cap = simd_from_name(getenv("CNN_SIMD"));
    if (cap >= 0 && cap < level) level = cap;
    return level;
}

int simd_supported(int level) {
    return level >= SIMD_PORTABLE && level <= hw();
}

const char *simd_name(int level) {
    switch (level) {
    case SIMD_PORTABLE: return "portable";
    case SIMD_AVX2: return "avx2";
    case SIMD_AVX512: return "avx512";
    default: return "unknown";
    }
}

void cpu_model_name(char *buf, int n) {
    if (!buf || n <= 0) return;
    const char *fallback = "unknown CPU";
    char brand[49] = {0};
#if defined(__x86_64__) || defined(__i386__)
    unsigned r[4];
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) { /* int in clang's cpuid.h */
        for (unsigned i = 0; i < 3; i++) {
            __cpuid(0x80000002u + i, r[0], r[1], r[2], r[3]);
            memcpy(brand + 16 * i, r, 16);
        }
    }
#endif
    /* Vendors pad the brand string with spaces on either side. */
    char *s = brand;
    while (*s == ' ') s++;
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ') s[--len] = 0;
    if (!len) s = (char *)fallback, len = strlen(fallback);
    if (len >= (size_t)n) len = (size_t)n - 1;
    memcpy(buf, s, len);
    buf[len] = 0;
}
