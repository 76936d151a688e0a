#include "daemon/config.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "build-config.h"

enum {
    SET_HOSTS = 1 << 0,
    SET_ROOT = 1 << 1,
    SET_LOG_LEVEL = 1 << 2,
    SET_MAX_CONN = 1 << 3,
    SET_IDLE = 1 << 4,
    SET_INSECURE = 1 << 5,
    SET_DOWNLOADS = 1 << 6,
    SET_CGROUP_PARENT = 1 << 7,
    SET_LOG_OPT = 1 << 8,
    SET_USERNS = 1 << 9,
};

static const char usage[] =
    "Usage: isod [OPTIONS]\n"
    "\n"
    "A container engine answering the Docker Engine API on a unix socket.\n"
    "\n"
    "Options:\n"
    "  -H, --host unix:///PATH    socket to listen on, repeatable (default "
    "unix://" ISOD_DEFAULT_SOCKET ")\n"
    "      --root DIR             state directory (default " ISOD_DEFAULT_ROOT ")\n"
    "      --log-level LEVEL      error, warn, info or debug (default info)\n"
    "      --config FILE          JSON file with the same keys as these long options\n"
    "      --max-connections N    concurrent client connections (default 1024)\n"
    "      --idle-timeout SECONDS close idle connections after this (default 300)\n"
    "      --max-concurrent-downloads N\n"
    "                             layers pulled at once (default 3)\n"
    "      --insecure-registry HOST[:PORT]\n"
    "                             registry to pull from over plain HTTP, repeatable\n"
    "                             (127.0.0.0/8 and localhost always are)\n"
    "      --cgroup-parent NAME   cgroup under which containers' cgroups go (default isod)\n"
    "      --log-opt KEY=VALUE    default json-file log options of containers: max-size\n"
    "                             (default 10m) and max-file (default 3), repeatable\n"
    "      --userns-remap default|USER[:GROUP]|UID[:GID]\n"
    "                             run containers in a user namespace mapped onto the\n"
    "                             user's /etc/subuid and /etc/subgid ranges (default:\n"
    "                             the user " ENG_USERNS_DEFAULT_USER ", created if missing)\n"
    "      --version              print the version and exit\n"
    "  -h, --help                 print this help and exit\n";

