/* Method + path pattern -> handler, after Docker's optional version prefix "/vX.Y". Pure
 * string work: no HTTP library, so it is unit-tested directly. */
#pragma once

#include "common/err.h"

enum api_method {
    API_GET = 1 << 0,
    API_HEAD = 1 << 1,
    API_POST = 1 << 2,
    API_PUT = 1 << 3,
    API_DELETE = 1 << 4,
};

struct api_req;
typedef void (*api_handler)(struct api_req *req);

/* pattern: literal segments and parameters; "{name}" matches one non-empty segment, "{name*}"
 * (at most one per pattern) one or more, slashes included, for image references such as
 * "/images/{name*}/json" with name = "127.0.0.1:5000/library/busybox:latest". */
struct api_route {
    unsigned methods;
    const char *pattern;
    api_handler handler;
    unsigned flags; /* API_BODY_* */
};

#define API_ROUTE(m, p, h)                                                                         \
    {                                                                                              \
        .methods = (m), .pattern = (p), .handler = (h)                                             \
    }

/* The body goes to a temporary file in the root, unbounded, instead of memory (docker load). */
#define API_BODY_FILE 1u

#define API_MAX_PARAMS 3
/* API versions as major * 100 + minor: 1.44 -> 144. */
#define API_VERSION_NUM(major, minor) ((major)*100 + (minor))

struct api_match {
    const struct api_route *route;
    int version; /* from the prefix, or the newest supported when there is none */
    char *buf;   /* owns the strings params point into */
    const char *params[API_MAX_PARAMS];
    size_t n_params;
    unsigned allowed; /* on -EOPNOTSUPP: the methods the path does accept */
};

/* "GET" -> API_GET; 0 for anything else. */
unsigned api_method_parse(const char *s);

/* Parses "1.44" into 144. -EINVAL when it is not "<digits>.<digits>". */
int api_version_parse(const char *s, int *ret);

/* Matches a request. Returns 0 with *ret filled (free with api_match_done), or:
 *   -EINVAL   a version prefix outside [min, max] (err holds Docker's message) -> 400
 *   -ENOENT   no route has this path -> 404
 *   -EOPNOTSUPP  a route has this path but not this method (ret->allowed says which) -> 405 */
int api_route_match(const struct api_route *routes, size_t n_routes, unsigned method,
                    const char *path, int min_version, int max_version, struct api_match *ret,
                    struct iso_err *err);

void api_match_done(struct api_match *m);
