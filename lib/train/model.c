/* model.c - creating, saving, loading and querying models; inference. */
#include "model.h"
#include "../core/err.h"
#include "../core/util.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static void free_classes(cnn_model *m) {
    for (int i = 0; i < m->nclasses; i++) free(m->classes[i]);
    free(m->classes);
    m->classes = NULL;
    m->nclasses = 0;
}

void cnn_model_free(cnn_model *m) {
    if (!m) return;
    graph_free(&m->g);
    free_classes(m);
    cnn_config_free(m->cfg);
    free(m);
}

int model_set_classes(cnn_model *m, char *const *names, int n, cnn_error *e) {
    char **c = calloc((size_t)n, sizeof *c);
    if (!c) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        c[i] = str_dup(names && names[i] ? names[i] : num);
        if (!c[i]) {
            for (int j = 0; j < i; j++) free(c[j]);
            free(c);
            return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
        }
    }
    free_classes(m);
    m->classes = c;
    m->nclasses = n;
    return 0;
}

/* A model whose network is planned but has no parameter memory yet (graph_alloc). */
static int model_plan(const cnn_config *cfg, cnn_model **out, cnn_error *e) {
    *out = NULL;
    cnn_model *m = calloc(1, sizeof *m);
    if (!m) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    int rc = cnn_config_parse(cfg->text, cfg->len, cfg->name, (const char *const *)cfg->sets, cfg->nsets, &m->cfg, e);
    if (!rc) rc = graph_plan(&m->g, m->cfg->layers, m->cfg->name,
                             (shape){cfg->in.channels, cfg->in.height, cfg->in.width}, e);
    if (rc) { cnn_model_free(m); return rc; }
    for (int c = 0; c < cfg->in.channels && c < NUMLIST_MAX; c++) {
        m->mean[c] = (float)cfg->data.mean.v[cfg->data.mean.n == 1 ? 0 : c];
        m->std[c] = (float)cfg->data.std.v[cfg->data.std.n == 1 ? 0 : c];
    }
    int K = (int)shape_size(graph_out_shape(&m->g));
    const strlist *cl = &cfg->data.classes;
    if (cl->n && cl->n != K) {
        int code = cnn_fail(e, CNN_ERR_CONFIG, "%s: data.classes names %d classes but the last layer has %d outputs",
                            cfg->name, cl->n, K);
        cnn_model_free(m);
        return code;
    }
    char **names = NULL;
    if (cl->n) {
        names = calloc((size_t)K, sizeof *names);
        if (!names) { cnn_model_free(m); return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); }
        for (int i = 0; i < K; i++) names[i] = (char *)strlist_at(cl, i);
    }
    rc = model_set_classes(m, names, K, e);
    free(names);
    if (rc) { cnn_model_free(m); return rc; }
    *out = m;
    return 0;
}

int cnn_model_create(const cnn_config *cfg, cnn_model **out, cnn_error *e) {
    cnn_model *m;
    int rc = model_plan(cfg, &m, e);
    if (rc) return rc;
    if ((rc = graph_alloc(&m->g, e))) { cnn_model_free(m); return rc; }
    graph_init(&m->g, (uint64_t)cfg->train.seed);
    *out = m;
    return 0;
}

int cnn_model_set_threads(cnn_model *m, int threads, cnn_error *e) { return graph_set_threads(&m->g, threads, e); }
int cnn_model_threads(const cnn_model *m) { return m->g.pool ? pool_size(m->g.pool) : 1; }
const cnn_config *cnn_model_config(const cnn_model *m) { return m->cfg; }
int cnn_model_layer_count(const cnn_model *m) { return m->g.nn - 1; }
void cnn_model_input_shape(const cnn_model *m, int *c, int *h, int *w) {
    *c = m->g.nodes[0].out.c;
    *h = m->g.nodes[0].out.h;
    *w = m->g.nodes[0].out.w;
}
int cnn_model_class_count(const cnn_model *m) { return m->nclasses; }
const char *cnn_model_class_name(const cnn_model *m, int i) {
    return i >= 0 && i < m->nclasses ? m->classes[i] : "?";
}

void cnn_model_layer_info(const cnn_model *m, int i, cnn_layer_info *out) {
    const node *n = &m->g.nodes[i + 1];
    int64_t params = 0;
    for (int k = 0; k < n->nt; k++)
        if (n->t[k].kind == T_PARAM) params += n->t[k].count;
    *out = (cnn_layer_info){n->name, n->ops->type, n->out.c, n->out.h, n->out.w, params, n->macs,
                            shape_size(n->out) * (int64_t)sizeof(float), n->line};
}

