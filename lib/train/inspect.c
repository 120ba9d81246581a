/* inspect.c - looking inside a model: a layer's filters and an image's feature maps. */
#include "model.h"
#include "../core/err.h"
#include "../core/util.h"
#include <string.h>

/* The node named `layer`, or with layer NULL the first conv; 0 with e set if none. */
static int find_layer(const graph *g, const char *layer, cnn_error *e) {
    for (int k = 1; k < g->nn; k++)
        if (layer ? !strcmp(g->nodes[k].name, layer) : !strcmp(g->nodes[k].ops->type, "conv")) return k;
    if (layer) return cnn_fail(e, CNN_ERR_CONFIG, "no layer named '%s' (cnn summary lists them)", layer), 0;
    return cnn_fail(e, CNN_ERR_CONFIG, "the model has no conv layer"), 0;
}

int cnn_model_weights(const cnn_model *m, const char *layer, const float **w, int dims[4], const char **name,
                      cnn_error *e) {
    int k = find_layer(&m->g, layer, e);
    if (!k) return e->code;
    const node *n = &m->g.nodes[k];
    if (strcmp(n->ops->type, "conv") && strcmp(n->ops->type, "dense"))
        return cnn_fail(e, CNN_ERR_CONFIG, "layer '%s' is a %s: only conv and dense layers have filters", n->name,
                        n->ops->type);
    const tensor *t = &n->t[0];
    for (int d = 0; d < 4; d++) dims[d] = d < t->ndim ? t->dims[d] : 1;
    *w = t->data;
    *name = n->name;
    return 0;
}

int cnn_model_feature_maps(cnn_model *m, const uint8_t *px, const char *layer, float **out, int *c, int *h, int *w,
                           const char **name, cnn_error *e) {
    *out = NULL;
    graph *g = &m->g;
    int k = find_layer(g, layer, e);
    if (!k) return e->code;
    /* Unfused, every layer has its own output; this model is for looking, not training. */
    graph_unfuse(g);
    if (graph_reserve(g, 1, 0, e)) return e->code;
    int64_t per = shape_size(g->nodes[0].out), size = shape_size(g->nodes[k].out);
    float *x = aligned_alloc64((size_t)per * sizeof(float));
    float *o = malloc((size_t)size * sizeof(float));
    if (!x || !o) {
        free(x);
        free(o);
        return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    }
    model_normalize(m, px, 1, x);
    graph_forward_upto(g, x, 1, k);
    memcpy(o, g->nodes[k].y, (size_t)size * sizeof(float));
    free(x);
    *out = o;
    *c = g->nodes[k].out.c;
    *h = g->nodes[k].out.h;
    *w = g->nodes[k].out.w;
    *name = g->nodes[k].name;
    return 0;
}
