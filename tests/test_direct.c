/* test_direct.c - the direct convolution kernels (forward with bias, weight gradient, input
 * gradient) on every SIMD path this CPU runs, against a naive convolution accumulated in
 * double, on odd shapes: batch 1 and 3, 1..6 input and 1..32 output channels, kernels 1x1,
 * 3x3, 5x5 and 2x3, symmetric and asymmetric padding (also more than the kernel needs,
 * which crops in the input gradient), images from 1x1 to 28x28 with widths that are not a
 * multiple of any vector width, and outputs narrower than the kernel. Layers that keep the
 * size and layers that shrink it take the input gradient's two ways ("full" and "scatter"),
 * so both are covered; each is also forced, with the third ("lanes", images in the vector
 * lanes) where the shape allows it, and that way runs on batches of 16 and more.
 *
 * Tolerance: each value is a sum of up to C * KH * KW (or OC * KH * KW, or positions x
 * images) fp32 products in another order than the reference, so an element may be off by
 * a few ulps of the sum of the magnitudes of its terms, which cancelling terms can make
 * much larger than the value: checked as 1e-5 of the larger of the largest |value| of its
 * tensor and the largest such sum of magnitudes. Through the conv layer: the same bits for 1, 2 and 3 threads,
 * CNN_CONV=auto takes the direct path on a first layer, and it agrees with CNN_CONV=gemm. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frand.h"
#include "layer_run.h"
#include "graph/graph.h"
#include "kernels/cpu.h"
#include "kernels/direct.h"
#include "kernels/winograd.h"

static const double TOL = 1e-5;
static double worst_seen;
static int lanes_runs; /* input gradients that took the lanes way */

typedef struct cs { int N, C, OC, H, W, KH, KW, PT, PB, PL, PR; } cs;

/* The naive twins: y = conv(x) + bias, dx = conv^T(dy), dw = x (*) dy, db = sum dy, in
 * double; *mag = the largest sum of the magnitudes of one value's terms (what rounding
 * error is relative to when terms cancel). */
typedef struct mags { double y, dx, dw, db; } mags;
static void ref_all(const cs *c, int OH, int OW, const float *x, const float *w, const float *bias, const float *dy,
                    double *y, double *dx, double *dw, double *db, mags *mag) {
    size_t nx = (size_t)c->N * c->C * c->H * c->W, nw = (size_t)c->OC * c->C * c->KH * c->KW;
    double *dxm = calloc(nx, sizeof *dxm), *dwm = calloc(nw, sizeof *dwm), *dbm = calloc((size_t)c->OC, sizeof *dbm);
    memset(mag, 0, sizeof *mag);
    memset(y, 0, sizeof *y * (size_t)c->N * c->OC * OH * OW);
    memset(dx, 0, sizeof *dx * nx);
    memset(dw, 0, sizeof *dw * nw);
    memset(db, 0, sizeof *db * (size_t)c->OC);
    for (int b = 0; b < c->N; b++)
        for (int o = 0; o < c->OC; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    size_t yi = (((size_t)b * c->OC + o) * OH + oh) * OW + ow;
                    double acc = bias[o], g = dy[yi], am = fabs(bias[o]);
                    db[o] += g;
                    dbm[o] += fabs(g);
                    for (int ch = 0; ch < c->C; ch++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                int ih = oh + kh - c->PT, iw = ow + kw - c->PL;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                size_t xi = (((size_t)b * c->C + ch) * c->H + ih) * c->W + iw;
                                size_t wi = (((size_t)o * c->C + ch) * c->KH + kh) * c->KW + kw;
                                acc += (double)w[wi] * x[xi];
                                dx[xi] += (double)w[wi] * g;
                                dw[wi] += (double)x[xi] * g;
                                am += fabs((double)w[wi] * x[xi]);
                                dxm[xi] += fabs((double)w[wi] * g);
                                dwm[wi] += fabs((double)x[xi] * g);
                            }
                    y[yi] = acc;
                    if (am > mag->y) mag->y = am;
                }
    for (size_t i = 0; i < nx; i++) mag->dx = dxm[i] > mag->dx ? dxm[i] : mag->dx;
    for (size_t i = 0; i < nw; i++) mag->dw = dwm[i] > mag->dw ? dwm[i] : mag->dw;
    for (int o = 0; o < c->OC; o++) mag->db = dbm[o] > mag->db ? dbm[o] : mag->db;
    free(dxm), free(dwm), free(dbm);
}

