/* GET /events: Docker's EventMessage objects, one JSON per line, flushed per event. since
 * replays the engine's bounded history first; until ends the stream (at once when it is past,
 * or by a timer). Filters follow moby's daemon/events/filter.go. */
#include <string.h>

#include "api/api-internal.h"
#include "api/stream.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/engine.h"

/* A client reading slower than events come is cut off past this, as a bound on memory. */
#define EVENTS_PENDING_MAX (16u << 20)

struct events_ctx {
    struct engine *e;
    struct api_stream *s;
    struct eng_sub *sub;
    json_t *filters; /* key -> array of strings */
    int64_t until_ns;
    uv_timer_t timer;
    uv_poll_t hup; /* the client's socket, for its hang-up while nothing is sent */
    int handles;   /* open uv handles; x is freed when the last one closes */
    bool timer_on, hup_on, ended;
    bool replaying, broken; /* a failure during the replay ends the stream after it */
};

/* Filter keys moby accepts for events; names of objects isod has not (networks, volumes, ...)
 * are accepted and simply never match. */
static const char *const filter_keys[] = {
    "config", "container", "daemon", "event",  "image",   "label", "network",
    "node",   "plugin",    "scope",  "secret", "service", "type",  "volume",
};
static const char *const event_types[] = {
    "builder", "config", "container", "daemon",  "image",  "network",
    "node",    "plugin", "secret",    "service", "volume",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (streq(s, list[i]))
            return true;
    return false;
}

/* Docker's filters JSON: {"key": ["v", ...]}, or the older {"key": {"v": true}}. Returns a
 * new {"key": ["v", ...]} or NULL with err set. */
static json_t *filters_parse(const char *text, struct iso_err *err)
{
    json_t *in, *out, *vals, *v;
    const char *key, *name;
    size_t i;

    in = json_loads(text, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        iso_err_set(err, EINVAL, "invalid filters: '%s'", text);
        return NULL;
    }
    out = json_object();
    json_object_foreach(in, key, vals)
    {
        json_t *list = json_array();
        if (!out || !list)
            goto oom;
        json_object_set_new(out, key, list);
        if (!in_list(key, filter_keys, ARRAY_SIZE(filter_keys))) {
            iso_err_set(err, EINVAL, "invalid filter '%s'", key);
            goto fail;
        }
        if (json_is_array(vals)) {
            json_array_foreach(vals, i, v)
            {
                if (!json_is_string(v)) {
                    iso_err_set(err, EINVAL, "invalid filters: '%s'", text);
                    goto fail;
                }
                json_array_append(list, v);
            }
        } else if (json_is_object(vals)) {
            json_object_foreach(vals, name, v)
            {
                if (json_is_true(v))
                    json_array_append_new(list, json_string(name));
            }
        } else {
            iso_err_set(err, EINVAL, "invalid filters: '%s'", text);
            goto fail;
        }
        if (streq(key, "type"))
            json_array_foreach(list, i, v)
            {
                if (!in_list(json_string_value(v), event_types, ARRAY_SIZE(event_types))) {
                    iso_err_set(err, EINVAL, "invalid filter 'type=%s'", json_string_value(v));
                    goto fail;
                }
            }
    }
    json_decref(in);
    return out;
oom:
    iso_err_set(err, ENOMEM, "out of memory");
fail:
    json_decref(in);
    json_decref(out);
    return NULL;
}

static json_t *values(const struct events_ctx *x, const char *key)
{
    json_t *list = json_object_get(x->filters, key);
    return json_array_size(list) > 0 ? list : NULL;
}

/* moby's Args.ExactMatch: true when the key has no values. */
static bool exact(const struct events_ctx *x, const char *key, const char *src)
{
    json_t *list = values(x, key), *v;
    size_t i;

    if (!list)
        return true;
    json_array_foreach(list, i, v)
    {
        if (src && streq(json_string_value(v), src))
            return true;
    }
    return false;
}

/* moby's Args.FuzzyMatch: an exact value or a prefix of src. */
static bool fuzzy(const struct events_ctx *x, const char *key, const char *src)
{
    json_t *list = values(x, key), *v;
    size_t i;

    if (!list)
        return true;
    json_array_foreach(list, i, v)
    {
        const char *want = json_string_value(v);
        if (src && strneq(src, want, strlen(want)))
            return true;
    }
    return false;
}

static const char *attr(const struct eng_event *ev, const char *key)
{
    return json_string_value(json_object_get(ev->attributes, key));
}

/* "busybox:latest" -> "busybox"; ids and digest references stay as they are (stripTag). */
static const char *strip_tag(const char *ref, char *buf, size_t size)
{
    const char *slash, *colon;

    if (!ref || strneq(ref, "sha256:", 7) || strchr(ref, '@'))
        return ref;
    slash = strrchr(ref, '/');
    colon = strrchr(slash ? slash : ref, ':');
    if (!colon)
        return ref;
    snprintf(buf, size, "%.*s", (int)(colon - ref), ref);
    return buf;
}

static bool match_labels(const struct events_ctx *x, const struct eng_event *ev)
{
    json_t *list = values(x, "label"), *v;
    size_t i;

    if (!list)
        return true;
    json_array_foreach(list, i, v)
    {
        const char *want = json_string_value(v), *eq = strchr(want, '=');
        char key[512];
        snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - want) : (int)strlen(want), want);
        const char *have = attr(ev, key);
        if (!have || (eq && !streq(have, eq + 1)))
            return false;
    }
    return true;
}

static bool match_name(const struct events_ctx *x, const char *key, const struct eng_event *ev)
{
    return fuzzy(x, key, ev->id) || fuzzy(x, key, attr(ev, "name"));
}

