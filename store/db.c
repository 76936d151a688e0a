#include "store/db.h"

#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "common/util.h"

#define DB_FILE "isod.db"

/* A second writer (isoctl debugging, a backup) only holds the lock for a moment. */
#define DB_BUSY_TIMEOUT_MS 5000

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[_STORE_Q_MAX];
};

static const char *const queries[_STORE_Q_MAX] = {
    [STORE_Q_BEGIN] = "BEGIN IMMEDIATE",
    [STORE_Q_COMMIT] = "COMMIT",
    [STORE_Q_ROLLBACK] = "ROLLBACK",
    [STORE_Q_COUNTS] = "SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM layers),"
                       " count(*),"
                       " count(*) FILTER (WHERE state = 'running'),"
                       " count(*) FILTER (WHERE state = 'paused')"
                       " FROM containers",
    [STORE_Q_IMAGE_INSERT] = "INSERT OR IGNORE INTO images (id, manifest_digest, created, added,"
                             " size, architecture, os, variant, labels)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [STORE_Q_IMAGE_GET] = "SELECT id, manifest_digest, created, added, size, architecture, os,"
                          " variant, labels FROM images WHERE id = ?",
    [STORE_Q_IMAGE_LIST] = "SELECT id, manifest_digest, created, added, size, architecture, os,"
                           " variant, labels FROM images ORDER BY created DESC, id",
    [STORE_Q_IMAGE_BY_PREFIX] = "SELECT id FROM images WHERE id >= ?1 AND id < ?1 || 'g'"
                                " ORDER BY id LIMIT 2",
    [STORE_Q_IMAGE_DELETE] = "DELETE FROM images WHERE id = ?",
    [STORE_Q_IMAGE_LAYERS] = "SELECT il.chain_id, l.diff_id, l.size FROM image_layers il"
                             " JOIN layers l ON l.chain_id = il.chain_id"
                             " WHERE il.image_id = ? ORDER BY il.position",
    [STORE_Q_IMAGE_LAYER_INSERT] = "INSERT OR IGNORE INTO image_layers (image_id, position,"
                                   " chain_id) VALUES (?, ?, ?)",
    [STORE_Q_CTR_INSERT] = "INSERT INTO containers (id, name, image_id, state, config, created,"
                           " started_at, finished_at, exit_code, pid, restart_count, oom_killed,"
                           " error, manual_stop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [STORE_Q_CTR_UPDATE] = "UPDATE containers SET name = ?2, image_id = ?3, state = ?4,"
                           " config = ?5, created = ?6, started_at = ?7, finished_at = ?8,"
                           " exit_code = ?9, pid = ?10, restart_count = ?11, oom_killed = ?12,"
                           " error = ?13, manual_stop = ?14 WHERE id = ?1",
    [STORE_Q_CTR_DELETE] = "DELETE FROM containers WHERE id = ?",
    [STORE_Q_CTR_LIST] = "SELECT id, name, image_id, state, config, created, started_at,"
                         " finished_at, exit_code, pid, restart_count, oom_killed, error,"
                         " manual_stop FROM containers ORDER BY created",
    [STORE_Q_IMAGE_CONTAINERS] = "SELECT count(*) FROM containers WHERE image_id = ?",
    [STORE_Q_TAG_SET] = "INSERT INTO tags (reference, image_id, created) VALUES (?, ?, ?)"
                        " ON CONFLICT (reference) DO UPDATE SET image_id = excluded.image_id,"
                        " created = excluded.created",
    [STORE_Q_TAG_GET] = "SELECT image_id FROM tags WHERE reference = ?",
    [STORE_Q_TAG_DELETE] = "DELETE FROM tags WHERE reference = ?",
    [STORE_Q_TAGS_OF_IMAGE] = "SELECT reference FROM tags WHERE image_id = ? ORDER BY reference",
    [STORE_Q_LAYER_INSERT] = "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size,"
                             " created) VALUES (?, ?, ?, ?, ?)",
    [STORE_Q_LAYER_GET] = "SELECT size FROM layers WHERE chain_id = ?",
    /* Layers no image uses and no other layer stands on: removable now. */
    [STORE_Q_LAYER_UNUSED] = "SELECT chain_id FROM layers l WHERE NOT EXISTS"
                             " (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)"
                             " AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)",
    [STORE_Q_LAYER_DELETE] = "DELETE FROM layers WHERE chain_id = ?",
    [STORE_Q_LAYER_ALL] = "SELECT chain_id, size FROM layers",
    /* How many images use each layer of an image: > 1 means shared (SharedSize). */
    [STORE_Q_LAYER_SHARED] = "SELECT coalesce(sum(l.size), 0) FROM image_layers il"
                             " JOIN layers l ON l.chain_id = il.chain_id"
                             " WHERE il.image_id = ?1 AND EXISTS (SELECT 1 FROM image_layers o"
                             " WHERE o.chain_id = il.chain_id AND o.image_id != ?1)",
};

