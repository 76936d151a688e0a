/* Registry pulls, orchestrated on the loop: isod-fetch resolves the manifest and config, then
 * one isod-fetch per missing layer downloads, digests, decompresses, digests and unpacks it in
 * one pass (at most --max-concurrent-downloads at once); the database commit comes last, on the
 * loop. A layer another pull is already fetching is waited for, never fetched twice. */
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/helper.h"
#include "daemon/images.h"
#include "store/image.h"
#include "store/reference.h"

struct layer_job;

struct eng_pull {
    struct engine *e;
    struct store_ref ref;
    char ref_full[STORE_REF_STR_MAX], ref_familiar[STORE_REF_STR_MAX];
    json_t *request; /* ref, credentials, platform: the common part of every helper request */
    json_t *manifest;
    struct store_image_layer *layers;
    size_t n_layers;
    bool image_existed;
    uint64_t start_ns; /* monotonic */
    size_t pending;    /* layers not finished, plus one while they are being placed */
    size_t fetched;
    struct iso_err err;
    bool failed;
    eng_progress_fn progress;
    eng_done_fn done;
    void *ud;
};

struct waiter {
    struct eng_pull *pull;
    size_t index;
};

struct layer_job {
    struct engine *e;
    struct layer_job *next;
    char chain_id[STORE_DIGEST_LEN + 1];
    char short_id[13];
    json_t *request;
    int64_t size;
    struct waiter *waiters;
    size_t n_waiters;
    bool started;
};

/* Jobs queued or running, engine-wide. One engine per process, so a static is honest. */
static struct layer_job *jobs;
static unsigned running;

static void emit(struct eng_pull *p, const char *status, const char *id, int64_t cur, int64_t tot)
{
    struct eng_progress ev = {.status = status, .id = id, .current = cur, .total = tot};
    if (p->progress)
        p->progress(p->ud, &ev);
}

static void emit_all(struct layer_job *j, const char *status, int64_t cur, int64_t tot)
{
    for (size_t i = 0; i < j->n_waiters; i++)
        emit(j->waiters[i].pull, status, j->short_id, cur, tot);
}

static void pull_free(struct eng_pull *p)
{
    json_decref(p->request);
    json_decref(p->manifest);
    free(p->layers);
    free(p);
}

static void pull_fail(struct eng_pull *p, const struct iso_err *err)
{
    if (!p->failed) {
        p->failed = true;
        p->err = *err;
    }
}

static void pull_finish(struct eng_pull *p);
static void jobs_start(struct engine *e);

static void job_line(void *ud, json_t *line)
{
    struct layer_job *j = ud;
    emit_all(j, "Downloading", json_integer_value(json_object_get(line, "bytes")), j->size);
}

