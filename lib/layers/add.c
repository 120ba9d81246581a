/* add.c - element-wise sum of two or more inputs of the same shape (residual blocks).
 * A relu fused into the sum is applied here in the same pass, and backward stores into the
 * input gradients it is the first writer of: in a residual block both inputs' gradients
 * start at the add, so the common case reads dy and y once and writes both outputs. */
#include "layer.h"

static const keyspec add_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int add_infer(node *n, cnn_error *e) {
    for (int i = 1; i < n->nin; i++)
        if (n->ins[i].c != n->ins[0].c || n->ins[i].h != n->ins[0].h || n->ins[i].w != n->ins[0].w)
            return node_fail(n, e, "inputs have different shapes: %dx%dx%d and %dx%dx%d (channels x height x width)",
                             n->ins[0].c, n->ins[0].h, n->ins[0].w, n->ins[i].c, n->ins[i].h, n->ins[i].w);
    n->out = n->ins[0];
    n->own_act = 1;
    n->bwd_store = 1;
    return 0;
}

typedef struct ctx { node *n; } ctx;

/* Sums in input order, as the unfused layer did; the relu is the executor's select. */
static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    node *n = ((ctx *)arg)->n;
    float *restrict y = n->y;
    int relu = n->act == ACT_RELU;
    if (n->nin == 2) {
        const float *restrict a = n->x[0], *restrict b = n->x[1];
        if (relu)
            for (int64_t i = lo; i < hi; i++) {
                float s = a[i] + b[i];
                y[i] = s < 0.0f ? 0.0f : s;
            }
        else
            for (int64_t i = lo; i < hi; i++) y[i] = a[i] + b[i];
        return;
    }
    for (int64_t i = lo; i < hi; i++) y[i] = n->x[0][i];
    for (int k = 1; k < n->nin; k++) {
        const float *restrict a = n->x[k];
        for (int64_t i = lo; i < hi; i++) y[i] += a[i];
    }
    if (relu)
        for (int64_t i = lo; i < hi; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i];
}

/* One input's gradient: dy masked by the fused relu, stored or added. */
static void bwd_one(const node *n, int k, int64_t lo, int64_t hi) {
    float *restrict d = n->dx[k];
    const float *restrict dy = n->dy, *restrict y = n->y;
    int store = n->dx_fresh >> k & 1;
    if (n->act == ACT_RELU) { /* dy loaded unconditionally: a select, not a branch */
        if (store)
            for (int64_t i = lo; i < hi; i++) {
                float g = dy[i];
                d[i] = y[i] > 0.0f ? g : 0.0f;
            }
        else
            for (int64_t i = lo; i < hi; i++) {
                float g = dy[i];
                d[i] += y[i] > 0.0f ? g : 0.0f;
            }
    } else {
        if (store)
            for (int64_t i = lo; i < hi; i++) d[i] = dy[i];
        else
            for (int64_t i = lo; i < hi; i++) d[i] += dy[i];
    }
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    node *n = ((ctx *)arg)->n;
    if (n->nin == 2 && n->act == ACT_RELU && (n->dx_fresh & 3) == 3 && n->dx[0] && n->dx[1] &&
        n->dx[0] != n->dx[1]) { /* the residual block: one pass */
        float *restrict d0 = n->dx[0], *restrict d1 = n->dx[1];
        const float *restrict dy = n->dy, *restrict y = n->y;
        for (int64_t i = lo; i < hi; i++) {
            float g = dy[i];
            g = y[i] > 0.0f ? g : 0.0f;
            d0[i] = g;
            d1[i] = g;
        }
        return;
    }
    for (int k = 0; k < n->nin; k++) /* in input order: a repeated input stores, then adds */
        if (n->dx[k]) bwd_one(n, k, lo, hi);
}

static void add_fwd(node *n, exec *x) {
    ctx c = {n};
    exec_for(x, x->n * shape_size(n->out), n->nin, fwd_range, &c);
}

static void add_bwd(node *n, exec *x) {
    ctx c = {n};
    exec_for(x, x->n * shape_size(n->out), n->nin, bwd_range, &c);
}

const layer_ops layer_add = {"add", "element-wise sum of its inputs (residual connections)", add_keys, 0, 2, MAX_IN,
                             add_infer, add_fwd, add_bwd};
