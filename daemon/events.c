/* The engine's event bus: subscribers (GET /events, wait, logs follow) and a bounded history
 * so that GET /events?since= can replay. Loop thread only. */
#include <jansson.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "daemon/events.h"

/* Docker keeps 256 events in memory (moby daemon/events); a few more cost little. */
#define HISTORY_MAX 1024

struct eng_sub {
    struct eng_events *bus;
    eng_event_fn fn;
    void *ud;
    bool dead;
    struct eng_sub *next;
};

/* An event of the history as GET /events sends it. Kept as text: a jansson tree of an event
 * takes about 2.5 KiB, its text under 400 bytes, and a replay (GET /events?since=) is rare. */
struct past_event {
    char *text;
    int64_t time_ns;
};

struct eng_events {
    struct eng_sub *subs;
    int emitting; /* > 0 while calling subscribers: unsubscribing only marks them */
    struct past_event history[HISTORY_MAX];
    size_t head, len;
};

struct eng_events *eng_events_new(void)
{
    return calloc(1, sizeof(struct eng_events));
}

struct eng_events *eng_events_free(struct eng_events *bus)
{
    if (!bus)
        return NULL;
    for (struct eng_sub *s = bus->subs, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    for (size_t i = 0; i < bus->len; i++)
        free(bus->history[(bus->head + i) % HISTORY_MAX].text);
    free(bus);
    return NULL;
}

struct eng_sub *eng_events_subscribe(struct engine *e, eng_event_fn fn, void *ud)
{
    struct eng_events *bus = eng_events(e);
    struct eng_sub *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    *s = (struct eng_sub){.bus = bus, .fn = fn, .ud = ud, .next = bus->subs};
    bus->subs = s;
    return s;
}

static void sweep(struct eng_events *bus)
{
    for (struct eng_sub **p = &bus->subs; *p;) {
        if ((*p)->dead) {
            struct eng_sub *d = *p;
            *p = d->next;
            free(d);
        } else
            p = &(*p)->next;
    }
}

void eng_events_unsubscribe(struct eng_sub *sub)
{
    if (!sub)
        return;
    sub->dead = true;
    if (!sub->bus->emitting)
        sweep(sub->bus);
}

static void event_from_message(json_t *msg, char *text, struct eng_event *ev)
{
    json_t *actor = json_object_get(msg, "Actor");

    *ev = (struct eng_event){
        .type = json_string_value(json_object_get(msg, "Type")),
        .action = json_string_value(json_object_get(msg, "Action")),
        .id = json_string_value(json_object_get(actor, "ID")),
        .attributes = json_object_get(actor, "Attributes"),
        .time_ns = json_integer_value(json_object_get(msg, "timeNano")),
        .message = msg,
        .text = text,
    };
}

void eng_event_emit(struct engine *e, const char *type, const char *action, const char *id,
                    json_t *attributes)
{
    struct eng_events *bus = eng_events(e);
    int64_t now = (int64_t)iso_now_real_ns();
    _cleanup_json_ json_t *msg = NULL;
    char *text;
    struct eng_event ev;

    if (!attributes)
        attributes = json_object();
    /* EventMessage (swagger L7790), plus the deprecated status/id/from fields that older
     * clients still read. */
    msg = json_pack("{s:s, s:s, s:{s:s, s:o}, s:s, s:I, s:I}", "Type", type, "Action", action,
                    "Actor", "ID", id, "Attributes", attributes, "scope", "local", "time",
                    (json_int_t)(now / 1000000000), "timeNano", (json_int_t)now);
    if (!msg)
        return;
    /* moby fills the deprecated fields for containers and images only. */
    if (streq(type, "container") || streq(type, "image")) {
        json_object_set_new(msg, "status", json_string(action));
        json_object_set_new(msg, "id", json_string(id));
        json_t *image =
            json_object_get(json_object_get(json_object_get(msg, "Actor"), "Attributes"), "image");
        if (image)
            json_object_set(msg, "from", image);
    }

    /* Out of memory: the event is lost, as an event a slow client could not take is. */
    text = json_dumps(msg, JSON_COMPACT);
    if (!text)
        return;
    if (bus->len == HISTORY_MAX) {
        free(bus->history[bus->head].text);
        bus->head = (bus->head + 1) % HISTORY_MAX;
        bus->len--;
    }
    bus->history[(bus->head + bus->len) % HISTORY_MAX] = (struct past_event){text, now};
    bus->len++;

    event_from_message(msg, text, &ev);
    bus->emitting++;
    for (struct eng_sub *s = bus->subs; s; s = s->next)
        if (!s->dead)
            s->fn(s->ud, &ev);
    bus->emitting--;
    if (!bus->emitting)
        sweep(bus);
}

void eng_events_replay(struct engine *e, int64_t since_ns, int64_t until_ns, eng_event_fn fn,
                       void *ud)
{
    struct eng_events *bus = eng_events(e);
    struct eng_event ev;

    for (size_t i = 0; i < bus->len; i++) {
        struct past_event *p = &bus->history[(bus->head + i) % HISTORY_MAX];
        _cleanup_json_ json_t *msg = NULL;

        if (p->time_ns < since_ns || (until_ns && p->time_ns > until_ns))
            continue;
        /* Only fails out of memory (isod wrote the text). */
        msg = json_loads(p->text, 0, NULL);
        if (!msg)
            continue;
        event_from_message(msg, p->text, &ev);
        fn(ud, &ev);
    }
}
