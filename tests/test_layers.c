/* test_layers.c - every layer in the registry, forward and backward: central-difference
 * gradient checks (loss accumulated in double) for inputs and parameters, and conv/dense
 * forward against naive twins. A layer type without a case here fails the test. */
#include "check.h"
#include "graph/graph.h"
#include "kernels/cpu.h"
#include "kernels/maxpool2.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tcase { const char *type, *yaml; int c, h, w; } tcase;

/* Each case is the `layers:` list; the layer under test comes last. */
static const tcase cases[] = {
    {"conv", "- {type: conv, filters: 4, kernel: 3}", 3, 5, 6},
    {"conv", "- {type: conv, filters: 2, kernel: [3, 2], stride: 2, padding: 2, bias: false}", 3, 7, 6},
    {"conv", "- {type: conv, filters: 6, kernel: 3, groups: 3, dilation: 2, padding: valid}", 3, 7, 7},
    {"conv", "- {type: conv, filters: 5, kernel: 1}", 3, 4, 5},
    {"conv", "- {type: conv, filters: 3, kernel: 1, stride: 2, padding: 0}", 2, 5, 5},
    {"dense", "- {type: dense, units: 5}", 3, 2, 3},
    {"dense", "- {type: dense, units: 1, bias: false, init: glorot}", 4, 1, 1},
    {"dense", "- {type: dense, units: 7}", 1, 1, 1},
    {"maxpool", "- {type: maxpool, kernel: 2}", 2, 6, 5},
    {"maxpool", "- {type: maxpool, kernel: 3, stride: 1, padding: 1}", 2, 5, 4},
    {"avgpool", "- {type: avgpool, kernel: 2}", 2, 6, 5},
    {"avgpool", "- {type: avgpool, kernel: 3, stride: 2, padding: 1}", 2, 5, 6},
    /* the 2x2 kernel: odd height and width (uncovered last row and column), 1x1 output,
     * and behind a layer, so that it stores its input gradient instead of adding */
    {"maxpool", "- {type: maxpool, kernel: 2}", 3, 7, 9},
    {"maxpool", "- {type: maxpool, kernel: 2}", 2, 2, 3},
    {"maxpool", "- tanh\n- {type: maxpool, kernel: 2}", 2, 5, 11},
    {"gap", "- {type: gap}", 3, 4, 5},
    /* behind a layer it stores its input gradient; beside another reader of its input it
     * adds it (gap_layer_vs_naive checks both against a twin on larger planes) */
    {"gap", "- tanh\n- {type: gap}", 2, 3, 3},
    {"gap", "- {type: conv, filters: 2, kernel: 1, name: a}\n- {type: gap}\n- {type: dense, units: 3, name: d1}\n"
            "- {type: flatten, input: a}\n- {type: dense, units: 3, name: d2}\n- {type: add, inputs: [d1, d2]}", 2, 3, 3},
    {"batchnorm", "- {type: batchnorm}", 3, 4, 5},
    {"batchnorm", "- {type: batchnorm}", 5, 1, 1},
    {"batchnorm", "- tanh\n- {type: batchnorm}", 2, 7, 5},
    {"dropout", "- tanh\n- {type: dropout, rate: 0.3}", 2, 3, 5},
    {"dropout", "- {type: dropout, rate: 0.3}", 2, 4, 5},
    {"relu", "- relu", 2, 3, 5},
    {"leaky", "- {type: leaky, slope: 0.1}", 2, 3, 5},
    {"sigmoid", "- sigmoid", 2, 3, 5},
    {"tanh", "- tanh", 2, 3, 5},
    {"gelu", "- gelu", 2, 3, 5},
    {"swish", "- swish", 2, 3, 5},
    {"add", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: add, inputs: [input, a]}", 3, 4, 4},
    {"concat", "- {type: conv, filters: 2, kernel: 3, name: a}\n- {type: concat, inputs: [a, input]}", 3, 4, 4},
    {"flatten", "- flatten", 2, 3, 3},
    /* relus fused into their producer (which then applies them in place) */
    {"relu", "- {type: conv, filters: 3, kernel: 3}\n- relu", 2, 5, 4},
    {"relu", "- {type: conv, filters: 3, kernel: 3, bias: false}\n- batchnorm\n- relu", 2, 5, 4},
    {"relu", "- {type: dense, units: 4}\n- relu", 2, 3, 3},
    {"relu", "- {type: conv, filters: 2, kernel: 1, name: a}\n- {type: add, inputs: [a, input]}\n- relu\n- {type: dense, units: 3}", 2, 3, 3},
    {"tanh", "- {type: conv, filters: 3, kernel: 3, bias: false}\n- batchnorm\n- tanh", 2, 5, 4},
    {"leaky", "- {type: conv, filters: 3, kernel: 3, bias: false}\n- batchnorm\n- {type: leaky, slope: 0.5}", 2, 5, 4},
    /* an add that is the first writer of both input gradients stores them (with its relu
     * fused in one pass, or without), also for an input listed twice or three inputs */
    {"relu", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: conv, filters: 3, kernel: 3, name: b}\n"
             "- {type: add, inputs: [a, b]}\n- relu\n- {type: dense, units: 3}", 2, 4, 3},
    {"add", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: conv, filters: 3, kernel: 3, name: b}\n"
            "- {type: add, inputs: [a, b]}", 2, 4, 3},
    {"relu", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: add, inputs: [a, a]}\n- relu\n"
             "- {type: dense, units: 3}", 2, 4, 3},
    {"add", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: conv, filters: 3, kernel: 3, name: b}\n"
            "- {type: add, inputs: [a, b, a]}", 2, 4, 3},
    /* a maxpool after a conv's fused relu passes no gradient where the relu's output is not
     * positive, and the conv skips its mask (node.dy_masked): direct, Winograd and im2col
     * convs, the 2x2 kernel on odd sizes and the general window */
    {"relu", "- {type: conv, filters: 3, kernel: 3}\n- relu\n- {type: maxpool, kernel: 2}", 2, 7, 5},
    {"relu", "- {type: conv, filters: 8, kernel: 3, padding: 1}\n- relu\n- {type: maxpool, kernel: 2}", 8, 4, 4},
    {"relu", "- {type: conv, filters: 4, kernel: 3, stride: 2}\n- relu\n- {type: maxpool, kernel: 2}", 3, 9, 9},
    {"relu", "- {type: conv, filters: 3, kernel: 3}\n- relu\n- {type: maxpool, kernel: 3, stride: 2}", 2, 7, 7},
    /* a residual block's second batchnorm writes the add's sum and relu (node.res_add),
     * either input order, with and without the relu; a batchnorm with another consumer or
     * a relu of its own does not */
    {"relu", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: conv, filters: 3, kernel: 3, padding: 1}\n"
             "- batchnorm\n- {type: add, inputs: [a, batchnorm1]}\n- relu\n- {type: dense, units: 3}", 2, 4, 3},
    {"add", "- {type: conv, filters: 3, kernel: 1, name: a}\n- {type: conv, filters: 3, kernel: 3, padding: 1}\n"
            "- batchnorm\n- {type: add, inputs: [batchnorm1, a]}\n- {type: dense, units: 3}", 2, 4, 3},
    {"add", "- {type: conv, filters: 3, kernel: 1, name: a}\n- batchnorm\n- {type: add, inputs: [a, batchnorm1]}\n"
            "- {type: dense, units: 3}", 2, 4, 3},
    {"relu", "- {type: conv, filters: 3, kernel: 1, name: a}\n- batchnorm\n- relu\n- {type: add, inputs: [a, relu1]}\n"
             "- {type: dense, units: 3}", 2, 4, 3},
    /* a relu whose producer has another consumer is not fused */
    {"relu", "- {type: conv, filters: 2, kernel: 1, name: a}\n- relu\n- {type: add, inputs: [a, relu1]}", 2, 3, 3},
    /* a batchnorm paired with its conv (node.bn: its sums taken by the conv's forward, its
     * input gradient made by the conv's backward) on every conv path: direct, Winograd (8
     * channels in and out), im2col + GEMM (stride 2, with a bias and the batchnorm's relu),
     * 1x1 */
    {"batchnorm", "- {type: conv, filters: 3, kernel: 3, bias: false}\n- batchnorm", 2, 5, 4},
    {"batchnorm", "- {type: conv, filters: 8, kernel: 3, bias: false}\n- batchnorm", 8, 6, 5},
    {"batchnorm", "- {type: conv, filters: 4, kernel: 3, stride: 2}\n- batchnorm\n- relu", 3, 7, 6},
    {"batchnorm", "- {type: conv, filters: 5, kernel: 1}\n- batchnorm", 3, 4, 4},
};

