/* isoctl run, create, start, ps, stop, kill, restart, rm, logs, inspect, wait, pause, unpause,
 * rename, top, attach and container prune: the /containers endpoints, driven and printed the way
 * the docker CLI does (see docs/api.md "Containers" and DOCKER-API.md §5-§10). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/format.h"
#include "cli/isoctl-internal.h"
#include "cli/progress.h"
#include "cli/reference.h"
#include "cli/run-opts.h"
#include "cli/stdcopy.h"
#include "common/json.h"
#include "common/util.h"

/* docker run's exit codes for failures of the daemon or of the command itself. */
enum {
    RUN_EXIT_DAEMON = 125,
    RUN_EXIT_CANNOT_INVOKE = 126,
    RUN_EXIT_NOT_FOUND = 127,
};

/* "/containers/<name><suffix>", name path-escaped. NULL on OOM. */
static char *ctr_target(const char *name, const char *suffix)
{
    _cleanup_free_ char *esc = ctl_path_escape(name);

    return esc ? iso_strprintf("/containers/%s%s", esc, suffix) : NULL;
}

/* A request whose answer we only need to be a success. */
static int ctr_call(struct ctl_client *cl, const char *method, const char *target,
                    struct iso_err *err)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    const struct ctl_http_request req = {.method = method, .target = target};

    return ctl_client_call(cl, &req, &resp, err);
}

static int ctr_inspect(struct ctl_client *cl, const char *name, json_t **ret, struct iso_err *err)
{
    _cleanup_free_ char *target = ctr_target(name, "/json");

    if (!target)
        return iso_err_set(err, ENOMEM, "out of memory");
    return ctl_client_get_json(cl, target, ret, err);
}

static bool get_winsize(int fd, unsigned *rows, unsigned *cols)
{
    struct winsize ws;

    if (!ctl_isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) < 0)
        return false;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return true;
}

/* POST <base>/resize with our terminal's size: base is "/containers/<id>" or "/exec/<id>". */
static void resize_at(struct ctl_client *cl, const char *base)
{
    _cleanup_free_ char *target = NULL;
    struct iso_err err = {0};
    unsigned rows, cols;
    char h[16], w[16];

    if (!get_winsize(STDOUT_FILENO, &rows, &cols) || rows == 0 || cols == 0)
        return;
    snprintf(h, sizeof(h), "%u", rows);
    snprintf(w, sizeof(w), "%u", cols);
    target = iso_strprintf("%s/resize", base);
    if (!target || ctl_target_add(&target, "h", h) < 0 || ctl_target_add(&target, "w", w) < 0)
        return;
    /* As docker: a failed resize is not worth stopping the session for. */
    (void)ctr_call(cl, "POST", target, &err);
}

static void resize_tty(struct ctl_client *cl, const char *id)
{
    _cleanup_free_ char *base = ctr_target(id, "");

    if (base)
        resize_at(cl, base);
}

/* ---- wait ---- */

/* POST /containers/{id}/wait, split in two: the daemon sends the headers at once, and the
 * body when the condition is met. docker run opens it before the start, so that an exit right
 * after the start is not missed. */
struct waiter {
    struct ctl_http_conn *conn;
    struct ctl_http_response resp;
};

static void waiter_done(struct waiter *w)
{
    w->conn = ctl_http_conn_free(w->conn);
    ctl_http_response_done(&w->resp);
}

static int wait_begin(struct ctl_client *cl, const char *id, const char *condition,
                      struct waiter *w, struct iso_err *err)
{
    _cleanup_free_ char *target = ctr_target(id, "/wait");
    int r;

    *w = (struct waiter){0};
    if (!target || (condition && ctl_target_add(&target, "condition", condition) < 0))
        return iso_err_set(err, ENOMEM, "out of memory");
    const struct ctl_http_request req = {.method = "POST", .target = target};

    r = ctl_client_connect(cl, &w->conn, err);
    if (r >= 0)
        r = ctl_http_send(w->conn, &req, err);
    if (r >= 0)
        r = ctl_http_read_head(w->conn, &w->resp, err);
    if (r >= 0 && w->resp.status >= 400) {
        r = ctl_http_read_body(w->conn, &w->resp, CTL_HTTP_BODY_MAX, err);
        if (r >= 0)
            r = ctl_client_error_from_response(&w->resp, err);
    }
    if (r < 0)
        waiter_done(w);
    return r;
}

/* The StatusCode of the body; the wait's own Error is an error. */
static int wait_end(struct waiter *w, int *ret_status, struct iso_err *err)
{
    _cleanup_json_ json_t *j = NULL;
    const char *msg;
    int r;

    r = ctl_http_read_body(w->conn, &w->resp, CTL_HTTP_BODY_MAX, err);
    if (r >= 0)
        r = iso_json_parse(w->resp.body, w->resp.body_len, &j, err);
    waiter_done(w);
    if (r < 0)
        return iso_err_prefix(err, "wait");
    msg = json_string_value(json_object_get(json_object_get(j, "Error"), "Message"));
    if (msg && *msg)
        return iso_err_set(err, EIO, "%s", msg);
    *ret_status = (int)json_integer_value(json_object_get(j, "StatusCode"));
    return 0;
}

/* ---- attach: the hijacked connection and the copy loop ---- */

/* POSTs target (with an optional JSON body) asking for an upgrade; on 101 hands over the
 * connection and what arrived with the answer. attach and exec start share it. */
static int upgrade_open(struct ctl_client *cl, const char *target, const char *body, int *ret_fd,
                        char **ret_buf, size_t *ret_len, struct iso_err *err)
{
    static const char *const text_headers[] = {"Content-Type: text/plain", "Connection: Upgrade",
                                               "Upgrade: tcp", NULL};
    static const char *const json_headers[] = {"Content-Type: application/json",
                                               "Connection: Upgrade", "Upgrade: tcp", NULL};
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_http_conn_ struct ctl_http_conn *conn = NULL;
    const struct ctl_http_request req = {.method = "POST",
                                         .target = target,
                                         .headers = body ? json_headers : text_headers,
                                         .body = body,
                                         .body_len = body ? strlen(body) : 0};
    int r;

    r = ctl_client_connect(cl, &conn, err);
    if (r >= 0)
        r = ctl_http_send(conn, &req, err);
    if (r >= 0)
        r = ctl_http_read_head(conn, &resp, err);
    if (r < 0)
        return r;
    if (resp.status >= 400) {
        r = ctl_http_read_body(conn, &resp, CTL_HTTP_BODY_MAX, err);
        return r < 0 ? r : ctl_client_error_from_response(&resp, err);
    }
    if (resp.status != 101)
        return iso_err_set(err, EPROTO, "unable to upgrade to tcp, received %d", resp.status);
    return ctl_http_take_upgrade(conn, ret_fd, ret_buf, ret_len, err);
}

