/* batchnorm.c - batch normalisation per channel. Training normalises with the batch's
 * statistics and updates the running ones; evaluation uses the running statistics. A relu
 * fused into the layer (n->act) is applied here, forward and backward, not by the executor.
 *
 * Every pass walks the batch image by image, each image's C x H x W values in memory order:
 * walking one channel's planes across images instead jumps every H x W values, which the
 * prefetchers handle badly for small planes (14 x 14 in N2). Sums are made per plane into
 * `saved` and joined per channel in double in image order, so the result depends on neither
 * the thread count nor the split (a 64 x 28 x 28 batch has 50,000 values per channel).
 * Forward statistics take one pass over memory: each plane's sum, then its squared deviations
 * from its own mean while the plane is still in L1, joined per channel with Chan's formula.
 * Backward recomputes the fused relu's mask from x with the forward's own scale and shift
 * rather than reading the output, one stream fewer in each of its two passes.
 *
 * saved (training): mean[C], inv_std[C], scale[C], shift[C] (y = x * scale + shift), the
 * backward coefficients k[C], kx[C], k0[C], then per-plane partial sums part[N][C][2]. */
#include "layer.h"
#include "../kernels/reduce.h"
#include "../kernels/winograd.h"
#include <math.h>
#include <stddef.h>

typedef struct bn_p { double momentum, eps; } bn_p;
enum { MEAN, INV, SCALE, SHIFT, K, KX, K0, NFIX }; /* per-channel arrays at the start of saved */

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
    n->saved_fixed = NFIX * (int64_t)C;
    n->saved_floats = 2 * (int64_t)C;
    n->macs = 2 * shape_size(n->out);
    n->own_act = 1;
    n->bwd_store = 1;
    return 0;
}

typedef struct ctx {
    node *n;
    int N, C, HW, train, relu, store;
    const node *res; /* the add whose sum the normalising pass writes, or NULL */
} ctx;

/* The context of a pass over N images (0 where only per-image work reads it). */
static ctx bn_ctx(node *n, int N, int train, int store, const node *res) {
    return (ctx){n, N, n->out.c, n->out.h * n->out.w, train, n->act == ACT_RELU, store, res};
}

static float *part(const ctx *c, int64_t b, int64_t ch) {
    return c->n->saved + NFIX * (int64_t)c->C + 2 * (b * c->C + ch);
}
static float *fix(const ctx *c, int which) { return c->n->saved + which * (int64_t)c->C; }
/* a plane's own mean, the same expression wherever it is needed */
static float plane_mean(float sum, int hw) { return sum / (float)hw; }
static int64_t plane(const ctx *c, int64_t b, int64_t ch) { return (b * c->C + ch) * c->HW; }

static void plane_sums(const ctx *c, const float *in, int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b++)
        for (int ch = 0; ch < c->C; ch++) {
            const float *x = in + plane(c, b, ch);
            float *s = part(c, b, ch);
            s[0] = reduce_sum_wide(x, c->HW);
            s[1] = reduce_sq_dev_wide(x, c->HW, plane_mean(s[0], c->HW));
        }
}

static void stat_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    plane_sums(c, c->n->x[0], lo, hi);
}

void batchnorm_stats(node *bn, const float *x, int64_t lo, int64_t hi) {
    ctx c = bn_ctx(bn, 0, 1, 0, NULL);
    plane_sums(&c, x, lo, hi);
}

