/* exec.c - running the graph: the activation memory plan, forward and backward.
 *
 * Memory plan: every buffer a step needs (outputs, saved values, output gradients) gets a
 * lifetime on a timeline where forward of node i is time i and backward of node i is time
 * 2*nn-1-i; buffers whose lifetimes do not overlap share arena space (first fit, largest
 * first). So inference reuses activations layer to layer, and training keeps only two
 * gradient buffers of a chain alive at once. Nothing is allocated during a step. */
#include "graph.h"
#include "../core/err.h"
#include "../core/util.h"
#include "../kernels/cpu.h"
#include "../kernels/gemm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int graph_set_threads(graph *g, int threads, cnn_error *e) {
    if (threads <= 0) threads = cpu_count();
    if (threads > 256) threads = 256;
    if (g->pool && pool_size(g->pool) == threads) return 0;
    pool_destroy(g->pool);
    g->pool = pool_create(threads);
    if (!g->pool) return cnn_fail(e, CNN_ERR_RUNTIME, "cannot start %d threads", threads);
    g->nth = threads;
    g->cap = 0; /* workspace is per thread: replan */
    return 0;
}

typedef struct buf {
    size_t floats;
    int t0, t1;     /* live during [t0, t1] */
    size_t off;
    float **dst;    /* where to store the pointer */
} buf;

static int by_size_desc(const void *a, const void *b) {
    const buf *x = a, *y = b;
    return (x->floats < y->floats) - (x->floats > y->floats);
}

/* First-fit placement; returns the arena size in floats. */
static size_t plan(buf *b, int nb) {
    qsort(b, (size_t)nb, sizeof *b, by_size_desc);
    size_t total = 0;
    for (int i = 0; i < nb; i++) {
        size_t off = 0;
        for (int again = 1; again;) {
            again = 0;
            for (int j = 0; j < i; j++) {
                if (b[j].t1 < b[i].t0 || b[i].t1 < b[j].t0) continue;
                if (off + b[i].floats <= b[j].off || b[j].off + b[j].floats <= off) continue;
                off = b[j].off + b[j].floats;
                again = 1;
            }
        }
        b[i].off = off;
        if (off + b[i].floats > total) total = off + b[i].floats;
    }
    return total;
}

/* The node whose buffers node i uses: itself, or for a fused relu its producer, or in an
 * inference plan for a folded batchnorm its conv. */
static int owner(const graph *g, int i, int eval) {
    for (;;) {
        const node *n = &g->nodes[i];
        if (n->alias) i = n->alias;
        else if (eval && n->folded_into) i = n->folded_into;
        else return i;
    }
}

