/* batchnorm.c - batch normalisation per channel. Training normalises with the batch's
 * statistics (kept in saved: mean and 1/std per channel) and updates the running ones;
 * evaluation uses the running statistics. Channels are split over threads, so every sum
 * is made by one thread in a fixed order. Sums run in double: a 64 x 28 x 28 batch has
 * 50,000 values per channel. */
#include "layer.h"
#include "../kernels/reduce.h"
#include <math.h>
#include <stddef.h>

typedef struct bn_p { double momentum, eps; } bn_p;

static const keyspec bn_keys[] = {
    {"momentum", K_NUM, offsetof(bn_p, momentum), "0.1", 0, 1, NULL,
     "weight of the new batch in the running statistics"},
    {"eps", K_NUM, offsetof(bn_p, eps), "1e-5", 1e-12, 1, NULL, "added to the variance"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

double batchnorm_eps(const node *n) { return ((const bn_p *)n->p)->eps; }

static int bn_infer(node *n, cnn_error *e) {
    (void)e;
    int C = n->ins[0].c;
    n->out = n->ins[0];
    node_tensor(n, "weight", T_PARAM, INIT_ONE, 0, 1, &C);
    node_tensor(n, "bias", T_PARAM, INIT_ZERO, 0, 1, &C);
    node_tensor(n, "running_mean", T_BUFFER, INIT_ZERO, 0, 1, &C);
    node_tensor(n, "running_var", T_BUFFER, INIT_ONE, 0, 1, &C);
    n->saved_fixed = 2 * (int64_t)C;
    n->macs = 2 * shape_size(n->out);
    return 0;
}

typedef struct ctx { node *n; int N, C, HW, train; } ctx;

static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    const bn_p *p = n->p;
    const float *gamma = n->t[0].data, *beta = n->t[1].data;
    float *rm = n->t[2].data, *rv = n->t[3].data;
    int64_t M = (int64_t)c->N * c->HW;
    for (int64_t ch = lo; ch < hi; ch++) {
        float mean, inv;
        if (c->train) {
            /* per image plane in float (eight chains), across planes in double */
            double s = 0, ss = 0;
            for (int b = 0; b < c->N; b++) s += reduce_sum(n->x[0] + ((int64_t)b * c->C + ch) * c->HW, c->HW);
            double m = s / (double)M;
            for (int b = 0; b < c->N; b++)
                ss += reduce_sq_dev(n->x[0] + ((int64_t)b * c->C + ch) * c->HW, c->HW, (float)m);
            double var = ss / (double)M;
            mean = (float)m;
            inv = (float)(1.0 / sqrt(var + p->eps));
            n->saved[ch] = mean;
            n->saved[c->C + ch] = inv;
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            rm[ch] = (float)((1 - p->momentum) * rm[ch] + p->momentum * m);
            rv[ch] = (float)((1 - p->momentum) * rv[ch] + p->momentum * unbiased);
        } else {
            mean = rm[ch];
            inv = (float)(1.0 / sqrt((double)rv[ch] + p->eps));
        }
        float a = gamma[ch] * inv, b0 = beta[ch] - mean * a;
        for (int b = 0; b < c->N; b++) {
            int64_t o = ((int64_t)b * c->C + ch) * c->HW;
            const float *restrict x = n->x[0] + o;
            float *restrict y = n->y + o;
            for (int i = 0; i < c->HW; i++) y[i] = x[i] * a + b0;
        }
    }
}

static void bn_fwd(node *n, exec *x) {
    ctx c = {n, x->n, n->out.c, n->out.h * n->out.w, x->training};
    exec_for(x, c.C, (int64_t)c.N * c.HW * 3, fwd_range, &c);
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    const float *gamma = n->t[0].data;
    double M = (double)c->N * c->HW;
    for (int64_t ch = lo; ch < hi; ch++) {
        float mean = n->saved[ch], inv = n->saved[c->C + ch];
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < c->N; b++) {
            int64_t o = ((int64_t)b * c->C + ch) * c->HW;
            float a, bx;
            reduce_dy_dyx(n->dy + o, n->x[0] + o, c->HW, mean, &a, &bx);
            sdy += a;
            sdyx += (double)bx * inv;
        }
        n->t[0].grad[ch] += (float)sdyx;
        n->t[1].grad[ch] += (float)sdy;
        if (!n->dx[0]) continue;
        float k = gamma[ch] * inv, mdy = (float)(sdy / M), mdyx = (float)(sdyx / M);
        float kx = k * inv * mdyx, k0 = -k * mdy + kx * mean;
        for (int b = 0; b < c->N; b++) {
            int64_t o = ((int64_t)b * c->C + ch) * c->HW;
            const float *restrict x = n->x[0] + o, *restrict dy = n->dy + o;
            float *restrict dx = n->dx[0] + o;
            for (int i = 0; i < c->HW; i++) dx[i] += k * dy[i] - kx * x[i] + k0;
        }
    }
}

static void bn_bwd(node *n, exec *x) {
    ctx c = {n, x->n, n->out.c, n->out.h * n->out.w, 1};
    exec_for(x, c.C, (int64_t)c.N * c.HW * 3, bwd_range, &c);
}

const layer_ops layer_batchnorm = {"batchnorm", "batch normalisation per channel (running statistics for eval)",
                                   bn_keys, sizeof(bn_p), 1, 1, bn_infer, bn_fwd, bn_bwd};
