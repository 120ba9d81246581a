/* layer.h - what a layer is: a const table of operations (parse keys, infer shape, run
 * forward and backward) plus the per-node state the graph keeps for it. Layers adapt graph
 * nodes to kernel calls; kernels know nothing of nodes.
 *
 * Contract of the operations:
 *  - infer(n, e): n->ins[] and n->p (parsed keys) are set. Fill n->out, declare tensors with
 *    node_tensor(), set n->saved_floats (per image, kept from forward for backward),
 *    n->ws_floats (per-thread scratch), n->macs. Errors name the layer: use node_fail().
 *    After a successful infer, forward and backward cannot fail.
 *  - fwd(n, x): read n->x[i] (batch x ins[i]), write n->y (batch x out). Training mode may
 *    write n->saved. Split over x->pool as the layer sees fit.
 *  - bwd(n, x): read n->dy (and n->y, n->x[i], n->saved); ADD into n->dx[i] (NULL when
 *    that input needs no gradient) and into the tensors' grad arrays. The executor zeroes
 *    gradients once per step, so fan-out needs no special case. A layer that sets
 *    n->bwd_store instead STORES into dx[k] when bit k of n->dx_fresh is set (it is the first
 *    writer of that gradient), which saves the executor a memset and the layer a read.
 * Every layer's gradient is checked numerically by tests/test_layers.c from the registry. */
#ifndef CNN_LAYER_H
#define CNN_LAYER_H
#include <stddef.h>
#include <stdint.h>
#include "../cnn.h"
#include "../core/pool.h"
#include "../graph/keys.h"

enum { MAX_IN = 8, MAX_TENSORS = 4 };
enum { ACT_NONE, ACT_RELU };

typedef struct shape { int c, h, w; } shape;
static inline int64_t shape_size(shape s) { return (int64_t)s.c * s.h * s.w; }

typedef enum { T_PARAM, T_BUFFER } tkind;      /* trained, or state such as running means */
/* Weight inits, in the order of the layers' `init:` choices after ZERO and ONE. TORCH is
 * PyTorch's default, uniform in +-1/sqrt(fan_in) (He with a = sqrt(5)), which matters with
 * batchnorm: the effective step of a normalised layer's weights scales with 1/|w|^2. */
typedef enum { INIT_ZERO, INIT_ONE, INIT_HE, INIT_GLOROT, INIT_LECUN, INIT_TORCH } tinit;

typedef struct tensor {
    char name[24];          /* suffix after the layer name: "weight", "running_mean" */
    tkind kind;
    tinit init;
    int decay;              /* weight decay applies (weights yes, biases and norms no) */
    int ndim;
    int dims[4];
    int64_t count;
    int fan_in, fan_out;    /* for He/Glorot */
    size_t off;             /* offset in the model's param (or buffer) block */
    float *data;            /* borrowed from the model's block */
    float *grad;            /* T_PARAM: borrowed from the model's gradient block */
} tensor;

typedef struct node node;
typedef struct exec exec;

typedef struct layer_ops {
    const char *type;       /* the YAML `type:` */
    const char *doc;        /* one line for `cnn help layers` */
    const keyspec *keys;    /* accepted keys besides type/name/input/inputs */
    size_t psize;           /* bytes of the parsed-keys struct */
    int min_in, max_in;
    int (*infer)(node *n, cnn_error *e);
    void (*fwd)(node *n, exec *x);
    void (*bwd)(node *n, exec *x);
} layer_ops;

struct node {
    const layer_ops *ops;   /* NULL for the graph's input node */
    char name[64];
    int line, col;          /* where the layer is in the YAML file */
    const char *file;       /* borrowed: the config's name, for messages */
    int index;              /* position in topological order */
    int nin, in[MAX_IN];    /* producer node indices */
    shape ins[MAX_IN], out;
    void *p;                /* parsed keys (ops->psize bytes); owned by the graph */
    int nt;
    tensor t[MAX_TENSORS];
    int64_t saved_floats;   /* per image */
    int64_t saved_fixed;    /* per batch (e.g. batch statistics) */
    size_t ws_floats;       /* per thread */
    int64_t red_floats;     /* backward-only scratch for fixed-order partial sums */
    int64_t macs;           /* multiply-adds per image, forward */
    int act;                /* ACT_RELU: a following relu was fused into this node's output */
    int own_act;            /* set by infer: fwd and bwd apply a fused act themselves (the
                             * executor applies it after fwd and to dy before bwd otherwise) */
    int bwd_store;          /* set by infer: bwd stores into dx[k] when dx_fresh says so */
    int dx_fresh;           /* set by the executor before bwd (only if bwd_store): bit k set
                             * means dx[k] is not initialised, so bwd must store into every
                             * value instead of adding; the executor then skips zeroing it.
                             * An input listed twice has its bit set for the first only. */
    int alias;              /* > 0: this node is that node's fused relu and shares its buffers */
    int fold;               /* conv: index of the batchnorm folded into it for inference */
    int folded_into;        /* batchnorm: the conv it is folded into for inference */
    int dy_masked;          /* conv with a fused relu: its one consumer, a maxpool, passes no
                               gradient where that relu's output is not positive, so its
                               backward skips the mask pass over dy */
    int relu_in;            /* maxpool: the input is such a relu's output (see dy_masked) */
    int pool_ok;            /* conv (set by infer): a 2x2 max pool of its relu can run per image
                               in its own chunks (the direct path) */
    node *pool;             /* conv: that max pool, run inside its forward and backward chunks */
    int pool_fused;         /* maxpool: run by its producer conv; the executor skips it */
    node *res_add;          /* batchnorm without a relu, right before a two-input add that is
                               its only consumer: it writes the add's sum (and relu) in its
                               own pass, when the pass runs the add too (exec.last) */
    int res_fused;          /* add: its forward is done by the batchnorm before it (res_add) */
    node *bn;               /* conv: the batchnorm that is its only consumer (paired): in
                               a training pass that runs it, the conv's forward takes that
                               batchnorm's plane sums (each chunk of the images it has just
                               made), and each backward group makes the batchnorm's input
                               gradient (this conv's dy) for its own images right before
                               reading them */
    int paired;             /* batchnorm: its conv does that (node.bn) */
    int xaff_ok;            /* conv (set by infer): its kernel can read its input through a
                               per-channel affine map and relu (Winograd) */
    node *xbn;              /* conv: the batchnorm (and its relu) whose output only it reads:
                               in training it reads the batchnorm's input through the
                               batchnorm's scale, shift and relu instead */
    node *xtwin;            /* batchnorm: that conv; in a training pass that runs it, the
                               batchnorm writes no output */
    float *fold_w;          /* conv: folded weights then bias (inference); owned by the graph */
    uint64_t fold_version;  /* the parameter version fold_w was computed from */
    /* conv: its weights transformed for inference (Winograd's U, packed for the GEMM), made
     * on the first inference forward after the parameters change; owned by the graph. */
    size_t wcache_floats;   /* set by infer: the size wcache needs, 0 for no cache */
    float *wcache;          /* allocated by graph_reserve for an inference plan */
    uint64_t wcache_version; /* the parameter version wcache was computed from */
    int wcache_simd;        /* the SIMD level it is laid out for; -1: not computed yet */
    /* Set by the executor for each run: */
    const float *x[MAX_IN];
    float *dx[MAX_IN];
    float *y, *dy, *saved, *red;
};

