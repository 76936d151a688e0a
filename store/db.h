/* The SQLite database in the root: schema, migrations, counts. Blocking; in the daemon it
 * runs on the loop thread only for short indexed queries and on workers for the rest. */
#pragma once

#include "common/err.h"

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 2

/* PRAGMA application_id of every isod database, "isod" in ASCII. Set by migration 1; a
 * database carrying another non-zero id belongs to another program and is refused. */
#define STORE_APPLICATION_ID 0x69736f64

struct store;

/* Opens (creating if missing) <root>/isod.db: WAL, foreign keys, busy timeout, schema migrated
 * up to STORE_SCHEMA_VERSION. A file that is not a SQLite database, is corrupt, or carries a
 * newer schema fails with a message saying so (EINVAL / EPROTO) and is left exactly as it
 * was: no migration, no journal-mode change, no -wal/-shm files left behind. */
int store_open(const char *root, struct store **ret, struct iso_err *err);

/* Closes the database (checkpointing the WAL). Takes NULL; returns NULL. */
struct store *store_close(struct store *s);

struct store_counts {
    int64_t images;
    int64_t layers;
    int64_t containers;
    int64_t containers_running;
    int64_t containers_paused;
    int64_t containers_stopped;
};

/* Counts rows; containers_stopped is every container neither running nor paused (created,
 * restarting and dead ones too, as Docker's ContainersStopped). */
int store_counts_get(struct store *s, struct store_counts *ret, struct iso_err *err);

/* PRAGMA user_version of the open database, or a negative errno. */
int store_schema_version(struct store *s);

/*
 * For the other store/ files. A struct store is one SQLite connection: use it from one thread
 * at a time (a transaction and the cached statements belong to the connection, not a thread).
 */
struct sqlite3;
struct sqlite3_stmt;

/* The connection, borrowed. */
struct sqlite3 *store_db_handle(struct store *s);

/* Queries whose prepared statements are cached in the store. Add one here and its SQL in
 * db.c's table. */
enum store_query {
    STORE_Q_BEGIN, /* BEGIN IMMEDIATE: take the write lock up front, no upgrade deadlock */
    STORE_Q_COMMIT,
    STORE_Q_ROLLBACK,
    STORE_Q_COUNTS,
    /* store/image.c */
    STORE_Q_IMAGE_INSERT,
    STORE_Q_IMAGE_GET,
    STORE_Q_IMAGE_LIST,
    STORE_Q_IMAGE_BY_PREFIX,
    STORE_Q_IMAGE_DELETE,
    STORE_Q_IMAGE_LAYERS,
    STORE_Q_IMAGE_LAYER_INSERT,
    STORE_Q_IMAGE_CONTAINERS,
    STORE_Q_TAG_SET,
    STORE_Q_TAG_GET,
    STORE_Q_TAG_DELETE,
    STORE_Q_TAGS_OF_IMAGE,
    STORE_Q_LAYER_INSERT,
    STORE_Q_LAYER_GET,
    STORE_Q_LAYER_UNUSED,
    STORE_Q_LAYER_DELETE,
    STORE_Q_LAYER_ALL,
    STORE_Q_LAYER_SHARED,
    /* store/container.c */
    STORE_Q_CTR_INSERT,
    STORE_Q_CTR_UPDATE,
    STORE_Q_CTR_DELETE,
    STORE_Q_CTR_LIST,
    _STORE_Q_MAX,
};

/* The cached statement for q, prepared on first use, reset and unbound: bind, step, then
 * reset it (_cleanup_stmt_ does). Borrowed: never finalize it. */
int store_query_get(struct store *s, enum store_query q, struct sqlite3_stmt **ret,
                    struct iso_err *err);

/* Resets and unbinds a cached statement; takes a pointer to NULL. */
void store_query_resetp(struct sqlite3_stmt **stmt);
#define _cleanup_stmt_ _cleanup_(store_query_resetp)

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. rollback takes a store without a transaction and
 * never fails, so it can sit on an error path. */
int store_tx_begin(struct store *s, struct iso_err *err);
int store_tx_commit(struct store *s, struct iso_err *err);
void store_tx_rollback(struct store *s);

/* Fills err from the SQLite result rc: "<fmt>: <sqlite message>", with an errno chosen so that
 * api/ maps it sensibly (UNIQUE -> EEXIST, FOREIGN KEY -> EBUSY, BUSY -> EBUSY, FULL -> ENOSPC,
 * NOMEM -> ENOMEM, I/O -> the system errno or EIO). Returns -errno. */
int store_db_error(struct store *s, int rc, struct iso_err *err, const char *fmt, ...)
    _printf_(4, 5);
