#include "store/unpack.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include "common/macro.h"

/* One read from the source and one inflate call per 256 KiB: the per-call costs (syscalls,
 * libarchive's read-ahead bookkeeping) stay far below the cost of the bytes themselves. */
#define IN_BUF_SIZE  ((size_t)256 * 1024)
#define OUT_BUF_SIZE ((size_t)256 * 1024)

/* Caps, so that a hostile layer gets a clear error instead of exhausting memory. libarchive
 * caps pax and GNU long-name headers at 1 MiB by itself. */
#define MAX_ENTRIES        1000000
#define MAX_DIR_PATH_BYTES ((size_t)128 * 1024 * 1024)
/* As the kernel's MAXSYMLINKS. */
#define MAX_SYMLINK_HOPS 40
/* The remaining path of the symlink-following resolver: a link target plus what follows. */
#define WALK_SIZE ((size_t)2 * PATH_MAX)
/* Names in messages are cut here: enough to recognise one, and room left in iso_err. */
#define QNAME_MAX 160

#define OPAQUE_XATTR "trusted.overlay.opaque"

struct dir_times {
    size_t path; /* offset of the NUL-terminated name in dir_paths */
    dev_t dev;
    ino_t ino;
    struct timespec ts[2];
};

struct unpack {
    const struct store_layer_source *src;
    const struct store_unpack_opts *opts;
    struct iso_err *err;
    int error; /* the first error (a negative errno); err holds its message */

    /* The blob: what the source gives, digested and counted as it arrives. */
    uint8_t *in;
    size_t in_pos, in_len;
    bool src_eof;
    uint64_t blob_bytes;
    struct store_digest blob_digest;

    /* The tar: the blob decompressed, digested and counted as libarchive takes it. */
    enum store_compression comp;
    z_stream z;
    bool z_ready, z_member_end;
    ZSTD_DCtx *zstd;
    size_t zstd_hint; /* ZSTD_decompressStream's last result: 0 = between frames */
    uint8_t *out;
    struct store_digest tar_digest;
    uint64_t tar_bytes;

    struct archive *a;
    const char *cur_name; /* the current entry's name as the tar has it */
    char qbuf[2][QNAME_MAX + 8];
    char where[QNAME_MAX + 32]; /* " entry '<name>'" for archive_fail() */

    /* The layer root, and the last parent directory resolved under it. */
    int root_fd;
    char *path;   /* PATH_MAX: the entry's normalized name */
    char *target; /* PATH_MAX: a hardlink's normalized target */
    char *walk;   /* WALK_SIZE */
    char *link;   /* PATH_MAX */
    char *cache_path;
    size_t cache_len;
    int cache_fd;
    bool cache_stale;
    bool no_openat2;

    struct dir_times *dirs;
    size_t n_dirs, cap_dirs;
    char *dir_paths;
    size_t dir_paths_len, dir_paths_cap;

    uint64_t entries, disk_bytes;
};

static void unpack_done(struct unpack *u)
{
    if (u->a)
        archive_read_free(u->a);
    if (u->z_ready)
        inflateEnd(&u->z);
    ZSTD_freeDCtx(u->zstd);
    store_digest_done(&u->blob_digest);
    store_digest_done(&u->tar_digest);
    safe_close(u->cache_fd);
    safe_close(u->root_fd);
    free(u->in);
    free(u->out);
    free(u->path);
    free(u->target);
    free(u->walk);
    free(u->link);
    free(u->cache_path);
    free(u->dirs);
    free(u->dir_paths);
}

/* Records the first error only: when libarchive fails because our read callback failed, the
 * callback's message is the one that explains it. */
static _printf_(4, 0) int u_failv(struct unpack *u, int code, bool with_errno, const char *fmt,
                                  va_list ap)
{
    char msg[ISO_ERR_MSG_MAX];

    if (u->error)
        return u->error;
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): ap comes started from u_fail*(). */
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    if (with_errno)
        u->error = iso_err_set_errno(u->err, code, "%s", msg);
    else
        u->error = iso_err_set(u->err, code, "%s", msg);
    return u->error;
}

static _printf_(3, 4) int u_fail(struct unpack *u, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = u_failv(u, code, false, fmt, ap);
    va_end(ap);
    return r;
}

static _printf_(3, 4) int u_fail_errno(struct unpack *u, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = u_failv(u, code, true, fmt, ap);
    va_end(ap);
    return r;
}

/* A tar name made fit for a message: printable ASCII as is, other bytes as \xNN (a message
 * ends up in JSON and logs, and tar names are arbitrary bytes), cut at QNAME_MAX. */
static const char *qname(struct unpack *u, int slot, const char *s)
{
    char *o = u->qbuf[slot];
    size_t n = 0;

    if (!s)
        s = "";
    for (; *s && n < QNAME_MAX; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            o[n++] = (char)c;
        else
            n += (size_t)snprintf(o + n, 5, "\\x%02x", c);
    }
    if (*s)
        memcpy(o + n, "...", 4);
    else
        o[n] = '\0';
    return o;
}

static const char *cur(struct unpack *u)
{
    return qname(u, 0, u->cur_name);
}

/* "layer entry '<name>': <what>: <strerror>" */
static int entry_errno(struct unpack *u, int code, const char *what)
{
    return u_fail_errno(u, code, "layer entry '%s': %s", cur(u), what);
}

/* --- the byte pipeline ------------------------------------------------------------------- */

static const char *blob_label(struct unpack *u)
{
    return u->opts->expect_blob_digest ? u->opts->expect_blob_digest : "blob";
}

/* Reads more blob bytes, appending to u->in (or starting it over once it is all consumed).
 * Returns the number of bytes added, 0 at the end of the blob. */
