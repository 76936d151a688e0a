#include "runtime/shim-log.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

/* Keep the entry scratch buffer between entries only up to this size: a shim's resident memory
 * is a budget, and long lines are rare. */
#define OUT_KEEP_MAX ((size_t)8 * 1024)

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if it is invalid or cut
 * short. Same rules as Go's utf8.DecodeRune, which Docker's encoder uses: no overlong forms, no
 * surrogates, nothing past U+10FFFF. */
static size_t utf8_valid_len(const uint8_t *s, size_t len)
{
    uint8_t b = s[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (b >= 0xc2 && b <= 0xdf)
        n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else
        return 0;

    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* memcpy that returns the end: the pieces of an entry are not strings. */
static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

size_t shim_json_escape(char *out, const void *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = s;
    char *o = out;

    *o++ = '"';
    for (size_t i = 0; i < len;) {
        uint8_t b = p[i];

        if (b < 0x80) {
            /* Docker's jsonlog escapes like Go's encoding/json: <, > and & too, and every
             * control character but \n and \r as \u00XX (a tab included). */
            if (b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&') {
                *o++ = (char)b;
            } else if (b == '\\' || b == '"') {
                *o++ = '\\';
                *o++ = (char)b;
            } else if (b == '\n') {
                *o++ = '\\';
                *o++ = 'n';
            } else if (b == '\r') {
                *o++ = '\\';
                *o++ = 'r';
            } else {
                o = put(o, "\\u00", 4);
                *o++ = hex[b >> 4];
                *o++ = hex[b & 0xf];
            }
            i++;
            continue;
        }

        size_t n = utf8_valid_len(p + i, len - i);
        if (n == 0) {
            o = put(o, "\\ufffd", 6);
            i++;
        } else if (n == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
                   (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            /* U+2028 and U+2029 are valid JSON but not valid JavaScript. */
            o = put(o, "\\u202", 5);
            *o++ = p[i + 2] == 0xa8 ? '8' : '9';
            i += 3;
        } else {
            memcpy(o, p + i, n);
            o += n;
            i += n;
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

/* iso_format_rfc3339(), with the date and time of day kept for the second: one entry per line
 * makes gmtime and strftime the costliest part of the log otherwise. */
static void format_time(uint64_t ns, char *buf, size_t size)
{
    static uint64_t cached_sec = UINT64_MAX;
    static char cached[32];
    uint64_t sec = ns / 1000000000ULL;

    if (sec != cached_sec) {
        iso_format_rfc3339(sec * 1000000000ULL, cached, sizeof(cached));
        /* Keep "YYYY-MM-DDTHH:MM:SS", drop ".000000000Z". */
        char *dot = strchr(cached, '.');
        if (dot)
            *dot = '\0';
        cached_sec = sec;
    }
    snprintf(buf, size, "%s.%09" PRIu64 "Z", cached, (uint64_t)(ns % 1000000000ULL));
}

size_t shim_log_entry_format(char *out, enum shim_stream stream, const void *s, size_t len,
                             uint64_t now_ns)
{
    char *o = out;
    char ts[64];

    o = put(o, "{\"log\":", 7);
    o += shim_json_escape(o, s, len);
    const char *mid = stream == SHIM_STREAM_STDERR ? ",\"stream\":\"stderr\",\"time\":\""
                                                   : ",\"stream\":\"stdout\",\"time\":\"";
    size_t mid_len = strlen(mid);
    o = put(o, mid, mid_len);
    format_time(now_ns, ts, sizeof(ts));
    size_t ts_len = strlen(ts);
    o = put(o, ts, ts_len);
    o = put(o, "\"}\n", 3);
    return (size_t)(o - out);
}

void shim_frame_header(uint8_t hdr[SHIM_FRAME_HEADER_SIZE], enum shim_stream stream, uint32_t len)
{
    hdr[0] = (uint8_t)stream;
    hdr[1] = hdr[2] = hdr[3] = 0;
    hdr[4] = (uint8_t)(len >> 24);
    hdr[5] = (uint8_t)(len >> 16);
    hdr[6] = (uint8_t)(len >> 8);
    hdr[7] = (uint8_t)len;
}

static int log_open_file(struct shim_log *log, int extra_flags)
{
    struct stat st;

    int fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | extra_flags, 0640);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        safe_close(fd);
        return r;
    }
    log->fd = fd;
    log->size = (uint64_t)st.st_size;
    return 0;
}

int shim_log_open(struct shim_log *log, const char *path, uint64_t max_size, unsigned max_files,
                  struct iso_err *err)
{
    *log = (struct shim_log){.fd = -1, .max_size = max_size, .max_files = max_files};
    if (log->max_files < 1)
        log->max_files = 1;
    log->path = strdup(path);
    if (!log->path)
        return iso_err_set(err, ENOMEM, "open log '%s'", path);

    int r = log_open_file(log, 0);
    if (r < 0) {
        log->path = (free(log->path), NULL);
        return iso_err_set_errno(err, -r, "open log '%s'", path);
    }
    return 0;
}

/* Docker's rotation: the live file becomes .1, .1 becomes .2, ... the oldest beyond max_files
 * goes; with max_files 1 the live file is truncated in place. Renaming (not copying) lets a
 * reader that follows the log see EOF on the old file and reopen the name. */
static int log_rotate(struct shim_log *log)
{
    size_t size = strlen(log->path) + 16;
    char *from = malloc(2 * size), *to;
    int r = 0;

    if (!from)
        return -ENOMEM;
    to = from + size;
    log->fd = safe_close(log->fd);
    if (log->max_files >= 2) {
        snprintf(to, size, "%s.%u", log->path, log->max_files - 1);
        if (unlink(to) < 0 && errno != ENOENT)
            r = -errno;
        for (unsigned i = log->max_files - 1; r == 0 && i > 1; i--) {
            snprintf(from, size, "%s.%u", log->path, i - 1);
            snprintf(to, size, "%s.%u", log->path, i);
            if (rename(from, to) < 0 && errno != ENOENT)
                r = -errno;
        }
        snprintf(to, size, "%s.1", log->path);
        if (r == 0 && rename(log->path, to) < 0 && errno != ENOENT)
            r = -errno;
    }
    free(from);
    return r < 0 ? r : log_open_file(log, O_TRUNC);
}

/* Writes the batched entries. Entries are whole lines, so a reader never sees half of one
 * (the file is appended to, and a regular file takes a write whole). */
static void log_out_flush(struct shim_log *log)
{
    if (log->out_len > 0 && log->fd >= 0) {
        int r = iso_write_all(log->fd, log->out, log->out_len);
        if (r < 0)
            log->write_error = r;
        else
            log->size += log->out_len;
    }
    log->out_len = 0;
    if (log->out_cap > OUT_KEEP_MAX) {
        log->out = (free(log->out), NULL);
        log->out_cap = 0;
    }
}

static void log_entry(struct shim_log *log, enum shim_stream stream, const char *s, size_t len,
                      uint64_t now_ns)
{
    int r;

    /* Like Docker: rotate once the live file has reached the limit, before the next entry. */
    if (log->max_size > 0 && log->size + log->out_len >= log->max_size) {
        log_out_flush(log);
        r = log_rotate(log);
        if (r < 0) {
            log->write_error = r;
            if (log->fd < 0 && log_open_file(log, 0) < 0)
                return;
        }
    }
    if (log->fd < 0 && (r = log_open_file(log, 0)) < 0) {
        log->write_error = r;
        return;
    }

    size_t need = log->out_len + shim_log_entry_max(len);
    if (!log->out || need > log->out_cap) {
        char *p = realloc(log->out, need);
        if (!p) {
            log->write_error = -ENOMEM;
            return;
        }
        log->out = p;
        log->out_cap = need;
    }
    log->out_len += shim_log_entry_format(log->out + log->out_len, stream, s, len, now_ns);
    if (log->out_len >= OUT_KEEP_MAX)
        log_out_flush(log);
}

void shim_log_write(struct shim_log *log, enum shim_stream stream, const void *buf, size_t len,
                    uint64_t now_ns)
{
    const char *p = buf;
    int i = stream == SHIM_STREAM_STDERR ? 1 : 0;

    while (len > 0) {
        size_t have = log->pending_len[i];
        size_t scan = len < SHIM_LOG_LINE_MAX - have ? len : SHIM_LOG_LINE_MAX - have;
        const char *nl = memchr(p, '\n', scan);

        if (nl && have == 0) {
            /* The common case: a whole line in this read, logged without a copy. */
            size_t n = (size_t)(nl - p) + 1;
            log_entry(log, stream, p, n, now_ns);
            p += n;
            len -= n;
            continue;
        }

        if (!log->pending[i]) {
            log->pending[i] = malloc(SHIM_LOG_LINE_MAX);
            if (!log->pending[i]) {
                /* Out of memory: log the piece as it is rather than lose it. */
                log->write_error = -ENOMEM;
                log_entry(log, stream, p, scan, now_ns);
                p += scan;
                len -= scan;
                continue;
            }
        }
        size_t n = nl ? (size_t)(nl - p) + 1 : scan;
        memcpy(log->pending[i] + have, p, n);
        log->pending_len[i] = have + n;
        p += n;
        len -= n;
        if (nl || log->pending_len[i] == SHIM_LOG_LINE_MAX) {
            log_entry(log, stream, log->pending[i], log->pending_len[i], now_ns);
            log->pending_len[i] = 0;
        }
    }
    log_out_flush(log);
}

void shim_log_flush(struct shim_log *log, enum shim_stream stream, uint64_t now_ns)
{
    for (int i = 0; i < 2; i++) {
        enum shim_stream s = i == 0 ? SHIM_STREAM_STDOUT : SHIM_STREAM_STDERR;
        if (stream != 0 && stream != s)
            continue;
        if (log->pending_len[i] > 0)
            log_entry(log, s, log->pending[i], log->pending_len[i], now_ns);
        log->pending_len[i] = 0;
        log->pending[i] = (free(log->pending[i]), NULL);
    }
    log_out_flush(log);
}

void shim_log_close(struct shim_log *log)
{
    log_out_flush(log);
    log->fd = safe_close(log->fd);
    free(log->path);
    free(log->pending[0]);
    free(log->pending[1]);
    free(log->out);
    *log = (struct shim_log){.fd = -1};
}
