#include "cli/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "build-config.h"

/* The read buffer must hold a whole head (CTL_HTTP_HEAD_MAX) plus what follows it in the same
 * read, so that parsing never needs a second buffer. */
#define CONN_BUF_SIZE (2 * CTL_HTTP_HEAD_MAX)
/* Chunk-size lines ("1a2b;ext=x") and trailer lines. */
#define LINE_MAX_LEN 4096
/* Request bodies from a source callback go out in chunks of at most this much. */
#define CHUNK_MAX ((size_t)64 * 1024)
/* Room for "<hex size>\r\n" in front of a chunk. */
#define CHUNK_PREFIX 18
/* Interim responses (100 Continue, 102, 103) skipped before giving up. */
#define INTERIM_MAX 8

enum body_mode {
    BODY_IDLE,     /* no response head read since the last request */
    BODY_NONE,     /* no body, or the body has been read */
    BODY_LENGTH,   /* Content-Length: remaining bytes left */
    BODY_CHUNKED,  /* remaining bytes left in the current chunk */
    BODY_EOF,      /* until the peer closes */
    BODY_UPGRADED, /* 101: the socket is no longer HTTP */
};

struct ctl_http_conn {
    int fd;
    bool head_request;
    enum body_mode mode;
    uint64_t remaining;
    bool chunk_crlf; /* the CRLF closing a chunk's data is still to come */
    size_t rpos, wpos;
    char buf[CONN_BUF_SIZE];
};

int ctl_http_conn_new(int fd, struct ctl_http_conn **ret)
{
    struct ctl_http_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        safe_close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->mode = BODY_IDLE;
    *ret = c;
    return 0;
}

int ctl_http_connect(const char *path, struct ctl_http_conn **ret, struct iso_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(sa.sun_path))
        return iso_err_set(err, ENAMETOOLONG, "invalid socket path '%s'", path);
    memcpy(sa.sun_path, path, len + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "create socket");
    if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
        return iso_err_set_errno(err, errno, "connect to '%s'", path);

    if (ctl_http_conn_new(TAKE_FD(fd), ret) < 0)
        return iso_err_set(err, ENOMEM, "out of memory");
    return 0;
}

struct ctl_http_conn *ctl_http_conn_free(struct ctl_http_conn *c)
{
    if (c) {
        safe_close(c->fd);
        free(c);
    }
    return NULL;
}

void ctl_http_response_done(struct ctl_http_response *resp)
{
    free(resp->headers);
    free(resp->body);
    free(resp->head_storage);
    *resp = (struct ctl_http_response){0};
}

const char *ctl_http_header(const struct ctl_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

/* RFC 9110 tchar: what a method or a header name may consist of. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* ---- sending ---- */

int ctl_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        /* MSG_NOSIGNAL: a daemon that hangs up is an error to report, not a reason to die. */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
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

static int check_request(const struct ctl_http_request *req, struct iso_err *err)
{
    if (!req->method || !is_token(req->method, strlen(req->method)))
        return iso_err_set(err, EINVAL, "invalid HTTP method '%s'", req->method ? req->method : "");
    if (!req->target || req->target[0] != '/')
        return iso_err_set(err, EINVAL, "invalid request target '%s'",
                           req->target ? req->target : "");
    for (const unsigned char *p = (const unsigned char *)req->target; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return iso_err_set(err, EINVAL, "invalid character in request target '%s'",
                               req->target);
    for (const char *const *h = req->headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (!colon || !is_token(*h, (size_t)(colon - *h)) || strpbrk(*h, "\r\n"))
            return iso_err_set(err, EINVAL, "invalid request header '%s'", *h);
    }
    if (req->body && req->source)
        return iso_err_set(err, EINVAL, "a request has either a body or a body source");
    return 0;
}

static char *build_head(const struct ctl_http_request *req)
{
    char *head = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&head, &len);

    if (!f)
        return NULL;
    fprintf(f, "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: isoctl/%s\r\n", req->method,
            req->target, ISOD_VERSION);
    for (const char *const *h = req->headers; h && *h; h++)
        fprintf(f, "%s\r\n", *h);
    if (req->source)
        fputs("Transfer-Encoding: chunked\r\n", f);
    else if (req->body)
        fprintf(f, "Content-Length: %zu\r\n", req->body_len);
    else if (streq(req->method, "POST") || streq(req->method, "PUT") || streq(req->method, "PATCH"))
        fputs("Content-Length: 0\r\n", f);
    fputs("\r\n", f);

    bool failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(head);
        return NULL;
    }
    return head;
}

