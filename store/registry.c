#include "store/registry.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "build-config.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_SCHEMA1  "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SIGNED1  "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"

/* Schema 1 is asked for too, so that a registry holding only that answers with it and the
 * user learns why the pull fails instead of getting "manifest unknown". */
#define MANIFEST_ACCEPT                                                                            \
    "Accept: " MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST       \
    ", " MT_DOCKER_SIGNED1

#define DOCKER_HUB_DOMAIN   "docker.io"
#define DOCKER_HUB_REGISTRY "registry-1.docker.io"

#define JSON_DEPTH_MAX    32
#define INDEX_ENTRIES_MAX 1024
#define ERR_BODY_MAX      (64u << 10)
#define TOKEN_BODY_MAX    (1u << 20)
#define PING_BODY_MAX     (64u << 10)

#define CONNECT_TIMEOUT_S 10
#define LOW_SPEED_BYTES   1024
#define LOW_SPEED_TIME_S  60
/* Manifests, configs and tokens are small: a whole request may take this long. Blob streams
 * have no total limit, only the low-speed one. */
#define SMALL_TIMEOUT_S  300
#define MAX_REDIRECTS    10
#define DEFAULT_ATTEMPTS 3
#define BACKOFF_MS       200
#define RETRY_AFTER_MAX  10
/* Tokens without expires_in live 60 s (the distribution token spec); renew a little early. */
#define TOKEN_DEFAULT_TTL_S 60
#define TOKEN_MARGIN_S      5

enum auth_kind {
    AUTH_NONE,
    AUTH_BASIC,
    AUTH_BEARER,
};

struct token {
    char *scope;
    char *value;
    uint64_t expires_ns; /* monotonic */
};

/* What we know about one registry (by the reference's domain). */
struct host {
    struct host *next;
    char *domain;
    char *base; /* "https://registry-1.docker.io", "http://127.0.0.1:5000" */
    bool plain_http;
    bool pinged;
    enum auth_kind challenge; /* from the last 401: what the registry wants */
    char *realm, *service;
    struct token *tokens;
    size_t n_tokens;
};

struct store_registry {
    pthread_mutex_t lock;
    /* Under lock: the multi handle of small requests (its connection cache keeps
     * connections to the registry and the token server alive between them), the hosts. */
    CURLM *multi;
    struct host *hosts; /* a list: records never move */

    /* Read-only after new(). */
    char **insecure;
    size_t n_insecure;
    char *username, *password, *identitytoken, *registrytoken;
    char *os, *arch, *variant;
    unsigned max_attempts;
};

/* One HTTP exchange on a multi handle, driven by whoever waits for it. */
struct xfer {
    CURLM *multi;
    bool own_multi, added;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    const char *method; /* "Get", "Post": for messages, Go's way */
    char errbuf[CURL_ERROR_SIZE];

    /* The response being received; reset by each status line (redirects, 100 Continue). */
    long status;
    bool follow, has_location, headers_done, done;
    CURLcode result;
    char *www_auth;
    char content_type[STORE_MEDIA_TYPE_MAX + 1];
    char docker_digest[STORE_REF_DIGEST_MAX + 1];
    long retry_after;
    int64_t content_length;

    /* Body bytes not yet consumed: buf[off, len). */
    char *buf;
    size_t len, off, cap;
    uint64_t limit, received;
    bool overflow, oom;

    /* How the request was authorised, for the error message of a 401/403. */
    enum auth_kind auth;
    bool auth_with_creds;
};

struct store_blob_stream {
    struct xfer *x;
    char digest[STORE_REF_DIGEST_MAX + 1];
    char name[STORE_REF_STR_MAX];
    int64_t size, bytes;
    struct iso_err err;
};

/* What a request is for: decides the error messages. */
enum req_kind {
    REQ_PING,
    REQ_TOKEN,
    REQ_MANIFEST,
    REQ_BLOB,
};

struct req {
    enum req_kind kind;
    const struct store_ref *ref;
    struct host *host;
    const char *url;
    const char *accept; /* a full "Accept: ..." header or NULL */
    uint64_t limit;     /* body bytes accepted from a 2xx */
    bool small;         /* on the client's multi, lock held */
    /* Token requests: HTTP basic credentials, a POST body. */
    bool basic;
    const char *post;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *strdup_or_null(const char *s, bool *oom)
{
    char *d;

    if (!s || !s[0])
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* Overwrites a secret before freeing it. */
static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* 200 ms, 800 ms, 3.2 s...; a Retry-After (seconds, capped) may lengthen the pause. */
static void backoff(unsigned attempt, long retry_after)
{
    uint64_t ms = BACKOFF_MS;

    for (unsigned i = 1; i < attempt && ms < 60000; i++)
        ms *= 4;
    if (retry_after > 0) {
        uint64_t ra = (uint64_t)(retry_after > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : retry_after);
        if (ra * 1000 > ms)
            ms = ra * 1000;
    }
    sleep_ms(ms);
}

/*
 * Digests and JSON.
 */

static int digest_compute(const char *algo, const void *buf, size_t len, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const EVP_MD *type = EVP_get_digestbyname(algo);
    int n;

    if (!type || EVP_Digest(buf, len, md, &mdlen, type, NULL) != 1)
        return -EINVAL;
    n = snprintf(out, size, "%s:", algo);
    if (n < 0 || (size_t)n + 2 * (size_t)mdlen + 1 > size)
        return -EINVAL;
    for (size_t i = 0; i < mdlen; i++)
        snprintf(out + n + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The algorithm part of a validated digest ("sha256"). */
static void digest_algo(const char *digest, char *out, size_t size)
{
    size_t n = strcspn(digest, ":");

    snprintf(out, size, "%.*s", (int)n, digest);
}

/* jansson's own limit is 2048 levels; a manifest needs 4 or 5. */
static bool json_depth_ok(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false, esc = false;

    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > JSON_DEPTH_MAX)
                return false;
        } else if (ch == ']' || ch == '}') {
            depth--;
        }
    }
    return true;
}

/* "MANIFEST_UNKNOWN" -> "manifest unknown", as Docker's errcode prints codes. */
static void code_text(const char *code, char *out, size_t size)
{
    size_t i = 0;

    for (; code[i] && i + 1 < size; i++)
        out[i] = code[i] == '_' ? ' ' : (char)tolower((unsigned char)code[i]);
    out[i] = '\0';
}

/* The first error of a registry's {"errors":[{"code","message"}]} body as "code text:
 * message", and the raw code; false when the body is no such thing. Token servers answer
 * {"details": "..."} instead. */
static bool registry_error_text(const char *body, size_t len, char *out, size_t size, char *code,
                                size_t code_size)
{
    _cleanup_json_ json_t *root = NULL;
    json_t *errors, *e, *v;
    const char *c = NULL, *msg = NULL;
    char ctext[64];

    out[0] = code[0] = '\0';
    if (!body || len == 0 || !json_depth_ok(body, len))
        return false;
    root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root))
        return false;
    errors = json_object_get(root, "errors");
    if (json_is_array(errors) && (e = json_array_get(errors, 0)) && json_is_object(e)) {
        v = json_object_get(e, "code");
        c = json_is_string(v) ? json_string_value(v) : NULL;
        v = json_object_get(e, "message");
        msg = json_is_string(v) ? json_string_value(v) : NULL;
    } else if (json_is_string(v = json_object_get(root, "details"))) {
        msg = json_string_value(v);
    }
    if (!c && !msg)
        return false;
    if (c) {
        snprintf(code, code_size, "%s", c);
        code_text(c, ctext, sizeof(ctext));
    }
    /* Registry messages are untrusted text: keep them short and printable. */
    snprintf(out, size, "%.64s%s%.200s", c ? ctext : "", c && msg && msg[0] ? ": " : "",
             msg ? msg : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return true;
}

/*
 * Hosts: scheme, base URL, auth challenge, tokens.
 */

static void host_free(struct host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_tokens; i++) {
        free(h->tokens[i].scope);
        free_secret(h->tokens[i].value);
    }
    free(h->tokens);
    free(h->domain);
    free(h->base);
    free(h->realm);
    free(h->service);
    free(h);
}

/* Splits "host[:port]" / "[v6]:port" into the bare host (brackets removed). */
static void domain_host(const char *domain, char *out, size_t size)
{
    if (domain[0] == '[') {
        size_t n = strcspn(domain + 1, "]");
        snprintf(out, size, "%.*s", (int)n, domain + 1);
    } else {
        size_t n = strcspn(domain, ":");
        snprintf(out, size, "%.*s", (int)n, domain);
    }
}

