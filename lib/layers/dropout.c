/* dropout.c - inverted dropout: in training each value is zeroed with probability `rate`
 * and the rest scaled by 1/(1-rate); identity in evaluation. The mask of image b at step s
 * comes from its own random stream, so it does not depend on threads or batch order. */
#include "layer.h"
#include "../core/rng.h"
#include <stddef.h>
#include <string.h>

typedef struct drop_p { double rate; } drop_p;

static const keyspec drop_keys[] = {
    {"rate", K_NUM, offsetof(drop_p, rate), "0.5", 0, 0.99, NULL, "probability of zeroing a value"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int drop_infer(node *n, cnn_error *e) {
    (void)e;
    n->out = n->ins[0];
    n->saved_floats = shape_size(n->out);
    n->bwd_store = 1;
    return 0;
}

typedef struct ctx { node *n; exec *x; int64_t size; } ctx;

static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    double rate = ((const drop_p *)n->p)->rate;
    float scale = (float)(1.0 / (1.0 - rate));
    uint32_t thresh = (uint32_t)(rate * 4294967296.0 > 4294967295.0 ? 4294967295.0 : rate * 4294967296.0);
    for (int64_t b = lo; b < hi; b++) {
        rng r = rng_stream(c->x->seed, RNG_DROPOUT, c->x->step, ((uint64_t)n->index << 32) | (uint64_t)b);
        const float *x = n->x[0] + b * c->size;
        float *y = n->y + b * c->size, *m = n->saved + b * c->size;
        for (int64_t i = 0; i < c->size; i++) {
            m[i] = (uint32_t)(rng_u64(&r) >> 32) < thresh ? 0.0f : scale;
            y[i] = x[i] * m[i];
        }
    }
}

static void drop_fwd(node *n, exec *x) {
    ctx c = {n, x, shape_size(n->out)};
    if (!x->training || ((const drop_p *)n->p)->rate == 0 || !n->saved) {
        memcpy(n->y, n->x[0], (size_t)(x->n * c.size) * sizeof(float));
        if (x->training && n->saved)
            for (int64_t i = 0; i < x->n * c.size; i++) n->saved[i] = 1.0f;
        return;
    }
    exec_for(x, x->n, c.size * 4, fwd_range, &c);
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    float *restrict dx = c->n->dx[0];
    const float *restrict dy = c->n->dy, *restrict m = c->n->saved;
    if (c->n->dx_fresh)
        for (int64_t i = lo; i < hi; i++) dx[i] = dy[i] * m[i];
    else
        for (int64_t i = lo; i < hi; i++) dx[i] += dy[i] * m[i];
}

static void drop_bwd(node *n, exec *x) {
    if (!n->dx[0]) return;
    ctx c = {n, x, shape_size(n->out)};
    exec_for(x, x->n * c.size, 1, bwd_range, &c);
}

const layer_ops layer_dropout = {"dropout", "randomly zeroes values in training (inverted dropout)", drop_keys,
                                 sizeof(drop_p), 1, 1, drop_infer, drop_fwd, drop_bwd};
