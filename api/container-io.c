/* The container's output: GET /containers/{id}/logs (the shim's json-file log, read back and
 * followed) and POST /containers/{id}/attach (an upgraded connection spliced to the shim). */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/api-internal.h"
#include "api/stream.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/util.h"
#include "daemon/engine.h"

/* ---- GET /containers/{id}/logs ---- */

#define LOGS_CHUNK (64 * 1024)
#define LOGS_HIGH  (1024 * 1024) /* queued bytes above which reading pauses */

struct logs_ctx {
    struct api_stream *s;
    struct engine *e;
    struct eng_sub *sub;
    char id[65];
    char *log_path;
    bool tty, out, err, timestamps, follow;
    char since[40], until[40]; /* RFC 3339 bounds, "" for none; compared as strings */
    uint64_t skip;             /* lines left to skip (tail) */
    unsigned file;             /* rotated file being read: n..1, then 0 = live */
    int fd;
    ino_t ino;
    char *buf; /* bytes read and not yet a whole line */
    size_t len, cap;
    uv_fs_event_t watch;
    uv_timer_t timer;
    int handles; /* open uv handles */
    bool dead;   /* the container stopped: read to the end and finish */
    bool paused, ending;
};

static void logs_pump(struct logs_ctx *l);

static char *log_file(const struct logs_ctx *l, unsigned n)
{
    return n ? iso_strprintf("%s.%u", l->log_path, n) : strdup(l->log_path);
}

/* Formats unix ns the way the shim stamps log lines, so bounds compare as strings. */
static void bound(int64_t ns, char *buf, size_t size)
{
    if (ns <= 0)
        buf[0] = '\0';
    else
        iso_format_rfc3339((uint64_t)ns, buf, size);
}

static void emit(struct logs_ctx *l, const char *line, size_t n)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, n, 0, &jerr);
    const char *text, *stream, *time;
    size_t text_len;
    bool is_err;

    if (!j)
        return; /* a torn line: skipped, as moby does */
    text = json_string_value(json_object_get(j, "log"));
    text_len = json_string_length(json_object_get(j, "log"));
    stream = json_string_value(json_object_get(j, "stream"));
    time = json_string_value(json_object_get(j, "time"));
    if (!text || !stream || !time)
        goto out;
    is_err = streq(stream, "stderr");
    if ((is_err && !l->err) || (!is_err && !l->out))
        goto out;
    if ((l->since[0] && strcmp(time, l->since) < 0) || (l->until[0] && strcmp(time, l->until) > 0))
        goto out;
    size_t ts_len = l->timestamps ? strlen(time) + 1 : 0, total = ts_len + text_len;
    if (!l->tty) {
        unsigned char hdr[8] = {is_err ? 2 : 1,
                                0,
                                0,
                                0,
                                (unsigned char)(total >> 24),
                                (unsigned char)(total >> 16),
                                (unsigned char)(total >> 8),
                                (unsigned char)total};
        (void)api_stream_write(l->s, hdr, sizeof(hdr));
    }
    if (l->timestamps) {
        (void)api_stream_write(l->s, time, ts_len - 1);
        (void)api_stream_write(l->s, " ", 1);
    }
    (void)api_stream_write(l->s, text, text_len);
out:
    json_decref(j);
}

/* Handles the whole lines in buf; keeps a partial one. */
static void consume(struct logs_ctx *l)
{
    size_t off = 0;
    char *nl;

    while ((nl = memchr(l->buf + off, '\n', l->len - off))) {
        size_t n = (size_t)(nl - (l->buf + off));
        if (l->skip > 0)
            l->skip--;
        else
            emit(l, l->buf + off, n);
        off += n + 1;
    }
    memmove(l->buf, l->buf + off, l->len - off);
    l->len -= off;
}

