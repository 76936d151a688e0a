/* Registry credentials: isoctl's config file, laid out like docker's config.json
 * ({"auths": {"<server>": {"auth": base64("user:password")}}}), and the X-Registry-Auth
 * header built from it. The file is $ISOCTL_CONFIG, or ~/.config/isoctl/config.json; it is
 * written atomically with mode 0600 (its directory 0700) and other keys in it are kept. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Docker Hub's key in "auths", as docker writes it. */
#define CTL_AUTH_DOCKER_HUB "https://index.docker.io/v1/"

/* base64 (RFC 4648, padded) of data; url picks the URL-safe alphabet. malloc'd, NULL on OOM. */
char *ctl_base64_encode(const void *data, size_t len, bool url);

/* Decodes either alphabet, padding optional. *ret is malloc'd and NUL-terminated (the NUL not
 * counted). -EINVAL for bad input, -ENOMEM. */
int ctl_base64_decode(const char *s, char **ret, size_t *ret_len);

/* The key a registry's credentials are stored under: Docker Hub in any spelling ("",
 * "docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")
 * is CTL_AUTH_DOCKER_HUB; anything else is its host[:port] without scheme or path
 * ("https://r.example.com/v2/" -> "r.example.com"). malloc'd, NULL on OOM. */
char *ctl_auth_server_key(const char *server);

/* The config file's path (malloc'd). EINVAL when neither $ISOCTL_CONFIG nor a home directory
 * is known; ENOMEM. */
int ctl_auth_config_path(char **ret, struct iso_err *err);

/* Reads the config file: an empty object when it does not exist. EINVAL for bad JSON or a
 * top level that is not an object; the read errno otherwise. */
int ctl_auth_load(const char *path, json_t **ret, struct iso_err *err);

/* Writes config to path through a temporary file and rename(2), mode 0600; creates a missing
 * directory with mode 0700. */
int ctl_auth_save(const char *path, json_t *config, struct iso_err *err);

/* Looks up the credentials for server (any spelling, see ctl_auth_server_key()) in a loaded
 * config. Returns 1 with malloc'd *ret_user and *ret_password (either may be "") when found,
 * 0 when there are none, -EINVAL when the stored "auth" is malformed, -ENOMEM. */
int ctl_auth_find(json_t *config, const char *server, char **ret_user, char **ret_password,
                  struct iso_err *err);

/* Stores user and password for server in config ("auth" plus, when given, "identitytoken"
 * instead of the password). -ENOMEM. */
int ctl_auth_set(json_t *config, const char *server, const char *user, const char *password,
                 const char *identity_token);

/* Removes every entry of "auths" that names server. Returns the number removed. */
int ctl_auth_remove(json_t *config, const char *server);

/* "X-Registry-Auth: <base64url of {username, password, serveraddress}>" for the registry
 * host (a reference's domain, "docker.io" for Docker Hub), from the config file. *ret is
 * NULL when no credentials are stored. Errors come from reading the config. */
int ctl_auth_registry_header(const char *registry, char **ret, struct iso_err *err);
