/* show.c - `cnn filters` and `cnn features`: a layer's filters, or an image's feature maps,
 * drawn as a grid of grey tiles in one PNG, so the glossary's "filters sliding over the
 * image" can be looked at. */
#include "cli.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Draws n tiles of th x tw values (tile i at v + i*th*tw), each scaled to its own range,
 * magnified `zoom` times, `cols` per row, one pixel of gap; writes a grey PNG. */
static int draw_grid(const char *path, const float *v, int n, int th, int tw, int cols, int zoom, cnn_error *e) {
    int rows = (n + cols - 1) / cols, ch = th * zoom + 1, cw = tw * zoom + 1;
    int H = rows * ch + 1, W = cols * cw + 1;
    uint8_t *img = calloc((size_t)H * (size_t)W, 1);
    if (!img) return fail(1, "out of memory");
    memset(img, 40, (size_t)H * (size_t)W);
    for (int i = 0; i < n; i++) {
        const float *t = v + (size_t)i * th * tw;
        float lo = t[0], hi = t[0];
        for (int k = 1; k < th * tw; k++) {
            lo = t[k] < lo ? t[k] : lo;
            hi = t[k] > hi ? t[k] : hi;
        }
        float s = hi > lo ? 255.0f / (hi - lo) : 0.0f;
        int y0 = (i / cols) * ch + 1, x0 = (i % cols) * cw + 1;
        for (int y = 0; y < th * zoom; y++)
            for (int x = 0; x < tw * zoom; x++)
                img[(size_t)(y0 + y) * W + x0 + x] = (uint8_t)lrintf((t[(y / zoom) * tw + x / zoom] - lo) * s);
    }
    int rc = cnn_image_save_png(path, img, 1, H, W, e);
    free(img);
    return rc;
}

static int parse(int argc, char **argv, int want_image, const char **model, const char **layer, const char **out,
                 const char **image) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int needs = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--layer") || !strcmp(a, "--out");
        if (needs && i + 1 >= argc) return fail(2, "%s needs a value", a);
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) *model = argv[++i];
        else if (!strcmp(a, "--layer")) *layer = argv[++i];
        else if (!strcmp(a, "--out")) *out = argv[++i];
        else if (a[0] == '-' && a[1]) return fail(2, "unknown option '%s' (see cnn help %s)", a, argv[0]);
        else if (want_image && !*image) *image = a;
        else return fail(2, "unexpected argument '%s' (see cnn help %s)", a, argv[0]);
    }
    if (want_image && !*image) {
        usage(stderr, argv[0]);
        return 2;
    }
    return 0;
}

int cmd_filters(int argc, char **argv) {
    const char *model = "model.cnn", *layer = NULL, *out = "filters.png", *image = NULL, *name;
    int rc = parse(argc, argv, 0, &model, &layer, &out, &image);
    if (rc) return rc;
    cnn_model *m;
    cnn_error err = {0};
    if (cnn_model_load(model, &m, &err)) return fail_err(&err);
    const float *w;
    int d[4];
    if (cnn_model_weights(m, layer, &w, d, &name, &err)) {
        cnn_model_free(m);
        return fail_err(&err);
    }
    /* one tile per (filter, input channel), a row per filter; at most 64 x 64 tiles */
    int oc = d[0] < 64 ? d[0] : 64, ic = d[1] < 64 ? d[1] : 64, kh = d[2], kw = d[3];
    if (kh == 1 && kw == 1 && ic > 1) { /* dense or 1x1: each filter as one tile over its inputs */
        kh = 1;
        kw = d[1];
        ic = 1;
    }
    float *tiles = malloc((size_t)oc * ic * kh * kw * sizeof(float));
    if (!tiles) {
        cnn_model_free(m);
        return fail(1, "out of memory");
    }
    for (int o = 0; o < oc; o++)
        for (int c = 0; c < ic; c++)
            memcpy(tiles + ((size_t)o * ic + c) * kh * kw, w + ((size_t)o * d[1] + c) * d[2] * d[3],
                   (size_t)kh * kw * sizeof(float));
    int cols = ic > 1 ? ic : (int)ceil(sqrt((double)oc)), zoom = kh * 8 > 48 ? 1 : 48 / (kh > kw ? kh : kw);
    rc = draw_grid(out, tiles, oc * ic, kh, kw, cols, zoom < 1 ? 1 : zoom, &err);
    free(tiles);
    if (!rc) printf("%s\t%s\t%d filters x %d channels of %dx%d\n", out, name, d[0], d[1], d[2], d[3]);
    cnn_model_free(m);
    return rc ? fail_err(&err) : 0;
}

int cmd_features(int argc, char **argv) {
    const char *model = "model.cnn", *layer = NULL, *out = "features.png", *image = NULL, *name;
    int rc = parse(argc, argv, 1, &model, &layer, &out, &image);
    if (rc) return rc;
    cnn_model *m;
    cnn_error err = {0};
    if (cnn_model_load(model, &m, &err)) return fail_err(&err);
    int c, h, w;
    cnn_model_input_shape(m, &c, &h, &w);
    uint8_t *px = malloc((size_t)c * h * w);
    float *maps = NULL;
    if (!px) rc = fail(1, "out of memory");
    else if (cnn_image_load(image, c, h, w, px, &err) ||
             cnn_model_feature_maps(m, px, layer, &maps, &c, &h, &w, &name, &err))
        rc = fail_err(&err);
    else if (draw_grid(out, maps, c, h, w, (int)ceil(sqrt((double)c)), h < 32 ? 4 : 1, &err)) rc = fail_err(&err);
    else printf("%s\t%s\t%d maps of %dx%d\n", out, name, c, h, w);
    free(px);
    free(maps);
    cnn_model_free(m);
    return rc;
}
