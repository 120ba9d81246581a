/* maxpool.c - max over windows; the winner is kept for backward (training). The common
 * 2x2 stride 2 window without padding has its own kernel (kernels/maxpool2.h): vector selects,
 * and the winner kept as a one-byte tap index instead of an int32 input index, a quarter
 * of the memory traffic. Other windows keep the int32 index. */
#include "window.h"
#include "../kernels/maxpool2.h"
#include <float.h>
#include <stdint.h>
#include <string.h>

static const keyspec maxpool_keys[] = {WINDOW_KEYS};

static int is_2x2(const window *w) {
    return w->KH == 2 && w->KW == 2 && w->SH == 2 && w->SW == 2 && w->PH == 0 && w->PW == 0;
}

static int maxpool_infer(node *n, cnn_error *e) {
    if (window_infer(n, e)) return e ? e->code : CNN_ERR_CONFIG;
    window w = window_of(n);
    /* argmax per output: bytes for the 2x2 path, else int32 */
    n->saved_floats = is_2x2(&w) ? (shape_size(n->out) + 3) / 4 : shape_size(n->out);
    n->bwd_store = 1;
    return 0;
}

typedef struct ctx { node *n; window w; int train, store, simd; } ctx;

/* The 2x2 kernel over planes [lo, hi) of x (winners into the saved bytes when train). With
 * an even height the row pairs of consecutive planes follow each other, and one call takes
 * the whole range. */
static void fwd_2x2(const node *n, const window *w, const float *x, int64_t lo, int64_t hi, int train, int simd) {
    uint8_t *a = train ? (uint8_t *)n->saved + lo * w->OH * w->OW : NULL;
    int64_t per = w->H & 1 ? 1 : hi - lo;
    for (int64_t p = lo; p < hi; p += per, a = a ? a + per * w->OH * w->OW : NULL)
        maxpool2_fwd(simd, x + p * w->H * w->W, w->W, n->y + p * w->OH * w->OW, a, w->OW, per * w->OH, n->relu_in);
}

/* One (image, channel) plane per item. */
static void fwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    node *n = c->n;
    if (is_2x2(w)) {
        fwd_2x2(n, w, n->x[0], lo, hi, c->train, c->simd);
        return;
    }
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
                if (a) a[oh * w->OW + ow] = n->relu_in && !(best > 0.0f) ? -1 : bi;
            }
    }
}

static void maxpool_fwd(node *n, exec *x) {
    ctx c = {n, window_of(n), x->training && n->saved, 0, x->simd};
    exec_for(x, (int64_t)x->n * c.w.C, (int64_t)c.w.H * c.w.W, fwd_range, &c);
}

/* The 2x2 kernel's backward over planes [lo, hi), into the gradient dx of the whole input. */
static void bwd_2x2(const node *n, const window *w, float *dx0, int64_t lo, int64_t hi, int store, int simd) {
    int64_t per = w->H & 1 ? 1 : hi - lo;
    for (int64_t p = lo; p < hi; p += per) {
        float *dx = dx0 + p * w->H * w->W;
        maxpool2_bwd(simd, n->dy + p * w->OH * w->OW, (const uint8_t *)n->saved + p * w->OH * w->OW, dx, w->W, w->OW,
                     per * w->OH, store);
        if (!store) continue;
        /* inputs no window reads: the last column of an odd width, the last row of an odd height */
        if (w->W & 1)
            for (int64_t r = 0; r < 2 * per * w->OH; r++) dx[(r + 1) * w->W - 1] = 0.0f;
        if (w->H & 1) memset(dx + (w->H - 1) * w->W, 0, (size_t)w->W * sizeof(float));
    }
}

static void bwd_range(void *arg, int64_t lo, int64_t hi) {
    ctx *c = arg;
    const window *w = &c->w;
    node *n = c->n;
    if (is_2x2(w)) {
        bwd_2x2(n, w, n->dx[0], lo, hi, c->store, c->simd);
        return;
    }
    for (int64_t p = lo; p < hi; p++) {
        const int32_t *a = (const int32_t *)n->saved + p * w->OH * w->OW;
        const float *dy = n->dy + p * w->OH * w->OW;
        float *dx = n->dx[0] + p * w->H * w->W;
        if (c->store) memset(dx, 0, (size_t)w->H * (size_t)w->W * sizeof(float));
        for (int i = 0; i < w->OH * w->OW; i++)
            if (a[i] >= 0) dx[a[i]] += dy[i];
    }
}

static void maxpool_bwd(node *n, exec *x) {
    if (!n->dx[0]) return;
    ctx c = {n, window_of(n), 1, n->dx_fresh, x->simd};
    exec_for(x, (int64_t)x->n * c.w.C, (int64_t)c.w.H * c.w.W, bwd_range, &c);
}

int maxpool_fusable(const node *m) {
    window w = window_of(m);
    return is_2x2(&w);
}

void maxpool_in_conv_fwd(node *m, const float *x, int64_t lo, int64_t hi, int train, int simd) {
    window w = window_of(m);
    fwd_2x2(m, &w, x, lo * w.C, hi * w.C, train && m->saved, simd);
}

void maxpool_in_conv_bwd(node *m, float *dx, int64_t lo, int64_t hi, int simd) {
    window w = window_of(m);
    bwd_2x2(m, &w, dx, lo * w.C, hi * w.C, 1, simd);
}

const layer_ops layer_maxpool = {"maxpool", "maximum over each window", maxpool_keys, sizeof(window_p), 1, 1,
                                 maxpool_infer, maxpool_fwd, maxpool_bwd};