/* How many batchnorms of a case's YAML follow a conv that only they read (paired with it):
 * a conv line then "- batchnorm", the conv without a name (the cases' named convs are read
 * again later). */
static int want_paired(const char *yaml) {
    int n = 0;
    for (const char *l = yaml; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *end = strchr(l, '\n');
        if (!end || strncmp(l, "- {type: conv", 13)) continue;
        const char *name = strstr(l, "name:");
        if ((!name || name > end) && !strncmp(end + 1, "- batchnorm", 11)) n++;
    }
    return n;
}

enum { N = 2 };

static graph g;
static float *x, *r;
static int64_t nin, nout;

static double loss_now(void) {
    const float *y = graph_forward(&g, x, N, 1, 7, 3);
    double s = 0;
    for (int64_t i = 0; i < nout; i++) s += (double)y[i] * r[i];
    return s;
}

/* Compares analytic gradient a[i] with central differences of loss w.r.t. v[i]. */
static float step_h = 1e-2f;

static int check_grad(const char *what, const char *type, float *v, const float *a, int64_t n, int simd) {
    int bad = 0;
    const float h = step_h;
    for (int64_t i = 0; i < n && bad < 3; i++) {
        float keep = v[i];
        v[i] = keep + h;
        double lp = loss_now();
        v[i] = keep - h;
        double lm = loss_now();
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double tol = 2e-2 * fmax(1.0, fabs(num));
        if (fabs(num - a[i]) > tol) {
            fprintf(stderr, "  %s (%s, simd %s) grad of %s[%lld]: analytic %.6f numeric %.6f\n", type, what,
                    simd_name(simd), what, (long long)i, a[i], num);
            bad++;
        }
    }
    return bad == 0;
}

