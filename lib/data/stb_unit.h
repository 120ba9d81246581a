/* stb_unit.h - the few entry points of stb_image / stb_image_write that the data readers
 * use. The stb code itself is compiled once, privately, in stb_unit.c (with
 * STBI_MAX_DIMENSIONS = CNN_MAX_IMAGE_SIDE and no stdio), so no stbi_ symbol leaves it. */
#ifndef CNN_STB_UNIT_H
#define CNN_STB_UNIT_H
#include <stddef.h>

/* Reads only the header of an encoded image in buf[0..len): 1 and *w, *h, *comp (channels
 * in the file, 1..4) on success; 0 when the format is unknown, the header is corrupt, or
 * a side exceeds CNN_MAX_IMAGE_SIDE (stbu_failure() then says why). len must fit an int. */
int stbu_info(const unsigned char *buf, size_t len, int *w, int *h, int *comp);
/* Decodes buf[0..len) to 8-bit interleaved pixels with the file's own channel count *comp
 * (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); palettes are expanded, 16-bit samples reduced,
 * only the first frame of an animated GIF is kept. Returns an owned buffer freed with
 * stbu_free, or NULL (stbu_failure() says why). */
unsigned char *stbu_load(const unsigned char *buf, size_t len, int *w, int *h, int *comp);
void stbu_free(void *p);
/* The reason for the calling thread's last failure, a short static string. */
const char *stbu_failure(void);

/* Encodes a w x h interleaved 8-bit image with comp channels (rows stride bytes apart)
 * as PNG, handing the bytes to write(ctx, data, size) in order. Returns 1, or 0 when out
 * of memory. */
int stbu_write_png(void (*write)(void *ctx, void *data, int size), void *ctx,
                   int w, int h, int comp, const unsigned char *px, int stride);
#endif
