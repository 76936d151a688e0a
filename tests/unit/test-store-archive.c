/* store_archive_load() and store_archive_save(): archives are built here with libarchive's
 * writer in the shapes `docker save` writes (before and since Docker 25) and as a bare OCI
 * layout, loaded into a temp root, saved back and loaded again. Runs as root, as CI does:
 * unpacking needs chown, mknod and trusted.* xattrs. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "common/macro.h"
#include "store/archive.h"
#include "store/digest.h"
#include "store/layers.h"
#include "store/overlay.h"
#include "tests/unit/tap.h"

#if defined(__x86_64__)
#define HOST_ARCH    "amd64"
#define FOREIGN_ARCH "arm64"
#else
#define HOST_ARCH    "arm64"
#define FOREIGN_ARCH "amd64"
#endif

#define ABSENT_SHA "sha256:0000000000000000000000000000000000000000000000000000000000000000"

/* --- buffers, tars ------------------------------------------------------------------------ */

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

static la_ssize_t mem_out(struct archive *a, void *ud, const void *p, size_t n)
{
    buf_add(ud, p, n);
    return (la_ssize_t)n;
}

struct ent {
    const char *name;
    mode_t type; /* AE_IFREG (default), AE_IFDIR, ... */
    mode_t mode; /* 0 = 0644 for files, 0755 for directories */
    int64_t uid, gid;
    const char *data;
    size_t size; /* 0 = strlen(data) */
    const char *link;
    const char *hardlink;
    unsigned rmajor, rminor;
    const char *xname;
    const char *xval;
};

/* One layer tar (pax, as most image builders write), gzip-compressed when asked. */
static void layer_tar(const struct ent *ents, size_t n, bool gzip, struct buf *out)
{
    struct archive *a = archive_write_new();

    *out = (struct buf){0};
    /* No padding after the end (behind a gzip stream it would be trailing garbage). */
    if (!a || archive_write_set_format_pax(a) != ARCHIVE_OK ||
        (gzip && archive_write_add_filter_gzip(a) != ARCHIVE_OK) ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open(a, out, NULL, mem_out, NULL) != ARCHIVE_OK)
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct ent *x = &ents[i];
        struct archive_entry *e = archive_entry_new();
        mode_t type = x->type ? x->type : AE_IFREG;
        size_t size = x->data ? (x->size ? x->size : strlen(x->data)) : x->size;

        archive_entry_set_pathname(e, x->name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, x->mode ? x->mode : type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_uid(e, x->uid);
        archive_entry_set_gid(e, x->gid);
        archive_entry_set_mtime(e, 1700000000 + (time_t)i, 0);
        if (x->link)
            archive_entry_set_symlink(e, x->link);
        if (x->hardlink)
            archive_entry_set_hardlink(e, x->hardlink);
        if (type == AE_IFCHR || type == AE_IFBLK) {
            archive_entry_set_rdevmajor(e, x->rmajor);
            archive_entry_set_rdevminor(e, x->rminor);
        }
        if (x->xname)
            archive_entry_xattr_add_entry(e, x->xname, x->xval, strlen(x->xval));
        archive_entry_set_size(e, type == AE_IFREG && !x->hardlink ? (la_int64_t)size : 0);
        if (archive_write_header(a, e) < ARCHIVE_WARN)
            abort();
        if (type == AE_IFREG && !x->hardlink && size > 0 &&
            archive_write_data(a, x->data, size) != (la_ssize_t)size)
            abort();
        archive_entry_free(e);
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        abort();
    archive_write_free(a);
}

/* The outer archive, written to a file. */
static struct archive *arc_open(const char *path, bool gzip)
{
    struct archive *a = archive_write_new();

    if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        (gzip && archive_write_add_filter_gzip(a) != ARCHIVE_OK) ||
        archive_write_open_filename(a, path) != ARCHIVE_OK)
        abort();
    return a;
}

static void arc_add(struct archive *a, const char *name, const void *data, size_t len,
                    const char *symlink)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, symlink ? AE_IFLNK : AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, symlink ? 0 : (la_int64_t)len);
    if (symlink)
        archive_entry_set_symlink(e, symlink);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        abort();
    if (!symlink && len && archive_write_data(a, data, len) != (la_ssize_t)len)
        abort();
    archive_entry_free(e);
}

static void arc_str(struct archive *a, const char *name, const char *s)
{
    arc_add(a, name, s, strlen(s), NULL);
}

static void arc_close(struct archive *a)
{
    if (archive_write_close(a) != ARCHIVE_OK)
        abort();
    archive_write_free(a);
}

static void sha(const void *p, size_t n, char d[STORE_DIGEST_SIZE])
{
    if (store_digest_buf(p, n, d) < 0)
        abort();
}

static char *dumps(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        abort();
    json_decref(j);
    return s;
}

/* An image config over these diff ids. */
static char *make_config(const char *const *diffs, size_t n, const char *arch)
{
    json_t *d = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(d, json_string(diffs[i]));
    return dumps(json_pack("{s:s,s:s,s:s,s:{s:[s],s:{s:s}},s:{s:s,s:o}}", "architecture",
                           arch ? arch : HOST_ARCH, "os", "linux", "created",
                           "2023-11-14T22:13:20Z", "config", "Cmd", "sh", "Labels", "org.test",
                           "yes", "rootfs", "type", "layers", "diff_ids", d));
}

/* --- the test image: a rich base layer and one with whiteouts and an opaque directory ------ */

static char big_data[3 << 20];

