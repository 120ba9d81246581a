/* config.h - the validated contents of a YAML model file (struct cnn_config). */
#ifndef CNN_CONFIG_H
#define CNN_CONFIG_H
#include "keys.h"

enum { FMT_IDX, FMT_FOLDER, FMT_CSV, FMT_CIFAR10 };
enum { OPT_SGD, OPT_ADAM, OPT_ADAMW };
enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_ONECYCLE };

typedef struct input_cfg { int channels, height, width; } input_cfg;
typedef struct aug_cfg { int flip, crop_padding; } aug_cfg;
typedef struct data_cfg {
    int format;
    strlist train, test, validation;
    const char *train_labels, *test_labels, *validation_labels;
    double validation_split;
    strlist classes;
    numlist mean, std;
    int limit, test_limit;
} data_cfg;
typedef struct optim_cfg {
    int type, nesterov;
    double lr, momentum, weight_decay, beta1, beta2, eps;
} optim_cfg;
typedef struct sched_cfg {
    int type, step_epochs;
    double warmup_epochs, gamma, min_lr, pct_start;
} sched_cfg;
typedef struct train_cfg {
    int epochs, batch, seed, threads, log_every;
    double label_smoothing;
} train_cfg;
typedef struct top_cfg { const char *name, *output; } top_cfg;

struct cnn_config {
    char *name;             /* file name used in messages; owned */
    char *text;             /* the YAML text as read; owned */
    size_t len;
    char **sets;            /* --set overrides applied on top; owned */
    int nsets;
    ynode *root;            /* owned */
    ynode *layers;          /* borrowed from root */
    top_cfg top;
    char *output;           /* run directory; owned */
    input_cfg in;
    data_cfg data;
    aug_cfg aug;
    train_cfg train;
    optim_cfg opt;
    sched_cfg sched;
};
#endif