/*
 * The schema. migrations[i] takes the database from version i to i + 1, in one transaction
 * that also bumps user_version, so a crash leaves either version. Never edit a released entry:
 * append one. The runner turns foreign keys off and runs foreign_key_check before each commit,
 * so a migration may rebuild a table (SQLite's 12-step ALTER TABLE).
 *
 * Times are unix nanoseconds. Digests are 'sha256:<64 hex>'. Image configs and manifests
 * live in blobs/sha256/<hex> (an image's id is its config digest); the columns here hold
 * what listings and filters need without reading blobs.
 */
static const char *const migrations[] = {
    /* 1: the first schema. */
    "PRAGMA application_id = 1769172836;\n" /* STORE_APPLICATION_ID */
    "CREATE TABLE images (\n"
    "    id              TEXT PRIMARY KEY NOT NULL\n"
    "                    CHECK (length(id) = 71 AND id GLOB 'sha256:*'),\n"
    "    manifest_digest TEXT,              -- NULL when loaded without a manifest\n"
    "    created         INTEGER NOT NULL,  -- the config's 'created'; 0 when absent\n"
    "    added           INTEGER NOT NULL,  -- when this store got it\n"
    "    size            INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0), -- unpacked layers\n"
    "    architecture    TEXT NOT NULL,\n"
    "    os              TEXT NOT NULL,\n"
    "    variant         TEXT,\n"
    "    labels          TEXT               -- JSON object of config.Labels, NULL if none\n"
    ") WITHOUT ROWID;\n"
    /* Names and digest references, normalized: 'docker.io/library/busybox:latest' and
     * 'docker.io/library/busybox@sha256:...'. Removing an image removes its names. */
    "CREATE TABLE tags (\n"
    "    reference TEXT PRIMARY KEY NOT NULL,\n"
    "    image_id  TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,\n"
    "    created   INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX tags_image_id ON tags (image_id);\n"
    /* One unpacked layer in layers/<chain_id>/diff, shared by every image that has it. A
     * parent cannot go while a child stands on it. */
    "CREATE TABLE layers (\n"
    "    chain_id TEXT PRIMARY KEY NOT NULL\n"
    "             CHECK (length(chain_id) = 71 AND chain_id GLOB 'sha256:*'),\n"
    "    diff_id  TEXT NOT NULL CHECK (length(diff_id) = 71 AND diff_id GLOB 'sha256:*'),\n"
    "    parent   TEXT REFERENCES layers (chain_id) ON DELETE RESTRICT, -- NULL: base layer\n"
    "    size     INTEGER NOT NULL CHECK (size >= 0), -- unpacked bytes\n"
    "    created  INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX layers_parent ON layers (parent);\n"
    /* An image's layers, position 0 at the bottom. A layer some image uses cannot go. */
    "CREATE TABLE image_layers (\n"
    "    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,\n"
    "    position INTEGER NOT NULL CHECK (position >= 0),\n"
    "    chain_id TEXT NOT NULL REFERENCES layers (chain_id) ON DELETE RESTRICT,\n"
    "    PRIMARY KEY (image_id, position)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX image_layers_chain_id ON image_layers (chain_id);\n"
    /* An image a container uses cannot go (docker rmi answers 409 unless forced). Large
     * JSON rows, so a rowid table. */
    "CREATE TABLE containers (\n"
    "    id            TEXT PRIMARY KEY NOT NULL\n"
    "                  CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),\n"
    "    name          TEXT NOT NULL UNIQUE, -- without the leading '/'\n"
    "    image_id      TEXT NOT NULL REFERENCES images (id) ON DELETE RESTRICT,\n"
    "    state         TEXT NOT NULL DEFAULT 'created' CHECK (state IN ('created', 'running',\n"
    "                  'paused', 'restarting', 'exited', 'dead', 'removing')),\n"
    "    config        TEXT NOT NULL,        -- JSON: Config, HostConfig, NetworkingConfig\n"
    "    created       INTEGER NOT NULL,\n"
    "    started_at    INTEGER,              -- NULL: never started\n"
    "    finished_at   INTEGER,              -- NULL: never exited\n"
    "    exit_code     INTEGER,\n"
    "    pid           INTEGER,              -- init's pid while running or paused\n"
    "    restart_count INTEGER NOT NULL DEFAULT 0 CHECK (restart_count >= 0),\n"
    "    oom_killed    INTEGER NOT NULL DEFAULT 0 CHECK (oom_killed IN (0, 1)),\n"
    "    error         TEXT                  -- why the last start failed (State.Error)\n"
    ");\n"
    "CREATE INDEX containers_image_id ON containers (image_id);\n"
    "CREATE INDEX containers_state ON containers (state);\n"
    /* Running while pid is set and exit_code is NULL. */
    "CREATE TABLE execs (\n"
    "    id           TEXT PRIMARY KEY NOT NULL\n"
    "                 CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),\n"
    "    container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,\n"
    "    config       TEXT NOT NULL,         -- JSON of the exec create request\n"
    "    created      INTEGER NOT NULL,\n"
    "    pid          INTEGER,\n"
    "    exit_code    INTEGER\n"
    ");\n"
    "CREATE INDEX execs_container_id ON execs (container_id);\n",
    /* 2: docker stop marks a container so that restart policies leave it alone. */
    "ALTER TABLE containers ADD COLUMN manual_stop INTEGER NOT NULL DEFAULT 0\n"
    "    CHECK (manual_stop IN (0, 1));\n",
};

