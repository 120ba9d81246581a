/* graph.c - building the layer graph from the config: names, inputs, shapes, parameters. */
#include "graph.h"
#include "../core/err.h"
#include "../core/rng.h"
#include "../core/util.h"
#include "../kernels/cpu.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const common_keys[] = {"type", "name", "input", "inputs", NULL};

tensor *node_tensor(node *n, const char *name, tkind kind, tinit init, int decay, int ndim, const int *dims) {
    if (n->nt >= MAX_TENSORS) return NULL;
    tensor *t = &n->t[n->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->init = init;
    t->decay = decay;
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        t->count *= dims[i];
    }
    return t;
}

int node_fail(const node *n, cnn_error *e, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: layer '%s' (%s): %s", n->file, n->line, n->col, n->name,
                    n->ops ? n->ops->type : "input", msg);
}

int node_check_shape(const node *n, shape s, cnn_error *e) {
    if (s.c < 1 || s.h < 1 || s.w < 1)
        return node_fail(n, e, "output shape %dx%dx%d is empty (the input is too small for this layer)", s.c, s.h, s.w);
    if (shape_size(s) > CNN_MAX_TENSOR)
        return node_fail(n, e, "output of %lld values per image exceeds the limit of %lld",
                         (long long)shape_size(s), (long long)CNN_MAX_TENSOR);
    return 0;
}

const layer_ops *layer_find(const char *type) {
    for (int i = 0; layer_registry[i]; i++)
        if (!strcmp(layer_registry[i]->type, type)) return layer_registry[i];
    return NULL;
}

void graph_free(graph *g) {
    if (!g) return;
    for (int i = 0; i < g->nn; i++) {
        free(g->nodes[i].p);
        free(g->nodes[i].fold_w);
        free(g->nodes[i].wcache);
    }
    free(g->nodes);
    free(g->params);
    free(g->grads);
    free(g->bufs);
    free(g->arena);
    free(g->ws);
    free(g->zeroed);
    pool_destroy(g->pool);
    memset(g, 0, sizeof *g);
}

static int find_node(const graph *g, int upto, const char *name) {
    for (int i = 0; i < upto; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

/* Resolves one `input:` name of node k. */
static int resolve_input(graph *g, int k, int total, ynode *items, const ynode *v, cnn_error *e) {
    node *n = &g->nodes[k];
    if (v->kind != Y_SCALAR)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: an input must be a layer name", g->file, v->line, v->col);
    int i = find_node(g, k, v->str);
    if (i >= 0) {
        if (n->nin >= MAX_IN)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: more than %d inputs", g->file, v->line, v->col, MAX_IN);
        n->in[n->nin++] = i;
        return 0;
    }
    if (!strcmp(v->str, n->name))
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: layer '%s' takes its own output as input (a cycle)", g->file,
                        v->line, v->col, n->name);
    /* A later layer's name would make a cycle or a forward reference: say which. */
    for (int j = 0; j < total; j++) {
        ynode *nm = ytree_get(items->vals[j], "name");
        if (nm && nm->kind == Y_SCALAR && !strcmp(nm->str, v->str))
            return cnn_fail(e, CNN_ERR_CONFIG,
                            "%s:%d:%d: input '%s' is defined later (line %d): inputs must name earlier layers, so "
                            "the graph has no cycles", g->file, v->line, v->col, v->str, nm->line);
    }
    const char *cands[CNN_MAX_LAYERS + 1];
    for (int j = 0; j < k; j++) cands[j] = g->nodes[j].name;
    cands[k] = NULL;
    const char *near = keys_nearest(v->str, cands);
    if (near)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: input '%s' is not a layer defined above: did you mean '%s'?",
                        g->file, v->line, v->col, v->str, near);
    return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: input '%s' is not a layer defined above", g->file, v->line, v->col,
                    v->str);
}

