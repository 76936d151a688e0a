/* The engine: isod's state behind the API (store, host facts, later containers and images).
 * Lives on the loop thread. api/ sees only this header. */
#pragma once

#include <uv.h>

#include "common/err.h"
#include "common/hist.h"
#include "store/image.h"

struct engine;
struct eng_config;
struct eng_userns;

/* Host facts gathered once at startup, for /version and /info. */
struct eng_sysinfo {
    char kernel[65];     /* uname -r */
    char machine[65];    /* uname -m, e.g. x86_64 */
    const char *go_arch; /* Docker's name for it: amd64, arm64, ... */
    char os_name[128];   /* PRETTY_NAME of /etc/os-release */
    long ncpu;
    uint64_t mem_total;      /* bytes */
    char backing_fs[32];     /* filesystem under the root: extfs, xfs, tmpfs, ... */
    int cgroup_version;      /* 1 or 2, as docker info reports it; 0 when undetected */
    const char *cgroup_mode; /* v1, hybrid, v2 */
    bool memory_limit, swap_limit, cpu_cfs, cpu_shares, cpuset, pids_limit;
};

struct eng_counts {
    int64_t images, layers, containers, running, paused, stopped;
};

/* --userns-remap's resolved user and ranges (daemon/userns.h); NULL when off. */
const struct eng_userns *eng_userns_remap(struct engine *e);

/* Creates the root (0700), takes its lock, opens the store. Fails with a message when another
 * isod holds the root or the database is corrupt or too new. */
int eng_new(const struct eng_config *cfg, uv_loop_t *loop, struct engine **ret,
            struct iso_err *err);

/* Closes the store and releases the lock. Takes NULL; returns NULL. */
struct engine *eng_free(struct engine *e);

const struct eng_sysinfo *eng_sysinfo(const struct engine *e);
const char *eng_root(const struct engine *e);
/* The loop the engine runs on (for handlers that watch files or time). */
uv_loop_t *eng_loop(struct engine *e);
/* A UUID made at the first start and kept in <root>/engine-id ("ID" of docker info). */
const char *eng_id(const struct engine *e);

int eng_counts_get(struct engine *e, struct eng_counts *ret, struct iso_err *err);

/* Creates <root>/tmp/<prefix>-<random>, 0600, for an upload; returns its fd and path
 * (malloc'd). tmp/ is wiped at startup, so a crash leaves nothing behind for good. */
int eng_tmpfile(struct engine *e, const char *prefix, char **ret_path, struct iso_err *err);

/* Shutdown, after the API is closed: stops work in flight (pulls, loads) so isod exits
 * promptly; tmp/ is wiped at the next start. */
void eng_stop_work(struct engine *e);

/* ---- images ---- */

/* Finds an image by name as users type it ("busybox", "busybox:1", "reg:5000/x@sha256:..."),
 * by id or by unique id prefix. ENOENT: "No such image: NAME". */
int eng_image_lookup(struct engine *e, const char *name, char ret_id[STORE_DIGEST_LEN + 1],
                     struct iso_err *err);

/* All images, newest first; free each with store_image_done() and then the array. */
int eng_image_list(struct engine *e, struct store_image **ret, size_t *ret_n, struct iso_err *err);

struct eng_image_info {
    struct store_image img;
    char *config; /* the image config JSON text */
    size_t config_len;
    struct store_image_layer *layers; /* bottom first */
    size_t n_layers;
    int64_t containers;  /* containers created from it */
    int64_t shared_size; /* bytes of layers other images use too */
};

int eng_image_inspect(struct engine *e, const char *id, struct eng_image_info *ret,
                      struct iso_err *err);
void eng_image_info_done(struct eng_image_info *info);

/* Formats a stored full reference as docker prints it ("busybox:latest"). */
const char *eng_ref_familiar(const char *full, char *buf, size_t size);
/* Whether a stored full reference matches a `docker images` pattern. */
bool eng_ref_matches(const char *full, const char *pattern);

/* POST /images/{name}/tag: repo (and tag, default "latest") name the image too. */
int eng_image_tag(struct engine *e, const char *name, const char *repo, const char *tag,
                  struct iso_err *err);

/* Called for each step of a removal: action "Untagged" with a familiar reference or
 * "Deleted" with an image id or layer chain id, as DELETE /images answers. */
typedef void (*eng_rmi_fn)(void *ud, const char *action, const char *what);

/* DELETE /images/{name}: Docker's rules (untag a reference; delete the image when no name is
 * left; by id, refuse an image with several repositories unless force; refuse an image a
 * container uses: EBUSY, 409). Layers no image holds go with it. */
