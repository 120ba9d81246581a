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

/* The common 2x2 stride 2 window without padding: no bounds checks, rows in pairs. Ties
 * and NaN resolve as in the general loop (first maximum in row-major order wins). */
static void fwd_2x2(const window *w, const float *x, float *y, int32_t *a) {
    for (int oh = 0; oh < w->OH; oh++) {
        const float *r0 = x + 2 * oh * w->W, *r1 = r0 + w->W;
        for (int ow = 0; ow < w->OW; ow++) {
            float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
            /* selects, not branches: which tap wins is random, so branches would mispredict */
            int b1 = v1 > v0;
            float m = b1 ? v1 : v0;
            int k = b1;
            int b2 = v2 > m;
            m = b2 ? v2 : m;
            k = b2 ? 2 : k;
            int b3 = v3 > m;
            m = b3 ? v3 : m;
            k = b3 ? 3 : k;
            y[oh * w->OW + ow] = m;
            if (a) a[oh * w->OW + ow] = (2 * oh + (k >> 1)) * w->W + 2 * ow + (k & 1);
        }
    }
}

/* One (image, channel) plane per item. */
static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    node *n = c->n;
    int32_t *arg_out = c->train ? (int32_t *)n->saved : NULL;
    if (w->KH == 2 && w->KW == 2 && w->SH == 2 && w->SW == 2 && w->PH == 0 && w->PW == 0) {
        for (int64_t p = lo; p < hi; p++)
            fwd_2x2(w, n->x[0] + p * w->H * w->W, n->y + p * w->OH * w->OW,
                    arg_out ? arg_out + p * w->OH * w->OW : NULL);
        return;
    }
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
