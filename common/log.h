/* One line per event on stderr: level, message, key=value fields.
 *
 *   log_info("listening", "socket=%s mode=%04o", path, mode);
 *   -> 2026-11-22T07:50:01.123Z level=info msg="listening" socket=/run/isod.sock mode=0660
 *
 * Under journald (JOURNAL_STREAM names our stderr) the timestamp is dropped and the line
 * starts with a <N> syslog priority prefix, which journald turns into the entry's priority. */
#pragma once

#include "common/macro.h"

enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARN = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn"/"warning", "info" or "debug". Returns 0 or -EINVAL. */
int log_level_from_string(const char *s, enum log_level *ret);
const char *log_level_to_string(enum log_level level);

/* Reads JOURNAL_STREAM and decides the line format. Call once at startup. */
void log_open(void);

/* fields_fmt is printf-style and may be "" (the macros pass "" when no fields are given).
 * error is a positive or negative errno added as err="..." when non-zero. Returns -|error|. */
int log_emit(enum log_level level, int error, const char *msg, const char *fields_fmt, ...)
    _printf_(4, 5);

#define log_full(level, error, msg, ...)                                                           \
    ({                                                                                             \
        int _e = (error);                                                                          \
        (log_get_level() >= (level)) ? log_emit((level), _e, (msg), "" __VA_ARGS__)                \
                                     : -(_e < 0 ? -_e : _e);                                       \
    })

#define log_error(msg, ...)          (void)log_full(LOG_LEVEL_ERROR, 0, msg, __VA_ARGS__)
#define log_warn(msg, ...)           (void)log_full(LOG_LEVEL_WARN, 0, msg, __VA_ARGS__)
#define log_info(msg, ...)           (void)log_full(LOG_LEVEL_INFO, 0, msg, __VA_ARGS__)
#define log_debug(msg, ...)          (void)log_full(LOG_LEVEL_DEBUG, 0, msg, __VA_ARGS__)
#define log_error_errno(r, msg, ...) log_full(LOG_LEVEL_ERROR, r, msg, __VA_ARGS__)
#define log_warn_errno(r, msg, ...)  log_full(LOG_LEVEL_WARN, r, msg, __VA_ARGS__)
#define log_info_errno(r, msg, ...)  log_full(LOG_LEVEL_INFO, r, msg, __VA_ARGS__)
#define log_debug_errno(r, msg, ...) log_full(LOG_LEVEL_DEBUG, r, msg, __VA_ARGS__)
