/* docker load and docker save: isod-fetch reads or writes the archive; the engine records the
 * loaded images and resolves what to save. */
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/helper.h"
#include "daemon/images.h"
#include "store/image.h"
#include "store/reference.h"

struct load {
    struct engine *e;
    char *path;
    eng_progress_fn progress;
    eng_load_done_fn done;
    void *ud;
};

static void load_line(void *ud, json_t *line)
{
    struct load *l = ud;
    const char *id = json_string_value(json_object_get(line, "loading"));
    json_t *cur = json_object_get(line, "current"), *tot = json_object_get(line, "total");
    struct eng_progress p = {
        .status = "Loading layer",
        .id = id,
        .current = cur ? json_integer_value(cur) : -1,
        .total = tot ? json_integer_value(tot) : -1,
    };

    if (id && l->progress)
        l->progress(l->ud, &p);
}

/* Records one image the helper unpacked; appends Docker's "Loaded image" lines. */
static int record(struct engine *e, json_t *img, json_t *lines, struct iso_err *err)
{
    json_t *layers = json_object_get(img, "layers"), *tags = json_object_get(img, "tags");
    json_t *labels = json_object_get(img, "labels");
    _cleanup_free_ char *labels_s = NULL;
    _cleanup_free_ struct store_image_layer *rows = NULL;
    _cleanup_free_ char **names = NULL;
    size_t n = json_array_size(layers), nt = json_array_size(tags);
    const char *id = json_string_value(json_object_get(img, "id"));
    char fam[STORE_REF_STR_MAX];
    int r;

    rows = calloc(n + 1, sizeof(*rows));
    names = calloc(nt + 1, sizeof(*names));
    if (!rows || !names)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (!id || strlen(id) != STORE_DIGEST_LEN)
        return iso_err_set(err, EIO, "isod-fetch answered an image without an id");
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        const char *c = json_string_value(json_object_get(l, "chain_id"));
        const char *d = json_string_value(json_object_get(l, "diff_id"));
        if (!c || !d)
            return iso_err_set(err, EIO, "isod-fetch answered a layer without ids");
        snprintf(rows[i].chain_id, sizeof(rows[i].chain_id), "%s", c);
        snprintf(rows[i].diff_id, sizeof(rows[i].diff_id), "%s", d);
        rows[i].size = json_integer_value(json_object_get(l, "size"));
    }
    for (size_t i = 0; i < nt; i++)
        names[i] = (char *)json_string_value(json_array_get(tags, i));
    if (json_is_object(labels) && json_object_size(labels) > 0)
        labels_s = json_dumps(labels, JSON_COMPACT);

    struct store_image si = {
        .architecture = (char *)json_string_value(json_object_get(img, "architecture")),
        .os = (char *)json_string_value(json_object_get(img, "os")),
        .variant = (char *)json_string_value(json_object_get(img, "variant")),
        .created = eng_parse_time(json_string_value(json_object_get(img, "created"))),
        .labels = labels_s,
        .tags = names,
        .n_tags = nt,
    };
    snprintf(si.id, sizeof(si.id), "%s", id);
    r = store_image_commit(eng_store(e), &si, rows, n, err);
    if (r < 0)
        return r;
    eng_image_event(e, "load", id, id, labels_s);
    if (nt == 0)
        json_array_append_new(lines, json_sprintf("Loaded image ID: %s\n", id));
    for (size_t i = 0; i < nt; i++)
        json_array_append_new(lines, json_sprintf("Loaded image: %s\n",
                                                  eng_ref_familiar(names[i], fam, sizeof(fam))));
    return 0;
}

static void load_done(void *ud, json_t *answer, const struct iso_err *err)
{
    struct load *l = ud;
    struct iso_err e2 = {0};
    json_t *lines = json_array(), *img;
    size_t i;

    (void)unlink(l->path);
    if (!err) {
        json_array_foreach(json_object_get(answer, "images"), i, img)
        {
            if (record(l->e, img, lines, &e2) < 0) {
                err = &e2;
                break;
            }
        }
        if (!err && json_array_size(lines) == 0) {
            iso_err_set(&e2, EINVAL, "invalid archive: it holds no image");
            err = &e2;
        }
    }
    if (err)
        log_info("load failed", "error=\"%s\"", err->msg);
    else
        log_info("loaded images", "count=%zu", json_array_size(lines));
    l->done(l->ud, err ? NULL : lines, err);
    json_decref(lines);
    free(l->path);
    free(l);
}

