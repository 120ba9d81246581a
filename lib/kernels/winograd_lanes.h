/* winograd_lanes.h - the row passes of winograd_impl.h for narrow maps, with the eight
 * images of a block in the lanes of a vector; included by it under AVX2.
 *
 * The row passes of winograd_impl.h put eight tiles of one tile row in the lanes: a map
 * 16 pixels wide has 4 tiles a row and fills half of them, an 8-pixel one (N3's third
 * stage) a quarter, and each row also pays a 4 x 8 transpose. Here a block of LANES images
 * is first transposed, 8 x 8 at a time, into a plane whose every pixel is a vector of the
 * eight images' values (P[row][col][lane]); the row passes then run on whole vectors with
 * no shuffles, and a block's column j = tile * LANES + lane. The column passes and the
 * products do not care about the order of columns; the output passes transpose back. A
 * block of fewer images leaves the missing lanes zero: their columns cost products but
 * change no sum. Each value goes through the same expressions as in the row passes of
 * winograd_impl.h. */

/* Narrow maps whose blocks hold LANES images (wino_shape_init gives them eight, unless
 * the channel count makes the block too large). */
static inline int use_lanes(const wino_shape *s) { return s->TW <= 4 && s->ipb == LANES; }

/* r[i] = row i of an 8 x 8 block -> r[j] = column j. */
static inline void tr8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44), u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44), u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++)
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20), r[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
}

/* P[row top + r][col left + c] = image `lane`'s (at src + lane * step) pixel (r, c), for
 * r < h, c < w; lanes nb and up zero. Whole groups of 8 columns are written: what lands past
 * a row is zeros, which the padding needs, or the start of the next row, written after it
 * (the plane has 8 pixels of slack after its last row). */
static void lane_fill(const float *src, size_t step, int nb, int h, int w, float *P, int cols, int top, int left) {
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c += 8) {
            __m256i m = lanes_below(w - c);
            __m256 v[8];
            for (int b = 0; b < 8; b++)
                v[b] = b < nb ? _mm256_maskload_ps(src + b * step + (size_t)r * w + c, m) : _mm256_setzero_ps();
            tr8(v);
            float *d = P + ((size_t)(r + top) * cols + left + c) * LANES;
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(d + j * LANES, v[j]);
        }
}

/* Image `lane` (at dst + lane * step, lanes < nb) pixel (r, c) = (add: +=) P[row top + r][col
 * left + c], for r < h, c < w. Reads up to 7 pixels past a row (slack at the plane's end). */
static void lane_spill(const float *P, int cols, int top, int left, int h, int w, float *dst, size_t step, int nb,
                       int add) {
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c += 8) {
            const float *p = P + ((size_t)(r + top) * cols + left + c) * LANES;
            __m256 v[8];
            for (int j = 0; j < 8; j++) v[j] = _mm256_loadu_ps(p + j * LANES);
            tr8(v);
            for (int b = 0; b < nb; b++) {
                float *d = dst + b * step + (size_t)r * w + c;
                if (add) v[b] = _mm256_add_ps(_mm256_maskload_ps(d, lanes_below(w - c)), v[b]);
                store_first(d, v[b], w - c);
            }
        }
}

/* The row pass of one channel of a block: E[i][k2] (rows n apart), as in_rows. */
static void in_rows_lanes(const wino_shape *s, const float *xc, size_t xstep, int nb, const wino_ws *w, float *E,
                          int n) {
    int cols = 4 * s->TW + 2;
    lane_fill(xc, xstep, nb, s->H, s->W, w->xp, cols, s->PH, s->PW);
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 6; i++) {
            const float *p = w->xp + (size_t)(4 * ty + i) * cols * LANES;
            float *e = E + i * 6 * n + ty * s->TW * LANES;
            for (int tx = 0; tx < s->TW; tx++) {
                const float *q = p + 4 * tx * LANES;
                __m256 d0 = _mm256_loadu_ps(q), d1 = _mm256_loadu_ps(q + 8), d2 = _mm256_loadu_ps(q + 16),
                       d3 = _mm256_loadu_ps(q + 24), d4 = _mm256_loadu_ps(q + 32), d5 = _mm256_loadu_ps(q + 40);
                __m256 o[6] = {
                    _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(V8(4.0f), d0), _mm256_mul_ps(V8(5.0f), d2)), d4),
                    _mm256_sub_ps(_mm256_add_ps(d3, d4), _mm256_mul_ps(V8(4.0f), _mm256_add_ps(d1, d2))),
                    _mm256_add_ps(_mm256_sub_ps(d4, d3), _mm256_mul_ps(V8(4.0f), _mm256_sub_ps(d1, d2))),
                    _mm256_add_ps(_mm256_sub_ps(d4, d2), _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(d3, d1))),
                    _mm256_sub_ps(_mm256_sub_ps(d4, d2), _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(d3, d1))),
                    _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(V8(4.0f), d1), _mm256_mul_ps(V8(5.0f), d3)), d5)};
                for (int k = 0; k < 6; k++) _mm256_storeu_ps(e + k * n + tx * LANES, o[k]);
            }
        }
}

/* The row pass of one output channel of a block, from D[i][k2] (rows n apart), plus bias,
 * through the plane ap into y (yc: the channel in the first image, images ystep apart). */
