/* docker exec: records per container, the exec spec, the start through the shim
 * (docs/runtime.md, "Exec"), the exit, events. Loop thread only. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/containers.h"
#include "runtime/caps.h"
#include "runtime/spec.h"

/* Records kept per container: the oldest finished ones go first. */
#define MAX_EXECS       64
#define EXEC_ANSWER_MAX 1024

struct exec_drain;

struct ctr_exec {
    char id[65];
    struct ctr *c;
    json_t *cmd; /* array of strings */
    json_t *env; /* array of strings or NULL */
    char *user, *workdir, *detach_keys;
    bool tty, attach_in, attach_out, attach_err, privileged;
    unsigned short console_h, console_w;
    bool started, running, ended;
    int exit_code;
    pid_t pid;
    struct exec_drain *drain;
    struct ctr_exec *next;
};

/* Detached: the engine reads the output to its end to learn the exit. */
struct exec_drain {
    uv_poll_t poll;
    int fd;
    struct engine *e;
    char id[65];
    struct ctr_exec *x; /* NULL once the record is gone */
};

static void exec_free(struct ctr_exec *x);
static bool exec_check_exit(struct ctr_exec *x, bool container_gone);

static struct ctr_exec *exec_find(struct engine *e, const char *id, struct iso_err *err)
{
    size_t len = strlen(id);
    struct ctr_exec *match = NULL;

    if (len > 0) {
        for (struct ctr *c = ctr_list_first(e); c; c = c->next)
            for (struct ctr_exec *x = c->execs; x; x = x->next) {
                if (streq(x->id, id))
                    return x;
                if (strneq(x->id, id, len))
                    match = match ? (void *)-1 : x;
            }
    }
    if (!match || match == (void *)-1) {
        iso_err_set(err, ENOENT, "No such exec instance: %s", id);
        return NULL;
    }
    return match;
}

static void state_file(struct ctr_exec *x, const char *suffix, char *buf, size_t size)
{
    char dir[PATH_MAX];

    snprintf(buf, size, "%s/exec-%s.%s", ctr_dir(x->c, dir, sizeof(dir)), x->id, suffix);
}

static void exec_emit(struct ctr_exec *x, const char *action, json_t *extra)
{
    json_t *attrs = json_pack("{s:s}", "execID", x->id);

    if (attrs && extra)
        json_object_update(attrs, extra);
    json_decref(extra);
    ctr_emit(x->c, action, attrs);
}

/* "exec_create: sh -c echo", as moby names the action. */
static char *action_text(struct ctr_exec *x, const char *what)
{
    size_t i;
    json_t *v;
    char *s = strdup(what);

    json_array_foreach(x->cmd, i, v)
    {
        char *n = iso_strprintf("%s%s%s", s ? s : "", i == 0 ? ": " : " ", json_string_value(v));
        free(s);
        s = n;
    }
    return s;
}

static void drain_closed(uv_handle_t *h)
{
    struct exec_drain *d = h->data;

    safe_close(d->fd);
    free(d);
}

static void drain_stop(struct exec_drain *d)
{
    if (d->x)
        d->x->drain = NULL;
    d->x = NULL;
    uv_close((uv_handle_t *)&d->poll, drain_closed);
}

static void exec_free(struct ctr_exec *x)
{
    if (x->drain)
        drain_stop(x->drain);
    if (x->ended) {
        char path[PATH_MAX + 100];
        state_file(x, "spec", path, sizeof(path));
        (void)unlink(path);
    }
    json_decref(x->cmd);
    json_decref(x->env);
    free(x->user);
    free(x->workdir);
    free(x->detach_keys);
    free(x);
}

void ctr_execs_free(struct ctr *c)
{
    for (struct ctr_exec *x = c->execs, *next; x; x = next) {
        next = x->next;
        exec_free(x);
    }
    c->execs = NULL;
    c->n_execs = 0;
}

json_t *ctr_exec_ids(struct ctr *c)
{
    json_t *ids = NULL;

    for (struct ctr_exec *x = c->execs; x; x = x->next) {
        if (!x->running || exec_check_exit(x, false))
            continue;
        if (!ids && !(ids = json_array()))
            break;
        json_array_append_new(ids, json_string(x->id));
    }
    return ids ? ids : json_null();
}

