/* pool.c - persistent pthread workers woken per job. Workers spin briefly on the job
 * generation before sleeping on a condition variable: a training step issues a few
 * hundred jobs, and a futex wake per job would cost more than small layers take. */
#define _GNU_SOURCE
#include "pool.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_ITERS = 1 << 15 };

struct pool {
    int nth;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint gen;       /* bumped for every job */
    atomic_int pending;    /* workers still running the current job */
    atomic_int quit;
    int active;            /* workers taking part in the current job */
    pool_fn fn;
    void *arg;
    struct worker { pool *p; int ith; } *w;
};

static void *worker_main(void *a) {
    struct worker *w = a;
    pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) { cpu_relax(); continue; }
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        if (w->ith < p->active) p->fn(p->arg, w->ith, p->active);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

pool *pool_create(int nth) {
    if (nth < 1) nth = 1;
    pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->nth = nth;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (nth > 1) {
        p->threads = calloc((size_t)nth, sizeof *p->threads);
        p->w = calloc((size_t)nth, sizeof *p->w);
        if (!p->threads || !p->w) { free(p->threads); free(p->w); free(p); return NULL; }
        for (int i = 1; i < nth; i++) {
            p->w[i].p = p;
            p->w[i].ith = i;
            if (pthread_create(&p->threads[i], NULL, worker_main, &p->w[i]) != 0) {
                p->nth = i;
                pool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void pool_destroy(pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nth; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p->w);
    free(p);
}

int pool_size(const pool *p) { return p ? p->nth : 1; }

void pool_run_n(pool *p, int nth, pool_fn fn, void *arg) {
    if (!p || p->nth == 1 || nth <= 1) { fn(arg, 0, 1); return; }
    if (nth > p->nth) nth = p->nth;
    p->fn = fn;
    p->arg = arg;
    p->active = nth;
    atomic_store_explicit(&p->pending, p->nth - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, nth);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) cpu_relax();
}

void pool_run(pool *p, pool_fn fn, void *arg) { pool_run_n(p, pool_size(p), fn, arg); }

int cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
