/* layer_run.h - one forward and backward pass of a small network under a chosen
 * convolution algorithm (CNN_CONV) and thread count, keeping the output, the input
 * gradient and the parameter gradients, so tests can compare kernel paths and thread
 * counts bit for bit or within a tolerance. Inputs and dy are fixed patterns. */
#ifndef CNN_LAYER_RUN_H
#define CNN_LAYER_RUN_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "graph/graph.h"

typedef struct lrun { float *y, *dx, *gw; int64_t ny, nx, np; } lrun;

/* The `layers:` YAML doc on n images of shape in, CNN_CONV=algo, `threads` threads,
 * initialised with seed 3; 0 on success (a failure is counted as a failed check). */
static inline int layer_run(const char *doc, const char *algo, shape in, int n, int threads, lrun *o) {
    setenv("CNN_CONV", algo, 1);
    graph g;
    memset(&g, 0, sizeof g);
    ynode *root = NULL;
    cnn_error e = {0};
    int rc = ytree_parse(doc, strlen(doc), "layer_run", &root, &e);
    if (!rc) rc = graph_build(&g, ytree_get(root, "layers"), "layer_run", in, &e);
    if (!rc) {
        graph_init(&g, 3);
        rc = graph_set_threads(&g, threads, &e);
    }
    if (!rc) rc = graph_reserve(&g, n, 1, &e);
    CHECK(rc == 0, "layer run (%s, %d threads): %s", algo, threads, e.msg);
    if (!rc) {
        o->nx = (int64_t)n * shape_size(in);
        o->ny = (int64_t)n * shape_size(graph_out_shape(&g));
        o->np = g.nparams;
        float *x = malloc((size_t)o->nx * sizeof *x), *dout = malloc((size_t)o->ny * sizeof *dout);
        for (int64_t i = 0; i < o->nx; i++) x[i] = (float)((i * 7919) % 101 - 50) / 50.0f;
        for (int64_t i = 0; i < o->ny; i++) dout[i] = (float)((i * 104729) % 37 - 18) / 18.0f;
        o->y = malloc((size_t)o->ny * sizeof *o->y);
        o->dx = calloc((size_t)o->nx, sizeof *o->dx);
        o->gw = malloc((size_t)o->np * sizeof *o->gw);
        g.dinput = o->dx;
        memcpy(o->y, graph_forward(&g, x, n, 1, 7, 3), (size_t)o->ny * sizeof *o->y);
        graph_backward(&g, dout, n, 7, 3);
        memcpy(o->gw, g.grads, (size_t)o->np * sizeof *o->gw);
        free(x);
        free(dout);
    }
    graph_free(&g);
    if (root) ytree_free(root);
    unsetenv("CNN_CONV");
    return rc;
}

static inline int same_run(const lrun *a, const lrun *b) {
    return a->ny == b->ny && a->nx == b->nx && a->np == b->np && !memcmp(a->y, b->y, (size_t)a->ny * sizeof *a->y) &&
           !memcmp(a->dx, b->dx, (size_t)a->nx * sizeof *a->dx) && !memcmp(a->gw, b->gw, (size_t)a->np * sizeof *a->gw);
}

/* max |a - b| <= tol * max |b| over each of the three results. */
static inline int near_run(const lrun *a, const lrun *b, double tol) {
    const float *pa[3] = {a->y, a->dx, a->gw}, *pb[3] = {b->y, b->dx, b->gw};
    int64_t n[3] = {a->ny, a->nx, a->np};
    for (int k = 0; k < 3; k++) {
        double big = 0, err = 0;
        for (int64_t i = 0; i < n[k]; i++) {
            if (fabs(pb[k][i]) > big) big = fabs(pb[k][i]);
            if (!(fabs((double)pa[k][i] - pb[k][i]) <= err)) err = fabs((double)pa[k][i] - pb[k][i]);
        }
        if (!(err <= tol * big)) return 0;
    }
    return 1;
}

static inline void free_run(lrun *o) { free(o->y), free(o->dx), free(o->gw); }
#endif
