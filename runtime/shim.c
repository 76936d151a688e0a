/* isod-shim <state dir>: owns one running container (docs/runtime.md). Starts its init, holds
 * its stdio, writes the json-file log, serves attach and resize, and records the exit status.
 * Single-threaded, one poll(2) loop, libc only: a shim's resident memory is a budget. */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#include "common/util.h"
#include "runtime/container.h"
#include "runtime/exec.h"
#include "runtime/shim-log.h"
#include "runtime/spec.h"

#define REPORT_FD 3

/* Per attach client: output waiting for a slow reader. Past CLIENT_HIGH_WATER the shim stops
 * reading the container's output (which then blocks on its full pipe, as under Docker) so that a
 * slow but live client loses nothing; a client stuck there for CLIENT_STALL_MS is let go: the
 * shim reads again and drops it once it passes CLIENT_BUF_MAX. A client never holds the
 * container for longer. */
#define CLIENT_BUF_MAX    ((size_t)256 * 1024)
#define CLIENT_HIGH_WATER (CLIENT_BUF_MAX / 2)
#define CLIENT_STALL_MS   2000
/* One read of container output, on the stack (Docker's copier reads 2 KiB at a time). */
#define READ_CHUNK   ((size_t)4 * 1024)
#define CTL_LINE_MAX 160
/* After the init exits: how long to wait for EOF on output that another process still holds
 * open, then for slow attach clients to take what remains. */
#define DRAIN_TIMEOUT_MS 2000
#define FLUSH_TIMEOUT_MS 2000

/* Set when a large buffer went back to malloc: the loop trims the heap before it next
 * sleeps, so that a burst of output does not stay in the shim's resident memory. */
static bool heap_trim;

struct client {
    int fd;
    bool ctl; /* connected on shim.sock, its command line not read yet */
    bool in, out, err;
    bool in_done; /* its stdin ended (or it sent none) */
    bool dead;
    struct exec *ex;      /* the exec whose stdio this connection carries, or NULL */
    uint64_t stall_since; /* monotonic ns it passed CLIENT_HIGH_WATER, 0 if below */
    char line[CTL_LINE_MAX];
    size_t line_len;
    char *buf; /* pending output: buf[off, off + len) */
    size_t off, len, cap;
};

/* A process's stdio as the shim holds it: the init's or an exec's. */
struct io {
    int out_fd, err_fd; /* read ends; with a terminal out_fd is the pty master */
    int master;         /* pty master or -1; owns the fd that out_fd names */
    int in_fd;          /* the process's stdin (pipe write end or the master), -1 when closed */
    bool in_closing;    /* close in_fd once in_buf is written */
    char *in_buf;
    size_t in_len;
};

#define IO_INIT                                                                                    \
    {                                                                                              \
        .out_fd = -1, .err_fd = -1, .master = -1, .in_fd = -1                                      \
    }

/* One docker exec: its process, its stdio and the one connection that carries it. */
struct exec {
    char id[65];
    pid_t pid;
    int pidfd;
    bool terminal, stdin_open;
    struct io io;
    struct client *c; /* NULL once the client left */
    bool exited;
    int exit_code;
    uint64_t deadline; /* after the exit: monotonic ns until which output drains */
    size_t slot;       /* its first poll slot in this round */
    struct exec *next;
};

struct shim {
    int dirfd;
    bool terminal, stdin_open, stdin_once;
    struct io io;
    int listen_fd;
    pid_t pid;
    int pidfd;
    int sigfd;
    bool exited;
    int exit_code;
    struct shim_log log;
    struct client **clients;
    size_t n_clients;
    struct exec *execs;
    const char *dir;
    struct pollfd *pfds;
    size_t pfds_cap;
};

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* Field 22 of /proc/<pid>/stat: with the pid, it names one process for good. */
static int proc_starttime(pid_t pid, uint64_t *ret)
{
    char path[64], buf[1024];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = iso_read_all(fd, buf, sizeof(buf) - 1);
    safe_close(fd);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -EINVAL;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EINVAL;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p + 1, &end, 10);
    if (errno != 0 || end == p + 1)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Writes name in the state dir atomically: name.tmp, fsync, rename. */
static int write_state_file(int dirfd, const char *name, const char *content)
{
    char tmp[128];

    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int r = iso_write_all(fd, content, strlen(content));
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    safe_close(fd);
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = -errno;
    if (r < 0)
        (void)unlinkat(dirfd, tmp, 0);
    return r;
}

