/* test_winograd.c - the Winograd F(4x4, 3x3) kernels (forward with bias, input gradient,
 * weight gradient) on every SIMD path this CPU runs, against a naive direct convolution
 * accumulated in double, on odd shapes: batch 1 and 3, 1..32 channels, images from 1x1 to
 * 28x28 (not multiples of the 4x4 tile), padding 0, 1 and 2.
 *
 * Tolerance: F(4x4, 3x3) in fp32 rounds through transforms with entries up to 8 and 1/24,
 * so its error is relative to the size of the whole result rather than of each value: an
 * element may be off by 1e-4 of the largest |value| of its tensor (observed: below 1e-5).
 * Also checks that gradients are added (not stored) and that dx NULL is accepted, and, through
 * the conv layer, that the Winograd path gives the same bits for 1, 2 and 3 threads, that
 * CNN_CONV=auto picks it for these channel counts, and that it agrees with CNN_CONV=gemm;
 * and that inference's cached transformed weights follow every change of the parameters. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_run.h"
#include "graph/graph.h"
#include "kernels/cpu.h"
#include "kernels/winograd.h"

#define FRAND_SEED 0x2545f4914f6cdd1dull /* its own sequence */
#include "frand.h"

static const double TOL = 1e-4;
static double worst_seen;

typedef struct cs { int N, C, OC, H, W, P; } cs;

/* The naive twins: y = conv(x) + bias, dx = conv^T(dy), dw = x (*) dy, all in double. */
static void ref_all(const cs *c, const float *x, const float *w, const float *bias, const float *dy, double *y,
                    double *dx, double *dw) {
    int OH = c->H + 2 * c->P - 2, OW = c->W + 2 * c->P - 2;
    memset(y, 0, sizeof *y * (size_t)c->N * c->OC * OH * OW);
    memset(dx, 0, sizeof *dx * (size_t)c->N * c->C * c->H * c->W);
    memset(dw, 0, sizeof *dw * (size_t)c->OC * c->C * 9);
    for (int b = 0; b < c->N; b++)
        for (int o = 0; o < c->OC; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    size_t yi = (((size_t)b * c->OC + o) * OH + oh) * OW + ow;
                    double acc = bias[o], g = dy[yi];
                    for (int ch = 0; ch < c->C; ch++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int ih = oh + kh - c->P, iw = ow + kw - c->P;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                size_t xi = (((size_t)b * c->C + ch) * c->H + ih) * c->W + iw;
                                size_t wi = (((size_t)o * c->C + ch) * 3 + kh) * 3 + kw;
                                acc += (double)w[wi] * x[xi];
                                dx[xi] += (double)w[wi] * g;
                                dw[wi] += (double)x[xi] * g;
                            }
                    y[yi] = acc;
                }
}

/* max |got - base - want| / max |want| <= TOL; base (the prior contents) may be NULL. */
static int close_to(const char *what, const cs *c, int level, const float *got, const float *base,
                    const double *want, size_t n) {
    double big = 0, err = 0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs(want[i]);
        if (v > big) big = v;
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (base ? base[i] : 0.0) - want[i]);
        if (!(e <= err)) err = e; /* NaN sticks */
    }
    double rel = big > 0 ? err / big : err;
    if (rel > worst_seen || rel != rel) worst_seen = rel;
    int ok = rel <= TOL;
    CHECK(ok, "%s on %s: N%d C%d OC%d %dx%d pad %d: max error %.3g of max |value| %.3g", what, simd_name(level),
          c->N, c->C, c->OC, c->H, c->W, c->P, err, big);
    return ok;
}

/* wino_bwd with its dy made from a batchnorm's gradient g and input z (wino_dy_affine)
 * against the same dy made beforehand, as batchnorm.c's input-gradient pass does, then read:
 * the same bits, dx stored and dU, with the relu and without. */