static bool cidr_contains(const char *cidr, const char *host)
{
    unsigned char net[16], addr[16];
    char buf[64];
    const char *slash = strchr(cidr, '/');
    int family, bits, max;
    char *end;

    if (!slash || (size_t)(slash - cidr) >= sizeof(buf))
        return false;
    snprintf(buf, sizeof(buf), "%.*s", (int)(slash - cidr), cidr);
    family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    max = family == AF_INET6 ? 128 : 32;
    errno = 0;
    bits = (int)strtol(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1 || bits < 0 || bits > max)
        return false;
    if (inet_pton(family, buf, net) != 1 || inet_pton(family, host, addr) != 1)
        return false;
    for (int i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80 >> (i % 8));
        if ((net[i / 8] & m) != (addr[i / 8] & m))
            return false;
    }
    return true;
}

static bool is_plain_http(const struct store_registry *c, const char *domain)
{
    char host[STORE_REF_NAME_MAX + 1];
    struct in_addr a4;

    domain_host(domain, host, sizeof(host));
    if (streq(host, "localhost") || streq(host, "::1"))
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127)
        return true;
    for (size_t i = 0; i < c->n_insecure; i++) {
        const char *e = c->insecure[i];
        if (strcasecmp(e, domain) == 0 || strcasecmp(e, host) == 0 || cidr_contains(e, host))
            return true;
    }
    return false;
}

/* The host record for ref's domain, created on first use. Lock held. */
static int host_get_locked(struct store_registry *c, const struct store_ref *ref, struct host **ret)
{
    struct host *h;

    for (h = c->hosts; h; h = h->next)
        if (streq(h->domain, ref->domain)) {
            *ret = h;
            return 0;
        }
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->plain_http = is_plain_http(c, ref->domain);
    h->domain = strdup(ref->domain);
    h->base =
        iso_strprintf("%s://%s", h->plain_http ? "http" : "https",
                      streq(ref->domain, DOCKER_HUB_DOMAIN) ? DOCKER_HUB_REGISTRY : ref->domain);
    if (!h->domain || !h->base) {
        host_free(h);
        return -ENOMEM;
    }
    h->next = c->hosts;
    c->hosts = h;
    *ret = h;
    return 0;
}

struct challenge {
    enum auth_kind kind;
    char realm[1024];
    char service[1024];
};

/* Parses `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
 * scope="repository:library/busybox:pull"` or `Basic realm="x"`. Unknown schemes are
 * AUTH_NONE. */
static void challenge_parse(const char *s, struct challenge *ch)
{
    size_t n;

    memset(ch, 0, sizeof(*ch));
    if (!s)
        return;
    s += strspn(s, " \t");
    n = strcspn(s, " \t");
    if (n == 6 && strncasecmp(s, "Bearer", 6) == 0)
        ch->kind = AUTH_BEARER;
    else if (n == 5 && strncasecmp(s, "Basic", 5) == 0)
        ch->kind = AUTH_BASIC;
    else
        return;
    s += n;
    for (;;) {
        char key[32], val[1024];
        size_t k, v = 0;

        s += strspn(s, " \t,");
        k = strcspn(s, "= \t,");
        if (k == 0 || s[k] != '=')
            return; /* the end, or the next challenge */
        snprintf(key, sizeof(key), "%.*s", (int)k, s);
        s += k + 1;
        if (*s == '"') {
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                if (v + 1 < sizeof(val))
                    val[v++] = *s;
                s++;
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ',' && *s != ' ' && *s != '\t') {
                if (v + 1 < sizeof(val))
                    val[v++] = *s;
                s++;
            }
        }
        val[v] = '\0';
        if (strcasecmp(key, "realm") == 0)
            snprintf(ch->realm, sizeof(ch->realm), "%s", val);
        else if (strcasecmp(key, "service") == 0)
            snprintf(ch->service, sizeof(ch->service), "%s", val);
    }
}

/* Records a challenge on the host. Lock held. */
static int host_set_challenge_locked(struct host *h, const struct challenge *ch)
{
    char *realm = NULL, *service = NULL;

    if (ch->kind == AUTH_BEARER) {
        if (ch->realm[0] && !(realm = strdup(ch->realm)))
            return -ENOMEM;
        if (ch->service[0] && !(service = strdup(ch->service))) {
            free(realm);
            return -ENOMEM;
        }
    }
    free(h->realm);
    free(h->service);
    h->realm = realm;
    h->service = service;
    h->challenge = ch->kind;
    return 0;
}

static void host_drop_token_locked(struct host *h, const char *scope)
{
    for (size_t i = 0; i < h->n_tokens; i++)
        if (streq(h->tokens[i].scope, scope)) {
            free(h->tokens[i].scope);
            free_secret(h->tokens[i].value);
            h->tokens[i] = h->tokens[--h->n_tokens];
            return;
        }
}

static bool has_creds(const struct store_registry *c)
{
    return c->username && c->password;
}

/*
 * Transfers.
 */

static struct xfer *xfer_free(struct xfer *x)
{
    if (!x)
        return NULL;
    if (x->easy) {
        if (x->added)
            (void)curl_multi_remove_handle(x->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    if (x->own_multi && x->multi)
        (void)curl_multi_cleanup(x->multi);
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->www_auth);
    free(x->buf);
    free(x);
    return NULL;
}

static void xfer_freep(struct xfer **x)
{
    *x = xfer_free(*x);
}
#define _cleanup_xfer_ _cleanup_(xfer_freep)

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static bool header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);

    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return false;
    *val = line + k + 1;
    *vlen = n - k - 1;
    trim(val, vlen);
    return true;
}

static size_t on_header(char *p, size_t sz, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * nmemb, n = len;
    const char *line = p, *val;
    size_t vlen;

    if (x->headers_done)
        return len; /* trailers */
    while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        n--;
    if (n >= 5 && strneq(line, "HTTP/", 5)) {
        const char *sp = memchr(line, ' ', n);
        x->status = 0;
        if (sp)
            for (const char *d = sp + 1; d < line + n && *d >= '0' && *d <= '9'; d++)
                x->status = x->status * 10 + (*d - '0');
        x->has_location = false;
        x->content_type[0] = x->docker_digest[0] = '\0';
        x->retry_after = 0;
        x->content_length = -1;
        free(x->www_auth);
        x->www_auth = NULL;
        return len;
    }
    if (n == 0) {
        if (x->status >= 100 && x->status < 200)
            return len;
        /* curl follows this one: its body is skipped and the next status line comes. */
        if (x->follow && x->status >= 300 && x->status < 400 && x->status != 304 && x->has_location)
            return len;
        x->headers_done = true;
        return len;
    }
    if (header_is(line, n, "content-type", &val, &vlen)) {
        size_t semi = strcspn(val, ";");
        if (semi < vlen)
            vlen = semi;
        trim(&val, &vlen);
        snprintf(x->content_type, sizeof(x->content_type), "%.*s", (int)vlen, val);
    } else if (header_is(line, n, "docker-content-digest", &val, &vlen)) {
        snprintf(x->docker_digest, sizeof(x->docker_digest), "%.*s", (int)vlen, val);
    } else if (header_is(line, n, "location", &val, &vlen)) {
        x->has_location = vlen > 0;
    } else if (header_is(line, n, "retry-after", &val, &vlen)) {
        x->retry_after = 0;
        for (size_t i = 0; i < vlen && val[i] >= '0' && val[i] <= '9' && x->retry_after < 3600; i++)
            x->retry_after = x->retry_after * 10 + (val[i] - '0');
    } else if (header_is(line, n, "content-length", &val, &vlen)) {
        x->content_length = 0;
        for (size_t i = 0;
             i < vlen && val[i] >= '0' && val[i] <= '9' && x->content_length < INT64_MAX / 10 - 10;
             i++)
            x->content_length = x->content_length * 10 + (val[i] - '0');
    } else if (header_is(line, n, "www-authenticate", &val, &vlen)) {
        /* Several challenges may come; Bearer is the one to answer. */
        bool bearer = vlen >= 6 && strncasecmp(val, "bearer", 6) == 0;
        if (!x->www_auth || (bearer && strncasecmp(x->www_auth, "bearer", 6) != 0)) {
            char *d = strndup(val, vlen);
            if (d) {
                free(x->www_auth);
                x->www_auth = d;
            }
        }
    }
    return len;
}

static bool status_ok(long status)
{
    return status >= 200 && status < 300;
}

static size_t on_body(char *p, size_t sz, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * nmemb, keep = len;

    if (!status_ok(x->status)) {
        /* An error body only serves the message. */
        keep = x->len < ERR_BODY_MAX ? ERR_BODY_MAX - x->len : 0;
        if (keep > len)
            keep = len;
    } else if (len > x->limit - x->received) {
        x->overflow = true;
        return 0;
    }
    if (x->len + keep + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + keep + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b) {
            x->oom = true;
            return 0;
        }
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, keep);
    x->len += keep;
    x->buf[x->len] = '\0';
    if (status_ok(x->status))
        x->received += len;
    return len;
}

