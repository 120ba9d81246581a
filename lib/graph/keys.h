/* keys.h - schema-driven reading of YAML mappings into C structs. Every config section
 * and every layer type declares a table of keys (name, type, default, range, help), which
 * is at once the validator, the single table of defaults and the documentation
 * (`cnn help config`). Unknown keys, wrong types and out-of-range values are errors at
 * file:line:col, with "did you mean" for near misses. */
#ifndef CNN_KEYS_H
#define CNN_KEYS_H
#include <stddef.h>
#include "ytree.h"

typedef enum {
    K_INT,      /* int */
    K_INT2,     /* int[2]: a number (both) or [h, w] */
    K_NUM,      /* double */
    K_BOOL,     /* int 0/1: true/false/yes/no/on/off */
    K_ENUM,     /* int: index into choices "a|b|c" */
    K_PAD2,     /* int[2]: same (-1), valid (0) or a number or [h, w] */
    K_STR,      /* const char *, borrowed from the tree */
    K_STRS,     /* strlist: a string or a list of strings */
    K_NUMS,     /* numlist: a number or a list of up to NUMLIST_MAX numbers */
    K_MAP,      /* a nested mapping read by the caller (offset unused) */
    K_SEQ,      /* a list read by the caller (offset unused) */
} ktype;

#define NUMLIST_MAX 16
typedef struct numlist { int n; double v[NUMLIST_MAX]; } numlist;
typedef struct strlist { int n; const ynode *seq; const char *one; } strlist;
/* Item i of a string list (borrowed). */
const char *strlist_at(const strlist *l, int i);

typedef struct keyspec {
    const char *key;
    ktype type;
    size_t off;             /* offset of the field in the target struct */
    const char *def;        /* default, as YAML text ("" = none: empty list or NULL string) */
    double lo, hi;          /* inclusive range for numbers (and each item of lists) */
    const char *choices;    /* K_ENUM: "a|b|c" */
    const char *doc;
} keyspec;

/* Sets every field of obj to its default. */
void keys_defaults(const keyspec *spec, void *obj);
/* Reads map into obj (defaults first). `extra` lists keys the caller handles itself
 * (NULL-terminated, may be NULL). Every other key must be in spec. */
int keys_read(const keyspec *spec, void *obj, ynode *map, const char *const *extra,
              const char *file, const char *what, cnn_error *e);
/* Reads one scalar value of the given spec into obj (used by keys_read). */
int keys_read_one(const keyspec *k, void *obj, ynode *v, const char *file, cnn_error *e);
/* The nearest of `cands` (NULL-terminated) to word within edit distance 2, or NULL. */
const char *keys_nearest(const char *word, const char *const *cands);
/* "did you mean" over a spec plus extra keys; NULL when nothing is near. */
const char *keys_suggest(const char *word, const keyspec *spec, const char *const *extra);
#endif
