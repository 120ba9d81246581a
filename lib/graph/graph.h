/* graph.h - the layer graph: nodes in topological order built from the config's layer
 * list, one block each for parameters, gradients and buffers (so an optimizer or a future
 * all-reduce sees one contiguous array), and a planned arena for activations. */
#ifndef CNN_GRAPH_H
#define CNN_GRAPH_H
#include "../layers/layer.h"
#include "ytree.h"

typedef struct graph {
    const char *file;       /* borrowed: config name for messages */
    int nn;                 /* nodes, nodes[0] being the input */
    node *nodes;
    int64_t nparams, nbufs;
    float *params, *grads, *bufs;   /* owned, 64-byte aligned */
    /* execution state, sized by graph_reserve */
    int cap, training_cap;  /* batch capacity and whether backward buffers exist */
    float *arena;
    size_t arena_floats;
    float *ws;
    size_t ws_stride;
    char *zeroed;           /* nn flags used by backward; owned */
    const float *input;     /* borrowed: the batch of the last forward */
    float *dinput;          /* borrowed, optional: backward writes the input's gradient here */
    double *tfwd, *tbwd;    /* borrowed, optional: seconds per node are added here (benchmarks) */
    pool *pool;             /* owned */
    int nth, simd;
    int eval_plan;          /* the arena is planned for inference (batchnorms folded) */
    uint64_t version;       /* bumped whenever parameters or batchnorm statistics change */
} graph;

/* Builds nodes from the `layers:` list for an input of shape `in`, checking names, inputs,
 * shapes and the parameter limit, and lays out the parameter blocks without allocating
 * anything for them: checking a config or a checkpoint's tensors costs no memory. */
int graph_plan(graph *g, ynode *layers, const char *file, shape in, cnn_error *e);
/* Allocates the parameter and buffer blocks (zeroed) of a planned graph. */
int graph_alloc(graph *g, cnn_error *e);
/* Allocates the gradient block; graph_reserve does it for training. */
int graph_alloc_grads(graph *g, cnn_error *e);
/* graph_plan + graph_alloc + graph_alloc_grads. */
int graph_build(graph *g, ynode *layers, const char *file, shape in, cnn_error *e);
void graph_free(graph *g);
/* Undoes the relu fusion graph_build does (tests compare both); call before graph_reserve. */
void graph_unfuse(graph *g);
/* He/Glorot/constant initialisation from per-tensor random streams of seed. */
void graph_init(graph *g, uint64_t seed);
/* Creates the thread pool (threads <= 0: one per core) and picks the SIMD path. */
int graph_set_threads(graph *g, int threads, cnn_error *e);
/* Plans and allocates activations for batches of up to `batch` images; training adds the
 * buffers backward needs. Cheap when the capacity already suffices. */
int graph_reserve(graph *g, int batch, int training, cnn_error *e);
/* Runs forward on n images x (n x input shape); returns the output (n x classes), which
 * lives in the arena until the next call. */
const float *graph_forward(graph *g, const float *x, int n, int training, uint64_t seed, uint64_t step);
/* Runs forward only up to node `last` (inclusive), whose output is then valid. */
void graph_forward_upto(graph *g, const float *x, int n, int last);
/* Runs backward from dout (n x classes, the loss gradient) after a training forward;
 * gradients are overwritten (not accumulated across calls). */
void graph_backward(graph *g, const float *dout, int n, uint64_t seed, uint64_t step);
/* Seconds one call of node i's forward (backward = 0) or backward takes on n images of
 * x, with dout as the loss gradient, on the state a training step leaves there: the steps
 * up to it are run once, then the call is repeated (the first call not counted) for at
 * least `seconds` and 3 calls; returns the median. The node's outputs and gradients are
 * then garbage for training (repeated backward calls accumulate). 0 for nodes that run
 * inside another (aliases, fused pools, the forward of an add its batchnorm writes). For
 * the kernel table of benchmarks. */
double graph_node_seconds(graph *g, const float *x, const float *dout, int n, int i, int backward, double seconds);
/* Finds a tensor by its full name "layer.tensor"; NULL if none. */
tensor *graph_tensor(graph *g, const char *full, node **owner);
static inline shape graph_out_shape(const graph *g) { return g->nodes[g->nn - 1].out; }
#endif
