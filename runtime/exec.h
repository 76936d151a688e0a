/* docker exec: a process started inside a running container (docs/runtime.md, "Exec"). Called
 * by the shim, which is single-threaded. libc only. */
#pragma once

#include <sys/types.h>

#include "common/err.h"
#include "runtime/container.h"
#include "runtime/spec.h"

/* Starts spec->args inside the container whose init init_pidfd names: a child writes itself
 * into every cgroup_procs file (NULL-terminated, may be NULL), reads the seccomp filter, joins
 * the init's mount, pid, uts, ipc, net and cgroup namespaces and forks the process, which
 * takes spec's user (resolved in the container's /etc/passwd), env, cwd, rlimits,
 * capabilities, no_new_privs and seccomp filter and execs. Returns once the exec happened:
 * *ret_pid and *ret_pidfd (owned by the caller) name the process, a child of the caller (as
 * its subreaper: the caller must be one).
 *
 * With spec->terminal the pty is made inside the container (its own devpts, so the process
 * sees /dev/pts/N): stdio is unused and *ret_master (owned by the caller) is the master.
 *
 * On failure nothing is left running and *ret_exit_code is Docker's code: 127 for a command
 * not found, 126 for one that cannot be run, 125 for anything else; err holds the message. */
int rt_exec_start(const struct rt_spec *spec, int init_pidfd, const char *const *cgroup_procs,
                  const struct rt_stdio *stdio, pid_t *ret_pid, int *ret_pidfd, int *ret_master,
                  int *ret_exit_code, struct iso_err *err);