static bool match(const struct events_ctx *x, const struct eng_event *ev)
{
    static const char *const by_name[] = {"container", "daemon",  "plugin", "volume", "network",
                                          "node",      "service", "secret", "config"};
    const char *image = attr(ev, streq(ev->type, "image") ? "name" : "image");
    char b1[512], b2[512];

    if (!exact(x, "event", ev->action) || !exact(x, "type", ev->type) ||
        !exact(x, "scope", "local"))
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(by_name); i++)
        if (!match_name(x, by_name[i], ev))
            return false;
    if (values(x, "image") && !(exact(x, "image", ev->id) || exact(x, "image", image) ||
                                exact(x, "image", strip_tag(ev->id, b1, sizeof(b1))) ||
                                exact(x, "image", strip_tag(image, b2, sizeof(b2)))))
        return false;
    return match_labels(x, ev);
}

static void handle_closed(uv_handle_t *h)
{
    struct events_ctx *x = h->data;

    if (--x->handles == 0)
        free(x);
}

static void events_end(struct events_ctx *x, bool stream_done)
{
    if (x->ended)
        return;
    x->ended = true;
    eng_events_unsubscribe(x->sub);
    x->sub = NULL;
    json_decref(x->filters);
    x->filters = NULL;
    if (!stream_done)
        api_stream_end(x->s);
    x->s = NULL;
    if (x->timer_on)
        uv_close((uv_handle_t *)&x->timer, handle_closed);
    if (x->hup_on)
        uv_close((uv_handle_t *)&x->hup, handle_closed);
    if (x->handles == 0)
        free(x);
}

static void on_close(void *ud)
{
    /* The response is going away: api_stream_end() is not to be called any more. */
    struct events_ctx *x = ud;
    api_stream_end(x->s);
    events_end(x, true);
}

static int write_event(struct events_ctx *x, const struct eng_event *ev)
{
    int r;

    if (api_stream_gone(x->s) || api_stream_pending(x->s) > EVENTS_PENDING_MAX)
        return -EPIPE;
    /* As json.Encoder writes it: the object and a newline. */
    r = api_stream_write(x->s, ev->text, strlen(ev->text));
    if (r == 0)
        r = api_stream_write(x->s, "\n", 1);
    return r;
}

static void send_event(void *ud, const struct eng_event *ev)
{
    struct events_ctx *x = ud;

    if (x->ended || x->broken || (x->until_ns && ev->time_ns > x->until_ns) || !match(x, ev))
        return;
    if (write_event(x, ev) < 0) {
        x->broken = true;
        /* The replay goes on calling us: x must live until it returns. */
        if (!x->replaying)
            events_end(x, false);
    }
}

static void on_until(uv_timer_t *t)
{
    events_end(t->data, false);
}

/* The connection is suspended while no event comes, so MHD does not see a client leave; Go's
 * server does (its background read), and moby ends the stream then. So do we. */
static void on_hup(uv_poll_t *p, int status, int events)
{
    if (status < 0 || (events & UV_DISCONNECT))
        events_end(p->data, false);
}

static void watch_hup(struct events_ctx *x, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    if (!info || uv_poll_init(eng_loop(x->e), &x->hup, info->connect_fd) < 0)
        return; /* then the next event finds the client gone */
    x->hup.data = x;
    x->hup_on = true;
    x->handles++;
    (void)uv_poll_start(&x->hup, UV_DISCONNECT, on_hup);
}

static int parse_time(const char *s, int64_t *ret)
{
    *ret = 0;
    if (!s || !*s)
        return 0;
    return eng_parse_until(s, ret);
}

void api_events(struct api_req *req)
{
    const char *since = api_query(req, "since"), *until = api_query(req, "until");
    const char *filters = api_query(req, "filters");
    struct iso_err err = {0};
    int64_t since_ns, until_ns, now = (int64_t)iso_now_real_ns();
    struct events_ctx *x;

    if (parse_time(since, &since_ns) < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid since: '%s'", since);
        return;
    }
    if (parse_time(until, &until_ns) < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid until: '%s'", until);
        return;
    }
    if (until_ns && until_ns < since_ns) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST,
                         "`since` time (%s) cannot be after `until` time (%s)", since, until);
        return;
    }
    x = calloc(1, sizeof(*x));
    if (!x) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    x->e = req->eng;
    x->until_ns = until_ns;
    if (filters && *filters) {
        x->filters = filters_parse(filters, &err);
        if (!x->filters) {
            free(x);
            api_reply_error(req, &err);
            return;
        }
    }
    /* Headers now: docker run opens /events and waits for the 200 before it goes on. */
    x->s = api_stream_start(req, MHD_HTTP_OK, "application/json");
    if (!x->s) {
        json_decref(x->filters);
        free(x);
        return;
    }
    api_stream_on_close(x->s, on_close, x);
    /* moby replays only when since or until is given. */
    if (since_ns || until_ns) {
        x->replaying = true;
        eng_events_replay(x->e, since_ns, until_ns, send_event, x);
        x->replaying = false;
    }
    if (x->broken || (until_ns && until_ns <= now)) {
        events_end(x, false);
        return;
    }
    x->sub = eng_events_subscribe(x->e, send_event, x);
    if (!x->sub) {
        events_end(x, false);
        return;
    }
    watch_hup(x, req->conn);
    if (until_ns) {
        if (uv_timer_init(eng_loop(x->e), &x->timer) < 0) {
            events_end(x, false);
            return;
        }
        x->timer.data = x;
        x->timer_on = true;
        x->handles++;
        (void)uv_timer_start(&x->timer, on_until, (uint64_t)((until_ns - now) / 1000000) + 1, 0);
    }
}
