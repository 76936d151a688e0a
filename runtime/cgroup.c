#include "runtime/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#include "common/util.h"
#include "runtime/cgroup-internal.h"

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

/* ---- helpers shared by the backends ---- */

int rt_cg_write(const struct rt_cgroup *cg, const char *dir, const char *file, const char *value)
{
    _cleanup_close_ int fd = -1;
    char path[PATH_MAX];

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return -ENAMETOOLONG;
    /* cgroupfs ignores O_TRUNC; a fake tree needs it, and O_CREAT for files mkdir did not
     * make the way the kernel would. */
    fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC | (cg->fake ? O_CREAT : 0), 0644);
    if (fd < 0)
        return -errno;
    /* One write(2): cgroupfs parses each write as a whole value. */
    ssize_t n = RETRY_EINTR(write(fd, value, strlen(value)));
    if (n < 0)
        return -errno;
    if ((size_t)n != strlen(value))
        return -EIO;
    return 0;
}

int rt_cg_writef(const struct rt_cgroup *cg, const char *dir, const char *file, const char *fmt,
                 ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -EINVAL;
    return rt_cg_write(cg, dir, file, buf);
}

int rt_cg_read(const char *dir, const char *file, char **ret)
{
    char path[PATH_MAX];

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return -ENAMETOOLONG;
    return iso_read_file_at(AT_FDCWD, path, 1 << 20, ret, NULL);
}

static int parse_u64(const char *s, uint64_t *ret)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    if (strneq(s, "max", 3)) {
        *ret = UINT64_MAX;
        return 0;
    }
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    uint64_t v = strtoull(s, &end, 10);
    if (errno != 0)
        return -errno;
    if (*end != '\0' && *end != '\n' && *end != ' ')
        return -EINVAL;
    *ret = v;
    return 0;
}

int rt_cg_read_u64(const char *dir, const char *file, uint64_t *ret)
{
    _cleanup_free_ char *s = NULL;

    int r = rt_cg_read(dir, file, &s);
    if (r < 0)
        return r;
    return parse_u64(s, ret);
}

int rt_cg_write_limit(const struct rt_cgroup *cg, const char *dir, const char *file,
                      const char *flag, const char *value, struct iso_err *err)
{
    int r = rt_cg_write(cg, dir, file, value);

    if (r < 0)
        return iso_err_set_errno(err, -r, "%s: write '%s' to '%s/%s'", flag, value, dir, file);
    return 0;
}

int rt_cg_read_stat(const char *dir, const char *file, char **ret, struct iso_err *err)
{
    int r;

    *ret = NULL;
    r = rt_cg_read(dir, file, ret);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return iso_err_set_errno(err, -r, "read '%s/%s'", dir, file);
    return 0;
}

int rt_cg_keyed_u64(const char *text, const char *key, uint64_t *ret)
{
    size_t n = strlen(key);

    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strneq(line, key, n) && line[n] == ' ')
            return parse_u64(line + n + 1, ret);
    return -ENOENT;
}

bool rt_cg_exists(const char *dir, const char *file)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

void rt_cg_parse_memory_stat(const char *text, struct rt_cgroup_stats *st)
{
    for (const char *line = text; line && *line && st->n_memory_stat < RT_CGROUP_STATS_MAX_KEYS;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        struct rt_cgroup_stat_kv *kv = &st->memory_stat[st->n_memory_stat];
        size_t klen = strcspn(line, " \n");
        char *end;

        if (klen == 0 || klen >= sizeof(kv->key) || line[klen] != ' ')
            continue;
        errno = 0;
        unsigned long long v = strtoull(line + klen + 1, &end, 10);
        if (errno || end == line + klen + 1)
            continue;
        memcpy(kv->key, line, klen);
        kv->key[klen] = '\0';
        kv->value = v;
        st->n_memory_stat++;
    }
}

