#include "cli/format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "common/util.h"

void ctl_format_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    size_t i = 0;

    while (v >= 1024.0 && i < sizeof(units) / sizeof(units[0]) - 1) {
        v /= 1024.0;
        i++;
    }
    snprintf(buf, size, "%.4g%s", v, units[i]);
}

void ctl_format_size(int64_t n, int precision, char *buf, size_t size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    double v = (double)n;
    size_t i = 0;

    while (v >= 1000.0 && i < ARRAY_SIZE(units) - 1) {
        v /= 1000.0;
        i++;
    }
    snprintf(buf, size, "%.*g%s", precision, v, units[i]);
}

void ctl_format_duration(int64_t seconds, char *buf, size_t size)
{
    /* go-units rounds hours to the nearest (time.Duration.Round) but truncates minutes. */
    int64_t minutes = seconds / 60, hours = (seconds + 1800) / 3600;

    if (seconds < 1)
        snprintf(buf, size, "Less than a second");
    else if (seconds == 1)
        snprintf(buf, size, "1 second");
    else if (seconds < 60)
        snprintf(buf, size, "%" PRId64 " seconds", seconds);
    else if (minutes == 1)
        snprintf(buf, size, "About a minute");
    else if (minutes < 60)
        snprintf(buf, size, "%" PRId64 " minutes", minutes);
    else if (hours == 1)
        snprintf(buf, size, "About an hour");
    else if (hours < 48)
        snprintf(buf, size, "%" PRId64 " hours", hours);
    else if (hours < (int64_t)24 * 7 * 2)
        snprintf(buf, size, "%" PRId64 " days", hours / 24);
    else if (hours < (int64_t)24 * 30 * 2)
        snprintf(buf, size, "%" PRId64 " weeks", hours / 24 / 7);
    else if (hours < (int64_t)24 * 365 * 2)
        snprintf(buf, size, "%" PRId64 " months", hours / 24 / 30);
    else
        snprintf(buf, size, "%" PRId64 " years", seconds / 3600 / 24 / 365);
}

void ctl_format_since(int64_t unix_time, int64_t now, char *buf, size_t size)
{
    char d[64];

    if (unix_time <= 0) {
        snprintf(buf, size, "N/A");
        return;
    }
    ctl_format_duration(now - unix_time, d, sizeof(d));
    snprintf(buf, size, "%s ago", d);
}

void ctl_format_time(int64_t unix_time, char *buf, size_t size)
{
    time_t t = (time_t)unix_time;
    struct tm tm;

    if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %z %Z", &tm) == 0)
        snprintf(buf, size, "%" PRId64, unix_time);
}

void ctl_format_rfc3339(int64_t unix_time, char *buf, size_t size)
{
    time_t t = (time_t)unix_time;
    char zone[48];
    struct tm tm;
    long off;

    if (!localtime_r(&t, &tm)) {
        snprintf(buf, size, "%" PRId64, unix_time);
        return;
    }
    off = tm.tm_gmtoff;
    if (off == 0)
        snprintf(zone, sizeof(zone), "Z");
    else
        snprintf(zone, sizeof(zone), "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 3600,
                 labs(off) % 3600 / 60);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
}

/* Code points in s: bytes that do not continue a UTF-8 sequence. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

char *ctl_ellipsis(const char *s, size_t max)
{
    size_t keep = 0, n = 0;
    char *out;

    if (utf8_len(s) <= max)
        return strdup(s);
    if (max == 0)
        return strdup("");
    /* The byte length of the first max - 1 code points. */
    for (; s[keep]; keep++) {
        if (((unsigned char)s[keep] & 0xc0) != 0x80) {
            if (n == max - 1)
                break;
            n++;
        }
    }
    out = malloc(keep + sizeof("…"));
    if (!out)
        return NULL;
    memcpy(out, s, keep);
    memcpy(out + keep, "…", sizeof("…"));
    return out;
}

const char *ctl_short_id(const char *id, char *buf, size_t size)
{
    const char *colon = strchr(id, ':');

    snprintf(buf, size, "%.12s", colon ? colon + 1 : id);
    return buf;
}

struct ctl_table {
    size_t n_cols, n_rows, cap;
    char **cells; /* n_rows * n_cols */
};

struct ctl_table *ctl_table_new(size_t n_cols)
{
    struct ctl_table *t = calloc(1, sizeof(*t));

    if (t)
        t->n_cols = n_cols;
    return t;
}

struct ctl_table *ctl_table_free(struct ctl_table *t)
{
    if (t) {
        for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
            free(t->cells[i]);
        free(t->cells);
        free(t);
    }
    return NULL;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    if (t->n_rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = reallocarray(t->cells, cap * t->n_cols, sizeof(*p));
        if (!p)
            return -ENOMEM;
        t->cells = p;
        t->cap = cap;
    }
    char **row = t->cells + t->n_rows * t->n_cols;
    for (size_t c = 0; c < t->n_cols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return -ENOMEM;
        }
    }
    t->n_rows++;
    return 0;
}

void ctl_table_print(const struct ctl_table *t, FILE *f)
{
    /* The docker CLI's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0). */
    enum { MIN_WIDTH = 10, PADDING = 3 };
    _cleanup_free_ size_t *width = calloc(t->n_cols ? t->n_cols : 1, sizeof(*width));

    if (!width)
        return;
    for (size_t c = 0; c < t->n_cols; c++) {
        width[c] = MIN_WIDTH;
        for (size_t r = 0; r < t->n_rows; r++) {
            size_t w = utf8_len(t->cells[r * t->n_cols + c]) + PADDING;
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[r * t->n_cols + c];
            fputs(cell, f);
            if (c + 1 < t->n_cols)
                fprintf(f, "%*s", (int)(width[c] - utf8_len(cell)), "");
        }
        fputc('\n', f);
    }
}

const char *ctl_go_arch(void)
{
    return ISO_GO_ARCH;
}

const char *ctl_go_os(void)
{
    return "linux";
}