static int src_read(struct unpack *u)
{
    ssize_t n;
    size_t room;

    if (u->error)
        return u->error;
    if (u->src_eof)
        return 0;
    if (u->in_pos == u->in_len)
        u->in_pos = u->in_len = 0;
    room = IN_BUF_SIZE - u->in_len;
    assert(room > 0);
    do
        n = u->src->read(u->src->userdata, u->in + u->in_len, room);
    while (n == -EINTR);
    if (n < 0) {
        u->src_eof = true;
        return u_fail_errno(u, (int)n, "read layer %s", blob_label(u));
    }
    if (n == 0) {
        u->src_eof = true;
        return 0;
    }
    if ((size_t)n > room) {
        u->src_eof = true;
        return u_fail(u, EIO, "read layer %s: the source returned more bytes than asked for",
                      blob_label(u));
    }
    store_digest_update(&u->blob_digest, u->in + u->in_len, (size_t)n);
    u->in_len += (size_t)n;
    u->blob_bytes += (uint64_t)n;
    /* Stop a source that sends more than the manifest promised now, not at its end. */
    if (u->opts->expect_blob_size >= 0 && u->blob_bytes > (uint64_t)u->opts->expect_blob_size)
        return u_fail(u, EBADMSG,
                      "layer %s: size mismatch: got more than %" PRId64
                      " bytes, manifest says %" PRId64,
                      blob_label(u), u->opts->expect_blob_size, u->opts->expect_blob_size);
    if (u->opts->progress)
        u->opts->progress(u->opts->progress_userdata, u->blob_bytes);
    return (int)n;
}

static ssize_t produced(struct unpack *u, const void **buf, const uint8_t *p, size_t n)
{
    if (u->comp != STORE_COMPRESSION_NONE)
        store_digest_update(&u->tar_digest, p, n);
    u->tar_bytes += n;
    *buf = p;
    return (ssize_t)n;
}

static ssize_t produce_none(struct unpack *u, const void **buf)
{
    size_t n;

    if (u->in_pos == u->in_len) {
        int r = src_read(u);
        if (r <= 0)
            return r;
    }
    n = u->in_len - u->in_pos;
    u->in_pos = u->in_len;
    return produced(u, buf, u->in + u->in_len - n, n);
}

/* gzip, member after member (RFC 1952 allows concatenated members, and pigz -i or appended
 * layers produce them). After the last member the blob must end: anything else is trailing
 * garbage, as for Go's gzip reader. */
static ssize_t produce_gzip(struct unpack *u, const void **buf)
{
    int r;

    for (;;) {
        if (u->z_member_end) {
            if (u->in_pos == u->in_len) {
                r = src_read(u);
                if (r <= 0)
                    return r;
            }
            if (u->in[u->in_pos] != 0x1f)
                return u_fail(u, EBADMSG,
                              "layer %s: trailing data after the end of the gzip stream",
                              blob_label(u));
            if (inflateReset(&u->z) != Z_OK)
                return u_fail(u, EIO, "layer %s: inflateReset failed", blob_label(u));
            u->z_member_end = false;
        }
        if (u->in_pos == u->in_len) {
            r = src_read(u);
            if (r < 0)
                return r;
            if (r == 0)
                return u_fail(u, EBADMSG, "layer %s: truncated gzip stream", blob_label(u));
        }
        u->z.next_in = u->in + u->in_pos;
        u->z.avail_in = (uInt)(u->in_len - u->in_pos);
        u->z.next_out = u->out;
        u->z.avail_out = OUT_BUF_SIZE;
        r = inflate(&u->z, Z_NO_FLUSH);
        u->in_pos = u->in_len - u->z.avail_in;
        size_t n = OUT_BUF_SIZE - u->z.avail_out;
        if (r == Z_STREAM_END)
            u->z_member_end = true;
        else if (r == Z_MEM_ERROR)
            return u_fail(u, ENOMEM, "layer %s: gzip: out of memory", blob_label(u));
        else if (r != Z_OK && !(r == Z_BUF_ERROR && u->z.avail_in == 0))
            return u_fail(u, EBADMSG, "layer %s: corrupt gzip stream: %s", blob_label(u),
                          u->z.msg ? u->z.msg : "invalid data");
        if (n > 0)
            return produced(u, buf, u->out, n);
    }
}

static bool zstd_frame_magic(const uint8_t *p)
{
    uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

    return m == 0xfd2fb528 || (m & 0xfffffff0) == 0x184d2a50; /* frame, skippable frame */
}

/* zstd, frame after frame; libzstd checks each frame's checksum when it has one. The default
 * window limit (128 MiB) stays: a frame that wants more memory fails. */
static ssize_t produce_zstd(struct unpack *u, const void **buf)
{
    ZSTD_outBuffer out = {u->out, OUT_BUF_SIZE, 0};
    size_t r;

    for (;;) {
        if (u->in_pos == u->in_len) {
            int k = src_read(u);
            if (k < 0)
                return k;
            if (k == 0) {
                if (u->zstd_hint == 0)
                    return 0;
                /* The decoder may still hold output that did not fit last time. */
                ZSTD_inBuffer none = {u->in, 0, 0};
                r = ZSTD_decompressStream(u->zstd, &out, &none);
                if (ZSTD_isError(r))
                    return u_fail(u, EBADMSG, "layer %s: corrupt zstd stream: %s", blob_label(u),
                                  ZSTD_getErrorName(r));
                u->zstd_hint = r;
                if (out.pos > 0)
                    return produced(u, buf, u->out, out.pos);
                if (r == 0)
                    return 0;
                return u_fail(u, EBADMSG, "layer %s: truncated zstd stream", blob_label(u));
            }
        }
        /* Between frames: what follows must be another frame, whole magic number first. */
        if (u->zstd_hint == 0) {
            size_t avail = u->in_len - u->in_pos;
            if (avail < 4 && !u->src_eof) {
                memmove(u->in, u->in + u->in_pos, avail);
                u->in_pos = 0;
                u->in_len = avail;
                int k = src_read(u);
                if (k < 0)
                    return k;
                continue;
            }
            if (avail < 4 || !zstd_frame_magic(u->in + u->in_pos))
                return u_fail(u, EBADMSG,
                              "layer %s: trailing data after the end of the zstd stream",
                              blob_label(u));
        }
        ZSTD_inBuffer in = {u->in, u->in_len, u->in_pos};
        r = ZSTD_decompressStream(u->zstd, &out, &in);
        u->in_pos = in.pos;
        if (ZSTD_isError(r))
            return u_fail(u, EBADMSG, "layer %s: corrupt zstd stream: %s", blob_label(u),
                          ZSTD_getErrorName(r));
        u->zstd_hint = r;
        if (out.pos > 0)
            return produced(u, buf, u->out, out.pos);
    }
}

