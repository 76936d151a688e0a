#include "runtime/confine-internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>

#include "common/util.h"
#include "runtime/caps.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child sends up the error pipe when it fails before exec. EOF without one means
 * the exec happened (the pipe is O_CLOEXEC). */
static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};
/* ---- the child: reporting ---- */

_noreturn_ void rt_child_send(struct rt_child *c, int code, int exit_code, const char *msg)
{
    struct rt_child_msg m = {.err = code < 0 ? -code : code, .exit_code = exit_code};

    if (m.err == 0)
        m.err = EIO;
    snprintf(m.msg, sizeof(m.msg), "%s", msg);
    (void)iso_write_all(c->errfd, &m, sizeof(m));
    _exit(exit_code);
}

/* Fails with Docker's 125 and "<step>: <strerror>". */
_noreturn_ _printf_(3, 4) void rt_child_die(struct rt_child *c, int code, const char *fmt, ...)
{
    char msg[ISO_ERR_MSG_MAX];
    va_list ap;

    if (code < 0)
        code = -code;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(code ? code : EIO));
    rt_child_send(c, code, 125, msg);
}

/* Same without the errno text. */
_noreturn_ _printf_(4, 5) void rt_child_fail(struct rt_child *c, int code, int exit_code,
                                             const char *fmt, ...)
{
    char msg[ISO_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rt_child_send(c, code, exit_code, msg);
}

/* ---- paths inside the new root ---- */

int rt_openat2_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* Opens path (O_PATH) inside the root, creating what is missing: directories, and the last
 * component as an empty file when file is set. A dangling symlink on the way is followed
 * inside the root, as Docker does, so nothing is ever created outside it. */
int rt_open_create_in_root(int rootfd, const char *path, bool file)
{
    char cur[PATH_MAX];

    size_t len = strlen(path);

    if (len >= sizeof(cur))
        return -ENAMETOOLONG;
    memcpy(cur, path, len + 1);
    for (int loops = 0; loops < 40; loops++) {
        char prefix[PATH_MAX] = "";
        size_t plen = 0;
        int fd = rt_openat2_in_root(rootfd, cur, O_PATH);
        if (fd != -ENOENT)
            return fd;

        int parent = rt_openat2_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
        if (parent < 0)
            return parent;
        for (const char *p = cur; *p;) {
            while (*p == '/')
                p++;
            if (!*p)
                break;
            const char *e = strchrnul(p, '/');
            size_t n = (size_t)(e - p);
            const char *rest = e;
            while (*rest == '/')
                rest++;
            bool last = *rest == '\0';
            char comp[NAME_MAX + 1];

            if (n > NAME_MAX || plen + 1 + n >= sizeof(prefix)) {
                close(parent);
                return -ENAMETOOLONG;
            }
            memcpy(comp, p, n);
            comp[n] = '\0';
            size_t parent_len = plen;
            prefix[plen++] = '/';
            memcpy(prefix + plen, comp, n + 1);
            plen += n;

            int next = rt_openat2_in_root(rootfd, prefix, O_PATH);
            if (next == -ENOENT) {
                int r;
                if (last && file) {
                    r = openat(parent, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                               0644);
                    if (r >= 0)
                        close(r);
                } else
                    r = mkdirat(parent, comp, 0755);
                if (r < 0 && errno == EEXIST) {
                    /* A dangling symlink: continue with its target, inside the root. */
                    char target[PATH_MAX], joined[PATH_MAX];
                    ssize_t tl = readlinkat(parent, comp, target, sizeof(target) - 1);
                    if (tl < 0) {
                        close(parent);
                        return -EEXIST;
                    }
                    target[tl] = '\0';
                    prefix[parent_len] = '\0';
                    int jl =
                        target[0] == '/'
                            ? snprintf(joined, sizeof(joined), "%s/%s", target, rest)
                            : snprintf(joined, sizeof(joined), "%s/%s/%s", prefix, target, rest);
                    if (jl < 0 || (size_t)jl >= sizeof(joined)) {
                        close(parent);
                        return -ENAMETOOLONG;
                    }
                    memcpy(cur, joined, (size_t)jl + 1);
                    break;
                }
                if (r < 0) {
                    r = -errno;
                    close(parent);
                    return r;
                }
                next = rt_openat2_in_root(rootfd, prefix, O_PATH);
            }
            if (next < 0) {
                close(parent);
                return next;
            }
            close(parent);
            parent = next;
            p = e;
        }
        close(parent);
    }
    return -ELOOP;
}

static void format_limit(char *buf, size_t size, rlim_t v)
{
    if (v == RLIM_INFINITY)
        snprintf(buf, size, "unlimited");
    else
        snprintf(buf, size, "%llu", (unsigned long long)v);
}

void rt_setup_rlimits(struct rt_child *c)
{
    for (size_t i = 0; i < c->spec->n_rlimits; i++) {
        const struct rt_rlimit *l = &c->spec->rlimits[i];
        int res = -1;
        for (size_t j = 0; j < ARRAY_SIZE(rlimit_names); j++)
            if (streq(l->name, rlimit_names[j].name))
                res = rlimit_names[j].resource;
        if (res < 0)
            rt_child_fail(c, EINVAL, 125, "ulimit '%s': unknown name", l->name);
        struct rlimit rl = {
            .rlim_cur = l->soft < 0 ? RLIM_INFINITY : (rlim_t)l->soft,
            .rlim_max = l->hard < 0 ? RLIM_INFINITY : (rlim_t)l->hard,
        };
        if (rl.rlim_cur > rl.rlim_max)
            rt_child_fail(c, EINVAL, 125, "ulimit %s: soft limit %lld above hard limit %lld",
                          l->name, (long long)l->soft, (long long)l->hard);
        if (setrlimit(res, &rl) < 0) {
            int e = errno;
            struct rlimit cur = {0};
            char want[32], have[32];
            (void)getrlimit(res, &cur);
            format_limit(want, sizeof(want), rl.rlim_max);
            format_limit(have, sizeof(have), cur.rlim_max);
            if (e == EPERM)
                rt_child_fail(c, e, 125,
                              "ulimit %s: cannot raise hard limit to %s above isod's %s (or the "
                              "kernel's maximum)",
                              l->name, want, have);
            rt_child_die(c, e, "ulimit %s", l->name);
        }
    }
}

/* ---- user and groups, from the image's own files (no NSS: it would load host code) ---- */

/* Reads a small regular file of the image; missing is an empty file. */
static char *read_image_file(struct rt_child *c, const char *path)
{
    struct stat st;
    char *buf;
    int fd = rt_openat2_in_root(c->rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);

    if (fd == -ENOENT)
        return strdup("");
    if (fd < 0)
        rt_child_die(c, fd, "open %s", path);
    if (fstat(fd, &st) < 0)
        rt_child_die(c, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode) || st.st_size > (16 << 20))
        rt_child_fail(c, EINVAL, 125, "%s: not a regular file of sane size", path);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        rt_child_die(c, ENOMEM, "read %s", path);
    ssize_t n = iso_read_all(fd, buf, (size_t)st.st_size);
    if (n < 0)
        rt_child_die(c, (int)n, "read %s", path);
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* Splits one line into up to max ':'-separated fields (in place). Returns the count. */
static size_t split_colon(char *line, char **f, size_t max)
{
    size_t n = 0;

    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ':') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static bool parse_id(const char *s, unsigned *ret)
{
    int64_t v;

    if (iso_parse_int64(s, 0, INT32_MAX, &v) < 0)
        return false;
    *ret = (unsigned)v;
    return true;
}

/* Finds the passwd entry matching name or uid; fills uid, gid, home and the name. */
static bool passwd_find(char *text, const char *want, struct rt_user *u, char *name,
                        size_t name_size)
{
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7];
        unsigned uid, gid;
        if (split_colon(line, f, 7) < 7 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
            continue;
        if (!streq(f[0], want) && !streq(f[2], want))
            continue;
        u->uid = uid;
        u->gid = gid;
        snprintf(u->home, sizeof(u->home), "%s", *f[5] ? f[5] : "/");
        snprintf(name, name_size, "%s", f[0]);
        return true;
    }
    return false;
}