void model_normalize(const cnn_model *m, const uint8_t *px, int64_t n, float *out) {
    shape s = m->g.nodes[0].out;
    int64_t hw = (int64_t)s.h * s.w;
    for (int64_t b = 0; b < n; b++)
        for (int c = 0; c < s.c; c++) {
            float sc = 1.0f / (255.0f * m->std[c % NUMLIST_MAX]), mu = m->mean[c % NUMLIST_MAX] / m->std[c % NUMLIST_MAX];
            const uint8_t *p = px + (b * s.c + c) * hw;
            float *o = out + (b * s.c + c) * hw;
            for (int64_t i = 0; i < hw; i++) o[i] = (float)p[i] * sc - mu;
        }
}

int cnn_model_predict(cnn_model *m, const uint8_t *px, int n, float *probs, cnn_error *e) {
    enum { CHUNK = 64 };
    int chunk = n < CHUNK ? (n > 0 ? n : 1) : CHUNK;
    if (graph_reserve(&m->g, chunk, 0, e)) return e->code;
    int64_t per = shape_size(m->g.nodes[0].out);
    float *x = aligned_alloc64((size_t)chunk * (size_t)per * sizeof(float));
    if (!x) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    int K = m->nclasses;
    for (int at = 0; at < n; at += chunk) {
        int b = n - at < chunk ? n - at : chunk;
        model_normalize(m, px + (int64_t)at * per, b, x);
        const float *y = graph_forward(&m->g, x, b, 0, 0, 0);
        for (int i = 0; i < b; i++) {
            const float *l = y + (int64_t)i * K;
            float *p = probs + (int64_t)(at + i) * K, mx = l[0];
            for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
            double s = 0;
            for (int k = 0; k < K; k++) s += (p[k] = expf(l[k] - mx));
            for (int k = 0; k < K; k++) p[k] = (float)(p[k] / s);
        }
    }
    free(x);
    return 0;
}

/* ---- checkpoints ---- */

static int count_tensors(const graph *g) {
    int n = 0;
    for (int k = 1; k < g->nn; k++) n += g->nodes[k].nt;
    return n;
}

int model_to_ckpt(const cnn_model *m, const float *const *opt, const char *const *opt_names, int nopt, ckpt *c,
                  cnn_error *e) {
    memset(c, 0, sizeof *c);
    const graph *g = &m->g;
    int nt = count_tensors(g);
    c->t = calloc((size_t)nt * (size_t)(1 + nopt), sizeof *c->t);
    char *meta = malloc(64 + (size_t)m->cfg->nsets * 1100);
    if (!c->t || !meta) { free(c->t); free(meta); return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); }
    size_t ml = 0;
    ml += (size_t)sprintf(meta + ml, "cnn=%s\n", CNN_VERSION);
    for (int i = 0; i < m->cfg->nsets; i++) ml += (size_t)sprintf(meta + ml, "set=%.1024s\n", m->cfg->sets[i]);
    c->meta = meta;
    c->config = m->cfg->text;
    c->config_name = m->cfg->name;
    c->nclasses = m->nclasses;
    c->classes = m->classes;
    c->epoch = m->epoch;
    c->step = m->step;
    c->seed = (uint64_t)m->cfg->train.seed;
    for (int o = -1; o < nopt; o++)
        for (int k = 1; k < g->nn; k++)
            for (int i = 0; i < g->nodes[k].nt; i++) {
                const tensor *t = &g->nodes[k].t[i];
                if (o >= 0 && t->kind != T_PARAM) continue;
                ckpt_tensor *ct = &c->t[c->ntensors++];
                if (o < 0) snprintf(ct->name, sizeof ct->name, "%s.%s", g->nodes[k].name, t->name);
                else snprintf(ct->name, sizeof ct->name, "%s.%s.%s", opt_names[o], g->nodes[k].name, t->name);
                ct->ndim = t->ndim;
                for (int d = 0; d < t->ndim; d++) ct->dims[d] = t->dims[d];
                ct->count = t->count;
                ct->data = o < 0 ? t->data : (float *)opt[o] + t->off;
            }
    return 0;
}

void model_ckpt_release(ckpt *c) {
    free(c->t);
    free(c->meta);
    memset(c, 0, sizeof *c);
}

static void shape_text(char *buf, size_t n, int ndim, const int64_t *d64, const int *d32) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i ? "x%lld" : "%lld", (long long)(d64 ? d64[i] : d32[i]));
}

