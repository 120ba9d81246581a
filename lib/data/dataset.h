/* dataset.h - labelled images held in memory as planar bytes, and the readers that fill
 * them from IDX files, CIFAR-10 binaries, CSV lists and image folders. Every reader treats
 * its files as hostile: sizes are checked against the file and against CNN_MAX_* limits,
 * and any problem is one message naming the file (status CNN_ERR_DATA). */
#ifndef CNN_DATASET_H
#define CNN_DATASET_H
#include <stdint.h>
#include "../cnn.h"

typedef struct dataset {
    int64_t n;          /* images */
    int c, h, w;        /* shape of each image */
    uint8_t *x;         /* n * c * h * w bytes, image-major, planar (c, then h, then w); owned */
    int32_t *y;         /* n labels in [0, nclasses); owned */
    int nclasses;       /* number of classes the source defines (or max label + 1) */
    char **names;       /* nclasses class names, or NULL when the source has none; owned */
} dataset;

/* Frees what a reader allocated and zeroes *d (NULL and zeroed datasets are fine). */
void dataset_free(dataset *d);

/* IDX image file (magic 0x00000803, n x h x w bytes) and IDX label file (0x00000801),
 * each plain or gzip-compressed (detected from the content, not the name). c = 1. */
int data_load_idx(const char *images, const char *labels, dataset *d, cnn_error *e);
/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes (3 x 32 x 32).
 * Class names are CIFAR-10's ten. */
int data_load_cifar10(const char *const *files, int nfiles, dataset *d, cnn_error *e);
/* A CSV list "path,label" per line (an optional header line "path,label" is skipped;
 * quotes, CRLF and blank lines are handled). Paths resolve against the CSV's directory.
 * Labels are integers (names NULL) or class names (names = sorted distinct labels).
 * Images are decoded and converted to c x h x w. */
int data_load_csv(const char *csv, int c, int h, int w, dataset *d, cnn_error *e);
/* A directory with one sub-directory per class (class names = sorted sub-directory names)
 * holding image files; files that are not images are an error naming them. */
int data_load_folder(const char *dir, int c, int h, int w, dataset *d, cnn_error *e);

/* Returns 1 if path names an existing directory. */
int path_is_dir(const char *path);

/* Decodes an image file and converts it to c channels (1 = luminance, 3 = RGB; alpha is
 * composited on black) of h x w pixels: area averaging when shrinking, bilinear when
 * enlarging. Images wider or taller than CNN_MAX_IMAGE_SIDE are refused before decoding.
 * (This is cnn_image_load of cnn.h.) */
int image_load(const char *path, int c, int h, int w, uint8_t *out, cnn_error *e);
/* Resamples a c x ih x iw planar byte image to c x oh x ow. */
void image_resize(const uint8_t *in, int c, int ih, int iw, uint8_t *out, int oh, int ow);

/* Per-sample augmentation and normalisation while assembling a training batch. */
typedef struct augment {
    int flip;           /* random horizontal flip with probability 1/2 */
    int crop_pad;       /* random crop of the original size from the image zero-padded by this */
} augment;
/* Writes images idx[0..n) of d as floats to out (n x c x h x w) and their labels to labels:
 * optional augmentation (aug may be NULL; each sample's draws come from
 * rng_stream(seed, RNG_AUGMENT, epoch, idx[i]), so batches do not depend on threads), then
 * (x / 255 - mean[ch]) / std[ch]. */
void batch_fill(const dataset *d, const int64_t *idx, int n, const augment *aug, uint64_t seed,
                uint64_t epoch, const float *mean, const float *std, float *out, int32_t *labels);
#endif
