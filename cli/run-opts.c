#include "cli/run-opts.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"

/* Largest env file and seccomp profile read. */
#define FILE_MAX ((size_t)4 * 1024 * 1024)

int ctl_parse_ram(const char *s, int64_t *ret)
{
    static const char units[] = "kmgtp";
    const char *p = s;
    long double v;
    char *end;
    int64_t mult = 1;

    /* ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$ */
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    errno = 0;
    v = strtold(s, &end);
    if (errno != 0 || end != p)
        return -EINVAL;
    if (*p == ' ')
        p++;
    if (*p && strchr(units, tolower((unsigned char)*p))) {
        for (const char *u = units; *u != tolower((unsigned char)*p); u++)
            mult *= 1024;
        mult *= 1024;
        p++;
    }
    if (*p == 'i' || *p == 'I')
        p++;
    if (*p == 'b' || *p == 'B')
        p++;
    if (*p)
        return -EINVAL;
    v *= (long double)mult;
    if (v >= 9.2e18L)
        return -EINVAL;
    *ret = (int64_t)v;
    return 0;
}

int ctl_parse_cpus(const char *s, int64_t *ret, struct iso_err *err)
{
    const char *p = s;
    int64_t whole = 0, frac = 0;
    int digits = 0;

    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        return iso_err_set(err, EINVAL, "failed to parse %s as a rational number", s);
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > INT64_MAX / 10 / 1000000000)
            return iso_err_set(err, EINVAL, "value is too large");
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++) {
            if (++digits > 9)
                return iso_err_set(err, ERANGE, "value is too precise");
            frac = frac * 10 + (*p - '0');
        }
    }
    if (*p)
        return iso_err_set(err, EINVAL, "failed to parse %s as a rational number", s);
    for (; digits < 9; digits++)
        frac *= 10;
    *ret = whole * 1000000000 + frac;
    return 0;
}

static bool has_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)s[i]))
            return true;
    return false;
}

