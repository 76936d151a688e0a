/* Listening sockets: the ones systemd passes (LISTEN_FDS) or unix sockets isod binds. */
#pragma once

#include "common/err.h"

struct eng_listener {
    int fd;
    char *path; /* set when isod created the socket file and must remove it at exit */
};

/* Takes the sockets systemd passed when LISTEN_PID is our pid; unsets the variables so children
 * never see them. Returns the number of fds (0 when not socket-activated). *ret is malloc'd. */
int eng_listen_systemd(struct eng_listener **ret, struct iso_err *err);

/* Creates a listening unix socket at path: mode 0660 and group "isod" when that group exists,
 * else 0600 (the umask is set around bind, so the file never has looser bits). Refuses when a
 * live server answers on path or when path is not a socket; replaces a stale socket file. */
int eng_listen_unix(const char *path, struct eng_listener *ret, struct iso_err *err);

/* Closes the fd and removes the socket file when isod created it. */
void eng_listener_close(struct eng_listener *l);
