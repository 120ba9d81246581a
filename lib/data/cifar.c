/* cifar.c - CIFAR-10 binary batches: records of one label byte then 3 x 32 x 32 pixel
 * bytes (red plane, green plane, blue plane), which is already our planar layout. */
#include "dataset.h"
#include "../core/err.h"
#include "../core/util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)

static const char *const cifar10_names[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

/* Records in one batch file, which must hold whole records (checked before any allocation). */
static int cifar_size(const char *path, size_t *records, cnn_error *e) {
    struct stat st;
    if (stat(path, &st) != 0) return cnn_fail(e, CNN_ERR_DATA, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return cnn_fail(e, CNN_ERR_DATA, "%s: is a directory, not a CIFAR-10 batch file", path);
    if (!S_ISREG(st.st_mode)) return cnn_fail(e, CNN_ERR_DATA, "%s: not a regular file", path);
    if (st.st_size == 0) return cnn_fail(e, CNN_ERR_DATA, "%s: empty file, not a CIFAR-10 batch", path);
    if (st.st_size % CIFAR_RECORD)
        return cnn_fail(e, CNN_ERR_DATA, "%s: %lld bytes is not a whole number of %d-byte CIFAR-10 records",
                        path, (long long)st.st_size, CIFAR_RECORD);
    *records = (size_t)(st.st_size / CIFAR_RECORD);
    return CNN_OK;
}

static int cifar_read(const char *path, size_t records, uint8_t *x, int32_t *y, cnn_error *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_fail(e, CNN_ERR_DATA, "%s: %s", path, strerror(errno));
    unsigned char rec[CIFAR_RECORD];
    for (size_t r = 0; r < records; r++) {
        if (fread(rec, 1, sizeof rec, f) != sizeof rec) {
            int bad = ferror(f);
            fclose(f);
            if (bad) return cnn_fail(e, CNN_ERR_DATA, "%s: read error", path);
            return cnn_fail(e, CNN_ERR_DATA, "%s: file shrank while being read (record %zu)", path, r + 1);
        }
        if (rec[0] >= 10) {
            fclose(f);
            return cnn_fail(e, CNN_ERR_DATA, "%s: record %zu: label %d is not a CIFAR-10 class (0..9)", path, r + 1, rec[0]);
        }
        y[r] = rec[0];
        memcpy(x + r * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
    }
    fclose(f);
    return CNN_OK;
}

int data_load_cifar10(const char *const *files, int nfiles, dataset *d, cnn_error *e) {
    if (nfiles < 1 || !files) return cnn_fail(e, CNN_ERR_CONFIG, "CIFAR-10: no batch files given");
    for (int i = 0; i < nfiles; i++)
        if (!files[i]) return cnn_fail(e, CNN_ERR_CONFIG, "CIFAR-10: batch file %d is not named", i + 1);
    size_t *recs = malloc((size_t)nfiles * sizeof *recs), total = 0;
    if (!recs) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", files[0]);
    for (int i = 0; i < nfiles; i++) {
        int rc = cifar_size(files[i], &recs[i], e);
        if (rc) { free(recs); return rc; }
        total += recs[i]; /* each is below 2^63 / 3073; a sum overflowing size_t is not a real case */
    }
    size_t xbytes, ybytes;
    if (!size_mul(total, CIFAR_PIXELS, &xbytes) || !size_mul(total, sizeof(int32_t), &ybytes)) {
        free(recs);
        return cnn_fail(e, CNN_ERR_DATA, "%s: too many records", files[0]);
    }
    dataset t = {(int64_t)total, 3, 32, 32, malloc(xbytes), malloc(ybytes), 10, calloc(10, sizeof(char *))};
    int rc = CNN_OK;
    if (!t.x || !t.y || !t.names) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory for %zu CIFAR-10 images", files[0], total);
    for (int i = 0; !rc && i < 10; i++)
        if (!(t.names[i] = str_dup(cifar10_names[i]))) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", files[0]);
    size_t at = 0;
    for (int i = 0; !rc && i < nfiles; i++) {
        rc = cifar_read(files[i], recs[i], t.x + at * CIFAR_PIXELS, t.y + at, e);
        at += recs[i];
    }
    free(recs);
    if (rc) { dataset_free(&t); return rc; }
    *d = t;
    return CNN_OK;
}