int eng_image_remove(struct engine *e, const char *name, bool force, eng_rmi_fn cb, void *ud,
                     struct iso_err *err);

/* POST /images/prune: removes dangling images (all unused ones when !dangling_only) that no
 * container uses. *ret_reclaimed: bytes of layers removed. */
int eng_image_prune(struct engine *e, bool dangling_only, eng_rmi_fn cb, void *ud,
                    uint64_t *ret_reclaimed, struct iso_err *err);

/* Total bytes of all layers (system df LayersSize). */
int eng_layers_size(struct engine *e, int64_t *ret, struct iso_err *err);

/* ---- pull ---- */

struct eng_pull_opts {
    const char *from_image;
    const char *tag;      /* tag or digest, may be NULL */
    const char *platform; /* "os/arch[/variant]" or NULL for the host's */
    const char *username, *password, *identitytoken, *registrytoken;
};

/* One line of Docker's pull progress: status, optional id and byte counts (current/total
 * < 0: none). */
struct eng_progress {
    const char *status;
    const char *id;
    int64_t current, total;
};

typedef void (*eng_progress_fn)(void *ud, const struct eng_progress *p);
/* err is NULL on success. */
typedef void (*eng_done_fn)(void *ud, const struct iso_err *err);

/* Starts a pull. Bad input (reference, platform) fails here, before any progress; after a
 * 0 return, progress and then done are called on the loop thread. The pull goes on if the
 * caller loses interest: callbacks may be detached with eng_pull_detach(). */
struct eng_pull;
int eng_image_pull(struct engine *e, const struct eng_pull_opts *opts, eng_progress_fn progress,
                   eng_done_fn done, void *ud, struct eng_pull **ret, struct iso_err *err);
void eng_pull_detach(struct eng_pull *p);

/* ---- load and save ---- */

struct json_t;
/* lines: Docker's "Loaded image: NAME\n" texts (borrowed) on success. */
typedef void (*eng_load_done_fn)(void *ud, struct json_t *lines, const struct iso_err *err);

/* Loads the archive at path (taken: removed and freed whatever happens). */
int eng_image_load(struct engine *e, char *path, eng_progress_fn progress, eng_load_done_fn done,
                   void *ud, struct iso_err *err);

typedef void (*eng_save_data_fn)(void *ud, const char *buf, size_t len);
struct eng_save;

/* Streams a docker-archive of the named images to data, then calls done. Unknown names fail
 * here, before any byte. */
int eng_image_save(struct engine *e, const char *const *names, size_t n, eng_save_data_fn data,
                   eng_done_fn done, void *ud, struct eng_save **ret, struct iso_err *err);
/* Backpressure while the client is slower than the archive. Valid until done. */
void eng_save_pause(struct eng_save *s);
void eng_save_resume(struct eng_save *s);

/* RFC 3339 (as image configs write "created") to unix ns; 0 when absent or unparsable. */
int64_t eng_parse_time(const char *s);

/* POST /auth: checks credentials against a registry ("https://index.docker.io/v1/",
 * "127.0.0.1:5000"); done gets EACCES when they are refused. */
int eng_auth(struct engine *e, const char *username, const char *password,
             const char *serveraddress, eng_done_fn done, void *ud, struct iso_err *err);

/* ---- events: what happens to containers and images, on the loop thread ---- */

struct eng_event {
    const char *type;   /* "container", "image" */
    const char *action; /* "create", "start", "die", "destroy", "pull", ... as Docker names them */
    const char *id;     /* container id, or image reference/id */
    struct json_t *attributes; /* Actor.Attributes (borrowed): name, image, exitCode, ... */
    int64_t time_ns;
    struct json_t *message; /* the whole EventMessage (borrowed) */
    const char *text;       /* message, serialized as GET /events sends it (borrowed) */
};

typedef void (*eng_event_fn)(void *ud, const struct eng_event *ev);
struct eng_sub;

/* Calls fn for every event from now on until unsubscribed. NULL on OOM. Unsubscribing from
 * inside fn is allowed. */
struct eng_sub *eng_events_subscribe(struct engine *e, eng_event_fn fn, void *ud);
void eng_events_unsubscribe(struct eng_sub *sub);

/* Emits an event now: attributes (stolen, may be NULL) become Actor.Attributes. */
void eng_event_emit(struct engine *e, const char *type, const char *action, const char *id,
                    struct json_t *attributes);

