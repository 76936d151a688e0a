#include "api/server.h"

#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>

#include "api/api-internal.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/engine.h"
#include "build-config.h"

struct listener {
    struct api_server *srv;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;   /* on MHD's epoll fd */
    uv_timer_t timer; /* MHD_get_timeout: idle timeouts, and work MHD left for "now" */
    uv_timer_t trim;  /* malloc_trim once the server has had no connection for a while */
    bool quiesced;
};

struct api_server {
    uv_loop_t *loop;
    struct engine *eng;
    struct api_server_opts opts;
    struct listener *ls;
    size_t n_ls;
    unsigned in_flight;
    unsigned connections;
    struct api_parked *parked; /* suspended connections */
    bool stopping;
    void (*idle_cb)(void *);
    void *idle_data;
    void (*closed_cb)(void *);
    void *closed_data;
    unsigned open_handles;
    uv_timer_t hangups; /* looks for clients gone from parked connections */
};

static void on_timer(uv_timer_t *t);

/* Lets MHD do all it can now, then arms the timer for what it wants to do later. MHD's epoll is
 * edge-triggered, so work it could not finish shows up as a zero timeout, not as readiness. */
static void pump(struct listener *l)
{
    MHD_UNSIGNED_LONG_LONG timeout;

    (void)MHD_run(l->mhd);
    if (MHD_get_timeout(l->mhd, &timeout) == MHD_YES)
        uv_timer_start(&l->timer, on_timer, timeout, 0);
    else
        uv_timer_stop(&l->timer);
}

static void on_timer(uv_timer_t *t)
{
    pump(t->data);
}

#define HANGUP_CHECK_MS 1000

/* A parked connection's client that hung up (or reset). A client that sent more (pipelining)
 * is still there. */
static bool client_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pollfd pfd = {.events = POLLRDHUP};

    if (!ci)
        return false;
    pfd.fd = ci->connect_fd;
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void on_hangups(uv_timer_t *t)
{
    struct api_server *s = t->data;
    bool watched = false;

    /* p->gone() unparks p (and only p): take next first. */
    for (struct api_parked *p = s->parked, *next; p; p = next) {
        next = p->next;
        if (!p->gone)
            continue;
        if (client_gone(p->conn)) {
            void (*gone)(struct api_parked *) = p->gone;
            p->gone = NULL;
            gone(p);
        } else
            watched = true;
    }
    if (!watched)
        uv_timer_stop(t);
}

bool api_server_park(struct api_server *s, struct api_parked *p, struct MHD_Connection *conn)
{
    if (s->stopping)
        return false;
    if (p->gone && s->hangups.data && !uv_is_active((uv_handle_t *)&s->hangups))
        uv_timer_start(&s->hangups, on_hangups, HANGUP_CHECK_MS, HANGUP_CHECK_MS);
    p->conn = conn;
    p->prev = NULL;
    p->next = s->parked;
    if (s->parked)
        s->parked->prev = p;
    s->parked = p;
    MHD_suspend_connection(conn);
    return true;
}

void api_server_unpark(struct api_server *s, struct api_parked *p)
{
    if (!p->conn)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->parked = p->next;
    if (p->next)
        p->next->prev = p->prev;
    MHD_resume_connection(p->conn);
    p->conn = NULL;
}

bool api_server_stopping(const struct api_server *s)
{
    return s->stopping;
}

static void reply_stopping(struct api_req *req)
{
    api_reply_errorf(req, MHD_HTTP_SERVICE_UNAVAILABLE, "isod is shutting down");
}

void api_req_defer(struct api_req *req, void (*cb)(struct api_req *req))
{
    req->resume = cb;
    if (!api_server_park(req->srv, &req->parked, req->conn)) {
        req->resume = NULL;
        reply_stopping(req);
    }
}

void api_req_resume(struct api_req *req)
{
    api_server_unpark(req->srv, &req->parked);
    api_server_kick(req->listener);
}

static void wait_cleanup(struct api_req *req)
{
    struct api_wait *w = req->data;
    w->req = NULL;
    api_wait_release(w);
}

void api_wait_start(struct api_wait *w, struct api_req *req, void (*resume)(struct api_req *),
                    void (*destroy)(struct api_wait *w))
{
    w->req = req;
    w->destroy = destroy;
    w->refs = 2;
    w->woken = false;
    req->data = w;
    req->cleanup = wait_cleanup;
    api_req_defer(req, resume);
}

void api_wait_wake(struct api_wait *w)
{
    if (w->req && !w->woken) {
        w->woken = true;
        api_req_resume(w->req);
    }
}

void api_wait_release(struct api_wait *w)
{
    if (--w->refs == 0)
        w->destroy(w);
}

void api_server_kick(void *listener)
{
    struct listener *l = listener;

    if (l->mhd)
        uv_timer_start(&l->timer, on_timer, 0, 0);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    pump(p->data);
}

