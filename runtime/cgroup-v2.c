/* cgroup v2 backend: one directory, <root>/<parent>/<name>, with the controllers enabled in
 * the subtree_control of every directory above it. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/util.h"
#include "runtime/cgroup-internal.h"

#define CPU_PERIOD_US 100000

static int v2_init(struct rt_cgroup *cg, struct iso_err *err)
{
    if (*cg->parent)
        cg->dir[0] = iso_strprintf("%s/%s/%s", cg->root, cg->parent, cg->name);
    else
        cg->dir[0] = iso_strprintf("%s/%s", cg->root, cg->name);
    cg->procs[0] = iso_strprintf("%s/cgroup.procs", cg->dir[0] ? cg->dir[0] : "");
    if (!cg->dir[0] || !cg->procs[0])
        return iso_err_set(err, ENOMEM, "out of memory");
    cg->own[0] = true;
    cg->fake = !rt_cg_on_fs(cg->root, CGROUP2_SUPER_MAGIC);
    return 0;
}

struct controller {
    const char *name;
    bool have;   /* the host offers it */
    bool needed; /* a limit uses it: failing to enable it is an error */
};

static size_t controllers(const struct rt_cgroup *cg, const struct rt_cgroup_limits *lim,
                          struct controller ret[5])
{
    size_t n = 0;

    ret[n++] = (struct controller){"cpu", cg->info.cpu_cfs || cg->info.cpu_shares,
                                   lim->nano_cpus > 0 || lim->cpu_shares > 0};
    ret[n++] =
        (struct controller){"memory", cg->info.memory,
                            lim->memory > 0 || lim->memory_reservation > 0 || lim->memory_swap > 0};
    ret[n++] = (struct controller){"pids", cg->info.pids, lim->pids_limit > 0};
    ret[n++] =
        (struct controller){"cpuset", cg->info.cpuset, lim->cpuset_cpus && *lim->cpuset_cpus};
    ret[n++] = (struct controller){"io", cg->info.io, false};
    return n;
}

/* Enables the controllers for the children of dir: all at once, and one at a time when that
 * fails, so that one the kernel refuses (cpuset with a busy parent, say) costs only its own
 * limits. */
static int enable_controllers(struct rt_cgroup *cg, const char *dir,
                              const struct rt_cgroup_limits *lim, struct iso_err *err)
{
    struct controller c[5];
    size_t n = controllers(cg, lim, c);
    char all[128] = "";
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        if (c[i].have)
            len +=
                (size_t)snprintf(all + len, sizeof(all) - len, "%s+%s", len ? " " : "", c[i].name);
    if (!*all || rt_cg_write(cg, dir, "cgroup.subtree_control", all) == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].have)
            continue;
        int r = rt_cg_writef(cg, dir, "cgroup.subtree_control", "+%s", c[i].name);
        if (r < 0 && c[i].needed)
            return iso_err_set_errno(err, -r, "enable the %s controller in '%s'", c[i].name, dir);
    }
    return 0;
}

static int write_limit(struct rt_cgroup *cg, const char *file, const char *flag, const char *value,
                       struct iso_err *err)
{
    return rt_cg_write_limit(cg, cg->dir[0], file, flag, value, err);
}

/* Docker (and crun) map cpu.shares [2, 262144] linearly onto cpu.weight [1, 10000]. */
static uint64_t shares_to_weight(int64_t shares)
{
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((uint64_t)(shares - 2) * 9999) / 262142;
}

/* ---- the device filter: v2 has no devices files; the kernel asks a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup instead (Linux 4.15). ---- */

#define DEVICE_PROG_MAX 256

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* One rule in devices.allow syntax ("c 1:3 rwm", "b *:* m") to its parts; -1 for '*'. */
static int parse_rule(const char *rule, int *type, int64_t *major, int64_t *minor, int *access)
{
    char t, maj[16], min[16], acc[8];

    if (sscanf(rule, "%c %15[^:]:%15s %7s", &t, maj, min, acc) != 4)
        return -EINVAL;
    *type = t == 'c' ? BPF_DEVCG_DEV_CHAR : t == 'b' ? BPF_DEVCG_DEV_BLOCK : 0;
    *major = streq(maj, "*") ? -1 : strtoll(maj, NULL, 10);
    *minor = streq(min, "*") ? -1 : strtoll(min, NULL, 10);
    *access = 0;
    for (const char *a = acc; *a; a++)
        *access |= *a == 'r'   ? BPF_DEVCG_ACC_READ
                   : *a == 'w' ? BPF_DEVCG_ACC_WRITE
                   : *a == 'm' ? BPF_DEVCG_ACC_MKNOD
                               : 0;
    return 0;
}

