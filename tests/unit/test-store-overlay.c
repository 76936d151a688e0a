/* store/overlay.c: options strings and the one-page limit, and real overlay mounts (needs root;
 * CI runs as root) with both the new mount API and mount(2): whiteouts, opaque dirs, upper
 * dirs, a single read-only layer and 128 layers. Everything is unmounted after each test, also
 * when it fails, and the last test checks that nothing is left in /proc/self/mountinfo. */
#include "store/overlay.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/macro.h"
#include "store/layers.h"
#include "tests/unit/tap.h"

#define N_MANY 141 /* layers f0..f140: one file each */

static char tmp_dir[] = "/tmp/isod-test-overlay-XXXXXX";
static int root_fd = -1;
static struct store_layers *ls;
static char many[N_MANY][72];
static const char *many_ids[N_MANY];
static char merged_ids_buf[3][72];
static const char *merged_ids[3]; /* bottom, middle (whiteout, opaque dir), top */

typedef int (*mount_fn)(struct store_layers *, const char *const *, size_t, const char *,
                        const char *, const char *, struct iso_err *);

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

static const char *read_at(int dfd, const char *name)
{
    static char buf[256];
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

/* The entries of a directory, sorted and joined with ' ' (at most 255 bytes). */
static const char *list_at(int dfd, const char *path)
{
    static char buf[256];
    char names[16][64];
    int n = 0, fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *de;

    buf[0] = '\0';
    if (!d) {
        safe_close(fd);
        return buf;
    }
    while ((de = readdir(d)) && n < 16)
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            snprintf(names[n++], sizeof(names[0]), "%.63s", de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "", names[i]);
    return buf;
}

static int mkdir_in_tmp(const char *name, char path[256])
{
    snprintf(path, 256, "%s/%s", tmp_dir, name);
    if (mkdirat(root_fd, name, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int mounts_under_tmp(bool unmount)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192], point[4096];
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

static bool is_mounted(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192], point[4096];

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && streq(point, path))
            return true;
    return false;
}

/* ---- setup ---- */

static int publish_tmp(struct store_layer_tmp *t, const char *id)
{
    struct iso_err err = {0};
    int r = store_layers_publish(ls, t, id, &err);
    if (r < 0)
        printf("# publish: %s\n", err.msg);
    return r;
}

static int make_layers(void)
{
    struct store_layer_tmp t;
    struct iso_err err = {0};
    int r;

    for (unsigned i = 0; i < N_MANY; i++) {
        char name[16];
        many_ids[i] = chain(many[i], 1 + i);
        snprintf(name, sizeof(name), "f%u", i);
        if ((r = store_layers_begin(ls, &t, &err)) < 0 || (r = write_at(t.diff_fd, name, name)) < 0)
            return r;
        if ((r = publish_tmp(&t, many_ids[i])) < 0)
            return r;
    }

    for (unsigned i = 0; i < 3; i++)
        merged_ids[i] = chain(merged_ids_buf[i], 1000 + i);
    /* bottom: keep, hidden, over, opq/old, dir/a */
    if ((r = store_layers_begin(ls, &t, &err)) < 0)
        return r;
    if (write_at(t.diff_fd, "keep", "keep") < 0 || write_at(t.diff_fd, "hidden", "hidden") < 0 ||
        write_at(t.diff_fd, "over", "bottom") < 0 || mkdirat(t.diff_fd, "opq", 0755) < 0 ||
        write_at(t.diff_fd, "opq/old", "old") < 0 || mkdirat(t.diff_fd, "dir", 0755) < 0 ||
        write_at(t.diff_fd, "dir/a", "a") < 0)
        return -EIO;
    if ((r = publish_tmp(&t, merged_ids[0])) < 0)
        return r;
    /* middle: whiteout hidden, opaque opq/ with new, over, dir/b */
    if ((r = store_layers_begin(ls, &t, &err)) < 0)
        return r;
    if (mknodat(t.diff_fd, "hidden", S_IFCHR | 0, makedev(0, 0)) < 0 ||
        mkdirat(t.diff_fd, "opq", 0755) < 0 || write_at(t.diff_fd, "opq/new", "new") < 0 ||
        write_at(t.diff_fd, "over", "middle") < 0 || mkdirat(t.diff_fd, "dir", 0755) < 0 ||
        write_at(t.diff_fd, "dir/b", "b") < 0)
        return -errno;
    _cleanup_close_ int opq = openat(t.diff_fd, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (opq < 0 || fsetxattr(opq, "trusted.overlay.opaque", "y", 1, 0) < 0)
        return -errno;
    if ((r = publish_tmp(&t, merged_ids[1])) < 0)
        return r;
    /* top: over, top */
    if ((r = store_layers_begin(ls, &t, &err)) < 0)
        return r;
    if (write_at(t.diff_fd, "over", "top") < 0 || write_at(t.diff_fd, "top", "top") < 0)
        return -EIO;
    return publish_tmp(&t, merged_ids[2]);
}

/* ---- options ---- */

static void test_options(void)
{
    struct iso_err err = {0};
    char s0[27], s1[27], want[256];
    _cleanup_free_ char *one = NULL, *two = NULL, *big = NULL, *fit = NULL;

    ASSERT_EQ(store_layers_short_id(ls, many_ids[0], s0, &err), 0);
    ASSERT_EQ(store_layers_short_id(ls, many_ids[1], s1, &err), 0);

    /* One layer: only with an upper dir. */
    ASSERT_EQ(store_overlay_options(ls, many_ids, 1, "../c/upper", "../c/work", &one, &err), 0);
    snprintf(want, sizeof(want), "lowerdir=l/%s,upperdir=../c/upper,workdir=../c/work", s0);
    ASSERT_STREQ(one, want);
    ASSERT_EQ(store_overlay_options(ls, many_ids, 1, NULL, NULL, &one, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "at least 2 layers");

    /* Top first. */
    ASSERT_EQ(store_overlay_options(ls, many_ids, 2, NULL, NULL, &two, &err), 0);
    snprintf(want, sizeof(want), "lowerdir=l/%s:l/%s", s1, s0);
    ASSERT_STREQ(two, want);

    ASSERT_EQ(store_overlay_options(ls, many_ids, 128, NULL, NULL, &big, &err), 0);
    ASSERT_EQ(strlen(big), strlen("lowerdir=") + (size_t)128 * 29 - 1);
    ASSERT_TRUE(strlen(big) < STORE_OVERLAY_PAGE);
    ASSERT_TRUE(strneq(big, "lowerdir=l/", 11));
    ASSERT_STREQ(big + strlen(big) - 26, s0);

    /* 140 read-only fit in a page, 141 do not. */
    ASSERT_EQ(store_overlay_options(ls, many_ids, 140, NULL, NULL, &fit, &err), 0);
    ASSERT_EQ(strlen(fit) + 1, 9 + 140 * 29);
    char *none = NULL;
    ASSERT_EQ(store_overlay_options(ls, many_ids, 141, NULL, NULL, &none, &err), -E2BIG);
    ASSERT_STREQ(err.msg, "image has 141 layers; at most 140 fit in one overlay mount");
    ASSERT_TRUE(none == NULL);

    /* Long upper and work dirs leave room for fewer layers. */
    char upper[201];
    memset(upper, 'u', 200);
    upper[200] = '\0';
    ASSERT_EQ(store_overlay_options(ls, many_ids, 128, upper, upper, &none, &err), -E2BIG);
    ASSERT_STREQ(err.msg, "image has 128 layers; at most 126 fit in one overlay mount");

    ASSERT_EQ(store_overlay_options(ls, many_ids, 0, NULL, NULL, &none, &err), -EINVAL);
    ASSERT_EQ(store_overlay_options(ls, many_ids, 2, "up", NULL, &none, &err), -EINVAL);
    ASSERT_EQ(store_overlay_options(ls, many_ids, 2, "a,b", "w", &none, &err), -EINVAL);
    ASSERT_EQ(store_overlay_options(ls, many_ids, 2, "a", "w:x", &none, &err), -EINVAL);
    char absent[72];
    const char *missing[] = {many_ids[0], chain(absent, 0xfffff)};
    ASSERT_EQ(store_overlay_options(ls, missing, 2, NULL, NULL, &none, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "not found");
    ASSERT_TRUE(none == NULL);
}

static void test_check(void)
{
    struct iso_err err = {0};

    ASSERT_EQ(store_overlay_max_layers(), 132);
    ASSERT_EQ(store_overlay_check(1, &err), 0);
    ASSERT_EQ(store_overlay_check(128, &err), 0);
    ASSERT_EQ(store_overlay_check(132, &err), 0);
    ASSERT_EQ(store_overlay_check(133, &err), -E2BIG);
    ASSERT_STREQ(err.msg, "image has 133 layers; at most 132 fit in one overlay mount");
    ASSERT_EQ(store_overlay_check(0, &err), -EINVAL);

    /* The promise behind the reserve: the largest image with a typical container's upper and
     * work dirs (relative to layers/) still fits. */
    char upper[128], work[128];
    snprintf(upper, sizeof(upper), "../containers/%064x/upper", 7);
    snprintf(work, sizeof(work), "../containers/%064x/work", 7);
    _cleanup_free_ char *opts = NULL;
    ASSERT_EQ(store_overlay_options(ls, many_ids, 132, upper, work, &opts, &err), 0);
}

/* ---- mounts ---- */

static void check_merged_view(mount_fn fn, const char *name)
{
    struct iso_err err = {0};
    char target[256];
    _cleanup_close_ int m = -1;

    ASSERT_EQ(mkdir_in_tmp(name, target), 0);
    int r = fn(ls, merged_ids, 3, NULL, NULL, target, &err);
    if (r < 0)
        printf("# mount: %s\n", err.msg);
    ASSERT_EQ(r, 0);
    ASSERT_TRUE(is_mounted(target));
    m = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(m >= 0);

    ASSERT_STREQ(list_at(m, "."), "dir keep opq over top");
    ASSERT_STREQ(read_at(m, "keep"), "keep");
    ASSERT_EQ(faccessat(m, "hidden", F_OK, AT_SYMLINK_NOFOLLOW), -1); /* whiteout */
    ASSERT_EQ(errno, ENOENT);
    ASSERT_STREQ(list_at(m, "opq"), "new"); /* opaque: the bottom's old is gone */
    ASSERT_STREQ(list_at(m, "dir"), "a b"); /* not opaque: merged */
    ASSERT_STREQ(read_at(m, "over"), "top");
    ASSERT_STREQ(read_at(m, "top"), "top");
    ASSERT_EQ(write_at(m, "new", "x"), -EROFS);

    ASSERT_EQ(store_overlay_unmount(target, &err), 0);
    ASSERT_TRUE(!is_mounted(target));
}

static void test_mount_merged_view(void)
{
    check_merged_view(store_overlay_mount, "merged");
}

static void test_mount_merged_view_legacy(void)
{
    check_merged_view(store_overlay_mount_legacy, "merged-legacy");
}

static void check_upper(mount_fn fn, const char *name, size_t n)
{
    struct iso_err err = {0};
    char dir[256], upper[256], work[256], target[256], sub[128];
    _cleanup_close_ int m = -1, u = -1;

    ASSERT_EQ(mkdir_in_tmp(name, dir), 0);
    snprintf(sub, sizeof(sub), "%s/upper", name);
    ASSERT_EQ(mkdir_in_tmp(sub, upper), 0);
    snprintf(sub, sizeof(sub), "%s/work", name);
    ASSERT_EQ(mkdir_in_tmp(sub, work), 0);
    snprintf(sub, sizeof(sub), "%s/rootfs", name);
    ASSERT_EQ(mkdir_in_tmp(sub, target), 0);

    int r = fn(ls, merged_ids, n, upper, work, target, &err);
    if (r < 0)
        printf("# mount: %s\n", err.msg);
    ASSERT_EQ(r, 0);
    m = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    u = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(m >= 0 && u >= 0);
    ASSERT_EQ(write_at(m, "written", "by container"), 0);
    ASSERT_STREQ(read_at(u, "written"), "by container");
    ASSERT_EQ(write_at(m, "keep", "changed"), 0); /* copy-up */
    ASSERT_STREQ(read_at(u, "keep"), "changed");
    ASSERT_STREQ(read_at(m, "keep"), "changed");
    /* Deleting a lower file leaves a whiteout in the upper dir. */
    struct stat st;
    ASSERT_EQ(unlinkat(m, "dir/a", 0), 0);
    ASSERT_EQ(faccessat(m, "dir/a", F_OK, 0), -1);
    ASSERT_EQ(fstatat(u, "dir/a", &st, AT_SYMLINK_NOFOLLOW), 0);
    ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    /* The lower layer is untouched. */
    char path[160];
    snprintf(path, sizeof(path), "%s/diff/keep", merged_ids[0] + 7);
    ASSERT_STREQ(read_at(store_layers_dirfd(ls), path), "keep");
    snprintf(path, sizeof(path), "%s/diff/dir/a", merged_ids[0] + 7);
    ASSERT_STREQ(read_at(store_layers_dirfd(ls), path), "a");

    ASSERT_EQ(store_overlay_unmount(target, &err), 0);
    ASSERT_TRUE(!is_mounted(target));
}

static void test_mount_upper(void)
{
    check_upper(store_overlay_mount, "c1", 3);
}

static void test_mount_upper_legacy(void)
{
    check_upper(store_overlay_mount_legacy, "c2", 3);
}

static void test_mount_upper_one_layer(void)
{
    check_upper(store_overlay_mount, "c3", 1);
    check_upper(store_overlay_mount_legacy, "c4", 1);
}

static void check_single_ro(mount_fn fn, const char *name)
{
    struct iso_err err = {0};
    char target[256];
    _cleanup_close_ int m = -1;

    ASSERT_EQ(mkdir_in_tmp(name, target), 0);
    int r = fn(ls, merged_ids, 1, NULL, NULL, target, &err);
    if (r < 0)
        printf("# mount: %s\n", err.msg);
    ASSERT_EQ(r, 0);
    m = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(m >= 0);
    ASSERT_STREQ(read_at(m, "keep"), "keep");
    ASSERT_STREQ(list_at(m, "opq"), "old");
    ASSERT_EQ(write_at(m, "new", "x"), -EROFS);
    ASSERT_EQ(store_overlay_unmount(target, &err), 0);
    ASSERT_TRUE(!is_mounted(target));
}

static void test_mount_single_read_only(void)
{
    check_single_ro(store_overlay_mount, "single");
    check_single_ro(store_overlay_mount_legacy, "single-legacy");
}

static void check_many(mount_fn fn, const char *name)
{
    struct iso_err err = {0};
    char target[256], file[16];
    _cleanup_close_ int m = -1;

    ASSERT_EQ(mkdir_in_tmp(name, target), 0);
    int r = fn(ls, many_ids, 128, NULL, NULL, target, &err);
    if (r < 0)
        printf("# mount: %s\n", err.msg);
    ASSERT_EQ(r, 0);
    m = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(m >= 0);
    for (unsigned i = 0; i < 128; i++) {
        snprintf(file, sizeof(file), "f%u", i);
        ASSERT_STREQ(read_at(m, file), file);
    }
    ASSERT_EQ(faccessat(m, "f128", F_OK, 0), -1);
    ASSERT_EQ(store_overlay_unmount(target, &err), 0);
    ASSERT_TRUE(!is_mounted(target));
}

static void test_mount_128_layers(void)
{
    check_many(store_overlay_mount, "many");
}

static void test_mount_128_layers_legacy(void)
{
    check_many(store_overlay_mount_legacy, "many-legacy");
}

static void test_fsmount_detached(void)
{
    struct iso_err err = {0};
    _cleanup_close_ int mnt = -1;

    mnt = store_overlay_fsmount(ls, merged_ids, 3, NULL, NULL, &err);
    if (mnt == -EOPNOTSUPP) {
        /* Valgrind and kernels before 6.13: store_overlay_mount() used mount(2) above. */
        printf("# %s: not covered here\n", err.msg);
        return;
    }
    ASSERT_TRUE(mnt >= 0);
    /* Usable without being attached anywhere; closing it drops it. */
    ASSERT_STREQ(read_at(mnt, "over"), "top");
    ASSERT_EQ(faccessat(mnt, "hidden", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

static void test_mount_errors(void)
{
    struct iso_err err = {0};
    char target[256];
    char absent[72];
    const char *missing[] = {merged_ids[0], chain(absent, 0xeeeee)};

    ASSERT_EQ(mkdir_in_tmp("err", target), 0);
    ASSERT_EQ(store_overlay_mount(ls, merged_ids, 3, NULL, NULL, "relative", &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "not an absolute path");
    ASSERT_EQ(store_overlay_mount(ls, missing, 2, NULL, NULL, target, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "not found");
    ASSERT_EQ(store_overlay_mount_legacy(ls, missing, 2, NULL, NULL, target, &err), -ENOENT);
    ASSERT_EQ(store_overlay_mount(ls, merged_ids, 0, NULL, NULL, target, &err), -EINVAL);
    ASSERT_EQ(
        store_overlay_mount(ls, merged_ids, 2, "/nonexistent/u", "/nonexistent/w", target, &err),
        -ENOENT);
    /* mount(2) reports it too; its message has the count. */
    ASSERT_TRUE(store_overlay_mount_legacy(ls, merged_ids, 2, "/nonexistent/u", "/nonexistent/w",
                                           target, &err) < 0);
    ASSERT_TRUE(!is_mounted(target));
    ASSERT_EQ(store_overlay_unmount(target, &err), -EINVAL);
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
    struct iso_err err = {0};
    int r = 0;

    if (geteuid() != 0) {
        printf("1..0 # SKIP overlay mounts need root\n");
        return 0;
    }
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    root_fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0 || (r = store_layers_open(root_fd, &ls, &err)) < 0 || (r = make_layers()) < 0) {
        printf("Bail out! setup: %s (%s)\n", err.msg, strerror(-r));
        goto out;
    }

    RUN(test_options);
    RUN(test_check);
    RUN(test_mount_merged_view);
    RUN(test_mount_merged_view_legacy);
    RUN(test_mount_upper);
    RUN(test_mount_upper_legacy);
    RUN(test_mount_upper_one_layer);
    RUN(test_mount_single_read_only);
    RUN(test_mount_128_layers);
    RUN(test_mount_128_layers_legacy);
    RUN(test_fsmount_detached);
    RUN(test_mount_errors);
    TEST(test_no_mounts_left);

out:
    for (int i = 0; i < 8 && mounts_under_tmp(true) > 0; i++)
        ;
    ls = store_layers_close(ls);
    close(root_fd);
    _cleanup_close_ int parent = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store_rm_rf_at(parent, tmp_dir + strlen("/tmp/")) < 0)
        printf("# cannot remove %s\n", tmp_dir);
    return r < 0 ? 1 : tap_done();
}
