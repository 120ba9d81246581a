/* pool.h - the thread pool: the one piece of shared mutable state in the library, owned
 * by a model (not global). Work is handed out as numbered chunks: each thread (the caller
 * is thread 0) first runs its own contiguous share, the same share of the batch in every
 * layer, then takes what is left of the others'; the caller waits for the chunks to be
 * finished, never for a worker the OS has not scheduled yet, so a busy machine slows a
 * job down instead of stalling it. Results are bit-exact as long as each chunk's arithmetic
 * depends only on its number (per-chunk partial sums added in chunk order), which also
 * makes them independent of the thread count. */
#ifndef CNN_POOL_H
#define CNN_POOL_H
#include <stdint.h>

typedef struct pool pool;
/* fn(arg, chunk, ith): ith < pool_size() names the running thread (for per-thread scratch). */
typedef void (*chunk_fn)(void *arg, int64_t chunk, int ith);
/* The older static form: fn(arg, part, nparts), each part run exactly once, possibly on the
 * same thread as another part; scratch must be indexed by part, not by thread. */
typedef void (*pool_fn)(void *arg, int part, int nparts);

/* Starts nth-1 worker threads (nth >= 1). Returns NULL if threads cannot be created. */
pool *pool_create(int nth);
void pool_destroy(pool *p);
int pool_size(const pool *p);
/* Runs fn for chunks 0..nchunks-1 (nchunks < 2^31); p == NULL runs them inline. */
void pool_chunks(pool *p, int64_t nchunks, chunk_fn fn, void *arg);
/* Runs fn(arg, part, pool_size) for every part 0..pool_size-1. */
void pool_run(pool *p, pool_fn fn, void *arg);
/* Number of online CPUs (at least 1). */
int cpu_count(void);
#endif
