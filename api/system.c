/* GET|HEAD /_ping, GET /version, GET /info, and the 404 answers that let `docker inspect` fall
 * through object kinds isod does not have. */
#include <inttypes.h>
#include <string.h>
#include <sys/utsname.h>
#include <dirent.h>

#include "api/api-internal.h"
#include "common/log.h"
#include "common/util.h"
#include "build-config.h"
#include "daemon/engine.h"

/* Pinged by every docker CLI command before anything else, and the same bytes every time:
 * one response built once and queued by reference (MHD responses are reference counted). */
static struct MHD_Response *ping_response;

void api_ping_done(void)
{
    if (ping_response)
        MHD_destroy_response(ping_response);
    ping_response = NULL;
}

void api_ping(struct api_req *req)
{
    if (!ping_response) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(2, (void *)"OK", MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        api_add_std_headers(resp);
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      "text/plain; charset=utf-8");
        (void)MHD_add_response_header(resp, "Builder-Version", "1");
        (void)MHD_add_response_header(resp, "Swarm", "inactive");
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                      "no-cache, no-store, must-revalidate");
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache");
        ping_response = resp;
    }
    api_req_answered(req, MHD_HTTP_OK);
    (void)MHD_queue_response(req->conn, MHD_HTTP_OK, ping_response);
}

static const char build_time[] = ISOD_BUILD_TIME;

void api_version(struct api_req *req)
{
    const struct eng_sysinfo *si = eng_sysinfo(req->eng);
    json_t *j;

    j = json_pack("{s:{s:s},s:[{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}}],"
                  "s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                  "Platform", "Name", "isod " ISOD_VERSION, "Components", "Name", "Engine",
                  "Version", ISOD_VERSION, "Details", "ApiVersion", ISOD_API_VERSION, "Arch",
                  si->go_arch, "BuildTime", build_time, "Experimental", "false", "GitCommit",
                  ISOD_GIT_COMMIT, "GoVersion", ISOD_CC_VERSION, "KernelVersion", si->kernel,
                  "MinAPIVersion", ISOD_API_MIN_VERSION, "Os", "linux", "Version", ISOD_VERSION,
                  "ApiVersion", ISOD_API_VERSION, "MinAPIVersion", ISOD_API_MIN_VERSION,
                  "GitCommit", ISOD_GIT_COMMIT, "GoVersion", ISOD_CC_VERSION, "Os", "linux", "Arch",
                  si->go_arch, "KernelVersion", si->kernel, "BuildTime", build_time);
    api_reply_json(req, MHD_HTTP_OK, j);
}

static int64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int64_t n = 0;

    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0; /* ".", ".." and the fd of the DIR itself */
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v));
}

static void set_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer(v));
}

static void set_bool(json_t *o, const char *k, bool v)
{
    json_object_set_new(o, k, json_boolean(v));
}