static void run_case(const tcase *tc, int simd) {
    char text[1024];
    snprintf(text, sizeof text, "%s\n", tc->yaml);
    ynode *root;
    cnn_error e = {0};
    char doc[1200];
    snprintf(doc, sizeof doc, "layers:\n%s", text);
    int rc = ytree_parse(doc, strlen(doc), "case", &root, &e);
    CHECK(rc == 0, "%s: %s", tc->type, e.msg);
    if (rc) return;
    rc = graph_build(&g, ytree_get(root, "layers"), "case", (shape){tc->c, tc->h, tc->w}, &e);
    CHECK(rc == 0, "%s: %s", tc->type, e.msg);
    if (rc) { ytree_free(root); return; }
    graph_init(&g, 11);
    int fused = 0;
    for (int k = 1; k < g.nn; k++) fused += g.nodes[k].alias != 0;
    if (strstr(tc->yaml, "\n- relu") && !strstr(tc->yaml, "name: a}\n- relu"))
        CHECK(fused == 1, "%s: expected the relu to be fused", tc->yaml);
    /* a 2x2 max pool of a direct-path conv's relu runs inside the conv (node.pool) */
    int pooled = 0, resf = 0;
    for (int k = 1; k < g.nn; k++) pooled += g.nodes[k].pool_fused, resf += g.nodes[k].res_fused;
    /* the add right after a batchnorm that only it reads, and that has no relu of its own */
    int want_res = strstr(tc->yaml, "- batchnorm\n- {type: add, inputs: [a, batchnorm1]}") ||
                   strstr(tc->yaml, "- batchnorm\n- {type: add, inputs: [batchnorm1, a]}");
    CHECK(resf == want_res, "%s: %d adds written by their batchnorm, expected %d", tc->yaml, resf, want_res);
    int paired = 0;
    for (int k = 1; k < g.nn; k++)
        if (g.nodes[k].paired) paired += g.nodes[g.nodes[k].in[0]].bn == &g.nodes[k];
    CHECK(paired == want_paired(tc->yaml), "%s: %d batchnorms paired with their conv, expected %d", tc->yaml, paired,
          want_paired(tc->yaml));
    if (strstr(tc->yaml, "filters: 3, kernel: 3}\n- relu\n- {type: maxpool, kernel: 2}"))
        CHECK(pooled == 1, "%s: expected the max pool to run inside the conv", tc->yaml);
    /* Give every parameter a non-trivial value (batchnorm starts at 1 and 0). */
    for (int64_t i = 0; i < g.nparams; i++) g.params[i] += 0.1f * (float)((i * 7919) % 13 - 6) / 6.0f;
    graph_set_threads(&g, 2, &e);
    g.simd = simd;
    CHECK(graph_reserve(&g, N, 1, &e) == 0, "%s", e.msg);
    nin = N * (int64_t)tc->c * tc->h * tc->w;
    nout = N * shape_size(graph_out_shape(&g));
    x = malloc((size_t)nin * sizeof *x);
    r = malloc((size_t)nout * sizeof *r);
    float *dx = malloc((size_t)nin * sizeof *dx), *gw = malloc((size_t)g.nparams * sizeof *gw + 4);
    /* Well-separated input values (a shuffled ramp), so max/relu decisions do not flip under h. */
    for (int64_t i = 0; i < nin; i++) x[i] = (float)(((i * 37) % nin) - nin / 2) * (3.0f / (float)nin) + 0.013f;
    for (int64_t i = 0; i < nout; i++) r[i] = (float)((i * 13) % 7 - 3) / 3.0f;
    g.dinput = dx;
    loss_now();
    graph_backward(&g, r, N, 7, 3);
    memcpy(gw, g.grads, (size_t)g.nparams * sizeof *gw);
    /* A fused relu (or a sum written by a batchnorm, or a batchnorm paired with its conv)
     * must give the same numbers as the separate layers. */
    if (fused || resf || paired) {
        float *dx2 = malloc((size_t)nin * sizeof *dx2), *gw2 = malloc((size_t)g.nparams * sizeof *gw2 + 4);
        float *y1 = malloc((size_t)nout * sizeof *y1);
        memcpy(y1, graph_forward(&g, x, N, 1, 7, 3), (size_t)nout * sizeof *y1);
        graph_unfuse(&g);
        graph_reserve(&g, N, 1, &e);
        const float *y2 = graph_forward(&g, x, N, 1, 7, 3);
        CHECK(memcmp(y1, y2, (size_t)nout * sizeof *y1) == 0, "%s: fused forward differs", tc->yaml);
        g.dinput = dx2;
        graph_backward(&g, r, N, 7, 3);
        CHECK(memcmp(dx, dx2, (size_t)nin * sizeof *dx) == 0, "%s: fused input gradient differs", tc->yaml);
        CHECK(memcmp(gw, g.grads, (size_t)g.nparams * sizeof *gw) == 0, "%s: fused gradients differ", tc->yaml);
        g.dinput = dx;
        free(dx2);
        free(gw2);
        free(y1);
    }
    /* Kinks (relu, leaky) applied to computed values, batch-normalised ones above all, can sit
     * within a step of zero: finer steps there (measured: 3e-4 resolves every case here). */
    int kink = strstr(tc->yaml, "relu") || strstr(tc->yaml, "leaky");
    step_h = kink && strstr(tc->yaml, "batchnorm") ? 3e-4f : kink && fused ? 1e-3f : 1e-2f;
    /* Running statistics change on every forward; the check does not depend on them. */
    CHECK(check_grad("input", tc->type, x, dx, nin, simd), "%s: input gradient (%s)", tc->type, tc->yaml);
    CHECK(check_grad("params", tc->type, g.params, gw, g.nparams, simd), "%s: parameter gradient (%s)", tc->type,
          tc->yaml);
    /* Backward must be repeatable bit for bit. */
    loss_now();
    graph_backward(&g, r, N, 7, 3);
    CHECK(memcmp(gw, g.grads, (size_t)g.nparams * sizeof *gw) == 0, "%s: backward not deterministic", tc->type);
    free(x);
    free(r);
    free(dx);
    free(gw);
    graph_free(&g);
    ytree_free(root);
}

/* Naive convolution, the twin of the im2col + GEMM layer. */
static void naive_conv(const float *in, const float *w, const float *b, float *out, int n, int C, int H, int W, int OC,
                       int KH, int KW, int S, int P, int D, int G, int OH, int OW) {
    int Cg = C / G, OCg = OC / G;
    for (int i = 0; i < n; i++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = b ? b[oc] : 0;
                    int gr = oc / OCg;
                    for (int c = 0; c < Cg; c++)
                        for (int kh = 0; kh < KH; kh++)
                            for (int kw = 0; kw < KW; kw++) {
                                int ih = oh * S - P + kh * D, iw = ow * S - P + kw * D;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += (double)in[((i * C + gr * Cg + c) * H + ih) * W + iw] *
                                     w[((oc * Cg + c) * KH + kh) * KW + kw];
                            }
                    out[((i * OC + oc) * OH + oh) * OW + ow] = (float)s;
                }
}

/* Parses doc and builds its layers into g for inputs of shape `in` (name: for messages),
 * initialised with seed; returns the parsed tree, freed by the caller after graph_free. */
static ynode *build_doc(const char *doc, const char *name, shape in, uint64_t seed) {
    ynode *root = NULL;
    cnn_error e = {0};
    CHECK(ytree_parse(doc, strlen(doc), name, &root, &e) == 0, "%s", e.msg);
    CHECK(graph_build(&g, ytree_get(root, "layers"), name, in, &e) == 0, "%s", e.msg);
    graph_init(&g, seed);
    return root;
}

