/* folder.c - an image folder: one sub-directory per class (classes in byte order of
 * their names), image files inside (read in byte order of their names). Hidden entries
 * (names starting with '.') are skipped; anything else that is not an image where an
 * image should be is an error naming it, so a stray file never goes unnoticed. */
#include "dataset.h"
#include "data_priv.h"
#include "../core/err.h"
#include "../core/util.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int path_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef struct strvec { char **v; size_t n, cap; } strvec;

static void strvec_free(strvec *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Appends s (taking ownership); 0 when out of memory (s is then freed). */
static int strvec_push(strvec *s, char *str) {
    if (!str) return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) { free(str); return 0; }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = str;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted names of the entries of dir that are not hidden. */
static int list_dir(const char *dir, strvec *out, cnn_error *e) {
    DIR *dp = opendir(dir);
    if (!dp) return cnn_fail(e, CNN_ERR_DATA, "%s: %s", dir, strerror(errno));
    strvec s = {NULL, 0, 0};
    int rc = CNN_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dp);
        if (!de) {
            if (errno) rc = cnn_fail(e, CNN_ERR_DATA, "%s: %s", dir, strerror(errno));
            break;
        }
        if (de->d_name[0] == '.') continue; /* ".", ".." and hidden files */
        if (!strvec_push(&s, str_dup(de->d_name))) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", dir); break; }
    }
    closedir(dp);
    if (rc) { strvec_free(&s); return rc; }
    if (s.n) qsort(s.v, s.n, sizeof *s.v, cmp_str);
    *out = s;
    return CNN_OK;
}

int data_load_folder(const char *dir, int c, int h, int w, dataset *d, cnn_error *e) {
    if (!dir) return cnn_fail(e, CNN_ERR_CONFIG, "image folder data: no directory given");
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > CNN_MAX_IMAGE_SIDE || w > CNN_MAX_IMAGE_SIDE)
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: cannot load images as %d x %d x %d (channels 1 or 3, sides 1..%d)",
                        dir, c, h, w, CNN_MAX_IMAGE_SIDE);
    strvec top = {NULL, 0, 0}, classes = {NULL, 0, 0}, files = {NULL, 0, 0};
    int32_t *cls = NULL; /* class of each file */
    size_t cls_cap = 0;
    dataset t = {0, c, h, w, NULL, NULL, 0, NULL};
    int rc = list_dir(dir, &top, e);
    for (size_t i = 0; !rc && i < top.n; i++) {
        char *sub = data_path_join(dir, top.v[i]);
        if (!sub) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", dir); break; }
        if (!path_is_dir(sub)) {
            rc = cnn_fail(e, CNN_ERR_DATA, "%s: not a directory, but an image folder holds only one sub-directory per class",
                          sub);
            free(sub);
            break;
        }
        const char *ctrl = str_ctrl(top.v[i]);
        if (ctrl) {
            rc = cnn_fail(e, CNN_ERR_DATA, "%s: class directory '%.*s' is followed by a control character (byte %d); "
                          "class names are printed one per field", dir, (int)(ctrl - top.v[i]), top.v[i], *ctrl);
            free(sub);
            break;
        }
        if (classes.n >= CNN_MAX_CLASSES) {
            free(sub);
            rc = cnn_fail(e, CNN_ERR_DATA, "%s: more than %d class directories (CNN_MAX_CLASSES)", dir, CNN_MAX_CLASSES);
            break;
        }
        strvec in = {NULL, 0, 0};
        rc = list_dir(sub, &in, e);
        for (size_t j = 0; !rc && j < in.n; j++) {
            char *file = data_path_join(sub, in.v[j]);
            if (!file) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", sub); break; }
            if (path_is_dir(file)) {
                rc = cnn_fail(e, CNN_ERR_DATA, "%s: a directory inside a class directory (nested folders are not read)", file);
                free(file);
                break;
            }
            if (files.n == cls_cap) {
                size_t nc = cls_cap ? cls_cap * 2 : 64;
                int32_t *ncls = realloc(cls, nc * sizeof *ncls);
                if (!ncls) { free(file); rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", sub); break; }
                cls = ncls;
                cls_cap = nc;
            }
            cls[files.n] = (int32_t)classes.n;
            if (!strvec_push(&files, file)) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", sub);
        }
        strvec_free(&in);
        free(sub);
        if (!rc && !strvec_push(&classes, str_dup(top.v[i]))) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", dir);
    }
    if (!rc && classes.n == 0) rc = cnn_fail(e, CNN_ERR_DATA, "%s: no class sub-directories", dir);
    if (!rc && files.n == 0) rc = cnn_fail(e, CNN_ERR_DATA, "%s: no image files in any of its %zu class directories", dir, classes.n);
    size_t img = (size_t)c * h * w, xbytes = 0; /* c * h * w <= 3 * 2^28 */
    if (!rc && !size_mul(img, files.n, &xbytes))
        rc = cnn_fail(e, CNN_ERR_DATA, "%s: %zu images of %d x %d x %d do not fit in memory", dir, files.n, c, h, w);
    if (!rc) {
        t.x = malloc(xbytes);
        if (!t.x) rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory for %zu images", dir, files.n);
    }
    for (size_t i = 0; !rc && i < files.n; i++) rc = image_load(files.v[i], c, h, w, t.x + i * img, e);
    if (!rc) {
        t.n = (int64_t)files.n;
        t.y = cls;
        cls = NULL;
        t.nclasses = (int)classes.n;
        t.names = classes.v; /* the vector's array, exactly nclasses long */
        classes.v = NULL;
        classes.n = 0;
        *d = t;
    } else {
        free(t.x);
    }
    strvec_free(&top);
    strvec_free(&classes);
    strvec_free(&files);
    free(cls);
    return rc;
}