void rt_cg_add_io(struct rt_cgroup_stats *st, uint32_t major, uint32_t minor, uint64_t rd,
                  uint64_t wr)
{
    size_t i;

    st->io_read_bytes += rd;
    st->io_write_bytes += wr;
    for (i = 0; i < st->n_io_devs; i++)
        if (st->io_devs[i].major == major && st->io_devs[i].minor == minor)
            break;
    if (i == st->n_io_devs) {
        if (i == RT_CGROUP_STATS_MAX_DEVS)
            return;
        st->io_devs[i] = (struct rt_cgroup_io_dev){.major = major, .minor = minor};
        st->n_io_devs++;
    }
    st->io_devs[i].read_bytes += rd;
    st->io_devs[i].write_bytes += wr;
}

int rt_cg_read_pids(const char *procs, pid_t **ret, size_t *ret_n)
{
    _cleanup_free_ char *s = NULL;
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0, cap = 0;

    int r = iso_read_file_at(AT_FDCWD, procs, 16 << 20, &s, NULL);
    if (r < 0)
        return r;
    for (char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        p = end;
        if (v <= 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            pid_t *np = realloc(pids, cap * sizeof(*pids));
            if (!np)
                return -ENOMEM;
            pids = np;
        }
        pids[n++] = (pid_t)v;
    }
    *ret = TAKE_PTR(pids);
    *ret_n = n;
    return 0;
}

int rt_cg_mkdir(const struct rt_cgroup *cg, struct rt_cg_undo *u, const char *path,
                bool must_be_new)
{
    if (mkdir(path, 0755) < 0) {
        if (errno != EEXIST || must_be_new)
            return -errno;
        return 0;
    }
    char **np = realloc(u->paths, (u->n + 1) * sizeof(*np));
    char *copy = strdup(path);
    if (np)
        u->paths = np;
    if (!np || !copy) {
        free(copy);
        (void)rt_cg_rmdir(cg, path);
        return -ENOMEM;
    }
    u->paths[u->n++] = copy;
    return 0;
}

void rt_cg_undo_run(const struct rt_cgroup *cg, struct rt_cg_undo *u)
{
    while (u->n > 0) {
        char *p = u->paths[--u->n];
        (void)rt_cg_rmdir(cg, p);
        free(p);
    }
}

void rt_cg_undo_clear(struct rt_cg_undo *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->paths[i]);
    free(u->paths);
    u->paths = NULL;
    u->n = 0;
}

int rt_cg_rmdir(const struct rt_cgroup *cg, const char *path)
{
    if (cg->fake) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)))
                if (de->d_type == DT_REG)
                    (void)unlinkat(dirfd(d), de->d_name, 0);
            closedir(d);
        }
    }
    if (rmdir(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

void rt_cg_pause(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000000L};

    (void)nanosleep(&ts, NULL);
}

/* Appends the pids of dir/cgroup.procs and of every cgroup below dir: a container may have
 * made cgroups of its own (systemd inside, docker-in-docker). */
static int collect_pids(const char *dir, int depth, pid_t **pids, size_t *n)
{
    _cleanup_free_ pid_t *own = NULL;
    char path[PATH_MAX];
    size_t nown = 0;

    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    int r = rt_cg_read_pids(path, &own, &nown);
    if (r < 0)
        return r;
    if (nown > 0) {
        pid_t *np = realloc(*pids, (*n + nown) * sizeof(*np));
        if (!np)
            return -ENOMEM;
        memcpy(np + *n, own, nown * sizeof(*np));
        *pids = np;
        *n += nown;
    }
    if (depth >= 32)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        r = collect_pids(path, depth + 1, pids, n);
        /* A child cgroup may go away under us. */
        if (r < 0 && r != -ENOENT) {
            closedir(d);
            return r;
        }
    }
    closedir(d);
    return 0;
}

int rt_cg_kill_wait(const struct rt_cgroup *cg, const char *dir, bool only_wait,
                    struct iso_err *err)
{
    uint64_t deadline = iso_now_mono_ns() + RT_CG_KILL_TIMEOUT_NS;

