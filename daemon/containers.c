/* Containers: the lifecycle (create, start, stop, kill, pause, restart, rename, remove),
 * supervision of the shims through pidfds, restart policies, and reconciliation with the shims
 * that outlived an isod restart (DESIGN.md §2, §4; docs/runtime.md). Loop thread only. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/containers.h"
#include "daemon/events.h"
#include "daemon/images.h"
#include "runtime/cgroup.h"
#include "store/blob.h"
#include "store/container.h"
#include "store/image.h"
#include "store/layers.h"
#include "store/overlay.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Docker's restart backoff: 100 ms doubling up to a minute, reset after 10 s of running. */
#define BACKOFF_START_MS     100
#define BACKOFF_MAX_MS       60000
#define BACKOFF_RESET_NS     (10LL * 1000000000)
#define DEFAULT_STOP_TIMEOUT 10

struct ctr_waiter {
    void (*fn)(void *ud, struct ctr *c);
    void *ud;
    struct ctr_waiter *next;
};

struct start_op {
    struct ctr *c;
    uv_process_t proc;
    uv_pipe_t report;
    char buf[1024];
    size_t len;
    int handles; /* open uv handles; freed at 0 */
    bool answered;
    uint64_t begin_ns; /* monotonic, for the start latency metric */
    eng_done_fn done;
    void *ud;
};

struct eng_ctrs {
    struct ctr *list;
    struct ctr_stats_sampler *sampler;
    int shim_memfd; /* sealed copy of isod-shim, see docs/runtime.md */
    char shim_path[PATH_MAX + 80];
    struct rt_cgroup_info cg_info;
    bool cg_ok;
};

static int ctr_start(struct ctr *c, eng_done_fn done, void *ud, struct iso_err *err);
static void ctr_remove_now(struct ctr *c, eng_done_fn done, void *ud, uint64_t *ret_size);

const char *eng_ctr_state_name(enum eng_ctr_state s)
{
    static const char *const names[] = {
        [ENG_CTR_CREATED] = "created",   [ENG_CTR_RUNNING] = "running",
        [ENG_CTR_PAUSED] = "paused",     [ENG_CTR_RESTARTING] = "restarting",
        [ENG_CTR_EXITED] = "exited",     [ENG_CTR_DEAD] = "dead",
        [ENG_CTR_REMOVING] = "removing",
    };
    return names[s];
}

static enum eng_ctr_state state_parse(const char *s)
{
    for (int i = ENG_CTR_CREATED; i <= ENG_CTR_REMOVING; i++)
        if (streq(s, eng_ctr_state_name((enum eng_ctr_state)i)))
            return (enum eng_ctr_state)i;
    return ENG_CTR_DEAD;
}

const char *ctr_dir(struct ctr *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s/containers/%s", eng_root(c->e), c->id);
    return buf;
}

static bool is_running(const struct ctr *c)
{
    return c->state == ENG_CTR_RUNNING || c->state == ENG_CTR_PAUSED;
}

/* ---- persistence and events ---- */

static void persist(struct ctr *c)
{
    struct iso_err err = {0};
    _cleanup_free_ char *config = iso_json_dump(c->config);
    struct store_ctr row = {
        .name = c->name,
        .state = (char *)eng_ctr_state_name(c->state),
        .config = config,
        .created = c->created_ns,
        .started_at = c->started_ns,
        .finished_at = c->finished_ns,
        .exit_code = c->exit_code,
        .pid = is_running(c) ? c->pid : 0,
        .restart_count = c->restart_count,
        .oom_killed = c->oom_killed,
        .manual_stop = c->manual_stop,
        .error = c->error,
    };

    snprintf(row.id, sizeof(row.id), "%s", c->id);
    snprintf(row.image_id, sizeof(row.image_id), "%s", c->image_id);
    if (!config || store_ctr_update(eng_store(c->e), &row, &err) < 0)
        log_error("cannot record container state, ignoring", "id=%.12s err=\"%s\"", c->id,
                  config ? err.msg : "out of memory");
}

void ctr_emit(struct ctr *c, const char *action, json_t *extra)
{
    json_t *attrs = json_pack("{s:s, s:s}", "name", c->name, "image", ctr_cfg_str(c->cfg, "Image"));
    json_t *labels = json_object_get(c->cfg, "Labels"), *v;
    const char *k;

    json_object_foreach(labels, k, v) json_object_set(attrs, k, v);
    if (extra)
        json_object_update(attrs, extra);
    json_decref(extra);
    eng_event_emit(c->e, "container", action, c->id, attrs);
}

static void set_error(struct ctr *c, const char *msg)
{
    free(c->error);
    c->error = msg && *msg ? strdup(msg) : NULL;
}

/* ---- the list ---- */

static struct eng_ctrs *ctrs(struct engine *e)
{
    return eng_containers(e);
}

static bool valid_name(const char *n)
{
    if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z') ||
          (n[0] >= '0' && n[0] <= '9')))
        return false;
    for (const char *p = n + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return n[1] != '\0';
}

static struct ctr *find_by_name(struct engine *e, const char *name)
{
    for (struct ctr *c = ctrs(e)->list; c; c = c->next)
        if (streq(c->name, name))
            return c;
    return NULL;
}

struct ctr *ctr_find(struct engine *e, const char *key, struct iso_err *err)
{
    struct ctr *match = NULL;
    size_t len = strlen(key);

    if (!len) {
        iso_err_set(err, ENOENT, "No such container: %s", key);
        return NULL;
    }
    for (struct ctr *c = ctrs(e)->list; c; c = c->next)
        if (streq(c->id, key))
            return c;
    if ((match = find_by_name(e, key[0] == '/' ? key + 1 : key)))
        return match;
    for (struct ctr *c = ctrs(e)->list; c; c = c->next) {
        if (strneq(c->id, key, len)) {
            if (match) {
                iso_err_set(err, EINVAL, "multiple IDs found with provided prefix: %s", key);
                return NULL;
            }
            match = c;
        }
    }
    if (!match)
        iso_err_set(err, ENOENT, "No such container: %s", key);
    return match;
}

struct ctr_stats_sampler **ctr_stats_sampler(struct engine *e)
{
    return &ctrs(e)->sampler;
}

int eng_ctr_lookup(struct engine *e, const char *name, char ret_id[65], struct iso_err *err)
{
    struct ctr *c = ctr_find(e, name, err);
    if (!c)
        return -err->code;
    memcpy(ret_id, c->id, 65);
    return 0;
}

static struct ctr *ctr_new(struct engine *e)
{
    struct ctr *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->e = e;
    c->shim_pidfd = c->init_pidfd = -1;
    c->backoff_ms = BACKOFF_START_MS;
    return c;
}

static void timer_free_cb(uv_handle_t *h)
{
    free(h);
}

static void ctr_free(struct ctr *c)
{
    ctr_execs_free(c);
    if (c->stop_timer)
        uv_close((uv_handle_t *)c->stop_timer, timer_free_cb);
    if (c->restart_timer)
        uv_close((uv_handle_t *)c->restart_timer, timer_free_cb);
    for (size_t i = 0; i < c->n_attach; i++)
        safe_close(c->attach_fds[i]);
    free(c->attach_fds);
    free(c->attach_flags);
    rt_cgroup_free(c->cg);
    ctr_stats_forget(c);
    ctr_summary_forget(c);
    safe_close(c->init_pidfd);
    json_decref(c->config);
    free(c->name);
    free(c->error);
    free(c);
}

static void ctr_unlink(struct ctr *c)
{
    for (struct ctr **p = &ctrs(c->e)->list; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

static void run_waiters(struct ctr *c)
{
    struct ctr_waiter *w = c->waiters;

    c->waiters = NULL;
    while (w) {
        struct ctr_waiter *next = w->next;
        w->fn(w->ud, c);
        free(w);
        w = next;
    }
}

static int add_waiter(struct ctr *c, void (*fn)(void *, struct ctr *), void *ud)
{
    struct ctr_waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (struct ctr_waiter){.fn = fn, .ud = ud, .next = c->waiters};
    c->waiters = w;
    return 0;
}

/* ---- create ---- */

int ctr_random_id(char id[65])
{
    unsigned char b[32];
    _cleanup_close_ int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0 || iso_read_all(fd, b, sizeof(b)) != sizeof(b))
        return -EIO;
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(id + 2 * i, 3, "%02x", b[i]);
    return 0;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 80];
    _cleanup_close_ int fd = -1;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    return iso_write_all(fd, text, strlen(text));
}

static int copy_host_file(const char *dir, const char *name, const char *src, const char *fallback)
{
    _cleanup_free_ char *text = NULL;

    if (iso_read_file_at(AT_FDCWD, src, 1 << 20, &text, NULL) < 0)
        return write_file(dir, name, fallback);
    return write_file(dir, name, text);
}

