/* Small language helpers used everywhere: cleanup attributes, ownership transfer. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_       __attribute__((unused))
#define _noreturn_     __attribute__((noreturn))

static inline void freep(void *p)
{
    free(*(void **)p);
}

/* Closes an fd if valid, preserving errno; returns -1 so callers can write fd = safe_close(fd). */
static inline int safe_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        (void)close(fd);
        errno = saved;
    }
    return -1;
}

/* Closes both ends of a pipe or socket pair (either may be -1) and sets them to -1. */
static inline void safe_close_pair(int fds[2])
{
    fds[0] = safe_close(fds[0]);
    fds[1] = safe_close(fds[1]);
}

static inline void closep(int *fd)
{
    safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
    if (*f)
        (void)fclose(*f);
}

#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand a pointer or fd on to a new owner: the local variable forgets it. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _p = (p);                                                                    \
        (p) = NULL;                                                                                \
        _p;                                                                                        \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _fd = (fd);                                                                            \
        (fd) = -1;                                                                                 \
        _fd;                                                                                       \
    })

#define streq(a, b)     (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

/* Retry a syscall interrupted by a signal. */
#define RETRY_EINTR(expr)                                                                          \
    ({                                                                                             \
        __typeof__(expr) _r;                                                                       \
        do                                                                                         \
            _r = (expr);                                                                           \
        while (_r < 0 && errno == EINTR);                                                          \
        _r;                                                                                        \
    })
