#include "common/hist.h"
#include "tests/unit/tap.h"

static void test_buckets_by_upper_bound(void)
{
    struct iso_hist h = {0};

    iso_hist_observe(&h, 0.0001);
    iso_hist_observe(&h, 0.0005); /* on the bound: in it, as Prometheus' le */
    iso_hist_observe(&h, 0.0006);
    iso_hist_observe(&h, 3);
    iso_hist_observe(&h, 99);
    iso_hist_observe(&h, -1); /* a clock step back counts as 0 */
    ASSERT_EQ(h.counts[0], 3u);
    ASSERT_EQ(h.counts[1], 1u);
    ASSERT_EQ(h.counts[12], 1u); /* le=5 */
    ASSERT_EQ(h.counts[ISO_HIST_BOUNDS], 1u);
    ASSERT_EQ(h.count, 6u);
    ASSERT_TRUE(h.sum > 102.0011 && h.sum < 102.0013);
}

static void test_bounds_increase(void)
{
    ASSERT_TRUE(iso_hist_bound(0) == 0.0005);
    ASSERT_TRUE(iso_hist_bound(12) == 5);
    for (size_t i = 1; i < ISO_HIST_BOUNDS; i++)
        ASSERT_TRUE(iso_hist_bound(i) > iso_hist_bound(i - 1));
}

int main(void)
{
    TEST(test_buckets_by_upper_bound);
    TEST(test_bounds_increase);
    return tap_done();
}
