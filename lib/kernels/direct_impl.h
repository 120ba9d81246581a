/* direct_impl.h - the direct convolution kernels of direct.h, compiled once per
 * instruction set: direct.c (portable, one float per "vector"), direct_avx2.c (8 lanes)
 * and direct_avx512.c (16 lanes) include it with DIRECT_SUFFIX set. The register blocks
 * are written once as inline functions over a block size; each size in the tables below
 * is a separate copy with constant loop bounds, which gcc unrolls into registers. */
#include <stddef.h>
#include <string.h>

#include "direct.h"
#ifdef __AVX2__
#include <immintrin.h>
#endif

#define DIRECT_CAT2(a, b) a##_##b
#define DIRECT_CAT(a, b) DIRECT_CAT2(a, b)
#define DIRECT_FN(name) DIRECT_CAT(name, DIRECT_SUFFIX)
#define UNROLL _Pragma("GCC unroll 16")
#define UNROLL32 _Pragma("GCC unroll 32")
#define INLINE static inline __attribute__((always_inline))

void DIRECT_FN(direct_fwd_prep)(const direct_shape *s, const float *w, float *ws);
void DIRECT_FN(direct_fwd)(const direct_shape *s, const float *x, int n, const float *bias, int relu, float *y,
                           float *ws);
void DIRECT_FN(direct_bwd)(const direct_shape *s, const float *w, const float *x, const float *dy, int n, float *dw,
                           float *db, float *dx, float *ws);
int DIRECT_FN(direct_dx_way)(const direct_shape *s, int n);

/* The vector type of this build: vf holds VW floats. Loads and stores of the first n
 * lanes serve the ragged end of a plane; the lanes past n read as zero. */
#if defined(__AVX512F__)
typedef __m512 vf;
enum { VW = 16 };
#define NREG 32 /* vector registers */
INLINE vf vzero(void) { return _mm512_setzero_ps(); }
INLINE vf vbcast(float f) { return _mm512_set1_ps(f); }
INLINE vf vload(const float *p) { return _mm512_loadu_ps(p); }
INLINE void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
INLINE vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
INLINE vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
INLINE vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
/* max(0, v) as (0 > v ? 0 : v): NaN and -0 pass through as in the executor's relu. */
INLINE vf vrelu(vf v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }
INLINE __mmask16 vmask(int n) { return (__mmask16)((1u << n) - 1); }
INLINE vf vload_n(const float *p, int n) { return _mm512_maskz_loadu_ps(vmask(n), p); }
INLINE void vstore_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, vmask(n), v); }
INLINE float vsum(vf v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}
#elif defined(__AVX2__)
typedef __m256 vf;
enum { VW = 8 };
#define NREG 16
INLINE vf vzero(void) { return _mm256_setzero_ps(); }
INLINE vf vbcast(float f) { return _mm256_set1_ps(f); }
INLINE vf vload(const float *p) { return _mm256_loadu_ps(p); }
INLINE void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
INLINE vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
INLINE vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
INLINE vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
INLINE vf vrelu(vf v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }
INLINE __m256i vmask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
INLINE vf vload_n(const float *p, int n) { return _mm256_maskload_ps(p, vmask(n)); }
INLINE void vstore_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, vmask(n), v); }
INLINE float vsum(vf v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}
#else
typedef float vf;
enum { VW = 1 };
#define NREG 16
INLINE vf vzero(void) { return 0.0f; }
INLINE vf vbcast(float f) { return f; }
INLINE vf vload(const float *p) { return *p; }
INLINE void vstore(float *p, vf v) { *p = v; }
INLINE vf vfma(vf a, vf b, vf c) { return a * b + c; }
INLINE vf vmul(vf a, vf b) { return a * b; }
INLINE vf vadd(vf a, vf b) { return a + b; }
INLINE vf vrelu(vf v) { return v < 0.0f ? 0.0f : v; }
INLINE vf vload_n(const float *p, int n) { return n > 0 ? *p : 0.0f; }
INLINE void vstore_n(float *p, vf v, int n) {
    if (n > 0) *p = v;
}
INLINE float vsum(vf v) { return v; }
#endif

/* r[i] = row i of a VW x VW block -> r[j] = column j. */
#if defined(__AVX2__)
#include "transpose.h"
#if defined(__AVX512F__)
INLINE void transpose_vw(vf r[VW]) { transpose16(r); }
#else
INLINE void transpose_vw(vf r[VW]) { transpose8(r); }
#endif
#else
INLINE void transpose_vw(vf r[VW]) { (void)r; } /* one lane: nothing moves */
#endif

/* The first n lanes at p (n may be <= 0 or >= VW). */
INLINE vf vload_part(const float *p, int n) { return n >= VW ? vload(p) : n > 0 ? vload_n(p, n) : vzero(); }
INLINE void vstore_part(float *p, vf v, int n) {
    if (n >= VW) vstore(p, v);
    else if (n > 0) vstore_n(p, v, n);
}

/* ---- Workspace ---- */

/* Floats read past a plane's last row by a block's last vectors (at most 8 vectors of 16). */
enum { SLACK = 128, RMAX = 8, VMAX = 8, TBMAX = 12, LANES_MAX = 16 };
/* Taps a weight-gradient kernel may read past the last one (whole tap blocks of either kind). */
enum { TAP_PAD = 32, WGOC_MIN_TAPS = 48 };
/* On small images the weight gradient runs over up to NBMAX images per block of sums (up
 * to NB_POSITIONS positions, the planes of x of each within PLANES_BUDGET floats), so that
 * its lane sums are loaded and stored less often than once per image. On large ones
 * (28x28) several images' planes would no longer stay in L1: measured 20 % slower. */
enum { NBMAX = 4, NB_POSITIONS = 1024, PLANES_BUDGET = 1 << 16 };
static inline size_t dr16(size_t v) { return (v + 15) & ~(size_t)15; }

typedef struct dws {
    float *wp;    /* weights packed for the forward kernel (of x, or of dy for dx) */
    float *px;    /* shifted planes of x: C x KW planes of px_stride */
    float *pd;    /* shifted planes of dy (input gradient): OC x KW planes of pd_stride */
    float *sink;  /* where the rows of padding output channels go */
    float *zrow;  /* zeros: the dy rows of padding output channels */
    float *dwv;   /* the weight gradient, one vector of lane sums per weight */
    float *dbv;   /* the bias gradient, one vector of lane sums per output channel */
    int *offx;    /* each tap's offset in the planes of x, padded to whole tap blocks */
    int *offd;    /* each tap's offset in the planes of dy */
    float *g;     /* the input gradient's sums over ky before the adds into dx: planes like px */
    float *dyt;   /* dy transposed, image after image (weight gradient with channel lanes) */
    float *dyl;   /* dy with images in the lanes, rows widened by KW - 1 zero columns each side */
    float *dxl;   /* the input gradient with images in the lanes */
    int px_stride, pd_stride;
} dws;

/* Planes follow each other at whole cache lines; a vector read past one plane's end reads
 * the next (finite values: zeros or data), and SLACK floats after the last one. */
static int plane_stride(int rows, int width) { return (int)dr16((size_t)rows * width); }

/* The input gradient with images in the lanes (below) keeps dy and dx of VW images; it is
 * offered to shapes whose two buffers fit LANES_BUDGET floats, so that layers it would not
 * pay on (a 28x28 first layer with 32 filters: 1.9 MB) do not carry them. */
