/* isod-fetch: the part of a pull that talks to registries and unpacks layers, in a process of
 * its own. isod starts one per step and reads its answer:
 *
 *   isod-fetch manifest ROOT < request.json   -> {"manifest": {...}}
 *   isod-fetch layer ROOT < request.json      -> {"bytes": N} ... then {"layer": {...}}
 *   isod-fetch load ROOT < {"path": FILE}     -> {"loading": "<12 hex>", ...} ... then
 *                                                {"images": [...]}
 *   isod-fetch save ROOT < {"images": [...]}  -> a docker-archive tar on stdout (raw bytes)
 *
 * On failure the last line is {"error": {"code": ERRNO, "message": "..."}} and the exit status
 * is 1; for save that line goes to stderr, since stdout carries the tar. Why a process: the daemon
 * stays small (libcurl, libarchive and the decompressors are never loaded into it), and a layer
 * that crashes a parser takes down this process, not isod. Credentials come on stdin, never on the
 * command line. */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "common/json.h"
#include "common/util.h"
#include "store/archive.h"
#include "store/blob.h"
#include "store/digest.h"
#include "store/layers.h"
#include "store/overlay.h"
#include "store/reference.h"
#include "store/registry.h"
#include "store/unpack.h"

#define REQUEST_MAX          (1u << 20)
#define CONFIG_MAX           (8u << 20)
#define PROGRESS_INTERVAL_NS (100 * 1000 * 1000)

static void out_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) {
        printf("%s\n", s);
        fflush(stdout);
        free(s);
    }
    json_decref(j);
}

static int fail(const struct iso_err *err)
{
    out_json(json_pack("{s:{s:i,s:s}}", "error", "code", err->code, "message", err->msg));
    return 1;
}

/* save's stdout is the tar: its error goes to stderr, in the same form. */
static int fail_stderr(const struct iso_err *err)
{
    json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", err->code, "message", err->msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    fprintf(stderr, "%s\n", s ? s : err->msg);
    free(s);
    json_decref(j);
    return 1;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : NULL;
}

/* The reference and registry options every request carries. */
static int parse_common(json_t *req, struct store_ref *ref, struct store_registry_opts *o,
                        const char **insecure, struct iso_err *err)
{
    int r = store_ref_parse(jstr(req, "ref") ? jstr(req, "ref") : "", ref, err);
    if (r < 0)
        return r;
    json_t *ins = json_object_get(req, "insecure_registries");
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(ins, i, v)
    {
        if (n < 32 && json_is_string(v))
            insecure[n++] = json_string_value(v);
    }
    *o = (struct store_registry_opts){
        .insecure_registries = insecure,
        .n_insecure = n,
        .username = jstr(req, "username"),
        .password = jstr(req, "password"),
        .identitytoken = jstr(req, "identitytoken"),
        .registrytoken = jstr(req, "registrytoken"),
        .os = jstr(req, "os"),
        .arch = jstr(req, "arch"),
        .variant = jstr(req, "variant"),
    };
    return 0;
}

static json_t *descriptor_json(const struct store_registry_descriptor *d)
{
    return json_pack("{s:s,s:s,s:I,s:i}", "mediaType", d->media_type, "digest", d->digest, "size",
                     (json_int_t)d->size, "compression", (int)d->compression);
}