static int build_node(graph *g, int k, int total, ynode *items, ynode *item, cnn_error *e) {
    node *n = &g->nodes[k];
    n->file = g->file;
    n->index = k;
    n->line = item->line;
    n->col = item->col;
    if (item->kind == Y_SCALAR) {
        /* `- relu` is shorthand for `- type: relu` */
        ynode *m = ytree_new(Y_MAP, item->line, item->col), *key = ytree_new(Y_SCALAR, item->line, item->col);
        char *s = str_dup("type");
        if (!m || !key || !s || !ytree_put(m, key, item)) {
            free(m); free(key); free(s);
            return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
        }
        key->str = s;
        items->vals[k - 1] = item = m;
    }
    if (item->kind != Y_MAP)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: a layer must be a mapping with a 'type' (e.g. {type: conv, filters: 32})",
                        g->file, item->line, item->col);
    ynode *ty = ytree_get(item, "type");
    if (!ty)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: layer %d has no 'type'", g->file, item->line, item->col, k);
    if (ty->kind != Y_SCALAR)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: 'type' must be a layer type name", g->file, ty->line, ty->col);
    n->ops = layer_find(ty->str);
    if (!n->ops) {
        const char *cands[64];
        int c = 0;
        for (int i = 0; layer_registry[i] && c < 63; i++) cands[c++] = layer_registry[i]->type;
        cands[c] = NULL;
        const char *near = keys_nearest(ty->str, cands);
        char list[512] = "";
        for (int i = 0; i < c; i++) {
            strncat(list, cands[i], sizeof list - strlen(list) - 1);
            if (i + 1 < c) strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        if (near)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: unknown layer type '%s': did you mean '%s'?", g->file,
                            ty->line, ty->col, ty->str, near);
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: unknown layer type '%s' (known: %s)", g->file, ty->line,
                        ty->col, ty->str, list);
    }
    ynode *nm = ytree_get(item, "name");
    if (nm) {
        if (nm->kind != Y_SCALAR || !nm->str[0] || strlen(nm->str) >= sizeof n->name || strchr(nm->str, '.'))
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: 'name' must be a word of up to %d characters without dots",
                            g->file, nm->line, nm->col, (int)sizeof n->name - 1);
        int prev = find_node(g, k, nm->str);
        if (prev >= 0)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: layer name '%s' is already used%s%d", g->file, nm->line,
                            nm->col, nm->str, prev ? " at line " : " (reserved for the network input)",
                            prev ? g->nodes[prev].line : 0);
        snprintf(n->name, sizeof n->name, "%s", nm->str);
    } else {
        int same = 1;
        for (int i = 1; i < k; i++) same += g->nodes[i].ops == n->ops;
        snprintf(n->name, sizeof n->name, "%s%d", n->ops->type, same);
        while (find_node(g, k, n->name) >= 0) snprintf(n->name, sizeof n->name, "%s%d", n->ops->type, ++same);
    }
    ynode *one = ytree_get(item, "input"), *many = ytree_get(item, "inputs");
    if (one && many)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: give either 'input' or 'inputs', not both", g->file,
                        many->line, many->col);
    if (one) {
        int rc = resolve_input(g, k, total, items, one, e);
        if (rc) return rc;
    } else if (many) {
        if (many->kind != Y_SEQ || many->n < 1)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: 'inputs' must be a list of layer names", g->file,
                            many->line, many->col);
        for (int i = 0; i < many->n; i++) {
            int rc = resolve_input(g, k, total, items, many->vals[i], e);
            if (rc) return rc;
        }
    } else {
        n->in[n->nin++] = k - 1;
    }
    if (n->nin < n->ops->min_in || n->nin > n->ops->max_in) {
        if (n->ops->min_in == n->ops->max_in)
            return node_fail(n, e, "takes %d input%s, not %d", n->ops->min_in, n->ops->min_in > 1 ? "s" : "", n->nin);
        return node_fail(n, e, "takes %d to %d inputs, not %d (list them with inputs: [a, b])", n->ops->min_in,
                         n->ops->max_in, n->nin);
    }
    for (int i = 0; i < n->nin; i++) n->ins[i] = g->nodes[n->in[i]].out;
    n->p = calloc(1, n->ops->psize ? n->ops->psize : 1);
    if (!n->p) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    char what[96];
    snprintf(what, sizeof what, "layer '%s' (%s)", n->name, n->ops->type);
    if (keys_read(n->ops->keys, n->p, item, common_keys, g->file, what, e)) return e ? e->code : CNN_ERR_CONFIG;
    if (n->ops->infer(n, e)) return e ? e->code : CNN_ERR_CONFIG;
    if (node_check_shape(n, n->out, e)) return e ? e->code : CNN_ERR_CONFIG;
    for (int i = 0; i < n->nt; i++)
        if (n->t[i].count > CNN_MAX_TENSOR)
            return node_fail(n, e, "tensor '%s' has %lld values, above the limit of %lld", n->t[i].name,
                             (long long)n->t[i].count, (long long)CNN_MAX_TENSOR);
    return 0;
}

