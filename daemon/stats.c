/* Container statistics as Docker's ContainerStatsResponse (GET /containers/{id}/stats and
 * GET /isod/stats), from the container's cgroup, /proc/stat and the init's network namespace.
 *
 * precpu_stats without one-shot: moby samples twice, a second apart, so that the docker CLI
 * has a CPU delta; isod answers at once instead, from a per-container cache of earlier CPU
 * samples. Samples go into it at start, at each stats call, and from a timer every
 * SAMPLER_MS while containers run; two samples are kept, at least MIN_GAP_MS apart, and
 * precpu is the newest one at least MIN_GAP_MS old (else the older one). With no sample at
 * all (a container isod reattached to after a restart, before the timer ran), precpu is the
 * current sample itself with preread = read: the docker CLI shows 0% then. Loop thread only. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/containers.h"
#include "runtime/cgroup.h"

#define SAMPLER_MS 2000
#define MIN_GAP_NS (500ULL * 1000000)
/* The timer refreshes a cache whose newest sample is older than this. */
#define STALE_NS (1500ULL * 1000000)

struct cpu_sample {
    uint64_t real_ns, mono_ns;
    uint64_t total_ns, user_ns, system_ns;
    uint64_t host_ns; /* system_cpu_usage */
    uint32_t online;
    uint64_t periods, throttled_periods, throttled_ns;
};

struct ctr_stats_cache {
    struct cpu_sample s[2]; /* newest first */
    size_t n;
};

struct ctr_stats_sampler {
    uv_timer_t timer;
    struct engine *e;
    bool running;
};

/* Host CPU time the way moby computes system_cpu_usage: the first seven fields of the "cpu"
 * line of /proc/stat (user nice system idle iowait irq softirq) in ns; online CPUs are the
 * "cpuN" lines. */
static int host_cpu(uint64_t *ret_ns, uint32_t *ret_online)
{
    _cleanup_free_ char *text = NULL;
    uint64_t ticks = 0;
    uint32_t online = 0;
    long hz = sysconf(_SC_CLK_TCK);
    int r;

    r = iso_read_file_at(AT_FDCWD, "/proc/stat", 1 << 20, &text, NULL);
    if (r < 0)
        return r;
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        if (strneq(line, "cpu ", 4)) {
            char *p = line + 4;
            for (int i = 0; i < 7; i++) {
                char *q;
                uint64_t v = strtoull(p, &q, 10);
                if (q == p)
                    break;
                ticks += v;
                p = q;
            }
        } else if (strneq(line, "cpu", 3) && line[3] >= '0' && line[3] <= '9')
            online++;
        line = end ? end + 1 : NULL;
    }
    if (hz <= 0)
        hz = 100;
    *ret_ns = ticks * (1000000000ULL / (uint64_t)hz);
    *ret_online = online;
    return 0;
}

static bool running(const struct ctr *c)
{
    return (c->state == ENG_CTR_RUNNING || c->state == ENG_CTR_PAUSED) && c->cg && !c->starting;
}

/* The host's side of a sample: read once for all the containers of one request or tick. */
struct host_sample {
    uint64_t host_ns;
    uint32_t online;
};

static int host_sample(struct host_sample *ret, struct iso_err *err)
{
    int r = host_cpu(&ret->host_ns, &ret->online);

    if (r < 0)
        return iso_err_set_errno(err, -r, "read '/proc/stat'");
    return 0;
}

static int sample(struct ctr *c, const struct host_sample *h, struct rt_cgroup_stats *st,
                  struct cpu_sample *ret, struct iso_err *err)
{
    struct cpu_sample s = {0};
    int r;

    r = rt_cgroup_stats(c->cg, st, err);
    if (r < 0)
        return r;
    s.real_ns = iso_now_real_ns();
    s.mono_ns = iso_now_mono_ns();
    s.host_ns = h->host_ns;
    s.online = h->online;
    s.total_ns = st->cpu_total_ns;
    s.user_ns = st->cpu_user_ns;
    s.system_ns = st->cpu_system_ns;
    s.periods = st->nr_periods;
    s.throttled_periods = st->throttled_periods;
    s.throttled_ns = st->throttled_time_ns;
    *ret = s;
    return 0;
}