int graph_reserve(graph *g, int batch, int training, cnn_error *e) {
    if (!g->pool && graph_set_threads(g, 0, e)) return e ? e->code : CNN_ERR_RUNTIME;
    if (training && graph_alloc_grads(g, e)) return e ? e->code : CNN_ERR_RUNTIME;
    if (batch <= g->cap && (!training || g->training_cap) && (training || g->eval_plan)) return 0;
    int eval = !training;
    /* Inference's caches made from the parameters, each marked never made. */
    for (int i = 1; eval && i < g->nn; i++) {
        node *c = &g->nodes[i];
        if (c->fold && !c->fold_w) {
            c->fold_w = malloc(((size_t)c->t[0].count + (size_t)c->out.c) * sizeof(float));
            if (!c->fold_w) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
            c->fold_version = ~(uint64_t)0; /* differs from any version */
        }
        if (c->wcache_floats && !c->wcache) {
            size_t bytes;
            if (!size_mul(c->wcache_floats, sizeof(float), &bytes) || !(c->wcache = aligned_alloc64(bytes)))
                return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
            c->wcache_simd = -1; /* differs from any level */
        }
    }
    int nn = g->nn, T = 2 * nn;
    buf *b = calloc((size_t)nn * 4, sizeof *b);
    if (!g->zeroed) g->zeroed = calloc((size_t)nn, 1);
    if (!b || !g->zeroed) { free(b); return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); }
    int nb = 0;
    size_t ws = 0;
    for (int i = 1; i < nn; i++) {
        node *n = &g->nodes[i];
        if (n->ws_floats > ws) ws = n->ws_floats;
        if (owner(g, i, eval) != i) continue; /* shares its producer's buffers */
        size_t per = (size_t)shape_size(n->out), floats;
        if (!size_mul(per, (size_t)batch, &floats)) goto toobig;
        floats = (floats + 15) & ~(size_t)15;
        int last_use = i;
        for (int j = i + 1; j < nn; j++)
            for (int k = 0; k < g->nodes[j].nin; k++) {
                int src = g->nodes[j].in[k];
                if (src > 0 && owner(g, src, eval) == i) last_use = j > last_use ? j : last_use;
            }
        if (owner(g, nn - 1, eval) == i) last_use = T;
        if (i == nn - 1) last_use = T; /* the output is read after the pass */
        /* A max pool run by its conv (node.pool) writes y and saved in the conv's forward and
         * reads dy and saved in the conv's backward: its buffers live from and until then. An
         * add whose sum its batchnorm writes (res_fused) has y from the node before it. */
        int at = n->pool_fused ? g->nodes[n->in[0]].alias : n->res_fused ? i - 1 : i;
        b[nb++] = (buf){floats, at, training ? T - 1 - i : last_use, 0, &n->y};
        if (training) {
            int first_bwd = T - 1 - last_use;
            if (i == nn - 1) first_bwd = nn - 1;
            /* a batchnorm paired with its conv: its sums are taken in the conv's forward, its
             * dy and coefficients read in the conv's backward */
            int from = n->paired ? n->in[0] : at, bwd_end = T - 1 - from;
            b[nb++] = (buf){floats, first_bwd, bwd_end, 0, &n->dy};
            size_t sv;
            if (!size_mul((size_t)n->saved_floats, (size_t)batch, &sv) || !size_add(sv, (size_t)n->saved_fixed, &sv))
                goto toobig;
            if (sv) b[nb++] = (buf){(sv + 15) & ~(size_t)15, from, bwd_end, 0, &n->saved};
            else n->saved = NULL;
            if (n->red_floats) b[nb++] = (buf){((size_t)n->red_floats + 15) & ~(size_t)15, T - 1 - i, T - 1 - i, 0, &n->red};
            else n->red = NULL;
        } else {
            n->dy = NULL;
            size_t sv = (size_t)n->saved_fixed;
            if (sv) b[nb++] = (buf){(sv + 15) & ~(size_t)15, i, i, 0, &n->saved};
            else n->saved = NULL;
        }
    }
    /* Activation sizes are often multiples of 4 KiB, which would put a layer's input and
     * output at the same offset within a page, where loads can falsely wait on stores to the
     * other buffer (4K aliasing). A different odd number of cache lines of padding per
     * buffer keeps them apart; a precaution that costs a few KB (no effect was measurable on
     * Zen 4, the slow batchnorm that prompted it turned out to be a mispredicted branch). */
    for (int i = 0; i < nb; i++) b[i].floats += 16 * (size_t)(2 * (i % 31) + 1);
    size_t total = plan(b, nb);
    size_t bytes;
    if (!size_mul(total, sizeof(float), &bytes)) goto toobig;
    float *arena = aligned_alloc64(bytes);
    ws = (ws + 15) & ~(size_t)15;
    size_t wsb;
    if (!size_mul(ws * sizeof(float), (size_t)g->nth, &wsb)) { free(arena); goto toobig; }
    float *w = aligned_alloc64(wsb);
    if (!arena || !w) {
        free(arena);
        free(w);
        free(b);
        return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory for activations of batch %d (%zu MB)", g->file, batch,
                        bytes >> 20);
    }
    free(g->arena);
    free(g->ws);
    g->arena = arena;
    g->arena_floats = total;
    g->ws = w;
    g->ws_stride = ws;
    for (int i = 0; i < nb; i++) *b[i].dst = arena + b[i].off;
    for (int i = 1; i < nn; i++) {
        int o = owner(g, i, eval);
        if (o == i) continue;
        node *a = &g->nodes[i], *p = &g->nodes[o];
        a->y = p->y;
        a->dy = training ? p->dy : NULL;
        a->saved = NULL;
    }
    free(b);
    g->cap = batch;
    g->training_cap = training;
    g->eval_plan = eval;
    return 0;
toobig:
    free(b);
    return cnn_fail(e, CNN_ERR_CONFIG, "%s: activations of batch %d overflow the address space", g->file, batch);
}

static void bind_inputs(graph *g, node *n, const float *x) {
    if (!x) x = g->input;
    for (int k = 0; k < n->nin; k++) {
        int i = n->in[k];
        n->x[k] = i == 0 ? x : g->nodes[i].y;
        n->dx[k] = i == 0 ? g->dinput : g->nodes[i].dy;
    }
}

