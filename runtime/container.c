#include "runtime/container.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
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
#include <sys/fsuid.h>
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
#include "runtime/confine-internal.h"

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

    fd = rt_open_create_in_root(rootfd, dest, file);
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

    fd = rt_openat2_in_root(rootfd, dest, O_PATH);
    if (fd < 0)
        return fd;
    fd_path(target, sizeof(target), fd);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* ---- the child: setup steps ---- */

static void setup_loopback(struct rt_child *c)
{
    struct ifreq ifr = {0};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        rt_child_die(c, errno, "bring up lo");
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        rt_child_die(c, errno, "bring up lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        rt_child_die(c, errno, "bring up lo");
    close(s);
}

/* --privileged: every host device, like moby's oci.DevicesFromPath walk of /dev. */
static void copy_host_devices(struct rt_child *c, const char *host_dir, int devfd, int depth)
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
                rt_child_die(c, errno, "mknod /dev/%s", de->d_name);
            if (fchownat(devfd, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) {
                /* Best effort: a node left root's keeps the host's mode, which is what
                 * matters. */
            }
        }
    }
    closedir(d);
}

/* Binds the pty slave onto /dev/console. A bind source must be a mount of our own mount
 * namespace, and the shim's fd points into the namespace it came from (EINVAL): reopen the
 * slave by its path here, and check it is the same device. */
static void setup_console(struct rt_child *c)
{
    char fdp[64], path[PATH_MAX], src[64];
    struct stat want, got;
    ssize_t n;
    int fd, r;

    fd_path(fdp, sizeof(fdp), c->stdio->in);
    n = readlink(fdp, path, sizeof(path) - 1);
    if (n < 0)
        rt_child_die(c, errno, "mount /dev/console: find the terminal");
    path[n] = '\0';
    fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        rt_child_die(c, errno, "mount /dev/console: open '%s'", path);
    if (fstat(c->stdio->in, &want) < 0 || fstat(fd, &got) < 0)
        rt_child_die(c, errno, "mount /dev/console: stat '%s'", path);
    if (!S_ISCHR(got.st_mode) || got.st_rdev != want.st_rdev)
        rt_child_fail(c, EINVAL, 125, "mount /dev/console: '%s' is not the container's terminal",
                      path);
    fd_path(src, sizeof(src), fd);
    r = mount_in_root(c->rootfd, "/dev/console", true, src, NULL, MS_BIND, NULL);
    if (r < 0)
        rt_child_die(c, r, "mount /dev/console");
    close(fd);
}

/* A v1 host: a tmpfs with one mount per hierarchy, like Docker. The cgroup namespace makes
 * each show the container's own cgroup as its root. Best effort: a hierarchy that cannot be
 * mounted is left out. */
static void setup_cgroup_v1(struct rt_child *c, unsigned long flags)
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
        int fd = rt_openat2_in_root(c->rootfd, "/sys/fs/cgroup", O_PATH | O_DIRECTORY);
        if (fd < 0)
            continue;
        char *csave = NULL;
        for (char *one = strtok_r(ctrls, ",", &csave); one; one = strtok_r(NULL, ",", &csave)) {
            if (symlinkat(dest + strlen("/sys/fs/cgroup/"), fd, one) < 0) {
                /* The image may have made it already: the one there stays. */
            }
        }
        close(fd);
    }
    if (flags & MS_RDONLY)
        (void)remount_in_root(c->rootfd, "/sys/fs/cgroup", flags);
}