static void report_err(int code, int exit_code, const char *msg)
{
    char line[ISO_ERR_MSG_MAX + 64];

    int n = snprintf(line, sizeof(line), "err %d %d %s", code, exit_code, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    /* One line: a message never spans two. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    (void)iso_write_all(REPORT_FD, line, (size_t)n);
}

/* ---- attach clients ---- */

static struct client *client_add(struct shim *s, int fd)
{
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, on purpose. */
    struct client **v = realloc(s->clients, (s->n_clients + 1) * sizeof(*v));
    if (!v)
        return NULL;
    s->clients = v;
    struct client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    s->clients[s->n_clients++] = c;
    return c;
}

static void client_drop(struct client *c)
{
    heap_trim |= c->cap > 0;
    c->dead = true;
    c->fd = safe_close(c->fd);
    c->buf = (free(c->buf), NULL);
    c->off = c->len = c->cap = 0;
}

static void clients_compact(struct shim *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n_clients; i++) {
        if (s->clients[i]->dead) {
            if (s->clients[i]->ex)
                s->clients[i]->ex->c = NULL;
            free(s->clients[i]);
        } else
            s->clients[j++] = s->clients[i];
    }
    s->n_clients = j;
    if (j == 0)
        s->clients = (free(s->clients), NULL);
}

static void client_queue(struct client *c, const void *data, size_t len)
{
    if (c->len + len > CLIENT_BUF_MAX) {
        /* Too slow: drop it rather than hold the container's output. */
        client_drop(c);
        return;
    }
    if (c->off + c->len + len > c->cap) {
        if (c->off > 0) {
            memmove(c->buf, c->buf + c->off, c->len);
            c->off = 0;
        }
        if (c->len + len > c->cap) {
            size_t cap = c->cap ? c->cap * 2 : (size_t)16 * 1024;
            while (cap < c->len + len)
                cap *= 2;
            if (cap > CLIENT_BUF_MAX)
                cap = CLIENT_BUF_MAX;
            char *b = realloc(c->buf, cap);
            if (!b) {
                client_drop(c);
                return;
            }
            c->buf = b;
            c->cap = cap;
        }
    }
    memcpy(c->buf + c->off + c->len, data, len);
    c->len += len;
}

/* Sends hdr (may be empty) and data to c, queueing what the socket does not take now. */
static void client_send(struct client *c, const void *hdr, size_t hlen, const void *data,
                        size_t len)
{
    size_t done = 0;

    if (c->dead)
        return;
    if (c->len == 0) {
        struct iovec iov[2] = {{(void *)hdr, hlen}, {(void *)data, len}};
        ssize_t n = RETRY_EINTR(writev(c->fd, iov, 2));
        if (n < 0 && errno != EAGAIN) {
            client_drop(c);
            return;
        }
        done = n < 0 ? 0 : (size_t)n;
    }
    if (done < hlen) {
        client_queue(c, (const char *)hdr + done, hlen - done);
        done = hlen;
    }
    if (!c->dead && done - hlen < len)
        client_queue(c, (const char *)data + (done - hlen), len - (done - hlen));
}

static void client_flush(struct client *c)
{
    while (c->len > 0) {
        ssize_t n = RETRY_EINTR(write(c->fd, c->buf + c->off, c->len));
        if (n < 0) {
            if (errno != EAGAIN)
                client_drop(c);
            return;
        }
        c->off += (size_t)n;
        c->len -= (size_t)n;
    }
    /* Idle clients hold no buffer. */
    heap_trim |= c->cap > 0;
    c->buf = (free(c->buf), NULL);
    c->off = c->cap = 0;
}

static void broadcast(struct shim *s, enum shim_stream stream, const char *data, size_t len)
{
    uint8_t hdr[SHIM_FRAME_HEADER_SIZE];

    shim_frame_header(hdr, stream, (uint32_t)len);
    for (size_t i = 0; i < s->n_clients; i++) {
        struct client *c = s->clients[i];
        if (c->dead || c->ctl)
            continue;
        if (stream == SHIM_STREAM_STDOUT ? !c->out : !c->err)
            continue;
        if (s->terminal)
            client_send(c, NULL, 0, data, len);
        else
            client_send(c, hdr, sizeof(hdr), data, len);
    }
}

/* ---- the container's stdin ---- */

static void stdin_close(struct io *io)
{
    if (io->in_fd >= 0 && io->in_fd != io->master)
        safe_close(io->in_fd);
    io->in_fd = -1;
    io->in_closing = false;
    io->in_buf = (free(io->in_buf), NULL);
    io->in_len = 0;
}

static void stdin_flush(struct io *io)
{
    size_t off = 0;

    while (io->in_fd >= 0 && off < io->in_len) {
        ssize_t n = RETRY_EINTR(write(io->in_fd, io->in_buf + off, io->in_len - off));
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            /* The container closed its stdin (EPIPE): input goes nowhere from now on. */
            stdin_close(io);
            return;
        }
        off += (size_t)n;
    }
    if (off > 0) {
        memmove(io->in_buf, io->in_buf + off, io->in_len - off);
        io->in_len -= off;
    }
    if (io->in_len == 0) {
        io->in_buf = (free(io->in_buf), NULL);
        if (io->in_closing)
            stdin_close(io);
    }
}

static void stdin_feed(struct io *io, const char *data, size_t len)
{
    if (io->in_fd < 0 || io->in_closing || len == 0)
        return;
    if (io->in_len == 0) {
        ssize_t n = RETRY_EINTR(write(io->in_fd, data, len));
        if (n < 0 && errno != EAGAIN) {
            stdin_close(io);
            return;
        }
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        }
    }
    if (len == 0)
        return;
    /* Bounded by the loop: it does not read input clients while this is non-empty, so it
     * holds at most one read per client. */
    char *b = realloc(io->in_buf, io->in_len + len);
    if (!b)
        return;
    io->in_buf = b;
    memcpy(io->in_buf + io->in_len, data, len);
    io->in_len += len;
}