static void conv_vs_naive(int simd, int n, int C, int H, int W, int OC, int K, int S, int P, int D, int G, int bias) {
    char doc[512];
    snprintf(doc, sizeof doc, "layers:\n- {type: conv, filters: %d, kernel: %d, stride: %d, padding: %d, dilation: %d, "
             "groups: %d, bias: %s}\n", OC, K, S, P, D, G, bias ? "true" : "false");
    ynode *root = build_doc(doc, "conv", (shape){C, H, W}, 3);
    cnn_error e = {0};
    if (bias) for (int i = 0; i < OC; i++) g.nodes[1].t[1].data[i] = 0.1f * (float)i;
    graph_set_threads(&g, 2, &e);
    g.simd = simd;
    graph_reserve(&g, n, 0, &e);
    shape o = graph_out_shape(&g);
    int64_t ni = (int64_t)n * C * H * W, no = (int64_t)n * shape_size(o);
    float *in = malloc((size_t)ni * sizeof *in), *ref = malloc((size_t)no * sizeof *ref);
    for (int64_t i = 0; i < ni; i++) in[i] = (float)((i * 31) % 17) / 8.0f - 1.0f;
    const float *y = graph_forward(&g, in, n, 0, 0, 0);
    naive_conv(in, g.nodes[1].t[0].data, bias ? g.nodes[1].t[1].data : NULL, ref, n, C, H, W, OC, K, K, S, P, D, G,
               o.h, o.w);
    double worst = 0;
    for (int64_t i = 0; i < no; i++) worst = fmax(worst, fabs(y[i] - ref[i]) / (1 + fabs(ref[i])));
    CHECK(worst < 1e-4, "conv %dx%dx%d -> %d k%d s%d p%d d%d g%d batch %d (%s): worst rel error %g", C, H, W, OC, K, S,
          P, D, G, n, simd_name(simd), worst);
    free(in);
    free(ref);
    graph_free(&g);
    ytree_free(root);
}

/* Dense at batch 1 on 2 threads splits the outputs instead of the batch. */
static void dense_batch1(int simd) {
    const char *doc = "layers:\n- {type: dense, units: 37}\n";
    ynode *root = build_doc(doc, "dense", (shape){5, 3, 3}, 9);
    cnn_error e = {0};
    for (int i = 0; i < 37; i++) g.nodes[1].t[1].data[i] = 0.01f * (float)i;
    graph_set_threads(&g, 2, &e);
    g.simd = simd;
    graph_reserve(&g, 1, 0, &e);
    float in[45];
    for (int i = 0; i < 45; i++) in[i] = (float)((i * 13) % 11) / 5.0f - 1.0f;
    const float *y = graph_forward(&g, in, 1, 0, 0, 0), *w = g.nodes[1].t[0].data;
    double worst = 0;
    for (int o = 0; o < 37; o++) {
        double s = g.nodes[1].t[1].data[o];
        for (int i = 0; i < 45; i++) s += (double)w[o * 45 + i] * in[i];
        worst = fmax(worst, fabs(y[o] - s) / (1 + fabs(s)));
    }
    CHECK(worst < 1e-5, "dense batch 1 (%s): worst relative error %g", simd_name(simd), worst);
    graph_free(&g);
    ytree_free(root);
}

/* Inference folds batchnorm into the preceding conv: same outputs as running both. */
static void fold_vs_plain(int simd) {
    const char *doc = "layers:\n- {type: conv, filters: 5, kernel: 3}\n- batchnorm\n- relu\n"
                      "- {type: conv, filters: 4, kernel: 3, stride: 2, bias: false}\n- batchnorm\n- {type: dense, units: 3}\n";
    ynode *root = build_doc(doc, "fold", (shape){3, 9, 8}, 5);
    cnn_error e = {0};
    CHECK(g.nodes[1].fold == 2 && g.nodes[4].fold == 5, "both batchnorms are foldable");
    graph_set_threads(&g, 2, &e);
    g.simd = simd;
    int n = 3;
    int64_t ni = (int64_t)n * 3 * 9 * 8;
    float *in = malloc((size_t)ni * sizeof *in), y1[9];
    for (int64_t i = 0; i < ni; i++) in[i] = (float)((i * 29) % 23) / 7.0f - 1.5f;
    graph_reserve(&g, n, 1, &e);
    for (int k = 0; k < 3; k++) graph_forward(&g, in, n, 1, 1, (uint64_t)k); /* move the running statistics */
    graph_reserve(&g, n, 0, &e);
    memcpy(y1, graph_forward(&g, in, n, 0, 0, 0), sizeof y1);
    graph_unfuse(&g);
    graph_reserve(&g, n, 0, &e);
    const float *y2 = graph_forward(&g, in, n, 0, 0, 0);
    double worst = 0;
    for (int i = 0; i < 9; i++) worst = fmax(worst, fabs(y1[i] - y2[i]) / (1e-3 + fabs(y2[i])));
    CHECK(worst < 1e-4, "folded batchnorm (%s): worst relative error %g", simd_name(simd), worst);
    free(in);
    graph_free(&g);
    ytree_free(root);
}

/* Builds doc for 2x3x3 inputs into g, fills in (EVAL_N images), gives the batchnorms running
 * statistics with three training passes over them and leaves g planned for evaluation. */
enum { EVAL_N = 5 };
static ynode *eval_graph(const char *doc, const char *name, int simd, float in[EVAL_N * 18]) {
    ynode *root = build_doc(doc, name, (shape){2, 3, 3}, 6);
    cnn_error e = {0};
    graph_set_threads(&g, 2, &e);
    g.simd = simd;
    for (int i = 0; i < EVAL_N * 18; i++) in[i] = (float)((i * 29) % 23) / 7.0f - 1.5f;
    graph_reserve(&g, EVAL_N, 1, &e);
    for (int k = 0; k < 3; k++) graph_forward(&g, in, EVAL_N, 1, 1, (uint64_t)k);
    graph_reserve(&g, EVAL_N, 0, &e);
    return root;
}

/* A batchnorm that is not folded (after a dense layer) applies its fused relu itself in
 * evaluation too: the same bits as with the relu as a separate layer. */