/* The next piece of the tar; 0 at its end. */
static ssize_t produce(struct unpack *u, const void **buf)
{
    if (u->error)
        return u->error;
    switch (u->comp) {
    case STORE_COMPRESSION_GZIP:
        return produce_gzip(u, buf);
    case STORE_COMPRESSION_ZSTD:
        return produce_zstd(u, buf);
    case STORE_COMPRESSION_NONE:
    case STORE_COMPRESSION_DETECT:
        break;
    }
    return produce_none(u, buf);
}

/* libarchive's read callback. There is deliberately no skip callback: libarchive then reads
 * what it skips through here, so the digests cover every byte. */
static la_ssize_t tar_read(struct archive *a, void *userdata, const void **buf)
{
    struct unpack *u = userdata;
    ssize_t n = produce(u, buf);

    if (n < 0) {
        archive_set_error(a, (int)-n, "%s", u->err->msg);
        return ARCHIVE_FATAL;
    }
    return n;
}

static int detect_compression(struct unpack *u, enum store_compression *ret)
{
    static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    static const uint8_t bzip2_block[] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
    const uint8_t *p = u->in;
    int r;

    /* Short reads are allowed: gather the 10 bytes the magic numbers need. */
    while (u->in_len < 10 && !u->src_eof) {
        r = src_read(u);
        if (r < 0)
            return r;
    }
    if (u->in_len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        *ret = STORE_COMPRESSION_GZIP;
    else if (u->in_len >= 4 && zstd_frame_magic(p))
        *ret = STORE_COMPRESSION_ZSTD;
    else if (u->in_len >= sizeof(xz) && memcmp(p, xz, sizeof(xz)) == 0)
        return u_fail(u, ENOTSUP, "layer %s: xz-compressed layers are not supported",
                      blob_label(u));
    else if (u->in_len >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9' &&
             memcmp(p + 4, bzip2_block, sizeof(bzip2_block)) == 0)
        return u_fail(u, ENOTSUP, "layer %s: bzip2-compressed layers are not supported",
                      blob_label(u));
    else
        *ret = STORE_COMPRESSION_NONE;
    return 0;
}

/* --- names and paths --------------------------------------------------------------------- */

/* Normalizes a tar name lexically into out (PATH_MAX): no "." or empty components, ".."
 * folded into what precedes it. Returns -EPERM for an absolute name (unless allow_abs, for
 * hardlink targets, where "/" is the layer root) or one whose ".." climbs above the top, and
 * -ENAMETOOLONG. The result is "" for the root itself. */
static int normalize(const char *name, bool allow_abs, char *out)
{
    size_t len = 0;
    const char *p = name;

    if (strnlen(name, PATH_MAX) >= PATH_MAX)
        return -ENAMETOOLONG;
    if (name[0] == '/' && !allow_abs)
        return -EPERM;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *c = p;
        size_t cl = strcspn(c, "/");
        p += cl;
        if (cl == 1 && c[0] == '.')
            continue;
        if (cl == 2 && c[0] == '.' && c[1] == '.') {
            if (len == 0)
                return -EPERM;
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            continue;
        }
        if (cl > NAME_MAX)
            return -ENAMETOOLONG;
        if (len > 0)
            out[len++] = '/';
        memcpy(out + len, c, cl);
        len += cl;
    }
    out[len] = '\0';
    return 0;
}

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
    struct open_how how = {.flags = flags, .resolve = resolve};

    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int swap_fd(int *cur, int next)
{
    safe_close(*cur);
    *cur = next;
    return next;
}

/* The slow path of resolve_dir(): one component at a time, never letting the kernel follow a
 * symlink (every open is O_NOFOLLOW), with RESOLVE_IN_ROOT's rules done by hand: an absolute
 * link target starts again at the root, and ".." stops at it. depth counts the directories
 * descended below the root, so that ".." (the physical parent) never climbs above it. Used
 * to create missing directories, and where openat2() does not exist (before Linux 5.6). */