static void affine_case(int level, const cs *c, const wino_shape *s, const float *Ut, const float *x, float *ws) {
    size_t ny = (size_t)c->N * c->OC * s->OH * s->OW, nx = (size_t)c->N * c->C * c->H * c->W, hw = (size_t)s->OH * s->OW;
    size_t nu = wino_u_floats(s);
    float *g = randv(ny), *z = randv(ny), *dz = malloc(ny * sizeof *dz), *k = randv((size_t)c->OC),
          *kx = randv((size_t)c->OC), *k0 = randv((size_t)c->OC), *a = randv((size_t)c->OC), *b = randv((size_t)c->OC);
    float *dU1 = malloc(nu * sizeof *dU1), *dU2 = malloc(nu * sizeof *dU2), *dx1 = malloc(nx * sizeof *dx1),
          *dx2 = malloc(nx * sizeof *dx2);
    for (int relu = 0; relu <= 1; relu++) {
        for (size_t i = 0; i < ny; i++) {
            int o = (int)(i / hw % (size_t)c->OC);
            float gi = g[i];
            if (relu) gi = z[i] * a[o] + b[o] > 0.0f ? gi : 0.0f;
            dz[i] = k[o] * gi - kx[o] * z[i] + k0[o];
        }
        wino_dy_affine aff = {g, z, k, kx, k0, a, b, relu};
        wino_bwd(level, s, Ut, x, NULL, dz, c->N, dU1, dx1, 1, NULL, ws);
        wino_bwd(level, s, Ut, x, NULL, NULL, c->N, dU2, dx2, 1, &aff, ws);
        CHECK(!memcmp(dU1, dU2, (size_t)36 * c->OC * c->C * sizeof *dU1) && !memcmp(dx1, dx2, nx * sizeof *dx1),
              "dy from a batchnorm's terms (relu %d) on %s: N%d C%d OC%d %dx%d pad %d: not the bits of dy made first",
              relu, simd_name(level), c->N, c->C, c->OC, c->H, c->W, c->P);
    }
    free(g), free(z), free(dz), free(k), free(kx), free(k0), free(a), free(b), free(dU1), free(dU2), free(dx1),
        free(dx2);
}

/* wino_fwd and wino_bwd with x made from a batchnorm's input z (wino_x_affine) against the
 * same x made beforehand, as batchnorm.c's normalising pass does, then read: the same bits
 * of y, dU and dx, with the relu and without. z holds zeros, -0 and values on both sides of
 * the relu. */
static void x_affine_case(int level, const cs *c, const wino_shape *s, const float *Up, const float *Ut,
                          const float *dy, float *ws) {
    size_t nx = (size_t)c->N * c->C * c->H * c->W, ny = (size_t)c->N * c->OC * s->OH * s->OW, hw = (size_t)c->H * c->W;
    size_t nu = wino_u_floats(s);
    float *z = randv(nx), *xm = malloc(nx * sizeof *xm), *a = randv((size_t)c->C), *b = randv((size_t)c->C);
    float *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2), *dU1 = malloc(nu * sizeof *dU1),
          *dU2 = malloc(nu * sizeof *dU2), *dx1 = malloc(nx * sizeof *dx1), *dx2 = malloc(nx * sizeof *dx2);
    for (size_t i = 0; i < nx; i += 7) z[i] = i % 2 ? -0.0f : 0.0f;
    for (int relu = 0; relu <= 1; relu++) {
        for (size_t i = 0; i < nx; i++) {
            int ch = (int)(i / hw % (size_t)c->C);
            float t = z[i] * a[ch] + b[ch];
            xm[i] = relu && t < 0.0f ? 0.0f : t;
        }
        wino_x_affine xa = {z, a, b, relu};
        wino_fwd(level, s, Up, xm, NULL, c->N, NULL, y1, ws);
        wino_fwd(level, s, Up, NULL, &xa, c->N, NULL, y2, ws);
        wino_bwd(level, s, Ut, xm, NULL, dy, c->N, dU1, dx1, 1, NULL, ws);
        wino_bwd(level, s, Ut, NULL, &xa, dy, c->N, dU2, dx2, 1, NULL, ws);
        CHECK(!memcmp(y1, y2, ny * sizeof *y1) && !memcmp(dU1, dU2, (size_t)36 * c->OC * c->C * sizeof *dU1) &&
                  !memcmp(dx1, dx2, nx * sizeof *dx1),
              "x from a batchnorm's terms (relu %d) on %s: N%d C%d OC%d %dx%d pad %d: not the bits of x made first",
              relu, simd_name(level), c->N, c->C, c->OC, c->H, c->W, c->P);
    }
    free(z), free(xm), free(a), free(b), free(y1), free(y2), free(dU1), free(dU2), free(dx1), free(dx2);
}

