/* bench.c - `cnn bench`: per-layer forward/backward times with GFLOP/s and the fraction of
 * the FMA peak measured on the spot, then img/s for training, infer64 and infer1 ms, and the
 * peak RSS. Output is tab-separated KEY<TAB>VALUE lines, for scripts, plus a per-layer table
 * for each measurement (train, infer64 and infer1). --mode kernels times each layer alone
 * instead, on one thread by default, with its data in cache. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void table(cnn_model *m, const cnn_bench_layer *l, int train, double peak) {
    printf("%-16s %-10s %9s %9s %9s %9s %7s %7s\n", "layer", "type", "fwd_ms", "bwd_ms", "fwd_GF/s", "bwd_GF/s",
           "fwd_%pk", "bwd_%pk");
    double tf = 0, tb = 0;
    for (int i = 0; i < cnn_model_layer_count(m); i++) {
        double gf = l[i].fwd_ms > 0 ? l[i].fwd_gflop / (l[i].fwd_ms * 1e-3) : 0;
        double gb = l[i].bwd_ms > 0 ? l[i].bwd_gflop / (l[i].bwd_ms * 1e-3) : 0;
        tf += l[i].fwd_ms;
        tb += l[i].bwd_ms;
        printf("%-16s %-10s %9.3f %9.3f", l[i].name, l[i].type, l[i].fwd_ms, train ? l[i].bwd_ms : 0.0);
        if (l[i].fwd_gflop > 0)
            printf(" %9.1f %9.1f %6.1f%% %6.1f%%\n", gf, gb, 100 * gf / peak, train ? 100 * gb / peak : 0.0);
        else printf(" %9s %9s %7s %7s\n", "-", "-", "-", "-");
    }
    printf("%-16s %-10s %9.3f %9.3f\n", "total", "", tf, tb);
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL, *mode = "all";
    int batch = 64, threads = 0, runs = 5;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int needs = !strcmp(a, "--batch") || !strcmp(a, "--threads") || !strcmp(a, "--mode") ||
                    !strcmp(a, "--seconds") || !strcmp(a, "--runs");
        if (needs && i + 1 >= argc) return fail(2, "%s needs a value (see cnn help bench)", a);
        if (!strcmp(a, "--batch")) {
            if (!parse_int_arg(a, argv[++i], 1, 65536, &batch)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_int_arg(a, argv[++i], 0, 256, &threads)) return 2;
        } else if (!strcmp(a, "--runs")) {
            if (!parse_int_arg(a, argv[++i], 1, 100, &runs)) return 2;
        } else if (!strcmp(a, "--mode")) {
            mode = argv[++i];
            if (strcmp(mode, "train") && strcmp(mode, "infer") && strcmp(mode, "all") && strcmp(mode, "kernels"))
                return fail(2, "--mode must be train, infer, kernels or all, not '%s'", mode);
        } else if (!strcmp(a, "--seconds")) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 600)) return fail(2, "--seconds needs a number in (0, 600]");
        } else if (a[0] == '-' && a[1]) return fail(2, "bench: unknown option '%s' (see cnn help bench)", a);
        else if (path) return fail(2, "bench: one model at a time");
        else path = a;
    }
    if (!path) { usage(stderr, "bench"); return 2; }
    cnn_model *m;
    cnn_error err = {0};
    if (load_model_any(path, NULL, 0, &m, &err)) return fail_err(&err);
    char cpu[128];
    const char *simd;
    cnn_cpu_info(cpu, sizeof cpu, &simd);
    double peak = cnn_peak_gflops();
    int nl = cnn_model_layer_count(m), rc = 0;
    cnn_bench_layer *l = calloc((size_t)nl, sizeof *l);
    if (!l) return fail(1, "out of memory");
    if (cnn_model_set_threads(m, threads, &err)) return fail_err(&err);
    int nth = threads ? threads : 0;
    printf("cpu\t%s\nsimd\t%s\npeak_gflops_1core\t%.1f\n", cpu, simd, peak);
    double r;
    if (!strcmp(mode, "train") || !strcmp(mode, "all")) {
        if ((rc = cnn_bench(m, batch, 1, seconds, runs, &r, l, &err))) goto out;
        int used = nth ? nth : cnn_model_threads(m);
        printf("\n# train, batch %d, %d threads; %%pk = percent of %d x the 1-core FMA peak\n", batch, used, used);
        table(m, l, 1, peak * used);
        printf("train_img_per_s\t%.1f\npeak_rss_mb\t%.1f\n", r, peak_rss_mb());
    }
    if (!strcmp(mode, "infer") || !strcmp(mode, "all")) {
        if ((rc = cnn_bench(m, 64, 0, seconds, runs, &r, l, &err))) goto out;
        int used = nth ? nth : cnn_model_threads(m);
        printf("\n# infer, batch 64, %d threads\n", used);
        table(m, l, 0, peak * used);
        printf("infer64_img_per_s\t%.1f\n", r);
        if ((rc = cnn_model_set_threads(m, 1, &err)) || (rc = cnn_bench(m, 1, 0, seconds, runs, &r, l, &err)))
            goto out;
        printf("\n# infer, batch 1, 1 thread (infer1)\n");
        table(m, l, 0, peak);
        printf("infer1_ms\t%.4f\n", 1000.0 / r);
    }
    if (!strcmp(mode, "kernels")) {
        /* single-core unless asked: the figure to hold against the 1-core FMA peak */
        int used = nth ? nth : 1;
        if ((rc = cnn_model_set_threads(m, used, &err)) ||
            (rc = cnn_bench_kernels(m, batch, seconds / 10, l, &err)))
            goto out;
        printf("\n# kernels, batch %d, %d thread%s: each layer's forward and backward alone, repeated with its data "
               "in cache (median call); %%pk = percent of %d x the 1-core FMA peak\n",
               batch, used, used == 1 ? "" : "s", used);
        table(m, l, 1, peak * used);
    }
out:
    free(l);
    cnn_model_free(m);
    if (rc) return fail_err(&err);
    return 0;
}