static int attach_open(struct ctl_client *cl, const char *id, bool in, int *ret_fd, char **ret_buf,
                       size_t *ret_len, struct iso_err *err)
{
    _cleanup_free_ char *target = ctr_target(id, "/attach");

    if (!target || ctl_target_add(&target, "stream", "1") < 0 ||
        (in && ctl_target_add(&target, "stdin", "1") < 0) ||
        ctl_target_add(&target, "stdout", "1") < 0 || ctl_target_add(&target, "stderr", "1") < 0)
        return iso_err_set(err, ENOMEM, "out of memory");
    return upgrade_open(cl, target, NULL, ret_fd, ret_buf, ret_len, err);
}

struct session {
    struct ctl_client *cl;
    const char *id;
    const char *resize_base; /* "/exec/<id>" for an exec; NULL: the container's */
    int sock;
    char *pre; /* what arrived with the 101, malloc'd */
    size_t pre_len;
    bool tty;        /* raw output; else frames to demultiplex */
    bool send_stdin; /* copy our stdin to the container */
    bool sig_proxy;  /* forward signals with POST /kill (never with a TTY) */
    bool raw;        /* our terminal was put in raw mode */
    struct termios saved;
    int sfd; /* signalfd, -1 */
    bool mask_set;
    sigset_t old_mask;
};

static void session_done(struct session *s)
{
    if (s->raw)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &s->saved);
    s->raw = false;
    s->sock = safe_close(s->sock);
    s->sfd = safe_close(s->sfd);
    if (s->mask_set)
        (void)sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    s->mask_set = false;
    free(s->pre);
    s->pre = NULL;
}

static void forward_signal(struct session *s, int sig)
{
    _cleanup_free_ char *target = ctr_target(s->id, "/kill");
    struct iso_err err = {0};
    const char *name = sigabbrev_np(sig);

    if (!target || !name || ctl_target_add(&target, "signal", name) < 0)
        return;
    if (ctr_call(s->cl, "POST", target, &err) < 0)
        fprintf(stderr, "isoctl: error sending signal: %s\n", err.msg);
}

/* Signals come in through a signalfd: SIGWINCH resizes the TTY, the others are sent to the
 * container with --sig-proxy. They are blocked from before the start to the end of the session,
 * so that none is lost or kills isoctl in between. */
static int session_signals(struct session *s, struct iso_err *err)
{
    static const int proxied[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    sigset_t mask;

    sigemptyset(&mask);
    if (s->tty)
        sigaddset(&mask, SIGWINCH);
    if (s->sig_proxy)
        for (size_t i = 0; i < ARRAY_SIZE(proxied); i++)
            sigaddset(&mask, proxied[i]);
    if (sigprocmask(SIG_BLOCK, &mask, &s->old_mask) < 0)
        return iso_err_set_errno(err, errno, "block signals");
    s->mask_set = true;
    s->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sfd < 0)
        return iso_err_set_errno(err, errno, "signalfd");
    return 0;
}

/* docker's escape proxy with its default detach keys, ctrl-p ctrl-q: a ctrl-p is held back
 * until the next key, and a ctrl-q after it detaches. Copies what is to be sent from in to out
 * (room for n + 1) and returns its length, or -1 to detach. */
static ssize_t detach_filter(bool *held, const char *in, size_t n, char *out)
{
    enum { CTRL_P = 0x10, CTRL_Q = 0x11 };
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (*held) {
            *held = false;
            if (in[i] == CTRL_Q)
                return -1;
            out[k++] = CTRL_P;
        }
        if (in[i] == CTRL_P) {
            *held = true;
            continue;
        }
        out[k++] = in[i];
    }
    return (ssize_t)k;
}

/* Copies the container's output to stdout/stderr until the daemon closes the connection, and
 * our stdin to it; handles the signals. Returns 1 when the user detached (ctrl-p ctrl-q on a
 * TTY), 0 at the end of the output. */
static int session_pump(struct session *s, struct iso_err *err)
{
    struct ctl_stdcopy demux;
    bool stdin_open = s->send_stdin, held = false;
    char buf[32 * 1024], filtered[sizeof(buf) + 1];
    int r = 0;

    ctl_stdcopy_init(&demux, ctl_stdcopy_write_std, NULL);
    if (s->pre_len > 0) {
        r = s->tty ? iso_write_all(STDOUT_FILENO, s->pre, s->pre_len)
                   : ctl_stdcopy_feed(&demux, s->pre, s->pre_len, err);
        if (r < 0)
            return r;
    }

    for (;;) {
        struct pollfd p[3] = {
            {.fd = s->sock, .events = POLLIN},
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = s->sfd, .events = POLLIN},
        };

        if (poll(p, ARRAY_SIZE(p), -1) < 0) {
            if (errno == EINTR)
                continue;
            return iso_err_set_errno(err, errno, "poll");
        }
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
                if ((int)si.ssi_signo == SIGWINCH && s->resize_base)
                    resize_at(s->cl, s->resize_base);
                else if ((int)si.ssi_signo == SIGWINCH)
                    resize_tty(s->cl, s->id);
                else
                    forward_signal(s, (int)si.ssi_signo);
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf)), len = n;
            const char *out = buf;
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0 && s->tty) {
                len = detach_filter(&held, buf, (size_t)n, filtered);
                if (len < 0)
                    return 1;
                out = filtered;
            }
            if (n <= 0 || ctl_send_all(s->sock, out, (size_t)len) < 0) {
                /* End of our input: the container's stdin is closed (StdinOnce), its output
                 * keeps coming until it exits. */
                stdin_open = false;
                (void)shutdown(s->sock, SHUT_WR);
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(s->sock, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno != ECONNRESET)
                return iso_err_set_errno(err, errno, "read the container's output");
            if (n <= 0)
                return s->tty ? 0 : ctl_stdcopy_finish(&demux, err);
            if (s->tty) {
                r = iso_write_all(STDOUT_FILENO, buf, (size_t)n);
                if (r < 0)
                    return iso_err_set_errno(err, -r, "write output");
            } else {
                r = ctl_stdcopy_feed(&demux, buf, (size_t)n, err);
                if (r < 0)
                    return r;
            }
        }
    }
}

/* Raw mode on our terminal when keystrokes go to a TTY in the container. */
static void session_make_raw(struct session *s)
{
    struct termios t;

    if (!s->tty || !s->send_stdin || !ctl_isatty(STDIN_FILENO) ||
        tcgetattr(STDIN_FILENO, &s->saved) < 0)
        return;
    t = s->saved;
    cfmakeraw(&t);
    /* Keep output post-processing: the container's TTY already turned \n into \r\n. */
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
        s->raw = true;
}

/* docker run's exit code for a start that failed (run.go toStatusError). */
static int start_error_status(const char *msg)
{
    if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory"))
        return RUN_EXIT_NOT_FOUND;
    if (strstr(msg, "permission denied") || strstr(msg, "is a directory"))
        return RUN_EXIT_CANNOT_INVOKE;
    return RUN_EXIT_DAEMON;
}

