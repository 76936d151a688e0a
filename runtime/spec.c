#include "runtime/spec.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

#define SPEC_MAX_SIZE (16u << 20)

/* A growing output buffer; on OOM it remembers the failure and ignores further appends. */
struct buf {
    char *data;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static _printf_(2, 3) void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->oom = true;
        return;
    }
    buf_add(b, tmp, (size_t)n);
}

/* Appends s with \\, \n, \t and \xHH for other control bytes. */
static void buf_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\')
            buf_add(b, "\\\\", 2);
        else if (*p == '\n')
            buf_add(b, "\\n", 2);
        else if (*p == '\t')
            buf_add(b, "\\t", 2);
        else if (*p < 0x20 || *p == 0x7f) {
            char e[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 0xf]};
            buf_add(b, e, 4);
        } else
            buf_add(b, (const char *)p, 1);
    }
}

static void put_str(struct buf *b, const char *key, const char *value)
{
    if (!value)
        return;
    buf_str(b, key);
    buf_add(b, " ", 1);
    buf_escaped(b, value);
    buf_add(b, "\n", 1);
}

static void put_bool(struct buf *b, const char *key, bool value)
{
    buf_str(b, key);
    buf_str(b, value ? " 1\n" : " 0\n");
}

int rt_spec_format(const struct rt_spec *spec, char **ret, size_t *ret_len, struct iso_err *err)
{
    struct buf b = {0};

    put_str(&b, "id", spec->id);
    put_str(&b, "rootfs", spec->rootfs);
    put_str(&b, "layers", spec->layers);
    put_str(&b, "overlay", spec->overlay);
    put_bool(&b, "readonly", spec->readonly);
    put_str(&b, "hostname", spec->hostname);
    for (size_t i = 0; i < spec->n_args; i++)
        put_str(&b, "arg", spec->args[i]);
    for (size_t i = 0; i < spec->n_env; i++)
        put_str(&b, "env", spec->env[i]);
    put_str(&b, "cwd", spec->cwd);
    put_str(&b, "user", spec->user);
    for (size_t i = 0; i < spec->n_group_add; i++)
        put_str(&b, "group_add", spec->group_add[i]);
    put_bool(&b, "terminal", spec->terminal);
    buf_printf(&b, "console %u %u\n", spec->console_rows, spec->console_cols);
    put_bool(&b, "stdin", spec->stdin_open);
    put_bool(&b, "stdin_once", spec->stdin_once);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct rt_mount *m = &spec->mounts[i];
        buf_str(&b, m->type == RT_MOUNT_TMPFS ? "mount tmpfs\t" : "mount bind\t");
        buf_escaped(&b, m->source ? m->source : "");
        buf_add(&b, "\t", 1);
        buf_escaped(&b, m->destination ? m->destination : "");
        buf_add(&b, "\t", 1);
        buf_escaped(&b, m->options ? m->options : "");
        buf_add(&b, "\n", 1);
    }
    buf_str(&b, spec->net == RT_NET_HOST ? "net host\n" : "net none\n");
    buf_printf(&b, "caps %016" PRIx64 "\n", spec->caps);
    put_bool(&b, "privileged", spec->privileged);
    put_bool(&b, "no_new_privs", spec->no_new_privs);
    put_str(&b, "seccomp", spec->seccomp);
    for (size_t i = 0; i < spec->n_rlimits; i++) {
        const struct rt_rlimit *r = &spec->rlimits[i];
        buf_str(&b, "rlimit ");
        buf_escaped(&b, r->name ? r->name : "");
        buf_printf(&b, "\t%" PRId64 "\t%" PRId64 "\n", r->soft, r->hard);
    }
    for (size_t i = 0; i < spec->n_cgroups; i++)
        put_str(&b, "cgroup", spec->cgroups[i]);
    put_str(&b, "log", spec->log);
    buf_printf(&b, "log_max_size %" PRIu64 "\n", spec->log_max_size);
    buf_printf(&b, "log_max_files %u\n", spec->log_max_files);
    put_bool(&b, "init", spec->init);
    for (size_t i = 0; i < spec->n_uidmap; i++)
        buf_printf(&b, "uidmap %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", spec->uidmap[i].inside,
                   spec->uidmap[i].outside, spec->uidmap[i].count);
    for (size_t i = 0; i < spec->n_gidmap; i++)
        buf_printf(&b, "gidmap %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", spec->gidmap[i].inside,
                   spec->gidmap[i].outside, spec->gidmap[i].count);
    for (size_t i = 0; i < spec->n_attach; i++) {
        const struct rt_attach *a = &spec->attach[i];
        buf_printf(&b, "attach %d\t%s%s%s\n", a->fd, a->in ? "i" : "", a->out ? "o" : "",
                   a->err ? "e" : "");
    }

    if (b.oom || !b.data) {
        free(b.data);
        return iso_err_set(err, ENOMEM, "format spec: out of memory");
    }
    *ret = b.data;
    if (ret_len)
        *ret_len = b.len;
    return 0;
}

