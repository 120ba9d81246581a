/* eval.c - `cnn eval`: accuracy, top-5, loss, per-class table and confusion matrix. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

static int cnn_fail_usage(cnn_error *e) {
    snprintf(e->msg, sizeof e->msg, "eval: --set applies to --config; give --config too");
    e->code = 2;
    return 2;
}

int cmd_eval(int argc, char **argv) {
    const char *model = "model.cnn", *config = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int ns = 0, json = 0, threads = 0;
    if (!sets) return fail(1, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int needs = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--config") || !strcmp(a, "--set") ||
                    !strcmp(a, "--threads");
        if (needs && i + 1 >= argc) { free(sets); return fail(2, "%s needs a value (see cnn help eval)", a); }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--config")) config = argv[++i];
        else if (!strcmp(a, "--set")) sets[ns++] = argv[++i];
        else if (!strcmp(a, "--threads")) {
            if (!parse_int_arg("--threads", argv[++i], 0, 256, &threads)) { free(sets); return 2; }
        } else if (!strcmp(a, "--json")) json = 1;
        else { free(sets); return fail(2, "eval: unexpected argument '%s' (see cnn help eval)", a); }
    }
    cnn_error err = {0};
    cnn_model *m = NULL;
    cnn_config *cfg = NULL;
    int rc = cnn_model_load(model, &m, &err);
    if (!rc && config) rc = cnn_config_load(config, sets, ns, &cfg, &err);
    else if (!rc && ns) rc = cnn_fail_usage(&err);
    free(sets);
    if (!rc) rc = cnn_model_set_threads(m, threads, &err);
    cnn_eval_result r = {0};
    if (!rc) rc = cnn_eval(m, cfg, &r, &err);
    if (rc) {
        cnn_model_free(m);
        cnn_config_free(cfg);
        return fail_err(&err);
    }
    int K = r.classes;
    if (json) {
        printf("{\"images\":%lld,\"accuracy\":%.6f,\"top5\":%.6f,\"loss\":%.6f,\"classes\":[", (long long)r.n,
               r.accuracy, r.top5, r.loss);
        for (int k = 0; k < K; k++) printf(k ? ",\"%s\"" : "\"%s\"", cnn_model_class_name(m, k));
        printf("],\"confusion\":[");
        for (int a = 0; a < K; a++) {
            printf(a ? ",[" : "[");
            for (int b = 0; b < K; b++) printf(b ? ",%lld" : "%lld", (long long)r.confusion[a * K + b]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("images\t%lld\naccuracy\t%.4f\ntop5\t%.4f\nloss\t%.4f\n\n", (long long)r.n, r.accuracy, r.top5, r.loss);
        printf("%-4s %-20s %8s %9s %7s\n", "#", "class", "images", "precision", "recall");
        for (int k = 0; k < K; k++) {
            int64_t row = 0, col = 0;
            for (int j = 0; j < K; j++) {
                row += r.confusion[k * K + j];
                col += r.confusion[j * K + k];
            }
            int64_t tp = r.confusion[k * K + k];
            printf("%-4d %-20.20s %8lld %9.4f %7.4f\n", k, cnn_model_class_name(m, k), (long long)row,
                   col ? (double)tp / (double)col : 0.0, row ? (double)tp / (double)row : 0.0);
        }
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n     ");
        for (int b = 0; b < K; b++) printf("%6d", b);
        putchar('\n');
        for (int a = 0; a < K; a++) {
            printf("%4d ", a);
            for (int b = 0; b < K; b++) printf("%6lld", (long long)r.confusion[a * K + b]);
            putchar('\n');
        }
    }
    cnn_eval_free(&r);
    cnn_model_free(m);
    cnn_config_free(cfg);
    return 0;
}
