/* conv.c - 2-D convolution (groups, stride, padding, dilation, optional bias) as
 * im2col + GEMM per image, or for 3x3 stride-1 kernels with enough channels by Winograd
 * F(4x4, 3x3) (kernels/winograd.h) per fixed group of images, or for stride-1 layers with
 * few input channels by direct convolution (kernels/direct.h). Weight gradients are summed
 * per fixed group of images, then the partials are added in group order, so the bits do
 * not depend on the thread count. Weights are OC x (C/groups) x KH x KW. */
#include "layer.h"
#include "../core/util.h"
#include "../kernels/direct.h"
#include "../kernels/gemm.h"
#include "../kernels/im2col.h"
#include "../kernels/reduce.h"
#include "../kernels/winograd.h"
#include <stddef.h>
#include <string.h>

typedef struct conv_p {
    int filters, kernel[2], stride[2], pad[2], dilation[2], groups, bias, init;
    int wino; /* not a key: infer's choice of Winograd over im2col + GEMM */
    int dconv; /* not a key: infer's choice of the direct kernels (kernels/direct.h) */
} conv_p;

static const keyspec conv_keys[] = {
    {"filters", K_INT, offsetof(conv_p, filters), "0", 1, 1 << 16, NULL, "number of output channels (required)"},
    {"kernel", K_INT2, offsetof(conv_p, kernel), "3", 1, 256, NULL, "kernel size: k or [kh, kw]"},
    {"stride", K_INT2, offsetof(conv_p, stride), "1", 1, 256, NULL, "stride: s or [sh, sw]"},
    {"padding", K_PAD2, offsetof(conv_p, pad), "same", 0, 256, NULL,
     "same (keeps size at stride 1: dilation*(k-1)/2), valid (0), a number or [ph, pw]"},
    {"dilation", K_INT2, offsetof(conv_p, dilation), "1", 1, 64, NULL, "spacing between kernel taps"},
    {"groups", K_INT, offsetof(conv_p, groups), "1", 1, 1 << 16, NULL,
     "channel groups; groups = input channels = filters is depthwise"},
    {"bias", K_BOOL, offsetof(conv_p, bias), "true", 0, 0, NULL, "add a learned bias per filter (off before batchnorm)"},
    {"init", K_ENUM, offsetof(conv_p, init), "he", 0, 0, "he|glorot|lecun|torch", "weight initialisation: he normal sqrt(2/fan_in), glorot uniform, lecun normal sqrt(1/fan_in), torch uniform +-1/sqrt(fan_in)"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

/* Geometry shared by forward and backward. */
typedef struct geo {
    int C, H, W, OC, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G, Cg, OCg, Kg;
    int direct; /* 1x1, stride 1, no padding: the input is its own im2col */
} geo;

static geo conv_geo(const node *n) {
    const conv_p *p = n->p;
    geo g;
    g.C = n->ins[0].c; g.H = n->ins[0].h; g.W = n->ins[0].w;
    g.OC = p->filters; g.KH = p->kernel[0]; g.KW = p->kernel[1];
    g.SH = p->stride[0]; g.SW = p->stride[1]; g.DH = p->dilation[0]; g.DW = p->dilation[1];
    g.PH = p->pad[0] < 0 ? g.DH * (g.KH - 1) / 2 : p->pad[0];
    g.PW = p->pad[1] < 0 ? g.DW * (g.KW - 1) / 2 : p->pad[1];
    g.OH = (g.H + 2 * g.PH - g.DH * (g.KH - 1) - 1) / g.SH + 1;
    g.OW = (g.W + 2 * g.PW - g.DW * (g.KW - 1) - 1) / g.SW + 1;
    if (g.H + 2 * g.PH - g.DH * (g.KH - 1) - 1 < 0) g.OH = 0;
    if (g.W + 2 * g.PW - g.DW * (g.KW - 1) - 1 < 0) g.OW = 0;
    g.G = p->groups; g.Cg = g.C / g.G; g.OCg = g.OC / g.G; g.Kg = g.Cg * g.KH * g.KW;
    g.direct = g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0;
    return g;
}

/* The im2col area at the start of a thread's workspace (none for 1x1 stride-1). */
static size_t col_floats(const geo *g) { return g->direct ? 0 : (((size_t)g->Kg * g->OH * g->OW + 15) & ~(size_t)15); }

static size_t gemm_ws(const geo *g) {
    int hw = g->OH * g->OW;
    size_t a = sgemm_ws_floats(g->OCg, hw, g->Kg), b = sgemm_ws_floats(g->OCg, g->Kg, hw),
           c = sgemm_ws_floats(g->Kg, hw, g->OCg);
    if (b > a) a = b;
    if (c > a) a = c;
    return (a + 15) & ~(size_t)15;
}

/* Winograd runs 3x3 stride-1 kernels; CNN_CONV=winograd forces it on every such layer,
 * auto only where it measured faster: with a single input channel (a first layer) the
 * transforms cost more than the products they save. */
enum { WINO_MIN_CHANNELS = 8 };

static int use_winograd(const geo *g) {
    int algo = conv_algo_from_env();
    if (algo == CONV_GEMM || g->KH != 3 || g->KW != 3 || g->SH != 1 || g->SW != 1 || g->DH != 1 || g->DW != 1 ||
        g->G != 1)
        return 0;
    return algo == CONV_WINOGRAD || (g->C >= WINO_MIN_CHANNELS && g->OC >= WINO_MIN_CHANNELS);
}

static wino_shape wino_of(const geo *g) {
    wino_shape s;
    wino_shape_init(&s, g->C, g->H, g->W, g->OC, g->PH, g->PW);
    return s;
}

/* The direct kernels run stride-1, undilated, ungrouped layers of any kernel size; they
 * pay off where GEMM's matrices are thin: few im2col rows (C * KH * KW) give short inner
 * products and a packing pass as large as the products, few filters a GEMM of few rows.
 * CNN_CONV=direct forces them on every layer they can run; auto takes the layers Winograd
 * does not with at most DIRECT_MAX_CHANNELS input channels and either at most DIRECT_MAX_TAPS
 * weights per filter or at most DIRECT_MAX_FILTERS filters. Measured at batch 64 on one
 * thread (Zen 4): 1.5-2.5x faster than GEMM on N1's and N2's first layers and N1's 6 -> 16
 * 5x5, 1.3x on 3 -> 64 3x3 (32x32), 7 % slower forward on 6 -> 128 3x3 (14x14). */
enum { DIRECT_MAX_CHANNELS = 8, DIRECT_MAX_TAPS = 32, DIRECT_MAX_FILTERS = 32 };

static int direct_of(const geo *g, direct_shape *s) {
    return direct_shape_init(s, g->C, g->H, g->W, g->OC, g->KH, g->KW, g->PH, g->PH, g->PW, g->PW);
}

static int use_direct(const geo *g, int wino) {
    int algo = conv_algo_from_env();
    direct_shape s;
    if (wino || algo == CONV_GEMM || g->SH != 1 || g->SW != 1 || g->DH != 1 || g->DW != 1 || g->G != 1 ||
        direct_of(g, &s))
        return 0;
    return algo == CONV_DIRECT || (g->C <= DIRECT_MAX_CHANNELS && (g->Kg <= DIRECT_MAX_TAPS || g->OC <= DIRECT_MAX_FILTERS));
}

static int conv_infer(node *n, cnn_error *e) {
    conv_p *p = n->p;
    if (!p->filters) return node_fail(n, e, "'filters' is required");
    /* Weight sizes in 64 bits before any int arithmetic on them (conv_geo uses int). */
    int64_t kg = (int64_t)(n->ins[0].c / p->groups) * p->kernel[0] * p->kernel[1];
    if (kg > CNN_MAX_TENSOR || kg * p->filters > CNN_MAX_TENSOR)
        return node_fail(n, e, "%d filters of %lld weights exceed the tensor limit of %lld", p->filters,
                         (long long)kg, (long long)CNN_MAX_TENSOR);
    geo g = conv_geo(n);
    if (g.C % g.G || g.OC % g.G)
        return node_fail(n, e, "groups %d must divide both the input channels (%d) and filters (%d)", g.G, g.C, g.OC);
    if (g.OH < 1 || g.OW < 1)
        return node_fail(n, e, "a %dx%d kernel (dilation %d) does not fit the %dx%d input with padding %d",
                         g.KH, g.KW, g.DH, g.H, g.W, g.PH);
    n->out = (shape){g.OC, g.OH, g.OW};
    int wd[4] = {g.OC, g.Cg, g.KH, g.KW};
    tensor *w = node_tensor(n, "weight", T_PARAM, (tinit)(INIT_HE + p->init), 1, 4, wd);
    w->fan_in = g.Kg;
    w->fan_out = g.OCg * g.KH * g.KW;
    if (p->bias) node_tensor(n, "bias", T_PARAM, INIT_ZERO, 0, 1, &g.OC);
    int64_t colf = g.direct ? 0 : (int64_t)g.Kg * g.OH * g.OW;
    if (colf > CNN_MAX_TENSOR) return node_fail(n, e, "the im2col buffer of %lld values is too large", (long long)colf);
    n->bwd_store = 1; /* every path stores dx when it is the first writer (dx_fresh) */
    n->ws_floats = col_floats(&g) + gemm_ws(&g);
    p->wino = use_winograd(&g);
    n->xaff_ok = p->wino;
    if (p->wino) { /* per thread: U, dU, then the kernel's scratch; and inference's packed U */
        wino_shape s = wino_of(&g);
        n->ws_floats = 2 * wino_u_floats(&s) + wino_ws_floats(&s);
        n->wcache_floats = wino_u_floats(&s);
    }
    p->dconv = use_direct(&g, p->wino);
    if (p->dconv) { /* and a following relu: fwd applies it, bwd masks dy (direct_*_chunk) */
        n->own_act = 1;
        n->pool_ok = 1;
        direct_shape s;
        direct_of(&g, &s);
        n->ws_floats = direct_ws_floats(&s);
    }
    n->red_floats = RED_CHUNKS * (int64_t)(((size_t)w->count + (size_t)g.OC + 15) & ~(size_t)15);
    n->macs = (int64_t)g.OC * g.OH * g.OW * g.Kg;
    return 0;
}

typedef struct job { node *n; exec *x; geo g; int nchunks; } job;

/* A training pass that runs the paired batchnorm (node.bn) takes its plane sums of each
 * image right after making it, while the image is in this core's cache (the batchnorm then
 * skips its own pass). */
static int bn_sums_wanted(const node *n, const exec *x) {
    return n->bn && x->training && n->bn->index <= x->last;
}

static void bn_sums(const node *n, const exec *x, int64_t lo, int64_t hi) {
    if (bn_sums_wanted(n, x)) batchnorm_stats(n->bn, n->y, lo, hi);
}

static void bn_sums_range(void *arg, int64_t lo, int64_t hi) {
    const node *n = arg;
    batchnorm_stats(n->bn, n->y, lo, hi);
}

/* The weights and bias a forward pass uses: with a batchnorm folded in for inference. */
static void fwd_params(const node *n, const exec *x, const float **wt, const float **bias) {
    *wt = n->t[0].data;
    *bias = n->nt > 1 ? n->t[1].data : NULL;
    if (!x->training && n->fold) {
        *wt = n->fold_w;
        *bias = n->fold_w + n->t[0].count;
    }
}

/* Adds the bias gradient of images [lo, hi) into db, image by image. */
static void bias_grad(const float *dy, int64_t lo, int64_t hi, int OC, int hw, float *db) {
    for (int64_t b = lo; b < hi; b++)
        for (int oc = 0; oc < OC; oc++) db[oc] += reduce_sum(dy + (b * OC + oc) * (int64_t)hw, hw);
}

/* One image per chunk: outputs of different images never mix, so any thread may take any. */
static void fwd_image(void *arg, int64_t b, int ith) {
    job *j = arg;
    const geo *g = &j->g;
    node *n = j->n;
    float *ws = exec_ws(j->x, ith);
    float *col = ws;
    float *gws = ws + col_floats(g);
    const float *wt, *bias;
    fwd_params(n, j->x, &wt, &bias);
    int hw = g->OH * g->OW;
    {
        const float *xb = n->x[0] + b * (int64_t)g->C * g->H * g->W;
        float *yb = n->y + b * (int64_t)g->OC * hw;
        for (int gr = 0; gr < g->G; gr++) {
            const float *xg = xb + (int64_t)gr * g->Cg * g->H * g->W;
            const float *src = xg;
            if (!g->direct) {
                im2col(j->x->simd, xg, g->Cg, g->H, g->W, g->KH, g->KW, g->SH, g->SW, g->PH, g->PW, g->DH, g->DW,
                       g->OH, g->OW, col);
                src = col;
            }
            sgemm(j->x->simd, 0, 0, g->OCg, hw, g->Kg, 1.0f, wt + (int64_t)gr * g->OCg * g->Kg, g->Kg, src, hw, 0.0f,
                  yb + (int64_t)gr * g->OCg * hw, hw, gws);
        }
        if (bias)
            for (int oc = 0; oc < g->OC; oc++) {
                float *yc = yb + (int64_t)oc * hw, bv = bias[oc];
                for (int i = 0; i < hw; i++) yc[i] += bv;
            }
    }
    bn_sums(n, j->x, b, b + 1);
}

/* Fewer images than threads (batch-1 inference): each image's columns are laid out once,
 * in the column area of workspace slot b, then the output channels of every image are cut
 * into blocks any thread may take, each using its own GEMM packing area. */

static void col_image(void *arg, int64_t b, int ith) {
    (void)ith;
    job *j = arg;
    const geo *g = &j->g;
    im2col(j->x->simd, j->n->x[0] + b * (int64_t)g->C * g->H * g->W, g->C, g->H, g->W, g->KH, g->KW, g->SH, g->SW,
           g->PH, g->PW, g->DH, g->DW, g->OH, g->OW, exec_ws(j->x, (int)b));
}

static void fwd_block(void *arg, int64_t c, int ith) {
    job *j = arg;
    const geo *g = &j->g;
    node *n = j->n;
    int64_t b = c / j->nchunks, m0, m1;
    split_range(g->OC / 8, (int)(c % j->nchunks), j->nchunks, &m0, &m1); /* in rows of 8 */
    m0 *= 8;
    m1 = m1 * 8 > g->OC || (c % j->nchunks) == j->nchunks - 1 ? g->OC : m1 * 8;
    if (m1 <= m0) return;
    const float *wt, *bias;
    fwd_params(n, j->x, &wt, &bias);
    int hw = g->OH * g->OW;
    const float *src = g->direct ? n->x[0] + b * (int64_t)g->C * g->H * g->W : exec_ws(j->x, (int)b);
    float *yb = n->y + b * (int64_t)g->OC * hw;
    sgemm(j->x->simd, 0, 0, (int)(m1 - m0), hw, g->Kg, 1.0f, wt + m0 * g->Kg, g->Kg, src, hw, 0.0f, yb + m0 * hw, hw,
          exec_ws(j->x, ith) + col_floats(g));
    if (bias)
        for (int64_t oc = m0; oc < m1; oc++) {
            float *yc = yb + oc * hw, bv = bias[oc];
            for (int i = 0; i < hw; i++) yc[i] += bv;
        }
}

static size_t slot_floats(const node *n) { return ((size_t)n->t[0].count + (size_t)n->out.c + 15) & ~(size_t)15; }

/* Backward groups of the Winograd and direct paths have fixed costs of their own (see
 * conv_bwd), so they are made at least this large, still from the batch size alone. */
enum { WINO_GROUP_TILES = 64, DIRECT_GROUP_POSITIONS = 1600 };

/* At most nchunks groups of n images, fewer while a group would hold less than `least`
 * units of work at `per` units an image. */
static int groups_of_at_least(int64_t n, int nchunks, int64_t per, int64_t least) {
    while (nchunks > 1 && n / nchunks * per < least) nchunks--;
    return nchunks;
}

/* Group c of the nchunks fixed groups of images of a backward pass: its images [*lo, *hi)
 * and its slot of partial weight gradients (the bias gradients after them), cleared. */
static float *group_slot(node *n, const exec *x, int64_t c, int nchunks, int64_t *lo, int64_t *hi) {
    split_range(x->n, (int)c, nchunks, lo, hi);
    float *dwp = n->red + (size_t)c * slot_floats(n);
    memset(dwp, 0, ((size_t)n->t[0].count + (size_t)n->out.c) * sizeof(float));
    return dwp;
}

/* Work a thread does once per call in its own workspace (laying out or transforming the
 * weights), on its first chunk: ready[ith] says it is done; threads past PREP_THREADS redo
 * it every chunk. */
enum { PREP_THREADS = 64 };

static int first_chunk(unsigned char *ready, int ith) {
    if (ith >= PREP_THREADS) return 1;
    if (ready[ith]) return 0;
    ready[ith] = 1;
    return 1;
}

/* Direct kernels: one image per forward chunk, each thread laying out the weights on its
 * first chunk; backward takes the fixed groups of images of bwd_chunk. */
typedef struct djob {
    node *n;
    exec *x;
    direct_shape s;
    const float *wt, *bias;
    int nchunks;
    unsigned char ready[PREP_THREADS];
} djob;

static void direct_fwd_chunk(void *arg, int64_t b, int ith) {
    djob *j = arg;
    const direct_shape *s = &j->s;
    float *ws = exec_ws(j->x, ith);
    if (first_chunk(j->ready, ith)) direct_fwd_prep(j->x->simd, s, j->wt, ws);
    direct_fwd(j->x->simd, s, j->n->x[0] + (size_t)b * s->C * s->H * s->W, 1, j->bias, j->n->act == ACT_RELU,
               j->n->y + (size_t)b * s->OC * s->OH * s->OW, ws);
    bn_sums(j->n, j->x, b, b + 1);
    if (j->n->pool) maxpool_in_conv_fwd(j->n->pool, j->n->y, b, b + 1, j->x->training, j->x->simd); /* while hot */
}

static void direct_bwd_chunk(void *arg, int64_t c, int ith) {
    djob *j = arg;
    const direct_shape *s = &j->s;
    node *n = j->n;
    int64_t lo, hi;
    float *dwp = group_slot(n, j->x, c, j->nchunks, &lo, &hi), *dbp = dwp + n->t[0].count;
    size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->OC * s->OH * s->OW;
    if (n->bn) batchnorm_dx(n->bn, lo, hi); /* the group's dy, read next */
    if (n->pool) maxpool_in_conv_bwd(n->pool, n->dy, lo, hi, j->x->simd); /* the group's dy, read next */
    /* the executor's mask of a fused relu, done on the group's images as they are about to be read */
    if (n->act == ACT_RELU && !n->dy_masked) relu_mask(n->dy + lo * ys, n->y + lo * ys, (hi - lo) * (int64_t)ys);
    float *dx = n->dx[0] ? n->dx[0] + lo * xs : NULL;
    if (dx && n->dx_fresh) memset(dx, 0, (size_t)(hi - lo) * xs * sizeof *dx); /* the group's own, while hot */
    direct_bwd(j->x->simd, s, n->t[0].data, n->x[0] + lo * xs, n->dy + lo * ys, (int)(hi - lo), dwp,
               n->nt > 1 ? dbp : NULL, dx, exec_ws(j->x, ith));
}

/* Winograd: at inference every thread reads the node's cached packed U (up); otherwise
 * each thread transforms the weights into its own U on its first chunk. */
typedef struct wjob {
    node *n;
    exec *x;
    wino_shape s;
    const float *wt, *bias;
    const float *up; /* the shared packed U, or NULL */
    int bwd;         /* the thread's own U is packed for backward's products, not forward's */
    int nchunks;
    unsigned char uready[PREP_THREADS];
} wjob;

/* The thread's packed U at the start of its workspace, made in the dU area first (which
 * backward's products then overwrite). */
static const float *wino_u(wjob *j, int ith) {
    if (j->up) return j->up;
    float *U = exec_ws(j->x, ith);
    if (first_chunk(j->uready, ith)) {
        float *raw = U + wino_u_floats(&j->s);
        wino_weights(j->wt, j->s.OC, j->s.C, raw);
        if (j->bwd) wino_pack_ut(j->x->simd, &j->s, raw, U);
        else wino_pack_u(j->x->simd, &j->s, raw, U);
    }
    return U;
}

/* Inference: the packed U is remade only when the parameters (or the SIMD level) changed
 * since it was made, so a batch-1 forward skips the weight transform and the packing of
 * U (36 OC x C matrices, 590 KB for 64 channels). Made on the caller's thread, in thread
 * 0's dU area, before any chunk runs. */
static void wino_cache(node *n, exec *x, wjob *j) {
    if (n->wcache_simd != x->simd || n->wcache_version != x->version) {
        float *raw = exec_ws(x, 0) + wino_u_floats(&j->s);
        wino_weights(j->wt, j->s.OC, j->s.C, raw);
        wino_pack_u(x->simd, &j->s, raw, n->wcache);
        n->wcache_simd = x->simd;
        n->wcache_version = x->version;
    }
    j->up = n->wcache;
}

/* In training, the terms (into t) of a batchnorm before the conv that writes no output
 * (node.xbn), for images from b0 on; NULL when the conv reads its input as it is. */
static const wino_x_affine *x_terms(node *n, const exec *x, int64_t b0, wino_x_affine *t) {
    if (!x->training || !n->xbn) return NULL;
    batchnorm_x_terms(n->xbn, b0, t);
    return t;
}

/* Chunk b is images [b*ipb, (b+1)*ipb): fixed blocks whatever the thread count. */
static void wino_fwd_chunk(void *arg, int64_t b, int ith) {
    wjob *j = arg;
    const wino_shape *s = &j->s;
    const float *Up = wino_u(j, ith);
    int b0 = (int)b * s->ipb, nb = j->x->n - b0 < s->ipb ? j->x->n - b0 : s->ipb;
    wino_x_affine xa;
    wino_fwd(j->x->simd, s, Up, j->n->x[0] + (size_t)b0 * s->C * s->H * s->W, x_terms(j->n, j->x, b0, &xa), nb,
             j->bias, j->n->y + (size_t)b0 * s->OC * s->OH * s->OW, exec_ws(j->x, ith) + 2 * wino_u_floats(s));
    bn_sums(j->n, j->x, b0, b0 + nb);
}

static void wino_bwd_chunk(void *arg, int64_t c, int ith) {
    wjob *j = arg;
    const wino_shape *s = &j->s;
    node *n = j->n;
    int64_t lo, hi;
    float *dwp = group_slot(n, j->x, c, j->nchunks, &lo, &hi), *dbp = dwp + n->t[0].count;
    float *ws = exec_ws(j->x, ith), *dU = ws + wino_u_floats(s);
    const float *Ut = n->dx[0] ? wino_u(j, ith) : NULL; /* U^T packed, at ws */
    size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->OC * s->OH * s->OW;
    /* A paired batchnorm's input gradient, this conv's dy, is made as the transforms read it
     * and never stored (it was a pass writing and one reading the whole of dy), unless a bias
     * gradient needs it; or made for the group's images right before they are read. */
    wino_dy_affine aff;
    int made = n->bn && n->nt == 1 && batchnorm_dx_terms(n->bn, lo, &aff);
    if (n->bn && !made) batchnorm_dx(n->bn, lo, hi);
    wino_x_affine xa;
    wino_bwd(j->x->simd, s, Ut, n->x[0] + lo * xs, x_terms(n, j->x, lo, &xa), made ? NULL : n->dy + lo * ys,
             (int)(hi - lo), dU, n->dx[0] ? n->dx[0] + lo * xs : NULL, n->dx_fresh & 1, made ? &aff : NULL,
             ws + 2 * wino_u_floats(s));
    wino_dweights(dU, s->OC, s->C, dwp);
    if (n->nt > 1) bias_grad(n->dy, lo, hi, s->OC, s->OH * s->OW, dbp);
}

static void conv_fwd(node *n, exec *x) {
    const conv_p *p = n->p;
    if (p->wino) {
        geo g = conv_geo(n);
        wjob j = {.n = n, .x = x, .s = wino_of(&g)};
        fwd_params(n, x, &j.wt, &j.bias);
        if (!x->training && n->wcache) wino_cache(n, x, &j);
        pool_chunks(x->pool, (x->n + j.s.ipb - 1) / j.s.ipb, wino_fwd_chunk, &j);
        return;
    }
    if (p->dconv) {
        geo g = conv_geo(n);
        djob j = {.n = n, .x = x};
        direct_of(&g, &j.s);
        fwd_params(n, x, &j.wt, &j.bias);
        pool_chunks(x->pool, x->n, direct_fwd_chunk, &j);
        return;
    }
    job j = {n, x, conv_geo(n), 0};
    if (x->n >= x->nth || j.g.G != 1 || j.g.OC < 16) {
        pool_chunks(x->pool, x->n, fwd_image, &j);
        return;
    }
    if (!j.g.direct) pool_chunks(x->pool, x->n, col_image, &j);
    j.nchunks = 2 * x->nth < j.g.OC / 8 ? 2 * x->nth : j.g.OC / 8;
    pool_chunks(x->pool, (int64_t)x->n * j.nchunks, fwd_block, &j);
    /* blocks of output channels: the sums once the images are whole */
    if (bn_sums_wanted(n, x)) exec_for(x, x->n, (int64_t)j.g.OC * j.g.OH * j.g.OW, bn_sums_range, n);
}

/* Backward of a fixed group of images: weight and bias gradients into the group's slot,
 * input gradients straight into dx (images do not share dx). */
static void bwd_chunk(void *arg, int64_t c, int ith) {
    job *j = arg;
    const geo *g = &j->g;
    node *n = j->n;
    int64_t lo, hi;
    float *dwp = group_slot(n, j->x, c, j->nchunks, &lo, &hi), *dbp = dwp + n->t[0].count;
    float *ws = exec_ws(j->x, ith);
    float *col = ws, *gws = ws + col_floats(g);
    const float *wt = n->t[0].data;
    int hw = g->OH * g->OW;
    if (n->bn) batchnorm_dx(n->bn, lo, hi); /* the group's dy, read next */
    for (int64_t b = lo; b < hi; b++) {
        const float *xb = n->x[0] + b * (int64_t)g->C * g->H * g->W;
        const float *dyb = n->dy + b * (int64_t)g->OC * hw;
        float *dxb = n->dx[0] ? n->dx[0] + b * (int64_t)g->C * g->H * g->W : NULL;
        for (int gr = 0; gr < g->G; gr++) {
            const float *xg = xb + (int64_t)gr * g->Cg * g->H * g->W;
            const float *dyg = dyb + (int64_t)gr * g->OCg * hw;
            const float *wg = wt + (int64_t)gr * g->OCg * g->Kg;
            const float *src = xg;
            if (!g->direct) {
                im2col(j->x->simd, xg, g->Cg, g->H, g->W, g->KH, g->KW, g->SH, g->SW, g->PH, g->PW, g->DH, g->DW,
                       g->OH, g->OW, col);
                src = col;
            }
            sgemm(j->x->simd, 0, 1, g->OCg, g->Kg, hw, 1.0f, dyg, hw, src, hw, 1.0f, dwp + (int64_t)gr * g->OCg * g->Kg,
                  g->Kg, gws);
            if (!dxb) continue;
            float *dxg = dxb + (int64_t)gr * g->Cg * g->H * g->W;
            if (g->direct) {
                sgemm(j->x->simd, 1, 0, g->Kg, hw, g->OCg, 1.0f, wg, g->Kg, dyg, hw, n->dx_fresh ? 0.0f : 1.0f, dxg,
                      hw, gws);
            } else {
                if (n->dx_fresh) memset(dxg, 0, (size_t)g->Cg * g->H * g->W * sizeof *dxg);
                sgemm(j->x->simd, 1, 0, g->Kg, hw, g->OCg, 1.0f, wg, g->Kg, dyg, hw, 0.0f, col, hw, gws);
                col2im_add(j->x->simd, col, g->Cg, g->H, g->W, g->KH, g->KW, g->SH, g->SW, g->PH, g->PW, g->DH,
                           g->DW, g->OH, g->OW, dxg);
            }
        }
    }
    if (n->nt > 1) bias_grad(n->dy, lo, hi, g->OC, hw, dbp);
}

/* Adds the groups' partial sums into the gradients, each element in group order. */
static void reduce_range(void *arg, int64_t lo, int64_t hi) {
    job *j = arg;
    node *n = j->n;
    int64_t nw = n->t[0].count;
    size_t stride = slot_floats(n);
    for (int c = 0; c < j->nchunks; c++) {
        const float *part = n->red + (size_t)c * stride;
        for (int64_t i = lo; i < hi && i < nw; i++) n->t[0].grad[i] += part[i];
        if (n->nt > 1)
            for (int64_t i = lo > nw ? lo : nw; i < hi; i++) n->t[1].grad[i - nw] += part[i];
    }
}

static void conv_bwd(node *n, exec *x) {
    job j = {n, x, conv_geo(n), x->n < RED_CHUNKS ? x->n : RED_CHUNKS};
    const conv_p *p = n->p;
    if (p->wino) {
        wjob w = {.n = n, .x = x, .s = wino_of(&j.g), .wt = n->t[0].data, .bwd = 1};
        /* Each group makes, transforms and sums its own 36 x OC x C dU: on small maps
         * (N3's 8x8 stage, 64 channels: 590 KB for 32 tiles an image block) groups of 8
         * images spent a fifth of their time on that (1.67 ms per 32 images, 1.30 in groups
         * of 16). Groups get WINO_GROUP_TILES tiles or more; still fixed by the batch alone. */
        w.nchunks = j.nchunks = groups_of_at_least(x->n, j.nchunks, w.s.tpi, WINO_GROUP_TILES);
        pool_chunks(x->pool, j.nchunks, wino_bwd_chunk, &w);
    } else if (p->dconv) {
        djob d = {.n = n, .x = x};
        direct_of(&j.g, &d.s);
        /* A group also lays out its planes and weights and reduces its lane sums: LeNet's
         * second layer (100 positions an image) took 0.443 ms per 32 images in groups of
         * 8, 0.423 in groups of 16. */
        d.nchunks = j.nchunks = groups_of_at_least(x->n, j.nchunks, (int64_t)d.s.OH * d.s.OW, DIRECT_GROUP_POSITIONS);
        pool_chunks(x->pool, j.nchunks, direct_bwd_chunk, &d);
    } else {
        pool_chunks(x->pool, j.nchunks, bwd_chunk, &j);
    }
    exec_for(x, n->t[0].count + (n->nt > 1 ? j.g.OC : 0), (int64_t)j.nchunks, reduce_range, &j);
}

const layer_ops layer_conv = {"conv", "2-D convolution: filters sliding over the image", conv_keys, sizeof(conv_p),
                              1, 1, conv_infer, conv_fwd, conv_bwd};