static void run_case(const cs *c) {
    int OH = c->H + 2 * c->P - 2, OW = c->W + 2 * c->P - 2;
    size_t nx = (size_t)c->N * c->C * c->H * c->W, ny = (size_t)c->N * c->OC * OH * OW,
           nw = (size_t)c->OC * c->C * 9;
    float *x = randv(nx), *w = randv(nw), *bias = randv((size_t)c->OC), *dy = randv(ny);
    float *dx0 = randv(nx), *dw0 = randv(nw);
    double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    ref_all(c, x, w, bias, dy, y, dx, dw);

    wino_shape s;
    wino_shape_init(&s, c->C, c->H, c->W, c->OC, c->P, c->P);
    CHECK(s.OH == OH && s.OW == OW, "shape %dx%d, expected %dx%d", s.OH, s.OW, OH, OW);
    float *U = malloc(wino_u_floats(&s) * sizeof *U), *dU = malloc(wino_u_floats(&s) * sizeof *dU),
          *Up = malloc(wino_u_floats(&s) * sizeof *Up), *Ut = malloc(wino_u_floats(&s) * sizeof *Ut);
    size_t nws = wino_ws_floats(&s);
    float *ws = malloc(nws * sizeof *ws);
    float *yg = malloc(ny * sizeof *yg), *dxg = malloc(nx * sizeof *dxg), *dwg = malloc(nw * sizeof *dwg);
    for (int level = 0; level < SIMD_COUNT; level++) {
        if (!simd_supported(level)) continue;
        for (size_t i = 0; i < nws; i++) ws[i] = NAN; /* scratch must not be read before written */
        for (size_t i = 0; i < ny; i++) yg[i] = NAN;                 /* y is stored, never read */
        wino_weights(w, c->OC, c->C, U);
        wino_pack_u(level, &s, U, Up);
        wino_pack_ut(level, &s, U, Ut);
        wino_fwd(level, &s, Up, x, NULL, c->N, bias, yg, ws);
        close_to("forward", c, level, yg, NULL, y, ny);

        memcpy(dxg, dx0, nx * sizeof *dxg);
        memcpy(dwg, dw0, nw * sizeof *dwg);
        for (size_t i = 0; i < wino_u_floats(&s); i++) dU[i] = NAN; /* dU is stored, never read */
        wino_bwd(level, &s, Ut, x, NULL, dy, c->N, dU, dxg, 0, NULL, ws);
        wino_dweights(dU, c->OC, c->C, dwg);
        close_to("input gradient", c, level, dxg, dx0, dx, nx);
        close_to("weight gradient", c, level, dwg, dw0, dw, nw);

        /* Storing dx (its first writer) neither reads nor keeps what was there. */
        for (size_t i = 0; i < nx; i++) dxg[i] = NAN;
        wino_bwd(level, &s, Ut, x, NULL, dy, c->N, dU, dxg, 1, NULL, ws);
        close_to("input gradient (stored)", c, level, dxg, NULL, dx, nx);

        /* dy made on the fly from a following batchnorm's terms (with and without its relu)
         * gives the bits of the same dy made first, as the batchnorm does, then read. */
        affine_case(level, c, &s, Ut, x, ws);
        /* and x made on the fly from a preceding batchnorm's input and terms */
        x_affine_case(level, c, &s, Up, Ut, dy, ws);

        /* Without dx (a first layer) the weight gradient is the same. */
        memcpy(dwg, dw0, nw * sizeof *dwg);
        for (size_t i = 0; i < wino_u_floats(&s); i++) dU[i] = NAN;
        wino_bwd(level, &s, NULL, x, NULL, dy, c->N, dU, NULL, 0, NULL, ws);
        wino_dweights(dU, c->OC, c->C, dwg);
        close_to("weight gradient (dx NULL)", c, level, dwg, dw0, dw, nw);
    }
    free(U), free(dU), free(Up), free(Ut), free(ws), free(yg), free(dxg), free(dwg);
    free(x), free(w), free(bias), free(dy), free(dx0), free(dw0), free(y), free(dx), free(dw);
}