    if (cg->fake)
        return 0;
    for (;;) {
        pid_t *pids = NULL;
        size_t n = 0;
        int r = collect_pids(dir, 0, &pids, &n);
        pid_t first = r >= 0 && n > 0 ? pids[0] : 0;
        /* A pid read here can exit and be reused before the kill: cgroup.kill (v2, 5.14)
         * is the race-free way, and the v2 backend uses it when it exists. */
        if (r >= 0 && !only_wait)
            for (size_t i = 0; i < n; i++)
                (void)kill(pids[i], SIGKILL);
        free(pids);
        if (r == -ENOENT)
            return 0;
        if (r < 0)
            return iso_err_set_errno(err, -r, "read the processes of '%s'", dir);
        if (n == 0)
            return 0;
        if (iso_now_mono_ns() > deadline)
            return iso_err_set(err, EBUSY, "%zu processes (pid %d, ...) will not leave '%s'", n,
                               (int)first, dir);
        rt_cg_pause();
    }
}

int rt_cg_rmdir_tree(const struct rt_cgroup *cg, const char *path, int depth)
{
    DIR *d = depth < 32 ? opendir(path) : NULL;

    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            char child[PATH_MAX];
            if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                continue;
            snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
            int r = rt_cg_rmdir_tree(cg, child, depth + 1);
            if (r < 0) {
                closedir(d);
                return r;
            }
        }
        closedir(d);
    }
    return rt_cg_rmdir(cg, path);
}

uint64_t rt_cg_host_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

    if (pages <= 0 || size <= 0)
        return UINT64_MAX;
    return (uint64_t)pages * (uint64_t)size;
}

bool rt_cg_on_fs(const char *path, unsigned long magic)
{
    struct statfs sfs;

    return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == magic;
}

int rt_cg_unsupported(struct iso_err *err, const char *flag, const char *controller)
{
    return iso_err_set(err, EOPNOTSUPP, "%s: the %s cgroup controller is not available", flag,
                       controller);
}

int rt_cg_check_limits(const struct rt_cgroup_info *info, const struct rt_cgroup_limits *lim,
                       bool create, struct iso_err *err)
{
    if (lim->memory < 0 || lim->memory_reservation < 0 || lim->nano_cpus < 0 ||
        lim->cpu_shares < 0 || lim->memory_swap < -1)
        return iso_err_set(err, EINVAL, "negative resource limit");
    if (lim->memory > 0 && !info->memory)
        return rt_cg_unsupported(err, "--memory", "memory");
    if (lim->memory_reservation > 0 && !info->memory)
        return rt_cg_unsupported(err, "--memory-reservation", "memory");
    if (lim->memory_swap > 0) {
        if (!info->memory)
            return rt_cg_unsupported(err, "--memory-swap", "memory");
        if (!info->swap)
            return iso_err_set(err, EOPNOTSUPP,
                               "--memory-swap: the kernel does not account swap in cgroups "
                               "on this host (swapaccount=1 missing)");
        if (create && lim->memory == 0)
            return iso_err_set(err, EINVAL, "--memory-swap: needs --memory as well");
        if (lim->memory > lim->memory_swap)
            return iso_err_set(err, EINVAL,
                               "--memory-swap: must be at least --memory (memory plus swap)");
    }
    if (lim->nano_cpus > 0 && !info->cpu_cfs)
        return rt_cg_unsupported(err, "--cpus", "cpu");
    if (lim->cpu_shares > 0 && !info->cpu_shares)
        return rt_cg_unsupported(err, "--cpu-shares", "cpu");
    if (lim->cpuset_cpus && *lim->cpuset_cpus && !info->cpuset)
        return rt_cg_unsupported(err, "--cpuset-cpus", "cpuset");
    if (lim->pids_limit > 0 && !info->pids)
        return rt_cg_unsupported(err, "--pids-limit", "pids");
    return 0;
}

const char *const *rt_cg_default_devices(void)
{
    /* Docker's default: mknod of anything, and the usual character devices (null, zero,
     * full, random, urandom, tty, console, ptmx, the ptys, tun). */
    static const char *const list[] = {
        "c *:* m",     "b *:* m",      "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",
        "c 1:8 rwm",   "c 1:9 rwm",    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",
        "c 136:* rwm", "c 10:200 rwm", NULL,
    };
    return list;
}

/* ---- dispatcher ---- */

