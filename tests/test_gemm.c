/* test_gemm.c - every SIMD path of sgemm this CPU runs, against the naive twin sgemm_ref,
 * on odd shapes, all transposes, several alpha/beta and padded leading dimensions. Also
 * checks that beta == 0 never reads C (NaN-filled), that nothing outside the M x N block
 * of C is written, and the CPU dispatch helpers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frand.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

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

/* sgemm_packed with A from sgemm_pack_a against sgemm itself on every path: the same bits,
 * C outside M x N untouched. */
static void packed_case(int ta, int M, int N, int K, float alpha, float beta, int pad) {
    int lda = (ta ? M : K) + pad, ldb = N + pad, ldc = N + pad, arows = ta ? K : M;
    size_t na = (size_t)arows * lda, nb = (size_t)K * ldb, nc = (size_t)M * ldc;
    float *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B);
    float *C0 = malloc((nc + 1) * sizeof *C0), *Cs = malloc((nc + 1) * sizeof *Cs), *Cp = malloc((nc + 1) * sizeof *Cp);
    for (size_t i = 0; i < na; i++) A[i] = frand();
    for (size_t i = 0; i < nb; i++) B[i] = frand();
    for (size_t i = 0; i < nc; i++) C0[i] = (int)(i % (size_t)ldc) >= N ? SENTINEL : frand();
    for (int level = 0; level < SIMD_COUNT; level++) {
        if (!simd_supported(level)) continue;
        float *ws = malloc(sgemm_ws_floats(M, N, K) * sizeof *ws);
        float *Ap = malloc(sgemm_pack_a_floats(M, K) * sizeof *Ap);
        memcpy(Cs, C0, nc * sizeof *Cs);
        memcpy(Cp, C0, nc * sizeof *Cp);
        sgemm(level, ta, 0, M, N, K, alpha, A, lda, B, ldb, beta, Cs, ldc, ws);
        sgemm_pack_a(level, ta, M, K, A, lda, Ap);
        sgemm_packed(level, M, N, K, alpha, Ap, B, ldb, beta, Cp, ldc, ws);
        CHECK(!memcmp(Cs, Cp, nc * sizeof *Cs), "%s packed ta=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: "
              "differs from sgemm", simd_name(level), ta, M, N, K, alpha, beta, pad);
        free(ws);
        free(Ap);
    }
    free(A); free(B); free(C0); free(Cs); free(Cp);
}

/* sgemm_dot against the naive twin, and each row of C the same bits whatever M and N
 * (the dense layer relies on it for thread-count independence). */