static const struct ent base_ents[] = {
    {.name = "bin", .type = AE_IFDIR},
    {.name = "bin/sh", .mode = 0755, .data = "#!shell\n"},
    {.name = "bin/suid", .mode = 04755, .data = "suid\n"},
    {.name = "data", .type = AE_IFDIR},
    {.name = "data/big", .data = big_data, .size = sizeof(big_data)},
    {.name = "data/fifo", .type = AE_IFIFO, .mode = 0600},
    {.name = "data/hl-a", .data = "hardlinked\n"},
    {.name = "data/hl-b", .hardlink = "data/hl-a"},
    {.name = "data/h\xc3\xa9llo", .data = "utf-8 name\n"},
    {.name = "data/null", .type = AE_IFCHR, .mode = 0666, .rmajor = 1, .rminor = 3},
    {.name = "data/owned", .mode = 0640, .uid = 1000, .gid = 2000, .data = "owned\n"},
    {.name = "data/rel", .type = AE_IFLNK, .link = "hl-a"},
    {.name = "data/abs", .type = AE_IFLNK, .link = "/etc/passwd"},
    {.name = "data/x", .data = "xattr\n", .xname = "user.isod.test", .xval = "hello"},
    {.name = "data/a-very-long-directory-name-that-takes-ustar-past-its-limits-0123456789",
     .type = AE_IFDIR},
    {.name = "data/a-very-long-directory-name-that-takes-ustar-past-its-limits-0123456789/"
             "and-a-file-name-long-enough-for-a-pax-header.txt",
     .data = "long\n"},
    {.name = "etc", .type = AE_IFDIR},
    {.name = "etc/passwd", .data = "root:x:0:0:root:/root:/bin/sh\n"},
    {.name = "opt", .type = AE_IFDIR},
    {.name = "opt/d", .type = AE_IFDIR},
    {.name = "opt/d/a", .data = "lower a\n"},
    {.name = "opt/gone", .type = AE_IFDIR},
    {.name = "opt/gone/f", .data = "gone\n"},
};

static const struct ent top_ents[] = {
    {.name = "bin", .type = AE_IFDIR},
    {.name = "bin/.wh.sh"},
    {.name = "opt", .type = AE_IFDIR},
    {.name = "opt/.wh.gone"},
    {.name = "opt/d", .type = AE_IFDIR, .mode = 0750},
    {.name = "opt/d/.wh..wh..opq"},
    {.name = "opt/d/new", .data = "upper new\n"},
};

struct image {
    struct buf base_gz, top;           /* the blobs */
    char base_diff[STORE_DIGEST_SIZE]; /* sha of the uncompressed base tar */
    char base_blob[STORE_DIGEST_SIZE]; /* sha of the gzip blob */
    char top_diff[STORE_DIGEST_SIZE];  /* top is stored uncompressed */
    char chain[2][STORE_DIGEST_SIZE];  /* chain ids */
    char *config;                      /* JSON */
    char config_digest[STORE_DIGEST_SIZE];
};

static void image_build(struct image *im)
{
    struct buf plain;
    const char *diffs[2];

    for (size_t i = 0; i < sizeof(big_data); i++)
        big_data[i] = (char)('a' + (i * 7) % 26);
    layer_tar(base_ents, ARRAY_SIZE(base_ents), true, &im->base_gz);
    layer_tar(base_ents, ARRAY_SIZE(base_ents), false, &plain);
    sha(plain.p, plain.len, im->base_diff);
    buf_free(&plain);
    sha(im->base_gz.p, im->base_gz.len, im->base_blob);
    layer_tar(top_ents, ARRAY_SIZE(top_ents), false, &im->top);
    sha(im->top.p, im->top.len, im->top_diff);
    diffs[0] = im->base_diff;
    diffs[1] = im->top_diff;
    if (store_chain_id_next(NULL, im->base_diff, im->chain[0], NULL) < 0 ||
        store_chain_id_next(im->chain[0], im->top_diff, im->chain[1], NULL) < 0)
        abort();
    im->config = make_config(diffs, 2, NULL);
    sha(im->config, strlen(im->config), im->config_digest);
}

static void image_free(struct image *im)
{
    buf_free(&im->base_gz);
    buf_free(&im->top);
    free(im->config);
}

/* --- fixture: a temp dir with root/ opened as isod would ---------------------------------- */

struct fx {
    char dir[64];
    char path[128]; /* an archive path inside dir */
    int root_fd;
    struct store_archive_image *imgs;
    size_t n;
    int begun; /* layer_begin calls */
};

static void fx_init(struct fx *f)
{
    char root[96];
    struct store_layers *ls = NULL;
    struct iso_err err = {0};

    *f = (struct fx){.root_fd = -1};
    snprintf(f->dir, sizeof(f->dir), "/tmp/isod-archive-XXXXXX");
    if (!mkdtemp(f->dir))
        abort();
    snprintf(root, sizeof(root), "%s/root", f->dir);
    snprintf(f->path, sizeof(f->path), "%s/archive.tar", f->dir);
    if (mkdir(root, 0700) < 0)
        abort();
    f->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* As isod at startup: creates layers/ and tmp/. */
    if (f->root_fd < 0 || store_layers_open(f->root_fd, &ls, &err) < 0)
        abort();
    store_layers_close(ls);
}

static void fx_done(struct fx *f)
{
    if (!f->dir[0])
        return;
    store_archive_images_free(f->imgs, f->n);
    f->imgs = NULL;
    f->root_fd = safe_close(f->root_fd);
    (void)tap_rmtree(f->dir);
    f->dir[0] = '\0';
}

