/* isoctl: global options, the command table and dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/isoctl-internal.h"
#include "common/err.h"
#include "common/json.h"
#include "build-config.h"

#define DEFAULT_HOST "unix://" ISOD_DEFAULT_SOCKET

static int cmd_help(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv);

/* Option lists shared by a command and its "image ..." twin. */
#define HISTORY_OPTIONS                                                                            \
    "      --format string   Format the output: 'json' prints one JSON object per line\n"          \
    "  -H, --human           Print sizes and dates in human readable format (default true)\n"      \
    "      --no-trunc        Don't truncate output\n"                                              \
    "  -q, --quiet           Only show image IDs\n"                                                \
    "  -h, --help            Print usage\n"
#define IMAGES_OPTIONS                                                                             \
    "  -a, --all             Show all images (default hides intermediate images)\n"                \
    "      --digests         Show digests\n"                                                       \
    "  -f, --filter filter   Filter output based on conditions provided (KEY=VALUE:\n"             \
    "                        reference, dangling, label, before, since)\n"                         \
    "      --format string   Format the output: 'json' prints one JSON object per line\n"          \
    "      --no-trunc        Don't truncate output\n"                                              \
    "  -q, --quiet           Only show image IDs\n"                                                \
    "  -h, --help            Print usage\n"
#define INSPECT_OPTIONS                                                                            \
    "  -f, --format string   Format the output: only 'json' (the default)\n"                       \
    "  -h, --help            Print usage\n"
#define LOAD_OPTIONS                                                                               \
    "  -i, --input string    Read from tar archive file, instead of STDIN\n"                       \
    "  -q, --quiet           Suppress the load output\n"                                           \
    "  -h, --help            Print usage\n"
#define PRUNE_OPTIONS                                                                              \
    "  -a, --all             Remove all unused images, not just dangling ones\n"                   \
    "      --filter filter   Provide filter values (e.g. 'until=<timestamp>')\n"                   \
    "  -f, --force           Do not prompt for confirmation\n"                                     \
    "  -h, --help            Print usage\n"
#define PULL_OPTIONS                                                                               \
    "      --platform string Set platform if server is multi-platform capable\n"                   \
    "  -q, --quiet           Suppress verbose output\n"                                            \
    "  -h, --help            Print usage\n"
#define RMI_OPTIONS                                                                                \
    "  -f, --force           Force removal of the image\n"                                         \
    "      --no-prune        Do not delete untagged parents\n"                                     \
    "  -h, --help            Print usage\n"
#define SAVE_OPTIONS                                                                               \
    "  -o, --output string   Write to a file, instead of STDOUT\n"                                 \
    "  -h, --help            Print usage\n"
#define TAG_OPTIONS  "  -h, --help            Print usage\n"
#define TAG_USAGE    "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"
#define TAG_SUMMARY  "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"
#define LOAD_SUMMARY "Load an image from a tar archive or STDIN"
#define PULL_SUMMARY "Download an image from a registry"
#define RMI_SUMMARY  "Remove one or more images"
#define SAVE_SUMMARY "Save one or more images to a tar archive (streamed to STDOUT by default)"
#define INFO_SUMMARY "Display system-wide information"
#define FORMAT_OPTIONS                                                                             \
    "  -f, --format string   Format the output: 'json' prints the daemon's JSON\n"                 \
    "  -h, --help            Print usage\n"

