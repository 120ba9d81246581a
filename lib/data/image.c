/* image.c - image files: decoding (through stb_unit), conversion to 1 or 3 planar
 * channels with alpha composited on black, resampling (area averaging when shrinking,
 * bilinear when enlarging), and the cnn.h calls cnn_image_load and cnn_image_save_png. */
#include "dataset.h"
#include "data_priv.h"
#include "stb_unit.h"
#include "../core/err.h"
#include "../core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest image file read: an uncompressed 4-channel BMP of the most pixels allowed,
 * plus room for its headers. Kept below INT_MAX, which is what stb_image takes. */
#define IMAGE_MAX_FILE_BYTES (((size_t)CNN_MAX_IMAGE_PIXELS * 4) + ((size_t)1 << 20))

/* Reads a whole regular file; the buffer is sized from fstat, never from the content.
 * Opened non-blocking so that a FIFO among the images is refused instead of waited on. */
static int read_image_file(const char *path, const char *shown, unsigned char **out, size_t *len,
                           cnn_error *e) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cnn_fail(e, CNN_ERR_DATA, "%s: %s", shown, strerror(errno));
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0) bad = strerror(errno);
    else if (S_ISDIR(st.st_mode)) bad = "is a directory, not an image file";
    else if (!S_ISREG(st.st_mode)) bad = "not a regular file";
    else if (st.st_size == 0) bad = "empty file, not an image";
    else if ((uint64_t)st.st_size > IMAGE_MAX_FILE_BYTES) bad = "file larger than any image allowed (CNN_MAX_IMAGE_PIXELS)";
    if (bad) { close(fd); return cnn_fail(e, CNN_ERR_DATA, "%s: %s", shown, bad); }
    size_t n = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(n);
    if (!buf) { close(fd); return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory reading %zu bytes", shown, n); }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int er = errno;
            close(fd);
            free(buf);
            return cnn_fail(e, CNN_ERR_DATA, "%s: %s", shown, strerror(er));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) { free(buf); return cnn_fail(e, CNN_ERR_DATA, "%s: file shrank while being read", shown); }
    *out = buf;
    *len = n;
    return CNN_OK;
}

/* The message for a stb_image failure: its reasons are terse, so the common ones get words. */
static int decode_fail(cnn_error *e, const char *shown) {
    /* Some reasons embed bytes of the file (an unknown PNG chunk type): keep them printable. */
    char why[64];
    snprintf(why, sizeof why, "%s", stbu_failure());
    for (char *q = why; *q; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f) *q = '?';
    if (!why[0]) snprintf(why, sizeof why, "corrupt or truncated data");
    if (!strcmp(why, "too large"))
        return cnn_fail(e, CNN_ERR_DATA, "%s: image larger than %d pixels on a side (CNN_MAX_IMAGE_SIDE)",
                        shown, CNN_MAX_IMAGE_SIDE);
    if (!strcmp(why, "outofmem"))
        return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory decoding the image", shown);
    return cnn_fail(e, CNN_ERR_DATA, "%s: not a supported image (stb_image: %s)", shown, why);
}

/* Interleaved 8-bit pixels with comp channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) to c
 * planar channels. Alpha multiplies the colour (compositing on black); luminance uses
 * the weights 0.299, 0.587, 0.114 in integers, rounded to nearest. */
static void to_planar(const unsigned char *px, int comp, size_t npix, int c, uint8_t *out) {
    for (size_t p = 0; p < npix; p++) {
        const unsigned char *s = px + p * (size_t)comp;
        unsigned r, g, b, a = 255;
        if (comp <= 2) r = g = b = s[0];
        else { r = s[0]; g = s[1]; b = s[2]; }
        if (comp == 2) a = s[1];
        if (comp == 4) a = s[3];
        if (c == 1) {
            unsigned y;
            if (comp <= 2) y = a == 255 ? g : (g * a + 127) / 255;
            else {
                unsigned lum = 299 * r + 587 * g + 114 * b; /* 0..255000 */
                y = a == 255 ? (lum + 500) / 1000 : (lum * a + 127500) / 255000;
            }
            out[p] = (uint8_t)y;
        } else {
            if (a != 255) {
                r = (r * a + 127) / 255;
                g = (g * a + 127) / 255;
                b = (b * a + 127) / 255;
            }
            out[p] = (uint8_t)r;
            out[npix + p] = (uint8_t)g;
            out[2 * npix + p] = (uint8_t)b;
        }
    }
}