/* Calls match on each group line: name, gid, members (comma list). */
static bool group_find(const char *text, const char *want, unsigned *ret_gid)
{
    _cleanup_free_ char *copy = strdup(text);
    char *save = NULL;

    if (!copy)
        return false;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        unsigned gid;
        if (split_colon(line, f, 4) < 3 || !parse_id(f[2], &gid))
            continue;
        if (streq(f[0], want) || streq(f[2], want)) {
            *ret_gid = gid;
            return true;
        }
    }
    return false;
}

static void add_group(struct rt_child *c, struct rt_user *u, gid_t gid)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] == gid)
            return;
    if (u->n_groups >= ARRAY_SIZE(u->groups))
        rt_child_fail(c, EINVAL, 125, "too many supplementary groups");
    u->groups[u->n_groups++] = gid;
}

void rt_resolve_user(struct rt_child *c, struct rt_user *u)
{
    const struct rt_spec *spec = c->spec;
    char want_user[256], name[256] = "";
    const char *want_group = NULL;
    _cleanup_free_ char *passwd = read_image_file(c, "/etc/passwd");
    _cleanup_free_ char *group = read_image_file(c, "/etc/group");
    unsigned id;

    if (!passwd || !group)
        rt_child_die(c, ENOMEM, "read users");
    snprintf(want_user, sizeof(want_user), "%s", spec->user ? spec->user : "");
    char *colon = strchr(want_user, ':');
    if (colon) {
        *colon = '\0';
        want_group = colon + 1;
    }
    if (!*want_user)
        snprintf(want_user, sizeof(want_user), "0");

    memset(u, 0, sizeof(*u));
    snprintf(u->home, sizeof(u->home), "/");
    if (!passwd_find(passwd, want_user, u, name, sizeof(name))) {
        if (!parse_id(want_user, &id))
            rt_child_fail(c, ENOENT, 125,
                          "unable to find user %s: no matching entries in passwd file", want_user);
        u->uid = id;
        u->gid = 0;
    }

    if (want_group && *want_group) {
        if (!group_find(group, want_group, &id) && !parse_id(want_group, &id))
            rt_child_fail(c, ENOENT, 125,
                          "unable to find group %s: no matching entries in group file", want_group);
        u->gid = id;
    } else if (*name) {
        /* Supplementary groups only in the implicit form, like runc. */
        char *save = NULL;
        _cleanup_free_ char *copy = strdup(group);
        if (!copy)
            rt_child_die(c, ENOMEM, "read groups");
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *f[4], *msave = NULL;
            unsigned gid;
            if (split_colon(line, f, 4) < 4 || !parse_id(f[2], &gid))
                continue;
            for (char *m = strtok_r(f[3], ",", &msave); m; m = strtok_r(NULL, ",", &msave))
                if (streq(m, name))
                    add_group(c, u, gid);
        }
    }
    /* The primary group is a supplementary one too, as Docker does since the fix for
     * CVE-2023-25173 (a process could otherwise drop it with setgroups and escape a
     * negative group permission). */
    gid_t rest[ARRAY_SIZE(u->groups)];
    size_t n = 0;
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] != u->gid)
            rest[n++] = u->groups[i];
    u->n_groups = 0;
    add_group(c, u, u->gid);
    for (size_t i = 0; i < n; i++)
        add_group(c, u, rest[i]);
    for (size_t i = 0; i < spec->n_group_add; i++) {
        if (!group_find(group, spec->group_add[i], &id) && !parse_id(spec->group_add[i], &id))
            rt_child_fail(c, ENOENT, 125,
                          "unable to find group %s: no matching entries in group file",
                          spec->group_add[i]);
        add_group(c, u, id);
    }
}