static int xfer_setup(struct store_registry *c, const struct req *rq, enum auth_kind auth,
                      const char *bearer, struct xfer *x)
{
    CURL *e;
    bool ok = true;

    x->method = rq->post ? "Post" : "Get";
    x->follow = true;
    x->limit = rq->limit;
    x->content_length = -1;
    x->auth = auth;
    x->url = strdup(rq->url);
    if (!x->url)
        return -ENOMEM;
    if (rq->small) {
        x->multi = c->multi;
    } else {
        x->multi = curl_multi_init();
        x->own_multi = true;
        if (!x->multi)
            return -ENOMEM;
    }
    x->easy = e = curl_easy_init();
    if (!e)
        return -ENOMEM;

    if (rq->accept && !(x->headers = curl_slist_append(x->headers, rq->accept)))
        return -ENOMEM;
    if (auth == AUTH_BEARER) {
        struct curl_slist *l;
        char *authz = iso_strprintf("Authorization: Bearer %s", bearer);
        if (!authz)
            return -ENOMEM;
        l = curl_slist_append(x->headers, authz);
        free_secret(authz);
        if (!l)
            return -ENOMEM;
        x->headers = l;
    }

    ok = ok && curl_easy_setopt(e, CURLOPT_URL, x->url) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS) == CURLE_OK;
#endif
    /* Registries send blobs to storage elsewhere. curl (>= 7.83) drops a custom
     * Authorization header and basic credentials when a redirect leaves the scheme, host and
     * port; UNRESTRICTED_AUTH stays off to keep it that way. */
    ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S) == CURLE_OK;
    if (rq->small)
        ok = ok && curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)SMALL_TIMEOUT_S) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT, "isod/" ISOD_VERSION) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK;
    if (x->headers)
        ok = ok && curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK;
    if (auth == AUTH_BASIC || rq->basic) {
        ok = ok && curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_USERNAME, c->username) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_PASSWORD, c->password) == CURLE_OK;
    }
    if (rq->post)
        ok = ok && curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, rq->post) == CURLE_OK;
    if (!ok)
        return -ENOMEM;

    if (curl_multi_add_handle(x->multi, e) != CURLM_OK)
        return -ENOMEM;
    x->added = true;
    return 0;
}

static int xfer_new(struct store_registry *c, const struct req *rq, enum auth_kind auth,
                    const char *bearer, struct xfer **ret)
{
    struct xfer *x = calloc(1, sizeof(*x));
    int r;

    if (!x)
        return -ENOMEM;
    r = xfer_setup(c, rq, auth, bearer, x);
    if (r < 0) {
        xfer_free(x);
        return r;
    }
    *ret = x;
    return 0;
}

static bool pred_headers(const struct xfer *x)
{
    return x->headers_done;
}

static bool pred_data(const struct xfer *x)
{
    return x->off < x->len;
}

static bool pred_never(const struct xfer *x)
{
    return false;
}

