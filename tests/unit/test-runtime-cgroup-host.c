/* The cgroup backend of this host on the real /sys/fs/cgroup: needs root (suite
 * 'privileged'). Everything lives under a parent "isod-test-<pid>" removed at the end. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/cgroup.h"
#include "tests/unit/tap.h"

#define ROOT "/sys/fs/cgroup"

static char parent[64];
static struct rt_cgroup_info info;
static pid_t children[4];
static size_t nchildren;

static const char *const v1_controllers[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                             "pids",   "freezer", "blkio",   "devices"};

/* A child that, once it reads a byte from go, touches 4 MiB and sleeps. */
static pid_t spawn_sleeper(int go)
{
    pid_t pid = fork();
    if (pid == 0) {
        static char *hold; /* static: kept, not leaked, while the child sleeps */
        char c;
        if (read(go, &c, 1) == 1) {
            hold = malloc(4 << 20);
            if (hold)
                memset(hold, 1, 4 << 20);
            __asm__ volatile("" : : "r"(hold) : "memory");
        }
        for (;;)
            pause();
    }
    if (pid > 0)
        children[nchildren++] = pid;
    return pid;
}

static int join(struct rt_cgroup *cg, pid_t pid)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    for (const char *const *p = rt_cgroup_procs_files(cg); *p; p++) {
        int fd = open(*p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        int r = iso_write_all(fd, buf, strlen(buf));
        close(fd);
        if (r < 0)
            return r;
    }
    return 0;
}

/* mkdir ROOT/<prefix><parent>/<name>/sub and moves pid there. */
static int move_to_sub(const char *prefix, const char *name, pid_t pid)
{
    char path[512], buf[32];
    snprintf(path, sizeof(path), ROOT "/%s%s/%s/sub", prefix, parent, name);
    if (mkdir(path, 0755) < 0)
        return -errno;
    snprintf(path, sizeof(path), ROOT "/%s%s/%s/sub/cgroup.procs", prefix, parent, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    int r = iso_write_all(fd, buf, strlen(buf));
    close(fd);
    return r;
}

/* ROOT/ctrl/<parent>/rel, malloc'd; NULL when unreadable. */
static char *read_text(const char *ctrl, const char *rel)
{
    char path[512];
    char *s = NULL;
    snprintf(path, sizeof(path), ROOT "/%s/%s/%s", ctrl, parent, rel);
    if (iso_read_file_at(AT_FDCWD, path, 1 << 20, &s, NULL) < 0)
        return NULL;
    return s;
}

/* The directory of the container in ctrl, or of the parent when name is NULL. */
static bool dir_exists(const char *ctrl, const char *name)
{
    char path[512];
    if (info.mode == RT_CGROUP_V2)
        snprintf(path, sizeof(path), ROOT "/%s%s%s", parent, name ? "/" : "", name ? name : "");
    else
        snprintf(path, sizeof(path), ROOT "/%s/%s%s%s", ctrl, parent, name ? "/" : "",
                 name ? name : "");
    return access(path, F_OK) == 0;
}

static void test_lifecycle(void)
{
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {
        .memory = 64 << 20,
        .nano_cpus = 500000000,
        .pids_limit = 10,
        .devices_default = true,
    };

    ASSERT_EQ(rt_cgroup_create(&info, ROOT, parent, "c1", &lim, &cg, &err), 0);
    if (info.mode != RT_CGROUP_V2) {
        _cleanup_free_ char *mem = read_text("memory", "c1/memory.limit_in_bytes");
        ASSERT_STREQ(mem, "67108864\n");
        _cleanup_free_ char *quota = read_text("cpu", "c1/cpu.cfs_quota_us");
        ASSERT_STREQ(quota, "50000\n");
        _cleanup_free_ char *pids = read_text("pids", "c1/pids.max");
        ASSERT_STREQ(pids, "10\n");
        _cleanup_free_ char *devs = read_text("devices", "c1/devices.list");
        ASSERT_TRUE(devs && !strstr(devs, "a *:* rwm"));
        ASSERT_STRSTR(devs, "c 1:3 rwm");
        ASSERT_STRSTR(devs, "c 136:* rwm");
        _cleanup_free_ char *cpus = read_text("cpuset", "c1/cpuset.cpus");
        ASSERT_TRUE(cpus && cpus[0] != '\n');
    }
    struct rt_cgroup *again = NULL;
    ASSERT_EQ(rt_cgroup_create(&info, ROOT, parent, "c1", &lim, &again, &err), -EEXIST);

    int go[2];
    ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
    pid_t child = spawn_sleeper(go[0]);
    close(go[0]);
    ASSERT_TRUE(child > 0);
    ASSERT_EQ(join(cg, child), 0);
    ASSERT_EQ(write(go[1], "x", 1), 1);
    close(go[1]);
    char proc[64], want[128];
    snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int)child);
    _cleanup_free_ char *self = NULL;
    ASSERT_EQ(iso_read_file_at(AT_FDCWD, proc, 65536, &self, NULL), 0);
    snprintf(want, sizeof(want), info.mode == RT_CGROUP_V2 ? "0::/%s/c1\n" : "memory:/%s/c1\n",
             parent);
    ASSERT_STRSTR(self, want);

    pid_t *pids = NULL;
    size_t n = 0;
    ASSERT_EQ(rt_cgroup_pids(cg, &pids, &n, &err), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(pids[0], child);
    free(pids);

    ASSERT_EQ(rt_cgroup_freeze(cg, true, &err), 0);
    if (info.mode != RT_CGROUP_V2) {
        _cleanup_free_ char *st = read_text("freezer", "c1/freezer.state");
        ASSERT_STREQ(st, "FROZEN\n");
    }
    ASSERT_EQ(rt_cgroup_freeze(cg, false, &err), 0);
    if (info.mode != RT_CGROUP_V2) {
        _cleanup_free_ char *st = read_text("freezer", "c1/freezer.state");
        ASSERT_STREQ(st, "THAWED\n");
    }

    /* The child's pages are charged here once it touched them. */
    struct rt_cgroup_stats st;
    uint64_t deadline = iso_now_mono_ns() + 5000000000ULL;
    do
        ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    while (st.memory_usage < (4 << 20) && iso_now_mono_ns() < deadline);
    ASSERT_TRUE(st.memory_usage >= (4 << 20));
    ASSERT_EQ(st.pids_current, 1);
    ASSERT_EQ(st.pids_limit, 10);
    ASSERT_EQ(st.memory_limit, 64 << 20);
    ASSERT_TRUE(st.memory_usage > 0);

    /* Reopen as after a restart, then destroy: the child dies, the directories go. */
    cg = rt_cgroup_free(cg);
    ASSERT_EQ(rt_cgroup_open(&info, ROOT, parent, "c1", &cg, &err), 0);
    ASSERT_EQ(rt_cgroup_freeze(cg, true, &err), 0);
    /* A cgroup the container made itself goes too, with its processes. */
    ASSERT_EQ(move_to_sub(info.mode == RT_CGROUP_V2 ? "" : "memory/", "c1", child), 0);
    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++)
        ASSERT_TRUE(!dir_exists(v1_controllers[i], "c1"));
    cg = rt_cgroup_free(cg);
    ASSERT_EQ(rt_cgroup_open(&info, ROOT, parent, "c1", &cg, &err), -ENOENT);
}

