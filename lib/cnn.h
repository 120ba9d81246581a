/* cnn.h - the public API of the cnn engine: configs, models, checkpoints, training,
 * evaluation and prediction. Everything the `cnn` command does goes through here.
 *
 * Conventions: every fallible call returns a status (CNN_OK or one of the codes below,
 * which double as the command's exit codes) and fills a caller-owned cnn_error with one
 * line "file[:line[:col]]: what is wrong". The library never prints and never exits.
 * Handles are opaque; each *_create/_load has a matching *_free that accepts NULL. */
#ifndef CNN_H
#define CNN_H

#include <stddef.h>
#include <stdint.h>

#define CNN_VERSION "0.1.0"

enum cnn_status {
    CNN_OK = 0,
    CNN_ERR_RUNTIME = 1,     /* out of memory, cannot write a file, internal failure */
    CNN_ERR_CONFIG = 2,      /* bad usage, config or argument */
    CNN_ERR_DATA = 3,        /* missing, unreadable or corrupt input file */
    CNN_ERR_DIVERGED = 4,    /* NaN/Inf in the loss or a gradient */
    CNN_ERR_INTERRUPTED = 130 /* stopped on request after saving a resumable checkpoint */
};

/* Limits on what the library accepts from files; each is documented in docs/robustness.md. */
#define CNN_MAX_CONFIG_BYTES (1u << 20)      /* a YAML model file */
#define CNN_MAX_YAML_DEPTH 32                /* nesting of YAML mappings and sequences */
#define CNN_MAX_YAML_NODES 100000            /* scalars, mappings and sequences in one file */
#define CNN_MAX_LAYERS 1024
#define CNN_MAX_TENSOR ((int64_t)1 << 28)    /* elements in one weight or per-sample activation */
#define CNN_MAX_PARAMS ((int64_t)1 << 28)    /* trained values in a network (1 GiB as float) */
#define CNN_MAX_IMAGE_SIDE 16384             /* pixels, width or height of a decoded image */
#define CNN_MAX_IMAGE_PIXELS ((int64_t)1 << 26) /* width x height of a decoded image (8192 x 8192) */
#define CNN_MAX_CLASSES 10000
#define CNN_MAX_BATCH 65536

typedef struct cnn_error {
    int code;
    char msg[1024];
} cnn_error;

typedef struct cnn_config cnn_config; /* a parsed, validated YAML model file */
typedef struct cnn_model cnn_model;   /* a network built from a config, with its weights */

/* ---- configs ---- */

/* Reads and validates a YAML model file. `sets` holds nsets overrides "a.b.c=value"
 * (the --set flag), applied before validation. On success *out is owned by the caller. */
int cnn_config_load(const char *path, const char *const *sets, int nsets,
                    cnn_config **out, cnn_error *err);
/* The same from text in memory; `name` is used in messages in place of a file name. */
int cnn_config_parse(const char *text, size_t len, const char *name,
                     const char *const *sets, int nsets, cnn_config **out, cnn_error *err);
void cnn_config_free(cnn_config *cfg);
/* The run directory the config writes to (borrowed, lives as long as cfg). */
const char *cnn_config_output(const cnn_config *cfg);

/* One documented key of the config schema; i runs from 0 until the call returns 0. */
typedef struct cnn_key_doc {
    const char *section; /* "train.optimizer", or "layer conv" */
    const char *key, *type, *def, *doc;
} cnn_key_doc;
int cnn_config_key_doc(int i, cnn_key_doc *out);

/* ---- models ---- */

/* Builds the network a config describes and initialises its weights from the config's
 * seed. Shape errors are reported here with the layer's file:line:col. */
int cnn_model_create(const cnn_config *cfg, cnn_model **out, cnn_error *err);
/* Loads a checkpoint written by cnn_train or cnn_model_save (weights, config, classes). */
int cnn_model_load(const char *path, cnn_model **out, cnn_error *err);
int cnn_model_save(const cnn_model *m, const char *path, cnn_error *err);
void cnn_model_free(cnn_model *m);
/* Threads used by predict/eval (0 = one per core). */
int cnn_model_set_threads(cnn_model *m, int threads, cnn_error *err);
int cnn_model_threads(const cnn_model *m);
const cnn_config *cnn_model_config(const cnn_model *m);

typedef struct cnn_layer_info {
    const char *name, *type;
    int c, h, w;            /* output shape per image */
    int64_t params;         /* trainable parameters */
    int64_t macs;           /* multiply-adds per image, forward */
    int64_t act_bytes;      /* bytes of the output per image */
    int line;
} cnn_layer_info;
int cnn_model_layer_count(const cnn_model *m);
void cnn_model_layer_info(const cnn_model *m, int i, cnn_layer_info *out);
void cnn_model_input_shape(const cnn_model *m, int *c, int *h, int *w);
int cnn_model_class_count(const cnn_model *m);
const char *cnn_model_class_name(const cnn_model *m, int i); /* borrowed */

/* ---- images and inference ---- */

/* Decodes an image file (PNG, JPEG, BMP, GIF, ...) and converts it to c channels of
 * h x w pixels (area/bilinear resampling), written to out[c*h*w] as 0..255 bytes. */