/* ---- exec ---- */

const char *rt_env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);

    for (; env && *env; env++)
        if (strneq(*env, key, n) && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

/* Go's exec.LookPath, as runc uses it: a regular file with an execute bit. */
static int check_executable(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EACCES;
    if (!(st.st_mode & 0111))
        return -EACCES;
    return 0;
}

void rt_lookup_command(struct rt_child *c, char *const *env, char *ret, size_t size)
{
    const char *arg0 = c->spec->args[0];
    int r;

    if (strchr(arg0, '/')) {
        r = check_executable(arg0);
        if (r == -ENOENT || r == -ENOTDIR)
            rt_child_fail(c, ENOENT, 127, "exec: \"%s\": stat %s: no such file or directory", arg0,
                          arg0);
        if (r < 0)
            rt_child_fail(c, -r, 126, "exec: \"%s\": permission denied", arg0);
        snprintf(ret, size, "%s", arg0);
        return;
    }
    const char *path = rt_env_get(env, "PATH");
    if (!path)
        path = RT_DEFAULT_PATH;
    for (const char *p = path;;) {
        const char *e = strchrnul(p, ':');
        int n = (int)(e - p);
        int len =
            n == 0 ? snprintf(ret, size, "./%s", arg0) : snprintf(ret, size, "%.*s/%s", n, p, arg0);
        if (len > 0 && (size_t)len < size && check_executable(ret) == 0)
            return;
        if (!*e)
            break;
        p = e + 1;
    }
    rt_child_fail(c, ENOENT, 127, "exec: \"%s\": executable file not found in $PATH", arg0);
}

_noreturn_ void rt_exec_command(struct rt_child *c, const char *path, char *const *env)
{
    execve(path, c->spec->args, env);
    int e = errno;
    const char *arg0 = c->spec->args[0];
    if (e == EACCES || e == EISDIR || e == EPERM)
        rt_child_fail(c, e, 126, "exec: \"%s\": permission denied", arg0);
    if (e == ENOEXEC)
        rt_child_fail(c, e, 126, "exec: \"%s\": exec format error", arg0);
    if (e == ENOENT || e == ENOTDIR)
        rt_child_fail(c, e, 127, "exec: \"%s\": no such file or directory", arg0);
    rt_child_fail(c, e, 126, "exec: \"%s\": %s", arg0, strerror(e));
}

static void setup_caps(struct rt_child *c, bool bounding)
{
    uint64_t caps = c->spec->caps, all = rt_caps_all();

    if (bounding) {
        for (int i = 0; i < 64; i++) {
            if (!(all & (UINT64_C(1) << i)) || (caps & (UINT64_C(1) << i)))
                continue;
            if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
                rt_child_die(c, errno, "drop capability %d from the bounding set", i);
        }
        return;
    }
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {0};

    /* What this process may hand on: isod itself can run without some (in a container). */
    if (syscall(SYS_capget, &hdr, data) < 0)
        rt_child_die(c, errno, "get capabilities");
    uint64_t have = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    if (c->spec->privileged)
        caps &= have;
    else if (caps & ~have) {
        int missing = __builtin_ctzll(caps & ~have);
        const char *name = rt_cap_name(missing);
        rt_child_fail(c, EPERM, 125, "capability %s is not available to isod", name ? name : "?");
    }
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)caps;
    data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(caps >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0)
        rt_child_die(c, errno, "set capabilities");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        rt_child_die(c, errno, "clear ambient capabilities");
}

