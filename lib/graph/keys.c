/* keys.c - the schema reader behind every config section and layer. */
#include "keys.h"
#include "../core/err.h"
#include "../core/util.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *strlist_at(const strlist *l, int i) {
    if (l->seq) return l->seq->vals[i]->str;
    return l->one;
}

static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            /* a swap of two neighbours counts as one edit */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *keys_nearest(const char *word, const char *const *cands) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; cands && cands[i]; i++) {
        int d = edit_distance(word, cands[i]);
        int limit = (int)strlen(cands[i]) <= 3 ? 1 : 2;
        if (d <= limit && d < bd) { bd = d; best = cands[i]; }
    }
    return best;
}

const char *keys_suggest(const char *word, const keyspec *spec, const char *const *extra) {
    const char *c[256];
    int n = 0;
    for (int i = 0; spec && spec[i].key && n < 200; i++) c[n++] = spec[i].key;
    for (int i = 0; extra && extra[i] && n < 255; i++) c[n++] = extra[i];
    c[n] = NULL;
    return keys_nearest(word, c);
}

static int parse_int(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return 0;
    *out = v;
    return 1;
}

static int parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

static int parse_bool(const char *s, int *out) {
    static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, t[i])) { *out = 1; return 1; }
        if (!strcasecmp(s, f[i])) { *out = 0; return 1; }
    }
    return 0;
}

static int choice_index(const char *choices, const char *s) {
    int idx = 0;
    const char *p = choices;
    size_t n = strlen(s);
    while (*p) {
        const char *q = strchr(p, '|');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == n && !strncmp(p, s, n)) return idx;
        idx++;
        if (!q) break;
        p = q + 1;
    }
    return -1;
}

static const char *kind_word(const ynode *v) {
    return v->kind == Y_MAP ? "a mapping" : v->kind == Y_SEQ ? "a list" : "a value";
}

/* Reads a scalar integer with range check. */
static int read_int(const keyspec *k, const ynode *v, int *out, const char *file, cnn_error *e) {
    long x;
    if (v->kind != Y_SCALAR || !parse_int(v->str, &x))
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be an integer, not %s%s%s%s", file, v->line, v->col,
                        k->key, v->kind == Y_SCALAR ? "'" : "", v->kind == Y_SCALAR ? v->str : kind_word(v),
                        v->kind == Y_SCALAR ? "'" : "", "");
    if (x < k->lo || x > k->hi)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' is %ld, must be between %.0f and %.0f", file, v->line,
                        v->col, k->key, x, k->lo, k->hi);
    *out = (int)x;
    return 0;
}

static int read_num(const keyspec *k, const ynode *v, double *out, const char *file, cnn_error *e) {
    double x;
    if (v->kind != Y_SCALAR || !parse_num(v->str, &x))
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be a number, not %s%s%s", file, v->line, v->col,
                        k->key, v->kind == Y_SCALAR ? "'" : "", v->kind == Y_SCALAR ? v->str : kind_word(v),
                        v->kind == Y_SCALAR ? "'" : "");
    if (x < k->lo || x > k->hi)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' is %g, must be between %g and %g", file, v->line, v->col,
                        k->key, x, k->lo, k->hi);
    *out = x;
    return 0;
}

