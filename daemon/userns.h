/* --userns-remap: the user whose subordinate ids (/etc/subuid, /etc/subgid) every container's
 * user namespace maps its root and other ids onto (docs/isod.8.scd). */
#pragma once

#include <stdint.h>

#include "common/err.h"

#define ENG_USERNS_DEFAULT_USER "isodremap"

struct eng_userns {
    char user[64], group[64];
    uint32_t uid_start, uid_count; /* first /etc/subuid range of user */
    uint32_t gid_start, gid_count; /* first /etc/subgid range of group */
};

/* Resolves "default" | USER[:GROUP] | UID[:GID] (the group defaults to the user's name, as
 * Docker does). "default" is the user isodremap, created (useradd -r, and a free range of
 * 65536 ids appended to /etc/subuid and /etc/subgid) when missing. A range must hold at least
 * 65536 ids. */
int eng_userns_resolve(const char *value, struct eng_userns *ret, struct iso_err *err);
