/* maxpool.c - max over windows; the winner's index is kept for backward (training). */
#include "window.h"
#include <float.h>
#include <stdint.h>

static const keyspec maxpool_keys[] = {WINDOW_KEYS};

static int maxpool_infer(node *n, cnn_error *e) {
    if (window_infer(n, e)) return e ? e->code : CNN_ERR_CONFIG;
    n->saved_floats = shape_size(n->out); /* argmax as int32 */
    return 0;
}

typedef struct ctx { node *n; window w; int train; } ctx;

/* One (image, channel) plane per item. */
static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    node *n = c->n;
    int32_t *arg_out = c->train ? (int32_t *)n->saved : NULL;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = n->x[0] + p * w->H * w->W;
        float *y = n->y + p * w->OH * w->OW;
        int32_t *a = arg_out ? arg_out + p * w->OH * w->OW : NULL;
        for (int oh = 0; oh < w->OH; oh++)
            for (int ow = 0; ow < w->OW; ow++) {
                float best = -FLT_MAX;
                int bi = -1;
                for (int kh = 0; kh < w->KH; kh++) {
                    int ih = oh * w->SH - w->PH + kh;
                    if (ih < 0 || ih >= w->H) continue;
                    for (int kw = 0; kw < w->KW; kw++) {
                        int iw = ow * w->SW - w->PW + kw;
                        if (iw < 0 || iw >= w->W) continue;
                        float v = x[ih * w->W + iw];
                        if (v > best || bi < 0) { best = v; bi = ih * w->W + iw; }
                    }
                }
                y[oh * w->OW + ow] = best;
                if (a) a[oh * w->OW + ow] = bi;
            }
    }
}

static void maxpool_fwd(node *n, exec *x) {
    ctx c = {n, window_of(n), x->training && n->saved};
    exec_for(x, (int64_t)x->n * c.w.C, (int64_t)c.w.H * c.w.W, fwd_range, &c);
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    node *n = c->n;
    for (int64_t p = lo; p < hi; p++) {
        const int32_t *a = (const int32_t *)n->saved + p * w->OH * w->OW;
        const float *dy = n->dy + p * w->OH * w->OW;
        float *dx = n->dx[0] + p * w->H * w->W;
        for (int i = 0; i < w->OH * w->OW; i++) dx[a[i]] += dy[i];
    }
}

static void maxpool_bwd(node *n, exec *x) {
    if (!n->dx[0]) return;
    ctx c = {n, window_of(n), 1};
    exec_for(x, (int64_t)x->n * c.w.C, (int64_t)c.w.H * c.w.W, bwd_range, &c);
}

const layer_ops layer_maxpool = {"maxpool", "maximum over each window", maxpool_keys, sizeof(window_p), 1, 1,
                                 maxpool_infer, maxpool_fwd, maxpool_bwd};
