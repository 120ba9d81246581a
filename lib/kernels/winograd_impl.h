/* winograd_impl.h - the tile transforms and the per-block driver of winograd.c, compiled
 * once per instruction set: winograd.c (baseline), winograd_avx2.c, winograd_avx512.c
 * include it with WINO_SUFFIX set, so gcc vectorises the same element-wise loops at the
 * width of each (the loops run over an image's tiles: 16 or 49 on N2's layers). */
#include <stddef.h>
#include <string.h>

#include "gemm.h"
#include "winograd.h"
#ifdef __AVX2__
#include <immintrin.h>
#endif

#define WINO_CAT2(a, b) a##_##b
#define WINO_CAT(a, b) WINO_CAT2(a, b)
#define WINO_FN(name) WINO_CAT(name, WINO_SUFFIX)
/* Short loops over the vectors of one tile: unrolled, so their arrays stay in registers
 * (at -O2 gcc kept some of them as loops over the stack, 15 % slower on the lane passes). */
#define WUNROLL _Pragma("GCC unroll 8")

void WINO_FN(wino_fwd)(int simd, const wino_shape *s, const float *Up, const float *x, const wino_x_affine *xa,
                       int n, const float *bias, float *y, float *ws);
void WINO_FN(wino_bwd)(int simd, const wino_shape *s, const float *Ut, const float *x, const wino_x_affine *xa,
                       const float *dy, int n, float *dU, float *dx, int dx_store, const wino_dy_affine *aff,
                       float *ws);

static inline size_t wino_r16(size_t v) { return (v + 15) & ~(size_t)15; }
/* Floats between the packed U_k of wino_pack_u, and the U_k^T of wino_pack_ut. */
static inline size_t upk_floats(const wino_shape *s) { return sgemm_pack_a_floats(s->OC, s->C); }
static inline size_t upk_t_floats(const wino_shape *s) { return sgemm_pack_a_floats(s->C, s->OC); }
#define r16 wino_r16

/* Scratch layout: V | M (or Z) | three planes | two stage arrays | sgemm's workspace.
 * The planes hold a channel of x padded with zeros (xp), of dy padded to whole tiles (yp)
 * and dx's sums of overlapping tiles (ap). xp and yp are zeroed once per call and only
 * their interior is rewritten per channel, so their borders stay zero. */
typedef struct wino_ws {
    float *V, *M, *xp, *yp, *ap, *D, *E, *gws;
} wino_ws;

/* The vector row passes read up to 36 floats past a row (and past the plane's end), and
 * past the last of the stage rows; those lanes are never stored. */
enum { WINO_SLACK = 48 };
/* Images per vector in the passes of winograd_lanes.h, whose planes hold LANES floats a
 * pixel; maps up to LANES_TW tiles wide (32 pixels) take them. */
enum { LANES = 8, LANES_TW = 8 };
static inline int lanes_map(const wino_shape *s) { return s->TW <= LANES_TW; }
static inline size_t plane_floats(const wino_shape *s) {
    return r16(((size_t)(4 * s->TH + 2) * (4 * s->TW + 2) + WINO_SLACK) * (lanes_map(s) ? LANES : 1));
}
/* Rows of the stage arrays hold the tiles of a block's images side by side, plus 8 floats:
 * the vector row passes store whole vectors of 8 tiles, and what lands past a tile row is
 * overwritten by the next tile row (or the next image's, written later), or falls in that
 * margin. The column passes then run once per channel over the whole block: on small maps
 * (4 tiles per image at 7x7) per-image column passes were too short to vectorise and cost
 * more than the products. */
static inline int stage_stride(const wino_shape *s) { return s->tb + 8; }
static inline size_t stage_floats(const wino_shape *s) { return r16((size_t)36 * stage_stride(s) + WINO_SLACK); }

/* Where the input transform's row pass of plane row r goes: E[r % 4] of tile row r / 4 and,
 * for r % 4 < 2, E[r % 4 + 4] of tile row r / 4 - 1 (stage rows n apart, tiles `step`
 * floats apart). Computing each plane row once makes 4 TH + 2 row passes instead of 6 TH
 * (34 instead of 48 at 32x32). Returns how many of e[0..1] it set. */
static inline int row_dests(const wino_shape *s, float *E, int n, int r, int step, float *e[2]) {
    int ne = 0;
    if (r / 4 < s->TH) e[ne++] = E + r % 4 * 6 * n + r / 4 * s->TW * step;
    if (r % 4 < 2 && r >= 4) e[ne++] = E + (r % 4 + 4) * 6 * n + (r / 4 - 1) * s->TW * step;
    return ne;
}

