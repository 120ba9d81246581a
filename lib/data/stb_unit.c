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
 *    claimed size before reading), an empty first IDAT, an unknown critical chunk, and
 *    image data too short to inflate to the size in IHDR (deflate expands at most 1032:1);
 *  - BMP and GIF, which stb decodes from zeros past the end of a truncated file: a BMP
 *    shorter than its rows or of an unknown compression, a GIF whose first image ends
 *    outside the file or whose LZW data cannot fill its size (at most 4096 pixels per
 *    12-bit code); likewise a JPEG smaller than one bit per 8x8 block.
 * stb reads a BMP's palette entries beyond the ones the file defines from an array it never
 * initialised: this unit is built with -ftrivial-auto-var-init=zero, so they read as black. */
#include "../cnn.h"
#include "../core/util.h"
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
        size_t len = rd_be16(b + p), end = p + len;
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
            /* stb decodes a stream that ended early as zeros, to the end of the image: every
             * 8x8 block costs at least one bit of its first scan, whatever the coding */
            uint32_t jh = rd_be16(s + 1), jw = rd_be16(s + 3); /* past the side limit: refused by size */
            if (jh <= CNN_MAX_IMAGE_SIDE && jw <= CNN_MAX_IMAGE_SIDE && (uint64_t)jh * jw > (uint64_t)n * 512 + 65536)
                return stbi__err("too little data", "Corrupt JPEG: too little image data for its size");
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
    uint64_t raw = 0, idat = 0; /* least inflated bytes IHDR implies; IDAT bytes seen */
    while (p + 8 <= n) {
        uint32_t len = rd_be32(b + p);
        if (len > 0x7fffffffu || len + (size_t)12 > n - p) return stbi__err("truncated", "Corrupt PNG: chunk past the end of the file");
        const unsigned char *t = b + p + 4;
        if (!memcmp(t, "IEND", 4)) break;
        if (!memcmp(t, "IHDR", 4) && len >= 13 && !raw) {
            static const int chans[7] = {1, 0, 3, 1, 2, 0, 4};
            uint32_t w = rd_be32(t + 4), h = rd_be32(t + 8), depth = t[12], ct = t[13];
            if (w <= CNN_MAX_IMAGE_SIDE && h <= CNN_MAX_IMAGE_SIDE && depth <= 16 && ct <= 6)
                raw = (uint64_t)h * (((uint64_t)w * depth * chans[ct] + 7) / 8);
        }
        if (!memcmp(t, "IDAT", 4)) {
            if (!len && !data) return stbi__err("empty IDAT", "Corrupt PNG");
            data = 1;
            idat += len;
        }
        /* stb reports an unknown critical chunk by writing its name into a static buffer,
         * a data race between threads: refuse it here with a constant message. */
        if (!(t[0] & 0x20) && memcmp(t, "IHDR", 4) && memcmp(t, "PLTE", 4) && memcmp(t, "IDAT", 4) && memcmp(t, "CgBI", 4))
            return stbi__err("unknown critical PNG chunk", "PNG not supported: unknown PNG chunk type");
        p += 12 + (size_t)len;
    }
    if (data && idat * 1032 + 64 < raw) return stbi__err("too little data", "Corrupt PNG: too little image data for its size");
    return 1;
}

/* An uncompressed BMP needs its rows inside the file (the last row's padding may be
 * missing: some writers leave it out). stb 2.27 refuses only RLE (1, 2) among the
 * compression codes and decodes any other unknown one as plain rows: a 123-byte file with
 * code 0x4d42ff00 claiming 16134 x 2881 took 27 s. Only plain (0) and bit fields (3) pass. */
static int bmp_prescan(const unsigned char *b, size_t n) {
    if (n < 30) return 1;
    uint32_t off = rd_le32(b + 10), hsz = rd_le32(b + 14), compress = 0, bpp;
    int64_t w, h;
    if (hsz == 12) {
        w = rd_le16(b + 18); h = rd_le16(b + 20); bpp = rd_le16(b + 24);
    } else {
        if (n < 34) return 1;
        w = (int32_t)rd_le32(b + 18); h = (int32_t)rd_le32(b + 22); bpp = rd_le16(b + 28); compress = rd_le32(b + 30);
    }
    if (h < 0) h = -h;
    if (w < 1 || h < 1 || w > CNN_MAX_IMAGE_SIDE || h > CNN_MAX_IMAGE_SIDE) return 1; /* refused elsewhere */
    if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124) return 1; /* stb refuses it */
    if (compress != 0 && compress != 3) return stbi__err("BMP compression", "BMP type not supported: compressed");
    if (!(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32))
        return stbi__err("bad bpp", "BMP type not supported: bits per pixel");
    uint64_t row = ((uint64_t)w * bpp + 31) / 32 * 4, need = (uint64_t)off + (uint64_t)(h - 1) * row + ((uint64_t)w * bpp + 7) / 8;
    if (need > n) return stbi__err("truncated", "Corrupt BMP: the file ends before its last row");
    return 1;
}