/* MHD's own messages (its format strings, not user input), at debug level. */
static _printf_(2, 0) void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("libmicrohttpd", "detail=\"%s\"", msg);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct listener *l = cls;
    struct api_server *s = l->srv;
    struct api_req *req = *con_cls;
    struct iso_err err = {0};

    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->srv = s;
        req->listener = l;
        req->eng = s->eng;
        req->method = api_method_parse(method);
        req->body_fd = -1;
        req->begin_ns = iso_now_mono_ns();
        *con_cls = req;
        s->in_flight++;

        int r = api_route_match(api_routes, api_n_routes, req->method, url, API_VERSION_NUM(1, 24),
                                API_VERSION_NUM(1, 44), &req->match, &err);
        if (r == -EOPNOTSUPP) {
            api_reply_errorf(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed on '%s'",
                             method, url);
            return MHD_YES;
        }
        if (r == -ENOENT) {
            api_reply_errorf(req, MHD_HTTP_NOT_FOUND, "page not found");
            return MHD_YES;
        }
        if (r < 0) {
            api_reply_error(req, &err);
            return MHD_YES;
        }

        if (req->match.route->flags & API_BODY_FILE) {
            r = eng_tmpfile(req->eng, "upload", &req->body_path, &err);
            if (r < 0) {
                api_reply_error(req, &err);
                return MHD_YES;
            }
            req->body_fd = r;
            return MHD_YES;
        }

        /* Refuse an announced oversized body before reading any of it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t len;
        if (cl && iso_parse_int64(cl, 0, INT64_MAX, &len) == 0 &&
            (uint64_t)len > s->opts.max_body_bytes) {
            api_reply_errorf(req, MHD_HTTP_CONTENT_TOO_LARGE,
                             "request body of %" PRId64 " bytes is larger than the limit of %zu",
                             len, s->opts.max_body_bytes);
            return MHD_YES;
        }
        return MHD_YES;
    }

    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (req->replied || req->too_large)
            return MHD_YES;
        if (req->body_fd >= 0) {
            /* A local file: page cache speed, so written from the loop. */
            int w = req->body_errno ? 0 : iso_write_all(req->body_fd, upload_data, n);
            if (w < 0)
                req->body_errno = -w;
            req->body_len += n;
            return MHD_YES;
        }
        if (req->body_len + n > s->opts.max_body_bytes) {
            /* A chunked body has no length to check up front. */
            req->too_large = true;
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = req->body_cap ? req->body_cap : 1024;
            while (cap < req->body_len + n + 1)
                cap *= 2;
            char *b = realloc(req->body, cap);
            if (!b)
                return MHD_NO;
            req->body = b;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }

    if (req->resume) {
        void (*cb)(struct api_req *) = req->resume;
        req->resume = NULL;
        if (s->stopping) {
            reply_stopping(req);
            return MHD_YES;
        }
        cb(req);
        if (!req->replied && !req->resume)
            api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
        return MHD_YES;
    }
    if (req->replied)
        return MHD_YES;
    log_debug("request", "method=%s path=\"%s\" body_bytes=%zu", method, url, req->body_len);
    if (req->too_large) {
        api_reply_errorf(req, MHD_HTTP_CONTENT_TOO_LARGE,
                         "request body is larger than the limit of %zu bytes",
                         s->opts.max_body_bytes);
        return MHD_YES;
    }
    req->match.route->handler(req);
    if (!req->replied && !req->resume) {
        /* A handler that forgot to answer is a bug; never leave the client hanging. */
        log_error("handler did not reply", "path=\"%s\"", url);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct listener *l = cls;
    struct api_server *s = l->srv;
    struct api_req *req = *con_cls;

    if (!req)
        return;
    *con_cls = NULL;
    api_metrics_request(
        req->match.route ? req->match.route->pattern : NULL, req->method, req->status,
        req->reply_ns > req->begin_ns ? (double)(req->reply_ns - req->begin_ns) / 1e9 : 0);
    if (req->cleanup)
        req->cleanup(req);
    api_match_done(&req->match);
    safe_close(req->body_fd);
    if (req->body_path)
        (void)unlink(req->body_path);
    free(req->body_path);
    free(req->body);
    free(req);
    if (--s->in_flight == 0 && s->idle_cb)
        s->idle_cb(s->idle_data);
}

/* The connection bound is ours, not MHD_OPTION_CONNECTION_LIMIT: at its limit MHD leaves new
 * connections in the listen backlog, and with its edge-triggered epoll it may never come back
 * for them. A client past the limit is closed at once instead, which it can see and retry. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct listener *l = cls;

    if (l->srv->connections < l->srv->opts.max_connections)
        return MHD_YES;
    log_warn("connection limit reached, refusing a client", "limit=%u",
             l->srv->opts.max_connections);
    return MHD_NO;
}

/* A burst of clients (20 `run` at once: each a few connections with MHD's 32 KiB pool and
 * an attach splice) leaves free memory all through the heap, which malloc keeps. Handing it
 * back once the server is idle keeps isod's resident size at what it holds (docs/performance.md).
 * The timer is restarted by every close, so a busy server trims when the burst is over. */
#define TRIM_IDLE_MS 1000