typedef struct act_job { float *v; const float *y; } act_job;

/* Written as unconditional selects so they compile to vector code: an in-place
 * "if (v < 0) v = 0" becomes a branch that mispredicts on half the values (measured 10x
 * slower). t < 0 ? 0 : t also lets NaN through, so divergence is still seen downstream. */
static void relu_range(void *arg, int64_t lo, int64_t hi) {
    float *restrict v = ((act_job *)arg)->v;
    for (int64_t i = lo; i < hi; i++) {
        float t = v[i];
        v[i] = t < 0.0f ? 0.0f : t;
    }
}

static void relu_mask_range(void *arg, int64_t lo, int64_t hi) {
    act_job *j = arg;
    relu_mask(j->v + lo, j->y + lo, hi - lo);
}

static exec make_exec(graph *g, int n, int training, uint64_t seed, uint64_t step) {
    exec x = {.n = n, .training = training, .pool = g->pool, .nth = pool_size(g->pool), .simd = g->simd,
              .ws = g->ws, .ws_stride = g->ws_stride, .seed = seed, .step = step, .version = g->version,
              .last = g->nn - 1};
    return x;
}

/* Folds batchnorm b into conv c for inference: w' = w * s, b' = (b - mean) * s + beta with
 * s = gamma / sqrt(var + eps), per output channel. */
static void refold(graph *g, node *c) {
    node *bn = &g->nodes[c->fold];
    const float *gamma = bn->t[0].data, *beta = bn->t[1].data, *rm = bn->t[2].data, *rv = bn->t[3].data;
    double eps = batchnorm_eps(bn);
    int OC = c->out.c;
    int64_t per = c->t[0].count / OC;
    float *w = c->fold_w, *b = c->fold_w + c->t[0].count;
    for (int o = 0; o < OC; o++) {
        double s = gamma[o] / sqrt((double)rv[o] + eps);
        for (int64_t k = 0; k < per; k++) w[o * per + k] = (float)(c->t[0].data[o * per + k] * s);
        double bias = c->nt > 1 ? c->t[1].data[o] : 0;
        b[o] = (float)((bias - rm[o]) * s + beta[o]);
    }
    c->fold_version = g->version;
}

static const float *forward(graph *g, const float *x, int n, int training, uint64_t seed, uint64_t step, int last);

/* Whether node i is an add whose sum the batchnorm before it writes in this pass: that
 * batchnorm runs (in evaluation it may be folded into its conv instead). */
static int add_done_before(const graph *g, int i, int training) {
    return g->nodes[i].res_fused && (training || !g->nodes[i - 1].folded_into);
}

/* Binds node nd's inputs for its forward call, and those of the add it writes for. */
static void bind_fwd(graph *g, node *nd, const float *x) {
    bind_inputs(g, nd, x);
    if (nd->res_add) bind_inputs(g, nd->res_add, x);
}

/* A node's forward call and the relu it was given but does not apply itself. */
static void node_fwd(node *nd, exec *ex) {
    nd->ops->fwd(nd, ex);
    if (nd->act == ACT_RELU && !nd->own_act) {
        act_job j = {nd->y, NULL};
        exec_for(ex, (int64_t)ex->n * shape_size(nd->out), 1, relu_range, &j);
    }
}

const float *graph_forward(graph *g, const float *x, int n, int training, uint64_t seed, uint64_t step) {
    return forward(g, x, n, training, seed, step, g->nn - 1);
}

void graph_forward_upto(graph *g, const float *x, int n, int last) { forward(g, x, n, 0, 0, 0, last); }

static const float *forward(graph *g, const float *x, int n, int training, uint64_t seed, uint64_t step, int last) {
    exec ex = make_exec(g, n, training, seed, step);
    ex.last = last;
    g->input = x;
    if (training) g->version++; /* batchnorm running statistics move */
    for (int i = 1; i <= last; i++) {
        node *nd = &g->nodes[i];
        if (nd->alias || nd->pool_fused) continue; /* a fused pool runs in its conv's chunks */
        if (add_done_before(g, i, training)) continue;
        if (!training && nd->fold && nd->fold_version != g->version) refold(g, nd);
        if (!training && nd->folded_into) { /* the conv did its work; only its relu is left */
            if (nd->act == ACT_RELU) {
                act_job j = {nd->y, NULL};
                exec_for(&ex, (int64_t)n * shape_size(nd->out), 1, relu_range, &j);
            }
            continue;
        }
        bind_fwd(g, nd, x);
        double t0 = g->tfwd ? now_seconds() : 0;
        node_fwd(nd, &ex);
        if (g->tfwd) g->tfwd[i] += now_seconds() - t0;
    }
    return g->nodes[last].y;
}