int rt_spec_write(const struct rt_spec *spec, const char *path, struct iso_err *err)
{
    _cleanup_free_ char *text = NULL, *tmp = NULL;
    _cleanup_close_ int fd = -1;
    size_t len = 0;
    int r;

    r = rt_spec_format(spec, &text, &len, err);
    if (r < 0)
        return r;
    tmp = iso_strprintf("%s.tmp", path);
    if (!tmp)
        return iso_err_set(err, ENOMEM, "write spec: out of memory");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "create '%s'", tmp);
    r = iso_write_all(fd, text, len);
    if (r >= 0 && fsync(fd) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return iso_err_set_errno(err, r, "write '%s'", tmp);
    }
    (void)close(TAKE_FD(fd));
    if (rename(tmp, path) < 0) {
        r = -errno;
        (void)unlink(tmp);
        return iso_err_set_errno(err, r, "rename '%s'", tmp);
    }
    return 0;
}

void rt_spec_done(struct rt_spec *spec)
{
    free(spec->id);
    free(spec->rootfs);
    free(spec->layers);
    free(spec->overlay);
    free(spec->hostname);
    for (size_t i = 0; i < spec->n_args; i++)
        free(spec->args[i]);
    free(spec->args);
    for (size_t i = 0; i < spec->n_env; i++)
        free(spec->env[i]);
    free(spec->env);
    free(spec->cwd);
    free(spec->user);
    for (size_t i = 0; i < spec->n_group_add; i++)
        free(spec->group_add[i]);
    free(spec->group_add);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        free(spec->mounts[i].source);
        free(spec->mounts[i].destination);
        free(spec->mounts[i].options);
    }
    free(spec->mounts);
    free(spec->seccomp);
    for (size_t i = 0; i < spec->n_rlimits; i++)
        free(spec->rlimits[i].name);
    free(spec->rlimits);
    for (size_t i = 0; i < spec->n_cgroups; i++)
        free(spec->cgroups[i]);
    free(spec->cgroups);
    free(spec->log);
    free(spec->attach);
    free(spec->uidmap);
    free(spec->gidmap);
    memset(spec, 0, sizeof(*spec));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescapes n bytes of s into a new string. -EINVAL for a bad escape or a NUL byte. */
static int unescape(const char *s, size_t n, char **ret)
{
    char *out = malloc(n + 1), *o = out;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\0')
            goto invalid;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        if (++i >= n)
            goto invalid;
        switch (s[i]) {
        case '\\':
            *o++ = '\\';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'x': {
            if (i + 2 >= n)
                goto invalid;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                goto invalid;
            *o++ = (char)(hi << 4 | lo);
            i += 2;
            break;
        }
        default:
            goto invalid;
        }
    }
    *o = '\0';
    *ret = out;
    return 0;
invalid:
    free(out);
    return -EINVAL;
}

/* Appends a string to a NULL-terminated array; takes s, even on failure. */
static int strv_push(char ***v, size_t *n, char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv) {
        free(s);
        return -ENOMEM;
    }
    nv[*n] = s;
    nv[*n + 1] = NULL;
    *v = nv;
    (*n)++;
    return 0;
}

/* Splits value at literal tabs into exactly n unescaped fields. */
static int split_fields(const char *value, size_t len, char **fields, size_t n)
{
    const char *p = value, *end = value + len;
    int r;

    for (size_t i = 0; i < n; i++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if ((i + 1 < n) != (tab != NULL))
            r = -EINVAL;
        else
            r = unescape(p, (size_t)((tab ? tab : end) - p), &fields[i]);
        if (r < 0) {
            for (size_t j = 0; j < i; j++)
                fields[j] = (free(fields[j]), NULL);
            return r;
        }
        p = tab ? tab + 1 : end;
    }
    return 0;
}

static int parse_bool01(const char *v, bool *ret)
{
    if (streq(v, "0"))
        *ret = false;
    else if (streq(v, "1"))
        *ret = true;
    else
        return -EINVAL;
    return 0;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *ret)
{
    char *end;

    if (*v < '0' || *v > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max)
        return -EINVAL;
    *ret = x;
    return 0;
}

