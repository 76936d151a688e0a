#include "cli/reference.h"

#include <stdio.h>
#include <string.h>

static bool is_domain(const char *first, size_t len)
{
    if (len == 9 && strneq(first, "localhost", 9))
        return true;
    for (size_t i = 0; i < len; i++)
        if (first[i] == '.' || first[i] == ':' || (first[i] >= 'A' && first[i] <= 'Z'))
            return true;
    return false;
}

/* distribution/reference's path component: [a-z0-9]+ joined by '.', '_', '__' or '-'+. */
static bool valid_component(const char *s, size_t len, bool *ret_upper)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c >= 'A' && c <= 'Z') {
            *ret_upper = true;
            alnum = true;
        }
        if (alnum)
            continue;
        if (!strchr("._-", c) || i == 0 || i == len - 1)
            return false;
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > CTL_REF_TAG_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._-", c)))
            return false;
    }
    return true;
}

static bool valid_digest(const char *s)
{
    const char *colon = strchr(s, ':');

    if (!colon || colon == s || !colon[1] || strlen(s) >= sizeof(((struct ctl_ref *)0)->digest))
        return false;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+._-", *p)))
            return false;
    for (const char *p = colon + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'f') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

int ctl_ref_parse(const char *s, struct ctl_ref *ret, struct iso_err *err)
{
    struct ctl_ref ref = {0};
    char name[2 * CTL_REF_NAME_MAX + 2];
    const char *at, *slash, *colon, *rest;
    size_t name_len;
    bool upper = false;

    at = strchr(s, '@');
    name_len = at ? (size_t)(at - s) : strlen(s);
    if (name_len == 0 || name_len >= sizeof(name))
        return iso_err_set(err, EINVAL, "invalid reference format");
    memcpy(name, s, name_len);
    name[name_len] = '\0';

    if (at) {
        if (!valid_digest(at + 1))
            return iso_err_set(err, EINVAL, "invalid reference format");
        snprintf(ref.digest, sizeof(ref.digest), "%s", at + 1);
    }

    /* The tag follows the last ':' that comes after the last '/'. */
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        if (!valid_tag(colon + 1))
            return iso_err_set(err, EINVAL, "invalid reference format");
        snprintf(ref.tag, sizeof(ref.tag), "%s", colon + 1);
        name[colon - name] = '\0';
    }

    slash = strchr(name, '/');
    if (slash && is_domain(name, (size_t)(slash - name))) {
        size_t dlen = (size_t)(slash - name);
        if (dlen > CTL_REF_NAME_MAX)
            return iso_err_set(err, EINVAL, "invalid reference format");
        memcpy(ref.domain, name, dlen);
        ref.domain[dlen] = '\0';
        rest = slash + 1;
        if (streq(ref.domain, "index.docker.io"))
            snprintf(ref.domain, sizeof(ref.domain), "docker.io");
    } else {
        snprintf(ref.domain, sizeof(ref.domain), "docker.io");
        rest = name;
    }
    for (const char *c = ref.domain; *c; c++)
        if (*c <= ' ' || *c == 0x7f || *c == '/')
            return iso_err_set(err, EINVAL, "invalid reference format");

    {
        const char *prefix = streq(ref.domain, "docker.io") && !strchr(rest, '/') ? "library/" : "";
        size_t plen = strlen(prefix), rlen = strlen(rest);

        if (plen + rlen > CTL_REF_NAME_MAX)
            return iso_err_set(err, EINVAL, "repository name must not be more than 255 characters");
        memcpy(ref.path, prefix, plen);
        memcpy(ref.path + plen, rest, rlen + 1);
    }

    for (const char *c = ref.path;;) {
        size_t n = strcspn(c, "/");
        if (!valid_component(c, n, &upper))
            return iso_err_set(err, EINVAL, "invalid reference format");
        if (!c[n])
            break;
        c += n + 1;
    }
    if (upper)
        return iso_err_set(err, EINVAL,
                           "invalid reference format: repository name (%s) must be lowercase",
                           ref.path);
    if (strlen(ref.domain) + 1 + strlen(ref.path) > CTL_REF_NAME_MAX)
        return iso_err_set(err, EINVAL, "repository name must not be more than 255 characters");

    *ret = ref;
    return 0;
}

const char *ctl_ref_name(const struct ctl_ref *ref, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ref->domain, ref->path);
    return buf;
}

const char *ctl_ref_string(const struct ctl_ref *ref, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s%s%s%s%s", ref->domain, ref->path, *ref->tag ? ":" : "", ref->tag,
             *ref->digest ? "@" : "", ref->digest);
    return buf;
}

const char *ctl_ref_familiar_name(const struct ctl_ref *ref, char *buf, size_t size)
{
    if (!streq(ref->domain, "docker.io"))
        snprintf(buf, size, "%s/%s", ref->domain, ref->path);
    else if (strneq(ref->path, "library/", 8) && !strchr(ref->path + 8, '/'))
        snprintf(buf, size, "%s", ref->path + 8);
    else
        snprintf(buf, size, "%s", ref->path);
    return buf;
}