/* The input of a process ended: its stdin pipe closes once what is queued is written; with a
 * pty there is nothing to close, the input just stops, as with containerd. */
static void stdin_end(struct io *io, bool terminal)
{
    if (io->in_fd < 0)
        return;
    if (terminal) {
        io->in_fd = -1;
        io->in_buf = (free(io->in_buf), NULL);
        io->in_len = 0;
        return;
    }
    io->in_closing = true;
    if (io->in_len == 0)
        stdin_close(io);
}

/* A client's stdin ended. With stdin_once the container's stdin ends too. */
static void client_stdin_eof(struct shim *s, struct client *c)
{
    c->in_done = true;
    if (c->in && s->stdin_once)
        stdin_end(&s->io, s->terminal);
}

/* ---- docker exec ---- */

static int stdio_setup(struct io *io, const struct rt_spec *spec, struct rt_stdio *child,
                       struct iso_err *err);
static void stdio_close_child(struct rt_stdio *child);
static int write_state_file(int dirfd, const char *name, const char *content);

static void io_close(struct io *io)
{
    stdin_close(io);
    if (io->out_fd >= 0 && io->out_fd != io->master)
        safe_close(io->out_fd);
    safe_close(io->err_fd);
    safe_close(io->master);
    *io = (struct io)IO_INIT;
}

static struct exec *exec_find(struct shim *s, const char *id)
{
    for (struct exec *x = s->execs; x; x = x->next)
        if (streq(x->id, id))
            return x;
    return NULL;
}

static bool valid_exec_id(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > 64)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* "err <errno> <exit code> <message>\n" and the connection closes. */
static void exec_reply_err(struct client *c, int code, int exit_code, const char *msg)
{
    char line[ISO_ERR_MSG_MAX + 64];

    int n = snprintf(line, sizeof(line), "err %d %d %s", code ? code : EIO, exit_code, msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    line[n] = '\0';
    (void)iso_write_all(c->fd, line, (size_t)n);
    client_drop(c);
}

/* "exec <spec path>": the path is absolute or relative to the state dir. */
static void exec_start(struct shim *s, struct client *c, const char *arg, const char *rest,
                       size_t rest_len)
{
    struct rt_spec spec = {0};
    struct rt_stdio child = {-1, -1, -1};
    struct iso_err err = {0};
    _cleanup_free_ char *path = NULL;
    struct exec *x = NULL;
    int exit_code = 125;
    char line[64];

    if (s->exited) {
        exec_reply_err(c, ESRCH, 125, "the container is not running");
        return;
    }
    path = arg[0] == '/' ? strdup(arg) : iso_strprintf("%s/%s", s->dir, arg);
    x = calloc(1, sizeof(*x));
    if (!path || !x) {
        free(x);
        exec_reply_err(c, ENOMEM, 125, "out of memory");
        return;
    }
    x->io = (struct io)IO_INIT;
    x->pidfd = -1;
    x->slot = SIZE_MAX;
    if (rt_spec_read(path, &spec, &err) < 0)
        goto fail;
    if (!spec.id || !valid_exec_id(spec.id)) {
        iso_err_set(&err, EINVAL, "exec spec '%s': bad id", path);
        goto fail;
    }
    if (exec_find(s, spec.id)) {
        iso_err_set(&err, EEXIST, "exec %s is running already", spec.id);
        goto fail;
    }
    snprintf(x->id, sizeof(x->id), "%s", spec.id);
    x->terminal = spec.terminal;
    x->stdin_open = spec.stdin_open;
    /* With a terminal the exec makes its pty inside the container and hands us the master. */
    if (!spec.terminal && stdio_setup(&x->io, &spec, &child, &err) < 0)
        goto fail;
    int master = -1;
    if (rt_exec_start(&spec, s->pidfd, (const char *const *)spec.cgroups, &child, &x->pid,
                      &x->pidfd, &master, &exit_code, &err) < 0)
        goto fail;
    stdio_close_child(&child);
    if (master >= 0) {
        x->io.master = x->io.out_fd = master;
        (void)set_nonblock(master);
        if (x->stdin_open)
            x->io.in_fd = master;
    }
    rt_spec_done(&spec);

    snprintf(line, sizeof(line), "ok %d\n", (int)x->pid);
    (void)iso_write_all(c->fd, line, strlen(line));
    c->ctl = false;
    c->ex = x;
    x->c = c;
    x->next = s->execs;
    s->execs = x;
    if (x->stdin_open)
        stdin_feed(&x->io, rest, rest_len);
    return;

fail:
    stdio_close_child(&child);
    io_close(&x->io);
    rt_spec_done(&spec);
    free(x);
    exec_reply_err(c, err.code, exit_code ? exit_code : 125, err.msg);
}

/* The exec client sent input, or half-closed (len 0): with a pipe the exec's stdin closes once
 * what is queued is written; with a pty the input just stops. */
static void exec_input(struct exec *x, struct client *c, const char *data, size_t len)
{
    if (len > 0) {
        if (x->stdin_open)
            stdin_feed(&x->io, data, len);
        return;
    }
    c->in_done = true;
    if (x->stdin_open)
        stdin_end(&x->io, x->terminal);
}

static void exec_output(struct exec *x, int *fdp, enum shim_stream stream)
{
    char buf[READ_CHUNK];
    uint8_t hdr[SHIM_FRAME_HEADER_SIZE];

    ssize_t n = RETRY_EINTR(read(*fdp, buf, sizeof(buf)));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        if (*fdp != x->io.master)
            safe_close(*fdp);
        *fdp = -1;
        return;
    }
    heap_trim |= (size_t)n == sizeof(buf);
    if (!x->c || x->c->dead)
        return;
    if (x->terminal) {
        client_send(x->c, NULL, 0, buf, (size_t)n);
        return;
    }
    shim_frame_header(hdr, stream, (uint32_t)n);
    client_send(x->c, hdr, sizeof(hdr), buf, (size_t)n);
}

