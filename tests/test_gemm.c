/* test_gemm.c - every SIMD path of sgemm this CPU runs, against the naive twin sgemm_ref,
 * on odd shapes, all transposes, several alpha/beta and padded leading dimensions. Also
 * checks that beta == 0 never reads C (NaN-filled), that nothing outside the M x N block
 * of C is written, and the CPU dispatch helpers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

static const float SENTINEL = 12345.0f;

typedef struct {
    float alpha, beta;
} ab_case;
static const ab_case abs_cases[] = {{1, 0}, {1, 1}, {0.7f, 0.5f}, {-1.3f, 0}, {1, 0.5f}, {2.5f, 1}};
enum { N_AB = sizeof abs_cases / sizeof abs_cases[0] };

/* One case on every supported path. Returns the number of failures it found. */
static int run_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad,
                    int misalign_ws) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int arows = ta ? K : M, brows = tb ? N : K;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)M * ldc;
    float *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B);
    float *C0 = malloc((nc + 1) * sizeof *C0), *Cr = malloc((nc + 1) * sizeof *Cr);
    float *Cf = malloc((nc + 1) * sizeof *Cf), *Cb = malloc((nc + 1) * sizeof *Cb);
    float *Aa = malloc((na + 1) * sizeof *Aa), *Ba = malloc((nb + 1) * sizeof *Ba);
    for (size_t i = 0; i < na; i++) Aa[i] = fabsf(A[i] = frand());
    for (size_t i = 0; i < nb; i++) Ba[i] = fabsf(B[i] = frand());
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++)
            C0[(size_t)i * ldc + j] = j >= N ? SENTINEL : beta == 0.0f ? NAN : frand();

    /* Reference, and a bound on the rounding error from the sum of |terms|. */
    memcpy(Cr, C0, nc * sizeof *Cr);
    sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cr, ldc);
    for (size_t i = 0; i < nc; i++) Cb[i] = beta == 0.0f ? 0.0f : fabsf(C0[i]);
    sgemm_ref(ta, tb, M, N, K, fabsf(alpha), Aa, lda, Ba, ldb, fabsf(beta), Cb, ldc);

    int fails = 0;
    for (int level = 0; level < SIMD_COUNT; level++) {
        if (!simd_supported(level)) continue;
        size_t nws = sgemm_ws_floats(M, N, K) + (size_t)misalign_ws;
        float *ws = malloc(nws * sizeof *ws);
        memcpy(Cf, C0, nc * sizeof *Cf);
        sgemm(level, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cf, ldc, ws + misalign_ws);
        free(ws);
        double worst = 0;
        int bad = 0, wi = 0, wj = 0;
        for (int i = 0; i < M && !bad; i++)
            for (int j = 0; j < ldc; j++) {
                size_t x = (size_t)i * ldc + j;
                if (j >= N) {
                    if (Cf[x] != SENTINEL) { bad = 1; wi = i; wj = j; break; }
                    continue;
                }
                double tol = (K + 4) * 1.2e-7 * Cb[x] + 1e-30;
                double err = fabs((double)Cf[x] - Cr[x]);
                if (!(err <= tol)) { /* also catches NaN */
                    bad = 1; wi = i; wj = j;
                    worst = err;
                    break;
                }
            }
        CHECK(!bad, "%s ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: C[%d][%d] = %g, "
              "want %g (err %g)", simd_name(level), ta, tb, M, N, K, alpha, beta, pad, wi, wj,
              bad ? Cf[(size_t)wi * ldc + wj] : 0.0, bad ? Cr[(size_t)wi * ldc + wj] : 0.0, worst);
        fails += bad;
    }
    free(A); free(B); free(C0); free(Cr); free(Cf); free(Cb); free(Aa); free(Ba);
    return fails;
}

