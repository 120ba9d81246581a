/* bench_gemm.c - single-thread sgemm speed on the shapes the N2 network's conv and dense
 * layers use, for every SIMD path this CPU runs, as GFLOP/s and % of the FMA peak measured
 * here and now with an FMA-chain loop (a figure from another machine means nothing: the
 * project's machines are either Zen 4 or an Intel Xeon).
 *
 *   make build/scripts/bench_gemm && build/scripts/bench_gemm [-q] [path]
 *   -q: shorter timings; -b: best run instead of the median;
 *   path: portable | avx2 | avx512 (default: all supported)
 *
 * Each figure is the median (or with -b the best) of 7 timed runs of at least 30 ms
 * (10 ms with -q). The host is shared, so the best run shows what the code can do and the
 * median what it did. The data
 * of one call stays in cache between calls, as it does when a conv layer loops images. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu.h"
#include "kernels/gemm.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* FMA peak: 12 independent accumulator chains (latency 4 x 2 units needs 8) of a*x + b.
 * The values stay finite: x -> x * 0.999... + tiny. Returns GFLOP/s. */
__attribute__((target("avx2,fma"))) static double peak_ymm(long iters) {
    __m256 a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f), x[12];
    for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps((float)i);
    double t = now();
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) x[i] = _mm256_fmadd_ps(x[i], a, b);
    t = now() - t;
    __m256 s = x[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, x[i]);
    volatile float sink = _mm256_cvtss_f32(s);
    (void)sink;
    return 2.0 * 8 * 12 * iters / t * 1e-9;
}

