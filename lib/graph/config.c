/* config.c - reading a model file: the YAML tree, --set overrides, every section checked
 * against its key table (which is also the documentation), and the network built once to
 * check shapes. */
#include "config.h"
#include "graph.h"
#include "../core/err.h"
#include "../core/util.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define END {NULL, 0, 0, NULL, 0, 0, NULL, NULL}

static const keyspec top_keys[] = {
    {"name", K_STR, offsetof(top_cfg, name), "", 0, 0, NULL, "the network's name (default: the file name without .yaml)"},
    {"output", K_STR, offsetof(top_cfg, output), "", 0, 0, NULL, "run directory (default: runs/NAME)"},
    {"input", K_MAP, 0, "", 0, 0, NULL, "input image shape (section input)"},
    {"layers", K_SEQ, 0, "", 0, 0, NULL, "the network: a list of layers, each {type: ..., keys}"},
    {"data", K_MAP, 0, "", 0, 0, NULL, "where the images come from (section data)"},
    {"train", K_MAP, 0, "", 0, 0, NULL, "the training recipe (section train)"},
    END};
static const keyspec input_keys[] = {
    {"channels", K_INT, offsetof(input_cfg, channels), "1", 1, 4096, NULL, "1 = grey, 3 = RGB"},
    {"height", K_INT, offsetof(input_cfg, height), "28", 1, CNN_MAX_IMAGE_SIDE, NULL, "pixels"},
    {"width", K_INT, offsetof(input_cfg, width), "28", 1, CNN_MAX_IMAGE_SIDE, NULL, "pixels"},
    END};
static const keyspec data_keys[] = {
    {"format", K_ENUM, offsetof(data_cfg, format), "idx", 0, 0, "idx|folder|csv|cifar10",
     "idx: IDX files (gzip or not); folder: one sub-directory per class; csv: lines path,label; cifar10: binary batches"},
    {"train", K_STRS, offsetof(data_cfg, train), "", 0, 0, NULL,
     "training images: IDX image file, folder, CSV file, or list of CIFAR batch files"},
    {"train_labels", K_STR, offsetof(data_cfg, train_labels), "", 0, 0, NULL, "IDX label file for train"},
    {"test", K_STRS, offsetof(data_cfg, test), "", 0, 0, NULL, "test images (same forms as train), used by eval"},
    {"test_labels", K_STR, offsetof(data_cfg, test_labels), "", 0, 0, NULL, "IDX label file for test"},
    {"validation", K_STRS, offsetof(data_cfg, validation), "", 0, 0, NULL,
     "a separate validation set (same forms as train); evaluated each epoch"},
    {"validation_labels", K_STR, offsetof(data_cfg, validation_labels), "", 0, 0, NULL, "IDX label file for validation"},
    {"validation_split", K_NUM, offsetof(data_cfg, validation_split), "0", 0, 0.9, NULL,
     "fraction of the training set held out for validation (a fixed random subset from the seed)"},
    {"classes", K_STRS, offsetof(data_cfg, classes), "", 0, 0, NULL,
     "class names in label order (default: from the data, else the label numbers)"},
    {"mean", K_NUMS, offsetof(data_cfg, mean), "0", -1e6, 1e6, NULL,
     "per-channel mean subtracted after scaling pixels to 0..1 (one value or one per channel)"},
    {"std", K_NUMS, offsetof(data_cfg, std), "1", 1e-6, 1e6, NULL, "per-channel divisor after the mean"},
    {"limit", K_INT, offsetof(data_cfg, limit), "0", 0, 2000000000, NULL, "use only the first N training images (0 = all)"},
    {"test_limit", K_INT, offsetof(data_cfg, test_limit), "0", 0, 2000000000, NULL, "use only the first N test images"},
    {"augment", K_MAP, 0, "", 0, 0, NULL, "training-time augmentation (section data.augment)"},
    END};
static const keyspec aug_keys[] = {
    {"flip", K_BOOL, offsetof(aug_cfg, flip), "false", 0, 0, NULL, "random horizontal flip"},
    {"crop_padding", K_INT, offsetof(aug_cfg, crop_padding), "0", 0, 64, NULL,
     "random crop of the original size from the image zero-padded by this many pixels"},
    END};
