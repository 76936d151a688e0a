/* A minimal TAP producer for the unit tests. Each test function is one TAP line; an ASSERT that
 * fails prints a diagnostic and returns from the test function, marking it "not ok".
 *
 *   static void test_x(void) { ASSERT_EQ(1 + 1, 2); }
 *   int main(void) { TEST(test_x); return tap_done(); }
 */
#pragma once

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_count, tap_failed, tap_cur_failed;

#define TAP_FAIL(fmt, ...)                                                                         \
    do {                                                                                           \
        printf("# %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);                             \
        tap_cur_failed = 1;                                                                        \
        return;                                                                                    \
    } while (0)

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            TAP_FAIL("assertion failed: %s", #c);                                                  \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                                           \
        if (_a != _b)                                                                              \
            TAP_FAIL("%s == %s: %jd != %jd", #a, #b, _a, _b);                                      \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0)                                                     \
            TAP_FAIL("%s == %s: '%s' != '%s'", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");    \
    } while (0)

#define ASSERT_STRSTR(hay, needle)                                                                 \
    do {                                                                                           \
        const char *_h = (hay), *_n = (needle);                                                    \
        if (!_h || !strstr(_h, _n))                                                                \
            TAP_FAIL("'%s' does not contain '%s'", _h ? _h : "(null)", _n);                        \
    } while (0)

#define TEST(fn)                                                                                   \
    do {                                                                                           \
        tap_cur_failed = 0;                                                                        \
        fn();                                                                                      \
        tap_count++;                                                                               \
        if (tap_cur_failed)                                                                        \
            tap_failed++;                                                                          \
        printf("%sok %d - %s\n", tap_cur_failed ? "not " : "", tap_count, #fn);                    \
        fflush(stdout);                                                                            \
    } while (0)

static inline int tap_rmtree_entry(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw)
{
    if (remove(path) < 0)
        printf("# cannot remove %s\n", path);
    return 0;
}

/* Removes a test's scratch tree (rm -rf, without a shell). 0, or -1 if anything is left. */
static inline int tap_rmtree(const char *path)
{
    struct stat st;

    (void)nftw(path, tap_rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
    return lstat(path, &st) == 0 ? -1 : 0;
}

/* For tests of what only root can do: without root they fail, never skip (the tests run as
 * root, as CI does). */
static inline void tap_require_root(void)
{
    if (geteuid() != 0) {
        printf("Bail out! needs root: run the tests as root (scripts/test.sh)\n");
        exit(1);
    }
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}
