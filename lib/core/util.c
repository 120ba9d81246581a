/* util.c - file and string helpers. */
#define _POSIX_C_SOURCE 200809L
#include "util.h"
#include "err.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

char *str_dup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int file_read_all(const char *path, size_t max, char **out, size_t *len, cnn_error *e) {
    struct stat st;
    if (stat(path, &st) != 0)
        return cnn_fail(e, CNN_ERR_DATA, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return cnn_fail(e, CNN_ERR_DATA, "%s: is a directory, not a file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail(e, CNN_ERR_DATA, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", path); }
    for (;;) {
        if (n == cap) {
            if (cap >= max + 1) break;
            size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) { free(buf); fclose(f); return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", path); }
            buf = nb; cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return cnn_fail(e, CNN_ERR_DATA, "%s: read error", path); }
    if (n > max) { free(buf); return cnn_fail(e, CNN_ERR_DATA, "%s: larger than the limit of %zu bytes", path, max); }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int mkdir_p(const char *path, cnn_error *e) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return cnn_fail(e, CNN_ERR_RUNTIME, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0) continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return cnn_fail(e, CNN_ERR_RUNTIME, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cnn_fail(e, CNN_ERR_RUNTIME, "%s: not a directory", path);
    return 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
