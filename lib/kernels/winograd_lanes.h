/* winograd_lanes.h - the row passes of winograd_impl.h for maps up to 32 pixels wide,
 * with the eight images of a block in the lanes of a vector; included by it under AVX2.
 *
 * The row passes of winograd_impl.h put eight tiles of one tile row in the lanes: a map
 * 16 pixels wide has 4 tiles a row and fills half of them, an 8-pixel one (N3's third
 * stage) a quarter, and each row also pays a 4 x 8 transpose. Even where a tile row fills
 * the vector (28 and 32 pixels: N2's second layer, N3's first stage) the lanes measured
 * faster, one process, per 64 images on one core: 32x32x16 forward 0.79-0.83, backward
 * 0.79-0.81 of the tile-row passes, 28x28x32 0.81 / 0.82 (on AVX2 0.87 / 0.85 and 0.82 /
 * 0.86); 32x32x32, whose block is over the scratch cap and stays on tile rows, 0.81 / 0.86.
 * At 64x64 (16 tiles a row) they were 1.3x slower. Here a block of LANES images
 * is first transposed, 8 x 8 at a time, into a plane whose every pixel is a vector of the
 * eight images' values (P[row][col][lane]); the row passes then run on whole vectors with
 * no shuffles, and a block's column j = tile * LANES + lane. The column passes and the
 * products do not care about the order of columns; the output passes transpose back. A
 * block of fewer images leaves the missing lanes zero: their columns cost products but
 * change no sum. The 1-D transforms are the row passes' own (bt6, at4, a6, b6). */

/* Maps whose blocks hold LANES images (wino_shape_init gives them eight, unless the
 * channel count makes the block too large), for a block of nb of them: a block of four or
 * fewer (a batch of 1 at inference) would spend most of its products on empty lanes, and
 * takes the tile-row passes. */
static inline int use_lanes(const wino_shape *s, int nb) { return lanes_map(s) && s->ipb == LANES && 2 * nb > LANES; }

/* P[row top + r][col left + c] = image `lane`'s (at src + lane * step) pixel (r, c), for
 * r < h, c < w; lanes nb and up zero. Whole groups of 8 columns are written: what lands past
 * a row is zeros, which the padding needs, or the start of the next row, written after it
 * (the plane has 8 pixels of slack after its last row). */
static inline __attribute__((always_inline)) void lane_fill(plane_src src, size_t step, int nb, int h, int w,
                                                             float *P, int cols, int top, int left) {
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c += 8) {
            __m256 v[8];
            WUNROLL for (int b = 0; b < 8; b++)
                v[b] = b < nb ? src_first(&src, b * step + (size_t)r * w + c, w - c) : _mm256_setzero_ps();
            transpose8(v);
            float *d = P + ((size_t)(r + top) * cols + left + c) * LANES;
            WUNROLL for (int j = 0; j < 8; j++) _mm256_storeu_ps(d + j * LANES, v[j]);
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
            WUNROLL for (int j = 0; j < 8; j++) v[j] = _mm256_loadu_ps(p + j * LANES);
            transpose8(v);
            WUNROLL for (int b = 0; b < 8; b++) { /* not b < nb: v would live on the stack */
                if (b >= nb) break;
                float *d = dst + b * step + (size_t)r * w + c;
                if (add) v[b] = _mm256_add_ps(load_first(d, w - c), v[b]);
                store_first(d, v[b], w - c);
            }
        }
}

