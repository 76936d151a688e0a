/* /images/... and /system/df: Docker's image endpoints. */
#include <inttypes.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/stream.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/engine.h"

/* ---- helpers ---- */

/* Decodes standard or URL-safe base64, padding optional. Returns the length or -EINVAL. */
static ssize_t base64_decode(const char *in, char *out, size_t out_size)
{
    uint32_t acc = 0;
    size_t n = 0;
    int bits = 0;

    for (const char *p = in; *p && *p != '='; p++) {
        int v;
        if (*p >= 'A' && *p <= 'Z')
            v = *p - 'A';
        else if (*p >= 'a' && *p <= 'z')
            v = *p - 'a' + 26;
        else if (*p >= '0' && *p <= '9')
            v = *p - '0' + 52;
        else if (*p == '+' || *p == '-')
            v = 62;
        else if (*p == '/' || *p == '_')
            v = 63;
        else
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= out_size)
                return -EINVAL;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return (ssize_t)n;
}

/* Docker's filters parameter: {"key": ["v", ...]} or the older {"key": {"v": true}}. Returns
 * the values of key as a new array (empty when absent), NULL after replying 400. */
static json_t *filter_values(struct api_req *req, json_t *filters, const char *key)
{
    json_t *v = json_object_get(filters, key), *out = json_array();
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_array(v))
        json_array_foreach(v, i, x)
        {
            if (json_is_string(x))
                json_array_append(out, x);
        }
    else if (json_is_object(v))
        json_object_foreach(v, k, x)
        {
            if (json_is_true(x))
                json_array_append_new(out, json_string(k));
        }
    return out;
}

static int parse_filters(struct api_req *req, const char *const *allowed, json_t **ret)
{
    const char *f = api_query(req, "filters");
    struct iso_err err = {0};
    json_t *j = NULL;
    const char *key;
    json_t *v;

    if (!f || !*f) {
        *ret = json_object();
        return 0;
    }
    if (iso_json_parse(f, strlen(f), &j, &err) < 0 || !json_is_object(j)) {
        json_decref(j);
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid filters: %s",
                         err.code ? err.msg : "expected a JSON object");
        return -EINVAL;
    }
    json_object_foreach(j, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= streq(key, *a);
        if (!ok) {
            api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid filter '%s'", key);
            json_decref(j);
            return -EINVAL;
        }
    }
    *ret = j;
    return 0;
}

static json_t *names_json(const struct store_image *img, bool digests)
{
    json_t *a = json_array();
    char fam[512];

    for (size_t i = 0; i < img->n_tags; i++)
        if (!!strchr(img->tags[i], '@') == digests)
            json_array_append_new(a, json_string(eng_ref_familiar(img->tags[i], fam, sizeof(fam))));
    return a;
}

static json_t *labels_json(const char *labels)
{
    json_t *j = labels ? json_loads(labels, 0, NULL) : NULL;
    return j ? j : json_object();
}

static json_t *summary_json(struct engine *e, const struct store_image *img, bool counts)
{
    struct eng_image_info info;
    int64_t containers = -1, shared = -1;

    if (counts && eng_image_inspect(e, img->id, &info, NULL) == 0) {
        containers = info.containers;
        shared = info.shared_size;
        eng_image_info_done(&info);
    }
    return json_pack("{s:s,s:s,s:o,s:o,s:I,s:I,s:I,s:o,s:I}", "Id", img->id, "ParentId", "",
                     "RepoTags", names_json(img, false), "RepoDigests", names_json(img, true),
                     "Created", (json_int_t)(img->created / 1000000000), "Size",
                     (json_int_t)img->size, "SharedSize", (json_int_t)shared, "Labels",
                     labels_json(img->labels), "Containers", (json_int_t)containers);
}

static bool label_match(const struct store_image *img, json_t *want)
{
    json_t *labels = labels_json(img->labels), *w;
    size_t i;
    bool ok = true;

    json_array_foreach(want, i, w)
    {
        const char *kv = json_string_value(w);
        const char *eq = strchr(kv, '=');
        char key[256];
        snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - kv) : (int)strlen(kv), kv);
        json_t *have = json_object_get(labels, key);
        if (!have || (eq && (!json_is_string(have) || !streq(json_string_value(have), eq + 1))))
            ok = false;
    }
    json_decref(labels);
    return ok;
}

