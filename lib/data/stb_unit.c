/* stb_unit.c - the single translation unit holding stb_image and stb_image_write
 * (Debian's libstb-dev). Third-party code: built with -w. Every stbi function is static
 * here; the data readers reach them only through the wrappers of stb_unit.h.
 * Formats: JPEG, PNG, BMP, GIF, TGA, PNM (PSD, HDR and PIC are left out to keep the
 * decoder surface that hostile files can reach small). */
#include "../cnn.h"
#include "stb_unit.h"
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#define STBI_MAX_DIMENSIONS CNN_MAX_IMAGE_SIDE
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

/* PNG output deflates with zlib: faster and smaller than stb's own compressor. */
static unsigned char *stbu_zlib_compress(unsigned char *data, int len, int *out_len, int quality) {
    (void)quality;
    uLongf cap = compressBound((uLong)len);
    unsigned char *out = malloc(cap ? cap : 1);
    if (!out) return NULL;
    if (compress2(out, &cap, data, (uLong)len, 6) != Z_OK || cap > INT_MAX) { free(out); return NULL; }
    *out_len = (int)cap;
    return out;
}
#define STBIW_ZLIB_COMPRESS stbu_zlib_compress
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

int stbu_info(const unsigned char *buf, size_t len, int *w, int *h, int *comp) {
    if (len > INT_MAX) { stbi__err("too large", "file too large"); return 0; }
    /* A format recognised by its signature keeps its own failure reason ("too large",
     * "bad IHDR len", ...): stbi_info would go on to try the other formats and leave
     * "unknown image type" instead. */
    stbi__context s;
    stbi__start_mem(&s, buf, (int)len);
    if (stbi__png_test(&s)) return stbi__png_info(&s, w, h, comp);
    if (stbi__jpeg_test(&s)) return stbi__jpeg_info(&s, w, h, comp);
    if (stbi__gif_test(&s)) return stbi__gif_info(&s, w, h, comp);
    if (stbi__bmp_test(&s)) return stbi__bmp_info(&s, w, h, comp);
    return stbi_info_from_memory(buf, (int)len, w, h, comp);
}

unsigned char *stbu_load(const unsigned char *buf, size_t len, int *w, int *h, int *comp) {
    if (len > INT_MAX) { stbi__err("too large", "file too large"); return NULL; }
    return stbi_load_from_memory(buf, (int)len, w, h, comp, 0);
}

void stbu_free(void *p) { stbi_image_free(p); }

const char *stbu_failure(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "unknown error";
}

int stbu_write_png(void (*write)(void *ctx, void *data, int size), void *ctx,
                   int w, int h, int comp, const unsigned char *px, int stride) {
    return stbi_write_png_to_func(write, ctx, w, h, comp, px, stride);
}
