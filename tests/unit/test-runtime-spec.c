#include <fcntl.h>
#include <sys/stat.h>

#include "common/util.h"
#include "runtime/spec.h"
#include "tests/unit/tap.h"

static char *args[] = {"sh", "-c", "echo 'a\tb'\nx\\y", NULL};
static char *env[] = {"PATH=/usr/bin:/bin", "WEIRD=\x01\x7f end", NULL};
static char *groups[] = {"audio", "1234", NULL};
static char *cgroups[] = {"/sys/fs/cgroup/memory/isod/x/cgroup.procs",
                          "/sys/fs/cgroup/pids/isod/x/cgroup.procs", NULL};
static struct rt_mount mounts[] = {
    {RT_MOUNT_BIND, "/host/with\ttab", "/data", "ro,rbind"},
    {RT_MOUNT_TMPFS, "tmpfs", "/run", "size=64m,mode=1777"},
    {RT_MOUNT_BIND, "/a", "/b", ""},
};
static struct rt_rlimit rlimits[] = {{"nofile", 1024, 4096}, {"core", -1, -1}};
static struct rt_attach attach[] = {{5, true, true, false}, {7, false, false, true}};
static struct rt_idmap uidmap[] = {{0, 100000, 65536}, {65536, 0, 1}};
static struct rt_idmap gidmap[] = {{0, 0, 4294967295u}};

static struct rt_spec full(void)
{
    return (struct rt_spec){
        .id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        .rootfs = "/var/lib/isod/containers/x/rootfs",
        .layers = "/var/lib/isod/layers",
        .overlay = "lowerdir=l/a:l/b,upperdir=/x/upper,workdir=/x/work",
        .readonly = true,
        .hostname = "box",
        .args = args,
        .n_args = 3,
        .env = env,
        .n_env = 2,
        .cwd = "/srv/app dir",
        .user = "",
        .group_add = groups,
        .n_group_add = 2,
        .terminal = true,
        .console_rows = 24,
        .console_cols = 80,
        .stdin_open = true,
        .stdin_once = true,
        .mounts = mounts,
        .n_mounts = 3,
        .net = RT_NET_HOST,
        .caps = 0xa80425fbULL,
        .privileged = false,
        .no_new_privs = true,
        .seccomp = "/x/seccomp.bpf",
        .rlimits = rlimits,
        .n_rlimits = 2,
        .cgroups = cgroups,
        .n_cgroups = 2,
        .log = "/x/x-json.log",
        .log_max_size = 10485760,
        .log_max_files = 3,
        .init = true,
        .attach = attach,
        .n_attach = 2,
        .uidmap = uidmap,
        .n_uidmap = 2,
        .gidmap = gidmap,
        .n_gidmap = 1,
    };
}

