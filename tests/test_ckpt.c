/* test_ckpt.c - checkpoint files: bit-exact round trips, atomic replacement, and refusal of
 * every damaged or hostile file (each truncation, each single-bit flip, foreign files,
 * other versions, crafted payloads with valid checksums) without crashes or leaks. */
#include "check.h"
#include "io/ckpt.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];
static char pathbuf[4][512];

/* A path inside the test directory (four rotating buffers). */
static const char *at(const char *name) {
    static int k;
    char *p = pathbuf[k++ & 3];
    snprintf(p, sizeof pathbuf[0], "%s/%s", dir, name);
    return p;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}
static void spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (n && fwrite(b, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

/* Entries of d whose name contains ".tmp.". */
static int count_tmp(const char *d) {
    DIR *dp = opendir(d);
    int n = 0;
    if (!dp) return -1;
    for (struct dirent *de; (de = readdir(dp));)
        if (strstr(de->d_name, ".tmp.")) n++;
    closedir(dp);
    return n;
}
static void rm_tree(const char *d) {
    DIR *dp = opendir(d);
    if (!dp) return;
    for (struct dirent *de; (de = readdir(dp));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0700);
            rm_tree(p);
        } else unlink(p);
    }
    closedir(dp);
    rmdir(d);
}

static int is_zero(const ckpt *c) {
    ckpt z;
    memset(&z, 0, sizeof z);
    return memcmp(c, &z, sizeof z) == 0;
}

/* A failed read: the expected code, c zeroed, one line starting with the path. */
static int refused(const char *path, ckpt *c, int code, const cnn_error *e, int rc) {
    size_t n = strlen(path);
    return rc == code && e->code == code && is_zero(c) && strncmp(e->msg, path, n) == 0 &&
           e->msg[n] == ':' && !strchr(e->msg, '\n');
}

/* ---- fixtures ---- */

static ckpt_tensor mk_tensor(const char *name, int ndim, const int64_t *dims) {
    ckpt_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.ndim = ndim;
    t.count = 1;
    for (int d = 0; d < ndim; d++) { t.dims[d] = dims[d]; t.count *= dims[d]; }
    t.data = malloc((size_t)t.count * sizeof(float));
    for (int64_t i = 0; i < t.count; i++) {
        uint32_t u = next32(); /* every bit pattern, NaN payloads included */
        memcpy(&t.data[i], &u, 4);
    }
    return t;
}

static char *classes3[] = {"cat", "dog \xc3\xbc", ""};

/* The checkpoint of the round trip: every field set, a 1-element and a 3-element 4-D
 * tensor, optionally a 1M-element one. */
static void mk_ckpt(ckpt *c, int big) {
    memset(c, 0, sizeof *c);
    c->config = "model:\n  - conv: {filters: 8, kernel: 3}\n  - dense: {units: 10}\n";
    c->config_name = "configs/tiny.yaml";
    c->meta = "simd=avx2\nthreads=4\n";
    c->epoch = 3;
    c->step = 123456789012ull;
    c->seed = 0xdeadbeefcafef00dull;
    c->nclasses = 3;
    c->classes = classes3;
    c->ntensors = big ? 5 : 4;
    c->t = calloc((size_t)c->ntensors, sizeof *c->t);
    c->t[0] = mk_tensor("conv1.w", 4, (int64_t[]){1, 3, 1, 1});
    c->t[1] = mk_tensor("conv1.b", 1, (int64_t[]){1});
    c->t[2] = mk_tensor("fc.w", 2, (int64_t[]){7, 13});
    char longest[128];
    memset(longest, 'x', 127);
    longest[127] = 0;
    c->t[3] = mk_tensor(longest, 3, (int64_t[]){2, 1, 2});
    if (big) c->t[4] = mk_tensor("big", 1, (int64_t[]){1000000});
}
static void free_fixture(ckpt *c) {
    for (int i = 0; i < c->ntensors; i++) free(c->t[i].data);
    free(c->t);
    memset(c, 0, sizeof *c);
}