/* Prints err as ctl_report() does; returns status. */
static int report_as(const struct iso_err *err, int status)
{
    ctl_report(err);
    return status;
}

/* Attach, wait, start, copy, and the exit status: what run (not -d), start -a share. */
static int attach_and_start(struct ctl_client *cl, const char *id, bool tty, bool in,
                            bool sig_proxy, bool auto_remove, bool start, bool run,
                            struct iso_err *err)
{
    struct session s = {.cl = cl,
                        .id = id,
                        .sock = -1,
                        .sfd = -1,
                        .tty = tty,
                        .send_stdin = in,
                        .sig_proxy = sig_proxy && !tty};
    struct waiter w = {0};
    int r, status = 0;

    r = session_signals(&s, err);
    if (r >= 0)
        r = attach_open(cl, id, in, &s.sock, &s.pre, &s.pre_len, err);
    if (r < 0) {
        session_done(&s);
        return report_as(err, run ? RUN_EXIT_DAEMON : CTL_EXIT_ERROR);
    }
    r = wait_begin(cl, id, start ? (auto_remove ? "removed" : "next-exit") : "not-running", &w,
                   err);
    if (r < 0) {
        session_done(&s);
        return report_as(err, run ? RUN_EXIT_DAEMON : CTL_EXIT_ERROR);
    }
    if (start) {
        _cleanup_free_ char *target = ctr_target(id, "/start");
        r = target ? ctr_call(cl, "POST", target, err) : iso_err_set(err, ENOMEM, "out of memory");
        if (r < 0) {
            session_done(&s);
            waiter_done(&w);
            ctl_report(err);
            return run ? start_error_status(err->msg) : CTL_EXIT_ERROR;
        }
    }
    if (tty)
        resize_tty(cl, id);
    session_make_raw(&s);
    r = session_pump(&s, err);
    session_done(&s);
    if (r != 0) {
        /* Detached: the container goes on, as with docker. */
        waiter_done(&w);
        return r < 0 ? ctl_report(err) : CTL_EXIT_OK;
    }
    r = wait_end(&w, &status, err);
    if (r < 0)
        return report_as(err, run ? RUN_EXIT_DAEMON : CTL_EXIT_ERROR);
    return status;
}

/* ---- run, create ---- */

/* "alpine" -> "alpine:latest", as docker names the image it could not find. */
static int image_ref(const char *image, struct ctl_ref *ref, char *shown, size_t size,
                     struct iso_err *err)
{
    char repo[CTL_REF_STR_MAX];
    int r = ctl_ref_parse(image, ref, err);

    if (r < 0)
        return r;
    if (!*ref->tag && !*ref->digest)
        snprintf(ref->tag, sizeof(ref->tag), "latest");
    ctl_ref_familiar_name(ref, repo, sizeof(repo));
    if (*ref->digest)
        snprintf(shown, size, "%s@%s", repo, ref->digest);
    else
        snprintf(shown, size, "%s:%s", repo, ref->tag);
    return 0;
}

/* POST /containers/create; on "No such image" pull it (progress on stderr) and try again, as
 * docker run and create do. The warnings of the answer go to stderr. */
static int create_container(struct ctl_client *cl, const struct ctl_run_opts *o, char *id,
                            size_t id_size, struct iso_err *err)
{
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    _cleanup_free_ char *target = strdup("/containers/create"), *body = iso_json_dump(o->body);
    _cleanup_json_ json_t *resp = NULL;
    json_t *warnings;
    int r;

    if (!target || !body || (o->name && ctl_target_add(&target, "name", o->name) < 0))
        return iso_err_set(err, ENOMEM, "out of memory");
    const struct ctl_http_request req = {.method = "POST",
                                         .target = target,
                                         .headers = headers,
                                         .body = body,
                                         .body_len = strlen(body)};

    r = ctl_client_call_json(cl, &req, &resp, err);
    if (r == -ENOENT && strstr(err->msg, "No such image")) {
        char shown[2 * CTL_REF_STR_MAX];
        struct ctl_ref ref;

        r = image_ref(o->image, &ref, shown, sizeof(shown), err);
        if (r < 0)
            return r;
        fprintf(stderr, "Unable to find image '%s' locally\n", shown);
        fflush(stderr);
        r = ctl_image_pull(cl, &ref, NULL,
                           ctl_isatty(STDERR_FILENO) ? CTL_PROGRESS_TTY : CTL_PROGRESS_PLAIN,
                           stderr, err);
        if (r < 0)
            return r;
        r = ctl_client_call_json(cl, &req, &resp, err);
    }
    if (r < 0)
        return r;
    if (!*ctl_str(resp, "Id"))
        return iso_err_set(err, EBADMSG, "POST /containers/create: no Id in the answer");
    warnings = json_object_get(resp, "Warnings");
    for (size_t i = 0; i < json_array_size(warnings); i++)
        fprintf(stderr, "WARNING: %s\n", json_string_value(json_array_get(warnings, i)));
    snprintf(id, id_size, "%s", ctl_str(resp, "Id"));
    return 0;
}

static int run_or_create(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv,
                         bool run)
{
    struct ctl_run_opts o;
    struct iso_err err = {0};
    unsigned rows = 0, cols = 0;
    int fail = run ? RUN_EXIT_DAEMON : CTL_EXIT_ERROR;
    char id[160];
    int r;

    (void)get_winsize(STDOUT_FILENO, &rows, &cols);
    r = ctl_run_opts_parse(&o, run ? CTL_RUN_RUN : CTL_RUN_CREATE, argc, argv, rows, cols, &err);
    if (r == 1) {
        ctl_cmd_help(cmd, stdout);
        return CTL_EXIT_OK;
    }
    if (r == -ENOMEM)
        return ctl_oom();
    if (r < 0) {
        ctl_usage_error(cmd, "%s", err.msg);
        return run ? RUN_EXIT_DAEMON : CTL_EXIT_USAGE;
    }
    if (run && !o.detach && o.interactive && o.tty && !ctl_isatty(STDIN_FILENO)) {
        ctl_run_opts_done(&o);
        fprintf(stderr, "isoctl: the input device is not a TTY\n");
        return fail;
    }

    r = create_container(cl, &o, id, sizeof(id), &err);
    if (r < 0) {
        ctl_run_opts_done(&o);
        ctl_report(&err);
        return fail;
    }
    if (!run) {
        ctl_run_opts_done(&o);
        printf("%s\n", id);
        return CTL_EXIT_OK;
    }
    if (o.detach) {
        _cleanup_free_ char *target = ctr_target(id, "/start");
        ctl_run_opts_done(&o);
        r = target ? ctr_call(cl, "POST", target, &err)
                   : iso_err_set(&err, ENOMEM, "out of memory");
        if (r < 0) {
            ctl_report(&err);
            return start_error_status(err.msg);
        }
        printf("%s\n", id);
        return CTL_EXIT_OK;
    }
    fflush(stdout);
    r = attach_and_start(cl, id, o.tty, o.interactive, o.sig_proxy, o.rm, true, true, &err);
    ctl_run_opts_done(&o);
    return r;
}