/* The row pass of one channel of a block: E[i][k2] (rows n apart), as in_rows. */
static void in_rows_lanes(const wino_shape *s, plane_src xc, size_t xstep, int nb, const wino_ws *w, float *E,
                          int n) {
    int cols = 4 * s->TW + 2;
    lane_fill(xc, xstep, nb, s->H, s->W, w->xp, cols, s->PH, s->PW);
    for (int r = 0; r < 4 * s->TH + 2; r++) {
        float *e[2];
        int ne = row_dests(s, E, n, r, LANES, e);
        const float *p = w->xp + (size_t)r * cols * LANES;
        for (int tx = 0; tx < s->TW; tx++) {
            const float *q = p + 4 * tx * LANES;
            __m256 d[6], o[6];
            WUNROLL for (int k = 0; k < 6; k++) d[k] = _mm256_loadu_ps(q + k * LANES);
            bt6(d, o);
            store6(e[0] + tx * LANES, n, o);
            if (ne > 1) store6(e[1] + tx * LANES, n, o);
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
                __m256 mv[6], o[4];
                WUNROLL for (int k = 0; k < 6; k++) mv[k] = _mm256_loadu_ps(m + tx * LANES + k * n);
                at4(mv, vb, o);
                WUNROLL for (int j = 0; j < 4; j++) _mm256_storeu_ps(p + (4 * tx + j) * LANES, o[j]);
            }
        }
    lane_spill(w->ap, cols, 0, 0, s->OH, s->OW, yc, ystep, nb, 0);
}

/* The row pass of one output channel of dy for a block, as dy_rows. */
static void dy_rows_lanes(const wino_shape *s, plane_src dyc, size_t ystep, int nb, const wino_ws *w, float *E,
                          int n) {
    int cols = 4 * s->TW;
    lane_fill(dyc, ystep, nb, s->OH, s->OW, w->yp, cols, 0, 0);
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 4; i++) {
            const float *p = w->yp + (size_t)(4 * ty + i) * cols * LANES;
            float *e = E + i * 6 * n + ty * s->TW * LANES;
            for (int tx = 0; tx < s->TW; tx++) {
                __m256 g[4], o[6];
                WUNROLL for (int k = 0; k < 4; k++) g[k] = _mm256_loadu_ps(p + (4 * tx + k) * LANES);
                a6(g, o);
                WUNROLL for (int k = 0; k < 6; k++) _mm256_storeu_ps(e + k * n + tx * LANES, o[k]);
            }
        }
}

/* dx (one channel of a block's images) += (store: =) the row pass of the adjoint input
 * transform from D[i][k2] (rows n apart): overlapping tiles summed in the plane ap in tile
 * order, then transposed back. */
static void adj_rows_lanes(const wino_shape *s, const float *D, int n, const wino_ws *w, float *dxc, size_t xstep,
                           int nb, int store) {
    int cols = 4 * s->TW + 2;
    /* No clearing (it was a plane per channel and block: 4.7 MB a 64-image batch at 32x32):
     * every pixel of the plane is in some tile, and the first tile to reach it stores
     * instead of adding, in the order the tiles are summed (as adj_rows does). A plane row
     * is first reached by tile row ty unless the tile row before covered it (its rows 4
     * and 5); within such a row, a tile's first two columns were the tile before's last. */
    for (int ty = 0; ty < s->TH; ty++)
        for (int i = 0; i < 6; i++) {
            const float *v = D + i * 6 * n + ty * s->TW * LANES;
            float *p = w->ap + (size_t)(4 * ty + i) * cols * LANES;
            int fresh = ty == 0 || i >= 2;
            for (int tx = 0; tx < s->TW; tx++) {
                __m256 vv[6], o[6];
                WUNROLL for (int k = 0; k < 6; k++) vv[k] = _mm256_loadu_ps(v + tx * LANES + k * n);
                b6(vv, o);
                float *a = p + 4 * tx * LANES;
                WUNROLL for (int k = 0; k < 6; k++) {
                    int first = fresh && (k >= 2 || tx == 0);
                    _mm256_storeu_ps(a + k * LANES, first ? o[k] : _mm256_add_ps(_mm256_loadu_ps(a + k * LANES), o[k]));
                }
            }
        }
    lane_spill(w->ap, cols, s->PH, s->PW, s->H, s->W, dxc, xstep, nb, !store);
}
