/* sets.h - loading the train/validation/test sets a config names. */
#ifndef CNN_SETS_H
#define CNN_SETS_H
#include "../data/dataset.h"
#include "../graph/config.h"

enum { SET_TRAIN, SET_VALIDATION, SET_TEST };
/* Loads one set; a set the config does not name gives CNN_ERR_CONFIG naming the key.
 * Checks the images match the input shape and the labels fit `classes` outputs. */
int sets_load(const cnn_config *cfg, int which, int classes, dataset *d, cnn_error *e);
#endif