/* Partial sums of a weight gradient are kept per fixed group of images, not per thread, and
 * added in group order: the bits then depend on neither thread timing nor thread count. */
enum { RED_CHUNKS = 8 };

/* What a forward/backward call may use. */
struct exec {
    int n;                  /* images in the batch */
    int training;
    pool *pool;
    int nth;                /* pool size */
    int simd;               /* SIMD_* level for kernels */
    float *ws;              /* nth * ws_stride floats */
    size_t ws_stride;
    uint64_t seed, step;    /* for per-sample random streams (dropout) */
    uint64_t version;       /* the graph's parameter version: caches made from parameters compare it */
    int last;               /* forward: the last node this pass runs */
};

static inline float *exec_ws(const exec *x, int ith) { return x->ws + (size_t)ith * x->ws_stride; }

/* dy[i] = y[i] > 0 ? dy[i] : 0: a fused relu's gradient mask, for the executor and for the
 * layers that apply it themselves. Loaded before the select, so it compiles to vector code
 * instead of a branch that mispredicts on half the values. */
static inline void relu_mask(float *restrict dy, const float *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float t = dy[i];
        dy[i] = y[i] > 0.0f ? t : 0.0f;
    }
}

/* Declares a tensor of the node; returns it (for fan-in/out) or NULL if n->nt is full. */
tensor *node_tensor(node *n, const char *name, tkind kind, tinit init, int decay, int ndim, const int *dims);
/* Fails with "file:line:col: layer 'name' (type): <message>". */
int node_fail(const node *n, cnn_error *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks that c*h*w fits the per-sample tensor limit. */
int node_check_shape(const node *n, shape s, cnn_error *e);

/* Runs fn(ctx, lo, hi) over a static split of [0, total) across the pool; `cost` is the
 * work of one item (in values touched) and decides whether waking threads is worth it. */
typedef void (*range_fn)(void *ctx, int64_t lo, int64_t hi);
void exec_for(exec *x, int64_t total, int64_t cost, range_fn fn, void *ctx);

/* The epsilon of a batchnorm node (for folding it into a conv). */
double batchnorm_eps(const node *n);
/* A paired batchnorm's plane sums of images [lo, hi) of its input x (its conv's output),
 * taken by the conv's forward right after making them. */
void batchnorm_stats(node *bn, const float *x, int64_t lo, int64_t hi);
/* A paired batchnorm's input gradient for images [lo, hi): called by the conv's backward
 * after the batchnorm's. */
void batchnorm_dx(node *bn, int64_t lo, int64_t hi);
/* Or its terms for images from lo on, for a Winograd conv that forms it while reading it
 * (kernels/winograd.h): returns 0 (t untouched) when the batchnorm's dx cannot be made that
 * way, 1 after its backward has set them. */
struct wino_dy_affine;
int batchnorm_dx_terms(node *bn, int64_t lo, struct wino_dy_affine *t);
/* The terms from which a Winograd conv reading the batchnorm's output (node.xbn) makes it
 * for images from lo on, in a training pass after the batchnorm's forward. */
struct wino_x_affine;
void batchnorm_x_terms(node *bn, int64_t lo, struct wino_x_affine *t);

/* A max pool run by its producer conv (node.pool): whether it is the 2x2 stride-2 window
 * that can be; its forward for images [lo, hi) from their conv output x (the winners kept
 * when train); its backward for images [lo, hi), stored into the conv's dy. */
int maxpool_fusable(const node *m);
void maxpool_in_conv_fwd(node *m, const float *x, int64_t lo, int64_t hi, int train, int simd);
void maxpool_in_conv_bwd(node *m, float *dx, int64_t lo, int64_t hi, int simd);

/* The registry: every layer type, NULL-terminated. */
extern const layer_ops *const layer_registry[];
const layer_ops *layer_find(const char *type);
#endif