static int walk_dir(struct unpack *u, const char *path, bool create, int *ret_fd)
{
    _cleanup_close_ int cur = -1;
    char comp[NAME_MAX + 1];
    char *rest = u->walk;
    size_t pos = 0, len = strlen(path);
    unsigned depth = 0, hops = 0;
    struct stat st;
    int next, r;

    if (len >= WALK_SIZE)
        return -ENAMETOOLONG;
    memcpy(rest, path, len + 1);
    cur = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    for (;;) {
        while (rest[pos] == '/')
            pos++;
        if (!rest[pos])
            break;
        size_t cl = strcspn(rest + pos, "/");
        if (cl > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(comp, rest + pos, cl);
        comp[cl] = '\0';
        pos += cl;
        if (streq(comp, "."))
            continue;
        if (streq(comp, "..")) {
            if (depth == 0)
                continue;
            if (swap_fd(&cur, openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -errno;
            depth--;
            continue;
        }
        next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0755) < 0)
                return -errno;
            next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            /* The umask may have taken bits off. */
            if (next >= 0 && fchmod(next, 0755) < 0) {
                r = -errno;
                safe_close(next);
                return r;
            }
        }
        if (next < 0)
            return -errno;
        if (fstat(next, &st) < 0) {
            r = -errno;
            safe_close(next);
            return r;
        }
        if (S_ISDIR(st.st_mode)) {
            swap_fd(&cur, next);
            depth++;
            continue;
        }
        if (!S_ISLNK(st.st_mode)) {
            safe_close(next);
            return -ENOTDIR;
        }
        if (++hops > MAX_SYMLINK_HOPS) {
            safe_close(next);
            return -ELOOP;
        }
        ssize_t n = readlinkat(next, "", u->link, PATH_MAX);
        r = n < 0 ? -errno : 0;
        safe_close(next);
        if (r < 0)
            return r;
        if (n == 0)
            return -ENOENT;
        if (n >= PATH_MAX)
            return -ENAMETOOLONG;
        /* rest = link target + "/" + what was left */
        size_t rl = strlen(rest + pos);
        if ((size_t)n + 1 + rl + 1 > WALK_SIZE)
            return -ENAMETOOLONG;
        memmove(rest + n + 1, rest + pos, rl + 1);
        memcpy(rest, u->link, (size_t)n);
        rest[n] = '/';
        pos = 0;
        if (u->link[0] == '/') {
            if (swap_fd(&cur, openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -errno;
            depth = 0;
        }
    }
    *ret_fd = TAKE_FD(cur);
    return 0;
}

/* Opens the directory path (normalized, not empty) inside the layer root as O_PATH, following
 * symlinks as if the root were "/": openat2(RESOLVE_IN_ROOT) in one call when the directory
 * exists, the component walk when something must be created. */
static int resolve_dir(struct unpack *u, const char *path, bool create, int *ret_fd)
{
    int fd = -1;

    if (!u->no_openat2) {
        /* EAGAIN: a rename elsewhere on the system raced with the lookup's ".." checks. */
        for (int i = 0;; i++) {
            fd = sys_openat2(u->root_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC,
                             RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
            if (fd >= 0) {
                *ret_fd = fd;
                return 0;
            }
            if ((errno != EAGAIN && errno != EINTR) || i >= 16)
                break;
        }
        if (errno == ENOSYS)
            u->no_openat2 = true;
        else if (errno != ENOENT || !create)
            return -errno;
    }
    return walk_dir(u, path, create, ret_fd);
}

/* The directory holding an entry: path[0..len), "" being the root. Consecutive entries mostly
 * share it, so the last one stays open. It is dropped whenever something was removed
 * (clear_name() sets cache_stale): only a removal can change what an existing path resolves
 * to, since nothing is ever renamed and new names cannot alter a lookup that succeeded.
 * The returned fd is borrowed. */
static int parent_open(struct unpack *u, const char *path, size_t len, bool create, int *ret_fd)
{
    int fd = -1, r;

    if (len == 0) {
        *ret_fd = u->root_fd;
        return 0;
    }
    if (u->cache_fd >= 0 && !u->cache_stale && len == u->cache_len &&
        memcmp(path, u->cache_path, len) == 0) {
        *ret_fd = u->cache_fd;
        return 0;
    }
    u->cache_fd = safe_close(u->cache_fd);
    u->cache_stale = false;
    memcpy(u->cache_path, path, len);
    u->cache_path[len] = '\0';
    r = resolve_dir(u, u->cache_path, create, &fd);
    if (r < 0)
        return r;
    u->cache_fd = fd;
    u->cache_len = len;
    *ret_fd = fd;
    return 0;
}

/* rm -rf of name under dirfd, never following a symlink. */
static int remove_tree(int parent, const char *name, unsigned depth)
{
    struct dirent *de;
    DIR *d;
    int fd, r = 0;

    if (depth > PATH_MAX / 2)
        return -ELOOP;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        safe_close(fd);
        return r;
    }
    int sub = dirfd(d);
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            r = -errno;
            break;
        }
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        /* unlinkat() without AT_REMOVEDIR says EISDIR for a directory: no d_type needed. */
        if (unlinkat(sub, de->d_name, 0) == 0)
            continue;
        if (errno != EISDIR) {
            r = -errno;
            break;
        }
        r = remove_tree(sub, de->d_name, depth + 1);
        if (r < 0)
            break;
    }
    (void)closedir(d);
    if (r < 0)
        return r;
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0)
        return -errno;
    return 0;
}

/* Something already has the entry's name (an earlier entry of the same layer). A directory
 * stays when keep_dir (*ret_kept), anything else goes, so that the new entry replaces it and
 * nothing is ever written through an old symlink or into an old hardlinked inode. */
static int clear_name(struct unpack *u, int pfd, const char *base, bool keep_dir, bool *ret_kept)
{
    struct stat st;
    int r = 0;

    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, errno, "stat the existing entry");
    if (S_ISDIR(st.st_mode) && keep_dir) {
        *ret_kept = true;
        return 0;
    }
    u->cache_stale = true;
    if (S_ISDIR(st.st_mode))
        r = remove_tree(pfd, base, 0);
    else if (unlinkat(pfd, base, 0) < 0)
        r = -errno;
    if (r < 0)
        return entry_errno(u, r, "remove the existing entry");
    if (ret_kept)
        *ret_kept = false;
    return 0;
}

/* --- entry metadata ---------------------------------------------------------------------- */

enum xattr_policy {
    XATTR_APPLY,
    XATTR_SKIP,
    XATTR_REFUSE,
};

/* Which xattrs a layer may carry:
 * - user.*: data of the image's programs; applied. But user.overlay.* is what overlayfs
 *   reads when mounted with "userxattr" (rootless): refused, as trusted.*.
 * - trusted.*: refused. trusted.overlay.* (opaque, redirect, metacopy, origin) would steer
 *   the overlay mount this layer becomes part of; the only ones allowed are those this code
 *   writes for whiteouts.
 * - security.*: applied (security.capability is how ping & co. get their capabilities),
 *   except security.selinux: the runtime labels the container, an image must not choose.
 * - system.posix_acl_*: applied; they are permissions, like the mode, and the kernel
 *   validates them. Other system.* names are kernel-managed (nfs4_acl, sockprotoname):
 *   skipped, as Docker ignores xattrs its filesystem refuses. */
static enum xattr_policy xattr_policy(const char *name)
{
    if (strneq(name, "user.", 5))
        return strneq(name, "user.overlay.", 13) ? XATTR_REFUSE : XATTR_APPLY;
    if (strneq(name, "trusted.", 8))
        return XATTR_REFUSE;
    if (strneq(name, "security.", 9))
        return streq(name, "security.selinux") ? XATTR_SKIP : XATTR_APPLY;
    if (streq(name, "system.posix_acl_access") || streq(name, "system.posix_acl_default"))
        return XATTR_APPLY;
    return XATTR_SKIP;
}

static int check_xattrs(struct unpack *u, struct archive_entry *e)
{
    const char *name;
    const void *value;
    size_t size;

    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
        if (!name || xattr_policy(name) == XATTR_REFUSE)
            return u_fail(u, EPERM, "layer entry '%s' carries the xattr '%s', which is refused",
                          cur(u), qname(u, 1, name));
    return 0;
}