static const struct ctl_cmd image_cmds[] = {
    {.name = "image history",
     .fn = ctl_cmd_image_history,
     .summary = "Show the history of an image",
     .usage = "[OPTIONS] IMAGE",
     .options = HISTORY_OPTIONS},
    {.name = "image inspect",
     .fn = ctl_cmd_image_inspect,
     .summary = "Display detailed information on one or more images",
     .usage = "[OPTIONS] IMAGE [IMAGE...]",
     .options = INSPECT_OPTIONS},
    {.name = "image load",
     .fn = ctl_cmd_load,
     .summary = LOAD_SUMMARY,
     .usage = "[OPTIONS]",
     .options = LOAD_OPTIONS},
    {.name = "image ls",
     .fn = ctl_cmd_images,
     .summary = "List images",
     .usage = "[OPTIONS] [REPOSITORY[:TAG]]",
     .options = IMAGES_OPTIONS,
     .alias = "list"},
    {.name = "image prune",
     .fn = ctl_cmd_image_prune,
     .summary = "Remove unused images",
     .usage = "[OPTIONS]",
     .options = PRUNE_OPTIONS},
    {.name = "image pull",
     .fn = ctl_cmd_pull,
     .summary = PULL_SUMMARY,
     .usage = "[OPTIONS] NAME[:TAG|@DIGEST]",
     .options = PULL_OPTIONS},
    {.name = "image rm",
     .fn = ctl_cmd_rmi,
     .summary = RMI_SUMMARY,
     .usage = "[OPTIONS] IMAGE [IMAGE...]",
     .options = RMI_OPTIONS,
     .alias = "remove"},
    {.name = "image save",
     .fn = ctl_cmd_save,
     .summary = SAVE_SUMMARY,
     .usage = "[OPTIONS] IMAGE [IMAGE...]",
     .options = SAVE_OPTIONS},
    {.name = "image tag",
     .fn = ctl_cmd_tag,
     .summary = TAG_SUMMARY,
     .usage = TAG_USAGE,
     .options = TAG_OPTIONS},
};

static const struct ctl_cmd system_cmds[] = {
    {.name = "system df",
     .fn = ctl_cmd_system_df,
     .summary = "Show isod disk usage",
     .usage = "[OPTIONS]",
     .options =
         "      --format string   Format the output: 'json' prints one JSON object per line\n"
         "  -v, --verbose         Show detailed information on space usage\n"
         "  -h, --help            Print usage\n"},
    {.name = "system info",
     .fn = ctl_cmd_info,
     .summary = INFO_SUMMARY,
     .usage = "[OPTIONS]",
     .options = FORMAT_OPTIONS},
};

/* Sorted by name; `isoctl --help` lists them in this order. */
static const struct ctl_cmd commands[] = {
    {.name = "help",
     .fn = cmd_help,
     .summary = "Show help for a command",
     .usage = "[COMMAND [SUBCOMMAND]]"},
    {.name = "image",
     .fn = ctl_cmd_group,
     .summary = "Manage images",
     .usage = "COMMAND",
     .subs = image_cmds,
     .n_subs = ARRAY_SIZE(image_cmds)},
    {.name = "images",
     .fn = ctl_cmd_images,
     .summary = "List images",
     .usage = "[OPTIONS] [REPOSITORY[:TAG]]",
     .options = IMAGES_OPTIONS},
    {.name = "info",
     .fn = ctl_cmd_info,
     .summary = INFO_SUMMARY,
     .usage = "[OPTIONS]",
     .options = FORMAT_OPTIONS},
    {.name = "load",
     .fn = ctl_cmd_load,
     .summary = LOAD_SUMMARY,
     .usage = "[OPTIONS]",
     .options = LOAD_OPTIONS},
    {.name = "login",
     .fn = ctl_cmd_login,
     .summary = "Log in to a registry",
     .usage = "[OPTIONS] [SERVER]",
     .options = "  -p, --password string   Password\n"
                "      --password-stdin    Take the password from stdin\n"
                "  -u, --username string   Username\n"
                "  -h, --help              Print usage\n"},
    {.name = "logout",
     .fn = ctl_cmd_logout,
     .summary = "Log out from a registry",
     .usage = "[SERVER]",
     .options = "  -h, --help            Print usage\n"},
    {.name = "pull",
     .fn = ctl_cmd_pull,
     .summary = PULL_SUMMARY,
     .usage = "[OPTIONS] NAME[:TAG|@DIGEST]",
     .options = PULL_OPTIONS},
    {.name = "rmi",
     .fn = ctl_cmd_rmi,
     .summary = RMI_SUMMARY,
     .usage = "[OPTIONS] IMAGE [IMAGE...]",
     .options = RMI_OPTIONS},
    {.name = "save",
     .fn = ctl_cmd_save,
     .summary = SAVE_SUMMARY,
     .usage = "[OPTIONS] IMAGE [IMAGE...]",
     .options = SAVE_OPTIONS},
    {.name = "system",
     .fn = ctl_cmd_group,
     .summary = "Manage isod",
     .usage = "COMMAND",
     .subs = system_cmds,
     .n_subs = ARRAY_SIZE(system_cmds)},
    {.name = "tag",
     .fn = ctl_cmd_tag,
     .summary = TAG_SUMMARY,
     .usage = TAG_USAGE,
     .options = TAG_OPTIONS},
    {.name = "version",
     .fn = ctl_cmd_version,
     .summary = "Show the isoctl and isod version information",
     .usage = "[OPTIONS]",
     .options = "  -f, --format string   Format the output: 'json' prints "
                "{\"Client\":...,\"Server\":...}\n"
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
    if (cmd->alias)
        fprintf(f, "\nAliases:\n  isoctl %s, isoctl %.*s %s\n", cmd->name,
                (int)strcspn(cmd->name, " "), cmd->name, cmd->alias);
    if (cmd->options)
        fprintf(f, "\nOptions:\n%s", cmd->options);
    if (cmd->subs) {
        fputs("\nCommands:\n", f);
        for (size_t i = 0; i < cmd->n_subs; i++) {
            const char *sub = strchr(cmd->subs[i].name, ' ');
            fprintf(f, "  %-10s  %s\n", sub ? sub + 1 : cmd->subs[i].name, cmd->subs[i].summary);
        }
        fprintf(f, "\nRun 'isoctl %s COMMAND --help' for more information on a command.\n",
                cmd->name);
    }
}

const struct ctl_cmd *ctl_cmd_find_sub(const struct ctl_cmd *group, const char *name)
{
    for (size_t i = 0; i < group->n_subs; i++) {
        const struct ctl_cmd *sub = &group->subs[i];
        const char *sp = strchr(sub->name, ' ');
        if (streq(sp ? sp + 1 : sub->name, name) || (sub->alias && streq(sub->alias, name)))
            return sub;
    }
    return NULL;
}

int ctl_cmd_group(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    const struct ctl_cmd *sub;

    if (argc < 2) {
        ctl_cmd_help(cmd, stderr);
        return CTL_EXIT_USAGE;
    }
    if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
        ctl_cmd_help(cmd, stdout);
        return CTL_EXIT_OK;
    }
    sub = ctl_cmd_find_sub(cmd, argv[1]);
    if (!sub)
        return ctl_usage_error(cmd, "'%s' is not an 'isoctl %s' command", argv[1], cmd->name);
    return sub->fn(cl, sub, argc - 1, argv + 1);
}

