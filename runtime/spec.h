/* The runtime spec: what isod tells the shim about one container start (docs/runtime.md,
 * "The spec file"). isod fills a struct rt_spec and writes it with rt_spec_write(); the shim
 * reads it with rt_spec_read(). libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum rt_mount_type {
    RT_MOUNT_BIND,
    RT_MOUNT_TMPFS,
};

struct rt_mount {
    enum rt_mount_type type;
    char *source;      /* host path for bind; "tmpfs" for tmpfs */
    char *destination; /* absolute, inside the container */
    char *options;     /* comma-separated: bind "ro,rbind,..."; tmpfs data "size=..,mode=.." */
};

struct rt_rlimit {
    char *name;         /* "nofile", "nproc", ... */
    int64_t soft, hard; /* -1: unlimited */
};

struct rt_attach {
    int fd;
    bool in, out, err; /* flags i, o, e */
};

/* One line of a user namespace's uid_map or gid_map. */
struct rt_idmap {
    uint32_t inside, outside, count;
};

enum rt_net {
    RT_NET_NONE,
    RT_NET_HOST,
};

struct rt_spec {
    char *id;
    char *rootfs;
    char *layers;
    char *overlay;
    bool readonly;
    char *hostname;
    char **args; /* NULL-terminated, n_args entries */
    size_t n_args;
    char **env; /* NULL-terminated */
    size_t n_env;
    char *cwd;
    char *user;
    char **group_add;
    size_t n_group_add;
    bool terminal;
    unsigned short console_rows, console_cols;
    bool stdin_open, stdin_once;
    struct rt_mount *mounts;
    size_t n_mounts;
    enum rt_net net;
    uint64_t caps;
    bool privileged;
    bool no_new_privs;
    char *seccomp; /* NULL: unconfined */
    struct rt_rlimit *rlimits;
    size_t n_rlimits;
    char **cgroups; /* cgroup.procs files */
    size_t n_cgroups;
    char *log;
    uint64_t log_max_size;
    unsigned log_max_files;
    bool init;
    struct rt_attach *attach;
    size_t n_attach;
    /* Non-empty uidmap: the init gets a new user namespace with these maps (and gidmap), and
     * the layers are presented through idmapped mounts (docs/runtime.md). */
    struct rt_idmap *uidmap, *gidmap;
    size_t n_uidmap, n_gidmap;
};

/* Parses the spec text (len bytes, need not be NUL-terminated) into *ret (zeroed first; on
 * failure nothing is left to free). -EINVAL with the line number and key for anything
 * malformed or unknown. */
int rt_spec_parse(const char *text, size_t len, struct rt_spec *ret, struct iso_err *err);

/* Reads and parses the file at path. */
int rt_spec_read(const char *path, struct rt_spec *ret, struct iso_err *err);

/* Formats spec; *ret is malloc'd and NUL-terminated. */
int rt_spec_format(const struct rt_spec *spec, char **ret, size_t *ret_len, struct iso_err *err);

/* Writes the file atomically (tmp + rename), mode 0600. */
int rt_spec_write(const struct rt_spec *spec, const char *path, struct iso_err *err);

/* Frees what the spec holds (as rt_spec_parse fills it: every string and array malloc'd) and
 * zeroes it. */
void rt_spec_done(struct rt_spec *spec);
