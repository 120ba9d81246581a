/* test_im2col.c - im2col and col2im_add against naive twins written here (one bounds test
 * per tap) on odd shapes: 1x1 and non-square kernels, strides 1-3, padding 0-3 (also larger
 * than the kernel), dilation 2, 1/3/5 channels, H != W; that col2im_add is the exact
 * adjoint of im2col; and that one image of a batch is handled like the same image alone.
 * Every shape runs on every SIMD level this CPU has (the stride-2 path differs by level),
 * and col2im_add must give the naive twin's bits: both add a pixel's taps in (kh, kw)
 * order, and a -0 that no tap reaches stays -0. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/cpu.h"
#include "kernels/im2col.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t next_u32(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 32);
}
static float frand(void) { return (float)(next_u32() >> 8) * (2.0f / (1 << 24)) - 1.0f; }
/* small integers: every float sum of them is exact, so adjointness can be checked with == */
static float irand(void) { return (float)((int)(next_u32() % 7) - 3); }

static void im2col_naive(const float *x, int C, int H, int W, int KH, int KW, int SH, int SW,
                         int PH, int PW, int DH, int DW, int OH, int OW, float *col) {
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        int ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
                        size_t row = ((size_t)c * KH + kh) * KW + kw;
                        int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                        col[row * OH * OW + (size_t)oh * OW + ow] =
                            in ? x[((size_t)c * H + ih) * W + iw] : 0.0f;
                    }
}

static void col2im_naive(const float *col, int C, int H, int W, int KH, int KW, int SH, int SW,
                         int PH, int PW, int DH, int DW, int OH, int OW, float *dx) {
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        int ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
                        size_t row = ((size_t)c * KH + kh) * KW + kw;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                            dx[((size_t)c * H + ih) * W + iw] +=
                                col[row * OH * OW + (size_t)oh * OW + ow];
                    }
}

typedef struct {
    int C, H, W, KH, KW, SH, SW, PH, PW, DH, DW;
} conv_shape;

static int cases, skipped;

static void run_level(const conv_shape *s, int level);

static void run(const conv_shape *s) {
    for (int level = 0; level < SIMD_COUNT; level++)
        if (simd_supported(level)) run_level(s, level);
}

static void run_level(const conv_shape *s, int level) {
    int spanh = s->H + 2 * s->PH - s->DH * (s->KH - 1) - 1;
    int spanw = s->W + 2 * s->PW - s->DW * (s->KW - 1) - 1;
    int OH = spanh / s->SH + 1, OW = spanw / s->SW + 1;
    if (spanh < 0 || spanw < 0) { /* the dilated kernel is larger than the padded image */
        skipped++;
        return;
    }
    cases++;
    size_t nx = (size_t)s->C * s->H * s->W, ncol = (size_t)s->C * s->KH * s->KW * OH * OW;
    /* two images: the kernels see the second through an offset pointer */
    float *x = malloc(2 * nx * sizeof *x), *col = malloc(ncol * sizeof *col);
    float *ref = malloc(ncol * sizeof *ref), *col1 = malloc(ncol * sizeof *col1);
    float *dx = malloc(2 * nx * sizeof *dx), *dxr = malloc(2 * nx * sizeof *dxr);
    float *g = malloc(ncol * sizeof *g);
    for (size_t i = 0; i < 2 * nx; i++) x[i] = frand();
    for (size_t i = 0; i < ncol; i++) g[i] = frand();

#define ARGS s->C, s->H, s->W, s->KH, s->KW, s->SH, s->SW, s->PH, s->PW, s->DH, s->DW, OH, OW
    char what[160];
    snprintf(what, sizeof what, "C=%d H=%d W=%d K=%dx%d S=%d,%d P=%d,%d D=%d,%d on %s", s->C, s->H,
             s->W, s->KH, s->KW, s->SH, s->SW, s->PH, s->PW, s->DH, s->DW, simd_name(level));

    /* im2col is a copy: exact. Fill col with NaN first so a missed element shows. */
    for (size_t i = 0; i < ncol; i++) col[i] = NAN;
    im2col(level, x + nx, ARGS, col);
    im2col_naive(x + nx, ARGS, ref);
    CHECK(memcmp(col, ref, ncol * sizeof *col) == 0, "im2col %s", what);
    /* the same image stored alone gives the same columns */
    float *alone = malloc(nx * sizeof *alone);
    memcpy(alone, x + nx, nx * sizeof *alone);
    im2col(level, alone, ARGS, col1);
    CHECK(memcmp(col1, col, ncol * sizeof *col) == 0, "im2col batch-independence %s", what);
    free(alone);

    /* col2im_add adds into dx (it does not overwrite), and only into its own image */
    for (size_t i = 0; i < 2 * nx; i++) dx[i] = dxr[i] = i % 5 == 1 ? -0.0f : frand();
    col2im_add(level, g, ARGS, dx + nx);
    col2im_naive(g, ARGS, dxr + nx);
    double worst = 0;
    for (size_t i = 0; i < 2 * nx; i++) {
        double e = fabs((double)dx[i] - dxr[i]);
        if (e > worst) worst = e;
    }
    CHECK(memcmp(dx + nx, dxr + nx, nx * sizeof *dx) == 0, "col2im_add %s: not the naive bits, max error %g",
          what, worst);
    CHECK(memcmp(dx, dxr, nx * sizeof *dx) == 0, "col2im_add wrote outside its image %s", what);

    /* adjoint: <col2im(a), b> == <a, im2col(b)>, exactly with small-integer data */
    for (size_t i = 0; i < ncol; i++) g[i] = irand();
    for (size_t i = 0; i < nx; i++) x[i] = irand();
    memset(dx, 0, nx * sizeof *dx);
    col2im_add(level, g, ARGS, dx);
    im2col(level, x, ARGS, col);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < nx; i++) lhs += (double)dx[i] * x[i];
    for (size_t i = 0; i < ncol; i++) rhs += (double)g[i] * col[i];
    CHECK(lhs == rhs, "adjoint (integers) %s: %.17g vs %.17g", what, lhs, rhs);
    /* and with random data, to rounding */
    for (size_t i = 0; i < ncol; i++) g[i] = frand();
    for (size_t i = 0; i < nx; i++) x[i] = frand();
    memset(dx, 0, nx * sizeof *dx);
    col2im_add(level, g, ARGS, dx);
    im2col(level, x, ARGS, col);
    lhs = rhs = 0;
    double mag = 0;
    for (size_t i = 0; i < nx; i++) lhs += (double)dx[i] * x[i];
    for (size_t i = 0; i < ncol; i++) {
        rhs += (double)g[i] * col[i];
        mag += fabs((double)g[i] * col[i]);
    }
    CHECK(fabs(lhs - rhs) <= 1e-6 * mag + 1e-12, "adjoint %s: %.17g vs %.17g", what, lhs, rhs);