static int same(const ckpt *a, const ckpt *b) {
    if (strcmp(a->config, b->config) || strcmp(a->config_name, b->config_name) || strcmp(a->meta, b->meta) ||
        a->epoch != b->epoch || a->step != b->step || a->seed != b->seed || a->nclasses != b->nclasses ||
        a->ntensors != b->ntensors)
        return 0;
    for (int i = 0; i < a->nclasses; i++)
        if (strcmp(a->classes[i], b->classes[i])) return 0;
    for (int i = 0; i < a->ntensors; i++) {
        const ckpt_tensor *x = &a->t[i], *y = &b->t[i];
        if (strcmp(x->name, y->name) || x->ndim != y->ndim || x->count != y->count) return 0;
        for (int d = 0; d < x->ndim; d++)
            if (x->dims[d] != y->dims[d]) return 0;
        if (memcmp(x->data, y->data, (size_t)x->count * 4)) return 0; /* bit-exact */
    }
    return 1;
}

/* ---- tests ---- */

static void test_round_trip(void) {
    ckpt w, r;
    cnn_error e = {0};
    mk_ckpt(&w, 1);
    const char *p = at("rt.cnn");
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    memset(&r, 0xab, sizeof r); /* ckpt_read must not read what is in r */
    CHECK(ckpt_read(p, &r, &e) == 0, "%s", e.msg);
    CHECK(same(&w, &r), "%s", e.msg);
    CHECK(ckpt_find(&r, "fc.w") == &r.t[2], "%s", e.msg);
    CHECK(ckpt_find(&r, "big") && ckpt_find(&r, "big")->count == 1000000, "%s", e.msg);
    CHECK(ckpt_find(&r, "nope") == NULL, "%s", e.msg);
    CHECK(ckpt_find(NULL, "big") == NULL, "%s", e.msg);
    CHECK(count_tmp(dir) == 0, "%s", e.msg);
    size_t n;
    unsigned char *b = slurp(p, &n);
    CHECK(b && n > 40 && memcmp(b, "CNNCKPT\x1a", 8) == 0, "%s", e.msg);
    CHECK(n < 4000000 + 4096, "1M random-bit floats should not grow: %zu bytes", n);
    free(b);
    ckpt_free(&r);
    CHECK(is_zero(&r), "%s", e.msg);
    ckpt_free(&r); /* twice, and NULL, are harmless */
    ckpt_free(NULL);
    free_fixture(&w);

    /* An empty checkpoint: NULL strings come back as "". */
    memset(&w, 0, sizeof w);
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    CHECK(ckpt_read(p, &r, &e) == 0, "%s", e.msg);
    CHECK(r.config && !r.config[0] && r.meta && !r.meta[0] && r.nclasses == 0 && r.ntensors == 0, "%s", e.msg);
    ckpt_free(&r);
}

/* Mid-size tensors (32 KiB to 64 KiB of floats) after small fields: a regression test for
 * staged header bytes being written after the tensor that followed them. */
static void test_mid_sizes(void) {
    ckpt w, r;
    cnn_error e = {0};
    memset(&w, 0, sizeof w);
    w.config = w.config_name = w.meta = "";
    int64_t sizes[] = {3, 8200, 5, 16000, 1, 12000, 48000, 2};
    w.ntensors = 8;
    w.t = calloc(8, sizeof *w.t);
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        w.t[i] = mk_tensor(name, 1, &sizes[i]);
    }
    const char *p = at("mid.cnn");
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    CHECK(ckpt_read(p, &r, &e) == 0, "%s", e.msg);
    CHECK(r.ntensors == 8 && same(&w, &r), "mid-size tensors must round-trip");
    ckpt_free(&r);
    free_fixture(&w);
}

/* Every prefix of a small checkpoint, and a sample for a big one, is refused. */
static void test_truncation(void) {
    ckpt w, r;
    cnn_error e = {0};
    const char *src = at("trunc_src.cnn"), *dst = at("trunc.cnn");
    for (int big = 0; big <= 1; big++) {
        mk_ckpt(&w, big);
        CHECK(ckpt_write(src, &w, &e) == 0, "%s", e.msg);
        free_fixture(&w);
        size_t n;
        unsigned char *b = slurp(src, &n);
        int bad = 0;
        for (size_t len = 0; len < n; len++) {
            if (big && len > 64 && len < n - 64 && next32() % 100000) continue;
            spit(dst, b, len);
            int rc = ckpt_read(dst, &r, &e);
            if (!refused(dst, &r, CNN_ERR_DATA, &e, rc)) {
                if (bad++ < 5) fprintf(stderr, "length %zu of %zu: rc %d: %s\n", len, n, rc, e.msg);
                ckpt_free(&r);
            }
        }
        CHECK(bad == 0, "%d truncated files were not refused", bad);
        /* The message says what happened. */
        spit(dst, b, n - 1);
        ckpt_read(dst, &r, &e);
        CHECK(strstr(e.msg, "truncated"), "%s", e.msg);
        spit(dst, b, 3);
        ckpt_read(dst, &r, &e);
        CHECK(strstr(e.msg, "truncated"), "%s", e.msg);
        free(b);
    }
}

