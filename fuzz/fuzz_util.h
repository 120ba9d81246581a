/* fuzz_util.h - what the libFuzzer harnesses of fuzz/ share: a private temporary directory
 * for the files the readers open, writing the fuzz input into it, and the oracle every
 * harness applies to a failed call (a status the caller can act on and one line of message
 * naming the file). tests/test_regress.c includes the harnesses to replay saved inputs, so
 * everything here is static and guarded, and each harness's own names carry its prefix.
 *
 * A contract violation aborts: libFuzzer (or the replay test) then reports the input. */
#ifndef CNN_FUZZ_UTIL_H
#define CNN_FUZZ_UTIL_H
#include "cnn.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir_[512];

static void fuzz_cleanup_(void) {
    if (!fuzz_dir_[0]) return;
    DIR *d = opendir(fuzz_dir_);
    if (d) {
        struct dirent *de;
        char p[1024];
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", fuzz_dir_, de->d_name);
                if (unlink(p) != 0) { /* a directory a harness made: one level deep at most */
                    DIR *s = opendir(p);
                    struct dirent *se;
                    char q[1536];
                    while (s && (se = readdir(s)))
                        if (se->d_name[0] != '.') {
                            snprintf(q, sizeof q, "%s/%s", p, se->d_name);
                            unlink(q);
                        }
                    if (s) closedir(s);
                    rmdir(p);
                }
            }
        closedir(d);
    }
    rmdir(fuzz_dir_);
    fuzz_dir_[0] = 0;
}

/* A directory of our own, in /dev/shm when there is one (no disk I/O per execution),
 * removed at exit. Aborts if none can be made: nothing could be tested. */
static inline const char *fuzz_dir(void) {
    if (fuzz_dir_[0]) return fuzz_dir_;
    const char *bases[3] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
    for (int i = 0; i < 3 && !fuzz_dir_[0]; i++) {
        if (!bases[i] || !bases[i][0]) continue;
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/cnn-fuzz-XXXXXX", bases[i]);
        if (!mkdtemp(fuzz_dir_)) fuzz_dir_[0] = 0;
    }
    if (!fuzz_dir_[0]) {
        fprintf(stderr, "fuzz: cannot create a temporary directory\n");
        abort();
    }
    atexit(fuzz_cleanup_);
    return fuzz_dir_;
}

/* Writes n bytes to NAME in the private directory; returns its path (a static buffer per
 * slot: 0..3). Aborts on a write error: the harness would test nothing. */
static inline const char *fuzz_write(int slot, const char *name, const void *data, size_t n) {
    static char paths[4][1024];
    char *p = paths[slot & 3];
    snprintf(p, sizeof paths[0], "%s/%s", fuzz_dir(), name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const unsigned char *b = data;
    size_t done = 0;
    while (fd >= 0 && done < n) {
        ssize_t w = write(fd, b + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    if (fd < 0 || done != n || close(fd) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", p);
        abort();
    }
    return p;
}

/* The oracle for a call that returned rc and filled e: success leaves rc 0; a failure
 * returns the same code it stores, one of the documented ones (`allowed` is a mask of
 * 1 << code), with a non-empty message that fits the buffer and, for config and data
 * errors, names the file (`name`, which may be NULL to skip that check). */
static inline void fuzz_check(const char *what, int rc, const cnn_error *e, unsigned allowed, const char *name) {
    if (rc == 0) return;
    const char *bad = NULL;
    size_t len = strnlen(e->msg, sizeof e->msg);
    if (rc < 0 || rc > 31 || !(allowed & (1u << rc))) bad = "status not allowed here";
    else if (e->code != rc) bad = "returned status differs from the one in the error";
    else if (len == 0) bad = "empty message";
    else if (len == sizeof e->msg) bad = "message not NUL-terminated";
    else if (name && rc != CNN_ERR_RUNTIME && !strstr(e->msg, name)) bad = "message does not name the file";
    if (bad) {
        fprintf(stderr, "fuzz: %s: %s (rc %d, code %d): %.300s\n", what, bad, rc, e->code, e->msg);
        abort();
    }
}

#define FUZZ_CODE(c) (1u << (c))

/* 1 when the comma-separated list in $FUZZ_KNOWN names this open finding (an id of
 * docs/robustness.md): a harness then relaxes the one check that finding trips, so a long
 * run can look for other findings. CI and the replay test never set it. */
static inline int fuzz_known(const char *id) {
    const char *k = getenv("FUZZ_KNOWN");
    size_t n = strlen(id);
    for (const char *p = k; p && *p;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == n && !memcmp(p, id, n)) return 1;
        p = q ? q + 1 : NULL;
    }
    return 0;
}
#endif