static int make_state_dir(struct ctr *c, struct iso_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 80];
    bool host_net = streq(ctr_cfg_str(c->host, "NetworkMode"), "host");
    const char *hostname = ctr_hostname(c);
    int r;

    ctr_dir(c, dir, sizeof(dir));
    r = iso_mkdir_p(dir, 0700);
    if (r < 0)
        return iso_err_set(err, -r, "create '%s': %s", dir, strerror(-r));
    /* --userns-remap: the init reaches its rootfs and etc files as the remapped root, so the
     * path must be searchable (Docker's root is 0711 then too); the upper layer, where setuid
     * files may be, stays the host root's alone. */
    bool remap = eng_userns_remap(c->e) != NULL;
    snprintf(path, sizeof(path), "%s/containers", eng_root(c->e));
    if (remap && (chmod(path, 0711) < 0 || chmod(dir, 0711) < 0))
        return iso_err_set_errno(err, errno, "chmod '%s'", dir);
    for (const char *const *sub = (const char *const[]){"upper", "work", "rootfs", NULL}; *sub;
         sub++) {
        mode_t mode = remap && !streq(*sub, "rootfs") ? 0700 : 0755;
        snprintf(path, sizeof(path), "%s/%s", dir, *sub);
        if (mkdir(path, mode) < 0 && errno != EEXIST)
            return iso_err_set_errno(err, errno, "create '%s'", path);
        if (chmod(path, mode) < 0)
            return iso_err_set_errno(err, errno, "chmod '%s'", path);
    }
    char hosts[512];
    if (host_net)
        r = copy_host_file(dir, "hosts", "/etc/hosts", "127.0.0.1\tlocalhost\n");
    else {
        snprintf(hosts, sizeof(hosts),
                 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                 "ff02::2\tip6-allrouters\n127.0.1.1\t%s\n",
                 hostname);
        r = write_file(dir, "hosts", hosts);
    }
    char hn[80];
    snprintf(hn, sizeof(hn), "%s\n", hostname);
    if (r >= 0)
        r = write_file(dir, "hostname", hn);
    if (r >= 0)
        r = copy_host_file(dir, "resolv.conf", "/etc/resolv.conf", "");
    if (r < 0)
        return iso_err_set(err, -r, "write the container's /etc files: %s", strerror(-r));
    return 0;
}

/* Removes the tree at an absolute path (store_rm_rf_at takes one name under a directory). */
static int rm_path(const char *path)
{
    char parent[PATH_MAX];
    char *slash;

    snprintf(parent, sizeof(parent), "%s", path);
    slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return -EINVAL;
    *slash = '\0';
    _cleanup_close_ int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return store_rm_rf_at(fd, slash + 1);
}

int eng_ctr_create(struct engine *e, const char *name, json_t *body, char ret_id[65],
                   json_t **ret_warnings, struct iso_err *err)
{
    _cleanup_json_ json_t *warnings = json_array(), *image_config = NULL, *config = NULL;
    _cleanup_free_ char *config_text = NULL, *image_text = NULL;
    char gen_name[64], image_id[STORE_DIGEST_LEN + 1], dir[PATH_MAX];
    const char *image;
    struct ctr *c;
    size_t len;
    int r;

    if (!warnings)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (name && *name) {
        if (name[0] == '/')
            name++;
        if (!valid_name(name))
            return iso_err_set(err, EINVAL,
                               "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                               "allowed",
                               name);
        struct ctr *other = find_by_name(e, name);
        if (other)
            return iso_err_set(err, EEXIST,
                               "Conflict. The container name \"/%s\" is already in use by "
                               "container \"%s\". You have to remove (or rename) that container "
                               "to be able to reuse that name.",
                               name, other->id);
    }
    image = json_string_value(json_object_get(body, "Image"));
    if (!image || !*image)
        return iso_err_set(err, EINVAL, "config error: field 'Image' is required");
    r = eng_image_lookup(e, image, image_id, err);
    if (r < 0)
        return r;
    r = store_blob_get(eng_blobs(e), image_id, 8 << 20, &image_text, &len, err);
    if (r < 0)
        return r;
    r = iso_json_parse(image_text, len, &image_config, err);
    if (r < 0)
        return r;

    c = ctr_new(e);
    if (!c || ctr_random_id(c->id) < 0) {
        free(c);
        return iso_err_set(err, ENOMEM, "cannot make a container id");
    }
    if (!name || !*name) {
        /* Docker picks "adjective_name"; a short id-derived name is as unique. */
        snprintf(gen_name, sizeof(gen_name), "isod_%.12s", c->id);
        name = gen_name;
    }
    ctr_dir(c, dir, sizeof(dir));
    r = iso_mkdir_p(dir, 0700);
    if (r < 0) {
        ctr_free(c);
        return iso_err_set(err, -r, "create '%s': %s", dir, strerror(-r));
    }
    r = ctr_config_build(e, body, image_config, c->id, &config, warnings, err);
    if (r < 0)
        goto fail;
    c->config = TAKE_PTR(config);
    c->cfg = json_object_get(c->config, "Config");
    c->host = json_object_get(c->config, "HostConfig");
    c->name = strdup(name);
    memcpy(c->image_id, image_id, sizeof(image_id));
    c->created_ns = (int64_t)iso_now_real_ns();
    c->state = ENG_CTR_CREATED;
    if (!c->name) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    r = make_state_dir(c, err);
    if (r < 0)
        goto fail;

    config_text = iso_json_dump(c->config);
    struct store_ctr row = {
        .name = c->name,
        .state = "created",
        .config = config_text,
        .created = c->created_ns,
    };
    snprintf(row.id, sizeof(row.id), "%s", c->id);
    snprintf(row.image_id, sizeof(row.image_id), "%s", c->image_id);
    if (!config_text) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    r = store_ctr_insert(eng_store(e), &row, err);
    if (r < 0)
        goto fail;

    c->next = ctrs(e)->list;
    ctrs(e)->list = c;
    memcpy(ret_id, c->id, 65);
    *ret_warnings = TAKE_PTR(warnings);
    ctr_emit(c, "create", NULL);
    return 0;
fail:
    (void)rm_path(dir);
    ctr_free(c);
    return r;
}

/* ---- the shim ---- */

static int proc_starttime(pid_t pid, unsigned long long *ret)
{
    char path[64], *p;
    _cleanup_free_ char *stat = NULL;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (iso_read_file_at(AT_FDCWD, path, 4096, &stat, NULL) < 0)
        return -ESRCH;
    /* comm may hold spaces and parentheses: fields resume after the last ')'. */
    p = strrchr(stat, ')');
    if (!p)
        return -EINVAL;
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -EINVAL;
        p++;
    }
    *ret = strtoull(p, NULL, 10);
    return 0;
}