static void norm_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    const bn_p *p = n->p;
    const float *gamma = n->t[0].data, *beta = n->t[1].data;
    for (int64_t b = lo; b < hi; b++)
        for (int ch = 0; ch < c->C; ch++) {
            float a, b0;
            if (c->train) a = fix(c, SCALE)[ch], b0 = fix(c, SHIFT)[ch];
            else {
                float mean = n->t[2].data[ch], inv = (float)(1.0 / sqrt((double)n->t[3].data[ch] + p->eps));
                a = gamma[ch] * inv, b0 = beta[ch] - mean * a;
            }
            const float *restrict x = n->x[0] + plane(c, b, ch);
            float *restrict y = n->y + plane(c, b, ch);
            if (c->res) { /* the add after it: its sum and relu, the same roundings as there */
                const node *A = c->res;
                const float *restrict o = A->x[A->in[0] == n->index] + plane(c, b, ch);
                float *restrict s = A->y + plane(c, b, ch);
                if (A->act == ACT_RELU)
                    for (int i = 0; i < c->HW; i++) {
                        float t = (x[i] * a + b0) + o[i];
                        s[i] = t < 0.0f ? 0.0f : t;
                    }
                else
                    for (int i = 0; i < c->HW; i++) s[i] = (x[i] * a + b0) + o[i];
                continue;
            }
            /* the same two roundings as normalising, then a separate relu (tests compare) */
            if (c->relu)
                for (int i = 0; i < c->HW; i++) {
                    float t = x[i] * a + b0;
                    y[i] = t < 0.0f ? 0.0f : t;
                }
            else
                for (int i = 0; i < c->HW; i++) y[i] = x[i] * a + b0;
        }
}

/* Per channel: the planes' sums joined in image order. Channels are independent, so they
 * are split over threads too (64 x 64 planes are a few thousand serial steps otherwise). */
static void join_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    const bn_p *p = n->p;
    const float *gamma = n->t[0].data, *beta = n->t[1].data;
    float *rm = n->t[2].data, *rv = n->t[3].data;
    int64_t M = (int64_t)c->N * c->HW;
    for (int64_t ch = lo; ch < hi; ch++) {
        double s = 0, ss = 0;
        for (int b = 0; b < c->N; b++) s += part(c, b, ch)[0];
        double m = s / (double)M;
        /* sum (x - m)^2 over a plane = q + 2 (pm - m) (s - hw pm) + hw (pm - m)^2, exactly,
         * with pm the plane mean its q was taken around (s - hw pm is its rounding) */
        for (int b = 0; b < c->N; b++) {
            const float *q = part(c, b, ch);
            double pm = plane_mean(q[0], c->HW), dm = pm - m;
            ss += (double)q[1] + 2 * dm * ((double)q[0] - c->HW * pm) + c->HW * dm * dm;
        }
        double var = ss / (double)M, unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
        float mean = (float)m, inv = (float)(1.0 / sqrt(var + p->eps)), a = gamma[ch] * inv;
        fix(c, MEAN)[ch] = mean;
        fix(c, INV)[ch] = inv;
        fix(c, SCALE)[ch] = a;
        fix(c, SHIFT)[ch] = beta[ch] - mean * a;
        rm[ch] = (float)((1 - p->momentum) * rm[ch] + p->momentum * m);
        rv[ch] = (float)((1 - p->momentum) * rv[ch] + p->momentum * unbiased);
    }
}

static void bn_fwd(node *n, exec *x) {
    ctx c = bn_ctx(n, x->n, x->training, 0, n->res_add && n->res_add->index <= x->last ? n->res_add : NULL);
    int64_t cost = (int64_t)c.C * c.HW;
    if (c.train) {
        if (!n->paired) exec_for(x, c.N, cost, stat_range, &c); /* else its conv took them */
        exec_for(x, c.C, 8 * (int64_t)c.N, join_range, &c);
        if (n->xtwin && n->xtwin->index <= x->last) return; /* its conv makes the output as it reads it */
    }
    exec_for(x, c.N, 2 * cost, norm_range, &c);
}

static void bsum_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    for (int64_t b = lo; b < hi; b++)
        for (int ch = 0; ch < c->C; ch++) {
            int64_t o = plane(c, b, ch);
            float *s = part(c, b, ch);
            reduce_dy_dyx_wide(n->dy + o, n->x[0] + o, c->HW, fix(c, MEAN)[ch], c->relu, fix(c, SCALE)[ch],
                               fix(c, SHIFT)[ch], s, s + 1);
        }
}

/* dx = k dy - kx x + k0, with dy zeroed where the fused relu's output is not positive (the
 * forward's x * scale + shift, recomputed) */
