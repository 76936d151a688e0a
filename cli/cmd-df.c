/* isoctl system df: GET /system/df, summed up per type as docker's disk usage formatter does. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/format.h"
#include "cli/isoctl-internal.h"
#include "common/json.h"
#include "common/util.h"

/* One line of the summary. */
struct usage {
    const char *type;
    size_t total, active;
    int64_t size, reclaimable;
};

static bool container_active(json_t *ctr)
{
    const char *state = ctl_str(ctr, "State");

    return strstr(state, "running") || strstr(state, "paused") || strstr(state, "restarting");
}

static struct usage image_usage(json_t *df)
{
    json_t *images = json_object_get(df, "Images");
    struct usage u = {.type = "Images", .total = json_array_size(images)};
    int64_t used = 0;

    u.size = ctl_num(df, "LayersSize");
    for (size_t i = 0; i < u.total; i++) {
        json_t *img = json_array_get(images, i);
        json_int_t ctrs = ctl_num(img, "Containers");

        if (ctrs > 0)
            u.active++;
        /* What in-use images hold alone cannot be reclaimed; unknown (-1) sizes are skipped. */
        if (ctrs != 0 && ctl_num(img, "Size") != -1 && ctl_num(img, "SharedSize") != -1)
            used += ctl_num(img, "Size") - ctl_num(img, "SharedSize");
    }
    u.reclaimable = u.size - used;
    return u;
}

static struct usage container_usage(json_t *df)
{
    json_t *ctrs = json_object_get(df, "Containers");
    struct usage u = {.type = "Containers", .total = json_array_size(ctrs)};

    for (size_t i = 0; i < u.total; i++) {
        json_t *c = json_array_get(ctrs, i);
        if (container_active(c))
            u.active++;
        else
            u.reclaimable += ctl_num(c, "SizeRw");
        u.size += ctl_num(c, "SizeRw");
    }
    return u;
}

static struct usage volume_usage(json_t *df)
{
    json_t *vols = json_object_get(df, "Volumes");
    struct usage u = {.type = "Local Volumes", .total = json_array_size(vols)};

    for (size_t i = 0; i < u.total; i++) {
        json_t *ud = json_object_get(json_array_get(vols, i), "UsageData");
        int64_t size = ctl_num(ud, "Size");

        if (!json_is_object(ud))
            continue;
        if (ctl_num(ud, "RefCount") > 0)
            u.active++;
        if (size == -1)
            continue;
        u.size += size;
        if (ctl_num(ud, "RefCount") <= 0)
            u.reclaimable += size;
    }
    return u;
}

static struct usage build_cache_usage(json_t *df)
{
    json_t *bc = json_object_get(df, "BuildCache");
    struct usage u = {.type = "Build Cache", .total = json_array_size(bc)};

    for (size_t i = 0; i < u.total; i++) {
        json_t *rec = json_array_get(bc, i);
        bool in_use = json_is_true(json_object_get(rec, "InUse"));
        bool shared = json_is_true(json_object_get(rec, "Shared"));

        if (in_use)
            u.active++;
        if (shared)
            continue;
        u.size += ctl_num(rec, "Size");
        if (!in_use)
            u.reclaimable += ctl_num(rec, "Size");
    }
    return u;
}

/* "11.63MB (70%)", or the size alone when there is nothing in use to compare it with. */
static void format_reclaimable(const struct usage *u, char *buf, size_t size)
{
    char s[32];

    ctl_format_size(u->reclaimable, 4, s, sizeof(s));
    if (u->size > 0)
        snprintf(buf, size, "%s (%" PRId64 "%%)", s, u->reclaimable * 100 / u->size);
    else
        snprintf(buf, size, "%s", s);
}

