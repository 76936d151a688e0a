/* Container endpoints of the Docker API (create, list, inspect, start, stop, kill, restart,
 * pause, wait, remove, resize, rename, top, prune). Logs and attach are in
 * containers-io.c. */
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "api/api-internal.h"
#include "api/stream.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/engine.h"

extern char **environ;

/* Docker's filters: {"key": ["v", ...]} or the older {"key": {"v": true}}; normalized to the
 * first form. Replies 400 itself on a bad value. */
static int parse_filters(struct api_req *req, json_t **ret)
{
    const char *f = api_query(req, "filters");
    struct iso_err err = {0};
    _cleanup_json_ json_t *j = NULL;
    json_t *out, *v;
    const char *key;

    out = json_object();
    if (!out) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return -ENOMEM;
    }
    if (f && *f) {
        if (iso_json_parse(f, strlen(f), &j, &err) < 0 || !json_is_object(j)) {
            json_decref(out);
            api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid filters: %s",
                             err.code ? err.msg : "expected a JSON object");
            return -EINVAL;
        }
        json_object_foreach(j, key, v)
        {
            json_t *list = json_array(), *x;
            const char *k;
            size_t i;
            if (json_is_array(v)) {
                json_array_foreach(v, i, x) if (json_is_string(x)) json_array_append(list, x);
            } else if (json_is_object(v)) {
                json_object_foreach(v, k, x) if (json_is_true(x))
                    json_array_append_new(list, json_string(k));
            } else {
                json_decref(list);
                json_decref(out);
                api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid filter '%s'", key);
                return -EINVAL;
            }
            json_object_set_new(out, key, list);
        }
    }
    *ret = out;
    return 0;
}

/* ---- POST /containers/create ---- */