enum { LANES_BUDGET = 1 << 17 };
static int lanes_row(const direct_shape *s) { return s->OW + 2 * (s->KW - 1); }
/* Sized for LANES_MAX lanes: direct_ws_floats (the portable build) sizes every level's. */
static size_t lanes_dy_floats(const direct_shape *s) { return (size_t)s->OC * s->OH * lanes_row(s) * LANES_MAX; }
static size_t lanes_dx_floats(const direct_shape *s) { return (size_t)s->C * s->H * s->W * LANES_MAX; }
static int lanes_ok(const direct_shape *s) {
    int PB = s->OH + s->KH - 1 - s->H - s->PT, PR = s->OW + s->KW - 1 - s->W - s->PL;
    return s->PT >= 0 && s->PL >= 0 && PB >= 0 && PR >= 0 &&
           lanes_dy_floats(s) + lanes_dx_floats(s) <= LANES_BUDGET;
}

static int batch_images(const direct_shape *s) {
    size_t one = (size_t)s->C * s->KW * plane_stride(s->OH + s->KH - 1, s->OW);
    size_t nb = PLANES_BUDGET / one, nl = NB_POSITIONS / ((size_t)s->OH * s->OW);
    if (nl < nb) nb = nl;
    return nb < 1 ? 1 : nb > NBMAX ? NBMAX : (int)nb;
}

static size_t ws_layout(const direct_shape *s, float *base, dws *w) {
    size_t T = (size_t)s->C * s->KH * s->KW, Tt = (size_t)s->OC * s->KH * s->KW;
    size_t nwp = (size_t)(s->OC + RMAX) * T, nwt = (size_t)(s->C + RMAX) * Tt;
    size_t L = (size_t)s->OH * s->OW, Lt = (size_t)s->H * s->W;
    dws d;
    d.px_stride = plane_stride(s->OH + s->KH - 1, s->OW);
    d.pd_stride = plane_stride(s->H + s->KH - 1, s->W);
    size_t sink = L > Lt ? L : Lt, lanes = lanes_ok(s);
    if ((size_t)s->W * LANES_MAX > sink) sink = (size_t)s->W * LANES_MAX; /* a row of dx in lanes */
    size_t o = 0,
           sizes[13] = {dr16(nwp > nwt ? nwp : nwt), (size_t)batch_images(s) * s->C * s->KW * d.px_stride + SLACK,
                        (size_t)s->OC * (s->KW * (size_t)d.pd_stride > dr16(L) ? s->KW * (size_t)d.pd_stride
                                                                                : dr16(L)) + SLACK,
                        dr16(sink + SLACK),
                        dr16(L + SLACK), dr16((size_t)(s->OC + RMAX) * (T + TBMAX) * LANES_MAX),
                        dr16((size_t)(s->OC + RMAX) * LANES_MAX), dr16(T + TAP_PAD), dr16(Tt),
                        (size_t)s->C * s->KW * d.px_stride + SLACK, dr16((size_t)batch_images(s) * L * s->OC),
                        lanes ? dr16(lanes_dy_floats(s)) : 0, lanes ? dr16(lanes_dx_floats(s)) : 0};
    float *f[13];
    for (int i = 0; i < 13; i++) {
        f[i] = base ? base + o : NULL;
        o += sizes[i];
    }
    d.wp = f[0], d.px = f[1], d.pd = f[2], d.sink = f[3], d.zrow = f[4], d.dwv = f[5], d.dbv = f[6], d.g = f[9];
    d.dyt = f[10], d.dyl = f[11], d.dxl = f[12];
    /* The offsets are ints in float-sized slots of the same buffer (never read as floats). */
    d.offx = (int *)f[7], d.offd = (int *)f[8];
    if (w) *w = d;
    return o;
}

/* off[i] for taps i < n of C channels: tap (c, ky, kx) reads plane (c, kx) from row ky
 * (planes of `stride` floats, rows of `width`); taps past T repeat the last one. */
static void tap_offsets(int T, int n, int KH, int KW, int stride, int width, int *off) {
    for (int i = 0; i < n; i++) {
        int t = i < T ? i : T - 1;
        int c = t / (KH * KW), ky = t / KW % KH, kx = t % KW;
        off[i] = (c * KW + kx) * stride + ky * width;
    }
}

/* ---- Shifted planes ---- */

/* dst[i] = src[i] for i < n. The rows here are short (10 to 28 floats on LeNet) and there
 * are hundreds per image: memcpy's call and size dispatch cost more than the copy, so with
 * AVX-512 they are whole vectors and one masked tail. (AVX2's masked stores are slow on
 * AMD processors: that build keeps memcpy, as does the portable one.) */
INLINE void copy_row(float *restrict dst, const float *restrict src, int n) {
#if defined(__AVX512F__)
    int i = 0;
    for (; i + VW <= n; i += VW) vstore(dst + i, vload(src + i));
    if (i < n) vstore_n(dst + i, vload_n(src + i, n - i), n - i);
#else
    memcpy(dst, src, (size_t)n * sizeof *dst);
#endif
}

/* Planes kx = 0..KW-1 of each of C channels of in (C x H x W): plane(c, kx)[r * OW + j] =
 * in[c][r - PT][j + kx - PL], zero outside the input. Only the input's part is written:
 * the rest was cleared when the planes were set up and stays zero. */
static void fill_planes(const float *in, int C, int H, int W, int KW, int PT, int PL, int rows, int OW, int stride,
                        float *pl) {
    for (int c = 0; c < C; c++)
        for (int kx = 0; kx < KW; kx++) {
            float *p = pl + ((size_t)c * KW + kx) * stride;
            int j0 = PL - kx > 0 ? PL - kx : 0, j1 = W + PL - kx < OW ? W + PL - kx : OW;
            if (j1 <= j0) continue;
            int r0 = PT > 0 ? PT : 0, r1 = H + PT < rows ? H + PT : rows;
            for (int r = r0; r < r1; r++)
                copy_row(p + (size_t)r * OW + j0, in + ((size_t)c * H + r - PT) * W + j0 + kx - PL, j1 - j0);
        }
}

/* ---- Forward: R output channels x V vectors of positions ---- */

typedef struct fwd_args {
    const float *pl;  /* the planes */
    const int *off;   /* T tap offsets into them */
    int T, L;
} fwd_args;

/* acc += tap t's products at positions p0 + [0, V * VW), or acc = them (first). Starting
 * from a product instead of a zero saves the R x V register copies gcc makes of one
 * broadcast zero, which are not free for zmm registers: N2's conv1 forward (1 channel,
 * 9 taps) 0.320 -> 0.300 ms per 64 images on one Zen 4 core. wt holds the tap's R
 * weights. Beside the R x V accumulators the shorter operand set stays in registers: R
 * broadcast weights or V input vectors. */
INLINE void fwd_tap(const int R, const int V, const int first, const fwd_args *a, const float *wt, int t, int p0,
                    vf acc[RMAX][VMAX]) {
    const float *xp = a->pl + a->off[t] + p0;
    if (R > V) {
        vf xv[VMAX];
        UNROLL for (int v = 0; v < V; v++) xv[v] = vload(xp + v * VW);
        UNROLL for (int r = 0; r < R; r++) {
            vf wv = vbcast(wt[r]);
            UNROLL for (int v = 0; v < V; v++) acc[r][v] = first ? vmul(wv, xv[v]) : vfma(wv, xv[v], acc[r][v]);
        }
    } else {
        vf wv[RMAX];
        UNROLL for (int r = 0; r < R; r++) wv[r] = vbcast(wt[r]);
        UNROLL for (int v = 0; v < V; v++) {
            vf xv = vload(xp + v * VW);
            UNROLL for (int r = 0; r < R; r++) acc[r][v] = first ? vmul(wv[r], xv) : vfma(wv[r], xv, acc[r][v]);
        }
    }
}