static int print_verbose(json_t *df, int64_t now)
{
    _cleanup_table_ struct ctl_table *imgs = ctl_table_new(8), *ctrs = ctl_table_new(8);
    _cleanup_table_ struct ctl_table *vols = ctl_table_new(3), *cache = ctl_table_new(7);
    json_t *list;
    struct ctl_image_rows rows = {0};
    struct usage bu = build_cache_usage(df);
    char size[32];
    int r;

    if (!imgs || !ctrs || !vols || !cache)
        return -ENOMEM;

    r = ctl_table_add(imgs, (const char *[]){"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE",
                                             "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"});
    list = json_object_get(df, "Images");
    for (size_t i = 0; r >= 0 && i < json_array_size(list); i++)
        r = ctl_image_rows_add(&rows, json_array_get(list, i), false);
    for (size_t i = 0; r >= 0 && i < rows.n; i++) {
        json_t *img = rows.v[i].img;
        char id[32], since[64], shared[32], unique[32], count[32];
        json_int_t sh = ctl_num(img, "SharedSize");

        ctl_short_id(ctl_str(img, "Id"), id, sizeof(id));
        ctl_format_since(ctl_num(img, "Created"), now, since, sizeof(since));
        ctl_format_size(ctl_num(img, "Size"), 3, size, sizeof(size));
        if (sh == -1) {
            snprintf(shared, sizeof(shared), "N/A");
            snprintf(unique, sizeof(unique), "N/A");
        } else {
            ctl_format_size(sh, 3, shared, sizeof(shared));
            ctl_format_size(ctl_num(img, "Size") - sh, 3, unique, sizeof(unique));
        }
        snprintf(count, sizeof(count), "%" JSON_INTEGER_FORMAT, ctl_num(img, "Containers"));
        r = ctl_table_add(imgs, (const char *[]){rows.v[i].repo, rows.v[i].tag, id, since, size,
                                                 shared, unique, count});
    }
    free(rows.v);

    if (r >= 0)
        r = ctl_table_add(ctrs,
                          (const char *[]){"CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES",
                                           "SIZE", "CREATED", "STATUS", "NAMES"});
    list = json_object_get(df, "Containers");
    for (size_t i = 0; r >= 0 && i < json_array_size(list); i++) {
        json_t *c = json_array_get(list, i), *mounts = json_object_get(c, "Mounts");
        json_t *names = json_object_get(c, "Names");
        _cleanup_free_ char *quoted = iso_strprintf("\"%s\"", ctl_str(c, "Command"));
        _cleanup_free_ char *cmdline = quoted ? ctl_ellipsis(quoted, 20) : NULL;
        char id[32], since[64], nvols[16], name[256] = "";
        size_t n_local = 0;

        if (!cmdline)
            return -ENOMEM;
        for (size_t m = 0; m < json_array_size(mounts); m++)
            if (streq(ctl_str(json_array_get(mounts, m), "Driver"), "local"))
                n_local++;
        snprintf(nvols, sizeof(nvols), "%zu", n_local);
        for (size_t n = 0; n < json_array_size(names); n++) {
            const char *nm = json_string_value(json_array_get(names, n));
            if (nm)
                snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s%s", *name ? "," : "",
                         nm[0] == '/' ? nm + 1 : nm);
        }
        ctl_short_id(ctl_str(c, "Id"), id, sizeof(id));
        ctl_format_since(ctl_num(c, "Created"), now, since, sizeof(since));
        ctl_format_size(ctl_num(c, "SizeRw"), 3, size, sizeof(size));
        r = ctl_table_add(ctrs, (const char *[]){id, ctl_str(c, "Image"), cmdline, nvols, size,
                                                 since, ctl_str(c, "Status"), name});
    }

    if (r >= 0)
        r = ctl_table_add(vols, (const char *[]){"VOLUME NAME", "LINKS", "SIZE"});
    list = json_object_get(df, "Volumes");
    for (size_t i = 0; r >= 0 && i < json_array_size(list); i++) {
        json_t *v = json_array_get(list, i), *ud = json_object_get(v, "UsageData");
        char links[32];

        snprintf(links, sizeof(links), "%" JSON_INTEGER_FORMAT, ctl_num(ud, "RefCount"));
        if (!json_is_object(ud) || ctl_num(ud, "Size") == -1)
            snprintf(size, sizeof(size), "N/A");
        else
            ctl_format_size(ctl_num(ud, "Size"), 3, size, sizeof(size));
        r = ctl_table_add(vols, (const char *[]){ctl_str(v, "Name"), links, size});
    }

    if (r >= 0)
        r = ctl_table_add(cache, (const char *[]){"CACHE ID", "CACHE TYPE", "SIZE", "CREATED",
                                                  "LAST USED", "USAGE", "SHARED"});
    list = json_object_get(df, "BuildCache");
    for (size_t i = 0; r >= 0 && i < json_array_size(list); i++) {
        json_t *b = json_array_get(list, i);
        char id[32], usage[32];

        snprintf(id, sizeof(id), "%.12s", ctl_str(b, "ID"));
        snprintf(usage, sizeof(usage), "%" JSON_INTEGER_FORMAT, ctl_num(b, "UsageCount"));
        ctl_format_size(ctl_num(b, "Size"), 3, size, sizeof(size));
        /* CreatedAt and LastUsedAt are RFC 3339 strings; they are shown as they come. */
        r = ctl_table_add(
            cache, (const char *[]){id, ctl_str(b, "Type"), size, ctl_str(b, "CreatedAt"),
                                    ctl_str(b, "LastUsedAt"), usage,
                                    json_is_true(json_object_get(b, "Shared")) ? "true" : "false"});
    }
    if (r < 0)
        return r;

    printf("Images space usage:\n\n");
    ctl_table_print(imgs, stdout);
    printf("\nContainers space usage:\n\n");
    ctl_table_print(ctrs, stdout);
    printf("\nLocal Volumes space usage:\n\n");
    ctl_table_print(vols, stdout);
    ctl_format_size(bu.size, 4, size, sizeof(size));
    printf("\nBuild cache usage: %s\n\n", size);
    ctl_table_print(cache, stdout);
    return 0;
}