static void dx_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    const float *kk = fix(c, K), *kkx = fix(c, KX), *kk0 = fix(c, K0), *sc = fix(c, SCALE), *sh = fix(c, SHIFT);
    for (int64_t b = lo; b < hi; b++)
        for (int ch = 0; ch < c->C; ch++) {
            int64_t o = plane(c, b, ch);
            const float *restrict x = n->x[0] + o, *restrict dy = n->dy + o;
            float *restrict dx = n->dx[0] + o;
            float k = kk[ch], kx = kkx[ch], k0 = kk0[ch], a = sc[ch], b0 = sh[ch];
            if (c->relu && c->store)
                for (int i = 0; i < c->HW; i++) {
                    float d = dy[i], g = x[i] * a + b0 > 0.0f ? d : 0.0f;
                    dx[i] = k * g - kx * x[i] + k0;
                }
            else if (c->relu)
                for (int i = 0; i < c->HW; i++) {
                    float d = dy[i], g = x[i] * a + b0 > 0.0f ? d : 0.0f;
                    dx[i] += k * g - kx * x[i] + k0;
                }
            else if (c->store)
                for (int i = 0; i < c->HW; i++) dx[i] = k * dy[i] - kx * x[i] + k0;
            else
                for (int i = 0; i < c->HW; i++) dx[i] += k * dy[i] - kx * x[i] + k0;
        }
}

static void bjoin_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    node *n = c->n;
    const float *gamma = n->t[0].data;
    double M = (double)c->N * c->HW;
    for (int64_t ch = lo; ch < hi; ch++) {
        float mean = fix(c, MEAN)[ch], inv = fix(c, INV)[ch];
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < c->N; b++) {
            const float *s = part(c, b, ch);
            sdy += s[0];
            sdyx += (double)s[1] * inv;
        }
        n->t[0].grad[ch] += (float)sdyx;
        n->t[1].grad[ch] += (float)sdy;
        float k = gamma[ch] * inv, mdy = (float)(sdy / M), mdyx = (float)(sdyx / M);
        float kx = k * inv * mdyx, k0 = -k * mdy + kx * mean;
        fix(c, K)[ch] = k;
        fix(c, KX)[ch] = kx;
        fix(c, K0)[ch] = k0;
    }
}

static void bn_bwd(node *n, exec *x) {
    ctx c = bn_ctx(n, x->n, 1, n->dx_fresh, NULL);
    int64_t cost = (int64_t)c.C * c.HW;
    exec_for(x, c.N, 2 * cost, bsum_range, &c);
    exec_for(x, c.C, 4 * (int64_t)c.N, bjoin_range, &c);
    if (n->dx[0] && !n->paired) exec_for(x, c.N, 3 * cost, dx_range, &c);
}

/* The same dx_range, with bn_bwd's flags, over the images of one of the conv's groups, on
 * the thread running the group; N is not read past the join. */
void batchnorm_dx(node *bn, int64_t lo, int64_t hi) {
    ctx c = bn_ctx(bn, 0, 1, bn->dx_fresh, NULL);
    dx_range(&c, lo, hi);
}

/* dx_range's terms for a conv that makes the input gradient as it reads it: only when dx
 * is stored (the batchnorm its only writer), so that nothing else is to be added. */
int batchnorm_dx_terms(node *bn, int64_t lo, wino_dy_affine *t) {
    if (!(bn->dx_fresh & 1)) return 0;
    ctx c = bn_ctx(bn, 0, 1, 1, NULL);
    int64_t o = plane(&c, lo, 0);
    *t = (wino_dy_affine){bn->dy + o, bn->x[0] + o, fix(&c, K), fix(&c, KX), fix(&c, K0), fix(&c, SCALE),
                          fix(&c, SHIFT), c.relu};
    return 1;
}

void batchnorm_x_terms(node *bn, int64_t lo, wino_x_affine *t) {
    ctx c = bn_ctx(bn, 0, 1, 0, NULL);
    *t = (wino_x_affine){bn->x[0] + plane(&c, lo, 0), fix(&c, SCALE), fix(&c, SHIFT), c.relu};
}

const layer_ops layer_batchnorm = {"batchnorm", "batch normalisation per channel (running statistics for eval)",
                                   bn_keys, sizeof(bn_p), 1, 1, bn_infer, bn_fwd, bn_bwd};
