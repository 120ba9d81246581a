/* idx.c - the IDX format of MNIST and Fashion-MNIST: an image file (magic 0x00000803,
 * n x h x w unsigned bytes) and a label file (0x00000801, n unsigned bytes), each plain or
 * gzip-compressed. The data is streamed, and the buffer grows only as data actually
 * arrives, so a header claiming billions of images costs nothing until they exist. */
#include "dataset.h"
#include "../core/err.h"
#include "../core/util.h"
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

/* A byte stream from a file, inflated when the file starts with the gzip magic. */
typedef struct src {
    const char *path;
    FILE *f;
    int gz, zinit, zend;    /* gzip input; inflate initialised; last member finished */
    z_stream zs;
    unsigned char *in;      /* next_in of zs / pending plain bytes */
    size_t in_len;          /* plain mode: bytes left at `in` */
    unsigned char buf[1 << 16];
} src;

static int src_fill(src *s, size_t *got, cnn_error *e) {
    *got = fread(s->buf, 1, sizeof s->buf, s->f);
    if (*got == 0 && ferror(s->f)) return cnn_fail(e, CNN_ERR_DATA, "%s: read error: %s", s->path, strerror(errno));
    s->in = s->buf;
    return CNN_OK;
}

static int src_open(src *s, const char *path, cnn_error *e) {
    memset(s, 0, offsetof(src, buf));
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f) return cnn_fail(e, CNN_ERR_DATA, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(s->f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(s->f); s->f = NULL;
        return cnn_fail(e, CNN_ERR_DATA, "%s: is a directory, not an IDX file", path);
    }
    size_t n;
    int rc = src_fill(s, &n, e);
    if (rc) { fclose(s->f); s->f = NULL; return rc; }
    s->in_len = n;
    if (n >= 2 && s->buf[0] == 0x1f && s->buf[1] == 0x8b) {
        s->gz = 1;
        if (inflateInit2(&s->zs, 15 + 16) != Z_OK) {
            fclose(s->f); s->f = NULL;
            return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory starting zlib", path);
        }
        s->zinit = 1;
        s->zs.next_in = s->buf;
        s->zs.avail_in = (uInt)n;
    }
    return CNN_OK;
}

static void src_close(src *s) {
    if (s->zinit) inflateEnd(&s->zs);
    if (s->f) fclose(s->f);
    s->zinit = 0;
    s->f = NULL;
}

/* Reads up to n bytes; *got < n only at the end of the data. Corrupt or truncated gzip
 * data, and anything but another gzip member after one, are errors. */
static int src_read(src *s, unsigned char *dst, size_t n, size_t *got, cnn_error *e) {
    size_t have = 0, k;
    int rc;
    if (!s->gz) {
        while (have < n) {
            if (s->in_len == 0) {
                if ((rc = src_fill(s, &s->in_len, e))) return rc;
                if (s->in_len == 0) break;
            }
            k = n - have < s->in_len ? n - have : s->in_len;
            memcpy(dst + have, s->in, k);
            have += k; s->in += k; s->in_len -= k;
        }
        *got = have;
        return CNN_OK;
    }
    while (have < n && !s->zend) {
        if (s->zs.avail_in == 0) {
            if ((rc = src_fill(s, &k, e))) return rc;
            if (k == 0) return cnn_fail(e, CNN_ERR_DATA, "%s: truncated gzip data (the compressed stream ends early)", s->path);
            s->zs.next_in = s->in;
            s->zs.avail_in = (uInt)k;
        }
        size_t want = n - have > (1u << 30) ? (1u << 30) : n - have;
        s->zs.next_out = dst + have;
        s->zs.avail_out = (uInt)want;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        have += want - s->zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* gzip allows several members back to back; anything else is garbage. */
            if (s->zs.avail_in == 0) {
                if ((rc = src_fill(s, &k, e))) return rc;
                s->zs.next_in = s->in;
                s->zs.avail_in = (uInt)k;
            }
            if (s->zs.avail_in == 0) s->zend = 1;
            else if (s->zs.next_in[0] == 0x1f) inflateReset(&s->zs);
            else return cnn_fail(e, CNN_ERR_DATA, "%s: unexpected bytes after the end of the gzip data", s->path);
        } else if (zr == Z_MEM_ERROR) {
            return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory in zlib", s->path);
        } else if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR ||
                   (zr == Z_BUF_ERROR && s->zs.avail_in > 0)) {
            return cnn_fail(e, CNN_ERR_DATA, "%s: corrupt gzip data (%s)", s->path,
                            s->zs.msg ? s->zs.msg : "inflate failed");
        }
    }
    *got = have;
    return CNN_OK;
}

/* Reads exactly `size` payload bytes into a buffer grown as they arrive, then makes sure
 * nothing follows. `what` names the items in messages ("images", "labels"). */
