/* docker stats' columns from ContainerStatsResponse objects (cli/stats.c). */
#include <string.h>

#include "cli/stats.h"
#include "common/json.h"
#include "tap.h"

static json_t *parse(const char *text)
{
    json_error_t e;

    /* A fixture that does not parse fails the first assertion on it. */
    return json_loads(text, 0, &e);
}

static void test_v1_object(void)
{
    json_t *s = parse("{\"id\":\"0123456789abcdef0123\",\"name\":\"/web\","
                      "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":3000000000},"
                      "\"system_cpu_usage\":20000000000,\"online_cpus\":2},"
                      "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":2000000000},"
                      "\"system_cpu_usage\":18000000000},"
                      "\"memory_stats\":{\"usage\":3145728,\"limit\":67108864,"
                      "\"stats\":{\"total_inactive_file\":1572864,\"inactive_file\":0}},"
                      "\"networks\":{\"eth0\":{\"rx_bytes\":12300,\"tx_bytes\":4100},"
                      "\"eth1\":{\"rx_bytes\":0,\"tx_bytes\":0}},"
                      "\"blkio_stats\":{\"io_service_bytes_recursive\":["
                      "{\"major\":8,\"minor\":0,\"op\":\"Read\",\"value\":1500000},"
                      "{\"major\":8,\"minor\":0,\"op\":\"write\",\"value\":2048},"
                      "{\"major\":8,\"minor\":0,\"op\":\"Total\",\"value\":9}]},"
                      "\"pids_stats\":{\"current\":3}}");
    struct ctl_stats_row row;

    ctl_stats_row_from_json(s, &row);
    ASSERT_STREQ(row.id, "0123456789abcdef0123");
    ASSERT_STREQ(row.name, "web");
    /* 1 s of CPU in 2 s of host time on 2 CPUs: one CPU busy. */
    ASSERT_STREQ(row.cpu, "100.00%");
    ASSERT_STREQ(row.mem, "1.5MiB / 64MiB");
    ASSERT_STREQ(row.mem_perc, "2.34%");
    ASSERT_STREQ(row.net, "12.3kB / 4.1kB");
    ASSERT_STREQ(row.block, "1.5MB / 2.05kB");
    ASSERT_STREQ(row.pids, "3");

    json_t *j = ctl_stats_row_json(&row, NULL, "0123456789ab");
    ASSERT_STREQ(json_string_value(json_object_get(j, "Container")), "0123456789ab");
    ASSERT_STREQ(json_string_value(json_object_get(j, "MemUsage")), "1.5MiB / 64MiB");
    json_decref(j);
    json_decref(s);
}

static void test_v2_and_zero(void)
{
    json_t *s = parse("{\"id\":\"abc\",\"name\":\"/x1\",\"memory_stats\":{\"usage\":1000,"
                      "\"limit\":2000,\"stats\":{\"inactive_file\":200}}}");
    struct ctl_stats_row row;

    ctl_stats_row_from_json(s, &row);
    ASSERT_STREQ(row.mem, "800B / 1.953KiB");
    ASSERT_STREQ(row.mem_perc, "40.00%");
    ASSERT_STREQ(row.cpu, "0.00%");
    json_decref(s);

    /* moby's zeroed answer for a stopped container. */
    s = parse("{\"id\":\"abc\",\"name\":\"/x1\",\"read\":\"0001-01-01T00:00:00Z\","
              "\"memory_stats\":{},\"pids_stats\":{},\"blkio_stats\":"
              "{\"io_service_bytes_recursive\":null}}");
    ctl_stats_row_from_json(s, &row);
    ASSERT_STREQ(row.mem, "0B / 0B");
    ASSERT_STREQ(row.mem_perc, "0.00%");
    ASSERT_STREQ(row.net, "0B / 0B");
    ASSERT_STREQ(row.block, "0B / 0B");
    ASSERT_STREQ(row.pids, "0");
    json_decref(s);

    ctl_stats_row_invalid("gone", "gone", &row);
    ASSERT_STREQ(row.cpu, "--");
    ASSERT_STREQ(row.mem, "-- / --");
}

int main(void)
{
    TEST(test_v1_object);
    TEST(test_v2_and_zero);
    return tap_done();
}