int main(void) {
    static const int sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 257};
    enum { NS = sizeof sizes / sizeof sizes[0] };

    for (int level = 0; level < SIMD_COUNT; level++)
        if (simd_supported(level)) printf("testing the %s path\n", simd_name(level));

    /* Every shape in all four transposes; alpha/beta and the ld padding rotate so that
     * each combination meets many shapes without multiplying the run time. */
    int n = 0;
    for (int a = 0; a < NS; a++)
        for (int b = 0; b < NS; b++)
            for (int c = 0; c < NS; c++)
                for (int t = 0; t < 4; t++, n++) {
                    /* the largest shapes (two sides of 257) in one transpose each, rotating,
                     * to keep the sanitizer build within seconds */
                    if ((sizes[a] == 257) + (sizes[b] == 257) + (sizes[c] == 257) >= 2 &&
                        t != (a + b + c) % 4)
                        continue;
                    const ab_case *ab = &abs_cases[n % N_AB];
                    int pad = (n / N_AB) % 3 == 0 ? 0 : (n / N_AB) % 3 == 1 ? 1 : 13;
                    run_case(t >> 1, t & 1, sizes[a], sizes[b], sizes[c], ab->alpha, ab->beta,
                             pad, n % 5 == 0 ? 3 : 0);
                }

    /* Beyond one cache block in each dimension: several K steps, several M blocks (B
     * strips kept and reused), several N blocks; and the conv layer shapes. */
    static const int big[][3] = {{5, 2100, 3}, {9, 50, 800}, {200, 70, 400}, {400, 100, 20},
                                 {64, 196, 576}, {32, 784, 9}, {32, 288, 784}, {288, 784, 32}};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        for (int t = 0; t < 4; t++) {
            run_case(t >> 1, t & 1, big[i][0], big[i][1], big[i][2], 1, 0, 0, 0);
            run_case(t >> 1, t & 1, big[i][0], big[i][1], big[i][2], 0.5f, 1, 5, 1);
        }

    /* alpha == 0 and K == 0 only scale C (beta == 0 clears it, even NaN). */
    for (int level = 0; level < SIMD_COUNT; level++) {
        if (!simd_supported(level)) continue;
        float C[6] = {1, 2, NAN, 4, 5, 6}, ws[64];
        float A[6] = {1, 1, 1, 1, 1, 1}, B[6] = {1, 1, 1, 1, 1, 1};
        sgemm(level, 0, 0, 2, 3, 0, 1, A, 1, B, 3, 0, C, 3, ws);
        int zero = 1;
        for (int i = 0; i < 6; i++) zero &= C[i] == 0.0f;
        CHECK(zero, "%s: K == 0, beta == 0 must clear C", simd_name(level));
        float D[6] = {1, 2, 3, 4, 5, 6};
        sgemm(level, 0, 0, 2, 3, 2, 0, A, 2, B, 3, 2, D, 3, ws);
        CHECK(D[0] == 2 && D[5] == 12, "%s: alpha == 0 must give beta * C", simd_name(level));
    }

    /* Dispatch helpers. */
    CHECK(simd_supported(SIMD_PORTABLE), "portable must always run");
    CHECK(!simd_supported(SIMD_COUNT) && !simd_supported(-1), "levels out of range");
    CHECK(simd_from_name("avx2") == SIMD_AVX2 && simd_from_name("sse") == -1 &&
          simd_from_name(NULL) == -1, "simd_from_name");
    CHECK(simd_supported(simd_detect()), "detected level %d not supported", simd_detect());
    setenv("CNN_SIMD", "portable", 1);
    CHECK(simd_detect() == SIMD_PORTABLE, "CNN_SIMD=portable gave %d", simd_detect());
    setenv("CNN_SIMD", "avx512", 1);
    CHECK(simd_supported(simd_detect()), "CNN_SIMD=avx512 gave %d", simd_detect());
    unsetenv("CNN_SIMD");
    char name[64];
    cpu_model_name(name, sizeof name);
    CHECK(name[0] != 0, "empty cpu name");
    printf("cpu: %s, best path %s\n", name, simd_name(simd_detect()));
    cpu_model_name(name, 4);
    CHECK(strlen(name) <= 3, "cpu_model_name overran n: '%s'", name);
    return check_done();
}