static void on_begin(void *ud, const char *diff_id, uint64_t size)
{
    struct fx *f = ud;
    f->begun++;
}

static int fx_load(struct fx *f, const char *path, struct iso_err *err)
{
    struct store_archive_load_ops ops = {.layer_begin = on_begin, .userdata = f};

    store_archive_images_free(f->imgs, f->n);
    f->imgs = NULL;
    f->n = 0;
    return store_archive_load(f->root_fd, path, &ops, &f->imgs, &f->n, err);
}

static const struct store_archive_image *fx_find(struct fx *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (streq(f->imgs[i].id, id))
            return &f->imgs[i];
    return NULL;
}

static int count_entries(int root_fd, const char *dir)
{
    int fd = openat(root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    int n = 0;

    if (!d) {
        safe_close(fd);
        return -1;
    }
    while ((de = readdir(d)))
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static bool has_blob(int root_fd, const char *digest, const char *want)
{
    char path[128], got[4096] = "";
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "blobs/sha256/%s", digest + 7);
    fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, got, sizeof(got) - 1);
    close(fd);
    return n >= 0 && (!want || (strlen(want) == (size_t)n && memcmp(got, want, (size_t)n) == 0));
}

/* A file of a published layer: layers/<chain hex>/diff/<rel>. */
static int layer_stat(int root_fd, const char *chain, const char *rel, struct stat *st)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "layers/%s/diff/%s", chain + 7, rel);
    return fstatat(root_fd, path, st, AT_SYMLINK_NOFOLLOW);
}

static bool layer_opaque(int root_fd, const char *chain, const char *rel)
{
    char path[PATH_MAX], v[4];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "layers/%s/diff/%s", chain + 7, rel);
    fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
    close(fd);
    return n == 1 && v[0] == 'y';
}

/* Checks the image's two layers as unpacked. */
#define ASSERT_LAYERS_OK(root_fd, chain)                                                           \
    do {                                                                                           \
        struct stat _st;                                                                           \
        ASSERT_EQ(layer_stat(root_fd, (chain)[0], "bin/sh", &_st), 0);                             \
        ASSERT_EQ(_st.st_size, 8);                                                                 \
        ASSERT_EQ(layer_stat(root_fd, (chain)[0], "data/big", &_st), 0);                           \
        ASSERT_EQ(_st.st_size, sizeof(big_data));                                                  \
        ASSERT_EQ(layer_stat(root_fd, (chain)[0], "data/hl-b", &_st), 0);                          \
        ASSERT_EQ(_st.st_nlink, 2);                                                                \
        ASSERT_EQ(layer_stat(root_fd, (chain)[1], "bin/sh", &_st), 0);                             \
        ASSERT_TRUE(S_ISCHR(_st.st_mode) && _st.st_rdev == makedev(0, 0));                         \
        ASSERT_EQ(layer_stat(root_fd, (chain)[1], "opt/gone", &_st), 0);                           \
        ASSERT_TRUE(S_ISCHR(_st.st_mode) && _st.st_rdev == makedev(0, 0));                         \
        ASSERT_TRUE(layer_opaque(root_fd, (chain)[1], "opt/d"));                                   \
        ASSERT_TRUE(!layer_opaque(root_fd, (chain)[0], "opt/d"));                                  \
    } while (0)

/* --- docker-archive, legacy --------------------------------------------------------------- */

/* The pre-25 form: <v1 id>/layer.tar, <config hex>.json, manifest.json. A second image, untagged,
 * has the top layer's tar as its only layer, through a symlink (as `docker save` writes a layer
 * it has already written): one member, two chain ids, so it is unpacked twice. */
static void write_legacy(const char *path, const struct image *im, const char *tag,
                         char other_id[STORE_DIGEST_SIZE], char other_chain[STORE_DIGEST_SIZE])
{
    struct archive *a = arc_open(path, false);
    const char *diffs[1] = {im->top_diff};
    char *other = make_config(diffs, 1, NULL), name[128];
    char *manifest;

    sha(other, strlen(other), other_id);
    memcpy(other_chain, im->top_diff, STORE_DIGEST_SIZE);
    manifest = dumps(json_pack("[{s:s,s:[s],s:[s,s]},{s:s,s:n,s:[s]}]", "Config", "cfg-a.json",
                               "RepoTags", tag, "Layers", "1111/layer.tar", "2222/layer.tar",
                               "Config", "cfg-b.json", "RepoTags", "Layers", "3333/layer.tar"));
    arc_str(a, "3333/VERSION", "1.0");
    arc_add(a, "3333/layer.tar", NULL, 0, "../2222/layer.tar");
    arc_add(a, "2222/layer.tar", im->top.p, im->top.len, NULL);
    arc_add(a, "1111/layer.tar", im->base_gz.p, im->base_gz.len, NULL);
    /* The config names are not digests here: the load takes the digest of the content. */
    arc_str(a, "cfg-a.json", im->config);
    arc_str(a, "cfg-b.json", other);
    arc_str(a, "manifest.json", manifest);
    snprintf(name, sizeof(name), "{\"busybox\":{\"latest\":\"2222\"}}");
    arc_str(a, "repositories", name);
    arc_close(a);
    free(other);
    free(manifest);
}