static wino_ws split_ws(const wino_shape *s, float *ws) {
    wino_ws w;
    w.V = ws;
    w.M = w.V + r16((size_t)36 * s->C * s->tb);
    w.xp = w.M + r16((size_t)36 * s->OC * s->tb);
    w.yp = w.xp + plane_floats(s);
    w.ap = w.yp + plane_floats(s);
    w.D = w.ap + plane_floats(s);
    w.E = w.D + stage_floats(s);
    w.gws = w.E + stage_floats(s);
    return w;
}

/* The 1-D transforms, each over n columns: input row j is in + j*is, output row k is
 * out + k*os. ivdep: rows never overlap, and without it gcc gives up on these loops
 * (checking 12 rows pairwise for overlap exceeds its limit of alias checks). Only gcc
 * knows the pragma (clang, which builds the fuzzers, warned about it). */
#if defined(__GNUC__) && !defined(__clang__)
#define WINO_IVDEP _Pragma("GCC ivdep")
#else
#define WINO_IVDEP
#endif

/* B^T d: the input transform. */
static void tf_bt(const float *restrict in, ptrdiff_t is, float *restrict out, ptrdiff_t os, int n) {
WINO_IVDEP
    for (int t = 0; t < n; t++) {
        float d0 = in[t], d1 = in[is + t], d2 = in[2 * is + t], d3 = in[3 * is + t], d4 = in[4 * is + t],
              d5 = in[5 * is + t];
        out[t] = 4.0f * d0 - 5.0f * d2 + d4;
        out[os + t] = (d3 + d4) - 4.0f * (d1 + d2);
        out[2 * os + t] = (d4 - d3) + 4.0f * (d1 - d2);
        out[3 * os + t] = (d4 - d2) + 2.0f * (d3 - d1);
        out[4 * os + t] = (d4 - d2) - 2.0f * (d3 - d1);
        out[5 * os + t] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* B v: the adjoint of the input transform (6 -> 6). */
static void tf_b(const float *restrict in, ptrdiff_t is, float *restrict out, ptrdiff_t os, int n) {
WINO_IVDEP
    for (int t = 0; t < n; t++) {
        float v0 = in[t], v1 = in[is + t], v2 = in[2 * is + t], v3 = in[3 * is + t], v4 = in[4 * is + t],
              v5 = in[5 * is + t];
        out[t] = 4.0f * v0;
        out[os + t] = 4.0f * (v2 - v1) + 2.0f * (v4 - v3) + 4.0f * v5;
        out[2 * os + t] = -5.0f * v0 - 4.0f * (v1 + v2) - (v3 + v4);
        out[3 * os + t] = (v1 - v2) + 2.0f * (v3 - v4) - 5.0f * v5;
        out[4 * os + t] = v0 + (v1 + v2) + (v3 + v4);
        out[5 * os + t] = v5;
    }
}

/* A^T m: the output transform (6 -> 4). */
static void tf_at(const float *restrict in, ptrdiff_t is, float *restrict out, ptrdiff_t os, int n) {
WINO_IVDEP
    for (int t = 0; t < n; t++) {
        float m0 = in[t], m1 = in[is + t], m2 = in[2 * is + t], m3 = in[3 * is + t], m4 = in[4 * is + t],
              m5 = in[5 * is + t];
        float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        out[t] = m0 + a + c;
        out[os + t] = b + 2.0f * d;
        out[2 * os + t] = a + 4.0f * c;
        out[3 * os + t] = b + 8.0f * d + m5;
    }
}

/* A g: the adjoint of the output transform (4 -> 6), applied to dy. */
static void tf_a(const float *restrict in, ptrdiff_t is, float *restrict out, ptrdiff_t os, int n) {
WINO_IVDEP
    for (int t = 0; t < n; t++) {
        float g0 = in[t], g1 = in[is + t], g2 = in[2 * is + t], g3 = in[3 * is + t];
        float p = g0 + g2, q = g1 + g3, p2 = g0 + 4.0f * g2, q2 = 2.0f * g1 + 8.0f * g3;
        out[t] = g0;
        out[os + t] = p + q;
        out[2 * os + t] = p - q;
        out[3 * os + t] = p2 + q2;
        out[4 * os + t] = p2 - q2;
        out[5 * os + t] = g3;
    }
}

/* What a plane fill reads: a channel of an array (aff 0: x, or dy), one of dy made on the
 * fly from a following affine layer (aff 1: wino_dy_affine, this channel's coefficients),
 * or one of x made from a preceding one (aff 2: wino_x_affine, z a + b and the relu). */
typedef struct plane_src {
    const float *p, *g, *z; /* the channel in the first image: p the array, or g and z, or z */
    float k, kx, k0, a, b;
    int aff, relu;
} plane_src;

/* The same source, off floats further on (another image or row). */
static inline plane_src src_at(plane_src v, size_t off) {
    if (v.aff == 1) v.g += off;
    if (v.aff) v.z += off;
    else v.p += off;
    return v;
}

/* Element i of the source: what the batchnorm's own pass computes (its input gradient for
 * dy, its normalised output and relu for x). */
static inline float src_value(const plane_src *v, size_t i) {
    if (!v->aff) return v->p[i];
    if (v->aff == 2) {
        float t = v->z[i] * v->a + v->b;
        return v->relu && t < 0.0f ? 0.0f : t;
    }
    float z = v->z[i], g = v->g[i];
    if (v->relu) g = z * v->a + v->b > 0.0f ? g : 0.0f;
    return v->k * g - v->kx * z + v->k0;
}

#ifdef __AVX2__
/* Lanes below m. */
static inline __m256i lanes_below(int m) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The first m lanes at p (all 8 if m >= 8), zeros past them. AVX2's vmaskmovps load is
 * replaced by AVX-512's masked load where there is one: the lane passes' backward ran 2-5 %
 * faster at 8x8 and 16x16 (one process, ABBA). */
static inline __m256 load_first(const float *p, int m) {
    if (m >= 8) return _mm256_loadu_ps(p);
#ifdef __AVX512VL__
    return _mm256_maskz_loadu_ps((__mmask8)((1u << m) - 1), p);
#else
    return _mm256_maskload_ps(p, lanes_below(m));
#endif
}

/* src_value of the first m elements from i on (all 8 if m >= 8), zeros past them. */
static inline __attribute__((always_inline)) __m256 src_first(const plane_src *v, size_t i, int m) {
    if (!v->aff) return load_first(v->p + i, m);
    if (v->aff == 2) { /* max(0, t) keeps -0 and NaN as the batchnorm's t < 0 ? 0 : t does */
        __m256 t = _mm256_add_ps(_mm256_mul_ps(load_first(v->z + i, m), _mm256_set1_ps(v->a)), _mm256_set1_ps(v->b));
        if (v->relu) t = _mm256_max_ps(_mm256_setzero_ps(), t);
        return m >= 8 ? t : _mm256_and_ps(t, _mm256_castsi256_ps(lanes_below(m))); /* b past the row */
    }
    __m256 z = load_first(v->z + i, m), g = load_first(v->g + i, m);
    if (v->relu) {
        __m256 on = _mm256_add_ps(_mm256_mul_ps(z, _mm256_set1_ps(v->a)), _mm256_set1_ps(v->b));
        g = _mm256_and_ps(g, _mm256_cmp_ps(on, _mm256_setzero_ps(), _CMP_GT_OQ));
    }
    __m256 d = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(v->k), g),
                                           _mm256_mul_ps(_mm256_set1_ps(v->kx), z)),
                             _mm256_set1_ps(v->k0));
    return m >= 8 ? d : _mm256_and_ps(d, _mm256_castsi256_ps(lanes_below(m))); /* k0 past the row */
}
#endif