/* Every tensor of the network is in the checkpoint with the same shape: checked before
 * anything is allocated for the network (copy = 0), then again while copying. */
static int match_ckpt(graph *g, const ckpt *c, const char *path, int copy, cnn_error *e) {
    for (int k = 1; k < g->nn; k++)
        for (int i = 0; i < g->nodes[k].nt; i++) {
            tensor *t = &g->nodes[k].t[i];
            char name[160];
            snprintf(name, sizeof name, "%s.%s", g->nodes[k].name, t->name);
            const ckpt_tensor *ct = ckpt_find(c, name);
            if (!ct)
                return cnn_fail(e, CNN_ERR_DATA, "%s: has no tensor '%s': the checkpoint is of a different network",
                                path, name);
            int same = ct->ndim == t->ndim && ct->count == t->count;
            for (int d = 0; same && d < t->ndim; d++) same = ct->dims[d] == t->dims[d];
            if (!same) {
                char a[64], b[64];
                shape_text(a, sizeof a, ct->ndim, ct->dims, NULL);
                shape_text(b, sizeof b, t->ndim, NULL, t->dims);
                return cnn_fail(e, CNN_ERR_DATA, "%s: tensor '%s' is %s in the checkpoint but %s in the network", path,
                                name, a, b);
            }
            if (copy) memcpy(t->data, ct->data, (size_t)t->count * sizeof(float));
        }
    return 0;
}

int model_from_ckpt(cnn_model *m, const ckpt *c, const char *path, cnn_error *e) {
    if (match_ckpt(&m->g, c, path, 1, e)) return e->code;
    m->g.version++;
    return 0;
}

int cnn_model_save(const cnn_model *m, const char *path, cnn_error *e) {
    ckpt c;
    if (model_to_ckpt(m, NULL, NULL, 0, &c, e)) return e->code;
    int rc = ckpt_write(path, &c, e);
    model_ckpt_release(&c);
    return rc;
}

int cnn_model_load(const char *path, cnn_model **out, cnn_error *e) {
    *out = NULL;
    ckpt c;
    int rc = ckpt_read(path, &c, e);
    if (rc) return rc;
    /* Re-apply the --set overrides recorded in the checkpoint. */
    const char *sets[64];
    int ns = 0;
    char *meta = str_dup(c.meta ? c.meta : "");
    for (char *save = NULL, *l = strtok_r(meta, "\n", &save); l && ns < 64; l = strtok_r(NULL, "\n", &save))
        if (!strncmp(l, "set=", 4)) sets[ns++] = l + 4;
    char name[4200];
    snprintf(name, sizeof name, "%s (in %s)", c.config_name && *c.config_name ? c.config_name : "config", path);
    cnn_config *cfg = NULL;
    rc = cnn_config_parse(c.config ? c.config : "", c.config ? strlen(c.config) : 0, name, sets, ns, &cfg, e);
    free(meta);
    /* A --set recorded in the checkpoint is reported as "--set ...": say which file it is in. */
    if (rc && e && strncmp(e->msg, name, strlen(name))) cnn_error_prefix(e, path);
    cnn_model *m = NULL;
    if (!rc) rc = model_plan(cfg, &m, e);
    cnn_config_free(cfg);
    /* No memory for the network until its tensors are known to be in the file: a small
     * file must not make us allocate (and randomly initialise) gigabytes. */
    if (!rc) rc = match_ckpt(&m->g, &c, path, 0, e);
    if (!rc) rc = graph_alloc(&m->g, e);
    if (!rc) rc = model_from_ckpt(m, &c, path, e);
    if (!rc && c.nclasses) {
        if (c.nclasses != m->nclasses)
            rc = cnn_fail(e, CNN_ERR_DATA, "%s: %d class names for a network with %d outputs", path, c.nclasses,
                          m->nclasses);
        else
            for (int i = 0; !rc && i < c.nclasses; i++) {
                const char *ctrl = c.classes[i] ? str_ctrl(c.classes[i]) : NULL;
                if (ctrl) rc = cnn_fail(e, CNN_ERR_DATA, "%s: class name %d has a control character (byte %d)", path, i, *ctrl);
            }
        if (!rc) rc = model_set_classes(m, c.classes, c.nclasses, e);
    }
    if (!rc) {
        m->epoch = c.epoch;
        m->step = c.step;
    }
    ckpt_free(&c);
    if (rc) { cnn_model_free(m); return rc; }
    *out = m;
    return 0;
}