static void out_rows_lanes(const wino_shape *s, const float *D, int n, float bias, const wino_ws *w, float *yc,
                           size_t ystep, int nb) {
    int cols = 4 * s->TW;
    __m256 vb = V8(bias);
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 4; i++) {
            const float *m = D + i * 6 * n + ty * s->TW * LANES;
            float *p = w->ap + (size_t)(4 * ty + i) * cols * LANES;
            for (int tx = 0; tx < s->TW; tx++) {
                const float *q = m + tx * LANES;
                __m256 m0 = _mm256_loadu_ps(q), m1 = _mm256_loadu_ps(q + n), m2 = _mm256_loadu_ps(q + 2 * n),
                       m3 = _mm256_loadu_ps(q + 3 * n), m4 = _mm256_loadu_ps(q + 4 * n), m5 = _mm256_loadu_ps(q + 5 * n);
                __m256 a = _mm256_add_ps(m1, m2), b = _mm256_sub_ps(m1, m2), c = _mm256_add_ps(m3, m4),
                       d = _mm256_sub_ps(m3, m4);
                float *o = p + 4 * tx * LANES;
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m0, a), c), vb));
                _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_add_ps(b, _mm256_mul_ps(V8(2.0f), d)), vb));
                _mm256_storeu_ps(o + 16, _mm256_add_ps(_mm256_add_ps(a, _mm256_mul_ps(V8(4.0f), c)), vb));
                _mm256_storeu_ps(o + 24,
                                 _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(b, _mm256_mul_ps(V8(8.0f), d)), m5), vb));
            }
        }
    lane_spill(w->ap, cols, 0, 0, s->OH, s->OW, yc, ystep, nb, 0);
}

/* The row pass of one output channel of dy for a block, as dy_rows. */
static void dy_rows_lanes(const wino_shape *s, const float *dyc, size_t ystep, int nb, const wino_ws *w, float *E,
                          int n) {
    int cols = 4 * s->TW;
    lane_fill(dyc, ystep, nb, s->OH, s->OW, w->yp, cols, 0, 0);
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 4; i++) {
            const float *p = w->yp + (size_t)(4 * ty + i) * cols * LANES;
            float *e = E + i * 6 * n + ty * s->TW * LANES;
            for (int tx = 0; tx < s->TW; tx++) {
                const float *q = p + 4 * tx * LANES;
                __m256 g0 = _mm256_loadu_ps(q), g1 = _mm256_loadu_ps(q + 8), g2 = _mm256_loadu_ps(q + 16),
                       g3 = _mm256_loadu_ps(q + 24);
                __m256 pp = _mm256_add_ps(g0, g2), qq = _mm256_add_ps(g1, g3),
                       p2 = _mm256_add_ps(g0, _mm256_mul_ps(V8(4.0f), g2)),
                       q2 = _mm256_add_ps(_mm256_mul_ps(V8(2.0f), g1), _mm256_mul_ps(V8(8.0f), g3));
                __m256 o[6] = {g0, _mm256_add_ps(pp, qq), _mm256_sub_ps(pp, qq), _mm256_add_ps(p2, q2),
                               _mm256_sub_ps(p2, q2), g3};
                for (int k = 0; k < 6; k++) _mm256_storeu_ps(e + k * n + tx * LANES, o[k]);
            }
        }
}

/* dx (one channel of a block's images) += (store: =) the row pass of the adjoint input
 * transform from D[i][k2] (rows n apart): overlapping tiles summed in the plane ap in tile
 * order, then transposed back. */
static void adj_rows_lanes(const wino_shape *s, const float *D, int n, const wino_ws *w, float *dxc, size_t xstep,
                           int nb, int store) {
    int cols = 4 * s->TW + 2;
    memset(w->ap, 0, (size_t)(4 * s->TH + 2) * cols * LANES * sizeof *w->ap);
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 6; i++) {
            const float *v = D + i * 6 * n + ty * s->TW * LANES;
            float *p = w->ap + (size_t)(4 * ty + i) * cols * LANES;
            for (int tx = 0; tx < s->TW; tx++) {
                const float *q = v + tx * LANES;
                __m256 v0 = _mm256_loadu_ps(q), v1 = _mm256_loadu_ps(q + n), v2 = _mm256_loadu_ps(q + 2 * n),
                       v3 = _mm256_loadu_ps(q + 3 * n), v4 = _mm256_loadu_ps(q + 4 * n), v5 = _mm256_loadu_ps(q + 5 * n);
                __m256 s12 = _mm256_add_ps(v1, v2), s34 = _mm256_add_ps(v3, v4);
                __m256 o[6] = {
                    _mm256_mul_ps(V8(4.0f), v0),
                    _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(V8(4.0f), _mm256_sub_ps(v2, v1)),
                                                _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(v4, v3))),
                                  _mm256_mul_ps(V8(4.0f), v5)),
                    _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(V8(-5.0f), v0), _mm256_mul_ps(V8(4.0f), s12)), s34),
                    _mm256_sub_ps(_mm256_add_ps(_mm256_sub_ps(v1, v2), _mm256_mul_ps(V8(2.0f), _mm256_sub_ps(v3, v4))),
                                  _mm256_mul_ps(V8(5.0f), v5)),
                    _mm256_add_ps(_mm256_add_ps(v0, s12), s34), v5};
                float *a = p + 4 * tx * LANES;
                for (int k = 0; k < 6; k++) _mm256_storeu_ps(a + k * 8, _mm256_add_ps(_mm256_loadu_ps(a + k * 8), o[k]));
            }
        }
    lane_spill(w->ap, cols, s->PH, s->PW, s->H, s->W, dxc, xstep, nb, !store);
}