int ctl_cmd_run(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return run_or_create(cl, cmd, argc, argv, true);
}

int ctl_cmd_create(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return run_or_create(cl, cmd, argc, argv, false);
}

/* ---- start, attach ---- */

int ctl_cmd_start(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"attach", no_argument, NULL, 'a'},
        {"interactive", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *info = NULL;
    struct iso_err err = {0};
    bool attach = false, interactive = false, failed = false;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:aih", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            attach = true;
            break;
        case 'i':
            interactive = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");

    if (!attach && !interactive) {
        for (int i = optind; i < argc; i++) {
            _cleanup_free_ char *target = ctr_target(argv[i], "/start");
            if (!target)
                return ctl_oom();
            if (ctr_call(cl, "POST", target, &err) < 0) {
                ctl_report(&err);
                failed = true;
                continue;
            }
            printf("%s\n", argv[i]);
        }
        return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
    }

    if (argc - optind > 1)
        return ctl_usage_error(cmd, "you cannot start and attach multiple containers at once");
    if (ctr_inspect(cl, argv[optind], &info, &err) < 0)
        return ctl_report(&err);
    json_t *config = json_object_get(info, "Config");
    bool tty = json_is_true(json_object_get(config, "Tty"));
    bool in = interactive && json_is_true(json_object_get(config, "OpenStdin"));
    if (tty && in && !ctl_isatty(STDIN_FILENO)) {
        fprintf(stderr, "isoctl: the input device is not a TTY\n");
        return CTL_EXIT_ERROR;
    }
    bool auto_remove =
        json_is_true(json_object_get(json_object_get(info, "HostConfig"), "AutoRemove"));
    fflush(stdout);
    return attach_and_start(cl, ctl_str(info, "Id"), tty, in, true, auto_remove, true, false, &err);
}

int ctl_cmd_attach(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    enum { OPT_NO_STDIN = 256, OPT_SIG_PROXY, OPT_DETACH_KEYS };
    static const struct option opts[] = {
        {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
        {"sig-proxy", optional_argument, NULL, OPT_SIG_PROXY},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *info = NULL;
    struct iso_err err = {0};
    bool no_stdin = false, sig_proxy = true;
    json_t *state, *config;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_NO_STDIN:
            no_stdin = true;
            break;
        case OPT_SIG_PROXY:
            sig_proxy = true;
            if (optarg && iso_parse_bool(optarg, &sig_proxy) < 0)
                return ctl_usage_error(cmd, "invalid argument \"%s\" for \"--sig-proxy\" flag",
                                       optarg);
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind != 1)
        return ctl_usage_error(cmd, "requires exactly 1 argument");

    if (ctr_inspect(cl, argv[optind], &info, &err) < 0)
        return ctl_report(&err);
    state = json_object_get(info, "State");
    config = json_object_get(info, "Config");
    if (!json_is_true(json_object_get(state, "Running"))) {
        iso_err_set(&err, EINVAL, "You cannot attach to a stopped container, start it first");
        return ctl_report(&err);
    }
    if (json_is_true(json_object_get(state, "Paused"))) {
        iso_err_set(&err, EINVAL, "You cannot attach to a paused container, unpause it first");
        return ctl_report(&err);
    }
    bool tty = json_is_true(json_object_get(config, "Tty"));
    bool in = !no_stdin && json_is_true(json_object_get(config, "OpenStdin"));
    if (tty && in && !ctl_isatty(STDIN_FILENO)) {
        fprintf(stderr, "isoctl: the input device is not a TTY\n");
        return CTL_EXIT_ERROR;
    }
    fflush(stdout);
    return attach_and_start(cl, ctl_str(info, "Id"), tty, in, sig_proxy, false, false, false, &err);
}

/* ---- exec ---- */

/* The exec's exit code from GET /exec/{id}/json once its stream ended. */
static int exec_exit_code(struct ctl_client *cl, const char *id, int *ret, struct iso_err *err)
{
    _cleanup_json_ json_t *info = NULL;
    _cleanup_free_ char *esc = ctl_path_escape(id);
    _cleanup_free_ char *target = esc ? iso_strprintf("/exec/%s/json", esc) : NULL;

    if (!target)
        return iso_err_set(err, ENOMEM, "out of memory");
    int r = ctl_client_get_json(cl, target, &info, err);
    if (r < 0)
        return r;
    json_t *code = json_object_get(info, "ExitCode");
    *ret = json_is_integer(code) ? (int)json_integer_value(code) : 0;
    return 0;
}

int ctl_cmd_exec(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    enum { OPT_ENV_FILE = 256, OPT_PRIVILEGED, OPT_DETACH_KEYS };
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {"user", required_argument, NULL, 'u'},
        {"workdir", required_argument, NULL, 'w'},
        {"privileged", no_argument, NULL, OPT_PRIVILEGED},
        {"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *env = json_array(), *body = NULL, *created = NULL;
    _cleanup_free_ char *text = NULL, *target = NULL, *start = NULL, *base = NULL, *esc = NULL;
    const char *user = "", *workdir = "", *detach_keys = "";
    bool detach = false, in = false, tty = false, privileged = false;
    struct iso_err err = {0};
    int c, r;

    if (!env)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:dite:u:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            detach = true;
            break;
        case 'i':
            in = true;
            break;
        case 't':
            tty = true;
            break;
        case 'e':
            if (optarg[0] == '=' || !optarg[0])
                return ctl_usage_error(cmd,
                                       "invalid argument \"%s\" for \"-e, --env\" flag: invalid "
                                       "environment variable: %s",
                                       optarg, optarg);
            if (!strchr(optarg, '=') && getenv(optarg)) {
                _cleanup_free_ char *kv = iso_strprintf("%s=%s", optarg, getenv(optarg));
                if (!kv || json_array_append_new(env, json_string(kv)) < 0)
                    return ctl_oom();
            } else if (json_array_append_new(env, json_string(optarg)) < 0)
                return ctl_oom();
            break;
        case OPT_ENV_FILE:
            if (ctl_parse_env_file(optarg, env, &err) < 0)
                return ctl_report(&err);
            break;
        case 'u':
            user = optarg;
            break;
        case 'w':
            workdir = optarg;
            break;
        case OPT_PRIVILEGED:
            privileged = true;
            break;
        case OPT_DETACH_KEYS:
            detach_keys = optarg;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind < 2)
        return ctl_usage_error(cmd, "requires at least 2 arguments");
    if (!detach && tty && in && !ctl_isatty(STDIN_FILENO)) {
        fprintf(stderr, "isoctl: the input device is not a TTY\n");
        return CTL_EXIT_ERROR;
    }

    json_t *args = json_array();
    for (int i = optind + 1; args && i < argc; i++)
        json_array_append_new(args, json_string(argv[i]));
    body = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:s, s:o, s:o}", "User", user,
                     "WorkingDir", workdir, "Privileged", privileged, "Tty", tty, "AttachStdin",
                     in && !detach, "AttachStdout", !detach, "AttachStderr", !detach, "Detach",
                     detach, "DetachKeys", detach_keys, "Cmd", args ? args : json_array(), "Env",
                     json_incref(env));
    unsigned rows = 0, cols = 0;
    bool sized = tty && get_winsize(STDOUT_FILENO, &rows, &cols) && rows > 0 && cols > 0;
    if (body && sized)
        json_object_set_new(body, "ConsoleSize", json_pack("[i, i]", (int)rows, (int)cols));
    text = body ? iso_json_dump(body) : NULL;
    target = ctr_target(argv[optind], "/exec");
    if (!text || !target)
        return ctl_oom();
    const struct ctl_http_request req = {
        .method = "POST",
        .target = target,
        .headers = (const char *const[]){"Content-Type: application/json", NULL},
        .body = text,
        .body_len = strlen(text)};
    if (ctl_client_call_json(cl, &req, &created, &err) < 0)
        return ctl_report(&err);
    const char *id = ctl_str(created, "Id");
    esc = ctl_path_escape(id);
    base = esc ? iso_strprintf("/exec/%s", esc) : NULL;
    start = base ? iso_strprintf("%s/start", base) : NULL;
    if (!start)
        return ctl_oom();

    json_decref(body);
    body = json_pack("{s:b, s:b}", "Detach", detach, "Tty", tty);
    if (body && sized)
        json_object_set_new(body, "ConsoleSize", json_pack("[i, i]", (int)rows, (int)cols));
    free(text);
    text = body ? iso_json_dump(body) : NULL;
    if (!text)
        return ctl_oom();
    if (detach) {
        _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
        const struct ctl_http_request sreq = {.method = "POST",
                                              .target = start,
                                              .headers = req.headers,
                                              .body = text,
                                              .body_len = strlen(text)};
        if (ctl_client_call(cl, &sreq, &resp, &err) < 0)
            return ctl_report(&err);
        return CTL_EXIT_OK;
    }

    struct session s = {.cl = cl,
                        .id = id,
                        .resize_base = base,
                        .sock = -1,
                        .sfd = -1,
                        .tty = tty,
                        .send_stdin = in};
    r = session_signals(&s, &err);
    if (r >= 0)
        r = upgrade_open(cl, start, text, &s.sock, &s.pre, &s.pre_len, &err);
    if (r < 0) {
        session_done(&s);
        return ctl_report(&err);
    }
    if (tty)
        resize_at(cl, base);
    fflush(stdout);
    session_make_raw(&s);
    r = session_pump(&s, &err);
    session_done(&s);
    if (r < 0)
        return ctl_report(&err);
    if (r > 0)
        return CTL_EXIT_OK; /* detached: the process goes on */
    int code = 0;
    if (exec_exit_code(cl, id, &code, &err) < 0)
        return ctl_report(&err);
    return code;
}

