#include "cli/client.h"

#include <string.h>

#include "common/json.h"
#include "common/util.h"

int ctl_client_init(struct ctl_client *cl, const char *host, struct iso_err *err)
{
    *cl = (struct ctl_client){0};
    cl->host = strdup(host);
    if (!cl->host)
        return iso_err_set(err, ENOMEM, "out of memory");
    return iso_host_parse(host, &cl->path, err);
}

void ctl_client_done(struct ctl_client *cl)
{
    free(cl->host);
    free(cl->path);
    *cl = (struct ctl_client){0};
}

int ctl_client_connect(const struct ctl_client *cl, struct ctl_http_conn **ret, struct iso_err *err)
{
    struct iso_err cerr = {0};
    int r = ctl_http_connect(cl->path, ret, &cerr);

    if (r < 0)
        return iso_err_set(err, r, "cannot connect to isod at %s: %s; is isod running?", cl->host,
                           strerror(-r));
    return 0;
}

static int status_to_errno(int status)
{
    switch (status) {
    case 400:
        return EINVAL;
    case 401:
    case 403:
        return EACCES;
    case 404:
        return ENOENT;
    case 409:
        return EEXIST;
    default:
        return EIO;
    }
}

int ctl_client_error_from_response(const struct ctl_http_response *resp, struct iso_err *err)
{
    int code = status_to_errno(resp->status);
    _cleanup_json_ json_t *j = NULL;
    const char *msg = NULL;

    if (resp->body && resp->body_len > 0 &&
        iso_json_parse(resp->body, resp->body_len, &j, NULL) == 0 && json_is_object(j))
        msg = json_string_value(json_object_get(j, "message"));
    if (msg && *msg)
        return iso_err_set(err, code, "%s", msg);

    if (resp->body && resp->body_len > 0 && !j) {
        /* Not JSON: a proxy or an older daemon. Show its first line, trimmed. */
        size_t n = strcspn(resp->body, "\r\n");
        if (n > 0)
            return iso_err_set(err, code, "%.*s", (int)(n > 400 ? 400 : n), resp->body);
    }
    return iso_err_set(err, code, "isod answered %d %s", resp->status, resp->reason);
}

int ctl_client_call(const struct ctl_client *cl, const struct ctl_http_request *req,
                    struct ctl_http_response *resp, struct iso_err *err)
{
    _cleanup_http_conn_ struct ctl_http_conn *c = NULL;
    int r;

    r = ctl_client_connect(cl, &c, err);
    if (r < 0)
        return r;
    r = ctl_http_request(c, req, resp, CTL_HTTP_BODY_MAX, err);
    if (r < 0)
        return iso_err_prefix(err, "%s %s", req->method, req->target);
    if (resp->status >= 400)
        return ctl_client_error_from_response(resp, err);
    return 0;
}

int ctl_client_get_json(const struct ctl_client *cl, const char *target, json_t **ret,
                        struct iso_err *err)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    const struct ctl_http_request req = {.method = "GET", .target = target};
    int r;

    r = ctl_client_call(cl, &req, &resp, err);
    if (r < 0)
        return r;
    r = iso_json_parse(resp.body, resp.body_len, ret, err);
    if (r < 0)
        return iso_err_prefix(err, "GET %s", target);
    return 0;
}

int ctl_client_stream(const struct ctl_client *cl, const struct ctl_http_request *req,
                      ctl_http_sink_fn sink, void *userdata, struct iso_err *err)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_http_conn_ struct ctl_http_conn *c = NULL;
    int r;

    r = ctl_client_connect(cl, &c, err);
    if (r < 0)
        return r;
    r = ctl_http_send(c, req, err);
    if (r < 0) {
        /* The daemon may have answered (an error, typically) before reading the whole body. */
        if ((r != -EPIPE && r != -ECONNRESET) || ctl_http_read_head(c, &resp, NULL) < 0)
            return iso_err_prefix(err, "%s %s", req->method, req->target);
    } else {
        r = ctl_http_read_head(c, &resp, err);
        if (r < 0)
            return iso_err_prefix(err, "%s %s", req->method, req->target);
    }

    if (resp.status >= 400) {
        r = ctl_http_read_body(c, &resp, CTL_HTTP_BODY_MAX, err);
        if (r < 0)
            return iso_err_prefix(err, "%s %s", req->method, req->target);
        return ctl_client_error_from_response(&resp, err);
    }
    return ctl_http_stream_body(c, sink, userdata, err);
}

int ctl_client_call_json(const struct ctl_client *cl, const struct ctl_http_request *req,
                         json_t **ret, struct iso_err *err)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    int r;

    r = ctl_client_call(cl, req, &resp, err);
    if (r < 0)
        return r;
    if (resp.body_len == 0) {
        *ret = json_null();
        return 0;
    }
    r = iso_json_parse(resp.body, resp.body_len, ret, err);
    if (r < 0)
        return iso_err_prefix(err, "%s %s", req->method, req->target);
    return 0;
}

static char *escape(const char *s, const char *keep)
{
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1), *o = out;

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || (*p && strchr(keep, *p))) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = "0123456789ABCDEF"[*p >> 4];
            *o++ = "0123456789ABCDEF"[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *ctl_query_escape(const char *s)
{
    return escape(s, "");
}

char *ctl_path_escape(const char *s)
{
    return escape(s, "/:@!$&'()*+,;=");
}

int ctl_target_add(char **target, const char *key, const char *value)
{
    _cleanup_free_ char *v = ctl_query_escape(value);
    char *t;

    if (!v)
        return -ENOMEM;
    t = iso_strprintf("%s%c%s=%s", *target, strchr(*target, '?') ? '&' : '?', key, v);
    if (!t)
        return -ENOMEM;
    free(*target);
    *target = t;
    return 0;
}