/* The interior of a plane (dst, rows cols apart) = the source (h x w). Rows are short (14
 * or 28 on N2) and the compiler's 16-wide loop would leave 14 to its scalar remainder, so
 * eight at a time, the last eight loaded masked (zeros past the row) and stored whole: what
 * that writes past a row is zeros, which the padding needs, or the start of the next row,
 * written after it. (A masked store here made the row passes' loads of the same lines
 * wait: masked stores do not forward to loads.) Needs the plane's slack after the end.
 * Inlined, so that a plain array's fill has no trace of the affine case. */
static inline __attribute__((always_inline)) void fill_plane(plane_src src, int h, int w, float *dst, int cols) {
    for (int r = 0; r < h; r++) {
        float *restrict d = dst + (size_t)r * cols;
        size_t i = (size_t)r * w;
#ifdef __AVX2__
        for (int c = 0; c < w; c += 8) _mm256_storeu_ps(d + c, src_first(&src, i + c, w - c));
#else
        for (int c = 0; c < w; c++) d[c] = src_value(&src, i + c);
#endif
    }
}

/* d[c] += v[c] for c < w, with the same vectors (dx's rows: the tail is stored masked);
 * or with store set, d[c] = v[c] (the first writer of dx, which then needs no clearing). */
static void add_row(float *restrict d, const float *restrict v, int w, int store) {
    if (store) {
        memcpy(d, v, (size_t)w * sizeof *d);
        return;
    }
    int c = 0;
#ifdef __AVX2__
    for (; c + 8 <= w; c += 8) _mm256_storeu_ps(d + c, _mm256_add_ps(_mm256_loadu_ps(d + c), _mm256_loadu_ps(v + c)));
#ifdef __AVX512VL__
    if (c < w) {
        __mmask8 m = (__mmask8)((1u << (w - c)) - 1);
        _mm256_mask_storeu_ps(d + c, m, _mm256_add_ps(_mm256_maskz_loadu_ps(m, d + c), _mm256_maskz_loadu_ps(m, v + c)));
        return;
    }
#endif
#endif
    for (; c < w; c++) d[c] += v[c];
}

