/* Confinement shared by the container init (container.c) and exec (exec.c): the child's error
 * reporting, paths inside the root, rlimits, users, capabilities, seccomp, stdio and the exec
 * with Docker's 126/127 messages. Everything here runs in a forked child that is about to
 * exec; the functions that can fail report up the error pipe and _exit. libc only. */
#pragma once

#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/macro.h"
#include "runtime/container.h"
#include "runtime/spec.h"

/* What the child sends up the error pipe when it fails before exec. EOF without one means
 * the exec happened (the pipe is O_CLOEXEC). */
struct rt_child_msg {
    int err;
    int exit_code;
    char msg[ISO_ERR_MSG_MAX];
};

struct rt_child {
    const struct rt_spec *spec;
    const struct rt_stdio *stdio;
    int errfd;
    int rootfd;  /* the root (O_PATH): the new one before pivot_root, or "/" for exec */
    int rootmnt; /* with a user namespace: the detached root mount the parent made, or -1 */
};

struct rt_user {
    uid_t uid;
    gid_t gid;
    char home[PATH_MAX];
    gid_t groups[NGROUPS_MAX > 256 ? 256 : NGROUPS_MAX];
    size_t n_groups;
};

/* Sends the failure up the error pipe and exits with exit_code. */
_noreturn_ void rt_child_send(struct rt_child *c, int code, int exit_code, const char *msg);
/* Fails with Docker's 125 and "<step>: <strerror>". */
_noreturn_ _printf_(3, 4) void rt_child_die(struct rt_child *c, int code, const char *fmt, ...);
/* Same without the errno text, with the given exit code. */
_noreturn_ _printf_(4, 5) void rt_child_fail(struct rt_child *c, int code, int exit_code,
                                             const char *fmt, ...);

/* openat2 with RESOLVE_IN_ROOT; -errno. */
int rt_openat2_in_root(int rootfd, const char *path, int flags);
/* Opens path (O_PATH) inside the root, creating missing directories (and the last component
 * as an empty file when file is set). */
int rt_open_create_in_root(int rootfd, const char *path, bool file);

void rt_setup_rlimits(struct rt_child *c);
/* spec->user and spec->group_add, from the image's /etc/passwd and /etc/group under
 * c->rootfd. */
void rt_resolve_user(struct rt_child *c, struct rt_user *u);

const char *rt_env_get(char *const *env, const char *key);
/* The environment to exec with: spec->env plus HOME from passwd unless given. */
char **rt_child_env(struct rt_child *c, const struct rt_user *u);
/* spec->args[0] looked up in env's PATH (Docker's 127 message when missing, 126 when not
 * runnable). */
void rt_lookup_command(struct rt_child *c, char *const *env, char *ret, size_t size);
_noreturn_ void rt_exec_command(struct rt_child *c, const char *path, char *const *env);

/* Reads the compiled seccomp filter at path (before entering the container's mount
 * namespace); *ret NULL when path is NULL. */
void rt_seccomp_read(struct rt_child *c, const char *path, char **ret, size_t *ret_len);

/* Moves c->stdio onto 0, 1, 2, starts a session and takes the terminal (spec->terminal). */
void rt_setup_stdio(struct rt_child *c);

/* The last steps before the exec: close every fd but stdio and the error pipe, the bounding
 * set, the seccomp filter, groups, gid, uid, the capability sets, no_new_privs. */
void rt_child_confine(struct rt_child *c, const struct rt_user *u, const char *filter,
                      size_t filter_len);

/* Writes pid to every cgroup.procs file. */
int rt_write_cgroups(char *const *cgroups, size_t n, pid_t pid, struct iso_err *err);
