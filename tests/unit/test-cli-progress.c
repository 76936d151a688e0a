/* cli/progress.c on canned JSON lines, rendered into memory in each mode; no daemon. Also the
 * helpers isoctl's image commands print with: cli/format.c, cli/reference.c, cli/auth.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/auth.h"
#include "cli/client.h"
#include "cli/format.h"
#include "cli/progress.h"
#include "cli/reference.h"
#include "common/json.h"
#include "common/macro.h"
#include "common/util.h"
#include "tests/unit/tap.h"

/* A pull as isod and dockerd stream it, with what a client must ignore mixed in: an unknown
 * field, a blank line, CRLF line ends. */
static const char PULL[] =
    "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\r\n"
    "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"aaa\"}\r\n"
    "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"bbb\",\"x\":{\"y\":[1]}}\r\n"
    "\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1000,\"total\":3400000},"
    "\"progress\":\"[>   ]\",\"id\":\"aaa\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1216000,\"total\":3400000},"
    "\"progress\":\"[==>   ]\",\"id\":\"aaa\"}\r\n"
    "{\"status\":\"Download complete\",\"progressDetail\":{},\"id\":\"bbb\"}\r\n"
    "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"aaa\"}\r\n"
    "{\"status\":\"Digest: sha256:abc\"}\r\n"
    "{\"status\":\"Status: Downloaded newer image for busybox:latest\"}\r\n";

#define BAR_1216 "[=================>                                 ]  1.216MB/3.4MB"
#define BAR_1000 "[>                                                  ]      1kB/3.4MB"

static const char PULL_TTY[] = "latest: Pulling from library/busybox\n"
                               "\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B"
                               "\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B"
                               "\x1b[2A\x1b[2K\raaa: Downloading " BAR_1000 "\r\x1b[2B"
                               "\x1b[2A\x1b[2K\raaa: Downloading " BAR_1216 "\r\x1b[2B"
                               "\x1b[1A\x1b[2K\rbbb: Download complete \r\x1b[1B"
                               "\x1b[2A\x1b[2K\raaa: Pull complete \r\x1b[2B"
                               "Digest: sha256:abc\n"
                               "Status: Downloaded newer image for busybox:latest\n";

static const char PULL_PLAIN[] = "latest: Pulling from library/busybox\n"
                                 "aaa: Pulling fs layer\n"
                                 "bbb: Pulling fs layer\n"
                                 "aaa: Downloading\n"
                                 "bbb: Download complete\n"
                                 "aaa: Pull complete\n"
                                 "Digest: sha256:abc\n"
                                 "Status: Downloaded newer image for busybox:latest\n";

/* Feeds input in pieces of at most step bytes (0: all at once), then finishes. Returns the
 * rendering (malloc'd) and the first error in *ret_r and err. */
static char *render(enum ctl_progress_mode mode, unsigned width, const char *input, size_t step,
                    int *ret_r, struct iso_err *err)
{
    char *out = NULL;
    size_t out_len = 0, len = strlen(input);
    FILE *f = open_memstream(&out, &out_len);
    struct ctl_progress *p = f ? ctl_progress_new(f, mode, width) : NULL;
    int r = 0;

    if (!p) {
        if (f)
            fclose(f);
        free(out);
        *ret_r = -ENOMEM;
        return NULL;
    }
    for (size_t off = 0; off < len && r >= 0;) {
        size_t n = step && len - off > step ? step : len - off;
        r = ctl_progress_feed(p, input + off, n, err);
        off += n;
    }
    if (r >= 0)
        r = ctl_progress_finish(p, err);
    ctl_progress_free(p);
    fclose(f);
    *ret_r = r;
    return out;
}

static void test_tty_renders_layers_in_place(void)
{
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *out = render(CTL_PROGRESS_TTY, 200, PULL, 0, &r, &err);

    ASSERT_EQ(r, 0);
    ASSERT_STREQ(out, PULL_TTY);
}

static void test_tty_split_reads(void)
{
    /* Cut everywhere: one byte, then a prime that splits lines and CRLFs at random places. */
    static const size_t steps[] = {1, 2, 7, 13, 64};

    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        struct iso_err err = {0};
        int r;
        _cleanup_free_ char *out = render(CTL_PROGRESS_TTY, 200, PULL, steps[i], &r, &err);

        ASSERT_EQ(r, 0);
        ASSERT_STREQ(out, PULL_TTY);
    }
}

