/* stb_unit.c - the single translation unit holding stb_image and stb_image_write
 * (Debian's libstb-dev). Third-party code: built with -w. Every stbi function is static
 * here; the data readers reach them only through the wrappers of stb_unit.h.
 *
 * Formats: JPEG, PNG, BMP, GIF. TGA (no signature: any junk may pass for one), PNM, PSD,
 * HDR and PIC are left out to keep the decoder surface that hostile files reach small.
 *
 * Debian ships stb_image 2.27, which lacks the hostile-input fixes of 2.28. Before stb
 * sees a file, a structural pre-scan rejects what those fixes guard against:
 *  - JPEG: a DHT table of more than 256 codes (writes past stbi__huffman arrays), a scan
 *    using a Huffman or quantisation table never defined (its lookup would index out of
 *    bounds), a second frame or a scan before the frame;
 *  - PNG: a chunk claiming more bytes than the file holds (stb grows its buffer to the
 *    claimed size before reading), an empty first IDAT, an unknown critical chunk. */
#include "../cnn.h"
#include "stb_unit.h"
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define STBI_MAX_DIMENSIONS CNN_MAX_IMAGE_SIDE
/* Zeroed allocations: stb 2.27 leaves its JPEG decoder state and progressive-JPEG
 * coefficients uninitialised, which would make a corrupt file decode differently each
 * time (and show heap contents). */
#define STBI_MALLOC(sz) calloc(1, (sz))
#define STBI_REALLOC(p, sz) realloc((p), (sz))
#define STBI_FREE(p) free(p)
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
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

/* ---- pre-scans ---- */

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }

/* Walks the JPEG marker segments from offset p (after SOI) the way stb_image 2.27 does
 * (bytes between segments are skipped up to the next 0xFF; entropy-coded data ends at the
 * first 0xFF followed by a byte that is not 0x00, 0xFF or a restart marker), so every
 * segment stb will parse is seen here first. Returns 0 with a failure reason for a file
 * stb must not see. */
static int jpeg_prescan(const unsigned char *b, size_t n, size_t p) {
    int dc[4] = {0}, ac[4] = {0}, dq[4] = {0}, frame = 0, progressive = 0, ncomp = 0;
    int comp_id[4] = {0}, comp_tq[4] = {0};
    for (;;) {
        while (p < n && b[p] != 0xff) p++;
        while (p < n && b[p] == 0xff) p++;
        if (p >= n) return 1; /* stb reports the missing end itself */
        int m = b[p++];
        if (m == 0xd9) return 1;                            /* EOI */
        if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) continue; /* RSTn, TEM: no length */
        if (p + 2 > n) return 1;
        size_t len = be16(b + p), end = p + len;
        if (len < 2) return stbi__err("bad marker len", "Corrupt JPEG");
        const unsigned char *s = b + p + 2;
        size_t avail = end <= n ? len - 2 : (p + 2 <= n ? n - p - 2 : 0);
        if (m == 0xc4) { /* DHT: stb reads tables while its length lasts, even past the
                          * segment (and reads 0 past the end of the file) */
            long left = (long)len - 2;
            size_t q = p + 2;
            while (left > 0) {
                int hdr = q < n ? b[q] : 0, cnt = 0;
                for (size_t i = 1; i <= 16; i++) cnt += q + i < n ? b[q + i] : 0;
                if (hdr >> 4 > 1 || (hdr & 15) > 3) return stbi__err("bad DHT header", "Corrupt JPEG");
                if (cnt > 256) return stbi__err("bad DHT header", "Corrupt JPEG");
                if (hdr >> 4) ac[hdr & 15] = 1; else dc[hdr & 15] = 1;
                q += 17 + (size_t)cnt;
                left -= 17 + cnt;
            }
        } else if (m == 0xdb) { /* DQT */
            size_t q = 0;
            while (q < avail) {
                int pq = s[q] >> 4, tq = s[q] & 15;
                if (pq > 1 || tq > 3) return stbi__err("bad DQT", "Corrupt JPEG");
                dq[tq] = 1;
                q += 1 + (pq ? 128 : 64);
            }
        } else if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) { /* SOFn */
            if (frame) return stbi__err("two frames", "Corrupt JPEG");
            frame = 1;
            progressive = m == 0xc2;
            if (avail < 6) return 1; /* stb rejects the short header */
            ncomp = s[5];
            if (ncomp < 1 || ncomp > 4 || avail < 6 + 3 * (size_t)ncomp) return 1;
            for (int i = 0; i < ncomp; i++) {
                comp_id[i] = s[6 + 3 * i];
                comp_tq[i] = s[8 + 3 * i] & 3; /* stb rejects tq > 3 */
            }
        } else if (m == 0xda) { /* SOS: the tables this scan decodes with must exist */
            if (!frame) return stbi__err("SOS before SOF", "Corrupt JPEG");
            if (avail < 1) return 1;
            int ns = s[0];
            if (avail < 1 + 2 * (size_t)ns + 3) return 1;
            int ss = s[1 + 2 * ns], ah = s[3 + 2 * ns] >> 4;
            for (int i = 0; i < ncomp; i++)
                if (!dq[comp_tq[i]]) return stbi__err("no DQT", "Corrupt JPEG: undefined quantization table");
            for (int i = 0; i < ns; i++) {
                int td = s[2 + 2 * i] >> 4, ta = s[2 + 2 * i] & 15, known = 0;
                for (int c = 0; c < ncomp; c++) known |= comp_id[c] == s[1 + 2 * i];
                if (!known || td > 3 || ta > 3) return 1; /* stb rejects these */
                int need_dc = !progressive || (ss == 0 && ah == 0), need_ac = !progressive || ss > 0;
                if ((need_dc && !dc[td]) || (need_ac && !ac[ta]))
                    return stbi__err("no DHT", "Corrupt JPEG: undefined Huffman table");
            }
            /* entropy-coded data: up to 0xFF followed by a real marker */
            p = end;
            for (;;) {
                while (p < n && b[p] != 0xff) p++;
                if (p + 1 >= n) return 1;
                size_t f = p + 1;
                while (f < n && b[f] == 0xff) f++;
                if (f >= n) return 1;
                if (b[f] == 0x00 || (b[f] >= 0xd0 && b[f] <= 0xd7)) { p = f + 1; continue; }
                p = f - 1; /* at the last 0xFF before the marker */
                break;
            }
            continue;
        }
        p = end;
    }
}