/* max |got - base - want| / max(max |want|, max |base|, mag) <= TOL; base (the prior contents) may be NULL. */
static void close_to(const char *what, const cs *c, int level, const float *got, const float *base,
                     const double *want, size_t n, double mag) {
    double big = mag, err = 0; /* adding into base rounds to base's ulps too */
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > big) big = fabs(want[i]);
        if (base && fabs(base[i]) > big) big = fabs(base[i]);
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (base ? base[i] : 0.0) - want[i]);
        if (!(e <= err)) err = e; /* NaN sticks */
    }
    double rel = big > 0 ? err / big : err;
    if (rel > worst_seen || rel != rel) worst_seen = rel;
    CHECK(rel <= TOL, "%s on %s: N%d C%d OC%d %dx%d kernel %dx%d pad %d/%d/%d/%d: max error %.3g of max |value| %.3g",
          what, simd_name(level), c->N, c->C, c->OC, c->H, c->W, c->KH, c->KW, c->PT, c->PB, c->PL, c->PR, err, big);
}

static void run_case(const cs *c) {
    direct_shape s;
    if (direct_shape_init(&s, c->C, c->H, c->W, c->OC, c->KH, c->KW, c->PT, c->PB, c->PL, c->PR)) return;
    int OH = s.OH, OW = s.OW;
    size_t nx = (size_t)c->N * c->C * c->H * c->W, ny = (size_t)c->N * c->OC * OH * OW,
           nw = (size_t)c->OC * c->C * c->KH * c->KW;
    float *x = randv(nx), *w = randv(nw), *bias = randv((size_t)c->OC), *dy = randv(ny);
    float *dx0 = randv(nx), *dw0 = randv(nw), *db0 = randv((size_t)c->OC);
    double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw),
           *db = malloc((size_t)c->OC * sizeof *db);
    mags m;
    ref_all(c, OH, OW, x, w, bias, dy, y, dx, dw, db, &m);
    size_t nws = direct_ws_floats(&s);
    float *ws = malloc(nws * sizeof *ws);
    float *yg = malloc(ny * sizeof *yg), *dxg = malloc(nx * sizeof *dxg), *dwg = malloc(nw * sizeof *dwg),
          *dbg = malloc((size_t)c->OC * sizeof *dbg);
    for (int level = 0; level < SIMD_COUNT; level++) {
        if (!simd_supported(level)) continue;
        for (size_t i = 0; i < nws; i++) ws[i] = NAN; /* scratch must not be read before written */
        for (size_t i = 0; i < ny; i++) yg[i] = NAN;  /* y is stored, never read */
        direct_fwd_prep(level, &s, w, ws);
        direct_fwd(level, &s, x, c->N, bias, 0, yg, ws);
        close_to("forward", c, level, yg, NULL, y, ny, m.y);
        /* With the relu: the same values, negatives replaced by zeros. */
        float *yr = malloc(ny * sizeof *yr);
        direct_fwd(level, &s, x, c->N, bias, 1, yr, ws);
        int relu_ok = 1;
        for (size_t i = 0; i < ny; i++) relu_ok &= yr[i] == (yg[i] < 0.0f ? 0.0f : yg[i]);
        CHECK(relu_ok, "forward with relu on %s is not max(0, forward)", simd_name(level));
        free(yr);

        for (size_t i = 0; i < nws; i++) ws[i] = NAN;
        memcpy(dxg, dx0, nx * sizeof *dxg);
        memcpy(dwg, dw0, nw * sizeof *dwg);
        memcpy(dbg, db0, (size_t)c->OC * sizeof *dbg);
        direct_bwd(level, &s, w, x, dy, c->N, dwg, dbg, dxg, ws);
        close_to("input gradient", c, level, dxg, dx0, dx, nx, m.dx);
        close_to("weight gradient", c, level, dwg, dw0, dw, nw, m.dw);
        close_to("bias gradient", c, level, dbg, db0, db, (size_t)c->OC, m.db);

        /* Each way of the input gradient, forced (lanes where the shape allows it). */
        for (int way = DIRECT_DX_FULL; way <= DIRECT_DX_LANES; way++) {
            direct_shape f = s;
            f.dx_way = way;
            int took = direct_dx_way(level, &f, c->N);
            CHECK(took == way || (way == DIRECT_DX_LANES && took != DIRECT_DX_AUTO),
                  "direct_dx_way gave %d for way %d", took, way);
            if (took != way) continue;
            lanes_runs += way == DIRECT_DX_LANES;
            for (size_t i = 0; i < nws; i++) ws[i] = NAN;
            memcpy(dxg, dx0, nx * sizeof *dxg);
            memcpy(dwg, dw0, nw * sizeof *dwg);
            direct_bwd(level, &f, w, x, dy, c->N, dwg, NULL, dxg, ws);
            static const char *const names[] = {"", "input gradient (full)", "input gradient (scatter)",
                                                "input gradient (lanes)"};
            close_to(names[way], c, level, dxg, dx0, dx, nx, m.dx);
        }

        /* Without dx and db (a first layer without bias) the weight gradient is the same
         * (its block size may differ: compared with the tolerance). */
        float *dw2 = malloc(nw * sizeof *dw2);
        memcpy(dw2, dw0, nw * sizeof *dw2);
        for (size_t i = 0; i < nws; i++) ws[i] = NAN;
        direct_bwd(level, &s, w, x, dy, c->N, dw2, NULL, NULL, ws);
        close_to("weight gradient (no dx, no db)", c, level, dw2, dw0, dw, nw, m.dw);
        free(dw2);
    }
    free(ws), free(yg), free(dxg), free(dwg), free(dbg), free(db0);
    free(x), free(w), free(bias), free(dy), free(dx0), free(dw0), free(y), free(dx), free(dw), free(db);
}

