/* cli/http.c against a real peer: a forked child on a socketpair (or on a unix socket in a
 * temp dir) reads the request and writes canned bytes. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "cli/http.h"
#include "common/macro.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static char tmp_dir[] = "/tmp/test-cli-http-XXXXXX";

/* ---- the peer ---- */

struct canned {
    const char *data;
    size_t len;       /* 0: strlen(data) */
    bool split;       /* write one byte at a time, to cut every token in two */
    bool close_after; /* close instead of waiting for the client to hang up */
    bool no_request;  /* answer without reading a request */
};

typedef void (*handler_fn)(int fd, const void *arg);

struct peer {
    pid_t pid;
};

static void peer_reap(struct peer *p)
{
    if (p->pid > 0) {
        int status;
        (void)RETRY_EINTR(waitpid(p->pid, &status, 0));
        p->pid = 0;
    }
}

/* Reads a request head up to its blank line, at most size - 1 bytes. */
static size_t read_head(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t n = RETRY_EINTR(read(fd, buf + len, 1));
        if (n <= 0)
            break;
        len++;
        if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    buf[len] = '\0';
    return len;
}

static void drain_until_eof(int fd)
{
    char buf[4096];

    while (RETRY_EINTR(read(fd, buf, sizeof(buf))) > 0)
        ;
}

static void canned_handler(int fd, const void *arg)
{
    const struct canned *c = arg;
    size_t len = c->len ? c->len : strlen(c->data);
    char head[8192];

    if (!c->no_request)
        read_head(fd, head, sizeof(head));
    if (c->split) {
        for (size_t i = 0; i < len; i++)
            if (iso_write_all(fd, c->data + i, 1) < 0)
                return;
    } else if (iso_write_all(fd, c->data, len) < 0) {
        return;
    }
    if (!c->close_after)
        drain_until_eof(fd);
}

/* Forks the peer on one end of a socketpair; *ret gets a connection on the other. */
static int peer_start(struct peer *p, handler_fn fn, const void *arg, struct ctl_http_conn **ret)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    p->pid = fork();
    if (p->pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -errno;
    }
    if (p->pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        close(sv[0]);
        fn(sv[1], arg);
        close(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    return ctl_http_conn_new(sv[0], ret);
}

#define _cleanup_peer_ _cleanup_(peer_reap)

static const struct ctl_http_request get_req = {.method = "GET", .target = "/version"};

/* One GET against canned bytes; returns ctl_http_request()'s result. */
static int canned_get(const struct canned *c, struct ctl_http_response *resp, size_t max,
                      struct iso_err *err)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    int r = peer_start(&p, canned_handler, c, &conn);

    if (r < 0)
        return r;
    r = ctl_http_request(conn, &get_req, resp, max, err);
    conn = ctl_http_conn_free(conn);
    return r;
}

/* ---- tests ---- */

