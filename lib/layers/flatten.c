/* flatten.c - c x h x w to (c*h*w) x 1 x 1; dense does this implicitly, so this layer is
 * only needed to make the shape explicit in a summary. */
#include "layer.h"
#include <string.h>

static const keyspec flatten_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int flatten_infer(node *n, cnn_error *e) {
    (void)e;
    n->out = (shape){(int)shape_size(n->ins[0]), 1, 1};
    return 0;
}

static void flatten_fwd(node *n, exec *x) {
    memcpy(n->y, n->x[0], (size_t)(x->n * shape_size(n->out)) * sizeof(float));
}

static void flatten_bwd(node *n, exec *x) {
    if (!n->dx[0]) return;
    for (int64_t i = 0; i < x->n * shape_size(n->out); i++) n->dx[0][i] += n->dy[i];
}

const layer_ops layer_flatten = {"flatten", "reshapes to a vector (implicit before dense)", flatten_keys, 0, 1, 1,
                                 flatten_infer, flatten_fwd, flatten_bwd};
