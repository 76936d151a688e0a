/* Starting a container's init (DESIGN.md §4, docs/runtime.md): called by the shim, which is
 * single-threaded. libc only. */
#pragma once

#include <sys/types.h>

#include "common/err.h"
#include "runtime/spec.h"

/* The container's stdio as the shim prepared it: pipe ends or, with a terminal, the pty
 * slave three times. The child dup2()s them onto 0, 1, 2; the parent keeps them open (the
 * shim closes its copies after a successful start). */
struct rt_stdio {
    int in, out, err;
};

/* Creates the init with clone3 (CLONE_PIDFD, new pid, mnt, uts, ipc, cgroup namespaces, and
 * net when spec->net is RT_NET_NONE), writes its pid to every spec->cgroups file before it
 * runs, lets it set up (mounts, pivot_root, hostname, rlimits, user, capabilities,
 * no_new_privs, seccomp, fds) and exec, and returns once the exec happened: *ret_pid and
 * *ret_pidfd (owned by the caller) name the init.
 *
 * On failure nothing is left running and *ret_exit_code is Docker's code for the failure:
 * 127 for a command not found ('exec: "nosuch": executable file not found in $PATH'), 126
 * for one that cannot be run (permission denied, a directory), 125 for anything else; err
 * holds the message as the user should read it. */
int rt_container_start(const struct rt_spec *spec, const struct rt_stdio *stdio, pid_t *ret_pid,
                       int *ret_pidfd, int *ret_exit_code, struct iso_err *err);