static void test_load_legacy(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    struct iso_err err = {0};
    char other_id[STORE_DIGEST_SIZE], other_chain[STORE_DIGEST_SIZE];
    const struct store_archive_image *a, *b;

    fx_init(&f);
    image_build(&im);
    write_legacy(f.path, &im, "busybox", other_id, other_chain);
    ASSERT_EQ(fx_load(&f, f.path, &err), 0);
    ASSERT_EQ(f.n, 2);
    ASSERT_EQ(f.begun, 3);
    a = fx_find(&f, im.config_digest);
    b = fx_find(&f, other_id);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->n_tags, 1);
    ASSERT_STREQ(a->tags[0], "docker.io/library/busybox:latest");
    ASSERT_STREQ(a->architecture, HOST_ARCH);
    ASSERT_STREQ(a->os, "linux");
    ASSERT_TRUE(a->variant == NULL);
    ASSERT_STREQ(a->created, "2023-11-14T22:13:20Z");
    ASSERT_STREQ(a->labels, "{\"org.test\":\"yes\"}");
    ASSERT_EQ(a->n_layers, 2);
    ASSERT_STREQ(a->layers[0].chain_id, im.chain[0]);
    ASSERT_STREQ(a->layers[0].diff_id, im.base_diff);
    ASSERT_STREQ(a->layers[1].chain_id, im.chain[1]);
    ASSERT_TRUE(a->layers[0].size >= sizeof(big_data));
    ASSERT_EQ(b->n_tags, 0);
    ASSERT_EQ(b->n_layers, 1);
    ASSERT_STREQ(b->layers[0].chain_id, other_chain);
    ASSERT_TRUE(has_blob(f.root_fd, im.config_digest, im.config));
    ASSERT_TRUE(has_blob(f.root_fd, other_id, NULL));
    ASSERT_LAYERS_OK(f.root_fd, im.chain);
    struct stat st;
    ASSERT_EQ(layer_stat(f.root_fd, other_chain, "opt/d/new", &st), 0);
    ASSERT_EQ(count_entries(f.root_fd, "tmp"), 0);

    /* Loading again finds every layer in the store: nothing is unpacked. */
    f.begun = 0;
    ASSERT_EQ(fx_load(&f, f.path, &err), 0);
    ASSERT_EQ(f.n, 2);
    ASSERT_EQ(f.begun, 0);
    a = fx_find(&f, im.config_digest);
    ASSERT_TRUE(a && a->layers[1].size > 0);
}

/* --- docker-archive, Docker 25+: OCI layout and manifest.json in one tar ------------------ */

static json_t *desc(const char *mt, const char *digest, size_t size)
{
    return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)size);
}

static char *oci_manifest(const struct image *im, bool gzip_base)
{
    return dumps(json_pack(
        "{s:i,s:s,s:o,s:[o,o]}", "schemaVersion", 2, "mediaType",
        "application/vnd.oci.image.manifest.v1+json", "config",
        desc("application/vnd.oci.image.config.v1+json", im->config_digest, strlen(im->config)),
        "layers",
        desc(gzip_base ? "application/vnd.oci.image.layer.v1.tar+gzip"
                       : "application/vnd.oci.image.layer.v1.tar",
             im->base_blob, im->base_gz.len),
        desc("application/vnd.oci.image.layer.v1.tar", im->top_diff, im->top.len)));
}

static void add_blob(struct archive *a, const char *digest, const void *p, size_t n)
{
    char name[128];

    snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
    arc_add(a, name, p, n, NULL);
}

static void test_load_docker25(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    _cleanup_free_ char *manifest = NULL, *mj = NULL, *index = NULL;
    struct iso_err err = {0};
    char mdigest[STORE_DIGEST_SIZE], l0[128], l1[128], cfg[128];
    struct archive *a;

    fx_init(&f);
    image_build(&im);
    manifest = oci_manifest(&im, true);
    sha(manifest, strlen(manifest), mdigest);
    snprintf(cfg, sizeof(cfg), "blobs/sha256/%.64s", im.config_digest + 7);
    snprintf(l0, sizeof(l0), "blobs/sha256/%.64s", im.base_blob + 7);
    snprintf(l1, sizeof(l1), "blobs/sha256/%.64s", im.top_diff + 7);
    mj = dumps(json_pack("[{s:s,s:[s,s],s:[s,s]}]", "Config", cfg, "RepoTags", "busybox:latest",
                         "user/app:1", "Layers", l0, l1));
    /* index.json names another image: manifest.json wins, as in Docker. */
    index = dumps(json_pack("{s:i,s:[{s:s,s:s,s:I,s:{s:s,s:s}}]}", "schemaVersion", 2, "manifests",
                            "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest",
                            mdigest, "size", (json_int_t)strlen(manifest), "annotations",
                            "io.containerd.image.name", "docker.io/library/other:9",
                            "org.opencontainers.image.ref.name", "9"));
    /* A gzip-compressed archive, as `docker load` also takes. */
    a = arc_open(f.path, true);
    arc_str(a, "index.json", index);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    add_blob(a, im.top_diff, im.top.p, im.top.len);
    add_blob(a, im.config_digest, im.config, strlen(im.config));
    add_blob(a, mdigest, manifest, strlen(manifest));
    add_blob(a, im.base_blob, im.base_gz.p, im.base_gz.len);
    arc_close(a);

    ASSERT_EQ(fx_load(&f, f.path, &err), 0);
    ASSERT_EQ(f.n, 1);
    ASSERT_STREQ(f.imgs[0].id, im.config_digest);
    ASSERT_EQ(f.imgs[0].n_tags, 2);
    ASSERT_STREQ(f.imgs[0].tags[0], "docker.io/library/busybox:latest");
    ASSERT_STREQ(f.imgs[0].tags[1], "docker.io/user/app:1");
    ASSERT_STREQ(f.imgs[0].layers[1].chain_id, im.chain[1]);
    ASSERT_TRUE(has_blob(f.root_fd, im.config_digest, im.config));
    ASSERT_LAYERS_OK(f.root_fd, im.chain);
}

