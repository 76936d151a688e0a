#include <linux/capability.h>

#include "runtime/caps.h"
#include "tests/unit/tap.h"

static void test_default(void)
{
    ASSERT_EQ(rt_caps_default(), 0xa80425fbULL);
}

static void test_names(void)
{
    struct iso_err err = {0};

    ASSERT_EQ(rt_cap_from_name("CAP_NET_ADMIN", &err), CAP_NET_ADMIN);
    ASSERT_EQ(rt_cap_from_name("net_admin", &err), CAP_NET_ADMIN);
    ASSERT_EQ(rt_cap_from_name("Cap_Sys_Admin", &err), CAP_SYS_ADMIN);
    ASSERT_EQ(rt_cap_from_name("checkpoint_restore", &err), 40);
    ASSERT_EQ(rt_cap_from_name("NOPE", &err), -EINVAL);
    ASSERT_STREQ(err.msg, "unknown capability: 'NOPE'");
    ASSERT_STREQ(rt_cap_name(CAP_CHOWN), "CAP_CHOWN");
    ASSERT_STREQ(rt_cap_name(CAP_AUDIT_WRITE), "CAP_AUDIT_WRITE");
    ASSERT_TRUE(rt_cap_name(64) == NULL);
    ASSERT_TRUE(rt_cap_name(-1) == NULL);
}

static void test_all(void)
{
    uint64_t all = rt_caps_all();

    /* Every kernel isod supports knows at least up to CAP_AUDIT_READ (37). */
    ASSERT_TRUE((all & 0x3fffffffffULL) == 0x3fffffffffULL);
    ASSERT_TRUE((all & (all + 1)) == 0);
}

static void test_compute(void)
{
    struct iso_err err = {0};
    uint64_t m;
    const char *all[] = {"ALL"};
    const char *net_admin[] = {"NET_ADMIN"};
    const char *two[] = {"cap_chown", "kill"};
    const char *bad[] = {"CHOWN", "bogus"};

    ASSERT_EQ(rt_caps_compute(false, NULL, 0, NULL, 0, &m, &err), 0);
    ASSERT_EQ(m, 0xa80425fbULL);
    ASSERT_EQ(rt_caps_compute(true, NULL, 0, NULL, 0, &m, &err), 0);
    ASSERT_EQ(m, rt_caps_all());

    ASSERT_EQ(rt_caps_compute(false, net_admin, 1, all, 1, &m, &err), 0);
    ASSERT_EQ(m, 1ULL << CAP_NET_ADMIN);
    ASSERT_EQ(rt_caps_compute(false, NULL, 0, all, 1, &m, &err), 0);
    ASSERT_EQ(m, 0);
    ASSERT_EQ(rt_caps_compute(false, all, 1, two, 2, &m, &err), 0);
    ASSERT_EQ(m, rt_caps_all() & ~((1ULL << CAP_CHOWN) | (1ULL << CAP_KILL)));
    ASSERT_EQ(rt_caps_compute(false, net_admin, 1, two, 2, &m, &err), 0);
    ASSERT_EQ(m, (0xa80425fbULL & ~((1ULL << CAP_CHOWN) | (1ULL << CAP_KILL))) |
                     (1ULL << CAP_NET_ADMIN));

    ASSERT_EQ(rt_caps_compute(false, bad, 2, NULL, 0, &m, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "'bogus'");
    ASSERT_EQ(rt_caps_compute(false, NULL, 0, bad, 2, &m, &err), -EINVAL);
}

int main(void)
{
    TEST(test_default);
    TEST(test_names);
    TEST(test_all);
    TEST(test_compute);
    return tap_done();
}