/* Done: the exit file, then the connection closes. */
static void exec_finish(struct shim *s, struct exec *x)
{
    char name[96], line[64];

    snprintf(name, sizeof(name), "exec-%s.exit", x->id);
    snprintf(line, sizeof(line), "%d %" PRIu64 "\n", x->exited ? x->exit_code : 255,
             iso_now_real_ns());
    (void)write_state_file(s->dirfd, name, line);
    if (x->c) {
        x->c->ex = NULL;
        client_drop(x->c);
    }
    io_close(&x->io);
    safe_close(x->pidfd);
    for (struct exec **p = &s->execs; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            break;
        }
    heap_trim = true;
    free(x);
}

/* Finishes the execs that exited and whose output drained and reached the client (or whose
 * time ran out). Returns the nearest deadline of those still draining, 0 if none. */
static uint64_t execs_check(struct shim *s)
{
    uint64_t now = iso_now_mono_ns(), next = 0;

    for (struct exec *x = s->execs, *nx; x; x = nx) {
        nx = x->next;
        if (!x->exited)
            continue;
        bool drained = x->io.out_fd < 0 && x->io.err_fd < 0;
        bool flushed = !x->c || x->c->dead || x->c->len == 0;
        uint64_t until = x->deadline;
        if (drained || now >= x->deadline) {
            until = x->deadline + FLUSH_TIMEOUT_MS * 1000000ULL;
            if (flushed || now >= until) {
                exec_finish(s, x);
                continue;
            }
        }
        if (next == 0 || until < next)
            next = until;
    }
    return next;
}

/* ---- shim.sock commands ---- */

static void ctl_reply(struct client *c, const char *msg)
{
    (void)RETRY_EINTR(write(c->fd, msg, strlen(msg)));
    client_drop(c);
}

/* "resize <rows> <cols>[ <exec id>]", each a decimal number; *exec_id "" for the init. */
static bool parse_resize(const char *line, unsigned *rows, unsigned *cols, const char **exec_id)
{
    unsigned long v[2];
    const char *p = line + 6;
    char *end;

    if (!strneq(line, "resize", 6))
        return false;
    for (int i = 0; i < 2; i++) {
        if (*p != ' ' || p[1] < '0' || p[1] > '9')
            return false;
        errno = 0;
        v[i] = strtoul(p + 1, &end, 10);
        if (errno != 0 || v[i] > UINT_MAX)
            return false;
        p = end;
    }
    if (*p == ' ' && p[1])
        *exec_id = p + 1;
    else if (*p != '\0')
        return false;
    else
        *exec_id = "";
    *rows = (unsigned)v[0];
    *cols = (unsigned)v[1];
    return true;
}

static void ctl_command(struct shim *s, struct client *c, char *line, const char *rest,
                        size_t rest_len)
{
    if (strneq(line, "attach", 6) && (line[6] == '\0' || line[6] == ' ')) {
        const char *flags = line[6] ? line + 7 : "";
        for (const char *f = flags; *f; f++) {
            if (*f == 'i')
                c->in = true;
            else if (*f == 'o')
                c->out = true;
            else if (*f == 'e')
                c->err = true;
            else {
                ctl_reply(c, "err invalid attach flags\n");
                return;
            }
        }
        c->ctl = false;
        if (s->exited) {
            /* Too late: the container is gone and no more output comes. */
            client_drop(c);
            return;
        }
        if (c->in && s->stdin_open)
            stdin_feed(&s->io, rest, rest_len);
        return;
    }

    if (strneq(line, "exec ", 5) && line[5]) {
        exec_start(s, c, line + 5, rest, rest_len);
        return;
    }

    unsigned rows, cols;
    const char *exec_id = "";
    if (parse_resize(line, &rows, &cols, &exec_id)) {
        char msg[ISO_ERR_MSG_MAX];
        int master = s->io.master;
        if (*exec_id) {
            struct exec *x = exec_find(s, exec_id);
            if (!x) {
                ctl_reply(c, "err no such exec\n");
                return;
            }
            master = x->io.master;
        }
        if (master < 0) {
            ctl_reply(c, *exec_id ? "err the exec has no terminal\n"
                                  : "err the container has no terminal\n");
            return;
        }
        if (rows > USHRT_MAX || cols > USHRT_MAX) {
            ctl_reply(c, "err invalid size\n");
            return;
        }
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0) {
            snprintf(msg, sizeof(msg), "err resize: %s\n", strerror(errno));
            ctl_reply(c, msg);
            return;
        }
        ctl_reply(c, "ok\n");
        return;
    }
    ctl_reply(c, "err unknown command\n");
}

