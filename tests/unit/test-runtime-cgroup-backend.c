/* The v1 and v2 cgroup backends against scratch directories shaped like either tree: plain
 * directories with the control files as regular files. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The content of a file under scratch, static buffer; "(missing)" when absent. */
static const char *cat(const char *rel)
{
    static char buf[4096];
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", scratch, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "(missing)";
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static bool exists(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", scratch, rel);
    return access(path, F_OK) == 0;
}

static void rm_rf(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s%s", scratch, *rel ? "/" : "", rel);
    (void)tap_rmtree(path);
}

static void reset(void)
{
    rm_rf("");
    (void)mkdir(scratch, 0755);
}

static const char *const v1_controllers[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                             "pids",   "freezer", "blkio",   "devices"};

/* A v1 tree with every controller (or all but skip), swap accounting when swap. */
static void v1_tree(const char *skip, bool swap)
{
    char rel[128];

    reset();
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
        if (skip && streq(skip, v1_controllers[i]))
            continue;
        snprintf(rel, sizeof(rel), "%s/cgroup.procs", v1_controllers[i]);
        touch(rel, "");
    }
    if (!skip || !streq(skip, "memory")) {
        touch("memory/memory.limit_in_bytes", "9223372036854771712\n");
        if (swap)
            touch("memory/memory.memsw.limit_in_bytes", "9223372036854771712\n");
    }
    touch("cpu/cpu.cfs_quota_us", "-1\n");
    touch("cpu/cpu.shares", "1024\n");
    if (!skip || !streq(skip, "cpuset")) {
        touch("cpuset/cpuset.cpus", "0-3\n");
        touch("cpuset/cpuset.mems", "0\n");
    }
}

static void v1_info(struct rt_cgroup_info *info)
{
    struct iso_err err = {0};
    int r = rt_cgroup_read_features(scratch, RT_CGROUP_V1, info, &err);
    if (r < 0)
        printf("# read features: %s\n", err.msg);
}

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

static void test_v1_create_limits(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {
        .memory = 64 << 20,
        .memory_reservation = 32 << 20,
        .nano_cpus = 1500000000,
        .cpu_shares = 512,
        .cpuset_cpus = "1",
        .pids_limit = 10,
        .devices_default = true,
    };

    v1_tree(NULL, true);
    v1_info(&info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "c1", &lim, &cg, &err), 0);
    ASSERT_STREQ(cat("memory/isod/c1/memory.limit_in_bytes"), "67108864");
    /* Unset --memory-swap with swap accounting: twice --memory. */
    ASSERT_STREQ(cat("memory/isod/c1/memory.memsw.limit_in_bytes"), "134217728");
    ASSERT_STREQ(cat("memory/isod/c1/memory.soft_limit_in_bytes"), "33554432");
    ASSERT_STREQ(cat("cpu/isod/c1/cpu.cfs_period_us"), "100000");
    ASSERT_STREQ(cat("cpu/isod/c1/cpu.cfs_quota_us"), "150000");
    ASSERT_STREQ(cat("cpu/isod/c1/cpu.shares"), "512");
    /* cpus and mems copied down the chain, then the container's own cpus. */
    ASSERT_STREQ(cat("cpuset/isod/cpuset.cpus"), "0-3");
    ASSERT_STREQ(cat("cpuset/isod/cpuset.mems"), "0");
    ASSERT_STREQ(cat("cpuset/isod/c1/cpuset.cpus"), "1");
    ASSERT_STREQ(cat("cpuset/isod/c1/cpuset.mems"), "0");
    ASSERT_STREQ(cat("pids/isod/c1/pids.max"), "10");
    ASSERT_STREQ(cat("devices/isod/c1/devices.deny"), "a");
    ASSERT_STREQ(cat("devices/isod/c1/devices.allow"),
                 "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\n"
                 "c 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\nc 10:200 rwm\n");
    ASSERT_TRUE(exists("freezer/isod/c1") && exists("blkio/isod/c1") && exists("cpuacct/isod/c1"));

    const char *const *procs = rt_cgroup_procs_files(cg);
    ASSERT_EQ(count(procs), 8);
    char want[256];
    snprintf(want, sizeof(want), "%s/memory/isod/c1/cgroup.procs", scratch);
    ASSERT_STREQ(procs[0], want);
    cg = rt_cgroup_free(cg);

    /* A second create of the same name fails and leaves the first alone. */
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "c1", &lim, &cg, &err), -EEXIST);
    ASSERT_STRSTR(err.msg, "exists already");
    ASSERT_STREQ(cat("memory/isod/c1/memory.limit_in_bytes"), "67108864");
}

