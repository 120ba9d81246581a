/* synth.h - a small synthetic IDX data set for training tests: class k of 3 has a bright
 * 3x3 block at a class-dependent place, plus noise. Written as plain IDX files. */
#ifndef CNN_SYNTH_H
#define CNN_SYNTH_H
#include <stdint.h>
#include <stdio.h>

static int synth_write(const char *images, const char *labels, int n, int side, unsigned seed) {
    FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
    if (!fi || !fl) return -1;
    unsigned char h[16] = {0, 0, 8, 3};
    h[4] = (unsigned char)(n >> 24); h[5] = (unsigned char)(n >> 16); h[6] = (unsigned char)(n >> 8); h[7] = (unsigned char)n;
    h[11] = (unsigned char)side; h[15] = (unsigned char)side;
    fwrite(h, 1, 16, fi);
    unsigned char hl[8] = {0, 0, 8, 1, h[4], h[5], h[6], h[7]};
    fwrite(hl, 1, 8, fl);
    uint32_t s = seed * 2654435761u + 1;
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        unsigned char lab = (unsigned char)k;
        fwrite(&lab, 1, 1, fl);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                s = s * 1664525u + 1013904223u;
                int v = (int)(s >> 27);
                int cx = 2 + 3 * k, cy = 2 + (k == 1 ? 4 : 0);
                if (x >= cx && x < cx + 3 && y >= cy && y < cy + 3) v += 180;
                unsigned char b = (unsigned char)(v > 255 ? 255 : v);
                fwrite(&b, 1, 1, fi);
            }
    }
    int bad = ferror(fi) || ferror(fl);
    bad |= fclose(fi) != 0;
    bad |= fclose(fl) != 0;
    return bad ? -1 : 0;
}
#endif