/* The program runc and crun generate: load type, access, major and minor into r2..r5, then
 * per allowed rule a block of tests that each jump to the next block on a mismatch and
 * return 1 at the end; after the last block, return 0 (deny). */
static int device_prog(struct bpf_insn *p, size_t max, size_t *ret_n)
{
    size_t n = 0;

    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0); /* access_type */
    p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0);
    p[n++] = insn(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);
    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0); /* major */
    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0); /* minor */
    for (const char *const *d = rt_cg_default_devices(); *d; d++) {
        int type, access;
        int64_t major, minor;
        size_t jumps[4], nj = 0;

        if (parse_rule(*d, &type, &major, &minor, &access) < 0)
            return -EINVAL;
        if (n + 9 > max)
            return -E2BIG;
        if (type) {
            jumps[nj++] = n;
            p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, type);
        }
        if (access != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
            /* Everything asked for must be allowed: (access & ~allowed) == 0. */
            p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0);
            p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, ~access & 7);
            jumps[nj++] = n;
            p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0);
        }
        if (major >= 0) {
            jumps[nj++] = n;
            p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)major);
        }
        if (minor >= 0) {
            jumps[nj++] = n;
            p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)minor);
        }
        p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
        p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        for (size_t j = 0; j < nj; j++)
            p[jumps[j]].off = (int16_t)(n - jumps[j] - 1);
    }
    if (n + 2 > max)
        return -E2BIG;
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
    p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    *ret_n = n;
    return 0;
}

