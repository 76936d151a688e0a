#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/util.h"
#include "daemon/seccomp.h"
#include "tests/unit/tap.h"

/* Docker's default capability set and every capability up to CAP_CHECKPOINT_RESTORE. */
#define CAPS_DEFAULT UINT64_C(0xa80425fb)
#define CAPS_ALL     ((UINT64_C(1) << 41) - 1)

static char dir[] = "/tmp/isod-seccomp-XXXXXX";

/* Compiles into a memfd; returns the fd (rewound) or a negative errno. */
static int compile(const char *json, uint64_t caps, struct iso_err *err)
{
    int fd = memfd_create("test-seccomp", MFD_CLOEXEC);
    int r;

    if (fd < 0)
        return -errno;
    r = eng_seccomp_compile(json, json ? strlen(json) : 0, caps, fd, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    (void)lseek(fd, 0, SEEK_SET);
    return fd;
}

static off_t fd_size(int fd)
{
    struct stat st;

    return fstat(fd, &st) < 0 ? -1 : st.st_size;
}

static void test_default_profile_default_caps(void)
{
    struct iso_err err = {0};
    uint64_t t0 = iso_now_mono_ns();
    int fd = compile(NULL, CAPS_DEFAULT, &err);
    uint64_t t1 = iso_now_mono_ns();
    off_t size;

    if (fd < 0)
        printf("# %s\n", err.msg);
    ASSERT_TRUE(fd >= 0);
    size = fd_size(fd);
    close(fd);
    printf("# default profile, default caps: %.2f ms, %jd bytes, %jd instructions\n",
           (double)(t1 - t0) / 1e6, (intmax_t)size, (intmax_t)size / 8);
    ASSERT_TRUE(size > 0);
    ASSERT_EQ(size % sizeof(struct sock_filter), 0);
    ASSERT_TRUE(size <= (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter)));
}

static void test_default_profile_all_caps(void)
{
    struct iso_err err = {0};
    uint64_t t0 = iso_now_mono_ns();
    int fd = compile(NULL, CAPS_ALL, &err);
    uint64_t t1 = iso_now_mono_ns();
    off_t size;

    ASSERT_TRUE(fd >= 0);
    size = fd_size(fd);
    close(fd);
    printf("# default profile, all caps: %.2f ms, %jd bytes, %jd instructions\n",
           (double)(t1 - t0) / 1e6, (intmax_t)size, (intmax_t)size / 8);
    ASSERT_TRUE(size > 0);
    ASSERT_EQ(size % sizeof(struct sock_filter), 0);
    ASSERT_TRUE(size <= (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter)));
}

static void test_compile_is_deterministic(void)
{
    struct iso_err err = {0};
    char a[BPF_MAXINSNS * 8], b[BPF_MAXINSNS * 8];
    int fa = compile(NULL, CAPS_DEFAULT, &err), fb = compile(NULL, CAPS_DEFAULT, &err);
    int fc = compile(NULL, CAPS_ALL, &err);
    ssize_t na, nb, nc;

    ASSERT_TRUE(fa >= 0 && fb >= 0 && fc >= 0);
    na = read(fa, a, sizeof(a));
    nb = read(fb, b, sizeof(b));
    ASSERT_EQ(na, nb);
    ASSERT_EQ(memcmp(a, b, (size_t)na), 0);
    /* CAP_SYS_ADMIN and the others allow more syscalls: a different program. */
    nc = read(fc, b, sizeof(b));
    ASSERT_TRUE(nc != na || memcmp(a, b, (size_t)na) != 0);
    close(fa);
    close(fb);
    close(fc);
}

static const char custom_profile[] =
    "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
    " \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\", \"no_such_syscall\"],"
    " \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13},"
    " {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ALLOW\"},"
    " {\"name\": \"kill\", \"action\": \"SCMP_ACT_ERRNO\","
    " \"args\": [{\"index\": 1, \"value\": 9, \"op\": \"SCMP_CMP_EQ\"},"
    " {\"index\": 1, \"value\": 15, \"op\": \"SCMP_CMP_EQ\"}]}]}";

static void test_custom_profile(void)
{
    struct iso_err err = {0};
    int fd = compile(custom_profile, CAPS_DEFAULT, &err);

    if (fd < 0)
        printf("# %s\n", err.msg);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(fd_size(fd) % sizeof(struct sock_filter), 0);
    close(fd);
}