static void test_tty_narrow_terminal_has_no_bar(void)
{
    static const char in[] = "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1216000,"
                             "\"total\":3400000},\"id\":\"aaa\"}\n";
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *out = render(CTL_PROGRESS_TTY, 80, in, 0, &r, &err);

    ASSERT_EQ(r, 0);
    ASSERT_STREQ(out, "\n\x1b[1A\x1b[2K\raaa: Downloading  1.216MB/3.4MB\r\x1b[1B");
}

static void test_tty_non_progress_line_restarts_layer_lines(void)
{
    /* After an id-less line, a known id is a new line again (docker pull -a, tag after tag). */
    static const char in[] = "{\"status\":\"Waiting\",\"progressDetail\":{},\"id\":\"aaa\"}\n"
                             "{\"status\":\"Pulling from x\",\"id\":\"v2\"}\n"
                             "{\"status\":\"Waiting\",\"progressDetail\":{},\"id\":\"aaa\"}\n";
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *out = render(CTL_PROGRESS_TTY, 200, in, 0, &r, &err);

    ASSERT_EQ(r, 0);
    ASSERT_STREQ(out, "\n\x1b[1A\x1b[2K\raaa: Waiting \r\x1b[1B"
                      "v2: Pulling from x\n"
                      "\n\x1b[1A\x1b[2K\raaa: Waiting \r\x1b[1B");
}

static void test_plain_prints_status_changes(void)
{
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *out = render(CTL_PROGRESS_PLAIN, 200, PULL, 0, &r, &err);
    _cleanup_free_ char *split = render(CTL_PROGRESS_PLAIN, 200, PULL, 3, &r, &err);

    ASSERT_EQ(r, 0);
    ASSERT_STREQ(out, PULL_PLAIN);
    ASSERT_STREQ(split, PULL_PLAIN);
    ASSERT_TRUE(!strchr(out, '\x1b'));
    ASSERT_TRUE(!strchr(out, '\r'));
}

static void test_stream_lines_and_aux(void)
{
    static const char in[] = "{\"stream\":\"Loaded image: busybox:latest\\n\"}\n"
                             "{\"aux\":{\"Digest\":\"sha256:abc\"}}\n"
                             "{\"stream\":\"Loaded image ID: sha256:def\\n\"}";
    static const char want[] = "Loaded image: busybox:latest\nLoaded image ID: sha256:def\n";
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *tty = render(CTL_PROGRESS_TTY, 200, in, 0, &r, &err);
    _cleanup_free_ char *plain = render(CTL_PROGRESS_PLAIN, 200, in, 5, &r, &err);

    /* The last line has no newline: finish() renders it. */
    ASSERT_EQ(r, 0);
    ASSERT_STREQ(tty, want);
    ASSERT_STREQ(plain, want);
}

static void test_inband_error(void)
{
    static const char in[] =
        "{\"status\":\"Pulling from library/nope\",\"id\":\"latest\"}\n"
        "{\"errorDetail\":{\"message\":\"manifest unknown: tag 'x'\"},\"error\":\"ignored\"}\n"
        "{\"status\":\"never shown\"}\n";
    static const enum ctl_progress_mode modes[] = {CTL_PROGRESS_TTY, CTL_PROGRESS_PLAIN,
                                                   CTL_PROGRESS_QUIET};

    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        struct iso_err err = {0};
        int r;
        _cleanup_free_ char *out = render(modes[i], 200, in, 4, &r, &err);

        ASSERT_EQ(r, -EIO);
        ASSERT_STREQ(err.msg, "manifest unknown: tag 'x'");
        ASSERT_STREQ(out,
                     modes[i] == CTL_PROGRESS_QUIET ? "" : "latest: Pulling from library/nope\n");
    }
}

static void test_inband_error_forms(void)
{
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *a =
        render(CTL_PROGRESS_PLAIN, 0, "{\"error\":\"only the old field\"}\n", 0, &r, &err);

    ASSERT_EQ(r, -EIO);
    ASSERT_STREQ(err.msg, "only the old field");
    ASSERT_STREQ(a, "");

    _cleanup_free_ char *b =
        render(CTL_PROGRESS_PLAIN, 0, "{\"errorDetail\":{\"code\":401,\"message\":\"denied\"}}\n",
               0, &r, &err);
    ASSERT_EQ(r, -EACCES);
    ASSERT_STREQ(err.msg, "authentication is required");
    ASSERT_STREQ(b, "");
}