static void ctl_read(struct shim *s, struct client *c)
{
    char buf[CTL_LINE_MAX + 1024];

    ssize_t n = RETRY_EINTR(read(c->fd, buf, sizeof(buf)));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        client_drop(c);
        return;
    }
    char *nl = memchr(buf, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - buf) : (size_t)n;
    if (c->line_len + take >= CTL_LINE_MAX) {
        ctl_reply(c, "err command too long\n");
        return;
    }
    memcpy(c->line + c->line_len, buf, take);
    c->line_len += take;
    if (!nl)
        return;
    c->line[c->line_len] = '\0';
    ctl_command(s, c, c->line, nl + 1, (size_t)n - take - 1);
}

static void client_read(struct shim *s, struct client *c)
{
    char buf[READ_CHUNK];

    if (c->ctl) {
        ctl_read(s, c);
        return;
    }
    ssize_t n = RETRY_EINTR(read(c->fd, buf, sizeof(buf)));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0) {
        client_drop(c);
        return;
    }
    if (c->ex) {
        exec_input(c->ex, c, buf, (size_t)n);
        return;
    }
    if (n == 0) {
        /* Half-closed: it still reads output. */
        client_stdin_eof(s, c);
        return;
    }
    if (c->in && s->stdin_open)
        stdin_feed(&s->io, buf, (size_t)n);
}

static void accept_client(struct shim *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct client *c = client_add(s, fd);
    if (!c) {
        safe_close(fd);
        return;
    }
    c->ctl = true;
}

/* ---- container output and exit ---- */

static void output_read(struct shim *s, int *fdp, enum shim_stream stream)
{
    char buf[READ_CHUNK];

    ssize_t n = RETRY_EINTR(read(*fdp, buf, sizeof(buf)));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        /* EOF, or EIO on a pty master once no process holds the slave. The master stays
         * open for resize and stdin until the end. */
        shim_log_flush(&s->log, stream, iso_now_real_ns());
        if (*fdp != s->io.master)
            safe_close(*fdp);
        *fdp = -1;
        return;
    }
    /* A full read: more is coming, and the log's and clients' buffers grow. */
    heap_trim |= (size_t)n == sizeof(buf);
    shim_log_write(&s->log, stream, buf, (size_t)n, iso_now_real_ns());
    broadcast(s, stream, buf, (size_t)n);
}

static int exit_code_of(const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        return si->si_status;
    return 128 + si->si_status;
}

/* Reaps every child that has exited: the init (its status kept) and anything else reparented
 * to us as subreaper. WNOWAIT first, so that the init's status is never reaped by accident. */
static void reap(struct shim *s)
{
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        siginfo_t got = {0};
        if (waitid(P_PID, (id_t)si.si_pid, &got, WEXITED) < 0)
            return;
        if (si.si_pid == s->pid && !s->exited) {
            s->exited = true;
            s->exit_code = exit_code_of(&got);
        }
        for (struct exec *x = s->execs; x; x = x->next)
            if (x->pid == si.si_pid && !x->exited) {
                x->exited = true;
                x->exit_code = exit_code_of(&got);
                x->deadline = iso_now_mono_ns() + DRAIN_TIMEOUT_MS * 1000000ULL;
            }
    }
}

static void drain_signals(struct shim *s)
{
    struct signalfd_siginfo ssi;
    while (read(s->sigfd, &ssi, sizeof(ssi)) == sizeof(ssi))
        ;
}

static struct pollfd *pfd_push(struct shim *s, size_t *n, int fd, short events)
{
    if (*n == s->pfds_cap) {
        size_t cap = s->pfds_cap ? s->pfds_cap * 2 : 16;
        struct pollfd *p = realloc(s->pfds, cap * sizeof(*p));
        if (!p)
            return NULL;
        s->pfds = p;
        s->pfds_cap = cap;
    }
    struct pollfd *p = &s->pfds[(*n)++];
    *p = (struct pollfd){.fd = fd, .events = events};
    return p;
}

static int timeout_left(uint64_t deadline)
{
    uint64_t now = iso_now_mono_ns();
    if (now >= deadline)
        return 0;
    return (int)((deadline - now + 999999) / 1000000);
}

