/* isoctl's command table and the helpers its commands share. A command is a function in a
 * cmd-*.c file plus one line in the table in isoctl.c. */
#pragma once

#include <stdio.h>

#include "cli/client.h"
#include "common/macro.h"

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1, /* the daemon failed the request, or could not be reached */
    CTL_EXIT_USAGE = 2, /* bad command line */
};

struct ctl_cmd;

/* Runs a command; argv[0] is the command's name. Returns the exit code. */
typedef int (*ctl_cmd_fn)(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);

struct ctl_cmd {
    const char *name;
    ctl_cmd_fn fn;
    const char *summary; /* one line, for `isoctl --help` */
    const char *usage;   /* what follows "isoctl NAME" in the synopsis, e.g. "[OPTIONS]" */
    const char *options; /* the option list for `isoctl NAME --help`, or NULL */
};

/* Prints "Usage: ..." with the summary and options of cmd. */
void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f);

/* Prints "isoctl NAME: <message>" and a pointer to --help on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...) _printf_(2, 3);

/* For the '?' or ':' that getopt_long() (with opterr = 0 and a leading "+:") returned. */
int ctl_bad_option(const struct ctl_cmd *cmd, char **argv, int c);

/* Prints "isoctl: <err->msg>" on stderr; returns CTL_EXIT_ERROR. */
int ctl_report(const struct iso_err *err);

/* --format values: NULL for the table, "json" (also "{{json .}}") for JSON; anything else is
 * a usage error (returns -EINVAL after printing it). */
int ctl_parse_format(const struct ctl_cmd *cmd, const char *arg, bool *ret_json);

/* Commands, in cmd-*.c. */
int ctl_cmd_version(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_info(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