static int op_manifest(int root_fd, json_t *req, struct iso_err *err)
{
    struct store_ref ref;
    struct store_registry_opts o;
    const char *insecure[32];
    struct store_registry *client = NULL;
    struct store_registry_manifest m = {0};
    struct store_blobs *blobs = NULL;
    _cleanup_free_ char *config = NULL;
    _cleanup_json_ json_t *cfg = NULL;
    size_t config_len = 0;
    int r;

    r = parse_common(req, &ref, &o, insecure, err);
    if (r < 0)
        return r;
    r = store_registry_new(&ref, &o, &client, err);
    if (r < 0)
        goto out;
    r = store_registry_get_manifest(client, &ref, &m, err);
    if (r < 0)
        goto out;
    r = store_overlay_check(m.n_layers, err);
    if (r < 0)
        goto out;
    r = store_registry_get_blob(client, &ref, m.config.digest, m.config.size, CONFIG_MAX, &config,
                                &config_len, err);
    if (r < 0)
        goto out;
    r = iso_json_parse(config, config_len, &cfg, err);
    if (r < 0) {
        iso_err_prefix(err, "image config %s", m.config.digest);
        goto out;
    }
    json_t *diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(diffs) || json_array_size(diffs) != m.n_layers) {
        r = iso_err_set(err, EINVAL,
                        "image config %s: rootfs.diff_ids does not match the manifest's %zu layers",
                        m.config.digest, m.n_layers);
        goto out;
    }

    json_t *layers = json_array(), *chain = json_array();
    char prev[STORE_DIGEST_SIZE] = "", cur[STORE_DIGEST_SIZE];
    for (size_t i = 0; i < m.n_layers; i++) {
        const char *d = json_string_value(json_array_get(diffs, i));
        if (!d || store_digest_parse(d, NULL, err) < 0 ||
            store_chain_id_next(i ? prev : NULL, d, cur, err) < 0) {
            json_decref(layers);
            json_decref(chain);
            r = iso_err_set(err, EINVAL, "image config %s: invalid diff_id %zu", m.config.digest,
                            i);
            goto out;
        }
        json_array_append_new(layers, descriptor_json(&m.layers[i]));
        json_array_append_new(chain, json_string(cur));
        memcpy(prev, cur, sizeof(prev));
    }

    /* Blobs first: the image rows isod commits later point at them. */
    r = store_blobs_open(root_fd, &blobs, err);
    if (r >= 0)
        r = store_blob_put(blobs, m.config.digest, config, config_len, err);
    if (r >= 0)
        r = store_blob_put(blobs, m.digest, m.raw, m.raw_len, err);
    if (r < 0) {
        json_decref(layers);
        json_decref(chain);
        goto out;
    }

    json_t *ans = json_pack("{s:s,s:s,s:s,s:o,s:O,s:o}", "digest", m.digest, "index_digest",
                            m.index_digest, "config_digest", m.config.digest, "layers", layers,
                            "diff_ids", diffs, "chain_ids", chain);
    json_object_set(ans, "architecture", json_object_get(cfg, "architecture"));
    json_object_set(ans, "os", json_object_get(cfg, "os"));
    json_object_set(ans, "variant", json_object_get(cfg, "variant"));
    json_object_set(ans, "created", json_object_get(cfg, "created"));
    json_object_set(ans, "labels", json_object_get(json_object_get(cfg, "config"), "Labels"));
    out_json(json_pack("{s:o}", "manifest", ans));
out:
    store_blobs_close(blobs);
    store_registry_manifest_done(&m);
    store_registry_free(client);
    return r;
}

struct progress {
    struct store_blob_stream *stream;
    uint64_t bytes, last;
};

static ssize_t read_blob(void *ud, void *buf, size_t len)
{
    struct progress *p = ud;
    ssize_t n = store_blob_stream_read(p->stream, buf, len);

    if (n > 0) {
        p->bytes += (uint64_t)n;
        uint64_t now = iso_now_mono_ns();
        if (now - p->last >= PROGRESS_INTERVAL_NS) {
            p->last = now;
            printf("{\"bytes\":%" PRIu64 "}\n", p->bytes);
            fflush(stdout);
        }
    }
    return n;
}

static int op_layer(int root_fd, json_t *req, struct iso_err *err)
{
    struct store_ref ref;
    struct store_registry_opts o;
    const char *insecure[32];
    struct store_registry *client = NULL;
    struct store_layers *ls = NULL;
    struct store_registry_descriptor d = {0};
    struct store_unpack_result res = {0};
    struct store_layer_tmp tmp;
    struct progress prog = {0};
    json_t *desc = json_object_get(req, "descriptor");
    const char *chain_id = jstr(req, "chain_id"), *diff_id = jstr(req, "diff_id");
    int r;

    r = parse_common(req, &ref, &o, insecure, err);
    if (r < 0)
        return r;
    if (!chain_id || !diff_id || !jstr(desc, "digest") || !jstr(desc, "mediaType"))
        return iso_err_set(err, EINVAL, "layer request is missing fields");
    snprintf(d.digest, sizeof(d.digest), "%s", jstr(desc, "digest"));
    snprintf(d.media_type, sizeof(d.media_type), "%s", jstr(desc, "mediaType"));
    d.size = json_integer_value(json_object_get(desc, "size"));
    d.compression =
        (enum store_compression)json_integer_value(json_object_get(desc, "compression"));

    r = store_layers_attach(root_fd, &ls, err);
    if (r < 0)
        return r;
    r = store_registry_new(&ref, &o, &client, err);
    if (r < 0)
        goto out;
    r = store_registry_open_blob(client, &ref, &d, &prog.stream, err);
    if (r < 0)
        goto out;
    r = store_layers_begin(ls, &tmp, err);
    if (r < 0)
        goto out;
    struct store_layer_source src = {.read = read_blob, .userdata = &prog};
    struct store_unpack_opts uo = {
        .compression = STORE_COMPRESSION_DETECT, /* as Docker: sniffed, not trusted */
        .expect_blob_digest = d.digest,
        .expect_blob_size = d.size,
        .expect_diff_id = diff_id,
    };
    r = store_layer_unpack(tmp.diff_fd, &src, &uo, &res, err);
    if (r >= 0)
        r = store_layers_publish(ls, &tmp, chain_id, err);
    else
        store_layers_abort(ls, &tmp);
    if (r >= 0)
        out_json(json_pack("{s:{s:I,s:I}}", "layer", "size", (json_int_t)res.disk_bytes,
                           "blob_size", (json_int_t)res.blob_size));
out:
    store_blob_stream_free(prog.stream);
    store_registry_free(client);
    store_layers_close(ls);
    return r;
}