/* ---- stop, restart, kill, rm, pause, unpause ---- */

/* Runs method on /containers/NAME<suffix><query> for each name, printing the name on success
 * and the error otherwise: 1 if any failed, as docker. */
static int each_container(struct ctl_client *cl, int argc, char **argv, const char *method,
                          const char *suffix, const char *query)
{
    bool failed = false;

    for (int i = 0; i < argc; i++) {
        _cleanup_free_ char *base = ctr_target(argv[i], suffix), *target = NULL;
        struct iso_err err = {0};

        if (!base || !(target = iso_strprintf("%s%s", base, query ? query : "")))
            return ctl_oom();
        if (ctr_call(cl, method, target, &err) < 0) {
            ctl_report(&err);
            failed = true;
            continue;
        }
        printf("%s\n", argv[i]);
        fflush(stdout);
    }
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

/* stop and restart: -t/--time (also --timeout), -s/--signal. */
static int stop_or_restart(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv,
                           const char *suffix)
{
    static const struct option opts[] = {
        {"time", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 't'},
        {"signal", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *query = strdup("");
    int64_t t;
    int c;

    if (!query)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:t:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (iso_parse_int64(optarg, INT32_MIN, INT32_MAX, &t) < 0)
                return ctl_usage_error(cmd, "invalid argument \"%s\" for \"-t, --time\" flag",
                                       optarg);
            if (ctl_target_add(&query, "t", optarg) < 0)
                return ctl_oom();
            break;
        case 's':
            if (ctl_target_add(&query, "signal", optarg) < 0)
                return ctl_oom();
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    return each_container(cl, argc - optind, argv + optind, "POST", suffix, query);
}

int ctl_cmd_stop(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return stop_or_restart(cl, cmd, argc, argv, "/stop");
}

int ctl_cmd_restart(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return stop_or_restart(cl, cmd, argc, argv, "/restart");
}

int ctl_cmd_kill(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"signal", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *query = strdup("");
    int c;

    if (!query)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (ctl_target_add(&query, "signal", optarg) < 0)
                return ctl_oom();
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    return each_container(cl, argc - optind, argv + optind, "POST", "/kill", query);
}

int ctl_cmd_rm(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"volumes", no_argument, NULL, 'v'},
        {"link", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *query = strdup("");
    bool force = false, volumes = false, link = false;
    int c;

    if (!query)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:fvlh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            force = true;
            break;
        case 'v':
            volumes = true;
            break;
        case 'l':
            link = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    if ((volumes && ctl_target_add(&query, "v", "1") < 0) ||
        (link && ctl_target_add(&query, "link", "1") < 0) ||
        (force && ctl_target_add(&query, "force", "1") < 0))
        return ctl_oom();
    return each_container(cl, argc - optind, argv + optind, "DELETE", "", query);
}

/* Commands that take only container names. */
static int simple_op(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv,
                     const char *suffix)
{
    int r;

    r = ctl_parse_no_options(cmd, argc, argv);
    if (r >= 0)
        return r;
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    return each_container(cl, argc - optind, argv + optind, "POST", suffix, NULL);
}

int ctl_cmd_pause(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return simple_op(cl, cmd, argc, argv, "/pause");
}

int ctl_cmd_unpause(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return simple_op(cl, cmd, argc, argv, "/unpause");
}

/* ---- wait ---- */

int ctl_cmd_wait(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    bool failed = false;
    int r;

    r = ctl_parse_no_options(cmd, argc, argv);
    if (r >= 0)
        return r;
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    for (int i = optind; i < argc; i++) {
        struct iso_err err = {0};
        struct waiter w;
        int status = 0;

        if (wait_begin(cl, argv[i], "not-running", &w, &err) < 0 ||
            wait_end(&w, &status, &err) < 0) {
            ctl_report(&err);
            failed = true;
            continue;
        }
        printf("%d\n", status);
        fflush(stdout);
    }
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

/* ---- rename, top ---- */

int ctl_cmd_rename(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    _cleanup_free_ char *target = NULL;
    struct iso_err err = {0};
    int r;

    r = ctl_parse_no_options(cmd, argc, argv);
    if (r >= 0)
        return r;
    if (argc - optind != 2)
        return ctl_usage_error(cmd, "requires exactly 2 arguments");
    if (!*argv[optind + 1]) {
        iso_err_set(&err, EINVAL, "Error: Neither old nor new names may be empty");
        return ctl_report(&err);
    }
    target = ctr_target(argv[optind], "/rename");
    if (!target || ctl_target_add(&target, "name", argv[optind + 1]) < 0)
        return ctl_oom();
    if (ctr_call(cl, "POST", target, &err) < 0)
        return ctl_report(&err);
    return CTL_EXIT_OK;
}

int ctl_cmd_top(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    _cleanup_free_ char *target = NULL, *ps_args = NULL;
    _cleanup_table_ struct ctl_table *table = NULL;
    _cleanup_json_ json_t *top = NULL;
    struct iso_err err = {0};
    json_t *titles, *procs;
    int r;

    r = ctl_parse_no_options(cmd, argc, argv);
    if (r >= 0)
        return r;
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");

    target = ctr_target(argv[optind], "/top");
    if (!target)
        return ctl_oom();
    /* The rest is ps's options, joined by spaces as docker does. */
    for (int i = optind + 1; i < argc; i++) {
        char *joined = ps_args ? iso_strprintf("%s %s", ps_args, argv[i]) : strdup(argv[i]);
        if (!joined)
            return ctl_oom();
        free(ps_args);
        ps_args = joined;
    }
    if (ps_args && ctl_target_add(&target, "ps_args", ps_args) < 0)
        return ctl_oom();
    if (ctl_client_get_json(cl, target, &top, &err) < 0)
        return ctl_report(&err);

    titles = json_object_get(top, "Titles");
    procs = json_object_get(top, "Processes");
    if (json_array_size(titles) == 0)
        return CTL_EXIT_OK;
    table = ctl_table_new(json_array_size(titles));
    if (!table)
        return ctl_oom();
    _cleanup_free_ const char **cells = calloc(json_array_size(titles), sizeof(*cells));
    if (!cells)
        return ctl_oom();
    for (size_t i = 0; i < json_array_size(titles); i++)
        cells[i] = json_string_value(json_array_get(titles, i));
    r = ctl_table_add(table, cells);
    for (size_t p = 0; r >= 0 && p < json_array_size(procs); p++) {
        json_t *row = json_array_get(procs, p);
        for (size_t i = 0; i < json_array_size(titles); i++)
            cells[i] = json_string_value(json_array_get(row, i));
        r = ctl_table_add(table, cells);
    }
    if (r < 0)
        return ctl_oom();
    ctl_table_print(table, stdout);
    return CTL_EXIT_OK;
}

/* ---- logs ---- */

static int raw_sink(void *userdata, const char *data, size_t len, struct iso_err *err)
{
    int r = iso_write_all(STDOUT_FILENO, data, len);

    return r < 0 ? iso_err_set_errno(err, -r, "write output") : 0;
}

int ctl_cmd_logs(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    enum { OPT_TAIL = 256, OPT_SINCE, OPT_UNTIL, OPT_DETAILS };
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"timestamps", no_argument, NULL, 't'},
        {"tail", required_argument, NULL, 'n'},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"details", no_argument, NULL, OPT_DETAILS},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *target = NULL;
    _cleanup_json_ json_t *info = NULL;
    const char *since = NULL, *until = NULL, *tail = "all";
    bool follow = false, timestamps = false, details = false;
    struct ctl_stdcopy demux;
    struct iso_err err = {0};
    int64_t now = (int64_t)time(NULL);
    char since_ts[64], until_ts[64];
    int c, r;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:ftn:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow = true;
            break;
        case 't':
            timestamps = true;
            break;
        case 'n':
            tail = optarg;
            break;
        case OPT_SINCE:
            since = optarg;
            break;
        case OPT_UNTIL:
            until = optarg;
            break;
        case OPT_DETAILS:
            details = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind != 1)
        return ctl_usage_error(cmd, "requires exactly 1 argument");
    if (since && ctl_parse_timestamp(since, now, since_ts, sizeof(since_ts)) < 0)
        return ctl_usage_error(cmd, "invalid value for \"since\": '%s'", since);
    if (until && ctl_parse_timestamp(until, now, until_ts, sizeof(until_ts)) < 0)
        return ctl_usage_error(cmd, "invalid value for \"until\": '%s'", until);

    /* The TTY decides between raw output and frames. */
    if (ctr_inspect(cl, argv[optind], &info, &err) < 0)
        return ctl_report(&err);
    bool tty = json_is_true(json_object_get(json_object_get(info, "Config"), "Tty"));

    target = ctr_target(ctl_str(info, "Id"), "/logs");
    if (!target || ctl_target_add(&target, "stdout", "1") < 0 ||
        ctl_target_add(&target, "stderr", "1") < 0 ||
        (since && ctl_target_add(&target, "since", since_ts) < 0) ||
        (until && ctl_target_add(&target, "until", until_ts) < 0) ||
        (timestamps && ctl_target_add(&target, "timestamps", "1") < 0) ||
        (follow && ctl_target_add(&target, "follow", "1") < 0) ||
        ctl_target_add(&target, "tail", tail) < 0 ||
        (details && ctl_target_add(&target, "details", "1") < 0))
        return ctl_oom();

    const struct ctl_http_request req = {.method = "GET", .target = target};
    ctl_stdcopy_init(&demux, ctl_stdcopy_write_std, NULL);
    r = ctl_client_stream(cl, &req, tty ? raw_sink : ctl_stdcopy_feed, tty ? NULL : &demux, &err);
    if (r >= 0 && !tty)
        r = ctl_stdcopy_finish(&demux, &err);
    if (r < 0)
        return ctl_report(&err);
    return CTL_EXIT_OK;
}

/* ---- inspect ---- */

static int inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv,
                   bool containers_only)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"size", no_argument, NULL, 's'},
        {"type", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *out = json_array();
    _cleanup_free_ char *text = NULL;
    const char *type = containers_only ? "container" : NULL;
    bool size = false, failed = false;
    int c;

    if (!out)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!streq(optarg, "json") && !streq(optarg, "{{json .}}") && !streq(optarg, ""))
                return ctl_usage_error(cmd, "unsupported format '%s': use 'json'", optarg);
            break;
        case 's':
            size = true;
            break;
        case 'T':
            if (containers_only)
                return ctl_bad_option(cmd, argv, '?');
            if (!streq(optarg, "container") && !streq(optarg, "image"))
                return ctl_usage_error(cmd, "\"%s\" is not a valid value for --type", optarg);
            type = optarg;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");

    _cleanup_free_ struct iso_err *errs = calloc((size_t)(argc - optind), sizeof(*errs));
    size_t n_errs = 0;
    if (!errs)
        return ctl_oom();
    for (int i = optind; i < argc; i++) {
        struct iso_err *err = &errs[n_errs];
        json_t *obj = NULL;
        int r = -ENOENT;

        /* As docker inspect: a container first, then an image of that name. */
        if (!type || streq(type, "container")) {
            _cleanup_free_ char *target = ctr_target(argv[i], "/json");
            if (!target || (size && ctl_target_add(&target, "size", "1") < 0))
                return ctl_oom();
            r = ctl_client_get_json(cl, target, &obj, err);
        }
        if (r == -ENOENT && (!type || streq(type, "image"))) {
            _cleanup_free_ char *esc = ctl_path_escape(argv[i]), *target = NULL;
            if (!esc || !(target = iso_strprintf("/images/%s/json", esc)))
                return ctl_oom();
            r = ctl_client_get_json(cl, target, &obj, err);
        }
        if (r == -ENOENT && !type)
            iso_err_set(err, ENOENT, "Error: No such object: %s", argv[i]);
        if (r < 0) {
            n_errs++;
            failed = true;
            continue;
        }
        if (json_array_append_new(out, obj) < 0)
            return ctl_oom();
    }

    /* Like docker: what was found, as an indented array, then what was not. */
    text = json_dumps(out, JSON_INDENT(4));
    if (!text)
        return ctl_oom();
    printf("%s\n", text);
    fflush(stdout);
    for (size_t i = 0; i < n_errs; i++)
        ctl_report(&errs[i]);
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