static int open_file(struct logs_ctx *l, unsigned n)
{
    _cleanup_free_ char *path = log_file(l, n);
    struct stat st;

    l->fd = safe_close(l->fd);
    l->len = 0;
    if (!path)
        return -ENOMEM;
    l->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0)
        return -errno;
    if (fstat(l->fd, &st) == 0)
        l->ino = st.st_ino;
    return 0;
}

/* Counts the lines of every file, oldest first, to know how many a tail skips. */
static uint64_t count_lines(struct logs_ctx *l, unsigned first)
{
    char *chunk = malloc(LOGS_CHUNK);
    uint64_t lines = 0;

    if (!chunk)
        return 0;
    for (unsigned n = first + 1; n-- > 0;) {
        _cleanup_free_ char *path = log_file(l, n);
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        ssize_t r;
        if (fd < 0)
            continue;
        while ((r = read(fd, chunk, LOGS_CHUNK)) > 0)
            for (char *p = chunk; (p = memchr(p, '\n', (size_t)(chunk + r - p))); p++)
                lines++;
    }
    free(chunk);
    return lines;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct logs_ctx *l = h->data;

    if (--l->handles > 0)
        return;
    free(l->log_path);
    free(l->buf);
    free(l);
}

static void logs_end(struct logs_ctx *l)
{
    if (l->ending)
        return;
    l->ending = true;
    eng_events_unsubscribe(l->sub);
    l->sub = NULL;
    api_stream_end(l->s);
    l->fd = safe_close(l->fd);
    if (l->watch.data)
        uv_close((uv_handle_t *)&l->watch, on_handle_closed);
    if (l->timer.data)
        uv_close((uv_handle_t *)&l->timer, on_handle_closed);
    if (l->handles == 0) {
        free(l->log_path);
        free(l->buf);
        free(l);
    }
}

static void on_drain(void *ud)
{
    struct logs_ctx *l = ud;

    l->paused = false;
    logs_pump(l);
}

/* Reads what there is; at the end of the live file either finishes or waits for more. */
static void logs_pump(struct logs_ctx *l)
{
    ssize_t r;

    if (l->ending || l->paused)
        return;
    for (;;) {
        if (api_stream_gone(l->s)) {
            logs_end(l);
            return;
        }
        if (api_stream_pending(l->s) > LOGS_HIGH) {
            l->paused = true;
            api_stream_on_drain(l->s, LOGS_HIGH, on_drain, l);
            return;
        }
        if (l->fd >= 0) {
            if (l->cap - l->len < LOGS_CHUNK) {
                char *b = realloc(l->buf, l->len + LOGS_CHUNK);
                if (!b) {
                    logs_end(l);
                    return;
                }
                l->buf = b;
                l->cap = l->len + LOGS_CHUNK;
            }
            r = read(l->fd, l->buf + l->len, LOGS_CHUNK);
            if (r > 0) {
                l->len += (size_t)r;
                consume(l);
                continue;
            }
        }
        /* End of this file. An older one: go on with the next newer one. */
        if (l->file > 0) {
            l->file--;
            (void)open_file(l, l->file);
            continue;
        }
        /* The live file: rotated under us? Finish the old one (done: at EOF), reopen. */
        struct stat st;
        if (stat(l->log_path, &st) == 0 && (l->fd < 0 || st.st_ino != l->ino)) {
            if (open_file(l, 0) == 0)
                continue;
        }
        if (!l->follow || l->dead) {
            logs_end(l);
            return;
        }
        return; /* wait for the watch, the timer or the die event */
    }
}

static void on_watch(uv_fs_event_t *h, const char *name, int events, int status)
{
    logs_pump(h->data);
}

static void on_timer(uv_timer_t *t)
{
    logs_pump(t->data);
}

static void on_event(void *ud, const struct eng_event *ev)
{
    struct logs_ctx *l = ud;

    if (!streq(ev->type, "container") || !streq(ev->id, l->id))
        return;
    if (streq(ev->action, "die") || streq(ev->action, "destroy")) {
        l->dead = true;
        logs_pump(l);
    }
}

