/* Docker's seccomp profile format, compiled with libseccomp.
 *
 * The rules follow moby (profiles/seccomp/seccomp_linux.go) and runc (libcontainer/seccomp):
 *  - a rule applies only if its includes match (every listed capability in caps, the Go arch
 *    listed, the kernel at least minKernel) and its excludes do not (no listed capability in
 *    caps, the Go arch not listed, the kernel older than minKernel);
 *  - archMap adds the entry for the native arch and its sub-architectures; the older
 *    "architectures" list adds every arch it names;
 *  - syscall names libseccomp does not know are skipped, so one profile serves every kernel
 *    and every libseccomp;
 *  - a rule whose action equals the default action is skipped (libseccomp refuses it);
 *  - conditions on distinct arguments form one rule (all must hold); when one argument has
 *    several conditions each becomes a rule of its own (any may hold), as in runc.
 * Docker's default profile is the same JSON (daemon/seccomp-default.json, embedded at build
 * time) and goes through the same code.
 *
 * The output is a short prologue (build_prologue(): ENOSYS for syscalls newer than the
 * profile) followed by what seccomp_export_bpf() writes: the arch check, the syscall
 * dispatch, the actions. cBPF jumps are relative, so the two just go one after the other.
 * No_new_privs is not part of it (SCMP_FLTATR_CTL_NNP off): the init sets it itself when the
 * container asks for it, and loads the filter either way as root. */
#include "daemon/seccomp.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <seccomp.h>

#include "common/json.h"
#include "common/util.h"
#include "daemon/seccomp-default-json.h"

/* Bumped when the compiler below changes what it writes for the same input, so that cached
 * files from an older isod are not reused. */
#define COMPILER_VERSION "isod-seccomp-1"

/* Largest program the whole output may be: BPF_MAXINSNS instructions. */
#define MAX_BPF_SIZE (BPF_MAXINSNS * sizeof(struct sock_filter))

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}
#define _cleanup_seccomp_ _cleanup_(seccomp_releasep)

/* Capability names as Docker writes them in profiles. Not rt_cap_from_name(): here an unknown
 * name is no error (a profile written for a newer kernel names capabilities this one lacks),
 * it just matches nothing. */
#define CAP(n)                                                                                     \
    {                                                                                              \
        CAP_##n, "CAP_" #n                                                                         \
    }
static const struct {
    int nr;
    const char *name;
} cap_names[] = {
    CAP(CHOWN),
    CAP(DAC_OVERRIDE),
    CAP(DAC_READ_SEARCH),
    CAP(FOWNER),
    CAP(FSETID),
    CAP(KILL),
    CAP(SETGID),
    CAP(SETUID),
    CAP(SETPCAP),
    CAP(LINUX_IMMUTABLE),
    CAP(NET_BIND_SERVICE),
    CAP(NET_BROADCAST),
    CAP(NET_ADMIN),
    CAP(NET_RAW),
    CAP(IPC_LOCK),
    CAP(IPC_OWNER),
    CAP(SYS_MODULE),
    CAP(SYS_RAWIO),
    CAP(SYS_CHROOT),
    CAP(SYS_PTRACE),
    CAP(SYS_PACCT),
    CAP(SYS_ADMIN),
    CAP(SYS_BOOT),
    CAP(SYS_NICE),
    CAP(SYS_RESOURCE),
    CAP(SYS_TIME),
    CAP(SYS_TTY_CONFIG),
    CAP(MKNOD),
    CAP(LEASE),
    CAP(AUDIT_WRITE),
    CAP(AUDIT_CONTROL),
    CAP(SETFCAP),
    CAP(MAC_OVERRIDE),
    CAP(MAC_ADMIN),
    CAP(SYSLOG),
    CAP(WAKE_ALARM),
    CAP(BLOCK_SUSPEND),
    CAP(AUDIT_READ),
    CAP(PERFMON),
    CAP(BPF),
    CAP(CHECKPOINT_RESTORE),
};
#undef CAP

/* Capability number of a profile's name ("CAP_SYS_ADMIN", or "SYS_ADMIN", any case), -1 if
 * unknown. An unknown capability cannot be in caps: includes naming one never match, and
 * excludes naming one never exclude, like moby's string comparison. */
static int cap_lookup(const char *name)
{
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (strcasecmp(cap_names[i].name + 4, name) == 0)
            return cap_names[i].nr;
    return -1;
}

