#include "daemon/engine.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <jansson.h>
#include <libgen.h>
#include <limits.h>

#include "build-config.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/config.h"
#include "daemon/containers.h"
#include "daemon/events.h"
#include "daemon/helper.h"
#include "daemon/seccomp.h"
#include "daemon/images.h"
#include "store/blob.h"
#include "store/layers.h"
#include "runtime/cgroup.h"
#include "store/db.h"

struct engine {
    uv_loop_t *loop;
    const struct eng_config *cfg;
    char *root;
    int root_fd;
    int lock_fd;
    struct store *store;
    struct store_blobs *blobs;
    struct store_layers *layers;
    char helper_path[PATH_MAX];
    char id[40];
    struct eng_sysinfo sys;
    struct eng_events *events;
    struct eng_ctrs *ctrs;
    struct eng_metrics metrics;
    bool shutting_down;
};

struct eng_metrics *eng_metrics(struct engine *e)
{
    return &e->metrics;
}

static int lock_root(struct engine *e, struct iso_err *err)
{
    _cleanup_close_ int fd = -1;
    char pid[32];

    fd = openat(e->root_fd, "isod.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "open lock file in '%s'", e->root);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            return iso_err_set_errno(err, errno, "lock '%s'", e->root);
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return iso_err_set(err, EBUSY, "root '%s' is in use by another isod (pid %s)", e->root,
                           *pid ? pid : "unknown");
    }
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        return iso_err_set_errno(err, errno, "write lock file in '%s'", e->root);
    e->lock_fd = TAKE_FD(fd);
    return 0;
}

static int load_engine_id(struct engine *e, struct iso_err *err)
{
    _cleanup_free_ char *id = NULL;
    int r;

    r = iso_read_file_at(e->root_fd, "engine-id", 64, &id, NULL);
    if (r == -ENOENT) {
        r = iso_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/uuid", 64, &id, NULL);
        if (r < 0)
            return iso_err_set_errno(err, -r, "read a new engine id");
        id[strcspn(id, "\n")] = '\0';

        /* Written whole or not at all: temp file, fsync, rename. */
        _cleanup_close_ int fd =
            openat(e->root_fd, "engine-id.tmp",
                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || iso_write_all(fd, id, strlen(id)) < 0 || fsync(fd) < 0 ||
            renameat(e->root_fd, "engine-id.tmp", e->root_fd, "engine-id") < 0)
            return iso_err_set_errno(err, errno, "write '%s/engine-id'", e->root);
    } else if (r < 0)
        return iso_err_set_errno(err, -r, "read '%s/engine-id'", e->root);
    id[strcspn(id, "\n")] = '\0';
    snprintf(e->id, sizeof(e->id), "%s", id);
    return 0;
}

static void os_pretty_name(char *buf, size_t size)
{
    _cleanup_free_ char *osr = NULL;

    snprintf(buf, size, "Linux");
    if (iso_read_file_at(AT_FDCWD, "/etc/os-release", 65536, &osr, NULL) < 0 &&
        iso_read_file_at(AT_FDCWD, "/usr/lib/os-release", 65536, &osr, NULL) < 0)
        return;
    for (char *line = strtok(osr, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strneq(line, "PRETTY_NAME=", 12))
            continue;
        char *v = line + 12;
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        snprintf(buf, size, "%s", v);
        return;
    }
}

static const char *fs_name(long type)
{
    switch (type) {
    case EXT4_SUPER_MAGIC:
        return "extfs";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case TMPFS_MAGIC:
        return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    case 0x2011BAB0: /* EXFAT_SUPER_MAGIC, absent from older headers */
        return "exfat";
    case 0x2fc12fc1: /* ZFS */
        return "zfs";
    default:
        return "unknown";
    }
}

