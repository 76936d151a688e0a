/* fd, path, string and number helpers shared by every program. libc only. */
#pragma once

#include <sys/types.h>

#include "common/err.h"

/* This build's architecture as Go (and so Docker and OCI) names it. */
#if defined(__x86_64__)
#define ISO_GO_ARCH "amd64"
#elif defined(__aarch64__)
#define ISO_GO_ARCH "arm64"
#elif defined(__arm__)
#define ISO_GO_ARCH "arm"
#elif defined(__i386__)
#define ISO_GO_ARCH "386"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ISO_GO_ARCH "ppc64le"
#elif defined(__s390x__)
#define ISO_GO_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define ISO_GO_ARCH "riscv64"
#else
#define ISO_GO_ARCH "unknown"
#endif

/* Parses a Docker-style host address: "unix:///path" or a bare absolute "/path". Only unix
 * sockets exist here; tcp:// and others fail with EINVAL. *ret_path is malloc'd. */
int iso_host_parse(const char *host, char **ret_path, struct iso_err *err);

/* "10", "10k", "64m", "1g", "512b" (1024-based, case-insensitive) -> bytes. */
int iso_parse_size(const char *s, uint64_t *ret);
/* "1/true/yes/on" and "0/false/no/off" (case-insensitive); "" counts as false. */
int iso_parse_bool(const char *s, bool *ret);
/* Whole decimal number within [min, max]. */
int iso_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Writes or reads exactly len bytes, retrying short transfers and EINTR. read_all returns the
 * byte count, which is less than len only at end of file. */
int iso_write_all(int fd, const void *buf, size_t len);
ssize_t iso_read_all(int fd, void *buf, size_t len);

/* Reads a whole file (relative to dirfd, AT_FDCWD allowed) into a NUL-terminated buffer of at
 * most max bytes: -EFBIG past that. */
int iso_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);

/* mkdir -p with mode for each created component. Existing directories are fine. */
int iso_mkdir_p(const char *path, mode_t mode);

/* Monotonic and wall clocks in nanoseconds. */
uint64_t iso_now_mono_ns(void);
uint64_t iso_now_real_ns(void);

/* Formats a wall-clock time as RFC 3339 with nanoseconds, UTC ("2026-11-22T07:50:01.123456789Z").
 */
void iso_format_rfc3339(uint64_t real_ns, char *buf, size_t size);

/* Allocating printf; NULL on OOM. */
char *iso_strprintf(const char *fmt, ...) _printf_(1, 2);