/* Only regular files and directories get xattrs: user.* is not allowed on other types, and
 * setting one on a symlink or device would need a path (there is no fsetxattr on O_PATH). */
static int apply_xattrs(struct unpack *u, struct archive_entry *e, int fd, bool is_dir)
{
    const char *name;
    const void *value;
    size_t size;

    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (xattr_policy(name) != XATTR_APPLY)
            continue;
        if (!is_dir && streq(name, "system.posix_acl_default"))
            continue;
        if (fsetxattr(fd, name, value, size, 0) < 0)
            return u_fail_errno(u, errno, "layer entry '%s': set xattr '%s'", cur(u),
                                qname(u, 1, name));
    }
    return 0;
}

struct meta {
    uid_t uid;
    gid_t gid;
    mode_t mode; /* permissions, setuid, setgid and sticky bits */
    struct timespec ts[2];
};

static bool valid_nsec(long nsec)
{
    return nsec >= 0 && nsec < 1000000000L;
}

static int entry_meta(struct unpack *u, struct archive_entry *e, struct meta *m)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

    /* (uid_t)-1 would mean "leave the owner as it is" to chown. */
    if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
        return u_fail(u, EINVAL, "layer entry '%s' has an invalid owner %" PRId64 ":%" PRId64,
                      cur(u), (int64_t)uid, (int64_t)gid);
    m->uid = (uid_t)uid;
    m->gid = (gid_t)gid;
    m->mode = archive_entry_mode(e) & 07777;
    m->ts[1].tv_sec = archive_entry_mtime(e);
    m->ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (!valid_nsec(m->ts[1].tv_nsec))
        m->ts[1].tv_nsec = 0;
    /* Docker's rule: atime from the tar when it has one, never before mtime. */
    m->ts[0] = m->ts[1];
    if (archive_entry_atime_is_set(e)) {
        struct timespec at = {archive_entry_atime(e), archive_entry_atime_nsec(e)};
        if (valid_nsec(at.tv_nsec) &&
            (at.tv_sec > m->ts[1].tv_sec ||
             (at.tv_sec == m->ts[1].tv_sec && at.tv_nsec > m->ts[1].tv_nsec)))
            m->ts[0] = at;
    }
    return 0;
}

/* Directory times are set at the very end: every entry created inside a directory later
 * moves its mtime. Owner, mode and xattrs are not affected by that and are set at once. The
 * record keeps the inode, so that a directory later replaced by another entry is skipped. */
static int defer_dir_times(struct unpack *u, const char *path, int fd, const struct meta *m)
{
    size_t len = strlen(path) + 1;
    struct stat st;

    if (fstat(fd, &st) < 0)
        return entry_errno(u, errno, "stat");
    if (u->dir_paths_len + len > MAX_DIR_PATH_BYTES)
        return u_fail(u, E2BIG, "layer has too many directories (names over %zu MiB)",
                      MAX_DIR_PATH_BYTES >> 20);
    if (u->n_dirs == u->cap_dirs) {
        size_t cap = u->cap_dirs ? u->cap_dirs * 2 : 256;
        struct dir_times *d = reallocarray(u->dirs, cap, sizeof(*d));
        if (!d)
            return u_fail(u, ENOMEM, "out of memory");
        u->dirs = d;
        u->cap_dirs = cap;
    }
    if (u->dir_paths_len + len > u->dir_paths_cap) {
        size_t cap = u->dir_paths_cap ? u->dir_paths_cap : 16384;
        while (cap < u->dir_paths_len + len)
            cap *= 2;
        char *p = realloc(u->dir_paths, cap);
        if (!p)
            return u_fail(u, ENOMEM, "out of memory");
        u->dir_paths = p;
        u->dir_paths_cap = cap;
    }
    memcpy(u->dir_paths + u->dir_paths_len, path, len);
    u->dirs[u->n_dirs++] = (struct dir_times){
        .path = u->dir_paths_len,
        .dev = st.st_dev,
        .ino = st.st_ino,
        .ts = {m->ts[0], m->ts[1]},
    };
    u->dir_paths_len += len;
    return 0;
}

static int apply_dir_times(struct unpack *u)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        const struct dir_times *d = &u->dirs[i];
        const char *path = u->dir_paths + d->path;
        _cleanup_close_ int owned = -1;
        struct stat st;
        int fd = u->root_fd, pfd, r;

        if (path[0]) {
            const char *slash = strrchr(path, '/');
            const char *base = slash ? slash + 1 : path;
            r = parent_open(u, path, slash ? (size_t)(slash - path) : 0, false, &pfd);
            if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
                continue;
            if (r < 0)
                return u_fail_errno(u, r, "open directory '%s'", qname(u, 0, path));
            owned = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (owned < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
                continue;
            if (owned < 0)
                return u_fail_errno(u, errno, "open directory '%s'", qname(u, 0, path));
            fd = owned;
        }
        if (fstat(fd, &st) < 0)
            return u_fail_errno(u, errno, "stat directory '%s'", qname(u, 0, path));
        if (st.st_ino != d->ino || st.st_dev != d->dev)
            continue; /* replaced by a later entry, which set its own times */
        if (futimens(fd, d->ts) < 0)
            return u_fail_errno(u, errno, "set times of directory '%s'", qname(u, 0, path));
    }
    return 0;
}

/* Owner before mode: chown clears setuid and setgid. Xattrs after both: chown also drops
 * security.capability. Times last. */
static int set_meta_fd(struct unpack *u, struct archive_entry *e, int fd, const struct meta *m,
                       bool is_dir)
{
    int r;

    if (fchown(fd, m->uid, m->gid) < 0)
        return entry_errno(u, errno, "chown");
    if (fchmod(fd, m->mode) < 0)
        return entry_errno(u, errno, "chmod");
    r = apply_xattrs(u, e, fd, is_dir);
    if (r < 0)
        return r;
    if (!is_dir && futimens(fd, m->ts) < 0)
        return entry_errno(u, errno, "set times");
    return 0;
}

