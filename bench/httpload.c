/*
 * httpload: a small HTTP/1.1 load generator for a Unix socket.
 *
 * Load mode:
 *   httpload -s SOCKET [-c CONNS] [-d SECONDS] [-n MAXREQ] [-m METHOD]
 *            [-H 'Name: value']... [-b BODY] PATH
 *   One thread per keep-alive connection, requests sent back to back (no
 *   pipelining). Responses are parsed (Content-Length, chunked, or until
 *   close); a non-2xx status or a transport failure counts as an error.
 *   Stops after -d seconds or -n requests, whichever comes first, and prints
 *   one line of JSON:
 *   {"requests":N,"errors":N,"seconds":S,"rps":R,"p50_us":..,"p99_us":..}
 *   "requests" counts completed responses (2xx or not); latencies are over
 *   those.
 *
 * Ready mode:
 *   httpload --wait-ready -s SOCKET [-t TIMEOUT_MS] [--path PATH]
 *            [--exec -- CMD ARGS...]
 *   Polls the socket (connect + GET PATH, default /_ping) until a 200 answer
 *   and prints {"ready_ms":MS} (with --exec: {"ready_ms":MS,"pid":PID}).
 *   With --exec the clock starts right before fork+exec of CMD; CMD's stdout
 *   is sent to httpload's stderr. After printing, httpload closes its stdout,
 *   stays CMD's parent (forwarding SIGTERM/SIGINT/SIGHUP to it), reaps it and
 *   exits with its status. On timeout, or if CMD exits first, CMD is killed
 *   and httpload exits 1 without printing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE    65536
#define MAX_HEADERS 32
/* Sockets are blocking with a short receive timeout: a read costs one syscall,
 * and a stalled server is noticed within RECV_TICK_MS of the deadline. */
#define RECV_TICK_MS 50

/* ---- time ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- connection with a read buffer ---- */

struct conn {
    int fd;
    size_t off, len;
    char buf[BUF_SIZE];
};

enum { IO_OK = 0, IO_EOF = -1, IO_ERR = -2, IO_TIMEOUT = -3, IO_PROTO = -4 };

static const char *io_str(int r)
{
    switch (r) {
    case IO_EOF:
        return "connection closed by peer";
    case IO_ERR:
        return "I/O error";
    case IO_TIMEOUT:
        return "timed out";
    case IO_PROTO:
        return "malformed response";
    default:
        return "ok";
    }
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct timeval tv = {0, RECV_TICK_MS * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->off = c->len = 0;
}

/* Read more data into the buffer (compacting it first). */
static int conn_fill(struct conn *c, int64_t deadline)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof c->buf)
        return IO_PROTO; /* a line longer than the buffer */
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            return IO_OK;
        }
        if (n == 0)
            return IO_EOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return IO_ERR;
        if (now_ns() >= deadline)
            return IO_TIMEOUT;
    }
}

/* Return the next line (without CR LF, NUL-terminated in place). The pointer
 * is valid until the next read on the connection. */
static int conn_line(struct conn *c, int64_t deadline, char **line)
{
    for (;;) {
        char *start = c->buf + c->off;
        char *nl = memchr(start, '\n', c->len - c->off);
        if (nl) {
            size_t n = (size_t)(nl - start);
            c->off += n + 1;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            start[n] = '\0';
            *line = start;
            return IO_OK;
        }
        int r = conn_fill(c, deadline);
        if (r != IO_OK)
            return r;
    }
}

/* Discard exactly n bytes. */
static int conn_skip(struct conn *c, uint64_t n, int64_t deadline)
{
    while (n > 0) {
        size_t avail = c->len - c->off;
        if (avail == 0) {
            c->off = c->len = 0;
            int r = conn_fill(c, deadline);
            if (r != IO_OK)
                return r;
            continue;
        }
        size_t take = avail < n ? avail : (size_t)n;
        c->off += take;
        n -= take;
    }
    return IO_OK;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return IO_ERR;
        }
        p += w;
        n -= (size_t)w;
    }
    return IO_OK;
}

/* ---- response parsing ---- */

struct response {
    int status;
    bool keep_alive;
};

static bool parse_u64(const char *s, int base, uint64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || end == s)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (base == 16 && *end == ';')
        end += strlen(end); /* chunk extensions */
    if (*end)
        return false;
    *out = v;
    return true;
}

static bool header_has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *e = v;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - v) == tl && strncasecmp(v, tok, tl) == 0)
            return true;
        v = e;
    }
    return false;
}