static void test_oom_kill_counted(void)
{
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {.memory = 32 << 20};
    int go[2];

    ASSERT_EQ(rt_cgroup_create(&info, ROOT, parent, "oom", &lim, &cg, &err), 0);
    ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
    pid_t child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        size_t size = 100 << 20;
        char *p = malloc(size);
        if (!p)
            _exit(3);
        memset(p, 1, size);
        /* Without this the compiler drops the malloc and memset as dead. */
        __asm__ volatile("" : : "r"(p) : "memory");
        _exit(p[size - 1] == 1 ? 0 : 4);
    }
    children[nchildren++] = child;
    close(go[0]);
    ASSERT_EQ(join(cg, child), 0);
    ASSERT_EQ(write(go[1], "x", 1), 1);
    close(go[1]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    struct rt_cgroup_stats st;
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    ASSERT_TRUE(st.oom_kills >= 1);
    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    cg = rt_cgroup_free(cg);
    ASSERT_TRUE(!dir_exists("memory", "oom"));
}

static void test_unsupported_limit(void)
{
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_info none = info;
    struct rt_cgroup_limits lim = {.pids_limit = 5};

    /* As if the host lacked the pids controller: refused before anything is made. */
    none.pids = false;
    ASSERT_EQ(rt_cgroup_create(&none, ROOT, parent, "nope", &lim, &cg, &err), -EOPNOTSUPP);
    ASSERT_STRSTR(err.msg, "--pids-limit");
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++)
        ASSERT_TRUE(!dir_exists(v1_controllers[i], "nope"));
}

/* On a hybrid host the v2 backend also runs against the (controller-less) unified mount:
 * procs, freeze via cgroup.events and destroy via cgroup.kill are real there. */
