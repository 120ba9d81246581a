/* main.c - scripts/ab-step's driver: times training steps of the old and the new engine in
 * one process. Two networks per side are made in the order old, new, new, old, so that
 * where a network's memory lands (page offsets and 4K aliasing move a layer by a few %)
 * falls on both sides; each round times the pairs (old 1, new 1) and (old 2, new 2), in
 * alternating order, and the ratio new / old of each pair is kept. Prints the medians. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"

void *side_make_old(const char *, int, int);
void side_step_old(void *, const float *, const float *, int, int);
void *side_make_new(const char *, int, int);
long long side_in_new(void *);
long long side_out_new(void *);
void side_step_new(void *, const float *, const float *, int, int);

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}
static double timed(void (*step)(void *, const float *, const float *, int, int), void *g, const float *x,
                    const float *d, int batch, int i) {
    double t = now_seconds();
    step(g, x, d, batch, i);
    return now_seconds() - t;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ab CONFIG [ROUNDS] [THREADS] [BATCH]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 40, threads = argc > 3 ? atoi(argv[3]) : 2,
        batch = argc > 4 ? atoi(argv[4]) : 64;
    if (rounds < 1 || threads < 1 || batch < 1) {
        fprintf(stderr, "ab: ROUNDS, THREADS and BATCH must be positive\n");
        return 2;
    }
    void *o1 = side_make_old(argv[1], batch, threads), *n1 = side_make_new(argv[1], batch, threads);
    void *n2 = side_make_new(argv[1], batch, threads), *o2 = side_make_old(argv[1], batch, threads);
    long long in = side_in_new(n1), out = side_out_new(n1);
    float *x = malloc(sizeof *x * batch * in), *d = malloc(sizeof *d * batch * out);
    double *r1 = malloc(sizeof *r1 * rounds), *r2 = malloc(sizeof *r2 * rounds), *rb = malloc(sizeof *rb * rounds);
    double *to = malloc(sizeof *to * rounds), *tn = malloc(sizeof *tn * rounds);
    if (!x || !d || !r1 || !r2 || !rb || !to || !tn) return 1;
    for (long long i = 0; i < batch * in; i++) x[i] = (float)((i * 7919) % 101 - 50) / 50.0f;
    for (long long i = 0; i < batch * out; i++) d[i] = (float)((i * 104729) % 37 - 18) / 180.0f;
    for (int r = -3; r < rounds; r++) { /* three warm-up rounds */
        double a1, b1, a2, b2;
        if (r & 1) {
            b1 = timed(side_step_new, n1, x, d, batch, r + 3), a1 = timed(side_step_old, o1, x, d, batch, r + 3);
            a2 = timed(side_step_old, o2, x, d, batch, r + 3), b2 = timed(side_step_new, n2, x, d, batch, r + 3);
        } else {
            a1 = timed(side_step_old, o1, x, d, batch, r + 3), b1 = timed(side_step_new, n1, x, d, batch, r + 3);
            b2 = timed(side_step_new, n2, x, d, batch, r + 3), a2 = timed(side_step_old, o2, x, d, batch, r + 3);
        }
        if (r < 0) continue;
        r1[r] = b1 / a1, r2[r] = b2 / a2, rb[r] = sqrt(r1[r] * r2[r]);
        to[r] = (a1 + a2) / 2, tn[r] = (b1 + b2) / 2;
    }
    printf("%s, batch %d, %d threads, %d rounds: step old %.2f ms, new %.2f ms; new/old %.4f (pairs %.4f, %.4f)\n",
           argv[1], batch, threads, rounds, median(to, rounds) * 1e3, median(tn, rounds) * 1e3, median(rb, rounds),
           median(r1, rounds), median(r2, rounds));
    return 0;
}
