/* summary.c - `cnn summary` and `cnn check`. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

/* Splits argv into files and --set values. Returns 0 on a usage error. */
static int split_args(int argc, char **argv, const char **files, int *nf, const char **sets, int *ns) {
    *nf = *ns = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc) { fail(2, "--set needs KEY=VALUE"); return 0; }
            sets[(*ns)++] = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6)) sets[(*ns)++] = argv[i] + 6;
        else if (argv[i][0] == '-' && argv[i][1]) { fail(2, "unknown option '%s'", argv[i]); return 0; }
        else files[(*nf)++] = argv[i];
    }
    return 1;
}

static void human(char *buf, size_t n, double v) {
    if (v >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.1fK", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

int cmd_summary(int argc, char **argv) {
    const char **files = calloc((size_t)argc, sizeof *files), **sets = calloc((size_t)argc, sizeof *sets);
    int nf, ns, rc = 0;
    if (!files || !sets) return fail(1, "out of memory");
    if (!split_args(argc, argv, files, &nf, sets, &ns)) rc = 2;
    else if (nf != 1) { usage(stderr, "summary"); rc = 2; }
    cnn_model *m = NULL;
    cnn_error err = {0};
    if (!rc && load_model_any(files[0], sets, ns, &m, &err)) rc = fail_err(&err);
    if (!rc) {
        int c, h, w;
        cnn_model_input_shape(m, &c, &h, &w);
        printf("%-16s %-10s %-14s %12s %12s %12s\n", "layer", "type", "output", "params", "mult-adds", "act bytes");
        printf("%-16s %-10s %-14s %12s %12s %12s\n", "input", "input", "", "0", "0", "");
        int64_t P = 0, M = 0, A = 0;
        for (int i = 0; i < cnn_model_layer_count(m); i++) {
            cnn_layer_info li;
            cnn_model_layer_info(m, i, &li);
            char shp[32];
            snprintf(shp, sizeof shp, "%dx%dx%d", li.c, li.h, li.w);
            printf("%-16s %-10s %-14s %12lld %12lld %12lld\n", li.name, li.type, shp, (long long)li.params,
                   (long long)li.macs, (long long)li.act_bytes);
            P += li.params;
            M += li.macs;
            A += li.act_bytes;
        }
        char p[32], mm[32], a[32];
        human(p, sizeof p, (double)P);
        human(mm, sizeof mm, (double)M);
        human(a, sizeof a, (double)A);
        printf("total: %lld params (%s), %lld mult-adds per image (%s), %lld activation bytes per image (%s); "
               "input %dx%dx%d, %d classes\n", (long long)P, p, (long long)M, mm, (long long)A, a, c, h, w,
               cnn_model_class_count(m));
    }
    cnn_model_free(m);
    free(files);
    free(sets);
    return rc;
}

int cmd_check(int argc, char **argv) {
    const char **files = calloc((size_t)argc, sizeof *files), **sets = calloc((size_t)argc, sizeof *sets);
    int nf, ns, rc = 0;
    if (!files || !sets) return fail(1, "out of memory");
    if (!split_args(argc, argv, files, &nf, sets, &ns)) rc = 2;
    else if (nf < 1) { usage(stderr, "check"); rc = 2; }
    int bad = 0;
    for (int i = 0; !rc && i < nf; i++) {
        cnn_config *cfg;
        cnn_error err = {0};
        if (cnn_config_load(files[i], sets, ns, &cfg, &err)) {
            fail_err(&err);
            bad = 1;
            continue;
        }
        printf("%s: ok\n", files[i]);
        cnn_config_free(cfg);
    }
    if (bad) rc = 2;
    free(files);
    free(sets);
    return rc;
}
