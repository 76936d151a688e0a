#include "runtime/caps.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

/* Indexed by capability number (linux/capability.h). */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

#define CAP(n) (UINT64_C(1) << (n))

uint64_t rt_caps_default(void)
{
    return CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_FSETID) | CAP(CAP_FOWNER) |
           CAP(CAP_MKNOD) | CAP(CAP_NET_RAW) | CAP(CAP_SETGID) | CAP(CAP_SETUID) |
           CAP(CAP_SETFCAP) | CAP(CAP_SETPCAP) | CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_SYS_CHROOT) |
           CAP(CAP_KILL) | CAP(CAP_AUDIT_WRITE);
}

uint64_t rt_caps_all(void)
{
    _cleanup_free_ char *text = NULL;
    int64_t last = (int64_t)ARRAY_SIZE(cap_names) - 1;

    if (iso_read_file_at(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", 64, &text, NULL) >= 0) {
        char *nl = strchr(text, '\n');
        if (nl)
            *nl = '\0';
        if (iso_parse_int64(text, 0, 63, &last) < 0)
            last = (int64_t)ARRAY_SIZE(cap_names) - 1;
    }
    return last >= 63 ? UINT64_MAX : CAP(last + 1) - 1;
}

int rt_cap_from_name(const char *name, struct iso_err *err)
{
    const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;

    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (strcasecmp(cap_names[i] + 4, bare) == 0)
            return (int)i;
    return iso_err_set(err, EINVAL, "unknown capability: '%s'", name);
}

const char *rt_cap_name(int cap)
{
    if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names))
        return NULL;
    return cap_names[cap];
}

static bool is_all(const char *name)
{
    return strcasecmp(name, "ALL") == 0 || strcasecmp(name, "CAP_ALL") == 0;
}

/* Parses a --cap-add/--cap-drop list into a mask, noting "ALL". */
static int caps_parse_list(const char *const *names, size_t n, uint64_t *ret, bool *ret_all,
                           struct iso_err *err)
{
    uint64_t mask = 0;
    bool all = false;

    for (size_t i = 0; i < n; i++) {
        if (is_all(names[i])) {
            all = true;
            continue;
        }
        int c = rt_cap_from_name(names[i], err);
        if (c < 0)
            return c;
        mask |= CAP(c);
    }
    *ret = mask;
    *ret_all = all;
    return 0;
}

/* moby oci/caps.TweakCapabilities: privileged gets every capability; cap-add ALL is every
 * capability but the dropped ones; cap-drop ALL leaves only the added ones; otherwise the
 * default set minus the dropped plus the added (so an add wins over a drop of the same one). */
int rt_caps_compute(bool privileged, const char *const *add, size_t n_add, const char *const *drop,
                    size_t n_drop, uint64_t *ret, struct iso_err *err)
{
    uint64_t add_mask, drop_mask, all = rt_caps_all();
    bool add_all, drop_all;
    int r;

    r = caps_parse_list(add, n_add, &add_mask, &add_all, err);
    if (r < 0)
        return r;
    r = caps_parse_list(drop, n_drop, &drop_mask, &drop_all, err);
    if (r < 0)
        return r;

    if (privileged)
        *ret = all;
    else if (add_all)
        *ret = all & ~drop_mask;
    else if (drop_all)
        *ret = add_mask & all;
    else
        *ret = ((rt_caps_default() & ~drop_mask) | add_mask) & all;
    return 0;
}