static void bn_relu_eval(int simd) {
    float in[EVAL_N * 18], y1[EVAL_N * 3];
    ynode *root = eval_graph("layers:\n- {type: dense, units: 6}\n- batchnorm\n- relu\n- {type: dense, units: 3}\n",
                             "bnrelu", simd, in);
    CHECK(g.nodes[2].act == ACT_RELU && !g.nodes[2].folded_into, "the relu is fused into an unfolded batchnorm");
    memcpy(y1, graph_forward(&g, in, EVAL_N, 0, 0, 0), sizeof y1);
    graph_unfuse(&g);
    cnn_error e = {0};
    graph_reserve(&g, EVAL_N, 0, &e);
    CHECK(memcmp(y1, graph_forward(&g, in, EVAL_N, 0, 0, 0), sizeof y1) == 0, "batchnorm + relu in evaluation (%s)",
          simd_name(simd));
    graph_free(&g);
    ytree_free(root);
}

/* An unfolded batchnorm (after a dense layer) writes its add's sum in evaluation too, the
 * same bits as unfused; a pass that stops at the batchnorm (feature maps) gets its own
 * output, not the sum. */
static void bn_add_eval(int simd) {
    float in[EVAL_N * 18], y1[EVAL_N * 3], b1[EVAL_N * 6];
    ynode *root = eval_graph("layers:\n- {type: dense, units: 6, name: a}\n- {type: dense, units: 6}\n- batchnorm\n"
                             "- {type: add, inputs: [a, batchnorm1]}\n- relu\n- {type: dense, units: 3}\n",
                             "bnadd", simd, in);
    CHECK(g.nodes[3].res_add == &g.nodes[4] && g.nodes[4].res_fused && !g.nodes[3].folded_into,
          "the unfolded batchnorm writes the add");
    memcpy(y1, graph_forward(&g, in, EVAL_N, 0, 0, 0), sizeof y1);
    graph_forward_upto(&g, in, EVAL_N, 3);
    memcpy(b1, g.nodes[3].y, sizeof b1);
    graph_unfuse(&g);
    cnn_error e = {0};
    graph_reserve(&g, EVAL_N, 0, &e);
    CHECK(memcmp(y1, graph_forward(&g, in, EVAL_N, 0, 0, 0), sizeof y1) == 0, "batchnorm + add in evaluation (%s)",
          simd_name(simd));
    CHECK(memcmp(b1, g.nodes[3].y, sizeof b1) == 0, "a pass up to the batchnorm (%s)", simd_name(simd));
    graph_free(&g);
    ytree_free(root);
}

/* The 2x2 max pool kernel against its definition, on every SIMD path: widths around the
 * vector steps (8 and 4 outputs), ties (values on a coarse grid) and NaNs, with and without
 * "none" (tap 4 for a maximum that is not positive, which backward sends nowhere). */
static void maxpool2_vs_naive(int simd) {
    enum { MAXW = 2 * 21 + 1, ROWS = 5 };
    static float xs[2 * ROWS * MAXW], y[ROWS * 21], dy[ROWS * 21], dx[2 * ROWS * MAXW], ref[2 * ROWS * MAXW];
    static uint8_t a[ROWS * 21];
    int bad = 0;
    for (int it = 0; it < 2 * 21; it++) {
        int none = it / 21, OW = it % 21 + 1;
        int W = 2 * OW + (OW & 1); /* odd widths too: the last column is in no window */
        for (int i = 0; i < 2 * ROWS * W; i++) {
            xs[i] = (float)((i * 7 + OW) % 5) - 2.0f; /* many ties */
            if ((i * 13 + OW) % 17 == 0) xs[i] = NAN;
        }
        for (int i = 0; i < ROWS * OW; i++) dy[i] = 0.25f * (float)(i % 9) - 1.0f;
        maxpool2_fwd(simd, xs, W, y, a, OW, ROWS, none);
        for (int row = 0; row < ROWS; row++)
            for (int ow = 0; ow < OW; ow++) {
                const float *p0 = xs + 2 * row * W + 2 * ow, *p1 = p0 + W;
                float v[4] = {p0[0], p0[1], p1[0], p1[1]}, best = v[0];
                int k = 0;
                for (int t = 1; t < 4; t++)
                    if (v[t] > best) best = v[t], k = t;
                int o = row * OW + ow;
                if (none && !(best > 0.0f)) k = 4;
                if (memcmp(&best, y + o, sizeof best) || a[o] != k) bad++;
            }
        /* the same maxima without argmax */
        float y2[ROWS * 21];
        maxpool2_fwd(simd, xs, W, y2, NULL, OW, ROWS, none);
        if (memcmp(y, y2, (size_t)(ROWS * OW) * sizeof *y)) bad++;
        for (int store = 0; store < 2; store++) {
            for (int i = 0; i < 2 * ROWS * W; i++) dx[i] = ref[i] = store ? NAN : 0.5f * (float)(i % 3);
            for (int row = 0; row < ROWS; row++)
                for (int ow = 0; ow < OW; ow++) {
                    float *p0 = ref + 2 * row * W + 2 * ow, *t[4] = {p0, p0 + 1, p0 + W, p0 + W + 1};
                    for (int k = 0; k < 4; k++) {
                        float e = a[row * OW + ow] == k ? dy[row * OW + ow] : 0.0f;
                        *t[k] = store ? e : *t[k] + e;
                    }
                }
            maxpool2_bwd(simd, dy, a, dx, W, OW, ROWS, store);
            if (memcmp(dx, ref, (size_t)(2 * ROWS * W) * sizeof *dx)) bad++;
        }
    }
    CHECK(bad == 0, "maxpool 2x2 kernel (%s): %d mismatches with the definition", simd_name(simd), bad);
}

/* Runs `doc` (input n x c x h x w) forward in training and backward with dout; copies the
 * output, input gradient and parameter gradients (nparams) out, and into tcopy (unless
 * NULL) the first two tensors of the first layer that has any (of the first two), then
 * their gradients (c values each). */
