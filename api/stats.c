/* GET /containers/{id}/stats and GET /isod/stats. The objects come from the engine
 * (daemon/stats.c); a stream sends one now and one a second, each with the previous one's
 * cpu_stats as its precpu_stats, until the container dies, is removed or the client goes. */
#include <string.h>

#include "api/api-internal.h"
#include "api/stream.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/engine.h"

#define STATS_INTERVAL_MS 1000

struct stats_stream {
    struct engine *e;
    struct api_stream *s;
    struct eng_sub *sub;
    uv_timer_t timer;
    char id[65];
    json_t *prev_cpu;  /* cpu_stats of the previous object */
    json_t *prev_read; /* its read */
    bool ending;
};

static void stream_closed(uv_handle_t *h)
{
    struct stats_stream *st = h->data;

    json_decref(st->prev_cpu);
    json_decref(st->prev_read);
    free(st);
}

static void stream_end(struct stats_stream *st)
{
    if (st->ending)
        return;
    st->ending = true;
    eng_events_unsubscribe(st->sub);
    st->sub = NULL;
    api_stream_end(st->s);
    uv_close((uv_handle_t *)&st->timer, stream_closed);
}

static void stream_send(struct stats_stream *st)
{
    struct iso_err err = {0};
    json_t *j = NULL;
    bool run = false;

    if (st->ending)
        return;
    if (api_stream_gone(st->s) || eng_ctr_stats(st->e, st->id, false, &j, &run, &err) < 0) {
        stream_end(st);
        return;
    }
    /* moby's stream: each object's precpu is the object before it. */
    if (st->prev_cpu && run) {
        json_object_set(j, "precpu_stats", st->prev_cpu);
        json_object_set(j, "preread", st->prev_read);
    }
    json_decref(st->prev_cpu);
    json_decref(st->prev_read);
    st->prev_cpu = run ? json_incref(json_object_get(j, "cpu_stats")) : NULL;
    st->prev_read = run ? json_incref(json_object_get(j, "read")) : NULL;
    if (api_stream_json(st->s, j) < 0)
        stream_end(st);
}

static void on_tick(uv_timer_t *t)
{
    stream_send(t->data);
}

static void on_event(void *ud, const struct eng_event *ev)
{
    struct stats_stream *st = ud;

    if (!streq(ev->type, "container") || !streq(ev->id, st->id))
        return;
    if (streq(ev->action, "die") || streq(ev->action, "destroy"))
        stream_end(st);
}

static int bool_query(struct api_req *req, const char *key, bool def, bool *ret)
{
    const char *v = api_query(req, key);

    *ret = def;
    if (!v || !*v)
        return 0;
    if (iso_parse_bool(v, ret) < 0) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid value for %s: '%s'", key, v);
        return -EINVAL;
    }
    return 0;
}

void api_containers_stats(struct api_req *req)
{
    struct iso_err err = {0};
    struct stats_stream *st;
    bool stream, one_shot;
    char id[65];
    json_t *j = NULL;

    if (bool_query(req, "stream", true, &stream) < 0 ||
        bool_query(req, "one-shot", false, &one_shot) < 0)
        return;
    if (one_shot && stream) {
        /* moby's words for the same mistake. */
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "cannot have stream=true and one-shot=true");
        return;
    }
    if (eng_ctr_lookup(req->eng, api_param(req, 0), id, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    if (!stream) {
        if (eng_ctr_stats(req->eng, id, one_shot, &j, NULL, &err) < 0)
            api_reply_error(req, &err);
        else
            api_reply_json(req, MHD_HTTP_OK, j);
        return;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    st->e = req->eng;
    memcpy(st->id, id, sizeof(id));
    if (uv_timer_init(eng_loop(req->eng), &st->timer) < 0) {
        free(st);
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start a timer");
        return;
    }
    st->timer.data = st;
    st->s = api_stream_start(req, MHD_HTTP_OK, "application/json");
    if (!st->s) {
        st->ending = true;
        uv_close((uv_handle_t *)&st->timer, stream_closed);
        return;
    }
    st->sub = eng_events_subscribe(req->eng, on_event, st);
    if (!st->sub) {
        stream_end(st);
        return;
    }
    (void)uv_timer_start(&st->timer, on_tick, STATS_INTERVAL_MS, STATS_INTERVAL_MS);
    stream_send(st);
}

void api_isod_stats(struct api_req *req)
{
    struct iso_err err = {0};
    json_t *list = NULL;

    if (eng_stats_all(req->eng, &list, &err) < 0)
        api_reply_error(req, &err);
    else
        api_reply_json(req, MHD_HTTP_OK, list);
}