static int read_chunked(struct conn *c, int64_t deadline)
{
    for (;;) {
        char *line;
        int r = conn_line(c, deadline, &line);
        if (r != IO_OK)
            return r;
        uint64_t size;
        if (!parse_u64(line, 16, &size))
            return IO_PROTO;
        if (size == 0)
            break;
        r = conn_skip(c, size, deadline);
        if (r != IO_OK)
            return r;
        r = conn_line(c, deadline, &line); /* CRLF after the data */
        if (r != IO_OK)
            return r;
        if (*line)
            return IO_PROTO;
    }
    for (;;) { /* trailers, up to the empty line */
        char *line;
        int r = conn_line(c, deadline, &line);
        if (r != IO_OK)
            return r;
        if (!*line)
            return IO_OK;
    }
}

static int read_until_close(struct conn *c, int64_t deadline)
{
    for (;;) {
        c->off = c->len = 0;
        int r = conn_fill(c, deadline);
        if (r == IO_EOF)
            return IO_OK;
        if (r != IO_OK)
            return r;
    }
}

static int read_response(struct conn *c, bool head, int64_t deadline, struct response *resp)
{
    for (;;) {
        char *line;
        int r = conn_line(c, deadline, &line);
        if (r != IO_OK)
            return r;
        int minor, status;
        if (sscanf(line, "HTTP/1.%d %d", &minor, &status) != 2 || status < 100 || status > 999)
            return IO_PROTO;
        bool keep_alive = minor >= 1, chunked = false, have_len = false;
        uint64_t clen = 0;
        for (;;) {
            r = conn_line(c, deadline, &line);
            if (r != IO_OK)
                return r;
            if (!*line)
                break;
            char *colon = strchr(line, ':');
            if (!colon)
                return IO_PROTO;
            *colon = '\0';
            const char *val = colon + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            if (strcasecmp(line, "Content-Length") == 0) {
                if (!parse_u64(val, 10, &clen))
                    return IO_PROTO;
                have_len = true;
            } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
                if (header_has_token(val, "chunked"))
                    chunked = true;
            } else if (strcasecmp(line, "Connection") == 0) {
                if (header_has_token(val, "close"))
                    keep_alive = false;
                else if (header_has_token(val, "keep-alive"))
                    keep_alive = true;
            }
        }
        if (status >= 100 && status < 200)
            continue; /* interim response: the final one follows */
        resp->status = status;
        resp->keep_alive = keep_alive;
        if (head || status == 204 || status == 304)
            return IO_OK;
        if (chunked)
            return read_chunked(c, deadline);
        if (have_len)
            return conn_skip(c, clen, deadline);
        resp->keep_alive = false;
        return read_until_close(c, deadline);
    }
}

/* ---- request ---- */