#ifdef __AVX2__
/* Eight tiles in the lanes of a vector, tile t in lane t. */

/* j[k][t] = p[4t + k] for k < 4: a 4 x 8 transpose (unpack, shuffle), whose lanes come out
 * in tile order 0 2 4 6 1 3 5 7 until the final permute. */
static inline void deint4(const float *p, __m256 j[4]) {
    const __m256i fix = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8), c = _mm256_loadu_ps(p + 16),
           d = _mm256_loadu_ps(p + 24);
    __m256 abl = _mm256_unpacklo_ps(a, b), abh = _mm256_unpackhi_ps(a, b), cdl = _mm256_unpacklo_ps(c, d),
           cdh = _mm256_unpackhi_ps(c, d);
    j[0] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(abl, cdl, 0x44), fix);
    j[1] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(abl, cdl, 0xEE), fix);
    j[2] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(abh, cdh, 0x44), fix);
    j[3] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(abh, cdh, 0xEE), fix);
}

/* The inverse of deint4: out[4t + k] = j[k][t], as four vectors of 8. */
static inline void interleave4(const __m256 j[4], __m256 out[4]) {
    const __m256i unfix = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m256 j0 = _mm256_permutevar8x32_ps(j[0], unfix), j1 = _mm256_permutevar8x32_ps(j[1], unfix),
           j2 = _mm256_permutevar8x32_ps(j[2], unfix), j3 = _mm256_permutevar8x32_ps(j[3], unfix);
    __m256 abl = _mm256_shuffle_ps(j0, j1, 0x44), cdl = _mm256_shuffle_ps(j0, j1, 0xEE),
           abh = _mm256_shuffle_ps(j2, j3, 0x44), cdh = _mm256_shuffle_ps(j2, j3, 0xEE);
    out[0] = _mm256_shuffle_ps(abl, abh, 0x88);
    out[1] = _mm256_shuffle_ps(abl, abh, 0xDD);
    out[2] = _mm256_shuffle_ps(cdl, cdh, 0x88);
    out[3] = _mm256_shuffle_ps(cdl, cdh, 0xDD);
}

/* Stores the first m (m >= 1; all 8 if m >= 8) lanes. AVX2's vmaskmovps store is slow on
 * AMD processors (measured: it made the row passes slower than scalar code), so without
 * AVX-512's masked stores the tail goes through a copy. */
static inline void store_first(float *p, __m256 v, int m) {
#ifdef __AVX512VL__
    _mm256_mask_storeu_ps(p, (__mmask8)(m >= 8 ? 0xFF : (1u << m) - 1), v);
#else
    if (m >= 8) {
        _mm256_storeu_ps(p, v);
    } else {
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(p, t, (size_t)m * sizeof *p);
    }
#endif
}
#define V8(x) _mm256_set1_ps(x)

/* The 1-D transforms on eight lanes at once, for the row passes (the same expressions as
 * tf_bt, tf_at, tf_a and tf_b below, so every path rounds alike). */