static int send_chunked(struct ctl_http_conn *c, const struct ctl_http_request *req,
                        struct iso_err *err)
{
    _cleanup_free_ char *chunk = malloc(CHUNK_PREFIX + CHUNK_MAX + 2);
    int r;

    if (!chunk)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (;;) {
        char *data = chunk + CHUNK_PREFIX, *p = data;

        ssize_t n = req->source(req->userdata, data, CHUNK_MAX);
        if (n < 0)
            return iso_err_set_errno(err, (int)n, "read request body");
        if (n == 0)
            break;
        if ((size_t)n > CHUNK_MAX)
            return iso_err_set(err, EINVAL, "request body source returned too much");

        /* "<hex size>\r\n" right in front of the data, "\r\n" after: one send per chunk. */
        *--p = '\n';
        *--p = '\r';
        for (size_t v = (size_t)n; v > 0; v >>= 4)
            *--p = "0123456789abcdef"[v & 15];
        data[n] = '\r';
        data[n + 1] = '\n';
        r = ctl_send_all(c->fd, p, (size_t)(data - p) + (size_t)n + 2);
        if (r < 0)
            return iso_err_set_errno(err, r, "send request body");
    }
    r = ctl_send_all(c->fd, "0\r\n\r\n", 5);
    if (r < 0)
        return iso_err_set_errno(err, r, "send request body");
    return 0;
}

int ctl_http_send(struct ctl_http_conn *c, const struct ctl_http_request *req, struct iso_err *err)
{
    _cleanup_free_ char *head = NULL;
    int r;

    r = check_request(req, err);
    if (r < 0)
        return r;
    if (c->mode != BODY_IDLE && c->mode != BODY_NONE)
        return iso_err_set(err, EBUSY, "the previous response on this connection is unfinished");

    head = build_head(req);
    if (!head)
        return iso_err_set(err, ENOMEM, "out of memory");

    c->head_request = streq(req->method, "HEAD");
    c->mode = BODY_IDLE;
    c->remaining = 0;
    c->chunk_crlf = false;

    r = ctl_send_all(c->fd, head, strlen(head));
    if (r < 0)
        return iso_err_set_errno(err, r, "send request");
    if (req->body && req->body_len > 0) {
        r = ctl_send_all(c->fd, req->body, req->body_len);
        if (r < 0)
            return iso_err_set_errno(err, r, "send request body");
    } else if (req->source) {
        return send_chunked(c, req, err);
    }
    return 0;
}

/* ---- receiving ---- */

/* Reads more into the buffer, compacting it when full. Returns the byte count, 0 at EOF, or a
 * negative errno. */
static ssize_t conn_fill(struct ctl_http_conn *c)
{
    if (c->rpos == c->wpos) {
        c->rpos = c->wpos = 0;
    } else if (c->wpos == sizeof(c->buf) && c->rpos > 0) {
        memmove(c->buf, c->buf + c->rpos, c->wpos - c->rpos);
        c->wpos -= c->rpos;
        c->rpos = 0;
    }
    if (c->wpos == sizeof(c->buf))
        return -ENOBUFS;

    ssize_t n = RETRY_EINTR(recv(c->fd, c->buf + c->wpos, sizeof(c->buf) - c->wpos, 0));
    if (n < 0)
        return -errno;
    c->wpos += (size_t)n;
    return n;
}

