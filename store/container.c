#include "store/container.h"

#include <sqlite3.h>
#include <string.h>

#include "common/macro.h"
#include "store/db.h"

static void bind_row(sqlite3_stmt *st, const struct store_ctr *c)
{
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->image_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->config, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, c->created);
    if (c->started_at)
        sqlite3_bind_int64(st, 7, c->started_at);
    if (c->finished_at)
        sqlite3_bind_int64(st, 8, c->finished_at);
    sqlite3_bind_int64(st, 9, c->exit_code);
    if (c->pid)
        sqlite3_bind_int64(st, 10, c->pid);
    sqlite3_bind_int64(st, 11, c->restart_count);
    sqlite3_bind_int(st, 12, c->oom_killed);
    if (c->error)
        sqlite3_bind_text(st, 13, c->error, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 14, c->manual_stop);
}

static int write_row(struct store *s, enum store_query q, const struct store_ctr *c,
                     struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = store_query_get(s, q, &st, err);
    if (r < 0)
        return r;
    bind_row(st, c);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_db_error(s, rc, err, "write container '%.12s'", c->id);
    if (q == STORE_Q_CTR_UPDATE && sqlite3_changes(store_db_handle(s)) == 0)
        return iso_err_set(err, ENOENT, "No such container: %s", c->id);
    return 0;
}

int store_ctr_insert(struct store *s, const struct store_ctr *c, struct iso_err *err)
{
    return write_row(s, STORE_Q_CTR_INSERT, c, err);
}

int store_ctr_update(struct store *s, const struct store_ctr *c, struct iso_err *err)
{
    return write_row(s, STORE_Q_CTR_UPDATE, c, err);
}

int store_ctr_delete(struct store *s, const char *id, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = store_query_get(s, STORE_Q_CTR_DELETE, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_db_error(s, rc, err, "delete container '%.12s'", id);
    return 0;
}

void store_ctr_done(struct store_ctr *c)
{
    free(c->name);
    free(c->state);
    free(c->config);
    free(c->error);
    *c = (struct store_ctr){0};
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

int store_ctr_list(struct store *s, struct store_ctr **ret, size_t *ret_n, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    struct store_ctr *list = NULL;
    size_t n = 0, cap = 0;
    int r, rc;

    r = store_query_get(s, STORE_Q_CTR_LIST, &st, err);
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct store_ctr *p = realloc(list, cap * sizeof(*list));
            if (!p) {
                r = iso_err_set(err, ENOMEM, "out of memory");
                goto fail;
            }
            list = p;
        }
        struct store_ctr *c = &list[n];
        *c = (struct store_ctr){0};
        snprintf(c->id, sizeof(c->id), "%s", (const char *)sqlite3_column_text(st, 0));
        c->name = col_dup(st, 1);
        snprintf(c->image_id, sizeof(c->image_id), "%s", (const char *)sqlite3_column_text(st, 2));
        c->state = col_dup(st, 3);
        c->config = col_dup(st, 4);
        c->created = sqlite3_column_int64(st, 5);
        c->started_at = sqlite3_column_int64(st, 6);
        c->finished_at = sqlite3_column_int64(st, 7);
        c->exit_code = sqlite3_column_int64(st, 8);
        c->pid = sqlite3_column_int64(st, 9);
        c->restart_count = sqlite3_column_int64(st, 10);
        c->oom_killed = sqlite3_column_int(st, 11);
        c->error = col_dup(st, 12);
        c->manual_stop = sqlite3_column_int(st, 13);
        n++;
        if (!c->name || !c->state || !c->config) {
            r = iso_err_set(err, ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (rc != SQLITE_DONE) {
        r = store_db_error(s, rc, err, "list containers");
        goto fail;
    }
    *ret = list;
    *ret_n = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        store_ctr_done(&list[i]);
    free(list);
    return r;
}
