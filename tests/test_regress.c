/* test_regress.c - replays the fuzzers' inputs through the same harnesses, in the normal
 * (and the sanitized) test build: every seed of fuzz/corpus/NAME/ and every finding kept in
 * tests/regress/NAME/ (minimised by `make fuzz-minimize`, see docs/robustness.md). Each
 * harness aborts on a contract violation (a wrong status, a message that does not name the
 * file, an inconsistent data set, a model that does not reload) and the sanitizers catch
 * memory errors and leaks. Each input runs in a child process, so one failure does not hide
 * the others, and each failing input is named. Run from the repository root. */
#include "check.h"
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define LLVMFuzzerTestOneInput fuzz_config_one
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "../fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "../fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_cifar_one
#include "../fuzz/fuzz_cifar.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_image_one
#include "../fuzz/fuzz_image.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_ckpt_one
#include "../fuzz/fuzz_ckpt.c"
#undef LLVMFuzzerTestOneInput

typedef int (*harness_fn)(const uint8_t *, size_t);
static const struct { const char *name; harness_fn fn; } harnesses[] = {
    {"config", fuzz_config_one}, {"idx", fuzz_idx_one},     {"csv", fuzz_csv_one},
    {"cifar", fuzz_cifar_one},   {"image", fuzz_image_one}, {"ckpt", fuzz_ckpt_one},
};

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        len += fread(b + len, 1, cap - len, f);
        if (len < cap) break;
        unsigned char *nb = realloc(b, cap * 2);
        if (!nb) { free(b); b = NULL; break; }
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(b); return NULL; }
    *n = len;
    return b;
}

/* Runs one input through fn in a child process (which exits normally, so LeakSanitizer
 * and the harness's clean-up run); returns 1 if it passed. */
static int replay_one(const char *path, harness_fn fn) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        size_t n = 0;
        unsigned char *b = slurp(path, &n);
        if (!b) _exit(99);
        fn(b, n);
        free(b);
        exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
    fprintf(stderr, "test_regress: %s: %s %d\n", path, WIFSIGNALED(st) ? "killed by signal" : "exit status",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return 0;
}

/* The names being replayed: static, so that LeakSanitizer in a child sees them as reachable. */
static char **names;

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every regular file of dir through fn, in name order; returns how many, or -1 if dir
 * is missing. The directory is closed before any child starts (it would count as a leak). */
static int replay_dir(const char *dir, harness_fn fn) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t n = 0, cap = 0;
    names = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        if (!(names[n] = malloc(len))) break;
        snprintf(names[n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            CHECK(replay_one(names[i], fn), "%s: the harness failed (see above)", names[i]);
            count++;
        }
        free(names[i]);
    }
    free(names);
    names = NULL;
    return count;
}

int main(void) {
    int total = 0;
    for (size_t h = 0; h < sizeof harnesses / sizeof *harnesses; h++) {
        char dir[256];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", harnesses[h].name);
        int seeds = replay_dir(dir, harnesses[h].fn);
        CHECK(seeds > 0, "no seeds in %s (run the tests from the repository root)", dir);
        snprintf(dir, sizeof dir, "tests/regress/%s", harnesses[h].name);
        int found = replay_dir(dir, harnesses[h].fn);
        printf("%-6s %3d seeds, %3d regression inputs\n", harnesses[h].name, seeds, found < 0 ? 0 : found);
        total += (seeds > 0 ? seeds : 0) + (found > 0 ? found : 0);
    }
    CHECK(total > 0, "nothing replayed");
    return check_done();
}