static void test_error_is_sticky(void)
{
    struct iso_err err = {0};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    struct ctl_progress *p = ctl_progress_new(f, CTL_PROGRESS_PLAIN, 0);
    static const char bad[] = "{\"error\":\"boom\"}\n";
    static const char good[] = "{\"status\":\"later\"}\n";

    ASSERT_TRUE(p);
    ASSERT_EQ(ctl_progress_feed(p, bad, strlen(bad), &err), -EIO);
    err = (struct iso_err){0};
    ASSERT_EQ(ctl_progress_feed(p, good, strlen(good), &err), -EIO);
    ASSERT_STREQ(err.msg, "boom");
    err = (struct iso_err){0};
    ASSERT_EQ(ctl_progress_finish(p, &err), -EIO);
    ASSERT_STREQ(err.msg, "boom");
    ctl_progress_free(p);
    fclose(f);
    ASSERT_STREQ(out, "");
    free(out);
}

static void test_bad_json(void)
{
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *a =
        render(CTL_PROGRESS_PLAIN, 0, "{\"status\":\"ok\"}\n{not json\n", 0, &r, &err);

    ASSERT_EQ(r, -EBADMSG);
    ASSERT_STRSTR(err.msg, "invalid progress message");
    ASSERT_STREQ(a, "ok\n");

    _cleanup_free_ char *b = render(CTL_PROGRESS_TTY, 0, "[1,2]\n", 0, &r, &err);
    ASSERT_EQ(r, -EBADMSG);
    ASSERT_STRSTR(err.msg, "not a JSON object");
    ASSERT_STREQ(b, "");

    /* A truncated last line is an error too. */
    _cleanup_free_ char *c = render(CTL_PROGRESS_PLAIN, 0, "{\"status\":\"cut", 0, &r, &err);
    ASSERT_EQ(r, -EBADMSG);
    ASSERT_STREQ(c, "");
}

static void test_line_too_long(void)
{
    size_t n = CTL_PROGRESS_LINE_MAX + 16;
    _cleanup_free_ char *big = malloc(n + 1);
    struct iso_err err = {0};
    int r;

    ASSERT_TRUE(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n] = '\0';
    _cleanup_free_ char *out = render(CTL_PROGRESS_PLAIN, 0, big, 4096, &r, &err);
    ASSERT_EQ(r, -EBADMSG);
    ASSERT_STRSTR(err.msg, "longer than");
    ASSERT_STREQ(out, "");
}

static void test_quiet_writes_nothing(void)
{
    struct iso_err err = {0};
    int r;
    _cleanup_free_ char *out = render(CTL_PROGRESS_QUIET, 200, PULL, 9, &r, &err);

    ASSERT_EQ(r, 0);
    ASSERT_STREQ(out, "");
}

static void test_progress_format(void)
{
    char buf[256];

    ctl_progress_format(0, 0, "", false, 200, buf, sizeof(buf));
    ASSERT_STREQ(buf, "");
    ctl_progress_format(1500000, 0, "", false, 200, buf, sizeof(buf));
    ASSERT_STREQ(buf, "   1.5MB");
    ctl_progress_format(1216000, 3400000, "", false, 200, buf, sizeof(buf));
    ASSERT_STREQ(buf, BAR_1216);
    ctl_progress_format(1216000, 3400000, "", false, 110, buf, sizeof(buf));
    ASSERT_STREQ(buf, " 1.216MB/3.4MB");
    /* A current past the total fills the bar and drops the total. */
    ctl_progress_format(5000000, 3400000, "", false, 111, buf, sizeof(buf));
    ASSERT_STREQ(buf, "[==================================================>]      5MB");
    ctl_progress_format(3, 10, "items", false, 80, buf, sizeof(buf));
    ASSERT_STREQ(buf, "3/10 items");
    ctl_progress_format(3, 10, "", true, 80, buf, sizeof(buf));
    ASSERT_STREQ(buf, "");
}

