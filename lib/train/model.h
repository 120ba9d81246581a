/* model.h - struct cnn_model: a config, the graph built from it, class names and the
 * normalisation its inputs need; plus the checkpoint glue shared by train and load. */
#ifndef CNN_MODEL_H
#define CNN_MODEL_H
#include "../graph/config.h"
#include "../graph/graph.h"
#include "../io/ckpt.h"

struct cnn_model {
    cnn_config *cfg;        /* owned copy */
    graph g;
    int nclasses;
    char **classes;         /* owned */
    float mean[NUMLIST_MAX], std[NUMLIST_MAX];
    uint64_t epoch, step;   /* training progress the weights come from */
};

/* Sets the class names (copies them); n must equal the network's output size. */
int model_set_classes(cnn_model *m, char *const *names, int n, cnn_error *e);
/* Fills c with borrowed pointers to the model's config, classes and tensors (params and
 * buffers; plus optimizer moments when opt/nopt are given). Free with model_ckpt_release. */
int model_to_ckpt(const cnn_model *m, const float *const *opt, const char *const *opt_names, int nopt,
                  ckpt *c, cnn_error *e);
void model_ckpt_release(ckpt *c);
/* Copies the tensors of c into m, checking that every parameter and buffer of m is
 * present with the same shape ("path: tensor 'conv1.weight' has shape ... but the config
 * says ..."). */
int model_from_ckpt(cnn_model *m, const ckpt *c, const char *path, cnn_error *e);
/* Converts n planar byte images to normalised floats (n x c x h x w). */
void model_normalize(const cnn_model *m, const uint8_t *px, int64_t n, float *out);
/* Evaluates images [n0, n0 + n) of d (eval mode). r is owned by the caller (cnn_eval_free). */
struct dataset;
int model_evaluate(cnn_model *m, const struct dataset *d, int64_t n0, int64_t n, cnn_eval_result *r, cnn_error *e);
#endif
