/* rt_container_start against the real kernel: root, namespaces, overlayfs. A busybox rootfs
 * is the overlay's one lower layer. */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/util.h"
#include "runtime/caps.h"
#include "runtime/container.h"
#include "runtime/exec.h"
#include "tests/unit/tap.h"

static char tmp[] = "/tmp/test-rt-container-XXXXXX";
static char rootfs[256], overlay[256], hostdir[256], evil_target[300], src[256];
static char *env[] = {"PATH=/bin", "FOO=bar", NULL};

static void write_file(const char *path, const char *content)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)iso_write_all(fd, content, strlen(content));
        close(fd);
    }
}

static _printf_(1, 2) int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int setup(void)
{
    char path[512];
    static const char *const applets[] = {"sh",       "echo", "cat",   "id",
                                          "hostname", "ls",   "sleep", "mkdir"};

    if (access("/bin/busybox", X_OK) < 0 &&
        system("apt-get install -y --no-install-recommends busybox-static >/dev/null") != 0)
        return -1;
    if (!mkdtemp(tmp))
        return -1;
    snprintf(path, sizeof(path), "%s/l/base/bin", tmp);
    if (iso_mkdir_p(path, 0755) < 0)
        return -1;
    if (sh("cp /bin/busybox %s/l/base/bin/busybox", tmp) != 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(applets); i++) {
        snprintf(path, sizeof(path), "%s/l/base/bin/%s", tmp, applets[i]);
        if (symlink("busybox", path) < 0)
            return -1;
    }
    snprintf(path, sizeof(path), "%s/l/base/etc", tmp);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/l/base/etc/passwd", tmp);
    write_file(path, "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
    snprintf(path, sizeof(path), "%s/l/base/etc/group", tmp);
    write_file(path, "root:x:0:\nwheel:x:10:root\nstaff:x:50:alice\nalice:x:1000:\n");
    /* A symlink aiming out of the root; as a mount destination it must stay inside. */
    snprintf(hostdir, sizeof(hostdir), "%s/hostdir", tmp);
    (void)mkdir(hostdir, 0755);
    snprintf(evil_target, sizeof(evil_target), "/../../../..%s", hostdir);
    snprintf(path, sizeof(path), "%s/l/base/evil", tmp);
    if (symlink(evil_target, path) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/l/base/procsys", tmp);
    if (symlink("/proc/sys", path) < 0)
        return -1;
    snprintf(src, sizeof(src), "%s/src", tmp);
    (void)mkdir(src, 0755);
    snprintf(path, sizeof(path), "%s/marker", src);
    write_file(path, "marked\n");

    snprintf(path, sizeof(path), "%s/upper", tmp);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/work", tmp);
    (void)mkdir(path, 0755);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
    (void)mkdir(rootfs, 0755);
    snprintf(overlay, sizeof(overlay), "lowerdir=l/base,upperdir=upper,workdir=work");
    return 0;
}

static struct rt_spec base_spec(char **args, size_t n_args)
{
    return (struct rt_spec){
        .rootfs = rootfs,
        .layers = tmp,
        .overlay = overlay,
        .hostname = "box",
        .args = args,
        .n_args = n_args,
        .env = env,
        .n_env = 2,
        .net = RT_NET_NONE,
        .caps = rt_caps_default(),
    };
}

/* Runs the spec with stdout and stderr on one pipe; returns the start result. */
static int run(const struct rt_spec *spec, char *out, size_t out_size, int *ret_status,
               int *ret_code, struct iso_err *err)
{
    int p[2];
    pid_t pid;
    int pidfd, r, status = -1;
    size_t len = 0;

    *ret_status = -1;
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    struct rt_stdio stdio = {.in = -1, .out = p[1], .err = p[1]};
    r = rt_container_start(spec, &stdio, &pid, &pidfd, ret_code, err);
    close(p[1]);
    if (r >= 0) {
        for (;;) {
            ssize_t n = read(p[0], out + len, out_size - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        (void)waitpid(pid, &status, 0);
        close(pidfd);
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    out[len] = '\0';
    close(p[0]);
    return r;
}

#define RUN(spec)                                                                                  \
    do {                                                                                           \
        r = run(&(spec), out, sizeof(out), &status, &code, &err);                                  \
        if (r < 0)                                                                                 \
            TAP_FAIL("start: %d %s", r, err.msg);                                                  \
    } while (0)

static void test_echo(void)
{
    char *args[] = {"echo", "hello", NULL};
    struct rt_spec spec = base_spec(args, 2);
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;

    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "hello\n");
}

static void test_pid1_hostname_env(void)
{
    char *args[] = {"sh", "-c", "echo $$ $(hostname) $FOO $HOME $(pwd)", NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;

    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "1 box bar /root /\n");
}

static void test_masked(void)
{
    char *args[] = {"sh", "-c",
                    "echo \"[$(cat /proc/keys)][$(ls /proc/acpi)]\"; (echo x > "
                    "/proc/sysrq-trigger) 2>/dev/null || "
                    "echo ro; cat /proc/self/mountinfo",
                    NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;

    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_TRUE(strncmp(out, "[][]\nro\n", 8) == 0);
    ASSERT_STRSTR(out, " / /sys ro,nosuid,nodev,noexec");
}

static void test_not_found(void)
{
    char *args[] = {"nosuch", NULL};
    struct rt_spec spec = base_spec(args, 1);
    struct iso_err err = {0};
    char out[4096];
    int status, code = 0;

    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -ENOENT);
    ASSERT_EQ(code, 127);
    ASSERT_STREQ(err.msg, "exec: \"nosuch\": executable file not found in $PATH");
}

static void test_not_executable(void)
{
    char *args[] = {"/etc", NULL};
    struct rt_spec spec = base_spec(args, 1);
    struct iso_err err = {0};
    char out[4096];
    int status, code = 0;

    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -EACCES);
    ASSERT_EQ(code, 126);
    ASSERT_STREQ(err.msg, "exec: \"/etc\": permission denied");
}

static void test_setup_error(void)
{
    char *args[] = {"true", NULL};
    struct rt_spec spec = base_spec(args, 1);
    struct rt_mount m = {RT_MOUNT_BIND, "/nonexistent-source", "/x", ""};
    struct iso_err err = {0};
    char out[4096];
    int status, code = 0;

    spec.mounts = &m;
    spec.n_mounts = 1;
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -ENOENT);
    ASSERT_EQ(code, 125);
    ASSERT_STRSTR(err.msg, "'/nonexistent-source'");
}

static void test_user(void)
{
    char *args[] = {"sh", "-c", "echo $(id -u) $(id -g) $(id -G)", NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;

    spec.user = "1000:1000";
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "1000 1000 1000\n");

    /* By name: supplementary groups from /etc/group, plus --group-add. */
    char *add[] = {"wheel", "77", NULL};
    spec.user = "alice";
    spec.group_add = add;
    spec.n_group_add = 2;
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "1000 1000 1000 10 50 77\n");

    spec.user = "bob";
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -ENOENT);
    ASSERT_EQ(code, 125);
    ASSERT_STRSTR(err.msg, "unable to find user bob");
}

