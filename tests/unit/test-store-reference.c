/* Reference parsing against the cases of distribution/reference's normalize_test.go and
 * reference_test.go, plus Docker's split API form and the images filter. */
#include <string.h>

#include "store/reference.h"
#include "tests/unit/tap.h"

#define HEX64 "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
#define DGST  "sha256:" HEX64

struct good_case {
    const char *in;
    const char *full;     /* store_ref_string() */
    const char *familiar; /* store_ref_familiar() */
    const char *domain, *path;
};

static const struct good_case good[] = {
    {"busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
     "library/busybox"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io",
     "library/busybox"},
    {"user/img:1", "docker.io/user/img:1", "user/img:1", "docker.io", "user/img"},
    {"docker.io/foo", "docker.io/library/foo:latest", "foo:latest", "docker.io", "library/foo"},
    {"index.docker.io/library/debian", "docker.io/library/debian:latest", "debian:latest",
     "docker.io", "library/debian"},
    {"index.docker.io/debian", "docker.io/library/debian:latest", "debian:latest", "docker.io",
     "library/debian"},
    {"library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest", "docker.io",
     "library/ubuntu"},
    {"docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar:latest",
     "docker.io", "library/foo/bar"},
    {"store/foo/bar", "docker.io/store/foo/bar:latest", "store/foo/bar:latest", "docker.io",
     "store/foo/bar"},
    {"other/library", "docker.io/other/library:latest", "other/library:latest", "docker.io",
     "other/library"},
    {"localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000",
     "a/b"},
    {"localhost/x", "localhost/x:latest", "localhost/x:latest", "localhost", "x"},
    {"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest", "127.0.0.1:5000",
     "x"},
    {"127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase:latest",
     "127.0.0.1:8000/private/moonbase:latest", "127.0.0.1:8000", "private/moonbase"},
    {"example.com/a@" DGST, "example.com/a@" DGST, "example.com/a@" DGST, "example.com", "a"},
    {"example.com:8000/privatebasee", "example.com:8000/privatebasee:latest",
     "example.com:8000/privatebasee:latest", "example.com:8000", "privatebasee"},
    {"test_com/foo", "docker.io/test_com/foo:latest", "test_com/foo:latest", "docker.io",
     "test_com/foo"},
    {"test-com:8080/foo", "test-com:8080/foo:latest", "test-com:8080/foo:latest", "test-com:8080",
     "foo"},
    {"xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo:latest", "xn--n3h.com:18080/foo:latest",
     "xn--n3h.com:18080", "foo"},
    {"Foo/bar", "Foo/bar:latest", "Foo/bar:latest", "Foo", "bar"},
    {"[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker:latest",
     "[fc00::1]:5000/docker/docker:latest", "[fc00::1]:5000", "docker/docker"},
    {"[::1]/x:y", "[::1]/x:y", "[::1]/x:y", "[::1]", "x"},
    {"192.168.0.1", "docker.io/library/192.168.0.1:latest", "192.168.0.1:latest", "docker.io",
     "library/192.168.0.1"},
    {"192.168.0.1:80", "docker.io/library/192.168.0.1:80", "192.168.0.1:80", "docker.io",
     "library/192.168.0.1"},
    {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "docker.io",
     "library/localhost"},
    {"busybox:latest@" DGST, "docker.io/library/busybox:latest@" DGST, "busybox:latest@" DGST,
     "docker.io", "library/busybox"},
    {"redis@" DGST, "docker.io/library/redis@" DGST, "redis@" DGST, "docker.io", "library/redis"},
    {"docker.io/" HEX64, "docker.io/library/" HEX64 ":latest", HEX64 ":latest", "docker.io",
     "library/" HEX64},
    {"dbcc1", "docker.io/library/dbcc1:latest", "dbcc1:latest", "docker.io", "library/dbcc1"},
    {"docker---rules/docker", "docker.io/docker---rules/docker:latest",
     "docker---rules/docker:latest", "docker.io", "docker---rules/docker"},
    {"dock__er/docker", "docker.io/dock__er/docker:latest", "dock__er/docker:latest", "docker.io",
     "dock__er/docker"},
    {"d/docker", "docker.io/d/docker:latest", "d/docker:latest", "docker.io", "d/docker"},
    {"a/b:Tag_1.x-Y", "docker.io/a/b:Tag_1.x-Y", "a/b:Tag_1.x-Y", "docker.io", "a/b"},
    {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
     "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest", "docker.io",
     "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"},
};