/* How many inputs of later nodes read node i (an input listed twice counts twice). */
static int consumers(const graph *g, int i) {
    int c = 0;
    for (int j = i + 1; j < g->nn; j++)
        for (int k = 0; k < g->nodes[j].nin; k++) c += g->nodes[j].in[k] == i;
    return c;
}

/* A relu whose only input is a conv, dense, batchnorm or add with no other consumer is
 * fused into it: the producer applies it in place and the relu node shares its buffers.
 * That saves one activation and one gradient buffer and a pass over each per relu. */
static void fuse_relus(graph *g) {
    for (int r = 1; r < g->nn; r++) {
        node *R = &g->nodes[r];
        if (strcmp(R->ops->type, "relu") || R->nin != 1 || R->in[0] == 0) continue;
        node *P = &g->nodes[R->in[0]];
        const char *t = P->ops->type;
        if (P->act || P->alias || (strcmp(t, "conv") && strcmp(t, "dense") && strcmp(t, "batchnorm") && strcmp(t, "add")))
            continue;
        if (consumers(g, P->index) != 1) continue;
        P->act = ACT_RELU;
        R->alias = P->index;
    }
}

/* A batchnorm whose input is a conv with no other consumer is folded into the conv's
 * weights and bias for inference: one pass over the activations fewer, and the fused relu
 * moves with it. Training still runs both layers. */
static void fold_batchnorms(graph *g) {
    for (int b = 1; b < g->nn; b++) {
        node *B = &g->nodes[b];
        if (strcmp(B->ops->type, "batchnorm") || B->in[0] == 0) continue;
        node *C = &g->nodes[B->in[0]];
        if (strcmp(C->ops->type, "conv") || C->act || C->fold) continue;
        if (consumers(g, C->index) != 1) continue;
        C->fold = b;
        B->folded_into = C->index;
    }
}

/* A maxpool whose input is the fused relu of a conv, and its only consumer, drops the
 * gradient of windows whose maximum is not positive: the conv's relu would zero it anyway,
 * and everything else the maxpool passes back is zero too, so the conv skips its mask pass
 * over dy (a read of dy and y and a write of dy; 2 % of a LeNet step). Same bits. A 2x2 one
 * after a direct-path conv also runs inside the conv's chunks (node.pool): each image is
 * pooled right after it is convolved, and each group's dy made right before it is read,
 * with two jobs fewer over the threads per step. */
static void fuse_relu_pools(graph *g) {
    for (int m = 1; m < g->nn; m++) {
        node *M = &g->nodes[m];
        if (strcmp(M->ops->type, "maxpool") || M->nin != 1 || M->in[0] == 0) continue;
        node *R = &g->nodes[M->in[0]];
        if (!R->alias) continue;
        node *P = &g->nodes[R->alias];
        if (strcmp(P->ops->type, "conv") || P->act != ACT_RELU) continue;
        if (consumers(g, R->index) != 1) continue;
        P->dy_masked = 1;
        M->relu_in = 1;
        if (P->pool_ok && maxpool_fusable(M)) P->pool = M, M->pool_fused = 1;
    }
}

/* A batchnorm right before a two-input add that is its only consumer (a residual block's
 * second batchnorm) writes the add's sum, and its relu, in its normalising pass: the
 * batchnorm's own output is never written nor read back. Same bits: the sum of two floats
 * does not depend on their order. */
static void fuse_bn_adds(graph *g) {
    for (int a = 2; a < g->nn; a++) {
        node *A = &g->nodes[a], *B = &g->nodes[a - 1];
        if (strcmp(A->ops->type, "add") || A->nin != 2 || A->in[0] == A->in[1]) continue;
        if (strcmp(B->ops->type, "batchnorm") || B->act || (A->in[0] != a - 1 && A->in[1] != a - 1)) continue;
        if (consumers(g, a - 1) != 1) continue;
        B->res_add = A;
        A->res_fused = 1;
    }
}

/* A batchnorm whose input is a conv that only it reads (one folded for inference above) is
 * paired with it for training: the conv's forward chunks take the batchnorm's plane sums
 * of each image right after making it, and its backward groups make the batchnorm's input
 * gradient (the conv's dy) for their own images right before reading them (node.bn). Both
 * are then read from the core's cache instead of memory: one pass over a whole activation
 * less each way. The batchnorm's saved sums and coefficients live from the conv's forward
 * to its backward, and its dy until the conv's backward (exec.c). Same bits: the same code
 * makes each value. */
