/* pool.h - the thread pool: the one piece of shared mutable state in the library, owned
 * by a model (not global). pool_run() runs a function on every worker, the caller being
 * worker 0, and returns when all have finished; work is split statically by `ith`, so a
 * given thread count always produces the same arithmetic in the same order. */
#ifndef CNN_POOL_H
#define CNN_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* Starts nth-1 worker threads (nth >= 1). Returns NULL if threads cannot be created. */
pool *pool_create(int nth);
void pool_destroy(pool *p);
int pool_size(const pool *p);
/* Runs fn(arg, ith, nth) for ith = 0..nth-1 concurrently; p == NULL runs it once inline. */
void pool_run(pool *p, pool_fn fn, void *arg);
/* Same, but with only the first `nth` workers taking part (1 <= nth <= pool_size). */
void pool_run_n(pool *p, int nth, pool_fn fn, void *arg);
/* Number of online CPUs (at least 1). */
int cpu_count(void);
#endif
