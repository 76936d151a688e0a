#include "runtime/container.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#include "common/util.h"
#include "runtime/caps.h"

/* <linux/sched.h> clashes with glibc's <sched.h>; this is its clone_args, version 0. */
struct rt_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child sends up the error pipe when it fails before exec. EOF without one means
 * the exec happened (the pipe is O_CLOEXEC). */
struct child_msg {
    int err;
    int exit_code;
    char msg[ISO_ERR_MSG_MAX];
};

struct child {
    const struct rt_spec *spec;
    const struct rt_stdio *stdio;
    int errfd;
    int rootfd; /* the new root (O_PATH), before pivot_root */
};

/* Docker's masked paths (moby oci/defaults.go). */
static const char *const masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const struct {
    const char *name;
    unsigned major, minor;
} dev_nodes[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

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

static _noreturn_ void child_send(struct child *c, int code, int exit_code, const char *msg)
{
    struct child_msg m = {.err = code < 0 ? -code : code, .exit_code = exit_code};

    if (m.err == 0)
        m.err = EIO;
    snprintf(m.msg, sizeof(m.msg), "%s", msg);
    (void)iso_write_all(c->errfd, &m, sizeof(m));
    _exit(exit_code);
}

/* Fails with Docker's 125 and "<step>: <strerror>". */
static _noreturn_ _printf_(3, 4) void child_die(struct child *c, int code, const char *fmt, ...)
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
    child_send(c, code, 125, msg);
}