int ctl_cmd_system_df(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_table_ struct ctl_table *table = ctl_table_new(5);
    _cleanup_json_ json_t *df = NULL;
    struct iso_err err = {0};
    bool verbose = false, json = false;
    int c, r;

    if (!table)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (ctl_parse_format(cmd, optarg, &json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "accepts no arguments");

    r = ctl_client_get_json(cl, "/system/df", &df, &err);
    if (r >= 0 && !json_is_object(df))
        r = iso_err_set(&err, EBADMSG, "GET /system/df: expected a JSON object");
    if (r < 0)
        return ctl_report(&err);

    if (verbose && json) {
        /* The whole answer, as docker prints the verbose JSON. */
        _cleanup_free_ char *text = iso_json_dump(df);
        if (!text)
            return ctl_oom();
        printf("%s\n", text);
        return CTL_EXIT_OK;
    }
    if (verbose) {
        if (print_verbose(df, (int64_t)time(NULL)) < 0)
            return ctl_oom();
        return CTL_EXIT_OK;
    }

    const struct usage rows[] = {image_usage(df), container_usage(df), volume_usage(df),
                                 build_cache_usage(df)};
    r = ctl_table_add(table, (const char *[]){"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"});
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(rows); i++) {
        char total[32], active[32], size[32], reclaim[64];

        snprintf(total, sizeof(total), "%zu", rows[i].total);
        snprintf(active, sizeof(active), "%zu", rows[i].active);
        ctl_format_size(rows[i].size, 4, size, sizeof(size));
        format_reclaimable(&rows[i], reclaim, sizeof(reclaim));
        if (json) {
            _cleanup_json_ json_t *o =
                json_pack("{s:s, s:s, s:s, s:s, s:s}", "Active", active, "Reclaimable", reclaim,
                          "Size", size, "TotalCount", total, "Type", rows[i].type);
            _cleanup_free_ char *text = o ? iso_json_dump(o) : NULL;
            if (!text)
                return ctl_oom();
            printf("%s\n", text);
            continue;
        }
        r = ctl_table_add(table, (const char *[]){rows[i].type, total, active, size, reclaim});
    }
    if (r < 0)
        return ctl_oom();
    if (!json)
        ctl_table_print(table, stdout);
    return CTL_EXIT_OK;
}
