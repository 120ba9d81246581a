/* gemm_kern.h - the private interface between the blocked sgemm driver (gemm.c) and its
 * per-instruction-set micro-kernels and packing routines (gemm_avx2.c, gemm_avx512.c).
 *
 * Packed layouts. A is packed in panels of MR rows: panel[k*MR + r] = op(A)[i0 + r, k0 + k],
 * rows past the matrix are zero. B is packed in strips of up to NR columns, each zero-padded
 * to wp (a multiple of the kernel's vector width): strip[k*wp + c] = op(B)[k0 + k, j0 + c]. */
#ifndef CNN_GEMM_KERN_H
#define CNN_GEMM_KERN_H
#include <stddef.h>

/* C[mr x nr] = alpha * Ap * Bp + beta * C over kc steps, where Ap is one packed A panel
 * (stride MR per k) and Bp advances ldbp floats per k (a packed strip, or B itself when
 * its rows are already contiguous). beta == 0: C is not read. mr <= MR, nr <= NR; the
 * kernel reads ceil(nr / vector width) vectors of Bp per k and touches no C outside mr x nr. */
typedef void (*gemm_kern_fn)(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                             float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta);
/* dst[k*wp + r] = src[r*ld + k] for r < w, k < kc; zero for w <= r < wp (a transpose). */
typedef void (*gemm_pack_fn)(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst);
/* gemm_pack_n has the same signature: dst[k*wp + c] = src[k*ld + c] for c < w; zero up to wp. */

/* The kernels for op(B) = B^T ("kernt") have the gemm_kern_fn signature with other roles:
 * Ap is A packed as k-slices of MRT rows (panel[k*MRT + r], zero past mr), and Bp is B
 * itself: NRT rows at Bp + j*ldbp, each read along k (rows past nr must be readable; the
 * driver points them at a zero-padded copy). */

#ifndef CNN_NO_SIMD
/* AVX2 + FMA: 4 x 24 register tile (12 ymm accumulators), vector width 8. */
void gemm_kern_avx2(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                    float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta);
void gemm_pack_t_avx2(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst);
void gemm_pack_n_avx2(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst);
/* 16 x 6 tile of C for op(B) = B^T. */
void gemm_kernt_avx2(int kc, const float *Ap, const float *B, ptrdiff_t ldb,
                     float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta);
/* C[i][j] = alpha * T[j*ldt + i] + beta * C[i][j] for i < mr, j < nr (beta == 0: C not
 * read). T must have round_up(nr, 8) readable rows. */
void gemm_store_t_avx2(const float *T, ptrdiff_t ldt, int mr, int nr, float *C, ptrdiff_t ldc,
                       float alpha, float beta);
/* sgemm_dot's kernel (see gemm.h); the AVX-512 level uses it too: the loop is bound by
 * reading B, not by the FMA width. */
void gemm_dot_avx2(int M, int N, int K, float alpha, const float *A, ptrdiff_t lda, const float *B,
                   ptrdiff_t ldb, float beta, float *C, ptrdiff_t ldc);
/* AVX-512: 8 x 48 register tile (24 zmm accumulators), vector width 16. */
void gemm_kern_avx512(int kc, const float *Ap, const float *Bp, ptrdiff_t ldbp,
                      float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta);
void gemm_pack_n_avx512(const float *src, ptrdiff_t ld, int w, int kc, int wp, float *dst);
/* 32 x 12 tile of C for op(B) = B^T; with at most 16 rows (mr), A's k-slices are 16 wide
 * and up to 16 columns are read (12 if nr <= 12). */
void gemm_kernt_avx512(int kc, const float *Ap, const float *B, ptrdiff_t ldb,
                       float *C, ptrdiff_t ldc, int mr, int nr, float alpha, float beta);
#endif
#endif