__attribute__((target("avx512f"))) static double peak_zmm(long iters) {
    __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f), x[12];
    for (int i = 0; i < 12; i++) x[i] = _mm512_set1_ps((float)i);
    double t = now();
    for (long n = 0; n < iters; n++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) x[i] = _mm512_fmadd_ps(x[i], a, b);
    t = now() - t;
    __m512 s = x[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, x[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return 2.0 * 16 * 12 * iters / t * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of 7 runs of f, each repeated until it takes min_s seconds. */
static double median_peak(double (*f)(long), double min_s) {
    double r[7];
    long iters = 1000;
    double t0 = now();
    f(iters);
    while (now() - t0 < min_s) { iters *= 2; t0 = now(); f(iters); }
    for (int i = 0; i < 7; i++) r[i] = f(iters);
    qsort(r, 7, sizeof r[0], cmp_double);
    return r[3];
}

typedef struct {
    const char *what;
    int M, K, N, ta, tb;
    float beta;
} shape;

static int use_best;

static double bench(int simd, const shape *s, double min_s) {
    int M = s->M, N = s->N, K = s->K;
    int lda = s->ta ? M : K, ldb = s->tb ? K : N, ldc = N;
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
    float *C = malloc(sizeof(float) * (size_t)M * N);
    float *ws = aligned_alloc(64, (sgemm_ws_floats(M, N, K) * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)(i % 13) * 0.01f;
    memset(C, 0, sizeof(float) * (size_t)M * N);
    long reps = 1;
    double t;
    for (;;) {
        t = now();
        for (long r = 0; r < reps; r++)
            sgemm(simd, s->ta, s->tb, M, N, K, 1.0f, A, lda, B, ldb, s->beta, C, ldc, ws);
        t = now() - t;
        if (t >= min_s) break;
        reps *= 2;
    }
    double g[7];
    for (int i = 0; i < 7; i++) {
        t = now();
        for (long r = 0; r < reps; r++)
            sgemm(simd, s->ta, s->tb, M, N, K, 1.0f, A, lda, B, ldb, s->beta, C, ldc, ws);
        g[i] = 2.0 * M * N * K * reps / (now() - t) * 1e-9;
    }
    qsort(g, 7, sizeof g[0], cmp_double);
    free(A); free(B); free(C); free(ws);
    return use_best ? g[6] : g[3];
}

int main(int argc, char **argv) {
    double min_s = 0.03;
    int only = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0) min_s = 0.01;
        else if (strcmp(argv[i], "-b") == 0) use_best = 1;
        else if ((only = simd_from_name(argv[i])) < 0) {
            fprintf(stderr, "usage: %s [-q] [-b] [portable|avx2|avx512]\n", argv[0]);
            return 2;
        }
    }
    char cpu[64];
    cpu_model_name(cpu, sizeof cpu);
    double peak[SIMD_COUNT] = {0};
    /* asked of the CPU, not of the library, so a NO_SIMD=1 build still has a yardstick */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        peak[SIMD_AVX2] = median_peak(peak_ymm, 0.05);
    if (__builtin_cpu_supports("avx512f")) peak[SIMD_AVX512] = median_peak(peak_zmm, 0.05);
    /* The portable path is quoted against the best vector peak: what it leaves behind. */
    peak[SIMD_PORTABLE] = peak[SIMD_AVX512] > peak[SIMD_AVX2] ? peak[SIMD_AVX512] : peak[SIMD_AVX2];
    printf("cpu: %s\n", cpu);
    printf("FMA peak, 1 thread: ymm %.1f GFLOP/s, zmm %.1f GFLOP/s; sgemm: %s of 7 runs\n",
           peak[SIMD_AVX2], peak[SIMD_AVX512], use_best ? "best" : "median");

    static const shape shapes[] = {
        /* N2 forward Y = W col and the two other transposes of the same sizes */
        {"conv1", 32, 9, 784, 0, 0, 0},   {"conv1", 32, 9, 784, 0, 1, 0},
        {"conv1", 32, 9, 784, 1, 0, 0},   {"conv2", 32, 288, 784, 0, 0, 0},
        {"conv2", 32, 288, 784, 0, 1, 0}, {"conv2", 32, 288, 784, 1, 0, 0},
        {"conv3", 64, 288, 196, 0, 0, 0}, {"conv3", 64, 288, 196, 0, 1, 0},
        {"conv3", 64, 288, 196, 1, 0, 0}, {"conv4", 64, 576, 196, 0, 0, 0},
        {"conv4", 64, 576, 196, 0, 1, 0}, {"conv4", 64, 576, 196, 1, 0, 0},
        /* the backward passes as the conv layers call them: dW += dY col^T, dcol = W^T dY */
        {"conv2 dW", 32, 784, 288, 0, 1, 1},  {"conv3 dW", 64, 196, 288, 0, 1, 1},
        {"conv4 dW", 64, 196, 576, 0, 1, 1},  {"conv2 dcol", 288, 32, 784, 1, 0, 0},
        {"conv3 dcol", 288, 32, 196, 1, 0, 0}, {"conv4 dcol", 576, 64, 196, 1, 0, 0},
        /* dense 3136 -> 256: forward x W^T, dX = dY W, dW += dY^T x */
        /* N3 resnet20 per-image shapes (stage 1: 16 x 32x32, stage 3: 64 x 8x8) */
        {"r20 s1", 16, 144, 1024, 0, 0, 0}, {"r20 s1 dW", 16, 1024, 144, 0, 1, 1}, {"r20 s1 dcol", 144, 16, 1024, 1, 0, 0},
        {"r20 s3", 64, 576, 64, 0, 0, 0},   {"r20 s3 dW", 64, 64, 576, 0, 1, 1},   {"r20 s3 dcol", 576, 64, 64, 1, 0, 0},
        /* N3's stride-2 layers per image: stage 2's 3x3 (16 -> 32, 16x16 out), stage 3's (32 -> 64, 8x8 out)
         * and stage 3's 1x1 projection */
        {"r20 s2 s2", 32, 144, 256, 0, 0, 0}, {"s2 s2 dW", 32, 256, 144, 0, 1, 1}, {"s2 s2 dcol", 144, 32, 256, 1, 0, 0},
        {"r20 s3 s2", 64, 288, 64, 0, 0, 0},  {"s3 s2 dW", 64, 64, 288, 0, 1, 1},  {"s3 s2 dcol", 288, 64, 64, 1, 0, 0},
        {"s3 proj", 64, 32, 64, 0, 0, 0},     {"proj dW", 64, 64, 32, 0, 1, 1},    {"proj dcol", 32, 64, 64, 1, 0, 0},
        {"dense fwd", 64, 3136, 256, 0, 1, 0},  {"dense fwd", 128, 3136, 256, 0, 1, 0},
        {"dense dX", 64, 256, 3136, 0, 0, 0},   {"dense dW", 256, 64, 3136, 1, 0, 1},
    };
    printf("%-11s %4s %5s %5s  %-5s", "shape", "M", "K", "N", "ta tb");
    for (int l = 0; l < SIMD_COUNT; l++)
        if (simd_supported(l) && (only < 0 || only == l)) printf(" %16s", simd_name(l));
    printf("\n%-35s", "");
    for (int l = 0; l < SIMD_COUNT; l++)
        if (simd_supported(l) && (only < 0 || only == l)) printf(" %16s", "GFLOP/s  % peak");
    printf("\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        printf("%-11s %4d %5d %5d  %d  %d ", s->what, s->M, s->K, s->N, s->ta, s->tb);
        for (int l = 0; l < SIMD_COUNT; l++) {
            if (!simd_supported(l) || (only >= 0 && only != l)) continue;
            double g = bench(l, s, min_s);
            if (peak[l] > 0) printf(" %9.1f %5.1f%%", g, 100.0 * g / peak[l]);
            else printf(" %9.1f %6s", g, "n/a");
            fflush(stdout);
        }
        printf("\n");
    }
    return 0;
}