int ctl_cmd_inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    return inspect(cl, cmd, argc, argv, false);
}

int ctl_cmd_container_inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc,
                              char **argv)
{
    return inspect(cl, cmd, argc, argv, true);
}

/* ---- ps ---- */

/* Go's strconv.Quote: "..." with \", \\ and control characters escaped. malloc'd. */
static char *go_quote(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(4 * len + 3), *o = out;

    if (!out)
        return NULL;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
        case '\\':
            *o++ = '\\';
            *o++ = (char)*p;
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                o += sprintf(o, "\\x%02x", *p);
            } else {
                *o++ = (char)*p;
            }
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* docker's ContainerContext.Image(): the image as given, shortened when truncating. */
static void ps_image(json_t *ctr, bool trunc, char *buf, size_t size)
{
    const char *image = ctl_str(ctr, "Image");
    char a[80], b[80], repo[CTL_REF_STR_MAX];
    struct ctl_ref ref;

    if (!*image) {
        snprintf(buf, size, "<no image>");
        return;
    }
    if (trunc) {
        ctl_short_id(ctl_str(ctr, "ImageID"), a, sizeof(a));
        ctl_short_id(image, b, sizeof(b));
        if (streq(a, b)) {
            snprintf(buf, size, "%s", a);
            return;
        }
        if (ctl_ref_parse(image, &ref, NULL) == 0) {
            ctl_ref_familiar_name(&ref, repo, sizeof(repo));
            if (*ref.tag)
                snprintf(buf, size, "%s:%s", repo, ref.tag);
            else
                snprintf(buf, size, "%s", repo);
            return;
        }
    }
    snprintf(buf, size, "%s", image);
}