/* Every single-bit flip of a small checkpoint is refused. */
static void test_bit_flips(void) {
    ckpt w, r;
    cnn_error e = {0};
    const char *src = at("flip_src.cnn"), *dst = at("flip.cnn");
    mk_ckpt(&w, 0);
    CHECK(ckpt_write(src, &w, &e) == 0, "%s", e.msg);
    free_fixture(&w);
    size_t n;
    unsigned char *b = slurp(src, &n);
    int bad = 0, checksum = 0;
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            spit(dst, b, n);
            int rc = ckpt_read(dst, &r, &e);
            if (!refused(dst, &r, CNN_ERR_DATA, &e, rc)) {
                if (bad++ < 5) fprintf(stderr, "byte %zu bit %d: rc %d: %s\n", i, bit, rc, e.msg);
                ckpt_free(&r);
            }
            if (i >= 40 && strstr(e.msg, "checksum mismatch: the file is corrupt")) checksum++;
            b[i] ^= (unsigned char)(1u << bit);
        }
    CHECK(bad == 0, "%d of %zu flipped files were not refused", bad, 8 * n);
    CHECK(checksum == (int)(8 * (n - 40)), "body flips reported as checksum mismatches: %d of %d", checksum,
          (int)(8 * (n - 40)));
    /* Trailing bytes. */
    unsigned char *b2 = malloc(n + 1);
    memcpy(b2, b, n);
    b2[n] = 0;
    spit(dst, b2, n + 1);
    CHECK(refused(dst, &r, CNN_ERR_DATA, &e, ckpt_read(dst, &r, &e)) && strstr(e.msg, "trailing"), "%s", e.msg);
    free(b2);
    free(b);
}

static void test_foreign(void) {
    ckpt r;
    cnn_error e = {0};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                        0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde,
                                        0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    const char *p = at("x.cnn");
    spit(p, png, sizeof png);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "not a cnn checkpoint"), "%s", e.msg);
    spit(p, "model:\n  - conv: {}\nthis is a text file, long enough to fill a header\n", 70);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "not a cnn checkpoint"), "%s", e.msg);
    spit(p, "", 0);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "not a cnn checkpoint"), "%s", e.msg);

    p = at("missing.cnn");
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, strerror(ENOENT)), "%s", e.msg);
    CHECK(refused(dir, &r, CNN_ERR_DATA, &e, ckpt_read(dir, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "directory"), "%s", e.msg);
}

static void put32le(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i);
}
static void put64le(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i);
}
static void fix_header_crc(unsigned char *b) {
    put32le(b + 36, (uint32_t)crc32(0, b, 36));
}

static void test_versions(void) {
    ckpt w, r;
    cnn_error e = {0};
    const char *p = at("v.cnn");
    memset(&w, 0, sizeof w);
    w.config = "x";
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    size_t n;
    unsigned char *b = slurp(p, &n);
    put32le(b + 8, 7);
    fix_header_crc(b);
    spit(p, b, n);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "checkpoint format version 7 is newer than this cnn reads (1)"), "%s", e.msg);
    put32le(b + 8, 0);
    fix_header_crc(b);
    spit(p, b, n);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "version 0 is older"), "%s", e.msg);
    put32le(b + 8, 1);
    put32le(b + 12, 0x04030201u); /* a big-endian writer's probe */
    fix_header_crc(b);
    spit(p, b, n);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "byte order"), "%s", e.msg);
    put32le(b + 12, 0x01020304u);
    b[20] ^= 1; /* payload size, header CRC left stale */
    spit(p, b, n);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, ckpt_read(p, &r, &e)), "%s", e.msg);
    CHECK(strstr(e.msg, "header checksum"), "%s", e.msg);
    free(b);
}