static void test_v1_swap(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {.memory = 1 << 20, .memory_swap = 3 << 20};

    v1_tree(NULL, true);
    v1_info(&info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "a", &lim, &cg, &err), 0);
    ASSERT_STREQ(cat("memory/a/memory.memsw.limit_in_bytes"), "3145728");
    cg = rt_cgroup_free(cg);
    lim.memory_swap = -1;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "b", &lim, &cg, &err), 0);
    ASSERT_STREQ(cat("memory/b/memory.memsw.limit_in_bytes"), "-1");
    cg = rt_cgroup_free(cg);
    lim.memory_swap = 1 << 19;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "c", &lim, &cg, &err), -EINVAL);
    ASSERT_TRUE(!exists("memory/c"));

    /* No swap accounting: unset or unlimited swap is ignored, an explicit one refused. */
    v1_tree(NULL, false);
    v1_info(&info);
    lim.memory_swap = 0;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "d", &lim, &cg, &err), 0);
    ASSERT_STREQ(cat("memory/d/memory.limit_in_bytes"), "1048576");
    ASSERT_TRUE(!exists("memory/d/memory.memsw.limit_in_bytes"));
    cg = rt_cgroup_free(cg);
    lim.memory_swap = -1;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "e", &lim, &cg, &err), 0);
    ASSERT_TRUE(!exists("memory/e/memory.memsw.limit_in_bytes"));
    cg = rt_cgroup_free(cg);
    lim.memory_swap = 4 << 20;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "f", &lim, &cg, &err), -EOPNOTSUPP);
    ASSERT_STRSTR(err.msg, "--memory-swap");
    ASSERT_TRUE(!exists("memory/f"));
}

static void test_v1_missing_controller(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {.memory = 1 << 20, .pids_limit = 5};

    v1_tree("pids", true);
    v1_info(&info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "x", &lim, &cg, &err), -EOPNOTSUPP);
    ASSERT_STREQ(err.msg, "--pids-limit: the pids cgroup controller is not available");
    ASSERT_TRUE(!exists("memory/isod"));

    /* Without a limit that needs it, the controller is skipped. */
    lim.pids_limit = 0;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "x", &lim, &cg, &err), 0);
    ASSERT_EQ(count(rt_cgroup_procs_files(cg)), 7);
    ASSERT_TRUE(!exists("pids/isod"));
    cg = rt_cgroup_free(cg);

    v1_tree("memory", true);
    v1_info(&info);
    lim.memory = 1 << 20;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "x", &lim, &cg, &err), -EOPNOTSUPP);
    ASSERT_STREQ(err.msg, "--memory: the memory cgroup controller is not available");
}

static void test_v1_failure_removes_everything(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};

    /* cpuset's root lacks cpuset.mems: the copy down fails after memory and cpu dirs exist. */
    v1_tree(NULL, true);
    char path[256];
    snprintf(path, sizeof(path), "%s/cpuset/cpuset.mems", scratch);
    ASSERT_EQ(unlink(path), 0);
    v1_info(&info);
    ASSERT_TRUE(rt_cgroup_create(&info, scratch, "isod/deep", "x", NULL, &cg, &err) < 0);
    ASSERT_STRSTR(err.msg, "cpuset.mems");
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
        snprintf(path, sizeof(path), "%s/isod", v1_controllers[i]);
        ASSERT_TRUE(!exists(path));
    }

    /* An existing parent is not removed on failure, and an existing container dir in one
     * controller fails the create with EEXIST. */
    v1_tree(NULL, true);
    v1_info(&info);
    touch("pids/isod/x/cgroup.procs", "");
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "x", NULL, &cg, &err), -EEXIST);
    ASSERT_TRUE(!exists("memory/isod") && !exists("cpu/isod"));
    ASSERT_TRUE(exists("pids/isod/x/cgroup.procs"));
}