/* --- a bare OCI layout ------------------------------------------------------------------- */

static void test_load_oci(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    _cleanup_free_ char *manifest = NULL, *index = NULL, *nested = NULL, *cfg2 = NULL;
    _cleanup_free_ char *m2 = NULL;
    struct iso_err err = {0};
    char mdigest[STORE_DIGEST_SIZE], ndigest[STORE_DIGEST_SIZE], c2[STORE_DIGEST_SIZE];
    char m2digest[STORE_DIGEST_SIZE];
    const char *diffs[1];
    const struct store_archive_image *a, *b;
    struct archive *arc;

    fx_init(&f);
    image_build(&im);
    manifest = oci_manifest(&im, true);
    sha(manifest, strlen(manifest), mdigest);

    /* A second image, only reachable through a nested multi-platform index. */
    diffs[0] = im.top_diff;
    cfg2 = make_config(diffs, 1, NULL);
    sha(cfg2, strlen(cfg2), c2);
    m2 = dumps(json_pack("{s:i,s:o,s:[o]}", "schemaVersion", 2, "config",
                         desc("application/vnd.oci.image.config.v1+json", c2, strlen(cfg2)),
                         "layers",
                         desc("application/vnd.oci.image.layer.v1.tar", im.top_diff, im.top.len)));
    sha(m2, strlen(m2), m2digest);
    /* The other platform's manifest is not in the archive: picking it would fail. */
    nested = dumps(json_pack(
        "{s:i,s:s,s:[{s:s,s:s,s:I,s:{s:s,s:s}},{s:s,s:s,s:I,s:{s:s,s:s}}]}", "schemaVersion", 2,
        "mediaType", "application/vnd.oci.image.index.v1+json", "manifests", "mediaType",
        "application/vnd.oci.image.manifest.v1+json", "digest", ABSENT_SHA, "size", (json_int_t)10,
        "platform", "os", "linux", "architecture", FOREIGN_ARCH, "mediaType",
        "application/vnd.oci.image.manifest.v1+json", "digest", m2digest, "size",
        (json_int_t)strlen(m2), "platform", "os", "linux", "architecture", HOST_ARCH));
    sha(nested, strlen(nested), ndigest);

    index = dumps(json_pack(
        "{s:i,s:[{s:s,s:s,s:I,s:{s:s,s:s}},{s:s,s:s,s:I,s:{s:s}},"
        "{s:s,s:s,s:I,s:{s:s}},{s:s,s:s,s:I,s:{s:s,s:s}}]}",
        "schemaVersion", 2, "manifests",
        /* containerd's full name */
        "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest", mdigest, "size",
        (json_int_t)strlen(manifest), "annotations", "io.containerd.image.name",
        "docker.io/library/foo:1.0", "org.opencontainers.image.ref.name", "1.0",
        /* a bare tag: no name */
        "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest", mdigest, "size",
        (json_int_t)strlen(manifest), "annotations", "org.opencontainers.image.ref.name", "latest",
        /* a full reference as the OCI name, to an index */
        "mediaType", "application/vnd.oci.image.index.v1+json", "digest", ndigest, "size",
        (json_int_t)strlen(nested), "annotations", "org.opencontainers.image.ref.name",
        "example.com/multi:2",
        /* another platform, at the top: skipped */
        "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest", ABSENT_SHA, "size",
        (json_int_t)10, "platform", "os", "linux", "architecture", FOREIGN_ARCH));

    arc = arc_open(f.path, false);
    arc_str(arc, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    add_blob(arc, im.base_blob, im.base_gz.p, im.base_gz.len);
    add_blob(arc, im.top_diff, im.top.p, im.top.len);
    add_blob(arc, im.config_digest, im.config, strlen(im.config));
    add_blob(arc, mdigest, manifest, strlen(manifest));
    add_blob(arc, c2, cfg2, strlen(cfg2));
    add_blob(arc, m2digest, m2, strlen(m2));
    add_blob(arc, ndigest, nested, strlen(nested));
    arc_str(arc, "index.json", index);
    arc_close(arc);

    ASSERT_EQ(fx_load(&f, f.path, &err), 0);
    ASSERT_EQ(f.n, 2);
    a = fx_find(&f, im.config_digest);
    b = fx_find(&f, c2);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->n_tags, 1);
    ASSERT_STREQ(a->tags[0], "docker.io/library/foo:1.0");
    ASSERT_EQ(b->n_tags, 1);
    ASSERT_STREQ(b->tags[0], "example.com/multi:2");
    ASSERT_LAYERS_OK(f.root_fd, im.chain);
}

/* --- errors -------------------------------------------------------------------------------- */