static const keyspec train_keys[] = {
    {"epochs", K_INT, offsetof(train_cfg, epochs), "10", 1, 100000, NULL, "passes over the training set"},
    {"batch", K_INT, offsetof(train_cfg, batch), "64", 1, CNN_MAX_BATCH, NULL, "images per step"},
    {"seed", K_INT, offsetof(train_cfg, seed), "1", 0, 2147483647, NULL,
     "seeds init, shuffling, augmentation and dropout; same seed + threads = same bits"},
    {"threads", K_INT, offsetof(train_cfg, threads), "0", 0, 256, NULL, "worker threads (0 = one per core)"},
    {"log_every", K_INT, offsetof(train_cfg, log_every), "50", 1, 1000000, NULL, "steps between progress lines"},
    {"label_smoothing", K_NUM, offsetof(train_cfg, label_smoothing), "0", 0, 0.99, NULL,
     "mix this much of the uniform distribution into the one-hot targets"},
    {"optimizer", K_MAP, 0, "", 0, 0, NULL, "section train.optimizer"},
    {"schedule", K_MAP, 0, "", 0, 0, NULL, "section train.schedule"},
    END};
static const keyspec optim_keys[] = {
    {"type", K_ENUM, offsetof(optim_cfg, type), "sgd", 0, 0, "sgd|adam|adamw", "update rule"},
    {"lr", K_NUM, offsetof(optim_cfg, lr), "0.01", 0, 100, NULL, "learning rate (peak rate for one-cycle)"},
    {"momentum", K_NUM, offsetof(optim_cfg, momentum), "0.9", 0, 0.999999, NULL, "sgd: momentum"},
    {"nesterov", K_BOOL, offsetof(optim_cfg, nesterov), "false", 0, 0, NULL, "sgd: Nesterov momentum"},
    {"weight_decay", K_NUM, offsetof(optim_cfg, weight_decay), "0", 0, 1, NULL,
     "L2 penalty on weights (not biases or norms); decoupled for adamw"},
    {"beta1", K_NUM, offsetof(optim_cfg, beta1), "0.9", 0, 0.999999, NULL, "adam/adamw: first moment decay"},
    {"beta2", K_NUM, offsetof(optim_cfg, beta2), "0.999", 0, 0.999999999, NULL, "adam/adamw: second moment decay"},
    {"eps", K_NUM, offsetof(optim_cfg, eps), "1e-8", 1e-20, 1, NULL, "adam/adamw: denominator guard"},
    END};
static const keyspec sched_keys[] = {
    {"type", K_ENUM, offsetof(sched_cfg, type), "constant", 0, 0, "constant|step|cosine|onecycle",
     "learning-rate schedule over the whole run"},
    {"warmup_epochs", K_NUM, offsetof(sched_cfg, warmup_epochs), "0", 0, 1000, NULL,
     "linear warm-up from 0 over this many epochs (constant, step, cosine)"},
    {"step_epochs", K_INT, offsetof(sched_cfg, step_epochs), "10", 1, 100000, NULL, "step: epochs between decays"},
    {"gamma", K_NUM, offsetof(sched_cfg, gamma), "0.1", 0, 1, NULL, "step: factor at each decay"},
    {"min_lr", K_NUM, offsetof(sched_cfg, min_lr), "0", 0, 100, NULL, "cosine: final learning rate"},
    {"pct_start", K_NUM, offsetof(sched_cfg, pct_start), "0.3", 0.01, 0.99, NULL,
     "onecycle: fraction of the run spent rising to lr"},
    END};

typedef struct section { const char *name; const keyspec *keys; } section;
static const section sections[] = {{"", top_keys},          {"input", input_keys},
                                   {"data", data_keys},     {"data.augment", aug_keys},
                                   {"train", train_keys},   {"train.optimizer", optim_keys},
                                   {"train.schedule", sched_keys}};