static inline void bt6(const __m256 d[6], __m256 o[6]) {
    o[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(V8(4.0f), d[0]), _mm256_mul_ps(V8(5.0f), d[2])), d[4]);
    o[1] = _mm256_sub_ps(_mm256_add_ps(d[3], d[4]), _mm256_mul_ps(V8(4.0f), _mm256_add_ps(d[1], d[2])));
    o[2] = _mm256_add_ps(_mm256_sub_ps(d[4], d[3]), _mm256_mul_ps(V8(4.0f), _mm256_sub_ps(d[1], d[2])));
    o[3] = _mm256_add_ps(_mm256_sub_ps(d[4], d[2]), _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(d[3], d[1])));
    o[4] = _mm256_sub_ps(_mm256_sub_ps(d[4], d[2]), _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(d[3], d[1])));
    o[5] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(V8(4.0f), d[1]), _mm256_mul_ps(V8(5.0f), d[3])), d[5]);
}
/* A^T m, plus the bias. */
static inline void at4(const __m256 m[6], __m256 vb, __m256 o[4]) {
    __m256 a = _mm256_add_ps(m[1], m[2]), b = _mm256_sub_ps(m[1], m[2]), c = _mm256_add_ps(m[3], m[4]),
           d = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m[0], a), c), vb);
    o[1] = _mm256_add_ps(_mm256_add_ps(b, _mm256_mul_ps(V8(2.0f), d)), vb);
    o[2] = _mm256_add_ps(_mm256_add_ps(a, _mm256_mul_ps(V8(4.0f), c)), vb);
    o[3] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(b, _mm256_mul_ps(V8(8.0f), d)), m[5]), vb);
}
/* A g (4 -> 6). */
static inline void a6(const __m256 g[4], __m256 o[6]) {
    __m256 p = _mm256_add_ps(g[0], g[2]), q = _mm256_add_ps(g[1], g[3]),
           p2 = _mm256_add_ps(g[0], _mm256_mul_ps(V8(4.0f), g[2])),
           q2 = _mm256_add_ps(_mm256_mul_ps(V8(2.0f), g[1]), _mm256_mul_ps(V8(8.0f), g[3]));
    o[0] = g[0], o[1] = _mm256_add_ps(p, q), o[2] = _mm256_sub_ps(p, q), o[3] = _mm256_add_ps(p2, q2);
    o[4] = _mm256_sub_ps(p2, q2), o[5] = g[3];
}
/* B v. */
static inline void b6(const __m256 v[6], __m256 o[6]) {
    __m256 s12 = _mm256_add_ps(v[1], v[2]), s34 = _mm256_add_ps(v[3], v[4]);
    o[0] = _mm256_mul_ps(V8(4.0f), v[0]);
    o[1] = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(V8(4.0f), _mm256_sub_ps(v[2], v[1])),
                                       _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(v[4], v[3]))),
                         _mm256_mul_ps(V8(4.0f), v[5]));
    o[2] = _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(V8(-5.0f), v[0]), _mm256_mul_ps(V8(4.0f), s12)), s34);
    o[3] = _mm256_sub_ps(_mm256_add_ps(_mm256_sub_ps(v[1], v[2]), _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(v[3], v[4]))),
                         _mm256_mul_ps(V8(5.0f), v[5]));
    o[4] = _mm256_add_ps(_mm256_add_ps(v[0], s12), s34), o[5] = v[5];
}
/* e[k * n] = o[k]. A loop over row_dests' destinations with this loop inside was not
 * unrolled (its count is not constant), so o went through the stack and back: the row
 * pass was 2-3 % slower. Every plane row has a first destination (row_dests). */
static inline __attribute__((always_inline)) void store6(float *e, int n, const __m256 o[6]) {
    WUNROLL for (int k = 0; k < 6; k++) _mm256_storeu_ps(e + (size_t)k * n, o[k]);
}
#include "transpose.h"
#include "winograd_lanes.h"
#else
static inline int use_lanes(const wino_shape *s, int nb) { return (void)s, (void)nb, 0; }
#endif

/* Columns of a block of nb images: all LANES images' with lanes (the missing ones zero). */
static inline int block_cols(const wino_shape *s, int nb) { return (use_lanes(s, nb) ? LANES : nb) * s->tpi; }

/* The first pass of each transform runs along the rows of the image, reading or writing
 * the plane directly (tiles are 4 pixels apart): with AVX2, eight tiles at a time through
 * a 4 x 8 transpose; otherwise one tile at a time. That replaces a gather of every tile's
 * 36 values into tile-innermost rows plus a pass over them, which cost twice as much. The
 * second pass, down the columns, is element-wise over all the block's tiles. */

/* The row pass of one channel of one image: E[i][k2] (rows n apart) from the image's
 * first tile at E on. */
static void in_rows(const wino_shape *s, plane_src xc, const wino_ws *w, float *E, int n) {
    int cols = 4 * s->TW + 2;
    fill_plane(xc, s->H, s->W, w->xp + (size_t)s->PH * cols + s->PW, cols);
    /* Each plane row once (row_dests), in plane order: what a store lands past a tile row
     * is still overwritten later. */
    for (int r = 0; r < 4 * s->TH + 2; r++) {
        float *e[2];
        int ne = row_dests(s, E, n, r, 1, e);
        const float *p = w->xp + (size_t)r * cols;
#ifdef __AVX2__
        for (int tx = 0; tx < s->TW; tx += 8) {
            __m256 d[6], d45[4], o[6];
            deint4(p + 4 * tx, d);
            deint4(p + 4 * tx + 4, d45);
            d[4] = d45[0], d[5] = d45[1];
            bt6(d, o);
            store6(e[0] + tx, n, o);
            if (ne > 1) store6(e[1] + tx, n, o);
        }
#else
        WUNROLL for (int j = 0; j < ne; j++)
            for (int tx = 0; tx < s->TW; tx++) tf_bt(p + 4 * tx, 1, e[j] + tx, n, 1);
#endif
    }
}

/* One channel of nb images into V (xc: the channel in the first image, images xstep
 * apart; Vc: the first image's first tile in V_0; ks: floats between V_k). Images in
 * order: what a row pass stores past an image's tiles is overwritten by the next one. */
