/* docker exec: POST /containers/{id}/exec, POST /exec/{id}/start (an upgraded connection
 * spliced to the shim, as attach), POST /exec/{id}/resize, GET /exec/{id}/json. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api-internal.h"
#include "common/json.h"
#include "common/util.h"
#include "daemon/engine.h"

void api_containers_exec(struct api_req *req)
{
    _cleanup_json_ json_t *body = NULL;
    struct iso_err err = {0};
    char id[65];

    if (api_body_json(req, &body) < 0)
        return;
    if (eng_exec_create(req->eng, api_param(req, 0), body, id, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(req, MHD_HTTP_CREATED, json_pack("{s:s}", "Id", id));
}

/* A command that could not start: its message goes down the stream as moby writes it (on
 * stdout, framed without a tty), then the stream ends. */
static int failure_stream(const char *msg, bool tty)
{
    int sv[2];
    size_t len = strlen(msg) + 2;
    unsigned char hdr[8] = {1,
                            0,
                            0,
                            0,
                            (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8),
                            (unsigned char)len};

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    if ((!tty && iso_write_all(sv[1], hdr, sizeof(hdr)) < 0) ||
        iso_write_all(sv[1], msg, strlen(msg)) < 0 || iso_write_all(sv[1], "\r\n", 2) < 0) {
        close(sv[0]);
        close(sv[1]);
        return -EIO;
    }
    close(sv[1]);
    return sv[0];
}

void api_exec_start(struct api_req *req)
{
    _cleanup_json_ json_t *body = NULL;
    struct eng_exec_started st = {.fd = -1};
    struct iso_err err = {0};
    const char *id = api_param(req, 0);
    bool detach = false;
    int tty = -1, h = 0, w = 0;

    if (req->body && req->body_len > 0) {
        if (api_body_json(req, &body) < 0)
            return;
        json_t *v = json_object_get(body, "Detach");
        detach = json_is_true(v);
        v = json_object_get(body, "Tty");
        if (json_is_boolean(v))
            tty = json_is_true(v);
        v = json_object_get(body, "ConsoleSize");
        if (json_is_array(v) && json_array_size(v) == 2) {
            h = (int)json_integer_value(json_array_get(v, 0));
            w = (int)json_integer_value(json_array_get(v, 1));
        }
    }
    if (eng_exec_start(req->eng, id, detach, tty, h, w, &st, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    if (detach) {
        api_reply_empty(req, MHD_HTTP_OK);
        return;
    }
    if (st.failure) {
        st.fd = failure_stream(st.failure, st.tty);
        free(st.failure);
        if (st.fd < 0) {
            api_reply_errorf(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot report the failure");
            return;
        }
        api_upgrade_splice(req, st.fd, st.tty, NULL, NULL);
        return;
    }
    api_upgrade_splice(req, st.fd, st.tty, eng_exec_ended, id);
}

void api_exec_resize(struct api_req *req)
{
    struct iso_err err = {0};
    const char *h = api_query(req, "h"), *w = api_query(req, "w");
    int64_t hh = 0, ww = 0;

    if ((h && iso_parse_int64(h, 0, 65535, &hh) < 0) ||
        (w && iso_parse_int64(w, 0, 65535, &ww) < 0)) {
        api_reply_errorf(req, MHD_HTTP_BAD_REQUEST, "invalid size: h=%s w=%s", h ? h : "",
                         w ? w : "");
        return;
    }
    if (eng_exec_resize(req->eng, api_param(req, 0), (int)hh, (int)ww, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    api_reply_empty(req, MHD_HTTP_OK);
}

void api_exec_inspect(struct api_req *req)
{
    struct iso_err err = {0};
    json_t *j = NULL;

    if (eng_exec_inspect(req->eng, api_param(req, 0), &j, &err) < 0) {
        api_reply_error(req, &err);
        return;
    }
    api_reply_json(req, MHD_HTTP_OK, j);
}
