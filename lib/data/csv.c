/* csv.c - a CSV list of "path,label" records naming image files (relative paths resolve
 * against the CSV's directory). Fields may be quoted ("" is a quote inside quotes) and
 * may then hold commas and newlines; unquoted fields lose surrounding spaces and tabs;
 * lines end in LF, CRLF or CR; blank lines and a leading UTF-8 BOM are skipped; a first
 * record "path,label" is a header. The first label decides the kind: an integer makes
 * every label a class number (names NULL, nclasses = max + 1), anything else makes every
 * label a class name (names = the sorted distinct labels). */
#include "dataset.h"
#include "data_priv.h"
#include "../core/err.h"
#include "../core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_MAX_BYTES ((size_t)1 << 30) /* a list of a few million lines */

typedef struct csv_rec {
    char *path, *label;
    int line, pcol, lcol;   /* line of the record, columns of its two fields */
    int32_t y;
} csv_rec;

typedef struct csv_parser {
    const char *name;       /* the CSV path, for messages */
    const char *p, *end, *line_start;
    int line;
} csv_parser;

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* Consumes a line end at ps->p if there is one (LF, CRLF or CR); returns 1 if it did. */
static int eat_eol(csv_parser *ps) {
    if (ps->p < ps->end && (*ps->p == '\n' || *ps->p == '\r')) {
        if (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n') ps->p++;
        ps->p++;
        ps->line++;
        ps->line_start = ps->p;
        return 1;
    }
    return 0;
}

/* Reads one field into a new string; *col gets its column. Stops before ',' or a line end. */
static int read_field(csv_parser *ps, char **out, int *col, cnn_error *e) {
    while (ps->p < ps->end && is_blank(*ps->p)) ps->p++;
    *col = (int)(ps->p - ps->line_start) + 1;
    int line = ps->line;
    const char *s = ps->p;
    size_t len;
    char *f;
    if (s < ps->end && *s == '"') {
        /* The unescaped field is never longer than the quoted text. */
        const char *q = s + 1;
        size_t cap = 0;
        while (q < ps->end && !(*q == '"' && !(q + 1 < ps->end && q[1] == '"'))) { q += *q == '"' ? 2 : 1; cap++; }
        if (q >= ps->end) return cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: quoted field is never closed", ps->name, line, *col);
        f = malloc(cap + 1);
        if (!f) return cnn_fail(e, CNN_ERR_RUNTIME, "%s:%d: out of memory", ps->name, line);
        len = 0;
        for (ps->p = s + 1; ps->p < q; ps->p++) {
            if (*ps->p == '"') ps->p++; /* the first of "" */
            else if (*ps->p == '\n' || (*ps->p == '\r' && !(ps->p + 1 < q && ps->p[1] == '\n'))) {
                ps->line++;
                ps->line_start = ps->p + 1;
            }
            f[len++] = *ps->p;
        }
        f[len] = 0;
        ps->p = q + 1;
        while (ps->p < ps->end && is_blank(*ps->p)) ps->p++;
        if (ps->p < ps->end && *ps->p != ',' && *ps->p != '\n' && *ps->p != '\r') {
            free(f);
            return cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: unexpected '%c' after a closing quote", ps->name, ps->line,
                            (int)(ps->p - ps->line_start) + 1, *ps->p);
        }
    } else {
        const char *q = s;
        while (q < ps->end && *q != ',' && *q != '\n' && *q != '\r') q++;
        ps->p = q;
        while (q > s && is_blank(q[-1])) q--;
        len = (size_t)(q - s);
        f = malloc(len + 1);
        if (!f) return cnn_fail(e, CNN_ERR_RUNTIME, "%s:%d: out of memory", ps->name, line);
        memcpy(f, s, len);
        f[len] = 0;
    }
    *out = f;
    return CNN_OK;
}

static int blank_line_ahead(const csv_parser *ps) {
    const char *q = ps->p;
    while (q < ps->end && is_blank(*q)) q++;
    return q >= ps->end || *q == '\n' || *q == '\r';
}

