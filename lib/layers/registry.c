/* registry.c - the table of layer types the YAML `type:` names, and shared helpers. */
#include "layer.h"
#include "../core/util.h"

extern const layer_ops layer_conv, layer_dense, layer_maxpool, layer_avgpool, layer_gap, layer_batchnorm,
    layer_dropout, layer_relu, layer_leaky, layer_sigmoid, layer_tanh, layer_gelu, layer_swish, layer_add,
    layer_concat, layer_flatten;

const layer_ops *const layer_registry[] = {
    &layer_conv, &layer_dense, &layer_maxpool, &layer_avgpool, &layer_gap, &layer_batchnorm,
    &layer_dropout, &layer_relu, &layer_leaky, &layer_sigmoid, &layer_tanh, &layer_gelu,
    &layer_swish, &layer_add, &layer_concat, &layer_flatten, NULL};

typedef struct range_job { int64_t total, nchunks; range_fn fn; void *ctx; } range_job;

static void range_chunk(void *arg, int64_t c, int ith) {
    (void)ith;
    range_job *j = arg;
    int64_t lo, hi;
    split_range(j->total, (int)c, (int)j->nchunks, &lo, &hi);
    if (hi > lo) j->fn(j->ctx, lo, hi);
}

void exec_for(exec *x, int64_t total, int64_t cost, range_fn fn, void *ctx) {
    /* Small jobs are not worth waking the other threads for; bigger ones are cut into a few
     * chunks per thread so a descheduled thread's share is picked up by the others. */
    if (total * cost < 16384 || total < 2) { fn(ctx, 0, total); return; }
    int64_t n = 4 * (int64_t)x->nth, w = total * cost / 8192;
    if (n > w) n = w > 1 ? w : 2;
    if (n > total) n = total;
    range_job j = {total, n, fn, ctx};
    pool_chunks(x->pool, n, range_chunk, &j);
}