/* Runs until the init has exited and its output is drained. */
static void loop(struct shim *s)
{
    uint64_t deadline = 0;

    for (;;) {
        uint64_t exec_next = execs_check(s);
        if (s->exited) {
            if (deadline == 0)
                deadline = iso_now_mono_ns() + DRAIN_TIMEOUT_MS * 1000000ULL;
            /* The execs died with the pid namespace: they get the flush time too. */
            if ((s->io.out_fd < 0 && s->io.err_fd < 0 && !s->execs) ||
                iso_now_mono_ns() >= deadline + (s->execs ? FLUSH_TIMEOUT_MS * 1000000ULL : 0))
                return;
        }

        /* Hold the output for a slow client, within its stall time; never after the exit,
         * when the log must get everything before the drain time ends. */
        uint64_t now = iso_now_mono_ns(), hold_until = 0;
        for (size_t i = 0; !s->exited && i < s->n_clients; i++) {
            struct client *c = s->clients[i];
            if (c->len < CLIENT_HIGH_WATER) {
                c->stall_since = 0;
                continue;
            }
            if (c->stall_since == 0)
                c->stall_since = now;
            uint64_t until = c->stall_since + CLIENT_STALL_MS * 1000000ULL;
            if (until > now && until > hold_until)
                hold_until = until;
        }

        /* Fixed slots first, then one per client, in client order. */
        enum { SLOT_OUT, SLOT_ERR, SLOT_IN, SLOT_PID, SLOT_SIG, SLOT_LISTEN, SLOT_CLIENTS };
        size_t n = 0;
        bool ok = true;
        ok &= pfd_push(s, &n, hold_until ? -1 : s->io.out_fd, POLLIN) != NULL;
        ok &= pfd_push(s, &n, hold_until ? -1 : s->io.err_fd, POLLIN) != NULL;
        ok &= pfd_push(s, &n, s->io.in_len > 0 ? s->io.in_fd : -1, POLLOUT) != NULL;
        ok &= pfd_push(s, &n, s->exited ? -1 : s->pidfd, POLLIN) != NULL;
        ok &= pfd_push(s, &n, s->sigfd, POLLIN) != NULL;
        ok &= pfd_push(s, &n, s->exited ? -1 : s->listen_fd, POLLIN) != NULL;
        for (size_t i = 0; ok && i < s->n_clients; i++) {
            struct client *c = s->clients[i];
            short ev = 0;
            /* An input client waits while the container has not taken the last input. */
            bool in_waits = c->ex ? c->ex->io.in_len > 0 : c->in && s->io.in_len > 0;
            if (c->ctl || (!c->in_done && !in_waits))
                ev |= POLLIN;
            if (c->len > 0)
                ev |= POLLOUT;
            ok &= pfd_push(s, &n, c->fd, ev) != NULL;
        }
        size_t nc = n - SLOT_CLIENTS;
        /* Four per exec: output, errors, input, exit. */
        for (struct exec *x = s->execs; ok && x; x = x->next) {
            bool hold = !x->exited && x->c && !x->c->dead && x->c->len >= CLIENT_HIGH_WATER;
            x->slot = n;
            ok &= pfd_push(s, &n, hold ? -1 : x->io.out_fd, POLLIN) != NULL;
            ok &= pfd_push(s, &n, hold ? -1 : x->io.err_fd, POLLIN) != NULL;
            ok &= pfd_push(s, &n, x->io.in_len > 0 ? x->io.in_fd : -1, POLLOUT) != NULL;
            ok &= pfd_push(s, &n, x->exited ? -1 : x->pidfd, POLLIN) != NULL;
        }
        if (!ok) {
            /* Out of memory for the poll set: wait and retry rather than lose the container. */
            (void)poll(NULL, 0, 100);
            continue;
        }

        if (heap_trim && !s->exited && !hold_until) {
            (void)malloc_trim(0);
            heap_trim = false;
        }
        int timeout = s->exited    ? timeout_left(deadline)
                      : hold_until ? timeout_left(hold_until)
                                   : -1;
        if (exec_next && (timeout < 0 || timeout_left(exec_next) < timeout))
            timeout = timeout_left(exec_next);
        int r = poll(s->pfds, n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        struct pollfd *p = s->pfds;
        /* Exit first, so that the output read below is the last and nothing is missed. */
        if (p[SLOT_SIG].revents)
            drain_signals(s);
        if (p[SLOT_SIG].revents || p[SLOT_PID].revents)
            reap(s);
        if (p[SLOT_OUT].revents)
            output_read(s, &s->io.out_fd, SHIM_STREAM_STDOUT);
        if (p[SLOT_ERR].revents)
            output_read(s, &s->io.err_fd, SHIM_STREAM_STDERR);
        if (p[SLOT_IN].revents)
            stdin_flush(&s->io);
        if (p[SLOT_LISTEN].revents)
            accept_client(s);
        for (size_t i = 0; i < nc; i++) {
            struct client *c = s->clients[i];
            short rev = p[SLOT_CLIENTS + i].revents;
            if (c->dead || rev == 0)
                continue;
            if (rev & POLLOUT)
                client_flush(c);
            if (!c->dead && (rev & (POLLIN | POLLHUP | POLLERR)) &&
                (p[SLOT_CLIENTS + i].events & POLLIN))
                client_read(s, c);
            else if (!c->dead && (rev & (POLLHUP | POLLERR)))
                client_drop(c);
        }
        for (struct exec *x = s->execs; x; x = x->next) {
            if (x->slot == SIZE_MAX || x->slot + 3 >= n)
                continue;
            struct pollfd *xp = &p[x->slot];
            if (xp[3].revents)
                reap(s);
            if (xp[0].revents)
                exec_output(x, &x->io.out_fd, SHIM_STREAM_STDOUT);
            if (xp[1].revents)
                exec_output(x, &x->io.err_fd, SHIM_STREAM_STDERR);
            if (xp[2].revents)
                stdin_flush(&x->io);
        }
        clients_compact(s);
    }
}

/* Gives slow clients a last chance to take their output, then closes them all. */
static void clients_finish(struct shim *s)
{
    uint64_t deadline = iso_now_mono_ns() + FLUSH_TIMEOUT_MS * 1000000ULL;

    for (;;) {
        size_t n = 0;
        for (size_t i = 0; i < s->n_clients; i++) {
            struct client *c = s->clients[i];
            if (c->dead || c->len == 0)
                continue;
            if (!pfd_push(s, &n, c->fd, POLLOUT))
                break;
        }
        if (n == 0 || iso_now_mono_ns() >= deadline)
            break;
        if (RETRY_EINTR(poll(s->pfds, n, timeout_left(deadline))) <= 0)
            break;
        for (size_t i = 0; i < s->n_clients; i++)
            if (!s->clients[i]->dead && s->clients[i]->len > 0)
                client_flush(s->clients[i]);
    }
    for (size_t i = 0; i < s->n_clients; i++) {
        client_drop(s->clients[i]);
        free(s->clients[i]);
    }
    s->clients = (free(s->clients), NULL);
    s->n_clients = 0;
}

/* ---- setup ---- */

static int listen_socket(struct shim *s, const char *dir, struct iso_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    (void)unlinkat(s->dirfd, "shim.sock", 0);
    /* A state dir path too long for sun_path is reached through our dir fd. */
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/shim.sock", dir);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/shim.sock", s->dirfd);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "create shim socket");
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || fchmodat(s->dirfd, "shim.sock", 0600, 0) < 0 || listen(fd, 16) < 0) {
        r = errno;
        safe_close(fd);
        return iso_err_set_errno(err, r, "listen on '%s/shim.sock'", dir);
    }
    s->listen_fd = fd;
    return 0;
}