_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION, "one migration per schema version");
_Static_assert(STORE_APPLICATION_ID == 1769172836, "migration 1 writes STORE_APPLICATION_ID");

static void sqlite_closep(sqlite3 **db)
{
    if (*db)
        (void)sqlite3_close_v2(*db);
}

static void stmt_finalizep(sqlite3_stmt **st)
{
    if (*st)
        (void)sqlite3_finalize(*st);
}

/* Chooses the errno api/ will map: a conflict is 409, the rest mostly 500. */
static int sqlite_errno(sqlite3 *db, int rc)
{
    int e;

    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    /* ON DELETE RESTRICT fails through SQLite's internal trigger; the schema has no
     * triggers of its own. */
    case SQLITE_CONSTRAINT_TRIGGER:
        return EBUSY;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_READONLY:
        return EROFS;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_TOOBIG:
        return E2BIG;
    case SQLITE_CONSTRAINT:
        return EINVAL;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        e = db ? sqlite3_system_errno(db) : 0;
        return e > 0 ? e : EIO;
    default:
        return EIO;
    }
}

static int db_verror(sqlite3 *db, int rc, struct iso_err *err, const char *fmt, va_list ap)
    _printf_(4, 0);
static int db_verror(sqlite3 *db, int rc, struct iso_err *err, const char *fmt, va_list ap)
{
    char what[ISO_ERR_MSG_MAX];
    const char *msg = db && sqlite3_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    vsnprintf(what, sizeof(what), fmt, ap);
    return iso_err_set(err, sqlite_errno(db, rc), "%s: %s", what, msg);
}

