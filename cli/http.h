/* A small blocking HTTP/1.1 client over a unix socket, for isoctl.
 *
 *   ctl_http_connect(path) -> ctl_http_send(req) -> ctl_http_read_head(resp)
 *       -> ctl_http_read_body(resp)          whole body, bounded
 *       -> ctl_http_stream_body(sink)        pieces as they arrive (progress, logs -f)
 *       -> ctl_http_take_upgrade()           after 101: the raw fd (attach, exec)
 *
 * ctl_http_request() does send + head + whole body in one call. Bodies framed by
 * Content-Length, chunked encoding or the end of the connection are all decoded; requests
 * carry Content-Length, or are sent chunked when the body comes from a source callback. */
#pragma once

#include <sys/types.h>

#include "common/err.h"

/* Largest status line plus headers (and, separately, trailers) accepted: -E2BIG past it. */
#define CTL_HTTP_HEAD_MAX ((size_t)32 * 1024)
/* Default bound for a collected body. */
#define CTL_HTTP_BODY_MAX ((size_t)64 * 1024 * 1024)

struct ctl_http_conn;

/* Produces the next piece of a streamed request body into buf (at most size bytes).
 * Returns the byte count, 0 at the end, or a negative errno (the request is abandoned). */
typedef ssize_t (*ctl_http_source_fn)(void *userdata, void *buf, size_t size);

/* Receives the next piece of a response body (len > 0). Returns 0 to go on, or a negative
 * errno to stop: ctl_http_stream_body() then returns it, with err as the sink left it. */
typedef int (*ctl_http_sink_fn)(void *userdata, const char *data, size_t len, struct iso_err *err);

struct ctl_http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *target;         /* path and query, already escaped: "/containers/json?all=1" */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;           /* sent with Content-Length when non-NULL */
    size_t body_len;
    ctl_http_source_fn source; /* or: a body of unknown length, sent chunked */
    void *userdata;            /* for source */
};

struct ctl_http_header {
    const char *name;
    const char *value; /* surrounding whitespace removed */
};

/* Filled by ctl_http_read_head() (status, reason, headers) and ctl_http_read_body() (body).
 * All strings belong to the response; release it with ctl_http_response_done(). */
struct ctl_http_response {
    int status;
    const char *reason;
    struct ctl_http_header *headers;
    size_t n_headers;
    char *body; /* NUL-terminated (the NUL is not counted in body_len); NULL when not read */
    size_t body_len;
    char *head_storage; /* private */
};

/* Connects to the unix socket at path. Errors: the connect(2) errno (ECONNREFUSED, ENOENT,
 * EACCES, ...), ENAMETOOLONG, ENOMEM. The message names the path and the reason. */
/* Writes all of buf to a socket (MSG_NOSIGNAL: a peer that hangs up is an error, not a
 * SIGPIPE). 0 or -errno. */
int ctl_send_all(int fd, const void *buf, size_t len);

int ctl_http_connect(const char *path, struct ctl_http_conn **ret, struct iso_err *err);

/* Wraps an already connected stream socket; the connection owns fd from then on, even on
 * failure (-ENOMEM, fd closed). */
int ctl_http_conn_new(int fd, struct ctl_http_conn **ret);

/* Closes the socket (unless taken) and frees. Takes NULL; returns NULL. */
struct ctl_http_conn *ctl_http_conn_free(struct ctl_http_conn *c);
static inline void ctl_http_conn_freep(struct ctl_http_conn **c)
{
    ctl_http_conn_free(*c);
}
#define _cleanup_http_conn_ _cleanup_(ctl_http_conn_freep)

/* Sends the request line, "Host: localhost", "User-Agent: isoctl/<version>", the caller's
 * headers and the body. CR or LF in the target or a header is -EINVAL. A peer that stops
 * reading gives -EPIPE or -ECONNRESET (never SIGPIPE); a response may still be readable. */
int ctl_http_send(struct ctl_http_conn *c, const struct ctl_http_request *req, struct iso_err *err);

/* Reads the status line and headers of the next final response (interim 1xx other than 101
 * are skipped) into *resp, which must be zeroed or done. Errors: -EBADMSG for a malformed
 * head, -E2BIG past CTL_HTTP_HEAD_MAX, -ECONNRESET when the peer closes first. */
int ctl_http_read_head(struct ctl_http_conn *c, struct ctl_http_response *resp,
                       struct iso_err *err);

/* Reads the whole body into resp->body. More than max bytes is -EFBIG; a malformed chunk is
 * -EBADMSG; a body cut short is -ECONNRESET. */
int ctl_http_read_body(struct ctl_http_conn *c, struct ctl_http_response *resp, size_t max,
                       struct iso_err *err);

/* Delivers the body to sink piece by piece until its end (same errors as above). */
int ctl_http_stream_body(struct ctl_http_conn *c, ctl_http_sink_fn sink, void *userdata,
                         struct iso_err *err);

/* ctl_http_send() + ctl_http_read_head() + ctl_http_read_body(max). A response that arrives
 * although sending failed (the daemon rejected a streamed body early) is returned. */
int ctl_http_request(struct ctl_http_conn *c, const struct ctl_http_request *req,
                     struct ctl_http_response *resp, size_t max, struct iso_err *err);

/* After a 101 response: hands over the socket and the bytes already read past the headers
 * (*ret_buf malloc'd, NULL when *ret_len is 0). The connection keeps nothing but still needs
 * ctl_http_conn_free(). -EINVAL when the last response was not a 101, -ENOMEM. */
int ctl_http_take_upgrade(struct ctl_http_conn *c, int *ret_fd, char **ret_buf, size_t *ret_len,
                          struct iso_err *err);

/* Value of the first header called name (case-insensitive), borrowed from resp; NULL if none. */
const char *ctl_http_header(const struct ctl_http_response *resp, const char *name);

/* Frees what resp holds and zeroes it. Usable as _cleanup_(ctl_http_response_done). */
void ctl_http_response_done(struct ctl_http_response *resp);