static void test_caps(void)
{
    char *args[] = {"cat", "/proc/self/status", NULL};
    struct rt_spec spec = base_spec(args, 2);
    struct iso_err err = {0};
    char out[8192];
    int r, status, code;

    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STRSTR(out, "CapEff:\t00000000a80425fb\n");
    ASSERT_STRSTR(out, "CapBnd:\t00000000a80425fb\n");
    ASSERT_STRSTR(out, "CapAmb:\t0000000000000000\n");
    ASSERT_STRSTR(out, "NoNewPrivs:\t0\n");

    /* A user other than root keeps the bounding set and loses the rest on exec. */
    spec.user = "1000";
    spec.no_new_privs = true;
    RUN(spec);
    ASSERT_STRSTR(out, "CapEff:\t0000000000000000\n");
    ASSERT_STRSTR(out, "CapBnd:\t00000000a80425fb\n");
    ASSERT_STRSTR(out, "NoNewPrivs:\t1\n");
}

static void test_evil_symlink(void)
{
    char *args[] = {"sh", "-c", NULL, NULL};
    char script[512];
    struct rt_spec spec = base_spec(args, 3);
    struct rt_mount m = {RT_MOUNT_BIND, src, "/evil", "ro"};
    struct iso_err err = {0};
    char out[4096], path[512];
    int r, status, code;

    /* Inside the container, the symlink's target is <rootfs><hostdir>. */
    snprintf(script, sizeof(script), "cat %s/marker; echo x > /evil/new || echo ro", hostdir);
    args[2] = script;
    spec.mounts = &m;
    spec.n_mounts = 1;
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STRSTR(out, "marked\n");
    ASSERT_STRSTR(out, "ro\n");
    /* The mount point was created in the container's layer, and the host dir is untouched. */
    snprintf(path, sizeof(path), "%s/upper%s", tmp, hostdir);
    ASSERT_EQ(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/marker", hostdir);
    ASSERT_TRUE(access(path, F_OK) < 0);
}

static void test_file_bind_and_proc(void)
{
    char *args[] = {"cat", "/etc/marker", NULL};
    struct rt_spec spec = base_spec(args, 2);
    struct rt_mount m = {RT_MOUNT_BIND, NULL, "/etc/marker", "ro,rprivate"};
    struct iso_err err = {0};
    char out[4096], file[512];
    int r, status, code;

    snprintf(file, sizeof(file), "%s/marker", src);
    m.source = file;
    spec.mounts = &m;
    spec.n_mounts = 1;
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "marked\n");

    /* Covering procfs would undo the masks; the symlinked way there is caught as well. */
    m.destination = "/proc/sys/kernel";
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -EPERM);
    ASSERT_EQ(code, 125);
    ASSERT_STRSTR(err.msg, "inside /proc");
    m.destination = "/procsys";
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -EPERM);
    m.destination = "/proc/uptime";
    args[1] = "/proc/uptime";
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "marked\n");
}

