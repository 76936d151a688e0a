#include "store/layers.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"

struct store_layers {
    int layers_fd; /* layers/ */
    int links_fd;  /* layers/l/ */
    int tmp_fd;    /* tmp/ */
};

#define HEX_LEN 64
#define HEX_MAX (HEX_LEN + 1)

/* Past this depth store_rm_rf_at() moves a subtree up instead of opening one more fd. */
#define RM_MAX_DEPTH 64

#define FIRST_ERR(ret, r)                                                                          \
    do {                                                                                           \
        if ((ret) == 0 && (r) < 0)                                                                 \
            (ret) = (r);                                                                           \
    } while (0)

static void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

static const char *chain_hex(const char *chain_id)
{
    if (!chain_id || !strneq(chain_id, "sha256:", 7) || strlen(chain_id) != 7 + HEX_LEN ||
        strspn(chain_id + 7, "0123456789abcdef") != HEX_LEN)
        return NULL;
    return chain_id + 7;
}

static bool is_hex_name(const char *s)
{
    return strlen(s) == HEX_LEN && strspn(s, "0123456789abcdef") == HEX_LEN;
}

static bool is_short_id(const char *s)
{
    return strlen(s) == STORE_LAYER_SHORT_ID_LEN &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == STORE_LAYER_SHORT_ID_LEN;
}

/* n random characters of alphabet (at most 256 long), NUL-terminated; buf holds n + 1. */
static int random_chars(char *buf, size_t n, const char *alphabet)
{
    size_t len = strlen(alphabet), done = 0;
    unsigned limit = 256 - 256 % len; /* reject the tail so every character is equally likely */
    unsigned char rnd[64];

    while (done < n) {
        ssize_t got = getrandom(rnd, sizeof(rnd), 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (ssize_t i = 0; i < got && done < n; i++)
            if (rnd[i] < limit)
                buf[done++] = alphabet[rnd[i] % len];
    }
    buf[n] = '\0';
    return 0;
}

/* A new open file description of the directory fd: readdir() keeps its position in the
 * description, so a dup() shared between threads would race. */
static DIR *opendir_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        safe_close(fd);
    return d;
}

/* Next entry other than "." and "..", or NULL with errno 0 at the end. */
static struct dirent *readdir_no_dots(DIR *d)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de || !(streq(de->d_name, ".") || streq(de->d_name, "..")))
            return de;
    }
}

/* ---- rm -rf by fd ---- */

struct rm_ctx {
    int top_fd;     /* the directory being removed; deep subtrees are moved up into it */
    bool moved;     /* a pass moved something up: the top needs another pass */
    unsigned count; /* names for moved subtrees */
};

/* Both fds on the same mount? A leaked or planted mount inside the tree must not be emptied. */
static int same_mount(int parent_fd, int fd)
{
    struct statx a, b;

    if (statx(parent_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) < 0 ||
        statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &b) < 0)
        return -errno;
    if (a.stx_dev_major != b.stx_dev_major || a.stx_dev_minor != b.stx_dev_minor)
        return -EBUSY;
    /* STATX_MNT_ID needs Linux 5.8; without it a bind mount of the same fs goes unnoticed,
     * but rmdir on the mount point still fails with EBUSY. */
    if ((a.stx_mask & b.stx_mask & STATX_MNT_ID) && a.stx_mnt_id != b.stx_mnt_id)
        return -EBUSY;
    return 0;
}

/* Clears the immutable and append-only flags, which block unlink even for root. 1 if some
 * were set, 0 if none, negative errno if they cannot be read or changed. */
static int clear_flags(int fd)
{
    int flags; /* the ioctl takes an int, whatever its prototype says */

    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
        return -errno;
    if (!(flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)))
        return 0;
    flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
    if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
        return -errno;
    return 1;
}

/* Makes name under dfd removable: clears its flags. Only regular files and directories carry
 * them, and opening anything else could block (fifo) or reach a driver (device). */