/* Two conv layers (9 -> 12 -> 8 channels, padding 1 then 0, 10x10) on 11 images, forward
 * and backward with CNN_CONV=algo on `threads` threads. */
enum { LN = 11 };
static const char *const WINO_NET = "layers:\n"
                                   "  - {type: conv, filters: 12, kernel: 3, padding: 1}\n"
                                   "  - {type: conv, filters: 8, kernel: 3, padding: 0, bias: false}\n";

static int wino_run(const char *algo, int threads, lrun *o) {
    return layer_run(WINO_NET, algo, (shape){9, 10, 10}, LN, threads, o);
}

static void layer_checks(void) {
    lrun w1 = {0}, w2 = {0}, w3 = {0}, au = {0}, ge = {0};
    if (wino_run("winograd", 1, &w1) || wino_run("winograd", 2, &w2) || wino_run("winograd", 3, &w3) ||
        wino_run("auto", 2, &au) || wino_run("gemm", 2, &ge))
        return;
    CHECK(same_run(&w1, &w2) && same_run(&w1, &w3), "the Winograd layer's bits depend on the thread count");
    CHECK(same_run(&w1, &au), "CNN_CONV=auto did not take Winograd for 9 and 12 channels");
    CHECK(near_run(&w1, &ge, TOL), "the Winograd layer disagrees with the GEMM layer");
    CHECK(!same_run(&w1, &ge), "CNN_CONV=gemm gave Winograd's bits: the switch did nothing");
    free_run(&w1), free_run(&w2), free_run(&w3), free_run(&au), free_run(&ge);
}

/* A conv + batchnorm + relu + conv graph (the batchnorm folded at inference) with
 * CNN_CONV=algo, initialised with seed 3; 0 on success. */
static int cache_graph(const char *algo, int threads, graph *g) {
    static const char *doc = "layers:\n"
                             "  - {type: conv, filters: 12, kernel: 3, padding: 1, bias: false}\n"
                             "  - {type: batchnorm}\n"
                             "  - relu\n"
                             "  - {type: conv, filters: 8, kernel: 3, padding: 0}\n";
    setenv("CNN_CONV", algo, 1);
    memset(g, 0, sizeof *g);
    ynode *root = NULL;
    cnn_error e = {0};
    int rc = ytree_parse(doc, strlen(doc), "wcache", &root, &e);
    if (!rc) rc = graph_build(g, ytree_get(root, "layers"), "wcache", (shape){9, 10, 10}, &e);
    if (!rc) {
        graph_init(g, 3);
        rc = graph_set_threads(g, threads, &e);
    }
    if (!rc) rc = graph_reserve(g, LN, 1, &e);
    CHECK(rc == 0, "cache graph (%s): %s", algo, e.msg);
    if (root) ytree_free(root);
    unsetenv("CNN_CONV");
    return rc;
}

/* Inference output of n images of x, copied out (the arena is reused). */
static float *eval_out(graph *g, const float *x, int n) {
    cnn_error e = {0};
    if (graph_reserve(g, LN, 0, &e)) return NULL;
    size_t ny = (size_t)n * (size_t)shape_size(graph_out_shape(g));
    float *y = malloc(ny * sizeof *y);
    memcpy(y, graph_forward(g, x, n, 0, 0, 0), ny * sizeof *y);
    return y;
}

