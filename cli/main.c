/* main.c - the cnn command: dispatch to subcommands, help, version. */
#include "cli.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cnn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

/* Messages can quote file contents (a key, a class name): control characters are escaped
 * so every message stays one line. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

int fail_err(const cnn_error *e) {
    fputs("cnn: ", stderr);
    put_escaped(stderr, e->msg);
    fputc('\n', stderr);
    return e->code ? e->code : 1;
}

int parse_int_arg(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < lo || v > hi) {
        fail(2, "%s needs a whole number from %d to %d, not '%s'", opt, lo, hi, s ? s : "");
        return 0;
    }
    *out = (int)v;
    return 1;
}

int load_model_any(const char *path, const char *const *sets, int nsets, cnn_model **m, cnn_error *e) {
    FILE *f = fopen(path, "rb");
    char magic[8] = {0};
    if (f) {
        size_t n = fread(magic, 1, 8, f);
        (void)n;
        fclose(f);
    }
    if (!memcmp(magic, "CNNCKPT", 7)) return cnn_model_load(path, m, e);
    cnn_config *cfg;
    int rc = cnn_config_load(path, sets, nsets, &cfg, e);
    if (rc) return rc;
    rc = cnn_model_create(cfg, m, e);
    cnn_config_free(cfg);
    return rc;
}

static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
    {"train", cmd_train}, {"predict", cmd_predict}, {"eval", cmd_eval},
    {"summary", cmd_summary}, {"check", cmd_check}, {"samples", cmd_samples}, {"bench", cmd_bench}, {"filters", cmd_filters}, {"features", cmd_features}, {"help", cmd_help},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr, NULL);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h")) { usage(stdout, NULL); return 0; }
    if (!strcmp(c, "--version") || !strcmp(c, "version")) { printf("cnn %s\n", CNN_VERSION); return 0; }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(c, cmds[i].name)) {
            for (int a = 2; a < argc; a++)
                if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) { usage(stdout, c); return 0; }
            return cmds[i].fn(argc - 1, argv + 1);
        }
    return fail(2, "unknown command '%s' (commands: train, predict, eval, summary, check, samples, bench, filters, features, help; see cnn --help)", c);
}
