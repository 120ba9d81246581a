/* check.h - the one assertion macro of the test programs. Each program ends with
 * `return check_done();`, printing "N passed, N failed" and exiting non-zero on failure. */
#ifndef CNN_CHECK_H
#define CNN_CHECK_H
#include <stdio.h>

static int check_pass_, check_fail_;
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) check_pass_++;                                                \
        else {                                                                  \
            check_fail_++;                                                      \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, " " __VA_ARGS__);                                   \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)
static inline int check_done(void) {
    printf("%d passed, %d failed\n", check_pass_, check_fail_);
    return check_fail_ != 0;
}
#endif