/* Same without the errno text. */
static _noreturn_ _printf_(4, 5) void child_fail(struct child *c, int code, int exit_code,
                                                 const char *fmt, ...)
{
    char msg[ISO_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    child_send(c, code, exit_code, msg);
}

/* ---- paths inside the new root ---- */

static int openat2_in_root(int rootfd, const char *path, int flags)
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
static int open_create_in_root(int rootfd, const char *path, bool file)
{
    char cur[PATH_MAX];

    size_t len = strlen(path);

    if (len >= sizeof(cur))
        return -ENAMETOOLONG;
    memcpy(cur, path, len + 1);
    for (int loops = 0; loops < 40; loops++) {
        char prefix[PATH_MAX] = "";
        size_t plen = 0;
        int fd = openat2_in_root(rootfd, cur, O_PATH);
        if (fd != -ENOENT)
            return fd;

        int parent = openat2_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
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

            int next = openat2_in_root(rootfd, prefix, O_PATH);
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
                next = openat2_in_root(rootfd, prefix, O_PATH);
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

static void fd_path(char *buf, size_t size, int fd)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Mounts onto dest inside the root, through an fd so that no symlink can move it out. */
static int mount_in_root(int rootfd, const char *dest, bool file, const char *src,
                         const char *fstype, unsigned long flags, const char *data)
{
    char target[64];
    int fd, r = 0;

    fd = open_create_in_root(rootfd, dest, file);
    if (fd < 0)
        return fd;
    fd_path(target, sizeof(target), fd);
    if (mount(src, target, fstype, flags, data) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* Remounts the mount now at dest (bind remount: per-mount flags only). */
static int remount_in_root(int rootfd, const char *dest, unsigned long flags)
{
    char target[64];
    int fd, r = 0;

    fd = openat2_in_root(rootfd, dest, O_PATH);
    if (fd < 0)
        return fd;
    fd_path(target, sizeof(target), fd);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* ---- the child: setup steps ---- */

static void setup_loopback(struct child *c)
{
    struct ifreq ifr = {0};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        child_die(c, errno, "bring up lo");
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        child_die(c, errno, "bring up lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        child_die(c, errno, "bring up lo");
    close(s);
}

/* --privileged: every host device, like moby's oci.DevicesFromPath walk of /dev. */
static void copy_host_devices(struct child *c, const char *host_dir, int devfd, int depth)
{
    static const char *const skip[] = {"pts",  "shm",         "fd",    "mqueue",
                                       ".lxc", ".lxd-mounts", ".udev", "console"};
    int dfd = open(host_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    struct dirent *de;

    if (!d) {
        safe_close(dfd);
        return;
    }
    while ((de = readdir(d))) {
        struct stat st;
        bool skipped = de->d_name[0] == '.' && (!de->d_name[1] || streq(de->d_name, ".."));
        for (size_t i = 0; i < ARRAY_SIZE(skip) && !skipped; i++)
            skipped = depth == 0 && streq(de->d_name, skip[i]);
        if (skipped || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 3) {
            char sub[PATH_MAX];
            if (mkdirat(devfd, de->d_name, 0755) < 0 && errno != EEXIST)
                continue;
            int subfd = openat(devfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (subfd < 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", host_dir, de->d_name);
            copy_host_devices(c, sub, subfd, depth + 1);
            close(subfd);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            if (mknodat(devfd, de->d_name, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0 &&
                errno != EEXIST)
                child_die(c, errno, "mknod /dev/%s", de->d_name);
            (void)fchownat(devfd, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
        }
    }
    closedir(d);
}

/* Binds the pty slave onto /dev/console. A bind source must be a mount of our own mount
 * namespace, and the shim's fd points into the namespace it came from (EINVAL): reopen the
 * slave by its path here, and check it is the same device. */
static void setup_console(struct child *c)
{
    char fdp[64], path[PATH_MAX], src[64];
    struct stat want, got;
    ssize_t n;
    int fd, r;

    fd_path(fdp, sizeof(fdp), c->stdio->in);
    n = readlink(fdp, path, sizeof(path) - 1);
    if (n < 0)
        child_die(c, errno, "mount /dev/console: find the terminal");
    path[n] = '\0';
    fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        child_die(c, errno, "mount /dev/console: open '%s'", path);
    if (fstat(c->stdio->in, &want) < 0 || fstat(fd, &got) < 0)
        child_die(c, errno, "mount /dev/console: stat '%s'", path);
    if (!S_ISCHR(got.st_mode) || got.st_rdev != want.st_rdev)
        child_fail(c, EINVAL, 125, "mount /dev/console: '%s' is not the container's terminal",
                   path);
    fd_path(src, sizeof(src), fd);
    r = mount_in_root(c->rootfd, "/dev/console", true, src, NULL, MS_BIND, NULL);
    if (r < 0)
        child_die(c, r, "mount /dev/console");
    close(fd);
}

/* A v1 host: a tmpfs with one mount per hierarchy, like Docker. The cgroup namespace makes
 * each show the container's own cgroup as its root. Best effort: a hierarchy that cannot be
 * mounted is left out. */
static void setup_cgroup_v1(struct child *c, unsigned long flags)
{
    _cleanup_free_ char *text = NULL;
    char *save = NULL;

    if (mount_in_root(c->rootfd, "/sys/fs/cgroup", false, "tmpfs", "tmpfs",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
        return;
    if (iso_read_file_at(AT_FDCWD, "/proc/self/cgroup", 1 << 16, &text, NULL) < 0)
        text = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *ctrls = strchr(line, ':'), *end;
        if (!ctrls || !(end = strchr(++ctrls, ':')) || end == ctrls)
            continue;
        *end = '\0';
        bool named = strneq(ctrls, "name=", 5);
        const char *dir = named ? ctrls + 5 : ctrls;
        char dest[256], data[256];
        snprintf(dest, sizeof(dest), "/sys/fs/cgroup/%s", dir);
        snprintf(data, sizeof(data), "%s%s", named ? "none," : "", ctrls);
        if (mount_in_root(c->rootfd, dest, false, "cgroup", "cgroup", flags, data) < 0 || named ||
            !strchr(ctrls, ','))
            continue;
        /* cpu,cpuacct: the single names point at the joint one. */
        int fd = openat2_in_root(c->rootfd, "/sys/fs/cgroup", O_PATH | O_DIRECTORY);
        if (fd < 0)
            continue;
        char *csave = NULL;
        for (char *one = strtok_r(ctrls, ",", &csave); one; one = strtok_r(NULL, ",", &csave))
            (void)symlinkat(dest + strlen("/sys/fs/cgroup/"), fd, one);
        close(fd);
    }
    if (flags & MS_RDONLY)
        (void)remount_in_root(c->rootfd, "/sys/fs/cgroup", flags);
}

static void setup_rootfs(struct child *c)
{
    const struct rt_spec *spec = c->spec;
    int r;

    if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_die(c, errno, "make / private");
    if (spec->overlay) {
        /* The options name the layers relative to the layer store, so that many layers
         * still fit in the one page mount(2) takes. */
        if (spec->layers && chdir(spec->layers) < 0)
            child_die(c, errno, "chdir '%s'", spec->layers);
        if (mount("overlay", spec->rootfs, "overlay", 0, spec->overlay) < 0)
            child_die(c, errno, "mount overlay on '%s'", spec->rootfs);
    } else if (mount(spec->rootfs, spec->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        child_die(c, errno, "bind '%s'", spec->rootfs);
    c->rootfd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        child_die(c, errno, "open '%s'", spec->rootfs);

    r = mount_in_root(c->rootfd, "/proc", false, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      NULL);
    if (r < 0)
        child_die(c, r, "mount /proc");

    unsigned long sysflags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec->privileged ? 0 : MS_RDONLY);
    r = mount_in_root(c->rootfd, "/sys", false, "sysfs", "sysfs", sysflags, NULL);
    if (r == -EPERM) {
        /* sysfs refuses a new mount in a netns we do not own: bind the host's instead. */
        r = mount_in_root(c->rootfd, "/sys", false, "/sys", NULL, MS_BIND | MS_REC, NULL);
        if (r >= 0 && !spec->privileged)
            r = remount_in_root(c->rootfd, "/sys", sysflags);
    }
    if (r < 0)
        child_die(c, r, "mount /sys");

    /* The container's own cgroup tree on a v2 host (its cgroup namespace is rooted at the
     * container's cgroup). A v1 host gets an empty read-only tmpfs. */
    struct statfs sfs;
    unsigned long cgflags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec->privileged ? 0 : MS_RDONLY);
    if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
        (void)mount_in_root(c->rootfd, "/sys/fs/cgroup", false, "cgroup2", "cgroup2", cgflags,
                            NULL);
    else
        setup_cgroup_v1(c, cgflags);

    r = mount_in_root(c->rootfd, "/dev", false, "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
                      "mode=755,size=65536k");
    if (r < 0)
        child_die(c, r, "mount /dev");
    int devfd = openat2_in_root(c->rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        child_die(c, devfd, "open /dev");
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        const char *name = dev_nodes[i].name;
        dev_t dev = makedev(dev_nodes[i].major, dev_nodes[i].minor);
        if (mknodat(devfd, name, S_IFCHR | 0666, dev) == 0) {
            if (fchmodat(devfd, name, 0666, 0) < 0)
                child_die(c, errno, "chmod /dev/%s", name);
            continue;
        }
        /* No mknod (a restricted host): bind the host's node instead. */
        char host[64], target[64];
        snprintf(host, sizeof(host), "/dev/%s", name);
        int fd = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd < 0)
            child_die(c, errno, "create /dev/%s", name);
        fd_path(target, sizeof(target), fd);
        if (mount(host, target, NULL, MS_BIND, NULL) < 0)
            child_die(c, errno, "bind /dev/%s", name);
        close(fd);
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},         {"/proc/kcore", "core"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], devfd, links[i][1]) < 0)
            child_die(c, errno, "symlink /dev/%s", links[i][1]);
    if (spec->privileged)
        copy_host_devices(c, "/dev", devfd, 0);
    close(devfd);

    r = mount_in_root(c->rootfd, "/dev/pts", false, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620,gid=5");
    if (r < 0)
        child_die(c, r, "mount /dev/pts");
    r = mount_in_root(c->rootfd, "/dev/shm", false, "shm", "tmpfs",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    if (r < 0)
        child_die(c, r, "mount /dev/shm");
    r = mount_in_root(c->rootfd, "/dev/mqueue", false, "mqueue", "mqueue",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (r < 0)
        child_die(c, r, "mount /dev/mqueue");
    if (spec->terminal && c->stdio->in >= 0)
        setup_console(c);
}

static const struct {
    const char *name;
    unsigned long set, clear;
} bind_options[] = {
    {"ro", MS_RDONLY, 0},   {"rw", 0, MS_RDONLY}, {"nosuid", MS_NOSUID, 0}, {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV}, {"noexec", MS_NOEXEC, 0}, {"exec", 0, MS_NOEXEC},
};

static const struct {
    const char *name;
    unsigned long flags;
} propagations[] = {
    {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC},
    {"slave", MS_SLAVE},     {"rslave", MS_SLAVE | MS_REC},
    {"shared", MS_SHARED},   {"rshared", MS_SHARED | MS_REC},
};

/* Files of /proc that may be covered by a user mount (lxcfs), as runc allows. */
static const char *const proc_mount_ok[] = {
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo",  "/proc/stat",    "/proc/swaps",
    "/proc/uptime",  "/proc/loadavg",   "/proc/slabinfo", "/proc/net/dev",
};

/* A user mount may not land in the container's procfs: covering /proc/sys or /proc/self
 * would undo the masks (runc's checkProcMount). Resolved like the mount itself. */
static void check_user_destination(struct child *c, const char *dest)
{
    struct statfs sfs;
    int fd = openat2_in_root(c->rootfd, dest, O_PATH);

    if (fd < 0)
        return; /* missing: created later, which procfs refuses */
    if (fstatfs(fd, &sfs) < 0)
        child_die(c, errno, "mount '%s'", dest);
    close(fd);
    if (sfs.f_type != PROC_SUPER_MAGIC)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(proc_mount_ok); i++)
        if (streq(dest, proc_mount_ok[i]))
            return;
    child_fail(c, EPERM, 125, "mount destination '%s' is inside /proc: not allowed", dest);
}

static void setup_bind(struct child *c, const struct rt_mount *m)
{
    unsigned long flags = 0, prop = 0;
    bool rec = true;
    char opts[1024], *save = NULL;
    struct stat st;
    int r;

    snprintf(opts, sizeof(opts), "%s", m->options ? m->options : "");
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        bool known = false;
        if (streq(o, "bind") || streq(o, "rbind")) {
            rec = streq(o, "rbind");
            continue;
        }
        for (size_t i = 0; i < ARRAY_SIZE(bind_options) && !known; i++)
            if (streq(o, bind_options[i].name)) {
                flags = (flags | bind_options[i].set) & ~bind_options[i].clear;
                known = true;
            }
        for (size_t i = 0; i < ARRAY_SIZE(propagations) && !known; i++)
            if (streq(o, propagations[i].name)) {
                prop = propagations[i].flags;
                known = true;
            }
        if (!known)
            child_fail(c, EINVAL, 125, "mount '%s': unknown bind option '%s'", m->destination, o);
    }
    if (stat(m->source, &st) < 0)
        child_die(c, errno, "mount '%s': stat '%s'", m->destination, m->source);
    check_user_destination(c, m->destination);
    r = mount_in_root(c->rootfd, m->destination, !S_ISDIR(st.st_mode), m->source, NULL,
                      MS_BIND | (rec ? MS_REC : 0), NULL);
    if (r < 0)
        child_die(c, r, "mount '%s' on '%s'", m->source, m->destination);
    if (prop) {
        char target[64];
        int fd = openat2_in_root(c->rootfd, m->destination, O_PATH);
        if (fd < 0)
            child_die(c, fd, "mount '%s'", m->destination);
        fd_path(target, sizeof(target), fd);
        if (mount(NULL, target, NULL, prop, NULL) < 0)
            child_die(c, errno, "mount '%s': set propagation", m->destination);
        close(fd);
    }
    if (flags) {
        r = remount_in_root(c->rootfd, m->destination, flags);
        if (r < 0)
            child_die(c, r, "remount '%s'", m->destination);
    }
}

static void setup_tmpfs(struct child *c, const struct rt_mount *m)
{
    unsigned long flags = 0;
    char opts[1024], data[1024] = "", *save = NULL;
    size_t dlen = 0;
    int r;

    snprintf(opts, sizeof(opts), "%s", m->options ? m->options : "");
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < ARRAY_SIZE(bind_options) && !known; i++)
            if (streq(o, bind_options[i].name)) {
                flags = (flags | bind_options[i].set) & ~bind_options[i].clear;
                known = true;
            }
        if (known)
            continue;
        int n = snprintf(data + dlen, sizeof(data) - dlen, "%s%s", dlen ? "," : "", o);
        if (n < 0 || (size_t)n >= sizeof(data) - dlen)
            child_fail(c, EINVAL, 125, "mount '%s': options too long", m->destination);
        dlen += (size_t)n;
    }
    check_user_destination(c, m->destination);
    r = mount_in_root(c->rootfd, m->destination, false, "tmpfs", "tmpfs", flags, data);
    if (r < 0)
        child_die(c, r, "mount tmpfs on '%s'", m->destination);
}

static void setup_pivot(struct child *c)
{
    if (fchdir(c->rootfd) < 0)
        child_die(c, errno, "chdir to rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        child_die(c, errno, "pivot_root");
    /* The old root is now stacked on the new one: detach it. */
    if (umount2(".", MNT_DETACH) < 0)
        child_die(c, errno, "detach old root");
    if (chdir("/") < 0)
        child_die(c, errno, "chdir /");
    close(c->rootfd);
    c->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        child_die(c, errno, "open /");
}

static void setup_masks(struct child *c)
{
    struct stat st;

    for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++) {
        const char *p = masked_paths[i];
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            child_die(c, errno, "mask '%s'", p);
        }
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL)
                                    : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (r < 0)
            child_die(c, errno, "mask '%s'", p);
    }
    for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++) {
        const char *p = readonly_paths[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            child_die(c, errno, "read-only '%s'", p);
        }
        if (mount(NULL, p, NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            child_die(c, errno, "read-only '%s'", p);
    }
}

static void format_limit(char *buf, size_t size, rlim_t v)
{
    if (v == RLIM_INFINITY)
        snprintf(buf, size, "unlimited");
    else
        snprintf(buf, size, "%llu", (unsigned long long)v);
}

static void setup_rlimits(struct child *c)
{
    for (size_t i = 0; i < c->spec->n_rlimits; i++) {
        const struct rt_rlimit *l = &c->spec->rlimits[i];
        int res = -1;
        for (size_t j = 0; j < ARRAY_SIZE(rlimit_names); j++)
            if (streq(l->name, rlimit_names[j].name))
                res = rlimit_names[j].resource;
        if (res < 0)
            child_fail(c, EINVAL, 125, "ulimit '%s': unknown name", l->name);
        struct rlimit rl = {
            .rlim_cur = l->soft < 0 ? RLIM_INFINITY : (rlim_t)l->soft,
            .rlim_max = l->hard < 0 ? RLIM_INFINITY : (rlim_t)l->hard,
        };
        if (rl.rlim_cur > rl.rlim_max)
            child_fail(c, EINVAL, 125, "ulimit %s: soft limit %lld above hard limit %lld", l->name,
                       (long long)l->soft, (long long)l->hard);
        if (setrlimit(res, &rl) < 0) {
            int e = errno;
            struct rlimit cur = {0};
            char want[32], have[32];
            (void)getrlimit(res, &cur);
            format_limit(want, sizeof(want), rl.rlim_max);
            format_limit(have, sizeof(have), cur.rlim_max);
            if (e == EPERM)
                child_fail(c, e, 125,
                           "ulimit %s: cannot raise hard limit to %s above isod's %s (or the "
                           "kernel's maximum)",
                           l->name, want, have);
            child_die(c, e, "ulimit %s", l->name);
        }
    }
}

/* ---- user and groups, from the image's own files (no NSS: it would load host code) ---- */

struct user_info {
    uid_t uid;
    gid_t gid;
    char home[PATH_MAX];
    gid_t groups[NGROUPS_MAX > 256 ? 256 : NGROUPS_MAX];
    size_t n_groups;
};

/* Reads a small regular file of the image; missing is an empty file. */
static char *read_image_file(struct child *c, const char *path)
{
    struct stat st;
    char *buf;
    int fd = openat2_in_root(c->rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);

    if (fd == -ENOENT)
        return strdup("");
    if (fd < 0)
        child_die(c, fd, "open %s", path);
    if (fstat(fd, &st) < 0)
        child_die(c, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode) || st.st_size > (16 << 20))
        child_fail(c, EINVAL, 125, "%s: not a regular file of sane size", path);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        child_die(c, ENOMEM, "read %s", path);
    ssize_t n = iso_read_all(fd, buf, (size_t)st.st_size);
    if (n < 0)
        child_die(c, (int)n, "read %s", path);
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
static bool passwd_find(char *text, const char *want, struct user_info *u, char *name,
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

static void add_group(struct child *c, struct user_info *u, gid_t gid)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] == gid)
            return;
    if (u->n_groups >= ARRAY_SIZE(u->groups))
        child_fail(c, EINVAL, 125, "too many supplementary groups");
    u->groups[u->n_groups++] = gid;
}

static void resolve_user(struct child *c, struct user_info *u)
{
    const struct rt_spec *spec = c->spec;
    char want_user[256], name[256] = "";
    const char *want_group = NULL;
    _cleanup_free_ char *passwd = read_image_file(c, "/etc/passwd");
    _cleanup_free_ char *group = read_image_file(c, "/etc/group");
    unsigned id;

    if (!passwd || !group)
        child_die(c, ENOMEM, "read users");
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
            child_fail(c, ENOENT, 125, "unable to find user %s: no matching entries in passwd file",
                       want_user);
        u->uid = id;
        u->gid = 0;
    }

    if (want_group && *want_group) {
        if (!group_find(group, want_group, &id) && !parse_id(want_group, &id))
            child_fail(c, ENOENT, 125, "unable to find group %s: no matching entries in group file",
                       want_group);
        u->gid = id;
    } else if (*name) {
        /* Supplementary groups only in the implicit form, like runc. */
        char *save = NULL;
        _cleanup_free_ char *copy = strdup(group);
        if (!copy)
            child_die(c, ENOMEM, "read groups");
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
            child_fail(c, ENOENT, 125, "unable to find group %s: no matching entries in group file",
                       spec->group_add[i]);
        add_group(c, u, id);
    }
}

/* ---- exec ---- */

static const char *env_get(char *const *env, const char *key)
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

static void lookup_command(struct child *c, char *const *env, char *ret, size_t size)
{
    const char *arg0 = c->spec->args[0];
    int r;

    if (strchr(arg0, '/')) {
        r = check_executable(arg0);
        if (r == -ENOENT || r == -ENOTDIR)
            child_fail(c, ENOENT, 127, "exec: \"%s\": stat %s: no such file or directory", arg0,
                       arg0);
        if (r < 0)
            child_fail(c, -r, 126, "exec: \"%s\": permission denied", arg0);
        snprintf(ret, size, "%s", arg0);
        return;
    }
    const char *path = env_get(env, "PATH");
    if (!path)
        path = DEFAULT_PATH;
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
    child_fail(c, ENOENT, 127, "exec: \"%s\": executable file not found in $PATH", arg0);
}

static _noreturn_ void exec_command(struct child *c, const char *path, char *const *env)
{
    execve(path, c->spec->args, env);
    int e = errno;
    const char *arg0 = c->spec->args[0];
    if (e == EACCES || e == EISDIR || e == EPERM)
        child_fail(c, e, 126, "exec: \"%s\": permission denied", arg0);
    if (e == ENOEXEC)
        child_fail(c, e, 126, "exec: \"%s\": exec format error", arg0);
    if (e == ENOENT || e == ENOTDIR)
        child_fail(c, e, 127, "exec: \"%s\": no such file or directory", arg0);
    child_fail(c, e, 126, "exec: \"%s\": %s", arg0, strerror(e));
}

static void setup_caps(struct child *c, bool bounding)
{
    uint64_t caps = c->spec->caps, all = rt_caps_all();

    if (bounding) {
        for (int i = 0; i < 64; i++) {
            if (!(all & (UINT64_C(1) << i)) || (caps & (UINT64_C(1) << i)))
                continue;
            if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
                child_die(c, errno, "drop capability %d from the bounding set", i);
        }
        return;
    }
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {0};

    /* What this process may hand on: isod itself can run without some (in a container). */
    if (syscall(SYS_capget, &hdr, data) < 0)
        child_die(c, errno, "get capabilities");
    uint64_t have = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    if (c->spec->privileged)
        caps &= have;
    else if (caps & ~have) {
        int missing = __builtin_ctzll(caps & ~have);
        const char *name = rt_cap_name(missing);
        child_fail(c, EPERM, 125, "capability %s is not available to isod", name ? name : "?");
    }
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)caps;
    data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(caps >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0)
        child_die(c, errno, "set capabilities");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        child_die(c, errno, "clear ambient capabilities");
}

/* Moves the stdio fds onto 0, 1, 2 without one dup2 clobbering another. */
static void setup_stdio(struct child *c)
{
    int src[3] = {c->stdio->in, c->stdio->out, c->stdio->err}, tmp[3];

    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            tmp[i] = open("/dev/null", i == 0 ? O_RDONLY | O_CLOEXEC : O_WRONLY | O_CLOEXEC);
        else
            tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
        if (tmp[i] < 0)
            child_die(c, errno, "set up stdio");
    }
    for (int i = 0; i < 3; i++)
        if (dup2(tmp[i], i) < 0)
            child_die(c, errno, "set up stdio");
    if (setsid() < 0)
        child_die(c, errno, "setsid");
    if (c->spec->terminal && ioctl(0, TIOCSCTTY, 0) < 0)
        child_die(c, errno, "set controlling terminal");
}

/* The init is a fork of the shim: without this, the container's ps shows the shim's command
 * line, a path on the host. Its argument area (fields 48 and 49 of /proc/self/stat) is
 * overwritten in place; failures leave the old command line. */
static void name_init(void)
{
    static const char name[] = "isod-init";
    unsigned long start = 0, end = 0;
    char buf[1024], *p, *save = NULL;
    int fd, field = 2;
    ssize_t n;

    (void)prctl(PR_SET_NAME, name);
    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the comm may hold spaces and parentheses */
    if (!p)
        return;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (++field == 48)
            start = strtoul(tok, NULL, 10);
        else if (field == 49) {
            end = strtoul(tok, NULL, 10);
            break;
        }
    }
    if (!start || end <= start + sizeof(name))
        return;
    memset((void *)start, 0, end - start);
    memcpy((void *)start, name, sizeof(name));
    /* Not a NUL at the end: the kernel reads the area up to the first NUL (setproctitle). */
    ((char *)end)[-1] = ' ';
}

/* --init: PID 1 stays here, reaps everything and forwards signals to the command. */
static void run_init(struct child *c)
{
    sigset_t all, none;
    pid_t cmd;

    sigfillset(&all);
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
        child_die(c, errno, "block signals");
    cmd = fork();
    if (cmd < 0)
        child_die(c, errno, "fork the command");
    if (cmd == 0) {
        /* Its own process group, in the terminal's foreground, so that ^C reaches it once. */
        (void)setpgid(0, 0);
        if (c->spec->terminal) {
            (void)signal(SIGTTOU, SIG_IGN);
            (void)tcsetpgrp(0, getpid());
            (void)signal(SIGTTOU, SIG_DFL);
        }
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        return;
    }
    close(c->errfd);
    name_init();
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            (void)kill(cmd, sig);
            continue;
        }
        int status;
        pid_t w;
        while ((w = waitpid(-1, &status, WNOHANG)) > 0)
            if (w == cmd)
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
}

static _noreturn_ void child_main(struct child *c, int syncfd)
{
    const struct rt_spec *spec = c->spec;
    _cleanup_free_ char *filter = NULL;
    size_t filter_len = 0;
    struct user_info u;
    char path[PATH_MAX];
    char go;
    sigset_t none;
    int r;

    /* The container does not outlive its shim: nothing could report its exit or hold its
     * output, and it would keep its cgroup busy (a shim that died before this is seen as EOF on
     * the sync pipe below). */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The shim's signal mask and handlers are not the container's. */
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)signal(s, SIG_DFL);
    umask(0);

    /* Wait until the parent has put us into the cgroups, so that the cgroup namespace is
     * rooted at the container's cgroup. EOF: the parent gave up. */
    if (RETRY_EINTR(read(syncfd, &go, 1)) != 1)
        _exit(125);
    close(syncfd);
    if (unshare(CLONE_NEWCGROUP) < 0)
        child_die(c, errno, "new cgroup namespace");

    if (spec->net == RT_NET_NONE)
        setup_loopback(c);
    setup_rootfs(c);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (spec->mounts[i].type == RT_MOUNT_TMPFS)
            setup_tmpfs(c, &spec->mounts[i]);
        else
            setup_bind(c, &spec->mounts[i]);
    }
    if (spec->seccomp) {
        r = iso_read_file_at(AT_FDCWD, spec->seccomp, BPF_MAXINSNS * sizeof(struct sock_filter),
                             &filter, &filter_len);
        if (r < 0)
            child_die(c, r, "read seccomp filter '%s'", spec->seccomp);
        if (filter_len == 0 || filter_len % sizeof(struct sock_filter))
            child_fail(c, EINVAL, 125, "seccomp filter '%s': bad size %zu", spec->seccomp,
                       filter_len);
    }

    setup_pivot(c);
    if (!spec->privileged)
        setup_masks(c);
    /* The working directory, created if missing (like Docker), resolved inside the root, and
     * before the root may turn read-only. */
    int cwd = open_create_in_root(c->rootfd, spec->cwd && *spec->cwd ? spec->cwd : "/", false);
    if (cwd < 0)
        child_die(c, cwd, "cwd '%s'", spec->cwd ? spec->cwd : "/");
    if (spec->readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        child_die(c, errno, "remount / read-only");
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
        child_die(c, errno, "sethostname '%s'", spec->hostname);
    setup_rlimits(c);
    resolve_user(c, &u);

    /* The environment, with HOME from passwd unless given. */
    size_t n_env = spec->n_env;
    char **env = calloc(n_env + 2, sizeof(char *));
    if (!env)
        child_die(c, ENOMEM, "environment");
    for (size_t i = 0; i < n_env; i++)
        env[i] = spec->env[i];
    if (!env_get(env, "HOME")) {
        env[n_env] = iso_strprintf("HOME=%s", u.home);
        if (!env[n_env])
            child_die(c, ENOMEM, "environment");
    }

    if (fchdir(cwd) < 0)
        child_die(c, errno, "chdir to cwd '%s'", spec->cwd);
    close(cwd);
    close(c->rootfd);

    if (!spec->args || !spec->args[0])
        child_fail(c, EINVAL, 125, "no command specified");
    lookup_command(c, env, path, sizeof(path));

    setup_stdio(c);
    /* Only the error pipe and stdio may survive, and the pipe closes on exec. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        child_die(c, errno, "close_range");
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
            child_die(c, errno, "load seccomp filter");
    }

    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        child_die(c, errno, "keep capabilities");
    if (setgroups(u.n_groups, u.groups) < 0)
        child_die(c, errno, "setgroups");
    if (setresgid(u.gid, u.gid, u.gid) < 0)
        child_die(c, errno, "setgid %u", (unsigned)u.gid);
    if (setresuid(u.uid, u.uid, u.uid) < 0)
        child_die(c, errno, "setuid %u", (unsigned)u.uid);
    /* A change of credentials clears the parent-death signal. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    setup_caps(c, false);
    if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_die(c, errno, "set no_new_privs");

    if (spec->init)
        run_init(c);
    exec_command(c, path, env);
}

/* ---- the parent ---- */

static int write_cgroups(const struct rt_spec *spec, pid_t pid, struct iso_err *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);

    for (size_t i = 0; i < spec->n_cgroups; i++) {
        int fd = open(spec->cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return iso_err_set_errno(err, errno, "open '%s'", spec->cgroups[i]);
        int r = iso_write_all(fd, buf, (size_t)n);
        close(fd);
        if (r < 0)
            return iso_err_set_errno(err, r, "write '%s'", spec->cgroups[i]);
    }
    return 0;
}

int rt_container_start(const struct rt_spec *spec, const struct rt_stdio *stdio, pid_t *ret_pid,
                       int *ret_pidfd, int *ret_exit_code, struct iso_err *err)
{
    int syncp[2] = {-1, -1}, errp[2] = {-1, -1};
    _cleanup_close_ int pidfd = -1;
    struct child_msg m;
    ssize_t n;
    int r;

    *ret_exit_code = 125;
    if (!spec->rootfs)
        return iso_err_set(err, EINVAL, "spec without rootfs");
    if (pipe2(syncp, O_CLOEXEC) < 0)
        return iso_err_set_errno(err, errno, "pipe");
    if (pipe2(errp, O_CLOEXEC) < 0) {
        r = iso_err_set_errno(err, errno, "pipe");
        close(syncp[0]);
        close(syncp[1]);
        return r;
    }

    uint64_t flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (spec->net == RT_NET_NONE)
        flags |= CLONE_NEWNET;
    struct rt_clone_args args = {
        .flags = flags,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        r = iso_err_set_errno(err, errno, "clone3");
        close(syncp[0]);
        close(syncp[1]);
        close(errp[0]);
        close(errp[1]);
        return r;
    }
    if (pid == 0) {
        struct child c = {.spec = spec, .stdio = stdio, .errfd = errp[1], .rootfd = -1};
        close(syncp[1]);
        close(errp[0]);
        child_main(&c, syncp[0]);
    }

    close(syncp[0]);
    close(errp[1]);
    r = write_cgroups(spec, (pid_t)pid, err);
    if (r >= 0 && iso_write_all(syncp[1], "g", 1) < 0)
        r = iso_err_set_errno(err, errno, "start the container init");
    close(syncp[1]);
    if (r < 0) {
        /* Closing the sync pipe makes the child exit before it does anything. */
        close(errp[0]);
        (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        (void)RETRY_EINTR(waitpid((pid_t)pid, NULL, 0));
        return r;
    }

    n = iso_read_all(errp[0], &m, sizeof(m));
    close(errp[0]);
    if (n == 0) {
        *ret_pid = (pid_t)pid;
        *ret_pidfd = TAKE_FD(pidfd);
        *ret_exit_code = 0;
        return 0;
    }
    (void)RETRY_EINTR(waitpid((pid_t)pid, NULL, 0));
    if (n != (ssize_t)sizeof(m))
        return iso_err_set(err, EIO, "container init failed without a message");
    m.msg[sizeof(m.msg) - 1] = '\0';
    *ret_exit_code = m.exit_code;
    return iso_err_set(err, m.err, "%s", m.msg);
}
