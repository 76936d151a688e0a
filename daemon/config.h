/* isod's settings: defaults, then the --config file, then command-line flags (flags win). The
 * file is a JSON object whose keys are the long option names. */
#pragma once

#include <stdint.h>

#include "common/err.h"
#include "common/log.h"
#include "daemon/userns.h"

struct eng_config {
    char **hosts; /* socket paths (parsed from unix:///path); none = systemd's or the default */
    size_t n_hosts;
    char *root;
    enum log_level log_level;
    char *config_file;
    unsigned max_connections;
    unsigned idle_timeout_s;
    unsigned max_concurrent_downloads; /* layers fetched at once, across all pulls */
    size_t max_body_bytes;             /* request bodies past this get 413 */
    char **insecure_registries; /* host[:port] spoken to over plain HTTP (besides loopback) */
    size_t n_insecure;
    char *cgroup_parent;     /* containers' cgroups go under <controller>/<cgroup_parent>/ */
    uint64_t log_max_size;   /* default json-file rotation: bytes per file */
    int64_t log_max_files;   /* files kept */
    char *userns_remap;      /* --userns-remap as given; NULL: off */
    struct eng_userns remap; /* resolved at startup when userns_remap is set */
};

/* Fills cfg from argv and the --config file. Returns 0 to run, 1 when --help or --version was
 * handled (printed to stdout), or a negative error with err set (usage errors are EINVAL). */
int eng_config_parse(int argc, char **argv, struct eng_config *cfg, struct iso_err *err);

/* Re-reads only "log-level" from cfg->config_file (SIGHUP). 0 when there is no file. */
int eng_config_reload_log_level(struct eng_config *cfg, struct iso_err *err);

void eng_config_done(struct eng_config *cfg);
