/* test_train.c - training end to end on a synthetic set: it learns; the same seed and
 * thread count give bit-identical weights; an interrupted run resumed (at an epoch boundary
 * or mid-epoch) equals an uninterrupted one; 2 epochs + resume for 2 more equals 4. */
#include "check.h"
#include "synth.h"
#include "cnn.h"
#include "io/ckpt.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *model_text =
    "input: {channels: 1, height: 12, width: 12}\n"
    "layers:\n"
    "  - {type: conv, filters: 4, kernel: 3, bias: false}\n"
    "  - batchnorm\n"
    "  - relu\n"
    "  - {type: maxpool, kernel: 2}\n"
    "  - {type: dropout, rate: 0.2}\n"
    "  - {type: dense, units: 3}\n"
    "data:\n"
    "  augment: {flip: true, crop_padding: 1}\n"
    "train: {epochs: 4, batch: 16, seed: 5, threads: 2, optimizer: {type: sgd, lr: 0.05, nesterov: true, "
    "weight_decay: 1e-4}, schedule: {type: cosine}}\n";

typedef struct stopper { int at_step; volatile int flag; } stopper;
static void on_progress(void *u, const cnn_progress *p) {
    stopper *s = u;
    if (s && s->at_step && p->kind != CNN_PROGRESS_LOG && p->step >= s->at_step) s->flag = 1;
}