static int add_host(struct eng_config *cfg, const char *host, struct iso_err *err)
{
    char *path;
    int r = iso_host_parse(host, &path, err);
    if (r < 0)
        return r;
    char **n = realloc(cfg->hosts, (cfg->n_hosts + 1) * sizeof(*n));
    if (!n) {
        free(path);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    cfg->hosts = n;
    cfg->hosts[cfg->n_hosts++] = path;
    return 0;
}

static int set_string(char **dst, const char *v, struct iso_err *err);

static int set_log_opt(struct eng_config *cfg, const char *kv, struct iso_err *err)
{
    const char *eq = strchr(kv, '=');
    int64_t n;

    if (eq && strneq(kv, "max-size=", 9)) {
        if (iso_parse_size(eq + 1, &cfg->log_max_size) < 0)
            return iso_err_set(err, EINVAL, "invalid log opt max-size '%s'", eq + 1);
        return 0;
    }
    if (eq && strneq(kv, "max-file=", 9)) {
        if (iso_parse_int64(eq + 1, 1, 1000, &n) < 0)
            return iso_err_set(err, EINVAL, "invalid log opt max-file '%s'", eq + 1);
        cfg->log_max_files = n;
        return 0;
    }
    return iso_err_set(err, EINVAL, "unknown log opt '%s': expected max-size=SIZE or max-file=N",
                       kv);
}

static int set_userns_remap(struct eng_config *cfg, const char *value, struct iso_err *err)
{
    if (!*value)
        return iso_err_set(err, EINVAL, "userns-remap: empty value");
    return set_string(&cfg->userns_remap, value, err);
}

static int set_cgroup_parent(struct eng_config *cfg, const char *name, struct iso_err *err)
{
    if (!*name || name[0] == '/' || strstr(name, "..") || strchr(name, '\n'))
        return iso_err_set(err, EINVAL, "invalid cgroup parent '%s': a relative cgroup name", name);
    return set_string(&cfg->cgroup_parent, name, err);
}

static int add_insecure(struct eng_config *cfg, const char *host, struct iso_err *err)
{
    if (!*host || strchr(host, '/'))
        return iso_err_set(err, EINVAL, "invalid insecure registry '%s': expected HOST[:PORT]",
                           host);
    char **n = realloc(cfg->insecure_registries, (cfg->n_insecure + 1) * sizeof(*n));
    if (!n)
        return iso_err_set(err, ENOMEM, "out of memory");
    cfg->insecure_registries = n;
    cfg->insecure_registries[cfg->n_insecure] = strdup(host);
    if (!cfg->insecure_registries[cfg->n_insecure])
        return iso_err_set(err, ENOMEM, "out of memory");
    cfg->n_insecure++;
    return 0;
}

static void clear_hosts(struct eng_config *cfg)
{
    for (size_t i = 0; i < cfg->n_hosts; i++)
        free(cfg->hosts[i]);
    free(cfg->hosts);
    cfg->hosts = NULL;
    cfg->n_hosts = 0;
}

static int set_string(char **dst, const char *v, struct iso_err *err)
{
    char *s = strdup(v);
    if (!s)
        return iso_err_set(err, ENOMEM, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

static int parse_level(const char *v, enum log_level *ret, struct iso_err *err)
{
    if (log_level_from_string(v, ret) < 0)
        return iso_err_set(err, EINVAL, "invalid log level '%s': use error, warn, info or debug",
                           v);
    return 0;
}

static int parse_uint(const char *name, const char *v, unsigned min, unsigned max, unsigned *ret,
                      struct iso_err *err)
{
    int64_t n;
    if (iso_parse_int64(v, min, max, &n) < 0)
        return iso_err_set(err, EINVAL, "invalid %s '%s': expected a number from %u to %u", name, v,
                           min, max);
    *ret = (unsigned)n;
    return 0;
}

/* Applies the keys of the config file that the command line did not set. */
static int load_file(struct eng_config *cfg, unsigned set, bool only_log_level, struct iso_err *err)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_json_ json_t *j = NULL;
    size_t len;
    const char *key;
    json_t *v;
    int r;

    r = iso_read_file_at(AT_FDCWD, cfg->config_file, 1 << 20, &buf, &len);
    if (r < 0)
        return iso_err_set_errno(err, -r, "read config file '%s'", cfg->config_file);
    r = iso_json_parse(buf, len, &j, err);
    if (r < 0)
        return iso_err_prefix(err, "config file '%s'", cfg->config_file);
    if (!json_is_object(j))
        return iso_err_set(err, EINVAL, "config file '%s': expected a JSON object",
                           cfg->config_file);

    json_object_foreach(j, key, v)
    {
        char num[32];
        if (streq(key, "log-level")) {
            if (!json_is_string(v))
                r = iso_err_set(err, EINVAL, "'log-level' must be a string");
            else if (!(set & SET_LOG_LEVEL))
                r = parse_level(json_string_value(v), &cfg->log_level, err);
        } else if (only_log_level)
            continue;
        else if (streq(key, "host")) {
            if (!json_is_array(v))
                r = iso_err_set(err, EINVAL, "'host' must be an array of strings");
            size_t i;
            json_t *h;
            json_array_foreach(v, i, h)
            {
                if (r < 0)
                    break;
                if (!json_is_string(h))
                    r = iso_err_set(err, EINVAL, "'host' must be an array of strings");
                else if (!(set & SET_HOSTS))
                    r = add_host(cfg, json_string_value(h), err);
            }
        } else if (streq(key, "insecure-registry")) {
            size_t i;
            json_t *h;
            if (!json_is_array(v))
                r = iso_err_set(err, EINVAL, "'insecure-registry' must be an array of strings");
            json_array_foreach(v, i, h)
            {
                if (r < 0)
                    break;
                if (!json_is_string(h))
                    r = iso_err_set(err, EINVAL, "'insecure-registry' must be an array of strings");
                else if (!(set & SET_INSECURE))
                    r = add_insecure(cfg, json_string_value(h), err);
            }
        } else if (streq(key, "cgroup-parent")) {
            if (!json_is_string(v))
                r = iso_err_set(err, EINVAL, "'cgroup-parent' must be a string");
            else if (!(set & SET_CGROUP_PARENT))
                r = set_cgroup_parent(cfg, json_string_value(v), err);
        } else if (streq(key, "userns-remap")) {
            if (!json_is_string(v))
                r = iso_err_set(err, EINVAL, "'userns-remap' must be a string");
            else if (!(set & SET_USERNS))
                r = set_userns_remap(cfg, json_string_value(v), err);
        } else if (streq(key, "log-opts")) {
            const char *k;
            json_t *o;
            if (!json_is_object(v))
                r = iso_err_set(err, EINVAL, "'log-opts' must be an object of strings");
            json_object_foreach(v, k, o)
            {
                char kv[256];
                if (r < 0)
                    break;
                if (!json_is_string(o))
                    r = iso_err_set(err, EINVAL, "'log-opts' must be an object of strings");
                else if (!(set & SET_LOG_OPT)) {
                    snprintf(kv, sizeof(kv), "%s=%s", k, json_string_value(o));
                    r = set_log_opt(cfg, kv, err);
                }
            }
        } else if (streq(key, "root")) {
            if (!json_is_string(v))
                r = iso_err_set(err, EINVAL, "'root' must be a string");
            else if (!(set & SET_ROOT))
                r = set_string(&cfg->root, json_string_value(v), err);
        } else if (streq(key, "max-concurrent-downloads")) {
            if (!json_is_integer(v))
                r = iso_err_set(err, EINVAL, "'%s' must be an integer", key);
            else if (!(set & SET_DOWNLOADS)) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                r = parse_uint(key, num, 1, 64, &cfg->max_concurrent_downloads, err);
            }
        } else if (streq(key, "max-connections") || streq(key, "idle-timeout")) {
            bool conn = streq(key, "max-connections");
            if (!json_is_integer(v))
                r = iso_err_set(err, EINVAL, "'%s' must be an integer", key);
            else if (!(set & (conn ? SET_MAX_CONN : SET_IDLE))) {
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                r = conn ? parse_uint(key, num, 1, 1 << 20, &cfg->max_connections, err)
                         : parse_uint(key, num, 1, 86400, &cfg->idle_timeout_s, err);
            }
        } else
            r = iso_err_set(err, EINVAL, "unknown key '%s'", key);
        if (r < 0)
            return iso_err_prefix(err, "config file '%s'", cfg->config_file);
    }
    return 0;
}

int eng_config_parse(int argc, char **argv, struct eng_config *cfg, struct iso_err *err)
{
    enum {
        OPT_ROOT = 256,
        OPT_LOG_LEVEL,
        OPT_CONFIG,
        OPT_MAX_CONN,
        OPT_IDLE,
        OPT_INSECURE,
        OPT_DOWNLOADS,
        OPT_CGROUP_PARENT,
        OPT_LOG_OPT,
        OPT_USERNS,
        OPT_VERSION
    };
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"root", required_argument, NULL, OPT_ROOT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"insecure-registry", required_argument, NULL, OPT_INSECURE},
        {"max-concurrent-downloads", required_argument, NULL, OPT_DOWNLOADS},
        {"cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT},
        {"log-opt", required_argument, NULL, OPT_LOG_OPT},
        {"userns-remap", required_argument, NULL, OPT_USERNS},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    unsigned set = 0;
    int c, r = 0;

    *cfg = (struct eng_config){
        .log_level = LOG_LEVEL_INFO,
        .max_connections = 1024,
        .idle_timeout_s = 300,
        .max_concurrent_downloads = 3,
        .max_body_bytes = 16u << 20,
        .log_max_size = 10u << 20,
        .log_max_files = 3,
    };
    r = set_string(&cfg->root, ISOD_DEFAULT_ROOT, err);
    if (r >= 0)
        r = set_string(&cfg->cgroup_parent, "isod", err);
    if (r < 0)
        return r;

    optind = 0;
    opterr = 0;
    while (r >= 0 && (c = getopt_long(argc, argv, ":H:h", opts, NULL)) >= 0) {
        switch (c) {
        case 'H':
            set |= SET_HOSTS;
            r = add_host(cfg, optarg, err);
            break;
        case OPT_ROOT:
            set |= SET_ROOT;
            r = optarg[0] == '/'
                    ? set_string(&cfg->root, optarg, err)
                    : iso_err_set(err, EINVAL, "--root '%s' must be an absolute path", optarg);
            break;
        case OPT_LOG_LEVEL:
            set |= SET_LOG_LEVEL;
            r = parse_level(optarg, &cfg->log_level, err);
            break;
        case OPT_CONFIG:
            r = set_string(&cfg->config_file, optarg, err);
            break;
        case OPT_MAX_CONN:
            set |= SET_MAX_CONN;
            r = parse_uint("--max-connections", optarg, 1, 1 << 20, &cfg->max_connections, err);
            break;
        case OPT_IDLE:
            set |= SET_IDLE;
            r = parse_uint("--idle-timeout", optarg, 1, 86400, &cfg->idle_timeout_s, err);
            break;
        case OPT_DOWNLOADS:
            set |= SET_DOWNLOADS;
            r = parse_uint("--max-concurrent-downloads", optarg, 1, 64,
                           &cfg->max_concurrent_downloads, err);
            break;
        case OPT_INSECURE:
            set |= SET_INSECURE;
            r = add_insecure(cfg, optarg, err);
            break;
        case OPT_CGROUP_PARENT:
            set |= SET_CGROUP_PARENT;
            r = set_cgroup_parent(cfg, optarg, err);
            break;
        case OPT_LOG_OPT:
            set |= SET_LOG_OPT;
            r = set_log_opt(cfg, optarg, err);
            break;
        case OPT_USERNS:
            set |= SET_USERNS;
            r = set_userns_remap(cfg, optarg, err);
            break;
        case OPT_VERSION:
            printf("isod version %s, API %s (minimum %s), commit %s\n", ISOD_VERSION,
                   ISOD_API_VERSION, ISOD_API_MIN_VERSION, ISOD_GIT_COMMIT);
            return 1;
        case 'h':
            fputs(usage, stdout);
            return 1;
        case ':':
            return iso_err_set(err, EINVAL, "option '%s' needs a value", argv[optind - 1]);
        default:
            return iso_err_set(err, EINVAL, "unknown option '%s'; see isod --help",
                               argv[optind - 1]);
        }
    }
    if (r < 0)
        return r;
    if (optind < argc)
        return iso_err_set(err, EINVAL, "unexpected argument '%s'; see isod --help", argv[optind]);

    if (cfg->config_file) {
        r = load_file(cfg, set, false, err);
        if (r < 0)
            return r;
        if (cfg->root[0] != '/')
            return iso_err_set(err, EINVAL, "config file '%s': 'root' must be an absolute path",
                               cfg->config_file);
    }
    /* Resolved once: users and ranges added later need a restart, as with dockerd. */
    if (cfg->userns_remap && *cfg->userns_remap) {
        r = eng_userns_resolve(cfg->userns_remap, &cfg->remap, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int eng_config_reload_log_level(struct eng_config *cfg, struct iso_err *err)
{
    if (!cfg->config_file)
        return 0;
    return load_file(cfg, 0, true, err);
}

void eng_config_done(struct eng_config *cfg)
{
    clear_hosts(cfg);
    for (size_t i = 0; i < cfg->n_insecure; i++)
        free(cfg->insecure_registries[i]);
    free(cfg->insecure_registries);
    free(cfg->root);
    free(cfg->cgroup_parent);
    free(cfg->userns_remap);
    free(cfg->config_file);
    *cfg = (struct eng_config){0};
}
