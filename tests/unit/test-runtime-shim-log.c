#include <fcntl.h>
#include <sys/stat.h>

#include "common/util.h"
#include "runtime/shim-log.h"
#include "tests/unit/tap.h"

/* 2026-12-04T14:00:00.000000007Z */
#define T0 (1796392800ULL * 1000000000ULL + 7ULL)

static char scratch[64];
static char logpath[128];

static void reset(void)
{
    (void)tap_rmtree(scratch);
    (void)mkdir(scratch, 0755);
}

static char *slurp(const char *path)
{
    char *s = NULL;
    size_t len;
    if (iso_read_file_at(AT_FDCWD, path, 1 << 24, &s, &len) < 0)
        return NULL;
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static char *escape(const char *s, size_t len)
{
    char *out = malloc(shim_json_escape_max(len) + 1);
    size_t n = shim_json_escape(out, s, len);
    out[n] = '\0';
    return out;
}

static void test_escape(void)
{
    _cleanup_free_ char *a = escape("plain text", 10);
    ASSERT_STREQ(a, "\"plain text\"");
    _cleanup_free_ char *b = escape("q\" b\\ n\n r\r t\t", 14);
    ASSERT_STREQ(b, "\"q\\\" b\\\\ n\\n r\\r t\\u0009\"");
    /* Docker (Go) escapes HTML characters and control bytes. */
    _cleanup_free_ char *c = escape("<a&b>\x01\x1f\x7f", 8);
    ASSERT_STREQ(c, "\"\\u003ca\\u0026b\\u003e\\u0001\\u001f\x7f\"");
    _cleanup_free_ char *d = escape("nul\0x", 5);
    ASSERT_STREQ(d, "\"nul\\u0000x\"");
}

static void test_escape_utf8(void)
{
    /* Valid 2, 3 and 4 byte sequences pass through. */
    _cleanup_free_ char *a = escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    ASSERT_STREQ(a, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* Each invalid byte is one U+FFFD: a stray continuation, a cut sequence, an overlong form,
     * a surrogate, past U+10FFFF, 0xff. */
    _cleanup_free_ char *b = escape("a\x80z", 3);
    ASSERT_STREQ(b, "\"a\\ufffdz\"");
    _cleanup_free_ char *c = escape("\xe2\x82", 2);
    ASSERT_STREQ(c, "\"\\ufffd\\ufffd\"");
    _cleanup_free_ char *d = escape("\xc0\xaf", 2);
    ASSERT_STREQ(d, "\"\\ufffd\\ufffd\"");
    _cleanup_free_ char *e = escape("\xed\xa0\x80", 3);
    ASSERT_STREQ(e, "\"\\ufffd\\ufffd\\ufffd\"");
    _cleanup_free_ char *f = escape("\xf4\x90\x80\x80", 4);
    ASSERT_STREQ(f, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    _cleanup_free_ char *g = escape("\xff", 1);
    ASSERT_STREQ(g, "\"\\ufffd\"");
    /* U+2028, U+2029 escaped like Go. */
    _cleanup_free_ char *h = escape("\xe2\x80\xa8\xe2\x80\xa9", 6);
    ASSERT_STREQ(h, "\"\\u2028\\u2029\"");
}

static void test_entry_format(void)
{
    char out[256];
    size_t n = shim_log_entry_format(out, SHIM_STREAM_STDERR, "hi\n", 3, T0 + 123456780ULL);
    out[n] = '\0';
    ASSERT_STREQ(out, "{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"time\":"
                      "\"2026-12-04T14:00:00.123456787Z\"}\n");
    n = shim_log_entry_format(out, SHIM_STREAM_STDOUT, "", 0, T0);
    out[n] = '\0';
    /* Nine digits of nanoseconds always. */
    ASSERT_STREQ(out, "{\"log\":\"\",\"stream\":\"stdout\",\"time\":"
                      "\"2026-12-04T14:00:00.000000007Z\"}\n");
}

static void test_lines_and_partial(void)
{
    struct shim_log log;
    struct iso_err err = {0};

    reset();
    ASSERT_EQ(shim_log_open(&log, logpath, 0, 1, &err), 0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, "one\ntwo\nthr", 11, T0);
    shim_log_write(&log, SHIM_STREAM_STDERR, "err\n", 4, T0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, "ee\nfour", 7, T0);
    shim_log_flush(&log, SHIM_STREAM_STDOUT, T0);
    ASSERT_EQ(log.write_error, 0);
    shim_log_close(&log);

    _cleanup_free_ char *s = slurp(logpath);
    ASSERT_STREQ(
        s,
        "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-04T14:00:00.000000007Z\"}\n"
        "{\"log\":\"two\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-04T14:00:00.000000007Z\"}\n"
        "{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"2026-12-04T14:00:00.000000007Z\"}\n"
        "{\"log\":\"three\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-04T14:00:00.000000007Z\"}\n"
        "{\"log\":\"four\",\"stream\":\"stdout\",\"time\":\"2026-12-04T14:00:00.000000007Z\"}\n");
}

static void test_long_line(void)
{
    struct shim_log log;
    struct iso_err err = {0};
    static char big[SHIM_LOG_LINE_MAX * 2 + 11];
    size_t len = sizeof(big) - 1;

    memset(big, 'x', len);
    big[len] = '\n';
    reset();
    ASSERT_EQ(shim_log_open(&log, logpath, 0, 1, &err), 0);
    /* Two reads, the split in the middle of the first piece. */
    shim_log_write(&log, SHIM_STREAM_STDOUT, big, 100, T0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, big + 100, len + 1 - 100, T0);
    shim_log_close(&log);

    _cleanup_free_ char *s = slurp(logpath);
    ASSERT_EQ(count_lines(s), 3);
    /* Two full pieces without a newline, then the rest with it. */
    char *l2 = strchr(s, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    ASSERT_EQ(
        l2 - s,
        (long)strlen(
            "{\"log\":\"\",\"stream\":\"stdout\",\"time\":\"2026-12-04T14:00:00.000000007Z\"}\n") +
            SHIM_LOG_LINE_MAX);
    ASSERT_TRUE(strneq(l3, "{\"log\":\"xxxxxxxxxx\\n\",", 22));
    ASSERT_TRUE(strstr(s, "x\\n") == strstr(l3, "x\\n"));
}

static void test_line_of_max_length(void)
{
    struct shim_log log;
    struct iso_err err = {0};
    char line[SHIM_LOG_LINE_MAX];

    /* A line filling the buffer with its newline is whole. */
    memset(line, 'y', sizeof(line));
    line[sizeof(line) - 1] = '\n';
    reset();
    ASSERT_EQ(shim_log_open(&log, logpath, 0, 1, &err), 0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, "y", 1, T0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, line + 1, sizeof(line) - 1, T0);
    shim_log_close(&log);
    _cleanup_free_ char *s = slurp(logpath);
    ASSERT_EQ(count_lines(s), 1);
    ASSERT_TRUE(strstr(s, "y\\n\",") != NULL);
}

static void test_rotation(void)
{
    struct shim_log log;
    struct iso_err err = {0};
    char path[192], line[64];

    reset();
    /* An entry here is 73 bytes; 200 bytes: rotate after the third. */
    ASSERT_EQ(shim_log_open(&log, logpath, 200, 3, &err), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof(line), "line%d\n", i);
        shim_log_write(&log, SHIM_STREAM_STDOUT, line, strlen(line), T0);
    }
    ASSERT_EQ(log.write_error, 0);
    shim_log_close(&log);

    /* 10 entries, 3 per file: live has line9, .1 has 6-8, .2 has 3-5, 0-2 are gone. */
    _cleanup_free_ char *live = slurp(logpath);
    ASSERT_EQ(count_lines(live), 1);
    ASSERT_STRSTR(live, "line9");
    snprintf(path, sizeof(path), "%s.1", logpath);
    _cleanup_free_ char *r1 = slurp(path);
    ASSERT_EQ(count_lines(r1), 3);
    ASSERT_STRSTR(r1, "line6");
    ASSERT_STRSTR(r1, "line8");
    snprintf(path, sizeof(path), "%s.2", logpath);
    _cleanup_free_ char *r2 = slurp(path);
    ASSERT_STRSTR(r2, "line3");
    snprintf(path, sizeof(path), "%s.3", logpath);
    ASSERT_TRUE(access(path, F_OK) < 0);

    struct stat st;
    ASSERT_EQ(stat(logpath, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0640);
}

static void test_rotation_one_write(void)
{
    struct shim_log log;
    struct iso_err err = {0};
    char path[192], lines[128] = "";

    /* All ten lines in one read: the batch is cut where the file reaches the limit. */
    for (int i = 0; i < 10; i++)
        snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines), "line%d\n", i);
    reset();
    ASSERT_EQ(shim_log_open(&log, logpath, 200, 3, &err), 0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, lines, strlen(lines), T0);
    shim_log_close(&log);

    _cleanup_free_ char *live = slurp(logpath);
    ASSERT_EQ(count_lines(live), 1);
    ASSERT_STRSTR(live, "line9");
    snprintf(path, sizeof(path), "%s.1", logpath);
    _cleanup_free_ char *r1 = slurp(path);
    ASSERT_EQ(count_lines(r1), 3);
    ASSERT_STRSTR(r1, "line6");
}

static void test_time_across_seconds(void)
{
    char out[256];

    /* The date part is cached per second: it must change with the second, either way. */
    size_t n = shim_log_entry_format(out, SHIM_STREAM_STDOUT, "", 0, T0 - 7 + 999999999ULL);
    out[n] = '\0';
    ASSERT_STRSTR(out, "\"2026-12-04T14:00:00.999999999Z\"");
    n = shim_log_entry_format(out, SHIM_STREAM_STDOUT, "", 0, T0 + 1000000000ULL);
    out[n] = '\0';
    ASSERT_STRSTR(out, "\"2026-12-04T14:00:01.000000007Z\"");
    n = shim_log_entry_format(out, SHIM_STREAM_STDOUT, "", 0, 86400ULL * 1000000000ULL);
    out[n] = '\0';
    ASSERT_STRSTR(out, "\"1970-01-02T00:00:00.000000000Z\"");
    n = shim_log_entry_format(out, SHIM_STREAM_STDOUT, "", 0, T0);
    out[n] = '\0';
    ASSERT_STRSTR(out, "\"2026-12-04T14:00:00.000000007Z\"");
}

static void test_rotation_one_file(void)
{
    struct shim_log log;
    struct iso_err err = {0};
    char path[192];

    reset();
    ASSERT_EQ(shim_log_open(&log, logpath, 100, 1, &err), 0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, "a\nb\nc\n", 6, T0);
    shim_log_close(&log);
    /* Truncated in place: only the last entry, no .1. */
    _cleanup_free_ char *live = slurp(logpath);
    ASSERT_EQ(count_lines(live), 1);
    ASSERT_STRSTR(live, "\"c\\n\"");
    snprintf(path, sizeof(path), "%s.1", logpath);
    ASSERT_TRUE(access(path, F_OK) < 0);
}

static void test_reopen_appends(void)
{
    struct shim_log log;
    struct iso_err err = {0};

    reset();
    ASSERT_EQ(shim_log_open(&log, logpath, 0, 1, &err), 0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, "a\n", 2, T0);
    shim_log_close(&log);
    ASSERT_EQ(shim_log_open(&log, logpath, 0, 1, &err), 0);
    ASSERT_TRUE(log.size > 0);
    shim_log_write(&log, SHIM_STREAM_STDOUT, "b\n", 2, T0);
    shim_log_close(&log);
    _cleanup_free_ char *live = slurp(logpath);
    ASSERT_EQ(count_lines(live), 2);

    ASSERT_EQ(shim_log_open(&log, "/nonexistent/dir/x.log", 0, 1, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "'/nonexistent/dir/x.log'");
}

static void test_frame_header(void)
{
    uint8_t h[SHIM_FRAME_HEADER_SIZE];

    shim_frame_header(h, SHIM_STREAM_STDERR, 0x01020304);
    ASSERT_TRUE(memcmp(h, "\x02\0\0\0\x01\x02\x03\x04", 8) == 0);
    shim_frame_header(h, SHIM_STREAM_STDOUT, 5);
    ASSERT_TRUE(memcmp(h, "\x01\0\0\0\0\0\0\x05", 8) == 0);
}

int main(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/isod-test-shimlog.XXXXXX");
    if (!mkdtemp(scratch))
        return 1;
    snprintf(logpath, sizeof(logpath), "%s/c-json.log", scratch);

    TEST(test_escape);
    TEST(test_escape_utf8);
    TEST(test_entry_format);
    TEST(test_lines_and_partial);
    TEST(test_long_line);
    TEST(test_line_of_max_length);
    TEST(test_rotation);
    TEST(test_rotation_one_write);
    TEST(test_time_across_seconds);
    TEST(test_rotation_one_file);
    TEST(test_reopen_appends);
    TEST(test_frame_header);

    (void)tap_rmtree(scratch);
    return tap_done();
}