/* The sample to use as precpu at now, or NULL. */
static const struct cpu_sample *cache_pick(const struct ctr *c, uint64_t now)
{
    const struct ctr_stats_cache *k = c->stats;

    if (!k || k->n == 0)
        return NULL;
    if (now - k->s[0].mono_ns >= MIN_GAP_NS || k->n == 1)
        return &k->s[0];
    return &k->s[1];
}

static void cache_add(struct ctr *c, const struct cpu_sample *s)
{
    struct ctr_stats_cache *k = c->stats;

    if (!k) {
        k = c->stats = calloc(1, sizeof(*k));
        if (!k)
            return;
    }
    if (k->n > 0 && s->mono_ns - k->s[0].mono_ns < MIN_GAP_NS)
        return;
    k->s[1] = k->s[0];
    k->s[0] = *s;
    if (k->n < 2)
        k->n++;
}

/* CPUStats; s NULL: Go's zero value (system_cpu_usage and online_cpus are omitempty). */
static json_t *cpu_json(const struct cpu_sample *s, const struct rt_cgroup_stats *st)
{
    static const struct cpu_sample zero = {0};
    json_t *usage, *cpu;

    if (!s)
        s = &zero;
    usage =
        json_pack("{s:I, s:I, s:I}", "total_usage", (json_int_t)s->total_ns, "usage_in_kernelmode",
                  (json_int_t)s->system_ns, "usage_in_usermode", (json_int_t)s->user_ns);
    if (usage && st && st->n_percpu) {
        json_t *per = json_array();
        for (size_t i = 0; per && i < st->n_percpu; i++)
            json_array_append_new(per, json_integer((json_int_t)st->cpu_percpu_ns[i]));
        json_object_set_new(usage, "percpu_usage", per);
    }
    cpu = json_pack("{s:o, s:{s:I, s:I, s:I}}", "cpu_usage", usage, "throttling_data", "periods",
                    (json_int_t)s->periods, "throttled_periods", (json_int_t)s->throttled_periods,
                    "throttled_time", (json_int_t)s->throttled_ns);
    if (cpu && s->host_ns)
        json_object_set_new(cpu, "system_cpu_usage", json_integer((json_int_t)s->host_ns));
    if (cpu && s->online)
        json_object_set_new(cpu, "online_cpus", json_integer((json_int_t)s->online));
    return cpu;
}

static json_t *blkio_json(json_t *service_bytes)
{
    return json_pack("{s:o, s:n, s:n, s:n, s:n, s:n, s:n, s:n}", "io_service_bytes_recursive",
                     service_bytes ? service_bytes : json_null(), "io_serviced_recursive",
                     "io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                     "io_merged_recursive", "io_time_recursive", "sectors_recursive");
}

/* moby's StatsJSON{Name, ID} for a container that does not run. */
static json_t *zero_json(const struct ctr *c)
{
    return json_pack("{s:o, s:o, s:{}, s:o, s:i, s:{}, s:o, s:o, s:{}, s:s+, s:s}", "read",
                     iso_json_time(0), "preread", iso_json_time(0), "pids_stats", "blkio_stats",
                     blkio_json(NULL), "num_procs", 0, "storage_stats", "cpu_stats",
                     cpu_json(NULL, NULL), "precpu_stats", cpu_json(NULL, NULL), "memory_stats",
                     "name", "/", c->name, "id", c->id);
}

/* Interfaces of the init's network namespace but lo, as moby lists a sandbox's endpoints;
 * NULL when there are none. */
static json_t *networks_json(const struct ctr *c)
{
    _cleanup_free_ char *text = NULL;
    char path[64];
    json_t *nets = NULL;

    if (c->pid <= 0)
        return NULL;
    snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)c->pid);
    if (iso_read_file_at(AT_FDCWD, path, 1 << 20, &text, NULL) < 0)
        return NULL;
    /* Two header lines, then "  eth0: rx_bytes rx_packets rx_errs rx_drop fifo frame
     * compressed multicast tx_bytes tx_packets tx_errs tx_drop ...". */
    for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
        unsigned long long v[16] = {0};
        char *colon;
        end = strchr(line, '\n');
        if (end)
            *end = '\0';
        colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        while (*line == ' ')
            line++;
        if (!*line || streq(line, "lo") || strchr(line, '|'))
            continue;
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                   &v[11]) != 12)
            continue;
        if (!nets && !(nets = json_object()))
            return NULL;
        json_object_set_new(nets, line,
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_bytes",
                                      (json_int_t)v[0], "rx_packets", (json_int_t)v[1], "rx_errors",
                                      (json_int_t)v[2], "rx_dropped", (json_int_t)v[3], "tx_bytes",
                                      (json_int_t)v[8], "tx_packets", (json_int_t)v[9], "tx_errors",
                                      (json_int_t)v[10], "tx_dropped", (json_int_t)v[11]));
    }
    return nets;
}

