/* isoctl: global options, the command table and dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The container commands: each is a top-level command and a "container ..." one. */
#define RUN_CREATE_OPTIONS                                                                         \
    "      --cap-add list               Add Linux capabilities\n"                                  \
    "      --cap-drop list              Drop Linux capabilities\n"                                 \
    "  -c, --cpu-shares int             CPU shares (relative weight)\n"                            \
    "      --cpus decimal               Number of CPUs\n"                                          \
    "      --cpuset-cpus string         CPUs in which to allow execution (0-3, 0,1)\n"             \
    "      --entrypoint string          Overwrite the default ENTRYPOINT of the image\n"           \
    "  -e, --env list                   Set environment variables\n"                               \
    "      --env-file list              Read in a file of environment variables\n"                 \
    "      --group-add list             Add additional groups to join\n"                           \
    "  -h, --hostname string            Container host name\n"                                     \
    "      --init                       Run an init inside the container that forwards signals\n"  \
    "                                   and reaps processes\n"                                     \
    "  -i, --interactive                Keep STDIN open even if not attached\n"                    \
    "  -l, --label list                 Set meta data on a container\n"                            \
    "      --log-opt list               Log driver options (max-size, max-file)\n"                 \
    "  -m, --memory bytes               Memory limit (b, k, m, g)\n"                               \
    "      --memory-reservation bytes   Memory soft limit\n"                                       \
    "      --memory-swap bytes          Swap limit equal to memory plus swap: '-1' to enable\n"    \
    "                                   unlimited swap\n"                                          \
    "      --mount mount                Attach a filesystem mount to the container\n"              \
    "                                   (type=bind|tmpfs,source=,target=,readonly)\n"              \
    "      --name string                Assign a name to the container\n"                          \
    "      --network string             Connect a container to a network (none, host)\n"           \
    "      --pids-limit int             Tune container pids limit (set -1 for unlimited)\n"        \
    "      --privileged                 Give extended privileges to this container\n"              \
    "      --read-only                  Mount the container's root filesystem as read only\n"      \
    "      --restart string             Restart policy to apply when a container exits\n"          \
    "                                   (no, always, unless-stopped, on-failure[:N])\n"            \
    "      --rm                         Automatically remove the container when it exits\n"        \
    "      --security-opt list          Security Options (no-new-privileges,\n"                    \
    "                                   seccomp=unconfined, seccomp=PROFILE.json)\n"               \
    "      --stop-signal string         Signal to stop the container\n"                            \
    "      --stop-timeout int           Timeout (in seconds) to stop a container\n"                \
    "      --tmpfs list                 Mount a tmpfs directory (/path[:options])\n"               \
    "  -t, --tty                        Allocate a pseudo-TTY\n"                                   \
    "      --ulimit ulimit              Ulimit options (name=soft[:hard])\n"                       \
    "  -u, --user string                Username or UID (format: <name|uid>[:<group|gid>])\n"      \
    "  -v, --volume list                Bind mount a volume (/src:/dst[:ro])\n"                    \
    "  -w, --workdir string             Working directory inside the container\n"                  \
    "      --help                       Print usage\n"
#define RUN_ONLY_OPTIONS                                                                           \
    "  -d, --detach                     Run container in background and print container ID\n"      \
    "      --sig-proxy                  Proxy received signals to the process (default true)\n"
#define HELP_ONLY      "  -h, --help            Print usage\n"
#define EVENTS_SUMMARY "Get real time events from isod"
#define EVENTS_OPTIONS                                                                             \
    "  -f, --filter filter   Filter output based on conditions provided (type, event, "            \
    "container,\n"                                                                                 \
    "                        image, label)\n"                                                      \
    "      --format string   Format the output: 'json' prints one JSON object per line\n"          \
    "      --since string    Show all events created since timestamp\n"                            \
    "      --until string    Stream events until this timestamp\n"                                 \
    "  -h, --help            Print usage\n"
#define STOP_OPTIONS                                                                               \
    "  -s, --signal string   Signal to send to the container\n"                                    \
    "  -t, --time int        Seconds to wait before killing the container\n"                       \
    "  -h, --help            Print usage\n"
