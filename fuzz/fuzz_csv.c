/* fuzz_csv.c - libFuzzer harness for the CSV list reader (data_load_csv). Byte 0 picks the
 * channels (odd: 3, even: 1), bytes 1 and 2 the image height and width (1..32); the rest
 * is the CSV file. Beside it lie images the list can name: g.png (2x2 grey), c.png (3x2
 * RGB), a.gif (1x1), b.bmp (2x2), sub/d.png, an empty file e.png and a directory x.png.
 *
 *   make fuzz-csv FUZZ_SECONDS=600      (see mk/robust.mk, docs/robustness.md) */
#include "fuzz_util.h"
#include "data/dataset.h"
#include <sys/stat.h>

static const unsigned char fuzz_csv_gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff,
    0xff, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
static const unsigned char fuzz_csv_bmp[70] = {
    'B', 'M', 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 24, 0,
    0, 0, 0, 0, 16, 0, 0, 0, 0x13, 0x0b, 0, 0, 0x13, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x00, 0x00, 0xff, 0x00, 0xff, 0x00, 0, 0, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0, 0};

static void fuzz_csv_setup(void) {
    static int done;
    if (done) return;
    done = 1;
    char p[1024], sub[1024];
    cnn_error e = {0};
    const uint8_t grey[4] = {0, 85, 170, 255}, rgb[18] = {255, 0, 0, 9, 9, 9, 0, 255, 0, 9, 9, 9, 0, 0, 255, 9, 9, 9};
    snprintf(sub, sizeof sub, "%s/sub", fuzz_dir());
    snprintf(p, sizeof p, "%s/x.png", fuzz_dir());
    if (mkdir(sub, 0755) != 0 || mkdir(p, 0755) != 0) abort();
    snprintf(p, sizeof p, "%s/g.png", fuzz_dir());
    if (cnn_image_save_png(p, grey, 1, 2, 2, &e)) abort();
    snprintf(p, sizeof p, "%s/c.png", fuzz_dir());
    if (cnn_image_save_png(p, rgb, 3, 2, 3, &e)) abort();
    snprintf(p, sizeof p, "%s/sub/d.png", fuzz_dir());
    if (cnn_image_save_png(p, grey, 1, 1, 4, &e)) abort();
    fuzz_write(2, "a.gif", fuzz_csv_gif, sizeof fuzz_csv_gif);
    fuzz_write(2, "b.bmp", fuzz_csv_bmp, sizeof fuzz_csv_bmp);
    fuzz_write(2, "e.png", "", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    fuzz_csv_setup();
    int c = data[0] & 1 ? 3 : 1, h = 1 + data[1] % 32, w = 1 + data[2] % 32;
    const char *path = fuzz_write(0, "list.csv", data + 3, size - 3);
    dataset d;
    memset(&d, 0, sizeof d);
    cnn_error e = {0};
    int rc = data_load_csv(path, c, h, w, &d, &e);
    fuzz_check("data_load_csv", rc, &e, FUZZ_CODE(CNN_ERR_RUNTIME) | FUZZ_CODE(CNN_ERR_DATA), path);
    if (!rc) {
        if (d.n < 1 || d.c != c || d.h != h || d.w != w || d.nclasses < 1 || d.nclasses > CNN_MAX_CLASSES || !d.x ||
            !d.y) {
            fprintf(stderr, "fuzz: data_load_csv: inconsistent dataset\n");
            abort();
        }
        for (int64_t i = 0; i < d.n; i++)
            if (d.y[i] < 0 || d.y[i] >= d.nclasses) { fprintf(stderr, "fuzz: label out of range\n"); abort(); }
        for (int i = 0; d.names && i < d.nclasses; i++)
            if (!d.names[i] || (i && strcmp(d.names[i - 1], d.names[i]) >= 0)) {
                fprintf(stderr, "fuzz: class names not sorted and distinct\n");
                abort();
            }
    }
    dataset_free(&d);
    return 0;
}
