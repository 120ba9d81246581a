/* test_data.c - the data readers against fixtures written at run time into a temporary
 * directory: IDX (plain, gzip, corrupt), CIFAR-10, CSV lists, image folders, image files
 * (formats, hostile files, limits), resampling, and batch assembly with augmentation. */
#include "check.h"
#include "data/dataset.h"
#include "core/rng.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmp[256];

/* tmp/name in a static ring of buffers, so a few can be alive at once. */
static const char *P(const char *fmt, ...) {
    static char ring[8][512];
    static int k;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    char *b = ring[k++ & 7];
    snprintf(b, 512, "%s/%s", tmp, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

static void write_text(const char *path, const char *s) { write_file(path, s, strlen(s)); }

static void write_gz(const char *path, const void *data, size_t len) {
    gzFile g = gzopen(path, "wb");
    if (!g) { perror(path); exit(2); }
    if (len) gzwrite(g, data, (unsigned)len);
    gzclose(g);
}

static unsigned char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* A one-line message that names the file and says what is wrong. */
static int msg_ok(const cnn_error *e, const char *path, const char *needle) {
    return strstr(e->msg, path) == e->msg && !strchr(e->msg, '\n') && (!needle || strstr(e->msg, needle));
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
static void put_le32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

/* ---- IDX ---- */

/* An IDX buffer: magic, dims, then the payload. */
static unsigned char *idx_buf(uint32_t magic, const uint32_t *dims, int nd, const unsigned char *data, size_t len, size_t *out) {
    *out = 4 + 4 * (size_t)nd + len;
    unsigned char *b = malloc(*out);
    put_be32(b, magic);
    for (int i = 0; i < nd; i++) put_be32(b + 4 + 4 * i, dims[i]);
    memcpy(b + 4 + 4 * nd, data, len);
    return b;
}

static void test_idx(void) {
    enum { N = 5, H = 3, W = 4 };
    unsigned char px[N * H * W], lab[N] = {0, 2, 1, 2, 0};
    for (int i = 0; i < N * H * W; i++) px[i] = (unsigned char)(i * 7 + 3);
    uint32_t idims[3] = {N, H, W}, ldims[1] = {N};
    size_t il, ll;
    unsigned char *ib = idx_buf(0x803, idims, 3, px, sizeof px, &il), *lb = idx_buf(0x801, ldims, 1, lab, N, &ll);
    write_file(P("img.idx"), ib, il);
    write_file(P("lab.idx"), lb, ll);
    write_gz(P("img.idx.gz"), ib, il);
    write_gz(P("lab.idx.gz"), lb, ll);
    write_gz(P("img-no-suffix"), ib, il); /* gzip found from the content, not the name */

    const char *pairs[][2] = {{"img.idx", "lab.idx"}, {"img.idx.gz", "lab.idx.gz"}, {"img-no-suffix", "lab.idx"}};
    for (int k = 0; k < 3; k++) {
        dataset d = {0};
        cnn_error e = {0};
        int rc = data_load_idx(P("%s", pairs[k][0]), P("%s", pairs[k][1]), &d, &e);
        CHECK(rc == 0, "%s", e.msg);
        CHECK(d.n == N && d.c == 1 && d.h == H && d.w == W && d.nclasses == 3 && d.names == NULL, "idx %d: shape", k);
        CHECK(d.x && !memcmp(d.x, px, sizeof px), "idx %d: pixels", k);
        int same = d.y != NULL;
        for (int i = 0; same && i < N; i++) same = d.y[i] == lab[i];
        CHECK(same, "idx %d: labels", k);
        dataset_free(&d);
        CHECK(d.x == NULL && d.y == NULL && d.n == 0, "dataset_free zeroes");
    }
    dataset_free(NULL);

    cnn_error e;
    dataset d = {0};
    /* wrong magic: a label file given as images, and a random magic */
    CHECK(data_load_idx(P("lab.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("lab.idx"), "where an IDX image file"), "%s", e.msg);
    size_t bl;
    unsigned char *bad = idx_buf(0x12345678, idims, 3, px, sizeof px, &bl);
    write_file(P("magic.idx"), bad, bl);
    free(bad);
    CHECK(data_load_idx(P("magic.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("magic.idx"), "magic 0x12345678"), "%s", e.msg);
    /* count mismatch between the two files */
    uint32_t l4[1] = {N - 1};
    bad = idx_buf(0x801, l4, 1, lab, N - 1, &bl);
    write_file(P("lab4.idx"), bad, bl);
    free(bad);
    CHECK(data_load_idx(P("img.idx"), P("lab4.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("lab4.idx"), "4 labels") &&
          strstr(e.msg, "5 images"), "%s", e.msg);
    /* plain file too short, and trailing bytes */
    write_file(P("short.idx"), ib, il - 1);
    CHECK(data_load_idx(P("short.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("short.idx"), "truncated"), "%s", e.msg);
    write_file(P("hdr.idx"), ib, 10);
    CHECK(data_load_idx(P("hdr.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("hdr.idx"), "header"), "%s", e.msg);
    unsigned char *longer = malloc(il + 3);
    memcpy(longer, ib, il);
    memcpy(longer + il, "xyz", 3);
    write_file(P("long.idx"), longer, il + 3);
    CHECK(data_load_idx(P("long.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("long.idx"), "unexpected data"), "%s", e.msg);
    write_gz(P("long.idx.gz"), longer, il + 3);
    CHECK(data_load_idx(P("long.idx.gz"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("long.idx.gz"), "unexpected data"), "%s", e.msg);
    free(longer);
    /* truncated gzip: the trailer cut off, or most of the stream */
    size_t gl;
    unsigned char *gz = read_whole(P("img.idx.gz"), &gl);
    write_file(P("cut1.gz"), gz, gl - 4);
    CHECK(data_load_idx(P("cut1.gz"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("cut1.gz"), "truncated gzip"), "%s", e.msg);
    write_file(P("cut2.gz"), gz, gl / 2);
    CHECK(data_load_idx(P("cut2.gz"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("cut2.gz"), "gzip"), "%s", e.msg);
    int all = 1;
    for (size_t cut = 0; cut < gl; cut++) { /* every truncation fails, naming the file */
        write_file(P("cut%zu.gz", cut), gz, cut);
        all &= data_load_idx(P("cut%zu.gz", cut), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("cut%zu.gz", cut), NULL);
        unlink(P("cut%zu.gz", cut));
    }
    CHECK(all, "every truncated gzip IDAT file is refused");
    rng r = rng_stream(4, 99, 0, 0);
    unsigned char *flip = malloc(gl);
    for (int k = 0; k < 300; k++) { /* damaged gzip: the right data or a clean error */
        memcpy(flip, gz, gl);
        flip[2 + rng_below(&r, (uint32_t)gl - 2)] ^= (unsigned char)(1 + rng_below(&r, 255));
        write_file(P("flip%d.gz", k), flip, gl);
        int rc = data_load_idx(P("flip%d.gz", k), P("lab.idx"), &d, &e);
        all &= rc == 0 ? d.n == N && d.h == H && d.w == W : rc == CNN_ERR_DATA && msg_ok(&e, P("flip%d.gz", k), NULL);
        dataset_free(&d);
        unlink(P("flip%d.gz", k));
    }
    free(flip);
    CHECK(all, "damaged gzip IDAT files load or fail cleanly");
    /* a corrupted CRC, and garbage after the gzip stream */
    gz[gl - 6] ^= 0x55;
    write_file(P("crc.gz"), gz, gl);
    CHECK(data_load_idx(P("crc.gz"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("crc.gz"), "corrupt gzip"), "%s", e.msg);
    gz[gl - 6] ^= 0x55;
    unsigned char *gg = malloc(gl + 5);
    memcpy(gg, gz, gl);
    memcpy(gg + gl, "HELLO", 5);
    write_file(P("garbage.gz"), gg, gl + 5);
    CHECK(data_load_idx(P("garbage.gz"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("garbage.gz"), "after the end of the gzip"), "%s", e.msg);
    /* two gzip members back to back are one stream */
    size_t half = il / 2;
    write_gz(P("m1.gz"), ib, half);
    write_gz(P("m2.gz"), ib + half, il - half);
    size_t l1, l2;
    unsigned char *g1 = read_whole(P("m1.gz"), &l1), *g2 = read_whole(P("m2.gz"), &l2);
    unsigned char *g12 = malloc(l1 + l2);
    memcpy(g12, g1, l1);
    memcpy(g12 + l1, g2, l2);
    write_file(P("multi.gz"), g12, l1 + l2);
    CHECK(data_load_idx(P("multi.gz"), P("lab.idx"), &d, &e) == 0 && d.n == N && !memcmp(d.x, px, sizeof px), "%s", e.msg);
    dataset_free(&d);
    free(g1); free(g2); free(g12); free(gg); free(gz);
    /* hostile headers: billions of images in a tiny file, absurd or zero sides */
    uint32_t huge[3] = {0xffffffffu, 28, 28};
    bad = idx_buf(0x803, huge, 3, px, sizeof px, &bl);
    write_file(P("huge.idx"), bad, bl);
    write_gz(P("huge.idx.gz"), bad, bl);
    free(bad);
    CHECK(data_load_idx(P("huge.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("huge.idx"), "truncated"), "%s", e.msg);
    CHECK(data_load_idx(P("huge.idx.gz"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("huge.idx.gz"), "truncated"), "%s", e.msg);
    uint32_t wide[3] = {1, 1, 100000}, zero[3] = {0, 28, 28}, flat[3] = {1, 0, 28};
    const uint32_t *hostile[3] = {wide, zero, flat};
    for (int k = 0; k < 3; k++) {
        bad = idx_buf(0x803, hostile[k], 3, px, sizeof px, &bl);
        write_file(P("hostile%d.idx", k), bad, bl);
        free(bad);
        CHECK(data_load_idx(P("hostile%d.idx", k), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("hostile%d.idx", k), NULL), "%s", e.msg);
    }
    /* labels: every byte value is a class; 255 makes 256 classes */
    unsigned char lab255[N] = {0, 255, 1, 2, 3};
    bad = idx_buf(0x801, ldims, 1, lab255, N, &bl);
    write_file(P("lab255.idx"), bad, bl);
    free(bad);
    CHECK(data_load_idx(P("img.idx"), P("lab255.idx"), &d, &e) == 0 && d.nclasses == 256 && d.y[1] == 255, "%s", e.msg);
    dataset_free(&d);
    /* empty file, directory, missing file */
    write_file(P("empty.idx"), "", 0);
    CHECK(data_load_idx(P("empty.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("empty.idx"), "empty"), "%s", e.msg);
    CHECK(data_load_idx(tmp, P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, tmp, "directory"), "%s", e.msg);
    CHECK(data_load_idx(P("nope.idx"), P("lab.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("nope.idx"), "No such file"), "%s", e.msg);
    CHECK(data_load_idx(P("img.idx"), P("nope.idx"), &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("nope.idx"), "No such file"), "%s", e.msg);
    CHECK(data_load_idx(P("img.idx"), NULL, &d, &e) == CNN_ERR_CONFIG && msg_ok(&e, P("img.idx"), "label file"), "%s", e.msg);
    CHECK(d.x == NULL && d.n == 0, "a failed load leaves the dataset untouched");
    free(ib);
    free(lb);
}

static void test_fashion_mnist(void) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char ti[256], tl[256], vi[256], vl[256];
    snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(tl, sizeof tl, "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(vi, sizeof vi, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(vl, sizeof vl, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (access(ti, R_OK) || access(tl, R_OK) || access(vi, R_OK) || access(vl, R_OK)) return;
    dataset d = {0};
    cnn_error e = {0};
    CHECK(data_load_idx(ti, tl, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 60000 && d.c == 1 && d.h == 28 && d.w == 28 && d.nclasses == 10, "Fashion-MNIST train shape");
    int ok = 1;
    for (int64_t i = 0; i < d.n; i++) ok &= d.y[i] >= 0 && d.y[i] < 10;
    CHECK(ok, "Fashion-MNIST labels < 10");
    dataset_free(&d);
    CHECK(data_load_idx(vi, vl, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 10000 && d.h == 28 && d.w == 28 && d.nclasses == 10, "Fashion-MNIST test shape");
    dataset_free(&d);
}

/* ---- CIFAR-10 ---- */

static void test_cifar(void) {
    enum { REC = 3073 };
    unsigned char *b = malloc(3 * REC);
    for (int r = 0; r < 3; r++) {
        b[r * REC] = (unsigned char)(r * 3); /* 0, 3, 6 */
        for (int i = 0; i < 3072; i++) b[r * REC + 1 + i] = (unsigned char)(i + r);
    }
    write_file(P("c1.bin"), b, 3 * REC);
    write_file(P("c2.bin"), b, 2 * REC);
    const char *files[2] = {P("c1.bin"), P("c2.bin")};
    dataset d = {0};
    cnn_error e = {0};
    CHECK(data_load_cifar10(files, 2, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 5 && d.c == 3 && d.h == 32 && d.w == 32 && d.nclasses == 10 && d.names, "CIFAR shape");
    CHECK(d.names && !strcmp(d.names[3], "cat") && !strcmp(d.names[0], "airplane") && !strcmp(d.names[9], "truck"), "CIFAR class names");
    CHECK(d.y && d.y[0] == 0 && d.y[2] == 6 && d.y[3] == 0 && d.y[4] == 3, "CIFAR labels");
    CHECK(d.x && d.x[4 * 3072 + 1024] == (unsigned char)(1024 + 1) && !memcmp(d.x + 3072, b + REC + 1, 3072), "CIFAR pixels");
    dataset_free(&d);

    write_file(P("c3.bin"), b, 2 * REC - 1);
    const char *f3[2] = {P("c1.bin"), P("c3.bin")};
    CHECK(data_load_cifar10(f3, 2, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("c3.bin"), "3073"), "%s", e.msg);
    write_file(P("c4.bin"), "", 0);
    const char *f4[1] = {P("c4.bin")};
    CHECK(data_load_cifar10(f4, 1, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("c4.bin"), "empty"), "%s", e.msg);
    b[REC] = 10;
    write_file(P("c5.bin"), b, 3 * REC);
    const char *f5[1] = {P("c5.bin")};
    CHECK(data_load_cifar10(f5, 1, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("c5.bin"), "record 2: label 10"), "%s", e.msg);
    const char *f6[1] = {P("missing.bin")};
    CHECK(data_load_cifar10(f6, 1, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("missing.bin"), "No such file"), "%s", e.msg);
    CHECK(data_load_cifar10(f6, 0, &d, &e) != 0, "no CIFAR files");
    CHECK(d.x == NULL, "failed loads leave d alone");
    free(b);
}

/* ---- PNG by hand (for what stb_image_write cannot make: 16-bit, palette) ---- */

static void png_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len) {
    unsigned char b[4];
    put_be32(b, len);
    fwrite(b, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (len) fwrite(data, 1, len, f);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, len);
    put_be32(b, (uint32_t)crc);
    fwrite(b, 1, 4, f);
}

/* raw: h rows of w * (samples per pixel) * (depth / 8) bytes, big-endian samples.
 * raw NULL writes a header alone (no IDAT), which may claim any size. */
static void png_raw(const char *path, uint32_t w, uint32_t h, int depth, int ctype, const unsigned char *raw,
                    const unsigned char *plte, int nplte) {
    FILE *f = fopen(path, "wb");
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    unsigned char ihdr[13];
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = (unsigned char)depth; ihdr[9] = (unsigned char)ctype; ihdr[10] = ihdr[11] = ihdr[12] = 0;
    png_chunk(f, "IHDR", ihdr, 13);
    if (plte) png_chunk(f, "PLTE", plte, (uint32_t)nplte * 3);
    if (raw) {
        int spp = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : 4;
        size_t row = (size_t)w * spp * depth / 8, flen = (row + 1) * h;
        unsigned char *filt = malloc(flen);
        for (uint32_t y = 0; y < h; y++) {
            filt[y * (row + 1)] = 0;
            memcpy(filt + y * (row + 1) + 1, raw + y * row, row);
        }
        uLongf zl = compressBound(flen);
        unsigned char *z = malloc(zl);
        compress(z, &zl, filt, flen);
        png_chunk(f, "IDAT", z, (uint32_t)zl);
        free(filt);
        free(z);
    }
    png_chunk(f, "IEND", NULL, 0);
    fclose(f);
}

/* A 1 x 1 GIF of two frames: white (global palette), then red (local palette). */
static const unsigned char anim_gif[] =
    "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
    ",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00"
    ",\x00\x00\x00\x00\x01\x00\x01\x00\x80\xff\x00\x00\x00\x00\x00\x02\x02\x44\x01\x00;";

static int near(int a, int b) { return abs(a - b) <= 1; }

static void test_image_formats(void) {
    cnn_error e = {0};
    uint8_t out[3 * 4 * 4];
    /* 16-bit grey 2 x 1: 0x1234 -> 0x12, 0xff00 -> 0xff */
    unsigned char g16[4] = {0x12, 0x34, 0xff, 0x00};
    png_raw(P("g16.png"), 2, 1, 16, 0, g16, NULL, 0);
    CHECK(image_load(P("g16.png"), 1, 1, 2, out, &e) == 0 && near(out[0], 0x12) && near(out[1], 0xff), "%s %d %d", e.msg, out[0], out[1]);
    /* 16-bit RGB 1 x 1 to RGB and to grey */
    unsigned char rgb16[6] = {0xff, 0xff, 0x00, 0x00, 0x80, 0x00};
    png_raw(P("rgb16.png"), 1, 1, 16, 2, rgb16, NULL, 0);
    CHECK(image_load(P("rgb16.png"), 3, 1, 1, out, &e) == 0 && near(out[0], 255) && out[1] == 0 && near(out[2], 128), "%s", e.msg);
    CHECK(image_load(P("rgb16.png"), 1, 1, 1, out, &e) == 0 && near(out[0], (int)lround(0.299 * 255 + 0.114 * 128)), "%s %d", e.msg, out[0]);
    /* palette 2 x 1 */
    unsigned char pal[6] = {10, 20, 30, 200, 100, 0}, idx8[2] = {1, 0};
    png_raw(P("pal.png"), 2, 1, 8, 3, idx8, pal, 2);
    CHECK(image_load(P("pal.png"), 3, 1, 2, out, &e) == 0 && out[0] == 200 && out[1] == 10 && out[2] == 100 && out[3] == 20 &&
          out[4] == 0 && out[5] == 30, "%s", e.msg);
    /* grey + alpha: composited on black */
    unsigned char ga[4] = {200, 128, 90, 255};
    png_raw(P("ga.png"), 2, 1, 8, 4, ga, NULL, 0);
    CHECK(image_load(P("ga.png"), 1, 1, 2, out, &e) == 0 && near(out[0], (int)lround(200 * 128 / 255.0)) && out[1] == 90, "%s", e.msg);
    CHECK(image_load(P("ga.png"), 3, 1, 2, out, &e) == 0 && out[0] == out[2] && out[2] == out[4] && out[1] == 90 && out[5] == 90, "%s", e.msg);
    /* RGBA: alpha 0 is black, luminance weights */
    unsigned char rgba[16] = {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 0};
    png_raw(P("rgba.png"), 4, 1, 8, 6, rgba, NULL, 0);
    CHECK(image_load(P("rgba.png"), 1, 1, 4, out, &e) == 0 && out[0] == 76 && out[1] == 150 && out[2] == 29 && out[3] == 0,
          "%s %d %d %d %d", e.msg, out[0], out[1], out[2], out[3]);
    CHECK(image_load(P("rgba.png"), 3, 1, 4, out, &e) == 0 && out[0] == 255 && out[3] == 0 && out[5] == 255 && out[11] == 0,
          "%s", e.msg);
    /* grey to RGB replicates */
    unsigned char g8[2] = {7, 250};
    png_raw(P("g8.png"), 2, 1, 8, 0, g8, NULL, 0);
    CHECK(image_load(P("g8.png"), 3, 1, 2, out, &e) == 0 && out[0] == 7 && out[2] == 7 && out[4] == 7 && out[5] == 250, "%s", e.msg);
    /* animated GIF: the first frame (white) and not the second (red, local palette) */
    write_file(P("anim.gif"), anim_gif, sizeof anim_gif - 1);
    CHECK(image_load(P("anim.gif"), 3, 1, 1, out, &e) == 0 && out[0] == 255 && out[1] == 255 && out[2] == 255,
          "%s %d %d %d", e.msg, out[0], out[1], out[2]);
    /* cnn_image_save_png round trips, 1 and 3 channels, with resizing on load */
    uint8_t img3[3 * 5 * 7], back[3 * 5 * 7];
    for (int i = 0; i < 3 * 5 * 7; i++) img3[i] = (uint8_t)(i * 11 + 1);
    CHECK(cnn_image_save_png(P("rt3.png"), img3, 3, 5, 7, &e) == 0, "%s", e.msg);
    CHECK(cnn_image_load(P("rt3.png"), 3, 5, 7, back, &e) == 0 && !memcmp(img3, back, sizeof img3), "%s", e.msg);
    CHECK(cnn_image_save_png(P("rt1.png"), img3, 1, 5, 7, &e) == 0, "%s", e.msg);
    CHECK(cnn_image_load(P("rt1.png"), 1, 5, 7, back, &e) == 0 && !memcmp(img3, back, 35), "%s", e.msg);
    struct stat st;
    CHECK(stat(P("rt1.png"), &st) == 0 && (st.st_mode & 0777) == 0644, "saved PNG mode 0644");
    CHECK(cnn_image_save_png(P("no/such/dir.png"), img3, 1, 5, 7, &e) == CNN_ERR_RUNTIME && msg_ok(&e, P("no/such/dir.png"), NULL), "%s", e.msg);
    CHECK(cnn_image_save_png(P("bad.png"), img3, 2, 5, 7, &e) == CNN_ERR_CONFIG && access(P("bad.png"), F_OK) != 0, "2 channels refused, nothing written");
    CHECK(image_load(P("rt3.png"), 4, 5, 7, back, &e) == CNN_ERR_CONFIG, "4 channels refused");
    CHECK(image_load(P("rt3.png"), 3, 0, 7, back, &e) == CNN_ERR_CONFIG, "zero height refused");
}

/* Every truncation and `flips` random damages (1 to 4 bytes changed) of an encoded image: each
 * load is an image or a clean one-line error naming the file, and nothing crashes or
 * trips ASan/UBSan. */
static int fuzz_image(const char *ext, const unsigned char *img, size_t len, int flips) {
    cnn_error e = {0};
    uint8_t out[3 * 5 * 5];
    int ok = 1;
    unsigned char *m = malloc(len);
    rng r = rng_stream(1, 99, (uint64_t)len, 0);
    /* A fresh file each time: rewriting one file in place is slow on some file systems. */
    for (size_t k = 1; k < len + (size_t)flips; k++) {
        size_t n = k < len ? k : len;
        memcpy(m, img, n);
        if (k >= len)
            for (size_t j = 0; j <= k % 4; j++) m[rng_below(&r, (uint32_t)len)] ^= (unsigned char)(1 + rng_below(&r, 255));
        const char *path = P("fuzz%zu.%s", k, ext);
        write_file(path, m, n);
        int rc = image_load(path, k & 1 ? 3 : 1, 5, 5, out, &e);
        if (!(rc == 0 || (rc == CNN_ERR_DATA && msg_ok(&e, path, NULL)))) { fprintf(stderr, "%s: %s\n", path, e.msg); ok = 0; }
        unlink(path);
    }
    free(m);
    return ok;
}

/* A 16 x 16 baseline JPEG (stb_image_write, quality 90) of R = 16x, G = 16y, B = 128. */
static const unsigned char jpeg16[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0xff, 0xdb, 0x00, 0x84, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03, 0x03, 0x03, 0x03, 0x04, 0x03, 0x03, 0x04, 0x05,
    0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07, 0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d,
    0x0e, 0x12, 0x10, 0x0d, 0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x15, 0x15, 0x0c, 0x0f,
    0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0x01, 0x03, 0x04, 0x04, 0x05, 0x04, 0x05, 0x09, 0x05, 0x05, 0x09,
    0x14, 0x0d, 0x0b, 0x0d, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00,
    0x10, 0x00, 0x10, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x01, 0xa2, 0x00, 0x00, 0x01,
    0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00,
    0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
    0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82,
    0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
    0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a,
    0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3,
    0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5,
    0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
    0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x11, 0x00, 0x02, 0x01, 0x02, 0x04,
    0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31,
    0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23,
    0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27,
    0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55,
    0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
    0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2,
    0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4,
    0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6,
    0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00,
    0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xf9, 0x57, 0xc2, 0x7f, 0x0a, 0x7e, 0xe7, 0xee, 0x7f, 0x4a, 0xf6, 0x6f, 0x09,
    0xfc, 0x29, 0xfb, 0x9f, 0xb9, 0xfd, 0x2b, 0xd8, 0xbc, 0x27, 0xf0, 0xa7, 0xee, 0x7e, 0xe7, 0xf4, 0xaf, 0x66, 0xf0, 0x9f,
    0xc2, 0x9f, 0xb9, 0xfb, 0x9f, 0xd2, 0xba, 0xf3, 0x9e, 0x30, 0xdf, 0xde, 0x27, 0xc3, 0x6e, 0x3d, 0xf8, 0x3d, 0xf3, 0xff,
    0xd9,
};

/* A 24-bit BMP, bottom-up rows padded to 4 bytes, of w x h BGR pixels. */
static unsigned char *make_bmp(int w, int h, const unsigned char *rgb, size_t *len) {
    size_t row = ((size_t)w * 3 + 3) & ~(size_t)3;
    *len = 54 + row * h;
    unsigned char *b = calloc(1, *len);
    b[0] = 'B'; b[1] = 'M';
    put_le32(b + 2, (uint32_t)*len);
    put_le32(b + 10, 54);
    put_le32(b + 14, 40);
    put_le32(b + 18, (uint32_t)w);
    put_le32(b + 22, (uint32_t)h);
    b[26] = 1; b[28] = 24;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < 3; ch++) b[54 + (size_t)(h - 1 - y) * row + x * 3 + (2 - ch)] = rgb[(y * w + x) * 3 + ch];
    return b;
}

static void test_image_jpeg_bmp_gif(void) {
    cnn_error e = {0};
    uint8_t out[3 * 16 * 16];
    write_file(P("t.jpg"), jpeg16, sizeof jpeg16);
    CHECK(image_load(P("t.jpg"), 3, 16, 16, out, &e) == 0, "%s", e.msg);
    int ok = 1;
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            ok &= abs(out[y * 16 + x] - x * 16) <= 20 && abs(out[256 + y * 16 + x] - y * 16) <= 20 && abs(out[512 + y * 16 + x] - 128) <= 20;
    CHECK(ok, "JPEG pixels close to the original");
    CHECK(fuzz_image("jpg", jpeg16, sizeof jpeg16, 3000), "a damaged JPEG is an image or a clean error");
    /* what stb_image 2.27 would overrun on: a Huffman table of more than 256 codes (also
     * behind 0xFF fill bytes before SOI), a scan using a table never defined */
    unsigned char bad[1 + sizeof jpeg16];
    bad[0] = 0xff;
    memcpy(bad + 1, jpeg16, sizeof jpeg16);
    unsigned char *dht = NULL, *sos = NULL;
    for (size_t i = 1; i + 1 < sizeof bad; i++) {
        if (!dht && bad[i] == 0xff && bad[i + 1] == 0xc4) dht = bad + i;
        if (!sos && bad[i] == 0xff && bad[i + 1] == 0xda) sos = bad + i;
    }
    CHECK(dht && sos, "fixture has DHT and SOS");
    if (dht && sos) {
        sos[6] = 0x33; /* first component: DC and AC table 3 */
        write_file(P("undef.jpg"), bad + 1, sizeof jpeg16);
        CHECK(image_load(P("undef.jpg"), 3, 16, 16, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("undef.jpg"), "not a supported image"), "%s", e.msg);
        sos[6] = 0x00;
        dht[5] = dht[6] = dht[7] = 0xff;
        write_file(P("dht.jpg"), bad + 1, sizeof jpeg16);
        CHECK(image_load(P("dht.jpg"), 3, 16, 16, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("dht.jpg"), "bad DHT header"), "%s", e.msg);
        write_file(P("dht-fill.jpg"), bad, sizeof bad);
        CHECK(image_load(P("dht-fill.jpg"), 3, 16, 16, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("dht-fill.jpg"), "bad DHT header"), "%s", e.msg);
    }
    unsigned char rgb[5 * 3 * 3];
    for (int i = 0; i < 45; i++) rgb[i] = (unsigned char)(i * 5);
    size_t bl;
    unsigned char *bmp = make_bmp(5, 3, rgb, &bl);
    write_file(P("t.bmp"), bmp, bl);
    CHECK(image_load(P("t.bmp"), 3, 3, 5, out, &e) == 0 && out[0] == rgb[0] && out[1] == rgb[3] && out[15] == rgb[1] &&
          out[30 + 14] == rgb[44], "%s", e.msg);
    CHECK(fuzz_image("bmp", bmp, bl, 1000), "a damaged BMP is an image or a clean error");
    free(bmp);
    CHECK(fuzz_image("gif", anim_gif, sizeof anim_gif - 1, 1000), "a damaged GIF is an image or a clean error");
}

static void test_image_hostile(void) {
    cnn_error e = {0};
    uint8_t out[3 * 8 * 8];
    write_file(P("zero.png"), "", 0);
    CHECK(image_load(P("zero.png"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("zero.png"), "empty"), "%s", e.msg);
    CHECK(image_load(tmp, 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, tmp, "directory"), "%s", e.msg);
    CHECK(image_load(P("absent.png"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("absent.png"), "No such file"), "%s", e.msg);
    write_text(P("text.png"), "this is not a picture\n");
    CHECK(image_load(P("text.png"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("text.png"), "not a supported image (stb_image: "),
          "%s", e.msg);
    write_file(P("fake.jpg"), "\xff\xd8\xff\xe0\x00\x10JFIF\x00garbage", 17);
    CHECK(image_load(P("fake.jpg"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("fake.jpg"), "not a supported image"), "%s", e.msg);
    /* a truncated PNG: every prefix fails cleanly (and nothing crashes under ASan) */
    uint8_t px[3 * 8 * 8];
    for (int i = 0; i < 3 * 64; i++) px[i] = (uint8_t)(i * 37);
    cnn_image_save_png(P("full.png"), px, 3, 8, 8, &e);
    size_t len;
    unsigned char *png = read_whole(P("full.png"), &len);
    write_file(P("trunc.png"), png, len / 2);
    CHECK(image_load(P("trunc.png"), 3, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("trunc.png"), "not a supported image"), "%s", e.msg);
    CHECK(fuzz_image("png", png, len, 1000), "a damaged PNG is an image or a clean error");
    free(png);
    /* a FIFO is refused, not waited on */
    if (mkfifo(P("pipe.png"), 0600) == 0)
        CHECK(image_load(P("pipe.png"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("pipe.png"), "not a regular file"), "%s", e.msg);
    /* oversize claimed dimensions, refused before decoding: a PNG header and a BMP header */
    png_raw(P("huge.png"), 100000, 100000, 8, 0, NULL, NULL, 0);
    CHECK(image_load(P("huge.png"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("huge.png"), "16384"), "%s", e.msg);
    unsigned char bmp[54] = {'B', 'M'};
    put_le32(bmp + 2, 54 + 16);
    put_le32(bmp + 10, 54);
    put_le32(bmp + 14, 40);
    put_le32(bmp + 18, 100000);
    put_le32(bmp + 22, 100000);
    bmp[26] = 1; bmp[28] = 24;
    write_file(P("huge.bmp"), bmp, sizeof bmp);
    CHECK(image_load(P("huge.bmp"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("huge.bmp"), "16384"), "%s", e.msg);
    /* unreadable file (root reads anything, so only checked when the permission bites) */
    write_text(P("locked.png"), "x");
    chmod(P("locked.png"), 0);
    FILE *f = fopen(P("locked.png"), "rb");
    if (f) fclose(f);
    else CHECK(image_load(P("locked.png"), 1, 8, 8, out, &e) == CNN_ERR_DATA && msg_ok(&e, P("locked.png"), "Permission denied"), "%s", e.msg);
    chmod(P("locked.png"), 0600);
}

static void test_image_large(void) {
    enum { S = 2048 };
    uint8_t *big = malloc((size_t)S * S), *back = malloc((size_t)S * S);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) big[(size_t)y * S + x] = (uint8_t)((x / 16 + y / 16) & 1 ? 200 : 40);
    cnn_error e = {0};
    CHECK(cnn_image_save_png(P("big.png"), big, 1, S, S, &e) == 0, "%s", e.msg);
    CHECK(image_load(P("big.png"), 1, S, S, back, &e) == 0 && !memcmp(big, back, (size_t)S * S), "%s", e.msg);
    /* 64x downscale of 16-pixel checks: blocks of 32 x 32 average 120 */
    uint8_t small[32 * 32];
    CHECK(image_load(P("big.png"), 1, 32, 32, small, &e) == 0, "%s", e.msg);
    int ok = 1;
    for (int i = 0; i < 32 * 32; i++) ok &= small[i] == 120;
    CHECK(ok, "small[0] = %d", small[0]);
    free(big);
    free(back);
}

/* ---- resampling ---- */

static void test_resize(void) {
    uint8_t in[2 * 23 * 37], out[2 * 80 * 50];
    memset(in, 173, 23 * 37);
    memset(in + 23 * 37, 9, 23 * 37);
    const int sizes[][2] = {{10, 7}, {80, 50}, {23, 80}, {5, 37}, {1, 1}};
    for (int k = 0; k < 5; k++) {
        int oh = sizes[k][0], ow = sizes[k][1], ok = 1;
        image_resize(in, 2, 23, 37, out, oh, ow);
        for (int i = 0; i < oh * ow; i++) ok &= out[i] == 173 && out[oh * ow + i] == 9;
        CHECK(ok, "constant image changed at %d x %d", oh, ow);
    }
    /* 2x downscale = block averages (rounded half up) */
    uint8_t p[6 * 8], q[3 * 4];
    for (int i = 0; i < 48; i++) p[i] = (uint8_t)((i * 53 + 7) % 256);
    image_resize(p, 1, 6, 8, q, 3, 4);
    int ok = 1;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) {
            int s = p[(2 * y) * 8 + 2 * x] + p[(2 * y) * 8 + 2 * x + 1] + p[(2 * y + 1) * 8 + 2 * x] + p[(2 * y + 1) * 8 + 2 * x + 1];
            ok &= q[y * 4 + x] == (s + 2) / 4;
        }
    CHECK(ok, "2x downscale = block averages");
    /* 3x downscale in one axis only */
    uint8_t r3[2 * 9], o3[2 * 3];
    for (int i = 0; i < 18; i++) r3[i] = (uint8_t)(i * 10);
    image_resize(r3, 1, 2, 9, o3, 2, 3);
    CHECK(o3[0] == 10 && o3[1] == 40 && o3[2] == 70 && o3[3] == 100 && o3[5] == 160, "3x horizontal downscale");
    /* same size: an exact copy */
    image_resize(p, 1, 6, 8, out, 6, 8);
    CHECK(!memcmp(p, out, 48), "same size copies");
    /* bilinear enlargement with pixel centres aligned: 0,100 -> 0,25,75,100 */
    uint8_t two[2] = {0, 100}, four[4];
    image_resize(two, 1, 1, 2, four, 1, 4);
    CHECK(four[0] == 0 && four[1] == 25 && four[2] == 75 && four[3] == 100, "%d %d %d %d", four[0], four[1], four[2], four[3]);
}

/* ---- CSV lists ---- */

static void make_png(const char *path, uint8_t v) {
    uint8_t px[3 * 4 * 4];
    memset(px, v, sizeof px);
    cnn_error e;
    if (cnn_image_save_png(path, px, 3, 4, 4, &e)) { fprintf(stderr, "%s\n", e.msg); exit(2); }
}

static void test_csv(void) {
    mkdir(P("l"), 0755);
    mkdir(P("l/img"), 0755);
    make_png(P("l/img/a.png"), 10);
    make_png(P("l/img/b,c.png"), 20);
    make_png(P("l/img/\"q\".png"), 30);
    make_png(P("l/img/a\n.png"), 40);
    write_text(P("l/list.csv"), "\xef\xbb\xbfpath,label\r\nimg/a.png,1\r\n\r\n\"img/b,c.png\",0\n   \n\"img/\"\"q\"\".png\" , 2 \n");
    dataset d = {0};
    cnn_error e = {0};
    CHECK(data_load_csv(P("l/list.csv"), 1, 2, 2, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 3 && d.c == 1 && d.h == 2 && d.w == 2 && d.nclasses == 3 && d.names == NULL, "csv shape");
    CHECK(d.y && d.y[0] == 1 && d.y[1] == 0 && d.y[2] == 2, "csv integer labels");
    CHECK(d.x && d.x[0] == 10 && d.x[4] == 20 && d.x[11] == 30, "csv pixels");
    dataset_free(&d);
    /* class names: sorted distinct labels; no trailing newline; absolute paths too */
    char text[1024];
    write_text(P("l/names.csv"), "img/a.png,dog\n\"img/b,c.png\",cat\nimg/a.png,dog");
    CHECK(data_load_csv(P("l/names.csv"), 3, 4, 4, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 3 && d.nclasses == 2 && d.names && !strcmp(d.names[0], "cat") && !strcmp(d.names[1], "dog"), "csv class names");
    CHECK(d.y && d.y[0] == 1 && d.y[1] == 0 && d.y[2] == 1, "csv name labels");
    dataset_free(&d);
    snprintf(text, sizeof text, "\"%s\",cat\n", P("l/img/a.png"));
    write_text(P("l/abs.csv"), text);
    CHECK(data_load_csv(P("l/abs.csv"), 3, 4, 4, &d, &e) == 0 && d.n == 1 && d.nclasses == 1, "%s", e.msg);
    dataset_free(&d);
    /* errors, each naming the CSV line */
    write_text(P("l/missing.csv"), "img/a.png,0\nimg/a.png,1\ncat/3.png,1\n");
    CHECK(data_load_csv(P("l/missing.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA &&
          msg_ok(&e, P("l/missing.csv"), "missing.csv:3: cat/3.png: No such file or directory"), "%s", e.msg);
    write_text(P("l/badlabel.csv"), "img/a.png,0\n\nimg/a.png,x\n");
    CHECK(data_load_csv(P("l/badlabel.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA &&
          msg_ok(&e, P("l/badlabel.csv"), "badlabel.csv:3:11: label 'x'"), "%s", e.msg);
    write_text(P("l/range.csv"), "img/a.png,0\nimg/a.png,10000\n");
    CHECK(data_load_csv(P("l/range.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/range.csv"), "range.csv:2:11: label '10000'"),
          "%s", e.msg);
    write_text(P("l/neg.csv"), "img/a.png,-1\n");
    CHECK(data_load_csv(P("l/neg.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/neg.csv"), "label '-1'"), "%s", e.msg);
    write_text(P("l/quote.csv"), "img/a.png,0\n\"img/a.png,0\n");
    CHECK(data_load_csv(P("l/quote.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/quote.csv"), "quote.csv:2:1:"), "%s", e.msg);
    write_text(P("l/fields.csv"), "img/a.png,0,extra\n");
    CHECK(data_load_csv(P("l/fields.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/fields.csv"), "fields.csv:1: 3 fields"), "%s", e.msg);
    write_text(P("l/one.csv"), "img/a.png\n");
    CHECK(data_load_csv(P("l/one.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/one.csv"), "1 field"), "%s", e.msg);
    write_text(P("l/empty.csv"), "path,label\n\n");
    CHECK(data_load_csv(P("l/empty.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/empty.csv"), "no images"), "%s", e.msg);
    write_text(P("l/emptylabel.csv"), "img/a.png,\n");
    CHECK(data_load_csv(P("l/emptylabel.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/emptylabel.csv"), "empty label"), "%s", e.msg);
    /* a quoted line break counts as a line; as a class name it is refused (predict prints one line per image) */
    write_text(P("l/multiline.csv"), "\"img/a\n.png\",two\r\nimg/a.png,cat\nimg/zzz.png,dog\n");
    CHECK(data_load_csv(P("l/multiline.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA &&
          msg_ok(&e, P("l/multiline.csv"), "multiline.csv:4: img/zzz.png: No such file"), "%s", e.msg);
    write_text(P("l/ctrl.csv"), "img/a.png,\"two\nlines\"\r\nimg/a.png,cat\n");
    CHECK(data_load_csv(P("l/ctrl.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA &&
          msg_ok(&e, P("l/ctrl.csv"), "ctrl.csv:1:11: label 'two' is followed by a control character (byte 10)"), "%s", e.msg);
    write_text(P("l/afterquote.csv"), "img/a.png,\"cat\"x\n");
    CHECK(data_load_csv(P("l/afterquote.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA &&
          msg_ok(&e, P("l/afterquote.csv"), "afterquote.csv:1:16: unexpected 'x'"), "%s", e.msg);
    write_text(P("l/notimg.csv"), "list.csv,0\n");
    CHECK(data_load_csv(P("l/notimg.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA &&
          msg_ok(&e, P("l/notimg.csv"), "notimg.csv:1: list.csv: not a supported image"), "%s", e.msg);
    write_file(P("l/nul.csv"), "a.png,0\n\0", 9);
    CHECK(data_load_csv(P("l/nul.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/nul.csv"), "NUL"), "%s", e.msg);
    CHECK(data_load_csv(P("l/none.csv"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("l/none.csv"), "No such file"), "%s", e.msg);
    /* random text over the characters that matter: a dataset or a one-line error, no crash */
    static const char alphabet[] = ",\"\r\n \t01xy/";
    rng r = rng_stream(3, 99, 0, 0);
    int clean = 1;
    for (int k = 0; k < 300; k++) {
        char t[48];
        size_t n = rng_below(&r, sizeof t);
        for (size_t i = 0; i < n; i++) t[i] = alphabet[rng_below(&r, sizeof alphabet - 1)];
        write_file(P("l/r%d.csv", k), t, n);
        int rc = data_load_csv(P("l/r%d.csv", k), 1, 4, 4, &d, &e);
        if (rc == 0) dataset_free(&d);
        else clean &= rc == CNN_ERR_DATA && msg_ok(&e, P("l/r%d.csv", k), NULL);
        unlink(P("l/r%d.csv", k));
    }
    CHECK(clean, "random CSV text never crashes");
    CHECK(d.x == NULL, "failed loads leave d alone");
}

/* ---- image folders ---- */

static void test_folder(void) {
    mkdir(P("f"), 0755);
    mkdir(P("f/dog"), 0755);
    mkdir(P("f/cat"), 0755);
    mkdir(P("f/empty"), 0755);
    mkdir(P("f/.git"), 0755);
    make_png(P("f/cat/2.png"), 2);
    make_png(P("f/cat/1.png"), 1);
    make_png(P("f/dog/1.png"), 3);
    write_text(P("f/cat/.DS_Store"), "junk");
    write_text(P("f/.hidden"), "junk");
    CHECK(path_is_dir(P("f")) && !path_is_dir(P("f/cat/1.png")) && !path_is_dir(P("f/nope")), "path_is_dir");
    dataset d = {0};
    cnn_error e = {0};
    CHECK(data_load_folder(P("f"), 1, 4, 4, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 3 && d.nclasses == 3 && d.names && !strcmp(d.names[0], "cat") && !strcmp(d.names[1], "dog") &&
          !strcmp(d.names[2], "empty"), "folder classes");
    CHECK(d.y && d.y[0] == 0 && d.y[1] == 0 && d.y[2] == 1, "folder labels");
    CHECK(d.x && d.x[0] == 1 && d.x[16] == 2 && d.x[32] == 3, "folder pixels in sorted order");
    dataset_free(&d);
    write_text(P("f/dog/notes.txt"), "not an image");
    CHECK(data_load_folder(P("f"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("f/dog/notes.txt"), "not a supported image"), "%s", e.msg);
    unlink(P("f/dog/notes.txt"));
    write_text(P("f/README"), "stray");
    CHECK(data_load_folder(P("f"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("f/README"), NULL), "%s", e.msg);
    unlink(P("f/README"));
    mkdir(P("g"), 0755);
    CHECK(data_load_folder(P("g"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("g"), "no class"), "%s", e.msg);
    mkdir(P("g/a"), 0755);
    mkdir(P("g/b"), 0755);
    CHECK(data_load_folder(P("g"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("g"), "no image"), "%s", e.msg);
    CHECK(data_load_folder(P("nodir"), 1, 4, 4, &d, &e) == CNN_ERR_DATA && msg_ok(&e, P("nodir"), "No such file"), "%s", e.msg);
    CHECK(d.x == NULL, "failed loads leave d alone");
}

/* ---- batches ---- */

static void test_batch(void) {
    enum { N = 4, C = 2, H = 5, W = 6, IMG = C * H * W };
    uint8_t x[N * IMG];
    int32_t y[N] = {3, 1, 4, 1};
    rng r = rng_stream(7, 99, 1, 1);
    for (int i = 0; i < N * IMG; i++) x[i] = (uint8_t)rng_below(&r, 256);
    dataset d = {N, C, H, W, x, y, 5, NULL};
    const float mean[C] = {0.5f, 0.25f}, std[C] = {0.5f, 2.0f};
    float a[N * IMG], b[N * IMG], c[N * IMG];
    int32_t la[N], lb[N];
    /* without augmentation: exactly (x / 255 - mean) / std */
    const int64_t order[N] = {0, 1, 2, 3}, rev[N] = {3, 1, 0, 2};
    batch_fill(&d, order, N, NULL, 1, 0, mean, std, a, la);
    int ok = 1;
    for (int i = 0; i < N * IMG; i++) {
        int ch = (i / (H * W)) % C;
        ok &= a[i] == ((float)x[i] / 255.0f - mean[ch]) / std[ch];
    }
    CHECK(ok && la[0] == 3 && la[2] == 4, "normalised, labels copied");
    augment none = {0, 0};
    batch_fill(&d, order, N, &none, 99, 5, mean, std, b, lb);
    CHECK(!memcmp(a, b, sizeof a), "aug {0,0} = no aug");
    uint8_t full[IMG];
    memset(full, 255, sizeof full);
    memset(full, 0, H * W);
    dataset one = {1, C, H, W, full, y, 5, NULL};
    const int64_t z[1] = {0};
    batch_fill(&one, z, 1, NULL, 0, 0, mean, std, c, NULL);
    CHECK(c[0] == -1.0f && c[H * W] == 0.375f, "%g %g", c[0], c[H * W]);
    /* augmented: same seed/epoch/index gives the same sample in any order or batch */
    augment aug = {1, 2};
    batch_fill(&d, order, N, &aug, 42, 3, mean, std, a, la);
    batch_fill(&d, rev, N, &aug, 42, 3, mean, std, b, lb);
    ok = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (rev[j] == order[i]) ok &= !memcmp(a + i * IMG, b + j * IMG, sizeof(float) * IMG) && la[i] == lb[j];
    CHECK(ok, "same sample in any order");
    batch_fill(&d, order + 2, 1, &aug, 42, 3, mean, std, c, NULL);
    CHECK(!memcmp(a + 2 * IMG, c, sizeof(float) * IMG), "same sample in any batch");
    /* each sample is one of the (2 * 2 + 1)^2 * 2 crops/flips of the zero-padded original */
    int all_match = 1, differs = 0;
    for (int i = 0; i < N; i++) {
        int found = 0;
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                for (int fl = 0; fl < 2; fl++) {
                    int same = 1;
                    for (int ch = 0; ch < C && same; ch++)
                        for (int yy = 0; yy < H && same; yy++)
                            for (int xx = 0; xx < W && same; xx++) {
                                int sy = yy + dy, sx = (fl ? W - 1 - xx : xx) + dx;
                                uint8_t v = sy >= 0 && sy < H && sx >= 0 && sx < W ? x[i * IMG + ch * H * W + sy * W + sx] : 0;
                                same = a[i * IMG + ch * H * W + yy * W + xx] == ((float)v / 255.0f - mean[ch]) / std[ch];
                            }
                    found |= same;
                }
        all_match &= found;
    }
    CHECK(all_match, "each sample is a crop/flip of its image");
    /* another epoch draws differently (for at least one of many samples) */
    for (int ep = 4; ep < 12 && !differs; ep++) {
        batch_fill(&d, order, N, &aug, 42, (uint64_t)ep, mean, std, b, lb);
        differs = memcmp(a, b, sizeof a) != 0;
    }
    CHECK(differs, "epochs draw differently");
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/cnn_test_data.XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 2; }
    test_idx();
    test_fashion_mnist();
    test_cifar();
    test_image_formats();
    test_image_hostile();
    test_image_jpeg_bmp_gif();
    test_image_large();
    test_resize();
    test_csv();
    test_folder();
    test_batch();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done();
}