/* A pidfd for pid, if it is still the process that started at starttime. */
static int pidfd_verified(pid_t pid, unsigned long long starttime)
{
    unsigned long long now;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (fd < 0)
        return -errno;
    if (proc_starttime(pid, &now) < 0 || now != starttime) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

static int read_shim_pid(struct ctr *c, pid_t *shim, unsigned long long *shim_st, pid_t *init,
                         unsigned long long *init_st)
{
    char dir[PATH_MAX], path[PATH_MAX + 80];
    _cleanup_free_ char *text = NULL;
    int a, b;

    snprintf(path, sizeof(path), "%s/shim.pid", ctr_dir(c, dir, sizeof(dir)));
    if (iso_read_file_at(AT_FDCWD, path, 256, &text, NULL) < 0)
        return -ENOENT;
    if (sscanf(text, "%d %llu %d %llu", &a, shim_st, &b, init_st) != 4)
        return -EINVAL;
    *shim = a;
    *init = b;
    return 0;
}

static void handle_exit(struct ctr *c);

static void poll_close_cb(uv_handle_t *h)
{
    free(h);
}

static void stop_watching(struct ctr *c)
{
    if (c->shim_poll) {
        uv_poll_stop(c->shim_poll);
        uv_close((uv_handle_t *)c->shim_poll, poll_close_cb);
        c->shim_poll = NULL;
    }
    if (c->shim_pidfd >= 0) {
        /* Reap it if it was reparented to isod (a child subreaper). */
        siginfo_t si;
        (void)waitid((idtype_t)P_PIDFD, (id_t)c->shim_pidfd, &si, WEXITED | WNOHANG);
        c->shim_pidfd = safe_close(c->shim_pidfd);
    }
    c->init_pidfd = safe_close(c->init_pidfd);
}

static void on_shim_exit(uv_poll_t *h, int status, int events)
{
    struct ctr *c = h->data;
    handle_exit(c);
}

/* Follows a running container's shim (after a start or an isod restart). */
static int watch(struct ctr *c, struct iso_err *err)
{
    pid_t shim, init;
    unsigned long long shim_st, init_st;
    int r;

    r = read_shim_pid(c, &shim, &shim_st, &init, &init_st);
    if (r < 0)
        return iso_err_set(err, -r, "read shim.pid of container %.12s", c->id);
    c->shim_pid = shim;
    c->pid = init;
    c->shim_pidfd = pidfd_verified(shim, shim_st);
    if (c->shim_pidfd < 0)
        return -ESRCH; /* gone already: the exit file says how */
    c->init_pidfd = pidfd_verified(init, init_st);
    c->shim_poll = calloc(1, sizeof(*c->shim_poll));
    if (!c->shim_poll || uv_poll_init(eng_loop(c->e), c->shim_poll, c->shim_pidfd) < 0) {
        free(c->shim_poll);
        c->shim_poll = NULL;
        return iso_err_set(err, ENOMEM, "cannot watch the shim");
    }
    c->shim_poll->data = c;
    uv_poll_start(c->shim_poll, UV_READABLE, on_shim_exit);
    return 0;
}

static int cgroup_open_or_create(struct ctr *c, bool create, struct iso_err *err)
{
    struct eng_ctrs *cs = ctrs(c->e);
    struct rt_cgroup_limits lim = {
        .memory = ctr_cfg_int(c->host, "Memory"),
        .memory_swap = ctr_cfg_int(c->host, "MemorySwap"),
        .memory_reservation = ctr_cfg_int(c->host, "MemoryReservation"),
        .nano_cpus = ctr_cfg_int(c->host, "NanoCpus"),
        .cpu_shares = ctr_cfg_int(c->host, "CpuShares"),
        .cpuset_cpus = ctr_cfg_str(c->host, "CpusetCpus"),
        .pids_limit = ctr_cfg_int(c->host, "PidsLimit"),
        .devices_default = !json_is_true(json_object_get(c->host, "Privileged")),
    };
    int r;

    if (!cs->cg_ok)
        return iso_err_set(err, EOPNOTSUPP, "no usable cgroup hierarchy on this host");
    if (!create)
        return rt_cgroup_open(&cs->cg_info, "/sys/fs/cgroup", eng_cgroup_parent(c->e), c->id,
                              &c->cg, err);
    r = rt_cgroup_create(&cs->cg_info, "/sys/fs/cgroup", eng_cgroup_parent(c->e), c->id, &lim,
                         &c->cg, err);
    if (r == -EEXIST) {
        /* Left by a crash between a container's exit and its cleanup. */
        struct rt_cgroup *old = NULL;
        if (rt_cgroup_open(&cs->cg_info, "/sys/fs/cgroup", eng_cgroup_parent(c->e), c->id, &old,
                           err) == 0) {
            (void)rt_cgroup_destroy(old, err);
            rt_cgroup_free(old);
        }
        r = rt_cgroup_create(&cs->cg_info, "/sys/fs/cgroup", eng_cgroup_parent(c->e), c->id, &lim,
                             &c->cg, err);
    }
    return r;
}

static void cgroup_destroy(struct ctr *c)
{
    struct iso_err err = {0};

    if (!c->cg && cgroup_open_or_create(c, false, &err) < 0)
        return;
    if (rt_cgroup_destroy(c->cg, &err) < 0)
        log_warn("cannot remove the container's cgroup, ignoring", "id=%.12s err=\"%s\"", c->id,
                 err.msg);
    c->cg = rt_cgroup_free(c->cg);
}

static void start_op_unref(struct start_op *op)
{
    if (--op->handles == 0)
        free(op);
}

static void start_handle_closed(uv_handle_t *h)
{
    start_op_unref(h->data);
}

static void start_finish(struct start_op *op, const struct iso_err *err)
{
    struct ctr *c = op->c;

    if (op->answered)
        return;
    op->answered = true;
    if (!uv_is_closing((uv_handle_t *)&op->report))
        uv_close((uv_handle_t *)&op->report, start_handle_closed);
    c->starting = NULL;
    if (op->done)
        op->done(op->ud, err);
}

static void start_failed(struct start_op *op, int code, int exit_code, const char *msg)
{
    struct ctr *c = op->c;
    struct iso_err err = {0};

    cgroup_destroy(c);
    set_error(c, msg);
    c->exit_code = exit_code;
    if (c->state != ENG_CTR_CREATED)
        c->state = ENG_CTR_EXITED;
    if (!c->finished_ns && c->state == ENG_CTR_EXITED)
        c->finished_ns = (int64_t)iso_now_real_ns();
    persist(c);
    log_info("container start failed", "id=%.12s err=\"%s\"", c->id, msg);
    /* 126/127 are the user's doing (moby answers them 400); the rest is ours. */
    iso_err_set(&err, exit_code == 125 ? EIO : EINVAL, "%s", msg);
    ctr_emit(c, "die",
             json_pack("{s:s, s:s}", "exitCode",
                       exit_code == 125   ? "125"
                       : exit_code == 126 ? "126"
                                          : "127",
                       "execDuration", "0"));
    start_finish(op, &err);
    run_waiters(c);
    /* moby removes an AutoRemove container whose start failed. */
    if (json_is_true(json_object_get(c->host, "AutoRemove")) && !c->removing)
        ctr_remove_now(c, NULL, NULL, NULL);
}

static void start_succeeded(struct start_op *op)
{
    struct ctr *c = op->c;
    struct iso_err err = {0};
    int r;

    c->state = ENG_CTR_RUNNING;
    c->started_ns = (int64_t)iso_now_real_ns();
    c->finished_ns = 0;
    c->exit_code = 0;
    c->oom_killed = false;
    set_error(c, NULL);
    r = watch(c, &err);
    persist(c);
    iso_hist_observe(&eng_metrics(c->e)->start_duration,
                     (double)(iso_now_mono_ns() - op->begin_ns) / 1e9);
    ctr_emit(c, "start", NULL);
    start_finish(op, NULL);
    if (r == 0)
        ctr_stats_started(c);
    if (r == -ESRCH)
        handle_exit(c); /* it ran and ended before we looked */
    else if (r < 0)
        log_error("cannot watch container, ignoring", "id=%.12s err=\"%s\"", c->id, err.msg);
}

static void on_report_line(struct start_op *op)
{
    char *line = op->buf;
    int pid, code, exit_code, n = 0;

    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "ok %d", &pid) == 1) {
        start_succeeded(op);
        return;
    }
    if (sscanf(line, "err %d %d %n", &code, &exit_code, &n) == 2 && n > 0) {
        start_failed(op, code, exit_code, line + n);
        return;
    }
    start_failed(op, EIO, 125, *line ? line : "isod-shim failed without a report");
}

static void report_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct start_op *op = h->data;
    *buf = uv_buf_init(op->buf + op->len, (unsigned)(sizeof(op->buf) - 1 - op->len));
}

static void report_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct start_op *op = s->data;

    if (n > 0) {
        op->len += (size_t)n;
        op->buf[op->len] = '\0';
        if (!memchr(op->buf, '\n', op->len) && op->len < sizeof(op->buf) - 1)
            return;
    } else if (n == 0)
        return;
    uv_read_stop(s);
    on_report_line(op);
}

static void shim_first_exit(uv_process_t *p, int64_t status, int sig)
{
    uv_close((uv_handle_t *)p, start_handle_closed);
}

static int spawn_shim(struct ctr *c, struct start_op *op, struct iso_err *err)
{
    struct eng_ctrs *cs = ctrs(c->e);
    char dir[PATH_MAX], exe[64];
    uv_stdio_container_t stdio[4 + 64];
    size_t n_stdio = 4;
    int r;

    if (cs->shim_memfd < 0)
        return iso_err_set(err, ENOENT, "isod-shim not found at '%s'", cs->shim_path);
    snprintf(exe, sizeof(exe), "/proc/self/fd/%d", cs->shim_memfd);
    ctr_dir(c, dir, sizeof(dir));
    char *args[] = {"isod-shim", dir, NULL};
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[3].data.stream = (uv_stream_t *)&op->report;
    for (size_t i = 0; i < c->n_attach && n_stdio < ARRAY_SIZE(stdio); i++) {
        stdio[n_stdio].flags = UV_INHERIT_FD;
        stdio[n_stdio].data.fd = c->attach_fds[i];
        n_stdio++;
    }
    uv_process_options_t opts = {
        .exit_cb = shim_first_exit,
        .file = exe,
        .args = args,
        .stdio = stdio,
        .stdio_count = (int)n_stdio,
    };
    uv_pipe_init(eng_loop(c->e), &op->report, 0);
    op->report.data = op;
    op->handles++;
    op->proc.data = op;
    r = uv_spawn(eng_loop(c->e), &op->proc, &opts);
    if (r < 0) {
        uv_close((uv_handle_t *)&op->report, start_handle_closed);
        return iso_err_set(err, -r, "spawn isod-shim: %s", uv_strerror(r));
    }
    op->handles++;
    uv_read_start((uv_stream_t *)&op->report, report_alloc, report_read);
    return 0;
}