static void run_graph(const char *doc, int simd, int threads, int n, int c, int h, int w, const float *in,
                      const float *dout, float *out, float *din, float *grads, int64_t *nparams, float *tcopy) {
    ynode *root = build_doc(doc, "case", (shape){c, h, w}, 4);
    cnn_error e = {0};
    for (int64_t i = 0; i < g.nparams; i++) g.params[i] += 0.1f * (float)((i * 7919) % 13 - 6) / 6.0f;
    graph_set_threads(&g, threads, &e);
    g.simd = simd;
    CHECK(graph_reserve(&g, n, 1, &e) == 0, "%s", e.msg);
    int64_t no = n * shape_size(graph_out_shape(&g));
    memcpy(out, graph_forward(&g, in, n, 1, 1, 0), (size_t)no * sizeof *out);
    g.dinput = din;
    memset(din, 0, (size_t)n * (size_t)(c * h * w) * sizeof *din);
    graph_backward(&g, dout, n, 1, 0);
    memcpy(grads, g.grads, (size_t)g.nparams * sizeof *grads);
    *nparams = g.nparams;
    node *first = g.nodes[1].nt ? &g.nodes[1] : &g.nodes[2];
    for (int k = 0; tcopy && k < 2; k++) {
        memcpy(tcopy + k * c, first->t[k].data, (size_t)c * sizeof *tcopy);
        memcpy(tcopy + (2 + k) * c, first->t[k].grad, (size_t)c * sizeof *tcopy);
    }
    graph_free(&g);
    ytree_free(root);
}

/* Batchnorm (training) against a naive double-precision twin, with and without a fused relu,
 * on odd plane sizes, 1x1 planes and batch 1; and bit for bit on 2 and 3 threads. Behind a
 * dropout of rate 0 (an exact identity) it stores its input gradient, else it adds. */
static void batchnorm_vs_naive(int simd, int n, int c, int h, int w, int relu, int store) {
    char doc[256];
    snprintf(doc, sizeof doc, "layers:\n%s- {type: batchnorm}\n%s", store ? "- {type: dropout, rate: 0}\n" : "",
             relu ? "- relu\n" : "");
    int64_t hw = (int64_t)h * w, total = n * c * hw;
    float *in = malloc((size_t)total * sizeof *in), *dout = malloc((size_t)total * sizeof *dout);
    float *y = malloc((size_t)total * sizeof *y), *dx = malloc((size_t)total * sizeof *dx);
    float *y3 = malloc((size_t)total * sizeof *y3), *dx3 = malloc((size_t)total * sizeof *dx3);
    float gr[4 * 64], gr3[4 * 64], tv[4 * 64];
    for (int64_t i = 0; i < total; i++) {
        in[i] = (float)((i * 37) % 101) / 25.0f - 2.0f + 0.3f * (float)((i / hw) % c);
        dout[i] = (float)((i * 11) % 23) / 11.0f - 1.0f;
    }
    int64_t np;
    run_graph(doc, simd, 2, n, c, h, w, in, dout, y, dx, gr, &np, tv);
    run_graph(doc, simd, 3, n, c, h, w, in, dout, y3, dx3, gr3, &np, NULL);
    CHECK(!memcmp(y, y3, (size_t)total * sizeof *y) && !memcmp(dx, dx3, (size_t)total * sizeof *dx) &&
              !memcmp(gr, gr3, (size_t)np * sizeof *gr),
          "batchnorm %dx%dx%dx%d relu %d store %d (%s): 2 and 3 threads differ", n, c, h, w, relu, store,
          simd_name(simd));
    double worst = 0;
    for (int ch = 0; ch < c; ch++) {
        double gamma = tv[ch], beta = tv[c + ch];
        double M = (double)n * hw, s = 0, ss = 0, sdy = 0, sdyx = 0;
        for (int b = 0; b < n; b++)
            for (int64_t i = 0; i < hw; i++) s += in[(b * c + ch) * hw + i];
        double mean = s / M;
        for (int b = 0; b < n; b++)
            for (int64_t i = 0; i < hw; i++) ss += pow(in[(b * c + ch) * hw + i] - mean, 2);
        double inv = 1.0 / sqrt(ss / M + 1e-5);
        for (int b = 0; b < n; b++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t o = (b * c + ch) * hw + i;
                double xh = (in[o] - mean) * inv, t = gamma * xh + beta, d = relu && t <= 0 ? 0 : dout[o];
                worst = fmax(worst, fabs(y[o] - (relu && t < 0 ? 0 : t)) / (1 + fabs(t)));
                sdy += d;
                sdyx += d * xh;
            }
        worst = fmax(worst, fabs(tv[2 * c + ch] - sdyx) / (1 + fabs(sdyx)));
        worst = fmax(worst, fabs(tv[3 * c + ch] - sdy) / (1 + fabs(sdy)));
        for (int b = 0; b < n; b++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t o = (b * c + ch) * hw + i;
                double xh = (in[o] - mean) * inv, t = gamma * xh + beta, d = relu && t <= 0 ? 0 : dout[o];
                double ref = gamma * inv * (d - sdy / M - xh * sdyx / M);
                worst = fmax(worst, fabs(dx[o] - ref) / (1 + fabs(ref)));
            }
    }
    CHECK(worst < 1e-4, "batchnorm %dx%dx%dx%d relu %d store %d (%s) against the twin: worst relative error %g", n,
          c, h, w, relu, store, simd_name(simd), worst);
    free(in);
    free(dout);
    free(y);
    free(dx);
    free(y3);
    free(dx3);
}

/* The 2x2 max pool layer with an input gradient stored (behind tanh) or added (graph
 * input) against the general window loop, reached with an equivalent 2x2 window padded by
 * 0 that is not the fast path: kernel [2, 2] with stride 2 IS the fast path, so the twin
 * is a naive loop here. Odd sizes and batch 1. */