/* --- entries ----------------------------------------------------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int archive_fail(struct unpack *u, const char *where)
{
    int code = archive_errno(u->a);

    if (u->error)
        return u->error;
    if (code != ENOMEM && code != ENOSPC && code != EIO)
        code = EINVAL;
    return u_fail(u, code, "invalid layer tar%s: %s", where,
                  archive_error_string(u->a) ? archive_error_string(u->a) : "unknown error");
}

static int make_file(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
                     const struct meta *m)
{
    _cleanup_close_ int fd = -1;
    int64_t size = archive_entry_size(e), end = 0;
    int r;

    for (int tries = 0;; tries++) {
        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            break;
        if (errno != EEXIST || tries > 0)
            return entry_errno(u, errno, "create file");
        r = clear_name(u, pfd, base, false, NULL);
        if (r < 0)
            return r;
    }
    /* Blocks at their offsets: a sparse entry leaves holes, and the size set below covers a
     * trailing one. */
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;

        r = archive_read_data_block(u->a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            (void)snprintf(u->where, sizeof(u->where), " entry '%s'", cur(u));
            return archive_fail(u, u->where);
        }
        if (off < 0 || (uint64_t)off + len > INT64_MAX)
            return u_fail(u, EINVAL, "layer entry '%s': invalid data offset", cur(u));
        r = pwrite_all(fd, buf, len, (off_t)off);
        if (r < 0)
            return entry_errno(u, r, "write");
        if (off + (int64_t)len > end)
            end = off + (int64_t)len;
    }
    if (size > end && ftruncate(fd, (off_t)size) < 0)
        return entry_errno(u, errno, "set size");
    r = set_meta_fd(u, e, fd, m, false);
    if (r < 0)
        return r;
    if (close(TAKE_FD(fd)) < 0 && errno != EINTR)
        return entry_errno(u, errno, "close");
    if (size > 0)
        u->disk_bytes = u->disk_bytes + (uint64_t)size < u->disk_bytes
                            ? UINT64_MAX
                            : u->disk_bytes + (uint64_t)size;
    return 0;
}

static int dir_meta(struct unpack *u, struct archive_entry *e, int fd, const struct meta *m)
{
    int r = set_meta_fd(u, e, fd, m, true);
    if (r < 0)
        return r;
    return defer_dir_times(u, u->path, fd, m);
}

static int make_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
                    const struct meta *m)
{
    _cleanup_close_ int fd = -1;
    bool kept = false;
    int r;

    for (int tries = 0;; tries++) {
        if (mkdirat(pfd, base, 0700) == 0)
            break;
        if (errno != EEXIST || tries > 0)
            return entry_errno(u, errno, "create directory");
        r = clear_name(u, pfd, base, true, &kept);
        if (r < 0)
            return r;
        if (kept)
            break;
    }
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return entry_errno(u, errno, "open directory");
    return dir_meta(u, e, fd, m);
}

/* The target is stored verbatim: it is only ever resolved inside the container, or by
 * resolve_dir() inside the layer root. */