static int db_error(sqlite3 *db, int rc, struct iso_err *err, const char *fmt, ...) _printf_(4, 5);
static int db_error(sqlite3 *db, int rc, struct iso_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = db_verror(db, rc, err, fmt, ap);
    va_end(ap);
    return r;
}

int store_db_error(struct store *s, int rc, struct iso_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = db_verror(s ? s->db : NULL, rc, err, fmt, ap);
    va_end(ap);
    return r;
}

/* Runs a statement that returns one integer (a pragma, a count). */
static int db_get_int(sqlite3 *db, const char *sql, int64_t *ret)
{
    _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
    *ret = sqlite3_column_int64(st, 0);
    return SQLITE_OK;
}

/* Runs a statement that returns one text (or no row: *ret = NULL), copied into buf. */
static int db_get_text(sqlite3 *db, const char *sql, char *buf, size_t size, const char **ret)
{
    _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        *ret = NULL;
        return SQLITE_OK;
    }
    if (rc != SQLITE_ROW)
        return rc;
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, size, "%s", t ? (const char *)t : "");
    *ret = buf;
    return SQLITE_OK;
}

/* A table, index, view or trigger that is not SQLite's own. */
#define SQL_FIRST_OBJECT                                                                           \
    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1"

static int db_corrupt(const char *path, const char *reason, struct iso_err *err)
{
    char why[256];

    /* quick_check answers "*** in database main ***\nPage 2: ...": keep one line. */
    if (strneq(reason, "*** in database main ***", 24))
        reason += 24;
    snprintf(why, sizeof(why), "%s", reason + strspn(reason, " \n"));
    for (char *c = why; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return iso_err_set(err, EINVAL,
                       "database '%s' is corrupt or not an isod database (%s); move it away to "
                       "start with an empty store",
                       path, why);
}

/* The checks that decide whether the file is ours and readable by this build. They only
 * read, so they are safe on the read-only probe and again under the write lock. */
static int db_check(sqlite3 *db, const char *path, bool quick_check, int *ret_version,
                    struct iso_err *err)
{
    char buf[256];
    const char *text = NULL;
    int64_t version = 0, app_id = 0;
    int rc;

    rc = db_get_int(db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK)
        rc = db_get_int(db, "PRAGMA application_id", &app_id);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return db_corrupt(path, sqlite3_errmsg(db), err);
    if (rc != SQLITE_OK)
        return db_error(db, rc, err, "read database '%s'", path);

    if (app_id != 0 && app_id != STORE_APPLICATION_ID)
        return iso_err_set(err, EINVAL,
                           "database '%s' belongs to another program (application_id 0x%08x); "
                           "move it away to start with an empty store",
                           path, (unsigned)app_id);
    if (version > STORE_SCHEMA_VERSION)
        return iso_err_set(err, EPROTO,
                           "database '%s' has schema version %d, newer than this isod's (%d); "
                           "upgrade isod, or move the database away to start with an empty store",
                           path, (int)version, STORE_SCHEMA_VERSION);
    if (version < 0 || (version > 0 && app_id != STORE_APPLICATION_ID))
        return iso_err_set(err, EINVAL,
                           "database '%s' is not an isod database (schema version %d, "
                           "application_id 0x%08x); move it away to start with an empty store",
                           path, (int)version, (unsigned)app_id);

    if (quick_check) {
        /* Reads every page once: about a millisecond per megabyte, and isod.db stays small
         * (no blobs, no logs). One error row is enough to refuse. */
        rc = db_get_text(db, "PRAGMA quick_check(1)", buf, sizeof(buf), &text);
        if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
            return db_corrupt(path, sqlite3_errmsg(db), err);
        if (rc != SQLITE_OK)
            return db_error(db, rc, err, "check database '%s'", path);
        if (!text || !streq(text, "ok"))
            return db_corrupt(path, text ? text : "quick_check returned nothing", err);
    }

    /* Version 0 is a new database: it must be empty, or we would build our tables next to
     * somebody else's. */
    if (version == 0) {
        rc = db_get_text(db, SQL_FIRST_OBJECT, buf, sizeof(buf), &text);
        if (rc != SQLITE_OK)
            return db_error(db, rc, err, "read database '%s'", path);
        if (text)
            return iso_err_set(err, EINVAL,
                               "database '%s' is not an isod database (it has no schema version "
                               "but holds '%s'); move it away to start with an empty store",
                               path, text);
    }

    *ret_version = (int)version;
    return 0;
}

static int path_exists(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0)
        return 1;
    return errno == ENOENT ? 0 : -errno;
}