/* ---- crafted payloads: valid CRCs around hostile contents ---- */

typedef struct buf {
    unsigned char b[4096];
    size_t n;
} buf;
static void b32(buf *x, uint32_t v) { put32le(x->b + x->n, v); x->n += 4; }
static void b64(buf *x, uint64_t v) { put64le(x->b + x->n, v); x->n += 8; }
static void bstr(buf *x, const char *s, uint32_t len) {
    b32(x, len);
    memcpy(x->b + x->n, s, len);
    x->n += len;
}
/* Header fields up to the class count. */
static void bhead(buf *x) {
    x->n = 0;
    bstr(x, "cfg", 3);
    bstr(x, "name", 4);
    bstr(x, "", 0);
    b64(x, 1);
    b64(x, 2);
    b64(x, 3);
}

/* Writes a file around the payload, claiming `claim` payload bytes, and reads it. */
static int craft(const char *p, const buf *x, uint64_t claim, ckpt *r, cnn_error *e) {
    uLongf cap = compressBound(x->n);
    unsigned char *f = malloc(40 + cap);
    if (compress(f + 40, &cap, x->b, x->n) != Z_OK) exit(1);
    memcpy(f, "CNNCKPT\x1a", 8);
    put32le(f + 8, 1);
    put32le(f + 12, 0x01020304u);
    put64le(f + 16, claim);
    put64le(f + 24, cap);
    put32le(f + 32, (uint32_t)crc32(0, f + 40, (uInt)cap));
    fix_header_crc(f);
    spit(p, f, 40 + cap);
    free(f);
    return ckpt_read(p, r, e);
}

static void test_crafted(void) {
    ckpt r;
    cnn_error e = {0};
    buf x;
    const char *p = at("crafted.cnn");
    float one = 1.0f;
    uint32_t one_bits;
    memcpy(&one_bits, &one, 4);

    /* Sanity: a well-formed hand-made file is accepted. */
    bhead(&x);
    b32(&x, 1);
    bstr(&x, "c0", 2);
    b32(&x, 1);
    bstr(&x, "w", 1);
    b32(&x, 1);
    b64(&x, 1);
    b32(&x, one_bits);
    CHECK(craft(p, &x, x.n, &r, &e) == 0, "%s", e.msg);
    CHECK(r.ntensors == 1 && r.t[0].count == 1 && r.t[0].data[0] == 1.0f && !strcmp(r.classes[0], "c0"), "%s", e.msg);
    ckpt_free(&r);
    size_t good = x.n;

    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, good + 1, &r, &e)), "claims one byte more: %s", e.msg);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, good - 1, &r, &e)), "claims one byte less: %s", e.msg);
    x.n = good;
    b32(&x, 0);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, x.n, &r, &e)), "unparsed tail: %s", e.msg);

    /* A string longer than the payload. */
    x.n = 0;
    b32(&x, 0xfffffff0u);
    for (int i = 0; i < 40; i++) b32(&x, 0);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, x.n, &r, &e)), "%s", e.msg);

    /* Counts far above the limits or the payload. */
    uint32_t counts[] = {0xffffffffu, 10001, 5000};
    for (int k = 0; k < 3; k++) {
        bhead(&x);
        b32(&x, counts[k]);
        for (int i = 0; i < 10; i++) b32(&x, 0);
        CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, x.n, &r, &e)), "classes %u: %s", counts[k], e.msg);
        bhead(&x);
        b32(&x, 0);
        b32(&x, counts[k] == 10001 ? 100001 : counts[k]);
        for (int i = 0; i < 10; i++) b32(&x, 0);
        CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, x.n, &r, &e)), "tensors %u: %s", counts[k], e.msg);
    }

    /* A class name with a NUL inside. */
    bhead(&x);
    b32(&x, 1);
    bstr(&x, "a\0b", 3);
    b32(&x, 0);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, x.n, &r, &e)), "%s", e.msg);

    /* Tensor headers: name too long, ndim 0 and 5, dim 0, dims whose product overflows,
     * a count beyond the payload. */
    char name[200];
    memset(name, 'n', sizeof name);
    for (int k = 0; k < 6; k++) {
        bhead(&x);
        b32(&x, 0);
        b32(&x, 1);
        bstr(&x, name, k == 0 ? 128 : 1);
        uint32_t ndim = k == 1 ? 0 : k == 2 ? 5 : k == 4 ? 2 : 1;
        b32(&x, ndim);
        for (uint32_t d = 0; d < ndim; d++)
            b64(&x, k == 3 ? 0 : k == 4 ? (uint64_t)1 << 32 : k == 5 ? 1000 : 1);
        /* Case 4: 2^32 x 2^32 wraps to 0 elements, so the payload ends right here and
         * only the dimension bound can refuse it. */
        for (int i = 0; i < 20 && k != 4; i++) b32(&x, one_bits);
        CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, x.n, &r, &e)), "tensor case %d: %s", k, e.msg);
    }

    /* A payload the compressed size cannot explain (beyond deflate's 1032:1). */
    bhead(&x);
    b32(&x, 0);
    b32(&x, 0);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, (uint64_t)1 << 31, &r, &e)), "%s", e.msg);
    CHECK(refused(p, &r, CNN_ERR_DATA, &e, craft(p, &x, (uint64_t)5 << 30, &r, &e)), "%s", e.msg);
}