static int query_flag(struct api_req *req, const char *key)
{
    const char *v = api_query(req, key);
    bool b = false;

    if (!v)
        return 0;
    if (!*v)
        return 1;
    if (iso_parse_bool(v, &b) < 0)
        return -1;
    return b;
}

void api_containers_logs(struct api_req *req)
{
    const char *tail = api_query(req, "tail"), *since = api_query(req, "since"),
               *until = api_query(req, "until");
    int out = query_flag(req, "stdout"), err_ = query_flag(req, "stderr"),
        follow = query_flag(req, "follow"), ts = query_flag(req, "timestamps");
    struct iso_err err = {0};
    struct eng_ctr_io io;
    struct logs_ctx *l;
    int64_t since_ns = 0, until_ns = 0, tail_n = -1;
    char id[65];

    if (out < 0 || err_ < 0 || follow < 0 || ts < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid boolean in the query");
        return;
    }
    if (!out && !err_) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST,
                         "Bad parameters: you must choose at least one stream");
        return;
    }
    if (tail && *tail && !streq(tail, "all") &&
        iso_parse_int64(tail, INT64_MIN, INT64_MAX, &tail_n) < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid tail: '%s'", tail);
        return;
    }
    if ((since && *since && !streq(since, "0") && eng_parse_until(since, &since_ns) < 0) ||
        (until && *until && !streq(until, "0") && eng_parse_until(until, &until_ns) < 0)) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid since/until: '%s'",
                         since ? since : until);
        return;
    }
    if (eng_ctr_lookup(req->eng, api_param(req, 0), id, &err) < 0 ||
        eng_ctr_io_get(req->eng, id, &io, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        eng_ctr_io_done(&io);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    l->e = req->eng;
    l->fd = -1;
    memcpy(l->id, id, sizeof(id));
    l->log_path = io.log_path;
    io.log_path = NULL;
    l->tty = io.tty;
    l->out = out;
    l->err = err_;
    l->timestamps = ts;
    l->follow = follow && (io.state == ENG_CTR_RUNNING || io.state == ENG_CTR_PAUSED ||
                           io.state == ENG_CTR_RESTARTING);
    bound(since_ns, l->since, sizeof(l->since));
    bound(until_ns, l->until, sizeof(l->until));
    eng_ctr_io_done(&io);

    /* The oldest rotated file that exists. */
    struct stat st;
    for (unsigned n = 1; n < 1000; n++) {
        _cleanup_free_ char *p = log_file(l, n);
        if (!p || stat(p, &st) < 0)
            break;
        l->file = n;
    }
    if (tail_n >= 0) {
        uint64_t total = count_lines(l, l->file);
        l->skip = total > (uint64_t)tail_n ? total - (uint64_t)tail_n : 0;
    }
    l->s = api_stream_start(req, MHD_HTTP_OK,
                            l->tty ? "application/vnd.docker.raw-stream"
                                   : "application/vnd.docker.multiplexed-stream");
    if (!l->s) {
        free(l->log_path);
        free(l);
        return;
    }
    (void)open_file(l, l->file);
    if (l->follow) {
        /* Writes and rotations show as events on the state directory; the timer catches the
         * rest (and a client that left while nothing was written). */
        _cleanup_free_ char *dir = strdup(l->log_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            *slash = '\0';
        if (dir && uv_fs_event_init(eng_loop(l->e), &l->watch) == 0) {
            l->watch.data = l;
            l->handles++;
            (void)uv_fs_event_start(&l->watch, on_watch, dir, 0);
        }
        if (uv_timer_init(eng_loop(l->e), &l->timer) == 0) {
            l->timer.data = l;
            l->handles++;
            (void)uv_timer_start(&l->timer, on_timer, 1000, 1000);
        }
        l->sub = eng_events_subscribe(l->e, on_event, l);
        if (!l->sub)
            l->dead = true;
    }
    logs_pump(l);
}

/* ---- POST /containers/{id}/attach ---- */

/* Per direction. 64 KiB made 20 concurrent `run`s cost isod 2.6 MiB of heap at once. */
#define SPLICE_BUF (16 * 1024)

/* One direction of the splice. */
struct pipe_buf {
    char data[SPLICE_BUF];
    size_t off, len;
    bool eof; /* the reading side ended */
};

struct attach {
    struct attach *prev, *next;
    struct MHD_UpgradeResponseHandle *urh;
    void *listener;
    int cfd, sfd; /* client (MHD's), shim */
    uv_poll_t cpoll, spoll;
    int handles;
    bool closing, shut_wr;
    struct pipe_buf up, down; /* client -> shim, shim -> client */
    /* Set by the handler, used by the upgrade callback. */
    struct engine *e;
    api_splice_end_fn ended; /* when the shim side is over, before the client's closes */
    char end_id[65];
};

static struct attach *attaches;

static void attach_update(struct attach *a);

static void attach_closed(uv_handle_t *h)
{
    struct attach *a = h->data;

    if (--a->handles > 0)
        return;
    safe_close(a->sfd);
    void *listener = a->listener;
    (void)MHD_upgrade_action(a->urh, MHD_UPGRADE_ACTION_CLOSE);
    api_server_kick(listener);
    free(a);
}

static void attach_finish(struct attach *a)
{
    if (a->closing)
        return;
    a->closing = true;
    if (a->ended)
        a->ended(a->e, a->end_id);
    if (a->prev)
        a->prev->next = a->next;
    else
        attaches = a->next;
    if (a->next)
        a->next->prev = a->prev;
    uv_close((uv_handle_t *)&a->cpoll, attach_closed);
    uv_close((uv_handle_t *)&a->spoll, attach_closed);
}

/* Moves bytes from `from` into b, and from b to `to`. Returns -1 when the connection is over. */
static int flow(int from, int to, struct pipe_buf *b, bool readable, bool writable)
{
    ssize_t n;

    if (readable && b->len == 0 && !b->eof) {
        n = read(from, b->data, sizeof(b->data));
        if (n > 0) {
            b->off = 0;
            b->len = (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            b->eof = true;
    }
    if (b->len > 0 && (writable || readable)) {
        n = send(to, b->data + b->off, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            b->off += (size_t)n;
            b->len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
    }
    return 0;
}

static void on_attach_poll(uv_poll_t *p, int status, int events)
{
    struct attach *a = p->data;
    bool is_client = p == &a->cpoll;

    if (a->closing)
        return;
    if (status < 0) {
        attach_finish(a);
        return;
    }
    /* Readable on one side feeds the other; writable drains what waits for this side. */
    if (is_client) {
        if (flow(a->cfd, a->sfd, &a->up, events & UV_READABLE, false) < 0 ||
            flow(a->sfd, a->cfd, &a->down, false, events & UV_WRITABLE) < 0) {
            attach_finish(a);
            return;
        }
    } else {
        if (flow(a->sfd, a->cfd, &a->down, events & UV_READABLE, false) < 0 ||
            flow(a->cfd, a->sfd, &a->up, false, events & UV_WRITABLE) < 0) {
            attach_finish(a);
            return;
        }
    }
    attach_update(a);
}

static void attach_update(struct attach *a)
{
    int cev = 0, sev = 0;

    /* The client's stdin ended: pass the half-close on (stdin_once closes the container's). */
    if (a->up.eof && a->up.len == 0 && !a->shut_wr) {
        (void)shutdown(a->sfd, SHUT_WR);
        a->shut_wr = true;
    }
    /* The container's output ended and all of it reached the client: done. */
    if (a->down.eof && a->down.len == 0) {
        attach_finish(a);
        return;
    }
    if (!a->up.eof && a->up.len == 0)
        cev |= UV_READABLE;
    if (a->down.len > 0)
        cev |= UV_WRITABLE;
    if (a->down.len == 0)
        sev |= UV_READABLE;
    if (a->up.len > 0)
        sev |= UV_WRITABLE;
    uv_poll_start(&a->cpoll, cev, on_attach_poll);
    uv_poll_start(&a->spoll, sev, on_attach_poll);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct attach *a = cls;
    uv_loop_t *loop = eng_loop(a->e);

    a->urh = urh;
    a->cfd = sock;
    /* Bytes the client sent after its request are the start of its stdin. */
    if (extra_in_size > 0) {
        size_t n = extra_in_size < sizeof(a->up.data) ? extra_in_size : sizeof(a->up.data);
        memcpy(a->up.data, extra_in, n);
        a->up.len = n;
    }
    (void)fcntl(a->sfd, F_SETFL, fcntl(a->sfd, F_GETFL) | O_NONBLOCK);
    (void)fcntl(a->cfd, F_SETFL, fcntl(a->cfd, F_GETFL) | O_NONBLOCK);
    if (uv_poll_init(loop, &a->cpoll, a->cfd) < 0 || uv_poll_init(loop, &a->spoll, a->sfd) < 0) {
        log_warn("attach: cannot watch the connection", "");
        safe_close(a->sfd);
        (void)MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        free(a);
        return;
    }
    a->cpoll.data = a->spoll.data = a;
    a->handles = 2;
    a->next = attaches;
    if (attaches)
        attaches->prev = a;
    attaches = a;
    attach_update(a);
}

void api_attach_close_all(void)
{
    while (attaches)
        attach_finish(attaches);
}

void api_upgrade_splice(struct api_req *req, int fd, bool tty, api_splice_end_fn ended,
                        const char *end_id)
{
    struct MHD_Response *resp;
    struct attach *a = calloc(1, sizeof(*a));

    if (!a) {
        safe_close(fd);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    a->sfd = fd;
    a->cfd = -1;
    a->e = req->eng;
    a->listener = req->listener;
    a->ended = ended;
    snprintf(a->end_id, sizeof(a->end_id), "%s", end_id ? end_id : "");
    resp = MHD_create_response_for_upgrade(on_upgrade, a);
    if (!resp) {
        safe_close(fd);
        free(a);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    api_add_std_headers(resp);
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "tcp");
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                  tty ? "application/vnd.docker.raw-stream"
                                      : "application/vnd.docker.multiplexed-stream");
    api_req_answered(req, MHD_HTTP_SWITCHING_PROTOCOLS);
    if (MHD_queue_response(req->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp) != MHD_YES) {
        /* A client that did not ask to upgrade. */
        MHD_destroy_response(resp);
        safe_close(fd);
        free(a);
        req->replied = false;
        if (ended)
            ended(req->eng, end_id);
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST,
                         "attach needs an upgraded connection: send 'Connection: Upgrade' and "
                         "'Upgrade: tcp'");
        return;
    }
    MHD_destroy_response(resp);
}

void api_containers_attach(struct api_req *req)
{
    int in = query_flag(req, "stdin"), out = query_flag(req, "stdout"),
        err_ = query_flag(req, "stderr"), stream = query_flag(req, "stream");
    struct iso_err err = {0};
    struct eng_ctr_io io;
    char id[65];
    int fd;

    if (in < 0 || out < 0 || err_ < 0 || stream < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid boolean in the query");
        return;
    }
    if (eng_ctr_lookup(req->eng, api_param(req, 0), id, &err) < 0 ||
        eng_ctr_io_get(req->eng, id, &io, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    bool tty = io.tty;
    eng_ctr_io_done(&io);
    if (eng_ctr_attach(req->eng, id, in, out, err_, &fd, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    api_upgrade_splice(req, fd, tty, NULL, NULL);
}