/* Ensures at least one unread byte. 0 when there is one, or an error (-ECONNRESET at EOF). */
static int conn_need(struct ctl_http_conn *c, const char *what, struct iso_err *err)
{
    if (c->rpos < c->wpos)
        return 0;
    ssize_t n = conn_fill(c);
    if (n < 0)
        return iso_err_set_errno(err, (int)n, "read %s", what);
    if (n == 0)
        return iso_err_set(err, ECONNRESET, "connection closed in the middle of the %s", what);
    return 0;
}

/* Next line (without its LF and an optional CR before it), at most max bytes. The pointer is
 * valid until the next read. */
static int conn_read_line(struct ctl_http_conn *c, size_t max, const char *what, char **ret,
                          size_t *ret_len, struct iso_err *err)
{
    size_t scan = 0;
    char *nl;

    for (;;) {
        size_t avail = c->wpos - c->rpos;
        nl = memchr(c->buf + c->rpos + scan, '\n', avail - scan);
        if (nl)
            break;
        scan = avail;
        if (avail >= max)
            return iso_err_set(err, EBADMSG, "%s line longer than %zu bytes", what, max);
        ssize_t n = conn_fill(c);
        if (n < 0)
            return iso_err_set_errno(err, (int)n, "read %s", what);
        if (n == 0)
            return iso_err_set(err, ECONNRESET, "connection closed in the middle of the %s", what);
    }

    char *line = c->buf + c->rpos;
    size_t len = (size_t)(nl - line);
    c->rpos += len + 1;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    *ret = line;
    *ret_len = len;
    return 0;
}

/* Finds the blank line ending the head and returns the head's length including it. */
static int find_head_end(struct ctl_http_conn *c, size_t *ret_len, struct iso_err *err)
{
    size_t line_start = 0, scan = 0;

    for (;;) {
        size_t avail = c->wpos - c->rpos;
        const char *base = c->buf + c->rpos;

        while (scan < avail) {
            const char *nl = memchr(base + scan, '\n', avail - scan);
            if (!nl) {
                scan = avail;
                break;
            }
            size_t end = (size_t)(nl - base);
            size_t line_len = end - line_start;
            if (line_len > 0 && base[end - 1] == '\r')
                line_len--;
            scan = line_start = end + 1;
            if (line_len == 0) {
                if (end + 1 > CTL_HTTP_HEAD_MAX)
                    break;
                *ret_len = end + 1;
                return 0;
            }
        }
        if (scan > CTL_HTTP_HEAD_MAX)
            return iso_err_set(err, E2BIG, "response headers larger than %zu bytes",
                               CTL_HTTP_HEAD_MAX);

        ssize_t n = conn_fill(c);
        if (n < 0)
            return iso_err_set_errno(err, (int)n, "read response");
        if (n == 0)
            return iso_err_set(err, ECONNRESET, "connection closed %s",
                               avail == 0 ? "without a response"
                                          : "in the middle of the response headers");
    }
}