/* The block's taps from wp ([T][R]); first: the first one sets acc instead of adding. */
INLINE void fwd_taps(const int R, const int V, const int first, const fwd_args *a, const float *wp, int p0,
                     vf acc[RMAX][VMAX]) {
    int t = 0;
    if (first) fwd_tap(R, V, 1, a, wp, t++, p0, acc);
    for (; t < a->T; t++) fwd_tap(R, V, 0, a, wp + t * R, t, p0, acc);
}

/* Rows yrow[0..R) of positions [p0, p1) (whole blocks of V vectors, the last of which
 * may pass L) = bias (add = 0; NULL: none) or themselves (add = 1) + the block's taps,
 * then through a relu if asked. Whole blocks load and store whole vectors; one that
 * passes L only the lanes before it. */
INLINE void fwd_block(const int R, const int V, const fwd_args *a, const float *wp, float *const *yrow,
                      const float *bias, int add, int relu, int p0, int p1) {
    int L = a->L, fresh = !add && !bias;
    vf acc[RMAX][VMAX];
    for (; p0 < p1; p0 += V * VW) {
        int whole = p0 + V * VW <= L;
        if (!fresh)
            UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < V; v++) acc[r][v] =
                !add ? vbcast(bias[r])
                : whole ? vload(yrow[r] + p0 + v * VW)
                        : vload_part(yrow[r] + p0 + v * VW, L - p0 - v * VW);
        if (fresh) fwd_taps(R, V, 1, a, wp, p0, acc);
        else fwd_taps(R, V, 0, a, wp, p0, acc);
        if (relu) UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < V; v++) acc[r][v] = vrelu(acc[r][v]);
        if (whole) UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < V; v++)
            vstore(yrow[r] + p0 + v * VW, acc[r][v]);
        else UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < V; v++)
            vstore_part(yrow[r] + p0 + v * VW, acc[r][v], L - p0 - v * VW);
    }
}

/* One function per block size; the blocks of a layer are R channels x V vectors, and the
 * positions left after whole blocks go to one block of R x (as many vectors as remain),
 * so that a ragged end costs at most part of one vector (10x10 outputs: 7 vectors of 16,
 * not 9 in blocks of 3). */
typedef void (*fwd_fn)(const fwd_args *a, const float *wp, float *const *yrow, const float *bias, int add,
                       int relu, int p0, int p1);
#define FWD_SIZE(R, V)                                                                                            \
    static void fwd_##R##x##V(const fwd_args *a, const float *wp, float *const *yrow, const float *bias, int add, \
                              int relu, int p0, int p1) {                                                         \
        fwd_block(R, V, a, wp, yrow, bias, add, relu, p0, p1);                                                    \
    }
#define FWD_UPTO2(R) FWD_SIZE(R, 1) FWD_SIZE(R, 2)
#define FWD_UPTO3(R) FWD_UPTO2(R) FWD_SIZE(R, 3)
#define FWD_UPTO4(R) FWD_UPTO3(R) FWD_SIZE(R, 4)
#define FWD_UPTO5(R) FWD_UPTO4(R) FWD_SIZE(R, 5)
#define FWD_UPTO6(R) FWD_UPTO5(R) FWD_SIZE(R, 6)
#define FWD_UPTO8(R) FWD_UPTO6(R) FWD_SIZE(R, 7) FWD_SIZE(R, 8)
#define FWD_ROW2(R) [R] = {NULL, fwd_##R##x1, fwd_##R##x2}
#define FWD_ROW3(R) [R] = {NULL, fwd_##R##x1, fwd_##R##x2, fwd_##R##x3}
#define FWD_ROW4(R) [R] = {NULL, fwd_##R##x1, fwd_##R##x2, fwd_##R##x3, fwd_##R##x4}
#define FWD_ROW5(R) [R] = {NULL, fwd_##R##x1, fwd_##R##x2, fwd_##R##x3, fwd_##R##x4, fwd_##R##x5}
#define FWD_ROW6(R) [R] = {NULL, fwd_##R##x1, fwd_##R##x2, fwd_##R##x3, fwd_##R##x4, fwd_##R##x5, fwd_##R##x6}
#define FWD_ROW8(R)                                                                                           \
    [R] = {NULL,        fwd_##R##x1, fwd_##R##x2, fwd_##R##x3, fwd_##R##x4, fwd_##R##x5, fwd_##R##x6, fwd_##R##x7, \
           fwd_##R##x8}
/* Block sizes that fit the register file: R * V accumulators + min(R, V) operands + 1. */
#if NREG >= 32
FWD_UPTO3(8)
FWD_UPTO4(6)
FWD_UPTO5(5)
FWD_UPTO6(4)
FWD_UPTO8(3)
FWD_UPTO8(2)
FWD_UPTO8(1)
static const fwd_fn fwd_fns[RMAX + 1][VMAX + 1] = {FWD_ROW3(8), FWD_ROW4(6), FWD_ROW5(5), FWD_ROW6(4),
                                                   FWD_ROW8(3), FWD_ROW8(2), FWD_ROW8(1)};
static const struct fwd_kind { int R, V; } fwd_kinds[] = {{8, 3}, {6, 4}, {5, 5}, {4, 6}, {3, 8}, {2, 8}, {1, 8}};
#else
FWD_UPTO3(4)
FWD_UPTO4(3)
FWD_UPTO2(6)
FWD_UPTO6(2)
FWD_UPTO8(1)
static const fwd_fn fwd_fns[RMAX + 1][VMAX + 1] = {FWD_ROW3(4), FWD_ROW4(3), FWD_ROW2(6), FWD_ROW6(2), FWD_ROW8(1)};
static const struct fwd_kind { int R, V; } fwd_kinds[] = {{4, 3}, {3, 4}, {6, 2}, {2, 6}, {1, 8}};
#endif
enum { NFWD = sizeof fwd_kinds / sizeof fwd_kinds[0] };

/* Estimated time per tap of a block: its R * V multiply-adds, and its V vector loads,
 * which measured dearer than the R broadcasts (they are unaligned, most split a line). */
static double fwd_block_cost(int R, int V) { return R * V + V + 0.25 * R; }

/* Estimated time per tap of OC channels of L positions with kind k: padding channels and
 * the lanes past L in the last vector are computed in full. */
static double fwd_cost(const struct fwd_kind *k, int OC, int L) {
    int whole = L / (k->V * VW), rest = (L - whole * k->V * VW + VW - 1) / VW;
    return (double)((OC + k->R - 1) / k->R) * (whole * fwd_block_cost(k->R, k->V) + (rest ? fwd_block_cost(k->R, rest) : 0));
}

static const struct fwd_kind *fwd_pick(int OC, int L) {
    const struct fwd_kind *best = &fwd_kinds[0];
    for (int k = 1; k < NFWD; k++)
        if (fwd_cost(&fwd_kinds[k], OC, L) < fwd_cost(best, OC, L)) best = &fwd_kinds[k];
    return best;
}

/* wp[b][t][r] = the weight of output channel b * R + r at tap t (0 past OC), from a
 * filter bank whose weight (o, t) is at src[o * so + t * st]. */
static void pack_weights(const float *src, int OC, int T, ptrdiff_t so, ptrdiff_t st, int R, float *wp) {
    int nb = (OC + R - 1) / R;
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < T; t++)
            for (int r = 0; r < R; r++) {
                int o = b * R + r;
                wp[((size_t)b * T + t) * R + r] = o < OC ? src[o * so + t * st] : 0.0f;
            }
}

/* One block of R rows over all L positions: whole blocks of V vectors, then one block of
 * the vectors left. */
static void fwd_rows(const struct fwd_kind *k, const fwd_args *a, const float *wb, float *const *rows,
                     const float *bv, int add, int relu) {
    int whole = a->L / (k->V * VW) * (k->V * VW), rest = (a->L - whole + VW - 1) / VW;
    if (whole) fwd_fns[k->R][k->V](a, wb, rows, bv, add, relu, 0, whole);
    if (rest) fwd_fns[k->R][rest](a, wb, rows, bv, add, relu, whole, a->L);
}

