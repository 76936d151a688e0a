/* isod: parse settings, open the engine, listen, serve until SIGTERM/SIGINT. */
#include <signal.h>
#include <string.h>

#include <uv.h>

#include "api/server.h"
#include "common/log.h"
#include "common/util.h"
#include "build-config.h"
#include "daemon/config.h"
#include "daemon/engine.h"
#include "daemon/listen.h"
#include "daemon/notify.h"

/* In-flight requests get this long to finish after SIGTERM before connections are cut. */
#define SHUTDOWN_GRACE_MS 10000

struct daemon {
    uv_loop_t loop;
    struct eng_config cfg;
    struct engine *eng;
    struct api_server *api;
    struct eng_listener *ls;
    size_t n_ls;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t grace;
    bool stopping;
};

static void on_handle_closed(uv_handle_t *h)
{
}

static void on_api_closed(void *data)
{
    struct daemon *d = data;

    eng_stop_work(d->eng);
    uv_close((uv_handle_t *)&d->sig_term, on_handle_closed);
    uv_close((uv_handle_t *)&d->sig_int, on_handle_closed);
    uv_close((uv_handle_t *)&d->sig_hup, on_handle_closed);
    uv_close((uv_handle_t *)&d->grace, on_handle_closed);
}

static void finish_shutdown(void *data)
{
    struct daemon *d = data;

    uv_timer_stop(&d->grace);
    if (d->api) {
        struct api_server *api = d->api;
        d->api = NULL;
        api_server_free(api, on_api_closed, d);
    }
}

static void on_drained_timer(uv_timer_t *t)
{
    finish_shutdown(t->data);
}

/* The last request just ended, inside MHD's own callback: stopping MHD from there would pull
 * the rug from under it, so finish on the next loop turn. */
static void on_drained(void *data)
{
    struct daemon *d = data;
    uv_timer_start(&d->grace, on_drained_timer, 0, 0);
}

static void on_grace_timeout(uv_timer_t *t)
{
    struct daemon *d = t->data;

    log_warn("requests still running at the end of the grace period, closing them", "in_flight=%u",
             api_server_in_flight(d->api));
    finish_shutdown(d);
}

static void begin_shutdown(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    (void)eng_notify("STOPPING=1");
    log_info("shutting down", "signal=%s", why);

    /* Stop accepting, and remove the socket files at once so clients fail fast instead of
     * queueing on a socket nobody will accept from. */
    api_server_quiesce(d->api);
    for (size_t i = 0; i < d->n_ls; i++)
        eng_listener_close(&d->ls[i]);

    if (api_server_in_flight(d->api) == 0) {
        finish_shutdown(d);
        return;
    }
    api_server_on_idle(d->api, on_drained, d);
    uv_timer_start(&d->grace, on_grace_timeout, SHUTDOWN_GRACE_MS, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    struct iso_err err = {0};

    if (signum != SIGHUP) {
        begin_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
    if (!d->cfg.config_file) {
        log_info("SIGHUP: no --config file to re-read, ignoring");
        return;
    }
    if (eng_config_reload_log_level(&d->cfg, &err) < 0) {
        log_error("SIGHUP: cannot re-read the config file, keeping the log level", "error=\"%s\"",
                  err.msg);
        return;
    }
    log_set_level(d->cfg.log_level);
    log_info("log level reloaded", "level=%s", log_level_to_string(d->cfg.log_level));
}

static int open_listeners(struct daemon *d, struct iso_err *err)
{
    int r = eng_listen_systemd(&d->ls, err);
    if (r < 0)
        return r;
    if (r > 0) {
        d->n_ls = (size_t)r;
        log_info("using sockets from systemd", "count=%d", r);
        return 0;
    }

    const char *def = ISOD_DEFAULT_SOCKET;
    char *const *paths = d->cfg.n_hosts ? d->cfg.hosts : (char *const *)&def;
    size_t n = d->cfg.n_hosts ? d->cfg.n_hosts : 1;

    d->ls = calloc(n, sizeof(*d->ls));
    if (!d->ls)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        r = eng_listen_unix(paths[i], &d->ls[i], err);
        if (r < 0)
            return r;
        d->n_ls++;
        log_info("listening", "socket=%s", paths[i]);
    }
    return 0;
}

static int run(struct daemon *d, struct iso_err *err)
{
    int r;

    r = eng_new(&d->cfg, &d->loop, &d->eng, err);
    if (r < 0)
        return r;
    r = open_listeners(d, err);
    if (r < 0)
        return r;

    int *fds = calloc(d->n_ls, sizeof(int));
    if (!fds)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < d->n_ls; i++)
        fds[i] = d->ls[i].fd;
    struct api_server_opts opts = {
        .max_connections = d->cfg.max_connections,
        .idle_timeout_s = d->cfg.idle_timeout_s,
        .max_body_bytes = d->cfg.max_body_bytes,
    };
    r = api_server_new(&d->loop, d->eng, fds, d->n_ls, &opts, &d->api, err);
    free(fds);
    if (r < 0)
        return r;

    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_hup);
    uv_timer_init(&d->loop, &d->grace);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d->grace.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

    /* The sockets are listening: a connection made now is queued and answered on the first
     * loop iteration, so this is the moment to say we are ready. */
    (void)eng_notify("READY=1");
    log_info("isod ready", "version=%s root=%s pid=%d", ISOD_VERSION, d->cfg.root, (int)getpid());

    r = uv_run(&d->loop, UV_RUN_DEFAULT);
    (void)r;
    return 0;
}

int main(int argc, char **argv)
{
    struct daemon d = {0};
    struct iso_err err = {0};
    int r;

    log_open();
    r = eng_config_parse(argc, argv, &d.cfg, &err);
    if (r != 0) {
        eng_config_done(&d.cfg);
        if (r > 0)
            return 0;
        fprintf(stderr, "isod: %s\n", err.msg);
        return 2;
    }
    log_set_level(d.cfg.log_level);
    /* Writes to a client that went away must fail with EPIPE, not kill the daemon. */
    (void)signal(SIGPIPE, SIG_IGN);

    uv_loop_init(&d.loop);
    r = run(&d, &err);
    if (r < 0) {
        log_error("cannot start", "error=\"%s\"", err.msg);
        if (d.api)
            api_server_free(d.api, NULL, NULL);
        d.api = NULL;
    }
    /* Close whatever handles a failed start left, then let the loop finish them. */
    uv_run(&d.loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < d.n_ls; i++)
        eng_listener_close(&d.ls[i]);
    free(d.ls);
    eng_free(d.eng);
    if (uv_loop_close(&d.loop) < 0)
        log_debug("loop closed with open handles");
    if (r == 0)
        log_info("isod stopped");
    eng_config_done(&d.cfg);
    return r < 0 ? 1 : 0;
}
