/* ckpt.h - the checkpoint file: self-describing, zlib-compressed, CRC-checked, written
 * atomically (temporary file in the same directory, fsync, rename).
 *
 * Layout (all integers little-endian):
 *   header: magic "CNNCKPT\x1a" (8 bytes), u32 format version, u32 byte-order probe
 *           0x01020304, u64 payload bytes (uncompressed), u64 compressed bytes,
 *           u32 CRC-32 of the compressed bytes, u32 CRC-32 of the header fields before it
 *   body:   the zlib stream of the payload:
 *           str config, str config_name, str meta, u64 epoch, u64 step, u64 seed,
 *           u32 nclasses, nclasses x str, u32 ntensors,
 *           per tensor: str name, u32 ndim, ndim x u64 dims, count x f32
 *   where str = u32 length + bytes (no NUL), and the f32 values of a tensor are byte-shuffled
 *   in blocks of 65536 floats (the last block holds the rest): a block of b floats is b bytes
 *   of byte 0 (least significant) of each float's bits, then b bytes of byte 1, 2, then 3. */
#ifndef CNN_CKPT_H
#define CNN_CKPT_H
#include <stdint.h>
#include "../cnn.h"

#define CKPT_VERSION 1

typedef struct ckpt_tensor {
    char name[128];
    int ndim;
    int64_t dims[4];
    int64_t count;      /* product of dims */
    float *data;
} ckpt_tensor;

typedef struct ckpt {
    char *config;       /* YAML text the model was built from */
    char *config_name;  /* the path that text came from (for messages) */
    char *meta;         /* free-form "key=value\n" lines (e.g. simd=avx2) */
    uint64_t epoch;     /* completed epochs */
    uint64_t step;      /* optimizer steps taken */
    uint64_t seed;
    int nclasses;
    char **classes;     /* nclasses names (may be NULL when nclasses == 0) */
    int ntensors;
    ckpt_tensor *t;
} ckpt;

/* Writes c to path atomically. Reads c only; the caller keeps ownership (pointers in c may
 * be borrowed). On any failure the file at path is untouched and no temporary is left. */
int ckpt_write(const char *path, const ckpt *c, cnn_error *e);
/* Reads and verifies path into c; everything in c is then owned and freed by ckpt_free.
 * Foreign files, other format versions, truncation and CRC mismatches are CNN_ERR_DATA
 * with a message naming the file. On failure c is zeroed. */
int ckpt_read(const char *path, ckpt *c, cnn_error *e);
/* Frees what ckpt_read allocated. */
void ckpt_free(ckpt *c);
/* The tensor with this name, or NULL. */
const ckpt_tensor *ckpt_find(const ckpt *c, const char *name);
#endif