/* "file:" URI for path: every byte outside the unreserved set is %-escaped. */
static char *db_uri(const char *path, const char *query)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(path);
    char *u = malloc(strlen("file://") + 3 * n + 1 + strlen(query) + 1);
    char *p;

    if (!u)
        return NULL;
    /* An empty authority, so "//x" in a path cannot be read as a host. */
    p = stpcpy(u, path[0] == '/' ? "file://" : "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("/-._~", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p++ = '?';
    memcpy(p, query, strlen(query) + 1);
    return u;
}

/*
 * Looks at an existing database without changing a byte. A plain read-only connection to a
 * WAL database creates -wal and -shm, and cannot delete them on close (that takes a write
 * lock). So when there is no -wal (nor -journal), every committed page is in the main file and
 * it is opened immutable=1: no locks, no side files. With a -wal (isod crashed, or it runs)
 * the WAL must be read, so it is opened normally, and side files the probe created are removed
 * again. The caller holds the root's lock, so no other isod is starting meanwhile.
 */
static int db_probe(const char *path, struct iso_err *err)
{
    _cleanup_free_ char *wal = NULL, *shm = NULL, *journal = NULL;
    _cleanup_(sqlite_closep) sqlite3 *db = NULL;
    int had_wal, had_shm, had_journal, version, rc, r;
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return iso_err_set_errno(err, errno, "stat database '%s'", path);
    }
    if (!S_ISREG(st.st_mode))
        return iso_err_set(err, EINVAL,
                           "database '%s' is not a regular file; move it away to start with an "
                           "empty store",
                           path);
    if (st.st_size == 0)
        return 0;

    wal = iso_strprintf("%s-wal", path);
    shm = iso_strprintf("%s-shm", path);
    journal = iso_strprintf("%s-journal", path);
    if (!wal || !shm || !journal)
        return iso_err_set(err, ENOMEM, "out of memory");
    had_wal = path_exists(wal);
    if (had_wal < 0)
        return iso_err_set_errno(err, had_wal, "stat '%s'", wal);
    had_shm = path_exists(shm);
    if (had_shm < 0)
        return iso_err_set_errno(err, had_shm, "stat '%s'", shm);
    had_journal = path_exists(journal);
    if (had_journal < 0)
        return iso_err_set_errno(err, had_journal, "stat '%s'", journal);

    char *uri = db_uri(path, had_wal || had_journal ? "mode=ro" : "mode=ro&immutable=1");
    if (!uri)
        return iso_err_set(err, ENOMEM, "out of memory");
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW,
                         NULL);
    free(uri);
    if (rc != SQLITE_OK)
        return db_error(db, rc, err, "open database '%s' read-only", path);
    (void)sqlite3_extended_result_codes(db, 1);
    (void)sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);

    r = db_check(db, path, true, &version, err);

    (void)sqlite3_close_v2(TAKE_PTR(db));
    if (!had_wal)
        (void)unlink(wal);
    if (!had_shm)
        (void)unlink(shm);
    return r;
}

/* what names the step in the error message (the SQL can be a whole migration). */
static int db_exec(struct store *s, const char *sql, const char *what, struct iso_err *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_error(s->db, rc, err, "database '%s': %s", s->path, what);
    return 0;
}

/* Runs migrations until user_version is STORE_SCHEMA_VERSION, one transaction each. The
 * version is read again under the write lock. */