int ctl_parse_env_file(const char *path, json_t *env, struct iso_err *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    char *line, *next;
    int r;

    r = iso_read_file_at(AT_FDCWD, path, FILE_MAX, &text, &len);
    if (r < 0)
        return iso_err_set_errno(err, -r, "open %s", path);
    line = text;
    /* A UTF-8 byte order mark on the first line is not part of the name. */
    if (strneq(line, "\xEF\xBB\xBF", 3))
        line += 3;
    for (; line; line = next) {
        const char *eq, *name;
        size_t name_len;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        while (isspace((unsigned char)*line))
            line++;
        if (!*line || *line == '#')
            continue;

        eq = strchr(line, '=');
        name = line;
        name_len = eq ? (size_t)(eq - line) : strlen(line);
        if (has_space(name, name_len) && eq)
            return iso_err_set(err, EINVAL, "variable '%.*s' contains whitespaces", (int)name_len,
                               name);
        if (eq) {
            if (name_len == 0)
                return iso_err_set(err, EINVAL, "no variable name on line '%s'", line);
            if (json_array_append_new(env, json_string(line)) < 0)
                return -ENOMEM;
            continue;
        }
        /* A bare name passes the variable through from our environment, trimmed. */
        while (name_len > 0 && isspace((unsigned char)name[name_len - 1]))
            name_len--;
        if (has_space(name, name_len))
            return iso_err_set(err, EINVAL, "variable '%.*s' contains whitespaces", (int)name_len,
                               name);
        _cleanup_free_ char *key = strndup(name, name_len);
        if (!key)
            return -ENOMEM;
        const char *value = getenv(key);
        if (!value)
            continue;
        _cleanup_free_ char *kv = iso_strprintf("%s=%s", key, value);
        if (!kv || json_array_append_new(env, json_string(kv)) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Go's time.ParseDuration for the units that make sense here: "1h30m", "10m", "2.5s", "300ms". */
static int parse_duration(const char *s, long double *ret_seconds)
{
    static const struct {
        const char *unit;
        long double secs;
    } units[] = {
        {"ns", 1e-9L}, {"us", 1e-6L}, {"µs", 1e-6L}, {"ms", 1e-3L},
        {"s", 1},      {"m", 60},     {"h", 3600},
    };
    long double total = 0;
    const char *p = s;

    if (!*p)
        return -EINVAL;
    while (*p) {
        char *end;
        long double v;
        size_t best = 0, best_len = 0;

        if (!isdigit((unsigned char)*p) && *p != '.')
            return -EINVAL;
        v = strtold(p, &end);
        if (end == p)
            return -EINVAL;
        p = end;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t n = strlen(units[i].unit);
            if (strneq(p, units[i].unit, n) && n > best_len) {
                best = i;
                best_len = n;
            }
        }
        if (best_len == 0)
            return -EINVAL;
        total += v * units[best].secs;
        p += best_len;
    }
    *ret_seconds = total;
    return 0;
}

int ctl_parse_timestamp(const char *s, int64_t now, char *buf, size_t size)
{
    static const char *const layouts[] = {
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d",
    };
    long double secs;
    const char *p;

    if (parse_duration(s, &secs) == 0) {
        long double t = (long double)now - secs;
        int64_t whole = (int64_t)t;
        int64_t nanos = (int64_t)((t - (long double)whole) * 1e9L);
        snprintf(buf, size, "%" PRId64 ".%09" PRId64, whole, nanos);
        return 0;
    }

    /* A unix time, with or without fractional seconds, is taken as it is. */
    for (p = s; isdigit((unsigned char)*p); p++)
        ;
    if (p != s && (!*p || (*p == '.' && p[1] && strspn(p + 1, "0123456789") == strlen(p + 1)))) {
        snprintf(buf, size, "%s", s);
        return 0;
    }

    for (size_t i = 0; i < ARRAY_SIZE(layouts); i++) {
        struct tm tm = {0};
        const char *rest = strptime(s, layouts[i], &tm);
        long nanos = 0, offset = 0;

        if (!rest)
            continue;
        if (*rest == '.') {
            int digits = 0;
            for (rest++; isdigit((unsigned char)*rest); rest++)
                if (digits++ < 9)
                    nanos = nanos * 10 + (*rest - '0');
            for (; digits < 9; digits++)
                nanos *= 10;
        }
        if (*rest == 'Z') {
            rest++;
        } else if ((*rest == '+' || *rest == '-') && isdigit((unsigned char)rest[1])) {
            const char *z = rest + 1;
            if (!isdigit((unsigned char)z[0]) || !isdigit((unsigned char)z[1]) || z[2] != ':' ||
                !isdigit((unsigned char)z[3]) || !isdigit((unsigned char)z[4]))
                continue;
            long hh = (z[0] - '0') * 10 + (z[1] - '0'), mm = (z[3] - '0') * 10 + (z[4] - '0');
            offset = (hh * 3600L + mm * 60L) * (*rest == '-' ? -1 : 1);
            rest += 6;
        }
        if (*rest)
            continue;
        snprintf(buf, size, "%lld.%09ld", (long long)timegm(&tm) - offset, nanos);
        return 0;
    }
    return -EINVAL;
}

/* ---- the flag set ---- */

enum {
    OPT_RM = 256,
    OPT_NAME,
    OPT_ENV_FILE,
    OPT_MOUNT,
    OPT_TMPFS,
    OPT_ENTRYPOINT,
    OPT_MEMORY_SWAP,
    OPT_MEMORY_RESERVATION,
    OPT_CPUS,
    OPT_CPUSET_CPUS,
    OPT_PIDS_LIMIT,
    OPT_ULIMIT,
    OPT_READ_ONLY,
    OPT_CAP_ADD,
    OPT_CAP_DROP,
    OPT_PRIVILEGED,
    OPT_SECURITY_OPT,
    OPT_NETWORK,
    OPT_RESTART,
    OPT_LOG_OPT,
    OPT_INIT,
    OPT_STOP_SIGNAL,
    OPT_STOP_TIMEOUT,
    OPT_GROUP_ADD,
    OPT_SIG_PROXY,
    OPT_HELP,
};

/* What the flags collect before the body is put together in docker's field order. */
struct collect {
    json_t *env, *env_files, *labels, *volumes, *binds, *mounts, *tmpfs, *ulimits, *cap_add,
        *cap_drop, *security_opt, *log_opts, *group_add;
    const char *hostname, *user, *workdir, *network, *stop_signal, *cpuset, *entrypoint;
    json_t *restart;
    int64_t memory, swap, reservation, nano_cpus, cpu_shares, pids_limit, stop_timeout;
    bool have_pids, have_stop_timeout, have_entrypoint, init, read_only, privileged;
};

static void collect_done(struct collect *c)
{
    json_t **all[] = {&c->env,          &c->env_files, &c->labels,    &c->volumes, &c->binds,
                      &c->mounts,       &c->tmpfs,     &c->ulimits,   &c->cap_add, &c->cap_drop,
                      &c->security_opt, &c->log_opts,  &c->group_add, &c->restart};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        json_decref(*all[i]);
        *all[i] = NULL;
    }
}

/* pflag's words for a value a flag rejects. */
static int bad_value(struct iso_err *err, const char *value, const char *flag, const char *reason)
{
    return iso_err_set(err, EINVAL, "invalid argument \"%s\" for \"%s\" flag: %s", value, flag,
                       reason);
}

static int append_str(json_t **arr, const char *s)
{
    if (!*arr) {
        *arr = json_array();
        if (!*arr)
            return -ENOMEM;
    }
    return json_array_append_new(*arr, json_string(s)) < 0 ? -ENOMEM : 0;
}

static int object_set(json_t **obj, const char *key, json_t *value)
{
    if (!*obj) {
        *obj = json_object();
        if (!*obj) {
            json_decref(value);
            return -ENOMEM;
        }
    }
    return json_object_set_new(*obj, key, value) < 0 ? -ENOMEM : 0;
}

/* "KEY=VALUE" (or a bare "KEY", value "") into obj[KEY]. */
static int add_key_value(json_t **obj, const char *arg)
{
    const char *eq = strchr(arg, '=');
    _cleanup_free_ char *key = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);

    if (!key)
        return -ENOMEM;
    return object_set(obj, key, json_string(eq ? eq + 1 : ""));
}

