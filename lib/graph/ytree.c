/* ytree.c - builds the ynode tree from libyaml events. */
#include "ytree.h"
#include "../core/err.h"
#include "../core/util.h"
#include <string.h>
#include <yaml.h>

ynode *ytree_new(ykind kind, int line, int col) {
    ynode *n = calloc(1, sizeof *n);
    if (n) { n->kind = kind; n->line = line; n->col = col; }
    return n;
}

void ytree_free(ynode *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        if (n->keys) ytree_free(n->keys[i]);
        ytree_free(n->vals[i]);
    }
    free(n->keys);
    free(n->vals);
    free(n->str);
    free(n);
}

static int grow(ynode *p) {
    if (p->n < p->cap) return 1;
    int cap = p->cap ? p->cap * 2 : 4;
    ynode **v = realloc(p->vals, (size_t)cap * sizeof *v);
    if (!v) return 0;
    p->vals = v;
    if (p->kind == Y_MAP) {
        ynode **k = realloc(p->keys, (size_t)cap * sizeof *k);
        if (!k) return 0;
        p->keys = k;
    }
    p->cap = cap;
    return 1;
}

int ytree_put(ynode *map, ynode *key, ynode *val) {
    if (!grow(map)) return 0;
    map->keys[map->n] = key;
    map->vals[map->n++] = val;
    return 1;
}

ynode *ytree_get(ynode *map, const char *key) {
    if (!map || map->kind != Y_MAP) return NULL;
    for (int i = map->n - 1; i >= 0; i--) /* last wins, so --set overrides */
        if (!strcmp(map->keys[i]->str, key)) {
            map->keys[i]->used = 1;
            return map->vals[i];
        }
    return NULL;
}

typedef struct {
    ynode *stack[CNN_MAX_YAML_DEPTH + 1];
    ynode *pending_key[CNN_MAX_YAML_DEPTH + 1]; /* a map's key waiting for its value */
    int depth, nodes;
    ynode *root;
} builder;

/* Attaches a finished node to the open container (or makes it the root). */
static int attach(builder *b, ynode *n, const char *name, cnn_error *e) {
    if (b->depth == 0) { b->root = n; return 0; }
    ynode *p = b->stack[b->depth - 1];
    if (p->kind == Y_SEQ) {
        if (!grow(p)) goto oom;
        p->vals[p->n++] = n;
        return 0;
    }
    ynode **pk = &b->pending_key[b->depth - 1];
    if (!*pk) {
        if (n->kind != Y_SCALAR) {
            int code = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: a key must be a plain word", name, n->line, n->col);
            ytree_free(n);
            return code;
        }
        for (int i = 0; i < p->n; i++)
            if (!strcmp(p->keys[i]->str, n->str)) {
                int code = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: key '%s' appears twice (first at line %d)", name,
                                    n->line, n->col, n->str, p->keys[i]->line);
                ytree_free(n);
                return code;
            }
        *pk = n;
        return 0;
    }
    if (!ytree_put(p, *pk, n)) goto oom;
    *pk = NULL;
    return 0;
oom:
    ytree_free(n);
    return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name);
}

int ytree_parse(const char *text, size_t len, const char *name, ynode **out, cnn_error *e) {
    *out = NULL;
    if (memchr(text, 0, len))
        return cnn_fail(e, CNN_ERR_CONFIG, "%s: not a YAML text file (it contains NUL bytes)", name);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    builder b;
    memset(&b, 0, sizeof b);
    int rc = 0, docs = 0, done = 0;
    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: YAML syntax error: %s%s%s", name,
                          (int)p.problem_mark.line + 1, (int)p.problem_mark.column + 1,
                          p.problem ? p.problem : "unknown", p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        ynode *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: only one YAML document is allowed", name, line, col);
            break;
        case YAML_ALIAS_EVENT:
            rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: YAML aliases (*name) are not supported in model files", name, line, col);
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.anchor) {
                rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: YAML anchors (&name) are not supported in model files", name, line, col);
                break;
            }
            if (++b.nodes > CNN_MAX_YAML_NODES) {
                rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: more than %d YAML nodes", name, line, col, CNN_MAX_YAML_NODES);
                break;
            }
            n = ytree_new(Y_SCALAR, line, col);
            if (n) n->str = str_dup((const char *)ev.data.scalar.value);
            if (!n || !n->str) { ytree_free(n); rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name); break; }
            n->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                        ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            rc = attach(&b, n, name, e);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *anchor = ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                                          : ev.data.mapping_start.anchor;
            if (anchor) {
                rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: YAML anchors (&name) are not supported in model files", name, line, col);
                break;
            }
            if (b.depth >= CNN_MAX_YAML_DEPTH) {
                rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: nested deeper than %d levels", name, line, col, CNN_MAX_YAML_DEPTH);
                break;
            }
            if (++b.nodes > CNN_MAX_YAML_NODES) {
                rc = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: more than %d YAML nodes", name, line, col, CNN_MAX_YAML_NODES);
                break;
            }
            n = ytree_new(ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP, line, col);
            if (!n) { rc = cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name); break; }
            b.pending_key[b.depth] = NULL;
            b.stack[b.depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            n = b.stack[--b.depth];
            b.stack[b.depth] = NULL;
            rc = attach(&b, n, name, e);
            break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    /* On error free whatever is still open: open containers own their finished children. */
    for (int i = b.depth - 1; i >= 0; i--) {
        ytree_free(b.pending_key[i]);
        ytree_free(b.stack[i]);
    }
    if (rc) { ytree_free(b.root); return rc; }
    if (!b.root || (b.root->kind == Y_SCALAR && b.root->str[0] == 0 && !b.root->quoted)) {
        ytree_free(b.root);
        b.root = ytree_new(Y_MAP, 1, 1);
        if (!b.root) return cnn_fail(e, CNN_ERR_RUNTIME, "%s: out of memory", name);
    }
    if (b.root->kind != Y_MAP) {
        int code = cnn_fail(e, CNN_ERR_CONFIG, "%s:%d:%d: the model file must be a mapping of keys (name:, input:, layers:, ...)",
                            name, b.root->line, b.root->col);
        ytree_free(b.root);
        return code;
    }
    *out = b.root;
    return 0;
}