/* Drives the transfer until pred holds or it ends. */
static int xfer_run(struct xfer *x, bool (*pred)(const struct xfer *))
{
    while (!x->done) {
        CURLMsg *m;
        int running = 0, queued;

        if (curl_multi_perform(x->multi, &running) != CURLM_OK)
            return -EIO;
        while ((m = curl_multi_info_read(x->multi, &queued)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == x->easy) {
                x->done = true;
                x->result = m->data.result;
            }
        if (x->done || pred(x))
            break;
        if (curl_multi_poll(x->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            return -EIO;
    }
    return 0;
}

/* "host:port" of the URL the transfer ended on, for "dial tcp HOST:PORT". */
static void xfer_hostport(struct xfer *x, char *out, size_t size)
{
    char *eff = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();

    snprintf(out, size, "?");
    if (!u)
        return;
    (void)curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff);
    if (curl_url_set(u, CURLUPART_URL, eff ? eff : x->url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(out, size, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static const char *xfer_url(struct xfer *x)
{
    char *eff = NULL;

    (void)curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff);
    return eff ? eff : x->url;
}

/* Lowercased strerror, as Go prints syscall errors. */
static void errno_text(int e, char *out, size_t size)
{
    snprintf(out, size, "%s", strerror(e));
    if (out[0])
        out[0] = (char)tolower((unsigned char)out[0]);
}

static bool curl_tls_error(CURLcode r)
{
    switch (r) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

/* Whether a failed transfer is worth another try. A refused connection is an answer:
 * nothing listens there. */
static bool curl_retryable(struct xfer *x)
{
    long os_errno = 0;

    switch (x->result) {
    case CURLE_COULDNT_CONNECT:
        (void)curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
        return os_errno != ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* The message for a transfer that failed below HTTP: says what failed and where. */
static int transport_error(struct xfer *x, struct iso_err *err)
{
    char hp[STORE_REF_NAME_MAX + 16], et[128], host[STORE_REF_NAME_MAX + 1];
    const char *url = xfer_url(x),
               *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result);
    long os_errno = 0;
    double connect_time = 0;

    if (x->oom)
        return iso_err_set(err, ENOMEM, "%s \"%s\": out of memory", x->method, url);
    (void)curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
    xfer_hostport(x, hp, sizeof(hp));
    switch (x->result) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno <= 0)
            os_errno = ECONNREFUSED;
        errno_text((int)os_errno, et, sizeof(et));
        return iso_err_set(err, (int)os_errno, "%s \"%s\": dial tcp %s: connect: %s", x->method,
                           url, hp, et);
    case CURLE_COULDNT_RESOLVE_HOST:
        domain_host(hp, host, sizeof(host));
        return iso_err_set(err, EHOSTUNREACH, "%s \"%s\": dial tcp: lookup %s: no such host",
                           x->method, url, host);
    case CURLE_OPERATION_TIMEDOUT:
        (void)curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME, &connect_time);
        if (connect_time <= 0)
            return iso_err_set(err, ETIMEDOUT, "%s \"%s\": dial tcp %s: i/o timeout", x->method,
                               url, hp);
        return iso_err_set(err, ETIMEDOUT, "%s \"%s\": timeout: %s", x->method, url, detail);
    case CURLE_GOT_NOTHING:
        return iso_err_set(err, ECONNRESET,
                           "%s \"%s\": EOF: the server closed the connection without a response",
                           x->method, url);
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return iso_err_set(err, ECONNRESET, "%s \"%s\": %s", x->method, url, detail);
    case CURLE_PARTIAL_FILE:
        return iso_err_set(err, EPIPE, "%s \"%s\": unexpected EOF: %s", x->method, url, detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return iso_err_set(err, ELOOP, "%s \"%s\": stopped after %d redirects", x->method, url,
                           MAX_REDIRECTS);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return iso_err_set(err, EPROTO, "%s \"%s\": redirected to an unsupported protocol",
                           x->method, url);
    default:
        break;
    }
    if (curl_tls_error(x->result))
        return iso_err_set(err, EPROTO, "%s \"%s\": tls: %s%s", x->method, url, detail,
                           x->result == CURLE_SSL_CONNECT_ERROR
                               ? " (a registry without TLS must be listed in insecure-registries)"
                               : "");
    return iso_err_set(err, EIO, "%s \"%s\": %s", x->method, url, detail);
}

/*
 * Requests: auth, retries.
 */

static int request_open(struct store_registry *c, struct req *rq, struct xfer **ret,
                        struct iso_err *err);

static int xfer_read_all(struct xfer *x, struct iso_err *err)
{
    int r = xfer_run(x, pred_never);

    if (r < 0)
        return iso_err_set(err, EIO, "%s \"%s\": curl multi interface failed", x->method,
                           xfer_url(x));
    return 0;
}

/* A small request to completion: status and body in *ret. */
static int request_full(struct store_registry *c, struct req *rq, struct xfer **ret,
                        struct iso_err *err)
{
    _cleanup_xfer_ struct xfer *x = NULL;
    int r;

    r = request_open(c, rq, &x, err);
    if (r < 0)
        return r;
    assert(x);
    r = xfer_read_all(x, err);
    if (r < 0)
        return r;
    if (x->result != CURLE_OK && !(x->overflow && x->result == CURLE_WRITE_ERROR))
        return transport_error(x, err);
    *ret = TAKE_PTR(x);
    return 0;
}

/* GET /v2/: whether and how the registry wants us to authenticate. Lock held. */
static int ping_locked(struct store_registry *c, struct host *h, struct iso_err *err)
{
    _cleanup_xfer_ struct xfer *x = NULL;
    _cleanup_free_ char *url = iso_strprintf("%s/v2/", h->base);
    struct req rq = {
        .kind = REQ_PING, .host = h, .url = url, .limit = PING_BODY_MAX, .small = true};
    struct challenge ch = {};
    int r;

    if (!url)
        return iso_err_set(err, ENOMEM, "out of memory");
    r = request_full(c, &rq, &x, err);
    if (r < 0)
        return r;
    assert(x);
    /* 200: no auth. 401: a challenge. Anything else is left to the real request to report. */
    if (x->status == 401)
        challenge_parse(x->www_auth, &ch);
    r = host_set_challenge_locked(h, &ch);
    if (r < 0)
        return iso_err_set(err, -r, "out of memory");
    h->pinged = true;
    return 0;
}

static int token_error(struct xfer *x, const char *realm, bool creds, struct iso_err *err)
{
    char text[320], code[64];

    if (!registry_error_text(x->buf, x->len, text, sizeof(text), code, sizeof(code)))
        snprintf(text, sizeof(text), "%s",
                 x->status == 401
                     ? (creds ? "incorrect username or password" : "authentication required")
                     : "access denied");
    if (x->status == 401 || x->status == 403)
        return iso_err_set(err, EACCES, "%s \"%s\": unauthorized: %s", x->method, realm, text);
    return iso_err_set(err, x->status == 404 ? ENOENT : EIO,
                       "%s \"%s\": token server answered HTTP status %ld%s%s", x->method, realm,
                       x->status, text[0] ? ": " : "", text);
}

static char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *d = e ? strdup(e) : NULL;

    curl_free(e);
    return d;
}

/* Gets a Bearer token for scope from the host's realm. Lock held. */
static int token_fetch_locked(struct store_registry *c, struct host *h, const char *scope,
                              char **ret, struct iso_err *err)
{
    _cleanup_xfer_ struct xfer *x = NULL;
    _cleanup_json_ json_t *root = NULL;
    _cleanup_free_ char *url = NULL, *esc_service = NULL, *esc_scope = NULL, *post = NULL;
    _cleanup_free_ char *esc_refresh = NULL;
    struct req rq = {.kind = REQ_TOKEN, .limit = TOKEN_BODY_MAX, .small = true};
    const char *tok = NULL;
    int64_t ttl = TOKEN_DEFAULT_TTL_S;
    struct token *tokens;
    char *value, *scope_copy;
    bool creds;
    int r;

    if (!h->realm)
        return iso_err_set(err, EPROTO, "registry %s asked for a Bearer token without a realm",
                           h->domain);
    if (strncasecmp(h->realm, "https://", 8) != 0 && strncasecmp(h->realm, "http://", 7) != 0)
        return iso_err_set(err, EPROTO, "registry %s sent an unsupported token realm '%.200s'",
                           h->domain, h->realm);
    creds = has_creds(c) || c->identitytoken;
    /* Credentials go over plain HTTP only to a registry that is plain HTTP itself. */
    if (creds && !h->plain_http && strncasecmp(h->realm, "http://", 7) == 0)
        return iso_err_set(err, EPROTO,
                           "refusing to send credentials for %s to the plain HTTP token realm "
                           "'%.200s'",
                           h->domain, h->realm);

    esc_service = escape(h->service ? h->service : "");
    esc_scope = escape(scope);
    if (!esc_service || !esc_scope)
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_ frees it; clang 14 cannot see. */
        return iso_err_set(err, ENOMEM, "out of memory");
    if (c->identitytoken) {
        /* OAuth2 refresh-token grant, as Docker does with an identity token. */
        esc_refresh = escape(c->identitytoken);
        if (!esc_refresh)
            return iso_err_set(err, ENOMEM, "out of memory");
        post = iso_strprintf("grant_type=refresh_token&client_id=isod&service=%s&scope=%s&"
                             "refresh_token=%s",
                             esc_service, esc_scope, esc_refresh);
        explicit_bzero(esc_refresh, strlen(esc_refresh));
        url = strdup(h->realm);
    } else {
        url = iso_strprintf("%s%cservice=%s&scope=%s", h->realm, strchr(h->realm, '?') ? '&' : '?',
                            esc_service, esc_scope);
        rq.basic = has_creds(c);
    }
    if (!url || (c->identitytoken && !post))
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_ frees it; clang 14 cannot see. */
        return iso_err_set(err, ENOMEM, "out of memory");
    rq.url = url;
    rq.post = post;
    r = request_full(c, &rq, &x, err);
    if (post)
        explicit_bzero(post, strlen(post));
    if (r < 0)
        return r;
    assert(x);
    if (x->status != 200)
        return token_error(x, h->realm, creds, err);
    if (x->overflow)
        return iso_err_set(err, EFBIG, "%s \"%s\": token response larger than %u bytes", x->method,
                           h->realm, TOKEN_BODY_MAX);
    if (!json_depth_ok(x->buf, x->len) || iso_json_parse(x->buf, x->len, &root, NULL) < 0 ||
        !json_is_object(root))
        return iso_err_set(err, EPROTO, "%s \"%s\": token response is not a JSON object", x->method,
                           h->realm);
    (void)iso_json_get_string(root, "token", false, &tok, NULL);
    if (!tok || !tok[0])
        (void)iso_json_get_string(root, "access_token", false, &tok, NULL);
    if (!tok || !tok[0])
        return iso_err_set(err, EPROTO, "%s \"%s\": token response has no token", x->method,
                           h->realm);
    (void)iso_json_get_int(root, "expires_in", false, &ttl, NULL);
    if (ttl < TOKEN_DEFAULT_TTL_S)
        ttl = TOKEN_DEFAULT_TTL_S;
    if (ttl > INT64_C(24) * 3600)
        ttl = INT64_C(24) * 3600;

    value = strdup(tok);
    scope_copy = strdup(scope);
    tokens = reallocarray(h->tokens, h->n_tokens + 1, sizeof(*tokens));
    if (tokens)
        h->tokens = tokens;
    if (!value || !scope_copy || !tokens || !(*ret = strdup(tok))) {
        free_secret(value);
        free(scope_copy);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    host_drop_token_locked(h, scope);
    h->tokens[h->n_tokens++] = (struct token){
        .scope = scope_copy,
        .value = value,
        .expires_ns = iso_now_mono_ns() + (uint64_t)(ttl - TOKEN_MARGIN_S) * 1000000000ull,
    };
    log_debug("registry token obtained", "domain=%s scope=%s", h->domain, scope);
    return 0;
}

/* Decides how to authorise a request to h for scope: pings first, reuses a live token unless
 * refresh. *ret_bearer (malloc'd) for AUTH_BEARER. *ret_fresh: the token was just fetched.
 * Lock held. */
static int auth_prepare_locked(struct store_registry *c, struct host *h, const char *scope,
                               bool refresh, enum auth_kind *ret_kind, char **ret_bearer,
                               bool *ret_fresh, struct iso_err *err)
{
    uint64_t now = iso_now_mono_ns();
    int r;

    *ret_kind = AUTH_NONE;
    *ret_bearer = NULL;
    *ret_fresh = false;
    if (!h->pinged) {
        r = ping_locked(c, h, err);
        if (r < 0)
            return r;
    }
    if (c->registrytoken) {
        *ret_bearer = strdup(c->registrytoken);
        if (!*ret_bearer)
            return iso_err_set(err, ENOMEM, "out of memory");
        *ret_kind = AUTH_BEARER;
        return 0;
    }
    switch (h->challenge) {
    case AUTH_NONE:
        return 0;
    case AUTH_BASIC:
        if (has_creds(c))
            *ret_kind = AUTH_BASIC;
        return 0;
    case AUTH_BEARER:
        if (refresh)
            host_drop_token_locked(h, scope);
        for (size_t i = 0; i < h->n_tokens; i++)
            if (streq(h->tokens[i].scope, scope)) {
                if (h->tokens[i].expires_ns <= now)
                    break;
                *ret_bearer = strdup(h->tokens[i].value);
                if (!*ret_bearer)
                    return iso_err_set(err, ENOMEM, "out of memory");
                *ret_kind = AUTH_BEARER;
                return 0;
            }
        r = token_fetch_locked(c, h, scope, ret_bearer, err);
        if (r < 0)
            return r;
        *ret_kind = AUTH_BEARER;
        *ret_fresh = true;
        return 0;
    }
    return 0;
}

/* After a 401: records the challenge; true when another try with other auth may pass. */
static bool auth_retry_locked(struct store_registry *c, struct host *h, const struct xfer *x,
                              bool fresh)
{
    struct challenge ch;

    challenge_parse(x->www_auth, &ch);
    if (ch.kind == AUTH_NONE || c->registrytoken)
        return false;
    if (host_set_challenge_locked(h, &ch) < 0)
        return false;
    if (ch.kind == AUTH_BEARER)
        return !(x->auth == AUTH_BEARER && fresh);
    return has_creds(c) && x->auth != AUTH_BASIC;
}

static void lock_if(struct store_registry *c, bool cond)
{
    if (cond)
        pthread_mutex_lock(&c->lock);
}

static void unlock_if(struct store_registry *c, bool cond)
{
    if (cond)
        pthread_mutex_unlock(&c->lock);
}

/* Starts the request and waits for its final response's headers, with auth and retries.
 * Returns the transfer with any HTTP status but 401-that-auth-can-fix and retried statuses;
 * transport failures become the error. rq->small: the caller holds the lock. */
static int request_open(struct store_registry *c, struct req *rq, struct xfer **ret,
                        struct iso_err *err)
{
    bool authed = rq->kind == REQ_MANIFEST || rq->kind == REQ_BLOB;
    bool take_lock = !rq->small;
    unsigned attempt = 0, auth_rounds = 0;
    bool refresh = false;
    char scope[STORE_REF_NAME_MAX + 32] = "";
    int r;

    if (authed) {
        snprintf(scope, sizeof(scope), "repository:%s:pull", rq->ref->path);
        if (!rq->host) {
            lock_if(c, take_lock);
            r = host_get_locked(c, rq->ref, &rq->host);
            unlock_if(c, take_lock);
            if (r < 0)
                return iso_err_set(err, -r, "out of memory");
        }
    }

    for (;;) {
        _cleanup_xfer_ struct xfer *x = NULL;
        char *bearer = NULL;
        enum auth_kind kind = AUTH_NONE;
        bool fresh = false;

        if (authed) {
            lock_if(c, take_lock);
            r = auth_prepare_locked(c, rq->host, scope, refresh, &kind, &bearer, &fresh, err);
            unlock_if(c, take_lock);
            if (r < 0)
                return r;
        }
        r = xfer_new(c, rq, kind, bearer, &x);
        free_secret(bearer);
        if (r < 0)
            return iso_err_set(err, -r, "out of memory");
        x->auth_with_creds =
            kind == AUTH_BASIC ||
            (kind == AUTH_BEARER && (has_creds(c) || c->identitytoken || c->registrytoken));
        if (xfer_run(x, pred_headers) < 0)
            return iso_err_set(err, EIO, "%s \"%s\": curl multi interface failed", x->method,
                               rq->url);

        if (!x->headers_done) {
            /* Ended before a final response: a transport error (or an overflow, which only
             * a 2xx body can cause, and that has headers). */
            if (x->result == CURLE_OK)
                return iso_err_set(err, EPROTO, "%s \"%s\": no response", x->method, rq->url);
            if (curl_retryable(x) && ++attempt < c->max_attempts) {
                log_debug("registry request failed, retrying", "url=%s attempt=%u error=%s",
                          rq->url, attempt, curl_easy_strerror(x->result));
                backoff(attempt, 0);
                continue;
            }
            return transport_error(x, err);
        }

        if (x->status == 401 && authed && auth_rounds < 2) {
            bool again;
            lock_if(c, take_lock);
            again = auth_retry_locked(c, rq->host, x, fresh);
            unlock_if(c, take_lock);
            if (again) {
                auth_rounds++;
                refresh = true;
                continue;
            }
        }
        if ((x->status == 429 || x->status >= 500) && ++attempt < c->max_attempts) {
            log_debug("registry request failed, retrying", "url=%s attempt=%u status=%ld", rq->url,
                      attempt, x->status);
            backoff(attempt, x->retry_after);
            continue;
        }
        *ret = TAKE_PTR(x);
        return 0;
    }
}

/* The message for a final non-2xx response to a manifest or blob request. Reads the error
 * body first. */
static int status_error(struct store_registry *c, const struct req *rq, struct xfer *x,
                        struct iso_err *err)
{
    char text[320], code[64], fam[STORE_REF_STR_MAX], name[STORE_REF_STR_MAX];
    bool have;

    (void)xfer_read_all(x, NULL);
    have = registry_error_text(x->buf, x->len, text, sizeof(text), code, sizeof(code));
    store_ref_familiar(rq->ref, fam, sizeof(fam));
    store_ref_familiar_name(rq->ref, name, sizeof(name));

    if (x->status == 401 && x->auth_with_creds)
        return iso_err_set(err, EACCES, "%s \"%s\": unauthorized: %s", x->method, rq->url,
                           have ? text : "authentication required");
    if (x->status == 401 || x->status == 403 || streq(code, "NAME_UNKNOWN")) {
        const char *why = have ? text : "denied: requested access to the resource is denied";
        if (x->status == 401 && !x->auth_with_creds && rq->host->challenge == AUTH_BASIC)
            why = "no basic auth credentials";
        return iso_err_set(err, ENOENT,
                           "pull access denied for %s, repository does not exist or may require "
                           "'docker login': %s",
                           name, why);
    }
    if (x->status == 404 && rq->kind == REQ_MANIFEST)
        return iso_err_set(err, ENOENT, "manifest for %s not found: %s", fam,
                           have ? text : "manifest unknown: manifest unknown");
    if (x->status == 404)
        return iso_err_set(err, ENOENT, "%s \"%s\": blob not found: %s", x->method, rq->url,
                           have ? text : "blob unknown: blob unknown to registry");
    if (x->status == 429)
        return iso_err_set(err, EAGAIN, "%s \"%s\": %s", x->method, rq->url,
                           have ? text : "toomanyrequests: too many requests");
    return iso_err_set(err, EIO, "%s \"%s\": received unexpected HTTP status: %ld%s%s", x->method,
                       rq->url, x->status, have ? ": " : "", have ? text : "");
}

/*
 * Manifests.
 */

static bool is_index_type(const char *mt)
{
    return streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST);
}

static bool is_manifest_type(const char *mt)
{
    return streq(mt, MT_OCI_MANIFEST) || streq(mt, MT_DOCKER_MANIFEST);
}

static int unsupported_type(const char *mt, struct iso_err *err)
{
    if (streq(mt, MT_DOCKER_SCHEMA1) || streq(mt, MT_DOCKER_SIGNED1))
        return iso_err_set(err, ENOTSUP,
                           "unsupported manifest media type %s: image manifest v2 schema 1 is no "
                           "longer supported, push the image again with a current client",
                           mt);
    return iso_err_set(err, ENOTSUP, "unsupported manifest media type %.200s", mt[0] ? mt : "''");
}

/* The document's own mediaType wins (the digest covers it); then Content-Type; then the
 * shape, for registries that answer application/json. */
static int media_type_of(json_t *root, const char *content_type, char *out, size_t size,
                         struct iso_err *err)
{
    json_t *mt = json_object_get(root, "mediaType"), *sv = json_object_get(root, "schemaVersion");
    const char *field = json_is_string(mt) ? json_string_value(mt) : NULL;
    bool ct_known = is_index_type(content_type) || is_manifest_type(content_type);

    if (mt && !field)
        return iso_err_set(err, EINVAL, "manifest field 'mediaType' must be a string");
    if (field && ct_known && !streq(field, content_type))
        return iso_err_set(err, EINVAL,
                           "manifest media type mismatch: served as %s but the document says "
                           "%.200s",
                           content_type, field);
    const char *pick = content_type; /* for the error when nothing fits */
    bool generic = !content_type[0] || streq(content_type, "application/json") ||
                   streq(content_type, "text/plain");
    if (field)
        pick = field;
    else if (!generic)
        pick = content_type;
    else if (json_is_integer(sv) && json_integer_value(sv) == 1)
        pick = MT_DOCKER_SCHEMA1;
    else if (json_is_array(json_object_get(root, "manifests")))
        pick = MT_OCI_INDEX;
    else if (json_is_object(json_object_get(root, "config")))
        pick = MT_OCI_MANIFEST;
    snprintf(out, size, "%s", pick);
    if (strlen(out) >= size - 1 || (!is_index_type(out) && !is_manifest_type(out)))
        return unsupported_type(out, err);
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return iso_err_set(err, EINVAL, "manifest has schemaVersion other than 2");
    return 0;
}

static int descriptor_parse(json_t *obj, const char *what, int64_t max_size,
                            struct store_registry_descriptor *d, struct iso_err *err)
{
    const char *mt = NULL, *digest = NULL;
    int64_t size = -1;
    int r;

    if (!json_is_object(obj))
        return iso_err_set(err, EINVAL, "%s descriptor is not an object", what);
    if (iso_json_get_string(obj, "mediaType", true, &mt, err) < 0 ||
        iso_json_get_string(obj, "digest", true, &digest, err) < 0 ||
        iso_json_get_int(obj, "size", true, &size, err) < 0 || !mt || !digest)
        return iso_err_prefix(err, "%s descriptor", what);
    if (strlen(mt) > STORE_MEDIA_TYPE_MAX)
        return iso_err_set(err, EINVAL, "%s descriptor: media type too long", what);
    r = store_ref_digest_validate(digest, err);
    if (r < 0)
        return iso_err_prefix(err, "%s descriptor: digest '%.150s'", what, digest);
    if (size < 0 || size > max_size)
        return iso_err_set(err, EINVAL, "%s descriptor: size %" PRId64 " out of range", what, size);
    memset(d, 0, sizeof(*d));
    snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    d->size = size;
    return 0;
}

static int layer_compression(const char *mt, enum store_compression *ret, struct iso_err *err)
{
    static const struct {
        const char *mt;
        enum store_compression comp;
    } types[] = {
        {"application/vnd.oci.image.layer.v1.tar", STORE_COMPRESSION_NONE},
        {"application/vnd.oci.image.layer.v1.tar+gzip", STORE_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", STORE_COMPRESSION_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar", STORE_COMPRESSION_NONE},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", STORE_COMPRESSION_GZIP},
        {"application/vnd.docker.image.rootfs.diff.tar.zstd", STORE_COMPRESSION_ZSTD},
    };

    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (streq(mt, types[i].mt)) {
            *ret = types[i].comp;
            return 0;
        }
    if (strstr(mt, "foreign") || strstr(mt, "nondistributable"))
        return iso_err_set(err, ENOTSUP,
                           "foreign (non-distributable) layer of media type %s is not supported",
                           mt);
    return iso_err_set(err, ENOTSUP, "unsupported layer media type %s", mt);
}

static int manifest_parse(json_t *root, struct store_registry_manifest *m, struct iso_err *err)
{
    json_t *layers, *cfg;
    const char *cmt;
    size_t i;
    json_t *v;
    int r;

    cfg = json_object_get(root, "config");
    r = descriptor_parse(cfg, "config", STORE_REGISTRY_CONFIG_MAX, &m->config, err);
    if (r < 0)
        return iso_err_prefix(err, "manifest %s", m->digest);
    cmt = m->config.media_type;
    if (!streq(cmt, MT_OCI_CONFIG) && !streq(cmt, MT_DOCKER_CONFIG))
        return iso_err_set(err, ENOTSUP,
                           "manifest %s is not a container image: config media type %s", m->digest,
                           cmt);
    layers = json_object_get(root, "layers");
    if (!json_is_array(layers))
        return iso_err_set(err, EINVAL, "manifest %s: field 'layers' must be an array", m->digest);
    if (json_array_size(layers) > STORE_REGISTRY_LAYERS_MAX)
        return iso_err_set(err, EINVAL, "manifest %s has %zu layers, more than %d", m->digest,
                           json_array_size(layers), STORE_REGISTRY_LAYERS_MAX);
    m->layers = calloc(json_array_size(layers) + 1, sizeof(*m->layers));
    if (!m->layers)
        return iso_err_set(err, ENOMEM, "out of memory");
    json_array_foreach(layers, i, v)
    {
        struct store_registry_descriptor *d = &m->layers[i];
        char what[32];

        snprintf(what, sizeof(what), "layer %zu", i);
        r = descriptor_parse(v, what, STORE_REGISTRY_LAYER_MAX, d, err);
        if (r < 0)
            return iso_err_prefix(err, "manifest %s", m->digest);
        r = layer_compression(d->media_type, &d->compression, err);
        if (r < 0)
            return iso_err_prefix(err, "manifest %s: layer %s", m->digest, d->digest);
        m->n_layers++;
    }
    return 0;
}

struct platform {
    char os[64], arch[64], variant[32];
};

/* containerd's normalisation: aarch64 = arm64 (v8 = no variant), x86_64 = amd64, bare arm =
 * arm/v7. */
static void platform_normalize(struct platform *p)
{
    char *a = p->arch, *v = p->variant;

    if (streq(a, "x86_64") || streq(a, "x86-64")) {
        snprintf(a, sizeof(p->arch), "amd64");
        if (streq(v, "v1"))
            v[0] = '\0';
    } else if (streq(a, "amd64")) {
        if (streq(v, "v1"))
            v[0] = '\0';
    } else if (streq(a, "aarch64") || streq(a, "arm64")) {
        snprintf(a, sizeof(p->arch), "arm64");
        if (streq(v, "8") || streq(v, "v8") || streq(v, "v8.0"))
            v[0] = '\0';
    } else if (streq(a, "armhf")) {
        snprintf(a, sizeof(p->arch), "arm");
        snprintf(v, sizeof(p->variant), "v7");
    } else if (streq(a, "armel")) {
        snprintf(a, sizeof(p->arch), "arm");
        snprintf(v, sizeof(p->variant), "v6");
    } else if (streq(a, "arm")) {
        if (!v[0] || streq(v, "7"))
            snprintf(v, sizeof(p->variant), "v7");
        else if (streq(v, "5") || streq(v, "6") || streq(v, "8")) {
            char d = v[0];
            snprintf(v, sizeof(p->variant), "v%c", d);
        }
    } else if (streq(a, "i386") || streq(a, "i686")) {
        snprintf(a, sizeof(p->arch), "386");
        v[0] = '\0';
    }
}

/* How well an entry fits: 0 not at all, higher is better. An arm/v7 host also runs v6 and
 * v5 images. */
static int platform_score(const struct platform *want, const struct platform *have)
{
    if (!streq(want->os, have->os) || !streq(want->arch, have->arch))
        return 0;
    if (streq(want->variant, have->variant))
        return 100;
    if (streq(want->arch, "arm") && want->variant[0] == 'v' && have->variant[0] == 'v' &&
        have->variant[1] < want->variant[1] && !have->variant[2] && !want->variant[2])
        return 50 + have->variant[1] - '0';
    return 0;
}

static void platform_string(const struct platform *p, char *out, size_t size)
{
    snprintf(out, size, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

static int index_pick(struct store_registry *c, json_t *root, struct store_registry_descriptor *ret,
                      struct iso_err *err)
{
    struct platform want = {};
    json_t *manifests = json_object_get(root, "manifests"), *v;
    int best = 0;
    char ps[192];
    size_t i;
    int r;

    snprintf(want.os, sizeof(want.os), "%s", c->os ? c->os : "linux");
    snprintf(want.arch, sizeof(want.arch), "%s", c->arch ? c->arch : ISO_GO_ARCH);
    snprintf(want.variant, sizeof(want.variant), "%s", c->variant ? c->variant : "");
    platform_normalize(&want);
    if (!json_is_array(manifests))
        return iso_err_set(err, EINVAL, "index: field 'manifests' must be an array");
    if (json_array_size(manifests) > INDEX_ENTRIES_MAX)
        return iso_err_set(err, EINVAL, "index has %zu entries, more than %d",
                           json_array_size(manifests), INDEX_ENTRIES_MAX);
    json_array_foreach(manifests, i, v)
    {
        struct store_registry_descriptor d;
        struct platform have = {};
        json_t *p = json_object_get(v, "platform");
        const char *os = NULL, *arch = NULL, *variant = NULL;
        int score;

        r = descriptor_parse(v, "index entry", STORE_REGISTRY_MANIFEST_MAX, &d, err);
        if (r < 0)
            return r;
        if (!json_is_object(p) || !is_manifest_type(d.media_type))
            continue;
        (void)iso_json_get_string(p, "os", false, &os, NULL);
        (void)iso_json_get_string(p, "architecture", false, &arch, NULL);
        (void)iso_json_get_string(p, "variant", false, &variant, NULL);
        if (!os || !arch)
            continue;
        snprintf(have.os, sizeof(have.os), "%s", os);
        snprintf(have.arch, sizeof(have.arch), "%s", arch);
        snprintf(have.variant, sizeof(have.variant), "%s", variant ? variant : "");
        platform_normalize(&have);
        score = platform_score(&want, &have);
        if (score > best) {
            best = score;
            *ret = d;
        }
    }
    if (best == 0) {
        platform_string(&want, ps, sizeof(ps));
        return iso_err_set(err, ENOENT, "no matching manifest for %s in the manifest list entries",
                           ps);
    }
    return 0;
}

struct fetched {
    char *raw;
    size_t len;
    char digest[STORE_REF_DIGEST_MAX + 1];
    char media_type[STORE_MEDIA_TYPE_MAX + 1];
    json_t *root;
};

static void fetched_done(struct fetched *f)
{
    free(f->raw);
    json_decref(f->root);
    memset(f, 0, sizeof(*f));
}

/* GETs manifests/<ident>, checks size, depth and (when expect is set) digest, and parses it.
 * Lock held. */
static int manifest_fetch_locked(struct store_registry *c, const struct store_ref *ref,
                                 const char *ident, const char *expect, int64_t expect_size,
                                 struct fetched *f, struct iso_err *err)
{
    _cleanup_xfer_ struct xfer *x = NULL;
    _cleanup_free_ char *url = NULL;
    struct req rq = {.kind = REQ_MANIFEST,
                     .ref = ref,
                     .accept = MANIFEST_ACCEPT,
                     .limit = STORE_REGISTRY_MANIFEST_MAX,
                     .small = true};
    char fam[STORE_REF_STR_MAX], algo[16];
    int r;

    r = host_get_locked(c, ref, &rq.host);
    if (r < 0)
        return iso_err_set(err, -r, "out of memory");
    url = iso_strprintf("%s/v2/%s/manifests/%s", rq.host->base, ref->path, ident);
    if (!url)
        return iso_err_set(err, ENOMEM, "out of memory");
    rq.url = url;
    r = request_full(c, &rq, &x, err);
    if (r < 0)
        return r;
    assert(x);
    if (!status_ok(x->status))
        return status_error(c, &rq, x, err);
    store_ref_familiar(ref, fam, sizeof(fam));
    if (x->overflow)
        return iso_err_set(err, EFBIG, "manifest for %s is larger than %u bytes", fam,
                           STORE_REGISTRY_MANIFEST_MAX);
    if (x->len == 0)
        return iso_err_set(err, EINVAL, "manifest for %s is empty", fam);

    /* The store names blobs by sha256 whatever digest the reference used. */
    if (digest_compute("sha256", x->buf, x->len, f->digest, sizeof(f->digest)) < 0)
        return iso_err_set(err, EINVAL, "cannot compute sha256 digest");
    if (expect) {
        char got[STORE_REF_DIGEST_MAX + 1];
        digest_algo(expect, algo, sizeof(algo));
        if (digest_compute(algo, x->buf, x->len, got, sizeof(got)) < 0)
            return iso_err_set(err, EINVAL, "cannot compute %s digest", algo);
        if (!streq(expect, got))
            return iso_err_set(err, EINVAL, "manifest digest mismatch: expected %s, got %s", expect,
                               got);
    }
    if (expect_size >= 0 && (uint64_t)expect_size != x->len)
        return iso_err_set(err, EINVAL, "manifest %s: size %zu does not match the index's %" PRId64,
                           f->digest, x->len, expect_size);
    if (!expect && x->docker_digest[0] && !streq(x->docker_digest, f->digest))
        log_debug("registry digest header differs, ignoring", "computed=%s header=%.80s", f->digest,
                  x->docker_digest);

    if (!json_depth_ok(x->buf, x->len))
        return iso_err_set(err, EINVAL, "manifest %s nests deeper than %d levels", f->digest,
                           JSON_DEPTH_MAX);
    r = iso_json_parse(x->buf, x->len, &f->root, err);
    if (r < 0)
        return iso_err_prefix(err, "manifest %s", f->digest);
    if (!json_is_object(f->root))
        return iso_err_set(err, EINVAL, "manifest %s is not a JSON object", f->digest);
    r = media_type_of(f->root, x->content_type, f->media_type, sizeof(f->media_type), err);
    if (r < 0)
        return r;
    f->len = x->len;
    f->raw = TAKE_PTR(x->buf);
    return 0;
}

void store_registry_manifest_done(struct store_registry_manifest *m)
{
    if (!m)
        return;
    free(m->raw);
    free(m->index_raw);
    free(m->layers);
    memset(m, 0, sizeof(*m));
}

static int get_manifest_locked(struct store_registry *c, const struct store_ref *ref,
                               struct store_registry_manifest *ret, struct iso_err *err)
{
    struct store_registry_manifest m = {};
    struct fetched top = {}, child = {};
    struct fetched *f = &top;
    int r;

    r = manifest_fetch_locked(c, ref, store_ref_pull_ident(ref),
                              ref->digest[0] ? ref->digest : NULL, -1, &top, err);
    if (r < 0)
        goto out;

    if (is_index_type(top.media_type)) {
        struct store_registry_descriptor d = {};

        r = index_pick(c, top.root, &d, err);
        if (r < 0)
            goto out;
        r = manifest_fetch_locked(c, ref, d.digest, d.digest, d.size, &child, err);
        if (r < 0)
            goto out;
        if (!is_manifest_type(child.media_type)) {
            r = iso_err_set(err, ENOTSUP,
                            "manifest %s from index %s is of type %s, not an image manifest",
                            child.digest, top.digest, child.media_type);
            goto out;
        }
        snprintf(m.index_digest, sizeof(m.index_digest), "%s", top.digest);
        m.index_raw = TAKE_PTR(top.raw);
        m.index_raw_len = top.len;
        f = &child;
    }

    snprintf(m.digest, sizeof(m.digest), "%s", f->digest);
    snprintf(m.media_type, sizeof(m.media_type), "%s", f->media_type);
    r = manifest_parse(f->root, &m, err);
    if (r < 0)
        goto out;
    m.raw = TAKE_PTR(f->raw);
    m.raw_len = f->len;
    *ret = m;
    memset(&m, 0, sizeof(m));
    r = 0;
out:
    store_registry_manifest_done(&m);
    fetched_done(&top);
    fetched_done(&child);
    return r;
}

int store_registry_get_manifest(struct store_registry *c, const struct store_ref *ref,
                                struct store_registry_manifest *ret, struct iso_err *err)
{
    int r;

    pthread_mutex_lock(&c->lock);
    r = get_manifest_locked(c, ref, ret, err);
    pthread_mutex_unlock(&c->lock);
    return r;
}

/*
 * Blobs.
 */

static int blob_url(struct store_registry *c, const struct store_ref *ref, const char *digest,
                    bool take_lock, struct host **ret_host, char **ret_url, struct iso_err *err)
{
    struct host *h;
    int r;

    r = store_ref_digest_validate(digest, err);
    if (r < 0)
        return iso_err_prefix(err, "blob digest '%.150s'", digest);
    lock_if(c, take_lock);
    r = host_get_locked(c, ref, &h);
    unlock_if(c, take_lock);
    if (r < 0)
        return iso_err_set(err, -r, "out of memory");
    *ret_url = iso_strprintf("%s/v2/%s/blobs/%s", h->base, ref->path, digest);
    if (!*ret_url)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret_host = h;
    return 0;
}

static int get_blob_locked(struct store_registry *c, const struct store_ref *ref,
                           const char *digest, int64_t size, size_t max, char **ret,
                           size_t *ret_len, struct iso_err *err)
{
    _cleanup_xfer_ struct xfer *x = NULL;
    _cleanup_free_ char *url = NULL;
    struct req rq = {.kind = REQ_BLOB, .ref = ref, .small = true};
    char got[STORE_REF_DIGEST_MAX + 1], algo[16];
    int r;

    if (size >= 0 && (uint64_t)size > max)
        return iso_err_set(err, EFBIG, "blob %s is %" PRId64 " bytes, more than the %zu allowed",
                           digest, size, max);
    r = blob_url(c, ref, digest, false, &rq.host, &url, err);
    if (r < 0)
        return r;
    rq.url = url;
    rq.limit = size >= 0 ? (uint64_t)size : max;
    r = request_full(c, &rq, &x, err);
    if (r < 0)
        return r;
    assert(x);
    if (!status_ok(x->status))
        return status_error(c, &rq, x, err);
    if (x->overflow)
        return size >= 0 ? iso_err_set(err, EINVAL, "blob %s is larger than its %" PRId64 " bytes",
                                       digest, size)
                         : iso_err_set(err, EFBIG, "blob %s is larger than %zu bytes", digest, max);
    if (size >= 0 && x->len != (uint64_t)size)
        return iso_err_set(err, EINVAL, "blob %s: got %zu bytes, expected %" PRId64, digest, x->len,
                           size);
    digest_algo(digest, algo, sizeof(algo));
    if (digest_compute(algo, x->buf ? x->buf : "", x->len, got, sizeof(got)) < 0)
        return iso_err_set(err, EINVAL, "cannot compute %s digest", algo);
    if (!streq(got, digest))
        return iso_err_set(err, EINVAL, "blob digest mismatch: expected %s, got %s", digest, got);
    if (!x->buf && !(x->buf = calloc(1, 1)))
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret_len = x->len;
    *ret = TAKE_PTR(x->buf);
    return 0;
}

int store_registry_get_blob(struct store_registry *c, const struct store_ref *ref,
                            const char *digest, int64_t size, size_t max, char **ret,
                            size_t *ret_len, struct iso_err *err)
{
    int r;

    pthread_mutex_lock(&c->lock);
    r = get_blob_locked(c, ref, digest, size, max, ret, ret_len, err);
    pthread_mutex_unlock(&c->lock);
    return r;
}

int store_registry_open_blob(struct store_registry *c, const struct store_ref *ref,
                             const struct store_registry_descriptor *desc,
                             struct store_blob_stream **ret, struct iso_err *err)
{
    _cleanup_free_ struct store_blob_stream *s = NULL;
    _cleanup_xfer_ struct xfer *x = NULL;
    _cleanup_free_ char *url = NULL;
    struct req rq = {.kind = REQ_BLOB, .ref = ref};
    int r;

    if (desc->size < 0 || desc->size > STORE_REGISTRY_LAYER_MAX)
        return iso_err_set(err, EINVAL, "blob %s: size %" PRId64 " out of range", desc->digest,
                           desc->size);
    r = blob_url(c, ref, desc->digest, true, &rq.host, &url, err);
    if (r < 0)
        return r;
    rq.url = url;
    rq.limit = (uint64_t)desc->size;
    r = request_open(c, &rq, &x, err);
    if (r < 0)
        return r;
    assert(x);
    if (!status_ok(x->status))
        return status_error(c, &rq, x, err);
    if (x->content_length >= 0 && x->content_length != desc->size)
        return iso_err_set(err, EINVAL,
                           "blob %s: registry sends %" PRId64 " bytes, expected %" PRId64,
                           desc->digest, x->content_length, desc->size);
    s = calloc(1, sizeof(*s));
    if (!s)
        return iso_err_set(err, ENOMEM, "out of memory");
    snprintf(s->digest, sizeof(s->digest), "%s", desc->digest);
    store_ref_familiar_name(ref, s->name, sizeof(s->name));
    s->size = desc->size;
    s->x = TAKE_PTR(x);
    *ret = TAKE_PTR(s);
    return 0;
}

static ssize_t stream_fail(struct store_blob_stream *s)
{
    struct xfer *x = s->x;

    if (x->overflow)
        return iso_err_set(&s->err, EINVAL, "blob %s of %s is larger than its %" PRId64 " bytes",
                           s->digest, s->name, s->size);
    if (x->result != CURLE_OK) {
        (void)transport_error(x, &s->err);
        return iso_err_prefix(&s->err, "blob %s of %s after %" PRId64 " bytes", s->digest, s->name,
                              s->bytes);
    }
    return iso_err_set(&s->err, EPIPE,
                       "blob %s of %s: unexpected end after %" PRId64 " of %" PRId64 " bytes",
                       s->digest, s->name, s->bytes, s->size);
}

ssize_t store_blob_stream_read(struct store_blob_stream *s, void *buf, size_t len)
{
    struct xfer *x = s->x;
    size_t n;

    if (s->err.code)
        return -s->err.code;
    if (len == 0)
        return 0;
    while (x->off == x->len) {
        x->off = x->len = 0;
        if (x->done) {
            if (x->result != CURLE_OK || x->received != (uint64_t)s->size)
                return stream_fail(s);
            return 0;
        }
        if (xfer_run(x, pred_data) < 0)
            return iso_err_set(&s->err, EIO, "blob %s of %s: curl multi interface failed",
                               s->digest, s->name);
    }
    n = x->len - x->off;
    if (n > len)
        n = len;
    memcpy(buf, x->buf + x->off, n);
    x->off += n;
    s->bytes += (int64_t)n;
    return (ssize_t)n;
}

const struct iso_err *store_blob_stream_error(const struct store_blob_stream *s)
{
    return &s->err;
}

int64_t store_blob_stream_bytes(const struct store_blob_stream *s)
{
    return s->bytes;
}

struct store_blob_stream *store_blob_stream_free(struct store_blob_stream *s)
{
    if (s) {
        xfer_free(s->x);
        free(s);
    }
    return NULL;
}

/*
 * The client.
 */

int store_registry_new(const struct store_ref *ref, const struct store_registry_opts *opts,
                       struct store_registry **ret, struct iso_err *err)
{
    static const struct store_registry_opts none = {};
    struct store_registry *c;
    bool oom = false;

    if (!opts)
        opts = &none;
    (void)pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return iso_err_set(err, EIO, "cannot initialise libcurl: %s",
                           curl_easy_strerror(curl_init_result));
    if ((opts->password && opts->password[0]) && !(opts->username && opts->username[0]))
        return iso_err_set(err, EINVAL, "registry password given without a username");

    c = calloc(1, sizeof(*c));
    if (!c)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    c->max_attempts = opts->max_attempts ? opts->max_attempts : DEFAULT_ATTEMPTS;
    c->multi = curl_multi_init();
    oom = !c->multi;
    if (opts->n_insecure) {
        c->insecure = calloc(opts->n_insecure, sizeof(*c->insecure));
        oom = oom || !c->insecure;
        for (size_t i = 0; c->insecure && i < opts->n_insecure; i++) {
            if (!opts->insecure_registries[i])
                continue;
            c->insecure[c->n_insecure] = strdup(opts->insecure_registries[i]);
            if (!c->insecure[c->n_insecure])
                oom = true;
            else
                c->n_insecure++;
        }
    }
    c->username = strdup_or_null(opts->username, &oom);
    c->password = strdup_or_null(opts->password, &oom);
    c->identitytoken = strdup_or_null(opts->identitytoken, &oom);
    c->registrytoken = strdup_or_null(opts->registrytoken, &oom);
    c->os = strdup_or_null(opts->os, &oom);
    c->arch = strdup_or_null(opts->arch, &oom);
    c->variant = strdup_or_null(opts->variant, &oom);
    /* A username alone (as `docker login` state may carry) is no credential. */
    if (c->username && !c->password) {
        free(c->username);
        c->username = NULL;
    }
    if (!oom && ref) {
        struct host *h;
        oom = host_get_locked(c, ref, &h) < 0;
    }
    if (oom) {
        store_registry_free(c);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    *ret = c;
    return 0;
}

struct store_registry *store_registry_free(struct store_registry *c)
{
    if (!c)
        return NULL;
    while (c->hosts) {
        struct host *next = c->hosts->next;
        host_free(c->hosts);
        c->hosts = next;
    }
    if (c->multi)
        (void)curl_multi_cleanup(c->multi);
    for (size_t i = 0; i < c->n_insecure; i++)
        free(c->insecure[i]);
    free(c->insecure);
    free(c->username);
    free_secret(c->password);
    free_secret(c->identitytoken);
    free_secret(c->registrytoken);
    free(c->os);
    free(c->arch);
    free(c->variant);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

int store_registry_login(struct store_registry *c, const char *domain, struct iso_err *err)
{
    struct store_ref ref = {0};
    struct host *h;
    int r;

    if (!domain || !*domain || strlen(domain) >= sizeof(ref.domain))
        return iso_err_set(err, EINVAL, "invalid registry address '%s'", domain ? domain : "");
    snprintf(ref.domain, sizeof(ref.domain), "%s", domain);
    pthread_mutex_lock(&c->lock);
    r = host_get_locked(c, &ref, &h);
    if (r < 0) {
        pthread_mutex_unlock(&c->lock);
        return iso_err_set(err, -r, "out of memory");
    }
    r = ping_locked(c, h, err);
    if (r < 0)
        goto out;
    switch (h->challenge) {
    case AUTH_NONE:
        /* The registry asks for nothing: any credentials do, as with docker login. */
        break;
    case AUTH_BASIC: {
        _cleanup_xfer_ struct xfer *x = NULL;
        _cleanup_free_ char *url = iso_strprintf("%s/v2/", h->base);
        struct req rq = {
            .kind = REQ_PING, .host = h, .url = url, .limit = PING_BODY_MAX, .small = true};
        if (!url) {
            r = iso_err_set(err, ENOMEM, "out of memory");
            break;
        }
        if (!has_creds(c)) {
            r = iso_err_set(err, EACCES, "unauthorized: username and password required");
            break;
        }
        r = xfer_new(c, &rq, AUTH_BASIC, NULL, &x);
        if (r < 0) {
            r = iso_err_set(err, -r, "out of memory");
            break;
        }
        if (xfer_run(x, pred_headers) < 0 || !x->headers_done) {
            r = transport_error(x, err);
            break;
        }
        if (x->status == 401 || x->status == 403)
            r = iso_err_set(err, EACCES, "unauthorized: incorrect username or password");
        else if (x->status != 200)
            r = iso_err_set(err, EPROTO, "login to %s: unexpected status %ld", domain, x->status);
        break;
    }
    case AUTH_BEARER: {
        char *token = NULL;
        /* A token with no scope proves the credentials, as docker login asks for one. */
        r = token_fetch_locked(c, h, "", &token, err);
        free_secret(token);
        break;
    }
    }
out:
    pthread_mutex_unlock(&c->lock);
    return r < 0 ? r : 0;
}