/* Output channels [0, OC) of one image's L positions, blocks of the chosen kind. */
static void fwd_image(const struct fwd_kind *k, const fwd_args *a, int OC, const float *wp, const float *bias,
                      float *y, int add, int relu, float *sink) {
    int R = k->R;
    for (int o0 = 0; o0 < OC; o0 += R) {
        float *rows[RMAX];
        float bv[RMAX];
        for (int r = 0; r < R; r++) {
            int o = o0 + r;
            rows[r] = o < OC ? y + (size_t)o * a->L : sink;
            bv[r] = o < OC && bias ? bias[o] : 0.0f;
        }
        fwd_rows(k, a, wp + (size_t)(o0 / R) * a->T * R, rows, bias ? bv : NULL, add, relu);
    }
}

void DIRECT_FN(direct_fwd_prep)(const direct_shape *s, const float *w, float *ws) {
    dws d;
    ws_layout(s, ws, &d);
    int T = s->C * s->KH * s->KW;
    pack_weights(w, s->OC, T, T, 1, fwd_pick(s->OC, s->OH * s->OW)->R, d.wp);
    memset(d.px, 0, ((size_t)s->C * s->KW * d.px_stride + SLACK) * sizeof(float));
    tap_offsets(T, T, s->KH, s->KW, d.px_stride, s->OW, d.offx);
}

void DIRECT_FN(direct_fwd)(const direct_shape *s, const float *x, int n, const float *bias, int relu, float *y,
                           float *ws) {
    dws d;
    ws_layout(s, ws, &d);
    int rows = s->OH + s->KH - 1, L = s->OH * s->OW;
    fwd_args a = {d.px, d.offx, s->C * s->KH * s->KW, L};
    const struct fwd_kind *k = fwd_pick(s->OC, L);
    for (int b = 0; b < n; b++) {
        fill_planes(x + (size_t)b * s->C * s->H * s->W, s->C, s->H, s->W, s->KW, s->PT, s->PL, rows, s->OW,
                    d.px_stride, d.px);
        fwd_image(k, &a, s->OC, d.wp, bias, y + (size_t)b * s->OC * L, 0, relu, d.sink);
    }
}

/* ---- Weight gradient: R output channels x TB taps ---- */

/* dwv[r][t] (one vector of lane sums each) += dy row r times the plane positions at
 * off[t] over L positions, for images i < ni (dy rows rows[i * RMAX + r], planes at
 * pl + i * ps), and with BIAS dbv[r] += dy row r; the ragged last vector reads dy's lanes
 * past L as zero. */
INLINE void wgrad_block(const int R, const int TB, const int BIAS, const float *const *rows, int ni, const float *pl,
                        size_t ps, const int *off, int L, float *dwv, float *dbv) {
    vf acc[RMAX][TBMAX], bacc[RMAX];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < TB; t++) acc[r][t] = vload(dwv + (r * TB + t) * VW);
    if (BIAS) UNROLL for (int r = 0; r < R; r++) bacc[r] = vload(dbv + r * VW);
    for (int i = 0; i < ni; i++) {
        const float *const *dyrow = rows + i * RMAX;
        const float *pi = pl + i * ps;
        for (int p = 0; p < L; p += VW) {
            vf d[RMAX];
            if (p + VW <= L) {
                UNROLL for (int r = 0; r < R; r++) d[r] = vload(dyrow[r] + p);
            } else {
                UNROLL for (int r = 0; r < R; r++) d[r] = vload_n(dyrow[r] + p, L - p);
            }
            if (BIAS) UNROLL for (int r = 0; r < R; r++) bacc[r] = vadd(bacc[r], d[r]);
            UNROLL for (int t = 0; t < TB; t++) {
                vf xv = vload(pi + off[t] + p);
                UNROLL for (int r = 0; r < R; r++) acc[r][t] = vfma(d[r], xv, acc[r][t]);
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < TB; t++) vstore(dwv + (r * TB + t) * VW, acc[r][t]);
    if (BIAS) UNROLL for (int r = 0; r < R; r++) vstore(dbv + r * VW, bacc[r]);
}

typedef void (*wgrad_fn)(const float *const *rows, int ni, const float *pl, size_t ps, const int *off, int L,
                         float *dwv, float *dbv);
#define WGRAD_SIZE(R, TB)                                                                                       \
    static void wgrad_##R##x##TB(const float *const *rows, int ni, const float *pl, size_t ps, const int *off,   \
                                 int L, float *dwv, float *dbv) {                                               \
        wgrad_block(R, TB, 0, rows, ni, pl, ps, off, L, dwv, dbv);                                              \
    }                                                                                                           \
    static void wgrad_##R##x##TB##b(const float *const *rows, int ni, const float *pl, size_t ps, const int *off, \
                                    int L, float *dwv, float *dbv) {                                            \
        wgrad_block(R, TB, 1, rows, ni, pl, ps, off, L, dwv, dbv);                                              \
    }
#define WGRAD_KIND(R, TB) {R, TB, wgrad_##R##x##TB, wgrad_##R##x##TB##b}
/* R * TB accumulators + R dy vectors + 1 input (+ R bias sums on the first tap block). */
#if NREG >= 32
WGRAD_SIZE(3, 9)
WGRAD_SIZE(2, 9)
WGRAD_SIZE(2, 12)
WGRAD_SIZE(4, 6)
WGRAD_SIZE(3, 7)
WGRAD_SIZE(5, 5)
WGRAD_SIZE(2, 8)
WGRAD_SIZE(1, 8)
WGRAD_SIZE(1, 1)
static const struct wgrad_kind { int R, TB; wgrad_fn fn, fnb; } wgrad_kinds[] = {
    WGRAD_KIND(3, 9), WGRAD_KIND(2, 9), WGRAD_KIND(2, 12), WGRAD_KIND(4, 6), WGRAD_KIND(3, 7),
    WGRAD_KIND(5, 5), WGRAD_KIND(2, 8), WGRAD_KIND(1, 8), WGRAD_KIND(1, 1)};
#else
WGRAD_SIZE(3, 3)
WGRAD_SIZE(2, 5)
WGRAD_SIZE(2, 4)
WGRAD_SIZE(1, 8)
WGRAD_SIZE(1, 1)
static const struct wgrad_kind { int R, TB; wgrad_fn fn, fnb; } wgrad_kinds[] = {
    WGRAD_KIND(3, 3), WGRAD_KIND(2, 5), WGRAD_KIND(2, 4), WGRAD_KIND(1, 8), WGRAD_KIND(1, 1)};
#endif
enum { NWGRAD = sizeof wgrad_kinds / sizeof wgrad_kinds[0] };

/* As fwd_pick: padding channels and taps cost in full; R + TB loads per R * TB products;
 * a first tap block whose bias sums do not fit the registers spills about 2 per product. */
static int wgrad_pick(int OC, int T, int bias) {
    int best = NWGRAD - 1;
    double bcost = 0;
    for (int k = 0; k < NWGRAD; k++) {
        int R = wgrad_kinds[k].R, TB = wgrad_kinds[k].TB, ntb = (T + TB - 1) / TB;
        double per = R * TB + 0.5 * (R + TB);
        double cost = (double)((OC + R - 1) / R) * (ntb * per + (bias ? R : 0));
        if (bias && R * TB + 2 * R + 1 > NREG) cost += (double)((OC + R - 1) / R) * 2 * R * TB;
        if (k == 0 || cost < bcost) best = k, bcost = cost;
    }
    return best;
}

/* The weight (and with bias the bias) gradient of images [0, ni) of dy, whose planes are
 * in d->px one image after another, into the lane sums (blocks of R channels x TB taps,
 * stored block after block). Padding taps repeat the last tap and padding channels read
 * zeros; their sums are not used. */