/* Calls fn for each remembered event (a bounded history, oldest first) with time in
 * [since_ns, until_ns] (until_ns 0: no bound). */
void eng_events_replay(struct engine *e, int64_t since_ns, int64_t until_ns, eng_event_fn fn,
                       void *ud);

/* ---- containers ---- */

enum eng_ctr_state {
    ENG_CTR_CREATED,
    ENG_CTR_RUNNING,
    ENG_CTR_PAUSED,
    ENG_CTR_RESTARTING,
    ENG_CTR_EXITED,
    ENG_CTR_DEAD,
    ENG_CTR_REMOVING,
};

/* "created", "running", ... as State.Status says it. */
const char *eng_ctr_state_name(enum eng_ctr_state s);

/* Finds a container by full id, unique id prefix, or name (with or without the leading '/').
 * ENOENT: "No such container: NAME". */
int eng_ctr_lookup(struct engine *e, const char *name, char ret_id[65], struct iso_err *err);

/* What logs and attach need to know of a container. Strings are malloc'd. */
struct eng_ctr_io {
    char *name;     /* without '/' */
    char *dir;      /* the state directory */
    char *log_path; /* <dir>/<id>-json.log; rotated files are log_path.1, .2, ... */
    bool tty, open_stdin, stdin_once;
    enum eng_ctr_state state;
};
int eng_ctr_io_get(struct engine *e, const char *id, struct eng_ctr_io *ret, struct iso_err *err);
void eng_ctr_io_done(struct eng_ctr_io *io);

/* Opens an attach connection (docs/runtime.md, "Attach") asking for stdin, stdout and stderr
 * as flagged; returns a connected stream socket fd (owned by the caller). On a running
 * container it is connected to the shim now; on any other (created, exited) it is one end of
 * a socketpair whose other end the shim gets at the next start, so no output is lost (docker
 * run and start -a attach before they start). EBUSY for a paused or removing container. */
int eng_ctr_attach(struct engine *e, const char *id, bool in, bool out, bool err_, int *ret_fd,
                   struct iso_err *err);

/* POST /containers/create: body is Docker's ContainerConfig with HostConfig (borrowed); name
 * may be NULL. ENOENT "No such image: X" (the docker CLI pulls then), EEXIST for a name in
 * use, EINVAL naming a bad field. *ret_warnings: a new JSON array of strings. */
int eng_ctr_create(struct engine *e, const char *name, struct json_t *body, char ret_id[65],
                   struct json_t **ret_warnings, struct iso_err *err);

/* Starts a created or exited container; done runs once the command was exec'd or failed
 * (err's code EINVAL for 126/127-class failures: a command not found or not runnable).
 * -EALREADY (304) when it is running already; nothing is called then. */
int eng_ctr_start(struct engine *e, const char *id, eng_done_fn done, void *ud,
                  struct iso_err *err);

/* Sends signal (NULL: StopSignal or SIGTERM), then SIGKILL after timeout seconds (< 0: the
 * container's StopTimeout or 10); done runs at the exit. -EALREADY (304) when not running. */
int eng_ctr_stop(struct engine *e, const char *id, int timeout, const char *signal,
                 eng_done_fn done, void *ud, struct iso_err *err);
int eng_ctr_restart(struct engine *e, const char *id, int timeout, const char *signal,
                    eng_done_fn done, void *ud, struct iso_err *err);

/* "KILL", "SIGKILL", "9", "RTMIN+3" -> signal number; EINVAL "Invalid signal: X". */
int eng_signal_parse(const char *s, int *ret, struct iso_err *err);
/* signal NULL: SIGKILL. EBUSY (409) when not running. */
int eng_ctr_kill(struct engine *e, const char *id, const char *signal, struct iso_err *err);
int eng_ctr_pause(struct engine *e, const char *id, bool pause, struct iso_err *err);
int eng_ctr_rename(struct engine *e, const char *id, const char *name, struct iso_err *err);
/* EBUSY for a running container without force; with force it is killed first. done runs
 * when it is gone. */
int eng_ctr_remove(struct engine *e, const char *id, bool force, eng_done_fn done, void *ud,
                   struct iso_err *err);

int eng_ctr_inspect(struct engine *e, const char *id, struct json_t **ret, struct iso_err *err);
/* GET /containers/json; filters: Docker's map of lists (borrowed, may be NULL). */
int eng_ctr_list(struct engine *e, bool all, int limit, bool size, struct json_t *filters,
                 struct json_t **ret, struct iso_err *err);
