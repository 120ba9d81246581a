/* test_fixture.c - a tiny network (conv, batchnorm, relu, maxpool, strided conv, tanh,
 * dense) against PyTorch: logits, loss, every gradient, and the weights and batchnorm
 * statistics after three SGD steps (Nesterov, weight decay, label smoothing). The fixture
 * comes from scripts/make-fixture.py; PyTorch is not needed to run this test. */
#include "check.h"
#include "graph/graph.h"
#include "kernels/cpu.h"
#include "train/optim.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *net =
    "layers:\n"
    "  - {type: conv, filters: 4, kernel: 3, padding: 1, bias: false}\n"
    "  - batchnorm\n"
    "  - relu\n"
    "  - {type: maxpool, kernel: 2}\n"
    "  - {type: conv, filters: 5, kernel: 3, stride: 2, padding: 1}\n"
    "  - tanh\n"
    "  - {type: dense, units: 3}\n";

typedef struct entry { char name[64]; int n; double *v; } entry;
static entry fx[64];
static int nfx;

static int load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (nfx < 64 && fscanf(f, "%63s %d", fx[nfx].name, &fx[nfx].n) == 2) {
        fx[nfx].v = malloc((size_t)fx[nfx].n * sizeof(double));
        for (int i = 0; i < fx[nfx].n; i++)
            if (fscanf(f, "%lf", &fx[nfx].v[i]) != 1) { fclose(f); return 0; }
        nfx++;
    }
    fclose(f);
    return nfx > 0;
}

static const entry *get(const char *name) {
    for (int i = 0; i < nfx; i++)
        if (!strcmp(fx[i].name, name)) return &fx[i];
    fprintf(stderr, "fixture has no %s\n", name);
    exit(1);
}

/* Largest |a - b| / (atol + |b|) over n values. */
static double err(const float *a, const double *b, int n, double atol) {
    double w = 0;
    for (int i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]) / (atol + fabs(b[i])));
    return w;
}

static const char *tnames[] = {"conv1.weight", "batchnorm1.weight", "batchnorm1.bias", "conv2.weight",
                               "conv2.bias", "dense1.weight", "dense1.bias"};

/* Builds the tiny network on `simd` with the fixture's initial weights; fills x and y. */
static int setup(graph *g, ynode **root, int simd, float **x, int32_t *y) {
    cnn_error e = {0};
    CHECK(ytree_parse(net, strlen(net), "tiny", root, &e) == 0, "%s", e.msg);
    if (graph_build(g, ytree_get(*root, "layers"), "tiny", (shape){2, 7, 8}, &e)) {
        CHECK(0, "%s", e.msg);
        return 0;
    }
    graph_set_threads(g, 2, &e);
    g->simd = simd;
    graph_reserve(g, 3, 1, &e);
    graph_init(g, 1); /* running statistics start at 0 and 1 */
    for (int i = 0; i < 7; i++) {
        char k[80];
        snprintf(k, sizeof k, "init.%s", tnames[i]);
        tensor *t = graph_tensor(g, tnames[i], NULL);
        const entry *en = get(k);
        CHECK(t && t->count == en->n, "%s: shape", tnames[i]);
        for (int j = 0; j < en->n; j++) t->data[j] = (float)en->v[j];
    }
    const entry *xin = get("input"), *lab = get("labels");
    *x = malloc((size_t)xin->n * sizeof **x);
    for (int i = 0; i < xin->n; i++) (*x)[i] = (float)xin->v[i];
    for (int i = 0; i < 3; i++) y[i] = (int32_t)lab->v[i];
    return 1;
}