static void pair_bn_convs(graph *g) {
    for (int b = 1; b < g->nn; b++) {
        node *B = &g->nodes[b];
        if (!B->folded_into) continue;
        g->nodes[B->folded_into].bn = B;
        B->paired = 1;
    }
}

/* A batchnorm (with or without its relu) whose output only a Winograd conv reads is made
 * inside that conv's input transforms in training (node.xbn): the batchnorm takes its
 * statistics and coefficients and skips its normalising pass, and the conv reads the
 * batchnorm's input through them, forward and again for its weight gradient. The
 * batchnorm's backward reads only its input and dy, so its output is never needed: one
 * pass writing a whole activation less. Same bits: the same product, sum and relu. */
static void twin_bn_convs(graph *g) {
    for (int c = 1; c < g->nn; c++) {
        node *C = &g->nodes[c];
        if (!C->xaff_ok || C->nin != 1 || C->in[0] == 0) continue;
        node *R = &g->nodes[C->in[0]], *B = R->alias ? &g->nodes[R->alias] : R;
        if (strcmp(B->ops->type, "batchnorm") || B->res_add || B->xtwin) continue;
        if (consumers(g, R->index) != 1 || (R != B && consumers(g, B->index) != 1)) continue;
        C->xbn = B;
        B->xtwin = C;
    }
}

void graph_unfuse(graph *g) {
    for (int i = 1; i < g->nn; i++) {
        node *n = &g->nodes[i];
        n->act = n->alias = n->fold = n->folded_into = n->dy_masked = n->relu_in = n->pool_fused = n->res_fused = 0;
        n->paired = 0;
        n->pool = n->res_add = n->bn = n->xbn = n->xtwin = NULL;
    }
    g->cap = 0;
}

int graph_plan(graph *g, ynode *layers, const char *file, shape in, cnn_error *e) {
    memset(g, 0, sizeof *g);
    g->file = file;
    if (!layers || layers->kind != Y_SEQ || layers->n == 0)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: 'layers' must be a non-empty list of layers", file,
                        layers ? layers->line : 1, layers ? layers->col : 1);
    if (layers->n > CNN_MAX_LAYERS)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: %d layers, more than the limit of %d", file, layers->line,
                        layers->col, layers->n, CNN_MAX_LAYERS);
    g->nn = layers->n + 1;
    g->nodes = calloc((size_t)g->nn, sizeof *g->nodes);
    if (!g->nodes) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    node *inp = &g->nodes[0];
    snprintf(inp->name, sizeof inp->name, "input");
    inp->out = in;
    inp->file = file;
    if (shape_size(in) > CNN_MAX_TENSOR) {
        int code = cnn_fail(e, CNN_ERR_CONFIG, "%s: the input %dx%dx%d has %lld values per image, above the limit of %lld",
                            file, in.c, in.h, in.w, (long long)shape_size(in), (long long)CNN_MAX_TENSOR);
        graph_free(g);
        return code;
    }
    int rc = 0;
    for (int k = 1; k < g->nn && !rc; k++) rc = build_node(g, k, layers->n, layers, layers->vals[k - 1], e);
    if (rc) { graph_free(g); return rc; }
    fuse_relus(g);
    fuse_relu_pools(g);
    fold_batchnorms(g);
    fuse_bn_adds(g);
    pair_bn_convs(g);
    twin_bn_convs(g);
    /* Lay out parameters and buffers, each tensor 64-byte aligned. */
    int64_t np = 0, nb = 0;
    for (int k = 1; k < g->nn; k++)
        for (int i = 0; i < g->nodes[k].nt; i++) {
            tensor *t = &g->nodes[k].t[i];
            int64_t *acc = t->kind == T_PARAM ? &np : &nb;
            t->off = (size_t)*acc;
            *acc += (t->count + 15) & ~(int64_t)15;
            if (*acc > CNN_MAX_PARAMS) {
                node *n = &g->nodes[k];
                int code = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: layer '%s' takes the network past the limit of %lld "
                                    "%s (CNN_MAX_PARAMS)", file, n->line, n->col, n->name, (long long)CNN_MAX_PARAMS,
                                    t->kind == T_PARAM ? "parameters" : "buffer values");
                graph_free(g);
                return code;
            }
        }
    g->nparams = np;
    g->nbufs = nb;
    g->simd = simd_detect();
    return 0;
}