static void wgrad_images(const struct wgrad_kind *k, const direct_shape *s, const dws *d, const float *dy, int ni,
                         int bias) {
    int R = k->R, TB = k->TB, T = s->C * s->KH * s->KW, L = s->OH * s->OW;
    int ntb = (T + TB - 1) / TB;
    size_t ps = (size_t)s->C * s->KW * d->px_stride;
    /* A last block of fewer channels runs a kernel of that many rows and the same taps, when
     * there is one, instead of computing padding rows (N2's conv1: 32 channels in blocks of
     * 3 computed 33). Its sums land where the padded block's would. */
    const struct wgrad_kind *kt = k;
    for (int j = 0; j < NWGRAD && s->OC % R; j++)
        if (wgrad_kinds[j].R == s->OC % R && wgrad_kinds[j].TB == TB) kt = &wgrad_kinds[j];
    for (int o0 = 0; o0 < s->OC; o0 += R) {
        const struct wgrad_kind *kb = o0 + R > s->OC ? kt : k;
        const float *rows[NBMAX * RMAX];
        for (int i = 0; i < ni; i++)
            for (int r = 0; r < R; r++)
                rows[i * RMAX + r] = o0 + r < s->OC ? dy + ((size_t)i * s->OC + o0 + r) * L : d->zrow;
        float *dwv = d->dwv + (size_t)(o0 / R) * ntb * R * TB * VW;
        for (int tb = 0; tb < ntb; tb++)
            (bias && tb == 0 ? kb->fnb : kb->fn)(rows, ni, d->px, ps, d->offx + tb * TB, L,
                                                 dwv + (size_t)tb * R * TB * VW, d->dbv + (size_t)o0 * VW);
    }
}

/* dw (and db) += the lane sums, each reduced across its lanes. */
static void wgrad_reduce(const struct wgrad_kind *k, const direct_shape *s, const dws *d, float *dw, float *db) {
    int R = k->R, TB = k->TB, T = s->C * s->KH * s->KW, ntb = (T + TB - 1) / TB;
    for (int o = 0; o < s->OC; o++) {
        for (int t = 0; t < T; t++) {
            size_t blk = (size_t)(o / R) * ntb + t / TB;
            dw[(size_t)o * T + t] += vsum(vload(d->dwv + (blk * R * TB + (o % R) * TB + t % TB) * VW));
        }
        if (db) db[o] += vsum(vload(d->dbv + (size_t)o * VW));
    }
}

/* ---- Weight gradient with output channels in the lanes ---- */

/* When OC is a whole number of vectors and the filters have many taps (LeNet's 6 -> 16 5x5
 * layer: 150 taps over 100 positions an image), the lanes go over output channels instead:
 * dwv[t][o] += dyT[p][o] * plane(t)[p], the plane value broadcast. Positions no longer
 * have to fill vectors (100 positions are 7 vectors of 16, the last a quarter full), and
 * each multiply-add reads one float where the position kernel reads a share of two
 * unaligned vectors, most of them split across cache lines: measured on that layer, 0.20 ->
 * 0.17 ms per 32 images. dy is transposed first, VW x VW at a time in registers; the sums
 * need no reduction across lanes at the end. */
#if defined(__AVX2__)
#define WGOC 1
#if defined(__AVX512F__)
/* Tap blocks: 28 accumulators with one vector of channels, 12 x 2 with two. */
enum { WGOC_TB1 = 28, WGOC_TB2 = 12 };
#else
enum { WGOC_TB1 = 12, WGOC_TB2 = 4 };
#endif

/* dyT[p * OC + o] = dy[o * L + p] for one image (OC a multiple of VW). */
static void transpose_dy(const float *dy, int OC, int L, float *dyT) {
    for (int o0 = 0; o0 < OC; o0 += VW)
        for (int p0 = 0; p0 < L; p0 += VW) {
            int n = L - p0 < VW ? L - p0 : VW;
            vf r[VW];
            UNROLL for (int i = 0; i < VW; i++) r[i] = vload_part(dy + (size_t)(o0 + i) * L + p0, n);
            transpose_vw(r);
            UNROLL for (int j = 0; j < VW; j++) { /* not j < n: r would live on the stack */
                if (j >= n) break;
                vstore(dyT + (size_t)(p0 + j) * OC + o0, r[j]);
            }
        }
}

/* dwv[t][o] += sum over positions of images i < ni of dyT[p][o] * planes(t)[p], for TB taps
 * and VO vectors of channels (dyT and dwv already offset to the first; rows OC apart; image
 * i's dyT at ds floats, its planes at ps); with BIAS dbv[o] += dyT[p][o]. */
INLINE void wgoc_block(const int VO, const int TB, const int BIAS, const float *dyT, size_t ds, int OC, int ni,
                       const float *pl, size_t ps, const int *off, int L, float *dwv, float *dbv) {
    vf acc[WGOC_TB1][2], bacc[2];
    UNROLL32 for (int t = 0; t < TB; t++) UNROLL32 for (int v = 0; v < VO; v++)
        acc[t][v] = vload(dwv + (size_t)t * OC + v * VW);
    if (BIAS) UNROLL32 for (int v = 0; v < VO; v++) bacc[v] = vload(dbv + v * VW);
    for (int i = 0; i < ni; i++) {
        const float *pi = pl + i * ps, *di = dyT + i * ds;
        for (int p = 0; p < L; p++) {
            vf d[2];
            UNROLL32 for (int v = 0; v < VO; v++) d[v] = vload(di + (size_t)p * OC + v * VW);
            if (BIAS) UNROLL32 for (int v = 0; v < VO; v++) bacc[v] = vadd(bacc[v], d[v]);
            UNROLL32 for (int t = 0; t < TB; t++) {
                vf b = vbcast(pi[off[t] + p]);
                UNROLL32 for (int v = 0; v < VO; v++) acc[t][v] = vfma(b, d[v], acc[t][v]);
            }
        }
    }
    UNROLL32 for (int t = 0; t < TB; t++) UNROLL32 for (int v = 0; v < VO; v++)
        vstore(dwv + (size_t)t * OC + v * VW, acc[t][v]);
    if (BIAS) UNROLL32 for (int v = 0; v < VO; v++) vstore(dbv + v * VW, bacc[v]);
}

typedef void (*wgoc_fn)(const float *dyT, size_t ds, int OC, int ni, const float *pl, size_t ps, const int *off,
                        int L, float *dwv, float *dbv);
#define WGOC_SIZE(VO, TB)                                                                                            \
    static void wgoc_##VO##x##TB(const float *dyT, size_t ds, int OC, int ni, const float *pl, size_t ps,             \
                                 const int *off, int L, float *dwv, float *dbv) {                                    \
        wgoc_block(VO, TB, 0, dyT, ds, OC, ni, pl, ps, off, L, dwv, dbv);                                            \
    }                                                                                                                \
    static void wgoc_##VO##x##TB##b(const float *dyT, size_t ds, int OC, int ni, const float *pl, size_t ps,          \
                                    const int *off, int L, float *dwv, float *dbv) {                                 \
        wgoc_block(VO, TB, 1, dyT, ds, OC, ni, pl, ps, off, L, dwv, dbv);                                            \
    }
#define WGOC_PAIR(VO, TB) {wgoc_##VO##x##TB, wgoc_##VO##x##TB##b}
/* Tap blocks of 4, 8, ... up to the register file's limit: the last block of a layer takes
 * the smallest that covers what is left. */