int cnn_config_key_doc(int i, cnn_key_doc *out) {
    static const char *const tnames[] = {"int", "int or [h, w]", "number", "bool", "choice", "same|valid|int|[h, w]",
                                         "string", "string(s)", "number(s)", "mapping", "list"};
    for (size_t s = 0; s < sizeof sections / sizeof *sections; s++)
        for (const keyspec *k = sections[s].keys; k->key; k++)
            if (i-- == 0) {
                *out = (cnn_key_doc){sections[s].name, k->key, k->type == K_ENUM ? k->choices : tnames[k->type],
                                     k->def ? k->def : "", k->doc};
                return 1;
            }
    static char names[64][48];
    for (int l = 0; layer_registry[l]; l++) {
        if (i-- == 0) {
            snprintf(names[l % 64], sizeof names[0], "layer %s", layer_registry[l]->type);
            *out = (cnn_key_doc){names[l % 64], "", "", "", layer_registry[l]->doc};
            return 1;
        }
        for (const keyspec *k = layer_registry[l]->keys; k->key; k++)
            if (i-- == 0) {
                snprintf(names[l % 64], sizeof names[0], "layer %s", layer_registry[l]->type);
                *out = (cnn_key_doc){names[l % 64], k->key, k->type == K_ENUM ? k->choices : tnames[k->type],
                                     k->def ? k->def : "", k->doc};
                return 1;
            }
    }
    return 0;
}

void cnn_config_free(cnn_config *c) {
    if (!c) return;
    ytree_free(c->root);
    for (int i = 0; i < c->nsets; i++) free(c->sets[i]);
    free(c->sets);
    free(c->text);
    free(c->name);
    free(c->output);
    free(c);
}

const char *cnn_config_output(const cnn_config *c) { return c->output; }

/* Applies "a.b.c=value" to the tree. Nodes it creates carry line 0 and col = index + 1, so
 * errors about them can be reported as coming from the --set argument. */
static int apply_set(cnn_config *c, int idx, cnn_error *e) {
    const char *s = c->sets[idx];
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return cnn_fail(e, CNN_ERR_CONFIG, "--set %s: expected KEY=VALUE, e.g. --set train.epochs=3", s);
    char path[256];
    size_t plen = (size_t)(eq - s);
    if (plen >= sizeof path) return cnn_fail(e, CNN_ERR_CONFIG, "--set %.60s...: key too long (255 bytes at most)", s);
    memcpy(path, s, plen);
    path[plen] = 0;
    /* Parse the value as YAML so lists ([1, 2]) work. */
    char text[1100];
    if (strlen(eq + 1) > 1000)
        return cnn_fail(e, CNN_ERR_CONFIG, "--set %.60s...: value too long (1000 bytes at most)", s);
    snprintf(text, sizeof text, "v: %s\n", eq + 1);
    ynode *tmp;
    cnn_error e2;
    if (ytree_parse(text, strlen(text), "--set", &tmp, &e2))
        return cnn_fail(e, CNN_ERR_CONFIG, "--set %s: the value is not valid YAML", s);
    ynode *val = tmp->vals[0];
    tmp->vals[0] = NULL;
    ytree_free(tmp);
    ynode *stack[64];
    int ns = 0;
    stack[ns++] = val;
    while (ns) { /* mark every created node as coming from --set */
        ynode *n = stack[--ns];
        n->line = 0;
        n->col = idx + 1;
        for (int i = 0; i < n->n && ns < 63; i++) {
            if (n->keys) { n->keys[i]->line = 0; n->keys[i]->col = idx + 1; }
            stack[ns++] = n->vals[i];
        }
    }
    char *parts[32];
    int np = 0;
    for (char *q = path, *save = NULL, *t; (t = strtok_r(q, ".", &save)) && np < 32; q = NULL) parts[np++] = t;
    if (np == 0) { ytree_free(val); return cnn_fail(e, CNN_ERR_CONFIG, "--set %s: empty key", s); }
    ynode *m = c->root;
    for (int pi = 0; pi < np; pi++) {
        const char *part = parts[pi];
        int last = pi == np - 1;
        if (m->kind == Y_SCALAR) {
            ytree_free(val);
            return cnn_fail(e, CNN_ERR_CONFIG, "--set %s: '%s' is a value, not a section", s, parts[pi - 1]);
        }
        if (m->kind == Y_SEQ) {
            char *end;
            long i = strtol(part, &end, 10);
            if (*end || i < 0 || i >= m->n) {
                ytree_free(val);
                return cnn_fail(e, CNN_ERR_CONFIG, "--set %s: '%s' is not an index of the list (0..%d)", s, part, m->n - 1);
            }
            if (last) { ytree_free(m->vals[i]); m->vals[i] = val; return 0; }
            m = m->vals[i];
            continue;
        }
        int at = -1;
        for (int i = 0; i < m->n; i++)
            if (!strcmp(m->keys[i]->str, part)) at = i;
        if (at >= 0 && last) { ytree_free(m->vals[at]); m->vals[at] = val; return 0; }
        if (at >= 0) { m = m->vals[at]; continue; }
        ynode *k = ytree_new(Y_SCALAR, 0, idx + 1), *v = last ? val : ytree_new(Y_MAP, 0, idx + 1);
        if (k) k->str = str_dup(part);
        if (!k || !k->str || !v || !ytree_put(m, k, v)) {
            ytree_free(k);
            if (v != val) ytree_free(v);
            ytree_free(val);
            return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
        }
        if (last) return 0;
        m = v;
    }
    ytree_free(val);
    return cnn_fail(e, CNN_ERR_CONFIG, "--set %s: empty key", s);
}

