/* optim.c - SGD (momentum, Nesterov, L2 weight decay), Adam and AdamW, with the same
 * update order as PyTorch's so results can be compared. */
#include "optim.h"
#include "../core/err.h"
#include "../core/util.h"
#include <math.h>
#include <string.h>

const char *const optim_state_names[2] = {"opt.m", "opt.v"};

int optim_init(optim *o, const optim_cfg *cfg, const graph *g, cnn_error *e) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = g->nparams;
    o->nstate = cfg->type == OPT_SGD ? 1 : 2;
    size_t bytes = (size_t)g->nparams * sizeof(float);
    o->m = aligned_alloc64(bytes);
    o->v = o->nstate > 1 ? aligned_alloc64(bytes) : NULL;
    unsigned char *mask = calloc((size_t)g->nparams + 1, 1);
    if (!o->m || (o->nstate > 1 && !o->v) || !mask) {
        free(mask);
        optim_free(o);
        return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory for optimizer state");
    }
    memset(o->m, 0, bytes);
    if (o->v) memset(o->v, 0, bytes);
    for (int k = 1; k < g->nn; k++)
        for (int i = 0; i < g->nodes[k].nt; i++) {
            const tensor *t = &g->nodes[k].t[i];
            if (t->kind == T_PARAM && t->decay) memset(mask + t->off, 1, (size_t)t->count);
        }
    /* Weight decay is constant over each tensor: the update walks runs instead of reading
     * a mask per parameter (a sixth of its memory traffic). Runs alternate no-decay/decay,
     * starting with no-decay (possibly empty). */
    int nr = 1;
    for (int64_t i = 1; i <= o->n; i++) nr += i == o->n || mask[i] != mask[i - 1];
    o->runs = malloc((size_t)(nr + 2) * sizeof *o->runs);
    if (!o->runs) {
        free(mask);
        optim_free(o);
        return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory for optimizer state");
    }
    int r = 0;
    o->runs[r++] = 0;
    if (o->n > 0 && mask[0]) o->runs[r++] = 0;
    for (int64_t i = 1; i < o->n; i++)
        if (mask[i] != mask[i - 1]) o->runs[r++] = i;
    o->runs[r] = o->n;
    o->nruns = r;
    free(mask);
    return 0;
}

void optim_free(optim *o) {
    free(o->m);
    free(o->v);
    free(o->runs);
    memset(o, 0, sizeof *o);
}

typedef struct job { optim *o; float *w; const float *g; float lr; uint64_t t; } job;

/* [lo, hi) within one run; wd is 0 for a run without weight decay, where adding wd * w
 * would still turn a -0 gradient into +0, so the no-decay loops leave it out. */
static void sgd_run(const optim_cfg *c, float *restrict w, float *restrict m, const float *restrict g, int64_t n,
                    float lr, float wd) {
    float mu = (float)c->momentum;
    if (wd != 0 && c->nesterov)
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + wd * w[i];
            m[i] = mu * m[i] + gi;
            w[i] -= lr * (gi + mu * m[i]);
        }
    else if (wd != 0)
        for (int64_t i = 0; i < n; i++) {
            m[i] = mu * m[i] + (g[i] + wd * w[i]);
            w[i] -= lr * m[i];
        }
    else if (c->nesterov)
        for (int64_t i = 0; i < n; i++) {
            m[i] = mu * m[i] + g[i];
            w[i] -= lr * (g[i] + mu * m[i]);
        }
    else
        for (int64_t i = 0; i < n; i++) {
            m[i] = mu * m[i] + g[i];
            w[i] -= lr * m[i];
        }
}

