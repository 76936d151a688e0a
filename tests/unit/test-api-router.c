#include "api/router.h"
#include "tests/unit/tap.h"

static void h_a(struct api_req *r)
{
}
static void h_b(struct api_req *r)
{
}
static void h_c(struct api_req *r)
{
}

static const struct api_route routes[] = {
    API_ROUTE(API_GET | API_HEAD, "/_ping", h_a),
    API_ROUTE(API_GET, "/containers/json", h_a),
    API_ROUTE(API_GET, "/containers/{id}/json", h_b),
    API_ROUTE(API_POST, "/containers/{id}/start", h_c),
    API_ROUTE(API_GET, "/images/{name*}/json", h_b),
    API_ROUTE(API_DELETE, "/images/{name*}", h_c),
};

#define MIN API_VERSION_NUM(1, 24)
#define MAX API_VERSION_NUM(1, 44)

static int match(unsigned m, const char *path, struct api_match *out, struct iso_err *err)
{
    return api_route_match(routes, ARRAY_SIZE(routes), m, path, MIN, MAX, out, err);
}

static void test_plain_and_prefixed(void)
{
    struct api_match m;
    struct iso_err err = {0};

    ASSERT_EQ(match(API_GET, "/_ping", &m, &err), 0);
    ASSERT_TRUE(m.route->handler == h_a);
    ASSERT_EQ(m.version, MAX);
    api_match_done(&m);

    ASSERT_EQ(match(API_HEAD, "/v1.44/_ping", &m, &err), 0);
    ASSERT_EQ(m.version, 144);
    api_match_done(&m);

    ASSERT_EQ(match(API_GET, "/v1.24/containers/json", &m, &err), 0);
    ASSERT_EQ(m.version, 124);
    ASSERT_EQ(m.n_params, 0);
    api_match_done(&m);
}

static void test_params(void)
{
    struct api_match m;
    struct iso_err err = {0};

    ASSERT_EQ(match(API_GET, "/v1.41/containers/abc123/json", &m, &err), 0);
    ASSERT_TRUE(m.route->handler == h_b);
    ASSERT_EQ(m.n_params, 1);
    ASSERT_STREQ(m.params[0], "abc123");
    api_match_done(&m);

    /* "json" is a literal for one route and an id for another: first match wins. */
    ASSERT_EQ(match(API_GET, "/containers/json", &m, &err), 0);
    ASSERT_TRUE(m.route->handler == h_a);
    api_match_done(&m);
}

static void test_greedy(void)
{
    struct api_match m;
    struct iso_err err = {0};

    ASSERT_EQ(match(API_GET, "/images/127.0.0.1:5000/library/busybox:latest/json", &m, &err), 0);
    ASSERT_STREQ(m.params[0], "127.0.0.1:5000/library/busybox:latest");
    api_match_done(&m);

    ASSERT_EQ(match(API_GET, "/images/busybox/json", &m, &err), 0);
    ASSERT_STREQ(m.params[0], "busybox");
    api_match_done(&m);

    ASSERT_EQ(match(API_DELETE, "/v1.44/images/a/b/c", &m, &err), 0);
    ASSERT_TRUE(m.route->handler == h_c);
    ASSERT_STREQ(m.params[0], "a/b/c");
    api_match_done(&m);

    /* An empty segment inside the name is no name. */
    ASSERT_EQ(match(API_GET, "/images//json", &m, &err), -ENOENT);
    ASSERT_EQ(match(API_GET, "/images/a//b/json", &m, &err), -ENOENT);
}

static void test_errors(void)
{
    struct api_match m;
    struct iso_err err = {0};

    ASSERT_EQ(match(API_GET, "/nope", &m, &err), -ENOENT);
    ASSERT_STREQ(err.msg, "page not found");
    ASSERT_EQ(match(API_GET, "/containers/json/", &m, &err), -ENOENT);
    ASSERT_EQ(match(API_GET, "/", &m, &err), -ENOENT);
    ASSERT_EQ(match(API_GET, "", &m, &err), -ENOENT);

    ASSERT_EQ(match(API_POST, "/containers/json", &m, &err), -EOPNOTSUPP);
    ASSERT_EQ(m.allowed, API_GET);
    ASSERT_EQ(match(API_DELETE, "/_ping", &m, &err), -EOPNOTSUPP);
    ASSERT_EQ(m.allowed, API_GET | API_HEAD);

    ASSERT_EQ(match(API_GET, "/v1.45/_ping", &m, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "client version 1.45 is too new. Maximum supported API version is 1.44");
    ASSERT_EQ(match(API_GET, "/v1.12/_ping", &m, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "client version 1.12 is too old. Minimum supported API version is "
                          "1.24, please upgrade your client to a newer version");
    ASSERT_EQ(match(API_GET, "/v2.0/info", &m, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "too new");
    /* Not a version: an ordinary (unknown) path. */
    ASSERT_EQ(match(API_GET, "/v1/_ping", &m, &err), -ENOENT);
    ASSERT_EQ(match(API_GET, "/vx.y/_ping", &m, &err), -ENOENT);
}

static void test_version_parse(void)
{
    int v;

    ASSERT_EQ(api_version_parse("1.44", &v), 0);
    ASSERT_EQ(v, 144);
    ASSERT_EQ(api_version_parse("1.4", &v), 0);
    ASSERT_EQ(v, 104);
    ASSERT_EQ(api_version_parse("1.", &v), -EINVAL);
    ASSERT_EQ(api_version_parse("1.44.1", &v), -EINVAL);
    ASSERT_EQ(api_version_parse("99999.1", &v), -EINVAL);
    ASSERT_EQ(api_method_parse("GET"), API_GET);
    ASSERT_EQ(api_method_parse("PATCH"), 0);
}

static void test_many_segments(void)
{
    struct api_match m;
    struct iso_err err = {0};
    char path[2048] = "/images";

    for (int i = 0; i < 100; i++)
        strcat(path, "/x");
    ASSERT_EQ(match(API_GET, path, &m, &err), -ENOENT);
}

int main(void)
{
    TEST(test_plain_and_prefixed);
    TEST(test_params);
    TEST(test_greedy);
    TEST(test_errors);
    TEST(test_version_parse);
    TEST(test_many_segments);
    return tap_done();
}
