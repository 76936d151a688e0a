#include "daemon/helper.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/images.h"

#define LINE_MAX_BYTES (16u << 20)

struct helper {
    struct helper *next; /* in the list of running helpers */
    struct engine *e;
    uv_process_t proc;
    uv_pipe_t in, out;
    uv_write_t write;
    char *request;
    char *buf;
    size_t len, cap;
    json_t *last;
    int64_t status;
    int term_signal;
    bool exited, out_closed, overflow;
    unsigned open_handles;
    eng_helper_line_fn line;
    eng_helper_data_fn data; /* raw mode: stdout is data, not JSON lines */
    eng_helper_done_fn done;
    void *ud;
};

/* Running helpers, so shutdown can stop them. One engine per process. */
static struct helper *running;

static void helper_unlink(struct helper *hp)
{
    for (struct helper **pp = &running; *pp; pp = &(*pp)->next)
        if (*pp == hp) {
            *pp = hp->next;
            return;
        }
}

void eng_helpers_kill(void)
{
    for (struct helper *hp = running; hp; hp = hp->next)
        if (!hp->exited)
            (void)uv_process_kill(&hp->proc, SIGKILL);
}

static void helper_closed(uv_handle_t *h)
{
    struct helper *hp = h->data;

    if (--hp->open_handles > 0)
        return;
    json_decref(hp->last);
    free(hp->request);
    free(hp->buf);
    free(hp);
}

static void maybe_finish(struct helper *hp)
{
    struct iso_err err = {0};
    json_t *errj;

    if (!hp->exited || !hp->out_closed)
        return;
    errj = json_object_get(hp->last, "error");
    if (errj) {
        int code = (int)json_integer_value(json_object_get(errj, "code"));
        const char *msg = json_string_value(json_object_get(errj, "message"));
        iso_err_set(&err, code > 0 ? code : EIO, "%s", msg ? msg : "failed");
    } else if (hp->term_signal)
        iso_err_set(&err, EIO, "isod-fetch was killed by signal %d", hp->term_signal);
    else if (hp->status != 0 || (!hp->last && !hp->data))
        iso_err_set(&err, EIO, "isod-fetch failed (exit status %" PRId64 ")", hp->status);
    else if (hp->overflow)
        iso_err_set(&err, EIO, "isod-fetch answered a line longer than %u bytes", LINE_MAX_BYTES);

    hp->done(hp->ud, err.code ? NULL : hp->last, err.code ? &err : NULL);
    uv_close((uv_handle_t *)&hp->proc, helper_closed);
    uv_close((uv_handle_t *)&hp->out, helper_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct helper *hp = p->data;

    hp->exited = true;
    helper_unlink(hp);
    hp->status = status;
    hp->term_signal = term_signal;
    maybe_finish(hp);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct helper *hp = h->data;

    if (hp->data)
        hp->len = 0; /* raw mode hands each read on at once */
    if (hp->cap - hp->len < 4096) {
        size_t cap = hp->cap ? hp->cap * 2 : hp->data ? 65536 : 8192;
        char *b = realloc(hp->buf, cap);
        if (!b) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        hp->buf = b;
        hp->cap = cap;
    }
    *buf = uv_buf_init(hp->buf + hp->len, (unsigned)(hp->cap - hp->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct helper *hp = s->data;

    if (n < 0) {
        uv_read_stop(s);
        hp->out_closed = true;
        maybe_finish(hp);
        return;
    }
    if (hp->data) {
        hp->data(hp->ud, hp->buf, (size_t)n);
        return;
    }
    hp->len += (size_t)n;
    char *nl;
    while ((nl = memchr(hp->buf, '\n', hp->len))) {
        json_t *j = json_loadb(hp->buf, (size_t)(nl - hp->buf), 0, NULL);
        size_t used = (size_t)(nl - hp->buf) + 1;
        memmove(hp->buf, hp->buf + used, hp->len - used);
        hp->len -= used;
        if (!j)
            continue;
        if (json_object_get(j, "bytes") || json_object_get(j, "loading")) {
            if (hp->line)
                hp->line(hp->ud, j);
            json_decref(j);
        } else {
            json_decref(hp->last);
            hp->last = j;
        }
    }
    if (hp->len > LINE_MAX_BYTES) {
        hp->overflow = true;
        hp->len = 0;
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct helper *hp = w->data;
    uv_close((uv_handle_t *)&hp->in, helper_closed);
}

static int helper_start(struct engine *e, const char *op, json_t *request, eng_helper_line_fn line,
                        eng_helper_data_fn data, eng_helper_done_fn done, void *ud,
                        struct helper **ret, struct iso_err *err)
{
    struct helper *hp = calloc(1, sizeof(*hp));
    uv_stdio_container_t stdio[3];
    uv_process_options_t po = {0};
    int r;

    if (!hp) {
        json_decref(request);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    hp->request = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    if (!hp->request) {
        free(hp);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    hp->e = e;
    hp->line = line;
    hp->data = data;
    hp->done = done;
    hp->ud = ud;
    uv_pipe_init(eng_loop(e), &hp->in, 0);
    uv_pipe_init(eng_loop(e), &hp->out, 0);
    hp->in.data = hp->out.data = hp->proc.data = hp->write.data = hp;

    char *args[] = {(char *)eng_helper_path(e), (char *)op, (char *)eng_root(e), NULL};
    stdio[0] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_READABLE_PIPE,
                                      .data.stream = (uv_stream_t *)&hp->in};
    stdio[1] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                      .data.stream = (uv_stream_t *)&hp->out};
    stdio[2] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO};
    po.file = args[0];
    po.args = args;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_exit_cb;

    r = uv_spawn(eng_loop(e), &hp->proc, &po);
    if (r < 0) {
        hp->open_handles = 2;
        uv_close((uv_handle_t *)&hp->in, helper_closed);
        uv_close((uv_handle_t *)&hp->out, helper_closed);
        /* The process handle must be closed even when spawn failed. */
        hp->open_handles++;
        uv_close((uv_handle_t *)&hp->proc, helper_closed);
        return iso_err_set(err, -r, "start '%s': %s", args[0], uv_strerror(r));
    }
    hp->open_handles = 3;
    hp->next = running;
    running = hp;
    uv_buf_t b = uv_buf_init(hp->request, (unsigned)strlen(hp->request));
    uv_write(&hp->write, (uv_stream_t *)&hp->in, &b, 1, on_written);
    uv_read_start((uv_stream_t *)&hp->out, on_alloc, on_read);
    if (ret)
        *ret = hp;
    return 0;
}

int eng_helper_run(struct engine *e, const char *op, json_t *request, eng_helper_line_fn line,
                   eng_helper_done_fn done, void *ud, struct iso_err *err)
{
    return helper_start(e, op, request, line, NULL, done, ud, NULL, err);
}

int eng_helper_run_raw(struct engine *e, const char *op, json_t *request, eng_helper_data_fn data,
                       eng_helper_done_fn done, void *ud, struct helper **ret, struct iso_err *err)
{
    return helper_start(e, op, request, NULL, data, done, ud, ret, err);
}

void eng_helper_pause(struct helper *hp)
{
    if (!hp->out_closed)
        uv_read_stop((uv_stream_t *)&hp->out);
}

void eng_helper_resume(struct helper *hp)
{
    if (!hp->out_closed)
        uv_read_start((uv_stream_t *)&hp->out, on_alloc, on_read);
}