/* Turns "name:0:K: msg" (a node from --set number K) into "--set EXPR: msg". */
static int fix_set_message(cnn_config *c, cnn_error *e) {
    if (!e) return CNN_ERR_CONFIG;
    size_t nl = strlen(c->name);
    int k = 0, used = 0;
    if (!strncmp(e->msg, c->name, nl) && sscanf(e->msg + nl, ":0:%d:%n", &k, &used) == 1 && used && k >= 1 &&
        k <= c->nsets) {
        char tmp[sizeof e->msg];
        snprintf(tmp, sizeof tmp, "--set %s:%s", c->sets[k - 1], e->msg + nl + used);
        memcpy(e->msg, tmp, sizeof tmp);
    }
    return e->code;
}

static int check_data(cnn_config *c, cnn_error *e) {
    data_cfg *d = &c->data;
    ynode *dn = ytree_get(c->root, "data");
    int line = dn ? dn->line : 1, col = dn ? dn->col : 1;
    if (d->format == FMT_IDX) {
        if (d->train.n > 1 || d->test.n > 1 || d->validation.n > 1)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: format idx takes one image file per set", c->name, line, col);
        if (d->train.n && !d->train_labels)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: format idx needs 'train_labels' with 'train'", c->name, line, col);
        if (d->test.n && !d->test_labels)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: format idx needs 'test_labels' with 'test'", c->name, line, col);
        if (d->validation.n && !d->validation_labels)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: format idx needs 'validation_labels' with 'validation'",
                            c->name, line, col);
    } else if (d->format != FMT_CIFAR10 && (d->train.n > 1 || d->test.n > 1 || d->validation.n > 1)) {
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: give one %s per set", c->name, line, col,
                        d->format == FMT_FOLDER ? "folder" : "CSV file");
    }
    if (d->validation.n && d->validation_split > 0)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: give 'validation' or 'validation_split', not both", c->name, line, col);
    int C = c->in.channels;
    if ((d->mean.n != 1 && d->mean.n != C) || (d->std.n != 1 && d->std.n != C))
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: 'mean' and 'std' need 1 or %d values (one per channel)", c->name,
                        line, col, C);
    int any = d->train.n || d->test.n || d->validation.n;
    if (any && d->format == FMT_CIFAR10 && (C != 3 || c->in.height != 32 || c->in.width != 32))
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: CIFAR-10 images are 32x32x3, but input is %dx%dx%d", c->name, line,
                        col, c->in.height, c->in.width, C);
    if (any && d->format == FMT_IDX && C != 1)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: IDX images have 1 channel, but input has %d", c->name, line, col, C);
    return 0;
}

