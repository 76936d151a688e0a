/* Linux capabilities by name, as Docker spells them ("CAP_NET_ADMIN" or "NET_ADMIN", any
 * case, or "ALL"), and Docker's default set. libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Docker's default capabilities (moby oci/caps/defaults.go): CHOWN, DAC_OVERRIDE, FSETID,
 * FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT,
 * KILL, AUDIT_WRITE. */
uint64_t rt_caps_default(void);

/* Every capability the running kernel knows (/proc/sys/kernel/cap_last_cap). */
uint64_t rt_caps_all(void);

/* Name -> number; -EINVAL "unknown capability: 'X'". */
int rt_cap_from_name(const char *name, struct iso_err *err);

/* Number -> "CAP_X", NULL when unknown. */
const char *rt_cap_name(int cap);

/* moby's rule (TweakCapabilities): privileged gets every capability isod holds and ignores
 * add and drop; otherwise the default set minus drop ("ALL": everything) plus add, so a
 * capability both added and dropped is kept. Returns 0 with *ret, or a negative errno with
 * err filled. */
int rt_caps_compute(bool privileged, const char *const *add, size_t n_add, const char *const *drop,
                    size_t n_drop, uint64_t *ret, struct iso_err *err);
