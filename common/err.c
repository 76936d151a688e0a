#include "common/err.h"

#include <stdarg.h>
#include <string.h>

static _printf_(4, 0) int err_vset(struct iso_err *err, int code, bool with_errno, const char *fmt,
                                   va_list ap)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = EIO;
    if (!err)
        return -code;

    err->code = code;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(code));
    return -code;
}

int iso_err_set(struct iso_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = err_vset(err, code, false, fmt, ap);
    va_end(ap);
    return r;
}

int iso_err_set_errno(struct iso_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = err_vset(err, code, true, fmt, ap);
    va_end(ap);
    return r;
}

int iso_err_prefix(struct iso_err *err, const char *fmt, ...)
{
    char prefix[ISO_ERR_MSG_MAX];
    size_t plen, mlen;
    va_list ap;

    if (!err)
        return -EIO;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
    va_end(ap);
    strcat(prefix, ": ");
    plen = strlen(prefix);
    mlen = strnlen(err->msg, sizeof(err->msg) - 1);
    if (plen + mlen >= sizeof(err->msg))
        mlen = sizeof(err->msg) - 1 - plen;
    memmove(err->msg + plen, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + mlen] = '\0';
    return -(err->code ? err->code : EIO);
}