static int parse_status_line(char *line, struct ctl_http_response *resp, struct iso_err *err)
{
    /* "HTTP/1.1 200 OK": the reason phrase may be empty, and so may the space before it. */
    if (!strneq(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
        line[9] < '1' || line[9] > '9' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
        line[11] > '9' || (line[12] != ' ' && line[12] != '\0'))
        return iso_err_set(err, EBADMSG, "malformed HTTP status line '%.64s'", line);

    resp->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    resp->reason = line[12] ? line + 13 : line + 12;
    return 0;
}

static void trim(char **s)
{
    char *p = *s;
    size_t len;

    while (*p == ' ' || *p == '\t')
        p++;
    len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        p[--len] = '\0';
    *s = p;
}

/* Splits the NUL-terminated head (ending in a blank line) into resp. */
static int parse_head(char *head, size_t len, struct ctl_http_response *resp, struct iso_err *err)
{
    size_t n_lines = 1;
    char *line, *next;
    int r;

    if (memchr(head, '\0', len))
        return iso_err_set(err, EBADMSG, "NUL byte in response headers");
    for (size_t i = 0; i < len; i++)
        if (head[i] == '\n')
            n_lines++;

    resp->headers = calloc(n_lines, sizeof(*resp->headers));
    if (!resp->headers)
        return iso_err_set(err, ENOMEM, "out of memory");

    for (line = head; *line; line = next) {
        char *nl = strchr(line, '\n');
        size_t l = (size_t)(nl - line);

        next = nl + 1;
        *nl = '\0';
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        if (strchr(line, '\r'))
            return iso_err_set(err, EBADMSG, "stray CR in response headers");

        if (line == head) {
            r = parse_status_line(line, resp, err);
            if (r < 0)
                return r;
            continue;
        }
        if (l == 0)
            break;

        /* Folded continuation lines are obsolete (RFC 9112 5.2) and never sent by isod. */
        char *colon = strchr(line, ':');
        if (!colon || !is_token(line, (size_t)(colon - line)))
            return iso_err_set(err, EBADMSG, "malformed response header '%.64s'", line);
        *colon = '\0';
        char *value = colon + 1;
        trim(&value);
        resp->headers[resp->n_headers++] = (struct ctl_http_header){line, value};
    }
    return 0;
}

/* Decides how the body of the response just read is delimited (RFC 9112 6.3). */
static int set_framing(struct ctl_http_conn *c, const struct ctl_http_response *resp,
                       struct iso_err *err)
{
    const char *te = ctl_http_header(resp, "Transfer-Encoding");
    const char *cl = NULL;

    c->remaining = 0;
    c->chunk_crlf = false;

    if (resp->status == 101) {
        c->mode = BODY_UPGRADED;
        return 0;
    }
    if (c->head_request || resp->status == 204 || resp->status == 304) {
        c->mode = BODY_NONE;
        return 0;
    }
    if (te) {
        /* Only a final "chunked" coding delimits the body; otherwise it runs to EOF. */
        const char *last = strrchr(te, ',');
        last = last ? last + 1 : te;
        while (*last == ' ' || *last == '\t')
            last++;
        c->mode = strcasecmp(last, "chunked") == 0 ? BODY_CHUNKED : BODY_EOF;
        return 0;
    }

    for (size_t i = 0; i < resp->n_headers; i++) {
        const char *v = resp->headers[i].value;
        if (strcasecmp(resp->headers[i].name, "Content-Length") != 0)
            continue;
        if (cl && !streq(cl, v))
            return iso_err_set(err, EBADMSG, "conflicting Content-Length headers");
        cl = v;
    }
    if (!cl) {
        c->mode = BODY_EOF;
        return 0;
    }

    uint64_t n = 0;
    if (!*cl || strlen(cl) > 18)
        return iso_err_set(err, EBADMSG, "invalid Content-Length '%.32s'", cl);
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9')
            return iso_err_set(err, EBADMSG, "invalid Content-Length '%.32s'", cl);
        n = n * 10 + (uint64_t)(*p - '0');
    }
    c->mode = n > 0 ? BODY_LENGTH : BODY_NONE;
    c->remaining = n;
    return 0;
}

int ctl_http_read_head(struct ctl_http_conn *c, struct ctl_http_response *resp, struct iso_err *err)
{
    int r;

    ctl_http_response_done(resp);
    if (c->mode != BODY_IDLE)
        return iso_err_set(err, EINVAL, "no request awaiting a response on this connection");

    for (int interim = 0;; interim++) {
        struct ctl_http_response tmp = {0};
        size_t len = 0;

        r = find_head_end(c, &len, err);
        if (r < 0)
            return r;
        tmp.head_storage = malloc(len + 1);
        if (!tmp.head_storage)
            return iso_err_set(err, ENOMEM, "out of memory");
        memcpy(tmp.head_storage, c->buf + c->rpos, len);
        tmp.head_storage[len] = '\0';
        c->rpos += len;

        r = parse_head(tmp.head_storage, len, &tmp, err);
        if (r < 0) {
            ctl_http_response_done(&tmp);
            return r;
        }
        if (tmp.status >= 200 || tmp.status == 101) {
            r = set_framing(c, &tmp, err);
            if (r < 0) {
                ctl_http_response_done(&tmp);
                return r;
            }
            *resp = tmp;
            return 0;
        }
        ctl_http_response_done(&tmp);
        if (interim >= INTERIM_MAX)
            return iso_err_set(err, EBADMSG, "too many interim responses");
    }
}

