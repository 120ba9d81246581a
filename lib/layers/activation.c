/* activation.c - element-wise activation layers: relu, leaky, sigmoid, tanh, gelu, swish.
 * They are one layer kind with different functions, so they share this file: each is a
 * pair (f, f') generated into forward/backward loops by ACTIVATION(). Backward uses the
 * input x (and the output y where that is cheaper). */
#include "layer.h"
#include <math.h>
#include <stddef.h>

typedef struct leaky_p { double slope; } leaky_p;

static const keyspec no_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL, NULL}};
static const keyspec leaky_keys[] = {
    {"slope", K_NUM, offsetof(leaky_p, slope), "0.01", 0, 1, NULL, "gradient for negative inputs"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static int act_infer(node *n, cnn_error *e) {
    (void)e;
    n->out = n->ins[0];
    n->bwd_store = 1;
    return 0;
}

typedef struct ctx { node *n; float a; } ctx;

/* y = F(x); dx += dy * D(x, y); `a` is the layer's parameter (leaky slope). */
#define ACTIVATION(NAME, DOC, KEYS, PSIZE, F, D)                                               \
    static void NAME##_fr(void *arg, int64_t lo, int64_t hi) {                                \
        ctx *c = arg;                                                                          \
        const float *X = c->n->x[0];                                                           \
        float *Y = c->n->y, a = c->a;                                                          \
        (void)a;                                                                               \
        for (int64_t i = lo; i < hi; i++) { float x = X[i]; Y[i] = (F); }                      \
    }                                                                                          \
    static void NAME##_br(void *arg, int64_t lo, int64_t hi) {                                \
        ctx *c = arg;                                                                          \
        const float *X = c->n->x[0], *Y = c->n->y, *DY = c->n->dy;                             \
        float *DX = c->n->dx[0], a = c->a;                                                     \
        (void)a; (void)Y;                                                                      \
        if (c->n->dx_fresh)                                                                    \
            for (int64_t i = lo; i < hi; i++) { float x = X[i], y = Y[i]; (void)x; (void)y; DX[i] = DY[i] * (D); } \
        else                                                                                   \
            for (int64_t i = lo; i < hi; i++) { float x = X[i], y = Y[i]; (void)x; (void)y; DX[i] += DY[i] * (D); } \
    }                                                                                          \
    static void NAME##_fwd(node *n, exec *x) {                                                 \
        ctx c = {n, (PSIZE) ? (float)((const leaky_p *)n->p)->slope : 0.0f};                         \
        exec_for(x, x->n * shape_size(n->out), 1, NAME##_fr, &c);                              \
    }                                                                                          \
    static void NAME##_bwd(node *n, exec *x) {                                                 \
        if (!n->dx[0]) return;                                                                 \
        ctx c = {n, (PSIZE) ? (float)((const leaky_p *)n->p)->slope : 0.0f};                         \
        exec_for(x, x->n * shape_size(n->out), 1, NAME##_br, &c);                              \
    }                                                                                          \
    const layer_ops layer_##NAME = {#NAME, DOC, KEYS, PSIZE, 1, 1, act_infer, NAME##_fwd, NAME##_bwd};

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float gelu_f(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678f)); }
static inline float gelu_d(float x) {
    return 0.5f * (1.0f + erff(x * 0.70710678f)) + x * 0.39894228f * expf(-0.5f * x * x);
}

ACTIVATION(relu, "max(0, x)", no_keys, 0, x < 0 ? 0.0f : x, x > 0 ? 1.0f : 0.0f)
ACTIVATION(leaky, "x for x > 0, slope * x otherwise", leaky_keys, sizeof(leaky_p), x > 0 ? x : a * x,
           x > 0 ? 1.0f : a)
ACTIVATION(sigmoid, "1 / (1 + exp(-x))", no_keys, 0, sigm(x), y * (1.0f - y))
ACTIVATION(tanh, "hyperbolic tangent", no_keys, 0, tanhf(x), 1.0f - y * y)
ACTIVATION(gelu, "x * Phi(x), the Gaussian error linear unit (exact erf form)", no_keys, 0, gelu_f(x), gelu_d(x))
ACTIVATION(swish, "x * sigmoid(x) (also called SiLU)", no_keys, 0, x * sigm(x),
           sigm(x) * (1.0f + x * (1.0f - sigm(x))))