static int make_symlink(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
                        const struct meta *m)
{
    const char *target = archive_entry_symlink(e);
    int r;

    if (!target || !*target)
        return u_fail(u, EINVAL, "layer entry '%s' is a symlink without a target", cur(u));
    if (strnlen(target, PATH_MAX) >= PATH_MAX)
        return u_fail(u, ENAMETOOLONG, "layer entry '%s': symlink target too long", cur(u));
    for (int tries = 0;; tries++) {
        if (symlinkat(target, pfd, base) == 0)
            break;
        if (errno != EEXIST || tries > 0)
            return entry_errno(u, errno, "create symlink");
        r = clear_name(u, pfd, base, false, NULL);
        if (r < 0)
            return r;
    }
    if (fchownat(pfd, base, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, errno, "chown");
    if (utimensat(pfd, base, m->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, errno, "set times");
    return 0;
}

static int make_node(struct unpack *u, struct archive_entry *e, int pfd, const char *base,
                     mode_t type, const struct meta *m)
{
    dev_t rdev =
        type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    int r;

    for (int tries = 0;; tries++) {
        if (mknodat(pfd, base, type | (m->mode & 0777), rdev) == 0)
            break;
        if (errno != EEXIST || tries > 0)
            return entry_errno(u, errno, "create device node");
        r = clear_name(u, pfd, base, false, NULL);
        if (r < 0)
            return r;
    }
    /* A FIFO or device cannot be opened without side effects, so these go by name: the name
     * is the node just created, in a directory only this thread writes to. */
    if (fchownat(pfd, base, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, errno, "chown");
    if (fchmodat(pfd, base, m->mode, 0) < 0)
        return entry_errno(u, errno, "chmod");
    if (utimensat(pfd, base, m->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, errno, "set times");
    return 0;
}

static bool same_inode(int dfd1, const char *n1, int dfd2, const char *n2)
{
    struct stat a, b;

    return fstatat(dfd1, n1, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
           fstatat(dfd2, n2, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* The target is a name inside the layer ("/bin/busybox" meaning the layer's own bin/busybox),
 * resolved like any parent directory. The link itself shares the target's inode, so the
 * header's owner, mode and times are not applied: the target's entry set them, and a chown
 * here would drop its security.capability. */
static int make_hardlink(struct unpack *u, int pfd, const char *base, const char *link)
{
    _cleanup_close_ int owned = -1;
    const char *tbase;
    int tfd = u->root_fd, r;

    r = normalize(link, true, u->target);
    if (r == -EPERM)
        return u_fail(u, EPERM, "layer entry '%s' is a hardlink to '%s', outside the layer", cur(u),
                      qname(u, 1, link));
    if (r < 0)
        return u_fail(u, -r, "layer entry '%s': hardlink target too long", cur(u));
    if (!u->target[0])
        return u_fail(u, EPERM, "layer entry '%s' is a hardlink to the layer root", cur(u));
    char *slash = strrchr(u->target, '/');
    if (slash) {
        *slash = '\0';
        tbase = slash + 1;
        r = resolve_dir(u, u->target, false, &owned);
        if (r == -ENOENT)
            return u_fail(u, ENOENT,
                          "layer entry '%s' is a hardlink to '%s', which is not in the layer",
                          cur(u), qname(u, 1, link));
        if (r < 0)
            return u_fail_errno(u, r, "layer entry '%s': hardlink target '%s'", cur(u),
                                qname(u, 1, link));
        tfd = owned;
    } else {
        tbase = u->target;
    }
    for (int tries = 0;; tries++) {
        if (linkat(tfd, tbase, pfd, base, 0) == 0)
            return 0;
        if (errno == ENOENT)
            return u_fail(u, ENOENT,
                          "layer entry '%s' is a hardlink to '%s', which is not in the layer",
                          cur(u), qname(u, 1, link));
        if (errno != EEXIST || tries > 0)
            return u_fail_errno(u, errno, "layer entry '%s': hardlink to '%s'", cur(u),
                                qname(u, 1, link));
        /* GNU tar stores a file named twice as a hardlink to itself. */
        if (same_inode(tfd, tbase, pfd, base))
            return 0;
        r = clear_name(u, pfd, base, false, NULL);
        if (r < 0)
            return r;
    }
}

/* AUFS whiteouts, as the OCI image spec has them, turned into what overlayfs reads. */
static int make_whiteout(struct unpack *u, size_t plen, const char *base)
{
    const char *name = base + strlen(".wh.");
    _cleanup_close_ int fd = -1;
    int pfd, r;

    if (streq(base, ".wh..wh..opq")) {
        r = parent_open(u, u->path, plen, true, &pfd);
        if (r < 0)
            return entry_errno(u, r, "open the opaque directory");
        /* fsetxattr() needs a real fd; pfd is O_PATH. */
        fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsetxattr(fd, OPAQUE_XATTR, "y", 1, 0) < 0)
            return entry_errno(u, errno, "set " OPAQUE_XATTR);
        return 0;
    }
    /* .wh..wh.plnk, .wh..wh.aufs and the like: AUFS bookkeeping, meaningless to overlayfs. */
    if (strneq(name, ".wh.", 4))
        return 0;
    if (!*name || streq(name, ".") || streq(name, ".."))
        return u_fail(u, EINVAL, "layer entry '%s' is an invalid whiteout", cur(u));
    r = parent_open(u, u->path, plen, true, &pfd);
    if (r < 0)
        return entry_errno(u, r, "open the parent directory");
    /* If the layer itself already has name, the whiteout does not apply to it (a whiteout only
     * hides lower layers): keep the entry. */
    if (mknodat(pfd, name, S_IFCHR /* mode 0000 */, makedev(0, 0)) < 0 && errno != EEXIST)
        return entry_errno(u, errno, "create whiteout");
    return 0;
}

static int unpack_entry(struct unpack *u, struct archive_entry *e)
{
    const char *hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    struct meta m = {0};
    int pfd = -1, r;

    u->cur_name = archive_entry_pathname(e);
    if (!u->cur_name)
        return u_fail(u, EINVAL, "layer entry without a readable name");
    r = normalize(u->cur_name, false, u->path);
    if (r == -EPERM)
        return u_fail(u, EPERM, "layer entry '%s' is outside the layer", cur(u));
    if (r < 0)
        return u_fail(u, -r, "layer entry '%s': name too long", cur(u));
    r = check_xattrs(u, e);
    if (r < 0)
        return r;
    r = entry_meta(u, e, &m);
    if (r < 0)
        return r;

    if (!u->path[0]) {
        /* "./": the layer root itself, whose owner and mode become those of "/". */
        if (hardlink || type != AE_IFDIR)
            return u_fail(u, EINVAL, "layer entry '%s' would replace the layer root", cur(u));
        return dir_meta(u, e, u->root_fd, &m);
    }

    const char *slash = strrchr(u->path, '/');
    const char *base = slash ? slash + 1 : u->path;
    size_t plen = slash ? (size_t)(slash - u->path) : 0;

    if (strneq(base, ".wh.", 4))
        return make_whiteout(u, plen, base);

    r = parent_open(u, u->path, plen, true, &pfd);
    if (r < 0)
        return entry_errno(u, r, "open the parent directory");
    if (hardlink)
        return make_hardlink(u, pfd, base, hardlink);
    switch (type) {
    case AE_IFREG:
        return make_file(u, e, pfd, base, &m);
    case AE_IFDIR:
        return make_dir(u, e, pfd, base, &m);
    case AE_IFLNK:
        return make_symlink(u, e, pfd, base, &m);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return make_node(u, e, pfd, base, type, &m);
    default:
        return u_fail(u, EINVAL, "layer entry '%s' has an unsupported type 0%o", cur(u),
                      (unsigned)type);
    }
}

/* --- the whole ---------------------------------------------------------------------------- */

static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static void locale_restorep(locale_t *old)
{
    if (*old)
        (void)uselocale(*old);
}

static int unpack_open(struct unpack *u, int dest_dirfd)
{
    int r;

    u->in = malloc(IN_BUF_SIZE);
    u->out = malloc(OUT_BUF_SIZE);
    u->path = malloc(PATH_MAX);
    u->target = malloc(PATH_MAX);
    u->walk = malloc(WALK_SIZE);
    u->link = malloc(PATH_MAX);
    u->cache_path = malloc(PATH_MAX);
    if (!u->in || !u->out || !u->path || !u->target || !u->walk || !u->link || !u->cache_path)
        return u_fail(u, ENOMEM, "out of memory");

    /* A real fd (not O_PATH): syncfs and the root's own chown, chmod and xattrs need one. */
    u->root_fd = openat(dest_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u->root_fd < 0)
        return u_fail_errno(u, errno, "open the layer directory");

    r = store_digest_init(&u->blob_digest);
    if (r >= 0)
        r = store_digest_init(&u->tar_digest);
    if (r < 0)
        return u_fail_errno(u, r, "sha256");

    if (u->comp == STORE_COMPRESSION_DETECT) {
        r = detect_compression(u, &u->comp);
        if (r < 0)
            return r;
    }
    switch (u->comp) {
    case STORE_COMPRESSION_GZIP:
        /* 16 + MAX_WBITS: gzip wrapper only, header and CRC-32/ISIZE trailer checked. */
        if (inflateInit2(&u->z, 16 + MAX_WBITS) != Z_OK)
            return u_fail(u, ENOMEM, "out of memory");
        u->z_ready = true;
        break;
    case STORE_COMPRESSION_ZSTD:
        u->zstd = ZSTD_createDCtx();
        if (!u->zstd)
            return u_fail(u, ENOMEM, "out of memory");
        u->zstd_hint = 1; /* no frame seen yet: an empty blob is truncated */
        break;
    case STORE_COMPRESSION_NONE:
    case STORE_COMPRESSION_DETECT:
        break;
    }

    /* Tar formats only (ustar, pax, GNU, v7), and "empty", since Go's tar reader takes an empty
     * stream as an empty layer. No filters: decompression is ours. */
    u->a = archive_read_new();
    if (!u->a)
        return u_fail(u, ENOMEM, "out of memory");
    if (archive_read_support_format_tar(u->a) != ARCHIVE_OK ||
        archive_read_support_format_empty(u->a) != ARCHIVE_OK)
        return archive_fail(u, "");
    if (archive_read_open(u->a, u, NULL, tar_read, NULL) != ARCHIVE_OK)
        return archive_fail(u, "");
    return 0;
}

static int unpack_entries(struct unpack *u)
{
    struct archive_entry *e;
    int r;

    for (;;) {
        r = archive_read_next_header(u->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        /* ARCHIVE_WARN too: it means libarchive dropped or altered something. */
        if (r != ARCHIVE_OK) {
            if (r == ARCHIVE_WARN && archive_entry_pathname(e)) {
                u->cur_name = archive_entry_pathname(e);
                (void)snprintf(u->where, sizeof(u->where), " entry '%s'", cur(u));
                return archive_fail(u, u->where);
            }
            return archive_fail(u, "");
        }
        if (++u->entries > MAX_ENTRIES)
            return u_fail(u, E2BIG, "layer has more than %d entries", MAX_ENTRIES);
        r = unpack_entry(u, e);
        if (r < 0)
            return r;
    }
    u->cur_name = NULL;

    /* The tar has ended; its stream has not necessarily (zero padding to a record size is
     * normal). Read it to its end: the diff id covers every byte, and a gzip trailer or a
     * zstd frame end is only checked there. */
    for (;;) {
        const void *p;
        ssize_t n = produce(u, &p);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
    }
    return 0;
}

static int unpack_verify(struct unpack *u, char blob_digest[static STORE_DIGEST_SIZE],
                         char diff_id[static STORE_DIGEST_SIZE])
{
    const struct store_unpack_opts *o = u->opts;
    int r;

    r = store_digest_final(&u->blob_digest, blob_digest);
    if (r >= 0 && u->comp != STORE_COMPRESSION_NONE)
        r = store_digest_final(&u->tar_digest, diff_id);
    else if (r >= 0)
        memcpy(diff_id, blob_digest, STORE_DIGEST_SIZE);
    if (r < 0)
        return u_fail_errno(u, r, "sha256");

    const char *label = o->expect_blob_digest ? o->expect_blob_digest : blob_digest;
    if (o->expect_blob_size >= 0 && u->blob_bytes != (uint64_t)o->expect_blob_size)
        return u_fail(u, EBADMSG,
                      "layer %s: size mismatch: got %" PRIu64 " bytes, manifest says %" PRId64,
                      label, u->blob_bytes, o->expect_blob_size);
    if (o->expect_blob_digest && !streq(o->expect_blob_digest, blob_digest))
        return u_fail(u, EBADMSG, "layer %s: digest mismatch: got %s", label, blob_digest);
    if (o->expect_diff_id && !streq(o->expect_diff_id, diff_id))
        return u_fail(u, EBADMSG, "layer %s: diff_id mismatch: got %s, image config says %s", label,
                      diff_id, o->expect_diff_id);
    return 0;
}

int store_layer_unpack(int dest_dirfd, const struct store_layer_source *src,
                       const struct store_unpack_opts *opts, struct store_unpack_result *ret,
                       struct iso_err *err)
{
    struct iso_err local_err = {0};
    _cleanup_(unpack_done) struct unpack u = {.root_fd = -1, .cache_fd = -1};
    _cleanup_(locale_restorep) locale_t old_locale = (locale_t)0;
    char blob_digest[STORE_DIGEST_SIZE], diff_id[STORE_DIGEST_SIZE];
    int r;

    if (!err)
        err = &local_err;
    if (opts->expect_blob_digest) {
        r = store_digest_parse(opts->expect_blob_digest, NULL, err);
        if (r < 0)
            return iso_err_prefix(err, "expected layer digest");
    }
    if (opts->expect_diff_id) {
        r = store_digest_parse(opts->expect_diff_id, NULL, err);
        if (r < 0)
            return iso_err_prefix(err, "expected diff id");
    }
    u.src = src;
    u.opts = opts;
    u.err = err;
    u.comp = opts->compression;

    /* libarchive converts pax names (UTF-8 by the standard) to the thread's locale charset; in
     * the daemon's "C" locale every non-ASCII name would fail with a warning (which is an
     * error here). C.UTF-8 makes that conversion the identity; ustar and GNU names are raw
     * bytes either way. uselocale() is per thread, and is undone on return. */
    (void)pthread_once(&utf8_once, utf8_locale_init);
    if (utf8_locale)
        old_locale = uselocale(utf8_locale); /* NOLINT(clang-analyzer-deadcode.DeadStores) */

    r = unpack_open(&u, dest_dirfd);
    if (r < 0)
        return r;
    r = unpack_entries(&u);
    if (r < 0)
        return r;
    r = unpack_verify(&u, blob_digest, diff_id);
    if (r < 0)
        return r;
    r = apply_dir_times(&u);
    if (r < 0)
        return r;
    /* One syncfs instead of an fsync per file: the caller renames the directory into place
     * next, and must not publish a layer whose data is not on disk. */
    if (syncfs(u.root_fd) < 0)
        return u_fail_errno(&u, errno, "sync the layer directory");

    memcpy(ret->blob_digest, blob_digest, STORE_DIGEST_SIZE);
    memcpy(ret->diff_id, diff_id, STORE_DIGEST_SIZE);
    ret->blob_size = u.blob_bytes;
    ret->tar_size = u.tar_bytes;
    ret->disk_bytes = u.disk_bytes;
    return 0;
}