static int parse_chunk_size(const char *line, uint64_t *ret, struct iso_err *err)
{
    const char *p = line;
    uint64_t n = 0;
    int digits = 0;

    for (; *p; p++, digits++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            break;
        if (digits >= 15)
            return iso_err_set(err, EBADMSG, "chunk size '%.32s' too large", line);
        n = n * 16 + (uint64_t)d;
    }
    if (digits == 0)
        return iso_err_set(err, EBADMSG, "malformed chunk size '%.32s'", line);
    while (*p == ' ' || *p == '\t')
        p++;
    /* Chunk extensions (";name=value") carry nothing we use. */
    if (*p && *p != ';')
        return iso_err_set(err, EBADMSG, "malformed chunk size '%.32s'", line);
    *ret = n;
    return 0;
}

static int read_trailers(struct ctl_http_conn *c, struct iso_err *err)
{
    size_t total = 0;

    for (;;) {
        char *line = NULL;
        size_t len = 0;
        int r = conn_read_line(c, LINE_MAX_LEN, "response trailer", &line, &len, err);
        if (r < 0)
            return r;
        if (len == 0)
            return 0;
        total += len;
        if (total > CTL_HTTP_HEAD_MAX)
            return iso_err_set(err, E2BIG, "response trailers larger than %zu bytes",
                               CTL_HTTP_HEAD_MAX);
        if (!strchr(line, ':'))
            return iso_err_set(err, EBADMSG, "malformed response trailer '%.64s'", line);
    }
}

/* Starts the next chunk when the current one is used up. Returns 1 when there is data to read,
 * 0 at the end of the body. */
static int chunk_advance(struct ctl_http_conn *c, struct iso_err *err)
{
    char *line = NULL;
    size_t len = 0;
    int r;

    while (c->remaining == 0) {
        if (c->chunk_crlf) {
            r = conn_read_line(c, 2, "chunked body", &line, &len, err);
            if (r < 0)
                return r;
            if (len != 0)
                return iso_err_set(err, EBADMSG, "chunk data not followed by CRLF");
            c->chunk_crlf = false;
        }
        r = conn_read_line(c, LINE_MAX_LEN, "chunked body", &line, &len, err);
        if (r < 0)
            return r;
        r = parse_chunk_size(line, &c->remaining, err);
        if (r < 0)
            return r;
        if (c->remaining == 0) {
            r = read_trailers(c, err);
            if (r < 0)
                return r;
            c->mode = BODY_NONE;
            return 0;
        }
        c->chunk_crlf = true;
    }
    return 1;
}

/* The next piece of the body, borrowed from the buffer until the next call. Returns 1 with a
 * piece, 0 at the end of the body, or a negative errno. */
static int body_next(struct ctl_http_conn *c, const char **ret, size_t *ret_len,
                     struct iso_err *err)
{
    size_t n;
    int r;

    switch (c->mode) {
    case BODY_IDLE:
        return iso_err_set(err, EINVAL, "no response head read on this connection");
    case BODY_UPGRADED:
        return iso_err_set(err, EINVAL, "the connection was upgraded and has no body");
    case BODY_NONE:
        return 0;
    case BODY_EOF:
        if (c->rpos == c->wpos) {
            ssize_t got = conn_fill(c);
            if (got < 0)
                return iso_err_set_errno(err, (int)got, "read response body");
            if (got == 0) {
                c->mode = BODY_NONE;
                return 0;
            }
        }
        n = c->wpos - c->rpos;
        break;
    case BODY_CHUNKED:
        r = chunk_advance(c, err);
        if (r <= 0)
            return r;
        r = conn_need(c, "response body", err);
        if (r < 0)
            return r;
        n = c->wpos - c->rpos;
        if (n > c->remaining)
            n = (size_t)c->remaining;
        c->remaining -= n;
        break;
    case BODY_LENGTH:
        r = conn_need(c, "response body", err);
        if (r < 0)
            return r;
        n = c->wpos - c->rpos;
        if (n > c->remaining)
            n = (size_t)c->remaining;
        c->remaining -= n;
        if (c->remaining == 0)
            c->mode = BODY_NONE;
        break;
    default:
        return iso_err_set(err, EINVAL, "bad connection state");
    }

