/* Engine-internal: containers in memory (daemon/containers.c: lifecycle and supervision;
 * daemon/ctr-config.c: the create request, the runtime spec, the JSON views). */
#pragma once

#include <jansson.h>
#include <uv.h>

#include "daemon/engine.h"
#include "runtime/spec.h"
#include "store/digest.h"

struct rt_cgroup;
struct start_op;
struct ctr_waiter;
struct ctr_exec;

struct ctr {
    struct engine *e;
    char id[65];
    char *name; /* without '/' */
    char image_id[STORE_DIGEST_LEN + 1];
    /* {"Config": ..., "HostConfig": ...} after defaults and the image's config merged in. */
    json_t *config;
    json_t *cfg;  /* borrowed from config: "Config" */
    json_t *host; /* borrowed from config: "HostConfig" */

    enum eng_ctr_state state;
    int64_t created_ns, started_ns, finished_ns;
    int exit_code;
    bool oom_killed, manual_stop;
    char *error;
    int restart_count;
    pid_t pid; /* init, while running or paused */

    /* Supervision while running. */
    struct rt_cgroup *cg;
    pid_t shim_pid;
    int shim_pidfd, init_pidfd;
    uv_poll_t *shim_poll; /* heap: closed asynchronously */
    struct start_op *starting;
    uv_timer_t *stop_timer;    /* SIGKILL after the stop timeout */
    uv_timer_t *restart_timer; /* restart policy backoff */
    uint64_t backoff_ms;
    bool stopping;              /* docker stop in progress: "stop" event after "die" */
    struct ctr_waiter *waiters; /* called at the next exit */

    /* Attach connections waiting for the next start: the shim's ends and their flags. */
    int *attach_fds;
    char (*attach_flags)[4];
    size_t n_attach;

    /* docker exec records (daemon/exec.c), newest first. */
    struct ctr_exec *execs;
    size_t n_execs;

    bool removing;
    struct ctr_stats_cache *stats; /* daemon/stats.c: recent CPU samples, or NULL */

    /* GET /containers/json: the summary serialized around its Status value (which is
     * formatted per request), valid while state and name are sum_state and sum_name. */
    char *sum_head, *sum_tail, *sum_name;
    enum eng_ctr_state sum_state;
    struct ctr *next;
};

/* ---- ctr-config.c ---- */

/* Validates the create request body (ContainerConfig + HostConfig) and builds c->config from
 * it and the image's config (image_config: the image config JSON, borrowed). Warnings go to
 * warnings. EINVAL names the bad field as Docker does. */
int ctr_config_build(struct engine *e, json_t *body, json_t *image_config, const char *id,
                     json_t **ret_config, json_t *warnings, struct iso_err *err);

/* Path and Args: the entrypoint and command as run. Borrowed from the config. */
int ctr_config_argv(struct ctr *c, const char ***ret_argv, size_t *ret_n);
/* *ret: obj[key] once checked to be an array of strings (borrowed); NULL when it is missing
 * or null. EINVAL "field 'KEY' must be an array of strings" otherwise. */
int ctr_str_array(json_t *obj, const char *key, json_t **ret, struct iso_err *err);

/* The container's hostname (Config.Hostname, or the id's first 12 characters). */
const char *ctr_hostname(const struct ctr *c);

/* Fills spec (its strings borrowed from c or allocated into *pool, freed with it) for a
 * start. */
struct ctr_spec_pool;
int ctr_spec_build(struct ctr *c, struct rt_spec *spec, struct ctr_spec_pool **pool,
                   struct iso_err *err);
void ctr_spec_pool_free(struct ctr_spec_pool *pool);

/* GET /containers/{id}/json and the summary line of GET /containers/json. */
json_t *ctr_inspect_json(struct ctr *c);
json_t *ctr_summary_json(struct ctr *c, bool size);
/* Appends the summary as compact JSON to *buf (malloc'd, *len used of *cap), from the
 * cached serialization; -ENOMEM. */
int ctr_summary_append(struct ctr *c, char **buf, size_t *len, size_t *cap);
/* Drops the cached serialization. */
void ctr_summary_forget(struct ctr *c);
/* "Up 5 minutes", "Exited (0) 3 seconds ago", ... */
void ctr_status_text(const struct ctr *c, char *buf, size_t size);

/* ---- stats.c ---- */

struct ctr_stats_sampler;
/* A container started (or was found running after an isod restart): its first CPU sample. */
void ctr_stats_started(struct ctr *c);
/* Frees c's samples (the container is freed). */
void ctr_stats_forget(struct ctr *c);
/* Shutdown: closes the sampler's timer. */
void ctr_stats_stop(struct engine *e);

/* ---- containers.c, for ctr-config.c and stats.c ---- */

/* Where stats.c keeps its sampler (NULL until the first container starts). */
struct ctr_stats_sampler **ctr_stats_sampler(struct engine *e);

const char *ctr_dir(struct ctr *c, char *buf, size_t size);
int64_t ctr_cfg_int(json_t *obj, const char *key);
const char *ctr_cfg_str(json_t *obj, const char *key);

/* Finds a container by id, unique id prefix or name; ENOENT "No such container: X". */
struct ctr *ctr_find(struct engine *e, const char *key, struct iso_err *err);
/* 64 random hex digits. */
int ctr_random_id(char id[65]);
/* The first container of the list (then ->next). */
struct ctr *ctr_list_first(struct engine *e);
/* Connects to the container's shim.sock and sends line; returns the fd. */
int ctr_shim_connect(struct ctr *c, const char *line, struct iso_err *err);
/* A container event with name, image and labels, plus extra (stolen, may be NULL). */
void ctr_emit(struct ctr *c, const char *action, json_t *extra);

/* ---- exec.c, for containers.c ---- */

/* The container exited: its execs are over (their exit files read). */
void ctr_execs_container_exited(struct ctr *c);
/* Shutdown: closes the loop handles of detached execs. */
void ctr_execs_stop(struct ctr *c);
/* ExecIDs of container inspect: the running execs' ids, or JSON null when none. */
json_t *ctr_exec_ids(struct ctr *c);
/* Drops the records (container removed or freed). */
void ctr_execs_free(struct ctr *c);

/* ---- for engine.c ---- */

struct eng_ctrs;
/* Loads the containers from the database and prepares the shim. */
int eng_ctrs_open(struct engine *e, struct eng_ctrs **ret, struct iso_err *err);
/* Follows the shims still running, records exits, applies restart policies. */
void eng_ctrs_reconcile(struct engine *e);
/* Shutdown: stops following the shims and closes every loop handle; containers run on. */
void eng_ctrs_stop(struct engine *e);
/* Forgets the containers (after eng_ctrs_stop); they keep running. */
void eng_ctrs_free(struct eng_ctrs *cs);
void eng_ctrs_counts(struct engine *e, struct eng_counts *counts);

/* ---- engine.c, for containers ---- */
struct eng_ctrs *eng_containers(struct engine *e);
const char *eng_cgroup_parent(struct engine *e);

bool eng_shutting_down(struct engine *e);
/* Path of a helper program: beside the running isod, else the install location. */
void eng_find_libexec(struct engine *e, const char *name, char *buf, size_t size);
uint64_t eng_log_max_size(struct engine *e);
int64_t eng_log_max_files(struct engine *e);
/* The default seccomp profile compiled for this capability set, cached under the root;
 * *ret_path malloc'd. */
int eng_ctr_seccomp_default(struct engine *e, uint64_t caps, char **ret_path, struct iso_err *err);