static void test_v2_on_unified(void)
{
    struct rt_cgroup_info v2;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    char path[256];

    if (info.mode != RT_CGROUP_HYBRID) {
        printf("# not hybrid, the v2 backend ran in test_lifecycle\n");
        return;
    }
    ASSERT_EQ(rt_cgroup_read_features(ROOT "/unified", RT_CGROUP_V2, &v2, &err), 0);
    ASSERT_EQ(rt_cgroup_create(&v2, ROOT "/unified", parent, "u", NULL, &cg, &err), 0);
    int go[2];
    ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
    pid_t child = spawn_sleeper(go[0]);
    close(go[0]);
    close(go[1]);
    ASSERT_TRUE(child > 0);
    ASSERT_EQ(join(cg, child), 0);
    pid_t *pids = NULL;
    size_t n = 0;
    ASSERT_EQ(rt_cgroup_pids(cg, &pids, &n, &err), 0);
    ASSERT_EQ(n, 1);
    free(pids);

    ASSERT_EQ(rt_cgroup_freeze(cg, true, &err), 0);
    snprintf(path, sizeof(path), ROOT "/unified/%s/u/cgroup.events", parent);
    _cleanup_free_ char *events = NULL;
    ASSERT_EQ(iso_read_file_at(AT_FDCWD, path, 4096, &events, NULL), 0);
    ASSERT_STRSTR(events, "frozen 1");
    ASSERT_EQ(rt_cgroup_freeze(cg, false, &err), 0);
    ASSERT_EQ(rt_cgroup_freeze(cg, true, &err), 0);

    struct rt_cgroup_stats st;
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    ASSERT_EQ(move_to_sub("unified/", "u", child), 0);
    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    snprintf(path, sizeof(path), ROOT "/unified/%s/u", parent);
    ASSERT_TRUE(access(path, F_OK) < 0);
    cg = rt_cgroup_free(cg);

    /* The device filter: /dev/null allowed, /dev/kmsg (c 1:11) not; only the unified
     * cgroup decides, the child stays in the v1 root devices cgroup. */
    struct rt_cgroup_limits lim = {.devices_default = true};
    ASSERT_EQ(rt_cgroup_create(&v2, ROOT "/unified", parent, "d", &lim, &cg, &err), 0);
    ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
    child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            _exit(3);
        fd = open("/dev/kmsg", O_RDONLY | O_CLOEXEC);
        _exit(fd < 0 && errno == EPERM ? 0 : 4);
    }
    children[nchildren++] = child;
    close(go[0]);
    ASSERT_EQ(join(cg, child), 0);
    ASSERT_EQ(write(go[1], "x", 1), 1);
    close(go[1]);
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    cg = rt_cgroup_free(cg);

    snprintf(path, sizeof(path), ROOT "/unified/%s", parent);
    ASSERT_EQ(rmdir(path), 0);
}

/* Whatever a failed test left: kill our children, remove the directories. */
static void cleanup(void)
{
    static const char *const names[] = {"c1", "oom", "nope", NULL};
    char path[512];

    /* A frozen v1 task takes no SIGKILL until thawed. */
    snprintf(path, sizeof(path), ROOT "/freezer/%s/c1/freezer.state", parent);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)iso_write_all(fd, "THAWED", 6);
        close(fd);
    }
    snprintf(path, sizeof(path), ROOT "/unified/%s/u/cgroup.freeze", parent);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)iso_write_all(fd, "0", 1);
        close(fd);
    }
    for (size_t i = 0; i < nchildren; i++) {
        (void)kill(children[i], SIGKILL);
        (void)waitpid(children[i], NULL, 0);
    }
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
        for (size_t j = 0; j <= 3; j++) {
            const char *ctrl = info.mode == RT_CGROUP_V2 ? "" : v1_controllers[i];
            if (names[j])
                snprintf(path, sizeof(path), ROOT "/%s/%s/%s", ctrl, parent, names[j]);
            else
                snprintf(path, sizeof(path), ROOT "/%s/%s", ctrl, parent);
            (void)rmdir(path);
        }
    }
    snprintf(path, sizeof(path), ROOT "/memory/%s/c1/sub", parent);
    (void)rmdir(path);
    snprintf(path, sizeof(path), ROOT "/unified/%s/u/sub", parent);
    (void)rmdir(path);
    snprintf(path, sizeof(path), ROOT "/unified/%s/u", parent);
    (void)rmdir(path);
    snprintf(path, sizeof(path), ROOT "/unified/%s/d", parent);
    (void)rmdir(path);
    snprintf(path, sizeof(path), ROOT "/unified/%s", parent);
    (void)rmdir(path);
}

static void test_parent_removed(void)
{
    cleanup();
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++)
        ASSERT_TRUE(!dir_exists(v1_controllers[i], NULL));
}

int main(void)
{
    struct iso_err err = {0};

    tap_require_root();
    if (rt_cgroup_detect(ROOT, &info, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    printf("# cgroup mode %s\n", rt_cgroup_mode_to_string(info.mode));
    snprintf(parent, sizeof(parent), "isod-test-%d", (int)getpid());
    TEST(test_lifecycle);
    TEST(test_oom_kill_counted);
    TEST(test_unsupported_limit);
    TEST(test_v2_on_unified);
    TEST(test_parent_removed);
    cleanup();
    return tap_done();
}
