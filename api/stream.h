/* Streamed responses (pull progress, archives, later logs and events): the handler starts the
 * response at once and writes to it as data comes; the connection is suspended while there is
 * nothing to send, so the loop never waits. Loop thread only. */
#pragma once

#include <jansson.h>

#include "common/err.h"

struct api_req;
struct api_stream;

/* Queues the status and headers now; the body follows through api_stream_write(). Returns
 * NULL when out of memory (after replying 500). The handler keeps the producer's reference
 * until api_stream_end(). */
struct api_stream *api_stream_start(struct api_req *req, unsigned status, const char *content_type);

/* Appends to the body. -EPIPE when the client has gone (the data is dropped). */
int api_stream_write(struct api_stream *s, const void *buf, size_t len);

/* Writes one JSON value followed by "\r\n", as moby's progress streams do. Steals j. */
int api_stream_json(struct api_stream *s, json_t *j);

/* Bytes queued and not yet handed to the connection. */
size_t api_stream_pending(const struct api_stream *s);

/* cb runs (once) when the queue drains below half of `above`; for producers that pause. */
void api_stream_on_drain(struct api_stream *s, size_t above, void (*cb)(void *ud), void *ud);

/* cb runs (once) when the response is done with: the client left, the body ended, or the
 * server is shutting down. A producer that waits for events learns there to stop. */
void api_stream_on_close(struct api_stream *s, void (*cb)(void *ud), void *ud);

/* Whether the client is gone. */
bool api_stream_gone(const struct api_stream *s);

/* Ends the body after what is queued and drops the producer's reference. */
void api_stream_end(struct api_stream *s);
