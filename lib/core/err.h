/* err.h - filling a cnn_error: one line, a status code, returned to the caller. */
#ifndef CNN_ERR_H
#define CNN_ERR_H
#include "../cnn.h"

/* Formats the message into e (which may be NULL), stores code and returns it, so a
 * failing path reads `return cnn_fail(e, CNN_ERR_DATA, "%s: truncated", path);`. */
int cnn_fail(cnn_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message with "prefix: " (keeps the code). */
int cnn_error_prefix(cnn_error *e, const char *prefix);
#endif