struct bad_case {
    const char *in;
    const char *msg; /* exact */
};

static const struct bad_case bad[] = {
    {"", "invalid reference format"},
    {"https://github.com/docker/docker", "invalid reference format"},
    {"docker/Docker",
     "invalid reference format: repository name (docker/Docker) must be lowercase"},
    {"Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"},
    {"docker.io/docker/Docker:tag",
     "invalid reference format: repository name (docker/Docker) must be lowercase"},
    {"-docker", "invalid reference format"},
    {"-docker/docker", "invalid reference format"},
    {"docker-/docker", "invalid reference format"},
    {"-docker.io/docker/docker", "invalid reference format"},
    {"docker///docker", "invalid reference format"},
    {"docker.io/docker///docker", "invalid reference format"},
    {"docker/", "invalid reference format"},
    {"____/____", "invalid reference format"},
    {"_docker/_docker", "invalid reference format"},
    {"dock..er/docker", "invalid reference format"},
    {"dock_.er/docker", "invalid reference format"},
    {"dock-.er/docker", "invalid reference format"},
    {"dock___er/docker", "invalid reference format"},
    {"[fc00::1]", "invalid reference format"},
    {"[fc00::1]:5000", "invalid reference format"},
    {"fc00::1:5000/debian", "invalid reference format"},
    {"[fe80::1%eth0]:5000/debian", "invalid reference format"},
    {"[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid reference format"},
    {"localhost:/x", "invalid reference format"},
    {"a/b:", "invalid reference format"},
    {"a/b:-tag", "invalid reference format"},
    {"a/b:t:u", "invalid reference format"},
    {"a/b@", "invalid reference format"},
    {"a/b@sha256:abc", "invalid reference format"},
    {"a/b:t@", "invalid reference format"},
    {"a b", "invalid reference format"},
    {"a/b:t/u", "invalid reference format"},
    {"a/b@sha256:" HEX64 "00", "invalid checksum digest length"},
    {"a/b@sha256:DBCC1C35AC38DF41FD2F5E4130B32FFDB93EBAE8B3DBE638C23575912276FC9C",
     "invalid checksum digest format"},
    {"a/b@md5:" HEX64, "unsupported digest algorithm"},
    {HEX64, "invalid repository name (" HEX64 "), cannot specify 64-byte hexadecimal strings"},
    {"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_"
     "namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_"
     "lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_"
     "255/docker",
     "repository name must not be more than 255 characters"},
};

static void test_good(void)
{
    char buf[STORE_REF_STR_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct iso_err err = {0};
        struct store_ref ref;
        const struct good_case *c = &good[i];

        if (store_ref_parse(c->in, &ref, &err) < 0)
            TAP_FAIL("'%s': %s", c->in, err.msg);
        ASSERT_STREQ(store_ref_string(&ref, buf, sizeof(buf)), c->full);
        ASSERT_STREQ(store_ref_familiar(&ref, buf, sizeof(buf)), c->familiar);
        ASSERT_STREQ(ref.domain, c->domain);
        ASSERT_STREQ(ref.path, c->path);

        /* The full and familiar forms parse back to the same reference. */
        struct store_ref again;
        ASSERT_EQ(store_ref_parse(c->full, &again, &err), 0);
        ASSERT_TRUE(memcmp(&ref, &again, sizeof(ref)) == 0);
        ASSERT_EQ(store_ref_parse(c->familiar, &again, &err), 0);
        ASSERT_STREQ(store_ref_string(&again, buf, sizeof(buf)), c->full);
    }
}