#undef ARGS
    free(x); free(col); free(ref); free(col1); free(dx); free(dxr); free(g);
}

int main(void) {
    static const int chans[] = {1, 3, 5};
    static const int hw[][2] = {{1, 1}, {5, 7}, {8, 3}, {11, 11}, {28, 28}};
    static const int kern[][2] = {{1, 1}, {3, 3}, {2, 3}, {5, 5}, {1, 4}};
    static const int strides[][2] = {{1, 1}, {2, 2}, {1, 2}, {3, 2}};
    static const int pads[][2] = {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {0, 2}, {6, 1}};
    static const int dils[][2] = {{1, 1}, {2, 2}, {1, 2}, {2, 1}};
#define N(a) (int)(sizeof a / sizeof a[0])
    for (int c = 0; c < N(chans); c++)
        for (int h = 0; h < N(hw); h++)
            for (int k = 0; k < N(kern); k++)
                for (int st = 0; st < N(strides); st++)
                    for (int p = 0; p < N(pads); p++)
                        for (int d = 0; d < N(dils); d++) {
                            conv_shape s = {chans[c], hw[h][0], hw[h][1], kern[k][0], kern[k][1],
                                            strides[st][0], strides[st][1], pads[p][0], pads[p][1],
                                            dils[d][0], dils[d][1]};
                            run(&s);
                        }
    /* the N2 network's layers */
    static const conv_shape n2[] = {{1, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1},
                                    {32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1},
                                    {32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1},
                                    {64, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1}};
    for (int i = 0; i < N(n2); i++) run(&n2[i]);
    /* "same" shapes whose wrapped edge columns are too many for col2im_add's one-run
     * path, so it falls back to row by row */
    static const conv_shape tall[] = {{2, 200, 8, 1, 5, 1, 1, 0, 4, 1, 2},
                                      {1, 300, 9, 3, 7, 1, 1, 1, 3, 1, 1}};
    for (int i = 0; i < N(tall); i++) run(&tall[i]);
    /* stride 2: N3's strided layers (3x3 and the 1x1 projections), rows of 16 floats and
     * more, a kernel as wide as several blocks, a dilated height, and the widths on both
     * sides of where the stride-2 path gives way to the general loop (IM2COL_S2_SPAN) */
    static const conv_shape s2[] = {{16, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1},
                                    {32, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1},
                                    {16, 32, 32, 1, 1, 2, 2, 0, 0, 1, 1},
                                    {32, 16, 16, 1, 1, 2, 2, 0, 0, 1, 1},
                                    {3, 9, 67, 3, 3, 2, 2, 1, 1, 1, 1},
                                    {2, 7, 45, 2, 9, 2, 2, 2, 5, 2, 1},
                                    {1, 6, 40, 3, 31, 1, 2, 1, 15, 1, 1},
                                    {2, 5, 33, 1, 2, 2, 2, 0, 0, 1, 1},
                                    {1, 3, IM2COL_S2_SPAN - 2, 3, 3, 2, 2, 1, 1, 1, 1},
                                    {1, 3, IM2COL_S2_SPAN, 3, 3, 2, 2, 1, 1, 1, 1},
                                    {1, 3, IM2COL_S2_SPAN + 17, 3, 3, 2, 2, 1, 1, 1, 1}};
    for (int i = 0; i < N(s2); i++) run(&s2[i]);
    printf("%d shapes (%d without output skipped)\n", cases, skipped);
    CHECK(cases > 1000, "only %d shapes ran", cases);
    return check_done();
}