/* Every PNG chunk must lie inside the file. An empty IDAT before any image data is
 * refused too: no encoder writes one, and stb would memcpy to its still-NULL buffer. */
static int png_prescan(const unsigned char *b, size_t n) {
    size_t p = 8;
    int data = 0;
    while (p + 8 <= n) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (len > 0x7fffffffu || len + (size_t)12 > n - p) return stbi__err("truncated", "Corrupt PNG: chunk past the end of the file");
        if (!memcmp(b + p + 4, "IEND", 4)) return 1;
        const unsigned char *t = b + p + 4;
        if (!memcmp(t, "IDAT", 4)) {
            if (!len && !data) return stbi__err("empty IDAT", "Corrupt PNG");
            data = 1;
        }
        /* stb reports an unknown critical chunk by writing its name into a static buffer,
         * a data race between threads: refuse it here with a constant message. */
        if (!(t[0] & 0x20) && memcmp(t, "IHDR", 4) && memcmp(t, "PLTE", 4) && memcmp(t, "IDAT", 4) && memcmp(t, "CgBI", 4))
            return stbi__err("unknown critical PNG chunk", "PNG not supported: unknown PNG chunk type");
        p += 12 + (size_t)len;
    }
    return 1;
}

static int prescan(const unsigned char *b, size_t n) {
    /* stb takes a file for a JPEG when it opens with 0xFF, any more 0xFF, then 0xD8 (SOI) */
    size_t p = 0;
    while (p < n && b[p] == 0xff) p++;
    if (p > 0 && p < n && b[p] == 0xd8) return jpeg_prescan(b, n, p + 1);
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return png_prescan(b, n);
    return 1;
}

/* ---- wrappers ---- */

int stbu_info(const unsigned char *buf, size_t len, int *w, int *h, int *comp) {
    stbi__g_failure_reason = NULL; /* some failures set no reason: never show a stale one */
    if (len > INT_MAX) { stbi__err("too large", "file too large"); return 0; }
    if (!prescan(buf, len)) return 0;
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
    stbi__g_failure_reason = NULL;
    if (len > INT_MAX) { stbi__err("too large", "file too large"); return NULL; }
    if (!prescan(buf, len)) return NULL;
    return stbi_load_from_memory(buf, (int)len, w, h, comp, 0);
}

void stbu_free(void *p) { stbi_image_free(p); }

const char *stbu_failure(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "corrupt file";
}

int stbu_write_png(void (*write)(void *ctx, void *data, int size), void *ctx,
                   int w, int h, int comp, const unsigned char *px, int stride) {
    return stbi_write_png_to_func(write, ctx, w, h, comp, px, stride);
}
