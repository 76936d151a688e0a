#include "store/overlay.h"

#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/util.h"
#include "store/layers.h"

#define LOWER_PREFIX "lowerdir="
/* "l/" + short id, and a ':' between two of them. */
#define LOWER_ENTRY_LEN (2 + STORE_LAYER_SHORT_ID_LEN)

/* Layers that fit in one page when the upper and work part takes extra bytes. */
static int layers_fitting(size_t extra)
{
    /* strlen(LOWER_PREFIX) + n * LOWER_ENTRY_LEN + (n - 1) colons + extra + NUL <= page */
    size_t fixed = strlen(LOWER_PREFIX) - 1 + extra + 1;
    if (fixed >= STORE_OVERLAY_PAGE)
        return 0;
    return (int)((STORE_OVERLAY_PAGE - fixed) / (LOWER_ENTRY_LEN + 1));
}

int store_overlay_max_layers(void)
{
    return layers_fitting(STORE_OVERLAY_UPPER_RESERVE);
}

static int too_many(size_t n, int max, struct iso_err *err)
{
    return iso_err_set(err, E2BIG, "image has %zu layers; at most %d fit in one overlay mount", n,
                       max);
}

int store_overlay_check(size_t n_layers, struct iso_err *err)
{
    int max = store_overlay_max_layers();

    if (n_layers == 0)
        return iso_err_set(err, EINVAL, "image has no layers");
    if (n_layers > (size_t)max)
        return too_many(n_layers, max, err);
    return 0;
}

/* Checks the layer count and upper/work arguments common to every way of mounting. */
static int check_args(size_t n, const char *upperdir, const char *workdir, struct iso_err *err)
{
    if (n == 0)
        return iso_err_set(err, EINVAL, "image has no layers");
    if (!upperdir != !workdir)
        return iso_err_set(err, EINVAL, "overlay needs both an upper and a work directory");
    if (upperdir && (!*upperdir || !*workdir))
        return iso_err_set(err, EINVAL, "empty overlay upper or work directory");
    return 0;
}

int store_overlay_options(struct store_layers *ls, const char *const *chain_ids, size_t n,
                          const char *upperdir, const char *workdir, char **ret,
                          struct iso_err *err)
{
    size_t extra = 0, len, pos;
    int r, max;

    r = check_args(n, upperdir, workdir, err);
    if (r < 0)
        return r;
    if (n == 1 && !upperdir)
        return iso_err_set(err, EINVAL,
                           "a read-only overlay needs at least 2 layers; bind-mount the layer");
    if (upperdir) {
        /* Overlay's option parser splits on ',' and ':' and unescapes '\'. */
        if (strpbrk(upperdir, ",:\\") || strpbrk(workdir, ",:\\"))
            return iso_err_set(err, EINVAL,
                               "overlay directory '%s' or '%s' contains ',', ':' or '\\'", upperdir,
                               workdir);
        extra = strlen(",upperdir=") + strlen(upperdir) + strlen(",workdir=") + strlen(workdir);
    }
    max = layers_fitting(extra);
    if (n > (size_t)max)
        return too_many(n, max, err);

    /* Built on the stack, so that an error leaves nothing to free. */
    char buf[STORE_OVERLAY_PAGE];
    len = strlen(LOWER_PREFIX) + n * (LOWER_ENTRY_LEN + 1) - 1 + extra + 1;
    assert(len <= sizeof(buf));
    pos = (size_t)snprintf(buf, sizeof(buf), "%s", LOWER_PREFIX);
    for (size_t i = n; i-- > 0;) {
        char short_id[STORE_LAYER_SHORT_ID_LEN + 1];
        r = store_layers_short_id(ls, chain_ids[i], short_id, err);
        if (r < 0)
            return r;
        pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, "%sl/%s", i == n - 1 ? "" : ":",
                                short_id);
    }
    if (upperdir)
        pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, ",upperdir=%s,workdir=%s", upperdir,
                                workdir);
    assert(pos + 1 == len);
    (void)len; /* read by the asserts only, which NDEBUG (release builds) removes */
    char *opts = strdup(buf);
    if (!opts)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret = opts;
    return 0;
}

/* ---- new mount API ---- */

static bool kernel_lacks(int e)
{
    /* ENOSYS: no such syscall (or a seccomp filter / valgrind that does not know it). */
    return e == ENOSYS || e == EOPNOTSUPP;
}

/* Appends the fs context's log ("e overlayfs: ..." lines) to err's message: the kernel's reason
 * is far better than a bare EINVAL. */
