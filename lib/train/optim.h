/* optim.h - optimizers over the model's one parameter block, the learning-rate schedule
 * and the loss. */
#ifndef CNN_OPTIM_H
#define CNN_OPTIM_H
#include "../graph/config.h"
#include "../graph/graph.h"

typedef struct optim {
    optim_cfg cfg;
    float *m, *v;           /* moments, nparams each (v only for adam/adamw); owned */
    int nstate;             /* 1 (sgd) or 2 */
    int64_t *runs;          /* nruns + 1 offsets: weight decay applies to [runs[k], runs[k+1])
                             * for odd k only (runs[0] = 0, runs[nruns] = n); owned */
    int nruns;
    int64_t n;
} optim;

int optim_init(optim *o, const optim_cfg *cfg, const graph *g, cnn_error *e);
void optim_free(optim *o);
/* One update of params from grads at learning rate lr; t is the 1-based step (Adam's bias
 * correction). Elements are independent, so the thread split cannot change the bits. */
void optim_step(optim *o, graph *g, double lr, uint64_t t);
/* Names of the state arrays in checkpoints. */
extern const char *const optim_state_names[2];

/* Learning rate at optimizer step `step` (0-based) of a run of total_steps. */
double sched_lr(const sched_cfg *s, double base, int64_t step, int64_t steps_per_epoch, int64_t total_steps);

/* Softmax cross-entropy with label smoothing over n rows of k logits: returns the summed
 * loss, writes d (gradient of the MEAN loss) when d is not NULL, counts correct top-1 and
 * top-5 predictions. */
double loss_softmax_ce(const float *logits, const int32_t *labels, int n, int k, double smoothing, float *d,
                       int64_t *correct, int64_t *correct5);
#endif