/* One "key value" line; value is raw (still escaped), vlen bytes. */
static int parse_line(struct rt_spec *s, const char *key, const char *value, size_t vlen,
                      const char **what)
{
    _cleanup_free_ char *v = NULL;
    uint64_t u;
    int r;

    if (streq(key, "mount")) {
        char *f[4];
        r = split_fields(value, vlen, f, 4);
        if (r < 0)
            return r;
        struct rt_mount m = {.source = f[1], .destination = f[2], .options = f[3]};
        if (streq(f[0], "bind"))
            m.type = RT_MOUNT_BIND;
        else if (streq(f[0], "tmpfs"))
            m.type = RT_MOUNT_TMPFS;
        else
            r = -EINVAL;
        struct rt_mount *nm = r < 0 ? NULL : realloc(s->mounts, (s->n_mounts + 1) * sizeof(*nm));
        if (r >= 0 && !nm)
            r = -ENOMEM;
        free(f[0]);
        if (r < 0) {
            free(f[1]);
            free(f[2]);
            free(f[3]);
            *what = "bad mount type";
            return r;
        }
        s->mounts = nm;
        nm[s->n_mounts++] = m;
        return 0;
    }
    if (streq(key, "rlimit")) {
        char *f[3];
        int64_t soft, hard;
        r = split_fields(value, vlen, f, 3);
        if (r < 0)
            return r;
        if (!*f[0] || iso_parse_int64(f[1], -1, INT64_MAX, &soft) < 0 ||
            iso_parse_int64(f[2], -1, INT64_MAX, &hard) < 0)
            r = -EINVAL;
        free(f[1]);
        free(f[2]);
        if (r < 0) {
            free(f[0]);
            *what = "bad rlimit";
            return r;
        }
        struct rt_rlimit *nr = realloc(s->rlimits, (s->n_rlimits + 1) * sizeof(*nr));
        if (!nr) {
            free(f[0]);
            return -ENOMEM;
        }
        s->rlimits = nr;
        nr[s->n_rlimits++] = (struct rt_rlimit){.name = f[0], .soft = soft, .hard = hard};
        return 0;
    }
    if (streq(key, "uidmap") || streq(key, "gidmap")) {
        bool uid = key[0] == 'u';
        struct rt_idmap m;
        char buf[64], *save = NULL, *tok;
        uint64_t f[3];
        size_t nf = 0;
        if (vlen >= sizeof(buf)) {
            *what = "bad id map";
            return -EINVAL;
        }
        memcpy(buf, value, vlen);
        buf[vlen] = '\0';
        bool bad = false;
        for (tok = strtok_r(buf, " ", &save); tok && !bad; tok = strtok_r(NULL, " ", &save))
            bad = nf == 3 || parse_u64(tok, UINT32_MAX, &f[nf++]) < 0;
        if (bad || nf != 3 || f[2] == 0 || f[0] + f[2] > (uint64_t)UINT32_MAX + 1 ||
            f[1] + f[2] > (uint64_t)UINT32_MAX + 1) {
            *what = "bad id map";
            return -EINVAL;
        }
        m = (struct rt_idmap){(uint32_t)f[0], (uint32_t)f[1], (uint32_t)f[2]};
        struct rt_idmap **arr = uid ? &s->uidmap : &s->gidmap;
        size_t *n = uid ? &s->n_uidmap : &s->n_gidmap;
        struct rt_idmap *nm = realloc(*arr, (*n + 1) * sizeof(*nm));
        if (!nm)
            return -ENOMEM;
        nm[(*n)++] = m;
        *arr = nm;
        return 0;
    }
    if (streq(key, "attach")) {
        char *f[2];
        uint64_t fd = 0;
        struct rt_attach a = {0};
        r = split_fields(value, vlen, f, 2);
        if (r < 0)
            return r;
        if (parse_u64(f[0], INT32_MAX, &fd) < 0)
            r = -EINVAL;
        a.fd = (int)fd;
        for (const char *p = f[1]; r >= 0 && *p; p++) {
            if (*p == 'i')
                a.in = true;
            else if (*p == 'o')
                a.out = true;
            else if (*p == 'e')
                a.err = true;
            else
                r = -EINVAL;
        }
        free(f[0]);
        free(f[1]);
        if (r < 0) {
            *what = "bad attach";
            return r;
        }
        struct rt_attach *na = realloc(s->attach, (s->n_attach + 1) * sizeof(*na));
        if (!na)
            return -ENOMEM;
        na[s->n_attach++] = a;
        s->attach = na;
        return 0;
    }

    r = unescape(value, vlen, &v);
    if (r < 0)
        return r;

    /* Repeated keys. */
    if (streq(key, "arg"))
        return strv_push(&s->args, &s->n_args, TAKE_PTR(v));
    if (streq(key, "env"))
        return strv_push(&s->env, &s->n_env, TAKE_PTR(v));
    if (streq(key, "group_add"))
        return strv_push(&s->group_add, &s->n_group_add, TAKE_PTR(v));
    if (streq(key, "cgroup"))
        return strv_push(&s->cgroups, &s->n_cgroups, TAKE_PTR(v));

    /* Strings. */
    struct {
        const char *key;
        char **field;
    } strs[] = {
        {"id", &s->id},           {"rootfs", &s->rootfs},     {"layers", &s->layers},
        {"overlay", &s->overlay}, {"hostname", &s->hostname}, {"cwd", &s->cwd},
        {"user", &s->user},       {"seccomp", &s->seccomp},   {"log", &s->log},
    };
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
        if (streq(key, strs[i].key)) {
            if (*strs[i].field) {
                *what = "repeated key";
                return -EINVAL;
            }
            *strs[i].field = TAKE_PTR(v);
            return 0;
        }

    struct {
        const char *key;
        bool *field;
    } bools[] = {
        {"readonly", &s->readonly},
        {"terminal", &s->terminal},
        {"stdin", &s->stdin_open},
        {"stdin_once", &s->stdin_once},
        {"privileged", &s->privileged},
        {"no_new_privs", &s->no_new_privs},
        {"init", &s->init},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bools); i++)
        if (streq(key, bools[i].key))
            return parse_bool01(v, bools[i].field);

    if (streq(key, "net")) {
        if (streq(v, "none"))
            s->net = RT_NET_NONE;
        else if (streq(v, "host"))
            s->net = RT_NET_HOST;
        else
            return -EINVAL;
        return 0;
    }
    if (streq(key, "caps")) {
        char *end;
        if (strlen(v) != 16 || hexval(v[0]) < 0)
            return -EINVAL;
        errno = 0;
        unsigned long long c = strtoull(v, &end, 16);
        if (errno || *end)
            return -EINVAL;
        s->caps = c;
        return 0;
    }
    if (streq(key, "console")) {
        uint64_t rows, cols;
        char *sp = strchr(v, ' ');
        if (!sp)
            return -EINVAL;
        *sp = '\0';
        if (parse_u64(v, 0xffff, &rows) < 0 || parse_u64(sp + 1, 0xffff, &cols) < 0)
            return -EINVAL;
        s->console_rows = (unsigned short)rows;
        s->console_cols = (unsigned short)cols;
        return 0;
    }
    if (streq(key, "log_max_size"))
        return parse_u64(v, UINT64_MAX, &s->log_max_size);
    if (streq(key, "log_max_files")) {
        r = parse_u64(v, UINT32_MAX, &u);
        if (r >= 0)
            s->log_max_files = (unsigned)u;
        return r;
    }
    *what = "unknown key";
    return -EINVAL;
}