static void test_content_length(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    const struct canned c = {
        .data = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Content-Length: 13\r\n\r\n{\"Version\":1}",
    };

    /* The peer keeps the connection open: Content-Length alone must end the body. */
    ASSERT_EQ(canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_EQ(resp.status, 200);
    ASSERT_STREQ(resp.reason, "OK");
    ASSERT_EQ(resp.body_len, 13);
    ASSERT_STREQ(resp.body, "{\"Version\":1}");
}

static void test_header_lookup(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    const struct canned c = {
        .data = "HTTP/1.1 204 No Content\r\nAPI-Version:   1.44  \r\nOstype: linux\n"
                "x-empty:\r\nServer: isod/0.1\r\nserver: second\r\n\r\n",
        .split = true,
    };

    ASSERT_EQ(canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_EQ(resp.status, 204);
    ASSERT_EQ(resp.body_len, 0);
    ASSERT_STREQ(resp.body, "");
    ASSERT_STREQ(ctl_http_header(&resp, "Api-Version"), "1.44");
    ASSERT_STREQ(ctl_http_header(&resp, "api-version"), "1.44");
    ASSERT_STREQ(ctl_http_header(&resp, "OSTYPE"), "linux");
    ASSERT_STREQ(ctl_http_header(&resp, "X-Empty"), "");
    ASSERT_STREQ(ctl_http_header(&resp, "server"), "isod/0.1");
    ASSERT_TRUE(ctl_http_header(&resp, "Content-Length") == NULL);
    ASSERT_TRUE(ctl_http_header(&resp, "Api") == NULL);
}

static void test_chunked(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    const struct canned c = {
        .data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5;name=value\r\nhello\r\n"
                "6 ; ext\r\n world\r\n"
                "A\r\n, chunked!\r\n"
                "0\r\nX-Trailer: 1\r\nChecksum: abc\r\n\r\n",
        .split = true,
    };

    ASSERT_EQ(canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_EQ(resp.status, 200);
    ASSERT_STREQ(resp.body, "hello world, chunked!");
    ASSERT_EQ(resp.body_len, 21);
}

static void test_body_until_eof(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    const struct canned c = {
        .data = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it\nuntil the end",
        .close_after = true,
    };

    ASSERT_EQ(canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_STREQ(resp.body, "all of it\nuntil the end");
}

static void test_interim_and_head(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    const struct ctl_http_request head_req = {.method = "HEAD", .target = "/_ping"};
    struct iso_err err = {0};
    const struct canned c = {
        .data = "HTTP/1.1 100 Continue\r\n\r\n"
                "HTTP/1.1 200 OK\r\nApi-Version: 1.44\r\nContent-Length: 2\r\n\r\n",
    };

    /* HEAD: Content-Length describes a body that is not sent; waiting for it would hang. */
    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_request(conn, &head_req, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_EQ(resp.status, 200);
    ASSERT_EQ(resp.body_len, 0);
    ASSERT_STREQ(ctl_http_header(&resp, "Api-Version"), "1.44");
}

static int append_sink(void *userdata, const char *data, size_t len, struct iso_err *err)
{
    char *buf = userdata;
    size_t have = strlen(buf);

    if (have + len >= 256)
        return iso_err_set(err, ENOSPC, "sink full");
    memcpy(buf + have, data, len);
    buf[have + len] = '\0';
    return 0;
}

static int cancel_sink(void *userdata, const char *data, size_t len, struct iso_err *err)
{
    return iso_err_set(err, ECANCELED, "stop");
}

static void test_stream_body(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    char got[256] = "";
    const struct canned c = {
        .data = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
                "f\r\n{\"status\":\"a\"}\n\r\n"
                "f\r\n{\"status\":\"b\"}\n\r\n"
                "0\r\n\r\n",
        .split = true,
    };

    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_send(conn, &get_req, &err), 0);
    ASSERT_EQ(ctl_http_read_head(conn, &resp, &err), 0);
    ASSERT_EQ(ctl_http_stream_body(conn, append_sink, got, &err), 0);
    ASSERT_STREQ(got, "{\"status\":\"a\"}\n{\"status\":\"b\"}\n");
}

static void test_stream_sink_stops(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    const struct canned c = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"};

    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_send(conn, &get_req, &err), 0);
    ASSERT_EQ(ctl_http_read_head(conn, &resp, &err), 0);
    ASSERT_EQ(ctl_http_stream_body(conn, cancel_sink, NULL, &err), -ECANCELED);
    ASSERT_STREQ(err.msg, "stop");
}

static void test_upgrade(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_free_ char *rest = NULL;
    _cleanup_close_ int fd = -1;
    const char *hdrs[] = {"Connection: Upgrade", "Upgrade: tcp", "Content-Type: text/plain", NULL};
    const struct ctl_http_request req = {
        .method = "POST", .target = "/containers/abc/attach?stream=1", .headers = hdrs};
    struct iso_err err = {0};
    size_t len = 0;
    char buf[8];
    /* The first stream frame arrives in the same write as the head. */
    static const char reply[] =
        "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        "\x01\x00\x00\x00\x00\x00\x00\x02hi";
    const struct canned c = {.data = reply, .len = sizeof(reply) - 1};

    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_send(conn, &req, &err), 0);
    ASSERT_EQ(ctl_http_read_head(conn, &resp, &err), 0);
    ASSERT_EQ(resp.status, 101);
    ASSERT_STREQ(ctl_http_header(&resp, "upgrade"), "tcp");
    ASSERT_EQ(ctl_http_read_body(conn, &resp, 100, &err), -EINVAL);

    ASSERT_EQ(ctl_http_take_upgrade(conn, &fd, &rest, &len, &err), 0);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(len, 10);
    ASSERT_TRUE(memcmp(rest, "\x01\x00\x00\x00\x00\x00\x00\x02hi", 10) == 0);
    ASSERT_EQ(ctl_http_take_upgrade(conn, &fd, &rest, &len, &err), -EINVAL);

    /* The fd is the raw stream now; the peer is still there, draining. */
    ASSERT_EQ(iso_write_all(fd, "stdin", 5), 0);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    ASSERT_EQ(iso_read_all(fd, buf, sizeof(buf)), 0);
}

static void test_upgrade_nothing_left(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_free_ char *rest = NULL;
    _cleanup_close_ int fd = -1;
    struct iso_err err = {0};
    size_t len = 99;
    const struct canned c = {.data = "HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n"};

    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_send(conn, &get_req, &err), 0);
    ASSERT_EQ(ctl_http_read_head(conn, &resp, &err), 0);
    ASSERT_EQ(ctl_http_take_upgrade(conn, &fd, &rest, &len, &err), 0);
    ASSERT_EQ(len, 0);
    ASSERT_TRUE(rest == NULL);
}

static void test_not_upgraded(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    char *rest = NULL;
    size_t len = 0;
    int fd = -1;
    const struct canned c = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};

    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_request(conn, &get_req, &resp, 100, &err), 0);
    ASSERT_EQ(ctl_http_take_upgrade(conn, &fd, &rest, &len, &err), -EINVAL);
    ASSERT_EQ(fd, -1);
}