static int read_payload(src *s, size_t size, uint32_t count, const char *what, unsigned char **out,
                        cnn_error *e) {
    size_t cap = size < ((size_t)1 << 20) ? size : ((size_t)1 << 20), have = 0, got;
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", s->path);
    int rc;
    for (;;) {
        if ((rc = src_read(s, buf + have, cap - have, &got, e))) { free(buf); return rc; }
        have += got;
        if (have < cap || cap == size) break;
        size_t nc = cap > size / 2 ? size : cap * 2;
        unsigned char *nb = realloc(buf, nc);
        if (!nb) { free(buf); return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory (%zu bytes)", s->path, nc); }
        buf = nb;
        cap = nc;
    }
    if (have < size) {
        free(buf);
        return cnn_fail(e, CNN_ERR_DATA, "%s: truncated: the header announces %u %s (%zu bytes) but only %zu bytes follow",
                        s->path, count, what, size, have);
    }
    unsigned char extra;
    if ((rc = src_read(s, &extra, 1, &got, e))) { free(buf); return rc; }
    if (got) {
        free(buf);
        return cnn_fail(e, CNN_ERR_DATA, "%s: unexpected data after the %u %s the header announces", s->path, count, what);
    }
    *out = buf;
    return CNN_OK;
}

/* Opens an IDX file and reads its magic and dims (n, then h and w for images). */
static int read_header(src *s, const char *path, uint32_t magic, uint32_t *dims, cnn_error *e) {
    int rc = src_open(s, path, e);
    if (rc) return rc;
    int ndims = magic == IDX_MAGIC_IMAGES ? 3 : 1;
    unsigned char hdr[16];
    size_t want = 4 + 4 * (size_t)ndims, got;
    if ((rc = src_read(s, hdr, want, &got, e))) return rc;
    if (got == 0) return cnn_fail(e, CNN_ERR_DATA, "%s: empty file, not an IDX file", path);
    if (got < 4) return cnn_fail(e, CNN_ERR_DATA, "%s: too short for an IDX file (%zu bytes)", path, got);
    uint32_t m = rd_be32(hdr);
    if (m != magic) {
        const char *kind = magic == IDX_MAGIC_IMAGES ? "image" : "label";
        if (m == IDX_MAGIC_IMAGES || m == IDX_MAGIC_LABELS)
            return cnn_fail(e, CNN_ERR_DATA, "%s: an IDX %s file where an IDX %s file was expected", path,
                            m == IDX_MAGIC_IMAGES ? "image" : "label", kind);
        return cnn_fail(e, CNN_ERR_DATA, "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)", path, kind, m, magic);
    }
    if (got < want) return cnn_fail(e, CNN_ERR_DATA, "%s: truncated IDX header (%zu of %zu bytes)", path, got, want);
    for (int i = 0; i < ndims; i++) dims[i] = rd_be32(hdr + 4 + 4 * i);
    return CNN_OK;
}

int data_load_idx(const char *images, const char *labels, dataset *d, cnn_error *e) {
    if (!images || !labels)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: IDX data needs an image file and a label file", images ? images : "IDX");
    src *s = malloc(sizeof *s);
    if (!s) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", images);
    uint32_t dims[3] = {0, 0, 0}, nl = 0;
    unsigned char *x = NULL, *ly = NULL;
    int32_t *y = NULL;
    int rc = read_header(s, images, IDX_MAGIC_IMAGES, dims, e);
    if (rc) goto done;
    uint32_t n = dims[0], h = dims[1], w = dims[2];
    if (n == 0) { rc = cnn_fail(e, CNN_ERR_DATA, "%s: holds no images", images); goto done; }
    if (h < 1 || w < 1 || h > CNN_MAX_IMAGE_SIDE || w > CNN_MAX_IMAGE_SIDE) {
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: images of %u x %u pixels, outside 1..%d on a side (CNN_MAX_IMAGE_SIDE)",
                      images, h, w, CNN_MAX_IMAGE_SIDE);
        goto done;
    }
    size_t size;
    if (!size_mul(n, (size_t)h * w, &size) || size > PTRDIFF_MAX) {
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: %u images of %u x %u pixels do not fit in memory", images, n, h, w);
        goto done;
    }
    if ((rc = read_payload(s, size, n, "images", &x, e))) goto done;
    src_close(s);

    if ((rc = read_header(s, labels, IDX_MAGIC_LABELS, &nl, e))) goto done;
    if (nl != n) {
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: %u labels, but %s holds %u images", labels, nl, images, n);
        goto done;
    }
    if ((rc = read_payload(s, nl, nl, "labels", &ly, e))) goto done;
    y = malloc((size_t)n * sizeof *y);
    if (!y) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", labels); goto done; }
    int maxl = 0;
    for (uint32_t i = 0; i < n; i++) {
        y[i] = ly[i];
        if (y[i] > maxl) maxl = y[i];
    }
    if (maxl >= CNN_MAX_CLASSES) { /* unreachable with byte labels; kept for the limit's sake */
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: label %d is above the limit of %d classes", labels, maxl, CNN_MAX_CLASSES);
        goto done;
    }
    dataset out = {(int64_t)n, 1, (int)h, (int)w, x, y, maxl + 1, NULL};
    *d = out;
    x = NULL;
    y = NULL;
done:
    src_close(s);
    free(s);
    free(x);
    free(ly);
    free(y);
    return rc;
}