static void gather_sysinfo(struct engine *e)
{
    struct eng_sysinfo *s = &e->sys;
    struct utsname u;
    struct sysinfo si;
    struct statfs sfs;
    struct rt_cgroup_info cg;
    struct iso_err err = {0};

    if (uname(&u) == 0) {
        snprintf(s->kernel, sizeof(s->kernel), "%s", u.release);
        snprintf(s->machine, sizeof(s->machine), "%s", u.machine);
    }
    s->go_arch = ISO_GO_ARCH; /* Docker reports the build's architecture (runtime.GOARCH) */
    os_pretty_name(s->os_name, sizeof(s->os_name));
    s->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (sysinfo(&si) == 0)
        s->mem_total = (uint64_t)si.totalram * si.mem_unit;
    snprintf(s->backing_fs, sizeof(s->backing_fs), "%s",
             fstatfs(e->root_fd, &sfs) == 0 ? fs_name((long)sfs.f_type) : "unknown");

    s->cgroup_mode = "none";
    if (rt_cgroup_detect("/sys/fs/cgroup", &cg, &err) == 0) {
        s->cgroup_version = cg.version;
        s->cgroup_mode = rt_cgroup_mode_to_string(cg.mode);
        s->memory_limit = cg.memory;
        s->swap_limit = cg.swap;
        s->cpu_cfs = cg.cpu_cfs;
        s->cpu_shares = cg.cpu_shares;
        s->cpuset = cg.cpuset;
        s->pids_limit = cg.pids;
    }
}

void eng_find_libexec(struct engine *e, const char *name, char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n > 0) {
        self[n] = '\0';
        snprintf(buf, size, "%s/%s", dirname(self), name);
        if (access(buf, X_OK) == 0)
            return;
    }
    snprintf(buf, size, "%s/%s", ISOD_LIBEXECDIR, name);
}

static int check_remap_path(struct engine *e, struct iso_err *err);

int eng_new(const struct eng_config *cfg, uv_loop_t *loop, struct engine **ret, struct iso_err *err)
{
    struct engine *e;
    int r;

    e = calloc(1, sizeof(*e));
    if (!e)
        return iso_err_set(err, ENOMEM, "out of memory");
    e->root_fd = e->lock_fd = -1;
    e->loop = loop;
    e->cfg = cfg;
    e->root = strdup(cfg->root);
    if (!e->root) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }

    /* 0700: setuid files and device nodes in image layers must be useless to host users. With
     * --userns-remap 0711 (as Docker's): the remapped root must reach its container's directory;
     * layers/ and the rest stay 0700. */
    r = iso_mkdir_p(e->root, 0700);
    if (r < 0) {
        r = iso_err_set_errno(err, -r, "create root '%s'", e->root);
        goto fail;
    }
    e->root_fd = open(e->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (e->root_fd < 0 ||
        fchmod(e->root_fd, cfg->userns_remap && *cfg->userns_remap ? 0711 : 0700) < 0) {
        r = iso_err_set_errno(err, errno, "open root '%s'", e->root);
        goto fail;
    }
    r = check_remap_path(e, err);
    if (r < 0)
        goto fail;
    r = lock_root(e, err);
    if (r < 0)
        goto fail;
    r = store_open(e->root, &e->store, err);
    if (r < 0)
        goto fail;
    r = load_engine_id(e, err);
    if (r < 0)
        goto fail;
    r = store_blobs_open(e->root_fd, &e->blobs, err);
    if (r < 0)
        goto fail;
    /* Opening wipes tmp/: whatever an interrupted pull or load left there. */
    r = store_layers_open(e->root_fd, &e->layers, err);
    if (r < 0)
        goto fail;
    r = eng_images_reconcile(e, err);
    if (r < 0)
        goto fail;
    eng_find_libexec(e, "isod-fetch", e->helper_path, sizeof(e->helper_path));
    gather_sysinfo(e);
    e->events = eng_events_new();
    if (!e->events) {
        r = iso_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    r = eng_ctrs_open(e, &e->ctrs, err);
    if (r < 0)
        goto fail;
    /* Shims outlive their first process: as a subreaper isod reaps them instead of PID 1,
     * which on some hosts is not an init that reaps. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    eng_ctrs_reconcile(e);

    *ret = e;
    return 0;
fail:
    eng_free(e);
    return r;
}

struct engine *eng_free(struct engine *e)
{
    if (!e)
        return NULL;
    eng_ctrs_free(e->ctrs);
    eng_events_free(e->events);
    store_layers_close(e->layers);
    store_blobs_close(e->blobs);
    store_close(e->store);
    safe_close(e->lock_fd); /* releases the flock */
    safe_close(e->root_fd);
    free(e->root);
    free(e);
    return NULL;
}

const struct eng_sysinfo *eng_sysinfo(const struct engine *e)
{
    return &e->sys;
}

const char *eng_root(const struct engine *e)
{
    return e->root;
}

const char *eng_id(const struct engine *e)
{
    return e->id;
}

int eng_counts_get(struct engine *e, struct eng_counts *ret, struct iso_err *err)
{
    struct store_counts c;
    int r = store_counts_get(e->store, &c, err);
    if (r < 0)
        return r;
    *ret = (struct eng_counts){
        .images = c.images,
        .layers = c.layers,
        .containers = c.containers,
        .running = c.containers_running,
        .paused = c.containers_paused,
        .stopped = c.containers_stopped,
    };
    return 0;
}

struct store *eng_store(struct engine *e)
{
    return e->store;
}

struct store_blobs *eng_blobs(struct engine *e)
{
    return e->blobs;
}

struct store_layers *eng_layers(struct engine *e)
{
    return e->layers;
}

uv_loop_t *eng_loop(struct engine *e)
{
    return e->loop;
}

const char *eng_helper_path(struct engine *e)
{
    return e->helper_path;
}

json_t *eng_insecure_registries(struct engine *e)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < e->cfg->n_insecure; i++)
        json_array_append_new(a, json_string(e->cfg->insecure_registries[i]));
    return a;
}

