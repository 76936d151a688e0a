#include "runtime/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "common/util.h"

static bool exists_at(const char *root, const char *rel)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return access(path, F_OK) == 0;
}

/* True when the whitespace-separated list in <root>/cgroup.controllers names ctrl. */
static bool v2_has_controller(const char *controllers, const char *ctrl)
{
    size_t n = strlen(ctrl);

    for (const char *p = controllers; (p = strstr(p, ctrl)); p += n) {
        bool start = p == controllers || p[-1] == ' ' || p[-1] == '\n';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
        if (start && end)
            return true;
    }
    return false;
}

int rt_cgroup_read_features(const char *root, enum rt_cgroup_mode mode, struct rt_cgroup_info *ret,
                            struct iso_err *err)
{
    struct rt_cgroup_info info = {.mode = mode, .version = mode == RT_CGROUP_V2 ? 2 : 1};

    if (mode == RT_CGROUP_V2) {
        _cleanup_free_ char *controllers = NULL;
        char path[4096];

        snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
        int r = iso_read_file_at(AT_FDCWD, path, 4096, &controllers, NULL);
        if (r < 0)
            return iso_err_set_errno(err, -r, "read '%s'", path);
        info.memory = v2_has_controller(controllers, "memory");
        /* The root cgroup has no memory.swap.max; the kernel offers swap accounting
         * whenever it was built with swap, which /proc/swaps tells. */
        info.swap = info.memory && access("/proc/swaps", F_OK) == 0;
        info.cpu_cfs = info.cpu_shares = v2_has_controller(controllers, "cpu");
        info.cpuset = v2_has_controller(controllers, "cpuset");
        info.pids = v2_has_controller(controllers, "pids");
        info.io = v2_has_controller(controllers, "io");
        /* The v2 freezer is a core file of every non-root cgroup, not a controller. */
        info.freezer = true;
    } else {
        info.memory = exists_at(root, "memory/memory.limit_in_bytes");
        info.swap = exists_at(root, "memory/memory.memsw.limit_in_bytes");
        info.cpu_cfs = exists_at(root, "cpu/cpu.cfs_quota_us");
        info.cpu_shares = exists_at(root, "cpu/cpu.shares");
        info.cpuset = exists_at(root, "cpuset/cpuset.cpus");
        info.pids = exists_at(root, "pids/cgroup.procs");
        info.freezer = exists_at(root, "freezer/cgroup.procs");
        info.io = exists_at(root, "blkio/cgroup.procs");
        if (!exists_at(root, "memory/cgroup.procs") && !exists_at(root, "cpu/cgroup.procs") &&
            !info.pids)
            return iso_err_set(err, ENOENT, "no cgroup v1 controllers under '%s'", root);
    }
    *ret = info;
    return 0;
}

int rt_cgroup_detect(const char *root, struct rt_cgroup_info *ret, struct iso_err *err)
{
    struct statfs sfs;
    char unified[4096];
    enum rt_cgroup_mode mode;

    if (statfs(root, &sfs) < 0)
        return iso_err_set_errno(err, errno, "statfs '%s'", root);
    if (sfs.f_type == CGROUP2_SUPER_MAGIC)
        mode = RT_CGROUP_V2;
    else if (sfs.f_type == TMPFS_MAGIC) {
        snprintf(unified, sizeof(unified), "%s/unified", root);
        mode = statfs(unified, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC ? RT_CGROUP_HYBRID
                                                                               : RT_CGROUP_V1;
    } else
        return iso_err_set(err, ENOTSUP,
                           "'%s' is neither a cgroup2 mount nor a tmpfs of cgroup v1 mounts", root);
    return rt_cgroup_read_features(root, mode, ret, err);
}

const char *rt_cgroup_mode_to_string(enum rt_cgroup_mode mode)
{
    switch (mode) {
    case RT_CGROUP_V1:
        return "v1";
    case RT_CGROUP_HYBRID:
        return "hybrid";
    case RT_CGROUP_V2:
        return "v2";
    }
    return "unknown";
}
