/* batch.c - assembling a training batch: per-sample augmentation (random crop from the
 * zero-padded image, random horizontal flip) and per-channel normalisation to floats.
 * Every sample draws from its own stream rng_stream(seed, RNG_AUGMENT, epoch, index), so
 * a sample looks the same whichever thread, batch or position it lands in. A NULL mean
 * reads as 0 and a NULL std as 1 for every channel. */
#include "dataset.h"
#include "../core/rng.h"
#include <assert.h>

void batch_fill(const dataset *d, const int64_t *idx, int n, const augment *aug, uint64_t seed,
                uint64_t epoch, const float *mean, const float *std, float *out, int32_t *labels) {
    const int c = d->c, h = d->h, w = d->w;
    const size_t plane = (size_t)h * w, img = (size_t)c * plane;
    const int pad = aug && aug->crop_pad > 0 ? aug->crop_pad : 0, flip = aug && aug->flip;
    assert(pad <= CNN_MAX_IMAGE_SIDE); /* the config reader bounds it */
    for (int i = 0; i < n; i++) {
        assert(idx[i] >= 0 && idx[i] < d->n);
        const uint8_t *src = d->x + (size_t)idx[i] * img;
        float *dst = out + (size_t)i * img;
        int dy = 0, dx = 0, fl = 0;
        if (pad || flip) { /* fixed draw order: crop row, crop column, flip */
            rng r = rng_stream(seed, RNG_AUGMENT, epoch, (uint64_t)idx[i]);
            if (pad) {
                dy = (int)rng_below(&r, 2u * (uint32_t)pad + 1) - pad;
                dx = (int)rng_below(&r, 2u * (uint32_t)pad + 1) - pad;
            }
            if (flip) fl = (int)rng_below(&r, 2);
        }
        for (int ch = 0; ch < c; ch++) {
            const float m = mean ? mean[ch] : 0.0f, s = std ? std[ch] : 1.0f;
            const uint8_t *sp = src + (size_t)ch * plane;
            float *dp = dst + (size_t)ch * plane;
            /* out(y, x) = in(y + dy, (flip ? w - 1 - x : x) + dx), 0 outside the image */
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                for (int x = 0; x < w; x++) {
                    int sx = (fl ? w - 1 - x : x) + dx;
                    uint8_t v = sy >= 0 && sy < h && sx >= 0 && sx < w ? sp[(size_t)sy * w + sx] : 0;
                    dp[(size_t)y * w + x] = ((float)v / 255.0f - m) / s;
                }
            }
        }
        if (labels) labels[i] = d->y[idx[i]];
    }
}
