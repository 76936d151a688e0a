/* store_layer_unpack(): the tars are built here, at test time, with libarchive's writer (or
 * by hand for what it will not write), and compressed with zlib and libzstd. Runs as root, as
 * CI does: chown, mknod and trusted.* xattrs need it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <locale.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include "common/macro.h"
#include "store/digest.h"
#include "store/unpack.h"
#include "tests/unit/tap.h"

#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define OTHER_SHA "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"

/* --- buffers, tars, compression ---------------------------------------------------------- */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    *b = (struct buf){0};
}

static la_ssize_t tar_out(struct archive *a, void *ud, const void *p, size_t n)
{
    buf_add(ud, p, n);
    return (la_ssize_t)n;
}

struct ent {
    const char *name;
    mode_t type; /* AE_IFREG (default), AE_IFDIR, ... */
    mode_t mode; /* 0 = 0644 for files, 0755 for directories */
    int64_t uid, gid;
    time_t mtime;
    long nsec;
    const char *data;
    size_t size; /* 0 = strlen(data) */
    const char *link;
    const char *hardlink;
    unsigned rmajor, rminor;
    const char *xname[2];
    const void *xval[2];
    size_t xlen[2];
};

struct tar {
    struct archive *a;
    struct buf out;
};

static void tar_begin(struct tar *t)
{
    *t = (struct tar){0};
    t->a = archive_write_new();
    if (!t->a || archive_write_set_format_pax(t->a) != ARCHIVE_OK ||
        archive_write_open(t->a, &t->out, NULL, tar_out, NULL) != ARCHIVE_OK)
        abort();
}