static void remove_file(struct ctr *c, const char *name)
{
    char dir[PATH_MAX], path[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/%s", ctr_dir(c, dir, sizeof(dir)), name);
    (void)unlink(path);
}

/* --userns-remap, for a container made before it was on: the modes make_state_dir gives. */
static int remap_dirs(struct ctr *c, struct iso_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 80];

    if (!eng_userns_remap(c->e))
        return 0;
    ctr_dir(c, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/containers", eng_root(c->e));
    if (chmod(path, 0711) < 0 || chmod(dir, 0711) < 0)
        return iso_err_set_errno(err, errno, "chmod '%s'", dir);
    for (const char *const *sub = (const char *const[]){"upper", "work", NULL}; *sub; sub++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *sub);
        if (chmod(path, 0700) < 0)
            return iso_err_set_errno(err, errno, "chmod '%s'", path);
    }
    return 0;
}

static int ctr_start(struct ctr *c, eng_done_fn done, void *ud, struct iso_err *err)
{
    uint64_t begin_ns = iso_now_mono_ns();
    _cleanup_free_ struct store_image_layer *layers = NULL;
    _cleanup_free_ char *overlay = NULL;
    struct ctr_spec_pool *pool = NULL;
    struct rt_spec spec;
    struct start_op *op;
    char dir[PATH_MAX], path[PATH_MAX + 80], upper[PATH_MAX], work[PATH_MAX];
    size_t n_layers;
    int r;

    if (c->starting)
        return iso_err_set(err, EBUSY, "container %.12s is already starting", c->id);
    r = store_image_layers(eng_store(c->e), c->image_id, &layers, &n_layers, err);
    if (r < 0)
        return r;
    const char **chain = calloc(n_layers + 1, sizeof(*chain));
    if (!chain)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n_layers; i++)
        chain[i] = layers[i].chain_id;
    snprintf(upper, sizeof(upper), "../containers/%s/upper", c->id);
    snprintf(work, sizeof(work), "../containers/%s/work", c->id);
    r = store_overlay_options(eng_layers(c->e), chain, n_layers, upper, work, &overlay, err);
    free(chain);
    if (r < 0)
        return r;

    r = remap_dirs(c, err);
    if (r < 0)
        return r;
    r = cgroup_open_or_create(c, true, err);
    if (r < 0)
        return r;
    r = ctr_spec_build(c, &spec, &pool, err);
    if (r < 0)
        goto fail;
    spec.overlay = overlay;
    struct rt_attach attach[64];
    spec.attach = attach;
    for (size_t i = 0; i < c->n_attach && i < ARRAY_SIZE(attach); i++) {
        attach[i] = (struct rt_attach){
            .fd = 4 + (int)i,
            .in = strchr(c->attach_flags[i], 'i') != NULL,
            .out = strchr(c->attach_flags[i], 'o') != NULL,
            .err = strchr(c->attach_flags[i], 'e') != NULL,
        };
        spec.n_attach++;
    }
    ctr_dir(c, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/spec", dir);
    r = rt_spec_write(&spec, path, err);
    ctr_spec_pool_free(pool);
    if (r < 0)
        goto fail;
    remove_file(c, "exit");
    remove_file(c, "shim.pid");

    op = calloc(1, sizeof(*op));
    if (!op) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    *op = (struct start_op){.c = c, .done = done, .ud = ud, .begin_ns = begin_ns};
    r = spawn_shim(c, op, err);
    if (r < 0) {
        if (op->handles == 0)
            free(op);
        else
            op->answered = true;
        goto fail;
    }
    c->starting = op;
    /* The shim has its ends of the waiting attach connections now. */
    for (size_t i = 0; i < c->n_attach; i++)
        safe_close(c->attach_fds[i]);
    c->n_attach = 0;
    c->manual_stop = false;
    return 0;
fail:
    cgroup_destroy(c);
    return r;
}

/* ---- exit ---- */

static void restart_fire(uv_timer_t *t)
{
    struct ctr *c = t->data;
    struct iso_err err = {0};

    if (c->state != ENG_CTR_RESTARTING)
        return;
    c->restart_count++;
    if (ctr_start(c, NULL, NULL, &err) < 0) {
        log_error("restart failed", "id=%.12s err=\"%s\"", c->id, err.msg);
        c->state = ENG_CTR_EXITED;
        set_error(c, err.msg);
        persist(c);
    }
}

static bool policy_restarts(struct ctr *c)
{
    json_t *rp = json_object_get(c->host, "RestartPolicy");
    const char *name = ctr_cfg_str(rp, "Name");

    if (c->manual_stop || c->removing || eng_shutting_down(c->e))
        return false;
    if (streq(name, "always") || streq(name, "unless-stopped"))
        return true;
    if (streq(name, "on-failure")) {
        int64_t max = ctr_cfg_int(rp, "MaximumRetryCount");
        return c->exit_code != 0 && (max == 0 || c->restart_count < max);
    }
    return false;
}

