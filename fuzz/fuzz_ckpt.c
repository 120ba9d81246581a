/* fuzz_ckpt.c - libFuzzer harness for the checkpoint reader: ckpt_read, then
 * cnn_model_load on the same file (the config inside is parsed and built, tensors are
 * matched to it), then a save and reload of what loaded.
 *
 * Two kinds of input. One starting with the magic "CNNCKPT" is written as it is: that
 * exercises the header, size and CRC checks. Anything else is taken as the uncompressed
 * payload, and the harness wraps it in a valid file (zlib stream, sizes, both CRCs), so
 * mutations reach the payload parser and the model loader instead of stopping at the CRC.
 *
 *   make fuzz-ckpt FUZZ_SECONDS=600      (see mk/robust.mk, docs/robustness.md) */
#include "fuzz_util.h"
#include "io/ckpt.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path;
    if (size >= 7 && !memcmp(data, "CNNCKPT", 7)) {
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
     * naming "CONFIG (in PATH)", so the path is in every message. */
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