int eng_tmpfile(struct engine *e, const char *prefix, char **ret_path, struct iso_err *err)
{
    _cleanup_free_ char *rnd = NULL;
    size_t len;

    for (int attempt = 0; attempt < 16; attempt++) {
        free(rnd);
        rnd = NULL;
        if (iso_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/uuid", 64, &rnd, &len) < 0)
            return iso_err_set(err, EIO, "cannot make a temporary name");
        rnd[strcspn(rnd, "\n")] = '\0';
        char *path = iso_strprintf("%s/tmp/%s-%s", e->root, prefix, rnd);
        if (!path)
            return iso_err_set(err, ENOMEM, "out of memory");
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            *ret_path = path;
            return fd;
        }
        int saved = errno;
        free(path);
        if (saved != EEXIST)
            return iso_err_set_errno(err, saved, "create a temporary file in '%s/tmp'", e->root);
    }
    return iso_err_set(err, EEXIST, "cannot make a temporary file");
}

unsigned eng_max_downloads(struct engine *e)
{
    return e->cfg->max_concurrent_downloads;
}

void eng_stop_work(struct engine *e)
{
    e->shutting_down = true;
    eng_helpers_kill();
    if (e->ctrs)
        eng_ctrs_stop(e);
}

bool eng_shutting_down(struct engine *e)
{
    return e->shutting_down;
}

struct eng_events *eng_events(struct engine *e)
{
    return e->events;
}

struct eng_ctrs *eng_containers(struct engine *e)
{
    return e->ctrs;
}

const char *eng_cgroup_parent(struct engine *e)
{
    return e->cfg->cgroup_parent;
}

/* With --userns-remap the containers' inits walk to their directories as the remapped root:
 * every directory above the root must be searchable by others. */
static int check_remap_path(struct engine *e, struct iso_err *err)
{
    char path[PATH_MAX];
    struct stat st;

    if (!eng_userns_remap(e))
        return 0;
    snprintf(path, sizeof(path), "%s", e->root);
    for (char *slash; (slash = strrchr(path, '/')) && slash != path;) {
        *slash = '\0';
        if (stat(path, &st) < 0)
            return iso_err_set_errno(err, errno, "userns-remap: stat '%s'", path);
        if (!(st.st_mode & S_IXOTH))
            return iso_err_set(err, EACCES,
                               "userns-remap: '%s' must be searchable by others (o+x) for the "
                               "remapped root to reach its containers under '%s'",
                               path, e->root);
    }
    return 0;
}

const struct eng_userns *eng_userns_remap(struct engine *e)
{
    return e->cfg->userns_remap && *e->cfg->userns_remap ? &e->cfg->remap : NULL;
}

uint64_t eng_log_max_size(struct engine *e)
{
    return e->cfg->log_max_size;
}

int64_t eng_log_max_files(struct engine *e)
{
    return e->cfg->log_max_files;
}

int eng_ctr_seccomp_default(struct engine *e, uint64_t caps, char **ret_path, struct iso_err *err)
{
    char dir[PATH_MAX];

    snprintf(dir, sizeof(dir), "%s/seccomp", e->root);
    return eng_seccomp_default_path(dir, caps, ret_path, err);
}