static void in_tf(const wino_shape *s, plane_src xc, size_t xstep, int nb, const wino_ws *w, float *Vc,
                  ptrdiff_t ks) {
    int n = stage_stride(s);
#ifdef __AVX2__
    if (use_lanes(s, nb)) in_rows_lanes(s, xc, xstep, nb, w, w->E, n);
    else
#endif
        for (int bi = 0; bi < nb; bi++) in_rows(s, src_at(xc, bi * xstep), w, w->E + bi * s->tpi, n);
    for (int k2 = 0; k2 < 6; k2++) tf_bt(w->E + k2 * n, 6 * n, Vc + k2 * ks, 6 * ks, block_cols(s, nb));
}

/* The row pass of one output channel of one image, from D[i][k2] (rows n apart, the
 * image's first tile at D), plus bias. */
static void out_rows(const wino_shape *s, const float *D, int n, float bias, float *yc) {
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 4 && 4 * ty + i < s->OH; i++) {
            float *yr = yc + (size_t)(4 * ty + i) * s->OW;
            const float *m = D + i * 6 * n + ty * s->TW;
#ifdef __AVX2__
            for (int tx = 0; tx < s->TW; tx += 8) {
                __m256 mv[6], o[4], y4[4];
                WUNROLL for (int k = 0; k < 6; k++) mv[k] = _mm256_loadu_ps(m + k * n + tx);
                at4(mv, V8(bias), o);
                interleave4(o, y4);
                int left = s->OW - 4 * tx; /* pixels of this row from here on */
                for (int q = 0; q < 4 && left > 0; q++, left -= 8) store_first(yr + 4 * tx + 8 * q, y4[q], left);
            }
#else
            for (int tx = 0; tx < s->TW; tx++) {
                float o[4];
                tf_at(m + tx, n, o, 1, 1);
                int w = s->OW - 4 * tx < 4 ? s->OW - 4 * tx : 4; /* the last tile may overhang */
                for (int j = 0; j < w; j++) yr[4 * tx + j] = o[j] + bias;
            }
#endif
        }
}

/* One output channel of nb images from M (Mo, ks as for in_tf), plus bias (yc: the
 * channel in the first image, images ystep apart). */
static void out_tf(const wino_shape *s, const float *Mo, ptrdiff_t ks, const wino_ws *w, float bias, float *yc,
                   size_t ystep, int nb) {
    int n = block_cols(s, nb);
    for (int k2 = 0; k2 < 6; k2++) tf_at(Mo + k2 * ks, 6 * ks, w->D + k2 * n, 6 * n, n); /* D[i][k2] */
#ifdef __AVX2__
    if (use_lanes(s, nb)) {
        out_rows_lanes(s, w->D, n, bias, w, yc, ystep, nb);
        return;
    }
#endif
    for (int bi = 0; bi < nb; bi++) out_rows(s, w->D + bi * s->tpi, n, bias, yc + bi * ystep);
}

/* The row pass of one output channel of dy, one image, as in_rows. */
static void dy_rows(const wino_shape *s, plane_src dyc, const wino_ws *w, float *E, int n) {
    int cols = 4 * s->TW;
    fill_plane(dyc, s->OH, s->OW, w->yp, cols);
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 4; i++) { /* E[i][k2] = A applied along tile row i */
            const float *p = w->yp + (size_t)(4 * ty + i) * cols;
            float *e = E + i * 6 * n + ty * s->TW;
#ifdef __AVX2__
            for (int tx = 0; tx < s->TW; tx += 8) {
                __m256 g[4], o[6];
                deint4(p + 4 * tx, g);
                a6(g, o);
                WUNROLL for (int k = 0; k < 6; k++) _mm256_storeu_ps(e + k * n + tx, o[k]);
            }
#else
            for (int tx = 0; tx < s->TW; tx++, p += 4) tf_a(p, 1, e + tx, n, 1);
#endif
        }
}

/* One output channel of dy (nb images, ystep apart) into Z (A dY A^T per tile; outputs
 * past OH/OW count as 0). */
static void dy_tf(const wino_shape *s, plane_src dyc, size_t ystep, int nb, const wino_ws *w, float *Zo,
                  ptrdiff_t ks) {
    int n = stage_stride(s);
#ifdef __AVX2__
    if (use_lanes(s, nb)) dy_rows_lanes(s, dyc, ystep, nb, w, w->E, n);
    else
#endif
        for (int bi = 0; bi < nb; bi++) dy_rows(s, src_at(dyc, bi * ystep), w, w->E + bi * s->tpi, n);
    for (int k2 = 0; k2 < 6; k2++) tf_a(w->E + k2 * n, 6 * n, Zo + k2 * ks, 6 * ks, block_cols(s, nb)); /* Z[k1][k2] */
}

/* dx (one channel of one image) += (store: =) the row pass of the adjoint input
 * transform, from D[i][k2] (rows n apart, the image's first tile at D). */
