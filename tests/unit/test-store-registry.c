/* The registry client against a real registry (Debian's docker-registry, started here on
 * 127.0.0.1 with and without htpasswd auth, images pushed with the registry API) and against
 * small HTTP servers of our own for what a real registry does not do on demand: Bearer
 * tokens, redirects to storage, 503s, dropped connections, bad manifests and bodies. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "common/util.h"
#include "store/reference.h"
#include "store/registry.h"
#include "tests/unit/tap.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER_GZIP   "application/vnd.oci.image.layer.v1.tar+gzip"

#define USER "user"
#define PASS "pass"

static void registry_freep(struct store_registry **c)
{
    *c = store_registry_free(*c);
}
static void stream_freep(struct store_blob_stream **s)
{
    *s = store_blob_stream_free(*s);
}
#define _cleanup_manifest_ _cleanup_(store_registry_manifest_done)
#define _cleanup_registry_ _cleanup_(registry_freep)
#define _cleanup_stream_   _cleanup_(stream_freep)

static uint64_t now_ms(void)
{
    return iso_now_mono_ns() / 1000000;
}

static void hex_digest(const unsigned char md[32], char out[72])
{
    snprintf(out, 8, "sha256:");
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void sha256_hex(const void *buf, size_t len, char out[72])
{
    unsigned char md[32];
    unsigned int n = 0;

    EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
    hex_digest(md, out);
}

/*
 * Test images: bytes and digests.
 */

struct blob {
    char *data;
    size_t len;
    char digest[72];
};

static void blob_set(struct blob *b, char *data, size_t len)
{
    b->data = data;
    b->len = len;
    sha256_hex(data, len, b->digest);
}

struct image {
    struct blob tar, layer, config, manifest;
};

static struct image img_amd64, img_arm64;
static struct blob index_blob;

static la_ssize_t tar_write(struct archive *a, void *ud, const void *buf, size_t len)
{
    struct blob *b = ud;
    char *d = realloc(b->data, b->len + len);

    if (!d)
        return -1;
    memcpy(d + b->len, buf, len);
    b->data = d;
    b->len += len;
    return (la_ssize_t)len;
}

/* A tar with one file of n pseudo-random bytes (so gzip cannot shrink it). */
static int make_tar(const char *name, size_t n, unsigned seed, struct blob *out)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    char *content = malloc(n);
    int r = -1;

    memset(out, 0, sizeof(*out));
    if (!a || !e || !content)
        goto out;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        content[i] = (char)(seed >> 16);
    }
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open(a, out, NULL, tar_write, NULL) != ARCHIVE_OK)
        goto out;
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, content, n) != (la_ssize_t)n || archive_write_close(a) != ARCHIVE_OK)
        goto out;
    sha256_hex(out->data, out->len, out->digest);
    r = 0;
out:
    archive_entry_free(e);
    archive_write_free(a);
    free(content);
    return r;
}

static int gzip_blob(const struct blob *in, struct blob *out)
{
    z_stream z = {0};
    size_t cap = compressBound(in->len) + 64;
    char *buf = malloc(cap);

    if (!buf || deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(buf);
        return -1;
    }
    z.next_in = (unsigned char *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (unsigned char *)buf;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(buf);
        return -1;
    }
    blob_set(out, buf, z.total_out);
    deflateEnd(&z);
    return 0;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int make_image(struct image *img, const char *arch, size_t n, unsigned seed)
{
    char *s;

    if (make_tar("data.bin", n, seed, &img->tar) < 0 || gzip_blob(&img->tar, &img->layer) < 0)
        return -1;
    s = dump(json_pack("{s:s, s:s, s:{}, s:{s:s, s:[s]}}", "architecture", arch, "os", "linux",
                       "config", "rootfs", "type", "layers", "diff_ids", img->tar.digest));
    if (!s)
        return -1;
    blob_set(&img->config, s, strlen(s));
    s = dump(json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
                       "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
                       img->config.digest, "size", (json_int_t)img->config.len, "layers",
                       "mediaType", MT_LAYER_GZIP, "digest", img->layer.digest, "size",
                       (json_int_t)img->layer.len));
    if (!s)
        return -1;
    blob_set(&img->manifest, s, strlen(s));
    return 0;
}

static int make_index(void)
{
    char *s = dump(json_pack(
        "{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}}, {s:s, s:s, s:I, s:{s:s, s:s, s:s}}]}",
        "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests", "mediaType", MT_OCI_MANIFEST,
        "digest", img_amd64.manifest.digest, "size", (json_int_t)img_amd64.manifest.len, "platform",
        "architecture", "amd64", "os", "linux", "mediaType", MT_OCI_MANIFEST, "digest",
        img_arm64.manifest.digest, "size", (json_int_t)img_arm64.manifest.len, "platform",
        "architecture", "arm64", "os", "linux", "variant", "v8"));
    if (!s)
        return -1;
    blob_set(&index_blob, s, strlen(s));
    return 0;
}

static void image_free(struct image *img)
{
    free(img->tar.data);
    free(img->layer.data);
    free(img->config.data);
    free(img->manifest.data);
}

/*
 * The real registry.
 */

struct registry_proc {
    pid_t pid;
    int port;
    char dir[64];
    char base[64]; /* "http://127.0.0.1:PORT" */
    char domain[32];
};

static struct registry_proc reg_open, reg_auth;

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    return s * n;
}

struct http_result {
    long status;
    char location[1024];
};

static size_t grab_location(char *p, size_t s, size_t n, void *ud)
{
    struct http_result *res = ud;
    size_t len = s * n;

    if (len > 9 && strncasecmp(p, "location:", 9) == 0) {
        size_t a = 9, b = len;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' '))
            b--;
        snprintf(res->location, sizeof(res->location), "%.*s", (int)(b - a), p + a);
    }
    return len;
}

