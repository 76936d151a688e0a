/* cgroup layout detection. Hosts come in three shapes: pure v2 (cgroup2 on /sys/fs/cgroup),
 * pure v1 (a tmpfs with one mount per controller) and hybrid (v1 controllers plus a cgroup2
 * mount at <root>/unified, usually holding no controllers). Containers use the v1 controllers
 * on v1 and hybrid hosts and the unified tree on v2 hosts. */
#pragma once

#include "common/err.h"

enum rt_cgroup_mode {
    RT_CGROUP_V1,
    RT_CGROUP_HYBRID,
    RT_CGROUP_V2,
};

struct rt_cgroup_info {
    enum rt_cgroup_mode mode;
    /* What `docker info` calls CgroupVersion: 2 on pure v2 hosts, else 1. */
    int version;
    bool memory;     /* memory limits */
    bool swap;       /* memory+swap limits */
    bool cpu_cfs;    /* CFS quota (--cpus) */
    bool cpu_shares; /* --cpu-shares / cpu.weight */
    bool cpuset;     /* --cpuset-cpus */
    bool pids;       /* --pids-limit */
    bool freezer;    /* pause/unpause */
    bool io;         /* blkio / io statistics */
};

/* Decides the mode from the filesystem types mounted at root (normally /sys/fs/cgroup) and
 * root/unified, then reads the features. */
int rt_cgroup_detect(const char *root, struct rt_cgroup_info *ret, struct iso_err *err);

/* Reads the features of a tree of the given mode under root by the files each controller
 * exposes; separate from rt_cgroup_detect so it runs against scratch directories in tests. */
int rt_cgroup_read_features(const char *root, enum rt_cgroup_mode mode, struct rt_cgroup_info *ret,
                            struct iso_err *err);

const char *rt_cgroup_mode_to_string(enum rt_cgroup_mode mode);