/* ---- format.c ---- */

static void test_format_size(void)
{
    char buf[32];

    ctl_format_size(0, 3, buf, sizeof(buf));
    ASSERT_STREQ(buf, "0B");
    ctl_format_size(999, 3, buf, sizeof(buf));
    ASSERT_STREQ(buf, "999B");
    ctl_format_size(4261000, 3, buf, sizeof(buf));
    ASSERT_STREQ(buf, "4.26MB");
    ctl_format_size(187300000, 3, buf, sizeof(buf));
    ASSERT_STREQ(buf, "187MB");
    ctl_format_size(4261000, 4, buf, sizeof(buf));
    ASSERT_STREQ(buf, "4.261MB");
    ctl_format_size(1500, 3, buf, sizeof(buf));
    ASSERT_STREQ(buf, "1.5kB");
    ctl_format_size(2000000000000, 3, buf, sizeof(buf));
    ASSERT_STREQ(buf, "2TB");
}

static void test_format_duration(void)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
        {0, "Less than a second"}, {-5, "Less than a second"}, {1, "1 second"},
        {59, "59 seconds"},        {60, "About a minute"},     {119, "About a minute"},
        {120, "2 minutes"},        {3599, "59 minutes"},       {3600, "About an hour"},
        {5399, "About an hour"},   {5400, "2 hours"},          {47 * 3600, "47 hours"},
        {3 * 86400, "3 days"},     {20 * 86400, "2 weeks"},    {90 * 86400, "3 months"},
        {800 * 86400, "2 years"},
    };
    char buf[64];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        ctl_format_duration(cases[i].s, buf, sizeof(buf));
        ASSERT_STREQ(buf, cases[i].want);
    }
    ctl_format_since(1000, 1000 + 3 * 86400, buf, sizeof(buf));
    ASSERT_STREQ(buf, "3 days ago");
    ctl_format_since(0, 1000, buf, sizeof(buf));
    ASSERT_STREQ(buf, "N/A");
}

static void test_format_ellipsis_and_ids(void)
{
    char id[32];
    _cleanup_free_ char *a = ctl_ellipsis("short", 45);
    _cleanup_free_ char *b = ctl_ellipsis("abcdefghij", 5);
    _cleanup_free_ char *c = ctl_ellipsis("ééééééé", 4);

    ASSERT_STREQ(a, "short");
    ASSERT_STREQ(b, "abcd…");
    ASSERT_STREQ(c, "ééé…");
    ASSERT_STREQ(ctl_short_id("sha256:0123456789abcdef0123", id, sizeof(id)), "0123456789ab");
    ASSERT_STREQ(ctl_short_id("<missing>", id, sizeof(id)), "<missing>");
}

static void test_format_table(void)
{
    _cleanup_table_ struct ctl_table *t = ctl_table_new(3);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    ASSERT_TRUE(t && f);
    ASSERT_EQ(ctl_table_add(t, (const char *[]){"REPOSITORY", "TAG", "SIZE"}), 0);
    ASSERT_EQ(ctl_table_add(t, (const char *[]){"busybox", "latest", "4.26MB"}), 0);
    ASSERT_EQ(ctl_table_add(t, (const char *[]){"<none>", NULL, "…"}), 0);
    ctl_table_print(t, f);
    fclose(f);
    /* Minimum width 10, padding 3, no padding after the last column. */
    ASSERT_STREQ(out, "REPOSITORY   TAG       SIZE\n"
                      "busybox      latest    4.26MB\n"
                      "<none>                 …\n");
    free(out);
}

/* ---- reference.c ---- */

