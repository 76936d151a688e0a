#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "common/util.h"
#include "store/db.h"
#include "tests/unit/tap.h"

#define IMG1     "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define IMG2     "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define LAYER1   "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LAYER2   "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CID16(c) c c c c c c c c c c c c c c c c
/* A quoted 64-hex id made of one repeated digit. */
#define CID(c) "'" CID16(c) CID16(c) CID16(c) CID16(c) "'"

/* An arbitrary past time: anything that writes the file moves its mtime to now. */
#define OLD_MTIME 1000000000

struct fixture {
    char dir[32];
    char db[64];
};

static int fixture_init(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/isod-unit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -errno;
    snprintf(f->db, sizeof(f->db), "%s/isod.db", f->dir);
    return 0;
}

static void fixture_done(struct fixture *f)
{
    (void)tap_rmtree(f->dir);
}

/* Runs SQL on the file with a connection of our own; returns the SQLite result. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        printf("# raw_exec: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

/* The first column of the first row as text (or "" / "(error)"), into buf. */
static const char *raw_query(sqlite3 *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;

    snprintf(buf, size, "(error)");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return buf;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc == SQLITE_DONE)
        snprintf(buf, size, "%s", "");
    sqlite3_finalize(st);
    return buf;
}

static bool side_file_exists(const struct fixture *f, const char *suffix)
{
    char p[96];
    struct stat st;

    snprintf(p, sizeof(p), "%s%s", f->db, suffix);
    return lstat(p, &st) == 0;
}

struct snapshot {
    char *bytes;
    size_t len;
    struct stat st;
};

/* Reads the file and pins its mtime in the past, so a later write shows. */
static int snapshot_take(const char *path, struct snapshot *snap)
{
    const struct timespec ts[2] = {{.tv_sec = OLD_MTIME}, {.tv_sec = OLD_MTIME}};

    if (utimensat(AT_FDCWD, path, ts, 0) < 0)
        return -errno;
    if (stat(path, &snap->st) < 0)
        return -errno;
    return iso_read_file_at(AT_FDCWD, path, 1 << 24, &snap->bytes, &snap->len);
}

static bool snapshot_same(const char *path, const struct snapshot *snap)
{
    _cleanup_free_ char *bytes = NULL;
    size_t len = 0;
    struct stat st;

    if (stat(path, &st) < 0 || iso_read_file_at(AT_FDCWD, path, 1 << 24, &bytes, &len) < 0)
        return false;
    return len == snap->len && (len == 0 || memcmp(bytes, snap->bytes, len) == 0) &&
           st.st_mtim.tv_sec == snap->st.st_mtim.tv_sec &&
           st.st_mtim.tv_nsec == snap->st.st_mtim.tv_nsec && st.st_mode == snap->st.st_mode;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, mode) < 0)
        return -errno;
    return iso_write_all(fd, data, len);
}

static const char *const tables[] = {"images",       "tags",       "layers",
                                     "image_layers", "containers", "execs"};

