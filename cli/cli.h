/* cli.h - shared pieces of the cnn command: the subcommands and small helpers. */
#ifndef CNN_CLI_H
#define CNN_CLI_H
#include "../lib/cnn.h"
#include <stdio.h>

int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_samples(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_filters(int argc, char **argv);
int cmd_features(int argc, char **argv);

/* Prints "cnn: message" to stderr and returns code. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the library error and returns its code. */
int fail_err(const cnn_error *e);
/* Parses a whole decimal int in [lo, hi] for option opt; returns 0 and prints on error. */
int parse_int_arg(const char *opt, const char *s, int lo, int hi, int *out);
/* Prints the usage of one command to f; returns 0 if cmd is known. */
int usage(FILE *f, const char *cmd);
/* Loads a config or a checkpoint (by content) as a model. */
int load_model_any(const char *path, const char *const *sets, int nsets, cnn_model **m, cnn_error *e);
#endif
