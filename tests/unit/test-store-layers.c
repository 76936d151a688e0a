/* store/layers.c: begin/publish/remove, the startup wipe of tmp/, short links, rm -rf by fd and
 * disk usage, in a temp root under /tmp. Needs root (device nodes, chattr, bind mounts). */
#include "store/layers.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/macro.h"
#include "tests/unit/tap.h"

static char tmp_dir[] = "/tmp/isod-test-layers-XXXXXX";
static int root_fd = -1;

static void layers_closep(struct store_layers **p)
{
    store_layers_close(*p);
}
#define _cleanup_layers_ _cleanup_(layers_closep)

static const char *chain(char buf[72], unsigned i)
{
    snprintf(buf, 72, "sha256:%064x", i);
    return buf;
}

static int write_at(int dfd, const char *name, const char *content)
{
    _cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        return -EIO;
    return 0;
}

/* The file's content, or "" if it cannot be read. */
static const char *read_at(int dfd, const char *name)
{
    static char buf[256];
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static int count_entries(int dfd, const char *path)
{
    int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -ENOMEM;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int make_layer(struct store_layers *ls, const char *chain_id, const char *file,
                      const char *content)
{
    struct store_layer_tmp t;
    struct iso_err err = {0};
    int r = store_layers_begin(ls, &t, &err);
    if (r < 0)
        return r;
    r = write_at(t.diff_fd, file, content);
    if (r < 0) {
        store_layers_abort(ls, &t);
        return r;
    }
    r = store_layers_publish(ls, &t, chain_id, &err);
    if (r < 0)
        printf("# publish: %s\n", err.msg);
    return r;
}

static void test_open_creates_dirs(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    struct stat st;

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    ASSERT_TRUE(store_layers_dirfd(ls) >= 0);
    const char *dirs[] = {"layers", "layers/l", "tmp"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        ASSERT_EQ(fstatat(root_fd, dirs[i], &st, AT_SYMLINK_NOFOLLOW), 0);
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0700);
    }
}

struct names {
    int n;
    char last[72];
};

static void collect(void *ud, const char *chain_id)
{
    struct names *names = ud;
    names->n++;
    snprintf(names->last, sizeof(names->last), "%s", chain_id);
}

static void test_publish_exists_list_remove(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    struct names names = {0};
    char id[72], short_id[27], path[128], target[128];
    struct stat st;

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    chain(id, 1);
    ASSERT_TRUE(!store_layers_exists(ls, id));
    ASSERT_EQ(make_layer(ls, id, "hello", "world"), 0);
    ASSERT_TRUE(store_layers_exists(ls, id));
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);

    snprintf(path, sizeof(path), "layers/%s/diff/hello", id + 7);
    ASSERT_STREQ(read_at(root_fd, path), "world");
    snprintf(path, sizeof(path), "layers/%s", id + 7);
    ASSERT_EQ(fstatat(root_fd, path, &st, 0), 0);
    ASSERT_EQ(st.st_mode & 07777, 0700);

    /* The short link: 26 chars of [A-Z0-9], resolving to the diff. */
    ASSERT_EQ(store_layers_short_id(ls, id, short_id, &err), 0);
    ASSERT_EQ(strlen(short_id), 26);
    ASSERT_EQ(strspn(short_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 26);
    snprintf(path, sizeof(path), "layers/l/%s", short_id);
    ssize_t n = readlinkat(root_fd, path, target, sizeof(target) - 1);
    ASSERT_TRUE(n > 0);
    target[n] = '\0';
    char want[128];
    snprintf(want, sizeof(want), "../%s/diff", id + 7);
    ASSERT_STREQ(target, want);
    snprintf(path, sizeof(path), "layers/l/%s/hello", short_id);
    ASSERT_STREQ(read_at(root_fd, path), "world");
    snprintf(path, sizeof(path), "l/%s/hello", short_id);
    ASSERT_STREQ(read_at(store_layers_dirfd(ls), path), "world");

    ASSERT_EQ(store_layers_list(ls, collect, &names, &err), 0);
    ASSERT_EQ(names.n, 1);
    ASSERT_STREQ(names.last, id);

    ASSERT_EQ(store_layers_remove(ls, id, &err), 0);
    ASSERT_TRUE(!store_layers_exists(ls, id));
    ASSERT_EQ(count_entries(root_fd, "layers/l"), 0);
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);
    names.n = 0;
    ASSERT_EQ(store_layers_list(ls, collect, &names, &err), 0);
    ASSERT_EQ(names.n, 0);

    ASSERT_EQ(store_layers_remove(ls, id, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "not found");
    ASSERT_EQ(store_layers_short_id(ls, id, short_id, &err), -ENOENT);
}

static void test_publish_twice_is_noop(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    char id[72], path[128], first[27], second[27];

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    chain(id, 2);
    ASSERT_EQ(make_layer(ls, id, "f", "first"), 0);
    ASSERT_EQ(store_layers_short_id(ls, id, first, &err), 0);
    ASSERT_EQ(make_layer(ls, id, "f", "second"), 0);
    ASSERT_EQ(store_layers_short_id(ls, id, second, &err), 0);
    ASSERT_STREQ(first, second);
    snprintf(path, sizeof(path), "layers/%s/diff/f", id + 7);
    ASSERT_STREQ(read_at(root_fd, path), "first");
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);
    ASSERT_EQ(count_entries(root_fd, "layers/l"), 1);
    ASSERT_EQ(store_layers_remove(ls, id, &err), 0);
}