static void tar_add(struct tar *t, const struct ent *x)
{
    struct archive_entry *e = archive_entry_new();
    mode_t type = x->type ? x->type : AE_IFREG;
    size_t size = x->data ? (x->size ? x->size : strlen(x->data)) : x->size;

    archive_entry_set_pathname(e, x->name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, x->mode ? x->mode : type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_uid(e, x->uid);
    archive_entry_set_gid(e, x->gid);
    archive_entry_set_mtime(e, x->mtime ? x->mtime : 1700000000, x->nsec);
    if (x->link)
        archive_entry_set_symlink(e, x->link);
    if (x->hardlink)
        archive_entry_set_hardlink(e, x->hardlink);
    if (type == AE_IFCHR || type == AE_IFBLK) {
        archive_entry_set_rdevmajor(e, x->rmajor);
        archive_entry_set_rdevminor(e, x->rminor);
    }
    for (int i = 0; i < 2 && x->xname[i]; i++)
        archive_entry_xattr_add_entry(e, x->xname[i], x->xval[i], x->xlen[i]);
    archive_entry_set_size(e, type == AE_IFREG && !x->hardlink ? (la_int64_t)size : 0);
    /* ARCHIVE_WARN: a name that is not text in the locale, written as raw bytes. */
    if (archive_write_header(t->a, e) < ARCHIVE_WARN) {
        printf("# archive_write_header '%s': %s\n", x->name, archive_error_string(t->a));
        fflush(stdout);
        abort();
    }
    if (type == AE_IFREG && !x->hardlink && size > 0 &&
        archive_write_data(t->a, x->data, size) != (la_ssize_t)size)
        abort();
    archive_entry_free(e);
}

/* Ends the archive (with libarchive's padding to a 10240-byte record) into out. */
static void tar_end(struct tar *t, struct buf *out)
{
    if (archive_write_close(t->a) != ARCHIVE_OK)
        abort();
    archive_write_free(t->a);
    *out = t->out;
}

/* A tar of the given entries. */
#define TAR(out, ...)                                                                              \
    do {                                                                                           \
        struct tar _t;                                                                             \
        const struct ent _e[] = {__VA_ARGS__};                                                     \
        tar_begin(&_t);                                                                            \
        for (size_t _i = 0; _i < ARRAY_SIZE(_e); _i++)                                             \
            tar_add(&_t, &_e[_i]);                                                                 \
        tar_end(&_t, (out));                                                                       \
    } while (0)

/* A ustar header written by hand: libarchive's writer will not produce every malformed name. */
static void raw_header(struct buf *b, const char *name, char type, const char *linkname,
                       size_t size)
{
    uint8_t h[512] = {0};
    unsigned sum = 0;

    memcpy(h, name, strnlen(name, 100));
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
    memcpy(h + 136, "14000000000", 12);
    h[156] = (uint8_t)type;
    if (linkname)
        memcpy(h + 157, linkname, strnlen(linkname, 100));
    memcpy(h + 257, "ustar", 6);
    h[263] = h[264] = '0';
    memset(h + 148, ' ', 8);
    for (size_t i = 0; i < sizeof(h); i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    buf_add(b, h, sizeof(h));
}

static void raw_data(struct buf *b, const void *p, size_t n)
{
    static const uint8_t zero[512];

    buf_add(b, p, n);
    buf_add(b, zero, (512 - n % 512) % 512);
}

/* Appends one pax record, "<len> key=value\n", to recs (a NUL-terminated string). */
static void pax_record(char *recs, size_t size, const char *kv)
{
    size_t n = strlen(kv) + 2, digits = (size_t)snprintf(NULL, 0, "%zu", n);
    size_t total = n + digits;

    if ((size_t)snprintf(NULL, 0, "%zu", total) > digits)
        total++;
    snprintf(recs + strlen(recs), size - strlen(recs), "%zu %s\n", total, kv);
}

static void raw_pax(struct buf *b, const char *recs)
{
    raw_header(b, "PaxHeader", 'x', NULL, strlen(recs));
    raw_data(b, recs, strlen(recs));
}

static void raw_end(struct buf *b)
{
    static const uint8_t zero[1024];
    buf_add(b, zero, sizeof(zero));
}

static void gzip_buf(const uint8_t *p, size_t n, struct buf *out)
{
    z_stream z = {0};
    uint8_t chunk[65536];
    int r;

    if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    z.next_in = (uint8_t *)p;
    z.avail_in = (uInt)n;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        r = deflate(&z, Z_FINISH);
        buf_add(out, chunk, sizeof(chunk) - z.avail_out);
    } while (r == Z_OK);
    if (r != Z_STREAM_END)
        abort();
    deflateEnd(&z);
}

static void zstd_buf(const uint8_t *p, size_t n, struct buf *out)
{
    size_t cap = ZSTD_compressBound(n);
    uint8_t *tmp = malloc(cap);
    size_t r = ZSTD_compress(tmp, cap, p, n, 3);

    if (ZSTD_isError(r))
        abort();
    buf_add(out, tmp, r);
    free(tmp);
}

static void sha(const struct buf *b, char d[STORE_DIGEST_SIZE])
{
    if (store_digest_buf(b->p, b->len, d) < 0)
        abort();
}

/* --- fixture: <tmp>/dest is the layer, <tmp>/sentinel must stay untouched ----------------- */

struct fx {
    char dir[64];
    char dest[96];
    char sentinel[96];
    int dest_fd;
};

static void fx_init(struct fx *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/isod-unpack-XXXXXX");
    if (!mkdtemp(f->dir))
        abort();
    snprintf(f->dest, sizeof(f->dest), "%s/dest", f->dir);
    snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->dir);
    if (mkdir(f->dest, 0700) < 0 || mkdir(f->sentinel, 0700) < 0)
        abort();
    f->dest_fd = open(f->dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (f->dest_fd < 0)
        abort();
}

/* Takes a fixture already done or never initialized: also a cleanup function, so that a
 * failed ASSERT leaves nothing behind. */
static void fx_done(struct fx *f)
{
    if (!f->dir[0])
        return;
    f->dest_fd = safe_close(f->dest_fd);
    (void)tap_rmtree(f->dir);
    f->dir[0] = '\0';
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Nothing escaped: the fixture still holds exactly dest and an empty sentinel. */
static bool fx_contained(struct fx *f)
{
    return count_entries(f->sentinel) == 0 && count_entries(f->dir) == 2;
}

struct memsrc {
    const uint8_t *p;
    size_t len, pos, chunk;
    size_t fail_at; /* 0 = never */
    int fail_errno;
};

static ssize_t mem_read(void *ud, void *buf, size_t len)
{
    struct memsrc *s = ud;
    size_t n = s->len - s->pos;

    if (s->fail_at && s->pos >= s->fail_at)
        return -s->fail_errno;
    if (n > len)
        n = len;
    if (s->chunk && n > s->chunk)
        n = s->chunk;
    if (n == 0)
        return 0;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static uint64_t last_progress;

static void on_progress(void *ud, uint64_t bytes)
{
    (*(int *)ud)++;
    last_progress = bytes;
}

static struct store_unpack_opts default_opts(void)
{
    return (struct store_unpack_opts){.compression = STORE_COMPRESSION_DETECT,
                                      .expect_blob_size = -1};
}

static int run_src(struct fx *f, struct memsrc *ms, const struct store_unpack_opts *o,
                   struct store_unpack_result *res, struct iso_err *err)
{
    struct store_layer_source src = {mem_read, ms};
    struct store_unpack_result dummy;

    memset(err, 0, sizeof(*err));
    int r = store_layer_unpack(f->dest_fd, &src, o, res ? res : &dummy, err);
    if (r < 0)
        printf("# unpack: %s\n", err->msg);
    return r;
}

static int run(struct fx *f, const struct buf *blob, const struct store_unpack_opts *o,
               struct store_unpack_result *res, struct iso_err *err)
{
    struct memsrc ms = {blob->p, blob->len, 0, 0, 0, 0};
    struct store_unpack_opts d = default_opts();

    return run_src(f, &ms, o ? o : &d, res, err);
}

/* --- assertions on the tree --------------------------------------------------------------- */

static int lst(struct fx *f, const char *path, struct stat *st)
{
    return fstatat(f->dest_fd, path, st, AT_SYMLINK_NOFOLLOW);
}

static const char *content(struct fx *f, const char *path)
{
    static char buf[4096];
    int fd = openat(f->dest_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

    safe_close(fd);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static const char *link_of(struct fx *f, const char *path)
{
    static char buf[PATH_MAX];
    ssize_t n = readlinkat(f->dest_fd, path, buf, sizeof(buf) - 1);

    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static ssize_t xattr_of(struct fx *f, const char *path, const char *name, char *buf, size_t size)
{
    char full[256];

    snprintf(full, sizeof(full), "%s/%s", f->dest, path);
    return lgetxattr(full, name, buf, size);
}

static bool exists(struct fx *f, const char *path)
{
    struct stat st;
    return lst(f, path, &st) == 0;
}

/* security.capability: VFS_CAP_REVISION_2 with the effective flag, CAP_NET_RAW permitted. */
static const uint8_t cap_net_raw[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};

/* --- tests --------------------------------------------------------------------------------- */

static void test_normal_layer(void)
{
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct store_unpack_result res;
    struct stat st, st2;
    char d[STORE_DIGEST_SIZE], x[64];

    TAR(&tar, {.name = "./", .type = AE_IFDIR, .mode = 0751, .mtime = 1000},
        {.name = "bin/", .type = AE_IFDIR, .mtime = 2000, .nsec = 123456789},
        {.name = "bin/busybox", .mode = 0755, .data = "BUSYBOX", .mtime = 3000},
        {.name = "bin/sh", .hardlink = "bin/busybox"},
        {.name = "./bin/ls", .hardlink = "/bin/busybox"},
        {.name = "usr/bin/su", .mode = 04755, .data = "su", .uid = 0, .gid = 0},
        {.name = "usr/bin/ping",
         .mode = 0755,
         .data = "ping",
         .xname = {"security.capability", "user.comment"},
         .xval = {cap_net_raw, "pong"},
         .xlen = {sizeof(cap_net_raw), 4}},
        {.name = "home/user/",
         .type = AE_IFDIR,
         .mode = 02770,
         .uid = 1000,
         .gid = 1000,
         .xname = {"user.dir"},
         .xval = {"1"},
         .xlen = {1}},
        {.name = "home/user/file",
         .mode = 0640,
         .uid = 1000,
         .gid = 1001,
         .data = "hello",
         .mtime = 1234567890,
         .nsec = 987654321},
        {.name = "etc/link",
         .type = AE_IFLNK,
         .link = "../bin/busybox",
         .uid = 1000,
         .gid = 1002,
         .mtime = 4000},
        {.name = "etc/abs", .type = AE_IFLNK, .link = "/nonexistent"},
        {.name = "dev/null", .type = AE_IFCHR, .mode = 0666, .rmajor = 1, .rminor = 3},
        {.name = "dev/sda", .type = AE_IFBLK, .mode = 0660, .gid = 6, .rmajor = 8},
        {.name = "run/fifo", .type = AE_IFIFO, .mode = 0600, .mtime = 5000},
        {.name = "tmp/", .type = AE_IFDIR, .mode = 01777},
        {.name = "bin/../etc/./inner", .data = "inner"}, );
    fx_init(&f);

    ASSERT_EQ(run(&f, &tar, NULL, &res, &err), 0);
    sha(&tar, d);
    ASSERT_STREQ(res.diff_id, d);
    ASSERT_STREQ(res.blob_digest, d);
    ASSERT_EQ(res.blob_size, tar.len);
    ASSERT_EQ(res.tar_size, tar.len);
    ASSERT_EQ(res.disk_bytes, 7 + 2 + 4 + 5 + 5);

    /* The root took the "./" entry's mode. */
    ASSERT_EQ(fstat(f.dest_fd, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0751);
    ASSERT_EQ(st.st_mtim.tv_sec, 1000);

    /* Directory times survive the entries created inside them later. */
    ASSERT_EQ(lst(&f, "bin", &st), 0);
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    ASSERT_EQ(st.st_mtim.tv_sec, 2000);
    ASSERT_EQ(st.st_mtim.tv_nsec, 123456789);

    ASSERT_EQ(lst(&f, "bin/busybox", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFREG | 0755);
    ASSERT_EQ(st.st_nlink, 3);
    ASSERT_EQ(st.st_mtim.tv_sec, 3000);
    ASSERT_STREQ(content(&f, "bin/busybox"), "BUSYBOX");
    ASSERT_EQ(lst(&f, "bin/sh", &st2), 0);
    ASSERT_EQ(st2.st_ino, st.st_ino);
    ASSERT_EQ(lst(&f, "bin/ls", &st2), 0);
    ASSERT_EQ(st2.st_ino, st.st_ino);

    /* Parents that the tar does not list are created 0755 root:root. */
    ASSERT_EQ(lst(&f, "usr/bin", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFDIR | 0755);
    ASSERT_EQ(st.st_uid, 0);
    ASSERT_EQ(lst(&f, "usr/bin/su", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFREG | 04755);

    ASSERT_EQ(lst(&f, "usr/bin/ping", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFREG | 0755);
    ASSERT_EQ(xattr_of(&f, "usr/bin/ping", "security.capability", x, sizeof(x)),
              sizeof(cap_net_raw));
    ASSERT_TRUE(memcmp(x, cap_net_raw, sizeof(cap_net_raw)) == 0);
    ASSERT_EQ(xattr_of(&f, "usr/bin/ping", "user.comment", x, sizeof(x)), 4);
    ASSERT_TRUE(memcmp(x, "pong", 4) == 0);

    ASSERT_EQ(lst(&f, "home/user", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFDIR | 02770);
    ASSERT_EQ(st.st_uid, 1000);
    ASSERT_EQ(st.st_gid, 1000);
    ASSERT_EQ(xattr_of(&f, "home/user", "user.dir", x, sizeof(x)), 1);
    ASSERT_EQ(lst(&f, "home/user/file", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFREG | 0640);
    ASSERT_EQ(st.st_uid, 1000);
    ASSERT_EQ(st.st_gid, 1001);
    ASSERT_EQ(st.st_mtim.tv_sec, 1234567890);
    ASSERT_EQ(st.st_mtim.tv_nsec, 987654321);
    ASSERT_STREQ(content(&f, "home/user/file"), "hello");

    ASSERT_EQ(lst(&f, "etc/link", &st), 0);
    ASSERT_TRUE(S_ISLNK(st.st_mode));
    ASSERT_EQ(st.st_uid, 1000);
    ASSERT_EQ(st.st_gid, 1002);
    ASSERT_EQ(st.st_mtim.tv_sec, 4000);
    ASSERT_STREQ(link_of(&f, "etc/link"), "../bin/busybox");
    ASSERT_STREQ(link_of(&f, "etc/abs"), "/nonexistent");
    ASSERT_STREQ(content(&f, "etc/inner"), "inner");

    ASSERT_EQ(lst(&f, "dev/null", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFCHR | 0666);
    ASSERT_EQ(major(st.st_rdev), 1);
    ASSERT_EQ(minor(st.st_rdev), 3);
    ASSERT_EQ(lst(&f, "dev/sda", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFBLK | 0660);
    ASSERT_EQ(st.st_gid, 6);
    ASSERT_EQ(major(st.st_rdev), 8);
    ASSERT_EQ(lst(&f, "run/fifo", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFIFO | 0600);
    ASSERT_EQ(st.st_mtim.tv_sec, 5000);
    ASSERT_EQ(lst(&f, "tmp", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFDIR | 01777);

    ASSERT_TRUE(fx_contained(&f));
    fx_done(&f);
    buf_free(&tar);
}

/* A GNU sparse file (pax format 0.1, as GNU tar --sparse writes): one data region inside a
 * 1 MiB file that ends in a hole. libarchive's writer stores sparse files densely. */
static void test_sparse(void)
{
    static char big[1 << 20], back[sizeof(big)];
    char recs[256] = "";
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct store_unpack_result res;
    struct stat st;

    memset(big + 300000, 'x', 5000);
    memset(big, 'h', 512);
    pax_record(recs, sizeof(recs), "GNU.sparse.size=1048576");
    pax_record(recs, sizeof(recs), "GNU.sparse.numblocks=2");
    pax_record(recs, sizeof(recs), "GNU.sparse.map=0,512,299520,6144");
    raw_pax(&tar, recs);
    raw_header(&tar, "sparse", '0', NULL, 512 + 6144);
    buf_add(&tar, big, 512);
    raw_data(&tar, big + 299520, 6144);
    raw_end(&tar);

    fx_init(&f);
    ASSERT_EQ(run(&f, &tar, NULL, &res, &err), 0);
    ASSERT_EQ(res.disk_bytes, sizeof(big));
    ASSERT_EQ(lst(&f, "sparse", &st), 0);
    ASSERT_EQ(st.st_size, sizeof(big));
    ASSERT_TRUE(st.st_blocks * 512 < (blkcnt_t)sizeof(big) / 4);
    int fd = openat(f.dest_fd, "sparse", O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ssize_t n = read(fd, back, sizeof(back));
    safe_close(fd);
    ASSERT_EQ(n, sizeof(big));
    ASSERT_TRUE(memcmp(back, big, sizeof(big)) == 0);
    fx_done(&f);
    buf_free(&tar);
}

static void small_tar(struct buf *tar)
{
    static char data[200000];

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7 / 13);
    TAR(tar, {.name = "a/", .type = AE_IFDIR}, {.name = "a/f", .data = "f"},
        {.name = "a/big", .data = data, .size = sizeof(data)},
        {.name = "a/l", .type = AE_IFLNK, .link = "f"});
}

static void test_compressions_agree(void)
{
    _cleanup_(buf_free) struct buf tar = {0}, gz = {0}, zs = {0}, gz2 = {0}, zs2 = {0};
    char tar_sha[STORE_DIGEST_SIZE];
    struct {
        const char *what;
        struct buf *blob;
        enum store_compression c;
        size_t chunk;
    } cases[] = {
        {"none", &tar, STORE_COMPRESSION_NONE, 0},
        {"none detected", &tar, STORE_COMPRESSION_DETECT, 3},
        {"gzip", &gz, STORE_COMPRESSION_GZIP, 0},
        {"gzip detected", &gz, STORE_COMPRESSION_DETECT, 1},
        {"gzip two members", &gz2, STORE_COMPRESSION_DETECT, 7},
        {"zstd", &zs, STORE_COMPRESSION_ZSTD, 0},
        {"zstd detected", &zs, STORE_COMPRESSION_DETECT, 1},
        {"zstd two frames", &zs2, STORE_COMPRESSION_DETECT, 4093},
    };

    small_tar(&tar);
    sha(&tar, tar_sha);
    gzip_buf(tar.p, tar.len, &gz);
    zstd_buf(tar.p, tar.len, &zs);
    /* Concatenated members and frames, split at an odd place inside the tar. */
    gzip_buf(tar.p, 1001, &gz2);
    gzip_buf(tar.p + 1001, tar.len - 1001, &gz2);
    zstd_buf(tar.p, 70001, &zs2);
    zstd_buf(tar.p + 70001, tar.len - 70001, &zs2);

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_(fx_done) struct fx f = {0};
        struct iso_err err;
        struct store_unpack_result res;
        char blob_sha[STORE_DIGEST_SIZE];
        int calls = 0;
        struct store_unpack_opts o = {
            .compression = cases[i].c,
            .expect_blob_digest = blob_sha,
            .expect_blob_size = (int64_t)cases[i].blob->len,
            .expect_diff_id = tar_sha,
            .progress = on_progress,
            .progress_userdata = &calls,
        };
        struct memsrc ms = {cases[i].blob->p, cases[i].blob->len, 0, cases[i].chunk, 0, 0};

        printf("# %s\n", cases[i].what);
        sha(cases[i].blob, blob_sha);
        fx_init(&f);
        ASSERT_EQ(run_src(&f, &ms, &o, &res, &err), 0);
        ASSERT_STREQ(res.diff_id, tar_sha);
        ASSERT_STREQ(res.blob_digest, blob_sha);
        ASSERT_EQ(res.blob_size, cases[i].blob->len);
        ASSERT_EQ(res.tar_size, tar.len);
        ASSERT_EQ(res.disk_bytes, 200001);
        ASSERT_TRUE(calls > 0);
        ASSERT_EQ(last_progress, cases[i].blob->len);
        ASSERT_STREQ(content(&f, "a/f"), "f");
        ASSERT_STREQ(link_of(&f, "a/l"), "f");
        fx_done(&f);
    }
    buf_free(&tar);
    buf_free(&gz);
    buf_free(&zs);
    buf_free(&gz2);
    buf_free(&zs2);
}

static void expect_fail(const struct buf *blob, const struct store_unpack_opts *o, int code,
                        const char *msg1, const char *msg2)
{
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;

    fx_init(&f);
    ASSERT_EQ(run(&f, blob, o, NULL, &err), code);
    ASSERT_EQ(err.code, -code);
    ASSERT_STRSTR(err.msg, msg1);
    if (msg2)
        ASSERT_STRSTR(err.msg, msg2);
    ASSERT_TRUE(fx_contained(&f));
    fx_done(&f);
}

static void test_corrupt_streams(void)
{
    _cleanup_(buf_free) struct buf tar = {0}, gz = {0}, bad = {0}, zs = {0};
    struct store_unpack_opts o = default_opts();

    small_tar(&tar);
    gzip_buf(tar.p, tar.len, &gz);
    zstd_buf(tar.p, tar.len, &zs);

    /* A flipped CRC-32 byte in the gzip trailer: only seen after the tar's end. */
    buf_add(&bad, gz.p, gz.len);
    bad.p[bad.len - 8] ^= 0x55;
    expect_fail(&bad, NULL, -EBADMSG, "corrupt gzip stream", "incorrect data check");
    /* ISIZE */
    bad.p[bad.len - 8] ^= 0x55;
    bad.p[bad.len - 1] ^= 0x01;
    expect_fail(&bad, NULL, -EBADMSG, "corrupt gzip stream", "incorrect length check");

    bad.len = gz.len - 4;
    expect_fail(&bad, NULL, -EBADMSG, "truncated gzip stream", NULL);
    bad.len = gz.len / 2;
    expect_fail(&bad, NULL, -EBADMSG, "truncated gzip stream", NULL);

    bad.len = 0;
    buf_add(&bad, gz.p, gz.len);
    buf_add(&bad, "garbage", 7);
    expect_fail(&bad, NULL, -EBADMSG, "trailing data after the end of the gzip stream", NULL);
    bad.len = gz.len;
    buf_add(&bad, "\0\0\0\0", 4);
    expect_fail(&bad, NULL, -EBADMSG, "trailing data", NULL);
    bad.len = gz.len;
    buf_add(&bad, "\x1f\x00", 2);
    expect_fail(&bad, NULL, -EBADMSG, "corrupt gzip stream", NULL);

    bad.len = 0;
    buf_add(&bad, zs.p, zs.len - 3);
    expect_fail(&bad, NULL, -EBADMSG, "zstd stream", NULL);
    bad.len = 0;
    buf_add(&bad, zs.p, zs.len);
    buf_add(&bad, "garbage!", 8);
    expect_fail(&bad, NULL, -EBADMSG, "trailing data after the end of the zstd stream", NULL);
    bad.len = zs.len;
    buf_add(&bad, "ga", 2);
    expect_fail(&bad, NULL, -EBADMSG, "trailing data after the end of the zstd stream", NULL);

    /* An empty blob is no gzip or zstd stream; as "none" it is an empty layer. */
    bad.len = 0;
    o.compression = STORE_COMPRESSION_GZIP;
    expect_fail(&bad, &o, -EBADMSG, "truncated gzip stream", NULL);
    o.compression = STORE_COMPRESSION_ZSTD;
    expect_fail(&bad, &o, -EBADMSG, "truncated zstd stream", NULL);

    /* The media type said gzip, the blob is a plain tar. */
    o.compression = STORE_COMPRESSION_GZIP;
    expect_fail(&tar, &o, -EBADMSG, "corrupt gzip stream", "incorrect header check");

    /* Not a tar at all, compressed or not. */
    bad.len = 0;
    for (int i = 0; i < 100; i++)
        buf_add(&bad, "this is not a tar archive. ", 27);
    expect_fail(&bad, NULL, -EINVAL, "invalid layer tar", NULL);
    gz.len = 0;
    gzip_buf(bad.p, bad.len, &gz);
    expect_fail(&gz, NULL, -EINVAL, "invalid layer tar", NULL);
    bad.len = 0;
    buf_add(&bad,
            "\xfd"
            "7zXZ\0\0\0\0\0\0\0",
            12);
    expect_fail(&bad, NULL, -ENOTSUP, "xz-compressed layers are not supported", NULL);

    /* A tar cut inside an entry. */
    bad.len = 0;
    buf_add(&bad, tar.p, 5000);
    expect_fail(&bad, NULL, -EINVAL, "invalid layer tar", "runcated");

    buf_free(&tar);
    buf_free(&gz);
    buf_free(&zs);
    buf_free(&bad);
}

static void test_mismatches(void)
{
    _cleanup_(buf_free) struct buf tar = {0}, gz = {0};
    struct store_unpack_opts o = default_opts();
    char blob_sha[STORE_DIGEST_SIZE], tar_sha[STORE_DIGEST_SIZE], msg[512];

    small_tar(&tar);
    gzip_buf(tar.p, tar.len, &gz);
    sha(&gz, blob_sha);
    sha(&tar, tar_sha);

    o.expect_blob_digest = OTHER_SHA;
    snprintf(msg, sizeof(msg), "layer %s: digest mismatch: got %s", OTHER_SHA, blob_sha);
    expect_fail(&gz, &o, -EBADMSG, msg, NULL);

    o.expect_blob_digest = blob_sha;
    o.expect_blob_size = (int64_t)gz.len + 1;
    snprintf(msg, sizeof(msg), "layer %s: size mismatch: got %zu bytes, manifest says %zu",
             blob_sha, gz.len, gz.len + 1);
    expect_fail(&gz, &o, -EBADMSG, msg, NULL);
    o.expect_blob_size = (int64_t)gz.len - 1;
    expect_fail(&gz, &o, -EBADMSG, "size mismatch: got more than", NULL);

    o.expect_blob_size = -1;
    o.expect_diff_id = OTHER_SHA;
    snprintf(msg, sizeof(msg), "layer %s: diff_id mismatch: got %s, image config says %s", blob_sha,
             tar_sha, OTHER_SHA);
    expect_fail(&gz, &o, -EBADMSG, msg, NULL);

    o.expect_diff_id = "sha256:nothex";
    expect_fail(&gz, &o, -EINVAL, "expected diff id: invalid digest", NULL);
    o.expect_diff_id = NULL;
    o.expect_blob_digest = "sha512:00";
    expect_fail(&gz, &o, -ENOTSUP, "expected layer digest: unsupported digest algorithm", NULL);

    buf_free(&tar);
    buf_free(&gz);
}

static void test_source_error(void)
{
    _cleanup_(buf_free) struct buf tar = {0}, gz = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct store_unpack_opts o = default_opts();

    small_tar(&tar);
    gzip_buf(tar.p, tar.len, &gz);
    struct memsrc ms = {gz.p, gz.len, 0, 500, 1000, ECONNRESET};
    o.expect_blob_digest = OTHER_SHA;
    fx_init(&f);
    ASSERT_EQ(run_src(&f, &ms, &o, NULL, &err), -ECONNRESET);
    ASSERT_STRSTR(err.msg, "read layer " OTHER_SHA ": Connection reset by peer");
    fx_done(&f);
    buf_free(&tar);
    buf_free(&gz);
}

static void test_empty_layers(void)
{
    _cleanup_(buf_free) struct buf tar = {0}, none = {0}, gz = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct store_unpack_result res;

    TAR(&tar, {.name = "x", .data = "x"});
    /* An archive with no entries: libarchive's writer with nothing added. */
    tar.len = 0;
    {
        struct tar t;
        tar_begin(&t);
        buf_free(&tar);
        tar_end(&t, &tar);
    }
    gzip_buf(tar.p, tar.len, &gz);
    fx_init(&f);
    ASSERT_EQ(run(&f, &gz, NULL, &res, &err), 0);
    ASSERT_EQ(res.tar_size, tar.len);
    ASSERT_EQ(count_entries(f.dest), 0);
    fx_done(&f);

    fx_init(&f);
    ASSERT_EQ(run(&f, &none, NULL, &res, &err), 0);
    ASSERT_STREQ(res.diff_id, EMPTY_SHA);
    ASSERT_STREQ(res.blob_digest, EMPTY_SHA);
    ASSERT_EQ(res.blob_size, 0);
    fx_done(&f);
    buf_free(&tar);
    buf_free(&gz);
}

static void test_whiteouts(void)
{
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct stat st;
    char x[8];

    TAR(&tar, {.name = "a/", .type = AE_IFDIR}, {.name = "a/.wh..wh..opq"}, {.name = "b/.wh.gone"},
        {.name = ".wh.top"}, {.name = ".wh..wh.plnk/", .type = AE_IFDIR}, {.name = ".wh..wh.aufs"},
        {.name = "c/d/.wh..wh..opq"}, {.name = "keep", .data = "k"}, {.name = ".wh.keep"},
        {.name = "./.wh..wh..opq"}, {.name = "a/.wh..hidden"});
    fx_init(&f);
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);

    ASSERT_EQ(xattr_of(&f, "a", "trusted.overlay.opaque", x, sizeof(x)), 1);
    ASSERT_EQ(x[0], 'y');
    ASSERT_EQ(xattr_of(&f, "c/d", "trusted.overlay.opaque", x, sizeof(x)), 1);
    ASSERT_EQ(xattr_of(&f, ".", "trusted.overlay.opaque", x, sizeof(x)), 1);
    ASSERT_TRUE(xattr_of(&f, "c", "trusted.overlay.opaque", x, sizeof(x)) < 0);
    ASSERT_EQ(lst(&f, "b/gone", &st), 0);
    ASSERT_TRUE(S_ISCHR(st.st_mode));
    ASSERT_EQ(st.st_rdev, makedev(0, 0));
    ASSERT_EQ(lst(&f, "top", &st), 0);
    ASSERT_TRUE(S_ISCHR(st.st_mode));
    ASSERT_EQ(lst(&f, "a/.hidden", &st), 0);
    ASSERT_TRUE(S_ISCHR(st.st_mode));
    ASSERT_TRUE(!exists(&f, ".wh..wh.plnk"));
    ASSERT_TRUE(!exists(&f, ".wh..wh.aufs"));
    ASSERT_TRUE(!exists(&f, ".wh.top"));
    /* A whiteout does not hide what its own layer adds. */
    ASSERT_STREQ(content(&f, "keep"), "k");
    fx_done(&f);
    buf_free(&tar);

    TAR(&tar, {.name = ".wh."});
    expect_fail(&tar, NULL, -EINVAL, "layer entry '.wh.' is an invalid whiteout", NULL);
    buf_free(&tar);
    TAR(&tar, {.name = "x/.wh.."});
    expect_fail(&tar, NULL, -EINVAL, "layer entry 'x/.wh..' is an invalid whiteout", NULL);
    buf_free(&tar);
    TAR(&tar, {.name = ".wh..."});
    expect_fail(&tar, NULL, -EINVAL, "'.wh...' is an invalid whiteout", NULL);
    buf_free(&tar);
}

static void test_symlinked_parents(void)
{
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct stat st;

    TAR(&tar, {.name = "usr/lib/", .type = AE_IFDIR},
        {.name = "lib", .type = AE_IFLNK, .link = "usr/lib"}, {.name = "lib/x", .data = "x"},
        {.name = "lib/sub/y", .data = "y"}, {.name = "abs", .type = AE_IFLNK, .link = "/usr"},
        {.name = "abs/lib/z", .data = "z"}, {.name = "l1", .type = AE_IFLNK, .link = "l2"},
        {.name = "l2", .type = AE_IFLNK, .link = "/usr//./lib/"}, {.name = "l1/w", .data = "w"},
        {.name = "usr/lib/up", .type = AE_IFLNK, .link = "../.."},
        {.name = "usr/lib/up/top", .data = "t"}, {.name = "lib/hl", .hardlink = "abs/lib/x"},
        {.name = "dangling", .type = AE_IFLNK, .link = "made/by/walk"},
        {.name = "dangling/v", .data = "v"});
    fx_init(&f);
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);
    ASSERT_STREQ(link_of(&f, "lib"), "usr/lib");
    ASSERT_STREQ(content(&f, "usr/lib/x"), "x");
    ASSERT_STREQ(content(&f, "usr/lib/sub/y"), "y");
    ASSERT_STREQ(content(&f, "usr/lib/z"), "z");
    ASSERT_STREQ(content(&f, "usr/lib/w"), "w");
    ASSERT_STREQ(content(&f, "top"), "t");
    ASSERT_STREQ(content(&f, "made/by/walk/v"), "v");
    ASSERT_EQ(lst(&f, "usr/lib/hl", &st), 0);
    ASSERT_EQ(st.st_nlink, 2);
    ASSERT_EQ(lst(&f, "made/by", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFDIR | 0755);
    ASSERT_TRUE(fx_contained(&f));
    fx_done(&f);
    buf_free(&tar);
}

static void test_replace(void)
{
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct stat st;

    TAR(&tar, {.name = "x/", .type = AE_IFDIR}, {.name = "x/c/d", .data = "d"},
        {.name = "x/c/l", .type = AE_IFLNK, .link = "/"}, {.name = "x", .data = "file now"},
        {.name = "y", .data = "y"}, {.name = "y/", .type = AE_IFDIR, .mode = 0700},
        {.name = "z/", .type = AE_IFDIR, .mode = 0700}, {.name = "z/k", .data = "k"},
        {.name = "z/", .type = AE_IFDIR, .mode = 0750, .mtime = 77}, {.name = "f", .data = "first"},
        {.name = "g", .hardlink = "f"}, {.name = "f", .data = "second"},
        {.name = "s", .data = "same"}, {.name = "s", .hardlink = "s"},
        {.name = "n", .type = AE_IFIFO}, {.name = "n", .type = AE_IFLNK, .link = "f"});
    fx_init(&f);
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);
    ASSERT_STREQ(content(&f, "x"), "file now");
    ASSERT_EQ(lst(&f, "y", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFDIR | 0700);
    ASSERT_EQ(lst(&f, "z", &st), 0);
    ASSERT_EQ(st.st_mode, S_IFDIR | 0750);
    ASSERT_EQ(st.st_mtim.tv_sec, 77);
    ASSERT_STREQ(content(&f, "z/k"), "k");
    /* A replaced file is a new inode: its old hardlink keeps the old data. */
    ASSERT_STREQ(content(&f, "f"), "second");
    ASSERT_STREQ(content(&f, "g"), "first");
    ASSERT_STREQ(content(&f, "s"), "same");
    ASSERT_STREQ(link_of(&f, "n"), "f");
    fx_done(&f);
    buf_free(&tar);

    TAR(&tar, {.name = "d/", .type = AE_IFDIR}, {.name = "h", .hardlink = "d"});
    expect_fail(&tar, NULL, -EPERM, "layer entry 'h': hardlink to 'd'", NULL);
    buf_free(&tar);
}

/* The hostile cases: each fails naming the entry, or lands inside the layer, and nothing
 * outside dest is created, changed or linked. */
static void test_escapes(void)
{
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;
    struct stat st, pw;
    char abs[160], inside[160];

    TAR(&tar, {.name = "ok", .data = "ok"}, {.name = "../escape", .data = "x"});
    expect_fail(&tar, NULL, -EPERM, "layer entry '../escape' is outside the layer", NULL);
    buf_free(&tar);

    TAR(&tar, {.name = "a/", .type = AE_IFDIR}, {.name = "a/../../escape", .data = "x"});
    expect_fail(&tar, NULL, -EPERM, "layer entry 'a/../../escape' is outside the layer", NULL);
    buf_free(&tar);

    /* Hand-written, to be sure no writer fixed the name up. */
    raw_header(&tar, "../../../../../../tmp/isod-unpack-escape", '0', NULL, 0);
    raw_end(&tar);
    expect_fail(&tar, NULL, -EPERM, "'../../../../../../tmp/isod-unpack-escape'", NULL);
    ASSERT_EQ(access("/tmp/isod-unpack-escape", F_OK), -1);
    buf_free(&tar);

    /* An absolute name: refused, and nothing at that path on the host. */
    fx_init(&f);
    snprintf(abs, sizeof(abs), "%s/abs", f.sentinel);
    TAR(&tar, {.name = abs, .data = "x"});
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), -EPERM);
    ASSERT_STRSTR(err.msg, "is outside the layer");
    ASSERT_STRSTR(err.msg, abs);
    ASSERT_TRUE(fx_contained(&f));
    fx_done(&f);
    buf_free(&tar);
    buf_add(&tar, "", 0);
    raw_header(&tar, "/etc/isod-unpack-test", '0', NULL, 0);
    raw_end(&tar);
    expect_fail(&tar, NULL, -EPERM, "'/etc/isod-unpack-test' is outside the layer", NULL);
    ASSERT_EQ(access("/etc/isod-unpack-test", F_OK), -1);
    buf_free(&tar);

    /* A symlink to the sentinel, then a file through it: it lands at the same path inside the
     * layer. */
    fx_init(&f);
    TAR(&tar, {.name = "evil", .type = AE_IFLNK, .link = f.sentinel},
        {.name = "evil/pwned", .data = "p"}, {.name = "evil/sub/", .type = AE_IFDIR},
        {.name = "evil/sub/deeper", .data = "d"});
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);
    snprintf(inside, sizeof(inside), "%s/pwned", f.sentinel + 1);
    ASSERT_STREQ(content(&f, inside), "p");
    snprintf(inside, sizeof(inside), "%s/sub/deeper", f.sentinel + 1);
    ASSERT_STREQ(content(&f, inside), "d");
    ASSERT_TRUE(fx_contained(&f));
    fx_done(&f);
    buf_free(&tar);

    /* A relative symlink climbing out: clamped at the layer root. */
    fx_init(&f);
    TAR(&tar, {.name = "a/b/", .type = AE_IFDIR},
        {.name = "a/b/up", .type = AE_IFLNK, .link = "../../../../.."},
        {.name = "up", .type = AE_IFLNK, .link = "../../.."}, {.name = "up/x", .data = "x"},
        {.name = "a/b/up/y", .data = "y"}, {.name = "up/dest/z", .data = "z"});
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);
    ASSERT_STREQ(content(&f, "x"), "x");
    ASSERT_STREQ(content(&f, "y"), "y");
    ASSERT_STREQ(content(&f, "dest/z"), "z");
    ASSERT_TRUE(fx_contained(&f));
    fx_done(&f);
    buf_free(&tar);

    /* Hardlinks out of the layer. */
    TAR(&tar, {.name = "hl", .hardlink = "../../etc/passwd"});
    expect_fail(&tar, NULL, -EPERM, "layer entry 'hl' is a hardlink to '../../etc/passwd'",
                "outside the layer");
    buf_free(&tar);
    ASSERT_EQ(stat("/etc/passwd", &pw), 0);
    fx_init(&f);
    TAR(&tar, {.name = "etc/", .type = AE_IFDIR}, {.name = "hl", .hardlink = "/etc/passwd"});
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "layer entry 'hl' is a hardlink to '/etc/passwd', which is not in the "
                           "layer");
    ASSERT_TRUE(!exists(&f, "hl"));
    ASSERT_EQ(stat("/etc/passwd", &st), 0);
    ASSERT_EQ(st.st_nlink, pw.st_nlink);
    fx_done(&f);
    buf_free(&tar);
    /* Through a symlink to the host's /etc: still the layer's etc/, where passwd is not. */
    TAR(&tar, {.name = "e", .type = AE_IFLNK, .link = "/etc"},
        {.name = "hl", .hardlink = "e/passwd"});
    expect_fail(&tar, NULL, -ENOENT, "'hl' is a hardlink to 'e/passwd', which is not in the layer",
                NULL);
    ASSERT_EQ(stat("/etc/passwd", &st), 0);
    ASSERT_EQ(st.st_nlink, pw.st_nlink);
    buf_free(&tar);

    /* A file over a symlink to a host file replaces the symlink; so does a directory. */
    fx_init(&f);
    snprintf(abs, sizeof(abs), "%s/file", f.sentinel);
    int fd = open(abs, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, "orig", 4), 4);
    safe_close(fd);
    snprintf(inside, sizeof(inside), "%s/new", f.sentinel);
    TAR(&tar, {.name = "link", .type = AE_IFLNK, .link = abs}, {.name = "link", .data = "pwned"},
        {.name = "dang", .type = AE_IFLNK, .link = inside}, {.name = "dang", .data = "pwned"},
        {.name = "d", .type = AE_IFLNK, .link = f.sentinel}, {.name = "d/", .type = AE_IFDIR},
        {.name = "d/file", .data = "pwned"}, {.name = "s", .type = AE_IFLNK, .link = abs},
        {.name = "h", .hardlink = "s"}, {.name = "h", .data = "pwned"},
        {.name = "n", .type = AE_IFLNK, .link = abs}, {.name = "n", .type = AE_IFIFO});
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);
    ASSERT_EQ(lst(&f, "link", &st), 0);
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_STREQ(content(&f, "link"), "pwned");
    ASSERT_STREQ(content(&f, "dang"), "pwned");
    ASSERT_STREQ(content(&f, "d/file"), "pwned");
    ASSERT_STREQ(content(&f, "h"), "pwned");
    ASSERT_STREQ(link_of(&f, "s"), abs);
    ASSERT_EQ(lst(&f, "n", &st), 0);
    ASSERT_TRUE(S_ISFIFO(st.st_mode));
    ASSERT_EQ(stat(abs, &st), 0);
    ASSERT_EQ(st.st_size, 4);
    ASSERT_EQ(st.st_nlink, 1);
    ASSERT_EQ(st.st_mode, S_IFREG | 0644);
    ASSERT_EQ(count_entries(f.sentinel), 1);
    fx_done(&f);
    buf_free(&tar);
}

static void test_refused_xattrs(void)
{
    _cleanup_(buf_free) struct buf tar = {0};

    TAR(&tar, {.name = "d/",
               .type = AE_IFDIR,
               .xname = {"trusted.overlay.opaque"},
               .xval = {"y"},
               .xlen = {1}});
    expect_fail(&tar, NULL, -EPERM, "layer entry 'd/' carries the xattr 'trusted.overlay.opaque'",
                NULL);
    buf_free(&tar);
    TAR(&tar, {.name = "f",
               .xname = {"user.ok", "user.overlay.redirect"},
               .xval = {"1", "/x"},
               .xlen = {1, 2}});
    expect_fail(&tar, NULL, -EPERM, "'user.overlay.redirect', which is refused", NULL);
    buf_free(&tar);
    /* On a whiteout too, though it is not applied there. */
    TAR(&tar, {.name = ".wh.x", .xname = {"trusted.overlay.redirect"}, .xval = {"/"}, .xlen = {1}});
    expect_fail(&tar, NULL, -EPERM, "trusted.overlay.redirect", NULL);
    buf_free(&tar);
}

static void test_caps(void)
{
    static char name[PATH_MAX + 100], big[1100000];
    _cleanup_(buf_free) struct buf tar = {0};

    memset(name, 'n', sizeof(name) - 1);
    for (size_t i = 100; i < sizeof(name) - 1; i += 101)
        name[i] = '/';
    TAR(&tar, {.name = name, .data = "x"});
    expect_fail(&tar, NULL, -ENAMETOOLONG, "name too long", NULL);
    buf_free(&tar);

    memset(name, 'c', 300);
    name[300] = '\0';
    TAR(&tar, {.name = name, .data = "x"});
    expect_fail(&tar, NULL, -ENAMETOOLONG, "name too long", NULL);
    buf_free(&tar);

    /* A pax header over libarchive's 1 MiB cap, and an xattr over the kernel's 64 KiB. */
    memset(big, 'v', sizeof(big));
    TAR(&tar, {.name = "f", .xname = {"user.big"}, .xval = {big}, .xlen = {sizeof(big)}});
    expect_fail(&tar, NULL, -EINVAL, "invalid layer tar", NULL);
    buf_free(&tar);
    TAR(&tar, {.name = "f", .xname = {"user.big"}, .xval = {big}, .xlen = {70000}});
    expect_fail(&tar, NULL, -E2BIG, "layer entry 'f': set xattr 'user.big'", NULL);
    buf_free(&tar);

    /* uid 4294967295 would be chown's "unchanged". */
    TAR(&tar, {.name = "f", .uid = 4294967295LL});
    expect_fail(&tar, NULL, -EINVAL, "layer entry 'f' has an invalid owner 4294967295:0", NULL);
    buf_free(&tar);

    /* A name made of bytes that must not reach a JSON message raw. */
    TAR(&tar, {.name = "../\xff\n'"});
    expect_fail(&tar, NULL, -EPERM, "layer entry '../\\xff\\x0a\\x27' is outside the layer", NULL);
    buf_free(&tar);
}

static void test_utf8_names(void)
{
    _cleanup_(buf_free) struct buf tar = {0};
    _cleanup_(fx_done) struct fx f = {0};
    struct iso_err err;

    /* pax stores this name as UTF-8; libarchive's reader converts it to the locale's charset,
     * which in a "C" locale daemon fails with a warning. The writer needs a UTF-8 locale to
     * store it as UTF-8; the unpack below runs in "C" again. */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    ASSERT_TRUE(utf8 != (locale_t)0);
    locale_t old = uselocale(utf8);
    TAR(&tar, {.name = "usr/share/ca-certificates/NetLock_Arany_F\xc5\x91tan\xc3\xbas\xc3\xad"
                       "tv\xc3\xa1ny.crt",
               .data = "cert"});
    uselocale(old);
    freelocale(utf8);
    fx_init(&f);
    ASSERT_EQ(run(&f, &tar, NULL, NULL, &err), 0);
    ASSERT_STREQ(content(&f, "usr/share/ca-certificates/"
                             "NetLock_Arany_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.crt"),
                 "cert");
    fx_done(&f);
    buf_free(&tar);
}

/* Makes openat2() fail with ENOSYS from here on, as on Linux < 5.6 or under a seccomp
 * profile that predates it, so that the resolver's fallback gets the same tests. */
static void test_block_openat2(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {ARRAY_SIZE(f), f};

    ASSERT_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ASSERT_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    ASSERT_EQ(syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0), -1);
    ASSERT_EQ(errno, ENOSYS);
}

int main(void)
{
    if (geteuid() != 0) {
        /* chown, mknod and trusted.* xattrs are the point of these tests. */
        printf("1..0 # SKIP needs root\n");
        return 0;
    }
    TEST(test_normal_layer);
    TEST(test_sparse);
    TEST(test_compressions_agree);
    TEST(test_corrupt_streams);
    TEST(test_mismatches);
    TEST(test_source_error);
    TEST(test_empty_layers);
    TEST(test_whiteouts);
    TEST(test_symlinked_parents);
    TEST(test_replace);
    TEST(test_escapes);
    TEST(test_refused_xattrs);
    TEST(test_caps);
    TEST(test_utf8_names);

    /* The resolution tests again, without openat2(). */
    TEST(test_block_openat2);
    if (!tap_cur_failed) {
        TEST(test_normal_layer);
        TEST(test_whiteouts);
        TEST(test_symlinked_parents);
        TEST(test_replace);
        TEST(test_escapes);
    }
    return tap_done();
}
