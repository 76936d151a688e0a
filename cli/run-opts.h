/* The flags of `isoctl run` and `isoctl create` turned into the body of POST /containers/create
 * (Config fields plus a HostConfig object) as the docker CLI builds it, and the small value
 * parsers behind them (docker's RAMInBytes, --cpus, --ulimit, --restart, --mount, env files).
 * Pure: no daemon, so the unit tests check the exact JSON. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct ctl_run_opts {
    json_t *body;      /* the create body; owned, released by ctl_run_opts_done() */
    const char *name;  /* --name, borrowed from argv; NULL when not given */
    const char *image; /* the IMAGE argument, borrowed from argv */
    bool detach;       /* -d */
    bool rm;           /* --rm */
    bool interactive;  /* -i */
    bool tty;          /* -t */
    bool sig_proxy;    /* --sig-proxy (default true) */
};

/* What ctl_run_opts_parse() is parsing for: `run` knows -d, --rm is AutoRemove for both. */
enum ctl_run_mode {
    CTL_RUN_CREATE,
    CTL_RUN_RUN,
};

/* Parses argv (argv[0] is the command's name) into *o. rows and cols are the terminal's size,
 * sent as HostConfig.ConsoleSize with -t. Returns 0, 1 when --help was given (*o is then
 * empty), -EINVAL for a bad command line with the message in err (docker's words: "invalid
 * argument \"1x\" for \"-m, --memory\" flag: ..."), -ENOMEM. Release with ctl_run_opts_done(),
 * also after a failure. */
int ctl_run_opts_parse(struct ctl_run_opts *o, enum ctl_run_mode mode, int argc, char **argv,
                       unsigned rows, unsigned cols, struct iso_err *err);
void ctl_run_opts_done(struct ctl_run_opts *o);

/* docker's RAMInBytes: "64m", "1.5g", "512", "10kb", "1GiB" (1024-based). -EINVAL. */
int ctl_parse_ram(const char *s, int64_t *ret);

/* --cpus: a decimal number of CPUs -> nanoCPUs ("0.5" -> 500000000). -EINVAL with docker's
 * reason in err; -ERANGE beyond 9 decimals ("value is too precise"). */
int ctl_parse_cpus(const char *s, int64_t *ret, struct iso_err *err);

/* Reads a docker env file: one NAME=VALUE per line, blank lines and lines starting with '#'
 * skipped, a bare NAME taken from the environment (dropped when unset). Appends the strings to
 * the JSON array env. -EINVAL (bad name, with the reason), the open/read errno, -ENOMEM. */
int ctl_parse_env_file(const char *path, json_t *env, struct iso_err *err);

/* --since/--until of logs: a Go duration ("10m", "1h30m") before now, a unix time ("1700000000",
 * "1700000000.5") or an RFC 3339 date ("2024-01-02T15:04:05Z", "2024-01-02") -> the
 * "SECONDS.NANOSECONDS" the API takes, into buf. -EINVAL. */
int ctl_parse_timestamp(const char *s, int64_t now, char *buf, size_t size);
