#include "runtime/exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/util.h"
#include "runtime/confine-internal.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static int send_fd(int sock, int fd)
{
    char data = 'm';
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u = {0};
    struct iovec iov = {.iov_base = &data, .iov_len = 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return RETRY_EINTR(sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 ? -errno : 0;
}

static int recv_fd(int sock)
{
    char data;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u = {0};
    struct iovec iov = {.iov_base = &data, .iov_len = 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    int fd = -1;

    if (RETRY_EINTR(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) <= 0)
        return -EIO;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd >= 0 ? fd : -EIO;
}

/* A pty of the container's own devpts (so that the process sees /dev/pts/N, as with runc):
 * the master goes to the shim over sock, the slave becomes the process's stdio. */
static void open_console(struct rt_child *c, int sock, struct rt_stdio *stdio)
{
    const struct rt_spec *spec = c->spec;
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (m < 0)
        rt_child_die(c, errno, "open the container's /dev/ptmx");
    if (unlockpt(m) < 0)
        rt_child_die(c, errno, "unlock the pty");
    int slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        rt_child_die(c, errno, "open the pty's slave");
    if (spec->console_rows > 0 && spec->console_cols > 0) {
        struct winsize ws = {.ws_row = spec->console_rows, .ws_col = spec->console_cols};
        if (ioctl(m, TIOCSWINSZ, &ws) < 0)
            rt_child_die(c, errno, "set the pty size");
    }
    int r = send_fd(sock, m);
    if (r < 0)
        rt_child_die(c, r, "send the pty to the shim");
    close(m);
    close(sock);
    *stdio = (struct rt_stdio){slave, slave, slave};
}

/* The grandchild: inside the container's namespaces, the process that execs. */
static _noreturn_ void exec_main(struct rt_child *c, int console_sock, const char *filter,
                                 size_t filter_len)
{
    const struct rt_spec *spec = c->spec;
    struct rt_stdio tty_stdio;
    struct rt_user u;
    char path[PATH_MAX];

    if (spec->terminal) {
        open_console(c, console_sock, &tty_stdio);
        c->stdio = &tty_stdio;
    }

    c->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        rt_child_die(c, errno, "open the container's root");
    rt_setup_rlimits(c);
    rt_resolve_user(c, &u);
    char **env = rt_child_env(c, &u);

    const char *cwd = spec->cwd && *spec->cwd ? spec->cwd : "/";
    int cwdfd = rt_openat2_in_root(c->rootfd, cwd, O_PATH | O_DIRECTORY);
    if (cwdfd < 0 || fchdir(cwdfd) < 0)
        rt_child_fail(c, cwdfd < 0 ? -cwdfd : errno, 126,
                      "chdir to cwd (\"%s\") set in config.json failed: %s", cwd,
                      strerror(cwdfd < 0 ? -cwdfd : errno));
    close(cwdfd);
    close(c->rootfd);
    c->rootfd = -1;

    if (!spec->args || !spec->args[0])
        rt_child_fail(c, EINVAL, 125, "no command specified");
    rt_lookup_command(c, env, path, sizeof(path));
    rt_setup_stdio(c);
    rt_child_confine(c, &u, filter, filter_len);
    rt_exec_command(c, path, env);
}

/* The child: still in the shim's namespaces. Joins the cgroups and the namespaces, forks the
 * process that runs and sends its pid up pidfd, then exits. */
static _noreturn_ void child_main(struct rt_child *c, int init_pidfd,
                                  const char *const *cgroup_procs, int pidpipe, int syncfd,
                                  int console_sock)
{
    struct iso_err err = {0};
    _cleanup_free_ char *filter = NULL;
    size_t filter_len = 0;
    sigset_t none;

    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)signal(s, SIG_DFL);
    umask(0);

    size_t n = 0;
    while (cgroup_procs && cgroup_procs[n])
        n++;
    if (rt_write_cgroups((char *const *)cgroup_procs, n, getpid(), &err) < 0)
        rt_child_send(c, err.code, 125, err.msg);
    /* The filter lives on the host, outside the container's mount namespace. */
    rt_seccomp_read(c, c->spec->seccomp, &filter, &filter_len);
    /* With a uid map, the user namespace too (first, which setns does for us): the process is
     * then the container's root, not the host's. */
    if (setns(init_pidfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                              CLONE_NEWCGROUP | (c->spec->n_uidmap ? CLONE_NEWUSER : 0)) < 0)
        rt_child_die(c, errno, "join the container's namespaces");
    close(init_pidfd);
    /* Host root's ids are unmapped in the container's user namespace: become its root. */
    if (c->spec->n_uidmap &&
        (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        rt_child_die(c, errno, "become root of the user namespace");

    /* The pid namespace takes effect for children only. */
    pid_t pid = fork();
    if (pid < 0)
        rt_child_die(c, errno, "fork into the container");
    if (pid == 0) {
        char go;
        close(pidpipe);
        /* Once our parent is gone and we are the shim's child: a parent-death signal set
         * later must not fire at this process's exit. */
        if (RETRY_EINTR(read(syncfd, &go, 1)) != 1)
            _exit(125);
        close(syncfd);
        exec_main(c, console_sock, filter, filter_len);
    }
    int v = (int)pid;
    (void)iso_write_all(pidpipe, &v, sizeof(v));
    _exit(0);
}

int rt_exec_start(const struct rt_spec *spec, int init_pidfd, const char *const *cgroup_procs,
                  const struct rt_stdio *stdio, pid_t *ret_pid, int *ret_pidfd, int *ret_master,
                  int *ret_exit_code, struct iso_err *err)
{
    int errp[2] = {-1, -1}, pidp[2] = {-1, -1}, syncp[2] = {-1, -1}, cons[2] = {-1, -1};
    struct rt_child_msg m;
    int r, status, gpid = 0;
    ssize_t n;

    *ret_exit_code = 125;
    pid_t pid = -1;
    if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(pidp, O_CLOEXEC) < 0 || pipe2(syncp, O_CLOEXEC) < 0 ||
        (spec->terminal && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0))
        r = iso_err_set_errno(err, errno, "pipe");
    else if ((pid = fork()) < 0)
        r = iso_err_set_errno(err, errno, "fork");
    if (pid < 0) {
        safe_close_pair(errp);
        safe_close_pair(pidp);
        safe_close_pair(syncp);
        safe_close_pair(cons);
        return r;
    }
    if (pid == 0) {
        struct rt_child c = {
            .spec = spec, .stdio = stdio, .errfd = errp[1], .rootfd = -1, .rootmnt = -1};
        close(errp[0]);
        close(pidp[0]);
        close(syncp[1]);
        safe_close(cons[0]);
        child_main(&c, init_pidfd, cgroup_procs, pidp[1], syncp[0], cons[1]);
    }
    cons[1] = safe_close(cons[1]);
    close(errp[1]);
    close(pidp[1]);
    close(syncp[0]);
    (void)RETRY_EINTR(waitpid(pid, &status, 0));
    n = iso_read_all(pidp[0], &gpid, sizeof(gpid));
    close(pidp[0]);
    if (n != (ssize_t)sizeof(gpid))
        gpid = 0;

    /* Our child now (we are a subreaper): open its pidfd before anything can reap it. */
    int pidfd = gpid > 0 ? (int)syscall(SYS_pidfd_open, gpid, 0) : -1;
    if (pidfd >= 0)
        (void)iso_write_all(syncp[1], "g", 1);
    close(syncp[1]);
    n = iso_read_all(errp[0], &m, sizeof(m));
    close(errp[0]);
    int master = -1;
    if (n == 0 && gpid > 0 && pidfd >= 0 && spec->terminal) {
        master = recv_fd(cons[0]);
        if (master < 0)
            n = -1;
    }
    safe_close(cons[0]);
    if (n == 0 && gpid > 0 && pidfd >= 0) {
        if (ret_master)
            *ret_master = master;
        else
            safe_close(master);
        *ret_pid = gpid;
        *ret_pidfd = pidfd;
        *ret_exit_code = 0;
        return 0;
    }
    if (gpid > 0) {
        (void)kill(gpid, SIGKILL);
        (void)RETRY_EINTR(waitpid(gpid, NULL, 0));
    }
    safe_close(pidfd);
    if (n == 0)
        return iso_err_set(err, errno ? errno : EIO, "exec: cannot follow the process");
    if (n != (ssize_t)sizeof(m))
        return iso_err_set(err, EIO, "exec failed without a message");
    m.msg[sizeof(m.msg) - 1] = '\0';
    *ret_exit_code = m.exit_code;
    return iso_err_set(err, m.err, "%s", m.msg);
}
