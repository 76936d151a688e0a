/* A container's configuration: Docker's create request checked and completed (defaults, the
 * image's config merged in as moby does), the runtime spec made from it, and the JSON views
 * of a container (inspect, list). */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common/json.h"
#include "common/util.h"
#include "daemon/containers.h"
#include "daemon/seccomp.h"
#include "daemon/userns.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int64_t ctr_cfg_int(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

const char *ctr_cfg_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static bool cfg_bool(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* ---- checking the request ---- */

int ctr_str_array(json_t *obj, const char *key, json_t **ret, struct iso_err *err)
{
    json_t *v = json_object_get(obj, key), *item;
    size_t i;

    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return iso_err_set(err, EINVAL, "field '%s' must be an array of strings", key);
    json_array_foreach(v, i, item) if (!json_is_string(item)) return iso_err_set(
        err, EINVAL, "field '%s' must be an array of strings", key);
    *ret = v;
    return 0;
}

/* A string list that Docker also accepts as a single string (strslice). Replaces the value
 * with an array (or removes a null). */
static int normalize_strslice(json_t *obj, const char *key, struct iso_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    if (json_is_null(v))
        return json_object_del(obj, key), 0;
    if (json_is_string(v))
        return json_object_set_new(obj, key, json_pack("[O]", v)) < 0
                   ? iso_err_set(err, ENOMEM, "out of memory")
                   : 0;
    return ctr_str_array(obj, key, &v, err);
}

static int check_type(json_t *obj, const char *key, int type, const char *what, struct iso_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    bool ok = type == JSON_TRUE ? json_is_boolean(v) : (int)json_typeof(v) == type;
    if (!ok)
        return iso_err_set(err, EINVAL, "field '%s' must be %s", key, what);
    return 0;
}

static int check_string_map(json_t *obj, const char *key, struct iso_err *err)
{
    json_t *m = json_object_get(obj, key), *v;
    const char *k;

    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return iso_err_set(err, EINVAL, "field '%s' must be an object of strings", key);
    json_object_foreach(m, k, v) if (!json_is_string(v)) return iso_err_set(
        err, EINVAL, "field '%s' must be an object of strings ('%s' is not)", key, k);
    return 0;
}

static bool env_has(json_t *env, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    size_t i;
    json_t *item;

    json_array_foreach(env, i, item)
    {
        const char *s = json_string_value(item);
        if (strneq(s, kv, klen) && (s[klen] == '=' || s[klen] == '\0'))
            return true;
    }
    return false;
}

/* moby's merge(): the user's Config wins, the image fills the gaps. */
static int merge_image(json_t *cfg, json_t *img, struct iso_err *err)
{
    json_t *v;

    if (!img)
        return 0;
    if (!*ctr_cfg_str(cfg, "User") && (v = json_object_get(img, "User")) && json_is_string(v))
        json_object_set(cfg, "User", v);
    if (!*ctr_cfg_str(cfg, "WorkingDir") && (v = json_object_get(img, "WorkingDir")) &&
        json_is_string(v))
        json_object_set(cfg, "WorkingDir", v);
    if (!*ctr_cfg_str(cfg, "StopSignal") && (v = json_object_get(img, "StopSignal")) &&
        json_is_string(v))
        json_object_set(cfg, "StopSignal", v);

    json_t *env = json_object_get(cfg, "Env");
    if (!env) {
        env = json_array();
        json_object_set_new(cfg, "Env", env);
    }
    json_t *ienv = json_object_get(img, "Env");
    size_t i;
    json_array_foreach(ienv, i, v) if (json_is_string(v) && !env_has(env, json_string_value(v)))
        json_array_append(env, v);

    json_t *labels = json_object_get(cfg, "Labels");
    json_t *ilabels = json_object_get(img, "Labels");
    if (json_is_object(ilabels)) {
        if (!json_is_object(labels)) {
            labels = json_object();
            json_object_set_new(cfg, "Labels", labels);
        }
        const char *k;
        json_object_foreach(ilabels, k, v) if (!json_object_get(labels, k))
            json_object_set(labels, k, v);
    }
    json_t *ports = json_object_get(img, "ExposedPorts");
    if (json_is_object(ports)) {
        json_t *mine = json_object_get(cfg, "ExposedPorts");
        if (!json_is_object(mine)) {
            mine = json_object();
            json_object_set_new(cfg, "ExposedPorts", mine);
        }
        json_object_update_missing(mine, ports);
    }

    json_t *ep = json_object_get(cfg, "Entrypoint");
    if (!ep || json_array_size(ep) == 0) {
        json_t *cmd = json_object_get(cfg, "Cmd");
        if ((!cmd || json_array_size(cmd) == 0) && json_is_array(json_object_get(img, "Cmd")))
            json_object_set(cfg, "Cmd", json_object_get(img, "Cmd"));
        if (!ep && json_is_array(json_object_get(img, "Entrypoint")))
            json_object_set(cfg, "Entrypoint", json_object_get(img, "Entrypoint"));
    }
    (void)err;
    return 0;
}

static const char *const rlimit_names[] = {
    "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
    "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",    "as",
};
static const int rlimit_ids[] = {
    RLIMIT_CORE,     RLIMIT_CPU,        RLIMIT_DATA,   RLIMIT_FSIZE, RLIMIT_LOCKS, RLIMIT_MEMLOCK,
    RLIMIT_MSGQUEUE, RLIMIT_NICE,       RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS,   RLIMIT_RTPRIO,
    RLIMIT_RTTIME,   RLIMIT_SIGPENDING, RLIMIT_STACK,  RLIMIT_AS,
};

static int check_ulimits(json_t *host, struct iso_err *err)
{
    json_t *list = json_object_get(host, "Ulimits"), *u;
    size_t i;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return iso_err_set(err, EINVAL, "field 'Ulimits' must be an array");
    json_array_foreach(list, i, u)
    {
        const char *name = ctr_cfg_str(u, "Name");
        int64_t soft = ctr_cfg_int(u, "Soft"), hard = ctr_cfg_int(u, "Hard");
        size_t k;
        for (k = 0; k < ARRAY_SIZE(rlimit_names); k++)
            if (streq(name, rlimit_names[k]))
                break;
        if (k == ARRAY_SIZE(rlimit_names))
            return iso_err_set(err, EINVAL, "invalid ulimit type: '%s'", name);
        if (soft > hard && hard != -1)
            return iso_err_set(err, EINVAL,
                               "ulimit soft limit must be less than or equal to hard limit: "
                               "%lld > %lld",
                               (long long)soft, (long long)hard);
        /* The init cannot raise a hard limit past isod's own: hosts may deny
         * CAP_SYS_RESOURCE. Say so now rather than at start. */
        struct rlimit cur;
        if (getrlimit(rlimit_ids[k], &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            (hard == -1 || (uint64_t)hard > cur.rlim_max))
            return iso_err_set(err, EINVAL,
                               "--ulimit %s: hard limit %lld is above the host's limit for isod "
                               "(%llu)",
                               name, (long long)hard, (unsigned long long)cur.rlim_max);
    }
    return 0;
}

static int check_caps(json_t *host, uint64_t *ret, struct iso_err *err)
{
    const char *add[64], *drop[64];
    size_t n_add = 0, n_drop = 0, i;
    json_t *v;

    if (normalize_strslice(host, "CapAdd", err) < 0 || normalize_strslice(host, "CapDrop", err) < 0)
        return -EINVAL;
    json_array_foreach(json_object_get(host, "CapAdd"), i, v) if (n_add < ARRAY_SIZE(add))
        add[n_add++] = json_string_value(v);
    json_array_foreach(json_object_get(host, "CapDrop"), i, v) if (n_drop < ARRAY_SIZE(drop))
        drop[n_drop++] = json_string_value(v);
    return rt_caps_compute(cfg_bool(host, "Privileged"), add, n_add, drop, n_drop, ret, err);
}

/* Binds ("src:dst[:opts]"), Mounts and Tmpfs become one list of {Type, Source, Destination,
 * Options, RW} in HostConfig's private "IsodMounts", in order. */
static int add_mount(json_t *list, const char *type, const char *src, const char *dst,
                     const char *opts, bool rw, struct iso_err *err)
{
    if (!dst || dst[0] != '/')
        return iso_err_set(err, EINVAL, "invalid mount config: mount path must be absolute: '%s'",
                           dst ? dst : "");
    if (streq(dst, "/"))
        return iso_err_set(err, EINVAL, "invalid specification: destination can't be '/'");
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:b}", "Type", type, "Source", src, "Destination",
                          dst, "Options", opts, "RW", rw);
    if (!m || json_array_append_new(list, m) < 0)
        return iso_err_set(err, ENOMEM, "out of memory");
    return 0;
}

