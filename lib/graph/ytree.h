/* ytree.h - a small YAML document tree built from libyaml's event stream, with the
 * position of every node for error messages. Anchors and aliases are refused (they are
 * how "billion laughs" bombs are written, and a model file has no use for them), and
 * depth and node count are bounded. */
#ifndef CNN_YTREE_H
#define CNN_YTREE_H
#include <stddef.h>
#include "../cnn.h"

typedef enum { Y_SCALAR, Y_MAP, Y_SEQ } ykind;

typedef struct ynode ynode;
struct ynode {
    ykind kind;
    int line, col;          /* 1-based position in the file */
    char *str;              /* Y_SCALAR: the text; owned */
    int quoted;             /* Y_SCALAR: written in quotes (so never a number or bool) */
    int n, cap;             /* Y_MAP: entries; Y_SEQ: items */
    ynode **keys;           /* Y_MAP: n scalar key nodes; owned */
    ynode **vals;           /* Y_MAP values / Y_SEQ items; owned */
    int used;               /* set by the schema reader when a map entry is consumed */
};

/* Parses text (len bytes) named `name` in messages. An empty document is an empty map. */
int ytree_parse(const char *text, size_t len, const char *name, ynode **out, cnn_error *e);
void ytree_free(ynode *n);
/* The value under key in a map, or NULL; marks the key used. */
ynode *ytree_get(ynode *map, const char *key);
ynode *ytree_new(ykind kind, int line, int col);
/* Appends key: val to map (takes ownership of both); 0 on out of memory. */
int ytree_put(ynode *map, ynode *key, ynode *val);
#endif