/* One plain request for setting up fixtures (our client is what is under test). */
static int http_do(const char *method, const char *url, const char *ctype, const void *body,
                   size_t len, bool auth, struct http_result *res)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char ct[256];
    CURLcode cc;

    memset(res, 0, sizeof(*res));
    if (!e)
        return -ENOMEM;
    if (ctype) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        h = curl_slist_append(h, ct);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, grab_location);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, res);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (streq(method, "POST") || streq(method, "PUT")) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    }
    if (auth)
        curl_easy_setopt(e, CURLOPT_USERPWD, USER ":" PASS);
    cc = curl_easy_perform(e);
    if (cc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return cc == CURLE_OK ? 0 : -EIO;
}

static int push_blob(const struct registry_proc *rp, const char *repo, const struct blob *b,
                     bool auth)
{
    struct http_result res;
    char url[2048];

    snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", rp->base, repo);
    if (http_do("POST", url, NULL, NULL, 0, auth, &res) < 0 || res.status != 202) {
        printf("# push: POST %s: %ld\n", url, res.status);
        return -1;
    }
    if (res.location[0] == '/')
        snprintf(url, sizeof(url), "%s%s", rp->base, res.location);
    else
        snprintf(url, sizeof(url), "%s", res.location);
    snprintf(url + strlen(url), sizeof(url) - strlen(url), "%cdigest=%s",
             strchr(url, '?') ? '&' : '?', b->digest);
    if (http_do("PUT", url, "application/octet-stream", b->data, b->len, auth, &res) < 0 ||
        res.status != 201) {
        printf("# push: PUT blob: %ld\n", res.status);
        return -1;
    }
    return 0;
}

static int push_manifest(const struct registry_proc *rp, const char *repo, const char *tag,
                         const char *mt, const struct blob *b, bool auth)
{
    struct http_result res;
    char url[1024];

    snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", rp->base, repo, tag);
    if (http_do("PUT", url, mt, b->data, b->len, auth, &res) < 0 || res.status != 201) {
        printf("# push: PUT %s: %ld\n", url, res.status);
        return -1;
    }
    return 0;
}

static int push_image(const struct registry_proc *rp, const char *repo, const char *tag,
                      const struct image *img, bool auth)
{
    if (push_blob(rp, repo, &img->layer, auth) < 0 || push_blob(rp, repo, &img->config, auth) < 0)
        return -1;
    return push_manifest(rp, repo, tag, MT_OCI_MANIFEST, &img->manifest, auth);
}

static int write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "we");

    if (!f)
        return -errno;
    fputs(s, f);
    return fclose(f) == 0 ? 0 : -errno;
}