/* Three Adam or AdamW steps (lr 0.01, decay 0.01 on weights) from the initial weights. */
static void run_adam(int simd, int type, const char *prefix) {
    ynode *root;
    cnn_error e = {0};
    graph g;
    float *x, d[9];
    int32_t y[3];
    if (!setup(&g, &root, simd, &x, y)) return;
    optim_cfg oc = {.type = type, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    optim o;
    CHECK(optim_init(&o, &oc, &g, &e) == 0, "%s", e.msg);
    for (int step = 0; step < 3; step++) {
        const float *out = graph_forward(&g, x, 3, 1, 1, (uint64_t)step);
        loss_softmax_ce(out, y, 3, 3, 0.1, d, NULL, NULL);
        graph_backward(&g, d, 3, 1, (uint64_t)step);
        optim_step(&o, &g, 0.01, (uint64_t)step + 1);
    }
    for (int i = 0; i < 7; i++) {
        char k[80];
        snprintf(k, sizeof k, "%s3.%s", prefix, tnames[i]);
        tensor *t = graph_tensor(&g, tnames[i], NULL);
        double w = err(t->data, get(k)->v, (int)t->count, 1e-3);
        CHECK(w < 1e-3, "%s (%s): worst relative error %g", k, simd_name(simd), w);
    }
    optim_free(&o);
    free(x);
    graph_free(&g);
    ytree_free(root);
}

static void run(int simd) {
    ynode *root;
    cnn_error e = {0};
    graph g;
    float *x, d[9];
    int32_t y[3];
    if (!setup(&g, &root, simd, &x, y)) return;
    optim_cfg oc = {.type = OPT_SGD, .nesterov = 1, .lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4};
    optim o;
    CHECK(optim_init(&o, &oc, &g, &e) == 0, "%s", e.msg);
    for (int step = 0; step < 3; step++) {
        const float *out = graph_forward(&g, x, 3, 1, 1, (uint64_t)step);
        double loss = loss_softmax_ce(out, y, 3, 3, 0.1, d, NULL, NULL) / 3.0;
        if (step == 0) /* the output lives until backward reuses its memory */
            CHECK(err(out, get("logits")->v, 9, 1e-3) < 1e-4, "logits (%s): %g", simd_name(simd),
                  err(out, get("logits")->v, 9, 1e-3));
        graph_backward(&g, d, 3, 1, (uint64_t)step);
        if (step == 0) {
            CHECK(fabs(loss - get("loss")->v[0]) < 1e-5, "loss %.7f vs %.7f", loss, get("loss")->v[0]);
            for (int i = 0; i < 7; i++) {
                char k[80];
                snprintf(k, sizeof k, "grad.%s", tnames[i]);
                tensor *t = graph_tensor(&g, tnames[i], NULL);
                double w = err(t->grad, get(k)->v, (int)t->count, 1e-3);
                CHECK(w < 1e-3, "%s (%s): worst relative error %g", k, simd_name(simd), w);
            }
        }
        optim_step(&o, &g, 0.1, (uint64_t)step + 1);
    }
    for (int i = 0; i < 7; i++) {
        char k[80];
        snprintf(k, sizeof k, "step3.%s", tnames[i]);
        tensor *t = graph_tensor(&g, tnames[i], NULL);
        double w = err(t->data, get(k)->v, (int)t->count, 1e-3);
        CHECK(w < 1e-3, "%s (%s): worst relative error %g", k, simd_name(simd), w);
    }
    tensor *rm = graph_tensor(&g, "batchnorm1.running_mean", NULL), *rv = graph_tensor(&g, "batchnorm1.running_var", NULL);
    CHECK(err(rm->data, get("step3.batchnorm1.running_mean")->v, 4, 1e-3) < 1e-4, "running mean");
    CHECK(err(rv->data, get("step3.batchnorm1.running_var")->v, 4, 1e-3) < 1e-4, "running var %g %g",
          rv->data[0], get("step3.batchnorm1.running_var")->v[0]);
    optim_free(&o);
    free(x);
    graph_free(&g);
    ytree_free(root);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tests/fixtures/tiny.txt";
    CHECK(load(path), "cannot read %s", path);
    if (!nfx) return check_done();
    for (int s = 0; s < SIMD_COUNT; s++)
        if (simd_supported(s)) {
            run(s);
            run_adam(s, OPT_ADAM, "adam");
            run_adam(s, OPT_ADAMW, "adamw");
        }
    for (int i = 0; i < nfx; i++) free(fx[i].v);
    return check_done();
}