static void adj_rows(const wino_shape *s, const float *D, int n, const wino_ws *w, float *dxc, int store) {
    int cols = 4 * s->TW + 2;
    /* Neighbouring tiles overlap by 2: add them up in a padded plane, in tile order. The
     * vector pass adds a row to zeros instead of to the plane where no tile row before
     * wrote it (all but the first two rows of a tile row): it then writes every column of
     * the row (past its end, zeros), and what it writes into the next row is overwritten
     * the same way, so the plane needs no clearing (which cost 5 % at 28x28). */
#ifndef __AVX2__
    memset(w->ap, 0, (size_t)(4 * s->TH + 2) * cols * sizeof *w->ap);
#endif
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 6; i++) {
            float *p = w->ap + (size_t)(4 * ty + i) * cols;
            const float *v = D + i * 6 * n + ty * s->TW;
#ifdef __AVX2__
            int fresh = ty == 0 || i >= 2;
            __m256 carry = _mm256_setzero_ps();
            for (int tx = 0; tx < s->TW; tx += 8) {
                /* Lanes past the row's last tile hold stray values: zero them, as their
                 * sums land in the plane. */
                __m256 keep = _mm256_castsi256_ps(lanes_below(s->TW - tx));
                __m256 vv[6], o[6];
                WUNROLL for (int k = 0; k < 6; k++) vv[k] = _mm256_and_ps(_mm256_loadu_ps(v + k * n + tx), keep);
                b6(vv, o);
                __m256 lo[4] = {o[0], o[1], o[2], o[3]}, hi[4] = {o[4], o[5], _mm256_setzero_ps(), _mm256_setzero_ps()};
                __m256 a[4], b[4];
                interleave4(lo, a); /* pixels 0-3 of each tile */
                interleave4(hi, b); /* pixels 4-5, the next tile's 0-1 */
                /* b belongs 4 pixels further on: shift it in registers (the upper half of the
                 * vector before comes in) rather than add it to the plane at an offset of
                 * 4, whose loads would straddle the stores just made and stall. */
                float *q = p + 4 * tx;
                WUNROLL for (int k = 0; k < 4; k++) {
                    __m256 sh = _mm256_permute2f128_ps(carry, b[k], 0x21),
                           old = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(q + 8 * k);
                    _mm256_storeu_ps(q + 8 * k, _mm256_add_ps(old, _mm256_add_ps(a[k], sh)));
                    carry = b[k];
                }
            }
            float *q = p + 4 * ((s->TW + 7) / 8 * 8); /* past the last group: its carry */
            _mm_storeu_ps(q, _mm_add_ps(fresh ? _mm_setzero_ps() : _mm_loadu_ps(q), _mm256_extractf128_ps(carry, 1)));
#else
            for (int tx = 0; tx < s->TW; tx++, p += 4) {
                float v0 = v[tx], v1 = v[n + tx], v2 = v[2 * n + tx], v3 = v[3 * n + tx], v4 = v[4 * n + tx],
                      v5 = v[5 * n + tx];
                p[0] += 4.0f * v0;
                p[1] += 4.0f * (v2 - v1) + 2.0f * (v4 - v3) + 4.0f * v5;
                p[2] += -5.0f * v0 - 4.0f * (v1 + v2) - (v3 + v4);
                p[3] += (v1 - v2) + 2.0f * (v3 - v4) - 5.0f * v5;
                p[4] += v0 + (v1 + v2) + (v3 + v4);
                p[5] += v5;
            }
#endif
        }
    for (int r = 0; r < s->H; r++)
        add_row(dxc + (size_t)r * s->W, w->ap + (size_t)(r + s->PH) * cols + s->PW, s->W, store);
}

/* dx (one channel of nb images, xstep apart) += (store: =) the adjoint input transform
 * of dV (in V's layout). */
static void adj_in_tf(const wino_shape *s, const float *dVc, ptrdiff_t ks, const wino_ws *w, float *dxc,
                      size_t xstep, int nb, int store) {
    int n = block_cols(s, nb);
    for (int k2 = 0; k2 < 6; k2++) tf_b(dVc + k2 * ks, 6 * ks, w->D + k2 * n, 6 * n, n); /* D[i][k2] */
#ifdef __AVX2__
    if (use_lanes(s, nb)) {
        adj_rows_lanes(s, w->D, n, w, dxc, xstep, nb, store);
        return;
    }
#endif
    for (int bi = 0; bi < nb; bi++) adj_rows(s, w->D + bi * s->tpi, n, w, dxc + bi * xstep, store);
}

/* Input channel c of x in image b0: the array, or xa's terms. */
static plane_src x_channel(const wino_shape *s, const float *x, const wino_x_affine *xa, int b0, int c) {
    size_t off = ((size_t)b0 * s->C + c) * s->H * s->W;
    if (!xa) return (plane_src){.p = x + off};
    return (plane_src){.z = xa->z + off, .a = xa->a[c], .b = xa->b[c], .aff = 2, .relu = xa->relu};
}