/* Opens the pty or the pipes; *child gets the container's ends. */
static int stdio_setup(struct io *io, const struct rt_spec *spec, struct rt_stdio *child,
                       struct iso_err *err)
{
    int p[2];

    if (spec->terminal) {
        char name[128];
        int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (m < 0)
            return iso_err_set_errno(err, errno, "open pty");
        io->master = io->out_fd = m;
        if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
            return iso_err_set_errno(err, errno, "set up pty");
        int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
            return iso_err_set_errno(err, errno, "open pty '%s'", name);
        *child = (struct rt_stdio){slave, slave, slave};
        if (spec->console_rows > 0 && spec->console_cols > 0) {
            struct winsize ws = {.ws_row = spec->console_rows, .ws_col = spec->console_cols};
            if (ioctl(m, TIOCSWINSZ, &ws) < 0)
                return iso_err_set_errno(err, errno, "set pty size");
        }
        if (set_nonblock(m) < 0)
            return iso_err_set_errno(err, errno, "set up pty");
        if (spec->stdin_open)
            io->in_fd = m;
        return 0;
    }

    if (pipe2(p, O_CLOEXEC) < 0)
        return iso_err_set_errno(err, errno, "create stdout pipe");
    io->out_fd = p[0];
    child->out = p[1];
    if (pipe2(p, O_CLOEXEC) < 0)
        return iso_err_set_errno(err, errno, "create stderr pipe");
    io->err_fd = p[0];
    child->err = p[1];
    if (spec->stdin_open) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return iso_err_set_errno(err, errno, "create stdin pipe");
        child->in = p[0];
        io->in_fd = p[1];
        (void)set_nonblock(io->in_fd);
    } else {
        child->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (child->in < 0)
            return iso_err_set_errno(err, errno, "open /dev/null");
    }
    if (set_nonblock(io->out_fd) < 0 || set_nonblock(io->err_fd) < 0)
        return iso_err_set_errno(err, errno, "set up pipes");
    return 0;
}

static void stdio_close_child(struct rt_stdio *child)
{
    if (child->in >= 0)
        safe_close(child->in);
    if (child->out >= 0 && child->out != child->in)
        safe_close(child->out);
    if (child->err >= 0 && child->err != child->in && child->err != child->out)
        safe_close(child->err);
    *child = (struct rt_stdio){-1, -1, -1};
}

/* Only once the init exists: it must not inherit ignored signals or a blocked mask. The
 * container is stopped by signalling its init, never the shim. */
