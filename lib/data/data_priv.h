/* data_priv.h - helpers shared by the data readers of lib/data/ (not part of any API). */
#ifndef CNN_DATA_PRIV_H
#define CNN_DATA_PRIV_H
#include <stdint.h>
#include "../cnn.h"

/* image_load, but messages name `shown` (the path as the user wrote it, e.g. in a CSV
 * list) in place of `path` (the path opened). */
int image_load_shown(const char *path, const char *shown, int c, int h, int w, uint8_t *out,
                     cnn_error *e);
/* "dir/name" in a new string (name alone when dir is NULL or empty, or name is absolute);
 * NULL when out of memory. */
char *data_path_join(const char *dir, const char *name);
#endif