WGOC_SIZE(1, 4) WGOC_SIZE(1, 8) WGOC_SIZE(1, 12) WGOC_SIZE(2, 4)
#if defined(__AVX512F__)
WGOC_SIZE(1, 16) WGOC_SIZE(1, 20) WGOC_SIZE(1, 24) WGOC_SIZE(1, 28) WGOC_SIZE(2, 8) WGOC_SIZE(2, 12)
static const wgoc_fn wgoc_fns[2][WGOC_TB1 / 4][2] = {
    {WGOC_PAIR(1, 4), WGOC_PAIR(1, 8), WGOC_PAIR(1, 12), WGOC_PAIR(1, 16), WGOC_PAIR(1, 20), WGOC_PAIR(1, 24),
     WGOC_PAIR(1, 28)},
    {WGOC_PAIR(2, 4), WGOC_PAIR(2, 8), WGOC_PAIR(2, 12)}};
#else
static const wgoc_fn wgoc_fns[2][WGOC_TB1 / 4][2] = {{WGOC_PAIR(1, 4), WGOC_PAIR(1, 8), WGOC_PAIR(1, 12)},
                                                      {WGOC_PAIR(2, 4)}};
#endif

/* Vectors of channels per block: 2 when OC is a multiple of two vectors, else 1; 0 when
 * the layer keeps positions in the lanes: OC not whole vectors, or fewer than
 * WGOC_MIN_TAPS taps. Measured per 32 images (16 channels out unless said): 9 taps (32
 * out, 28x28) 0.17 -> 0.34 ms, 27 (32x32) 0.32 -> 0.39, 36 and 45 within 5 % either way,
 * 50 (14x14) 0.14 -> 0.12, 54 0.14 -> 0.135, 75 (32x32) 0.91 -> 0.84, 150 0.20 -> 0.17. */
static int wgoc_vectors(const direct_shape *s) {
    int T = s->C * s->KH * s->KW;
    if (s->OC % VW || T < WGOC_MIN_TAPS) return 0;
    return s->OC % (2 * VW) ? 1 : 2;
}

/* The weight (and bias) gradient of images [0, ni) (planes in d->px, dy transposed into
 * d->dyt), tap blocks of the largest size, the last of the smallest that covers the rest. */
static void wgoc_images(int VO, const direct_shape *s, const dws *d, int ni, int bias) {
    int T = s->C * s->KH * s->KW, L = s->OH * s->OW, TBM = VO == 1 ? WGOC_TB1 : WGOC_TB2;
    size_t ps = (size_t)s->C * s->KW * d->px_stride, ds = (size_t)L * s->OC;
    for (int o0 = 0; o0 < s->OC; o0 += VO * VW)
        for (int t0 = 0; t0 < T; t0 += TBM) {
            int tb = T - t0 < TBM ? (T - t0 + 3) / 4 * 4 : TBM;
            wgoc_fns[VO - 1][tb / 4 - 1][bias && t0 == 0](d->dyt + o0, ds, s->OC, ni, d->px, ps, d->offx + t0, L,
                                                         d->dwv + (size_t)t0 * s->OC + o0, d->dbv + o0);
        }
}

static void wgoc_reduce(const direct_shape *s, const dws *d, float *dw, float *db) {
    int T = s->C * s->KH * s->KW;
    for (int o = 0; o < s->OC; o++) {
        for (int t = 0; t < T; t++) dw[(size_t)o * T + t] += d->dwv[(size_t)t * s->OC + o];
        if (db) db[o] += d->dbv[o];
    }
}
#else
#define WGOC 0
static int wgoc_vectors(const direct_shape *s) { (void)s; return 0; }
#endif

/* ---- Input gradient ---- */

/* Three ways, the cheapest for the shape and the images of the call. "Full": dx is the forward convolution of dy padded
 * by KH-1-PT above and KW-1-PL left (negative: cropped) with the weights flipped in both
 * axes and the channel axes swapped; it multiplies H x W positions by OC * KH * KW taps,
 * many of them zeros of the padding when the layer shrinks the image (twice the work on
 * LeNet's 14x14 -> 10x10). "Scatter": the forward kernel with OC taps of 1x1 forms, over
 * dy's OH x OW positions only, G[c][ky][kx][p] = sum over o of w[o][c][ky][kx] dy[o][p],
 * adding the rows of each (c, kx) at their row offset ky into a shifted plane like those of
 * x; then dx[c][iy][ix] += the KW planes of c at (iy + PT, ix + PL - kx), a row at a time.
 * The outputs go ky by ky, (c, kx) within, each ky padded to whole blocks: a block's rows
 * then never overlap. "Lanes" (dx_lanes below): VW images at a time in the vector lanes. */
typedef struct dx_plan {
    int way;   /* DIRECT_DX_FULL, _SCATTER or _LANES */
    int group; /* scatter: rows per ky (C * KW rounded up to the block) */
    const struct fwd_kind *k;
} dx_plan;

/* Rows ky of the filter that reach dy for row iy of dx: [*ky0, *ky1]; never empty when no
 * padding is negative (lanes_ok). */
static void lanes_rows(const direct_shape *s, int iy, int *ky0, int *ky1) {
    int a = iy + s->PT - s->OH + 1, b = iy + s->PT;
    *ky0 = a > 0 ? a : 0;
    *ky1 = b < s->KH - 1 ? b : s->KH - 1;
}

/* A row of dx in lanes goes in blocks of V positions (the last of what is left): the one
 * from x0 ends at *x1, and only filter columns [*kx0, *kx1] reach dy from one of its
 * positions (the rest would read only the zero columns). */
static void lanes_block(const direct_shape *s, int x0, int V, int *x1, int *kx0, int *kx1) {
    *x1 = s->W - x0 < V ? s->W : x0 + V;
    int a = x0 + s->PL - s->OW + 1, b = *x1 - 1 + s->PL;
    *kx0 = a > 0 ? a : 0;
    *kx1 = b < s->KW - 1 ? b : s->KW - 1;
}

/* The way for n images a call: "lanes" fills VW of them at a time, so its cost per image
 * is shared by at most n. */
static dx_plan dx_pick(const direct_shape *s, int n) {
    if (n < 1) n = 1;
    int K = s->KH * s->KW, L = s->OH * s->OW, Lt = s->H * s->W;
    dx_plan full = {DIRECT_DX_FULL, 0, fwd_pick(s->C, Lt)}, sc = {DIRECT_DX_SCATTER, 0, fwd_pick(s->C * K, L)},
            ln = {DIRECT_DX_LANES, 0, fwd_pick(s->C, s->W * VW)};
    sc.group = (s->C * s->KW + sc.k->R - 1) / sc.k->R * sc.k->R;
    double cf = fwd_cost(full.k, s->C, Lt) * s->OC * K;
    /* and the adds into dx, a row at a time: about 20 cycles a row (fitted on LeNet's
     * 6 -> 16 5x5 layer, rows of 14). */
    double cs = fwd_cost(sc.k, s->KH * sc.group, L) * s->OC + 20.0 * s->C * s->H * s->KW;
    dx_plan best = cs < cf ? sc : full;
    if (s->dx_way == DIRECT_DX_FULL) return full;
    if (s->dx_way == DIRECT_DX_SCATTER) return sc;
    if (!lanes_ok(s)) return best;
    if (s->dx_way == DIRECT_DX_LANES) return ln;
    int rows = 0; /* filter rows over all rows of dx */
    for (int iy = 0, a, b; iy < s->H; iy++) lanes_rows(s, iy, &a, &b), rows += b - a + 1;
    double row = 0; /* a row's blocks per filter row, over all channel blocks */
    for (int x0 = 0, x1, kx0, kx1; x0 < s->W; x0 = x1) {
        lanes_block(s, x0, ln.k->V, &x1, &kx0, &kx1);
        row += (double)((s->C + ln.k->R - 1) / ln.k->R) * fwd_block_cost(ln.k->R, x1 - x0) * (kx1 - kx0 + 1) * s->OC;
    }
    /* the blocks' taps, then two transposes in registers of about 4 a vector */
    double cl = (row * rows + 4.0 * (s->OC * L + s->C * Lt)) / (n < VW ? n : VW);
    return cl < (cs < cf ? cs : cf) ? ln : best;
}

