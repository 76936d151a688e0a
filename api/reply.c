/* Building responses: Docker's standard headers, JSON bodies and error mapping. */
#include <stdarg.h>
#include <string.h>

#include "api/api-internal.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "build-config.h"

void api_add_std_headers(struct MHD_Response *resp)
{
    (void)MHD_add_response_header(resp, "Api-Version", ISOD_API_VERSION);
    (void)MHD_add_response_header(resp, "Docker-Experimental", "false");
    (void)MHD_add_response_header(resp, "Ostype", "linux");
    (void)MHD_add_response_header(resp, "Server", "isod/" ISOD_VERSION " (linux)");
}

void api_req_answered(struct api_req *req, unsigned status)
{
    req->replied = true;
    req->status = status;
    req->reply_ns = iso_now_mono_ns();
}

/* Takes ownership of buf (malloc'd, may be NULL when len is 0). */
static void reply_buffer(struct api_req *req, unsigned status, const char *content_type, char *buf,
                         size_t len)
{
    struct MHD_Response *resp;

    if (req->replied) {
        free(buf);
        return;
    }
    api_req_answered(req, status);
    resp = MHD_create_response_from_buffer_with_free_callback(len, buf, free);
    if (!resp) {
        free(buf);
        return;
    }
    api_add_std_headers(resp);
    if (content_type)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        char allow[64] = "";
        static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
            if (req->match.allowed & (1u << i))
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                         *allow ? ", " : "", names[i]);
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    (void)MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
}

void api_reply_json(struct api_req *req, unsigned status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t len = s ? strlen(s) : 0;

    json_decref(body);
    if (!s) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    /* Docker ends JSON bodies with a newline (Go's json.Encoder); curl users see a clean
     * prompt. The buffer has room: json_dumps' NUL becomes the newline. */
    s[len++] = '\n';
    reply_buffer(req, status, "application/json", s, len);
}

void api_reply_owned(struct api_req *req, unsigned status, const char *content_type, char *buf,
                     size_t len)
{
    reply_buffer(req, status, content_type, buf, len);
}

void api_reply_text(struct api_req *req, unsigned status, const char *content_type,
                    const char *text)
{
    char *s = strdup(text);
    if (!s) {
        api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    reply_buffer(req, status, content_type, s, strlen(s));
}

void api_reply_empty(struct api_req *req, unsigned status)
{
    reply_buffer(req, status, NULL, NULL, 0);
}

static void reply_message(struct api_req *req, unsigned status, const char *msg)
{
    json_t *j = json_pack("{s:s}", "message", msg);
    if (!j) {
        reply_buffer(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0);
        return;
    }
    api_reply_json(req, status, j);
}

void api_reply_error(struct api_req *req, const struct iso_err *err)
{
    unsigned status;

    switch (err->code) {
    case ENOENT:
        status = MHD_HTTP_NOT_FOUND;
        break;
    case EEXIST:
    case EBUSY:
        status = MHD_HTTP_CONFLICT;
        break;
    case EINVAL:
        status = MHD_HTTP_BAD_REQUEST;
        break;
    default:
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        log_error("request failed", "code=%d message=\"%s\"", err->code, err->msg);
        break;
    }
    reply_message(req, status, err->msg);
}

void api_reply_errorf(struct api_req *req, unsigned status, const char *fmt, ...)
{
    char msg[ISO_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_message(req, status, msg);
}

const char *api_query(struct api_req *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool api_query_bool(struct api_req *req, const char *key)
{
    const char *v = api_query(req, key);
    bool b = false;

    return v && iso_parse_bool(v, &b) == 0 && b;
}

const char *api_param(struct api_req *req, size_t i)
{
    return i < req->match.n_params ? req->match.params[i] : NULL;
}

int api_body_json(struct api_req *req, json_t **ret)
{
    struct iso_err err = {0};
    json_t *j = NULL;
    int r;

    if (!req->body || req->body_len == 0) {
        iso_err_set(&err, EINVAL, "request body is empty; a JSON object is required");
        api_reply_error(req, &err);
        return -EINVAL;
    }
    r = iso_json_parse(req->body, req->body_len, &j, &err);
    if (r == 0 && !json_is_object(j)) {
        json_decref(j);
        r = iso_err_set(&err, EINVAL, "request body must be a JSON object");
    }
    if (r < 0) {
        api_reply_error(req, &err);
        return r;
    }
    *ret = j;
    return 0;
}
