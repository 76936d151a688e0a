#include "runtime/exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/util.h"
#include "runtime/confine-internal.h"

/* The grandchild: inside the container's namespaces, the process that execs. */
static _noreturn_ void exec_main(struct rt_child *c, const char *filter, size_t filter_len)
{
    const struct rt_spec *spec = c->spec;
    struct rt_user u;
    char path[PATH_MAX];

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
                                  const char *const *cgroup_procs, int pidpipe, int syncfd)
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
    if (setns(init_pidfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                              CLONE_NEWCGROUP) < 0)
        rt_child_die(c, errno, "join the container's namespaces");
    close(init_pidfd);

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
        exec_main(c, filter, filter_len);
    }
    int v = (int)pid;
    (void)iso_write_all(pidpipe, &v, sizeof(v));
    _exit(0);
}

int rt_exec_start(const struct rt_spec *spec, int init_pidfd, const char *const *cgroup_procs,
                  const struct rt_stdio *stdio, pid_t *ret_pid, int *ret_pidfd, int *ret_exit_code,
                  struct iso_err *err)
{
    int errp[2] = {-1, -1}, pidp[2] = {-1, -1}, syncp[2] = {-1, -1};
    struct rt_child_msg m;
    int r, status, gpid = 0;
    ssize_t n;

    *ret_exit_code = 125;
    if (pipe2(errp, O_CLOEXEC) < 0)
        return iso_err_set_errno(err, errno, "pipe");
    if (pipe2(pidp, O_CLOEXEC) < 0 || pipe2(syncp, O_CLOEXEC) < 0) {
        r = iso_err_set_errno(err, errno, "pipe");
        close(errp[0]);
        close(errp[1]);
        safe_close(pidp[0]);
        safe_close(pidp[1]);
        return r;
    }
    pid_t pid = fork();
    if (pid < 0) {
        r = iso_err_set_errno(err, errno, "fork");
        close(errp[0]);
        close(errp[1]);
        close(pidp[0]);
        close(pidp[1]);
        close(syncp[0]);
        close(syncp[1]);
        return r;
    }
    if (pid == 0) {
        struct rt_child c = {.spec = spec, .stdio = stdio, .errfd = errp[1], .rootfd = -1};
        close(errp[0]);
        close(pidp[0]);
        close(syncp[1]);
        child_main(&c, init_pidfd, cgroup_procs, pidp[1], syncp[0]);
    }
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
    if (n == 0 && gpid > 0 && pidfd >= 0) {
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
