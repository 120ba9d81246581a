/* gap.c - global average pool: each channel's mean, giving c x 1 x 1. */
#include "layer.h"

static const keyspec gap_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int gap_infer(node *n, cnn_error *e) {
    (void)e;
    n->out = (shape){n->ins[0].c, 1, 1};
    n->macs = shape_size(n->ins[0]);
    return 0;
}

typedef struct ctx { node *n; int hw; } ctx;

static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = c->n->x[0] + p * c->hw;
        float s = 0;
        for (int i = 0; i < c->hw; i++) s += x[i];
        c->n->y[p] = s / (float)c->hw;
    }
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    for (int64_t p = lo; p < hi; p++) {
        float g = c->n->dy[p] / (float)c->hw, *dx = c->n->dx[0] + p * c->hw;
        for (int i = 0; i < c->hw; i++) dx[i] += g;
    }
}

static void gap_fwd(node *n, exec *x) {
    ctx c = {n, n->ins[0].h * n->ins[0].w};
    exec_for(x, (int64_t)x->n * n->ins[0].c, c.hw, fwd_range, &c);
}

static void gap_bwd(node *n, exec *x) {
    if (!n->dx[0]) return;
    ctx c = {n, n->ins[0].h * n->ins[0].w};
    exec_for(x, (int64_t)x->n * n->ins[0].c, c.hw, bwd_range, &c);
}

const layer_ops layer_gap = {"gap", "global average pool: the mean of each channel", gap_keys, 0, 1, 1, gap_infer,
                             gap_fwd, gap_bwd};
