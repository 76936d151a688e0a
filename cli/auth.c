#include "cli/auth.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"

/* The config file is small; anything bigger is not ours. */
#define CONFIG_MAX ((size_t)4 * 1024 * 1024)

char *ctl_base64_encode(const void *data, size_t len, bool url)
{
    const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = abc[(v >> 18) & 63];
        *o++ = abc[(v >> 12) & 63];
        *o++ = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int ctl_base64_decode(const char *s, char **ret, size_t *ret_len)
{
    size_t len = strlen(s), n = 0;
    uint32_t acc = 0;
    int bits = 0;
    char *out;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -EINVAL;
    out = malloc(len / 4 * 3 + 3);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            free(out);
            return -EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    *ret = out;
    *ret_len = n;
    return 0;
}

char *ctl_auth_server_key(const char *server)
{
    static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                      "registry.hub.docker.com"};
    const char *host = server;
    size_t len;

    if (strncasecmp(host, "https://", 8) == 0)
        host += 8;
    else if (strncasecmp(host, "http://", 7) == 0)
        host += 7;
    len = strcspn(host, "/");
    if (len == 0)
        return strdup(CTL_AUTH_DOCKER_HUB);
    for (size_t i = 0; i < ARRAY_SIZE(hub); i++)
        if (strlen(hub[i]) == len && strncasecmp(host, hub[i], len) == 0)
            return strdup(CTL_AUTH_DOCKER_HUB);
    return strndup(host, len);
}

int ctl_auth_config_path(char **ret, struct iso_err *err)
{
    const char *env = getenv("ISOCTL_CONFIG"), *home = getenv("HOME");
    char *path;

    if (env && *env) {
        path = strdup(env);
    } else {
        if (!home || !*home) {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home)
            return iso_err_set(err, EINVAL, "no home directory: set ISOCTL_CONFIG");
        path = iso_strprintf("%s/.config/isoctl/config.json", home);
    }
    if (!path)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret = path;
    return 0;
}

int ctl_auth_load(const char *path, json_t **ret, struct iso_err *err)
{
    _cleanup_free_ char *text = NULL;
    json_t *config = NULL;
    size_t len;
    int r;

    r = iso_read_file_at(AT_FDCWD, path, CONFIG_MAX, &text, &len);
    if (r == -ENOENT) {
        config = json_object();
        if (!config)
            return iso_err_set(err, ENOMEM, "out of memory");
        *ret = config;
        return 0;
    }
    if (r < 0)
        return iso_err_set_errno(err, r, "read config '%s'", path);
    r = iso_json_parse(text, len, &config, err);
    if (r < 0)
        return iso_err_prefix(err, "config '%s'", path);
    if (!json_is_object(config)) {
        json_decref(config);
        return iso_err_set(err, EINVAL, "config '%s': not a JSON object", path);
    }
    *ret = config;
    return 0;
}

int ctl_auth_save(const char *path, json_t *config, struct iso_err *err)
{
    _cleanup_free_ char *dir = strdup(path), *tmp = iso_strprintf("%s.tmp-XXXXXX", path);
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = -1;
    char *slash;
    int r;

    if (!dir || !tmp)
        return iso_err_set(err, ENOMEM, "out of memory");
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        r = iso_mkdir_p(dir, 0700);
        if (r < 0)
            return iso_err_set_errno(err, r, "create directory '%s'", dir);
    }

    text = json_dumps(config, JSON_INDENT(4));
    if (!text)
        return iso_err_set(err, ENOMEM, "out of memory");

    /* mkstemp() creates the file with mode 0600: the credentials are never readable by others,
     * not even for a moment. */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "create '%s'", tmp);
    r = iso_write_all(fd, text, strlen(text));
    if (r >= 0)
        r = iso_write_all(fd, "\n", 1);
    if (r >= 0 && fsync(fd) < 0)
        r = -errno;
    if (r >= 0 && close(TAKE_FD(fd)) < 0)
        r = -errno;
    if (r >= 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return iso_err_set_errno(err, r, "write config '%s'", path);
    }
    return 0;
}

/* The "auths" entry for server, borrowed; NULL when there is none. */
static json_t *find_entry(json_t *config, const char *server, const char **ret_key)
{
    _cleanup_free_ char *want = ctl_auth_server_key(server);
    json_t *auths = json_object_get(config, "auths");
    const char *key;
    json_t *entry;

    if (!want)
        return NULL;
    /* The exact key first, then any spelling of the same registry. */
    entry = json_object_get(auths, want);
    if (json_is_object(entry)) {
        if (ret_key)
            *ret_key = json_object_iter_key(json_object_iter_at(auths, want));
        return entry;
    }
    json_object_foreach(auths, key, entry)
    {
        _cleanup_free_ char *k = ctl_auth_server_key(key);
        if (k && streq(k, want) && json_is_object(entry)) {
            if (ret_key)
                *ret_key = key;
            return entry;
        }
    }
    return NULL;
}