struct load_progress {
    uint64_t last;
};

static void load_line(const char *diff_id, uint64_t bytes, uint64_t total)
{
    printf("{\"loading\":\"%.12s\",\"current\":%" PRIu64 ",\"total\":%" PRIu64 "}\n",
           diff_id + strlen("sha256:"), bytes, total);
    fflush(stdout);
}

static void load_layer_begin(void *ud, const char *diff_id, uint64_t size)
{
    struct load_progress *p = ud;

    p->last = iso_now_mono_ns();
    load_line(diff_id, 0, size);
}

static void load_layer_progress(void *ud, const char *diff_id, uint64_t bytes, uint64_t size)
{
    struct load_progress *p = ud;
    uint64_t now = iso_now_mono_ns();

    if (now - p->last >= PROGRESS_INTERVAL_NS || bytes == size) {
        p->last = now;
        load_line(diff_id, bytes, size);
    }
}

static json_t *loaded_image_json(const struct store_archive_image *img)
{
    json_t *tags = json_array(), *layers = json_array(), *labels = NULL, *j;

    for (size_t i = 0; tags && i < img->n_tags; i++)
        json_array_append_new(tags, json_string(img->tags[i]));
    for (size_t i = 0; layers && i < img->n_layers; i++)
        json_array_append_new(
            layers, json_pack("{s:s,s:s,s:I}", "chain_id", img->layers[i].chain_id, "diff_id",
                              img->layers[i].diff_id, "size", (json_int_t)img->layers[i].size));
    if (img->labels)
        labels = json_loads(img->labels, 0, NULL);
    j = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:o?,s:o?,s:o?}", "id", img->id, "architecture",
                  img->architecture, "os", img->os, "variant", img->variant, "created",
                  img->created, "labels", labels, "tags", tags, "layers", layers);
    return j;
}

