#include "store/archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "common/json.h"
#include "common/macro.h"
#include "common/util.h"
#include "store/blob.h"
#include "store/layers.h"
#include "store/overlay.h"
#include "store/reference.h"
#include "store/unpack.h"

/* Caps, so that a hostile archive gets a clear error instead of exhausting memory or time. */
#define MEMBERS_MAX    200000
#define JSON_MAX       ((size_t)8 << 20)   /* one JSON member (config, manifest, index) */
#define JSON_TOTAL_MAX ((size_t)256 << 20) /* every JSON member kept from pass 1 */
#define IMAGES_MAX     1000
#define LAYERS_MAX     10000 /* distinct layers of one archive */
#define TAGS_MAX       1000  /* per image */
#define LINK_HOPS_MAX  16
#define INDEX_DEPTH    4
/* How far a member's head is read to tell JSON from a layer. */
#define SNIFF_SIZE 512

#define IO_BUF_SIZE   ((size_t)1 << 20)
#define READ_BLOCK    ((size_t)1 << 20)
#define OUT_BLOCK     ((size_t)1 << 20)
#define WALK_DEPTH    1000
#define XATTR_BUF_MAX ((size_t)64 * 1024)

#define OPAQUE_XATTR "trusted.overlay.opaque"
#define WH_PREFIX    ".wh."
#define WH_OPAQUE    ".wh..wh..opq"

#define MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"
#define ANN_REF_NAME    "org.opencontainers.image.ref.name"
#define ANN_IMAGE_NAME  "io.containerd.image.name"
#define NO_MANIFEST_MSG "invalid archive: does not contain a manifest.json"

/* --- shared ------------------------------------------------------------------------------ */

/* libarchive converts pax names (UTF-8) to and from the thread's locale charset; in the "C"
 * locale every non-ASCII name would fail. C.UTF-8 makes the conversion the identity, as in
 * store/unpack.c. uselocale() is per thread and undone on return. */
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

static locale_t locale_utf8(void)
{
    (void)pthread_once(&utf8_once, utf8_locale_init);
    return utf8_locale ? uselocale(utf8_locale) : (locale_t)0;
}