static bool fix_entry(int dfd, const char *name)
{
    struct stat st;
    _cleanup_close_ int fd = -1;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return false;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return false;
    return clear_flags(fd) > 0;
}

/* unlinkat() that gets past immutable/append-only flags and, in a directory of the tree being
 * removed (own_parent), past flags and missing write permission on the parent. */
static int unlink_fixing(int dfd, const char *name, int flags, bool own_parent)
{
    if (unlinkat(dfd, name, flags) >= 0 || errno == ENOENT)
        return 0;
    int r = -errno;
    if (r != -EPERM && r != -EACCES)
        return r;

    bool fixed = fix_entry(dfd, name);
    if (own_parent) {
        if (clear_flags(dfd) > 0)
            fixed = true;
        if (r == -EACCES && fchmod(dfd, 0700) >= 0)
            fixed = true;
    }
    if (fixed && (unlinkat(dfd, name, flags) >= 0 || errno == ENOENT))
        return 0;
    return r;
}

static int rm_children(int fd, struct rm_ctx *ctx, unsigned depth);

/* Moves the directory name under dfd into the top of the tree, so that removing a tree of any
 * depth needs at most RM_MAX_DEPTH open fds. The top's loop picks it up on its next pass. */
static int move_to_top(int dfd, const char *name, struct rm_ctx *ctx)
{
    char to[64];

    for (int attempt = 0; attempt < 2; attempt++) {
        for (;;) {
            snprintf(to, sizeof(to), ".rm-deep-%u", ctx->count++);
            if (renameat2(dfd, name, ctx->top_fd, to, RENAME_NOREPLACE) >= 0) {
                ctx->moved = true;
                return 0;
            }
            if (errno != EEXIST)
                break;
        }
        /* An immutable directory cannot be moved: its ".." would change. */
        if (errno != EPERM || !fix_entry(dfd, name))
            break;
    }
    return -errno;
}

static int rm_entry(int dfd, const char *name, bool is_dir, struct rm_ctx *ctx, unsigned depth)
{
    int ret = 0, r;

    if (!is_dir)
        return unlink_fixing(dfd, name, 0, true);
    if (depth >= RM_MAX_DEPTH)
        return move_to_top(dfd, name, ctx);

    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP) /* replaced since readdir: not a dir any more */
            return unlink_fixing(dfd, name, 0, true);
        return -errno;
    }
    r = same_mount(dfd, fd);
    if (r < 0) {
        safe_close(fd);
        return r;
    }
    r = rm_children(fd, ctx, depth + 1);
    FIRST_ERR(ret, r);
    r = unlink_fixing(dfd, name, AT_REMOVEDIR, true);
    FIRST_ERR(ret, r);
    return ret;
}

/* Removes everything inside the directory fd, which it takes over. */
static int rm_children(int fd, struct rm_ctx *ctx, unsigned depth)
{
    _cleanup_closedir_ DIR *d = NULL;
    struct dirent *de;
    int ret = 0, r;

    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        safe_close(fd);
        return r;
    }
    while ((de = readdir_no_dots(d))) {
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                    FIRST_ERR(ret, -errno);
                continue;
            }
            is_dir = S_ISDIR(st.st_mode);
        }
        r = rm_entry(dirfd(d), de->d_name, is_dir, ctx, depth);
        FIRST_ERR(ret, r);
    }
    if (errno != 0)
        FIRST_ERR(ret, -errno);
    return ret;
}

int store_rm_rf_at(int dirfd, const char *name)
{
    struct rm_ctx ctx = {.top_fd = -1};
    struct stat st;
    int ret = 0, r;

    if (!name || !*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
        return -EINVAL;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink_fixing(dirfd, name, 0, false);

    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    r = same_mount(dirfd, fd);
    if (r < 0)
        return r;
    ctx.top_fd = fd;
    do {
        ctx.moved = false;
        int pass_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pass_fd < 0)
            return -errno;
        r = rm_children(pass_fd, &ctx, 1);
        FIRST_ERR(ret, r);
    } while (ctx.moved);
    r = unlink_fixing(dirfd, name, AT_REMOVEDIR, false);
    FIRST_ERR(ret, r);
    return ret;
}