static void test_fds(void)
{
    char *args[] = {"ls", "/proc/self/fd", NULL};
    struct rt_spec spec = base_spec(args, 2);
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;
    int leak = open("/dev/null", O_RDONLY); /* not O_CLOEXEC on purpose */

    RUN(spec);
    close(leak);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "0\n1\n2\n3\n");
}

static void test_mounts_and_limits(void)
{
    char *args[] = {"sh", "-c",
                    "ulimit -n; echo x > /t/f && cat /t/f; ls /dev; echo y > /f || echo rofs; pwd",
                    NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct rt_mount m = {RT_MOUNT_TMPFS, "tmpfs", "/t", "size=1m,mode=1777,nosuid"};
    struct rt_rlimit l = {"nofile", 100, 200};
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;

    spec.mounts = &m;
    spec.n_mounts = 1;
    spec.rlimits = &l;
    spec.n_rlimits = 1;
    spec.readonly = true;
    spec.cwd = "/new/work dir";
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STRSTR(out, "100\nx\n");
    ASSERT_STRSTR(out, "null\n");
    ASSERT_STRSTR(out, "urandom\n");
    ASSERT_STRSTR(out, "pts\n");
    ASSERT_STRSTR(out, "rofs\n/new/work dir\n");

    l.hard = (int64_t)1 << 40;
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -EPERM);
    ASSERT_EQ(code, 125);
    ASSERT_STRSTR(err.msg, "ulimit nofile: cannot raise hard limit");
}

static void test_exit_status_and_init(void)
{
    char *args[] = {"sh", "-c", "echo $$; exit 3", NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096];
    int r, status, code;

    RUN(spec);
    ASSERT_EQ(status, 3);
    ASSERT_STREQ(out, "1\n");

    spec.init = true;
    RUN(spec);
    ASSERT_EQ(status, 3);
    ASSERT_STREQ(out, "2\n");

    /* A signal to PID 1 reaches the command. */
    char *args2[] = {"sh", "-c", "trap 'echo got; exit 7' TERM; kill -TERM 1; sleep 5 & wait",
                     NULL};
    spec.args = args2;
    RUN(spec);
    ASSERT_EQ(status, 7);
    ASSERT_STRSTR(out, "got\n");

    char *args3[] = {"nosuch", NULL};
    spec.args = args3;
    spec.n_args = 1;
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -ENOENT);
    ASSERT_EQ(code, 127);
}