static void test_v1_shared_cpu_cpuacct(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {.nano_cpus = 250000000};
    char link[256];

    /* The usual layout: one "cpu,cpuacct" mount, "cpu" and "cpuacct" symlinks to it. */
    v1_tree(NULL, true);
    rm_rf("cpu");
    rm_rf("cpuacct");
    touch("cpu,cpuacct/cgroup.procs", "");
    touch("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    touch("cpu,cpuacct/cpuacct.usage", "0\n");
    snprintf(link, sizeof(link), "%s/cpu", scratch);
    ASSERT_EQ(symlink("cpu,cpuacct", link), 0);
    snprintf(link, sizeof(link), "%s/cpuacct", scratch);
    ASSERT_EQ(symlink("cpu,cpuacct", link), 0);
    v1_info(&info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "c", &lim, &cg, &err), 0);
    ASSERT_EQ(count(rt_cgroup_procs_files(cg)), 7);
    ASSERT_STREQ(cat("cpu,cpuacct/isod/c/cpu.cfs_quota_us"), "25000");
    touch("cpu,cpuacct/isod/c/cpuacct.usage", "42\n");
    struct rt_cgroup_stats st;
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    ASSERT_EQ(st.cpu_total_ns, 42);
    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    ASSERT_TRUE(!exists("cpu,cpuacct/isod/c"));
    cg = rt_cgroup_free(cg);
}

static void test_v1_update_freeze_stats_destroy(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {.memory = 64 << 20, .cpu_shares = 512, .pids_limit = 10};

    v1_tree(NULL, true);
    v1_info(&info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "u", &lim, &cg, &err), 0);
    cg = rt_cgroup_free(cg);
    ASSERT_EQ(rt_cgroup_open(&info, scratch, "isod", "u", &cg, &err), 0);

    struct rt_cgroup_limits up = {.memory = 128 << 20, .memory_swap = 256 << 20, .pids_limit = -1};
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("memory/isod/u/memory.limit_in_bytes"), "134217728");
    ASSERT_STREQ(cat("memory/isod/u/memory.memsw.limit_in_bytes"), "268435456");
    ASSERT_STREQ(cat("pids/isod/u/pids.max"), "max");
    ASSERT_STREQ(cat("cpu/isod/u/cpu.shares"), "512");
    ASSERT_TRUE(!exists("cpu/isod/u/cpu.cfs_quota_us"));

    ASSERT_EQ(rt_cgroup_freeze(cg, true, &err), 0);
    ASSERT_STREQ(cat("freezer/isod/u/freezer.state"), "FROZEN");
    ASSERT_EQ(rt_cgroup_freeze(cg, false, &err), 0);
    ASSERT_STREQ(cat("freezer/isod/u/freezer.state"), "THAWED");

    touch("cpuacct/isod/u/cpuacct.usage", "123456789\n");
    touch("cpuacct/isod/u/cpuacct.stat", "user 10\nsystem 5\n");
    touch("cpu/isod/u/cpu.stat", "nr_periods 7\nnr_throttled 3\nthrottled_time 999\n");
    touch("memory/isod/u/memory.usage_in_bytes", "1048576\n");
    touch("memory/isod/u/memory.stat", "cache 1\ninactive_file 1\ntotal_inactive_file 4096\n");
    touch("memory/isod/u/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    touch("memory/isod/u/memory.failcnt", "99\n");
    touch("memory/isod/u/memory.max_usage_in_bytes", "2097152\n");
    touch("cpuacct/isod/u/cpuacct.usage_percpu", "100 23456689 \n");
    touch("pids/isod/u/pids.current", "3\n");
    touch("blkio/isod/u/blkio.throttle.io_service_bytes",
          "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Async 0\n8:0 Total 300\n"
          "8:16 Read 1\n8:16 Write 2\nTotal 303\n");
    struct rt_cgroup_stats st;
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    long hz = sysconf(_SC_CLK_TCK);
    ASSERT_EQ(st.cpu_total_ns, 123456789);
    ASSERT_EQ(st.cpu_user_ns, 10 * (1000000000 / hz));
    ASSERT_EQ(st.cpu_system_ns, 5 * (1000000000 / hz));
    ASSERT_EQ(st.nr_periods, 7);
    ASSERT_EQ(st.throttled_periods, 3);
    ASSERT_EQ(st.throttled_time_ns, 999);
    ASSERT_EQ(st.memory_usage, 1048576);
    ASSERT_EQ(st.memory_limit, 128 << 20);
    ASSERT_EQ(st.memory_inactive_file, 4096);
    ASSERT_EQ(st.oom_kills, 2);
    ASSERT_EQ(st.pids_current, 3);
    ASSERT_EQ(st.pids_limit, 0); /* "max" */
    ASSERT_EQ(st.io_read_bytes, 101);
    ASSERT_EQ(st.io_write_bytes, 202);
    ASSERT_EQ(st.n_io_devs, 2);
    ASSERT_EQ(st.io_devs[0].major, 8);
    ASSERT_EQ(st.io_devs[0].minor, 0);
    ASSERT_EQ(st.io_devs[0].read_bytes, 100);
    ASSERT_EQ(st.io_devs[0].write_bytes, 200);
    ASSERT_EQ(st.io_devs[1].minor, 16);
    ASSERT_EQ(st.io_devs[1].write_bytes, 2);
    ASSERT_EQ(st.memory_max_usage, 2097152);
    ASSERT_EQ(st.n_percpu, 2);
    ASSERT_EQ(st.cpu_percpu_ns[1], 23456689);
    ASSERT_EQ(st.n_memory_stat, 3);
    ASSERT_STREQ(st.memory_stat[0].key, "cache");
    ASSERT_STREQ(st.memory_stat[2].key, "total_inactive_file");
    ASSERT_EQ(st.memory_stat[2].value, 4096);

    /* Unlimited memory reports the host's memory. */
    touch("memory/isod/u/memory.limit_in_bytes", "9223372036854771712\n");
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    ASSERT_TRUE(st.memory_limit > 0 && st.memory_limit < (1ULL << 62));

    /* The fixture pids are never signalled on a scratch tree. */
    touch("pids/isod/u/cgroup.procs", "1\n");
    pid_t *pids = NULL;
    size_t n = 0;
    touch("memory/isod/u/cgroup.procs", "1\n2\n");
    ASSERT_EQ(rt_cgroup_pids(cg, &pids, &n, &err), 0);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(pids[1], 2);
    free(pids);

    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "%s/isod/u", v1_controllers[i]);
        ASSERT_TRUE(!exists(rel));
        snprintf(rel, sizeof(rel), "%s/isod", v1_controllers[i]);
        ASSERT_TRUE(exists(rel));
    }
    cg = rt_cgroup_free(cg);
    ASSERT_EQ(rt_cgroup_open(&info, scratch, "isod", "u", &cg, &err), -ENOENT);
}