static void test_reference(void)
{
    struct iso_err err = {0};
    struct ctl_ref ref;
    char buf[CTL_REF_STR_MAX];

    ASSERT_EQ(ctl_ref_parse("busybox", &ref, &err), 0);
    ASSERT_STREQ(ref.domain, "docker.io");
    ASSERT_STREQ(ref.path, "library/busybox");
    ASSERT_STREQ(ref.tag, "");
    ASSERT_STREQ(ctl_ref_familiar_name(&ref, buf, sizeof(buf)), "busybox");

    ASSERT_EQ(ctl_ref_parse("user/img:1.0", &ref, &err), 0);
    ASSERT_STREQ(ctl_ref_string(&ref, buf, sizeof(buf)), "docker.io/user/img:1.0");

    ASSERT_EQ(ctl_ref_parse("localhost:5000/a/b", &ref, &err), 0);
    ASSERT_STREQ(ref.domain, "localhost:5000");
    ASSERT_STREQ(ref.tag, "");
    ASSERT_STREQ(ctl_ref_familiar_name(&ref, buf, sizeof(buf)), "localhost:5000/a/b");

    ASSERT_EQ(ctl_ref_parse("index.docker.io/library/alpine:3@sha256:abcd", &ref, &err), 0);
    ASSERT_STREQ(ctl_ref_name(&ref, buf, sizeof(buf)), "docker.io/library/alpine");
    ASSERT_STREQ(ref.digest, "sha256:abcd");
    ASSERT_STREQ(ctl_ref_string(&ref, buf, sizeof(buf)), "docker.io/library/alpine:3@sha256:abcd");

    ASSERT_EQ(ctl_ref_parse("Busybox", &ref, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "must be lowercase");
    ASSERT_EQ(ctl_ref_parse("busybox:", &ref, &err), -EINVAL);
    ASSERT_EQ(ctl_ref_parse("", &ref, &err), -EINVAL);
    ASSERT_EQ(ctl_ref_parse("a b", &ref, &err), -EINVAL);
    ASSERT_EQ(ctl_ref_parse("x@sha256:XYZ", &ref, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid reference format");
}

/* ---- client.c escaping ---- */

static void test_escaping(void)
{
    _cleanup_free_ char *q = ctl_query_escape("{\"reference\":[\"a b/c:d\"]}");
    _cleanup_free_ char *p = ctl_path_escape("localhost:5000/app:1 x?#%");
    _cleanup_free_ char *t = strdup("/images/create");

    ASSERT_STREQ(q, "%7B%22reference%22%3A%5B%22a%20b%2Fc%3Ad%22%5D%7D");
    ASSERT_STREQ(p, "localhost:5000/app:1%20x%3F%23%25");
    ASSERT_TRUE(t);
    ASSERT_EQ(ctl_target_add(&t, "fromImage", "docker.io/library/busybox"), 0);
    ASSERT_EQ(ctl_target_add(&t, "tag", "latest"), 0);
    ASSERT_STREQ(t, "/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest");
}

/* ---- auth.c ---- */

static void test_base64(void)
{
    _cleanup_free_ char *a = ctl_base64_encode("user:pass", 9, false);
    _cleanup_free_ char *b = ctl_base64_encode("\xfb\xff", 2, true);
    _cleanup_free_ char *c = ctl_base64_encode("\xfb\xff", 2, false);
    _cleanup_free_ char *d = NULL;
    size_t len;

    ASSERT_STREQ(a, "dXNlcjpwYXNz");
    ASSERT_STREQ(b, "-_8=");
    ASSERT_STREQ(c, "+/8=");
    ASSERT_EQ(ctl_base64_decode("dXNlcjpwYXNz", &d, &len), 0);
    ASSERT_EQ(len, 9);
    ASSERT_STREQ(d, "user:pass");
    ASSERT_EQ(ctl_base64_decode("a", &d, &len), -EINVAL);
    ASSERT_EQ(ctl_base64_decode("ab!d", &d, &len), -EINVAL);
}

static void test_server_key(void)
{
    static const char *const hub[] = {"", "docker.io", "index.docker.io",
                                      "https://index.docker.io/v1/", "registry-1.docker.io"};

    for (size_t i = 0; i < ARRAY_SIZE(hub); i++) {
        _cleanup_free_ char *k = ctl_auth_server_key(hub[i]);
        ASSERT_STREQ(k, CTL_AUTH_DOCKER_HUB);
    }
    _cleanup_free_ char *a = ctl_auth_server_key("https://r.example.com:5000/v2/");
    _cleanup_free_ char *b = ctl_auth_server_key("localhost:5000");
    ASSERT_STREQ(a, "r.example.com:5000");
    ASSERT_STREQ(b, "localhost:5000");
}

static void test_auth_config_roundtrip(void)
{
    char dir[] = "/tmp/test-cli-progress-XXXXXX";
    _cleanup_free_ char *path = NULL, *path2 = NULL, *header = NULL, *user = NULL, *pw = NULL;
    _cleanup_free_ char *json = NULL;
    _cleanup_json_ json_t *config = NULL, *again = NULL, *decoded = NULL;
    struct iso_err err = {0};
    struct stat st;
    size_t len;

    ASSERT_TRUE(mkdtemp(dir));
    path = iso_strprintf("%s/sub/config.json", dir);
    ASSERT_TRUE(path);
    setenv("ISOCTL_CONFIG", path, 1);
    ASSERT_EQ(ctl_auth_config_path(&path2, &err), 0);
    ASSERT_STREQ(path2, path);

    /* No file yet: an empty config, and no header. */
    ASSERT_EQ(ctl_auth_load(path, &config, &err), 0);
    ASSERT_EQ(ctl_auth_registry_header("docker.io", &header, &err), 0);
    ASSERT_TRUE(!header);

    ASSERT_EQ(json_object_set_new(config, "other", json_string("kept")), 0);
    ASSERT_EQ(ctl_auth_set(config, "index.docker.io", "me", "s3cret", NULL), 0);
    ASSERT_EQ(ctl_auth_set(config, "http://localhost:5000/", "you", "pw:with:colons", NULL), 0);
    ASSERT_EQ(ctl_auth_save(path, config, &err), 0);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    *strrchr(path2, '/') = '\0';
    ASSERT_EQ(stat(path2, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0700);

    ASSERT_EQ(ctl_auth_load(path, &again, &err), 0);
    ASSERT_STREQ(json_string_value(json_object_get(again, "other")), "kept");
    ASSERT_STREQ(
        json_string_value(json_object_get(
            json_object_get(json_object_get(again, "auths"), CTL_AUTH_DOCKER_HUB), "auth")),
        "bWU6czNjcmV0");
    ASSERT_EQ(ctl_auth_find(again, "localhost:5000", &user, &pw, &err), 1);
    ASSERT_STREQ(user, "you");
    ASSERT_STREQ(pw, "pw:with:colons");

    /* The header: base64url of the JSON docker sends. */
    ASSERT_EQ(ctl_auth_registry_header("docker.io", &header, &err), 0);
    ASSERT_TRUE(header);
    ASSERT_TRUE(strneq(header, "X-Registry-Auth: ", 17));
    ASSERT_EQ(ctl_base64_decode(header + 17, &json, &len), 0);
    ASSERT_EQ(iso_json_parse(json, len, &decoded, &err), 0);
    ASSERT_STREQ(json_string_value(json_object_get(decoded, "username")), "me");
    ASSERT_STREQ(json_string_value(json_object_get(decoded, "password")), "s3cret");
    ASSERT_STREQ(json_string_value(json_object_get(decoded, "serveraddress")), CTL_AUTH_DOCKER_HUB);

    ASSERT_EQ(ctl_auth_remove(again, "docker.io"), 1);
    ASSERT_EQ(ctl_auth_remove(again, "docker.io"), 0);

    /* A broken file is an error, not an empty config. */
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f);
    fputs("{broken", f);
    fclose(f);
    json_decref(config);
    config = NULL;
    ASSERT_EQ(ctl_auth_load(path, &config, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "config '");

    unsetenv("ISOCTL_CONFIG");
    (void)unlink(path);
    (void)rmdir(path2);
    (void)rmdir(dir);
}

int main(void)
{
    TEST(test_tty_renders_layers_in_place);
    TEST(test_tty_split_reads);
    TEST(test_tty_narrow_terminal_has_no_bar);
    TEST(test_tty_non_progress_line_restarts_layer_lines);
    TEST(test_plain_prints_status_changes);
    TEST(test_stream_lines_and_aux);
    TEST(test_inband_error);
    TEST(test_inband_error_forms);
    TEST(test_error_is_sticky);
    TEST(test_bad_json);
    TEST(test_line_too_long);
    TEST(test_quiet_writes_nothing);
    TEST(test_progress_format);
    TEST(test_format_size);
    TEST(test_format_duration);
    TEST(test_format_ellipsis_and_ids);
    TEST(test_format_table);
    TEST(test_reference);
    TEST(test_escaping);
    TEST(test_base64);
    TEST(test_server_key);
    TEST(test_auth_config_roundtrip);
    return tap_done();
}