int ctl_filter_add(const struct ctl_cmd *cmd, json_t *filters, const char *arg)
{
    const char *eq = strchr(arg, '=');
    _cleanup_free_ char *key = NULL;
    json_t *values;

    if (!eq || eq == arg) {
        ctl_usage_error(cmd, "bad format of filter '%s' (expected name=value)", arg);
        return -EINVAL;
    }
    key = strndup(arg, (size_t)(eq - arg));
    if (!key)
        return -ENOMEM;
    values = json_object_get(filters, key);
    if (!values) {
        values = json_array();
        if (!values || json_object_set_new(filters, key, values) < 0)
            return -ENOMEM;
    }
    if (json_array_append_new(values, json_string(eq + 1)) < 0)
        return -ENOMEM;
    return 0;
}

int ctl_target_add_filters(char **target, json_t *filters)
{
    _cleanup_free_ char *text = NULL;

    if (json_object_size(filters) == 0)
        return 0;
    text = iso_json_dump(filters);
    if (!text)
        return -ENOMEM;
    return ctl_target_add(target, "filters", text);
}

bool ctl_isatty(int fd)
{
    return isatty(fd) == 1;
}

bool ctl_confirm(const char *question)
{
    char line[64];
    size_t len;

    fputs(question, stdout);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    len = strcspn(line, "\r\n");
    line[len] = '\0';
    return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

int ctl_oom(void)
{
    fputs("isoctl: out of memory\n", stderr);
    return CTL_EXIT_ERROR;
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

    if (argc > 3)
        return ctl_usage_error(cmd, "too many arguments");
    if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
        print_help(stdout);
        return CTL_EXIT_OK;
    }
    target = find_cmd(argv[1]);
    if (!target)
        return ctl_usage_error(cmd, "unknown command '%s'", argv[1]);
    if (argc == 3) {
        const struct ctl_cmd *group = target;
        target = group->subs ? ctl_cmd_find_sub(group, argv[2]) : NULL;
        if (!target)
            return ctl_usage_error(cmd, "unknown command '%s %s'", argv[1], argv[2]);
    }
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