/* Parses every record. Returns the records in *out (n of them). */
static int parse_csv(const char *name, const char *text, size_t len, csv_rec **out, size_t *n, cnn_error *e) {
    csv_parser ps = {name, text, text + len, text, 1};
    csv_rec *recs = NULL;
    size_t nrec = 0, cap = 0;
    int rc = CNN_OK, first = 1;
    const char *nul = memchr(text, 0, len);
    if (nul) {
        int line = 1;
        for (const char *q = text; q < nul; q++) line += *q == '\n';
        return cnn_fail(e, CNN_ERR_DATA, "%s:%d: NUL byte: not a text file", name, line);
    }
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) ps.p = ps.line_start = text + 3; /* UTF-8 BOM (spreadsheets) */
    while (!rc && ps.p < ps.end) {
        if (blank_line_ahead(&ps)) { /* blank or white line */
            while (ps.p < ps.end && is_blank(*ps.p)) ps.p++;
            eat_eol(&ps);
            continue;
        }
        csv_rec r = {NULL, NULL, ps.line, 0, 0, 0};
        int nf = 0, col = 0;
        for (;;) {
            char *f = NULL;
            if ((rc = read_field(&ps, &f, &col, e))) break;
            if (nf == 0) { r.path = f; r.pcol = col; }
            else if (nf == 1) { r.label = f; r.lcol = col; }
            else free(f);
            nf++;
            if (ps.p < ps.end && *ps.p == ',') { ps.p++; continue; }
            eat_eol(&ps);
            break;
        }
        if (!rc && nf != 2)
            rc = cnn_fail(e, CNN_ERR_DATA, "%s:%d: %d field%s, expected 2 (path,label)", name, r.line, nf, nf == 1 ? "" : "s");
        if (!rc && first && !strcasecmp(r.path, "path") && !strcasecmp(r.label, "label")) {
            first = 0;
            free(r.path);
            free(r.label);
            continue;
        }
        first = 0;
        if (!rc && !r.path[0]) rc = cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: empty path", name, r.line, r.pcol);
        if (!rc && !r.label[0]) rc = cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: empty label", name, r.line, r.lcol);
        if (!rc && nrec == cap) {
            size_t nc = cap ? cap * 2 : 256;
            csv_rec *nr = realloc(recs, nc * sizeof *nr);
            if (!nr) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s:%d: out of memory", name, r.line);
            else { recs = nr; cap = nc; }
        }
        if (rc) { free(r.path); free(r.label); break; }
        recs[nrec++] = r;
    }
    if (rc) {
        for (size_t i = 0; i < nrec; i++) { free(recs[i].path); free(recs[i].label); }
        free(recs);
        return rc;
    }
    *out = recs;
    *n = nrec;
    return CNN_OK;
}

