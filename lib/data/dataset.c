/* dataset.c - freeing a dataset, and the path helper the readers share. */
#include "dataset.h"
#include "data_priv.h"
#include <stdlib.h>
#include <string.h>

void dataset_free(dataset *d) {
    if (!d) return;
    if (d->names)
        for (int i = 0; i < d->nclasses; i++) free(d->names[i]);
    free(d->names);
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

char *data_path_join(const char *dir, const char *name) {
    size_t dl = dir && name[0] != '/' ? strlen(dir) : 0, nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + 1);
    if (!p) return NULL;
    if (dl) memcpy(p, dir, dl);
    if (slash) p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}
