/* GET /isod/metrics: Prometheus text exposition format 0.0.4. Gauges are read from the
 * engine at scrape time; counters and histograms are kept where the work happens (requests
 * here, pulls and starts in the engine). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "common/hist.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/engine.h"

struct req_count {
    const char *route; /* a pattern of the route table (static), or "none" */
    unsigned method;
    unsigned status;
    uint64_t n;
};

/* One server per process, so statics are honest (as the cached ping response). */
static struct req_count *counts;
static size_t n_counts, cap_counts;
static struct iso_hist req_hist;

void api_metrics_request(const char *route, unsigned method, unsigned status, double seconds)
{
    if (!status)
        return; /* the client left before any answer */
    if (!route)
        route = "none";
    iso_hist_observe(&req_hist, seconds);
    for (size_t i = 0; i < n_counts; i++)
        if (counts[i].route == route && counts[i].method == method && counts[i].status == status) {
            counts[i].n++;
            return;
        }
    if (n_counts == cap_counts) {
        size_t cap = cap_counts ? cap_counts * 2 : 64;
        struct req_count *c = realloc(counts, cap * sizeof(*c));
        if (!c)
            return;
        counts = c;
        cap_counts = cap;
    }
    counts[n_counts++] = (struct req_count){route, method, status, 1};
}

void api_metrics_done(void)
{
    free(counts);
    counts = NULL;
    n_counts = cap_counts = 0;
}

static const char *method_name(unsigned m)
{
    switch (m) {
    case API_GET:
        return "GET";
    case API_HEAD:
        return "HEAD";
    case API_POST:
        return "POST";
    case API_PUT:
        return "PUT";
    case API_DELETE:
        return "DELETE";
    default:
        return "OTHER";
    }
}

/* A label value with \, " and newline escaped, as the format wants. */
static void put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_hist(FILE *f, const char *name, const char *help, const struct iso_hist *h)
{
    uint64_t cum = 0;

    header(f, name, "histogram", help);
    for (size_t i = 0; i < ISO_HIST_BOUNDS; i++) {
        cum += h->counts[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, iso_hist_bound(i), cum);
    }
    cum += h->counts[ISO_HIST_BOUNDS];
    fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    fprintf(f, "%s_sum %.9g\n", name, h->sum);
    fprintf(f, "%s_count %" PRIu64 "\n", name, h->count);
}

void api_metrics(struct api_req *req)
{
    static const enum eng_ctr_state shown[] = {
        ENG_CTR_CREATED, ENG_CTR_RUNNING,    ENG_CTR_PAUSED,
        ENG_CTR_EXITED,  ENG_CTR_RESTARTING, ENG_CTR_DEAD,
    };
    const struct eng_metrics *m = eng_metrics(req->eng);
    struct eng_ctr_census census;
    struct eng_counts c;
    struct iso_err err = {0};
    int64_t layers_bytes = 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    if (eng_counts_get(req->eng, &c, &err) < 0 ||
        eng_layers_size(req->eng, &layers_bytes, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    eng_ctr_census(req->eng, &census);
    f = open_memstream(&text, &len);
    if (!f) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }

    header(f, "isod_containers", "gauge", "Containers by state.");
    for (size_t i = 0; i < ARRAY_SIZE(shown); i++)
        fprintf(f, "isod_containers{state=\"%s\"} %" PRId64 "\n", eng_ctr_state_name(shown[i]),
                census.states[shown[i]]);
    header(f, "isod_shims", "gauge", "Container shims isod supervises.");
    fprintf(f, "isod_shims %" PRId64 "\n", census.shims);
    header(f, "isod_images", "gauge", "Images in the store.");
    fprintf(f, "isod_images %" PRId64 "\n", c.images);
    header(f, "isod_layers", "gauge", "Unpacked layers in the store.");
    fprintf(f, "isod_layers %" PRId64 "\n", c.layers);
    header(f, "isod_layers_bytes", "gauge", "Bytes of the unpacked layers on disk.");
    fprintf(f, "isod_layers_bytes %" PRId64 "\n", layers_bytes);

    header(f, "isod_http_requests_total", "counter",
           "API requests answered, by route pattern, method and status code.");
    for (size_t i = 0; i < n_counts; i++) {
        fputs("isod_http_requests_total{route=\"", f);
        put_label(f, counts[i].route);
        fprintf(f, "\",method=\"%s\",code=\"%u\"} %" PRIu64 "\n", method_name(counts[i].method),
                counts[i].status, counts[i].n);
    }
    put_hist(f, "isod_http_request_duration_seconds",
             "Time from a request to its answer (the headers of a streamed one).", &req_hist);

    header(f, "isod_pull_bytes_total", "counter",
           "Compressed layer bytes downloaded from registries.");
    fprintf(f, "isod_pull_bytes_total %" PRIu64 "\n", m->pull_bytes);
    put_hist(f, "isod_pull_duration_seconds", "Duration of image pulls, failed ones included.",
             &m->pull_duration);
    put_hist(f, "isod_container_start_duration_seconds",
             "Time from a container start request to the shim's report that it runs.",
             &m->start_duration);

    if (fclose(f) != 0 || !text) {
        free(text);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    api_reply_text(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}
