/* The HTTP side of isod: libmicrohttpd in external-epoll mode on the libuv loop, one MHD
 * daemon per listening socket. */
#pragma once

#include <uv.h>

#include "common/err.h"

struct api_server;
struct engine;

struct api_server_opts {
    unsigned max_connections;
    unsigned idle_timeout_s;
    size_t max_body_bytes;
};

/* Serves the given listening fds (borrowed; the caller closes them after api_server_free). */
int api_server_new(uv_loop_t *loop, struct engine *eng, const int *fds, size_t n_fds,
                   const struct api_server_opts *opts, struct api_server **ret,
                   struct iso_err *err);

/* Stops accepting new connections; requests already received go on. */
void api_server_quiesce(struct api_server *s);

/* Requests received and not yet answered in full. */
unsigned api_server_in_flight(const struct api_server *s);

/* Called (on the loop) whenever the in-flight count drops to zero. */
void api_server_on_idle(struct api_server *s, void (*cb)(void *data), void *data);

/* Closes every connection and the loop handles; cb runs once they are closed, after which the
 * server is freed. */
void api_server_free(struct api_server *s, void (*cb)(void *data), void *data);
