#include "cli/stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/format.h"

static uint64_t u64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static uint64_t total_usage(json_t *cpu)
{
    return u64(json_object_get(cpu, "cpu_usage"), "total_usage");
}

/* calculateCPUPercentUnix. */
static double cpu_percent(json_t *s)
{
    json_t *cur = json_object_get(s, "cpu_stats"), *pre = json_object_get(s, "precpu_stats");
    double cpu = (double)total_usage(cur) - (double)total_usage(pre);
    double sys = (double)u64(cur, "system_cpu_usage") - (double)u64(pre, "system_cpu_usage");
    double online = (double)u64(cur, "online_cpus");

    if (online == 0.0)
        online = (double)json_array_size(
            json_object_get(json_object_get(cur, "cpu_usage"), "percpu_usage"));
    if (sys > 0.0 && cpu > 0.0)
        return cpu / sys * online * 100.0;
    return 0.0;
}

/* calculateMemUsageUnixNoCache: usage minus inactive file pages (v1: total_inactive_file). */
static double mem_usage(json_t *mem)
{
    json_t *st = json_object_get(mem, "stats");
    uint64_t usage = u64(mem, "usage");
    json_t *v1 = json_object_get(st, "total_inactive_file");
    uint64_t v;

    if (v1 && (v = u64(st, "total_inactive_file")) < usage)
        return (double)(usage - v);
    if ((v = u64(st, "inactive_file")) < usage)
        return (double)(usage - v);
    return (double)usage;
}

static void pair(double a, double b, bool binary, char *buf, size_t size)
{
    char x[32], y[32];

    if (binary) {
        ctl_format_bytes((uint64_t)a, x, sizeof(x));
        ctl_format_bytes((uint64_t)b, y, sizeof(y));
    } else {
        ctl_format_size((int64_t)a, 3, x, sizeof(x));
        ctl_format_size((int64_t)b, 3, y, sizeof(y));
    }
    snprintf(buf, size, "%s / %s", x, y);
}

void ctl_stats_row_from_json(json_t *s, struct ctl_stats_row *row)
{
    json_t *mem = json_object_get(s, "memory_stats"), *nets = json_object_get(s, "networks"), *v;
    json_t *io = json_object_get(json_object_get(s, "blkio_stats"), "io_service_bytes_recursive");
    const char *name = json_string_value(json_object_get(s, "name"));
    const char *id = json_string_value(json_object_get(s, "id"));
    double rx = 0, tx = 0, rd = 0, wr = 0, perc = 0;
    const char *key;
    size_t i;

    memset(row, 0, sizeof(*row));
    snprintf(row->id, sizeof(row->id), "%s", id ? id : "");
    snprintf(row->name, sizeof(row->name), "%s",
             name && strlen(name) > 1 ? name + (name[0] == '/') : "--");
    row->cpu_percent = cpu_percent(s);
    row->mem_usage = mem_usage(mem);
    row->mem_limit = (double)u64(mem, "limit");
    if (row->mem_limit != 0.0)
        perc = row->mem_usage / row->mem_limit * 100.0;
    json_object_foreach(nets, key, v)
    {
        rx += (double)u64(v, "rx_bytes");
        tx += (double)u64(v, "tx_bytes");
    }
    json_array_foreach(io, i, v)
    {
        const char *op = json_string_value(json_object_get(v, "op"));
        if (op && (op[0] == 'r' || op[0] == 'R'))
            rd += (double)u64(v, "value");
        else if (op && (op[0] == 'w' || op[0] == 'W'))
            wr += (double)u64(v, "value");
    }
    snprintf(row->cpu, sizeof(row->cpu), "%.2f%%", row->cpu_percent);
    pair(row->mem_usage, row->mem_limit, true, row->mem, sizeof(row->mem));
    snprintf(row->mem_perc, sizeof(row->mem_perc), "%.2f%%", perc);
    pair(rx, tx, false, row->net, sizeof(row->net));
    pair(rd, wr, false, row->block, sizeof(row->block));
    snprintf(row->pids, sizeof(row->pids), "%" PRIu64,
             u64(json_object_get(s, "pids_stats"), "current"));
}

void ctl_stats_row_invalid(const char *id, const char *name, struct ctl_stats_row *row)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->id, sizeof(row->id), "%s", id);
    snprintf(row->name, sizeof(row->name), "%s", name && *name ? name : "--");
    snprintf(row->cpu, sizeof(row->cpu), "--");
    snprintf(row->mem, sizeof(row->mem), "-- / --");
    snprintf(row->mem_perc, sizeof(row->mem_perc), "--");
    snprintf(row->net, sizeof(row->net), "--");
    snprintf(row->block, sizeof(row->block), "--");
    snprintf(row->pids, sizeof(row->pids), "--");
}

json_t *ctl_stats_row_json(const struct ctl_stats_row *row, const char *container, const char *id)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "BlockIO", row->block,
                     "CPUPerc", row->cpu, "Container", container ? container : id, "ID", id,
                     "MemPerc", row->mem_perc, "MemUsage", row->mem, "Name", row->name, "NetIO",
                     row->net, "PIDs", row->pids);
}
