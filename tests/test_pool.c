/* test_pool.c - the thread pool: every chunk runs exactly once, across many back-to-back
 * jobs of every size (so late workers meet newer jobs), with 1 to 4 threads. */
#include "check.h"
#include "core/pool.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct job { atomic_int *hits; int64_t n; atomic_int bad; } job;

static void count(void *arg, int64_t c, int ith) {
    job *j = arg;
    if (c < 0 || c >= j->n || ith < 0 || ith >= 4) atomic_fetch_add(&j->bad, 1);
    else atomic_fetch_add(&j->hits[c], 1);
}

static void part(void *arg, int p, int n) {
    int *seen = arg;
    if (p >= 0 && p < n) seen[p]++;
}

int main(void) {
    for (int nth = 1; nth <= 4; nth++) {
        pool *p = pool_create(nth);
        CHECK(p && pool_size(p) == nth);
        int wrong = 0;
        for (int rep = 0; rep < 20000; rep++) {
            int64_t n = 1 + (rep * 7919) % 97;
            job j;
            j.n = n;
            atomic_init(&j.bad, 0);
            j.hits = calloc((size_t)n, sizeof *j.hits);
            pool_chunks(p, n, count, &j);
            for (int64_t c = 0; c < n; c++) wrong += atomic_load(&j.hits[c]) != 1;
            wrong += atomic_load(&j.bad);
            free(j.hits);
            if (rep % 100 == 0) {
                int seen[4] = {0};
                pool_run(p, part, seen);
                for (int i = 0; i < nth; i++) wrong += seen[i] != 1;
            }
        }
        CHECK(wrong == 0, "%d threads: %d chunks run other than once", nth, wrong);
        pool_destroy(p);
    }
    pool_destroy(NULL);
    return check_done();
}
