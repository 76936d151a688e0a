#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/tap.h"

static void test_host_parse(void)
{
    _cleanup_free_ char *p = NULL;
    struct iso_err err = {0};

    ASSERT_EQ(iso_host_parse("unix:///run/isod.sock", &p, &err), 0);
    ASSERT_STREQ(p, "/run/isod.sock");
    free(p);
    p = NULL;
    ASSERT_EQ(iso_host_parse("/tmp/x.sock", &p, &err), 0);
    ASSERT_STREQ(p, "/tmp/x.sock");
    ASSERT_EQ(iso_host_parse("tcp://127.0.0.1:2375", &p, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "unix sockets only");
    ASSERT_EQ(iso_host_parse("unix://relative.sock", &p, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "must be absolute");

    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    ASSERT_EQ(iso_host_parse(longp, &p, &err), -ENAMETOOLONG);
}

static void test_parse_size(void)
{
    uint64_t v;

    ASSERT_EQ(iso_parse_size("10", &v), 0);
    ASSERT_EQ(v, 10);
    ASSERT_EQ(iso_parse_size("64m", &v), 0);
    ASSERT_EQ(v, 64ULL << 20);
    ASSERT_EQ(iso_parse_size("1GB", &v), 0);
    ASSERT_EQ(v, 1ULL << 30);
    ASSERT_EQ(iso_parse_size("4k", &v), 0);
    ASSERT_EQ(v, 4096);
    ASSERT_EQ(iso_parse_size("", &v), -EINVAL);
    ASSERT_EQ(iso_parse_size("-1", &v), -EINVAL);
    ASSERT_EQ(iso_parse_size("12x", &v), -EINVAL);
    ASSERT_EQ(iso_parse_size("99999999999999999999g", &v), -EINVAL);
    ASSERT_EQ(iso_parse_size("99999999999g", &v), -ERANGE);
}

static void test_parse_bool_int(void)
{
    bool b = false;
    int64_t i;

    ASSERT_EQ(iso_parse_bool("TRUE", &b), 0);
    ASSERT_TRUE(b);
    ASSERT_EQ(iso_parse_bool("0", &b), 0);
    ASSERT_TRUE(!b);
    ASSERT_EQ(iso_parse_bool("maybe", &b), -EINVAL);
    ASSERT_EQ(iso_parse_int64("42", 0, 100, &i), 0);
    ASSERT_EQ(i, 42);
    ASSERT_EQ(iso_parse_int64("101", 0, 100, &i), -ERANGE);
    ASSERT_EQ(iso_parse_int64("4x", 0, 100, &i), -EINVAL);
    ASSERT_EQ(iso_parse_int64("", 0, 100, &i), -EINVAL);
}

static void test_err_prefix(void)
{
    struct iso_err err = {0};

    ASSERT_EQ(iso_err_set(&err, ENOENT, "no such image '%s'", "busybox"), -ENOENT);
    ASSERT_EQ(iso_err_prefix(&err, "create"), -ENOENT);
    ASSERT_STREQ(err.msg, "create: no such image 'busybox'");
    ASSERT_EQ(iso_err_set_errno(&err, -EACCES, "open '%s'", "/x"), -EACCES);
    ASSERT_STREQ(err.msg, "open '/x': Permission denied");
    ASSERT_EQ(err.code, EACCES);
}

static void test_read_file_and_mkdir(void)
{
    char dir[] = "/tmp/isod-unit-XXXXXX", path[256];
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;

    ASSERT_TRUE(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    ASSERT_EQ(iso_mkdir_p(path, 0700), 0);
    ASSERT_EQ(iso_mkdir_p(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/a/f", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(iso_write_all(fd, "hello", 5), 0);
    close(fd);
    ASSERT_EQ(iso_read_file_at(AT_FDCWD, path, 100, &buf, &len), 0);
    ASSERT_EQ(len, 5);
    ASSERT_STREQ(buf, "hello");
    free(buf);
    buf = NULL;
    ASSERT_EQ(iso_read_file_at(AT_FDCWD, path, 3, &buf, &len), -EFBIG);
    snprintf(path, sizeof(path), "%s/a/f/x", dir);
    ASSERT_EQ(iso_mkdir_p(path, 0700), -ENOTDIR);

    ASSERT_EQ(tap_rmtree(dir), 0);
}

static void test_rfc3339(void)
{
    char buf[64];

    iso_format_rfc3339(1700000000123456789ULL, buf, sizeof(buf));
    ASSERT_STREQ(buf, "2023-11-14T22:13:20.123456789Z");
}

static void test_json_types(void)
{
    _cleanup_json_ json_t *j = NULL;
    struct iso_err err = {0};
    const char *s = NULL;
    int64_t i = 0;
    bool b = false;
    json_t *o = NULL;

    const char *doc = "{\"Image\":\"busybox\",\"Tty\":true,\"Memory\":5,\"Cmd\":\"x\",\"N\":null}";
    ASSERT_EQ(iso_json_parse(doc, strlen(doc), &j, &err), 0);
    ASSERT_EQ(iso_json_get_string(j, "Image", true, &s, &err), 0);
    ASSERT_STREQ(s, "busybox");
    ASSERT_EQ(iso_json_get_bool(j, "Tty", false, &b, &err), 0);
    ASSERT_TRUE(b);
    ASSERT_EQ(iso_json_get_int(j, "Memory", false, &i, &err), 0);
    ASSERT_EQ(i, 5);
    ASSERT_EQ(iso_json_get_array(j, "Cmd", false, &o, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "field 'Cmd' must be an array, not a string");
    ASSERT_EQ(iso_json_get_string(j, "N", false, &s, &err), 0);
    ASSERT_EQ(iso_json_get_string(j, "Missing", true, &s, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "missing field 'Missing'");
    ASSERT_EQ(iso_json_get_int(j, "Tty", false, &i, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "'Tty' must be an integer, not a boolean");

    json_decref(j);
    j = NULL;
    ASSERT_EQ(iso_json_parse("{\"a\":", 5, &j, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "invalid JSON");
    ASSERT_EQ(iso_json_parse("{\"a\":1,\"a\":2}", 13, &j, &err), -EINVAL);
}

static void test_log_levels(void)
{
    enum log_level l;

    ASSERT_EQ(log_level_from_string("debug", &l), 0);
    ASSERT_EQ(l, LOG_LEVEL_DEBUG);
    ASSERT_EQ(log_level_from_string("warning", &l), 0);
    ASSERT_EQ(l, LOG_LEVEL_WARN);
    ASSERT_EQ(log_level_from_string("loud", &l), -EINVAL);
    ASSERT_STREQ(log_level_to_string(LOG_LEVEL_ERROR), "error");
}

int main(void)
{
    TEST(test_host_parse);
    TEST(test_parse_size);
    TEST(test_parse_bool_int);
    TEST(test_err_prefix);
    TEST(test_read_file_and_mkdir);
    TEST(test_rfc3339);
    TEST(test_json_types);
    TEST(test_log_levels);
    return tap_done();
}
