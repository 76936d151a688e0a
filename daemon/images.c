/* The engine's image operations: lookup, list, inspect, tag, remove, prune. */
#include <jansson.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/images.h"
#include "store/blob.h"
#include "store/db.h"
#include "store/image.h"
#include "store/layers.h"
#include "store/reference.h"

#define CONFIG_MAX (8u << 20)

void eng_image_event(struct engine *e, const char *action, const char *id, const char *name,
                     const char *labels)
{
    json_t *attrs = labels ? json_loads(labels, 0, NULL) : NULL;

    if (!json_is_object(attrs)) {
        json_decref(attrs);
        attrs = json_object();
    }
    if (attrs && name && *name)
        json_object_set_new(attrs, "name", json_string(name));
    eng_event_emit(e, "image", action, id, attrs);
}

/* The labels of an image (JSON text, malloc'd) or NULL. */
static char *image_labels(struct engine *e, const char *id)
{
    struct store_image img;
    char *labels = NULL;

    if (store_image_get(eng_store(e), id, &img, NULL) < 0)
        return NULL;
    if (img.labels)
        labels = strdup(img.labels);
    store_image_done(&img);
    return labels;
}

const char *eng_ref_familiar(const char *full, char *buf, size_t size)
{
    struct store_ref ref;

    if (store_ref_parse(full, &ref, NULL) < 0) {
        snprintf(buf, size, "%s", full);
        return buf;
    }
    /* A stored digest reference has no tag: print "name@sha256:..." without ":latest". */
    if (strchr(full, '@') && !strchr(strrchr(full, '/') ? strrchr(full, '/') : full, ':'))
        ref.tag[0] = '\0';
    return store_ref_familiar(&ref, buf, size);
}

bool eng_ref_matches(const char *full, const char *pattern)
{
    struct store_ref ref;

    return store_ref_parse(full, &ref, NULL) == 0 && store_ref_matches(&ref, pattern);
}

int eng_image_lookup(struct engine *e, const char *name, char ret_id[STORE_DIGEST_LEN + 1],
                     struct iso_err *err)
{
    struct store_ref ref;
    char full[STORE_REF_STR_MAX];
    const char *reference = NULL;
    int r;

    if (store_ref_parse(name, &ref, NULL) == 0) {
        /* "name@digest" finds the image recorded under that digest reference, whatever tag
         * the user also wrote. */
        if (ref.digest[0])
            ref.tag[0] = '\0';
        reference = store_ref_string(&ref, full, sizeof(full));
    }
    r = store_image_resolve(eng_store(e), reference, name, ret_id, err);
    if (r == -ENOENT)
        return iso_err_set(err, ENOENT, "No such image: %s", name);
    return r;
}

int eng_image_list(struct engine *e, struct store_image **ret, size_t *ret_n, struct iso_err *err)
{
    return store_image_list(eng_store(e), ret, ret_n, err);
}

void eng_image_info_done(struct eng_image_info *info)
{
    store_image_done(&info->img);
    free(info->config);
    free(info->layers);
    *info = (struct eng_image_info){0};
}

int eng_image_inspect(struct engine *e, const char *id, struct eng_image_info *ret,
                      struct iso_err *err)
{
    struct eng_image_info info = {0};
    int r;

    r = store_image_get(eng_store(e), id, &info.img, err);
    if (r < 0)
        return r;
    r = store_blob_get(eng_blobs(e), id, CONFIG_MAX, &info.config, &info.config_len, err);
    if (r >= 0)
        r = store_image_layers(eng_store(e), id, &info.layers, &info.n_layers, err);
    if (r >= 0)
        r = store_image_containers(eng_store(e), id, &info.containers, err);
    if (r >= 0)
        r = store_image_shared_size(eng_store(e), id, &info.shared_size, err);
    if (r < 0) {
        eng_image_info_done(&info);
        return r;
    }
    *ret = info;
    return 0;
}

int eng_image_tag(struct engine *e, const char *name, const char *repo, const char *tag,
                  struct iso_err *err)
{
    char id[STORE_DIGEST_LEN + 1], target[STORE_REF_STR_MAX], full[STORE_REF_STR_MAX];
    struct store_ref ref;
    int r;