static void setup_rootfs(struct rt_child *c)
{
    const struct rt_spec *spec = c->spec;
    int r;

    if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        rt_child_die(c, errno, "make / private");
    if (c->rootmnt >= 0) {
        /* A user namespace: the parent made the root (idmapped layers) on the host. */
        if (move_mount(c->rootmnt, "", AT_FDCWD, spec->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            rt_child_die(c, errno, "move the root mount to '%s'", spec->rootfs);
        close(c->rootmnt);
        c->rootmnt = -1;
    } else if (spec->overlay) {
        /* The options name the layers relative to the layer store, so that many layers
         * still fit in the one page mount(2) takes. */
        if (spec->layers && chdir(spec->layers) < 0)
            rt_child_die(c, errno, "chdir '%s'", spec->layers);
        if (mount("overlay", spec->rootfs, "overlay", 0, spec->overlay) < 0)
            rt_child_die(c, errno, "mount overlay on '%s'", spec->rootfs);
    } else if (mount(spec->rootfs, spec->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        rt_child_die(c, errno, "bind '%s'", spec->rootfs);
    c->rootfd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        rt_child_die(c, errno, "open '%s'", spec->rootfs);

    r = mount_in_root(c->rootfd, "/proc", false, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      NULL);
    if (r < 0)
        rt_child_die(c, r, "mount /proc");

    unsigned long sysflags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec->privileged ? 0 : MS_RDONLY);
    r = mount_in_root(c->rootfd, "/sys", false, "sysfs", "sysfs", sysflags, NULL);
    if (r == -EPERM) {
        /* sysfs refuses a new mount in a netns we do not own: bind the host's instead. */
        r = mount_in_root(c->rootfd, "/sys", false, "/sys", NULL, MS_BIND | MS_REC, NULL);
        if (r >= 0 && !spec->privileged)
            r = remount_in_root(c->rootfd, "/sys", sysflags);
    }
    if (r < 0)
        rt_child_die(c, r, "mount /sys");

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
        rt_child_die(c, r, "mount /dev");
    int devfd = rt_openat2_in_root(c->rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        rt_child_die(c, devfd, "open /dev");
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        const char *name = dev_nodes[i].name;
        dev_t dev = makedev(dev_nodes[i].major, dev_nodes[i].minor);
        if (mknodat(devfd, name, S_IFCHR | 0666, dev) == 0) {
            if (fchmodat(devfd, name, 0666, 0) < 0)
                rt_child_die(c, errno, "chmod /dev/%s", name);
            continue;
        }
        /* No mknod (a restricted host): bind the host's node instead. */
        char host[64], target[64];
        snprintf(host, sizeof(host), "/dev/%s", name);
        int fd = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd < 0)
            rt_child_die(c, errno, "create /dev/%s", name);
        fd_path(target, sizeof(target), fd);
        if (mount(host, target, NULL, MS_BIND, NULL) < 0)
            rt_child_die(c, errno, "bind /dev/%s", name);
        close(fd);
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},         {"/proc/kcore", "core"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], devfd, links[i][1]) < 0)
            rt_child_die(c, errno, "symlink /dev/%s", links[i][1]);
    if (spec->privileged)
        copy_host_devices(c, "/dev", devfd, 0);
    close(devfd);

    r = mount_in_root(c->rootfd, "/dev/pts", false, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620,gid=5");
    if (r < 0)
        rt_child_die(c, r, "mount /dev/pts");
    r = mount_in_root(c->rootfd, "/dev/shm", false, "shm", "tmpfs",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    if (r < 0)
        rt_child_die(c, r, "mount /dev/shm");
    r = mount_in_root(c->rootfd, "/dev/mqueue", false, "mqueue", "mqueue",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (r < 0)
        rt_child_die(c, r, "mount /dev/mqueue");
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
static void check_user_destination(struct rt_child *c, const char *dest)
{
    struct statfs sfs;
    int fd = rt_openat2_in_root(c->rootfd, dest, O_PATH);

    if (fd < 0)
        return; /* missing: created later, which procfs refuses */
    if (fstatfs(fd, &sfs) < 0)
        rt_child_die(c, errno, "mount '%s'", dest);
    close(fd);
    if (sfs.f_type != PROC_SUPER_MAGIC)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(proc_mount_ok); i++)
        if (streq(dest, proc_mount_ok[i]))
            return;
    rt_child_fail(c, EPERM, 125, "mount destination '%s' is inside /proc: not allowed", dest);
}

static void setup_bind(struct rt_child *c, const struct rt_mount *m)
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
            rt_child_fail(c, EINVAL, 125, "mount '%s': unknown bind option '%s'", m->destination,
                          o);
    }
    if (stat(m->source, &st) < 0)
        rt_child_die(c, errno, "mount '%s': stat '%s'", m->destination, m->source);
    check_user_destination(c, m->destination);
    r = mount_in_root(c->rootfd, m->destination, !S_ISDIR(st.st_mode), m->source, NULL,
                      MS_BIND | (rec ? MS_REC : 0), NULL);
    if (r < 0)
        rt_child_die(c, r, "mount '%s' on '%s'", m->source, m->destination);
    if (prop) {
        char target[64];
        int fd = rt_openat2_in_root(c->rootfd, m->destination, O_PATH);
        if (fd < 0)
            rt_child_die(c, fd, "mount '%s'", m->destination);
        fd_path(target, sizeof(target), fd);
        if (mount(NULL, target, NULL, prop, NULL) < 0)
            rt_child_die(c, errno, "mount '%s': set propagation", m->destination);
        close(fd);
    }
    if (flags) {
        r = remount_in_root(c->rootfd, m->destination, flags);
        if (r < 0)
            rt_child_die(c, r, "remount '%s'", m->destination);
    }
}

static void setup_tmpfs(struct rt_child *c, const struct rt_mount *m)
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
            rt_child_fail(c, EINVAL, 125, "mount '%s': options too long", m->destination);
        dlen += (size_t)n;
    }
    check_user_destination(c, m->destination);
    r = mount_in_root(c->rootfd, m->destination, false, "tmpfs", "tmpfs", flags, data);
    if (r < 0)
        rt_child_die(c, r, "mount tmpfs on '%s'", m->destination);
}

