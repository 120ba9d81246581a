/* reduce.c - see reduce.h. */
#include "reduce.h"

#define CHAINS 8

float reduce_sum(const float *x, int64_t n) {
    float a[CHAINS] = {0};
    int64_t i = 0;
    for (; i + CHAINS <= n; i += CHAINS)
        for (int k = 0; k < CHAINS; k++) a[k] += x[i + k];
    for (; i < n; i++) a[0] += x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

float reduce_sq_dev(const float *x, int64_t n, float m) {
    float a[CHAINS] = {0};
    int64_t i = 0;
    for (; i + CHAINS <= n; i += CHAINS)
        for (int k = 0; k < CHAINS; k++) {
            float d = x[i + k] - m;
            a[k] += d * d;
        }
    for (; i < n; i++) a[0] += (x[i] - m) * (x[i] - m);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

void reduce_dy_dyx(const float *dy, const float *x, int64_t n, float m, float *sdy, float *sdyx) {
    float a[CHAINS] = {0}, b[CHAINS] = {0};
    int64_t i = 0;
    for (; i + CHAINS <= n; i += CHAINS)
        for (int k = 0; k < CHAINS; k++) {
            a[k] += dy[i + k];
            b[k] += dy[i + k] * (x[i + k] - m);
        }
    for (; i < n; i++) {
        a[0] += dy[i];
        b[0] += dy[i] * (x[i] - m);
    }
    *sdy = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    *sdyx = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}