static char *build_request(const char *method, const char *path, char **headers, int nheaders,
                           const char *body)
{
    size_t cap = strlen(method) + strlen(path) + 256 + (body ? strlen(body) : 0);
    for (int i = 0; i < nheaders; i++)
        cap += strlen(headers[i]) + 2;
    char *req = malloc(cap);
    if (!req)
        return NULL;
    size_t n = (size_t)snprintf(
        req, cap, "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: httpload\r\n", method, path);
    bool have_ctype = false;
    for (int i = 0; i < nheaders; i++) {
        if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
            have_ctype = true;
        n += (size_t)snprintf(req + n, cap - n, "%s\r\n", headers[i]);
    }
    if (body) {
        if (!have_ctype)
            n += (size_t)snprintf(req + n, cap - n, "Content-Type: application/json\r\n");
        n +=
            (size_t)snprintf(req + n, cap - n, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        n += (size_t)snprintf(req + n, cap - n, "Content-Length: 0\r\n\r\n");
    } else {
        n += (size_t)snprintf(req + n, cap - n, "\r\n");
    }
    return req;
}

/* ---- load mode ---- */

struct shared {
    const char *sock;
    const char *req;
    size_t req_len;
    bool head;
    uint64_t max_req; /* 0: unlimited */
    int64_t deadline;
    atomic_uint_fast64_t issued;
    pthread_barrier_t start;
};

struct worker {
    pthread_t tid;
    struct shared *sh;
    struct conn *c;
    uint64_t *lat; /* ns */
    size_t nlat, cap;
    uint64_t errors, non2xx, transport;
    int first_bad_status;
    int first_io_err, first_errno;
    bool oom;
};

static void record(struct worker *w, uint64_t ns)
{
    if (w->nlat == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 65536;
        uint64_t *p = realloc(w->lat, ncap * sizeof *p);
        if (!p) {
            w->oom = true;
            return;
        }
        w->lat = p;
        w->cap = ncap;
    }
    w->lat[w->nlat++] = ns;
}

static void transport_error(struct worker *w, int r)
{
    w->errors++;
    w->transport++;
    if (!w->first_io_err) {
        w->first_io_err = r;
        w->first_errno = errno;
    }
    conn_close(w->c);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    struct conn *c = w->c;

    pthread_barrier_wait(&sh->start);
    for (;;) {
        if (now_ns() >= sh->deadline)
            break;
        if (sh->max_req && atomic_fetch_add(&sh->issued, 1) >= sh->max_req)
            break;
        if (c->fd < 0) {
            c->fd = unix_connect(sh->sock);
            if (c->fd < 0) {
                transport_error(w, IO_ERR);
                struct timespec ts = {0, 1000000}; /* do not spin on a dead socket */
                nanosleep(&ts, NULL);
                continue;
            }
        }
        int64_t t0 = now_ns();
        int r = send_all(c->fd, sh->req, sh->req_len);
        struct response resp = {0, false};
        if (r == IO_OK)
            r = read_response(c, sh->head, sh->deadline, &resp);
        int64_t t1 = now_ns();
        if (r == IO_TIMEOUT)
            break; /* the run ended while this request was in flight */
        if (r != IO_OK) {
            transport_error(w, r);
            continue;
        }
        record(w, (uint64_t)(t1 - t0));
        if (resp.status < 200 || resp.status > 299) {
            w->errors++;
            w->non2xx++;
            if (!w->first_bad_status)
                w->first_bad_status = resp.status;
        }
        if (!resp.keep_alive)
            conn_close(c);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct_us(const uint64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)((double)n * q + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static int run_load(const char *sock, int conns, double seconds, uint64_t max_req, const char *req,
                    bool head)
{
    struct shared sh;
    memset(&sh, 0, sizeof sh);
    sh.sock = sock;
    sh.req = req;
    sh.req_len = strlen(req);
    sh.head = head;
    sh.max_req = max_req;
    atomic_init(&sh.issued, 0);

    struct worker *ws = calloc((size_t)conns, sizeof *ws);
    if (!ws) {
        fprintf(stderr, "httpload: out of memory\n");
        return 1;
    }
    for (int i = 0; i < conns; i++) {
        ws[i].sh = &sh;
        ws[i].c = malloc(sizeof *ws[i].c);
        if (!ws[i].c) {
            fprintf(stderr, "httpload: out of memory\n");
            return 1;
        }
        ws[i].c->off = ws[i].c->len = 0;
        ws[i].c->fd = unix_connect(sock);
        if (ws[i].c->fd < 0) {
            fprintf(stderr, "httpload: connect %s: %s\n", sock, strerror(errno));
            return 1;
        }
    }
    pthread_barrier_init(&sh.start, NULL, (unsigned)conns + 1);
    int started = 0;
    for (int i = 0; i < conns; i++) {
        int e = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
        if (e) {
            fprintf(stderr, "httpload: pthread_create: %s\n", strerror(e));
            return 1;
        }
        started++;
    }
    int64_t t_start = now_ns();
    sh.deadline = t_start + (int64_t)(seconds * 1e9);
    pthread_barrier_wait(&sh.start);
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].tid, NULL);
    int64_t t_end = now_ns();

    size_t total = 0;
    uint64_t errors = 0, non2xx = 0, transport = 0;
    int bad_status = 0, io_err = 0, io_errno = 0;
    bool oom = false;
    for (int i = 0; i < conns; i++) {
        total += ws[i].nlat;
        errors += ws[i].errors;
        non2xx += ws[i].non2xx;
        transport += ws[i].transport;
        if (!bad_status)
            bad_status = ws[i].first_bad_status;
        if (!io_err) {
            io_err = ws[i].first_io_err;
            io_errno = ws[i].first_errno;
        }
        oom |= ws[i].oom;
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) {
        fprintf(stderr, "httpload: out of memory\n");
        return 1;
    }
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        if (ws[i].nlat)
            memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof *all);
        k += ws[i].nlat;
        free(ws[i].lat);
        conn_close(ws[i].c);
        free(ws[i].c);
    }
    qsort(all, total, sizeof *all, cmp_u64);

    double secs = (double)(t_end - t_start) / 1e9;
    printf("{\"requests\":%zu,\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
           total, errors, secs, secs > 0 ? (double)total / secs : 0.0, pct_us(all, total, 0.50),
           pct_us(all, total, 0.99));
    fflush(stdout);
    if (non2xx)
        fprintf(stderr, "httpload: %" PRIu64 " non-2xx responses (first: %d)\n", non2xx,
                bad_status);
    if (transport)
        fprintf(stderr, "httpload: %" PRIu64 " transport errors (first: %s%s%s)\n", transport,
                io_str(io_err), io_err == IO_ERR ? ": " : "",
                io_err == IO_ERR ? strerror(io_errno) : "");
    if (oom)
        fprintf(stderr, "httpload: out of memory for latencies; percentiles are partial\n");
    free(all);
    free(ws);
    pthread_barrier_destroy(&sh.start);
    return 0;
}

