/* trainer.c - the training loop: data, shuffling, augmentation, steps, validation,
 * metrics.csv, checkpoints, resume, stop requests and divergence.
 *
 * Exact resume: everything random is a function of (seed, epoch, step, sample), the data
 * order of an epoch is a permutation drawn from (seed, epoch), and a checkpoint holds the
 * weights, buffers, optimizer moments and the step. So training from a checkpoint taken at
 * step s gives the same bits as never having stopped (with the same thread count). */
#include "model.h"
#include "optim.h"
#include "sets.h"
#include "../core/err.h"
#include "../core/rng.h"
#include "../core/util.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

typedef struct trainer {
    const cnn_config *cfg;
    cnn_train_opts *o;
    cnn_model *m;
    optim opt;
    dataset train, val;
    int has_val;
    char path[4096], csv[4096];
    int csv_fresh;          /* the first row replaces an older metrics.csv (not resuming) */
} trainer;

/* Holds RUN/.lock with flock for the whole run, so a second `cnn train` on the same run
 * directory is refused; the kernel drops the lock when the process ends, even on SIGKILL,
 * so there are no stale locks to clean up. Returns the descriptor or -1 with e set. */
static int lock_run_dir(const char *dir, cnn_error *e) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        cnn_fail(e, CNN_ERR_RUNTIME, "%s: cannot create the run lock: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        if (busy)
            cnn_fail(e, CNN_ERR_RUNTIME, "%s: another cnn train is using this run directory (set output: to another one)",
                     dir);
        else cnn_fail(e, CNN_ERR_RUNTIME, "%s: cannot lock: %s", path, strerror(errno));
        return -1;
    }
    return fd;
}

/* Removes temporaries "model.cnn.tmp.*" that killed saves left behind. Called with the run
 * lock held, so no other trainer can be writing one. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "model.cnn.tmp.", 14)) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

static void progress(trainer *t, cnn_progress *p) {
    if (t->o && t->o->progress) t->o->progress(t->o->user, p);
}

static void logf_(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(trainer *t, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cnn_progress p = {.kind = CNN_PROGRESS_LOG, .message = buf};
    progress(t, &p);
}

/* perm = a random permutation of 0..n-1 from the stream (seed, purpose, a). */
static void permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t purpose, uint64_t a) {
    rng r = rng_stream(seed, purpose, a, 0);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint32_t)(i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* Moves a fixed random fraction of t->train into t->val. */
static int split_validation(trainer *t, double frac, cnn_error *e) {
    dataset *d = &t->train;
    int64_t nv = (int64_t)floor((double)d->n * frac), per = (int64_t)d->c * d->h * d->w;
    if (nv < 1) return 0;
    int64_t *perm = malloc((size_t)d->n * sizeof *perm);
    char *isval = calloc((size_t)d->n, 1);
    t->val = (dataset){nv, d->c, d->h, d->w, malloc((size_t)(nv * per)), malloc((size_t)nv * sizeof(int32_t)),
                       d->nclasses, NULL};
    if (!perm || !isval || !t->val.x || !t->val.y) {
        free(perm);
        free(isval);
        return cnn_fail(e, CNN_ERR_RUNTIME, "out of memory");
    }
    permutation(perm, d->n, (uint64_t)t->cfg->train.seed, RNG_SPLIT, 0);
    for (int64_t i = 0; i < nv; i++) isval[perm[i]] = 1;
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < d->n; i++) { /* keep the original order in both parts */
        dataset *to = isval[i] ? &t->val : d;
        int64_t k = isval[i] ? b++ : a++;
        memmove(to->x + k * per, d->x + i * per, (size_t)per);
        to->y[k] = d->y[i];
    }
    d->n = a;
    t->has_val = 1;
    free(perm);
    free(isval);
    return 0;
}

static int load_data(trainer *t, cnn_error *e) {
    const cnn_config *c = t->cfg;
    int K = t->m->nclasses;
    logf_(t, "loading training data");
    if (sets_load(c, SET_TRAIN, K, &t->train, e)) return e->code;
    if (c->data.validation.n) {
        if (sets_load(c, SET_VALIDATION, K, &t->val, e)) return e->code;
        t->has_val = 1;
    } else if (c->data.validation_split > 0 && split_validation(t, c->data.validation_split, e)) {
        return e->code;
    }
    if (!c->data.classes.n && t->train.names && t->train.nclasses == K &&
        model_set_classes(t->m, t->train.names, K, e))
        return e->code;
    if (t->has_val)
        logf_(t, "%lld training images, %lld validation images, %d classes", (long long)t->train.n,
              (long long)t->val.n, K);
    else logf_(t, "%lld training images, no validation set, %d classes", (long long)t->train.n, K);
    return 0;
}

