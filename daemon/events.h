/* Engine-internal: the event bus behind eng_events_subscribe() and eng_event_emit(). */
#pragma once

#include "daemon/engine.h"

struct eng_events;

struct eng_events *eng_events_new(void);
struct eng_events *eng_events_free(struct eng_events *bus);
/* The engine's bus. */
struct eng_events *eng_events(struct engine *e);