static void test_fresh_create(void)
{
    struct fixture f = {0};
    struct store *s = NULL;
    struct store_counts c;
    struct iso_err err = {0};
    struct stat st;
    sqlite3 *raw = NULL;
    char buf[64], sql[128];

    ASSERT_EQ(fixture_init(&f), 0);
    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    ASSERT_EQ(store_schema_version(s), STORE_SCHEMA_VERSION);
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.images + c.layers + c.containers, 0);
    ASSERT_EQ(c.containers_running + c.containers_paused + c.containers_stopped, 0);

    ASSERT_EQ(stat(f.db, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0600);

    ASSERT_EQ(sqlite3_open(f.db, &raw), SQLITE_OK);
    ASSERT_STREQ(raw_query(raw, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
    ASSERT_STREQ(raw_query(raw, "PRAGMA application_id", buf, sizeof(buf)), "1769172836");
    for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
                 tables[i]);
        ASSERT_STREQ(raw_query(raw, sql, buf, sizeof(buf)), "1");
    }
    sqlite3_close(raw);

    /* The store's own connection enforces foreign keys and waits on a busy database. */
    ASSERT_STREQ(raw_query(store_db_handle(s), "PRAGMA foreign_keys", buf, sizeof(buf)), "1");
    ASSERT_STREQ(raw_query(store_db_handle(s), "PRAGMA synchronous", buf, sizeof(buf)), "2");
    ASSERT_STREQ(raw_query(store_db_handle(s), "PRAGMA busy_timeout", buf, sizeof(buf)), "5000");
    /* -wal and -shm take the database's mode. */
    snprintf(sql, sizeof(sql), "%s-wal", f.db);
    ASSERT_EQ(stat(sql, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0600);

    /* The checkpoint on close leaves the main file complete, without side files. */
    s = store_close(s);
    ASSERT_TRUE(!side_file_exists(&f, "-wal"));
    ASSERT_TRUE(!side_file_exists(&f, "-shm"));
    fixture_done(&f);
}

static const char *const rows =
    "INSERT INTO layers VALUES ('" LAYER1 "', '" LAYER1 "', NULL, 10, 1);"
    "INSERT INTO layers VALUES ('" LAYER2 "', '" LAYER2 "', '" LAYER1 "', 20, 1);"
    "INSERT INTO images (id, created, added, size, architecture, os) VALUES"
    "  ('" IMG1 "', 1, 2, 30, 'amd64', 'linux'), ('" IMG2 "', 1, 2, 10, 'amd64', 'linux');"
    "INSERT INTO image_layers VALUES ('" IMG1 "', 0, '" LAYER1 "'), ('" IMG1 "', 1, '" LAYER2
    "'), ('" IMG2 "', 0, '" LAYER1 "');"
    "INSERT INTO tags VALUES ('docker.io/library/busybox:latest', '" IMG1 "', 3),"
    "  ('docker.io/library/busybox:1', '" IMG1 "', 3), ('docker.io/library/x:1', '" IMG2 "', 3);"
    "INSERT INTO containers (id, name, image_id, state, config, created) VALUES"
    "  (" CID(
        "1") ", 'r1', '" IMG1 "', 'running', '{}', 5),"
             "  (" CID(
                 "2") ", 'r2', '" IMG1 "', 'running', '{}', 5),"
                      "  (" CID(
                          "3") ", 'p1', '" IMG1 "', 'paused', '{}', 5),"
                               "  (" CID(
                                   "4") ", 'c1', '" IMG1 "', 'created', '{}', 5),"
                                        "  (" CID(
                                            "5") ", 'e1', '" IMG1 "', 'exited', '{}', 5),"
                                                 "  (" CID(
                                                     "6") ", 'x1', '" IMG1
                                                          "', 'restarting', '{}', 5),"
                                                          "  (" CID(
                                                              "7") ", 'd1', '" IMG1
                                                                   "', 'dead', '{}', 5);"
                                                                   "INSERT INTO execs (id, "
                                                                   "container_id, config, created) "
                                                                   "VALUES (" CID("e") ", " CID(
                                                                       "1") ", '{}', 6);";

static void test_reopen_counts(void)
{
    struct fixture f = {0};
    struct store *s = NULL;
    struct store_counts c;
    struct iso_err err = {0};

    ASSERT_EQ(fixture_init(&f), 0);
    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    s = store_close(s);
    ASSERT_EQ(raw_exec(f.db, rows), SQLITE_OK);

    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    ASSERT_EQ(store_schema_version(s), STORE_SCHEMA_VERSION);
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.images, 2);
    ASSERT_EQ(c.layers, 2);
    ASSERT_EQ(c.containers, 7);
    ASSERT_EQ(c.containers_running, 2);
    ASSERT_EQ(c.containers_paused, 1);
    ASSERT_EQ(c.containers_stopped, 4);

    /* The cached statement sees later writes, from another connection too. */
    ASSERT_EQ(raw_exec(f.db, "UPDATE containers SET state = 'exited' WHERE name = 'r1'"),
              SQLITE_OK);
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.containers_running, 1);
    ASSERT_EQ(c.containers_stopped, 5);
    s = store_close(s);

    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.containers_running, 1);
    s = store_close(s);
    fixture_done(&f);
}

