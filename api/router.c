#include "api/router.h"

#include <string.h>

#define MAX_SEGMENTS 64

unsigned api_method_parse(const char *s)
{
    static const struct {
        const char *name;
        unsigned m;
    } map[] = {
        {"GET", API_GET}, {"HEAD", API_HEAD},     {"POST", API_POST},
        {"PUT", API_PUT}, {"DELETE", API_DELETE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (streq(s, map[i].name))
            return map[i].m;
    return 0;
}

int api_version_parse(const char *s, int *ret)
{
    unsigned major = 0, minor = 0;
    const char *p = s;
    size_t digits = 0;

    for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
        major = major * 10 + (unsigned)(*p - '0');
    if (!digits || *p != '.')
        return -EINVAL;
    p++;
    for (digits = 0; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
        minor = minor * 10 + (unsigned)(*p - '0');
    if (!digits || *p || minor > 99)
        return -EINVAL;
    *ret = API_VERSION_NUM((int)major, (int)minor);
    return 0;
}

static void version_string(int v, char *buf, size_t size)
{
    snprintf(buf, size, "%d.%d", v / 100, v % 100);
}

/* Splits s (modified in place) at '/' into at most MAX_SEGMENTS segments; a leading slash
 * starts no segment, a doubled or trailing one gives an empty segment. -E2BIG past the cap. */
static int split(char *s, char **segs)
{
    int n = 0;

    if (*s == '/')
        s++;
    for (;;) {
        if (n == MAX_SEGMENTS)
            return -E2BIG;
        segs[n++] = s;
        char *slash = strchr(s, '/');
        if (!slash)
            return n;
        *slash = '\0';
        s = slash + 1;
    }
}

static bool is_param(const char *pat, size_t len, bool *greedy)
{
    if (len < 3 || pat[0] != '{' || pat[len - 1] != '}')
        return false;
    *greedy = pat[len - 2] == '*';
    return true;
}

/* Compares one pattern against the path segments without changing them. On success fills
 * m->params and says which segment starts the greedy parameter (-1: none) and how many more
 * segments it absorbs, for join_greedy(). */
static bool match_pattern(const char *pattern, char **segs, int nseg, struct api_match *m,
                          int *ret_greedy_at, int *ret_extra)
{
    const char *pat[MAX_SEGMENTS];
    size_t plen[MAX_SEGMENTS];
    int npat = 0, greedy_at = -1;

    for (const char *p = pattern + 1; npat < MAX_SEGMENTS; npat++) {
        const char *slash = strchr(p, '/');
        bool greedy = false;
        pat[npat] = p;
        plen[npat] = slash ? (size_t)(slash - p) : strlen(p);
        if (is_param(p, plen[npat], &greedy) && greedy)
            greedy_at = npat;
        if (!slash) {
            npat++;
            break;
        }
        p = slash + 1;
    }

    if (greedy_at < 0 ? nseg != npat : nseg < npat)
        return false;

    const char *params[API_MAX_PARAMS];
    size_t np = 0;
    int extra = nseg - npat; /* segments the greedy parameter absorbs beyond its one */
    for (int i = 0, s = 0; i < npat; i++, s++) {
        bool greedy = false;
        if (is_param(pat[i], plen[i], &greedy)) {
            if (segs[s][0] == '\0' || np == API_MAX_PARAMS)
                return false;
            params[np++] = segs[s];
            if (greedy)
                for (int k = 0; k < extra; k++) {
                    if (segs[s + 1][0] == '\0')
                        return false;
                    s++;
                }
            continue;
        }
        if (strlen(segs[s]) != plen[i] || memcmp(segs[s], pat[i], plen[i]) != 0)
            return false;
    }

    memcpy(m->params, params, np * sizeof(params[0]));
    m->n_params = np;
    *ret_greedy_at = greedy_at;
    *ret_extra = extra;
    return true;
}

/* Puts back the '/' between the greedy parameter's segments: they are adjacent in the buffer
 * that split() cut up. */
static void join_greedy(char **segs, int greedy_at, int extra)
{
    for (int k = 0; greedy_at >= 0 && k < extra; k++)
        segs[greedy_at + k][strlen(segs[greedy_at + k])] = '/';
}

int api_route_match(const struct api_route *routes, size_t n_routes, unsigned method,
                    const char *path, int min_version, int max_version, struct api_match *ret,
                    struct iso_err *err)
{
    struct api_match m = {.version = max_version};
    char *segs[MAX_SEGMENTS];
    int nseg;

    /* Docker's prefix: "/v<digits>.<digits>" followed by the path proper. */
    if (path[0] == '/' && path[1] == 'v' && path[2] >= '0' && path[2] <= '9') {
        const char *end = strchr(path + 1, '/');
        char vs[16];
        size_t vlen = end ? (size_t)(end - path - 2) : strlen(path + 2);

        if (vlen < sizeof(vs)) {
            memcpy(vs, path + 2, vlen);
            vs[vlen] = '\0';
            if (api_version_parse(vs, &m.version) == 0) {
                char lim[16];
                if (m.version > max_version) {
                    version_string(max_version, lim, sizeof(lim));
                    return iso_err_set(err, EINVAL,
                                       "client version %s is too new. Maximum supported API "
                                       "version is %s",
                                       vs, lim);
                }
                if (m.version < min_version) {
                    version_string(min_version, lim, sizeof(lim));
                    return iso_err_set(err, EINVAL,
                                       "client version %s is too old. Minimum supported API "
                                       "version is %s, please upgrade your client to a newer "
                                       "version",
                                       vs, lim);
                }
                path = end ? end : "";
            }
        }
    }
    if (path[0] != '/')
        return iso_err_set(err, ENOENT, "page not found");

    m.buf = strdup(path);
    if (!m.buf)
        return iso_err_set(err, ENOMEM, "out of memory");
    nseg = split(m.buf, segs);
    for (size_t i = 0; nseg > 0 && i < n_routes; i++) {
        int greedy_at, extra;
        if (!match_pattern(routes[i].pattern, segs, nseg, &m, &greedy_at, &extra))
            continue;
        if (!(routes[i].methods & method)) {
            m.allowed |= routes[i].methods;
            continue;
        }
        join_greedy(segs, greedy_at, extra);
        m.route = &routes[i];
        m.allowed = 0;
        *ret = m;
        return 0;
    }
    free(m.buf);
    if (m.allowed) {
        *ret = (struct api_match){.allowed = m.allowed};
        return iso_err_set(err, EOPNOTSUPP, "method not allowed");
    }
    return iso_err_set(err, ENOENT, "page not found");
}

void api_match_done(struct api_match *m)
{
    free(m->buf);
    *m = (struct api_match){0};
}