static int set_device_filter(struct rt_cgroup *cg, struct iso_err *err)
{
    struct bpf_insn prog[DEVICE_PROG_MAX];
    char log[4096] = "";
    size_t n = 0;
    _cleanup_close_ int prog_fd = -1, dir_fd = -1;

    /* A scratch tree is no cgroup to attach to. */
    if (cg->fake)
        return 0;
    int r = device_prog(prog, ARRAY_SIZE(prog), &n);
    if (r < 0)
        return iso_err_set_errno(err, -r, "devices: build the device filter");

    union bpf_attr load = {
        .prog_type = BPF_PROG_TYPE_CGROUP_DEVICE,
        .insns = (uint64_t)(uintptr_t)prog,
        .insn_cnt = (uint32_t)n,
        .license = (uint64_t)(uintptr_t) "Apache-2.0",
    };
    prog_fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
    if (prog_fd < 0) {
        int saved = errno;
        /* Again with the verifier's log for the message: asking for it up front fails
         * the load with ENOSPC when the log outgrows the buffer. */
        load.log_buf = (uint64_t)(uintptr_t)log;
        load.log_size = sizeof(log);
        load.log_level = 1;
        int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
        if (fd >= 0)
            close(fd);
        return iso_err_set_errno(err, saved, "devices: load the device filter%s%.200s",
                                 *log ? ": " : "", log);
    }
    dir_fd = open(cg->dir[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return iso_err_set_errno(err, errno, "open '%s'", cg->dir[0]);
    /* The attachment holds the program for as long as the cgroup lives: no pin, no fd to
     * keep. ALLOW_MULTI, so that a program of a parent (systemd's) keeps running too. */
    union bpf_attr attach = {
        .target_fd = (uint32_t)dir_fd,
        .attach_bpf_fd = (uint32_t)prog_fd,
        .attach_type = BPF_CGROUP_DEVICE,
        .attach_flags = BPF_F_ALLOW_MULTI,
    };
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) < 0)
        return iso_err_set_errno(err, errno, "devices: attach the device filter to '%s'",
                                 cg->dir[0]);
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
    if (lim->memory > 0) {
        snprintf(v, sizeof(v), "%" PRId64, lim->memory);
        r = write_limit(cg, "memory.max", "--memory", v, err);
        if (r < 0)
            return r;
    }
    /* v2 limits swap alone, Docker's --memory-swap is memory plus swap. */
    int64_t swap = 0;
    if (lim->memory_swap > 0) {
        int64_t mem = lim->memory;
        if (mem == 0) {
            uint64_t cur = 0;
            r = rt_cg_read_u64(cg->dir[0], "memory.max", &cur);
            if (r < 0 || cur > INT64_MAX)
                return iso_err_set(err, EINVAL, "--memory-swap: needs --memory as well");
            mem = (int64_t)cur;
        }
        if (lim->memory_swap < mem)
            return iso_err_set(err, EINVAL,
                               "--memory-swap: must be at least --memory (memory plus swap)");
        swap = lim->memory_swap - mem;
        snprintf(v, sizeof(v), "%" PRId64, swap);
    } else if (lim->memory_swap == -1) {
        swap = -1;
        snprintf(v, sizeof(v), "max");
    } else if (create && lim->memory > 0) {
        /* Unset: Docker's twice --memory, that is as much swap as memory. */
        swap = lim->memory;
        snprintf(v, sizeof(v), "%" PRId64, swap);
    }
    if (swap != 0 && cg->info.swap) {
        r = write_limit(cg, "memory.swap.max", "--memory-swap", v, err);
        if (r < 0)
            return r;
    }
    if (lim->memory_reservation > 0) {
        snprintf(v, sizeof(v), "%" PRId64, lim->memory_reservation);
        r = write_limit(cg, "memory.low", "--memory-reservation", v, err);
        if (r < 0)
            return r;
    }
    if (lim->nano_cpus > 0) {
        snprintf(v, sizeof(v), "%" PRId64 " %d", lim->nano_cpus * CPU_PERIOD_US / 1000000000,
                 CPU_PERIOD_US);
        r = write_limit(cg, "cpu.max", "--cpus", v, err);
        if (r < 0)
            return r;
    }
    if (lim->cpu_shares > 0) {
        snprintf(v, sizeof(v), "%" PRIu64, shares_to_weight(lim->cpu_shares));
        r = write_limit(cg, "cpu.weight", "--cpu-shares", v, err);
        if (r < 0)
            return r;
    }
    if (lim->cpuset_cpus && *lim->cpuset_cpus) {
        r = write_limit(cg, "cpuset.cpus", "--cpuset-cpus", lim->cpuset_cpus, err);
        if (r < 0)
            return r;
    }
    if (lim->pids_limit > 0 || (!create && lim->pids_limit < 0)) {
        if (lim->pids_limit > 0)
            snprintf(v, sizeof(v), "%" PRId64, lim->pids_limit);
        else
            snprintf(v, sizeof(v), "max");
        r = write_limit(cg, "pids.max", "--pids-limit", v, err);
        if (r < 0)
            return r;
    }
    /* Only at create: a second program on update would change nothing. */
    if (lim->devices_default && create) {
        r = set_device_filter(cg, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int v2_create(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err)
{
    struct rt_cg_undo u = {0};
    char path[PATH_MAX];
    const char *p = cg->parent;
    int r;

    r = rt_cg_check_limits(&cg->info, lim, true, err);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s", cg->root);
    for (bool last = false; !last;) {
        r = enable_controllers(cg, path, lim, err);
        if (r < 0)
            goto fail;
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
        if (len + 1 + n >= sizeof(path)) {
            r = iso_err_set(err, ENAMETOOLONG, "cgroup path too long");
            goto fail;
        }
        path[len] = '/';
        memcpy(path + len + 1, comp, n);
        path[len + 1 + n] = '\0';
        r = rt_cg_mkdir(cg, &u, path, last);
        if (r == -EEXIST) {
            r = iso_err_set(err, EEXIST, "cgroup '%s' exists already", path);
            goto fail;
        }
        if (r < 0) {
            r = iso_err_set_errno(err, -r, "mkdir '%s'", path);
            goto fail;
        }
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

static int v2_open(struct rt_cgroup *cg, struct iso_err *err)
{
    if (access(cg->dir[0], F_OK) < 0)
        return iso_err_set_errno(err, errno, "cgroup '%s'", cg->dir[0]);
    return 0;
}

static int v2_update(struct rt_cgroup *cg, const struct rt_cgroup_limits *lim, struct iso_err *err)
{
    return set_limits(cg, lim, false, err);
}

static int v2_freeze(struct rt_cgroup *cg, bool frozen, struct iso_err *err)
{
    uint64_t deadline = iso_now_mono_ns() + RT_CG_FREEZE_TIMEOUT_NS;
    const char *dir = cg->dir[0];

    int r = rt_cg_write(cg, dir, "cgroup.freeze", frozen ? "1" : "0");
    if (r < 0)
        return iso_err_set_errno(err, -r, "write '%s/cgroup.freeze'", dir);
    if (cg->fake)
        return 0;
    /* cgroup.freeze is a request; cgroup.events says "frozen 1" once every task stopped. */
    for (;;) {
        _cleanup_free_ char *events = NULL;
        uint64_t state = 0;

        r = rt_cg_read(dir, "cgroup.events", &events);
        if (r < 0)
            return iso_err_set_errno(err, -r, "read '%s/cgroup.events'", dir);
        if (rt_cg_keyed_u64(events, "frozen", &state) == 0 && state == (frozen ? 1 : 0))
            return 0;
        if (iso_now_mono_ns() > deadline)
            return iso_err_set(err, EBUSY, "'%s' does not become %s", dir,
                               frozen ? "frozen" : "thawed");
        rt_cg_pause();
    }
}

static int stat_read(struct rt_cgroup *cg, const char *file, char **ret, struct iso_err *err)
{
    return rt_cg_read_stat(cg->dir[0], file, ret, err);
}

static void get(const char *text, const char *key, uint64_t *ret)
{
    if (text)
        (void)rt_cg_keyed_u64(text, key, ret);
}

static int v2_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct iso_err *err)
{
    _cleanup_free_ char *cpu = NULL, *mem = NULL, *memmax = NULL, *memstat = NULL, *events = NULL,
                        *pcur = NULL, *pmax = NULL, *io = NULL;
    uint64_t v;
    int r;

    if ((r = stat_read(cg, "cpu.stat", &cpu, err)) < 0 ||
        (r = stat_read(cg, "memory.current", &mem, err)) < 0 ||
        (r = stat_read(cg, "memory.max", &memmax, err)) < 0 ||
        (r = stat_read(cg, "memory.stat", &memstat, err)) < 0 ||
        (r = stat_read(cg, "memory.events", &events, err)) < 0 ||
        (r = stat_read(cg, "pids.current", &pcur, err)) < 0 ||
        (r = stat_read(cg, "pids.max", &pmax, err)) < 0 ||
        (r = stat_read(cg, "io.stat", &io, err)) < 0)
        return r;

    v = 0;
    get(cpu, "usage_usec", &v);
    st->cpu_total_ns = v * 1000;
    v = 0;
    get(cpu, "user_usec", &v);
    st->cpu_user_ns = v * 1000;
    v = 0;
    get(cpu, "system_usec", &v);
    st->cpu_system_ns = v * 1000;
    get(cpu, "nr_periods", &st->nr_periods);
    get(cpu, "nr_throttled", &st->throttled_periods);
    v = 0;
    get(cpu, "throttled_usec", &v);
    st->throttled_time_ns = v * 1000;
    if (mem)
        st->memory_usage = strtoull(mem, NULL, 10);
    uint64_t host = rt_cg_host_memory();
    st->memory_limit = host;
    if (memmax && !strneq(memmax, "max", 3)) {
        v = strtoull(memmax, NULL, 10);
        if (v < host)
            st->memory_limit = v;
    }
    get(memstat, "inactive_file", &st->memory_inactive_file);
    rt_cg_parse_memory_stat(memstat, st);
    get(events, "oom_kill", &st->oom_kills);
    if (pcur)
        st->pids_current = strtoull(pcur, NULL, 10);
    if (pmax && !strneq(pmax, "max", 3))
        st->pids_limit = strtoull(pmax, NULL, 10);
    /* "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
    for (const char *line = io; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        uint64_t rd = 0, wr = 0;
        unsigned major, minor;
        for (const char *f = line; f && f < line + len;
             f = memchr(f, ' ', (size_t)(line + len - f))) {
            while (*f == ' ')
                f++;
            if (strneq(f, "rbytes=", 7))
                rd = strtoull(f + 7, NULL, 10);
            else if (strneq(f, "wbytes=", 7))
                wr = strtoull(f + 7, NULL, 10);
        }
        if (sscanf(line, "%u:%u ", &major, &minor) == 2)
            rt_cg_add_io(st, major, minor, rd, wr);
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static int v2_destroy(struct rt_cgroup *cg, struct iso_err *err)
{
    const char *dir = cg->dir[0];
    int r;

    if (!cg->fake && access(dir, F_OK) == 0) {
        /* cgroup.kill (Linux 5.14) kills every task, forks in flight included, and reaches
         * frozen tasks; without it, thaw and kill pid by pid. */
        if (rt_cg_exists(dir, "cgroup.kill")) {
            r = rt_cg_write(cg, dir, "cgroup.kill", "1");
            if (r < 0)
                return iso_err_set_errno(err, -r, "write '%s/cgroup.kill'", dir);
            r = rt_cg_kill_wait(cg, dir, true, err);
            if (r == -EBUSY)
                r = rt_cg_kill_wait(cg, dir, false, err);
        } else {
            if (rt_cg_exists(dir, "cgroup.freeze"))
                (void)rt_cg_write(cg, dir, "cgroup.freeze", "0");
            r = rt_cg_kill_wait(cg, dir, false, err);
        }
        if (r < 0)
            return r;
    }
    r = rt_cg_rmdir_tree(cg, dir, 0);
    if (r < 0)
        return iso_err_set_errno(err, -r, "rmdir '%s'", dir);
    return 0;
}

const struct rt_cgroup_ops *rt_cg_v2_ops(void)
{
    static const struct rt_cgroup_ops ops = {
        .init = v2_init,
        .create = v2_create,
        .open = v2_open,
        .update = v2_update,
        .freeze = v2_freeze,
        .stats = v2_stats,
        .destroy = v2_destroy,
    };
    return &ops;
}
