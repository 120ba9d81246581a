/* test_twins.c - the layers without kernels of their own (element-wise activations,
 * dropout, average pool, add, concat, flatten) against naive double-precision twins
 * written here: their output and their input gradient, stored (the layer behind a rate-0
 * dropout, an exact identity, is its first writer) and added (into the graph input's).
 * test_layers checks their gradients against finite differences, which a wrong forward
 * passes as long as backward matches it; this checks what they compute. */
#include "check.h"
#include "layer_run.h"

#include <stdio.h>

enum { NI = 3, C = 4, H = 7, W = 9 };
static const int64_t HW = (int64_t)H * W, TOTAL = (int64_t)NI * C * H * W;

/* layer_run's input and output-gradient patterns */
static double x_at(int64_t i) { return (float)((i * 7919) % 101 - 50) / 50.0f; }
static double dy_at(int64_t i) { return (float)((i * 104729) % 37 - 18) / 18.0f; }

static double rel(double got, double want) { return fabs(got - want) / (1 + fabs(want)); }

static double sigm(double x) { return 1 / (1 + exp(-x)); }

/* f(x) and f'(x) of the activation `name` (leaky's slope 0.1); the layers take 0 as a
 * kink's derivative at 0. */
static void act_ref(const char *name, double x, double *f, double *d) {
    if (!strcmp(name, "relu")) *f = x < 0 ? 0 : x, *d = x > 0;
    else if (!strcmp(name, "leaky")) *f = x > 0 ? x : 0.1 * x, *d = x > 0 ? 1 : 0.1;
    else if (!strcmp(name, "sigmoid")) *f = sigm(x), *d = sigm(x) * (1 - sigm(x));
    else if (!strcmp(name, "tanh")) *f = tanh(x), *d = 1 - tanh(x) * tanh(x);
    else if (!strcmp(name, "gelu"))
        *f = 0.5 * x * (1 + erf(x / sqrt(2))), *d = 0.5 * (1 + erf(x / sqrt(2))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    else *f = x * sigm(x), *d = sigm(x) * (1 + x * (1 - sigm(x))); /* swish */
}

static int run(const char *layers, int store, lrun *o) {
    char doc[512];
    snprintf(doc, sizeof doc, "layers:\n%s%s", store ? "- {type: dropout, rate: 0}\n" : "", layers);
    memset(o, 0, sizeof *o);
    return layer_run(doc, "auto", (shape){C, H, W}, NI, 2, o);
}

static void activation(const char *name, int store) {
    char layer[64];
    snprintf(layer, sizeof layer, "- %s\n", strcmp(name, "leaky") ? name : "{type: leaky, slope: 0.1}");
    lrun o;
    if (run(layer, store, &o)) return;
    double worst = 0;
    for (int64_t i = 0; i < TOTAL; i++) {
        double f, d;
        act_ref(name, x_at(i), &f, &d);
        worst = fmax(worst, fmax(rel(o.y[i], f), rel(o.dx[i], dy_at(i) * d)));
    }
    CHECK(worst < 1e-5, "%s (gradient %s): worst relative error %g against the twin", name,
          store ? "stored" : "added", worst);
    free_run(&o);
}

/* Inverted dropout: each output 0 or x / (1 - rate), about 1 - rate of them kept, and the
 * gradient through the same mask. */
static void dropout(double rate) {
    char layer[64];
    snprintf(layer, sizeof layer, "- {type: dropout, rate: %g}\n", rate);
    lrun o;
    if (run(layer, 0, &o)) return;
    int64_t kept = 0, bad = 0, seen = 0;
    for (int64_t i = 0; i < TOTAL; i++) {
        double x = x_at(i);
        if (x == 0) continue; /* kept or not, both read 0 */
        seen++;
        int k = o.y[i] != 0;
        kept += k;
        if (rel(o.y[i], k ? x / (1 - rate) : 0) > 1e-6 || rel(o.dx[i], k ? dy_at(i) / (1 - rate) : 0) > 1e-6) bad++;
    }
    double frac = (double)kept / (double)seen;
    CHECK(bad == 0 && fabs(frac - (1 - rate)) < 0.1, "dropout %g: %lld values off the twin, %.3f kept", rate,
          (long long)bad, frac);
    free_run(&o);
}

/* Average pool, kernel k, stride s, padding p: padded taps count as zeros (the divisor is
 * always k * k). */
static void avgpool(int k, int s, int p, int store) {
    char layer[96];
    snprintf(layer, sizeof layer, "- {type: avgpool, kernel: %d, stride: %d, padding: %d}\n", k, s, p);
    lrun o;
    if (run(layer, store, &o)) return;
    int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
    double *dx = calloc((size_t)TOTAL, sizeof *dx), worst = 0;
    for (int64_t pl = 0; pl < (int64_t)NI * C; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int64_t yo = (pl * OH + oh) * OW + ow;
                double sum = 0, g = dy_at(yo) / (k * k);
                for (int i = oh * s - p; i < oh * s - p + k; i++)
                    for (int j = ow * s - p; j < ow * s - p + k; j++)
                        if (i >= 0 && i < H && j >= 0 && j < W) {
                            sum += x_at(pl * HW + i * W + j);
                            dx[pl * HW + i * W + j] += g;
                        }
                worst = fmax(worst, rel(o.y[yo], sum / (k * k)));
            }
    for (int64_t i = 0; i < TOTAL; i++) worst = fmax(worst, rel(o.dx[i], dx[i]));
    CHECK(o.ny == (int64_t)NI * C * OH * OW && worst < 1e-5,
          "avgpool k%d s%d p%d (gradient %s): worst relative error %g against the twin", k, s, p,
          store ? "stored" : "added", worst);
    free(dx);
    free_run(&o);
}

/* add: x + tanh(x); concat: [tanh(x), x] per image; flatten: x itself. */
static void joins(void) {
    lrun o;
    double worst = 0;
    if (!run("- {type: tanh, name: t}\n- {type: add, inputs: [input, t]}\n", 0, &o)) {
        for (int64_t i = 0; i < TOTAL; i++) {
            double t = tanh(x_at(i));
            worst = fmax(worst, fmax(rel(o.y[i], x_at(i) + t), rel(o.dx[i], dy_at(i) * (2 - t * t))));
        }
        CHECK(worst < 1e-5, "add: worst relative error %g against the twin", worst);
        free_run(&o);
    }
    worst = 0;
    if (!run("- {type: tanh, name: t}\n- {type: concat, inputs: [t, input]}\n", 0, &o)) {
        int64_t per = (int64_t)C * HW;
        for (int64_t b = 0; b < NI; b++)
            for (int64_t j = 0; j < per; j++) {
                int64_t i = b * per + j, yt = b * 2 * per + j, yx = yt + per;
                double t = tanh(x_at(i));
                worst = fmax(worst, fmax(rel(o.y[yt], t), rel(o.y[yx], x_at(i))));
                worst = fmax(worst, rel(o.dx[i], dy_at(yt) * (1 - t * t) + dy_at(yx)));
            }
        CHECK(o.ny == 2 * TOTAL && worst < 1e-5, "concat: worst relative error %g against the twin", worst);
        free_run(&o);
    }
    worst = 0;
    if (!run("- flatten\n", 1, &o)) {
        for (int64_t i = 0; i < TOTAL; i++) worst = fmax(worst, fmax(rel(o.y[i], x_at(i)), rel(o.dx[i], dy_at(i))));
        CHECK(o.ny == TOTAL && worst == 0, "flatten: worst relative error %g against the twin", worst);
        free_run(&o);
    }
}

int main(void) {
    static const char *acts[] = {"relu", "leaky", "sigmoid", "tanh", "gelu", "swish"};
    for (int store = 0; store < 2; store++) {
        for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) activation(acts[a], store);
        avgpool(2, 2, 0, store);
        avgpool(3, 2, 1, store);
        avgpool(3, 1, 1, store);
    }
    dropout(0.5);
    dropout(0.2);
    joins();
    return check_done();
}