/* name is one path component; parent is "" or relative components, no "." or "..". */
static bool valid_component(const char *s, size_t n)
{
    return n > 0 && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

static bool valid_names(const char *parent, const char *name)
{
    if (!name || !valid_component(name, strlen(name)) || strchr(name, '/'))
        return false;
    if (!parent || !*parent)
        return true;
    if (parent[0] == '/')
        return false;
    for (const char *p = parent;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!valid_component(p, n))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static int cg_new(const struct rt_cgroup_info *info, const char *root, const char *parent,
                  const char *name, struct rt_cgroup **ret, struct iso_err *err)
{
    /* Constant returns, not iso_err_set()'s, so the analyzer sees *ret set on success. */
    if (!valid_names(parent, name)) {
        (void)iso_err_set(err, EINVAL, "invalid cgroup name '%s/%s'", parent ? parent : "",
                          name ? name : "");
        return -EINVAL;
    }
    struct rt_cgroup *cg = calloc(1, sizeof(*cg));
    if (!cg) {
        (void)iso_err_set(err, ENOMEM, "out of memory");
        return -ENOMEM;
    }
    cg->info = *info;
    cg->ops = info->mode == RT_CGROUP_V2 ? rt_cg_v2_ops() : rt_cg_v1_ops();
    cg->root = strdup(root);
    cg->parent = strdup(parent ? parent : "");
    cg->name = strdup(name);
    if (!cg->root || !cg->parent || !cg->name) {
        rt_cgroup_free(cg);
        (void)iso_err_set(err, ENOMEM, "out of memory");
        return -ENOMEM;
    }
    int r = cg->ops->init(cg, err);
    if (r < 0) {
        rt_cgroup_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

int rt_cgroup_create(const struct rt_cgroup_info *info, const char *root, const char *parent,
                     const char *name, const struct rt_cgroup_limits *lim, struct rt_cgroup **ret,
                     struct iso_err *err)
{
    static const struct rt_cgroup_limits none = {0};
    struct rt_cgroup *cg = NULL;

    int r = cg_new(info, root, parent, name, &cg, err);
    if (r < 0)
        return r;
    r = cg->ops->create(cg, lim ? lim : &none, err);
    if (r < 0) {
        rt_cgroup_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

int rt_cgroup_open(const struct rt_cgroup_info *info, const char *root, const char *parent,
                   const char *name, struct rt_cgroup **ret, struct iso_err *err)
{
    struct rt_cgroup *cg = NULL;

    int r = cg_new(info, root, parent, name, &cg, err);
    if (r < 0)
        return r;
    r = cg->ops->open(cg, err);
    if (r < 0) {
        rt_cgroup_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

const char *const *rt_cgroup_procs_files(const struct rt_cgroup *cg)
{
    return (const char *const *)cg->procs;
}

int rt_cgroup_update(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err)
{
    return cg->ops->update(cg, lim, err);
}

int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct iso_err *err)
{
    return cg->ops->freeze(cg, frozen, err);
}

int rt_cgroup_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *ret, struct iso_err *err)
{
    struct rt_cgroup_stats st = {0};

    int r = cg->ops->stats(cg, &st, err);
    if (r < 0)
        return r;
    *ret = st;
    return 0;
}

int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **ret, size_t *ret_n, struct iso_err *err)
{
    /* Every directory holds the same processes; the first will do. */
    if (!cg->procs[0])
        return iso_err_set(err, ENOENT, "cgroup '%s' has no directories", cg->name);
    int r = rt_cg_read_pids(cg->procs[0], ret, ret_n);
    if (r < 0)
        return iso_err_set_errno(err, -r, "read '%s'", cg->procs[0]);
    return 0;
}

int rt_cgroup_destroy(struct rt_cgroup *cg, struct iso_err *err)
{
    return cg->ops->destroy(cg, err);
}

struct rt_cgroup *rt_cgroup_free(struct rt_cgroup *cg)
{
    if (!cg)
        return NULL;
    for (size_t i = 0; i < RT_CG_N; i++) {
        free(cg->dir[i]);
        free(cg->procs[i]);
    }
    free(cg->root);
    free(cg->parent);
    free(cg->name);
    free(cg);
    return NULL;
}