#define ASSERT_EINVAL(json, needle)                                                                \
    do {                                                                                           \
        struct iso_err _e = {0};                                                                   \
        int _fd = memfd_create("t", MFD_CLOEXEC);                                                  \
        int _r = eng_seccomp_compile(json, strlen(json), CAPS_DEFAULT, _fd, &_e);                  \
        off_t _size = fd_size(_fd);                                                                \
        close(_fd);                                                                                \
        ASSERT_EQ(_r, -EINVAL);                                                                    \
        ASSERT_EQ(_e.code, EINVAL);                                                                \
        ASSERT_STRSTR(_e.msg, needle);                                                             \
        /* Nothing reaches the output on an error. */                                              \
        ASSERT_EQ(_size, 0);                                                                       \
    } while (0)

static void test_errors(void)
{
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}",
                  "seccomp profile: defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                  "{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}",
                  "seccomp profile: syscalls[1].action: SCMP_ACT_NOTIFY");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"a\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                  "{\"names\": [\"a\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                  "{\"names\": [\"a\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                  "{\"names\": [\"mkdir\"], \"action\": \"X\"}]}",
                  "seccomp profile: syscalls[3].action: unknown action 'X'");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_DENY\"}",
                  "seccomp profile: defaultAction: unknown action 'SCMP_ACT_DENY'");
    ASSERT_EINVAL("{\"syscalls\": []}", "seccomp profile: missing field 'defaultAction'");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\"", "seccomp profile: invalid JSON");
    ASSERT_EINVAL("[]", "seccomp profile: must be a JSON object");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 1}]}",
                  "syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"kill\"], \"action\": \"SCMP_ACT_ERRNO\","
                  " \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_XX\"}]}]}",
                  "syscalls[0].args[0].op: unknown operator 'SCMP_CMP_XX'");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"kill\"], \"action\": \"SCMP_ACT_ERRNO\","
                  " \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                  "syscalls[0].args[0].index: 6 is not an argument index");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"kill\", 3], \"action\": \"SCMP_ACT_ERRNO\"}]}",
                  "syscalls[0].names[1]: must be a string");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"kill\"], \"action\": 3}]}",
                  "syscalls[0]: field 'action' must be a string");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  "{\"names\": [\"kill\"], \"action\": \"SCMP_ACT_ERRNO\","
                  " \"includes\": {\"minKernel\": \"four\"}}]}",
                  "syscalls[0].includes.minKernel: invalid kernel version 'four'");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_Z80\"]}",
                  "seccomp profile: architectures[0]: unknown architecture 'SCMP_ARCH_Z80'");
    ASSERT_EINVAL("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 70000}",
                  "seccomp profile: defaultErrnoRet: 70000 is not an errno value");
}

/* Runs fn in a child with the filter in fd installed; returns its exit status (0 = pass). */
static int run_filtered(int fd, int (*fn)(void))
{
    char buf[BPF_MAXINSNS * sizeof(struct sock_filter)];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    int status;
    pid_t pid;

    if (n <= 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct sock_fprog prog = {
            .len = (unsigned short)(n / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)buf,
        };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(100);
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            _exit(101);
        _exit(fn());
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

#if defined(__x86_64__)
/* A syscall through the i386 entry point (int $0x80): -errno or the result. */
static long i386_syscall(long nr)
{
    long r = nr;

    __asm__ volatile("int $0x80" : "+a"(r) : "b"(0), "c"(0), "d"(0) : "memory");
    return r;
}

/* Kernels without IA32 emulation (CONFIG_IA32_EMULATION off or ia32_emulation=0) answer
 * int $0x80 with SIGSEGV: try it in a child. */
static bool i386_works(void)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        /* Quietly, also under ASan, which reports a SEGV on stderr. */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0)
            (void)dup2(null, STDERR_FILENO);
        (void)signal(SIGSEGV, SIG_DFL);
        _exit(i386_syscall(20 /* getpid */) == getpid() ? 0 : 1);
    }
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}
#endif
static bool have_i386;

/* Each check has its own exit code, so a failure says which one. */
static int default_profile_child(void)
{
    if (syscall(SYS_getpid) != getpid() || getpid() <= 0)
        return 1;
    /* Not in the allow list at all: the default action, EPERM. */
    errno = 0;
    if (syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0) != -1 || errno != EPERM)
        return 2;
    /* Allowed only with CAP_SYS_ADMIN, which the default set lacks. */
    errno = 0;
    if (mount("none", "/nonexistent-isod-test", "tmpfs", 0, NULL) != -1 || errno != EPERM)
        return 3;
    errno = 0;
    if (syscall(SYS_unshare, CLONE_NEWNS) != -1 || errno != EPERM)
        return 4;
    /* clone3 gets ENOSYS without CAP_SYS_ADMIN, so that libcs fall back to clone. */
    errno = 0;
    if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
        return 5;
    /* socket(AF_VSOCK) is refused by an argument filter, AF_UNIX passes. */
    errno = 0;
    if (syscall(SYS_socket, 40, SOCK_STREAM, 0) != -1 || errno != EPERM)
        return 6;
    int s = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return 7;
    close(s);
    /* Newer than every syscall the profile names: ENOSYS from the prologue, so that a libc
     * falls back (452 is fchmodat2, Linux 6.6, which glibc 2.39 tries before fchmodat). */
    errno = 0;
    if (syscall(452, AT_FDCWD, "/", 0, 0) != -1 || errno != ENOSYS)
        return 8;
    errno = 0;
    if (syscall(1000) != -1 || errno != ENOSYS)
        return 9;
