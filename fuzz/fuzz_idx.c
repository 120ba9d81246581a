/* fuzz_idx.c - libFuzzer harness for the IDX reader (data_load_idx): the input holds both
 * files. Bytes 0-1 (big-endian) give the length k of the image file, which is bytes
 * 2 .. 2+k (clipped to the input); the rest is the label file. Each may be gzip data.
 *
 *   make fuzz-idx FUZZ_SECONDS=600      (see mk/robust.mk, docs/robustness.md) */
#include "fuzz_util.h"
#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t k = (size_t)data[0] << 8 | data[1];
    if (k > size - 2) k = size - 2;
    const char *img = fuzz_write(0, "images.idx", data + 2, k);
    const char *lab = fuzz_write(1, "labels.idx", data + 2 + k, size - 2 - k);
    dataset d;
    memset(&d, 0, sizeof d);
    cnn_error e = {0};
    int rc = data_load_idx(img, lab, &d, &e);
    fuzz_check("data_load_idx", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_DATA), NULL);
    if (rc && !strstr(e.msg, img) && !strstr(e.msg, lab)) {
        fprintf(stderr, "fuzz: data_load_idx: the message names neither file: %s\n", e.msg);
        abort();
    }
    if (!rc) {
        /* What the trainer relies on: a consistent shape and labels below nclasses. */
        if (d.n < 1 || d.c != 1 || d.h < 1 || d.w < 1 || d.h > CNN_MAX_IMAGE_SIDE || d.w > CNN_MAX_IMAGE_SIDE ||
            d.nclasses < 1 || d.nclasses > CNN_MAX_CLASSES || !d.x || !d.y) {
            fprintf(stderr, "fuzz: data_load_idx: inconsistent dataset\n");
            abort();
        }
        volatile unsigned sum = 0;
        for (int64_t i = 0; i < d.n; i++) {
            if (d.y[i] < 0 || d.y[i] >= d.nclasses) { fprintf(stderr, "fuzz: label out of range\n"); abort(); }
            sum += d.x[i * d.h * d.w] + d.x[(i + 1) * d.h * d.w - 1]; /* first and last byte of each image */
        }
        (void)sum;
    }
    dataset_free(&d);
    return 0;
}