/* ---- writing ---- */

static void test_write_failures(void) {
    ckpt w, r;
    cnn_error e = {0};
    mk_ckpt(&w, 0);

    /* A directory that does not exist. */
    const char *p = at("no/such/dir/x.cnn");
    CHECK(ckpt_write(p, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    CHECK(!strncmp(e.msg, p, strlen(p)) && strstr(e.msg, strerror(ENOENT)), "%s", e.msg);

    /* The path is a directory: the rename fails after the whole file was written. */
    const char *sub = at("sub");
    mkdir(sub, 0755);
    CHECK(ckpt_write(sub, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    CHECK(!strncmp(e.msg, sub, strlen(sub)), "%s", e.msg);
    struct stat st;
    CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode), "%s", e.msg);
    CHECK(count_tmp(dir) == 0, "%s", e.msg);

    /* A read-only directory (permissions do not bind root). */
    if (geteuid() != 0) {
        const char *ro = at("ro");
        mkdir(ro, 0755);
        char rp[600];
        snprintf(rp, sizeof rp, "%s/x.cnn", ro);
        chmod(ro, 0555);
        CHECK(ckpt_write(rp, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
        CHECK(!strncmp(e.msg, rp, strlen(rp)) && strstr(e.msg, strerror(EACCES)), "%s", e.msg);
        CHECK(count_tmp(ro) == 0, "%s", e.msg);
        chmod(ro, 0755);
    } else {
        printf("running as root: read-only directory case skipped\n");
    }

    /* A write error mid-file (the file size limit stands in for a full disk): the old
     * checkpoint stays, no temporary is left. */
    p = at("full.cnn");
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    ckpt big;
    mk_ckpt(&big, 1);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 100000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "%s", e.msg);
    CHECK(ckpt_write(p, &big, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    CHECK(!strncmp(e.msg, p, strlen(p)) && strstr(e.msg, strerror(EFBIG)), "%s", e.msg);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(count_tmp(dir) == 0, "%s", e.msg);
    CHECK(ckpt_read(p, &r, &e) == 0, "%s", e.msg);
    CHECK(same(&w, &r), "%s", e.msg);
    ckpt_free(&r);
    free_fixture(&big);

    /* What the reader would refuse is refused before any file is made. */
    p = at("invalid.cnn");
    w.t[1].ndim = 5;
    CHECK(ckpt_write(p, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    w.t[1].ndim = 1;
    w.t[2].count = 90;
    CHECK(ckpt_write(p, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    w.t[2].count = 91;
    memset(w.t[3].name, 'x', sizeof w.t[3].name); /* no NUL within 128 bytes */
    CHECK(ckpt_write(p, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    w.t[3].name[127] = 0;
    w.nclasses = CNN_MAX_CLASSES + 1;
    CHECK(ckpt_write(p, &w, &e) == CNN_ERR_RUNTIME, "%s", e.msg);
    w.nclasses = 3;
    CHECK(access(p, F_OK) != 0 && count_tmp(dir) == 0, "%s", e.msg);
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    free_fixture(&w);
}

static void test_overwrite(void) {
    ckpt a, b, r;
    cnn_error e = {0};
    const char *p = at("over.cnn");
    mk_ckpt(&a, 0);
    mk_ckpt(&b, 0); /* same shapes, other random values */
    b.epoch = 4;
    b.meta = "replaced=1\n";
    CHECK(ckpt_write(p, &a, &e) == 0, "%s", e.msg);
    CHECK(ckpt_write(p, &b, &e) == 0, "%s", e.msg);
    CHECK(ckpt_read(p, &r, &e) == 0, "%s", e.msg);
    CHECK(same(&b, &r) && !same(&a, &r), "%s", e.msg);
    ckpt_free(&r);
    CHECK(count_tmp(dir) == 0, "%s", e.msg);

    /* A stale temporary under our name, even a symlink, is replaced, never written through. */
    const char *victim = at("victim");
    spit(victim, "keep", 4);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    CHECK(symlink(victim, tmp) == 0, "%s", e.msg);
    CHECK(ckpt_write(p, &a, &e) == 0, "%s", e.msg);
    size_t n;
    unsigned char *v = slurp(victim, &n);
    CHECK(v && n == 4 && !memcmp(v, "keep", 4), "%s", e.msg);
    free(v);
    CHECK(ckpt_read(p, &r, &e) == 0 && same(&a, &r), "%s", e.msg);
    ckpt_free(&r);
    CHECK(count_tmp(dir) == 0, "%s", e.msg);
    free_fixture(&a);
    free_fixture(&b);
}

/* A small file naming a big network (16384 x 16383 dense: 1 GiB of weights, just under
 * CNN_MAX_PARAMS) and holding none of its tensors: refused before anything is allocated for
 * the network (robustness finding 5: this once took 2.1 GB and 23 s). The peak RSS of the
 * whole test may grow by far less than the network's size. */
static void test_big_network_no_tensors(void) {
    ckpt w;
    memset(&w, 0, sizeof w);
    w.config = "input: {channels: 1, height: 16384, width: 1}\n"
               "layers: [{type: dense, units: 16381}, {type: dense, units: 1}]\n";
    w.config_name = "big.yaml";
    w.meta = "";
    const char *p = at("big-empty.cnn");
    cnn_error e;
    CHECK(ckpt_write(p, &w, &e) == 0, "%s", e.msg);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    cnn_model *m = NULL;
    int rc = cnn_model_load(p, &m, &e);
    getrusage(RUSAGE_SELF, &after);
    CHECK(rc == CNN_ERR_DATA && strstr(e.msg, "has no tensor 'dense1.weight'"), "rc %d: %s", rc, e.msg);
    CHECK(after.ru_maxrss - before.ru_maxrss < 128 * 1024, "peak RSS grew by %ld KiB", after.ru_maxrss - before.ru_maxrss);
    cnn_model_free(m);
    /* the same network's config passes its check without allocating it either */
    cnn_config *cfg = NULL;
    CHECK(cnn_config_parse(w.config, strlen(w.config), "big.yaml", NULL, 0, &cfg, &e) == 0, "%s", e.msg);
    getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 128 * 1024, "peak RSS grew by %ld KiB", after.ru_maxrss - before.ru_maxrss);
    cnn_config_free(cfg);
    /* 16384 units: past CNN_MAX_PARAMS, refused with the layer's line */
    const char *over = "input: {channels: 1, height: 16384, width: 1}\n"
                       "layers: [{type: dense, units: 16384}, {type: dense, units: 1}]\n";
    CHECK(cnn_config_parse(over, strlen(over), "over.yaml", NULL, 0, &cfg, &e) == CNN_ERR_CONFIG &&
          strstr(e.msg, "over.yaml:2:") && strstr(e.msg, "CNN_MAX_PARAMS"), "%s", e.msg);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_ckpt_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_round_trip();
    test_mid_sizes();
    test_truncation();
    test_bit_flips();
    test_foreign();
    test_versions();
    test_crafted();
    test_write_failures();
    test_overwrite();
    test_big_network_no_tensors();
    rm_tree(dir);
    return check_done();
}
