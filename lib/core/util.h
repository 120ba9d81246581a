/* util.h - checked size arithmetic and small helpers shared by the whole library. */
#ifndef CNN_UTIL_H
#define CNN_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* *out = a * b; returns 0 on overflow of size_t (and leaves *out = SIZE_MAX). */
static inline int size_mul(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) { *out = SIZE_MAX; return 0; }
    *out = a * b;
    return 1;
}
static inline int size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) { *out = SIZE_MAX; return 0; }
    *out = a + b;
    return 1;
}

/* Static split of n items over nth workers: worker ith gets [*lo, *hi). */
static inline void split_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t q = n / nth, r = n % nth;
    *lo = ith * q + (ith < r ? ith : r);
    *hi = *lo + q + (ith < r);
}

/* 64-byte aligned allocation (freed with free()); NULL on failure or overflow. */
void *aligned_alloc64(size_t bytes);

/* Unsigned integers of file formats, read byte by byte (any alignment, any host order). */
static inline uint32_t rd_be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t rd_be32(const unsigned char *p) { return rd_be16(p) << 16 | rd_be16(p + 2); }
static inline uint32_t rd_le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t rd_le32(const unsigned char *p) { return rd_le16(p) | rd_le16(p + 2) << 16; }

/* The first control character (below 0x20, or DEL) of s, or NULL. Class names must have
 * none: predict prints them in tab-separated lines. */
static inline const char *str_ctrl(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return s;
    return NULL;
}

/* strdup that is C11-clean; NULL in gives NULL out. */
char *str_dup(const char *s);
/* Reads a whole file into a NUL-terminated buffer of at most max bytes. Returns 0, or
 * CNN_ERR_DATA with a message naming the path. */
struct cnn_error;
int file_read_all(const char *path, size_t max, char **out, size_t *len, struct cnn_error *e);
/* mkdir -p; errors name the path. */
int mkdir_p(const char *path, struct cnn_error *e);
/* Seconds on a monotonic clock. */
double now_seconds(void);
#endif
