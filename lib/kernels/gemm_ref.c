/* gemm_ref.c - the naive twin of sgemm: a triple loop accumulating in double, kept as
 * simple as possible because every fast path is tested against it. */
#include "gemm.h"

void sgemm_ref(int ta, int tb, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            if (alpha != 0.0f) /* BLAS semantics: alpha == 0 does not read A or B */
                for (int k = 0; k < K; k++) {
                    double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                    s += a * b;
                }
            float *c = &C[(size_t)i * ldc + j];
            /* beta == 0 must not read C, which may hold NaN. */
            *c = (float)((double)alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
    }
}