static json_t *memory_json(const struct rt_cgroup_stats *st)
{
    json_t *keys = json_object();
    json_t *mem;

    for (size_t i = 0; keys && i < st->n_memory_stat; i++)
        json_object_set_new(keys, st->memory_stat[i].key,
                            json_integer((json_int_t)st->memory_stat[i].value));
    mem = json_pack("{s:I, s:o, s:I}", "usage", (json_int_t)st->memory_usage, "stats",
                    keys ? keys : json_object(), "limit", (json_int_t)st->memory_limit);
    if (mem && st->memory_max_usage)
        json_object_set_new(mem, "max_usage", json_integer((json_int_t)st->memory_max_usage));
    return mem;
}

static json_t *io_json(const struct rt_cgroup_stats *st)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < st->n_io_devs; i++) {
        const struct rt_cgroup_io_dev *d = &st->io_devs[i];
        json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:I}", "major", (json_int_t)d->major,
                                              "minor", (json_int_t)d->minor, "op", "read", "value",
                                              (json_int_t)d->read_bytes));
        json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:I}", "major", (json_int_t)d->major,
                                              "minor", (json_int_t)d->minor, "op", "write", "value",
                                              (json_int_t)d->write_bytes));
    }
    return list;
}

static void sampler_start(struct engine *e);

/* h: the host's sample, or NULL to take one. */
static int ctr_stats_json(struct ctr *c, const struct host_sample *h, bool one_shot, json_t **ret,
                          struct iso_err *err)
{
    _cleanup_free_ struct rt_cgroup_stats *st = NULL;
    const struct cpu_sample *pre;
    struct cpu_sample now;
    json_t *j, *pids, *nets;
    int r;

    if (!running(c)) {
        j = zero_json(c);
        if (!j)
            return iso_err_set(err, ENOMEM, "out of memory");
        *ret = j;
        return 0;
    }
    st = malloc(sizeof(*st));
    if (!st)
        return iso_err_set(err, ENOMEM, "out of memory");
    struct host_sample own;
    if (!h) {
        r = host_sample(&own, err);
        if (r < 0)
            return r;
        h = &own;
    }
    r = sample(c, h, st, &now, err);
    if (r < 0)
        return r;
    pre = one_shot ? NULL : cache_pick(c, now.mono_ns);
    if (!one_shot && !pre)
        pre = &now;
    pids = json_object();
    if (pids && st->pids_current)
        json_object_set_new(pids, "current", json_integer((json_int_t)st->pids_current));
    if (pids && st->pids_limit)
        json_object_set_new(pids, "limit", json_integer((json_int_t)st->pids_limit));
    j = json_pack("{s:o, s:o, s:o, s:o, s:i, s:{}, s:o, s:o, s:o, s:s+, s:s}", "read",
                  iso_json_time(now.real_ns), "preread", iso_json_time(pre ? pre->real_ns : 0),
                  "pids_stats", pids ? pids : json_object(), "blkio_stats", blkio_json(io_json(st)),
                  "num_procs", 0, "storage_stats", "cpu_stats", cpu_json(&now, st), "precpu_stats",
                  cpu_json(pre, NULL), "memory_stats", memory_json(st), "name", "/", c->name, "id",
                  c->id);
    if (!j)
        return iso_err_set(err, ENOMEM, "out of memory");
    /* Docker reports no networks for a container on the host's network. */
    if (!streq(ctr_cfg_str(c->host, "NetworkMode"), "host") && (nets = networks_json(c)))
        json_object_set_new(j, "networks", nets);
    cache_add(c, &now);
    sampler_start(c->e);
    *ret = j;
    return 0;
}

