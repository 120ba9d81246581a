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
    snprintf(tmp, sizeof tmp, "%s: %s", prefix, e->msg);
    memcpy(e->msg, tmp, sizeof tmp);
    return e->code;
}