int DIRECT_FN(direct_dx_way)(const direct_shape *s, int n) {
    return dx_pick(s, n).way;
}

/* Packs the weights for the chosen way and sets the offsets of its planes. */
static void dx_prep(const dx_plan *pl, const direct_shape *s, const float *w, dws *d) {
    int K = s->KH * s->KW, Tt = s->OC * K, R = pl->k->R;
    if (pl->way == DIRECT_DX_LANES) {
        /* Output c, tap t = (ky, kx, o), so that a block's taps (a range of ky, and of kx
         * within each) are runs: weight w[o][c][ky][kx], reading dy in lanes at row
         * iy + PT - ky, column ix + PL - kx (+ KW - 1, the zero columns on the left). */
        int RW = lanes_row(s), nb = (s->C + R - 1) / R;
        for (int b = 0; b < nb; b++)
            for (int t = 0; t < Tt; t++)
                for (int r = 0; r < R; r++) {
                    int c = b * R + r, ky = t / (s->OC * s->KW), kx = t / s->OC % s->KW, o = t % s->OC;
                    size_t src = (((size_t)o * s->C + c) * s->KH + ky) * s->KW + kx;
                    d->wp[((size_t)b * Tt + t) * R + r] = c < s->C ? w[src] : 0.0f;
                }
        for (int t = 0; t < Tt; t++) {
            int ky = t / (s->OC * s->KW), kx = t / s->OC % s->KW, o = t % s->OC;
            d->offd[t] = (((o * s->OH) + s->PT - ky) * RW + s->PL - kx + s->KW - 1) * VW;
        }
        /* the zero columns either side of each row (dx_lanes writes only the columns between) */
        size_t side = (size_t)(s->KW - 1) * VW * sizeof(float);
        for (int row = 0; row < s->OC * s->OH; row++) {
            float *p = d->dyl + (size_t)row * RW * VW;
            memset(p, 0, side);
            memset(p + (size_t)(s->KW - 1 + s->OW) * VW, 0, side);
        }
        return;
    }
    if (pl->way == DIRECT_DX_SCATTER) {
        /* Output q = ky * group + c * KW + kx, tap o: w[o][c][ky][kx]. */
        int nq = s->KH * pl->group, ds = (int)dr16((size_t)s->OH * s->OW);
        size_t so = (size_t)s->C * K; /* one output channel's weights */
        for (int q0 = 0; q0 < nq; q0 += R)
            for (int r = 0; r < R; r++) {
                /* the divisions once per output, not per output and tap: they were a
                 * twentieth of LeNet's second layer backward */
                int q = q0 + r, ky = q / pl->group, j = q % pl->group;
                const float *src = j < s->C * s->KW ? w + ((size_t)(j / s->KW) * s->KH + ky) * s->KW + j % s->KW : NULL;
                float *dst = d->wp + (size_t)(q0 / R) * s->OC * R + r;
                for (int o = 0; o < s->OC; o++) dst[(size_t)o * R] = src ? src[o * so] : 0.0f;
            }
        memset(d->pd, 0, ((size_t)s->OC * ds + SLACK) * sizeof(float));
        for (int o = 0; o < s->OC; o++) d->offd[o] = o * ds;
        return;
    }
    /* Output c, tap (o, ky, kx): w[o][c][KH-1-ky][KW-1-kx]; flipping both axes reverses
     * the kernel's flat index. */
    int nb = (s->C + R - 1) / R;
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < Tt; t++)
            for (int r = 0; r < R; r++) {
                int c = b * R + r;
                d->wp[((size_t)b * Tt + t) * R + r] = c < s->C ? w[((size_t)(t / K) * s->C + c) * K + K - 1 - t % K] : 0.0f;
            }
    memset(d->pd, 0, ((size_t)s->OC * s->KW * d->pd_stride + SLACK) * sizeof(float));
    tap_offsets(Tt, Tt, s->KH, s->KW, d->pd_stride, s->W, d->offd);
}

/* "Lanes": dx of nl <= VW images at once, image i in lane i, as a forward convolution over
 * dy that takes, for each block of positions of a row of dx, only the filter rows and
 * columns that reach dy from one of them (the rest of a block's reads fall on the zero
 * columns either side of dy's rows). Each output vector sums all its taps in registers and
 * is stored once, where "scatter" stores and reloads its sums at every output channel and
 * "full" multiplies the zeros of a padded dy: on LeNet's 6 -> 16 5x5 layer (14x14 ->
 * 10x10), 64 images in groups of 16 on one Zen 4 core, 0.45 ms (scatter) -> 0.35 with
 * AVX-512, 0.62 -> 0.37 with AVX2. dy comes in and dx goes out through VW x VW transposes. */
/* Positions [x0, x1) of row iy of dx in lanes, every channel: the taps of filter rows
 * [ky0, ky1], columns [kx0, kx1] in each, all output channels, one run of taps a filter
 * row (the first stores, the others add: on LeNet at least 16 taps a run). */
static void lanes_block_run(const direct_shape *s, const dws *d, const struct fwd_kind *k, int iy, int ky0, int ky1,
                            int x0, int x1, int kx0, int kx1) {
    int R = k->R, RW = lanes_row(s), Tt = s->OC * s->KH * s->KW;
    for (int ky = ky0; ky <= ky1; ky++) {
        int t0 = (ky * s->KW + kx0) * s->OC;
        fwd_args a = {d->dyl + (size_t)iy * RW * VW, d->offd + t0, (kx1 - kx0 + 1) * s->OC, s->W * VW};
        for (int c0 = 0; c0 < s->C; c0 += R) {
            float *rows[RMAX];
            for (int r = 0; r < R; r++)
                rows[r] = c0 + r < s->C ? d->dxl + ((size_t)(c0 + r) * s->H + iy) * s->W * VW : d->sink;
            fwd_fns[R][x1 - x0](&a, d->wp + ((size_t)(c0 / R) * Tt + t0) * R, rows, NULL, ky > ky0, 0, x0 * VW,
                                x1 * VW);
        }
    }
}

static void dx_lanes(const dx_plan *pl, const direct_shape *s, const dws *d, const float *dy, int nl, float *dx) {
    int RW = lanes_row(s), L = s->OH * s->OW, Lt = s->H * s->W;
    for (int o = 0; o < s->OC; o++)
        for (int oy = 0; oy < s->OH; oy++)
            for (int ox = 0; ox < s->OW; ox += VW) {
                int n = s->OW - ox < VW ? s->OW - ox : VW;
                const float *src = dy + ((size_t)o * s->OH + oy) * s->OW + ox;
                vf r[VW];
                UNROLL for (int i = 0; i < VW; i++)
                    r[i] = i < nl ? vload_part(src + (size_t)i * s->OC * L, n) : vzero();
                transpose_vw(r);
                float *dst = d->dyl + (((size_t)o * s->OH + oy) * RW + ox + s->KW - 1) * VW;
                UNROLL for (int j = 0; j < VW; j++) { /* not j < n: r would live on the stack */
                    if (j >= n) break;
                    vstore(dst + (size_t)j * VW, r[j]);
                }
            }
    for (int iy = 0, ky0, ky1; iy < s->H; iy++) {
        lanes_rows(s, iy, &ky0, &ky1);
        for (int x0 = 0, x1, kx0, kx1; x0 < s->W; x0 = x1) {
            lanes_block(s, x0, pl->k->V, &x1, &kx0, &kx1);
            lanes_block_run(s, d, pl->k, iy, ky0, ky1, x0, x1, kx0, kx1);
        }
    }
    for (int c = 0; c < s->C; c++)
        for (int iy = 0; iy < s->H; iy++)
            for (int ix = 0; ix < s->W; ix += VW) {
                int n = s->W - ix < VW ? s->W - ix : VW;
                const float *src = d->dxl + (((size_t)c * s->H + iy) * s->W + ix) * VW;
                vf r[VW];
                UNROLL for (int j = 0; j < VW; j++) r[j] = j < n ? vload(src + (size_t)j * VW) : vzero();
                transpose_vw(r);
                UNROLL for (int i = 0; i < VW; i++) {
                    if (i >= nl) break;
                    float *p = dx + (size_t)i * s->C * Lt + ((size_t)c * s->H + iy) * s->W + ix;
                    vstore_part(p, vadd(vload_part(p, n), r[i]), n);
                }
            }
}