static void setup_pivot(struct rt_child *c)
{
    if (fchdir(c->rootfd) < 0)
        rt_child_die(c, errno, "chdir to rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        rt_child_die(c, errno, "pivot_root");
    /* The old root is now stacked on the new one: detach it. */
    if (umount2(".", MNT_DETACH) < 0)
        rt_child_die(c, errno, "detach old root");
    if (chdir("/") < 0)
        rt_child_die(c, errno, "chdir /");
    close(c->rootfd);
    c->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        rt_child_die(c, errno, "open /");
}

static void setup_masks(struct rt_child *c)
{
    struct stat st;

    for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++) {
        const char *p = masked_paths[i];
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            rt_child_die(c, errno, "mask '%s'", p);
        }
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL)
                                    : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (r < 0)
            rt_child_die(c, errno, "mask '%s'", p);
    }
    for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++) {
        const char *p = readonly_paths[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            rt_child_die(c, errno, "read-only '%s'", p);
        }
        if (mount(NULL, p, NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            rt_child_die(c, errno, "read-only '%s'", p);
    }
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
static void run_init(struct rt_child *c)
{
    sigset_t all, none;
    pid_t cmd;

    sigfillset(&all);
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
        rt_child_die(c, errno, "block signals");
    cmd = fork();
    if (cmd < 0)
        rt_child_die(c, errno, "fork the command");
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

/* Waits for the parent's go byte; with a user namespace it carries the root mount's fd. */
static int child_wait(int syncfd, int *ret_rootmnt)
{
    char go;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = {.iov_base = &go, .iov_len = 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm)};
    ssize_t n;

    *ret_rootmnt = -1;
    do
        n = recvmsg(syncfd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        return -1;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
            h->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(ret_rootmnt, CMSG_DATA(h), sizeof(int));
    return 0;
}

static _noreturn_ void child_main(struct rt_child *c, int syncfd, const char *filter,
                                  size_t filter_len)
{
    const struct rt_spec *spec = c->spec;
    struct rt_user u;
    char path[PATH_MAX];
    sigset_t none;

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
    if (child_wait(syncfd, &c->rootmnt) < 0)
        _exit(125);
    close(syncfd);
    /* In a new user namespace our ids are still host root's, unmapped there: become its root. */
    if (spec->n_uidmap &&
        (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        rt_child_die(c, errno, "become root of the user namespace");
    if (unshare(CLONE_NEWCGROUP) < 0)
        rt_child_die(c, errno, "new cgroup namespace");

    if (spec->net == RT_NET_NONE)
        setup_loopback(c);
    setup_rootfs(c);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (spec->mounts[i].type == RT_MOUNT_TMPFS)
            setup_tmpfs(c, &spec->mounts[i]);
        else
            setup_bind(c, &spec->mounts[i]);
    }

    setup_pivot(c);
    if (!spec->privileged)
        setup_masks(c);
    /* The working directory, created if missing (like Docker), resolved inside the root, and
     * before the root may turn read-only. */
    int cwd = rt_open_create_in_root(c->rootfd, spec->cwd && *spec->cwd ? spec->cwd : "/", false);
    if (cwd < 0)
        rt_child_die(c, cwd, "cwd '%s'", spec->cwd ? spec->cwd : "/");
    if (spec->readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        rt_child_die(c, errno, "remount / read-only");
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
        rt_child_die(c, errno, "sethostname '%s'", spec->hostname);
    rt_setup_rlimits(c);
    rt_resolve_user(c, &u);

    char **env = rt_child_env(c, &u);

    if (fchdir(cwd) < 0)
        rt_child_die(c, errno, "chdir to cwd '%s'", spec->cwd);
    close(cwd);
    close(c->rootfd);

    if (!spec->args || !spec->args[0])
        rt_child_fail(c, EINVAL, 125, "no command specified");
    rt_lookup_command(c, env, path, sizeof(path));

    rt_setup_stdio(c);
    rt_child_confine(c, &u, filter, filter_len);

    if (spec->init)
        run_init(c);
    rt_exec_command(c, path, env);
}

/* ---- the parent ---- */

/* Writes /proc/<pid>/<file> (uid_map or gid_map) in the one write the kernel takes. */
static int write_idmap(pid_t pid, const char *file, const struct rt_idmap *m, size_t n,
                       struct iso_err *err)
{
    char path[64], buf[4096];
    size_t len = 0;
    _cleanup_close_ int fd = -1;

    for (size_t i = 0; i < n; i++) {
        int k = snprintf(buf + len, sizeof(buf) - len, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
                         m[i].inside, m[i].outside, m[i].count);
        if (k < 0 || (size_t)k >= sizeof(buf) - len)
            return iso_err_set(err, E2BIG, "%s: too many lines", file);
        len += (size_t)k;
    }
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "open %s", path);
    if (write(fd, buf, len) != (ssize_t)len)
        return iso_err_set_errno(err, errno, "write %s", path);
    return 0;
}

/* A detached copy of the tree at path, idmapped through the user namespace usernsfd: files
 * owned by host uid 0 show as the namespace's root. */
static int idmapped_tree(int dirfd, const char *path, int usernsfd, bool recursive,
                         struct iso_err *err)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)usernsfd};
    unsigned rec = recursive ? AT_RECURSIVE : 0;
    int mnt = open_tree(dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);

    if (mnt < 0)
        return iso_err_set_errno(err, errno, "clone '%s'", path);
    if (mount_setattr(mnt, "", AT_EMPTY_PATH | rec, &attr, sizeof(attr)) < 0) {
        int r = iso_err_set_errno(err, errno, "idmapped mount of '%s'", path);
        close(mnt);
        return r;
    }
    return mnt;
}

static int fsconfig_err(int fs, const char *key, const char *value, struct iso_err *err)
{
    char line[256];
    ssize_t n;
    int r = iso_err_set_errno(err, errno, "overlay %s '%s'", key, value ? value : "");

    /* The fs context's log says why ("e overlayfs: ..."). */
    while ((n = read(fs, line, sizeof(line) - 1)) > 0) {
        line[n] = '\0';
        line[strcspn(line, "\n")] = '\0';
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof(err->msg) - used, " (%s)", line);
    }
    return r;
}

