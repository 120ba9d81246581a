/* test_sched.c - learning-rate schedules against their formulas, and the loss. */
#include "check.h"
#include "train/optim.h"
#include <math.h>

static int near(double a, double b) { return fabs(a - b) <= 1e-9 + 1e-6 * fabs(b); }

int main(void) {
    sched_cfg s = {.type = SCHED_CONSTANT};
    CHECK(near(sched_lr(&s, 0.1, 0, 10, 100), 0.1) && near(sched_lr(&s, 0.1, 99, 10, 100), 0.1));
    s = (sched_cfg){.type = SCHED_STEP, .step_epochs = 3, .gamma = 0.5};
    CHECK(near(sched_lr(&s, 0.1, 29, 10, 100), 0.1), "step: before the first decay");
    CHECK(near(sched_lr(&s, 0.1, 30, 10, 100), 0.05), "step: first decay at epoch 3");
    CHECK(near(sched_lr(&s, 0.1, 65, 10, 100), 0.025), "step: second decay");
    s = (sched_cfg){.type = SCHED_COSINE, .min_lr = 0.001};
    CHECK(near(sched_lr(&s, 0.1, 0, 10, 100), 0.1), "cosine starts at lr");
    CHECK(near(sched_lr(&s, 0.1, 50, 10, 100), 0.001 + 0.099 * 0.5), "cosine half way");
    CHECK(near(sched_lr(&s, 0.1, 100, 10, 100), 0.001), "cosine ends at min_lr");
    s = (sched_cfg){.type = SCHED_COSINE, .warmup_epochs = 2};
    CHECK(near(sched_lr(&s, 0.1, 0, 10, 100), 0.1 / 20), "warm-up step 1 of 20");
    CHECK(near(sched_lr(&s, 0.1, 9, 10, 100), 0.1 / 2), "warm-up half way");
    CHECK(near(sched_lr(&s, 0.1, 20, 10, 100), 0.1), "cosine after warm-up starts at lr");
    s = (sched_cfg){.type = SCHED_ONECYCLE, .pct_start = 0.3};
    CHECK(near(sched_lr(&s, 0.1, 0, 10, 100), 0.1 / 25), "one-cycle starts at lr/25");
    CHECK(near(sched_lr(&s, 0.1, 30, 10, 100), 0.1), "one-cycle peaks at pct_start");
    CHECK(near(sched_lr(&s, 0.1, 100, 10, 100), 0.1 / 1e4), "one-cycle ends at lr/1e4");
    CHECK(sched_lr(&s, 0.1, 15, 10, 100) < 0.1 && sched_lr(&s, 0.1, 15, 10, 100) > 0.004);

    /* Softmax cross-entropy: uniform logits give log(K); gradients sum to zero per row. */
    float l[6] = {0, 0, 0, 1, 2, 3}, d[6];
    int32_t y[2] = {1, 2};
    int64_t c1 = 0, c5 = 0;
    double loss = loss_softmax_ce(l, y, 2, 3, 0, d, &c1, &c5);
    double row2 = -(3 - log(exp(1) + exp(2) + exp(3)));
    CHECK(near(loss, log(3) + row2), "loss %.9f", loss);
    CHECK(fabs(d[0] + d[1] + d[2]) < 1e-7 && fabs(d[3] + d[4] + d[5]) < 1e-7);
    CHECK(c1 == 1 && c5 == 2, "top-1 %lld top-5 %lld", (long long)c1, (long long)c5);
    double ls = loss_softmax_ce(l, y, 1, 3, 0.3, d, NULL, NULL);
    CHECK(near(ls, log(3)), "smoothing of uniform logits is still log K");
    return check_done();
}
