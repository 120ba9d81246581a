/* predict.c - `cnn predict`: images in, one line per image out, in input order. Images
 * are decoded and classified in chunks so a long list streams through batched inference. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { CHUNK = 64 };

typedef struct pred {
    cnn_model *m;
    int top, json, c, h, w, k;
    int bad;                    /* some image could not be read */
    char *paths[CHUNK];
    int n;
    uint8_t *px;
    float *probs;
} pred;

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

/* A TSV field: tabs, newlines and other control characters (from a path or a class name)
 * become \xNN so every result stays one line of three columns per class. */
static void tsv_field(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

static void flush_chunk(pred *p) {
    int64_t per = (int64_t)p->c * p->h * p->w;
    int ok[CHUNK], nok = 0;
    for (int i = 0; i < p->n; i++) {
        cnn_error err = {0};
        ok[i] = cnn_image_load(p->paths[i], p->c, p->h, p->w, p->px + nok * per, &err) == 0;
        if (ok[i]) nok++;
        else {
            fail_err(&err);
            p->bad = 1;
        }
    }
    cnn_error err = {0};
    if (nok && cnn_model_predict(p->m, p->px, nok, p->probs, &err)) {
        fail_err(&err);
        p->bad = 1;
        nok = 0;
        for (int i = 0; i < p->n; i++) ok[i] = 0;
    }
    for (int i = 0, j = 0; i < p->n; i++) {
        if (!ok[i]) { free(p->paths[i]); continue; }
        const float *pr = p->probs + (int64_t)j++ * p->k;
        int idx[64], top = p->top < p->k ? p->top : p->k;
        for (int t = 0; t < top; t++) { /* selection of the top classes; ties keep the lower index */
            int best = -1;
            for (int c = 0; c < p->k; c++) {
                int used = 0;
                for (int u = 0; u < t; u++) used |= idx[u] == c;
                if (!used && (best < 0 || pr[c] > pr[best])) best = c;
            }
            idx[t] = best;
        }
        if (p->json) {
            printf("{\"path\":");
            json_str(p->paths[i]);
            printf(",\"top\":[");
            for (int t = 0; t < top; t++) {
                printf(t ? ",{\"class\":" : "{\"class\":");
                json_str(cnn_model_class_name(p->m, idx[t]));
                printf(",\"index\":%d,\"p\":%.6f}", idx[t], pr[idx[t]]);
            }
            printf("]}\n");
        } else {
            tsv_field(p->paths[i]);
            for (int t = 0; t < top; t++) {
                putchar('\t');
                tsv_field(cnn_model_class_name(p->m, idx[t]));
                printf("\t%.4f", pr[idx[t]]);
            }
            putchar('\n');
        }
        free(p->paths[i]);
    }
    fflush(stdout);
    p->n = 0;
}

static void add_path(pred *p, const char *path) {
    char *d = malloc(strlen(path) + 1);
    if (!d) { fprintf(stderr, "cnn: out of memory\n"); p->bad = 1; return; }
    strcpy(d, path);
    p->paths[p->n++] = d;
    if (p->n == CHUNK) flush_chunk(p);
}

static int is_image_name(const char *s) {
    static const char *ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    const char *dot = strrchr(s, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_dir(pred *p, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "cnn: %s: cannot open directory\n", dir); p->bad = 1; return; }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !is_image_name(de->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        size_t l = strlen(dir) + strlen(de->d_name) + 2;
        names[n] = malloc(l);
        if (!names[n]) break;
        snprintf(names[n], l, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", de->d_name);
        n++;
    }
    closedir(d);
    if (n == 0) { /* a script must be able to tell this from success */
        fprintf(stderr, "cnn: %s: no images (.png, .jpg, .jpeg, .bmp, .gif) in this directory\n", dir);
        p->bad = 1;
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        add_path(p, names[i]);
        free(names[i]);
    }
    free(names);
}

int cmd_predict(int argc, char **argv) {
    const char *model = "model.cnn";
    pred p;
    memset(&p, 0, sizeof p);
    p.top = 1;
    int threads = 0, nin = 0;
    char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) return fail(1, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int needs = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--top") || !strcmp(a, "--threads");
        if (needs && i + 1 >= argc) { free(inputs); return fail(2, "%s needs a value (see cnn help predict)", a); }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--top")) {
            if (!parse_int_arg("--top", argv[++i], 1, 64, &p.top)) { free(inputs); return 2; }
        } else if (!strcmp(a, "--threads")) {
            if (!parse_int_arg("--threads", argv[++i], 0, 256, &threads)) { free(inputs); return 2; }
        } else if (!strcmp(a, "--json")) p.json = 1;
        else if (a[0] == '-' && a[1]) { free(inputs); return fail(2, "predict: unknown option '%s' (see cnn help predict)", a); }
        else inputs[nin++] = argv[i];
    }
    if (!nin) { free(inputs); usage(stderr, "predict"); return 2; }
    cnn_error err = {0};
    if (cnn_model_load(model, &p.m, &err)) { free(inputs); return fail_err(&err); }
    if (cnn_model_set_threads(p.m, threads, &err)) { cnn_model_free(p.m); free(inputs); return fail_err(&err); }
    cnn_model_input_shape(p.m, &p.c, &p.h, &p.w);
    p.k = cnn_model_class_count(p.m);
    p.px = malloc((size_t)CHUNK * (size_t)p.c * (size_t)p.h * (size_t)p.w);
    p.probs = malloc((size_t)CHUNK * (size_t)p.k * sizeof(float));
    if (!p.px || !p.probs) { free(inputs); return fail(1, "out of memory"); }
    for (int i = 0; i < nin; i++) {
        const char *a = inputs[i];
        struct stat st;
        if (!strcmp(a, "-")) {
            char *line = NULL;
            size_t cap = 0;
            ssize_t len;
            while ((len = getline(&line, &cap, stdin)) > 0) {
                while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
                if (len) add_path(&p, line);
            }
            free(line);
        } else if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) add_dir(&p, a);
        else add_path(&p, a);
    }
    if (p.n) flush_chunk(&p);
    free(p.px);
    free(p.probs);
    free(inputs);
    cnn_model_free(p.m);
    return p.bad ? 3 : 0;
}
