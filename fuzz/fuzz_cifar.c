/* fuzz_cifar.c - libFuzzer harness for the CIFAR-10 reader (data_load_cifar10): the input
 * is one batch file; an odd first byte also passes it twice (two batches).
 *
 *   make fuzz-cifar FUZZ_SECONDS=600      (see mk/robust.mk, docs/robustness.md) */
#include "fuzz_util.h"
#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "data_batch.bin", data, size);
    const char *files[2] = {path, path};
    int nfiles = size && (data[0] & 1) ? 2 : 1;
    dataset d;
    memset(&d, 0, sizeof d);
    cnn_error e = {0};
    int rc = data_load_cifar10(files, nfiles, &d, &e);
    fuzz_check("data_load_cifar10", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_DATA), path);
    if (!rc) {
        if (d.n < 1 || d.c != 3 || d.h != 32 || d.w != 32 || d.nclasses != 10 || !d.names) {
            fprintf(stderr, "fuzz: data_load_cifar10: inconsistent dataset\n");
            abort();
        }
        for (int64_t i = 0; i < d.n; i++)
            if (d.y[i] < 0 || d.y[i] >= 10) { fprintf(stderr, "fuzz: label out of range\n"); abort(); }
    }
    dataset_free(&d);
    return 0;
}