static void signals_after_start(struct shim *s)
{
    sigset_t mask;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    /* Without it (no memory), the init's pidfd still tells its exit. */
    s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Everything up to the report. On failure, returns the Docker exit code to report (err
 * filled); 0 once "ok" is reported. */
static int start(struct shim *s, const char *dir, struct iso_err *err)
{
    struct rt_spec spec = {0};
    struct rt_stdio child = {-1, -1, -1};
    _cleanup_free_ char *path = NULL;
    char line[160];
    int exit_code = 125, r;

    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        iso_err_set_errno(err, errno, "open state dir '%s'", dir);
        return 125;
    }
    path = iso_strprintf("%s/spec", dir);
    if (!path) {
        iso_err_set(err, ENOMEM, "read spec");
        return 125;
    }
    if (rt_spec_read(path, &spec, err) < 0)
        return 125;
    s->dir = dir;

    s->terminal = spec.terminal;
    s->stdin_open = spec.stdin_open;
    s->stdin_once = spec.stdin_once;
    if (!spec.log) {
        iso_err_set(err, EINVAL, "spec '%s' has no log", path);
        goto out;
    }
    if (shim_log_open(&s->log, spec.log, spec.log_max_size, spec.log_max_files, err) < 0)
        goto out;

    /* Clients waiting before the start see the output from its first byte. */
    for (size_t i = 0; i < spec.n_attach; i++) {
        int fd = spec.attach[i].fd;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || set_nonblock(fd) < 0) {
            iso_err_set_errno(err, errno, "attach fd %d", fd);
            goto out;
        }
        struct client *c = client_add(s, fd);
        if (!c) {
            iso_err_set(err, ENOMEM, "attach fd %d", fd);
            goto out;
        }
        c->in = spec.attach[i].in;
        c->out = spec.attach[i].out;
        c->err = spec.attach[i].err;
    }

    if (listen_socket(s, dir, err) < 0)
        goto out;
    if (stdio_setup(&s->io, &spec, &child, err) < 0)
        goto out;

    r = rt_container_start(&spec, &child, &s->pid, &s->pidfd, &exit_code, err);
    stdio_close_child(&child);
    if (r < 0)
        goto out;
    exit_code = 125;
    /* Before the report: a write to a gone isod must not kill the shim (SIGPIPE). */
    signals_after_start(s);

    uint64_t shim_st = 0, init_st = 0;
    r = proc_starttime(getpid(), &shim_st);
    if (r == 0)
        r = proc_starttime(s->pid, &init_st);
    if (r == 0) {
        snprintf(line, sizeof(line), "%d %" PRIu64 " %d %" PRIu64 "\n", (int)getpid(), shim_st,
                 (int)s->pid, init_st);
        r = write_state_file(s->dirfd, "shim.pid", line);
    }
    if (r < 0) {
        iso_err_set_errno(err, r, "write '%s/shim.pid'", dir);
        (void)kill(s->pid, SIGKILL);
        (void)waitpid(s->pid, NULL, 0);
        goto out;
    }

    rt_spec_done(&spec);
    snprintf(line, sizeof(line), "ok %d\n", (int)s->pid);
    (void)iso_write_all(REPORT_FD, line, strlen(line));
    safe_close(REPORT_FD);
    return 0;

out:
    stdio_close_child(&child);
    rt_spec_done(&spec);
    return exit_code != 0 ? exit_code : 125;
}

int main(int argc, char **argv)
{
    struct shim s = {
        .log = {.fd = -1}, .io = IO_INIT, .listen_fd = -1, .pidfd = -1, .sigfd = -1, .dirfd = -1};
    struct iso_err err = {0};
    char line[64];

    if (argc != 2 || argv[1][0] != '/') {
        static const char usage[] = "usage: isod-shim <absolute state dir> (fd 3: report)\n";
        (void)iso_write_all(STDERR_FILENO, usage, sizeof(usage) - 1);
        return 2;
    }
    if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0)
        return 2;
    /* Inherited fds (the attach ones) stay with the shim, never reach the container. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        report_err(errno, 125, "close_range failed");
        return 1;
    }

    /* Leave isod's process tree and session at once: the first process exits, isod (a
     * subreaper) sees it exit and from then on follows the shim by pid. The shim's pid is
     * final from here, so the init is our child for good. */
    pid_t pid = fork();
    if (pid < 0) {
        report_err(errno, 125, "fork the shim");
        return 1;
    }
    if (pid > 0)
        _exit(0);
    if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        report_err(errno, 125, "set up the shim");
        return 1;
    }
    /* Hold none of isod's stdio: a shim can outlive it by hours, and a pipe it kept open
     * would keep whoever reads isod's output waiting. The shim writes nothing there. */
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
        dup2(null_fd, STDERR_FILENO) < 0) {
        report_err(errno, 125, "open /dev/null");
        return 1;
    }
    if (null_fd > STDERR_FILENO)
        safe_close(null_fd);

    /* Buffers past 64 KiB (a slow client's, a long line's entry) get their own mapping and
     * go back to the kernel when freed. */
    (void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);

    int code = start(&s, argv[1], &err);
    if (code != 0) {
        report_err(err.code ? err.code : EIO, code, err.msg);
        if (s.listen_fd >= 0)
            (void)unlinkat(s.dirfd, "shim.sock", 0);
        clients_finish(&s);
        shim_log_close(&s.log);
        free(s.pfds);
        return 1;
    }

    /* The spec and the set-up are freed: give their pages back, the shim lives as long as
     * its container (docs/runtime.md: a shim's memory is a budget). */
    (void)malloc_trim(0);

    /* An exit before the mask was set is seen through the pidfd or here. */
    reap(&s);

    loop(&s);
    if (!s.exited) {
        /* Only if poll failed: there is no way to go on without the loop. Wait for the init
         * rather than leave a status behind. */
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)s.pid, &si, WEXITED) == 0) {
            s.exited = true;
            s.exit_code = exit_code_of(&si);
        }
    }
    reap(&s);
    while (s.execs)
        exec_finish(&s, s.execs);

    shim_log_flush(&s.log, 0, iso_now_real_ns());
    shim_log_close(&s.log);
    clients_finish(&s);
    stdin_close(&s.io);

    snprintf(line, sizeof(line), "%d %" PRIu64 "\n", s.exited ? s.exit_code : 255,
             iso_now_real_ns());
    (void)write_state_file(s.dirfd, "exit", line);
    (void)unlinkat(s.dirfd, "shim.sock", 0);
    free(s.pfds);
    return 0;
}