/* -e: "NAME=VALUE" as given; a bare "NAME" takes its value from our environment when set. */
static int add_env(struct collect *c, const char *arg, struct iso_err *err)
{
    const char *eq = strchr(arg, '=');

    if (eq == arg || !*arg)
        return iso_err_set(err, EINVAL,
                           "invalid argument \"%s\" for \"-e, --env\" flag: invalid environment "
                           "variable: %s",
                           arg, arg);
    if (!eq && getenv(arg)) {
        _cleanup_free_ char *kv = iso_strprintf("%s=%s", arg, getenv(arg));
        return kv ? append_str(&c->env, kv) : -ENOMEM;
    }
    return append_str(&c->env, arg);
}

static bool valid_volume_mode(const char *mode)
{
    static const char *const modes[] = {"ro",      "rw",      "z",        "Z",
                                        "nocopy",  "private", "rprivate", "shared",
                                        "rshared", "slave",   "rslave"};
    _cleanup_free_ char *copy = strdup(mode);
    char *save = NULL;

    if (!copy || !*copy)
        return false;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
            ok = ok || streq(tok, modes[i]);
        if (!ok)
            return false;
    }
    return true;
}

/* -v SRC:DST[:MODE] goes to HostConfig.Binds, a lone -v /DST is an anonymous volume in
 * Config.Volumes. A relative SRC ("./data") is made absolute as docker does. */
static int add_volume(struct collect *c, const char *arg, struct iso_err *err)
{
    _cleanup_free_ char *copy = strdup(arg), *abs_src = NULL, *bind = NULL;
    char *parts[4] = {0};
    size_t n = 0;

    if (!copy)
        return -ENOMEM;
    for (char *p = copy, *colon; p && n < ARRAY_SIZE(parts); p = colon) {
        colon = strchr(p, ':');
        if (colon)
            *colon++ = '\0';
        parts[n++] = p;
        if (!colon)
            break;
    }
    if (n == 0 || n > 3)
        goto invalid;
    if (n == 1) {
        if (parts[0][0] != '/')
            goto invalid;
        return object_set(&c->volumes, parts[0], json_object());
    }
    if (!*parts[0] || parts[1][0] != '/')
        goto invalid;
    if (n == 3 && !valid_volume_mode(parts[2]))
        goto invalid;
    if (parts[0][0] == '.') {
        char cwd[4096];
        const char *rel = parts[0];
        if (!getcwd(cwd, sizeof(cwd)))
            return iso_err_set_errno(err, errno, "get the current directory");
        while (strneq(rel, "./", 2))
            rel += 2;
        abs_src = streq(rel, ".") ? strdup(cwd) : iso_strprintf("%s/%s", cwd, rel);
        if (!abs_src)
            return -ENOMEM;
        bind = n == 3 ? iso_strprintf("%s:%s:%s", abs_src, parts[1], parts[2])
                      : iso_strprintf("%s:%s", abs_src, parts[1]);
        if (!bind)
            return -ENOMEM;
        return append_str(&c->binds, bind);
    }
    return append_str(&c->binds, arg);

invalid:
    return iso_err_set(err, EINVAL,
                       "invalid argument \"%s\" for \"-v, --volume\" flag: invalid volume "
                       "specification: '%s'",
                       arg, arg);
}

/* --mount type=bind|tmpfs|volume,source=,target=,readonly[=BOOL],bind-propagation=,
 * tmpfs-size=,tmpfs-mode= -> an entry of HostConfig.Mounts. */