/* Puts where an error is in front of its message: "syscalls[3]" and "action: unknown action"
 * become "syscalls[3].action: unknown action", and "syscalls[3]" and "name and names: ..."
 * (no field first) become "syscalls[3]: name and names: ...". */
static _printf_(2, 3) int path_prefix(struct iso_err *err, const char *fmt, ...)
{
    char path[128];
    size_t k, plen, mlen;
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);

    k = strcspn(err->msg, ": ");
    if (k == 0 || err->msg[k] != ':')
        return iso_err_prefix(err, "%s", path);
    plen = strlen(path);
    mlen = strnlen(err->msg, sizeof(err->msg) - 1);
    if (plen + 1 + mlen >= sizeof(err->msg))
        mlen = sizeof(err->msg) - 2 - plen;
    memmove(err->msg + plen + 1, err->msg, mlen);
    memcpy(err->msg, path, plen);
    err->msg[plen] = '.';
    err->msg[plen + 1 + mlen] = '\0';
    return -err->code;
}

/* What a compile depends on besides the profile. */
struct compile {
    scmp_filter_ctx ctx;
    uint64_t caps;
    unsigned kernel_major, kernel_minor;
    uint32_t default_action;
    /* The filter's arches, and for each the highest syscall number a rule that applies names
     * (-1 for none): the ENOSYS prologue's bounds. */
    struct {
        uint32_t arch;
        int max_nr;
    } arches[16];
    size_t n_arches;
};

/* "4.8" -> 4, 8; anything after the minor number ("5.10.0-21-amd64") is ignored. */
static int parse_kernel_version(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
    unsigned major, minor;
    int n = 0;

    if (sscanf(s, "%u.%u%n", &major, &minor, &n) != 2 || n == 0)
        return -EINVAL;
    *ret_major = major;
    *ret_minor = minor;
    return 0;
}

static bool kernel_at_least(const struct compile *c, unsigned major, unsigned minor)
{
    return c->kernel_major > major || (c->kernel_major == major && c->kernel_minor >= minor);
}

/* Looks up an optional array of strings; each element must be a string. */
static int get_string_array(json_t *obj, const char *key, json_t **ret, struct iso_err *err)
{
    json_t *arr = NULL, *v;
    size_t i;
    int r;

    r = iso_json_get_array(obj, key, false, &arr, err);
    if (r < 0)
        return r;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return iso_err_set(err, EINVAL, "%s[%zu]: must be a string", key, i);
    }
    *ret = arr;
    return 0;
}

static bool string_array_has(json_t *arr, const char *s)
{
    json_t *v;
    size_t i;

    json_array_foreach(arr, i, v)
    {
        if (streq(json_string_value(v), s))
            return true;
    }
    return false;
}

/* What includes or excludes ({caps, arches, minKernel}) of one rule say about this container:
 * each has_* tells whether the list was given, then all_caps (every listed capability is in
 * caps), any_cap (at least one is), arch (the Go arch is listed), kernel (the kernel is at
 * least minKernel). */
struct cond_set {
    bool has_caps, all_caps, any_cap;
    bool has_arches, arch;
    bool has_kernel, kernel;
};

static int read_cond_set(const struct compile *c, json_t *rule, const char *key,
                         struct cond_set *ret, struct iso_err *err)
{
    struct cond_set s = {.all_caps = true};
    json_t *obj = NULL, *caps = NULL, *arches = NULL, *v;
    const char *min_kernel = NULL;
    size_t i;
    int r;

    r = iso_json_get_object(rule, key, false, &obj, err);
    if (r < 0)
        return r;
    if (!obj) {
        *ret = s;
        return 0;
    }
    r = get_string_array(obj, "caps", &caps, err);
    if (r >= 0)
        r = get_string_array(obj, "arches", &arches, err);
    if (r >= 0)
        r = iso_json_get_string(obj, "minKernel", false, &min_kernel, err);
    if (r < 0)
        return path_prefix(err, "%s", key);

