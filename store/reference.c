#include "store/reference.h"

#include <fnmatch.h>
#include <string.h>

#define DEFAULT_DOMAIN        "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX       "library/"
#define DEFAULT_TAG           "latest"

#define ERR_FORMAT "invalid reference format"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
    return is_alnum(c) || c == '_';
}

static bool is_xdigit_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_xdigit_any(char c)
{
    return is_xdigit_lower(c) || (c >= 'A' && c <= 'F');
}

static bool has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return true;
    return false;
}

/* pathComponent: [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)* */
static bool path_component_valid(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0)
        return false;
    for (;;) {
        if (i >= n || !is_lower_alnum(s[i]))
            return false;
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == n)
            return true;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
    }
}

/* remoteName: pathComponent(/pathComponent)* */
static bool path_valid(const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            if (!path_component_valid(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* domainNameComponent: [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* domainAndPort: (domainName | \[[a-fA-F0-9:]+\]) (:[0-9]+)? */
static bool domain_valid(const char *s, size_t n)
{
    size_t host_end;

    if (n == 0)
        return false;
    if (s[0] == '[') {
        size_t i = 1;
        while (i < n && (is_xdigit_any(s[i]) || s[i] == ':'))
            i++;
        if (i == 1 || i >= n || s[i] != ']')
            return false;
        host_end = i + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        size_t start = 0;
        host_end = colon ? (size_t)(colon - s) : n;
        for (size_t i = 0; i <= host_end; i++) {
            if (i == host_end || s[i] == '.') {
                if (!domain_component_valid(s + start, i - start))
                    return false;
                start = i + 1;
            }
        }
    }
    if (host_end == n)
        return true;
    if (s[host_end] != ':' || host_end + 1 == n)
        return false;
    for (size_t i = host_end + 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* tag: [\w][\w.-]{0,127} */
static bool tag_valid(const char *s, size_t n)
{
    if (n == 0 || n > STORE_REF_TAG_MAX || !is_word(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

/* The reference grammar's digest:
 * [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[[:xdigit:]]{32,} */
static bool digest_pattern_valid(const char *s, size_t n)
{
    size_t i = 0;

    for (;;) {
        if (i >= n || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
        while (i < n && is_alnum(s[i]))
            i++;
        if (i < n && (s[i] == '-' || s[i] == '_' || s[i] == '+' || s[i] == '.')) {
            i++;
            continue;
        }
        break;
    }
    if (i >= n || s[i] != ':')
        return false;
    i++;
    if (n - i < 32)
        return false;
    for (; i < n; i++)
        if (!is_xdigit_any(s[i]))
            return false;
    return true;
}

/* go-digest's Validate for the algorithms Docker registers. */
static int digest_check(const char *s, size_t n, struct iso_err *err)
{
    static const struct {
        const char *name;
        size_t hex;
    } algos[] = {{"sha256", 64}, {"sha384", 96}, {"sha512", 128}};
    const char *colon = memchr(s, ':', n);
    size_t alen, hlen;

    if (!colon || colon == s || (size_t)(colon - s) + 1 == n)
        return iso_err_set(err, EINVAL, "invalid checksum digest format");
    alen = (size_t)(colon - s);
    hlen = n - alen - 1;
    for (size_t a = 0; a < ARRAY_SIZE(algos); a++) {
        if (strlen(algos[a].name) != alen || !strneq(algos[a].name, s, alen))
            continue;
        if (hlen != algos[a].hex)
            return iso_err_set(err, EINVAL, "invalid checksum digest length");
        for (size_t i = 0; i < hlen; i++)
            if (!is_xdigit_lower(colon[1 + i]))
                return iso_err_set(err, EINVAL, "invalid checksum digest format");
        return 0;
    }
    if (!digest_pattern_valid(s, n))
        return iso_err_set(err, EINVAL, "invalid checksum digest format");
    return iso_err_set(err, EINVAL, "unsupported digest algorithm");
}

int store_ref_digest_validate(const char *digest, struct iso_err *err)
{
    if (!digest)
        return iso_err_set(err, EINVAL, "invalid checksum digest format");
    return digest_check(digest, strlen(digest), err);
}

static bool is_identifier(const char *s)
{
    size_t n = strlen(s);

    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_xdigit_lower(s[i]))
            return false;
    return true;
}

static void copy_n(char *dst, size_t size, const char *src, size_t n)
{
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ParseNormalizedNamed without the default tag: splitDockerDomain, the lowercase check on the
 * remote name, then the reference grammar on what is left. */
static int parse_normalized(const char *s, struct store_ref *ret, struct iso_err *err)
{
    struct store_ref ref = {};
    const char *slash, *rest, *at, *colon, *path_end;
    size_t dlen, plen, rlen;
    bool library = false;
    int r;

    if (is_identifier(s))
        return iso_err_set(err, EINVAL,
                           "invalid repository name (%s), cannot specify 64-byte hexadecimal "
                           "strings",
                           s);

    slash = strchr(s, '/');
    if (!slash) {
        snprintf(ref.domain, sizeof(ref.domain), DEFAULT_DOMAIN);
        rest = s;
        library = true;
    } else {
        dlen = (size_t)(slash - s);
        if (dlen == strlen("localhost") && strneq(s, "localhost", dlen)) {
            copy_n(ref.domain, sizeof(ref.domain), s, dlen);
            rest = slash + 1;
        } else if (dlen == strlen(LEGACY_DEFAULT_DOMAIN) &&
                   strneq(s, LEGACY_DEFAULT_DOMAIN, dlen)) {
            snprintf(ref.domain, sizeof(ref.domain), DEFAULT_DOMAIN);
            rest = slash + 1;
        } else if (memchr(s, '.', dlen) || memchr(s, ':', dlen) || has_upper(s, dlen)) {
            if (dlen > STORE_REF_NAME_MAX)
                return iso_err_set(err, EINVAL,
                                   "repository name must not be more than %d "
                                   "characters",
                                   STORE_REF_NAME_MAX);
            copy_n(ref.domain, sizeof(ref.domain), s, dlen);
            rest = slash + 1;
        } else {
            snprintf(ref.domain, sizeof(ref.domain), DEFAULT_DOMAIN);
            rest = s;
        }
        if (streq(ref.domain, DEFAULT_DOMAIN) && !strchr(rest, '/'))
            library = true;
    }

    /* The remote name is what precedes the first ':'; Docker checks its case before the
     * grammar so that "Busybox" gets the helpful message. */
    colon = strchr(rest, ':');
    rlen = colon ? (size_t)(colon - rest) : strlen(rest);
    if (has_upper(rest, rlen))
        return iso_err_set(err, EINVAL, ERR_FORMAT ": repository name (%s%.*s) must be lowercase",
                           library ? OFFICIAL_PREFIX : "", (int)rlen, rest);

    /* rest = path[:tag][@digest]; a path holds neither ':' nor '@'. */
    at = strchr(rest, '@');
    path_end = rest + strcspn(rest, ":@");
    plen = (size_t)(path_end - rest);
    if (!path_valid(rest, plen))
        return iso_err_set(err, EINVAL, ERR_FORMAT);
    if (!domain_valid(ref.domain, strlen(ref.domain)))
        return iso_err_set(err, EINVAL, ERR_FORMAT);

    if (*path_end == ':') {
        const char *tag = path_end + 1;
        size_t tlen = at ? (size_t)(at - tag) : strlen(tag);
        if (!tag_valid(tag, tlen))
            return iso_err_set(err, EINVAL, ERR_FORMAT);
        copy_n(ref.tag, sizeof(ref.tag), tag, tlen);
    } else if (*path_end == '@') {
        at = path_end;
    }
    if (at && !digest_pattern_valid(at + 1, strlen(at + 1)))
        return iso_err_set(err, EINVAL, ERR_FORMAT);

    /* Past the grammar, in Parse()'s order: the name's length, then go-digest's checks. */
    if (strlen(ref.domain) + 1 + (library ? strlen(OFFICIAL_PREFIX) : 0) + plen >
        STORE_REF_NAME_MAX)
        return iso_err_set(err, EINVAL, "repository name must not be more than %d characters",
                           STORE_REF_NAME_MAX);
    if (at) {
        r = digest_check(at + 1, strlen(at + 1), err);
        if (r < 0)
            return r;
        copy_n(ref.digest, sizeof(ref.digest), at + 1, strlen(at + 1));
    }
    snprintf(ref.path, sizeof(ref.path), "%s%.*s", library ? OFFICIAL_PREFIX : "", (int)plen, rest);

    *ret = ref;
    return 0;
}

int store_ref_parse(const char *s, struct store_ref *ret, struct iso_err *err)
{
    struct store_ref ref = {};
    int r;

    if (!s)
        return iso_err_set(err, EINVAL, ERR_FORMAT);
    r = parse_normalized(s, &ref, err);
    if (r < 0)
        return r;
    if (!ref.tag[0] && !ref.digest[0])
        snprintf(ref.tag, sizeof(ref.tag), DEFAULT_TAG);
    *ret = ref;
    return 0;
}

int store_ref_parse_api(const char *from_image, const char *tag, struct store_ref *ret,
                        struct iso_err *err)
{
    struct store_ref ref = {};
    int r;

    if (!from_image)
        return iso_err_set(err, EINVAL, ERR_FORMAT);
    r = parse_normalized(from_image, &ref, err);
    if (r < 0)
        return r;
    if (tag && tag[0]) {
        if (digest_check(tag, strlen(tag), NULL) == 0) {
            /* WithDigest(TrimNamed(ref)): the digest replaces both tag and digest. */
            ref.tag[0] = '\0';
            copy_n(ref.digest, sizeof(ref.digest), tag, strlen(tag));
        } else {
            if (!tag_valid(tag, strlen(tag)))
                return iso_err_set(err, EINVAL, "invalid tag format");
            copy_n(ref.tag, sizeof(ref.tag), tag, strlen(tag));
        }
    }
    if (!ref.tag[0] && !ref.digest[0])
        snprintf(ref.tag, sizeof(ref.tag), DEFAULT_TAG);
    *ret = ref;
    return 0;
}

static const char *format(const struct store_ref *ref, bool familiar, bool with_suffix, char *buf,
                          size_t size)
{
    const char *path = ref->path;
    bool hub = streq(ref->domain, DEFAULT_DOMAIN);
    bool show_domain = !familiar || !hub;

    if (familiar && hub && strneq(path, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX)) &&
        !strchr(path + strlen(OFFICIAL_PREFIX), '/'))
        path += strlen(OFFICIAL_PREFIX);

    with_suffix = with_suffix && (ref->tag[0] || ref->digest[0]);
    snprintf(buf, size, "%s%s%s%s%s%s%s", show_domain ? ref->domain : "", show_domain ? "/" : "",
             path, with_suffix && ref->tag[0] ? ":" : "", with_suffix ? ref->tag : "",
             with_suffix && ref->digest[0] ? "@" : "", with_suffix ? ref->digest : "");
    return buf;
}

const char *store_ref_string(const struct store_ref *ref, char *buf, size_t size)
{
    return format(ref, false, true, buf, size);
}

const char *store_ref_familiar(const struct store_ref *ref, char *buf, size_t size)
{
    return format(ref, true, true, buf, size);
}

const char *store_ref_name(const struct store_ref *ref, char *buf, size_t size)
{
    return format(ref, false, false, buf, size);
}

const char *store_ref_familiar_name(const struct store_ref *ref, char *buf, size_t size)
{
    return format(ref, true, false, buf, size);
}

const char *store_ref_pull_ident(const struct store_ref *ref)
{
    return ref->digest[0] ? ref->digest : ref->tag;
}

bool store_ref_matches(const struct store_ref *ref, const char *pattern)
{
    char buf[STORE_REF_STR_MAX];

    /* Go's path.Match: '*' and '?' never match '/', which is FNM_PATHNAME. */
    if (fnmatch(pattern, store_ref_familiar(ref, buf, sizeof(buf)), FNM_PATHNAME) == 0)
        return true;
    return fnmatch(pattern, store_ref_familiar_name(ref, buf, sizeof(buf)), FNM_PATHNAME) == 0;
}