static int op_load(int root_fd, json_t *req, struct iso_err *err)
{
    struct load_progress prog = {0};
    struct store_archive_load_ops ops = {
        .layer_begin = load_layer_begin,
        .layer_progress = load_layer_progress,
        .userdata = &prog,
    };
    struct store_archive_image *imgs = NULL;
    const char *path = NULL;
    json_t *arr;
    size_t n = 0;
    int r;

    r = iso_json_get_string(req, "path", true, &path, err);
    if (r < 0)
        return r;
    r = store_archive_load(root_fd, path, &ops, &imgs, &n, err);
    if (r < 0)
        return r;
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *j = loaded_image_json(&imgs[i]);
        if (!j || json_array_append_new(arr, j) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    store_archive_images_free(imgs, n);
    if (!arr)
        return iso_err_set(err, ENOMEM, "out of memory");
    out_json(json_pack("{s:o}", "images", arr));
    return 0;
}

/* JSON array of strings -> borrowed C strings (NULL-terminated array, malloc'd). */
static int string_array(json_t *a, const char *what, const char ***ret, size_t *ret_n,
                        struct iso_err *err)
{
    size_t i, n = json_array_size(a);
    const char **v;
    json_t *x;

    if (a && !json_is_array(a) && !json_is_null(a))
        return iso_err_set(err, EINVAL, "field '%s' must be an array", what);
    v = calloc(n + 1, sizeof(*v));
    if (!v)
        return iso_err_set(err, ENOMEM, "out of memory");
    json_array_foreach(a, i, x)
    {
        v[i] = json_string_value(x);
        if (!v[i]) {
            free(v);
            return iso_err_set(err, EINVAL, "field '%s' must hold strings", what);
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* docker login: {"domain": "127.0.0.1:5000", "username", "password"} -> {"auth": "ok"}. */
static int op_auth(int root_fd, json_t *req, struct iso_err *err)
{
    struct store_ref ref = {0};
    struct store_registry_opts o;
    const char *insecure[32];
    struct store_registry *client = NULL;
    const char *domain = jstr(req, "domain");
    int r;

    if (!domain)
        return iso_err_set(err, EINVAL, "auth request without a domain");
    /* parse_common wants a reference; any repository on the domain does. */
    json_object_set_new(req, "ref", json_sprintf("%s/library/login", domain));
    r = parse_common(req, &ref, &o, insecure, err);
    if (r < 0)
        return r;
    r = store_registry_new(&ref, &o, &client, err);
    if (r >= 0)
        r = store_registry_login(client, ref.domain, err);
    store_registry_free(client);
    if (r >= 0)
        out_json(json_pack("{s:s}", "auth", "ok"));
    return r;
}

static int op_save(int root_fd, json_t *req, struct iso_err *err)
{
    json_t *images = json_object_get(req, "images"), *v;
    struct store_archive_save_image *imgs = NULL;
    size_t i, n = json_array_size(images);
    int r = 0;

    /* A reader that goes away must give EPIPE here, not kill us silently. */
    (void)signal(SIGPIPE, SIG_IGN);
    if (!json_is_array(images) || n == 0)
        return iso_err_set(err, EINVAL, "field 'images' must be a non-empty array");
    imgs = calloc(n, sizeof(*imgs));
    if (!imgs)
        return iso_err_set(err, ENOMEM, "out of memory");
    json_array_foreach(images, i, v)
    {
        const char **tags = NULL, **layers = NULL;

        r = iso_json_get_string(v, "id", true, &imgs[i].id, err);
        if (r >= 0)
            r = string_array(json_object_get(v, "tags"), "tags", &tags, &imgs[i].n_tags, err);
        if (r >= 0)
            r = string_array(json_object_get(v, "layers"), "layers", &layers, &imgs[i].n_layers,
                             err);
        imgs[i].tags = tags;
        imgs[i].layers = layers;
        if (r < 0)
            break;
    }
    if (r >= 0)
        r = store_archive_save(root_fd, imgs, n, STDOUT_FILENO, err);
    for (i = 0; i < n; i++) {
        free((void *)imgs[i].tags);
        free((void *)imgs[i].layers);
    }
    free(imgs);
    return r;
}

/* stdin is a socket when libuv made the pipe, so read the fd itself, not /dev/stdin. */
static int read_request(char **ret, size_t *ret_len)
{
    _cleanup_free_ char *buf = malloc(REQUEST_MAX + 1);
    ssize_t n;

    if (!buf)
        return -ENOMEM;
    n = iso_read_all(STDIN_FILENO, buf, REQUEST_MAX + 1);
    if (n < 0)
        return (int)n;
    if (n > (ssize_t)REQUEST_MAX)
        return -EFBIG;
    buf[n] = '\0';
    *ret_len = (size_t)n;
    *ret = TAKE_PTR(buf);
    return 0;
}

int main(int argc, char **argv)
{
    /* A helper outlives no daemon: after isod dies (kill -9 included) its next start wipes
     * tmp/, and an orphan still unpacking there would race it. isod spawns from its main
     * thread, which lives as long as isod. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
        return 1;

    struct iso_err err = {0};
    _cleanup_free_ char *buf = NULL;
    _cleanup_json_ json_t *req = NULL;
    _cleanup_close_ int root_fd = -1;
    size_t len = 0;
    int r;

    struct rlimit rl;
    int (*failed)(const struct iso_err *) = fail;

    if (argc != 3) {
        fprintf(stderr, "usage: isod-fetch manifest|layer|load|save ROOT < request.json\n"
                        "(started by isod; not meant to be run by hand)\n");
        return 2;
    }
    if (streq(argv[1], "save"))
        failed = fail_stderr;
    /* save holds a directory fd per level of a layer's tree. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    r = read_request(&buf, &len);
    if (r < 0) {
        iso_err_set_errno(&err, -r, "read the request");
        return failed(&err);
    }
    if (iso_json_parse(buf, len, &req, &err) < 0)
        return failed(&err);
    root_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        iso_err_set_errno(&err, errno, "open root '%s'", argv[2]);
        return failed(&err);
    }
    if (streq(argv[1], "manifest"))
        r = op_manifest(root_fd, req, &err);
    else if (streq(argv[1], "layer"))
        r = op_layer(root_fd, req, &err);
    else if (streq(argv[1], "load"))
        r = op_load(root_fd, req, &err);
    else if (streq(argv[1], "save"))
        r = op_save(root_fd, req, &err);
    else if (streq(argv[1], "auth"))
        r = op_auth(root_fd, req, &err);
    else
        r = iso_err_set(&err, EINVAL, "unknown operation '%s'", argv[1]);
    return r < 0 ? failed(&err) : 0;
}