/* The upper or work directory: path inside the idmapped copy of its parent directory (both
 * must share one mount, so they must share the parent). */
static int config_upper(int fs, int layersfd, int usernsfd, const char *key, const char *path,
                        int *updirmnt, char *updir, size_t updir_size, struct iso_err *err)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    _cleanup_close_ int fd = -1;

    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (*updirmnt < 0) {
        *updirmnt = idmapped_tree(layersfd, dir, usernsfd, false, err);
        if (*updirmnt < 0)
            return *updirmnt;
        snprintf(updir, updir_size, "%s", dir);
    } else if (!streq(dir, updir))
        return iso_err_set(err, EINVAL, "overlay upperdir and workdir must share a directory");
    fd = openat(*updirmnt, slash ? slash + 1 : path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "open overlay %s '%s'", key, path);
    if (fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd) < 0)
        return fsconfig_err(fs, key, path, err);
    return 0;
}

/* The root for a user namespace, made here on the host where idmapped mounts may be made:
 * spec->overlay with every layer, upper and work through an idmapped mount, or the rootfs
 * idmapped. The layer store stays shared and unchowned. Returns the detached mount. */
static int make_userns_overlay(const struct rt_spec *spec, int usernsfd, int *lowers,
                               size_t *ret_n_lowers, struct iso_err *err);

