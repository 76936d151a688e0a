/* Seccomp profiles: Docker's JSON format and Docker's default profile, compiled with
 * libseccomp into the raw BPF program that the container init installs.
 *
 * The output file is an array of struct sock_filter in host byte order and nothing else
 * (what seccomp_export_bpf() writes, after a short prologue, see seccomp.c), at most
 * BPF_MAXINSNS instructions: install it with
 *   struct sock_fprog p = {.len = size / sizeof(struct sock_filter), .filter = buf};
 *   seccomp(SECCOMP_SET_MODE_FILTER, 0, &p);
 * The init has to read it before pivot_root, since the file lives on the host. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Compiles a profile for a container whose capability set (bounding set) is caps (bit n =
 * capability n, as in runtime/caps.h) and writes the BPF program to out_fd. profile_json
 * NULL: Docker's default profile. Like Docker, syscall names libseccomp does not know are
 * skipped, and rules whose includes/excludes (caps, arches, minKernel) do not match are
 * left out. -EINVAL with a message naming the field for a malformed profile (including an
 * unknown action and SCMP_ACT_NOTIFY, which needs an agent isod does not have). */
int eng_seccomp_compile(const char *profile_json, size_t len, uint64_t caps, int out_fd,
                        struct iso_err *err);

/* The default profile for caps, compiled once into cache_dir (created if missing) as
 * "default-<caps hex>-<tag>.bpf", where the tag hashes everything the output depends on
 * besides caps (the profile table, libseccomp's version, the kernel release, the arch), so
 * a file left by another isod build is never reused by mistake. The file is written
 * atomically (temp file, fsync, rename); a hit costs one access(2). *ret_path is malloc'd. */
int eng_seccomp_default_path(const char *cache_dir, uint64_t caps, char **ret_path,
                             struct iso_err *err);