struct racer {
    struct store_layers *ls;
    const char *id;
    int r;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    rc->r = make_layer(rc->ls, rc->id, "f", "race");
    return NULL;
}

static void test_publish_concurrent(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    struct racer rc[8];
    pthread_t th[8];
    char same[72], other[8][72];

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    chain(same, 3);
    /* Half race for one chain id, half publish their own. */
    for (unsigned i = 0; i < 8; i++) {
        rc[i] = (struct racer){ls, i % 2 ? same : chain(other[i], 100 + i), -1};
        ASSERT_EQ(pthread_create(&th[i], NULL, race, &rc[i]), 0);
    }
    for (unsigned i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    for (unsigned i = 0; i < 8; i++)
        ASSERT_EQ(rc[i].r, 0);
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);
    ASSERT_EQ(count_entries(root_fd, "layers/l"), 5);
    for (unsigned i = 0; i < 8; i++)
        if (store_layers_exists(ls, rc[i].id))
            ASSERT_EQ(store_layers_remove(ls, rc[i].id, &err), 0);
    ASSERT_EQ(count_entries(root_fd, "layers"), 1);
}

static void test_abort_and_bad_publish(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    struct store_layer_tmp t;

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    ASSERT_EQ(store_layers_begin(ls, &t, &err), 0);
    ASSERT_EQ(write_at(t.diff_fd, "x", "y"), 0);
    ASSERT_EQ(count_entries(root_fd, "tmp"), 1);
    store_layers_abort(ls, &t);
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);
    store_layers_abort(ls, &t); /* twice is harmless */

    ASSERT_EQ(store_layers_begin(ls, &t, &err), 0);
    ASSERT_EQ(store_layers_publish(ls, &t, "sha256:../../etc", &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "invalid chain id 'sha256:../../etc'");
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);
    ASSERT_EQ(count_entries(root_fd, "layers"), 1);
    ASSERT_TRUE(!store_layers_exists(ls, "sha256:../../etc"));
    ASSERT_EQ(store_layers_remove(ls, "sha256:", &err), -EINVAL);
}