/* Which layer first produced a non-finite value, for the divergence message. */
static const char *first_bad_layer(const graph *g, int n, int grads) {
    for (int k = 1; k < g->nn; k++) {
        const node *nd = &g->nodes[k];
        if (grads) {
            for (int i = 0; i < nd->nt; i++)
                if (nd->t[i].grad)
                    for (int64_t j = 0; j < nd->t[i].count; j++)
                        if (!isfinite(nd->t[i].grad[j])) return nd->name;
        } else {
            for (int64_t j = 0; j < (int64_t)n * shape_size(nd->out); j++)
                if (!isfinite(nd->y[j])) return nd->name;
        }
    }
    return NULL;
}

static int grads_finite(const graph *g) {
    float acc = 0;
    for (int64_t i = 0; i < g->nparams; i++) acc += g->grads[i] * 0.0f; /* NaN/Inf survive the product */
    return acc == 0;
}

static int save(trainer *t, cnn_error *e) {
    ckpt c;
    const float *st[2] = {t->opt.m, t->opt.v};
    if (model_to_ckpt(t->m, st, optim_state_names, t->opt.nstate, &c, e)) return e->code;
    int rc = ckpt_write(t->path, &c, e);
    model_ckpt_release(&c);
    return rc;
}

static int resume(trainer *t, const char *path, cnn_error *e) {
    ckpt c;
    int rc = ckpt_read(path, &c, e);
    if (rc) return rc;
    rc = model_from_ckpt(t->m, &c, path, e);
    for (int s = 0; !rc && s < t->opt.nstate; s++) {
        graph *g = &t->m->g;
        float *dst = s ? t->opt.v : t->opt.m;
        for (int k = 1; !rc && k < g->nn; k++)
            for (int i = 0; !rc && i < g->nodes[k].nt; i++) {
                tensor *tt = &g->nodes[k].t[i];
                if (tt->kind != T_PARAM) continue;
                char name[200];
                snprintf(name, sizeof name, "%s.%s.%s", optim_state_names[s], g->nodes[k].name, tt->name);
                const ckpt_tensor *ct = ckpt_find(&c, name);
                if (!ct || ct->count != tt->count)
                    rc = cnn_fail(e, CNN_ERR_DATA,
                                  "%s: has no optimizer state '%s' (saved with another optimizer, or not for training)",
                                  path, name);
                else memcpy(dst + tt->off, ct->data, (size_t)tt->count * sizeof(float));
            }
    }
    if (!rc && c.seed != (uint64_t)t->cfg->train.seed)
        logf_(t, "note: %s was trained with seed %llu, continuing with seed %d", path, (unsigned long long)c.seed,
              t->cfg->train.seed);
    if (!rc) {
        t->m->step = c.step;
        t->m->epoch = c.epoch;
    }
    ckpt_free(&c);
    return rc;
}

static int metrics_row(trainer *t, const cnn_progress *p, cnn_error *e) {
    /* Replaced only now, so a run that fails before its first epoch leaves the old file alone. */
    FILE *f = fopen(t->csv, t->csv_fresh ? "w" : "a");
    t->csv_fresh = 0;
    if (!f) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: cannot write: %s", t->csv, strerror(errno));
    if (ftell(f) == 0)
        fprintf(f, "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,img_per_s,seconds\n");
    fprintf(f, "%d,%lld,%.6g,%.6f,%.6f,", p->epoch, (long long)p->step, p->lr, p->train_loss, p->train_acc);
    if (p->has_val) fprintf(f, "%.6f,%.6f,", p->val_loss, p->val_acc);
    else fprintf(f, ",,");
    fprintf(f, "%.1f,%.3f\n", p->img_per_s, p->seconds);
    if (fclose(f) != 0) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: cannot write: %s", t->csv, strerror(errno));
    return 0;
}