static void test_bad(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct iso_err err = {0};
        struct store_ref ref;

        if (store_ref_parse(bad[i].in, &ref, &err) != -EINVAL)
            TAP_FAIL("'%s' was accepted", bad[i].in);
        ASSERT_EQ(err.code, EINVAL);
        ASSERT_STREQ(err.msg, bad[i].msg);
    }
}

static void test_long_tag(void)
{
    char in[200], buf[STORE_REF_STR_MAX];
    struct iso_err err = {0};
    struct store_ref ref;

    snprintf(in, sizeof(in), "a:%0128d", 7);
    ASSERT_EQ(store_ref_parse(in, &ref, &err), 0);
    ASSERT_EQ(strlen(ref.tag), 128);
    ASSERT_STREQ(store_ref_familiar(&ref, buf, sizeof(buf)), in);
    snprintf(in, sizeof(in), "a:%0129d", 7);
    ASSERT_EQ(store_ref_parse(in, &ref, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid reference format");
}

static void test_long_name(void)
{
    char in[300];
    struct iso_err err = {0};
    struct store_ref ref;

    /* docker.io/library/ + 237 = 255 characters: the limit counts the normalised name. */
    memset(in, 'a', 237);
    in[237] = '\0';
    ASSERT_EQ(store_ref_parse(in, &ref, &err), 0);
    in[237] = 'a';
    in[238] = '\0';
    ASSERT_EQ(store_ref_parse(in, &ref, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "repository name must not be more than 255 characters");
}

static void test_tag_and_digest(void)
{
    char buf[STORE_REF_STR_MAX];
    struct iso_err err = {0};
    struct store_ref ref;

    ASSERT_EQ(store_ref_parse("127.0.0.1:5000/x/y:v1@" DGST, &ref, &err), 0);
    ASSERT_STREQ(ref.tag, "v1");
    ASSERT_STREQ(ref.digest, DGST);
    /* The digest wins for pulling; the tag stays for naming. */
    ASSERT_STREQ(store_ref_pull_ident(&ref), DGST);
    ASSERT_STREQ(store_ref_name(&ref, buf, sizeof(buf)), "127.0.0.1:5000/x/y");
    ASSERT_STREQ(store_ref_familiar_name(&ref, buf, sizeof(buf)), "127.0.0.1:5000/x/y");

    ASSERT_EQ(store_ref_parse("busybox", &ref, &err), 0);
    ASSERT_STREQ(store_ref_pull_ident(&ref), "latest");
    ASSERT_STREQ(ref.digest, "");
    ASSERT_STREQ(store_ref_name(&ref, buf, sizeof(buf)), "docker.io/library/busybox");
    ASSERT_STREQ(store_ref_familiar_name(&ref, buf, sizeof(buf)), "busybox");

    ASSERT_EQ(store_ref_parse("busybox@" DGST, &ref, &err), 0);
    ASSERT_STREQ(ref.tag, "");
    ASSERT_STREQ(store_ref_string(&ref, buf, sizeof(buf)), "docker.io/library/busybox@" DGST);
}

static void test_api_form(void)
{
    char buf[STORE_REF_STR_MAX];
    struct iso_err err = {0};
    struct store_ref ref;

    ASSERT_EQ(store_ref_parse_api("docker.io/library/alpine", "latest", &ref, &err), 0);
    ASSERT_STREQ(store_ref_string(&ref, buf, sizeof(buf)), "docker.io/library/alpine:latest");

    ASSERT_EQ(store_ref_parse_api("alpine", DGST, &ref, &err), 0);
    ASSERT_STREQ(store_ref_string(&ref, buf, sizeof(buf)), "docker.io/library/alpine@" DGST);
    ASSERT_STREQ(store_ref_pull_ident(&ref), DGST);

    /* A digest replaces the name's tag and digest; a tag keeps the digest. */
    ASSERT_EQ(store_ref_parse_api("alpine:3", DGST, &ref, &err), 0);
    ASSERT_STREQ(ref.tag, "");
    ASSERT_EQ(store_ref_parse_api("alpine:3", "edge", &ref, &err), 0);
    ASSERT_STREQ(ref.tag, "edge");
    ASSERT_EQ(store_ref_parse_api("alpine@" DGST, "edge", &ref, &err), 0);
    ASSERT_STREQ(store_ref_familiar(&ref, buf, sizeof(buf)), "alpine:edge@" DGST);

    ASSERT_EQ(store_ref_parse_api("alpine:3.19", NULL, &ref, &err), 0);
    ASSERT_STREQ(ref.tag, "3.19");
    ASSERT_EQ(store_ref_parse_api("localhost:5000/a", "", &ref, &err), 0);
    ASSERT_STREQ(store_ref_string(&ref, buf, sizeof(buf)), "localhost:5000/a:latest");

    ASSERT_EQ(store_ref_parse_api("alpine", "sha256:abc", &ref, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid tag format");
    ASSERT_EQ(store_ref_parse_api("alpine", "a b", &ref, &err), -EINVAL);
    ASSERT_EQ(store_ref_parse_api("Alpine", "latest", &ref, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "must be lowercase");
}

static void test_matches(void)
{
    struct iso_err err = {0};
    struct store_ref ref;

    ASSERT_EQ(store_ref_parse("busybox:1.36", &ref, &err), 0);
    ASSERT_TRUE(store_ref_matches(&ref, "busybox"));
    ASSERT_TRUE(store_ref_matches(&ref, "busybox:1.36"));
    ASSERT_TRUE(store_ref_matches(&ref, "busybox:1*"));
    ASSERT_TRUE(store_ref_matches(&ref, "busy*"));
    ASSERT_TRUE(!store_ref_matches(&ref, "busybox:latest"));
    ASSERT_TRUE(!store_ref_matches(&ref, "library/busybox"));
    ASSERT_TRUE(!store_ref_matches(&ref, "alpine"));

    /* From distribution/reference's TestMatch. */
    ASSERT_EQ(store_ref_parse("foo/c/baz:tag", &ref, &err), 0);
    ASSERT_TRUE(store_ref_matches(&ref, "foo/**/ba[rz]"));
    ASSERT_TRUE(store_ref_matches(&ref, "foo/*/baz:tag"));
    ASSERT_TRUE(!store_ref_matches(&ref, "foo/*"));
    ASSERT_TRUE(!store_ref_matches(&ref, "*"));
    ASSERT_EQ(store_ref_parse("example.com/foo/c/baz:tag", &ref, &err), 0);
    ASSERT_TRUE(store_ref_matches(&ref, "*/foo/c/baz"));
    ASSERT_TRUE(!store_ref_matches(&ref, "foo/c/baz"));
    ASSERT_EQ(store_ref_parse("127.0.0.1:5000/x", &ref, &err), 0);
    ASSERT_TRUE(store_ref_matches(&ref, "127.0.0.1:5000/x"));
}

static void test_digest_validate(void)
{
    struct iso_err err = {0};

    ASSERT_EQ(store_ref_digest_validate(DGST, &err), 0);
    ASSERT_EQ(store_ref_digest_validate("sha512:" HEX64 HEX64, &err), 0);
    ASSERT_EQ(store_ref_digest_validate("sha256:" HEX64 "0", &err), -EINVAL);
    ASSERT_STREQ(err.msg, "invalid checksum digest length");
    ASSERT_EQ(store_ref_digest_validate("sha256", &err), -EINVAL);
    ASSERT_EQ(store_ref_digest_validate("sha256:", &err), -EINVAL);
    ASSERT_EQ(store_ref_digest_validate(":" HEX64, &err), -EINVAL);
    ASSERT_EQ(store_ref_digest_validate("sha256:../../etc/passwd", &err), -EINVAL);
    ASSERT_EQ(store_ref_digest_validate(NULL, &err), -EINVAL);
}

int main(void)
{
    TEST(test_good);
    TEST(test_bad);
    TEST(test_long_tag);
    TEST(test_long_name);
    TEST(test_tag_and_digest);
    TEST(test_api_form);
    TEST(test_matches);
    TEST(test_digest_validate);
    return tap_done();
}