static void adam_run(const job *j, int64_t lo, int64_t hi, int decay) {
    const optim_cfg *c = &j->o->cfg;
    float lr = j->lr, wd = decay ? (float)c->weight_decay : 0.0f;
    float *w = j->w, *m = j->o->m, *v = j->o->v;
    const float *g = j->g;
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    float c1 = (float)(1.0 - pow(c->beta1, (double)j->t)), c2s = (float)sqrt(1.0 - pow(c->beta2, (double)j->t));
    int adamw = c->type == OPT_ADAMW;
    for (int64_t i = lo; i < hi; i++) {
        float gi = g[i];
        if (decay && adamw) w[i] -= lr * wd * w[i];
        else if (decay) gi += wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] -= lr * (m[i] / c1) / (sqrtf(v[i]) / c2s + eps);
    }
}

static void step_part(void *arg, int ith, int nth) {
    job *j = arg;
    optim *o = j->o;
    int64_t lo, hi;
    split_range(o->n, ith, nth, &lo, &hi);
    for (int k = 0; k < o->nruns; k++) {
        int64_t a = o->runs[k] > lo ? o->runs[k] : lo, b = o->runs[k + 1] < hi ? o->runs[k + 1] : hi;
        if (a >= b) continue;
        if (o->cfg.type == OPT_SGD)
            sgd_run(&o->cfg, j->w + a, o->m + a, j->g + a, b - a, j->lr, k & 1 ? (float)o->cfg.weight_decay : 0.0f);
        else adam_run(j, a, b, k & 1);
    }
}

void optim_step(optim *o, graph *g, double lr, uint64_t t) {
    job j = {o, g->params, g->grads, (float)lr, t};
    pool_run(g->pool, step_part, &j);
    g->version++;
}

double sched_lr(const sched_cfg *s, double base, int64_t step, int64_t spe, int64_t total) {
    double t = (double)step / (double)(spe > 0 ? spe : 1), E = (double)total / (double)(spe > 0 ? spe : 1);
    const double pi = 3.14159265358979323846;
    if (s->type == SCHED_ONECYCLE) {
        double up = s->pct_start * (double)total, x = (double)step;
        double lo = base / 25.0, end = base / 1e4;
        if (x < up) return lo + (base - lo) * 0.5 * (1 - cos(pi * x / up));
        double f = (x - up) / ((double)total - up > 1 ? (double)total - up : 1);
        return end + (base - end) * 0.5 * (1 + cos(pi * (f > 1 ? 1 : f)));
    }
    if (s->warmup_epochs > 0 && t < s->warmup_epochs) return base * (double)(step + 1) / (s->warmup_epochs * (double)spe);
    switch (s->type) {
    case SCHED_STEP: return base * pow(s->gamma, floor(t / s->step_epochs));
    case SCHED_COSINE: {
        double f = (t - s->warmup_epochs) / (E - s->warmup_epochs > 0 ? E - s->warmup_epochs : 1);
        if (f > 1) f = 1;
        return s->min_lr + (base - s->min_lr) * 0.5 * (1 + cos(pi * f));
    }
    default: return base;
    }
}

double loss_softmax_ce(const float *logits, const int32_t *labels, int n, int k, double smoothing, float *d,
                       int64_t *correct, int64_t *correct5) {
    double total = 0;
    for (int b = 0; b < n; b++) {
        const float *l = logits + (int64_t)b * k;
        int y = labels[b];
        float mx = l[0];
        int arg = 0;
        for (int i = 1; i < k; i++)
            if (l[i] > mx) { mx = l[i]; arg = i; }
        double s = 0;
        for (int i = 0; i < k; i++) s += exp((double)(l[i] - mx));
        double lse = log(s) + mx, loss = 0;
        int above = 0;
        for (int i = 0; i < k; i++) {
            double q = (1 - smoothing) * (i == y) + smoothing / k;
            loss -= q * ((double)l[i] - lse);
            if (d) d[(int64_t)b * k + i] = (float)((exp((double)l[i] - lse) - q) / n);
            above += l[i] > l[y];
        }
        total += loss;
        if (correct) *correct += arg == y;
        if (correct5) *correct5 += above < 5;
    }
    return total;
}