static void job_done(void *ud, json_t *answer, const struct iso_err *err)
{
    struct layer_job *j = ud;
    struct engine *e = j->e;
    int64_t disk = json_integer_value(json_object_get(json_object_get(answer, "layer"), "size"));

    running--;
    for (struct layer_job **pp = &jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    if (!err) {
        if (j->size > 0)
            eng_metrics(e)->pull_bytes += (uint64_t)j->size;
        emit_all(j, "Downloading", j->size, j->size);
        emit_all(j, "Verifying Checksum", -1, -1);
        emit_all(j, "Download complete", -1, -1);
        emit_all(j, "Extracting", j->size, j->size);
        emit_all(j, "Pull complete", -1, -1);
    }
    for (size_t i = 0; i < j->n_waiters; i++) {
        struct eng_pull *p = j->waiters[i].pull;
        if (err)
            pull_fail(p, err);
        else
            p->layers[j->waiters[i].index].size = disk;
        p->fetched++;
        if (--p->pending == 0)
            pull_finish(p);
    }
    json_decref(j->request);
    free(j->waiters);
    free(j);
    jobs_start(e);
}

static void jobs_start(struct engine *e)
{
    for (struct layer_job *j = jobs; j && running < eng_max_downloads(e); j = j->next) {
        struct iso_err err = {0};
        if (j->started)
            continue;
        j->started = true;
        running++;
        json_t *req = json_incref(j->request);
        if (eng_helper_run(e, "layer", req, job_line, job_done, j, &err) < 0)
            job_done(j, NULL, &err);
        return jobs_start(e); /* the list may have changed under job_done */
    }
}

static int add_waiter(struct layer_job *j, struct eng_pull *p, size_t index, struct iso_err *err)
{
    struct waiter *n = realloc(j->waiters, (j->n_waiters + 1) * sizeof(*n));
    if (!n)
        return iso_err_set(err, ENOMEM, "out of memory");
    j->waiters = n;
    j->waiters[j->n_waiters++] = (struct waiter){.pull = p, .index = index};
    return 0;
}

static int place_layer(struct eng_pull *p, size_t i, json_t *desc, struct iso_err *err)
{
    const char *digest = json_string_value(json_object_get(desc, "digest"));
    struct layer_job *j;
    char sid[13];
    int64_t size;

    snprintf(sid, sizeof(sid), "%s", digest && strlen(digest) > 7 ? digest + 7 : "");
    if (store_layer_get(eng_store(p->e), p->layers[i].chain_id, &size, NULL) == 0) {
        p->layers[i].size = size;
        emit(p, "Already exists", sid, -1, -1);
        return 0;
    }
    for (j = jobs; j; j = j->next)
        if (streq(j->chain_id, p->layers[i].chain_id))
            break;
    if (!j) {
        j = calloc(1, sizeof(*j));
        if (!j)
            return iso_err_set(err, ENOMEM, "out of memory");
        j->e = p->e;
        snprintf(j->chain_id, sizeof(j->chain_id), "%s", p->layers[i].chain_id);
        snprintf(j->short_id, sizeof(j->short_id), "%s", sid);
        j->size = json_integer_value(json_object_get(desc, "size"));
        j->request = json_deep_copy(p->request);
        if (!j->request) {
            free(j);
            return iso_err_set(err, ENOMEM, "out of memory");
        }
        json_object_set(j->request, "descriptor", desc);
        json_object_set_new(j->request, "chain_id", json_string(p->layers[i].chain_id));
        json_object_set_new(j->request, "diff_id", json_string(p->layers[i].diff_id));
        struct layer_job **tail = &jobs;
        while (*tail)
            tail = &(*tail)->next;
        *tail = j;
    }
    if (add_waiter(j, p, i, err) < 0)
        return -ENOMEM;
    p->pending++;
    emit(p, "Pulling fs layer", sid, -1, -1);
    return 0;
}

static void manifest_done(void *ud, json_t *answer, const struct iso_err *err)
{
    struct eng_pull *p = ud;
    struct iso_err e2 = {0};
    json_t *m = json_object_get(answer, "manifest");
    json_t *descs = json_object_get(m, "layers"), *diffs = json_object_get(m, "diff_ids");
    json_t *chains = json_object_get(m, "chain_ids");
    const char *config = json_string_value(json_object_get(m, "config_digest"));

    if (err) {
        pull_fail(p, err);
        pull_finish(p);
        return;
    }
    p->manifest = json_incref(m);
    p->n_layers = json_array_size(descs);
    p->layers = calloc(p->n_layers + 1, sizeof(*p->layers));
    if (!p->layers || !config || json_array_size(diffs) != p->n_layers ||
        json_array_size(chains) != p->n_layers) {
        iso_err_set(&e2, EIO, "isod-fetch answered an incomplete manifest");
        pull_fail(p, &e2);
        pull_finish(p);
        return;
    }
    for (size_t i = 0; i < p->n_layers; i++) {
        snprintf(p->layers[i].chain_id, sizeof(p->layers[i].chain_id), "%s",
                 json_string_value(json_array_get(chains, i)));
        snprintf(p->layers[i].diff_id, sizeof(p->layers[i].diff_id), "%s",
                 json_string_value(json_array_get(diffs, i)));
    }
    struct store_image existing;
    if (store_image_get(eng_store(p->e), config, &existing, NULL) == 0) {
        p->image_existed = true;
        store_image_done(&existing);
    }

    char from[STORE_REF_STR_MAX + 32];
    snprintf(from, sizeof(from), "Pulling from %s", p->ref.path);
    emit(p, from, p->ref.digest[0] ? p->ref.digest : p->ref.tag, -1, -1);

    p->pending = 1;
    for (size_t i = 0; i < p->n_layers && !p->failed; i++)
        if (place_layer(p, i, json_array_get(descs, i), &e2) < 0)
            pull_fail(p, &e2);
    jobs_start(p->e);
    for (struct layer_job *j = jobs; j; j = j->next)
        for (size_t k = 0; !j->started && k < j->n_waiters; k++)
            if (j->waiters[k].pull == p)
                emit(p, "Waiting", j->short_id, -1, -1);
    if (--p->pending == 0)
        pull_finish(p);
}

int64_t eng_parse_time(const char *s)
{
    struct tm tm = {0};
    const char *rest;

    if (!s || !(rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
        return 0;
    int64_t ns = (int64_t)timegm(&tm) * 1000000000LL;
    if (*rest == '.') {
        int64_t frac = 0, scale = 100000000;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            frac += (*rest - '0') * scale;
        ns += frac;
    }
    return ns;
}

static int commit(struct eng_pull *p, struct iso_err *err)
{
    json_t *m = p->manifest;
    const char *digest = json_string_value(json_object_get(m, "digest"));
    const char *index = json_string_value(json_object_get(m, "index_digest"));
    json_t *labels = json_object_get(m, "labels");
    char tag_ref[STORE_REF_STR_MAX], digest_ref[STORE_REF_STR_MAX];
    _cleanup_free_ char *labels_s = NULL;
    struct store_ref dref = p->ref;
    char *tags[2];
    size_t n_tags = 0;

    /* Names: the tag pulled, and repository@digest (RepoDigests), the list's digest when the
     * manifest came from a list, since that is the one users pull by. */
    if (p->ref.tag[0] && !p->ref.digest[0])
        tags[n_tags++] = (char *)store_ref_string(&p->ref, tag_ref, sizeof(tag_ref));
    dref.tag[0] = '\0';
    snprintf(dref.digest, sizeof(dref.digest), "%s", index && *index ? index : digest);
    tags[n_tags++] = (char *)store_ref_string(&dref, digest_ref, sizeof(digest_ref));
    if (json_is_object(labels) && json_object_size(labels) > 0)
        labels_s = json_dumps(labels, JSON_COMPACT);

    struct store_image img = {
        .manifest_digest = (char *)digest,
        .architecture = (char *)json_string_value(json_object_get(m, "architecture")),
        .os = (char *)json_string_value(json_object_get(m, "os")),
        .variant = (char *)json_string_value(json_object_get(m, "variant")),
        .created = eng_parse_time(json_string_value(json_object_get(m, "created"))),
        .labels = labels_s,
        .tags = tags,
        .n_tags = n_tags,
    };
    snprintf(img.id, sizeof(img.id), "%s", json_string_value(json_object_get(m, "config_digest")));
    return store_image_commit(eng_store(p->e), &img, p->layers, p->n_layers, err);
}

static void pull_finish(struct eng_pull *p)
{
    char status[STORE_REF_STR_MAX + 64];
    struct iso_err err = {0};

    if (!p->failed && commit(p, &err) < 0)
        pull_fail(p, &err);
    if (!p->failed) {
        const char *index = json_string_value(json_object_get(p->manifest, "index_digest"));
        snprintf(status, sizeof(status), "Digest: %s",
                 index && *index ? index
                                 : json_string_value(json_object_get(p->manifest, "digest")));
        emit(p, status, NULL, -1, -1);
        snprintf(status, sizeof(status), "Status: %s for %s",
                 p->image_existed && p->fetched == 0 ? "Image is up to date"
                                                     : "Downloaded newer image",
                 p->ref_familiar);
        emit(p, status, NULL, -1, -1);
        log_info("pulled image", "reference=%s layers=%zu fetched=%zu", p->ref_full, p->n_layers,
                 p->fetched);
        /* moby: LogImageEvent(FamiliarString(ref), FamiliarName(ref), "pull"). */
        char name[STORE_REF_STR_MAX];
        _cleanup_free_ char *labels = NULL;
        json_t *l = json_object_get(p->manifest, "labels");
        if (json_is_object(l) && json_object_size(l) > 0)
            labels = json_dumps(l, JSON_COMPACT);
        eng_image_event(p->e, "pull", p->ref_familiar,
                        store_ref_familiar_name(&p->ref, name, sizeof(name)), labels);
    } else
        log_info("pull failed", "reference=%s error=\"%s\"", p->ref_full, p->err.msg);
    iso_hist_observe(&eng_metrics(p->e)->pull_duration,
                     (double)(iso_now_mono_ns() - p->start_ns) / 1e9);
    if (p->done)
        p->done(p->ud, p->failed ? &p->err : NULL);
    pull_free(p);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

int eng_image_pull(struct engine *e, const struct eng_pull_opts *opts, eng_progress_fn progress,
                   eng_done_fn done, void *ud, struct eng_pull **ret, struct iso_err *err)
{
    struct eng_pull *p;
    struct store_ref ref;
    int r;

    if (!opts->from_image || !*opts->from_image)
        return iso_err_set(err, EINVAL, "fromImage is required");
    r = store_ref_parse_api(opts->from_image, opts->tag, &ref, err);
    if (r < 0)
        return r;

    p = calloc(1, sizeof(*p));
    if (!p)
        return iso_err_set(err, ENOMEM, "out of memory");
    p->e = e;
    p->start_ns = iso_now_mono_ns();
    p->ref = ref;
    store_ref_string(&ref, p->ref_full, sizeof(p->ref_full));
    store_ref_familiar(&ref, p->ref_familiar, sizeof(p->ref_familiar));
    p->request = json_object();
    if (!p->request) {
        pull_free(p);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    set_str(p->request, "ref", p->ref_full);
    set_str(p->request, "username", opts->username);
    set_str(p->request, "password", opts->password);
    set_str(p->request, "identitytoken", opts->identitytoken);
    set_str(p->request, "registrytoken", opts->registrytoken);
    json_object_set_new(p->request, "insecure_registries", eng_insecure_registries(e));
    if (opts->platform && *opts->platform) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", opts->platform);
        char *save = NULL, *os = strtok_r(buf, "/", &save), *arch = strtok_r(NULL, "/", &save);
        char *variant = strtok_r(NULL, "/", &save);
        if (!os || !arch || strtok_r(NULL, "/", &save)) {
            pull_free(p);
            return iso_err_set(err, EINVAL,
                               "invalid platform '%s': expected os/arch[/variant], e.g. "
                               "linux/amd64",
                               opts->platform);
        }
        set_str(p->request, "os", os);
        set_str(p->request, "arch", arch);
        set_str(p->request, "variant", variant);
    }
    p->progress = progress;
    p->done = done;
    p->ud = ud;

    r = eng_helper_run(e, "manifest", json_incref(p->request), NULL, manifest_done, p, err);
    if (r < 0) {
        pull_free(p);
        return r;
    }
    if (ret)
        *ret = p;
    return 0;
}

void eng_pull_detach(struct eng_pull *p)
{
    p->progress = NULL;
    p->done = NULL;
}