int image_load_shown(const char *path, const char *shown, int c, int h, int w, uint8_t *out,
                     cnn_error *e) {
    if (!path || !shown || !out) return cnn_fail(e, CNN_ERR_CONFIG, "image load: no file name or no output buffer");
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > CNN_MAX_IMAGE_SIDE || w > CNN_MAX_IMAGE_SIDE)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: cannot convert an image to %d x %d x %d (channels 1 or 3, sides 1..%d)",
                        shown, c, h, w, CNN_MAX_IMAGE_SIDE);
    unsigned char *file = NULL;
    size_t len = 0;
    int rc = read_image_file(path, shown, &file, &len, e);
    if (rc) return rc;
    /* The header first: an image too large is refused before anything is allocated for it. */
    int iw, ih, comp;
    if (!stbu_info(file, len, &iw, &ih, &comp)) { free(file); return decode_fail(e, shown); }
    if (iw < 1 || ih < 1 || iw > CNN_MAX_IMAGE_SIDE || ih > CNN_MAX_IMAGE_SIDE) {
        free(file);
        return cnn_fail(e, CNN_ERR_DATA, "%s: image of %d x %d pixels is outside 1..%d on a side (CNN_MAX_IMAGE_SIDE)",
                        shown, iw, ih, CNN_MAX_IMAGE_SIDE);
    }
    /* A few bytes may claim a huge image (a GIF of 95 bytes, 12545 x 4097): decoding it
     * would cost gigabytes. */
    if ((int64_t)iw * ih > CNN_MAX_IMAGE_PIXELS) {
        free(file);
        return cnn_fail(e, CNN_ERR_DATA, "%s: image of %d x %d pixels has more than %lld pixels (CNN_MAX_IMAGE_PIXELS)",
                        shown, iw, ih, (long long)CNN_MAX_IMAGE_PIXELS);
    }
    unsigned char *px = stbu_load(file, len, &iw, &ih, &comp);
    free(file);
    if (!px) return decode_fail(e, shown);
    if (iw < 1 || ih < 1 || iw > CNN_MAX_IMAGE_SIDE || ih > CNN_MAX_IMAGE_SIDE || comp < 1 || comp > 4) {
        stbu_free(px); /* cannot happen with STBI_MAX_DIMENSIONS set, but costs nothing to check */
        return cnn_fail(e, CNN_ERR_DATA, "%s: decoder returned a %d x %d x %d image", shown, iw, ih, comp);
    }
    size_t npix = (size_t)iw * (size_t)ih; /* <= 2^28, no overflow */
    if (iw == w && ih == h) {
        to_planar(px, comp, npix, c, out);
        stbu_free(px);
        return CNN_OK;
    }
    uint8_t *tmp = malloc(npix * (size_t)c);
    if (!tmp) { stbu_free(px); return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory converting the image", shown); }
    to_planar(px, comp, npix, c, tmp);
    stbu_free(px);
    image_resize(tmp, c, ih, iw, out, h, w);
    free(tmp);
    return CNN_OK;
}

int image_load(const char *path, int c, int h, int w, uint8_t *out, cnn_error *e) {
    return image_load_shown(path, path, c, h, w, out, e);
}

int cnn_image_load(const char *path, int c, int h, int w, uint8_t *out, cnn_error *err) {
    return image_load_shown(path, path, c, h, w, out, err);
}

/* ---- resampling ---- */

/* The input samples [lo, hi) that output sample o draws on along one axis, and how to
 * weigh them: one sample when the sizes match, the covered area when shrinking, the two
 * nearest samples (pixel centres aligned) when enlarging. */
typedef struct span {
    int lo, hi;
    double a, b;    /* shrinking: the output sample covers input [a, b) */
    double f;       /* enlarging: weight of sample lo + 1 */
    int mode;       /* 0 copy, 1 area, 2 bilinear */
} span;

static span axis_span(int o, int nin, int nout) {
    span s = {o, o + 1, 0, 0, 0, 0};
    if (nin > nout) {
        s.mode = 1;
        s.a = (double)o * nin / nout;
        s.b = (double)(o + 1) * nin / nout;
        s.lo = (int)s.a;
        s.hi = (int)ceil(s.b);
        if (s.hi > nin) s.hi = nin;
        if (s.hi <= s.lo) s.hi = s.lo + 1;
    } else if (nin < nout) {
        s.mode = 2;
        double x = ((double)o + 0.5) * nin / nout - 0.5;
        if (x < 0) x = 0;
        if (x > nin - 1) x = nin - 1;
        s.lo = (int)x;
        s.f = x - s.lo;
        s.hi = s.lo + 2 <= nin ? s.lo + 2 : nin;
    }
    return s;
}