/* Moves the stdio fds onto 0, 1, 2 without one dup2 clobbering another. */
void rt_setup_stdio(struct rt_child *c)
{
    int src[3] = {c->stdio->in, c->stdio->out, c->stdio->err}, tmp[3];

    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            tmp[i] = open("/dev/null", i == 0 ? O_RDONLY | O_CLOEXEC : O_WRONLY | O_CLOEXEC);
        else
            tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
        if (tmp[i] < 0)
            rt_child_die(c, errno, "set up stdio");
    }
    for (int i = 0; i < 3; i++)
        if (dup2(tmp[i], i) < 0)
            rt_child_die(c, errno, "set up stdio");
    if (setsid() < 0)
        rt_child_die(c, errno, "setsid");
    if (c->spec->terminal && ioctl(0, TIOCSCTTY, 0) < 0)
        rt_child_die(c, errno, "set controlling terminal");
}

int rt_write_cgroups(char *const *cgroups, size_t n_cgroups, pid_t pid, struct iso_err *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);

    for (size_t i = 0; i < n_cgroups; i++) {
        int fd = open(cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return iso_err_set_errno(err, errno, "open '%s'", cgroups[i]);
        int r = iso_write_all(fd, buf, (size_t)n);
        close(fd);
        if (r < 0)
            return iso_err_set_errno(err, r, "write '%s'", cgroups[i]);
    }
    return 0;
}