void api_info(struct api_req *req)
{
    const struct eng_sysinfo *si = eng_sysinfo(req->eng);
    struct eng_counts c;
    struct iso_err err = {0};
    struct utsname u;
    char now[64], buf[32];
    json_t *j;

    if (eng_counts_get(req->eng, &c, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    j = json_object();
    if (!j) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (uname(&u) < 0)
        snprintf(u.nodename, sizeof(u.nodename), "localhost");
    iso_format_rfc3339(iso_now_real_ns(), now, sizeof(now));

    set_str(j, "ID", eng_id(req->eng));
    set_int(j, "Containers", c.containers);
    set_int(j, "ContainersRunning", c.running);
    set_int(j, "ContainersPaused", c.paused);
    set_int(j, "ContainersStopped", c.stopped);
    set_int(j, "Images", c.images);
    set_str(j, "Driver", "overlay2");
    snprintf(buf, sizeof(buf), "%" PRId64, c.layers);
    json_object_set_new(j, "DriverStatus",
                        json_pack("[[s,s],[s,s],[s,s]]", "Backing Filesystem", si->backing_fs,
                                  "Supports d_type", "true", "Layers", buf));
    json_object_set_new(j, "Plugins",
                        json_pack("{s:[],s:[],s:[],s:[s]}", "Volume", "Network", "Authorization",
                                  "Log", "json-file"));
    set_bool(j, "MemoryLimit", si->memory_limit);
    set_bool(j, "SwapLimit", si->swap_limit);
    set_bool(j, "CpuCfsPeriod", si->cpu_cfs);
    set_bool(j, "CpuCfsQuota", si->cpu_cfs);
    set_bool(j, "CPUShares", si->cpu_shares);
    set_bool(j, "CPUSet", si->cpuset);
    set_bool(j, "PidsLimit", si->pids_limit);
    set_bool(j, "OomKillDisable", false);
    set_bool(j, "IPv4Forwarding", false);
    set_bool(j, "Debug", log_get_level() == LOG_LEVEL_DEBUG);
    set_int(j, "NFd", count_fds());
    set_int(j, "NGoroutines", 1);
    set_str(j, "SystemTime", now);
    set_str(j, "LoggingDriver", "json-file");
    set_str(j, "CgroupDriver", "cgroupfs");
    snprintf(buf, sizeof(buf), "%d", si->cgroup_version);
    set_str(j, "CgroupVersion", buf);
    set_int(j, "NEventsListener", 0);
    set_str(j, "KernelVersion", si->kernel);
    set_str(j, "OperatingSystem", si->os_name);
    set_str(j, "OSVersion", "");
    set_str(j, "OSType", "linux");
    set_str(j, "Architecture", si->machine);
    set_int(j, "NCPU", si->ncpu);
    set_int(j, "MemTotal", (int64_t)si->mem_total);
    set_str(j, "IndexServerAddress", "https://index.docker.io/v1/");
    json_object_set_new(j, "RegistryConfig", json_null());
    set_str(j, "DockerRootDir", eng_root(req->eng));
    set_str(j, "Name", u.nodename);
    json_object_set_new(j, "Labels", json_array());
    set_bool(j, "ExperimentalBuild", false);
    set_str(j, "ServerVersion", ISOD_VERSION);
    json_object_set_new(j, "Runtimes", json_object());
    set_str(j, "DefaultRuntime", "");
    /* Containers are run by per-container shims and outlive isod restarts. */
    set_bool(j, "LiveRestoreEnabled", true);
    set_str(j, "Isolation", "");
    set_str(j, "InitBinary", "");
    json_object_set_new(j, "Swarm",
                        json_pack("{s:s,s:s,s:s,s:b,s:s,s:n}", "NodeID", "", "NodeAddr", "",
                                  "LocalNodeState", "inactive", "ControlAvailable", false, "Error",
                                  "", "RemoteManagers"));
    json_object_set_new(j, "ContainerdCommit", json_pack("{s:s}", "ID", ""));
    json_object_set_new(j, "RuncCommit", json_pack("{s:s}", "ID", ""));
    json_object_set_new(j, "InitCommit", json_pack("{s:s}", "ID", ""));
    /* Only what isod enforces today; seccomp and cgroupns arrive with the runtime. */
    json_t *secopts = json_array();
    if (eng_userns_remap(req->eng))
        json_array_append_new(secopts, json_string("name=userns"));
    json_object_set_new(j, "SecurityOptions", secopts);
    json_object_set_new(j, "CDISpecDirs", json_array());
    json_object_set_new(j, "Warnings", json_array());
    api_reply_json(req, MHD_HTTP_OK, j);
}

void api_not_found_object(struct api_req *req)
{
    const char *name = api_param(req, 0);
    const char *pattern = req->match.route->pattern;
    const char *kind = strneq(pattern, "/networks", 9)  ? "network"
                       : strneq(pattern, "/volumes", 8) ? "volume"
                                                        : "plugin";

    api_reply_errorf(req, MHD_HTTP_NOT_FOUND, "%s %s not found", kind, name ? name : "");
}