/* An optional sign and decimal digits: the label is a class number. */
static int looks_integer(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Gives every record its class: numbers, or indices into the sorted distinct names. */
static int assign_labels(const char *name, csv_rec *r, size_t n, int *nclasses, char ***names, cnn_error *e) {
    if (looks_integer(r[0].label)) {
        int maxl = 0;
        for (size_t i = 0; i < n; i++) {
            const char *s = r[i].label;
            if (!looks_integer(s))
                return cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: label '%s' is not an integer, but the first label ('%s', line %d) is, "
                                "so all labels must be class numbers", name, r[i].line, r[i].lcol, s, r[0].label, r[0].line);
            long v = 0;
            int neg = *s == '-';
            for (s += *s == '+' || *s == '-'; *s && v < CNN_MAX_CLASSES; s++) v = v * 10 + (*s - '0');
            if (neg && v) v = -1;
            if (v < 0 || v >= CNN_MAX_CLASSES)
                return cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: label '%s' is outside 0..%d (CNN_MAX_CLASSES - 1)",
                                name, r[i].line, r[i].lcol, r[i].label, CNN_MAX_CLASSES - 1);
            r[i].y = (int32_t)v;
            if (v > maxl) maxl = (int)v;
        }
        *nclasses = maxl + 1;
        *names = NULL;
        return CNN_OK;
    }
    /* Names: sort borrowed pointers, keep the distinct ones, then look each label up. */
    char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name);
    for (size_t i = 0; i < n; i++) sorted[i] = r[i].label;
    qsort(sorted, n, sizeof *sorted, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(sorted[k - 1], sorted[i])) sorted[k++] = sorted[i];
    if (k > CNN_MAX_CLASSES) {
        free(sorted);
        return cnn_fail(e, CNN_ERR_DATA, "%s: %zu distinct labels, more than the limit of %d classes (CNN_MAX_CLASSES)",
                        name, k, CNN_MAX_CLASSES);
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = str_ctrl(r[i].label);
        if (c) {
            free(sorted);
            return cnn_fail(e, CNN_ERR_DATA, "%s:%d:%d: label '%.*s' is followed by a control character (byte %d); "
                            "class names are printed one per field", name, r[i].line, r[i].lcol, (int)(c - r[i].label),
                            r[i].label, *c);
        }
        char **hit = bsearch(&r[i].label, sorted, k, sizeof *sorted, cmp_str);
        r[i].y = (int32_t)(hit - sorted);
    }
    char **own = calloc(k, sizeof *own);
    int rc = own ? CNN_OK : cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name);
    for (size_t i = 0; !rc && i < k; i++)
        if (!(own[i] = str_dup(sorted[i]))) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name);
    free(sorted);
    if (rc) {
        for (size_t i = 0; own && i < k; i++) free(own[i]);
        free(own);
        return rc;
    }
    *nclasses = (int)k;
    *names = own;
    return CNN_OK;
}

int data_load_csv(const char *csv, int c, int h, int w, dataset *d, cnn_error *e) {
    if (!csv) return cnn_fail(e, CNN_ERR_CONFIG, "CSV data: no list file given");
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > CNN_MAX_IMAGE_SIDE || w > CNN_MAX_IMAGE_SIDE)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: cannot load images as %d x %d x %d (channels 1 or 3, sides 1..%d)",
                        csv, c, h, w, CNN_MAX_IMAGE_SIDE);
    char *text;
    size_t len;
    int rc = file_read_all(csv, CSV_MAX_BYTES, &text, &len, e);
    if (rc) return rc;
    csv_rec *r = NULL;
    size_t n = 0;
    rc = parse_csv(csv, text, len, &r, &n, e);
    free(text);
    if (rc) return rc;
    dataset t = {(int64_t)n, c, h, w, NULL, NULL, 0, NULL};
    char *dir = NULL;
    size_t img = 0, xbytes = 0;
    if (n == 0) rc = cnn_fail(e, CNN_ERR_DATA, "%s: lists no images", csv);
    if (!rc) rc = assign_labels(csv, r, n, &t.nclasses, &t.names, e);
    if (!rc && (!size_mul((size_t)c * h, (size_t)w, &img) || !size_mul(img, n, &xbytes)))
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: %zu images of %d x %d x %d do not fit in memory", csv, n, c, h, w);
    if (!rc) {
        t.x = malloc(xbytes);
        t.y = malloc(n * sizeof *t.y);
        if (!t.x || !t.y) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory for %zu images", csv, n);
    }
    const char *slash = strrchr(csv, '/');
    if (!rc && slash) {
        size_t dl = slash == csv ? 1 : (size_t)(slash - csv);
        if (!(dir = malloc(dl + 1))) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", csv);
        else { memcpy(dir, csv, dl); dir[dl] = 0; }
    }
    for (size_t i = 0; !rc && i < n; i++) {
        char *full = data_path_join(dir, r[i].path);
        if (!full) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", csv); break; }
        t.y[i] = r[i].y;
        rc = image_load_shown(full, r[i].path, c, h, w, t.x + i * img, e);
        free(full);
        if (rc && e) {
            char where[64 + 4096];
            snprintf(where, sizeof where, "%s:%d", csv, r[i].line);
            cnn_error_prefix(e, where);
        }
    }
    free(dir);
    for (size_t i = 0; i < n; i++) { free(r[i].path); free(r[i].label); }
    free(r);
    if (rc) { dataset_free(&t); return rc; }
    *d = t;
    return CNN_OK;
}