/* Backward from the last node down to node stop: nodes after it run in full; stop gets
 * its inputs bound, its relu mask applied and its input gradients cleared or marked as
 * stored, but its own backward is left to the caller (stop = 0: every node runs). */
static void backward_to(graph *g, const float *dout, int n, uint64_t seed, uint64_t step, int stop) {
    exec ex = make_exec(g, n, 1, seed, step);
    memset(g->grads, 0, (size_t)g->nparams * sizeof(float));
    char *zeroed = g->zeroed;
    memset(zeroed, 0, (size_t)g->nn);
    node *last = &g->nodes[g->nn - 1];
    memcpy(last->dy, dout, (size_t)n * (size_t)shape_size(last->out) * sizeof(float));
    if (g->dinput) memset(g->dinput, 0, (size_t)n * (size_t)shape_size(g->nodes[0].out) * sizeof(float));
    zeroed[g->nn - 1] = 1;
    for (int i = g->nn - 1; i >= 1 && i >= stop; i--) {
        node *nd = &g->nodes[i];
        if (nd->alias) continue; /* its consumers wrote straight into its producer's gradient */
        bind_inputs(g, nd, NULL);
        if (nd->act == ACT_RELU && !nd->own_act && !nd->dy_masked) {
            act_job j = {nd->dy, nd->y};
            exec_for(&ex, (int64_t)n * shape_size(nd->out), 2, relu_mask_range, &j);
        }
        nd->dx_fresh = 0;
        for (int k = 0; k < nd->nin; k++) {
            int j = nd->in[k];
            if (j == 0 || zeroed[j]) continue;
            zeroed[j] = 1;
            if (nd->bwd_store) { nd->dx_fresh |= 1 << k; continue; } /* it stores, not adds */
            memset(g->nodes[j].dy, 0, (size_t)n * (size_t)shape_size(g->nodes[j].out) * sizeof(float));
        }
        if (nd->pool_fused || i == stop) continue; /* a fused pool is run by its conv */
        double t0 = g->tbwd ? now_seconds() : 0;
        nd->ops->bwd(nd, &ex);
        if (g->tbwd) g->tbwd[i] += now_seconds() - t0;
    }
}

void graph_backward(graph *g, const float *dout, int n, uint64_t seed, uint64_t step) {
    backward_to(g, dout, n, seed, step, 0);
}

static int cmp_seconds(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double graph_node_seconds(graph *g, const float *x, const float *dout, int n, int i, int backward, double seconds) {
    node *nd = &g->nodes[i];
    if (i < 1 || i >= g->nn || nd->alias || nd->pool_fused || (!backward && add_done_before(g, i, 1))) return 0;
    /* A batchnorm paired with its conv (node.bn) is timed as two layers: the conv's kernels
     * alone, the batchnorm with its own passes. */
    node *bn = nd->bn ? nd->bn : nd->paired ? nd : NULL;
    if (bn) bn->paired = 0, g->nodes[bn->in[0]].bn = NULL;
    /* and a batchnorm whose output its conv makes (node.xbn): each with its own passes */
    node *xc = nd->xbn ? nd : nd->xtwin, *xb = xc ? xc->xbn : NULL;
    if (xc) xc->xbn = NULL, xb->xtwin = NULL;
    forward(g, x, n, 1, 1, 0, backward ? g->nn - 1 : i - 1);
    if (backward) backward_to(g, dout, n, 1, 0, i);
    else bind_fwd(g, nd, x);
    exec ex = make_exec(g, n, 1, 1, 0);
    enum { MAXCALLS = 256 };
    double t[MAXCALLS], start = now_seconds();
    int calls = 0;
    /* the first call warms the caches and is not counted */
    for (int c = -1; c < MAXCALLS && (c < 3 || now_seconds() - start < seconds); c++) {
        double t0 = now_seconds();
        if (backward) nd->ops->bwd(nd, &ex);
        else node_fwd(nd, &ex);
        if (c >= 0) t[calls++] = now_seconds() - t0;
    }
    qsort(t, (size_t)calls, sizeof *t, cmp_seconds);
    if (bn) bn->paired = 1, g->nodes[bn->in[0]].bn = bn;
    if (xc) xc->xbn = xb, xb->xtwin = xc;
    return t[calls / 2];
}