static int run(trainer *t, cnn_error *e) {
    const cnn_config *c = t->cfg;
    cnn_model *m = t->m;
    graph *g = &m->g;
    int B = c->train.batch, K = m->nclasses;
    uint64_t seed = (uint64_t)c->train.seed;
    int64_t spe = t->train.n / B, total = spe * c->train.epochs;
    if (spe < 1)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: train.batch %d is larger than the %lld training images", c->name, B,
                        (long long)t->train.n);
    if ((int64_t)m->step >= total) {
        logf_(t, "already trained for %d epochs (step %llu); raise train.epochs to continue", c->train.epochs,
              (unsigned long long)m->step);
        return 0;
    }
    if (graph_reserve(g, B, 1, e)) return e->code;
    int64_t per = (int64_t)c->in.channels * c->in.height * c->in.width;
    float *x = aligned_alloc64((size_t)B * (size_t)per * sizeof(float));
    float *dl = malloc((size_t)B * (size_t)K * sizeof(float));
    int32_t *lab = malloc((size_t)B * sizeof *lab);
    int64_t *perm = malloc((size_t)t->train.n * sizeof *perm);
    int rc = 0;
    if (!x || !dl || !lab || !perm) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "out of memory"); goto done; }
    float mean[NUMLIST_MAX], stdv[NUMLIST_MAX];
    for (int i = 0; i < c->in.channels && i < NUMLIST_MAX; i++) {
        mean[i] = m->mean[i];
        stdv[i] = m->std[i];
    }
    augment aug = {c->aug.flip, c->aug.crop_padding};
    int64_t shuffled_for = -1;
    double t0 = now_seconds(), ep_t0 = t0, loss_sum = 0;
    int64_t correct = 0, seen = 0, ep_seen = 0;
    while ((int64_t)m->step < total) {
        int64_t step = (int64_t)m->step, epoch = step / spe, pos = step % spe;
        if (shuffled_for != epoch) {
            permutation(perm, t->train.n, seed, RNG_SHUFFLE, (uint64_t)epoch);
            shuffled_for = epoch;
        }
        batch_fill(&t->train, perm + pos * B, B, &aug, seed, (uint64_t)epoch, mean, stdv, x, lab);
        const float *y = graph_forward(g, x, B, 1, seed, (uint64_t)step);
        double loss = loss_softmax_ce(y, lab, B, K, c->train.label_smoothing, dl, &correct, NULL);
        if (!isfinite(loss)) {
            const char *bad = first_bad_layer(g, B, 0);
            rc = cnn_fail(e, CNN_ERR_DIVERGED,
                          "training diverged at step %lld (epoch %lld): the loss is %s%s%s%s; the last good checkpoint "
                          "is kept. Lower train.optimizer.lr?", (long long)step + 1, (long long)epoch + 1,
                          isnan(loss) ? "NaN" : "infinite", bad ? ", first non-finite output in layer '" : "",
                          bad ? bad : "", bad ? "'" : "");
            goto done;
        }
        graph_backward(g, dl, B, seed, (uint64_t)step);
        if (!grads_finite(g)) {
            const char *bad = first_bad_layer(g, B, 1);
            rc = cnn_fail(e, CNN_ERR_DIVERGED,
                          "training diverged at step %lld (epoch %lld): non-finite gradient in layer '%s'; the last "
                          "good checkpoint is kept", (long long)step + 1, (long long)epoch + 1, bad ? bad : "?");
            goto done;
        }
        double lr = sched_lr(&c->sched, c->opt.lr, step, spe, total);
        optim_step(&t->opt, g, lr, (uint64_t)step + 1);
        m->step++;
        loss_sum += loss;
        seen += B;
        ep_seen += B;
        int end_of_epoch = m->step % spe == 0;
        if (m->step % c->train.log_every == 0 || end_of_epoch) {
            double now = now_seconds();
            cnn_progress p = {.kind = CNN_PROGRESS_STEP, .epoch = (int)epoch + 1, .epochs = c->train.epochs,
                              .step = (int64_t)m->step, .steps_per_epoch = spe, .step_in_epoch = pos + 1, .lr = lr,
                              .train_loss = loss_sum / (double)seen, .train_acc = (double)correct / (double)seen,
                              .img_per_s = (double)ep_seen / (now - ep_t0), .seconds = now - t0};
            progress(t, &p);
        }
        if (end_of_epoch) {
            double now = now_seconds();
            cnn_progress p = {.kind = CNN_PROGRESS_EPOCH, .epoch = (int)epoch + 1, .epochs = c->train.epochs,
                              .step = (int64_t)m->step, .steps_per_epoch = spe, .step_in_epoch = spe, .lr = lr,
                              .train_loss = loss_sum / (double)seen, .train_acc = (double)correct / (double)seen,
                              .img_per_s = (double)ep_seen / (now - ep_t0), .seconds = now - t0};
            m->epoch = (uint64_t)epoch + 1;
            if (t->has_val) {
                cnn_eval_result r;
                if ((rc = model_evaluate(m, &t->val, 0, t->val.n, &r, e))) goto done;
                p.has_val = 1;
                p.val_loss = r.loss;
                p.val_acc = r.accuracy;
                cnn_eval_free(&r);
                if ((rc = graph_reserve(g, B, 1, e))) goto done;
            }
            /* the row only after its checkpoint exists, so the two never disagree */
            if ((rc = save(t, e))) goto done;
            if ((rc = metrics_row(t, &p, e))) goto done;
            progress(t, &p);
            loss_sum = 0;
            correct = seen = ep_seen = 0;
            ep_t0 = now_seconds();
        } else if (t->o && t->o->stop && *t->o->stop) {
            if ((rc = save(t, e))) goto done;
            rc = cnn_fail(e, CNN_ERR_INTERRUPTED, "stopped at step %llu (epoch %lld); resume with --resume %s",
                          (unsigned long long)m->step, (long long)epoch + 1, t->path);
            goto done;
        }
        if (end_of_epoch && t->o && t->o->stop && *t->o->stop && (int64_t)m->step < total) {
            rc = cnn_fail(e, CNN_ERR_INTERRUPTED, "stopped after epoch %lld; resume with --resume %s",
                          (long long)epoch + 1, t->path);
            goto done;
        }
    }