/* ---- link files and short links ---- */

/* Reads layers/<hex>/link (or <dir_fd>/link) into short_id. -EINVAL if it is malformed. */
static int read_link_file(int dirfd, const char *path, char short_id[STORE_LAYER_SHORT_ID_LEN + 1])
{
    char buf[STORE_LAYER_SHORT_ID_LEN + 2];
    _cleanup_close_ int fd = -1;

    fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = iso_read_all(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    if (!is_short_id(buf))
        return -EINVAL;
    memcpy(short_id, buf, STORE_LAYER_SHORT_ID_LEN + 1);
    return 0;
}

/* Writes <dir_fd>/link with a fresh short id, durably (file and dir fsynced), replacing any. */
static int write_link_file(int dir_fd, char short_id[STORE_LAYER_SHORT_ID_LEN + 1])
{
    _cleanup_close_ int fd = -1;
    int r;

    r = random_chars(short_id, STORE_LAYER_SHORT_ID_LEN, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    if (r < 0)
        return r;
    (void)unlinkat(dir_fd, "link.tmp", 0);
    fd = openat(dir_fd, "link.tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    r = iso_write_all(fd, short_id, STORE_LAYER_SHORT_ID_LEN);
    if (r < 0)
        return r;
    if (fsync(fd) < 0 || renameat(dir_fd, "link.tmp", dir_fd, "link") < 0 || fsync(dir_fd) < 0)
        return -errno;
    return 0;
}

static void link_target(const char *hex, char *buf, size_t size)
{
    snprintf(buf, size, "../%s/diff", hex);
}

/* Makes l/<short> point at the layer, creating it (fsynced) if missing. */
static int ensure_short_link(struct store_layers *ls, const char *hex, struct iso_err *err)
{
    char path[HEX_MAX + 8], target[HEX_MAX + 16], cur[HEX_MAX + 16];
    char short_id[STORE_LAYER_SHORT_ID_LEN + 1];
    int r;

    snprintf(path, sizeof(path), "%s/link", hex);
    r = read_link_file(ls->layers_fd, path, short_id);
    if (r < 0)
        return iso_err_set_errno(err, r, "read short id of layer 'sha256:%s'", hex);
    link_target(hex, target, sizeof(target));
    if (symlinkat(target, ls->links_fd, short_id) >= 0) {
        if (fsync(ls->links_fd) < 0)
            return iso_err_set_errno(err, errno, "sync layers/l");
        return 0;
    }
    if (errno != EEXIST)
        return iso_err_set_errno(err, errno, "create short link '%s'", short_id);
    ssize_t n = readlinkat(ls->links_fd, short_id, cur, sizeof(cur) - 1);
    if (n < 0)
        return iso_err_set_errno(err, errno, "read short link '%s'", short_id);
    cur[n] = '\0';
    if (!streq(cur, target))
        return iso_err_set(err, EEXIST, "short link '%s' points at '%s', not at layer 'sha256:%s'",
                           short_id, cur, hex);
    return 0;
}

/* ---- open ---- */

static int mkdir_open(int dirfd, const char *name, int *ret)
{
    if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
        return -errno;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    *ret = fd;
    return 0;
}

static int wipe_contents(int dirfd)
{
    _cleanup_closedir_ DIR *d = opendir_at(dirfd, ".");
    struct dirent *de;
    int ret = 0;

    if (!d)
        return -errno;
    while ((de = readdir_no_dots(d))) {
        int r = store_rm_rf_at(dirfd, de->d_name);
        FIRST_ERR(ret, r);
    }
    if (errno != 0)
        FIRST_ERR(ret, -errno);
    return ret;
}

/* Removes from l/ whatever is not a symlink to an existing layer's diff. */
static int remove_stray_links(struct store_layers *ls)
{
    _cleanup_closedir_ DIR *d = opendir_at(ls->links_fd, ".");
    struct dirent *de;
    char target[HEX_MAX + 16];
    int ret = 0;

    if (!d)
        return -errno;
    while ((de = readdir_no_dots(d))) {
        struct stat st;
        ssize_t n = readlinkat(ls->links_fd, de->d_name, target, sizeof(target) - 1);
        bool keep = false;

        if (n > 0) {
            target[n] = '\0';
            char hex[HEX_MAX] = "";
            char want[HEX_MAX + 16];
            if (strneq(target, "../", 3) && (size_t)n == 3 + HEX_LEN + 5) {
                memcpy(hex, target + 3, HEX_LEN);
                hex[HEX_LEN] = '\0';
            }
            link_target(hex, want, sizeof(want));
            keep = is_hex_name(hex) && streq(target, want) && is_short_id(de->d_name) &&
                   fstatat(ls->links_fd, de->d_name, &st, 0) >= 0 && S_ISDIR(st.st_mode);
        }
        if (!keep) {
            log_debug("removing stray short link", "name=%s", de->d_name);
            int r = store_rm_rf_at(ls->links_fd, de->d_name);
            FIRST_ERR(ret, r);
        }
    }
    if (errno != 0)
        FIRST_ERR(ret, -errno);
    return ret;
}

/* Gives every layer its short link back: a crash between the rename and the symlink in
 * store_layers_publish() leaves a layer without one. Best effort: a damaged layer must not keep
 * the daemon from starting; its mounts fail later with a clear error. */
static void repair_links(struct store_layers *ls)
{
    _cleanup_closedir_ DIR *d = opendir_at(ls->layers_fd, ".");
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir_no_dots(d))) {
        struct iso_err err = {0};
        char short_id[STORE_LAYER_SHORT_ID_LEN + 1];
        char path[HEX_MAX + 8];

        if (!is_hex_name(de->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/link", de->d_name);
        if (read_link_file(ls->layers_fd, path, short_id) < 0) {
            _cleanup_close_ int fd =
                openat(ls->layers_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int r = fd < 0 ? -errno : write_link_file(fd, short_id);
            if (r < 0) {
                log_debug_errno(r, "cannot rewrite link file, ignoring", "layer=%s", de->d_name);
                continue;
            }
        }
        if (ensure_short_link(ls, de->d_name, &err) < 0)
            log_debug("cannot repair short link, ignoring", "layer=%s error=\"%s\"", de->d_name,
                      err.msg);
    }
}

static int layers_open(int root_fd, bool startup, struct store_layers **ret, struct iso_err *err)
{
    struct store_layers *ls;
    int r;

    ls = malloc(sizeof(*ls));
    if (!ls)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ls = (struct store_layers){.layers_fd = -1, .links_fd = -1, .tmp_fd = -1};

    r = mkdir_open(root_fd, "layers", &ls->layers_fd);
    if (r < 0) {
        iso_err_set_errno(err, r, "open layers/");
        goto fail;
    }
    r = mkdir_open(ls->layers_fd, "l", &ls->links_fd);
    if (r < 0) {
        iso_err_set_errno(err, r, "open layers/l/");
        goto fail;
    }
    r = mkdir_open(root_fd, "tmp", &ls->tmp_fd);
    if (r < 0) {
        iso_err_set_errno(err, r, "open tmp/");
        goto fail;
    }
    if (startup) {
        r = wipe_contents(ls->tmp_fd);
        if (r < 0) {
            iso_err_set_errno(err, r, "wipe tmp/");
            goto fail;
        }
        r = remove_stray_links(ls);
        if (r < 0) {
            iso_err_set_errno(err, r, "clean layers/l/");
            goto fail;
        }
        repair_links(ls);
    }
    *ret = ls;
    return 0;
fail:
    store_layers_close(ls);
    return r;
}

int store_layers_open(int root_fd, struct store_layers **ret, struct iso_err *err)
{
    return layers_open(root_fd, true, ret, err);
}

int store_layers_attach(int root_fd, struct store_layers **ret, struct iso_err *err)
{
    return layers_open(root_fd, false, ret, err);
}

struct store_layers *store_layers_close(struct store_layers *ls)
{
    if (ls) {
        safe_close(ls->layers_fd);
        safe_close(ls->links_fd);
        safe_close(ls->tmp_fd);
        free(ls);
    }
    return NULL;
}

/* ---- begin, publish, abort, remove ---- */

/* A fresh name in tmp/: prefix followed by 16 random hex digits. */
static int random_name(const char *prefix, char *buf, size_t size)
{
    char rnd[17];
    int r = random_chars(rnd, 16, "0123456789abcdef");
    if (r < 0)
        return r;
    snprintf(buf, size, "%s%s", prefix, rnd);
    return 0;
}

int store_layers_begin(struct store_layers *ls, struct store_layer_tmp *ret, struct iso_err *err)
{
    struct store_layer_tmp t = {.dir_fd = -1, .diff_fd = -1};
    int r;

    for (;;) {
        r = random_name("unpack-", t.name, sizeof(t.name));
        if (r < 0)
            return iso_err_set_errno(err, r, "create unpack directory");
        if (mkdirat(ls->tmp_fd, t.name, 0700) >= 0)
            break;
        if (errno != EEXIST)
            return iso_err_set_errno(err, errno, "create unpack directory");
    }
    t.dir_fd = openat(ls->tmp_fd, t.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    /* diff/ is the layer's root directory, "/" of a container: 0755 like any rootfs (layers/ is
     * 0700, which keeps others out). The unpacker applies the tarball's "./" entry, if any. */
    if (t.dir_fd < 0 || mkdirat(t.dir_fd, "diff", 0755) < 0) {
        r = iso_err_set_errno(err, errno, "create unpack directory 'tmp/%s'", t.name);
        goto fail;
    }
    t.diff_fd = openat(t.dir_fd, "diff", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t.diff_fd < 0) {
        r = iso_err_set_errno(err, errno, "open 'tmp/%s/diff'", t.name);
        goto fail;
    }
    *ret = t;
    return 0;
fail:
    store_layers_abort(ls, &t);
    return r;
}

void store_layers_abort(struct store_layers *ls, struct store_layer_tmp *tmp)
{
    tmp->diff_fd = safe_close(tmp->diff_fd);
    tmp->dir_fd = safe_close(tmp->dir_fd);
    if (tmp->name[0]) {
        int r = store_rm_rf_at(ls->tmp_fd, tmp->name);
        if (r < 0)
            log_debug_errno(r, "cannot remove unpack directory, ignoring", "name=%s", tmp->name);
        tmp->name[0] = '\0';
    }
}

static int publish(struct store_layers *ls, struct store_layer_tmp *tmp, const char *chain_id,
                   struct iso_err *err)
{
    char short_id[STORE_LAYER_SHORT_ID_LEN + 1];
    const char *hex = chain_hex(chain_id);
    int r;

    if (!hex)
        return iso_err_set(err, EINVAL, "invalid chain id '%s'", chain_id ? chain_id : "");
    if (tmp->dir_fd < 0 || tmp->diff_fd < 0 || !tmp->name[0])
        return iso_err_set(err, EINVAL, "publish of a released unpack");

    /* The unpacker synced the diff's contents; these make the directory entries durable. */
    if (fsync(tmp->diff_fd) < 0)
        return iso_err_set_errno(err, errno, "sync 'tmp/%s/diff'", tmp->name);
    r = write_link_file(tmp->dir_fd, short_id);
    if (r < 0)
        return iso_err_set_errno(err, r, "write link file in 'tmp/%s'", tmp->name);

    r = renameat2(ls->tmp_fd, tmp->name, ls->layers_fd, hex, RENAME_NOREPLACE);
    if (r < 0 && errno == EINVAL)
        /* A filesystem without RENAME_NOREPLACE: a plain rename cannot replace a published
         * layer either, since a directory only replaces an empty one. */
        r = renameat(ls->tmp_fd, tmp->name, ls->layers_fd, hex);
    if (r < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY)
            return iso_err_set_errno(err, errno, "publish layer '%s'", chain_id);
        /* A concurrent pull published it first: ours goes (the caller releases it), theirs
         * counts. Its link file was written before its rename, so its short link can be made
         * here even if the winner has not got that far yet. */
        log_debug("layer already published, discarding ours", "layer=%s", chain_id);
    } else if (fsync(ls->layers_fd) < 0) {
        return iso_err_set_errno(err, errno, "sync layers/");
    }

    r = ensure_short_link(ls, hex, err);
    if (r < 0)
        return iso_err_prefix(err, "publish layer '%s'", chain_id);
    return 0;
}

int store_layers_publish(struct store_layers *ls, struct store_layer_tmp *tmp, const char *chain_id,
                         struct iso_err *err)
{
    int r = publish(ls, tmp, chain_id, err);
    /* After a successful rename tmp/<name> is gone and this only closes the fds. */
    store_layers_abort(ls, tmp);
    return r;
}

int store_layers_remove(struct store_layers *ls, const char *chain_id, struct iso_err *err)
{
    char path[HEX_MAX + 8], short_id[STORE_LAYER_SHORT_ID_LEN + 1], name[40];
    const char *hex = chain_hex(chain_id);
    int r;

    if (!hex)
        return iso_err_set(err, EINVAL, "invalid chain id '%s'", chain_id ? chain_id : "");
    snprintf(path, sizeof(path), "%s/link", hex);
    r = read_link_file(ls->layers_fd, path, short_id);
    if (r == 0 && unlinkat(ls->links_fd, short_id, 0) < 0 && errno != ENOENT)
        return iso_err_set_errno(err, errno, "remove short link of layer '%s'", chain_id);

    r = random_name("remove-", name, sizeof(name));
    if (r < 0)
        return iso_err_set_errno(err, r, "remove layer '%s'", chain_id);
    if (renameat(ls->layers_fd, hex, ls->tmp_fd, name) < 0) {
        if (errno == ENOENT)
            return iso_err_set(err, ENOENT, "layer '%s' not found", chain_id);
        return iso_err_set_errno(err, errno, "remove layer '%s'", chain_id);
    }
    /* From here on the layer is gone; leftovers in tmp/ go at the next start. */
    if (fsync(ls->layers_fd) < 0)
        log_debug_errno(-errno, "cannot sync layers/, ignoring", "layer=%s", chain_id);
    r = store_rm_rf_at(ls->tmp_fd, name);
    if (r < 0)
        log_debug_errno(r, "cannot delete removed layer, ignoring", "layer=%s tmp=%s", chain_id,
                        name);
    return 0;
}

/* ---- queries ---- */

int store_layers_list(struct store_layers *ls, void (*cb)(void *ud, const char *chain_id), void *ud,
                      struct iso_err *err)
{
    _cleanup_closedir_ DIR *d = opendir_at(ls->layers_fd, ".");
    struct dirent *de;
    char chain_id[7 + HEX_MAX];

    if (!d)
        return iso_err_set_errno(err, errno, "list layers/");
    while ((de = readdir_no_dots(d))) {
        if (!is_hex_name(de->d_name))
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        snprintf(chain_id, sizeof(chain_id), "sha256:%s", de->d_name);
        cb(ud, chain_id);
    }
    if (errno != 0)
        return iso_err_set_errno(err, errno, "list layers/");
    return 0;
}

bool store_layers_exists(struct store_layers *ls, const char *chain_id)
{
    const char *hex = chain_hex(chain_id);
    char path[HEX_MAX + 8];
    struct stat st;

    if (!hex)
        return false;
    snprintf(path, sizeof(path), "%s/diff", hex);
    return fstatat(ls->layers_fd, path, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode);
}

int store_layers_short_id(struct store_layers *ls, const char *chain_id,
                          char ret[STORE_LAYER_SHORT_ID_LEN + 1], struct iso_err *err)
{
    const char *hex = chain_hex(chain_id);
    char path[HEX_MAX + 8];
    int r;

    if (!hex)
        return iso_err_set(err, EINVAL, "invalid chain id '%s'", chain_id ? chain_id : "");
    snprintf(path, sizeof(path), "%s/link", hex);
    r = read_link_file(ls->layers_fd, path, ret);
    if (r == -ENOENT)
        return iso_err_set(err, ENOENT, "layer '%s' not found", chain_id);
    if (r < 0)
        return iso_err_set_errno(err, r, "read short id of layer '%s'", chain_id);
    return 0;
}

int store_layers_dirfd(struct store_layers *ls)
{
    return ls->layers_fd;
}

struct du_ctx {
    uint64_t total;
    struct du_link {
        ino_t ino;
        uint64_t bytes;
    } * links; /* inodes with several names: counted once at the end */
    size_t n_links, cap_links;
};

static int du_add_link(struct du_ctx *c, ino_t ino, uint64_t bytes)
{
    if (c->n_links == c->cap_links) {
        size_t cap = c->cap_links ? c->cap_links * 2 : 64;
        struct du_link *p = realloc(c->links, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        c->links = p;
        c->cap_links = cap;
    }
    c->links[c->n_links++] = (struct du_link){ino, bytes};
    return 0;
}

static int cmp_link(const void *a, const void *b)
{
    ino_t x = ((const struct du_link *)a)->ino, y = ((const struct du_link *)b)->ino;
    return x < y ? -1 : x > y;
}

/* Adds up everything inside the directory fd, which it takes over. One fd per level: the
 * unpacker bounds how deep a layer can be. */
static int du_dir(int fd, dev_t dev, struct du_ctx *c)
{
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    struct dirent *de;
    int r;

    if (!d) {
        r = -errno;
        safe_close(fd);
        return r;
    }
    while ((de = readdir_no_dots(d))) {
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        uint64_t bytes = (uint64_t)st.st_blocks * 512;
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
            r = du_add_link(c, st.st_ino, bytes);
            if (r < 0)
                return r;
        } else {
            c->total += bytes;
        }
        if (!S_ISDIR(st.st_mode) || st.st_dev != dev)
            continue;
        int child = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0)
            return -errno;
        r = du_dir(child, dev, c);
        if (r < 0)
            return r;
    }
    return errno != 0 ? -errno : 0;
}

int store_layers_disk_usage(struct store_layers *ls, const char *chain_id, uint64_t *ret,
                            struct iso_err *err)
{
    const char *hex = chain_hex(chain_id);
    struct du_ctx c = {0};
    char path[HEX_MAX + 8];
    struct stat st;
    int fd, r;

    if (!hex)
        return iso_err_set(err, EINVAL, "invalid chain id '%s'", chain_id ? chain_id : "");
    snprintf(path, sizeof(path), "%s/diff", hex);
    fd = openat(ls->layers_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return iso_err_set(err, ENOENT, "layer '%s' not found", chain_id);
        return iso_err_set_errno(err, errno, "open layer '%s'", chain_id);
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        safe_close(fd);
        return iso_err_set_errno(err, r, "stat layer '%s'", chain_id);
    }
    c.total = (uint64_t)st.st_blocks * 512;
    r = du_dir(fd, st.st_dev, &c);
    if (r >= 0 && c.n_links > 0) {
        qsort(c.links, c.n_links, sizeof(*c.links), cmp_link);
        for (size_t i = 0; i < c.n_links; i++)
            if (i == 0 || c.links[i].ino != c.links[i - 1].ino)
                c.total += c.links[i].bytes;
    }
    free(c.links);
    if (r < 0)
        return iso_err_set_errno(err, r, "disk usage of layer '%s'", chain_id);
    *ret = c.total;
    return 0;
}