    if (caps && json_array_size(caps) > 0) {
        s.has_caps = true;
        json_array_foreach(caps, i, v)
        {
            int nr = cap_lookup(json_string_value(v));
            bool in = nr >= 0 && (c->caps & (UINT64_C(1) << nr));
            s.all_caps = s.all_caps && in;
            s.any_cap = s.any_cap || in;
        }
    }
    if (arches && json_array_size(arches) > 0) {
        s.has_arches = true;
        /* moby compares with Go's runtime.GOARCH, not with libseccomp's names. */
        s.arch = string_array_has(arches, ISO_GO_ARCH);
    }
    if (min_kernel && *min_kernel) {
        unsigned major, minor;

        if (parse_kernel_version(min_kernel, &major, &minor) < 0)
            return iso_err_set(err, EINVAL, "%s.minKernel: invalid kernel version '%s'", key,
                               min_kernel);
        s.has_kernel = true;
        s.kernel = kernel_at_least(c, major, minor);
    }
    *ret = s;
    return 0;
}

/* Whether a rule applies to this container, moby's order of checks. */
static int rule_applies(const struct compile *c, json_t *rule, bool *ret, struct iso_err *err)
{
    struct cond_set inc, exc;
    int r;

    r = read_cond_set(c, rule, "excludes", &exc, err);
    if (r < 0)
        return r;
    r = read_cond_set(c, rule, "includes", &inc, err);
    if (r < 0)
        return r;

    *ret = !(exc.has_arches && exc.arch) && !(exc.has_caps && exc.any_cap) &&
           !(exc.has_kernel && exc.kernel) && !(inc.has_arches && !inc.arch) &&
           !(inc.has_caps && !inc.all_caps) && !(inc.has_kernel && !inc.kernel);
    return 0;
}

