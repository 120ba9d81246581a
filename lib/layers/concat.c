/* concat.c - joins inputs along the channel axis; heights and widths must match. */
#include "layer.h"
#include <string.h>

static const keyspec concat_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int concat_infer(node *n, cnn_error *e) {
    int c = 0;
    for (int i = 0; i < n->nin; i++) {
        if (n->ins[i].h != n->ins[0].h || n->ins[i].w != n->ins[0].w)
            return node_fail(n, e, "inputs differ in height x width: %dx%d and %dx%d", n->ins[0].h, n->ins[0].w,
                             n->ins[i].h, n->ins[i].w);
        c += n->ins[i].c;
    }
    n->out = (shape){c, n->ins[0].h, n->ins[0].w};
    return 0;
}

typedef struct ctx { node *n; int back; } ctx;

static void range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    int64_t hw = (int64_t)n->out.h * n->out.w, per = shape_size(n->out);
    for (int64_t b = lo; b < hi; b++) {
        int64_t off = b * per;
        for (int k = 0; k < n->nin; k++) {
            int64_t len = n->ins[k].c * hw;
            if (!c->back) memcpy(n->y + off, n->x[k] + b * len, (size_t)len * sizeof(float));
            else if (n->dx[k]) {
                float *dx = n->dx[k] + b * len;
                const float *dy = n->dy + off;
                for (int64_t i = 0; i < len; i++) dx[i] += dy[i];
            }
            off += len;
        }
    }
}

static void concat_fwd(node *n, exec *x) {
    ctx c = {n, 0};
    exec_for(x, x->n, shape_size(n->out), range, &c);
}

static void concat_bwd(node *n, exec *x) {
    ctx c = {n, 1};
    exec_for(x, x->n, shape_size(n->out), range, &c);
}

const layer_ops layer_concat = {"concat", "joins its inputs along the channel axis", concat_keys, 0, 2, MAX_IN,
                                concat_infer, concat_fwd, concat_bwd};