/* Walks a GIF's blocks up to the end of its first image, the only one stb decodes. */
static int gif_prescan(const unsigned char *b, size_t n) {
    static const char *trunc = "Corrupt GIF: the file ends inside its first image";
    if (n < 13) return stbi__err("truncated", trunc);
    uint64_t screen = (uint64_t)rd_le16(b + 6) * rd_le16(b + 8);
    size_t p = 13 + (b[10] & 0x80 ? 3 * ((size_t)2 << (b[10] & 7)) : 0);
    for (;;) {
        if (p >= n) return stbi__err("truncated", trunc);
        int kind = b[p];
        uint64_t frame = 0;
        if (kind == 0x21) { /* extension: label, then sub-blocks */
            p += 2;
        } else if (kind == 0x2c) { /* image: descriptor, local palette, LZW code size, sub-blocks */
            if (p + 10 > n) return stbi__err("truncated", trunc);
            frame = (uint64_t)rd_le16(b + p + 5) * rd_le16(b + p + 7);
            p += 10 + (b[p + 9] & 0x80 ? 3 * ((size_t)2 << (b[p + 9] & 7)) : 0) + 1;
        } else {
            return 1; /* the trailer or junk: stb reports it */
        }
        uint64_t bytes = 0;
        for (;;) {
            if (p >= n) return stbi__err("truncated", trunc);
            if (!b[p]) { p++; break; }
            bytes += b[p];
            p += 1 + (size_t)b[p];
        }
        if (kind == 0x2c) {
            /* no LZW code stands for more than 4096 pixels and none is shorter than 12 bits
             * once the table is that full: a small file cannot honestly claim a huge image */
            uint64_t most = bytes * 8 / 12 * 4096 + 4096;
            if (frame > most || (screen > ((uint64_t)1 << 20) && screen > most))
                return stbi__err("too little data", "Corrupt GIF: too little image data for its size");
            return 1;
        }
    }
}

static int prescan(const unsigned char *b, size_t n) {
    /* stb takes a file for a JPEG when it opens with 0xFF, any more 0xFF, then 0xD8 (SOI) */
    size_t p = 0;
    while (p < n && b[p] == 0xff) p++;
    if (p > 0 && p < n && b[p] == 0xd8) return jpeg_prescan(b, n, p + 1);
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return png_prescan(b, n);
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return gif_prescan(b, n);
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return bmp_prescan(b, n);
    return 1;
}

/* ---- wrappers ---- */

/* The format of a buffer by stb's own signature tests, run in stb's order. A test that
 * fails may leave a reason ("bad png sig"); it is cleared, so a later decoder that fails
 * without one never shows another format's (a truncated JPEG once read "bad png sig"). */
enum { F_NONE, F_PNG, F_JPEG, F_GIF, F_BMP };
static int format_of(stbi__context *s) {
    int f = stbi__png_test(s) ? F_PNG : stbi__bmp_test(s) ? F_BMP : stbi__gif_test(s) ? F_GIF
          : stbi__jpeg_test(s) ? F_JPEG : F_NONE;
    stbi__g_failure_reason = NULL;
    return f;
}

static int start(stbi__context *s, const unsigned char *buf, size_t len) {
    stbi__g_failure_reason = NULL;
    if (len > INT_MAX) return stbi__err("too large", "file too large");
    if (!prescan(buf, len)) return 0;
    stbi__start_mem(s, buf, (int)len);
    return 1;
}

/* A format recognised by its signature keeps its own failure reason ("too large", "bad
 * IHDR len", ...): stbi_info would go on to try the other formats and leave "unknown image
 * type" instead. */
int stbu_info(const unsigned char *buf, size_t len, int *w, int *h, int *comp) {
    stbi__context s;
    if (!start(&s, buf, len)) return 0;
    switch (format_of(&s)) {
    case F_PNG: return stbi__png_info(&s, w, h, comp);
    case F_JPEG: return stbi__jpeg_info(&s, w, h, comp);
    case F_GIF: return stbi__gif_info(&s, w, h, comp);
    case F_BMP: return stbi__bmp_info(&s, w, h, comp);
    default: return stbi__err("unknown image type", "Image not of any known type, or corrupt");
    }
}

unsigned char *stbu_load(const unsigned char *buf, size_t len, int *w, int *h, int *comp) {
    stbi__context s;
    if (!start(&s, buf, len)) return NULL;
    stbi__result_info ri;
    memset(&ri, 0, sizeof ri);
    ri.bits_per_channel = 8;
    ri.channel_order = STBI_ORDER_RGB;
    void *px;
    switch (format_of(&s)) {
    case F_PNG: px = stbi__png_load(&s, w, h, comp, 0, &ri); break;
    case F_JPEG: px = stbi__jpeg_load(&s, w, h, comp, 0, &ri); break;
    case F_GIF: px = stbi__gif_load(&s, w, h, comp, 0, &ri); break;
    case F_BMP: px = stbi__bmp_load(&s, w, h, comp, 0, &ri); break;
    default: return stbi__errpuc("unknown image type", "Image not of any known type, or corrupt");
    }
    if (px && ri.bits_per_channel == 16) px = stbi__convert_16_to_8(px, *w, *h, *comp);
    return px;
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