int eng_image_load(struct engine *e, char *path, eng_progress_fn progress, eng_load_done_fn done,
                   void *ud, struct iso_err *err)
{
    struct load *l = calloc(1, sizeof(*l));
    if (!l) {
        (void)unlink(path);
        free(path);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    *l = (struct load){.e = e, .path = path, .progress = progress, .done = done, .ud = ud};
    int r =
        eng_helper_run(e, "load", json_pack("{s:s}", "path", path), load_line, load_done, l, err);
    if (r < 0) {
        (void)unlink(path);
        free(path);
        free(l);
    }
    return r;
}

struct eng_save {
    struct helper *hp;
    eng_save_data_fn data;
    eng_done_fn done;
    void *ud;
};

static void save_data(void *ud, const char *buf, size_t len)
{
    struct eng_save *s = ud;
    s->data(s->ud, buf, len);
}

static void save_done(void *ud, json_t *answer, const struct iso_err *err)
{
    struct eng_save *s = ud;
    s->done(s->ud, err);
    free(s);
}

/* One image to save: its id, the names it is saved under and its layers. */
static int save_entry(struct engine *e, const char *name, json_t *images, struct iso_err *err)
{
    char id[STORE_DIGEST_LEN + 1], full[STORE_REF_STR_MAX], fam[STORE_REF_STR_MAX];
    struct eng_image_info info;
    struct store_ref ref;
    int r;

    r = eng_image_lookup(e, name, id, err);
    if (r < 0)
        return r;
    r = eng_image_inspect(e, id, &info, err);
    if (r < 0)
        return r;
    json_t *tags = json_array(), *layers = json_array();
    /* By name: that name. By id: every tag the image has, as docker save does. */
    bool by_name = false;
    if (store_ref_parse(name, &ref, NULL) == 0) {
        store_ref_string(&ref, full, sizeof(full));
        for (size_t i = 0; i < info.img.n_tags; i++)
            by_name |= streq(info.img.tags[i], full);
    }
    for (size_t i = 0; i < info.img.n_tags; i++)
        if (!strchr(info.img.tags[i], '@') && (!by_name || streq(info.img.tags[i], full)))
            json_array_append_new(
                tags, json_string(eng_ref_familiar(info.img.tags[i], fam, sizeof(fam))));
    for (size_t i = 0; i < info.n_layers; i++)
        json_array_append_new(layers, json_string(info.layers[i].chain_id));
    json_array_append_new(images,
                          json_pack("{s:s,s:o,s:o}", "id", id, "tags", tags, "layers", layers));
    eng_image_info_done(&info);
    return 0;
}

int eng_image_save(struct engine *e, const char *const *names, size_t n, eng_save_data_fn data,
                   eng_done_fn done, void *ud, struct eng_save **ret, struct iso_err *err)
{
    json_t *images = json_array();
    struct eng_save *s;
    int r;

    if (n == 0) {
        json_decref(images);
        return iso_err_set(err, EINVAL, "no image to save: give at least one name");
    }
    for (size_t i = 0; i < n; i++) {
        r = save_entry(e, names[i], images, err);
        if (r < 0) {
            json_decref(images);
            return r;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        json_decref(images);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    *s = (struct eng_save){.data = data, .done = done, .ud = ud};
    r = eng_helper_run_raw(e, "save", json_pack("{s:o}", "images", images), save_data, save_done, s,
                           &s->hp, err);
    if (r < 0) {
        free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void eng_save_pause(struct eng_save *s)
{
    eng_helper_pause(s->hp);
}

void eng_save_resume(struct eng_save *s)
{
    eng_helper_resume(s->hp);
}

struct auth {
    eng_done_fn done;
    void *ud;
};

static void auth_done(void *ud, json_t *answer, const struct iso_err *err)
{
    struct auth *a = ud;
    a->done(a->ud, err);
    free(a);
}

int eng_auth(struct engine *e, const char *username, const char *password,
             const char *serveraddress, eng_done_fn done, void *ud, struct iso_err *err)
{
    char domain[256];
    const char *s = serveraddress && *serveraddress ? serveraddress : "docker.io";
    struct auth *a;

    /* "https://index.docker.io/v1/", "http://127.0.0.1:5000/", "reg:5000" -> host[:port] */
    if (strstr(s, "://"))
        s = strstr(s, "://") + 3;
    snprintf(domain, sizeof(domain), "%.*s", (int)strcspn(s, "/"), s);
    if (streq(domain, "index.docker.io") || streq(domain, "registry-1.docker.io"))
        snprintf(domain, sizeof(domain), "docker.io");
    if (!*domain)
        return iso_err_set(err, EINVAL, "invalid serveraddress '%s'", serveraddress);
    a = calloc(1, sizeof(*a));
    if (!a)
        return iso_err_set(err, ENOMEM, "out of memory");
    a->done = done;
    a->ud = ud;
    json_t *req =
        json_pack("{s:s,s:s?,s:s?,s:o}", "domain", domain, "username", username, "password",
                  password, "insecure_registries", eng_insecure_registries(e));
    int r = eng_helper_run(e, "auth", req, NULL, auth_done, a, err);
    if (r < 0)
        free(a);
    return r;
}