void ctr_execs_stop(struct ctr *c)
{
    for (struct ctr_exec *x = c->execs; x; x = x->next)
        if (x->drain)
            drain_stop(x->drain);
}

/* Records the exit from the exit file (code 255 if there is none and the process must be
 * gone: the container exited). Returns whether the exec is over. */
static bool exec_check_exit(struct ctr_exec *x, bool container_gone)
{
    char path[PATH_MAX + 100], code[16];
    _cleanup_free_ char *text = NULL;
    long long ns;
    int v;

    if (!x->running)
        return x->ended;
    state_file(x, "exit", path, sizeof(path));
    if (iso_read_file_at(AT_FDCWD, path, 256, &text, NULL) == 0 &&
        sscanf(text, "%d %lld", &v, &ns) == 2) {
        x->exit_code = v;
        (void)unlink(path);
        state_file(x, "spec", path, sizeof(path));
        (void)unlink(path);
    } else if (container_gone)
        x->exit_code = 255;
    else
        return false;
    x->running = false;
    x->ended = true;
    x->pid = 0;
    snprintf(code, sizeof(code), "%d", x->exit_code);
    exec_emit(x, "exec_die", json_pack("{s:s}", "exitCode", code));
    return true;
}

void ctr_execs_container_exited(struct ctr *c)
{
    for (struct ctr_exec *x = c->execs; x; x = x->next)
        (void)exec_check_exit(x, true);
}

void eng_exec_ended(struct engine *e, const char *id)
{
    struct iso_err err = {0};
    struct ctr_exec *x = exec_find(e, id, &err);

    if (x)
        (void)exec_check_exit(x, false);
}

/* ---- create ---- */

static int strings_of(json_t *body, const char *key, json_t **ret, struct iso_err *err)
{
    int r = ctr_str_array(body, key, ret, err);

    if (r >= 0)
        json_incref(*ret);
    return r;
}

static int opt_bool(json_t *body, const char *key, bool *ret, struct iso_err *err)
{
    json_t *v = json_object_get(body, key);

    *ret = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return iso_err_set(err, EINVAL, "%s: must be a boolean", key);
    *ret = json_is_true(v);
    return 0;
}

static int opt_str(json_t *body, const char *key, char **ret, struct iso_err *err)
{
    json_t *v = json_object_get(body, key);

    *ret = NULL;
    if (v && !json_is_null(v) && !json_is_string(v))
        return iso_err_set(err, EINVAL, "%s: must be a string", key);
    *ret = strdup(v && json_is_string(v) ? json_string_value(v) : "");
    return *ret ? 0 : iso_err_set(err, ENOMEM, "out of memory");
}

static int console_size(json_t *body, unsigned short *h, unsigned short *w, struct iso_err *err)
{
    json_t *cs = json_object_get(body, "ConsoleSize");

    if (!cs || json_is_null(cs))
        return 0;
    if (!json_is_array(cs) || json_array_size(cs) != 2 || !json_is_integer(json_array_get(cs, 0)) ||
        !json_is_integer(json_array_get(cs, 1)))
        return iso_err_set(err, EINVAL, "ConsoleSize: must be [height, width]");
    json_int_t vh = json_integer_value(json_array_get(cs, 0)),
               vw = json_integer_value(json_array_get(cs, 1));
    if (vh < 0 || vw < 0 || vh > 65535 || vw > 65535)
        return iso_err_set(err, EINVAL, "ConsoleSize: out of range");
    *h = (unsigned short)vh;
    *w = (unsigned short)vw;
    return 0;
}

/* Drops the oldest finished records past the bound. */
static void execs_trim(struct ctr *c)
{
    while (c->n_execs >= MAX_EXECS) {
        struct ctr_exec **victim = NULL;
        for (struct ctr_exec **p = &c->execs; *p; p = &(*p)->next)
            if (!(*p)->running && !(*p)->drain)
                victim = p;
        if (!victim)
            return;
        struct ctr_exec *x = *victim;
        *victim = x->next;
        c->n_execs--;
        exec_free(x);
    }
}

int eng_exec_create(struct engine *e, const char *ctr, json_t *body, char ret_id[65],
                    struct iso_err *err)
{
    struct ctr *c = ctr_find(e, ctr, err);
    struct ctr_exec *x;
    int r;