static void test_load_no_manifest(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    struct iso_err err = {0};
    struct archive *a;
    int fd;

    fx_init(&f);
    a = arc_open(f.path, false);
    arc_str(a, "hello.txt", "hi\n");
    arc_close(a);
    ASSERT_EQ(fx_load(&f, f.path, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid archive: does not contain a manifest.json");

    /* An empty upload is an archive without one. */
    fd = open(f.path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    err = (struct iso_err){0};
    ASSERT_EQ(fx_load(&f, f.path, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid archive: does not contain a manifest.json");

    /* Not a tar at all. */
    fd = open(f.path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ASSERT_EQ(write(fd, "this is not an archive, not even a bit of one\n", 46), 46);
    close(fd);
    ASSERT_TRUE(fx_load(&f, f.path, &err) < 0);

    ASSERT_EQ(fx_load(&f, "/nonexistent/archive.tar", &err), -ENOENT);
}

/* The top layer's diff id in the config is wrong: the base layer unpacks fine, but nothing at
 * all is published, and the config stays out of blobs/. */
static void test_load_digest_mismatch(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    _cleanup_free_ char *cfg = NULL, *mj = NULL;
    struct iso_err err = {0};
    char cd[STORE_DIGEST_SIZE];
    struct archive *a;

    fx_init(&f);
    image_build(&im);
    const char *diffs[2] = {im.base_diff, ABSENT_SHA};
    cfg = make_config(diffs, 2, NULL);
    sha(cfg, strlen(cfg), cd);
    mj = dumps(json_pack("[{s:s,s:[s],s:[s,s]}]", "Config", "c.json", "RepoTags", "x:1", "Layers",
                         "a/layer.tar", "b/layer.tar"));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "c.json", cfg);
    arc_add(a, "a/layer.tar", im.base_gz.p, im.base_gz.len, NULL);
    arc_add(a, "b/layer.tar", im.top.p, im.top.len, NULL);
    arc_close(a);

    ASSERT_EQ(fx_load(&f, f.path, &err), -EBADMSG);
    ASSERT_STRSTR(err.msg, "diff_id mismatch");
    ASSERT_STRSTR(err.msg, im.top_diff);
    ASSERT_EQ(count_entries(f.root_fd, "layers"), 1); /* l/ only */
    ASSERT_EQ(count_entries(f.root_fd, "tmp"), 0);
    ASSERT_TRUE(!has_blob(f.root_fd, cd, NULL));

    /* A config whose name says another digest. */
    char name[128];
    snprintf(name, sizeof(name), "%s.json", &ABSENT_SHA[7]);
    free(mj);
    mj = dumps(json_pack("[{s:s,s:n,s:[s,s]}]", "Config", name, "RepoTags", "Layers", "a/layer.tar",
                         "b/layer.tar"));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, name, im.config);
    arc_close(a);
    ASSERT_EQ(fx_load(&f, f.path, &err), -EBADMSG);
    ASSERT_STRSTR(err.msg, "digest mismatch");
}

/* Everything that stops a load before any layer is read, each with its message. */
static void test_load_rejects(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    struct iso_err err = {0};
    int max = store_overlay_max_layers();
    struct archive *a;
    char *mj, *cfg;

    fx_init(&f);
    image_build(&im);

    /* A tag Docker refuses. */
    mj = dumps(json_pack("[{s:s,s:[s],s:[s,s]}]", "Config", "c.json", "RepoTags", "Busy:latest",
                         "Layers", "a/layer.tar", "b/layer.tar"));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "c.json", im.config);
    arc_add(a, "a/layer.tar", im.base_gz.p, im.base_gz.len, NULL);
    arc_add(a, "b/layer.tar", im.top.p, im.top.len, NULL);
    arc_close(a);
    free(mj);
    ASSERT_EQ(fx_load(&f, f.path, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "invalid reference format");
    ASSERT_EQ(count_entries(f.root_fd, "layers"), 1);

    /* A layer that is not in the archive. */
    mj = dumps(json_pack("[{s:s,s:n,s:[s,s]}]", "Config", "c.json", "RepoTags", "Layers",
                         "a/layer.tar", "nope/layer.tar"));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "c.json", im.config);
    arc_add(a, "a/layer.tar", im.base_gz.p, im.base_gz.len, NULL);
    arc_close(a);
    free(mj);
    ASSERT_EQ(fx_load(&f, f.path, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid archive: layer 'nope/layer.tar' is not in the archive");

    /* Layers and diff ids of different lengths. */
    mj = dumps(
        json_pack("[{s:s,s:n,s:[s]}]", "Config", "c.json", "RepoTags", "Layers", "a/layer.tar"));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "c.json", im.config);
    arc_close(a);
    free(mj);
    ASSERT_EQ(fx_load(&f, f.path, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid manifest, layers length mismatch: expected 1, got 2");

    /* More layers than one overlay mount takes. */
    json_t *diffs = json_array(), *layers = json_array();
    for (int i = 0; i <= max; i++) {
        json_array_append_new(diffs, json_string(im.top_diff));
        json_array_append_new(layers, json_string("b/layer.tar"));
    }
    cfg = dumps(json_pack("{s:s,s:s,s:{s:s,s:o}}", "architecture", HOST_ARCH, "os", "linux",
                          "rootfs", "type", "layers", "diff_ids", diffs));
    mj = dumps(json_pack("[{s:s,s:n,s:o}]", "Config", "c.json", "RepoTags", "Layers", layers));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "c.json", cfg);
    arc_close(a);
    free(mj);
    free(cfg);
    ASSERT_EQ(fx_load(&f, f.path, &err), -E2BIG);
    ASSERT_STRSTR(err.msg, "fit in one overlay mount");

    /* A Windows image. */
    cfg = dumps(json_pack("{s:s,s:s,s:{s:s,s:[]}}", "architecture", HOST_ARCH, "os", "windows",
                          "rootfs", "type", "layers", "diff_ids"));
    mj = dumps(json_pack("[{s:s,s:n,s:[]}]", "Config", "c.json", "RepoTags", "Layers"));
    a = arc_open(f.path, false);
    arc_str(a, "manifest.json", mj);
    arc_str(a, "c.json", cfg);
    arc_close(a);
    free(mj);
    free(cfg);
    ASSERT_EQ(fx_load(&f, f.path, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "cannot load windows image on linux");
    ASSERT_EQ(count_entries(f.root_fd, "tmp"), 0);
}

/* --- save ---------------------------------------------------------------------------------- */

static void append(char *dst, size_t size, const char *s)
{
    size_t n = strlen(dst), k = strlen(s);

    if (n + k >= size)
        abort();
    memcpy(dst + n, s, k + 1);
}

/* A text dump of a layer directory: one line per entry (type, mode, owner, mtime, content
 * digest or link target or device, user.* and opaque xattrs, hardlink group), sorted. Whiteout
 * times are left out: the unpacker does not keep them. */
static void dump_tree(int dfd, const char *prefix, struct buf *out, struct buf *inodes)
{
    DIR *d = fdopendir(dup(dfd));
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;

    if (!d)
        abort();
    while ((de = readdir(d))) {
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (strcmp(names[i], names[k]) > 0) {
                char *t = names[i];
                names[i] = names[k];
                names[k] = t;
            }
    for (size_t i = 0; i < n; i++) {
        char line[8192], path[PATH_MAX], data[PATH_MAX] = "", xattrs[1024] = "";
        struct stat st;
        bool whiteout;

        snprintf(path, sizeof(path), "%s%s", prefix, names[i]);
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            abort();
        whiteout = S_ISCHR(st.st_mode) && st.st_rdev == 0;
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
            int fd = openat(dfd, names[i], O_RDONLY | O_CLOEXEC);
            char list[1024], val[256];
            ssize_t ln = flistxattr(fd, list, sizeof(list));
            for (char *p = list; ln > 0 && p < list + ln; p += strlen(p) + 1) {
                ssize_t vl = fgetxattr(fd, p, val, sizeof(val) - 1);
                if (vl < 0 || strneq(p, "security.", 9))
                    continue;
                val[vl] = '\0';
                append(xattrs, sizeof(xattrs), " ");
                append(xattrs, sizeof(xattrs), p);
                append(xattrs, sizeof(xattrs), "=");
                append(xattrs, sizeof(xattrs), val);
            }
            if (S_ISREG(st.st_mode)) {
                struct buf content = {0};
                char tmp[65536];
                ssize_t r;
                while ((r = read(fd, tmp, sizeof(tmp))) > 0)
                    buf_add(&content, tmp, (size_t)r);
                sha(content.p, content.len, data);
                buf_free(&content);
                if (st.st_nlink > 1) {
                    /* The first path seen with this inode names the group. */
                    char key[64];
                    snprintf(key, sizeof(key), "%lu=", (unsigned long)st.st_ino);
                    buf_add(inodes, "", 1);
                    inodes->len--;
                    char *hit = strstr((char *)inodes->p, key);
                    if (!hit) {
                        buf_add(inodes, key, strlen(key));
                        buf_add(inodes, path, strlen(path));
                        buf_add(inodes, "\n", 1);
                        snprintf(data + strlen(data), sizeof(data) - strlen(data), " link:%s",
                                 path);
                    } else {
                        char *nl = strchr(hit, '\n');
                        snprintf(data + strlen(data), sizeof(data) - strlen(data), " link:%.*s",
                                 (int)(nl - hit - (int)strlen(key)), hit + strlen(key));
                    }
                }
            }
            close(fd);
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t r = readlinkat(dfd, names[i], data, sizeof(data) - 1);
            data[r < 0 ? 0 : r] = '\0';
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            snprintf(data, sizeof(data), "%u,%u", major(st.st_rdev), minor(st.st_rdev));
        }
        snprintf(line, sizeof(line), "%s %o %u:%u %ld %s%s\n", path, st.st_mode, st.st_uid,
                 st.st_gid, whiteout ? 0L : (long)st.st_mtime, data, xattrs);
        buf_add(out, line, strlen(line));
        if (S_ISDIR(st.st_mode)) {
            int cfd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            char sub[PATH_MAX];
            snprintf(sub, sizeof(sub), "%s/", path);
            dump_tree(cfd, sub, out, inodes);
            close(cfd);
        }
        free(names[i]);
    }
    free(names);
}

static char *layer_dump(int root_fd, const char *chain)
{
    struct buf out = {0}, inodes = {0};
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "layers/%s/diff", chain + 7);
    fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return strdup("(missing)");
    dump_tree(fd, "", &out, &inodes);
    close(fd);
    buf_add(&out, "", 1);
    buf_free(&inodes);
    return (char *)out.p;
}

static int save_to(int root_fd, const struct store_archive_image *img, const char *const *tags,
                   size_t n_tags, const char *path, struct iso_err *err)
{
    const char *layers[8];
    struct store_archive_save_image s = {
        .id = img->id, .tags = tags, .n_tags = n_tags, .layers = layers, .n_layers = img->n_layers};
    int fd, r;

    for (size_t i = 0; i < img->n_layers; i++)
        layers[i] = img->layers[i].chain_id;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    r = store_archive_save(root_fd, &s, 1, fd, err);
    close(fd);
    return r;
}

static struct buf read_file(const char *path)
{
    struct buf b = {0};
    char tmp[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        abort();
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        buf_add(&b, tmp, (size_t)n);
    close(fd);
    return b;
}

/* load -> save -> load into another root: the same tags and the same trees, whiteouts and
 * opaque directories included. The saved image has new diff ids (regenerated tars), so a new
 * id; saving that one again gives the very same archive. */
static void test_save_roundtrip(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(fx_done) struct fx g = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    struct iso_err err = {0};
    char other_id[STORE_DIGEST_SIZE], other_chain[STORE_DIGEST_SIZE];
    char saved[160], saved2[160];
    const char *tags[] = {"busybox:latest", "docker.io/user/app:1"};
    const char *tags2[] = {"docker.io/library/busybox:latest", "user/app:1"};
    const struct store_archive_image *a;
    struct buf b1 = {0}, b2 = {0};

    fx_init(&f);
    fx_init(&g);
    image_build(&im);
    write_legacy(f.path, &im, "busybox", other_id, other_chain);
    ASSERT_EQ(fx_load(&f, f.path, &err), 0);
    a = fx_find(&f, im.config_digest);
    ASSERT_TRUE(a);
    snprintf(saved, sizeof(saved), "%s/saved.tar", f.dir);
    ASSERT_EQ(save_to(f.root_fd, a, tags, 2, saved, &err), 0);

    ASSERT_EQ(fx_load(&g, saved, &err), 0);
    ASSERT_EQ(g.n, 1);
    ASSERT_EQ(g.imgs[0].n_tags, 2);
    ASSERT_STREQ(g.imgs[0].tags[0], "docker.io/library/busybox:latest");
    ASSERT_STREQ(g.imgs[0].tags[1], "docker.io/user/app:1");
    ASSERT_EQ(g.imgs[0].n_layers, 2);
    ASSERT_TRUE(!streq(g.imgs[0].id, im.config_digest));
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *want = layer_dump(f.root_fd, a->layers[i].chain_id);
        _cleanup_free_ char *got = layer_dump(g.root_fd, g.imgs[0].layers[i].chain_id);
        if (!streq(want, got))
            printf("# layer %zu before:\n%s# after:\n%s", i, want, got);
        ASSERT_STREQ(got, want);
    }
    ASSERT_LAYERS_OK(
        g.root_fd, ((const char *[]){g.imgs[0].layers[0].chain_id, g.imgs[0].layers[1].chain_id}));

    /* Saved again (tags given in other spellings): byte for byte the same archive. */
    snprintf(saved2, sizeof(saved2), "%s/saved2.tar", g.dir);
    ASSERT_EQ(save_to(g.root_fd, &g.imgs[0], tags2, 2, saved2, &err), 0);
    b1 = read_file(saved);
    b2 = read_file(saved2);
    bool same = b1.len == b2.len && memcmp(b1.p, b2.p, b1.len) == 0;
    buf_free(&b1);
    buf_free(&b2);
    ASSERT_TRUE(same);
    ASSERT_EQ(count_entries(f.root_fd, "tmp"), 0);
}

static void test_save_errors(void)
{
    _cleanup_(fx_done) struct fx f = {.root_fd = -1};
    _cleanup_(image_free) struct image im = {0};
    struct iso_err err = {0};
    char other_id[STORE_DIGEST_SIZE], other_chain[STORE_DIGEST_SIZE], out[160];
    struct store_archive_image fake = {0};
    struct stat st;
    const char *bad_tag[] = {"UPPER:1"};

    fx_init(&f);
    image_build(&im);
    write_legacy(f.path, &im, "busybox", other_id, other_chain);
    ASSERT_EQ(fx_load(&f, f.path, &err), 0);
    snprintf(out, sizeof(out), "%s/out.tar", f.dir);

    /* Errors before anything is written leave the output empty. */
    snprintf(fake.id, sizeof(fake.id), "%s", ABSENT_SHA);
    ASSERT_EQ(save_to(f.root_fd, &fake, NULL, 0, out, &err), -ENOENT);
    ASSERT_EQ(stat(out, &st), 0);
    ASSERT_EQ(st.st_size, 0);

    const struct store_archive_image *a = fx_find(&f, im.config_digest);
    ASSERT_TRUE(a);
    ASSERT_EQ(save_to(f.root_fd, a, bad_tag, 1, out, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "invalid reference format");
    ASSERT_EQ(stat(out, &st), 0);
    ASSERT_EQ(st.st_size, 0);

    /* Layers that are not those of the config. */
    fake = *a;
    struct store_archive_layer swapped[2] = {a->layers[1], a->layers[0]};
    fake.layers = swapped;
    ASSERT_EQ(save_to(f.root_fd, &fake, NULL, 0, out, &err), -EINVAL);
    ASSERT_EQ(stat(out, &st), 0);
    ASSERT_EQ(st.st_size, 0);

    ASSERT_EQ(store_archive_save(f.root_fd, NULL, 0, STDOUT_FILENO, &err), -EINVAL);

    /* Untagged: loads back under no name, as Docker's "Loaded image ID". */
    ASSERT_EQ(save_to(f.root_fd, a, NULL, 0, out, &err), 0);
    ASSERT_EQ(fx_load(&f, out, &err), 0);
    ASSERT_EQ(f.n, 1);
    ASSERT_EQ(f.imgs[0].n_tags, 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("not ok 1 - needs root (chown, mknod, trusted.* xattrs)\n1..1\n");
        return 1;
    }
    TEST(test_load_legacy);
    TEST(test_load_docker25);
    TEST(test_load_oci);
    TEST(test_load_no_manifest);
    TEST(test_load_digest_mismatch);
    TEST(test_load_rejects);
    TEST(test_save_roundtrip);
    TEST(test_save_errors);
    return tap_done();
}