static int add_mount(struct collect *c, const char *arg, struct iso_err *err)
{
    _cleanup_free_ char *copy = strdup(arg);
    const char *type = "volume", *source = NULL, *target = NULL, *propagation = NULL;
    int64_t tmpfs_size = -1, tmpfs_mode = -1;
    bool readonly = false;
    char *save = NULL;
    json_t *m;

    if (!copy)
        return -ENOMEM;
    for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char *value = strchr(f, '=');
        if (value)
            *value++ = '\0';
        if (streq(f, "readonly") || streq(f, "ro")) {
            if (!value) {
                readonly = true;
            } else if (iso_parse_bool(value, &readonly) < 0 || !*value) {
                _cleanup_free_ char *why =
                    iso_strprintf("invalid value for %s: %s", f, value ? value : "");
                return why ? bad_value(err, arg, "--mount", why) : -ENOMEM;
            }
            continue;
        }
        if (!value) {
            _cleanup_free_ char *why =
                iso_strprintf("invalid field '%s' must be a key=value pair", f);
            return why ? bad_value(err, arg, "--mount", why) : -ENOMEM;
        }
        if (streq(f, "type")) {
            type = value;
        } else if (streq(f, "source") || streq(f, "src")) {
            source = value;
        } else if (streq(f, "target") || streq(f, "destination") || streq(f, "dst")) {
            target = value;
        } else if (streq(f, "bind-propagation")) {
            propagation = value;
        } else if (streq(f, "tmpfs-size")) {
            if (ctl_parse_ram(value, &tmpfs_size) < 0) {
                _cleanup_free_ char *why = iso_strprintf("invalid value for %s: %s", f, value);
                return why ? bad_value(err, arg, "--mount", why) : -ENOMEM;
            }
        } else if (streq(f, "tmpfs-mode")) {
            char *end;
            errno = 0;
            tmpfs_mode = (int64_t)strtoul(value, &end, 8);
            if (errno || end == value || *end) {
                _cleanup_free_ char *why = iso_strprintf("invalid value for %s: %s", f, value);
                return why ? bad_value(err, arg, "--mount", why) : -ENOMEM;
            }
        } else {
            _cleanup_free_ char *why = iso_strprintf("unexpected key '%s' in '%s=%s'", f, f, value);
            return why ? bad_value(err, arg, "--mount", why) : -ENOMEM;
        }
    }
    if (!streq(type, "bind") && !streq(type, "tmpfs") && !streq(type, "volume")) {
        _cleanup_free_ char *why = iso_strprintf("unsupported mount type '%s'", type);
        return why ? bad_value(err, arg, "--mount", why) : -ENOMEM;
    }
    if (!target || !*target)
        return bad_value(err, arg, "--mount", "target is required");
    if (streq(type, "bind") && (!source || !*source))
        return bad_value(err, arg, "--mount", "source is required when specifying bind mounts");
    if (streq(type, "tmpfs") && source)
        return bad_value(err, arg, "--mount", "cannot mix 'source' with 'tmpfs' mount type");
    if (propagation && !streq(type, "bind"))
        return bad_value(err, arg, "--mount", "cannot mix 'bind-*' options with mount type");
    if ((tmpfs_size >= 0 || tmpfs_mode >= 0) && !streq(type, "tmpfs"))
        return bad_value(err, arg, "--mount", "cannot mix 'tmpfs-*' options with mount type");

    m = json_object();
    if (!c->mounts)
        c->mounts = json_array();
    if (!m || !c->mounts || json_array_append_new(c->mounts, m) < 0)
        return -ENOMEM;
    if (json_object_set_new(m, "Type", json_string(type)) < 0 ||
        (source && json_object_set_new(m, "Source", json_string(source)) < 0) ||
        json_object_set_new(m, "Target", json_string(target)) < 0 ||
        (readonly && json_object_set_new(m, "ReadOnly", json_true()) < 0))
        return -ENOMEM;
    if (propagation &&
        json_object_set_new(m, "BindOptions", json_pack("{s:s}", "Propagation", propagation)) < 0)
        return -ENOMEM;
    if (tmpfs_size >= 0 || tmpfs_mode >= 0) {
        json_t *t = json_object();
        if (!t || json_object_set_new(m, "TmpfsOptions", t) < 0 ||
            (tmpfs_size >= 0 &&
             json_object_set_new(t, "SizeBytes", json_integer(tmpfs_size)) < 0) ||
            (tmpfs_mode >= 0 && json_object_set_new(t, "Mode", json_integer(tmpfs_mode)) < 0))
            return -ENOMEM;
    }
    return 0;
}

/* --tmpfs /PATH[:OPTIONS] -> HostConfig.Tmpfs {"/PATH": "OPTIONS"}. */
static int add_tmpfs(struct collect *c, const char *arg, struct iso_err *err)
{
    const char *colon = strchr(arg, ':');
    _cleanup_free_ char *path = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);

    if (!path)
        return -ENOMEM;
    if (path[0] != '/')
        return bad_value(err, arg, "--tmpfs", "tmpfs destination must be an absolute path");
    return object_set(&c->tmpfs, path, json_string(colon ? colon + 1 : ""));
}

