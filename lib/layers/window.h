/* window.h - the geometry of pooling windows, shared by maxpool and avgpool. */
#ifndef CNN_WINDOW_H
#define CNN_WINDOW_H
#include "layer.h"
#include <stddef.h>

typedef struct window_p { int kernel[2], stride[2], pad[2]; } window_p;

#define WINDOW_KEYS                                                                                          \
    {"kernel", K_INT2, offsetof(window_p, kernel), "2", 1, 256, NULL, "window size: k or [kh, kw]"},         \
    {"stride", K_INT2, offsetof(window_p, stride), "0", 0, 256, NULL, "step between windows (0 = kernel)"},  \
    {"padding", K_INT2, offsetof(window_p, pad), "0", 0, 128, NULL, "padding on each side"},                 \
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}

typedef struct window { int C, H, W, OH, OW, KH, KW, SH, SW, PH, PW; } window;

static inline window window_of(const node *n) {
    const window_p *p = n->p;
    window w = {n->ins[0].c, n->ins[0].h, n->ins[0].w, 0, 0, p->kernel[0], p->kernel[1],
                p->stride[0] ? p->stride[0] : p->kernel[0], p->stride[1] ? p->stride[1] : p->kernel[1],
                p->pad[0], p->pad[1]};
    w.OH = w.H + 2 * w.PH >= w.KH ? (w.H + 2 * w.PH - w.KH) / w.SH + 1 : 0;
    w.OW = w.W + 2 * w.PW >= w.KW ? (w.W + 2 * w.PW - w.KW) / w.SW + 1 : 0;
    return w;
}

static inline int window_infer(node *n, cnn_error *e) {
    window w = window_of(n);
    if (w.PH * 2 > w.KH || w.PW * 2 > w.KW) return node_fail(n, e, "padding must be at most half the kernel");
    if (w.OH < 1 || w.OW < 1)
        return node_fail(n, e, "a %dx%d window does not fit the %dx%d input", w.KH, w.KW, w.H, w.W);
    n->out = (shape){w.C, w.OH, w.OW};
    n->macs = (int64_t)w.C * w.OH * w.OW * w.KH * w.KW;
    return 0;
}
#endif