static void schedule_restart(struct ctr *c)
{
    if (c->finished_ns - c->started_ns >= BACKOFF_RESET_NS)
        c->backoff_ms = BACKOFF_START_MS;
    if (!c->restart_timer) {
        c->restart_timer = calloc(1, sizeof(*c->restart_timer));
        if (!c->restart_timer)
            return;
        uv_timer_init(eng_loop(c->e), c->restart_timer);
        c->restart_timer->data = c;
    }
    c->state = ENG_CTR_RESTARTING;
    persist(c);
    uv_timer_start(c->restart_timer, restart_fire, c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void read_exit(struct ctr *c)
{
    char dir[PATH_MAX], path[PATH_MAX + 80];
    _cleanup_free_ char *text = NULL;
    int code;
    long long ns;

    snprintf(path, sizeof(path), "%s/exit", ctr_dir(c, dir, sizeof(dir)));
    if (iso_read_file_at(AT_FDCWD, path, 256, &text, NULL) == 0 &&
        sscanf(text, "%d %lld", &code, &ns) == 2) {
        c->exit_code = code;
        c->finished_ns = ns;
        return;
    }
    /* The shim died without a word (killed): whatever ran in the container is gone with the
     * cgroup. */
    c->exit_code = 255;
    c->finished_ns = (int64_t)iso_now_real_ns();
    set_error(c, "isod-shim exited unexpectedly");
}

static void handle_exit(struct ctr *c)
{
    struct rt_cgroup_stats st;
    struct iso_err err = {0};
    char code[16], dur[32];

    stop_watching(c);
    if (c->stop_timer)
        uv_timer_stop(c->stop_timer);
    read_exit(c);
    if (!c->cg)
        (void)cgroup_open_or_create(c, false, &err);
    if (c->cg && rt_cgroup_stats(c->cg, &st, &err) == 0 && st.oom_kills > 0)
        c->oom_killed = true;
    cgroup_destroy(c);
    c->state = ENG_CTR_EXITED;
    c->pid = 0;
    persist(c);
    ctr_execs_container_exited(c);
    log_info("container exited", "id=%.12s code=%d", c->id, c->exit_code);
    if (c->oom_killed)
        ctr_emit(c, "oom", NULL);
    snprintf(code, sizeof(code), "%d", c->exit_code);
    /* moby: exitCode and execDuration, whole seconds the process ran. */
    snprintf(dur, sizeof(dur), "%lld",
             c->started_ns && c->finished_ns > c->started_ns
                 ? (long long)((c->finished_ns - c->started_ns) / 1000000000)
                 : 0LL);
    ctr_emit(c, "die", json_pack("{s:s, s:s}", "exitCode", code, "execDuration", dur));
    if (c->stopping) {
        c->stopping = false;
        ctr_emit(c, "stop", NULL);
    }
    run_waiters(c);
    if (json_is_true(json_object_get(c->host, "AutoRemove")) && !c->removing) {
        ctr_remove_now(c, NULL, NULL, NULL);
        return;
    }
    if (policy_restarts(c))
        schedule_restart(c);
}

/* ---- signals ---- */

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

int eng_signal_parse(const char *s, int *ret, struct iso_err *err)
{
    int64_t n;

    if (!s || !*s)
        return iso_err_set(err, EINVAL, "Invalid signal: %s", s ? s : "");
    if (iso_parse_int64(s, 1, 64, &n) == 0) {
        *ret = (int)n;
        return 0;
    }
    const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strcasecmp(name, signals[i].name) == 0) {
            *ret = signals[i].sig;
            return 0;
        }
    if (strncasecmp(name, "RTMIN+", 6) == 0 && iso_parse_int64(name + 6, 0, 30, &n) == 0) {
        *ret = SIGRTMIN + (int)n;
        return 0;
    }
    return iso_err_set(err, EINVAL, "Invalid signal: %s", s);
}

static int send_signal(struct ctr *c, int sig, struct iso_err *err)
{
    char num[16];

    if (c->init_pidfd < 0)
        return iso_err_set(err, ESRCH, "container %.12s has no process", c->id);
    if (syscall(SYS_pidfd_send_signal, c->init_pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
        return iso_err_set_errno(err, errno, "signal container %.12s", c->id);
    /* A frozen process gets a signal only once thawed; Docker thaws for SIGKILL too. */
    if (c->state == ENG_CTR_PAUSED && (sig == SIGKILL || sig == SIGTERM)) {
        struct iso_err e2 = {0};
        if (c->cg && rt_cgroup_freeze(c->cg, false, &e2) == 0) {
            c->state = ENG_CTR_RUNNING;
            persist(c);
        }
    }
    snprintf(num, sizeof(num), "%d", sig);
    ctr_emit(c, "kill", json_pack("{s:s}", "signal", num));
    return 0;
}

static struct ctr *find_running(struct engine *e, const char *id, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    if (c && !is_running(c)) {
        iso_err_set(err, EBUSY, "Container %s is not running", c->id);
        return NULL;
    }
    return c;
}

int eng_ctr_kill(struct engine *e, const char *id, const char *signal, struct iso_err *err)
{
    int sig = SIGKILL, r;
    struct ctr *c;

    if (signal && *signal) {
        r = eng_signal_parse(signal, &sig, err);
        if (r < 0)
            return r;
    }
    c = find_running(e, id, err);
    if (!c)
        return -err->code;
    /* moby: a container killed by hand is not restarted by its policy. */
    c->manual_stop = true;
    persist(c);
    return send_signal(c, sig, err);
}

/* ---- stop, start, restart ---- */

struct stop_op {
    eng_done_fn done;
    void *ud;
};

static void stop_done(void *ud, struct ctr *c)
{
    struct stop_op *op = ud;
    if (op->done)
        op->done(op->ud, NULL);
    free(op);
}

static void stop_timeout(uv_timer_t *t)
{
    struct ctr *c = t->data;
    struct iso_err err = {0};

    if (is_running(c)) {
        log_info("stop timeout reached, killing", "id=%.12s", c->id);
        (void)send_signal(c, SIGKILL, &err);
    }
}

/* timeout < 0: the container's StopTimeout or 10 s. */
static int ctr_stop(struct ctr *c, int timeout, const char *signal, eng_done_fn done, void *ud,
                    struct iso_err *err)
{
    struct stop_op *op;
    int sig = SIGTERM, r;

    if (c->state == ENG_CTR_RESTARTING) {
        uv_timer_stop(c->restart_timer);
        c->state = ENG_CTR_EXITED;
        c->manual_stop = true;
        persist(c);
        return -EALREADY;
    }
    if (!is_running(c))
        return -EALREADY;
    if (!signal || !*signal)
        signal = ctr_cfg_str(c->cfg, "StopSignal");
    if (*signal) {
        r = eng_signal_parse(signal, &sig, err);
        if (r < 0)
            return r;
    }
    if (timeout < 0)
        timeout = json_object_get(c->cfg, "StopTimeout") ? (int)ctr_cfg_int(c->cfg, "StopTimeout")
                                                         : DEFAULT_STOP_TIMEOUT;
    op = calloc(1, sizeof(*op));
    if (!op || add_waiter(c, stop_done, op) < 0) {
        free(op);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    *op = (struct stop_op){.done = done, .ud = ud};
    c->manual_stop = true;
    c->stopping = true;
    persist(c);
    r = send_signal(c, sig, err);
    if (r < 0)
        return r; /* the waiter fires at the exit anyway */
    if (!c->stop_timer) {
        c->stop_timer = calloc(1, sizeof(*c->stop_timer));
        if (!c->stop_timer)
            return 0;
        uv_timer_init(eng_loop(c->e), c->stop_timer);
        c->stop_timer->data = c;
    }
    /* -1 (StopTimeout -1): wait for ever. */
    if (timeout >= 0 && sig != SIGKILL)
        uv_timer_start(c->stop_timer, stop_timeout, (uint64_t)timeout * 1000, 0);
    return 0;
}

int eng_ctr_stop(struct engine *e, const char *id, int timeout, const char *signal,
                 eng_done_fn done, void *ud, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    if (!c)
        return -err->code;
    return ctr_stop(c, timeout, signal, done, ud, err);
}

int eng_ctr_start(struct engine *e, const char *id, eng_done_fn done, void *ud, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);

    if (!c)
        return -err->code;
    if (is_running(c))
        return -EALREADY;
    if (c->state == ENG_CTR_PAUSED)
        return iso_err_set(err, EBUSY, "cannot start a paused container, try unpause instead");
    if (c->removing || c->state == ENG_CTR_REMOVING)
        return iso_err_set(err, EBUSY, "container is marked for removal and cannot be started");
    if (c->state == ENG_CTR_RESTARTING)
        uv_timer_stop(c->restart_timer);
    return ctr_start(c, done, ud, err);
}

struct restart_op {
    struct ctr *c;
    eng_done_fn done;
    void *ud;
};

static void restart_after_stop(void *ud, const struct iso_err *e)
{
    struct restart_op *op = ud;
    struct iso_err err = {0};
    struct ctr *c = op->c;

    if (c->removing || ctr_start(c, op->done, op->ud, &err) < 0) {
        if (!c->removing && op->done)
            op->done(op->ud, &err);
        else if (op->done) {
            iso_err_set(&err, EBUSY, "container is being removed");
            op->done(op->ud, &err);
        }
    } else
        ctr_emit(c, "restart", NULL);
    free(op);
}

int eng_ctr_restart(struct engine *e, const char *id, int timeout, const char *signal,
                    eng_done_fn done, void *ud, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    struct restart_op *op;
    int r;

    if (!c)
        return -err->code;
    op = calloc(1, sizeof(*op));
    if (!op)
        return iso_err_set(err, ENOMEM, "out of memory");
    *op = (struct restart_op){.c = c, .done = done, .ud = ud};
    r = ctr_stop(c, timeout, signal, restart_after_stop, op, err);
    if (r == -EALREADY) {
        free(op);
        r = ctr_start(c, done, ud, err);
        if (r == 0)
            ctr_emit(c, "restart", NULL);
        return r;
    }
    if (r < 0)
        free(op);
    return r;
}

int eng_ctr_pause(struct engine *e, const char *id, bool pause, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    int r;

    if (!c)
        return -err->code;
    if (!is_running(c))
        return iso_err_set(err, EBUSY, "Container %s is not running", c->id);
    if (pause && c->state == ENG_CTR_PAUSED)
        return iso_err_set(err, EBUSY, "Container %s is already paused", c->id);
    if (!pause && c->state != ENG_CTR_PAUSED)
        return iso_err_set(err, EBUSY, "Container %s is not paused", c->id);
    if (!c->cg)
        return iso_err_set(err, EOPNOTSUPP, "container %.12s has no cgroup", c->id);
    r = rt_cgroup_freeze(c->cg, pause, err);
    if (r < 0)
        return r;
    c->state = pause ? ENG_CTR_PAUSED : ENG_CTR_RUNNING;
    persist(c);
    ctr_emit(c, pause ? "pause" : "unpause", NULL);
    return 0;
}

int eng_ctr_rename(struct engine *e, const char *id, const char *name, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err), *other;
    _cleanup_free_ char *old = NULL;

    if (!c)
        return -err->code;
    if (name && name[0] == '/')
        name++;
    if (!name || !valid_name(name))
        return iso_err_set(err, EINVAL,
                           "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                           "allowed",
                           name ? name : "");
    if (streq(c->name, name))
        return iso_err_set(err, EINVAL,
                           "Renaming a container with the same name as its current "
                           "name");
    if ((other = find_by_name(e, name)))
        return iso_err_set(err, EEXIST,
                           "Conflict. The container name \"/%s\" is already in use by container "
                           "\"%s\". You have to remove (or rename) that container to be able to "
                           "reuse that name.",
                           name, other->id);
    char *n = strdup(name);
    if (!n)
        return iso_err_set(err, ENOMEM, "out of memory");
    old = c->name;
    c->name = n;
    persist(c);
    ctr_emit(c, "rename", json_pack("{s:s}", "oldName", old));
    return 0;
}

/* ---- remove ---- */

struct remove_op {
    uv_work_t work;
    struct ctr *c;
    char dir[PATH_MAX];
    uint64_t size;
    int result;
    eng_done_fn done;
    void *ud;
    uint64_t *ret_size;
};

static uint64_t du_at(int dir_fd)
{
    _cleanup_close_ int fd = dup(dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    uint64_t total = 0;

    if (!d)
        return 0;
    fd = -1;
    while ((de = readdir(d))) {
        struct stat st;
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (sub >= 0) {
                total += du_at(sub);
                close(sub);
            }
        } else if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

static void remove_work(uv_work_t *w)
{
    struct remove_op *op = w->data;
    char upper[PATH_MAX + 8];
    _cleanup_close_ int fd = -1;

    snprintf(upper, sizeof(upper), "%s/upper", op->dir);
    fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0)
        op->size = du_at(fd);
    op->result = rm_path(op->dir);
}

static void remove_after(uv_work_t *w, int status)
{
    struct remove_op *op = w->data;
    struct ctr *c = op->c;
    struct iso_err err = {0};

    if (op->result < 0 && op->result != -ENOENT) {
        log_error_errno(op->result, "cannot remove container files", "id=%.12s", c->id);
        c->state = ENG_CTR_DEAD;
        c->removing = false;
        set_error(c, "removal failed: files could not be deleted");
        persist(c);
        iso_err_set(&err, -op->result, "unable to remove filesystem for %s: %s", c->id,
                    strerror(-op->result));
        if (op->done)
            op->done(op->ud, &err);
        free(op);
        return;
    }
    if (store_ctr_delete(eng_store(c->e), c->id, &err) < 0)
        log_error("cannot delete container row, ignoring", "id=%.12s err=\"%s\"", c->id, err.msg);
    ctr_unlink(c);
    if (op->ret_size)
        *op->ret_size = op->size;
    ctr_emit(c, "destroy", NULL);
    if (op->done)
        op->done(op->ud, NULL);
    run_waiters(c);
    ctr_free(c);
    free(op);
}

static void ctr_remove_now(struct ctr *c, eng_done_fn done, void *ud, uint64_t *ret_size)
{
    struct remove_op *op = calloc(1, sizeof(*op));
    struct iso_err err = {0};

    c->removing = true;
    if (c->restart_timer)
        uv_timer_stop(c->restart_timer);
    c->state = ENG_CTR_REMOVING;
    persist(c);
    if (!op) {
        iso_err_set(&err, ENOMEM, "out of memory");
        if (done)
            done(ud, &err);
        return;
    }
    *op = (struct remove_op){.c = c, .done = done, .ud = ud, .ret_size = ret_size};
    ctr_dir(c, op->dir, sizeof(op->dir));
    op->work.data = op;
    uv_queue_work(eng_loop(c->e), &op->work, remove_work, remove_after);
}

struct force_op {
    eng_done_fn done;
    void *ud;
};

static void remove_after_kill(void *ud, struct ctr *c)
{
    struct force_op *op = ud;
    ctr_remove_now(c, op->done, op->ud, NULL);
    free(op);
}

int eng_ctr_remove(struct engine *e, const char *id, bool force, eng_done_fn done, void *ud,
                   struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);

    if (!c)
        return -err->code;
    if (c->removing)
        return iso_err_set(err, EBUSY, "removal of container %s is already in progress", c->id);
    if ((is_running(c) || c->starting) && !force)
        return iso_err_set(err, EBUSY,
                           "You cannot remove a %s container %s. Stop the container before "
                           "attempting removal or force remove",
                           c->state == ENG_CTR_PAUSED ? "paused" : "running", c->id);
    if (is_running(c) || c->starting) {
        struct force_op *op = calloc(1, sizeof(*op));
        if (!op || add_waiter(c, remove_after_kill, op) < 0) {
            free(op);
            return iso_err_set(err, ENOMEM, "out of memory");
        }
        *op = (struct force_op){.done = done, .ud = ud};
        c->removing = true;
        c->manual_stop = true;
        if (is_running(c))
            (void)send_signal(c, SIGKILL, err);
        return 0;
    }
    ctr_remove_now(c, done, ud, NULL);
    return 0;
}

/* ---- views ---- */

void eng_ctr_census(struct engine *e, struct eng_ctr_census *ret)
{
    *ret = (struct eng_ctr_census){0};
    for (struct ctr *c = ctrs(e)->list; c; c = c->next) {
        ret->states[c->state]++;
        if (c->shim_pidfd >= 0)
            ret->shims++;
    }
}

int eng_ctr_inspect(struct engine *e, const char *id, json_t **ret, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    json_t *j;

    if (!c)
        return -err->code;
    j = ctr_inspect_json(c);
    if (!j)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret = j;
    return 0;
}

static bool label_matches(struct ctr *c, const char *want)
{
    json_t *labels = json_object_get(c->cfg, "Labels");
    const char *eq = strchr(want, '=');
    _cleanup_free_ char *key = eq ? strndup(want, (size_t)(eq - want)) : strdup(want);
    json_t *v = key ? json_object_get(labels, key) : NULL;

    if (!v)
        return false;
    return !eq || streq(json_string_value(v), eq + 1);
}

/* One filter key: true when any of its values matches (Docker's OR within a key). */
static bool filter_any(struct engine *e, struct ctr *c, const char *key, json_t *values)
{
    size_t i;
    json_t *v;
    char code[16];

    json_array_foreach(values, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (streq(key, "status") && streq(s, eng_ctr_state_name(c->state)))
            return true;
        if (streq(key, "name") && strstr(c->name, s[0] == '/' ? s + 1 : s))
            return true;
        if (streq(key, "id") && strneq(c->id, s, strlen(s)))
            return true;
        if (streq(key, "label") && label_matches(c, s))
            return true;
        if (streq(key, "exited")) {
            snprintf(code, sizeof(code), "%d", c->exit_code);
            if (c->state == ENG_CTR_EXITED && streq(code, s))
                return true;
        }
        if (streq(key, "ancestor")) {
            char img[STORE_DIGEST_LEN + 1];
            struct iso_err err = {0};
            if (streq(ctr_cfg_str(c->cfg, "Image"), s) ||
                (eng_image_lookup(e, s, img, &err) == 0 && streq(img, c->image_id)))
                return true;
        }
    }
    return false;
}

static const char *const filter_keys[] = {"status", "name", "id", "label", "exited", "ancestor"};

int eng_ctr_filters_check(json_t *filters, struct iso_err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(filters, key, v)
    {
        size_t i;
        for (i = 0; i < ARRAY_SIZE(filter_keys); i++)
            if (streq(key, filter_keys[i]))
                break;
        if (i == ARRAY_SIZE(filter_keys))
            return iso_err_set(err, EINVAL, "invalid filter '%s'", key);
        if (!json_is_array(v))
            return iso_err_set(err, EINVAL, "invalid filter '%s': expected a list", key);
        if (streq(key, "status")) {
            size_t k;
            json_t *s;
            json_array_foreach(v, k, s)
            {
                const char *st = json_string_value(s);
                if (!st || !(streq(st, "created") || streq(st, "running") || streq(st, "paused") ||
                             streq(st, "restarting") || streq(st, "exited") || streq(st, "dead") ||
                             streq(st, "removing")))
                    return iso_err_set(err, EINVAL, "invalid filter 'status=%s'", st ? st : "");
            }
        }
    }
    return 0;
}

static bool filters_match(struct engine *e, struct ctr *c, json_t *filters)
{
    const char *key;
    json_t *v;

    json_object_foreach(filters, key, v) if (!filter_any(e, c, key, v)) return false;
    return true;
}

/* The containers a list request shows, newest first (malloc'd, *ret_n of them). */
static int list_select(struct engine *e, bool all, int limit, json_t *filters, struct ctr ***ret,
                       size_t *ret_n, struct iso_err *err)
{
    bool status_filter = json_object_get(filters, "status") != NULL;
    struct ctr **sel;
    size_t n = 0, k = 0;
    int r;

    r = eng_ctr_filters_check(filters, err);
    if (r < 0)
        return r;
    for (struct ctr *c = ctrs(e)->list; c; c = c->next)
        n++;
    sel = calloc(n + 1, sizeof(*sel));
    if (!sel)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (limit > 0)
        all = true;
    /* The list is newest first already (creates push at the head; loaded rows are sorted). */
    for (struct ctr *c = ctrs(e)->list; c; c = c->next) {
        if (!all && !status_filter && !is_running(c))
            continue;
        if (!filters_match(e, c, filters))
            continue;
        if (limit > 0 && (int)k >= limit)
            break;
        sel[k++] = c;
    }
    *ret = sel;
    *ret_n = k;
    return 0;
}

int eng_ctr_list(struct engine *e, bool all, int limit, bool size, json_t *filters, json_t **ret,
                 struct iso_err *err)
{
    _cleanup_free_ struct ctr **sel = NULL;
    json_t *list;
    size_t n;
    int r;

    r = list_select(e, all, limit, filters, &sel, &n, err);
    if (r < 0)
        return r;
    list = json_array();
    if (!list)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, ctr_summary_json(sel[i], size));
    *ret = list;
    return 0;
}

int eng_ctr_list_text(struct engine *e, bool all, int limit, json_t *filters, char **ret,
                      size_t *ret_len, struct iso_err *err)
{
    _cleanup_free_ struct ctr **sel = NULL;
    char *buf = NULL;
    size_t n, len = 0, cap = 0;
    int r;

    r = list_select(e, all, limit, filters, &sel, &n, err);
    if (r < 0)
        return r;
    cap = 256 + n * 1024;
    buf = malloc(cap);
    if (!buf)
        return iso_err_set(err, ENOMEM, "out of memory");
    buf[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[len++] = ',';
        if (ctr_summary_append(sel[i], &buf, &len, &cap) < 0 || len + 2 > cap) {
            free(buf);
            return iso_err_set(err, ENOMEM, "out of memory");
        }
    }
    buf[len++] = ']';
    buf[len++] = '\n';
    *ret = buf;
    *ret_len = len;
    return 0;
}

int eng_ctr_io_get(struct engine *e, const char *id, struct eng_ctr_io *ret, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    char dir[PATH_MAX];

    if (!c)
        return -err->code;
    ctr_dir(c, dir, sizeof(dir));
    *ret = (struct eng_ctr_io){
        .name = strdup(c->name),
        .dir = strdup(dir),
        .log_path = iso_strprintf("%s/%s-json.log", dir, c->id),
        .tty = json_is_true(json_object_get(c->cfg, "Tty")),
        .open_stdin = json_is_true(json_object_get(c->cfg, "OpenStdin")),
        .stdin_once = json_is_true(json_object_get(c->cfg, "StdinOnce")),
        .state = c->state,
    };
    if (!ret->name || !ret->dir || !ret->log_path) {
        eng_ctr_io_done(ret);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

void eng_ctr_io_done(struct eng_ctr_io *io)
{
    free(io->name);
    free(io->dir);
    free(io->log_path);
    *io = (struct eng_ctr_io){0};
}

int ctr_shim_connect(struct ctr *c, const char *line, struct iso_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char dir[PATH_MAX];
    _cleanup_close_ int fd = -1;

    ctr_dir(c, dir, sizeof(dir));
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/shim.sock", dir) >=
        sizeof(sa.sun_path)) {
        /* Long roots: go through /proc/self/fd of the directory. */
        _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return iso_err_set_errno(err, errno, "open '%s'", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/shim.sock", dfd);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return iso_err_set_errno(err, errno, "connect to the shim of %.12s", c->id);
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return iso_err_set_errno(err, errno, "connect to the shim of %.12s", c->id);
    }
    if (iso_write_all(fd, line, strlen(line)) < 0)
        return iso_err_set_errno(err, errno, "talk to the shim of %.12s", c->id);
    return TAKE_FD(fd);
}

static int ctr_attach(struct ctr *c, bool in, bool out, bool err_, int *ret_fd,
                      struct iso_err *err);

int eng_ctr_attach(struct engine *e, const char *id, bool in, bool out, bool err_, int *ret_fd,
                   struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    int r;

    if (!c)
        return -err->code;
    r = ctr_attach(c, in, out, err_, ret_fd, err);
    if (r >= 0)
        ctr_emit(c, "attach", NULL);
    return r;
}

static int ctr_attach(struct ctr *c, bool in, bool out, bool err_, int *ret_fd, struct iso_err *err)
{
    char flags[4] = "", line[32];
    int sv[2];

    if (c->state == ENG_CTR_PAUSED)
        return iso_err_set(err, EBUSY,
                           "container %s is paused, unpause the container before attach", c->id);
    if (c->removing || c->state == ENG_CTR_REMOVING || c->state == ENG_CTR_DEAD)
        return iso_err_set(err, EBUSY, "container %s is being removed", c->id);
    snprintf(flags, sizeof(flags), "%s%s%s", in ? "i" : "", out ? "o" : "", err_ ? "e" : "");
    if (c->state == ENG_CTR_RUNNING && !c->starting) {
        snprintf(line, sizeof(line), "attach %s\n", flags);
        int fd = ctr_shim_connect(c, line, err);
        if (fd < 0)
            return fd;
        *ret_fd = fd;
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return iso_err_set_errno(err, errno, "socketpair");
    int *fds = realloc(c->attach_fds, (c->n_attach + 1) * sizeof(*fds));
    if (fds)
        c->attach_fds = fds;
    char(*fl)[4] = realloc(c->attach_flags, (c->n_attach + 1) * sizeof(*fl));
    if (fl)
        c->attach_flags = fl;
    if (!fds || !fl) {
        close(sv[0]);
        close(sv[1]);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    c->attach_fds[c->n_attach] = sv[1];
    memcpy(c->attach_flags[c->n_attach], flags, sizeof(flags));
    c->n_attach++;
    *ret_fd = sv[0];
    return 0;
}

int eng_ctr_resize(struct engine *e, const char *id, int h, int w, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    char line[64], answer[256];
    _cleanup_close_ int fd = -1;
    ssize_t n;

    if (!c)
        return -err->code;
    if (!is_running(c))
        return iso_err_set(err, EBUSY, "Container %s is not running", c->id);
    if (!json_is_true(json_object_get(c->cfg, "Tty")))
        return 0; /* moby ignores a resize without a TTY */
    snprintf(line, sizeof(line), "resize %d %d\n", h, w);
    fd = ctr_shim_connect(c, line, err);
    if (fd < 0)
        return fd;
    /* The shim answers at once: a local socket, no wait worth deferring. */
    n = read(fd, answer, sizeof(answer) - 1);
    if (n <= 0)
        return iso_err_set(err, EIO, "the shim of %.12s did not answer", c->id);
    answer[n] = '\0';
    answer[strcspn(answer, "\n")] = '\0';
    if (!strneq(answer, "ok", 2))
        return iso_err_set(err, EIO, "resize: %s", answer + (strneq(answer, "err ", 4) ? 4 : 0));
    snprintf(line, sizeof(line), "%d", h);
    snprintf(answer, sizeof(answer), "%d", w);
    ctr_emit(c, "resize", json_pack("{s:s, s:s}", "height", line, "width", answer));
    return 0;
}

int eng_ctr_pids(struct engine *e, const char *id, pid_t **ret, size_t *ret_n, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);

    if (!c)
        return -err->code;
    if (!is_running(c) || !c->cg)
        return iso_err_set(err, EBUSY, "Container %s is not running", c->id);
    int r = rt_cgroup_pids(c->cg, ret, ret_n, err);
    /* Only top asks, and moby logs a "top" event for it. */
    if (r >= 0)
        ctr_emit(c, "top", NULL);
    return r;
}

/* Exit codes for wait: the state now. */
int eng_ctr_state(struct engine *e, const char *id, enum eng_ctr_state *ret_state,
                  int *ret_exit_code, struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);

    if (!c)
        return -err->code;
    *ret_state = c->removing ? ENG_CTR_REMOVING : c->state;
    if (c->starting)
        *ret_state = ENG_CTR_RUNNING;
    *ret_exit_code = c->exit_code;
    return 0;
}

struct prune_op {
    json_t *deleted;
    uint64_t reclaimed;
    size_t pending;
    eng_ctr_prune_fn done;
    void *ud;
    bool listed;
};

static void prune_finish(struct prune_op *op)
{
    if (!op->listed || op->pending)
        return;
    op->done(op->ud, op->deleted, op->reclaimed);
    json_decref(op->deleted);
    free(op);
}

struct prune_one {
    struct prune_op *op;
    char id[65];
    uint64_t size;
};

static void prune_removed(void *ud, const struct iso_err *err)
{
    struct prune_one *one = ud;
    if (!err) {
        json_array_append_new(one->op->deleted, json_string(one->id));
        one->op->reclaimed += one->size;
    }
    one->op->pending--;
    prune_finish(one->op);
    free(one);
}

int eng_parse_until(const char *s, int64_t *ret)
{
    int64_t secs, now = (int64_t)iso_now_real_ns();
    double n;
    char unit[4] = "";

    if (!s || !*s)
        return -EINVAL;
    /* RFC 3339, unix seconds (with an optional fraction), or a Go duration before now. */
    if ((*ret = eng_parse_time(s)) != 0)
        return 0;
    if (iso_parse_int64(s, 0, INT64_MAX / 1000000000, &secs) == 0) {
        *ret = secs * 1000000000;
        return 0;
    }
    /* "seconds.nanoseconds" as the docker CLI sends it: exact, where a double would round
     * off the last digits. */
    const char *dot = strchr(s, '.');
    if (dot && dot > s && dot - s < 19 && strspn(s, "0123456789") == (size_t)(dot - s) && dot[1] &&
        strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
        char whole[20];
        int64_t frac = 0, scale = 100000000;
        memcpy(whole, s, (size_t)(dot - s));
        whole[dot - s] = '\0';
        if (iso_parse_int64(whole, 0, INT64_MAX / 1000000000, &secs) == 0) {
            for (const char *p = dot + 1; *p && scale > 0; p++, scale /= 10)
                frac += (*p - '0') * scale;
            *ret = secs * 1000000000 + frac;
            return 0;
        }
    }
    if (sscanf(s, "%lf%3s", &n, unit) == 2 && n >= 0) {
        double mult = streq(unit, "s") ? 1 : streq(unit, "m") ? 60 : streq(unit, "h") ? 3600 : 0;
        if (mult > 0) {
            *ret = now - (int64_t)(n * mult * 1e9);
            return 0;
        }
    }
    char *end;
    double f = strtod(s, &end);
    if (*end == '\0' && f >= 0) {
        *ret = (int64_t)(f * 1e9);
        return 0;
    }
    return -EINVAL;
}

int eng_ctr_prune(struct engine *e, json_t *filters, eng_ctr_prune_fn done, void *ud,
                  struct iso_err *err)
{
    struct prune_op *op = calloc(1, sizeof(*op));
    const char *key;
    json_t *v;
    int64_t until = 0;

    if (!op)
        return iso_err_set(err, ENOMEM, "out of memory");
    json_object_foreach(filters, key, v)
    {
        if (!streq(key, "label") && !streq(key, "until")) {
            free(op);
            return iso_err_set(err, EINVAL, "invalid filter '%s'", key);
        }
    }
    json_t *u = json_array_get(json_object_get(filters, "until"), 0);
    if (u && eng_parse_until(json_string_value(u), &until) < 0) {
        free(op);
        return iso_err_set(err, EINVAL, "invalid filter 'until=%s'", json_string_value(u));
    }
    *op = (struct prune_op){.deleted = json_array(), .done = done, .ud = ud};
    for (struct ctr *c = ctrs(e)->list, *next; c; c = next) {
        next = c->next;
        if (is_running(c) || c->removing || c->starting || c->state == ENG_CTR_RESTARTING)
            continue;
        if (until && c->created_ns > until)
            continue;
        json_t *labels = json_object_get(filters, "label");
        if (labels && !filter_any(e, c, "label", labels))
            continue;
        struct prune_one *one = calloc(1, sizeof(*one));
        if (!one)
            break;
        one->op = op;
        memcpy(one->id, c->id, sizeof(one->id));
        op->pending++;
        ctr_remove_now(c, prune_removed, one, &one->size);
    }
    op->listed = true;
    prune_finish(op);
    return 0;
}

/* ---- startup and shutdown ---- */

static int make_shim_memfd(struct eng_ctrs *cs)
{
    _cleanup_close_ int src = open(cs->shim_path, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int fd = -1;
    char buf[65536];
    ssize_t n;

    if (src < 0)
        return -errno;
    fd = memfd_create("isod-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    while ((n = read(src, buf, sizeof(buf))) > 0)
        if (iso_write_all(fd, buf, (size_t)n) < 0)
            return -errno;
    if (n < 0)
        return -errno;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static struct ctr *ctr_from_row(struct engine *e, struct store_ctr *row)
{
    struct ctr *c = ctr_new(e);
    struct iso_err err = {0};

    if (!c)
        return NULL;
    memcpy(c->id, row->id, sizeof(c->id));
    memcpy(c->image_id, row->image_id, sizeof(c->image_id));
    c->name = TAKE_PTR(row->name);
    c->error = TAKE_PTR(row->error);
    c->state = state_parse(row->state);
    c->created_ns = row->created;
    c->started_ns = row->started_at;
    c->finished_ns = row->finished_at;
    c->exit_code = (int)row->exit_code;
    c->pid = (pid_t)row->pid;
    c->restart_count = (int)row->restart_count;
    c->oom_killed = row->oom_killed;
    c->manual_stop = row->manual_stop;
    if (iso_json_parse(row->config, strlen(row->config), &c->config, &err) < 0 ||
        !json_is_object(json_object_get(c->config, "Config")) ||
        !json_is_object(json_object_get(c->config, "HostConfig"))) {
        log_error("container config unreadable, marking it dead", "id=%.12s", c->id);
        json_decref(c->config);
        c->config = json_pack("{s:{}, s:{}}", "Config", "HostConfig");
        c->state = ENG_CTR_DEAD;
    }
    c->cfg = json_object_get(c->config, "Config");
    c->host = json_object_get(c->config, "HostConfig");
    return c;
}

/* After a restart of isod: follow the shims still running, record the exits that happened
 * meanwhile, and apply restart policies (DESIGN.md §3, "Reconcile at startup"). */
static void reconcile(struct ctr *c)
{
    struct iso_err err = {0};
    const char *policy = ctr_cfg_str(json_object_get(c->host, "RestartPolicy"), "Name");

    switch (c->state) {
    case ENG_CTR_RUNNING:
    case ENG_CTR_PAUSED:
        if (watch(c, &err) == 0) {
            (void)cgroup_open_or_create(c, false, &err);
            ctr_stats_started(c);
            log_info("container still running", "id=%.12s pid=%d", c->id, (int)c->pid);
            return;
        }
        handle_exit(c);
        return;
    case ENG_CTR_RESTARTING:
        c->state = ENG_CTR_EXITED;
        if (policy_restarts(c))
            schedule_restart(c);
        else
            persist(c);
        return;
    case ENG_CTR_REMOVING:
        ctr_remove_now(c, NULL, NULL, NULL);
        return;
    case ENG_CTR_EXITED:
        /* A daemon start restarts "always" containers even after docker stop, and
         * "unless-stopped" ones unless stopped by hand. */
        if (streq(policy, "always") || (streq(policy, "unless-stopped") && !c->manual_stop)) {
            c->manual_stop = false;
            schedule_restart(c);
        }
        return;
    default:
        return;
    }
}

int eng_ctrs_open(struct engine *e, struct eng_ctrs **ret, struct iso_err *err)
{
    struct eng_ctrs *cs = calloc(1, sizeof(*cs));
    struct store_ctr *rows = NULL;
    size_t n = 0;
    int r;

    if (!cs)
        return iso_err_set(err, ENOMEM, "out of memory");
    cs->shim_memfd = -1;
    eng_find_libexec(e, "isod-shim", cs->shim_path, sizeof(cs->shim_path));
    r = make_shim_memfd(cs);
    if (r < 0)
        log_warn("isod-shim unavailable: containers cannot start", "path=%s err=\"%s\"",
                 cs->shim_path, strerror(-r));
    else
        cs->shim_memfd = r;
    cs->cg_ok = rt_cgroup_detect("/sys/fs/cgroup", &cs->cg_info, err) == 0;
    if (!cs->cg_ok)
        log_warn("no usable cgroups: containers cannot start", "err=\"%s\"", err->msg);

    r = store_ctr_list(eng_store(e), &rows, &n, err);
    if (r < 0) {
        safe_close(cs->shim_memfd);
        free(cs);
        return r;
    }
    /* Rows come oldest first; the in-memory list is newest first. */
    for (size_t i = 0; i < n; i++) {
        struct ctr *c = ctr_from_row(e, &rows[i]);
        store_ctr_done(&rows[i]);
        if (!c)
            continue;
        c->next = cs->list;
        cs->list = c;
    }
    free(rows);
    *ret = cs;
    return 0;
}

void eng_ctrs_reconcile(struct engine *e)
{
    for (struct ctr *c = ctrs(e)->list, *next; c; c = next) {
        next = c->next; /* reconcile may remove c */
        reconcile(c);
    }
}

void eng_ctrs_stop(struct engine *e)
{
    ctr_stats_stop(e);
    for (struct ctr *c = ctrs(e)->list; c; c = c->next) {
        ctr_execs_stop(c);
        stop_watching(c);
        if (c->stop_timer)
            uv_close((uv_handle_t *)c->stop_timer, timer_free_cb);
        if (c->restart_timer)
            uv_close((uv_handle_t *)c->restart_timer, timer_free_cb);
        c->stop_timer = c->restart_timer = NULL;
    }
}

void eng_ctrs_free(struct eng_ctrs *cs)
{
    if (!cs)
        return;
    for (struct ctr *c = cs->list, *next; c; c = next) {
        next = c->next;
        ctr_free(c);
    }
    safe_close(cs->shim_memfd);
    free(cs);
}

void eng_ctrs_counts(struct engine *e, struct eng_counts *counts)
{
    counts->containers = counts->running = counts->paused = counts->stopped = 0;
    for (struct ctr *c = ctrs(e)->list; c; c = c->next) {
        counts->containers++;
        if (c->state == ENG_CTR_RUNNING)
            counts->running++;
        else if (c->state == ENG_CTR_PAUSED)
            counts->paused++;
        else
            counts->stopped++;
    }
}

struct ctr *ctr_list_first(struct engine *e)
{
    return ctrs(e)->list;
}