int rt_spec_parse(const char *text, size_t len, struct rt_spec *ret, struct iso_err *err)
{
    struct rt_spec s = {0};
    const char *p = text, *end = text + len;
    unsigned line = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        char key[32];
        const char *what = NULL;
        int r;

        line++;
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        const char *kend = sp ? sp : eol;
        size_t klen = (size_t)(kend - p);
        if (klen == 0 || klen >= sizeof(key)) {
            rt_spec_done(&s);
            return iso_err_set(err, EINVAL, "spec line %u: malformed line", line);
        }
        memcpy(key, p, klen);
        key[klen] = '\0';
        const char *value = sp ? sp + 1 : eol;
        r = parse_line(&s, key, value, (size_t)(eol - value), &what);
        if (r < 0) {
            rt_spec_done(&s);
            if (r == -ENOMEM)
                return iso_err_set(err, ENOMEM, "spec line %u: out of memory", line);
            return iso_err_set(err, EINVAL, "spec line %u: %s '%s'", line,
                               what ? what : "bad value for", key);
        }
        p = nl ? nl + 1 : end;
    }
    *ret = s;
    return 0;
}

int rt_spec_read(const char *path, struct rt_spec *ret, struct iso_err *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r;

    r = iso_read_file_at(AT_FDCWD, path, SPEC_MAX_SIZE, &text, &len);
    if (r < 0)
        return iso_err_set_errno(err, r, "read spec '%s'", path);
    r = rt_spec_parse(text, len, ret, err);
    if (r < 0)
        return iso_err_prefix(err, "'%s'", path);
    return 0;
}
