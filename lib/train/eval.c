/* eval.c - accuracy, top-5, loss and the confusion matrix over a test set. */
#include "model.h"
#include "optim.h"
#include "sets.h"
#include "../core/err.h"
#include "../core/util.h"
#include <string.h>

int model_evaluate(cnn_model *m, const dataset *d, int64_t n0, int64_t n, cnn_eval_result *r, cnn_error *e) {
    enum { CHUNK = 256 };
    int K = m->nclasses;
    memset(r, 0, sizeof *r);
    r->classes = K;
    r->confusion = calloc((size_t)K * (size_t)K, sizeof *r->confusion);
    if (!r->confusion) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    if (graph_reserve(&m->g, CHUNK, 0, e)) { cnn_eval_free(r); return e->code; }
    int64_t per = (int64_t)d->c * d->h * d->w;
    float *x = aligned_alloc64((size_t)CHUNK * (size_t)per * sizeof(float));
    if (!x) { cnn_eval_free(r); return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); }
    double loss = 0;
    int64_t c1 = 0, c5 = 0;
    for (int64_t at = n0; at < n0 + n; at += CHUNK) {
        int b = (int)(n0 + n - at < CHUNK ? n0 + n - at : CHUNK);
        model_normalize(m, d->x + at * per, b, x);
        const float *y = graph_forward(&m->g, x, b, 0, 0, 0);
        loss += loss_softmax_ce(y, d->y + at, b, K, 0, NULL, &c1, &c5);
        for (int i = 0; i < b; i++) {
            const float *l = y + (int64_t)i * K;
            int arg = 0;
            for (int k = 1; k < K; k++)
                if (l[k] > l[arg]) arg = k;
            r->confusion[(int64_t)d->y[at + i] * K + arg]++;
        }
    }
    free(x);
    r->n = n;
    r->loss = n ? loss / (double)n : 0;
    r->accuracy = n ? (double)c1 / (double)n : 0;
    r->top5 = n ? (double)c5 / (double)n : 0;
    return 0;
}

int cnn_eval(cnn_model *m, const cnn_config *cfg, cnn_eval_result *out, cnn_error *e) {
    memset(out, 0, sizeof *out);
    dataset d = {0};
    int rc = sets_load(cfg ? cfg : m->cfg, SET_TEST, m->nclasses, &d, e);
    if (rc) return rc;
    rc = model_evaluate(m, &d, 0, d.n, out, e);
    dataset_free(&d);
    return rc;
}

void cnn_eval_free(cnn_eval_result *r) {
    if (!r) return;
    free(r->confusion);
    r->confusion = NULL;
}