static void test_malformed_chunks(void)
{
    static const char *const bodies[] = {
        "zz\r\nhello\r\n0\r\n\r\n",         /* not hex */
        "\r\nhello\r\n0\r\n\r\n",           /* empty size */
        "-5\r\nhello\r\n0\r\n\r\n",         /* sign */
        "5x\r\nhello\r\n0\r\n\r\n",         /* junk after the size */
        "ffffffffffffffffff\r\nhello\r\n",  /* overflows */
        "5\r\nhelloXX\r\n0\r\n\r\n",        /* data longer than the size */
        "3\r\nhello\r\n0\r\n\r\n",          /* data longer than the size */
        "0\r\nno colon in trailer\r\n\r\n", /* bad trailer */
    };

    for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
        _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
        _cleanup_free_ char *data = NULL;
        struct iso_err err = {0};

        data = iso_strprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s", bodies[i]);
        ASSERT_TRUE(data);
        const struct canned c = {.data = data};
        int r = canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err);
        if (r != -EBADMSG)
            TAP_FAIL("body %zu: %d (%s)", i, r, err.msg);
    }
}

static void test_malformed_heads(void)
{
    static const char *const heads[] = {
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    };

    for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
        _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
        struct iso_err err = {0};
        const struct canned c = {.data = heads[i]};
        int r = canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err);
        if (r != -EBADMSG)
            TAP_FAIL("head %zu: %d (%s)", i, r, err.msg);
    }
}

static void test_nul_in_head(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    static const char data[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    const struct canned c = {.data = data, .len = sizeof(data) - 1};

    ASSERT_EQ(canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err), -EBADMSG);
}