static void append_fs_log(int fs, struct iso_err *err)
{
    char line[256];
    ssize_t n;

    if (!err)
        return;
    while ((n = read(fs, line, sizeof(line) - 1)) > 0) {
        line[n] = '\0';
        line[strcspn(line, "\n")] = '\0';
        size_t used = strlen(err->msg);
        const char *text = n > 2 && line[1] == ' ' ? line + 2 : line;
        snprintf(err->msg + used, sizeof(err->msg) - used, " (%s)", text);
    }
}

static int open_diff(struct store_layers *ls, const char *chain_id, int flags, struct iso_err *err)
{
    char path[128];
    int fd;

    if (!chain_id || !strneq(chain_id, "sha256:", 7) || strlen(chain_id) != 71 ||
        strspn(chain_id + 7, "0123456789abcdef") != 64)
        return iso_err_set(err, EINVAL, "invalid chain id '%s'", chain_id ? chain_id : "");
    snprintf(path, sizeof(path), "%s/diff", chain_id + 7);
    fd = openat(store_layers_dirfd(ls), path, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return iso_err_set(err, ENOENT, "layer '%s' not found", chain_id);
        return iso_err_set_errno(err, errno, "open layer '%s'", chain_id);
    }
    return fd;
}

static int fsmount_bind_ro(struct store_layers *ls, const char *chain_id, struct iso_err *err)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    _cleanup_close_ int diff = -1;
    int mnt;

    diff = open_diff(ls, chain_id, O_PATH, err);
    if (diff < 0)
        return diff;
    mnt = open_tree(diff, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (mnt < 0) {
        if (kernel_lacks(errno))
            return iso_err_set(err, EOPNOTSUPP, "kernel lacks open_tree()");
        return iso_err_set_errno(err, errno, "bind layer '%s'", chain_id);
    }
    if (mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
        int r;
        if (kernel_lacks(errno))
            r = iso_err_set(err, EOPNOTSUPP, "kernel lacks mount_setattr()");
        else
            r = iso_err_set_errno(err, errno, "make layer '%s' read-only", chain_id);
        safe_close(mnt);
        return r;
    }
    return mnt;
}

static int fsconfig_dir(int fs, const char *key, int dirfd, const char *path, struct iso_err *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return iso_err_set_errno(err, errno, "open overlay %s '%s'", key, path);
    if (fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd) < 0) {
        int r = iso_err_set_errno(err, errno, "overlay %s '%s'", key, path);
        append_fs_log(fs, err);
        return r;
    }
    return 0;
}

int store_overlay_fsmount(struct store_layers *ls, const char *const *chain_ids, size_t n,
                          const char *upperdir, const char *workdir, struct iso_err *err)
{
    _cleanup_close_ int fs = -1;
    int r, mnt;

    r = check_args(n, upperdir, workdir, err);
    if (r < 0)
        return r;
    if (n == 1 && !upperdir)
        return fsmount_bind_ro(ls, chain_ids[0], err);

    fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0) {
        if (kernel_lacks(errno))
            return iso_err_set(err, EOPNOTSUPP, "kernel lacks fsopen()");
        return iso_err_set_errno(err, errno, "create overlay");
    }
    /* lowerdir+ appends below the layers given so far: the top one goes first. */
    for (size_t i = n; i-- > 0;) {
        _cleanup_close_ int diff = open_diff(ls, chain_ids[i], O_PATH, err);
        if (diff < 0)
            return diff;
        if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, diff) < 0) {
            /* Before 6.13 (lowerdir+ by fd) or 6.7 (lowerdir+ at all) the key is rejected. */
            if (i == n - 1 && (errno == EINVAL || kernel_lacks(errno)))
                return iso_err_set(err, EOPNOTSUPP, "kernel lacks overlay lowerdir+ by fd");
            r = iso_err_set_errno(err, errno, "add layer '%s' to overlay", chain_ids[i]);
            append_fs_log(fs, err);
            return r;
        }
    }
    if (upperdir) {
        r = fsconfig_dir(fs, "upperdir", store_layers_dirfd(ls), upperdir, err);
        if (r < 0)
            return r;
        r = fsconfig_dir(fs, "workdir", store_layers_dirfd(ls), workdir, err);
        if (r < 0)
            return r;
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        r = iso_err_set_errno(err, errno, "create overlay of %zu layers", n);
        append_fs_log(fs, err);
        return r;
    }
    mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
    if (mnt < 0)
        return iso_err_set_errno(err, errno, "mount overlay of %zu layers", n);
    return mnt;
}

