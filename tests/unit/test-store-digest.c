#include <errno.h>
#include <string.h>

#include "store/digest.h"
#include "tests/unit/tap.h"

#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* printf a | sha256sum, and b, c. */
#define SHA_A "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define SHA_B "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define SHA_C "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
/* printf '%s' "$SHA_A $SHA_B" | sha256sum, computed by hand. */
#define CHAIN_AB "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
/* printf '%s' "$CHAIN_AB $SHA_C" | sha256sum */
#define CHAIN_ABC "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106"

static void test_known_vectors(void)
{
    char d[STORE_DIGEST_SIZE];

    ASSERT_EQ(store_digest_buf("", 0, d), 0);
    ASSERT_STREQ(d, EMPTY_SHA);
    ASSERT_EQ(store_digest_buf("abc", 3, d), 0);
    ASSERT_STREQ(d, ABC_SHA);
    ASSERT_EQ(strlen(d), STORE_DIGEST_LEN);
}

static void test_streaming_matches_one_shot(void)
{
    static char big[1000000];
    struct store_digest s = {0};
    char d[STORE_DIGEST_SIZE];

    memset(big, 'a', sizeof(big));
    ASSERT_EQ(store_digest_init(&s), 0);
    /* Uneven pieces, and an empty one. */
    for (size_t off = 0, step = 1; off < sizeof(big); off += step, step = step * 3 + 1) {
        size_t n = off + step > sizeof(big) ? sizeof(big) - off : step;
        store_digest_update(&s, big + off, n);
        store_digest_update(&s, big, 0);
    }
    ASSERT_EQ(store_digest_final(&s, d), 0);
    /* The FIPS 180-2 "one million a" vector. */
    ASSERT_STREQ(d, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* A finalized digest can start over; done() is idempotent. */
    ASSERT_EQ(store_digest_init(&s), 0);
    store_digest_update(&s, "abc", 3);
    ASSERT_EQ(store_digest_final(&s, d), 0);
    ASSERT_STREQ(d, ABC_SHA);
    store_digest_done(&s);
    store_digest_done(&s);
    ASSERT_EQ(store_digest_final(&s, d), -EINVAL);
}

static void test_parse(void)
{
    struct iso_err err = {0};
    const char *hex = NULL;

    ASSERT_EQ(store_digest_parse(ABC_SHA, &hex, &err), 0);
    ASSERT_STREQ(hex, &ABC_SHA[7]);
    ASSERT_EQ(store_digest_parse(ABC_SHA, NULL, NULL), 0);

    ASSERT_EQ(store_digest_parse("sha512:abcd", NULL, &err), -ENOTSUP);
    ASSERT_STRSTR(err.msg, "unsupported digest algorithm 'sha512'");
    ASSERT_EQ(store_digest_parse("sha256+b64u:abcd", NULL, &err), -ENOTSUP);

    ASSERT_EQ(
        store_digest_parse(
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", NULL, &err),
        -EINVAL);
    ASSERT_STRSTR(err.msg, "lowercase hex");
    ASSERT_EQ(store_digest_parse("sha256:abc", NULL, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "64 hex digits, not 3");
    ASSERT_EQ(store_digest_parse(ABC_SHA "0", NULL, &err), -EINVAL);
    ASSERT_EQ(
        store_digest_parse(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag", NULL, &err),
        -EINVAL);
    ASSERT_EQ(store_digest_parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                 NULL, &err),
              -EINVAL);
    ASSERT_EQ(store_digest_parse(":abc", NULL, &err), -EINVAL);
    ASSERT_EQ(store_digest_parse("", NULL, &err), -EINVAL);
    ASSERT_EQ(store_digest_parse("SHA256:abc", NULL, &err), -EINVAL);
    ASSERT_EQ(store_digest_parse("sha256:", NULL, &err), -EINVAL);
    ASSERT_EQ(store_digest_parse("../../etc:passwd", NULL, &err), -EINVAL);
    ASSERT_EQ(store_digest_parse(NULL, NULL, &err), -EINVAL);
}

static void test_chain_id(void)
{
    struct iso_err err = {0};
    char d[STORE_DIGEST_SIZE];
    const char *ids[] = {SHA_A, SHA_B, SHA_C};

    ASSERT_EQ(store_chain_id_next(NULL, SHA_A, d, &err), 0);
    ASSERT_STREQ(d, SHA_A);
    ASSERT_EQ(store_chain_id_next(SHA_A, SHA_B, d, &err), 0);
    ASSERT_STREQ(d, CHAIN_AB);
    ASSERT_EQ(store_chain_id(ids, 1, d, &err), 0);
    ASSERT_STREQ(d, SHA_A);
    ASSERT_EQ(store_chain_id(ids, 2, d, &err), 0);
    ASSERT_STREQ(d, CHAIN_AB);
    ASSERT_EQ(store_chain_id(ids, 3, d, &err), 0);
    ASSERT_STREQ(d, CHAIN_ABC);
    /* In place, as a caller walking a stack does. */
    ASSERT_EQ(store_chain_id_next(d, SHA_A, d, &err), 0);

    ASSERT_EQ(store_chain_id(ids, 0, d, &err), -EINVAL);
    ASSERT_EQ(store_chain_id_next(SHA_A, "sha256:xyz", d, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "diff id: invalid digest 'sha256:xyz'");
    ASSERT_EQ(store_chain_id_next("md5:abc", SHA_A, d, &err), -ENOTSUP);
    ASSERT_STRSTR(err.msg, "parent chain id: unsupported digest algorithm 'md5'");
}

int main(void)
{
    TEST(test_known_vectors);
    TEST(test_streaming_matches_one_shot);
    TEST(test_parse);
    TEST(test_chain_id);
    return tap_done();
}
