/* pool.c - persistent pthread workers and per-thread chunk counters. A job's chunks are cut
 * into one contiguous range per thread, so thread t runs the same part of the batch in
 * every layer and finds the images it wrote in its own cache. Handing each image to
 * whichever thread came first measured up to 1.6x slower on N1 in the machine's slow
 * phases (most likely the host placing the VM's two cores on different L3 caches, so each
 * layer read the previous one's output across the chip). A thread that finishes its range takes chunks from the others', so nobody waits
 * for a worker the OS has not scheduled. Each range's counter is one 64-bit word
 * (generation << 32 | next chunk) claimed with compare-and-swap, so a worker that wakes
 * late for an old job finds the generation changed and does nothing. Workers spin briefly
 * before sleeping: a training step issues a few hundred jobs, and a futex wake per job
 * would cost more than small layers take. */
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

enum { SPIN_ITERS = 1 << 14 };

struct worker { struct pool *p; int ith; };
/* One range's counter, alone on its cache line: the threads claim from their own. */
struct slot { _Alignas(64) _Atomic unsigned long long next; };

struct pool {
    int nth;
    pthread_t *threads;
    struct worker *w;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    _Atomic unsigned long long claim; /* generation << 32: what sleeping workers watch */
    struct slot *slots;               /* nth ranges of the current job */
    atomic_uint finished;
    atomic_int sleepers, quit;
    unsigned nchunks;       /* written before the job is published */
    chunk_fn fn;
    void *arg;
};

static unsigned gen_of(unsigned long long v) { return (unsigned)(v >> 32); }

/* The end of thread t's range of n chunks. */
static unsigned range_end(unsigned n, int t, int nth) { return (unsigned)((unsigned long long)n * (t + 1) / nth); }

/* Claims and runs chunks of job `gen`, its own range first, then the others' in turn,
 * until none is left or a newer job replaced it. nchunks, fn and arg are read after a
 * successful claim, when job `gen` cannot have finished yet. */
static void run_chunks(struct pool *p, unsigned gen, int ith) {
    for (int k = 0; k < p->nth; k++) {
        int t = (ith + k) % p->nth;
        _Atomic unsigned long long *c = &p->slots[t].next;
        for (;;) {
            unsigned long long v = atomic_load_explicit(c, memory_order_acquire);
            if (gen_of(v) != gen) return;
            if ((unsigned)v >= range_end(p->nchunks, t, p->nth)) break;
            if (!atomic_compare_exchange_weak_explicit(c, &v, v + 1, memory_order_acq_rel, memory_order_acquire))
                continue;
            p->fn(p->arg, (int64_t)(unsigned)v, ith);
            atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel);
        }
    }
}

static void *worker_main(void *a) {
    struct worker *w = a;
    struct pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (gen_of(atomic_load(&p->claim)) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ITERS) { cpu_relax(); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (gen_of(atomic_load(&p->claim)) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = gen_of(atomic_load(&p->claim));
        run_chunks(p, seen, w->ith);
    }
}

pool *pool_create(int nth) {
    if (nth < 1) nth = 1;
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->nth = nth;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (nth > 1) {
        p->threads = calloc((size_t)nth, sizeof *p->threads);
        p->w = calloc((size_t)nth, sizeof *p->w);
        p->slots = aligned_alloc(64, (size_t)nth * sizeof *p->slots);
        if (!p->threads || !p->w || !p->slots) {
            free(p->threads);
            free(p->w);
            free(p->slots);
            free(p);
            return NULL;
        }
        for (int i = 0; i < nth; i++) atomic_init(&p->slots[i].next, 0);
        for (int i = 1; i < nth; i++) {
            p->w[i] = (struct worker){p, i};
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
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nth; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p->w);
    free(p->slots);
    free(p);
}

int pool_size(const pool *p) { return p ? p->nth : 1; }

void pool_chunks(pool *p, int64_t nchunks, chunk_fn fn, void *arg) {
    if (nchunks <= 0) return;
    if (!p || p->nth == 1 || nchunks == 1) {
        for (int64_t c = 0; c < nchunks; c++) fn(arg, c, 0);
        return;
    }
    unsigned gen = gen_of(atomic_load_explicit(&p->claim, memory_order_relaxed)) + 2;
    /* Close the previous job first: a worker that loaded a range word before nchunks
     * changes below would otherwise compare an old index with the new count and claim a
     * chunk that the new job also hands out. Its compare-and-swap now fails, and a worker
     * that wakes on this intermediate generation finds no chunk to take. */
    unsigned long long closed = ((unsigned long long)(gen - 1) << 32) | 0xffffffffu;
    for (int t = 0; t < p->nth; t++) atomic_store(&p->slots[t].next, closed);
    atomic_store(&p->claim, closed);
    p->fn = fn;
    p->arg = arg;
    p->nchunks = (unsigned)nchunks;
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    for (int t = 0; t < p->nth; t++)
        atomic_store(&p->slots[t].next, (unsigned long long)gen << 32 | (t ? range_end(p->nchunks, t - 1, p->nth) : 0));
    atomic_store(&p->claim, (unsigned long long)gen << 32); /* seq_cst: ordered with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, gen, 0);
    while (atomic_load_explicit(&p->finished, memory_order_acquire) < (unsigned)nchunks) cpu_relax();
}

typedef struct part_job { pool_fn fn; void *arg; int n; } part_job;

static void part_tramp(void *arg, int64_t chunk, int ith) {
    (void)ith;
    part_job *j = arg;
    j->fn(j->arg, (int)chunk, j->n);
}

void pool_run(pool *p, pool_fn fn, void *arg) {
    part_job j = {fn, arg, pool_size(p)};
    pool_chunks(p, j.n, part_tramp, &j);
}

int cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