static void test_oversized_head(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_free_ char *data = NULL, *big = NULL;
    struct iso_err err = {0};

    big = malloc(CTL_HTTP_HEAD_MAX + 1);
    ASSERT_TRUE(big);
    memset(big, 'a', CTL_HTTP_HEAD_MAX);
    big[CTL_HTTP_HEAD_MAX] = '\0';
    data = iso_strprintf("HTTP/1.1 200 OK\r\nX-Big: %s\r\n\r\n", big);
    ASSERT_TRUE(data);
    const struct canned c = {.data = data};

    ASSERT_EQ(canned_get(&c, &resp, CTL_HTTP_BODY_MAX, &err), -E2BIG);
    ASSERT_STRSTR(err.msg, "headers larger than");

    /* Many small lines add up the same way; a peer that never ends the head is cut off too. */
    for (size_t i = 0; i + 5 < CTL_HTTP_HEAD_MAX; i += 5)
        memcpy(big + i, "X:1\r\n", 5);
    free(data);
    data = iso_strprintf("HTTP/1.1 200 OK\r\n%s", big);
    ASSERT_TRUE(data);
    const struct canned c2 = {.data = data};
    ASSERT_EQ(canned_get(&c2, &resp, CTL_HTTP_BODY_MAX, &err), -E2BIG);
}

static void test_body_limits(void)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct iso_err err = {0};
    const struct canned big = {.data = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"};
    const struct canned cut = {
        .data = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello",
        .close_after = true,
    };
    const struct canned cut_chunk = {
        .data = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        .close_after = true,
    };
    const struct canned none = {.data = "", .close_after = true};

    ASSERT_EQ(canned_get(&big, &resp, 10, &err), -EFBIG);
    ASSERT_EQ(canned_get(&big, &resp, 11, &err), 0);
    ASSERT_STREQ(resp.body, "hello world");
    ASSERT_EQ(canned_get(&cut, &resp, 100, &err), -ECONNRESET);
    ASSERT_EQ(canned_get(&cut_chunk, &resp, 100, &err), -ECONNRESET);
    ASSERT_EQ(canned_get(&none, &resp, 100, &err), -ECONNRESET);
    ASSERT_STRSTR(err.msg, "without a response");
}

/* The peer for request bodies: answers with the request head, a "--" line, then the body as
 * decoded from Content-Length or chunked framing. */
static void echo_handler(int fd, const void *arg)
{
    _cleanup_free_ char *body = NULL;
    size_t len = 0, cap = 0;
    char head[8192], line[64] = {0};
    const char *cl;

    read_head(fd, head, sizeof(head));
    if (strstr(head, "Transfer-Encoding: chunked\r\n")) {
        for (;;) {
            size_t l = 0;
            while (l + 1 < sizeof(line) && RETRY_EINTR(read(fd, line + l, 1)) == 1 &&
                   line[l] != '\n')
                l++;
            line[l] = '\0';
            size_t n = strtoul(line, NULL, 16);
            if (!body || len + n + 2 > cap) {
                cap = (len + n + 2) * 2;
                char *nb = realloc(body, cap);
                if (!nb)
                    return;
                body = nb;
            }
            if (iso_read_all(fd, body + len, n + 2) != (ssize_t)(n + 2))
                return;
            if (memcmp(body + len + n, "\r\n", 2) != 0)
                return;
            len += n;
            if (n == 0)
                break;
        }
    } else if ((cl = strstr(head, "Content-Length: "))) {
        len = strtoul(cl + 16, NULL, 10);
        body = malloc(len + 1);
        if (!body || iso_read_all(fd, body, len) != (ssize_t)len)
            return;
    }

    char *resp_head =
        iso_strprintf("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", strlen(head) + 4 + len);
    if (!resp_head)
        return;
    if (iso_write_all(fd, resp_head, strlen(resp_head)) == 0 &&
        iso_write_all(fd, head, strlen(head)) == 0 && iso_write_all(fd, "--\r\n", 4) == 0)
        (void)iso_write_all(fd, body, len);
    free(resp_head);
    drain_until_eof(fd);
}

struct source {
    size_t total, sent, step;
};

static char pattern_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

