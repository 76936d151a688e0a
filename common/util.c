#include "common/util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

int iso_host_parse(const char *host, char **ret_path, struct iso_err *err)
{
    const char *path = host;
    struct sockaddr_un sa;

    if (strneq(host, "unix://", 7))
        path = host + 7;
    else if (strstr(host, "://"))
        return iso_err_set(
            err, EINVAL, "unsupported host '%s': isod listens on unix sockets only (unix:///path)",
            host);
    if (path[0] != '/')
        return iso_err_set(err, EINVAL, "invalid host '%s': the socket path must be absolute",
                           host);
    if (strlen(path) >= sizeof(sa.sun_path))
        return iso_err_set(err, ENAMETOOLONG,
                           "invalid host '%s': socket path longer than %zu bytes", host,
                           sizeof(sa.sun_path) - 1);

    char *p = strdup(path);
    if (!p)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret_path = p;
    return 0;
}

int iso_parse_size(const char *s, uint64_t *ret)
{
    char *end;
    uint64_t mult = 1;

    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    switch (*end) {
    case '\0':
    case 'b':
    case 'B':
        break;
    case 'k':
    case 'K':
        mult = 1ULL << 10;
        break;
    case 'm':
    case 'M':
        mult = 1ULL << 20;
        break;
    case 'g':
    case 'G':
        mult = 1ULL << 30;
        break;
    default:
        return -EINVAL;
    }
    if (*end) {
        end++;
        /* Docker also takes "64mb", "1gb". */
        if (mult > 1 && (*end == 'b' || *end == 'B'))
            end++;
        if (*end)
            return -EINVAL;
    }
    if (v > UINT64_MAX / mult)
        return -ERANGE;
    *ret = v * mult;
    return 0;
}

int iso_parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"", "0", "false", "no", "off"};

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    return -EINVAL;
}

int iso_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    char *end;

    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int iso_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t iso_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int iso_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 4096;

    fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max + 1)
                return -EFBIG;
            char *n = realloc(buf, cap * 2);
            if (!n)
                return -ENOMEM;
            buf = n;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return -EFBIG;
    }
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int iso_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];

    if (strlen(path) >= sizeof(buf))
        return -ENAMETOOLONG;
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static uint64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t iso_now_mono_ns(void)
{
    return now_ns(CLOCK_MONOTONIC);
}

uint64_t iso_now_real_ns(void)
{
    return now_ns(CLOCK_REALTIME);
}

void iso_format_rfc3339(uint64_t real_ns, char *buf, size_t size)
{
    time_t sec = (time_t)(real_ns / 1000000000ULL);
    struct tm tm;
    char date[32];

    gmtime_r(&sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%09" PRIu64 "Z", date, (uint64_t)(real_ns % 1000000000ULL));
}

char *iso_strprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : s;
}