/* Junk that a crash mid-pull could leave in tmp/: whatever an image contains. */
static int plant_junk(int dfd, bool *immutable_done)
{
    if (mkdirat(dfd, "junk", 0755) < 0)
        return -errno;
    _cleanup_close_ int j = openat(dfd, "junk", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char sentinel[256], outside[256];
    snprintf(sentinel, sizeof(sentinel), "%s/sentinel", tmp_dir);
    snprintf(outside, sizeof(outside), "%s/outside", tmp_dir);
    if (j < 0 || symlinkat(sentinel, j, "to-sentinel") < 0 || symlinkat(outside, j, "to-dir") < 0 ||
        symlinkat("../../../outside", j, "relative") < 0 || mkfifoat(j, "fifo", 0600) < 0)
        return -errno;
    /* A read-only dir with a file, and a file nobody may read. */
    if (mkdirat(j, "ro", 0755) < 0 || write_at(j, "ro/file", "x") < 0 ||
        fchmodat(j, "ro", 0500, 0) < 0 || write_at(j, "noperm", "x") < 0 ||
        fchmodat(j, "noperm", 0, 0) < 0)
        return -errno;
    /* Deeper than the fds rm -rf keeps open: 300 levels. */
    _cleanup_close_ int cur = openat(j, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < 300 && cur >= 0; i++) {
        if (mkdirat(cur, "d", 0700) < 0 || write_at(cur, "f", "x") < 0)
            return -errno;
        int next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        cur = next;
    }
    if (cur < 0)
        return -errno;
    /* An overlay whiteout and an immutable, append-only file. */
    if (mknodat(j, "whiteout", S_IFCHR | 0, makedev(0, 0)) < 0)
        return -errno;
    _cleanup_close_ int f = openat(j, "immutable", O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int flags = FS_IMMUTABLE_FL | FS_APPEND_FL;
    if (f >= 0 && ioctl(f, FS_IOC_SETFLAGS, &flags) == 0)
        *immutable_done = true;
    _cleanup_close_ int ro = openat(j, "ro", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    flags = FS_IMMUTABLE_FL;
    if (ro >= 0)
        (void)ioctl(ro, FS_IOC_SETFLAGS, &flags);
    return 0;
}

static void test_open_wipes_tmp(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    bool immutable = false;
    struct stat st;
    char id[72];

    ASSERT_EQ(mkdirat(root_fd, "outside", 0755), 0);
    ASSERT_EQ(write_at(root_fd, "sentinel", "keep me"), 0);
    ASSERT_EQ(write_at(root_fd, "outside/file", "keep me too"), 0);

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    chain(id, 4);
    ASSERT_EQ(make_layer(ls, id, "f", "published"), 0);
    ls = store_layers_close(ls);

    _cleanup_close_ int tmp = openat(root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(tmp >= 0);
    ASSERT_EQ(plant_junk(tmp, &immutable), 0);
    ASSERT_EQ(write_at(tmp, "top-file", "x"), 0);
    ASSERT_EQ(symlinkat("../sentinel", tmp, "top-link"), 0);
    if (!immutable)
        printf("# filesystem has no immutable flag; that part is not covered\n");

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    ASSERT_EQ(count_entries(root_fd, "tmp"), 0);
    ASSERT_STREQ(read_at(root_fd, "sentinel"), "keep me");
    ASSERT_STREQ(read_at(root_fd, "outside/file"), "keep me too");
    ASSERT_EQ(fstatat(root_fd, "outside", &st, 0), 0);
    ASSERT_EQ(st.st_mode & 07777, 0755);
    ASSERT_TRUE(store_layers_exists(ls, id));
    ASSERT_EQ(store_layers_remove(ls, id, &err), 0);
}

static void test_rm_rf_never_follows(void)
{
    _cleanup_close_ int d = -1;

    ASSERT_EQ(mkdirat(root_fd, "victim", 0700), 0);
    ASSERT_EQ(mkdirat(root_fd, "kept", 0700), 0);
    ASSERT_EQ(write_at(root_fd, "kept/file", "kept"), 0);
    d = openat(root_fd, "victim", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(d >= 0);
    ASSERT_EQ(symlinkat("../kept", d, "link"), 0);
    ASSERT_EQ(symlinkat("../kept", root_fd, "toplink"), 0);

    /* A symlink as the name itself: only the link goes. */
    ASSERT_EQ(store_rm_rf_at(root_fd, "toplink"), 0);
    ASSERT_EQ(faccessat(root_fd, "toplink", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    ASSERT_STREQ(read_at(root_fd, "kept/file"), "kept");
    /* And inside the tree. */
    ASSERT_EQ(store_rm_rf_at(root_fd, "victim"), 0);
    ASSERT_EQ(faccessat(root_fd, "victim", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    ASSERT_STREQ(read_at(root_fd, "kept/file"), "kept");

    ASSERT_EQ(store_rm_rf_at(root_fd, "missing"), 0);
    ASSERT_EQ(store_rm_rf_at(root_fd, ".."), -EINVAL);
    ASSERT_EQ(store_rm_rf_at(root_fd, "kept/file"), -EINVAL);
    ASSERT_EQ(store_rm_rf_at(root_fd, ""), -EINVAL);
    ASSERT_EQ(store_rm_rf_at(root_fd, "kept"), 0);
}

static void test_rm_rf_refuses_mounts(void)
{
    char src[256], dst[256];

    ASSERT_EQ(mkdirat(root_fd, "mnt-src", 0700), 0);
    ASSERT_EQ(write_at(root_fd, "mnt-src/precious", "x"), 0);
    ASSERT_EQ(mkdirat(root_fd, "tree", 0700), 0);
    ASSERT_EQ(mkdirat(root_fd, "tree/m", 0700), 0);
    ASSERT_EQ(write_at(root_fd, "tree/other", "x"), 0);
    snprintf(src, sizeof(src), "%s/mnt-src", tmp_dir);
    snprintf(dst, sizeof(dst), "%s/tree/m", tmp_dir);
    ASSERT_EQ(mount(src, dst, "none", MS_BIND, NULL), 0);

    ASSERT_EQ(store_rm_rf_at(root_fd, "tree"), -EBUSY);
    ASSERT_STREQ(read_at(root_fd, "mnt-src/precious"), "x");
    ASSERT_EQ(faccessat(root_fd, "tree/other", F_OK, 0), -1); /* the rest went */
    /* The mount point itself as the name. */
    _cleanup_close_ int tree = openat(root_fd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_EQ(store_rm_rf_at(tree, "m"), -EBUSY);
    ASSERT_STREQ(read_at(root_fd, "mnt-src/precious"), "x");

    ASSERT_EQ(umount2(dst, MNT_DETACH), 0);
    ASSERT_EQ(store_rm_rf_at(root_fd, "tree"), 0);
    ASSERT_EQ(store_rm_rf_at(root_fd, "mnt-src"), 0);
}

static void test_open_repairs_short_links(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    char id[72], short_id[27], again[27], path[128];

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    chain(id, 5);
    ASSERT_EQ(make_layer(ls, id, "f", "x"), 0);
    ASSERT_EQ(store_layers_short_id(ls, id, short_id, &err), 0);
    ls = store_layers_close(ls);

    /* Lost link (crash between rename and symlink), a dangling one and junk. */
    snprintf(path, sizeof(path), "layers/l/%s", short_id);
    ASSERT_EQ(unlinkat(root_fd, path, 0), 0);
    char gone[128];
    snprintf(gone, sizeof(gone), "../%064x/diff", 999);
    ASSERT_EQ(symlinkat(gone, root_fd, "layers/l/AAAAAAAAAAAAAAAAAAAAAAAAAA"), 0);
    ASSERT_EQ(write_at(root_fd, "layers/l/junk", "x"), 0);
    ASSERT_EQ(symlinkat("/etc", root_fd, "layers/l/BBBBBBBBBBBBBBBBBBBBBBBBBB"), 0);
    ASSERT_EQ(mkdirat(root_fd, "layers/not-a-layer", 0700), 0);

    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    ASSERT_EQ(count_entries(root_fd, "layers/l"), 1);
    ASSERT_EQ(store_layers_short_id(ls, id, again, &err), 0);
    ASSERT_STREQ(again, short_id);
    snprintf(path, sizeof(path), "layers/l/%s/f", short_id);
    ASSERT_STREQ(read_at(root_fd, path), "x");

    struct names names = {0};
    ASSERT_EQ(store_layers_list(ls, collect, &names, &err), 0);
    ASSERT_EQ(names.n, 1);
    ASSERT_STREQ(names.last, id);
    ASSERT_EQ(store_layers_remove(ls, id, &err), 0);
    ASSERT_EQ(unlinkat(root_fd, "layers/not-a-layer", AT_REMOVEDIR), 0);
}

static void test_disk_usage(void)
{
    _cleanup_layers_ struct store_layers *ls = NULL;
    struct iso_err err = {0};
    struct store_layer_tmp t;
    char id[72], data[4096];
    uint64_t one = 0, linked = 0, two = 0;

    memset(data, 'x', sizeof(data));
    ASSERT_EQ(store_layers_open(root_fd, &ls, &err), 0);
    /* Three layers: one 64 KiB file; the same plus a hard link; two 64 KiB files. */
    for (unsigned k = 0; k < 3; k++) {
        ASSERT_EQ(store_layers_begin(ls, &t, &err), 0);
        for (unsigned f = 0; f < (k == 2 ? 2u : 1u); f++) {
            char name[8];
            snprintf(name, sizeof(name), "big%u", f);
            int fd = openat(t.diff_fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            ASSERT_TRUE(fd >= 0);
            for (int i = 0; i < 16; i++)
                ASSERT_EQ(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
            ASSERT_EQ(fsync(fd), 0);
            close(fd);
        }
        if (k == 1)
            ASSERT_EQ(linkat(t.diff_fd, "big0", t.diff_fd, "hardlink", 0), 0);
        ASSERT_EQ(store_layers_publish(ls, &t, chain(id, 10 + k), &err), 0);
        uint64_t *out = k == 0 ? &one : k == 1 ? &linked : &two;
        ASSERT_EQ(store_layers_disk_usage(ls, id, out, &err), 0);
    }
    ASSERT_TRUE(one >= 65536 && one < 65536 + 32768);
    ASSERT_EQ(linked, one);
    ASSERT_TRUE(two >= 2ULL * 65536 && two < 2ULL * 65536 + 32768);
    for (unsigned k = 0; k < 3; k++)
        ASSERT_EQ(store_layers_remove(ls, chain(id, 10 + k), &err), 0);
    ASSERT_EQ(store_layers_disk_usage(ls, id, &one, &err), -ENOENT);
}

/* Nothing this file mounted is left (also after a failed test: see RUN). */
static int mounts_under_tmp(bool unmount)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096], point[4096];
    size_t len = strlen(tmp_dir);
    int n = 0;

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strneq(point, tmp_dir, len) &&
            (point[len] == '/' || point[len] == '\0')) {
            n++;
            if (unmount)
                (void)umount2(point, MNT_DETACH);
        }
    return n;
}

static void test_no_mounts_left(void)
{
    ASSERT_EQ(mounts_under_tmp(false), 0);
}

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        TEST(fn);                                                                                  \
        for (int _i = 0; _i < 8 && mounts_under_tmp(true) > 0; _i++)                               \
            ;                                                                                      \
    } while (0)

int main(void)
{
    tap_require_root();
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    root_fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    RUN(test_open_creates_dirs);
    RUN(test_publish_exists_list_remove);
    RUN(test_publish_twice_is_noop);
    RUN(test_publish_concurrent);
    RUN(test_abort_and_bad_publish);
    RUN(test_open_wipes_tmp);
    RUN(test_rm_rf_never_follows);
    RUN(test_rm_rf_refuses_mounts);
    RUN(test_open_repairs_short_links);
    RUN(test_disk_usage);
    TEST(test_no_mounts_left);
    for (int i = 0; i < 8 && mounts_under_tmp(true) > 0; i++)
        ;
    close(root_fd);
    _cleanup_close_ int parent = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store_rm_rf_at(parent, tmp_dir + strlen("/tmp/")) < 0)
        printf("# cannot remove %s\n", tmp_dir);
    return tap_done();
}