char **rt_child_env(struct rt_child *c, const struct rt_user *u)
{
    const struct rt_spec *spec = c->spec;
    size_t n_env = spec->n_env;
    char **env = calloc(n_env + 2, sizeof(char *));

    if (!env)
        rt_child_die(c, ENOMEM, "environment");
    for (size_t i = 0; i < n_env; i++)
        env[i] = spec->env[i];
    if (!rt_env_get(env, "HOME")) {
        env[n_env] = iso_strprintf("HOME=%s", u->home);
        if (!env[n_env])
            rt_child_die(c, ENOMEM, "environment");
    }
    return env;
}

void rt_seccomp_read(struct rt_child *c, const char *path, char **ret, size_t *ret_len)
{
    char *filter = NULL;
    size_t len = 0;

    *ret = NULL;
    *ret_len = 0;
    if (!path)
        return;
    int r =
        iso_read_file_at(AT_FDCWD, path, BPF_MAXINSNS * sizeof(struct sock_filter), &filter, &len);
    if (r < 0)
        rt_child_die(c, r, "read seccomp filter '%s'", path);
    if (len == 0 || len % sizeof(struct sock_filter))
        rt_child_fail(c, EINVAL, 125, "seccomp filter '%s': bad size %zu", path, len);
    *ret = filter;
    *ret_len = len;
}

void rt_child_confine(struct rt_child *c, const struct rt_user *u, const char *filter,
                      size_t filter_len)
{
    /* Only the error pipe and stdio may survive, and the pipe closes on exec. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        rt_child_die(c, errno, "close_range");
    umask(022);
    setup_caps(c, true);

    /* Seccomp while CAP_SYS_ADMIN is still there, so no_new_privs is not forced (as runc
     * does); what follows (setgroups, setresuid, capset, prctl, execve) is allowed by the
     * default profile. */
    if (filter) {
        struct sock_fprog prog = {
            .len = (unsigned short)(filter_len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)filter,
        };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            rt_child_die(c, errno, "load seccomp filter");
    }

    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        rt_child_die(c, errno, "keep capabilities");
    if (setgroups(u->n_groups, u->groups) < 0)
        rt_child_die(c, errno, "setgroups");
    if (setresgid(u->gid, u->gid, u->gid) < 0)
        rt_child_die(c, errno, "setgid %u", (unsigned)u->gid);
    if (setresuid(u->uid, u->uid, u->uid) < 0)
        rt_child_die(c, errno, "setuid %u", (unsigned)u->uid);
    /* A change of credentials clears the parent-death signal. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    setup_caps(c, false);
    if (c->spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rt_child_die(c, errno, "set no_new_privs");
}