static void maxpool_layer_vs_naive(int simd, int n, int c, int h, int w) {
    const char *doc = "layers:\n- tanh\n- {type: maxpool, kernel: 2}\n";
    int OH = h / 2, OW = w / 2;
    int64_t ni = (int64_t)n * c * h * w, no = (int64_t)n * c * OH * OW;
    float *in = malloc((size_t)ni * sizeof *in), *dout = malloc((size_t)no * sizeof *dout);
    float *y = malloc((size_t)no * sizeof *y), *dx = malloc((size_t)ni * sizeof *dx), gr[1];
    for (int64_t i = 0; i < ni; i++) in[i] = (float)((i * 29) % 31) / 10.0f - 1.5f;
    for (int64_t i = 0; i < no; i++) dout[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
    int64_t np;
    run_graph(doc, simd, 2, n, c, h, w, in, dout, y, dx, gr, &np, NULL);
    int bad = 0;
    for (int64_t p = 0; p < (int64_t)n * c; p++) {
        const float *xp = in + p * h * w;
        double *d = calloc((size_t)(h * w), sizeof *d);
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int bi = 2 * oh * w + 2 * ow;
                for (int k = 1; k < 4; k++) {
                    int j = (2 * oh + k / 2) * w + 2 * ow + k % 2;
                    if (tanhf(xp[j]) > tanhf(xp[bi])) bi = j;
                }
                if (y[p * OH * OW + oh * OW + ow] != tanhf(xp[bi])) bad++;
                d[bi] += dout[p * OH * OW + oh * OW + ow];
            }
        for (int j = 0; j < h * w; j++) {
            double t = tanh(xp[j]), ref = d[j] * (1 - t * t);
            if (fabs(dx[p * h * w + j] - ref) > 1e-5 * (1 + fabs(ref))) bad++;
        }
        free(d);
    }
    CHECK(bad == 0, "maxpool layer %dx%dx%dx%d (%s): %d mismatches", n, c, h, w, simd_name(simd), bad);
    free(in);
    free(dout);
    free(y);
    free(dx);
}

/* Global average pool against a naive double-precision mean, its input gradient stored
 * (behind tanh, its first writer) or added (into the graph input's): plane sizes with and
 * without a tail past whole eights of the sum's chains, 1x1 planes and batch 1. */