/* The same list as compact JSON text ("[...]\n", malloc'd), from each container's cached
 * serialization: what the API answers when no sizes are asked for. */
int eng_ctr_list_text(struct engine *e, bool all, int limit, struct json_t *filters, char **ret,
                      size_t *ret_len, struct iso_err *err);
int eng_ctr_filters_check(struct json_t *filters, struct iso_err *err);
int eng_ctr_resize(struct engine *e, const char *id, int h, int w, struct iso_err *err);
/* Pids of the container's processes (for top), malloc'd. */
int eng_ctr_pids(struct engine *e, const char *id, pid_t **ret, size_t *ret_n, struct iso_err *err);
/* The state now (starting counts as running), for wait. */
int eng_ctr_state(struct engine *e, const char *id, enum eng_ctr_state *ret_state,
                  int *ret_exit_code, struct iso_err *err);

/* GET /containers/{id}/stats?stream=false: a new ContainerStatsResponse. precpu_stats is zero
 * with one_shot, else an earlier sample from a cache (never a wait; see daemon/stats.c). A
 * container that does not run gets moby's zeroed answer (read "0001-01-01T00:00:00Z");
 * *ret_running (may be NULL) tells which. ENOENT for no such container. */
int eng_ctr_stats(struct engine *e, const char *id, bool one_shot, struct json_t **ret,
                  bool *ret_running, struct iso_err *err);
/* GET /isod/stats: a new array of the answers above for every running container. */
int eng_stats_all(struct engine *e, struct json_t **ret, struct iso_err *err);

/* A since/until value as Docker takes it: RFC 3339, unix seconds ("1700000000.5"), or a
 * duration before now ("10m", "1.5h"). Unix ns. */
int eng_parse_until(const char *s, int64_t *ret);

typedef void (*eng_ctr_prune_fn)(void *ud, struct json_t *deleted, uint64_t reclaimed);
/* Removes every stopped container matching filters (label, until); done gets the ids. */
int eng_ctr_prune(struct engine *e, struct json_t *filters, eng_ctr_prune_fn done, void *ud,
                  struct iso_err *err);

/* ---- exec ---- */

/* POST /containers/{id}/exec: body is Docker's ExecConfig (borrowed). ENOENT for no such
 * container, EBUSY (409) "container <id> is not running" (or paused), EINVAL for a bad
 * config (no Cmd). Emits exec_create. */
int eng_exec_create(struct engine *e, const char *ctr, struct json_t *body, char ret_id[65],
                    struct iso_err *err);

struct eng_exec_started {
    int fd;        /* the shim connection carrying the exec's stdio; -1 when detached or failed */
    bool tty;      /* raw stream (else multiplexed) */
    char *failure; /* the command could not start: Docker's message (malloc'd), else NULL */
};

/* POST /exec/{id}/start: starts the exec in the container's shim. tty >= 0 overrides the
 * create's Tty (the start body's Tty), h/w > 0 the console size. detach: the engine drains
 * the output itself and records the exit. A command that cannot start is no error: the exit
 * code (126/127/125) is recorded and ret->failure says why (detach: an error, EINVAL for
 * 126/127). ENOENT no such exec, EBUSY already running/ran or the container not running. */
int eng_exec_start(struct engine *e, const char *id, bool detach, int tty, int h, int w,
                   struct eng_exec_started *ret, struct iso_err *err);

/* The exec's stream ended (the shim closed the connection): reads its exit file and records
 * the exit, emits exec_die. Idempotent; unknown ids are ignored. */
void eng_exec_ended(struct engine *e, const char *id);

int eng_exec_inspect(struct engine *e, const char *id, struct json_t **ret, struct iso_err *err);
int eng_exec_resize(struct engine *e, const char *id, int h, int w, struct iso_err *err);

/* ---- metrics (GET /isod/metrics) ---- */

/* Counters kept where the work happens. Loop thread only. */
struct eng_metrics {
    uint64_t pull_bytes;            /* compressed layer bytes fetched from registries */
    struct iso_hist pull_duration;  /* whole pulls, request to commit, failed ones too */
    struct iso_hist start_duration; /* container starts, request to the shim's "ok" */
};

/* The engine's counters (borrowed; the engine updates them). */
struct eng_metrics *eng_metrics(struct engine *e);

/* Containers per state now, and the shims isod supervises (running and paused ones). */
struct eng_ctr_census {
    int64_t states[ENG_CTR_REMOVING + 1];
    int64_t shims;
};
void eng_ctr_census(struct engine *e, struct eng_ctr_census *ret);