static int read_sections(cnn_config *c, cnn_error *e) {
    if (keys_read(top_keys, &c->top, c->root, NULL, c->name, "the model file", e)) return e->code;
    ynode *data = ytree_get(c->root, "data"), *train = ytree_get(c->root, "train");
    if (keys_read(input_keys, &c->in, ytree_get(c->root, "input"), NULL, c->name, "input", e)) return e->code;
    if (keys_read(data_keys, &c->data, data, NULL, c->name, "data", e)) return e->code;
    if (keys_read(aug_keys, &c->aug, ytree_get(data, "augment"), NULL, c->name, "data.augment", e)) return e->code;
    if (keys_read(train_keys, &c->train, train, NULL, c->name, "train", e)) return e->code;
    if (keys_read(optim_keys, &c->opt, ytree_get(train, "optimizer"), NULL, c->name, "train.optimizer", e)) return e->code;
    if (keys_read(sched_keys, &c->sched, ytree_get(train, "schedule"), NULL, c->name, "train.schedule", e)) return e->code;
    c->layers = ytree_get(c->root, "layers");
    if (!c->layers)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:1:1: the model file has no 'layers' list", c->name);
    /* Name and run directory. */
    const char *base = strrchr(c->name, '/');
    base = base ? base + 1 : c->name;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", c->top.name ? c->top.name : base);
    char *dot = strrchr(stem, '.');
    if (!c->top.name && dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"))) *dot = 0;
    char out[4096];
    if (c->top.output) snprintf(out, sizeof out, "%s", c->top.output);
    else snprintf(out, sizeof out, "runs/%s", stem);
    c->output = str_dup(out);
    if (!c->output) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    if (check_data(c, e)) return e->code;
    /* Build the network once so shape errors surface here, with their lines. */
    graph g;
    if (graph_plan(&g, c->layers, c->name, (shape){c->in.channels, c->in.height, c->in.width}, e)) return e->code;
    int64_t outputs = shape_size(graph_out_shape(&g));
    node *last = &g.nodes[g.nn - 1];
    int line = last->line, col = last->col;
    graph_free(&g);
    if (outputs > CNN_MAX_CLASSES)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: the last layer gives %lld outputs (one per class), more than the "
                        "limit of %d classes", c->name, line, col, (long long)outputs, CNN_MAX_CLASSES);
    return 0;
}

int cnn_config_parse(const char *text, size_t len, const char *name, const char *const *sets, int nsets,
                     cnn_config **out, cnn_error *e) {
    *out = NULL;
    if (len > CNN_MAX_CONFIG_BYTES)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: %zu bytes, larger than the limit of %u for a model file", name, len,
                        CNN_MAX_CONFIG_BYTES);
    cnn_config *c = calloc(1, sizeof *c);
    if (!c) return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    c->name = str_dup(name);
    c->text = malloc(len + 1);
    c->sets = calloc((size_t)nsets + 1, sizeof *c->sets);
    if (!c->name || !c->text || !c->sets) { cnn_config_free(c); return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); }
    memcpy(c->text, text, len);
    c->text[len] = 0;
    c->len = len;
    for (int i = 0; i < nsets; i++) {
        c->sets[i] = str_dup(sets[i]);
        if (!c->sets[i]) { cnn_config_free(c); return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); }
        c->nsets = i + 1;
    }
    int rc = ytree_parse(c->text, len, c->name, &c->root, e);
    for (int i = 0; !rc && i < nsets; i++) rc = apply_set(c, i, e);
    if (!rc) rc = read_sections(c, e);
    if (rc) {
        fix_set_message(c, e);
        cnn_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int cnn_config_load(const char *path, const char *const *sets, int nsets, cnn_config **out, cnn_error *e) {
    char *text;
    size_t len;
    *out = NULL;
    int rc = file_read_all(path, CNN_MAX_CONFIG_BYTES, &text, &len, e);
    if (rc) {
        if (e) e->code = rc == CNN_ERR_RUNTIME ? rc : CNN_ERR_CONFIG;
        return e ? e->code : rc;
    }
    rc = cnn_config_parse(text, len, path, sets, nsets, out, e);
    free(text);
    return rc;
}