/* Names without their '/'; when truncating only the first that is not a link ("a/b"). */
static char *ps_names(json_t *ctr, bool trunc)
{
    json_t *names = json_object_get(ctr, "Names");
    char *out = strdup("");

    for (size_t i = 0; out && i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        char *joined;

        if (!n)
            continue;
        if (*n == '/')
            n++;
        if (trunc) {
            if (strchr(n, '/'))
                continue;
            free(out);
            return strdup(n);
        }
        joined = *out ? iso_strprintf("%s,%s", out, n) : strdup(n);
        free(out);
        out = joined;
    }
    return out;
}

/* "0.0.0.0:8080->80/tcp, 443/tcp": each port, sorted (docker also merges ranges). */
static char *ps_ports(json_t *ctr)
{
    json_t *ports = json_object_get(ctr, "Ports");
    size_t n = json_array_size(ports), k = 0;
    _cleanup_free_ char **items = calloc(n ? n : 1, sizeof(*items));
    char *out = NULL;

    if (!items)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(ports, i);
        const char *ip = ctl_str(p, "IP"), *type = ctl_str(p, "Type");
        json_int_t priv = json_integer_value(json_object_get(p, "PrivatePort"));
        json_int_t pub = json_integer_value(json_object_get(p, "PublicPort"));

        if (pub)
            items[k] = iso_strprintf(
                strchr(ip, ':') ? "[%s]:%" JSON_INTEGER_FORMAT "->%" JSON_INTEGER_FORMAT "/%s"
                                : "%s:%" JSON_INTEGER_FORMAT "->%" JSON_INTEGER_FORMAT "/%s",
                ip, pub, priv, type);
        else
            items[k] = iso_strprintf("%" JSON_INTEGER_FORMAT "/%s", priv, type);
        if (!items[k])
            goto out;
        k++;
    }
    qsort(items, k, sizeof(*items), ctl_cmp_str);
    out = strdup("");
    for (size_t i = 0; out && i < k; i++) {
        char *joined = *out ? iso_strprintf("%s, %s", out, items[i]) : strdup(items[i]);
        free(out);
        out = joined;
    }
out:
    for (size_t i = 0; i < k; i++)
        free(items[i]);
    return out;
}

/* "k=v,k2=v2", sorted by key. */
static char *ps_labels(json_t *ctr)
{
    json_t *labels = json_object_get(ctr, "Labels");
    size_t n = json_object_size(labels), k = 0;
    _cleanup_free_ char **items = calloc(n ? n : 1, sizeof(*items));
    const char *key;
    json_t *v;
    char *out = NULL;

    if (!items)
        return NULL;
    json_object_foreach(labels, key, v)
    {
        items[k] = iso_strprintf("%s=%s", key, json_string_value(v) ? json_string_value(v) : "");
        if (!items[k])
            goto out;
        k++;
    }
    qsort(items, k, sizeof(*items), ctl_cmp_str);
    out = strdup("");
    for (size_t i = 0; out && i < k; i++) {
        char *joined = *out ? iso_strprintf("%s,%s", out, items[i]) : strdup(items[i]);
        free(out);
        out = joined;
    }
out:
    for (size_t i = 0; i < k; i++)
        free(items[i]);
    return out;
}