static void test_constraints(void)
{
    struct fixture f = {0};
    struct store *s = NULL;
    struct store_counts c;
    struct iso_err err = {0};
    sqlite3 *db;
    char buf[64];
    int rc;

    ASSERT_EQ(fixture_init(&f), 0);
    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    db = store_db_handle(s);
    ASSERT_EQ(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);

    /* An image a container uses cannot vanish. */
    rc = sqlite3_exec(db, "DELETE FROM images WHERE id = '" IMG1 "'", NULL, NULL, NULL);
    ASSERT_EQ(rc & 0xff, SQLITE_CONSTRAINT);
    ASSERT_EQ(store_db_error(s, rc, &err, "remove image"), -EBUSY);
    ASSERT_STRSTR(err.msg, "remove image: FOREIGN KEY constraint failed");

    /* Nor can a layer an image uses, or a parent layer. */
    rc = sqlite3_exec(db, "DELETE FROM layers WHERE chain_id = '" LAYER2 "'", NULL, NULL, NULL);
    ASSERT_EQ(store_db_error(s, rc, &err, "remove layer"), -EBUSY);
    rc = sqlite3_exec(db, "DELETE FROM layers WHERE chain_id = '" LAYER1 "'", NULL, NULL, NULL);
    ASSERT_EQ(store_db_error(s, rc, &err, "remove layer"), -EBUSY);

    /* Removing an image takes its tags and layer list with it; the layers stay. */
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM images WHERE id = '" IMG2 "'", NULL, NULL, NULL),
              SQLITE_OK);
    ASSERT_STREQ(raw_query(db, "SELECT count(*) FROM tags", buf, sizeof(buf)), "2");
    ASSERT_STREQ(raw_query(db, "SELECT count(*) FROM image_layers", buf, sizeof(buf)), "2");
    ASSERT_STREQ(raw_query(db, "SELECT count(*) FROM layers", buf, sizeof(buf)), "2");

    /* Removing a container takes its execs. */
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM containers WHERE name = 'r1'", NULL, NULL, NULL),
              SQLITE_OK);
    ASSERT_STREQ(raw_query(db, "SELECT count(*) FROM execs", buf, sizeof(buf)), "0");

    /* Names are unique, states and ids are checked, references must exist. */
    rc = sqlite3_exec(db,
                      "INSERT INTO containers (id, name, image_id, config, created) VALUES"
                      " (" CID("9") ", 'r2', '" IMG1 "', '{}', 1)",
                      NULL, NULL, NULL);
    ASSERT_EQ(rc, SQLITE_CONSTRAINT_UNIQUE);
    ASSERT_EQ(store_db_error(s, rc, &err, "create container '%s'", "r2"), -EEXIST);
    rc = sqlite3_exec(db, "UPDATE containers SET state = 'sleeping' WHERE name = 'r2'", NULL, NULL,
                      NULL);
    ASSERT_EQ(rc, SQLITE_CONSTRAINT_CHECK);
    ASSERT_EQ(store_db_error(s, rc, &err, "update"), -EINVAL);
    rc = sqlite3_exec(db,
                      "INSERT INTO containers (id, name, image_id, config, created) VALUES"
                      " ('ABC', 'n', '" IMG1 "', '{}', 1)",
                      NULL, NULL, NULL);
    ASSERT_EQ(rc, SQLITE_CONSTRAINT_CHECK);
    rc = sqlite3_exec(db,
                      "INSERT INTO tags VALUES ('docker.io/library/y:1', 'sha256:"
                      "0000000000000000000000000000000000000000000000000000000000000000', 1)",
                      NULL, NULL, NULL);
    ASSERT_EQ(rc, SQLITE_CONSTRAINT_FOREIGNKEY);
    ASSERT_EQ(store_db_error(s, rc, &err, "tag"), -EBUSY);

    /* Transactions: a rollback undoes, a commit keeps. */
    ASSERT_EQ(store_tx_begin(s, &err), 0);
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM containers", NULL, NULL, NULL), SQLITE_OK);
    store_tx_rollback(s);
    store_tx_rollback(s); /* harmless without a transaction */
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.containers, 6);
    ASSERT_EQ(store_tx_begin(s, &err), 0);
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM containers", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(store_tx_commit(s, &err), 0);
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.containers, 0);
    ASSERT_EQ(store_tx_commit(s, &err), -EIO);
    ASSERT_STRSTR(err.msg, "no transaction is active");

    s = store_close(s);
    fixture_done(&f);
}