/* ---- GET /images/json ---- */

void api_images_list(struct api_req *req)
{
    static const char *const allowed[] = {"reference", "dangling", "label", NULL};
    struct store_image *list = NULL;
    struct iso_err err = {0};
    json_t *filters, *refs, *dangling, *labels, *out;
    size_t n = 0;

    if (parse_filters(req, allowed, &filters) < 0)
        return;
    refs = filter_values(req, filters, "reference");
    dangling = filter_values(req, filters, "dangling");
    labels = filter_values(req, filters, "label");
    json_decref(filters);
    int want_dangling = -1;
    if (json_array_size(dangling) > 0) {
        bool b;
        if (iso_parse_bool(json_string_value(json_array_get(dangling, 0)), &b) < 0) {
            api_reply_errorf(req, MHD_HTTP_BAD_REQUEST,
                             "invalid filter 'dangling=%s': use true or false",
                             json_string_value(json_array_get(dangling, 0)));
            goto out;
        }
        want_dangling = b;
    }
    if (eng_image_list(req->eng, &list, &n, &err) < 0) {
        api_reply_error(req, &err);
        goto out;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_image *img = &list[i];
        size_t n_names = 0;
        for (size_t t = 0; t < img->n_tags; t++)
            n_names += !strchr(img->tags[t], '@');
        if (want_dangling >= 0 && (n_names == 0) != want_dangling)
            continue;
        if (!label_match(img, labels))
            continue;
        if (json_array_size(refs) > 0) {
            bool hit = false;
            for (size_t t = 0; t < img->n_tags && !hit; t++)
                for (size_t k = 0; k < json_array_size(refs) && !hit; k++)
                    hit = eng_ref_matches(img->tags[t], json_string_value(json_array_get(refs, k)));
            if (!hit)
                continue;
        }
        json_array_append_new(out, summary_json(req->eng, img, false));
    }
    api_reply_json(req, MHD_HTTP_OK, out);
    for (size_t i = 0; i < n; i++)
        store_image_done(&list[i]);
    free(list);
out:
    json_decref(refs);
    json_decref(dangling);
    json_decref(labels);
}

/* ---- GET /images/{name}/json ---- */

static int lookup(struct api_req *req, char id[STORE_DIGEST_LEN + 1])
{
    struct iso_err err = {0};
    int r = eng_image_lookup(req->eng, api_param(req, 0), id, &err);
    if (r < 0)
        api_reply_error(req, &err);
    return r;
}

