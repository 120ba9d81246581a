/* gemm.h - single-precision matrix multiply, the workhorse of conv and dense layers.
 * Row-major. C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C, where
 * op(A) = A (ta = 0, A is M x K with row stride lda) or A^T (ta = 1, A is K x M),
 * op(B) = B (tb = 0, B is K x N with row stride ldb) or B^T (tb = 1, B is N x K).
 * beta == 0 means C is not read (it may hold NaN). Single-threaded: callers split work. */
#ifndef CNN_GEMM_H
#define CNN_GEMM_H
#include <stddef.h>

/* Floats of packing workspace sgemm needs for these sizes (an upper bound; 64-byte aligned). */
size_t sgemm_ws_floats(int M, int N, int K);
/* The fast path for `simd` (a SIMD_* level), using ws (sgemm_ws_floats floats). */
void sgemm(int simd, int ta, int tb, int M, int N, int K, float alpha,
           const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc, float *ws);
/* The naive twin: triple loop, accumulating in double; what the fast paths are tested against. */
void sgemm_ref(int ta, int tb, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
#endif