static ssize_t pattern_source(void *userdata, void *buf, size_t size)
{
    struct source *s = userdata;
    size_t n = s->total - s->sent;

    /* Vary the piece size: 1 byte, then growing, capped by what the client asked for. */
    if (n > s->step)
        n = s->step;
    if (n > size)
        n = size;
    for (size_t i = 0; i < n; i++)
        ((char *)buf)[i] = pattern_byte(s->sent + i);
    s->sent += n;
    s->step = s->step * 3 + 1;
    return (ssize_t)n;
}

static void test_streamed_request_body(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    struct source src = {.total = 300000, .step = 1};
    const char *hdrs[] = {"Content-Type: application/x-tar", NULL};
    const struct ctl_http_request req = {
        .method = "POST",
        .target = "/images/load?quiet=1",
        .headers = hdrs,
        .source = pattern_source,
        .userdata = &src,
    };
    struct iso_err err = {0};

    ASSERT_EQ(peer_start(&p, echo_handler, NULL, &conn), 0);
    ASSERT_EQ(ctl_http_request(conn, &req, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_EQ(resp.status, 200);
    ASSERT_STRSTR(resp.body, "POST /images/load?quiet=1 HTTP/1.1\r\n");
    ASSERT_STRSTR(resp.body, "\r\nHost: localhost\r\n");
    ASSERT_STRSTR(resp.body, "\r\nUser-Agent: isoctl/");
    ASSERT_STRSTR(resp.body, "\r\nContent-Type: application/x-tar\r\n");
    ASSERT_STRSTR(resp.body, "\r\nTransfer-Encoding: chunked\r\n");
    ASSERT_TRUE(!strstr(resp.body, "Content-Length"));

    const char *body = strstr(resp.body, "\r\n\r\n--\r\n");
    ASSERT_TRUE(body);
    body += 8;
    ASSERT_EQ(resp.body_len - (size_t)(body - resp.body), src.total);
    for (size_t i = 0; i < src.total; i++)
        if (body[i] != pattern_byte(i))
            TAP_FAIL("byte %zu differs", i);
}

static void test_request_body_content_length(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    const struct ctl_http_request req = {
        .method = "POST",
        .target = "/containers/create?name=web",
        .headers = hdrs,
        .body = "{\"Image\":\"alpine\"}",
        .body_len = 18,
    };
    const struct ctl_http_request empty = {.method = "POST", .target = "/containers/x/start"};
    struct iso_err err = {0};

    ASSERT_EQ(peer_start(&p, echo_handler, NULL, &conn), 0);
    ASSERT_EQ(ctl_http_request(conn, &req, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_STRSTR(resp.body, "\r\nContent-Length: 18\r\n");
    ASSERT_STRSTR(resp.body, "\r\n\r\n--\r\n{\"Image\":\"alpine\"}");
    conn = ctl_http_conn_free(conn);
    peer_reap(&p);

    /* A POST without a body still says so. */
    ASSERT_EQ(peer_start(&p, echo_handler, NULL, &conn), 0);
    ASSERT_EQ(ctl_http_request(conn, &empty, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_STRSTR(resp.body, "\r\nContent-Length: 0\r\n");
}

static ssize_t endless_source(void *userdata, void *buf, size_t size)
{
    memset(buf, 'x', size);
    return (ssize_t)size;
}

static void test_early_response(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    const struct ctl_http_request req = {
        .method = "POST", .target = "/images/load", .source = endless_source};
    struct iso_err err = {0};
    const struct canned c = {
        .data =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 25\r\n\r\n{\"message\":\"not a tar\"}\r\n",
        .close_after = true,
    };

    /* The daemon rejects the upload after the head and hangs up: its answer must win over
     * the broken pipe. */
    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    ASSERT_EQ(ctl_http_request(conn, &req, &resp, CTL_HTTP_BODY_MAX, &err), 0);
    ASSERT_EQ(resp.status, 400);
    ASSERT_STRSTR(resp.body, "not a tar");
}

static ssize_t failing_source(void *userdata, void *buf, size_t size)
{
    return -EIO;
}

static void test_bad_requests(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    struct iso_err err = {0};
    const char *bad_hdr[] = {"X-Evil: a\r\nInjected: b", NULL};
    const char *no_colon[] = {"NoColon", NULL};
    const struct ctl_http_request reqs[] = {
        {.method = "GET", .target = "/a b"},
        {.method = "GET", .target = "/a\r\nX: y"},
        {.method = "GET", .target = "relative"},
        {.method = "G T", .target = "/"},
        {.method = "GET", .target = "/", .headers = bad_hdr},
        {.method = "GET", .target = "/", .headers = no_colon},
        {.method = "POST", .target = "/", .body = "x", .body_len = 1, .source = failing_source},
    };
    const struct ctl_http_request failing = {
        .method = "POST", .target = "/images/load", .source = failing_source};
    const struct canned c = {.data = ""};

    ASSERT_EQ(peer_start(&p, canned_handler, &c, &conn), 0);
    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++)
        if (ctl_http_send(conn, &reqs[i], &err) != -EINVAL)
            TAP_FAIL("request %zu accepted", i);
    ASSERT_EQ(ctl_http_send(conn, &failing, &err), -EIO);
    ASSERT_STRSTR(err.msg, "read request body");
}

static void test_unix_socket(void)
{
    _cleanup_peer_ struct peer p = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_free_ char *path = iso_strprintf("%s/live.sock", tmp_dir);
    _cleanup_close_ int lfd = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct iso_err err = {0};
    const struct canned c = {
        .data = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK"};

    ASSERT_TRUE(path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(lfd >= 0);
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ASSERT_EQ(listen(lfd, 1), 0);

    p.pid = fork();
    ASSERT_TRUE(p.pid >= 0);
    if (p.pid == 0) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            canned_handler(fd, &c);
        _exit(0);
    }

    ASSERT_EQ(ctl_http_connect(path, &conn, &err), 0);
    const struct ctl_http_request ping = {.method = "GET", .target = "/_ping"};
    ASSERT_EQ(ctl_http_request(conn, &ping, &resp, 100, &err), 0);
    ASSERT_STREQ(resp.body, "OK");
    conn = ctl_http_conn_free(conn);
    unlink(path);
}

static void test_connect_errors(void)
{
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    _cleanup_free_ char *missing = iso_strprintf("%s/missing.sock", tmp_dir);
    _cleanup_free_ char *dead = iso_strprintf("%s/dead.sock", tmp_dir);
    _cleanup_close_ int fd = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct iso_err err = {0};
    char longp[200];

    ASSERT_TRUE(missing && dead);
    ASSERT_EQ(ctl_http_connect(missing, &conn, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "missing.sock");
    ASSERT_STRSTR(err.msg, strerror(ENOENT));
    ASSERT_TRUE(conn == NULL);

    /* A socket left behind by a daemon that died: bound, nobody listening. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dead);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    safe_close(TAKE_FD(fd));
    ASSERT_EQ(ctl_http_connect(dead, &conn, &err), -ECONNREFUSED);
    unlink(dead);

    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    ASSERT_EQ(ctl_http_connect(longp, &conn, &err), -ENAMETOOLONG);
}

int main(void)
{
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }

    TEST(test_content_length);
    TEST(test_header_lookup);
    TEST(test_chunked);
    TEST(test_body_until_eof);
    TEST(test_interim_and_head);
    TEST(test_stream_body);
    TEST(test_stream_sink_stops);
    TEST(test_upgrade);
    TEST(test_upgrade_nothing_left);
    TEST(test_not_upgraded);
    TEST(test_malformed_chunks);
    TEST(test_malformed_heads);
    TEST(test_nul_in_head);
    TEST(test_oversized_head);
    TEST(test_body_limits);
    TEST(test_streamed_request_body);
    TEST(test_request_body_content_length);
    TEST(test_early_response);
    TEST(test_bad_requests);
    TEST(test_unix_socket);
    TEST(test_connect_errors);

    (void)rmdir(tmp_dir);
    return tap_done();
}