/* store_open on f fails with code and a message holding want, and leaves the file as it
 * was, with no side files. */
static void assert_refused(struct fixture *f, int code, const char *want)
{
    struct snapshot snap = {0};
    struct store *s = NULL;
    struct iso_err err = {0};

    ASSERT_EQ(snapshot_take(f->db, &snap), 0);
    ASSERT_EQ(store_open(f->dir, &s, &err), -code);
    ASSERT_TRUE(s == NULL);
    ASSERT_EQ(err.code, code);
    ASSERT_STRSTR(err.msg, f->db);
    ASSERT_STRSTR(err.msg, want);
    printf("# %s\n", err.msg);
    ASSERT_TRUE(snapshot_same(f->db, &snap));
    free(snap.bytes);
    ASSERT_TRUE(!side_file_exists(f, "-wal"));
    ASSERT_TRUE(!side_file_exists(f, "-shm"));
    ASSERT_TRUE(!side_file_exists(f, "-journal"));
}

static void test_refuse_garbage(void)
{
    struct fixture f = {0};
    char junk[8192];

    ASSERT_EQ(fixture_init(&f), 0);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = "not a database\n"[i % 15];
    ASSERT_EQ(write_file(f.db, junk, sizeof(junk), 0644), 0);
    assert_refused(&f, EINVAL, "is corrupt or not an isod database (file is not a database)");
    if (tap_cur_failed)
        return;

    /* A right header over a broken page. */
    ASSERT_EQ(unlink(f.db), 0);
    ASSERT_EQ(raw_exec(f.db, "PRAGMA page_size = 4096; CREATE TABLE t (x);"
                             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                             " WHERE i < 500) INSERT INTO t SELECT randomblob(100) FROM n;"),
              SQLITE_OK);
    int fd = open(f.db, O_WRONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    memset(junk, 0xa5, 512);
    ASSERT_EQ(pwrite(fd, junk, 512, 4096), 512); /* page 2's b-tree header */
    close(fd);
    assert_refused(&f, EINVAL, "is corrupt or not an isod database (Page 2: btreeInitPage");
    if (tap_cur_failed)
        return;

    /* Not a regular file. */
    ASSERT_EQ(unlink(f.db), 0);
    ASSERT_EQ(mkdir(f.db, 0700), 0);
    struct store *s = NULL;
    struct iso_err err = {0};
    ASSERT_EQ(store_open(f.dir, &s, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "is not a regular file");
    fixture_done(&f);
}

static void test_refuse_newer(void)
{
    struct fixture f = {0};

    ASSERT_EQ(fixture_init(&f), 0);
    /* What a newer isod leaves after a clean stop: WAL mode, no side files. */
    ASSERT_EQ(raw_exec(f.db,
                       "PRAGMA journal_mode = WAL; PRAGMA application_id = 1769172836;"
                       "CREATE TABLE images (id TEXT PRIMARY KEY); PRAGMA user_version = 99;"),
              SQLITE_OK);
    ASSERT_TRUE(!side_file_exists(&f, "-wal"));
    assert_refused(&f, EPROTO, "has schema version 99, newer than this isod's (2); upgrade isod");
    fixture_done(&f);
}

static void test_refuse_foreign(void)
{
    struct fixture f = {0};

    ASSERT_EQ(fixture_init(&f), 0);
    ASSERT_EQ(raw_exec(f.db, "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('a');"),
              SQLITE_OK);
    assert_refused(&f, EINVAL, "it has no schema version but holds 'users'");
    if (tap_cur_failed)
        return;

    ASSERT_EQ(raw_exec(f.db, "PRAGMA user_version = 1"), SQLITE_OK);
    assert_refused(&f, EINVAL, "is not an isod database (schema version 1, application_id 0x0");
    if (tap_cur_failed)
        return;

    ASSERT_EQ(raw_exec(f.db, "PRAGMA application_id = 42"), SQLITE_OK);
    assert_refused(&f, EINVAL, "belongs to another program (application_id 0x0000002a)");
    fixture_done(&f);
}

static void test_migrate_empty(void)
{
    struct fixture f = {0};
    struct store *s = NULL;
    struct iso_err err = {0};
    struct stat st;

    /* A zero-byte file, as `touch` leaves it, and wider than 0600. */
    ASSERT_EQ(fixture_init(&f), 0);
    ASSERT_EQ(write_file(f.db, "", 0, 0644), 0);
    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    ASSERT_EQ(store_schema_version(s), STORE_SCHEMA_VERSION);
    ASSERT_EQ(stat(f.db, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0600);
    s = store_close(s);

    /* A SQLite database at version 0 without tables, in rollback-journal mode. */
    ASSERT_EQ(unlink(f.db), 0);
    ASSERT_EQ(raw_exec(f.db, "CREATE TABLE t (x); DROP TABLE t;"), SQLITE_OK);
    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    ASSERT_EQ(store_schema_version(s), STORE_SCHEMA_VERSION);
    s = store_close(s);
    ASSERT_EQ(raw_exec(f.db, rows), SQLITE_OK);
    fixture_done(&f);
}

/* isod killed after a commit: the data is in the -wal only, and the next start reads it. */
static void test_crash_wal(void)
{
    struct fixture f = {0};
    struct store *s = NULL;
    struct store_counts c;
    struct iso_err err = {0};
    int status;
    pid_t pid;

    ASSERT_EQ(fixture_init(&f), 0);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        if (store_open(f.dir, &s, &err) < 0 ||
            sqlite3_exec(store_db_handle(s), rows, NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_TRUE(side_file_exists(&f, "-wal"));

    ASSERT_EQ(store_open(f.dir, &s, &err), 0);
    ASSERT_EQ(store_counts_get(s, &c, &err), 0);
    ASSERT_EQ(c.containers, 7);
    s = store_close(s);

    /* Same, but the WAL carries a newer schema: refused, and the WAL is not folded in. */
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        if (store_open(f.dir, &s, &err) < 0 ||
            sqlite3_exec(store_db_handle(s), "PRAGMA user_version = 7", NULL, NULL, NULL) !=
                SQLITE_OK)
            _exit(1);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Without its -shm, which SQLite rebuilds from the -wal: the probe's own is removed. */
    char wal[96], shm[96];
    struct snapshot db_snap = {0}, wal_snap = {0};
    snprintf(wal, sizeof(wal), "%s-wal", f.db);
    snprintf(shm, sizeof(shm), "%s-shm", f.db);
    ASSERT_EQ(unlink(shm), 0);
    ASSERT_EQ(snapshot_take(f.db, &db_snap), 0);
    ASSERT_EQ(snapshot_take(wal, &wal_snap), 0);
    ASSERT_EQ(store_open(f.dir, &s, &err), -EPROTO);
    ASSERT_STRSTR(err.msg, "schema version 7");
    ASSERT_TRUE(snapshot_same(f.db, &db_snap));
    ASSERT_TRUE(snapshot_same(wal, &wal_snap));
    ASSERT_TRUE(!side_file_exists(&f, "-shm"));
    free(db_snap.bytes);
    free(wal_snap.bytes);
    fixture_done(&f);
}

static void test_missing_root(void)
{
    struct store *s = NULL;
    struct iso_err err = {0};

    ASSERT_EQ(store_open("/nonexistent/isod-unit", &s, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "'/nonexistent/isod-unit/isod.db'");
    ASSERT_TRUE(store_close(NULL) == NULL);
}

int main(void)
{
    TEST(test_fresh_create);
    TEST(test_reopen_counts);
    TEST(test_constraints);
    TEST(test_refuse_garbage);
    TEST(test_refuse_newer);
    TEST(test_refuse_foreign);
    TEST(test_migrate_empty);
    TEST(test_crash_wal);
    TEST(test_missing_root);
    return tap_done();
}