#if defined(__x86_64__)
    /* The i386 entry point, where the kernel has it: the x86 part of the filter. */
    if (have_i386) {
        if (i386_syscall(20 /* getpid */) != getpid())
            return 10;
        if (i386_syscall(288 /* keyctl */) != -EPERM)
            return 11;
        if (i386_syscall(452) != -ENOSYS)
            return 12;
    }
#endif
    return 0;
}

static void test_default_profile_behaviour(void)
{
    struct iso_err err = {0};
    int fd = compile(NULL, CAPS_DEFAULT, &err);

    ASSERT_TRUE(fd >= 0);
#if defined(__x86_64__)
    have_i386 = i386_works();
    if (!have_i386)
        printf("# no i386 syscall entry on this kernel: x86 part not exercised\n");
#endif
    ASSERT_EQ(run_filtered(fd, default_profile_child), 0);
    close(fd);
}

static int custom_profile_child(void)
{
    char path[64];

    snprintf(path, sizeof(path), "%s/d", dir);
    errno = 0;
    if (mkdir(path, 0700) != -1 || errno != EACCES)
        return 1;
    /* Both conditions on one argument are separate rules: either matches. */
    errno = 0;
    /* At itself: should the rule not work, the child dies and the test reports it. */
    if (kill(getpid(), SIGKILL) != -1 || errno != EPERM)
        return 2;
    errno = 0;
    if (kill(getpid(), SIGTERM) != -1 || errno != EPERM)
        return 3;
    if (kill(getpid(), 0) != 0)
        return 4;
    return 0;
}

static void test_custom_profile_behaviour(void)
{
    struct iso_err err = {0};
    int fd = compile(custom_profile, CAPS_DEFAULT, &err);

    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(run_filtered(fd, custom_profile_child), 0);
    close(fd);
}

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_cache_path(void)
{
    struct iso_err err = {0};
    char cache[128];
    char *p1 = NULL, *p2 = NULL, *p3 = NULL;
    struct stat st1, st2;
    char stale[256], other[256];

    snprintf(cache, sizeof(cache), "%s/cache/seccomp", dir);
    /* What an older isod left: gone once this one writes its file; other files stay. */
    ASSERT_EQ(iso_mkdir_p(cache, 0700), 0);
    snprintf(stale, sizeof(stale), "%s/default-00000000a80425fb-isod-seccomp-0-x.bpf", cache);
    snprintf(other, sizeof(other), "%s/README", cache);
    ASSERT_EQ(close(open(stale, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
    ASSERT_EQ(close(open(other, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
    ASSERT_EQ(eng_seccomp_default_path(cache, CAPS_DEFAULT, &p1, &err), 0);
    ASSERT_EQ(access(stale, F_OK), -1);
    ASSERT_EQ(access(other, F_OK), 0);
    ASSERT_EQ(unlink(other), 0);
    ASSERT_STRSTR(p1, "/cache/seccomp/default-00000000a80425fb-");
    ASSERT_STRSTR(p1, ".bpf");
    ASSERT_EQ(stat(p1, &st1), 0);
    ASSERT_EQ(st1.st_size % sizeof(struct sock_filter), 0);

    ASSERT_EQ(eng_seccomp_default_path(cache, CAPS_DEFAULT, &p2, &err), 0);
    ASSERT_STREQ(p1, p2);
    ASSERT_EQ(stat(p2, &st2), 0);
    ASSERT_EQ(st1.st_ino, st2.st_ino);
    ASSERT_EQ(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
    ASSERT_EQ(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);

    /* Another caps mask, another file; no temp files left behind. */
    ASSERT_EQ(eng_seccomp_default_path(cache, CAPS_ALL, &p3, &err), 0);
    ASSERT_TRUE(!streq(p1, p3));
    ASSERT_STRSTR(p3, "/default-000001ffffffffff-");
    ASSERT_EQ(count_entries(cache), 2);
    free(p1);
    free(p2);
    free(p3);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST(test_default_profile_default_caps);
    TEST(test_default_profile_all_caps);
    TEST(test_compile_is_deterministic);
    TEST(test_custom_profile);
    TEST(test_errors);
    TEST(test_default_profile_behaviour);
    TEST(test_custom_profile_behaviour);
    TEST(test_cache_path);

    (void)tap_rmtree(dir);
    return tap_done();
}
