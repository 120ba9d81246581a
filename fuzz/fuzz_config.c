/* fuzz_config.c - libFuzzer harness for the YAML model reader: cnn_config_parse on the
 * bytes (when they start with "#!", the rest of that first line, a YAML comment, holds up
 * to 8 --set overrides separated by ';'); when the config is valid, cnn_model_create, and for networks small enough to run
 * in a few milliseconds one training step (forward, backward) and one inference pass on
 * inputs derived from the fuzz data. A valid config promises a graph whose forward and
 * backward cannot fail on shapes (STYLE rule 8), so the sanitizers watch the kernels too.
 *
 *   make fuzz-config FUZZ_SECONDS=600      (see mk/robust.mk, docs/robustness.md) */
#include "fuzz_util.h"
#include "train/model.h"
#include <math.h>

/* Work per run: multiply-adds per image, floats of activations per image, parameters. */
#define FUZZ_CONFIG_MAX_MACS 2000000
#define FUZZ_CONFIG_MAX_ACT 400000
#define FUZZ_CONFIG_MAX_PARAMS 1000000

static void fuzz_config_run(cnn_model *m, const uint8_t *data, size_t size) {
    int64_t macs = 0, act = 0;
    for (int i = 0; i < cnn_model_layer_count(m); i++) {
        cnn_layer_info li;
        cnn_model_layer_info(m, i, &li);
        macs += li.macs;
        act += li.act_bytes / 4;
    }
    if (macs > FUZZ_CONFIG_MAX_MACS || act > FUZZ_CONFIG_MAX_ACT || m->g.nparams > FUZZ_CONFIG_MAX_PARAMS) return;
    cnn_error e = {0};
    int rc = cnn_model_set_threads(m, 1 + (int)(size & 1), &e);
    fuzz_check("cnn_model_set_threads", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME), NULL);
    if (rc) return;
    int c, h, w, B = 2, K = cnn_model_class_count(m);
    cnn_model_input_shape(m, &c, &h, &w);
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    float *x = malloc((size_t)B * per * sizeof *x), *dl = malloc((size_t)B * (size_t)K * sizeof *dl);
    uint8_t *px = malloc((size_t)B * per);
    float *probs = malloc((size_t)B * (size_t)K * sizeof *probs);
    if (x && dl && px && probs) {
        for (size_t i = 0; i < (size_t)B * per; i++) {
            px[i] = size ? data[i % size] : 0;
            x[i] = (float)px[i] / 128.0f - 1.0f;
        }
        for (size_t i = 0; i < (size_t)B * (size_t)K; i++) dl[i] = (i % (size_t)K == 0 ? -1.0f : 1.0f) / (float)(B * K);
        rc = graph_reserve(&m->g, B, 1, &e);
        fuzz_check("graph_reserve (training)", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_CONFIG), NULL);
        if (!rc) {
            const float *y = graph_forward(&m->g, x, B, 1, 1, 0);
            volatile float sink = 0;
            for (int i = 0; i < B * K; i++) sink += y[i];
            (void)sink;
            graph_backward(&m->g, dl, B, 1, 0);
        }
        rc = cnn_model_predict(m, px, B, probs, &e);
        fuzz_check("cnn_model_predict", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME), NULL);
        for (int i = 0; !rc && i < B * K; i++)
            if (!(probs[i] >= 0.0f && probs[i] <= 1.0f) && !isnan(probs[i])) {
                fprintf(stderr, "fuzz: cnn_model_predict: probability %g outside 0..1\n", (double)probs[i]);
                abort();
            }
    }
    free(x);
    free(dl);
    free(px);
    free(probs);
}

/* The --set overrides of a first line "#!a.b=1;c=2": copies into buf, pointers into sets. */
static int fuzz_config_sets(const uint8_t *data, size_t size, char *buf, size_t cap, const char **sets) {
    if (size < 2 || data[0] != '#' || data[1] != '!') return 0;
    size_t n = 0;
    while (2 + n < size && n + 1 < cap && data[2 + n] != '\n') n++;
    memcpy(buf, data + 2, n);
    buf[n] = 0;
    if (memchr(buf, 0, n)) return 0;
    int k = 0;
    for (char *p = buf; k < 8;) {
        sets[k++] = p;
        char *semi = strchr(p, ';');
        if (!semi) break;
        *semi = 0;
        p = semi + 1;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cnn_config *cfg = NULL;
    cnn_error e = {0};
    char setbuf[2048];
    const char *sets[8] = {NULL};
    int nsets = fuzz_config_sets(data, size, setbuf, sizeof setbuf, sets);
    int rc = cnn_config_parse((const char *)data, size, "fuzz.yaml", sets, nsets, &cfg, &e);
    /* An error about an override names it ("--set a.b=1: ...") instead of the file. */
    fuzz_check("cnn_config_parse", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_CONFIG),
               nsets && !strncmp(e.msg, "--set ", 6) ? NULL : "fuzz.yaml");
    if (rc) return 0;
    if (!cnn_config_output(cfg)) {
        fprintf(stderr, "fuzz: a valid config without a run directory\n");
        abort();
    }
    cnn_model *m = NULL;
    rc = cnn_model_create(cfg, &m, &e);
    fuzz_check("cnn_model_create", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_CONFIG), "fuzz.yaml");
    if (!rc) fuzz_config_run(m, data, size);
    cnn_model_free(m);
    cnn_config_free(cfg);
    return 0;
}