/* A first conv layer (C channels -> 7 filters, KxK, padding same) with a relu the conv
 * applies itself, and a second one (7 -> 5, valid), with bias, on 11 images of 13x13,
 * forward and backward with CNN_CONV=algo on `threads` threads. */
enum { LN = 11, LH = 13 };
static int direct_run(const char *algo, int C, int K, int threads, lrun *o) {
    char doc[256];
    snprintf(doc, sizeof doc,
             "layers:\n"
             "  - {type: conv, filters: 7, kernel: %d}\n"
             "  - {type: relu}\n"
             "  - {type: conv, filters: 5, kernel: %d, padding: valid}\n",
             K, K);
    return layer_run(doc, algo, (shape){C, LH, LH}, LN, threads, o);
}

static void layer_checks(int C, int K) {
    lrun d1 = {0}, d2 = {0}, d3 = {0}, au = {0}, ge = {0};
    if (direct_run("direct", C, K, 1, &d1) || direct_run("direct", C, K, 2, &d2) ||
        direct_run("direct", C, K, 3, &d3) || direct_run("auto", C, K, 2, &au) || direct_run("gemm", C, K, 2, &ge))
        return;
    CHECK(same_run(&d1, &d2) && same_run(&d1, &d3), "the direct layers' bits depend on the thread count (C%d K%d)",
          C, K);
    CHECK(!memcmp(d1.gw, au.gw, 7 * (size_t)C * K * K * sizeof *d1.gw),
          "CNN_CONV=auto did not take the direct path for a %d-channel first layer", C);
    CHECK(near_run(&d1, &ge, 1e-4), "the direct layers disagree with the GEMM layers (C%d K%d)", C, K);
    CHECK(!same_run(&d1, &ge), "CNN_CONV=gemm gave the direct path's bits: the switch did nothing");
    free_run(&d1), free_run(&d2), free_run(&d3), free_run(&au), free_run(&ge);
}

