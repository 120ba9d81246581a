/* fuzz_ckpt.c - libFuzzer harness for the checkpoint reader: ckpt_read, then
 * cnn_model_load on the same file (the config inside is parsed and built, tensors are
 * matched to it), then a save and reload of what loaded.
 *
 * Three kinds of input. One starting with the magic "CNNCKPT" is written as it is: that
 * exercises the header, size and CRC checks. One starting with "#S" is structured: a model
 * file, a NUL, then edits (3 bytes each) applied to the checkpoint of that model before it
 * is written with ckpt_write: tensors resized, renamed, dropped, swapped, class names and
 * --set lines changed, so the matching of a checkpoint to its config is fuzzed with
 * well-formed files. Anything else is taken as the uncompressed payload, and the harness
 * wraps it in a valid file (zlib stream, sizes, both CRCs), so mutations reach the payload
 * parser and the model loader instead of stopping at the CRC.
 *
 *   make fuzz-ckpt FUZZ_SECONDS=600      (see mk/robust.mk, docs/robustness.md) */
#include "fuzz_util.h"
#include "io/ckpt.h"
#include "train/model.h"
#include <zlib.h>

static void fuzz_ckpt_put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}
static void fuzz_ckpt_put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i);
}

/* The checkpoint file holding payload p[0..n) (layout in lib/io/ckpt.h); NULL if out of memory. */
static unsigned char *fuzz_ckpt_wrap(const uint8_t *p, size_t n, size_t *len) {
    uLongf cap = compressBound((uLong)n);
    unsigned char *f = malloc(40 + (size_t)cap);
    if (!f || compress2(f + 40, &cap, p, (uLong)n, 1) != Z_OK) { free(f); return NULL; }
    memcpy(f, "CNNCKPT\x1a", 8);
    fuzz_ckpt_put32(f + 8, 1);
    fuzz_ckpt_put32(f + 12, 0x01020304u);
    fuzz_ckpt_put64(f + 16, n);
    fuzz_ckpt_put64(f + 24, cap);
    fuzz_ckpt_put32(f + 32, (uint32_t)crc32(0, f + 40, (uInt)cap));
    fuzz_ckpt_put32(f + 36, (uint32_t)crc32(0, f, 36));
    *len = 40 + (size_t)cap;
    return f;
}

/* The "#S" mode: writes the edited checkpoint of the model text[0..n) to a file; returns
 * its path, or NULL when the text is not a small valid model or the writer refuses. */
