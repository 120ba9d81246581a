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
/* Prepacked A, for a product repeated with the same A and many B (Winograd's transformed
 * weights at inference): sgemm_pack_a lays op(A) (M x K; ta as for sgemm, lda its row
 * stride) out in Ap (sgemm_pack_a_floats floats, an upper bound over all levels) the way
 * the `simd` level's micro-kernel reads it, and sgemm_packed then computes
 * sgemm(simd, ta, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws) without packing A,
 * with the same bits. Ap is valid for any N, and only for the same simd, M and K. */
size_t sgemm_pack_a_floats(int M, int K);
void sgemm_pack_a(int simd, int ta, int M, int K, const float *A, int lda, float *Ap);
void sgemm_packed(int simd, int M, int N, int K, float alpha, const float *Ap, const float *B, int ldb, float beta,
                  float *C, int ldc, float *ws);
/* C[M x N] = alpha * A B^T + beta * C with A (M x K) and B (N x K) both read along their
 * rows: one dot product per element, for the few-row products (a dense layer at batch 1-4)
 * where sgemm's register tiles would spend most FMAs on zero padding and the time goes to
 * reading B once. Each element's rounding depends on K and the SIMD level alone, not on
 * M, N or how a caller splits them. beta == 0: C is not read. */
void sgemm_dot(int simd, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
/* The naive twin: triple loop, accumulating in double; what the fast paths are tested against. */
void sgemm_ref(int ta, int tb, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
#endif