int eng_ctr_stats(struct engine *e, const char *id, bool one_shot, json_t **ret, bool *ret_running,
                  struct iso_err *err)
{
    struct ctr *c = ctr_find(e, id, err);
    json_t *j = NULL;
    int r;

    if (!c)
        return -err->code;
    r = ctr_stats_json(c, NULL, one_shot, &j, err);
    if (r < 0)
        return r;
    if (ret_running)
        *ret_running = running(c);
    *ret = j;
    return 0;
}

int eng_stats_all(struct engine *e, json_t **ret, struct iso_err *err)
{
    _cleanup_json_ json_t *list = json_array();
    struct host_sample h;
    int r;

    if (!list)
        return iso_err_set(err, ENOMEM, "out of memory");
    r = host_sample(&h, err);
    if (r < 0)
        return r;
    for (struct ctr *c = ctr_list_first(e); c; c = c->next) {
        struct iso_err e2 = {0};
        json_t *j;
        if (!running(c))
            continue;
        /* A container that exits while we read its files is left out, not an error. */
        if (ctr_stats_json(c, &h, false, &j, &e2) < 0) {
            log_debug("no stats for a container, ignoring", "id=%.12s err=\"%s\"", c->id, e2.msg);
            continue;
        }
        json_array_append_new(list, j);
    }
    *ret = TAKE_PTR(list);
    return 0;
}

/* ---- the cache ---- */

static void sampler_tick(uv_timer_t *t)
{
    struct ctr_stats_sampler *s = t->data;
    uint64_t now = iso_now_mono_ns();
    struct host_sample h = {0};
    bool any = false, have_host = false;

    for (struct ctr *c = ctr_list_first(s->e); c; c = c->next) {
        _cleanup_free_ struct rt_cgroup_stats *st = NULL;
        struct iso_err err = {0};
        struct cpu_sample smp;

        if (!running(c))
            continue;
        any = true;
        if (c->stats && c->stats->n && now - c->stats->s[0].mono_ns < STALE_NS)
            continue;
        if (!have_host && host_sample(&h, &err) < 0)
            continue;
        have_host = true;
        st = malloc(sizeof(*st));
        if (st && sample(c, &h, st, &smp, &err) == 0)
            cache_add(c, &smp);
    }
    if (!any) {
        uv_timer_stop(t);
        s->running = false;
    }
}

static void sampler_start(struct engine *e)
{
    struct ctr_stats_sampler **sp = ctr_stats_sampler(e), *s = *sp;

    if (eng_shutting_down(e))
        return;
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return;
        if (uv_timer_init(eng_loop(e), &s->timer) < 0) {
            free(s);
            return;
        }
        s->e = e;
        s->timer.data = s;
        /* The sampler alone must not keep the loop alive. */
        uv_unref((uv_handle_t *)&s->timer);
        *sp = s;
    }
    if (!s->running && uv_timer_start(&s->timer, sampler_tick, SAMPLER_MS, SAMPLER_MS) == 0)
        s->running = true;
}

void ctr_stats_started(struct ctr *c)
{
    _cleanup_free_ struct rt_cgroup_stats *st = NULL;
    struct iso_err err = {0};
    struct host_sample h;
    struct cpu_sample s;

    if (!running(c))
        return;
    st = malloc(sizeof(*st));
    if (st && host_sample(&h, &err) == 0 && sample(c, &h, st, &s, &err) == 0) {
        /* A new run's counters start over: drop the old run's samples. */
        if (c->stats)
            c->stats->n = 0;
        cache_add(c, &s);
    }
    sampler_start(c->e);
}

void ctr_stats_forget(struct ctr *c)
{
    free(c->stats);
    c->stats = NULL;
}

static void sampler_closed(uv_handle_t *h)
{
    free(h->data);
}

void ctr_stats_stop(struct engine *e)
{
    struct ctr_stats_sampler **sp = ctr_stats_sampler(e);

    if (*sp)
        uv_close((uv_handle_t *)&(*sp)->timer, sampler_closed);
    *sp = NULL;
}
