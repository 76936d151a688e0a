#include <fcntl.h>

#include "common/util.h"
#include "daemon/config.h"
#include "tests/unit/tap.h"

static char dir[] = "/tmp/isod-config-XXXXXX";

static char *write_conf(const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/isod.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    (void)iso_write_all(fd, text, strlen(text));
    close(fd);
    return path;
}

/* argv from a NULL-terminated list, so no count can disagree with it. */
static int parse_argv(struct eng_config *cfg, struct iso_err *err, char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    return eng_config_parse(argc, args, cfg, err);
}
#define PARSE(cfg, err, ...) parse_argv(cfg, err, (char *[]){"isod", __VA_ARGS__, NULL})
#define PARSE0(cfg, err)     parse_argv(cfg, err, (char *[]){"isod", NULL})

static void test_defaults(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};

    ASSERT_EQ(PARSE0(&cfg, &err), 0);
    ASSERT_STREQ(cfg.root, "/var/lib/isod");
    ASSERT_EQ(cfg.n_hosts, 0);
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_INFO);
    ASSERT_EQ(cfg.max_connections, 1024);
    ASSERT_EQ(cfg.max_concurrent_downloads, 3);
    eng_config_done(&cfg);
}

static void test_flags(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};

    ASSERT_EQ(PARSE(&cfg, &err, "-H", "unix:///tmp/a.sock", "--host=/tmp/b.sock", "--root",
                    "/tmp/r", "--log-level", "debug"),
              0);
    ASSERT_EQ(cfg.n_hosts, 2);
    ASSERT_STREQ(cfg.hosts[0], "/tmp/a.sock");
    ASSERT_STREQ(cfg.hosts[1], "/tmp/b.sock");
    ASSERT_STREQ(cfg.root, "/tmp/r");
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
    eng_config_done(&cfg);
}

static void test_bad_flags(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};

    ASSERT_EQ(PARSE(&cfg, &err, "--log-level", "loud"), -EINVAL);
    ASSERT_STRSTR(err.msg, "invalid log level 'loud'");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--bogus"), -EINVAL);
    ASSERT_STRSTR(err.msg, "unknown option '--bogus'");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "-H", "tcp://0.0.0.0:2375"), -EINVAL);
    ASSERT_STRSTR(err.msg, "unix sockets only");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--root", "relative"), -EINVAL);
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--root"), -EINVAL);
    ASSERT_STRSTR(err.msg, "needs a value");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--max-connections", "0"), -EINVAL);
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--max-concurrent-downloads", "65"), -EINVAL);
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--max-concurrent-downloads", "1", "--insecure-registry",
                    "reg.example:5000"),
              0);
    ASSERT_EQ(cfg.max_concurrent_downloads, 1);
    ASSERT_EQ(cfg.n_insecure, 1);
    ASSERT_STREQ(cfg.insecure_registries[0], "reg.example:5000");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "extra"), -EINVAL);
    eng_config_done(&cfg);
}

static void test_file_and_precedence(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};
    char *p = write_conf("{\"host\": [\"unix:///tmp/f.sock\"], \"root\": \"/tmp/froot\", "
                         "\"log-level\": \"warn\", \"max-connections\": 7, "
                         "\"idle-timeout\": 9}");

    ASSERT_EQ(PARSE(&cfg, &err, "--config", p), 0);
    ASSERT_EQ(cfg.n_hosts, 1);
    ASSERT_STREQ(cfg.hosts[0], "/tmp/f.sock");
    ASSERT_STREQ(cfg.root, "/tmp/froot");
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_WARN);
    ASSERT_EQ(cfg.max_connections, 7);
    ASSERT_EQ(cfg.idle_timeout_s, 9);
    eng_config_done(&cfg);

    /* Flags win over the file. */
    ASSERT_EQ(PARSE(&cfg, &err, "--config", p, "--root", "/tmp/flag", "-H", "/tmp/g.sock"), 0);
    ASSERT_STREQ(cfg.root, "/tmp/flag");
    ASSERT_EQ(cfg.n_hosts, 1);
    ASSERT_STREQ(cfg.hosts[0], "/tmp/g.sock");
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_WARN);
    eng_config_done(&cfg);
}

static void test_file_errors(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};

    ASSERT_EQ(PARSE(&cfg, &err, "--config", write_conf("{\"rooot\": \"/x\"}")), -EINVAL);
    ASSERT_STRSTR(err.msg, "unknown key 'rooot'");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--config", write_conf("{\"host\": \"unix:///x\"}")), -EINVAL);
    ASSERT_STRSTR(err.msg, "'host' must be an array");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--config", write_conf("{\"max-connections\": \"7\"}")), -EINVAL);
    ASSERT_STRSTR(err.msg, "'max-connections' must be an integer");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--config", write_conf("[1,2")), -EINVAL);
    ASSERT_STRSTR(err.msg, "invalid JSON");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--config", "/nonexistent/isod.json"), -ENOENT);
    ASSERT_STRSTR(err.msg, "/nonexistent/isod.json");
    eng_config_done(&cfg);
}

static void test_userns_remap(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};

    ASSERT_EQ(PARSE0(&cfg, &err), 0);
    ASSERT_TRUE(cfg.userns_remap == NULL);
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--userns-remap", "no-such-user-xyz"), -ENOENT);
    ASSERT_STRSTR(err.msg, "userns-remap: no such user 'no-such-user-xyz'");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--userns-remap", "0"), -EINVAL);
    ASSERT_STRSTR(err.msg, "cannot remap to root");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--userns-remap", ""), -EINVAL);
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--userns-remap", "nobody:no-such-group-xyz"), -ENOENT);
    ASSERT_STRSTR(err.msg, "no such group 'no-such-group-xyz'");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--config", write_conf("{\"userns-remap\": 1}")), -EINVAL);
    ASSERT_STRSTR(err.msg, "'userns-remap' must be a string");
    eng_config_done(&cfg);
    ASSERT_EQ(PARSE(&cfg, &err, "--config", write_conf("{\"userns-remap\": \"no-such-xyz\"}")),
              -ENOENT);
    ASSERT_STRSTR(err.msg, "no such user 'no-such-xyz'");
    eng_config_done(&cfg);
    /* A user without a range (nobody has none on a stock host). */
    int r = PARSE(&cfg, &err, "--userns-remap", "nobody:nogroup");
    ASSERT_TRUE(r == 0 || strstr(err.msg, "no subordinate uid range for 'nobody'"));
    eng_config_done(&cfg);
}

static void test_reload_log_level(void)
{
    struct eng_config cfg;
    struct iso_err err = {0};
    char *p = write_conf("{\"log-level\": \"info\", \"root\": \"/tmp/x\"}");

    ASSERT_EQ(PARSE(&cfg, &err, "--config", p), 0);
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_INFO);
    write_conf("{\"log-level\": \"debug\", \"root\": \"/tmp/changed\"}");
    ASSERT_EQ(eng_config_reload_log_level(&cfg, &err), 0);
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
    /* Only the level is re-read. */
    ASSERT_STREQ(cfg.root, "/tmp/x");
    eng_config_done(&cfg);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    TEST(test_defaults);
    TEST(test_flags);
    TEST(test_bad_flags);
    TEST(test_file_and_precedence);
    TEST(test_file_errors);
    TEST(test_userns_remap);
    TEST(test_reload_log_level);
    (void)tap_rmtree(dir);
    return tap_done();
}