/* ---- ready mode ---- */

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* Has the child exited? Reaps it and stores its wait status. */
static bool child_gone(pid_t pid, int *status)
{
    pid_t r = waitpid(pid, status, WNOHANG);
    return r == pid || (r < 0 && errno == ECHILD);
}

static void kill_child(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) { /* 10 s */
        if (child_gone(pid, &status))
            return;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

static int run_ready(const char *sock, long timeout_ms, long interval_us, const char *req,
                     char **cmd)
{
    struct conn *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "httpload: out of memory\n");
        return 1;
    }
    c->fd = -1;
    c->off = c->len = 0;
    size_t req_len = strlen(req);
    pid_t pid = 0;

    if (cmd) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        fflush(NULL);
    }
    int64_t t0 = now_ns();
    if (cmd) {
        pid = fork();
        if (pid < 0) {
            fprintf(stderr, "httpload: fork: %s\n", strerror(errno));
            return 1;
        }
        if (pid == 0) {
            signal(SIGPIPE, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGHUP, SIG_DFL);
            dup2(STDERR_FILENO, STDOUT_FILENO);
            execvp(cmd[0], cmd);
            fprintf(stderr, "httpload: exec %s: %s\n", cmd[0], strerror(errno));
            _exit(127);
        }
        child_pid = pid;
    }
    int64_t deadline = t0 + (int64_t)timeout_ms * 1000000;
    int last_status = 0, last_err = 0, last_errno = 0, wstatus = 0;
    bool ready = false, died = false;
    int64_t t_ready = 0;
    while (now_ns() < deadline) {
        if (pid && child_gone(pid, &wstatus)) {
            died = true;
            break;
        }
        if (c->fd < 0)
            c->fd = unix_connect(sock);
        if (c->fd >= 0) {
            struct response resp = {0, false};
            int r = send_all(c->fd, req, req_len);
            if (r == IO_OK)
                r = read_response(c, false, deadline, &resp);
            if (r == IO_OK && resp.status == 200) {
                t_ready = now_ns();
                ready = true;
                break;
            }
            if (r == IO_OK) {
                last_status = resp.status;
                if (!resp.keep_alive)
                    conn_close(c);
            } else {
                last_err = r;
                last_errno = errno;
                conn_close(c);
            }
        } else {
            last_err = IO_ERR;
            last_errno = errno;
        }
        struct timespec ts = {0, interval_us * 1000};
        nanosleep(&ts, NULL);
    }
    conn_close(c);
    free(c);

    if (!ready) {
        if (died) {
            if (WIFEXITED(wstatus))
                fprintf(stderr, "httpload: %s exited with status %d before it was ready\n", cmd[0],
                        WEXITSTATUS(wstatus));
            else
                fprintf(stderr, "httpload: %s killed by signal %d before it was ready\n", cmd[0],
                        WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
            return 1;
        }
        fprintf(stderr, "httpload: %s not ready after %ld ms (last: ", sock, timeout_ms);
        if (last_status)
            fprintf(stderr, "HTTP %d)\n", last_status);
        else
            fprintf(stderr, "%s%s%s)\n", io_str(last_err), last_err == IO_ERR ? ": " : "",
                    last_err == IO_ERR ? strerror(last_errno) : "");
        if (pid)
            kill_child(pid);
        return 1;
    }
    double ms = (double)(t_ready - t0) / 1e6;
    if (pid)
        printf("{\"ready_ms\":%.3f,\"pid\":%d}\n", ms, (int)pid);
    else
        printf("{\"ready_ms\":%.3f}\n", ms);
    fflush(stdout);
    if (!pid)
        return 0;
    fclose(stdout);
    for (;;) {
        pid_t r = waitpid(pid, &wstatus, 0);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return 1;
    }
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    return 128 + (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: httpload -s SOCKET [-c CONNS] [-d SECONDS] [-n MAXREQ] [-m METHOD]\n"
               "                [-H 'Name: value']... [-b BODY] PATH\n"
               "       httpload --wait-ready -s SOCKET [-t TIMEOUT_MS] [-i INTERVAL_US]\n"
               "                [--path PATH] [--exec -- CMD ARGS...]\n"
               "defaults: -c 1 -d 10 -m GET; -t 30000 -i 200 --path /_ping\n");
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    enum { OPT_WAIT = 256, OPT_EXEC, OPT_PATH };
    static const struct option opts[] = {
        {"wait-ready", no_argument, NULL, OPT_WAIT},
        {"exec", no_argument, NULL, OPT_EXEC},
        {"path", required_argument, NULL, OPT_PATH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sock = NULL, *method = "GET", *path = NULL, *body = NULL;
    long conns = 1, timeout_ms = 30000, interval_us = 200;
    double seconds = 10;
    uint64_t max_req = 0;
    bool wait_ready = false, exec_mode = false;
    char *headers[MAX_HEADERS];
    int nheaders = 0;
    int c;

    while ((c = getopt_long(argc, argv, "+s:c:d:n:m:H:b:t:i:h", opts, NULL)) != -1) {
        long v;
        char *end;
        switch (c) {
        case 's':
            sock = optarg;
            break;
        case 'c':
            if (!parse_long(optarg, 1, 4096, &conns)) {
                fprintf(stderr, "httpload: bad -c '%s'\n", optarg);
                return 2;
            }
            break;
        case 'd':
            errno = 0;
            seconds = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(seconds > 0) || seconds > 86400) {
                fprintf(stderr, "httpload: bad -d '%s'\n", optarg);
                return 2;
            }
            break;
        case 'n':
            if (!parse_long(optarg, 1, 1L << 40, &v)) {
                fprintf(stderr, "httpload: bad -n '%s'\n", optarg);
                return 2;
            }
            max_req = (uint64_t)v;
            break;
        case 'm':
            method = optarg;
            break;
        case 'H':
            if (nheaders == MAX_HEADERS || !strchr(optarg, ':')) {
                fprintf(stderr, "httpload: bad or too many -H '%s'\n", optarg);
                return 2;
            }
            headers[nheaders++] = optarg;
            break;
        case 'b':
            body = optarg;
            break;
        case 't':
            if (!parse_long(optarg, 1, 86400000, &timeout_ms)) {
                fprintf(stderr, "httpload: bad -t '%s'\n", optarg);
                return 2;
            }
            break;
        case 'i':
            if (!parse_long(optarg, 0, 999999, &interval_us)) {
                fprintf(stderr, "httpload: bad -i '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_WAIT:
            wait_ready = true;
            break;
        case OPT_EXEC:
            exec_mode = true;
            break;
        case OPT_PATH:
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!sock) {
        fprintf(stderr, "httpload: -s SOCKET is required\n");
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    if (wait_ready) {
        char **cmd = NULL;
        if (exec_mode) {
            if (optind >= argc) {
                fprintf(stderr, "httpload: --exec needs a command after --\n");
                return 2;
            }
            cmd = argv + optind;
        } else if (optind < argc) {
            fprintf(stderr, "httpload: unexpected argument '%s' (use --path)\n", argv[optind]);
            return 2;
        }
        char *req = build_request("GET", path ? path : "/_ping", headers, nheaders, NULL);
        if (!req)
            return 1;
        int r = run_ready(sock, timeout_ms, interval_us, req, cmd);
        free(req);
        return r;
    }
    if (exec_mode) {
        fprintf(stderr, "httpload: --exec only goes with --wait-ready\n");
        return 2;
    }
    if (optind < argc) {
        if (path || optind + 1 < argc) {
            usage(stderr);
            return 2;
        }
        path = argv[optind];
    }
    if (!path) {
        fprintf(stderr, "httpload: PATH is required\n");
        usage(stderr);
        return 2;
    }
    char *req = build_request(method, path, headers, nheaders, body);
    if (!req)
        return 1;
    int r = run_load(sock, (int)conns, seconds, max_req, req, strcmp(method, "HEAD") == 0);
    free(req);
    return r;
}
