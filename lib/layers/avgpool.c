/* avgpool.c - mean over windows; padded taps count as zeros (divisor kh*kw always). */
#include "window.h"

static const keyspec avgpool_keys[] = {WINDOW_KEYS};

typedef struct ctx { node *n; window w; } ctx;

static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    float inv = 1.0f / (float)(w->KH * w->KW);
    for (int64_t p = lo; p < hi; p++) {
        const float *x = c->n->x[0] + p * w->H * w->W;
        float *y = c->n->y + p * w->OH * w->OW;
        for (int oh = 0; oh < w->OH; oh++)
            for (int ow = 0; ow < w->OW; ow++) {
                float s = 0;
                for (int kh = 0; kh < w->KH; kh++) {
                    int ih = oh * w->SH - w->PH + kh;
                    if (ih < 0 || ih >= w->H) continue;
                    for (int kw = 0; kw < w->KW; kw++) {
                        int iw = ow * w->SW - w->PW + kw;
                        if (iw >= 0 && iw < w->W) s += x[ih * w->W + iw];
                    }
                }
                y[oh * w->OW + ow] = s * inv;
            }
    }
}

static void avgpool_fwd(node *n, exec *x) {
    ctx c = {n, window_of(n)};
    exec_for(x, (int64_t)x->n * c.w.C, (int64_t)c.w.H * c.w.W, fwd_range, &c);
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    float inv = 1.0f / (float)(w->KH * w->KW);
    for (int64_t p = lo; p < hi; p++) {
        const float *dy = c->n->dy + p * w->OH * w->OW;
        float *dx = c->n->dx[0] + p * w->H * w->W;
        for (int oh = 0; oh < w->OH; oh++)
            for (int ow = 0; ow < w->OW; ow++) {
                float g = dy[oh * w->OW + ow] * inv;
                for (int kh = 0; kh < w->KH; kh++) {
                    int ih = oh * w->SH - w->PH + kh;
                    if (ih < 0 || ih >= w->H) continue;
                    for (int kw = 0; kw < w->KW; kw++) {
                        int iw = ow * w->SW - w->PW + kw;
                        if (iw >= 0 && iw < w->W) dx[ih * w->W + iw] += g;
                    }
                }
            }
    }
}

static void avgpool_bwd(node *n, exec *x) {
    if (!n->dx[0]) return;
    ctx c = {n, window_of(n)};
    exec_for(x, (int64_t)x->n * c.w.C, (int64_t)c.w.H * c.w.W, bwd_range, &c);
}

const layer_ops layer_avgpool = {"avgpool", "mean over each window", avgpool_keys, sizeof(window_p), 1, 1,
                                 window_infer, avgpool_fwd, avgpool_bwd};