static const char *fuzz_ckpt_structured(const uint8_t *data, size_t size) {
    static const char *const sets[] = {"set=train.epochs=3", "set=layers.0.filters=5", "set=nosuch=1",
                                       "set=data.classes=[a, b]", "set=layers.0={type: relu}", "set=input.channels=2",
                                       "set=", "set=layers.99.x=1"};
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *ed = nul ? nul + 1 : data + size;
    size_t ned = (size_t)(data + size - ed) / 3;
    cnn_config *cfg = NULL;
    cnn_model *m = NULL;
    cnn_error e = {0};
    const char *path = NULL;
    if (cnn_config_parse((const char *)data, tlen, "fuzz.yaml", NULL, 0, &cfg, &e) || cnn_model_create(cfg, &m, &e) ||
        m->g.nparams + m->g.nbufs > 1000000) {
        cnn_config_free(cfg);
        cnn_model_free(m);
        return NULL;
    }
    ckpt c;
    if (model_to_ckpt(m, NULL, NULL, 0, &c, &e) == 0) {
        float *own[64] = {NULL};    /* data buffers of resized tensors */
        char **names = NULL;        /* class names when their count changes */
        int nown = 0, nnames = 0;
        char meta[512];
        for (size_t k = 0; k < ned && k < 64; k++) {
            unsigned op = ed[3 * k] % 7, a = ed[3 * k + 1], b = ed[3 * k + 2];
            ckpt_tensor *t = c.ntensors ? &c.t[a % (unsigned)c.ntensors] : NULL;
            if (op == 0 && t && nown < 64) { /* resize one dimension (new zero data) */
                t->dims[b % (unsigned)t->ndim] = 1 + b % 9;
                int64_t cnt = 1;
                for (int d = 0; d < t->ndim; d++) cnt *= t->dims[d];
                if (!(own[nown] = calloc((size_t)cnt, sizeof(float)))) break;
                t->data = own[nown++];
                t->count = cnt;
            } else if (op == 1 && t && t->name[0]) { /* change one character of the name */
                size_t len = strlen(t->name);
                t->name[b % len] = (char)(b & 1 ? '.' : 'a' + b % 26);
            } else if (op == 2 && t) { /* drop a tensor */
                *t = c.t[--c.ntensors];
            } else if (op == 3 && t && c.ntensors > 1) { /* swap two tensors */
                ckpt_tensor tmp = *t, *u = &c.t[b % (unsigned)c.ntensors];
                *t = *u;
                *u = tmp;
            } else if (op == 4 && !names) { /* another number of class names */
                nnames = b % 5;
                names = calloc((size_t)nnames + 1, sizeof *names);
                for (int i = 0; names && i < nnames; i++) names[i] = (char *)(i & 1 ? "odd" : "even");
                c.classes = names;
                c.nclasses = names ? nnames : 0;
            } else if (op == 5) { /* a --set line in the meta text */
                snprintf(meta, sizeof meta, "cnn=%s\n%s\n", CNN_VERSION, sets[b % 8]);
                free(c.meta);
                c.meta = malloc(strlen(meta) + 1);
                if (c.meta) strcpy(c.meta, meta);
            } else if (op == 6 && t && t->ndim < 4) { /* one more dimension of 1 */
                t->dims[t->ndim++] = 1;
            }
        }
        const char *p = fuzz_write(1, "s.cnn", "", 0);
        if (c.meta && ckpt_write(p, &c, &e) == 0) path = p;
        for (int i = 0; i < nown; i++) free(own[i]);
        free(names);
        model_ckpt_release(&c);
    }
    cnn_config_free(cfg);
    cnn_model_free(m);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path;
    if (size >= 2 && data[0] == '#' && data[1] == 'S') {
        if (!(path = fuzz_ckpt_structured(data, size))) return 0;
    } else if (size >= 7 && !memcmp(data, "CNNCKPT", 7)) {
        path = fuzz_write(0, "model.cnn", data, size);
    } else {
        size_t len;
        unsigned char *f = fuzz_ckpt_wrap(data, size, &len);
        if (!f) return 0;
        path = fuzz_write(0, "model.cnn", f, len);
        free(f);
    }
    ckpt c;
    cnn_error e = {0};
    int rc = ckpt_read(path, &c, &e);
    fuzz_check("ckpt_read", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_DATA), path);
    if (!rc) {
        for (int i = 0; i < c.ntensors; i++) {
            int64_t n = 1;
            for (int d = 0; d < c.t[i].ndim; d++) n *= c.t[i].dims[d];
            if (c.t[i].ndim < 1 || c.t[i].ndim > 4 || n != c.t[i].count || !c.t[i].data) {
                fprintf(stderr, "fuzz: ckpt_read: tensor %d is inconsistent\n", i);
                abort();
            }
        }
        ckpt_free(&c);
    }
    cnn_model *m = NULL;
    rc = cnn_model_load(path, &m, &e);
    /* A config inside the checkpoint that does not parse is reported as a config error
     * naming "CONFIG (in PATH)", and one from a --set line recorded in it names PATH too
     * (found by this harness: tests/regress/ckpt/), so the path is in every message. */
    fuzz_check("cnn_model_load", rc, &e,
               FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_DATA) | FUZZ_CODE(CNN_ERR_CONFIG), path);
    if (!rc) {
        char again[1024];
        snprintf(again, sizeof again, "%s/again.cnn", fuzz_dir());
        rc = cnn_model_save(m, again, &e);
        fuzz_check("cnn_model_save", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME), NULL);
        cnn_model *m2 = NULL;
        if (!rc) {
            rc = cnn_model_load(again, &m2, &e);
            if (rc && rc != CNN_ERR_RUNTIME) {
                fprintf(stderr, "fuzz: a model that loaded and saved does not load again: %s\n", e.msg);
                abort();
            }
            if (m2 && (cnn_model_layer_count(m2) != cnn_model_layer_count(m) ||
                       cnn_model_class_count(m2) != cnn_model_class_count(m))) {
                fprintf(stderr, "fuzz: a model changed in a save and load\n");
                abort();
            }
        }
        cnn_model_free(m2);
    }
    cnn_model_free(m);
    return 0;
}