int main(void) {
    static const int chans[] = {1, 2, 3, 6}, outs[] = {1, 5, 6, 16, 17, 32};
    static const int kers[][2] = {{1, 1}, {3, 3}, {5, 5}, {2, 3}};
    static const int sizes[][2] = {{1, 1}, {2, 5}, {5, 2}, {13, 13}, {14, 14}, {17, 5}, {28, 28}};
    int ncase = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ki = 0; ki < sizeof kers / sizeof kers[0]; ki++)
            for (int p = 0; p <= 3; p++)
                for (int ci = 0; ci < 4; ci++)
                    for (int oi = 0; oi < 6; oi++) {
                        int KH = kers[ki][0], KW = kers[ki][1];
                        /* pads 0, 1, 2 on all sides, and 3: asymmetric (1 above, 2 below, 0 left, 2 right). */
                        cs c = {1 + 2 * (ncase % 2), chans[ci], outs[oi], sizes[si][0], sizes[si][1], KH, KW,
                                p < 3 ? p : 1, p < 3 ? p : 2, p < 3 ? p : 0, p < 3 ? p : 2};
                        /* Keep the run short: the largest shapes at batch 1, not every channel pair. */
                        if (c.H * c.W > 200) {
                            if ((ci + oi + p) % 3) continue;
                            c.N = 1;
                        }
                        run_case(&c);
                        ncase++;
                    }
    /* The N1/N2 shapes themselves, on two images. */
    cs lenet1 = {2, 1, 6, 28, 28, 5, 5, 2, 2, 2, 2}, lenet2 = {2, 6, 16, 14, 14, 5, 5, 0, 0, 0, 0},
       fashion1 = {2, 1, 32, 28, 28, 3, 3, 1, 1, 1, 1};
    run_case(&lenet1), run_case(&lenet2), run_case(&fashion1);
    /* Padding larger than the kernel needs: the input gradient crops dy. */
    cs crop = {3, 2, 5, 7, 6, 1, 1, 2, 1, 1, 2};
    run_case(&crop);
    /* Output channels in the lanes of the weight gradient: 3 vectors of 16 (6 of 8), over
     * more images than one block of sums holds. */
    cs chan_lanes = {9, 6, 48, 9, 11, 3, 3, 1, 1, 1, 1};
    run_case(&chan_lanes);
    /* The input gradient with images in the lanes, over one whole block of 16 and a ragged
     * one: N1's second layer (which takes it unforced), same-size and asymmetric padding,
     * more padding below than the kernel needs, a 1x1 kernel, two blocks and a ragged one. */
    int before = lanes_runs;
    cs img_lanes[] = {{17, 6, 16, 14, 14, 5, 5, 0, 0, 0, 0}, {19, 3, 5, 9, 11, 3, 3, 1, 1, 1, 1},
                      {18, 2, 7, 6, 13, 5, 3, 2, 0, 1, 2},   {16, 1, 3, 2, 5, 3, 3, 1, 3, 0, 1},
                      {21, 5, 17, 7, 3, 1, 1, 0, 0, 0, 0},   {33, 6, 16, 10, 10, 5, 5, 0, 0, 0, 0}};
    for (size_t i = 0; i < sizeof img_lanes / sizeof img_lanes[0]; i++) run_case(&img_lanes[i]);
    int levels = 0, nl = (int)(sizeof img_lanes / sizeof img_lanes[0]);
    for (int level = 0; level < SIMD_COUNT; level++) levels += simd_supported(level);
    CHECK(lanes_runs - before == nl * levels, "%d of the %d lanes cases took the lanes way", lanes_runs - before,
          nl * levels);
    {
        direct_shape n1;
        direct_shape_init(&n1, 6, 14, 14, 16, 5, 5, 0, 0, 0, 0);
        for (int level = SIMD_AVX2; level < SIMD_COUNT; level++)
            if (simd_supported(level))
                CHECK(direct_dx_way(level, &n1, 16) == DIRECT_DX_LANES,
                      "N1's second layer on 16 images does not take the lanes way on %s", simd_name(level));
    }

    layer_checks(1, 3);
    layer_checks(3, 5);

    setenv("CNN_CONV", "direct", 1);
    CHECK(conv_algo_from_env() == CONV_DIRECT, "CNN_CONV=direct gave %d", conv_algo_from_env());
    unsetenv("CNN_CONV");
    printf("%d shapes (%d input gradients in lanes); largest error %.2g of the largest |value| (tolerance %.0e)\n",
           ncase + 12, lanes_runs, worst_seen, TOL);
    return check_done();
}
