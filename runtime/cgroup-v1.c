/* cgroup v1 (and hybrid) backend: one directory per controller,
 * <root>/<controller>/<parent>/<name>. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "runtime/cgroup-internal.h"

#define CFS_PERIOD_US 100000

static const char *const controller_names[RT_CG_N] = {
    [RT_CG_MEMORY] = "memory", [RT_CG_CPU] = "cpu",         [RT_CG_CPUACCT] = "cpuacct",
    [RT_CG_CPUSET] = "cpuset", [RT_CG_PIDS] = "pids",       [RT_CG_FREEZER] = "freezer",
    [RT_CG_BLKIO] = "blkio",   [RT_CG_DEVICES] = "devices",
};

static char *join(const char *base, const char *parent, const char *name)
{
    if (*parent)
        return iso_strprintf("%s/%s/%s", base, parent, name);
    return iso_strprintf("%s/%s", base, name);
}

static int v1_init(struct rt_cgroup *cg, struct iso_err *err)
{
    struct stat seen[RT_CG_N];
    size_t nprocs = 0;
    bool any = false;

    for (size_t i = 0; i < RT_CG_N; i++) {
        char base[PATH_MAX];

        snprintf(base, sizeof(base), "%s/%s", cg->root, controller_names[i]);
        if (!rt_cg_exists(base, "cgroup.procs") || stat(base, &seen[i]) < 0) {
            seen[i].st_ino = 0;
            continue;
        }
        /* cpu and cpuacct are usually one hierarchy mounted at "cpu,cpuacct" with the two
         * names as symlinks: one directory serves both. */
        size_t same = RT_CG_N;
        for (size_t j = 0; j < i; j++)
            if (cg->dir[j] && seen[j].st_ino == seen[i].st_ino && seen[j].st_dev == seen[i].st_dev)
                same = j;
        if (same < RT_CG_N) {
            cg->dir[i] = strdup(cg->dir[same]);
            if (!cg->dir[i])
                return iso_err_set(err, ENOMEM, "out of memory");
            continue;
        }
        if (!any)
            cg->fake = !rt_cg_on_fs(base, CGROUP_SUPER_MAGIC);
        any = true;
        cg->dir[i] = join(base, cg->parent, cg->name);
        cg->procs[nprocs] = iso_strprintf("%s/cgroup.procs", cg->dir[i] ? cg->dir[i] : "");
        if (!cg->dir[i] || !cg->procs[nprocs])
            return iso_err_set(err, ENOMEM, "out of memory");
        nprocs++;
        cg->own[i] = true;
    }
    if (!any)
        return iso_err_set(err, ENOENT, "no cgroup v1 controllers under '%s'", cg->root);
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* A new cpuset directory starts with empty cpus and mems, and the kernel refuses tasks
 * until both are set: copy them down from the nearest parent. */
static int cpuset_copy_down(struct rt_cgroup *cg, const char *parent, const char *dir,
                            struct iso_err *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *own = NULL, *up = NULL;

        int r = rt_cg_read(dir, files[i], &own);
        if (r < 0 && r != -ENOENT)
            return iso_err_set_errno(err, -r, "read '%s/%s'", dir, files[i]);
        if (own)
            trim(own);
        if (own && *own)
            continue;
        r = rt_cg_read(parent, files[i], &up);
        if (r < 0)
            return iso_err_set_errno(err, -r, "read '%s/%s'", parent, files[i]);
        trim(up);
        r = rt_cg_write(cg, dir, files[i], up);
        if (r < 0)
            return iso_err_set_errno(err, -r, "write '%s/%s'", dir, files[i]);
    }
    return 0;
}