static bool known_ulimit(const char *name)
{
    static const char *const names[] = {"core",    "cpu",      "data",   "fsize",      "locks",
                                        "memlock", "msgqueue", "nice",   "nofile",     "nproc",
                                        "rss",     "rtprio",   "rttime", "sigpending", "stack"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (streq(name, names[i]))
            return true;
    return false;
}

/* --ulimit NAME=SOFT[:HARD] -> {"Name", "Hard", "Soft"} as go-units' ParseUlimit. */
static int add_ulimit(struct collect *c, const char *arg, struct iso_err *err)
{
    const char *eq = strchr(arg, '=');
    _cleanup_free_ char *name = NULL, *why = NULL;
    int64_t soft, hard;
    const char *colon;

    if (!eq)
        return bad_value(err, arg, "--ulimit", "invalid ulimit argument");
    name = strndup(arg, (size_t)(eq - arg));
    if (!name)
        return -ENOMEM;
    if (!known_ulimit(name)) {
        why = iso_strprintf("invalid ulimit type: %s", name);
        return why ? bad_value(err, arg, "--ulimit", why) : -ENOMEM;
    }
    colon = strchr(eq + 1, ':');
    {
        _cleanup_free_ char *s = colon ? strndup(eq + 1, (size_t)(colon - eq - 1)) : strdup(eq + 1);
        if (!s)
            return -ENOMEM;
        if (iso_parse_int64(s, -1, INT64_MAX, &soft) < 0) {
            why = iso_strprintf("invalid ulimit soft value '%s'", s);
            return why ? bad_value(err, arg, "--ulimit", why) : -ENOMEM;
        }
    }
    hard = soft;
    if (colon && iso_parse_int64(colon + 1, -1, INT64_MAX, &hard) < 0) {
        why = iso_strprintf("invalid ulimit hard value '%s'", colon + 1);
        return why ? bad_value(err, arg, "--ulimit", why) : -ENOMEM;
    }
    if (soft > hard && hard != -1)
        return bad_value(err, arg, "--ulimit",
                         "ulimit soft limit must be less than or equal to hard limit");

    /* A later --ulimit for the same name replaces the earlier one. */
    if (!c->ulimits && !(c->ulimits = json_array()))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(c->ulimits); i++)
        if (streq(json_string_value(json_object_get(json_array_get(c->ulimits, i), "Name")),
                  name)) {
            json_array_remove(c->ulimits, i);
            break;
        }
    if (json_array_append_new(c->ulimits, json_pack("{s:s, s:I, s:I}", "Name", name, "Hard",
                                                    (json_int_t)hard, "Soft", (json_int_t)soft)) <
        0)
        return -ENOMEM;
    return 0;
}

/* --restart no|always|unless-stopped|on-failure[:N]. */
static int parse_restart(struct collect *c, const char *arg, struct iso_err *err)
{
    const char *colon = strchr(arg, ':');
    _cleanup_free_ char *name = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
    int64_t count = 0;

    if (!name)
        return -ENOMEM;
    if (!streq(name, "no") && !streq(name, "always") && !streq(name, "unless-stopped") &&
        !streq(name, "on-failure") && !streq(name, ""))
        return bad_value(err, arg, "--restart", "invalid restart policy format");
    if (colon) {
        if (!streq(name, "on-failure")) {
            _cleanup_free_ char *why =
                iso_strprintf("maximum retry count cannot be used with restart policy '%s'", name);
            return why ? bad_value(err, arg, "--restart", why) : -ENOMEM;
        }
        if (iso_parse_int64(colon + 1, 0, INT32_MAX, &count) < 0)
            return bad_value(err, arg, "--restart", "invalid restart policy format");
    }
    json_decref(c->restart);
    c->restart = json_pack("{s:s, s:I}", "Name", streq(name, "") ? "no" : name, "MaximumRetryCount",
                           (json_int_t)count);
    return c->restart ? 0 : -ENOMEM;
}

/* --security-opt: "seccomp=FILE" is replaced by the file's JSON, compacted, as docker does;
 * "seccomp=unconfined", "no-new-privileges[=BOOL]", "label=..." and the rest go as they are. */
static int add_security_opt(struct collect *c, const char *arg, struct iso_err *err)
{
    const char *eq = strchr(arg, '='), *colon = strchr(arg, ':');
    _cleanup_free_ char *text = NULL, *compact = NULL, *opt = NULL;
    _cleanup_json_ json_t *profile = NULL;
    size_t len;
    int r;

    if (!eq && !colon && !streq(arg, "no-new-privileges"))
        return iso_err_set(err, EINVAL, "invalid --security-opt: \"%s\"", arg);
    if (!strneq(arg, "seccomp=", 8) && !strneq(arg, "seccomp:", 8))
        return append_str(&c->security_opt, arg);
    if (streq(arg + 8, "unconfined") || streq(arg + 8, "builtin"))
        return append_str(&c->security_opt, arg);

    r = iso_read_file_at(AT_FDCWD, arg + 8, FILE_MAX, &text, &len);
    if (r < 0)
        return iso_err_set_errno(err, -r, "opening seccomp profile (%s) failed", arg + 8);
    if (iso_json_parse(text, len, &profile, NULL) < 0)
        return iso_err_set(err, EINVAL, "compacting json for seccomp profile (%s) failed", arg + 8);
    compact = json_dumps(profile, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!compact)
        return -ENOMEM;
    opt = iso_strprintf("seccomp=%s", compact);
    return opt ? append_str(&c->security_opt, opt) : -ENOMEM;
}