int graph_alloc(graph *g, cnn_error *e) {
    g->params = aligned_alloc64((size_t)g->nparams * sizeof(float));
    g->bufs = aligned_alloc64((size_t)g->nbufs * sizeof(float));
    if (!g->params || !g->bufs)
        return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory for %lld parameters", g->file, (long long)g->nparams);
    memset(g->params, 0, (size_t)g->nparams * sizeof(float));
    memset(g->bufs, 0, (size_t)g->nbufs * sizeof(float));
    for (int k = 1; k < g->nn; k++)
        for (int i = 0; i < g->nodes[k].nt; i++) {
            tensor *t = &g->nodes[k].t[i];
            t->data = (t->kind == T_PARAM ? g->params : g->bufs) + t->off;
        }
    return 0;
}

int graph_alloc_grads(graph *g, cnn_error *e) {
    if (g->grads) return 0;
    g->grads = aligned_alloc64((size_t)g->nparams * sizeof(float));
    if (!g->grads)
        return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory for the gradients of %lld parameters", g->file,
                        (long long)g->nparams);
    memset(g->grads, 0, (size_t)g->nparams * sizeof(float));
    for (int k = 1; k < g->nn; k++)
        for (int i = 0; i < g->nodes[k].nt; i++) {
            tensor *t = &g->nodes[k].t[i];
            t->grad = t->kind == T_PARAM ? g->grads + t->off : NULL;
        }
    return 0;
}

int graph_build(graph *g, ynode *layers, const char *file, shape in, cnn_error *e) {
    int rc = graph_plan(g, layers, file, in, e);
    if (!rc && (rc = graph_alloc(g, e)) == 0) rc = graph_alloc_grads(g, e);
    if (rc && g->nodes) graph_free(g);
    return rc;
}

void graph_init(graph *g, uint64_t seed) {
    g->version++;
    for (int k = 1; k < g->nn; k++)
        for (int i = 0; i < g->nodes[k].nt; i++) {
            tensor *t = &g->nodes[k].t[i];
            rng r = rng_stream(seed, RNG_INIT, (uint64_t)k, (uint64_t)i);
            switch (t->init) {
            case INIT_ZERO: memset(t->data, 0, (size_t)t->count * sizeof(float)); break;
            case INIT_ONE:
                for (int64_t j = 0; j < t->count; j++) t->data[j] = 1.0f;
                break;
            case INIT_HE: { /* normal, std sqrt(2 / fan_in): keeps ReLU activations' scale */
                float sd = (float)sqrt(2.0 / (t->fan_in > 0 ? t->fan_in : 1));
                for (int64_t j = 0; j < t->count; j++) t->data[j] = sd * rng_normal(&r);
                break;
            }
            case INIT_LECUN: {
                float sd = (float)sqrt(1.0 / (t->fan_in > 0 ? t->fan_in : 1));
                for (int64_t j = 0; j < t->count; j++) t->data[j] = sd * rng_normal(&r);
                break;
            }
            case INIT_TORCH: {
                float a = (float)sqrt(1.0 / (t->fan_in > 0 ? t->fan_in : 1));
                for (int64_t j = 0; j < t->count; j++) t->data[j] = a * (2.0f * rng_uniform(&r) - 1.0f);
                break;
            }
            case INIT_GLOROT: { /* uniform in +-sqrt(6 / (fan_in + fan_out)) */
                float a = (float)sqrt(6.0 / (t->fan_in + t->fan_out > 0 ? t->fan_in + t->fan_out : 1));
                for (int64_t j = 0; j < t->count; j++) t->data[j] = a * (2.0f * rng_uniform(&r) - 1.0f);
                break;
            }
            }
        }
}

tensor *graph_tensor(graph *g, const char *full, node **owner) {
    const char *dot = strchr(full, '.');
    if (!dot) return NULL;
    for (int k = 1; k < g->nn; k++) {
        node *n = &g->nodes[k];
        if (strlen(n->name) != (size_t)(dot - full) || strncmp(n->name, full, (size_t)(dot - full))) continue;
        for (int i = 0; i < n->nt; i++)
            if (!strcmp(n->t[i].name, dot + 1)) {
                if (owner) *owner = n;
                return &n->t[i];
            }
    }
    return NULL;
}