static bool is_hex64(const char *s, size_t len)
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static const char *digest_hex(const char *digest)
{
    return digest + strlen("sha256:");
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = reallocarray(*p, n, size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* "./a//b/../c/" -> "a/c", relative to dir (a member's directory, for a symlink) when given.
 * NULL when the name leaves the archive, is empty, or is an absolute symlink target; *ret_oom
 * tells an allocation failure apart. */
static char *norm_name(const char *dir, const char *name, bool *ret_oom)
{
    size_t dlen = dir ? strlen(dir) : 0, nlen = strlen(name);
    char *out, *o;
    const char *p, *end;

    *ret_oom = false;
    if (dir && name[0] == '/')
        return NULL;
    out = malloc(dlen + nlen + 2);
    if (!out) {
        *ret_oom = true;
        return NULL;
    }
    o = out;
    for (int part = 0; part < 2; part++) {
        p = part == 0 ? (dir ? dir : "") : name;
        end = p + strlen(p);
        while (p < end) {
            const char *slash = memchr(p, '/', (size_t)(end - p));
            size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
            if (n == 0 || (n == 1 && p[0] == '.')) {
                /* skip */
            } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                if (o == out) {
                    free(out);
                    return NULL;
                }
                while (o > out && o[-1] != '/')
                    o--;
                if (o > out)
                    o--;
            } else {
                if (o > out)
                    *o++ = '/';
                memcpy(o, p, n);
                o += n;
            }
            p += n + (slash ? 1 : 0);
        }
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

/* --- load: the members ------------------------------------------------------------------- */

struct member {
    char *name;     /* normalised */
    char *link;     /* normalised target of a hardlink or symlink member; NULL for a file */
    uint64_t size;  /* of a regular file */
    size_t ordinal; /* header number in the archive */
    char *data;     /* the content, NUL-terminated, when it was kept in pass 1 */
    size_t len;
};

/* A layer to unpack (or found in the store). One per distinct chain id. */
struct job {
    char chain_id[STORE_DIGEST_SIZE];
    char diff_id[STORE_DIGEST_SIZE];
    char blob_digest[STORE_DIGEST_SIZE]; /* "" when the archive does not say */
    int64_t blob_size;                   /* -1 when the archive does not say */
    const struct member *member;         /* NULL for a layer the store has */
    bool exists, done;
    struct store_layer_tmp tmp; /* name[0] != 0 while unpacked and unpublished */
    uint64_t size;
};

struct img {
    struct store_archive_image pub;
    size_t *jobs; /* pub.n_layers indices into load.jobs */
    char *config; /* the config's bytes, written to blobs/ at the end */
    size_t config_len;
};

struct load {
    int root_fd;
    const char *path;
    const struct store_archive_load_ops *ops;
    struct iso_err *err;

    struct member *members;
    size_t n_members, cap_members;
    size_t kept_bytes;

    struct img *imgs;
    size_t n_imgs, cap_imgs;
    struct job *jobs;
    size_t n_jobs, cap_jobs;
    struct store_layers *ls;
};

static void image_pub_done(struct store_archive_image *i)
{
    free(i->architecture);
    free(i->os);
    free(i->variant);
    free(i->created);
    free(i->labels);
    for (size_t k = 0; k < i->n_tags; k++)
        free(i->tags[k]);
    free(i->tags);
    free(i->layers);
}

void store_archive_images_free(struct store_archive_image *images, size_t n)
{
    if (!images)
        return;
    for (size_t i = 0; i < n; i++)
        image_pub_done(&images[i]);
    free(images);
}

static void load_done(struct load *l)
{
    for (size_t i = 0; i < l->n_members; i++) {
        free(l->members[i].name);
        free(l->members[i].link);
        free(l->members[i].data);
    }
    free(l->members);
    for (size_t i = 0; i < l->n_imgs; i++) {
        image_pub_done(&l->imgs[i].pub);
        free(l->imgs[i].jobs);
        free(l->imgs[i].config);
    }
    free(l->imgs);
    for (size_t i = 0; i < l->n_jobs; i++)
        if (l->jobs[i].tmp.name[0])
            store_layers_abort(l->ls, &l->jobs[i].tmp);
    free(l->jobs);
    store_layers_close(l->ls);
}

static int oom(struct load *l)
{
    return iso_err_set(l->err, ENOMEM, "out of memory");
}

static int archive_err(struct archive *a, struct iso_err *err, const char *what)
{
    int code = archive_errno(a);
    const char *msg = archive_error_string(a);

    if (code != ENOMEM && code != ENOENT && code != EACCES && code != EIO && code != ENOSPC)
        code = EINVAL;
    return iso_err_set(err, code, "%s: %s", what, msg ? msg : "unknown error");
}

static int archive_open(struct load *l, struct archive **ret)
{
    struct archive *a = archive_read_new();

    if (!a)
        return oom(l);
    /* `docker load` takes the archive plain or compressed as these. An empty file is an
     * archive without members (hence without manifest.json), not a format error. A missing
     * decompressor only warns: the archive fails later if it needs one. */
    (void)archive_read_support_filter_gzip(a);
    (void)archive_read_support_filter_bzip2(a);
    (void)archive_read_support_filter_xz(a);
    (void)archive_read_support_filter_zstd(a);
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_format_empty(a) != ARCHIVE_OK) {
        archive_err(a, l->err, "invalid archive");
        archive_read_free(a);
        return -l->err->code;
    }
    if (archive_read_open_filename(a, l->path, READ_BLOCK) != ARCHIVE_OK) {
        int code = archive_errno(a);
        iso_err_set(l->err, code > 0 ? code : EINVAL, "open archive '%s': %s", l->path,
                    archive_error_string(a) ? archive_error_string(a) : "unknown error");
        archive_read_free(a);
        return -l->err->code;
    }
    *ret = a;
    return 0;
}

/* Reads up to len bytes of the current member; fewer only at its end. */
static ssize_t read_fully(struct archive *a, char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        la_ssize_t n = archive_read_data(a, buf + got, len - got);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static bool is_meta_name(const char *name)
{
    return streq(name, "manifest.json") || streq(name, "index.json") || streq(name, "oci-layout") ||
           streq(name, "repositories");
}

/* Keeps the member's content when it can be JSON we need: the known names, and anything small
 * that starts with '{' or '[' (configs and OCI manifests have no fixed names; a layer tar
 * starts with a file name or a compression magic). */
static int maybe_keep(struct load *l, struct archive *a, struct member *m)
{
    char head[SNIFF_SIZE];
    ssize_t n;
    size_t i;

    if (m->size > JSON_MAX)
        return 0;
    n = read_fully(a, head, m->size < SNIFF_SIZE ? (size_t)m->size : SNIFF_SIZE);
    if (n < 0)
        return archive_err(a, l->err, "invalid archive");
    for (i = 0; i < (size_t)n && strchr(" \t\r\n", head[i]); i++)
        ;
    if (!is_meta_name(m->name) && (i == (size_t)n || (head[i] != '{' && head[i] != '[')))
        return 0;
    if (l->kept_bytes + m->size > JSON_TOTAL_MAX)
        return iso_err_set(l->err, E2BIG, "invalid archive: more than %zu MiB of JSON members",
                           JSON_TOTAL_MAX >> 20);
    m->data = malloc((size_t)m->size + 1);
    if (!m->data)
        return oom(l);
    memcpy(m->data, head, (size_t)n);
    if ((size_t)n < m->size) {
        ssize_t rest = read_fully(a, m->data + n, (size_t)m->size - (size_t)n);
        if (rest < 0)
            return archive_err(a, l->err, "invalid archive");
        n += rest;
    }
    if ((uint64_t)n != m->size)
        return iso_err_set(l->err, EINVAL, "invalid archive: member '%s' is truncated", m->name);
    m->data[n] = '\0';
    m->len = (size_t)n;
    l->kept_bytes += m->len;
    return 0;
}

static int cmp_member(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

/* Pass 1: every member's name, type and size; the JSON ones kept. */
static int scan_members(struct load *l)
{
    struct archive *a = NULL;
    struct archive_entry *e;
    int r;

    r = archive_open(l, &a);
    if (r < 0)
        return r;
    for (size_t ordinal = 0;; ordinal++) {
        r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            r = archive_err(a, l->err, "invalid archive");
            goto out;
        }
        if (ordinal >= MEMBERS_MAX) {
            r = iso_err_set(l->err, E2BIG, "invalid archive: more than %d members", MEMBERS_MAX);
            goto out;
        }
        const char *raw = archive_entry_pathname(e), *hl = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        struct member m = {.ordinal = ordinal};
        bool nomem;

        if (!raw || (!hl && type != AE_IFREG && type != AE_IFLNK))
            continue;
        m.name = norm_name(NULL, raw, &nomem);
        if (!m.name) {
            if (!nomem)
                continue; /* outside the archive: never looked up */
            r = oom(l);
            goto out;
        }
        if (hl || type == AE_IFLNK) {
            _cleanup_free_ char *dir = NULL;
            if (!hl) {
                char *slash = strrchr(m.name, '/');
                dir = strndup(m.name, slash ? (size_t)(slash - m.name) : 0);
                if (!dir) {
                    free(m.name);
                    r = oom(l);
                    goto out;
                }
            }
            const char *target = hl ? hl : archive_entry_symlink(e);
            m.link = target ? norm_name(dir, target, &nomem) : NULL;
            if (!m.link) {
                free(m.name);
                if (nomem) {
                    r = oom(l);
                    goto out;
                }
                continue;
            }
        } else {
            m.size = archive_entry_size(e) > 0 ? (uint64_t)archive_entry_size(e) : 0;
        }
        if (!grow((void **)&l->members, &l->cap_members, l->n_members + 1, sizeof(m))) {
            free(m.name);
            free(m.link);
            r = oom(l);
            goto out;
        }
        l->members[l->n_members++] = m;
        if (!m.link) {
            r = maybe_keep(l, a, &l->members[l->n_members - 1]);
            if (r < 0)
                goto out;
        }
    }
    r = 0;
    if (l->n_members)
        qsort(l->members, l->n_members, sizeof(*l->members), cmp_member);
out:
    archive_read_free(a);
    return r;
}

/* The regular member a name stands for, through links: the last of that name, as extracting
 * the archive would leave it. */
static const struct member *find_member(struct load *l, const char *name)
{
    for (int hops = 0; hops <= LINK_HOPS_MAX; hops++) {
        size_t lo = 0, hi = l->n_members;
        const struct member *m = NULL;

        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(l->members[mid].name, name);
            if (c < 0) {
                lo = mid + 1;
            } else if (c > 0) {
                hi = mid;
            } else {
                m = &l->members[mid];
                lo = mid + 1;
            }
        }
        if (!m || !m->link)
            return m;
        name = m->link;
    }
    return NULL;
}

static int member_named(struct load *l, const char *raw, const char *what,
                        const struct member **ret)
{
    _cleanup_free_ char *name = NULL;
    const struct member *m;
    bool nomem;

    name = norm_name(NULL, raw, &nomem);
    if (!name && nomem)
        return oom(l);
    m = name ? find_member(l, name) : NULL;
    if (!m)
        return iso_err_set(l->err, EINVAL, "invalid archive: %s '%s' is not in the archive", what,
                           raw);
    *ret = m;
    return 0;
}

/* A kept member, parsed. */
static int member_json(struct load *l, const struct member *m, const char *what, json_t **ret)
{
    if (!m->data)
        return iso_err_set(l->err, EINVAL,
                           "invalid archive: %s '%s' is not JSON of at most %zu MiB", what, m->name,
                           JSON_MAX >> 20);
    if (iso_json_parse(m->data, m->len, ret, l->err) < 0)
        return iso_err_prefix(l->err, "invalid archive: %s '%s'", what, m->name);
    return 0;
}

/* "blobs/sha256/<hex>" -> "sha256:<hex>"; "" when the name is not a blob path. */
static void blob_path_digest(const char *name, char out[STORE_DIGEST_SIZE])
{
    out[0] = '\0';
    if (strneq(name, "blobs/sha256/", 13) && is_hex64(name + 13, strlen(name + 13)))
        snprintf(out, STORE_DIGEST_SIZE, "sha256:%s", name + 13);
}

/* The blob of an OCI descriptor, checked against its digest and size. */
static int oci_blob(struct load *l, json_t *desc, const char *what, const struct member **ret,
                    char digest[STORE_DIGEST_SIZE])
{
    const char *d = json_string_value(json_object_get(desc, "digest")), *hex;
    json_t *size = json_object_get(desc, "size");
    char path[STORE_DIGEST_SIZE + 16];
    int r;

    if (!d)
        return iso_err_set(l->err, EINVAL, "invalid archive: %s descriptor without a digest", what);
    r = store_digest_parse(d, &hex, l->err);
    if (r < 0)
        return iso_err_prefix(l->err, "invalid archive: %s", what);
    snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
    r = member_named(l, path, what, ret);
    if (r < 0)
        return r;
    if (json_is_integer(size) && json_integer_value(size) != (json_int_t)(*ret)->size)
        return iso_err_set(l->err, EBADMSG,
                           "invalid archive: %s %s: size mismatch: %" PRIu64
                           " bytes, descriptor says %" JSON_INTEGER_FORMAT,
                           what, d, (*ret)->size, json_integer_value(size));
    snprintf(digest, STORE_DIGEST_SIZE, "%s", d);
    return 0;
}

/* A kept JSON blob whose content must match digest. */
static int check_content(struct load *l, const struct member *m, const char *digest,
                         const char *what)
{
    char got[STORE_DIGEST_SIZE];
    int r;

    if (!m->data)
        return iso_err_set(l->err, EINVAL,
                           "invalid archive: %s '%s' is not JSON of at most %zu MiB", what, m->name,
                           JSON_MAX >> 20);
    r = store_digest_buf(m->data, m->len, got);
    if (r < 0)
        return iso_err_set_errno(l->err, r, "sha256");
    if (!streq(got, digest))
        return iso_err_set(l->err, EBADMSG, "invalid archive: %s %s: digest mismatch: got %s", what,
                           digest, got);
    return 0;
}

/* --- load: images ------------------------------------------------------------------------- */

struct layer_ref {
    const char *member;      /* name in the archive */
    const char *blob_digest; /* "" or the descriptor's digest */
    int64_t blob_size;       /* -1 or the descriptor's size */
};

static int add_job(struct load *l, const char *chain_id, const char *diff_id,
                   const struct layer_ref *ref, size_t *ret)
{
    struct job *j;
    int r;

    for (size_t i = 0; i < l->n_jobs; i++)
        if (streq(l->jobs[i].chain_id, chain_id)) {
            *ret = i;
            return 0;
        }
    if (l->n_jobs >= LAYERS_MAX)
        return iso_err_set(l->err, E2BIG, "invalid archive: more than %d layers", LAYERS_MAX);
    if (!grow((void **)&l->jobs, &l->cap_jobs, l->n_jobs + 1, sizeof(*l->jobs)))
        return oom(l);
    j = &l->jobs[l->n_jobs];
    *j = (struct job){.blob_size = ref->blob_size, .tmp = {.dir_fd = -1, .diff_fd = -1}};
    snprintf(j->chain_id, sizeof(j->chain_id), "%s", chain_id);
    snprintf(j->diff_id, sizeof(j->diff_id), "%s", diff_id);
    snprintf(j->blob_digest, sizeof(j->blob_digest), "%s", ref->blob_digest);
    /* As Docker: a layer the store has is not read from the archive, so it need not be in it. */
    j->exists = store_layers_exists(l->ls, chain_id);
    if (j->exists) {
        r = store_layers_disk_usage(l->ls, chain_id, &j->size, l->err);
        if (r < 0)
            return r;
    } else {
        r = member_named(l, ref->member, "layer", &j->member);
        if (r < 0)
            return r;
    }
    *ret = l->n_jobs++;
    return 0;
}

static int set_str(char **dst, json_t *v)
{
    if (!json_is_string(v))
        return 0;
    *dst = strdup(json_string_value(v));
    return *dst ? 0 : -ENOMEM;
}

static int image_meta(struct store_archive_image *p, json_t *cfg)
{
    json_t *labels = json_object_get(json_object_get(cfg, "config"), "Labels");

    if (set_str(&p->architecture, json_object_get(cfg, "architecture")) < 0 ||
        set_str(&p->os, json_object_get(cfg, "os")) < 0 ||
        set_str(&p->variant, json_object_get(cfg, "variant")) < 0 ||
        set_str(&p->created, json_object_get(cfg, "created")) < 0)
        return -ENOMEM;
    if (json_is_object(labels)) {
        p->labels = json_dumps(labels, JSON_COMPACT);
        if (!p->labels)
            return -ENOMEM;
    }
    return 0;
}

/* Adds a normalised tag to an image, once. */
static int image_tag(struct load *l, struct img *im, const char *raw)
{
    struct store_ref ref;
    char buf[STORE_REF_STR_MAX];
    char **tags;
    int r;

    r = store_ref_parse(raw, &ref, l->err);
    if (r < 0)
        return r;
    if (ref.digest[0])
        return iso_err_set(l->err, EINVAL, "invalid tag \"%s\"", raw);
    store_ref_string(&ref, buf, sizeof(buf));
    for (size_t i = 0; i < im->pub.n_tags; i++)
        if (streq(im->pub.tags[i], buf))
            return 0;
    if (im->pub.n_tags >= TAGS_MAX)
        return iso_err_set(l->err, E2BIG, "invalid archive: more than %d tags for one image",
                           TAGS_MAX);
    tags = reallocarray(im->pub.tags, im->pub.n_tags + 1, sizeof(*tags));
    if (!tags)
        return oom(l);
    im->pub.tags = tags;
    tags[im->pub.n_tags] = strdup(buf);
    if (!tags[im->pub.n_tags])
        return oom(l);
    im->pub.n_tags++;
    return 0;
}

/* One image of the archive: its config member (already checked against its digest), names,
 * and layer members, bottom first. An image met twice gets the names of both. */
static int add_image(struct load *l, const struct member *cfgm, const char *const *tags,
                     size_t n_tags, const struct layer_ref *refs, size_t n_refs)
{
    _cleanup_json_ json_t *cfg = NULL;
    char id[STORE_DIGEST_SIZE], prev[STORE_DIGEST_SIZE] = "", chain[STORE_DIGEST_SIZE];
    struct img *im = NULL;
    json_t *diffs, *os;
    size_t n;
    int r;

    r = member_json(l, cfgm, "config", &cfg);
    if (r < 0)
        return r;
    r = store_digest_buf(cfgm->data, cfgm->len, id);
    if (r < 0)
        return iso_err_set_errno(l->err, r, "sha256");
    for (size_t i = 0; i < l->n_imgs; i++)
        if (streq(l->imgs[i].pub.id, id))
            im = &l->imgs[i];
    if (!im) {
        os = json_object_get(cfg, "os");
        if (json_is_string(os) && !streq(json_string_value(os), "linux"))
            return iso_err_set(l->err, EINVAL, "cannot load %s image on linux",
                               json_string_value(os));
        diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
        if (!json_is_array(diffs))
            return iso_err_set(l->err, EINVAL, "invalid archive: config %s has no rootfs.diff_ids",
                               id);
        n = json_array_size(diffs);
        if (n != n_refs)
            return iso_err_set(l->err, EINVAL,
                               "invalid manifest, layers length mismatch: expected %zu, got %zu",
                               n_refs, n);
        r = store_overlay_check(n, l->err);
        if (r < 0)
            return r;
        if (l->n_imgs >= IMAGES_MAX)
            return iso_err_set(l->err, E2BIG, "invalid archive: more than %d images", IMAGES_MAX);
        if (!grow((void **)&l->imgs, &l->cap_imgs, l->n_imgs + 1, sizeof(*l->imgs)))
            return oom(l);
        im = &l->imgs[l->n_imgs++];
        *im = (struct img){0};
        memcpy(im->pub.id, id, sizeof(id));
        im->config = malloc(cfgm->len);
        im->jobs = calloc(n, sizeof(*im->jobs));
        im->pub.layers = calloc(n, sizeof(*im->pub.layers));
        if (!im->config || !im->jobs || !im->pub.layers || image_meta(&im->pub, cfg) < 0)
            return oom(l);
        memcpy(im->config, cfgm->data, cfgm->len);
        im->config_len = cfgm->len;
        for (size_t i = 0; i < n; i++) {
            const char *d = json_string_value(json_array_get(diffs, i));
            if (!d || store_chain_id_next(i ? prev : NULL, d, chain, l->err) < 0)
                return iso_err_set(l->err, EINVAL,
                                   "invalid archive: config %s: invalid diff_id %zu", id, i);
            r = add_job(l, chain, d, &refs[i], &im->jobs[i]);
            if (r < 0)
                return r;
            snprintf(im->pub.layers[i].chain_id, STORE_DIGEST_SIZE, "%s", chain);
            snprintf(im->pub.layers[i].diff_id, STORE_DIGEST_SIZE, "%s", d);
            im->pub.n_layers++;
            memcpy(prev, chain, sizeof(prev));
        }
    }
    for (size_t i = 0; i < n_tags; i++) {
        r = image_tag(l, im, tags[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* manifest.json, as `docker save` writes it: [{"Config", "RepoTags", "Layers"}, ...]. */
static int load_docker_manifest(struct load *l, const struct member *mm)
{
    _cleanup_json_ json_t *root = NULL;
    json_t *ent;
    size_t i;
    int r;

    r = member_json(l, mm, "manifest", &root);
    if (r < 0)
        return r;
    if (!json_is_array(root))
        return iso_err_set(l->err, EINVAL, "invalid archive: manifest.json is not a JSON array");
    json_array_foreach(root, i, ent)
    {
        const char *config = json_string_value(json_object_get(ent, "Config"));
        json_t *repo_tags = json_object_get(ent, "RepoTags");
        json_t *layers = json_object_get(ent, "Layers");
        const struct member *cfgm;
        char digest[STORE_DIGEST_SIZE];
        const char *base;
        size_t n_tags = json_array_size(repo_tags), n_layers = json_array_size(layers);
        _cleanup_free_ const char **tags = NULL;
        _cleanup_free_ struct layer_ref *refs = NULL;
        _cleanup_free_ char *blob_digests = NULL;

        if (!config || !json_is_array(layers) ||
            (repo_tags && !json_is_array(repo_tags) && !json_is_null(repo_tags)))
            return iso_err_set(l->err, EINVAL,
                               "invalid archive: manifest.json entry %zu is invalid", i);
        r = member_named(l, config, "config", &cfgm);
        if (r < 0)
            return r;
        /* The config's name says its digest ("blobs/sha256/<hex>" since Docker 25,
         * "<hex>.json" before): hold it to that. */
        blob_path_digest(cfgm->name, digest);
        base = strrchr(cfgm->name, '/') ? strrchr(cfgm->name, '/') + 1 : cfgm->name;
        if (!digest[0] && strlen(base) == 69 && streq(base + 64, ".json") && is_hex64(base, 64))
            snprintf(digest, sizeof(digest), "sha256:%.64s", base);
        if (digest[0]) {
            r = check_content(l, cfgm, digest, "config");
            if (r < 0)
                return r;
        }
        tags = calloc(n_tags + 1, sizeof(*tags));
        refs = calloc(n_layers + 1, sizeof(*refs));
        blob_digests = calloc(n_layers + 1, STORE_DIGEST_SIZE);
        if (!tags || !refs || !blob_digests)
            return oom(l);
        for (size_t k = 0; k < n_tags; k++) {
            tags[k] = json_string_value(json_array_get(repo_tags, k));
            if (!tags[k])
                return iso_err_set(l->err, EINVAL,
                                   "invalid archive: manifest.json entry %zu: "
                                   "RepoTags must be strings",
                                   i);
        }
        for (size_t k = 0; k < n_layers; k++) {
            const char *name = json_string_value(json_array_get(layers, k));
            char *bd = blob_digests + k * STORE_DIGEST_SIZE;
            if (!name)
                return iso_err_set(l->err, EINVAL,
                                   "invalid archive: manifest.json entry %zu: "
                                   "Layers must be strings",
                                   i);
            blob_path_digest(name, bd);
            refs[k] = (struct layer_ref){.member = name, .blob_digest = bd, .blob_size = -1};
        }
        r = add_image(l, cfgm, tags, n_tags, refs, n_layers);
        if (r < 0)
            return r;
    }
    return 0;
}

static void arch_normalize(const char *arch, const char *variant, char a[32], char v[32])
{
    snprintf(a, 32, "%s", arch ? arch : "");
    snprintf(v, 32, "%s", variant ? variant : "");
    if (streq(a, "x86_64") || streq(a, "x86-64"))
        snprintf(a, 32, "amd64");
    else if (streq(a, "aarch64"))
        snprintf(a, 32, "arm64");
    else if (streq(a, "i386") || streq(a, "i686"))
        snprintf(a, 32, "386");
    if ((streq(a, "arm64") && (streq(v, "v8") || streq(v, "8"))) ||
        (streq(a, "amd64") && streq(v, "v1")))
        v[0] = '\0';
}

/* How well a descriptor's platform fits this host: 0 not at all, 1 arch, 2 arch and variant,
 * -1 when it has no platform. */
static int platform_fit(json_t *desc)
{
    json_t *p = json_object_get(desc, "platform");
    const char *os = json_string_value(json_object_get(p, "os"));
    char a[32], v[32];

    if (!json_is_object(p))
        return -1;
    arch_normalize(json_string_value(json_object_get(p, "architecture")),
                   json_string_value(json_object_get(p, "variant")), a, v);
    if (!os || !streq(os, "linux") || !streq(a, ISO_GO_ARCH))
        return 0;
    return v[0] ? 1 : 2;
}

static bool is_index(json_t *desc, json_t *blob)
{
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));

    if (mt)
        return streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST);
    return json_is_array(json_object_get(blob, "manifests"));
}

/* An OCI image manifest (through nested indexes) -> an image with these names. */
static int load_oci_desc(struct load *l, json_t *desc, const char *const *tags, size_t n_tags,
                         int depth)
{
    _cleanup_json_ json_t *blob = NULL;
    _cleanup_free_ struct layer_ref *refs = NULL;
    _cleanup_free_ char *digests = NULL;
    const struct member *m, *cfgm;
    char digest[STORE_DIGEST_SIZE], cfg_digest[STORE_DIGEST_SIZE];
    json_t *layers, *v;
    size_t i, n;
    int r;

    if (depth > INDEX_DEPTH)
        return iso_err_set(l->err, EINVAL, "invalid archive: indexes nested deeper than %d",
                           INDEX_DEPTH);
    r = oci_blob(l, desc, "manifest", &m, digest);
    if (r < 0)
        return r;
    r = check_content(l, m, digest, "manifest");
    if (r < 0)
        return r;
    r = member_json(l, m, "manifest", &blob);
    if (r < 0)
        return r;
    if (is_index(desc, blob)) {
        json_t *best = NULL;
        int best_fit = 0;
        json_array_foreach(json_object_get(blob, "manifests"), i, v)
        {
            int fit = platform_fit(v);
            if (fit > best_fit) {
                best_fit = fit;
                best = v;
            }
        }
        if (!best)
            return iso_err_set(l->err, ENOENT,
                               "invalid archive: index %s has no manifest for linux/%s", digest,
                               ISO_GO_ARCH);
        return load_oci_desc(l, best, tags, n_tags, depth + 1);
    }

    r = oci_blob(l, json_object_get(blob, "config"), "config", &cfgm, cfg_digest);
    if (r < 0)
        return r;
    r = check_content(l, cfgm, cfg_digest, "config");
    if (r < 0)
        return r;
    layers = json_object_get(blob, "layers");
    if (!json_is_array(layers))
        return iso_err_set(l->err, EINVAL, "invalid archive: manifest %s has no layers", digest);
    n = json_array_size(layers);
    refs = calloc(n + 1, sizeof(*refs));
    digests = calloc(n + 1, STORE_DIGEST_SIZE);
    if (!refs || !digests)
        return oom(l);
    json_array_foreach(layers, i, v)
    {
        char *d = digests + i * STORE_DIGEST_SIZE;
        const struct member *lm;
        json_t *size = json_object_get(v, "size");
        r = oci_blob(l, v, "layer", &lm, d);
        if (r < 0)
            return r;
        refs[i] =
            (struct layer_ref){.member = lm->name,
                               .blob_digest = d,
                               .blob_size = json_is_integer(size) ? json_integer_value(size) : -1};
    }
    return add_image(l, cfgm, tags, n_tags, refs, n);
}

/* The name of an index.json entry: containerd's annotation has the full name; the OCI one is
 * meant to be a bare tag, which names nothing without a repository (Docker ignores it), but
 * some tools write a full reference there. */
static const char *oci_name(json_t *desc)
{
    json_t *ann = json_object_get(desc, "annotations");
    const char *name = json_string_value(json_object_get(ann, ANN_IMAGE_NAME));

    if (name && *name)
        return name;
    name = json_string_value(json_object_get(ann, ANN_REF_NAME));
    if (name && (strchr(name, '/') || strchr(name, ':')))
        return name;
    return NULL;
}

static int load_oci_index(struct load *l, const struct member *im)
{
    _cleanup_json_ json_t *root = NULL;
    json_t *manifests, *v;
    size_t i, loaded = 0;
    int r;

    r = member_json(l, im, "index", &root);
    if (r < 0)
        return r;
    manifests = json_object_get(root, "manifests");
    if (!json_is_array(manifests))
        return iso_err_set(l->err, EINVAL, "invalid archive: index.json has no manifests");
    json_array_foreach(manifests, i, v)
    {
        const char *name = oci_name(v);
        /* An entry of another platform, as in an index of per-platform manifests. */
        if (platform_fit(v) == 0)
            continue;
        r = load_oci_desc(l, v, &name, name ? 1 : 0, 0);
        if (r < 0)
            return r;
        loaded++;
    }
    if (!loaded)
        return iso_err_set(l->err, EINVAL, "invalid archive: index.json has no image for linux/%s",
                           ISO_GO_ARCH);
    return 0;
}

/* --- load: unpacking ------------------------------------------------------------------------ */

struct member_src {
    struct archive *a;
    struct load *l;
    const struct job *job;
    bool failed;
    char msg[256];
};

static ssize_t member_read(void *ud, void *buf, size_t len)
{
    struct member_src *s = ud;
    la_ssize_t n = archive_read_data(s->a, buf, len);

    if (n < 0) {
        s->failed = true;
        snprintf(s->msg, sizeof(s->msg), "%s",
                 archive_error_string(s->a) ? archive_error_string(s->a) : "read error");
        return -EIO;
    }
    return n;
}

static void member_progress(void *ud, uint64_t bytes)
{
    struct member_src *s = ud;
    const struct store_archive_load_ops *ops = s->l->ops;

    if (ops && ops->layer_progress)
        ops->layer_progress(ops->userdata, s->job->diff_id, bytes, s->job->member->size);
}

static int unpack_job(struct load *l, struct archive *a, struct job *j)
{
    struct member_src s = {.a = a, .l = l, .job = j};
    struct store_layer_source src = {.read = member_read, .userdata = &s};
    struct store_unpack_opts uo = {
        .compression = STORE_COMPRESSION_DETECT, /* Docker takes gzip, zstd or plain tars */
        .expect_blob_digest = j->blob_digest[0] ? j->blob_digest : NULL,
        .expect_blob_size = j->blob_size,
        .expect_diff_id = j->diff_id,
        .progress = member_progress,
        .progress_userdata = &s,
    };
    struct store_unpack_result res;
    int r;

    if (l->ops && l->ops->layer_begin)
        l->ops->layer_begin(l->ops->userdata, j->diff_id, j->member->size);
    r = store_layers_begin(l->ls, &j->tmp, l->err);
    if (r < 0)
        return r;
    r = store_layer_unpack(j->tmp.diff_fd, &src, &uo, &res, l->err);
    if (r < 0) {
        if (s.failed)
            r = iso_err_set(l->err, EINVAL, "invalid archive: member '%s': %s", j->member->name,
                            s.msg);
        store_layers_abort(l->ls, &j->tmp);
        return r;
    }
    /* Only the name is kept until publishing: an archive may have thousands of layers, and
     * two fds each would run out. */
    j->tmp.diff_fd = safe_close(j->tmp.diff_fd);
    j->tmp.dir_fd = safe_close(j->tmp.dir_fd);
    j->size = res.disk_bytes;
    j->done = true;
    return 0;
}

/* The archive is read again for each pass: it must still be the one pass 1 saw. */
static int check_same_member(struct load *l, struct archive_entry *e, const struct member *m)
{
    const char *raw = archive_entry_pathname(e);
    _cleanup_free_ char *name = NULL;
    bool nomem;

    name = raw ? norm_name(NULL, raw, &nomem) : NULL;
    if (!name && raw && nomem)
        return oom(l);
    if (!name || !streq(name, m->name) || archive_entry_filetype(e) != AE_IFREG ||
        archive_entry_hardlink(e))
        return iso_err_set(l->err, EIO, "archive '%s' changed while loading", l->path);
    return 0;
}

static int cmp_job_ptr(const void *a, const void *b)
{
    const struct job *x = *(const struct job *const *)a, *y = *(const struct job *const *)b;

    return x->member->ordinal < y->member->ordinal ? -1 : x->member->ordinal > y->member->ordinal;
}

/* Pass 2 and on: the layer members in archive order. A member that several layers come from
 * (the same diff at different places in a chain) is read once per pass, hence a pass per use. */
static int unpack_all(struct load *l)
{
    _cleanup_free_ struct job **todo = NULL;
    size_t n = 0, left;
    int r;

    todo = calloc(l->n_jobs + 1, sizeof(*todo));
    if (!todo)
        return oom(l);
    for (size_t i = 0; i < l->n_jobs; i++)
        if (!l->jobs[i].exists)
            todo[n++] = &l->jobs[i];
    if (n)
        qsort(todo, n, sizeof(*todo), cmp_job_ptr);
    left = n;
    while (left > 0) {
        struct archive *a = NULL;
        struct archive_entry *e;
        size_t k = 0, want = 0, ordinal;

        /* This pass: the first pending job of each member. */
        for (size_t i = 0; i < n; i++)
            if (!todo[i]->done &&
                (i == 0 || todo[i - 1]->member != todo[i]->member || todo[i - 1]->done))
                want++;
        r = archive_open(l, &a);
        if (r < 0)
            return r;
        for (ordinal = 0; want > 0; ordinal++) {
            r = archive_read_next_header(a, &e);
            if (r == ARCHIVE_EOF) {
                r = iso_err_set(l->err, EIO, "archive '%s' changed while loading", l->path);
                break;
            }
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                r = archive_err(a, l->err, "invalid archive");
                break;
            }
            r = 0;
            while (k < n && (todo[k]->done || todo[k]->member->ordinal < ordinal))
                k++;
            if (k == n || todo[k]->member->ordinal != ordinal)
                continue;
            r = check_same_member(l, e, todo[k]->member);
            if (r < 0)
                break;
            r = unpack_job(l, a, todo[k]);
            if (r < 0)
                break;
            want--;
            left--;
            /* The member's other layers wait for the next pass. */
            while (k < n && todo[k]->member->ordinal == ordinal)
                k++;
        }
        archive_read_free(a);
        if (r < 0)
            return r;
    }
    return 0;
}

static int publish_all(struct load *l)
{
    struct store_blobs *blobs = NULL;
    int r;

    /* Configs first: once a layer is published, a crash before the image rows leaves files
     * that isod's startup reconcile removes either way. */
    r = store_blobs_open(l->root_fd, &blobs, l->err);
    for (size_t i = 0; r >= 0 && i < l->n_imgs; i++)
        r = store_blob_put(blobs, l->imgs[i].pub.id, l->imgs[i].config, l->imgs[i].config_len,
                           l->err);
    store_blobs_close(blobs);
    if (r < 0)
        return r;

    for (size_t i = 0; i < l->n_jobs; i++) {
        struct job *j = &l->jobs[i];
        char path[sizeof(j->tmp.name) + 8];

        if (!j->tmp.name[0])
            continue;
        snprintf(path, sizeof(path), "tmp/%s", j->tmp.name);
        j->tmp.dir_fd = openat(l->root_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (j->tmp.dir_fd >= 0)
            j->tmp.diff_fd =
                openat(j->tmp.dir_fd, "diff", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (j->tmp.diff_fd < 0)
            return iso_err_set_errno(l->err, errno, "open '%s'", path);
        r = store_layers_publish(l->ls, &j->tmp, j->chain_id, l->err);
        if (r < 0)
            return r;
    }
    return 0;
}

int store_archive_load(int root_fd, const char *path, const struct store_archive_load_ops *ops,
                       struct store_archive_image **ret, size_t *ret_n, struct iso_err *err)
{
    _cleanup_(load_done) struct load l = {.root_fd = root_fd, .path = path, .ops = ops, .err = err};
    _cleanup_(locale_restorep) _unused_ locale_t old = locale_utf8();
    const struct member *m;
    struct store_archive_image *out;
    int r;

    r = store_layers_attach(root_fd, &l.ls, err);
    if (r < 0)
        return r;
    r = scan_members(&l);
    if (r < 0)
        return r;
    /* Docker 25+ writes both layouts in one tar; manifest.json is what every version reads. */
    if ((m = find_member(&l, "manifest.json")))
        r = load_docker_manifest(&l, m);
    else if ((m = find_member(&l, "index.json")))
        r = load_oci_index(&l, m);
    else
        r = iso_err_set(err, EINVAL, NO_MANIFEST_MSG);
    if (r < 0)
        return r;
    r = unpack_all(&l);
    if (r < 0)
        return r;
    r = publish_all(&l);
    if (r < 0)
        return r;

    out = calloc(l.n_imgs + 1, sizeof(*out));
    if (!out)
        return oom(&l);
    for (size_t i = 0; i < l.n_imgs; i++) {
        struct img *im = &l.imgs[i];
        for (size_t k = 0; k < im->pub.n_layers; k++)
            im->pub.layers[k].size = l.jobs[im->jobs[k]].size;
        out[i] = im->pub;
        im->pub = (struct store_archive_image){0};
    }
    *ret = out;
    *ret_n = l.n_imgs;
    return 0;
}

/* --- save: one layer.tar -------------------------------------------------------------------- */

struct hardlink {
    dev_t dev;
    ino_t ino;
    char *path;
};

struct tarw {
    struct archive *a;
    int fd; /* the temp file */
    struct store_digest digest;
    uint64_t bytes;
    int werr; /* write error of the callback, as errno */
    struct iso_err *err;
    const char *chain_id;
    char *path; /* PATH_MAX: the current entry's name in the tar */
    char *buf;  /* IO_BUF_SIZE */
    struct hardlink *links;
    size_t n_links, cap_links;
};

static la_ssize_t tarw_write(struct archive *a, void *ud, const void *p, size_t n)
{
    struct tarw *t = ud;
    int r = iso_write_all(t->fd, p, n);

    (void)a;
    if (r < 0) {
        t->werr = -r;
        return -1;
    }
    store_digest_update(&t->digest, p, n);
    t->bytes += n;
    return (la_ssize_t)n;
}

static int tarw_fail(struct tarw *t)
{
    if (t->werr)
        return iso_err_set_errno(t->err, t->werr, "write layer %s to tmp/", t->chain_id);
    return iso_err_set(t->err, archive_errno(t->a) > 0 ? archive_errno(t->a) : EIO,
                       "layer %s: '%s': %s", t->chain_id, t->path,
                       archive_error_string(t->a) ? archive_error_string(t->a) : "write error");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted (the tar's order must not depend on the filesystem's). */
static int list_dir(int fd, char ***ret, size_t *ret_n)
{
    _cleanup_close_ int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;
    int r = 0;

    if (dfd < 0)
        return -errno;
    d = fdopendir(dfd);
    if (!d)
        return -errno;
    TAKE_FD(dfd);
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            r = errno ? -errno : 0;
            break;
        }
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (!grow((void **)&names, &cap, n + 1, sizeof(*names)) ||
            !(names[n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return r;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *ret = names;
    *ret_n = n;
    return 0;
}

static bool xattr_saved(const char *name)
{
    /* What the unpacker applies (store/unpack.c): user.* but overlay's own, security.* but the
     * host's SELinux label. trusted.* (overlay's bookkeeping) becomes whiteouts, if anything. */
    if (strneq(name, "user.", 5))
        return !strneq(name, "user.overlay.", 13);
    if (strneq(name, "security.", 9))
        return !streq(name, "security.selinux");
    return false;
}

static int add_xattrs(struct tarw *t, struct archive_entry *e, int fd)
{
    _cleanup_free_ char *list = NULL;
    _cleanup_free_ char *val = NULL;
    _cleanup_free_ char **names = NULL;
    ssize_t len;
    size_t n = 0;

    len = flistxattr(fd, NULL, 0);
    if (len < 0)
        return errno == ENOTSUP ? 0 : -errno;
    if (len == 0)
        return 0;
    list = malloc((size_t)len);
    if (!list)
        return -ENOMEM;
    len = flistxattr(fd, list, (size_t)len);
    if (len < 0)
        return -errno;
    names = calloc((size_t)len, sizeof(*names));
    val = malloc(XATTR_BUF_MAX);
    if (!names || !val)
        return -ENOMEM;
    for (char *p = list; p < list + len; p += strlen(p) + 1)
        if (xattr_saved(p))
            names[n++] = p;
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        ssize_t vlen = fgetxattr(fd, names[i], val, XATTR_BUF_MAX);
        if (vlen < 0) {
            if (errno == ENODATA)
                continue;
            return -errno;
        }
        archive_entry_xattr_add_entry(e, names[i], val, (size_t)vlen);
    }
    return 0;
}

static bool is_opaque(int fd)
{
    char v[2];

    return fgetxattr(fd, OPAQUE_XATTR, v, sizeof(v)) == 1 && v[0] == 'y';
}

static struct hardlink *link_find(struct tarw *t, const struct stat *st)
{
    for (size_t i = 0; i < t->n_links; i++)
        if (t->links[i].ino == st->st_ino && t->links[i].dev == st->st_dev)
            return &t->links[i];
    return NULL;
}

static void entry_from_stat(struct archive_entry *e, const char *path, const struct stat *st)
{
    archive_entry_set_pathname(e, path);
    archive_entry_set_mode(e, st->st_mode);
    archive_entry_set_uid(e, st->st_uid);
    archive_entry_set_gid(e, st->st_gid);
    archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

static int write_header(struct tarw *t, struct archive_entry *e)
{
    int r = archive_write_header(t->a, e);

    /* WARN: a name libarchive could not convert, written as raw bytes all the same. */
    return r == ARCHIVE_OK || r == ARCHIVE_WARN ? 0 : tarw_fail(t);
}

static int write_file_data(struct tarw *t, int fd, uint64_t size)
{
    uint64_t done = 0;

    while (done < size) {
        size_t want = size - done < IO_BUF_SIZE ? (size_t)(size - done) : IO_BUF_SIZE;
        ssize_t n = RETRY_EINTR(read(fd, t->buf, want));
        if (n < 0)
            return iso_err_set_errno(t->err, errno, "layer %s: read '%s'", t->chain_id, t->path);
        if (n == 0)
            return iso_err_set(t->err, EIO, "layer %s: '%s' shrank while saving", t->chain_id,
                               t->path);
        for (ssize_t off = 0; off < n;) {
            la_ssize_t w = archive_write_data(t->a, t->buf + off, (size_t)(n - off));
            if (w <= 0)
                return tarw_fail(t);
            off += w;
        }
        done += (uint64_t)n;
    }
    return 0;
}

static int walk(struct tarw *t, int dfd, size_t plen, unsigned depth);

static int save_entry(struct tarw *t, int dfd, const char *name, size_t plen, unsigned depth)
{
    struct archive_entry *e = NULL;
    _cleanup_close_ int fd = -1;
    struct stat st;
    size_t nlen = strlen(name);
    int r = 0;

    if (plen + nlen + strlen(WH_PREFIX) + strlen(WH_OPAQUE) + 4 > PATH_MAX)
        return iso_err_set(t->err, ENAMETOOLONG, "layer %s: name too long under '%s'", t->chain_id,
                           t->path);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return iso_err_set_errno(t->err, errno, "layer %s: stat '%s%s'", t->chain_id, t->path,
                                 name);
    if (S_ISSOCK(st.st_mode))
        return 0; /* as Docker: a tar cannot hold a socket */

    e = archive_entry_new();
    if (!e)
        return iso_err_set(t->err, ENOMEM, "out of memory");

    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        /* An overlay whiteout: back to the AUFS form of the image spec. Mode and time are
         * fixed (Docker keeps the device's): the unpacker makes every whiteout 0000 and
         * stamps it with the time of the unpack, and saving a loaded image must give the same
         * tar again. */
        memcpy(t->path + plen, WH_PREFIX, strlen(WH_PREFIX));
        memcpy(t->path + plen + strlen(WH_PREFIX), name, nlen + 1);
        entry_from_stat(e, t->path, &st);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        archive_entry_set_mtime(e, 0, 0);
        archive_entry_set_size(e, 0);
        r = write_header(t, e);
        goto out;
    }

    memcpy(t->path + plen, name, nlen + 1);
    entry_from_stat(e, t->path, &st);
    if (S_ISDIR(st.st_mode)) {
        if (depth >= WALK_DEPTH) {
            r = iso_err_set(t->err, ELOOP, "layer %s: directories nested deeper than %d",
                            t->chain_id, WALK_DEPTH);
            goto out;
        }
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            r = iso_err_set_errno(t->err, errno, "layer %s: open '%s'", t->chain_id, t->path);
            goto out;
        }
        memcpy(t->path + plen + nlen, "/", 2);
        archive_entry_set_pathname(e, t->path);
        archive_entry_set_size(e, 0);
        r = add_xattrs(t, e, fd);
        if (r < 0) {
            r = iso_err_set_errno(t->err, -r, "layer %s: xattrs of '%s'", t->chain_id, t->path);
            goto out;
        }
        r = write_header(t, e);
        if (r < 0)
            goto out;
        if (is_opaque(fd)) {
            /* As Docker writes it: right after its directory, with the directory's owner. */
            archive_entry_clear(e);
            memcpy(t->path + plen + nlen + 1, WH_OPAQUE, strlen(WH_OPAQUE) + 1);
            entry_from_stat(e, t->path, &st);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, st.st_mode & 0777);
            archive_entry_set_size(e, 0);
            r = write_header(t, e);
            if (r < 0)
                goto out;
            t->path[plen + nlen + 1] = '\0';
        }
        archive_entry_free(e);
        e = NULL;
        r = walk(t, fd, plen + nlen + 1, depth + 1);
        goto out;
    }

    if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1) {
            struct hardlink *h = link_find(t, &st);
            if (h) {
                archive_entry_set_hardlink(e, h->path);
                archive_entry_set_size(e, 0);
                r = write_header(t, e);
                goto out;
            }
            if (!grow((void **)&t->links, &t->cap_links, t->n_links + 1, sizeof(*t->links)) ||
                !(t->links[t->n_links].path = strdup(t->path))) {
                r = iso_err_set(t->err, ENOMEM, "out of memory");
                goto out;
            }
            t->links[t->n_links].dev = st.st_dev;
            t->links[t->n_links].ino = st.st_ino;
            t->n_links++;
        }
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            r = iso_err_set_errno(t->err, errno, "layer %s: open '%s'", t->chain_id, t->path);
            goto out;
        }
        archive_entry_set_size(e, st.st_size);
        r = add_xattrs(t, e, fd);
        if (r < 0) {
            r = iso_err_set_errno(t->err, -r, "layer %s: xattrs of '%s'", t->chain_id, t->path);
            goto out;
        }
        r = write_header(t, e);
        if (r >= 0)
            r = write_file_data(t, fd, (uint64_t)st.st_size);
        goto out;
    }

    archive_entry_set_size(e, 0);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd, name, t->buf, PATH_MAX);
        if (n < 0 || n >= PATH_MAX) {
            r = iso_err_set_errno(t->err, n < 0 ? errno : ENAMETOOLONG, "layer %s: read link '%s'",
                                  t->chain_id, t->path);
            goto out;
        }
        t->buf[n] = '\0';
        archive_entry_set_symlink(e, t->buf);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        archive_entry_set_rdevmajor(e, major(st.st_rdev));
        archive_entry_set_rdevminor(e, minor(st.st_rdev));
    } else if (!S_ISFIFO(st.st_mode)) {
        r = iso_err_set(t->err, EINVAL, "layer %s: '%s' has an unsupported type 0%o", t->chain_id,
                        t->path, (unsigned)(st.st_mode & S_IFMT));
        goto out;
    }
    r = write_header(t, e);
out:
    archive_entry_free(e);
    t->path[plen] = '\0';
    return r;
}