/* mkdir <root>/<ctrl>/<parent components>/<name>; the last one must be new. */
static int make_dirs(struct rt_cgroup *cg, size_t ctrl, struct rt_cg_undo *u, struct iso_err *err)
{
    char path[PATH_MAX], prev[PATH_MAX];
    const char *p = cg->parent;

    snprintf(path, sizeof(path), "%s/%s", cg->root, controller_names[ctrl]);
    for (bool last = false; !last;) {
        const char *comp = p;
        size_t n;
        if (*p) {
            const char *slash = strchr(p, '/');
            n = slash ? (size_t)(slash - p) : strlen(p);
            p = slash ? slash + 1 : p + n;
        } else {
            comp = cg->name;
            n = strlen(comp);
            last = true;
        }
        size_t len = strlen(path);
        if (len + 1 + n >= sizeof(path))
            return iso_err_set(err, ENAMETOOLONG, "cgroup path too long");
        memcpy(prev, path, len + 1);
        path[len] = '/';
        memcpy(path + len + 1, comp, n);
        path[len + 1 + n] = '\0';

        int r = rt_cg_mkdir(cg, u, path, last);
        if (r == -EEXIST)
            return iso_err_set(err, EEXIST, "cgroup '%s' exists already", path);
        if (r < 0)
            return iso_err_set_errno(err, -r, "mkdir '%s'", path);
        if (ctrl == RT_CG_CPUSET) {
            r = cpuset_copy_down(cg, prev, path, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int write_limit(struct rt_cgroup *cg, size_t ctrl, const char *file, const char *flag,
                       const char *value, struct iso_err *err)
{
    if (!cg->dir[ctrl])
        return rt_cg_unsupported(err, flag, controller_names[ctrl]);
    return rt_cg_write_limit(cg, cg->dir[ctrl], file, flag, value, err);
}

static int set_memory(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, bool create,
                      struct iso_err *err)
{
    char mem[32], swap[32];
    int64_t memsw = lim->memory_swap;

    /* Docker's default for an unset --memory-swap is twice --memory, where the kernel
     * accounts swap; without swap accounting an unset or unlimited swap is just ignored. */
    if (create && memsw == 0 && lim->memory > 0 && cg->info.swap)
        memsw = lim->memory * 2;
    if (memsw == -1 && !cg->info.swap)
        memsw = 0;
    snprintf(mem, sizeof(mem), "%" PRId64, lim->memory);
    snprintf(swap, sizeof(swap), "%" PRId64, memsw);

    bool swap_done = false;
    if (lim->memory > 0) {
        if (!cg->dir[RT_CG_MEMORY])
            return rt_cg_unsupported(err, "--memory", "memory");
        int r = rt_cg_write(cg, cg->dir[RT_CG_MEMORY], "memory.limit_in_bytes", mem);
        /* The kernel keeps memory <= memory+swap at every step: raising both needs the
         * memsw limit first, lowering both the memory limit first. */
        if (r == -EINVAL && memsw != 0) {
            r = write_limit(cg, RT_CG_MEMORY, "memory.memsw.limit_in_bytes", "--memory-swap", swap,
                            err);
            if (r < 0)
                return r;
            swap_done = true;
            r = rt_cg_write(cg, cg->dir[RT_CG_MEMORY], "memory.limit_in_bytes", mem);
        }
        if (r == -EINVAL && memsw == 0 && !create)
            return iso_err_set(err, EINVAL,
                               "--memory: '%s' is above the current memory+swap limit; set "
                               "--memory-swap as well",
                               mem);
        if (r < 0)
            return iso_err_set_errno(err, -r, "--memory: write '%s' to '%s/%s'", mem,
                                     cg->dir[RT_CG_MEMORY], "memory.limit_in_bytes");
    }
    if (memsw != 0 && !swap_done) {
        int r = write_limit(cg, RT_CG_MEMORY, "memory.memsw.limit_in_bytes", "--memory-swap", swap,
                            err);
        if (r < 0)
            return r;
    }
    if (lim->memory_reservation > 0) {
        char v[32];
        snprintf(v, sizeof(v), "%" PRId64, lim->memory_reservation);
        int r = write_limit(cg, RT_CG_MEMORY, "memory.soft_limit_in_bytes", "--memory-reservation",
                            v, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int set_devices(struct rt_cgroup *cg, struct iso_err *err)
{
    /* A host without the devices controller cannot isolate devices at all; Docker runs
     * there too (rootless, some sandboxes), so this is not an error. */
    if (!cg->dir[RT_CG_DEVICES])
        return 0;
    int r = write_limit(cg, RT_CG_DEVICES, "devices.deny", "devices", "a", err);
    if (r < 0)
        return r;
    for (const char *const *d = rt_cg_default_devices(); *d; d++) {
        if (cg->fake) {
            /* A plain file would keep only the last write: append for the tests. */
            _cleanup_close_ int fd = -1;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/devices.allow", cg->dir[RT_CG_DEVICES]);
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0 || iso_write_all(fd, *d, strlen(*d)) < 0 || iso_write_all(fd, "\n", 1) < 0)
                return iso_err_set_errno(err, errno, "devices: write '%s'", path);
            continue;
        }
        r = write_limit(cg, RT_CG_DEVICES, "devices.allow", "devices", *d, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int set_limits(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, bool create,
                      struct iso_err *err)
{
    char v[64];
    int r;

    r = rt_cg_check_limits(&cg->info, lim, create, err);
    if (r < 0)
        return r;
    r = set_memory(cg, lim, create, err);
    if (r < 0)
        return r;
    if (lim->nano_cpus > 0) {
        snprintf(v, sizeof(v), "%d", CFS_PERIOD_US);
        r = write_limit(cg, RT_CG_CPU, "cpu.cfs_period_us", "--cpus", v, err);
        if (r < 0)
            return r;
        snprintf(v, sizeof(v), "%" PRId64, lim->nano_cpus * CFS_PERIOD_US / 1000000000);
        r = write_limit(cg, RT_CG_CPU, "cpu.cfs_quota_us", "--cpus", v, err);
        if (r < 0)
            return r;
    }
    if (lim->cpu_shares > 0) {
        snprintf(v, sizeof(v), "%" PRId64, lim->cpu_shares);
        r = write_limit(cg, RT_CG_CPU, "cpu.shares", "--cpu-shares", v, err);
        if (r < 0)
            return r;
    }
    if (lim->cpuset_cpus && *lim->cpuset_cpus) {
        r = write_limit(cg, RT_CG_CPUSET, "cpuset.cpus", "--cpuset-cpus", lim->cpuset_cpus, err);
        if (r < 0)
            return r;
    }
    if (lim->pids_limit != 0 && (create ? lim->pids_limit > 0 : true)) {
        /* On update a negative limit lifts it ("docker update --pids-limit -1"). */
        if (lim->pids_limit > 0)
            snprintf(v, sizeof(v), "%" PRId64, lim->pids_limit);
        else
            snprintf(v, sizeof(v), "max");
        r = write_limit(cg, RT_CG_PIDS, "pids.max", "--pids-limit", v, err);
        if (r < 0)
            return r;
    }
    if (lim->devices_default) {
        r = set_devices(cg, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int v1_create(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err)
{
    struct rt_cg_undo u = {0};
    int r;

    /* Refuse before touching anything. */
    r = rt_cg_check_limits(&cg->info, lim, true, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < RT_CG_N; i++) {
        if (!cg->own[i])
            continue;
        r = make_dirs(cg, i, &u, err);
        if (r < 0)
            goto fail;
    }
    r = set_limits(cg, lim, true, err);
    if (r < 0)
        goto fail;
    rt_cg_undo_clear(&u);
    return 0;
fail:
    rt_cg_undo_run(cg, &u);
    rt_cg_undo_clear(&u);
    return r;
}

static int v1_open(struct rt_cgroup *cg, struct iso_err *err)
{
    for (size_t i = 0; i < RT_CG_N; i++)
        if (cg->own[i] && access(cg->dir[i], F_OK) == 0)
            return 0;
    return iso_err_set(err, ENOENT, "cgroup '%s' does not exist", cg->name);
}

static int v1_update(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err)
{
    return set_limits(cg, lim, false, err);
}

static int v1_freeze(struct rt_cgroup *cg, bool frozen, struct iso_err *err)
{
    const char *want = frozen ? "FROZEN" : "THAWED";
    uint64_t deadline = iso_now_mono_ns() + RT_CG_FREEZE_TIMEOUT_NS;
    const char *dir = cg->dir[RT_CG_FREEZER];

    if (!dir)
        return rt_cg_unsupported(err, frozen ? "pause" : "unpause", "freezer");
    for (;;) {
        _cleanup_free_ char *state = NULL;

        /* Writing again is what runc does too: a task that was in the middle of a fork
         * can leave the cgroup in FREEZING until asked once more. */
        int r = rt_cg_write(cg, dir, "freezer.state", want);
        if (r < 0)
            return iso_err_set_errno(err, -r, "write '%s' to '%s/freezer.state'", want, dir);
        r = rt_cg_read(dir, "freezer.state", &state);
        if (r < 0)
            return iso_err_set_errno(err, -r, "read '%s/freezer.state'", dir);
        trim(state);
        if (streq(state, want))
            return 0;
        if (iso_now_mono_ns() > deadline)
            return iso_err_set(err, EBUSY, "'%s/freezer.state' stays '%s' instead of '%s'", dir,
                               state, want);
        rt_cg_pause();
    }
}

/* Reads a file of a controller for stats: a missing controller or file leaves zeros. */
static int stat_read(struct rt_cgroup *cg, size_t ctrl, const char *file, char **ret,
                     struct iso_err *err)
{
    *ret = NULL;
    return cg->dir[ctrl] ? rt_cg_read_stat(cg->dir[ctrl], file, ret, err) : 0;
}

static void get(const char *text, const char *key, uint64_t *ret)
{
    if (text)
        (void)rt_cg_keyed_u64(text, key, ret);
}

static void get_one(const char *text, uint64_t *ret)
{
    if (text)
        *ret = strtoull(text, NULL, 10);
}

static int v1_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct iso_err *err)
{
    _cleanup_free_ char *usage = NULL, *acct = NULL, *cpustat = NULL, *mem = NULL, *memlimit = NULL,
                        *memstat = NULL, *oom = NULL, *pcur = NULL, *pmax = NULL, *blkio = NULL,
                        *percpu = NULL, *memmax = NULL;
    int r;

    if ((r = stat_read(cg, RT_CG_CPUACCT, "cpuacct.usage", &usage, err)) < 0 ||
        (r = stat_read(cg, RT_CG_CPUACCT, "cpuacct.stat", &acct, err)) < 0 ||
        (r = stat_read(cg, RT_CG_CPU, "cpu.stat", &cpustat, err)) < 0 ||
        (r = stat_read(cg, RT_CG_MEMORY, "memory.usage_in_bytes", &mem, err)) < 0 ||
        (r = stat_read(cg, RT_CG_MEMORY, "memory.limit_in_bytes", &memlimit, err)) < 0 ||
        (r = stat_read(cg, RT_CG_MEMORY, "memory.stat", &memstat, err)) < 0 ||
        (r = stat_read(cg, RT_CG_MEMORY, "memory.oom_control", &oom, err)) < 0 ||
        (r = stat_read(cg, RT_CG_PIDS, "pids.current", &pcur, err)) < 0 ||
        (r = stat_read(cg, RT_CG_PIDS, "pids.max", &pmax, err)) < 0 ||
        (r = stat_read(cg, RT_CG_BLKIO, "blkio.throttle.io_service_bytes", &blkio, err)) < 0 ||
        (r = stat_read(cg, RT_CG_CPUACCT, "cpuacct.usage_percpu", &percpu, err)) < 0 ||
        (r = stat_read(cg, RT_CG_MEMORY, "memory.max_usage_in_bytes", &memmax, err)) < 0)
        return r;

    get_one(usage, &st->cpu_total_ns);
    if (acct) {
        /* cpuacct.stat counts USER_HZ ticks. */
        long hz = sysconf(_SC_CLK_TCK);
        uint64_t ns_per_tick = hz > 0 ? 1000000000ULL / (uint64_t)hz : 10000000ULL;
        uint64_t user = 0, sys = 0;
        get(acct, "user", &user);
        get(acct, "system", &sys);
        st->cpu_user_ns = user * ns_per_tick;
        st->cpu_system_ns = sys * ns_per_tick;
    }
    get(cpustat, "nr_periods", &st->nr_periods);
    get(cpustat, "nr_throttled", &st->throttled_periods);
    get(cpustat, "throttled_time", &st->throttled_time_ns);
    get_one(mem, &st->memory_usage);
    get_one(memlimit, &st->memory_limit);
    /* An unlimited v1 memory cgroup reads PAGE_COUNTER_MAX pages, about 2^63: report the
     * host's memory as Docker does. */
    uint64_t host = rt_cg_host_memory();
    if (!memlimit || st->memory_limit > host)
        st->memory_limit = host;
    get(memstat, "total_inactive_file", &st->memory_inactive_file);
    rt_cg_parse_memory_stat(memstat, st);
    get_one(memmax, &st->memory_max_usage);
    /* "123 456 " : one value per possible CPU. */
    for (char *p = percpu, *end; p && st->n_percpu < RT_CGROUP_STATS_MAX_CPUS; p = end) {
        uint64_t v = strtoull(p, &end, 10);
        if (end == p)
            break;
        st->cpu_percpu_ns[st->n_percpu++] = v;
    }
    /* "oom_kill" exists since Linux 4.13; memory.failcnt counts hits of the limit, which
     * reclaim usually resolves, so it is no OOM count. */
    get(oom, "oom_kill", &st->oom_kills);
    get_one(pcur, &st->pids_current);
    if (pmax && !strneq(pmax, "max", 3))
        get_one(pmax, &st->pids_limit);
    /* "8:0 Read 4096" per device and operation, then "Total N". */
    for (const char *line = blkio; line && *line;) {
        const char *op = strchr(line, ' ');
        const char *end = strchr(line, '\n');
        unsigned major, minor;
        if (op && (!end || op < end) && op[1] != '\0' &&
            sscanf(line, "%u:%u ", &major, &minor) == 2) {
            op++;
            if (strneq(op, "Read ", 5))
                rt_cg_add_io(st, major, minor, strtoull(op + 5, NULL, 10), 0);
            else if (strneq(op, "Write ", 6))
                rt_cg_add_io(st, major, minor, 0, strtoull(op + 6, NULL, 10));
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static int v1_destroy(struct rt_cgroup *cg, struct iso_err *err)
{
    int r;

    /* SIGKILL reaches a frozen v1 task only once it is thawed. */
    if (cg->dir[RT_CG_FREEZER] && access(cg->dir[RT_CG_FREEZER], F_OK) == 0) {
        r = v1_freeze(cg, false, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < RT_CG_N; i++) {
        if (!cg->own[i])
            continue;
        r = rt_cg_kill_wait(cg, cg->dir[i], false, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < RT_CG_N; i++) {
        if (!cg->own[i])
            continue;
        r = rt_cg_rmdir_tree(cg, cg->dir[i], 0);
        if (r < 0)
            return iso_err_set_errno(err, -r, "rmdir '%s'", cg->dir[i]);
    }
    return 0;
}

const struct rt_cgroup_ops *rt_cg_v1_ops(void)
{
    static const struct rt_cgroup_ops ops = {
        .init = v1_init,
        .create = v1_create,
        .open = v1_open,
        .update = v1_update,
        .freeze = v1_freeze,
        .stats = v1_stats,
        .destroy = v1_destroy,
    };
    return &ops;
}
