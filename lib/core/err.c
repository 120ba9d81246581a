/* err.c - cnn_error helpers. */
#include "err.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cnn_fail(cnn_error *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int cnn_error_prefix(cnn_error *e, const char *prefix) {
    if (!e) return CNN_ERR_RUNTIME;
    char tmp[sizeof e->msg];
    int n = snprintf(tmp, sizeof tmp, "%s: ", prefix);
    if (n < 0 || (size_t)n >= sizeof tmp) return e->code;
    memcpy(tmp + n, e->msg, sizeof tmp - (size_t)n - 1);
    tmp[sizeof tmp - 1] = 0;
    memcpy(e->msg, tmp, sizeof tmp);
    return e->code;
}