static void on_trim(uv_timer_t *t)
{
    struct listener *l = t->data;

    if (l->srv->connections == 0)
        (void)malloc_trim(0);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct listener *l = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        l->srv->connections++;
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        l->srv->connections--;
        if (l->srv->connections == 0 && l->trim.data)
            uv_timer_start(&l->trim, on_trim, TRIM_IDLE_MS, 0);
    }
}

static int listener_start(struct api_server *s, struct listener *l, int fd, struct iso_err *err)
{
    const union MHD_DaemonInfo *info;
    int r;

    l->srv = s;
    /* External epoll: no MHD threads; the loop calls MHD_run when MHD's epoll fd is readable.
     * Suspend/resume and upgrade let streaming endpoints (wait, logs -f, attach) park a
     * connection without blocking the loop. */
    l->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0,
        on_accept, l, on_request, l, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_TIMEOUT, s->opts.idle_timeout_s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, l, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_END);
    if (!l->mhd)
        return iso_err_set(err, EIO, "cannot start the HTTP server on fd %d", fd);
    info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info)
        return iso_err_set(err, EIO, "HTTP server has no epoll fd");

    r = uv_poll_init(s->loop, &l->poll, info->epoll_fd);
    if (r < 0)
        return iso_err_set(err, -r, "watch HTTP server: %s", uv_strerror(r));
    l->poll.data = l;
    s->open_handles++;
    uv_timer_init(s->loop, &l->timer);
    l->timer.data = l;
    s->open_handles++;
    uv_timer_init(s->loop, &l->trim);
    l->trim.data = l;
    uv_unref((uv_handle_t *)&l->trim);
    s->open_handles++;
    uv_poll_start(&l->poll, UV_READABLE, on_poll);
    pump(l);
    return 0;
}

int api_server_new(uv_loop_t *loop, struct engine *eng, const int *fds, size_t n_fds,
                   const struct api_server_opts *opts, struct api_server **ret, struct iso_err *err)
{
    struct api_server *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return iso_err_set(err, ENOMEM, "out of memory");
    s->loop = loop;
    s->eng = eng;
    s->opts = *opts;
    s->ls = calloc(n_fds, sizeof(*s->ls));
    if (!s->ls) {
        free(s);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    uv_timer_init(loop, &s->hangups);
    s->hangups.data = s;
    uv_unref((uv_handle_t *)&s->hangups);
    s->open_handles++;
    for (size_t i = 0; i < n_fds; i++) {
        s->n_ls++;
        r = listener_start(s, &s->ls[i], fds[i], err);
        if (r < 0) {
            api_server_free(s, NULL, NULL);
            return r;
        }
    }
    *ret = s;
    return 0;
}

void api_server_quiesce(struct api_server *s)
{
    for (size_t i = 0; i < s->n_ls; i++) {
        struct listener *l = &s->ls[i];
        if (l->mhd && !l->quiesced) {
            /* Hands the listening fd back without closing it: the caller owns it. */
            (void)MHD_quiesce_daemon(l->mhd);
            l->quiesced = true;
            pump(l);
        }
    }
}

unsigned api_server_in_flight(const struct api_server *s)
{
    return s->in_flight;
}

void api_server_on_idle(struct api_server *s, void (*cb)(void *), void *data)
{
    s->idle_cb = cb;
    s->idle_data = data;
}

static void server_handle_closed(struct api_server *s)
{
    if (--s->open_handles > 0)
        return;
    if (s->closed_cb)
        s->closed_cb(s->closed_data);
    free(s->ls);
    free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct listener *l = h->data;

    server_handle_closed(l->srv);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    server_handle_closed(h->data);
}

void api_server_free(struct api_server *s, void (*cb)(void *), void *data)
{
    s->closed_cb = cb;
    s->closed_data = data;
    s->idle_cb = NULL;
    s->stopping = true;
    api_server_quiesce(s);
    /* MHD aborts when stopped with a suspended connection: resume them all and let MHD run
     * once, which answers the waiting requests 503 and ends the waiting streams. */
    while (s->parked)
        api_server_unpark(s, s->parked);
    api_attach_close_all();
    for (size_t i = 0; i < s->n_ls; i++)
        if (s->ls[i].mhd)
            (void)MHD_run(s->ls[i].mhd);
    for (size_t i = 0; i < s->n_ls; i++) {
        struct listener *l = &s->ls[i];
        if (l->mhd) {
            /* Closes the remaining connections; on_completed frees their requests. */
            MHD_stop_daemon(l->mhd);
            l->mhd = NULL;
        }
        if (l->poll.data)
            uv_close((uv_handle_t *)&l->poll, on_handle_closed);
        if (l->timer.data)
            uv_close((uv_handle_t *)&l->timer, on_handle_closed);
        if (l->trim.data)
            uv_close((uv_handle_t *)&l->trim, on_handle_closed);
    }
    uv_close((uv_handle_t *)&s->hangups, on_server_handle_closed);
    api_ping_done();
    api_metrics_done();
    if (s->open_handles == 0) {
        if (cb)
            cb(data);
        free(s->ls);
        free(s);
    }
}