static int make_userns_root(const struct rt_spec *spec, int usernsfd, struct iso_err *err)
{
    int lowers[512];
    size_t n_lowers = 0;

    if (!spec->overlay)
        return idmapped_tree(AT_FDCWD, spec->rootfs, usernsfd, true, err);
    int r = make_userns_overlay(spec, usernsfd, lowers, &n_lowers, err);

    for (size_t i = 0; i < n_lowers; i++)
        close(lowers[i]);
    return r;
}

/* Overlay works on its layers with the credentials of whoever created it, and through the
 * idmapped layers only the container's ids can be written (EOVERFLOW for host root): create it
 * with the file system ids of the container's root, keeping host root's capabilities. */
static int set_fsids(uid_t uid, gid_t gid)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];

    (void)setfsgid(gid);
    (void)setfsuid(uid);
    if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid)
        return -EPERM;
    /* Leaving fsuid 0 dropped the file capabilities from the effective set. */
    if (syscall(SYS_capget, &h, d) < 0)
        return -errno;
    d[0].effective = d[0].permitted;
    d[1].effective = d[1].permitted;
    if (syscall(SYS_capset, &h, d) < 0)
        return -errno;
    return 0;
}

static uint32_t root_outside(const struct rt_idmap *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].inside == 0)
            return m[i].outside;
    return m[0].outside;
}

static int make_userns_overlay(const struct rt_spec *spec, int usernsfd, int *lowers,
                               size_t *ret_n_lowers, struct iso_err *err)
{
    _cleanup_close_ int layersfd = -1, fs = -1, updirmnt = -1;
    _cleanup_free_ char *opts = NULL;
    char updir[PATH_MAX] = "", *save = NULL;
    size_t n_lowers = 0;
    int r, mnt;

    *ret_n_lowers = 0;
    layersfd = open(spec->layers ? spec->layers : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (layersfd < 0)
        return iso_err_set_errno(err, errno, "open '%s'", spec->layers);
    opts = strdup(spec->overlay);
    if (!opts)
        return iso_err_set(err, ENOMEM, "out of memory");
    fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return iso_err_set_errno(err, errno, "create overlay");
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(o, '=');
        if (eq)
            *eq++ = '\0';
        if (eq && streq(o, "lowerdir")) {
            char *lsave = NULL;
            /* lowerdir+ appends below the layers given so far: the top one goes first. */
            for (char *l = strtok_r(eq, ":", &lsave); l; l = strtok_r(NULL, ":", &lsave)) {
                /* A detached mount dissolves when its last fd closes, even with the fs
                 * context holding its path: keep them until the overlay is made. */
                if (n_lowers == 512)
                    return iso_err_set(err, E2BIG, "too many overlay layers");
                int lower = idmapped_tree(layersfd, l, usernsfd, false, err);
                if (lower < 0)
                    return lower;
                lowers[n_lowers++] = lower;
                *ret_n_lowers = n_lowers;
                if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, lower) < 0)
                    return fsconfig_err(fs, "lowerdir+", l, err);
            }
        } else if (eq && (streq(o, "upperdir") || streq(o, "workdir"))) {
            r = config_upper(fs, layersfd, usernsfd, o, eq, &updirmnt, updir, sizeof(updir), err);
            if (r < 0)
                return r;
        } else if (fsconfig(fs, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o, eq, 0) < 0)
            return fsconfig_err(fs, o, eq, err);
    }
    const struct rt_idmap *gm = spec->n_gidmap ? spec->gidmap : spec->uidmap;
    size_t n_gm = spec->n_gidmap ? spec->n_gidmap : spec->n_uidmap;
    r = set_fsids(root_outside(spec->uidmap, spec->n_uidmap), root_outside(gm, n_gm));
    if (r >= 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        r = fsconfig_err(fs, "create", "", err);
    else if (r < 0)
        r = iso_err_set_errno(err, -r, "switch to the container's root");
    int r2 = set_fsids(0, 0);
    if (r < 0)
        return r;
    if (r2 < 0)
        return iso_err_set_errno(err, -r2, "switch back to root");
    mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
    if (mnt < 0)
        return iso_err_set_errno(err, errno, "mount overlay");
    return mnt;
}