static void test_names(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};

    v1_tree(NULL, true);
    v1_info(&info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "..", NULL, &cg, &err), -EINVAL);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "a/b", NULL, &cg, &err), -EINVAL);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "../x", "a", NULL, &cg, &err), -EINVAL);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "/x", "a", NULL, &cg, &err), -EINVAL);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "x//y", "a", NULL, &cg, &err), -EINVAL);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "", NULL, &cg, &err), -EINVAL);
}

/* ---- v2 ---- */

static void v2_tree(const char *controllers, struct rt_cgroup_info *info)
{
    struct iso_err err = {0};

    reset();
    touch("cgroup.controllers", controllers);
    touch("cgroup.procs", "");
    if (rt_cgroup_read_features(scratch, RT_CGROUP_V2, info, &err) < 0)
        printf("# read features: %s\n", err.msg);
    /* The scratch host has swap accounting whatever /proc/swaps says. */
    info->swap = info->memory;
}

static void test_v2_create_limits(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {
        .memory = 64 << 20,
        .memory_swap = 96 << 20,
        .memory_reservation = 16 << 20,
        .nano_cpus = 500000000,
        .cpu_shares = 1024,
        .cpuset_cpus = "0-1",
        .pids_limit = 20,
        .devices_default = true,
    };

    v2_tree("cpuset cpu io memory pids\n", &info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod/sub", "c2", &lim, &cg, &err), 0);
    const char *all = "+cpu +memory +pids +cpuset +io";
    ASSERT_STREQ(cat("cgroup.subtree_control"), all);
    ASSERT_STREQ(cat("isod/cgroup.subtree_control"), all);
    ASSERT_STREQ(cat("isod/sub/cgroup.subtree_control"), all);
    ASSERT_TRUE(!exists("isod/sub/c2/cgroup.subtree_control"));
    ASSERT_STREQ(cat("isod/sub/c2/memory.max"), "67108864");
    ASSERT_STREQ(cat("isod/sub/c2/memory.swap.max"), "33554432");
    ASSERT_STREQ(cat("isod/sub/c2/memory.low"), "16777216");
    ASSERT_STREQ(cat("isod/sub/c2/cpu.max"), "50000 100000");
    ASSERT_STREQ(cat("isod/sub/c2/cpu.weight"), "39");
    ASSERT_STREQ(cat("isod/sub/c2/cpuset.cpus"), "0-1");
    ASSERT_STREQ(cat("isod/sub/c2/pids.max"), "20");

    const char *const *procs = rt_cgroup_procs_files(cg);
    ASSERT_EQ(count(procs), 1);
    char want[256];
    snprintf(want, sizeof(want), "%s/isod/sub/c2/cgroup.procs", scratch);
    ASSERT_STREQ(procs[0], want);

    /* cpu.weight at the ends of the cpu.shares range, and the --cpus conversion. */
    struct rt_cgroup_limits up = {.cpu_shares = 2};
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("isod/sub/c2/cpu.weight"), "1");
    up.cpu_shares = 262144;
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("isod/sub/c2/cpu.weight"), "10000");
    up.cpu_shares = 512;
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("isod/sub/c2/cpu.weight"), "20");
    up = (struct rt_cgroup_limits){.nano_cpus = 2500000000};
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("isod/sub/c2/cpu.max"), "250000 100000");
    ASSERT_STREQ(cat("isod/sub/c2/memory.max"), "67108864");

    /* Update of the swap alone is relative to the memory limit in place. */
    up = (struct rt_cgroup_limits){.memory_swap = 100 << 20, .pids_limit = -1};
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("isod/sub/c2/memory.swap.max"), "37748736");
    ASSERT_STREQ(cat("isod/sub/c2/pids.max"), "max");
    up = (struct rt_cgroup_limits){.memory = 128 << 20, .memory_swap = -1};
    ASSERT_EQ(rt_cgroup_update(cg, &up, &err), 0);
    ASSERT_STREQ(cat("isod/sub/c2/memory.max"), "134217728");
    ASSERT_STREQ(cat("isod/sub/c2/memory.swap.max"), "max");
    cg = rt_cgroup_free(cg);

    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod/sub", "c2", &lim, &cg, &err), -EEXIST);

    /* Unset --memory-swap: as much swap as memory. */
    lim.memory_swap = 0;
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "", "c3", &lim, &cg, &err), 0);
    ASSERT_STREQ(cat("c3/memory.swap.max"), "67108864");
    cg = rt_cgroup_free(cg);
}