/* docker's normalization of --cap-add/--cap-drop: upper case, "CAP_" prefixed, "ALL" as is. */
static int add_cap(json_t **arr, const char *arg)
{
    _cleanup_free_ char *cap = NULL;

    cap = strncasecmp(arg, "CAP_", 4) == 0 || strcasecmp(arg, "ALL") == 0
              ? strdup(arg)
              : iso_strprintf("CAP_%s", arg);
    if (!cap)
        return -ENOMEM;
    for (char *p = cap; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return append_str(arr, cap);
}

static int parse_ram_flag(const char *arg, const char *flag, int64_t *ret, struct iso_err *err)
{
    _cleanup_free_ char *why = NULL;

    if (ctl_parse_ram(arg, ret) == 0)
        return 0;
    why = iso_strprintf("invalid size: '%s'", arg);
    return why ? bad_value(err, arg, flag, why) : -ENOMEM;
}

static int parse_int_flag(const char *arg, const char *flag, int64_t min, int64_t *ret,
                          struct iso_err *err)
{
    _cleanup_free_ char *why = NULL;

    if (iso_parse_int64(arg, min, INT64_MAX, ret) == 0)
        return 0;
    why = iso_strprintf("strconv.ParseInt: parsing \"%s\": invalid syntax", arg);
    return why ? bad_value(err, arg, flag, why) : -ENOMEM;
}

static json_t *or_null(json_t *j)
{
    return j ? json_incref(j) : json_null();
}

static json_t *or_empty_object(json_t *j)
{
    return j ? json_incref(j) : json_object();
}

static json_t *or_empty_array(json_t *j)
{
    return j ? json_incref(j) : json_array();
}

/* Puts the body together in the order of docker's container.Config and HostConfig. */
static int build_body(struct ctl_run_opts *o, struct collect *c, json_t *cmd, unsigned rows,
                      unsigned cols, json_t **ret)
{
    _cleanup_json_ json_t *body = NULL, *host = NULL, *entrypoint = NULL, *log = NULL;
    bool attach_stdin = o->interactive, attach_out = true;

    if (o->detach) {
        attach_stdin = false;
        attach_out = false;
    }
    if (c->have_entrypoint) {
        entrypoint = json_pack("[s]", c->entrypoint);
        if (!entrypoint)
            return -ENOMEM;
    }
    log = json_pack("{s:s, s:o}", "Type", c->log_opts ? "json-file" : "", "Config",
                    or_empty_object(c->log_opts));
    if (!log)
        return -ENOMEM;

    body = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:o, s:o, s:s, s:o, s:s, "
                     "s:o, s:o, s:o}",
                     "Hostname", c->hostname ? c->hostname : "", "Domainname", "", "User",
                     c->user ? c->user : "", "AttachStdin", attach_stdin, "AttachStdout",
                     attach_out, "AttachStderr", attach_out, "Tty", o->tty, "OpenStdin",
                     o->interactive, "StdinOnce", o->interactive && attach_stdin, "Env",
                     or_empty_array(c->env), "Cmd", cmd ? json_incref(cmd) : json_null(), "Image",
                     o->image, "Volumes", or_null(c->volumes), "WorkingDir",
                     c->workdir ? c->workdir : "", "Entrypoint", or_null(entrypoint), "OnBuild",
                     json_null(), "Labels", or_empty_object(c->labels));
    if (!body)
        return -ENOMEM;
    if (c->stop_signal && json_object_set_new(body, "StopSignal", json_string(c->stop_signal)) < 0)
        return -ENOMEM;
    if (c->have_stop_timeout &&
        json_object_set_new(body, "StopTimeout", json_integer(c->stop_timeout)) < 0)
        return -ENOMEM;

    host = json_pack(
        "{s:o, s:s, s:O, s:s, s:{}, s:o, s:b, s:[ii], s:o, s:o, s:o, s:b, s:b, s:o}", "Binds",
        or_null(c->binds), "ContainerIDFile", "", "LogConfig", log, "NetworkMode",
        c->network ? c->network : "default", "PortBindings", "RestartPolicy",
        c->restart ? json_incref(c->restart)
                   : json_pack("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0),
        "AutoRemove", o->rm, "ConsoleSize", o->tty ? (int)rows : 0, o->tty ? (int)cols : 0,
        "CapAdd", or_null(c->cap_add), "CapDrop", or_null(c->cap_drop), "GroupAdd",
        or_null(c->group_add), "Privileged", c->privileged, "ReadonlyRootfs", c->read_only,
        "SecurityOpt", or_null(c->security_opt));
    if (!host)
        return -ENOMEM;
    if ((c->tmpfs && json_object_set(host, "Tmpfs", c->tmpfs) < 0) ||
        json_object_set_new(host, "CpuShares", json_integer(c->cpu_shares)) < 0 ||
        json_object_set_new(host, "Memory", json_integer(c->memory)) < 0 ||
        json_object_set_new(host, "NanoCpus", json_integer(c->nano_cpus)) < 0 ||
        json_object_set_new(host, "CpusetCpus", json_string(c->cpuset ? c->cpuset : "")) < 0 ||
        json_object_set_new(host, "MemoryReservation", json_integer(c->reservation)) < 0 ||
        json_object_set_new(host, "MemorySwap", json_integer(c->swap)) < 0 ||
        json_object_set_new(host, "PidsLimit",
                            c->have_pids ? json_integer(c->pids_limit) : json_null()) < 0 ||
        json_object_set_new(host, "Ulimits", or_null(c->ulimits)) < 0 ||
        (c->mounts && json_object_set(host, "Mounts", c->mounts) < 0) ||
        (c->init && json_object_set_new(host, "Init", json_true()) < 0))
        return -ENOMEM;
    if (json_object_set(body, "HostConfig", host) < 0)
        return -ENOMEM;
    *ret = TAKE_PTR(body);
    return 0;
}

int ctl_run_opts_parse(struct ctl_run_opts *o, enum ctl_run_mode mode, int argc, char **argv,
                       unsigned rows, unsigned cols, struct iso_err *err)
{
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"rm", no_argument, NULL, OPT_RM},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"name", required_argument, NULL, OPT_NAME},
        {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {"volume", required_argument, NULL, 'v'},
        {"mount", required_argument, NULL, OPT_MOUNT},
        {"tmpfs", required_argument, NULL, OPT_TMPFS},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"hostname", required_argument, NULL, 'h'},
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
        {"memory", required_argument, NULL, 'm'},
        {"memory-swap", required_argument, NULL, OPT_MEMORY_SWAP},
        {"memory-reservation", required_argument, NULL, OPT_MEMORY_RESERVATION},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"cpu-shares", required_argument, NULL, 'c'},
        {"cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS},
        {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
        {"ulimit", required_argument, NULL, OPT_ULIMIT},
        {"read-only", no_argument, NULL, OPT_READ_ONLY},
        {"cap-add", required_argument, NULL, OPT_CAP_ADD},
        {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
        {"privileged", no_argument, NULL, OPT_PRIVILEGED},
        {"security-opt", required_argument, NULL, OPT_SECURITY_OPT},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"net", required_argument, NULL, OPT_NETWORK},
        {"restart", required_argument, NULL, OPT_RESTART},
        {"log-opt", required_argument, NULL, OPT_LOG_OPT},
        {"init", no_argument, NULL, OPT_INIT},
        {"label", required_argument, NULL, 'l'},
        {"stop-signal", required_argument, NULL, OPT_STOP_SIGNAL},
        {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
        {"group-add", required_argument, NULL, OPT_GROUP_ADD},
        {"sig-proxy", optional_argument, NULL, OPT_SIG_PROXY},
        {"help", no_argument, NULL, OPT_HELP},
        {0},
    };
    const char *shorts = mode == CTL_RUN_RUN ? "+:ditc:e:v:w:u:h:m:l:" : "+:itc:e:v:w:u:h:m:l:";
    struct collect c = {.swap = 0};
    _cleanup_json_ json_t *cmd = NULL;
    int ch, r = 0;

    *o = (struct ctl_run_opts){.sig_proxy = true};
    optind = 0;
    opterr = 0;
    while (r >= 0 && (ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o->detach = true;
            break;
        case OPT_RM:
            o->rm = true;
            break;
        case 'i':
            o->interactive = true;
            break;
        case 't':
            o->tty = true;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case 'e':
            r = add_env(&c, optarg, err);
            break;
        case OPT_ENV_FILE:
            r = append_str(&c.env_files, optarg);
            break;
        case 'v':
            r = add_volume(&c, optarg, err);
            break;
        case OPT_MOUNT:
            r = add_mount(&c, optarg, err);
            break;
        case OPT_TMPFS:
            r = add_tmpfs(&c, optarg, err);
            break;
        case 'w':
            c.workdir = optarg;
            break;
        case 'u':
            c.user = optarg;
            break;
        case 'h':
            c.hostname = optarg;
            break;
        case OPT_ENTRYPOINT:
            c.entrypoint = optarg;
            c.have_entrypoint = true;
            break;
        case 'm':
            r = parse_ram_flag(optarg, "-m, --memory", &c.memory, err);
            break;
        case OPT_MEMORY_SWAP:
            if (streq(optarg, "-1"))
                c.swap = -1;
            else
                r = parse_ram_flag(optarg, "--memory-swap", &c.swap, err);
            break;
        case OPT_MEMORY_RESERVATION:
            r = parse_ram_flag(optarg, "--memory-reservation", &c.reservation, err);
            break;
        case OPT_CPUS: {
            struct iso_err why = {0};
            if (ctl_parse_cpus(optarg, &c.nano_cpus, &why) < 0)
                r = bad_value(err, optarg, "--cpus", why.msg);
            break;
        }
        case 'c':
            r = parse_int_flag(optarg, "-c, --cpu-shares", INT64_MIN, &c.cpu_shares, err);
            break;
        case OPT_CPUSET_CPUS:
            c.cpuset = optarg;
            break;
        case OPT_PIDS_LIMIT:
            r = parse_int_flag(optarg, "--pids-limit", INT64_MIN, &c.pids_limit, err);
            c.have_pids = true;
            break;
        case OPT_ULIMIT:
            r = add_ulimit(&c, optarg, err);
            break;
        case OPT_READ_ONLY:
            c.read_only = true;
            break;
        case OPT_CAP_ADD:
            r = add_cap(&c.cap_add, optarg);
            break;
        case OPT_CAP_DROP:
            r = add_cap(&c.cap_drop, optarg);
            break;
        case OPT_PRIVILEGED:
            c.privileged = true;
            break;
        case OPT_SECURITY_OPT:
            r = add_security_opt(&c, optarg, err);
            break;
        case OPT_NETWORK:
            c.network = optarg;
            break;
        case OPT_RESTART:
            r = parse_restart(&c, optarg, err);
            break;
        case OPT_LOG_OPT:
            if (!strchr(optarg, '='))
                r = bad_value(err, optarg, "--log-opt", "invalid key value pair format");
            else
                r = add_key_value(&c.log_opts, optarg);
            break;
        case OPT_INIT:
            c.init = true;
            break;
        case 'l':
            r = add_key_value(&c.labels, optarg);
            break;
        case OPT_STOP_SIGNAL:
            c.stop_signal = optarg;
            break;
        case OPT_STOP_TIMEOUT:
            r = parse_int_flag(optarg, "--stop-timeout", INT32_MIN, &c.stop_timeout, err);
            c.have_stop_timeout = true;
            break;
        case OPT_GROUP_ADD:
            r = append_str(&c.group_add, optarg);
            break;
        case OPT_SIG_PROXY:
            o->sig_proxy = true;
            if (optarg && iso_parse_bool(optarg, &o->sig_proxy) < 0)
                r = bad_value(err, optarg, "--sig-proxy", "invalid syntax");
            break;
        case OPT_HELP:
            collect_done(&c);
            *o = (struct ctl_run_opts){0};
            return 1;
        case ':':
        case '?': {
            char flag[64];
            if (ch == '?' && optopt)
                snprintf(flag, sizeof(flag), "-%c", optopt);
            else
                snprintf(flag, sizeof(flag), "%s", argv[optind - 1]);
            flag[strcspn(flag, "=")] = '\0';
            r = iso_err_set(err, EINVAL, "%s: %s",
                            ch == ':' ? "flag needs an argument" : "unknown flag", flag);
            break;
        }
        default:
            r = iso_err_set(err, EINVAL, "unknown flag");
            break;
        }
    }
    if (r >= 0 && optind >= argc)
        r = iso_err_set(err, EINVAL, "requires at least 1 argument");
    if (r >= 0 && o->rm && c.restart &&
        !streq(json_string_value(json_object_get(c.restart, "Name")), "no"))
        r = iso_err_set(err, EINVAL, "conflicting options: cannot specify both --restart and --rm");
    if (r < 0)
        goto fail;

    o->image = argv[optind];
    if (optind + 1 < argc) {
        cmd = json_array();
        for (int i = optind + 1; cmd && i < argc; i++)
            if (json_array_append_new(cmd, json_string(argv[i])) < 0)
                json_decref(TAKE_PTR(cmd));
        if (!cmd) {
            r = -ENOMEM;
            goto fail;
        }
    }

    /* docker: the env files first, then -e, so that -e wins. */
    if (c.env_files) {
        _cleanup_json_ json_t *env = json_array();
        if (!env) {
            r = -ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(c.env_files); i++) {
            r = ctl_parse_env_file(json_string_value(json_array_get(c.env_files, i)), env, err);
            if (r < 0)
                goto fail;
        }
        if (c.env && json_array_extend(env, c.env) < 0) {
            r = -ENOMEM;
            goto fail;
        }
        json_decref(c.env);
        c.env = TAKE_PTR(env);
    }

    r = build_body(o, &c, cmd, rows, cols, &o->body);
fail:
    collect_done(&c);
    if (r < 0) {
        if (r == -ENOMEM)
            iso_err_set(err, ENOMEM, "out of memory");
        ctl_run_opts_done(o);
    }
    return r;
}

void ctl_run_opts_done(struct ctl_run_opts *o)
{
    json_decref(o->body);
    *o = (struct ctl_run_opts){0};
}
