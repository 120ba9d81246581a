/* Times a Darknet network the way `cnn bench` and scripts/peers/torch_peer.py time theirs:
 * random data already in memory, a warm-up, then the median of RUNS runs of at least
 * SECONDS seconds each. Links Debian's /usr/lib/darknet/libdarknet.so (package `darknet`),
 * so no image is read or decoded while timing.
 *
 *   dn_time CFG NET MODE SECONDS RUNS
 *
 * MODE: train (forward + backward + SGD update on the cfg's batch, train_network),
 * infer64 (forward only, cfg batch, network_predict), infer1 (forward only, batch 1,
 * set_batch_network(net, 1), as `darknet speed` does). Darknet's CPU code is
 * single-threaded (the Debian build has no OpenMP and no BLAS), so every mode uses 1 thread.
 * Prints one line: NET MODE value=... unit=img/s|ms rss_mb=... threads=1
 * Built by scripts/peers/darknet_peer.sh. */
#include <darknet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#define NSETS 8

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float frand(void)
{
    /* roughly N(0,1)-scaled uniform noise, like torch.randn in spread */
    return ((float)rand() / RAND_MAX - 0.5f) * 3.46f;
}

static network *net;
static data sets[NSETS];
static float *inputs[NSETS];
static int mode_train, batch;

static void step(long i)
{
    if (mode_train)
        train_network(net, sets[i % NSETS]);
    else
        network_predict(net, inputs[i % NSETS]);
}

static double timed(double seconds)
{
    long n = 0;
    double t0 = now(), t;
    for (;;) {
        step(n++);
        t = now() - t0;
        if (t >= seconds)
            return n * (double)batch / t;
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s CFG NET train|infer64|infer1 SECONDS RUNS\n", argv[0]);
        return 2;
    }
    const char *name = argv[2], *mode = argv[3];
    double seconds = atof(argv[4]);
    int runs = atoi(argv[5]);
    if (strcmp(mode, "train") && strcmp(mode, "infer64") && strcmp(mode, "infer1")) {
        fprintf(stderr, "dn_time: unknown mode %s\n", mode);
        return 2;
    }
    if (runs < 1 || runs > 100 || !(seconds > 0)) {
        fprintf(stderr, "dn_time: bad SECONDS or RUNS\n");
        return 2;
    }
    srand(0);
    net = parse_network_cfg(argv[1]); /* prints the layer table on stderr */
    mode_train = !strcmp(mode, "train");
    if (!strcmp(mode, "infer1"))
        set_batch_network(net, 1);
    batch = net->batch;
    int in = net->inputs, classes = net->outputs;
    for (int s = 0; s < NSETS; s++) {
        data *d = &sets[s];
        memset(d, 0, sizeof *d);
        d->shallow = 0;
        d->X.rows = batch; d->X.cols = in;
        d->y.rows = batch; d->y.cols = classes;
        d->X.vals = calloc(batch, sizeof(float *));
        d->y.vals = calloc(batch, sizeof(float *));
        inputs[s] = malloc((size_t)batch * in * sizeof(float));
        for (int b = 0; b < batch; b++) {
            d->X.vals[b] = inputs[s] + (size_t)b * in; /* same memory for both modes */
            d->y.vals[b] = calloc(classes, sizeof(float));
            d->y.vals[b][rand() % classes] = 1;
            for (int k = 0; k < in; k++)
                d->X.vals[b][k] = frand();
        }
    }
    timed(seconds < 2.0 ? seconds : 2.0); /* warm-up */
    double *rate = malloc(runs * sizeof(double));
    for (int r = 0; r < runs; r++)
        rate[r] = timed(seconds);
    qsort(rate, runs, sizeof(double), cmp);
    double med = runs % 2 ? rate[runs / 2] : 0.5 * (rate[runs / 2 - 1] + rate[runs / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (!strcmp(mode, "infer1"))
        printf("%s %s value=%.4f unit=ms rss_mb=%.0f threads=1\n", name, mode, 1000.0 / med,
               ru.ru_maxrss / 1024.0);
    else
        printf("%s %s value=%.1f unit=img/s rss_mb=%.0f threads=1\n", name, mode, med,
               ru.ru_maxrss / 1024.0);
    return 0;
}
