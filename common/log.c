#include "common/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static enum log_level max_level = LOG_LEVEL_INFO;
static bool to_journal;

void log_set_level(enum log_level level)
{
    max_level = level;
}

enum log_level log_get_level(void)
{
    return max_level;
}

static const struct {
    const char *name;
    enum log_level level;
} level_names[] = {
    {"error", LOG_LEVEL_ERROR}, {"warn", LOG_LEVEL_WARN},   {"warning", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},   {"debug", LOG_LEVEL_DEBUG},
};

int log_level_from_string(const char *s, enum log_level *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (streq(s, level_names[i].name)) {
            *ret = level_names[i].level;
            return 0;
        }
    return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (level_names[i].level == level)
            return level_names[i].name;
    return "info";
}

void log_open(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long dev, ino;
    struct stat st;

    to_journal = js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                 st.st_dev == dev && st.st_ino == ino;
}

/* Writes s as a logfmt value: bare when it is a single safe word, else double-quoted with
 * quotes, backslashes and control characters escaped so a line stays one line. */
static size_t put_value(char *buf, size_t n, size_t len, const char *s)
{
    bool bare = *s != '\0';
    for (const char *p = s; *p && bare; p++)
        bare = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\';

    if (bare)
        return len + (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s", s);

    if (len < n)
        buf[len] = '"';
    len++;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "\\%c", c);
        else if (c < ' ')
            len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "\\x%02x", c);
        else {
            if (len < n)
                buf[len] = (char)c;
            len++;
        }
    }
    if (len < n)
        buf[len] = '"';
    return len + 1;
}

int log_emit(enum log_level level, int error, const char *msg, const char *fields_fmt, ...)
{
    int saved_errno = errno;
    char line[2048];
    size_t n = sizeof(line) - 2, len = 0;

    if (error < 0)
        error = -error;

    if (to_journal)
        len += (size_t)snprintf(line, n, "<%d>", (int)level);
    else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        len += strftime(line, n, "time=%Y-%m-%dT%H:%M:%S", &tm);
        len += (size_t)snprintf(line + len, n - len, ".%03ldZ ", ts.tv_nsec / 1000000);
    }
    len += (size_t)snprintf(line + len, len < n ? n - len : 0,
                            "level=%s msg=", log_level_to_string(level));
    len = put_value(line, n, len, msg);

    if (fields_fmt && *fields_fmt && len < n) {
        va_list ap;
        line[len++] = ' ';
        va_start(ap, fields_fmt);
        len += (size_t)vsnprintf(line + len, len < n ? n - len : 0, fields_fmt, ap);
        va_end(ap);
    }
    if (error && len < n) {
        len += (size_t)snprintf(line + len, n - len, " err=");
        len = put_value(line, n, len, strerror(error));
    }
    if (len > n)
        len = n;
    line[len++] = '\n';
    (void)!write(STDERR_FILENO, line, len);

    errno = saved_errno;
    return -error;
}
