/* add.c - element-wise sum of two or more inputs of the same shape (residual blocks). */
#include "layer.h"

static const keyspec add_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int add_infer(node *n, cnn_error *e) {
    for (int i = 1; i < n->nin; i++)
        if (n->ins[i].c != n->ins[0].c || n->ins[i].h != n->ins[0].h || n->ins[i].w != n->ins[0].w)
            return node_fail(n, e, "inputs have different shapes: %dx%dx%d and %dx%dx%d (channels x height x width)",
                             n->ins[0].c, n->ins[0].h, n->ins[0].w, n->ins[i].c, n->ins[i].h, n->ins[i].w);
    n->out = n->ins[0];
    return 0;
}

typedef struct ctx { node *n; } ctx;

static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    node *n = ((ctx *)arg)->n;
    for (int64_t i = lo; i < hi; i++) {
        float s = n->x[0][i];
        for (int k = 1; k < n->nin; k++) s += n->x[k][i];
        n->y[i] = s;
    }
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    node *n = ((ctx *)arg)->n;
    for (int k = 0; k < n->nin; k++)
        if (n->dx[k])
            for (int64_t i = lo; i < hi; i++) n->dx[k][i] += n->dy[i];
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