static int db_migrate(struct store *s, struct iso_err *err)
{
    char sql[64], what[64];
    int version = 0, r;

    for (;;) {
        r = store_tx_begin(s, err);
        if (r < 0)
            return r;
        r = db_check(s->db, s->path, false, &version, err);
        if (r < 0)
            goto fail;
        if (version == STORE_SCHEMA_VERSION) {
            store_tx_rollback(s);
            return 0;
        }

        snprintf(what, sizeof(what), "migrate to schema version %d", version + 1);
        r = db_exec(s, migrations[version], what, err);
        if (r < 0)
            goto fail;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
        r = db_exec(s, sql, what, err);
        if (r < 0)
            goto fail;

        char buf[256];
        const char *bad = NULL;
        int rc = db_get_text(s->db, "PRAGMA foreign_key_check", buf, sizeof(buf), &bad);
        if (rc != SQLITE_OK) {
            r = db_error(s->db, rc, err, "database '%s': foreign_key_check", s->path);
            goto fail;
        }
        if (bad) {
            r = iso_err_set(err, EIO,
                            "database '%s': migration to schema version %d leaves rows in '%s' "
                            "with a dangling reference",
                            s->path, version + 1, bad);
            goto fail;
        }

        r = store_tx_commit(s, err);
        if (r < 0)
            goto fail;
    }
fail:
    store_tx_rollback(s);
    return r;
}

/* Creates the file 0600 (it holds container configs, environment included) before SQLite
 * does: SQLite gives -wal and -shm the mode of the database. */
static int db_create_file(const char *path, struct iso_err *err)
{
    _cleanup_close_ int fd = -1;
    struct stat st;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "open database '%s'", path);
    if (fstat(fd, &st) < 0)
        return iso_err_set_errno(err, errno, "stat database '%s'", path);
    if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
        return iso_err_set_errno(err, errno, "chmod database '%s'", path);
    /* Closed before SQLite opens it: closing any fd of a file drops its POSIX locks. */
    return 0;
}