static double span_weight(const span *s, int i) {
    switch (s->mode) {
    case 1: {
        double lo = i > s->a ? i : s->a, hi = i + 1 < s->b ? i + 1 : s->b;
        return (hi - lo) / (s->b - s->a);
    }
    case 2: return i == s->lo ? 1.0 - s->f : s->f;
    default: return 1.0;
    }
}

/* Each output pixel is computed directly as a separable weighted sum of its input
 * footprint, so resampling needs no scratch memory and cannot fail. */
void image_resize(const uint8_t *in, int c, int ih, int iw, uint8_t *out, int oh, int ow) {
    size_t iplane = (size_t)ih * (size_t)iw, oplane = (size_t)oh * (size_t)ow;
    if (ih == oh && iw == ow) {
        memcpy(out, in, iplane * (size_t)c);
        return;
    }
    for (int ch = 0; ch < c; ch++) {
        const uint8_t *src = in + (size_t)ch * iplane;
        uint8_t *dst = out + (size_t)ch * oplane;
        for (int oy = 0; oy < oh; oy++) {
            span sy = axis_span(oy, ih, oh);
            for (int ox = 0; ox < ow; ox++) {
                span sx = axis_span(ox, iw, ow);
                double acc = 0;
                for (int y = sy.lo; y < sy.hi; y++) {
                    const uint8_t *row = src + (size_t)y * (size_t)iw;
                    double racc = 0;
                    for (int x = sx.lo; x < sx.hi; x++) racc += span_weight(&sx, x) * row[x];
                    acc += span_weight(&sy, y) * racc;
                }
                double v = floor(acc + 0.5);
                dst[(size_t)oy * ow + ox] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* ---- writing PNG ---- */

typedef struct png_sink { FILE *f; int err; } png_sink; /* err: errno of the first failed write */

static void png_write_cb(void *ctx, void *data, int size) {
    png_sink *s = ctx;
    if (!s->err && size > 0 && fwrite(data, 1, (size_t)size, s->f) != (size_t)size) s->err = errno ? errno : EIO;
}

int cnn_image_save_png(const char *path, const uint8_t *px, int c, int h, int w, cnn_error *err) {
    if (!path || !px) return cnn_fail(err, CNN_ERR_CONFIG, "PNG save: no file name or no pixels");
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > CNN_MAX_IMAGE_SIDE || w > CNN_MAX_IMAGE_SIDE)
        return cnn_fail(err, CNN_ERR_CONFIG, "%s: cannot write a %d x %d x %d image as PNG (channels 1 or 3, sides 1..%d)",
                        path, c, h, w, CNN_MAX_IMAGE_SIDE);
    size_t plane = (size_t)h * (size_t)w;
    uint8_t *inter = NULL;
    const uint8_t *data = px;
    if (c == 3) { /* stb writes interleaved pixels */
        inter = malloc(plane * 3);
        if (!inter) return cnn_fail(err, CNN_ERR_RUNTIME, "%s: out of memory", path);
        for (size_t p = 0; p < plane; p++)
            for (int ch = 0; ch < 3; ch++) inter[p * 3 + ch] = px[(size_t)ch * plane + p];
        data = inter;
    }
    /* Written beside the target and renamed over it, so a reader never sees half a file. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp) { free(inter); return cnn_fail(err, CNN_ERR_RUNTIME, "%s: out of memory", path); }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int er = errno;
        free(tmp); free(inter);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: cannot create a temporary file: %s", path, strerror(er));
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; an image is not secret */
    png_sink sink = {fdopen(fd, "wb"), 0};
    if (!sink.f) {
        int er = errno;
        close(fd); unlink(tmp); free(tmp); free(inter);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: %s", path, strerror(er));
    }
    int ok = stbu_write_png(png_write_cb, &sink, w, h, c, data, w * c);
    free(inter);
    int er = sink.err;
    if (!er && fflush(sink.f) != 0) er = errno ? errno : EIO;
    if (fclose(sink.f) != 0 && !er) er = errno ? errno : EIO;
    if (!ok) {
        unlink(tmp); free(tmp);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: out of memory encoding PNG", path);
    }
    if (er) {
        unlink(tmp); free(tmp);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: %s", path, strerror(er));
    }
    if (rename(tmp, path) != 0) {
        er = errno;
        unlink(tmp); free(tmp);
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: %s", path, strerror(er));
    }
    free(tmp);
    return CNN_OK;
}
