/* Docker's multiplexed stdout/stderr stream (logs, attach and exec without a TTY): frames of an
 * 8-byte header {STREAM, 0, 0, 0, SIZE (big-endian uint32)} and SIZE bytes of payload. STREAM
 * is 0 stdin (shown on stdout), 1 stdout, 2 stderr, 3 an error from the daemon. The input may
 * be cut anywhere: a partial header or payload waits for the next piece. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum {
    CTL_STREAM_STDIN = 0,
    CTL_STREAM_STDOUT = 1,
    CTL_STREAM_STDERR = 2,
    CTL_STREAM_SYSERR = 3,
};

/* Receives a piece of payload of stream (CTL_STREAM_STDOUT for stdin's). Returns 0 or a
 * negative errno, which stops the demultiplexing. */
typedef int (*ctl_stdcopy_write_fn)(void *userdata, int stream, const char *data, size_t len);

struct ctl_stdcopy {
    ctl_stdcopy_write_fn write;
    void *userdata;
    unsigned char hdr[8];
    size_t hdr_len;
    uint32_t remaining; /* payload bytes left in the current frame */
    int stream;
    char syserr[512]; /* a CTL_STREAM_SYSERR frame's text, collected */
    size_t syserr_len;
};

/* Zeroes s and sets the writer. */
void ctl_stdcopy_init(struct ctl_stdcopy *s, ctl_stdcopy_write_fn write, void *userdata);

/* Feeds the next piece. An unknown stream number is -EBADMSG; a completed error frame is -EIO
 * with its text in err; the writer's errors are passed on. Usable as a ctl_http_sink_fn with the
 * struct as userdata. */
int ctl_stdcopy_feed(void *userdata, const char *data, size_t len, struct iso_err *err);

/* At the end of the stream: -EBADMSG when it stopped inside a frame header. */
int ctl_stdcopy_finish(struct ctl_stdcopy *s, struct iso_err *err);

/* A writer for ctl_stdcopy_init(): stdout and stdin's frames to fd 1, stderr's to fd 2
 * (userdata unused). */
int ctl_stdcopy_write_std(void *userdata, int stream, const char *data, size_t len);