static void gap_layer_vs_naive(int simd, int n, int c, int h, int w, int store) {
    const char *doc = store ? "layers:\n- tanh\n- {type: gap}\n" : "layers:\n- {type: gap}\n";
    int64_t hw = (int64_t)h * w, ni = n * c * hw, no = (int64_t)n * c;
    float *in = malloc((size_t)ni * sizeof *in), *dout = malloc((size_t)no * sizeof *dout);
    float *y = malloc((size_t)no * sizeof *y), *dx = malloc((size_t)ni * sizeof *dx), gr[1];
    for (int64_t i = 0; i < ni; i++) in[i] = (float)((i * 29) % 31) / 10.0f - 1.4f;
    for (int64_t i = 0; i < no; i++) dout[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
    int64_t np;
    run_graph(doc, simd, 2, n, c, h, w, in, dout, y, dx, gr, &np, NULL);
    double worst = 0;
    for (int64_t p = 0; p < no; p++) {
        double s = 0;
        for (int64_t i = 0; i < hw; i++) s += store ? tanh(in[p * hw + i]) : in[p * hw + i];
        worst = fmax(worst, fabs(y[p] - s / (double)hw) / (1 + fabs(s / (double)hw)));
        for (int64_t i = 0; i < hw; i++) {
            double t = store ? tanh(in[p * hw + i]) : 0, ref = dout[p] / (double)hw * (store ? 1 - t * t : 1);
            worst = fmax(worst, fabs(dx[p * hw + i] - ref) / (1 + fabs(ref)));
        }
    }
    CHECK(worst < 1e-5, "gap %dx%dx%dx%d store %d (%s) against the twin: worst relative error %g", n, c, h, w, store,
          simd_name(simd), worst);
    free(in);
    free(dout);
    free(y);
    free(dx);
}

/* The network of doc with its fusions against the same layers unfused (graph_unfuse): the
 * same bits forward, for the input gradient and for every parameter's gradient. fused(ib,
 * ic) says the fusion under test is in place between nodes ib and ic. */
static void fused_vs_plain(const char *doc, shape sin, int n, int ib, int ic, int (*fused)(int ib, int ic),
                           const char *what) {
    ynode *root = build_doc(doc, "fused", sin, 5);
    cnn_error e = {0};
    graph_set_threads(&g, 2, &e);
    CHECK(fused(ib, ic), "not fused (%s):\n%s", what, doc);
    int64_t ni = n * shape_size(sin), no = n * 3;
    float *in = malloc((size_t)ni * sizeof *in), *dout = malloc((size_t)no * sizeof *dout);
    float *out[2] = {malloc((size_t)no * sizeof(float)), malloc((size_t)no * sizeof(float))};
    float *din[2] = {malloc((size_t)ni * sizeof(float)), malloc((size_t)ni * sizeof(float))};
    float *gr[2] = {malloc((size_t)g.nparams * sizeof(float)), malloc((size_t)g.nparams * sizeof(float))};
    for (int64_t i = 0; i < ni; i++) in[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    for (int64_t i = 0; i < no; i++) dout[i] = (float)((i * 5) % 7) / 3.0f - 1.0f;
    for (int k = 0; k < 2; k++) {
        if (k) graph_unfuse(&g);
        CHECK(graph_reserve(&g, n, 1, &e) == 0, "%s", e.msg);
        memcpy(out[k], graph_forward(&g, in, n, 1, 1, 0), (size_t)no * sizeof(float));
        memset(g.grads, 0, (size_t)g.nparams * sizeof(float));
        g.dinput = din[k];
        graph_backward(&g, dout, n, 1, 0);
        memcpy(gr[k], g.grads, (size_t)g.nparams * sizeof(float));
    }
    CHECK(!memcmp(out[0], out[1], (size_t)no * sizeof(float)) && !memcmp(din[0], din[1], (size_t)ni * sizeof(float)) &&
              !memcmp(gr[0], gr[1], (size_t)g.nparams * sizeof(float)),
          "batch %d: %s differs from the plain layers:\n%s", n, what, doc);
    graph_free(&g);
    ytree_free(root);
    free(in), free(dout), free(out[0]), free(out[1]), free(din[0]), free(din[1]), free(gr[0]), free(gr[1]);
}

/* A batchnorm paired with its conv (node.bn), also where the conv's forward splits output
 * channels instead of images (batch 1 on 2 threads: the batchnorm takes its own sums). */
static int is_paired(int ib, int ic) { return g.nodes[ic].bn == &g.nodes[ib] && g.nodes[ib].paired; }
static void paired_vs_unpaired(const char *doc, shape sin, int n) {
    fused_vs_plain(doc, sin, n, 2, 1, is_paired, "a batchnorm paired with its conv");
}

/* A batchnorm (and relu) whose output only a Winograd conv reads, made inside that conv's
 * input transforms (node.xbn). */
static int is_twin(int ib, int ic) { return g.nodes[ic].xbn == &g.nodes[ib] && g.nodes[ib].xtwin == &g.nodes[ic]; }
static void twin_vs_plain(const char *doc, shape sin, int n, int ib, int ic) {
    fused_vs_plain(doc, sin, n, ib, ic, is_twin, "a conv reading its batchnorm's input");
}

int main(void) {
    for (int l = 0; layer_registry[l]; l++) {
        int found = 0;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) found |= !strcmp(cases[i].type, layer_registry[l]->type);
        CHECK(found, "layer type '%s' has no gradient-check case in tests/test_layers.c", layer_registry[l]->type);
    }
    /* The stride-2 GEMM path at batch 1 (output channels split) and 3; the Winograd path,
     * where the batchnorm's input gradient is made inside the conv's dy fill, with and
     * without the relu, at batch 3 (one backward group) and 16 (two groups: the second
     * starts at image 8). */
    const char *gemm = "layers:\n- {type: conv, filters: 16, kernel: 3, stride: 2}\n- batchnorm\n- relu\n"
                       "- {type: dense, units: 3}\n";
    const char *wino = "layers:\n- {type: conv, filters: 16, kernel: 3, bias: false}\n- batchnorm\n- relu\n"
                       "- {type: dense, units: 3}\n";
    const char *wino_plain = "layers:\n- {type: conv, filters: 16, kernel: 3, bias: false}\n- batchnorm\n"
                             "- {type: dense, units: 3}\n";
    paired_vs_unpaired(gemm, (shape){3, 9, 9}, 1);
    paired_vs_unpaired(gemm, (shape){3, 9, 9}, 3);
    for (int n = 3; n <= 16; n += 13) {
        paired_vs_unpaired(wino, (shape){8, 9, 9}, n);
        paired_vs_unpaired(wino_plain, (shape){8, 9, 9}, n);
    }
    /* The batchnorm before a Winograd conv, with and without its relu, paired with its own
     * conv (bias off) or not, tile rows (batch 3) and image lanes (16), odd map sizes. */
    const char *twins[] = {
        "layers:\n- {type: conv, filters: 8, kernel: 3, bias: false}\n- batchnorm\n- relu\n"
        "- {type: conv, filters: 16, kernel: 3}\n- {type: dense, units: 3}\n",
        "layers:\n- {type: conv, filters: 8, kernel: 3}\n- batchnorm\n- relu\n"
        "- {type: conv, filters: 9, kernel: 3, padding: valid}\n- {type: dense, units: 3}\n",
        "layers:\n- {type: conv, filters: 10, kernel: 3, bias: false}\n- batchnorm\n"
        "- {type: conv, filters: 8, kernel: 3, bias: false}\n- {type: dense, units: 3}\n"};
    for (int n = 3; n <= 16; n += 13) {
        twin_vs_plain(twins[0], (shape){3, 9, 9}, n, 2, 4);
        twin_vs_plain(twins[1], (shape){2, 11, 7}, n, 2, 4);
        twin_vs_plain(twins[2], (shape){1, 10, 12}, n, 2, 3);
    }
    for (int simd = 0; simd < SIMD_COUNT; simd++) {
        if (!simd_supported(simd)) continue;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], simd);
        conv_vs_naive(simd, 1, 1, 28, 28, 32, 3, 1, 1, 1, 1, 0);
        conv_vs_naive(simd, 1, 3, 9, 7, 37, 3, 2, 1, 1, 1, 1);  /* batch 1: output channels split */
        conv_vs_naive(simd, 1, 16, 14, 14, 64, 1, 1, 0, 1, 1, 1);
        conv_vs_naive(simd, 3, 3, 9, 7, 17, 3, 2, 1, 1, 1, 1);
        conv_vs_naive(simd, 2, 5, 8, 8, 9, 1, 1, 0, 1, 1, 1);
        conv_vs_naive(simd, 2, 5, 8, 8, 9, 1, 2, 0, 1, 1, 0);
        conv_vs_naive(simd, 1, 6, 10, 11, 6, 3, 1, 2, 2, 6, 1);
        conv_vs_naive(simd, 4, 16, 14, 14, 33, 3, 1, 1, 1, 1, 0);
        conv_vs_naive(simd, 1, 4, 5, 5, 8, 5, 1, 0, 1, 2, 1);
        fold_vs_plain(simd);
        dense_batch1(simd);
        maxpool2_vs_naive(simd);
        bn_relu_eval(simd);
        bn_add_eval(simd);
        maxpool_layer_vs_naive(simd, 1, 1, 2, 2);
        maxpool_layer_vs_naive(simd, 1, 3, 7, 9);
        maxpool_layer_vs_naive(simd, 3, 5, 28, 28);
        maxpool_layer_vs_naive(simd, 2, 4, 14, 13);
        for (int store = 0; store < 2; store++) {
            gap_layer_vs_naive(simd, 1, 1, 1, 1, store);
            gap_layer_vs_naive(simd, 2, 3, 7, 9, store);
            gap_layer_vs_naive(simd, 3, 5, 32, 32, store);
        }
        for (int mode = 0; mode < 4; mode++) {
            int relu = mode & 1, store = mode >> 1;
            batchnorm_vs_naive(simd, 1, 3, 1, 1, relu, store);
            batchnorm_vs_naive(simd, 1, 4, 5, 7, relu, store);
            batchnorm_vs_naive(simd, 3, 5, 1, 1, relu, store);
            batchnorm_vs_naive(simd, 4, 3, 7, 7, relu, store);
            batchnorm_vs_naive(simd, 5, 2, 28, 28, relu, store);
            batchnorm_vs_naive(simd, 2, 3, 9, 13, relu, store);
        }
    }
    return check_done();
}