int keys_read_one(const keyspec *k, void *obj, ynode *v, const char *file, cnn_error *e) {
    char *f = (char *)obj + k->off;
    switch (k->type) {
    case K_INT: return read_int(k, v, (int *)f, file, e);
    case K_NUM: return read_num(k, v, (double *)f, file, e);
    case K_BOOL:
        if (v->kind != Y_SCALAR || !parse_bool(v->str, (int *)f))
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be true or false", file, v->line, v->col, k->key);
        return 0;
    case K_ENUM: {
        int i = v->kind == Y_SCALAR ? choice_index(k->choices, v->str) : -1;
        if (i < 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", k->choices);
            for (char *p = buf; *p; p++)
                if (*p == '|') *p = ',';
            const char *cands[32];
            int n = 0;
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", k->choices);
            for (char *t = strtok(tmp, "|"); t && n < 31; t = strtok(NULL, "|")) cands[n++] = t;
            cands[n] = NULL;
            const char *near = v->kind == Y_SCALAR ? keys_nearest(v->str, cands) : NULL;
            if (near)
                return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' cannot be '%s': did you mean '%s'? (one of %s)", file,
                                v->line, v->col, k->key, v->str, near, buf);
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be one of %s", file, v->line, v->col, k->key, buf);
        }
        *(int *)f = i;
        return 0;
    }
    case K_INT2:
    case K_PAD2: {
        int *p = (int *)f;
        if (k->type == K_PAD2 && v->kind == Y_SCALAR) {
            if (!strcmp(v->str, "same")) { p[0] = p[1] = -1; return 0; }
            if (!strcmp(v->str, "valid")) { p[0] = p[1] = 0; return 0; }
        }
        if (v->kind == Y_SEQ) {
            if (v->n != 2)
                return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be one number or a list [height, width]",
                                file, v->line, v->col, k->key);
            for (int i = 0; i < 2; i++)
                if (read_int(k, v->vals[i], &p[i], file, e)) return e ? e->code : CNN_ERR_CONFIG;
            return 0;
        }
        if (v->kind == Y_SCALAR) {
            long x;
            if (!parse_int(v->str, &x) && k->type == K_PAD2)
                return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be same, valid, a number or [height, width]",
                                file, v->line, v->col, k->key);
        }
        if (read_int(k, v, &p[0], file, e)) return e ? e->code : CNN_ERR_CONFIG;
        p[1] = p[0];
        return 0;
    }
    case K_STR:
        if (v->kind != Y_SCALAR)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be a string, not %s", file, v->line, v->col,
                            k->key, kind_word(v));
        *(const char **)f = v->str;
        return 0;
    case K_STRS: {
        strlist *l = (strlist *)f;
        if (v->kind != Y_SCALAR && v->kind != Y_SEQ)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be a string or a list of strings", file, v->line,
                            v->col, k->key);
        /* class names and paths end up in one-line messages and tab-separated output */
        for (int i = 0; i < (v->kind == Y_SEQ ? v->n : 1); i++) {
            const ynode *s = v->kind == Y_SEQ ? v->vals[i] : v;
            if (s->kind != Y_SCALAR)
                return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: items of '%s' must be strings", file, s->line, s->col,
                                k->key);
            const char *c = str_ctrl(s->str);
            if (c)
                return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' has a control character (byte %d) after '%.*s'", file,
                                s->line, s->col, k->key, *c, (int)(c - s->str), s->str);
        }
        if (v->kind == Y_SCALAR) { l->n = 1; l->one = v->str; l->seq = NULL; return 0; }
        l->n = v->n; l->seq = v; l->one = NULL;
        return 0;
    }
    case K_NUMS: {
        numlist *l = (numlist *)f;
        if (v->kind == Y_SCALAR) { l->n = 1; return read_num(k, v, &l->v[0], file, e); }
        if (v->kind != Y_SEQ || v->n < 1 || v->n > NUMLIST_MAX)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be a number or a list of 1 to %d numbers", file,
                            v->line, v->col, k->key, NUMLIST_MAX);
        for (int i = 0; i < v->n; i++)
            if (read_num(k, v->vals[i], &l->v[i], file, e)) return e ? e->code : CNN_ERR_CONFIG;
        l->n = v->n;
        return 0;
    }
    case K_MAP:
        if (v->kind != Y_MAP)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be a mapping of keys", file, v->line, v->col, k->key);
        return 0;
    case K_SEQ:
        if (v->kind != Y_SEQ)
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: '%s' must be a list", file, v->line, v->col, k->key);
        return 0;
    }
    return 0;
}

void keys_defaults(const keyspec *spec, void *obj) {
    for (const keyspec *k = spec; k->key; k++) {
        char *f = (char *)obj + k->off;
        const char *d = k->def ? k->def : "";
        switch (k->type) {
        case K_INT: *(int *)f = atoi(d); break;
        case K_NUM: *(double *)f = atof(d); break;
        case K_BOOL: *(int *)f = !strcmp(d, "true"); break;
        case K_ENUM: *(int *)f = choice_index(k->choices, d) < 0 ? 0 : choice_index(k->choices, d); break;
        case K_INT2:
        case K_PAD2: {
            int *p = (int *)f;
            p[0] = p[1] = !strcmp(d, "same") ? -1 : atoi(d);
            break;
        }
        case K_STR: *(const char **)f = *d ? d : NULL; break;
        case K_STRS: {
            strlist *l = (strlist *)f;
            l->seq = NULL; l->one = *d ? d : NULL; l->n = *d ? 1 : 0;
            break;
        }
        case K_NUMS: {
            numlist *l = (numlist *)f;
            memset(l, 0, sizeof *l);
            if (*d) { l->n = 1; l->v[0] = atof(d); }
            break;
        }
        case K_MAP:
        case K_SEQ: break;
        }
    }
}

int keys_read(const keyspec *spec, void *obj, ynode *map, const char *const *extra, const char *file,
              const char *what, cnn_error *e) {
    keys_defaults(spec, obj);
    if (!map) return 0;
    if (map->kind != Y_MAP)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: %s must be a mapping of keys", file, map->line, map->col, what);
    for (int i = 0; i < map->n; i++) {
        ynode *kn = map->keys[i], *v = map->vals[i];
        int skip = 0;
        for (int j = 0; extra && extra[j]; j++)
            if (!strcmp(extra[j], kn->str)) skip = 1;
        if (skip) continue;
        const keyspec *k = NULL;
        for (const keyspec *s = spec; s->key; s++)
            if (!strcmp(s->key, kn->str)) k = s;
        if (!k) {
            const char *near = keys_suggest(kn->str, spec, extra);
            if (near)
                return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: unknown key '%s' in %s: did you mean '%s'?", file,
                                kn->line, kn->col, kn->str, what, near);
            return cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: unknown key '%s' in %s", file, kn->line, kn->col, kn->str,
                            what);
        }
        kn->used = 1;
        if (keys_read_one(k, obj, v, file, e)) return e ? e->code : CNN_ERR_CONFIG;
    }
    return 0;
}
