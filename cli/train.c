/* train.c - `cnn train`: progress on stderr, the checkpoint path on stdout, ./model.cnn
 * pointed at the run's checkpoint, SIGINT/SIGTERM turned into a clean stop. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile int stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void on_progress(void *user, const cnn_progress *p) {
    int quiet = *(int *)user;
    if (p->kind == CNN_PROGRESS_LOG) {
        fprintf(stderr, "%s\n", p->message);
        return;
    }
    if (quiet) return;
    if (p->kind == CNN_PROGRESS_STEP)
        fprintf(stderr, "epoch %d/%d step %lld/%lld  lr %.4g  loss %.4f  acc %.4f  %.0f img/s\n", p->epoch, p->epochs,
                (long long)p->step_in_epoch, (long long)p->steps_per_epoch, p->lr, p->train_loss, p->train_acc,
                p->img_per_s);
    else {
        fprintf(stderr, "epoch %d/%d done: train loss %.4f acc %.4f", p->epoch, p->epochs, p->train_loss, p->train_acc);
        if (p->has_val) fprintf(stderr, "  val loss %.4f acc %.4f", p->val_loss, p->val_acc);
        fprintf(stderr, "  %.0f img/s  %.1f s\n", p->img_per_s, p->seconds);
    }
}

/* Points ./model.cnn at the new checkpoint, unless a regular file is in the way. */
static void link_model(const char *target) {
    struct stat st;
    if (lstat("model.cnn", &st) == 0 && !S_ISLNK(st.st_mode)) {
        fprintf(stderr, "cnn: note: ./model.cnn is a regular file, left as it is (the new model is %s)\n", target);
        return;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".model.cnn.%ld", (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, "model.cnn") != 0) {
        fprintf(stderr, "cnn: note: could not point ./model.cnn at %s: %s\n", target, strerror(errno));
        unlink(tmp);
    }
}

int cmd_train(int argc, char **argv) {
    const char *cfg_path = NULL, *resume = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int nsets = 0, quiet = 0;
    if (!sets) return fail(1, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--set") || !strcmp(a, "--resume")) {
            if (i + 1 >= argc) { free(sets); return fail(2, "%s needs a value (see cnn help train)", a); }
            if (a[2] == 's') sets[nsets++] = argv[++i];
            else resume = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) sets[nsets++] = a + 6;
        else if (!strncmp(a, "--resume=", 9)) resume = a + 9;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (a[0] == '-' && a[1]) { free(sets); return fail(2, "train: unknown option '%s' (see cnn help train)", a); }
        else if (cfg_path) { free(sets); return fail(2, "train: one config at a time ('%s' and '%s')", cfg_path, a); }
        else cfg_path = a;
    }
    if (!cfg_path) { free(sets); usage(stderr, "train"); return 2; }
    cnn_error err = {0};
    cnn_config *cfg;
    int rc = cnn_config_load(cfg_path, sets, nsets, &cfg, &err);
    free(sets);
    if (rc) return fail_err(&err);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A file size limit then shows up as a write error (EFBIG) with a message, not a kill. */
    signal(SIGXFSZ, SIG_IGN);
    cnn_train_opts o;
    memset(&o, 0, sizeof o);
    o.resume = resume;
    o.stop = &stop_flag;
    o.progress = on_progress;
    o.user = &quiet;
    rc = cnn_train(cfg, &o, &err);
    cnn_config_free(cfg);
    if (o.model_path[0] && (rc == 0 || rc == 130) && access(o.model_path, R_OK) == 0) link_model(o.model_path);
    if (rc) return fail_err(&err);
    printf("%s\n", o.model_path);
    return 0;
}