    *ret = c->buf + c->rpos;
    *ret_len = n;
    c->rpos += n;
    return 1;
}

int ctl_http_stream_body(struct ctl_http_conn *c, ctl_http_sink_fn sink, void *userdata,
                         struct iso_err *err)
{
    for (;;) {
        const char *data = NULL;
        size_t len = 0;
        int r = body_next(c, &data, &len, err);
        if (r <= 0)
            return r;
        r = sink(userdata, data, len, err);
        if (r < 0)
            return r;
    }
}

int ctl_http_read_body(struct ctl_http_conn *c, struct ctl_http_response *resp, size_t max,
                       struct iso_err *err)
{
    _cleanup_free_ char *body = NULL;
    size_t len = 0, cap = 0;

    for (;;) {
        const char *data = NULL;
        size_t n = 0;
        int r = body_next(c, &data, &n, err);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        if (n > max || len > max - n)
            return iso_err_set(err, EFBIG, "response body larger than %zu bytes", max);
        /* len + n <= max cannot wrap; keep room for the NUL. */
        if (len + n >= cap) {
            size_t ncap = cap ? cap : 4096;
            while (ncap <= len + n)
                ncap = ncap > SIZE_MAX / 2 ? len + n + 1 : ncap * 2;
            char *nb = realloc(body, ncap);
            if (!nb)
                return iso_err_set(err, ENOMEM, "out of memory");
            body = nb;
            cap = ncap;
        }
        memcpy(body + len, data, n);
        len += n;
    }

    if (!body) {
        body = malloc(1);
        if (!body)
            return iso_err_set(err, ENOMEM, "out of memory");
    }
    body[len] = '\0';
    free(resp->body);
    resp->body = TAKE_PTR(body);
    resp->body_len = len;
    return 0;
}

int ctl_http_request(struct ctl_http_conn *c, const struct ctl_http_request *req,
                     struct ctl_http_response *resp, size_t max, struct iso_err *err)
{
    struct ctl_http_response tmp = {0};
    int r;

    r = ctl_http_send(c, req, err);
    if (r < 0) {
        /* The daemon may have answered (an error, typically) before reading the whole body. */
        if (r != -EPIPE && r != -ECONNRESET)
            return r;
        if (ctl_http_read_head(c, &tmp, NULL) < 0)
            return r;
    } else {
        r = ctl_http_read_head(c, &tmp, err);
        if (r < 0)
            return r;
    }

    r = ctl_http_read_body(c, &tmp, max, err);
    if (r < 0) {
        ctl_http_response_done(&tmp);
        return r;
    }
    ctl_http_response_done(resp);
    *resp = tmp;
    return 0;
}

int ctl_http_take_upgrade(struct ctl_http_conn *c, int *ret_fd, char **ret_buf, size_t *ret_len,
                          struct iso_err *err)
{
    char *rest = NULL;
    size_t len = c->wpos - c->rpos;

    if (c->mode != BODY_UPGRADED || c->fd < 0)
        return iso_err_set(err, EINVAL, "the connection was not upgraded");
    if (len > 0) {
        rest = malloc(len);
        if (!rest)
            return iso_err_set(err, ENOMEM, "out of memory");
        memcpy(rest, c->buf + c->rpos, len);
    }
    c->rpos = c->wpos = 0;
    *ret_fd = TAKE_FD(c->fd);
    *ret_buf = rest;
    *ret_len = len;
    return 0;
}
