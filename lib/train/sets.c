/* sets.c - from config keys to a dataset in memory. */
#include "sets.h"
#include "../core/err.h"
#include <stdio.h>

int sets_load(const cnn_config *cfg, int which, int classes, dataset *d, cnn_error *e) {
    const data_cfg *dc = &cfg->data;
    const strlist *files = which == SET_TRAIN ? &dc->train : which == SET_TEST ? &dc->test : &dc->validation;
    const char *labels = which == SET_TRAIN ? dc->train_labels : which == SET_TEST ? dc->test_labels
                                                                                   : dc->validation_labels;
    const char *key = which == SET_TRAIN ? "train" : which == SET_TEST ? "test" : "validation";
    if (!files->n) return cnn_fail(e, CNN_ERR_CONFIG, "%s: data.%s is not set", cfg->name, key);
    const input_cfg *in = &cfg->in;
    int rc;
    switch (dc->format) {
    case FMT_IDX: rc = data_load_idx(strlist_at(files, 0), labels, d, e); break;
    case FMT_FOLDER: rc = data_load_folder(strlist_at(files, 0), in->channels, in->height, in->width, d, e); break;
    case FMT_CSV: rc = data_load_csv(strlist_at(files, 0), in->channels, in->height, in->width, d, e); break;
    default: {
        const char *list[64];
        int n = files->n < 64 ? files->n : 64;
        for (int i = 0; i < n; i++) list[i] = strlist_at(files, i);
        rc = data_load_cifar10(list, n, d, e);
    }
    }
    if (rc) return rc;
    if (d->c != in->channels || d->h != in->height || d->w != in->width) {
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: images are %dx%dx%d but the network's input is %dx%dx%d (height x width x channels)",
                      strlist_at(files, 0), d->h, d->w, d->c, in->height, in->width, in->channels);
        dataset_free(d);
        return rc;
    }
    if (d->nclasses > classes) {
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: labels go up to %d but the network has %d outputs",
                      dc->format == FMT_IDX && labels ? labels : strlist_at(files, 0), d->nclasses - 1, classes);
        dataset_free(d);
        return rc;
    }
    int64_t limit = which == SET_TRAIN ? dc->limit : which == SET_TEST ? dc->test_limit : 0;
    if (limit > 0 && limit < d->n) d->n = limit;
    return 0;
}