static int registry_start(struct registry_proc *rp, bool auth)
{
    char path[128], cfg[1024], url[128], htp[256] = "";
    uint64_t deadline;

    memset(rp, 0, sizeof(*rp));
    snprintf(rp->dir, sizeof(rp->dir), "/tmp/isod-unit-reg-XXXXXX");
    if (!mkdtemp(rp->dir))
        return -errno;
    rp->port = free_port();
    if (rp->port < 0)
        return -1;
    snprintf(rp->base, sizeof(rp->base), "http://127.0.0.1:%d", rp->port);
    snprintf(rp->domain, sizeof(rp->domain), "127.0.0.1:%d", rp->port);

    if (auth) {
        static const char cmd[] = "htpasswd -Bbn " USER " " PASS;
        FILE *p = popen(cmd, "r"); /* NOLINT(cert-env33-c): a fixed command line */
        size_t n = p ? fread(htp, 1, sizeof(htp) - 1, p) : 0;
        if (!p || pclose(p) != 0 || n == 0)
            return -1;
        htp[n] = '\0';
        snprintf(path, sizeof(path), "%s/htpasswd", rp->dir);
        if (write_file(path, htp) < 0)
            return -1;
    }
    snprintf(cfg, sizeof(cfg),
             "version: 0.1\n"
             "log:\n  level: error\n  accesslog:\n    disabled: true\n"
             "storage:\n  filesystem:\n    rootdirectory: %s/data\n"
             "http:\n  addr: 127.0.0.1:%d\n"
             "%s%s%s",
             rp->dir, rp->port, auth ? "auth:\n  htpasswd:\n    realm: test\n    path: " : "",
             auth ? rp->dir : "", auth ? "/htpasswd\n" : "");
    snprintf(path, sizeof(path), "%s/config.yml", rp->dir);
    if (write_file(path, cfg) < 0)
        return -1;

    rp->pid = fork();
    if (rp->pid < 0)
        return -errno;
    if (rp->pid == 0) {
        char log[128];
        int fd;
        /* Dies with the test, even when the test crashes. */
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        snprintf(log, sizeof(log), "%s/registry.log", rp->dir);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("docker-registry", "docker-registry", "serve", path, (char *)NULL);
        _exit(127);
    }

    snprintf(url, sizeof(url), "%s/v2/", rp->base);
    deadline = now_ms() + 15000;
    while (now_ms() < deadline) {
        struct http_result res;
        int status;
        if (http_do("GET", url, NULL, NULL, 0, false, &res) == 0 &&
            (res.status == 200 || res.status == 401))
            return 0;
        if (waitpid(rp->pid, &status, WNOHANG) == rp->pid) {
            rp->pid = 0;
            printf("# docker-registry exited (status %d), see %s/registry.log\n", status, rp->dir);
            return -1;
        }
        struct timespec ts = {0, 20L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("# docker-registry did not answer on %s\n", url);
    return -1;
}

static void registry_stop(struct registry_proc *rp)
{
    if (rp->pid > 0) {
        uint64_t deadline = now_ms() + 5000;
        int status;
        (void)kill(rp->pid, SIGTERM);
        while (waitpid(rp->pid, &status, WNOHANG) == 0) {
            if (now_ms() > deadline) {
                (void)kill(rp->pid, SIGKILL);
                (void)waitpid(rp->pid, &status, 0);
                break;
            }
            struct timespec ts = {0, 10L * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        rp->pid = 0;
    }
    if (rp->dir[0])
        (void)tap_rmtree(rp->dir);
    rp->dir[0] = '\0';
}

/*
 * A tiny HTTP/1.1 server on a thread: one request per connection, "Connection: close".
 */

enum srv_mode {
    SRV_ROUTES, /* answer from the route table */
    SRV_BEARER, /* token auth in front of the routes */
    SRV_CLOSE,  /* read the request, close without answering */
    SRV_FLAKY,  /* 503 for the first fail_n requests, then routes */
};

struct route {
    const char *path;
    int status;
    const char *ctype;
    const char *body;
    size_t len;
    const char *headers; /* extra header lines, each ending in \r\n */
    bool no_length;      /* no Content-Length: the body ends when the connection does */
};

struct srv {
    int lfd, port, stop[2];
    pthread_t thr;
    bool running;
    enum srv_mode mode;
    struct route routes[8];
    size_t n_routes;
    int redirect_port; /* SRV_BEARER: blobs go there */
    int fail_n;
    bool deny; /* SRV_BEARER: no token is ever good enough */

    pthread_mutex_t mu;
    int n_conns, n_requests, n_token, token_gen;
    char last_auth[512];
    char last_path[1024];
    char token_query[1024];
};

static void srv_send(int fd, int status, const char *ctype, const char *headers, const char *body,
                     size_t len, bool no_length)
{
    char head[2048];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nConnection: close\r\n%s%s%s%s", status,
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     headers ? headers : "");
    if (!no_length)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    (void)send(fd, head, (size_t)n, MSG_NOSIGNAL);
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, body + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

static void srv_routes(struct srv *s, int fd, const char *path)
{
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *r = &s->routes[i];
        if (streq(r->path, path)) {
            srv_send(fd, r->status, r->ctype, r->headers, r->body, r->len, r->no_length);
            return;
        }
    }
    if (streq(path, "/v2/")) {
        srv_send(fd, 200, "application/json", NULL, "{}", 2, false);
        return;
    }
    static const char nf[] = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
                             "unknown\"}]}";
    srv_send(fd, 404, "application/json", NULL, nf, strlen(nf), false);
}

static void srv_bearer(struct srv *s, int fd, const char *path, const char *auth)
{
    char want[64], hdr[512];
    int gen;

    pthread_mutex_lock(&s->mu);
    gen = s->token_gen;
    pthread_mutex_unlock(&s->mu);
    snprintf(hdr, sizeof(hdr),
             "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"x\","
             "scope=\"repository:test/img:pull\"\r\n",
             s->port);
    if (strneq(path, "/token?", 7)) {
        char tok[64];
        int n;
        pthread_mutex_lock(&s->mu);
        n = ++s->n_token;
        s->token_gen = n;
        snprintf(s->token_query, sizeof(s->token_query), "%s", path + 7);
        pthread_mutex_unlock(&s->mu);
        /* base64("user:pass") */
        if (auth[0] && !streq(auth, "Basic dXNlcjpwYXNz")) {
            static const char bad[] = "{\"details\":\"incorrect username or password\"}";
            srv_send(fd, 401, "application/json", NULL, bad, strlen(bad), false);
            return;
        }
        n = snprintf(tok, sizeof(tok), "{\"token\":\"tok%d\",\"expires_in\":300}", n);
        srv_send(fd, 200, "application/json", NULL, tok, (size_t)n, false);
        return;
    }
    snprintf(want, sizeof(want), "Bearer tok%d", gen);
    if (s->deny || !streq(auth, want)) {
        static const char unauth[] = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
                                     "\"authentication required\"}]}";
        srv_send(fd, 401, "application/json", hdr, unauth, strlen(unauth), false);
        return;
    }
    if (strstr(path, "/blobs/") && streq(strstr(path, "/blobs/") + 7, img_amd64.layer.digest)) {
        snprintf(hdr, sizeof(hdr), "Location: http://127.0.0.1:%d/storage/%s\r\n", s->redirect_port,
                 img_amd64.layer.digest);
        srv_send(fd, 307, NULL, hdr, "", 0, false);
        return;
    }
    srv_routes(s, fd, path);
}

static void srv_handle(struct srv *s, int fd)
{
    char req[8192], method[16] = "", path[1024] = "", auth[512] = "";
    size_t len = 0;
    uint64_t deadline = now_ms() + 5000;

    while (len < sizeof(req) - 1 && now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[len] = '\0';
    (void)sscanf(req, "%15s %1023s", method, path);
    for (char *line = strstr(req, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "authorization:", 14) == 0) {
            const char *v = line + 2 + 14;
            v += strspn(v, " ");
            snprintf(auth, sizeof(auth), "%.*s", (int)strcspn(v, "\r\n"), v);
        }

    pthread_mutex_lock(&s->mu);
    int nreq = ++s->n_requests;
    snprintf(s->last_auth, sizeof(s->last_auth), "%s", auth);
    snprintf(s->last_path, sizeof(s->last_path), "%s", path);
    pthread_mutex_unlock(&s->mu);

    switch (s->mode) {
    case SRV_CLOSE:
        return;
    case SRV_FLAKY:
        if (nreq <= s->fail_n) {
            srv_send(fd, 503, "text/plain", NULL, "busy", 4, false);
            return;
        }
        srv_routes(s, fd, path);
        return;
    case SRV_BEARER:
        srv_bearer(s, fd, path, auth);
        return;
    case SRV_ROUTES:
        srv_routes(s, fd, path);
        return;
    }
}

static void *srv_main(void *ud)
{
    struct srv *s = ud;

    for (;;) {
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
                              {.fd = s->stop[0], .events = POLLIN}};
        int fd;
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->n_conns++;
        pthread_mutex_unlock(&s->mu);
        srv_handle(s, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static int srv_start(struct srv *s, enum srv_mode mode)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->stop[0] = s->stop[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(s->lfd, 16) < 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) < 0 ||
        pipe2(s->stop, O_CLOEXEC) < 0)
        return -errno;
    s->port = ntohs(sa.sin_port);
    if (pthread_create(&s->thr, NULL, srv_main, s) != 0)
        return -1;
    s->running = true;
    return 0;
}

static void srv_add(struct srv *s, const char *path, int status, const char *ctype,
                    const char *body, size_t len)
{
    s->routes[s->n_routes++] = (struct route){path, status, ctype, body, len, NULL, false};
}

static void srv_stop(struct srv *s)
{
    if (s->running) {
        (void)!write(s->stop[1], "x", 1);
        pthread_join(s->thr, NULL);
        s->running = false;
    }
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->stop[0] >= 0)
        close(s->stop[0]);
    if (s->stop[1] >= 0)
        close(s->stop[1]);
    s->lfd = s->stop[0] = s->stop[1] = -1;
    pthread_mutex_destroy(&s->mu);
}

/*
 * Helpers for the tests.
 */

static struct store_ref ref_of(const char *domain, const char *rest)
{
    struct store_ref ref;
    struct iso_err err = {0};
    char s[512];

    snprintf(s, sizeof(s), "%s/%s", domain, rest);
    if (store_ref_parse(s, &ref, &err) < 0) {
        printf("# bad test reference '%s': %s\n", s, err.msg);
        abort();
    }
    return ref;
}

static int client(const struct store_registry_opts *o, struct store_registry **c)
{
    struct iso_err err = {0};
    int r = store_registry_new(NULL, o, c, &err);

    if (r < 0)
        printf("# store_registry_new: %s\n", err.msg);
    return r;
}

/* Reads a stream to its end in small pieces; 0 and the data's digest, or the read error. */
static ssize_t drain(struct store_blob_stream *s, char digest[72], size_t *ret_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int n = 0;
    char buf[4096];
    size_t total = 0;
    ssize_t r;

    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while ((r = store_blob_stream_read(s, buf, sizeof(buf))) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        total += (size_t)r;
    }
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    hex_digest(md, digest);
    *ret_len = total;
    return r;
}

static void check_amd64(const struct store_registry_manifest *m)
{
    ASSERT_STREQ(m->digest, img_amd64.manifest.digest);
    ASSERT_STREQ(m->media_type, MT_OCI_MANIFEST);
    ASSERT_EQ(m->raw_len, img_amd64.manifest.len);
    ASSERT_TRUE(memcmp(m->raw, img_amd64.manifest.data, m->raw_len) == 0);
    ASSERT_STREQ(m->config.digest, img_amd64.config.digest);
    ASSERT_STREQ(m->config.media_type, MT_OCI_CONFIG);
    ASSERT_EQ(m->config.size, img_amd64.config.len);
    ASSERT_EQ(m->n_layers, 1);
    ASSERT_STREQ(m->layers[0].digest, img_amd64.layer.digest);
    ASSERT_EQ(m->layers[0].size, img_amd64.layer.len);
    ASSERT_EQ(m->layers[0].compression, STORE_COMPRESSION_GZIP);
}

/*
 * Against the real registry.
 */

static void test_manifest_by_tag(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    struct store_ref ref = ref_of(reg_open.domain, "test/img:v1");
    struct iso_err err = {0};

    ASSERT_EQ(client(NULL, &c), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);
    ASSERT_STREQ(m.index_digest, "");
    ASSERT_TRUE(m.index_raw == NULL);
}

static void test_manifest_by_digest(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    char s[256];
    struct store_ref ref;
    struct iso_err err = {0};

    ASSERT_EQ(client(NULL, &c), 0);
    snprintf(s, sizeof(s), "%s/test/img:ignored@%s", reg_open.domain, img_amd64.manifest.digest);
    ASSERT_EQ(store_ref_parse(s, &ref, &err), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);

    /* "localhost" is plain HTTP too. */
    store_registry_manifest_done(&m);
    snprintf(s, sizeof(s), "localhost:%d/test/img@%s", reg_open.port, img_amd64.manifest.digest);
    ASSERT_EQ(store_ref_parse(s, &ref, &err), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);
}

static void test_manifest_not_found(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    struct store_ref ref = ref_of(reg_open.domain, "test/img:nosuch");
    struct iso_err err = {0};
    char want[256];

    ASSERT_EQ(client(NULL, &c), 0);
    ASSERT_EQ(store_registry_get_manifest(c, &ref, &m, &err), -ENOENT);
    snprintf(want, sizeof(want),
             "manifest for %s/test/img:nosuch not found: manifest unknown: manifest unknown",
             reg_open.domain);
    ASSERT_STREQ(err.msg, want);
    ASSERT_TRUE(m.raw == NULL);

    /* A digest the registry does not have. */
    ref =
        ref_of(reg_open.domain, "test/img@sha256:"
                                "0000000000000000000000000000000000000000000000000000000000000000");
    ASSERT_EQ(store_registry_get_manifest(c, &ref, &m, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "not found");
}

static void test_get_blob(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_free_ char *buf = NULL;
    struct store_ref ref = ref_of(reg_open.domain, "test/img:v1");
    struct iso_err err = {0};
    size_t len = 0;
    char *none = NULL;

    ASSERT_EQ(client(NULL, &c), 0);
    if (store_registry_get_blob(c, &ref, img_amd64.config.digest, (int64_t)img_amd64.config.len,
                                STORE_REGISTRY_CONFIG_MAX, &buf, &len, &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_EQ(len, img_amd64.config.len);
    ASSERT_TRUE(memcmp(buf, img_amd64.config.data, len) == 0);
    ASSERT_EQ(buf[len], '\0');

    /* Size unknown: still digest-checked. */
    free(buf);
    buf = NULL;
    ASSERT_EQ(
        store_registry_get_blob(c, &ref, img_amd64.config.digest, -1, 1 << 20, &buf, &len, &err),
        0);
    ASSERT_EQ(len, img_amd64.config.len);

    /* The descriptor says fewer bytes than the registry has. */
    ASSERT_EQ(store_registry_get_blob(c, &ref, img_amd64.config.digest,
                                      (int64_t)img_amd64.config.len - 1, 1 << 20, &none, &len,
                                      &err),
              -EINVAL);
    ASSERT_STRSTR(err.msg, "larger than");
    /* More than the caller allows. */
    ASSERT_EQ(store_registry_get_blob(c, &ref, img_amd64.config.digest,
                                      (int64_t)img_amd64.config.len, 10, &none, &len, &err),
              -EFBIG);
    ASSERT_EQ(store_registry_get_blob(c, &ref, img_amd64.config.digest, -1, 10, &none, &len, &err),
              -EFBIG);
    /* Missing blob. */
    ASSERT_EQ(
        store_registry_get_blob(c, &ref,
                                "sha256:"
                                "1111111111111111111111111111111111111111111111111111111111111111",
                                10, 100, &none, &len, &err),
        -ENOENT);
    ASSERT_STRSTR(err.msg, "blob unknown");
    /* A digest that is no digest never reaches the URL. */
    ASSERT_EQ(store_registry_get_blob(c, &ref, "sha256:../../x", 10, 100, &none, &len, &err),
              -EINVAL);
    ASSERT_TRUE(none == NULL);
}

static void test_stream_layer(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    _cleanup_stream_ struct store_blob_stream *s = NULL;
    struct store_ref ref = ref_of(reg_open.domain, "test/img:v1");
    struct iso_err err = {0};
    char digest[72];
    size_t len = 0;

    ASSERT_EQ(client(NULL, &c), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    if (store_registry_open_blob(c, &ref, &m.layers[0], &s, &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_EQ(drain(s, digest, &len), 0);
    ASSERT_EQ(len, img_amd64.layer.len);
    ASSERT_STREQ(digest, m.layers[0].digest);
    ASSERT_EQ(store_blob_stream_bytes(s), (int64_t)len);
    ASSERT_EQ(store_blob_stream_error(s)->code, 0);
    /* The end stays the end. */
    ASSERT_EQ(store_blob_stream_read(s, digest, sizeof(digest)), 0);
}

struct par {
    struct store_registry *c;
    int ok;
    struct store_ref ref;
    struct store_registry_descriptor desc;
};

static void *par_main(void *ud)
{
    struct par *p = ud;
    struct store_blob_stream *s = NULL;
    struct iso_err err = {0};
    char digest[72];
    size_t len;

    if (store_registry_open_blob(p->c, &p->ref, &p->desc, &s, &err) == 0 &&
        drain(s, digest, &len) == 0 && streq(digest, p->desc.digest))
        p->ok = 1;
    store_blob_stream_free(s);
    return NULL;
}

/* One client, four threads streaming at once (as a pull downloads layers in parallel). */
static void test_parallel_streams(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    struct store_ref ref = ref_of(reg_open.domain, "test/img:v1");
    struct iso_err err = {0};
    struct par p[4];
    pthread_t t[4];

    ASSERT_EQ(client(NULL, &c), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    for (int i = 0; i < 4; i++) {
        p[i] = (struct par){.c = c, .ref = ref, .desc = m.layers[0]};
        ASSERT_EQ(pthread_create(&t[i], NULL, par_main, &p[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(p[i].ok, 1);
}

static void test_index_platforms(void)
{
    _cleanup_registry_ struct store_registry *c = NULL, *arm = NULL, *v8 = NULL, *s390 = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {}, m2 = {}, m3 = {};
    _cleanup_manifest_ struct store_registry_manifest none = {};
    struct store_ref ref = ref_of(reg_open.domain, "test/img:multi");
    struct iso_err err = {0};
    char s[256];

    ASSERT_EQ(client(&(struct store_registry_opts){.os = "linux", .arch = "amd64"}, &c), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);
    ASSERT_STREQ(m.index_digest, index_blob.digest);
    ASSERT_EQ(m.index_raw_len, index_blob.len);

    ASSERT_EQ(client(&(struct store_registry_opts){.arch = "aarch64"}, &arm), 0);
    if (store_registry_get_manifest(arm, &ref, &m2, &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_STREQ(m2.digest, img_arm64.manifest.digest);
    ASSERT_STREQ(m2.config.digest, img_arm64.config.digest);
    ASSERT_STREQ(m2.index_digest, index_blob.digest);

    /* By the index's digest, with an explicit v8 variant. */
    ASSERT_EQ(client(&(struct store_registry_opts){.arch = "arm64", .variant = "v8"}, &v8), 0);
    snprintf(s, sizeof(s), "%s/test/img@%s", reg_open.domain, index_blob.digest);
    ASSERT_EQ(store_ref_parse(s, &ref, &err), 0);
    if (store_registry_get_manifest(v8, &ref, &m3, &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_STREQ(m3.digest, img_arm64.manifest.digest);

    ASSERT_EQ(client(&(struct store_registry_opts){.arch = "s390x"}, &s390), 0);
    ASSERT_EQ(store_registry_get_manifest(s390, &ref, &none, &err), -ENOENT);
    ASSERT_STREQ(err.msg, "no matching manifest for linux/s390x in the manifest list entries");
}

static void test_basic_auth(void)
{
    _cleanup_registry_ struct store_registry *anon = NULL, *good = NULL, *bad = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    _cleanup_stream_ struct store_blob_stream *s = NULL;
    _cleanup_manifest_ struct store_registry_manifest none = {};
    struct store_ref ref = ref_of(reg_auth.domain, "test/img:v1");
    struct iso_err err = {0};
    char want[256], digest[72];
    size_t len;

    ASSERT_EQ(client(NULL, &anon), 0);
    ASSERT_EQ(store_registry_get_manifest(anon, &ref, &none, &err), -ENOENT);
    snprintf(want, sizeof(want),
             "pull access denied for %s/test/img, repository does not exist or may require "
             "'docker login': no basic auth credentials",
             reg_auth.domain);
    ASSERT_STREQ(err.msg, want);

    ASSERT_EQ(client(&(struct store_registry_opts){.username = USER, .password = PASS}, &good), 0);
    if (store_registry_get_manifest(good, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);
    if (store_registry_open_blob(good, &ref, &m.layers[0], &s, &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_EQ(drain(s, digest, &len), 0);
    ASSERT_STREQ(digest, img_amd64.layer.digest);

    ASSERT_EQ(client(&(struct store_registry_opts){.username = USER, .password = "wrong"}, &bad),
              0);
    ASSERT_EQ(store_registry_get_manifest(bad, &ref, &none, &err), -EACCES);
    ASSERT_STRSTR(err.msg, "unauthorized: authentication required");
    /* Never a credential in a message. */
    ASSERT_TRUE(strstr(err.msg, "wrong") == NULL);
    ASSERT_TRUE(none.raw == NULL && none.layers == NULL);
}

static void test_connection_refused(void)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    int port = free_port();
    char domain[32], want[256];
    struct iso_err err = {0};
    uint64_t t0;

    snprintf(domain, sizeof(domain), "127.0.0.1:%d", port);
    struct store_ref ref = ref_of(domain, "x:latest");
    ASSERT_EQ(client(NULL, &c), 0);
    t0 = now_ms();
    ASSERT_EQ(store_registry_get_manifest(c, &ref, &m, &err), -ECONNREFUSED);
    ASSERT_TRUE(now_ms() - t0 < 1000);
    snprintf(want, sizeof(want),
             "Get \"http://127.0.0.1:%d/v2/\": dial tcp 127.0.0.1:%d: connect: connection refused",
             port, port);
    ASSERT_STREQ(err.msg, want);
}

/*
 * Against our own servers.
 */

static void bearer_body(struct srv *a, struct srv *b)
{
    _cleanup_registry_ struct store_registry *c = NULL, *bad = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    _cleanup_stream_ struct store_blob_stream *s = NULL;
    _cleanup_free_ char *cfg = NULL;
    _cleanup_manifest_ struct store_registry_manifest none = {};
    char domain[32], digest[72];
    struct iso_err err = {0};
    size_t len;

    snprintf(domain, sizeof(domain), "127.0.0.1:%d", a->port);
    struct store_ref ref = ref_of(domain, "test/img:t");

    ASSERT_EQ(client(&(struct store_registry_opts){.username = USER, .password = PASS}, &c), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);
    ASSERT_EQ(a->n_token, 1);
    ASSERT_STRSTR(a->token_query, "service=x");
    ASSERT_STRSTR(a->token_query, "scope=repository%3Atest%2Fimg%3Apull");

    /* The cached token serves the config. */
    if (store_registry_get_blob(c, &ref, m.config.digest, m.config.size, 1 << 20, &cfg, &len,
                                &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_EQ(a->n_token, 1);

    /* The server forgets the token: the stream's open gets a new one, then follows the
     * redirect to the other host without the Authorization header. */
    pthread_mutex_lock(&a->mu);
    a->token_gen = 99;
    pthread_mutex_unlock(&a->mu);
    if (store_registry_open_blob(c, &ref, &m.layers[0], &s, &err) < 0)
        TAP_FAIL("%s", err.msg);
    ASSERT_EQ(drain(s, digest, &len), 0);
    ASSERT_STREQ(digest, img_amd64.layer.digest);
    ASSERT_EQ(a->n_token, 2);
    ASSERT_EQ(b->n_requests, 1);
    ASSERT_STRSTR(b->last_path, "/storage/sha256:");
    ASSERT_STREQ(b->last_auth, "");
    ASSERT_STREQ(a->last_auth, "Bearer tok2");

    /* Credentials the token server rejects. */
    ASSERT_EQ(client(&(struct store_registry_opts){.username = USER, .password = "nope"}, &bad), 0);
    ASSERT_EQ(store_registry_get_manifest(bad, &ref, &none, &err), -EACCES);
    ASSERT_STRSTR(err.msg, "/token\": unauthorized: incorrect username or password");
    ASSERT_TRUE(strstr(err.msg, "nope") == NULL);
}

static void test_bearer_token(void)
{
    struct srv a, b;

    if (srv_start(&a, SRV_BEARER) < 0 || srv_start(&b, SRV_ROUTES) < 0)
        TAP_FAIL("%s", "cannot start servers");
    a.redirect_port = b.port;
    srv_add(&a, "/v2/test/img/manifests/t", 200, MT_OCI_MANIFEST, img_amd64.manifest.data,
            img_amd64.manifest.len);
    char cpath[128], spath[128];
    snprintf(cpath, sizeof(cpath), "/v2/test/img/blobs/%s", img_amd64.config.digest);
    srv_add(&a, cpath, 200, "application/octet-stream", img_amd64.config.data,
            img_amd64.config.len);
    snprintf(spath, sizeof(spath), "/storage/%s", img_amd64.layer.digest);
    srv_add(&b, spath, 200, "application/octet-stream", img_amd64.layer.data, img_amd64.layer.len);
    bearer_body(&a, &b);
    srv_stop(&a);
    srv_stop(&b);
}

static void anon_bearer_body(struct srv *a)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest none = {};
    char domain[32], want[256];
    struct iso_err err = {0};

    snprintf(domain, sizeof(domain), "127.0.0.1:%d", a->port);
    struct store_ref ref = ref_of(domain, "test/img:t");
    ASSERT_EQ(client(NULL, &c), 0);
    /* Anonymous token, then the manifest is denied anyway: Docker's access-denied text. */
    ASSERT_EQ(store_registry_get_manifest(c, &ref, &none, &err), -ENOENT);
    snprintf(want, sizeof(want),
             "pull access denied for %s/test/img, repository does not exist or may require "
             "'docker login': unauthorized: authentication required",
             domain);
    ASSERT_STREQ(err.msg, want);
}

static void test_bearer_denied(void)
{
    struct srv a;

    if (srv_start(&a, SRV_BEARER) < 0)
        TAP_FAIL("%s", "cannot start server");
    /* A token server that hands out tokens the registry never accepts. */
    a.deny = true;
    srv_add(&a, "/v2/test/img/manifests/t", 200, MT_OCI_MANIFEST, img_amd64.manifest.data,
            img_amd64.manifest.len);
    anon_bearer_body(&a);
    srv_stop(&a);
}

static void close_body(struct srv *a)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest none = {};
    char domain[32], want[256];
    struct iso_err err = {0};

    snprintf(domain, sizeof(domain), "127.0.0.1:%d", a->port);
    struct store_ref ref = ref_of(domain, "x:latest");
    ASSERT_EQ(client(NULL, &c), 0);
    ASSERT_EQ(store_registry_get_manifest(c, &ref, &none, &err), -ECONNRESET);
    snprintf(want, sizeof(want), "Get \"http://%s/v2/\": EOF", domain);
    ASSERT_STRSTR(err.msg, want);
    /* Three tries. */
    ASSERT_EQ(a->n_conns, 3);
}

static void test_server_closes(void)
{
    struct srv a;

    if (srv_start(&a, SRV_CLOSE) < 0)
        TAP_FAIL("%s", "cannot start server");
    close_body(&a);
    srv_stop(&a);
}

static void flaky_body(struct srv *a)
{
    _cleanup_registry_ struct store_registry *c = NULL, *c2 = NULL;
    _cleanup_manifest_ struct store_registry_manifest m = {};
    _cleanup_manifest_ struct store_registry_manifest none = {};
    char domain[32];
    struct iso_err err = {0};

    snprintf(domain, sizeof(domain), "127.0.0.1:%d", a->port);
    struct store_ref ref = ref_of(domain, "test/img:t");
    a->fail_n = 2;
    ASSERT_EQ(client(NULL, &c), 0);
    if (store_registry_get_manifest(c, &ref, &m, &err) < 0)
        TAP_FAIL("%s", err.msg);
    check_amd64(&m);
    ASSERT_EQ(a->n_requests, 4); /* /v2/ 503, 503, 200; manifest 200 */

    pthread_mutex_lock(&a->mu);
    a->n_requests = 0;
    a->fail_n = 1000;
    pthread_mutex_unlock(&a->mu);
    ASSERT_EQ(client(&(struct store_registry_opts){.max_attempts = 2}, &c2), 0);
    ASSERT_EQ(store_registry_get_manifest(c2, &ref, &none, &err), -EIO);
    ASSERT_STRSTR(err.msg, "received unexpected HTTP status: 503");
    ASSERT_EQ(a->n_requests, 4); /* 2 pings, 2 manifest tries */
}

static void test_retry_5xx(void)
{
    struct srv a;

    if (srv_start(&a, SRV_FLAKY) < 0)
        TAP_FAIL("%s", "cannot start server");
    srv_add(&a, "/v2/test/img/manifests/t", 200, MT_OCI_MANIFEST, img_amd64.manifest.data,
            img_amd64.manifest.len);
    flaky_body(&a);
    srv_stop(&a);
}

/* Serves body as the manifest of test/img:t and expects get_manifest to fail. */
static void bad_manifest_body(struct srv *a, const char *ctype, const char *body, size_t len,
                              const char *tag_or_digest, int code, const char *msg)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    _cleanup_manifest_ struct store_registry_manifest none = {};
    char domain[32], path[256], s[256];
    struct iso_err err = {0};
    struct store_ref ref;

    snprintf(path, sizeof(path), "/v2/test/img/manifests/%s", tag_or_digest);
    a->n_routes = 0;
    srv_add(a, path, 200, ctype, body, len);
    snprintf(domain, sizeof(domain), "127.0.0.1:%d", a->port);
    snprintf(s, sizeof(s), "%s/test/img%c%s", domain, strchr(tag_or_digest, ':') ? '@' : ':',
             tag_or_digest);
    ASSERT_EQ(store_ref_parse(s, &ref, &err), 0);
    ASSERT_EQ(client(NULL, &c), 0);
    ASSERT_EQ(store_registry_get_manifest(c, &ref, &none, &err), -code);
    ASSERT_STRSTR(err.msg, msg);
    ASSERT_TRUE(none.raw == NULL && none.layers == NULL);
}

static void bad_manifests_body(struct srv *a)
{
    static const char schema1[] = "{\"schemaVersion\":1,\"name\":\"test/img\",\"tag\":\"t\","
                                  "\"fsLayers\":[],\"history\":[]}";
    static const char zero[] = "sha256:0000000000000000000000000000000000000000000000000000000000"
                               "000000";
    char foreign[1024], depth[200];
    size_t n;

    bad_manifest_body(a, "application/vnd.docker.distribution.manifest.v1+prettyjws", schema1,
                      strlen(schema1), "t", ENOTSUP,
                      "unsupported manifest media type "
                      "application/vnd.docker.distribution.manifest.v1+prettyjws");
    /* Schema 1 served as plain JSON is recognised by its shape. */
    bad_manifest_body(a, "application/json", schema1, strlen(schema1), "t", ENOTSUP,
                      "schema 1 is no longer supported");
    bad_manifest_body(a, "application/vnd.example+json", "{}", 2, "t", ENOTSUP,
                      "unsupported manifest media type application/vnd.example+json");

    snprintf(foreign, sizeof(foreign),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
             "\"digest\":\"%s\",\"size\":10},\"layers\":[{\"mediaType\":"
             "\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"%s\","
             "\"size\":10,\"urls\":[\"https://example.com/x\"]}]}",
             MT_OCI_MANIFEST, MT_OCI_CONFIG, zero, zero);
    bad_manifest_body(a, MT_OCI_MANIFEST, foreign, strlen(foreign), "t", ENOTSUP,
                      "foreign (non-distributable) layer");

    snprintf(foreign, sizeof(foreign),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
             "\"application/vnd.cncf.helm.config.v1+json\",\"digest\":\"%s\",\"size\":10},"
             "\"layers\":[]}",
             MT_OCI_MANIFEST, zero);
    bad_manifest_body(a, MT_OCI_MANIFEST, foreign, strlen(foreign), "t", ENOTSUP,
                      "is not a container image");

    snprintf(foreign, sizeof(foreign),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
             "\"digest\":\"%s\",\"size\":-1},\"layers\":[]}",
             MT_OCI_MANIFEST, MT_OCI_CONFIG, zero);
    bad_manifest_body(a, MT_OCI_MANIFEST, foreign, strlen(foreign), "t", EINVAL,
                      "config descriptor: size -1 out of range");

    snprintf(foreign, sizeof(foreign),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
             "\"digest\":\"sha256:../../etc\",\"size\":1},\"layers\":[]}",
             MT_OCI_MANIFEST, MT_OCI_CONFIG);
    bad_manifest_body(a, MT_OCI_MANIFEST, foreign, strlen(foreign), "t", EINVAL,
                      "config descriptor: digest");

    /* Served by digest, but the bytes are another manifest's. */
    bad_manifest_body(a, MT_OCI_MANIFEST, img_amd64.manifest.data, img_amd64.manifest.len, zero,
                      EINVAL, "manifest digest mismatch: expected sha256:0000");

    n = 0;
    for (int i = 0; i < 40; i++)
        depth[n++] = '[';
    for (int i = 0; i < 40; i++)
        depth[n++] = ']';
    bad_manifest_body(a, MT_OCI_MANIFEST, depth, n, "t", EINVAL, "nests deeper than");

    bad_manifest_body(a, MT_OCI_MANIFEST, "{\"schemaVersion\":2,", 19, "t", EINVAL, "invalid JSON");

    /* Larger than the cap. */
    size_t big = STORE_REGISTRY_MANIFEST_MAX + 1;
    _cleanup_free_ char *huge = malloc(big);
    ASSERT_TRUE(huge != NULL);
    memset(huge, ' ', big);
    bad_manifest_body(a, MT_OCI_MANIFEST, huge, big, "t", EFBIG, "is larger than 4194304 bytes");
}

static void test_bad_manifests(void)
{
    struct srv a;

    if (srv_start(&a, SRV_ROUTES) < 0)
        TAP_FAIL("%s", "cannot start server");
    bad_manifests_body(&a);
    srv_stop(&a);
}

static void bad_bodies_body(struct srv *a)
{
    _cleanup_registry_ struct store_registry *c = NULL;
    struct store_blob_stream *s = NULL;
    char domain[32], path[256], digest[72];
    struct iso_err err = {0};
    struct store_registry_descriptor d = {.size = (int64_t)img_amd64.layer.len};
    size_t len;
    ssize_t r;

    snprintf(domain, sizeof(domain), "127.0.0.1:%d", a->port);
    struct store_ref ref = ref_of(domain, "test/img:t");
    snprintf(d.digest, sizeof(d.digest), "%s", img_amd64.layer.digest);
    snprintf(path, sizeof(path), "/v2/test/img/blobs/%s", d.digest);
    ASSERT_EQ(client(NULL, &c), 0);

    /* Longer than the descriptor, without Content-Length: fails while reading. */
    a->routes[0] = (struct route){
        path, 200, "application/octet-stream", img_amd64.layer.data, img_amd64.layer.len,
        NULL, true};
    a->n_routes = 1;
    d.size = (int64_t)img_amd64.layer.len - 100;
    ASSERT_EQ(store_registry_open_blob(c, &ref, &d, &s, &err), 0);
    r = drain(s, digest, &len);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_STRSTR(store_blob_stream_error(s)->msg, "is larger than its");
    ASSERT_EQ(store_blob_stream_read(s, digest, 1), -EINVAL);
    s = store_blob_stream_free(s);

    /* Shorter: the connection ends early. */
    d.size = (int64_t)img_amd64.layer.len + 100;
    ASSERT_EQ(store_registry_open_blob(c, &ref, &d, &s, &err), 0);
    r = drain(s, digest, &len);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_STRSTR(store_blob_stream_error(s)->msg, "unexpected end after");
    ASSERT_EQ(len, img_amd64.layer.len);
    s = store_blob_stream_free(s);

    /* A Content-Length that disagrees with the descriptor fails at open. */
    a->routes[0].no_length = false;
    ASSERT_EQ(store_registry_open_blob(c, &ref, &d, &s, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "registry sends");
    ASSERT_TRUE(s == NULL);

    /* 404 at open. */
    a->n_routes = 0;
    d.size = (int64_t)img_amd64.layer.len;
    ASSERT_EQ(store_registry_open_blob(c, &ref, &d, &s, &err), -ENOENT);
    ASSERT_TRUE(s == NULL);
}

static void test_bad_bodies(void)
{
    struct srv a;

    if (srv_start(&a, SRV_ROUTES) < 0)
        TAP_FAIL("%s", "cannot start server");
    bad_bodies_body(&a);
    srv_stop(&a);
}

static void test_opts(void)
{
    struct store_registry *c = NULL;
    struct iso_err err = {0};

    ASSERT_EQ(store_registry_new(NULL, &(struct store_registry_opts){.password = "x"}, &c, &err),
              -EINVAL);
    ASSERT_TRUE(c == NULL);
    const char *insecure[] = {"10.0.0.0/8", "myreg:5000"};
    ASSERT_EQ(store_registry_new(
                  NULL,
                  &(struct store_registry_opts){.insecure_registries = insecure, .n_insecure = 2},
                  &c, &err),
              0);
    c = store_registry_free(c);
    ASSERT_TRUE(store_registry_free(NULL) == NULL);
    store_registry_manifest_done(NULL);
    ASSERT_TRUE(store_blob_stream_free(NULL) == NULL);
}

static int setup(void)
{
    if (make_image(&img_amd64, "amd64", 300000, 1) < 0 ||
        make_image(&img_arm64, "arm64", 5000, 2) < 0 || make_index() < 0) {
        printf("# cannot build the test images\n");
        return -1;
    }
    if (registry_start(&reg_open, false) < 0 || registry_start(&reg_auth, true) < 0)
        return -1;
    if (push_image(&reg_open, "test/img", "v1", &img_amd64, false) < 0 ||
        push_image(&reg_open, "test/img", "arm", &img_arm64, false) < 0 ||
        push_manifest(&reg_open, "test/img", "multi", MT_OCI_INDEX, &index_blob, false) < 0 ||
        push_image(&reg_auth, "test/img", "v1", &img_amd64, true) < 0)
        return -1;
    return 0;
}

int main(void)
{
    int r;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = setup();
    if (r < 0) {
        /* A missing docker-registry is a failure, not a skip (CI runs as root with it). */
        printf("not ok 1 - setup\n1..1\n");
    } else {
        TEST(test_manifest_by_tag);
        TEST(test_manifest_by_digest);
        TEST(test_manifest_not_found);
        TEST(test_get_blob);
        TEST(test_stream_layer);
        TEST(test_parallel_streams);
        TEST(test_index_platforms);
        TEST(test_basic_auth);
        TEST(test_connection_refused);
        TEST(test_bearer_token);
        TEST(test_bearer_denied);
        TEST(test_server_closes);
        TEST(test_retry_5xx);
        TEST(test_bad_manifests);
        TEST(test_bad_bodies);
        TEST(test_opts);
    }
    registry_stop(&reg_open);
    registry_stop(&reg_auth);
    image_free(&img_amd64);
    image_free(&img_arm64);
    free(index_blob.data);
    curl_global_cleanup();
    return r < 0 ? 1 : tap_done();
}