/* What a fresh graph with g's parameters and batchnorm statistics infers for x. */
static float *fresh_out(const char *algo, const graph *g, const float *x, int n) {
    graph f;
    if (cache_graph(algo, 2, &f)) return NULL;
    memcpy(f.params, g->params, (size_t)g->nparams * sizeof *f.params);
    memcpy(f.bufs, g->bufs, (size_t)g->nbufs * sizeof *f.bufs);
    f.version++;
    float *y = eval_out(&f, x, n);
    graph_free(&f);
    return y;
}

static int near_vec(const float *a, const float *b, size_t n) {
    double big = 0, err = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > big) big = fabs(b[i]);
        if (!(fabs((double)a[i] - b[i]) <= err)) err = fabs((double)a[i] - b[i]);
    }
    return err <= TOL * big;
}

/* The inference cache of transformed weights: remade after a training step and after
 * weights change (with the version bumped, as the optimizer and checkpoint loads do), never
 * stale: every inference must give a fresh graph's bits. Batch 1 agrees with batch 3. */
static void cache_checks(void) {
    graph g;
    if (cache_graph("winograd", 2, &g)) return;
    size_t per = (size_t)shape_size(graph_out_shape(&g)), nx = (size_t)LN * 9 * 10 * 10;
    float *x = malloc(nx * sizeof *x), *dout = malloc((size_t)LN * per * sizeof *dout);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((int)(i * 7919 % 101) - 50) / 50.0f;
    for (size_t i = 0; i < (size_t)LN * per; i++) dout[i] = (float)((int)(i * 104729 % 37) - 18) / 18.0f;

    float *y0 = eval_out(&g, x, 3), *f0 = fresh_out("winograd", &g, x, 3), *g0 = fresh_out("gemm", &g, x, 3);
    float *y1 = eval_out(&g, x, 1), *y1b = eval_out(&g, x + 2 * 9 * 10 * 10, 1);
    CHECK(y0 && f0 && g0 && y1 && y1b, "cache checks: graphs failed");
    if (!y0 || !f0 || !g0 || !y1 || !y1b) return;
    CHECK(!memcmp(y0, f0, 3 * per * sizeof *y0), "inference differs from a fresh graph's");
    CHECK(near_vec(y0, g0, 3 * per), "Winograd inference disagrees with the GEMM path");
    /* Not the same bits on every path: the AVX2 GEMM kernel sums a strip of 8 columns or
     * fewer (batch 1 here: 9 tiles) in two interleaved halves of k. */
    CHECK(near_vec(y1, y0, per) && near_vec(y1b, y0 + 2 * per, per), "batch 1 inference differs from batch 3's");

    /* A training step: a training forward moves the batchnorm statistics, then an update
     * (weights - 0.01 grad) bumps the version, as optim_step does. */
    cnn_error e = {0};
    CHECK(graph_reserve(&g, LN, 1, &e) == 0, "reserve: %s", e.msg);
    graph_forward(&g, x, LN, 1, 7, 3);
    graph_backward(&g, dout, LN, 7, 3);
    for (int64_t i = 0; i < g.nparams; i++) g.params[i] -= 0.01f * g.grads[i];
    g.version++;
    float *y2 = eval_out(&g, x, 3), *f2 = fresh_out("winograd", &g, x, 3), *g2 = fresh_out("gemm", &g, x, 3);
    CHECK(y2 && f2 && g2 && memcmp(y2, y0, 3 * per * sizeof *y2), "a training step left inference unchanged");
    if (y2 && f2 && g2) {
        CHECK(!memcmp(y2, f2, 3 * per * sizeof *y2), "after a training step inference used stale weights");
        CHECK(near_vec(y2, g2, 3 * per), "after a training step Winograd disagrees with the GEMM path");
    }

    /* One weight of the second conv (no batchnorm folded into it) changed by hand. */
    tensor *w = &g.nodes[g.nn - 1].t[0];
    w->data[5] += 0.5f;
    g.version++;
    float *y3 = eval_out(&g, x, 3), *f3 = fresh_out("winograd", &g, x, 3);
    CHECK(y3 && f3 && memcmp(y3, y2, 3 * per * sizeof *y3), "a weight change left inference unchanged");
    if (y3 && f3) CHECK(!memcmp(y3, f3, 3 * per * sizeof *y3), "after a weight change inference used stale weights");

    /* Another SIMD level on the same graph: the cache is remade for it. */
    int other = g.simd == SIMD_PORTABLE ? simd_detect() : SIMD_PORTABLE;
    g.simd = other;
    float *y4 = eval_out(&g, x, 3);
    if (y4 && y3) CHECK(near_vec(y4, y3, 3 * per), "inference on the %s path after another", simd_name(other));
    free(y0), free(f0), free(g0), free(y1), free(y1b), free(y2), free(f2), free(g2), free(y3), free(f3), free(y4);
    free(x), free(dout);
    graph_free(&g);
}