int cnn_image_load(const char *path, int c, int h, int w, uint8_t *out, cnn_error *err);
/* Writes a c x h x w byte image (c = 1 or 3, planar) as a PNG file. */
int cnn_image_save_png(const char *path, const uint8_t *px, int c, int h, int w, cnn_error *err);

/* Class probabilities for n images given as planar bytes (the model's input shape).
 * probs receives n * cnn_model_class_count() floats. */
int cnn_model_predict(cnn_model *m, const uint8_t *px, int n, float *probs, cnn_error *err);

/* Writes the first n images of the config's test set (or training set when train != 0) as
 * PNG files DIR/NNNNN-CLASS.png (class names made file-safe), creating dir. Returns the
 * number written in *written. */
int cnn_export_images(const cnn_config *cfg, int train, int n, const char *dir, int *written, cnn_error *err);

/* ---- looking inside ---- */

/* The weights of a conv or dense layer (layer NULL: the first conv) as a borrowed pointer
 * valid while m lives, with dims (OC, C, KH, KW) or (units, inputs, 1, 1). */
int cnn_model_weights(const cnn_model *m, const char *layer, const float **w, int dims[4], const char **name,
                      cnn_error *err);
/* Runs one image (the model's input shape, planar bytes) through the network in inference
 * mode and returns the output of `layer` (NULL: the first conv) as *out, c*h*w floats the
 * caller frees. Layers are run unfused, so every layer's own output is what is shown. */
int cnn_model_feature_maps(cnn_model *m, const uint8_t *px, const char *layer, float **out, int *c, int *h, int *w,
                           const char **name, cnn_error *err);

/* ---- training and evaluation ---- */

enum { CNN_PROGRESS_STEP, CNN_PROGRESS_EPOCH, CNN_PROGRESS_LOG };
typedef struct cnn_progress {
    int kind;
    int epoch, epochs;          /* epoch is 1-based */
    int64_t step, steps_per_epoch, step_in_epoch;
    double lr, train_loss, train_acc, val_loss, val_acc, img_per_s, seconds;
    int has_val;
    const char *message;        /* CNN_PROGRESS_LOG: one line for the user */
} cnn_progress;

typedef struct cnn_train_opts {
    const char *resume;                 /* checkpoint to continue from, or NULL */
    volatile int *stop;                 /* set non-zero (e.g. by a signal) to save and stop */
    void (*progress)(void *user, const cnn_progress *p);
    void *user;
    char model_path[4096];              /* out: the checkpoint written */
} cnn_train_opts;

/* Trains as the config says, writing the run directory (model.cnn, metrics.csv).
 * Returns CNN_ERR_INTERRUPTED after a stop request, CNN_ERR_DIVERGED on NaN/Inf. */
int cnn_train(const cnn_config *cfg, cnn_train_opts *opts, cnn_error *err);

typedef struct cnn_eval_result {
    int64_t n;
    int classes;
    double accuracy, top5, loss;
    int64_t *confusion;        /* classes x classes, row = true class; owned, freed by cnn_eval_free */
} cnn_eval_result;
/* Evaluates on the test set named by the model's config, or by cfg when not NULL. */
int cnn_eval(cnn_model *m, const cnn_config *cfg, cnn_eval_result *out, cnn_error *err);
void cnn_eval_free(cnn_eval_result *r);

/* ---- benchmarks ---- */

typedef struct cnn_bench_layer {
    const char *name, *type;
    double fwd_ms, bwd_ms;      /* per step (batch), median over runs */
    double fwd_gflop, bwd_gflop;/* floating-point work per step (0 for layers without GEMMs) */
} cnn_bench_layer;
/* Times training steps (forward, loss, backward, SGD update; train != 0) or forward passes
 * on random data already in memory, at `batch` images: a warm-up, then `runs` timed runs of at
 * least `seconds` each. *img_per_s gets the median rate; layers (cnn_model_layer_count
 * entries, may be NULL) the per-layer times of the median run. */
int cnn_bench(cnn_model *m, int batch, int train, double seconds, int runs, double *img_per_s,
              cnn_bench_layer *layers, cnn_error *err);
/* Times each layer's forward and backward alone at `batch` images on random data: the
 * training step is run up to the layer, then the layer's own call is repeated for at
 * least `seconds` (its first call, which warms the caches, not counted), and layers
 * (cnn_model_layer_count entries) get the median call. This is the kernels' speed with
 * their data in cache, where cnn_bench's per-layer times are what they take inside the
 * step. Layers that run inside another (a max pool fused into its convolution) get 0. The
 * model's weights and gradients are left as after a step on random data. */
int cnn_bench_kernels(cnn_model *m, int batch, double seconds, cnn_bench_layer *layers, cnn_error *err);
/* Single-core FP32 FMA peak of this CPU in GFLOP/s, measured now with the widest vector
 * instructions the run-time dispatch uses; the CPU's name and the SIMD path chosen. */
double cnn_peak_gflops(void);
void cnn_cpu_info(char *name, int n, const char **simd);

#endif