/* Trains with the overrides in `extra` (NULL-terminated) into dir/out; returns the status. */
static int train(const char *out, const char *resume, stopper *st, const char *const *extra) {
    char s1[256], s2[256], s3[256];
    snprintf(s1, sizeof s1, "output=%s/%s", dir, out);
    snprintf(s2, sizeof s2, "data.train=%s/img", dir);
    snprintf(s3, sizeof s3, "data.train_labels=%s/lab", dir);
    const char *sets[16] = {s1, s2, s3, "train.log_every=1"};
    int ns = 4;
    for (int i = 0; extra && extra[i] && ns < 16; i++) sets[ns++] = extra[i];
    cnn_config *cfg;
    cnn_error e = {0};
    int rc = cnn_config_parse(model_text, strlen(model_text), "synth.yaml", sets, ns, &cfg, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (rc) return rc;
    cnn_train_opts o;
    memset(&o, 0, sizeof o);
    o.resume = resume;
    o.progress = on_progress;
    o.user = st;
    o.stop = st ? &st->flag : NULL;
    rc = cnn_train(cfg, &o, &e);
    if (rc && rc != CNN_ERR_INTERRUPTED) fprintf(stderr, "train: %s\n", e.msg);
    cnn_config_free(cfg);
    return rc;
}

/* 1 if the two checkpoints hold the same tensors bit for bit. */
static int same_weights(const char *a, const char *b) {
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/%s/model.cnn", dir, a);
    snprintf(pb, sizeof pb, "%s/%s/model.cnn", dir, b);
    ckpt ca, cb;
    cnn_error e;
    if (ckpt_read(pa, &ca, &e)) { fprintf(stderr, "%s\n", e.msg); return 0; }
    if (ckpt_read(pb, &cb, &e)) { fprintf(stderr, "%s\n", e.msg); ckpt_free(&ca); return 0; }
    int same = ca.ntensors == cb.ntensors && ca.step == cb.step;
    for (int i = 0; same && i < ca.ntensors; i++) {
        const ckpt_tensor *t = ckpt_find(&cb, ca.t[i].name);
        same = t && t->count == ca.t[i].count && !memcmp(t->data, ca.t[i].data, (size_t)t->count * sizeof(float));
        if (!same) fprintf(stderr, "tensor %s differs\n", ca.t[i].name);
    }
    ckpt_free(&ca);
    ckpt_free(&cb);
    return same;
}

static char *ckpt_path(const char *run) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s/model.cnn", dir, run);
    return p;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/cnn-train-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char img[128], lab[128];
    snprintf(img, sizeof img, "%s/img", dir);
    snprintf(lab, sizeof lab, "%s/lab", dir);
    CHECK(synth_write(img, lab, 480, 12, 1) == 0, "cannot write the synthetic set");

    CHECK(train("a", NULL, NULL, NULL) == 0);
    CHECK(train("b", NULL, NULL, NULL) == 0);
    CHECK(same_weights("a", "b"), "same seed and threads must give identical weights");
    /* Work is split into fixed chunks summed in chunk order, so even the thread count does
     * not change the bits. */
    const char *one[] = {"train.threads=1", NULL}, *three[] = {"train.threads=3", NULL};
    CHECK(train("t1", NULL, NULL, one) == 0);
    CHECK(same_weights("a", "t1"), "1 thread must give the same weights as 2");
    CHECK(train("t3", NULL, NULL, three) == 0);
    CHECK(same_weights("a", "t3"), "3 threads must give the same weights as 2");
    const char *seed2[] = {"train.seed=6", NULL};
    CHECK(train("b2", NULL, NULL, seed2) == 0);
    CHECK(!same_weights("a", "b2"), "another seed must give other weights");

    /* It learned: evaluate on the training images. */
    cnn_model *m;
    cnn_error e = {0};
    CHECK(cnn_model_load(ckpt_path("a"), &m, &e) == 0, "%s", e.msg);
    char cfgtext[1024];
    snprintf(cfgtext, sizeof cfgtext,
             "input: {channels: 1, height: 12, width: 12}\nlayers: [{type: dense, units: 3}]\n"
             "data: {test: %s, test_labels: %s}\n", img, lab);
    cnn_config *tc;
    CHECK(cnn_config_parse(cfgtext, strlen(cfgtext), "eval.yaml", NULL, 0, &tc, &e) == 0, "%s", e.msg);
    cnn_eval_result r;
    CHECK(cnn_eval(m, tc, &r, &e) == 0, "%s", e.msg);
    CHECK(r.accuracy > 0.9, "accuracy %.3f on an easy synthetic set", r.accuracy);
    cnn_eval_free(&r);
    cnn_config_free(tc);
    cnn_model_free(m);

    /* Interrupted at the end of epoch 2 (30 steps per epoch), then resumed. */
    stopper st = {60, 0};
    CHECK(train("c", NULL, &st, NULL) == CNN_ERR_INTERRUPTED, "a stop request must return 130");
    CHECK(train("c", ckpt_path("c"), NULL, NULL) == 0);
    CHECK(same_weights("a", "c"), "resume after a stop at an epoch boundary must be exact");

    /* Interrupted mid-epoch, then resumed. */
    stopper st2 = {47, 0};
    CHECK(train("d", NULL, &st2, NULL) == CNN_ERR_INTERRUPTED);
    CHECK(train("d", ckpt_path("d"), NULL, NULL) == 0);
    CHECK(same_weights("a", "d"), "resume after a mid-epoch stop must be exact");

    /* 2 epochs, then resume with epochs=4 == 4 epochs in one run (constant rate, Adam). */
    const char *four[] = {"train.schedule.type=constant", "train.optimizer.type=adam", NULL};
    const char *two[] = {"train.schedule.type=constant", "train.optimizer.type=adam", "train.epochs=2", NULL};
    CHECK(train("e", NULL, NULL, four) == 0);
    CHECK(train("f", NULL, NULL, two) == 0);
    CHECK(train("f", ckpt_path("f"), NULL, four) == 0);
    CHECK(same_weights("e", "f"), "2 epochs + resume for 2 more must equal 4 epochs");

    /* Resuming a checkpoint into another network is refused with a clear message. */
    const char *wider[] = {"layers.0.filters=5", NULL};
    CHECK(train("g", ckpt_path("a"), NULL, wider) == CNN_ERR_DATA);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    return check_done();
}
