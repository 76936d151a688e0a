#include <fcntl.h>
#include <sys/stat.h>

#include "common/util.h"
#include "runtime/cgroup.h"
#include "tests/unit/tap.h"

static char scratch[64];

static void touch(const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", scratch, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    (void)iso_mkdir_p(path, 0755);
    *slash = '/';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)iso_write_all(fd, content, strlen(content));
        close(fd);
    }
}

static void reset(void)
{
    (void)tap_rmtree(scratch);
    (void)mkdir(scratch, 0755);
}

static void test_v2_features(void)
{
    struct rt_cgroup_info info;
    struct iso_err err = {0};

    reset();
    touch("cgroup.controllers", "cpuset cpu io memory pids\n");
    ASSERT_EQ(rt_cgroup_read_features(scratch, RT_CGROUP_V2, &info, &err), 0);
    ASSERT_EQ(info.version, 2);
    ASSERT_TRUE(info.memory && info.cpu_cfs && info.cpuset && info.pids && info.io);

    touch("cgroup.controllers", "cpuset io\n");
    ASSERT_EQ(rt_cgroup_read_features(scratch, RT_CGROUP_V2, &info, &err), 0);
    ASSERT_TRUE(!info.memory && !info.cpu_cfs && !info.pids && info.cpuset && info.io);

    /* "cpu" must not match inside "cpuset". */
    touch("cgroup.controllers", "cpuset\n");
    ASSERT_EQ(rt_cgroup_read_features(scratch, RT_CGROUP_V2, &info, &err), 0);
    ASSERT_TRUE(!info.cpu_cfs);
}

static void test_v2_missing_controllers_file(void)
{
    struct rt_cgroup_info info;
    struct iso_err err = {0};

    reset();
    ASSERT_EQ(rt_cgroup_read_features(scratch, RT_CGROUP_V2, &info, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "cgroup.controllers");
}

static void test_v1_features(void)
{
    struct rt_cgroup_info info;
    struct iso_err err = {0};

    reset();
    touch("memory/cgroup.procs", "");
    touch("memory/memory.limit_in_bytes", "");
    touch("cpu/cgroup.procs", "");
    touch("cpu/cpu.cfs_quota_us", "");
    touch("cpu/cpu.shares", "");
    touch("pids/cgroup.procs", "");
    ASSERT_EQ(rt_cgroup_read_features(scratch, RT_CGROUP_HYBRID, &info, &err), 0);
    ASSERT_EQ(info.version, 1);
    ASSERT_EQ(info.mode, RT_CGROUP_HYBRID);
    ASSERT_TRUE(info.memory && !info.swap && info.cpu_cfs && info.cpu_shares && info.pids);
    ASSERT_TRUE(!info.freezer && !info.cpuset);

    reset();
    ASSERT_EQ(rt_cgroup_read_features(scratch, RT_CGROUP_V1, &info, &err), -ENOENT);
}

static void test_detect_host(void)
{
    struct rt_cgroup_info info;
    struct iso_err err = {0};

    /* Whatever this host is, detection must succeed and agree with /proc/self/cgroup:
     * a v2-only host lists only the "0::" line. */
    ASSERT_EQ(rt_cgroup_detect("/sys/fs/cgroup", &info, &err), 0);
    _cleanup_free_ char *self = NULL;
    ASSERT_EQ(iso_read_file_at(AT_FDCWD, "/proc/self/cgroup", 65536, &self, NULL), 0);
    bool only_unified = strncmp(self, "0::", 3) == 0 && !strchr(self, '\n')[1];
    ASSERT_EQ(info.mode == RT_CGROUP_V2, only_unified);
    ASSERT_TRUE(rt_cgroup_detect("/proc", &info, &err) == -ENOTSUP);
}

int main(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/isod-cgroup-%d", (int)getpid());
    TEST(test_v2_features);
    TEST(test_v2_missing_controllers_file);
    TEST(test_v1_features);
    TEST(test_detect_host);
    (void)tap_rmtree(scratch);
    return tap_done();
}