static json_t *ps_row_json(json_t *ctr, const char *id, const char *image, const char *command,
                           const char *since, const char *ports, const char *names, bool trunc)
{
    _cleanup_free_ char *labels = ps_labels(ctr), *mounts = strdup(""), *networks = strdup("");
    json_t *m = json_object_get(ctr, "Mounts");
    json_t *nets = json_object_get(json_object_get(ctr, "NetworkSettings"), "Networks");
    char created[64], size[32];
    const char *key;
    json_t *v;
    int local = 0;

    if (!labels || !mounts || !networks)
        return NULL;
    for (size_t i = 0; i < json_array_size(m); i++) {
        json_t *mt = json_array_get(m, i);
        const char *name = *ctl_str(mt, "Name") ? ctl_str(mt, "Name") : ctl_str(mt, "Source");
        _cleanup_free_ char *shown = trunc ? ctl_ellipsis(name, 15) : strdup(name);
        char *joined;
        if (streq(ctl_str(mt, "Driver"), "local"))
            local++;
        if (!shown)
            return NULL;
        joined = *mounts ? iso_strprintf("%s,%s", mounts, shown) : strdup(shown);
        free(mounts);
        mounts = joined;
        if (!mounts)
            return NULL;
    }
    json_object_foreach(nets, key, v)
    {
        char *joined = *networks ? iso_strprintf("%s,%s", networks, key) : strdup(key);
        free(networks);
        networks = joined;
        if (!networks)
            return NULL;
    }
    ctl_format_time(json_integer_value(json_object_get(ctr, "Created")), created, sizeof(created));
    ctl_format_size(json_integer_value(json_object_get(ctr, "SizeRw")), 3, size, sizeof(size));
    char local_s[16];
    snprintf(local_s, sizeof(local_s), "%d", local);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "Command", command, "CreatedAt", created, "ID", id, "Image", image, "Labels",
                     labels, "LocalVolumes", local_s, "Mounts", mounts, "Names", names, "Networks",
                     networks, "Ports", ports, "RunningFor", since, "Size", size, "State",
                     ctl_str(ctr, "State"), "Status", ctl_str(ctr, "Status"));
}

int ctl_cmd_ps(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    enum { OPT_NO_TRUNC = 256, OPT_FORMAT };
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"last", required_argument, NULL, 'n'},
        {"latest", no_argument, NULL, 'l'},
        {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
        {"filter", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"size", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *filters = json_object(), *list = NULL;
    _cleanup_free_ char *target = strdup("/containers/json");
    _cleanup_table_ struct ctl_table *table = ctl_table_new(7);
    struct iso_err err = {0};
    bool all = false, quiet = false, no_trunc = false, json = false, size = false;
    int64_t last = -1, now = (int64_t)time(NULL);
    int c, r;

    if (!filters || !target || !table)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:aqn:lf:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            if (iso_parse_int64(optarg, -1, INT32_MAX, &last) < 0)
                return ctl_usage_error(cmd, "invalid argument \"%s\" for \"-n, --last\" flag",
                                       optarg);
            break;
        case 'l':
            last = 1;
            break;
        case OPT_NO_TRUNC:
            no_trunc = true;
            break;
        case 'f':
            r = ctl_filter_opt(cmd, filters, optarg);
            if (r != CTL_EXIT_OK)
                return r;
            break;
        case OPT_FORMAT:
            if (ctl_parse_format(cmd, optarg, &json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 's':
            size = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "accepts no arguments");

    /* As docker: -n implies all containers. */
    if (last > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRId64, last);
        all = true;
        if (ctl_target_add(&target, "limit", n) < 0)
            return ctl_oom();
    }
    if ((all && ctl_target_add(&target, "all", "1") < 0) ||
        (size && ctl_target_add(&target, "size", "1") < 0) ||
        ctl_target_add_filters(&target, filters) < 0)
        return ctl_oom();
    r = ctl_client_get_json(cl, target, &list, &err);
    if (r >= 0 && !json_is_array(list))
        r = iso_err_set(&err, EBADMSG, "GET %s: expected a JSON array", target);
    if (r < 0)
        return ctl_report(&err);

    r = ctl_table_add(table, (const char *[]){"CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                                              "STATUS", "PORTS", "NAMES"});
    for (size_t i = 0; r >= 0 && i < json_array_size(list); i++) {
        json_t *ctr = json_array_get(list, i);
        _cleanup_free_ char *cmdline = NULL, *quoted = NULL, *names = NULL, *ports = NULL;
        char id[160], image[2 * CTL_REF_STR_MAX], since[64];

        if (no_trunc)
            snprintf(id, sizeof(id), "%s", ctl_str(ctr, "Id"));
        else
            ctl_short_id(ctl_str(ctr, "Id"), id, sizeof(id));
        if (quiet) {
            printf("%s\n", id);
            continue;
        }
        cmdline =
            no_trunc ? strdup(ctl_str(ctr, "Command")) : ctl_ellipsis(ctl_str(ctr, "Command"), 20);
        quoted = cmdline ? go_quote(cmdline) : NULL;
        names = ps_names(ctr, !no_trunc);
        ports = ps_ports(ctr);
        if (!quoted || !names || !ports)
            return ctl_oom();
        ps_image(ctr, !no_trunc, image, sizeof(image));
        ctl_format_since(json_integer_value(json_object_get(ctr, "Created")), now, since,
                         sizeof(since));
        if (json) {
            _cleanup_json_ json_t *o =
                ps_row_json(ctr, id, image, quoted, since, ports, names, !no_trunc);
            _cleanup_free_ char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            if (!text)
                return ctl_oom();
            printf("%s\n", text);
            continue;
        }
        r = ctl_table_add(table, (const char *[]){id, image, quoted, since, ctl_str(ctr, "Status"),
                                                  ports, names});
    }
    if (r < 0)
        return ctl_oom();
    if (!quiet && !json)
        ctl_table_print(table, stdout);
    return CTL_EXIT_OK;
}

/* ---- container prune ---- */

int ctl_cmd_container_prune(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"filter", required_argument, NULL, 'F'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *filters = json_object(), *resp = NULL;
    _cleanup_free_ char *target = strdup("/containers/prune");
    struct iso_err err = {0};
    bool force = false;
    json_t *deleted;
    char size[32];
    int c, r;

    if (!filters || !target)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            r = ctl_filter_opt(cmd, filters, optarg);
            if (r != CTL_EXIT_OK)
                return r;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "accepts no arguments");

    r = ctl_prune_confirm(cmd, force, "This will remove all stopped containers.");
    if (r != CTL_EXIT_OK)
        return r;

    if (ctl_target_add_filters(&target, filters) < 0)
        return ctl_oom();
    const struct ctl_http_request req = {.method = "POST", .target = target};
    if (ctl_client_call_json(cl, &req, &resp, &err) < 0)
        return ctl_report(&err);

    deleted = json_object_get(resp, "ContainersDeleted");
    if (json_array_size(deleted) > 0) {
        printf("Deleted Containers:\n");
        for (size_t i = 0; i < json_array_size(deleted); i++)
            printf("%s\n", json_string_value(json_array_get(deleted, i)));
        printf("\n");
    }
    ctl_format_size(json_integer_value(json_object_get(resp, "SpaceReclaimed")), 4, size,
                    sizeof(size));
    printf("Total reclaimed space: %s\n", size);
    return CTL_EXIT_OK;
}
