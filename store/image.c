#include "store/image.h"

#include <sqlite3.h>
#include <string.h>

#include "common/util.h"
#include "store/db.h"

void store_image_done(struct store_image *img)
{
    if (!img)
        return;
    free(img->manifest_digest);
    free(img->architecture);
    free(img->os);
    free(img->variant);
    free(img->labels);
    for (size_t i = 0; i < img->n_tags; i++)
        free(img->tags[i]);
    free(img->tags);
    *img = (struct store_image){0};
}

static int bind_text_or_null(sqlite3_stmt *st, int col, const char *v)
{
    return v ? sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

/* Runs a statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what, struct iso_err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_db_error(s, rc, err, "%s", what);
    return 0;
}

static int set_tag(struct store *s, const char *reference, const char *id, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_query_get(s, STORE_Q_TAG_SET, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)iso_now_real_ns());
    return step_done(s, st, "tag image", err);
}

static int commit_rows(struct store *s, const struct store_image *img,
                       const struct store_image_layer *layers, size_t n, struct iso_err *err)
{
    int r;

    for (size_t i = 0; i < n; i++) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_query_get(s, STORE_Q_LAYER_INSERT, &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, layers[i].chain_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, layers[i].diff_id, -1, SQLITE_STATIC);
        bind_text_or_null(st, 3, i ? layers[i - 1].chain_id : NULL);
        sqlite3_bind_int64(st, 4, layers[i].size);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)iso_now_real_ns());
        r = step_done(s, st, "record layer", err);
        if (r < 0)
            return r;
    }
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_query_get(s, STORE_Q_IMAGE_INSERT, &st, err);
        if (r < 0)
            return r;
        int64_t size = 0;
        for (size_t i = 0; i < n; i++)
            size += layers[i].size;
        sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
        bind_text_or_null(st, 2, img->manifest_digest);
        sqlite3_bind_int64(st, 3, img->created);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)iso_now_real_ns());
        sqlite3_bind_int64(st, 5, size);
        sqlite3_bind_text(st, 6, img->architecture ? img->architecture : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, img->os ? img->os : "", -1, SQLITE_STATIC);
        bind_text_or_null(st, 8, img->variant);
        bind_text_or_null(st, 9, img->labels);
        r = step_done(s, st, "record image", err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < n; i++) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_query_get(s, STORE_Q_IMAGE_LAYER_INSERT, &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_text(st, 3, layers[i].chain_id, -1, SQLITE_STATIC);
        r = step_done(s, st, "record image layer", err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < img->n_tags; i++) {
        r = set_tag(s, img->tags[i], img->id, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int store_image_commit(struct store *s, const struct store_image *img,
                       const struct store_image_layer *layers, size_t n_layers, struct iso_err *err)
{
    int r = store_tx_begin(s, err);
    if (r < 0)
        return r;
    r = commit_rows(s, img, layers, n_layers, err);
    if (r < 0) {
        store_tx_rollback(s);
        return r;
    }
    r = store_tx_commit(s, err);
    if (r < 0)
        store_tx_rollback(s);
    return r;
}

static bool is_hex(const char *s)
{
    return *s && strspn(s, "0123456789abcdef") == strlen(s);
}

int store_image_resolve(struct store *s, const char *reference, const char *id_or_prefix,
                        char ret_id[STORE_DIGEST_LEN + 1], struct iso_err *err)
{
    int r, rc;

    if (reference) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_query_get(s, STORE_Q_TAG_GET, &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(ret_id, STORE_DIGEST_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
            return 0;
        }
        if (rc != SQLITE_DONE)
            return store_db_error(s, rc, err, "look up '%s'", reference);
    }
    if (!id_or_prefix)
        return iso_err_set(err, ENOENT, "No such image: %s", reference ? reference : "");

    const char *hex = strneq(id_or_prefix, "sha256:", 7) ? id_or_prefix + 7 : id_or_prefix;
    if (!is_hex(hex) || strlen(hex) > 64)
        return iso_err_set(err, ENOENT, "No such image: %s", id_or_prefix);

    char prefix[STORE_DIGEST_LEN + 1];
    snprintf(prefix, sizeof(prefix), "sha256:%s", hex);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_query_get(s, STORE_Q_IMAGE_BY_PREFIX, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return iso_err_set(err, ENOENT, "No such image: %s", id_or_prefix);
    if (rc != SQLITE_ROW)
        return store_db_error(s, rc, err, "look up '%s'", id_or_prefix);
    snprintf(ret_id, STORE_DIGEST_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return iso_err_set(err, EINVAL, "image id '%s' is ambiguous: more than one image matches",
                           id_or_prefix);
    return 0;
}

static char *column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

static int read_tags(struct store *s, struct store_image *img, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_query_get(s, STORE_Q_TAGS_OF_IMAGE, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            return 0;
        if (rc != SQLITE_ROW)
            return store_db_error(s, rc, err, "read tags of '%s'", img->id);
        char **n = realloc(img->tags, (img->n_tags + 1) * sizeof(*n));
        if (!n)
            return iso_err_set(err, ENOMEM, "out of memory");
        img->tags = n;
        img->tags[img->n_tags] = column_dup(st, 0);
        if (!img->tags[img->n_tags])
            return iso_err_set(err, ENOMEM, "out of memory");
        img->n_tags++;
    }
}

static int row_to_image(struct store *s, sqlite3_stmt *st, struct store_image *img,
                        struct iso_err *err)
{
    *img = (struct store_image){0};
    snprintf(img->id, sizeof(img->id), "%s", (const char *)sqlite3_column_text(st, 0));
    img->manifest_digest = column_dup(st, 1);
    img->created = sqlite3_column_int64(st, 2);
    img->added = sqlite3_column_int64(st, 3);
    img->size = sqlite3_column_int64(st, 4);
    img->architecture = column_dup(st, 5);
    img->os = column_dup(st, 6);
    img->variant = column_dup(st, 7);
    img->labels = column_dup(st, 8);
    if (!img->architecture || !img->os) {
        store_image_done(img);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

int store_image_get(struct store *s, const char *id, struct store_image *ret, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    struct store_image img;
    int r, rc;

    r = store_query_get(s, STORE_Q_IMAGE_GET, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return iso_err_set(err, ENOENT, "No such image: %s", id);
    if (rc != SQLITE_ROW)
        return store_db_error(s, rc, err, "read image '%s'", id);
    r = row_to_image(s, st, &img, err);
    if (r < 0)
        return r;
    store_query_resetp(&st);
    r = read_tags(s, &img, err);
    if (r < 0) {
        store_image_done(&img);
        return r;
    }
    *ret = img;
    return 0;
}

int store_image_list(struct store *s, struct store_image **ret, size_t *ret_n, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    struct store_image *list = NULL;
    size_t n = 0;
    int r, rc;

    r = store_query_get(s, STORE_Q_IMAGE_LIST, &st, err);
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_image *nl = realloc(list, (n + 1) * sizeof(*nl));
        if (!nl) {
            r = iso_err_set(err, ENOMEM, "out of memory");
            goto fail;
        }
        list = nl;
        r = row_to_image(s, st, &list[n], err);
        if (r < 0)
            goto fail;
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = store_db_error(s, rc, err, "list images");
        goto fail;
    }
    store_query_resetp(&st);
    for (size_t i = 0; i < n; i++) {
        r = read_tags(s, &list[i], err);
        if (r < 0)
            goto fail;
    }
    *ret = list;
    *ret_n = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        store_image_done(&list[i]);
    free(list);
    return r;
}

int store_image_layers(struct store *s, const char *id, struct store_image_layer **ret,
                       size_t *ret_n, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_free_ struct store_image_layer *list = NULL;
    size_t n = 0;
    int r, rc;

    r = store_query_get(s, STORE_Q_IMAGE_LAYERS, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_image_layer *nl = realloc(list, (n + 1) * sizeof(*nl));
        if (!nl)
            return iso_err_set(err, ENOMEM, "out of memory");
        list = nl;
        snprintf(list[n].chain_id, sizeof(list[n].chain_id), "%s", sqlite3_column_text(st, 0));
        snprintf(list[n].diff_id, sizeof(list[n].diff_id), "%s", sqlite3_column_text(st, 1));
        list[n].size = sqlite3_column_int64(st, 2);
        n++;
    }
    if (rc != SQLITE_DONE)
        return store_db_error(s, rc, err, "read layers of '%s'", id);
    *ret = TAKE_PTR(list);
    *ret_n = n;
    return 0;
}

static int query_int(struct store *s, enum store_query q, const char *arg, int64_t *ret,
                     struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_query_get(s, q, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return store_db_error(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, "query '%s'", arg);
    *ret = sqlite3_column_int64(st, 0);
    return 0;
}

int store_image_shared_size(struct store *s, const char *id, int64_t *ret, struct iso_err *err)
{
    return query_int(s, STORE_Q_LAYER_SHARED, id, ret, err);
}

int store_image_containers(struct store *s, const char *id, int64_t *ret, struct iso_err *err)
{
    return query_int(s, STORE_Q_IMAGE_CONTAINERS, id, ret, err);
}

int store_tag_set(struct store *s, const char *reference, const char *id, struct iso_err *err)
{
    return set_tag(s, reference, id, err);
}

int store_tag_remove(struct store *s, const char *reference, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_query_get(s, STORE_Q_TAG_DELETE, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
    r = step_done(s, st, "untag", err);
    if (r < 0)
        return r;
    if (sqlite3_changes(store_db_handle(s)) == 0)
        return iso_err_set(err, ENOENT, "No such image: %s", reference);
    return 0;
}

/* Deletes unused layers until none is left; the parent of a removed layer may become unused,
 * hence the loop. */
static int delete_unused_layers(struct store *s, char (**list)[STORE_DIGEST_LEN + 1], size_t *n,
                                struct iso_err *err)
{
    for (;;) {
        char batch[64][STORE_DIGEST_LEN + 1];
        size_t nb = 0;
        {
            _cleanup_stmt_ sqlite3_stmt *st = NULL;
            int r = store_query_get(s, STORE_Q_LAYER_UNUSED, &st, err);
            if (r < 0)
                return r;
            int rc;
            while (nb < ARRAY_SIZE(batch) && (rc = sqlite3_step(st)) == SQLITE_ROW)
                snprintf(batch[nb++], STORE_DIGEST_LEN + 1, "%s", sqlite3_column_text(st, 0));
        }
        if (nb == 0)
            return 0;
        for (size_t i = 0; i < nb; i++) {
            _cleanup_stmt_ sqlite3_stmt *st = NULL;
            int r = store_query_get(s, STORE_Q_LAYER_DELETE, &st, err);
            if (r < 0)
                return r;
            sqlite3_bind_text(st, 1, batch[i], -1, SQLITE_STATIC);
            r = step_done(s, st, "delete layer", err);
            if (r < 0)
                return r;
            char(*nl)[STORE_DIGEST_LEN + 1] = realloc(*list, (*n + 1) * sizeof(*nl));
            if (!nl)
                return iso_err_set(err, ENOMEM, "out of memory");
            *list = nl;
            memcpy((*list)[(*n)++], batch[i], STORE_DIGEST_LEN + 1);
        }
    }
}

int store_image_delete(struct store *s, const char *id, char (**ret_layers)[STORE_DIGEST_LEN + 1],
                       size_t *ret_n, struct iso_err *err)
{
    char(*layers)[STORE_DIGEST_LEN + 1] = NULL;
    size_t n = 0;
    int r;

    r = store_tx_begin(s, err);
    if (r < 0)
        return r;
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_query_get(s, STORE_Q_IMAGE_DELETE, &st, err);
        if (r < 0)
            goto fail;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT) {
            r = iso_err_set(err, EBUSY, "image %s is being used by a container", id);
            goto fail;
        }
        if (rc != SQLITE_DONE) {
            r = store_db_error(s, rc, err, "delete image '%s'", id);
            goto fail;
        }
    }
    r = delete_unused_layers(s, &layers, &n, err);
    if (r < 0)
        goto fail;
    r = store_tx_commit(s, err);
    if (r < 0)
        goto fail;
    *ret_layers = layers;
    *ret_n = n;
    return 0;
fail:
    store_tx_rollback(s);
    free(layers);
    return r;
}

int store_layer_get(struct store *s, const char *chain_id, int64_t *ret_size, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_query_get(s, STORE_Q_LAYER_GET, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, chain_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return store_db_error(s, rc, err, "read layer '%s'", chain_id);
    if (ret_size)
        *ret_size = sqlite3_column_int64(st, 0);
    return 0;
}

int store_layer_foreach(struct store *s, void (*cb)(void *ud, const char *chain_id, int64_t size),
                        void *ud, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_query_get(s, STORE_Q_LAYER_ALL, &st, err);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    if (rc != SQLITE_DONE)
        return store_db_error(s, rc, err, "list layers");
    return 0;
}