done:
    free(x);
    free(dl);
    free(lab);
    free(perm);
    return rc;
}

int cnn_train(const cnn_config *cfg, cnn_train_opts *o, cnn_error *e) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.o = o;
    int rc = cnn_model_create(cfg, &t.m, e);
    if (!rc) rc = graph_set_threads(&t.m->g, cfg->train.threads, e);
    if (!rc) rc = optim_init(&t.opt, &cfg->opt, &t.m->g, e);
    if (!rc) rc = mkdir_p(cfg->output, e);
    int lock = -1;
    if (!rc && (lock = lock_run_dir(cfg->output, e)) < 0) rc = e->code;
    if (!rc) remove_stale_temps(cfg->output);
    if (!rc && o && o->resume) rc = resume(&t, o->resume, e);
    if (!rc) rc = load_data(&t, e);
    if (!rc) {
        snprintf(t.path, sizeof t.path, "%s/model.cnn", cfg->output);
        snprintf(t.csv, sizeof t.csv, "%s/metrics.csv", cfg->output);
        if (o) snprintf(o->model_path, sizeof o->model_path, "%s", t.path);
        t.csv_fresh = !(o && o->resume);
        int nth = pool_size(t.m->g.pool);
        logf_(&t, "training %s: %d epoch%s of %lld steps (batch %d), %d thread%s, %s", cfg->name, cfg->train.epochs,
              cfg->train.epochs == 1 ? "" : "s", (long long)(t.train.n / cfg->train.batch), cfg->train.batch, nth,
              nth == 1 ? "" : "s", t.path);
        rc = run(&t, e);
    }
    if (!rc && cfg->data.test.n) {
        cnn_eval_result r;
        dataset d = {0};
        rc = sets_load(cfg, SET_TEST, t.m->nclasses, &d, e);
        if (!rc) rc = model_evaluate(t.m, &d, 0, d.n, &r, e);
        if (!rc) {
            logf_(&t, "test accuracy %.4f, top-5 %.4f, loss %.4f on %lld images", r.accuracy, r.top5, r.loss,
                  (long long)r.n);
            cnn_eval_free(&r);
        }
        dataset_free(&d);
    }
    if (lock >= 0) close(lock);
    optim_free(&t.opt);
    dataset_free(&t.train);
    dataset_free(&t.val);
    cnn_model_free(t.m);
    return rc;
}