/* Reads an action and its errno: action_key is required, errno_key optional. */
static int read_action(json_t *obj, const char *action_key, const char *errno_key, uint32_t *ret,
                       struct iso_err *err)
{
    static const struct {
        const char *name;
        uint32_t action;
    } plain[] = {
        {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
        {"SCMP_ACT_KILL", SCMP_ACT_KILL},
        {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
        {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
        {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
        {"SCMP_ACT_LOG", SCMP_ACT_LOG},
    };
    const char *name = NULL;
    int64_t errno_ret = -1;
    bool has_errno;
    int r;

    r = iso_json_get_string(obj, action_key, true, &name, err);
    if (r < 0)
        return r;
    r = iso_json_get_int(obj, errno_key, false, &errno_ret, err);
    if (r < 0)
        return r;
    has_errno = json_object_get(obj, errno_key) && !json_is_null(json_object_get(obj, errno_key));
    if (has_errno && (errno_ret < 0 || errno_ret > 4095))
        return iso_err_set(err, EINVAL, "%s: %" PRId64 " is not an errno value (0 to 4095)",
                           errno_key, errno_ret);

    if (streq(name, "SCMP_ACT_ERRNO") || streq(name, "SCMP_ACT_TRACE")) {
        /* Docker's default for both when no errno is given. */
        uint16_t e = has_errno ? (uint16_t)errno_ret : EPERM;
        *ret = streq(name, "SCMP_ACT_ERRNO") ? SCMP_ACT_ERRNO(e) : SCMP_ACT_TRACE(e);
        return 0;
    }
    if (streq(name, "SCMP_ACT_NOTIFY"))
        return iso_err_set(err, EINVAL,
                           "%s: SCMP_ACT_NOTIFY needs a seccomp agent, which isod does not have",
                           action_key);
    for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
        if (!streq(name, plain[i].name))
            continue;
        if (has_errno)
            return iso_err_set(err, EINVAL, "%s: only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE",
                               errno_key);
        *ret = plain[i].action;
        return 0;
    }
    return iso_err_set(err, EINVAL, "%s: unknown action '%s'", action_key, name);
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token, 0 when libseccomp does not know the name. */
static uint32_t arch_resolve(const char *name)
{
    char lower[64];
    size_t i;

    if (strneq(name, "SCMP_ARCH_", 10))
        name += 10;
    for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
        lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
    if (name[i])
        return 0;
    lower[i] = '\0';
    return seccomp_arch_resolve_name(lower);
}

static int arch_add(struct compile *c, const char *name, const char *field, struct iso_err *err)
{
    uint32_t arch = arch_resolve(name);
    int r;

    if (arch == 0)
        return iso_err_set(err, EINVAL, "%s: unknown architecture '%s'", field, name);
    r = seccomp_arch_add(c->ctx, arch);
    if (r == -EEXIST)
        return 0;
    if (r < 0)
        return iso_err_set_errno(err, r, "%s: add architecture '%s'", field, name);
    if (c->n_arches >= ARRAY_SIZE(c->arches))
        return iso_err_set(err, EINVAL, "%s: too many architectures", field);
    c->arches[c->n_arches].arch = arch;
    c->arches[c->n_arches].max_nr = -1;
    c->n_arches++;
    return 0;
}

static int add_arches(struct compile *c, json_t *profile, struct iso_err *err)
{
    json_t *list = NULL, *map = NULL, *v;
    uint32_t native = seccomp_arch_native();
    char field[96];
    size_t i;
    int r;

    r = get_string_array(profile, "architectures", &list, err);
    if (r < 0)
        return r;
    r = iso_json_get_array(profile, "archMap", false, &map, err);
    if (r < 0)
        return r;
    if (json_array_size(list) > 0 && json_array_size(map) > 0)
        return iso_err_set(err, EINVAL, "architectures and archMap: give one or the other");

    json_array_foreach(list, i, v)
    {
        snprintf(field, sizeof(field), "architectures[%zu]", i);
        r = arch_add(c, json_string_value(v), field, err);
        if (r < 0)
            return r;
    }

    json_array_foreach(map, i, v)
    {
        const char *arch = NULL;
        json_t *subs = NULL, *sub;
        size_t j;

        r = iso_json_get_string(v, "architecture", true, &arch, err);
        if (r >= 0)
            r = get_string_array(v, "subArchitectures", &subs, err);
        if (r < 0)
            return path_prefix(err, "archMap[%zu]", i);
        /* Entries for other arches are not even resolved: libseccomp may not know them. */
        if (arch_resolve(arch) != native)
            continue;
        json_array_foreach(subs, j, sub)
        {
            snprintf(field, sizeof(field), "archMap[%zu].subArchitectures[%zu]", i, j);
            r = arch_add(c, json_string_value(sub), field, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int read_arg(json_t *a, struct scmp_arg_cmp *ret, struct iso_err *err)
{
    static const struct {
        const char *name;
        enum scmp_compare op;
    } ops[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    int64_t index = 0, value = 0, value_two = 0;
    const char *op = NULL;
    int r;

    r = iso_json_get_int(a, "index", true, &index, err);
    if (r >= 0)
        r = iso_json_get_int(a, "value", false, &value, err);
    if (r >= 0)
        r = iso_json_get_int(a, "valueTwo", false, &value_two, err);
    if (r >= 0)
        r = iso_json_get_string(a, "op", true, &op, err);
    if (r < 0)
        return r;
    /* jansson's integers are signed 64 bits; Docker's are unsigned. */
    if (index < 0 || index > 5)
        return iso_err_set(err, EINVAL, "index: %" PRId64 " is not an argument index (0 to 5)",
                           index);
    if (value < 0)
        return iso_err_set(err, EINVAL, "value: must not be negative");
    if (value_two < 0)
        return iso_err_set(err, EINVAL, "valueTwo: must not be negative");

    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        if (streq(op, ops[i].name)) {
            /* For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the datum, as in
             * libseccomp's SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, datum). */
            *ret = (struct scmp_arg_cmp){
                .arg = (unsigned)index,
                .op = ops[i].op,
                .datum_a = (scmp_datum_t)value,
                .datum_b = (scmp_datum_t)value_two,
            };
            return 0;
        }
    }
    return iso_err_set(err, EINVAL, "op: unknown operator '%s'", op);
}

static int rule_add(struct compile *c, uint32_t action, const char *name, int nr,
                    const struct scmp_arg_cmp *cmps, unsigned n, struct iso_err *err)
{
    int r = seccomp_rule_add_array(c->ctx, action, nr, n, cmps);

    if (r < 0)
        return iso_err_set_errno(err, r, "syscall '%s': add rule", name);
    return 0;
}

/* Raises each arch's highest syscall number for name. Negative numbers are libseccomp's
 * pseudo syscalls (a name the arch lacks, or socketcall multiplexing). */
static void note_syscall(struct compile *c, const char *name)
{
    for (size_t i = 0; i < c->n_arches; i++) {
        int nr = seccomp_syscall_resolve_name_arch(c->arches[i].arch, name);
        if (nr > c->arches[i].max_nr)
            c->arches[i].max_nr = nr;
    }
}

static int add_syscall(struct compile *c, json_t *rule, struct iso_err *err)
{
    struct scmp_arg_cmp cmps[6];
    json_t *names = NULL, *args = NULL, *v;
    const char *single = NULL;
    uint32_t action;
    bool applies, same_index = false;
    unsigned n_args = 0;
    size_t i;
    int r;

    if (!json_is_object(rule))
        return iso_err_set(err, EINVAL, "must be an object");
    r = read_action(rule, "action", "errnoRet", &action, err);
    if (r < 0)
        return r;
    r = get_string_array(rule, "names", &names, err);
    if (r < 0)
        return r;
    /* The older form, one name per rule. */
    r = iso_json_get_string(rule, "name", false, &single, err);
    if (r < 0)
        return r;
    if (single && json_array_size(names) > 0)
        return iso_err_set(err, EINVAL, "name and names: give one or the other");

    r = iso_json_get_array(rule, "args", false, &args, err);
    if (r < 0)
        return r;
    if (json_array_size(args) > ARRAY_SIZE(cmps))
        return iso_err_set(err, EINVAL, "args: at most %zu conditions", ARRAY_SIZE(cmps));
    json_array_foreach(args, i, v)
    {
        r = read_arg(v, &cmps[n_args], err);
        if (r < 0)
            return path_prefix(err, "args[%zu]", i);
        for (unsigned j = 0; j < n_args; j++)
            if (cmps[j].arg == cmps[n_args].arg)
                same_index = true;
        n_args++;
    }

    /* Checked after the whole rule is read, so that a malformed rule is an error even where
     * it does not apply. */
    r = rule_applies(c, rule, &applies, err);
    if (r < 0)
        return r;
    if (!applies)
        return 0;
    /* libseccomp refuses such a rule, but the name still counts for the prologue. */
    if (action == c->default_action) {
        for (i = 0; i < (single ? 1 : json_array_size(names)); i++)
            note_syscall(c, single ? single : json_string_value(json_array_get(names, i)));
        return 0;
    }

    for (i = 0; i < (single ? 1 : json_array_size(names)); i++) {
        const char *name = single ? single : json_string_value(json_array_get(names, i));
        int nr = seccomp_syscall_resolve_name(name);

        if (nr == __NR_SCMP_ERROR)
            continue;
        note_syscall(c, name);
        if (!same_index) {
            r = rule_add(c, action, name, nr, cmps, n_args, err);
            if (r < 0)
                return r;
            continue;
        }
        for (unsigned j = 0; j < n_args; j++) {
            r = rule_add(c, action, name, nr, &cmps[j], 1, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* x32 syscalls come with AUDIT_ARCH_X86_64 and this bit set in the number. */
#define X32_SYSCALL_BIT 0x40000000U

/* The prologue, as in runc (libcontainer/seccomp/patchbpf): a syscall numbered above
 * everything the profile names is newer than the profile, and gets ENOSYS instead of the
 * default action. A libc then falls back to the older call it replaces (glibc's fchmodat2 ->
 * fchmodat, clone3 -> clone) instead of failing on EPERM. Nothing is added when the default
 * allows, logs or traces. x32 numbers (rare, and numbered above the x86_64 range) go straight
 * to libseccomp's program. Returns the instruction count; p has room for PROLOGUE_MAX. */
#define PROLOGUE_MAX (3 + 4 * ARRAY_SIZE(((struct compile *)0)->arches))

static size_t build_prologue(const struct compile *c, struct sock_filter *p)
{
    size_t n = 0, total = 3, enosys, prog;
    uint32_t act = c->default_action & SECCOMP_RET_ACTION_FULL;

    if (act == SECCOMP_RET_ALLOW || act == SECCOMP_RET_LOG || act == SECCOMP_RET_TRACE)
        return 0;
    for (size_t i = 0; i < c->n_arches; i++)
        if (c->arches[i].max_nr >= 0 && c->arches[i].arch != SCMP_ARCH_X32)
            total += c->arches[i].arch == SCMP_ARCH_X86_64 ? 4 : 3;
    if (total == 3)
        return 0;
    enosys = total - 1;
    prog = total;

    /* A holds the arch until a block matches; a matched block ends in enosys or prog. */
    p[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    for (size_t i = 0; i < c->n_arches; i++) {
        uint32_t arch = c->arches[i].arch;
        bool x86_64 = arch == SCMP_ARCH_X86_64;

        if (c->arches[i].max_nr < 0 || arch == SCMP_ARCH_X32)
            continue;
        /* SCMP_ARCH_* are the AUDIT_ARCH_* values the kernel puts in seccomp_data.arch. */
        p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, x86_64 ? 3 : 2);
        n++;
        p[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, nr));
        if (x86_64) {
            p[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT,
                                                (uint8_t)(prog - n - 1), 0);
            n++;
        }
        p[n] =
            (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)c->arches[i].max_nr,
                                         (uint8_t)(enosys - n - 1), (uint8_t)(prog - n - 1));
        n++;
    }
    p[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA | BPF_K, 1, 0, 0);
    p[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SCMP_ACT_ERRNO(ENOSYS));
    assert(n == total);
    return n;
}

/* Exports into memory first, to check the size before anything reaches out_fd. */
static int export_bpf(const struct compile *c, int out_fd, struct iso_err *err)
{
    struct sock_filter prologue[PROLOGUE_MAX];
    size_t n_prologue = build_prologue(c, prologue);
    size_t size, psize = n_prologue * sizeof(struct sock_filter);
    _cleanup_close_ int mfd = -1;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    ssize_t n;
    int r;

    mfd = memfd_create("isod-seccomp", MFD_CLOEXEC);
    if (mfd < 0)
        return iso_err_set_errno(err, errno, "memfd_create");
    r = seccomp_export_bpf(c->ctx, mfd);
    if (r < 0)
        return iso_err_set_errno(err, r, "export seccomp filter");
    if (fstat(mfd, &st) < 0)
        return iso_err_set_errno(err, errno, "stat seccomp filter");
    if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
        return iso_err_set(err, EIO, "libseccomp wrote a filter of %jd bytes",
                           (intmax_t)st.st_size);
    size = psize + (size_t)st.st_size;
    if (size > MAX_BPF_SIZE)
        return iso_err_set(err, E2BIG,
                           "seccomp profile: the filter has %zu instructions, the kernel "
                           "takes at most %d",
                           size / sizeof(struct sock_filter), BPF_MAXINSNS);

    buf = malloc(size);
    if (!buf)
        return iso_err_set(err, ENOMEM, "out of memory");
    memcpy(buf, prologue, psize);
    n = pread(mfd, buf + psize, (size_t)st.st_size, 0);
    if (n != st.st_size)
        return iso_err_set_errno(err, n < 0 ? errno : EIO, "read seccomp filter");
    r = iso_write_all(out_fd, buf, size);
    if (r < 0)
        return iso_err_set_errno(err, r, "write seccomp filter");
    return 0;
}

static int compile_json(json_t *profile, uint64_t caps, int out_fd, struct iso_err *err)
{
    _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
    struct compile c = {.caps = caps};
    struct utsname u;
    json_t *syscalls = NULL, *v;
    size_t i;
    int r;

    if (!json_is_object(profile))
        return iso_err_set(err, EINVAL, "seccomp profile: must be a JSON object");
    r = read_action(profile, "defaultAction", "defaultErrnoRet", &c.default_action, err);
    if (r < 0)
        return iso_err_prefix(err, "seccomp profile");
    r = iso_json_get_array(profile, "syscalls", false, &syscalls, err);
    if (r < 0)
        return iso_err_prefix(err, "seccomp profile");

    if (uname(&u) < 0)
        return iso_err_set_errno(err, errno, "uname");
    if (parse_kernel_version(u.release, &c.kernel_major, &c.kernel_minor) < 0)
        return iso_err_set(err, EIO, "cannot parse the kernel release '%s'", u.release);

    ctx = seccomp_init(c.default_action);
    if (!ctx)
        return iso_err_set(err, ENOMEM, "seccomp_init failed");
    c.ctx = ctx;
    c.arches[0].arch = seccomp_arch_native();
    c.arches[0].max_nr = -1;
    c.n_arches = 1;
    /* The init sets no_new_privs itself, only when the container asks for it. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r < 0)
        return iso_err_set_errno(err, r, "seccomp: clear no_new_privs attribute");

    r = add_arches(&c, profile, err);
    if (r < 0)
        return iso_err_prefix(err, "seccomp profile");

    json_array_foreach(syscalls, i, v)
    {
        r = add_syscall(&c, v, err);
        if (r < 0) {
            (void)path_prefix(err, "syscalls[%zu]", i);
            return iso_err_prefix(err, "seccomp profile");
        }
    }
    return export_bpf(&c, out_fd, err);
}

int eng_seccomp_compile(const char *profile_json, size_t len, uint64_t caps, int out_fd,
                        struct iso_err *err)
{
    _cleanup_json_ json_t *profile = NULL;
    struct iso_err local;
    int r;

    /* iso_err_prefix() needs somewhere to keep the code. */
    if (!err)
        err = &local;
    if (!profile_json) {
        profile_json = eng_seccomp_default_json;
        len = ENG_SECCOMP_DEFAULT_JSON_LEN;
    }
    r = iso_json_parse(profile_json, len, &profile, err);
    if (r < 0)
        return iso_err_prefix(err, "seccomp profile");
    return compile_json(profile, caps, out_fd, err);
}

/* The part of a cache file's name after the caps mask: everything else its content depends on.
 * The compiler's version, the profile (hashed by scripts/embed.py when isod is built),
 * libseccomp's version (the library may be upgraded under isod) and the kernel's release (for
 * the syscalls it knows). */
static char tag_value[256];
static int tag_error;
/* Computed once: the inputs do not change while isod runs, and every start asks. */
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;

static void tag_compute(void)
{
    const struct scmp_version *v = seccomp_version();
    struct utsname u;

    if (uname(&u) < 0) {
        tag_error = -errno;
        return;
    }
    /* A release string is not ours to trust with a path. */
    for (char *p = u.release; *p; p++)
        if (*p == '/')
            *p = '_';
    snprintf(tag_value, sizeof(tag_value), "%s-%.16s-libseccomp%u.%u.%u-%s", COMPILER_VERSION,
             ENG_SECCOMP_DEFAULT_JSON_SHA256, v->major, v->minor, v->micro, u.release);
}

/* Removes the cache files of other tags (an older isod, libseccomp or kernel): after an
 * upgrade they would never be used again. Best effort. */
static void prune_other_tags(const char *cache_dir, const char *tag)
{
    _cleanup_free_ char *suffix = iso_strprintf("-%s.bpf", tag);
    DIR *d = opendir(cache_dir);
    struct dirent *de;

    if (!d || !suffix) {
        if (d)
            closedir(d);
        return;
    }
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name), sn = strlen(suffix);
        if (strneq(de->d_name, "default-", 8) && (n < sn || !streq(de->d_name + n - sn, suffix)))
            (void)unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

int eng_seccomp_default_path(const char *cache_dir, uint64_t caps, char **ret_path,
                             struct iso_err *err)
{
    _cleanup_free_ char *path = NULL, *tmp = NULL;
    _cleanup_close_ int fd = -1;
    const char *tag = tag_value;
    int r;

    (void)pthread_once(&tag_once, tag_compute);
    if (tag_error < 0)
        return iso_err_set_errno(err, -tag_error, "seccomp: uname");
    path = iso_strprintf("%s/default-%016" PRIx64 "-%s.bpf", cache_dir, caps, tag);
    if (!path)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (access(path, F_OK) == 0) {
        *ret_path = TAKE_PTR(path);
        return 0;
    }

    r = iso_mkdir_p(cache_dir, 0700);
    if (r < 0)
        return iso_err_set_errno(err, r, "create '%s'", cache_dir);
    tmp = iso_strprintf("%s.XXXXXX", path);
    if (!tmp)
        return iso_err_set(err, ENOMEM, "out of memory");
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "create '%s'", tmp);

    r = eng_seccomp_compile(NULL, 0, caps, fd, err);
    /* Not secret, and the init may read it as a user the file's owner maps to nobody. */
    if (r >= 0 && fchmod(fd, 0644) < 0)
        r = iso_err_set_errno(err, errno, "chmod '%s'", tmp);
    if (r >= 0 && fsync(fd) < 0)
        r = iso_err_set_errno(err, errno, "fsync '%s'", tmp);
    /* Two isods racing here both write the same bytes; the last rename wins. */
    if (r >= 0 && rename(tmp, path) < 0)
        r = iso_err_set_errno(err, errno, "rename '%s'", tmp);
    if (r < 0) {
        (void)unlink(tmp);
        return r;
    }

    /* The rename itself is durable only once the directory is. */
    {
        _cleanup_close_ int dfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
            return iso_err_set_errno(err, errno, "fsync '%s'", cache_dir);
    }
    prune_other_tags(cache_dir, tag);
    *ret_path = TAKE_PTR(path);
    return 0;
}
