/* isoctl's view of the daemon on top of cli/http.h: where it is, what "cannot connect" and
 * a Docker error response ({"message": ...}) look like to the user, and JSON calls. */
#pragma once

#include <jansson.h>

#include "cli/http.h"
#include "common/err.h"

struct ctl_client {
    char *host; /* as the user gave it, for messages: "unix:///run/isod.sock" */
    char *path; /* the socket path it names */
};

/* Parses host with iso_host_parse(). Errors: EINVAL (the message says why), ENAMETOOLONG,
 * ENOMEM. Release with ctl_client_done(), also after a failure. */
int ctl_client_init(struct ctl_client *cl, const char *host, struct iso_err *err);
void ctl_client_done(struct ctl_client *cl);

/* Connects; on failure the code is connect(2)'s errno and the message reads
 * "cannot connect to isod at <host>: <reason>; is isod running?". */
int ctl_client_connect(const struct ctl_client *cl, struct ctl_http_conn **ret,
                       struct iso_err *err);

/* Connects, sends req and reads the whole response (at most CTL_HTTP_BODY_MAX) into *resp.
 * A status of 400 or more is an error whose message is the daemon's and whose code follows
 * the status (400 EINVAL, 401/403 EACCES, 404 ENOENT, 409 EEXIST, else EIO); *resp is filled
 * then too. */
int ctl_client_call(const struct ctl_client *cl, const struct ctl_http_request *req,
                    struct ctl_http_response *resp, struct iso_err *err);

/* GET target and parse the JSON body into *ret (the caller's reference). */
int ctl_client_get_json(const struct ctl_client *cl, const char *target, json_t **ret,
                        struct iso_err *err);

/* Fills err from a response with status >= 400: the "message" of Docker's error JSON, or the
 * body's text, or the status line. Returns -code. */
int ctl_client_error_from_response(const struct ctl_http_response *resp, struct iso_err *err);

/* Connects, sends req and, for a status below 400, hands the body to sink piece by piece (a
 * progress stream, an archive). A status of 400 or more is read whole and turned into err as
 * ctl_client_call() does. A response that arrives although sending a streamed body failed (the
 * daemon refused it early) is used. Errors: those of the connection, of the sink, or of the
 * response. */
int ctl_client_stream(const struct ctl_client *cl, const struct ctl_http_request *req,
                      ctl_http_sink_fn sink, void *userdata, struct iso_err *err);

/* ctl_client_call(), then the body parsed as JSON into *ret (the caller's reference; JSON null
 * for an empty body). */
int ctl_client_call_json(const struct ctl_client *cl, const struct ctl_http_request *req,
                         json_t **ret, struct iso_err *err);

/* Percent-encodes s as a query value: everything but A-Z a-z 0-9 - . _ ~ is %XX. malloc'd, NULL
 * on OOM. */
char *ctl_query_escape(const char *s);

/* Percent-encodes s for a path, as Go's url.URL does: '/', ':', '@' and the sub-delimiters stay,
 * so that "/images/localhost:5000/app:1/json" reads as docker sends it. malloc'd, NULL on OOM. */
char *ctl_path_escape(const char *s);

/* Appends "?key=value" (the first time) or "&key=value" to the malloc'd *target, value
 * query-escaped. -ENOMEM, *target then unchanged. */
int ctl_target_add(char **target, const char *key, const char *value);
