/* isoctl's command table and the helpers its commands share. A command is a function in a
 * cmd-*.c file plus one line in the table in isoctl.c. */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "cli/client.h"
#include "cli/progress.h"
#include "cli/reference.h"
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
    /* A group ("image", "system"): fn is ctl_cmd_group and these are its subcommands, named
     * "GROUP SUB" ("image ls"); alias is another name of a subcommand ("list"). */
    const struct ctl_cmd *subs;
    size_t n_subs;
    const char *alias;
};

/* Prints "Usage: ..." with the summary and options of cmd (a group: its subcommands). */
void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f);

/* Runs the subcommand of a group named by argv[1]; without one, prints the group's help on
 * stderr and returns CTL_EXIT_USAGE. */
int ctl_cmd_group(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);

/* The subcommand of group called name (or by its alias), or NULL. */
const struct ctl_cmd *ctl_cmd_find_sub(const struct ctl_cmd *group, const char *name);

/* Prints "isoctl NAME: <message>" and a pointer to --help on stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...) _printf_(2, 3);

/* For the '?' or ':' that getopt_long() (with opterr = 0 and a leading "+:") returned. */
int ctl_bad_option(const struct ctl_cmd *cmd, char **argv, int c);
/* For a command whose only option is --help: -1 once argv is parsed (the operands start at
 * optind), or the exit code to return (the help was printed, or a usage error). */
int ctl_parse_no_options(const struct ctl_cmd *cmd, int argc, char **argv);

/* Prints "isoctl: <err->msg>" on stderr; returns CTL_EXIT_ERROR. */
int ctl_report(const struct iso_err *err);

/* --format values: NULL for the table, "json" (also "{{json .}}") for JSON; anything else is
 * a usage error (returns -EINVAL after printing it). */
int ctl_parse_format(const struct ctl_cmd *cmd, const char *arg, bool *ret_json);

/* Adds a --filter "KEY=VALUE" to filters, Docker's {"KEY": ["VALUE", ...]}. A missing '=' is a
 * usage error (printed; returns -EINVAL), -ENOMEM. */
int ctl_filter_add(const struct ctl_cmd *cmd, json_t *filters, const char *arg);
/* ctl_filter_add for an option's argument: CTL_EXIT_OK, or the exit code to return. */
int ctl_filter_opt(const struct ctl_cmd *cmd, json_t *filters, const char *arg);

/* Appends "&filters=<JSON>" to *target when filters is not empty. -ENOMEM. */
int ctl_target_add_filters(char **target, json_t *filters);

/* Whether fd is a terminal. */
bool ctl_isatty(int fd);

/* Prune's confirmation: without force, prints "WARNING! <warning>" and asks on stdin, which
 * must be a terminal. CTL_EXIT_OK to go on, else the exit code (after printing why). */
int ctl_prune_confirm(const struct ctl_cmd *cmd, bool force, const char *warning);

/* Prints "isoctl: out of memory" and returns CTL_EXIT_ERROR. */
/* qsort comparator for an array of C strings. */
int ctl_cmp_str(const void *a, const void *b);
/* obj[key] as a string, "" when missing or not a string. */
const char *ctl_str(json_t *obj, const char *key);
/* obj[key] as an integer, 0 when missing or not one. */
json_int_t ctl_num(json_t *obj, const char *key);
int ctl_oom(void);

/* One line of `isoctl images`: an image under one repository, tag and digest ("<none>" for
 * each that is missing). */
struct ctl_image_row {
    json_t *img; /* borrowed ImageSummary */
    char repo[CTL_REF_STR_MAX];
    char tag[CTL_REF_TAG_MAX + 1];
    char digest[CTL_REF_TAG_MAX + 8];
};

struct ctl_image_rows {
    struct ctl_image_row *v; /* malloc'd: free(v) */
    size_t n, cap;
};

/* Adds the lines of one ImageSummary as docker's imageFormat() makes them: one per repository
 * and tag (times the repository's digests with show_digests), one per repository known only by
 * digest, or a single "<none>" line. -ENOMEM. */
int ctl_image_rows_add(struct ctl_image_rows *rows, json_t *img, bool show_digests);

/* POST /images/create for ref (which has a tag or a digest) with the registry's credentials,
 * the progress rendered on out in mode (`pull` uses stdout, `run` stderr). Errors: the
 * daemon's, in-band ones included. */
int ctl_image_pull(struct ctl_client *cl, const struct ctl_ref *ref, const char *platform,
                   enum ctl_progress_mode mode, FILE *out, struct iso_err *err);

/* Commands, in cmd-*.c. */
int ctl_cmd_events(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_version(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_info(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_system_df(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_pull(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_images(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_rmi(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_load(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_save(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_tag(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_image_inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_image_history(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_image_prune(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_login(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_logout(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_run(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_create(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_start(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_attach(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_exec(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_ps(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_stop(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_restart(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_kill(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_rm(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_pause(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_unpause(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_wait(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_rename(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_top(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_stats(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_logs(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
/* inspect: a container, else an image of that name; container inspect: only containers. */
int ctl_cmd_inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_container_inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc,
                              char **argv);
int ctl_cmd_container_prune(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc,
                            char **argv);