/* dx (C x H x W) += the input gradient of one image's dy (OC x OH x OW). */
static void dx_image(const dx_plan *pl, const direct_shape *s, const dws *d, const float *dy, float *dx) {
    int K = s->KH * s->KW, L = s->OH * s->OW, Lt = s->H * s->W;
    if (pl->way == DIRECT_DX_FULL) {
        fill_planes(dy, s->OC, s->OH, s->OW, s->KW, s->KH - 1 - s->PT, s->KW - 1 - s->PL, s->H + s->KH - 1, s->W,
                    d->pd_stride, d->pd);
        fwd_args a = {d->pd, d->offd, s->OC * K, Lt};
        fwd_image(pl->k, &a, s->C, d->wp, NULL, dx, 1, 0, d->sink);
        return;
    }
    /* A copy of dy, with slack after it: the kernel's last vectors read past L. */
    size_t ds = dr16((size_t)L), ps = (size_t)d->px_stride;
    for (int o = 0; o < s->OC; o++) memcpy(d->pd + o * ds, dy + (size_t)o * L, (size_t)L * sizeof(float));
    memset(d->g, 0, (size_t)s->C * s->KW * ps * sizeof(float));
    fwd_args a = {d->pd, d->offd, s->OC, L};
    const float zero[RMAX] = {0};
    int R = pl->k->R, nq = s->KH * pl->group;
    for (int q0 = 0; q0 < nq; q0 += R) {
        float *rows[RMAX];
        for (int r = 0; r < R; r++) {
            int q = q0 + r, ky = q / pl->group, j = q % pl->group;
            rows[r] = j < s->C * s->KW ? d->g + (size_t)j * ps + (size_t)ky * s->OW : d->sink;
        }
        fwd_rows(pl->k, &a, d->wp + (size_t)(q0 / R) * s->OC * R, rows, zero, 1, 0);
    }
    for (int c = 0; c < s->C; c++)
        for (int iy = 0; iy < s->H; iy++) {
            int r = iy + s->PT;
            if (r < 0 || r >= s->OH + s->KH - 1) continue;
            float *dst = dx + ((size_t)c * s->H + iy) * s->W;
            const float *g0 = d->g + (size_t)c * s->KW * ps + (size_t)r * s->OW + s->PL;
#if defined(__AVX512F__)
            /* The KW planes' parts of the row summed in a register, in kx order as below,
             * then one store: adding each into dx in turn made every masked store's lines
             * wait for the one before (masked stores do not forward to loads). */
            for (int x = 0; x < s->W; x += VW) {
                int n = s->W - x < VW ? s->W - x : VW;
                vf acc = vload_n(dst + x, n);
                for (int kx = 0; kx < s->KW; kx++) {
                    int x0 = kx - s->PL > x ? kx - s->PL - x : 0, x1 = s->OW + kx - s->PL - x;
                    if (x1 > n) x1 = n;
                    if (x1 <= x0) continue;
                    __mmask16 m = (__mmask16)(((1u << x1) - 1) & ~((1u << x0) - 1));
                    acc = _mm512_mask_add_ps(acc, m, acc, _mm512_maskz_loadu_ps(m, g0 + (size_t)kx * ps - kx + x));
                }
                vstore_n(dst + x, acc, n);
            }
#else
            for (int kx = 0; kx < s->KW; kx++) {
                int x0 = kx - s->PL > 0 ? kx - s->PL : 0, x1 = s->OW + kx - s->PL < s->W ? s->OW + kx - s->PL : s->W;
                float *restrict d0 = dst;
                const float *restrict src = g0 + (size_t)kx * ps - kx;
                for (int ix = x0; ix < x1; ix++) d0[ix] += src[ix];
            }
#endif
        }
}

void DIRECT_FN(direct_bwd)(const direct_shape *s, const float *w, const float *x, const float *dy, int n, float *dw,
                           float *db, float *dx, float *ws) {
    dws d;
    ws_layout(s, ws, &d);
    int T = s->C * s->KH * s->KW, L = s->OH * s->OW, Lt = s->H * s->W, nb = batch_images(s);
    size_t xs = (size_t)s->C * s->H * s->W, ps = (size_t)s->C * s->KW * d.px_stride;
    const struct wgrad_kind *gk = &wgrad_kinds[wgrad_pick(s->OC, T, db != NULL)];
    int ocp = (s->OC + gk->R - 1) / gk->R * gk->R, tp = (T + gk->TB - 1) / gk->TB * gk->TB, vo = wgoc_vectors(s);
    memset(d.px, 0, (nb * ps + SLACK) * sizeof(float));
    memset(d.zrow, 0, dr16(L + SLACK) * sizeof(float));
    if (vo) ocp = s->OC, tp = T + TAP_PAD, memset(d.dwv, 0, (size_t)tp * ocp * sizeof(float));
    else memset(d.dwv, 0, (size_t)ocp * tp * VW * sizeof(float));
    memset(d.dbv, 0, (size_t)ocp * VW * sizeof(float));
    tap_offsets(T, tp, s->KH, s->KW, d.px_stride, s->OW, d.offx);
    dx_plan dp = dx_pick(s, n);
    if (dx) dx_prep(&dp, s, w, &d);
    if (dx && dp.way == DIRECT_DX_LANES) /* before the loop below: its groups are sized for the weight gradient */
        for (int b0 = 0; b0 < n; b0 += VW)
            dx_lanes(&dp, s, &d, dy + (size_t)b0 * s->OC * L, n - b0 < VW ? n - b0 : VW, dx + (size_t)b0 * s->C * Lt);
    for (int b0 = 0; b0 < n; b0 += nb) {
        int ni = n - b0 < nb ? n - b0 : nb;
        for (int i = 0; i < ni; i++)
            fill_planes(x + (b0 + i) * xs, s->C, s->H, s->W, s->KW, s->PT, s->PL, s->OH + s->KH - 1, s->OW,
                        d.px_stride, d.px + i * ps);
#if WGOC
        if (vo) {
            for (int i = 0; i < ni; i++)
                transpose_dy(dy + (size_t)(b0 + i) * s->OC * L, s->OC, L, d.dyt + (size_t)i * L * s->OC);
            wgoc_images(vo, s, &d, ni, db != NULL);
        } else
#endif
            wgrad_images(gk, s, &d, dy + (size_t)b0 * s->OC * L, ni, db != NULL);
        if (dx && dp.way != DIRECT_DX_LANES)
            for (int i = 0; i < ni; i++)
                dx_image(&dp, s, &d, dy + (size_t)(b0 + i) * s->OC * L, dx + (b0 + i) * (size_t)s->C * Lt);
    }
#if WGOC
    if (vo) wgoc_reduce(s, &d, dw, db);
    else
#endif
        wgrad_reduce(gk, s, &d, dw, db);
}