static void test_round_trip(void)
{
    struct rt_spec in = full(), out;
    struct iso_err err = {0};
    _cleanup_free_ char *text = NULL, *text2 = NULL;
    size_t len, len2;

    ASSERT_EQ(rt_spec_format(&in, &text, &len, &err), 0);
    ASSERT_EQ(strlen(text), len);
    ASSERT_STRSTR(text, "arg echo 'a\\tb'\\nx\\\\y\n");
    ASSERT_STRSTR(text, "env WEIRD=\\x01\\x7f end\n");
    ASSERT_STRSTR(text, "mount bind\t/host/with\\ttab\t/data\tro,rbind\n");
    ASSERT_STRSTR(text, "caps 00000000a80425fb\n");
    ASSERT_STRSTR(text, "console 24 80\n");
    ASSERT_STRSTR(text, "attach 5\tio\n");
    ASSERT_STRSTR(text, "rlimit core\t-1\t-1\n");
    ASSERT_STRSTR(text, "uidmap 0 100000 65536\nuidmap 65536 0 1\ngidmap 0 0 4294967295\n");
    ASSERT_STRSTR(text, "user \n");
    ASSERT_EQ(rt_spec_parse(text, len, &out, &err), 0);
    ASSERT_STREQ(out.id, in.id);
    ASSERT_STREQ(out.rootfs, in.rootfs);
    ASSERT_STREQ(out.layers, in.layers);
    ASSERT_STREQ(out.overlay, in.overlay);
    ASSERT_TRUE(out.readonly && out.terminal && out.stdin_open && out.stdin_once);
    ASSERT_TRUE(!out.privileged && out.no_new_privs && out.init);
    ASSERT_STREQ(out.hostname, "box");
    ASSERT_EQ(out.n_args, 3);
    ASSERT_STREQ(out.args[2], args[2]);
    ASSERT_TRUE(out.args[3] == NULL);
    ASSERT_EQ(out.n_env, 2);
    ASSERT_STREQ(out.env[1], env[1]);
    ASSERT_TRUE(out.env[2] == NULL);
    ASSERT_STREQ(out.cwd, "/srv/app dir");
    ASSERT_STREQ(out.user, "");
    ASSERT_EQ(out.n_group_add, 2);
    ASSERT_STREQ(out.group_add[1], "1234");
    ASSERT_EQ(out.console_rows, 24);
    ASSERT_EQ(out.console_cols, 80);
    ASSERT_EQ(out.n_mounts, 3);
    ASSERT_EQ(out.mounts[0].type, RT_MOUNT_BIND);
    ASSERT_STREQ(out.mounts[0].source, "/host/with\ttab");
    ASSERT_STREQ(out.mounts[1].destination, "/run");
    ASSERT_EQ(out.mounts[1].type, RT_MOUNT_TMPFS);
    ASSERT_STREQ(out.mounts[1].options, "size=64m,mode=1777");
    ASSERT_STREQ(out.mounts[2].options, "");
    ASSERT_EQ(out.net, RT_NET_HOST);
    ASSERT_EQ(out.caps, 0xa80425fbULL);
    ASSERT_STREQ(out.seccomp, "/x/seccomp.bpf");
    ASSERT_EQ(out.n_rlimits, 2);
    ASSERT_STREQ(out.rlimits[0].name, "nofile");
    ASSERT_EQ(out.rlimits[0].soft, 1024);
    ASSERT_EQ(out.rlimits[0].hard, 4096);
    ASSERT_EQ(out.rlimits[1].soft, -1);
    ASSERT_EQ(out.n_cgroups, 2);
    ASSERT_STREQ(out.cgroups[1], cgroups[1]);
    ASSERT_STREQ(out.log, "/x/x-json.log");
    ASSERT_EQ(out.log_max_size, 10485760);
    ASSERT_EQ(out.log_max_files, 3);
    ASSERT_EQ(out.n_attach, 2);
    ASSERT_TRUE(out.attach[0].fd == 5 && out.attach[0].in && out.attach[0].out &&
                !out.attach[0].err);
    ASSERT_TRUE(out.attach[1].fd == 7 && !out.attach[1].in && out.attach[1].err);
    ASSERT_EQ(out.n_uidmap, 2);
    ASSERT_TRUE(out.uidmap[0].inside == 0 && out.uidmap[0].outside == 100000 &&
                out.uidmap[0].count == 65536);
    ASSERT_TRUE(out.uidmap[1].inside == 65536 && out.uidmap[1].outside == 0);
    ASSERT_EQ(out.n_gidmap, 1);
    ASSERT_TRUE(out.gidmap[0].outside == 0 && out.gidmap[0].count == 4294967295u);

    /* Formatting what was parsed gives the same text. */
    ASSERT_EQ(rt_spec_format(&out, &text2, &len2, &err), 0);
    ASSERT_STREQ(text2, text);
    rt_spec_done(&out);
    ASSERT_TRUE(out.id == NULL && out.n_args == 0);
}

