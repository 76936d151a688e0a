/* docker stats' columns computed from a ContainerStatsResponse, with the docker CLI's formulas
 * (cli/command/container/stats_helpers.go) and units (formatter_stats.go). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct ctl_stats_row {
    char id[65];        /* full id */
    char name[256];     /* without '/'; "--" when unknown */
    char cpu[32];       /* "12.34%" */
    char mem[80];       /* "1.5MiB / 64MiB" */
    char mem_perc[32];  /* "2.34%" */
    char net[80];       /* "12.3kB / 4.1kB" */
    char block[80];     /* "0B / 0B" */
    char pids[24];      /* "3" */
    double cpu_percent; /* the numbers behind the strings */
    double mem_usage, mem_limit;
};

/* Fills row from one stats object (borrowed). */
void ctl_stats_row_from_json(json_t *s, struct ctl_stats_row *row);

/* A row of dashes for a container whose stats could not be read (docker's "--"). */
void ctl_stats_row_invalid(const char *id, const char *name, struct ctl_stats_row *row);

/* {"BlockIO","CPUPerc","Container","ID","MemPerc","MemUsage","Name","NetIO","PIDs"} as
 * `docker stats --format json` prints it; container is what the user named (NULL: the id),
 * id as shown in the table. NULL on OOM. */
json_t *ctl_stats_row_json(const struct ctl_stats_row *row, const char *container, const char *id);
