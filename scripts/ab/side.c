/* side.c - one side of scripts/ab-step: a network built from a model file through the
 * engine's internal graph API, and one training step of it (forward, loss gradient given,
 * backward; no optimizer). Compiled twice, against the old tree's headers with every library
 * symbol renamed (-include the generated renames) and against the new tree's, so both
 * engines live in one process. SIDE names this copy's functions. */
#include "core/util.h"
#include "graph/graph.h"
#include "graph/ytree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SIDE)

/* The library's messages name the file already. */
static void die(const cnn_error *e) {
    fprintf(stderr, "ab-step: %s\n", e->msg);
    exit(1);
}

static int dim(ynode *in, const char *key) {
    const ynode *v = ytree_get(in, key);
    return v && v->str ? atoi(v->str) : 0;
}

void *FN(side_make)(const char *path, int batch, int threads) {
    cnn_error e;
    memset(&e, 0, sizeof e);
    char *text;
    size_t len;
    ynode *root;
    if (file_read_all(path, 1 << 20, &text, &len, &e) || ytree_parse(text, len, path, &root, &e)) die(&e);
    ynode *in = ytree_get(root, "input");
    shape s;
    memset(&s, 0, sizeof s);
    s.c = dim(in, "channels"), s.h = dim(in, "height"), s.w = dim(in, "width");
    graph *g = calloc(1, sizeof *g);
    if (graph_build(g, ytree_get(root, "layers"), path, s, &e)) die(&e);
    graph_init(g, 1);
    if (graph_set_threads(g, threads, &e) || graph_reserve(g, batch, 1, &e)) die(&e);
    return g;
}

long long FN(side_in)(void *g) { return shape_size(((graph *)g)->nodes[0].out); }
long long FN(side_out)(void *g) { return shape_size(graph_out_shape(g)); }

void FN(side_step)(void *g, const float *x, const float *dout, int batch, int step) {
    graph_forward(g, x, batch, 1, 1, step);
    graph_backward(g, dout, batch, 1, step);
}