#define PS_OPTIONS                                                                                 \
    "  -a, --all             Show all containers (default shows just running)\n"                   \
    "  -f, --filter filter   Filter output based on conditions provided (KEY=VALUE: status,\n"     \
    "                        name, id, label, exited, ancestor)\n"                                 \
    "      --format string   Format the output: 'json' prints one JSON object per line\n"          \
    "  -n, --last int        Show n last created containers (includes all states)\n"               \
    "  -l, --latest          Show the latest created container (includes all states)\n"            \
    "      --no-trunc        Don't truncate output\n"                                              \
    "  -q, --quiet           Only display container IDs\n"                                         \
    "  -s, --size            Display total file sizes\n"                                           \
    "  -h, --help            Print usage\n"

#define CTR_CMDS(P)                                                                                \
    {.name = P "attach",                                                                           \
     .fn = ctl_cmd_attach,                                                                         \
     .summary = "Attach local standard input, output, and error streams to a running container",   \
     .usage = "[OPTIONS] CONTAINER",                                                               \
     .options = "      --no-stdin        Do not attach STDIN\n"                                    \
                "      --sig-proxy       Proxy all received signals to the process (default "      \
                "true)\n" HELP_ONLY},                                                              \
        {.name = P "create",                                                                       \
         .fn = ctl_cmd_create,                                                                     \
         .summary = "Create a new container",                                                      \
         .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",                                            \
         .options = RUN_CREATE_OPTIONS},                                                           \
        {.name = P "exec",                                                                         \
         .fn = ctl_cmd_exec,                                                                       \
         .summary = "Execute a command in a running container",                                    \
         .usage = "[OPTIONS] CONTAINER COMMAND [ARG...]",                                          \
         .options =                                                                                \
             "  -d, --detach          Detached mode: run command in the background\n"              \
             "      --detach-keys string  Override the key sequence for detaching\n"               \
             "  -e, --env list        Set environment variables\n"                                 \
             "      --env-file list   Read in a file of environment variables\n"                   \
             "  -i, --interactive     Keep STDIN open even if not attached\n"                      \
             "      --privileged      Give extended privileges to the command\n"                   \
             "  -t, --tty             Allocate a pseudo-TTY\n"                                     \
             "  -u, --user string     Username or UID (format: \"<name|uid>[:<group|gid>]\")\n"    \
             "  -w, --workdir string  Working directory inside the container\n" HELP_ONLY},        \
        {.name = P "kill",                                                                         \
         .fn = ctl_cmd_kill,                                                                       \
         .summary = "Kill one or more running containers",                                         \
         .usage = "[OPTIONS] CONTAINER [CONTAINER...]",                                            \
         .options = "  -s, --signal string   Signal to send to the container (default "            \
                    "KILL)\n" HELP_ONLY},                                                          \
        {.name = P "logs",                                                                         \
         .fn = ctl_cmd_logs,                                                                       \
         .summary = "Fetch the logs of a container",                                               \
         .usage = "[OPTIONS] CONTAINER",                                                           \
         .options =                                                                                \
             "      --details         Show extra details provided to logs\n"                       \
             "  -f, --follow          Follow log output\n"                                         \
             "      --since string    Show logs since timestamp (e.g. 2013-01-02T13:23:37Z)\n"     \
             "                        or relative (e.g. 42m for 42 minutes)\n"                     \
             "  -n, --tail string     Number of lines to show from the end of the logs\n"          \
             "                        (default \"all\")\n"                                         \
             "  -t, --timestamps      Show timestamps\n"                                           \
             "      --until string    Show logs before a timestamp or relative time\n" HELP_ONLY}, \
        {.name = P "pause",                                                                        \
         .fn = ctl_cmd_pause,                                                                      \
         .summary = "Pause all processes within one or more containers",                           \
         .usage = "CONTAINER [CONTAINER...]",                                                      \
         .options = HELP_ONLY},                                                                    \
        {.name = P "rename",                                                                       \
         .fn = ctl_cmd_rename,                                                                     \
         .summary = "Rename a container",                                                          \
         .usage = "CONTAINER NEW_NAME",                                                            \
         .options = HELP_ONLY},                                                                    \
        {.name = P "restart",                                                                      \
         .fn = ctl_cmd_restart,                                                                    \
         .summary = "Restart one or more containers",                                              \
         .usage = "[OPTIONS] CONTAINER [CONTAINER...]",                                            \
         .options = STOP_OPTIONS},                                                                 \
        {.name = P "run",                                                                          \
         .fn = ctl_cmd_run,                                                                        \
         .summary = "Create and run a new container from an image",                                \
         .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",                                            \
         .options = RUN_ONLY_OPTIONS RUN_CREATE_OPTIONS},                                          \
        {.name = P "start",                                                                        \
         .fn = ctl_cmd_start,                                                                      \
         .summary = "Start one or more stopped containers",                                        \
         .usage = "[OPTIONS] CONTAINER [CONTAINER...]",                                            \
         .options = "  -a, --attach          Attach STDOUT/STDERR and forward signals\n"           \
                    "  -i, --interactive     Attach container's STDIN\n" HELP_ONLY},               \
        {.name = P "stats",                                                                        \
         .fn = ctl_cmd_stats,                                                                      \
         .summary = "Display a live stream of container(s) resource usage statistics",             \
         .usage = "[OPTIONS] [CONTAINER...]",                                                      \
         .options = "  -a, --all             Show all containers (default shows just running)\n"   \
                    "      --format string   Format the output: 'json' prints one JSON object "    \
                    "per line\n"                                                                   \
                    "      --no-stream       Disable streaming stats and only pull the first "     \
                    "result\n"                                                                     \
                    "      --no-trunc        Do not truncate output\n" HELP_ONLY},                 \
        {.name = P "stop",                                                                         \
         .fn = ctl_cmd_stop,                                                                       \
         .summary = "Stop one or more running containers",                                         \
         .usage = "[OPTIONS] CONTAINER [CONTAINER...]",                                            \
         .options = STOP_OPTIONS},                                                                 \
        {.name = P "top",                                                                          \
         .fn = ctl_cmd_top,                                                                        \
         .summary = "Display the running processes of a container",                                \
         .usage = "CONTAINER [ps OPTIONS]",                                                        \
         .options = HELP_ONLY},                                                                    \
        {.name = P "unpause",                                                                      \
         .fn = ctl_cmd_unpause,                                                                    \
         .summary = "Unpause all processes within one or more containers",                         \
         .usage = "CONTAINER [CONTAINER...]",                                                      \
         .options = HELP_ONLY},                                                                    \
    {                                                                                              \
        .name = P "wait", .fn = ctl_cmd_wait,                                                      \
        .summary = "Block until one or more containers stop, then print their exit codes",         \
        .usage = "CONTAINER [CONTAINER...]", .options = HELP_ONLY                                  \
    }
#define RM_SUMMARY "Remove one or more containers"
#define RM_USAGE   "[OPTIONS] CONTAINER [CONTAINER...]"
#define RM_OPTIONS                                                                                 \
    "  -f, --force           Force the removal of a running container (uses SIGKILL)\n"            \
    "  -l, --link            Remove the specified link\n"                                          \
    "  -v, --volumes         Remove anonymous volumes associated with the container\n"             \
    "  -h, --help            Print usage\n"
#define PS_SUMMARY "List containers"
#define PS_USAGE   "[OPTIONS]"

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

static const struct ctl_cmd container_cmds[] = {
    CTR_CMDS("container "),
    {.name = "container inspect",
     .fn = ctl_cmd_container_inspect,
     .summary = "Display detailed information on one or more containers",
     .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
     .options = "  -f, --format string   Format the output: only 'json' (the default)\n"
                "  -s, --size            Display total file sizes\n" HELP_ONLY},
    {.name = "container ls",
     .fn = ctl_cmd_ps,
     .summary = PS_SUMMARY,
     .usage = PS_USAGE,
     .options = PS_OPTIONS,
     .alias = "ps"},
    {.name = "container prune",
     .fn = ctl_cmd_container_prune,
     .summary = "Remove all stopped containers",
     .usage = "[OPTIONS]",
     .options = "      --filter filter   Provide filter values (e.g. 'until=<timestamp>')\n"
                "  -f, --force           Do not prompt for confirmation\n" HELP_ONLY},
    {.name = "container rm",
     .fn = ctl_cmd_rm,
     .summary = RM_SUMMARY,
     .usage = RM_USAGE,
     .options = RM_OPTIONS,
     .alias = "remove"},
};

static const struct ctl_cmd system_cmds[] = {
    {.name = "system events",
     .fn = ctl_cmd_events,
     .summary = EVENTS_SUMMARY,
     .usage = "[OPTIONS]",
     .options = EVENTS_OPTIONS},
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

/* `isoctl --help` lists them sorted by name. */
static const struct ctl_cmd commands[] = {
    CTR_CMDS(""),
    {.name = "container",
     .fn = ctl_cmd_group,
     .summary = "Manage containers",
     .usage = "COMMAND",
     .subs = container_cmds,
     .n_subs = ARRAY_SIZE(container_cmds)},
    {.name = "inspect",
     .fn = ctl_cmd_inspect,
     .summary = "Return low-level information on containers or images",
     .usage = "[OPTIONS] NAME|ID [NAME|ID...]",
     .options = "  -f, --format string   Format the output: only 'json' (the default)\n"
                "  -s, --size            Display total file sizes if the type is container\n"
                "      --type string     Return JSON for the specified type (container, "
                "image)\n" HELP_ONLY},
    {.name = "ps",
     .fn = ctl_cmd_ps,
     .summary = PS_SUMMARY,
     .usage = PS_USAGE,
     .options = PS_OPTIONS},
    {.name = "rm",
     .fn = ctl_cmd_rm,
     .summary = RM_SUMMARY,
     .usage = RM_USAGE,
     .options = RM_OPTIONS},
    {.name = "events",
     .fn = ctl_cmd_events,
     .summary = EVENTS_SUMMARY,
     .usage = "[OPTIONS]",
     .options = EVENTS_OPTIONS},
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

static int cmp_cmd(const void *a, const void *b)
{
    return strcmp((*(const struct ctl_cmd *const *)a)->name,
                  (*(const struct ctl_cmd *const *)b)->name);
}

/* The tables are grouped by kind; help lists commands by name. out has room for n. */
static void sort_cmds(const struct ctl_cmd *v, size_t n, const struct ctl_cmd **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = &v[i];
    qsort(out, n, sizeof(*out), cmp_cmd);
}

static void print_help(FILE *f)
{
    const struct ctl_cmd *sorted[ARRAY_SIZE(commands)];

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
    sort_cmds(commands, ARRAY_SIZE(commands), sorted);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s  %s\n", sorted[i]->name, sorted[i]->summary);
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
        const struct ctl_cmd **sorted = calloc(cmd->n_subs, sizeof(*sorted));

        fputs("\nCommands:\n", f);
        if (sorted)
            sort_cmds(cmd->subs, cmd->n_subs, sorted);
        for (size_t i = 0; i < cmd->n_subs; i++) {
            const struct ctl_cmd *c = sorted ? sorted[i] : &cmd->subs[i];
            const char *sub = strchr(c->name, ' ');
            fprintf(f, "  %-10s  %s\n", sub ? sub + 1 : c->name, c->summary);
        }
        free(sorted);
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

int ctl_filter_opt(const struct ctl_cmd *cmd, json_t *filters, const char *arg)
{
    int r = ctl_filter_add(cmd, filters, arg);

    if (r == -EINVAL)
        return CTL_EXIT_USAGE;
    return r < 0 ? ctl_oom() : CTL_EXIT_OK;
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

/* Reads a line from stdin: true for "y" or "yes", any case. */
static bool read_yes(void)
{
    char line[64];
    size_t len;

    if (!fgets(line, sizeof(line), stdin))
        return false;
    len = strcspn(line, "\r\n");
    line[len] = '\0';
    return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

int ctl_prune_confirm(const struct ctl_cmd *cmd, bool force, const char *warning)
{
    struct iso_err err = {0};

    if (force)
        return CTL_EXIT_OK;
    if (!ctl_isatty(STDIN_FILENO))
        return ctl_usage_error(cmd, "stdin is not a terminal: use --force to prune without "
                                    "confirmation");
    printf("WARNING! %s\nAre you sure you want to continue? [y/N] ", warning);
    fflush(stdout);
    if (read_yes())
        return CTL_EXIT_OK;
    iso_err_set(&err, ECANCELED, "%s has been cancelled", cmd->name);
    return ctl_report(&err);
}

int ctl_parse_no_options(const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        if (c == 'h') {
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        }
        return ctl_bad_option(cmd, argv, c);
    }
    return -1;
}

int ctl_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *ctl_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

json_int_t ctl_num(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
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