void WINO_FN(wino_fwd)(int simd, const wino_shape *s, const float *Up, const float *x, const wino_x_affine *xa,
                       int n, const float *bias, float *y, float *ws) {
    wino_ws w = split_ws(s, ws);
    size_t xs = (size_t)s->H * s->W, ys = (size_t)s->OH * s->OW;
    ptrdiff_t vks = (ptrdiff_t)s->C * s->tb, mks = (ptrdiff_t)s->OC * s->tb;
    for (int b0 = 0, lanes = -1; b0 < n; b0 += s->ipb) {
        int nb = n - b0 < s->ipb ? n - b0 : s->ipb, nt = block_cols(s, nb);
        if (use_lanes(s, nb) != lanes) { /* the two kinds of plane have their borders in different places */
            lanes = use_lanes(s, nb);
            memset(w.xp, 0, plane_floats(s) * sizeof *w.xp);
        }
        for (int c = 0; c < s->C; c++)
            in_tf(s, x_channel(s, x, xa, b0, c), s->C * xs, nb, &w, w.V + (size_t)c * s->tb, vks);
        for (int k = 0; k < 36; k++)
            sgemm_packed(simd, s->OC, nt, s->C, 1.0f, Up + k * upk_floats(s), w.V + k * vks, s->tb, 0.0f,
                         w.M + k * mks, s->tb, w.gws);
        for (int oc = 0; oc < s->OC; oc++)
            out_tf(s, w.M + (size_t)oc * s->tb, mks, &w, bias ? bias[oc] : 0.0f, y + ((size_t)b0 * s->OC + oc) * ys,
                   s->OC * ys, nb);
    }
}

/* Output channel oc of dy in image b0: the array, or aff's terms. */
static plane_src dy_channel(const wino_shape *s, const float *dy, const wino_dy_affine *aff, int b0, int oc) {
    size_t off = ((size_t)b0 * s->OC + oc) * s->OH * s->OW;
    if (!aff) return (plane_src){.p = dy + off};
    return (plane_src){.g = aff->g + off, .z = aff->z + off, .k = aff->k[oc], .kx = aff->kx[oc], .k0 = aff->k0[oc],
                       .a = aff->a[oc], .b = aff->b[oc], .aff = 1, .relu = aff->relu};
}

void WINO_FN(wino_bwd)(int simd, const wino_shape *s, const float *Ut, const float *x, const wino_x_affine *xa,
                       const float *dy, int n, float *dU, float *dx, int dx_store, const wino_dy_affine *aff,
                       float *ws) {
    wino_ws w = split_ws(s, ws);
    size_t xs = (size_t)s->H * s->W, ys = (size_t)s->OH * s->OW;
    ptrdiff_t vks = (ptrdiff_t)s->C * s->tb, zks = (ptrdiff_t)s->OC * s->tb;
    for (int b0 = 0, lanes = -1; b0 < n; b0 += s->ipb) {
        int nb = n - b0 < s->ipb ? n - b0 : s->ipb, nt = block_cols(s, nb);
        if (use_lanes(s, nb) != lanes) { /* as in wino_fwd */
            lanes = use_lanes(s, nb);
            memset(w.xp, 0, 2 * plane_floats(s) * sizeof *w.xp); /* xp and yp */
        }
        for (int c = 0; c < s->C; c++)
            in_tf(s, x_channel(s, x, xa, b0, c), s->C * xs, nb, &w, w.V + (size_t)c * s->tb, vks);
        for (int oc = 0; oc < s->OC; oc++)
            dy_tf(s, dy_channel(s, dy, aff, b0, oc), s->OC * ys, nb, &w, w.M + (size_t)oc * s->tb, zks);
        for (int k = 0; k < 36; k++) {
            float *Vk = w.V + k * vks, *Zk = w.M + k * zks;
            sgemm(simd, 0, 1, s->OC, s->C, nt, 1.0f, Zk, s->tb, Vk, s->tb, b0 ? 1.0f : 0.0f,
                  dU + (size_t)k * s->OC * s->C, s->C, w.gws);
            /* V_k is spent: dV_k takes its place. */
            if (dx)
                sgemm_packed(simd, s->C, nt, s->OC, 1.0f, Ut + k * upk_t_floats(s), Zk, s->tb, 0.0f, Vk, s->tb, w.gws);
        }
        if (dx)
            for (int c = 0; c < s->C; c++)
                adj_in_tf(s, w.V + (size_t)c * s->tb, vks, &w, dx + ((size_t)b0 * s->C + c) * xs, s->C * xs, nb,
                          dx_store);
    }
}
#undef r16
