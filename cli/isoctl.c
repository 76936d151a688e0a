/* isoctl: global options, the command table and dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/isoctl-internal.h"
#include "common/err.h"
#include "build-config.h"

#define DEFAULT_HOST "unix://" ISOD_DEFAULT_SOCKET

static int cmd_help(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);

/* Sorted by name; `isoctl --help` lists them in this order. */
static const struct ctl_cmd commands[] = {
    {"help", cmd_help, "Show help for a command", "[COMMAND]", NULL},
    {"info", ctl_cmd_info, "Display system-wide information", "[OPTIONS]",
     "  -f, --format string   Format the output: 'json' prints the daemon's JSON\n"
     "  -h, --help            Print usage\n"},
    {"version", ctl_cmd_version, "Show the isoctl and isod version information", "[OPTIONS]",
     "  -f, --format string   Format the output: 'json' prints {\"Client\":...,\"Server\":...}\n"
     "  -h, --help            Print usage\n"},
};

static const struct ctl_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (streq(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void print_help(FILE *f)
{
    fprintf(f,
            "Usage:  isoctl [OPTIONS] COMMAND\n"
            "\n"
            "A client for isod, a container engine that speaks the Docker Engine API\n"
            "\n"
            "Options:\n"
            "  -H, --host string   Daemon socket to connect to (default \"%s\";\n"
            "                      the ISOD_HOST environment variable overrides it)\n"
            "  -h, --help          Print usage\n"
            "  -v, --version       Print version information and quit\n"
            "\n"
            "Commands:\n",
            DEFAULT_HOST);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s  %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'isoctl COMMAND --help' for more information on a command.\n", f);
}

void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f)
{
    fprintf(f, "Usage:  isoctl %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->options)
        fprintf(f, "\nOptions:\n%s", cmd->options);
}

int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "isoctl %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nSee 'isoctl %s --help'.\n", cmd->name);
    return CTL_EXIT_USAGE;
}

int ctl_bad_option(const struct ctl_cmd *cmd, char **argv, int c)
{
    char name[64];

    /* An unknown short option is in optopt (it may sit inside a cluster like "-xy"); an
     * unknown long one and a missing argument are in the argument getopt just passed. */
    if (c == '?' && optopt)
        snprintf(name, sizeof(name), "-%c", optopt);
    else
        snprintf(name, sizeof(name), "%s", argv[optind - 1]);
    name[strcspn(name, "=")] = '\0';

    const char *what = c == ':' ? "flag needs an argument" : "unknown flag";
    if (!cmd) {
        fprintf(stderr, "isoctl: %s: %s\nSee 'isoctl --help'.\n", what, name);
        return CTL_EXIT_USAGE;
    }
    return ctl_usage_error(cmd, "%s: %s", what, name);
}

int ctl_report(const struct iso_err *err)
{
    fprintf(stderr, "isoctl: %s\n", err->msg[0] ? err->msg : strerror(err->code ? err->code : EIO));
    return CTL_EXIT_ERROR;
}

int ctl_parse_format(const struct ctl_cmd *cmd, const char *arg, bool *ret_json)
{
    if (streq(arg, "json") || streq(arg, "{{json .}}")) {
        *ret_json = true;
        return 0;
    }
    if (streq(arg, "") || streq(arg, "table")) {
        *ret_json = false;
        return 0;
    }
    ctl_usage_error(cmd, "unsupported format '%s': use 'json'", arg);
    return -EINVAL;
}

static int cmd_help(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    const struct ctl_cmd *target;

    if (argc > 2)
        return ctl_usage_error(cmd, "too many arguments");
    if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
        print_help(stdout);
        return CTL_EXIT_OK;
    }
    target = find_cmd(argv[1]);
    if (!target)
        return ctl_usage_error(cmd, "unknown command '%s'", argv[1]);
    ctl_cmd_help(target, stdout);
    return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {0},
    };
    struct ctl_client cl = {0};
    struct iso_err err = {0};
    const struct ctl_cmd *cmd;
    const char *host;
    int c, r;

    host = getenv("ISOD_HOST");
    if (!host || !*host)
        host = DEFAULT_HOST;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hH:v", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            host = optarg;
            break;
        case 'h':
            print_help(stdout);
            return CTL_EXIT_OK;
        case 'v':
            printf("isoctl version %s, build %s\n", ISOD_VERSION, ISOD_GIT_COMMIT);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(NULL, argv, c);
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return CTL_EXIT_USAGE;
    }

    cmd = find_cmd(argv[optind]);
    if (!cmd) {
        fprintf(stderr, "isoctl: '%s' is not an isoctl command\nSee 'isoctl --help'.\n",
                argv[optind]);
        return CTL_EXIT_USAGE;
    }

    if (cmd->fn != cmd_help && ctl_client_init(&cl, host, &err) < 0) {
        ctl_client_done(&cl);
        fprintf(stderr, "isoctl: %s\n", err.msg);
        return CTL_EXIT_USAGE;
    }
    r = cmd->fn(&cl, cmd, argc - optind, argv + optind);
    ctl_client_done(&cl);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "isoctl: write output: %m\n");
        return CTL_EXIT_ERROR;
    }
    return r;
}