    r = eng_image_lookup(e, name, id, err);
    if (r < 0)
        return r;
    if (!repo || !*repo)
        return iso_err_set(err, EINVAL, "repository name must have at least one component");
    snprintf(target, sizeof(target), "%s:%s", repo, tag && *tag ? tag : "latest");
    if (store_ref_parse(target, &ref, err) < 0)
        return r = -EINVAL;
    if (ref.digest[0])
        return iso_err_set(err, EINVAL, "refusing to create a tag with a digest reference");
    r = store_tag_set(eng_store(e), store_ref_string(&ref, full, sizeof(full)), id, err);
    if (r >= 0) {
        _cleanup_free_ char *labels = image_labels(e, id);
        char fam[STORE_REF_STR_MAX];
        eng_image_event(e, "tag", id, eng_ref_familiar(full, fam, sizeof(fam)), labels);
    }
    return r;
}

/* Deletes the image row and the layers nobody else holds, reporting each. */
static int delete_image(struct engine *e, const char *id, eng_rmi_fn cb, void *ud,
                        uint64_t *reclaimed, struct iso_err *err)
{
    char(*gone)[STORE_DIGEST_LEN + 1] = NULL;
    _cleanup_free_ char *labels = image_labels(e, id);
    size_t n = 0;
    int r;

    r = store_image_delete(eng_store(e), id, &gone, &n, err);
    if (r < 0)
        return r;
    eng_image_event(e, "delete", id, id, labels);
    if (cb)
        cb(ud, "Deleted", id);
    (void)store_blob_delete(eng_blobs(e), id, NULL);
    for (size_t i = 0; i < n; i++) {
        struct iso_err lerr = {0};
        uint64_t bytes = 0;
        (void)store_layers_disk_usage(eng_layers(e), gone[i], &bytes, &lerr);
        if (store_layers_remove(eng_layers(e), gone[i], &lerr) < 0)
            log_warn("cannot remove layer directory, ignoring", "layer=%.19s error=\"%s\"", gone[i],
                     lerr.msg);
        else if (reclaimed)
            *reclaimed += bytes;
        if (cb)
            cb(ud, "Deleted", gone[i]);
    }
    free(gone);
    return 0;
}

static void short_id(const char *id, char out[13])
{
    const char *hex = strneq(id, "sha256:", 7) ? id + 7 : id;
    size_t n = strnlen(hex, 12);
    memcpy(out, hex, n);
    out[n] = '\0';
}

/* The repository of a stored full reference: everything before the tag or digest. */
static size_t repo_len(const char *full)
{
    const char *at = strchr(full, '@');
    const char *slash = strrchr(full, '/');
    const char *colon = strrchr(slash ? slash : full, ':');
    return at ? (size_t)(at - full) : colon ? (size_t)(colon - full) : strlen(full);
}

static bool same_repo(const char *a, const char *b)
{
    size_t n = repo_len(a);
    return n == repo_len(b) && strneq(a, b, n);
}

/* moby names the image, not the reference, in an untag event. */
static int untag(struct engine *e, const char *id, const char *labels, const char *full,
                 eng_rmi_fn cb, void *ud, struct iso_err *err)
{
    char fam[STORE_REF_STR_MAX];
    int r = store_tag_remove(eng_store(e), full, err);
    if (r < 0)
        return r;
    eng_image_event(e, "untag", id, id, labels);
    if (cb)
        cb(ud, "Untagged", eng_ref_familiar(full, fam, sizeof(fam)));
    return r;
}

/* Docker's rules (daemon/images/image_delete.go), in short: a reference given by name is
 * untagged, and when it was a tag, the digest references of the same repository go too
 * unless another tag of it remains; the image itself goes only when no reference is left.
 * Given by id, an image with tags in several repositories needs force. An image a container
 * uses is never deleted; without force, removing its last reference is refused. */
int eng_image_remove(struct engine *e, const char *name, bool force, eng_rmi_fn cb, void *ud,
                     struct iso_err *err)
{
    char id[STORE_DIGEST_LEN + 1], full[STORE_REF_STR_MAX] = "", sid[13];
    struct store_image img;
    struct store_ref ref;
    int64_t users = 0;
    bool *drop = NULL;
    size_t remaining = 0, repos = 0, n_tags = 0;
    int r;

