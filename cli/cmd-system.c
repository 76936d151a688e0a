/* isoctl version, isoctl info: GET /version and GET /info, printed like docker does. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/format.h"
#include "cli/isoctl-internal.h"
#include "common/json.h"
#include "build-config.h"

/* A string field for display: "" when missing or not a string. */
/* A string field of the engine component's Details, falling back to the top level. */
static const char *engine_str(json_t *engine, json_t *top, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(engine, "Details"), key));
    return s && *s ? s : ctl_str(top, key);
}

/* Parses the options of version and info: --format and --help, nothing else. Returns -1 to go
 * on, or the exit code. */
static int parse_format_only(const struct ctl_cmd *cmd, int argc, char **argv, bool *ret_json)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    *ret_json = false;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (ctl_parse_format(cmd, optarg, ret_json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

static json_t *client_version_json(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Version", ISOD_VERSION, "ApiVersion",
                     ISOD_API_VERSION, "DefaultAPIVersion", ISOD_API_VERSION, "GitCommit",
                     ISOD_GIT_COMMIT, "GoVersion", ISOD_CC_VERSION, "Os", ctl_go_os(), "Arch",
                     ctl_go_arch());
}

static void print_client_version(void)
{
    printf("Client:\n");
    printf(" %-18s %s\n", "Version:", ISOD_VERSION);
    printf(" %-18s %s\n", "API version:", ISOD_API_VERSION);
    printf(" %-18s %s\n", "Built with:", ISOD_CC_VERSION);
    printf(" %-18s %s\n", "Git commit:", ISOD_GIT_COMMIT);
    printf(" %-18s %s/%s\n", "OS/Arch:", ctl_go_os(), ctl_go_arch());
}

static void print_server_version(json_t *v)
{
    json_t *components = json_object_get(v, "Components");
    json_t *engine = NULL, *comp;
    const char *platform = ctl_str(json_object_get(v, "Platform"), "Name");
    const char *s;
    size_t i;

    for (i = 0; i < json_array_size(components); i++) {
        comp = json_array_get(components, i);
        if (streq(ctl_str(comp, "Name"), "Engine")) {
            engine = comp;
            break;
        }
    }

    printf("Server: %s\n", *platform ? platform : "isod Engine");
    printf(" Engine:\n");
    s = ctl_str(engine, "Version");
    printf("  %-17s %s\n", "Version:", *s ? s : ctl_str(v, "Version"));
    printf("  %-17s %s (minimum version %s)\n", "API version:", engine_str(engine, v, "ApiVersion"),
           engine_str(engine, v, "MinAPIVersion"));
    s = engine_str(engine, v, "GoVersion");
    if (*s)
        printf("  %-17s %s\n", "Built with:", s);
    printf("  %-17s %s\n", "Git commit:", engine_str(engine, v, "GitCommit"));
    printf("  %-17s %s\n", "Built:", engine_str(engine, v, "BuildTime"));
    printf("  %-17s %s/%s\n", "OS/Arch:", engine_str(engine, v, "Os"),
           engine_str(engine, v, "Arch"));
    printf("  %-17s %s\n", "Kernel version:", engine_str(engine, v, "KernelVersion"));

    /* Other components (a runtime, an init) get docker's generic listing. */
    for (i = 0; i < json_array_size(components); i++) {
        json_t *details;

        comp = json_array_get(components, i);
        if (comp == engine)
            continue;
        printf(" %s:\n", ctl_str(comp, "Name"));
        printf("  %-17s %s\n", "Version:", ctl_str(comp, "Version"));
        details = json_object_get(comp, "Details");
        for (void *it = json_object_iter(details); it; it = json_object_iter_next(details, it)) {
            json_t *val = json_object_iter_value(it);
            char label[64];

            if (!json_is_string(val))
                continue;
            snprintf(label, sizeof(label), "%s:", json_object_iter_key(it));
            printf("  %-17s %s\n", label, json_string_value(val));
        }
    }
}

int ctl_cmd_version(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    _cleanup_json_ json_t *server = NULL;
    struct iso_err err = {0};
    bool json;
    int r;

    r = parse_format_only(cmd, argc, argv, &json);
    if (r >= 0)
        return r;

    r = ctl_client_get_json(cl, "/version", &server, &err);
    if (r >= 0 && !json_is_object(server))
        r = iso_err_set(&err, EBADMSG, "GET /version: expected a JSON object");

    if (json) {
        _cleanup_json_ json_t *out = json_pack("{s:o?, s:O?}", "Client", client_version_json(),
                                               "Server", r >= 0 ? server : NULL);
        _cleanup_free_ char *text = out ? iso_json_dump(out) : NULL;
        if (!text) {
            fputs("isoctl: out of memory\n", stderr);
            return CTL_EXIT_ERROR;
        }
        printf("%s\n", text);
    } else {
        print_client_version();
        if (r >= 0) {
            printf("\n");
            print_server_version(server);
        }
    }
    if (r < 0) {
        /* Like docker: the client half is printed before saying the daemon is not there. */
        fflush(stdout);
        return ctl_report(&err);
    }
    return CTL_EXIT_OK;
}

/* "name=seccomp,profile=builtin" -> "  seccomp\n   Profile: builtin", as docker prints it. */
static void print_security_option(const char *opt)
{
    bool named = false;

    for (const char *kv = opt; *kv;) {
        size_t len = strcspn(kv, ",");
        const char *eq = memchr(kv, '=', len);

        if (!eq) {
            printf("  %.*s\n", (int)len, kv);
            named = true;
        } else if ((size_t)(eq - kv) == 4 && strneq(kv, "name", 4)) {
            printf("  %.*s\n", (int)(len - 5), eq + 1);
            named = true;
        } else if (named && eq > kv) {
            /* Keys are lowercase on the wire and capitalised on screen. */
            int klen = (int)(eq - kv);
            printf("   %c%.*s: %.*s\n", kv[0] >= 'a' && kv[0] <= 'z' ? kv[0] - 'a' + 'A' : kv[0],
                   klen - 1, kv + 1, (int)(len - (size_t)klen - 1), eq + 1);
        }
        kv += len;
        if (*kv == ',')
            kv++;
    }
}

static void print_info(json_t *info)
{
    json_t *ds = json_object_get(info, "DriverStatus");
    json_t *secopts = json_object_get(info, "SecurityOptions");
    json_t *warnings = json_object_get(info, "Warnings");
    char mem[32];
    size_t i;

    ctl_format_bytes(ctl_num(info, "MemTotal") > 0 ? (uint64_t)ctl_num(info, "MemTotal") : 0, mem,
                     sizeof(mem));

    printf("Server:\n");
    printf(" Containers: %" JSON_INTEGER_FORMAT "\n", ctl_num(info, "Containers"));
    printf("  Running: %" JSON_INTEGER_FORMAT "\n", ctl_num(info, "ContainersRunning"));
    printf("  Paused: %" JSON_INTEGER_FORMAT "\n", ctl_num(info, "ContainersPaused"));
    printf("  Stopped: %" JSON_INTEGER_FORMAT "\n", ctl_num(info, "ContainersStopped"));
    printf(" Images: %" JSON_INTEGER_FORMAT "\n", ctl_num(info, "Images"));
    printf(" Server Version: %s\n", ctl_str(info, "ServerVersion"));
    printf(" Storage Driver: %s\n", ctl_str(info, "Driver"));
    for (i = 0; i < json_array_size(ds); i++) {
        json_t *pair = json_array_get(ds, i);
        const char *k = json_string_value(json_array_get(pair, 0));
        const char *val = json_string_value(json_array_get(pair, 1));
        if (k && val)
            printf("  %s: %s\n", k, val);
    }
    if (*ctl_str(info, "LoggingDriver"))
        printf(" Logging Driver: %s\n", ctl_str(info, "LoggingDriver"));
    printf(" Cgroup Driver: %s\n", ctl_str(info, "CgroupDriver"));
    printf(" Cgroup Version: %s\n", ctl_str(info, "CgroupVersion"));
    if (*ctl_str(info, "DefaultRuntime"))
        printf(" Default Runtime: %s\n", ctl_str(info, "DefaultRuntime"));
    printf(" Security Options:\n");
    for (i = 0; i < json_array_size(secopts); i++) {
        const char *o = json_string_value(json_array_get(secopts, i));
        if (o)
            print_security_option(o);
    }
    printf(" Kernel Version: %s\n", ctl_str(info, "KernelVersion"));
    printf(" Operating System: %s\n", ctl_str(info, "OperatingSystem"));
    printf(" OSType: %s\n", ctl_str(info, "OSType"));
    printf(" Architecture: %s\n", ctl_str(info, "Architecture"));
    printf(" CPUs: %" JSON_INTEGER_FORMAT "\n", ctl_num(info, "NCPU"));
    printf(" Total Memory: %s\n", mem);
    printf(" Name: %s\n", ctl_str(info, "Name"));
    printf(" ID: %s\n", ctl_str(info, "ID"));
    printf(" isod Root Dir: %s\n", ctl_str(info, "DockerRootDir"));
    printf(" Debug Mode: %s\n", json_is_true(json_object_get(info, "Debug")) ? "true" : "false");

    /* Warnings go to stderr, as docker does, so that scripts parsing stdout are not upset. */
    fflush(stdout);
    for (i = 0; i < json_array_size(warnings); i++) {
        const char *w = json_string_value(json_array_get(warnings, i));
        if (w)
            fprintf(stderr, "%s%s\n", strneq(w, "WARNING", 7) ? "" : "WARNING: ", w);
    }
}

int ctl_cmd_info(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    const struct ctl_http_request req = {.method = "GET", .target = "/info"};
    _cleanup_json_ json_t *info = NULL;
    struct iso_err err = {0};
    bool json;
    int r;

    r = parse_format_only(cmd, argc, argv, &json);
    if (r >= 0)
        return r;

    r = ctl_client_call(cl, &req, &resp, &err);
    if (r < 0)
        return ctl_report(&err);
    r = iso_json_parse(resp.body, resp.body_len, &info, &err);
    if (r >= 0 && !json_is_object(info))
        r = iso_err_set(&err, EBADMSG, "expected a JSON object");
    if (r < 0) {
        iso_err_prefix(&err, "GET /info");
        return ctl_report(&err);
    }

    if (json) {
        /* The daemon's JSON as it came, one document per line. */
        fwrite(resp.body, 1, resp.body_len, stdout);
        if (resp.body_len == 0 || resp.body[resp.body_len - 1] != '\n')
            putchar('\n');
    } else {
        print_info(info);
    }
    return CTL_EXIT_OK;
}
