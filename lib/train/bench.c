/* bench.c - timing training steps and inference on random in-memory data, per layer. */
#include "model.h"
#include "optim.h"
#include "../core/err.h"
#include "../core/rng.h"
#include "../core/util.h"
#include "../kernels/cpu.h"
#include "../kernels/peak.h"
#include <stdlib.h>
#include <string.h>

double cnn_peak_gflops(void) {
    float sink = 0;
    double (*fn)(long, float *) = peak_fma_portable;
#ifndef CNN_NO_SIMD
    int s = simd_detect();
    if (s == SIMD_AVX512) fn = peak_fma_avx512;
    else if (s == SIMD_AVX2) fn = peak_fma_avx2;
#endif
    fn(100000, &sink); /* warm up the clock */
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_seconds(), f = fn(2000000, &sink), t = now_seconds() - t0;
        if (f / t > best) best = f / t;
    }
    return best * 1e-9 + (double)(sink * 0.0f);
}

void cnn_cpu_info(char *name, int n, const char **simd) {
    cpu_model_name(name, n);
    *simd = simd_name(simd_detect());
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Layer k's entry: its name, times and floating-point work (conv and dense layers: the
 * multiply-adds of the forward pass, twice that backward when the input gradient is made). */
static void describe(const graph *g, int k, int batch, int train, double fwd_s, double bwd_s, cnn_bench_layer *l) {
    const node *nd = &g->nodes[k];
    int gemm = !strcmp(nd->ops->type, "conv") || !strcmp(nd->ops->type, "dense");
    int has_dx = nd->in[0] != 0;
    l->name = nd->name;
    l->type = nd->ops->type;
    l->fwd_ms = fwd_s * 1e3;
    l->bwd_ms = bwd_s * 1e3;
    l->fwd_gflop = gemm ? 2.0 * (double)nd->macs * batch * 1e-9 : 0;
    l->bwd_gflop = gemm && train ? l->fwd_gflop * (has_dx ? 2 : 1) : 0;
}

/* A batch of random images (normal values) and labels below K, the same every call. */
static void random_batch(float *x, int64_t floats, int32_t *y, int batch, int K) {
    rng r = rng_stream(1, RNG_INIT, 99, 0);
    for (int64_t i = 0; i < floats; i++) x[i] = rng_normal(&r);
    for (int i = 0; i < batch; i++) y[i] = (int32_t)rng_below(&r, (uint32_t)K);
}

int cnn_bench(cnn_model *m, int batch, int train, double seconds, int runs, double *img_per_s, cnn_bench_layer *layers,
              cnn_error *e) {
    graph *g = &m->g;
    if (batch < 1 || batch > CNN_MAX_BATCH) return cnn_fail(e, CNN_ERR_CONFIG, "batch %d out of range", batch);
    if (runs < 1) runs = 1;
    if (graph_reserve(g, batch, train, e)) return e->code;
    int K = m->nclasses;
    int64_t per = shape_size(g->nodes[0].out);
    float *x = aligned_alloc64((size_t)batch * (size_t)per * sizeof(float));
    float *d = malloc((size_t)batch * (size_t)K * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof *y);
    double *tf = calloc((size_t)g->nn * 2 * (size_t)(runs + 1), sizeof(double)), *rate = calloc((size_t)runs, sizeof(double));
    optim o;
    memset(&o, 0, sizeof o);
    optim_cfg oc = {.type = OPT_SGD, .lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4};
    int rc = 0;
    if (!x || !d || !y || !tf || !rate || (train && optim_init(&o, &oc, g, e))) {
        rc = e && e->code ? e->code : cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    random_batch(x, (int64_t)batch * per, y, batch, K);
    uint64_t step = 0;
    /* run -1 is the warm-up */
    for (int run = -1; run < runs; run++) {
        double *f = tf + (size_t)(run + 1) * 2 * (size_t)g->nn, *b = f + g->nn;
        g->tfwd = f;
        g->tbwd = b;
        double t0 = now_seconds(), t;
        long n = 0;
        do {
            const float *out = graph_forward(g, x, batch, train, 1, step);
            if (train) {
                loss_softmax_ce(out, y, batch, K, 0, d, NULL, NULL);
                graph_backward(g, d, batch, 1, step);
                optim_step(&o, g, 0.01, step + 1);
            }
            step++;
            n++;
            t = now_seconds() - t0;
        } while (t < (run < 0 ? seconds / 3 : seconds));
        for (int i = 0; i < 2 * g->nn; i++) f[i] /= (double)n;
        if (run >= 0) rate[run] = (double)n * batch / t;
    }
    g->tfwd = g->tbwd = NULL;
    double sorted[64];
    int nr = runs < 64 ? runs : 64;
    memcpy(sorted, rate, (size_t)nr * sizeof(double));
    qsort(sorted, (size_t)nr, sizeof(double), cmp_double);
    double med = sorted[nr / 2];
    *img_per_s = med;
    int mi = 0;
    for (int i = 0; i < nr; i++)
        if (rate[i] == med) mi = i;
    if (layers) {
        const double *f = tf + (size_t)(mi + 1) * 2 * (size_t)g->nn, *b = f + g->nn;
        for (int k = 1; k < g->nn; k++) describe(g, k, batch, train, f[k], train ? b[k] : 0, &layers[k - 1]);
    }
done:
    if (train) optim_free(&o);
    free(x);
    free(d);
    free(y);
    free(tf);
    free(rate);
    return rc;
}

int cnn_bench_kernels(cnn_model *m, int batch, double seconds, cnn_bench_layer *layers, cnn_error *e) {
    graph *g = &m->g;
    if (batch < 1 || batch > CNN_MAX_BATCH) return cnn_fail(e, CNN_ERR_CONFIG, "batch %d out of range", batch);
    if (graph_reserve(g, batch, 1, e)) return e->code;
    int K = m->nclasses;
    int64_t per = shape_size(g->nodes[0].out);
    float *x = aligned_alloc64((size_t)batch * (size_t)per * sizeof(float));
    float *d = malloc((size_t)batch * (size_t)K * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof *y);
    int rc = 0;
    if (!x || !d || !y) {
        rc = cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    random_batch(x, (int64_t)batch * per, y, batch, K);
    loss_softmax_ce(graph_forward(g, x, batch, 1, 1, 0), y, batch, K, 0, d, NULL, NULL);
    for (int k = 1; k < g->nn; k++) {
        double f = graph_node_seconds(g, x, d, batch, k, 0, seconds);
        double b = graph_node_seconds(g, x, d, batch, k, 1, seconds);
        describe(g, k, batch, 1, f, b, &layers[k - 1]);
    }
done:
    free(x);
    free(d);
    free(y);
    return rc;
}
