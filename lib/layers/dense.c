/* dense.c - fully connected layer: y = x W^T + b over the flattened input (so a flatten
 * before it is implicit). W is units x inputs. The batch is split over threads for y and
 * dx (the units for y at batches of a few images), and the units for dW, so no
 * cross-thread sums are needed. */
#include "layer.h"
#include "../core/util.h"
#include "../kernels/gemm.h"
#include <stddef.h>

typedef struct dense_p { int units, bias, init; } dense_p;

static const keyspec dense_keys[] = {
    {"units", K_INT, offsetof(dense_p, units), "0", 1, 1 << 24, NULL, "number of outputs (required)"},
    {"bias", K_BOOL, offsetof(dense_p, bias), "true", 0, 0, NULL, "add a learned bias per output"},
    {"init", K_ENUM, offsetof(dense_p, init), "he", 0, 0, "he|glorot|lecun|torch", "weight initialisation: he normal sqrt(2/fan_in), glorot uniform, lecun normal sqrt(1/fan_in), torch uniform +-1/sqrt(fan_in)"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int dense_infer(node *n, cnn_error *e) {
    const dense_p *p = n->p;
    if (!p->units) return node_fail(n, e, "'units' is required");
    int64_t in = shape_size(n->ins[0]);
    if (in * p->units > CNN_MAX_TENSOR)
        return node_fail(n, e, "%lld x %d weights exceed the tensor limit", (long long)in, p->units);
    n->out = (shape){p->units, 1, 1};
    int d[2] = {p->units, (int)in};
    tensor *w = node_tensor(n, "weight", T_PARAM, (tinit)(INIT_HE + p->init), 1, 2, d);
    w->fan_in = (int)in;
    w->fan_out = p->units;
    if (p->bias) node_tensor(n, "bias", T_PARAM, INIT_ZERO, 0, 1, &p->units);
    size_t a = sgemm_ws_floats(CNN_MAX_BATCH, p->units, (int)in),
           b = sgemm_ws_floats(p->units, (int)in, CNN_MAX_BATCH), c = sgemm_ws_floats(CNN_MAX_BATCH, (int)in, p->units);
    n->ws_floats = a > b ? (a > c ? a : c) : (b > c ? b : c);
    n->macs = in * p->units;
    n->bwd_store = 1; /* dx with beta 0 */
    return 0;
}

typedef struct job { node *n; exec *x; int in, out; } job;

static void fwd_part(void *arg, int ith, int nth) {
    job *j = arg;
    node *n = j->n;
    int64_t lo, hi;
    split_range(j->x->n, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    float *y = n->y + lo * j->out;
    sgemm(j->x->simd, 0, 1, (int)(hi - lo), j->out, j->in, 1.0f, n->x[0] + lo * j->in, j->in, n->t[0].data, j->in,
          0.0f, y, j->out, exec_ws(j->x, ith));
    if (n->nt > 1)
        for (int64_t b = lo; b < hi; b++, y += j->out)
            for (int o = 0; o < j->out; o++) y[o] += n->t[1].data[o];
}

/* A few images: one dot product per output (sgemm's tiles would be mostly zero padding
 * with so few rows, and the time is reading W once). The choice depends on the batch
 * alone, so the bits do not depend on the thread count. */
enum { DOT_MAX_BATCH = 4 };

/* Split the outputs instead of the batch, for a few images or fewer images than threads:
 * each part reads its own rows of W, which is what bounds a batch-1 dense layer. */
static void fwd_units(void *arg, int ith, int nth) {
    job *j = arg;
    node *n = j->n;
    int64_t lo, hi;
    split_range(j->out, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    const float *w = n->t[0].data + lo * j->in;
    if (j->x->n <= DOT_MAX_BATCH)
        sgemm_dot(j->x->simd, j->x->n, (int)(hi - lo), j->in, 1.0f, n->x[0], j->in, w, j->in, 0.0f, n->y + lo, j->out);
    else
        sgemm(j->x->simd, 0, 1, j->x->n, (int)(hi - lo), j->in, 1.0f, n->x[0], j->in, w, j->in, 0.0f, n->y + lo,
              j->out, exec_ws(j->x, ith));
    if (n->nt > 1)
        for (int b = 0; b < j->x->n; b++)
            for (int64_t o = lo; o < hi; o++) n->y[(int64_t)b * j->out + o] += n->t[1].data[o];
}

static void dense_fwd(node *n, exec *x) {
    job j = {n, x, (int)shape_size(n->ins[0]), n->out.c};
    int units = x->n <= DOT_MAX_BATCH || (x->n < x->nth && j.out >= 2 * x->nth);
    pool_run(x->pool, units ? fwd_units : fwd_part, &j);
}

static void bwd_part(void *arg, int ith, int nth) {
    job *j = arg;
    node *n = j->n;
    int N = j->x->n;
    int64_t lo, hi;
    split_range(j->out, ith, nth, &lo, &hi);
    if (hi > lo) {
        sgemm(j->x->simd, 1, 0, (int)(hi - lo), j->in, N, 1.0f, n->dy + lo, j->out, n->x[0], j->in, 1.0f,
              n->t[0].grad + lo * j->in, j->in, exec_ws(j->x, ith));
        if (n->nt > 1)
            for (int64_t o = lo; o < hi; o++) {
                float s = 0;
                for (int b = 0; b < N; b++) s += n->dy[(int64_t)b * j->out + o];
                n->t[1].grad[o] += s;
            }
    }
    if (!n->dx[0]) return;
    split_range(N, ith, nth, &lo, &hi);
    if (hi > lo)
        sgemm(j->x->simd, 0, 0, (int)(hi - lo), j->in, j->out, 1.0f, n->dy + lo * j->out, j->out, n->t[0].data, j->in,
              n->dx_fresh ? 0.0f : 1.0f, n->dx[0] + lo * j->in, j->in, exec_ws(j->x, ith));
}

static void dense_bwd(node *n, exec *x) {
    job j = {n, x, (int)shape_size(n->ins[0]), n->out.c};
    pool_run(x->pool, bwd_part, &j);
}

const layer_ops layer_dense = {"dense", "fully connected layer over the flattened input", dense_keys, sizeof(dense_p),
                               1, 1, dense_infer, dense_fwd, dense_bwd};