static int parse_binds(json_t *host, json_t *list, struct iso_err *err)
{
    json_t *binds, *b;
    size_t i;
    int r;

    r = ctr_str_array(host, "Binds", &binds, err);
    if (r < 0 || !binds)
        return r;
    json_array_foreach(binds, i, b)
    {
        const char *spec = json_string_value(b);
        _cleanup_free_ char *copy = strdup(spec);
        if (!copy)
            return iso_err_set(err, ENOMEM, "out of memory");
        char *src = copy, *dst = strchr(copy, ':'), *mode = NULL;
        if (!dst)
            return iso_err_set(err, EINVAL, "invalid volume specification: '%s'", spec);
        *dst++ = '\0';
        mode = strchr(dst, ':');
        if (mode)
            *mode++ = '\0';
        if (src[0] != '/')
            return iso_err_set(err, EINVAL,
                               "invalid volume specification: '%s': named volumes are not "
                               "supported by isod, use an absolute host path",
                               spec);
        bool rw = true;
        char opts[128] = "rbind";
        for (char *tok = mode ? strtok(mode, ",") : NULL; tok; tok = strtok(NULL, ",")) {
            if (streq(tok, "ro"))
                rw = false;
            else if (streq(tok, "rw") || streq(tok, "z") || streq(tok, "Z") ||
                     streq(tok, "nocopy") || streq(tok, "consistent") || streq(tok, "cached") ||
                     streq(tok, "delegated"))
                ;
            else if (streq(tok, "private") || streq(tok, "rprivate") || streq(tok, "shared") ||
                     streq(tok, "rshared") || streq(tok, "slave") || streq(tok, "rslave"))
                snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), ",%s", tok);
            else
                return iso_err_set(err, EINVAL, "invalid mode: %s", tok);
        }
        if (!rw)
            snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), ",ro");
        /* docker -v creates a missing host directory. */
        struct stat st;
        if (stat(src, &st) < 0) {
            r = iso_mkdir_p(src, 0755);
            if (r < 0)
                return iso_err_set(err, -r, "create bind source '%s': %s", src, strerror(-r));
        }
        r = add_mount(list, "bind", src, dst, opts, rw, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_mounts(json_t *host, json_t *list, struct iso_err *err)
{
    json_t *mounts = json_object_get(host, "Mounts"), *m;
    size_t i;

    if (!mounts || json_is_null(mounts))
        return 0;
    if (!json_is_array(mounts))
        return iso_err_set(err, EINVAL, "field 'Mounts' must be an array");
    json_array_foreach(mounts, i, m)
    {
        const char *type = ctr_cfg_str(m, "Type"), *src = ctr_cfg_str(m, "Source");
        const char *dst = ctr_cfg_str(m, "Target");
        bool ro = cfg_bool(m, "ReadOnly");
        char opts[160];
        int r;

        if (streq(type, "bind")) {
            struct stat st;
            if (src[0] != '/')
                return iso_err_set(err, EINVAL,
                                   "invalid mount config for type \"bind\": invalid mount path: "
                                   "'%s' mount path must be absolute",
                                   src);
            if (stat(src, &st) < 0)
                return iso_err_set(err, EINVAL,
                                   "invalid mount config for type \"bind\": bind source path "
                                   "does not exist: %s",
                                   src);
            const char *prop = ctr_cfg_str(json_object_get(m, "BindOptions"), "Propagation");
            snprintf(opts, sizeof(opts), "rbind%s%s%s", *prop ? "," : "", prop, ro ? ",ro" : "");
            r = add_mount(list, "bind", src, dst, opts, !ro, err);
        } else if (streq(type, "tmpfs")) {
            json_t *to = json_object_get(m, "TmpfsOptions");
            int64_t size = ctr_cfg_int(to, "SizeBytes"), mode = ctr_cfg_int(to, "Mode");
            int n = snprintf(opts, sizeof(opts), "nosuid,nodev,noexec%s", ro ? ",ro" : "");
            if (size > 0)
                n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",size=%lld", (long long)size);
            if (mode > 0)
                snprintf(opts + n, sizeof(opts) - (size_t)n, ",mode=%llo", (long long)mode);
            r = add_mount(list, "tmpfs", "tmpfs", dst, opts, !ro, err);
        } else if (streq(type, "volume") || streq(type, "npipe") || streq(type, "cluster"))
            return iso_err_set(err, EINVAL, "mount type \"%s\" is not supported by isod", type);
        else
            return iso_err_set(err, EINVAL, "invalid mount config: mount type unknown: '%s'", type);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_tmpfs(json_t *host, json_t *list, struct iso_err *err)
{
    json_t *tmpfs = json_object_get(host, "Tmpfs"), *v;
    const char *dst;
    int r;

    r = check_string_map(host, "Tmpfs", err);
    if (r < 0 || !json_is_object(tmpfs))
        return r;
    json_object_foreach(tmpfs, dst, v)
    {
        char opts[256];
        const char *user = json_string_value(v);
        snprintf(opts, sizeof(opts), "nosuid,nodev,noexec%s%s", *user ? "," : "", user);
        r = add_mount(list, "tmpfs", "tmpfs", dst, opts, !strstr(user, "ro"), err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_resources(struct engine *e, json_t *host, json_t *warnings, struct iso_err *err)
{
    const struct eng_sysinfo *sys = eng_sysinfo(e);
    int64_t memory = ctr_cfg_int(host, "Memory"), swap = ctr_cfg_int(host, "MemorySwap");
    int64_t cpus = ctr_cfg_int(host, "NanoCpus");

    if (memory < 0 || (memory > 0 && memory < 6 * 1024 * 1024))
        return iso_err_set(err, EINVAL, "Minimum memory limit allowed is 6MB");
    if (swap > 0 && memory == 0)
        return iso_err_set(err, EINVAL,
                           "You should always set the Memory limit when using Memoryswap limit, "
                           "see usage");
    if (swap > 0 && swap < memory)
        return iso_err_set(err, EINVAL,
                           "Minimum memoryswap limit should be larger than memory limit, see "
                           "usage");
    if (ctr_cfg_int(host, "MemoryReservation") < 0)
        return iso_err_set(err, EINVAL, "invalid memory reservation");
    if (cpus < 0 || (cpus > 0 && (cpus < 10000000 || cpus > sys->ncpu * 1000000000LL)))
        return iso_err_set(err, EINVAL,
                           "Range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs "
                           "available",
                           sys->ncpu, sys->ncpu);
    if (ctr_cfg_int(host, "CpuShares") < 0)
        return iso_err_set(err, EINVAL, "invalid CPU shares: must be positive");
    const char *cpuset = ctr_cfg_str(host, "CpusetCpus");
    for (const char *p = cpuset; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != ',' && *p != '-')
            return iso_err_set(err, EINVAL, "Invalid value %s for cpuset cpus", cpuset);
    for (const char *p = cpuset; *p;) {
        long n = strtol(p, (char **)&p, 10);
        if (n >= sys->ncpu)
            return iso_err_set(err, EINVAL,
                               "Requested CPUs are not available - requested %s, available: "
                               "0-%ld",
                               cpuset, sys->ncpu - 1);
        while (*p && !isdigit((unsigned char)*p))
            p++;
    }
    if ((memory && !sys->memory_limit) || (cpus && !sys->cpu_cfs) ||
        (ctr_cfg_int(host, "PidsLimit") > 0 && !sys->pids_limit))
        return iso_err_set(err, EINVAL, "the host's cgroups cannot enforce the requested limits");
    (void)warnings;
    return 0;
}

static int check_restart(json_t *host, struct iso_err *err)
{
    json_t *rp = json_object_get(host, "RestartPolicy");
    const char *name;

    if (!json_is_object(rp)) {
        json_object_set_new(host, "RestartPolicy",
                            json_pack("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0));
        return 0;
    }
    name = ctr_cfg_str(rp, "Name");
    if (!*name) {
        json_object_set_new(rp, "Name", json_string("no"));
        name = "no";
    }
    if (!streq(name, "no") && !streq(name, "always") && !streq(name, "unless-stopped") &&
        !streq(name, "on-failure"))
        return iso_err_set(err, EINVAL, "invalid restart policy '%s'", name);
    int64_t max = ctr_cfg_int(rp, "MaximumRetryCount");
    if (max < 0)
        return iso_err_set(err, EINVAL,
                           "invalid restart policy: maximum retry count cannot be "
                           "negative");
    if (max > 0 && !streq(name, "on-failure"))
        return iso_err_set(err, EINVAL,
                           "invalid restart policy: maximum retry count can only be used with "
                           "'on-failure'");
    if (!json_object_get(rp, "MaximumRetryCount"))
        json_object_set_new(rp, "MaximumRetryCount", json_integer(0));
    if (cfg_bool(host, "AutoRemove") && !streq(name, "no"))
        return iso_err_set(err, EINVAL, "can't create 'AutoRemove' container with restart policy");
    return 0;
}

static int check_log(struct engine *e, json_t *host, struct iso_err *err)
{
    json_t *lc = json_object_get(host, "LogConfig");
    const char *type;

    if (!json_is_object(lc)) {
        lc = json_pack("{s:s, s:{}}", "Type", "json-file", "Config");
        json_object_set_new(host, "LogConfig", lc);
    }
    type = ctr_cfg_str(lc, "Type");
    if (!*type)
        json_object_set_new(lc, "Type", json_string("json-file"));
    else if (!streq(type, "json-file"))
        return iso_err_set(err, EINVAL,
                           "logging driver \"%s\" is not supported by isod (json-file only)", type);
    if (check_string_map(lc, "Config", err) < 0)
        return -EINVAL;
    json_t *opts = json_object_get(lc, "Config"), *v;
    const char *k;
    json_object_foreach(opts, k, v)
    {
        uint64_t size;
        int64_t n;
        if (streq(k, "max-size")) {
            if (iso_parse_size(json_string_value(v), &size) < 0 || size == 0)
                return iso_err_set(err, EINVAL, "invalid log opt max-size: '%s'",
                                   json_string_value(v));
        } else if (streq(k, "max-file")) {
            if (iso_parse_int64(json_string_value(v), 1, 1000, &n) < 0)
                return iso_err_set(err, EINVAL, "invalid log opt max-file: '%s'",
                                   json_string_value(v));
        } else if (!streq(k, "compress") && !streq(k, "labels") && !streq(k, "env") &&
                   !streq(k, "tag"))
            return iso_err_set(err, EINVAL, "unknown log opt '%s' for json-file log driver", k);
    }
    (void)e;
    return 0;
}

static int check_security(struct engine *e, json_t *host, const char *id, uint64_t caps,
                          struct iso_err *err)
{
    json_t *opts, *v;
    size_t i;
    int r;

    r = ctr_str_array(host, "SecurityOpt", &opts, err);
    if (r < 0 || !opts)
        return r;
    json_array_foreach(opts, i, v)
    {
        const char *o = json_string_value(v);
        if (streq(o, "no-new-privileges") || streq(o, "no-new-privileges:true") ||
            streq(o, "no-new-privileges=true") || streq(o, "no-new-privileges:false") ||
            streq(o, "no-new-privileges=false"))
            continue;
        if (strneq(o, "seccomp=", 8) || strneq(o, "seccomp:", 8)) {
            const char *profile = o + 8;
            if (streq(profile, "unconfined") || streq(profile, "builtin"))
                continue;
            /* The docker CLI sends the file's content, not its name. Compile it now so a
             * bad profile fails the create, not the start. */
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/containers/%s/seccomp.bpf", eng_root(e), id);
            _cleanup_close_ int fd =
                open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0)
                return iso_err_set_errno(err, errno, "create '%s'", path);
            r = eng_seccomp_compile(profile, strlen(profile), caps, fd, err);
            if (r < 0)
                return iso_err_prefix(err, "invalid seccomp profile"), r;
            continue;
        }
        if (strneq(o, "apparmor=", 9) || strneq(o, "label=", 6) || strneq(o, "label:", 6))
            continue; /* no LSM profiles here: accepted and ignored, as on hosts without them */
        return iso_err_set(err, EINVAL, "Invalid --security-opt: \"%s\"", o);
    }
    return 0;
}

int ctr_config_build(struct engine *e, json_t *body, json_t *image_config, const char *id,
                     json_t **ret_config, json_t *warnings, struct iso_err *err)
{
    _cleanup_json_ json_t *cfg = json_deep_copy(body);
    _cleanup_json_ json_t *host = NULL;
    json_t *mounts;
    uint64_t caps;
    int r;

    if (!cfg)
        return iso_err_set(err, ENOMEM, "out of memory");
    host = json_incref(json_object_get(cfg, "HostConfig"));
    json_object_del(cfg, "HostConfig");
    json_object_del(cfg, "NetworkingConfig");
    if (!host || json_is_null(host)) {
        json_decref(host);
        host = json_object();
    }
    if (!json_is_object(host))
        return iso_err_set(err, EINVAL, "field 'HostConfig' must be an object");

    if ((r = normalize_strslice(cfg, "Cmd", err)) < 0 ||
        (r = normalize_strslice(cfg, "Entrypoint", err)) < 0 ||
        (r = normalize_strslice(cfg, "Env", err)) < 0 ||
        (r = check_type(cfg, "User", JSON_STRING, "a string", err)) < 0 ||
        (r = check_type(cfg, "WorkingDir", JSON_STRING, "a string", err)) < 0 ||
        (r = check_type(cfg, "Hostname", JSON_STRING, "a string", err)) < 0 ||
        (r = check_type(cfg, "StopSignal", JSON_STRING, "a string", err)) < 0 ||
        (r = check_type(cfg, "StopTimeout", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(cfg, "Tty", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_type(cfg, "OpenStdin", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_type(cfg, "StdinOnce", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_string_map(cfg, "Labels", err)) < 0)
        return r;
    json_t *ev;
    size_t i;
    json_array_foreach(json_object_get(cfg, "Env"), i,
                       ev) if (!*json_string_value(ev) ||
                               json_string_value(ev)[0] ==
                                   '=') return iso_err_set(err, EINVAL,
                                                           "invalid environment variable: '%s'",
                                                           json_string_value(ev));
    const char *hostname = ctr_cfg_str(cfg, "Hostname");
    if (strlen(hostname) > 63)
        return iso_err_set(err, EINVAL, "invalid hostname '%s': longer than 63 characters",
                           hostname);

    r = merge_image(cfg, json_object_get(image_config, "config"), err);
    if (r < 0)
        return r;
    json_t *ep = json_object_get(cfg, "Entrypoint"), *cmd = json_object_get(cfg, "Cmd");
    bool ep_empty = json_array_size(ep) == 0 ||
                    (json_array_size(ep) == 1 && !*json_string_value(json_array_get(ep, 0)));
    if (ep_empty && json_array_size(cmd) == 0)
        return iso_err_set(err, EINVAL, "No command specified");
    if (!*hostname)
        json_object_set_new(cfg, "Hostname", json_stringn(id, 12));

    /* HostConfig. */
    if ((r = check_type(host, "Memory", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(host, "MemorySwap", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(host, "MemoryReservation", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(host, "NanoCpus", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(host, "CpuShares", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(host, "CpusetCpus", JSON_STRING, "a string", err)) < 0 ||
        (r = check_type(host, "PidsLimit", JSON_INTEGER, "an integer", err)) < 0 ||
        (r = check_type(host, "Privileged", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_type(host, "ReadonlyRootfs", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_type(host, "AutoRemove", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_type(host, "Init", JSON_TRUE, "a boolean", err)) < 0 ||
        (r = check_type(host, "NetworkMode", JSON_STRING, "a string", err)) < 0 ||
        (r = check_type(host, "UsernsMode", JSON_STRING, "a string", err)) < 0 ||
        (r = normalize_strslice(host, "GroupAdd", err)) < 0)
        return r;
    const char *userns = ctr_cfg_str(host, "UsernsMode");
    if (*userns && !streq(userns, "host"))
        return iso_err_set(err, EINVAL, "invalid USER mode '%s'", userns);
    /* Docker's rules with --userns-remap: the host's namespaces need the host's users. */
    if (eng_userns_remap(e) && !*userns) {
        if (cfg_bool(host, "Privileged"))
            return iso_err_set(err, EINVAL,
                               "privileged mode is incompatible with user namespaces.  You must "
                               "run the container in the host namespace when running "
                               "privileged mode");
        if (streq(ctr_cfg_str(host, "NetworkMode"), "host"))
            return iso_err_set(err, EINVAL,
                               "cannot share the host's network namespace when user namespaces "
                               "are enabled");
    }
    r = check_resources(e, host, warnings, err);
    if (r < 0)
        return r;
    const char *net = ctr_cfg_str(host, "NetworkMode");
    if (!*net || streq(net, "default") || streq(net, "bridge")) {
        json_array_append_new(warnings,
                              json_string("isod has no bridge networking yet: the container "
                                          "runs with --network none (loopback only)"));
        if (!*net)
            json_object_set_new(host, "NetworkMode", json_string("default"));
    } else if (!streq(net, "none") && !streq(net, "host"))
        return iso_err_set(err, ENOENT, "network %s not found", net);
    if ((r = check_restart(host, err)) < 0 || (r = check_log(e, host, err)) < 0 ||
        (r = check_ulimits(host, err)) < 0 || (r = check_caps(host, &caps, err)) < 0)
        return r;

    mounts = json_array();
    if (!mounts)
        return iso_err_set(err, ENOMEM, "out of memory");
    json_object_set_new(host, "IsodMounts", mounts);
    if ((r = parse_binds(host, mounts, err)) < 0 || (r = parse_mounts(host, mounts, err)) < 0 ||
        (r = parse_tmpfs(host, mounts, err)) < 0)
        return r;
    r = check_security(e, host, id, caps, err);
    if (r < 0)
        return r;
    json_object_set_new(host, "IsodCaps", json_integer((json_int_t)caps));

    json_t *config = json_pack("{s:O, s:O}", "Config", cfg, "HostConfig", host);
    if (!config)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret_config = config;
    return 0;
}

int ctr_config_argv(struct ctr *c, const char ***ret_argv, size_t *ret_n)
{
    json_t *ep = json_object_get(c->cfg, "Entrypoint"), *cmd = json_object_get(c->cfg, "Cmd");
    size_t n_ep = json_array_size(ep), n = 0;
    const char **argv;

    if (n_ep == 1 && !*json_string_value(json_array_get(ep, 0)))
        n_ep = 0; /* --entrypoint "" */
    argv = calloc(n_ep + json_array_size(cmd) + 1, sizeof(*argv));
    if (!argv)
        return -ENOMEM;
    for (size_t i = 0; i < n_ep; i++)
        argv[n++] = json_string_value(json_array_get(ep, i));
    for (size_t i = 0; i < json_array_size(cmd); i++)
        argv[n++] = json_string_value(json_array_get(cmd, i));
    *ret_argv = argv;
    *ret_n = n;
    return 0;
}

const char *ctr_hostname(const struct ctr *c)
{
    return ctr_cfg_str(c->cfg, "Hostname");
}

/* ---- the runtime spec ---- */

struct ctr_spec_pool {
    char **strs;
    size_t n;
    void *arrays[8];
    struct rt_idmap uidmap, gidmap;
};

static char *pool_add(struct ctr_spec_pool *p, char *s)
{
    if (!s)
        return NULL;
    char **n = realloc(p->strs, (p->n + 1) * sizeof(*n));
    if (!n) {
        free(s);
        return NULL;
    }
    p->strs = n;
    p->strs[p->n++] = s;
    return s;
}

void ctr_spec_pool_free(struct ctr_spec_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->strs[i]);
    free(p->strs);
    for (size_t i = 0; i < ARRAY_SIZE(p->arrays); i++)
        free(p->arrays[i]);
    free(p);
}

/* moby's CreateDaemonEnvironment: PATH, HOSTNAME, TERM first, replaced or extended by
 * Config.Env. */
static int build_env(struct ctr *c, struct ctr_spec_pool *p, struct rt_spec *spec)
{
    json_t *env = json_object_get(c->cfg, "Env"), *v;
    size_t n = json_array_size(env) + 4, k = 0, i;
    char **list = calloc(n, sizeof(*list));

    if (!list)
        return -ENOMEM;
    p->arrays[0] = list;
    list[k++] = "PATH=" DEFAULT_PATH;
    list[k++] = pool_add(p, iso_strprintf("HOSTNAME=%s", ctr_hostname(c)));
    if (cfg_bool(c->cfg, "Tty"))
        list[k++] = "TERM=xterm";
    json_array_foreach(env, i, v)
    {
        const char *kv = json_string_value(v);
        size_t klen = strcspn(kv, "=");
        size_t j;
        for (j = 0; j < k; j++)
            if (strneq(list[j], kv, klen) && list[j][klen] == '=')
                break;
        if (!strchr(kv, '=')) /* "-e NAME" without a value and none in isod's env: dropped */
            continue;
        list[j == k ? k++ : j] = (char *)kv;
    }
    spec->env = list;
    spec->n_env = k;
    return list[1] ? 0 : -ENOMEM;
}

int ctr_spec_build(struct ctr *c, struct rt_spec *spec, struct ctr_spec_pool **ret_pool,
                   struct iso_err *err)
{
    struct ctr_spec_pool *p = calloc(1, sizeof(*p));
    json_t *host = c->host, *v;
    char dir[PATH_MAX];
    const char **argv;
    size_t n, i;
    int r;

    if (!p)
        return iso_err_set(err, ENOMEM, "out of memory");
    ctr_dir(c, dir, sizeof(dir));
    *spec = (struct rt_spec){0};
    spec->id = c->id;
    spec->rootfs = pool_add(p, iso_strprintf("%s/rootfs", dir));
    spec->layers = pool_add(p, iso_strprintf("%s/layers", eng_root(c->e)));
    spec->readonly = cfg_bool(host, "ReadonlyRootfs");
    spec->hostname = (char *)ctr_hostname(c);
    r = ctr_config_argv(c, &argv, &n);
    if (r < 0)
        goto oom;
    p->arrays[1] = argv;
    spec->args = (char **)argv;
    spec->n_args = n;
    if (build_env(c, p, spec) < 0)
        goto oom;
    spec->cwd =
        (char *)(*ctr_cfg_str(c->cfg, "WorkingDir") ? ctr_cfg_str(c->cfg, "WorkingDir") : "/");
    spec->user = (char *)ctr_cfg_str(c->cfg, "User");
    json_t *groups = json_object_get(host, "GroupAdd");
    spec->n_group_add = json_array_size(groups);
    spec->group_add = calloc(spec->n_group_add + 1, sizeof(char *));
    p->arrays[2] = spec->group_add;
    if (!spec->group_add)
        goto oom;
    json_array_foreach(groups, i, v) spec->group_add[i] = (char *)json_string_value(v);
    spec->terminal = cfg_bool(c->cfg, "Tty");
    json_t *console = json_object_get(host, "ConsoleSize");
    spec->console_rows = (unsigned short)json_integer_value(json_array_get(console, 0));
    spec->console_cols = (unsigned short)json_integer_value(json_array_get(console, 1));
    spec->stdin_open = cfg_bool(c->cfg, "OpenStdin");
    spec->stdin_once = cfg_bool(c->cfg, "StdinOnce");

    /* The etc files first (as Docker), then the user's mounts in order. */
    json_t *mounts = json_object_get(host, "IsodMounts");
    spec->mounts = calloc(json_array_size(mounts) + 3, sizeof(*spec->mounts));
    p->arrays[3] = spec->mounts;
    if (!spec->mounts)
        goto oom;
    static const char *const etc[] = {"resolv.conf", "hostname", "hosts"};
    for (i = 0; i < ARRAY_SIZE(etc); i++)
        spec->mounts[spec->n_mounts++] = (struct rt_mount){
            .type = RT_MOUNT_BIND,
            .source = pool_add(p, iso_strprintf("%s/%s", dir, etc[i])),
            .destination = pool_add(p, iso_strprintf("/etc/%s", etc[i])),
            .options = spec->readonly ? "bind,ro" : "bind",
        };
    json_array_foreach(mounts, i, v) spec->mounts[spec->n_mounts++] = (struct rt_mount){
        .type = streq(ctr_cfg_str(v, "Type"), "tmpfs") ? RT_MOUNT_TMPFS : RT_MOUNT_BIND,
        .source = (char *)ctr_cfg_str(v, "Source"),
        .destination = (char *)ctr_cfg_str(v, "Destination"),
        .options = (char *)ctr_cfg_str(v, "Options"),
    };

    spec->net = streq(ctr_cfg_str(host, "NetworkMode"), "host") ? RT_NET_HOST : RT_NET_NONE;
    spec->caps = (uint64_t)ctr_cfg_int(host, "IsodCaps");
    spec->privileged = cfg_bool(host, "Privileged");
    /* --userns-remap: root inside is the first id of the remap user's range. */
    const struct eng_userns *un = eng_userns_remap(c->e);
    if (un && !streq(ctr_cfg_str(host, "UsernsMode"), "host")) {
        p->uidmap = (struct rt_idmap){0, un->uid_start, un->uid_count};
        p->gidmap = (struct rt_idmap){0, un->gid_start, un->gid_count};
        spec->uidmap = &p->uidmap;
        spec->gidmap = &p->gidmap;
        spec->n_uidmap = spec->n_gidmap = 1;
    }
    json_array_foreach(json_object_get(host, "SecurityOpt"), i, v)
    {
        const char *o = json_string_value(v);
        if (streq(o, "no-new-privileges") || streq(o, "no-new-privileges:true") ||
            streq(o, "no-new-privileges=true"))
            spec->no_new_privs = true;
    }

    /* Seccomp: none when privileged or unconfined; the container's own compiled profile; or
     * the default one, compiled once per capability set. */
    bool unconfined = spec->privileged, custom = false;
    json_array_foreach(json_object_get(host, "SecurityOpt"), i, v)
    {
        const char *o = json_string_value(v);
        if (strneq(o, "seccomp", 7) && (o[7] == '=' || o[7] == ':')) {
            if (streq(o + 8, "unconfined"))
                unconfined = true;
            else if (!streq(o + 8, "builtin"))
                custom = true;
        }
    }
    if (custom)
        spec->seccomp = pool_add(p, iso_strprintf("%s/seccomp.bpf", dir));
    else if (!unconfined) {
        char *path = NULL;
        r = eng_ctr_seccomp_default(c->e, spec->caps, &path, err);
        if (r < 0) {
            ctr_spec_pool_free(p);
            return r;
        }
        spec->seccomp = pool_add(p, path);
    }

    json_t *ulimits = json_object_get(host, "Ulimits");
    spec->rlimits = calloc(json_array_size(ulimits) + 1, sizeof(*spec->rlimits));
    p->arrays[4] = spec->rlimits;
    if (!spec->rlimits)
        goto oom;
    json_array_foreach(ulimits, i, v) spec->rlimits[spec->n_rlimits++] = (struct rt_rlimit){
        .name = (char *)ctr_cfg_str(v, "Name"),
        .soft = ctr_cfg_int(v, "Soft"),
        .hard = ctr_cfg_int(v, "Hard"),
    };

    if (c->cg) {
        const char *const *procs = rt_cgroup_procs_files(c->cg);
        for (n = 0; procs[n]; n++)
            ;
        spec->cgroups = (char **)procs;
        spec->n_cgroups = n;
    }

    spec->log = pool_add(p, iso_strprintf("%s/%s-json.log", dir, c->id));
    json_t *lopts = json_object_get(json_object_get(host, "LogConfig"), "Config");
    uint64_t size = eng_log_max_size(c->e);
    int64_t files = eng_log_max_files(c->e);
    if (json_object_get(lopts, "max-size"))
        (void)iso_parse_size(ctr_cfg_str(lopts, "max-size"), &size);
    if (json_object_get(lopts, "max-file"))
        (void)iso_parse_int64(ctr_cfg_str(lopts, "max-file"), 1, 1000, &files);
    spec->log_max_size = size;
    spec->log_max_files = (unsigned)files;
    spec->init = cfg_bool(host, "Init");

    if (!spec->rootfs || !spec->layers || !spec->log)
        goto oom;
    for (i = 0; i < spec->n_mounts; i++)
        if (!spec->mounts[i].source || !spec->mounts[i].destination)
            goto oom;
    *ret_pool = p;
    return 0;
oom:
    ctr_spec_pool_free(p);
    return iso_err_set(err, ENOMEM, "out of memory");
}

/* ---- JSON views ---- */

/* go-units HumanDuration, which docker ps prints. */
static void human_duration(int64_t ns, char *buf, size_t size)
{
    int64_t s = ns / 1000000000, m = s / 60, h = m / 60;

    if (s < 1)
        snprintf(buf, size, "Less than a second");
    else if (s == 1)
        snprintf(buf, size, "1 second");
    else if (s < 60)
        snprintf(buf, size, "%lld seconds", (long long)s);
    else if (m == 1)
        snprintf(buf, size, "About a minute");
    else if (m < 60)
        snprintf(buf, size, "%lld minutes", (long long)m);
    else if (h == 1)
        snprintf(buf, size, "About an hour");
    else if (h < 48)
        snprintf(buf, size, "%lld hours", (long long)h);
    else if (h < 24 * 7 * 2)
        snprintf(buf, size, "%lld days", (long long)(h / 24));
    else if (h < 24 * 30 * 2)
        snprintf(buf, size, "%lld weeks", (long long)(h / 24 / 7));
    else if (h < 24 * 365 * 2)
        snprintf(buf, size, "%lld months", (long long)(h / 24 / 30));
    else
        snprintf(buf, size, "%lld years", (long long)(h / 24 / 365));
}

void ctr_status_text(const struct ctr *c, char *buf, size_t size)
{
    int64_t now = (int64_t)iso_now_real_ns();
    char d[64];

    switch (c->state) {
    case ENG_CTR_RUNNING:
    case ENG_CTR_PAUSED:
        human_duration(now - c->started_ns, d, sizeof(d));
        snprintf(buf, size, "Up %s%s", d, c->state == ENG_CTR_PAUSED ? " (Paused)" : "");
        return;
    case ENG_CTR_RESTARTING:
        human_duration(now - c->finished_ns, d, sizeof(d));
        snprintf(buf, size, "Restarting (%d) %s ago", c->exit_code, d);
        return;
    case ENG_CTR_EXITED:
        if (!c->finished_ns) {
            snprintf(buf, size, "Created");
            return;
        }
        human_duration(now - c->finished_ns, d, sizeof(d));
        snprintf(buf, size, "Exited (%d) %s ago", c->exit_code, d);
        return;
    case ENG_CTR_REMOVING:
        snprintf(buf, size, "Removal In Progress");
        return;
    case ENG_CTR_DEAD:
        snprintf(buf, size, "Dead");
        return;
    case ENG_CTR_CREATED:
    default:
        snprintf(buf, size, "Created");
        return;
    }
}

static json_t *mounts_json(struct ctr *c)
{
    json_t *list = json_array(), *m;
    size_t i;

    json_array_foreach(json_object_get(c->host, "IsodMounts"), i, m)
    {
        bool bind = streq(ctr_cfg_str(m, "Type"), "bind");
        bool rw = json_is_true(json_object_get(m, "RW"));
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "Type",
                                              ctr_cfg_str(m, "Type"), "Source",
                                              bind ? ctr_cfg_str(m, "Source") : "", "Destination",
                                              ctr_cfg_str(m, "Destination"), "Mode", rw ? "" : "ro",
                                              "RW", rw, "Propagation", bind ? "rprivate" : ""));
    }
    return list;
}

static const char *net_name(struct ctr *c)
{
    const char *n = ctr_cfg_str(c->host, "NetworkMode");
    return streq(n, "host") ? "host" : "none";
}

static json_t *networks_json(struct ctr *c)
{
    json_t *ep =
        json_pack("{s:n, s:n, s:n, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n}", "IPAMConfig",
                  "Links", "Aliases", "NetworkID", "", "EndpointID", "", "Gateway", "", "IPAddress",
                  "", "IPPrefixLen", 0, "IPv6Gateway", "", "GlobalIPv6Address", "",
                  "GlobalIPv6PrefixLen", 0, "MacAddress", "", "DriverOpts");
    return json_pack("{s:o}", net_name(c), ep);
}

/* HostConfig as inspect shows it: without isod's private keys. */
static json_t *host_public(struct ctr *c)
{
    json_t *h = json_copy(c->host);
    json_object_del(h, "IsodMounts");
    json_object_del(h, "IsodCaps");
    return h;
}

json_t *ctr_inspect_json(struct ctr *c)
{
    const char **argv = NULL;
    size_t n = 0;
    char dir[PATH_MAX], buf[PATH_MAX + 128];
    json_t *args, *j;

    if (ctr_config_argv(c, &argv, &n) < 0)
        return NULL;
    args = json_array();
    for (size_t i = 1; i < n; i++)
        json_array_append_new(args, json_string(argv[i]));
    ctr_dir(c, dir, sizeof(dir));

    j = json_object();
    json_object_set_new(j, "Id", json_string(c->id));
    json_object_set_new(j, "Created", iso_json_time(c->created_ns));
    json_object_set_new(j, "Path", json_string(n ? argv[0] : ""));
    json_object_set_new(j, "Args", args);
    free(argv);
    json_object_set_new(
        j, "State",
        json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:s, s:o, s:o}", "Status",
                  eng_ctr_state_name(c->state), "Running",
                  c->state == ENG_CTR_RUNNING || c->state == ENG_CTR_PAUSED, "Paused",
                  c->state == ENG_CTR_PAUSED, "Restarting", c->state == ENG_CTR_RESTARTING,
                  "OOMKilled", c->oom_killed, "Dead", c->state == ENG_CTR_DEAD, "Pid",
                  (int)(c->state == ENG_CTR_RUNNING || c->state == ENG_CTR_PAUSED ? c->pid : 0),
                  "ExitCode", c->exit_code, "Error", c->error ? c->error : "", "StartedAt",
                  iso_json_time(c->started_ns), "FinishedAt", iso_json_time(c->finished_ns)));
    json_object_set_new(j, "Image", json_string(c->image_id));
    snprintf(buf, sizeof(buf), "%s/resolv.conf", dir);
    json_object_set_new(j, "ResolvConfPath", json_string(buf));
    snprintf(buf, sizeof(buf), "%s/hostname", dir);
    json_object_set_new(j, "HostnamePath", json_string(buf));
    snprintf(buf, sizeof(buf), "%s/hosts", dir);
    json_object_set_new(j, "HostsPath", json_string(buf));
    snprintf(buf, sizeof(buf), "%s/%s-json.log", dir, c->id);
    json_object_set_new(j, "LogPath", json_string(buf));
    json_object_set_new(j, "Name", json_sprintf("/%s", c->name));
    json_object_set_new(j, "RestartCount", json_integer(c->restart_count));
    json_object_set_new(j, "Driver", json_string("overlay2"));
    json_object_set_new(j, "Platform", json_string("linux"));
    json_object_set_new(j, "MountLabel", json_string(""));
    json_object_set_new(j, "ProcessLabel", json_string(""));
    json_object_set_new(j, "AppArmorProfile", json_string(""));
    json_object_set_new(j, "ExecIDs", ctr_exec_ids(c));
    json_object_set_new(j, "HostConfig", host_public(c));
    char upper[PATH_MAX + 8], work[PATH_MAX + 8], merged[PATH_MAX + 8];
    snprintf(upper, sizeof(upper), "%s/upper", dir);
    snprintf(work, sizeof(work), "%s/work", dir);
    snprintf(merged, sizeof(merged), "%s/rootfs", dir);
    json_object_set_new(j, "GraphDriver",
                        json_pack("{s:{s:s, s:s, s:s}, s:s}", "Data", "MergedDir", merged,
                                  "UpperDir", upper, "WorkDir", work, "Name", "overlay2"));
    json_object_set_new(j, "Mounts", mounts_json(c));
    json_object_set_new(j, "Config", json_copy(c->cfg));
    json_object_set_new(
        j, "NetworkSettings",
        json_pack("{s:s, s:s, s:b, s:s, s:i, s:{}, s:s, s:n, s:n, s:s, s:s, s:s, s:i, s:s, s:i, "
                  "s:s, s:s, s:o}",
                  "Bridge", "", "SandboxID", "", "HairpinMode", 0, "LinkLocalIPv6Address", "",
                  "LinkLocalIPv6PrefixLen", 0, "Ports", "SandboxKey", "", "SecondaryIPAddresses",
                  "SecondaryIPv6Addresses", "EndpointID", "", "Gateway", "", "GlobalIPv6Address",
                  "", "GlobalIPv6PrefixLen", 0, "IPAddress", "", "IPPrefixLen", 0, "IPv6Gateway",
                  "", "MacAddress", "", "Networks", networks_json(c)));
    return j;
}

json_t *ctr_summary_json(struct ctr *c, bool size)
{
    const char **argv = NULL;
    size_t n = 0, len = 0;
    char status[128];
    json_t *j, *labels;

    if (ctr_config_argv(c, &argv, &n) < 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        len += strlen(argv[i]) + 3;
    /* Docker's: the path, then the arguments, those with a space in single quotes. */
    _cleanup_free_ char *command = calloc(1, len + 1);
    for (size_t i = 0; command && i < n; i++) {
        bool quote = i > 0 && strchr(argv[i], ' ');

        if (i)
            strcat(command, " ");
        if (quote)
            strcat(command, "'");
        strcat(command, argv[i]);
        if (quote)
            strcat(command, "'");
    }
    free(argv);
    ctr_status_text(c, status, sizeof(status));
    labels = json_object_get(c->cfg, "Labels");
    j = json_pack("{s:s, s:[s+], s:s, s:s, s:s, s:I, s:[], s:o, s:s, s:s, s:{s:s}, s:{s:o}, "
                  "s:o}",
                  "Id", c->id, "Names", "/", c->name, "Image", ctr_cfg_str(c->cfg, "Image"),
                  "ImageID", c->image_id, "Command", command ? command : "", "Created",
                  (json_int_t)(c->created_ns / 1000000000), "Ports", "Labels",
                  labels ? json_incref(labels) : json_object(), "State",
                  eng_ctr_state_name(c->state), "Status", status, "HostConfig", "NetworkMode",
                  ctr_cfg_str(c->host, "NetworkMode"), "NetworkSettings", "Networks",
                  networks_json(c), "Mounts", mounts_json(c));
    if (j && size)
        json_object_set_new(j, "SizeRw", json_integer(0));
    return j;
}

void ctr_summary_forget(struct ctr *c)
{
    free(c->sum_head);
    free(c->sum_tail);
    free(c->sum_name);
    c->sum_head = c->sum_tail = c->sum_name = NULL;
}

/* Serializes the summary once with a marker as its Status and keeps the text around it. */
static int summary_cache(struct ctr *c)
{
    static const char marker[] = "\"\\u0001\"";
    _cleanup_json_ json_t *j = ctr_summary_json(c, false);
    _cleanup_free_ char *text = NULL;
    char *at;

    ctr_summary_forget(c);
    if (!j || json_object_set_new(j, "Status", json_string("\x01")) < 0)
        return -ENOMEM;
    text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    at = strstr(text, marker);
    if (!at)
        return -EINVAL;
    c->sum_tail = strdup(at + strlen(marker));
    *at = '\0';
    c->sum_head = strdup(text);
    c->sum_name = strdup(c->name);
    c->sum_state = c->state;
    if (!c->sum_head || !c->sum_tail || !c->sum_name) {
        ctr_summary_forget(c);
        return -ENOMEM;
    }
    return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 2 > *cap) {
        size_t ncap = (*cap + n + 2) * 2;
        char *b = realloc(*buf, ncap);
        if (!b)
            return -ENOMEM;
        *buf = b;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    return 0;
}

int ctr_summary_append(struct ctr *c, char **buf, size_t *len, size_t *cap)
{
    char status[128];
    int r;

    if (!c->sum_head || c->sum_state != c->state || !streq(c->sum_name, c->name)) {
        r = summary_cache(c);
        if (r < 0)
            return r;
    }
    /* The status text is plain ASCII from go-units' words and numbers: no escaping. */
    ctr_status_text(c, status, sizeof(status));
    if (append(buf, len, cap, c->sum_head, strlen(c->sum_head)) < 0 ||
        append(buf, len, cap, "\"", 1) < 0 || append(buf, len, cap, status, strlen(status)) < 0 ||
        append(buf, len, cap, "\"", 1) < 0 ||
        append(buf, len, cap, c->sum_tail, strlen(c->sum_tail)) < 0)
        return -ENOMEM;
    return 0;
}