    if (!c)
        return -err->code;
    x = calloc(1, sizeof(*x));
    if (!x)
        return iso_err_set(err, ENOMEM, "out of memory");
    x->c = c;
    if ((r = strings_of(body, "Cmd", &x->cmd, err)) < 0 ||
        (r = strings_of(body, "Env", &x->env, err)) < 0 ||
        (r = opt_str(body, "User", &x->user, err)) < 0 ||
        (r = opt_str(body, "WorkingDir", &x->workdir, err)) < 0 ||
        (r = opt_str(body, "DetachKeys", &x->detach_keys, err)) < 0 ||
        (r = opt_bool(body, "Tty", &x->tty, err)) < 0 ||
        (r = opt_bool(body, "AttachStdin", &x->attach_in, err)) < 0 ||
        (r = opt_bool(body, "AttachStdout", &x->attach_out, err)) < 0 ||
        (r = opt_bool(body, "AttachStderr", &x->attach_err, err)) < 0 ||
        (r = opt_bool(body, "Privileged", &x->privileged, err)) < 0 ||
        (r = console_size(body, &x->console_h, &x->console_w, err)) < 0)
        goto fail;
    if (json_array_size(x->cmd) == 0) {
        r = iso_err_set(err, EINVAL, "No exec command specified");
        goto fail;
    }
    if (c->state == ENG_CTR_PAUSED) {
        r = iso_err_set(err, EBUSY, "container %s is paused, unpause the container before exec",
                        c->id);
        goto fail;
    }
    if (c->state != ENG_CTR_RUNNING || c->starting) {
        r = iso_err_set(err, EBUSY, "container %s is not running", c->id);
        goto fail;
    }
    if (x->workdir[0] && x->workdir[0] != '/') {
        r = iso_err_set(err, EINVAL,
                        "the working directory '%s' is invalid, it needs to be an "
                        "absolute path",
                        x->workdir);
        goto fail;
    }
    if (ctr_random_id(x->id) < 0) {
        r = iso_err_set(err, EIO, "cannot make an exec id");
        goto fail;
    }
    execs_trim(c);
    x->next = c->execs;
    c->execs = x;
    c->n_execs++;
    char *action = action_text(x, "exec_create");
    if (action)
        exec_emit(x, action, NULL);
    free(action);
    memcpy(ret_id, x->id, 65);
    return 0;

fail:
    exec_free(x);
    return r;
}

/* ---- start ---- */

static bool env_has(char **list, size_t n, const char *kv, size_t *at)
{
    size_t klen = strcspn(kv, "=");

    for (size_t i = 0; i < n; i++)
        if (strneq(list[i], kv, klen) && list[i][klen] == '=') {
            *at = i;
            return true;
        }
    return false;
}

/* Docker's exec environment: the daemon's (PATH, HOSTNAME, TERM with a tty), the container's
 * Env, then the exec's, each replacing a key already there. The strings are borrowed or in
 * *pool. */