int store_open(const char *root, struct store **ret, struct iso_err *err)
{
    _cleanup_free_ struct store *s = NULL;
    _cleanup_free_ char *path = NULL;
    char buf[32];
    const char *mode = NULL;
    int64_t fk = 0;
    int rc, r;

    path = iso_strprintf("%s/" DB_FILE, root);
    if (!path)
        return iso_err_set(err, ENOMEM, "out of memory");

    r = db_probe(path, err);
    if (r < 0)
        return r;
    r = db_create_file(path, err);
    if (r < 0)
        return r;

    s = calloc(1, sizeof(*s));
    if (!s)
        return iso_err_set(err, ENOMEM, "out of memory");
    s->path = TAKE_PTR(path);

    rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK) {
        r = db_error(s->db, rc, err, "open database '%s'", s->path);
        goto fail;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, DB_BUSY_TIMEOUT_MS);
    /* Hardening: no writable_schema games, no SQL functions run from a schema, and "x" is
     * always an identifier, never a string. */
    (void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    (void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    (void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    (void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);

    /* WAL: readers (API listings) never wait for a writer (a pull committing). */
    rc = db_get_text(s->db, "PRAGMA journal_mode = WAL", buf, sizeof(buf), &mode);
    if (rc != SQLITE_OK) {
        r = db_error(s->db, rc, err, "database '%s': set WAL mode", s->path);
        goto fail;
    }
    if (!mode || !streq(mode, "wal")) {
        r = iso_err_set(err, EOPNOTSUPP,
                        "database '%s': cannot use WAL mode (got '%s'); put the root on a local "
                        "file system",
                        s->path, mode ? mode : "");
        goto fail;
    }
    /* FULL, not NORMAL: with NORMAL a commit is safe from kill -9 but not from power loss,
     * since the WAL is only synced at checkpoints. A pull or create that reported success
     * must survive both (DESIGN.md §3). The price is one fsync of the WAL per transaction,
     * and isod commits a handful per API call at most. */
    r = db_exec(s, "PRAGMA synchronous = FULL", "set synchronous", err);
    if (r < 0)
        goto fail;

    /* Off while migrating (see migrations[]); on for good afterwards. The pragma is a no-op
     * inside a transaction, so it is set here, between them. */
    r = db_exec(s, "PRAGMA foreign_keys = OFF", "disable foreign keys", err);
    if (r < 0)
        goto fail;
    r = db_migrate(s, err);
    if (r < 0)
        goto fail;
    r = db_exec(s, "PRAGMA foreign_keys = ON", "enable foreign keys", err);
    if (r < 0)
        goto fail;
    /* A SQLite built without foreign keys answers nothing, and ON DELETE RESTRICT would
     * silently not hold. */
    rc = db_get_int(s->db, "PRAGMA foreign_keys", &fk);
    if (rc != SQLITE_OK || fk != 1) {
        r = iso_err_set(err, EOPNOTSUPP, "database '%s': this SQLite does not enforce foreign keys",
                        s->path);
        goto fail;
    }

    *ret = TAKE_PTR(s);
    return 0;
fail:
    store_close(TAKE_PTR(s));
    return r;
}

struct store *store_close(struct store *s)
{
    if (!s)
        return NULL;
    if (s->db) {
        for (size_t i = 0; i < ARRAY_SIZE(s->stmts); i++)
            (void)sqlite3_finalize(s->stmts[i]);
        /* Folds the WAL into the main file and empties it, so the file alone is the whole
         * database (for backups and the next start's probe). Failing is harmless: the WAL
         * is replayed on the next open. */
        (void)sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        (void)sqlite3_close_v2(s->db);
    }
    free(s->path);
    free(s);
    return NULL;
}

struct sqlite3 *store_db_handle(struct store *s)
{
    return s->db;
}

int store_query_get(struct store *s, enum store_query q, struct sqlite3_stmt **ret,
                    struct iso_err *err)
{
    assert(q >= 0 && q < _STORE_Q_MAX && queries[q]);
    if (!s->stmts[q]) {
        int rc = sqlite3_prepare_v3(s->db, queries[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[q],
                                    NULL);
        if (rc != SQLITE_OK)
            return db_error(s->db, rc, err, "database '%s': prepare '%s'", s->path, queries[q]);
    }
    *ret = s->stmts[q];
    return 0;
}

void store_query_resetp(struct sqlite3_stmt **stmt)
{
    if (*stmt) {
        (void)sqlite3_reset(*stmt);
        (void)sqlite3_clear_bindings(*stmt);
    }
}

static int tx_step(struct store *s, enum store_query q, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = store_query_get(s, q, &st, err);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return db_error(s->db, rc, err, "database '%s': %s", s->path, queries[q]);
    return 0;
}

int store_tx_begin(struct store *s, struct iso_err *err)
{
    return tx_step(s, STORE_Q_BEGIN, err);
}

int store_tx_commit(struct store *s, struct iso_err *err)
{
    return tx_step(s, STORE_Q_COMMIT, err);
}

void store_tx_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)tx_step(s, STORE_Q_ROLLBACK, NULL);
}

int store_counts_get(struct store *s, struct store_counts *ret, struct iso_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = store_query_get(s, STORE_Q_COUNTS, &st, err);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return db_error(s->db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                        "database '%s': count objects", s->path);

    int64_t containers = sqlite3_column_int64(st, 2);
    int64_t running = sqlite3_column_int64(st, 3);
    int64_t paused = sqlite3_column_int64(st, 4);
    *ret = (struct store_counts){
        .images = sqlite3_column_int64(st, 0),
        .layers = sqlite3_column_int64(st, 1),
        .containers = containers,
        .containers_running = running,
        .containers_paused = paused,
        .containers_stopped = containers - running - paused,
    };
    return 0;
}

int store_schema_version(struct store *s)
{
    int64_t v = 0;
    int rc = db_get_int(s->db, "PRAGMA user_version", &v);
    if (rc != SQLITE_OK)
        return -sqlite_errno(s->db, rc);
    return (int)v;
}