static int walk(struct tarw *t, int dfd, size_t plen, unsigned depth)
{
    char **names = NULL;
    size_t n = 0;
    int r;

    r = list_dir(dfd, &names, &n);
    if (r < 0)
        return iso_err_set_errno(t->err, -r, "layer %s: list '%s'", t->chain_id,
                                 plen ? t->path : "/");
    for (size_t i = 0; i < n && r >= 0; i++)
        r = save_entry(t, dfd, names[i], plen, depth);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

/* An unnamed file in tmp/ (so a crash leaves nothing); a named one unlinked at once where the
 * filesystem has no O_TMPFILE. */
static int tmpfile_open(int root_fd, struct iso_err *err)
{
    int fd = openat(root_fd, "tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd >= 0 ? fd : iso_err_set_errno(err, errno, "create a temp file in tmp/");
    for (unsigned i = 0;; i++) {
        char name[64];
        snprintf(name, sizeof(name), "tmp/save-%d-%u-%" PRIu64, (int)getpid(), i,
                 iso_now_mono_ns());
        fd = openat(root_fd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
            (void)unlinkat(root_fd, name, 0);
            return fd;
        }
        if (errno != EEXIST || i > 100)
            return iso_err_set_errno(err, errno, "create a temp file in tmp/");
    }
}

/* Writes layers/<chain>/diff as a tar into a temp file: *ret_fd, with its digest and size. */
static int layer_tar(int root_fd, struct store_layers *ls, const char *chain_id, int *ret_fd,
                     char digest[STORE_DIGEST_SIZE], uint64_t *ret_size, struct iso_err *err)
{
    struct tarw t = {.fd = -1, .err = err, .chain_id = chain_id};
    _cleanup_close_ int diff_fd = -1;
    char path[STORE_DIGEST_SIZE + 8];
    int r;

    snprintf(path, sizeof(path), "%s/diff", digest_hex(chain_id));
    diff_fd = openat(store_layers_dirfd(ls), path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (diff_fd < 0)
        return iso_err_set_errno(err, errno, "open layer %s", chain_id);
    t.fd = tmpfile_open(root_fd, err);
    if (t.fd < 0)
        return t.fd;
    t.path = malloc(PATH_MAX + 1);
    t.buf = malloc(IO_BUF_SIZE);
    t.a = archive_write_new();
    if (!t.path || !t.buf || !t.a) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    t.path[0] = '\0';
    r = store_digest_init(&t.digest);
    if (r < 0) {
        r = iso_err_set_errno(err, r, "sha256");
        goto out;
    }
    /* ustar, with pax headers only where ustar cannot say it (long names, xattrs, big ids):
     * what Docker's tars look like. No padding to a 10 KiB record after the end marker. */
    if (archive_write_set_format_pax_restricted(t.a) != ARCHIVE_OK ||
        archive_write_add_filter_none(t.a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(t.a, 1) != ARCHIVE_OK) {
        r = tarw_fail(&t);
        goto out;
    }
    /* SCHILY.xattr.* only, which is what Docker reads (not libarchive's own records too). */
    (void)archive_write_set_format_option(t.a, "pax", "xattrheader", "SCHILY");
    if (archive_write_open(t.a, &t, NULL, tarw_write, NULL) != ARCHIVE_OK) {
        r = tarw_fail(&t);
        goto out;
    }
    /* The layer root itself is not an entry, as in Docker's layer tars. */
    r = walk(&t, diff_fd, 0, 0);
    if (r < 0)
        goto out;
    if (archive_write_close(t.a) != ARCHIVE_OK) {
        r = tarw_fail(&t);
        goto out;
    }
    r = store_digest_final(&t.digest, digest);
    if (r < 0) {
        r = iso_err_set_errno(err, r, "sha256");
        goto out;
    }
    *ret_size = t.bytes;
    *ret_fd = TAKE_FD(t.fd);
out:
    if (t.a)
        archive_write_free(t.a);
    store_digest_done(&t.digest);
    for (size_t i = 0; i < t.n_links; i++)
        free(t.links[i].path);
    free(t.links);
    free(t.path);
    free(t.buf);
    safe_close(t.fd);
    return r;
}

/* --- save: the archive ---------------------------------------------------------------------- */

struct save_img {
    json_t *config;   /* parsed, owned */
    char *config_raw; /* bytes as stored, owned */
    size_t config_len;
    char (*chains)[STORE_DIGEST_SIZE]; /* n_layers chain ids, owned */
    size_t n_layers;
    char **tags; /* familiar, owned */
    size_t n_tags;
    char (*new_diffs)[STORE_DIGEST_SIZE]; /* regenerated diff ids, owned */
};

struct saved_layer {
    char chain_id[STORE_DIGEST_SIZE];
    char diff_id[STORE_DIGEST_SIZE]; /* of the regenerated tar */
};

struct save {
    int root_fd, out_fd;
    struct iso_err *err;
    struct archive *a;
    int werr;
    struct store_layers *ls;
    struct store_blobs *blobs;
    struct save_img *imgs;
    size_t n_imgs;
    struct saved_layer *done;
    size_t n_done, cap_done;
    char *buf;
};

static void save_done(struct save *s)
{
    if (s->a)
        archive_write_free(s->a);
    for (size_t i = 0; s->imgs && i < s->n_imgs; i++) {
        json_decref(s->imgs[i].config);
        free(s->imgs[i].config_raw);
        free(s->imgs[i].chains);
        free(s->imgs[i].new_diffs);
        for (size_t k = 0; k < s->imgs[i].n_tags; k++)
            free(s->imgs[i].tags[k]);
        free(s->imgs[i].tags);
    }
    free(s->imgs);
    free(s->done);
    free(s->buf);
    store_blobs_close(s->blobs);
    store_layers_close(s->ls);
}

/* Reads and checks one image before anything is written. */
static int save_prepare(struct save *s, const struct store_archive_save_image *in,
                        struct save_img *out)
{
    char digest[STORE_DIGEST_SIZE];
    json_t *diffs;
    int r;

    r = store_digest_parse(in->id ? in->id : "", NULL, s->err);
    if (r < 0)
        return iso_err_prefix(s->err, "image id");
    r = store_blob_get(s->blobs, in->id, JSON_MAX, &out->config_raw, &out->config_len, s->err);
    if (r < 0)
        return iso_err_prefix(s->err, "image %s: config", in->id);
    r = store_digest_buf(out->config_raw, out->config_len, digest);
    if (r < 0)
        return iso_err_set_errno(s->err, r, "sha256");
    if (!streq(digest, in->id))
        return iso_err_set(s->err, EBADMSG, "image %s: stored config has digest %s", in->id,
                           digest);
    r = iso_json_parse(out->config_raw, out->config_len, &out->config, s->err);
    if (r < 0)
        return iso_err_prefix(s->err, "image %s: config", in->id);
    diffs = json_object_get(json_object_get(out->config, "rootfs"), "diff_ids");
    out->n_layers = json_array_size(diffs);
    if (!json_is_array(diffs) || out->n_layers == 0 ||
        (in->n_layers && in->n_layers != out->n_layers))
        return iso_err_set(s->err, EINVAL, "image %s: its config has %zu layers, not %zu", in->id,
                           out->n_layers, in->n_layers);
    out->chains = calloc(out->n_layers, sizeof(*out->chains));
    out->new_diffs = calloc(out->n_layers, sizeof(*out->new_diffs));
    if (!out->chains || !out->new_diffs)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    for (size_t i = 0; i < out->n_layers; i++) {
        const char *d = json_string_value(json_array_get(diffs, i));
        r = store_chain_id_next(i ? out->chains[i - 1] : NULL, d ? d : "", out->chains[i], s->err);
        if (r < 0)
            return iso_err_prefix(s->err, "image %s: diff_id %zu", in->id, i);
        if (in->n_layers && !streq(in->layers[i] ? in->layers[i] : "", out->chains[i]))
            return iso_err_set(s->err, EINVAL, "image %s: layer %zu is %s, its config says %s",
                               in->id, i, in->layers[i] ? in->layers[i] : "", out->chains[i]);
        if (!store_layers_exists(s->ls, out->chains[i]))
            return iso_err_set(s->err, ENOENT, "image %s: layer %s is missing", in->id,
                               out->chains[i]);
    }
    out->tags = calloc(in->n_tags + 1, sizeof(*out->tags));
    if (!out->tags)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    for (size_t i = 0; i < in->n_tags; i++) {
        struct store_ref ref;
        char buf[STORE_REF_STR_MAX];

        r = store_ref_parse(in->tags[i] ? in->tags[i] : "", &ref, s->err);
        if (r < 0)
            return r;
        if (ref.digest[0] || !ref.tag[0])
            return iso_err_set(s->err, EINVAL, "invalid tag \"%s\"", in->tags[i]);
        out->tags[out->n_tags] = strdup(store_ref_familiar(&ref, buf, sizeof(buf)));
        if (!out->tags[out->n_tags])
            return iso_err_set(s->err, ENOMEM, "out of memory");
        out->n_tags++;
    }
    return 0;
}

static la_ssize_t out_write(struct archive *a, void *ud, const void *p, size_t n)
{
    struct save *s = ud;
    int r = iso_write_all(s->out_fd, p, n);

    (void)a;
    if (r < 0) {
        s->werr = -r;
        return -1;
    }
    return (la_ssize_t)n;
}

static int out_fail(struct save *s, const char *what)
{
    if (s->werr)
        return iso_err_set_errno(s->err, s->werr, "write the archive");
    return iso_err_set(s->err, archive_errno(s->a) > 0 ? archive_errno(s->a) : EIO, "%s: %s", what,
                       archive_error_string(s->a) ? archive_error_string(s->a) : "error");
}

/* One member of the outer tar: data from buf, or from fd (size bytes) when buf is NULL. */
static int out_member(struct save *s, const char *name, bool dir, const void *buf, int fd,
                      uint64_t size)
{
    struct archive_entry *e = archive_entry_new();
    int r = 0;

    if (!e)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
    /* Fixed times: the same images give the same archive. */
    archive_entry_set_mtime(e, 0, 0);
    if (archive_write_header(s->a, e) != ARCHIVE_OK) {
        r = out_fail(s, name);
        goto out;
    }
    for (uint64_t off = 0; !dir && off < size;) {
        size_t want = size - off < IO_BUF_SIZE ? (size_t)(size - off) : IO_BUF_SIZE;
        const char *p;
        ssize_t n;

        if (buf) {
            p = (const char *)buf + off;
            n = (ssize_t)want;
        } else {
            n = RETRY_EINTR(pread(fd, s->buf, want, (off_t)off));
            if (n <= 0) {
                r = iso_err_set_errno(s->err, n < 0 ? errno : EIO, "read back '%s'", name);
                goto out;
            }
            p = s->buf;
        }
        for (ssize_t k = 0; k < n;) {
            la_ssize_t w = archive_write_data(s->a, p + k, (size_t)(n - k));
            if (w <= 0) {
                r = out_fail(s, name);
                goto out;
            }
            k += w;
        }
        off += (uint64_t)n;
    }
out:
    archive_entry_free(e);
    return r;
}

static const struct saved_layer *saved_find(struct save *s, const char *chain_id)
{
    for (size_t i = 0; i < s->n_done; i++)
        if (streq(s->done[i].chain_id, chain_id))
            return &s->done[i];
    return NULL;
}

static bool diff_written(struct save *s, const char *diff_id)
{
    for (size_t i = 0; i < s->n_done; i++)
        if (streq(s->done[i].diff_id, diff_id))
            return true;
    return false;
}

static int save_layer(struct save *s, const char *chain_id, char diff_id[STORE_DIGEST_SIZE])
{
    const struct saved_layer *sl = saved_find(s, chain_id);
    _cleanup_close_ int fd = -1;
    char name[STORE_DIGEST_SIZE + 16];
    uint64_t size = 0;
    int r;

    if (sl) {
        memcpy(diff_id, sl->diff_id, STORE_DIGEST_SIZE);
        return 0;
    }
    r = layer_tar(s->root_fd, s->ls, chain_id, &fd, diff_id, &size, s->err);
    if (r < 0)
        return r;
    /* The same content under two chain ids (an empty layer at two places) is written once. */
    if (!diff_written(s, diff_id)) {
        snprintf(name, sizeof(name), "%s/", digest_hex(diff_id));
        r = out_member(s, name, true, NULL, -1, 0);
        if (r < 0)
            return r;
        snprintf(name, sizeof(name), "%s/layer.tar", digest_hex(diff_id));
        r = out_member(s, name, false, NULL, fd, size);
        if (r < 0)
            return r;
    }
    if (!grow((void **)&s->done, &s->cap_done, s->n_done + 1, sizeof(*s->done)))
        return iso_err_set(s->err, ENOMEM, "out of memory");
    snprintf(s->done[s->n_done].chain_id, STORE_DIGEST_SIZE, "%s", chain_id);
    memcpy(s->done[s->n_done].diff_id, diff_id, STORE_DIGEST_SIZE);
    s->n_done++;
    return 0;
}

/* The config as it goes into the archive: the stored one when the regenerated tars have the
 * same digests, else a copy with the new rootfs.diff_ids (a new image id). */
static int save_config(struct save *s, struct save_img *im, char **ret, size_t *ret_len,
                       bool *ret_owned)
{
    json_t *diffs = json_object_get(json_object_get(im->config, "rootfs"), "diff_ids");
    json_t *nd;
    bool same = true;

    for (size_t i = 0; i < im->n_layers; i++)
        if (!streq(json_string_value(json_array_get(diffs, i)), im->new_diffs[i]))
            same = false;
    if (same) {
        *ret = im->config_raw;
        *ret_len = im->config_len;
        *ret_owned = false;
        return 0;
    }
    nd = json_array();
    for (size_t i = 0; nd && i < im->n_layers; i++)
        if (json_array_append_new(nd, json_string(im->new_diffs[i])) < 0) {
            json_decref(nd);
            nd = NULL;
        }
    if (!nd || json_object_set_new(json_object_get(im->config, "rootfs"), "diff_ids", nd) < 0)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    *ret = json_dumps(im->config, JSON_COMPACT);
    if (!*ret)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    *ret_len = strlen(*ret);
    *ret_owned = true;
    return 0;
}

/* manifest.json and repositories, with the trailing newline of Go's json.Encoder. */
static int save_index(struct save *s, json_t *manifest, json_t *repos)
{
    _cleanup_free_ char *m = json_dumps(manifest, JSON_COMPACT);
    _cleanup_free_ char *r = json_dumps(repos, JSON_COMPACT);
    _cleanup_free_ char *m2 = NULL, *r2 = NULL;
    int rr;

    if (!m || !r)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    m2 = iso_strprintf("%s\n", m);
    r2 = iso_strprintf("%s\n", r);
    if (!m2 || !r2)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    if (json_object_size(repos)) {
        rr = out_member(s, "repositories", false, r2, -1, strlen(r2));
        if (rr < 0)
            return rr;
    }
    return out_member(s, "manifest.json", false, m2, -1, strlen(m2));
}

static int save_all(struct save *s)
{
    _cleanup_json_ json_t *manifest = json_array();
    _cleanup_json_ json_t *repos = json_object();
    _cleanup_json_ json_t *configs_written = json_object();

    if (!manifest || !repos || !configs_written)
        return iso_err_set(s->err, ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n_imgs; i++) {
        struct save_img *im = &s->imgs[i];
        json_t *layers = json_array(), *tags = json_array(), *ent;
        char cfg_digest[STORE_DIGEST_SIZE], name[STORE_DIGEST_SIZE + 16];
        char *cfg = NULL;
        size_t cfg_len = 0;
        bool owned = false;
        int r;

        if (!layers || !tags) {
            json_decref(layers);
            json_decref(tags);
            return iso_err_set(s->err, ENOMEM, "out of memory");
        }
        ent = json_pack("{s:n,s:o,s:o}", "Config", "RepoTags", tags, "Layers", layers);
        if (!ent || json_array_append_new(manifest, ent) < 0)
            return iso_err_set(s->err, ENOMEM, "out of memory");
        for (size_t k = 0; k < im->n_layers; k++) {
            r = save_layer(s, im->chains[k], im->new_diffs[k]);
            if (r < 0)
                return r;
            snprintf(name, sizeof(name), "%s/layer.tar", digest_hex(im->new_diffs[k]));
            if (json_array_append_new(layers, json_string(name)) < 0)
                return iso_err_set(s->err, ENOMEM, "out of memory");
        }
        r = save_config(s, im, &cfg, &cfg_len, &owned);
        if (r < 0)
            return r;
        r = store_digest_buf(cfg, cfg_len, cfg_digest);
        snprintf(name, sizeof(name), "%s.json", digest_hex(cfg_digest));
        if (r >= 0 && !json_object_get(configs_written, name)) {
            r = out_member(s, name, false, cfg, -1, cfg_len);
            if (r >= 0 && json_object_set_new(configs_written, name, json_true()) < 0)
                r = iso_err_set(s->err, ENOMEM, "out of memory");
        } else if (r < 0) {
            r = iso_err_set_errno(s->err, r, "sha256");
        }
        if (owned)
            free(cfg);
        if (r < 0)
            return r;
        if (json_object_set_new(ent, "Config", json_string(name)) < 0)
            return iso_err_set(s->err, ENOMEM, "out of memory");

        /* RepoTags, and the legacy "repositories": {"busybox": {"latest": "<top layer dir>"}}. */
        for (size_t k = 0; k < im->n_tags; k++) {
            const char *colon = strrchr(im->tags[k], ':');
            _cleanup_free_ char *repo = strndup(im->tags[k], (size_t)(colon - im->tags[k]));
            json_t *tagmap;

            if (!repo || json_array_append_new(tags, json_string(im->tags[k])) < 0)
                return iso_err_set(s->err, ENOMEM, "out of memory");
            tagmap = json_object_get(repos, repo);
            if (!tagmap) {
                tagmap = json_object();
                if (!tagmap || json_object_set_new(repos, repo, tagmap) < 0)
                    return iso_err_set(s->err, ENOMEM, "out of memory");
            }
            if (json_object_set_new(tagmap, colon + 1,
                                    json_string(digest_hex(im->new_diffs[im->n_layers - 1]))) < 0)
                return iso_err_set(s->err, ENOMEM, "out of memory");
        }
        if (!im->n_tags && json_object_set_new(ent, "RepoTags", json_null()) < 0)
            return iso_err_set(s->err, ENOMEM, "out of memory");
    }
    return save_index(s, manifest, repos);
}

int store_archive_save(int root_fd, const struct store_archive_save_image *images, size_t n,
                       int out_fd, struct iso_err *err)
{
    _cleanup_(save_done) struct save s = {.root_fd = root_fd, .out_fd = out_fd, .err = err};
    _cleanup_(locale_restorep) _unused_ locale_t old = locale_utf8();
    int r;

    if (n == 0)
        return iso_err_set(err, EINVAL, "no images to save");
    if (n > IMAGES_MAX)
        return iso_err_set(err, E2BIG, "more than %d images to save", IMAGES_MAX);
    r = store_layers_attach(root_fd, &s.ls, err);
    if (r < 0)
        return r;
    r = store_blobs_open(root_fd, &s.blobs, err);
    if (r < 0)
        return r;
    s.imgs = calloc(n, sizeof(*s.imgs));
    s.buf = malloc(IO_BUF_SIZE);
    if (!s.imgs || !s.buf)
        return iso_err_set(err, ENOMEM, "out of memory");
    s.n_imgs = n;
    for (size_t i = 0; i < n; i++) {
        r = save_prepare(&s, &images[i], &s.imgs[i]);
        if (r < 0)
            return r;
    }

    /* 1 MiB writes to the pipe; the end is not padded beyond the tar's own end marker. */
    s.a = archive_write_new();
    if (!s.a)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (archive_write_set_format_pax_restricted(s.a) != ARCHIVE_OK ||
        archive_write_add_filter_none(s.a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(s.a, (int)OUT_BLOCK) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(s.a, 1) != ARCHIVE_OK ||
        archive_write_open(s.a, &s, NULL, out_write, NULL) != ARCHIVE_OK)
        return out_fail(&s, "archive");
    r = save_all(&s);
    if (r < 0)
        return r;
    if (archive_write_close(s.a) != ARCHIVE_OK)
        return out_fail(&s, "archive");
    return 0;
}