static char **exec_env(struct ctr_exec *x, size_t *ret_n, char **pool)
{
    json_t *lists[2] = {json_object_get(x->c->cfg, "Env"), x->env}, *v;
    size_t n = json_array_size(lists[0]) + json_array_size(lists[1]) + 4, k = 0, i, at;
    char **env = calloc(n, sizeof(*env));

    if (!env)
        return NULL;
    env[k++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    *pool = iso_strprintf("HOSTNAME=%s", ctr_hostname(x->c));
    if (!*pool) {
        free(env);
        return NULL;
    }
    env[k++] = *pool;
    if (x->tty)
        env[k++] = "TERM=xterm";
    for (int l = 0; l < 2; l++)
        json_array_foreach(lists[l], i, v)
        {
            const char *kv = json_string_value(v);
            if (!kv || !strchr(kv, '='))
                continue;
            if (env_has(env, k, kv, &at))
                env[at] = (char *)kv;
            else
                env[k++] = (char *)kv;
        }
    *ret_n = k;
    return env;
}

/* Writes exec-<id>.spec from the container's spec: same cgroups, capabilities, seccomp,
 * rlimits, no_new_privs, user and cwd unless the exec names its own. */
static int write_spec(struct ctr_exec *x, struct iso_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 100];
    struct rt_spec cs = {0}, es = {0};
    _cleanup_free_ char **env = NULL;
    _cleanup_free_ char *hostname = NULL;
    _cleanup_free_ char **args = NULL;
    size_t n_env = 0, i;
    json_t *v;
    int r;

    snprintf(path, sizeof(path), "%s/spec", ctr_dir(x->c, dir, sizeof(dir)));
    r = rt_spec_read(path, &cs, err);
    if (r < 0)
        return r;
    env = exec_env(x, &n_env, &hostname);
    args = calloc(json_array_size(x->cmd) + 1, sizeof(*args));
    if (!env || !args) {
        rt_spec_done(&cs);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    json_array_foreach(x->cmd, i, v) args[i] = (char *)json_string_value(v);
    es = (struct rt_spec){
        .id = x->id,
        .args = args,
        .n_args = json_array_size(x->cmd),
        .env = env,
        .n_env = n_env,
        .cwd = x->workdir[0] ? x->workdir : cs.cwd,
        .user = x->user[0] ? x->user : cs.user,
        .group_add = cs.group_add,
        .n_group_add = cs.n_group_add,
        .terminal = x->tty,
        .console_rows = x->console_h,
        .console_cols = x->console_w,
        .stdin_open = x->attach_in,
        .net = cs.net,
        .caps = x->privileged ? rt_caps_all() : cs.caps,
        .privileged = x->privileged,
        .no_new_privs = cs.no_new_privs,
        .seccomp = cs.seccomp,
        .rlimits = cs.rlimits,
        .n_rlimits = cs.n_rlimits,
        .cgroups = cs.cgroups,
        .n_cgroups = cs.n_cgroups,
        .log_max_files = 1,
        .uidmap = cs.uidmap,
        .n_uidmap = cs.n_uidmap,
        .gidmap = cs.gidmap,
        .n_gidmap = cs.n_gidmap,
    };
    state_file(x, "spec", path, sizeof(path));
    r = rt_spec_write(&es, path, err);
    rt_spec_done(&cs);
    return r;
}

/* Reads the shim's answer byte by byte: what follows it is the stream. */
static int read_answer(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        ssize_t r = RETRY_EINTR(read(fd, buf + n, 1));
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EPIPE;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 0;
}

static void on_drain(uv_poll_t *p, int status, int events)
{
    struct exec_drain *d = p->data;
    char buf[16384];
    ssize_t n = 1;

    if (status >= 0) {
        n = read(d->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
    }
    if (n > 0)
        return;
    struct engine *e = d->e;
    char id[65];
    memcpy(id, d->id, sizeof(id));
    drain_stop(d);
    eng_exec_ended(e, id);
}

static int drain_start(struct engine *e, struct ctr_exec *x, int fd, struct iso_err *err)
{
    struct exec_drain *d = calloc(1, sizeof(*d));

    if (!d)
        return iso_err_set(err, ENOMEM, "out of memory");
    d->fd = fd;
    d->e = e;
    d->x = x;
    memcpy(d->id, x->id, sizeof(d->id));
    (void)shutdown(fd, SHUT_WR);
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (uv_poll_init(eng_loop(e), &d->poll, fd) < 0) {
        free(d);
        return iso_err_set(err, EIO, "cannot watch the exec's output");
    }
    d->poll.data = d;
    x->drain = d;
    uv_poll_start(&d->poll, UV_READABLE | UV_DISCONNECT, on_drain);
    return 0;
}

int eng_exec_start(struct engine *e, const char *id, bool detach, int tty, int h, int w,
                   struct eng_exec_started *ret, struct iso_err *err)
{
    struct ctr_exec *x = exec_find(e, id, err);
    char line[128], answer[EXEC_ANSWER_MAX];
    _cleanup_close_ int fd = -1;
    int r;

    if (!x)
        return -err->code;
    if (x->running)
        return iso_err_set(err, EBUSY, "Error: Exec command %s is already running", x->id);
    if (x->started)
        return iso_err_set(err, EBUSY, "Error: Exec command %s has already run", x->id);
    if (x->c->state != ENG_CTR_RUNNING || x->c->starting)
        return iso_err_set(err, EBUSY, "container %s is not running", x->c->id);
    if (tty >= 0)
        x->tty = tty;
    if (h > 0 && w > 0) {
        x->console_h = (unsigned short)h;
        x->console_w = (unsigned short)w;
    }
    r = write_spec(x, err);
    if (r < 0)
        return r;
    snprintf(line, sizeof(line), "exec exec-%s.spec\n", x->id);
    fd = ctr_shim_connect(x->c, line, err);
    if (fd < 0)
        return fd;
    r = read_answer(fd, answer, sizeof(answer));
    if (r < 0)
        return iso_err_set(err, -r, "the shim of %.12s did not answer", x->c->id);
    x->started = true;
    *ret = (struct eng_exec_started){.fd = -1, .tty = x->tty};

    if (strneq(answer, "ok ", 3)) {
        x->pid = (pid_t)atoi(answer + 3);
        x->running = true;
        _cleanup_free_ char *action = action_text(x, "exec_start");
        if (action)
            exec_emit(x, action, NULL);
        if (detach) {
            r = drain_start(e, x, fd, err);
            if (r < 0)
                return r;
            fd = -1;
            return 0;
        }
        ret->fd = TAKE_FD(fd);
        return 0;
    }

    /* err <errno> <exit code> <message> */
    int code = EIO, exit_code = 125, off = 0;
    if (sscanf(answer, "err %d %d %n", &code, &exit_code, &off) < 2 || off == 0) {
        x->exit_code = 125;
        x->ended = true;
        return iso_err_set(err, EIO, "exec: the shim said '%s'", answer);
    }
    x->exit_code = exit_code;
    x->ended = true;
    snprintf(line, sizeof(line), "%d", exit_code);
    exec_emit(x, "exec_die", json_pack("{s:s}", "exitCode", line));
    const char *msg = answer + off;
    if (detach)
        return iso_err_set(err, exit_code == 126 || exit_code == 127 ? EINVAL : code,
                           "OCI runtime exec failed: exec failed: unable to start container "
                           "process: %s: unknown",
                           msg);
    ret->failure = iso_strprintf("OCI runtime exec failed: exec failed: unable to start container "
                                 "process: %s: unknown",
                                 msg);
    if (!ret->failure)
        return iso_err_set(err, ENOMEM, "out of memory");
    return 0;
}

/* ---- inspect, resize ---- */

int eng_exec_inspect(struct engine *e, const char *id, json_t **ret, struct iso_err *err)
{
    struct ctr_exec *x = exec_find(e, id, err);
    json_t *args, *j;

    if (!x)
        return -err->code;
    (void)exec_check_exit(x, false);
    args = json_array();
    for (size_t i = 1; args && i < json_array_size(x->cmd); i++)
        json_array_append(args, json_array_get(x->cmd, i));
    j = json_pack("{s:s, s:s, s:b, s:o, s:i, s:b, s:b, s:b, s:b, s:s, s:{s:s, s:o, s:b, s:s, "
                  "s:b}}",
                  "ID", x->id, "ContainerID", x->c->id, "Running", x->running, "ExitCode",
                  x->ended ? json_integer(x->exit_code) : json_null(), "Pid", (int)x->pid,
                  "OpenStdin", x->attach_in, "OpenStdout", x->attach_out, "OpenStderr",
                  x->attach_err, "CanRemove", 0, "DetachKeys", x->detach_keys, "ProcessConfig",
                  "entrypoint", json_string_value(json_array_get(x->cmd, 0)), "arguments",
                  args ? args : json_array(), "privileged", x->privileged, "user", x->user, "tty",
                  x->tty);
    if (!j)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret = j;
    return 0;
}

int eng_exec_resize(struct engine *e, const char *id, int h, int w, struct iso_err *err)
{
    struct ctr_exec *x = exec_find(e, id, err);
    char line[128], answer[256];
    _cleanup_close_ int fd = -1;

    if (!x)
        return -err->code;
    if (!x->running)
        return iso_err_set(err, EBUSY, "Exec %s is not running", x->id);
    if (!x->tty)
        return 0;
    snprintf(line, sizeof(line), "resize %d %d %s\n", h, w, x->id);
    fd = ctr_shim_connect(x->c, line, err);
    if (fd < 0)
        return fd;
    if (read_answer(fd, answer, sizeof(answer)) < 0)
        return iso_err_set(err, EIO, "the shim of %.12s did not answer", x->c->id);
    if (!strneq(answer, "ok", 2))
        return iso_err_set(err, EIO, "resize: %s", answer + (strneq(answer, "err ", 4) ? 4 : 0));
    return 0;
}