void api_containers_create(struct api_req *req)
{
    _cleanup_json_ json_t *body = NULL;
    json_t *warnings = NULL;
    struct iso_err err = {0};
    char id[65];

    if (api_body_json(req, &body) < 0)
        return;
    if (eng_ctr_create(req->eng, api_query(req, "name"), body, id, &warnings, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(req, MHD_HTTP_CREATED, json_pack("{s:s, s:o}", "Id", id, "Warnings", warnings));
}

/* ---- GET /containers/json, GET /containers/{id}/json ---- */

void api_containers_list(struct api_req *req)
{
    _cleanup_json_ json_t *filters = NULL;
    json_t *list = NULL;
    struct iso_err err = {0};
    const char *limit_s = api_query(req, "limit");
    int64_t limit = -1;

    if (limit_s && *limit_s && iso_parse_int64(limit_s, -1, INT32_MAX, &limit) < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid limit '%s'", limit_s);
        return;
    }
    if (parse_filters(req, &filters) < 0)
        return;
    if (!api_query_bool(req, "size")) {
        char *text;
        size_t len;
        if (eng_ctr_list_text(req->eng, api_query_bool(req, "all"), (int)limit, filters, &text,
                              &len, &err) < 0) {
            api_reply_error(req, &err);
            return;
        }
        api_reply_owned(req, MHD_HTTP_OK, "application/json", text, len);
        return;
    }
    if (eng_ctr_list(req->eng, api_query_bool(req, "all"), (int)limit, true, filters, &list, &err) <
        0) {
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(req, MHD_HTTP_OK, list);
}

void api_containers_inspect(struct api_req *req)
{
    struct iso_err err = {0};
    json_t *j;

    if (eng_ctr_inspect(req->eng, api_param(req, 0), &j, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    if (api_query_bool(req, "size")) {
        json_object_set_new(j, "SizeRw", json_integer(0));
        json_object_set_new(j, "SizeRootFs", json_integer(0));
    }
    api_reply_json(req, MHD_HTTP_OK, j);
}

/* ---- operations that finish later: start, stop, restart, remove ---- */

struct op_ctx {
    struct api_wait w;
    struct iso_err err;
    bool failed;
};

static void op_free(struct api_wait *w)
{
    free(w);
}

static void op_resume(struct api_req *req)
{
    struct op_ctx *c = req->data;

    if (c->failed)
        api_reply_error(req, &c->err);
    else
        api_reply_empty(req, MHD_HTTP_NO_CONTENT);
}

static void op_done(void *ud, const struct iso_err *err)
{
    struct op_ctx *c = ud;

    if (err) {
        c->err = *err;
        c->failed = true;
    }
    api_wait_wake(&c->w);
    api_wait_release(&c->w);
}

typedef int (*op_fn)(struct api_req *req, const char *id, eng_done_fn done, void *ud,
                     struct iso_err *err);

/* Runs fn; 304 for -EALREADY, an error at once, or the answer when done fires. */
static void run_op(struct api_req *req, op_fn fn)
{
    struct op_ctx *c = calloc(1, sizeof(*c));
    struct iso_err err = {0};
    int r;

    if (!c) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    r = fn(req, api_param(req, 0), op_done, c, &err);
    if (r < 0) {
        free(c);
        if (r == -EALREADY)
            api_reply_empty(req, MHD_HTTP_NOT_MODIFIED);
        else
            api_reply_error(req, &err);
        return;
    }
    api_wait_start(&c->w, req, op_resume, op_free);
}

static int query_timeout(struct api_req *req, int *ret, struct iso_err *err)
{
    const char *t = api_query(req, "t");
    int64_t n;

    *ret = -1;
    if (!t || !*t)
        return 0;
    if (iso_parse_int64(t, -1, INT32_MAX, &n) < 0)
        return iso_err_set(err, EINVAL, "invalid value for t: '%s'", t);
    *ret = (int)n;
    return 0;
}

static int do_start(struct api_req *req, const char *id, eng_done_fn done, void *ud,
                    struct iso_err *err)
{
    /* moby refuses a legacy start body (HostConfig at start time). */
    if (req->body_len > 7)
        return iso_err_set(err, EINVAL,
                           "starting container with non-empty request body was deprecated since "
                           "API v1.22 and removed in v1.24");
    return eng_ctr_start(req->eng, id, done, ud, err);
}

static int do_stop(struct api_req *req, const char *id, eng_done_fn done, void *ud,
                   struct iso_err *err)
{
    int t, r = query_timeout(req, &t, err);
    if (r < 0)
        return r;
    return eng_ctr_stop(req->eng, id, t, api_query(req, "signal"), done, ud, err);
}

static int do_restart(struct api_req *req, const char *id, eng_done_fn done, void *ud,
                      struct iso_err *err)
{
    int t, r = query_timeout(req, &t, err);
    if (r < 0)
        return r;
    r = eng_ctr_restart(req->eng, id, t, api_query(req, "signal"), done, ud, err);
    return r == -EALREADY ? iso_err_set(err, EBUSY, "container is already running") : r;
}

static int do_remove(struct api_req *req, const char *id, eng_done_fn done, void *ud,
                     struct iso_err *err)
{
    return eng_ctr_remove(req->eng, id, api_query_bool(req, "force"), done, ud, err);
}

void api_containers_start(struct api_req *req)
{
    run_op(req, do_start);
}

void api_containers_stop(struct api_req *req)
{
    run_op(req, do_stop);
}

void api_containers_restart(struct api_req *req)
{
    run_op(req, do_restart);
}

void api_containers_delete(struct api_req *req)
{
    run_op(req, do_remove);
}

/* ---- kill, pause, unpause, rename, resize ---- */

static void reply_status(struct api_req *req, int r, const struct iso_err *err, unsigned ok)
{
    if (r < 0)
        api_reply_error(req, err);
    else
        api_reply_empty(req, ok);
}

void api_containers_kill(struct api_req *req)
{
    struct iso_err err = {0};
    int r = eng_ctr_kill(req->eng, api_param(req, 0), api_query(req, "signal"), &err);
    reply_status(req, r, &err, MHD_HTTP_NO_CONTENT);
}

void api_containers_pause(struct api_req *req)
{
    struct iso_err err = {0};
    int r = eng_ctr_pause(req->eng, api_param(req, 0), true, &err);
    reply_status(req, r, &err, MHD_HTTP_NO_CONTENT);
}

void api_containers_unpause(struct api_req *req)
{
    struct iso_err err = {0};
    int r = eng_ctr_pause(req->eng, api_param(req, 0), false, &err);
    reply_status(req, r, &err, MHD_HTTP_NO_CONTENT);
}

void api_containers_rename(struct api_req *req)
{
    struct iso_err err = {0};
    int r = eng_ctr_rename(req->eng, api_param(req, 0), api_query(req, "name"), &err);
    reply_status(req, r, &err, MHD_HTTP_NO_CONTENT);
}

void api_containers_resize(struct api_req *req)
{
    struct iso_err err = {0};
    const char *h = api_query(req, "h"), *w = api_query(req, "w");
    int64_t hh = 0, ww = 0;
    int r;

    if ((h && iso_parse_int64(h, 0, 65535, &hh) < 0) ||
        (w && iso_parse_int64(w, 0, 65535, &ww) < 0)) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid size: h=%s w=%s", h ? h : "",
                         w ? w : "");
        return;
    }
    r = eng_ctr_resize(req->eng, api_param(req, 0), (int)hh, (int)ww, &err);
    reply_status(req, r, &err, MHD_HTTP_OK);
}

/* ---- POST /containers/{id}/wait ---- */

enum wait_cond {
    WAIT_NOT_RUNNING,
    WAIT_NEXT_EXIT,
    WAIT_REMOVED,
};

struct wait_ctx {
    struct api_stream *stream;
    struct eng_sub *sub;
    char id[65];
    enum wait_cond cond;
    int exit_code;
    bool done;
};

static void wait_answer(struct wait_ctx *w, int code)
{
    if (w->done)
        return;
    w->done = true;
    api_stream_json(w->stream, json_pack("{s:i, s:n}", "StatusCode", code, "Error"));
    api_stream_end(w->stream);
    eng_events_unsubscribe(w->sub);
    free(w);
}

static void wait_event(void *ud, const struct eng_event *ev)
{
    struct wait_ctx *w = ud;
    const char *code;

    if (!streq(ev->type, "container") || !streq(ev->id, w->id))
        return;
    if (streq(ev->action, "die")) {
        code = json_string_value(json_object_get(ev->attributes, "exitCode"));
        w->exit_code = code ? atoi(code) : 0;
        if (w->cond != WAIT_REMOVED)
            wait_answer(w, w->exit_code);
    } else if (streq(ev->action, "destroy"))
        wait_answer(w, w->exit_code);
}

void api_containers_wait(struct api_req *req)
{
    const char *cond = api_query(req, "condition");
    enum eng_ctr_state state;
    struct iso_err err = {0};
    struct wait_ctx *w;
    char id[65];
    int code;

    if (eng_ctr_lookup(req->eng, api_param(req, 0), id, &err) < 0 ||
        eng_ctr_state(req->eng, id, &state, &code, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (!cond || !*cond || streq(cond, "not-running"))
        w->cond = WAIT_NOT_RUNNING;
    else if (streq(cond, "next-exit"))
        w->cond = WAIT_NEXT_EXIT;
    else if (streq(cond, "removed"))
        w->cond = WAIT_REMOVED;
    else {
        free(w);
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid condition: \"%s\"", cond);
        return;
    }
    memcpy(w->id, id, sizeof(id));
    w->exit_code = code;
    /* Headers go out now: docker run waits for them before it starts the container. */
    w->stream = api_stream_start(req, MHD_HTTP_OK, "application/json");
    if (!w->stream) {
        free(w);
        return;
    }
    if (w->cond == WAIT_NOT_RUNNING && state != ENG_CTR_RUNNING && state != ENG_CTR_PAUSED &&
        state != ENG_CTR_RESTARTING) {
        wait_answer(w, code);
        return;
    }
    w->sub = eng_events_subscribe(req->eng, wait_event, w);
    if (!w->sub)
        wait_answer(w, code);
}

/* ---- GET /containers/{id}/top ---- */

/* Runs ps with args (split on spaces, as moby does: no shell) and returns its output. */
static int run_ps(const char *args, char **ret, struct iso_err *err)
{
    _cleanup_free_ char *copy = strdup(args);
    char *argv[64] = {"ps"};
    size_t argc = 1, len = 0, cap = 0;
    posix_spawn_file_actions_t fa;
    char *out = NULL;
    int pipefd[2], status;
    pid_t pid;

    if (!copy)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (char *tok = strtok(copy, " "); tok && argc < ARRAY_SIZE(argv) - 1; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return iso_err_set_errno(err, errno, "pipe");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    int r = posix_spawnp(&pid, "ps", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (r != 0) {
        close(pipefd[0]);
        return iso_err_set(err, r, "run ps: %s", strerror(r));
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *n = realloc(out, cap);
            if (!n)
                break;
            out = n;
        }
        ssize_t n = read(pipefd[0], out + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(pipefd[0]);
    (void)waitpid(pid, &status, 0);
    if (!out)
        return iso_err_set(err, ENOMEM, "out of memory");
    out[len] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(out);
        return iso_err_set(err, EINVAL, "ps: failed with args '%s'", args);
    }
    *ret = out;
    return 0;
}

void api_containers_top(struct api_req *req)
{
    const char *args = api_query(req, "ps_args");
    _cleanup_free_ pid_t *pids = NULL;
    _cleanup_free_ char *out = NULL;
    struct iso_err err = {0};
    size_t n_pids = 0;
    json_t *titles, *procs;
    int pid_col = -1;

    if (!args || !*args)
        args = "-ef";
    if (eng_ctr_pids(req->eng, api_param(req, 0), &pids, &n_pids, &err) < 0 ||
        run_ps(args, &out, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    titles = json_array();
    procs = json_array();
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    int n_cols = 0;
    for (char *s2 = NULL, *t = line ? strtok_r(line, " \t", &s2) : NULL; t;
         t = strtok_r(NULL, " \t", &s2)) {
        if (streq(t, "PID"))
            pid_col = n_cols;
        json_array_append_new(titles, json_string(t));
        n_cols++;
    }
    if (pid_col < 0) {
        json_decref(titles);
        json_decref(procs);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
                         "Couldn't find PID field in ps output");
        return;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        /* The last column (CMD) keeps its spaces. */
        json_t *row = json_array();
        char *p = line;
        int pid = -1;
        for (int col = 0; col < n_cols && *p; col++) {
            while (*p == ' ' || *p == '\t')
                p++;
            size_t w = col == n_cols - 1 ? strlen(p) : strcspn(p, " \t");
            json_array_append_new(row, json_stringn(p, w));
            if (col == pid_col)
                pid = atoi(p);
            p += w;
        }
        bool ours = false;
        for (size_t i = 0; i < n_pids; i++)
            ours |= pids[i] == pid;
        if (ours)
            json_array_append_new(procs, row);
        else
            json_decref(row);
    }
    api_reply_json(req, MHD_HTTP_OK, json_pack("{s:o, s:o}", "Titles", titles, "Processes", procs));
}

/* ---- POST /containers/prune ---- */

struct prune_ctx {
    struct api_wait w;
    json_t *deleted;
    uint64_t reclaimed;
    struct iso_err err;
};

static void prune_free(struct api_wait *w)
{
    struct prune_ctx *c = (struct prune_ctx *)w;
    json_decref(c->deleted);
    free(c);
}

static void prune_resume(struct api_req *req)
{
    struct prune_ctx *c = req->data;
    if (c->err.code) {
        api_reply_error(req, &c->err);
        return;
    }
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:O, s:I}", "ContainersDeleted", c->deleted, "SpaceReclaimed",
                             (json_int_t)c->reclaimed));
}

static void prune_done(void *ud, json_t *deleted, uint64_t reclaimed)
{
    struct prune_ctx *c = ud;

    c->deleted = json_incref(deleted);
    c->reclaimed = reclaimed;
    api_wait_wake(&c->w);
    api_wait_release(&c->w);
}

void api_containers_prune(struct api_req *req)
{
    _cleanup_json_ json_t *filters = NULL;
    struct iso_err err = {0};
    struct prune_ctx *c;

    if (parse_filters(req, &filters) < 0)
        return;
    c = calloc(1, sizeof(*c));
    if (!c) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    /* Registered first: the engine may finish at once when nothing is to be pruned. */
    api_wait_start(&c->w, req, prune_resume, prune_free);
    if (eng_ctr_prune(req->eng, filters, prune_done, c, &err) < 0) {
        c->err = err;
        api_wait_wake(&c->w);
        api_wait_release(&c->w);
    }
}