static void dot_case(int M, int N, int K, float alpha, float beta, int pad) {
    int lda = K + pad, ldb = K + pad, ldc = N + pad;
    size_t na = (size_t)M * lda, nb = (size_t)N * ldb, nc = (size_t)M * ldc;
    float *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B);
    float *Aa = malloc((na + 1) * sizeof *Aa), *Ba = malloc((nb + 1) * sizeof *Ba);
    float *C0 = malloc((nc + 1) * sizeof *C0), *Cr = malloc((nc + 1) * sizeof *Cr), *Cb = malloc((nc + 1) * sizeof *Cb),
          *Cf = malloc((nc + 1) * sizeof *Cf);
    for (size_t i = 0; i < na; i++) Aa[i] = fabsf(A[i] = frand());
    for (size_t i = 0; i < nb; i++) Ba[i] = fabsf(B[i] = frand());
    for (size_t i = 0; i < nc; i++) C0[i] = (int)(i % (size_t)ldc) >= N ? SENTINEL : beta == 0.0f ? NAN : frand();
    memcpy(Cr, C0, nc * sizeof *Cr);
    sgemm_ref(0, 1, M, N, K, alpha, A, lda, B, ldb, beta, Cr, ldc);
    for (size_t i = 0; i < nc; i++) Cb[i] = beta == 0.0f ? 0.0f : fabsf(C0[i]);
    sgemm_ref(0, 1, M, N, K, fabsf(alpha), Aa, lda, Ba, ldb, fabsf(beta), Cb, ldc);
    for (int level = 0; level < SIMD_COUNT; level++) {
        if (!simd_supported(level)) continue;
        memcpy(Cf, C0, nc * sizeof *Cf);
        sgemm_dot(level, M, N, K, alpha, A, lda, B, ldb, beta, Cf, ldc);
        int bad = 0, wi = 0, wj = 0;
        for (int i = 0; i < M && !bad; i++)
            for (int j = 0; j < ldc && !bad; j++) {
                size_t x = (size_t)i * ldc + j;
                if (j >= N) bad = Cf[x] != SENTINEL;
                else bad = !(fabs((double)Cf[x] - Cr[x]) <= (K + 4) * 1.2e-7 * Cb[x] + 1e-30);
                if (bad) { wi = i; wj = j; }
            }
        CHECK(!bad, "%s dot M=%d N=%d K=%d alpha=%g beta=%g pad=%d: C[%d][%d] = %g, want %g", simd_name(level), M,
              N, K, alpha, beta, pad, wi, wj, bad ? Cf[(size_t)wi * ldc + wj] : 0.0,
              bad ? Cr[(size_t)wi * ldc + wj] : 0.0);
        /* the last row alone, and the last column alone: the same bits */
        float one = C0[(size_t)(M - 1) * ldc + N - 1], row[300];
        memcpy(row, C0 + (size_t)(M - 1) * ldc, (size_t)N * sizeof *row);
        sgemm_dot(level, 1, N, K, alpha, A + (size_t)(M - 1) * lda, lda, B, ldb, beta, row, ldc);
        sgemm_dot(level, 1, 1, K, alpha, A + (size_t)(M - 1) * lda, lda, B + (size_t)(N - 1) * ldb, ldb, beta, &one,
                  1);
        CHECK(!memcmp(row, Cf + (size_t)(M - 1) * ldc, (size_t)N * sizeof *row) &&
              !memcmp(&one, Cf + (size_t)(M - 1) * ldc + N - 1, sizeof one),
              "%s dot M=%d N=%d K=%d: a row or element alone gives other bits", simd_name(level), M, N, K);
    }
    free(A); free(B); free(Aa); free(Ba); free(C0); free(Cr); free(Cb); free(Cf);
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
                                 {64, 196, 576}, {32, 784, 9}, {32, 288, 784}, {288, 784, 32},
                                 /* Winograd weight-gradient products: 16 x 16 over a block's tiles,
                                  * and around the 16-row, 12/16-column B^T tiles */
                                 {16, 16, 192}, {16, 13, 200}, {11, 16, 300}, {48, 16, 170}, {16, 40, 256}};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        for (int t = 0; t < 4; t++) {
            run_case(t >> 1, t & 1, big[i][0], big[i][1], big[i][2], 1, 0, 0, 0);
            run_case(t >> 1, t & 1, big[i][0], big[i][1], big[i][2], 0.5f, 1, 5, 1);
        }

    /* Prepacked A: odd shapes, both op(A), several k steps and m blocks (K 800, M 400),
     * and the Winograd products (M = OC, K = C). */
    static const int pk[][3] = {{1, 1, 1}, {3, 5, 7}, {7, 17, 1}, {13, 33, 31}, {33, 49, 64}, {64, 16, 64},
                                {17, 100, 257}, {9, 50, 800}, {400, 30, 20}, {32, 196, 32}};
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++)
        for (int ta = 0; ta < 2; ta++) {
            packed_case(ta, pk[i][0], pk[i][1], pk[i][2], 1, 0, 0);
            packed_case(ta, pk[i][0], pk[i][1], pk[i][2], -0.5f, 1, 3);
        }

    /* Dot products: K below, at and past the vector steps (8, 16), N past a block of 4. */
    static const int dk[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 3136};
    for (size_t i = 0; i < sizeof dk / sizeof dk[0]; i++) {
        dot_case(1, 1, dk[i], 1, 0, 0);
        dot_case(1, 10, dk[i], 1, 0, 1);
        dot_case(3, 7, dk[i], 0.5f, 1, 0);
        dot_case(4, 257, dk[i], -1.5f, 0.25f, 5);
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