static void test_v2_missing_controller(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};
    struct rt_cgroup_limits lim = {.memory = 1 << 20};

    v2_tree("cpu io\n", &info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "m", &lim, &cg, &err), -EOPNOTSUPP);
    ASSERT_STREQ(err.msg, "--memory: the memory cgroup controller is not available");
    ASSERT_TRUE(!exists("isod"));
    lim = (struct rt_cgroup_limits){.cpuset_cpus = "0"};
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "m", &lim, &cg, &err), -EOPNOTSUPP);
    ASSERT_STRSTR(err.msg, "--cpuset-cpus");
    lim = (struct rt_cgroup_limits){.nano_cpus = 1000000000};
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "m", &lim, &cg, &err), 0);
    ASSERT_STREQ(cat("cgroup.subtree_control"), "+cpu +io");
    cg = rt_cgroup_free(cg);

    /* No controllers at all (the hybrid host's cgroup2): nothing to enable. */
    v2_tree("", &info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "m", NULL, &cg, &err), 0);
    ASSERT_TRUE(!exists("cgroup.subtree_control"));
    cg = rt_cgroup_free(cg);
}

static void test_v2_freeze_stats_destroy(void)
{
    struct rt_cgroup_info info;
    struct rt_cgroup *cg = NULL;
    struct iso_err err = {0};

    v2_tree("cpuset cpu io memory pids\n", &info);
    ASSERT_EQ(rt_cgroup_create(&info, scratch, "isod", "s", NULL, &cg, &err), 0);
    ASSERT_EQ(rt_cgroup_freeze(cg, true, &err), 0);
    ASSERT_STREQ(cat("isod/s/cgroup.freeze"), "1");
    ASSERT_EQ(rt_cgroup_freeze(cg, false, &err), 0);
    ASSERT_STREQ(cat("isod/s/cgroup.freeze"), "0");

    touch("isod/s/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                             "core_sched.force_idle_usec 0\nnr_periods 10\nnr_throttled 4\n"
                             "throttled_usec 77\nnr_bursts 0\nburst_usec 0\n");
    touch("isod/s/memory.current", "2097152\n");
    touch("isod/s/memory.max", "8388608\n");
    touch("isod/s/memory.stat", "anon 1\nactive_file 5\ninactive_file 8192\n");
    touch("isod/s/memory.events", "low 0\nhigh 0\nmax 12\noom 3\noom_kill 1\noom_group_kill 0\n");
    touch("isod/s/pids.current", "4\n");
    touch("isod/s/pids.max", "64\n");
    touch("isod/s/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                            "253:1 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n");
    struct rt_cgroup_stats st;
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    ASSERT_EQ(st.cpu_total_ns, 1500000);
    ASSERT_EQ(st.cpu_user_ns, 1000000);
    ASSERT_EQ(st.cpu_system_ns, 500000);
    ASSERT_EQ(st.nr_periods, 10);
    ASSERT_EQ(st.throttled_periods, 4);
    ASSERT_EQ(st.throttled_time_ns, 77000);
    ASSERT_EQ(st.memory_usage, 2097152);
    ASSERT_EQ(st.memory_limit, 8388608);
    ASSERT_EQ(st.memory_inactive_file, 8192);
    ASSERT_EQ(st.oom_kills, 1);
    ASSERT_EQ(st.pids_current, 4);
    ASSERT_EQ(st.pids_limit, 64);
    ASSERT_EQ(st.io_read_bytes, 4097);
    ASSERT_EQ(st.io_write_bytes, 8194);
    ASSERT_EQ(st.n_io_devs, 2);
    ASSERT_EQ(st.io_devs[1].major, 253);
    ASSERT_EQ(st.io_devs[1].minor, 1);
    ASSERT_EQ(st.io_devs[1].read_bytes, 1);
    ASSERT_EQ(st.io_devs[0].write_bytes, 8192);
    ASSERT_EQ(st.n_memory_stat, 3);
    ASSERT_STREQ(st.memory_stat[1].key, "active_file");
    ASSERT_EQ(st.memory_stat[1].value, 5);
    ASSERT_EQ(st.n_percpu, 0);

    touch("isod/s/memory.max", "max\n");
    touch("isod/s/pids.max", "max\n");
    ASSERT_EQ(rt_cgroup_stats(cg, &st, &err), 0);
    ASSERT_TRUE(st.memory_limit > 0 && st.memory_limit < (1ULL << 62));
    ASSERT_EQ(st.pids_limit, 0);

    touch("isod/s/cgroup.procs", "1\n");
    touch("isod/s/inner/cgroup.procs", "1\n");
    ASSERT_EQ(rt_cgroup_destroy(cg, &err), 0);
    ASSERT_TRUE(!exists("isod/s") && exists("isod"));
    cg = rt_cgroup_free(cg);
    ASSERT_EQ(rt_cgroup_open(&info, scratch, "isod", "s", &cg, &err), -ENOENT);
}

int main(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/isod-cgroup-backend-%d", (int)getpid());
    TEST(test_v1_create_limits);
    TEST(test_v1_swap);
    TEST(test_v1_missing_controller);
    TEST(test_v1_failure_removes_everything);
    TEST(test_v1_shared_cpu_cpuacct);
    TEST(test_v1_update_freeze_stats_destroy);
    TEST(test_names);
    TEST(test_v2_create_limits);
    TEST(test_v2_missing_controller);
    TEST(test_v2_freeze_stats_destroy);
    rm_rf("");
    return tap_done();
}