int main(void) {
    static const int chans[] = {1, 3, 17, 32};
    static const int sizes[][2] = {{1, 1}, {2, 7}, {5, 5}, {7, 2}, {13, 13}, {28, 28}, {1, 28}, {28, 5}, {32, 32}, {6, 70}};
    int ncase = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int p = 0; p <= 2; p++)
            for (int ci = 0; ci < 4; ci++)
                for (int oi = 0; oi < 4; oi++) {
                    cs c = {1 + 2 * (ncase % 2), chans[ci], chans[oi], sizes[si][0], sizes[si][1], p};
                    if (c.H + 2 * p < 3 || c.W + 2 * p < 3) continue; /* the kernel does not fit */
                    /* The naive twin is slow on the largest shapes: those run at batch 1 and
                     * padding 1 only. */
                    if (c.H * c.W > 200 && c.C * c.OC > 100) {
                        if (p != 1) continue;
                        c.N = 1;
                    }
                    run_case(&c);
                    ncase++;
                }
    /* Enough images for several blocks of images (ipb of them per block). */
    cs many = {13, 17, 9, 7, 7, 1};
    run_case(&many);
    /* Maps up to 32 pixels wide take eight images a block, one in each lane
     * (winograd_lanes.h): whole blocks and a partial one, widths that are and are not whole
     * vectors of 8, N3's stage 3, 2 and 1 maps, N2's 28x28, 6 to 8 tiles a row with padding
     * 0 and 2; and a 32x32 block that the scratch cap shrinks below eight images (tile-row
     * passes on a lanes-sized plane). */
    static const cs lanes[] = {{16, 24, 20, 8, 8, 1},   {9, 10, 12, 16, 16, 1}, {9, 5, 7, 14, 14, 1},
                               {8, 3, 4, 12, 12, 1},    {10, 4, 3, 11, 9, 0},   {17, 2, 5, 5, 13, 2},
                               {9, 16, 16, 32, 32, 1},  {9, 5, 7, 28, 28, 1},   {12, 3, 5, 30, 25, 0},
                               {13, 4, 6, 32, 29, 2},   {5, 32, 32, 32, 32, 1}};
    for (size_t i = 0; i < sizeof lanes / sizeof lanes[0]; i++) run_case(&lanes[i]);
    ncase += (int)(sizeof lanes / sizeof lanes[0]);

    layer_checks();
    cache_checks();

    /* The algorithm switch is read from the environment on every call. */
    setenv("CNN_CONV", "gemm", 1);
    CHECK(conv_algo_from_env() == CONV_GEMM, "CNN_CONV=gemm gave %d", conv_algo_from_env());
    setenv("CNN_CONV", "winograd", 1);
    CHECK(conv_algo_from_env() == CONV_WINOGRAD, "CNN_CONV=winograd gave %d", conv_algo_from_env());
    setenv("CNN_CONV", "bogus", 1);
    CHECK(conv_algo_from_env() == CONV_AUTO, "CNN_CONV=bogus gave %d", conv_algo_from_env());
    unsetenv("CNN_CONV");
    CHECK(conv_algo_from_env() == CONV_AUTO, "unset CNN_CONV gave %d", conv_algo_from_env());
    printf("%d shapes; largest error %.2g of the largest |value| (tolerance %.0e)\n", ncase + 1, worst_seen, TOL);
    return check_done();
}
