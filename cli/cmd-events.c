/* isoctl events: GET /events, printed as the docker CLI prints it, one line per event, as they
 * come. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/isoctl-internal.h"
#include "cli/run-opts.h"
#include "common/json.h"

struct events_out {
    char *buf; /* a line not complete yet */
    size_t len, cap;
    bool json;
};

/* jsonmessage.RFC3339NanoFixed in the local zone: "2026-12-04T14:00:00.123456789Z". */
static void print_time(int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    long off;

    if (!localtime_r(&t, &tm)) {
        printf("%" PRId64 " ", ns);
        return;
    }
    printf("%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1000000000);
    off = tm.tm_gmtoff;
    if (off == 0)
        printf("Z ");
    else
        printf("%c%02ld:%02ld ", off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
}

/* The docker CLI's prettyPrintEvent: time, type, action, actor id, sorted attributes. */
static void print_event(json_t *ev)
{
    json_t *actor = json_object_get(ev, "Actor");
    json_t *attrs = json_object_get(actor, "Attributes"), *v;
    int64_t ns = json_integer_value(json_object_get(ev, "timeNano"));
    const char *type = json_string_value(json_object_get(ev, "Type"));
    const char *action = json_string_value(json_object_get(ev, "Action"));
    const char *id = json_string_value(json_object_get(actor, "ID"));
    const char *k;
    size_t n = json_object_size(attrs), i = 0;

    if (ns == 0)
        ns = json_integer_value(json_object_get(ev, "time")) * 1000000000;
    if (ns != 0)
        print_time(ns);
    printf("%s %s %s", type ? type : "", action ? action : "", id ? id : "");
    if (n > 0) {
        const char **keys = calloc(n, sizeof(*keys));
        if (keys) {
            json_object_foreach(attrs, k, v) keys[i++] = k;
            qsort(keys, n, sizeof(*keys), ctl_cmp_str);
            printf(" (");
            for (i = 0; i < n; i++) {
                const char *s = json_string_value(json_object_get(attrs, keys[i]));
                printf("%s%s=%s", i ? ", " : "", keys[i], s ? s : "");
            }
            printf(")");
            free(keys);
        }
    }
    printf("\n");
}

static int on_line(struct events_out *o, const char *line, struct iso_err *err)
{
    json_error_t jerr;
    _cleanup_json_ json_t *ev = NULL;

    if (!*line)
        return 0;
    ev = json_loads(line, 0, &jerr);
    if (!json_is_object(ev))
        return iso_err_set(err, EBADMSG, "bad event from isod: %s", jerr.text);
    if (o->json) {
        _cleanup_free_ char *text = iso_json_dump(ev);
        if (!text)
            return iso_err_set(err, ENOMEM, "out of memory");
        printf("%s\n", text);
    } else
        print_event(ev);
    (void)fflush(stdout);
    return 0;
}

static int sink(void *ud, const char *data, size_t len, struct iso_err *err)
{
    struct events_out *o = ud;
    int r;

    if (o->len + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b)
            return iso_err_set(err, ENOMEM, "out of memory");
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    o->buf[o->len] = '\0';
    for (char *nl; (nl = memchr(o->buf, '\n', o->len));) {
        *nl = '\0';
        if (nl > o->buf && nl[-1] == '\r')
            nl[-1] = '\0';
        r = on_line(o, o->buf, err);
        if (r < 0)
            return r;
        o->len -= (size_t)(nl + 1 - o->buf);
        memmove(o->buf, nl + 1, o->len);
        o->buf[o->len] = '\0';
    }
    return 0;
}

int ctl_cmd_events(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    enum { OPT_SINCE = 256, OPT_UNTIL, OPT_FORMAT };
    static const struct option opts[] = {
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"filter", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *target = strdup("/events");
    _cleanup_json_ json_t *filters = json_object();
    struct events_out out = {0};
    const char *since = NULL, *until = NULL;
    int64_t now = (int64_t)time(NULL);
    char since_ts[64], until_ts[64];
    struct iso_err err = {0};
    int c, r;

    if (!target || !filters)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SINCE:
            since = optarg;
            break;
        case OPT_UNTIL:
            until = optarg;
            break;
        case 'f':
            r = ctl_filter_opt(cmd, filters, optarg);
            if (r != CTL_EXIT_OK)
                return r;
            break;
        case OPT_FORMAT:
            if (ctl_parse_format(cmd, optarg, &out.json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "accepts no arguments");
    /* As the docker CLI: relative times become unix times here, at the client's clock. */
    if (since && ctl_parse_timestamp(since, now, since_ts, sizeof(since_ts)) < 0)
        return ctl_usage_error(cmd, "invalid value for \"since\": '%s'", since);
    if (until && ctl_parse_timestamp(until, now, until_ts, sizeof(until_ts)) < 0)
        return ctl_usage_error(cmd, "invalid value for \"until\": '%s'", until);
    if ((since && ctl_target_add(&target, "since", since_ts) < 0) ||
        (until && ctl_target_add(&target, "until", until_ts) < 0) ||
        ctl_target_add_filters(&target, filters) < 0)
        return ctl_oom();

    const struct ctl_http_request req = {.method = "GET", .target = target};
    r = ctl_client_stream(cl, &req, sink, &out, &err);
    if (r >= 0 && out.len > 0)
        r = on_line(&out, out.buf, &err);
    free(out.buf);
    if (r < 0)
        return ctl_report(&err);
    return CTL_EXIT_OK;
}