/* The user namespace of the child: its maps, then its root. */
static int setup_userns(const struct rt_spec *spec, pid_t pid, int *ret_rootmnt,
                        struct iso_err *err)
{
    char path[64];
    _cleanup_close_ int usernsfd = -1;
    int r;

    r = write_idmap(pid, "uid_map", spec->uidmap, spec->n_uidmap, err);
    if (r < 0)
        return r;
    r = write_idmap(pid, "gid_map", spec->n_gidmap ? spec->gidmap : spec->uidmap,
                    spec->n_gidmap ? spec->n_gidmap : spec->n_uidmap, err);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    usernsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (usernsfd < 0)
        return iso_err_set_errno(err, errno, "open %s", path);
    r = make_userns_root(spec, usernsfd, err);
    if (r < 0) {
        (void)iso_err_prefix(err, "user namespace root");
        return r;
    }
    *ret_rootmnt = r;
    return 0;
}

/* The go byte, with the root mount's fd when there is one. */
static int send_go(int fd, int rootmnt)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = {.iov_base = (void *)"g", .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (rootmnt >= 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = &cm;
        mh.msg_controllen = sizeof(cm);
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &rootmnt, sizeof(int));
    }
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -errno;
}

/* Read here, on the host: with a user namespace the child may not read host files. */
static int read_seccomp(const char *path, char **ret, size_t *ret_len, struct iso_err *err)
{
    char *filter = NULL;
    size_t len = 0;
    int r;

    *ret = NULL;
    *ret_len = 0;
    if (!path)
        return 0;
    r = iso_read_file_at(AT_FDCWD, path, BPF_MAXINSNS * sizeof(struct sock_filter), &filter, &len);
    if (r < 0)
        return iso_err_set(err, -r, "read seccomp filter '%s'", path);
    if (len == 0 || len % sizeof(struct sock_filter)) {
        free(filter);
        return iso_err_set(err, EINVAL, "seccomp filter '%s': bad size %zu", path, len);
    }
    *ret = filter;
    *ret_len = len;
    return 0;
}

int rt_container_start(const struct rt_spec *spec, const struct rt_stdio *stdio, pid_t *ret_pid,
                       int *ret_pidfd, int *ret_exit_code, struct iso_err *err)
{
    int syncp[2] = {-1, -1}, errp[2] = {-1, -1};
    _cleanup_close_ int pidfd = -1, rootmnt = -1;
    _cleanup_free_ char *filter = NULL;
    size_t filter_len = 0;
    struct rt_child_msg m;
    ssize_t n;
    int r;

    *ret_exit_code = 125;
    if (!spec->rootfs)
        return iso_err_set(err, EINVAL, "spec without rootfs");
    r = read_seccomp(spec->seccomp, &filter, &filter_len, err);
    if (r < 0)
        return r;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, syncp) < 0)
        return iso_err_set_errno(err, errno, "socketpair");
    if (pipe2(errp, O_CLOEXEC) < 0) {
        r = iso_err_set_errno(err, errno, "pipe");
        safe_close_pair(syncp);
        return r;
    }

    uint64_t flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (spec->net == RT_NET_NONE)
        flags |= CLONE_NEWNET;
    /* The user namespace is made first, so that it owns the others. */
    if (spec->n_uidmap)
        flags |= CLONE_NEWUSER;
    struct rt_clone_args args = {
        .flags = flags,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        r = iso_err_set_errno(err, errno, "clone3");
        safe_close_pair(syncp);
        safe_close_pair(errp);
        return r;
    }
    if (pid == 0) {
        struct rt_child c = {
            .spec = spec, .stdio = stdio, .errfd = errp[1], .rootfd = -1, .rootmnt = -1};
        close(syncp[1]);
        close(errp[0]);
        child_main(&c, syncp[0], filter, filter_len);
    }

    close(syncp[0]);
    close(errp[1]);
    r = spec->n_uidmap ? setup_userns(spec, (pid_t)pid, &rootmnt, err) : 0;
    if (r >= 0)
        r = rt_write_cgroups(spec->cgroups, spec->n_cgroups, (pid_t)pid, err);
    if (r >= 0 && (r = send_go(syncp[1], rootmnt)) < 0)
        r = iso_err_set_errno(err, -r, "start the container init");
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
