/* cli/run-opts.c: `isoctl run/create` flags -> the exact POST /containers/create body, the value
 * parsers behind them; no daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/run-opts.h"
#include "common/json.h"
#include "common/macro.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static char tmp_dir[] = "/tmp/test-cli-run-opts.XXXXXX";

/* Parses a NULL-terminated flag list (argv[0] "run" is added) and returns the compact JSON of
 * the member at path ("HostConfig.Memory", "" for the whole body), or the error text. */
static char *run_json(enum ctl_run_mode mode, const char *path, const char *const *args,
                      struct ctl_run_opts *keep)
{
    char *argv[64] = {(char *)"run"};
    struct ctl_run_opts o;
    struct iso_err err = {0};
    int argc = 1, r;
    json_t *j;
    char *out;

    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    r = ctl_run_opts_parse(&o, mode, argc, argv, 24, 80, &err);
    if (r < 0)
        return iso_strprintf("error %d: %s", r, err.msg);
    j = o.body;
    if (*path) {
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;
        for (char *k = strtok_r(copy, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
            j = json_object_get(j, k);
    }
    out = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(missing)");
    if (keep)
        *keep = o;
    else
        ctl_run_opts_done(&o);
    return out;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

#define ASSERT_JSON(path, expect, ...)                                                             \
    do {                                                                                           \
        _cleanup_free_ char *_got = run_json(CTL_RUN_RUN, path, ARGS(__VA_ARGS__), NULL);          \
        ASSERT_STREQ(_got, expect);                                                                \
    } while (0)

static void test_default_body(void)
{
    struct ctl_run_opts o;
    _cleanup_free_ char *got = run_json(CTL_RUN_RUN, "", ARGS("--rm", "alpine", "echo", "hi"), &o);

    ASSERT_STREQ(got,
                 "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,"
                 "\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":false,\"OpenStdin\":false,"
                 "\"StdinOnce\":false,\"Env\":[],\"Cmd\":[\"echo\",\"hi\"],\"Image\":\"alpine\","
                 "\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,"
                 "\"Labels\":{},\"HostConfig\":{\"Binds\":null,\"ContainerIDFile\":\"\","
                 "\"LogConfig\":{\"Type\":\"\",\"Config\":{}},\"NetworkMode\":\"default\","
                 "\"PortBindings\":{},\"RestartPolicy\":{\"Name\":\"no\",\"MaximumRetryCount\":0},"
                 "\"AutoRemove\":true,\"ConsoleSize\":[0,0],\"CapAdd\":null,\"CapDrop\":null,"
                 "\"GroupAdd\":null,\"Privileged\":false,\"ReadonlyRootfs\":false,"
                 "\"SecurityOpt\":null,\"CpuShares\":0,\"Memory\":0,\"NanoCpus\":0,"
                 "\"CpusetCpus\":\"\",\"MemoryReservation\":0,\"MemorySwap\":0,\"PidsLimit\":null,"
                 "\"Ulimits\":null}}");
    ASSERT_STREQ(o.image, "alpine");
    ASSERT_TRUE(o.rm && !o.detach && !o.tty && o.sig_proxy);
    ctl_run_opts_done(&o);
}

static void test_attach_flags(void)
{
    ASSERT_JSON("Tty", "true", "-it", "alpine");
    ASSERT_JSON("StdinOnce", "true", "-it", "alpine");
    ASSERT_JSON("AttachStdin", "true", "-i", "alpine");
    ASSERT_JSON("HostConfig.ConsoleSize", "[24,80]", "-t", "alpine");
    /* -d attaches nothing but keeps stdin open with -i. */
    ASSERT_JSON("AttachStdout", "false", "-d", "-i", "alpine");
    ASSERT_JSON("AttachStdin", "false", "-d", "-i", "alpine");
    ASSERT_JSON("OpenStdin", "true", "-d", "-i", "alpine");
    ASSERT_JSON("StdinOnce", "false", "-d", "-i", "alpine");
    ASSERT_JSON("Cmd", "null", "alpine");
    /* Options stop at the image: the command's own flags are its arguments. */
    ASSERT_JSON("Cmd", "[\"ls\",\"-l\",\"--rm\"]", "alpine", "ls", "-l", "--rm");
}

static void test_memory_units(void)
{
    ASSERT_JSON("HostConfig.Memory", "67108864", "-m", "64m", "alpine");
    ASSERT_JSON("HostConfig.Memory", "67108864", "--memory=64M", "alpine");
    ASSERT_JSON("HostConfig.Memory", "1610612736", "-m", "1.5g", "alpine");
    ASSERT_JSON("HostConfig.Memory", "512", "-m", "512b", "alpine");
    ASSERT_JSON("HostConfig.Memory", "10240", "-m", "10kb", "alpine");
    ASSERT_JSON("HostConfig.Memory", "1073741824", "-m", "1GiB", "alpine");
    ASSERT_JSON("HostConfig.Memory", "1000", "-m", "1000", "alpine");
    ASSERT_JSON("HostConfig.MemorySwap", "-1", "--memory-swap", "-1", "alpine");
    ASSERT_JSON("HostConfig.MemorySwap", "134217728", "--memory-swap", "128m", "alpine");
    ASSERT_JSON("HostConfig.MemoryReservation", "33554432", "--memory-reservation", "32m",
                "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"1x\" for \"-m, --memory\" flag: invalid size: "
                "'1x'",
                "-m", "1x", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"-5m\" for \"--memory-swap\" flag: invalid "
                "size: '-5m'",
                "--memory-swap", "-5m", "alpine");
}

static void test_cpus(void)
{
    int64_t n = 0;
    struct iso_err err = {0};

    ASSERT_JSON("HostConfig.NanoCpus", "500000000", "--cpus", "0.5", "alpine");
    ASSERT_JSON("HostConfig.NanoCpus", "2000000000", "--cpus=2", "alpine");
    ASSERT_JSON("HostConfig.NanoCpus", "1250000000", "--cpus", "1.25", "alpine");
    ASSERT_JSON("HostConfig.CpuShares", "512", "-c", "512", "alpine");
    ASSERT_JSON("HostConfig.CpusetCpus", "\"0-2\"", "--cpuset-cpus", "0-2", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc "
                "as a rational number",
                "--cpus", "abc", "alpine");
    ASSERT_EQ(ctl_parse_cpus("0.0000000001", &n, &err), -ERANGE);
    ASSERT_STREQ(err.msg, "value is too precise");
}

static void test_pids_and_stop(void)
{
    ASSERT_JSON("HostConfig.PidsLimit", "100", "--pids-limit", "100", "alpine");
    ASSERT_JSON("HostConfig.PidsLimit", "-1", "--pids-limit=-1", "alpine");
    ASSERT_JSON("StopSignal", "\"SIGUSR1\"", "--stop-signal", "SIGUSR1", "alpine");
    ASSERT_JSON("StopTimeout", "5", "--stop-timeout", "5", "alpine");
    ASSERT_JSON("StopTimeout", "(missing)", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: "
                "parsing \"x\": invalid syntax",
                "--pids-limit", "x", "alpine");
}

static void test_ulimits(void)
{
    ASSERT_JSON("HostConfig.Ulimits", "[{\"Name\":\"nofile\",\"Hard\":2048,\"Soft\":1024}]",
                "--ulimit", "nofile=1024:2048", "alpine");
    ASSERT_JSON("HostConfig.Ulimits",
                "[{\"Name\":\"nproc\",\"Hard\":64,\"Soft\":64},"
                "{\"Name\":\"core\",\"Hard\":-1,\"Soft\":-1}]",
                "--ulimit", "nproc=64", "--ulimit", "core=-1", "alpine");
    /* The last one for a name wins. */
    ASSERT_JSON("HostConfig.Ulimits", "[{\"Name\":\"nofile\",\"Hard\":10,\"Soft\":10}]", "--ulimit",
                "nofile=5", "--ulimit", "nofile=10", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"nofile=20:10\" for \"--ulimit\" flag: ulimit "
                "soft limit must be less than or equal to hard limit",
                "--ulimit", "nofile=20:10", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"bogus=1\" for \"--ulimit\" flag: invalid ulimit "
                "type: bogus",
                "--ulimit", "bogus=1", "alpine");
}

static void test_restart(void)
{
    ASSERT_JSON("HostConfig.RestartPolicy", "{\"Name\":\"always\",\"MaximumRetryCount\":0}",
                "--restart", "always", "alpine");
    ASSERT_JSON("HostConfig.RestartPolicy", "{\"Name\":\"on-failure\",\"MaximumRetryCount\":3}",
                "--restart=on-failure:3", "alpine");
    ASSERT_JSON("HostConfig.RestartPolicy", "{\"Name\":\"unless-stopped\",\"MaximumRetryCount\":0}",
                "--restart", "unless-stopped", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"always:3\" for \"--restart\" flag: maximum "
                "retry count cannot be used with restart policy 'always'",
                "--restart", "always:3", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"sometimes\" for \"--restart\" flag: invalid "
                "restart policy format",
                "--restart", "sometimes", "alpine");
    ASSERT_JSON("", "error -22: conflicting options: cannot specify both --restart and --rm",
                "--rm", "--restart", "always", "alpine");
}

static void test_volumes_and_mounts(void)
{
    _cleanup_free_ char *cwd = getcwd(NULL, 0);
    _cleanup_free_ char *rel = iso_strprintf("[\"%s/data:/data:ro\"]", cwd);

    ASSERT_JSON("HostConfig.Binds", "[\"/srv:/srv\",\"/etc/hosts:/h:ro\"]", "-v", "/srv:/srv",
                "--volume=/etc/hosts:/h:ro", "alpine");
    ASSERT_JSON("HostConfig.Binds", rel, "-v", "./data:/data:ro", "alpine");
    ASSERT_JSON("Volumes", "{\"/anon\":{}}", "-v", "/anon", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"/a:b\" for \"-v, --volume\" flag: invalid "
                "volume specification: '/a:b'",
                "-v", "/a:b", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"/a:/b:rx\" for \"-v, --volume\" flag: invalid "
                "volume specification: '/a:/b:rx'",
                "-v", "/a:/b:rx", "alpine");
    ASSERT_JSON("HostConfig.Mounts",
                "[{\"Type\":\"bind\",\"Source\":\"/srv\",\"Target\":\"/mnt\",\"ReadOnly\":true},"
                "{\"Type\":\"tmpfs\",\"Target\":\"/t\",\"TmpfsOptions\":{\"SizeBytes\":"
                "67108864,\"Mode\":448}}]",
                "--mount", "type=bind,source=/srv,target=/mnt,readonly", "--mount",
                "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=700", "alpine");
    ASSERT_JSON("HostConfig.Mounts", "[{\"Type\":\"bind\",\"Source\":\"/a\",\"Target\":\"/b\"}]",
                "--mount", "type=bind,src=/a,target=/b,ro=false", "alpine");
    ASSERT_JSON("",
                "error -22: invalid argument \"type=bind,source=/a\" for \"--mount\" flag: "
                "target is required",
                "--mount", "type=bind,source=/a", "alpine");
    ASSERT_JSON("HostConfig.Tmpfs", "{\"/run\":\"\",\"/tmp\":\"rw,size=64m\"}", "--tmpfs", "/run",
                "--tmpfs", "/tmp:rw,size=64m", "alpine");
    ASSERT_JSON("HostConfig.Mounts", "(missing)", "alpine");
}

static void test_env(void)
{
    _cleanup_free_ char *path = iso_strprintf("%s/env", tmp_dir);
    FILE *f = fopen(path, "w");

    ASSERT_TRUE(f);
    fputs("# a comment\n"
          "\n"
          "  A=1\n"
          "B= spaced value \n"
          "   # indented comment\n"
          "FROM_ENV\n"
          "NOT_SET_ANYWHERE_XYZ\n"
          "C=x=y\r\n",
          f);
    fclose(f);
    setenv("FROM_ENV", "hello", 1);
    setenv("E_BARE", "bare", 1);
    unsetenv("NOT_SET_ANYWHERE_XYZ");
    unsetenv("E_UNSET_XYZ");

    ASSERT_JSON("Env",
                "[\"A=1\",\"B= spaced value \",\"FROM_ENV=hello\",\"C=x=y\",\"X=2\","
                "\"E_BARE=bare\",\"E_UNSET_XYZ\"]",
                "-e", "X=2", "--env-file", path, "-e", "E_BARE", "--env=E_UNSET_XYZ", "alpine");

    f = fopen(path, "w");
    ASSERT_TRUE(f);
    fputs("BAD NAME=1\n", f);
    fclose(f);
    _cleanup_free_ char *got = run_json(CTL_RUN_RUN, "", ARGS("--env-file", path, "alpine"), NULL);
    ASSERT_STREQ(got, "error -22: variable 'BAD NAME' contains whitespaces");
    ASSERT_JSON("",
                "error -22: invalid argument \"=x\" for \"-e, --env\" flag: invalid "
                "environment variable: =x",
                "-e", "=x", "alpine");
    free(got);
    got = run_json(CTL_RUN_RUN, "", ARGS("--env-file", "/nonexistent/env", "alpine"), NULL);
    ASSERT_STRSTR(got, "error -2: open /nonexistent/env");
    unlink(path);
}

static void test_config_fields(void)
{
    ASSERT_JSON("Entrypoint", "[\"/bin/sh\"]", "--entrypoint", "/bin/sh", "alpine");
    ASSERT_JSON("Entrypoint", "[\"\"]", "--entrypoint", "", "alpine");
    ASSERT_JSON("Entrypoint", "[\"\"]", "--entrypoint=", "alpine");
    ASSERT_JSON("WorkingDir", "\"/w\"", "-w", "/w", "alpine");
    ASSERT_JSON("User", "\"1000:1000\"", "-u", "1000:1000", "alpine");
    ASSERT_JSON("Hostname", "\"box\"", "-h", "box", "alpine");
    ASSERT_JSON("Labels", "{\"a\":\"1\",\"b\":\"\"}", "-l", "a=1", "--label", "b", "alpine");
    ASSERT_JSON("HostConfig.NetworkMode", "\"none\"", "--network", "none", "alpine");
    ASSERT_JSON("HostConfig.NetworkMode", "\"host\"", "--net=host", "alpine");
    ASSERT_JSON("HostConfig.Init", "true", "--init", "alpine");
    ASSERT_JSON("HostConfig.ReadonlyRootfs", "true", "--read-only", "alpine");
    ASSERT_JSON("HostConfig.Privileged", "true", "--privileged", "alpine");
    ASSERT_JSON("HostConfig.CapAdd", "[\"CAP_NET_ADMIN\",\"CAP_SYS_TIME\"]", "--cap-add",
                "net_admin", "--cap-add", "CAP_SYS_TIME", "alpine");
    ASSERT_JSON("HostConfig.CapDrop", "[\"ALL\"]", "--cap-drop", "all", "alpine");
    ASSERT_JSON("HostConfig.GroupAdd", "[\"audio\",\"10\"]", "--group-add", "audio", "--group-add",
                "10", "alpine");
    ASSERT_JSON("HostConfig.LogConfig",
                "{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\",\"max-file\":\"2\"}}",
                "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "alpine");
    ASSERT_JSON("HostConfig.SecurityOpt", "[\"no-new-privileges\",\"seccomp=unconfined\"]",
                "--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined",
                "alpine");
}

static void test_seccomp_file(void)
{
    _cleanup_free_ char *path = iso_strprintf("%s/seccomp.json", tmp_dir);
    _cleanup_free_ char *arg = iso_strprintf("seccomp=%s", path);
    FILE *f = fopen(path, "w");

    ASSERT_TRUE(f);
    fputs("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [ ]\n}\n", f);
    fclose(f);
    ASSERT_JSON("HostConfig.SecurityOpt",
                "[\"seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_ALLOW\\\",\\\"syscalls\\\":[]}\"]",
                "--security-opt", arg, "alpine");
    unlink(path);
    _cleanup_free_ char *got =
        run_json(CTL_RUN_RUN, "", ARGS("--security-opt", arg, "alpine"), NULL);
    ASSERT_STRSTR(got, "opening seccomp profile");
}

static void test_usage_errors(void)
{
    struct ctl_run_opts o;
    struct iso_err err = {0};
    char *argv[] = {(char *)"create", (char *)"--help", NULL};

    ASSERT_JSON("", "error -22: unknown flag: --bogus", "--bogus", "alpine");
    ASSERT_EQ(ctl_run_opts_parse(&o, CTL_RUN_CREATE, 2, argv, 0, 0, &err), 1);
    ASSERT_TRUE(o.body == NULL);

    /* create has no -d. */
    _cleanup_free_ char *got = run_json(CTL_RUN_CREATE, "", ARGS("-d", "alpine"), NULL);
    ASSERT_STREQ(got, "error -22: unknown flag: -d");
    free(got);
    got = run_json(CTL_RUN_RUN, "", ARGS("-m"), NULL);
    ASSERT_STREQ(got, "error -22: flag needs an argument: -m");
    free(got);
    got = run_json(CTL_RUN_RUN, "", ARGS("-d"), NULL);
    ASSERT_STREQ(got, "error -22: requires at least 1 argument");
}

static void test_sig_proxy(void)
{
    struct ctl_run_opts o;
    free(run_json(CTL_RUN_RUN, "", ARGS("--sig-proxy=false", "a"), &o));
    ASSERT_TRUE(!o.sig_proxy);
    ctl_run_opts_done(&o);
}

static void test_timestamps(void)
{
    char buf[64];

    ASSERT_EQ(ctl_parse_timestamp("10m", 1700000600, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1700000000.000000000");
    ASSERT_EQ(ctl_parse_timestamp("1h30m", 1700005400, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1700000000.000000000");
    ASSERT_EQ(ctl_parse_timestamp("1700000000", 0, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1700000000");
    ASSERT_EQ(ctl_parse_timestamp("1700000000.5", 0, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1700000000.5");
    ASSERT_EQ(ctl_parse_timestamp("2023-11-14T22:13:20Z", 0, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1700000000.000000000");
    ASSERT_EQ(ctl_parse_timestamp("2023-11-14T23:13:20.25+01:00", 0, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1700000000.250000000");
    ASSERT_EQ(ctl_parse_timestamp("2023-11-14", 0, buf, sizeof(buf)), 0);
    ASSERT_STREQ(buf, "1699920000.000000000");
    ASSERT_EQ(ctl_parse_timestamp("yesterday", 0, buf, sizeof(buf)), -EINVAL);
}

int main(void)
{
    if (!mkdtemp(tmp_dir))
        return 1;
    TEST(test_default_body);
    TEST(test_attach_flags);
    TEST(test_memory_units);
    TEST(test_cpus);
    TEST(test_pids_and_stop);
    TEST(test_ulimits);
    TEST(test_restart);
    TEST(test_volumes_and_mounts);
    TEST(test_env);
    TEST(test_config_fields);
    TEST(test_seccomp_file);
    TEST(test_usage_errors);
    TEST(test_sig_proxy);
    TEST(test_timestamps);
    rmdir(tmp_dir);
    return tap_done();
}
