#include "daemon/listen.h"

#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/util.h"

#define SD_LISTEN_FDS_START 3

int eng_listen_systemd(struct eng_listener **ret, struct iso_err *err)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    int64_t pid, n;

    *ret = NULL;
    if (!pid_s || !fds_s)
        return 0;
    if (iso_parse_int64(pid_s, 1, INT32_MAX, &pid) < 0 || pid != getpid())
        return 0;
    if (iso_parse_int64(fds_s, 0, 64, &n) < 0)
        return iso_err_set(err, EINVAL, "invalid LISTEN_FDS '%s'", fds_s);
    (void)unsetenv("LISTEN_PID");
    (void)unsetenv("LISTEN_FDS");
    (void)unsetenv("LISTEN_FDNAMES");
    if (n == 0)
        return 0;

    struct eng_listener *l = calloc((size_t)n, sizeof(*l));
    if (!l)
        return iso_err_set(err, ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i, type = 0, listening = 0;
        socklen_t len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &(socklen_t){sizeof(int)}) < 0 ||
            !listening) {
            free(l);
            return iso_err_set(err, EINVAL,
                               "fd %d passed by systemd is not a listening stream socket", fd);
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        l[i] = (struct eng_listener){.fd = fd};
    }
    *ret = l;
    return (int)n;
}

/* 1 when something accepts connections on path, 0 when it is absent or a stale socket file
 * (removed), negative when it is something else. */
static int probe_existing(const char *path, struct iso_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    _cleanup_close_ int fd = -1;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return iso_err_set_errno(err, errno, "stat '%s'", path);
    }
    if (!S_ISSOCK(st.st_mode))
        return iso_err_set(err, EEXIST, "'%s' exists and is not a socket; refusing to replace it",
                           path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "socket");
    strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return iso_err_set(err, EADDRINUSE, "another daemon is already listening on '%s'", path);
    if (errno != ECONNREFUSED)
        return iso_err_set_errno(err, errno, "probe '%s'", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return iso_err_set_errno(err, errno, "remove stale socket '%s'", path);
    return 0;
}

int eng_listen_unix(const char *path, struct eng_listener *ret, struct iso_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *p = NULL;
    struct group *gr;
    int r;

    if (strlen(path) >= sizeof(sa.sun_path))
        return iso_err_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    r = probe_existing(path, err);
    if (r < 0)
        return r;

    p = strdup(path);
    if (!p)
        return iso_err_set(err, ENOMEM, "out of memory");
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "socket");
    strcpy(sa.sun_path, path);

    /* bind() creates the file with 0777 & ~umask: 0600 until the group is set. */
    mode_t old = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int bind_errno = errno;
    umask(old);
    if (r < 0)
        return iso_err_set_errno(err, bind_errno, "bind '%s'", path);

    gr = getgrnam("isod");
    if (gr && (chown(path, 0, gr->gr_gid) < 0 || chmod(path, 0660) < 0)) {
        r = iso_err_set_errno(err, errno, "set group 'isod' on '%s'", path);
        (void)unlink(path);
        return r;
    }
    if (listen(fd, SOMAXCONN) < 0) {
        r = iso_err_set_errno(err, errno, "listen '%s'", path);
        (void)unlink(path);
        return r;
    }
    *ret = (struct eng_listener){.fd = TAKE_FD(fd), .path = TAKE_PTR(p)};
    return 0;
}

void eng_listener_close(struct eng_listener *l)
{
    l->fd = safe_close(l->fd);
    if (l->path) {
        (void)unlink(l->path);
        free(l->path);
        l->path = NULL;
    }
}
