/* cgroup layout detection. Hosts come in three shapes: pure v2 (cgroup2 on /sys/fs/cgroup),
 * pure v1 (a tmpfs with one mount per controller) and hybrid (v1 controllers plus a cgroup2
 * mount at <root>/unified, usually holding no controllers). Containers use the v1 controllers
 * on v1 and hybrid hosts and the unified tree on v2 hosts. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

/* ---- a container's cgroup: one interface, a v1 and a v2 backend ----
 *
 * v1 and hybrid hosts: one directory per controller, <root>/<controller>/<parent>/<name>
 * (memory, cpu, cpuacct, cpuset, pids, freezer, blkio, devices; a controller the host lacks
 * is skipped, and a limit that needs it fails with a clear message). v2 hosts:
 * <root>/<parent>/<name> with the controllers enabled in the parents' subtree_control.
 * root is normally /sys/fs/cgroup; tests pass scratch directories shaped like either tree. */

struct rt_cgroup_limits {
    int64_t memory;      /* bytes; 0: none */
    int64_t memory_swap; /* memory + swap, bytes; 0: unset (Docker: 2 x memory); -1: unlimited */
    int64_t memory_reservation; /* bytes; 0: none */
    int64_t nano_cpus;          /* --cpus x 1e9; 0: none */
    int64_t cpu_shares;         /* 0: default (1024) */
    const char *cpuset_cpus;    /* NULL or "": all */
    int64_t pids_limit;         /* <= 0: none */
    bool devices_default;       /* deny all devices except Docker's default allow list */
};

/* Bounds of the lists in rt_cgroup_stats; what is past them is dropped. */
#define RT_CGROUP_STATS_MAX_KEYS 128 /* memory.stat has ~40 (v1) to ~70 (v2, 6.x) keys */
#define RT_CGROUP_STATS_MAX_DEVS 32
#define RT_CGROUP_STATS_MAX_CPUS 256

struct rt_cgroup_stat_kv {
    char key[40];
    uint64_t value;
};

struct rt_cgroup_io_dev {
    uint32_t major, minor;
    uint64_t read_bytes, write_bytes;
};

struct rt_cgroup_stats {
    uint64_t cpu_total_ns, cpu_user_ns, cpu_system_ns;
    uint64_t throttled_periods, throttled_time_ns, nr_periods;
    uint64_t memory_usage, memory_limit; /* limit: UINT64_MAX-like host total when none */
    uint64_t memory_inactive_file;
    uint64_t memory_max_usage;         /* v1 memory.max_usage_in_bytes; 0 on v2 */
    uint64_t pids_current, pids_limit; /* pids_limit 0: none */
    uint64_t io_read_bytes, io_write_bytes;
    uint64_t oom_kills;
    /* memory.stat as the kernel lists it (v1: cache, rss, total_inactive_file, ...; v2: anon,
     * file, inactive_file, ...): docker stats reads these keys by their kernel names. */
    struct rt_cgroup_stat_kv memory_stat[RT_CGROUP_STATS_MAX_KEYS];
    size_t n_memory_stat;
    /* Bytes read and written per block device (the totals above are their sums). */
    struct rt_cgroup_io_dev io_devs[RT_CGROUP_STATS_MAX_DEVS];
    size_t n_io_devs;
    /* v1 cpuacct.usage_percpu, ns per possible CPU; none on v2. */
    uint64_t cpu_percpu_ns[RT_CGROUP_STATS_MAX_CPUS];
    size_t n_percpu;
};

struct rt_cgroup;

/* Creates the container's cgroup (and the parent's directories, with cpuset.cpus/mems copied
 * down on v1) and applies limits. -EEXIST when it exists already; -EOPNOTSUPP with a message
 * naming the flag for a limit the host cannot enforce. Nothing is left behind on failure. */
int rt_cgroup_create(const struct rt_cgroup_info *info, const char *root, const char *parent,
                     const char *name, const struct rt_cgroup_limits *lim, struct rt_cgroup **ret,
                     struct iso_err *err);

/* Opens an existing container cgroup (after an isod restart). -ENOENT when it is gone. */
int rt_cgroup_open(const struct rt_cgroup_info *info, const char *root, const char *parent,
                   const char *name, struct rt_cgroup **ret, struct iso_err *err);

/* The cgroup.procs files a process must be written to (borrowed, NULL-terminated). */
const char *const *rt_cgroup_procs_files(const struct rt_cgroup *cg);

/* Changes limits of a live cgroup (docker update); only the fields set are written. */
int rt_cgroup_update(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err);

/* Freezes (pause) or thaws, and returns when the kernel reports the new state. */
int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct iso_err *err);

/* Reads the counters; a controller or file the host lacks leaves its fields zero. */
int rt_cgroup_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *ret, struct iso_err *err);

/* The pids in the cgroup (for top), malloc'd. */
int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **ret, size_t *ret_n, struct iso_err *err);

/* SIGKILLs whatever is left in it (thawing first), then removes the directories. -EBUSY if
 * processes will not leave. */
int rt_cgroup_destroy(struct rt_cgroup *cg, struct iso_err *err);

/* Frees the handle (the cgroup stays). Takes NULL, returns NULL. */
struct rt_cgroup *rt_cgroup_free(struct rt_cgroup *cg);
