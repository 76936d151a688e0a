/* Shared between the cgroup dispatcher (cgroup.c) and its v1 and v2 backends. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "runtime/cgroup.h"

/* v1 controllers a container gets a directory in. On v2 only dir[0] is used. */
enum {
    RT_CG_MEMORY,
    RT_CG_CPU,
    RT_CG_CPUACCT,
    RT_CG_CPUSET,
    RT_CG_PIDS,
    RT_CG_FREEZER,
    RT_CG_BLKIO,
    RT_CG_DEVICES,
    RT_CG_N,
};

/* How long destroy waits for killed processes to leave, and freeze for the new state. */
#define RT_CG_KILL_TIMEOUT_NS   (2ULL * 1000000000ULL)
#define RT_CG_FREEZE_TIMEOUT_NS (5ULL * 1000000000ULL)

struct rt_cgroup_ops;

struct rt_cgroup {
    const struct rt_cgroup_ops *ops;
    struct rt_cgroup_info info;
    char *root, *parent, *name; /* parent may be "" */
    /* A scratch tree of plain directories, not a cgroupfs (tests): writes create missing
     * files, rmdir removes the regular files first, nothing waits on the kernel and no
     * process is ever signalled, since the pids in its files are fixtures. */
    bool fake;
    /* v1: the container's directory per controller, NULL when the host lacks it. v2: dir[0]. */
    char *dir[RT_CG_N];
    /* False for a controller whose directory is another's (cpuacct mounted with cpu). */
    bool own[RT_CG_N];
    char *procs[RT_CG_N + 1]; /* NULL-terminated cgroup.procs paths */
};

struct rt_cgroup_ops {
    /* Fills dir[], own[], procs[] and fake from root/parent/name; touches nothing. */
    int (*init)(struct rt_cgroup *cg, struct iso_err *err);
    int (*create)(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err);
    /* -ENOENT when none of the directories exists. */
    int (*open)(struct rt_cgroup *cg, struct iso_err *err);
    int (*update)(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err);
    int (*freeze)(struct rt_cgroup *cg, bool frozen, struct iso_err *err);
    int (*stats)(struct rt_cgroup *cg, struct rt_cgroup_stats *ret, struct iso_err *err);
    int (*destroy)(struct rt_cgroup *cg, struct iso_err *err);
};

const struct rt_cgroup_ops *rt_cg_v1_ops(void);
const struct rt_cgroup_ops *rt_cg_v2_ops(void);

/* Writes value to dir/file (creating the file only on a fake tree). Returns 0 or -errno. */
int rt_cg_write(const struct rt_cgroup *cg, const char *dir, const char *file, const char *value);
int rt_cg_writef(const struct rt_cgroup *cg, const char *dir, const char *file, const char *fmt,
                 ...) _printf_(4, 5);

/* rt_cg_write for a limit: the error names the flag that asked for it. */
int rt_cg_write_limit(const struct rt_cgroup *cg, const char *dir, const char *file,
                      const char *flag, const char *value, struct iso_err *err);

/* Reads dir/file whole into a malloc'd string. Returns 0 or -errno. */
int rt_cg_read(const char *dir, const char *file, char **ret);
/* rt_cg_read for stats: a file the kernel does not have leaves *ret NULL and is no error. */
int rt_cg_read_stat(const char *dir, const char *file, char **ret, struct iso_err *err);
/* A single number; "max" reads as UINT64_MAX. */
int rt_cg_read_u64(const char *dir, const char *file, uint64_t *ret);
/* In "key value" lines, the value of key; -ENOENT when the key is absent. */
int rt_cg_keyed_u64(const char *text, const char *key, uint64_t *ret);
bool rt_cg_exists(const char *dir, const char *file);

/* Fills st->memory_stat from the "key value" lines of memory.stat (NULL: none). */
void rt_cg_parse_memory_stat(const char *text, struct rt_cgroup_stats *st);
/* Adds read and write bytes of device major:minor to st (io_devs and the totals). */
void rt_cg_add_io(struct rt_cgroup_stats *st, uint32_t major, uint32_t minor, uint64_t rd,
                  uint64_t wr);

/* The pids listed in a cgroup.procs file, malloc'd. */
int rt_cg_read_pids(const char *procs, pid_t **ret, size_t *ret_n);

/* Directories made during create, removed in reverse on failure. */
struct rt_cg_undo {
    char **paths;
    size_t n;
};
/* mkdir path; an existing directory is fine unless must_be_new (then -EEXIST). */
int rt_cg_mkdir(const struct rt_cgroup *cg, struct rt_cg_undo *u, const char *path,
                bool must_be_new);
void rt_cg_undo_run(const struct rt_cgroup *cg, struct rt_cg_undo *u);
void rt_cg_undo_clear(struct rt_cg_undo *u);

/* rmdir; on a fake tree, the regular files inside are removed first. ENOENT is success. */
int rt_cg_rmdir(const struct rt_cgroup *cg, const char *path);

/* The same for dir and every directory below it, deepest first (destroy only: the undo of
 * create must never take a sibling's cgroup with it). */
int rt_cg_rmdir_tree(const struct rt_cgroup *cg, const char *path, int depth);

/* SIGKILLs (unless only_wait) every process in the cgroup dir and the cgroups below it until
 * none is left, for up to RT_CG_KILL_TIMEOUT_NS: -EBUSY if processes remain. Does nothing
 * on a fake tree. */
int rt_cg_kill_wait(const struct rt_cgroup *cg, const char *dir, bool only_wait,
                    struct iso_err *err);

/* The physical memory of the host, reported as the limit of an unlimited cgroup. */
uint64_t rt_cg_host_memory(void);

/* True when path is on a filesystem with the given magic. */
bool rt_cg_on_fs(const char *path, unsigned long magic);

/* Checks that the host has the controller every limit set in lim needs, and the values make
 * sense together: -EOPNOTSUPP naming the flag, or -EINVAL. */
int rt_cg_check_limits(const struct rt_cgroup_info *info, const struct rt_cgroup_limits *lim,
                       bool create, struct iso_err *err);

/* The flag named in messages about a limit. */
int rt_cg_unsupported(struct iso_err *err, const char *flag, const char *controller);

/* Sleeps a little between polls of a state the kernel has no notification for. */
void rt_cg_pause(void);

/* Docker's default device allow list in v1 devices.allow syntax, NULL-terminated. */
const char *const *rt_cg_default_devices(void);
