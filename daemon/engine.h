/* The engine: isod's state behind the API (store, host facts, later containers and images).
 * Lives on the loop thread. api/ sees only this header. */
#pragma once

#include "common/err.h"

struct engine;
struct eng_config;

/* Host facts gathered once at startup, for /version and /info. */
struct eng_sysinfo {
    char kernel[65];     /* uname -r */
    char machine[65];    /* uname -m, e.g. x86_64 */
    const char *go_arch; /* Docker's name for it: amd64, arm64, ... */
    char os_name[128];   /* PRETTY_NAME of /etc/os-release */
    long ncpu;
    uint64_t mem_total;      /* bytes */
    char backing_fs[32];     /* filesystem under the root: extfs, xfs, tmpfs, ... */
    int cgroup_version;      /* 1 or 2, as docker info reports it; 0 when undetected */
    const char *cgroup_mode; /* v1, hybrid, v2 */
    bool memory_limit, swap_limit, cpu_cfs, cpu_shares, cpuset, pids_limit;
};

struct eng_counts {
    int64_t images, layers, containers, running, paused, stopped;
};

/* Creates the root (0700), takes its lock, opens the store. Fails with a message when another
 * isod holds the root or the database is corrupt or too new. */
int eng_new(const struct eng_config *cfg, struct engine **ret, struct iso_err *err);

/* Closes the store and releases the lock. Takes NULL; returns NULL. */
struct engine *eng_free(struct engine *e);

const struct eng_sysinfo *eng_sysinfo(const struct engine *e);
const char *eng_root(const struct engine *e);
/* A UUID made at the first start and kept in <root>/engine-id ("ID" of docker info). */
const char *eng_id(const struct engine *e);

int eng_counts_get(struct engine *e, struct eng_counts *ret, struct iso_err *err);
