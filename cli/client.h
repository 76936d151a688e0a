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