static int check_target(const char *target, struct iso_err *err)
{
    /* Relative would mean the process cwd here but layers/ in the legacy child. */
    if (!target || target[0] != '/')
        return iso_err_set(err, EINVAL, "mount target '%s' is not an absolute path",
                           target ? target : "");
    return 0;
}

int store_overlay_mount(struct store_layers *ls, const char *const *chain_ids, size_t n,
                        const char *upperdir, const char *workdir, const char *target,
                        struct iso_err *err)
{
    _cleanup_close_ int mnt = -1;
    int r;

    r = check_target(target, err);
    if (r < 0)
        return r;
    mnt = store_overlay_fsmount(ls, chain_ids, n, upperdir, workdir, err);
    if (mnt == -EOPNOTSUPP)
        return store_overlay_mount_legacy(ls, chain_ids, n, upperdir, workdir, target, err);
    if (mnt < 0)
        return mnt;
    if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return iso_err_set_errno(err, errno, "mount overlay on '%s'", target);
    return 0;
}

/* ---- mount(2) in a child ---- */

/* Read-only bind mount; returns an errno. For binds the type is ignored: "none" instead of NULL
 * only keeps valgrind quiet. */
static int bind_ro(const char *source, const char *target)
{
    if (mount(source, target, "none", MS_BIND, NULL) < 0)
        return errno;
    if (mount("none", target, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        int e = errno;
        (void)umount2(target, MNT_DETACH);
        return e;
    }
    return 0;
}

/* Runs in the forked child of a multi-threaded process: async-signal-safe calls only. */
static _noreturn_ void legacy_child(int layers_fd, int report_fd, const char *source,
                                    const char *target, const char *opts)
{
    int e;

    if (fchdir(layers_fd) < 0)
        e = errno;
    else if (opts)
        e = mount("overlay", target, "overlay", 0, opts) < 0 ? errno : 0;
    else
        e = bind_ro(source, target);
    if (e != 0)
        (void)!write(report_fd, &e, sizeof(e));
    _exit(e == 0 ? 0 : 1);
}

int store_overlay_mount_legacy(struct store_layers *ls, const char *const *chain_ids, size_t n,
                               const char *upperdir, const char *workdir, const char *target,
                               struct iso_err *err)
{
    _cleanup_close_ int rd = -1;
    char source[128] = "", opts[STORE_OVERLAY_PAGE] = "";
    int pipefd[2], status, e = 0, r;

    r = check_target(target, err);
    if (r < 0)
        return r;
    r = check_args(n, upperdir, workdir, err);
    if (r < 0)
        return r;
    if (n == 1 && !upperdir) {
        _cleanup_close_ int diff = open_diff(ls, chain_ids[0], O_PATH, err);
        if (diff < 0)
            return diff;
        snprintf(source, sizeof(source), "%s/diff", chain_ids[0] + 7);
    } else {
        char *o = NULL;
        r = store_overlay_options(ls, chain_ids, n, upperdir, workdir, &o, err);
        if (r < 0)
            return r;
        /* On the stack: nothing to free in the child, which only calls _exit(). */
        snprintf(opts, sizeof(opts), "%s", o);
        free(o);
    }

    /* The child reports errno here; a pipe still works if SIGCHLD is ignored and the kernel
     * reaps the child before waitpid(). */
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return iso_err_set_errno(err, errno, "mount on '%s'", target);
    rd = pipefd[0];
    pid_t pid = fork();
    if (pid == 0)
        legacy_child(store_layers_dirfd(ls), pipefd[1], source, target, opts[0] ? opts : NULL);
    safe_close(pipefd[1]);
    if (pid < 0)
        return iso_err_set_errno(err, errno, "mount on '%s': fork", target);

    /* EOF without a report: the child mounted, unless it died first (status says). */
    ssize_t got = RETRY_EINTR(read(rd, &e, sizeof(e)));
    if (got < 0)
        e = errno;
    else if (got != (ssize_t)sizeof(e))
        e = 0;
    pid_t w = RETRY_EINTR(waitpid(pid, &status, 0));
    if (e == 0 && w == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        e = EIO;
    if (e != 0) {
        if (opts[0])
            return iso_err_set_errno(err, e, "mount overlay of %zu layers on '%s'", n, target);
        return iso_err_set_errno(err, e, "bind layer '%s' on '%s'", chain_ids[0], target);
    }
    return 0;
}

int store_overlay_unmount(const char *target, struct iso_err *err)
{
    if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return iso_err_set_errno(err, errno, "unmount '%s'", target);
    return 0;
}
