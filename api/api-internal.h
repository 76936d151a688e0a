/* What the handlers of api/ share: the request, reply helpers, the route table. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <microhttpd.h>

#include "api/router.h"
#include "common/err.h"

struct api_server;
struct engine;

/* A suspended connection, known to the server so that shutdown can resume it: MHD aborts
 * when stopped with a connection still suspended. */
struct api_parked {
    struct MHD_Connection *conn;
    struct api_parked *prev, *next;
    /* Optional: called (once) when the client hangs up while the connection is parked. MHD
     * does not watch a suspended connection; the server looks every second. */
    void (*gone)(struct api_parked *p);
};

/* Suspends conn and records it; false (nothing suspended) when the server is stopping, and
 * the caller must then answer or end at once. */
bool api_server_park(struct api_server *s, struct api_parked *p, struct MHD_Connection *conn);
/* Resumes a parked connection (no-op if shutdown resumed it already). */
void api_server_unpark(struct api_server *s, struct api_parked *p);
bool api_server_stopping(const struct api_server *s);

struct api_req {
    struct MHD_Connection *conn;
    struct api_server *srv;
    void *listener; /* the MHD daemon's listener in server.c, for api_server_kick() */
    struct engine *eng;
    struct api_match match;
    unsigned method;
    char *body; /* NUL-terminated; NULL when the request had none */
    size_t body_len, body_cap;
    bool too_large;
    bool replied;
    unsigned status;             /* what was answered, for the metrics */
    uint64_t begin_ns, reply_ns; /* monotonic: request seen, answer queued */
    int body_fd;                 /* API_BODY_FILE routes: the file the body is written to */
    char *body_path; /* its path; removed when the request ends unless a handler took it */
    int body_errno;  /* writing it failed */
    /* A handler waiting for an event (api_req_defer) before it can answer. */
    void (*resume)(struct api_req *req);
    /* Called when the request ends; a handler that handed req to someone clears it there. */
    void (*cleanup)(struct api_req *req);
    void *data;
    struct api_parked parked;
};

/* A request waiting for the engine: the request and the engine's callbacks each hold it, and
 * it is freed when both let go, so neither can touch the other after it is gone (a client
 * that leaves, a shutdown that ends requests). Embed it first in the waiting state. */
struct api_wait {
    struct api_req *req; /* NULL once the request ended */
    void (*destroy)(struct api_wait *w);
    int refs;
    bool woken;
};

/* Defers req (see api_req_defer) with resume, and ties w to it. */
void api_wait_start(struct api_wait *w, struct api_req *req, void (*resume)(struct api_req *),
                    void (*destroy)(struct api_wait *w));
/* Resumes the request once (later calls do nothing), if it still exists. */
void api_wait_wake(struct api_wait *w);
/* The engine side is done with w. */
void api_wait_release(struct api_wait *w);

/* Parks the request without an answer: the connection is suspended until api_req_resume(),
 * after which cb runs and must reply (or defer again). Loop thread only. */
void api_req_defer(struct api_req *req, void (*cb)(struct api_req *req));
void api_req_resume(struct api_req *req);

/* Marks req answered with status (every MHD_queue_response goes with one). */
void api_req_answered(struct api_req *req, unsigned status);

/* Handlers reply exactly once, with one of these. */
void api_reply_json(struct api_req *req, unsigned status, json_t *body); /* steals body */
void api_reply_text(struct api_req *req, unsigned status, const char *content_type,
                    const char *text);
void api_reply_empty(struct api_req *req, unsigned status);
/* Replies with buf (malloc'd, len bytes), which it takes. */
void api_reply_owned(struct api_req *req, unsigned status, const char *content_type, char *buf,
                     size_t len);
/* {"message": ...} with the status Docker uses for the error's code (STYLE.md: ENOENT 404,
 * EEXIST/EBUSY 409, EINVAL 400, anything else 500). */
void api_reply_error(struct api_req *req, const struct iso_err *err);
void api_reply_errorf(struct api_req *req, unsigned status, const char *fmt, ...) _printf_(3, 4);

/* Query parameter or NULL. */
const char *api_query(struct api_req *req, const char *key);
/* A boolean query parameter: true only for a true value ("1", "true", ...); absent or not a
 * boolean is false. */
bool api_query_bool(struct api_req *req, const char *key);
/* The path parameter i of the route pattern. */
const char *api_param(struct api_req *req, size_t i);

/* Parses the request body as a JSON object; on error replies 400 itself and returns < 0. */
int api_body_json(struct api_req *req, json_t **ret);

/* Makes MHD look at its connections again soon: after a resume, which it does not notice on
 * its own in external-epoll mode. */
void api_server_kick(void *listener);

/* Headers every response carries, as moby's version middleware sets them. */
void api_add_std_headers(struct MHD_Response *resp);

extern const struct api_route api_routes[];
extern const size_t api_n_routes;

/* Handlers, by file. */
void api_ping(struct api_req *req);
/* Drops the cached ping response (server teardown). */
void api_ping_done(void);
void api_version(struct api_req *req);
void api_info(struct api_req *req);
void api_not_found_object(struct api_req *req);
void api_images_create(struct api_req *req);
void api_images_list(struct api_req *req);
void api_images_inspect(struct api_req *req);
void api_images_history(struct api_req *req);
void api_images_tag(struct api_req *req);
void api_images_delete(struct api_req *req);
void api_images_prune(struct api_req *req);
void api_system_df(struct api_req *req);
void api_events(struct api_req *req);
void api_metrics(struct api_req *req);
/* Counts a finished request for GET /isod/metrics: route is the matched pattern (NULL when
 * none matched), status what was answered (0: nothing), seconds the time to the answer. */
void api_metrics_request(const char *route, unsigned method, unsigned status, double seconds);
/* Frees the request counters (server teardown). */
void api_metrics_done(void);
void api_images_load(struct api_req *req);
void api_images_save(struct api_req *req);
void api_auth(struct api_req *req);
void api_containers_create(struct api_req *req);
void api_containers_list(struct api_req *req);
void api_containers_inspect(struct api_req *req);
void api_containers_start(struct api_req *req);
void api_containers_stop(struct api_req *req);
void api_containers_restart(struct api_req *req);
void api_containers_delete(struct api_req *req);
void api_containers_kill(struct api_req *req);
void api_containers_pause(struct api_req *req);
void api_containers_unpause(struct api_req *req);
void api_containers_rename(struct api_req *req);
void api_containers_resize(struct api_req *req);
void api_containers_wait(struct api_req *req);
void api_containers_top(struct api_req *req);
void api_containers_stats(struct api_req *req);
void api_isod_stats(struct api_req *req);
void api_containers_prune(struct api_req *req);
void api_containers_logs(struct api_req *req);
void api_containers_attach(struct api_req *req);
/* Ends every attach connection (server teardown: MHD cannot stop with upgraded ones open). */
void api_attach_close_all(void);
/* Called when a spliced connection's shim side is over (id as given), before the client's
 * side closes. */
typedef void (*api_splice_end_fn)(struct engine *e, const char *id);
/* Answers 101 (Upgrade: tcp; a raw stream with tty, else multiplexed) and copies bytes both
 * ways between the client and fd (taken) until fd's output ended and reached the client; then
 * ended(e, end_id) runs, if given. Replies with an error itself when it cannot. */
void api_upgrade_splice(struct api_req *req, int fd, bool tty, api_splice_end_fn ended,
                        const char *end_id);
void api_containers_exec(struct api_req *req);
void api_exec_start(struct api_req *req);
void api_exec_resize(struct api_req *req);
void api_exec_inspect(struct api_req *req);