void api_images_inspect(struct api_req *req)
{
    char id[STORE_DIGEST_LEN + 1], created[64];
    struct eng_image_info info;
    struct iso_err err = {0};
    json_t *cfg, *diffs, *j;

    if (lookup(req, id) < 0)
        return;
    if (eng_image_inspect(req->eng, id, &info, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    cfg = json_loadb(info.config, info.config_len, 0, NULL);
    diffs = json_array();
    for (size_t i = 0; i < info.n_layers; i++)
        json_array_append_new(diffs, json_string(info.layers[i].diff_id));
    iso_format_rfc3339((uint64_t)info.img.created, created, sizeof(created));

    json_t *config = json_object_get(cfg, "config");
    j = json_pack("{s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:s,s:O?,s:s,s:s,s:I,s:{s:{},s:s},"
                  "s:{s:s,s:o},s:{s:s}}",
                  "Id", id, "RepoTags", names_json(&info.img, false), "RepoDigests",
                  names_json(&info.img, true), "Parent", "", "Comment",
                  json_string_value(json_object_get(cfg, "comment"))
                      ? json_string_value(json_object_get(cfg, "comment"))
                      : "",
                  "Created", created, "DockerVersion",
                  json_string_value(json_object_get(cfg, "docker_version"))
                      ? json_string_value(json_object_get(cfg, "docker_version"))
                      : "",
                  "Author",
                  json_string_value(json_object_get(cfg, "author"))
                      ? json_string_value(json_object_get(cfg, "author"))
                      : "",
                  "Config", config, "Architecture", info.img.architecture, "Os", info.img.os,
                  "Size", (json_int_t)info.img.size, "GraphDriver", "Data", "Name", "overlay2",
                  "RootFS", "Type", "layers", "Layers", diffs, "Metadata", "LastTagTime",
                  "0001-01-01T00:00:00Z");
    if (j && info.img.variant)
        json_object_set_new(j, "Variant", json_string(info.img.variant));
    json_decref(cfg);
    eng_image_info_done(&info);
    if (!j) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot describe image %s", id);
        return;
    }
    api_reply_json(req, MHD_HTTP_OK, j);
}

/* ---- GET /images/{name}/history ---- */

void api_images_history(struct api_req *req)
{
    char id[STORE_DIGEST_LEN + 1];
    struct eng_image_info info;
    struct iso_err err = {0};
    json_t *cfg, *hist, *out, *h;
    size_t i, layer = 0;

    if (lookup(req, id) < 0)
        return;
    if (eng_image_inspect(req->eng, id, &info, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    cfg = json_loadb(info.config, info.config_len, 0, NULL);
    hist = json_object_get(cfg, "history");
    out = json_array();
    /* Oldest first in the config; newest first in the answer. */
    json_array_foreach(hist, i, h)
    {
        bool empty = json_is_true(json_object_get(h, "empty_layer"));
        int64_t size = !empty && layer < info.n_layers ? info.layers[layer++].size : 0;
        struct tm tm = {0};
        const char *c = json_string_value(json_object_get(h, "created"));
        int64_t created = c && strptime(c, "%Y-%m-%dT%H:%M:%S", &tm) ? (int64_t)timegm(&tm) : 0;
        const char *by = json_string_value(json_object_get(h, "created_by"));
        const char *comment = json_string_value(json_object_get(h, "comment"));
        json_array_insert_new(out, 0,
                              json_pack("{s:s,s:I,s:s,s:n,s:I,s:s}", "Id", "<missing>", "Created",
                                        (json_int_t)created, "CreatedBy", by ? by : "", "Tags",
                                        "Size", (json_int_t)size, "Comment",
                                        comment ? comment : ""));
    }
    if (json_array_size(out) > 0) {
        json_t *top = json_array_get(out, 0);
        json_object_set_new(top, "Id", json_string(id));
        json_object_set_new(top, "Tags", names_json(&info.img, false));
    }
    json_decref(cfg);
    eng_image_info_done(&info);
    api_reply_json(req, MHD_HTTP_OK, out);
}

/* ---- POST /images/{name}/tag ---- */

void api_images_tag(struct api_req *req)
{
    struct iso_err err = {0};

    if (eng_image_tag(req->eng, api_param(req, 0), api_query(req, "repo"), api_query(req, "tag"),
                      &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    api_reply_empty(req, MHD_HTTP_CREATED);
}

/* ---- DELETE /images/{name}, POST /images/prune ---- */

static void rmi_item(void *ud, const char *action, const char *what)
{
    json_array_append_new(ud, json_pack("{s:s}", action, what));
}

void api_images_delete(struct api_req *req)
{
    struct iso_err err = {0};
    json_t *out = json_array();

    if (eng_image_remove(req->eng, api_param(req, 0), api_query_bool(req, "force"), rmi_item, out,
                         &err) < 0) {
        json_decref(out);
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(req, MHD_HTTP_OK, out);
}

void api_images_prune(struct api_req *req)
{
    static const char *const allowed[] = {"dangling", "label", "until", NULL};
    struct iso_err err = {0};
    json_t *filters, *dangling, *out = json_array();
    uint64_t reclaimed = 0;
    bool dangling_only = true;

    if (parse_filters(req, allowed, &filters) < 0) {
        json_decref(out);
        return;
    }
    dangling = filter_values(req, filters, "dangling");
    if (json_array_size(dangling) > 0 &&
        iso_parse_bool(json_string_value(json_array_get(dangling, 0)), &dangling_only) < 0)
        dangling_only = true;
    json_decref(dangling);
    json_decref(filters);
    if (eng_image_prune(req->eng, dangling_only, rmi_item, out, &reclaimed, &err) < 0) {
        json_decref(out);
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(
        req, MHD_HTTP_OK,
        json_pack("{s:o,s:I}", "ImagesDeleted", out, "SpaceReclaimed", (json_int_t)reclaimed));
}

/* ---- GET /system/df ---- */

void api_system_df(struct api_req *req)
{
    struct store_image *list = NULL;
    struct iso_err err = {0};
    int64_t layers = 0;
    size_t n = 0;

    if (eng_image_list(req->eng, &list, &n, &err) < 0 ||
        eng_layers_size(req->eng, &layers, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    json_t *images = json_array(), *ctrs = NULL;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(images, summary_json(req->eng, &list[i], true));
        store_image_done(&list[i]);
    }
    free(list);
    if (eng_ctr_list(req->eng, true, -1, true, NULL, &ctrs, &err) < 0) {
        json_decref(images);
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:I,s:o,s:o,s:[],s:[]}", "LayersSize", (json_int_t)layers, "Images",
                             images, "Containers", ctrs, "Volumes", "BuildCache"));
}

/* ---- POST /images/create (pull) ---- */

/* The request's and the pull's; freed when both are done with it (api_wait). */
struct pull_ctx {
    struct api_wait w;
    struct api_stream *stream; /* once the 200 went out */
    json_t *early;             /* progress lines before the stream started */
    struct iso_err err;
    bool done, failed;
};

static void pull_ctx_free(struct api_wait *w)
{
    struct pull_ctx *c = (struct pull_ctx *)w;
    json_decref(c->early);
    free(c);
}

static json_t *progress_json(const struct eng_progress *p)
{
    json_t *j = json_pack("{s:s}", "status", p->status);
    if (p->current >= 0) {
        json_t *d = json_pack("{s:I}", "current", (json_int_t)p->current);
        if (p->total > 0)
            json_object_set_new(d, "total", json_integer(p->total));
        json_object_set_new(j, "progressDetail", d);
    } else if (p->id)
        json_object_set_new(j, "progressDetail", json_object());
    if (p->id)
        json_object_set_new(j, "id", json_string(p->id));
    return j;
}

static json_t *error_json(const struct iso_err *err)
{
    return json_pack("{s:{s:s},s:s}", "errorDetail", "message", err->msg, "error", err->msg);
}

static void pull_resume(struct api_req *req)
{
    struct pull_ctx *c = req->data;
    size_t i;
    json_t *line;

    if (c->failed && !c->stream && !c->early) {
        /* Nothing was streamed: a plain error status (404 makes `docker run` say so). */
        api_reply_error(req, &c->err);
        return;
    }
    c->stream = api_stream_start(req, MHD_HTTP_OK, "application/json");
    if (!c->stream)
        return;
    json_array_foreach(c->early, i, line)
    {
        (void)api_stream_json(c->stream, json_incref(line));
    }
    json_decref(c->early);
    c->early = NULL;
    if (c->done) {
        if (c->failed)
            (void)api_stream_json(c->stream, error_json(&c->err));
        api_stream_end(c->stream);
    }
}

static void pull_progress(void *ud, const struct eng_progress *p)
{
    struct pull_ctx *c = ud;

    if (c->stream) {
        (void)api_stream_json(c->stream, progress_json(p));
        return;
    }
    if (!c->w.req)
        return;
    if (!c->early)
        c->early = json_array();
    api_wait_wake(&c->w);
    json_array_append_new(c->early, progress_json(p));
}

static void pull_done(void *ud, const struct iso_err *err)
{
    struct pull_ctx *c = ud;

    c->done = true;
    if (err) {
        c->failed = true;
        c->err = *err;
    }
    if (c->stream) {
        if (err)
            (void)api_stream_json(c->stream, error_json(err));
        api_stream_end(c->stream);
    } else
        api_wait_wake(&c->w); /* pull_resume answers */
    api_wait_release(&c->w);
}

void api_images_create(struct api_req *req)
{
    struct eng_pull_opts o = {
        .from_image = api_query(req, "fromImage"),
        .tag = api_query(req, "tag"),
        .platform = api_query(req, "platform"),
    };
    const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Registry-Auth");
    _cleanup_json_ json_t *authj = NULL;
    struct iso_err err = {0};
    struct pull_ctx *c;

    if (api_query(req, "fromSrc")) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST,
                         "importing a root filesystem (fromSrc) is not supported");
        return;
    }
    if (auth && *auth) {
        char buf[8192];
        if (base64_decode(auth, buf, sizeof(buf)) < 0 ||
            iso_json_parse(buf, strlen(buf), &authj, &err) < 0 || !json_is_object(authj)) {
            api_reply_errorf(req, MHD_HTTP_BAD_REQUEST,
                             "invalid X-Registry-Auth header: expected base64url-encoded JSON");
            return;
        }
        if (iso_json_get_string(authj, "username", false, &o.username, &err) < 0 ||
            iso_json_get_string(authj, "password", false, &o.password, &err) < 0 ||
            iso_json_get_string(authj, "identitytoken", false, &o.identitytoken, &err) < 0 ||
            iso_json_get_string(authj, "registrytoken", false, &o.registrytoken, &err) < 0) {
            iso_err_prefix(&err, "X-Registry-Auth");
            api_reply_error(req, &err);
            return;
        }
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (eng_image_pull(req->eng, &o, pull_progress, pull_done, c, NULL, &err) < 0) {
        free(c);
        api_reply_error(req, &err);
        return;
    }
    api_wait_start(&c->w, req, pull_resume, pull_ctx_free);
}

/* ---- POST /images/load ---- */

/* The upload is in a file already (API_BODY_FILE); isod-fetch reads it. The answer streams:
 * progress unless quiet, then one {"stream": "Loaded image: ..."} per name; errors in-band,
 * or as a plain status when nothing was sent yet. */
struct load_ctx {
    struct api_wait w;
    struct api_stream *stream;
    json_t *lines;
    struct iso_err err;
    bool quiet, done, failed;
};

static void load_ctx_free(struct api_wait *w)
{
    struct load_ctx *c = (struct load_ctx *)w;
    json_decref(c->lines);
    free(c);
}

static void load_write_result(struct load_ctx *c)
{
    size_t i;
    json_t *line;

    if (c->failed)
        (void)api_stream_json(c->stream, error_json(&c->err));
    else
        json_array_foreach(c->lines, i, line)
        {
            (void)api_stream_json(c->stream, json_pack("{s:O}", "stream", line));
        }
    api_stream_end(c->stream);
}

static void load_resume(struct api_req *req)
{
    struct load_ctx *c = req->data;

    if (c->failed && !c->stream) {
        api_reply_error(req, &c->err);
        return;
    }
    c->stream = api_stream_start(req, MHD_HTTP_OK, "application/json");
    if (c->stream && c->done)
        load_write_result(c);
}

static void load_progress(void *ud, const struct eng_progress *p)
{
    struct load_ctx *c = ud;

    if (c->quiet)
        return;
    if (!c->stream) {
        /* First progress: the 200 goes out now; this line is one of many. */
        api_wait_wake(&c->w);
        return;
    }
    (void)api_stream_json(c->stream, progress_json(p));
}

static void load_done(void *ud, json_t *lines, const struct iso_err *err)
{
    struct load_ctx *c = ud;

    c->done = true;
    if (err) {
        c->failed = true;
        c->err = *err;
    } else
        c->lines = json_incref(lines);
    if (c->stream)
        load_write_result(c);
    else
        api_wait_wake(&c->w);
    api_wait_release(&c->w);
}

void api_images_load(struct api_req *req)
{
    struct iso_err err = {0};
    struct load_ctx *c;
    char *path;

    if (req->body_errno) {
        iso_err_set_errno(&err, req->body_errno, "cannot store the uploaded archive");
        api_reply_error(req, &err);
        return;
    }
    if (req->body_len == 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid archive: the request body is empty");
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    c->quiet = api_query_bool(req, "quiet");
    req->body_fd = safe_close(req->body_fd);
    path = TAKE_PTR(req->body_path);
    if (eng_image_load(req->eng, path, load_progress, load_done, c, &err) < 0) {
        free(c);
        api_reply_error(req, &err);
        return;
    }
    api_wait_start(&c->w, req, load_resume, load_ctx_free);
}

/* ---- GET /images/{name}/get, GET /images/get?names= ---- */

#define SAVE_HIGH_WATER (4u << 20)

struct save_ctx {
    struct api_stream *stream;
    struct eng_save *save;
    bool paused;
};

static void save_drained(void *ud)
{
    struct save_ctx *c = ud;
    if (c->paused && c->save) {
        c->paused = false;
        eng_save_resume(c->save);
    }
}

static void save_data(void *ud, const char *buf, size_t len)
{
    struct save_ctx *c = ud;

    (void)api_stream_write(c->stream, buf, len);
    if (!c->paused && api_stream_pending(c->stream) > SAVE_HIGH_WATER &&
        !api_stream_gone(c->stream)) {
        c->paused = true;
        eng_save_pause(c->save);
        api_stream_on_drain(c->stream, SAVE_HIGH_WATER, save_drained, c);
    }
}

static void save_done(void *ud, const struct iso_err *err)
{
    struct save_ctx *c = ud;

    if (err)
        log_warn("save failed; the archive the client got is cut short", "error=\"%s\"", err->msg);
    api_stream_end(c->stream);
    free(c);
}

static enum MHD_Result collect_names(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    if (key && value && streq(key, "names"))
        json_array_append_new(cls, json_string(value));
    return MHD_YES;
}

void api_images_save(struct api_req *req)
{
    struct iso_err err = {0};
    json_t *list = json_array();
    const char *names[256];
    size_t n = 0;
    struct save_ctx *c;

    if (api_param(req, 0))
        json_array_append_new(list, json_string(api_param(req, 0)));
    else
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_names, list);
    for (size_t i = 0; i < json_array_size(list) && n < ARRAY_SIZE(names); i++)
        names[n++] = json_string_value(json_array_get(list, i));

    c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(list);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (eng_image_save(req->eng, names, n, save_data, save_done, c, &c->save, &err) < 0) {
        json_decref(list);
        free(c);
        api_reply_error(req, &err);
        return;
    }
    json_decref(list);
    /* The helper cannot answer before this returns: callbacks run on later loop turns. */
    c->stream = api_stream_start(req, MHD_HTTP_OK, "application/x-tar");
    if (!c->stream)
        log_error("out of memory starting an archive stream");
}

/* ---- POST /auth ---- */

struct auth_ctx {
    struct api_wait w;
    struct iso_err err;
};

static void auth_ctx_free(struct api_wait *w)
{
    free(w);
}

static void auth_resume(struct api_req *req)
{
    struct auth_ctx *c = req->data;

    if (c->err.code == EACCES)
        api_reply_errorf(req, MHD_HTTP_UNAUTHORIZED, "%s", c->err.msg);
    else if (c->err.code)
        api_reply_error(req, &c->err);
    else
        api_reply_json(req, MHD_HTTP_OK,
                       json_pack("{s:s,s:s}", "Status", "Login Succeeded", "IdentityToken", ""));
}

static void auth_done(void *ud, const struct iso_err *err)
{
    struct auth_ctx *c = ud;

    if (err)
        c->err = *err;
    api_wait_wake(&c->w);
    api_wait_release(&c->w);
}

void api_auth(struct api_req *req)
{
    _cleanup_json_ json_t *body = NULL;
    const char *user = NULL, *pass = NULL, *server = NULL;
    struct iso_err err = {0};
    struct auth_ctx *c;

    if (api_body_json(req, &body) < 0)
        return;
    if (iso_json_get_string(body, "username", false, &user, &err) < 0 ||
        iso_json_get_string(body, "password", false, &pass, &err) < 0 ||
        iso_json_get_string(body, "serveraddress", false, &server, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (eng_auth(req->eng, user, pass, server, auth_done, c, &err) < 0) {
        free(c);
        api_reply_error(req, &err);
        return;
    }
    api_wait_start(&c->w, req, auth_resume, auth_ctx_free);
}
