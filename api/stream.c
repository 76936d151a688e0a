#include "api/stream.h"

#include <stddef.h>
#include <string.h>

#include "api/api-internal.h"
#include "common/log.h"

struct api_stream {
    struct MHD_Connection *conn; /* NULL once MHD destroyed the response */
    struct api_server *srv;
    void *listener;
    char *buf;
    size_t off, len, cap; /* unsent bytes are buf[off, len) */
    bool ended;
    struct api_parked parked;
    int refs; /* the producer's and the response's */
    size_t drain_above;
    void (*drain_cb)(void *);
    void *drain_ud;
    void (*close_cb)(void *);
    void *close_ud;
    bool client_gone; /* seen by the server while parked (api_parked.gone) */
};

static void stream_unref(struct api_stream *s)
{
    if (--s->refs > 0)
        return;
    free(s->buf);
    free(s);
}

static void stream_resume(struct api_stream *s)
{
    if (s->parked.conn) {
        api_server_unpark(s->srv, &s->parked);
        api_server_kick(s->listener);
    }
}

/* The client left an idle stream (`logs -f` of a quiet container, `wait`, `events`): end it
 * now rather than at the next write, which may never come, while the connection counts
 * against --max-connections. */
static void on_client_gone(struct api_parked *p)
{
    struct api_stream *s = (struct api_stream *)((char *)p - offsetof(struct api_stream, parked));

    s->client_gone = true;
    stream_resume(s);
}

static ssize_t on_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct api_stream *s = cls;
    size_t n = s->len - s->off;

    if (n == 0) {
        if (s->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* Nothing to send: park the connection until the producer writes. At shutdown, end
         * the body short instead (MHD cannot stop with a parked connection). */
        s->parked.gone = on_client_gone;
        if (s->client_gone || !api_server_park(s->srv, &s->parked, s->conn))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        return 0;
    }
    if (n > max)
        n = max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    if (s->off == s->len)
        s->off = s->len = 0;
    if (s->drain_cb && s->len - s->off < s->drain_above / 2) {
        void (*cb)(void *) = s->drain_cb;
        s->drain_cb = NULL;
        cb(s->drain_ud);
    }
    return (ssize_t)n;
}

static void on_free(void *cls)
{
    struct api_stream *s = cls;

    s->conn = NULL;
    if (s->drain_cb) {
        /* A paused producer must learn the client is gone. */
        void (*cb)(void *) = s->drain_cb;
        s->drain_cb = NULL;
        cb(s->drain_ud);
    }
    if (s->close_cb) {
        void (*cb)(void *) = s->close_cb;
        s->close_cb = NULL;
        cb(s->close_ud);
    }
    stream_unref(s);
}

struct api_stream *api_stream_start(struct api_req *req, unsigned status, const char *content_type)
{
    struct api_stream *s = calloc(1, sizeof(*s));
    struct MHD_Response *resp;

    if (!s) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    s->conn = req->conn;
    s->srv = req->srv;
    s->listener = req->listener;
    s->refs = 2;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, on_read, s, on_free);
    if (!resp) {
        free(s);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    api_add_std_headers(resp);
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    api_req_answered(req, status);
    (void)MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    return s;
}

int api_stream_write(struct api_stream *s, const void *buf, size_t len)
{
    if (!s->conn)
        return -EPIPE;
    if (s->len + len > s->cap) {
        if (s->off > 0) {
            memmove(s->buf, s->buf + s->off, s->len - s->off);
            s->len -= s->off;
            s->off = 0;
        }
        if (s->len + len > s->cap) {
            size_t cap = s->cap ? s->cap : 4096;
            while (cap < s->len + len)
                cap *= 2;
            char *b = realloc(s->buf, cap);
            if (!b)
                return -ENOMEM;
            s->buf = b;
            s->cap = cap;
        }
    }
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    stream_resume(s);
    return 0;
}

int api_stream_json(struct api_stream *s, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int r;

    json_decref(j);
    if (!text)
        return -ENOMEM;
    size_t n = strlen(text);
    r = api_stream_write(s, text, n);
    if (r == 0)
        r = api_stream_write(s, "\r\n", 2);
    free(text);
    return r;
}

size_t api_stream_pending(const struct api_stream *s)
{
    return s->len - s->off;
}

void api_stream_on_drain(struct api_stream *s, size_t above, void (*cb)(void *), void *ud)
{
    s->drain_above = above;
    s->drain_cb = cb;
    s->drain_ud = ud;
}

void api_stream_on_close(struct api_stream *s, void (*cb)(void *ud), void *ud)
{
    s->close_cb = cb;
    s->close_ud = ud;
}

bool api_stream_gone(const struct api_stream *s)
{
    return !s->conn;
}

void api_stream_end(struct api_stream *s)
{
    s->ended = true;
    s->drain_cb = NULL;
    s->close_cb = NULL;
    stream_resume(s);
    stream_unref(s);
}