int ctl_auth_find(json_t *config, const char *server, char **ret_user, char **ret_password,
                  struct iso_err *err)
{
    json_t *entry = find_entry(config, server, NULL);
    _cleanup_free_ char *plain = NULL;
    const char *auth, *colon;
    size_t len;
    int r;

    if (!entry)
        return 0;
    auth = json_string_value(json_object_get(entry, "auth"));
    if (!auth || !*auth)
        return 0;
    r = ctl_base64_decode(auth, &plain, &len);
    if (r == -ENOMEM)
        return iso_err_set(err, ENOMEM, "out of memory");
    colon = r < 0 ? NULL : memchr(plain, ':', len);
    if (!colon)
        return iso_err_set(err, EINVAL, "malformed credentials for '%s' in the config", server);

    char *user = strndup(plain, (size_t)(colon - plain)), *password = strdup(colon + 1);
    if (!user || !password) {
        free(user);
        free(password);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    *ret_user = user;
    *ret_password = password;
    return 1;
}

int ctl_auth_set(json_t *config, const char *server, const char *user, const char *password,
                 const char *identity_token)
{
    _cleanup_free_ char *key = ctl_auth_server_key(server);
    _cleanup_free_ char *plain = NULL, *b64 = NULL;
    json_t *auths = json_object_get(config, "auths"), *entry;

    if (!key)
        return -ENOMEM;
    ctl_auth_remove(config, server);
    if (!json_is_object(auths)) {
        auths = json_object();
        if (!auths || json_object_set_new(config, "auths", auths) < 0)
            return -ENOMEM;
    }
    plain = iso_strprintf("%s:%s", user, identity_token && *identity_token ? "" : password);
    b64 = plain ? ctl_base64_encode(plain, strlen(plain), false) : NULL;
    if (!b64)
        return -ENOMEM;
    entry = json_pack("{s:s}", "auth", b64);
    if (!entry)
        return -ENOMEM;
    if (identity_token && *identity_token &&
        json_object_set_new(entry, "identitytoken", json_string(identity_token)) < 0) {
        json_decref(entry);
        return -ENOMEM;
    }
    if (json_object_set_new(auths, key, entry) < 0)
        return -ENOMEM;
    return 0;
}

int ctl_auth_remove(json_t *config, const char *server)
{
    const char *key;
    int n = 0;

    for (;;) {
        if (!find_entry(config, server, &key))
            return n;
        /* The key belongs to the object being changed: copy it first. */
        _cleanup_free_ char *copy = strdup(key);
        if (!copy)
            return n;
        json_object_del(json_object_get(config, "auths"), copy);
        n++;
    }
}

int ctl_auth_registry_header(const char *registry, char **ret, struct iso_err *err)
{
    _cleanup_free_ char *path = NULL, *key = NULL, *user = NULL, *password = NULL;
    _cleanup_free_ char *text = NULL, *b64 = NULL;
    _cleanup_json_ json_t *config = NULL, *body = NULL;
    const char *token;
    json_t *entry;
    int r;

    r = ctl_auth_config_path(&path, err);
    if (r < 0)
        return r;
    r = ctl_auth_load(path, &config, err);
    if (r < 0)
        return r;
    r = ctl_auth_find(config, registry, &user, &password, err);
    if (r < 0)
        return r;
    entry = find_entry(config, registry, NULL);
    token = json_string_value(json_object_get(entry, "identitytoken"));
    if (r == 0 && !(token && *token)) {
        *ret = NULL;
        return 0;
    }

    key = ctl_auth_server_key(registry);
    if (!key)
        return iso_err_set(err, ENOMEM, "out of memory");
    if (token && *token)
        body = json_pack("{s:s, s:s, s:s}", "username", user ? user : "", "identitytoken", token,
                         "serveraddress", key);
    else
        body = json_pack("{s:s, s:s, s:s}", "username", user, "password", password, "serveraddress",
                         key);
    text = body ? iso_json_dump(body) : NULL;
    b64 = text ? ctl_base64_encode(text, strlen(text), true) : NULL;
    if (!b64)
        return iso_err_set(err, ENOMEM, "out of memory");
    *ret = iso_strprintf("X-Registry-Auth: %s", b64);
    if (!*ret)
        return iso_err_set(err, ENOMEM, "out of memory");
    return 0;
}
