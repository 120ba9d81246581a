/* export.c - writing data-set images out as PNG files (demo samples, inspection). */
#include "sets.h"
#include "../core/err.h"
#include "../core/util.h"
#include <stdio.h>
#include <string.h>

int cnn_export_images(const cnn_config *cfg, int train, int n, const char *dir, int *written, cnn_error *e) {
    *written = 0;
    dataset d = {0};
    int rc = sets_load(cfg, train ? SET_TRAIN : SET_TEST, CNN_MAX_CLASSES, &d, e);
    if (rc) return rc;
    if (mkdir_p(dir, e)) { dataset_free(&d); return e->code; }
    int64_t per = (int64_t)d.c * d.h * d.w;
    for (int64_t i = 0; i < d.n && i < n && !rc; i++) {
        char cls[64], path[4200];
        int y = d.y[i];
        const char *name = cfg->data.classes.n > y ? strlist_at(&cfg->data.classes, y) : d.names ? d.names[y] : NULL;
        if (name) snprintf(cls, sizeof cls, "%s", name);
        else snprintf(cls, sizeof cls, "%d", y);
        for (char *p = cls; *p; p++)
            if (*p == '/' || *p == ' ' || *p == '\\' || (unsigned char)*p < 32) *p = '_';
        snprintf(path, sizeof path, "%s/%05lld-%s.png", dir, (long long)i, cls);
        rc = cnn_image_save_png(path, d.x + i * per, d.c, d.h, d.w, e);
        if (!rc) (*written)++;
    }
    dataset_free(&d);
    return rc;
}