static void test_seccomp(void)
{
    char *args[] = {"sh", "-c", "mkdir /x 2>/dev/null || echo denied; cat /proc/self/status", NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct iso_err err = {0};
    char out[8192], path[512];
    int r, status, code;

    snprintf(path, sizeof(path), "%s/seccomp.bpf", tmp);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(iso_write_all(fd, f, sizeof(f)), 0);
    close(fd);
    spec.seccomp = path;
    spec.user = "1000";
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STRSTR(out, "denied\n");
    ASSERT_STRSTR(out, "Seccomp:\t2\n");
    /* Loaded while CAP_SYS_ADMIN was held: no_new_privs was not forced. */
    ASSERT_STRSTR(out, "NoNewPrivs:\t0\n");
}

static void test_terminal(void)
{
    char *args[] = {"sh", "-c", "[ -t 0 ] && [ -c /dev/console ] && echo tty $(ls /dev/pts)", NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096];
    size_t len = 0;
    pid_t pid;
    int pidfd, code, status, r;

    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_TRUE(master >= 0);
    ASSERT_EQ(grantpt(master), 0);
    ASSERT_EQ(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_TRUE(slave >= 0);
    struct rt_stdio stdio = {slave, slave, slave};
    spec.terminal = true;
    r = rt_container_start(&spec, &stdio, &pid, &pidfd, &code, &err);
    if (r < 0)
        TAP_FAIL("start: %d %s", r, err.msg);
    close(slave);
    for (;;) {
        ssize_t n = read(master, out + len, sizeof(out) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    close(pidfd);
    close(master);
    ASSERT_EQ(status, 0);
    /* Its own devpts instance: only ptmx, no host pty. */
    ASSERT_STREQ(out, "tty ptmx\r\n");
}

static void test_cgroup_and_net(void)
{
    char *args[] = {"sh", "-c",
                    "cat /proc/self/cgroup; ls /sys/class/net; cat /sys/class/net/lo/flags; "
                    "cat /sys/fs/cgroup/pids/cgroup.procs; (echo 1 > /sys/fs/cgroup/pids/pids.max) "
                    "2>/dev/null || echo rocg",
                    NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096], dir[256], procs[300];
    char *cgroups[] = {procs, NULL};
    int r, status, code;

    snprintf(dir, sizeof(dir), "/sys/fs/cgroup/pids/isod-test-%d", (int)getpid());
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    ASSERT_EQ(mkdir(dir, 0755), 0);
    spec.cgroups = cgroups;
    spec.n_cgroups = 1;
    r = run(&spec, out, sizeof(out), &status, &code, &err);
    (void)rmdir(dir);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(status, 0);
    /* The cgroup namespace is rooted at the container's cgroup. */
    ASSERT_STRSTR(out, ":pids:/\n");
    ASSERT_STRSTR(out, "\nlo\n0x9\n");
    /* The v1 hierarchy shows the container's cgroup, read-only. */
    if (access("/sys/fs/cgroup/pids/cgroup.procs", F_OK) == 0) {
        ASSERT_STRSTR(out, "0x9\n1\n");
        ASSERT_STRSTR(out, "rocg\n");
    }

    /* A cgroup that cannot be joined: nothing runs. */
    snprintf(procs, sizeof(procs), "/sys/fs/cgroup/pids/isod-test-nonexistent/cgroup.procs");
    ASSERT_EQ(run(&spec, out, sizeof(out), &status, &code, &err), -ENOENT);
    ASSERT_EQ(code, 125);
    ASSERT_STRSTR(err.msg, "isod-test-nonexistent");
}

static void test_privileged(void)
{
    char *args[] = {"sh", "-c", "cat /proc/self/status; ls /dev; cat /proc/self/mountinfo", NULL};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[16384], want[64];
    int r, status, code;

    spec.privileged = true;
    spec.caps = rt_caps_all();
    RUN(spec);
    if (status != 0)
        TAP_FAIL("status %d: %s", status, out);

    /* Every capability the test itself holds (it may run without some). */
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {0};
    ASSERT_EQ(syscall(SYS_capget, &hdr, data), 0);
    uint64_t have = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    snprintf(want, sizeof(want), "CapEff:\t%016llx\n", (unsigned long long)(rt_caps_all() & have));
    ASSERT_STRSTR(out, want);
    if (access("/dev/kmsg", F_OK) == 0)
        ASSERT_STRSTR(out, "\nkmsg\n");
    ASSERT_STRSTR(out, " / /sys rw,nosuid,nodev,noexec");
    ASSERT_STRSTR(out, "\nnull\n");
}

/* The container's mounts live in its own namespace: none may show on the host. */
/* rt_exec_start joins a running init: its hostname, pid namespace, root and user database. */
static void test_exec(void)
{
    char *args[] = {"sleep", "100", NULL};
    char *xargs[] = {"sh", "-c", "hostname; cat /proc/1/cmdline; echo; id -u; pwd", NULL};
    char *bad[] = {"nosuch", NULL};
    struct rt_spec spec = base_spec(args, 2);
    struct rt_spec xspec = base_spec(xargs, 3);
    struct iso_err err = {0};
    pid_t pid, xpid;
    int pidfd, xpidfd, code, p[2], status = -1;
    char out[4096];
    size_t len = 0;

    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct rt_stdio none = {.in = -1, .out = -1, .err = -1};
    ASSERT_EQ(rt_container_start(&spec, &none, &pid, &pidfd, &code, &err), 0);

    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    struct rt_stdio stdio = {.in = -1, .out = p[1], .err = p[1]};
    xspec.user = "1000";
    xspec.cwd = "/bin";
    int r = rt_exec_start(&xspec, pidfd, NULL, &stdio, &xpid, &xpidfd, NULL, &code, &err);
    close(p[1]);
    if (r < 0)
        TAP_FAIL("exec: %s", err.msg);
    for (;;) {
        ssize_t n = read(p[0], out + len, sizeof(out) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(p[0]);
    ASSERT_EQ(waitpid(xpid, &status, 0), xpid);
    ASSERT_EQ(status, 0);
    close(xpidfd);
    static const char want[] = "box\nsleep\000100\000\n1000\n/bin\n";
    ASSERT_EQ(len, sizeof(want) - 1);
    ASSERT_TRUE(memcmp(out, want, sizeof(want) - 1) == 0);

    xspec = base_spec(bad, 1);
    ASSERT_TRUE(rt_exec_start(&xspec, pidfd, NULL, &none, &xpid, &xpidfd, NULL, &code, &err) < 0);
    ASSERT_EQ(code, 127);
    ASSERT_STREQ(err.msg, "exec: \"nosuch\": executable file not found in $PATH");

    (void)kill(pid, SIGKILL);
    (void)waitpid(pid, NULL, 0);
    close(pidfd);
    (void)prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* A user namespace with idmapped layers: root inside is host uid 100000, the shared layer (owned
 * by host root) shows as root's, and what root writes lands on disk as uid 0. */
static void test_userns(void)
{
    char *args[] = {"sh", "-c",
                    "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo hi > /newfile; "
                    "ls -ln /bin/busybox /newfile | while read m l u g r; do echo $u $g; done; "
                    "cat /etc/passwd | head -1",
                    NULL};
    struct rt_idmap map = {0, 100000, 65536};
    struct rt_spec spec = base_spec(args, 3);
    struct iso_err err = {0};
    char out[4096], path[512], uovl[256];
    struct stat st;
    int r, status, code;

    /* The init walks to the rootfs as host uid 100000: the path must be searchable. */
    ASSERT_EQ(chmod(tmp, 0711), 0);
    snprintf(path, sizeof(path), "%s/uns/upper", tmp);
    ASSERT_EQ(iso_mkdir_p(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/uns/work", tmp);
    ASSERT_EQ(iso_mkdir_p(path, 0700), 0);
    snprintf(uovl, sizeof(uovl), "lowerdir=l/base,upperdir=uns/upper,workdir=uns/work");
    spec.overlay = uovl;
    spec.uidmap = spec.gidmap = &map;
    spec.n_uidmap = spec.n_gidmap = 1;
    RUN(spec);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(out, "         0     100000      65536\n"
                      "         0     100000      65536\n"
                      "0\n"
                      "0 0\n0 0\n"
                      "root:x:0:0:root:/root:/bin/sh\n");
    /* Through the idmapped upper layer: written as uid 0 on disk, like any host-root file. */
    snprintf(path, sizeof(path), "%s/uns/upper/newfile", tmp);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_uid, 0);
    ASSERT_EQ(st.st_gid, 0);
    (void)chmod(tmp, 0700);
}

static void test_no_host_mounts_left(void)
{
    _cleanup_free_ char *text = NULL;

    ASSERT_EQ(iso_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 20, &text, NULL), 0);
    ASSERT_TRUE(strstr(text, tmp) == NULL);
}

int main(void)
{
    tap_require_root();
    if (setup() < 0) {
        printf("Bail out! setup failed: %s\n", strerror(errno));
        return 1;
    }
    TEST(test_echo);
    TEST(test_pid1_hostname_env);
    TEST(test_masked);
    TEST(test_not_found);
    TEST(test_not_executable);
    TEST(test_setup_error);
    TEST(test_user);
    TEST(test_caps);
    TEST(test_evil_symlink);
    TEST(test_file_bind_and_proc);
    TEST(test_fds);
    TEST(test_mounts_and_limits);
    TEST(test_exit_status_and_init);
    TEST(test_seccomp);
    TEST(test_terminal);
    TEST(test_cgroup_and_net);
    TEST(test_privileged);
    TEST(test_exec);
    TEST(test_userns);
    TEST(test_no_host_mounts_left);
    (void)sh("rm -rf '%s'", tmp);
    return tap_done();
}