static void test_minimal(void)
{
    const char *text = "arg true\nnet none";
    struct rt_spec out;
    struct iso_err err = {0};

    ASSERT_EQ(rt_spec_parse(text, strlen(text), &out, &err), 0);
    ASSERT_EQ(out.n_args, 1);
    ASSERT_STREQ(out.args[0], "true");
    ASSERT_EQ(out.net, RT_NET_NONE);
    ASSERT_TRUE(out.seccomp == NULL && out.user == NULL);
    rt_spec_done(&out);
}

static void test_escapes(void)
{
    const char *text = "arg a\\x41\\\\b\\tc\\nd\n";
    struct rt_spec out;
    struct iso_err err = {0};

    ASSERT_EQ(rt_spec_parse(text, strlen(text), &out, &err), 0);
    ASSERT_STREQ(out.args[0], "aA\\b\tc\nd");
    rt_spec_done(&out);
}

static void expect_bad(const char *text, const char *msg)
{
    struct rt_spec out;
    struct iso_err err = {0};

    ASSERT_EQ(rt_spec_parse(text, strlen(text), &out, &err), -EINVAL);
    ASSERT_EQ(err.code, EINVAL);
    ASSERT_STRSTR(err.msg, msg);
}

static void test_malformed(void)
{
    expect_bad("arg x\nbogus 1\n", "line 2: unknown key 'bogus'");
    expect_bad("arg \\q\n", "line 1");
    expect_bad("arg \\x4\n", "line 1");
    expect_bad("arg \\x00\n", "line 1");
    expect_bad("arg ok\\\n", "line 1");
    expect_bad("\n", "line 1: malformed");
    expect_bad(" arg x\n", "line 1: malformed");
    expect_bad("readonly yes\n", "'readonly'");
    expect_bad("net bridge\n", "'net'");
    expect_bad("caps a80425fb\n", "'caps'");
    expect_bad("caps 00000000a80425fg\n", "'caps'");
    expect_bad("console 24\n", "'console'");
    expect_bad("console 24 80 1\n", "'console'");
    expect_bad("mount bind\t/a\t/b\n", "'mount'");
    expect_bad("mount nfs\t/a\t/b\t\n", "'mount'");
    expect_bad("mount bind\t/a\t/b\tro\textra\n", "'mount'");
    expect_bad("rlimit nofile\t1\n", "'rlimit'");
    expect_bad("rlimit nofile\tx\t1\n", "'rlimit'");
    /* A bad line after a good one must leave the array intact for the cleanup. */
    expect_bad("rlimit nofile\t1\t2\nrlimit \t1\t2\n", "line 2: bad rlimit");
    expect_bad("attach 3\tx\n", "'attach'");
    expect_bad("uidmap 0 100000\n", "'uidmap'");
    expect_bad("uidmap 0 100000 0\n", "'uidmap'");
    expect_bad("gidmap 0 4294967295 2\n", "'gidmap'");
    expect_bad("uidmap 0 1 2 3\n", "'uidmap'");
    expect_bad("attach -3\ti\n", "'attach'");
    expect_bad("id a\nid b\n", "line 2: repeated key 'id'");
    expect_bad("log_max_size -1\n", "'log_max_size'");
}

static void test_write_read(void)
{
    char dir[] = "/tmp/test-spec-XXXXXX";
    char path[128];
    struct rt_spec in = full(), out;
    struct iso_err err = {0};
    struct stat st;

    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/spec", dir);
    ASSERT_EQ(rt_spec_write(&in, path, &err), 0);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_EQ(rt_spec_read(path, &out, &err), 0);
    ASSERT_STREQ(out.overlay, in.overlay);
    rt_spec_done(&out);
    unlink(path);
    ASSERT_EQ(rt_spec_read(path, &out, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, path);
    rmdir(dir);
}

int main(void)
{
    TEST(test_round_trip);
    TEST(test_minimal);
    TEST(test_escapes);
    TEST(test_malformed);
    TEST(test_write_read);
    return tap_done();
}