    r = eng_image_lookup(e, name, id, err);
    if (r < 0)
        return r;
    r = store_image_get(eng_store(e), id, &img, err);
    if (r < 0)
        return r;
    short_id(id, sid);
    r = store_image_containers(eng_store(e), id, &users, err);
    if (r < 0)
        goto out;
    drop = calloc(img.n_tags + 1, sizeof(*drop));
    if (!drop) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto out;
    }

    if (store_ref_parse(name, &ref, NULL) == 0) {
        if (ref.digest[0])
            ref.tag[0] = '\0';
        store_ref_string(&ref, full, sizeof(full));
    }
    ssize_t given = -1;
    for (size_t i = 0; i < img.n_tags; i++)
        if (streq(img.tags[i], full))
            given = (ssize_t)i;

    if (given >= 0) {
        drop[given] = true;
        bool tag_given = !strchr(full, '@'), other_tag = false;
        for (size_t i = 0; i < img.n_tags; i++)
            other_tag |= !drop[i] && !strchr(img.tags[i], '@') && same_repo(img.tags[i], full);
        for (size_t i = 0; i < img.n_tags; i++)
            if (tag_given && !other_tag && strchr(img.tags[i], '@') && same_repo(img.tags[i], full))
                drop[i] = true;
    } else {
        for (size_t i = 0; i < img.n_tags; i++) {
            n_tags += !strchr(img.tags[i], '@');
            bool seen = false;
            for (size_t k = 0; k < i; k++)
                seen |= same_repo(img.tags[k], img.tags[i]);
            repos += !seen;
        }
        if ((n_tags > 1 || repos > 1) && !force) {
            r = iso_err_set(err, EBUSY,
                            "conflict: unable to delete %s (must be forced) - image is "
                            "referenced in multiple repositories",
                            sid);
            goto out;
        }
        for (size_t i = 0; i < img.n_tags; i++)
            drop[i] = true;
    }
    for (size_t i = 0; i < img.n_tags; i++)
        remaining += !drop[i];

    if (remaining == 0 && users > 0 && !force) {
        r = iso_err_set(err, EBUSY,
                        given >= 0 ? "conflict: unable to remove repository reference \"%s\" "
                                     "(must force) - a container is using its referenced image %s"
                                   : "conflict: unable to delete %s (must be forced) - image is "
                                     "being used by a stopped container",
                        given >= 0 ? name : sid, sid);
        goto out;
    }
    for (size_t i = 0; i < img.n_tags; i++)
        if (drop[i]) {
            r = untag(e, id, img.labels, img.tags[i], cb, ud, err);
            if (r < 0)
                goto out;
        }
    /* The image goes with its last name, unless a container holds it (forced: left untagged). */
    r = remaining > 0 || users > 0 ? 0 : delete_image(e, id, cb, ud, NULL, err);
out:
    free(drop);
    store_image_done(&img);
    return r;
}

int eng_image_prune(struct engine *e, bool dangling_only, eng_rmi_fn cb, void *ud,
                    uint64_t *ret_reclaimed, struct iso_err *err)
{
    struct store_image *list = NULL;
    size_t n = 0;
    uint64_t reclaimed = 0;
    int r;

    r = store_image_list(eng_store(e), &list, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++) {
        int64_t users = 0;
        if (dangling_only && list[i].n_tags > 0)
            continue;
        r = store_image_containers(eng_store(e), list[i].id, &users, err);
        if (r < 0 || users > 0)
            continue;
        for (size_t t = 0; t < list[i].n_tags && r >= 0; t++)
            r = untag(e, list[i].id, list[i].labels, list[i].tags[t], cb, ud, err);
        if (r >= 0)
            r = delete_image(e, list[i].id, cb, ud, &reclaimed, err);
    }
    for (size_t i = 0; i < n; i++)
        store_image_done(&list[i]);
    free(list);
    if (r < 0)
        return r;
    *ret_reclaimed = reclaimed;
    return 0;
}

static void add_size(void *ud, const char *chain_id, int64_t size)
{
    *(int64_t *)ud += size;
}

int eng_layers_size(struct engine *e, int64_t *ret, struct iso_err *err)
{
    *ret = 0;
    return store_layer_foreach(eng_store(e), add_size, ret, err);
}

struct reconcile {
    struct engine *e;
    unsigned removed;
};

static void reconcile_one(void *ud, const char *chain_id)
{
    struct reconcile *rc = ud;
    struct iso_err err = {0};

    if (store_layer_get(eng_store(rc->e), chain_id, NULL, &err) == 0)
        return;
    if (store_layers_remove(eng_layers(rc->e), chain_id, &err) < 0)
        log_warn("cannot remove an unrecorded layer, ignoring", "layer=%s error=\"%s\"", chain_id,
                 err.msg);
    else
        rc->removed++;
}

int eng_images_reconcile(struct engine *e, struct iso_err *err)
{
    struct reconcile rc = {.e = e};
    int r = store_layers_list(eng_layers(e), reconcile_one, &rc, err);
    if (r < 0)
        return r;
    if (rc.removed)
        log_info("removed layers no image records (an interrupted pull or load)", "count=%u",
                 rc.removed);
    return 0;
}
