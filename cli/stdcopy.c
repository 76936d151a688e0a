#include "cli/stdcopy.h"

#include <string.h>
#include <unistd.h>

#include "common/util.h"

void ctl_stdcopy_init(struct ctl_stdcopy *s, ctl_stdcopy_write_fn write, void *userdata)
{
    *s = (struct ctl_stdcopy){.write = write, .userdata = userdata};
}

int ctl_stdcopy_feed(void *userdata, const char *data, size_t len, struct iso_err *err)
{
    struct ctl_stdcopy *s = userdata;

    while (len > 0) {
        if (s->remaining == 0) {
            size_t n = sizeof(s->hdr) - s->hdr_len;
            if (n > len)
                n = len;
            memcpy(s->hdr + s->hdr_len, data, n);
            s->hdr_len += n;
            data += n;
            len -= n;
            if (s->hdr_len < sizeof(s->hdr))
                return 0;
            s->hdr_len = 0;
            if (s->hdr[0] > CTL_STREAM_SYSERR)
                return iso_err_set(err, EBADMSG, "unrecognized stream: %d", s->hdr[0]);
            s->stream = s->hdr[0];
            s->remaining = (uint32_t)s->hdr[4] << 24 | (uint32_t)s->hdr[5] << 16 |
                           (uint32_t)s->hdr[6] << 8 | (uint32_t)s->hdr[7];
            s->syserr_len = 0;
            continue;
        }

        size_t n = len < s->remaining ? len : s->remaining;
        if (s->stream == CTL_STREAM_SYSERR) {
            size_t room = sizeof(s->syserr) - 1 - s->syserr_len;
            size_t k = n < room ? n : room;
            memcpy(s->syserr + s->syserr_len, data, k);
            s->syserr_len += k;
        } else {
            int r = s->write(s->userdata,
                             s->stream == CTL_STREAM_STDERR ? CTL_STREAM_STDERR : CTL_STREAM_STDOUT,
                             data, n);
            if (r < 0)
                return iso_err_set_errno(err, -r, "write output");
        }
        data += n;
        len -= n;
        s->remaining -= (uint32_t)n;
        if (s->remaining == 0 && s->stream == CTL_STREAM_SYSERR) {
            s->syserr[s->syserr_len] = '\0';
            return iso_err_set(err, EIO, "%s", s->syserr);
        }
    }
    return 0;
}

int ctl_stdcopy_finish(struct ctl_stdcopy *s, struct iso_err *err)
{
    if (s->hdr_len > 0)
        return iso_err_set(err, EBADMSG, "the stream ended inside a frame header");
    return 0;
}

int ctl_stdcopy_write_std(void *userdata, int stream, const char *data, size_t len)
{
    (void)userdata;
    return iso_write_all(stream == CTL_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}
