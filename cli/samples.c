/* samples.c - `cnn samples`: write data-set images as PNG files. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

int cmd_samples(int argc, char **argv) {
    const char *cfgp = NULL, *out = "samples";
    int count = 10, train = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--count") || !strcmp(a, "--out")) && i + 1 >= argc)
            return fail(2, "%s needs a value (see cnn help samples)", a);
        if (!strcmp(a, "--count")) {
            if (!parse_int_arg("--count", argv[++i], 1, 1000000, &count)) return 2;
        } else if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--train")) train = 1;
        else if (a[0] == '-' && a[1]) return fail(2, "samples: unknown option '%s' (see cnn help samples)", a);
        else if (cfgp) return fail(2, "samples: one config at a time");
        else cfgp = a;
    }
    if (!cfgp) { usage(stderr, "samples"); return 2; }
    cnn_config *cfg;
    cnn_error err = {0};
    if (cnn_config_load(cfgp, NULL, 0, &cfg, &err)) return fail_err(&err);
    int n = 0, rc = cnn_export_images(cfg, train, count, out, &n, &err);
    cnn_config_free(cfg);
    if (rc) return fail_err(&err);
    printf("%s\t%d\n", out, n);
    return 0;
}
